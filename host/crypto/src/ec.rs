//! ECDSA over NIST P-256, P-384 and P-521: one module per curve, all made by
//! the same macro, plus the message-to-digest rules they share.

use std::borrow::Cow;

use super::hash::hash;
use super::{CryptoError, HashAlgorithm, SignOptions};

/// The digest ECDSA signs for `message` under `options`, as a big-endian
/// integer on exactly `field_len` bytes (the curve's field size) and no
/// longer than `order_bits` bits, as SEC1 §4.1.3 step 5 (and RFC 6979's
/// bits2int) reduce a hash. Shorter digests are left-padded, which keeps
/// their value; longer ones keep their leftmost `order_bits` bits.
fn digest(
    message: &[u8],
    options: &SignOptions,
    order_bits: usize,
) -> Result<Vec<u8>, CryptoError> {
    let digest = if options.prehashed {
        if message.is_empty() {
            return Err(CryptoError::new("prehashed input must not be empty"));
        }
        Cow::Borrowed(message)
    } else {
        Cow::Owned(hash(options.hash.unwrap_or(HashAlgorithm::Sha256), message))
    };
    Ok(bits2int(&digest, order_bits))
}

/// `input`'s leftmost `order_bits` bits as a big-endian integer on
/// ⌈order_bits / 8⌉ bytes.
fn bits2int(input: &[u8], order_bits: usize) -> Vec<u8> {
    let field_len = order_bits.div_ceil(8);
    if input.len() <= field_len && input.len().saturating_mul(8) <= order_bits {
        let mut out = vec![0u8; field_len.saturating_sub(input.len())];
        out.extend_from_slice(input);
        return out;
    }
    // Keep field_len bytes, then shift right by the bits beyond order_bits
    // (0 to 7; 7 for P-521's 521 bits in 66 bytes).
    let shift = field_len.saturating_mul(8).saturating_sub(order_bits);
    let shift = u32::try_from(shift).unwrap_or(0).min(7);
    let mut out = Vec::with_capacity(field_len);
    let mut previous = 0u8;
    for byte in input.iter().take(field_len) {
        let pair = (u16::from(previous) << 8) | u16::from(*byte);
        let [_, low] = (pair >> shift).to_be_bytes();
        out.push(low);
        previous = *byte;
    }
    out
}

macro_rules! curve {
    ($module:ident, $krate:ident, $curve:ident, $key_type:expr, $order_bits:expr) => {
        pub(super) mod $module {
            use ::rand::rngs::OsRng;
            use ::sec1::der::pem::LineEnding;
            use ::sec1::der::Encode;
            use ::sec1::{EcParameters, EcPrivateKey};
            use ::$krate::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
            use ::$krate::ecdsa::{Signature, SigningKey, VerifyingKey};
            use ::$krate::elliptic_curve::zeroize::Zeroizing;
            use ::$krate::pkcs8::{
                AssociatedOid, DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey,
            };
            use ::$krate::{PublicKey, SecretKey};

            use $crate::{CryptoError, KeyType, SignOptions, SignatureEncoding};

            /// The key type this module handles.
            const KEY_TYPE: KeyType = $key_type;
            /// The bit length of the curve's order.
            const ORDER_BITS: usize = $order_bits;

            /// A private key.
            pub(crate) type Private = SigningKey;
            /// A public key.
            pub(crate) type Public = VerifyingKey;

            /// A new random key.
            pub(crate) fn generate() -> Private {
                SigningKey::random(&mut OsRng)
            }

            /// Parses a PKCS#8 `PrivateKeyInfo` for this curve.
            pub(crate) fn import_pkcs8(der: &[u8]) -> Result<Private, CryptoError> {
                let secret = SecretKey::from_pkcs8_der(der).map_err(|e| {
                    CryptoError::new(format!("invalid PKCS#8 {KEY_TYPE} private key: {e}"))
                })?;
                from_secret(&secret)
            }

            /// Parses a SEC1 `ECPrivateKey`, which must name this curve if
            /// it names one.
            pub(crate) fn import_sec1(der: &[u8]) -> Result<Private, CryptoError> {
                let key = EcPrivateKey::try_from(der).map_err(|e| {
                    CryptoError::new(format!("invalid SEC1 {KEY_TYPE} private key: {e}"))
                })?;
                let curve = key.parameters.and_then(|params| params.named_curve());
                if key.parameters.is_some() && curve != Some($krate::$curve::OID) {
                    return Err(CryptoError::new(format!(
                        "the SEC1 private key is not on the curve of {KEY_TYPE}"
                    )));
                }
                if key.private_key.len() != ORDER_BITS.div_ceil(8) {
                    return Err(CryptoError::new(format!(
                        "the SEC1 private key is {} bytes, not a {KEY_TYPE} key",
                        key.private_key.len()
                    )));
                }
                let secret = SecretKey::try_from(key).map_err(|_| {
                    CryptoError::new(format!("invalid SEC1 {KEY_TYPE} private key"))
                })?;
                from_secret(&secret)
            }

            /// PKCS#8 DER, version 1.
            pub(crate) fn export_pkcs8(key: &Private) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
                let document = secret(key)
                    .to_pkcs8_der()
                    .map_err(|e| CryptoError::new(format!("cannot encode the key: {e}")))?;
                Ok(Zeroizing::new(document.as_bytes().to_vec()))
            }

            /// SEC1 PEM naming the curve, with the public point, as OpenSSL
            /// writes it.
            pub(crate) fn export_sec1_pem(key: &Private) -> Result<Zeroizing<String>, CryptoError> {
                let secret = secret(key);
                let scalar = Zeroizing::new(secret.to_bytes().to_vec());
                let point = VerifyingKey::from(key).to_encoded_point(false);
                let der = EcPrivateKey {
                    private_key: &scalar,
                    parameters: Some(EcParameters::from($krate::$curve::OID)),
                    public_key: Some(point.as_bytes()),
                }
                .to_der()
                .map(Zeroizing::new)
                .map_err(|e| CryptoError::new(format!("cannot encode the key: {e}")))?;
                ::sec1::der::pem::encode_string("EC PRIVATE KEY", LineEnding::LF, &der)
                    .map(Zeroizing::new)
                    .map_err(|e| CryptoError::new(format!("cannot encode the key: {e}")))
            }

            /// The public half.
            pub(crate) fn public(key: &Private) -> Public {
                VerifyingKey::from(key)
            }

            /// Parses a SubjectPublicKeyInfo for this curve.
            pub(crate) fn import_spki(der: &[u8]) -> Result<Public, CryptoError> {
                let key = PublicKey::from_public_key_der(der)
                    .map_err(|e| CryptoError::new(format!("invalid {KEY_TYPE} public key: {e}")))?;
                from_public(&key)
            }

            /// Parses a SEC1 point, compressed or not.
            pub(crate) fn import_point(bytes: &[u8]) -> Result<Public, CryptoError> {
                let key = PublicKey::from_sec1_bytes(bytes)
                    .map_err(|_| CryptoError::new(format!("invalid {KEY_TYPE} public key: not a SubjectPublicKeyInfo or SEC1 point")))?;
                from_public(&key)
            }

            /// SubjectPublicKeyInfo DER.
            pub(crate) fn export_spki(key: &Public) -> Result<Vec<u8>, CryptoError> {
                PublicKey::from_affine(*key.as_affine())
                    .map_err(|_| CryptoError::new("the public key is the identity point"))?
                    .to_public_key_der()
                    .map(|document| document.into_vec())
                    .map_err(|e| CryptoError::new(format!("cannot encode the key: {e}")))
            }

            /// The uncompressed SEC1 point.
            pub(crate) fn export_point(key: &Public) -> Vec<u8> {
                key.to_encoded_point(false).as_bytes().to_vec()
            }

            /// Signs `message` as `options` say.
            pub(crate) fn sign(
                key: &Private,
                message: &[u8],
                options: &SignOptions,
            ) -> Result<Vec<u8>, CryptoError> {
                let digest = super::digest(message, options, ORDER_BITS)?;
                let signature: Signature = key
                    .sign_prehash(&digest)
                    .map_err(|_| CryptoError::new(format!("{KEY_TYPE} signing failed")))?;
                Ok(match options.encoding {
                    SignatureEncoding::Asn1 => signature.to_der().as_bytes().to_vec(),
                    SignatureEncoding::Fixed => signature.to_bytes().to_vec(),
                })
            }

            /// Whether `signature`, encoded as `options` say, is valid for
            /// `message`.
            pub(crate) fn verify(
                key: &Public,
                message: &[u8],
                signature: &[u8],
                options: &SignOptions,
            ) -> Result<bool, CryptoError> {
                let digest = super::digest(message, options, ORDER_BITS)?;
                let signature = match options.encoding {
                    SignatureEncoding::Asn1 => Signature::from_der(signature),
                    SignatureEncoding::Fixed => Signature::from_slice(signature),
                };
                let Ok(signature) = signature else {
                    return Ok(false);
                };
                Ok(key.verify_prehash(&digest, &signature).is_ok())
            }

            fn from_secret(secret: &SecretKey) -> Result<Private, CryptoError> {
                SigningKey::from_bytes(&secret.to_bytes())
                    .map_err(|_| CryptoError::new(format!("invalid {KEY_TYPE} private key")))
            }

            fn from_public(key: &PublicKey) -> Result<Public, CryptoError> {
                VerifyingKey::from_affine(*key.as_affine())
                    .map_err(|_| CryptoError::new(format!("invalid {KEY_TYPE} public key")))
            }

            fn secret(key: &Private) -> SecretKey {
                SecretKey::from(*key.as_nonzero_scalar())
            }
        }
    };
}

curve!(p256, p256, NistP256, KeyType::EcdsaP256, 256);
curve!(p384, p384, NistP384, KeyType::EcdsaP384, 384);
curve!(p521, p521, NistP521, KeyType::EcdsaP521, 521);
