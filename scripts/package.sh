#!/usr/bin/env bash
# What crates.io would accept of the SDK: `cargo package` of coffer-sdk and
# the crates of this repository it depends on, each built from its own
# `.crate` (cargo's verification, which resolves their path dependencies
# among the packages made here). Nothing is published. Called by
# scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo package --quiet --allow-dirty \
    -p coffer-rules -p coffer-sdk-macros -p coffer-crypto -p coffer-sdk
