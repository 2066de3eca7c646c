"""python-pkcs11 over the test's SoftHSM2 tokens: an HSM view that does
not go through the server, to make keys before the server uses them and
to read public keys back by label (as `cryptography` public keys), so the
tests check the server's signatures against the HSM itself."""

from __future__ import annotations

import pkcs11
from cryptography.hazmat.primitives.serialization import load_der_public_key
from pkcs11 import Attribute, KeyType, ObjectClass
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters
from pkcs11.util.rsa import encode_rsa_public_key

CURVES = {"P256": "secp256r1", "P384": "secp384r1", "P521": "secp521r1"}


class Hsm:
    def __init__(self, library: str, pin: str):
        self.lib = pkcs11.lib(library)
        self.pin = pin
        self._sessions = {}

    def session(self, token: str = "coffer-a"):
        if token not in self._sessions:
            self._sessions[token] = self.lib.get_token(token_label=token).open(
                user_pin=self.pin, rw=True
            )
        return self._sessions[token]

    def close(self):
        for s in self._sessions.values():
            s.close()

    def make_rsa(self, label: str, bits: int = 2048, key_id: bytes | None = None, token="coffer-a"):
        """An RSA pair made in the HSM, outside the server."""
        extra = {Attribute.ID: key_id} if key_id else {}
        self.session(token).generate_keypair(
            KeyType.RSA, bits, label=label, store=True, public_template=extra, private_template=extra
        )

    def make_ec(self, label: str, curve: str = "P256", key_id: bytes | None = None, token="coffer-a"):
        s = self.session(token)
        params = s.create_domain_parameters(
            KeyType.EC,
            {Attribute.EC_PARAMS: encode_named_curve_parameters(CURVES[curve])},
            local=True,
        )
        extra = {Attribute.ID: key_id} if key_id else {}
        params.generate_keypair(store=True, label=label, public_template=extra, private_template=extra)

    def public_key(self, label: str, token="coffer-a"):
        """The public key labelled `label`, read from the HSM."""
        s = self.session(token)
        keys = list(s.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.LABEL: label}))
        assert len(keys) == 1, f"{len(keys)} public keys labelled {label!r} in {token}"
        key = keys[0]
        if key.key_type == KeyType.RSA:
            der = encode_rsa_public_key(key)
        else:
            der = encode_ec_public_key(key)
        return load_der_public_key(der)

    def private_keys(self, label: str, token="coffer-a") -> int:
        s = self.session(token)
        return len(list(s.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: label})))
