//! The `gcpckms` backend: asymmetric signing keys in Google Cloud KMS,
//! through Google's client for Rust (`google-cloud-kms-v1`, which speaks
//! Cloud KMS's REST API; `google-cloud-auth` for the service account),
//! behind coffer-host's `gcpckms` feature (release builds and the test
//! build turn it on).
//!
//! Opening a key reads its version's public key (`GetPublicKey`), whose
//! algorithm must be the record's; with `allow_generate_key` and no such
//! key, it makes an `ASYMMETRIC_SIGN` key of `algorithm` in the key ring
//! (`CreateCryptoKey`, whose version 1 is made with it). Signing sends the
//! digest (`AsymmetricSign`); the algorithm fixes the hash and padding, so
//! a signature asked with another is refused. Calls run on the KMS runtime
//! (`kms::remote`), with two attempts and a 10 s attempt timeout.

pub mod params;

pub use self::params::{Params, FIELDS};

#[cfg(feature = "gcpckms")]
mod client;

#[cfg(feature = "gcpckms")]
pub use self::client::open;

/// Without the feature: every key is refused, naming the feature.
#[cfg(not(feature = "gcpckms"))]
pub async fn open(
    _name: String,
    _params: Params,
    _generic: crate::kms::record::Generic,
) -> Result<std::sync::Arc<dyn crate::crypto::KeyHandle>, crate::keys::managed::ManagedKeyError> {
    Err(crate::kms::record::not_built("gcpckms"))
}
