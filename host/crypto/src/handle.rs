//! Key handles: one shape for every key the host holds, whoever holds its
//! private half.
//!
//! A [`KeyHandle`] is a key an engine may use but not see: it signs,
//! decrypts, wraps and unwraps, hands out its public half, and gives up
//! its private half only if its [`Permissions`](crate::Permissions)
//! allow. Today's keys are [`SoftwareKey`](crate::SoftwareKey)s, held in
//! this process (`software.rs`); a PKCS#11 token's or a cloud
//! KMS's keys will be other implementations of the same trait, whose
//! operations wait on a device or the network. So that both fit one
//! caller:
//! - every operation returns a [`KeyFuture`]. A software key computes when
//!   the method is called and returns a ready future; a remote one returns
//!   a future that waits.
//! - [`KeyHandle::cost`] says where an operation should run: [`Cost::Light`]
//!   where the caller is, [`Cost::Heavy`] on a thread that no request needs
//!   (the sandbox's heavy pool: call the method there, await the future
//!   after), [`Cost::Remote`] awaited under the caller's deadline.
//!
//! The methods take `self: Arc<Self>` and owned inputs, so that a future
//! (or a closure sent to another thread) owns what it needs.

use std::fmt;
use std::future::{ready, Future};
use std::pin::Pin;
use std::sync::Arc;

use p256::elliptic_curve::zeroize::Zeroizing;

use super::{
    CryptoError, HashAlgorithm, KeyKind, KeyType, PrivateKeyFormat, PublicKey, SignOptions,
};

/// What a key operation gives, when it is done.
pub type KeyFuture<T> = Pin<Box<dyn Future<Output = Result<T, CryptoError>> + Send>>;

/// Where an operation should run (see the module's doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cost {
    /// Well under 100 µs of CPU: where the caller is.
    Light,
    /// Longer CPU work: on a thread no request is waiting for.
    Heavy,
    /// Waits on a device or the network: awaited, under a deadline.
    Remote,
}

/// The operations a handle answers, for [`KeyHandle::cost`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// [`KeyHandle::sign`].
    Sign,
    /// [`KeyHandle::verify`].
    Verify,
    /// [`KeyHandle::encrypt`] and [`KeyHandle::wrap`].
    Encrypt,
    /// [`KeyHandle::decrypt`] and [`KeyHandle::unwrap_key`].
    Decrypt,
    /// [`KeyHandle::export`].
    Export,
    /// Making a new key (no handle yet: see [`cost_of`]).
    Generate,
    /// Parsing a key's encoding (no handle yet: see [`cost_of`]).
    Import,
}

/// How [`KeyHandle::encrypt`] and [`KeyHandle::decrypt`] work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cipher {
    /// AEAD with a symmetric key (12-byte nonce, 16-byte tag).
    Aead {
        /// The nonce.
        nonce: Vec<u8>,
        /// Data authenticated, not encrypted.
        aad: Vec<u8>,
    },
    /// RSA-OAEP with `hash` for OAEP and MGF1.
    Oaep {
        /// The hash.
        hash: HashAlgorithm,
        /// The optional label.
        label: Option<Vec<u8>>,
    },
}

/// A key the host holds (see the module's doc).
pub trait KeyHandle: Send + Sync + fmt::Debug {
    /// What it is.
    fn kind(&self) -> KeyKind;

    /// Where `operation` over `input_len` bytes should run.
    fn cost(&self, operation: Operation, input_len: usize) -> Cost;

    /// The public half of a key pair; none for a symmetric key.
    fn public_key(&self) -> Option<PublicKey>;

    /// Signs `message` as `options` say (see [`SignOptions`]).
    fn sign(self: Arc<Self>, message: Vec<u8>, options: SignOptions) -> KeyFuture<Vec<u8>>;

    /// Whether `signature` is valid for `message`: by default, checked
    /// here with the public half.
    fn verify(
        self: Arc<Self>,
        message: Vec<u8>,
        signature: Vec<u8>,
        options: SignOptions,
    ) -> KeyFuture<bool> {
        Box::pin(ready(match self.public_key() {
            Some(public) => public.verify(&message, &signature, &options),
            None => Err(CryptoError::new(
                "a symmetric key does not verify signatures",
            )),
        }))
    }

    /// Encrypts `plaintext` as `cipher` says.
    fn encrypt(self: Arc<Self>, plaintext: Vec<u8>, cipher: Cipher) -> KeyFuture<Vec<u8>>;

    /// Decrypts `ciphertext` as `cipher` says.
    fn decrypt(self: Arc<Self>, ciphertext: Vec<u8>, cipher: Cipher) -> KeyFuture<Vec<u8>>;

    /// Wraps another key's bytes for transport or storage: AES-KWP
    /// (RFC 5649) under an AES key, RSA-OAEP with SHA-256 under an RSA key.
    fn wrap(self: Arc<Self>, key: Zeroizing<Vec<u8>>) -> KeyFuture<Vec<u8>>;

    /// Undoes [`KeyHandle::wrap`].
    fn unwrap_key(self: Arc<Self>, wrapped: Vec<u8>) -> KeyFuture<Zeroizing<Vec<u8>>>;

    /// The private half in `format`, or a secret key's bytes (`format`
    /// [`PrivateKeyFormat::Raw`]), if the key allows it (a software key's
    /// `export` permission; a managed key never does).
    fn export(&self, format: PrivateKeyFormat) -> Result<Vec<u8>, CryptoError>;
}

/// Where a software key pair's `operation` over `input_len` bytes runs:
/// [`Cost::Heavy`] when it takes more than about 100 µs of CPU. The
/// figures behind it (release, one thread, this repository's 2-core
/// machine; ARCHITECTURE.md has the table): with AWS-LC, P-256 generates
/// in 9 µs, signs in 15 and verifies in 49; Ed25519 signs in 9 and
/// verifies in 31 (`ed25519-dalek`); P-384 generates in 49 and signs in 81
/// but verifies in 210, and its RustCrypto form (import, export) costs
/// about a millisecond; P-521 takes 90-350 µs for everything; RSA-2048
/// signs in 240 µs, RSA-4096 in 1.4 ms, and RSA verification, OAEP and
/// generation (70 ms to seconds) are slower still. Any operation over more
/// than [`HEAVY_INPUT_BYTES`] is heavy too (hashing the input).
pub fn cost_of(key_type: KeyType, operation: Operation, input_len: usize) -> Cost {
    let light = match key_type {
        KeyType::Ed25519 | KeyType::EcdsaP256 => true,
        KeyType::EcdsaP384 => matches!(operation, Operation::Sign | Operation::Generate),
        KeyType::EcdsaP521 | KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => false,
    };
    if light && input_len <= HEAVY_INPUT_BYTES {
        Cost::Light
    } else {
        Cost::Heavy
    }
}

/// Above this many input bytes, hashing the input alone makes an
/// operation heavy (64 KiB: about 40 µs of SHA-256).
pub const HEAVY_INPUT_BYTES: usize = 64 * 1024;
