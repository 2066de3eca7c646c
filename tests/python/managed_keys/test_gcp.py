"""`sys/managed-keys/gcpckms` through Google's real Cloud KMS client for
Rust, against the test Cloud KMS of `gcp_kms_server.py` (Google has no
emulator: that server speaks the REST wire protocol of the calls used —
GetPublicKey, AsymmetricSign, CreateCryptoKey — and checks bearer
tokens). Signatures are checked with the key pair the test KMS holds, by
Python's `cryptography` and `openssl`."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding

from pki_helpers import assert_openssl_verifies, load_cert
from transit_helpers import unique

RING = "projects/coffer-test/locations/global/keyRings/ring"


def gcp_key(api, gcp, name, crypto_key, algorithm, **params):
    body = {"credentials": str(gcp.credentials), "project": "coffer-test", "region": "global",
            "key_ring": "ring", "crypto_key": crypto_key, "algorithm": algorithm,
            "endpoint": gcp.url, **params}
    return api.post(f"sys/managed-keys/gcpckms/{name}", body)


def test_existing_ec_key_signs_a_pki_root(api, gcp):
    crypto_key = unique("ec")
    private = gcp.add_key(f"{RING}/cryptoKeys/{crypto_key}/cryptoKeyVersions/1", "EC_SIGN_P256_SHA256")
    name = unique("gck")
    r = gcp_key(api, gcp, name, crypto_key, "EC_SIGN_P256_SHA256")
    assert r.status == 204, r
    d = api.get(f"sys/managed-keys/gcpckms/{name}").data
    assert d["credentials"] == "redacted" and d["crypto_key_version"] == "1" and d["type"] == "gcpckms"
    before = gcp.signatures
    assert api.post(f"sys/managed-keys/gcpckms/{name}/test/sign", {}).status == 204
    assert gcp.signatures == before + 1
    # Its algorithm fixes the hash: another is a clear 400.
    r = api.post(f"sys/managed-keys/gcpckms/{name}/test/sign", {"hash_algorithm": "sha2-384"})
    assert r.status == 400 and "sha2-256" in r.error_text(), r
    path = f"mk/{unique('pki')}"
    assert api.post(f"sys/mounts/{path}", {"type": "pki", "config": {"allowed_managed_keys": [name],
                                                                     "max_lease_ttl": "87600h"}}).status == 204
    root = api.post(f"{path}/root/generate/kms", {"common_name": "GCP Root", "managed_key_name": name,
                                                   "ttl": "8760h"})
    assert root.status == 200, root
    cert = load_cert(root.data["certificate"])
    private.public_key().verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    api.post(f"{path}/roles/r", {"allow_any_name": True})
    leaf = api.post(f"{path}/issue/r", {"common_name": "gcp.example", "ttl": "5m"})
    assert leaf.status == 200, leaf
    assert_openssl_verifies(leaf.data["certificate"], root.data["certificate"])


def test_generated_rsa_key_signs_in_transit(api, gcp):
    crypto_key = unique("rsa")
    name = unique("gcg")
    r = gcp_key(api, gcp, name, crypto_key, "RSA_SIGN_PKCS1_2048_SHA256", allow_generate_key=True)
    assert r.status == 204, r
    version = f"{RING}/cryptoKeys/{crypto_key}/cryptoKeyVersions/1"
    assert version in gcp.keys, "the key was made in the test KMS"
    public = gcp.keys[version][1].public_key()
    path = f"mk/{unique('transit')}"
    assert api.post(f"sys/mounts/{path}", {"type": "transit",
                                           "config": {"allowed_managed_keys": [name]}}).status == 204
    assert api.post(f"{path}/keys/k", {"type": "managed_key", "managed_key_name": name}).status == 200
    message = b"signed in cloud kms"
    s = api.post(f"{path}/sign/k", {"input": base64.b64encode(message).decode(),
                                    "signature_algorithm": "pkcs1v15"})
    assert s.status == 200, s
    public.verify(base64.b64decode(s.data["signature"].split(":", 2)[2]), message, padding.PKCS1v15(),
                  hashes.SHA256())
    s = api.post(f"{path}/sign/k", {"input": base64.b64encode(message).decode(), "signature_algorithm": "pss"})
    assert s.status == 400 and "PKCS#1 v1.5" in s.error_text(), s


@pytest.mark.parametrize(
    "change, status, named",
    [
        ({"crypto_key": "MISSING"}, 400, "404"),
        ({"algorithm": "EC_SIGN_P384_SHA384"}, 400, "EC_SIGN_P256_SHA256"),
        ({"algorithm": "HMAC_SHA256"}, 400, "algorithm"),
        ({"endpoint": "http://127.0.0.1:9"}, 503, "could not be reached"),
        ({"credentials": "/nonexistent/creds.json"}, 400, "credentials"),
        ({"credentials": '{"type": "service_account"}'}, 400, "credentials"),
    ],
)
def test_bad_configurations_store_nothing(api, gcp, change, status, named):
    crypto_key = unique("bad")
    gcp.add_key(f"{RING}/cryptoKeys/{crypto_key}/cryptoKeyVersions/1", "EC_SIGN_P256_SHA256")
    name = unique("gcb")
    params = dict(change)
    if params.get("crypto_key") == "MISSING":
        params["crypto_key"] = unique("nokey")
    algorithm = params.pop("algorithm", "EC_SIGN_P256_SHA256")
    r = gcp_key(api, gcp, name, params.pop("crypto_key", crypto_key), algorithm, **params)
    assert r.status == status, r
    assert named in r.error_text(), r
    assert api.get(f"sys/managed-keys/gcpckms/{name}").status == 404
