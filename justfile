# Coffer's tasks. `just` is not in Debian 12; scripts/setup.sh installs it
# from PyPI (`rust-just`, which ships the binary).
# Each recipe is a thin call to a script, so everything here also works
# without `just`.

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# Every test suite, as CI runs them (set-up, lints, cargo test, engines, pytest).
test:
    scripts/test.sh

# The property tests with CASES cases each (CI runs a few hundred).
fuzz CASES="100000":
    scripts/fuzz.sh {{CASES}}

# CI exactly.
ci:
    .ci/run

# The benchmark: coffer vs a native floor vs OpenBao; updates BENCHMARKS.md.
# Then PKI against OpenBao (bench/pki.py), signing through a SoftHSM2 token
# against a software key and the token's own rate (bench/managed_keys.py),
# the sandbox alone (dispatch) and the host's key operations, old
# RustCrypto calls against today's (keys).
# The BENCH_* environment passes through to bench/run.sh (see its header),
# e.g. `BENCH_BASELINE=/path/to/old/coffer just bench` for an A/B of an old
# build against this one, `BENCH_SKIP_BUILD=1` to use the binaries built.
bench *ARGS:
    bench/run.sh {{ARGS}}
    python3 bench/pki.py --write
    cargo build --release -p coffer-host --example pkcs11_sign_rate
    python3 bench/managed_keys.py --write
    cargo bench -p coffer-host --bench dispatch
    cargo bench -p coffer-host --bench keys

# Formatting and clippy, warnings denied, for the workspace and the engines
# (also the first step of `test` and CI).
lint:
    scripts/lint.sh

# A dev server on 127.0.0.1:8200 with root token `root` (kv v1 at secret/).
server *ARGS:
    cargo run -p coffer-host --bin coffer -- server --dev --dev-root-token-id root --dev-listen-address 127.0.0.1:8200 {{ARGS}}
