"""Issuing right after a configuration change uses the new configuration:
a changed role, a new default issuer, new AIA URLs, a deleted role. (Coffer
keeps roles and issuers in each engine instance between requests; these
tests fail if a change does not reach the next request.) Also run on
OpenBao."""

from __future__ import annotations

from cryptography import x509

from pki_helpers import assert_error, assert_signed_by, ext_value, load_cert


def test_issue_follows_role_issuer_and_url_changes(fresh_pki):
    m = fresh_pki
    a = m.ok("POST", "root/generate/internal", {"common_name": "Change A", "key_type": "ec", "issuer_name": "a"})
    m.role("r", allowed_domains="one.example", allow_subdomains=True, key_type="ec")
    first = load_cert(m.issue("r", common_name="x.one.example", ttl="1h")["certificate"])
    assert_signed_by(first, load_cert(a["certificate"]))
    assert ext_value(first, x509.AuthorityInformationAccess) is None

    # the role changes: the old domain is refused at once, the new one works
    m.role("r", allowed_domains="two.example", allow_subdomains=True, key_type="ec")
    assert_error(m.post("issue/r", {"common_name": "x.one.example"}), 400,
                 r"common name x.one.example not allowed by this role")
    m.issue("r", common_name="x.two.example", ttl="1h")

    # a new default issuer signs the next certificate
    b = m.ok("POST", "root/generate/internal", {"common_name": "Change B", "key_type": "ec", "issuer_name": "b"})
    assert m.post("config/issuers", {"default": "b"}).status in (200, 204)
    second = load_cert(m.issue("r", common_name="y.two.example", ttl="1h")["certificate"])
    assert_signed_by(second, load_cert(b["certificate"]))

    # mount URLs reach the next certificate
    assert m.post("config/urls", {"issuing_certificates": "http://ca.example/b"}).status in (200, 204)
    third = load_cert(m.issue("r", common_name="z.two.example", ttl="1h")["certificate"])
    aia = ext_value(third, x509.AuthorityInformationAccess)
    assert aia is not None and [d.access_location.value for d in aia] == ["http://ca.example/b"]

    # a deleted role is gone for the next request
    assert m.delete("roles/r").status in (200, 204)
    assert_error(m.post("issue/r", {"common_name": "z.two.example"}), 400, r"unknown role: r")
