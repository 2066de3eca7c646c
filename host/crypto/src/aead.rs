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
    let nonce = check_inputs(algorithm, key, nonce)?;
    let payload = Payload {
        msg: plaintext,
        aad,
    };
    let sealed = match algorithm {
        AeadAlgorithm::Aes128Gcm => cipher::<Aes128Gcm>(algorithm, key)?.encrypt(&nonce, payload),
        AeadAlgorithm::Aes256Gcm => cipher::<Aes256Gcm>(algorithm, key)?.encrypt(&nonce, payload),
        AeadAlgorithm::ChaCha20Poly1305 => {
            cipher::<ChaCha20Poly1305>(algorithm, key)?.encrypt(&nonce, payload)
        }
    };
    sealed.map_err(|_| CryptoError::new(format!("{algorithm} cannot encrypt this plaintext")))
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
    let nonce = check_inputs(algorithm, key, nonce)?;
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
    let opened = match algorithm {
        AeadAlgorithm::Aes128Gcm => cipher::<Aes128Gcm>(algorithm, key)?.decrypt(&nonce, payload),
        AeadAlgorithm::Aes256Gcm => cipher::<Aes256Gcm>(algorithm, key)?.decrypt(&nonce, payload),
        AeadAlgorithm::ChaCha20Poly1305 => {
            cipher::<ChaCha20Poly1305>(algorithm, key)?.decrypt(&nonce, payload)
        }
    };
    opened.map_err(|_| CryptoError::new("message authentication failed"))
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

/// Checks the key and nonce lengths and returns the nonce as an array.
fn check_inputs(
    algorithm: AeadAlgorithm,
    key: &[u8],
    nonce: &[u8],
) -> Result<GenericArray<u8, aes_gcm::aead::consts::U12>, CryptoError> {
    if key.len() != algorithm.key_len() {
        return Err(CryptoError::new(format!(
            "invalid key length {} for {algorithm}: expected {} bytes",
            key.len(),
            algorithm.key_len()
        )));
    }
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| {
        CryptoError::new(format!(
            "invalid nonce length {} for {algorithm}: expected {NONCE_LEN} bytes",
            nonce.len()
        ))
    })?;
    Ok(GenericArray::from(nonce))
}

fn cipher<C: KeyInit>(algorithm: AeadAlgorithm, key: &[u8]) -> Result<C, CryptoError> {
    C::new_from_slice(key).map_err(|_| {
        CryptoError::new(format!(
            "invalid key length {} for {algorithm}: expected {} bytes",
            key.len(),
            algorithm.key_len()
        ))
    })
}

fn bad_kek_len(len: usize) -> CryptoError {
    CryptoError::new(format!(
        "invalid key-encryption key length {len} for AES key wrap: expected 16, 24 or 32 bytes"
    ))
}
