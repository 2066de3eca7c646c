"""hvac, the Python Vault client, against a real Coffer dev server."""

import hvac
import hvac.exceptions
import pytest


@pytest.fixture()
def client(coffer):
    return hvac.Client(url=coffer.addr, token=coffer.token, timeout=30)


def test_is_authenticated(coffer, client):
    assert client.is_authenticated() is True
    assert hvac.Client(url=coffer.addr, token="wrong-token").is_authenticated() is False
    assert hvac.Client(url=coffer.addr).is_authenticated() is False


def test_health_status(client):
    health = client.sys.read_health_status(method="GET")
    assert health["initialized"] is True
    assert health["sealed"] is False
    assert health["standby"] is False
    # No token needed.
    anonymous = hvac.Client(url=client.url)
    assert anonymous.sys.read_health_status(method="GET")["sealed"] is False
    assert anonymous.sys.read_seal_status()["sealed"] is False


def test_kv_v1_at_a_nested_path(client):
    mount = "team/a/kv"
    client.sys.enable_secrets_engine(backend_type="kv", path=mount, description="nested kv")

    mounts = client.sys.list_mounted_secrets_engines()
    data = mounts["data"]
    assert data[f"{mount}/"]["type"] == "kv"
    assert data[f"{mount}/"]["description"] == "nested kv"
    assert data["secret/"]["type"] == "kv"

    kv = client.secrets.kv.v1
    kv.create_or_update_secret(path="db/password", secret={"user": "app", "pass": "s3cr3t"}, mount_point=mount)
    kv.create_or_update_secret(path="api-key", secret={"key": "abc", "n": 3}, mount_point=mount)

    read = kv.read_secret(path="db/password", mount_point=mount)
    assert read["data"] == {"user": "app", "pass": "s3cr3t"}
    assert kv.read_secret(path="api-key", mount_point=mount)["data"] == {"key": "abc", "n": 3}

    assert kv.list_secrets(path="", mount_point=mount)["data"]["keys"] == ["api-key", "db/"]
    assert kv.list_secrets(path="db", mount_point=mount)["data"]["keys"] == ["password"]

    # Update replaces the secret (kv v1).
    kv.create_or_update_secret(path="api-key", secret={"key": "new"}, mount_point=mount)
    assert kv.read_secret(path="api-key", mount_point=mount)["data"] == {"key": "new"}

    kv.delete_secret(path="api-key", mount_point=mount)
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.read_secret(path="api-key", mount_point=mount)
    assert kv.list_secrets(path="", mount_point=mount)["data"]["keys"] == ["db/"]

    # The default mount does not see this one's keys.
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.read_secret(path="db/password", mount_point="secret")


def test_disable_and_move(client):
    client.sys.enable_secrets_engine(backend_type="kv", path="temp")
    kv = client.secrets.kv.v1
    kv.create_or_update_secret(path="k", secret={"v": "1"}, mount_point="temp")
    client.sys.move_backend("temp", "moved")
    assert kv.read_secret(path="k", mount_point="moved")["data"] == {"v": "1"}
    assert "temp/" not in client.sys.list_mounted_secrets_engines()["data"]
    client.sys.disable_secrets_engine(path="moved")
    assert "moved/" not in client.sys.list_mounted_secrets_engines()["data"]
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.read_secret(path="k", mount_point="moved")


def test_errors_map_to_hvac_exceptions(coffer, client):
    with pytest.raises(hvac.exceptions.Forbidden):
        hvac.Client(url=coffer.addr, token="wrong").secrets.kv.v1.read_secret(path="x", mount_point="secret")
    with pytest.raises(hvac.exceptions.InvalidRequest):
        client.sys.enable_secrets_engine(backend_type="no-such-engine", path="nope")
    with pytest.raises(hvac.exceptions.InvalidRequest):
        client.sys.enable_secrets_engine(backend_type="kv", path="secret")


def test_token_lookup_self(client):
    me = client.auth.token.lookup_self()["data"]
    assert me["policies"] == ["root"]
    assert me["id"] == client.token


def test_generic_list_on_kv_and_transit(client):
    """hvac's generic `client.list(path)` sends `GET ...?list=True`
    (Python's True), which Go's ParseBool accepts: it must list, on kv and
    on transit alike."""
    client.sys.enable_secrets_engine(backend_type="kv", path="glist/kv")
    client.sys.enable_secrets_engine(backend_type="transit", path="glist/transit")
    client.secrets.kv.v1.create_or_update_secret(path="a", secret={"v": "1"}, mount_point="glist/kv")
    client.secrets.kv.v1.create_or_update_secret(path="b/c", secret={"v": "2"}, mount_point="glist/kv")
    client.secrets.transit.create_key(name="k1", mount_point="glist/transit")
    client.secrets.transit.create_key(name="k2", mount_point="glist/transit")

    assert client.list("glist/kv")["data"]["keys"] == ["a", "b/"]
    assert client.list("glist/kv/b")["data"]["keys"] == ["c"]
    assert client.list("glist/transit/keys")["data"]["keys"] == ["k1", "k2"]
    # The raw query hvac builds, and the other spellings Go accepts.
    for flag in ["True", "true", "1", "t", "T", "TRUE"]:
        r = client.adapter.get(f"/v1/glist/transit/keys?list={flag}")
        assert r["data"]["keys"] == ["k1", "k2"], flag
    # `False` reads (and the keys path answers reads with 405 in Vault;
    # what matters is that it is not a list).
    with pytest.raises(hvac.exceptions.VaultError):
        client.adapter.get("/v1/glist/transit/keys?list=maybe")
