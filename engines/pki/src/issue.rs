//! Issuing under a role and signing: `issue/:role` (a new key and its
//! certificate), `sign/:role` (a client's CSR), `sign-verbatim(/:role)`,
//! `root/sign-intermediate` and `root/sign-self-issued`, each also under
//! `issuer/:ref/...` to pick the issuer.

use coffer_sdk::prelude::*;
use serde_json::{json, Value};
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, BasicConstraints};

use crate::alg::RoleKeyType;
use crate::bundle::{
    self, NameFields, OutputFields, SignatureFields, SigningIssuer, SubjectFields,
};
use crate::cache::{self, Signing};
use crate::certs;
use crate::csr;
use crate::roles::{self, Role};
use crate::verify::spki_key_type;
use crate::x509::{self, Parsed};

/// A path and its form under `issuer/:ref/`, answered by one handler.
fn with_issuer_form<F, H>(
    plain: &str,
    under_issuer: &str,
    handler: H,
    synopsis: &'static str,
) -> [Path; 2]
where
    F: Fields + 'static,
    H: Fn(&mut Ctx<'_>, F) -> Result<Response, Error> + Send + Sync + Copy + 'static,
{
    [
        Path::new(plain).update(handler),
        Path::new(&format!("issuer/{{issuer_ref}}/{under_issuer}")).update(handler),
    ]
    .map(|p| p.synopsis(synopsis))
}

/// `issue/:role` and `issuer/:ref/issue/:role`.
pub fn issue_paths() -> [Path; 2] {
    with_issuer_form(
        "issue/{role}",
        "issue/{role}",
        issue,
        "Request a certificate using a certain role with the provided details.",
    )
}

/// `sign/:role` and `issuer/:ref/sign/:role`.
pub fn sign_paths() -> [Path; 2] {
    with_issuer_form(
        "sign/{role}",
        "sign/{role}",
        sign,
        "Request certificates using a certain role with the provided details.",
    )
}

/// `sign-verbatim(/:role)` and its `issuer/:ref/` forms.
pub fn verbatim_paths() -> [Path; 2] {
    with_issuer_form(
        "sign-verbatim/{role?}",
        "sign-verbatim/{role?}",
        verbatim,
        "Request certificates using the provided CSR as it is.",
    )
}

/// `root/sign-intermediate` and `issuer/:ref/sign-intermediate`.
pub fn intermediate_paths() -> [Path; 2] {
    with_issuer_form(
        "root/sign-intermediate",
        "sign-intermediate",
        sign_intermediate,
        "Issue an intermediate CA certificate based on the provided CSR.",
    )
}

/// `root/sign-self-issued` and `issuer/:ref/sign-self-issued`.
pub fn self_issued_paths() -> [Path; 2] {
    with_issuer_form(
        "root/sign-self-issued",
        "sign-self-issued",
        sign_self_issued,
        "Re-sign a self-issued CA certificate with this issuer.",
    )
}

#[derive(Fields)]
struct Issue {
    /// The role.
    role: String,
    /// The key type, for a role whose `key_type` is `any`.
    key_type: Option<String>,
    /// The key size, for a role whose `key_type` is `any`.
    key_bits: Option<u32>,
    /// The issuer (from the path; else the role's).
    issuer_ref: Option<String>,
    #[field(flatten)]
    names: NameFields,
    #[field(flatten)]
    out: OutputFields,
}

#[derive(Fields)]
struct Sign {
    /// The role.
    role: String,
    /// The issuer (from the path; else the role's).
    issuer_ref: Option<String>,
    /// The PEM CSR.
    #[field(required)]
    csr: String,
    #[field(flatten)]
    names: NameFields,
    #[field(flatten)]
    out: OutputFields,
}

#[derive(Fields)]
struct Verbatim {
    /// An optional role (its limits apply).
    role: Option<String>,
    /// The issuer.
    issuer_ref: Option<String>,
    /// The PEM CSR.
    #[field(required)]
    csr: String,
    /// Key usages.
    #[field(default = "DigitalSignature,KeyAgreement,KeyEncipherment")]
    key_usage: CommaList,
    /// Extended key usages.
    ext_key_usage: CommaList,
    /// Extended key usage OIDs.
    ext_key_usage_oids: CommaList,
    #[field(flatten)]
    out: OutputFields,
}

#[derive(Fields)]
struct SignIntermediate {
    /// The issuer.
    issuer_ref: Option<String>,
    /// The PEM CSR.
    #[field(required)]
    csr: String,
    #[field(flatten)]
    names: NameFields,
    #[field(flatten)]
    subject: SubjectFields,
    #[field(flatten)]
    out: OutputFields,
    /// Path length limit; -1 for none.
    #[field(default = -1)]
    max_path_length: i64,
    /// Use the CSR's subject and extensions instead of the request's.
    use_csr_values: bool,
    #[field(flatten)]
    sig: SignatureFields,
    /// DNS domains the new CA may issue for (name constraints).
    permitted_dns_domains: CommaList,
    /// Backdating of notBefore.
    #[field(default = 30)]
    not_before_duration: DurationSeconds,
}

#[derive(Fields)]
struct SelfIssued {
    /// The issuer.
    issuer_ref: Option<String>,
    /// The self-issued CA certificate (PEM).
    #[field(required)]
    certificate: String,
    /// Refuse a certificate whose algorithm differs from the issuer's.
    require_matching_certificate_algorithms: bool,
}

fn issuer_ref<'a>(given: &'a Option<String>, role: &'a Role) -> &'a str {
    given
        .as_deref()
        .filter(|s| !s.is_empty())
        .unwrap_or(&role.issuer_ref)
}

/// Builds, signs, stores (unless `no_store`) and answers a leaf.
#[allow(clippy::too_many_arguments)]
fn finish_leaf(
    ctx: &mut Ctx<'_>,
    role: &Role,
    signing: &Signing,
    requested: bundle::Requested,
    spki: x509_cert::spki::SubjectPublicKeyInfoOwned,
    out: &OutputFields,
    names: &NameFields,
    private_key: Option<(String, String)>,
) -> Result<Response, Error> {
    let si = &signing.issuer;
    let (not_before, not_after, warning) = bundle::validity_under(ctx, role, out, signing)?;
    let subject_serial = names.serial_number.as_deref();
    if let Some(sn) = subject_serial.filter(|s| !s.is_empty()) {
        let allowed = role
            .allowed_serial_numbers
            .iter()
            .any(|p| crate::names::glob(p, sn));
        if !allowed {
            return Err(Error::invalid(format!(
                "serial_number {sn} not allowed by this role"
            )));
        }
    }
    let subject = bundle::subject(role, &requested.cn, subject_serial, &names.user_ids.0)?;
    let urls = signing.urls.clone();
    let mut t = bundle::template(
        crate::serial::random()?,
        &subject,
        spki,
        not_before,
        not_after,
        requested.sans,
        urls,
    )?;
    let (ku, eku) = bundle::usages(role)?;
    t.key_usage = ku;
    t.ext_key_usage = eku;
    t.basic_constraints_for_leaf = role.basic_constraints_valid_for_non_ca;
    t.policies = crate::x509::Policy::parse_all(&role.policy_identifiers)?;
    let cert = bundle::sign_with(&t, &si.issuer(role.signature_bits, role.use_pss)?)?;
    if !role.no_store {
        certs::store(ctx, &cert)?;
    }
    let data = bundle::issued_response(&cert, signing, out, private_key)?;
    let mut r = Response::data(Value::Object(data));
    if let Some(w) = warning {
        r = r.with_warning(w);
    }
    Ok(r)
}

fn issue(ctx: &mut Ctx<'_>, f: Issue) -> Result<Response, Error> {
    let role = cache::role(ctx, &f.role)?;
    // An `any` role takes the request's key type and size.
    let (kind, bits) = match role.key_type.pki() {
        Some(kind) => (kind, role.key_bits),
        None => match f.key_type.as_deref().map(str::trim).filter(|t| !t.is_empty() && *t != "any") {
            Some(t) => (crate::alg::PkiKeyType::parse(t)?, f.key_bits.unwrap_or(0)),
            None => {
                return Err(Error::invalid(
                    "role key type \"any\" not allowed for issuing certificates without providing key_type",
                ))
            }
        },
    };
    let signing = cache::signing(ctx, issuer_ref(&f.issuer_ref, &role))?;
    let cn = f.names.common_name.clone().unwrap_or_default();
    let requested = bundle::requested(&f.names, cn, &[])?;
    bundle::check_names(&role, &requested)?;
    let key = bundle::generate_key(kind, bits, true)?;
    let spki = bundle::spki_of(&key)?;
    let pk = bundle::private_key_out(&key, f.out.format()?, f.out.private_key_format)?;
    finish_leaf(
        ctx,
        &role,
        &signing,
        requested,
        spki,
        &f.out,
        &f.names,
        Some(pk),
    )
}

/// Checks a CSR's key against the role's `key_type` and `key_bits`.
fn check_csr_key(role: &Role, req: &csr::Request) -> Result<(), Error> {
    let t = spki_key_type(&req.req.info.public_key)?;
    let (kind, bits) = crate::alg::pki_key_type(t)
        .ok_or_else(|| Error::invalid("unsupported key type in the CSR"))?;
    if role.key_type == RoleKeyType::Any {
        return Ok(());
    }
    if role.key_type.pki() != Some(kind) {
        return Err(Error::invalid(format!(
            "role requires keys of type {} but the CSR has a key of type {}",
            role.key_type,
            bundle::kind_name(kind)
        )));
    }
    if kind != crate::alg::PkiKeyType::Ed25519 && role.key_bits > 0 && bits < role.key_bits {
        return Err(Error::invalid(format!(
            "role requires a minimum of a {}-bit key, but CSR's key is {bits} bits",
            role.key_bits
        )));
    }
    if kind == crate::alg::PkiKeyType::Ec && role.key_bits > 0 && bits != role.key_bits {
        return Err(Error::invalid(format!(
            "role requires a P-{} key, but CSR's key is P-{bits}",
            role.key_bits
        )));
    }
    Ok(())
}

fn sign(ctx: &mut Ctx<'_>, f: Sign) -> Result<Response, Error> {
    let role = cache::role(ctx, &f.role)?;
    let signing = cache::signing(ctx, issuer_ref(&f.issuer_ref, &role))?;
    let req = csr::Request::parse(&f.csr)?;
    check_csr_key(&role, &req)?;
    let csr_cn = req.common_name();
    let cn = if role.use_csr_common_name && !csr_cn.is_empty() {
        csr_cn
    } else {
        f.names.common_name.clone().unwrap_or_default()
    };
    // With `use_csr_sans` the CSR's names replace the request's (as Vault
    // does); the CN joins them either way unless excluded.
    let requested = if role.use_csr_sans {
        let c = req.sans();
        let from_csr = NameFields {
            common_name: None,
            alt_names: CommaList(c.dns.into_iter().chain(c.emails).collect()),
            ip_sans: CommaList(c.ips.iter().map(|ip| ip.to_string()).collect()),
            uri_sans: CommaList(c.uris),
            other_sans: f.names.other_sans.clone(),
            exclude_cn_from_sans: f.names.exclude_cn_from_sans,
            serial_number: None,
            user_ids: CommaList(Vec::new()),
        };
        bundle::requested(&from_csr, cn, &[])?
    } else {
        bundle::requested(&f.names, cn, &[])?
    };
    bundle::check_names(&role, &requested)?;
    let spki = req.req.info.public_key.clone();
    finish_leaf(
        ctx, &role, &signing, requested, spki, &f.out, &f.names, None,
    )
}

/// A role for `sign-verbatim` without one: any name, any key.
fn verbatim_role(f: &Verbatim) -> Result<Role, Error> {
    let base = json!({
        "allow_any_name": true, "allow_bare_domains": false, "allow_glob_domains": false,
        "allow_globs_in_identity_templates": false, "allow_ip_sans": true,
        "allow_localhost": true, "allow_subdomains": false, "allow_token_displayname": false,
        "allow_wildcard_certificates": true, "allowed_domains": [],
        "allowed_domains_template": false, "allowed_ip_sans_cidr": [],
        "allowed_other_sans": ["*"], "allowed_serial_numbers": [], "allowed_uri_sans": ["*"],
        "allowed_uri_sans_template": false, "allowed_user_ids": [],
        "basic_constraints_valid_for_non_ca": false, "client_flag": false,
        "cn_validations": ["disabled"], "code_signing_flag": false, "country": [],
        "email_protection_flag": false, "enforce_hostnames": false,
        "ext_key_usage": f.ext_key_usage.0, "ext_key_usage_oids": f.ext_key_usage_oids.0,
        "generate_lease": false, "issuer_ref": "default", "key_bits": 0, "key_type": "any",
        "key_usage": f.key_usage.0, "locality": [], "max_ttl": 0, "no_store": false,
        "not_after": "", "not_after_bound": "permit", "not_before": "",
        "not_before_bound": "permit", "not_before_duration": 30, "organization": [], "ou": [],
        "policy_identifiers": [], "postal_code": [], "province": [], "require_cn": false,
        "server_flag": false, "signature_bits": 0, "street_address": [], "ttl": 0,
        "use_csr_common_name": true, "use_csr_sans": true, "use_pss": false
    });
    serde_json::from_value(base).map_err(|e| Error::internal(e.to_string()))
}

fn verbatim(ctx: &mut Ctx<'_>, f: Verbatim) -> Result<Response, Error> {
    let named = match f.role.as_deref().filter(|r| !r.is_empty()) {
        Some(name) => Some(roles::require(ctx, name)?),
        None => None,
    };
    let mut role = verbatim_role(&f)?;
    if let Some(r) = &named {
        role.ttl = r.ttl;
        role.max_ttl = r.max_ttl;
        role.no_store = r.no_store;
        role.issuer_ref = r.issuer_ref.clone();
        role.signature_bits = r.signature_bits;
        role.use_pss = r.use_pss;
        role.not_before_duration = r.not_before_duration;
        role.not_after = r.not_after.clone();
    }
    let signing = cache::signing(ctx, issuer_ref(&f.issuer_ref, &role))?;
    let si = &signing.issuer;
    let req = csr::Request::parse(&f.csr)?;
    let bc_oid = <BasicConstraints as der::oid::AssociatedOid>::OID;
    let asked_bc = req.extensions().iter().any(|e| e.extn_id == bc_oid);
    let (not_before, not_after, warning) = bundle::validity_under(ctx, &role, &f.out, &signing)?;
    let urls = signing.urls.clone();
    // The request's usages are defaults: the CSR's own win.
    let (mut ku, mut eku) = bundle::usages(&role)?;
    let csr_exts = req.extensions();
    if csr_exts
        .iter()
        .any(|e| e.extn_id == <x509_cert::ext::pkix::KeyUsage as der::oid::AssociatedOid>::OID)
    {
        ku.clear();
    }
    if csr_exts.iter().any(|e| {
        e.extn_id == <x509_cert::ext::pkix::ExtendedKeyUsage as der::oid::AssociatedOid>::OID
    }) {
        eku.clear();
    }
    let t = x509::Template {
        serial: crate::serial::random()?,
        subject: req.req.info.subject.clone(),
        spki: req.req.info.public_key.clone(),
        not_before,
        not_after,
        is_ca: false,
        max_path_length: -1,
        basic_constraints_for_leaf: false,
        key_usage: ku,
        ext_key_usage: eku,
        sans: x509::Sans::default(),
        policies: Vec::new(),
        permitted_dns_domains: Vec::new(),
        urls,
        extra: req
            .extensions()
            .into_iter()
            .filter(|e| e.extn_id != <BasicConstraints as der::oid::AssociatedOid>::OID)
            .collect(),
    };
    let cert = bundle::sign_with(&t, &si.issuer(role.signature_bits, role.use_pss)?)?;
    if !role.no_store {
        certs::store(ctx, &cert)?;
    }
    let data = bundle::issued_response(&cert, &signing, &f.out, None)?;
    let mut r = Response::data(Value::Object(data));
    if let Some(w) = warning {
        r = r.with_warning(w);
    }
    if asked_bc {
        r = r.with_warning(
            "specified CSR contained a Basic Constraints extension that was ignored during issuance",
        );
    }
    Ok(r)
}

fn sign_intermediate(ctx: &mut Ctx<'_>, f: SignIntermediate) -> Result<Response, Error> {
    let reference = f.issuer_ref.clone().unwrap_or_else(|| "default".to_owned());
    let signing = cache::signing(ctx, &reference)?;
    let si = &signing.issuer;
    let req = csr::Request::parse(&f.csr)?;
    let mut role = verbatim_role(&Verbatim {
        role: None,
        issuer_ref: None,
        csr: String::new(),
        key_usage: CommaList(Vec::new()),
        ext_key_usage: CommaList(Vec::new()),
        ext_key_usage_oids: CommaList(Vec::new()),
        out: OutputFields {
            ttl: None,
            not_after: None,
            not_before: None,
            format: "pem".to_owned(),
            private_key_format: bundle::KeyFormat::Der,
            remove_roots_from_chain: false,
        },
    })?;
    role.not_before_duration = f.not_before_duration.as_secs();
    let (not_before, not_after, warning) = bundle::validity_under(ctx, &role, &f.out, &signing)?;
    let urls = signing.urls.clone();
    let (subject, sans, extra) = if f.use_csr_values {
        let extra = req
            .extensions()
            .into_iter()
            .filter(|e| e.extn_id != <BasicConstraints as der::oid::AssociatedOid>::OID)
            .collect();
        (req.req.info.subject.clone(), req.sans(), extra)
    } else {
        let cn = f
            .names
            .common_name
            .clone()
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| req.common_name());
        let requested = bundle::requested(&f.names, cn.clone(), &[])?;
        let subject = f
            .subject
            .subject(&cn, f.names.serial_number.as_deref())
            .to_name()?;
        (subject, requested.sans, Vec::new())
    };
    // The new CA's path length stays under the signer's.
    let mut max_path = f.max_path_length;
    if let Ok(Some((_, bc))) = si.cert.cert.tbs_certificate.get::<BasicConstraints>() {
        if let Some(limit) = bc.path_len_constraint {
            let cap = i64::from(limit) - 1;
            if cap < 0 {
                return Err(Error::invalid(
                    "the signing issuer's path length does not allow it to sign intermediates",
                ));
            }
            if max_path < 0 || max_path > cap {
                max_path = cap;
            }
        }
    }
    let t = x509::Template {
        serial: crate::serial::random()?,
        subject,
        spki: req.req.info.public_key.clone(),
        not_before,
        not_after,
        is_ca: true,
        max_path_length: max_path,
        basic_constraints_for_leaf: false,
        key_usage: Vec::new(),
        ext_key_usage: Vec::new(),
        sans,
        policies: Vec::new(),
        permitted_dns_domains: f.permitted_dns_domains.0.clone(),
        urls,
        extra,
    };
    let cert = bundle::sign_with(&t, &si.issuer(f.sig.signature_bits, f.sig.use_pss)?)?;
    certs::store(ctx, &cert)?;
    let data = bundle::issued_response(&cert, &signing, &f.out, None)?;
    let mut data = data;
    // A signed intermediate's chain starts with itself.
    if let Some(Value::Array(chain)) = data.get_mut("ca_chain") {
        chain.insert(0, json!(bundle::cert_out(&cert.der, f.out.format()?)));
    }
    data.remove("not_before");
    let mut r = Response::data(Value::Object(data));
    if let Some(w) = warning {
        r = r.with_warning(w);
    }
    if !crate::urls::any_configured(ctx)? {
        r = r.with_warning(crate::generate::AIA_WARNING);
    }
    Ok(r)
}

fn sign_self_issued(ctx: &mut Ctx<'_>, f: SelfIssued) -> Result<Response, Error> {
    let reference = f.issuer_ref.clone().unwrap_or_else(|| "default".to_owned());
    let si = SigningIssuer::load(ctx, &reference)?;
    let der = crate::pem::single(&f.certificate, &["CERTIFICATE"], "certificate")?;
    let given = Parsed::from_der(&der)?;
    if !given.self_issued() {
        return Err(Error::invalid("given certificate is not self-issued"));
    }
    if !given.is_ca() {
        return Err(Error::invalid("given certificate is not a CA certificate"));
    }
    let issuer = si.issuer(0, false)?;
    if f.require_matching_certificate_algorithms
        && given.cert.signature_algorithm.oid != issuer.signer.algorithm.oid
    {
        return Err(Error::invalid(
            "the certificate's signature algorithm differs from the issuer's",
        ));
    }
    let mut tbs = given.cert.tbs_certificate.clone();
    tbs.issuer = issuer.name.clone();
    tbs.signature = issuer.signer.algorithm.clone();
    let aki_oid = <AuthorityKeyIdentifier as der::oid::AssociatedOid>::OID;
    let mut exts: Vec<_> = tbs
        .extensions
        .take()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.extn_id != aki_oid)
        .collect();
    if let Some(id) = &issuer.key_id {
        exts.push(x509::extension(
            &AuthorityKeyIdentifier {
                key_identifier: Some(
                    der::asn1::OctetString::new(id.clone())
                        .map_err(|e| Error::internal(e.to_string()))?,
                ),
                ..Default::default()
            },
            false,
        )?);
    }
    tbs.extensions = Some(exts);
    let cert = x509::sign_tbs(tbs, &issuer)?;
    let parsed = Parsed::from_der(&cert)?;
    Ok(Response::data(json!({
        "certificate": bundle::cert_out(&parsed.der, bundle::Format::Pem),
        "issuing_ca": bundle::cert_out(&si.entry.certificate, bundle::Format::Pem),
    })))
}
