//! A `gcpckms` managed key's parameters, by the seed's names, plus
//! Coffer's `endpoint` (Cloud KMS's URL, for private endpoints and the
//! tests' local server). Parsed from a request (over the stored ones, for
//! an update) and shown with the credentials left out.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::api::ApiError;
use crate::crypto::{HashAlgorithm, KeyType};
use crate::kms::record::{secret_field, text_field, url_field, Generic, Secret};

/// Every field a `gcpckms` key takes besides the generic ones.
pub const FIELDS: [&str; 8] = [
    "credentials",
    "project",
    "region",
    "key_ring",
    "crypto_key",
    "crypto_key_version",
    "algorithm",
    "endpoint",
];

/// The signature algorithms of the seed: Cloud KMS's names, with the key
/// type, hash and padding each stands for (PSS: `true`).
pub const ALGORITHMS: [(&str, KeyType, HashAlgorithm, bool); 10] = [
    (
        "EC_SIGN_P256_SHA256",
        KeyType::EcdsaP256,
        HashAlgorithm::Sha256,
        false,
    ),
    (
        "EC_SIGN_P384_SHA384",
        KeyType::EcdsaP384,
        HashAlgorithm::Sha384,
        false,
    ),
    (
        "RSA_SIGN_PSS_2048_SHA256",
        KeyType::Rsa2048,
        HashAlgorithm::Sha256,
        true,
    ),
    (
        "RSA_SIGN_PSS_3072_SHA256",
        KeyType::Rsa3072,
        HashAlgorithm::Sha256,
        true,
    ),
    (
        "RSA_SIGN_PSS_4096_SHA256",
        KeyType::Rsa4096,
        HashAlgorithm::Sha256,
        true,
    ),
    (
        "RSA_SIGN_PSS_4096_SHA512",
        KeyType::Rsa4096,
        HashAlgorithm::Sha512,
        true,
    ),
    (
        "RSA_SIGN_PKCS1_2048_SHA256",
        KeyType::Rsa2048,
        HashAlgorithm::Sha256,
        false,
    ),
    (
        "RSA_SIGN_PKCS1_3072_SHA256",
        KeyType::Rsa3072,
        HashAlgorithm::Sha256,
        false,
    ),
    (
        "RSA_SIGN_PKCS1_4096_SHA256",
        KeyType::Rsa4096,
        HashAlgorithm::Sha256,
        false,
    ),
    (
        "RSA_SIGN_PKCS1_4096_SHA512",
        KeyType::Rsa4096,
        HashAlgorithm::Sha512,
        false,
    ),
];

/// A `gcpckms` key's parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    /// The service account's credentials: a file's path, or the JSON
    /// itself; none: `GOOGLE_CREDENTIALS` / `GOOGLE_APPLICATION_CREDENTIALS`.
    pub credentials: Option<Secret>,
    /// The project.
    pub project: String,
    /// The key ring's location.
    pub region: String,
    /// The key ring.
    pub key_ring: String,
    /// The key.
    pub crypto_key: String,
    /// Its version (`"1"` by default).
    pub crypto_key_version: String,
    /// The signature algorithm (one of [`ALGORITHMS`]).
    pub algorithm: String,
    /// Cloud KMS's URL, instead of Google's.
    pub endpoint: Option<String>,
}

impl Params {
    /// The parameters a request gives, over `previous` (an update).
    pub fn from_request(
        data: &Map<String, Value>,
        previous: Option<&Params>,
        _generic: &Generic,
    ) -> Result<Params, ApiError> {
        let text = |field: &str, old: Option<&String>| text_field(data, field, old);
        let env = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
        };
        let required = |field: &str, old: Option<&String>, vars: &[&str]| {
            text(field, old)?
                .or_else(|| env(vars))
                .ok_or_else(|| ApiError::bad(format!("\"{field}\" is required")))
        };
        let credentials = secret_field(
            data,
            "credentials",
            previous.and_then(|p| p.credentials.as_ref()),
        )?;
        let project = required("project", previous.map(|p| &p.project), &["GOOGLE_PROJECT"])?;
        let region = required("region", previous.map(|p| &p.region), &["GOOGLE_REGION"])?;
        let key_ring = required("key_ring", previous.map(|p| &p.key_ring), &[])?;
        let crypto_key = required("crypto_key", previous.map(|p| &p.crypto_key), &[])?;
        let crypto_key_version = text(
            "crypto_key_version",
            previous.map(|p| &p.crypto_key_version),
        )?
        .unwrap_or_else(|| "1".into());
        let algorithm = required("algorithm", previous.map(|p| &p.algorithm), &[])?.to_uppercase();
        if !ALGORITHMS.iter().any(|(name, ..)| *name == algorithm) {
            return Err(ApiError::bad(format!(
                "unsupported \"algorithm\" {algorithm:?}: use one of {}",
                ALGORITHMS
                    .iter()
                    .map(|(n, ..)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let endpoint = url_field(
            data,
            "endpoint",
            previous.and_then(|p| p.endpoint.as_ref()),
            false,
        )?;
        Ok(Params {
            credentials,
            project,
            region,
            key_ring,
            crypto_key,
            crypto_key_version,
            algorithm,
            endpoint,
        })
    }

    /// The key ring's resource name.
    pub fn key_ring_name(&self) -> String {
        format!(
            "projects/{}/locations/{}/keyRings/{}",
            self.project, self.region, self.key_ring
        )
    }

    /// The key version's resource name.
    pub fn version_name(&self) -> String {
        format!(
            "{}/cryptoKeys/{}/cryptoKeyVersions/{}",
            self.key_ring_name(),
            self.crypto_key,
            self.crypto_key_version
        )
    }

    /// The key type, hash and padding (PSS: `true`) of `algorithm`.
    pub fn algorithm(&self) -> Option<(KeyType, HashAlgorithm, bool)> {
        ALGORITHMS
            .iter()
            .find(|(name, ..)| *name == self.algorithm)
            .map(|(_, t, h, pss)| (*t, *h, *pss))
    }

    /// Adds the read's fields (`credentials` shown as `redacted` when set).
    pub fn show(&self, out: &mut Map<String, Value>) {
        out.insert(
            "credentials".into(),
            if self.credentials.is_some() {
                "redacted"
            } else {
                ""
            }
            .into(),
        );
        for (field, value) in [
            ("project", &self.project),
            ("region", &self.region),
            ("key_ring", &self.key_ring),
            ("crypto_key", &self.crypto_key),
            ("crypto_key_version", &self.crypto_key_version),
            ("algorithm", &self.algorithm),
        ] {
            out.insert(field.into(), value.clone().into());
        }
        out.insert(
            "endpoint".into(),
            self.endpoint.clone().unwrap_or_default().into(),
        );
    }
}
