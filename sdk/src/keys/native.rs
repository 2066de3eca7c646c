//! Natively, keys are `coffer-crypto`'s software keys and blobs sealed
//! under the current test mount's key (see the parent module's doc).

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use coffer_crypto::{
    byok_unwrap, byok_wrap, Cipher, KeyHandle, KeyKind, KeySealer, Permission, Permissions,
    SoftwareKey,
};
use zeroize::Zeroizing;

use super::AeadItem;
use crate::crypto::{HashAlgorithm, PrivateKeyFormat, PublicKeyFormat, SignOptions};
use crate::Error;

/// A mount's sealing key, as a native test has it.
#[derive(Clone)]
pub(crate) struct MountKey(Rc<KeySealer>);

impl MountKey {
    /// A new random mount key.
    pub(crate) fn random() -> Result<Self, Error> {
        let bytes = coffer_crypto::random_bytes(32)?;
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&bytes);
        Ok(Self(Rc::new(KeySealer::new(&key))))
    }

    /// Runs `f` with this as the current mount's key.
    pub(crate) fn enter<T>(&self, f: impl FnOnce() -> T) -> T {
        let before = MOUNT.with(|m| m.replace(Some(self.clone())));
        let out = f();
        MOUNT.with(|m| m.replace(before));
        out
    }
}

impl std::fmt::Debug for MountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MountKey(..)")
    }
}

thread_local! {
    /// The current mount's key: a `TestEngine`'s during its calls, else
    /// this thread's own (made on first use).
    static MOUNT: RefCell<Option<MountKey>> = const { RefCell::new(None) };
}

fn sealer() -> Result<MountKey, Error> {
    if let Some(key) = MOUNT.with(|m| m.borrow().clone()) {
        return Ok(key);
    }
    let key = MountKey::random()?;
    MOUNT.with(|m| m.replace(Some(key.clone())));
    Ok(key)
}

/// A software key's operations return ready futures: polled once.
fn ready<T>(
    future: impl Future<Output = Result<T, coffer_crypto::CryptoError>>,
) -> Result<T, Error> {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(result) => Ok(result?),
        Poll::Pending => Err(Error::internal("a software key operation did not complete")),
    }
}

fn permissions(names: &[String]) -> Result<Permissions, Error> {
    Ok(Permissions::parse(names)?)
}

/// The host answers a key that lacks `permission` with
/// `permission-denied`, checked before anything else.
fn require(key: &SoftwareKey, permission: Permission) -> Result<(), Error> {
    if key.permissions().allows(permission) {
        Ok(())
    } else {
        Err(Error::PermissionDenied(format!(
            "the key lacks the `{permission}` permission"
        )))
    }
}

pub(crate) struct Key(Arc<SoftwareKey>);

pub(crate) struct PublicKey(coffer_crypto::PublicKey);

impl Key {
    pub(crate) fn generate(
        key_type: &str,
        size: Option<u32>,
        perms: &[String],
    ) -> Result<Self, Error> {
        let kind = KeyKind::parse(key_type, size)?;
        Ok(Self(SoftwareKey::generate(kind, permissions(perms)?)?))
    }

    pub(crate) fn open(blob: &[u8]) -> Result<Self, Error> {
        sealer()?
            .0
            .open(blob)
            .map(Self)
            .map_err(|e| Error::invalid(format!("the key blob does not open: {e}")))
    }

    pub(crate) fn import(key_type: &str, encoded: &[u8], perms: &[String]) -> Result<Self, Error> {
        let kind = KeyKind::of_import(key_type, encoded.len())?;
        Ok(Self(SoftwareKey::import(
            kind,
            encoded,
            permissions(perms)?,
        )?))
    }

    pub(crate) fn unwrap(
        wrapping: &Key,
        wrapped: &[u8],
        hash: HashAlgorithm,
        key_type: &str,
        perms: &[String],
    ) -> Result<Self, Error> {
        Ok(Self(byok_unwrap(
            &wrapping.0,
            wrapped,
            hash.into(),
            key_type,
            permissions(perms)?,
        )?))
    }

    pub(crate) fn managed(name_or_id: &str) -> Result<Self, Error> {
        Err(Error::PermissionDenied(format!(
            "managed key {name_or_id:?} is not allowed on this mount (native tests have no managed keys)"
        )))
    }

    pub(crate) fn seal(&self) -> Result<Vec<u8>, Error> {
        Ok(sealer()?.0.seal(&self.0)?)
    }

    pub(crate) fn key_type_name(&self) -> String {
        self.0.kind().name().to_owned()
    }

    pub(crate) fn bits(&self) -> u32 {
        self.0.kind().bits()
    }

    pub(crate) fn is_managed(&self) -> bool {
        false
    }

    pub(crate) fn permissions(&self) -> Vec<String> {
        self.0
            .permissions()
            .names()
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    pub(crate) fn permit(&self, permission: &str) -> Result<Self, Error> {
        Ok(Self(self.0.permit(Permission::from_name(permission)?)))
    }

    pub(crate) fn derive(&self, context: &[u8]) -> Result<Self, Error> {
        Ok(Self(self.0.derive(context)?))
    }

    pub(crate) fn public_key(&self) -> Result<PublicKey, Error> {
        self.0
            .public_key()
            .map(PublicKey)
            .ok_or_else(|| Error::invalid(format!("a {} key has no public key", self.0.kind())))
    }

    pub(crate) fn sign(&self, message: &[u8], options: SignOptions) -> Result<Vec<u8>, Error> {
        ready(Arc::clone(&self.0).sign(message.to_vec(), options.into()))
    }

    pub(crate) fn verify(
        &self,
        message: &[u8],
        signature: &[u8],
        options: SignOptions,
    ) -> Result<bool, Error> {
        ready(Arc::clone(&self.0).verify(message.to_vec(), signature.to_vec(), options.into()))
    }

    fn aead(nonce: &[u8], aad: &[u8]) -> Cipher {
        Cipher::Aead {
            nonce: nonce.to_vec(),
            aad: aad.to_vec(),
        }
    }

    pub(crate) fn encrypt(
        &self,
        plaintext: &[u8],
        nonce: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, Error> {
        ready(Arc::clone(&self.0).encrypt(plaintext.to_vec(), Self::aead(nonce, aad)))
    }

    pub(crate) fn decrypt(
        &self,
        ciphertext: &[u8],
        nonce: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, Error> {
        ready(Arc::clone(&self.0).decrypt(ciphertext.to_vec(), Self::aead(nonce, aad)))
    }

    fn items(items: &[AeadItem]) -> Vec<coffer_crypto::AeadItem> {
        items
            .iter()
            .map(|i| coffer_crypto::AeadItem {
                data: i.data.clone(),
                nonce: i.nonce.clone(),
                aad: i.aad.clone(),
            })
            .collect()
    }

    pub(crate) fn encrypt_batch(&self, items: &[AeadItem]) -> Vec<Result<Vec<u8>, Error>> {
        self.0
            .encrypt_batch(&Self::items(items))
            .into_iter()
            .map(|r| r.map_err(Error::from))
            .collect()
    }

    pub(crate) fn decrypt_batch(&self, items: &[AeadItem]) -> Vec<Result<Vec<u8>, Error>> {
        self.0
            .decrypt_batch(&Self::items(items))
            .into_iter()
            .map(|r| r.map_err(Error::from))
            .collect()
    }

    pub(crate) fn decrypt_oaep(
        &self,
        ciphertext: &[u8],
        hash: HashAlgorithm,
        label: Option<&[u8]>,
    ) -> Result<Vec<u8>, Error> {
        let cipher = Cipher::Oaep {
            hash: hash.into(),
            label: label.map(<[u8]>::to_vec),
        };
        ready(Arc::clone(&self.0).decrypt(ciphertext.to_vec(), cipher))
    }

    pub(crate) fn hmac(&self, algorithm: HashAlgorithm, data: &[u8]) -> Result<Vec<u8>, Error> {
        Ok(self.0.hmac(algorithm.into(), data)?)
    }

    pub(crate) fn export(&self, format: PrivateKeyFormat) -> Result<Vec<u8>, Error> {
        require(&self.0, Permission::Export)?;
        Ok(self.0.export(format.into())?)
    }

    pub(crate) fn backup(&self) -> Result<Vec<u8>, Error> {
        require(&self.0, Permission::PlaintextBackup)?;
        Ok(self.0.backup().map(|bytes| bytes.to_vec())?)
    }

    pub(crate) fn wrap_for(
        &self,
        destination: &PublicKey,
        hash: HashAlgorithm,
    ) -> Result<Vec<u8>, Error> {
        require(&self.0, Permission::Export)?;
        Ok(byok_wrap(&destination.0, &self.0, hash.into())?)
    }
}

impl PublicKey {
    pub(crate) fn import(key_type: &str, encoded: &[u8]) -> Result<Self, Error> {
        let key_type = coffer_crypto::KeyType::ALL
            .into_iter()
            .find(|t| t.name() == key_type)
            .ok_or_else(|| Error::invalid(format!("`{key_type}` keys have no public key")))?;
        Ok(Self(coffer_crypto::PublicKey::import(key_type, encoded)?))
    }

    pub(crate) fn key_type_name(&self) -> String {
        self.0.key_type().name().to_owned()
    }

    pub(crate) fn export(&self, format: PublicKeyFormat) -> Result<Vec<u8>, Error> {
        Ok(self.0.export(format.into())?)
    }

    pub(crate) fn verify(
        &self,
        message: &[u8],
        signature: &[u8],
        options: SignOptions,
    ) -> Result<bool, Error> {
        Ok(self.0.verify(message, signature, &options.into())?)
    }

    pub(crate) fn encrypt_oaep(
        &self,
        plaintext: &[u8],
        hash: HashAlgorithm,
        label: Option<&[u8]>,
    ) -> Result<Vec<u8>, Error> {
        Ok(self.0.encrypt_oaep(plaintext, hash.into(), label)?)
    }
}
