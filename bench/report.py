"""Turns bench/run.sh's wrk outputs into a table, and rewrites the results
section of BENCHMARKS.md (between the bench:results markers).

Reads its inputs from the environment bench/run.sh exports (BENCH_*).
With BENCH_BASELINE set (A/B mode) there is a fourth target, coffer-base,
and an A/B section: per scenario the ratio of coffer's figures to
coffer-base's, each against the floor, and whether it is within 5%.
Beside each wrk output STEM.txt, bench/run.sh leaves STEM.cpu: the CPU
ticks the server process used during that run and CLK_TCK, from which the
server's CPU µs per request is computed here.
"""

import os
import pathlib
import re
import sys

START = "<!-- bench:results:start -->"
END = "<!-- bench:results:end -->"
TARGETS = ["floor", "coffer", "openbao"]
AB_TARGETS = ["floor", "coffer-base", "coffer", "openbao"]
# A/B verdict "within 5%": the new build's req/s at least AB_MIN_RPS of the
# old one's and its one-connection mean latency at most AB_MAX_LATENCY of it
# (both against the floor). The mean latency at c=1 is taken as 1 / req/s
# (one request at a time, so that is the mean time of a request): wrk's own
# "Latency Avg" does not add up with its request count (at c=1 its average
# times the requests made exceeds the run's duration several times over),
# so it is not used for the verdict.
AB_MIN_RPS = 0.95
AB_MAX_LATENCY = 1.05
KV = "kv-read"
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
    out["cpu"] = cpu_per_request(path.with_suffix(".cpu"), out["requests"])
    return out


def cpu_per_request(path: pathlib.Path, requests: int) -> float:
    """The server's CPU µs per request in a run: PATH holds the CPU ticks
    its process used during the run and the ticks per second (CLK_TCK).
    NaN when there is no such file or no request."""
    if not path.exists() or not requests:
        return float("nan")
    ticks, per_second = path.read_text().split()
    return int(ticks) / int(per_second) * 1_000_000 / requests


def parse_rounds(work: pathlib.Path, stem: str) -> dict:
    """STEM.txt and, in A/B mode with several rounds, STEM.rN.txt: each
    figure averaged over the rounds, and the rounds themselves ("runs", in
    round order)."""
    def round_of(p: pathlib.Path) -> int:
        return int(p.name[len(stem) + 2 : -len(".txt")])

    paths = [work / f"{stem}.txt"] + sorted(work.glob(f"{stem}.r*.txt"), key=round_of)
    runs = [parse(p) for p in paths]
    out = {k: sum(r[k] for r in runs) / len(runs) for k in ("rps", "avg", "p50", "p99", "cpu")}
    out["requests"] = sum(r["requests"] for r in runs)
    out["runs"] = runs
    return out


def us(x: float) -> str:
    """A µs figure for a table: one decimal, "n/a" when not measured."""
    return "n/a" if x != x else f"{x:,.1f}"


def median(xs: list) -> float:
    xs = sorted(xs)
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2


def transit_results(work: pathlib.Path, conns: str, targets: list):
    """bench/transit.py's lists and the wrk outputs of each accepted
    scenario: (scenarios, results by (target, scenario), refusals)."""
    lists = {}
    for t in targets:
        lines = (work / f"transit-{t}.txt").read_text().splitlines()
        lists[t] = {line.split(" ", 1)[0]: line.split(" ") for line in lines}
    scenarios = [line.split(" ", 1)[0] for line in (work / f"transit-floor.txt").read_text().splitlines()]
    res = {}
    refused = {}
    for t in targets:
        for s in scenarios:
            fields = lists[t].get(s)
            if fields and fields[2] == "ok":
                res[(t, s)] = {c: parse_rounds(work, f"transit-{t}-{s}-c{c}") for c in (conns, "1")}
            elif fields:
                refused[(t, s)] = f"HTTP {fields[3]}: {' '.join(fields[4:])}"
    return scenarios, res, refused


def transit_section(scenarios: list, res: dict, refused: dict, conns: str, threads: str, env) -> list:
    """The Transit tables and verdicts (floor, coffer, openbao; coffer-base
    is in the A/B section)."""

    def rps(t: str, s: str, c: str) -> str:
        if (t, s) in res:
            return f"{res[(t, s)][c]['rps']:,.0f}"
        return "refused" if (t, s) in refused else "n/a"

    def ratio(t: str, u: str, s: str, c: str) -> str:
        if (t, s) in res and (u, s) in res and res[(u, s)][c]["rps"]:
            return f"{res[(t, s)][c]['rps'] / res[(u, s)][c]['rps']:.2f}"
        return "–"

    def cpu(t: str, s: str, c: str) -> str:
        if (t, s) in res:
            return us(res[(t, s)][c]["cpu"])
        return "refused" if (t, s) in refused else "n/a"

    def avg(t: str, s: str) -> str:
        if (t, s) in res:
            return f"{res[(t, s)]['1']['avg']:,.0f}"
        return "refused" if (t, s) in refused else "n/a"

    out = [
        "### Transit",
        "",
        f"req/s at c={conns} (a batch request carries 1000 items), the coffer ratios, and each "
        f"server's CPU µs per request (a batch is one request):",
        "",
        "| scenario | floor | coffer | openbao | coffer / floor | coffer / openbao "
        "| floor CPU µs/req | coffer CPU µs/req | openbao CPU µs/req |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in scenarios:
        out.append(
            f"| {s} | {rps('floor', s, conns)} | {rps('coffer', s, conns)} | {rps('openbao', s, conns)} "
            f"| {ratio('coffer', 'floor', s, conns)} | {ratio('coffer', 'openbao', s, conns)} "
            f"| {cpu('floor', s, conns)} | {cpu('coffer', s, conns)} | {cpu('openbao', s, conns)} |"
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
    notes = sorted({(t, msg) for (t, s), msg in refused.items() if t in TARGETS})
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


def ab_section(kv: dict, scenarios: list, res: dict, refused: dict, conns: str, env) -> list:
    """Per scenario, coffer against coffer-base: in each round the ratio of
    the two runs made next to each other, for req/s at c=conns and for the
    mean latency at c=1 (1 / req/s); the median over the rounds, and the
    verdict. Each build is also shown against the floor's run."""
    rows = [(KV, kv.get("floor"), kv.get("coffer-base"), kv.get("coffer"), None)]
    for s in scenarios:
        why = None
        if ("coffer", s) not in res and ("coffer-base", s) in res:
            why = "no: this build refused it (" + refused.get(("coffer", s), "not run") + ")"
        elif ("coffer-base", s) not in res:
            why = "n/a: the old build refused it"
        rows.append((s, res.get(("floor", s)), res.get(("coffer-base", s)), res.get(("coffer", s)), why))

    rounds = env.get("BENCH_AB_ROUNDS", "1")
    rev = env.get("BENCH_BASELINE_REV") or "commit not given (BENCH_BASELINE_REV)"
    out = [
        "### A/B: this build against the old one",
        "",
        f"coffer-base is `{env['BENCH_BASELINE']}` ({rev}), started beside coffer with the same "
        f"dev flags. Each of its runs was made right next to coffer's run of the same scenario "
        f"(the order alternating), {rounds} round(s) per scenario and connection count, each "
        f"round on a fresh pair of processes. "
        f"new / old is (coffer / floor) / (coffer-base / floor), which with the same floor is "
        f"coffer / coffer-base, taken in each round from the two runs next to each other, and "
        f"the median over the rounds (range in brackets): req/s at c={conns} (above 1 is faster) "
        f"and the mean latency at c=1, which is 1 / req/s (below 1 is faster). The columns "
        f"against the floor use the means over the rounds. p50 at c=1 (medians over the rounds' "
        f"ratios too) is shown, not used for the verdict. So is new / old CPU per request at "
        f"c={conns}: the server process's user + system CPU time during the run (all its threads, "
        f"from /proc/<pid>/stat) divided by the requests wrk counted, coffer's over coffer-base's "
        f"per round, median (range); below 1 is cheaper. It counts what the server spent rather "
        f"than how long requests waited for a core, though sharing the cores moves it too.",
        "",
        f"| scenario | floor req/s (c={conns}) | coffer-base / floor | coffer / floor "
        f"| new / old req/s (c={conns}) | floor µs/req (c=1) | coffer-base µs/req | coffer µs/req "
        f"| new / old latency (c=1) | new / old p50 (c=1) | new / old CPU per request (c={conns}) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def paired(b: dict, c: dict, fn) -> tuple:
        """fn(old run, new run) per round: (median, min, max)."""
        xs = [fn(ob, nc) for ob, nc in zip(b["runs"], c["runs"])]
        return median(xs), min(xs), max(xs)

    def cell(m: tuple) -> str:
        if m[0] != m[0]:
            return "n/a"
        return f"{m[0]:.3f}" if m[1] == m[2] else f"{m[0]:.3f} ({m[1]:.2f}–{m[2]:.2f})"

    verdicts = []
    slower = []
    for name, f, b, c, why in rows:
        if why or not (f and b and c):
            out.append(f"| {name} | – | – | – | – | – | – | – | – | – | – |")
            verdicts.append(f"- {name}: within 5% of the old build: {why or 'n/a: not measured'}")
            if why and why.startswith("no"):
                slower.append(name)
            continue
        rps = paired(b[conns], c[conns], lambda ob, nc: nc["rps"] / ob["rps"])
        lat = paired(b["1"], c["1"], lambda ob, nc: ob["rps"] / nc["rps"])
        p50 = paired(b["1"], c["1"], lambda ob, nc: nc["p50"] / ob["p50"] if ob["p50"] else float("nan"))
        cpu = paired(b[conns], c[conns], lambda ob, nc: nc["cpu"] / ob["cpu"] if ob["cpu"] else float("nan"))
        per = {t: 1_000_000 / x["1"]["rps"] for t, x in (("f", f), ("b", b), ("c", c))}
        ok = rps[0] >= AB_MIN_RPS and lat[0] <= AB_MAX_LATENCY
        out.append(
            f"| {name} | {f[conns]['rps']:,.0f} | {b[conns]['rps'] / f[conns]['rps']:.3f} "
            f"| {c[conns]['rps'] / f[conns]['rps']:.3f} | {cell(rps)} | {per['f']:,.1f} "
            f"| {per['b']:,.1f} | {per['c']:,.1f} | {cell(lat)} | {p50[0]:.2f} | {cell(cpu)} |"
        )
        verdicts.append(
            f"- {name}: within 5% of the old build: {'yes' if ok else 'no'} "
            f"(req/s {rps[0]:.3f}x at c={conns}, latency {lat[0]:.3f}x at c=1)"
        )
        if not ok:
            slower.append(name)
    out += ["", *verdicts]
    if slower:
        out.append(f"- not within 5% of the old build in this run: {', '.join(slower)}")
    else:
        out.append(f"- every scenario within 5% of the old build in this run ({len(verdicts)} scenarios)")
    return out


def main() -> None:
    env = os.environ
    work = pathlib.Path(env["BENCH_WORK"])
    conns = env["BENCH_CONNECTIONS"]
    duration = env["BENCH_DURATION"]
    threads = env["BENCH_THREADS"]
    ab = bool(env.get("BENCH_BASELINE"))
    targets = AB_TARGETS if ab else TARGETS
    r = {t: {c: parse_rounds(work, f"{t}-c{c}") for c in (conns, "1")} for t in targets}

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}" if b else "n/a"

    rows = [
        f"| target | req/s (c={conns}) | p50 µs (c={conns}) | p99 µs (c={conns}) "
        f"| CPU µs/req (c={conns}) | req/s (c=1) | p50 µs (c=1) | avg µs (c=1) | CPU µs/req (c=1) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in targets:
        hi, one = r[t][conns], r[t]["1"]
        rows.append(
            f"| {t} | {hi['rps']:,.0f} | {hi['p50']:.0f} | {hi['p99']:.0f} | {us(hi['cpu'])} "
            f"| {one['rps']:,.0f} | {one['p50']:.0f} | {one['avg']:.0f} | {us(one['cpu'])} |"
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
        f"load average (1, 5, 15 min) before the runs: {env.get('BENCH_LOAD', 'unknown')}, "
        f"after: {env.get('BENCH_LOAD_AFTER', 'unknown')}",
        f"- coffer: {env['BENCH_REV']}, release build, dev mode (redb in a temporary directory), "
        f"{env['BENCH_RUSTC']}",
        f"- openbao: {env['BENCH_BAO']}, dev mode (in-memory storage), KV v1 at kv1/",
        f"- load: `wrk -t{threads} -c{conns} -d{duration}s --latency -H 'X-Vault-Token: root' URL`, "
        f"then the same with `-c1`, each after a 1 s warm-up; "
        + (
            "every server pinned to CPU 0 and wrk to CPU 1 (BENCH_PIN=1)"
            if env.get("BENCH_PIN") == "1"
            else "wrk and the server share the machine"
        ),
        f"- CPU µs/req: the server process's user + system CPU time over the measured run (all its "
        f"threads, utime + stime from /proc/<pid>/stat, in 1/CLK_TCK s ticks; not the warm-up, "
        f"not wrk's) divided by the requests wrk counted",
    ]
    if ab:
        machine.insert(
            3,
            f"- coffer-base: `{env['BENCH_BASELINE']}` "
            f"({env.get('BENCH_BASELINE_REV') or 'commit not given'}), same flags as coffer",
        )
    transit = []
    scenarios, tres, trefused = [], {}, {}
    if env.get("BENCH_TRANSIT", "1") == "1":
        scenarios, tres, trefused = transit_results(work, conns, targets)
        transit = transit_section(scenarios, tres, trefused, conns, threads, env)
    kv_ab = {t: r[t] for t in targets}
    abs_ = ab_section(kv_ab, scenarios, tres, trefused, conns, env) if ab else []
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
    if abs_:
        print()
        print("\n".join(abs_))

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
            *abs_,
            *([""] if abs_ else []),
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
