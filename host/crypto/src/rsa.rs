//! RSA signatures (PKCS#1 v1.5 and PSS) and OAEP encryption.

use std::borrow::Cow;

use rand::rngs::OsRng;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Oaep, Pkcs1v15Sign, Pss, RsaPrivateKey, RsaPublicKey};

use super::fast::PssSalt;
use super::hash::{hash, mgf1};
use super::{with_digest, CryptoError, HashAlgorithm, RsaPadding, SignOptions};

/// The hash used when the options name none.
pub(super) const DEFAULT_HASH: HashAlgorithm = HashAlgorithm::Sha256;

/// A signature to make: everything about it checked, the digest made, and
/// the PSS salt length chosen, before either library signs.
pub(super) struct Prepared<'m> {
    /// The padding.
    pub(super) padding: RsaPadding,
    /// The hash whose DigestInfo (PKCS#1 v1.5) or MGF1 (PSS) is used; none
    /// for PKCS#1 v1.5 over the input as it is.
    pub(super) algorithm: Option<HashAlgorithm>,
    /// What is signed.
    pub(super) digest: Cow<'m, [u8]>,
    /// PSS only: the salt's length in bytes.
    pub(super) salt_len: usize,
    /// PSS only: the salt's length in the terms of the fast path.
    pub(super) salt: PssSalt,
}

/// Checks and prepares a signature of `message` as `options` say, by a key
/// whose modulus has `modulus_bits` bits.
pub(super) fn prepare<'m>(
    message: &'m [u8],
    options: &SignOptions,
    modulus_bits: usize,
) -> Result<Prepared<'m>, CryptoError> {
    let (algorithm, digest) = digest(message, options)?;
    let (salt_len, salt) = match options.padding {
        RsaPadding::Pkcs1v15 => (0, PssSalt::Other),
        RsaPadding::Pss => {
            let algorithm = algorithm.unwrap_or(DEFAULT_HASH);
            let max = max_salt_len(modulus_bits, algorithm).ok_or_else(|| {
                CryptoError::new(format!("the key is too small for PSS with {algorithm}"))
            })?;
            let salt_len = match options.salt_length {
                None => max,
                Some(requested) => usize::try_from(requested)
                    .ok()
                    .filter(|len| *len <= max)
                    .ok_or_else(|| {
                        CryptoError::new(format!(
                            "PSS salt length {requested} is too long: at most {max} bytes with {algorithm} and this key"
                        ))
                    })?,
            };
            let salt = if salt_len == max {
                PssSalt::Max
            } else if salt_len == algorithm.output_len() {
                PssSalt::Digest
            } else {
                PssSalt::Other
            };
            (salt_len, salt)
        }
    };
    Ok(Prepared {
        padding: options.padding,
        algorithm,
        digest,
        salt_len,
        salt,
    })
}

/// Signs a prepared signature with RustCrypto's `key`.
pub(super) fn sign(key: &RsaPrivateKey, prepared: &Prepared<'_>) -> Result<Vec<u8>, CryptoError> {
    let digest = &prepared.digest;
    let signed = match (prepared.padding, prepared.algorithm) {
        (RsaPadding::Pkcs1v15, None) => {
            key.sign_with_rng(&mut OsRng, Pkcs1v15Sign::new_unprefixed(), digest)
        }
        (RsaPadding::Pkcs1v15, Some(algorithm)) => {
            key.sign_with_rng(&mut OsRng, pkcs1v15_scheme(algorithm), digest)
        }
        (RsaPadding::Pss, algorithm) => {
            let algorithm = algorithm.unwrap_or(DEFAULT_HASH);
            with_digest!(algorithm, D => key.sign_with_rng(
                &mut OsRng,
                Pss::new_blinded_with_salt::<D>(prepared.salt_len),
                digest,
            ))
        }
    };
    signed.map_err(|e| match e {
        rsa::Error::MessageTooLong => CryptoError::new(format!(
            "the input of {} bytes is too long to sign with this key",
            digest.len()
        )),
        other => CryptoError::new(format!("RSA signing failed: {other}")),
    })
}

/// Whether `signature` is valid for `message`; a malformed signature is
/// `false`, input that contradicts `options` an error.
pub(super) fn verify(
    key: &RsaPublicKey,
    message: &[u8],
    signature: &[u8],
    options: &SignOptions,
) -> Result<bool, CryptoError> {
    let (algorithm, digest) = digest(message, options)?;
    let verified = match (options.padding, algorithm) {
        (RsaPadding::Pkcs1v15, None) => {
            key.verify(Pkcs1v15Sign::new_unprefixed(), &digest, signature)
        }
        (RsaPadding::Pkcs1v15, Some(algorithm)) => {
            key.verify(pkcs1v15_scheme(algorithm), &digest, signature)
        }
        (RsaPadding::Pss, algorithm) => {
            let algorithm = algorithm.unwrap_or(DEFAULT_HASH);
            let salt_len = match options.salt_length {
                Some(len) => usize::try_from(len).ok(),
                None => pss_salt_len(key, signature, algorithm),
            };
            let Some(salt_len) = salt_len else {
                return Ok(false);
            };
            with_digest!(algorithm, D => key.verify(Pss::new_with_salt::<D>(salt_len), &digest, signature))
        }
    };
    Ok(verified.is_ok())
}

/// RSAES-OAEP encryption with `algorithm` for both OAEP and MGF1.
pub(super) fn encrypt_oaep(
    key: &RsaPublicKey,
    plaintext: &[u8],
    algorithm: HashAlgorithm,
    label: Option<&[u8]>,
) -> Result<Vec<u8>, CryptoError> {
    let label = oaep_label(label)?;
    let encrypted = with_digest!(algorithm, D => match label {
        None => key.encrypt(&mut OsRng, Oaep::new::<D>(), plaintext),
        Some(label) => key.encrypt(&mut OsRng, Oaep::new_with_label::<D, _>(label), plaintext),
    });
    encrypted.map_err(|e| match e {
        rsa::Error::MessageTooLong => CryptoError::new(format!(
            "plaintext of {} bytes is too long for RSA-OAEP with {algorithm} and this key",
            plaintext.len()
        )),
        other => CryptoError::new(format!("RSA-OAEP encryption failed: {other}")),
    })
}

/// RSAES-OAEP decryption with `algorithm` for both OAEP and MGF1. Every
/// failure reads the same, so that the error is no padding oracle.
pub(super) fn decrypt_oaep(
    key: &RsaPrivateKey,
    ciphertext: &[u8],
    algorithm: HashAlgorithm,
    label: Option<&[u8]>,
) -> Result<Vec<u8>, CryptoError> {
    let label = oaep_label(label)?;
    let decrypted = with_digest!(algorithm, D => match label {
        None => key.decrypt_blinded(&mut OsRng, Oaep::new::<D>(), ciphertext),
        Some(label) => key.decrypt_blinded(&mut OsRng, Oaep::new_with_label::<D, _>(label), ciphertext),
    });
    decrypted.map_err(|_| CryptoError::new("RSA-OAEP decryption failed"))
}

/// The hash to pad with (none: PKCS#1 v1.5 without DigestInfo) and the
/// digest to sign.
fn digest<'m>(
    message: &'m [u8],
    options: &SignOptions,
) -> Result<(Option<HashAlgorithm>, Cow<'m, [u8]>), CryptoError> {
    if !options.prehashed {
        let algorithm = options.hash.unwrap_or(DEFAULT_HASH);
        return Ok((Some(algorithm), Cow::Owned(hash(algorithm, message))));
    }
    let algorithm = match (options.hash, options.padding) {
        (Some(algorithm), _) => algorithm,
        (None, RsaPadding::Pkcs1v15) => return Ok((None, Cow::Borrowed(message))),
        (None, RsaPadding::Pss) => DEFAULT_HASH,
    };
    if message.len() != algorithm.output_len() {
        return Err(CryptoError::new(format!(
            "prehashed input is {} bytes but {algorithm} digests are {} bytes",
            message.len(),
            algorithm.output_len()
        )));
    }
    Ok((Some(algorithm), Cow::Borrowed(message)))
}

/// The DER DigestInfo of `digest`, a digest by `algorithm`: what
/// PKCS#1 v1.5 pads and signs.
pub(super) fn digest_info(algorithm: HashAlgorithm, digest: &[u8]) -> Vec<u8> {
    let mut encoded = digest_info_prefix(algorithm);
    encoded.extend_from_slice(digest);
    encoded
}

/// PKCS#1 v1.5 padding with the DigestInfo of `algorithm`.
fn pkcs1v15_scheme(algorithm: HashAlgorithm) -> Pkcs1v15Sign {
    Pkcs1v15Sign {
        hash_len: Some(algorithm.output_len()),
        prefix: digest_info_prefix(algorithm).into_boxed_slice(),
    }
}

/// The DER DigestInfo (RFC 8017 §9.2) up to the digest itself:
/// `SEQUENCE { SEQUENCE { OID, NULL }, OCTET STRING (len) }`.
fn digest_info_prefix(algorithm: HashAlgorithm) -> Vec<u8> {
    // The OID's content octets; all the NIST ones share the arc
    // 2.16.840.1.101.3.4.2.
    const NIST: [u8; 8] = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02];
    let nist = |last: u8| {
        let mut oid = NIST.to_vec();
        oid.push(last);
        oid
    };
    let oid = match algorithm {
        HashAlgorithm::Sha1 => vec![0x2b, 0x0e, 0x03, 0x02, 0x1a], // 1.3.14.3.2.26
        HashAlgorithm::Sha256 => nist(1),
        HashAlgorithm::Sha384 => nist(2),
        HashAlgorithm::Sha512 => nist(3),
        HashAlgorithm::Sha224 => nist(4),
        HashAlgorithm::Sha512_256 => nist(6),
        HashAlgorithm::Sha3_224 => nist(7),
        HashAlgorithm::Sha3_256 => nist(8),
        HashAlgorithm::Sha3_384 => nist(9),
        HashAlgorithm::Sha3_512 => nist(10),
    };
    // Every length here is below 128, so each fits one short-form octet:
    // the OID is at most 9 bytes and the digest at most 64.
    let oid_len = u8::try_from(oid.len()).unwrap_or(u8::MAX);
    let digest_len = u8::try_from(algorithm.output_len()).unwrap_or(u8::MAX);
    let algorithm_id_len = oid_len.saturating_add(4); // 06 len OID 05 00
    let total = algorithm_id_len
        .saturating_add(2)
        .saturating_add(2)
        .saturating_add(digest_len);
    let mut prefix = vec![0x30, total, 0x30, algorithm_id_len, 0x06, oid_len];
    prefix.extend_from_slice(&oid);
    prefix.extend_from_slice(&[0x05, 0x00, 0x04, digest_len]);
    prefix
}

/// The longest PSS salt a key of `modulus_bits` allows with `algorithm`:
/// emLen − hLen − 2 (RFC 8017 §9.1.1), emLen = ⌈(modBits − 1) / 8⌉.
fn max_salt_len(modulus_bits: usize, algorithm: HashAlgorithm) -> Option<usize> {
    let em_len = modulus_bits.checked_sub(1)?.div_ceil(8);
    em_len.checked_sub(algorithm.output_len())?.checked_sub(2)
}

/// The salt length a PSS `signature` was made with, read from its encoded
/// message (RFC 8017 §9.1.2 steps 1–10), or none if it is not a PSS
/// signature under `key`. The signature is then checked in full by `rsa`.
fn pss_salt_len(key: &RsaPublicKey, signature: &[u8], algorithm: HashAlgorithm) -> Option<usize> {
    if signature.len() != key.size() {
        return None;
    }
    let s = BigUint::from_bytes_be(signature);
    if &s >= key.n() {
        return None;
    }
    let m = s.modpow(key.e(), key.n()).to_bytes_be();
    let em_bits = key.n().bits().checked_sub(1)?;
    let em_len = em_bits.div_ceil(8);
    // EM is m on em_len bytes: m must fit.
    let mut em = vec![0u8; em_len.checked_sub(m.len())?];
    em.extend_from_slice(&m);
    let h_len = algorithm.output_len();
    if em.last() != Some(&0xbc) {
        return None;
    }
    let db_len = em_len.checked_sub(h_len)?.checked_sub(1)?;
    let (masked_db, rest) = em.split_at_checked(db_len)?;
    let h = rest.get(..h_len)?;
    let mask = mgf1(algorithm, h, db_len);
    let mut db: Vec<u8> = masked_db.iter().zip(&mask).map(|(a, b)| a ^ b).collect();
    // Clear the leftmost 8·emLen − emBits bits (0 to 7).
    let unused = u32::try_from(em_len.checked_mul(8)?.checked_sub(em_bits)?).ok()?;
    if let Some(first) = db.first_mut() {
        *first &= 0xffu8.checked_shr(unused)?;
    }
    let start = db.iter().position(|b| *b != 0)?;
    if db.get(start) != Some(&0x01) {
        return None;
    }
    db.len().checked_sub(start)?.checked_sub(1)
}

/// `rsa` takes labels as text; the WIT takes bytes.
fn oaep_label(label: Option<&[u8]>) -> Result<Option<String>, CryptoError> {
    label
        .map(|label| {
            String::from_utf8(label.to_vec())
                .map_err(|_| CryptoError::new("RSA-OAEP labels must be valid UTF-8 text"))
        })
        .transpose()
}
