"""Revoking an issuer (`issuer/:ref/revoke`, hvac's `revoke_issuer`): it
issues no more, its certificate lands on the CRL of its parent in the same
mount, and revoking a root warns that no CRL can carry it. Checked with
`cryptography`; also run on OpenBao."""

from __future__ import annotations

import hvac
from cryptography import x509

from pki_helpers import load_cert, serial_colon


def _intermediate_under_root(m):
    """A root (named r) and an intermediate signed by it, both in mount m;
    the intermediate's issuer id and certificate."""
    m.ok("POST", "root/generate/internal", {"common_name": "Rev Root", "key_type": "ec",
                                             "issuer_name": "r", "ttl": "8760h"})
    csr = m.ok("POST", "intermediate/generate/internal", {"common_name": "Rev Int", "key_type": "ec"})["csr"]
    signed = m.ok("POST", "root/sign-intermediate", {"csr": csr, "common_name": "Rev Int", "ttl": "100h"})
    imported = m.ok("POST", "intermediate/set-signed", {"certificate": signed["certificate"]})
    return imported["imported_issuers"][0], load_cert(signed["certificate"])


def test_revoke_issuer_with_hvac(server, fresh_pki):
    m = fresh_pki
    int_id, int_cert = _intermediate_under_root(m)
    client = hvac.Client(url=server.addr, token=server.root_token)
    r = client.secrets.pki.revoke_issuer(issuer_ref=int_id, mount_point=m.path.rstrip("/"))
    d = r.json()["data"] if hasattr(r, "json") else r["data"]
    assert d["issuer_id"] == int_id and d["revoked"] is True
    assert isinstance(d["revocation_time"], int) and d["revocation_time"] > 0
    assert d["revocation_time_rfc3339"]
    assert "issuing-certificates" not in d["usage"].split(",")
    # the parent's CRL lists the intermediate
    assert m.get("crl/rotate").status == 200
    crl = x509.load_der_x509_crl(m.raw("GET", "issuer/r/crl/der").content)
    assert serial_colon(int_cert.serial_number) in {serial_colon(e.serial_number) for e in crl}
    # a read shows the revocation; revoking again changes nothing
    again = m.ok("POST", f"issuer/{int_id}/revoke")
    assert again["revocation_time"] == d["revocation_time"]
    assert m.ok("GET", f"issuer/{int_id}")["revoked"] is True
    # it issues no more
    m.role("any", allow_any_name=True, key_type="ec")
    r = m.post(f"issuer/{int_id}/issue/any", {"common_name": "x.example.com"})
    assert r.status >= 400, r


def test_revoking_a_root_warns(fresh_pki):
    m = fresh_pki
    m.ok("POST", "root/generate/internal", {"common_name": "Lone Root", "key_type": "ec", "issuer_name": "lone"})
    r = m.post("issuer/lone/revoke")
    assert r.status == 200, r
    assert r.data["revoked"] is True
    warnings = " ".join(r.body.get("warnings") or [])
    assert "self-signed" in warnings and "default issuer" in warnings
