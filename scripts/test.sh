#!/usr/bin/env bash
# Everything CI runs, runnable locally: set-up, the lints (fmt and clippy,
# warnings denied), the Rust workspace's tests (host, SDK, end-to-end), the
# engines' native unit tests, the Python client tests, the SDK
# tutorial's engine built outside the repository (scripts/tutorial.sh), and
# the SDK packaged as crates.io would take it (scripts/package.sh).
# `.ci/run` calls this script.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/setup.sh
. scripts/setup.sh

scripts/lint.sh
cargo test --workspace
cargo test --manifest-path engines/Cargo.toml
scripts/pytest.sh
# pytest.sh built the server; the tutorial's engine keeps its own target
# directory beside the workspace's, so a second run is warm.
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
COFFER_BIN="$target/debug/coffer" COFFER_TUTORIAL_TARGET_DIR="$target/tutorial" scripts/tutorial.sh
scripts/package.sh
