"""Key lifecycle: create, read shape, list, delete, config, rotate, trim,
config/keys and cache-config."""

from __future__ import annotations

import datetime
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from transit_helpers import ASYM_TYPES, assert_error, b64d, on_openbao, split_versioned

SYM_TYPES = ["aes128-gcm96", "aes256-gcm96", "chacha20-poly1305"]

# type -> (supports_encryption, supports_decryption, supports_derivation, supports_signing)
SUPPORTS = {
    "aes128-gcm96": (True, True, True, False),
    "aes256-gcm96": (True, True, True, False),
    "chacha20-poly1305": (True, True, True, False),
    "ed25519": (False, False, True, True),
    "ecdsa-p256": (False, False, False, True),
    "ecdsa-p384": (False, False, False, True),
    "ecdsa-p521": (False, False, False, True),
    "rsa-2048": (True, True, False, True),
    "rsa-3072": (True, True, False, True),
    "rsa-4096": (True, True, False, True),
    "hmac": (False, False, False, False),
}

# Fields transit-rest.md lists for every key read.
READ_FIELDS = {
    "name": str,
    "type": str,
    "latest_version": int,
    "min_available_version": int,
    "min_decryption_version": int,
    "min_encryption_version": int,
    "deletion_allowed": bool,
    "derived": bool,
    "exportable": bool,
    "allow_plaintext_backup": bool,
    "imported_key": bool,
    "auto_rotate_period": int,
    "supports_encryption": bool,
    "supports_decryption": bool,
    "supports_derivation": bool,
    "supports_signing": bool,
}


def check_shape(data: dict, name: str, key_type: str):
    for field, typ in READ_FIELDS.items():
        assert field in data, f"key read lacks {field!r}: {sorted(data)}"
        assert isinstance(data[field], typ), f"{field} = {data[field]!r} is not {typ.__name__}"
        if typ is int:
            assert not isinstance(data[field], bool), f"{field} is a bool"
    assert data["name"] == name
    assert data["type"] == key_type
    enc, dec, der, sig = SUPPORTS[key_type]
    assert (
        data["supports_encryption"],
        data["supports_decryption"],
        data["supports_derivation"],
        data["supports_signing"],
    ) == (enc, dec, der, sig), f"supports_* of {key_type}"


def check_public_key(key_type: str, entry: dict):
    """The public key in a key read loads with `cryptography` and has the
    type's algorithm and size."""
    pub = entry["public_key"]
    if key_type == "ed25519":
        # OpenBao (like Vault) gives ed25519 public keys as base64 of the raw
        # 32 bytes, not PEM; the other asymmetric types are PEM.
        key = ed25519.Ed25519PublicKey.from_public_bytes(b64d(pub))
        assert isinstance(key, ed25519.Ed25519PublicKey)
        return key
    assert pub.startswith("-----BEGIN PUBLIC KEY-----"), pub
    key = serialization.load_pem_public_key(pub.encode())
    if key_type.startswith("ecdsa-"):
        curve = {"ecdsa-p256": ec.SECP256R1, "ecdsa-p384": ec.SECP384R1, "ecdsa-p521": ec.SECP521R1}
        assert isinstance(key, ec.EllipticCurvePublicKey)
        assert isinstance(key.curve, curve[key_type]), key.curve.name
    else:
        assert isinstance(key, rsa.RSAPublicKey)
        assert key.key_size == int(key_type.split("-")[1])
        assert key.public_numbers().e == 65537
    return key


def parse_time(value) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    text = value.rstrip("Z")
    if "." in text:
        head, frac = text.split(".", 1)
        text = f"{head}.{frac[:6]}"
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.timezone.utc).timestamp()


# ------------------------------------------------------------------ create


@pytest.mark.parametrize("key_type", SYM_TYPES)
def test_create_symmetric_and_read_shape(transit, name, key_type):
    n = name(key_type)
    before = time.time()
    transit.create(n, type=key_type)
    d = transit.read(n)
    check_shape(d, n, key_type)
    assert d["latest_version"] == 1
    assert d["min_decryption_version"] == 1
    assert d["min_encryption_version"] == 0
    assert d["min_available_version"] == 0
    assert d["deletion_allowed"] is False
    assert d["derived"] is False
    assert d["exportable"] is False
    assert d["allow_plaintext_backup"] is False
    assert d["imported_key"] is False
    assert d["auto_rotate_period"] == 0
    # keys: version -> creation time in Unix seconds.
    assert list(d["keys"]) == ["1"]
    created = d["keys"]["1"]
    assert isinstance(created, int) and not isinstance(created, bool)
    assert before - 120 <= created <= time.time() + 120


def test_default_type_is_aes256_gcm96(transit, name):
    n = name()
    transit.create(n)
    assert transit.read(n)["type"] == "aes256-gcm96"


@pytest.mark.parametrize("key_type", ASYM_TYPES)
def test_create_asymmetric_and_read_shape(transit, shared_key, key_type):
    # Made once per session (exportable) and reused by the signature tests.
    n = shared_key(key_type)
    d = transit.read(n)
    check_shape(d, n, key_type)
    assert d["latest_version"] == 1
    assert d["exportable"] is True
    assert list(d["keys"]) == ["1"]
    entry = d["keys"]["1"]
    assert isinstance(entry, dict), entry
    for field in ("name", "public_key", "creation_time"):
        assert field in entry, f"keys.1 lacks {field}: {entry}"
    assert abs(parse_time(entry["creation_time"]) - time.time()) < 600
    check_public_key(key_type, entry)


def test_asymmetric_create_response(shared_key):
    # Creating a key answers 200 with the key (OpenBao, recent Vault) or 204.
    shared_key("ecdsa-p256")
    r = shared_key.create_responses["ecdsa-p256"]
    if r.status == 200:
        assert r.data["type"] == "ecdsa-p256"


@pytest.mark.parametrize("size", [32, 64, 512])
def test_create_hmac_with_key_size(transit, name, size):
    n = name("hmac")
    transit.create(n, type="hmac", key_size=size, exportable=True)
    d = transit.read(n)
    check_shape(d, n, "hmac")
    assert d.get("key_size") == size
    exported = transit.ok("GET", f"export/hmac-key/{n}/1")
    assert len(b64d(exported["keys"]["1"])) == size


@pytest.mark.parametrize("size", [16, 31, 513, 1024])
def test_hmac_key_size_out_of_range(transit, name, size):
    n = name("hmac")
    assert_error(transit.post(f"keys/{n}", {"type": "hmac", "key_size": size}), 400, r"key.?size")
    assert transit.get(f"keys/{n}").status == 404


def test_key_size_only_for_hmac(transit, name):
    n = name()
    r = transit.post(f"keys/{n}", {"type": "aes256-gcm96", "key_size": 64})
    assert_error(r, 400, r"key.?size")
    assert transit.get(f"keys/{n}").status == 404


def test_hmac_default_key_size_is_32(transit, name, request):
    # The docs: "By default, the HMAC key type uses a 256-bit key."
    if on_openbao():
        request.applymarker(
            pytest.mark.xfail(
                strict=True,
                reason="OpenBao 2.7.2 answers 500 'invalid key size for HMAC key' "
                "to type=hmac without key_size, contradicting the docs",
            )
        )
    n = name("hmac")
    r = transit.post(f"keys/{n}", {"type": "hmac", "exportable": True})
    assert r.status in (200, 204), r
    exported = transit.ok("GET", f"export/hmac-key/{n}/1")
    assert len(b64d(exported["keys"]["1"])) == 32


def test_unknown_type_refused(transit, name):
    n = name()
    assert_error(transit.post(f"keys/{n}", {"type": "aes512-xyz"}), 400, r"type|aes512-xyz")
    assert transit.get(f"keys/{n}").status == 404


def test_read_unknown_key_is_404(transit, name):
    assert transit.get(f"keys/{name()}").status == 404


def test_derived_key_read_has_kdf_and_convergent(transit, name):
    n = name()
    transit.create(n, derived=True, convergent_encryption=True)
    d = transit.read(n)
    check_shape(d, n, "aes256-gcm96")
    assert d["derived"] is True
    assert d["convergent_encryption"] is True
    assert d["kdf"] == "hkdf_sha256"
    n2 = name()
    transit.create(n2, derived=True)
    d2 = transit.read(n2)
    assert d2["derived"] is True and d2["convergent_encryption"] is False
    assert d2["kdf"] == "hkdf_sha256"


def test_convergent_requires_derived(transit, name):
    n = name()
    assert_error(transit.post(f"keys/{n}", {"convergent_encryption": True}), 400, "deriv")
    assert transit.get(f"keys/{n}").status == 404


def test_response_envelope(transit, name):
    n = name()
    transit.create(n)
    r = transit.get(f"keys/{n}")
    body = r.body
    assert isinstance(body.get("request_id"), str) and body["request_id"]
    assert body["lease_id"] == ""
    assert body["renewable"] is False
    assert body["lease_duration"] == 0
    assert body["wrap_info"] is None
    assert body["auth"] is None


# ------------------------------------------------------------------ list / delete


def test_list_keys(transit, name):
    names = [name("list") for _ in range(3)]
    for n in names:
        transit.create(n)
    r = transit.list("keys")
    assert r.status == 200, r
    listed = r.data["keys"]
    assert isinstance(listed, list)
    for n in names:
        assert n in listed
    # GET ?list=true is the same operation.
    r2 = transit.get("keys?list=true")
    assert r2.status == 200, r2
    assert set(names) <= set(r2.data["keys"])


def test_list_empty_mount_is_404(fresh_mount):
    assert fresh_mount.list("keys").status == 404


def test_delete_refused_unless_allowed(transit, name):
    n = name()
    transit.create(n)
    ct = transit.encrypt(n, b"x")
    before = transit.read(n)
    assert_error(transit.delete(f"keys/{n}"), 400, "delet")
    assert transit.read(n) == before
    assert transit.decrypt(n, ct) == b"x"
    r = transit.post(f"keys/{n}/config", {"deletion_allowed": True})
    assert r.status in (200, 204), r
    assert transit.read(n)["deletion_allowed"] is True
    r = transit.delete(f"keys/{n}")
    assert r.status == 204, r
    assert transit.get(f"keys/{n}").status == 404
    listed = transit.list("keys")
    assert listed.status == 404 or n not in listed.data["keys"]


def test_delete_unknown_key(transit, name):
    # OpenBao: 400 "could not delete key; not found".
    assert_error(transit.delete(f"keys/{name()}"), 400, "not found")


# ------------------------------------------------------------------ config


def _config(transit, n, **params):
    return transit.post(f"keys/{n}/config", params)


def test_config_min_versions(transit, name):
    n = name()
    transit.create(n)
    ct1 = transit.encrypt(n, b"one")
    for _ in range(2):
        assert transit.post(f"keys/{n}/rotate").status in (200, 204)
    before = transit.read(n)
    assert before["latest_version"] == 3
    # above the latest version
    assert_error(_config(transit, n, min_decryption_version=4), 400, "version")
    assert_error(_config(transit, n, min_encryption_version=4), 400, "version")
    # min_encryption_version must be 0 or >= min_decryption_version
    assert_error(
        _config(transit, n, min_decryption_version=3, min_encryption_version=2), 400, "version"
    )
    assert transit.read(n) == before, "refused config changed the key"
    r = _config(transit, n, min_decryption_version=2, min_encryption_version=3)
    assert r.status in (200, 204), r
    d = transit.read(n)
    assert (d["min_decryption_version"], d["min_encryption_version"]) == (2, 3)
    # OpenBao (like Vault) lists only versions >= min_decryption_version.
    assert sorted(d["keys"]) == ["2", "3"]
    # v1 ciphertexts are no longer accepted, v2 keys no longer used.
    assert_error(transit.post(f"decrypt/{n}", {"ciphertext": ct1}), 400, "version|decrypt")
    assert_error(
        transit.post(f"encrypt/{n}", {"plaintext": "aGk=", "key_version": 2}), 400, "version"
    )
    assert split_versioned(transit.encrypt(n, b"hi"))[0] == 3
    # min_encryption_version 0 means "latest" and is always fine.
    r = _config(transit, n, min_encryption_version=0)
    assert r.status in (200, 204), r
    assert transit.read(n)["min_encryption_version"] == 0
    # Raising min_decryption_version above a set min_encryption_version is refused.
    assert transit.post(f"keys/{n}/rotate").status in (200, 204)
    assert _config(transit, n, min_encryption_version=3).status in (200, 204)
    assert_error(_config(transit, n, min_decryption_version=4), 400, "version")
    # And lowering it again re-enables old ciphertexts.
    assert _config(transit, n, min_decryption_version=1).status in (200, 204)
    assert transit.decrypt(n, ct1) == b"one"
    assert sorted(transit.read(n)["keys"], key=int) == ["1", "2", "3", "4"]


def test_exportable_and_plaintext_backup_cannot_be_unset(transit, name):
    n = name()
    transit.create(n)
    r = _config(transit, n, exportable=True, allow_plaintext_backup=True)
    assert r.status in (200, 204), r
    d = transit.read(n)
    assert d["exportable"] is True and d["allow_plaintext_backup"] is True
    # OpenBao (and Vault) accept `false` here with 200 but ignore it: the
    # flag stays set. A 400 would also honour "cannot be disabled".
    for field in ("exportable", "allow_plaintext_backup"):
        r = _config(transit, n, **{field: False})
        assert r.status in (200, 204, 400), r
        assert transit.read(n)[field] is True, f"{field} was turned off"
    # Still exportable in fact.
    assert transit.get(f"export/encryption-key/{n}").status == 200


@pytest.mark.parametrize("bad", ["30m", "59m59s", "1s", 3599])
def test_auto_rotate_period_too_short(transit, name, bad):
    n = name()
    transit.create(n)
    before = transit.read(n)
    assert_error(_config(transit, n, auto_rotate_period=bad), 400, "rotat|hour|period")
    assert transit.read(n) == before
    # and at creation time
    n2 = name()
    assert_error(transit.post(f"keys/{n2}", {"auto_rotate_period": bad}), 400, "rotat|hour|period")
    assert transit.get(f"keys/{n2}").status == 404


def test_auto_rotate_period_values(transit, name):
    n = name()
    transit.create(n, auto_rotate_period="2h")
    assert transit.read(n)["auto_rotate_period"] == 7200
    for value, seconds in [("1h", 3600), (86400, 86400), ("0", 0), ("24h", 86400), (0, 0)]:
        r = _config(transit, n, auto_rotate_period=value)
        assert r.status in (200, 204), (value, r)
        assert transit.read(n)["auto_rotate_period"] == seconds, value
    # Not giving it leaves it unchanged.
    _config(transit, n, auto_rotate_period="3h")
    assert _config(transit, n, deletion_allowed=True).status in (200, 204)
    assert transit.read(n)["auto_rotate_period"] == 10800


def test_config_unknown_key(transit, name):
    # OpenBao: 400 "no existing key named ... could be found".
    assert_error(_config(transit, name(), deletion_allowed=True), (400, 404))


# ------------------------------------------------------------------ rotate


def test_rotate_increments_versions(transit, name):
    n = name()
    transit.create(n)
    cts = {1: transit.encrypt(n, b"v1")}
    for v in (2, 3, 4):
        r = transit.post(f"keys/{n}/rotate")
        assert r.status in (200, 204), r
        if r.status == 200:
            assert r.data["latest_version"] == v
        d = transit.read(n)
        assert d["latest_version"] == v
        assert sorted(d["keys"], key=int) == [str(i) for i in range(1, v + 1)]
        ct = transit.encrypt(n, f"v{v}".encode())
        assert split_versioned(ct)[0] == v
        cts[v] = ct
    for v, ct in cts.items():
        assert transit.decrypt(n, ct) == f"v{v}".encode()
    # older versions are still usable on request
    assert split_versioned(transit.encrypt(n, b"x", key_version=2))[0] == 2


def test_rotate_asymmetric_gives_new_public_key(transit, name):
    n = name()
    transit.create(n, type="ecdsa-p256")
    transit.post(f"keys/{n}/rotate")
    d = transit.read(n)
    assert d["latest_version"] == 2
    assert d["keys"]["1"]["public_key"] != d["keys"]["2"]["public_key"]
    for v in ("1", "2"):
        check_public_key("ecdsa-p256", d["keys"][v])


def test_rotate_hmac_keeps_key_size(transit, name):
    n = name("hmac")
    transit.create(n, type="hmac", key_size=48, exportable=True)
    transit.post(f"keys/{n}/rotate")
    keys = transit.ok("GET", f"export/hmac-key/{n}")["keys"]
    assert sorted(keys) == ["1", "2"]
    assert [len(b64d(keys[v])) for v in ("1", "2")] == [48, 48]
    assert keys["1"] != keys["2"]


def test_rotate_unknown_key(transit, name):
    assert_error(transit.post(f"keys/{name()}/rotate"), (400, 404), "not found")


# ------------------------------------------------------------------ trim


def test_trim_rules(transit, name):
    n = name()
    transit.create(n)
    cts = {1: transit.encrypt(n, b"1")}
    for v in (2, 3, 4):
        transit.post(f"keys/{n}/rotate")
        cts[v] = transit.encrypt(n, str(v).encode())
    before = transit.read(n)
    # min_encryption_version is not set (0): trimming is refused.
    assert_error(transit.post(f"keys/{n}/trim", {"min_available_version": 2}), 400, "version")
    assert transit.read(n) == before
    assert _config(transit, n, min_decryption_version=3, min_encryption_version=4).status in (
        200,
        204,
    )
    before = transit.read(n)
    # above min_decryption_version
    assert_error(transit.post(f"keys/{n}/trim", {"min_available_version": 4}), 400, "version")
    # not positive
    assert_error(transit.post(f"keys/{n}/trim", {"min_available_version": 0}), 400, "version")
    assert transit.read(n) == before
    r = transit.post(f"keys/{n}/trim", {"min_available_version": 3})
    assert r.status in (200, 204), r
    d = transit.read(n)
    assert sorted(d["keys"], key=int) == ["3", "4"]
    assert d["min_available_version"] == 3
    assert d["latest_version"] == 4
    # trimmed versions are gone for good
    assert_error(transit.post(f"decrypt/{n}", {"ciphertext": cts[2]}), 400)
    assert transit.decrypt(n, cts[3]) == b"3"
    # and min_decryption_version cannot go below min_available_version now
    assert_error(_config(transit, n, min_decryption_version=2), 400, "version|available")
    # trimming below the current min_available_version is not an undo
    r = transit.post(f"keys/{n}/trim", {"min_available_version": 1})
    assert r.status >= 400 or sorted(transit.read(n)["keys"], key=int) == ["3", "4"]


# ------------------------------------------------------------------ mount-wide config


def test_config_keys_disable_upsert(fresh_mount, name):
    m = fresh_mount
    r = m.get("config/keys")
    assert r.status == 200, r
    assert r.data["disable_upsert"] is False
    r = m.post("config/keys", {"disable_upsert": True})
    assert r.status in (200, 204), r
    assert m.get("config/keys").data["disable_upsert"] is True
    n = name()
    assert_error(m.post(f"encrypt/{n}", {"plaintext": "aGk="}), 400, "not found|upsert")
    assert m.get(f"keys/{n}").status == 404
    # explicit creation still works
    m.create(n)
    assert m.decrypt(n, m.encrypt(n, b"hi")) == b"hi"
    r = m.post("config/keys", {"disable_upsert": False})
    assert r.status in (200, 204), r
    assert m.get("config/keys").data["disable_upsert"] is False
    n2 = name()
    ct = m.encrypt(n2, b"upserted")
    assert m.read(n2)["type"] == "aes256-gcm96"
    assert m.decrypt(n2, ct) == b"upserted"


def test_cache_config(fresh_mount):
    m = fresh_mount
    r = m.get("cache-config")
    assert r.status == 200, r
    assert r.data["size"] == 0
    assert_error(m.post("cache-config", {"size": 5}), 400, "size")
    assert_error(m.post("cache-config", {"size": -1}), 400, "size")
    assert m.get("cache-config").data["size"] == 0
    r = m.post("cache-config", {"size": 20})
    assert r.status in (200, 204), r
    assert m.get("cache-config").data["size"] == 20
    r = m.post("cache-config", {"size": 0})
    assert r.status in (200, 204), r
    assert m.get("cache-config").data["size"] == 0
