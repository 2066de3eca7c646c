//! ECDSA over NIST P-256, P-384 and P-521: one module per curve, all made by
//! the same macro, plus the message-to-digest rules they share.

use std::borrow::Cow;

use super::hash::hash;
use super::{CryptoError, HashAlgorithm, KeyType, SignOptions, SignatureEncoding};

/// The digest ECDSA signs for `message` under `options`, as a big-endian
/// integer on exactly `field_len` bytes (the curve's field size) and no
/// longer than `order_bits` bits, as SEC1 §4.1.3 step 5 (and RFC 6979's
/// bits2int) reduce a hash. Shorter digests are left-padded, which keeps
/// their value; longer ones keep their leftmost `order_bits` bits.
pub(crate) fn digest(
    message: &[u8],
    options: &SignOptions,
    key_type: KeyType,
) -> Result<Vec<u8>, CryptoError> {
    let order_bits = match key_type {
        KeyType::EcdsaP384 => p384::ORDER_BITS,
        KeyType::EcdsaP521 => p521::ORDER_BITS,
        _ => p256::ORDER_BITS,
    };
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

            use $crate::{CryptoError, KeyType, SignatureEncoding};

            /// The key type this module handles.
            const KEY_TYPE: KeyType = $key_type;
            /// The bit length of the curve's order.
            pub(crate) const ORDER_BITS: usize = $order_bits;

            /// A private key.
            pub(crate) type Private = SigningKey;
            /// A public key.
            pub(crate) type Public = VerifyingKey;

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

            /// Signs `field` (the reduced digest, see `super::digest`).
            pub(crate) fn sign(
                key: &Private,
                field: &[u8],
                encoding: SignatureEncoding,
            ) -> Result<Vec<u8>, CryptoError> {
                let signature: Signature = key
                    .sign_prehash(field)
                    .map_err(|_| CryptoError::new(format!("{KEY_TYPE} signing failed")))?;
                Ok(encode(&signature, encoding))
            }

            /// Whether `signature` is valid for `field` (the reduced
            /// digest).
            pub(crate) fn verify(key: &Public, field: &[u8], signature: &Signature) -> bool {
                key.verify_prehash(field, signature).is_ok()
            }

            /// `signature` read as `encoding` says; none if malformed.
            pub(crate) fn parse(signature: &[u8], encoding: SignatureEncoding) -> Option<Signature> {
                match encoding {
                    SignatureEncoding::Asn1 => Signature::from_der(signature),
                    SignatureEncoding::Fixed => Signature::from_slice(signature),
                }
                .ok()
            }

            /// `signature` encoded as `encoding` says.
            pub(crate) fn encode(signature: &Signature, encoding: SignatureEncoding) -> Vec<u8> {
                match encoding {
                    SignatureEncoding::Asn1 => signature.to_der().as_bytes().to_vec(),
                    SignatureEncoding::Fixed => signature.to_bytes().to_vec(),
                }
            }

            /// The private scalar, big-endian on the field's width.
            pub(crate) fn scalar(key: &Private) -> Zeroizing<Vec<u8>> {
                Zeroizing::new(key.to_bytes().to_vec())
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

/// Runs `$body` with `$m` naming the curve module of `$key_type` (an ECDSA
/// type; anything else is P-256's, which callers never pass).
macro_rules! with_curve {
    ($key_type:expr, $m:ident => $body:expr) => {
        match $key_type {
            KeyType::EcdsaP384 => {
                use self::p384 as $m;
                $body
            }
            KeyType::EcdsaP521 => {
                use self::p521 as $m;
                $body
            }
            _ => {
                use self::p256 as $m;
                $body
            }
        }
    };
}

/// An ASN.1 DER signature made by the fast path, as `encoding` says.
pub(crate) fn reencode(
    key_type: KeyType,
    der: &[u8],
    encoding: SignatureEncoding,
) -> Result<Vec<u8>, CryptoError> {
    if encoding == SignatureEncoding::Asn1 {
        return Ok(der.to_vec());
    }
    with_curve!(key_type, m => m::parse(der, SignatureEncoding::Asn1)
        .map(|signature| m::encode(&signature, encoding))
        .ok_or_else(|| CryptoError::new(format!("{key_type} signing failed"))))
}

/// `signature`, read as `encoding` says, in canonical DER; none if it is
/// malformed (which makes it invalid, whichever path checks it).
pub(crate) fn canonical_der(
    key_type: KeyType,
    signature: &[u8],
    encoding: SignatureEncoding,
) -> Option<Vec<u8>> {
    with_curve!(key_type, m => m::parse(signature, encoding)
        .map(|signature| m::encode(&signature, SignatureEncoding::Asn1)))
}
