"""A small Google Cloud KMS for the tests, speaking the real REST (JSON over
HTTP) wire protocol of the calls Coffer's `gcpckms` backend makes, so
that the real Google Cloud client for Rust (`google-cloud-kms-v1`, in the
server) talks to it. There is no Cloud KMS emulator; this server is the
stand-in, and only for these calls:

- OAuth 2.0's token endpoint for a service account (`POST /token`, the
  JWT-bearer grant), named by the test credentials' `token_uri`;
- `GET /v1/<version>/publicKey`, `POST /v1/<version>:asymmetricSign`
  (a digest), `POST /v1/<key ring>/cryptoKeys?cryptoKeyId=` (an
  `ASYMMETRIC_SIGN` key, whose version 1 is made with it), with Cloud
  KMS's JSON shapes and its `{"error": {...}}` answers.

Requests without a bearer token it handed out (or a self-signed JWT of the
test service account) are refused with 401. Keys are `cryptography`
keys."""

from __future__ import annotations

import base64
import json
import urllib.parse
import uuid

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from stand_in_http import serve

ALGORITHMS = {
    "EC_SIGN_P256_SHA256": ("ec", ec.SECP256R1(), hashes.SHA256(), None),
    "EC_SIGN_P384_SHA384": ("ec", ec.SECP384R1(), hashes.SHA384(), None),
    "RSA_SIGN_PKCS1_2048_SHA256": ("rsa", 2048, hashes.SHA256(), "pkcs1"),
    "RSA_SIGN_PKCS1_3072_SHA256": ("rsa", 3072, hashes.SHA256(), "pkcs1"),
    "RSA_SIGN_PSS_2048_SHA256": ("rsa", 2048, hashes.SHA256(), "pss"),
}


# Proto3 JSON lets a client send enums by number (Google's Rust client
# does): CryptoKeyVersionAlgorithm's and CryptoKeyPurpose's numbers.
ALGORITHM_NUMBERS = {2: "RSA_SIGN_PSS_2048_SHA256", 5: "RSA_SIGN_PKCS1_2048_SHA256",
                     6: "RSA_SIGN_PKCS1_3072_SHA256", 12: "EC_SIGN_P256_SHA256", 13: "EC_SIGN_P384_SHA384"}
PURPOSE_NUMBERS = {5: "ASYMMETRIC_SIGN"}


def service_account(token_uri: str) -> dict:
    """A service account's credentials file, with a fresh key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return {
        "type": "service_account", "project_id": "coffer-test", "private_key_id": uuid.uuid4().hex,
        "private_key": pem, "client_email": "coffer@coffer-test.iam.gserviceaccount.com",
        "client_id": "1234567890", "token_uri": token_uri,
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
    }


class FakeCloudKms:
    def __init__(self):
        self.keys: dict[str, tuple[str, object]] = {}  # version name -> (algorithm, private key)
        self.tokens: set[str] = set()
        self.signatures = 0
        self.httpd, self.url = serve(self.handle)

    def stop(self):
        self.httpd.shutdown()

    def add_key(self, version_name: str, algorithm: str):
        kind, param, _, _ = ALGORITHMS[algorithm]
        key = ec.generate_private_key(param) if kind == "ec" else rsa.generate_private_key(65537, param)
        self.keys[version_name] = (algorithm, key)
        return key

    @staticmethod
    def error(h, code: int, status: str, message: str):
        h.reply(code, {"error": {"code": code, "status": status, "message": message}})

    def handle(self, h, method: str):
        url = urllib.parse.urlsplit(h.path)
        if method == "POST" and url.path == "/token":
            form = urllib.parse.parse_qs(h.body().decode())
            if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
                return h.reply(400, {"error": "unsupported_grant_type"})
            token = uuid.uuid4().hex
            self.tokens.add(token)
            return h.reply(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})
        bearer = h.headers.get("Authorization", "").removeprefix("Bearer ")
        # A token from /token, or a self-signed JWT (three dot-separated parts).
        if bearer not in self.tokens and bearer.count(".") != 2:
            h.body()
            return self.error(h, 401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        path = url.path.removeprefix("/v1/")
        if method == "GET" and path.endswith("/publicKey"):
            name = path.removesuffix("/publicKey")
            if name not in self.keys:
                return self.error(h, 404, "NOT_FOUND", f"{name} not found.")
            algorithm, key = self.keys[name]
            pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo).decode()
            return h.reply(200, {"pem": pem, "algorithm": algorithm, "name": name,
                                 "protectionLevel": "SOFTWARE"})
        if method == "POST" and path.endswith(":asymmetricSign"):
            name = path.removesuffix(":asymmetricSign")
            request = json.loads(h.body() or b"{}")
            if name not in self.keys:
                return self.error(h, 404, "NOT_FOUND", f"{name} not found.")
            algorithm, key = self.keys[name]
            kind, _, hash_alg, pad = ALGORITHMS[algorithm]
            digest_field = {"sha256": 32, "sha384": 48, "sha512": 64}
            given = request.get("digest") or {}
            field = hash_alg.name  # sha256, sha384 or sha512
            if field not in given:
                return self.error(h, 400, "INVALID_ARGUMENT", f"{algorithm} needs a {field} digest")
            digest = base64.b64decode(given[field])
            if len(digest) != digest_field[field]:
                return self.error(h, 400, "INVALID_ARGUMENT", "digest length")
            if kind == "ec":
                signature = key.sign(digest, ec.ECDSA(utils.Prehashed(hash_alg)))
            elif pad == "pkcs1":
                signature = key.sign(digest, padding.PKCS1v15(), utils.Prehashed(hash_alg))
            else:
                signature = key.sign(digest, padding.PSS(padding.MGF1(hash_alg), hash_alg.digest_size),
                                     utils.Prehashed(hash_alg))
            self.signatures += 1
            return h.reply(200, {"signature": base64.b64encode(signature).decode(), "name": name,
                                 "verifiedDigestCrc32c": False, "protectionLevel": "SOFTWARE"})
        if method == "POST" and path.endswith("/cryptoKeys"):
            ring = path.removesuffix("/cryptoKeys")
            key_id = urllib.parse.parse_qs(url.query).get("cryptoKeyId", [""])[0]
            request = json.loads(h.body() or b"{}")
            algorithm = (request.get("versionTemplate") or {}).get("algorithm", "")
            algorithm = ALGORITHM_NUMBERS.get(algorithm, algorithm)
            purpose = PURPOSE_NUMBERS.get(request.get("purpose"), request.get("purpose"))
            if purpose != "ASYMMETRIC_SIGN" or algorithm not in ALGORITHMS:
                return self.error(h, 400, "INVALID_ARGUMENT", f"purpose/algorithm {request}")
            name = f"{ring}/cryptoKeys/{key_id}"
            if f"{name}/cryptoKeyVersions/1" in self.keys:
                return self.error(h, 409, "ALREADY_EXISTS", f"{name} already exists.")
            self.add_key(f"{name}/cryptoKeyVersions/1", algorithm)
            return h.reply(200, {"name": name, "purpose": "ASYMMETRIC_SIGN",
                                 "versionTemplate": {"algorithm": algorithm, "protectionLevel": "SOFTWARE"}})
        h.body()
        return self.error(h, 404, "NOT_FOUND", f"no route {method} {url.path}")
