//! An opened PKCS#11 key: a [`KeyHandle`] whose private operations run in
//! the HSM, through a pool of at most `max_parallel` sessions, each on a
//! blocking thread (tokio's blocking pool: never a runtime worker).
//!
//! Sessions are opened as needed and kept; they share the token's login
//! (PKCS#11 logs in per application), which the pool's first session
//! holds for as long as the key is open. A session that fails is closed,
//! not returned. Verification and public-key operations use the public
//! half in this process, as a software key's do.

use std::fmt;
use std::sync::{Arc, Mutex};

use cryptoki::context::Pkcs11;
use cryptoki::error::{Error as P11Error, RvError};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::ObjectHandle;
use cryptoki::session::Session;
use cryptoki::slot::Slot;
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use super::params::Params;
use crate::crypto::{
    ecdsa_from_fixed, prepare_external, Cipher, Cost, CryptoError, ExternalSignature,
    HashAlgorithm, KeyFuture, KeyHandle, KeyKind, KeyType, Operation, PrivateKeyFormat, PublicKey,
    SignOptions,
};
use crate::kms::record::{Generic, Usage};

/// A key's sessions (see the module's doc).
pub struct Pool {
    context: Pkcs11,
    slot: Slot,
    read_write: bool,
    idle: Mutex<Vec<Session>>,
    permits: Arc<Semaphore>,
}

impl Pool {
    /// A pool of `params.max_parallel` sessions, starting with `first`.
    pub fn new(context: Pkcs11, slot: Slot, params: &Params, first: Session) -> Self {
        let max = usize::try_from(params.max_parallel).unwrap_or(1).max(1);
        Pool {
            context,
            slot,
            read_write: params.force_rw_session,
            idle: Mutex::new(vec![first]),
            permits: Arc::new(Semaphore::new(max)),
        }
    }

    /// Runs `work` on one of the pool's sessions on a blocking thread,
    /// once one of the `max_parallel` places is free.
    async fn with_session<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&Session) -> Result<T, P11Error> + Send + 'static,
    ) -> Result<T, CryptoError> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| CryptoError::unavailable("the managed key was closed"))?;
        let pool = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let session = pool.take()?;
            match work(&session) {
                Ok(value) => {
                    pool.give_back(session);
                    Ok(value)
                }
                // The device's answer to this input or this use of the
                // key (a 400): the session is fine.
                Err(
                    e @ P11Error::Pkcs11(
                        RvError::DataLenRange
                        | RvError::DataInvalid
                        | RvError::EncryptedDataInvalid
                        | RvError::EncryptedDataLenRange
                        | RvError::ArgumentsBad
                        | RvError::MechanismInvalid
                        | RvError::MechanismParamInvalid
                        | RvError::KeyFunctionNotPermitted
                        | RvError::KeyTypeInconsistent,
                        _,
                    ),
                ) => {
                    pool.give_back(session);
                    Err(CryptoError::new(format!(
                        "the HSM refused the operation: {e}"
                    )))
                }
                Err(e) => Err(CryptoError::unavailable(format!("the HSM failed: {e}"))),
            }
        })
        .await
        .map_err(|e| CryptoError::unavailable(format!("the HSM call did not finish: {e}")))?
    }

    fn take(&self) -> Result<Session, CryptoError> {
        if let Some(session) = self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            return Ok(session);
        }
        let opened = if self.read_write {
            self.context.open_rw_session(self.slot)
        } else {
            self.context.open_ro_session(self.slot)
        };
        opened
            .map_err(|e| CryptoError::unavailable(format!("cannot open a session on the HSM: {e}")))
    }

    fn give_back(&self, session: Session) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(session);
        }
    }
}

/// An opened PKCS#11 key (see the module's doc).
pub struct Pkcs11Key {
    name: String,
    pool: Arc<Pool>,
    private: ObjectHandle,
    key_type: KeyType,
    public: PublicKey,
    generic: Generic,
}

impl fmt::Debug for Pkcs11Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Key")
            .field("name", &self.name)
            .field("key_type", &self.key_type)
            .finish_non_exhaustive()
    }
}

impl Pkcs11Key {
    /// The key `private` of `pool`'s token.
    pub fn new(
        name: &str,
        pool: Pool,
        private: ObjectHandle,
        key_type: KeyType,
        public: PublicKey,
        generic: Generic,
    ) -> Self {
        Pkcs11Key {
            name: name.to_string(),
            pool: Arc::new(pool),
            private,
            key_type,
            public,
            generic,
        }
    }

    fn require(&self, usage: Usage) -> Result<(), CryptoError> {
        if self.generic.allows(usage) {
            Ok(())
        } else {
            Err(CryptoError::new(format!(
                "managed key {:?} does not allow {:?}: its usages are {}",
                self.name,
                usage.name(),
                self.generic
                    .usages
                    .iter()
                    .map(|u| u.name())
                    .collect::<Vec<_>>()
                    .join(",")
            )))
        }
    }
}

/// The PKCS#11 hash mechanism and MGF1 of `hash`, for PSS and OAEP.
fn pkcs11_hash(hash: HashAlgorithm) -> Result<(MechanismType, PkcsMgfType), CryptoError> {
    Ok(match hash {
        HashAlgorithm::Sha1 => (MechanismType::SHA1, PkcsMgfType::MGF1_SHA1),
        HashAlgorithm::Sha224 => (MechanismType::SHA224, PkcsMgfType::MGF1_SHA224),
        HashAlgorithm::Sha256 => (MechanismType::SHA256, PkcsMgfType::MGF1_SHA256),
        HashAlgorithm::Sha384 => (MechanismType::SHA384, PkcsMgfType::MGF1_SHA384),
        HashAlgorithm::Sha512 => (MechanismType::SHA512, PkcsMgfType::MGF1_SHA512),
        other => {
            return Err(CryptoError::new(format!(
                "{other} is not supported with a PKCS#11 key's RSA padding: use sha1 or a SHA-2 hash other than sha2-512/256"
            )))
        }
    })
}

impl KeyHandle for Pkcs11Key {
    fn kind(&self) -> KeyKind {
        KeyKind::Asymmetric(self.key_type)
    }

    fn cost(&self, _operation: Operation, _input_len: usize) -> Cost {
        Cost::Remote
    }

    fn public_key(&self) -> Option<PublicKey> {
        Some(self.public.clone())
    }

    fn sign(self: Arc<Self>, message: Vec<u8>, options: SignOptions) -> KeyFuture<Vec<u8>> {
        Box::pin(async move {
            self.require(Usage::Sign)?;
            let key_type = self.key_type;
            let prepared = prepare_external(key_type, &message, &options)?;
            let private = self.private;
            let ecdsa = matches!(prepared, ExternalSignature::Ecdsa { .. });
            let (mechanism_hash, data) = match prepared {
                ExternalSignature::RsaPkcs1 { encoded, .. } => (None, encoded),
                ExternalSignature::RsaPss {
                    hash,
                    digest,
                    salt_len,
                } => (Some((pkcs11_hash(hash)?, salt_len)), digest),
                ExternalSignature::Ecdsa { digest, .. } => (None, digest),
            };
            let signature = self
                .pool
                .with_session(move |session| {
                    let mechanism = match mechanism_hash {
                        Some(((hash_alg, mgf), salt_len)) => Mechanism::RsaPkcsPss(PkcsPssParams {
                            hash_alg,
                            mgf,
                            s_len: u64::try_from(salt_len).unwrap_or(0).into(),
                        }),
                        None if ecdsa => Mechanism::Ecdsa,
                        None => Mechanism::RsaPkcs,
                    };
                    session.sign(&mechanism, private, &data)
                })
                .await?;
            if ecdsa {
                ecdsa_from_fixed(key_type, &signature, options.encoding)
            } else {
                Ok(signature)
            }
        })
    }

    fn encrypt(self: Arc<Self>, plaintext: Vec<u8>, cipher: Cipher) -> KeyFuture<Vec<u8>> {
        Box::pin(async move {
            self.require(Usage::Encrypt)?;
            match cipher {
                Cipher::Oaep { hash, label } => {
                    self.public.encrypt_oaep(&plaintext, hash, label.as_deref())
                }
                Cipher::Aead { .. } => Err(CryptoError::new(
                    "an RSA or EC managed key does not do AEAD encryption",
                )),
            }
        })
    }

    fn decrypt(self: Arc<Self>, ciphertext: Vec<u8>, cipher: Cipher) -> KeyFuture<Vec<u8>> {
        Box::pin(async move {
            self.require(Usage::Decrypt)?;
            let Cipher::Oaep { hash, label } = cipher else {
                return Err(CryptoError::new(
                    "an RSA or EC managed key does not do AEAD decryption",
                ));
            };
            self.decrypt_oaep(ciphertext, hash, label).await
        })
    }

    fn wrap(self: Arc<Self>, key: Zeroizing<Vec<u8>>) -> KeyFuture<Vec<u8>> {
        Box::pin(async move {
            self.require(Usage::Wrap)?;
            self.public.encrypt_oaep(&key, HashAlgorithm::Sha256, None)
        })
    }

    fn unwrap_key(self: Arc<Self>, wrapped: Vec<u8>) -> KeyFuture<Zeroizing<Vec<u8>>> {
        Box::pin(async move {
            self.require(Usage::Unwrap)?;
            self.decrypt_oaep(wrapped, HashAlgorithm::Sha256, None)
                .await
                .map(Zeroizing::new)
        })
    }

    fn export(&self, _format: PrivateKeyFormat) -> Result<Vec<u8>, CryptoError> {
        Err(CryptoError::new("a managed key is never exported"))
    }
}

impl Pkcs11Key {
    /// RSA-OAEP decryption in the HSM (usage checked by the caller).
    async fn decrypt_oaep(
        &self,
        ciphertext: Vec<u8>,
        hash: HashAlgorithm,
        label: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, CryptoError> {
        if self.key_type.rsa_bits().is_none() {
            return Err(CryptoError::new(format!(
                "RSA-OAEP needs an RSA key, not {}",
                self.key_type
            )));
        }
        let (hash_alg, mgf) = pkcs11_hash(hash)?;
        let private = self.private;
        self.pool
            .with_session(move |session| {
                let source = match &label {
                    Some(label) => PkcsOaepSource::data_specified(label),
                    None => PkcsOaepSource::empty(),
                };
                let mechanism = Mechanism::RsaPkcsOaep(PkcsOaepParams::new(hash_alg, mgf, source));
                session.decrypt(&mechanism, private, &ciphertext)
            })
            .await
    }
}
