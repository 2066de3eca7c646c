//! Authenticated encryption and AES key wrap with padding.

use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use aes_kw::{KekAes128, KekAes192, KekAes256};
use chacha20poly1305::ChaCha20Poly1305;

use super::{AeadAlgorithm, CryptoError};

/// Nonce length of every [`AeadAlgorithm`].
const NONCE_LEN: usize = 12;
/// Tag length of every [`AeadAlgorithm`].
const TAG_LEN: usize = 16;

/// Encrypts `plaintext` and authenticates it with `aad`; returns the
/// ciphertext followed by the 16-byte tag. The nonce must be 12 bytes and
/// must never repeat under one key.
pub fn aead_seal(
    algorithm: AeadAlgorithm,
    key: &[u8],
    nonce: &[u8],
    plaintext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    AeadKey::new(algorithm, key)?.seal(nonce, plaintext, aad)
}

/// Decrypts ciphertext-and-tag as [`aead_seal`] produced it. A failed
/// authentication is an error and returns no plaintext.
pub fn aead_open(
    algorithm: AeadAlgorithm,
    key: &[u8],
    nonce: &[u8],
    ciphertext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    AeadKey::new(algorithm, key)?.open(nonce, ciphertext, aad)
}

/// An AEAD key with its key schedule made, for many operations under one
/// key (the batch calls).
pub(crate) enum AeadKey {
    Aes128Gcm(Box<Aes128Gcm>),
    Aes256Gcm(Box<Aes256Gcm>),
    ChaCha20Poly1305(Box<ChaCha20Poly1305>),
}

impl AeadKey {
    /// The key schedule of `key` for `algorithm`; an error if `key` has the
    /// wrong length.
    pub(crate) fn new(algorithm: AeadAlgorithm, key: &[u8]) -> Result<Self, CryptoError> {
        if key.len() != algorithm.key_len() {
            return Err(bad_key_len(algorithm, key.len()));
        }
        Ok(match algorithm {
            AeadAlgorithm::Aes128Gcm => Self::Aes128Gcm(Box::new(cipher(algorithm, key)?)),
            AeadAlgorithm::Aes256Gcm => Self::Aes256Gcm(Box::new(cipher(algorithm, key)?)),
            AeadAlgorithm::ChaCha20Poly1305 => {
                Self::ChaCha20Poly1305(Box::new(cipher(algorithm, key)?))
            }
        })
    }

    fn algorithm(&self) -> AeadAlgorithm {
        match self {
            Self::Aes128Gcm(_) => AeadAlgorithm::Aes128Gcm,
            Self::Aes256Gcm(_) => AeadAlgorithm::Aes256Gcm,
            Self::ChaCha20Poly1305(_) => AeadAlgorithm::ChaCha20Poly1305,
        }
    }

    /// As [`aead_seal`], under this key.
    pub(crate) fn seal(
        &self,
        nonce: &[u8],
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let algorithm = self.algorithm();
        let nonce = check_nonce(algorithm, nonce)?;
        let payload = Payload {
            msg: plaintext,
            aad,
        };
        let sealed = match self {
            Self::Aes128Gcm(c) => c.encrypt(&nonce, payload),
            Self::Aes256Gcm(c) => c.encrypt(&nonce, payload),
            Self::ChaCha20Poly1305(c) => c.encrypt(&nonce, payload),
        };
        sealed.map_err(|_| CryptoError::new(format!("{algorithm} cannot encrypt this plaintext")))
    }

    /// As [`aead_open`], under this key.
    pub(crate) fn open(
        &self,
        nonce: &[u8],
        ciphertext: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let algorithm = self.algorithm();
        let nonce = check_nonce(algorithm, nonce)?;
        if ciphertext.len() < TAG_LEN {
            return Err(CryptoError::new(format!(
                "ciphertext of {} bytes is too short for {algorithm}: it must hold the {TAG_LEN}-byte tag",
                ciphertext.len()
            )));
        }
        let payload = Payload {
            msg: ciphertext,
            aad,
        };
        let opened = match self {
            Self::Aes128Gcm(c) => c.decrypt(&nonce, payload),
            Self::Aes256Gcm(c) => c.decrypt(&nonce, payload),
            Self::ChaCha20Poly1305(c) => c.decrypt(&nonce, payload),
        };
        opened.map_err(|_| CryptoError::new("message authentication failed"))
    }
}

/// AES key wrap with padding (RFC 5649) of `key` (at least one byte) under
/// `kek` (16, 24 or 32 bytes).
pub fn aes_key_wrap_pad(kek: &[u8], key: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if key.is_empty() {
        return Err(CryptoError::new("cannot wrap an empty key"));
    }
    let wrapped = match kek.len() {
        16 => KekAes128::try_from(kek).map(|k| k.wrap_with_padding_vec(key)),
        24 => KekAes192::try_from(kek).map(|k| k.wrap_with_padding_vec(key)),
        32 => KekAes256::try_from(kek).map(|k| k.wrap_with_padding_vec(key)),
        other => return Err(bad_kek_len(other)),
    };
    wrapped
        .and_then(|w| w)
        .map_err(|e| CryptoError::new(format!("key wrap failed: {e}")))
}

/// Reverses [`aes_key_wrap_pad`]; fails if the integrity check fails.
pub fn aes_key_unwrap_pad(kek: &[u8], wrapped: &[u8]) -> Result<Vec<u8>, CryptoError> {
    // RFC 5649: at least two 64-bit blocks, and whole blocks.
    if wrapped.len() < 16 || !wrapped.len().is_multiple_of(8) {
        return Err(CryptoError::new(format!(
            "wrapped key of {} bytes is malformed: it must be a multiple of 8 bytes, at least 16",
            wrapped.len()
        )));
    }
    let unwrapped = match kek.len() {
        16 => KekAes128::try_from(kek).map(|k| k.unwrap_with_padding_vec(wrapped)),
        24 => KekAes192::try_from(kek).map(|k| k.unwrap_with_padding_vec(wrapped)),
        32 => KekAes256::try_from(kek).map(|k| k.unwrap_with_padding_vec(wrapped)),
        other => return Err(bad_kek_len(other)),
    };
    unwrapped
        .and_then(|u| u)
        .map_err(|_| CryptoError::new("key unwrap failed: integrity check failed"))
}

/// Checks the nonce's length and returns it as an array.
fn check_nonce(
    algorithm: AeadAlgorithm,
    nonce: &[u8],
) -> Result<GenericArray<u8, aes_gcm::aead::consts::U12>, CryptoError> {
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| {
        CryptoError::new(format!(
            "invalid nonce length {} for {algorithm}: expected {NONCE_LEN} bytes",
            nonce.len()
        ))
    })?;
    Ok(GenericArray::from(nonce))
}

fn cipher<C: KeyInit>(algorithm: AeadAlgorithm, key: &[u8]) -> Result<C, CryptoError> {
    C::new_from_slice(key).map_err(|_| bad_key_len(algorithm, key.len()))
}

fn bad_key_len(algorithm: AeadAlgorithm, len: usize) -> CryptoError {
    CryptoError::new(format!(
        "invalid key length {len} for {algorithm}: expected {} bytes",
        algorithm.key_len()
    ))
}

fn bad_kek_len(len: usize) -> CryptoError {
    CryptoError::new(format!(
        "invalid key-encryption key length {len} for AES key wrap: expected 16, 24 or 32 bytes"
    ))
}
