//! Signatures made outside this process: what an HSM (PKCS#11) or a cloud
//! KMS is given to sign, and how its answer is brought to the caller's
//! encoding. The rules for [`SignOptions`] (which hash, what `prehashed`
//! means, the PSS salt) are the software keys' own (`rsa.rs`), so a
//! managed key signs exactly what a software key of its type would.
//!
//! An external signer takes a digest, not the message: RSA PKCS#1 v1.5 is
//! given the DigestInfo to pad (PKCS#11's `CKM_RSA_PKCS`), RSA-PSS and
//! ECDSA the digest itself with the hash named, so the device applies the
//! standard's own truncation for ECDSA.

use std::borrow::Cow;

use crate::rsa::DEFAULT_HASH as DEFAULT_SIGN_HASH;
use crate::SignatureEncoding;
use crate::{ec, hash, rsa, CryptoError, HashAlgorithm, KeyType, RsaPadding, SignOptions};

/// What an external signer is asked to sign (see the module's doc).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExternalSignature {
    /// RSASSA-PKCS1-v1_5: pad `encoded` (a DigestInfo, or the caller's
    /// input as it is when `hash` is none) and sign it raw.
    RsaPkcs1 {
        /// The hash the DigestInfo names; none for unprefixed input.
        hash: Option<HashAlgorithm>,
        /// What is padded and signed.
        encoded: Vec<u8>,
    },
    /// RSASSA-PSS over `digest`, with `hash` for MGF1 too.
    RsaPss {
        /// The hash.
        hash: HashAlgorithm,
        /// The message's digest.
        digest: Vec<u8>,
        /// The salt's length in bytes.
        salt_len: usize,
    },
    /// ECDSA over `digest` (the signer truncates it to the curve's order).
    Ecdsa {
        /// The hash (for signers that must be told which).
        hash: HashAlgorithm,
        /// The message's digest, or the caller's prehashed input.
        digest: Vec<u8>,
    },
}

/// What a `key_type` key's external signer must sign for `message` and
/// `options`, checked as a software key would check them. Ed25519 is
/// refused: no backend this host speaks to signs it.
pub fn prepare_external(
    key_type: KeyType,
    message: &[u8],
    options: &SignOptions,
) -> Result<ExternalSignature, CryptoError> {
    if let Some(bits) = key_type.rsa_bits() {
        let prepared = rsa::prepare(message, options, bits)?;
        return Ok(match prepared.padding {
            RsaPadding::Pkcs1v15 => ExternalSignature::RsaPkcs1 {
                hash: prepared.algorithm,
                encoded: match prepared.algorithm {
                    Some(algorithm) => rsa::digest_info(algorithm, &prepared.digest),
                    None => prepared.digest.into_owned(),
                },
            },
            RsaPadding::Pss => ExternalSignature::RsaPss {
                hash: prepared.algorithm.unwrap_or(DEFAULT_SIGN_HASH),
                digest: prepared.digest.into_owned(),
                salt_len: prepared.salt_len,
            },
        });
    }
    if key_type == KeyType::Ed25519 {
        return Err(CryptoError::new(
            "Ed25519 keys cannot be held by an external signer",
        ));
    }
    let algorithm = options.hash.unwrap_or(DEFAULT_SIGN_HASH);
    let digest = if options.prehashed {
        if message.is_empty() {
            return Err(CryptoError::new("prehashed input must not be empty"));
        }
        Cow::Borrowed(message)
    } else {
        Cow::Owned(hash(algorithm, message))
    };
    Ok(ExternalSignature::Ecdsa {
        hash: algorithm,
        digest: digest.into_owned(),
    })
}

/// An ECDSA signature an external signer gave as fixed-width `r || s`
/// (PKCS#11), in `encoding`; an error if it is malformed.
pub fn ecdsa_from_fixed(
    key_type: KeyType,
    signature: &[u8],
    encoding: SignatureEncoding,
) -> Result<Vec<u8>, CryptoError> {
    let der = ec::canonical_der(key_type, signature, SignatureEncoding::Fixed)
        .ok_or_else(|| CryptoError::new("the external signer's ECDSA signature is malformed"))?;
    ec::reencode(key_type, &der, encoding)
}

/// An ECDSA signature an external signer gave as DER (cloud KMSs), in
/// `encoding`; an error if it is malformed.
pub fn ecdsa_from_der(
    key_type: KeyType,
    signature: &[u8],
    encoding: SignatureEncoding,
) -> Result<Vec<u8>, CryptoError> {
    let der = ec::canonical_der(key_type, signature, SignatureEncoding::Asn1)
        .ok_or_else(|| CryptoError::new("the external signer's ECDSA signature is malformed"))?;
    ec::reencode(key_type, &der, encoding)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    //! The prepared inputs are signed here by RustCrypto directly (standing
    //! in for a device) and checked with the host's own verification, so a
    //! wrong DigestInfo, salt or truncation fails.

    use ::rsa::pkcs8::DecodePrivateKey;
    use ::rsa::{Pkcs1v15Sign, Pss, RsaPrivateKey};
    use p384::ecdsa::signature::hazmat::PrehashSigner;

    use super::*;
    use crate::{PrivateKey, PrivateKeyFormat};

    fn options(padding: RsaPadding, hash: Option<HashAlgorithm>) -> SignOptions {
        SignOptions {
            hash,
            padding,
            ..SignOptions::default()
        }
    }

    #[test]
    fn rsa_inputs_verify_as_software_signatures() {
        let key = PrivateKey::generate(KeyType::Rsa2048).unwrap();
        let der = key.export(PrivateKeyFormat::Pkcs8Der).unwrap();
        let device = RsaPrivateKey::from_pkcs8_der(&der).unwrap();
        let public = key.public_key();
        let message = b"signed by a device";
        for hash in [
            None,
            Some(HashAlgorithm::Sha384),
            Some(HashAlgorithm::Sha512),
        ] {
            let o = options(RsaPadding::Pkcs1v15, hash);
            let ExternalSignature::RsaPkcs1 { encoded, .. } =
                prepare_external(KeyType::Rsa2048, message, &o).unwrap()
            else {
                panic!("not PKCS#1")
            };
            let signature = device
                .sign(Pkcs1v15Sign::new_unprefixed(), &encoded)
                .unwrap();
            assert!(public.verify(message, &signature, &o).unwrap(), "{hash:?}");
            let o = options(RsaPadding::Pss, hash);
            let ExternalSignature::RsaPss {
                hash: h,
                digest,
                salt_len,
            } = prepare_external(KeyType::Rsa2048, message, &o).unwrap()
            else {
                panic!("not PSS")
            };
            assert_eq!(salt_len, 256 - h.output_len() - 2, "the longest salt");
            let signature = match h {
                HashAlgorithm::Sha256 => device.sign_with_rng(
                    &mut rand::thread_rng(),
                    Pss::new_with_salt::<sha2::Sha256>(salt_len),
                    &digest,
                ),
                HashAlgorithm::Sha384 => device.sign_with_rng(
                    &mut rand::thread_rng(),
                    Pss::new_with_salt::<sha2::Sha384>(salt_len),
                    &digest,
                ),
                _ => device.sign_with_rng(
                    &mut rand::thread_rng(),
                    Pss::new_with_salt::<sha2::Sha512>(salt_len),
                    &digest,
                ),
            }
            .unwrap();
            assert!(public.verify(message, &signature, &o).unwrap(), "{hash:?}");
        }
    }

    #[test]
    fn ecdsa_inputs_and_answers_verify() {
        let key = PrivateKey::generate(KeyType::EcdsaP384).unwrap();
        let der = key.export(PrivateKeyFormat::Pkcs8Der).unwrap();
        let device = p384::ecdsa::SigningKey::from_pkcs8_der(&der).unwrap();
        let public = key.public_key();
        let message = b"signed by a device";
        // SHA-512 is longer than P-384's order: the device truncates.
        for hash in [HashAlgorithm::Sha256, HashAlgorithm::Sha512] {
            let o = SignOptions {
                hash: Some(hash),
                ..SignOptions::default()
            };
            let ExternalSignature::Ecdsa { digest, .. } =
                prepare_external(KeyType::EcdsaP384, message, &o).unwrap()
            else {
                panic!("not ECDSA")
            };
            assert_eq!(digest.len(), hash.output_len());
            let signature: p384::ecdsa::Signature = device.sign_prehash(&digest).unwrap();
            let fixed = signature.to_bytes().to_vec();
            for encoding in [SignatureEncoding::Asn1, SignatureEncoding::Fixed] {
                let o = SignOptions { encoding, ..o };
                let answer = ecdsa_from_fixed(KeyType::EcdsaP384, &fixed, encoding).unwrap();
                assert!(public.verify(message, &answer, &o).unwrap());
                let from_der =
                    ecdsa_from_der(KeyType::EcdsaP384, signature.to_der().as_bytes(), encoding)
                        .unwrap();
                assert_eq!(from_der, answer);
            }
        }
        assert!(ecdsa_from_fixed(KeyType::EcdsaP384, &[1, 2, 3], SignatureEncoding::Asn1).is_err());
        assert!(prepare_external(KeyType::Ed25519, b"x", &SignOptions::default()).is_err());
    }
}
