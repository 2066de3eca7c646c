//! Keys held by the host, behind handles (contract 0.2's `keys`).
//!
//! An engine never holds key bytes. It holds a [`Key`] for as long as its
//! instance lives and persists a key only as the opaque sealed blob the
//! host makes ([`Key::seal`]): the key encrypted and authenticated under a
//! key of the mount, with its type and [`Permission`]s inside. A blob opens
//! ([`Key::open`]) only on the mount that sealed it; another mount's, a
//! tampered one, or bytes that are not a blob are a 400.
//!
//! Key bytes cross the engine only inside the one request whose client
//! sends or receives them: [`Key::import`] and [`Key::unwrap`] take them
//! in, [`Key::export`], [`Key::backup`] and [`Key::wrap_for`] give them
//! out, each checked by the host against the key's permissions.
//!
//! In wasm every call goes to the host. Natively (engine unit tests) the
//! same calls run `coffer-crypto`'s software keys and sealed blobs, the
//! code the host runs, under a mount key of the test: each
//! [`crate::testing::TestEngine`] is a mount of its own (a blob sealed by
//! one does not open in another), and outside one each thread has its own.
//! Natively there are no managed keys, and `permit` is not limited to
//! create and update requests as on the host.

use std::fmt;

use crate::crypto::{HashAlgorithm, PrivateKeyFormat, PublicKeyFormat, SignOptions};
use crate::Error;

mod managed;
pub use managed::ManagedRef;

#[cfg(not(target_arch = "wasm32"))]
mod native;
#[cfg(not(target_arch = "wasm32"))]
use native as backend;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use native::MountKey;

#[cfg(target_arch = "wasm32")]
mod host;
#[cfg(target_arch = "wasm32")]
use host as backend;
#[cfg(target_arch = "wasm32")]
pub(crate) use host::MountKey;

/// Declares the key types once: variant, `keys.wit` name.
macro_rules! key_types {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)*) => {
        /// The types of key a [`Key`] can be, by the names contract 0.2
        /// (and Vault's transit) gives them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum KeyType {
            $($(#[$doc])* $variant,)*
        }

        impl KeyType {
            /// Every type, in `keys.wit`'s order.
            pub const ALL: &'static [KeyType] = &[$(KeyType::$variant),*];

            /// Its `keys.wit` name.
            pub fn name(self) -> &'static str {
                match self {
                    $(KeyType::$variant => $name,)*
                }
            }
        }
    };
}

key_types! {
    /// AES-128-GCM with 96-bit nonces.
    Aes128Gcm96 = "aes128-gcm96",
    /// AES-256-GCM with 96-bit nonces.
    Aes256Gcm96 = "aes256-gcm96",
    /// ChaCha20-Poly1305.
    Chacha20Poly1305 = "chacha20-poly1305",
    /// An HMAC key (16 to 512 bytes; 32 unless a size is given).
    Hmac = "hmac",
    /// RSA, 2048-bit modulus.
    Rsa2048 = "rsa-2048",
    /// RSA, 3072-bit modulus.
    Rsa3072 = "rsa-3072",
    /// RSA, 4096-bit modulus.
    Rsa4096 = "rsa-4096",
    /// ECDSA over P-256.
    EcdsaP256 = "ecdsa-p256",
    /// ECDSA over P-384.
    EcdsaP384 = "ecdsa-p384",
    /// ECDSA over P-521.
    EcdsaP521 = "ecdsa-p521",
    /// Ed25519.
    Ed25519 = "ed25519",
}

impl KeyType {
    /// The type named `name`; an unknown name is a 400 listing the known.
    pub fn from_name(name: &str) -> Result<Self, Error> {
        Self::ALL
            .iter()
            .copied()
            .find(|t| t.name() == name)
            .ok_or_else(|| unknown("key type", name, Self::ALL.iter().map(|t| t.name())))
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a key's bytes may do besides being used: leave the host. Given
/// when a key is made, widened only ([`Key::permit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// `export`: through [`Key::export`] and [`Key::wrap_for`].
    Export,
    /// `plaintext-backup`: through [`Key::backup`].
    PlaintextBackup,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Permission; 2] = [Self::Export, Self::PlaintextBackup];

    /// Its `keys.wit` name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Export => "export",
            Self::PlaintextBackup => "plaintext-backup",
        }
    }

    /// The permission named `name`; an unknown name is a 400.
    pub fn from_name(name: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| unknown("key permission", name, Self::ALL.iter().map(|p| p.name())))
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn unknown<'a>(what: &str, name: &str, known: impl Iterator<Item = &'a str>) -> Error {
    Error::invalid(format!(
        "unknown {what} `{name}`: expected one of {}",
        known.collect::<Vec<_>>().join(", ")
    ))
}

fn names(permissions: &[Permission]) -> Vec<String> {
    permissions.iter().map(|p| p.name().to_owned()).collect()
}

/// Known permissions among `names` (a newer host's others are skipped).
fn parse_permissions(names: &[String]) -> Vec<Permission> {
    names
        .iter()
        .filter_map(|n| Permission::from_name(n).ok())
        .collect()
}

/// One item of [`Key::encrypt_batch`] and [`Key::decrypt_batch`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AeadItem {
    /// The plaintext (encrypt) or ciphertext-and-tag (decrypt).
    pub data: Vec<u8>,
    /// The 12-byte nonce.
    pub nonce: Vec<u8>,
    /// Associated data.
    pub aad: Vec<u8>,
}

/// A key held by the host: software, or a managed key in an HSM or a
/// cloud KMS. Its bytes never reach the engine except through
/// [`Key::export`], [`Key::backup`] and [`Key::wrap_for`].
pub struct Key(backend::Key);

/// A public key held by the host.
pub struct PublicKey(backend::PublicKey);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("type", &self.0.key_type_name())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("type", &self.0.key_type_name())
            .finish_non_exhaustive()
    }
}

impl Key {
    /// A new random key of `key_type`; `size` is the length in bytes of an
    /// [`KeyType::Hmac`] key (none: 32) and must be none for the others.
    pub fn generate(
        key_type: KeyType,
        size: Option<u32>,
        permissions: &[Permission],
    ) -> Result<Key, Error> {
        backend::Key::generate(key_type.name(), size, &names(permissions)).map(Key)
    }

    /// Opens a blob that [`Key::seal`] made on this mount.
    pub fn open(blob: &[u8]) -> Result<Key, Error> {
        backend::Key::open(blob).map(Key)
    }

    /// A key whose bytes the client sent in this request: PKCS#8, PKCS#1
    /// (RSA) or SEC1 (ECDSA), DER or PEM; raw bytes for AEAD and HMAC keys.
    pub fn import(
        key_type: KeyType,
        encoded: &[u8],
        permissions: &[Permission],
    ) -> Result<Key, Error> {
        backend::Key::import(key_type.name(), encoded, &names(permissions)).map(Key)
    }

    /// Bring your own key: `wrapped` as Vault's transit takes it (an
    /// ephemeral AES-256 key under RSA-OAEP with `hash` for `wrapping_key`,
    /// then the key under it with AES-KWP).
    pub fn unwrap(
        wrapping_key: &Key,
        wrapped: &[u8],
        hash: HashAlgorithm,
        key_type: KeyType,
        permissions: &[Permission],
    ) -> Result<Key, Error> {
        backend::Key::unwrap(
            &wrapping_key.0,
            wrapped,
            hash,
            key_type.name(),
            &names(permissions),
        )
        .map(Key)
    }

    /// A managed key (`sys/managed-keys`) by name or id; never exportable.
    /// 403 unless the mount's `allowed_managed_keys` names it, 503 when its
    /// backend cannot be reached. Natively there are none: always a 403.
    pub fn managed(name_or_id: &str) -> Result<Key, Error> {
        backend::Key::managed(name_or_id).map(Key)
    }

    /// The blob to store for this key.
    pub fn seal(&self) -> Result<Vec<u8>, Error> {
        self.0.seal()
    }

    /// Its type (a 500 if the host names one this SDK does not know).
    pub fn key_type(&self) -> Result<KeyType, Error> {
        let name = self.0.key_type_name();
        KeyType::from_name(&name)
            .map_err(|_| Error::internal(format!("the host gave an unknown key type `{name}`")))
    }

    /// Its size in bits: an RSA modulus's, the curve's (256 for
    /// Ed25519), or a secret key's length times 8 (an HMAC key's exact
    /// length, however it was made).
    pub fn bits(&self) -> u32 {
        self.0.bits()
    }

    /// Whether it is a managed key.
    pub fn is_managed(&self) -> bool {
        self.0.is_managed()
    }

    /// Its permissions.
    pub fn permissions(&self) -> Vec<Permission> {
        parse_permissions(&self.0.permissions())
    }

    /// The same key with `permission` added (this handle keeps its own).
    /// The host allows it only while handling a client's create or update,
    /// and never for a managed key.
    pub fn permit(&self, permission: Permission) -> Result<Key, Error> {
        self.0.permit(permission.name()).map(Key)
    }

    /// A key of the same type derived from this one for `context`
    /// (transit's derived keys: HKDF-SHA-256, this key's bytes as input,
    /// `context` as info). RSA and ECDSA keys and an empty context are a
    /// 400.
    pub fn derive(&self, context: &[u8]) -> Result<Key, Error> {
        self.0.derive(context).map(Key)
    }

    /// The public half of an asymmetric key.
    pub fn public_key(&self) -> Result<PublicKey, Error> {
        self.0.public_key().map(PublicKey)
    }

    /// Signs `message` as `options` say.
    pub fn sign(&self, message: &[u8], options: SignOptions) -> Result<Vec<u8>, Error> {
        self.0.sign(message, options)
    }

    /// Whether `signature` is valid for `message` (a malformed signature is
    /// `false`).
    pub fn verify(
        &self,
        message: &[u8],
        signature: &[u8],
        options: SignOptions,
    ) -> Result<bool, Error> {
        self.0.verify(message, signature, options)
    }

    /// AEAD encryption with a 12-byte `nonce`: ciphertext then 16-byte tag.
    pub fn encrypt(&self, plaintext: &[u8], nonce: &[u8], aad: &[u8]) -> Result<Vec<u8>, Error> {
        self.0.encrypt(plaintext, nonce, aad)
    }

    /// Reverses [`Key::encrypt`]; a failed authentication is a 400 and
    /// gives no plaintext.
    pub fn decrypt(&self, ciphertext: &[u8], nonce: &[u8], aad: &[u8]) -> Result<Vec<u8>, Error> {
        self.0.decrypt(ciphertext, nonce, aad)
    }

    /// [`Key::encrypt`] of each item, in one host call.
    pub fn encrypt_batch(&self, items: &[AeadItem]) -> Vec<Result<Vec<u8>, Error>> {
        self.0.encrypt_batch(items)
    }

    /// [`Key::decrypt`] of each item, in one host call.
    pub fn decrypt_batch(&self, items: &[AeadItem]) -> Vec<Result<Vec<u8>, Error>> {
        self.0.decrypt_batch(items)
    }

    /// RSA-OAEP decryption with `hash` for OAEP and MGF1.
    pub fn decrypt_oaep(
        &self,
        ciphertext: &[u8],
        hash: HashAlgorithm,
        label: Option<&[u8]>,
    ) -> Result<Vec<u8>, Error> {
        self.0.decrypt_oaep(ciphertext, hash, label)
    }

    /// HMAC of `data` under an HMAC key, or a derived AEAD key's nonce key.
    pub fn hmac(&self, algorithm: HashAlgorithm, data: &[u8]) -> Result<Vec<u8>, Error> {
        self.0.hmac(algorithm, data)
    }

    /// The key's bytes in `format` (`Raw` for AEAD and HMAC keys and the
    /// Ed25519 seed); 403 without [`Permission::Export`].
    pub fn export(&self, format: PrivateKeyFormat) -> Result<Vec<u8>, Error> {
        self.0.export(format)
    }

    /// The key's bytes for a plaintext backup (raw, or PKCS#8 DER); 403
    /// without [`Permission::PlaintextBackup`].
    pub fn backup(&self) -> Result<Vec<u8>, Error> {
        self.0.backup()
    }

    /// BYOK export: this key wrapped for `destination`, an RSA public
    /// key, as [`Key::unwrap`] takes it; 403 unless this key has
    /// [`Permission::Export`].
    pub fn wrap_for(&self, destination: &PublicKey, hash: HashAlgorithm) -> Result<Vec<u8>, Error> {
        self.0.wrap_for(&destination.0, hash)
    }
}

impl PublicKey {
    /// Parses SubjectPublicKeyInfo DER, PKCS#1 DER (RSA), or either in PEM.
    pub fn import(key_type: KeyType, encoded: &[u8]) -> Result<PublicKey, Error> {
        backend::PublicKey::import(key_type.name(), encoded).map(PublicKey)
    }

    /// Its type.
    pub fn key_type(&self) -> Result<KeyType, Error> {
        let name = self.0.key_type_name();
        KeyType::from_name(&name)
            .map_err(|_| Error::internal(format!("the host gave an unknown key type `{name}`")))
    }

    /// The public key in `format`.
    pub fn export(&self, format: PublicKeyFormat) -> Result<Vec<u8>, Error> {
        self.0.export(format)
    }

    /// Whether `signature` is valid for `message`.
    pub fn verify(
        &self,
        message: &[u8],
        signature: &[u8],
        options: SignOptions,
    ) -> Result<bool, Error> {
        self.0.verify(message, signature, options)
    }

    /// RSA-OAEP encryption with `hash` for OAEP and MGF1.
    pub fn encrypt_oaep(
        &self,
        plaintext: &[u8],
        hash: HashAlgorithm,
        label: Option<&[u8]>,
    ) -> Result<Vec<u8>, Error> {
        self.0.encrypt_oaep(plaintext, hash, label)
    }
}
