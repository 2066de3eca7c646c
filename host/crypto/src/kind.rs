//! The key-type table: every kind of key a handle holds, by the names
//! contract 0.2 gives them (`keys.wit`) — which are Vault's transit names.
//!
//! The names are not listed here a second time: an AEAD key is named by
//! [`AeadAlgorithm::name`], a key pair by [`KeyType::name`], and `hmac` is
//! the one name of its own. Adding an algorithm to either list adds its key
//! type.

use std::fmt;
use std::ops::RangeInclusive;

use super::{AeadAlgorithm, CryptoError, KeyType};

/// The name of HMAC keys.
const HMAC: &str = "hmac";

/// The lengths an HMAC key may have, in bytes: at least 128 bits, at most
/// Vault's 512 bytes.
pub const HMAC_KEY_BYTES: RangeInclusive<usize> = 16..=512;

/// The length of a generated HMAC key when none is asked for (transit's
/// default).
pub const DEFAULT_HMAC_KEY_BYTES: usize = 32;

/// What a key is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// A key pair.
    Asymmetric(KeyType),
    /// A secret key for this AEAD algorithm.
    Symmetric(AeadAlgorithm),
    /// A secret key for HMAC, of this many bytes (in [`HMAC_KEY_BYTES`]).
    Hmac(usize),
}

impl KeyKind {
    /// Parses a key type of `keys.wit` (`aes256-gcm96`, `hmac`,
    /// `rsa-2048`, ...). `size` is an HMAC key's length in bytes (none:
    /// [`DEFAULT_HMAC_KEY_BYTES`]) and must be none for the other types.
    /// An unknown name, a size out of [`HMAC_KEY_BYTES`] or a size for a
    /// type that takes none is an error naming it.
    pub fn parse(name: &str, size: Option<u32>) -> Result<Self, CryptoError> {
        let kind = if name == HMAC {
            let len = match size {
                None => DEFAULT_HMAC_KEY_BYTES,
                Some(size) => usize::try_from(size).unwrap_or(usize::MAX),
            };
            return Self::hmac(len);
        } else if let Some(algorithm) = AeadAlgorithm::ALL.into_iter().find(|a| a.name() == name) {
            Self::Symmetric(algorithm)
        } else if let Some(key_type) = KeyType::ALL.into_iter().find(|t| t.name() == name) {
            Self::Asymmetric(key_type)
        } else {
            return Err(CryptoError::new(format!(
                "unknown key type `{name}`: expected one of {}",
                Self::names().join(", ")
            )));
        };
        match size {
            None => Ok(kind),
            Some(size) => Err(CryptoError::new(format!(
                "a size ({size}) is given only for hmac keys, not {name}"
            ))),
        }
    }

    /// The type named `name` of a key whose encoding, as imported, is
    /// `encoded_len` bytes long: an HMAC key is as long as its bytes.
    pub fn of_import(name: &str, encoded_len: usize) -> Result<Self, CryptoError> {
        if name == HMAC {
            Self::hmac(encoded_len)
        } else {
            Self::parse(name, None)
        }
    }

    /// An HMAC key of `len` bytes, if [`HMAC_KEY_BYTES`] allows it.
    pub fn hmac(len: usize) -> Result<Self, CryptoError> {
        if HMAC_KEY_BYTES.contains(&len) {
            Ok(Self::Hmac(len))
        } else {
            Err(CryptoError::new(format!(
                "an hmac key is {} to {} bytes, not {len}",
                HMAC_KEY_BYTES.start(),
                HMAC_KEY_BYTES.end()
            )))
        }
    }

    /// Its `keys.wit` name (`aes256-gcm96`, `hmac`, `rsa-2048`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Asymmetric(key_type) => key_type.name(),
            Self::Symmetric(algorithm) => algorithm.name(),
            Self::Hmac(_) => HMAC,
        }
    }

    /// Its size in bits (`keys.wit`'s `key.size`): an RSA modulus's, the
    /// curve's (256 for Ed25519), or a secret key's length times 8.
    pub fn bits(self) -> u32 {
        let bits = match self {
            Self::Asymmetric(KeyType::Rsa2048) => 2048,
            Self::Asymmetric(KeyType::Rsa3072) => 3072,
            Self::Asymmetric(KeyType::Rsa4096) => 4096,
            Self::Asymmetric(KeyType::EcdsaP256 | KeyType::Ed25519) => 256,
            Self::Asymmetric(KeyType::EcdsaP384) => 384,
            Self::Asymmetric(KeyType::EcdsaP521) => 521,
            Self::Symmetric(algorithm) => algorithm.key_len() * 8,
            Self::Hmac(len) => len * 8,
        };
        u32::try_from(bits).unwrap_or(u32::MAX)
    }

    /// Every key type's name, in `keys.wit`'s order.
    pub fn names() -> Vec<&'static str> {
        AeadAlgorithm::ALL
            .map(AeadAlgorithm::name)
            .into_iter()
            .chain([HMAC])
            .chain(KeyType::ALL.map(KeyType::name))
            .collect()
    }
}

impl fmt::Display for KeyKind {
    /// Its name (`rsa-2048`, `aes256-gcm96`, `hmac`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_name_of_keys_wit_parses_and_prints_back() {
        // The list as keys.wit writes it, typed out here on purpose.
        let wit = [
            "aes128-gcm96",
            "aes256-gcm96",
            "chacha20-poly1305",
            "hmac",
            "rsa-2048",
            "rsa-3072",
            "rsa-4096",
            "ecdsa-p256",
            "ecdsa-p384",
            "ecdsa-p521",
            "ed25519",
        ];
        assert_eq!(KeyKind::names(), wit);
        for name in wit {
            assert_eq!(KeyKind::parse(name, None).unwrap().to_string(), name);
        }
        assert_eq!(
            KeyKind::parse("aes256-gcm96", None),
            Ok(KeyKind::Symmetric(AeadAlgorithm::Aes256Gcm))
        );
        assert_eq!(
            KeyKind::parse("ecdsa-p384", None),
            Ok(KeyKind::Asymmetric(KeyType::EcdsaP384))
        );
    }

    #[test]
    fn hmac_sizes() {
        assert_eq!(KeyKind::parse("hmac", None), Ok(KeyKind::Hmac(32)));
        assert_eq!(KeyKind::parse("hmac", Some(64)), Ok(KeyKind::Hmac(64)));
        assert_eq!(KeyKind::parse("hmac", Some(16)), Ok(KeyKind::Hmac(16)));
        assert_eq!(KeyKind::parse("hmac", Some(512)), Ok(KeyKind::Hmac(512)));
        for bad in [0, 15, 513, u32::MAX] {
            let err = KeyKind::parse("hmac", Some(bad)).unwrap_err();
            assert_eq!(
                err.message(),
                format!("an hmac key is 16 to 512 bytes, not {bad}")
            );
        }
        assert_eq!(KeyKind::of_import("hmac", 48), Ok(KeyKind::Hmac(48)));
        assert!(KeyKind::of_import("hmac", 8).is_err());
        assert_eq!(
            KeyKind::of_import("ed25519", 48),
            Ok(KeyKind::Asymmetric(KeyType::Ed25519))
        );
    }

    #[test]
    fn unknown_names_and_stray_sizes_are_errors_naming_them() {
        let err = KeyKind::parse("aes256-gcm", None).unwrap_err();
        assert!(
            err.message().starts_with(
                "unknown key type `aes256-gcm`: expected one of aes128-gcm96, aes256-gcm96,"
            ),
            "{err}"
        );
        for name in ["", "HMAC", "rsa-1024", "ml-dsa-65", "ed25519 "] {
            assert!(KeyKind::parse(name, None).is_err(), "{name:?}");
        }
        assert_eq!(
            KeyKind::parse("aes256-gcm96", Some(32))
                .unwrap_err()
                .message(),
            "a size (32) is given only for hmac keys, not aes256-gcm96"
        );
    }
}

#[cfg(test)]
mod name_tests {
    #![allow(clippy::unwrap_used)]

    use crate::{
        AeadAlgorithm, HashAlgorithm, PrivateKeyFormat, PublicKeyFormat, RsaPadding,
        SignatureEncoding,
    };

    /// Every name contract 0.2 writes (crypto.wit, keys.wit), typed out
    /// here, parses to a value that prints it back; near misses do not.
    #[test]
    fn every_wit_name_parses_and_prints_back() {
        for name in [
            "sha1",
            "sha2-224",
            "sha2-256",
            "sha2-384",
            "sha2-512",
            "sha2-512/256",
            "sha3-224",
            "sha3-256",
            "sha3-384",
            "sha3-512",
        ] {
            assert_eq!(HashAlgorithm::from_name(name).unwrap().name(), name);
        }
        for name in ["aes128-gcm96", "aes256-gcm96", "chacha20-poly1305"] {
            assert_eq!(AeadAlgorithm::from_name(name).unwrap().name(), name);
        }
        for name in ["raw", "pkcs8-der", "pkcs8-pem", "pkcs1-pem", "sec1-pem"] {
            assert_eq!(PrivateKeyFormat::from_name(name).unwrap().name(), name);
        }
        for name in ["spki-der", "spki-pem", "pkcs1-pem", "raw"] {
            assert_eq!(PublicKeyFormat::from_name(name).unwrap().name(), name);
        }
        for name in ["pss", "pkcs1v15"] {
            assert_eq!(RsaPadding::from_name(name).unwrap().name(), name);
        }
        for name in ["asn1", "fixed"] {
            assert_eq!(SignatureEncoding::from_name(name).unwrap().name(), name);
        }
        assert_eq!(
            HashAlgorithm::from_name("sha256").unwrap_err().message(),
            "unknown hash algorithm `sha256`: expected one of sha1, sha2-224, sha2-256, sha2-384, sha2-512, sha2-512/256, sha3-224, sha3-256, sha3-384, sha3-512"
        );
        assert!(AeadAlgorithm::from_name("aes256-gcm").is_err());
        assert!(PrivateKeyFormat::from_name("PKCS8-DER").is_err());
        assert!(PublicKeyFormat::from_name("sec1-pem").is_err());
        assert!(RsaPadding::from_name("oaep").is_err());
        assert_eq!(
            SignatureEncoding::from_name("der").unwrap_err().message(),
            "unknown signature encoding `der`: expected one of asn1, fixed"
        );
    }
}
