//! The two key resources: generation, parsing, encoding, and dispatch of
//! signatures and encryption to each algorithm.

use std::fmt;
use std::sync::OnceLock;

use ed25519_dalek::pkcs8::KeypairBytes;
use ed25519_dalek::{Signer, Verifier};
use p256::elliptic_curve::zeroize::Zeroizing;
use rand::rngs::OsRng;
use rsa::pkcs1::{
    DecodeRsaPrivateKey, DecodeRsaPublicKey, EncodeRsaPrivateKey, EncodeRsaPublicKey,
};
use rsa::pkcs8::der::pem::{self, LineEnding};
use rsa::pkcs8::spki::SubjectPublicKeyInfoRef;
use rsa::pkcs8::{
    AssociatedOid, DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey,
    ObjectIdentifier, PrivateKeyInfo,
};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};

use super::{
    ec, fast, rsa as rsa_ops, CryptoError, HashAlgorithm, KeyType, PrivateKeyFormat,
    PublicKeyFormat, SignOptions,
};

/// A private key held by the host (WIT `private-key`). Parsed once, with the
/// RSA CRT values precomputed and the public half kept, so that a caller
/// may keep it and use it repeatedly at no parsing cost.
///
/// ECDSA and RSA keys live in AWS-LC (`fast.rs`), which signs; their
/// RustCrypto form (`portable`) is made from it only when an operation or
/// an encoding the fast path lacks is first asked for. Keys parsed from
/// bytes are parsed by RustCrypto first (its checks and its error
/// messages), then handed to AWS-LC. Ed25519 keys are RustCrypto's only.
/// **Invariant:** `fast` or `portable` is set, and both hold the same key.
#[derive(Clone)]
pub struct PrivateKey {
    parts: Box<PrivateParts>,
}

#[derive(Clone)]
struct PrivateParts {
    fast: Option<FastPrivate>,
    portable: OnceLock<PrivateInner>,
    public: PublicKey,
}

/// A public key held by the host (WIT `public-key`). ECDSA keys also live
/// in AWS-LC, which checks signatures over the curve's own digest width.
#[derive(Clone)]
pub struct PublicKey {
    parts: Box<PublicParts>,
}

#[derive(Clone)]
struct PublicParts {
    key_type: KeyType,
    /// The portable key; for a key AWS-LC generated, built from `point`
    /// only when something needs it (see [`PublicKey::inner`]).
    inner: OnceLock<PublicInner>,
    /// The uncompressed point of an ECDSA key whose `inner` is built late.
    point: Option<Vec<u8>>,
    fast: Option<fast::EcPublic>,
}

#[derive(Clone)]
enum FastPrivate {
    Ec(fast::EcPrivate),
    Rsa(fast::RsaPrivate),
    Ed25519(fast::EdPrivate),
}

#[derive(Clone)]
enum PrivateInner {
    Rsa(Box<RsaPrivateKey>),
    P256(ec::p256::Private),
    P384(ec::p384::Private),
    P521(Box<ec::p521::Private>),
    Ed25519(Box<ed25519_dalek::SigningKey>),
}

#[derive(Clone)]
enum PublicInner {
    Rsa(Box<RsaPublicKey>),
    P256(ec::p256::Public),
    P384(ec::p384::Public),
    P521(Box<ec::p521::Public>),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl PrivateKey {
    /// A new random key of `key_type`. RSA generation takes a while.
    pub fn generate(key_type: KeyType) -> Result<Self, CryptoError> {
        if let Some(bits) = key_type.rsa_bits() {
            let key = fast::RsaPrivate::generate(bits)?;
            let public = RsaPublicKey::from_pkcs1_der(key.public_pkcs1())
                .map_err(|e| CryptoError::new(format!("cannot generate a {key_type} key: {e}")))?;
            return Ok(Self::from_parts(
                Some(FastPrivate::Rsa(key)),
                OnceLock::new(),
                PublicKey::new(key_type, PublicInner::Rsa(Box::new(public))),
            ));
        }
        if let Some(curve) = fast::Curve::of(key_type) {
            let (key, point) = fast::EcPrivate::generate(curve)?;
            return Ok(Self::from_parts(
                Some(FastPrivate::Ec(key)),
                OnceLock::new(),
                PublicKey::generated(key_type, curve, point)?,
            ));
        }
        let key = ed25519_dalek::SigningKey::generate(&mut OsRng);
        Ok(Self::from_portable(
            key_type,
            PrivateInner::Ed25519(Box::new(key)),
        ))
    }

    /// Parses a `key_type` key from PKCS#8 DER, PKCS#1 DER (RSA) or SEC1 DER
    /// (ECDSA), or any of them in PEM. The key must be of `key_type`,
    /// including the RSA modulus size. Encrypted keys are not supported.
    pub fn import(key_type: KeyType, encoded: &[u8]) -> Result<Self, CryptoError> {
        let (form, der) = decode_private(encoded)?;
        let der: &[u8] = &der;
        let form = match form {
            Some(form) => form,
            // Bare DER: PKCS#8 if it parses as such, else the type's own form.
            None if PrivateKeyInfo::try_from(der).is_ok() => PrivateForm::Pkcs8,
            None => match key_type {
                KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => PrivateForm::Pkcs1,
                KeyType::EcdsaP256 | KeyType::EcdsaP384 | KeyType::EcdsaP521 => PrivateForm::Sec1,
                KeyType::Ed25519 => PrivateForm::Pkcs8,
            },
        };
        if form == PrivateForm::Pkcs8 {
            if let Ok(info) = PrivateKeyInfo::try_from(der) {
                check_algorithm(
                    key_type,
                    info.algorithm.oid,
                    info.algorithm.parameters_oid().ok(),
                )?;
            }
        }
        let inner = match (key_type, form) {
            (KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096, PrivateForm::Pkcs8) => {
                rsa_private(
                    key_type,
                    RsaPrivateKey::from_pkcs8_der(der).map_err(|e| e.to_string()),
                )?
            }
            (KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096, PrivateForm::Pkcs1) => {
                rsa_private(
                    key_type,
                    RsaPrivateKey::from_pkcs1_der(der).map_err(|e| e.to_string()),
                )?
            }
            (KeyType::EcdsaP256, PrivateForm::Pkcs8) => {
                PrivateInner::P256(ec::p256::import_pkcs8(der)?)
            }
            (KeyType::EcdsaP256, PrivateForm::Sec1) => {
                PrivateInner::P256(ec::p256::import_sec1(der)?)
            }
            (KeyType::EcdsaP384, PrivateForm::Pkcs8) => {
                PrivateInner::P384(ec::p384::import_pkcs8(der)?)
            }
            (KeyType::EcdsaP384, PrivateForm::Sec1) => {
                PrivateInner::P384(ec::p384::import_sec1(der)?)
            }
            (KeyType::EcdsaP521, PrivateForm::Pkcs8) => {
                PrivateInner::P521(Box::new(ec::p521::import_pkcs8(der)?))
            }
            (KeyType::EcdsaP521, PrivateForm::Sec1) => {
                PrivateInner::P521(Box::new(ec::p521::import_sec1(der)?))
            }
            (KeyType::Ed25519, PrivateForm::Pkcs8) => {
                let key = ed25519_dalek::SigningKey::from_pkcs8_der(der).map_err(|e| {
                    CryptoError::new(format!("invalid PKCS#8 {key_type} private key: {e}"))
                })?;
                PrivateInner::Ed25519(Box::new(key))
            }
            (_, form) => {
                return Err(CryptoError::new(format!(
                    "{key_type} keys cannot be encoded as {}",
                    form.name()
                )))
            }
        };
        Ok(Self::from_portable(key_type, inner))
    }

    /// An Ed25519 key from its 32-byte seed (RFC 8032's private key), for
    /// keys derived with HKDF.
    pub fn from_ed25519_seed(seed: &[u8]) -> Result<Self, CryptoError> {
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(seed.try_into().map_err(|_| {
            CryptoError::new(format!(
                "invalid Ed25519 seed length {}: expected 32 bytes",
                seed.len()
            ))
        })?);
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        Ok(Self::from_portable(
            KeyType::Ed25519,
            PrivateInner::Ed25519(Box::new(key)),
        ))
    }

    /// Its type.
    pub fn key_type(&self) -> KeyType {
        self.parts.public.key_type()
    }

    /// The private key, encoded as `format`; an error if `format` cannot
    /// hold this type.
    pub fn export(&self, format: PrivateKeyFormat) -> Result<Vec<u8>, CryptoError> {
        // An AWS-LC ECDSA key encodes itself: the portable key would cost a
        // point multiplication (most of an `issue`'s time in PKI).
        if let Some(FastPrivate::Ec(key)) = &self.parts.fast {
            match format {
                PrivateKeyFormat::Pkcs8Der => return Ok(key.pkcs8()?.to_vec()),
                PrivateKeyFormat::Pkcs8Pem => {
                    return Ok(pem_encode("PRIVATE KEY", &key.pkcs8()?)?.into_bytes())
                }
                PrivateKeyFormat::Sec1Pem => {
                    return Ok(pem_encode("EC PRIVATE KEY", &key.sec1_der()?)?.into_bytes())
                }
                _ => {}
            }
        }
        let inner = self.portable()?;
        let encoded = match (inner, format) {
            (_, PrivateKeyFormat::Pkcs8Der) => pkcs8_der(inner)?,
            (_, PrivateKeyFormat::Pkcs8Pem) => {
                let der = pkcs8_der(inner)?;
                Zeroizing::new(pem_encode("PRIVATE KEY", &der)?.into_bytes())
            }
            (PrivateInner::Rsa(key), PrivateKeyFormat::Pkcs1Pem) => {
                let pem = key.to_pkcs1_pem(LineEnding::LF).map_err(encode_error)?;
                Zeroizing::new(pem.as_bytes().to_vec())
            }
            (PrivateInner::P256(key), PrivateKeyFormat::Sec1Pem) => {
                Zeroizing::new(ec::p256::export_sec1_pem(key)?.as_bytes().to_vec())
            }
            (PrivateInner::P384(key), PrivateKeyFormat::Sec1Pem) => {
                Zeroizing::new(ec::p384::export_sec1_pem(key)?.as_bytes().to_vec())
            }
            (PrivateInner::P521(key), PrivateKeyFormat::Sec1Pem) => {
                Zeroizing::new(ec::p521::export_sec1_pem(key)?.as_bytes().to_vec())
            }
            (PrivateInner::Ed25519(key), PrivateKeyFormat::Raw) => {
                Zeroizing::new(key.to_bytes().to_vec())
            }
            (_, format) => {
                return Err(CryptoError::new(format!(
                    "{} private keys cannot be exported as {}",
                    self.key_type(),
                    format.name()
                )))
            }
        };
        Ok(encoded.to_vec())
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        self.parts.public.clone()
    }

    /// Signs `message` as `options` say (see [`SignOptions`]). Ed25519 is
    /// pure Ed25519 over the message; ECDSA and RSA hash it first unless it
    /// is `prehashed`.
    pub fn sign(&self, message: &[u8], options: &SignOptions) -> Result<Vec<u8>, CryptoError> {
        let key_type = self.key_type();
        if let Some(bits) = key_type.rsa_bits() {
            let prepared = rsa_ops::prepare(message, options, bits)?;
            if let Some(FastPrivate::Rsa(key)) = &self.parts.fast {
                let hash = prepared.algorithm;
                let signed = hash.and_then(|hash| {
                    key.sign(prepared.padding, hash, prepared.salt, &prepared.digest)
                });
                if let Some(signed) = signed {
                    return signed;
                }
            }
            return match self.portable()? {
                PrivateInner::Rsa(key) => rsa_ops::sign(key, &prepared),
                _ => Err(mismatch()),
            };
        }
        if fast::Curve::of(key_type).is_some() {
            let field = ec::digest(message, options, key_type)?;
            if let Some(FastPrivate::Ec(key)) = &self.parts.fast {
                if let Some(der) = key.sign(&field) {
                    return ec::reencode(key_type, &der?, options.encoding);
                }
            }
            return match self.portable()? {
                PrivateInner::P256(key) => ec::p256::sign(key, &field, options.encoding),
                PrivateInner::P384(key) => ec::p384::sign(key, &field, options.encoding),
                PrivateInner::P521(key) => ec::p521::sign(key, &field, options.encoding),
                _ => Err(mismatch()),
            };
        }
        if let Some(FastPrivate::Ed25519(key)) = &self.parts.fast {
            return key.sign(message);
        }
        match self.portable()? {
            PrivateInner::Ed25519(key) => Ok(key.sign(message).to_bytes().to_vec()),
            _ => Err(mismatch()),
        }
    }

    /// RSA-OAEP decryption with `hash` for both OAEP and MGF1, and an
    /// optional label (which must be UTF-8: a limit of the `rsa` crate).
    /// RSA keys only.
    pub fn decrypt_oaep(
        &self,
        ciphertext: &[u8],
        hash: HashAlgorithm,
        label: Option<&[u8]>,
    ) -> Result<Vec<u8>, CryptoError> {
        if self.key_type().rsa_bits().is_none() {
            return Err(not_rsa(self.key_type()));
        }
        match self.portable()? {
            PrivateInner::Rsa(key) => rsa_ops::decrypt_oaep(key, ciphertext, hash, label),
            _ => Err(mismatch()),
        }
    }

    /// A key parsed by RustCrypto, handed to AWS-LC as well where it has
    /// the type.
    fn from_portable(key_type: KeyType, inner: PrivateInner) -> Self {
        let public = match &inner {
            PrivateInner::Rsa(key) => PublicInner::Rsa(Box::new(key.to_public_key())),
            PrivateInner::P256(key) => PublicInner::P256(ec::p256::public(key)),
            PrivateInner::P384(key) => PublicInner::P384(ec::p384::public(key)),
            PrivateInner::P521(key) => PublicInner::P521(Box::new(ec::p521::public(key))),
            PrivateInner::Ed25519(key) => PublicInner::Ed25519(key.verifying_key()),
        };
        let public = PublicKey::new(key_type, public);
        let fast = match (&inner, fast::Curve::of(key_type)) {
            (PrivateInner::Rsa(key), _) => key
                .to_pkcs8_der()
                .ok()
                .and_then(|der| fast::RsaPrivate::from_pkcs8(der.as_bytes()))
                .map(FastPrivate::Rsa),
            (PrivateInner::P256(key), Some(curve)) => {
                ec_fast(curve, &ec::p256::scalar(key), &public)
            }
            (PrivateInner::P384(key), Some(curve)) => {
                ec_fast(curve, &ec::p384::scalar(key), &public)
            }
            (PrivateInner::P521(key), Some(curve)) => {
                ec_fast(curve, &ec::p521::scalar(key), &public)
            }
            (PrivateInner::Ed25519(key), _) => {
                let seed = Zeroizing::new(key.to_bytes());
                fast::EdPrivate::from_seed(seed.as_slice(), key.verifying_key().as_bytes())
                    .map(FastPrivate::Ed25519)
            }
            _ => None,
        };
        Self::from_parts(fast, OnceLock::from(inner), public)
    }

    fn from_parts(
        fast: Option<FastPrivate>,
        portable: OnceLock<PrivateInner>,
        public: PublicKey,
    ) -> Self {
        Self {
            parts: Box::new(PrivateParts {
                fast,
                portable,
                public,
            }),
        }
    }

    /// The RustCrypto form, made from AWS-LC's PKCS#8 the first time it is
    /// needed.
    fn portable(&self) -> Result<&PrivateInner, CryptoError> {
        if let Some(inner) = self.parts.portable.get() {
            return Ok(inner);
        }
        let key_type = self.key_type();
        let inner = match &self.parts.fast {
            Some(FastPrivate::Rsa(key)) => rsa_private(
                key_type,
                RsaPrivateKey::from_pkcs8_der(&key.pkcs8()?).map_err(|e| e.to_string()),
            )?,
            Some(FastPrivate::Ec(key)) => {
                let der = key.pkcs8()?;
                match key_type {
                    KeyType::EcdsaP256 => PrivateInner::P256(ec::p256::import_pkcs8(&der)?),
                    KeyType::EcdsaP384 => PrivateInner::P384(ec::p384::import_pkcs8(&der)?),
                    KeyType::EcdsaP521 => {
                        PrivateInner::P521(Box::new(ec::p521::import_pkcs8(&der)?))
                    }
                    _ => return Err(mismatch()),
                }
            }
            Some(FastPrivate::Ed25519(_)) | None => return Err(mismatch()),
        };
        // Another thread may have set it meanwhile: the same key either way.
        let _ = self.parts.portable.set(inner);
        self.parts.portable.get().ok_or_else(mismatch)
    }
}

/// An ECDSA key handed to AWS-LC from its scalar and its public point.
fn ec_fast(curve: fast::Curve, scalar: &[u8], public: &PublicKey) -> Option<FastPrivate> {
    let point = public.export(PublicKeyFormat::Raw).ok()?;
    fast::EcPrivate::from_parts(curve, scalar, &point).map(FastPrivate::Ec)
}

/// PKCS#8 DER of a RustCrypto key (version 1: no embedded public key for
/// Ed25519, as OpenSSL and Go write it).
fn pkcs8_der(inner: &PrivateInner) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    match inner {
        PrivateInner::Rsa(key) => {
            let document = key.to_pkcs8_der().map_err(encode_error)?;
            Ok(Zeroizing::new(document.as_bytes().to_vec()))
        }
        PrivateInner::P256(key) => ec::p256::export_pkcs8(key),
        PrivateInner::P384(key) => ec::p384::export_pkcs8(key),
        PrivateInner::P521(key) => ec::p521::export_pkcs8(key),
        PrivateInner::Ed25519(key) => {
            let document = KeypairBytes {
                secret_key: key.to_bytes(),
                public_key: None,
            }
            .to_pkcs8_der()
            .map_err(encode_error)?;
            Ok(Zeroizing::new(document.as_bytes().to_vec()))
        }
    }
}

/// A key whose two forms disagree on its type: cannot happen (see the
/// invariant on [`PrivateKey`]), answered rather than assumed.
fn mismatch() -> CryptoError {
    CryptoError::new("internal error: the key's forms disagree")
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("key_type", &self.key_type())
            .finish_non_exhaustive()
    }
}

impl PublicKey {
    /// A key parsed by RustCrypto, handed to AWS-LC as well if ECDSA.
    /// The public half of a key AWS-LC just generated, from its point:
    /// the portable key is built only if something needs it (SPKI, raw
    /// point and ECDSA verification do not).
    fn generated(
        key_type: KeyType,
        curve: fast::Curve,
        point: Vec<u8>,
    ) -> Result<Self, CryptoError> {
        let fast = fast::EcPublic::from_point(curve, &point)
            .ok_or_else(|| CryptoError::new(format!("invalid {key_type} public key")))?;
        Ok(Self {
            parts: Box::new(PublicParts {
                key_type,
                inner: OnceLock::new(),
                point: Some(point),
                fast: Some(fast),
            }),
        })
    }

    /// The portable key, built from the point on first use for a
    /// generated key.
    fn inner(&self) -> Result<&PublicInner, CryptoError> {
        if let Some(inner) = self.parts.inner.get() {
            return Ok(inner);
        }
        let point = self.parts.point.as_deref().unwrap_or_default();
        let inner = match self.parts.key_type {
            KeyType::EcdsaP256 => PublicInner::P256(ec::p256::import_point(point)?),
            KeyType::EcdsaP384 => PublicInner::P384(ec::p384::import_point(point)?),
            KeyType::EcdsaP521 => PublicInner::P521(Box::new(ec::p521::import_point(point)?)),
            other => return Err(CryptoError::new(format!("no {other} public key"))),
        };
        // Another thread may have set it meanwhile: the same key either way.
        let _ = self.parts.inner.set(inner);
        self.parts
            .inner
            .get()
            .ok_or_else(|| CryptoError::new("the public key vanished"))
    }

    fn new(key_type: KeyType, inner: PublicInner) -> Self {
        let point = match &inner {
            PublicInner::P256(key) => Some(ec::p256::export_point(key)),
            PublicInner::P384(key) => Some(ec::p384::export_point(key)),
            PublicInner::P521(key) => Some(ec::p521::export_point(key)),
            PublicInner::Rsa(_) | PublicInner::Ed25519(_) => None,
        };
        let fast = point
            .zip(fast::Curve::of(key_type))
            .and_then(|(point, curve)| fast::EcPublic::from_point(curve, &point));
        Self {
            parts: Box::new(PublicParts {
                key_type,
                inner: OnceLock::from(inner),
                point: None,
                fast,
            }),
        }
    }

    /// Parses a `key_type` key from SubjectPublicKeyInfo DER, PKCS#1 DER
    /// (RSA), or either in PEM; also the raw 32 bytes for Ed25519 and a raw
    /// SEC1 point for ECDSA. The key must be of `key_type`, including the
    /// RSA modulus size.
    pub fn import(key_type: KeyType, encoded: &[u8]) -> Result<Self, CryptoError> {
        let (form, der) = decode_public(encoded)?;
        let der: &[u8] = &der;
        let form = match form {
            Some(form) => form,
            None if SubjectPublicKeyInfoRef::try_from(der).is_ok() => PublicForm::Spki,
            None => match key_type {
                KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => PublicForm::Pkcs1,
                KeyType::EcdsaP256 | KeyType::EcdsaP384 | KeyType::EcdsaP521 | KeyType::Ed25519 => {
                    PublicForm::Raw
                }
            },
        };
        if form == PublicForm::Spki {
            if let Ok(info) = SubjectPublicKeyInfoRef::try_from(der) {
                check_algorithm(
                    key_type,
                    info.algorithm.oid,
                    info.algorithm.parameters_oid().ok(),
                )?;
            }
        }
        let inner = match (key_type, form) {
            (KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096, PublicForm::Spki) => {
                rsa_public(
                    key_type,
                    RsaPublicKey::from_public_key_der(der).map_err(|e| e.to_string()),
                )?
            }
            (KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096, PublicForm::Pkcs1) => {
                rsa_public(
                    key_type,
                    RsaPublicKey::from_pkcs1_der(der).map_err(|e| e.to_string()),
                )?
            }
            (KeyType::EcdsaP256, PublicForm::Spki) => {
                PublicInner::P256(ec::p256::import_spki(der)?)
            }
            (KeyType::EcdsaP256, PublicForm::Raw) => {
                PublicInner::P256(ec::p256::import_point(der)?)
            }
            (KeyType::EcdsaP384, PublicForm::Spki) => {
                PublicInner::P384(ec::p384::import_spki(der)?)
            }
            (KeyType::EcdsaP384, PublicForm::Raw) => {
                PublicInner::P384(ec::p384::import_point(der)?)
            }
            (KeyType::EcdsaP521, PublicForm::Spki) => {
                PublicInner::P521(Box::new(ec::p521::import_spki(der)?))
            }
            (KeyType::EcdsaP521, PublicForm::Raw) => {
                PublicInner::P521(Box::new(ec::p521::import_point(der)?))
            }
            (KeyType::Ed25519, PublicForm::Spki) => {
                let key = ed25519_dalek::VerifyingKey::from_public_key_der(der)
                    .map_err(|e| CryptoError::new(format!("invalid {key_type} public key: {e}")))?;
                PublicInner::Ed25519(key)
            }
            (KeyType::Ed25519, PublicForm::Raw) => {
                let bytes: &[u8; 32] = der.try_into().map_err(|_| {
                    CryptoError::new(format!(
                        "invalid {key_type} public key: expected SubjectPublicKeyInfo or 32 raw bytes, got {} bytes",
                        der.len()
                    ))
                })?;
                let key = ed25519_dalek::VerifyingKey::from_bytes(bytes)
                    .map_err(|_| CryptoError::new(format!("invalid {key_type} public key")))?;
                PublicInner::Ed25519(key)
            }
            (_, form) => {
                return Err(CryptoError::new(format!(
                    "{key_type} keys cannot be encoded as {}",
                    form.name()
                )))
            }
        };
        Ok(Self::new(key_type, inner))
    }

    /// An RSA public key from its big-endian modulus and public exponent
    /// (as an HSM holds them); its type follows from the modulus's size,
    /// which must be 2048, 3072 or 4096 bits.
    pub fn rsa_from_parts(modulus: &[u8], exponent: &[u8]) -> Result<Self, CryptoError> {
        let n = rsa::BigUint::from_bytes_be(modulus);
        let key_type = match n.bits() {
            2048 => KeyType::Rsa2048,
            3072 => KeyType::Rsa3072,
            4096 => KeyType::Rsa4096,
            other => {
                return Err(CryptoError::new(format!(
                    "RSA-{other} keys are not supported: use 2048, 3072 or 4096 bits"
                )))
            }
        };
        let e = rsa::BigUint::from_bytes_be(exponent);
        let inner = rsa_public(key_type, RsaPublicKey::new(n, e).map_err(|e| e.to_string()))?;
        Ok(Self::new(key_type, inner))
    }

    /// Its type.
    pub fn key_type(&self) -> KeyType {
        self.parts.key_type
    }

    /// The public key, encoded as `format`; an error if `format` cannot
    /// hold this type.
    pub fn export(&self, format: PublicKeyFormat) -> Result<Vec<u8>, CryptoError> {
        // These need no portable key (see `spki_der`, `generated`).
        match (format, &self.parts.point) {
            (PublicKeyFormat::SpkiDer, _) => return self.spki_der(),
            (PublicKeyFormat::SpkiPem, _) => {
                return Ok(pem_encode("PUBLIC KEY", &self.spki_der()?)?.into_bytes())
            }
            (PublicKeyFormat::Raw, Some(point)) => return Ok(point.clone()),
            _ => {}
        }
        match (self.inner()?, format) {
            (PublicInner::Rsa(key), PublicKeyFormat::Pkcs1Pem) => key
                .to_pkcs1_pem(LineEnding::LF)
                .map(String::into_bytes)
                .map_err(encode_error),
            (PublicInner::P256(key), PublicKeyFormat::Raw) => Ok(ec::p256::export_point(key)),
            (PublicInner::P384(key), PublicKeyFormat::Raw) => Ok(ec::p384::export_point(key)),
            (PublicInner::P521(key), PublicKeyFormat::Raw) => Ok(ec::p521::export_point(key)),
            (PublicInner::Ed25519(key), PublicKeyFormat::Raw) => Ok(key.to_bytes().to_vec()),
            (_, format) => Err(CryptoError::new(format!(
                "{} public keys cannot be exported as {}",
                self.parts.key_type,
                format.name()
            ))),
        }
    }

    /// Whether `signature` is valid for `message` under `options` (see
    /// [`PrivateKey::sign`]). A malformed signature is `false`; an input
    /// that contradicts `options` (a prehashed RSA input of the wrong
    /// length) is an error.
    pub fn verify(
        &self,
        message: &[u8],
        signature: &[u8],
        options: &SignOptions,
    ) -> Result<bool, CryptoError> {
        let ecdsa = |verify: &dyn Fn(&[u8]) -> Option<bool>| -> Result<bool, CryptoError> {
            let field = ec::digest(message, options, self.parts.key_type)?;
            let Some(der) = ec::canonical_der(self.parts.key_type, signature, options.encoding)
            else {
                return Ok(false);
            };
            if let Some(valid) = self
                .parts
                .fast
                .as_ref()
                .and_then(|key| key.verify(&field, &der))
            {
                return Ok(valid);
            }
            Ok(verify(&field).unwrap_or(false))
        };
        // ECDSA: AWS-LC first; the portable key (built on demand for a
        // generated key) only when AWS-LC cannot.
        if fast::Curve::of(self.parts.key_type).is_some() {
            return ecdsa(&|field| match self.inner().ok()? {
                PublicInner::P256(key) => {
                    let signature = ec::p256::parse(signature, options.encoding)?;
                    Some(ec::p256::verify(key, field, &signature))
                }
                PublicInner::P384(key) => {
                    let signature = ec::p384::parse(signature, options.encoding)?;
                    Some(ec::p384::verify(key, field, &signature))
                }
                PublicInner::P521(key) => {
                    let signature = ec::p521::parse(signature, options.encoding)?;
                    Some(ec::p521::verify(key, field, &signature))
                }
                _ => None,
            });
        }
        match self.inner()? {
            PublicInner::Rsa(key) => rsa_ops::verify(key, message, signature, options),
            PublicInner::Ed25519(key) => Ok(ed25519_dalek::Signature::from_slice(signature)
                .map(|signature| key.verify(message, &signature).is_ok())
                .unwrap_or(false)),
            _ => Err(CryptoError::new("public key of an unexpected type")),
        }
    }

    /// RSA-OAEP encryption with `hash` for both OAEP and MGF1, and an
    /// optional label (which must be UTF-8: a limit of the `rsa` crate).
    /// RSA keys only.
    pub fn encrypt_oaep(
        &self,
        plaintext: &[u8],
        hash: HashAlgorithm,
        label: Option<&[u8]>,
    ) -> Result<Vec<u8>, CryptoError> {
        match self.inner()? {
            PublicInner::Rsa(key) => rsa_ops::encrypt_oaep(key, plaintext, hash, label),
            _ => Err(not_rsa(self.parts.key_type)),
        }
    }

    fn spki_der(&self) -> Result<Vec<u8>, CryptoError> {
        // AWS-LC's copy of an ECDSA key encodes itself; the portable one
        // would convert its point first (a tenth of a PKI issue).
        if let Some(der) = self.parts.fast.as_ref().and_then(fast::EcPublic::spki_der) {
            return Ok(der);
        }
        match self.inner()? {
            PublicInner::Rsa(key) => key
                .to_public_key_der()
                .map(|document| document.into_vec())
                .map_err(encode_error),
            PublicInner::P256(key) => ec::p256::export_spki(key),
            PublicInner::P384(key) => ec::p384::export_spki(key),
            PublicInner::P521(key) => ec::p521::export_spki(key),
            PublicInner::Ed25519(key) => key
                .to_public_key_der()
                .map(|document| document.into_vec())
                .map_err(encode_error),
        }
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("key_type", &self.parts.key_type)
            .finish_non_exhaustive()
    }
}

/// The structure a private key comes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PrivateForm {
    Pkcs8,
    Pkcs1,
    Sec1,
}

impl PrivateForm {
    fn name(self) -> &'static str {
        match self {
            Self::Pkcs8 => "PKCS#8",
            Self::Pkcs1 => "PKCS#1 (RSA PRIVATE KEY)",
            Self::Sec1 => "SEC1 (EC PRIVATE KEY)",
        }
    }
}

/// The structure a public key comes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PublicForm {
    Spki,
    Pkcs1,
    Raw,
}

impl PublicForm {
    fn name(self) -> &'static str {
        match self {
            Self::Spki => "SubjectPublicKeyInfo",
            Self::Pkcs1 => "PKCS#1 (RSA PUBLIC KEY)",
            Self::Raw => "raw",
        }
    }
}

/// A PEM document's contents and the form its label names, or the input
/// itself (form unknown) if it is not PEM.
fn decode_private(
    encoded: &[u8],
) -> Result<(Option<PrivateForm>, Zeroizing<Vec<u8>>), CryptoError> {
    let Some((label, der)) = decode_pem(encoded)? else {
        return Ok((None, Zeroizing::new(encoded.to_vec())));
    };
    let der = Zeroizing::new(der);
    let form = match label.as_str() {
        "PRIVATE KEY" => PrivateForm::Pkcs8,
        "RSA PRIVATE KEY" => PrivateForm::Pkcs1,
        "EC PRIVATE KEY" => PrivateForm::Sec1,
        "ENCRYPTED PRIVATE KEY" => {
            return Err(CryptoError::new("encrypted private keys are not supported"))
        }
        other => {
            return Err(CryptoError::new(format!(
                "a PEM `{other}` is not a private key: expected PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY"
            )))
        }
    };
    Ok((Some(form), der))
}

/// As [`decode_private`], for public keys.
fn decode_public(encoded: &[u8]) -> Result<(Option<PublicForm>, Vec<u8>), CryptoError> {
    let Some((label, der)) = decode_pem(encoded)? else {
        return Ok((None, encoded.to_vec()));
    };
    let form = match label.as_str() {
        "PUBLIC KEY" => PublicForm::Spki,
        "RSA PUBLIC KEY" => PublicForm::Pkcs1,
        other => {
            return Err(CryptoError::new(format!(
                "a PEM `{other}` is not a public key: expected PUBLIC KEY or RSA PUBLIC KEY"
            )))
        }
    };
    Ok((Some(form), der))
}

/// The label and contents of `encoded` if it is PEM (ignoring surrounding
/// whitespace), none if it does not look like PEM.
fn decode_pem(encoded: &[u8]) -> Result<Option<(String, Vec<u8>)>, CryptoError> {
    let trimmed = encoded.trim_ascii();
    if !trimmed.starts_with(b"-----BEGIN ") {
        return Ok(None);
    }
    let (label, der) =
        pem::decode_vec(trimmed).map_err(|e| CryptoError::new(format!("malformed PEM: {e}")))?;
    Ok(Some((label.to_owned(), der)))
}

fn pem_encode(label: &str, der: &[u8]) -> Result<String, CryptoError> {
    pem::encode_string(label, LineEnding::LF, der).map_err(encode_error)
}

/// Checks that a PKCS#8 or SPKI algorithm identifier names `key_type`.
fn check_algorithm(
    key_type: KeyType,
    algorithm: ObjectIdentifier,
    parameters: Option<ObjectIdentifier>,
) -> Result<(), CryptoError> {
    let actual = if algorithm == rsa::pkcs1::ALGORITHM_OID {
        "an RSA key".to_owned()
    } else if algorithm == p256::elliptic_curve::ALGORITHM_OID {
        match parameters {
            Some(curve) if curve == p256::NistP256::OID => KeyType::EcdsaP256.name().to_owned(),
            Some(curve) if curve == p384::NistP384::OID => KeyType::EcdsaP384.name().to_owned(),
            Some(curve) if curve == p521::NistP521::OID => KeyType::EcdsaP521.name().to_owned(),
            Some(curve) => format!("an EC key on curve {curve}"),
            None => "an EC key with no named curve".to_owned(),
        }
    } else if algorithm == ed25519_dalek::pkcs8::ALGORITHM_OID {
        KeyType::Ed25519.name().to_owned()
    } else {
        format!("a key of algorithm {algorithm}")
    };
    let matches = match key_type {
        KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => actual == "an RSA key",
        other => actual == other.name(),
    };
    if matches {
        Ok(())
    } else {
        Err(CryptoError::new(format!(
            "the key is {actual}, not {key_type}"
        )))
    }
}

/// Checks a parsed RSA key's size against `key_type` and precomputes its
/// CRT values.
fn rsa_private(
    key_type: KeyType,
    parsed: Result<RsaPrivateKey, String>,
) -> Result<PrivateInner, CryptoError> {
    let mut key =
        parsed.map_err(|e| CryptoError::new(format!("invalid {key_type} private key: {e}")))?;
    check_rsa_size(key_type, key.n().bits())?;
    key.validate()
        .and_then(|()| key.precompute())
        .map_err(|e| CryptoError::new(format!("invalid {key_type} private key: {e}")))?;
    Ok(PrivateInner::Rsa(Box::new(key)))
}

/// Checks a parsed RSA public key's size against `key_type`.
fn rsa_public(
    key_type: KeyType,
    parsed: Result<RsaPublicKey, String>,
) -> Result<PublicInner, CryptoError> {
    let key =
        parsed.map_err(|e| CryptoError::new(format!("invalid {key_type} public key: {e}")))?;
    check_rsa_size(key_type, key.n().bits())?;
    Ok(PublicInner::Rsa(Box::new(key)))
}

fn check_rsa_size(key_type: KeyType, bits: usize) -> Result<(), CryptoError> {
    if key_type.rsa_bits() == Some(bits) {
        Ok(())
    } else {
        Err(CryptoError::new(format!(
            "the key is a {bits}-bit RSA key, not {key_type}"
        )))
    }
}

fn not_rsa(key_type: KeyType) -> CryptoError {
    CryptoError::new(format!("RSA-OAEP needs an RSA key, not {key_type}"))
}

fn encode_error(e: impl fmt::Display) -> CryptoError {
    CryptoError::new(format!("cannot encode the key: {e}"))
}
