//! `keys/:name/csr` (a PKCS#10 request signed by a key version, so that a
//! CA can certify a key that never leaves the engine) and
//! `keys/:name/set-certificate` (the chain the CA issued, kept with the
//! version and shown by key read and `export/certificate-chain`).
//!
//! The DER structures are `x509-cert`'s; the signature is made by the
//! version's private key through the host (`PrivateKey::sign`).

use std::rc::Rc;

use coffer_sdk::crypto::{
    HashAlgorithm, PublicKeyFormat, RsaPadding, SignOptions, SignatureEncoding,
};
use coffer_sdk::keys::PublicKey;
use coffer_sdk::prelude::*;
use serde_json::json;
use x509_cert::der::asn1::{Any, BitString, ObjectIdentifier};
use x509_cert::der::oid::AssociatedOid;
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::BasicConstraints;
use x509_cert::request::{CertReq, CertReqInfo, Version};
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::Certificate;

use crate::policy::model::B64Bytes;
use crate::policy::{cache, store, KeyKind, Loaded, Policy};
use crate::util::{decode_b64, parse_url_version, pem};

/// `keys/:name/csr`.
pub fn csr_path() -> Path {
    Path::new("keys/{name}/csr")
        .update(create_csr)
        .synopsis("Signs a CSR (PKCS#10) with a key version, the key material staying in transit.")
}

/// `keys/:name/set-certificate`.
pub fn set_certificate_path() -> Path {
    Path::new("keys/{name}/set-certificate")
        .update(set_certificate)
        .synopsis("Sets the certificate chain of a key version.")
}

#[derive(Fields)]
struct Csr {
    /// Name of the key to sign the CSR with.
    name: String,
    /// Version of the key to sign with: a number, or `latest` (the default).
    version: Option<String>,
    /// PEM CSR template: its subject and attributes (requested extensions such as SANs) are kept, its key replaced. An empty CSR when not set.
    csr: Option<String>,
}

#[derive(Fields)]
struct SetCertificate {
    /// Name of the key to set the certificate chain of.
    name: String,
    /// Version of the key the chain certifies: a number, or `latest` (the default).
    version: Option<String>,
    /// PEM certificate chain, leaf (end-entity) certificate first.
    certificate_chain: Option<String>,
}

// Signature algorithms (RFC 5758, RFC 4055, RFC 8410).
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ECDSA_WITH_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// The policy `name` for these paths: it must exist, sign, and not be
/// derived (a derived Ed25519 key has no single public key to certify).
fn signing_policy(ctx: &mut Ctx<'_>, name: &str) -> Result<Rc<Loaded>, Error> {
    let Some(loaded) = cache::load(ctx, name)? else {
        return Err(Error::invalid(format!(
            "key with provided name '{name}' not found"
        )));
    };
    let p = &loaded.policy;
    if !p.kind.supports_signing() {
        return Err(Error::invalid(format!(
            "key type '{}' does not support signing",
            p.kind
        )));
    }
    if p.derived {
        return Err(Error::invalid(
            "operation not supported for keys with derivation enabled",
        ));
    }
    Ok(loaded)
}

/// The version named by `version` (absent, empty, `latest` or 0: the
/// latest), which must be kept.
fn pick_version(p: &Policy, version: Option<&str>) -> Result<u32, Error> {
    let v = match parse_url_version(version.map(str::trim), p.latest_version)? {
        None | Some(0) => p.latest_version,
        Some(v) => v,
    };
    if !p.versions.contains_key(&v) {
        return Err(Error::invalid(format!(
            "invalid key version {v}: the key has no such version"
        )));
    }
    Ok(v)
}

/// The signature algorithm of a CSR signed by a key of `kind`, and how to
/// ask the host for it (Go's choices: the curve's hash for ECDSA, SHA-256
/// with PKCS#1 v1.5 for RSA, pure Ed25519).
fn signature_algorithm(kind: KeyKind) -> Result<(AlgorithmIdentifierOwned, SignOptions), Error> {
    let ecdsa = |oid, hash| {
        (
            AlgorithmIdentifierOwned {
                oid,
                parameters: None,
            },
            SignOptions {
                hash: Some(hash),
                encoding: SignatureEncoding::Asn1,
                ..SignOptions::default()
            },
        )
    };
    Ok(match kind {
        KeyKind::EcdsaP256 => ecdsa(ECDSA_WITH_SHA256, HashAlgorithm::Sha256),
        KeyKind::EcdsaP384 => ecdsa(ECDSA_WITH_SHA384, HashAlgorithm::Sha384),
        KeyKind::EcdsaP521 => ecdsa(ECDSA_WITH_SHA512, HashAlgorithm::Sha512),
        k if k.is_rsa() => (
            AlgorithmIdentifierOwned {
                oid: SHA256_WITH_RSA,
                parameters: Some(Any::null()),
            },
            SignOptions {
                hash: Some(HashAlgorithm::Sha256),
                padding: RsaPadding::Pkcs1v15,
                ..SignOptions::default()
            },
        ),
        KeyKind::Ed25519 => (
            AlgorithmIdentifierOwned {
                oid: ED25519,
                parameters: None,
            },
            SignOptions::default(),
        ),
        other => {
            return Err(Error::invalid(format!(
                "key type '{other}' does not support signing"
            )))
        }
    })
}

fn create_csr(ctx: &mut Ctx<'_>, f: Csr) -> Result<Response, Error> {
    let loaded = signing_policy(ctx, &f.name)?;
    let p = &loaded.policy;
    let v = pick_version(p, f.version.as_deref())?;
    // The template's subject and attributes (the extension request with its
    // SANs among them) are kept; its key and signature are not.
    let (subject, attributes) = match f.csr.as_deref().map(str::trim) {
        None | Some("") => Default::default(),
        Some(text) => {
            let der = pem_blocks(text)
                .ok()
                .and_then(|blocks| blocks.into_iter().next())
                .map(|(_, der)| der)
                .ok_or_else(|| Error::invalid("could not decode PEM CSR"))?;
            let template = CertReq::from_der(&der)
                .map_err(|e| Error::invalid(format!("could not parse the CSR template: {e}")))?;
            (template.info.subject, template.info.attributes)
        }
    };
    if !loaded.has_private(v)? {
        return Err(Error::invalid(
            "could not create the csr: private key not imported for key version selected",
        ));
    }
    let key = loaded.key(v)?;
    let spki = key.public_key()?.export(PublicKeyFormat::SpkiDer)?;
    let info = CertReqInfo {
        version: Version::V1,
        subject,
        public_key: SubjectPublicKeyInfoOwned::from_der(&spki)
            .map_err(|e| Error::internal(format!("host public key does not decode: {e}")))?,
        attributes,
    };
    let tbs = info
        .to_der()
        .map_err(|e| Error::invalid(format!("could not create the csr: {e}")))?;
    let (algorithm, options) = signature_algorithm(p.kind)?;
    let signature = key.sign(&tbs, options)?;
    let request = CertReq {
        info,
        algorithm,
        signature: BitString::from_bytes(&signature).map_err(|e| Error::internal(e.to_string()))?,
    };
    let der = request
        .to_der()
        .map_err(|e| Error::internal(format!("could not encode the csr: {e}")))?;
    Ok(Response::data(json!({
        "name": p.name,
        "type": p.kind.as_str(),
        "csr": pem("CERTIFICATE REQUEST", &der),
    })))
}

fn set_certificate(ctx: &mut Ctx<'_>, f: SetCertificate) -> Result<Response, Error> {
    let loaded = signing_policy(ctx, &f.name)?;
    let p = &loaded.policy;
    let v = pick_version(p, f.version.as_deref())?;
    let text = f.certificate_chain.unwrap_or_default();
    let chain = parse_chain(&text)?;
    check_chain(&chain)?;
    let Some((_, leaf)) = chain.first() else {
        return Err(Error::invalid(
            "expected at least one certificate in the parsed certificate chain",
        ));
    };
    check_leaf_key(p.kind, &*loaded.public(v)?, leaf)?;

    let mut policy = p.clone();
    let version = policy
        .versions
        .get_mut(&v)
        .ok_or_else(|| Error::internal("selected key version vanished"))?;
    version.certificate_chain = chain.iter().map(|(der, _)| B64Bytes(der.clone())).collect();
    store::save(ctx, &policy)?;
    Ok(Response::data(json!({
        "name": policy.name,
        "type": policy.kind.as_str(),
        "certificate_chain": text,
    })))
}

/// Parses the certificates of a PEM chain (other PEM blocks are ignored,
/// as Vault does), each with its DER.
fn parse_chain(text: &str) -> Result<Vec<(Vec<u8>, Certificate)>, Error> {
    let blocks = pem_blocks(text.trim())
        .map_err(|()| Error::invalid("could not decode a PEM block in the certificate chain"))?;
    let mut chain = Vec::new();
    for (label, der) in blocks {
        if label != "CERTIFICATE" && label != "X509 CERTIFICATE" {
            continue;
        }
        let cert = Certificate::from_der(&der).map_err(|e| {
            Error::invalid(format!(
                "could not parse a certificate in the certificate chain: {e}"
            ))
        })?;
        chain.push((der, cert));
    }
    if chain.is_empty() {
        return Err(Error::invalid(
            "provided certificate chain did not contain any valid PEM encoded certificate",
        ));
    }
    Ok(chain)
}

/// Whether a certificate's basic constraints say CA; none when it has no
/// basic constraints extension.
fn is_ca(cert: &Certificate) -> Result<Option<bool>, Error> {
    let extensions = cert
        .tbs_certificate
        .extensions
        .as_deref()
        .unwrap_or_default();
    for ext in extensions {
        if ext.extn_id == BasicConstraints::OID {
            let bc = BasicConstraints::from_der(ext.extn_value.as_bytes()).map_err(|e| {
                Error::invalid(format!(
                    "could not parse a certificate in the certificate chain: basic constraints: {e}"
                ))
            })?;
            return Ok(Some(bc.ca));
        }
    }
    Ok(None)
}

/// The leaf first, and only one leaf (Vault's rules: a certificate that
/// declares no basic constraints counts as neither).
fn check_chain(chain: &[(Vec<u8>, Certificate)]) -> Result<(), Error> {
    let Some(((_, leaf), rest)) = chain.split_first() else {
        return Err(Error::invalid(
            "expected at least one certificate in the parsed certificate chain",
        ));
    };
    if is_ca(leaf)? == Some(true) {
        return Err(Error::invalid(
            "certificate in the first position is not a leaf certificate",
        ));
    }
    for (_, cert) in rest {
        if is_ca(cert)? == Some(false) {
            return Err(Error::invalid(
                "provided certificate chain contains more than one leaf certificate",
            ));
        }
    }
    Ok(())
}

/// The leaf must certify the version's public key.
fn check_leaf_key(kind: KeyKind, public: &PublicKey, leaf: &Certificate) -> Result<(), Error> {
    let kt = kind.key_type()?;
    let spki = leaf
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| Error::invalid(format!("could not encode the leaf's public key: {e}")))?;
    let mismatch = || {
        Error::invalid(format!(
            "leaf certificate public key does not match the key version selected (a {kind} key)"
        ))
    };
    let theirs = PublicKey::import(kt, &spki).map_err(|_| mismatch())?;
    if theirs.export(PublicKeyFormat::SpkiDer)? != public.export(PublicKeyFormat::SpkiDer)? {
        return Err(mismatch());
    }
    Ok(())
}

/// The PEM blocks of `text` as (label, DER), read as leniently as Go's
/// `pem.Decode`: text around and between blocks is skipped, headers are
/// ignored, and the base64 may be wrapped at any width. Fails when no
/// block is found, or when text after the last block is not a block.
fn pem_blocks(text: &str) -> Result<Vec<(String, Vec<u8>)>, ()> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while !rest.trim().is_empty() {
        let start = rest.find("-----BEGIN ").ok_or(())?;
        let after = &rest[start + "-----BEGIN ".len()..];
        let label_end = after.find("-----").ok_or(())?;
        let label = &after[..label_end];
        if label.contains('\n') {
            return Err(());
        }
        let body = &after[label_end + "-----".len()..];
        let end_marker = format!("-----END {label}-----");
        let end = body.find(&end_marker).ok_or(())?;
        let base64: String = body[..end]
            .lines()
            .filter(|line| !line.contains(':'))
            .flat_map(|line| line.chars().filter(|c| !c.is_whitespace()))
            .collect();
        let der = decode_b64(&base64).map_err(|_| ())?;
        blocks.push((label.to_owned(), der));
        rest = &body[end + end_marker.len()..];
    }
    if blocks.is_empty() {
        return Err(());
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use coffer_sdk::keys::{Key as PrivateKey, KeyType};
    use coffer_sdk::testing::TestEngine;
    use coffer_sdk::Error;
    use serde_json::{json, Value};
    use x509_cert::der::asn1::{OctetString, UtcTime};
    use x509_cert::ext::pkix::name::GeneralName;
    use x509_cert::ext::pkix::SubjectAltName;
    use x509_cert::ext::Extension;
    use x509_cert::name::Name;
    use x509_cert::request::ExtensionReq;
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::time::{Time, Validity};
    use x509_cert::TbsCertificate;

    use super::*;
    use crate::tests::{data, transit};

    fn key(t: &mut TestEngine, name: &str, kind: &str) {
        t.write(&format!("keys/{name}"), json!({"type": kind}))
            .unwrap();
    }

    fn parse_csr(pem_text: &str) -> CertReq {
        let (label, der) = pem_blocks(pem_text).unwrap().remove(0);
        assert_eq!(label, "CERTIFICATE REQUEST");
        CertReq::from_der(&der).unwrap()
    }

    /// Verifies a CSR's self-signature with its own public key.
    fn csr_signature_is_valid(csr: &CertReq, kt: KeyType) -> bool {
        let spki = csr.info.public_key.to_der().unwrap();
        let public = PublicKey::import(kt, &spki).unwrap();
        let tbs = csr.info.to_der().unwrap();
        let options = match csr.algorithm.oid {
            ECDSA_WITH_SHA256 => SignOptions {
                hash: Some(HashAlgorithm::Sha256),
                ..SignOptions::default()
            },
            ECDSA_WITH_SHA384 => SignOptions {
                hash: Some(HashAlgorithm::Sha384),
                ..SignOptions::default()
            },
            ECDSA_WITH_SHA512 => SignOptions {
                hash: Some(HashAlgorithm::Sha512),
                ..SignOptions::default()
            },
            SHA256_WITH_RSA => SignOptions {
                hash: Some(HashAlgorithm::Sha256),
                padding: RsaPadding::Pkcs1v15,
                ..SignOptions::default()
            },
            ED25519 => SignOptions::default(),
            other => panic!("unexpected algorithm {other}"),
        };
        public
            .verify(&tbs, csr.signature.raw_bytes(), options)
            .unwrap()
    }

    fn version_spki(t: &mut TestEngine, name: &str, v: u32, kt: KeyType) -> Vec<u8> {
        let read = data(t.read(&format!("keys/{name}")));
        let text = read["keys"][v.to_string()]["public_key"].as_str().unwrap();
        let public = if kt == KeyType::Ed25519 {
            PublicKey::import(kt, &decode_b64(text).unwrap()).unwrap()
        } else {
            PublicKey::import(kt, text.as_bytes()).unwrap()
        };
        public.export(PublicKeyFormat::SpkiDer).unwrap()
    }

    #[test]
    fn csr_for_each_signing_type() {
        let mut t = transit();
        for (kind, kt) in [
            ("ecdsa-p256", KeyType::EcdsaP256),
            ("ecdsa-p384", KeyType::EcdsaP384),
            ("ecdsa-p521", KeyType::EcdsaP521),
            ("ed25519", KeyType::Ed25519),
            ("rsa-2048", KeyType::Rsa2048),
        ] {
            key(&mut t, kind, kind);
            let out = data(t.write(&format!("keys/{kind}/csr"), json!({})));
            assert_eq!(out["name"], kind);
            assert_eq!(out["type"], kind);
            let csr = parse_csr(out["csr"].as_str().unwrap());
            assert!(csr_signature_is_valid(&csr, kt), "{kind}");
            assert_eq!(csr.info.version, Version::V1);
            assert!(csr.info.subject.0.is_empty());
            assert_eq!(
                csr.info.public_key.to_der().unwrap(),
                version_spki(&mut t, kind, 1, kt),
                "{kind}"
            );
        }
    }

    #[test]
    fn csr_version_selects_the_key() {
        let mut t = transit();
        key(&mut t, "k", "ecdsa-p256");
        t.write("keys/k/rotate", json!({})).unwrap();
        let v1 = version_spki(&mut t, "k", 1, KeyType::EcdsaP256);
        let v2 = version_spki(&mut t, "k", 2, KeyType::EcdsaP256);
        for (version, want) in [
            (json!(1), &v1),
            (json!("1"), &v1),
            (json!("latest"), &v2),
            (Value::Null, &v2),
        ] {
            let mut body = json!({});
            if !version.is_null() {
                body["version"] = version.clone();
            }
            let out = data(t.write("keys/k/csr", body));
            let csr = parse_csr(out["csr"].as_str().unwrap());
            assert_eq!(&csr.info.public_key.to_der().unwrap(), want, "{version}");
        }
        assert!(matches!(
            t.write("keys/k/csr", json!({"version": 3})),
            Err(Error::InvalidRequest(_))
        ));
    }

    #[test]
    fn csr_keeps_the_template_subject_and_extensions() {
        let mut t = transit();
        key(&mut t, "k", "ecdsa-p384");
        // A template signed by another key, with a CN and a DNS SAN.
        let other = PrivateKey::generate(KeyType::EcdsaP256, None, &[]).unwrap();
        let subject: Name = "CN=transit.example".parse().unwrap();
        let san = SubjectAltName(vec![GeneralName::DnsName(
            x509_cert::der::asn1::Ia5String::new("transit.example").unwrap(),
        )]);
        let ext_req = ExtensionReq(vec![Extension {
            extn_id: SubjectAltName::OID,
            critical: false,
            extn_value: OctetString::new(san.to_der().unwrap()).unwrap(),
        }]);
        let attribute = x509_cert::attr::Attribute {
            oid: ExtensionReq::OID,
            values: vec![Any::encode_from(&ext_req).unwrap()]
                .try_into()
                .unwrap(),
        };
        let info = CertReqInfo {
            version: Version::V1,
            subject: subject.clone(),
            public_key: SubjectPublicKeyInfoOwned::from_der(
                &other
                    .public_key()
                    .unwrap()
                    .export(PublicKeyFormat::SpkiDer)
                    .unwrap(),
            )
            .unwrap(),
            attributes: vec![attribute.clone()].try_into().unwrap(),
        };
        let (algorithm, options) = signature_algorithm(KeyKind::EcdsaP256).unwrap();
        let signature = other.sign(&info.to_der().unwrap(), options).unwrap();
        let template = CertReq {
            info,
            algorithm,
            signature: BitString::from_bytes(&signature).unwrap(),
        };
        let template_pem = pem("CERTIFICATE REQUEST", &template.to_der().unwrap());

        let out = data(t.write("keys/k/csr", json!({"csr": template_pem})));
        let csr = parse_csr(out["csr"].as_str().unwrap());
        assert!(csr_signature_is_valid(&csr, KeyType::EcdsaP384));
        assert_eq!(csr.info.subject, subject);
        assert_eq!(csr.info.attributes.as_slice(), &[attribute]);
        assert_eq!(
            csr.info.public_key.to_der().unwrap(),
            version_spki(&mut t, "k", 1, KeyType::EcdsaP384)
        );
        assert_eq!(csr.algorithm.oid, ECDSA_WITH_SHA384);

        assert_eq!(
            t.write("keys/k/csr", json!({"csr": "junk"})),
            Err(Error::invalid("could not decode PEM CSR"))
        );
        let not_a_csr = pem("CERTIFICATE REQUEST", b"\x30\x03\x02\x01\x00");
        assert!(matches!(
            t.write("keys/k/csr", json!({"csr": not_a_csr})),
            Err(Error::InvalidRequest(_))
        ));
    }

    #[test]
    fn csr_refusals() {
        let mut t = transit();
        key(&mut t, "aes", "aes256-gcm96");
        assert_eq!(
            t.write("keys/aes/csr", json!({})),
            Err(Error::invalid(
                "key type 'aes256-gcm96' does not support signing"
            ))
        );
        assert_eq!(
            t.write("keys/nope/csr", json!({})),
            Err(Error::invalid("key with provided name 'nope' not found"))
        );
        t.write("keys/d", json!({"type": "ed25519", "derived": true}))
            .unwrap();
        assert!(matches!(
            t.write("keys/d/csr", json!({})),
            Err(Error::InvalidRequest(_))
        ));
        // a version imported as a public key only cannot sign
        let private = PrivateKey::generate(KeyType::EcdsaP256, None, &[]).unwrap();
        let public_pem = String::from_utf8(
            private
                .public_key()
                .unwrap()
                .export(PublicKeyFormat::SpkiPem)
                .unwrap(),
        )
        .unwrap();
        t.write(
            "keys/pub/import",
            json!({"type": "ecdsa-p256", "public_key": public_pem}),
        )
        .unwrap();
        assert_eq!(
            t.write("keys/pub/csr", json!({})),
            Err(Error::invalid(
                "could not create the csr: private key not imported for key version selected"
            ))
        );
    }

    /// A certificate for `spki_der` signed by `ca` (ECDSA P-256).
    fn issue(spki_der: &[u8], subject: &str, ca: &PrivateKey, is_ca: Option<bool>) -> Vec<u8> {
        let extensions = is_ca.map(|ca| {
            vec![Extension {
                extn_id: BasicConstraints::OID,
                critical: true,
                extn_value: OctetString::new(
                    BasicConstraints {
                        ca,
                        path_len_constraint: None,
                    }
                    .to_der()
                    .unwrap(),
                )
                .unwrap(),
            }]
        });
        let (signature_alg, options) = signature_algorithm(KeyKind::EcdsaP256).unwrap();
        let time = |secs| {
            Time::UtcTime(
                UtcTime::from_unix_duration(std::time::Duration::from_secs(secs)).unwrap(),
            )
        };
        let tbs = TbsCertificate {
            version: x509_cert::Version::V3,
            serial_number: SerialNumber::new(&[1, 2, 3]).unwrap(),
            signature: signature_alg.clone(),
            issuer: "CN=test ca".parse().unwrap(),
            validity: Validity {
                not_before: time(1_700_000_000),
                not_after: time(1_900_000_000),
            },
            subject: subject.parse().unwrap(),
            subject_public_key_info: SubjectPublicKeyInfoOwned::from_der(spki_der).unwrap(),
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions,
        };
        let signature = ca.sign(&tbs.to_der().unwrap(), options).unwrap();
        Certificate {
            tbs_certificate: tbs,
            signature_algorithm: signature_alg,
            signature: BitString::from_bytes(&signature).unwrap(),
        }
        .to_der()
        .unwrap()
    }

    fn cert_pem(der: &[u8]) -> String {
        pem("CERTIFICATE", der)
    }

    #[test]
    fn set_certificate_stores_the_chain() {
        let mut t = transit();
        key(&mut t, "k", "ecdsa-p256");
        t.write("keys/k/rotate", json!({})).unwrap();
        let ca = PrivateKey::generate(KeyType::EcdsaP256, None, &[]).unwrap();
        let ca_spki = ca
            .public_key()
            .unwrap()
            .export(PublicKeyFormat::SpkiDer)
            .unwrap();
        let ca_cert = issue(&ca_spki, "CN=test ca", &ca, Some(true));
        let v1 = version_spki(&mut t, "k", 1, KeyType::EcdsaP256);
        let leaf = issue(&v1, "CN=leaf", &ca, None);
        let chain = format!("junk before\n{}{}", cert_pem(&leaf), cert_pem(&ca_cert));

        // version 1 explicitly; version 2 (latest) has a different key
        assert!(matches!(
            t.write("keys/k/set-certificate", json!({"certificate_chain": chain})),
            Err(Error::InvalidRequest(m)) if m.contains("does not match")
        ));
        let out = data(t.write(
            "keys/k/set-certificate",
            json!({"certificate_chain": chain, "version": 1}),
        ));
        assert_eq!(out["certificate_chain"], chain);
        let read = data(t.read("keys/k"));
        let want = format!(
            "{}\n{}",
            cert_pem(&leaf).trim_end(),
            cert_pem(&ca_cert).trim_end()
        );
        assert_eq!(read["keys"]["1"]["certificate_chain"], want);
        assert_eq!(read["keys"]["2"]["certificate_chain"], "");
        let exported = data(t.read("export/certificate-chain/k/1"));
        assert_eq!(exported["keys"]["1"], want);

        // refusals leave the stored chain as it was
        let stranger = PrivateKey::generate(KeyType::EcdsaP256, None, &[]).unwrap();
        let foreign = issue(
            &stranger
                .public_key()
                .unwrap()
                .export(PublicKeyFormat::SpkiDer)
                .unwrap(),
            "CN=other",
            &ca,
            None,
        );
        let rsa = PrivateKey::generate(KeyType::Rsa2048, None, &[]).unwrap();
        let rsa_leaf = issue(
            &rsa.public_key()
                .unwrap()
                .export(PublicKeyFormat::SpkiDer)
                .unwrap(),
            "CN=rsa",
            &ca,
            None,
        );
        for (bad, why) in [
            (cert_pem(&foreign) + &cert_pem(&ca_cert), "does not match"),
            (cert_pem(&rsa_leaf), "does not match"),
            ("junk".to_owned(), "PEM"),
            (String::new(), "PEM"),
            (cert_pem(&leaf) + "trailing junk", "PEM"),
            (pem("PUBLIC KEY", &v1), "did not contain"),
            (pem("CERTIFICATE", b"\x30\x00"), "could not parse"),
            (cert_pem(&ca_cert) + &cert_pem(&leaf), "first position"),
            (cert_pem(&leaf) + &cert_pem(&leaf), ""),
            (
                cert_pem(&leaf) + &cert_pem(&issue(&ca_spki, "CN=x", &ca, Some(false))),
                "more than one leaf",
            ),
        ] {
            let r = t.write(
                "keys/k/set-certificate",
                json!({"certificate_chain": bad, "version": "1"}),
            );
            if why.is_empty() {
                // two leaves without basic constraints: accepted, as Vault does
                assert!(r.is_ok(), "{r:?}");
                t.write(
                    "keys/k/set-certificate",
                    json!({"certificate_chain": chain, "version": "1"}),
                )
                .unwrap();
                continue;
            }
            assert!(
                matches!(&r, Err(Error::InvalidRequest(m)) if m.contains(why)),
                "{why}: {r:?}"
            );
            assert_eq!(
                data(t.read("keys/k"))["keys"]["1"]["certificate_chain"],
                want
            );
        }
    }

    #[test]
    fn set_certificate_for_ed25519_and_rsa_csr_round_trip() {
        let mut t = transit();
        let ca = PrivateKey::generate(KeyType::EcdsaP256, None, &[]).unwrap();
        for kind in ["ed25519", "rsa-2048"] {
            key(&mut t, kind, kind);
            let out = data(t.write(&format!("keys/{kind}/csr"), json!({})));
            let csr = parse_csr(out["csr"].as_str().unwrap());
            let leaf = issue(&csr.info.public_key.to_der().unwrap(), "CN=leaf", &ca, None);
            data(t.write(
                &format!("keys/{kind}/set-certificate"),
                json!({"certificate_chain": cert_pem(&leaf)}),
            ));
            let read = data(t.read(&format!("keys/{kind}")));
            assert_eq!(
                read["keys"]["1"]["certificate_chain"],
                cert_pem(&leaf).trim_end(),
                "{kind}"
            );
        }
        key(&mut t, "aes", "aes256-gcm96");
        assert_eq!(
            t.write(
                "keys/aes/set-certificate",
                json!({"certificate_chain": "x"})
            ),
            Err(Error::invalid(
                "key type 'aes256-gcm96' does not support signing"
            ))
        );
    }
}
