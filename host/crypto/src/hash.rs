//! Digests, HMAC, HKDF and the random generator.

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::Digest;

use super::{with_digest, CryptoError, HashAlgorithm, MAX_RANDOM_BYTES};

/// `len` bytes from the operating system's CSPRNG; at most
/// [`MAX_RANDOM_BYTES`].
pub fn random_bytes(len: u32) -> Result<Vec<u8>, CryptoError> {
    if len > MAX_RANDOM_BYTES {
        return Err(CryptoError::new(format!(
            "cannot generate {len} random bytes: at most {MAX_RANDOM_BYTES} per call"
        )));
    }
    let len = usize::try_from(len)
        .map_err(|_| CryptoError::new(format!("cannot generate {len} random bytes")))?;
    let mut out = vec![0u8; len];
    fill_random(&mut out)?;
    Ok(out)
}

/// The digest of `data`.
pub fn hash(algorithm: HashAlgorithm, data: &[u8]) -> Vec<u8> {
    with_digest!(algorithm, D => D::digest(data).to_vec())
}

/// HMAC (RFC 2104) of `data` under `key`, which may have any length.
pub fn hmac(algorithm: HashAlgorithm, key: &[u8], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    with_digest!(algorithm, D => {
        let mut mac = <Hmac<D> as Mac>::new_from_slice(key).map_err(|_| bad_hmac_key(algorithm))?;
        mac.update(data);
        Ok(mac.finalize().into_bytes().to_vec())
    })
}

/// Whether `tag` is the full HMAC of `data` under `key`, compared in
/// constant time. A tag of the wrong length is `false`.
pub fn hmac_verify(
    algorithm: HashAlgorithm,
    key: &[u8],
    data: &[u8],
    tag: &[u8],
) -> Result<bool, CryptoError> {
    with_digest!(algorithm, D => {
        let mut mac = <Hmac<D> as Mac>::new_from_slice(key).map_err(|_| bad_hmac_key(algorithm))?;
        mac.update(data);
        Ok(mac.verify_slice(tag).is_ok())
    })
}

/// HKDF (RFC 5869): `len` bytes derived from `ikm`, `salt` and `info`. An
/// empty salt is no salt (a block of zeros, as the RFC says). `len` is at
/// most 255 times the digest length.
pub fn hkdf(
    algorithm: HashAlgorithm,
    ikm: &[u8],
    salt: &[u8],
    info: &[u8],
    len: u32,
) -> Result<Vec<u8>, CryptoError> {
    let max = algorithm.output_len().saturating_mul(255);
    let len = usize::try_from(len)
        .ok()
        .filter(|len| *len <= max)
        .ok_or_else(|| {
            CryptoError::new(format!(
                "cannot derive {len} bytes with hkdf-{algorithm}: at most {max}"
            ))
        })?;
    let salt = if salt.is_empty() { None } else { Some(salt) };
    let mut okm = vec![0u8; len];
    with_digest!(algorithm, D => {
        Hkdf::<D>::new(salt, ikm)
            .expand(info, &mut okm)
            .map_err(|_| CryptoError::new(format!("hkdf-{algorithm} cannot derive {len} bytes")))?;
    });
    Ok(okm)
}

/// Fills `out` from the operating system's CSPRNG.
pub(super) fn fill_random(out: &mut [u8]) -> Result<(), CryptoError> {
    OsRng
        .try_fill_bytes(out)
        .map_err(|e| CryptoError::new(format!("the system random generator failed: {e}")))
}

/// MGF1 (RFC 8017 B.2.1) with `algorithm`: `len` bytes of mask from `seed`.
pub(super) fn mgf1(algorithm: HashAlgorithm, seed: &[u8], len: usize) -> Vec<u8> {
    let mut mask = Vec::with_capacity(len.saturating_add(algorithm.output_len()));
    let mut counter: u32 = 0;
    while mask.len() < len {
        let mut input = Vec::with_capacity(seed.len().saturating_add(4));
        input.extend_from_slice(seed);
        input.extend_from_slice(&counter.to_be_bytes());
        mask.extend_from_slice(&hash(algorithm, &input));
        counter = counter.wrapping_add(1);
    }
    mask.truncate(len);
    mask
}

fn bad_hmac_key(algorithm: HashAlgorithm) -> CryptoError {
    CryptoError::new(format!("invalid key for hmac-{algorithm}"))
}
