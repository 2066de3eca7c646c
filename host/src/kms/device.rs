//! What every backend's opened key shares: [`DeviceKey`], a [`KeyHandle`]
//! over a [`Device`] that does the private operations (in an HSM or a KMS)
//! while this module keeps, once for every backend, the key's `usages`,
//! the preparation of what is signed (`coffer-crypto`'s
//! `prepare_external`), the public-key operations (in process, with the
//! key's public half) and the refusal to export.

use std::fmt;
use std::sync::Arc;

use zeroize::Zeroizing;

use super::record::{Generic, Usage};
use crate::crypto::{
    prepare_external, Cipher, Cost, CryptoError, ExternalSignature, HashAlgorithm, KeyFuture,
    KeyHandle, KeyKind, KeyType, Operation, PrivateKeyFormat, PublicKey, SignOptions,
};

/// The padding of a signature a cloud KMS makes over a digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// ECDSA.
    Ecdsa,
    /// RSASSA-PKCS1-v1_5.
    Pkcs1,
    /// RSASSA-PSS, its salt as long as the hash.
    Pss,
}

/// What a cloud KMS is sent to sign: the digest, its hash and the padding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigestSignature {
    /// The padding.
    pub scheme: Scheme,
    /// The hash that made `digest`.
    pub hash: HashAlgorithm,
    /// The message's digest.
    pub digest: Vec<u8>,
}

impl DigestSignature {
    /// The cloud form of `prepared` for `backend` (named in refusals):
    /// cloud KMSs take a digest and name its hash, and salt PSS with the
    /// hash's length, so a PKCS#1 v1.5 signature without a hash, or
    /// another salt length asked for (`options.salt_length`), is refused.
    pub fn of(
        prepared: ExternalSignature,
        options: &SignOptions,
        backend: &str,
    ) -> Result<Self, CryptoError> {
        let refuse = |what: String| CryptoError::new(format!("{backend} cannot sign {what}"));
        Ok(match prepared {
            ExternalSignature::Ecdsa { hash, digest } => DigestSignature {
                scheme: Scheme::Ecdsa,
                hash,
                digest,
            },
            ExternalSignature::RsaPkcs1 {
                hash: Some(hash),
                mut encoded,
            } => {
                // The DigestInfo ends with the digest.
                let digest = encoded.split_off(encoded.len().saturating_sub(hash.output_len()));
                DigestSignature {
                    scheme: Scheme::Pkcs1,
                    hash,
                    digest,
                }
            }
            ExternalSignature::RsaPkcs1 { hash: None, .. } => {
                return Err(refuse("PKCS#1 v1.5 without a hash".into()))
            }
            ExternalSignature::RsaPss {
                hash,
                digest,
                salt_len,
            } => {
                if options.salt_length.is_some() && salt_len != hash.output_len() {
                    return Err(refuse(format!(
                        "PSS with a {salt_len}-byte salt: its salt is as long as the hash"
                    )));
                }
                DigestSignature {
                    scheme: Scheme::Pss,
                    hash,
                    digest,
                }
            }
        })
    }
}

/// A backend's private operations on one key.
pub trait Device: Send + Sync + fmt::Debug + 'static {
    /// Signs `prepared` (what `prepare_external` made of the caller's input
    /// and `options`), answering in `options`' encoding.
    fn sign(
        self: Arc<Self>,
        prepared: ExternalSignature,
        options: SignOptions,
    ) -> KeyFuture<Vec<u8>>;

    /// RSA-OAEP decryption with `hash` (OAEP and MGF1); by default the
    /// device only signs.
    fn decrypt_oaep(
        self: Arc<Self>,
        _ciphertext: Vec<u8>,
        _hash: HashAlgorithm,
        _label: Option<Vec<u8>>,
    ) -> KeyFuture<Vec<u8>> {
        Box::pin(async { Err(CryptoError::new("this managed key's backend only signs")) })
    }
}

/// An opened managed key (see the module's doc).
pub struct DeviceKey<D> {
    name: String,
    key_type: KeyType,
    public: PublicKey,
    generic: Generic,
    device: Arc<D>,
}

impl<D> fmt::Debug for DeviceKey<D>
where
    D: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceKey")
            .field("name", &self.name)
            .field("key_type", &self.key_type)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

impl<D: Device> DeviceKey<D> {
    /// The managed key `name`, of `public`'s type, on `device`.
    pub fn new(name: &str, public: PublicKey, generic: Generic, device: D) -> Self {
        DeviceKey {
            name: name.to_string(),
            key_type: public.key_type(),
            public,
            generic,
            device: Arc::new(device),
        }
    }

    fn require(&self, usage: Usage) -> Result<(), CryptoError> {
        if self.generic.allows(usage) {
            return Ok(());
        }
        let usages: Vec<&str> = self.generic.usages.iter().map(|u| u.name()).collect();
        Err(CryptoError::new(format!(
            "managed key {:?} does not allow {:?}: its usages are {}",
            self.name,
            usage.name(),
            usages.join(",")
        )))
    }
}

impl<D: Device> KeyHandle for DeviceKey<D> {
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
        let prepared = self
            .require(Usage::Sign)
            .and_then(|()| prepare_external(self.key_type, &message, &options));
        match prepared {
            Ok(prepared) => Arc::clone(&self.device).sign(prepared, options),
            Err(e) => Box::pin(async { Err(e) }),
        }
    }

    fn encrypt(self: Arc<Self>, plaintext: Vec<u8>, cipher: Cipher) -> KeyFuture<Vec<u8>> {
        let done = self.require(Usage::Encrypt).and_then(|()| match cipher {
            Cipher::Oaep { hash, label } => {
                self.public.encrypt_oaep(&plaintext, hash, label.as_deref())
            }
            Cipher::Aead { .. } => Err(CryptoError::new(
                "an RSA or EC managed key does not do AEAD encryption",
            )),
        });
        Box::pin(async { done })
    }

    fn decrypt(self: Arc<Self>, ciphertext: Vec<u8>, cipher: Cipher) -> KeyFuture<Vec<u8>> {
        let checked = self.require(Usage::Decrypt).and_then(|()| match cipher {
            Cipher::Oaep { hash, label } if self.key_type.rsa_bits().is_some() => Ok((hash, label)),
            Cipher::Oaep { .. } => Err(CryptoError::new(format!(
                "RSA-OAEP needs an RSA key, not {}",
                self.key_type
            ))),
            Cipher::Aead { .. } => Err(CryptoError::new(
                "an RSA or EC managed key does not do AEAD decryption",
            )),
        });
        match checked {
            Ok((hash, label)) => Arc::clone(&self.device).decrypt_oaep(ciphertext, hash, label),
            Err(e) => Box::pin(async { Err(e) }),
        }
    }

    fn wrap(self: Arc<Self>, key: Zeroizing<Vec<u8>>) -> KeyFuture<Vec<u8>> {
        let done = self
            .require(Usage::Wrap)
            .and_then(|()| self.public.encrypt_oaep(&key, HashAlgorithm::Sha256, None));
        Box::pin(async { done })
    }

    fn unwrap_key(self: Arc<Self>, wrapped: Vec<u8>) -> KeyFuture<Zeroizing<Vec<u8>>> {
        if let Err(e) = self.require(Usage::Unwrap) {
            return Box::pin(async { Err(e) });
        }
        let decrypting =
            Arc::clone(&self.device).decrypt_oaep(wrapped, HashAlgorithm::Sha256, None);
        Box::pin(async { decrypting.await.map(Zeroizing::new) })
    }

    fn export(&self, _format: PrivateKeyFormat) -> Result<Vec<u8>, CryptoError> {
        Err(CryptoError::new("a managed key is never exported"))
    }
}
