#!/usr/bin/env bash
# The property tests ("fuzzing" on stable Rust, with proptest) run long:
# every `fuzz` module (request parsing, policies, the config file, the SDK's
# fields, transit's `vault:vN:` values, every key import path) with CASES cases per property
# instead of the few hundred an ordinary `cargo test` runs.
# Usage: scripts/fuzz.sh [CASES] (default 100000). A failure is shrunk and
# saved under the module's proptest-regressions/ folder: commit that file
# with the fix, and it is tried first on every run.
set -euo pipefail
cd "$(dirname "$0")/.."

export PROPTEST_CASES="${1:-100000}"
cargo test -p coffer-host --lib fuzz
cargo test -p coffer-crypto --lib fuzz
cargo test -p coffer-sdk --lib fuzz
cargo test --manifest-path engines/Cargo.toml -p coffer-engine-transit --lib fuzz
