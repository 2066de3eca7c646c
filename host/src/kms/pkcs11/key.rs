//! An opened PKCS#11 key's private operations ([`Pkcs11Device`]), run in
//! the HSM through a pool of at most `max_parallel` sessions, each on a
//! blocking thread (tokio's blocking pool: never a runtime worker).
//!
//! Sessions are opened as needed and kept; they share the token's login
//! (PKCS#11 logs in per application), which a session of its own, never
//! used for an operation, holds for as long as the key is open. A session
//! that fails is closed, not returned. `kms::device::DeviceKey` does the rest (usages, public-key
//! operations in process, no export).

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

use super::params::Params;
use crate::crypto::{
    ecdsa_from_fixed, CryptoError, ExternalSignature, HashAlgorithm, KeyFuture, KeyType,
    SignOptions,
};
use crate::kms::device::Device;

/// A key's sessions (see the module's doc).
pub struct Pool {
    context: Pkcs11,
    slot: Slot,
    read_write: bool,
    /// Holds the token's login (see [`Pool::new`]).
    _login: Mutex<Session>,
    idle: Mutex<Vec<Session>>,
    permits: Arc<Semaphore>,
}

impl Pool {
    /// A pool of `params.max_parallel` sessions; `login` is the session
    /// that logged the token in, kept (and never used for an operation) for
    /// as long as the key is open, so a failing session dropped from the
    /// pool can never be the last one and log the token out.
    pub fn new(context: Pkcs11, slot: Slot, params: &Params, login: Session) -> Self {
        let max = usize::try_from(params.max_parallel).unwrap_or(1).max(1);
        Pool {
            context,
            slot,
            read_write: params.force_rw_session,
            _login: Mutex::new(login),
            idle: Mutex::new(Vec::new()),
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

/// A PKCS#11 key's private operations: its private key object on the
/// pool's token (see the module's doc); `kms::device::DeviceKey` makes it a
/// key handle.
pub struct Pkcs11Device {
    pool: Arc<Pool>,
    private: ObjectHandle,
    key_type: KeyType,
}

impl fmt::Debug for Pkcs11Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Device")
            .field("key_type", &self.key_type)
            .finish_non_exhaustive()
    }
}

impl Pkcs11Device {
    /// The key `private`, of `key_type`, on `pool`'s token.
    pub fn new(pool: Pool, private: ObjectHandle, key_type: KeyType) -> Self {
        Pkcs11Device {
            pool: Arc::new(pool),
            private,
            key_type,
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

impl Device for Pkcs11Device {
    fn sign(
        self: Arc<Self>,
        prepared: ExternalSignature,
        options: SignOptions,
    ) -> KeyFuture<Vec<u8>> {
        Box::pin(async move {
            let key_type = self.key_type;
            let private = self.private;
            let ecdsa = matches!(prepared, ExternalSignature::Ecdsa { .. });
            let (pss, data) = match prepared {
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
                    let mechanism = match pss {
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

    fn decrypt_oaep(
        self: Arc<Self>,
        ciphertext: Vec<u8>,
        hash: HashAlgorithm,
        label: Option<Vec<u8>>,
    ) -> KeyFuture<Vec<u8>> {
        Box::pin(async move {
            let (hash_alg, mgf) = pkcs11_hash(hash)?;
            let private = self.private;
            self.pool
                .with_session(move |session| {
                    let source = match &label {
                        Some(label) => PkcsOaepSource::data_specified(label),
                        None => PkcsOaepSource::empty(),
                    };
                    let mechanism =
                        Mechanism::RsaPkcsOaep(PkcsOaepParams::new(hash_alg, mgf, source));
                    session.decrypt(&mechanism, private, &ciphertext)
                })
                .await
        })
    }
}
