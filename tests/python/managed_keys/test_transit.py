"""Transit's `managed_key` keys on SoftHSM2: signatures made in the HSM,
checked with the public key read back from the HSM (python-pkcs11) and
Python's `cryptography`.

RSA-OAEP: transit encrypts with SHA-256 (as Vault), with the public key,
and decrypts in the HSM; SoftHSM2 2.6 decrypts OAEP only with SHA-1
(`C_DecryptInit` answers CKR_ARGUMENTS_BAD), so here the decryption is
shown to be asked of the HSM and its refusal answered as a 400 naming it,
not to succeed."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from conftest import LIBRARY_NAME, PIN
from transit_helpers import unique


def managed(api, name, **params):
    r = api.post(
        f"sys/managed-keys/pkcs11/{name}",
        {"library": LIBRARY_NAME, "pin": PIN, "token_label": "coffer-a", "key_label": name,
         "allow_generate_key": True, **params},
    )
    assert r.status == 204, r
    return name


def transit(api, allowed):
    path = f"mk/{unique('transit')}"
    r = api.post(f"sys/mounts/{path}", {"type": "transit", "config": {"allowed_managed_keys": allowed}})
    assert r.status == 204, r
    return path


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_sign_verify_rotate_and_refusals(api, hsm):
    first = managed(api, unique("tec"), mechanism="0x1041", curve="P256")
    second = managed(api, unique("tec"), mechanism="0x1041", curve="P256")
    other_type = managed(api, unique("trsa"), mechanism="0x0001", key_bits=2048)
    path = transit(api, [first, second, other_type])
    r = api.post(f"{path}/keys/k", {"type": "managed_key", "managed_key_name": first})
    assert r.status == 200, r
    d = r.data
    assert d["type"] == "managed_key" and d["supports_signing"] and d["exportable"] is False
    assert d["keys"]["1"]["managed_key_name"] == first
    public = hsm.public_key(first)
    shown = serialization.load_pem_public_key(d["keys"]["1"]["public_key"].encode())
    assert shown.public_numbers() == public.public_numbers()
    message = b"signed inside the HSM"
    signed = api.post(f"{path}/sign/k", {"input": b64(message), "hash_algorithm": "sha2-384"})
    assert signed.status == 200, signed
    sig = base64.b64decode(signed.data["signature"].split(":", 2)[2])
    public.verify(sig, message, ec.ECDSA(hashes.SHA384()))
    ok = api.post(f"{path}/verify/k", {"input": b64(message), "signature": signed.data["signature"],
                                        "hash_algorithm": "sha2-384"})
    assert ok.status == 200 and ok.data["valid"] is True, ok
    # Rotation names the next managed key, of the same type.
    assert api.post(f"{path}/keys/k/rotate", {}).status == 400
    r = api.post(f"{path}/keys/k/rotate", {"managed_key_name": other_type})
    assert r.status == 400 and "rsa-2048" in r.error_text(), r
    r = api.post(f"{path}/keys/k/rotate", {"managed_key_name": second})
    assert r.status == 200 and r.data["latest_version"] == 2, r
    signed = api.post(f"{path}/sign/k", {"input": b64(message)})
    assert signed.data["signature"].startswith("vault:v2:")
    hsm.public_key(second).verify(
        base64.b64decode(signed.data["signature"].split(":", 2)[2]), message, ec.ECDSA(hashes.SHA256())
    )
    # Version 1 still verifies (its managed key is still there).
    old = api.post(f"{path}/sign/k", {"input": b64(message), "key_version": 1})
    assert old.status == 200 and old.data["signature"].startswith("vault:v1:")
    # What needs key bytes is refused.
    for rel, body in (
        ("keys/k/config", {"exportable": True}),
        ("keys/k/config", {"auto_rotate_period": "2h"}),
    ):
        r = api.post(f"{path}/{rel}", body)
        assert r.status == 400 and "managed_key" in r.error_text(), (rel, r)
    assert api.get(f"{path}/export/signing-key/k").status == 400
    for body in ({"type": "managed_key"}, {"type": "managed_key", "managed_key_name": first, "exportable": True},
                 {"type": "ecdsa-p256", "managed_key_name": first}):
        r = api.post(f"{path}/keys/{unique('bad')}", body)
        assert r.status == 400, (body, r)


def test_a_mount_not_allowed_is_refused(api):
    name = managed(api, unique("tna"), mechanism="0x1041", curve="P256")
    path = transit(api, [])
    r = api.post(f"{path}/keys/k", {"type": "managed_key", "managed_key_name": name})
    assert r.status == 403, r
    assert api.get(f"{path}/keys/k").status == 404


def test_rsa_sign_and_oaep_in_the_hsm(api, hsm):
    name = managed(api, unique("toaep"), mechanism="0x0009", key_bits=2048,
                   usages="sign,verify,encrypt,decrypt")
    path = transit(api, [name])
    r = api.post(f"{path}/keys/r", {"type": "managed_key", "managed_key_id": api.get(
        f"sys/managed-keys/pkcs11/{name}").data["UUID"]})
    assert r.status == 200, r
    public = hsm.public_key(name)
    message = b"pss inside the HSM"
    for scheme, pad in (("pss", padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO)),
                        ("pkcs1v15", padding.PKCS1v15())):
        signed = api.post(f"{path}/sign/r", {"input": b64(message), "signature_algorithm": scheme})
        assert signed.status == 200, signed
        public.verify(base64.b64decode(signed.data["signature"].split(":", 2)[2]), message, pad, hashes.SHA256())
    secret = b"only the HSM can read this"
    ciphertext = public.encrypt(secret, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
    r = api.post(f"{path}/decrypt/r", {"ciphertext": "vault:v1:" + b64(ciphertext)})
    assert r.status == 400 and "the HSM refused the operation" in r.error_text(), r
    enc = api.post(f"{path}/encrypt/r", {"plaintext": b64(secret)})
    assert enc.status == 200, enc
    # The ciphertext is OAEP-SHA-256 to the HSM's public key.
    assert len(base64.b64decode(enc.data["ciphertext"].split(":", 2)[2])) == 256
    # A managed key whose usages leave out decrypt is not asked to (the
    # host refuses before the HSM; encrypting needs only the public key).
    signer = managed(api, unique("tsign"), mechanism="0x0001", key_bits=2048)
    path2 = transit(api, [signer])
    assert api.post(f"{path2}/keys/s", {"type": "managed_key", "managed_key_name": signer}).status == 200
    enc = api.post(f"{path2}/encrypt/s", {"plaintext": b64(secret)})
    assert enc.status == 200, enc
    dec = api.post(f"{path2}/decrypt/s", {"ciphertext": enc.data["ciphertext"]})
    assert dec.status == 400 and "usages" in dec.error_text(), dec
