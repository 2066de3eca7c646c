"""Independent checks: every cryptographic result the server gives is
recomputed or verified here with Python's `cryptography`, `hashlib` and
`hmac`, never with the server's own code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from transit_helpers import assert_error, bad_input, b64d, b64e, b64url_d, ct_raw, split_versioned

AEADS = {
    "aes128-gcm96": (AESGCM, 16),
    "aes256-gcm96": (AESGCM, 32),
    "chacha20-poly1305": (ChaCha20Poly1305, 32),
}

HASHES = {
    "sha2-224": hashes.SHA224,
    "sha2-256": hashes.SHA256,
    "sha2-384": hashes.SHA384,
    "sha2-512": hashes.SHA512,
    "sha3-224": hashes.SHA3_224,
    "sha3-256": hashes.SHA3_256,
    "sha3-384": hashes.SHA3_384,
    "sha3-512": hashes.SHA3_512,
}
HASHLIB = {
    "sha2-224": "sha224",
    "sha2-256": "sha256",
    "sha2-384": "sha384",
    "sha2-512": "sha512",
    "sha3-224": "sha3_224",
    "sha3-256": "sha3_256",
    "sha3-384": "sha3_384",
    "sha3-512": "sha3_512",
}


def public_key_of(transit, name, version="1"):
    entry = transit.read(name)["keys"][version]
    pub = entry["public_key"]
    if not pub.startswith("-----BEGIN"):
        return ed25519.Ed25519PublicKey.from_public_bytes(b64d(pub))
    return serialization.load_pem_public_key(pub.encode())


def sig_bytes(signature: str, jws: bool = False) -> tuple[int, bytes]:
    version, rest = split_versioned(signature)
    if jws:
        assert re.fullmatch(r"[A-Za-z0-9_-]+", rest), f"not unpadded base64url: {rest!r}"
        return version, b64url_d(rest)
    return version, b64d(rest)


def flip(data: bytes, index: int = -1) -> bytes:
    b = bytearray(data)
    b[index] ^= 0x01
    return bytes(b)


# ------------------------------------------------------------------ AEAD export


@pytest.mark.parametrize("key_type", list(AEADS))
def test_exported_symmetric_key_matches_ciphertexts(transit, name, key_type):
    cls, size = AEADS[key_type]
    n = name(key_type)
    transit.create(n, type=key_type, exportable=True)
    transit.post(f"keys/{n}/rotate")
    r = transit.get(f"export/encryption-key/{n}")
    assert r.status == 200, r
    assert r.data["name"] == n and r.data["type"] == key_type
    keys = {int(v): b64d(k) for v, k in r.data["keys"].items()}
    assert sorted(keys) == [1, 2]
    assert all(len(k) == size for k in keys.values())
    assert keys[1] != keys[2]
    # single-version export and `latest`
    assert transit.ok("GET", f"export/encryption-key/{n}/1")["keys"] == {"1": b64e(keys[1])}
    assert transit.ok("GET", f"export/encryption-key/{n}/latest")["keys"] == {"2": b64e(keys[2])}

    for version in (1, 2):
        aead = cls(keys[version])
        plaintext = os.urandom(77)
        # server -> local
        ct = transit.encrypt(n, plaintext, key_version=version)
        v, raw = ct_raw(ct)
        assert v == version
        assert aead.decrypt(raw[:12], raw[12:], None) == plaintext
        # local -> server
        nonce = os.urandom(12)
        mine = f"vault:v{version}:" + b64e(nonce + aead.encrypt(nonce, plaintext, None))
        assert transit.decrypt(n, mine) == plaintext

    # associated data both ways
    aead = cls(keys[2])
    ad = b"aad-bytes"
    ct = transit.encrypt(n, b"with ad", associated_data=b64e(ad))
    _, raw = ct_raw(ct)
    assert aead.decrypt(raw[:12], raw[12:], ad) == b"with ad"
    nonce = os.urandom(12)
    mine = "vault:v2:" + b64e(nonce + aead.encrypt(nonce, b"mine ad", ad))
    assert transit.decrypt(n, mine, associated_data=b64e(ad)) == b"mine ad"


@pytest.mark.parametrize("key_type", ["aes256-gcm96", "chacha20-poly1305", "aes128-gcm96"])
@pytest.mark.parametrize("convergent", [False, True])
def test_derived_key_is_hkdf_sha256_of_context(transit, name, key_type, convergent):
    """Derived keys: HKDF-SHA256(key, salt=none, info=context) (kdf
    hkdf_sha256), checked by decrypting the server's ciphertext locally and
    the reverse."""
    cls, size = AEADS[key_type]
    n = name()
    transit.create(
        n, type=key_type, derived=True, convergent_encryption=convergent, exportable=True
    )
    base = b64d(transit.ok("GET", f"export/encryption-key/{n}/1")["keys"]["1"])
    context = b"tenant-42"
    derived = HKDF(algorithm=hashes.SHA256(), length=size, salt=None, info=context).derive(base)
    ct = transit.encrypt(n, b"derived plaintext", context=b64e(context))
    _, raw = ct_raw(ct)
    assert cls(derived).decrypt(raw[:12], raw[12:], None) == b"derived plaintext"
    nonce = os.urandom(12)
    mine = "vault:v1:" + b64e(nonce + cls(derived).encrypt(nonce, b"local", None))
    assert transit.decrypt(n, mine, context=b64e(context)) == b"local"


def test_datakey_is_encrypted_under_the_key(transit, name):
    n = name()
    transit.create(n, exportable=True)
    key = b64d(transit.ok("GET", f"export/encryption-key/{n}/1")["keys"]["1"])
    d = transit.ok("POST", f"datakey/plaintext/{n}", {"bits": 512})
    _, raw = ct_raw(d["ciphertext"])
    # the ciphertext holds the raw data key bytes
    assert AESGCM(key).decrypt(raw[:12], raw[12:], None) == b64d(d["plaintext"])


# ------------------------------------------------------------------ signatures


def test_ed25519_signatures(transit, shared_key):
    n = shared_key("ed25519")
    pub = public_key_of(transit, n)
    for data in [b"", b"message", os.urandom(1000)]:
        sig = transit.sign(n, data)
        v, raw = sig_bytes(sig)
        assert v == 1 and len(raw) == 64
        pub.verify(raw, data)
        assert transit.verify(n, data, sig) is True
        assert transit.verify(n, data + b"!", sig) is False
        assert transit.verify(n, data, "vault:v1:" + b64e(flip(raw))) is False
    # deterministic (RFC 8032)
    assert transit.sign(n, b"again") == transit.sign(n, b"again")


def test_ed25519_derived_signatures(transit, name):
    n = name()
    transit.create(n, type="ed25519", derived=True)
    ctx = b64e(b"ctx")
    # OpenBao: 500 here (bad_input)
    assert_error(transit.post(f"sign/{n}", {"input": b64e(b"m")}), bad_input(), "context")
    sig = transit.sign(n, b"m", context=ctx)
    assert transit.sign(n, b"m", context=ctx) == sig
    assert transit.verify(n, b"m", sig, context=ctx) is True
    assert transit.verify(n, b"m", sig, context=b64e(b"other")) is False


CURVES = {"ecdsa-p256": 32, "ecdsa-p384": 48, "ecdsa-p521": 66}


@pytest.mark.parametrize("key_type", list(CURVES))
@pytest.mark.parametrize("hash_algorithm", ["sha2-256", "sha2-384", "sha2-512", "sha3-256"])
def test_ecdsa_asn1_signatures(transit, shared_key, key_type, hash_algorithm):
    n = shared_key(key_type)
    pub = public_key_of(transit, n)
    data = os.urandom(100)
    sig = transit.sign(n, data, hash_algorithm=hash_algorithm)
    v, der = sig_bytes(sig)
    assert v == 1
    pub.verify(der, data, ec.ECDSA(HASHES[hash_algorithm]()))
    assert transit.verify(n, data, sig, hash_algorithm=hash_algorithm) is True
    assert transit.verify(n, flip(data, 0), sig, hash_algorithm=hash_algorithm) is False
    # last byte of a DER signature is inside s: still DER, no longer valid
    assert transit.verify(n, data, "vault:v1:" + b64e(flip(der)), hash_algorithm=hash_algorithm) is False


@pytest.mark.parametrize("key_type", list(CURVES))
def test_ecdsa_hash_algorithm_in_url(transit, shared_key, key_type):
    n = shared_key(key_type)
    pub = public_key_of(transit, n)
    data = b"url hash"
    sig = transit.ok("POST", f"sign/{n}/sha2-384", {"input": b64e(data)})["signature"]
    pub.verify(sig_bytes(sig)[1], data, ec.ECDSA(hashes.SHA384()))
    assert transit.ok("POST", f"verify/{n}/sha2-384", {"input": b64e(data), "signature": sig})["valid"] is True


@pytest.mark.parametrize("key_type", list(CURVES))
def test_ecdsa_jws_signatures(transit, shared_key, key_type):
    n = shared_key(key_type)
    size = CURVES[key_type]
    pub = public_key_of(transit, n)
    data = b"jws payload"
    sig = transit.sign(n, data, marshaling_algorithm="jws")
    v, raw = sig_bytes(sig, jws=True)
    assert v == 1
    assert len(raw) == 2 * size, f"r||s of {key_type} is {2 * size} bytes, got {len(raw)}"
    r, s = int.from_bytes(raw[:size], "big"), int.from_bytes(raw[size:], "big")
    pub.verify(utils.encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
    assert transit.verify(n, data, sig, marshaling_algorithm="jws") is True
    tampered = "vault:v1:" + base64.urlsafe_b64encode(flip(raw)).decode().rstrip("=")
    assert transit.verify(n, data, tampered, marshaling_algorithm="jws") is False


@pytest.mark.parametrize("key_type", list(CURVES))
def test_ecdsa_prehashed(transit, shared_key, key_type):
    n = shared_key(key_type)
    pub = public_key_of(transit, n)
    digest = hashlib.sha384(b"prehashed message").digest()
    sig = transit.sign(n, digest, prehashed=True, hash_algorithm="sha2-384")
    pub.verify(sig_bytes(sig)[1], digest, ec.ECDSA(utils.Prehashed(hashes.SHA384())))
    # same as signing the message itself
    pub.verify(sig_bytes(sig)[1], b"prehashed message", ec.ECDSA(hashes.SHA384()))
    assert transit.verify(n, digest, sig, prehashed=True, hash_algorithm="sha2-384") is True


RSA_TYPES = ["rsa-2048", "rsa-3072", "rsa-4096"]
RSA_HASHES = ["sha2-256", "sha2-384", "sha2-512", "sha3-256"]


def _pss_max_salt(pub: rsa.RSAPublicKey, hash_cls) -> int:
    return (pub.key_size + 7) // 8 - hash_cls.digest_size - 2


@pytest.mark.parametrize("key_type", RSA_TYPES)
@pytest.mark.parametrize("hash_algorithm", RSA_HASHES)
def test_rsa_pss_signatures(transit, shared_key, key_type, hash_algorithm):
    n = shared_key(key_type)
    pub = public_key_of(transit, n)
    hash_cls = HASHES[hash_algorithm]
    data = os.urandom(64)
    mgf = padding.MGF1(hash_cls())
    # default: pss, salt_length auto (= as long as possible when signing)
    sig = transit.sign(n, data, hash_algorithm=hash_algorithm)
    v, raw = sig_bytes(sig)
    assert v == 1 and len(raw) == pub.key_size // 8
    pub.verify(raw, data, padding.PSS(mgf, padding.PSS.AUTO), hash_cls())
    pub.verify(raw, data, padding.PSS(mgf, _pss_max_salt(pub, hash_cls())), hash_cls())
    assert transit.verify(n, data, sig, hash_algorithm=hash_algorithm) is True
    assert transit.verify(n, data + b"x", sig, hash_algorithm=hash_algorithm) is False
    assert transit.verify(n, data, "vault:v1:" + b64e(flip(raw, 10)), hash_algorithm=hash_algorithm) is False


@pytest.mark.parametrize("key_type", RSA_TYPES)
def test_rsa_pss_salt_lengths(transit, shared_key, key_type):
    n = shared_key(key_type)
    pub = public_key_of(transit, n)
    data = b"salted"
    mgf = padding.MGF1(hashes.SHA256())
    # "hash": salt as long as the digest
    sig = transit.sign(n, data, signature_algorithm="pss", salt_length="hash")
    pub.verify(sig_bytes(sig)[1], data, padding.PSS(mgf, 32), hashes.SHA256())
    assert transit.verify(n, data, sig, signature_algorithm="pss", salt_length="hash") is True
    # explicit
    sig = transit.sign(n, data, signature_algorithm="pss", salt_length=20)
    pub.verify(sig_bytes(sig)[1], data, padding.PSS(mgf, 20), hashes.SHA256())
    with pytest.raises(InvalidSignature):
        pub.verify(sig_bytes(sig)[1], data, padding.PSS(mgf, 32), hashes.SHA256())
    assert transit.verify(n, data, sig, salt_length=20) is True
    # explicit "auto"
    sig = transit.sign(n, data, salt_length="auto")
    pub.verify(sig_bytes(sig)[1], data, padding.PSS(mgf, _pss_max_salt(pub, hashes.SHA256())), hashes.SHA256())
    # a salt longer than the key allows is refused
    assert_error(transit.post(f"sign/{n}", {"input": b64e(data), "salt_length": 100000}), bad_input(), "salt")
    assert_error(transit.post(f"sign/{n}", {"input": b64e(data), "salt_length": "big"}), 400, "salt")


@pytest.mark.parametrize("key_type", RSA_TYPES)
@pytest.mark.parametrize("hash_algorithm", RSA_HASHES)
def test_rsa_pkcs1v15_signatures(transit, shared_key, key_type, hash_algorithm):
    n = shared_key(key_type)
    pub = public_key_of(transit, n)
    hash_cls = HASHES[hash_algorithm]
    data = os.urandom(50)
    sig = transit.sign(n, data, hash_algorithm=hash_algorithm, signature_algorithm="pkcs1v15")
    raw = sig_bytes(sig)[1]
    pub.verify(raw, data, padding.PKCS1v15(), hash_cls())
    # deterministic
    assert transit.sign(n, data, hash_algorithm=hash_algorithm, signature_algorithm="pkcs1v15") == sig
    assert transit.verify(n, data, sig, hash_algorithm=hash_algorithm, signature_algorithm="pkcs1v15") is True
    assert transit.verify(n, data, "vault:v1:" + b64e(flip(raw)), hash_algorithm=hash_algorithm, signature_algorithm="pkcs1v15") is False


@pytest.mark.parametrize("signature_algorithm", ["pss", "pkcs1v15"])
def test_rsa_prehashed(transit, shared_key, signature_algorithm):
    n = shared_key("rsa-2048")
    pub = public_key_of(transit, n)
    digest = hashlib.sha512(b"big document").digest()
    sig = transit.sign(
        n, digest, prehashed=True, hash_algorithm="sha2-512", signature_algorithm=signature_algorithm
    )
    raw = sig_bytes(sig)[1]
    pad = (
        padding.PKCS1v15()
        if signature_algorithm == "pkcs1v15"
        else padding.PSS(padding.MGF1(hashes.SHA512()), padding.PSS.AUTO)
    )
    pub.verify(raw, digest, pad, utils.Prehashed(hashes.SHA512()))
    pub.verify(raw, b"big document", pad, hashes.SHA512())
    assert transit.verify(
        n, digest, sig, prehashed=True, hash_algorithm="sha2-512", signature_algorithm=signature_algorithm
    ) is True


def test_rsa_pkcs1v15_hash_none(transit, shared_key):
    """hash_algorithm=none + prehashed: raw EMSA-PKCS1-v1_5 over the input,
    no DigestInfo (checked with a raw RSA public operation)."""
    n = shared_key("rsa-2048")
    pub = public_key_of(transit, n)
    data = b"0123456789abcdef0123456789abcdef"
    sig = transit.sign(n, data, prehashed=True, hash_algorithm="none", signature_algorithm="pkcs1v15")
    raw = sig_bytes(sig)[1]
    nums = pub.public_numbers()
    k = pub.key_size // 8
    em = pow(int.from_bytes(raw, "big"), nums.e, nums.n).to_bytes(k, "big")
    assert em == b"\x00\x01" + b"\xff" * (k - 3 - len(data)) + b"\x00" + data
    assert transit.verify(n, data, sig, prehashed=True, hash_algorithm="none", signature_algorithm="pkcs1v15") is True


def test_sign_old_version_and_min_decryption(transit, name):
    n = name()
    transit.create(n, type="ecdsa-p256")
    sig1 = transit.sign(n, b"m")
    transit.post(f"keys/{n}/rotate")
    sig2 = transit.sign(n, b"m")
    assert sig2.startswith("vault:v2:")
    pub1, pub2 = public_key_of(transit, n, "1"), public_key_of(transit, n, "2")
    pub1.verify(sig_bytes(sig1)[1], b"m", ec.ECDSA(hashes.SHA256()))
    pub2.verify(sig_bytes(sig2)[1], b"m", ec.ECDSA(hashes.SHA256()))
    sig1b = transit.sign(n, b"m", key_version=1)
    assert sig1b.startswith("vault:v1:")
    pub1.verify(sig_bytes(sig1b)[1], b"m", ec.ECDSA(hashes.SHA256()))
    assert transit.verify(n, b"m", sig1) is True
    transit.post(f"keys/{n}/config", {"min_decryption_version": 2})
    # A signature by a version below min_decryption_version is refused.
    r = transit.post(f"verify/{n}", {"input": b64e(b"m"), "signature": sig1})
    assert r.status == 400 or (r.status == 200 and r.data["valid"] is False), r
    assert transit.verify(n, b"m", sig2) is True


def test_batch_sign_and_verify(transit, shared_key):
    n = shared_key("ecdsa-p256")
    pub = public_key_of(transit, n)
    msgs = [b"a", b"b", b"c"]
    r = transit.post(
        f"sign/{n}", {"batch_input": [{"input": b64e(m), "reference": m.decode()} for m in msgs]}
    )
    assert r.status == 200, r
    res = r.data["batch_results"]
    assert [x["reference"] for x in res] == ["a", "b", "c"]
    for m, x in zip(msgs, res):
        pub.verify(sig_bytes(x["signature"])[1], m, ec.ECDSA(hashes.SHA256()))
    r = transit.post(
        f"verify/{n}",
        {
            "batch_input": [
                {"input": b64e(b"a"), "signature": res[0]["signature"], "reference": "1"},
                {"input": b64e(b"x"), "signature": res[1]["signature"], "reference": "2"},
            ]
        },
    )
    assert r.status == 200, r
    out = r.data["batch_results"]
    assert [x["valid"] for x in out] == [True, False]
    assert [x["reference"] for x in out] == ["1", "2"]


def test_batch_sign_item_errors(transit, shared_key):
    # OpenBao: a failing item in a sign (or hmac) batch is reported in its
    # result, and the request still answers 200 (unlike encrypt/decrypt,
    # which answer 400 on partial failure).
    n = shared_key("ecdsa-p256")
    pub = public_key_of(transit, n)
    r = transit.post(
        f"sign/{n}",
        {"batch_input": [{"input": b64e(b"ok"), "reference": "good"}, {"input": "%%%", "reference": "bad"}]},
    )
    assert r.status == 200, r
    good, bad = r.data["batch_results"]
    assert (good["reference"], bad["reference"]) == ("good", "bad")
    pub.verify(sig_bytes(good["signature"])[1], b"ok", ec.ECDSA(hashes.SHA256()))
    assert bad["error"] and not bad.get("signature")


def test_batch_verify_needs_signature_per_item(transit, shared_key):
    n = shared_key("ecdsa-p256")
    sig = transit.sign(n, b"a")
    r = transit.post(
        f"verify/{n}",
        {"batch_input": [{"input": b64e(b"a"), "signature": sig}, {"input": b64e(b"a")}]},
    )
    assert_error(r, 400, "signature")


# ------------------------------------------------------------------ HMAC


@pytest.mark.parametrize("algorithm", list(HASHLIB))
def test_hmac_matches_exported_key(transit, name, algorithm):
    n = name()
    transit.create(n, exportable=True)
    hkey = b64d(transit.ok("GET", f"export/hmac-key/{n}/1")["keys"]["1"])
    data = os.urandom(123)
    expected = hmac.new(hkey, data, HASHLIB[algorithm]).digest()
    out = transit.ok("POST", f"hmac/{n}", {"input": b64e(data), "algorithm": algorithm})
    v, mac = split_versioned(out["hmac"])
    assert v == 1 and b64d(mac) == expected
    # the algorithm in the URL
    out = transit.ok("POST", f"hmac/{n}/{algorithm}", {"input": b64e(data)})
    assert b64d(split_versioned(out["hmac"])[1]) == expected
    # verify accepts it and rejects a tampered one
    good = transit.ok("POST", f"verify/{n}/{algorithm}", {"input": b64e(data), "hmac": out["hmac"]})
    assert good["valid"] is True
    bad = "vault:v1:" + b64e(flip(expected))
    r = transit.ok("POST", f"verify/{n}", {"input": b64e(data), "hmac": bad, "algorithm": algorithm})
    assert r["valid"] is False


def test_hmac_default_algorithm_versions_and_batch(transit, name):
    n = name()
    transit.create(n, type="hmac", key_size=64, exportable=True)
    transit.post(f"keys/{n}/rotate")
    keys = {int(v): b64d(k) for v, k in transit.ok("GET", f"export/hmac-key/{n}")["keys"].items()}
    assert sorted(keys) == [1, 2] and all(len(k) == 64 for k in keys.values())
    data = b"versioned"
    out = transit.ok("POST", f"hmac/{n}", {"input": b64e(data)})
    assert out["hmac"] == "vault:v2:" + b64e(hmac.new(keys[2], data, "sha256").digest())
    out = transit.ok("POST", f"hmac/{n}", {"input": b64e(data), "key_version": 1})
    assert out["hmac"] == "vault:v1:" + b64e(hmac.new(keys[1], data, "sha256").digest())
    r = transit.post(
        f"hmac/{n}",
        {"batch_input": [{"input": b64e(b"x"), "reference": "rx"}, {"input": b64e(b"y"), "reference": "ry"}]},
    )
    assert r.status == 200, r
    res = r.data["batch_results"]
    assert [x["reference"] for x in res] == ["rx", "ry"]
    assert res[0]["hmac"] == "vault:v2:" + b64e(hmac.new(keys[2], b"x", "sha256").digest())
    assert res[1]["hmac"] == "vault:v2:" + b64e(hmac.new(keys[2], b"y", "sha256").digest())


def test_batch_hmac_item_errors(transit, name):
    n = name()
    transit.create(n, exportable=True)
    hkey = b64d(transit.ok("GET", f"export/hmac-key/{n}/1")["keys"]["1"])
    r = transit.post(
        f"hmac/{n}",
        {"batch_input": [{"input": "%%%", "reference": "bad"}, {"input": b64e(b"ok"), "reference": "good"}]},
    )
    assert r.status == 200, r
    bad, good = r.data["batch_results"]
    assert (bad["reference"], good["reference"]) == ("bad", "good")
    assert bad["error"] and not bad.get("hmac")
    assert good["hmac"] == "vault:v1:" + b64e(hmac.new(hkey, b"ok", "sha256").digest())


def test_hmac_of_asymmetric_key(transit, shared_key):
    # every key type has an HMAC key of its own
    n = shared_key("ed25519")
    hkey = b64d(transit.ok("GET", f"export/hmac-key/{n}/1")["keys"]["1"])
    out = transit.ok("POST", f"hmac/{n}/sha2-512", {"input": b64e(b"abc")})
    assert out["hmac"] == "vault:v1:" + b64e(hmac.new(hkey, b"abc", "sha512").digest())


# ------------------------------------------------------------------ hash


@pytest.mark.parametrize("algorithm", list(HASHLIB))
@pytest.mark.parametrize("fmt", ["hex", "base64"])
def test_hash(transit, algorithm, fmt):
    data = os.urandom(300)
    digest = hashlib.new(HASHLIB[algorithm], data).digest()
    want = digest.hex() if fmt == "hex" else b64e(digest)
    in_url = transit.ok("POST", f"hash/{algorithm}", {"input": b64e(data), "format": fmt})
    assert in_url["sum"] == want
    in_body = transit.ok("POST", "hash", {"input": b64e(data), "format": fmt, "algorithm": algorithm})
    assert in_body["sum"] == want


def test_hash_defaults(transit):
    out = transit.ok("POST", "hash", {"input": b64e(b"hello")})
    assert out["sum"] == hashlib.sha256(b"hello").hexdigest()
    out = transit.ok("POST", "hash", {"input": ""})
    assert out["sum"] == hashlib.sha256(b"").hexdigest()


def test_hash_bad_input(transit):
    assert_error(transit.post("hash/md5", {"input": b64e(b"x")}), 400, "algorithm|md5")
    assert_error(transit.post("hash", {"input": b64e(b"x"), "format": "bin"}), 400, "format|bin")
    assert_error(transit.post("hash", {"input": "%%%"}), 400, "base64")


# ------------------------------------------------------------------ random


def test_random(transit):
    d = transit.ok("POST", "random", {})
    assert len(b64d(d["random_bytes"])) == 32
    d = transit.ok("POST", "random/64", {})
    assert len(b64d(d["random_bytes"])) == 64
    d = transit.ok("POST", "random", {"bytes": 17, "format": "hex"})
    assert re.fullmatch(r"[0-9a-f]{34}", d["random_bytes"])
    d = transit.ok("POST", "random/5", {"format": "base64"})
    assert len(b64d(d["random_bytes"])) == 5
    a = transit.ok("POST", "random/32", {})["random_bytes"]
    b = transit.ok("POST", "random/32", {})["random_bytes"]
    assert a != b
    # not a constant pattern: 1 KiB of output has many distinct byte values
    big = b64d(transit.ok("POST", "random/1024", {})["random_bytes"])
    assert len(set(big)) > 150


def test_random_bad_input(transit):
    assert_error(transit.post("random", {"bytes": 1 << 20}), 400, "bytes")
    assert_error(transit.post("random/1048576", {}), 400, "bytes")
    assert_error(transit.post("random", {"bytes": 0}), 400, "bytes")
    assert_error(transit.post("random", {"bytes": -5}), 400, "bytes")
    assert_error(transit.post("random/8", {"format": "base32"}), 400, "format|base32")


# ------------------------------------------------------------------ RSA encryption


@pytest.mark.parametrize("key_type", ["rsa-2048", "rsa-3072"])
def test_rsa_oaep_local_encrypt_server_decrypt(transit, shared_key, key_type):
    n = shared_key(key_type)
    pub = public_key_of(transit, n)
    secret = os.urandom(48)
    ct = pub.encrypt(
        secret, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    )
    assert transit.decrypt(n, "vault:v1:" + b64e(ct)) == secret


def test_rsa_server_encrypt_local_decrypt(transit, shared_key):
    n = shared_key("rsa-2048")
    exported = transit.ok("GET", f"export/encryption-key/{n}/1")["keys"]["1"]
    priv = serialization.load_pem_private_key(exported.encode(), password=None)
    assert isinstance(priv, rsa.RSAPrivateKey)
    assert public_key_of(transit, n).public_numbers() == priv.public_key().public_numbers()
    ct = transit.encrypt(n, b"for local eyes")
    raw = ct_raw(ct)[1]
    pt = priv.decrypt(
        raw, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    )
    assert pt == b"for local eyes"


# ------------------------------------------------------------------ exports of asymmetric keys


@pytest.mark.parametrize("key_type", ["ed25519", "ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "rsa-2048"])
def test_export_signing_key_matches_public_key(transit, shared_key, key_type):
    n = shared_key(key_type)
    exported = transit.ok("GET", f"export/signing-key/{n}/1")["keys"]["1"]
    pub = public_key_of(transit, n)
    if key_type == "ed25519":
        # OpenBao exports ed25519 as base64 of seed || public key (64 bytes).
        raw = b64d(exported)
        assert len(raw) == 64
        priv = ed25519.Ed25519PrivateKey.from_private_bytes(raw[:32])
        assert priv.public_key().public_bytes_raw() == pub.public_bytes_raw() == raw[32:]
        sig = transit.sign(n, b"z")
        priv.public_key().verify(sig_bytes(sig)[1], b"z")
        return
    priv = serialization.load_pem_private_key(exported.encode(), password=None)
    assert priv.public_key().public_numbers() == pub.public_numbers()
    # public-key export gives the same public key
    pem = transit.ok("GET", f"export/public-key/{n}/1")["keys"]["1"]
    assert serialization.load_pem_public_key(pem.encode()).public_numbers() == pub.public_numbers()
