"""Stored certificates (LIST certs, cert/:serial and its raw forms),
revocation (by serial, by certificate, twice, unknown), CRLs (every
endpoint, exact revoked serials, signature checked with `cryptography`
and `openssl crl -verify`), config/crl, crl/rotate and delta CRLs.

Tests that need an exact CRL use a throw-away mount with its own root."""

from __future__ import annotations

import datetime
import re

import pytest
from cryptography import x509

from pki_helpers import (
    assert_error,
    assert_signed_by,
    bad_input,
    cert_pem,
    load_cert,
    on_openbao,
    openssl_crl_verify,
    self_signed_ca,
    serial_colon,
    utcnow,
)

CONFIG_CRL_DEFAULTS = {
    "allow_expired_cert_revocation": False,
    "auto_rebuild": False,
    "auto_rebuild_grace_period": "12h",
    "delta_rebuild_interval": "15m",
    "disable": False,
    "enable_delta": False,
    "expiry": "72h",
    "ocsp_disable": False,
    "ocsp_expiry": "12h",
}


class CrlCA:
    """A throw-away mount with an EC root and a role `any`."""

    def __init__(self, mount):
        self.mount = mount
        d = mount.ok("POST", "root/generate/internal",
                     {"common_name": "CRL Test Root", "key_type": "ec", "ttl": "8760h", "issuer_name": "crl-root"})
        self.pem = d["certificate"]
        self.cert = load_cert(self.pem)
        self.issuer_id = d["issuer_id"]
        self.serial = d["serial_number"]
        mount.role("any", allow_any_name=True, key_type="ec")

    def issue(self, cn="leaf.example.com") -> dict:
        return self.mount.issue("any", common_name=cn, ttl="1h")

    def crl(self, path="crl") -> x509.CertificateRevocationList:
        r = self.mount.raw("GET", path)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        if r.content.lstrip().startswith(b"-----"):
            return x509.load_pem_x509_crl(r.content)
        return x509.load_der_x509_crl(r.content)


@pytest.fixture
def crl_ca(fresh_pki) -> CrlCA:
    return CrlCA(fresh_pki)


def revoked_serials(crl) -> set[str]:
    return {serial_colon(e.serial_number) for e in crl}


def assert_crl_valid(crl, ca_cert, ca_pem) -> None:
    assert_signed_by(crl, ca_cert)
    assert crl.is_signature_valid(ca_cert.public_key())
    from cryptography.hazmat.primitives import serialization

    ok, out = openssl_crl_verify(crl.public_bytes(serialization.Encoding.PEM), ca_pem)
    assert ok, out
    ok, out = openssl_crl_verify(crl.public_bytes(serialization.Encoding.DER), ca_pem)
    assert ok, out
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ca_cert.extensions.get_extension_for_class(
        x509.SubjectKeyIdentifier).value.digest


def crl_number(crl) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


# ---------------------------------------------------------------- stored certificates


def test_list_certs_and_read_cert(crl_ca):
    m = crl_ca.mount
    a, b = crl_ca.issue("a.example.com"), crl_ca.issue("b.example.com")
    listed = m.ok("LIST", "certs")["keys"]
    assert {a["serial_number"], b["serial_number"]} <= set(listed)
    # LIST certs needs a token
    assert_error(m.anon("LIST", "certs"), 403, r"permission denied")

    r = m.anon("GET", f"cert/{a['serial_number']}")
    assert r.status == 200, r
    assert {"certificate", "revocation_time"} <= set(r.data), sorted(r.data)
    assert load_cert(r.data["certificate"]) == load_cert(a["certificate"])
    assert r.data["revocation_time"] == 0
    assert r.data.get("revocation_time_rfc3339", "") == ""

    # hyphen-separated and upper-case serials name the same certificate
    for form in (a["serial_number"].replace(":", "-"), a["serial_number"].upper()):
        r = m.anon("GET", f"cert/{form}")
        assert r.status == 200 and load_cert(r.data["certificate"]) == load_cert(a["certificate"]), form

    raw = m.raw("GET", f"cert/{a['serial_number']}/raw")
    assert raw.status_code == 200
    assert raw.headers["Content-Type"] == "application/pkix-cert"
    assert x509.load_der_x509_certificate(raw.content) == load_cert(a["certificate"])
    raw_pem = m.raw("GET", f"cert/{a['serial_number'].replace(':', '-')}/raw/pem")
    assert raw_pem.status_code == 200
    assert raw_pem.headers["Content-Type"] == "application/pem-certificate-chain"
    assert load_cert(raw_pem.content) == load_cert(a["certificate"])


def test_read_unknown_cert(crl_ca):
    r = crl_ca.mount.anon("GET", "cert/11:22:33:44")
    assert r.status == 404, r
    raw = crl_ca.mount.raw("GET", "cert/11:22:33:44/raw")
    assert raw.status_code in ((204,) if on_openbao() else (204, 404))
    assert raw.content == b"" or raw.status_code == 404


# ---------------------------------------------------------------- revoke


def test_revoke_by_serial(crl_ca):
    m = crl_ca.mount
    a = crl_ca.issue()
    r = m.post("revoke", {"serial_number": a["serial_number"]})
    assert r.status == 200, r
    assert {"revocation_time", "revocation_time_rfc3339", "state"} <= set(r.data), sorted(r.data)
    assert r.data["state"] == "revoked"
    t = r.data["revocation_time"]
    assert isinstance(t, int) and abs(t - utcnow().timestamp()) < 600
    rfc = re.sub(r"\.\d+", "", r.data["revocation_time_rfc3339"]).replace("Z", "+00:00")
    parsed = datetime.datetime.fromisoformat(rfc)
    assert int(parsed.timestamp()) == t

    got = m.anon("GET", f"cert/{a['serial_number']}")
    assert got.data["revocation_time"] == t
    assert got.data["revocation_time_rfc3339"] == r.data["revocation_time_rfc3339"]
    assert got.data["issuer_id"] == crl_ca.issuer_id
    assert a["serial_number"] in m.ok("LIST", "certs/revoked")["keys"]

    # revoking again: 200, the first revocation time stays
    again = m.post("revoke", {"serial_number": a["serial_number"]})
    assert again.status == 200, again
    assert again.data["revocation_time"] == t

    crl = crl_ca.crl()
    assert revoked_serials(crl) == {a["serial_number"]}
    entry = next(iter(crl))
    assert int(entry.revocation_date_utc.timestamp()) == t


def test_revoke_by_certificate_and_hyphen_serial(crl_ca):
    m = crl_ca.mount
    a, b, c = crl_ca.issue("a.example.com"), crl_ca.issue("b.example.com"), crl_ca.issue("c.example.com")
    r = m.post("revoke", {"certificate": a["certificate"]})
    assert r.status == 200 and r.data["state"] == "revoked", r
    r = m.post("revoke", {"serial_number": b["serial_number"].replace(":", "-")})
    assert r.status == 200, r
    assert revoked_serials(crl_ca.crl()) == {a["serial_number"], b["serial_number"]}
    assert m.anon("GET", f"cert/{c['serial_number']}").data["revocation_time"] == 0
    # both at once: refused
    assert_error(m.post("revoke", {"certificate": c["certificate"], "serial_number": c["serial_number"]}), 400,
                 r"Must provide either the certificate or the serial to revoke; not both")


def test_revoke_bad_input(crl_ca):
    m = crl_ca.mount
    assert_error(m.post("revoke", {}), 400, r"The serial number or certificate to revoke must be provided")
    assert_error(m.post("revoke", {"serial_number": "11:22:33"}), 400, r"certificate with serial 11:22:33 not found")
    assert_error(m.post("revoke", {"certificate": "garbage"}), bad_input())
    # the CA's own certificate cannot go on its own CRL
    assert_error(m.post("revoke", {"serial_number": crl_ca.serial}), 400,
                 r"adding issuer \(id: .*\) to its own CRL is not allowed")
    # a certificate of another CA: refused
    other, _ = self_signed_ca("Foreign")
    assert_error(m.post("revoke", {"certificate": cert_pem(other)}), bad_input())
    assert revoked_serials(crl_ca.crl()) == set()


# ---------------------------------------------------------------- CRL endpoints


def test_crl_endpoints_agree_and_verify(crl_ca):
    m = crl_ca.mount
    a, b = crl_ca.issue("a.example.com"), crl_ca.issue("b.example.com")
    crl_ca.issue("kept.example.com")
    for s in (a, b):
        assert m.post("revoke", {"serial_number": s["serial_number"]}).status == 200
    expected = {a["serial_number"], b["serial_number"]}

    der = m.raw("GET", "crl")
    assert der.status_code == 200 and der.headers["Content-Type"] == "application/pkix-crl"
    pem = m.raw("GET", "crl/pem")
    assert pem.status_code == 200 and pem.headers["Content-Type"] == "application/x-pem-file"
    assert pem.text.startswith("-----BEGIN X509 CRL-----")
    crls = [x509.load_der_x509_crl(der.content), x509.load_pem_x509_crl(pem.content)]

    cj = m.anon("GET", "cert/crl")
    assert cj.status == 200
    crls.append(x509.load_pem_x509_crl(cj.data["certificate"].encode()))
    for ref in ("default", "crl-root", crl_ca.issuer_id):
        ij = m.anon("GET", f"issuer/{ref}/crl")
        assert ij.status == 200, ij
        crls.append(x509.load_pem_x509_crl(ij.data["crl"].encode()))
        d = m.raw("GET", f"issuer/{ref}/crl/der")
        assert d.status_code == 200 and d.headers["Content-Type"] == "application/pkix-crl"
        crls.append(x509.load_der_x509_crl(d.content))
        p = m.raw("GET", f"issuer/{ref}/crl/pem")
        assert p.status_code == 200 and p.headers["Content-Type"] == "application/x-pem-file"
        crls.append(x509.load_pem_x509_crl(p.content))

    first = crls[0]
    for crl in crls:
        assert crl == first  # one CRL, served in every form
        assert revoked_serials(crl) == expected
    assert first.issuer == crl_ca.cert.subject
    assert_crl_valid(first, crl_ca.cert, crl_ca.pem)
    # version 2 CRL with a number; default expiry 72h
    assert crl_number(first) >= 0
    life = (first.next_update_utc - first.last_update_utc).total_seconds()
    assert abs(life - 72 * 3600) < 60, life


def test_crl_of_intermediate_verifies_against_it(int_ca, root_ca, name):
    m = int_ca.mount
    n = name("rv")
    m.role(n, allow_any_name=True, key_type="ec")
    leaf = m.issue(n, common_name="revoked-int.example.com", ttl="1h")
    assert m.post("revoke", {"serial_number": leaf["serial_number"]}).status == 200
    crl = x509.load_der_x509_crl(m.raw("GET", "crl").content)
    assert leaf["serial_number"] in revoked_serials(crl)
    assert crl.issuer == int_ca.cert.subject
    assert_crl_valid(crl, int_ca.cert, int_ca.pem)
    # the root's CRL does not list it
    root_crl = x509.load_der_x509_crl(root_ca.mount.raw("GET", "crl").content)
    assert_crl_valid(root_crl, root_ca.cert, root_ca.pem)
    assert leaf["serial_number"] not in revoked_serials(root_crl)


def test_crl_rotate_increments_number(crl_ca):
    m = crl_ca.mount
    before = crl_ca.crl()
    r = m.get("crl/rotate")
    assert r.status == 200 and r.data == {"success": True}, r
    after = crl_ca.crl()
    assert crl_number(after) > crl_number(before)
    assert after.last_update_utc >= before.last_update_utc
    assert_crl_valid(after, crl_ca.cert, crl_ca.pem)


# ---------------------------------------------------------------- config/crl


def test_config_crl_defaults_and_update(crl_ca):
    m = crl_ca.mount
    d = m.ok("GET", "config/crl")
    wrong = {k: (d.get(k), v) for k, v in CONFIG_CRL_DEFAULTS.items() if d.get(k) != v}
    assert not wrong, f"(got, expected): {wrong}"

    r = m.post("config/crl", {"expiry": "48h"})
    assert r.status in (200, 204), r
    assert m.ok("GET", "config/crl")["expiry"] == "48h"
    m.get("crl/rotate")
    crl = crl_ca.crl()
    assert abs((crl.next_update_utc - crl.last_update_utc).total_seconds() - 48 * 3600) < 60

    assert_error(m.post("config/crl", {"expiry": "bogus"}), 400, r"given expiry could not be decoded")
    assert_error(m.post("config/crl", {"enable_delta": True, "auto_rebuild": False}), 400,
                 r"Delta CRLs cannot be enabled when auto rebuilding is disabled")
    assert m.ok("GET", "config/crl")["expiry"] == "48h"


def test_config_crl_disable(crl_ca):
    m = crl_ca.mount
    a = crl_ca.issue()
    m.post("revoke", {"serial_number": a["serial_number"]})
    assert revoked_serials(crl_ca.crl()) == {a["serial_number"]}
    r = m.post("config/crl", {"disable": True})
    assert r.status in (200, 204), r
    assert m.ok("GET", "config/crl")["disable"] is True
    # disabled: a signed but empty CRL
    crl = crl_ca.crl()
    assert revoked_serials(crl) == set()
    assert_crl_valid(crl, crl_ca.cert, crl_ca.pem)
    # revocations are still recorded ...
    b = crl_ca.issue()
    assert m.post("revoke", {"serial_number": b["serial_number"]}).status == 200
    assert m.anon("GET", f"cert/{b['serial_number']}").data["revocation_time"] > 0
    # ... and appear when the CRL is enabled again
    m.post("config/crl", {"disable": False})
    m.get("crl/rotate")
    assert revoked_serials(crl_ca.crl()) == {a["serial_number"], b["serial_number"]}


def test_auto_rebuild_and_delta_crl(crl_ca):
    m = crl_ca.mount
    r = m.post("config/crl", {"auto_rebuild": True, "enable_delta": True})
    assert r.status in (200, 204), r
    cfg = m.ok("GET", "config/crl")
    assert cfg["auto_rebuild"] is True and cfg["enable_delta"] is True
    a = crl_ca.issue("a.example.com")
    m.post("revoke", {"serial_number": a["serial_number"]})
    assert m.get("crl/rotate").status == 200
    full = crl_ca.crl()
    assert revoked_serials(full) == {a["serial_number"]}

    b = crl_ca.issue("b.example.com")
    m.post("revoke", {"serial_number": b["serial_number"]})
    r = m.get("crl/rotate-delta")
    assert r.status == 200, r
    delta_der = m.raw("GET", "crl/delta")
    assert delta_der.status_code == 200
    assert delta_der.headers["Content-Type"] == "application/pkix-crl"
    delta = x509.load_der_x509_crl(delta_der.content)
    ind = delta.extensions.get_extension_for_class(x509.DeltaCRLIndicator)
    assert ind.critical
    assert ind.value.crl_number == crl_number(full)
    # the delta lists what was revoked since the full CRL
    assert revoked_serials(delta) == {b["serial_number"]}
    assert_crl_valid(delta, crl_ca.cert, crl_ca.pem)
    delta_pem = m.raw("GET", "crl/delta/pem")
    assert delta_pem.status_code == 200
    assert delta_pem.headers["Content-Type"] == "application/x-pem-file"
    assert x509.load_pem_x509_crl(delta_pem.content) == delta
    ij = m.anon("GET", "issuer/default/crl/delta")
    assert ij.status == 200 and x509.load_pem_x509_crl(ij.data["crl"].encode()) == delta
    # a full rebuild takes both
    m.get("crl/rotate")
    assert revoked_serials(crl_ca.crl()) == {a["serial_number"], b["serial_number"]}


def test_revoked_leaf_fails_openssl_crl_check(crl_ca):
    """openssl verify -crl_check with the server's CRL refuses a revoked leaf
    and accepts a valid one."""
    from cryptography.hazmat.primitives import serialization

    from pki_helpers import openssl_verify

    m = crl_ca.mount
    good, bad = crl_ca.issue("good.example.com"), crl_ca.issue("bad.example.com")
    m.post("revoke", {"serial_number": bad["serial_number"]})
    crl_pem = crl_ca.crl().public_bytes(serialization.Encoding.PEM).decode()
    trusted = crl_ca.pem + "\n" + crl_pem
    ok, out = openssl_verify(good["certificate"], trusted, extra=("-crl_check",))
    assert ok, out
    ok, out = openssl_verify(bad["certificate"], trusted, extra=("-crl_check",))
    assert not ok and "revoked" in out.lower(), out


def test_unused_certs_list_empty_mount(fresh_pki):
    r = fresh_pki.list("certs")
    assert r.status == 404, r
