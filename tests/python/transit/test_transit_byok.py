"""BYOK: wrapping key, import (symmetric, private keys, public keys),
import_version, byok-export across mounts; CSR and set-certificate."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.x509.oid import NameOID

# Where OpenBao 2.7 answers 500 to a refused request, tests accept it there
# (bad_input()) and Coffer must answer 400.
from transit_helpers import (
    assert_error,
    b64d,
    b64e,
    bad_input,
    byok_wrap,
    ct_raw,
    pkcs8_der,
    public_pem,
    split_versioned,
)


@pytest.fixture(scope="module")
def wrapping_pem(transit) -> str:
    r = transit.get("wrapping_key")
    assert r.status == 200, r
    return r.data["public_key"]


def local_aead_encrypt(cls, key: bytes, plaintext: bytes, version: int = 1) -> str:
    nonce = os.urandom(12)
    return f"vault:v{version}:" + b64e(nonce + cls(key).encrypt(nonce, plaintext, None))


def sig_raw(signature: str) -> bytes:
    return b64d(split_versioned(signature)[1])


def test_wrapping_key(transit, transit2, wrapping_pem):
    key = serialization.load_pem_public_key(wrapping_pem.encode())
    assert isinstance(key, rsa.RSAPublicKey)
    assert key.key_size == 4096
    # stable across reads
    assert transit.ok("GET", "wrapping_key")["public_key"] == wrapping_pem
    # each mount has its own
    other = transit2.ok("GET", "wrapping_key")["public_key"]
    assert transit2.ok("GET", "wrapping_key")["public_key"] == other
    assert other != wrapping_pem


@pytest.mark.parametrize(
    "key_type,size,cls",
    [
        ("aes256-gcm96", 32, AESGCM),
        ("aes128-gcm96", 16, AESGCM),
        ("chacha20-poly1305", 32, ChaCha20Poly1305),
    ],
)
def test_import_symmetric_key(transit, name, wrapping_pem, key_type, size, cls):
    material = os.urandom(size)
    n = name("imp")
    r = transit.post(
        f"keys/{n}/import", {"ciphertext": byok_wrap(wrapping_pem, material), "type": key_type}
    )
    assert r.status in (200, 204), r
    d = transit.read(n)
    assert d["imported_key"] is True
    assert d["type"] == key_type
    assert d["latest_version"] == 1
    # encrypt locally with that key, decrypt on the server
    assert transit.decrypt(n, local_aead_encrypt(cls, material, b"from me")) == b"from me"
    # and the reverse
    _, raw = ct_raw(transit.encrypt(n, b"from server"))
    assert cls(material).decrypt(raw[:12], raw[12:], None) == b"from server"


@pytest.mark.parametrize("hash_function", ["SHA1", "SHA384", "SHA512"])
def test_import_with_other_oaep_hash(transit, name, wrapping_pem, hash_function):
    material = os.urandom(32)
    n = name("imp")
    ct = byok_wrap(wrapping_pem, material, hash_function)
    r = transit.post(
        f"keys/{n}/import",
        {"ciphertext": ct, "type": "aes256-gcm96", "hash_function": hash_function},
    )
    assert r.status in (200, 204), r
    assert transit.decrypt(n, local_aead_encrypt(AESGCM, material, b"ok")) == b"ok"


def test_import_hash_function_mismatch_refused(transit, name, wrapping_pem):
    n = name("imp")
    ct = byok_wrap(wrapping_pem, os.urandom(32), "SHA512")
    r = transit.post(f"keys/{n}/import", {"ciphertext": ct, "type": "aes256-gcm96"})
    assert_error(r, bad_input())
    assert transit.get(f"keys/{n}").status == 404


def test_import_hmac_key(transit, name, wrapping_pem):
    material = os.urandom(48)
    n = name("imp")
    r = transit.post(
        f"keys/{n}/import", {"ciphertext": byok_wrap(wrapping_pem, material), "type": "hmac"}
    )
    assert r.status in (200, 204), r
    out = transit.ok("POST", f"hmac/{n}/sha2-384", {"input": b64e(b"data")})
    assert out["hmac"] == "vault:v1:" + b64e(hmac.new(material, b"data", hashlib.sha384).digest())


@pytest.mark.parametrize("size", [32, 45, 64])
def test_imported_hmac_key_size_is_exact(transit, name, wrapping_pem, size):
    """A key read shows an imported HMAC key's own length, also one that is
    not a multiple of 8 (AES-KWP pads those)."""
    n = name("imp")
    r = transit.post(
        f"keys/{n}/import", {"ciphertext": byok_wrap(wrapping_pem, os.urandom(size)), "type": "hmac"}
    )
    assert r.status in (200, 204), r
    assert transit.read(n)["key_size"] == size


def test_imported_hmac_key_shorter_than_32_bytes_refused(transit, name, wrapping_pem):
    n = name("imp")
    # 25 bytes: AES-KWP pads it to 32, which the wrapped length alone would pass.
    r = transit.post(
        f"keys/{n}/import", {"ciphertext": byok_wrap(wrapping_pem, os.urandom(25)), "type": "hmac"}
    )
    assert_error(r, bad_input(), "key size")
    assert transit.get(f"keys/{n}").status == 404


def test_import_refuses_existing_and_bad_material(transit, name, wrapping_pem):
    n = name()
    transit.create(n)
    before = transit.read(n)
    ct = byok_wrap(wrapping_pem, os.urandom(32))
    assert_error(transit.post(f"keys/{n}/import", {"ciphertext": ct, "type": "aes256-gcm96"}), bad_input(), "exist")
    assert transit.read(n) == before
    m = name()
    # wrong key size for the type
    ct = byok_wrap(wrapping_pem, os.urandom(20))
    assert_error(transit.post(f"keys/{m}/import", {"ciphertext": ct, "type": "aes256-gcm96"}), bad_input())
    # garbage
    assert_error(transit.post(f"keys/{m}/import", {"ciphertext": b64e(os.urandom(600)), "type": "aes256-gcm96"}), bad_input())
    assert_error(transit.post(f"keys/{m}/import", {"ciphertext": "%%%", "type": "aes256-gcm96"}), bad_input())
    assert transit.get(f"keys/{m}").status == 404


def _import_private(transit, name, wrapping_pem, private_key, key_type, **extra):
    n = name("imp")
    r = transit.post(
        f"keys/{n}/import",
        {"ciphertext": byok_wrap(wrapping_pem, pkcs8_der(private_key)), "type": key_type, **extra},
    )
    assert r.status in (200, 204), r
    return n


@pytest.mark.parametrize(
    "key_type,curve,hash_cls",
    [
        ("ecdsa-p256", ec.SECP256R1, hashes.SHA256),
        ("ecdsa-p384", ec.SECP384R1, hashes.SHA256),
        ("ecdsa-p521", ec.SECP521R1, hashes.SHA256),
    ],
)
def test_import_ecdsa_private_key(transit, name, wrapping_pem, key_type, curve, hash_cls):
    priv = ec.generate_private_key(curve())
    n = _import_private(transit, name, wrapping_pem, priv, key_type)
    d = transit.read(n)
    assert d["imported_key"] is True
    served = serialization.load_pem_public_key(d["keys"]["1"]["public_key"].encode())
    assert served.public_numbers() == priv.public_key().public_numbers()
    sig = transit.sign(n, b"imported ecdsa")
    priv.public_key().verify(sig_raw(sig), b"imported ecdsa", ec.ECDSA(hash_cls()))
    # and the server verifies signatures I make
    mine = priv.sign(b"mine", ec.ECDSA(hashes.SHA256()))
    assert transit.verify(n, b"mine", "vault:v1:" + b64e(mine)) is True
    assert transit.verify(n, b"mind", "vault:v1:" + b64e(mine)) is False


def test_import_ed25519_private_key(transit, name, wrapping_pem):
    priv = ed25519.Ed25519PrivateKey.generate()
    n = _import_private(transit, name, wrapping_pem, priv, "ed25519")
    sig = transit.sign(n, b"imported ed25519")
    priv.public_key().verify(sig_raw(sig), b"imported ed25519")
    assert sig_raw(sig) == priv.sign(b"imported ed25519")
    assert transit.verify(n, b"x", "vault:v1:" + b64e(priv.sign(b"x"))) is True


def test_import_rsa_private_key(transit, name, wrapping_pem):
    priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    n = _import_private(transit, name, wrapping_pem, priv, "rsa-2048")
    pub = priv.public_key()
    sig = transit.sign(n, b"imported rsa")
    pub.verify(sig_raw(sig), b"imported rsa", padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO), hashes.SHA256())
    sig = transit.sign(n, b"imported rsa", signature_algorithm="pkcs1v15", hash_algorithm="sha2-512")
    assert sig_raw(sig) == priv.sign(b"imported rsa", padding.PKCS1v15(), hashes.SHA512())
    # encryption to the imported key
    ct = pub.encrypt(b"oaep", padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
    assert transit.decrypt(n, "vault:v1:" + b64e(ct)) == b"oaep"


def test_import_type_mismatch_refused(transit, name, wrapping_pem):
    priv = ec.generate_private_key(ec.SECP256R1())
    n = name("imp")
    r = transit.post(
        f"keys/{n}/import",
        {"ciphertext": byok_wrap(wrapping_pem, pkcs8_der(priv)), "type": "ecdsa-p384"},
    )
    assert_error(r, bad_input())
    assert transit.get(f"keys/{n}").status == 404


def test_import_version(transit, name, wrapping_pem):
    k1, k2, k3 = (os.urandom(32) for _ in range(3))
    n = name("imp")
    r = transit.post(f"keys/{n}/import", {"ciphertext": byok_wrap(wrapping_pem, k1), "type": "aes256-gcm96"})
    assert r.status in (200, 204), r
    r = transit.post(f"keys/{n}/import_version", {"ciphertext": byok_wrap(wrapping_pem, k2)})
    assert r.status in (200, 204), r
    d = transit.read(n)
    assert d["latest_version"] == 2
    assert split_versioned(transit.encrypt(n, b"x"))[0] == 2
    assert transit.decrypt(n, local_aead_encrypt(AESGCM, k1, b"v1", 1)) == b"v1"
    assert transit.decrypt(n, local_aead_encrypt(AESGCM, k2, b"v2", 2)) == b"v2"
    # v2's key is not v1's
    assert_error(transit.post(f"decrypt/{n}", {"ciphertext": local_aead_encrypt(AESGCM, k1, b"x", 2)}), 400, no_plaintext=True)
    # rotation is refused without allow_rotation
    before = transit.read(n)
    assert_error(transit.post(f"keys/{n}/rotate"), bad_input(), "rotat|import")
    assert transit.read(n) == before
    # a key generated by the server takes no import_version
    g = name()
    transit.create(g)
    assert_error(transit.post(f"keys/{g}/import_version", {"ciphertext": byok_wrap(wrapping_pem, k3)}), bad_input(), "import")
    assert transit.read(g)["latest_version"] == 1


def test_import_allow_rotation(transit, name, wrapping_pem):
    n = name("imp")
    r = transit.post(
        f"keys/{n}/import",
        {"ciphertext": byok_wrap(wrapping_pem, os.urandom(32)), "type": "aes256-gcm96", "allow_rotation": True},
    )
    assert r.status in (200, 204), r
    assert transit.post(f"keys/{n}/rotate").status in (200, 204)
    assert transit.read(n)["latest_version"] == 2
    # once rotated inside, no more imports
    r = transit.post(f"keys/{n}/import_version", {"ciphertext": byok_wrap(wrapping_pem, os.urandom(32))})
    assert_error(r, bad_input(), "import|rotat")


def test_import_public_key_only(transit, name, wrapping_pem):
    priv = ec.generate_private_key(ec.SECP256R1())
    n = name("pub")
    r = transit.post(f"keys/{n}/import", {"public_key": public_pem(priv.public_key()), "type": "ecdsa-p256"})
    assert r.status in (200, 204), r
    d = transit.read(n)
    assert d["imported_key"] is True
    mine = priv.sign(b"pub only", ec.ECDSA(hashes.SHA256()))
    assert transit.verify(n, b"pub only", "vault:v1:" + b64e(mine)) is True
    assert transit.verify(n, b"pub onlx", "vault:v1:" + b64e(mine)) is False
    before = transit.read(n)
    assert_error(transit.post(f"sign/{n}", {"input": b64e(b"x")}), bad_input(), "private|sign|public")
    assert transit.read(n) == before
    # the matching private key can be imported later into the same version
    r = transit.post(
        f"keys/{n}/import_version",
        {"ciphertext": byok_wrap(wrapping_pem, pkcs8_der(priv)), "version": 1},
    )
    assert r.status in (200, 204), r
    assert transit.read(n)["latest_version"] == 1
    sig = transit.sign(n, b"now I can")
    priv.public_key().verify(sig_raw(sig), b"now I can", ec.ECDSA(hashes.SHA256()))


def test_import_rsa_public_key_encrypts_and_verifies(transit, name):
    priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    n = name("pub")
    r = transit.post(f"keys/{n}/import", {"public_key": public_pem(priv.public_key()), "type": "rsa-2048"})
    assert r.status in (200, 204), r
    mine = priv.sign(b"m", padding.PKCS1v15(), hashes.SHA256())
    assert transit.verify(n, b"m", "vault:v1:" + b64e(mine), signature_algorithm="pkcs1v15") is True
    # encryption needs only the public key: decrypt locally
    ct = ct_raw(transit.encrypt(n, b"to the holder"))[1]
    pt = priv.decrypt(ct, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
    assert pt == b"to the holder"
    assert_error(transit.post(f"sign/{n}", {"input": b64e(b"x")}), bad_input(), "private|sign|public")
    assert_error(
        transit.post(f"decrypt/{n}", {"ciphertext": "vault:v1:" + b64e(ct)}),
        bad_input(),
        "private",
        no_plaintext=True,
    )


def test_byok_export_across_mounts(transit, transit2, name):
    # mount 1 learns mount 2's wrapping key as an RSA public key ...
    dest = name("dest")
    wk2 = transit2.ok("GET", "wrapping_key")["public_key"]
    r = transit.post(f"keys/{dest}/import", {"public_key": wk2, "type": "rsa-4096"})
    assert r.status in (200, 204), r
    # ... and wraps a source key for it
    src = name("src")
    transit.create(src, exportable=True)
    transit.post(f"keys/{src}/rotate")
    r = transit.get(f"byok-export/{dest}/{src}")
    assert r.status == 200, r
    wrapped = r.data["keys"]
    assert sorted(wrapped) == ["1", "2"]
    latest = transit.ok("GET", f"byok-export/{dest}/{src}/latest")["keys"]
    assert list(latest) == ["2"]
    one = transit.ok("GET", f"byok-export/{dest}/{src}/1")["keys"]
    assert list(one) == ["1"]
    # mount 2 imports it: ciphertexts from mount 1 decrypt there
    copy = name("copy")
    r = transit2.post(f"keys/{copy}/import", {"ciphertext": wrapped["2"], "type": "aes256-gcm96"})
    assert r.status in (200, 204), r
    ct = transit.encrypt(src, b"cross-mount", key_version=2)
    _, raw = ct_raw(ct)
    assert transit2.decrypt(copy, "vault:v1:" + b64e(raw)) == b"cross-mount"
    # and the other way
    _, raw = ct_raw(transit2.encrypt(copy, b"back"))
    assert transit.decrypt(src, "vault:v2:" + b64e(raw)) == b"back"


def test_byok_export_asymmetric(transit, transit2, name):
    dest = name("dest")
    transit.post(f"keys/{dest}/import", {"public_key": transit2.ok("GET", "wrapping_key")["public_key"], "type": "rsa-4096"})
    src = name("src")
    transit.create(src, type="ecdsa-p256", exportable=True)
    wrapped = transit.ok("GET", f"byok-export/{dest}/{src}/1")["keys"]["1"]
    copy = name("copy")
    r = transit2.post(f"keys/{copy}/import", {"ciphertext": wrapped, "type": "ecdsa-p256"})
    assert r.status in (200, 204), r
    pub = serialization.load_pem_public_key(transit.read(src)["keys"]["1"]["public_key"].encode())
    sig = transit2.sign(copy, b"same key")
    pub.verify(sig_raw(sig), b"same key", ec.ECDSA(hashes.SHA256()))


def test_byok_export_refusals(transit, name):
    dest = name("dest")
    transit.create(dest, type="ecdsa-p256")
    src = name("src")
    transit.create(src, exportable=True)
    # destination must be an RSA key
    assert_error(transit.get(f"byok-export/{dest}/{src}"), bad_input(), "rsa|type|destination|wrap")
    rsa_dest = name("dest")
    priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    transit.post(f"keys/{rsa_dest}/import", {"public_key": public_pem(priv.public_key()), "type": "rsa-2048"})
    # source must be exportable
    ne = name("src")
    transit.create(ne)
    assert_error(transit.get(f"byok-export/{rsa_dest}/{ne}"), bad_input(), "export")


# ------------------------------------------------------------------ CSR / certificates


def _csr(transit, n, **body):
    r = transit.post(f"keys/{n}/csr", body)
    assert r.status == 200, r
    csr = x509.load_pem_x509_csr(r.data["csr"].encode())
    assert csr.is_signature_valid
    return csr


@pytest.mark.parametrize("key_type", ["ecdsa-p256", "ed25519", "rsa-2048"])
def test_csr(transit, name, shared_key, key_type):
    n = shared_key(key_type)
    csr = _csr(transit, n)
    entry = transit.read(n)["keys"]["1"]["public_key"]
    mine = csr.public_key()
    if key_type == "ed25519":
        assert mine.public_bytes_raw() == b64d(entry)
    else:
        assert mine.public_numbers() == serialization.load_pem_public_key(entry.encode()).public_numbers()


def test_csr_template(transit, name):
    n = name("csr")
    transit.create(n, type="ecdsa-p384")
    other = ec.generate_private_key(ec.SECP256R1())
    template = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "transit.example")]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("transit.example")]), critical=False)
        .sign(other, hashes.SHA256())
    )
    csr = _csr(transit, n, csr=template.public_bytes(serialization.Encoding.PEM).decode())
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "transit.example"
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["transit.example"]
    # the key material is the transit key's, not the template's
    pub = serialization.load_pem_public_key(transit.read(n)["keys"]["1"]["public_key"].encode())
    assert csr.public_key().public_numbers() == pub.public_numbers()
    assert csr.public_key().public_numbers() != other.public_key().public_numbers()


def test_csr_refused_for_symmetric(transit, name):
    n = name()
    transit.create(n)
    assert_error(transit.post(f"keys/{n}/csr", {}), bad_input())


def _issue(csr, ca_key, ca_name, days=30):
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(ca_name)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .sign(ca_key, hashes.SHA256())
    )


def test_set_certificate(transit, name):
    n = name("cert")
    transit.create(n, type="ecdsa-p256")
    csr = _csr(transit, n, csr=(
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leaf")]))
        .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    ))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test ca")])
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=60))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = _issue(csr, ca_key, ca_name)
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM).decode()  # noqa: E731
    chain = pem(leaf) + pem(ca_cert)
    r = transit.post(f"keys/{n}/set-certificate", {"certificate_chain": chain})
    assert r.status in (200, 204), r
    stored = transit.read(n)["keys"]["1"].get("certificate_chain", "")
    certs = x509.load_pem_x509_certificates(stored.encode())
    assert [c.fingerprint(hashes.SHA256()) for c in certs] == [
        leaf.fingerprint(hashes.SHA256()),
        ca_cert.fingerprint(hashes.SHA256()),
    ]
    exported = transit.get(f"export/certificate-chain/{n}/1")
    assert exported.status == 200, exported
    got = x509.load_pem_x509_certificates(exported.data["keys"]["1"].encode())
    assert [c.fingerprint(hashes.SHA256()) for c in got] == [
        leaf.fingerprint(hashes.SHA256()),
        ca_cert.fingerprint(hashes.SHA256()),
    ]

    # a chain whose leaf is for another key is refused, the old one stays
    stranger = ec.generate_private_key(ec.SECP256R1())
    foreign_csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "other")]))
        .sign(stranger, hashes.SHA256())
    )
    bad_chain = pem(_issue(foreign_csr, ca_key, ca_name)) + pem(ca_cert)
    assert_error(transit.post(f"keys/{n}/set-certificate", {"certificate_chain": bad_chain}), bad_input())
    assert transit.read(n)["keys"]["1"]["certificate_chain"] == stored
    assert_error(transit.post(f"keys/{n}/set-certificate", {"certificate_chain": "junk"}), bad_input())


def test_rsa_keys_below_2048_bits_are_refused_with_400(transit, name, wrapping_pem):
    """Issue #10's bad input: a 1024-bit RSA key imported as rsa-2048 (its
    private half through BYOK, or its public half) is a 400 naming the size,
    and no key is created; a P-256 key offered as rsa-2048 likewise."""
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    n = name("small")
    r = transit.post(
        f"keys/{n}/import",
        {"ciphertext": byok_wrap(wrapping_pem, pkcs8_der(small)), "type": "rsa-2048"},
    )
    assert_error(r, bad_input(), "1024|size|bits|rsa")
    assert transit.get(f"keys/{n}").status == 404
    r = transit.post(f"keys/{n}/import", {"public_key": public_pem(small.public_key()), "type": "rsa-2048"})
    assert_error(r, bad_input(), "1024|size|bits|rsa")
    assert transit.get(f"keys/{n}").status == 404
    other = ec.generate_private_key(ec.SECP256R1())
    r = transit.post(
        f"keys/{n}/import",
        {"ciphertext": byok_wrap(wrapping_pem, pkcs8_der(other)), "type": "rsa-2048"},
    )
    assert_error(r, bad_input(), "rsa|ecdsa|type|key")
    assert transit.get(f"keys/{n}").status == 404
