"""`sys/managed-keys/azurekeyvault` through the real Azure SDK for Rust
client, against the test Azure Key Vault of `azure_keyvault_server.py`
(Azure has no emulator: that server speaks the REST wire protocol of the
calls used — Entra ID's token endpoint, Key Vault's challenge, get, create
and sign). Signatures are checked with the key pair the test vault holds,
by Python's `cryptography`."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from pki_helpers import assert_openssl_verifies, load_cert
from transit_helpers import unique


def azure_key(api, azure, name, **params):
    body = {"tenant_id": azure.tenant, "client_id": azure.client_id, "client_secret": azure.secret,
            "vault_name": "test", "endpoint": azure.url, "authority_host": azure.url,
            "key_type": "RSA-HSM", **params}
    return api.post(f"sys/managed-keys/azurekeyvault/{name}", body)


def test_existing_key_signs_pki_and_transit(api, azure):
    key_name = unique("az")
    private = azure.add_key(key_name, 2048)
    name = unique("azk")
    r = azure_key(api, azure, name, key_name=key_name)
    assert r.status == 204, r
    d = api.get(f"sys/managed-keys/azurekeyvault/{name}").data
    assert d["client_secret"] == "redacted" and azure.secret not in str(d)
    assert d["type"] == "azurekeyvault" and d["key_name"] == key_name
    before = azure.signatures
    assert api.post(f"sys/managed-keys/azurekeyvault/{name}/test/sign", {}).status == 204
    assert api.post(f"sys/managed-keys/azurekeyvault/{name}/test/sign", {"use_pss": True,
                                                                          "hash_algorithm": "sha2-512"}).status == 204
    assert azure.signatures == before + 2, "both signatures were made by the vault"
    public = private.public_key()
    path = f"mk/{unique('pki')}"
    assert api.post(f"sys/mounts/{path}", {"type": "pki", "config": {"allowed_managed_keys": [name],
                                                                     "max_lease_ttl": "87600h"}}).status == 204
    root = api.post(f"{path}/root/generate/kms", {"common_name": "Azure Root", "managed_key_name": name,
                                                   "ttl": "8760h"})
    assert root.status == 200, root
    cert = load_cert(root.data["certificate"])
    public.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
    api.post(f"{path}/roles/r", {"allow_any_name": True})
    leaf = api.post(f"{path}/issue/r", {"common_name": "az.example", "ttl": "5m"})
    assert leaf.status == 200, leaf
    assert_openssl_verifies(leaf.data["certificate"], root.data["certificate"])
    tpath = f"mk/{unique('transit')}"
    assert api.post(f"sys/mounts/{tpath}", {"type": "transit",
                                            "config": {"allowed_managed_keys": [name]}}).status == 204
    assert api.post(f"{tpath}/keys/k", {"type": "managed_key", "managed_key_name": name}).status == 200
    message = b"signed in the vault"
    s = api.post(f"{tpath}/sign/k", {"input": base64.b64encode(message).decode(), "signature_algorithm": "pss"})
    assert s.status == 200, s
    public.verify(base64.b64decode(s.data["signature"].split(":", 2)[2]), message,
                  padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO), hashes.SHA256())


def test_generate_key_when_missing(api, azure):
    key_name = unique("azgen")
    name = unique("azg")
    r = azure_key(api, azure, name, key_name=key_name, key_bits=3072, allow_generate_key=True)
    assert r.status == 204, r
    assert key_name in azure.keys and len(azure.keys[key_name]) == 1
    key = next(iter(azure.keys[key_name].values()))
    assert key.key_size == 3072
    assert api.post(f"sys/managed-keys/azurekeyvault/{name}/test/sign", {}).status == 204


@pytest.mark.parametrize(
    "change, status, named",
    [
        ({"client_secret": "wrong"}, 400, "credentials"),
        ({"key_name": "MISSING"}, 400, "404"),
        ({"endpoint": "https://127.0.0.1:9"}, 503, "could not be reached"),
        ({"endpoint": "http://127.0.0.1:9"}, 400, "https"),
        ({"key_type": "EC-HSM"}, 400, "key_type"),
    ],
)
def test_bad_configurations_store_nothing(api, azure, change, status, named):
    key_name = unique("azbad")
    azure.add_key(key_name)
    name = unique("azb")
    params = {"key_name": key_name, **change}
    if change.get("key_name") == "MISSING":
        params["key_name"] = unique("nokey")
    r = azure_key(api, azure, name, **params)
    assert r.status == status, r
    assert named in r.error_text(), r
    assert api.get(f"sys/managed-keys/azurekeyvault/{name}").status == 404
