//! Native cryptography offered to engines through the WIT `crypto` interface
//! (`wit/coffer-engine@0.1.0/types.wit`) and the `keys` interface of
//! contract 0.2 (`wit/coffer-engine@0.2.0/keys.wit`).
//!
//! This crate is plain Rust over the RustCrypto crates and AWS-LC. It
//! mirrors the WIT contracts — the same algorithms and key types (named by
//! 0.2's strings: [`HashAlgorithm::from_name`], [`AeadAlgorithm::from_name`],
//! [`KeyKind::parse`], [`Permissions::parse`]), the same functions and key
//! resources — so that the sandbox adapter only has to convert between the
//! generated bindings and these types.
//!
//! What it is not (the host and the SDK, natively, both use it):
//! - It knows nothing of wasmtime, resources tables or engines: handles,
//!   lifetimes and the mapping to WIT errors belong to the adapter.
//! - It stores nothing: keys live in memory for as long as the caller keeps
//!   them. A 0.1 engine persists its keys' encodings itself (encrypted by
//!   the barrier); a 0.2 engine persists only sealed blobs
//!   ([`KeySealer`]), which the host makes and opens.
//!
//! Every function takes untrusted input (an engine's bytes, often a client's)
//! and never panics on it. Almost every [`CryptoError`] is the caller's
//! mistake — a wrong key length, a malformed key, a failed authentication —
//! and maps to the WIT `invalid-request`; the exceptions are a failing
//! operating-system random generator and a failing key generation, which can
//! only be the host's fault.

mod aead;
mod byok;
mod ec;
mod external;
mod fast;
mod handle;
mod hash;
mod keys;
mod kind;
mod permissions;
mod rsa;
mod sealed;
mod software;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod handle_tests;
#[cfg(test)]
mod sealed_tests;
#[cfg(test)]
mod software_tests;
#[cfg(test)]
mod tests;

use std::fmt;

pub use self::aead::{aead_open, aead_seal, aes_key_unwrap_pad, aes_key_wrap_pad};
pub use self::byok::{byok_unwrap, byok_wrap};
pub use self::external::{ecdsa_from_der, ecdsa_from_fixed, prepare_external, ExternalSignature};
pub use self::handle::{cost_of, Cipher, Cost, KeyFuture, KeyHandle, Operation, HEAVY_INPUT_BYTES};
pub use self::hash::{hash, hkdf, hmac, hmac_verify, random_bytes};
pub use self::keys::{PrivateKey, PublicKey};
pub use self::kind::{KeyKind, DEFAULT_HMAC_KEY_BYTES, HMAC_KEY_BYTES};
pub use self::permissions::{Permission, Permissions};
pub use self::sealed::{BlobError, KeySealer, OpenedBlob};
pub use self::software::{AeadItem, SoftwareKey};

/// The most `random_bytes` hands out in one call: 1 MiB.
pub const MAX_RANDOM_BYTES: u32 = 1024 * 1024;

/// Why a cryptographic operation failed. The message names the problem and
/// is meant to be shown to the client. Almost always the caller's mistake;
/// [`CryptoError::unavailable`] is the exception: a key's device or KMS
/// could not be reached (a 503, not the caller's fault).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CryptoError {
    message: String,
    unavailable: bool,
}

impl CryptoError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            unavailable: false,
        }
    }

    /// The key's backend (an HSM, a cloud KMS) could not do the work: it
    /// is unreachable, hung or failing.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            unavailable: true,
        }
    }

    /// Whether it is [`CryptoError::unavailable`].
    pub fn is_unavailable(&self) -> bool {
        self.unavailable
    }

    /// The message, as `Display` shows it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// "unknown `what` `name`: expected one of ...".
pub(crate) fn unknown<const N: usize>(what: &str, name: &str, known: [&str; N]) -> CryptoError {
    CryptoError::new(format!(
        "unknown {what} `{name}`: expected one of {}",
        known.join(", ")
    ))
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CryptoError {}

/// Hash functions (WIT `hash-algorithm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// SHA-1 (FIPS 180-4); only for compatibility.
    Sha1,
    /// SHA-224 (FIPS 180-4).
    Sha224,
    /// SHA-256 (FIPS 180-4).
    Sha256,
    /// SHA-384 (FIPS 180-4).
    Sha384,
    /// SHA-512 (FIPS 180-4).
    Sha512,
    /// SHA-512/256 (FIPS 180-4), SHA-512 truncated with its own IV.
    Sha512_256,
    /// SHA3-224 (FIPS 202).
    Sha3_224,
    /// SHA3-256 (FIPS 202).
    Sha3_256,
    /// SHA3-384 (FIPS 202).
    Sha3_384,
    /// SHA3-512 (FIPS 202).
    Sha3_512,
}

impl HashAlgorithm {
    /// The digest's length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha224 | Self::Sha3_224 => 28,
            Self::Sha256 | Self::Sha512_256 | Self::Sha3_256 => 32,
            Self::Sha384 | Self::Sha3_384 => 48,
            Self::Sha512 | Self::Sha3_512 => 64,
        }
    }

    /// The name contract 0.2 and Vault's transit give it (`sha2-256`,
    /// `sha2-512/256`, `sha3-256`); contract 0.1 used an enum.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha224 => "sha2-224",
            Self::Sha256 => "sha2-256",
            Self::Sha384 => "sha2-384",
            Self::Sha512 => "sha2-512",
            Self::Sha512_256 => "sha2-512/256",
            Self::Sha3_224 => "sha3-224",
            Self::Sha3_256 => "sha3-256",
            Self::Sha3_384 => "sha3-384",
            Self::Sha3_512 => "sha3-512",
        }
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Authenticated encryption algorithms (WIT `aead-algorithm`); all take
/// 12-byte nonces and produce 16-byte tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AeadAlgorithm {
    /// AES-128 in GCM mode: 16-byte key.
    Aes128Gcm,
    /// AES-256 in GCM mode: 32-byte key.
    Aes256Gcm,
    /// ChaCha20-Poly1305 (RFC 8439): 32-byte key.
    ChaCha20Poly1305,
}

impl AeadAlgorithm {
    /// The key's length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Self::Aes128Gcm => 16,
            Self::Aes256Gcm | Self::ChaCha20Poly1305 => 32,
        }
    }

    /// The name contract 0.2 and Vault's transit give it, as an algorithm
    /// and as a key type (`aes256-gcm96`: the 96 is the nonce's bits).
    pub fn name(self) -> &'static str {
        match self {
            Self::Aes128Gcm => "aes128-gcm96",
            Self::Aes256Gcm => "aes256-gcm96",
            Self::ChaCha20Poly1305 => "chacha20-poly1305",
        }
    }
}

impl fmt::Display for AeadAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Asymmetric key types (WIT `key-type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// RSA with a 2048-bit modulus.
    Rsa2048,
    /// RSA with a 3072-bit modulus.
    Rsa3072,
    /// RSA with a 4096-bit modulus.
    Rsa4096,
    /// ECDSA over NIST P-256.
    EcdsaP256,
    /// ECDSA over NIST P-384.
    EcdsaP384,
    /// ECDSA over NIST P-521.
    EcdsaP521,
    /// Ed25519 (RFC 8032).
    Ed25519,
}

impl KeyType {
    /// Every key type, in WIT order.
    pub const ALL: [Self; 7] = [
        Self::Rsa2048,
        Self::Rsa3072,
        Self::Rsa4096,
        Self::EcdsaP256,
        Self::EcdsaP384,
        Self::EcdsaP521,
        Self::Ed25519,
    ];

    /// The name Vault gives the type (`rsa-2048`, `ecdsa-p256`, `ed25519`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Rsa2048 => "rsa-2048",
            Self::Rsa3072 => "rsa-3072",
            Self::Rsa4096 => "rsa-4096",
            Self::EcdsaP256 => "ecdsa-p256",
            Self::EcdsaP384 => "ecdsa-p384",
            Self::EcdsaP521 => "ecdsa-p521",
            Self::Ed25519 => "ed25519",
        }
    }

    /// The modulus size in bits for RSA types, none for the others.
    pub fn rsa_bits(self) -> Option<usize> {
        match self {
            Self::Rsa2048 => Some(2048),
            Self::Rsa3072 => Some(3072),
            Self::Rsa4096 => Some(4096),
            Self::EcdsaP256 | Self::EcdsaP384 | Self::EcdsaP521 | Self::Ed25519 => None,
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// RSA signature paddings (WIT `rsa-padding`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RsaPadding {
    /// RSASSA-PSS (RFC 8017 §8.1) with MGF1 over the signature's hash.
    #[default]
    Pss,
    /// RSASSA-PKCS1-v1_5 (RFC 8017 §8.2).
    Pkcs1v15,
}

/// How an ECDSA signature is encoded (WIT `signature-encoding`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SignatureEncoding {
    /// ASN.1 DER `SEQUENCE { r, s }`.
    #[default]
    Asn1,
    /// Fixed-width `r || s`, as JWS and PKCS#11 use.
    Fixed,
}

impl RsaPadding {
    /// The `keys.wit` name (`pss`, `pkcs1v15`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Pss => "pss",
            Self::Pkcs1v15 => "pkcs1v15",
        }
    }
}

impl SignatureEncoding {
    /// The `keys.wit` name (`asn1`, `fixed`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Asn1 => "asn1",
            Self::Fixed => "fixed",
        }
    }
}

/// `ALL` and `from_name` (the inverse of `name`, an unknown name an error
/// listing the known) for an enum of contract 0.2's named values.
macro_rules! named {
    ($type:ident, $what:literal, [$($variant:ident),+ $(,)?]) => {
        impl $type {
            /// Every value, in WIT order.
            pub const ALL: [Self; [$(Self::$variant),+].len()] = [$(Self::$variant),+];

            /// The value [`Self::name`] names; an unknown name is an error
            /// naming it and the known ones.
            pub fn from_name(name: &str) -> Result<Self, CryptoError> {
                Self::ALL
                    .into_iter()
                    .find(|value| value.name() == name)
                    .ok_or_else(|| unknown($what, name, Self::ALL.map(Self::name)))
            }
        }
    };
}

named!(
    HashAlgorithm,
    "hash algorithm",
    [Sha1, Sha224, Sha256, Sha384, Sha512, Sha512_256, Sha3_224, Sha3_256, Sha3_384, Sha3_512]
);
named!(
    AeadAlgorithm,
    "AEAD algorithm",
    [Aes128Gcm, Aes256Gcm, ChaCha20Poly1305]
);
named!(RsaPadding, "RSA padding", [Pss, Pkcs1v15]);
named!(SignatureEncoding, "signature encoding", [Asn1, Fixed]);
named!(
    PrivateKeyFormat,
    "private key format",
    [Pkcs8Der, Pkcs8Pem, Pkcs1Pem, Sec1Pem, Raw]
);
named!(
    PublicKeyFormat,
    "public key format",
    [SpkiDer, SpkiPem, Pkcs1Pem, Raw]
);

/// How `sign` and `verify` treat the message (WIT `sign-options`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SignOptions {
    /// The hash to apply; none means SHA-256 for RSA and ECDSA, except that
    /// RSA PKCS#1 v1.5 with `prehashed` then signs the input as it is, with
    /// no DigestInfo. Ignored for Ed25519.
    pub hash: Option<HashAlgorithm>,
    /// The input is already a digest: do not hash it again. For RSA it must
    /// be as long as `hash`'s digests; ECDSA takes any non-empty input and
    /// uses its leftmost bits as the curve requires. Ignored for Ed25519.
    pub prehashed: bool,
    /// RSA only.
    pub padding: RsaPadding,
    /// RSA-PSS salt length in bytes; none means the longest possible when
    /// signing and any length when verifying.
    pub salt_length: Option<u32>,
    /// ECDSA only.
    pub encoding: SignatureEncoding,
}

/// Encodings of a private key (WIT `private-key-format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PrivateKeyFormat {
    /// PKCS#8 DER, for any type (version 1: no embedded public key).
    Pkcs8Der,
    /// PKCS#8 PEM (`PRIVATE KEY`), for any type.
    Pkcs8Pem,
    /// PKCS#1 PEM (`RSA PRIVATE KEY`), RSA only.
    Pkcs1Pem,
    /// SEC1 PEM (`EC PRIVATE KEY`) naming its curve, ECDSA only.
    Sec1Pem,
    /// The raw 32-byte seed, Ed25519 only.
    Raw,
}

impl PrivateKeyFormat {
    /// The WIT name.
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

/// Encodings of a public key (WIT `public-key-format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PublicKeyFormat {
    /// SubjectPublicKeyInfo DER, for any type.
    SpkiDer,
    /// SubjectPublicKeyInfo PEM (`PUBLIC KEY`), for any type.
    SpkiPem,
    /// PKCS#1 PEM (`RSA PUBLIC KEY`), RSA only.
    Pkcs1Pem,
    /// The 32-byte Ed25519 key, or the uncompressed SEC1 point; not RSA.
    Raw,
}

impl PublicKeyFormat {
    /// The WIT name.
    pub fn name(self) -> &'static str {
        match self {
            Self::SpkiDer => "spki-der",
            Self::SpkiPem => "spki-pem",
            Self::Pkcs1Pem => "pkcs1-pem",
            Self::Raw => "raw",
        }
    }
}

/// Runs `$body` with `$d` naming the RustCrypto digest type of `$alg`.
macro_rules! with_digest {
    ($alg:expr, $d:ident => $body:expr) => {
        match $alg {
            $crate::HashAlgorithm::Sha1 => {
                type $d = ::sha1::Sha1;
                $body
            }
            $crate::HashAlgorithm::Sha224 => {
                type $d = ::sha2::Sha224;
                $body
            }
            $crate::HashAlgorithm::Sha256 => {
                type $d = ::sha2::Sha256;
                $body
            }
            $crate::HashAlgorithm::Sha384 => {
                type $d = ::sha2::Sha384;
                $body
            }
            $crate::HashAlgorithm::Sha512 => {
                type $d = ::sha2::Sha512;
                $body
            }
            $crate::HashAlgorithm::Sha512_256 => {
                type $d = ::sha2::Sha512_256;
                $body
            }
            $crate::HashAlgorithm::Sha3_224 => {
                type $d = ::sha3::Sha3_224;
                $body
            }
            $crate::HashAlgorithm::Sha3_256 => {
                type $d = ::sha3::Sha3_256;
                $body
            }
            $crate::HashAlgorithm::Sha3_384 => {
                type $d = ::sha3::Sha3_384;
                $body
            }
            $crate::HashAlgorithm::Sha3_512 => {
                type $d = ::sha3::Sha3_512;
                $body
            }
        }
    };
}
use with_digest;
