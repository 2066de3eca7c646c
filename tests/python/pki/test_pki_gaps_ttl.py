"""Gaps: certificate lifetimes tied to the mount's tuned lease TTLs.

OpenBao 2.7.2 takes a certificate's default lifetime from the mount's
`default_lease_ttl` and caps it at the mount's `max_lease_ttl` whenever the
role (or, for CA paths, the request) sets no `max_ttl`, with the warning
`TTL "Xh0m0s" is longer than permitted maxTTL "Yh0m0s", so maxTTL is being
used`. A role's own `max_ttl` replaces the mount's maximum. This holds for
issue/sign, sign-verbatim, root/sign-intermediate and root/generate.

Each test makes a mount, generates a root good for a year while the mount
allows it, then tunes the mount to `default_lease_ttl=1h`,
`max_lease_ttl=2h`, so that the CA's own notAfter is never what limits.
"""

from __future__ import annotations

import pytest

from pki_helpers import load_cert, make_csr, remaining_seconds

HOUR = 3600
SLACK = 120  # seconds of clock and request time allowed either way
WARN = 'is longer than permitted maxTTL "2h0m0s", so maxTTL is being used'


def _warnings(r) -> list[str]:
    return list((r.body or {}).get("warnings") or [])


def _about(cert, hours: float) -> bool:
    return abs(remaining_seconds(cert) - hours * HOUR) < SLACK


@pytest.fixture
def tuned(api, make_pki):
    """A mount with a one-year EC root, then tuned to default 1h / max 2h."""
    m = make_pki()
    r = m.post("root/generate/internal", {"common_name": "ttl root", "key_type": "ec", "ttl": "8760h"})
    assert r.status == 200, r
    t = api.post(f"sys/mounts/{m.path}tune", {"default_lease_ttl": "1h", "max_lease_ttl": "2h"})
    assert t.status in (200, 204), t
    return m


def test_leaf_ttl_defaults_to_mount_default_lease_ttl(tuned, name):
    role = name("r")
    tuned.role(role, allowed_domains="example.com", allow_subdomains=True, key_type="ec")
    r = tuned.post(f"issue/{role}", {"common_name": "a.example.com"})
    assert r.status == 200, r
    assert _about(load_cert(r.data["certificate"]), 1), "expected the mount's default_lease_ttl (1h)"
    assert not any("maxTTL" in w for w in _warnings(r))


def test_leaf_ttl_capped_by_mount_max_lease_ttl(tuned, name):
    role = name("r")
    tuned.role(role, allowed_domains="example.com", allow_subdomains=True, key_type="ec")
    r = tuned.post(f"issue/{role}", {"common_name": "a.example.com", "ttl": "10h"})
    assert r.status == 200, r
    assert _about(load_cert(r.data["certificate"]), 2), "expected the mount's max_lease_ttl (2h)"
    assert any('TTL "10h0m0s" ' + WARN in w for w in _warnings(r)), r.body


def test_role_ttl_above_mount_max_is_capped(tuned, name):
    role = name("r")
    tuned.role(role, allowed_domains="example.com", allow_subdomains=True, key_type="ec", ttl="5h")
    assert tuned.get(f"roles/{role}").data["ttl"] == 5 * HOUR  # stored as given
    r = tuned.post(f"issue/{role}", {"common_name": "a.example.com"})
    assert r.status == 200, r
    assert _about(load_cert(r.data["certificate"]), 2)
    assert any('TTL "5h0m0s" ' + WARN in w for w in _warnings(r)), r.body


def test_role_max_ttl_replaces_mount_max(tuned, name):
    role = name("r")
    tuned.role(role, allowed_domains="example.com", allow_subdomains=True, key_type="ec", max_ttl="10h")
    r = tuned.post(f"issue/{role}", {"common_name": "a.example.com", "ttl": "5h"})
    assert r.status == 200, r
    assert _about(load_cert(r.data["certificate"]), 5), "a role max_ttl above the mount's max is honoured"
    # and with no ttl the mount's default (not the role's max) applies
    r = tuned.post(f"issue/{role}", {"common_name": "a.example.com"})
    assert _about(load_cert(r.data["certificate"]), 1)


def test_sign_ttl_follows_mount(tuned, name):
    role = name("r")
    tuned.role(role, allowed_domains="example.com", allow_subdomains=True, key_type="any")
    csr, _ = make_csr("s.example.com")
    r = tuned.post(f"sign/{role}", {"csr": csr, "common_name": "s.example.com"})
    assert r.status == 200, r
    assert _about(load_cert(r.data["certificate"]), 1)
    r = tuned.post(f"sign/{role}", {"csr": csr, "common_name": "s.example.com", "ttl": "10h"})
    assert _about(load_cert(r.data["certificate"]), 2)
    assert any(WARN in w for w in _warnings(r)), r.body


def test_sign_verbatim_ttl_follows_mount(tuned):
    csr, _ = make_csr("v.example.com")
    r = tuned.post("sign-verbatim", {"csr": csr})
    assert r.status == 200, r
    assert _about(load_cert(r.data["certificate"]), 1)
    r = tuned.post("sign-verbatim", {"csr": csr, "ttl": "10h"})
    assert r.status == 200, r
    assert _about(load_cert(r.data["certificate"]), 2)
    assert any('TTL "10h0m0s" ' + WARN in w for w in _warnings(r)), r.body


def test_sign_intermediate_ttl_follows_mount(tuned):
    csr, _ = make_csr("sub ca")
    r = tuned.post("root/sign-intermediate", {"csr": csr, "common_name": "sub ca"})
    assert r.status == 200, r
    assert _about(load_cert(r.data["certificate"]), 1)
    # far beyond both the mount and the CA: capped at the mount, no error
    r = tuned.post("root/sign-intermediate", {"csr": csr, "common_name": "sub ca", "ttl": "9000h"})
    assert r.status == 200, r
    assert _about(load_cert(r.data["certificate"]), 2)
    assert any('TTL "9000h0m0s" ' + WARN in w for w in _warnings(r)), r.body


def test_root_generate_ttl_follows_mount(tuned, name):
    r = tuned.post("issuers/generate/root/internal",
                   {"common_name": "second root", "key_type": "ec", "issuer_name": name("i")})
    assert r.status == 200, r
    assert _about(load_cert(r.data["certificate"]), 1), "root without ttl: the mount's default_lease_ttl"
    r = tuned.post("issuers/generate/root/internal",
                   {"common_name": "third root", "key_type": "ec", "ttl": "87600h", "issuer_name": name("i")})
    assert r.status == 200, r
    assert _about(load_cert(r.data["certificate"]), 2)
    assert any('TTL "87600h0m0s" ' + WARN in w for w in _warnings(r)), r.body


def test_untuned_mount_caps_root_at_system_max(api, name):
    """A mount left at the system maximum (768h) caps a 10-year root."""
    from pki_helpers import mount_pki, unique

    path = f"tmp/{unique('m')}/pki"
    m = mount_pki(api, path, max_lease_ttl=None)
    try:
        r = m.post("root/generate/internal", {"common_name": "r", "key_type": "ec", "ttl": "87600h"})
        assert r.status == 200, r
        assert _about(load_cert(r.data["certificate"]), 768)
        assert any('TTL "87600h0m0s" is longer than permitted maxTTL "768h0m0s"' in w
                   for w in _warnings(r)), r.body
    finally:
        api.unmount(path)
