"""Gaps: parameters the engine accepts but does not apply, or applies
differently from OpenBao 2.7.2 (role fields, issue/sign request fields,
sign-verbatim, issuer and key updates, CRL signature algorithm, delta CRL
distribution points). Each test encodes OpenBao's observed behaviour."""

from __future__ import annotations

import datetime
import json
import time

import pytest
import requests
from cryptography import x509
from cryptography.x509.oid import NameOID

from pki_helpers import (
    CLIENT_AUTH,
    assert_error,
    cn_of,
    eku_oids,
    ext_value,
    load_cert,
    make_csr,
    remaining_seconds,
    sans,
    utcnow,
)

UID = x509.ObjectIdentifier("0.9.2342.19200300.100.1.1")
DOM = {"allowed_domains": "example.com", "allow_subdomains": True}


def _warnings(r) -> list[str]:
    return list((r.body or {}).get("warnings") or [])


# ------------------------------------------------------------ roles


def test_role_patch_applies_to_the_next_issue(root, name):
    """PATCH roles/:name must take effect at once (a cached role must not
    survive the PATCH)."""
    role = name("r")
    root.role(role, allowed_domains="example.com", allow_subdomains=True, key_type="ec")
    root.issue(role, common_name="a.example.com")  # warm any cache
    r = requests.patch(
        f"{root.api.addr}/v1/{root.path}roles/{role}",
        headers={"X-Vault-Token": root.api.token, "Content-Type": "application/merge-patch+json"},
        data=json.dumps({"allowed_domains": ["other.com"]}),
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert_error(root.post(f"issue/{role}", {"common_name": "a.example.com"}), 400,
                 "common name a.example.com not allowed by this role")
    assert root.post(f"issue/{role}", {"common_name": "a.other.com"}).status == 200


def test_policy_identifiers_json_with_qualifiers(root, name):
    """`policy_identifiers` also takes a JSON list of {oid, cps, notice}
    (what Terraform's `policy_identifier` blocks send)."""
    role = name("r")
    policies = [
        {"oid": "1.3.6.1.4.1.7.8", "notice": "I am a user Notice"},
        {"oid": "1.3.6.1.4.1.32473.1.2.4", "cps": "https://example.com"},
    ]
    r = root.post(f"roles/{role}", {**DOM, "key_type": "ec", "policy_identifiers": json.dumps(policies)})
    assert r.status == 200, r
    assert len(r.data["policy_identifiers"]) == 2
    cert = load_cert(root.issue(role, common_name="a.example.com")["certificate"])
    cp = ext_value(cert, x509.CertificatePolicies)
    assert cp is not None
    by_oid = {p.policy_identifier.dotted_string: p.policy_qualifiers for p in cp}
    assert set(by_oid) == {"1.3.6.1.4.1.7.8", "1.3.6.1.4.1.32473.1.2.4"}
    notice = by_oid["1.3.6.1.4.1.7.8"][0]
    assert isinstance(notice, x509.UserNotice) and notice.explicit_text == "I am a user Notice"
    assert by_oid["1.3.6.1.4.1.32473.1.2.4"] == ["https://example.com"]


def test_subject_serial_number_refused_without_allowed_serial_numbers(root, name):
    """An empty `allowed_serial_numbers` forbids a requested subject serial."""
    role = name("r")
    root.role(role, **DOM, key_type="ec")
    assert_error(root.post(f"issue/{role}", {"common_name": "a.example.com", "serial_number": "123"}),
                 400, "serial_number 123 not allowed by this role")
    role2 = name("r")
    root.role(role2, **DOM, key_type="ec", allowed_serial_numbers="12*")
    cert = load_cert(root.issue(role2, common_name="a.example.com", serial_number="123")["certificate"])
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)] == ["123"]


def test_user_ids_checked_and_written_as_uid(root, name):
    role = name("r")
    root.role(role, **DOM, key_type="ec", allowed_user_ids="alice,bob*")
    cert = load_cert(root.issue(role, common_name="a.example.com", user_ids="alice,bobby")["certificate"])
    assert [a.value for a in cert.subject.get_attributes_for_oid(UID)] == ["alice", "bobby"]
    assert_error(root.post(f"issue/{role}", {"common_name": "a.example.com", "user_ids": "carol"}),
                 400, "user_id carol is not allowed by this role")
    plain = name("r")
    root.role(plain, **DOM, key_type="ec")
    assert_error(root.post(f"issue/{plain}", {"common_name": "a.example.com", "user_ids": "carol"}),
                 400, "user_id carol is not allowed by this role")
    anyone = name("r")
    root.role(anyone, **DOM, key_type="ec", allowed_user_ids="*")
    csr, _ = make_csr("s.example.com")
    cert = load_cert(root.ok("POST", f"sign/{anyone}", {"csr": csr, "user_ids": ["x y"]})["certificate"])
    assert [a.value for a in cert.subject.get_attributes_for_oid(UID)] == ["x y"]


def test_issue_key_type_and_bits_for_any_role(root, name):
    role = name("r")
    root.role(role, **DOM, key_type="any")
    assert_error(root.post(f"issue/{role}", {"common_name": "a.example.com"}), 400,
                 'role key type "any" not allowed for issuing certificates without providing key_type')
    d = root.issue(role, common_name="a.example.com", key_type="ec", key_bits=384)
    assert d["private_key_type"] == "ec"
    assert load_cert(d["certificate"]).public_key().curve.name == "secp384r1"
    # a role with a fixed type ignores the request's key_type/key_bits
    fixed = name("r")
    root.role(fixed, **DOM, key_type="ec")
    d = root.issue(fixed, common_name="a.example.com", key_type="rsa", key_bits=4096)
    assert d["private_key_type"] == "ec"


@pytest.mark.coffer_gap("generate_lease: engines cannot create leases (the host has no lease manager for engines yet)")
def test_generate_lease_gives_a_revocable_lease(root, name):
    role = name("r")
    root.role(role, **DOM, key_type="ec", generate_lease=True, ttl="1h")
    r = root.post(f"issue/{role}", {"common_name": "a.example.com"})
    assert r.status == 200, r
    lease = r.body["lease_id"]
    assert lease.startswith(f"{root.path}issue/{role}/"), lease
    assert 3500 <= r.body["lease_duration"] <= 3600
    assert r.body["renewable"] is False
    serial = r.data["serial_number"]
    csr, _ = make_csr("b.example.com")
    s = root.post(f"sign/{role}", {"csr": csr})
    assert s.body["lease_id"].startswith(f"{root.path}sign/{role}/"), s
    assert root.api.put("sys/leases/revoke", {"lease_id": lease}).status in (200, 204)
    deadline = time.time() + 10
    while time.time() < deadline:
        if root.get(f"cert/{serial}").data["revocation_time"]:
            break
        time.sleep(0.2)
    assert root.get(f"cert/{serial}").data["revocation_time"] > 0, "revoking the lease revokes the cert"
    # no_store implies generate_lease=false
    ns = name("r")
    root.role(ns, **DOM, key_type="ec", generate_lease=True, no_store=True)
    assert root.get(f"roles/{ns}").data["generate_lease"] is False
    assert root.post(f"issue/{ns}", {"common_name": "a.example.com"}).body["lease_id"] == ""


# ------------------------------------------------------------ validity


def test_request_not_before(root, name):
    role = name("r")
    root.role(role, **DOM, key_type="ec")
    d = root.issue(role, common_name="a.example.com", not_before="2025-06-01T00:00:00Z", ttl="1h")
    cert = load_cert(d["certificate"])
    assert cert.not_valid_before_utc.isoformat() == "2025-06-01T00:00:00+00:00"
    assert abs(remaining_seconds(cert) - 3600) < 120


def test_role_not_before(root, name):
    role = name("r")
    root.role(role, **DOM, key_type="ec", not_before="2025-01-01T00:00:00Z")
    cert = load_cert(root.issue(role, common_name="a.example.com")["certificate"])
    assert cert.not_valid_before_utc.isoformat() == "2025-01-01T00:00:00+00:00"


def test_not_before_and_not_after_bounds(root, name):
    r = root.post(f"roles/{name('r')}", {**DOM, "not_before_bound": "bogus"})
    assert_error(r, 400, "Unknown value for field `not_before_bound`")
    r = root.post(f"roles/{name('r')}", {**DOM, "not_after_bound": "bogus"})
    assert_error(r, 400, "Unknown value for field `not_after_bound`")

    nbf = name("r")
    root.role(nbf, **DOM, key_type="ec", not_before_bound="forbid")
    assert_error(root.post(f"issue/{nbf}", {"common_name": "a.example.com",
                                            "not_before": "2027-01-01T00:00:00Z"}),
                 400, "not_before_bound is set to forbid")
    naf = name("r")
    root.role(naf, **DOM, key_type="ec", not_after_bound="forbid")
    assert_error(root.post(f"issue/{naf}", {"common_name": "a.example.com",
                                            "not_after": "2027-01-01T00:00:00Z"}),
                 400, "not_after_bound is set to forbid")
    assert root.post(f"issue/{naf}", {"common_name": "a.example.com", "ttl": "1h"}).status == 200

    limited = name("r")
    root.role(limited, **DOM, key_type="ec", not_after_bound="ttl-limited", ttl="2h", max_ttl="3h")
    far = root.post(f"issue/{limited}", {"common_name": "a.example.com",
                                         "not_after": (utcnow().replace(microsecond=0)
                                                       + datetime.timedelta(days=30))
                                         .strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert_error(far, 400, "not_after_bound is set to ttl-limited")

    stamp = (utcnow() + datetime.timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    explicit = name("r")
    root.role(explicit, **DOM, key_type="ec", not_after_bound=stamp)
    assert root.get(f"roles/{explicit}").data["not_after_bound"] == stamp
    assert_error(root.post(f"issue/{explicit}", {"common_name": "a.example.com", "ttl": "720h"}),
                 400, f"not_after_bound is set to {stamp}")


def test_role_not_after_with_request_ttl_is_refused(root, name):
    role = name("r")
    stamp = (utcnow() + datetime.timedelta(days=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    root.role(role, **DOM, key_type="ec", not_after=stamp)
    assert_error(root.post(f"issue/{role}", {"common_name": "a.example.com", "ttl": "1h"}), 400,
                 "Either ttl or not_after should be provided")


# ------------------------------------------------------------ sign, sign-verbatim


def test_sign_use_csr_sans_ignores_request_sans(root, name):
    """With use_csr_sans (default) and use_csr_common_name, the CSR's names
    are used instead of the request's: request alt_names/ip_sans are not
    added."""
    role = name("r")
    root.role(role, **DOM, key_type="any")
    csr, _ = make_csr("a.example.com", dns=["b.example.com"])
    d = root.ok("POST", f"sign/{role}", {"csr": csr, "common_name": "x.example.com",
                                          "alt_names": "c.example.com", "ip_sans": "10.0.0.1"})
    cert = load_cert(d["certificate"])
    assert cn_of(cert.subject) == "a.example.com"
    s = sans(cert)
    assert sorted(s["dns"]) == ["a.example.com", "b.example.com"]
    assert s["ip"] == []
    # a CSR with no names: the request's CN is used, its alt_names are not
    bare, _ = make_csr(None)
    cert = load_cert(root.ok("POST", f"sign/{role}", {"csr": bare, "common_name": "x.example.com",
                                                       "alt_names": "c.example.com"})["certificate"])
    assert cn_of(cert.subject) == "x.example.com"
    assert sans(cert)["dns"] == ["x.example.com"]


def test_sign_verbatim_keeps_the_csr_key_usage(root):
    """`key_usage`/`ext_key_usage` are defaults used only when the CSR has
    none of its own."""
    ku = x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                       data_encipherment=False, key_agreement=False, key_cert_sign=False,
                       crl_sign=False, encipher_only=False, decipher_only=False)
    eku = x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH])
    csr, _ = make_csr("v.example.com", dns=["v.example.com"], extra_exts=[(ku, True), (eku, False)])
    d = root.ok("POST", "sign-verbatim", {"csr": csr, "key_usage": "KeyEncipherment",
                                           "ext_key_usage": "ServerAuth"})
    cert = load_cert(d["certificate"])
    got = ext_value(cert, x509.KeyUsage)
    assert got.digital_signature and got.content_commitment and not got.key_encipherment
    assert eku_oids(cert) == [CLIENT_AUTH]
    assert len([e for e in cert.extensions if e.oid == x509.oid.ExtensionOID.KEY_USAGE]) == 1


def test_sign_verbatim_role_not_before_duration(root, name):
    role = name("r")
    root.role(role, allowed_domains="unrelated.com", not_before_duration="2h", ttl="3h", max_ttl="4h")
    csr, _ = make_csr("v.example.com")
    cert = load_cert(root.ok("POST", f"sign-verbatim/{role}", {"csr": csr})["certificate"])
    backdate = (utcnow() - cert.not_valid_before_utc).total_seconds()
    assert abs(backdate - 7200) < 120, backdate
    assert abs(remaining_seconds(cert) - 3 * 3600) < 120


def test_sign_intermediate_warns_without_aia(fresh_pki):
    fresh_pki.ok("POST", "root/generate/internal", {"common_name": "r", "key_type": "ec", "ttl": "8760h"})
    csr, _ = make_csr("sub")
    r = fresh_pki.post("root/sign-intermediate", {"csr": csr, "common_name": "sub", "ttl": "1h"})
    assert r.status == 200, r
    assert any("authority information access (AIA)" in w for w in _warnings(r)), r.body


# ------------------------------------------------------------ issuers, keys, URLs


def test_revocation_signature_algorithm_is_checked_and_used(fresh_pki):
    m = fresh_pki
    m.ok("POST", "root/generate/internal", {"common_name": "r", "key_type": "rsa", "issuer_name": "r"})
    r = m.post("issuer/r", {"issuer_name": "r", "revocation_signature_algorithm": "bogus"})
    assert_error(r, 400, "Unknown signature algorithm value")
    d = m.ok("POST", "issuer/r", {"issuer_name": "r", "revocation_signature_algorithm": "SHA512WithRSA"})
    assert d["revocation_signature_algorithm"] == "SHA512WithRSA"
    assert m.get("crl/rotate").status == 200
    crl = x509.load_der_x509_crl(m.raw("GET", "crl").content)
    assert crl.signature_algorithm_oid.dotted_string == "1.2.840.113549.1.1.13"  # sha512WithRSA
    m.ok("POST", "issuer/r", {"issuer_name": "r", "revocation_signature_algorithm": "SHA256WithRSAPSS"})
    assert m.get("crl/rotate").status == 200
    crl = x509.load_der_x509_crl(m.raw("GET", "crl").content)
    assert crl.signature_algorithm_oid.dotted_string == "1.2.840.113549.1.1.10"  # RSASSA-PSS


def test_delta_crl_distribution_points_go_into_freshest_crl(fresh_pki, name):
    m = fresh_pki
    m.ok("POST", "root/generate/internal", {"common_name": "r", "key_type": "ec", "ttl": "8760h"})
    r = m.post("config/urls", {"crl_distribution_points": "http://x/crl",
                               "delta_crl_distribution_points": "http://x/delta"})
    assert r.status in (200, 204), r
    role = name("r")
    m.role(role, **DOM, key_type="ec")
    cert = load_cert(m.issue(role, common_name="a.example.com")["certificate"])
    fresh = ext_value(cert, x509.FreshestCRL)
    assert fresh is not None, "no FreshestCRL extension"
    assert [n.value for dp in fresh for n in dp.full_name] == ["http://x/delta"]


def test_issuer_post_resets_aia_urls(fresh_pki):
    m = fresh_pki
    m.ok("POST", "root/generate/internal", {"common_name": "r", "key_type": "ec", "issuer_name": "r"})
    d = m.ok("POST", "issuer/r", {"issuer_name": "r", "issuing_certificates": "http://a/ca"})
    assert d["issuing_certificates"] == ["http://a/ca"]
    d = m.ok("POST", "issuer/r", {"issuer_name": "r"})
    assert d["issuing_certificates"] == []


def test_key_post_resets_key_name(fresh_pki):
    m = fresh_pki
    k = m.ok("POST", "keys/generate/internal", {"key_type": "ec", "key_name": "kk"})
    d = m.ok("POST", f"key/{k['key_id']}", {})
    assert d["key_name"] == ""
    assert m.get(f"key/{k['key_id']}").data["key_name"] == ""


@pytest.mark.coffer_gap("P-224: the host's key types are P-256/384/521 (issue #12 lists those only)")
def test_ec_p224_keys(fresh_pki, name):
    """The document lists EC 224 among key_bits; OpenBao generates P-224."""
    m = fresh_pki
    assert m.post("keys/generate/internal", {"key_type": "ec", "key_bits": 224}).status == 200
    m.ok("POST", "root/generate/internal", {"common_name": "r", "key_type": "ec", "ttl": "8760h"})
    role = name("r")
    m.role(role, **DOM, key_type="ec", key_bits=224)
    cert = load_cert(m.issue(role, common_name="a.example.com")["certificate"])
    assert cert.public_key().curve.name == "secp224r1"


@pytest.mark.coffer_gap("RSA CSRs other than 2048/3072/4096 bits: the host imports only those sizes")
def test_sign_accepts_rsa_csr_of_other_sizes(root, name):
    """key_type any (and rsa with key_bits 2048 as a minimum) accepts any
    RSA size of 2048 bits or more, e.g. 2560."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2560)
    csr, _ = make_csr("a.example.com", key=key)
    for kt in ("any", "rsa"):
        role = name("r")
        root.role(role, **DOM, key_type=kt)
        cert = load_cert(root.ok("POST", f"sign/{role}", {"csr": csr})["certificate"])
        assert cert.public_key().key_size == 2560
