//! Certificates as DER: a [`Template`] says what goes into one, [`sign`]
//! builds the TBS structure and has the issuer's key sign it through the
//! host, and [`Parsed`] reads back what the engine needs from a stored or
//! submitted certificate. Names, SANs and extensions are encoded as Go's
//! `crypto/x509` encodes them, so clients see what Vault would give them.

use std::net::IpAddr;

use coffer_sdk::crypto::HashAlgorithm;
use coffer_sdk::keys::Key;
use coffer_sdk::prelude::*;
use der::asn1::{Any, BitString, Ia5String, ObjectIdentifier, OctetString, SetOfVec};
use der::oid::AssociatedOid;
use der::{Decode, Encode, Tag};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::certificate::{TbsCertificate, Version};
use x509_cert::ext::pkix::certpolicy::{
    DisplayText, PolicyInformation, PolicyQualifierInfo, UserNotice,
};
use x509_cert::ext::pkix::constraints::name::{GeneralSubtree, NameConstraints};
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName, OtherName};
use x509_cert::ext::pkix::{
    crl::dp::DistributionPoint, AccessDescription, AuthorityInfoAccessSyntax,
    AuthorityKeyIdentifier, BasicConstraints, CertificatePolicies, CrlDistributionPoints,
    ExtendedKeyUsage, FreshestCrl, KeyUsage, KeyUsages, SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::ext::Extension;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::{Time, Validity};
use x509_cert::Certificate;

use crate::alg::Signer;

/// Attribute types of a subject, in the order Go writes them.
pub mod oid {
    use der::asn1::ObjectIdentifier;
    /// countryName.
    pub const C: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.6");
    /// stateOrProvinceName.
    pub const ST: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.8");
    /// localityName.
    pub const L: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.7");
    /// streetAddress.
    pub const STREET: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.9");
    /// postalCode.
    pub const POSTAL_CODE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.17");
    /// organizationName.
    pub const O: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
    /// organizationalUnitName.
    pub const OU: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.11");
    /// commonName.
    pub const CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
    /// serialNumber.
    pub const SERIAL_NUMBER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.5");
    /// userId (UID).
    pub const UID: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.9.2342.19200300.100.1.1");
    /// id-ad-ocsp.
    pub const OCSP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");
    /// id-qt-cps.
    pub const CPS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.2.1");
    /// id-qt-unotice.
    pub const USER_NOTICE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.2.2");
    /// id-ad-caIssuers.
    pub const CA_ISSUERS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.2");
}

/// A subject's attributes, as request fields give them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    /// CN.
    pub common_name: String,
    /// C.
    pub country: Vec<String>,
    /// ST.
    pub province: Vec<String>,
    /// L.
    pub locality: Vec<String>,
    /// street.
    pub street_address: Vec<String>,
    /// postalCode.
    pub postal_code: Vec<String>,
    /// O.
    pub organization: Vec<String>,
    /// OU.
    pub ou: Vec<String>,
    /// serialNumber.
    pub serial_number: String,
    /// UIDs (each its own RDN, after the others, as Go writes extra names).
    pub user_ids: Vec<String>,
}

impl Subject {
    /// The distinguished name: one RDN per attribute type present, in Go's
    /// order, each value a PrintableString when it fits one (else UTF-8).
    pub fn to_name(&self) -> Result<Name, Error> {
        let mut rdns = Vec::new();
        let one = |v: &String| std::slice::from_ref(v).to_vec();
        let cn = if self.common_name.is_empty() {
            Vec::new()
        } else {
            one(&self.common_name)
        };
        let sn = if self.serial_number.is_empty() {
            Vec::new()
        } else {
            one(&self.serial_number)
        };
        for (oid, values) in [
            (oid::C, &self.country),
            (oid::ST, &self.province),
            (oid::L, &self.locality),
            (oid::STREET, &self.street_address),
            (oid::POSTAL_CODE, &self.postal_code),
            (oid::O, &self.organization),
            (oid::OU, &self.ou),
            (oid::CN, &cn),
            (oid::SERIAL_NUMBER, &sn),
        ] {
            if values.is_empty() {
                continue;
            }
            let mut set = SetOfVec::new();
            for v in values {
                set.insert(AttributeTypeAndValue {
                    oid,
                    value: directory_string(v)?,
                })
                .map_err(|e| Error::invalid(format!("invalid subject value {v:?}: {e}")))?;
            }
            rdns.push(RelativeDistinguishedName(set));
        }
        for uid in &self.user_ids {
            let mut set = SetOfVec::new();
            set.insert(AttributeTypeAndValue {
                oid: oid::UID,
                value: directory_string(uid)?,
            })
            .map_err(|e| Error::invalid(format!("invalid user id {uid:?}: {e}")))?;
            rdns.push(RelativeDistinguishedName(set));
        }
        Ok(RdnSequence(rdns))
    }
}

/// Go's choice of string type for a name's value.
fn directory_string(value: &str) -> Result<Any, Error> {
    let printable = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b));
    let tag = if printable {
        Tag::PrintableString
    } else {
        Tag::Utf8String
    };
    Any::new(tag, value.as_bytes())
        .map_err(|e| Error::invalid(format!("invalid subject value {value:?}: {e}")))
}

/// Subject alternative names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sans {
    /// DNS names.
    pub dns: Vec<String>,
    /// Email addresses (rfc822Name).
    pub emails: Vec<String>,
    /// IP addresses.
    pub ips: Vec<IpAddr>,
    /// URIs.
    pub uris: Vec<String>,
    /// otherName values: type and UTF-8 value.
    pub other: Vec<(ObjectIdentifier, String)>,
}

impl Sans {
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.dns.is_empty()
            && self.emails.is_empty()
            && self.ips.is_empty()
            && self.uris.is_empty()
            && self.other.is_empty()
    }

    /// As GeneralNames, in Go's order (DNS, email, IP, URI, other).
    pub fn general_names(&self) -> Result<Vec<GeneralName>, Error> {
        let ia5 = |v: &str, what: &str| {
            Ia5String::new(v)
                .map_err(|_| Error::invalid(format!("invalid {what} {v:?}: not ASCII")))
        };
        let mut out = Vec::new();
        for d in &self.dns {
            out.push(GeneralName::DnsName(ia5(d, "DNS name")?));
        }
        for e in &self.emails {
            out.push(GeneralName::Rfc822Name(ia5(e, "email address")?));
        }
        for ip in &self.ips {
            out.push(GeneralName::from(*ip));
        }
        for u in &self.uris {
            out.push(GeneralName::UniformResourceIdentifier(ia5(u, "URI")?));
        }
        for (type_id, value) in &self.other {
            let value = Any::new(Tag::Utf8String, value.as_bytes())
                .map_err(|e| Error::invalid(format!("invalid other SAN value: {e}")))?;
            out.push(GeneralName::OtherName(OtherName {
                type_id: *type_id,
                value,
            }));
        }
        Ok(out)
    }
}

/// Where a certificate points for its issuer, CRLs and OCSP (AIA and CDP).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Urls {
    /// caIssuers URLs.
    #[serde(default)]
    pub issuing_certificates: Vec<String>,
    /// CRL distribution points.
    #[serde(default)]
    pub crl_distribution_points: Vec<String>,
    /// OCSP responders.
    #[serde(default)]
    pub ocsp_servers: Vec<String>,
    /// Delta CRL distribution points (the FreshestCRL extension).
    #[serde(default)]
    pub delta_crl_distribution_points: Vec<String>,
}

/// A certificate policy, with an optional CPS URI and user notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The policy's OID.
    pub oid: ObjectIdentifier,
    /// A CPS URI qualifier.
    pub cps: Option<String>,
    /// A user notice's explicit text.
    pub notice: Option<String>,
}

impl Policy {
    /// The policies a role holds: OIDs as strings, or `{oid, cps, notice}`
    /// objects (Vault's two forms); anything else is a 400.
    pub fn parse_all(values: &[serde_json::Value]) -> Result<Vec<Policy>, Error> {
        values.iter().map(Policy::parse).collect()
    }

    fn parse(value: &serde_json::Value) -> Result<Policy, Error> {
        let oid_of = |text: &str| {
            ObjectIdentifier::new(text.trim())
                .map_err(|_| Error::invalid(format!("invalid OID: {text:?}")))
        };
        let text = |o: &serde_json::Map<String, serde_json::Value>, k: &str| {
            o.get(k)
                .and_then(serde_json::Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        match value {
            serde_json::Value::String(s) => Ok(Policy {
                oid: oid_of(s)?,
                cps: None,
                notice: None,
            }),
            serde_json::Value::Object(o) => Ok(Policy {
                oid: oid_of(&text(o, "oid").unwrap_or_default())?,
                cps: text(o, "cps"),
                notice: text(o, "notice"),
            }),
            other => Err(Error::invalid(format!(
                "invalid policy identifier {other}: an OID or {{\"oid\", \"cps\", \"notice\"}}"
            ))),
        }
    }

    fn information(&self) -> Result<PolicyInformation, Error> {
        let mut qualifiers = Vec::new();
        if let Some(cps) = &self.cps {
            let uri = Ia5String::new(cps)
                .map_err(|_| Error::invalid(format!("invalid CPS URI {cps:?}: not ASCII")))?;
            qualifiers.push(PolicyQualifierInfo {
                policy_qualifier_id: oid::CPS,
                qualifier: Some(
                    Any::encode_from(&uri).map_err(|e| Error::internal(e.to_string()))?,
                ),
            });
        }
        if let Some(text) = &self.notice {
            let notice = UserNotice {
                notice_ref: None,
                explicit_text: Some(DisplayText::Utf8String(text.clone())),
            };
            qualifiers.push(PolicyQualifierInfo {
                policy_qualifier_id: oid::USER_NOTICE,
                qualifier: Some(
                    Any::encode_from(&notice).map_err(|e| Error::internal(e.to_string()))?,
                ),
            });
        }
        Ok(PolicyInformation {
            policy_identifier: self.oid,
            policy_qualifiers: if qualifiers.is_empty() {
                None
            } else {
                Some(qualifiers)
            },
        })
    }
}

/// What to put into a certificate.
#[derive(Debug, Clone)]
pub struct Template {
    /// Serial number, big-endian, minimal.
    pub serial: Vec<u8>,
    /// The subject.
    pub subject: Name,
    /// The subject's public key.
    pub spki: SubjectPublicKeyInfoOwned,
    /// Validity, seconds since the epoch.
    pub not_before: u64,
    /// Validity, seconds since the epoch.
    pub not_after: u64,
    /// A CA certificate (basic constraints CA, cert and CRL signing).
    pub is_ca: bool,
    /// A CA's path length limit; negative for none.
    pub max_path_length: i64,
    /// Basic constraints `CA:FALSE` on a leaf.
    pub basic_constraints_for_leaf: bool,
    /// Key usages (a leaf's; a CA's are fixed).
    pub key_usage: Vec<KeyUsages>,
    /// Extended key usages.
    pub ext_key_usage: Vec<ObjectIdentifier>,
    /// Alternative names.
    pub sans: Sans,
    /// Certificate policies.
    pub policies: Vec<Policy>,
    /// A CA's permitted DNS name constraints.
    pub permitted_dns_domains: Vec<String>,
    /// AIA and CDP.
    pub urls: Urls,
    /// Extensions copied as they are (sign-verbatim), written after ours
    /// unless ours has the same type.
    pub extra: Vec<Extension>,
}

/// The issuer of a certificate being built.
pub struct Issuer<'a> {
    /// Its subject (the new certificate's issuer name).
    pub name: Name,
    /// Its subject key identifier, written as the AKI (a root's own).
    pub key_id: Option<Vec<u8>>,
    /// Its key.
    pub key: &'a Key,
    /// How it signs.
    pub signer: Signer,
}

/// A Time for seconds since the epoch: UTCTime through 2049, then
/// GeneralizedTime (RFC 5280).
pub fn time(secs: u64) -> Result<Time, Error> {
    let dt = der::DateTime::from_unix_duration(std::time::Duration::from_secs(secs))
        .map_err(|e| Error::invalid(format!("time out of range: {e}")))?;
    if dt.year() < 2050 {
        der::asn1::UtcTime::from_date_time(dt)
            .map(Time::UtcTime)
            .map_err(|e| Error::internal(e.to_string()))
    } else {
        Ok(Time::GeneralTime(
            der::asn1::GeneralizedTime::from_date_time(dt),
        ))
    }
}

/// RFC 5280's key identifier: SHA-1 of the subjectPublicKey bits.
pub fn key_id(spki: &SubjectPublicKeyInfoOwned) -> Vec<u8> {
    coffer_sdk::crypto::hash(HashAlgorithm::Sha1, spki.subject_public_key.raw_bytes())
}

/// An extension of `value`'s type.
pub fn extension<T: AssociatedOid + Encode>(value: &T, critical: bool) -> Result<Extension, Error> {
    let der = value
        .to_der()
        .map_err(|e| Error::invalid(format!("could not encode extension {}: {e}", T::OID)))?;
    Ok(Extension {
        extn_id: T::OID,
        critical,
        extn_value: OctetString::new(der).map_err(|e| Error::internal(e.to_string()))?,
    })
}

fn ia5_url(url: &str) -> Result<GeneralName, Error> {
    Ia5String::new(url)
        .map(GeneralName::UniformResourceIdentifier)
        .map_err(|_| Error::invalid(format!("invalid URL {url:?}: not ASCII")))
}

/// One distribution point per URL.
fn distribution_points(urls: &[String]) -> Result<Vec<DistributionPoint>, Error> {
    urls.iter()
        .map(|url| {
            Ok(DistributionPoint {
                distribution_point: Some(DistributionPointName::FullName(vec![ia5_url(url)?])),
                reasons: None,
                crl_issuer: None,
            })
        })
        .collect()
}

/// Builds the certificate and has `issuer` sign it: its DER.
pub fn sign(t: &Template, issuer: &Issuer<'_>) -> Result<Vec<u8>, Error> {
    let mut exts = Vec::new();
    let ski = key_id(&t.spki);
    if t.is_ca {
        exts.push(extension(
            &KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign),
            true,
        )?);
    } else if !t.key_usage.is_empty() {
        let mut set = flagset::FlagSet::<KeyUsages>::default();
        for u in &t.key_usage {
            set |= *u;
        }
        exts.push(extension(&KeyUsage(set), true)?);
    }
    if !t.ext_key_usage.is_empty() {
        exts.push(extension(
            &ExtendedKeyUsage(t.ext_key_usage.clone()),
            false,
        )?);
    }
    if t.is_ca {
        let path_len = u8::try_from(t.max_path_length).ok();
        exts.push(extension(
            &BasicConstraints {
                ca: true,
                path_len_constraint: path_len,
            },
            true,
        )?);
    } else if t.basic_constraints_for_leaf {
        exts.push(extension(
            &BasicConstraints {
                ca: false,
                path_len_constraint: None,
            },
            true,
        )?);
    }
    exts.push(extension(
        &SubjectKeyIdentifier(
            OctetString::new(ski.clone()).map_err(|e| Error::internal(e.to_string()))?,
        ),
        false,
    )?);
    if let Some(aki) = &issuer.key_id {
        exts.push(extension(
            &AuthorityKeyIdentifier {
                key_identifier: Some(
                    OctetString::new(aki.clone()).map_err(|e| Error::internal(e.to_string()))?,
                ),
                ..Default::default()
            },
            false,
        )?);
    }
    let mut access = Vec::new();
    for url in &t.urls.ocsp_servers {
        access.push(AccessDescription {
            access_method: oid::OCSP,
            access_location: ia5_url(url)?,
        });
    }
    for url in &t.urls.issuing_certificates {
        access.push(AccessDescription {
            access_method: oid::CA_ISSUERS,
            access_location: ia5_url(url)?,
        });
    }
    if !access.is_empty() {
        exts.push(extension(&AuthorityInfoAccessSyntax(access), false)?);
    }
    if !t.sans.is_empty() {
        // Critical when the subject is empty (RFC 5280 4.2.1.6), as Go does.
        let critical = t.subject.0.is_empty();
        exts.push(extension(
            &SubjectAltName(t.sans.general_names()?),
            critical,
        )?);
    }
    if !t.policies.is_empty() {
        let policies = t
            .policies
            .iter()
            .map(Policy::information)
            .collect::<Result<Vec<_>, Error>>()?;
        exts.push(extension(&CertificatePolicies(policies), false)?);
    }
    if t.is_ca && !t.permitted_dns_domains.is_empty() {
        let subtrees = t
            .permitted_dns_domains
            .iter()
            .map(|d| {
                Ok(GeneralSubtree {
                    base: GeneralName::DnsName(Ia5String::new(d).map_err(|_| {
                        Error::invalid(format!("invalid permitted DNS domain {d:?}"))
                    })?),
                    minimum: 0,
                    maximum: None,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        exts.push(extension(
            &NameConstraints {
                permitted_subtrees: Some(subtrees),
                excluded_subtrees: None,
            },
            true,
        )?);
    }
    if !t.urls.crl_distribution_points.is_empty() {
        let points = distribution_points(&t.urls.crl_distribution_points)?;
        exts.push(extension(&CrlDistributionPoints(points), false)?);
    }
    if !t.urls.delta_crl_distribution_points.is_empty() {
        let points = distribution_points(&t.urls.delta_crl_distribution_points)?;
        exts.push(extension(&FreshestCrl(points), false)?);
    }
    for e in &t.extra {
        if !exts.iter().any(|x| x.extn_id == e.extn_id) {
            exts.push(e.clone());
        }
    }

    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&t.serial)
            .map_err(|e| Error::internal(format!("serial number: {e}")))?,
        signature: issuer.signer.algorithm.clone(),
        issuer: issuer.name.clone(),
        validity: Validity {
            not_before: time(t.not_before)?,
            not_after: time(t.not_after)?,
        },
        subject: t.subject.clone(),
        subject_public_key_info: t.spki.clone(),
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(exts),
    };
    sign_tbs(tbs, issuer)
}

/// Signs a TBS certificate with `issuer`'s key (its `signature` field must
/// already name `issuer`'s algorithm): the certificate's DER.
pub fn sign_tbs(tbs: TbsCertificate, issuer: &Issuer<'_>) -> Result<Vec<u8>, Error> {
    let tbs_der = tbs
        .to_der()
        .map_err(|e| Error::invalid(format!("could not encode the certificate: {e}")))?;
    let signature = issuer.key.sign(&tbs_der, issuer.signer.options)?;
    let cert = Certificate {
        tbs_certificate: tbs,
        signature_algorithm: issuer.signer.algorithm.clone(),
        signature: BitString::from_bytes(&signature).map_err(|e| Error::internal(e.to_string()))?,
    };
    cert.to_der()
        .map_err(|e| Error::internal(format!("could not encode the certificate: {e}")))
}

/// What the engine reads from a certificate.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The certificate.
    pub cert: Certificate,
    /// Its DER.
    pub der: Vec<u8>,
}

impl Parsed {
    /// Parses DER; a malformed certificate is a 400.
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        let cert = Certificate::from_der(der)
            .map_err(|e| Error::invalid(format!("could not parse the certificate: {e}")))?;
        Ok(Self {
            cert,
            der: der.to_vec(),
        })
    }

    /// Its serial in colon form (Go's big-endian bytes, no sign octet).
    pub fn serial(&self) -> String {
        crate::serial::colon_hex(serial_bytes(&self.cert.tbs_certificate.serial_number))
    }

    /// Its subject's DER.
    pub fn subject_der(&self) -> Vec<u8> {
        self.cert
            .tbs_certificate
            .subject
            .to_der()
            .unwrap_or_default()
    }

    /// Its issuer's DER.
    pub fn issuer_der(&self) -> Vec<u8> {
        self.cert
            .tbs_certificate
            .issuer
            .to_der()
            .unwrap_or_default()
    }

    /// The subject public key's DER.
    pub fn spki_der(&self) -> Result<Vec<u8>, Error> {
        self.cert
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| Error::internal(e.to_string()))
    }

    /// notAfter in seconds since the epoch.
    pub fn not_after(&self) -> u64 {
        self.cert
            .tbs_certificate
            .validity
            .not_after
            .to_unix_duration()
            .as_secs()
    }

    /// notBefore in seconds since the epoch.
    pub fn not_before(&self) -> u64 {
        self.cert
            .tbs_certificate
            .validity
            .not_before
            .to_unix_duration()
            .as_secs()
    }

    /// Whether its basic constraints say CA.
    pub fn is_ca(&self) -> bool {
        matches!(
            self.cert.tbs_certificate.get::<BasicConstraints>(),
            Ok(Some((_, BasicConstraints { ca: true, .. })))
        )
    }

    /// Whether it is self-issued (subject = issuer).
    pub fn self_issued(&self) -> bool {
        self.cert.tbs_certificate.subject == self.cert.tbs_certificate.issuer
    }

    /// Its subject key identifier: the extension's, or computed.
    pub fn key_id(&self) -> Vec<u8> {
        match self.cert.tbs_certificate.get::<SubjectKeyIdentifier>() {
            Ok(Some((_, ski))) => ski.0.as_bytes().to_vec(),
            _ => key_id(&self.cert.tbs_certificate.subject_public_key_info),
        }
    }

    /// Whether `issuer` issued this certificate: its subject is this one's
    /// issuer and its key made the signature.
    pub fn issued_by(&self, issuer: &Parsed) -> bool {
        issuer.subject_der() == self.issuer_der() && self.signed_by(issuer)
    }

    /// Whether `issuer`'s key signed this certificate (checked by the
    /// host with the issuer's public key).
    pub fn signed_by(&self, issuer: &Parsed) -> bool {
        crate::verify::signed_by(
            &self.cert.tbs_certificate,
            &self.cert.signature_algorithm,
            self.cert.signature.raw_bytes(),
            &issuer.cert.tbs_certificate.subject_public_key_info,
        )
    }
}

/// A serial's bytes without the sign octet DER may add.
pub fn serial_bytes(serial: &SerialNumber) -> &[u8] {
    let b = serial.as_bytes();
    match b {
        [0, rest @ ..] if !rest.is_empty() => rest,
        _ => b,
    }
}

/// The first common name of `name`, empty if none.
pub fn common_name(name: &Name) -> String {
    for rdn in &name.0 {
        for atv in rdn.0.iter() {
            if atv.oid == oid::CN {
                return String::from_utf8_lossy(atv.value.value()).into_owned();
            }
        }
    }
    String::new()
}
