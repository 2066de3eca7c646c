//! What every certificate-making request shares: the request fields for
//! names, validity and output format (declared once, flattened into each
//! path's fields), turning them into a [`Template`] under a role's rules,
//! and rendering the answer (`format`, `private_key_format`).

use std::net::IpAddr;

use coffer_sdk::crypto::PrivateKeyFormat;
use coffer_sdk::keys::{Key, Permission};
use coffer_sdk::prelude::*;
use serde_json::{json, Map, Value};

use crate::alg::{pki_key_type, signer, PkiKeyType};
use crate::names;
use crate::roles::{Role, EXT_KEY_USAGES};
use crate::store::{self, IssuerEntry};
use crate::x509::{self, Issuer, Parsed, Sans, Subject, Template, Urls};

/// Vault's system lease TTLs (32 days), for a mount whose options do not
/// carry its own.
pub const DEFAULT_TTL: u64 = 768 * 3600;

/// The mount's lease TTLs, which bound certificates as Vault bounds them:
/// the default is a certificate's lifetime when neither the request nor
/// the role gives one, the maximum caps it unless the role has a `max_ttl`.
/// The host passes them in the mount options (`default_lease_ttl`,
/// `max_lease_ttl`, seconds).
#[derive(Debug, Clone, Copy)]
pub struct MountTtls {
    /// The default lifetime.
    pub default: u64,
    /// The longest lifetime.
    pub max: u64,
}

impl MountTtls {
    /// This request's mount's.
    pub fn of(ctx: &Ctx<'_>) -> Self {
        let get = |name: &str| {
            ctx.mount_options()
                .get(name)
                .and_then(Value::as_u64)
                .filter(|t| *t > 0)
                .unwrap_or(DEFAULT_TTL)
        };
        Self {
            default: get("default_lease_ttl"),
            max: get("max_lease_ttl"),
        }
    }

    /// `requested` (0: none) or `fallback` (0: none) or the default, capped
    /// by `max` (0: the mount's), with Vault's warning when capped.
    pub fn lifetime(self, requested: u64, fallback: u64, max: u64) -> (u64, Option<String>) {
        let ttl = [requested, fallback]
            .into_iter()
            .find(|t| *t > 0)
            .unwrap_or(self.default);
        let max = if max > 0 { max } else { self.max };
        if ttl > max {
            let warning = format!(
                "TTL \"{}\" is longer than permitted maxTTL \"{}\", so maxTTL is being used",
                crate::time::go_duration(ttl),
                crate::time::go_duration(max)
            );
            return (max, Some(warning));
        }
        (ttl, None)
    }
}

/// The names a request asks for.
#[derive(Fields)]
pub struct NameFields {
    /// The requested common name.
    pub common_name: Option<String>,
    /// Requested DNS and email SANs, comma-separated.
    pub alt_names: CommaList,
    /// Requested IP SANs.
    pub ip_sans: CommaList,
    /// Requested URI SANs.
    pub uri_sans: CommaList,
    /// Requested other SANs (`oid;UTF8:value`).
    pub other_sans: CommaList,
    /// Leave the common name out of the DNS and email SANs.
    pub exclude_cn_from_sans: bool,
    /// The subject's serialNumber attribute.
    pub serial_number: Option<String>,
    /// User ids (UID attributes of the subject).
    pub user_ids: CommaList,
}

/// Validity and output of a request.
#[derive(Fields)]
pub struct OutputFields {
    /// Requested lifetime.
    pub ttl: Option<DurationSeconds>,
    /// Requested notAfter (RFC 3339), instead of `ttl`.
    pub not_after: Option<String>,
    /// Requested notBefore (RFC 3339), instead of backdating.
    pub not_before: Option<String>,
    /// `pem`, `der` or `pem_bundle`.
    #[field(default = "pem")]
    pub format: String,
    /// `der` (PKCS#1 or SEC1) or `pkcs8`; empty means `der`.
    #[field(default = "der")]
    pub private_key_format: KeyFormat,
    /// Leave self-signed roots out of `ca_chain`.
    pub remove_roots_from_chain: bool,
}

/// How a CA request's new certificate or CSR is signed.
#[derive(Fields)]
pub struct SignatureFields {
    /// Hash of the signature (0: automatic).
    #[field(default = 0)]
    pub signature_bits: u32,
    /// RSA-PSS signatures from an RSA key.
    pub use_pss: bool,
}

/// The subject attributes a CA request may set.
#[derive(Fields)]
pub struct SubjectFields {
    /// OU.
    pub ou: CommaList,
    /// O.
    pub organization: CommaList,
    /// C.
    pub country: CommaList,
    /// L.
    pub locality: CommaList,
    /// ST.
    pub province: CommaList,
    /// Street address.
    pub street_address: CommaList,
    /// Postal code.
    pub postal_code: CommaList,
}

impl OutputFields {
    /// The requested format.
    pub fn format(&self) -> Result<Format, Error> {
        Format::parse(&self.format)
    }
}

impl Format {
    /// The format a request names; anything else is Vault's 400.
    pub fn parse(text: &str) -> Result<Self, Error> {
        text.trim().parse().map_err(|_| {
            Error::invalid(
                "the \"format\" path parameter must be \"pem\", \"der\", or \"pem_bundle\"",
            )
        })
    }
}

/// How certificates are returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FieldEnum)]
#[field(rename_all = "snake_case")]
pub enum Format {
    /// PEM strings.
    Pem,
    /// Base64 DER.
    Der,
    /// PEM, the key and issuing CA joined into `certificate`.
    PemBundle,
}

/// How a returned private key is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FieldEnum)]
#[field(rename_all = "lowercase")]
pub enum KeyFormat {
    /// PKCS#1 for RSA, SEC1 for EC, PKCS#8 for Ed25519.
    Der,
    /// PKCS#8.
    Pkcs8,
}

/// The requested names, split by kind: DNS names, emails, IPs, URIs,
/// other SANs. The CN goes into the DNS or email SANs unless excluded.
pub struct Requested {
    /// The common name (possibly empty).
    pub cn: String,
    /// SANs.
    pub sans: Sans,
    /// Other SANs as text, for the role check.
    pub other_text: Vec<(String, String)>,
}

/// Splits `alt_names` and the CN into DNS names and emails.
pub fn requested(f: &NameFields, cn: String, extra_dns: &[String]) -> Result<Requested, Error> {
    let mut sans = Sans::default();
    let add = |name: &str, sans: &mut Sans| {
        let name = name.trim();
        if name.is_empty() {
            return;
        }
        let list = if name.contains('@') {
            &mut sans.emails
        } else {
            &mut sans.dns
        };
        if !list.iter().any(|n| n == name) {
            list.push(name.to_owned());
        }
    };
    if !cn.is_empty()
        && !f.exclude_cn_from_sans
        && (cn.contains('@') || names::is_hostname(cn.trim_start_matches("*.")))
    {
        add(&cn, &mut sans);
    }
    for n in f.alt_names.0.iter().chain(extra_dns) {
        add(n, &mut sans);
    }
    for ip in &f.ip_sans.0 {
        let parsed: IpAddr = ip
            .trim()
            .parse()
            .map_err(|_| Error::invalid(format!("the value {ip:?} is not a valid IP address")))?;
        if !sans.ips.contains(&parsed) {
            sans.ips.push(parsed);
        }
    }
    sans.uris = f.uri_sans.0.iter().map(|u| u.trim().to_owned()).collect();
    let mut other_text = Vec::new();
    for o in &f.other_sans.0 {
        let (oid, value) = names::parse_other_san(o)?;
        let parsed = der::asn1::ObjectIdentifier::new(&oid)
            .map_err(|_| Error::invalid(format!("invalid other SAN OID {oid:?}")))?;
        sans.other.push((parsed, value.clone()));
        other_text.push((oid, value));
    }
    Ok(Requested {
        cn,
        sans,
        other_text,
    })
}

/// Checks the request's names against the role: the CN (unless its
/// validations are disabled), DNS names, emails, IPs, URIs, other SANs.
pub fn check_names(role: &Role, r: &Requested) -> Result<(), Error> {
    if r.cn.is_empty() && role.require_cn {
        return Err(Error::invalid(
            "the common_name field is required, or must be provided in a CSR with \"use_csr_common_name\" set to true, unless \"require_cn\" is set to false",
        ));
    }
    if !r.cn.is_empty() && !role.cn_validations.iter().any(|v| v == "disabled") {
        let is_email = r.cn.contains('@');
        let wants = |v: &str| role.cn_validations.iter().any(|x| x == v);
        let kind_ok = (is_email && wants("email")) || (!is_email && wants("hostname"));
        if !kind_ok || names::first_refused(role, std::slice::from_ref(&r.cn)).is_some() {
            return Err(Error::invalid(format!(
                "common name {} not allowed by this role",
                r.cn
            )));
        }
    }
    if let Some(bad) = names::first_refused(role, &r.sans.dns) {
        return Err(Error::invalid(format!(
            "subject alternate name {bad} not allowed by this role"
        )));
    }
    if let Some(bad) = names::first_refused(role, &r.sans.emails) {
        return Err(Error::invalid(format!(
            "email address {bad} not allowed by this role"
        )));
    }
    names::check_ips(role, &r.sans.ips)?;
    names::check_uris(role, &r.sans.uris)?;
    names::check_other(role, &r.other_text)?;
    Ok(())
}

/// notBefore and notAfter of a certificate issued now by `issuer` (none:
/// self-signed) with `ttl`/`not_after` requested under `role`'s limits,
/// and a warning when the TTL was capped.
pub fn validity(
    now: u64,
    mount: MountTtls,
    role: &Role,
    out: &OutputFields,
    issuer: Option<&Parsed>,
    leaf_not_after_behavior: &str,
) -> Result<(u64, u64, Option<String>), Error> {
    let mut warning = None;
    let given = |t: &Option<String>| {
        t.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let wants_ttl = out.ttl.is_some_and(|t| t.as_secs() > 0);
    if wants_ttl && given(&out.not_after).is_none() && !role.not_after.trim().is_empty() {
        return Err(Error::invalid(
            "Either ttl or not_after should be provided; the role's not_after and a ttl cannot be used together",
        ));
    }
    if given(&out.not_before).is_some() && role.not_before_bound == "forbid" {
        return Err(Error::invalid(
            "not_before_bound is set to forbid, so not_before cannot be requested",
        ));
    }
    if given(&out.not_after).is_some() && role.not_after_bound == "forbid" {
        return Err(Error::invalid(
            "not_after_bound is set to forbid, so not_after cannot be requested",
        ));
    }
    let not_before = match given(&out.not_before).or_else(|| given(&Some(role.not_before.clone())))
    {
        Some(text) => crate::time::parse_rfc3339(&text).ok_or_else(|| {
            Error::invalid(format!("invalid not_before {text:?}: expected RFC 3339"))
        })?,
        None => now.saturating_sub(role.not_before_duration),
    };
    // The request's notAfter, else the role's fixed one, else the TTL.
    let not_after = match out
        .not_after
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .or(Some(role.not_after.trim()).filter(|s| !s.is_empty()))
    {
        Some(text) => crate::time::parse_rfc3339(text).ok_or_else(|| {
            Error::invalid(format!("invalid not_after {text:?}: expected RFC 3339"))
        })?,
        None => {
            let requested = out.ttl.map_or(0, |t| t.as_secs());
            let (ttl, capped) = mount.lifetime(requested, role.ttl, role.max_ttl);
            warning = capped;
            now + ttl
        }
    };
    let mut not_after = not_after;
    match role.not_after_bound.as_str() {
        "ttl-limited" if given(&out.not_after).is_some() => {
            let limit = [role.max_ttl, role.ttl]
                .into_iter()
                .find(|t| *t > 0)
                .unwrap_or(DEFAULT_TTL);
            if not_after > now + limit {
                return Err(Error::invalid(format!(
                    "not_after_bound is set to ttl-limited: the requested not_after is beyond {}",
                    crate::time::rfc3339(now + limit)
                )));
            }
        }
        "permit" | "forbid" | "ttl-limited" => {}
        stamp => {
            if let Some(bound) = crate::time::parse_rfc3339(stamp) {
                if not_after > bound {
                    return Err(Error::invalid(format!(
                        "not_after_bound is set to {stamp}: the certificate would end after it"
                    )));
                }
            }
        }
    }
    if let Some(ca) = issuer {
        let ca_after = ca.not_after();
        if not_after > ca_after {
            match leaf_not_after_behavior {
                "permit" => {}
                "truncate" => not_after = ca_after,
                _ => {
                    return Err(Error::invalid(format!(
                        "cannot satisfy request, as TTL would result in notAfter of {} that is beyond the expiration of the CA certificate at {}",
                        crate::time::rfc3339(not_after),
                        crate::time::rfc3339(ca_after)
                    )))
                }
            }
        }
    }
    Ok((not_before, not_after, warning))
}

/// [`validity`] of a certificate `signing` issues now.
pub fn validity_under(
    ctx: &Ctx<'_>,
    role: &Role,
    out: &OutputFields,
    signing: &crate::cache::Signing,
) -> Result<(u64, u64, Option<String>), Error> {
    validity(
        ctx.now().seconds,
        MountTtls::of(ctx),
        role,
        out,
        Some(&signing.issuer.cert),
        &signing.issuer.entry.leaf_not_after_behavior,
    )
}

/// The role's subject attributes with `cn`, the subject serial and the
/// user ids (each allowed by `allowed_user_ids`, else a 400).
pub fn subject(
    role: &Role,
    cn: &str,
    serial: Option<&str>,
    user_ids: &[String],
) -> Result<Subject, Error> {
    for uid in user_ids {
        if !role.allowed_user_ids.iter().any(|p| names::glob(p, uid)) {
            return Err(Error::invalid(format!(
                "user_id {uid} is not allowed by this role"
            )));
        }
    }
    Ok(Subject {
        user_ids: user_ids.to_vec(),
        common_name: cn.to_owned(),
        country: role.country.clone(),
        province: role.province.clone(),
        locality: role.locality.clone(),
        street_address: role.street_address.clone(),
        postal_code: role.postal_code.clone(),
        organization: role.organization.clone(),
        ou: role.ou.clone(),
        serial_number: serial.unwrap_or_default().to_owned(),
    })
}

impl SubjectFields {
    /// A subject from these fields and a CN.
    pub fn subject(&self, cn: &str, serial: Option<&str>) -> Subject {
        Subject {
            common_name: cn.to_owned(),
            country: self.country.0.clone(),
            province: self.province.0.clone(),
            locality: self.locality.0.clone(),
            street_address: self.street_address.0.clone(),
            postal_code: self.postal_code.0.clone(),
            organization: self.organization.0.clone(),
            ou: self.ou.0.clone(),
            serial_number: serial.unwrap_or_default().to_owned(),
            user_ids: Vec::new(),
        }
    }
}

/// A leaf's key usages and extended key usages from the role.
pub fn usages(
    role: &Role,
) -> Result<
    (
        Vec<x509_cert::ext::pkix::KeyUsages>,
        Vec<der::asn1::ObjectIdentifier>,
    ),
    Error,
> {
    use x509_cert::ext::pkix::KeyUsages as K;
    let ku = role
        .key_usage
        .iter()
        .filter_map(|u| {
            Some(match u.as_str() {
                "DigitalSignature" => K::DigitalSignature,
                "ContentCommitment" => K::NonRepudiation,
                "KeyEncipherment" => K::KeyEncipherment,
                "DataEncipherment" => K::DataEncipherment,
                "KeyAgreement" => K::KeyAgreement,
                "CertSign" => K::KeyCertSign,
                "CRLSign" => K::CRLSign,
                "EncipherOnly" => K::EncipherOnly,
                "DecipherOnly" => K::DecipherOnly,
                _ => return None,
            })
        })
        .collect();
    let mut eku = Vec::new();
    let mut push = |oid: &str| -> Result<(), Error> {
        let o = der::asn1::ObjectIdentifier::new(oid)
            .map_err(|_| Error::invalid(format!("invalid OID {oid:?}")))?;
        if !eku.contains(&o) {
            eku.push(o);
        }
        Ok(())
    };
    let flag_oids = [
        (role.server_flag, "1.3.6.1.5.5.7.3.1"),
        (role.client_flag, "1.3.6.1.5.5.7.3.2"),
        (role.code_signing_flag, "1.3.6.1.5.5.7.3.3"),
        (role.email_protection_flag, "1.3.6.1.5.5.7.3.4"),
    ];
    for (on, oid) in flag_oids {
        if on {
            push(oid)?;
        }
    }
    for name in &role.ext_key_usage {
        if let Some((_, oid)) = EXT_KEY_USAGES.iter().find(|(n, _)| n == name) {
            push(oid)?;
        }
    }
    for oid in &role.ext_key_usage_oids {
        push(oid)?;
    }
    Ok((ku, eku))
}

/// A signing issuer: its record, parsed certificate, and opened key.
pub struct SigningIssuer {
    /// Its record.
    pub entry: IssuerEntry,
    /// Its certificate.
    pub cert: Parsed,
    /// Its key.
    pub key: Key,
}

impl SigningIssuer {
    /// The issuer `reference` names, which must have its key and be
    /// allowed to issue.
    pub fn load(ctx: &mut Ctx<'_>, reference: &str) -> Result<Self, Error> {
        let entry = store::resolve_issuer(ctx, reference)?;
        if !entry.may("issuing-certificates") {
            return Err(Error::invalid(format!(
                "requested usage issuing-certificates for issuer [{}] but only had usage {}",
                entry.id,
                entry.usage.join(",")
            )));
        }
        if entry.key_id.is_empty() {
            return Err(Error::invalid(format!(
                "issuer {} has no key on this mount and cannot sign",
                entry.id
            )));
        }
        let key_entry = store::key(ctx, &entry.key_id)?
            .ok_or_else(|| Error::invalid(format!("the key of issuer {} is missing", entry.id)))?;
        let key = key_entry.open()?;
        let cert = entry.parsed()?;
        Ok(Self { entry, cert, key })
    }

    /// The issuer as `x509::sign` takes it, signing with `signature_bits`
    /// and `use_pss`.
    pub fn issuer(&self, signature_bits: u32, use_pss: bool) -> Result<Issuer<'_>, Error> {
        Ok(Issuer {
            name: self.cert.cert.tbs_certificate.subject.clone(),
            key_id: Some(self.cert.key_id()),
            key: &self.key,
            signer: signer(self.key.key_type()?, signature_bits, use_pss)?,
        })
    }
}

/// The AIA/CDP URLs of certificates issued by `issuer`: its own when set,
/// else the mount's `config/urls`.
pub fn urls_for(ctx: &mut Ctx<'_>, issuer: &IssuerEntry) -> Result<Urls, Error> {
    let own = &issuer.urls;
    if !own.issuing_certificates.is_empty()
        || !own.crl_distribution_points.is_empty()
        || !own.ocsp_servers.is_empty()
        || !own.delta_crl_distribution_points.is_empty()
    {
        return Ok(own.clone());
    }
    crate::urls::load(ctx)
}

/// A key's public half as the SubjectPublicKeyInfo a certificate or CSR
/// carries (the host encodes it).
pub fn spki_of(key: &Key) -> Result<x509_cert::spki::SubjectPublicKeyInfoOwned, Error> {
    use der::Decode;
    let der = key
        .public_key()?
        .export(coffer_sdk::crypto::PublicKeyFormat::SpkiDer)?;
    x509_cert::spki::SubjectPublicKeyInfoOwned::from_der(&der)
        .map_err(|e| Error::internal(format!("host public key does not decode: {e}")))
}

/// A new key for a leaf or CA, exportable so that it can be returned.
pub fn generate_key(kind: PkiKeyType, bits: u32, exportable: bool) -> Result<Key, Error> {
    let (t, _) = crate::alg::host_key_type(kind, bits)?;
    let perms: &[Permission] = if exportable {
        &[Permission::Export]
    } else {
        &[]
    };
    Key::generate(t, None, perms)
}

/// The private key as Vault returns it: its type's own encoding (PKCS#1,
/// SEC1; PKCS#8 for Ed25519) or PKCS#8, as PEM or base64 DER.
pub fn private_key_out(
    key: &Key,
    format: Format,
    key_format: KeyFormat,
) -> Result<(String, String), Error> {
    let t = key.key_type()?;
    let (kind, _) = pki_key_type(t).ok_or_else(|| Error::internal("not a PKI key"))?;
    let (fmt, label) = match (key_format, kind) {
        (KeyFormat::Pkcs8, _) | (_, PkiKeyType::Ed25519) => {
            (PrivateKeyFormat::Pkcs8Pem, "PRIVATE KEY")
        }
        (KeyFormat::Der, PkiKeyType::Rsa) => (PrivateKeyFormat::Pkcs1Pem, "RSA PRIVATE KEY"),
        (KeyFormat::Der, PkiKeyType::Ec) => (PrivateKeyFormat::Sec1Pem, "EC PRIVATE KEY"),
    };
    let pem_bytes = key.export(fmt)?;
    let pem_text =
        String::from_utf8(pem_bytes).map_err(|_| Error::internal("host PEM is not UTF-8"))?;
    let text = match format {
        Format::Der => {
            let der = crate::pem::single(&pem_text, &[label], "private key")?;
            Base64::encode(&der)
        }
        _ => pem_text.trim_end().to_owned(),
    };
    Ok((text, kind_name(kind).to_owned()))
}

/// `rsa`, `ec`, `ed25519`.
pub fn kind_name(kind: PkiKeyType) -> &'static str {
    match kind {
        PkiKeyType::Rsa => "rsa",
        PkiKeyType::Ec => "ec",
        PkiKeyType::Ed25519 => "ed25519",
    }
}

/// A certificate as `format` renders it in JSON.
pub fn cert_out(der: &[u8], format: Format) -> String {
    match format {
        Format::Der => Base64::encode(der),
        _ => crate::pem::encode_trimmed("CERTIFICATE", der),
    }
}

/// The answer of an issuing request: `certificate`, `issuing_ca`,
/// `ca_chain`, `serial_number`, `expiration`, `not_before`, and the
/// private key when one was generated.
pub fn issued_response(
    cert: &Parsed,
    signing: &crate::cache::Signing,
    out: &OutputFields,
    private_key: Option<(String, String)>,
) -> Result<Map<String, Value>, Error> {
    let format = out.format()?;
    let chain: Vec<String> = signing
        .chain
        .iter()
        .zip(&signing.chain_roots)
        .filter(|(_, root)| !(out.remove_roots_from_chain && **root))
        .map(|(der, _)| cert_out(der, format))
        .collect();
    let issuing_ca = cert_out(&signing.issuer.entry.certificate, format);
    let mut certificate = cert_out(&cert.der, format);
    if format == Format::PemBundle {
        let mut parts = Vec::new();
        if let Some((k, _)) = &private_key {
            parts.push(k.clone());
        }
        parts.push(certificate);
        parts.push(issuing_ca.clone());
        certificate = parts.join("\n");
    }
    let mut m = Map::new();
    m.insert("certificate".into(), json!(certificate));
    m.insert("issuing_ca".into(), json!(issuing_ca));
    m.insert("ca_chain".into(), json!(chain));
    m.insert("serial_number".into(), json!(cert.serial()));
    m.insert("expiration".into(), json!(cert.not_after()));
    m.insert("not_before".into(), json!(cert.not_before()));
    if let Some((k, t)) = private_key {
        m.insert("private_key".into(), json!(k));
        m.insert("private_key_type".into(), json!(t));
    }
    Ok(m)
}

/// Builds a template with the usual fields.
#[allow(clippy::too_many_arguments)]
pub fn template(
    serial: Vec<u8>,
    subject: &Subject,
    spki: x509_cert::spki::SubjectPublicKeyInfoOwned,
    not_before: u64,
    not_after: u64,
    sans: Sans,
    urls: Urls,
) -> Result<Template, Error> {
    Ok(Template {
        serial,
        subject: subject.to_name()?,
        spki,
        not_before,
        not_after,
        is_ca: false,
        max_path_length: -1,
        basic_constraints_for_leaf: false,
        key_usage: Vec::new(),
        ext_key_usage: Vec::new(),
        sans,
        policies: Vec::new(),
        permitted_dns_domains: Vec::new(),
        urls,
        extra: Vec::new(),
    })
}

/// Signs `t` with `issuer` (self-signed when `issuer` is the key itself).
pub fn sign_with(t: &Template, issuer: &Issuer<'_>) -> Result<Parsed, Error> {
    let der = x509::sign(t, issuer)?;
    Parsed::from_der(&der)
}
