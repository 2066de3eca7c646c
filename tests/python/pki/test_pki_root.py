"""Root CAs, issuers and keys: root/generate, issuers/generate/root,
`existing` keys, LIST issuers/keys, issuer and key read/update/delete,
config/issuers and config/keys, the unauthenticated CA endpoints and
DELETE root. Every certificate is checked with `cryptography` and
`openssl verify`, never by trusting the server."""

from __future__ import annotations

import base64
import datetime
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from pki_helpers import (
    ROOT_CN,
    assert_error,
    assert_openssl_verifies,
    assert_signed_by,
    bad_input,
    cn_of,
    ext_obj,
    ext_value,
    key_matches_cert,
    load_cert,
    load_certs,
    load_private_key,
    on_openbao,
    sans,
    serial_colon,
    utcnow,
)

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ROOT_FIELDS = {
    "certificate",
    "expiration",
    "issuer_id",
    "issuer_name",
    "issuing_ca",
    "key_id",
    "key_name",
    "serial_number",
}
ISSUER_FIELDS = {
    "ca_chain",
    "certificate",
    "crl_distribution_points",
    "delta_crl_distribution_points",
    "issuer_id",
    "issuer_name",
    "issuing_certificates",
    "key_id",
    "leaf_not_after_behavior",
    "manual_chain",
    "ocsp_servers",
    "revocation_signature_algorithm",
    "revoked",
    "usage",
}
ALL_USAGES = "crl-signing,issuing-certificates,ocsp-signing,read-only"


def missing_ref():
    """Status for an unknown issuer/key reference on a read: OpenBao
    answers 500 ("1 error occurred: ... unable to find PKI issuer for
    reference"); Coffer must answer 400 or 404."""
    return (500,) if on_openbao() else (400, 404)


# ---------------------------------------------------------------- generate


def test_root_generate_internal_response(root_ca):
    d = root_ca.generate_response
    assert ROOT_FIELDS <= set(d), sorted(d)
    assert "private_key" not in d and "private_key_type" not in d
    assert UUID.match(d["issuer_id"]) and UUID.match(d["key_id"])
    assert d["issuer_name"] == "root-x1" and d["key_name"] == "root-key"
    assert d["issuing_ca"].strip() == d["certificate"].strip()
    cert = load_cert(d["certificate"])
    assert d["serial_number"] == serial_colon(cert.serial_number)
    assert re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2})+", d["serial_number"])
    assert isinstance(d["expiration"], int)
    assert d["expiration"] == int(cert.not_valid_after_utc.timestamp())


def test_root_certificate_is_a_valid_ca(root_ca):
    cert = root_ca.cert
    # self-signed: the signature verifies with its own public key
    assert_signed_by(cert, cert)
    assert cert.issuer == cert.subject
    assert cn_of(cert.subject) == ROOT_CN
    assert isinstance(cert.public_key(), rsa.RSAPublicKey) and cert.public_key().key_size == 2048
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    assert cert.version == x509.Version.v3
    bc = ext_obj(cert, x509.BasicConstraints)
    assert bc is not None and bc.critical and bc.value.ca is True
    ku = ext_obj(cert, x509.KeyUsage)
    assert ku is not None and ku.critical
    assert ku.value.key_cert_sign and ku.value.crl_sign
    assert not ku.value.key_encipherment and not ku.value.digital_signature
    ski = ext_value(cert, x509.SubjectKeyIdentifier)
    assert ski is not None
    assert ski.digest == x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest
    aki = ext_value(cert, x509.AuthorityKeyIdentifier)
    assert aki is not None and aki.key_identifier == ski.digest
    # validity: ttl=43800h, backdated by 30s
    life = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert abs(life.total_seconds() - (43800 * 3600 + 30)) < 120, life
    assert abs((utcnow() - cert.not_valid_before_utc).total_seconds()) < 600
    assert cert.not_valid_before_utc < utcnow() < cert.not_valid_after_utc
    assert_openssl_verifies(root_ca.pem, root_ca.pem)


@pytest.mark.parametrize(
    "key_type,key_bits,pub_check,hash_name,pem_header,rev_alg",
    [
        ("rsa", 2048, lambda k: isinstance(k, rsa.RSAPublicKey) and k.key_size == 2048,
         "sha256", "RSA PRIVATE KEY", "SHA256WithRSA"),
        ("ec", 256, lambda k: isinstance(k, ec.EllipticCurvePublicKey) and k.curve.name == "secp256r1",
         "sha256", "EC PRIVATE KEY", "ECDSAWithSHA256"),
        ("ec", 384, lambda k: isinstance(k, ec.EllipticCurvePublicKey) and k.curve.name == "secp384r1",
         "sha384", "EC PRIVATE KEY", "ECDSAWithSHA384"),
        ("ec", 521, lambda k: isinstance(k, ec.EllipticCurvePublicKey) and k.curve.name == "secp521r1",
         "sha512", "EC PRIVATE KEY", "ECDSAWithSHA512"),
        ("ed25519", 0, lambda k: isinstance(k, ed25519.Ed25519PublicKey),
         None, "PRIVATE KEY", "Ed25519"),
    ],
    ids=["rsa2048", "ec256", "ec384", "ec521", "ed25519"],
)
def test_root_generate_exported_key_types(fresh_pki, key_type, key_bits, pub_check, hash_name,
                                          pem_header, rev_alg):
    d = fresh_pki.ok(
        "POST",
        "root/generate/exported",
        {
            "common_name": "ca.example.com",
            "key_type": key_type,
            "key_bits": key_bits,
            "ttl": "720h",
            "issuer_name": f"root-{key_type}",
            "key_name": f"key-{key_type}",
        },
    )
    assert (ROOT_FIELDS | {"private_key", "private_key_type"}) <= set(d), sorted(d)
    assert d["private_key_type"] == key_type
    assert d["private_key"].startswith(f"-----BEGIN {pem_header}-----")
    cert = load_cert(d["certificate"])
    assert pub_check(cert.public_key())
    assert key_matches_cert(load_private_key(d["private_key"]), cert)
    assert_signed_by(cert, cert)
    if hash_name is None:
        assert cert.signature_hash_algorithm is None
    else:
        assert cert.signature_hash_algorithm.name == hash_name
    assert abs((cert.not_valid_after_utc - utcnow()).total_seconds() - 720 * 3600) < 120
    assert cn_of(cert.subject) == "ca.example.com"
    assert d["serial_number"] == serial_colon(cert.serial_number)
    # the key and the issuer are recorded under their names
    key = fresh_pki.ok("GET", f"key/key-{key_type}")
    assert key["key_id"] == d["key_id"] and key["key_type"] == key_type
    assert key["key_name"] == f"key-{key_type}"
    iss = fresh_pki.ok("GET", f"issuer/root-{key_type}")
    assert iss["issuer_id"] == d["issuer_id"] and iss["key_id"] == d["key_id"]
    assert iss["revocation_signature_algorithm"] == rev_alg
    assert_openssl_verifies(d["certificate"], d["certificate"])


def test_root_generate_subject_and_sans(fresh_pki):
    d = fresh_pki.ok(
        "POST",
        "root/generate/internal",
        {
            "common_name": "host.example.com",
            "key_type": "ec",
            "alt_names": "alt.example.com,admin@example.com",
            "ip_sans": "10.0.0.1,::1",
            "uri_sans": "spiffe://example.com/ca",
            "ou": "Unit One",
            "organization": "Coffer Org",
            "country": "FR",
            "locality": "Paris",
            "ttl": "48h",
        },
    )
    cert = load_cert(d["certificate"])
    s = sans(cert)
    assert set(s["dns"]) == {"host.example.com", "alt.example.com"}
    assert s["email"] == ["admin@example.com"]
    assert set(s["ip"]) == {"10.0.0.1", "::1"}
    assert s["uri"] == ["spiffe://example.com/ca"]

    def attr(oid):
        return [a.value for a in cert.subject.get_attributes_for_oid(oid)]

    from cryptography.x509.oid import NameOID

    assert attr(NameOID.COMMON_NAME) == ["host.example.com"]
    assert attr(NameOID.ORGANIZATIONAL_UNIT_NAME) == ["Unit One"]
    assert attr(NameOID.ORGANIZATION_NAME) == ["Coffer Org"]
    assert attr(NameOID.COUNTRY_NAME) == ["FR"]
    assert attr(NameOID.LOCALITY_NAME) == ["Paris"]
    assert abs((cert.not_valid_after_utc - utcnow()).total_seconds() - 48 * 3600) < 120
    # internal: no private key in the answer
    assert "private_key" not in d


def test_root_generate_max_path_length(fresh_pki):
    d = fresh_pki.ok(
        "POST", "root/generate/internal",
        {"common_name": "Path Root", "key_type": "ec", "max_path_length": 1},
    )
    bc = ext_value(load_cert(d["certificate"]), x509.BasicConstraints)
    assert bc.ca and bc.path_length == 1


def test_issuers_generate_root_and_existing_key(fresh_pki):
    k = fresh_pki.ok("POST", "keys/generate/internal",
                     {"key_type": "ec", "key_bits": 384, "key_name": "shared-key"})
    assert set(k) >= {"key_id", "key_name", "key_type"}
    assert k["key_name"] == "shared-key" and k["key_type"] == "ec"
    assert "private_key" not in k
    # the first key becomes the default key
    assert fresh_pki.ok("GET", "config/keys")["default"] == k["key_id"]

    a = fresh_pki.ok("POST", "issuers/generate/root/existing",
                     {"common_name": "Existing A", "key_ref": "shared-key", "issuer_name": "ex-a"})
    b = fresh_pki.ok("POST", "root/generate/existing",
                     {"common_name": "Existing B", "key_ref": k["key_id"], "issuer_name": "ex-b"})
    assert a["key_id"] == b["key_id"] == k["key_id"]
    assert a["issuer_id"] != b["issuer_id"]
    assert a["key_name"] == "shared-key"
    ca, cb = load_cert(a["certificate"]), load_cert(b["certificate"])
    assert ca.public_key().public_numbers() == cb.public_key().public_numbers()
    assert isinstance(ca.public_key().curve, ec.SECP384R1)
    assert_signed_by(ca, ca)
    assert_signed_by(cb, cb)
    # one key, two issuers
    keys = fresh_pki.ok("LIST", "keys")
    assert keys["keys"] == [k["key_id"]]
    issuers = fresh_pki.ok("LIST", "issuers")
    assert set(issuers["keys"]) == {a["issuer_id"], b["issuer_id"]}
    # the first issuer is the default; generating another does not move it
    assert fresh_pki.ok("GET", "config/issuers")["default"] == a["issuer_id"]
    # a third one through issuers/generate/root/internal makes a new key
    c = fresh_pki.ok("POST", "issuers/generate/root/internal",
                     {"common_name": "Internal C", "key_type": "ed25519"})
    assert c["key_id"] != k["key_id"]
    assert isinstance(load_cert(c["certificate"]).public_key(), ed25519.Ed25519PublicKey)
    assert len(fresh_pki.ok("LIST", "keys")["keys"]) == 2


def test_keys_generate_exported_returns_the_key(fresh_pki):
    k = fresh_pki.ok("POST", "keys/generate/exported", {"key_type": "ec", "key_name": "exp"})
    assert k["private_key"].startswith("-----BEGIN EC PRIVATE KEY-----")
    priv = load_private_key(k["private_key"])
    d = fresh_pki.ok("POST", "root/generate/existing", {"common_name": "From Exported", "key_ref": "exp"})
    assert key_matches_cert(priv, load_cert(d["certificate"]))


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "body,pattern",
    [
        ({"common_name": "x", "key_type": "rsa", "key_bits": 1024},
         r"RSA keys < 2048 bits are unsafe and not supported: got 1024"),
        ({"common_name": "x", "key_type": "ec", "key_bits": 255}, r"unsupported bit length for EC key: 255"),
        ({"common_name": "x", "key_type": "dsa"}, r"unknown key type dsa"),
        ({"common_name": "x", "key_type": "ec", "issuer_name": "default"},
         r"reserved keyword 'default' can not be used as issuer name"),
    ],
    ids=["rsa1024", "ec255", "dsa", "name-default"],
)
def test_root_generate_bad_input(fresh_pki, body, pattern):
    assert_error(fresh_pki.post("root/generate/internal", body), 400, pattern)
    # nothing was created
    assert fresh_pki.ok("GET", "config/issuers")["default"] == ""


def test_root_generate_bad_type_and_duplicate_name(fresh_pki):
    assert_error(fresh_pki.post("root/generate/bogus", {"common_name": "x"}), 400, r"internal")
    fresh_pki.ok("POST", "root/generate/internal",
                 {"common_name": "One", "key_type": "ec", "issuer_name": "dup"})
    assert_error(
        fresh_pki.post("root/generate/internal", {"common_name": "Two", "key_type": "ec", "issuer_name": "dup"}),
        400, r"issuer name already in use",
    )
    assert_error(
        fresh_pki.post("root/generate/existing", {"common_name": "x", "key_ref": "no-such-key"}),
        400, r"unable to find PKI key for reference: no-such-key",
    )
    assert len(fresh_pki.ok("LIST", "issuers")["keys"]) == 1


# ---------------------------------------------------------------- LIST


def test_list_issuers_unauthenticated(root_ca):
    r = root_ca.mount.anon("LIST", "issuers")
    assert r.status == 200, r
    d = r.data
    assert root_ca.issuer_id in d["keys"]
    info = d["key_info"][root_ca.issuer_id]
    assert set(info) >= {"is_default", "issuer_name", "key_id", "serial_number"}
    assert info["is_default"] is True
    assert info["issuer_name"] == "root-x1"
    assert info["key_id"] == root_ca.key_id
    assert info["serial_number"] == serial_colon(root_ca.cert.serial_number)
    # `?list=true` is the same as the LIST method
    r2 = root_ca.mount.anon("GET", "issuers?list=true")
    assert r2.status == 200 and root_ca.issuer_id in r2.data["keys"]


def test_list_keys_needs_a_token(root_ca):
    d = root_ca.mount.ok("LIST", "keys")
    assert root_ca.key_id in d["keys"]
    assert d["key_info"][root_ca.key_id]["key_name"] == "root-key"
    assert d["key_info"][root_ca.key_id]["is_default"] is True
    assert_error(root_ca.mount.anon("LIST", "keys"), 403, r"permission denied")


def test_list_on_empty_mount(fresh_pki):
    assert fresh_pki.list("issuers").status == 404
    assert fresh_pki.list("keys").status == 404
    assert fresh_pki.ok("GET", "config/issuers") == {"default": "", "default_follows_latest_issuer": False}
    assert fresh_pki.ok("GET", "config/keys") == {"default": ""}


# ---------------------------------------------------------------- issuer read


def test_issuer_read_fields(root_ca):
    m = root_ca.mount
    by_id = m.ok("GET", f"issuer/{root_ca.issuer_id}")
    assert ISSUER_FIELDS <= set(by_id), sorted(by_id)
    assert by_id["issuer_id"] == root_ca.issuer_id
    assert by_id["issuer_name"] == "root-x1"
    assert by_id["key_id"] == root_ca.key_id
    assert by_id["leaf_not_after_behavior"] == "err"
    assert by_id["manual_chain"] is None
    assert by_id["revoked"] is False
    assert by_id["usage"] == ALL_USAGES
    assert by_id["revocation_signature_algorithm"] == "SHA256WithRSA"
    assert by_id["issuing_certificates"] == [] and by_id["crl_distribution_points"] == []
    assert by_id["ocsp_servers"] == []
    assert load_cert(by_id["certificate"]) == root_ca.cert
    assert [load_cert(c) for c in by_id["ca_chain"]] == [root_ca.cert]
    # by name and by `default`: the same issuer
    for ref in ("root-x1", "default"):
        other = m.ok("GET", f"issuer/{ref}")
        assert other["issuer_id"] == root_ca.issuer_id
        assert other["certificate"] == by_id["certificate"]


def test_issuer_read_unknown(root_ca):
    assert_error(root_ca.mount.get("issuer/no-such-issuer"), missing_ref(),
                 r"unable to find PKI issuer for reference: no-such-issuer")


def test_issuer_pem_der_json_unauthenticated(root_ca):
    m = root_ca.mount
    for ref in (root_ca.issuer_id, "root-x1", "default"):
        pem = m.raw("GET", f"issuer/{ref}/pem")
        assert pem.status_code == 200
        assert pem.headers["Content-Type"] == "application/pem-certificate-chain"
        assert load_certs(pem.content) == [root_ca.cert]
        der = m.raw("GET", f"issuer/{ref}/der")
        assert der.status_code == 200
        assert der.headers["Content-Type"] == "application/pkix-cert"
        assert x509.load_der_x509_certificate(der.content) == root_ca.cert
        js = m.anon("GET", f"issuer/{ref}/json")
        assert js.status == 200
        assert {"ca_chain", "certificate", "issuer_id", "issuer_name"} <= set(js.data)
        assert js.data["issuer_id"] == root_ca.issuer_id
        assert js.data["issuer_name"] == "root-x1"
        assert load_cert(js.data["certificate"]) == root_ca.cert
        # the unauthenticated JSON does not expose the key id
        assert "key_id" not in js.data


def test_issuer_pem_of_unknown_ref(root_ca):
    r = root_ca.mount.anon("GET", "issuer/no-such-issuer/pem")
    assert r.status in missing_ref(), r
    assert "unable to find PKI issuer for reference: no-such-issuer" in r.error_text()


# ---------------------------------------------------------------- issuer update


def test_issuer_update_name_usage_behaviour_and_aia(fresh_pki, name):
    d = fresh_pki.ok("POST", "root/generate/internal",
                     {"common_name": "Upd Root", "key_type": "ec", "issuer_name": "upd"})
    iid = d["issuer_id"]
    new_name = name("renamed")
    # POST overwrites: every field not given goes back to its default
    up = fresh_pki.ok(
        "POST",
        f"issuer/upd",
        {
            "issuer_name": new_name,
            "leaf_not_after_behavior": "truncate",
            "usage": "read-only,issuing-certificates,crl-signing",
            "issuing_certificates": ["http://pki.example.com/ca"],
            "crl_distribution_points": "http://pki.example.com/crl",
            "ocsp_servers": ["http://ocsp.example.com"],
        },
    )
    assert up["issuer_id"] == iid and up["issuer_name"] == new_name
    assert up["leaf_not_after_behavior"] == "truncate"
    assert up["usage"] == "crl-signing,issuing-certificates,read-only"
    assert up["issuing_certificates"] == ["http://pki.example.com/ca"]
    assert up["crl_distribution_points"] == ["http://pki.example.com/crl"]
    assert up["ocsp_servers"] == ["http://ocsp.example.com"]
    # the old name no longer resolves; the new one does
    assert fresh_pki.get("issuer/upd").status in missing_ref()
    read = fresh_pki.ok("GET", f"issuer/{new_name}")
    assert read["issuer_id"] == iid and read["leaf_not_after_behavior"] == "truncate"
    assert read["issuing_certificates"] == ["http://pki.example.com/ca"]

    # the AIA URLs of the issuer end up in the certificates it issues
    fresh_pki.role("any", allow_any_name=True, key_type="ec")
    leaf = load_cert(fresh_pki.issue("any", common_name="svc.example.com", ttl="1h")["certificate"])
    aia = ext_value(leaf, x509.AuthorityInformationAccess)
    assert aia is not None
    by_method = {(a.access_method.dotted_string, a.access_location.value) for a in aia}
    assert ("1.3.6.1.5.5.7.48.2", "http://pki.example.com/ca") in by_method  # caIssuers
    assert ("1.3.6.1.5.5.7.48.1", "http://ocsp.example.com") in by_method  # OCSP
    cdp = ext_value(leaf, x509.CRLDistributionPoints)
    assert cdp is not None
    assert [n.value for dp in cdp for n in dp.full_name] == ["http://pki.example.com/crl"]

    # PATCH (merge-patch) changes only the given field
    r = fresh_pki.api.request(
        "PATCH",
        f"{fresh_pki.path}issuer/{new_name}",
        {"leaf_not_after_behavior": "permit"},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert r.status == 200, r
    assert r.data["leaf_not_after_behavior"] == "permit"
    assert r.data["issuer_name"] == new_name
    assert r.data["issuing_certificates"] == ["http://pki.example.com/ca"]


def test_issuer_usage_without_issuing_refuses_issuance(fresh_pki):
    fresh_pki.ok("POST", "root/generate/internal",
                 {"common_name": "Usage Root", "key_type": "ec", "issuer_name": "u"})
    fresh_pki.role("any", allow_any_name=True, key_type="ec")
    up = fresh_pki.ok("POST", "issuer/u", {"issuer_name": "u", "usage": ["read-only", "crl-signing"]})
    assert up["usage"] == "crl-signing,read-only"
    r = fresh_pki.post("issue/any", {"common_name": "a.example.com", "ttl": "1h"})
    assert_error(r, bad_input(), r"requested usage issuing-certificates .* but only had usage crl-signing,read-only")
    # usage back: issuance works again
    fresh_pki.ok("POST", "issuer/u", {"issuer_name": "u", "usage": "read-only,issuing-certificates,crl-signing"})
    fresh_pki.issue("any", common_name="a.example.com", ttl="1h")


@pytest.mark.parametrize(
    "body,pattern",
    [
        ({"leaf_not_after_behavior": "bogus"},
         r"Unknown value for field `leaf_not_after_behavior`. Possible values are `err`, `truncate`, and `permit`"),
        ({"usage": "bogus"}, r"Unable to parse specified usages: \[bogus\]"),
        ({"issuer_name": "default"}, r"reserved keyword 'default' can not be used as issuer name"),
    ],
    ids=["behaviour", "usage", "name-default"],
)
def test_issuer_update_bad_input(root_ca, body, pattern):
    payload = {"issuer_name": "root-x1"}
    payload.update(body)
    assert_error(root_ca.mount.post("issuer/default", payload), 400, pattern)
    # unchanged
    d = root_ca.mount.ok("GET", "issuer/default")
    assert d["issuer_name"] == "root-x1" and d["usage"] == ALL_USAGES


# ---------------------------------------------------------------- keys


def test_key_read(root_ca):
    m = root_ca.mount
    for ref in (root_ca.key_id, "root-key", "default"):
        k = m.ok("GET", f"key/{ref}")
        assert {"key_id", "key_name", "key_type"} <= set(k), sorted(k)
        assert k["key_id"] == root_ca.key_id
        assert k["key_name"] == "root-key"
        assert k["key_type"] == "rsa"
        assert "private_key" not in k
    ski = ext_value(root_ca.cert, x509.SubjectKeyIdentifier).digest
    k = m.ok("GET", "key/root-key")
    assert k["subject_key_id"] == ":".join(f"{b:02x}" for b in ski)
    assert_error(m.get("key/no-such-key"), missing_ref(), r"unable to find PKI key for reference: no-such-key")


def test_key_update_and_delete(fresh_pki, name):
    d = fresh_pki.ok("POST", "root/generate/internal",
                     {"common_name": "Key Root", "key_type": "ec", "key_name": "k1"})
    kid = d["key_id"]
    new = name("key")
    up = fresh_pki.ok("POST", "key/k1", {"key_name": new})
    assert up["key_id"] == kid and up["key_name"] == new and up["key_type"] == "ec"
    assert fresh_pki.ok("GET", f"key/{new}")["key_id"] == kid
    assert fresh_pki.get("key/k1").status in missing_ref()
    # in use by an issuer: refused, and the key stays
    r = fresh_pki.delete(f"key/{new}")
    assert_error(r, 400, rf"Key in Use by Issuer: {d['issuer_id']}")
    assert fresh_pki.ok("GET", f"key/{kid}")["key_name"] == new
    # an unused key can be deleted
    spare = fresh_pki.ok("POST", "keys/generate/internal", {"key_type": "ed25519", "key_name": "spare"})
    assert spare["key_type"] == "ed25519"
    r = fresh_pki.delete("key/spare")
    assert r.status in (200, 204), r
    assert fresh_pki.get(f"key/{spare['key_id']}").status in missing_ref()
    assert fresh_pki.ok("LIST", "keys")["keys"] == [kid]
    # once its issuer is gone the key can go too
    r = fresh_pki.delete(f"issuer/{d['issuer_id']}")
    assert r.status in (200, 204), r
    r = fresh_pki.delete(f"key/{kid}")
    assert r.status in (200, 204), r
    assert fresh_pki.list("keys").status == 404


def test_delete_default_issuer_clears_default(fresh_pki):
    a = fresh_pki.ok("POST", "root/generate/internal", {"common_name": "A", "key_type": "ec", "issuer_name": "a"})
    b = fresh_pki.ok("POST", "root/generate/internal", {"common_name": "B", "key_type": "ec", "issuer_name": "b"})
    assert fresh_pki.ok("GET", "config/issuers")["default"] == a["issuer_id"]
    r = fresh_pki.delete("issuer/a")
    assert r.status == 200, r
    assert any("default issuer" in w for w in (r.body.get("warnings") or [])), r
    assert fresh_pki.ok("GET", "config/issuers")["default"] == ""
    assert fresh_pki.ok("LIST", "issuers")["keys"] == [b["issuer_id"]]
    # no default issuer: cert/ca refuses, ca answers empty
    assert_error(fresh_pki.anon("GET", "cert/ca"), 400, r"no default issuer currently configured")
    # the key of the deleted issuer is still there
    assert fresh_pki.ok("GET", f"key/{a['key_id']}")["key_id"] == a["key_id"]


# ---------------------------------------------------------------- config/issuers, config/keys


def test_config_issuers_and_keys(fresh_pki):
    a = fresh_pki.ok("POST", "root/generate/internal", {"common_name": "A", "key_type": "ec", "issuer_name": "a", "key_name": "ka"})
    b = fresh_pki.ok("POST", "root/generate/internal", {"common_name": "B", "key_type": "ec", "issuer_name": "b", "key_name": "kb"})
    ci = fresh_pki.ok("GET", "config/issuers")
    assert ci == {"default": a["issuer_id"], "default_follows_latest_issuer": False}
    assert fresh_pki.ok("GET", "config/keys") == {"default": a["key_id"]}

    # set by name; the response carries the id
    r = fresh_pki.post("config/issuers", {"default": "b"})
    assert r.status in (200, 204), r
    if r.status == 200:
        assert r.data["default"] == b["issuer_id"]
    assert fresh_pki.ok("GET", "config/issuers")["default"] == b["issuer_id"]
    assert fresh_pki.ok("GET", "issuer/default")["issuer_id"] == b["issuer_id"]
    # the default issuer is what ca/pem serves
    pem = fresh_pki.raw("GET", "ca/pem")
    assert load_cert(pem.content) == load_cert(b["certificate"])
    # and what issue/ uses (role issuer_ref=default)
    fresh_pki.role("any", allow_any_name=True, key_type="ec")
    leaf = load_cert(fresh_pki.issue("any", common_name="x.example.com", ttl="1h")["certificate"])
    assert_signed_by(leaf, load_cert(b["certificate"]))

    r = fresh_pki.post("config/keys", {"default": "kb"})
    assert r.status in (200, 204), r
    assert fresh_pki.ok("GET", "config/keys")["default"] == b["key_id"]
    assert fresh_pki.ok("GET", "key/default")["key_id"] == b["key_id"]

    assert_error(fresh_pki.post("config/issuers", {"default": "nope"}), 400,
                 r"unable to find PKI issuer for reference: nope")
    assert_error(fresh_pki.post("config/keys", {"default": "nope"}), 400,
                 r"unable to find PKI key for reference: nope")
    assert fresh_pki.ok("GET", "config/issuers")["default"] == b["issuer_id"]


def test_default_follows_latest_issuer(fresh_pki):
    a = fresh_pki.ok("POST", "root/generate/internal", {"common_name": "A", "key_type": "ec"})
    # `default` must always be given (OpenBao: 400 without it)
    assert_error(fresh_pki.post("config/issuers", {"default_follows_latest_issuer": True}), 400,
                 r"Invalid issuer specification; must be non-empty and can't be 'default'")
    r = fresh_pki.post("config/issuers", {"default": a["issuer_id"], "default_follows_latest_issuer": True})
    assert r.status in (200, 204), r
    b = fresh_pki.ok("POST", "root/generate/internal", {"common_name": "B", "key_type": "ec"})
    ci = fresh_pki.ok("GET", "config/issuers")
    assert ci == {"default": b["issuer_id"], "default_follows_latest_issuer": True}


# ---------------------------------------------------------------- CA endpoints


def test_ca_endpoints_unauthenticated(root_ca):
    m = root_ca.mount
    der = m.raw("GET", "ca")
    assert der.status_code == 200
    assert der.headers["Content-Type"] == "application/pkix-cert"
    assert x509.load_der_x509_certificate(der.content) == root_ca.cert

    pem = m.raw("GET", "ca/pem")
    assert pem.status_code == 200
    assert pem.headers["Content-Type"] == "application/pem-certificate-chain"
    assert load_certs(pem.content) == [root_ca.cert]

    chain = m.raw("GET", "ca_chain")
    assert chain.status_code == 200
    # OpenBao labels this PEM chain application/pkix-cert
    assert chain.headers["Content-Type"] == "application/pkix-cert"
    assert load_certs(chain.content) == [root_ca.cert]

    js = m.anon("GET", "cert/ca")
    assert js.status == 200
    assert load_cert(js.data["certificate"]) == root_ca.cert
    assert js.data["revocation_time"] == 0

    cj = m.anon("GET", "cert/ca_chain")
    assert cj.status == 200
    assert load_certs(cj.data["ca_chain"]) == [root_ca.cert]

    raw = m.raw("GET", "cert/ca/raw")
    assert raw.status_code == 200 and raw.headers["Content-Type"] == "application/pkix-cert"
    assert x509.load_der_x509_certificate(raw.content) == root_ca.cert
    raw_pem = m.raw("GET", "cert/ca/raw/pem")
    assert raw_pem.status_code == 200
    assert raw_pem.headers["Content-Type"] == "application/pem-certificate-chain"
    assert load_cert(raw_pem.content) == root_ca.cert


def test_ca_endpoints_without_issuer(fresh_pki):
    for path, ctype in (("ca", "application/pkix-cert"), ("ca/pem", "application/pem-certificate-chain")):
        r = fresh_pki.raw("GET", path)
        assert r.status_code == 204, (path, r.status_code, r.content)
        assert r.content == b""
    assert_error(fresh_pki.anon("GET", "cert/ca"), 400, r"no default issuer currently configured")


def test_delete_root_removes_everything(fresh_pki):
    fresh_pki.ok("POST", "root/generate/internal", {"common_name": "Doomed", "key_type": "ec"})
    fresh_pki.ok("POST", "keys/generate/internal", {"key_type": "ec"})
    r = fresh_pki.delete("root")
    assert r.status in (200, 204), r
    assert fresh_pki.list("issuers").status == 404
    assert fresh_pki.list("keys").status == 404
    assert fresh_pki.ok("GET", "config/issuers")["default"] == ""
    assert fresh_pki.ok("GET", "config/keys")["default"] == ""
    assert fresh_pki.raw("GET", "ca").status_code == 204
    # and the mount works again afterwards
    d = fresh_pki.ok("POST", "root/generate/internal", {"common_name": "Reborn", "key_type": "ec"})
    assert fresh_pki.ok("GET", "config/issuers")["default"] == d["issuer_id"]


def test_root_der_format(fresh_pki):
    d = fresh_pki.ok("POST", "root/generate/exported",
                     {"common_name": "Der Root", "key_type": "ec", "format": "der"})
    cert = x509.load_der_x509_certificate(base64.b64decode(d["certificate"]))
    assert cn_of(cert.subject) == "Der Root"
    assert d["serial_number"] == serial_colon(cert.serial_number)
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_der_private_key(base64.b64decode(d["private_key"]), None)
    assert key_matches_cert(key, cert)


def test_root_pem_bundle_and_pkcs8(fresh_pki):
    d = fresh_pki.ok("POST", "root/generate/exported",
                     {"common_name": "Bundle Root", "key_type": "ec", "format": "pem_bundle",
                      "private_key_format": "pkcs8"})
    assert "-----BEGIN PRIVATE KEY-----" in d["private_key"]
    # pem_bundle: the certificate field holds the key and the certificate
    assert "-----BEGIN CERTIFICATE-----" in d["certificate"]
    assert "PRIVATE KEY-----" in d["certificate"]
    cert = load_certs(d["certificate"])[0]
    assert key_matches_cert(load_private_key(d["private_key"]), cert)
    assert datetime.timedelta(0) < cert.not_valid_after_utc - utcnow()


def test_root_generate_without_common_name(fresh_pki):
    """OpenBao accepts a root without a subject (the document says
    common_name is required): 200 and a warning."""
    r = fresh_pki.post("root/generate/internal", {"key_type": "ec"})
    assert r.status == 200, r
    cert = load_cert(r.data["certificate"])
    assert cn_of(cert.subject) is None and len(cert.subject) == 0
    assert any("without a Subject" in w for w in r.body.get("warnings") or []), r


def test_keys_import(fresh_pki):
    from pki_helpers import new_key, private_pem

    key = new_key("ec256")
    d = fresh_pki.ok("POST", "keys/import", {"pem_bundle": private_pem(key), "key_name": "imported"})
    assert {"key_id", "key_name", "key_type"} <= set(d)
    assert d["key_name"] == "imported" and d["key_type"] == "ec"
    root = fresh_pki.ok("POST", "root/generate/existing", {"common_name": "Imported Key Root", "key_ref": "imported"})
    assert key_matches_cert(key, load_cert(root["certificate"]))
    assert root["key_id"] == d["key_id"]
