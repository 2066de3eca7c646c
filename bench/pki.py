#!/usr/bin/env python3
"""The PKI benchmark (issue #12): Coffer's `pki` engine against OpenBao's,
in one run, on this machine.

Targets, each started here and stopped on exit:
  coffer        `coffer server --dev` (release build; redb on disk)
  openbao       `bao server -dev` (in-memory storage)
  openbao-raft  `bao server` on durable `raft` storage (initialised and
                unsealed here): the fair opponent for stored certificates,
                since Coffer's redb commits durably

Scenarios:
  issue-ec-nostore   POST issue/<role>, EC P-256 leaf, role no_store=true
                     (coffer, openbao)
  issue-ec-stored    the same with no_store=false (coffer, openbao-raft)
  issue-rsa2048      an RSA-2048 leaf, no_store (coffer, openbao); the
                     leaf's key generation dominates
  each by wrk for BENCH_PKI_DURATION s (3) at BENCH_CONNECTIONS (8), with
  the server's CPU time per request from /proc as in bench/run.sh;
  revoke-N           N stored certificates revoked one request at a time by
                     one client: total time, and the mean time of the first
                     and the last 100 revocations (a cost that grows with
                     the number already revoked shows as last > first).
                     Coffer: 1,000 and 10,000; OpenBao: 1,000 only (each of
                     its revocations rebuilds the whole CRL, so 10,000
                     would take most of an hour);
  crl-rebuild-N      GET crl/rotate (a full CRL rebuild) with N revoked:
                     1,000 on both, then 10,000 and BENCH_PKI_LARGE
                     (100,000) on Coffer only;
  list-N             LIST certs with N stored (Coffer: the same 100,000).

Prints a table, and with --write rewrites the section between the
`pki:results` markers of BENCHMARKS.md. Environment: COFFER_BIN (default
target/release/coffer, or $CARGO_TARGET_DIR/release/coffer),
BENCH_PKI_DURATION, BENCH_CONNECTIONS, BENCH_PKI_LARGE (0 skips the large
scenarios), BENCH_PIN=1 (servers on CPU 0, wrk on CPU 1, as bench/run.sh).
"""

from __future__ import annotations

import concurrent.futures
import datetime
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import requests

ROOT = pathlib.Path(__file__).resolve().parents[1]
TOKEN = "root"
DURATION = int(os.environ.get("BENCH_PKI_DURATION", "3"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "8"))
LARGE = int(os.environ.get("BENCH_PKI_LARGE", "100000"))
PIN = os.environ.get("BENCH_PIN", "0") == "1"
SERVER_ON = ["taskset", "-c", "0"] if PIN else []
LOAD_ON = ["taskset", "-c", "1"] if PIN else []
CLK_TCK = os.sysconf("SC_CLK_TCK")
MOUNT = "pki"
CN_BODY = '{"common_name":"bench.example.com","ttl":"1h"}'


def say(msg: str) -> None:
    print(f"bench-pki: {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ticks(pid: int) -> int:
    stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


class Server:
    """A started server: its address, token and process."""

    def __init__(self, name: str, proc: subprocess.Popen, addr: str, token: str, pid: int, work: str):
        self.name, self.proc, self.addr, self.token, self.pid, self.work = name, proc, addr, token, pid, work
        self.session = requests.Session()
        self.session.headers["X-Vault-Token"] = token

    def call(self, method: str, path: str, body=None, ok=(200, 204)) -> requests.Response:
        r = self.session.request(method, f"{self.addr}/v1/{path}", json=body, timeout=600)
        if r.status_code not in ok:
            raise RuntimeError(f"{self.name}: {method} {path}: {r.status_code} {r.text[:300]}")
        return r

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.work, ignore_errors=True)


def wait_health(addr: str, proc: subprocess.Popen, ok=(200, 429, 472, 473, 501, 503)) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise RuntimeError(f"server at {addr} exited")
        try:
            if requests.get(f"{addr}/v1/sys/health", timeout=2).status_code in ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server at {addr} did not start")


def start_coffer(binary: str) -> Server:
    work = tempfile.mkdtemp(prefix="bench-pki-coffer.")
    port = free_port()
    log = open(os.path.join(work, "log"), "w")
    proc = subprocess.Popen(
        SERVER_ON + [binary, "server", "--dev", "--dev-root-token-id", TOKEN,
                     "--dev-listen-address", f"127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "COFFER_LOG": "warn"}, cwd=work,
    )
    addr = f"http://127.0.0.1:{port}"
    wait_health(addr, proc, ok=(200,))
    return Server("coffer", proc, addr, TOKEN, proc.pid, work)


def start_bao_dev() -> Server:
    work = tempfile.mkdtemp(prefix="bench-pki-bao.")
    port = free_port()
    log = open(os.path.join(work, "log"), "w")
    proc = subprocess.Popen(
        SERVER_ON + ["bao", "server", "-dev", f"-dev-root-token-id={TOKEN}",
                     f"-dev-listen-address=127.0.0.1:{port}", "-log-level=warn"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    addr = f"http://127.0.0.1:{port}"
    wait_health(addr, proc, ok=(200,))
    return Server("openbao", proc, addr, TOKEN, proc.pid, work)


def start_bao_raft() -> Server:
    work = tempfile.mkdtemp(prefix="bench-pki-raft.")
    port, cport = free_port(), free_port()
    os.makedirs(os.path.join(work, "raft"))
    conf = os.path.join(work, "server.hcl")
    pathlib.Path(conf).write_text(
        f'storage "raft" {{\n  path = "{work}/raft"\n  node_id = "bench"\n}}\n'
        f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}}\n'
        f'api_addr = "http://127.0.0.1:{port}"\ncluster_addr = "http://127.0.0.1:{cport}"\n'
        'disable_mlock = true\nlog_level = "warn"\n'
    )
    log = open(os.path.join(work, "log"), "w")
    proc = subprocess.Popen(SERVER_ON + ["bao", "server", f"-config={conf}"], stdout=log, stderr=subprocess.STDOUT)
    addr = f"http://127.0.0.1:{port}"
    wait_health(addr, proc)
    init = requests.put(f"{addr}/v1/sys/init", json={"secret_shares": 1, "secret_threshold": 1}, timeout=60)
    init.raise_for_status()
    keys = init.json()
    requests.put(f"{addr}/v1/sys/unseal", json={"key": keys["keys"][0]}, timeout=60).raise_for_status()
    for _ in range(600):
        r = requests.get(f"{addr}/v1/sys/health", timeout=2)
        if r.status_code == 200:
            break
        time.sleep(0.1)
    else:
        raise RuntimeError("raft OpenBao did not become active")
    return Server("openbao-raft", proc, addr, keys["root_token"], proc.pid, work)


def setup_pki(s: Server, mount: str = MOUNT) -> None:
    """A PKI mount with an EC P-256 root and the three roles."""
    s.call("POST", f"sys/mounts/{mount}", {"type": "pki", "config": {"max_lease_ttl": "87600h"}})
    s.call("POST", f"{mount}/root/generate/internal",
           {"common_name": "Bench Root", "key_type": "ec", "key_bits": 256, "ttl": "87600h"})
    for name, params in {
        "ec-nostore": {"key_type": "ec", "key_bits": 256, "no_store": True},
        "ec-stored": {"key_type": "ec", "key_bits": 256, "no_store": False},
        "rsa2048": {"key_type": "rsa", "key_bits": 2048, "no_store": True},
    }.items():
        s.call("POST", f"{mount}/roles/{name}", {"allow_any_name": True, "max_ttl": "24h", **params})


def wrk_post(s: Server, path: str, body: str, work: str, connections: int = CONNECTIONS,
             duration: int = DURATION) -> dict:
    """POSTs `body` to `path` with wrk (a 1 s warm-up, then `duration` s):
    requests per second and the server's CPU time per request. Any
    non-2xx answer fails the run."""
    script = os.path.join(work, "post.lua")
    pathlib.Path(script).write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = '{body}'\n"
        f'wrk.headers["X-Vault-Token"] = "{s.token}"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    url = f"{s.addr}/v1/{path}"
    subprocess.run(LOAD_ON + ["wrk", "-t1", f"-c{connections}", "-d1s", "-s", script, url],
                   check=True, capture_output=True)
    before = cpu_ticks(s.pid)
    out = subprocess.run(LOAD_ON + ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "-s", script, url],
                         check=True, capture_output=True, text=True).stdout
    after = cpu_ticks(s.pid)
    if "Non-2xx" in out:
        raise RuntimeError(f"{s.name}: {path} answered errors:\n{out}")
    rps = float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    return {"req_s": rps, "cpu_us": (after - before) / CLK_TCK * 1e6 / max(total, 1)}


def wrk_issue(s: Server, role: str, work: str) -> dict:
    return wrk_post(s, f"{MOUNT}/issue/{role}", CN_BODY, work)


def issue_many(s: Server, role: str, n: int, mount: str = MOUNT) -> list[str]:
    """n certificates issued by 8 clients; their serials."""
    def chunk(count: int) -> list[str]:
        sess = requests.Session()
        sess.headers["X-Vault-Token"] = s.token
        out = []
        for _ in range(count):
            r = sess.post(f"{s.addr}/v1/{mount}/issue/{role}",
                          json={"common_name": "bench.example.com", "ttl": "24h"}, timeout=60)
            r.raise_for_status()
            out.append(r.json()["data"]["serial_number"])
        return out
    per = [n // 8 + (1 if i < n % 8 else 0) for i in range(8)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        return [x for part in pool.map(chunk, per) for x in part]


def revoke_all(s: Server, serials: list[str], mount: str = MOUNT) -> dict:
    times = []
    start = time.perf_counter()
    for serial in serials:
        t0 = time.perf_counter()
        s.call("POST", f"{mount}/revoke", {"serial_number": serial})
        times.append(time.perf_counter() - t0)
    total = time.perf_counter() - start
    k = min(100, len(times))
    return {
        "total_s": total,
        "first_ms": sum(times[:k]) / k * 1e3,
        "last_ms": sum(times[-k:]) / k * 1e3,
    }


def timed(s: Server, method: str, path: str) -> float:
    t0 = time.perf_counter()
    s.call(method, path)
    return time.perf_counter() - t0


def fmt_rows(results: list[dict]) -> list[str]:
    rows = ["| scenario | target | result |", "|---|---|---:|"]
    for r in results:
        rows.append(f"| {r['scenario']} | {r['target']} | {r['text']} |")
    return rows


def main() -> int:
    write = "--write" in sys.argv[1:]
    target_dir = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
    binary = os.environ.get("COFFER_BIN", os.path.join(target_dir, "release", "coffer"))
    if not os.access(binary, os.X_OK):
        say(f"no coffer binary at {binary} (cargo build --release -p coffer-host)")
        return 2
    for tool in ("wrk", "bao"):
        if shutil.which(tool) is None:
            say(f"{tool} is missing (scripts/setup.sh installs it)")
            return 2
    work = tempfile.mkdtemp(prefix="bench-pki.")
    servers: list[Server] = []
    results: list[dict] = []
    ratios: list[str] = []

    def add(scenario: str, target: str, text: str, **data) -> None:
        results.append({"scenario": scenario, "target": target, "text": text, **data})
        say(f"{scenario} {target}: {text}")

    try:
        say("starting coffer, openbao (dev) and openbao (raft)")
        coffer, bao, raft = start_coffer(binary), start_bao_dev(), start_bao_raft()
        servers += [coffer, bao, raft]
        for s in servers:
            setup_pki(s)

        issue_rates: dict[tuple[str, str], dict] = {}
        for scenario, role, targets in [
            ("issue-ec-nostore", "ec-nostore", [coffer, bao]),
            ("issue-ec-stored", "ec-stored", [coffer, raft]),
            ("issue-rsa2048", "rsa2048", [coffer, bao]),
        ]:
            for s in targets:
                m = wrk_issue(s, role, work)
                issue_rates[(scenario, s.name)] = m
                add(scenario, s.name, f"{m['req_s']:.0f} req/s, {m['cpu_us']:.0f} us CPU/req", **m)
            other = targets[1].name
            c, o = issue_rates[(scenario, "coffer")], issue_rates[(scenario, other)]
            ratios.append(f"{scenario}: coffer {c['req_s'] / o['req_s']:.2f}x {other}'s req/s, "
                          f"{o['cpu_us'] / c['cpu_us']:.2f}x less CPU per certificate")

        # Revocations and CRLs, each on a fresh mount.
        for s, sizes in [(coffer, [1000, 10000]), (bao, [1000])]:
            for n in sizes:
                mount = f"rev{n}"
                setup_pki(s, mount)
                serials = issue_many(s, "ec-stored", n, mount)
                r = revoke_all(s, serials, mount)
                add(f"revoke-{n}", s.name,
                    f"{r['total_s']:.2f} s; first 100 {r['first_ms']:.2f} ms, last 100 {r['last_ms']:.2f} ms each", **r)
                t = timed(s, "GET", f"{mount}/crl/rotate")
                add(f"crl-rebuild-{n}", s.name, f"{t * 1e3:.0f} ms", seconds=t)
                t = timed(s, "LIST", f"{mount}/certs")
                add(f"list-{n + 1}", s.name, f"{t * 1e3:.0f} ms", seconds=t)

        if LARGE > 0:
            mount = "large"
            setup_pki(coffer, mount)
            say(f"coffer: issuing and revoking {LARGE} certificates (a few minutes)")
            serials = issue_many(coffer, "ec-stored", LARGE, mount)
            t = timed(coffer, "LIST", f"{mount}/certs")
            add(f"list-{LARGE + 1}", "coffer", f"{t * 1e3:.0f} ms", seconds=t)
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda part: revoke_all(coffer, part, mount),
                              [serials[i::8] for i in range(8)]))
            t = timed(coffer, "GET", f"{mount}/crl/rotate")
            add(f"crl-rebuild-{LARGE}", "coffer", f"{t * 1e3:.0f} ms", seconds=t)
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)

    rows = fmt_rows(results)
    print("\n".join(rows))
    print("\n".join(ratios))
    if write:
        update_benchmarks(rows, ratios)
    return 0


def write_section(name: str, heading: str, facts: str, lines: list[str]) -> None:
    """Rewrites BENCHMARKS.md's section between the `<name>:results`
    markers (added under `heading` the first time): a line saying when,
    which build and machine, then `facts`, then `lines`."""
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text()
    start, end = f"<!-- {name}:results:start -->", f"<!-- {name}:results:end -->"
    rev = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT,
                         capture_output=True, text=True).stdout.strip()
    body = "\n".join([
        start,
        f"Run {datetime.date.today().isoformat()}, coffer {rev}, {facts}, {os.cpu_count()} CPUs, "
        f"load before the run {open('/proc/loadavg').read().split()[0]}"
        + (", pinned (BENCH_PIN=1)" if PIN else "") + ".",
        "",
        *lines,
        end,
    ])
    if start in text and end in text:
        text = text[: text.index(start)] + body + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + f"\n\n## {heading}\n\n" + body + "\n"
    path.write_text(text)


def update_benchmarks(rows: list[str], ratios: list[str]) -> None:
    bao = subprocess.run(["bao", "version"], capture_output=True, text=True).stdout.strip().splitlines()[0]
    write_section("pki", "PKI: `bench/pki.py`",
                  f"{bao}, wrk {CONNECTIONS} connections for {DURATION} s per issue scenario",
                  [*rows, "", *[f"- {r}" for r in ratios]])


if __name__ == "__main__":
    sys.exit(main())
