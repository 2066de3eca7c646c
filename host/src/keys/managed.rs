//! The seam managed keys come through: keys held by an HSM (PKCS#11) or a
//! cloud KMS, which an engine opens by name or id (`keys.wit`'s
//! `key.managed`) and uses through a handle, never seeing their bytes.
//!
//! A backend implements [`ManagedKeys`]: it finds a key's record and opens
//! it. Everything the contract promises about managed keys is kept here,
//! once, by [`open_for_mount`], not by each backend:
//! - a mount gets a key only if its `allowed_managed_keys` names it (by
//!   name or id) or the key allows any mount; otherwise 403, and a mount
//!   learns nothing of keys it may not use (an unknown name it is not
//!   allowed is the same 403);
//! - the handle is never exportable, whatever the backend says
//!   ([`ManagedHandle`]);
//! - a backend that cannot be reached is 503 `unavailable`.
//!
//! The server's backend is `kms::ManagedKeyStore` (the keys of
//! `sys/managed-keys`); the unit tests below use one in memory.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::api::ApiError;
use crate::crypto::{
    Cipher, Cost, CryptoError, KeyFuture, KeyHandle, KeyKind, Operation, PrivateKeyFormat,
    PublicKey, SignOptions,
};

/// What [`ManagedKeys::open`] gives, when the backend answers.
pub type ManagedFuture =
    Pin<Box<dyn Future<Output = Result<Arc<dyn KeyHandle>, ManagedKeyError>> + Send>>;

/// A managed key's record: what the access rule needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagedKeyInfo {
    /// Its name (`sys/managed-keys/<type>/<name>`).
    pub name: String,
    /// Its id (a uuid).
    pub id: String,
    /// Whether every mount may use it (Vault's `any_mount`).
    pub any_mount: bool,
}

/// The mount asking for a managed key.
#[derive(Clone, Copy, Debug)]
pub struct MountGrant<'a> {
    /// The mount's `allowed_managed_keys`: names or ids.
    pub allowed: &'a [String],
}

/// Why a managed key cannot be had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManagedKeyError {
    /// No such key (said only to a mount allowed to know): 400.
    NotFound(String),
    /// The key's configuration cannot work (a wrong PIN, no such slot or
    /// library, a key that does not fit its mechanism): 400.
    Invalid(String),
    /// The mount may not use the key: 403 (the WIT `permission-denied`).
    NotAllowed(String),
    /// The backend cannot be reached: 503 (the WIT `unavailable`).
    Unavailable(String),
}

/// A managed-key backend (see the module's doc).
pub trait ManagedKeys: Send + Sync {
    /// The record of the key whose name or id is `name_or_id`, or
    /// [`ManagedKeyError::NotFound`]. Reads only the backend's
    /// configuration: nothing is opened.
    fn find(&self, name_or_id: &str) -> Result<ManagedKeyInfo, ManagedKeyError>;

    /// Opens the key `info` describes: may wait on a device or the network.
    fn open(&self, info: &ManagedKeyInfo) -> ManagedFuture;
}

/// The key `name_or_id` of `backend` for `mount`, as an unexportable
/// handle, if the mount may use it (see the module's doc).
pub async fn open_for_mount(
    backend: &dyn ManagedKeys,
    mount: MountGrant<'_>,
    name_or_id: &str,
) -> Result<Arc<dyn KeyHandle>, ManagedKeyError> {
    let names = |name: &str| mount.allowed.iter().any(|a| a == name);
    let not_allowed = || {
        ManagedKeyError::NotAllowed(format!(
            "this mount may not use managed key {name_or_id:?}: its allowed_managed_keys does not name it"
        ))
    };
    let info = match backend.find(name_or_id) {
        Ok(info) => info,
        Err(ManagedKeyError::NotFound(_)) if !names(name_or_id) => return Err(not_allowed()),
        Err(e) => return Err(e),
    };
    if !(info.any_mount || names(&info.name) || names(&info.id)) {
        return Err(not_allowed());
    }
    let handle = backend.open(&info).await?;
    Ok(Arc::new(ManagedHandle(handle)))
}

/// A backend's failure during a key operation: unreachable stays
/// `unavailable` (503); anything else is the request's mistake.
impl From<ManagedKeyError> for CryptoError {
    fn from(e: ManagedKeyError) -> Self {
        match e {
            ManagedKeyError::Unavailable(m) => CryptoError::unavailable(m),
            other => CryptoError::new(other.to_string()),
        }
    }
}

impl From<ManagedKeyError> for ApiError {
    fn from(e: ManagedKeyError) -> Self {
        match e {
            ManagedKeyError::NotFound(m) | ManagedKeyError::Invalid(m) => ApiError::BadRequest(m),
            ManagedKeyError::NotAllowed(m) => ApiError::Forbidden(m),
            ManagedKeyError::Unavailable(m) => ApiError::BackendUnavailable(m),
        }
    }
}

impl fmt::Display for ManagedKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound(m) | Self::Invalid(m) | Self::NotAllowed(m) | Self::Unavailable(m) => {
                f.write_str(m)
            }
        }
    }
}

impl std::error::Error for ManagedKeyError {}

/// A backend's handle with export refused: every other operation is the
/// backend's.
pub struct ManagedHandle(Arc<dyn KeyHandle>);

impl fmt::Debug for ManagedHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ManagedHandle").field(&self.0).finish()
    }
}

impl KeyHandle for ManagedHandle {
    fn kind(&self) -> KeyKind {
        self.0.kind()
    }

    fn cost(&self, operation: Operation, input_len: usize) -> Cost {
        self.0.cost(operation, input_len)
    }

    fn public_key(&self) -> Option<PublicKey> {
        self.0.public_key()
    }

    fn sign(self: Arc<Self>, message: Vec<u8>, options: SignOptions) -> KeyFuture<Vec<u8>> {
        Arc::clone(&self.0).sign(message, options)
    }

    fn verify(
        self: Arc<Self>,
        message: Vec<u8>,
        signature: Vec<u8>,
        options: SignOptions,
    ) -> KeyFuture<bool> {
        Arc::clone(&self.0).verify(message, signature, options)
    }

    fn encrypt(self: Arc<Self>, plaintext: Vec<u8>, cipher: Cipher) -> KeyFuture<Vec<u8>> {
        Arc::clone(&self.0).encrypt(plaintext, cipher)
    }

    fn decrypt(self: Arc<Self>, ciphertext: Vec<u8>, cipher: Cipher) -> KeyFuture<Vec<u8>> {
        Arc::clone(&self.0).decrypt(ciphertext, cipher)
    }

    fn wrap(self: Arc<Self>, key: Zeroizing<Vec<u8>>) -> KeyFuture<Vec<u8>> {
        Arc::clone(&self.0).wrap(key)
    }

    fn unwrap_key(self: Arc<Self>, wrapped: Vec<u8>) -> KeyFuture<Zeroizing<Vec<u8>>> {
        Arc::clone(&self.0).unwrap_key(wrapped)
    }

    fn export(&self, _format: PrivateKeyFormat) -> Result<Vec<u8>, CryptoError> {
        Err(CryptoError::new("a managed key is never exported"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use std::collections::HashMap;
    use std::future::ready;
    use std::sync::atomic::{AtomicBool, Ordering};

    use p256::ecdsa::signature::Verifier;

    use super::*;
    use crate::crypto::{KeyType, Permission, PublicKeyFormat, SoftwareKey};

    /// A backend in memory, which can be "down".
    #[derive(Default)]
    struct TestKms {
        keys: HashMap<String, (ManagedKeyInfo, Arc<SoftwareKey>)>,
        down: AtomicBool,
    }

    impl TestKms {
        fn with(mut self, name: &str, id: &str, any_mount: bool) -> Self {
            // Exportable underneath: the seam must refuse all the same.
            let key = SoftwareKey::generate(
                KeyKind::Asymmetric(KeyType::EcdsaP256),
                Permission::Export.into(),
            )
            .unwrap();
            let info = ManagedKeyInfo {
                name: name.into(),
                id: id.into(),
                any_mount,
            };
            self.keys.insert(name.into(), (info, key));
            self
        }
    }

    impl ManagedKeys for TestKms {
        fn find(&self, name_or_id: &str) -> Result<ManagedKeyInfo, ManagedKeyError> {
            self.keys
                .values()
                .find(|(info, _)| info.name == name_or_id || info.id == name_or_id)
                .map(|(info, _)| info.clone())
                .ok_or_else(|| ManagedKeyError::NotFound(format!("no managed key {name_or_id:?}")))
        }

        fn open(&self, info: &ManagedKeyInfo) -> ManagedFuture {
            let answer = if self.down.load(Ordering::SeqCst) {
                Err(ManagedKeyError::Unavailable("the test KMS is down".into()))
            } else {
                self.keys
                    .get(&info.name)
                    .map(|(_, key)| Arc::clone(key) as Arc<dyn KeyHandle>)
                    .ok_or_else(|| ManagedKeyError::NotFound(info.name.clone()))
            };
            Box::pin(ready(answer))
        }
    }

    fn kms() -> TestKms {
        TestKms::default()
            .with("signer", "11111111-aaaa", false)
            .with("shared", "22222222-bbbb", true)
    }

    fn allowed(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[tokio::test]
    async fn an_allowed_mount_signs_and_nobody_exports() {
        let kms = kms();
        for (list, asked) in [
            (allowed(&["signer"]), "signer"),
            (allowed(&["signer"]), "11111111-aaaa"),
            (allowed(&["11111111-aaaa"]), "signer"),
            (allowed(&[]), "shared"),
            (allowed(&[]), "22222222-bbbb"),
        ] {
            let key = open_for_mount(&kms, MountGrant { allowed: &list }, asked)
                .await
                .unwrap();
            let signature = Arc::clone(&key)
                .sign(b"managed".to_vec(), SignOptions::default())
                .await
                .unwrap();
            // Checked with RustCrypto's p256 directly.
            let spki = key
                .public_key()
                .unwrap()
                .export(PublicKeyFormat::SpkiDer)
                .unwrap();
            let verifying =
                <p256::ecdsa::VerifyingKey as p256::pkcs8::DecodePublicKey>::from_public_key_der(
                    &spki,
                )
                .unwrap();
            let signature = p256::ecdsa::Signature::from_der(&signature).unwrap();
            assert!(verifying.verify(b"managed", &signature).is_ok(), "{asked}");
            assert_eq!(
                key.export(PrivateKeyFormat::Pkcs8Der)
                    .unwrap_err()
                    .to_string(),
                "a managed key is never exported"
            );
        }
    }

    #[tokio::test]
    async fn a_mount_not_allowed_gets_403_and_learns_nothing() {
        let kms = kms();
        let others = allowed(&["shared", "someone-else"]);
        for asked in ["signer", "11111111-aaaa", "no-such-key"] {
            let err = open_for_mount(&kms, MountGrant { allowed: &others }, asked)
                .await
                .unwrap_err();
            assert!(matches!(err, ManagedKeyError::NotAllowed(_)), "{asked}");
            assert_eq!(ApiError::from(err).status(), 403);
        }
        // An unknown key the mount names is a 400 that says so.
        let err = open_for_mount(&kms, MountGrant { allowed: &others }, "someone-else")
            .await
            .unwrap_err();
        assert_eq!(
            ApiError::from(err),
            ApiError::BadRequest("no managed key \"someone-else\"".into())
        );
    }

    #[tokio::test]
    async fn a_backend_that_is_down_is_503() {
        let kms = kms();
        kms.down.store(true, Ordering::SeqCst);
        let list = allowed(&["signer"]);
        let err = open_for_mount(&kms, MountGrant { allowed: &list }, "signer")
            .await
            .unwrap_err();
        let err = ApiError::from(err);
        assert_eq!(err.status(), 503);
        assert_eq!(err.messages(), ["the test KMS is down"]);
        // Not allowed stays 403 even while the backend is down.
        let err = open_for_mount(&kms, MountGrant { allowed: &[] }, "signer")
            .await
            .unwrap_err();
        assert_eq!(ApiError::from(err).status(), 403);
    }
}
