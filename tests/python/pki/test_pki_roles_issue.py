"""Roles (CRUD, defaults, LIST) and issue/:role: name policy
(allowed_domains with bare/subdomain/glob/localhost/any-name, enforce
hostnames), SANs (alt, IP, URI), TTLs, key types, output formats, EKU/KU
flags, subject fields and no_store. Each issued certificate is verified with
`openssl verify -CAfile root` and parsed with `cryptography`."""

from __future__ import annotations

import base64

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from pki_helpers import (
    CLIENT_AUTH,
    CODE_SIGNING,
    EMAIL_PROTECTION,
    SERVER_AUTH,
    assert_error,
    assert_openssl_verifies,
    assert_signed_by,
    cn_of,
    eku_oids,
    ext_value,
    key_matches_cert,
    load_cert,
    load_certs,
    load_private_key,
    sans,
    serial_colon,
    utcnow,
)

# What OpenBao answers for a role created with only `allowed_domains`.
ROLE_DEFAULTS = {
    "allow_any_name": False,
    "allow_bare_domains": False,
    "allow_glob_domains": False,
    "allow_globs_in_identity_templates": False,
    "allow_ip_sans": True,
    "allow_localhost": True,
    "allow_subdomains": False,
    "allow_token_displayname": False,
    "allow_wildcard_certificates": True,
    "allowed_domains": ["example.com"],
    "allowed_domains_template": False,
    "allowed_ip_sans_cidr": [],
    "allowed_other_sans": [],
    "allowed_serial_numbers": [],
    "allowed_uri_sans": [],
    "allowed_uri_sans_template": False,
    "allowed_user_ids": [],
    "basic_constraints_valid_for_non_ca": False,
    "client_flag": True,
    "cn_validations": ["email", "hostname"],
    "code_signing_flag": False,
    "country": [],
    "email_protection_flag": False,
    "enforce_hostnames": True,
    "ext_key_usage": [],
    "ext_key_usage_oids": [],
    "generate_lease": False,
    "issuer_ref": "default",
    "key_bits": 2048,
    "key_type": "rsa",
    "key_usage": ["DigitalSignature", "KeyAgreement", "KeyEncipherment"],
    "locality": [],
    "max_ttl": 0,
    "no_store": False,
    "not_after": "",
    "not_after_bound": "permit",
    "not_before": "",
    "not_before_bound": "permit",
    "not_before_duration": 30,
    "organization": [],
    "ou": [],
    "policy_identifiers": [],
    "postal_code": [],
    "province": [],
    "require_cn": True,
    "server_flag": True,
    "signature_bits": 0,
    "street_address": [],
    "ttl": 0,
    "use_csr_common_name": True,
    "use_csr_sans": True,
    "use_pss": False,
}
ISSUE_FIELDS = {
    "ca_chain",
    "certificate",
    "expiration",
    "issuing_ca",
    "not_before",
    "private_key",
    "private_key_type",
    "serial_number",
}


def check_leaf(root_ca, d: dict) -> x509.Certificate:
    """Common checks of an issue/ answer from the session root."""
    cert = load_cert(d["certificate"])
    assert_openssl_verifies(d["certificate"], root_ca.pem)
    assert_signed_by(cert, root_ca.cert)
    assert d["serial_number"] == serial_colon(cert.serial_number)
    bc = ext_value(cert, x509.BasicConstraints)
    assert bc is None or bc.ca is False
    return cert


def role_name(name, prefix="r"):
    return name(prefix)


# ---------------------------------------------------------------- roles CRUD


def test_role_defaults(root, name):
    n = role_name(name)
    r = root.post(f"roles/{n}", {"allowed_domains": "example.com"})
    assert r.status == 200, r
    for data in (r.data, root.ok("GET", f"roles/{n}")):
        missing = set(ROLE_DEFAULTS) - set(data)
        assert not missing, f"fields missing from the role: {sorted(missing)}"
        wrong = {k: (data[k], v) for k, v in ROLE_DEFAULTS.items() if data[k] != v}
        assert not wrong, f"(got, expected): {wrong}"


def test_role_ttls_read_back_as_seconds(root, name):
    n = role_name(name)
    root.role(n, allowed_domains=["example.com"], ttl="1h", max_ttl="2h30m", key_type="ec")
    d = root.ok("GET", f"roles/{n}")
    assert d["ttl"] == 3600 and d["max_ttl"] == 9000
    assert d["key_type"] == "ec" and d["key_bits"] == 256


def test_role_list_overwrite_patch_delete(root, name):
    a, b = role_name(name, "la"), role_name(name, "lb")
    root.role(a, allowed_domains=["example.com"], allow_subdomains=True, organization="Org A")
    root.role(b, allow_any_name=True)
    keys = root.ok("LIST", "roles")["keys"]
    assert a in keys and b in keys
    # POST again overwrites: fields not given return to their defaults
    root.role(a, allowed_domains=["example.org"])
    d = root.ok("GET", f"roles/{a}")
    assert d["allowed_domains"] == ["example.org"]
    assert d["allow_subdomains"] is False and d["organization"] == []
    # PATCH (merge-patch) changes only what is given
    r = root.api.request(
        "PATCH", f"{root.path}roles/{a}", {"allow_subdomains": True},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert r.status == 200, r
    d = root.ok("GET", f"roles/{a}")
    assert d["allow_subdomains"] is True and d["allowed_domains"] == ["example.org"]
    # delete
    r = root.delete(f"roles/{b}")
    assert r.status == 204, r
    r = root.get(f"roles/{b}")
    assert r.status == 404 and r.errors == [], r
    assert b not in root.ok("LIST", "roles")["keys"]
    # deleting a missing role is not an error
    assert root.delete(f"roles/{b}").status == 204


def test_role_bad_input(root, name):
    n = role_name(name)
    assert_error(root.post(f"roles/{n}", {"key_type": "dsa"}), 400, r"dsa")
    assert_error(root.post(f"roles/{n}", {"key_type": "rsa", "key_bits": 1024}), 400, r"1024")
    assert_error(root.post(f"roles/{n}", {"ttl": "bogus"}), 400)
    assert root.get(f"roles/{n}").status == 404


# ---------------------------------------------------------------- issue


def test_issue_basic_fields_and_chain(root_ca, name):
    root = root_ca.mount
    n = role_name(name)
    root.role(n, allowed_domains=["example.com"], allow_subdomains=True, key_type="rsa", key_bits=2048)
    r = root.post(f"issue/{n}", {"common_name": "www.example.com", "ttl": "1h"})
    assert r.status == 200, r
    d = r.data
    assert ISSUE_FIELDS <= set(d), sorted(d)
    cert = check_leaf(root_ca, d)
    assert cn_of(cert.subject) == "www.example.com"
    assert sans(cert)["dns"] == ["www.example.com"]
    assert d["private_key_type"] == "rsa"
    assert d["private_key"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    key = load_private_key(d["private_key"])
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    assert key_matches_cert(key, cert)
    assert load_cert(d["issuing_ca"]) == root_ca.cert
    assert [load_cert(c) for c in d["ca_chain"]] == [root_ca.cert]
    assert d["expiration"] == int(cert.not_valid_after_utc.timestamp())
    assert d["not_before"] == int(cert.not_valid_before_utc.timestamp())
    # ttl=1h, backdated 30s
    life = (cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds()
    assert abs(life - 3630) <= 2, life
    # default flags: server + client auth; default key usage
    assert set(eku_oids(cert)) == {SERVER_AUTH, CLIENT_AUTH}
    ku = ext_value(cert, x509.KeyUsage)
    assert ku.digital_signature and ku.key_encipherment and ku.key_agreement
    assert not ku.key_cert_sign and not ku.crl_sign
    # AKI of the leaf = SKI of the root
    aki = ext_value(cert, x509.AuthorityKeyIdentifier)
    assert aki.key_identifier == ext_value(root_ca.cert, x509.SubjectKeyIdentifier).digest
    # two issuances: two distinct serials
    d2 = root.issue(n, common_name="www.example.com", ttl="1h")
    assert d2["serial_number"] != d["serial_number"]


@pytest.mark.parametrize(
    "role,cn,allowed",
    [
        ({"allowed_domains": ["example.com"], "allow_subdomains": True}, "www.example.com", True),
        ({"allowed_domains": ["example.com"], "allow_subdomains": True}, "a.b.example.com", True),
        ({"allowed_domains": ["example.com"], "allow_subdomains": True}, "*.example.com", True),
        ({"allowed_domains": ["example.com"], "allow_subdomains": True}, "example.com", False),
        ({"allowed_domains": ["example.com"], "allow_subdomains": True}, "www.example.org", False),
        ({"allowed_domains": ["example.com"], "allow_subdomains": True}, "wwwexample.com", False),
        ({"allowed_domains": ["example.com"], "allow_bare_domains": True}, "example.com", True),
        ({"allowed_domains": ["example.com"], "allow_bare_domains": True}, "www.example.com", False),
        ({"allowed_domains": ["ftp*.example.com"], "allow_glob_domains": True}, "ftp1.example.com", True),
        ({"allowed_domains": ["ftp*.example.com"], "allow_glob_domains": True}, "web.example.com", False),
        ({"allowed_domains": ["*.example.com"], "allow_glob_domains": True}, "a.b.example.com", True),
        ({"allowed_domains": ["example.com"]}, "localhost", True),
        ({"allowed_domains": ["example.com"], "allow_localhost": False}, "localhost", False),
        ({"allow_any_name": True}, "anything.example.net", True),
        ({"allow_any_name": True}, "not a hostname", False),
        ({"allow_any_name": True, "enforce_hostnames": False}, "bad_host_name.example.net", True),
        ({"allow_any_name": True}, "bad_host_name.example.net", False),
        ({"allowed_domains": ["example.com"], "allow_subdomains": True,
          "allow_wildcard_certificates": False}, "*.example.com", False),
    ],
    ids=[
        "sub-ok", "sub-deep", "sub-wildcard", "sub-bare-denied", "sub-other-denied",
        "sub-suffix-trick", "bare-ok", "bare-sub-denied", "glob-ok", "glob-denied", "glob-deep",
        "localhost-default", "localhost-denied", "any-name", "any-name-not-hostname",
        "enforce-off", "enforce-on", "wildcard-off",
    ],
)
def test_issue_name_policy(root_ca, name, role, cn, allowed):
    root = root_ca.mount
    n = role_name(name)
    root.role(n, key_type="ec", **role)
    r = root.post(f"issue/{n}", {"common_name": cn, "ttl": "1h"})
    if allowed:
        assert r.status == 200, r
        cert = check_leaf(root_ca, r.data)
        assert cn_of(cert.subject) == cn
    else:
        assert_error(r, 400, rf"common name {__import__('re').escape(cn)} not allowed by this role")


def test_issue_email_common_name(root_ca, name):
    root = root_ca.mount
    n = role_name(name)
    root.role(n, allowed_domains=["example.com"], allow_bare_domains=True, key_type="ec")
    d = root.issue(n, common_name="admin@example.com", ttl="1h")
    cert = check_leaf(root_ca, d)
    assert cn_of(cert.subject) == "admin@example.com"
    assert sans(cert)["email"] == ["admin@example.com"]
    assert sans(cert)["dns"] == []
    assert_error(root.post(f"issue/{n}", {"common_name": "admin@example.org", "ttl": "1h"}), 400,
                 r"not allowed by this role")


def test_issue_alt_names_ip_and_uri_sans(root_ca, name):
    root = root_ca.mount
    n = role_name(name)
    root.role(n, allowed_domains=["example.com"], allow_subdomains=True, allow_bare_domains=True,
              key_type="ec", allowed_uri_sans=["spiffe://example.com/*"])
    d = root.issue(
        n,
        common_name="www.example.com",
        alt_names="api.example.com,ops@example.com",
        ip_sans="192.0.2.7,2001:db8::1",
        uri_sans="spiffe://example.com/service/a",
        ttl="1h",
    )
    cert = check_leaf(root_ca, d)
    s = sans(cert)
    assert set(s["dns"]) == {"www.example.com", "api.example.com"}
    assert s["email"] == ["ops@example.com"]
    assert set(s["ip"]) == {"192.0.2.7", "2001:db8::1"}
    assert s["uri"] == ["spiffe://example.com/service/a"]

    assert_error(root.post(f"issue/{n}", {"common_name": "www.example.com", "alt_names": "bad.example.org"}),
                 400, r"subject alternate name bad.example.org not allowed by this role")
    assert_error(root.post(f"issue/{n}", {"common_name": "www.example.com", "alt_names": "ops@example.org"}),
                 400, r"email address ops@example.org not allowed by this role")
    assert_error(root.post(f"issue/{n}", {"common_name": "www.example.com", "ip_sans": "not-an-ip"}),
                 400, r'the value "not-an-ip" is not a valid IP address')
    assert_error(root.post(f"issue/{n}", {"common_name": "www.example.com", "uri_sans": "spiffe://other.org/x"}),
                 400, r"URI Subject Alternative Names were provided via the API which are not valid for this role")


def test_issue_ip_and_uri_sans_refused_by_role(root_ca, name):
    root = root_ca.mount
    n = role_name(name)
    root.role(n, allowed_domains=["example.com"], allow_subdomains=True, allow_ip_sans=False, key_type="ec")
    assert_error(root.post(f"issue/{n}", {"common_name": "www.example.com", "ip_sans": "10.1.2.3"}),
                 400, r"IP Subject Alternative Names are not allowed in this role")
    assert_error(root.post(f"issue/{n}", {"common_name": "www.example.com", "uri_sans": "spiffe://x/y"}),
                 400, r"URI Subject Alternative Names are not allowed in this role, but were provided via the API")


def test_issue_exclude_cn_from_sans(root_ca, name):
    root = root_ca.mount
    n = role_name(name)
    root.role(n, allowed_domains=["example.com"], allow_subdomains=True, key_type="ec")
    d = root.issue(n, common_name="www.example.com", alt_names="api.example.com",
                   exclude_cn_from_sans=True, ttl="1h")
    cert = check_leaf(root_ca, d)
    assert cn_of(cert.subject) == "www.example.com"
    assert sans(cert)["dns"] == ["api.example.com"]
    d = root.issue(n, common_name="www.example.com", exclude_cn_from_sans=True, ttl="1h")
    assert sans(check_leaf(root_ca, d))["dns"] == []


def test_issue_missing_cn_and_require_cn(root_ca, name):
    root = root_ca.mount
    n = role_name(name)
    root.role(n, allowed_domains=["example.com"], allow_subdomains=True, key_type="ec")
    assert_error(root.post(f"issue/{n}", {}), 400, r"the common_name field is required")
    m = role_name(name)
    root.role(m, allowed_domains=["example.com"], allow_subdomains=True, key_type="ec", require_cn=False)
    d = root.issue(m, alt_names="api.example.com", ttl="1h")
    cert = check_leaf(root_ca, d)
    assert cn_of(cert.subject) is None
    assert sans(cert)["dns"] == ["api.example.com"]


def test_issue_unknown_role(root):
    assert_error(root.post("issue/no-such-role", {"common_name": "www.example.com"}), 400,
                 r"unknown role: no-such-role")


def test_issue_ttls(root_ca, name):
    root = root_ca.mount
    n = role_name(name)
    root.role(n, allow_any_name=True, key_type="ec", ttl="1h", max_ttl="2h")
    # no ttl asked: the role's ttl
    cert = check_leaf(root_ca, root.issue(n, common_name="a.example.com"))
    assert abs((cert.not_valid_after_utc - utcnow()).total_seconds() - 3600) < 60
    # within max_ttl
    cert = check_leaf(root_ca, root.issue(n, common_name="a.example.com", ttl="90m"))
    assert abs((cert.not_valid_after_utc - utcnow()).total_seconds() - 5400) < 60
    # beyond max_ttl: capped to max_ttl, with a warning (not an error)
    r = root.post(f"issue/{n}", {"common_name": "a.example.com", "ttl": "3h"})
    assert r.status == 200, r
    cert = check_leaf(root_ca, r.data)
    assert abs((cert.not_valid_after_utc - utcnow()).total_seconds() - 7200) < 60
    assert any("maxTTL" in w or "max_ttl" in w for w in (r.body.get("warnings") or [])), r
    # beyond the CA's own notAfter: refused (leaf_not_after_behavior=err)
    m = role_name(name)
    root.role(m, allow_any_name=True, key_type="ec", max_ttl="87600h")
    assert_error(root.post(f"issue/{m}", {"common_name": "a.example.com", "ttl": "80000h"}), 400,
                 r"beyond the expiration of the CA certificate")
    # a bad duration
    assert_error(root.post(f"issue/{n}", {"common_name": "a.example.com", "ttl": "soon"}), 400)


def test_issue_not_after(root_ca, name):
    root = root_ca.mount
    n = role_name(name)
    root.role(n, allow_any_name=True, key_type="ec", max_ttl="8760h")
    target = (utcnow().replace(microsecond=0) + __import__("datetime").timedelta(days=10))
    d = root.issue(n, common_name="a.example.com", not_after=target.strftime("%Y-%m-%dT%H:%M:%SZ"))
    cert = check_leaf(root_ca, d)
    assert cert.not_valid_after_utc == target


@pytest.mark.parametrize(
    "key_type,key_bits,check,header",
    [
        ("rsa", 3072, lambda k: isinstance(k, rsa.RSAPrivateKey) and k.key_size == 3072, "RSA PRIVATE KEY"),
        ("ec", 256, lambda k: isinstance(k, ec.EllipticCurvePrivateKey) and k.curve.name == "secp256r1",
         "EC PRIVATE KEY"),
        ("ec", 384, lambda k: isinstance(k, ec.EllipticCurvePrivateKey) and k.curve.name == "secp384r1",
         "EC PRIVATE KEY"),
        ("ed25519", 0, lambda k: isinstance(k, ed25519.Ed25519PrivateKey), "PRIVATE KEY"),
    ],
    ids=["rsa3072", "ec256", "ec384", "ed25519"],
)
def test_issue_key_types(root_ca, name, key_type, key_bits, check, header):
    root = root_ca.mount
    n = role_name(name)
    root.role(n, allowed_domains=["example.com"], allow_subdomains=True, key_type=key_type, key_bits=key_bits)
    d = root.issue(n, common_name="k.example.com", ttl="1h")
    cert = check_leaf(root_ca, d)
    assert d["private_key_type"] == key_type
    assert d["private_key"].startswith(f"-----BEGIN {header}-----")
    key = load_private_key(d["private_key"])
    assert check(key)
    assert key_matches_cert(key, cert)


def test_issue_formats(root_ca, name):
    root = root_ca.mount
    n = role_name(name)
    root.role(n, allowed_domains=["example.com"], allow_subdomains=True, key_type="ec")
    # der: base64 DER in certificate, issuing_ca, ca_chain and private_key
    d = root.issue(n, common_name="der.example.com", format="der", ttl="1h")
    cert = x509.load_der_x509_certificate(base64.b64decode(d["certificate"]))
    assert cn_of(cert.subject) == "der.example.com"
    assert x509.load_der_x509_certificate(base64.b64decode(d["issuing_ca"])) == root_ca.cert
    assert [x509.load_der_x509_certificate(base64.b64decode(c)) for c in d["ca_chain"]] == [root_ca.cert]
    key = serialization.load_der_private_key(base64.b64decode(d["private_key"]), None)
    assert key_matches_cert(key, cert)
    assert d["serial_number"] == serial_colon(cert.serial_number)
    assert_signed_by(cert, root_ca.cert)

    # pem_bundle: certificate = private key + certificate + issuing CA
    d = root.issue(n, common_name="bundle.example.com", format="pem_bundle", ttl="1h")
    bundle = d["certificate"]
    assert bundle.lstrip().startswith("-----BEGIN EC PRIVATE KEY-----")
    certs = load_certs(bundle)
    assert cn_of(certs[0].subject) == "bundle.example.com"
    assert certs[1:] == [root_ca.cert]
    key = serialization.load_pem_private_key(bundle.encode(), None)
    assert key_matches_cert(key, certs[0])
    assert_openssl_verifies(bundle, root_ca.pem)

    # private_key_format=pkcs8
    d = root.issue(n, common_name="p8.example.com", private_key_format="pkcs8", ttl="1h")
    assert d["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert key_matches_cert(load_private_key(d["private_key"]), load_cert(d["certificate"]))
    d = root.issue(n, common_name="p8der.example.com", format="der", private_key_format="pkcs8", ttl="1h")
    key = serialization.load_der_private_key(base64.b64decode(d["private_key"]), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)

    assert_error(root.post(f"issue/{n}", {"common_name": "x.example.com", "format": "bogus"}), 400,
                 r'the "format" path parameter must be "pem", "der", or "pem_bundle"')


def test_issue_flags_and_key_usage(root_ca, name):
    root = root_ca.mount
    n = role_name(name)
    root.role(n, allow_any_name=True, key_type="ec", server_flag=False, client_flag=True)
    cert = check_leaf(root_ca, root.issue(n, common_name="client.example.com", ttl="1h"))
    assert eku_oids(cert) == [CLIENT_AUTH]

    m = role_name(name)
    root.role(
        m, allow_any_name=True, key_type="ec", server_flag=False, client_flag=False,
        code_signing_flag=True, email_protection_flag=True,
        ext_key_usage=["TimeStamping"], ext_key_usage_oids=["1.3.6.1.4.1.311.10.3.12"],
        key_usage=["DigitalSignature", "ContentCommitment"],
    )
    cert = check_leaf(root_ca, root.issue(m, common_name="signer.example.com", ttl="1h"))
    assert set(eku_oids(cert)) == {
        CODE_SIGNING, EMAIL_PROTECTION, "1.3.6.1.5.5.7.3.8", "1.3.6.1.4.1.311.10.3.12"
    }
    ku = ext_value(cert, x509.KeyUsage)
    assert ku.digital_signature and ku.content_commitment
    assert not ku.key_encipherment and not ku.key_agreement and not ku.key_cert_sign

    # no flags, no EKU list: no ExtendedKeyUsage extension at all
    o = role_name(name)
    root.role(o, allow_any_name=True, key_type="ec", server_flag=False, client_flag=False)
    cert = check_leaf(root_ca, root.issue(o, common_name="none.example.com", ttl="1h"))
    assert eku_oids(cert) == []


def test_issue_subject_fields(root_ca, name):
    root = root_ca.mount
    n = role_name(name)
    root.role(
        n, allowed_domains=["example.com"], allow_subdomains=True, key_type="ec",
        ou=["Eng", "Ops"], organization="Coffer Org", country="DE", locality="Berlin",
        province="BE", street_address="Main 1", postal_code="10115",
    )
    cert = check_leaf(root_ca, root.issue(n, common_name="subj.example.com", ttl="1h"))

    def attr(oid):
        return sorted(a.value for a in cert.subject.get_attributes_for_oid(oid))

    assert attr(NameOID.COMMON_NAME) == ["subj.example.com"]
    assert attr(NameOID.ORGANIZATIONAL_UNIT_NAME) == ["Eng", "Ops"]
    assert attr(NameOID.ORGANIZATION_NAME) == ["Coffer Org"]
    assert attr(NameOID.COUNTRY_NAME) == ["DE"]
    assert attr(NameOID.LOCALITY_NAME) == ["Berlin"]
    assert attr(NameOID.STATE_OR_PROVINCE_NAME) == ["BE"]
    assert attr(NameOID.STREET_ADDRESS) == ["Main 1"]
    assert attr(NameOID.POSTAL_CODE) == ["10115"]


def test_issue_stored_and_no_store(root_ca, name):
    root = root_ca.mount
    stored, unstored = role_name(name, "st"), role_name(name, "ns")
    root.role(stored, allow_any_name=True, key_type="ec")
    root.role(unstored, allow_any_name=True, key_type="ec", no_store=True)
    a = root.issue(stored, common_name="stored.example.com", ttl="1h")
    b = root.issue(unstored, common_name="unstored.example.com", ttl="1h")
    check_leaf(root_ca, b)
    listed = root.ok("LIST", "certs")["keys"]
    assert a["serial_number"] in listed
    assert b["serial_number"] not in listed
    got = root.anon("GET", f"cert/{a['serial_number']}")
    assert got.status == 200 and load_cert(got.data["certificate"]) == load_cert(a["certificate"])
    assert root.anon("GET", f"cert/{b['serial_number']}").status == 404
    assert_error(root.post("revoke", {"serial_number": b["serial_number"]}), 400,
                 rf"certificate with serial {b['serial_number']} not found")


def test_issue_with_path_selected_issuer(fresh_pki, name):
    a = fresh_pki.ok("POST", "root/generate/internal",
                     {"common_name": "Issuer A", "key_type": "ec", "issuer_name": "ia", "ttl": "8760h"})
    b = fresh_pki.ok("POST", "root/generate/internal",
                     {"common_name": "Issuer B", "key_type": "ec", "issuer_name": "ib", "ttl": "8760h"})
    ca_a, ca_b = load_cert(a["certificate"]), load_cert(b["certificate"])
    n = role_name(name)
    fresh_pki.role(n, allow_any_name=True, key_type="ec")
    # the role's issuer_ref (default -> A)
    leaf = load_cert(fresh_pki.issue(n, common_name="x.example.com", ttl="1h")["certificate"])
    assert_signed_by(leaf, ca_a)
    # the path's issuer
    d = fresh_pki.ok("POST", f"issuer/ib/issue/{n}", {"common_name": "x.example.com", "ttl": "1h"})
    leaf = load_cert(d["certificate"])
    assert_signed_by(leaf, ca_b)
    assert load_cert(d["issuing_ca"]) == ca_b
    assert_openssl_verifies(d["certificate"], b["certificate"])
    # a role pinned to B by issuer_ref
    m = role_name(name)
    fresh_pki.role(m, allow_any_name=True, key_type="ec", issuer_ref="ib")
    assert fresh_pki.ok("GET", f"roles/{m}")["issuer_ref"] == "ib"
    leaf = load_cert(fresh_pki.issue(m, common_name="y.example.com", ttl="1h")["certificate"])
    assert_signed_by(leaf, ca_b)


@pytest.mark.parametrize("behaviour", ["err", "truncate", "permit"])
def test_issue_leaf_not_after_behavior(fresh_pki, name, behaviour):
    d = fresh_pki.ok("POST", "root/generate/internal",
                     {"common_name": "Short Root", "key_type": "ec", "ttl": "2h", "issuer_name": "short"})
    ca = load_cert(d["certificate"])
    fresh_pki.ok("POST", "issuer/short", {"issuer_name": "short", "leaf_not_after_behavior": behaviour})
    n = role_name(name)
    fresh_pki.role(n, allow_any_name=True, key_type="ec", max_ttl="100h")
    r = fresh_pki.post(f"issue/{n}", {"common_name": "long.example.com", "ttl": "10h"})
    if behaviour == "err":
        assert_error(r, 400, r"beyond the expiration of the CA certificate")
        return
    assert r.status == 200, r
    leaf = load_cert(r.data["certificate"])
    assert_signed_by(leaf, ca)
    if behaviour == "truncate":
        assert leaf.not_valid_after_utc == ca.not_valid_after_utc
    else:
        assert abs((leaf.not_valid_after_utc - utcnow()).total_seconds() - 10 * 3600) < 60
        assert leaf.not_valid_after_utc > ca.not_valid_after_utc
