#!/usr/bin/env python3
"""The managed-keys benchmark (issue #13): signing through a PKCS#11 token
(SoftHSM2) against the same signature with a software key, and against the
token's own rate, in one run, on this machine.

For each key type (ECDSA P-256, RSA-2048) and each N in BENCH_MK_PARALLEL
(default "1 2"):
  direct     N threads calling C_Sign on the token's key directly, each on
             its own session (host/examples/pkcs11_sign_rate.rs): the
             token's rate, with no server in the way;
  managed    POST transit sign/<key> by wrk with N connections, the transit
             key a `managed_key` key over that same token key, created with
             max_parallel = N;
  software   the same wrk run on a transit key of the same type in software.
Reported: signatures per second and the ratios managed/direct (issue #13's
target: >= 0.70) and managed/software. One SoftHSM2 token in a temporary
folder; `coffer server --dev` (release) with a kms_library stanza.

Then the cloud backends, each next to a software key of the same type
(wrk, one connection): `awskms` on LocalStack, `azurekeyvault` and
`gcpckms` on the tests' stand-in servers (tests/python/managed_keys).
These measure the path through Coffer and the SDKs against a local
stand-in, not the clouds' own latency; a backend whose stand-in cannot
start here is left out with a note.

With --write, rewrites the section between the `managed-keys:results`
markers of BENCHMARKS.md. Environment: COFFER_BIN, CARGO_TARGET_DIR,
BENCH_MK_DURATION (3 s per run), BENCH_MK_PARALLEL, BENCH_PIN=1 (server and
the direct runs on CPU 0, wrk on CPU 1).
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
MK_TESTS = pathlib.Path(__file__).resolve().parents[1] / "tests" / "python" / "managed_keys"
sys.path.insert(0, str(MK_TESTS))
from pki import ROOT, SERVER_ON, TOKEN, Server, free_port, wait_health, write_section, wrk_post  # noqa: E402

DURATION = int(os.environ.get("BENCH_MK_DURATION", "3"))
PARALLEL = [int(n) for n in os.environ.get("BENCH_MK_PARALLEL", "1 2").split()]
PIN_CODE = "1234"
TOKEN_LABEL = "bench"
LIBRARIES = ["/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"]
TYPES = [("ecdsa-p256", "ec", {"mechanism": "0x1041", "curve": "P256"}),
         ("rsa-2048", "rsa", {"mechanism": "0x0001", "key_bits": 2048})]
BODY = json.dumps({"input": base64.b64encode(b"a message to sign, about this long" * 2).decode()})


def say(msg: str) -> None:
    print(f"bench-managed-keys: {msg}", file=sys.stderr, flush=True)


def start(binary: str, work: str, library: str, env: dict) -> Server:
    config = pathlib.Path(work, "coffer.hcl")
    config.write_text(f'kms_library "pkcs11" {{\n  name = "softhsm"\n  library = "{library}"\n}}\n')
    port = free_port()
    log = open(os.path.join(work, "log"), "w")
    proc = subprocess.Popen(
        SERVER_ON + [binary, "server", "--dev", "--dev-root-token-id", TOKEN,
                     "--dev-listen-address", f"127.0.0.1:{port}", "--config", str(config)],
        stdout=log, stderr=subprocess.STDOUT, env={**env, "COFFER_LOG": "warn"}, cwd=work,
    )
    addr = f"http://127.0.0.1:{port}"
    wait_health(addr, proc, ok=(200,))
    return Server("coffer", proc, addr, TOKEN, proc.pid, work)


def wrk_sign(s: Server, mount: str, key: str, connections: int, work: str) -> dict:
    m = wrk_post(s, f"{mount}/sign/{key}", BODY, work, connections, DURATION)
    return {"per_second": m["req_s"], "cpu_us": m["cpu_us"]}


def direct(example: str, library: str, label: str, kind: str, threads: int, env: dict) -> dict:
    out = subprocess.run(SERVER_ON + [example, library, TOKEN_LABEL, PIN_CODE, label, kind,
                                      str(threads), str(DURATION)],
                         check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    write = "--write" in sys.argv[1:]
    target_dir = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
    binary = os.environ.get("COFFER_BIN", os.path.join(target_dir, "release", "coffer"))
    example = os.path.join(target_dir, "release", "examples", "pkcs11_sign_rate")
    library = next((lib for lib in LIBRARIES if os.path.isfile(lib)), None)
    for path, what in ((binary, "cargo build --release -p coffer-host"),
                       (example, "cargo build --release -p coffer-host --example pkcs11_sign_rate")):
        if not os.access(path, os.X_OK):
            say(f"{path} is missing ({what})")
            return 2
    if library is None or shutil.which("softhsm2-util") is None or shutil.which("wrk") is None:
        say("SoftHSM2 and wrk are needed (Debian packages softhsm2 and wrk)")
        return 2
    work = tempfile.mkdtemp(prefix="bench-mk.")
    (pathlib.Path(work) / "tokens").mkdir()
    conf = pathlib.Path(work, "softhsm2.conf")
    conf.write_text(f"directories.tokendir = {work}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n")
    from azure_keyvault_server import make_tls

    ca, cert, key = make_tls(pathlib.Path(work))
    env = {**os.environ, "SOFTHSM2_CONF": str(conf), "SSL_CERT_FILE": str(ca)}
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", TOKEN_LABEL, "--pin", PIN_CODE,
                    "--so-pin", "5678"], env=env, check=True, capture_output=True)
    rows = ["| key | N | token direct (sign/s) | Coffer, managed key (sign/s) | Coffer, software key (sign/s) "
            "| managed / direct | managed / software |",
            "|---|---|---|---|---|---|---|"]
    s = None
    try:
        s = start(binary, work, library, env)
        for transit_type, kind, params in TYPES:
            label = f"bench-{kind}"
            for n in PARALLEL:
                name = f"{label}-{n}"
                s.call("POST", f"sys/managed-keys/pkcs11/{name}",
                       {"library": "softhsm", "token_label": TOKEN_LABEL, "pin": PIN_CODE,
                        "key_label": label, "allow_generate_key": True, "max_parallel": n, **params})
                mount = f"bench/{name}"
                s.call("POST", f"sys/mounts/{mount}",
                       {"type": "transit", "config": {"allowed_managed_keys": [name]}})
                s.call("POST", f"{mount}/keys/hsm", {"type": "managed_key", "managed_key_name": name})
                s.call("POST", f"{mount}/keys/soft", {"type": transit_type})
                d = direct(example, library, label, kind, n, env)
                m = wrk_sign(s, mount, "hsm", n, work)
                w = wrk_sign(s, mount, "soft", n, work)
                say(f"{transit_type} N={n}: direct {d['per_second']:.0f}/s, managed {m['per_second']:.0f}/s, "
                    f"software {w['per_second']:.0f}/s")
                rows.append(f"| {transit_type} | {n} | {d['per_second']:.0f} | {m['per_second']:.0f} | "
                            f"{w['per_second']:.0f} | {m['per_second'] / d['per_second']:.2f} | "
                            f"{m['per_second'] / w['per_second']:.2f} |")
        rows += cloud_rows(s, pathlib.Path(work), cert, key)
    finally:
        if s is not None:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("\n".join(rows))
    if write:
        update_benchmarks(rows)
    return 0


def cloud_rows(s: Server, work: pathlib.Path, cert: pathlib.Path, key: pathlib.Path) -> list[str]:
    """Sign through each cloud backend's stand-in next to a software key."""
    from azure_keyvault_server import FakeKeyVault
    from gcp_kms_server import FakeCloudKms, service_account
    from localstack_process import LocalStack

    rows = ["", "| backend (stand-in) | key | Coffer, managed key (sign/s) | Coffer, software key (sign/s) "
                "| managed / software |", "|---|---|---|---|---|"]
    stand_ins = []

    def measure(backend: str, name: str, body: dict, transit_type: str) -> None:
        s.call("POST", f"sys/managed-keys/{backend}/{name}", body)
        mount = f"bench/{name}"
        s.call("POST", f"sys/mounts/{mount}", {"type": "transit", "config": {"allowed_managed_keys": [name]}})
        s.call("POST", f"{mount}/keys/kms", {"type": "managed_key", "managed_key_name": name})
        s.call("POST", f"{mount}/keys/soft", {"type": transit_type})
        m = wrk_sign(s, mount, "kms", 1, str(work))
        w = wrk_sign(s, mount, "soft", 1, str(work))
        say(f"{backend} {transit_type}: managed {m['per_second']:.0f}/s, software {w['per_second']:.0f}/s")
        rows.append(f"| {backend} | {transit_type} | {m['per_second']:.0f} | {w['per_second']:.0f} | "
                    f"{m['per_second'] / w['per_second']:.2f} |")

    try:
        try:
            (work / "localstack").mkdir()
            stack = LocalStack(work / "localstack")
            stand_ins.append(stack)
            measure("awskms", "aws", {"access_key": "test", "secret_key": "test", "endpoint": stack.endpoint,
                                      "kms_key": "alias/bench", "key_type": "ECDSA", "curve": "P256",
                                      "allow_generate_key": True}, "ecdsa-p256")
        except RuntimeError as e:
            say(f"awskms left out: {e}")
            rows.append(f"| awskms | (left out: {str(e)[:80]}) | | | |")
        vault = FakeKeyVault(cert, key, tenant="00000000-0000-0000-0000-00000000c0ff", client_id="bench",
                             secret="bench")
        stand_ins.append(vault)
        vault.add_key("bench", 2048)
        measure("azurekeyvault", "azure", {"tenant_id": vault.tenant, "client_id": "bench", "client_secret": "bench",
                                           "vault_name": "bench", "key_name": "bench", "key_type": "RSA-HSM",
                                           "endpoint": vault.url, "authority_host": vault.url}, "rsa-2048")
        kms = FakeCloudKms()
        stand_ins.append(kms)
        ring = "projects/bench/locations/global/keyRings/ring"
        kms.add_key(f"{ring}/cryptoKeys/bench/cryptoKeyVersions/1", "EC_SIGN_P256_SHA256")
        measure("gcpckms", "gcp", {"credentials": json.dumps(service_account(f"{kms.url}/token")),
                                   "project": "bench", "region": "global", "key_ring": "ring",
                                   "crypto_key": "bench", "algorithm": "EC_SIGN_P256_SHA256",
                                   "endpoint": kms.url}, "ecdsa-p256")
    finally:
        for stand_in in stand_ins:
            stand_in.stop()
    return rows


def update_benchmarks(rows: list[str]) -> None:
    softhsm = subprocess.run(["softhsm2-util", "--version"], capture_output=True, text=True).stdout.strip()
    write_section("managed-keys", "Managed keys: `bench/managed_keys.py`",
                  f"SoftHSM2 {softhsm}, {DURATION} s per run", rows)


if __name__ == "__main__":
    sys.exit(main())
