//! Cryptography done by the host, natively and in constant time where it
//! matters: thin wrappers over the WIT `crypto` import whose errors are
//! [`Error`]s. The key resources and enums are the generated ones.
//!
//! These call the host, so they work only inside wasm; native unit tests of
//! engine logic should keep crypto calls out of the code under test (or
//! test them end to end through the server).

use crate::bindings::coffer::engine::crypto as raw;
use crate::Error;

pub use raw::{
    AeadAlgorithm, HashAlgorithm, KeyType, PrivateKey, PrivateKeyFormat, PublicKey,
    PublicKeyFormat, RsaPadding, SignOptions, SignatureEncoding,
};

/// `len` bytes from the host's CSPRNG (at most 1 MiB).
pub fn random_bytes(len: u32) -> Result<Vec<u8>, Error> {
    Ok(raw::random_bytes(len)?)
}

/// The digest of `data`.
pub fn hash(algorithm: HashAlgorithm, data: &[u8]) -> Vec<u8> {
    raw::hash(algorithm, data)
}

/// HMAC of `data` under `key`.
pub fn hmac(algorithm: HashAlgorithm, key: &[u8], data: &[u8]) -> Result<Vec<u8>, Error> {
    Ok(raw::hmac(algorithm, key, data)?)
}

/// Whether `tag` is the HMAC of `data` under `key`, compared in constant time.
pub fn hmac_verify(
    algorithm: HashAlgorithm,
    key: &[u8],
    data: &[u8],
    tag: &[u8],
) -> Result<bool, Error> {
    Ok(raw::hmac_verify(algorithm, key, data, tag)?)
}

/// HKDF (RFC 5869): `len` bytes from `ikm`, `salt` and `info`.
pub fn hkdf(
    algorithm: HashAlgorithm,
    ikm: &[u8],
    salt: &[u8],
    info: &[u8],
    len: u32,
) -> Result<Vec<u8>, Error> {
    Ok(raw::hkdf(algorithm, ikm, salt, info, len)?)
}

/// Encrypts `plaintext`; returns the ciphertext followed by the 16-byte tag.
pub fn aead_seal(
    algorithm: AeadAlgorithm,
    key: &[u8],
    nonce: &[u8],
    plaintext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, Error> {
    Ok(raw::aead_seal(algorithm, key, nonce, plaintext, aad)?)
}

/// Decrypts ciphertext-and-tag; a failed authentication is an
/// [`Error::InvalidRequest`].
pub fn aead_open(
    algorithm: AeadAlgorithm,
    key: &[u8],
    nonce: &[u8],
    ciphertext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, Error> {
    Ok(raw::aead_open(algorithm, key, nonce, ciphertext, aad)?)
}

/// AES key wrap with padding (RFC 5649) of `key` under `kek`.
pub fn aes_key_wrap_pad(kek: &[u8], key: &[u8]) -> Result<Vec<u8>, Error> {
    Ok(raw::aes_key_wrap_pad(kek, key)?)
}

/// Reverses [`aes_key_wrap_pad`].
pub fn aes_key_unwrap_pad(kek: &[u8], wrapped: &[u8]) -> Result<Vec<u8>, Error> {
    Ok(raw::aes_key_unwrap_pad(kek, wrapped)?)
}
