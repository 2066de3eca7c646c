"""The PKI flows through hvac's `secrets.pki` with `mount_point` set to
nested mounts; results checked independently (cryptography, openssl)."""

from __future__ import annotations

import hvac
import pytest
from cryptography import x509

from pki_helpers import (
    assert_openssl_verifies,
    assert_signed_by,
    cn_of,
    load_cert,
    load_certs,
    make_csr,
    mount_pki,
    openssl_crl_verify,
    same_public_key,
    sans,
    serial_colon,
    unique,
)

HVAC_ROOT = "c/pki-hvac"
HVAC_INT = "c/pki-hvac-int"


@pytest.fixture(scope="module")
def client(server) -> hvac.Client:
    c = hvac.Client(url=server.addr, token=server.root_token)
    assert c.is_authenticated()
    return c


@pytest.fixture(scope="module")
def pki(client):
    return client.secrets.pki


@pytest.fixture(scope="module")
def hvac_root(api, pki):
    """A root CA made through hvac at a nested mount."""
    mount_pki(api, HVAC_ROOT)
    try:
        r = pki.generate_root(
            type="internal",
            common_name="hvac Root",
            extra_params={"key_type": "ec", "ttl": "8760h", "issuer_name": "hvac-root"},
            mount_point=HVAC_ROOT,
        )
        yield r["data"]
    finally:
        api.unmount(HVAC_ROOT)


def test_hvac_generate_root_and_read_ca(pki, hvac_root):
    cert = load_cert(hvac_root["certificate"])
    assert cn_of(cert.subject) == "hvac Root"
    assert_signed_by(cert, cert)
    assert hvac_root["serial_number"] == serial_colon(cert.serial_number)
    pem = pki.read_ca_certificate(mount_point=HVAC_ROOT)
    assert load_cert(pem) == cert
    chain = pki.read_ca_certificate_chain(mount_point=HVAC_ROOT)
    assert load_certs(chain) == [cert]
    issuers = pki.list_issuers(mount_point=HVAC_ROOT)["data"]
    assert issuers["keys"] == [hvac_root["issuer_id"]]
    iss = pki.read_issuer(issuer_ref="hvac-root", mount_point=HVAC_ROOT)["data"]
    assert iss["issuer_id"] == hvac_root["issuer_id"] and iss["key_id"] == hvac_root["key_id"]


def test_hvac_roles(pki, hvac_root):
    n = unique("hr")
    pki.create_or_update_role(
        name=n,
        extra_params={"allowed_domains": ["example.com"], "allow_subdomains": True, "key_type": "ec",
                      "max_ttl": "2h"},
        mount_point=HVAC_ROOT,
    )
    role = pki.read_role(name=n, mount_point=HVAC_ROOT)["data"]
    assert role["allowed_domains"] == ["example.com"] and role["allow_subdomains"] is True
    assert role["max_ttl"] == 7200 and role["key_type"] == "ec"
    assert n in pki.list_roles(mount_point=HVAC_ROOT)["data"]["keys"]
    pki.delete_role(name=n, mount_point=HVAC_ROOT)
    try:
        left = pki.list_roles(mount_point=HVAC_ROOT)["data"]["keys"]
    except hvac.exceptions.InvalidPath:  # no role left: LIST answers 404
        left = []
    assert n not in left


def test_hvac_issue_sign_revoke_crl(pki, hvac_root):
    n = unique("hr")
    pki.create_or_update_role(
        name=n,
        extra_params={"allowed_domains": ["example.com"], "allow_subdomains": True, "key_type": "ec"},
        mount_point=HVAC_ROOT,
    )
    issued = pki.generate_certificate(
        name=n, common_name="hvac.example.com",
        extra_params={"alt_names": "alt.example.com", "ttl": "1h"}, mount_point=HVAC_ROOT,
    )["data"]
    cert = load_cert(issued["certificate"])
    assert set(sans(cert)["dns"]) == {"hvac.example.com", "alt.example.com"}
    assert_openssl_verifies(issued["certificate"], hvac_root["certificate"])

    csr_pem, key = make_csr("signed.example.com")
    signed = pki.sign_certificate(name=n, csr=csr_pem, common_name="signed.example.com",
                                  extra_params={"ttl": "1h"}, mount_point=HVAC_ROOT)["data"]
    scert = load_cert(signed["certificate"])
    assert same_public_key(scert.public_key(), key.public_key())
    assert_openssl_verifies(signed["certificate"], hvac_root["certificate"])

    listed = pki.list_certificates(mount_point=HVAC_ROOT)["data"]["keys"]
    assert {issued["serial_number"], signed["serial_number"]} <= set(listed)
    read = pki.read_certificate(serial=issued["serial_number"], mount_point=HVAC_ROOT)["data"]
    assert load_cert(read["certificate"]) == cert

    rv = pki.revoke_certificate(serial_number=issued["serial_number"], mount_point=HVAC_ROOT)
    assert rv["data"]["revocation_time"] > 0
    crl_pem = pki.read_crl(mount_point=HVAC_ROOT)
    crl = x509.load_pem_x509_crl(crl_pem.encode())
    assert {serial_colon(e.serial_number) for e in crl} == {issued["serial_number"]}
    assert_signed_by(crl, load_cert(hvac_root["certificate"]))
    ok, out = openssl_crl_verify(crl_pem, hvac_root["certificate"])
    assert ok, out

    cfg = pki.read_crl_configuration(mount_point=HVAC_ROOT)["data"]
    assert cfg["expiry"] == "72h" and cfg["disable"] is False
    pki.set_crl_configuration(expiry="24h", mount_point=HVAC_ROOT)
    assert pki.read_crl_configuration(mount_point=HVAC_ROOT)["data"]["expiry"] == "24h"
    assert pki.rotate_crl(mount_point=HVAC_ROOT)["data"]["success"] is True
    crl = x509.load_pem_x509_crl(pki.read_crl(mount_point=HVAC_ROOT).encode())
    assert abs((crl.next_update_utc - crl.last_update_utc).total_seconds() - 24 * 3600) < 60
    assert {serial_colon(e.serial_number) for e in crl} == {issued["serial_number"]}


def test_hvac_intermediate(api, pki, hvac_root):
    mount_pki(api, HVAC_INT)
    try:
        csr = pki.generate_intermediate(type="internal", common_name="hvac Int",
                                        extra_params={"key_type": "ec"}, mount_point=HVAC_INT)["data"]["csr"]
        signed = pki.sign_intermediate(csr=csr, common_name="hvac Int",
                                       extra_params={"ttl": "4380h"}, mount_point=HVAC_ROOT)["data"]
        pki.set_signed_intermediate(certificate=signed["certificate"], mount_point=HVAC_INT)
        n = unique("hi")
        pki.create_or_update_role(name=n, extra_params={"allow_any_name": True, "key_type": "ec"},
                                  mount_point=HVAC_INT)
        leaf = pki.generate_certificate(name=n, common_name="leaf.example.com",
                                        extra_params={"ttl": "1h"}, mount_point=HVAC_INT)["data"]
        assert_openssl_verifies(leaf["certificate"], hvac_root["certificate"], untrusted_pem=signed["certificate"])
        assert load_cert(leaf["issuing_ca"]) == load_cert(signed["certificate"])
        # set-signed got the intermediate alone: the root is unknown to this
        # mount, so the chain stops at the intermediate
        chain = pki.read_ca_certificate_chain(mount_point=HVAC_INT)
        assert load_certs(chain) == [load_cert(signed["certificate"])]
    finally:
        api.unmount(HVAC_INT)


def test_hvac_sign_verbatim_and_urls(pki, hvac_root):
    csr_pem, key = make_csr("verbatim.example.net")
    d = pki.sign_verbatim(csr=csr_pem, extra_params={"ttl": "1h"}, mount_point=HVAC_ROOT)["data"]
    cert = load_cert(d["certificate"])
    assert cn_of(cert.subject) == "verbatim.example.net"
    assert same_public_key(cert.public_key(), key.public_key())
    pki.set_urls({"issuing_certificates": ["http://hvac.example.com/ca"]}, mount_point=HVAC_ROOT)
    urls = pki.read_urls(mount_point=HVAC_ROOT)["data"]
    assert urls["issuing_certificates"] == ["http://hvac.example.com/ca"]
    # mount-wide AIA URLs appear in new certificates
    d = pki.sign_verbatim(csr=csr_pem, extra_params={"ttl": "1h"}, mount_point=HVAC_ROOT)["data"]
    aia = load_cert(d["certificate"]).extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [a.access_location.value for a in aia] == ["http://hvac.example.com/ca"]
    pki.set_urls({"issuing_certificates": []}, mount_point=HVAC_ROOT)


def test_hvac_tidy(pki, hvac_root):
    r = pki.tidy(extra_params={"tidy_cert_store": True, "safety_buffer": "1h"}, mount_point=HVAC_ROOT)
    body = r if isinstance(r, dict) else r.json()
    assert any("Tidy operation successfully started" in w for w in body.get("warnings") or [])


def test_hvac_update_and_delete_issuer(api, pki):
    path = f"c/{unique('h')}/pki"
    mount_pki(api, path)
    try:
        a = pki.generate_root(type="internal", common_name="A", extra_params={"key_type": "ec"},
                              mount_point=path)["data"]
        b = pki.generate_root(type="internal", common_name="B", extra_params={"key_type": "ec"},
                              mount_point=path)["data"]
        up = pki.update_issuer(issuer_ref=b["issuer_id"], extra_params={"issuer_name": "bee"},
                               mount_point=path)["data"]
        assert up["issuer_name"] == "bee"
        pki.delete_issuer(issuer_ref="bee", mount_point=path)
        assert pki.list_issuers(mount_point=path)["data"]["keys"] == [a["issuer_id"]]
        pki.delete_root(mount_point=path)
        with pytest.raises(hvac.exceptions.InvalidPath):
            pki.list_issuers(mount_point=path)
    finally:
        api.unmount(path)
