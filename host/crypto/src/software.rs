//! Keys held in this process: [`SoftwareKey`], the [`KeyHandle`] every
//! key an engine makes or imports is.
//!
//! Besides the trait's operations, a software key answers what only a key
//! whose bytes the host holds can: its [`Permissions`] and their widening
//! ([`SoftwareKey::permit`]), derivation ([`SoftwareKey::derive`]), HMAC,
//! AEAD over a batch with one key schedule, and a plaintext backup. Its
//! bytes leave only through [`KeyHandle::export`] (with `export`),
//! [`SoftwareKey::backup`] (with `plaintext-backup`) and, sealed, through
//! `KeySealer::seal` (`sealed.rs`), which is the one reader of
//! [`SoftwareKey::encoded`].
//!
//! Secret bytes live in [`Zeroizing`] buffers, wiped when dropped.

use std::fmt;
use std::future::ready;
use std::sync::Arc;

use p256::elliptic_curve::zeroize::Zeroizing;

use super::aead::AeadKey;
use super::hash::{fill_random, hkdf, hmac};
use super::{
    aes_key_unwrap_pad, aes_key_wrap_pad, cost_of, AeadAlgorithm, Cipher, Cost, CryptoError,
    HashAlgorithm, KeyFuture, KeyHandle, KeyKind, KeyType, Operation, Permission, Permissions,
    PrivateKey, PrivateKeyFormat, PublicKey, PublicKeyFormat, SignOptions, HEAVY_INPUT_BYTES,
};

/// The length of the nonce key a derived AEAD key carries (see
/// [`SoftwareKey::derive`]).
const NONCE_KEY_LEN: usize = 32;

/// A key held in this process.
pub struct SoftwareKey {
    material: Material,
    permissions: Permissions,
}

#[derive(Clone)]
enum Material {
    Pair(PrivateKey),
    Aead {
        algorithm: AeadAlgorithm,
        key: Zeroizing<Vec<u8>>,
        /// A derived key's HMAC key for convergent nonces (the 32 bytes
        /// HKDF gives after the AEAD key's); none for a key not derived.
        nonce_key: Option<Zeroizing<Vec<u8>>>,
    },
    Hmac(Zeroizing<Vec<u8>>),
}

/// One item of [`SoftwareKey::encrypt_batch`] and
/// [`SoftwareKey::decrypt_batch`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AeadItem {
    /// The plaintext (encrypt) or ciphertext-and-tag (decrypt).
    pub data: Vec<u8>,
    /// The 12-byte nonce.
    pub nonce: Vec<u8>,
    /// Associated data.
    pub aad: Vec<u8>,
}

impl SoftwareKey {
    /// A handle on a key pair.
    pub fn pair(key: PrivateKey, permissions: Permissions) -> Arc<Self> {
        Arc::new(SoftwareKey {
            material: Material::Pair(key),
            permissions,
        })
    }

    /// A handle on a secret key for `algorithm`; an error if `key` has
    /// the wrong length.
    pub fn secret(
        algorithm: AeadAlgorithm,
        key: Zeroizing<Vec<u8>>,
        permissions: Permissions,
    ) -> Result<Arc<Self>, CryptoError> {
        check_len(KeyKind::Symmetric(algorithm), algorithm.key_len(), &key)?;
        Ok(Arc::new(SoftwareKey {
            material: Material::Aead {
                algorithm,
                key,
                nonce_key: None,
            },
            permissions,
        }))
    }

    /// A handle on an HMAC key; an error if its length is not in
    /// [`HMAC_KEY_BYTES`](crate::HMAC_KEY_BYTES).
    pub fn hmac_key(
        key: Zeroizing<Vec<u8>>,
        permissions: Permissions,
    ) -> Result<Arc<Self>, CryptoError> {
        KeyKind::hmac(key.len())?;
        Ok(Arc::new(SoftwareKey {
            material: Material::Hmac(key),
            permissions,
        }))
    }

    /// A new random key of `kind`. RSA generation takes a while
    /// ([`cost_of`] with [`Operation::Generate`]).
    pub fn generate(kind: KeyKind, permissions: Permissions) -> Result<Arc<Self>, CryptoError> {
        match kind {
            KeyKind::Asymmetric(key_type) => {
                Ok(Self::pair(PrivateKey::generate(key_type)?, permissions))
            }
            KeyKind::Symmetric(algorithm) => {
                Self::secret(algorithm, random(algorithm.key_len())?, permissions)
            }
            KeyKind::Hmac(len) => Self::hmac_key(random(len)?, permissions),
        }
    }

    /// A key of `kind` from the bytes a client sent: for a key pair, PKCS#8,
    /// PKCS#1 (RSA) or SEC1 (ECDSA), DER or PEM (see
    /// [`PrivateKey::import`]); raw bytes for AEAD and HMAC keys (whose
    /// length must be `kind`'s: see [`KeyKind::of_import`]).
    pub fn import(
        kind: KeyKind,
        encoded: &[u8],
        permissions: Permissions,
    ) -> Result<Arc<Self>, CryptoError> {
        match kind {
            KeyKind::Asymmetric(key_type) => Ok(Self::pair(
                PrivateKey::import(key_type, encoded)?,
                permissions,
            )),
            KeyKind::Symmetric(algorithm) => {
                Self::secret(algorithm, Zeroizing::new(encoded.to_vec()), permissions)
            }
            KeyKind::Hmac(len) => {
                check_len(kind, len, encoded)?;
                Self::hmac_key(Zeroizing::new(encoded.to_vec()), permissions)
            }
        }
    }

    /// Its permissions.
    pub fn permissions(&self) -> Permissions {
        self.permissions
    }

    /// The same key with `permission` added; this handle keeps its own.
    pub fn permit(&self, permission: Permission) -> Arc<Self> {
        Arc::new(SoftwareKey {
            material: self.material.clone(),
            permissions: self.permissions.with(permission),
        })
    }

    /// A key of the same type derived from this one for `context` (not
    /// empty), with this key's permissions: transit's derived keys, with
    /// Vault's `hkdf_sha256` KDF — HKDF-SHA-256 with this key's bytes as
    /// input, no salt and `context` as info.
    /// - An AEAD key: the first bytes of the output (the key's length) are
    ///   the new key, and the next 32 its *nonce key*, the key of its
    ///   [`SoftwareKey::hmac`] (transit's convergent nonces, version 3).
    /// - An HMAC key: the output, as long as the key.
    /// - An Ed25519 key: HKDF over its 64 bytes (seed, then public key, as
    ///   transit keeps them); the 32 bytes of output are the new seed.
    ///
    /// RSA and ECDSA keys are not derived.
    pub fn derive(&self, context: &[u8]) -> Result<Arc<Self>, CryptoError> {
        if context.is_empty() {
            return Err(CryptoError::new(
                "a key is derived for a context, which is empty",
            ));
        }
        let material = match &self.material {
            Material::Aead { algorithm, key, .. } => {
                let len = algorithm.key_len();
                let mut okm = derive_bytes(key, context, len.saturating_add(NONCE_KEY_LEN))?;
                let nonce_key = Zeroizing::new(okm.split_off(len));
                Material::Aead {
                    algorithm: *algorithm,
                    key: okm,
                    nonce_key: Some(nonce_key),
                }
            }
            Material::Hmac(key) => Material::Hmac(derive_bytes(key, context, key.len())?),
            Material::Pair(key) if key.key_type() == KeyType::Ed25519 => {
                let mut ikm = Zeroizing::new(key.export(PrivateKeyFormat::Raw)?);
                ikm.extend_from_slice(&key.public_key().export(PublicKeyFormat::Raw)?);
                let seed = derive_bytes(&ikm, context, 32)?;
                Material::Pair(PrivateKey::from_ed25519_seed(&seed)?)
            }
            Material::Pair(key) => {
                return Err(CryptoError::new(format!(
                    "a {} key cannot be derived: only AEAD, HMAC and Ed25519 keys are",
                    key.key_type()
                )))
            }
        };
        Ok(Arc::new(SoftwareKey {
            material,
            permissions: self.permissions,
        }))
    }

    /// HMAC of `data` under this key: an HMAC key's bytes, or a derived
    /// AEAD key's nonce key (see [`SoftwareKey::derive`]).
    pub fn hmac(&self, algorithm: HashAlgorithm, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        match &self.material {
            Material::Hmac(key) => hmac(algorithm, key, data),
            Material::Aead {
                nonce_key: Some(nonce_key),
                ..
            } => hmac(algorithm, nonce_key, data),
            Material::Aead { algorithm, .. } => Err(CryptoError::new(format!(
                "an {algorithm} key makes HMACs only once derived (with its nonce key)"
            ))),
            Material::Pair(_) => Err(CryptoError::new(format!(
                "a {} key does not make HMACs",
                self.kind()
            ))),
        }
    }

    /// AEAD encryption of each item under this key, with one key
    /// schedule: each result is the item's ciphertext-and-tag or its own
    /// error (a bad item fails alone).
    pub fn encrypt_batch(&self, items: &[AeadItem]) -> Vec<Result<Vec<u8>, CryptoError>> {
        self.batch(items, |key, item| {
            key.seal(&item.nonce, &item.data, &item.aad)
        })
    }

    /// Reverses [`SoftwareKey::encrypt_batch`]: an item that fails
    /// authentication is an error and gives no plaintext.
    pub fn decrypt_batch(&self, items: &[AeadItem]) -> Vec<Result<Vec<u8>, CryptoError>> {
        self.batch(items, |key, item| {
            key.open(&item.nonce, &item.data, &item.aad)
        })
    }

    /// The key's bytes for a plaintext backup: PKCS#8 DER for a key pair,
    /// raw for AEAD and HMAC keys; refused without `plaintext-backup`.
    pub fn backup(&self) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        self.check(Permission::PlaintextBackup)?;
        match &self.material {
            Material::Pair(key) => Ok(Zeroizing::new(key.export(PrivateKeyFormat::Pkcs8Der)?)),
            Material::Aead { key, .. } | Material::Hmac(key) => Ok(key.clone()),
        }
    }

    /// The key's material in the canonical encoding a sealed blob holds:
    /// PKCS#8 DER (version 1) for a key pair; the raw key for an AEAD key,
    /// followed by its 32-byte nonce key if it was derived; the raw key for
    /// an HMAC key. No permission is checked: for `sealed.rs` only.
    pub(crate) fn encoded(&self) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        match &self.material {
            Material::Pair(key) => Ok(Zeroizing::new(key.export(PrivateKeyFormat::Pkcs8Der)?)),
            Material::Aead { key, nonce_key, .. } => {
                let extra = nonce_key.as_ref().map_or(0, |k| k.len());
                let mut bytes = Zeroizing::new(Vec::with_capacity(key.len().saturating_add(extra)));
                bytes.extend_from_slice(key);
                if let Some(nonce_key) = nonce_key {
                    bytes.extend_from_slice(nonce_key);
                }
                Ok(bytes)
            }
            Material::Hmac(key) => Ok(key.clone()),
        }
    }

    /// Reverses [`SoftwareKey::encoded`] for a key of `kind`.
    pub(crate) fn decoded(
        kind: KeyKind,
        encoded: &[u8],
        permissions: Permissions,
    ) -> Result<Arc<Self>, CryptoError> {
        let KeyKind::Symmetric(algorithm) = kind else {
            return Self::import(kind, encoded, permissions);
        };
        let len = algorithm.key_len();
        let nonce_key = match encoded.get(len..) {
            Some([]) => None,
            Some(rest) if rest.len() == NONCE_KEY_LEN => Some(Zeroizing::new(rest.to_vec())),
            _ => return Err(bad_len(kind, len, encoded.len())),
        };
        let key = Zeroizing::new(encoded.get(..len).unwrap_or_default().to_vec());
        Ok(Arc::new(SoftwareKey {
            material: Material::Aead {
                algorithm,
                key,
                nonce_key,
            },
            permissions,
        }))
    }

    fn batch(
        &self,
        items: &[AeadItem],
        op: impl Fn(&AeadKey, &AeadItem) -> Result<Vec<u8>, CryptoError>,
    ) -> Vec<Result<Vec<u8>, CryptoError>> {
        let key = match &self.material {
            Material::Aead { algorithm, key, .. } => AeadKey::new(*algorithm, key),
            _ => Err(wrong_cipher(self.kind(), "AEAD")),
        };
        match key {
            Ok(key) => items.iter().map(|item| op(&key, item)).collect(),
            Err(e) => items.iter().map(|_| Err(e.clone())).collect(),
        }
    }

    /// The key pair, for what only a key pair does.
    pub(crate) fn private(&self) -> Result<&PrivateKey, CryptoError> {
        match &self.material {
            Material::Pair(key) => Ok(key),
            _ => Err(CryptoError::new(format!(
                "a {} key has no private half to sign or decrypt with",
                self.kind()
            ))),
        }
    }

    fn check(&self, permission: Permission) -> Result<(), CryptoError> {
        if self.permissions.allows(permission) {
            Ok(())
        } else {
            Err(CryptoError::new(format!(
                "the key does not allow {}: it lacks the `{permission}` permission",
                match permission {
                    Permission::Export => "export",
                    Permission::PlaintextBackup => "a plaintext backup",
                }
            )))
        }
    }
}

impl fmt::Debug for SoftwareKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftwareKey")
            .field("kind", &self.kind())
            .field("permissions", &self.permissions)
            .finish_non_exhaustive()
    }
}

impl KeyHandle for SoftwareKey {
    fn kind(&self) -> KeyKind {
        match &self.material {
            Material::Pair(key) => KeyKind::Asymmetric(key.key_type()),
            Material::Aead { algorithm, .. } => KeyKind::Symmetric(*algorithm),
            Material::Hmac(key) => KeyKind::Hmac(key.len()),
        }
    }

    fn cost(&self, operation: Operation, input_len: usize) -> Cost {
        match &self.material {
            Material::Pair(key) => cost_of(key.key_type(), operation, input_len),
            _ if input_len > HEAVY_INPUT_BYTES => Cost::Heavy,
            _ => Cost::Light,
        }
    }

    fn public_key(&self) -> Option<PublicKey> {
        match &self.material {
            Material::Pair(key) => Some(key.public_key()),
            _ => None,
        }
    }

    fn sign(self: Arc<Self>, message: Vec<u8>, options: SignOptions) -> KeyFuture<Vec<u8>> {
        Box::pin(ready(
            self.private().and_then(|key| key.sign(&message, &options)),
        ))
    }

    fn encrypt(self: Arc<Self>, plaintext: Vec<u8>, cipher: Cipher) -> KeyFuture<Vec<u8>> {
        Box::pin(ready(match (&self.material, cipher) {
            (Material::Aead { algorithm, key, .. }, Cipher::Aead { nonce, aad }) => {
                AeadKey::new(*algorithm, key).and_then(|k| k.seal(&nonce, &plaintext, &aad))
            }
            (Material::Pair(key), Cipher::Oaep { hash, label }) => {
                key.public_key()
                    .encrypt_oaep(&plaintext, hash, label.as_deref())
            }
            (_, cipher) => Err(wrong_cipher(self.kind(), cipher_name(&cipher))),
        }))
    }

    fn decrypt(self: Arc<Self>, ciphertext: Vec<u8>, cipher: Cipher) -> KeyFuture<Vec<u8>> {
        Box::pin(ready(match (&self.material, cipher) {
            (Material::Aead { algorithm, key, .. }, Cipher::Aead { nonce, aad }) => {
                AeadKey::new(*algorithm, key).and_then(|k| k.open(&nonce, &ciphertext, &aad))
            }
            (Material::Pair(key), Cipher::Oaep { hash, label }) => {
                key.decrypt_oaep(&ciphertext, hash, label.as_deref())
            }
            (_, cipher) => Err(wrong_cipher(self.kind(), cipher_name(&cipher))),
        }))
    }

    fn wrap(self: Arc<Self>, target: Zeroizing<Vec<u8>>) -> KeyFuture<Vec<u8>> {
        Box::pin(ready(match &self.material {
            Material::Aead { algorithm, key, .. }
                if *algorithm != AeadAlgorithm::ChaCha20Poly1305 =>
            {
                aes_key_wrap_pad(key, &target)
            }
            Material::Pair(key) if key.key_type().rsa_bits().is_some() => key
                .public_key()
                .encrypt_oaep(&target, HashAlgorithm::Sha256, None),
            _ => Err(cannot_wrap(self.kind())),
        }))
    }

    fn unwrap_key(self: Arc<Self>, wrapped: Vec<u8>) -> KeyFuture<Zeroizing<Vec<u8>>> {
        Box::pin(ready(
            match &self.material {
                Material::Aead { algorithm, key, .. }
                    if *algorithm != AeadAlgorithm::ChaCha20Poly1305 =>
                {
                    aes_key_unwrap_pad(key, &wrapped)
                }
                Material::Pair(key) if key.key_type().rsa_bits().is_some() => {
                    key.decrypt_oaep(&wrapped, HashAlgorithm::Sha256, None)
                }
                _ => Err(cannot_wrap(self.kind())),
            }
            .map(Zeroizing::new),
        ))
    }

    fn export(&self, format: PrivateKeyFormat) -> Result<Vec<u8>, CryptoError> {
        self.check(Permission::Export)?;
        match &self.material {
            Material::Pair(key) => key.export(format),
            Material::Aead { key, .. } | Material::Hmac(key) => match format {
                PrivateKeyFormat::Raw => Ok(key.to_vec()),
                other => Err(CryptoError::new(format!(
                    "a {} key is exported as raw, not {}",
                    self.kind(),
                    other.name()
                ))),
            },
        }
    }
}

/// `len` random bytes, in a buffer wiped on drop.
fn random(len: usize) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let mut bytes = Zeroizing::new(vec![0u8; len]);
    fill_random(&mut bytes)?;
    Ok(bytes)
}

/// HKDF-SHA-256 of `ikm` with no salt and `info`, `len` bytes.
fn derive_bytes(ikm: &[u8], info: &[u8], len: usize) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let len = u32::try_from(len)
        .map_err(|_| CryptoError::new(format!("cannot derive a key of {len} bytes")))?;
    hkdf(HashAlgorithm::Sha256, ikm, &[], info, len).map(Zeroizing::new)
}

fn check_len(kind: KeyKind, expected: usize, key: &[u8]) -> Result<(), CryptoError> {
    if key.len() == expected {
        Ok(())
    } else {
        Err(bad_len(kind, expected, key.len()))
    }
}

fn bad_len(kind: KeyKind, expected: usize, actual: usize) -> CryptoError {
    CryptoError::new(format!("a {kind} key is {expected} bytes, not {actual}"))
}

fn cipher_name(cipher: &Cipher) -> &'static str {
    match cipher {
        Cipher::Aead { .. } => "AEAD",
        Cipher::Oaep { .. } => "RSA-OAEP",
    }
}

fn wrong_cipher(kind: KeyKind, cipher: &str) -> CryptoError {
    CryptoError::new(format!("a {kind} key cannot encrypt with {cipher}"))
}

fn cannot_wrap(kind: KeyKind) -> CryptoError {
    CryptoError::new(format!(
        "a {kind} key cannot wrap keys: only AES and RSA keys do"
    ))
}
