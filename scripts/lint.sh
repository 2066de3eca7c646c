#!/usr/bin/env bash
# Formatting and clippy with warnings denied, for the workspace and the
# engines' workspace: the gate every landing passes (scripts/test.sh runs
# it first; `just lint` runs it alone).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all --check
cargo fmt --manifest-path engines/Cargo.toml --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --manifest-path engines/Cargo.toml --workspace --all-targets -- -D warnings
