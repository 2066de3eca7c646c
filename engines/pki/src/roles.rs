//! `roles/:name` and `LIST roles`: what a role allows to be issued. A
//! write replaces the role, fields not given taking their defaults (as
//! Vault's role write does); the answer is the role as read.

use coffer_sdk::prelude::*;
use serde::{Deserialize, Serialize};

use crate::alg::{host_key_type, RoleKeyType};

const PREFIX: &str = "role/";

/// `roles/:name`.
pub fn path() -> Path {
    Path::new("roles/{name}")
        .read(read)
        .update(write)
        .patch(patch)
        .delete(delete)
        .synopsis("Manage the roles that can be created with this backend.")
}

/// `LIST roles`.
pub fn list_path() -> Path {
    Path::new("roles/")
        .list(list)
        .synopsis("List the existing roles in this backend.")
}

#[derive(Fields)]
struct Name {
    /// Name of the role.
    name: String,
}

/// PATCH takes any of the role's fields; they are read from the body.
#[derive(Fields)]
struct Patch {
    #[field(flatten)]
    write: Write,
}

/// A role as written by a client; every field of Vault's role.
#[derive(Fields)]
struct Write {
    /// Name of the role.
    name: String,
    /// Lease duration of issued certificates; 0: the mount's default.
    ttl: DurationSeconds,
    /// Longest lease; 0: the mount's maximum.
    max_ttl: DurationSeconds,
    /// Domains the role may issue for.
    allowed_domains: CommaList,
    /// Whether `allowed_domains` may hold identity templates.
    allowed_domains_template: bool,
    /// Whether clients may request the bare domains of `allowed_domains`.
    allow_bare_domains: bool,
    /// Whether clients may request subdomains of `allowed_domains`.
    allow_subdomains: bool,
    /// Whether `allowed_domains` may hold globs.
    allow_glob_domains: bool,
    /// Whether wildcards (`*.example.com`) may be requested.
    #[field(default = true)]
    allow_wildcard_certificates: bool,
    /// Whether `localhost` and `localdomain` may be requested.
    #[field(default = true)]
    allow_localhost: bool,
    /// Whether any name may be requested.
    allow_any_name: bool,
    /// Whether names must be valid host names.
    #[field(default = true)]
    enforce_hostnames: bool,
    /// Whether IP SANs may be requested.
    #[field(default = true)]
    allow_ip_sans: bool,
    /// Allowed URI SANs (globs).
    allowed_uri_sans: CommaList,
    /// Whether `allowed_uri_sans` may hold identity templates.
    allowed_uri_sans_template: bool,
    /// Allowed other SANs, `oid;type:value` (globs; `*` allows any).
    allowed_other_sans: CommaList,
    /// Allowed subject serial numbers (globs).
    allowed_serial_numbers: CommaList,
    /// Allowed user ids.
    allowed_user_ids: CommaList,
    /// Whether the token's display name may be requested.
    allow_token_displayname: bool,
    /// Whether identity templates may be used in globs.
    allow_globs_in_identity_templates: bool,
    /// Allowed IP SAN ranges (CIDR).
    allowed_ip_sans_cidr: CommaList,
    /// The TLS server usage.
    #[field(default = true)]
    server_flag: bool,
    /// The TLS client usage.
    #[field(default = true)]
    client_flag: bool,
    /// The code-signing usage.
    code_signing_flag: bool,
    /// The email-protection usage.
    email_protection_flag: bool,
    /// Key type of generated keys (`rsa`, `ec`, `ed25519`; `any` for sign).
    #[field(default = "rsa")]
    key_type: String,
    /// Key size (0: the type's default).
    #[field(default = 0)]
    key_bits: i64,
    /// Hash of the issuer's signature (0: automatic).
    #[field(default = 0)]
    signature_bits: i64,
    /// RSA-PSS signatures from an RSA issuer.
    use_pss: bool,
    /// Key usages (`DigitalSignature`, ...).
    #[field(default = "DigitalSignature,KeyAgreement,KeyEncipherment")]
    key_usage: CommaList,
    /// Extended key usages by name (`ServerAuth`, ...).
    ext_key_usage: CommaList,
    /// Extended key usages by OID.
    ext_key_usage_oids: CommaList,
    /// Use the CSR's common name (sign).
    #[field(default = true)]
    use_csr_common_name: bool,
    /// Use the CSR's SANs (sign).
    #[field(default = true)]
    use_csr_sans: bool,
    /// OU of issued certificates.
    ou: CommaList,
    /// O of issued certificates.
    organization: CommaList,
    /// C of issued certificates.
    country: CommaList,
    /// L of issued certificates.
    locality: CommaList,
    /// ST of issued certificates.
    province: CommaList,
    /// Street of issued certificates.
    street_address: CommaList,
    /// Postal code of issued certificates.
    postal_code: CommaList,
    /// Whether a lease is made for issued certificates.
    generate_lease: bool,
    /// Whether issued certificates are not stored.
    no_store: bool,
    /// Whether a common name is required.
    #[field(default = true)]
    require_cn: bool,
    /// What the common name is checked as (`email`, `hostname`, `disabled`).
    #[field(default = "email,hostname")]
    cn_validations: CommaList,
    /// Certificate policy OIDs.
    policy_identifiers: Option<serde_json::Value>,
    /// Basic constraints on leaf certificates.
    basic_constraints_valid_for_non_ca: bool,
    /// Backdating of notBefore.
    #[field(default = 30)]
    not_before_duration: DurationSeconds,
    /// A fixed notAfter (RFC 3339).
    not_after: String,
    /// A fixed notBefore (RFC 3339).
    not_before: String,
    /// What a requested notAfter beyond the role's does (`permit`).
    #[field(default = "permit")]
    not_after_bound: String,
    /// What a requested notBefore before the role's does (`permit`).
    #[field(default = "permit")]
    not_before_bound: String,
    /// The issuer to use.
    #[field(default = "default")]
    issuer_ref: String,
}

/// A stored role: the fields of a role read, as Vault names them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct Role {
    pub allow_any_name: bool,
    pub allow_bare_domains: bool,
    pub allow_glob_domains: bool,
    pub allow_globs_in_identity_templates: bool,
    pub allow_ip_sans: bool,
    pub allow_localhost: bool,
    pub allow_subdomains: bool,
    pub allow_token_displayname: bool,
    pub allow_wildcard_certificates: bool,
    pub allowed_domains: Vec<String>,
    pub allowed_domains_template: bool,
    pub allowed_ip_sans_cidr: Vec<String>,
    pub allowed_other_sans: Vec<String>,
    pub allowed_serial_numbers: Vec<String>,
    pub allowed_uri_sans: Vec<String>,
    pub allowed_uri_sans_template: bool,
    pub allowed_user_ids: Vec<String>,
    pub basic_constraints_valid_for_non_ca: bool,
    pub client_flag: bool,
    pub cn_validations: Vec<String>,
    pub code_signing_flag: bool,
    pub country: Vec<String>,
    pub email_protection_flag: bool,
    pub enforce_hostnames: bool,
    pub ext_key_usage: Vec<String>,
    pub ext_key_usage_oids: Vec<String>,
    pub generate_lease: bool,
    pub issuer_ref: String,
    pub key_bits: u32,
    pub key_type: RoleKeyType,
    pub key_usage: Vec<String>,
    pub locality: Vec<String>,
    pub max_ttl: u64,
    pub no_store: bool,
    pub not_after: String,
    pub not_after_bound: String,
    pub not_before: String,
    pub not_before_bound: String,
    pub not_before_duration: u64,
    pub organization: Vec<String>,
    pub ou: Vec<String>,
    pub policy_identifiers: Vec<serde_json::Value>,
    pub postal_code: Vec<String>,
    pub province: Vec<String>,
    pub require_cn: bool,
    pub server_flag: bool,
    pub signature_bits: u32,
    pub street_address: Vec<String>,
    pub ttl: u64,
    pub use_csr_common_name: bool,
    pub use_csr_sans: bool,
    pub use_pss: bool,
}

/// Key usage names Vault accepts (Go's `x509.KeyUsage` names).
pub const KEY_USAGES: [&str; 9] = [
    "DigitalSignature",
    "ContentCommitment",
    "KeyEncipherment",
    "DataEncipherment",
    "KeyAgreement",
    "CertSign",
    "CRLSign",
    "EncipherOnly",
    "DecipherOnly",
];

/// Extended key usage names Vault accepts (Go's `x509.ExtKeyUsage` names)
/// and their OIDs.
pub const EXT_KEY_USAGES: [(&str, &str); 14] = [
    ("Any", "2.5.29.37.0"),
    ("ServerAuth", "1.3.6.1.5.5.7.3.1"),
    ("ClientAuth", "1.3.6.1.5.5.7.3.2"),
    ("CodeSigning", "1.3.6.1.5.5.7.3.3"),
    ("EmailProtection", "1.3.6.1.5.5.7.3.4"),
    ("IPSECEndSystem", "1.3.6.1.5.5.7.3.5"),
    ("IPSECTunnel", "1.3.6.1.5.5.7.3.6"),
    ("IPSECUser", "1.3.6.1.5.5.7.3.7"),
    ("TimeStamping", "1.3.6.1.5.5.7.3.8"),
    ("OCSPSigning", "1.3.6.1.5.5.7.3.9"),
    ("MicrosoftServerGatedCrypto", "1.3.6.1.4.1.311.10.3.3"),
    ("NetscapeServerGatedCrypto", "2.16.840.1.113730.4.1"),
    ("MicrosoftCommercialCodeSigning", "1.3.6.1.4.1.311.2.1.22"),
    ("MicrosoftKernelCodeSigning", "1.3.6.1.4.1.311.61.1.1"),
];

fn u32_field(name: &str, v: i64) -> Result<u32, Error> {
    u32::try_from(v).map_err(|_| Error::invalid(format!("invalid {name}: {v}")))
}

impl Write {
    fn into_role(self) -> Result<Role, Error> {
        let key_type = RoleKeyType::parse(&self.key_type)?;
        let key_bits = u32_field("key_bits", self.key_bits)?;
        if let Some(kind) = key_type.pki() {
            host_key_type(kind, key_bits)?;
        }
        let signature_bits = u32_field("signature_bits", self.signature_bits)?;
        if !matches!(signature_bits, 0 | 256 | 384 | 512) {
            return Err(Error::invalid(format!(
                "unsupported signature_bits: {signature_bits} (0, 256, 384 or 512)"
            )));
        }
        if self.max_ttl.as_secs() > 0 && self.ttl.as_secs() > self.max_ttl.as_secs() {
            return Err(Error::invalid(
                r#""ttl" value must be less than "max_ttl" value"#,
            ));
        }
        let key_usage = normalize_names(self.key_usage.0, &KEY_USAGES, "key_usage")?;
        let names: Vec<&str> = EXT_KEY_USAGES.iter().map(|(n, _)| *n).collect();
        let ext_key_usage = normalize_names(self.ext_key_usage.0, &names, "ext_key_usage")?;
        let policy_identifiers = policy_values(self.policy_identifiers)?;
        crate::x509::Policy::parse_all(&policy_identifiers)?;
        for oid in self.ext_key_usage_oids.0.iter() {
            der::asn1::ObjectIdentifier::new(oid)
                .map_err(|_| Error::invalid(format!("invalid OID: {oid:?}")))?;
        }
        for v in &self.cn_validations.0 {
            if !matches!(v.as_str(), "email" | "hostname" | "disabled") {
                return Err(Error::invalid(format!(
                    "invalid cn_validations value {v:?}: email, hostname or disabled"
                )));
            }
        }
        if !matches!(
            self.not_before_bound.as_str(),
            "permit" | "duration" | "forbid"
        ) {
            return Err(Error::invalid(
                "Unknown value for field `not_before_bound`. Possible values are `permit`, `duration`, and `forbid`.",
            ));
        }
        let after_bound = self.not_after_bound.as_str();
        if !matches!(after_bound, "permit" | "ttl-limited" | "forbid")
            && crate::time::parse_rfc3339(after_bound).is_none()
        {
            return Err(Error::invalid(
                "Unknown value for field `not_after_bound`. Possible values are `permit`, `ttl-limited`, `forbid`, or an RFC 3339 timestamp.",
            ));
        }
        let cn_validations = if self.cn_validations.0.is_empty() {
            vec!["email".to_owned(), "hostname".to_owned()]
        } else {
            self.cn_validations.0
        };
        if !self.not_after.is_empty() {
            crate::time::parse_rfc3339(&self.not_after).ok_or_else(|| {
                Error::invalid(format!("invalid not_after: {:?}", self.not_after))
            })?;
        }
        Ok(Role {
            allow_any_name: self.allow_any_name,
            allow_bare_domains: self.allow_bare_domains,
            allow_glob_domains: self.allow_glob_domains,
            allow_globs_in_identity_templates: self.allow_globs_in_identity_templates,
            allow_ip_sans: self.allow_ip_sans,
            allow_localhost: self.allow_localhost,
            allow_subdomains: self.allow_subdomains,
            allow_token_displayname: self.allow_token_displayname,
            allow_wildcard_certificates: self.allow_wildcard_certificates,
            allowed_domains: self.allowed_domains.0,
            allowed_domains_template: self.allowed_domains_template,
            allowed_ip_sans_cidr: self.allowed_ip_sans_cidr.0,
            allowed_other_sans: self.allowed_other_sans.0,
            allowed_serial_numbers: self.allowed_serial_numbers.0,
            allowed_uri_sans: self.allowed_uri_sans.0,
            allowed_uri_sans_template: self.allowed_uri_sans_template,
            allowed_user_ids: self.allowed_user_ids.0,
            basic_constraints_valid_for_non_ca: self.basic_constraints_valid_for_non_ca,
            client_flag: self.client_flag,
            cn_validations,
            code_signing_flag: self.code_signing_flag,
            country: self.country.0,
            email_protection_flag: self.email_protection_flag,
            enforce_hostnames: self.enforce_hostnames,
            ext_key_usage,
            ext_key_usage_oids: self.ext_key_usage_oids.0,
            generate_lease: self.generate_lease,
            issuer_ref: if self.issuer_ref.trim().is_empty() {
                "default".to_owned()
            } else {
                self.issuer_ref
            },
            key_bits: match key_type.pki() {
                Some(kind) => host_key_type(kind, key_bits)?.1,
                None => key_bits,
            },
            key_type,
            key_usage,
            locality: self.locality.0,
            max_ttl: self.max_ttl.as_secs(),
            no_store: self.no_store,
            not_after: self.not_after,
            not_after_bound: self.not_after_bound,
            not_before: self.not_before,
            not_before_bound: self.not_before_bound,
            not_before_duration: self.not_before_duration.as_secs(),
            organization: self.organization.0,
            ou: self.ou.0,
            policy_identifiers,
            postal_code: self.postal_code.0,
            province: self.province.0,
            require_cn: self.require_cn,
            server_flag: self.server_flag,
            signature_bits,
            street_address: self.street_address.0,
            ttl: self.ttl.as_secs(),
            use_csr_common_name: self.use_csr_common_name,
            use_csr_sans: self.use_csr_sans,
            use_pss: self.use_pss,
        })
    }
}

/// `policy_identifiers` as given: none, OIDs (a list, or a comma-separated
/// string), or a JSON list (or a string holding one) of OIDs and
/// `{oid, cps, notice}` objects.
fn policy_values(given: Option<serde_json::Value>) -> Result<Vec<serde_json::Value>, Error> {
    use serde_json::Value;
    match given {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items),
        Some(Value::String(s)) if s.trim_start().starts_with('[') => serde_json::from_str(&s)
            .map_err(|e| {
                Error::invalid(format!("invalid policy_identifiers: not a JSON list: {e}"))
            }),
        Some(Value::String(s)) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| Value::String(p.to_owned()))
            .collect()),
        Some(other) => Err(Error::invalid(format!(
            "invalid policy_identifiers {other}: a list of OIDs or of {{oid, cps, notice}}"
        ))),
    }
}

/// Names matched without case (and without a `KeyUsage`/`ExtKeyUsage`
/// prefix), written back in their canonical spelling.
fn normalize_names(given: Vec<String>, known: &[&str], field: &str) -> Result<Vec<String>, Error> {
    given
        .into_iter()
        .map(|g| {
            let bare = g
                .trim()
                .trim_start_matches("ExtKeyUsage")
                .trim_start_matches("KeyUsage")
                .to_owned();
            known
                .iter()
                .find(|k| k.eq_ignore_ascii_case(&bare))
                .map(|k| (*k).to_owned())
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "invalid {field} value {g:?}; known: {}",
                        known.join(", ")
                    ))
                })
        })
        .collect()
}

/// The role `name`, if it exists.
pub fn load(ctx: &mut Ctx<'_>, name: &str) -> Result<Option<Role>, Error> {
    ctx.storage().get_json(&format!("{PREFIX}{name}"))
}

/// The role `name`; unknown: 400 as Vault answers.
pub fn require(ctx: &mut Ctx<'_>, name: &str) -> Result<Role, Error> {
    load(ctx, name)?.ok_or_else(|| Error::invalid(format!("unknown role: {name}")))
}

fn read(ctx: &mut Ctx<'_>, f: Name) -> Result<Response, Error> {
    match load(ctx, &f.name)? {
        Some(role) => Response::json(&role),
        None => Err(Error::not_found()),
    }
}

/// Stores a role, replacing the cache epoch (the one writer of roles).
fn save(ctx: &mut Ctx<'_>, name: &str, role: &Role) -> Result<Response, Error> {
    crate::cache::bump(ctx)?;
    ctx.storage().put_json(&format!("{PREFIX}{name}"), role)?;
    Response::json(role)
}

fn write(ctx: &mut Ctx<'_>, f: Write) -> Result<Response, Error> {
    let name = f.name.clone();
    let role = f.into_role()?;
    save(ctx, &name, &role)
}

/// PATCH: the stored role with the given fields changed.
fn patch(ctx: &mut Ctx<'_>, f: Patch) -> Result<Response, Error> {
    let f = Name { name: f.write.name };
    let Some(existing) = load(ctx, &f.name)? else {
        return Err(Error::not_found());
    };
    let mut merged = match serde_json::to_value(&existing) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => return Err(Error::internal("a stored role is not an object")),
    };
    for (k, v) in ctx.body() {
        merged.insert(k.clone(), v.clone());
    }
    merged.insert("name".into(), serde_json::Value::String(f.name.clone()));
    let role = Write::from_fields(&merged)?.into_role()?;
    save(ctx, &f.name, &role)
}

fn delete(ctx: &mut Ctx<'_>, f: Name) -> Result<Response, Error> {
    crate::cache::bump(ctx)?;
    ctx.storage().delete(&format!("{PREFIX}{}", f.name))?;
    Ok(Response::none())
}

fn list(ctx: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
    Ok(Response::list(ctx.storage().list(PREFIX)?))
}
