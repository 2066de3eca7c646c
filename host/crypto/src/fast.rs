//! The fast paths: ECDSA and RSA over `aws-lc-rs` (AWS-LC, whose P-256,
//! P-384, P-521 and RSA arithmetic is constant-time assembly), for the
//! parameters its safe API takes.
//!
//! Each function either answers for the parameters given or says
//! [`None`], and the portable RustCrypto code (`ec.rs`, `rsa.rs`) then
//! answers instead. Both paths compute the same function: the digest, its
//! reduction to the curve's size and the checks on input are made before
//! either runs (in `keys.rs`), so a result never depends on the path taken,
//! only its speed. What is left to RustCrypto and why:
//! - ECDSA over an input that, reduced to the curve's size, is wider than
//!   AWS-LC's widest digest (P-521 with a prehashed input over 64 bytes);
//! - RSA signatures with a hash other than SHA-256/384/512, PKCS#1 v1.5
//!   without a DigestInfo, or a PSS salt length other than the digest's or
//!   the longest; RSA verification (PSS of any salt length, which AWS-LC's
//!   safe API cannot check) and OAEP;
//! - every key encoding (PKCS#8, SEC1, PKCS#1, SPKI, PEM), so that parsing,
//!   its error messages and the bytes written stay as they were;
//! - Ed25519 key generation and verification (`ed25519-dalek` is as fast
//!   or faster there; AWS-LC signs, twice as fast).

use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, EcdsaSigningAlgorithm, EcdsaVerificationAlgorithm, KeyPair,
    ParsedPublicKey, RsaKeyPair, RsaPssSaltLength, RsaSignatureEncoding,
};
use p256::elliptic_curve::zeroize::Zeroizing;

use super::{CryptoError, HashAlgorithm, KeyType, RsaPadding};

/// The NIST curves, with the AWS-LC algorithms whose digest is as wide as
/// the curve (or, for P-521, as wide as AWS-LC's widest digest).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    pub(crate) fn of(key_type: KeyType) -> Option<Curve> {
        match key_type {
            KeyType::EcdsaP256 => Some(Curve::P256),
            KeyType::EcdsaP384 => Some(Curve::P384),
            KeyType::EcdsaP521 => Some(Curve::P521),
            _ => None,
        }
    }

    fn signing(self) -> &'static EcdsaSigningAlgorithm {
        match self {
            Curve::P256 => &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            Curve::P384 => &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
            Curve::P521 => &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
        }
    }

    fn verification(self) -> &'static EcdsaVerificationAlgorithm {
        match self {
            Curve::P256 => &signature::ECDSA_P256_SHA256_ASN1,
            Curve::P384 => &signature::ECDSA_P384_SHA384_ASN1,
            Curve::P521 => &signature::ECDSA_P521_SHA512_ASN1,
        }
    }

    fn digest(self) -> &'static digest::Algorithm {
        match self {
            Curve::P256 => &digest::SHA256,
            Curve::P384 => &digest::SHA384,
            Curve::P521 => &digest::SHA512,
        }
    }

    /// `field` (the input already reduced to the curve's field size, as
    /// `ec::digest` makes it) as an AWS-LC digest of the same value, if
    /// one fits: the same bytes for P-256 and P-384; for P-521 (66 bytes),
    /// the low 64 when the top two are zero.
    fn as_digest(self, field: &[u8]) -> Option<Digest> {
        let width = self.digest().output_len();
        let (high, low) = field.split_at_checked(field.len().checked_sub(width)?)?;
        if high.iter().any(|b| *b != 0) {
            return None;
        }
        Digest::import_less_safe(low, self.digest()).ok()
    }
}

/// An ECDSA private key in AWS-LC.
#[derive(Clone)]
pub(crate) struct EcPrivate {
    pair: EcdsaKeyPair,
    curve: Curve,
}

impl EcPrivate {
    /// A new random key and its uncompressed public point.
    pub(crate) fn generate(curve: Curve) -> Result<(EcPrivate, Vec<u8>), CryptoError> {
        let pair = EcdsaKeyPair::generate(curve.signing())
            .map_err(|_| CryptoError::new("ECDSA key generation failed"))?;
        let point = pair.public_key().as_ref().to_vec();
        Ok((EcPrivate { pair, curve }, point))
    }

    /// The key with private scalar `scalar` (big-endian, the field's width)
    /// and uncompressed public point `point`, both already checked by the
    /// portable parser; none if AWS-LC refuses them.
    pub(crate) fn from_parts(curve: Curve, scalar: &[u8], point: &[u8]) -> Option<EcPrivate> {
        EcdsaKeyPair::from_private_key_and_public_key(curve.signing(), scalar, point)
            .ok()
            .map(|pair| EcPrivate { pair, curve })
    }

    /// PKCS#8 DER (version 1), from which the portable key is built when
    /// one is needed.
    pub(crate) fn pkcs8(&self) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        self.pair
            .to_pkcs8v1()
            .map(|document| Zeroizing::new(document.as_ref().to_vec()))
            .map_err(|_| CryptoError::new("cannot encode the key"))
    }

    /// SEC1 `ECPrivateKey` DER with the named curve and the public point
    /// (what `EC PRIVATE KEY` PEM holds), written from AWS-LC's scalar and
    /// point: no point multiplication, unlike a detour through the portable
    /// key.
    pub(crate) fn sec1_der(&self) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        use aws_lc_rs::encoding::AsBigEndian;
        use p256::pkcs8::AssociatedOid;
        use sec1::der::Encode;
        let fail = |e: String| CryptoError::new(format!("cannot encode the key: {e}"));
        let scalar = self
            .pair
            .private_key()
            .as_be_bytes()
            .map_err(|_| fail("no scalar".into()))?;
        let oid = match self.curve {
            Curve::P256 => p256::NistP256::OID,
            Curve::P384 => p384::NistP384::OID,
            Curve::P521 => p521::NistP521::OID,
        };
        sec1::EcPrivateKey {
            private_key: scalar.as_ref(),
            parameters: Some(sec1::EcParameters::NamedCurve(oid)),
            public_key: Some(self.pair.public_key().as_ref()),
        }
        .to_der()
        .map(Zeroizing::new)
        .map_err(|e| fail(e.to_string()))
    }

    /// An ASN.1 DER signature over `field` (see [`Curve::as_digest`]), or
    /// none if `field` has no AWS-LC digest.
    pub(crate) fn sign(&self, field: &[u8]) -> Option<Result<Vec<u8>, CryptoError>> {
        let digest = self.curve.as_digest(field)?;
        Some(
            self.pair
                .sign_digest(&digest)
                .map(|signature| signature.as_ref().to_vec())
                .map_err(|_| CryptoError::new("ECDSA signing failed")),
        )
    }
}

/// An ECDSA public key in AWS-LC, parsed once.
#[derive(Clone)]
pub(crate) struct EcPublic {
    parsed: ParsedPublicKey,
    curve: Curve,
}

impl EcPublic {
    /// The key at uncompressed point `point`, already checked by the
    /// portable parser; none if AWS-LC refuses it.
    pub(crate) fn from_point(curve: Curve, point: &[u8]) -> Option<EcPublic> {
        ParsedPublicKey::new(curve.verification(), point)
            .ok()
            .map(|parsed| EcPublic { parsed, curve })
    }

    /// SubjectPublicKeyInfo DER (named curve, uncompressed point), as
    /// AWS-LC writes it; none if it cannot.
    pub(crate) fn spki_der(&self) -> Option<Vec<u8>> {
        self.parsed.as_der().ok().map(|der| der.as_ref().to_vec())
    }

    /// Whether `der` (a canonical ASN.1 DER signature) is valid for
    /// `field`; none if `field` has no AWS-LC digest.
    pub(crate) fn verify(&self, field: &[u8], der: &[u8]) -> Option<bool> {
        let digest = self.curve.as_digest(field)?;
        Some(self.parsed.verify_digest_sig(&digest, der).is_ok())
    }
}

/// An RSA private key in AWS-LC.
#[derive(Clone)]
pub(crate) struct RsaPrivate {
    pair: RsaKeyPair,
}

/// The PSS encodings AWS-LC's safe API can sign with: a salt as long as
/// the digest, or the longest the key allows.
const PSS_SHA256_MAX: RsaSignatureEncoding =
    signature::RSA_PSS_SHA256.with_pss_salt_length(RsaPssSaltLength::Max);
const PSS_SHA384_MAX: RsaSignatureEncoding =
    signature::RSA_PSS_SHA384.with_pss_salt_length(RsaPssSaltLength::Max);
const PSS_SHA512_MAX: RsaSignatureEncoding =
    signature::RSA_PSS_SHA512.with_pss_salt_length(RsaPssSaltLength::Max);

/// How long a PSS salt is, in the terms AWS-LC can sign with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PssSalt {
    /// As long as the digest.
    Digest,
    /// The longest the key allows.
    Max,
    /// Any other length (left to RustCrypto).
    Other,
}

impl RsaPrivate {
    /// A new random key of `bits` (2048, 3072 or 4096) with exponent 65537.
    pub(crate) fn generate(bits: usize) -> Result<RsaPrivate, CryptoError> {
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            other => return Err(CryptoError::new(format!("no {other}-bit RSA keys"))),
        };
        RsaKeyPair::generate(size)
            .map(|pair| RsaPrivate { pair })
            .map_err(|_| CryptoError::new(format!("cannot generate an RSA-{bits} key")))
    }

    /// The key in PKCS#8 DER, already checked by the portable parser; none
    /// if AWS-LC refuses it.
    pub(crate) fn from_pkcs8(der: &[u8]) -> Option<RsaPrivate> {
        RsaKeyPair::from_pkcs8(der)
            .ok()
            .map(|pair| RsaPrivate { pair })
    }

    /// PKCS#8 DER, from which the portable key is built when needed.
    pub(crate) fn pkcs8(&self) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&self.pair)
            .map(|document| Zeroizing::new(document.as_ref().to_vec()))
            .map_err(|_| CryptoError::new("cannot encode the key"))
    }

    /// The public key as PKCS#1 `RSAPublicKey` DER.
    pub(crate) fn public_pkcs1(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// A signature over `digest` (a `hash` digest, checked for length by
    /// the caller), or none when AWS-LC's safe API cannot make it.
    pub(crate) fn sign(
        &self,
        padding: RsaPadding,
        hash: HashAlgorithm,
        salt: PssSalt,
        digest: &[u8],
    ) -> Option<Result<Vec<u8>, CryptoError>> {
        let (encoding, algorithm): (&'static RsaSignatureEncoding, &'static digest::Algorithm) =
            match (padding, hash, salt) {
                (RsaPadding::Pkcs1v15, HashAlgorithm::Sha256, _) => {
                    (&signature::RSA_PKCS1_SHA256, &digest::SHA256)
                }
                (RsaPadding::Pkcs1v15, HashAlgorithm::Sha384, _) => {
                    (&signature::RSA_PKCS1_SHA384, &digest::SHA384)
                }
                (RsaPadding::Pkcs1v15, HashAlgorithm::Sha512, _) => {
                    (&signature::RSA_PKCS1_SHA512, &digest::SHA512)
                }
                (RsaPadding::Pss, HashAlgorithm::Sha256, PssSalt::Digest) => {
                    (&signature::RSA_PSS_SHA256, &digest::SHA256)
                }
                (RsaPadding::Pss, HashAlgorithm::Sha384, PssSalt::Digest) => {
                    (&signature::RSA_PSS_SHA384, &digest::SHA384)
                }
                (RsaPadding::Pss, HashAlgorithm::Sha512, PssSalt::Digest) => {
                    (&signature::RSA_PSS_SHA512, &digest::SHA512)
                }
                (RsaPadding::Pss, HashAlgorithm::Sha256, PssSalt::Max) => {
                    (&PSS_SHA256_MAX, &digest::SHA256)
                }
                (RsaPadding::Pss, HashAlgorithm::Sha384, PssSalt::Max) => {
                    (&PSS_SHA384_MAX, &digest::SHA384)
                }
                (RsaPadding::Pss, HashAlgorithm::Sha512, PssSalt::Max) => {
                    (&PSS_SHA512_MAX, &digest::SHA512)
                }
                _ => return None,
            };
        let digest = Digest::import_less_safe(digest, algorithm).ok()?;
        let mut out = vec![0u8; self.pair.public_modulus_len()];
        Some(
            self.pair
                .sign_digest(encoding, &digest, &mut out)
                .map(|()| out)
                .map_err(|_| CryptoError::new("RSA signing failed")),
        )
    }
}

/// An Ed25519 private key in AWS-LC, which signs in half the time
/// `ed25519-dalek` takes (Ed25519 is deterministic: both give the same
/// signature). Verification stays with `ed25519-dalek`, the faster there.
#[derive(Clone)]
pub(crate) struct EdPrivate {
    pair: signature::Ed25519KeyPair,
}

impl EdPrivate {
    /// The key with this 32-byte seed and public key, already checked by
    /// the portable code; none if AWS-LC refuses them.
    pub(crate) fn from_seed(seed: &[u8], public: &[u8]) -> Option<EdPrivate> {
        signature::Ed25519KeyPair::from_seed_and_public_key(seed, public)
            .ok()
            .map(|pair| EdPrivate { pair })
    }

    /// The signature of `message`.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.pair
            .try_sign(message)
            .map(|signature| signature.as_ref().to_vec())
            .map_err(|_| CryptoError::new("Ed25519 signing failed"))
    }
}
