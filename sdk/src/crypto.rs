//! Cryptography done by the host, natively and in constant time where it
//! matters: thin wrappers whose errors are [`Error`]s.
//!
//! In wasm every function calls the WIT `crypto` import of the engine's
//! contract (through `imports.rs`); natively (unit tests of engine logic)
//! the same calls go to `coffer-crypto`, the crate the host itself runs
//! behind that import, which is compiled only with the SDK's `crypto`
//! feature: natively, without it, only the enums and [`constant_time_eq`]
//! exist, so an engine that uses no crypto does not build any for its
//! tests. Either way an engine sees one API: the enums and
//! [`SignOptions`] below. A failure is an [`Error::InvalidRequest`] naming
//! the problem, as the host answers it.
//!
//! The key types [`PrivateKey`] and [`PublicKey`] are contract 0.1's key
//! resources (feature `contract-0-1`): a 0.2 engine holds keys as
//! [`crate::keys::Key`] handles instead. Contract 0.2 has no AES key wrap
//! import ([`aes_key_wrap_pad`] answers a 400 there): BYOK is
//! `Key::unwrap` and `Key::wrap_for`.

#[cfg_attr(
    not(any(target_arch = "wasm32", feature = "crypto")),
    allow(unused_imports)
)]
use crate::Error;

#[cfg(all(target_arch = "wasm32", feature = "contract-0-1"))]
use crate::bindings::v01::coffer::engine::crypto as backend;
#[cfg(all(not(target_arch = "wasm32"), feature = "crypto"))]
use coffer_crypto as backend;

/// Hash functions. SHA-512/256 is `Sha512x256` and SHA3-256 is `Sha3x256`
/// (WIT names cannot have a segment that starts with a digit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// SHA-1; only for compatibility.
    Sha1,
    /// SHA-224.
    Sha224,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
    /// SHA-512/256.
    Sha512x256,
    /// SHA3-224.
    Sha3x224,
    /// SHA3-256.
    Sha3x256,
    /// SHA3-384.
    Sha3x384,
    /// SHA3-512.
    Sha3x512,
}

impl HashAlgorithm {
    /// Every algorithm, in declaration order.
    pub const ALL: [HashAlgorithm; 10] = [
        Self::Sha1,
        Self::Sha224,
        Self::Sha256,
        Self::Sha384,
        Self::Sha512,
        Self::Sha512x256,
        Self::Sha3x224,
        Self::Sha3x256,
        Self::Sha3x384,
        Self::Sha3x512,
    ];

    /// The name contract 0.2 and Vault's transit give it (`sha2-256`,
    /// `sha2-512/256`, `sha3-256`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha224 => "sha2-224",
            Self::Sha256 => "sha2-256",
            Self::Sha384 => "sha2-384",
            Self::Sha512 => "sha2-512",
            Self::Sha512x256 => "sha2-512/256",
            Self::Sha3x224 => "sha3-224",
            Self::Sha3x256 => "sha3-256",
            Self::Sha3x384 => "sha3-384",
            Self::Sha3x512 => "sha3-512",
        }
    }

    /// The digest's length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha224 | Self::Sha3x224 => 28,
            Self::Sha256 | Self::Sha512x256 | Self::Sha3x256 => 32,
            Self::Sha384 | Self::Sha3x384 => 48,
            Self::Sha512 | Self::Sha3x512 => 64,
        }
    }
}

/// Authenticated encryption algorithms; all use 12-byte nonces and 16-byte
/// tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AeadAlgorithm {
    /// AES-128 in GCM mode: 16-byte key.
    Aes128Gcm,
    /// AES-256 in GCM mode: 32-byte key.
    Aes256Gcm,
    /// ChaCha20-Poly1305: 32-byte key.
    Chacha20Poly1305,
}

impl AeadAlgorithm {
    /// The name contract 0.2 and Vault's transit give it (`aes256-gcm96`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Aes128Gcm => "aes128-gcm96",
            Self::Aes256Gcm => "aes256-gcm96",
            Self::Chacha20Poly1305 => "chacha20-poly1305",
        }
    }
}

/// Asymmetric key types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// RSA, 2048-bit modulus.
    Rsa2048,
    /// RSA, 3072-bit modulus.
    Rsa3072,
    /// RSA, 4096-bit modulus.
    Rsa4096,
    /// ECDSA over P-256.
    EcdsaP256,
    /// ECDSA over P-384.
    EcdsaP384,
    /// ECDSA over P-521.
    EcdsaP521,
    /// Ed25519.
    Ed25519,
}

/// RSA signature paddings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RsaPadding {
    /// RSASSA-PSS.
    #[default]
    Pss,
    /// RSASSA-PKCS1-v1_5.
    Pkcs1v15,
}

/// How an ECDSA signature is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SignatureEncoding {
    /// ASN.1 DER `SEQUENCE { r, s }`.
    #[default]
    Asn1,
    /// Fixed-width `r || s`, as JWS and PKCS#11 use.
    Fixed,
}

/// How [`PrivateKey::sign`] and [`PublicKey::verify`] treat the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SignOptions {
    /// The hash to apply (none: SHA-256 for RSA and ECDSA, except that RSA
    /// PKCS#1 v1.5 with `prehashed` then signs the input as it is). Ignored
    /// for Ed25519.
    pub hash: Option<HashAlgorithm>,
    /// The input is already a digest of `hash`; do not hash again.
    pub prehashed: bool,
    /// RSA only.
    pub padding: RsaPadding,
    /// RSA-PSS salt length in bytes; none means the longest possible when
    /// signing and any length when verifying.
    pub salt_length: Option<u32>,
    /// ECDSA only.
    pub encoding: SignatureEncoding,
}

/// Encodings of a private key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrivateKeyFormat {
    /// PKCS#8 DER, for any type.
    Pkcs8Der,
    /// PKCS#8 PEM (`PRIVATE KEY`), for any type.
    Pkcs8Pem,
    /// PKCS#1 PEM (`RSA PRIVATE KEY`), RSA only.
    Pkcs1Pem,
    /// SEC1 PEM (`EC PRIVATE KEY`), ECDSA only.
    Sec1Pem,
    /// The raw 32-byte seed, Ed25519 only.
    Raw,
}

impl PrivateKeyFormat {
    /// The name contract 0.2 gives it (`pkcs8-der`, `raw`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Pkcs8Der => "pkcs8-der",
            Self::Pkcs8Pem => "pkcs8-pem",
            Self::Pkcs1Pem => "pkcs1-pem",
            Self::Sec1Pem => "sec1-pem",
            Self::Raw => "raw",
        }
    }
}

/// Encodings of a public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PublicKeyFormat {
    /// SubjectPublicKeyInfo DER, for any type.
    SpkiDer,
    /// SubjectPublicKeyInfo PEM (`PUBLIC KEY`), for any type.
    SpkiPem,
    /// PKCS#1 PEM (`RSA PUBLIC KEY`), RSA only.
    Pkcs1Pem,
    /// Raw: the 32-byte Ed25519 key, or the uncompressed SEC1 point.
    Raw,
}

impl PublicKeyFormat {
    /// The name contract 0.2 gives it (`spki-der`, `raw`).
    pub fn name(self) -> &'static str {
        match self {
            Self::SpkiDer => "spki-der",
            Self::SpkiPem => "spki-pem",
            Self::Pkcs1Pem => "pkcs1-pem",
            Self::Raw => "raw",
        }
    }
}

impl RsaPadding {
    /// The name contract 0.2 gives it (`pss`, `pkcs1v15`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Pss => "pss",
            Self::Pkcs1v15 => "pkcs1v15",
        }
    }
}

impl SignatureEncoding {
    /// The name contract 0.2 gives it (`asn1`, `fixed`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Asn1 => "asn1",
            Self::Fixed => "fixed",
        }
    }
}

/// A private key held by the host (in wasm, a handle to the host's parsed
/// key): keep it to sign or decrypt repeatedly without parsing again.
/// Contract 0.1 only (feature `contract-0-1`).
#[cfg(all(
    feature = "contract-0-1",
    any(target_arch = "wasm32", feature = "crypto")
))]
#[derive(Debug)]
pub struct PrivateKey(backend::PrivateKey);

/// A public key held by the host. Contract 0.1 only (feature
/// `contract-0-1`).
#[cfg(all(
    feature = "contract-0-1",
    any(target_arch = "wasm32", feature = "crypto")
))]
#[derive(Debug)]
pub struct PublicKey(backend::PublicKey);

/// `len` bytes from the host's CSPRNG (at most 1 MiB).
#[cfg(any(target_arch = "wasm32", feature = "crypto"))]
pub fn random_bytes(len: u32) -> Result<Vec<u8>, Error> {
    #[cfg(target_arch = "wasm32")]
    return crate::imports::bound()?.random_bytes(len);
    #[cfg(not(target_arch = "wasm32"))]
    Ok(backend::random_bytes(len)?)
}

/// The digest of `data`. (The host fails a hash only for an algorithm it
/// does not know, which none of [`HashAlgorithm`]'s is; if it ever did,
/// the digest would be empty, which no comparison accepts.)
#[cfg(any(target_arch = "wasm32", feature = "crypto"))]
pub fn hash(algorithm: HashAlgorithm, data: &[u8]) -> Vec<u8> {
    #[cfg(target_arch = "wasm32")]
    return crate::imports::bound()
        .and_then(|imports| imports.hash(algorithm, data))
        .unwrap_or_default();
    #[cfg(not(target_arch = "wasm32"))]
    backend::hash(algorithm.into(), data)
}

/// HMAC of `data` under `key`.
#[cfg(any(target_arch = "wasm32", feature = "crypto"))]
pub fn hmac(algorithm: HashAlgorithm, key: &[u8], data: &[u8]) -> Result<Vec<u8>, Error> {
    #[cfg(target_arch = "wasm32")]
    return crate::imports::bound()?.hmac(algorithm, key, data);
    #[cfg(not(target_arch = "wasm32"))]
    Ok(backend::hmac(algorithm.into(), key, data)?)
}

/// Whether `tag` is the HMAC of `data` under `key`, compared in constant time.
#[cfg(any(target_arch = "wasm32", feature = "crypto"))]
pub fn hmac_verify(
    algorithm: HashAlgorithm,
    key: &[u8],
    data: &[u8],
    tag: &[u8],
) -> Result<bool, Error> {
    #[cfg(target_arch = "wasm32")]
    return crate::imports::bound()?.hmac_verify(algorithm, key, data, tag);
    #[cfg(not(target_arch = "wasm32"))]
    Ok(backend::hmac_verify(algorithm.into(), key, data, tag)?)
}

/// Whether `a` and `b` are equal, in time that depends on their lengths
/// only, never on where they differ: for comparing a secret (a token, a
/// MAC, a password hash) with what a client sent. Runs in the engine; no
/// host call.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// HKDF (RFC 5869): `len` bytes from `ikm`, `salt` and `info`.
#[cfg(any(target_arch = "wasm32", feature = "crypto"))]
pub fn hkdf(
    algorithm: HashAlgorithm,
    ikm: &[u8],
    salt: &[u8],
    info: &[u8],
    len: u32,
) -> Result<Vec<u8>, Error> {
    #[cfg(target_arch = "wasm32")]
    return crate::imports::bound()?.hkdf(algorithm, ikm, salt, info, len);
    #[cfg(not(target_arch = "wasm32"))]
    Ok(backend::hkdf(algorithm.into(), ikm, salt, info, len)?)
}

/// Encrypts `plaintext`; returns the ciphertext followed by the 16-byte tag.
#[cfg(any(target_arch = "wasm32", feature = "crypto"))]
pub fn aead_seal(
    algorithm: AeadAlgorithm,
    key: &[u8],
    nonce: &[u8],
    plaintext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, Error> {
    #[cfg(target_arch = "wasm32")]
    return crate::imports::bound()?.aead_seal(algorithm, key, nonce, plaintext, aad);
    #[cfg(not(target_arch = "wasm32"))]
    Ok(backend::aead_seal(
        algorithm.into(),
        key,
        nonce,
        plaintext,
        aad,
    )?)
}

/// Decrypts ciphertext-and-tag; a failed authentication is an
/// [`Error::InvalidRequest`] and returns no plaintext.
#[cfg(any(target_arch = "wasm32", feature = "crypto"))]
pub fn aead_open(
    algorithm: AeadAlgorithm,
    key: &[u8],
    nonce: &[u8],
    ciphertext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, Error> {
    #[cfg(target_arch = "wasm32")]
    return crate::imports::bound()?.aead_open(algorithm, key, nonce, ciphertext, aad);
    #[cfg(not(target_arch = "wasm32"))]
    Ok(backend::aead_open(
        algorithm.into(),
        key,
        nonce,
        ciphertext,
        aad,
    )?)
}

/// AES key wrap with padding (RFC 5649) of `key` under `kek`. Contract 0.1
/// only: on 0.2 a 400 (use [`crate::keys::Key::wrap_for`]).
#[cfg(any(target_arch = "wasm32", feature = "crypto"))]
pub fn aes_key_wrap_pad(kek: &[u8], key: &[u8]) -> Result<Vec<u8>, Error> {
    #[cfg(target_arch = "wasm32")]
    return crate::imports::bound()?.aes_key_wrap_pad(kek, key);
    #[cfg(not(target_arch = "wasm32"))]
    Ok(backend::aes_key_wrap_pad(kek, key)?)
}

/// Reverses [`aes_key_wrap_pad`]; fails if the integrity check fails.
/// Contract 0.1 only, as [`aes_key_wrap_pad`].
#[cfg(any(target_arch = "wasm32", feature = "crypto"))]
pub fn aes_key_unwrap_pad(kek: &[u8], wrapped: &[u8]) -> Result<Vec<u8>, Error> {
    #[cfg(target_arch = "wasm32")]
    return crate::imports::bound()?.aes_key_unwrap_pad(kek, wrapped);
    #[cfg(not(target_arch = "wasm32"))]
    Ok(backend::aes_key_unwrap_pad(kek, wrapped)?)
}

#[cfg(all(
    feature = "contract-0-1",
    any(target_arch = "wasm32", feature = "crypto")
))]
impl PrivateKey {
    /// A new random key (RSA generation takes a while).
    pub fn generate(key_type: KeyType) -> Result<Self, Error> {
        Ok(Self(backend::PrivateKey::generate(key_type.into())?))
    }

    /// Parses PKCS#8 DER, PKCS#1 DER (RSA) or SEC1 DER (ECDSA), or any of
    /// them in PEM. The key must be of `key_type`.
    pub fn import(key_type: KeyType, encoded: &[u8]) -> Result<Self, Error> {
        Ok(Self(backend::PrivateKey::import(key_type.into(), encoded)?))
    }

    /// An Ed25519 key from its 32-byte seed (for keys derived with HKDF).
    pub fn from_ed25519_seed(seed: &[u8]) -> Result<Self, Error> {
        Ok(Self(backend::PrivateKey::from_ed25519_seed(seed)?))
    }

    /// Its type.
    pub fn key_type(&self) -> KeyType {
        self.0.key_type().into()
    }

    /// The private key, encoded.
    pub fn export(&self, format: PrivateKeyFormat) -> Result<Vec<u8>, Error> {
        Ok(self.0.export(format.into())?)
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.public_key())
    }

    /// Signs `message` as `options` say.
    pub fn sign(&self, message: &[u8], options: SignOptions) -> Result<Vec<u8>, Error> {
        #[cfg(target_arch = "wasm32")]
        let signed = self.0.sign(message, options.into());
        #[cfg(not(target_arch = "wasm32"))]
        let signed = self.0.sign(message, &options.into());
        Ok(signed?)
    }

    /// RSA-OAEP decryption with `hash` for both OAEP and MGF1, and an
    /// optional label.
    pub fn decrypt_oaep(
        &self,
        ciphertext: &[u8],
        hash: HashAlgorithm,
        label: Option<&[u8]>,
    ) -> Result<Vec<u8>, Error> {
        Ok(self.0.decrypt_oaep(ciphertext, hash.into(), label)?)
    }
}

#[cfg(all(
    feature = "contract-0-1",
    any(target_arch = "wasm32", feature = "crypto")
))]
impl PublicKey {
    /// Parses SubjectPublicKeyInfo DER, PKCS#1 DER (RSA), or either in PEM.
    pub fn import(key_type: KeyType, encoded: &[u8]) -> Result<Self, Error> {
        Ok(Self(backend::PublicKey::import(key_type.into(), encoded)?))
    }

    /// Its type.
    pub fn key_type(&self) -> KeyType {
        self.0.key_type().into()
    }

    /// The public key, encoded.
    pub fn export(&self, format: PublicKeyFormat) -> Result<Vec<u8>, Error> {
        Ok(self.0.export(format.into())?)
    }

    /// Whether `signature` is valid for `message`; a malformed signature is
    /// `false`, not an error.
    pub fn verify(
        &self,
        message: &[u8],
        signature: &[u8],
        options: SignOptions,
    ) -> Result<bool, Error> {
        #[cfg(target_arch = "wasm32")]
        let valid = self.0.verify(message, signature, options.into());
        #[cfg(not(target_arch = "wasm32"))]
        let valid = self.0.verify(message, signature, &options.into());
        Ok(valid?)
    }

    /// RSA-OAEP encryption with `hash` for both OAEP and MGF1.
    pub fn encrypt_oaep(
        &self,
        plaintext: &[u8],
        hash: HashAlgorithm,
        label: Option<&[u8]>,
    ) -> Result<Vec<u8>, Error> {
        Ok(self.0.encrypt_oaep(plaintext, hash.into(), label)?)
    }
}

#[cfg(all(not(target_arch = "wasm32"), feature = "crypto"))]
impl From<coffer_crypto::CryptoError> for Error {
    /// As the host answers it: the caller's mistake, a 400.
    fn from(e: coffer_crypto::CryptoError) -> Self {
        Error::InvalidRequest(e.message().to_owned())
    }
}

/// Conversions between the SDK's enums and the backend's (the generated WIT
/// types in wasm, `coffer-crypto`'s natively), which have the same variants.
#[cfg(any(
    feature = "contract-0-1",
    all(not(target_arch = "wasm32"), feature = "crypto")
))]
macro_rules! convert_enum {
    ($ours:ident => $theirs:path { $($a:ident = $b:ident),* $(,)? }) => {
        impl From<$ours> for $theirs {
            fn from(v: $ours) -> Self {
                use $theirs as T;
                match v { $($ours::$a => T::$b),* }
            }
        }
        impl From<$theirs> for $ours {
            fn from(v: $theirs) -> Self {
                use $theirs as T;
                match v { $(T::$b => $ours::$a),* }
            }
        }
    };
}

/// Contract 0.1's generated enums (on every target, for the 0.1 glue; in
/// wasm they are also the backend's).
#[cfg(feature = "contract-0-1")]
mod conv_v01 {
    use super::*;
    use crate::bindings::v01::coffer::engine::crypto as v01;
    convert_enum!(HashAlgorithm => v01::HashAlgorithm {
        Sha1 = Sha1, Sha224 = Sha224, Sha256 = Sha256, Sha384 = Sha384, Sha512 = Sha512,
        Sha512x256 = Sha512x256, Sha3x224 = Sha3x224, Sha3x256 = Sha3x256,
        Sha3x384 = Sha3x384, Sha3x512 = Sha3x512,
    });
    convert_enum!(AeadAlgorithm => v01::AeadAlgorithm {
        Aes128Gcm = Aes128Gcm, Aes256Gcm = Aes256Gcm, Chacha20Poly1305 = Chacha20Poly1305,
    });
    convert_enum!(KeyType => v01::KeyType {
        Rsa2048 = Rsa2048, Rsa3072 = Rsa3072, Rsa4096 = Rsa4096, EcdsaP256 = EcdsaP256,
        EcdsaP384 = EcdsaP384, EcdsaP521 = EcdsaP521, Ed25519 = Ed25519,
    });
    convert_enum!(RsaPadding => v01::RsaPadding { Pss = Pss, Pkcs1v15 = Pkcs1v15 });
    convert_enum!(SignatureEncoding => v01::SignatureEncoding { Asn1 = Asn1, Fixed = Fixed });
    convert_enum!(PrivateKeyFormat => v01::PrivateKeyFormat {
        Pkcs8Der = Pkcs8Der, Pkcs8Pem = Pkcs8Pem, Pkcs1Pem = Pkcs1Pem, Sec1Pem = Sec1Pem, Raw = Raw,
    });
    convert_enum!(PublicKeyFormat => v01::PublicKeyFormat {
        SpkiDer = SpkiDer, SpkiPem = SpkiPem, Pkcs1Pem = Pkcs1Pem, Raw = Raw,
    });
}

#[cfg(all(not(target_arch = "wasm32"), feature = "crypto"))]
mod conv {
    use super::*;
    convert_enum!(HashAlgorithm => backend::HashAlgorithm {
        Sha1 = Sha1, Sha224 = Sha224, Sha256 = Sha256, Sha384 = Sha384, Sha512 = Sha512,
        Sha512x256 = Sha512_256, Sha3x224 = Sha3_224, Sha3x256 = Sha3_256,
        Sha3x384 = Sha3_384, Sha3x512 = Sha3_512,
    });
    convert_enum!(AeadAlgorithm => backend::AeadAlgorithm {
        Aes128Gcm = Aes128Gcm, Aes256Gcm = Aes256Gcm, Chacha20Poly1305 = ChaCha20Poly1305,
    });
    convert_enum!(KeyType => backend::KeyType {
        Rsa2048 = Rsa2048, Rsa3072 = Rsa3072, Rsa4096 = Rsa4096, EcdsaP256 = EcdsaP256,
        EcdsaP384 = EcdsaP384, EcdsaP521 = EcdsaP521, Ed25519 = Ed25519,
    });
    convert_enum!(RsaPadding => backend::RsaPadding { Pss = Pss, Pkcs1v15 = Pkcs1v15 });
    convert_enum!(SignatureEncoding => backend::SignatureEncoding { Asn1 = Asn1, Fixed = Fixed });
    convert_enum!(PrivateKeyFormat => backend::PrivateKeyFormat {
        Pkcs8Der = Pkcs8Der, Pkcs8Pem = Pkcs8Pem, Pkcs1Pem = Pkcs1Pem, Sec1Pem = Sec1Pem, Raw = Raw,
    });
    convert_enum!(PublicKeyFormat => backend::PublicKeyFormat {
        SpkiDer = SpkiDer, SpkiPem = SpkiPem, Pkcs1Pem = Pkcs1Pem, Raw = Raw,
    });
}

#[cfg(any(
    all(target_arch = "wasm32", feature = "contract-0-1"),
    all(not(target_arch = "wasm32"), feature = "crypto")
))]
impl From<SignOptions> for backend::SignOptions {
    fn from(o: SignOptions) -> Self {
        Self {
            hash: o.hash.map(Into::into),
            prehashed: o.prehashed,
            padding: o.padding.into(),
            salt_length: o.salt_length,
            encoding: o.encoding.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_bytes() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"token", b"token"));
        assert!(!constant_time_eq(b"token", b"tokem"));
        assert!(!constant_time_eq(b"token", b"token2"));
        assert!(!constant_time_eq(b"a", b""));
    }

    #[cfg(feature = "crypto")]
    #[test]
    fn native_crypto_round_trips() {
        let key = [7u8; 32];
        let nonce = [1u8; 12];
        let sealed = aead_seal(AeadAlgorithm::Aes256Gcm, &key, &nonce, b"hi", b"ad").unwrap();
        assert_eq!(
            aead_open(AeadAlgorithm::Aes256Gcm, &key, &nonce, &sealed, b"ad").unwrap(),
            b"hi"
        );
        let err = aead_open(AeadAlgorithm::Aes256Gcm, &key, &nonce, &sealed, b"xx").unwrap_err();
        assert_eq!(err.status(), 400);
        assert_eq!(hash(HashAlgorithm::Sha256, b"").len(), 32);
        assert_eq!(random_bytes(5).unwrap().len(), 5);
    }

    #[cfg(all(feature = "contract-0-1", feature = "crypto"))]
    #[test]
    fn native_keys_sign_and_verify() {
        let k = PrivateKey::generate(KeyType::Ed25519).unwrap();
        let sig = k.sign(b"m", SignOptions::default()).unwrap();
        assert!(k
            .public_key()
            .verify(b"m", &sig, SignOptions::default())
            .unwrap());
        assert_eq!(k.key_type(), KeyType::Ed25519);
    }
}
