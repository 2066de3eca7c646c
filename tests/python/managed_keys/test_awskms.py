"""`sys/managed-keys/awskms` on LocalStack's KMS, and PKI and transit keys
whose signatures are made there.

Every signature is checked against the public key boto3 reads from
LocalStack (`GetPublicKey`), with Python's `cryptography` and `openssl`,
never with anything the server computed.
"""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from pki_helpers import assert_openssl_verifies, load_cert
from transit_helpers import unique


def aws_key(api, localstack, name, **params):
    body = {"access_key": localstack.access_key, "secret_key": localstack.secret_key,
            "endpoint": localstack.endpoint, "region": localstack.region, **params}
    return api.post(f"sys/managed-keys/awskms/{name}", body)


def public_of(aws, key_id):
    return serialization.load_der_public_key(aws.get_public_key(KeyId=key_id)["PublicKey"])


def verify(public, signature: bytes, data: bytes, hash_alg):
    if isinstance(public, rsa.RSAPublicKey):
        public.verify(signature, data, padding.PKCS1v15(), hash_alg)
    else:
        public.verify(signature, data, ec.ECDSA(hash_alg))


def test_generate_read_test_sign_and_pki_root(api, aws, localstack):
    name = unique("aws")
    alias = f"alias/{name}"
    r = aws_key(api, localstack, name, kms_key=alias, key_type="ECDSA", curve="P256",
                allow_generate_key=True)
    assert r.status == 204, r
    d = api.get(f"sys/managed-keys/awskms/{name}").data
    assert d["secret_key"] == "redacted" and "test" != d["secret_key"]
    assert d["kms_key"] == alias and d["key_type"] == "ECDSA" and d["type"] == "awskms"
    assert any(a["AliasName"] == alias for a in aws.list_aliases()["Aliases"]), "the alias was made"
    assert api.post(f"sys/managed-keys/awskms/{name}/test/sign", {}).status == 204
    assert name in api.list("sys/managed-keys/awskms").data["keys"]
    public = public_of(aws, alias)
    path = f"mk/{unique('pki')}"
    assert api.post(f"sys/mounts/{path}", {"type": "pki", "config": {
        "allowed_managed_keys": [name], "max_lease_ttl": "87600h"}}).status == 204
    root = api.post(f"{path}/root/generate/kms", {"common_name": "KMS Root", "managed_key_name": name,
                                                   "ttl": "8760h"})
    assert root.status == 200, root
    cert = load_cert(root.data["certificate"])
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert cert.public_key().public_bytes(*fmt) == public.public_bytes(*fmt)
    verify(public, cert.signature, cert.tbs_certificate_bytes, cert.signature_hash_algorithm)
    api.post(f"{path}/roles/r", {"allow_any_name": True})
    leaf = api.post(f"{path}/issue/r", {"common_name": "kms.example", "ttl": "5m"})
    assert leaf.status == 200, leaf
    verify(public, load_cert(leaf.data["certificate"]).signature,
           load_cert(leaf.data["certificate"]).tbs_certificate_bytes, hashes.SHA256())
    assert_openssl_verifies(leaf.data["certificate"], root.data["certificate"])


def test_existing_rsa_key_by_id_and_arn_in_transit(api, aws, localstack):
    made = aws.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    public = public_of(aws, made["KeyId"])
    for kms_key in (made["KeyId"], made["Arn"]):
        name = unique("awsrsa")
        r = aws_key(api, localstack, name, kms_key=kms_key, key_type="RSA")
        assert r.status == 204, r
        path = f"mk/{unique('transit')}"
        assert api.post(f"sys/mounts/{path}", {"type": "transit",
                                                "config": {"allowed_managed_keys": [name]}}).status == 204
        assert api.post(f"{path}/keys/k", {"type": "managed_key", "managed_key_name": name}).status == 200
        message = b"signed in AWS KMS"
        for scheme, pad in (("pkcs1v15", padding.PKCS1v15()),
                            ("pss", padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO))):
            s = api.post(f"{path}/sign/k", {"input": base64.b64encode(message).decode(),
                                            "signature_algorithm": scheme})
            assert s.status == 200, (scheme, s)
            public.verify(base64.b64decode(s.data["signature"].split(":", 2)[2]), message, pad, hashes.SHA256())
        # A hash AWS KMS has no RSA algorithm for is a clear 400.
        s = api.post(f"{path}/sign/k", {"input": base64.b64encode(message).decode(),
                                        "hash_algorithm": "sha3-256"})
        assert s.status == 400 and "AWS KMS cannot sign" in s.error_text(), s


@pytest.mark.parametrize(
    "params, status, named",
    [
        ({"kms_key": "alias/nope-{u}", "key_type": "ECDSA", "curve": "P256"}, 400, "NotFound"),
        ({"kms_key": "alias/x-{u}", "key_type": "RSA", "key_bits": 2048, "endpoint": "http://127.0.0.1:9"},
         503, "could not be reached"),
        ({"kms_key": "alias/x-{u}", "key_type": "RSA", "secret_key": None}, 400, "secret_key"),
        ({"kms_key": "{u}", "key_type": "RSA", "key_bits": 2048, "allow_generate_key": True}, 400, "alias"),
        ({"kms_key": "alias/x-{u}", "key_type": "EC"}, 400, "key_type"),
    ],
)
def test_bad_configurations_store_nothing(api, localstack, params, status, named):
    name = unique("awsbad")
    body = {k: (v.format(u=name) if isinstance(v, str) else v) for k, v in params.items() if v is not None}
    if params.get("secret_key", "") is None:  # an access key without its secret
        r = api.post(f"sys/managed-keys/awskms/{name}", {"access_key": "test", **body})
    else:
        r = aws_key(api, localstack, name, **body)
    assert r.status == status, r
    assert named in r.error_text(), r
    assert api.get(f"sys/managed-keys/awskms/{name}").status == 404


def test_a_key_of_the_wrong_type_is_refused(api, aws, localstack):
    made = aws.create_key(KeySpec="ECC_NIST_P384", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    r = aws_key(api, localstack, unique("awswrong"), kms_key=made["KeyId"], key_type="RSA")
    assert r.status == 400 and "not key_type RSA" in r.error_text(), r
    enc = aws.create_key(KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    r = aws_key(api, localstack, unique("awssym"), kms_key=enc["KeyId"], key_type="RSA")
    assert r.status == 400, r


def test_a_hung_kms_is_bounded_and_stalls_no_other_mount(api):
    """A "KMS" that accepts connections and never answers: creating a key
    on it ends with a 503 within the open deadline (20 s), and meanwhile
    another mount answers at once."""
    import socket
    import threading
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held = []

    def accept():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)  # read nothing, answer nothing

    threading.Thread(target=accept, daemon=True).start()
    port = listener.getsockname()[1]
    result = {}

    def create():
        start = time.monotonic()
        result["r"] = api.post(
            f"sys/managed-keys/awskms/{unique('hung')}",
            {"access_key": "a", "secret_key": "b", "endpoint": f"http://127.0.0.1:{port}",
             "kms_key": "alias/hung", "key_type": "ECDSA", "curve": "P256"},
        )
        result["seconds"] = time.monotonic() - start

    worker = threading.Thread(target=create)
    worker.start()
    try:
        time.sleep(1)
        assert held, "the server reached the hung KMS"
        for _ in range(5):
            start = time.monotonic()
            assert api.get("sys/mounts").status == 200
            assert api.post("secret/hung-probe", {"v": "1"}).status == 204
            assert time.monotonic() - start < 2, "another mount waited on the hung KMS"
        worker.join(timeout=60)
        assert not worker.is_alive()
        r = result["r"]
        assert r.status == 503, r
        assert result["seconds"] < 30, result["seconds"]
    finally:
        listener.close()
        for conn in held:
            conn.close()
