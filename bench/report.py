"""Turns bench/run.sh's wrk outputs into a table, and rewrites the results
section of BENCHMARKS.md (between the bench:results markers).

Reads its inputs from the environment bench/run.sh exports (BENCH_*).
"""

import os
import pathlib
import re
import sys

START = "<!-- bench:results:start -->"
END = "<!-- bench:results:end -->"
TARGETS = ["floor", "coffer", "openbao"]
UNITS = {"us": 1.0, "ms": 1000.0, "s": 1_000_000.0}


def micros(text: str) -> float:
    m = re.fullmatch(r"([0-9.]+)(us|ms|s)", text)
    if not m:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(m.group(1)) * UNITS[m.group(2)]


def parse(path: pathlib.Path) -> dict:
    text = path.read_text()
    out = {}
    m = re.search(r"Requests/sec:\s+([0-9.]+)", text)
    if not m:
        sys.exit(f"report: no Requests/sec in {path}:\n{text}")
    out["rps"] = float(m.group(1))
    m = re.search(r"Latency\s+([0-9.]+(?:us|ms|s))\s+([0-9.]+(?:us|ms|s))\s+([0-9.]+(?:us|ms|s))", text)
    out["avg"] = micros(m.group(1)) if m else float("nan")
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}%\s+([0-9.]+(?:us|ms|s))", text, re.M)
        out[f"p{pct}"] = micros(m.group(1)) if m else float("nan")
    m = re.search(r"(\d+) requests in", text)
    out["requests"] = int(m.group(1)) if m else 0
    return out


def transit_section(work: pathlib.Path, conns: str, threads: str, env) -> list:
    """The Transit tables and verdicts, from bench/transit.py's lists and
    the wrk outputs of each accepted scenario."""
    lists = {}
    for t in TARGETS:
        lines = (work / f"transit-{t}.txt").read_text().splitlines()
        lists[t] = {line.split(" ", 1)[0]: line.split(" ") for line in lines}
    scenarios = [line.split(" ", 1)[0] for line in (work / f"transit-floor.txt").read_text().splitlines()]
    res = {}
    refused = {}
    for t in TARGETS:
        for s in scenarios:
            fields = lists[t].get(s)
            if fields and fields[2] == "ok":
                res[(t, s)] = {c: parse(work / f"transit-{t}-{s}-c{c}.txt") for c in (conns, "1")}
            elif fields:
                refused[(t, s)] = f"HTTP {fields[3]}: {' '.join(fields[4:])}"

    def rps(t: str, s: str, c: str) -> str:
        if (t, s) in res:
            return f"{res[(t, s)][c]['rps']:,.0f}"
        return "refused" if (t, s) in refused else "n/a"

    def ratio(t: str, u: str, s: str, c: str) -> str:
        if (t, s) in res and (u, s) in res and res[(u, s)][c]["rps"]:
            return f"{res[(t, s)][c]['rps'] / res[(u, s)][c]['rps']:.2f}"
        return "–"

    def avg(t: str, s: str) -> str:
        if (t, s) in res:
            return f"{res[(t, s)]['1']['avg']:,.0f}"
        return "refused" if (t, s) in refused else "n/a"

    out = [
        "### Transit",
        "",
        f"req/s at c={conns} (a batch request carries 1000 items), and the coffer ratios:",
        "",
        "| scenario | floor | coffer | openbao | coffer / floor | coffer / openbao |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for s in scenarios:
        out.append(
            f"| {s} | {rps('floor', s, conns)} | {rps('coffer', s, conns)} | {rps('openbao', s, conns)} "
            f"| {ratio('coffer', 'floor', s, conns)} | {ratio('coffer', 'openbao', s, conns)} |"
        )
    out += [
        "",
        "One connection (c=1): req/s and mean latency in µs (≈ server time per request):",
        "",
        "| scenario | floor req/s | coffer req/s | openbao req/s | coffer / floor | coffer / openbao "
        "| floor avg µs | coffer avg µs | openbao avg µs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in scenarios:
        out.append(
            f"| {s} | {rps('floor', s, '1')} | {rps('coffer', s, '1')} | {rps('openbao', s, '1')} "
            f"| {ratio('coffer', 'floor', s, '1')} | {ratio('coffer', 'openbao', s, '1')} "
            f"| {avg('floor', s)} | {avg('coffer', s)} | {avg('openbao', s)} |"
        )
    out.append("")
    notes = sorted({(t, msg) for (t, s), msg in refused.items()})
    for t, msg in notes:
        which = ", ".join(s for s in scenarios if refused.get((t, s)) == msg)
        out.append(f"- {t} refused {which}: {msg}")
    # The two targets.
    batch = "encrypt-64-b1000"
    if ("coffer", batch) in res:
        ms = res[("coffer", batch)]["1"]["avg"] / 1000
        floor_ms = res[("floor", batch)]["1"]["avg"] / 1000 if ("floor", batch) in res else float("nan")
        out.append(
            f"- target: a 1000-item batch (encrypt, 64 bytes each) under 3 ms: coffer's mean latency "
            f"at c=1 is {ms:.2f} ms (floor {floor_ms:.2f} ms): {'met' if ms < 3 else 'not met'}"
        )
    single = "encrypt-64"
    if ("coffer", single) in res and ("floor", single) in res:
        parts = []
        for c in (conns, "1"):
            r = res[("coffer", single)][c]["rps"] / res[("floor", single)][c]["rps"]
            parts.append(f"{r:.0%} at c={c} ({'met' if r >= 0.5 else 'not met'})")
        out.append(
            "- target: a single 64-byte encrypt at ≥ 50% of the floor's req/s: " + ", ".join(parts)
        )
    out.append(
        f"- load: the same wrk as KV with `-s <scenario>.lua` (POST, JSON body) and "
        f"`-d{env.get('BENCH_TRANSIT_DURATION', '3')}s`, at `-c{conns}` then `-c1`, "
        f"threads {threads}, each after a 1 s warm-up"
    )
    return out


def main() -> None:
    env = os.environ
    work = pathlib.Path(env["BENCH_WORK"])
    conns = env["BENCH_CONNECTIONS"]
    duration = env["BENCH_DURATION"]
    threads = env["BENCH_THREADS"]
    r = {t: {c: parse(work / f"{t}-c{c}.txt") for c in (conns, "1")} for t in TARGETS}

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}" if b else "n/a"

    rows = [
        f"| target | req/s (c={conns}) | p50 µs (c={conns}) | p99 µs (c={conns}) "
        "| req/s (c=1) | p50 µs (c=1) | avg µs (c=1) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for t in TARGETS:
        hi, one = r[t][conns], r[t]["1"]
        rows.append(
            f"| {t} | {hi['rps']:,.0f} | {hi['p50']:.0f} | {hi['p99']:.0f} "
            f"| {one['rps']:,.0f} | {one['p50']:.0f} | {one['avg']:.0f} |"
        )
    c, f, o = r["coffer"], r["floor"], r["openbao"]
    overhead_p50 = c["1"]["p50"] - f["1"]["p50"]
    overhead_avg = c["1"]["avg"] - f["1"]["avg"]
    summary = [
        f"- coffer / floor, req/s: {ratio(c[conns]['rps'], f[conns]['rps'])} at c={conns}, "
        f"{ratio(c['1']['rps'], f['1']['rps'])} at c=1",
        f"- coffer / openbao, req/s: {ratio(c[conns]['rps'], o[conns]['rps'])} at c={conns}, "
        f"{ratio(c['1']['rps'], o['1']['rps'])} at c=1",
        f"- estimated engine-call overhead per request (coffer − floor latency at c=1): "
        f"{overhead_p50:.0f} µs at p50, {overhead_avg:.0f} µs on average",
    ]
    machine = [
        f"- date: {env['BENCH_DATE']}",
        f"- machine: {env['BENCH_NPROC']} cores, {env['BENCH_CPU']}, Linux {env['BENCH_KERNEL']}; "
        f"load average before the runs: {env.get('BENCH_LOAD', 'unknown')}",
        f"- coffer: {env['BENCH_REV']}, release build, dev mode (redb in a temporary directory), "
        f"{env['BENCH_RUSTC']}",
        f"- openbao: {env['BENCH_BAO']}, dev mode (in-memory storage), KV v1 at kv1/",
        f"- load: `wrk -t{threads} -c{conns} -d{duration}s --latency -H 'X-Vault-Token: root' URL`, "
        f"then the same with `-c1`, each after a 1 s warm-up; wrk and the server share the machine",
    ]
    transit = transit_section(work, conns, threads, env) if env.get("BENCH_TRANSIT", "1") == "1" else []
    table = "\n".join(rows)
    print()
    print(table)
    print()
    print("\n".join(summary))
    print()
    print("\n".join(machine))
    if transit:
        print()
        print("\n".join(transit))

    if env.get("BENCH_WRITE", "1") != "1":
        return
    section = "\n".join(
        [
            START,
            "## Latest results",
            "",
            "Written by `bench/run.sh`; rerun it to replace this section.",
            "",
            table,
            "",
            *summary,
            "",
            *transit,
            *([""] if transit else []),
            "Run on:",
            "",
            *machine,
            END,
        ]
    )
    path = pathlib.Path(env["BENCH_FILE"])
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if START in text and END in text:
        before, rest = text.split(START, 1)
        after = rest.split(END, 1)[1]
        text = before + section + after
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)
    print(f"\nreport: wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
