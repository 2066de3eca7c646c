"""Policies, tokens and the seal through the clients users point at Vault:
hvac and the `bao` CLI, against a real Coffer dev server (this module's
own `coffer`, since one test seals it)."""

import json
import os
import shutil
import subprocess

import hvac
import hvac.exceptions
import pytest


@pytest.fixture()
def server(coffer):
    return coffer


@pytest.fixture()
def root(server):
    return hvac.Client(url=server.addr, token=server.token, timeout=30)


def unseal_key(server) -> str:
    for line in server.stdout_lines:
        if "Unseal Key:" in line:
            return line.split("Unseal Key:", 1)[1].strip()
    raise AssertionError(f"dev mode prints `Unseal Key:`: {server.stdout_lines}")


def bao(server, *args, token=None):
    path = shutil.which("bao")
    if path is None:
        pytest.fail("the `bao` CLI is not on PATH: run scripts/setup.sh")
    env = dict(os.environ, BAO_ADDR=server.addr, BAO_TOKEN=token or server.token)
    env.pop("VAULT_TOKEN", None)
    env.pop("VAULT_ADDR", None)
    return subprocess.run([path, *args], env=env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def test_hvac_policy_and_limited_token(server, root):
    root.sys.enable_secrets_engine("kv", path="hv", options={"version": "1"})
    root.secrets.kv.v1.create_or_update_secret(path="app/x", secret={"a": "b"}, mount_point="hv")
    root.secrets.kv.v1.create_or_update_secret(path="other", secret={"c": "d"}, mount_point="hv")
    root.sys.create_or_update_acl_policy(name="app-reader", policy='path "hv/app/*" { capabilities = ["read"] }')
    assert "app-reader" in root.sys.list_acl_policies()["data"]["keys"]
    assert "hv/app/*" in root.sys.read_acl_policy("app-reader")["data"]["policy"]

    created = root.auth.token.create(policies=["app-reader"], ttl="1h", meta={"who": "pytest"})
    auth = created["auth"]
    assert auth["policies"] == ["app-reader", "default"]
    assert auth["lease_duration"] == 3600
    app = hvac.Client(url=server.addr, token=auth["client_token"], timeout=30)
    assert app.is_authenticated()
    assert app.secrets.kv.v1.read_secret("app/x", mount_point="hv")["data"] == {"a": "b"}
    with pytest.raises(hvac.exceptions.Forbidden):
        app.secrets.kv.v1.read_secret("other", mount_point="hv")
    with pytest.raises(hvac.exceptions.Forbidden):
        app.secrets.kv.v1.create_or_update_secret(path="app/x", secret={"a": "evil"}, mount_point="hv")
    assert root.secrets.kv.v1.read_secret("app/x", mount_point="hv")["data"] == {"a": "b"}

    looked = root.auth.token.lookup(auth["client_token"])["data"]
    assert looked["meta"] == {"who": "pytest"}
    renewed = app.auth.token.renew_self(increment="30m")["auth"]
    assert 1700 <= renewed["lease_duration"] <= 1800
    root.auth.token.revoke(auth["client_token"])
    assert app.is_authenticated() is False

    with pytest.raises(hvac.exceptions.InvalidRequest) as bad:
        root.sys.create_or_update_acl_policy(name="broken", policy='path "x" { capabilities = ["fly"] }')
    assert "fly" in str(bad.value)


def test_bao_cli_policy_token_and_capabilities(server, tmp_path):
    hcl = tmp_path / "enc.hcl"
    hcl.write_text('path "tr/encrypt/app" {\n  capabilities = ["update"]\n}\n')
    r = bao(server, "secrets", "enable", "-path=tr", "transit")
    assert r.returncode == 0, r.stderr
    assert bao(server, "write", "-f", "tr/keys/app").returncode == 0
    r = bao(server, "policy", "write", "enc", str(hcl))
    assert r.returncode == 0, r.stderr
    r = bao(server, "policy", "list")
    assert "enc" in r.stdout.split()
    r = bao(server, "token", "create", "-policy=enc", "-format=json")
    assert r.returncode == 0, r.stderr
    token = json.loads(r.stdout)["auth"]["client_token"]
    r = bao(server, "write", "-format=json", "tr/encrypt/app", "plaintext=aGk=", token=token)
    assert r.returncode == 0, r.stderr
    ciphertext = json.loads(r.stdout)["data"]["ciphertext"]
    r = bao(server, "write", "tr/decrypt/app", f"ciphertext={ciphertext}", token=token)
    assert r.returncode != 0 and "permission denied" in r.stderr
    r = bao(server, "token", "capabilities", token, "tr/encrypt/app")
    assert r.returncode == 0, r.stderr
    assert "update" in r.stdout
    r = bao(server, "token", "lookup", "-format=json", token)
    assert json.loads(r.stdout)["data"]["policies"] == ["default", "enc"]


def test_seal_and_unseal_with_hvac_and_bao(server, root):
    """Last in the module: seals the shared server, then unseals it."""
    root.sys.enable_secrets_engine("kv", path="sealtest", options={"version": "1"})
    root.secrets.kv.v1.create_or_update_secret(path="k", secret={"v": "1"}, mount_point="sealtest")
    assert root.sys.is_sealed() is False
    r = bao(server, "status")
    assert r.returncode == 0, r.stdout + r.stderr
    root.sys.seal()
    assert root.sys.is_sealed() is True
    with pytest.raises(hvac.exceptions.VaultDown):
        root.secrets.kv.v1.read_secret("k", mount_point="sealtest")
    # `bao status` exits 2 while sealed.
    assert bao(server, "status").returncode == 2
    r = bao(server, "operator", "unseal", unseal_key(server))
    assert r.returncode == 0, r.stderr
    assert root.sys.is_sealed() is False
    assert root.secrets.kv.v1.read_secret("k", mount_point="sealtest")["data"] == {"v": "1"}
    # hvac's own unseal call works too.
    root.sys.seal()
    status = root.sys.submit_unseal_key(unseal_key(server))
    assert status["sealed"] is False


def test_bao_operator_init_unseal_rotate_on_a_config_server(tmp_path, coffer_binary):
    """`bao operator ...` against a config-mode server, which starts
    uninitialised and sealed, as Vault does."""
    config = tmp_path / "coffer.hcl"
    config.write_text(
        f'storage "redb" {{ path = "{tmp_path / "coffer.redb"}" }}\n'
        'listener "tcp" {\n  address = "127.0.0.1:0"\n  tls_disable = true\n}\n'
    )
    proc = subprocess.Popen([str(coffer_binary), "server", "--config", str(config)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        addr = None
        for line in proc.stdout:
            if "Api Address:" in line:
                addr = line.split("Api Address:", 1)[1].strip()
            if "Coffer server started" in line:
                break
        assert addr, "no `Api Address:` line"

        class Target:
            pass

        target = Target()
        target.addr = addr
        target.token = "none"
        assert bao(target, "status").returncode == 2
        r = bao(target, "operator", "init", "-key-shares=3", "-key-threshold=2", "-format=json")
        assert r.returncode == 0, r.stderr
        init = json.loads(r.stdout)
        assert len(init["unseal_keys_b64"]) == 3
        target.token = init["root_token"]
        r = bao(target, "operator", "unseal", init["unseal_keys_b64"][2])
        assert r.returncode == 0, r.stderr
        r = bao(target, "operator", "unseal", init["unseal_keys_hex"][0])
        assert r.returncode == 0, r.stderr
        assert bao(target, "status").returncode == 0
        assert bao(target, "operator", "rotate").returncode == 0
        r = bao(target, "operator", "key-status", "-format=json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["term"] == 2
        assert bao(target, "operator", "seal").returncode == 0
        assert bao(target, "status").returncode == 2
    finally:
        proc.terminate()
        proc.wait(timeout=15)
