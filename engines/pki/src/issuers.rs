//! Issuers: `LIST issuers`, `issuer/:ref` (read, update, delete),
//! `issuer/:ref/json|der|pem`, the default issuer's `ca`, `ca/pem` and
//! `ca_chain`, `config/issuers`, `DELETE root`, and bringing CA
//! certificates in: `intermediate/set-signed`, `issuers/import/cert`,
//! `issuers/import/bundle`, `config/ca`.

use coffer_sdk::keys::{Key, KeyType};
use coffer_sdk::prelude::*;
use serde_json::{json, Map, Value};

use crate::store::{self, IssuerEntry, ALL_USAGES};
use crate::x509::{Parsed, Urls};

/// `LIST issuers`.
pub fn list_path() -> Path {
    Path::new("issuers/")
        .unauthenticated()
        .list(list)
        .synopsis("Fetch a list of CA certificates.")
}

/// `issuer/:ref`.
pub fn path() -> Path {
    Path::new("issuer/{issuer_ref}")
        .read(read)
        .update(|ctx, f: Update| update(ctx, f, false))
        .patch(|ctx, f: Update| update(ctx, f, true))
        .delete(delete)
        .synopsis("Fetch a single issuer certificate.")
}

/// `issuer/:ref/revoke`.
pub fn revoke_path() -> Path {
    Path::new("issuer/{issuer_ref}/revoke")
        .update(revoke)
        .synopsis("Revokes the specified issuer.")
}

/// `issuer/:ref/json|der|pem`.
pub fn fetch_paths() -> [Path; 3] {
    [
        Path::new("issuer/{issuer_ref}/json")
            .read(|ctx, f: Ref| fetch(ctx, &f.issuer_ref, Form::Json)),
        Path::new("issuer/{issuer_ref}/der")
            .read(|ctx, f: Ref| fetch(ctx, &f.issuer_ref, Form::Der)),
        Path::new("issuer/{issuer_ref}/pem")
            .read(|ctx, f: Ref| fetch(ctx, &f.issuer_ref, Form::Pem)),
    ]
    .map(|p| {
        p.unauthenticated()
            .synopsis("Fetch a single issuer certificate.")
    })
}

/// `ca`, `ca/pem`, `ca_chain`.
pub fn ca_paths() -> [Path; 3] {
    [
        Path::new("ca").read(|ctx, _: ()| fetch(ctx, "default", Form::Der)),
        Path::new("ca/pem").read(|ctx, _: ()| fetch(ctx, "default", Form::Pem)),
        Path::new("ca_chain").read(ca_chain),
    ]
    .map(|p| {
        p.unauthenticated()
            .synopsis("Fetch the default issuer's certificate or chain.")
    })
}

/// `config/issuers`.
pub fn config_path() -> Path {
    Path::new("config/issuers")
        .read(read_config)
        .update(write_config)
        .synopsis("Read and set the default issuer certificate for signing.")
}

/// `root` (delete).
pub fn root_path() -> Path {
    Path::new("root")
        .delete(delete_root)
        .synopsis("Deletes every issuer and key of the mount.")
}

/// `intermediate/set-signed`, `issuers/import/cert`,
/// `issuers/import/bundle`, `config/ca`.
pub fn import_paths() -> [Path; 4] {
    [
        Path::new("intermediate/set-signed")
            .update(|ctx, f: SetSigned| import(ctx, &f.certificate, false)),
        Path::new("issuers/import/cert")
            .update(|ctx, f: ImportBundle| import(ctx, &f.pem_bundle, false)),
        Path::new("issuers/import/bundle")
            .update(|ctx, f: ImportBundle| import(ctx, &f.pem_bundle, true)),
        Path::new("config/ca").update(|ctx, f: ImportBundle| import(ctx, &f.pem_bundle, true)),
    ]
    .map(|p| p.synopsis("Import CA certificates (and keys, for a bundle) as issuers."))
}

#[derive(Fields)]
struct Ref {
    /// An issuer id, name or `default`.
    issuer_ref: String,
}

#[derive(Fields)]
struct SetSigned {
    /// The signed certificate (PEM), with its chain if wanted.
    #[field(required)]
    certificate: String,
}

#[derive(Fields)]
struct ImportBundle {
    /// PEM certificates (and keys, for a bundle).
    #[field(required)]
    pem_bundle: String,
}

#[derive(Fields)]
struct Update {
    /// An issuer id, name or `default`.
    issuer_ref: String,
    /// New name.
    issuer_name: Option<String>,
    /// `err`, `truncate` or `permit`.
    leaf_not_after_behavior: Option<String>,
    /// Comma-separated usages.
    usage: Option<CommaList>,
    /// Issuer references forming the chain (`self` for this one).
    manual_chain: Option<CommaList>,
    /// CRL signature algorithm.
    revocation_signature_algorithm: Option<String>,
    /// caIssuers URLs.
    issuing_certificates: Option<CommaList>,
    /// CRL distribution points.
    crl_distribution_points: Option<CommaList>,
    /// OCSP servers.
    ocsp_servers: Option<CommaList>,
    /// Delta CRL distribution points (accepted).
    delta_crl_distribution_points: Option<CommaList>,
    /// Whether the URLs are templates.
    enable_aia_url_templating: Option<bool>,
}

#[derive(Fields)]
struct WriteConfig {
    /// The default issuer (reference).
    default: Option<String>,
    /// Whether new issuers become the default.
    default_follows_latest_issuer: Option<bool>,
}

enum Form {
    Json,
    Der,
    Pem,
}

fn list(ctx: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
    let default = store::issuers_config(ctx)?.default;
    let mut keys = Vec::new();
    let mut info = Map::new();
    for i in store::issuers(ctx)? {
        info.insert(
            i.id.clone(),
            json!({
                "issuer_name": i.name,
                "is_default": i.id == default,
                "key_id": i.key_id,
                "serial_number": i.serial_number,
            }),
        );
        keys.push(i.id);
    }
    if keys.is_empty() {
        return Err(Error::not_found());
    }
    keys.sort();
    Ok(Response::data(json!({ "keys": keys, "key_info": info })))
}

/// Go's name of the algorithm an issuer's CRLs are signed with.
fn default_revocation_algorithm(ctx: &mut Ctx<'_>, i: &IssuerEntry) -> String {
    if !i.revocation_signature_algorithm.is_empty() {
        return i.revocation_signature_algorithm.clone();
    }
    let Ok(Some(k)) = store::key(ctx, &i.key_id) else {
        return String::new();
    };
    match crate::alg::host_key_type(k.key_type, k.key_bits) {
        Ok((KeyType::EcdsaP256, _)) => "ECDSAWithSHA256",
        Ok((KeyType::EcdsaP384, _)) => "ECDSAWithSHA384",
        Ok((KeyType::EcdsaP521, _)) => "ECDSAWithSHA512",
        Ok((KeyType::Ed25519, _)) => "Ed25519",
        Ok(_) => "SHA256WithRSA",
        Err(_) => "",
    }
    .to_owned()
}

fn describe(ctx: &mut Ctx<'_>, i: &IssuerEntry) -> Result<Value, Error> {
    let chain = store::chain(ctx, i)?;
    let manual: Value = if i.manual_chain.is_empty() {
        Value::Null
    } else {
        json!(i.manual_chain)
    };
    let mut d = json!({
        "issuer_id": i.id,
        "issuer_name": i.name,
        "key_id": i.key_id,
        "certificate": i.pem(),
        "ca_chain": chain,
        "manual_chain": manual,
        "leaf_not_after_behavior": i.leaf_not_after_behavior,
        "usage": i.usage.join(","),
        "revocation_signature_algorithm": default_revocation_algorithm(ctx, i),
        "revoked": i.revoked,
        "issuing_certificates": i.urls.issuing_certificates,
        "crl_distribution_points": i.urls.crl_distribution_points,
        "ocsp_servers": i.urls.ocsp_servers,
        "delta_crl_distribution_points": i.urls.delta_crl_distribution_points,
        "enable_aia_url_templating": i.enable_aia_url_templating,
    });
    if i.revoked {
        d["revocation_time"] = json!(i.revocation_time);
        d["revocation_time_rfc3339"] = json!(crate::time::rfc3339(i.revocation_time));
    }
    Ok(d)
}

fn read(ctx: &mut Ctx<'_>, f: Ref) -> Result<Response, Error> {
    let i = store::resolve_issuer(ctx, &f.issuer_ref)?;
    Ok(Response::data(describe(ctx, &i)?))
}

/// POST replaces the settings (a field not given takes its default), PATCH
/// changes only those given.
fn update(ctx: &mut Ctx<'_>, mut f: Update, patch: bool) -> Result<Response, Error> {
    let mut i = store::resolve_issuer(ctx, &f.issuer_ref)?;
    if !patch {
        f.issuer_name.get_or_insert_with(String::new);
        f.leaf_not_after_behavior
            .get_or_insert_with(|| "err".to_owned());
        f.usage
            .get_or_insert_with(|| CommaList(ALL_USAGES.iter().map(|u| (*u).to_owned()).collect()));
        f.manual_chain.get_or_insert_with(|| CommaList(Vec::new()));
        f.revocation_signature_algorithm
            .get_or_insert_with(String::new);
        for urls in [
            &mut f.issuing_certificates,
            &mut f.crl_distribution_points,
            &mut f.ocsp_servers,
            &mut f.delta_crl_distribution_points,
        ] {
            urls.get_or_insert_with(|| CommaList(Vec::new()));
        }
    }
    if let Some(name) = f.issuer_name {
        let name = name.trim().to_owned();
        store::check_name(&name, "issuer")?;
        if !name.is_empty() && name != i.name {
            for other in store::issuers(ctx)? {
                if other.id != i.id && other.name == name {
                    return Err(Error::invalid(format!(
                        "issuer name already in use: {name}"
                    )));
                }
            }
        }
        i.name = name;
    }
    if let Some(b) = f.leaf_not_after_behavior {
        if !matches!(b.as_str(), "err" | "truncate" | "permit") {
            return Err(Error::invalid(
                "Unknown value for field `leaf_not_after_behavior`. Possible values are `err`, `truncate`, and `permit`.",
            ));
        }
        i.leaf_not_after_behavior = b;
    }
    if let Some(usage) = f.usage {
        let mut out = Vec::new();
        for u in usage.0 {
            if !ALL_USAGES.contains(&u.as_str()) {
                return Err(Error::invalid(format!(
                    "Unable to parse specified usages: [{u}] - valid values are {}",
                    ALL_USAGES.join(",")
                )));
            }
            if !out.contains(&u) {
                out.push(u);
            }
        }
        out.sort();
        i.usage = out;
    }
    if let Some(chain) = f.manual_chain {
        let mut ids = Vec::new();
        for r in chain.0 {
            if r == "self" {
                ids.push(i.id.clone());
            } else {
                ids.push(store::resolve_issuer(ctx, &r)?.id);
            }
        }
        if !ids.is_empty() && ids[0] != i.id {
            return Err(Error::invalid(
                "manual_chain must start with this issuer (or `self`)",
            ));
        }
        i.manual_chain = ids;
    }
    if let Some(a) = f.revocation_signature_algorithm {
        if !a.is_empty() {
            crate::alg::revocation_algorithm(&a)?;
        }
        i.revocation_signature_algorithm = a;
    }
    let mut urls: Urls = i.urls.clone();
    for (given, slot, field) in [
        (
            f.issuing_certificates,
            &mut urls.issuing_certificates,
            "issuing_certificates",
        ),
        (
            f.crl_distribution_points,
            &mut urls.crl_distribution_points,
            "crl_distribution_points",
        ),
        (f.ocsp_servers, &mut urls.ocsp_servers, "ocsp_servers"),
        (
            f.delta_crl_distribution_points,
            &mut urls.delta_crl_distribution_points,
            "delta_crl_distribution_points",
        ),
    ] {
        if let Some(list) = given {
            crate::urls::check(&list.0, field)?;
            *slot = list.0;
        }
    }
    i.urls = urls;
    if let Some(t) = f.enable_aia_url_templating {
        i.enable_aia_url_templating = t;
    }
    store::put_issuer(ctx, &i)?;
    Ok(Response::data(describe(ctx, &i)?))
}

/// Revokes an issuer: it issues no more (`issuing-certificates` leaves its
/// usage), and its certificate goes onto the CRL of the issuer of this
/// mount that signed it, if there is one.
fn revoke(ctx: &mut Ctx<'_>, f: Ref) -> Result<Response, Error> {
    let mut i = store::resolve_issuer(ctx, &f.issuer_ref)?;
    if i.revoked {
        return Ok(Response::data(describe(ctx, &i)?));
    }
    let cert = i.parsed()?;
    let mut warnings = Vec::new();
    if cert.self_issued() {
        warnings.push("This issuer is a self-signed (potentially root) certificate. This means it may not be considered revoked if there is not an external, cross-signed variant of this certificate. This issuer's serial number will not appear on its own CRL.");
    }
    let parent = store::issuers(ctx)?.into_iter().find(|p| {
        p.id != i.id && !p.key_id.is_empty() && p.parsed().is_ok_and(|pc| cert.issued_by(&pc))
    });
    match parent {
        Some(p) => {
            crate::revoke::record(ctx, &cert, &p.id)?;
        }
        None => warnings.push("This issuer lacks another parent issuer within the mount. This means it will not appear on any other CRLs and may not be considered revoked by clients. Consider adding this issuer to its issuer's CRL as well if it is not self-signed."),
    }
    if store::issuers_config(ctx)?.default == i.id {
        warnings.push("This issuer is currently configured as the default issuer for this mount; operations such as certificate issuance may not work until a new default issuer is selected.");
    }
    i.revoked = true;
    i.revocation_time = ctx.now().seconds;
    i.usage.retain(|u| u != "issuing-certificates");
    store::put_issuer(ctx, &i)?;
    let mut r = Response::data(describe(ctx, &i)?);
    for w in warnings {
        r = r.with_warning(w);
    }
    Ok(r)
}

fn delete(ctx: &mut Ctx<'_>, f: Ref) -> Result<Response, Error> {
    let i = match store::resolve_issuer(ctx, &f.issuer_ref) {
        Ok(i) => i,
        // Deleting what is not there changes nothing.
        Err(_) if f.issuer_ref != "default" => return Ok(Response::none()),
        Err(e) => return Err(e),
    };
    let was_default = store::issuers_config(ctx)?.default == i.id;
    store::delete_issuer(ctx, &i.id)?;
    if was_default {
        return Ok(Response::data(Value::Null).with_warning(
            "Deleted issuer was the default issuer; a new default issuer has not been set",
        ));
    }
    Ok(Response::none())
}

/// The default issuer, or none when the mount has no default (the raw
/// CA endpoints then answer an empty 204, as Vault does).
pub fn default_issuer(ctx: &mut Ctx<'_>) -> Result<Option<IssuerEntry>, Error> {
    if store::issuers_config(ctx)?.default.is_empty() {
        return Ok(None);
    }
    store::resolve_issuer(ctx, "default").map(Some)
}

fn fetch(ctx: &mut Ctx<'_>, reference: &str, form: Form) -> Result<Response, Error> {
    if reference == "default" && !matches!(form, Form::Json) && default_issuer(ctx)?.is_none() {
        return Ok(Response::none());
    }
    let i = store::resolve_issuer(ctx, reference)?;
    Ok(match form {
        Form::Der => Response::raw("application/pkix-cert", i.certificate.clone()),
        Form::Pem => Response::raw("application/pem-certificate-chain", i.pem()),
        Form::Json => {
            let chain = store::chain(ctx, &i)?;
            Response::data(json!({
                "issuer_id": i.id,
                "issuer_name": i.name,
                "certificate": i.pem(),
                "ca_chain": chain,
            }))
        }
    })
}

fn ca_chain(ctx: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
    let Some(i) = default_issuer(ctx)? else {
        return Ok(Response::none());
    };
    let chain = store::chain(ctx, &i)?;
    Ok(Response::raw("application/pkix-cert", chain.concat()))
}

fn read_config(ctx: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
    Response::json(&store::issuers_config(ctx)?)
}

fn write_config(ctx: &mut Ctx<'_>, f: WriteConfig) -> Result<Response, Error> {
    let mut c = store::issuers_config(ctx)?;
    let r = f.default.unwrap_or_default();
    if r.trim().is_empty() || r.trim() == "default" {
        return Err(Error::invalid(
            "Invalid issuer specification; must be non-empty and can't be 'default'.",
        ));
    }
    c.default = store::resolve_issuer(ctx, &r)
        .map_err(|e| Error::invalid(format!("Error resolving issuer reference: {}", e.message())))?
        .id;
    if let Some(b) = f.default_follows_latest_issuer {
        c.default_follows_latest_issuer = b;
    }
    store::put_issuers_config(ctx, &c)?;
    Response::json(&c)
}

fn delete_root(ctx: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
    for id in store::issuer_ids(ctx)? {
        store::delete_issuer(ctx, &id)?;
    }
    for id in store::key_ids(ctx)? {
        store::delete_key(ctx, &id)?;
    }
    Ok(Response::none())
}

/// A private key from PEM, whatever its type among the PKI key types
/// (the host tries each; it never becomes exportable).
pub fn import_key(der: &[u8]) -> Result<Key, Error> {
    let candidates = [
        KeyType::EcdsaP256,
        KeyType::EcdsaP384,
        KeyType::EcdsaP521,
        KeyType::Ed25519,
        KeyType::Rsa2048,
        KeyType::Rsa3072,
        KeyType::Rsa4096,
    ];
    for t in candidates {
        if let Ok(k) = Key::import(t, der, &[]) {
            return Ok(k);
        }
    }
    Err(Error::invalid(
        "unsupported or malformed private key (RSA 2048/3072/4096, EC P-256/384/521 or Ed25519)",
    ))
}

fn import(ctx: &mut Ctx<'_>, text: &str, keys_allowed: bool) -> Result<Response, Error> {
    let blocks = crate::pem::blocks(text, "PEM bundle")?;
    let mut certs = Vec::new();
    let mut keys = Vec::new();
    for (label, der) in blocks {
        match label.as_str() {
            "CERTIFICATE" => certs.push(Parsed::from_der(&der)?),
            "RSA PRIVATE KEY" | "EC PRIVATE KEY" | "PRIVATE KEY" => {
                if !keys_allowed {
                    return Err(Error::invalid(
                        "private keys are not accepted here: use issuers/import/bundle",
                    ));
                }
                keys.push(import_key(&der)?);
            }
            "EC PARAMETERS" => {}
            other => {
                return Err(Error::invalid(format!(
                    "unsupported PEM block type {other:?} in the bundle"
                )))
            }
        }
    }
    if certs.is_empty() && keys.is_empty() {
        return Err(Error::invalid(
            "no certificates or keys found in the PEM bundle",
        ));
    }
    for c in &certs {
        if !c.is_ca() {
            return Err(Error::invalid(format!(
                "certificate with serial {} is not a CA certificate (basic constraints)",
                c.serial()
            )));
        }
    }
    let (mut imported_keys, mut existing_keys) = (Vec::new(), Vec::new());
    for k in &keys {
        let (entry, new) = store::store_key(ctx, k, "")?;
        if new {
            imported_keys.push(entry.id);
        } else {
            existing_keys.push(entry.id);
        }
    }
    let (mut imported, mut existing) = (Vec::new(), Vec::new());
    let mut mapping = Map::new();
    for c in &certs {
        let (entry, new) = store::store_issuer(ctx, c, "")?;
        mapping.insert(entry.id.clone(), json!(entry.key_id));
        if new {
            crate::certs::store(ctx, c)?;
            imported.push(entry.id);
        } else {
            existing.push(entry.id);
        }
    }
    let list = |v: Vec<String>| if v.is_empty() { Value::Null } else { json!(v) };
    Ok(Response::data(json!({
        "imported_issuers": list(imported),
        "imported_keys": list(imported_keys),
        "existing_issuers": list(existing),
        "existing_keys": list(existing_keys),
        "mapping": mapping,
    })))
}
