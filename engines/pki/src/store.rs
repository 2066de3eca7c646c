//! The mount's records and where they live: keys, issuers, the defaults,
//! and resolving an `issuer_ref`/`key_ref` (an id, a name, or `default`).
//!
//! Storage layout:
//! - `config/key/<id>`: [`KeyEntry`] (the host-sealed key blob, never bytes)
//! - `config/issuer/<id>`: [`IssuerEntry`] (certificate, key id, settings)
//! - `config/issuers`, `config/keys`: the defaults
//! - `config/urls`, `config/crl`: mount settings (`urls.rs`, `crl.rs`)
//! - `role/<name>`: roles (`roles.rs`)
//! - `certs/<serial>`, `revoked/<serial>`, `crl-*/...`: `certs.rs`, `crl.rs`
//!
//! Every writer of these records replaces the cache epoch
//! (`cache::bump`), so issuing never uses a stale role, issuer or key.

use coffer_sdk::crypto::PublicKeyFormat;
use coffer_sdk::keys::{Key, ManagedRef};
use coffer_sdk::prelude::*;
use serde::{Deserialize, Serialize};

use crate::alg::{pki_key_type, PkiKeyType};
use crate::x509::{Parsed, Urls};

const KEY_PREFIX: &str = "config/key/";
const ISSUER_PREFIX: &str = "config/issuer/";
const ISSUERS_CONFIG: &str = "config/issuers";
const KEYS_CONFIG: &str = "config/keys";

/// A key of the mount: the host's sealed blob and what describes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyEntry {
    /// Its id (a UUID).
    pub id: String,
    /// Its name; empty if none.
    pub name: String,
    /// `rsa`, `ec` or `ed25519`.
    pub key_type: PkiKeyType,
    /// Bits (0 for Ed25519).
    pub key_bits: u32,
    /// The host-sealed key (base64 in storage); empty for a managed key.
    #[serde(with = "b64")]
    pub blob: Vec<u8>,
    /// The managed key (`sys/managed-keys`) it is, as the request named
    /// it; none for a key of the mount's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<ManagedRef>,
    /// The public key, SubjectPublicKeyInfo DER (base64), to match
    /// certificates and imports against.
    #[serde(with = "b64")]
    pub spki: Vec<u8>,
}

impl KeyEntry {
    /// Opens the key: a handle on the host's copy, or on the managed key,
    /// which must still hold the public key stored here.
    pub fn open(&self) -> Result<Key, Error> {
        let Some(reference) = &self.managed else {
            return Key::open(&self.blob);
        };
        let key = reference.open()?;
        let spki = key.public_key()?.export(PublicKeyFormat::SpkiDer)?;
        if spki != self.spki {
            return Err(Error::invalid(format!(
                "managed key {:?} no longer holds the key this mount stored as {}",
                reference.value(),
                self.id
            )));
        }
        Ok(key)
    }
}

/// An issuer: a CA certificate this mount holds, and the key that signs
/// for it (if the mount has it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuerEntry {
    /// Its id (a UUID).
    pub id: String,
    /// Its name; empty if none.
    pub name: String,
    /// Its key's id; empty when the mount does not have the key.
    pub key_id: String,
    /// The certificate, DER (base64 in storage).
    #[serde(with = "b64")]
    pub certificate: Vec<u8>,
    /// Its serial, colon form.
    pub serial_number: String,
    /// Issuer ids to use as its chain instead of the one built.
    #[serde(default)]
    pub manual_chain: Vec<String>,
    /// `err`, `truncate` or `permit`.
    pub leaf_not_after_behavior: String,
    /// What the issuer may do (`read-only`, `issuing-certificates`,
    /// `crl-signing`, `ocsp-signing`).
    pub usage: Vec<String>,
    /// The algorithm its CRLs are signed with; empty: its key's default.
    #[serde(default)]
    pub revocation_signature_algorithm: String,
    /// This issuer's AIA URLs (used instead of the mount's when set).
    #[serde(default)]
    pub urls: Urls,
    /// Whether `urls` are templates.
    #[serde(default)]
    pub enable_aia_url_templating: bool,
    /// Whether the issuer's own certificate was revoked.
    #[serde(default)]
    pub revoked: bool,
    /// When (seconds since the epoch; 0 if not revoked).
    #[serde(default)]
    pub revocation_time: u64,
}

/// Every usage an issuer can have, sorted as Vault lists them.
pub const ALL_USAGES: [&str; 4] = [
    "crl-signing",
    "issuing-certificates",
    "ocsp-signing",
    "read-only",
];

impl IssuerEntry {
    /// The parsed certificate.
    pub fn parsed(&self) -> Result<Parsed, Error> {
        Parsed::from_der(&self.certificate)
    }

    /// The certificate's PEM.
    pub fn pem(&self) -> String {
        crate::pem::encode("CERTIFICATE", &self.certificate)
    }

    /// Whether it may `usage`.
    pub fn may(&self, usage: &str) -> bool {
        self.usage.iter().any(|u| u == usage)
    }
}

/// The defaults of `config/issuers`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IssuersConfig {
    /// The default issuer's id; empty if none.
    pub default: String,
    /// Whether a new issuer becomes the default.
    #[serde(default)]
    pub default_follows_latest_issuer: bool,
}

/// The default of `config/keys`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KeysConfig {
    /// The default key's id; empty if none.
    pub default: String,
}

/// A fresh id (a random UUID, version 4).
pub fn new_id() -> Result<String, Error> {
    let mut b = coffer_sdk::crypto::random_bytes(16)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

/// Checks a key or issuer name as Vault does: letters, digits, `-`, `_`,
/// not `default`, at most 128 characters.
pub fn check_name(name: &str, what: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Ok(());
    }
    if name == "default" {
        return Err(Error::invalid(format!(
            "reserved keyword 'default' can not be used as {what} name"
        )));
    }
    let ok = name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if !ok {
        return Err(Error::invalid(format!(
            "invalid {what} name {name:?}: only letters, digits, '-', '_' and '.' (128 at most)"
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------- keys

/// Every key id.
pub fn key_ids(ctx: &mut Ctx<'_>) -> Result<Vec<String>, Error> {
    ctx.storage().list(KEY_PREFIX)
}

/// The key with this id.
pub fn key(ctx: &mut Ctx<'_>, id: &str) -> Result<Option<KeyEntry>, Error> {
    ctx.storage().get_json(&format!("{KEY_PREFIX}{id}"))
}

/// Writes a key record.
pub fn put_key(ctx: &mut Ctx<'_>, entry: &KeyEntry) -> Result<(), Error> {
    crate::cache::bump(ctx)?;
    ctx.storage()
        .put_json(&format!("{KEY_PREFIX}{}", entry.id), entry)
}

/// Deletes a key record (and the default pointing at it).
pub fn delete_key(ctx: &mut Ctx<'_>, id: &str) -> Result<(), Error> {
    crate::cache::bump(ctx)?;
    ctx.storage().delete(&format!("{KEY_PREFIX}{id}"))?;
    let mut c = keys_config(ctx)?;
    if c.default == id {
        c.default.clear();
        put_keys_config(ctx, &c)?;
    }
    Ok(())
}

/// `config/keys`.
pub fn keys_config(ctx: &mut Ctx<'_>) -> Result<KeysConfig, Error> {
    Ok(ctx.storage().get_json(KEYS_CONFIG)?.unwrap_or_default())
}

/// Writes `config/keys`.
pub fn put_keys_config(ctx: &mut Ctx<'_>, c: &KeysConfig) -> Result<(), Error> {
    crate::cache::bump(ctx)?;
    ctx.storage().put_json(KEYS_CONFIG, c)
}

/// The key `reference` names: `default`, an id, or a name. Unknown: 400
/// (Vault's answer for a bad reference).
pub fn resolve_key(ctx: &mut Ctx<'_>, reference: &str) -> Result<KeyEntry, Error> {
    resolve(
        ctx,
        reference,
        KEY_PREFIX,
        "key",
        |ctx| Ok(keys_config(ctx)?.default),
        "no default key is set on this mount",
        |k: &KeyEntry| &k.name,
    )
}

/// The record under `prefix` that `reference` names: `default` (the id
/// `default_id` gives; none is a 400 `no_default`), its id, or its name.
/// Unknown: a 400, as Vault answers.
#[allow(clippy::too_many_arguments)]
fn resolve<T: serde::de::DeserializeOwned>(
    ctx: &mut Ctx<'_>,
    reference: &str,
    prefix: &str,
    what: &str,
    default_id: impl FnOnce(&mut Ctx<'_>) -> Result<String, Error>,
    no_default: &str,
    name_of: impl Fn(&T) -> &str,
) -> Result<T, Error> {
    let reference = reference.trim();
    let id = if reference == "default" || reference.is_empty() {
        let d = default_id(ctx)?;
        if d.is_empty() {
            return Err(Error::invalid(no_default));
        }
        d
    } else {
        reference.to_owned()
    };
    if let Some(found) = ctx.storage().get_json::<T>(&format!("{prefix}{id}"))? {
        return Ok(found);
    }
    for other in ctx.storage().list(prefix)? {
        if let Some(found) = ctx.storage().get_json::<T>(&format!("{prefix}{other}"))? {
            if name_of(&found) == id {
                return Ok(found);
            }
        }
    }
    Err(Error::invalid(format!(
        "unable to find PKI {what} for reference: {reference}"
    )))
}

/// Stores `key` as a new key of the mount named `name`, or, if the mount
/// already has that key (same public key), returns the existing record
/// and `false`.
pub fn store_key(ctx: &mut Ctx<'_>, key: &Key, name: &str) -> Result<(KeyEntry, bool), Error> {
    store_any_key(ctx, key, None, name)
}

/// [`store_key`] for a managed key, named by `reference` (no blob).
pub fn store_managed_key(
    ctx: &mut Ctx<'_>,
    key: &Key,
    reference: ManagedRef,
    name: &str,
) -> Result<(KeyEntry, bool), Error> {
    store_any_key(ctx, key, Some(reference), name)
}

fn store_any_key(
    ctx: &mut Ctx<'_>,
    key: &Key,
    managed: Option<ManagedRef>,
    name: &str,
) -> Result<(KeyEntry, bool), Error> {
    check_name(name, "key")?;
    let spki = key
        .public_key()?
        .export(coffer_sdk::crypto::PublicKeyFormat::SpkiDer)?;
    if let Some(existing) = key_by_spki(ctx, &spki)? {
        return Ok((existing, false));
    }
    if !name.is_empty() && name_taken_by_key(ctx, name)? {
        return Err(Error::invalid(format!("key name already in use: {name}")));
    }
    let (key_type, key_bits) = pki_key_type(key.key_type()?)
        .ok_or_else(|| Error::invalid("only RSA, EC and Ed25519 keys can be PKI keys"))?;
    let entry = KeyEntry {
        id: new_id()?,
        name: name.to_owned(),
        key_type,
        key_bits,
        blob: if managed.is_some() {
            Vec::new()
        } else {
            key.seal()?
        },
        managed,
        spki,
    };
    put_key(ctx, &entry)?;
    let mut c = keys_config(ctx)?;
    if c.default.is_empty() {
        c.default = entry.id.clone();
        put_keys_config(ctx, &c)?;
    }
    Ok((entry, true))
}

fn name_taken_by_key(ctx: &mut Ctx<'_>, name: &str) -> Result<bool, Error> {
    for id in key_ids(ctx)? {
        if key(ctx, &id)?.is_some_and(|k| k.name == name) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The key whose public key is `spki` (DER).
pub fn key_by_spki(ctx: &mut Ctx<'_>, spki: &[u8]) -> Result<Option<KeyEntry>, Error> {
    for id in key_ids(ctx)? {
        if let Some(k) = key(ctx, &id)? {
            if k.spki == spki {
                return Ok(Some(k));
            }
        }
    }
    Ok(None)
}

// ------------------------------------------------------------- issuers

/// Every issuer id.
pub fn issuer_ids(ctx: &mut Ctx<'_>) -> Result<Vec<String>, Error> {
    ctx.storage().list(ISSUER_PREFIX)
}

/// Every issuer.
pub fn issuers(ctx: &mut Ctx<'_>) -> Result<Vec<IssuerEntry>, Error> {
    let mut out = Vec::new();
    for id in issuer_ids(ctx)? {
        if let Some(i) = issuer(ctx, &id)? {
            out.push(i);
        }
    }
    Ok(out)
}

/// The issuer with this id.
pub fn issuer(ctx: &mut Ctx<'_>, id: &str) -> Result<Option<IssuerEntry>, Error> {
    ctx.storage().get_json(&format!("{ISSUER_PREFIX}{id}"))
}

/// Writes an issuer record.
pub fn put_issuer(ctx: &mut Ctx<'_>, entry: &IssuerEntry) -> Result<(), Error> {
    crate::cache::bump(ctx)?;
    ctx.storage()
        .put_json(&format!("{ISSUER_PREFIX}{}", entry.id), entry)
}

/// Deletes an issuer record (and the default pointing at it).
pub fn delete_issuer(ctx: &mut Ctx<'_>, id: &str) -> Result<(), Error> {
    crate::cache::bump(ctx)?;
    ctx.storage().delete(&format!("{ISSUER_PREFIX}{id}"))?;
    let mut c = issuers_config(ctx)?;
    if c.default == id {
        c.default.clear();
        put_issuers_config(ctx, &c)?;
    }
    Ok(())
}

/// `config/issuers`.
pub fn issuers_config(ctx: &mut Ctx<'_>) -> Result<IssuersConfig, Error> {
    Ok(ctx.storage().get_json(ISSUERS_CONFIG)?.unwrap_or_default())
}

/// Writes `config/issuers`.
pub fn put_issuers_config(ctx: &mut Ctx<'_>, c: &IssuersConfig) -> Result<(), Error> {
    crate::cache::bump(ctx)?;
    ctx.storage().put_json(ISSUERS_CONFIG, c)
}

/// The issuer `reference` names: `default`, an id, or a name. Unknown:
/// 400, as Vault answers.
pub fn resolve_issuer(ctx: &mut Ctx<'_>, reference: &str) -> Result<IssuerEntry, Error> {
    resolve(
        ctx,
        reference,
        ISSUER_PREFIX,
        "issuer",
        |ctx| Ok(issuers_config(ctx)?.default),
        "no default issuer currently configured",
        |i: &IssuerEntry| &i.name,
    )
}

/// Stores a CA certificate as an issuer named `name`, linked to the
/// mount's key for its public key if there is one; or, if the mount
/// already has that certificate, returns the existing record and `false`
/// (linking a key that arrived since).
pub fn store_issuer(
    ctx: &mut Ctx<'_>,
    cert: &Parsed,
    name: &str,
) -> Result<(IssuerEntry, bool), Error> {
    check_name(name, "issuer")?;
    let spki = cert.spki_der()?;
    let key_id = key_by_spki(ctx, &spki)?.map(|k| k.id).unwrap_or_default();
    for mut existing in issuers(ctx)? {
        if existing.certificate == cert.der {
            if existing.key_id.is_empty() && !key_id.is_empty() {
                existing.key_id = key_id;
                put_issuer(ctx, &existing)?;
            }
            return Ok((existing, false));
        }
        if !name.is_empty() && existing.name == name {
            return Err(Error::invalid(format!(
                "issuer name already in use: {name}"
            )));
        }
    }
    let entry = IssuerEntry {
        id: new_id()?,
        name: name.to_owned(),
        key_id,
        certificate: cert.der.clone(),
        serial_number: cert.serial(),
        manual_chain: Vec::new(),
        leaf_not_after_behavior: "err".to_owned(),
        usage: ALL_USAGES.iter().map(|s| (*s).to_owned()).collect(),
        revocation_signature_algorithm: String::new(),
        urls: Urls::default(),
        enable_aia_url_templating: false,
        revoked: false,
        revocation_time: 0,
    };
    put_issuer(ctx, &entry)?;
    let mut c = issuers_config(ctx)?;
    if c.default.is_empty() || c.default_follows_latest_issuer {
        c.default = entry.id.clone();
        put_issuers_config(ctx, &c)?;
    }
    Ok((entry, true))
}

/// The issuer's chain as PEM strings: itself first, then its issuers as
/// found among this mount's issuers (by name, key identifier and a
/// verified signature), up to a self-signed root; or its manual chain.
pub fn chain(ctx: &mut Ctx<'_>, of: &IssuerEntry) -> Result<Vec<String>, Error> {
    let all = issuers(ctx)?;
    if !of.manual_chain.is_empty() {
        let mut out = Vec::new();
        for id in &of.manual_chain {
            if let Some(i) = all.iter().find(|i| &i.id == id) {
                out.push(i.pem());
            }
        }
        return Ok(out);
    }
    let parsed: Vec<(IssuerEntry, Parsed)> = all
        .into_iter()
        .filter_map(|i| i.parsed().ok().map(|p| (i, p)))
        .collect();
    let mut out = vec![of.pem()];
    let mut seen = vec![of.id.clone()];
    let mut current = of.parsed()?;
    let mut queue = Vec::new();
    loop {
        if current.issued_by(&current) {
            break;
        }
        for (entry, p) in &parsed {
            if seen.contains(&entry.id) {
                continue;
            }
            if current.issued_by(p) {
                seen.push(entry.id.clone());
                out.push(entry.pem());
                queue.push(p.clone());
            }
        }
        match queue.pop() {
            Some(next) => current = next,
            None => break,
        }
    }
    Ok(out)
}

/// Bytes as base64 text in stored records.
mod b64 {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)
    }
}
