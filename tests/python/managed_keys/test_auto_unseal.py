"""Auto-unseal (`seal "pkcs11"` on SoftHSM2, `seal "awskms"` on LocalStack):
the real binary with a configuration file on redb, restarted between
steps. The root key is wrapped by the device; recovery keys open it only
to migrate between seals, in both directions."""

from __future__ import annotations

import pathlib
import tempfile
import time

import pytest
import requests

from conftest import PIN
from transit_helpers import CofferProcess, free_port, unique


class Node:
    """One storage file and address; `start(seal)` runs the binary on them."""

    def __init__(self, env: dict):
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="coffer-autounseal-"))
        self.port = free_port()
        self.addr = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.proc = None

    def start(self, seal: str = "") -> "Node":
        config = self.dir / "coffer.hcl"
        config.write_text(
            f'storage "redb" {{ path = "{self.dir / "data.redb"}" }}\n'
            f'listener "tcp" {{\n  address = "127.0.0.1:{self.port}"\n  tls_disable = true\n}}\n{seal}\n'
        )
        self.stop()
        self.proc = CofferProcess(["--config", str(config)], self.env)
        return self

    def stop(self):
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def status(self) -> dict:
        return requests.get(f"{self.addr}/v1/sys/seal-status", timeout=10).json()

    def wait_unsealed(self, seconds: float = 15) -> dict:
        deadline = time.monotonic() + seconds
        while True:
            s = self.status()
            if not s["sealed"] or time.monotonic() > deadline:
                return s
            time.sleep(0.2)

    def put(self, path: str, body: dict, token: str | None = None) -> requests.Response:
        headers = {"X-Vault-Token": token} if token else {}
        return requests.put(f"{self.addr}/v1/{path}", json=body, headers=headers, timeout=60)

    def get(self, path: str, token: str) -> requests.Response:
        return requests.get(f"{self.addr}/v1/{path}", headers={"X-Vault-Token": token}, timeout=60)

    def unseal(self, keys: list[str], migrate: bool = False) -> requests.Response:
        r = None
        for key in keys:
            r = self.put("sys/unseal", {"key": key, "migrate": migrate})
        return r


def pkcs11_stanza(softhsm, label: str, disabled: bool = False) -> str:
    return (
        f'seal "pkcs11" {{\n  lib = "{softhsm.library}"\n  token_label = "coffer-b"\n'
        f'  pin = "{PIN}"\n  key_label = "{label}"\n  generate_key = "true"\n'
        + ('  disabled = "true"\n' if disabled else "")
        + "}\n"
    )


@pytest.fixture
def node(softhsm):
    n = Node(softhsm.env)
    try:
        yield n
    finally:
        n.stop()


def test_pkcs11_auto_unseal_and_migrations_both_ways(node, softhsm, hsm):
    label = unique("seal")
    stanza = pkcs11_stanza(softhsm, label)
    node.start(stanza)
    s = node.status()
    assert (s["type"], s["initialized"], s["recovery_seal"]) == ("pkcs11", False, True)
    init = node.put("sys/init", {"recovery_shares": 3, "recovery_threshold": 2}).json()
    assert init["keys"] == [] and len(init["recovery_keys"]) == 3, init
    token, recovery = init["root_token"], init["recovery_keys"]
    s = node.status()
    assert not s["sealed"] and (s["t"], s["n"]) == (2, 3), s
    # The seal's AES key is in the HSM, made at init.
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    keys = list(hsm.session("coffer-b").get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY,
                                                     Attribute.LABEL: label}))
    assert len(keys) == 1 and keys[0].key_type == pkcs11.KeyType.AES
    assert node.put("sys/mounts/kv", {"type": "kv"}, token).status_code == 204
    assert node.put("kv/x", {"v": "kept"}, token).status_code == 204

    # A restart unseals by itself; recovery keys are not unseal keys.
    node.start(stanza)
    assert not node.wait_unsealed()["sealed"]
    assert node.get("kv/x", token).json()["data"] == {"v": "kept"}
    # Sealed by hand, it stays sealed: recovery keys are not unseal keys.
    assert node.put("sys/seal", {}, token).status_code == 204
    r = node.put("sys/unseal", {"key": recovery[0]})
    assert r.status_code == 400 and "unseals itself" in r.text, r.text
    assert node.status()["sealed"]

    # To Shamir: the stanza disabled; the recovery keys, with migrate.
    node.start(pkcs11_stanza(softhsm, label, disabled=True))
    s = node.status()
    assert s["sealed"] and s["migration"], s
    r = node.put("sys/unseal", {"key": recovery[0]})
    assert r.status_code == 400 and "migrate=true" in r.text, r.text
    s = node.unseal(recovery[:2], migrate=True).json()
    assert not s["sealed"] and s["type"] == "shamir" and not s["migration"], s
    # Now a Shamir server: no stanza, the same keys unseal it.
    node.start("")
    assert node.status()["sealed"]
    assert not node.unseal(recovery[1:]).json()["sealed"]
    assert node.get("kv/x", token).json()["data"] == {"v": "kept"}

    # And back to the HSM.
    node.start(stanza)
    s = node.status()
    assert s["sealed"] and s["migration"] and s["type"] == "shamir", s
    s = node.unseal([recovery[0], recovery[2]], migrate=True).json()
    assert not s["sealed"] and s["type"] == "pkcs11", s
    node.start(stanza)
    assert not node.wait_unsealed()["sealed"]
    assert node.get("kv/x", token).json()["data"] == {"v": "kept"}


def test_awskms_auto_unseal_and_a_wrong_key_keeps_it_sealed(softhsm, localstack, aws):
    key = aws.create_key(KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    other = aws.create_key(KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]

    def stanza(key_id: str) -> str:
        return (f'seal "awskms" {{\n  region = "{localstack.region}"\n  access_key = "{localstack.access_key}"\n'
                f'  secret_key = "{localstack.secret_key}"\n  endpoint = "{localstack.endpoint}"\n'
                f'  kms_key_id = "{key_id}"\n}}\n')

    node = Node(softhsm.env)
    try:
        node.start(stanza(key))
        init = node.put("sys/init", {"recovery_shares": 1, "recovery_threshold": 1}).json()
        token = init["root_token"]
        assert not node.status()["sealed"]
        assert node.get("auth/token/lookup-self", token).status_code == 200
        node.start(stanza(key))
        s = node.wait_unsealed()
        assert not s["sealed"] and s["type"] == "awskms", s
        # Another KMS key cannot decrypt the stored root key: still sealed.
        node.start(stanza(other))
        time.sleep(2)
        assert node.status()["sealed"]
        assert "auto-unseal failed" in node.proc.stderr()
    finally:
        node.stop()


@pytest.mark.parametrize(
    "stanza, named",
    [
        ('seal "pkcs11" {\n  lib = "/x.so"\n  pin = "1"\n  key_label = "k"\n}', "slot or token_label"),
        ('seal "pkcs11" {\n  lib = "/x.so"\n  slot = "1"\n  pin = "1"\n  key_label = "k"\n  hmac = "x"\n}',
         '"hmac"'),
        ('seal "awskms" {\n  region = "us-east-1"\n}', "kms_key_id"),
        ('seal "transit" {\n  address = "x"\n}', '"transit"'),
    ],
)
def test_bad_seal_stanzas_stop_the_server_with_a_named_cause(softhsm, stanza, named):
    import subprocess

    from transit_helpers import coffer_bin

    node = Node(softhsm.env)
    config = node.dir / "bad.hcl"
    config.write_text(f'storage "redb" {{ path = "{node.dir / "data.redb"}" }}\n'
                      f'listener "tcp" {{\n  address = "127.0.0.1:{node.port}"\n  tls_disable = true\n}}\n'
                      f"{stanza}\n")
    out = subprocess.run([str(coffer_bin()), "server", "--config", str(config)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode != 0, out.stdout
    assert named in out.stderr, out.stderr


def generate_root(node: Node, keys: list[str]) -> dict:
    """`sys/generate-root` with `keys`; the last answer."""
    started = node.put("sys/generate-root/attempt", {}).json()
    assert started["started"] and len(started["otp"]) == started["otp_length"], started
    answer = None
    for key in keys:
        answer = node.put("sys/generate-root/update", {"key": key, "nonce": started["nonce"]}).json()
    answer["otp"] = started["otp"]
    return answer


def decode_with_bao(encoded: str, otp: str, addr: str) -> str:
    """The token, decoded by the `bao` CLI (not by Coffer's code)."""
    import os
    import subprocess

    from transit_helpers import bao_bin

    out = subprocess.run([bao_bin(), "operator", "generate-root", f"-decode={encoded}", f"-otp={otp}"],
                         capture_output=True, text=True, env=dict(os.environ, BAO_ADDR=addr), timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1].split()[-1]


@pytest.mark.parametrize("sealed_by", ["shamir", "pkcs11"])
def test_generate_root_with_unseal_or_recovery_keys(node, softhsm, sealed_by):
    if sealed_by == "pkcs11":
        node.start(pkcs11_stanza(softhsm, unique("gr")))
        init = node.put("sys/init", {"recovery_shares": 3, "recovery_threshold": 2}).json()
        keys = init["recovery_keys"]
    else:
        node.start("")
        init = node.put("sys/init", {"secret_shares": 3, "secret_threshold": 2}).json()
        keys = init["keys"]
        node.unseal(keys[:2])
    assert not node.status()["sealed"]
    # A wrong nonce, and shares that do not open the root key, are refused.
    started = node.put("sys/generate-root/attempt", {}).json()
    r = node.put("sys/generate-root/update", {"key": keys[0], "nonce": "wrong"})
    assert r.status_code == 400 and "nonce" in r.text, r.text
    assert node.put("sys/generate-root/attempt", {}).status_code == 400, "one attempt at a time"
    bogus = "00" * 33
    node.put("sys/generate-root/update", {"key": keys[0], "nonce": started["nonce"]})
    r = node.put("sys/generate-root/update", {"key": bogus, "nonce": started["nonce"]})
    assert r.status_code == 400, r.text
    assert requests.delete(f"{node.addr}/v1/sys/generate-root/attempt", timeout=10).status_code == 204
    # The real thing, decoded by the bao CLI.
    done = generate_root(node, keys[1:])
    assert done["complete"] and done["encoded_token"], done
    token = decode_with_bao(done["encoded_token"], done["otp"], node.addr)
    me = node.get("auth/token/lookup-self", token).json()["data"]
    assert me["policies"] == ["root"], me
    assert token != init["root_token"]
    assert not node.put("sys/generate-root/attempt", {}).json()["complete"] is True
