"""Prepares bench/run.sh's Transit scenarios on one target.

    python3 bench/transit.py TARGET ADDR TOKEN WORK

Mounts transit at transit/ on the server at ADDR, creates the benchmark's
keys, writes each scenario's request body and a wrk Lua script that sends it
(WORK/transit-TARGET-SCENARIO.{json,lua}), sends every body once to check
the answer, and lists the scenarios in WORK/transit-TARGET.txt, one a line:

    SCENARIO PATH ok
    SCENARIO PATH refused STATUS MESSAGE

A refused scenario (OpenBao's JSON limits refuse a batch of 1000) is
reported, not run. Decrypt bodies hold ciphertexts that this target made
of the same plaintexts, and verify bodies a signature it made.
"""

import base64
import http.client
import json
import os
import pathlib
import sys
import urllib.parse

BATCH = 1000
# name -> plaintext size; the same plaintexts for every target.
SIZES = {"64": 64, "4k": 4096}
SIGN_KEYS = {"p256": "ecdsa-p256", "ed25519": "ed25519"}
AES_KEY = "bench-aes"


def scenarios():
    """(name, kind, size or key) in the order they run and are reported."""
    out = []
    for op in ("encrypt", "decrypt"):
        for size in SIZES:
            out.append((f"{op}-{size}", op, size, False))
            out.append((f"{op}-{size}-b{BATCH}", op, size, True))
    for key in SIGN_KEYS:
        out.append((f"sign-{key}", "sign", key, False))
        out.append((f"verify-{key}", "verify", key, False))
    return out


class Client:
    def __init__(self, addr: str, token: str):
        url = urllib.parse.urlsplit(addr)
        self.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
        self.token = token

    def post(self, path: str, body: bytes):
        self.conn.request(
            "POST",
            f"/v1/{path}",
            body=body,
            headers={"X-Vault-Token": self.token, "Content-Type": "application/json"},
        )
        resp = self.conn.getresponse()
        data = resp.read()
        try:
            parsed = json.loads(data) if data else {}
        except ValueError:
            parsed = {"errors": [data[:200].decode(errors="replace")]}
        return resp.status, parsed

    def must(self, path: str, body) -> dict:
        status, parsed = self.post(path, json.dumps(body).encode())
        if status // 100 != 2:
            sys.exit(f"transit: POST {path} answered {status}: {parsed}")
        return parsed


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def plaintexts(size: str, count: int) -> list:
    # Deterministic, so every target gets the same bytes.
    n = SIZES[size]
    return [b64(bytes((i * 7 + j) % 251 for j in range(n))) for i in range(count)]


def error_of(parsed: dict) -> str:
    errors = parsed.get("errors") or ["no message"]
    return " ".join(str(e) for e in errors).replace("\n", " ")[:200]


def ciphertexts(client: Client, size: str, batch: bool) -> list:
    """This target's ciphertexts of the scenario's plaintexts: one batch
    request if the target takes it, else one request per plaintext."""
    texts = plaintexts(size, BATCH if batch else 1)
    if batch:
        status, parsed = client.post(
            f"transit/encrypt/{AES_KEY}",
            json.dumps({"batch_input": [{"plaintext": p} for p in texts]}).encode(),
        )
        if status == 200:
            return [r["ciphertext"] for r in parsed["data"]["batch_results"]]
    return [
        client.must(f"transit/encrypt/{AES_KEY}", {"plaintext": p})["data"]["ciphertext"]
        for p in texts
    ]


def check(op: str, parsed: dict, batch: bool) -> str:
    """Why a 200 answer is wrong, or ''."""
    data = parsed.get("data") or {}
    items = data.get("batch_results") if batch else [data]
    if not items or (batch and len(items) != BATCH):
        return f"unexpected answer: {json.dumps(parsed)[:200]}"
    want = {"encrypt": "ciphertext", "decrypt": "plaintext", "sign": "signature", "verify": "valid"}[op]
    for item in items:
        if item.get("error") or want not in item:
            return f"item failed: {json.dumps(item)[:200]}"
        if op == "verify" and item["valid"] is not True:
            return "signature did not verify"
    return ""


LUA = """-- bench/transit.py: POSTs one body over and over.
local f = assert(io.open("{body}", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Vault-Token"] = "{token}"
"""


def main() -> None:
    target, addr, token, work = sys.argv[1:5]
    work = pathlib.Path(work)
    client = Client(addr, token)
    client.must("sys/mounts/transit", {"type": "transit"})
    client.must(f"transit/keys/{AES_KEY}", {"type": "aes256-gcm96"})
    for name, kind in SIGN_KEYS.items():
        client.must(f"transit/keys/bench-{name}", {"type": kind})
    sign_input = b64(bytes(range(64)))

    lines = []
    for name, op, arg, batch in scenarios():
        if op in ("encrypt", "decrypt"):
            path = f"transit/{op}/{AES_KEY}"
            if op == "encrypt":
                items = [{"plaintext": p} for p in plaintexts(arg, BATCH if batch else 1)]
            else:
                items = [{"ciphertext": c} for c in ciphertexts(client, arg, batch)]
            body = {"batch_input": items} if batch else items[0]
        else:
            path = f"transit/{op}/bench-{arg}"
            body = {"input": sign_input}
            if op == "verify":
                signed = client.must(f"transit/sign/bench-{arg}", body)
                body = {"input": sign_input, "signature": signed["data"]["signature"]}
        raw = json.dumps(body, separators=(",", ":")).encode()
        body_file = work / f"transit-{target}-{name}.json"
        body_file.write_bytes(raw)
        (work / f"transit-{target}-{name}.lua").write_text(LUA.format(body=body_file, token=token))
        status, parsed = client.post(path, raw)
        if status != 200:
            lines.append(f"{name} {path} refused {status} {error_of(parsed)}")
            continue
        problem = check(op, parsed, batch)
        if problem:
            sys.exit(f"transit: {target} {name}: {problem}")
        lines.append(f"{name} {path} ok")
    (work / f"transit-{target}.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    os.umask(0o077)
    main()
