//! Making CAs: `root/generate/:type` and `issuers/generate/root/:type`
//! (a self-signed issuer), `intermediate/generate/:type` and
//! `issuers/generate/intermediate/:type` (a key and a CSR for another CA
//! to sign). `:type` says where the key comes from: `internal` (new, kept
//! in the host), `exported` (new, and returned once), `existing` (a key of
//! the mount, `key_ref`), `kms` (a managed key).

use coffer_sdk::keys::{Key, ManagedRef};
use coffer_sdk::prelude::*;
use serde_json::{json, Map, Value};

use crate::alg::{signer, PkiKeyType};
use crate::bundle::{self, NameFields, SignatureFields, SubjectFields};
use crate::store::{self, KeyEntry};
use crate::x509::{Issuer, Template};

/// `root/generate/:type`.
pub fn root_path() -> Path {
    Path::new("root/generate/{exported}")
        .update(root)
        .synopsis("Generate a new CA certificate and private key used for signing.")
}

/// `issuers/generate/root/:type`.
pub fn issuers_root_path() -> Path {
    Path::new("issuers/generate/root/{exported}")
        .update(root)
        .synopsis("Generate a new CA certificate and private key used for signing.")
}

/// `intermediate/generate/:type`.
pub fn intermediate_path() -> Path {
    Path::new("intermediate/generate/{exported}")
        .update(intermediate)
        .synopsis("Generate a new CSR and private key used for signing.")
}

/// `intermediate/cross-sign`: a CSR for an existing key (`key_ref`), to
/// have another CA sign this mount's CA.
pub fn cross_sign_path() -> Path {
    Path::new("intermediate/cross-sign")
        .update(|ctx, mut f: Intermediate| {
            f.key.exported = "existing".to_owned();
            intermediate(ctx, f)
        })
        .synopsis("Generate a CSR for an existing key, to be cross-signed by another CA.")
}

/// `issuers/generate/intermediate/:type`.
pub fn issuers_intermediate_path() -> Path {
    Path::new("issuers/generate/intermediate/{exported}")
        .update(intermediate)
        .synopsis("Generate a new CSR and private key used for signing.")
}

/// Where the key comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FieldEnum)]
#[field(rename_all = "lowercase")]
pub enum Source {
    /// A new key, kept.
    Internal,
    /// A new key, returned once.
    Exported,
    /// A key of the mount.
    Existing,
    /// A managed key.
    Kms,
}

/// The key fields of a generation request.
#[derive(Fields)]
pub struct KeyFields {
    /// `internal`, `exported`, `existing` or `kms` (the path's `:type`).
    #[field(default = "internal")]
    pub exported: String,
    /// Key type: `rsa` (the default), `ec` or `ed25519`. Refused with
    /// `kms`, whose key has its own type.
    pub key_type: Option<String>,
    /// Key size (0, the default: the type's default). Refused with `kms`.
    pub key_bits: Option<u32>,
    /// Name of the new key.
    pub key_name: Option<String>,
    /// The existing key to use (`existing`).
    pub key_ref: Option<String>,
    /// The managed key's name (`kms`).
    pub managed_key_name: Option<String>,
    /// The managed key's id (`kms`).
    pub managed_key_id: Option<String>,
    /// `der` (PKCS#1/SEC1) or `pkcs8` for an exported key.
    #[field(default = "der")]
    pub private_key_format: bundle::KeyFormat,
}

#[derive(Fields)]
struct Root {
    #[field(flatten)]
    key: KeyFields,
    #[field(flatten)]
    names: NameFields,
    #[field(flatten)]
    subject: SubjectFields,
    /// Requested lifetime.
    ttl: Option<DurationSeconds>,
    /// Requested notAfter (RFC 3339).
    not_after: Option<String>,
    /// `pem`, `der` or `pem_bundle`.
    #[field(default = "pem")]
    format: String,
    /// Path length limit; -1 for none.
    #[field(default = -1)]
    max_path_length: i64,
    /// DNS domains the CA may issue for (name constraints).
    permitted_dns_domains: CommaList,
    #[field(flatten)]
    sig: SignatureFields,
    /// Name of the new issuer.
    issuer_name: Option<String>,
    /// Backdating of notBefore.
    #[field(default = 30)]
    not_before_duration: DurationSeconds,
}

#[derive(Fields)]
struct Intermediate {
    #[field(flatten)]
    key: KeyFields,
    #[field(flatten)]
    names: NameFields,
    #[field(flatten)]
    subject: SubjectFields,
    /// `pem`, `der` or `pem_bundle`.
    #[field(default = "pem")]
    format: String,
    /// Basic constraints CA in the CSR.
    add_basic_constraints: bool,
    #[field(flatten)]
    sig: SignatureFields,
}

impl KeyFields {
    /// Where the key comes from (the path's `:type`).
    pub fn source(&self) -> Result<Source, Error> {
        self.exported.parse().map_err(|_| {
            Error::invalid(
                "the \"exported\" path parameter must be \"internal\", \"existing\", exported\" or \"kms\"",
            )
        })
    }

    /// The requested key type.
    pub fn kind(&self) -> Result<PkiKeyType, Error> {
        PkiKeyType::parse(self.key_type.as_deref().unwrap_or("rsa"))
    }

    /// The requested key size (0: the type's default).
    pub fn bits(&self) -> u32 {
        self.key_bits.unwrap_or(0)
    }

    /// The managed key a `kms` request names (its name or id), opened:
    /// refused with `key_type` or `key_bits`, which describe a key to make.
    pub fn managed_key(&self) -> Result<(Key, ManagedRef), Error> {
        if self.key_type.is_some() || self.key_bits.is_some() {
            return Err(Error::invalid(
                "key_type and key_bits cannot be given with a managed key (type kms): the managed key has its own",
            ));
        }
        let reference = ManagedRef::from_fields(
            self.managed_key_name.as_deref(),
            self.managed_key_id.as_deref(),
        )
        .ok_or_else(|| {
            Error::invalid("managed_key_name or managed_key_id is required for type kms")
        })?;
        Ok((reference.open()?, reference))
    }
}

/// The key a generation request names: new, existing or managed; with
/// its record (stored now, in the same commit as what uses it) and, for
/// `exported`, the key to return.
fn obtain_key(ctx: &mut Ctx<'_>, f: &KeyFields) -> Result<(Key, KeyEntry, bool), Error> {
    let name = f.key_name.clone().unwrap_or_default();
    let source = f.source()?;
    match source {
        Source::Internal | Source::Exported => {
            let key = bundle::generate_key(f.kind()?, f.bits(), source == Source::Exported)?;
            let (entry, _) = store::store_key(ctx, &key, &name)?;
            Ok((key, entry, source == Source::Exported))
        }
        Source::Existing => {
            let reference = f.key_ref.as_deref().unwrap_or("default");
            let entry = store::resolve_key(ctx, reference).map_err(|e| {
                Error::invalid(format!(
                    "failed to lookup public key from existing key: {}",
                    e.message()
                ))
            })?;
            Ok((entry.open()?, entry, false))
        }
        Source::Kms => {
            let (key, reference) = f.managed_key()?;
            let (entry, _) = store::store_managed_key(ctx, &key, reference, &name)?;
            Ok((key, entry, false))
        }
    }
}

fn root(ctx: &mut Ctx<'_>, f: Root) -> Result<Response, Error> {
    let cn = f.names.common_name.clone().unwrap_or_default();
    let issuer_name = f.issuer_name.clone().unwrap_or_default();
    store::check_name(&issuer_name, "issuer")?;
    let requested = bundle::requested(&f.names, cn.clone(), &[])?;
    let (key, key_entry, exported) = obtain_key(ctx, &f.key)?;
    let now = ctx.now().seconds;
    let mut capped = None;
    let not_after = match f
        .not_after
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(t) => crate::time::parse_rfc3339(t)
            .ok_or_else(|| Error::invalid(format!("invalid not_after {t:?}: expected RFC 3339")))?,
        None => {
            let requested = f.ttl.map_or(0, |t| t.as_secs());
            let (ttl, warning) = bundle::MountTtls::of(ctx).lifetime(requested, 0, 0);
            capped = warning;
            now + ttl
        }
    };
    let subject = f.subject.subject(&cn, f.names.serial_number.as_deref());
    let urls = crate::urls::load(ctx)?;
    let mut t: Template = bundle::template(
        crate::serial::random()?,
        &subject,
        bundle::spki_of(&key)?,
        now.saturating_sub(f.not_before_duration.as_secs()),
        not_after,
        requested.sans,
        urls,
    )?;
    t.is_ca = true;
    t.max_path_length = f.max_path_length;
    t.permitted_dns_domains = f.permitted_dns_domains.0.clone();
    let name = t.subject.clone();
    let issuer = Issuer {
        name,
        key_id: Some(crate::x509::key_id(&t.spki)),
        key: &key,
        signer: signer(key.key_type()?, f.sig.signature_bits, f.sig.use_pss)?,
    };
    let cert = bundle::sign_with(&t, &issuer)?;
    let (entry, _) = store::store_issuer(ctx, &cert, &issuer_name)?;
    crate::certs::store(ctx, &cert)?;
    let mut data = Map::new();
    let format = bundle::Format::parse(&f.format)?;
    let pem_or_der = bundle::cert_out(&cert.der, format);
    data.insert("certificate".into(), json!(pem_or_der));
    data.insert("issuing_ca".into(), json!(pem_or_der));
    data.insert("serial_number".into(), json!(cert.serial()));
    data.insert("expiration".into(), json!(cert.not_after()));
    data.insert("issuer_id".into(), json!(entry.id));
    data.insert("issuer_name".into(), json!(entry.name));
    data.insert("key_id".into(), json!(key_entry.id));
    data.insert("key_name".into(), json!(key_entry.name));
    if exported {
        let (pk, pk_type) = bundle::private_key_out(&key, format, f.key.private_key_format)?;
        if format == bundle::Format::PemBundle {
            data.insert("certificate".into(), json!(format!("{pk}\n{pem_or_der}")));
        }
        data.insert("private_key".into(), json!(pk));
        data.insert("private_key_type".into(), json!(pk_type));
    }
    let mut r = Response::data(Value::Object(data));
    if let Some(w) = capped {
        r = r.with_warning(w);
    }
    if cn.is_empty() {
        r = r.with_warning(NO_SUBJECT_WARNING);
    }
    if !crate::urls::any_configured(ctx)? {
        r = r.with_warning(AIA_WARNING);
    }
    Ok(r)
}

/// The warning for a root made without a common name.
const NO_SUBJECT_WARNING: &str = "This issuer certificate was generated without a Subject; this makes it likely that issuing leaf certs with this certificate will cause TLS validation libraries to reject this certificate.";

/// The warning Vault gives when a CA is made on a mount without AIA URLs.
pub const AIA_WARNING: &str = "This mount hasn't configured any authority information access (AIA) fields; this may make it harder for systems to find missing certificates in the chain or to validate revocation status of certificates. Consider updating /config/urls or the newly generated issuer with this information.";

fn intermediate(ctx: &mut Ctx<'_>, f: Intermediate) -> Result<Response, Error> {
    let cn = f.names.common_name.clone().unwrap_or_default();
    let requested = bundle::requested(&f.names, cn.clone(), &[])?;
    let (key, key_entry, exported) = obtain_key(ctx, &f.key)?;
    let subject = f.subject.subject(&cn, f.names.serial_number.as_deref());
    let der = crate::csr::build(
        &key,
        &subject,
        &requested.sans,
        f.add_basic_constraints,
        f.sig.signature_bits,
        f.sig.use_pss,
    )?;
    let format = bundle::Format::parse(&f.format)?;
    let csr = match format {
        bundle::Format::Der => Base64::encode(&der),
        _ => crate::pem::encode_trimmed("CERTIFICATE REQUEST", &der),
    };
    let mut data = Map::new();
    data.insert("csr".into(), json!(csr));
    data.insert("key_id".into(), json!(key_entry.id));
    if exported {
        let (pk, pk_type) = bundle::private_key_out(&key, format, f.key.private_key_format)?;
        data.insert("private_key".into(), json!(pk));
        data.insert("private_key_type".into(), json!(pk_type));
    }
    let mut r = Response::data(Value::Object(data));
    if !crate::urls::any_configured(ctx)? {
        r = r.with_warning(AIA_WARNING);
    }
    Ok(r)
}
