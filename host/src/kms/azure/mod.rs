//! The `azurekeyvault` backend: RSA keys in Azure Key Vault (or a Managed
//! HSM), through the Azure SDK for Rust (`azure_security_keyvault_keys`,
//! `azure_identity`'s client-secret credential), behind coffer-host's
//! `azurekeyvault` feature (release builds and the test build turn it on).
//!
//! Opening a key reads it (`GET /keys/<name>`) — its public half and the
//! version it is pinned to — or, with `allow_generate_key`, makes an
//! `RSA-HSM` key of `key_bits` when the vault has none. Signing sends the
//! digest (`RS256`... for PKCS#1 v1.5, `PS256`... for PSS, whose salt is
//! the hash's length). Calls run on the KMS runtime (`kms::remote`), each
//! under the open deadline or the engine call's.

pub mod params;

pub use self::params::{Params, FIELDS};

#[cfg(feature = "azurekeyvault")]
mod client;

#[cfg(feature = "azurekeyvault")]
pub use self::client::open;

/// Without the feature: every key is refused, naming the feature.
#[cfg(not(feature = "azurekeyvault"))]
pub async fn open(
    _name: String,
    _params: Params,
    _generic: crate::kms::record::Generic,
) -> Result<std::sync::Arc<dyn crate::crypto::KeyHandle>, crate::keys::managed::ManagedKeyError> {
    Err(crate::kms::record::not_built("azurekeyvault"))
}
