#!/usr/bin/env bash
# Builds the tutorial's engine as a new author would: in a directory outside
# this repository, with the complete Cargo.toml that sdk/README.md gives
# (taken from the README itself, the SDK path filled in) and kv's source,
# then runs its native tests, starts a dev server with a plugin directory,
# registers the component, mounts it and writes and reads a secret, as the
# README's section 4 says.
#
# Needs the `coffer` binary (COFFER_BIN, default target/debug/coffer) and
# curl. Takes about two minutes on a cold cache (the engine's own target
# directory, COFFER_TUTORIAL_TARGET_DIR, default a temporary one).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
bin=${COFFER_BIN:-$repo/target/debug/coffer}
work=$(mktemp -d)
server_pid=
cleanup() {
    if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# The README's Cargo.toml: the toml block after "A complete `Cargo.toml`".
engine=$work/my-engine
mkdir -p "$engine"
awk '/^An engine outside this repository/ {found=1}
     found && /^```toml$/ {inside=1; next}
     inside && /^```$/ {exit}
     inside {print}' sdk/README.md |
    sed "s|/path/to/coffer/sdk|$repo/sdk|" >"$engine/Cargo.toml"
grep -q "path = \"$repo/sdk\"" "$engine/Cargo.toml" || {
    echo "tutorial.sh: the README's Cargo.toml has no SDK path to fill in" >&2
    exit 1
}
cp -r engines/kv/src "$engine/src"

target=${COFFER_TUTORIAL_TARGET_DIR:-$work/target}
(cd "$engine" && cargo test --quiet --target-dir "$target")
(cd "$engine" && cargo build --quiet --release --target wasm32-wasip2 --target-dir "$target")
wasm=$target/wasm32-wasip2/release/my_engine.wasm

plugins=$work/plugins
mkdir -p "$plugins"
cp "$wasm" "$plugins/my-engine.wasm"
sha=$(sha256sum "$plugins/my-engine.wasm" | cut -d' ' -f1)
token=tutorial-root
port=$((20000 + RANDOM % 20000))
addr=http://127.0.0.1:$port
"$bin" server --dev --dev-root-token-id "$token" \
    --dev-listen-address "127.0.0.1:$port" --dev-plugin-dir "$plugins" \
    >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
    curl -sf "$addr/v1/sys/health" >/dev/null && break
    sleep 0.1
done

call() { curl -sS -o "$work/body" -w '%{http_code}' -H "X-Vault-Token: $token" "$@"; }
expect() {
    local want=$1 got=$2 what=$3
    if [[ $got != "$want" ]]; then
        echo "tutorial.sh: $what answered $got, not $want: $(cat "$work/body")" >&2
        exit 1
    fi
}
expect 204 "$(call -X POST "$addr/v1/sys/plugins/catalog/secret/mykv" \
    -d "{\"command\":\"my-engine.wasm\",\"sha256\":\"$sha\"}")" "registering"
expect 204 "$(call -X POST "$addr/v1/sys/mounts/mine" -d '{"type":"mykv"}')" "mounting"
expect 204 "$(call -X POST "$addr/v1/mine/app/db" -d '{"user":"u"}')" "writing"
expect 200 "$(call "$addr/v1/mine/app/db")" "reading"
grep -q '"data":{"user":"u"}' "$work/body" || {
    echo "tutorial.sh: read back $(cat "$work/body")" >&2
    exit 1
}
echo "tutorial.sh: the tutorial's engine builds outside the repository, registers, mounts and serves"
