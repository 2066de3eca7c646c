//! Auto-unseal: the root key wrapped by an HSM (`seal "pkcs11"`) or AWS
//! KMS (`seal "awskms"`) instead of sealed under Shamir shares, as Vault's
//! seal stanzas do.
//!
//! A [`Wrapper`] encrypts and decrypts the 32-byte root key on the device;
//! `seal/mod.rs` stores what it gives (`auto-root-key`) beside the root key
//! sealed under the recovery key (`root-key`, as a Shamir seal stores it
//! under the unseal key). So the recovery shares open the root key as
//! unseal shares do, which is what migrating back to Shamir needs; while
//! the auto seal is configured they are refused as unseal keys.
//!
//! - `pkcs11`: an AES-256 key (by `key_label`, made when missing with
//!   `generate_key`) encrypts with CKM_AES_GCM, a random 12-byte IV and the
//!   root key's label as additional data; the blob is IV || ciphertext.
//! - `awskms`: `Encrypt`/`Decrypt` with a symmetric KMS key and the
//!   encryption context `coffer=root-key`.
//!
//! Device calls run off the runtime's workers (tokio's blocking pool for
//! PKCS#11, the KMS runtime for AWS), each under [`DEVICE_TIMEOUT`].

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::api::ApiError;
pub use crate::kms::record::Secret;

/// The longest one wrap or unwrap may take.
pub const DEVICE_TIMEOUT: Duration = Duration::from_secs(20);

/// What seals the root key (stored in the seal config; `shamir` before
/// auto-unseal existed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SealType {
    /// Shamir shares of an unseal key.
    #[default]
    Shamir,
    /// An HSM's AES key.
    Pkcs11,
    /// An AWS KMS key.
    Awskms,
}

impl SealType {
    /// Its name (`sys/seal-status`'s `type`).
    pub fn name(self) -> &'static str {
        match self {
            SealType::Shamir => "shamir",
            SealType::Pkcs11 => "pkcs11",
            SealType::Awskms => "awskms",
        }
    }
}

/// `seal "pkcs11"`'s settings (Vault's names).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pkcs11Seal {
    /// The PKCS#11 library (`lib`).
    pub lib: PathBuf,
    /// The slot, if given.
    pub slot: Option<u64>,
    /// The token's label, if given.
    pub token_label: Option<String>,
    /// The user PIN (never shown by `Debug`).
    pub pin: Secret,
    /// The AES key's label.
    pub key_label: String,
    /// Make the key when the token has none.
    pub generate_key: bool,
}

/// `seal "awskms"`'s settings (Vault's names).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsSeal {
    /// The region.
    pub region: String,
    /// Access key id; none: the environment's credential chain.
    pub access_key: Option<String>,
    /// Secret access key (never shown by `Debug`).
    pub secret_key: Option<Secret>,
    /// The symmetric key: id, ARN or alias.
    pub kms_key_id: String,
    /// A custom endpoint.
    pub endpoint: Option<String>,
}

/// A configured seal stanza.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealStanza {
    /// `disabled = "true"`: migrate away from this seal to Shamir.
    pub disabled: bool,
    /// The device.
    pub device: SealDevice,
}

/// The device of a seal stanza.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SealDevice {
    /// `seal "pkcs11"`.
    Pkcs11(Pkcs11Seal),
    /// `seal "awskms"`.
    Awskms(AwsSeal),
}

/// What a wrap or unwrap gives, when the device answers.
pub type WrapFuture<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>> + Send>>;

/// A device that encrypts and decrypts the root key.
pub trait Wrapper: Send + Sync {
    /// Which seal it is.
    fn seal_type(&self) -> SealType;
    /// Encrypts `root_key`.
    fn wrap(&self, root_key: Zeroizing<Vec<u8>>) -> WrapFuture<Vec<u8>>;
    /// Decrypts what [`Wrapper::wrap`] gave.
    fn unwrap(&self, blob: Vec<u8>) -> WrapFuture<Zeroizing<Vec<u8>>>;
}

/// The wrapper of `device`.
pub fn wrapper(device: &SealDevice) -> anyhow::Result<Arc<dyn Wrapper>> {
    match device {
        SealDevice::Pkcs11(settings) => Ok(Arc::new(pkcs11::HsmWrapper::new(settings.clone()))),
        SealDevice::Awskms(settings) => aws(settings),
    }
}

#[cfg(feature = "awskms")]
fn aws(settings: &AwsSeal) -> anyhow::Result<Arc<dyn Wrapper>> {
    Ok(Arc::new(crate::kms::awskms::AwsSealWrapper::new(
        settings.clone(),
    )))
}

#[cfg(not(feature = "awskms"))]
fn aws(_settings: &AwsSeal) -> anyhow::Result<Arc<dyn Wrapper>> {
    anyhow::bail!("seal \"awskms\": this server was built without the awskms feature")
}

/// Runs `work` under [`DEVICE_TIMEOUT`], a 503 past it.
pub async fn bounded<T>(work: impl Future<Output = Result<T, ApiError>>) -> Result<T, ApiError> {
    tokio::time::timeout(DEVICE_TIMEOUT, work)
        .await
        .unwrap_or_else(|_| {
            Err(ApiError::Unavailable(format!(
                "the seal's device did not answer within {} s",
                DEVICE_TIMEOUT.as_secs()
            )))
        })
}

mod pkcs11 {
    //! The `pkcs11` seal's wrapper.

    use cryptoki::mechanism::aead::GcmParams;
    use cryptoki::mechanism::Mechanism;
    use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
    use cryptoki::session::Session;
    use zeroize::Zeroizing;

    use super::{bounded, Pkcs11Seal, SealType, WrapFuture, Wrapper};
    use crate::api::ApiError;
    use crate::kms::pkcs11::{context_for, find_slot_by, log_in};

    /// The additional data of the root key's encryption.
    const AAD: &[u8] = b"coffer/root-key";
    const IV_LEN: usize = 12;

    pub struct HsmWrapper {
        settings: Pkcs11Seal,
    }

    impl HsmWrapper {
        pub fn new(settings: Pkcs11Seal) -> Self {
            HsmWrapper { settings }
        }
    }

    fn device(e: impl std::fmt::Display) -> ApiError {
        ApiError::Unavailable(format!("the seal's HSM: {e}"))
    }

    /// A logged-in session on the seal's token and its AES key.
    fn open(
        settings: &Pkcs11Seal,
        may_generate: bool,
    ) -> Result<(Session, ObjectHandle), ApiError> {
        let context = context_for(&settings.lib).map_err(|e| device(e.to_string()))?;
        let slot = find_slot_by(&context, settings.slot, settings.token_label.as_deref())
            .map_err(|e| device(e.to_string()))?;
        let session = context.open_rw_session(slot).map_err(device)?;
        log_in(&session, settings.pin.expose()).map_err(|e| device(e.to_string()))?;
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Label(settings.key_label.as_bytes().to_vec()),
        ];
        let found = session.find_objects(&template).map_err(device)?;
        if let Some(key) = found.first() {
            return Ok((session, *key));
        }
        if !(may_generate && settings.generate_key) {
            return Err(device(format!(
                "no AES key labelled {:?} (generate_key makes one at init)",
                settings.key_label
            )));
        }
        let key = session
            .generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::ValueLen(32.into()),
                    Attribute::Label(settings.key_label.as_bytes().to_vec()),
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                ],
            )
            .map_err(device)?;
        tracing::info!(label = %settings.key_label, "generated the seal's AES key in the HSM");
        Ok((session, key))
    }

    impl Wrapper for HsmWrapper {
        fn seal_type(&self) -> SealType {
            SealType::Pkcs11
        }

        fn wrap(&self, root_key: Zeroizing<Vec<u8>>) -> WrapFuture<Vec<u8>> {
            let settings = self.settings.clone();
            Box::pin(bounded(async move {
                tokio::task::spawn_blocking(move || {
                    let (session, key) = open(&settings, true)?;
                    let mut iv =
                        crate::crypto::random_bytes(IV_LEN as u32).map_err(ApiError::internal)?;
                    let params = GcmParams::new(&mut iv, AAD, 128.into()).map_err(device)?;
                    let sealed = session
                        .encrypt(&Mechanism::AesGcm(params), key, &root_key)
                        .map_err(device)?;
                    let mut blob = iv.clone();
                    blob.extend_from_slice(&sealed);
                    Ok(blob)
                })
                .await
                .map_err(device)?
            }))
        }

        fn unwrap(&self, blob: Vec<u8>) -> WrapFuture<Zeroizing<Vec<u8>>> {
            let settings = self.settings.clone();
            Box::pin(bounded(async move {
                tokio::task::spawn_blocking(move || {
                    let (session, key) = open(&settings, false)?;
                    let (iv, sealed) = blob
                        .split_at_checked(IV_LEN)
                        .ok_or_else(|| ApiError::internal("the stored auto-unseal root key is cut short"))?;
                    let mut iv = iv.to_vec();
                    let params = GcmParams::new(&mut iv, AAD, 128.into()).map_err(device)?;
                    session
                        .decrypt(&Mechanism::AesGcm(params), key, sealed)
                        .map(Zeroizing::new)
                        .map_err(|e| {
                            ApiError::Unavailable(format!(
                                "the seal's HSM cannot decrypt the root key (another key labelled {:?}?): {e}",
                                settings.key_label
                            ))
                        })
                })
                .await
                .map_err(device)?
            }))
        }
    }
}
