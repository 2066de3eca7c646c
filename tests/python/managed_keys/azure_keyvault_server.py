"""A small Azure Key Vault for the tests, speaking the real REST wire
protocol of the calls Coffer's `azurekeyvault` backend makes, so that the
real Azure SDK for Rust client (in the server) talks to it. There is no
Azure emulator; this server is the stand-in, and only for these calls:

- Entra ID's token endpoint, `POST /<tenant>/oauth2/v2.0/token`
  (client-credentials grant; a wrong client secret is `401
  invalid_client`);
- Key Vault's challenge: a request without a bearer token gets `401` with
  `WWW-Authenticate: Bearer authorization="...", resource="..."`, as Key
  Vault answers, and the client then asks Entra ID for a token;
- `GET /keys/<name>[/<version>]`, `POST /keys/<name>/create` (RSA-HSM),
  `POST /keys/<name>/<version>/sign` (RS256/384/512, PS256/384/512 over a
  digest), with Key Vault's JSON shapes (JWK members in base64url).

HTTPS only (Azure's client refuses anything else), with a self-signed
certificate the caller makes (`make_tls`) and the server trusts through
`SSL_CERT_FILE`. Keys are RSA keys of Python's `cryptography`."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import pathlib
import urllib.parse
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.x509.oid import NameOID

from stand_in_http import serve


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_tls(directory: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path, pathlib.Path]:
    """A test CA, and a server certificate for 127.0.0.1 and localhost it
    signed (webpki refuses a CA certificate as a server's): the CA's path
    (what the client trusts), the server's certificate and its key."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "coffer test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_path, cert_path, key_path = (directory / "azure-ca.pem", directory / "azure-cert.pem",
                                    directory / "azure-key.pem")
    ca_path.write_bytes(ca.public_bytes(pem))
    cert_path.write_bytes(cert.public_bytes(pem))
    key_path.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return ca_path, cert_path, key_path


HASHES = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}


class FakeKeyVault:
    def __init__(self, cert: pathlib.Path, key: pathlib.Path, tenant: str, client_id: str, secret: str):
        self.tenant, self.client_id, self.secret = tenant, client_id, secret
        self.keys: dict[str, dict[str, rsa.RSAPrivateKey]] = {}  # name -> version -> key
        self.tokens: set[str] = set()
        self.signatures = 0
        self.httpd, self.url = serve(self.handle, (cert, key))

    def stop(self):
        self.httpd.shutdown()

    def add_key(self, name: str, bits: int = 2048) -> rsa.RSAPrivateKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        self.keys.setdefault(name, {})[uuid.uuid4().hex] = key
        return key

    def bundle(self, name: str, version: str) -> dict:
        numbers = self.keys[name][version].public_key().public_numbers()
        n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
        return {
            "key": {"kid": f"{self.url}/keys/{name}/{version}", "kty": "RSA-HSM",
                    "key_ops": ["sign", "verify"], "n": b64url(n), "e": b64url(numbers.e.to_bytes(3, "big"))},
            "attributes": {"enabled": True, "created": 1700000000, "updated": 1700000000,
                           "recoveryLevel": "Recoverable+Purgeable"},
        }

    def handle(self, h, method: str):
        url = urllib.parse.urlsplit(h.path)
        parts = [p for p in url.path.split("/") if p]
        if method == "POST" and len(parts) == 4 and parts[1:] == ["oauth2", "v2.0", "token"]:
            form = urllib.parse.parse_qs(h.body().decode())
            if (parts[0] != self.tenant or form.get("client_id") != [self.client_id]
                    or form.get("client_secret") != [self.secret]):
                return h.reply(401, {"error": "invalid_client",
                                     "error_description": "AADSTS7000215: Invalid client secret provided."})
            token = uuid.uuid4().hex
            self.tokens.add(token)
            return h.reply(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                                 "access_token": token})
        if not parts or parts[0] != "keys":
            return h.reply(404, {"error": {"code": "NotFound", "message": url.path}})
        auth = h.headers.get("Authorization", "")
        if auth.removeprefix("Bearer ") not in self.tokens:
            h.body()
            return h.reply(401, {"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or PoP token."}},
                           {"WWW-Authenticate": f'Bearer authorization="{self.url}/{self.tenant}", resource="https://vault.azure.net"'})
        name = parts[1] if len(parts) > 1 else ""
        if method == "GET" and len(parts) in (2, 3):
            versions = self.keys.get(name)
            version = parts[2] if len(parts) == 3 else (list(versions)[-1] if versions else None)
            if not versions or version not in versions:
                return h.reply(404, {"error": {"code": "KeyNotFound",
                                               "message": f"A key with (name/id) {name} was not found in this key vault."}})
            return h.reply(200, self.bundle(name, version))
        if method == "POST" and len(parts) == 3 and parts[2] == "create":
            request = json.loads(h.body() or b"{}")
            if request.get("kty") not in ("RSA", "RSA-HSM"):
                return h.reply(400, {"error": {"code": "BadParameter", "message": "kty"}})
            self.add_key(name, int(request.get("key_size") or 2048))
            return h.reply(200, self.bundle(name, list(self.keys[name])[-1]))
        if method == "POST" and len(parts) == 4 and parts[3] == "sign":
            request = json.loads(h.body() or b"{}")
            key = self.keys.get(name, {}).get(parts[2])
            if key is None:
                return h.reply(404, {"error": {"code": "KeyNotFound", "message": name}})
            alg, digest = request.get("alg", ""), unb64url(request.get("value", ""))
            if alg[:2] not in ("RS", "PS") or alg[2:] not in HASHES:
                return h.reply(400, {"error": {"code": "BadParameter", "message": f"alg {alg}"}})
            hash_alg = HASHES[alg[2:]]
            if len(digest) != hash_alg.digest_size:
                return h.reply(400, {"error": {"code": "BadParameter", "message": "digest length"}})
            pad = padding.PKCS1v15() if alg.startswith("RS") else padding.PSS(
                padding.MGF1(hash_alg), hash_alg.digest_size)
            signature = key.sign(digest, pad, utils.Prehashed(hash_alg))
            self.signatures += 1
            return h.reply(200, {"kid": f"{self.url}/keys/{name}/{parts[2]}", "value": b64url(signature)})
        return h.reply(405, {"error": {"code": "MethodNotAllowed", "message": url.path}})
