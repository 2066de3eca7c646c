"""Shared helpers of the PKI end-to-end suite (no pytest fixtures here).

The HTTP client, the server processes and `assert_error` come from
`../transit/transit_helpers.py` (imported, not copied). What is new here:

- `PkiMount`: one PKI mount, paths relative to it, plus `raw()` for the
  unauthenticated DER/PEM endpoints (status, Content-Type and bytes);
- X.509 checks done only with Python's `cryptography` and the `openssl`
  CLI, never with anything the server computed: signature verification of
  certificates, CRLs and CSRs with the issuer's public key over the TBS
  bytes, `openssl verify` of chains, `openssl crl -verify` of CRLs;
- CSR makers (cryptography, and the `openssl req` CLI).
"""

from __future__ import annotations

import datetime
import ipaddress
import pathlib
import subprocess
import sys
import tempfile

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_TRANSIT = pathlib.Path(__file__).resolve().parent.parent / "transit"
if str(_TRANSIT) not in sys.path:
    sys.path.insert(0, str(_TRANSIT))

from transit_helpers import (  # noqa: E402, F401  (re-exported for the tests)
    TARGET,
    Api,
    BaoProcess,
    CofferProcess,
    Resp,
    assert_error,
    bad_input,
    on_openbao,
    unique,
)

# The session mounts (nested on purpose).
ROOT_MOUNT = "a/pki-root"
INT_MOUNT = "b/pki-int"
MAX_LEASE_TTL = "87600h"
ROOT_CN = "Coffer PKI Test Root"
INT_CN = "Coffer PKI Test Intermediate"


# ---------------------------------------------------------------- HTTP


class PkiMount:
    """One PKI mount: paths are relative to it."""

    def __init__(self, api: Api, path: str):
        self.api = api
        self.path = path.strip("/") + "/"

    def _p(self, rel: str) -> str:
        return self.path + rel.lstrip("/")

    def get(self, rel, **kw) -> Resp:
        return self.api.get(self._p(rel), **kw)

    def post(self, rel, body=None, **kw) -> Resp:
        return self.api.post(self._p(rel), body, **kw)

    def delete(self, rel, **kw) -> Resp:
        return self.api.delete(self._p(rel), **kw)

    def list(self, rel, **kw) -> Resp:
        return self.api.list(self._p(rel), **kw)

    def ok(self, method: str, rel: str, body=None) -> dict:
        r = self.api.request(method, self._p(rel), body)
        assert r.status == 200, f"{method} {self.path}{rel} {body}: {r}"
        return r.data

    def raw(self, method: str, rel: str, token: bool = False, body=None) -> requests.Response:
        """A request WITHOUT a token by default (unauthenticated paths)."""
        headers = {"X-Vault-Token": self.api.token} if token else {}
        return requests.request(
            method,
            f"{self.api.addr}/v1/{self._p(rel)}",
            headers=headers,
            json=body,
            timeout=60,
        )

    def anon(self, method: str, rel: str) -> Resp:
        """Resp of a request without a token."""
        return Resp(self.raw(method, rel))

    # conveniences ----------------------------------------------------

    def role(self, name: str, **params) -> dict:
        r = self.post(f"roles/{name}", params)
        assert r.status in (200, 204), f"role {name} {params}: {r}"
        return r.data if r.status == 200 else {}

    def issue(self, role: str, **params) -> dict:
        return self.ok("POST", f"issue/{role}", params)


def mount_pki(api: Api, path: str, max_lease_ttl: str | None = MAX_LEASE_TTL) -> PkiMount:
    body: dict = {"type": "pki"}
    if max_lease_ttl:
        body["config"] = {"max_lease_ttl": max_lease_ttl}
    r = api.post(f"sys/mounts/{path.strip('/')}", body)
    if r.status not in (200, 204):
        raise RuntimeError(f"cannot mount pki at {path}: {r}")
    return PkiMount(api, path)


# ---------------------------------------------------------------- X.509


def load_cert(pem: str | bytes) -> x509.Certificate:
    if isinstance(pem, str):
        pem = pem.encode()
    return x509.load_pem_x509_certificate(pem)


def load_certs(pem: str | bytes) -> list[x509.Certificate]:
    if isinstance(pem, str):
        pem = pem.encode()
    return x509.load_pem_x509_certificates(pem)


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def serial_colon(n: int) -> str:
    """Vault's serial format: lower-case colon hex of the minimal
    big-endian bytes of the serial."""
    raw = n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")
    return ":".join(f"{b:02x}" for b in raw)


def cn_of(name: x509.Name) -> str | None:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return attrs[0].value if attrs else None


def ext_value(cert, cls):
    """The value of the extension of type `cls`, or None."""
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None


def ext_obj(cert, cls):
    try:
        return cert.extensions.get_extension_for_class(cls)
    except x509.ExtensionNotFound:
        return None


def sans(cert) -> dict:
    """{'dns': [...], 'ip': [...], 'uri': [...], 'email': [...]}"""
    san = ext_value(cert, x509.SubjectAlternativeName)
    if san is None:
        return {"dns": [], "ip": [], "uri": [], "email": []}
    return {
        "dns": san.get_values_for_type(x509.DNSName),
        "ip": [str(i) for i in san.get_values_for_type(x509.IPAddress)],
        "uri": san.get_values_for_type(x509.UniformResourceIdentifier),
        "email": san.get_values_for_type(x509.RFC822Name),
    }


def eku_oids(cert) -> list[str]:
    eku = ext_value(cert, x509.ExtendedKeyUsage)
    return [] if eku is None else [o.dotted_string for o in eku]


SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH.dotted_string
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH.dotted_string
CODE_SIGNING = ExtendedKeyUsageOID.CODE_SIGNING.dotted_string
EMAIL_PROTECTION = ExtendedKeyUsageOID.EMAIL_PROTECTION.dotted_string


def verify_signature(public_key, signature: bytes, tbs: bytes, hash_alg) -> None:
    """Raises InvalidSignature unless `signature` over `tbs` verifies."""
    if isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(signature, tbs, padding.PKCS1v15(), hash_alg)
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signature, tbs, ec.ECDSA(hash_alg))
    elif isinstance(public_key, ed25519.Ed25519PublicKey):
        public_key.verify(signature, tbs)
    else:  # pragma: no cover
        raise AssertionError(f"unexpected key type {type(public_key)}")


def assert_signed_by(obj, issuer: x509.Certificate) -> None:
    """A certificate or CRL `obj` carries a valid signature by `issuer`'s
    key (checked over the TBS bytes) and names it as its issuer."""
    if isinstance(obj, x509.Certificate):
        tbs = obj.tbs_certificate_bytes
    elif isinstance(obj, x509.CertificateRevocationList):
        tbs = obj.tbs_certlist_bytes
    else:  # pragma: no cover
        raise AssertionError(f"cannot verify {type(obj)}")
    verify_signature(issuer.public_key(), obj.signature, tbs, obj.signature_hash_algorithm)
    assert obj.issuer == issuer.subject, f"issuer {obj.issuer} != {issuer.subject}"


def assert_csr_self_signed(csr: x509.CertificateSigningRequest) -> None:
    assert csr.is_signature_valid
    verify_signature(
        csr.public_key(), csr.signature, csr.tbs_certrequest_bytes, csr.signature_hash_algorithm
    )


def same_public_key(a, b) -> bool:
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return a.public_bytes(*fmt) == b.public_bytes(*fmt)


def load_private_key(pem: str):
    return serialization.load_pem_private_key(pem.encode(), password=None)


def key_matches_cert(private_key, cert: x509.Certificate) -> bool:
    return same_public_key(private_key.public_key(), cert.public_key())


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def validity_seconds(cert: x509.Certificate) -> float:
    return (cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds()


def remaining_seconds(cert: x509.Certificate) -> float:
    return (cert.not_valid_after_utc - utcnow()).total_seconds()


# ---------------------------------------------------------------- openssl


class TempFiles:
    """Writes strings to files in one temporary directory."""

    def __init__(self):
        self._dir = tempfile.TemporaryDirectory(prefix="pki-test-")
        self.n = 0

    def write(self, content: str | bytes, suffix: str = ".pem") -> str:
        self.n += 1
        p = pathlib.Path(self._dir.name) / f"f{self.n}{suffix}"
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
        return str(p)

    def path(self, name: str) -> str:
        return str(pathlib.Path(self._dir.name) / name)

    def cleanup(self):
        self._dir.cleanup()


def openssl(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *args], input=input, capture_output=True, timeout=60)


def openssl_verify(leaf_pem: str, trusted_pem: str, untrusted_pem: str | None = None,
                   extra: tuple = ()) -> tuple[bool, str]:
    """`openssl verify -CAfile trusted [-untrusted chain] leaf` -> (ok, output)."""
    files = TempFiles()
    try:
        args = ["verify", "-CAfile", files.write(trusted_pem)]
        if untrusted_pem:
            args += ["-untrusted", files.write(untrusted_pem)]
        args += list(extra)
        args.append(files.write(leaf_pem))
        p = openssl(*args)
        out = (p.stdout + p.stderr).decode(errors="replace")
        return p.returncode == 0 and ": OK" in out, out
    finally:
        files.cleanup()


def assert_openssl_verifies(leaf_pem: str, trusted_pem: str, untrusted_pem: str | None = None,
                            extra: tuple = ()) -> None:
    ok, out = openssl_verify(leaf_pem, trusted_pem, untrusted_pem, extra)
    assert ok, f"openssl verify failed:\n{out}"


def openssl_crl_verify(crl: str | bytes, ca_pem: str) -> tuple[bool, str]:
    """`openssl crl -in crl -CAfile ca -noout` (PEM or DER CRL)."""
    files = TempFiles()
    try:
        is_der = isinstance(crl, bytes) and not crl.lstrip().startswith(b"-----")
        crl_file = files.write(crl, ".der" if is_der else ".pem")
        args = ["crl", "-in", crl_file, "-CAfile", files.write(ca_pem), "-noout"]
        if is_der:
            args[1:1] = ["-inform", "DER"]
        p = openssl(*args)
        out = (p.stdout + p.stderr).decode(errors="replace")
        return p.returncode == 0 and "verify OK" in out, out
    finally:
        files.cleanup()


def openssl_req_csr(cn: str, sans: list[str] | None = None) -> tuple[str, str]:
    """A CSR made by the `openssl req` CLI (EC P-256): (csr_pem, key_pem)."""
    files = TempFiles()
    try:
        key = files.path("key.pem")
        csr = files.path("csr.pem")
        args = ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={cn}/O=OpenSSL CLI"]
        if sans:
            args += ["-addext", "subjectAltName=" + ",".join(f"DNS:{s}" for s in sans)]
        p = openssl(*args)
        assert p.returncode == 0, p.stderr.decode()
        return pathlib.Path(csr).read_text(), pathlib.Path(key).read_text()
    finally:
        files.cleanup()


# ---------------------------------------------------------------- CSRs


def new_key(kind: str = "ec256"):
    if kind == "rsa2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ec256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ec384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(kind)


def make_csr(cn: str | None, dns: list[str] = (), ips: list[str] = (), key=None,
             org: str | None = None, ca: bool = False, extra_exts: list = ()) -> tuple[str, object]:
    """(csr_pem, private_key) built with cryptography."""
    key = key or new_key("ec256")
    attrs = []
    if cn is not None:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    b = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    names = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if names:
        b = b.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if ca:
        b = b.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    for ext, critical in extra_exts:
        b = b.add_extension(ext, critical=critical)
    alg = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    csr = b.sign(key, alg)
    return csr.public_bytes(serialization.Encoding.PEM).decode(), key


def private_pem(key, fmt=serialization.PrivateFormat.PKCS8) -> str:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def self_signed_ca(cn: str, key=None, days: int = 365) -> tuple[x509.Certificate, object]:
    """An external CA made locally (for imports)."""
    key = key or new_key("ec256")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = utcnow()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256())
    )
    return cert, key

