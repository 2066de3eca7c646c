#!/usr/bin/env bash
# Everything CI runs, runnable locally: set-up, the lints (fmt and clippy,
# warnings denied), the Rust workspace's tests (host, SDK, end-to-end), the
# engines' native unit tests, and the Python client tests. `.ci/run` calls
# this script.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/setup.sh
. scripts/setup.sh

scripts/lint.sh
cargo test --workspace
cargo test --manifest-path engines/Cargo.toml
scripts/pytest.sh
