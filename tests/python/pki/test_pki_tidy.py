"""tidy (tidy_cert_store, tidy_revoked_certs, safety_buffer) and
tidy-status. Expiry is real: 3-second leaves, then polling (no long
sleeps)."""

from __future__ import annotations

import time

import pytest
from cryptography import x509

from pki_helpers import assert_error, load_cert, serial_colon

STATUS_FIELDS = {
    "cert_store_deleted_count",
    "error",
    "message",
    "revoked_cert_deleted_count",
    "safety_buffer",
    "state",
    "tidy_cert_store",
    "tidy_revoked_certs",
    "time_finished",
    "time_started",
}
# OpenBao 2.7 adds these to the documented ones.
OPENBAO_STATUS_FIELDS = STATUS_FIELDS | {
    "current_cert_store_count",
    "current_revoked_cert_count",
    "internal_backend_uuid",
    "issuer_safety_buffer",
    "missing_issuer_cert_count",
    "pause_duration",
    "revoked_safety_buffer",
    "tidy_expired_issuers",
    "tidy_invalid_certs",
    "tidy_move_legacy_ca_bundle",
    "tidy_revoked_cert_issuer_associations",
}


def wait_tidy(mount, timeout=20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        d = mount.ok("GET", "tidy-status")
        if d["state"] in ("Finished", "Error", "Cancelled"):
            return d
        assert time.monotonic() < deadline, f"tidy still {d['state']}: {d}"
        time.sleep(0.2)


def start_tidy(mount, body) -> dict:
    r = mount.post("tidy", body)
    assert r.status == 202, r
    return r.body


def test_tidy_status_before_any_tidy(fresh_pki):
    d = fresh_pki.ok("GET", "tidy-status")
    assert STATUS_FIELDS <= set(d), sorted(d)
    assert d["state"] == "Inactive"
    for k in ("safety_buffer", "tidy_cert_store", "tidy_revoked_certs", "error", "message",
              "time_started", "time_finished", "cert_store_deleted_count", "revoked_cert_deleted_count"):
        assert d[k] is None, (k, d[k])


def test_tidy_without_operations_warns(fresh_pki):
    body = start_tidy(fresh_pki, {})
    assert any("no tidy operations were set" in w for w in body.get("warnings") or []), body


def test_tidy_bad_safety_buffer(fresh_pki):
    assert_error(fresh_pki.post("tidy", {"tidy_cert_store": True, "safety_buffer": "bogus"}), 400)
    assert fresh_pki.ok("GET", "tidy-status")["state"] == "Inactive"


def test_tidy_status_after_a_run(fresh_pki):
    fresh_pki.ok("POST", "root/generate/internal", {"common_name": "Tidy Root", "key_type": "ec", "ttl": "8760h"})
    body = start_tidy(fresh_pki, {"tidy_cert_store": True, "tidy_revoked_certs": True, "safety_buffer": "1s"})
    assert any("Tidy operation successfully started" in w for w in body.get("warnings") or []), body
    d = wait_tidy(fresh_pki)
    assert STATUS_FIELDS <= set(d), sorted(d)
    assert d["state"] == "Finished"
    assert d["error"] is None
    assert d["tidy_cert_store"] is True and d["tidy_revoked_certs"] is True
    assert d["safety_buffer"] == 1
    assert isinstance(d["time_started"], str) and isinstance(d["time_finished"], str)
    assert d["time_finished"] >= d["time_started"]
    assert d["cert_store_deleted_count"] == 0 and d["revoked_cert_deleted_count"] == 0


def test_tidy_removes_expired_certificates(fresh_pki):
    m = fresh_pki
    root = m.ok("POST", "root/generate/internal", {"common_name": "Tidy Root", "key_type": "ec", "ttl": "8760h"})
    m.role("short", allow_any_name=True, key_type="ec")
    expired_revoked = m.issue("short", common_name="gone1.example.com", ttl="3s")
    expired_kept_unrevoked = m.issue("short", common_name="gone2.example.com", ttl="3s")
    alive = m.issue("short", common_name="alive.example.com", ttl="1h")
    alive_revoked = m.issue("short", common_name="alive-revoked.example.com", ttl="1h")
    for c in (expired_revoked, alive_revoked):
        assert m.post("revoke", {"serial_number": c["serial_number"]}).status == 200
    crl = x509.load_der_x509_crl(m.raw("GET", "crl").content)
    assert {serial_colon(e.serial_number) for e in crl} == {
        expired_revoked["serial_number"], alive_revoked["serial_number"]}

    # wait until the short ones are past notAfter + safety_buffer
    not_after = load_cert(expired_revoked["certificate"]).not_valid_after_utc.timestamp()
    while time.time() < not_after + 2.5:
        time.sleep(0.25)

    # revoking an expired certificate: 200 with a warning, and no CRL entry
    r = m.post("revoke", {"serial_number": expired_kept_unrevoked["serial_number"]})
    assert r.status == 200, r
    assert any("already expired; refusing to add to CRL" in w for w in r.body.get("warnings") or []), r
    assert m.anon("GET", f"cert/{expired_kept_unrevoked['serial_number']}").data["revocation_time"] == 0

    start_tidy(m, {"tidy_cert_store": True, "tidy_revoked_certs": True, "safety_buffer": "1s"})
    d = wait_tidy(m)
    assert d["state"] == "Finished", d
    assert d["cert_store_deleted_count"] >= 2, d
    assert d["revoked_cert_deleted_count"] >= 1, d

    listed = set(m.ok("LIST", "certs")["keys"])
    assert expired_revoked["serial_number"] not in listed
    assert expired_kept_unrevoked["serial_number"] not in listed
    assert {alive["serial_number"], alive_revoked["serial_number"], root["serial_number"]} <= listed
    assert m.anon("GET", f"cert/{expired_revoked['serial_number']}").status == 404
    assert m.anon("GET", f"cert/{alive['serial_number']}").status == 200
    # the CRL no longer carries the expired revoked certificate
    crl = x509.load_der_x509_crl(m.raw("GET", "crl").content)
    assert {serial_colon(e.serial_number) for e in crl} == {alive_revoked["serial_number"]}


@pytest.mark.parametrize("flag", ["tidy_cert_store", "tidy_revoked_certs"])
def test_tidy_safety_buffer_keeps_recent(fresh_pki, flag):
    m = fresh_pki
    m.ok("POST", "root/generate/internal", {"common_name": "Tidy Root", "key_type": "ec", "ttl": "8760h"})
    m.role("short", allow_any_name=True, key_type="ec")
    c = m.issue("short", common_name="recent.example.com", ttl="1s")
    if flag == "tidy_revoked_certs":
        m.post("revoke", {"serial_number": c["serial_number"]})
    not_after = load_cert(c["certificate"]).not_valid_after_utc.timestamp()
    while time.time() < not_after + 1.2:
        time.sleep(0.25)
    # expired, but within the default 72h safety buffer: kept
    start_tidy(m, {flag: True})
    d = wait_tidy(m)
    assert d["state"] == "Finished" and d["safety_buffer"] == 72 * 3600, d
    assert m.anon("GET", f"cert/{c['serial_number']}").status == 200
