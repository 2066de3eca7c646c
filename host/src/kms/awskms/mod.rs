//! The `awskms` backend: keys in AWS KMS (or what speaks its API, such as
//! LocalStack), through `aws-sdk-kms`, behind coffer-host's `awskms`
//! feature (release builds and the test build turn it on).
//!
//! Opening a key reads its public key (`GetPublicKey`), which also tells
//! its spec; with `allow_generate_key` and an alias that names no key, it
//! makes a `SIGN_VERIFY` key of `key_type`/`key_bits`/`curve`
//! (`CreateKey`) and points the alias at it (`CreateAlias`). Signing sends
//! the digest (`MessageType=DIGEST`), never the message. Every call runs
//! on the KMS runtime (`kms::remote`), not on the server's workers, with
//! the SDK's connect and operation timeouts.

pub mod params;

pub use self::params::{Params, FIELDS};

#[cfg(feature = "awskms")]
mod client;

#[cfg(feature = "awskms")]
pub use self::client::{open, AwsSealWrapper};

/// Without the feature: every key is refused, naming the feature.
#[cfg(not(feature = "awskms"))]
pub async fn open(
    _name: String,
    _params: Params,
    _generic: crate::kms::record::Generic,
) -> Result<std::sync::Arc<dyn crate::crypto::KeyHandle>, crate::keys::managed::ManagedKeyError> {
    Err(crate::kms::record::not_built("awskms"))
}
