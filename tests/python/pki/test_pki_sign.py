"""sign/:role with CSRs from `cryptography` and the `openssl req` CLI,
sign-verbatim, the intermediate CA (root/sign-intermediate,
intermediate/generate, intermediate/set-signed) and issuance from it
(leaf -> intermediate -> root with `openssl verify`), ca_chain of the
intermediate, issuers/import/bundle and /cert, intermediate/cross-sign
(two valid chains), root/sign-self-issued, a real TLS handshake, and
malformed CSR/PEM input."""

from __future__ import annotations

import base64
import socket
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from pki_helpers import (
    INT_CN,
    CLIENT_AUTH,
    SERVER_AUTH,
    TempFiles,
    assert_csr_self_signed,
    assert_error,
    assert_openssl_verifies,
    assert_signed_by,
    cert_pem,
    cn_of,
    eku_oids,
    ext_value,
    load_cert,
    load_certs,
    make_csr,
    openssl_req_csr,
    openssl_verify,
    private_pem,
    same_public_key,
    sans,
    self_signed_ca,
    serial_colon,
)

SIGN_FIELDS = {"ca_chain", "certificate", "expiration", "issuing_ca", "serial_number"}
IMPORT_FIELDS = {"existing_issuers", "existing_keys", "imported_issuers", "imported_keys", "mapping"}


def _nonempty(v) -> list:
    """OpenBao gives `null` for an empty list in import answers."""
    return list(v or [])


# ---------------------------------------------------------------- sign/:role


def test_sign_csr_from_cryptography(root_ca, name):
    root = root_ca.mount
    n = name("sign")
    root.role(n, allowed_domains=["example.com"], allow_subdomains=True, key_type="ec")
    csr_pem, key = make_csr("csr.example.com", dns=["alt.example.com"], ips=["192.0.2.10"])
    d = root.ok("POST", f"sign/{n}", {"csr": csr_pem, "ttl": "1h", "common_name": "ignored.example.com"})
    assert SIGN_FIELDS <= set(d), sorted(d)
    assert "private_key" not in d
    cert = load_cert(d["certificate"])
    assert_signed_by(cert, root_ca.cert)
    assert_openssl_verifies(d["certificate"], root_ca.pem)
    assert same_public_key(cert.public_key(), key.public_key())
    assert d["serial_number"] == serial_colon(cert.serial_number)
    # use_csr_common_name / use_csr_sans default to true
    assert cn_of(cert.subject) == "csr.example.com"
    s = sans(cert)
    assert set(s["dns"]) == {"csr.example.com", "alt.example.com"}
    assert s["ip"] == ["192.0.2.10"]
    assert set(eku_oids(cert)) == {SERVER_AUTH, CLIENT_AUTH}
    assert [load_cert(c) for c in d["ca_chain"]] == [root_ca.cert]


def test_sign_csr_from_openssl_cli(root_ca, name):
    root = root_ca.mount
    n = name("sign")
    root.role(n, allowed_domains=["example.com"], allow_subdomains=True, key_type="any",
              organization="Role Org")
    csr_pem, key_pem = openssl_req_csr("cli.example.com", sans=["cli2.example.com"])
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    assert_csr_self_signed(csr)
    d = root.ok("POST", f"sign/{n}", {"csr": csr_pem, "ttl": "1h"})
    cert = load_cert(d["certificate"])
    assert_openssl_verifies(d["certificate"], root_ca.pem)
    assert same_public_key(cert.public_key(), csr.public_key())
    assert cn_of(cert.subject) == "cli.example.com"
    assert set(sans(cert)["dns"]) == {"cli.example.com", "cli2.example.com"}
    # the subject's O comes from the role, not from the CSR
    orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert orgs == ["Role Org"]
    # the key from the CLI matches the certificate: openssl agrees
    files = TempFiles()
    try:
        from pki_helpers import openssl

        p1 = openssl("x509", "-in", files.write(d["certificate"]), "-noout", "-pubkey")
        p2 = openssl("pkey", "-in", files.write(key_pem), "-pubout")
        assert p1.returncode == 0 and p2.returncode == 0
        assert p1.stdout == p2.stdout
    finally:
        files.cleanup()


def test_sign_respects_role_policy(root_ca, name):
    root = root_ca.mount
    n = name("sign")
    root.role(n, allowed_domains=["example.com"], allow_subdomains=True)  # key_type rsa
    ec_csr, _ = make_csr("ok.example.com")
    assert_error(root.post(f"sign/{n}", {"csr": ec_csr}), 400, r"role requires keys of type rsa")
    m = name("sign")
    root.role(m, allowed_domains=["example.com"], allow_subdomains=True, key_type="ec")
    bad_cn, _ = make_csr("evil.example.org")
    assert_error(root.post(f"sign/{m}", {"csr": bad_cn}), 400, r"common name evil.example.org not allowed by this role")
    bad_san, _ = make_csr("ok.example.com", dns=["evil.example.org"])
    assert_error(root.post(f"sign/{m}", {"csr": bad_san}), 400,
                 r"subject alternate name evil.example.org not allowed by this role")
    # use_csr_common_name=false: the CN comes from the request
    o = name("sign")
    root.role(o, allowed_domains=["example.com"], allow_subdomains=True, key_type="ec",
              use_csr_common_name=False, use_csr_sans=False)
    csr, _ = make_csr("fromcsr.example.com", dns=["csrsan.example.com"])
    d = root.ok("POST", f"sign/{o}", {"csr": csr, "common_name": "fromapi.example.com", "ttl": "1h"})
    cert = load_cert(d["certificate"])
    assert cn_of(cert.subject) == "fromapi.example.com"
    assert sans(cert)["dns"] == ["fromapi.example.com"]
    assert_error(root.post("sign/no-such-role", {"csr": csr}), 400, r"unknown role: no-such-role")


def test_sign_does_not_make_a_ca(root_ca, name):
    root = root_ca.mount
    n = name("sign")
    root.role(n, allow_any_name=True, key_type="ec")
    csr, _ = make_csr("wannabe.example.com", ca=True)
    cert = load_cert(root.ok("POST", f"sign/{n}", {"csr": csr, "ttl": "1h"})["certificate"])
    bc = ext_value(cert, x509.BasicConstraints)
    assert bc is None or bc.ca is False


def test_sign_verbatim(root_ca):
    root = root_ca.mount
    csr, key = make_csr("verbatim.example.org", dns=["v2.example.org"], org="CSR Org")
    d = root.ok("POST", "sign-verbatim", {"csr": csr, "ttl": "1h"})
    assert SIGN_FIELDS <= set(d), sorted(d)
    cert = load_cert(d["certificate"])
    assert_openssl_verifies(d["certificate"], root_ca.pem)
    assert same_public_key(cert.public_key(), key.public_key())
    # verbatim: subject and SANs from the CSR, no role policy
    assert cn_of(cert.subject) == "verbatim.example.org"
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == ["CSR Org"]
    assert sans(cert)["dns"] == ["v2.example.org"]
    ku = ext_value(cert, x509.KeyUsage)
    assert ku.digital_signature and ku.key_encipherment and ku.key_agreement
    assert eku_oids(cert) == []
    # ext_key_usage given: used as the default when the CSR has none
    d = root.ok("POST", "sign-verbatim", {"csr": csr, "ttl": "1h", "ext_key_usage": ["ServerAuth"]})
    assert eku_oids(load_cert(d["certificate"])) == [SERVER_AUTH]
    # a CSR asking to be a CA does not get a CA certificate
    ca_csr, _ = make_csr("ca-wannabe.example.org", ca=True)
    r = root.post("sign-verbatim", {"csr": ca_csr, "ttl": "1h"})
    assert r.status == 200, r
    bc = ext_value(load_cert(r.data["certificate"]), x509.BasicConstraints)
    assert bc is None or bc.ca is False
    assert any("Basic Constraints extension that was ignored" in w for w in r.body.get("warnings") or []), r


@pytest.mark.parametrize(
    "csr,pattern",
    [
        ("garbage", r"csr contains no data"),
        ("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----",
         r"certificate request could not be parsed"),
        ("", None),
    ],
    ids=["not-pem", "bad-der", "empty"],
)
def test_malformed_csr(root_ca, name, csr, pattern):
    root = root_ca.mount
    n = name("sign")
    root.role(n, allow_any_name=True, key_type="any")
    for path in (f"sign/{n}", "sign-verbatim", "root/sign-intermediate"):
        assert_error(root.post(path, {"csr": csr, "common_name": "x.example.com"}), 400, pattern)


def test_csr_with_bad_signature_refused(root_ca, name):
    root = root_ca.mount
    n = name("sign")
    root.role(n, allow_any_name=True, key_type="any")
    csr_pem, _ = make_csr("tampered.example.com")
    der = bytearray(x509.load_pem_x509_csr(csr_pem.encode()).public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0xFF  # flip bits inside the signature
    pem = "-----BEGIN CERTIFICATE REQUEST-----\n" + base64.encodebytes(bytes(der)).decode() + \
        "-----END CERTIFICATE REQUEST-----\n"
    assert_error(root.post(f"sign/{n}", {"csr": pem}), 400)


# ---------------------------------------------------------------- intermediate


def test_intermediate_chain(root_ca, int_ca):
    cert = int_ca.cert
    assert cn_of(cert.subject) == INT_CN
    assert cert.issuer == root_ca.cert.subject
    assert_signed_by(cert, root_ca.cert)
    assert_openssl_verifies(int_ca.pem, root_ca.pem)
    bc = ext_value(cert, x509.BasicConstraints)
    assert bc.ca is True
    ku = ext_value(cert, x509.KeyUsage)
    assert ku.key_cert_sign and ku.crl_sign
    aki = ext_value(cert, x509.AuthorityKeyIdentifier)
    assert aki.key_identifier == ext_value(root_ca.cert, x509.SubjectKeyIdentifier).digest
    # sign-intermediate's answer
    d = int_ca.generate_response
    assert SIGN_FIELDS <= set(d)
    assert d["serial_number"] == serial_colon(cert.serial_number)
    assert load_cert(d["issuing_ca"]) == root_ca.cert
    assert [load_cert(c) for c in d["ca_chain"]] == [cert, root_ca.cert]


def test_intermediate_issuer_and_ca_chain(root_ca, int_ca):
    m = int_ca.mount
    iss = m.ok("GET", "issuer/int-x1")
    assert iss["issuer_id"] == int_ca.issuer_id
    assert iss["key_id"] == int_ca.key_id
    assert [load_cert(c) for c in iss["ca_chain"]] == [int_ca.cert, root_ca.cert]
    assert m.ok("GET", "config/issuers")["default"] == int_ca.issuer_id
    # unauthenticated chain endpoints
    chain = m.raw("GET", "ca_chain")
    assert chain.status_code == 200
    assert load_certs(chain.content) == [int_ca.cert, root_ca.cert]
    cj = m.anon("GET", "cert/ca_chain")
    assert cj.status == 200 and load_certs(cj.data["ca_chain"]) == [int_ca.cert, root_ca.cert]
    assert x509.load_der_x509_certificate(m.raw("GET", "ca").content) == int_ca.cert
    js = m.anon("GET", "issuer/default/json")
    assert [load_cert(c) for c in js.data["ca_chain"]] == [int_ca.cert, root_ca.cert]
    # the root (imported from set-signed's bundle, without key) is an issuer too
    listed = m.anon("LIST", "issuers").data
    keyless = [i for i, info in listed["key_info"].items() if info["key_id"] == ""]
    assert len(keyless) == 1
    assert listed["key_info"][keyless[0]]["serial_number"] == serial_colon(root_ca.cert.serial_number)


def test_issue_from_intermediate(root_ca, int_ca, name):
    m = int_ca.mount
    n = name("leaf")
    m.role(n, allowed_domains=["example.com"], allow_subdomains=True, key_type="ec")
    d = m.issue(n, common_name="leaf.example.com", ttl="1h")
    leaf = load_cert(d["certificate"])
    assert_signed_by(leaf, int_ca.cert)
    assert load_cert(d["issuing_ca"]) == int_ca.cert
    assert [load_cert(c) for c in d["ca_chain"]] == [int_ca.cert, root_ca.cert]
    # leaf -> intermediate -> root, trusting only the root
    assert_openssl_verifies(d["certificate"], root_ca.pem, untrusted_pem=int_ca.pem)
    ok, _ = openssl_verify(d["certificate"], root_ca.pem)
    assert not ok, "the leaf must not verify without the intermediate"
    # pem_bundle from an intermediate: key + leaf + intermediate (+ root)
    b = m.issue(n, common_name="bundle.example.com", ttl="1h", format="pem_bundle")["certificate"]
    certs = load_certs(b)
    assert certs[1] == int_ca.cert
    assert_openssl_verifies(b, root_ca.pem, untrusted_pem=b)


def test_intermediate_generate_exported_and_csr(fresh_pki):
    d = fresh_pki.ok("POST", "intermediate/generate/exported",
                     {"common_name": "Exported Int", "key_type": "ec", "key_bits": 384,
                      "organization": "Int Org", "alt_names": "int.example.com"})
    assert {"csr", "key_id", "private_key", "private_key_type"} <= set(d)
    assert d["private_key_type"] == "ec"
    csr = x509.load_pem_x509_csr(d["csr"].encode())
    assert_csr_self_signed(csr)
    assert cn_of(csr.subject) == "Exported Int"
    key = serialization.load_pem_private_key(d["private_key"].encode(), None)
    assert same_public_key(key.public_key(), csr.public_key())
    assert key.curve.name == "secp384r1"
    # the key is in the mount, but no issuer yet
    assert fresh_pki.ok("GET", f"key/{d['key_id']}")["key_type"] == "ec"
    assert fresh_pki.list("issuers").status == 404
    i = fresh_pki.ok("POST", "intermediate/generate/internal", {"common_name": "Internal Int", "key_type": "rsa"})
    assert {"csr", "key_id"} <= set(i) and "private_key" not in i
    assert_csr_self_signed(x509.load_pem_x509_csr(i["csr"].encode()))


def test_set_signed_and_import_bundle_twice(root_ca, fresh_pki):
    gen = fresh_pki.ok("POST", "intermediate/generate/internal", {"common_name": "Imp Int", "key_type": "ec"})
    signed = root_ca.mount.ok("POST", "root/sign-intermediate",
                              {"csr": gen["csr"], "common_name": "Imp Int", "ttl": "48h"})
    r = fresh_pki.post("intermediate/set-signed", {"certificate": signed["certificate"]})
    assert r.status == 200, r
    d = r.data
    assert IMPORT_FIELDS <= set(d), sorted(d)
    assert len(_nonempty(d["imported_issuers"])) == 1
    iid = d["imported_issuers"][0]
    assert d["mapping"][iid] == gen["key_id"]
    assert _nonempty(d["imported_keys"]) == []
    # import the same cert again (bundle): nothing new
    r2 = fresh_pki.post("issuers/import/bundle", {"pem_bundle": signed["certificate"]})
    assert r2.status == 200, r2
    assert _nonempty(r2.data["imported_issuers"]) == []
    assert _nonempty(r2.data["existing_issuers"]) == [iid]
    # the bundle with the root: only the root is new, and keyless
    bundle = signed["certificate"] + "\n" + root_ca.pem
    r3 = fresh_pki.ok("POST", "issuers/import/bundle", {"pem_bundle": bundle})
    assert len(_nonempty(r3["imported_issuers"])) == 1
    root_iid = r3["imported_issuers"][0]
    assert r3["mapping"][root_iid] == ""
    r4 = fresh_pki.ok("POST", "issuers/import/bundle", {"pem_bundle": bundle})
    assert _nonempty(r4["imported_issuers"]) == []
    assert set(_nonempty(r4["existing_issuers"])) == {iid, root_iid}
    assert len(fresh_pki.ok("LIST", "issuers")["keys"]) == 2
    # now the chain of the intermediate issuer reaches the root
    chain = fresh_pki.ok("GET", f"issuer/{iid}")["ca_chain"]
    assert [load_cert(c) for c in chain] == [load_cert(signed["certificate"]), root_ca.cert]


def test_import_bundle_with_key_and_import_cert(fresh_pki):
    ca, key = self_signed_ca("External Root")
    bundle = private_pem(key) + cert_pem(ca)
    d = fresh_pki.ok("POST", "issuers/import/bundle", {"pem_bundle": bundle})
    assert len(_nonempty(d["imported_issuers"])) == 1 and len(_nonempty(d["imported_keys"])) == 1
    iid, kid = d["imported_issuers"][0], d["imported_keys"][0]
    assert d["mapping"] == {iid: kid}
    assert fresh_pki.ok("GET", f"key/{kid}")["key_type"] == "ec"
    # the imported CA can issue
    fresh_pki.role("any", allow_any_name=True, key_type="ec")
    leaf = fresh_pki.issue("any", common_name="ext.example.com", ttl="1h")
    assert_openssl_verifies(leaf["certificate"], cert_pem(ca))
    assert_signed_by(load_cert(leaf["certificate"]), ca)
    # importing it again: nothing new
    again = fresh_pki.ok("POST", "issuers/import/bundle", {"pem_bundle": bundle})
    assert _nonempty(again["imported_issuers"]) == [] and _nonempty(again["imported_keys"]) == []
    assert _nonempty(again["existing_issuers"]) == [iid]
    # issuers/import/cert takes certificates only
    other, other_key = self_signed_ca("Other External Root")
    c = fresh_pki.ok("POST", "issuers/import/cert", {"pem_bundle": cert_pem(other)})
    assert len(_nonempty(c["imported_issuers"])) == 1
    assert _nonempty(c["imported_keys"]) == []
    assert_error(fresh_pki.post("issuers/import/cert", {"pem_bundle": private_pem(other_key) + cert_pem(other)}), 400)


@pytest.mark.parametrize(
    "path,field,value",
    [
        ("issuers/import/bundle", "pem_bundle", "garbage"),
        ("issuers/import/cert", "pem_bundle", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"),
        ("issuers/import/bundle", "pem_bundle", ""),
        ("intermediate/set-signed", "certificate", "garbage"),
    ],
    ids=["bundle-garbage", "cert-bad-der", "bundle-empty", "set-signed-garbage"],
)
def test_malformed_pem_import(fresh_pki, path, field, value):
    assert_error(fresh_pki.post(path, {field: value}), 400)
    assert fresh_pki.list("issuers").status == 404


def test_import_non_ca_certificate_refused(root_ca, fresh_pki, name):
    n = name("leaf")
    root_ca.mount.role(n, allow_any_name=True, key_type="ec")
    leaf = root_ca.mount.issue(n, common_name="leaf.example.com", ttl="1h")
    assert_error(fresh_pki.post("issuers/import/cert", {"pem_bundle": leaf["certificate"]}), 400)
    assert fresh_pki.list("issuers").status == 404


# ---------------------------------------------------------------- cross-sign, self-issued


def test_cross_sign_gives_two_valid_chains(make_pki):
    one, two = make_pki(), make_pki()
    r1 = one.ok("POST", "root/generate/internal",
                {"common_name": "Cross Root One", "key_type": "ec", "key_name": "k1", "ttl": "8760h"})
    r2 = two.ok("POST", "root/generate/internal",
                {"common_name": "Cross Root Two", "key_type": "ec", "ttl": "8760h"})
    # a CSR for Root One's key and subject
    cs = one.ok("POST", "intermediate/cross-sign", {"common_name": "Cross Root One", "key_ref": "k1"})
    assert cs["key_id"] == r1["key_id"]
    csr = x509.load_pem_x509_csr(cs["csr"].encode())
    assert same_public_key(csr.public_key(), load_cert(r1["certificate"]).public_key())
    # signed by Root Two
    x = two.ok("POST", "root/sign-intermediate", {"csr": cs["csr"], "use_csr_values": True, "ttl": "4380h"})
    cross = load_cert(x["certificate"])
    assert cross.subject == load_cert(r1["certificate"]).subject
    assert cross.issuer == load_cert(r2["certificate"]).subject
    assert_signed_by(cross, load_cert(r2["certificate"]))
    imp = one.ok("POST", "intermediate/set-signed", {"certificate": x["certificate"]})
    assert imp["mapping"][imp["imported_issuers"][0]] == r1["key_id"]
    # a leaf of Root One validates under both roots
    one.role("any", allow_any_name=True, key_type="ec")
    leaf = one.issue("any", common_name="cross.example.com", ttl="1h")["certificate"]
    assert_openssl_verifies(leaf, r1["certificate"])
    assert_openssl_verifies(leaf, r2["certificate"], untrusted_pem=x["certificate"])
    ok, _ = openssl_verify(leaf, r2["certificate"])
    assert not ok


def test_sign_self_issued(root_ca):
    ca, _ = self_signed_ca("Rollover Root")
    d = root_ca.mount.ok("POST", "root/sign-self-issued", {"certificate": cert_pem(ca)})
    assert {"certificate", "issuing_ca"} <= set(d)
    out = load_cert(d["certificate"])
    assert load_cert(d["issuing_ca"]) == root_ca.cert
    assert_signed_by(out, root_ca.cert)
    # same subject and key as the submitted certificate; issuer DN is the root's
    assert out.subject == ca.subject
    assert same_public_key(out.public_key(), ca.public_key())
    assert out.issuer == root_ca.cert.subject
    aki = ext_value(out, x509.AuthorityKeyIdentifier)
    assert aki.key_identifier == ext_value(root_ca.cert, x509.SubjectKeyIdentifier).digest
    assert_openssl_verifies(d["certificate"], root_ca.pem)


def test_sign_self_issued_refusals(root_ca, name):
    m = root_ca.mount
    # not self-issued: the intermediate-like leaf of the root
    n = name("leaf")
    m.role(n, allow_any_name=True, key_type="ec")
    leaf = m.issue(n, common_name="leaf.example.com", ttl="1h")
    assert_error(m.post("root/sign-self-issued", {"certificate": leaf["certificate"]}), 400)
    assert_error(m.post("root/sign-self-issued", {"certificate": "garbage"}), 400)


# ---------------------------------------------------------------- TLS


def test_tls_handshake_with_issued_certificate(root_ca, int_ca, name):
    m = int_ca.mount
    n = name("tls")
    m.role(n, allowed_domains=["example.com"], allow_subdomains=True, key_type="ec")
    d = m.issue(n, common_name="tls.example.com", ip_sans="127.0.0.1", ttl="1h")
    files = TempFiles()
    try:
        chain_file = files.write(d["certificate"] + "\n" + d["issuing_ca"] + "\n")
        key_file = files.write(d["private_key"])
        root_file = files.write(root_ca.pem)

        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(chain_file, key_file)
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        errors: list[BaseException] = []

        def serve(count: int):
            for _ in range(count):
                conn, _ = listener.accept()
                try:
                    with server_ctx.wrap_socket(conn, server_side=True) as tls:
                        data = tls.recv(64)
                        tls.sendall(b"pong:" + data)
                except (ssl.SSLError, OSError) as e:  # the refused client
                    errors.append(e)

        t = threading.Thread(target=serve, args=(2,), daemon=True)
        t.start()

        client_ctx = ssl.create_default_context(cafile=root_file)  # trusts only the root
        assert client_ctx.check_hostname and client_ctx.verify_mode == ssl.CERT_REQUIRED
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with client_ctx.wrap_socket(raw, server_hostname="tls.example.com") as tls:
                tls.sendall(b"ping")
                assert tls.recv(64) == b"pong:ping"
                peer = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
                assert peer == load_cert(d["certificate"])
        # a wrong host name is refused by the client's hostname check
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with pytest.raises(ssl.SSLCertVerificationError):
                client_ctx.wrap_socket(raw, server_hostname="other.example.com")
        t.join(timeout=10)
        listener.close()
    finally:
        files.cleanup()
