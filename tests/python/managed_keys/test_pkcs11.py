"""`sys/managed-keys/pkcs11` on a real SoftHSM2 token, and PKI issuers whose
every signature is made inside it.

Signatures are checked against the public key read back from the HSM by
python-pkcs11 (`hsm.public_key(label)`), with Python's `cryptography` and
the `openssl` CLI, never with anything the server computed.
"""

from __future__ import annotations

import time

import hvac
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from conftest import LIBRARY_NAME, PIN
from pki_helpers import assert_openssl_verifies, load_cert, openssl_crl_verify
from transit_helpers import unique


def pkcs11_key(api, name: str, **params):
    return api.post(f"sys/managed-keys/pkcs11/{name}", {"library": LIBRARY_NAME, "pin": PIN, **params})


def seen(call):
    """`call()` (a create naming a key this process just made in the HSM).
    SoftHSM2 shares tokens between processes through files that another
    process rereads at its own pace, so the server may not see a new key
    at once: only that answer is retried, for at most two seconds."""
    deadline = time.monotonic() + 2.0
    while True:
        r = call()
        if r.status != 400 or "holds no private key" not in r.error_text() or time.monotonic() > deadline:
            return r
        time.sleep(0.1)


def pkcs11_existing(api, name: str, **params):
    return seen(lambda: pkcs11_key(api, name, **params))


def make_ec_key(api, name=None, curve="P256", **extra) -> str:
    name = name or unique("ec")
    r = pkcs11_key(
        api, name, token_label="coffer-a", key_label=name, mechanism="0x1041",
        curve=curve, allow_generate_key=True, **extra,
    )
    assert r.status == 204, r
    return name


def mount_pki(api, allowed: list[str]) -> str:
    path = f"mk/{unique('pki')}"
    config = {"max_lease_ttl": "87600h"}
    if allowed:
        config["allowed_managed_keys"] = allowed
    r = api.post(f"sys/mounts/{path}", {"type": "pki", "config": config})
    assert r.status == 204, r
    return path


def same_key(a, b) -> bool:
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    return a.public_bytes(serialization.Encoding.DER, fmt) == b.public_bytes(serialization.Encoding.DER, fmt)


def verify_with(public, cert: x509.Certificate):
    if isinstance(public, rsa.RSAPublicKey):
        public.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
    else:
        public.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))


# ------------------------------------------------------------------ the API


def test_create_read_list_and_test_sign(api, hsm):
    name = make_ec_key(api)
    assert hsm.private_keys(name) == 1, "the key was generated in the HSM"
    r = api.get(f"sys/managed-keys/pkcs11/{name}")
    assert r.status == 200, r
    d = r.data
    assert d["pin"] == "redacted" and PIN not in r.text
    assert d["name"] == name and d["type"] == "pkcs11" and d["library"] == LIBRARY_NAME
    assert d["mechanism"] == 0x1041 and d["curve"] == "P256" and d["key_label"] == name
    assert d["allow_generate_key"] is True and d["any_mount"] is False
    assert len(d["UUID"]) == 36
    assert name in api.list("sys/managed-keys/pkcs11").data["keys"]
    assert api.get("sys/managed-keys/pkcs11?list=true").data["keys"] == api.list(
        "sys/managed-keys/pkcs11"
    ).data["keys"]
    for body in ({}, {"hash_algorithm": "sha2-384"}, {"hash_algorithm": "sha3-256"}):
        r = api.post(f"sys/managed-keys/pkcs11/{name}/test/sign", body)
        assert r.status == 204, (body, r)
    # An update keeps what it does not name (the PIN among them).
    r = api.post(f"sys/managed-keys/pkcs11/{name}", {"max_parallel": 4, "any_mount": "true"})
    assert r.status == 204, r
    d = api.get(f"sys/managed-keys/pkcs11/{name}").data
    assert d["max_parallel"] == 4 and d["any_mount"] is True and d["UUID"]
    assert api.post(f"sys/managed-keys/pkcs11/{name}/test/sign", {}).status == 204


def test_hvac_generic_calls(server, softhsm):
    client = hvac.Client(url=server.addr, token=server.root_token)
    name = unique("hv")
    client.write(
        f"sys/managed-keys/pkcs11/{name}", library=LIBRARY_NAME, pin=PIN, slot=str(softhsm.slot_a),
        key_label=name, mechanism="0x1041", curve="P384", allow_generate_key="true",
    )
    assert client.read(f"sys/managed-keys/pkcs11/{name}")["data"]["curve"] == "P384"
    assert name in client.list("sys/managed-keys/pkcs11")["data"]["keys"]
    client.delete(f"sys/managed-keys/pkcs11/{name}")
    assert client.read(f"sys/managed-keys/pkcs11/{name}") is None


def test_existing_rsa_key_by_label_and_by_id(api, hsm, softhsm):
    label = unique("rsa")
    hsm.make_rsa(label, 2048, key_id=b"\x0a\x0b\x0c")
    name = unique("byid")
    for key in ({"key_label": label}, {"key_id": "0x0a0b0c"}, {"key_id": "0A0B0C", "key_label": label}):
        r = pkcs11_existing(api, name, slot=str(softhsm.slot_a), mechanism="0x0001", **key)
        assert r.status == 204, (key, r)
        for use_pss in (False, True):
            r = api.post(f"sys/managed-keys/pkcs11/{name}/test/sign", {"use_pss": use_pss})
            assert r.status == 204, (key, use_pss, r)


# ------------------------------------------------------------------ PKI


@pytest.mark.parametrize("curve", ["P256", "P384"])
def test_pki_root_on_an_hsm_ec_key(api, hsm, curve):
    name = make_ec_key(api, curve=curve)
    path = mount_pki(api, [name])
    r = api.post(f"{path}/root/generate/kms", {"common_name": "HSM Root", "managed_key_name": name, "ttl": "8760h"})
    assert r.status == 200, r
    assert "private_key" not in r.data
    root = load_cert(r.data["certificate"])
    public = hsm.public_key(name)
    assert same_key(root.public_key(), public), "the root's key is the HSM's"
    verify_with(public, root)
    assert api.post(f"{path}/roles/web", {"allow_any_name": True, "max_ttl": "1h"}).status in (200, 204)
    issued = api.post(f"{path}/issue/web", {"common_name": "a.example.com", "ttl": "10m"})
    assert issued.status == 200, issued
    leaf = load_cert(issued.data["certificate"])
    verify_with(public, leaf)
    assert_openssl_verifies(issued.data["certificate"], r.data["certificate"])
    # The CRL is signed in the HSM too, after a revocation.
    assert api.post(f"{path}/revoke", {"serial_number": issued.data["serial_number"]}).status == 200
    crl = api.get(f"{path}/cert/crl").data["certificate"]
    parsed = x509.load_pem_x509_crl(crl.encode())
    public.verify(parsed.signature, parsed.tbs_certlist_bytes, ec.ECDSA(parsed.signature_hash_algorithm))
    ok, out = openssl_crl_verify(crl, r.data["certificate"])
    assert ok, out
    key = api.get(f"{path}/key/default").data
    assert key["managed_key_name"] == name and key["key_type"] == "ec"


def test_pki_intermediate_and_keys_generate_on_an_hsm_rsa_key(api, hsm):
    label = unique("irsa")
    hsm.make_rsa(label, 3072)
    r = pkcs11_existing(api, label, token_label="coffer-a", key_label=label, mechanism="0x0001")
    assert r.status == 204, r
    uuid = api.get(f"sys/managed-keys/pkcs11/{label}").data["UUID"]
    root_path = mount_pki(api, [])
    # The root outlives the intermediate (both left to the default TTL, the
    # intermediate could end a second after the root and be refused).
    root = api.post(f"{root_path}/root/generate/internal", {"common_name": "Soft Root", "key_type": "ec",
                                                            "ttl": "8760h"})
    assert root.status == 200, root
    path = mount_pki(api, [uuid])  # allowed by id
    csr = api.post(f"{path}/intermediate/generate/kms", {"common_name": "HSM Int", "managed_key_id": uuid})
    assert csr.status == 200, csr
    parsed = x509.load_pem_x509_csr(csr.data["csr"].encode())
    public = hsm.public_key(label)
    assert same_key(parsed.public_key(), public)
    assert parsed.is_signature_valid
    signed = api.post(f"{root_path}/root/sign-intermediate", {"csr": csr.data["csr"], "format": "pem_bundle",
                                                               "ttl": "720h"})
    assert signed.status == 200, signed
    assert api.post(f"{path}/intermediate/set-signed", {"certificate": signed.data["certificate"]}).status == 200
    api.post(f"{path}/roles/r", {"allow_any_name": True})
    leaf = api.post(f"{path}/issue/r", {"common_name": "x.example", "ttl": "5m"})
    assert leaf.status == 200, leaf
    verify_with(public, load_cert(leaf.data["certificate"]))
    # keys/generate/kms adds the same key under a name: no second record.
    made = api.post(f"{path}/keys/generate/kms", {"managed_key_id": uuid, "key_name": "again"})
    assert made.status == 200, made


def test_pki_refusals(api):
    name = make_ec_key(api)
    allowed = mount_pki(api, [name])
    other = mount_pki(api, [])
    body = {"common_name": "x", "managed_key_name": name}
    r = api.post(f"{other}/root/generate/kms", body)
    assert r.status == 403, r
    for extra in ({"key_type": "ec"}, {"key_bits": 256}):
        r = api.post(f"{allowed}/root/generate/kms", {**body, **extra})
        assert r.status == 400 and "managed key" in r.error_text(), r
    r = api.post(f"{allowed}/root/generate/kms", {"common_name": "x"})
    assert r.status == 400 and "managed_key_name" in r.error_text(), r
    assert api.list(f"{allowed}/issuers").status == 404, "nothing was made"
    # any_mount opens it everywhere.
    assert api.post(f"sys/managed-keys/pkcs11/{name}", {"any_mount": True}).status == 204
    assert api.post(f"{other}/root/generate/kms", body).status == 200


# ------------------------------------------------------------------ refusals


def test_delete_is_refused_while_a_mount_allows_the_key(api):
    name = make_ec_key(api)
    path = mount_pki(api, [name])
    r = api.delete(f"sys/managed-keys/pkcs11/{name}")
    assert r.status == 400 and path in r.error_text(), r
    assert api.get(f"sys/managed-keys/pkcs11/{name}").status == 200
    assert api.delete(f"sys/mounts/{path}").status == 204
    assert api.delete(f"sys/managed-keys/pkcs11/{name}").status == 204
    assert api.get(f"sys/managed-keys/pkcs11/{name}").status == 404


@pytest.mark.parametrize(
    "params, named",
    [
        ({"library": "nope"}, "nope"),
        ({"library": "missing"}, "cannot load"),
        ({"token_label": "no-such-token"}, "no-such-token"),
        ({"token_label": None, "slot": "4242"}, "4242"),
        ({"token_label": "coffer-b", "slot": "SLOT_A"}, "coffer-b"),
        ({"allow_generate_key": False}, "allow_generate_key"),
        ({"mechanism": "0x0001", "key_label": "EC_LABEL", "allow_generate_key": False}, "0x0001"),
        ({"mechanism": "0x0002"}, "mechanism"),
        ({"curve": "P-224"}, "curve"),
        ({"usages": "sign,fly"}, "fly"),
        ({"key_lable": "typo"}, "key_lable"),
        ({"pin": ""}, "pin"),
    ],
)
def test_bad_configurations_are_named_and_store_nothing(api, hsm, softhsm, params, named):
    name = unique("bad")
    body = {"token_label": "coffer-a", "key_label": name, "mechanism": "0x1041", "curve": "P256",
            "allow_generate_key": True, "library": LIBRARY_NAME, "pin": PIN}
    for k, v in params.items():
        if v is None:
            body.pop(k, None)
        elif v == "SLOT_A":
            body[k] = str(softhsm.slot_a)
        elif v == "EC_LABEL":  # an EC key the HSM holds, for an RSA mechanism
            body[k] = name
            hsm.make_ec(name)
        else:
            body[k] = v
    def create():
        return api.post(f"sys/managed-keys/pkcs11/{name}", body)

    r = seen(create) if params.get("key_label") == "EC_LABEL" else create()
    assert r.status == 400, r
    assert named in r.error_text(), r
    assert api.get(f"sys/managed-keys/pkcs11/{name}").status == 404
    if params.get("key_label") != "EC_LABEL":
        assert hsm.private_keys(name) == 0, "nothing was generated"


def test_wrong_pin_is_refused_even_while_the_token_is_logged_in(api, hsm):
    first = make_ec_key(api)  # the token is now logged in by the server
    assert api.post(f"sys/managed-keys/pkcs11/{first}/test/sign", {}).status == 204
    name = unique("pin")
    r = pkcs11_key(api, name, pin="0000", token_label="coffer-a", key_label=first, mechanism="0x1041")
    assert r.status == 400 and "PIN" in r.error_text(), r
    assert api.get(f"sys/managed-keys/pkcs11/{name}").status == 404
    # An update with a wrong PIN keeps the old record.
    r = api.post(f"sys/managed-keys/pkcs11/{first}", {"pin": "0000"})
    assert r.status == 400 and "PIN" in r.error_text(), r
    assert api.post(f"sys/managed-keys/pkcs11/{first}/test/sign", {}).status == 204
    # The second token, not logged in yet, refuses a wrong PIN itself.
    r = pkcs11_key(api, unique("pinb"), pin="0000", token_label="coffer-b", key_label="x",
                   mechanism="0x1041", curve="P256", allow_generate_key=True)
    assert r.status == 400 and "PIN" in r.error_text(), r


def test_names_are_unique_across_types_and_paths_are_checked(api):
    name = make_ec_key(api)
    r = api.post(f"sys/managed-keys/awskms/{name}", {"kms_key": "alias/x"})
    assert r.status == 400 and "pkcs11" in r.error_text(), r
    r = api.post("sys/managed-keys/nosuch/x", {})
    assert r.status == 400 and "nosuch" in r.error_text(), r
    r = api.post("sys/managed-keys/pkcs11/Upper", {})
    assert r.status == 400 and "lowercase" in r.error_text(), r
    assert api.get(f"sys/managed-keys/awskms/{name}").status == 404
    assert api.post(f"sys/managed-keys/pkcs11/{name}/test/sign", {"hash_algorithm": "md5"}).status == 400
    r = api.post(f"sys/managed-keys/pkcs11/{name}", {"usages": "encrypt"})
    assert r.status == 204, r
    r = api.post(f"sys/managed-keys/pkcs11/{name}/test/sign", {})
    assert r.status == 400 and "sign" in r.error_text(), r
