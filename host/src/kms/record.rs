//! A managed key's record (`sys/managed-keys/:type/:name`): the generic
//! parameters every backend shares, and the backend's own. Parsed from a
//! request here, apart from opening the key (`mod.rs`), and rendered for
//! a read with every secret shown as `redacted`, as Vault does.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{awskms, azure, gcp, pkcs11};
use crate::api::ApiError;
use crate::fields::{opt_bool, opt_string_list};

/// A secret setting (a PIN, a secret key, a credentials file's text):
/// stored as the string it is, shown by `Debug` as `redacted`, so no log
/// of a record or a configuration can carry it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret.
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    /// Its text, for the one place that needs it (a login, a client).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("redacted")
    }
}

/// The backend types of the seed, by their path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendType {
    /// A PKCS#11 HSM through `cryptoki`.
    Pkcs11,
    /// AWS KMS.
    Awskms,
    /// Azure Key Vault.
    Azurekeyvault,
    /// Google Cloud KMS.
    Gcpckms,
}

impl BackendType {
    /// The type a path names; a 400 naming the known ones otherwise.
    pub fn parse(name: &str) -> Result<Self, ApiError> {
        Ok(match name {
            "pkcs11" => Self::Pkcs11,
            "awskms" => Self::Awskms,
            "azurekeyvault" => Self::Azurekeyvault,
            "gcpckms" => Self::Gcpckms,
            other => {
                return Err(ApiError::bad(format!(
                "unknown managed key type {other:?}: use pkcs11, awskms, azurekeyvault or gcpckms"
            )))
            }
        })
    }

    /// Its path name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pkcs11 => "pkcs11",
            Self::Awskms => "awskms",
            Self::Azurekeyvault => "azurekeyvault",
            Self::Gcpckms => "gcpckms",
        }
    }
}

/// What a managed key may be used for (`usages`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Usage {
    /// Encrypt.
    Encrypt,
    /// Decrypt.
    Decrypt,
    /// Sign.
    Sign,
    /// Verify.
    Verify,
    /// Wrap another key.
    Wrap,
    /// Unwrap another key.
    Unwrap,
    /// MAC.
    Mac,
    /// Random bytes.
    Random,
}

impl Usage {
    const ALL: [Usage; 8] = [
        Usage::Encrypt,
        Usage::Decrypt,
        Usage::Sign,
        Usage::Verify,
        Usage::Wrap,
        Usage::Unwrap,
        Usage::Mac,
        Usage::Random,
    ];

    /// Its name in `usages`.
    pub fn name(self) -> &'static str {
        match self {
            Usage::Encrypt => "encrypt",
            Usage::Decrypt => "decrypt",
            Usage::Sign => "sign",
            Usage::Verify => "verify",
            Usage::Wrap => "wrap",
            Usage::Unwrap => "unwrap",
            Usage::Mac => "mac",
            Usage::Random => "random",
        }
    }

    fn parse(name: &str) -> Result<Self, ApiError> {
        Self::ALL
            .into_iter()
            .find(|u| u.name() == name.to_lowercase())
            .ok_or_else(|| {
                ApiError::bad(format!(
                    "unknown usage {name:?} in \"usages\": use encrypt, decrypt, sign, verify, wrap, unwrap, mac or random"
                ))
            })
    }
}

/// The parameters every backend shares.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generic {
    /// Generate the key in the backend when none is found.
    pub allow_generate_key: bool,
    /// Replace a key the backend holds (by generation or import).
    pub allow_replace_key: bool,
    /// Import a key into the backend.
    pub allow_store_key: bool,
    /// Any mount may use it, whatever its `allowed_managed_keys`.
    pub any_mount: bool,
    /// What it may be used for.
    pub usages: Vec<Usage>,
}

impl Default for Generic {
    fn default() -> Self {
        Generic {
            allow_generate_key: false,
            allow_replace_key: false,
            allow_store_key: false,
            any_mount: false,
            usages: vec![Usage::Sign, Usage::Verify],
        }
    }
}

impl Generic {
    /// Whether `usage` is allowed.
    pub fn allows(&self, usage: Usage) -> bool {
        self.usages.contains(&usage)
    }

    /// The generic fields a request gives, over `self`.
    fn update(&mut self, data: &Map<String, Value>) -> Result<(), ApiError> {
        for (field, value) in [
            ("allow_generate_key", &mut self.allow_generate_key),
            ("allow_replace_key", &mut self.allow_replace_key),
            ("allow_store_key", &mut self.allow_store_key),
            ("any_mount", &mut self.any_mount),
        ] {
            if let Some(b) = opt_bool(data, field)? {
                *value = b;
            }
        }
        if let Some(usages) = opt_string_list(data, "usages")? {
            let mut parsed = Vec::with_capacity(usages.len());
            for u in usages {
                let usage = Usage::parse(&u)?;
                if !parsed.contains(&usage) {
                    parsed.push(usage);
                }
            }
            if parsed.is_empty() {
                return Err(ApiError::bad("\"usages\" must name at least one usage"));
            }
            self.usages = parsed;
        }
        Ok(())
    }

    fn show(&self, out: &mut Map<String, Value>) {
        out.insert("allow_generate_key".into(), self.allow_generate_key.into());
        out.insert("allow_replace_key".into(), self.allow_replace_key.into());
        out.insert("allow_store_key".into(), self.allow_store_key.into());
        out.insert("any_mount".into(), self.any_mount.into());
        let usages: Vec<&str> = self.usages.iter().map(|u| u.name()).collect();
        out.insert("usages".into(), json!(usages));
    }
}

/// A backend's own parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Backend {
    /// `pkcs11`.
    Pkcs11(pkcs11::Params),
    /// `awskms`.
    Awskms(awskms::Params),
    /// `azurekeyvault`.
    Azurekeyvault(azure::Params),
    /// `gcpckms`.
    Gcpckms(gcp::Params),
}

impl Backend {
    /// Its type.
    pub fn kind(&self) -> BackendType {
        match self {
            Backend::Pkcs11(_) => BackendType::Pkcs11,
            Backend::Awskms(_) => BackendType::Awskms,
            Backend::Azurekeyvault(_) => BackendType::Azurekeyvault,
            Backend::Gcpckms(_) => BackendType::Gcpckms,
        }
    }
}

/// A stored managed key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Its name: unique across every type.
    pub name: String,
    /// Its id (Vault's `UUID`), which mounts may name instead.
    pub uuid: String,
    /// The shared parameters.
    pub generic: Generic,
    /// The backend's.
    pub backend: Backend,
}

/// A backend's text field: trimmed, blank as absent, absent as `old` (an
/// update keeps what it does not name). A value of another kind is a 400
/// that does not repeat it: it may be a secret (a PIN sent as a number, a
/// credentials file's JSON sent as an object).
pub fn text_field(
    data: &Map<String, Value>,
    field: &str,
    old: Option<&String>,
) -> Result<Option<String>, ApiError> {
    Ok(match data.get(field) {
        None | Some(Value::Null) => old.cloned(),
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s.trim().to_string()),
        Some(_) => return Err(ApiError::bad(format!("field {field:?} must be a string"))),
    })
}

/// A backend's URL field ([`text_field`]'s rules): `https://`, or also
/// `http://` unless `tls_only`.
pub fn url_field(
    data: &Map<String, Value>,
    field: &str,
    old: Option<&String>,
    tls_only: bool,
) -> Result<Option<String>, ApiError> {
    let value = text_field(data, field, old)?;
    if let Some(v) = &value {
        if !(v.starts_with("https://") || (!tls_only && v.starts_with("http://"))) {
            let schemes = if tls_only {
                "an https://"
            } else {
                "an http:// or https://"
            };
            return Err(ApiError::bad(format!(
                "\"{field}\" {v:?} must be {schemes} URL"
            )));
        }
    }
    Ok(value)
}

/// The request fields `base` with `change` applied (`null` removes one):
/// the parameter tests' cases.
#[cfg(test)]
pub fn changed(base: &Value, change: &Value) -> Map<String, Value> {
    let mut data = base.as_object().cloned().unwrap_or_default();
    for (k, v) in change.as_object().into_iter().flatten() {
        if v.is_null() {
            data.remove(k);
        } else {
            data.insert(k.clone(), v.clone());
        }
    }
    data
}

/// The error of a backend built without its cargo feature.
#[cfg_attr(
    all(feature = "awskms", feature = "azurekeyvault", feature = "gcpckms"),
    allow(dead_code)
)]
pub fn not_built(backend: &str) -> crate::keys::managed::ManagedKeyError {
    crate::keys::managed::ManagedKeyError::Invalid(format!(
        "this server was built without the {backend} backend (coffer-host's cargo feature {backend})"
    ))
}

/// A backend's secret text field ([`text_field`]'s rules).
pub fn secret_field(
    data: &Map<String, Value>,
    field: &str,
    old: Option<&Secret>,
) -> Result<Option<Secret>, ApiError> {
    let old = old.map(|s| s.expose().to_string());
    Ok(text_field(data, field, old.as_ref())?.map(Secret::new))
}

/// A backend's `key_bits`: 0 (none given), 2048, 3072 or 4096; absent
/// keeps `old`.
pub fn key_bits_field(data: &Map<String, Value>, old: Option<u64>) -> Result<u64, ApiError> {
    let bits = match crate::fields::opt_u64(data, "key_bits")? {
        Some(bits) => bits,
        None => old.unwrap_or(0),
    };
    if bits != 0 && ![2048, 3072, 4096].contains(&bits) {
        return Err(ApiError::bad(format!(
            "unsupported \"key_bits\" {bits}: use 2048, 3072 or 4096"
        )));
    }
    Ok(bits)
}

/// The fields every type takes besides its backend's.
const GENERIC_FIELDS: [&str; 7] = [
    "name",
    "type",
    "allow_generate_key",
    "allow_replace_key",
    "allow_store_key",
    "any_mount",
    "usages",
];

/// A managed key's name: lowercase, as the seed says, and safe as one path
/// segment.
pub fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        });
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad(format!(
            "invalid managed key name {name:?}: use lowercase letters, digits, '-', '_' and '.' (at most 128)"
        )))
    }
}

impl Record {
    /// The record a create (`existing` none) or update request makes. Every
    /// field is checked; nothing is opened.
    pub fn from_request(
        kind: BackendType,
        name: &str,
        data: &Map<String, Value>,
        existing: Option<&Record>,
    ) -> Result<Record, ApiError> {
        check_name(name)?;
        let unknown: Vec<&str> = data
            .keys()
            .map(String::as_str)
            .filter(|k| !GENERIC_FIELDS.contains(k) && !backend_fields(kind).contains(k))
            .collect();
        if !unknown.is_empty() {
            return Err(ApiError::bad(format!(
                "unknown parameters for a {} managed key: {}",
                kind.name(),
                unknown.join(", ")
            )));
        }
        if let Some(given) = data.get("name").and_then(Value::as_str) {
            if given != name {
                return Err(ApiError::bad(format!(
                    "\"name\" {given:?} differs from the path's {name:?}"
                )));
            }
        }
        if let Some(given) = data.get("type").and_then(Value::as_str) {
            if given != kind.name() {
                return Err(ApiError::bad(format!(
                    "\"type\" {given:?} differs from the path's {:?}",
                    kind.name()
                )));
            }
        }
        let mut generic = existing.map(|r| r.generic.clone()).unwrap_or_default();
        generic.update(data)?;
        let backend = match kind {
            BackendType::Pkcs11 => {
                let previous = existing.and_then(|r| match &r.backend {
                    Backend::Pkcs11(p) => Some(p),
                    _ => None,
                });
                Backend::Pkcs11(pkcs11::Params::from_request(data, previous, &generic)?)
            }
            BackendType::Awskms => {
                let previous = existing.and_then(|r| match &r.backend {
                    Backend::Awskms(p) => Some(p),
                    _ => None,
                });
                Backend::Awskms(awskms::Params::from_request(data, previous, &generic)?)
            }
            BackendType::Azurekeyvault => {
                let previous = existing.and_then(|r| match &r.backend {
                    Backend::Azurekeyvault(p) => Some(p),
                    _ => None,
                });
                Backend::Azurekeyvault(azure::Params::from_request(data, previous, &generic)?)
            }
            BackendType::Gcpckms => {
                let previous = existing.and_then(|r| match &r.backend {
                    Backend::Gcpckms(p) => Some(p),
                    _ => None,
                });
                Backend::Gcpckms(gcp::Params::from_request(data, previous, &generic)?)
            }
        };
        Ok(Record {
            name: name.to_string(),
            uuid: existing
                .map(|r| r.uuid.clone())
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            generic,
            backend,
        })
    }

    /// What a read shows: every parameter, secrets as `redacted`.
    pub fn show(&self) -> Value {
        let mut out = Map::new();
        out.insert("UUID".into(), self.uuid.clone().into());
        out.insert("name".into(), self.name.clone().into());
        out.insert("type".into(), self.backend.kind().name().into());
        self.generic.show(&mut out);
        match &self.backend {
            Backend::Pkcs11(p) => p.show(&mut out),
            Backend::Awskms(p) => p.show(&mut out),
            Backend::Azurekeyvault(p) => p.show(&mut out),
            Backend::Gcpckms(p) => p.show(&mut out),
        }
        Value::Object(out)
    }
}

/// The fields `kind`'s backend takes.
fn backend_fields(kind: BackendType) -> &'static [&'static str] {
    match kind {
        BackendType::Pkcs11 => &pkcs11::FIELDS,
        BackendType::Awskms => &awskms::FIELDS,
        BackendType::Azurekeyvault => &azure::FIELDS,
        BackendType::Gcpckms => &gcp::FIELDS,
    }
}
