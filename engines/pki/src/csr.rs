//! PKCS#10 requests: building one for an intermediate (signed by its key
//! through the host) and reading one a client sent (its self-signature
//! checked by the host).

use coffer_sdk::keys::Key;
use coffer_sdk::prelude::*;
use der::asn1::{BitString, SetOfVec};
use der::{Decode, Encode};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, SubjectAltName};
use x509_cert::request::{CertReq, CertReqInfo, ExtensionReq, Version};

use crate::alg::signer;
use crate::x509::{extension, Sans, Subject};

/// A CSR for `key` with `subject` and `sans` (and basic constraints CA
/// when `add_basic_constraints`): its DER.
pub fn build(
    key: &Key,
    subject: &Subject,
    sans: &Sans,
    add_basic_constraints: bool,
    signature_bits: u32,
    use_pss: bool,
) -> Result<Vec<u8>, Error> {
    let spki = crate::bundle::spki_of(key)?;
    let mut exts = Vec::new();
    if !sans.is_empty() {
        exts.push(extension(&SubjectAltName(sans.general_names()?), false)?);
    }
    if add_basic_constraints {
        exts.push(extension(
            &BasicConstraints {
                ca: true,
                path_len_constraint: None,
            },
            true,
        )?);
    }
    let mut attributes = SetOfVec::new();
    if !exts.is_empty() {
        let attr = x509_cert::attr::Attribute::try_from(ExtensionReq(exts))
            .map_err(|e| Error::internal(e.to_string()))?;
        attributes
            .insert(attr)
            .map_err(|e| Error::internal(e.to_string()))?;
    }
    let info = CertReqInfo {
        version: Version::V1,
        subject: subject.to_name()?,
        public_key: spki,
        attributes,
    };
    let tbs = info
        .to_der()
        .map_err(|e| Error::invalid(format!("could not create the CSR: {e}")))?;
    let s = signer(key.key_type()?, signature_bits, use_pss)?;
    let signature = key.sign(&tbs, s.options)?;
    CertReq {
        info,
        algorithm: s.algorithm,
        signature: BitString::from_bytes(&signature).map_err(|e| Error::internal(e.to_string()))?,
    }
    .to_der()
    .map_err(|e| Error::internal(format!("could not encode the CSR: {e}")))
}

/// A client's CSR, parsed and checked.
pub struct Request {
    /// The request.
    pub req: CertReq,
}

impl Request {
    /// Parses a PEM CSR and checks its self-signature; anything wrong is a
    /// 400 naming it.
    pub fn parse(pem_text: &str) -> Result<Self, Error> {
        if !pem_text.contains("-----BEGIN") {
            return Err(Error::invalid("csr contains no data"));
        }
        let der = crate::pem::single(
            pem_text,
            &["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"],
            "CSR",
        )?;
        let req = CertReq::from_der(&der)
            .map_err(|e| Error::invalid(format!("certificate request could not be parsed: {e}")))?;
        let ok = crate::verify::signed_by(
            &req.info,
            &req.algorithm,
            req.signature.raw_bytes(),
            &req.info.public_key,
        );
        if !ok {
            return Err(Error::invalid(
                "request signature invalid: the CSR's signature does not verify with its public key",
            ));
        }
        Ok(Self { req })
    }

    /// The requested extensions (from the extensionRequest attribute).
    pub fn extensions(&self) -> Vec<x509_cert::ext::Extension> {
        let mut out = Vec::new();
        for attr in self.req.info.attributes.iter() {
            if attr.oid != <ExtensionReq as der::oid::AssociatedOid>::OID {
                continue;
            }
            for v in attr.values.iter() {
                if let Ok(req) = v.decode_as::<ExtensionReq>() {
                    out.extend(req.0);
                }
            }
        }
        out
    }

    /// The requested SANs.
    pub fn sans(&self) -> Sans {
        let mut sans = Sans::default();
        for ext in self.extensions() {
            if ext.extn_id != <SubjectAltName as der::oid::AssociatedOid>::OID {
                continue;
            }
            let Ok(names) = SubjectAltName::from_der(ext.extn_value.as_bytes()) else {
                continue;
            };
            for n in names.0 {
                match n {
                    GeneralName::DnsName(d) => sans.dns.push(d.to_string()),
                    GeneralName::Rfc822Name(e) => sans.emails.push(e.to_string()),
                    GeneralName::UniformResourceIdentifier(u) => sans.uris.push(u.to_string()),
                    GeneralName::IpAddress(ip) => {
                        let b = ip.as_bytes();
                        if let Ok(a) = <[u8; 4]>::try_from(b) {
                            sans.ips.push(std::net::IpAddr::from(a));
                        } else if let Ok(a) = <[u8; 16]>::try_from(b) {
                            sans.ips.push(std::net::IpAddr::from(a));
                        }
                    }
                    GeneralName::OtherName(o) => {
                        if let Ok(s) = o.value.decode_as::<String>() {
                            sans.other.push((o.type_id, s));
                        }
                    }
                    _ => {}
                }
            }
        }
        sans
    }

    /// The subject's common name.
    pub fn common_name(&self) -> String {
        crate::x509::common_name(&self.req.info.subject)
    }
}
