//! Key types and signature algorithms: PKI's `key_type`/`key_bits` pairs,
//! the host key type each names, and the algorithm (identifier and host
//! sign options) an issuer's key signs with. The one place these lists
//! live.

use coffer_sdk::crypto::{HashAlgorithm, RsaPadding, SignOptions, SignatureEncoding};
use coffer_sdk::keys::KeyType;
use coffer_sdk::prelude::*;
use der::asn1::{Any, ObjectIdentifier};
use der::{Encode, Sequence};
use x509_cert::spki::AlgorithmIdentifierOwned;

/// A PKI key type as requests and records name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FieldEnum)]
#[field(rename_all = "lowercase")]
pub enum PkiKeyType {
    /// RSA.
    Rsa,
    /// ECDSA (NIST curves).
    Ec,
    /// Ed25519.
    Ed25519,
}

/// A role's `key_type`: a PKI key type or `any`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FieldEnum)]
#[field(rename_all = "lowercase")]
pub enum RoleKeyType {
    /// RSA.
    Rsa,
    /// ECDSA.
    Ec,
    /// Ed25519.
    Ed25519,
    /// Any type (for `sign`; `issue` refuses it).
    Any,
}

impl RoleKeyType {
    /// The PKI key type, none for `any`.
    pub fn pki(self) -> Option<PkiKeyType> {
        match self {
            Self::Rsa => Some(PkiKeyType::Rsa),
            Self::Ec => Some(PkiKeyType::Ec),
            Self::Ed25519 => Some(PkiKeyType::Ed25519),
            Self::Any => None,
        }
    }
}

impl PkiKeyType {
    /// The type a request names; anything else is Vault's 400.
    pub fn parse(text: &str) -> Result<Self, Error> {
        text.trim()
            .parse()
            .map_err(|_| Error::invalid(format!("unknown key type {}", text.trim())))
    }
}

impl RoleKeyType {
    /// The type a role names; anything else is Vault's 400.
    pub fn parse(text: &str) -> Result<Self, Error> {
        text.trim()
            .parse()
            .map_err(|_| Error::invalid(format!("unknown key type {}", text.trim())))
    }
}

/// The key bits `0` stands for with each type.
pub fn default_bits(kind: PkiKeyType) -> u32 {
    match kind {
        PkiKeyType::Rsa => 2048,
        PkiKeyType::Ec => 256,
        PkiKeyType::Ed25519 => 0,
    }
}

/// The host key type for `kind` and `bits` (0: the type's default);
/// other sizes are a 400 in Vault's words.
pub fn host_key_type(kind: PkiKeyType, bits: u32) -> Result<(KeyType, u32), Error> {
    let bits = if bits == 0 { default_bits(kind) } else { bits };
    let t = match (kind, bits) {
        (PkiKeyType::Rsa, 2048) => KeyType::Rsa2048,
        (PkiKeyType::Rsa, 3072) => KeyType::Rsa3072,
        (PkiKeyType::Rsa, 4096) => KeyType::Rsa4096,
        (PkiKeyType::Rsa, b) if b < 2048 => {
            return Err(Error::invalid(format!(
                "RSA keys < 2048 bits are unsafe and not supported: got {b}"
            )))
        }
        (PkiKeyType::Rsa, b) => {
            return Err(Error::invalid(format!(
                "unsupported bit length for RSA key: {b}"
            )))
        }
        (PkiKeyType::Ec, 224) => {
            return Err(Error::invalid(
                "unsupported bit length for EC key: 224 (P-224 is not offered)",
            ))
        }
        (PkiKeyType::Ec, 256) => KeyType::EcdsaP256,
        (PkiKeyType::Ec, 384) => KeyType::EcdsaP384,
        (PkiKeyType::Ec, 521) => KeyType::EcdsaP521,
        (PkiKeyType::Ec, b) => {
            return Err(Error::invalid(format!(
                "unsupported bit length for EC key: {b}"
            )))
        }
        (PkiKeyType::Ed25519, _) => KeyType::Ed25519,
    };
    Ok((t, if kind == PkiKeyType::Ed25519 { 0 } else { bits }))
}

/// The PKI type and bits of a host key type; none for secret keys.
pub fn pki_key_type(t: KeyType) -> Option<(PkiKeyType, u32)> {
    Some(match t {
        KeyType::Rsa2048 => (PkiKeyType::Rsa, 2048),
        KeyType::Rsa3072 => (PkiKeyType::Rsa, 3072),
        KeyType::Rsa4096 => (PkiKeyType::Rsa, 4096),
        KeyType::EcdsaP256 => (PkiKeyType::Ec, 256),
        KeyType::EcdsaP384 => (PkiKeyType::Ec, 384),
        KeyType::EcdsaP521 => (PkiKeyType::Ec, 521),
        KeyType::Ed25519 => (PkiKeyType::Ed25519, 0),
        _ => return None,
    })
}

// Signature algorithm identifiers (RFC 4055, RFC 5758, RFC 8410).
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const SHA384_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const SHA512_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const MGF1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ECDSA_WITH_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");

/// RSASSA-PSS-params (RFC 4055); absent fields take the RFC's defaults
/// (SHA-1, MGF1 with SHA-1, 20, 1).
#[derive(Sequence)]
pub struct PssParams {
    /// The message hash.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub hash: Option<AlgorithmIdentifierOwned>,
    /// The mask generation function.
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub mask_gen: Option<AlgorithmIdentifierOwned>,
    /// The salt length.
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    pub salt_length: Option<u32>,
    /// The trailer field.
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    pub trailer: Option<u32>,
}

/// The hash an OID names (SHA-1 and SHA-2), as PSS parameters give it.
pub fn hash_of_oid(oid: ObjectIdentifier) -> Option<HashAlgorithm> {
    match oid {
        o if o == SHA256 => Some(HashAlgorithm::Sha256),
        o if o == SHA384 => Some(HashAlgorithm::Sha384),
        o if o == SHA512 => Some(HashAlgorithm::Sha512),
        o if o == SHA1 => Some(HashAlgorithm::Sha1),
        _ => None,
    }
}

/// The signature hash bits and PSS choice of a Go signature algorithm
/// name, as `revocation_signature_algorithm` takes it; unknown: Vault's 400.
pub fn revocation_algorithm(name: &str) -> Result<(u32, bool), Error> {
    Ok(match name {
        "SHA256WithRSA" | "ECDSAWithSHA256" => (256, false),
        "SHA384WithRSA" | "ECDSAWithSHA384" => (384, false),
        "SHA512WithRSA" | "ECDSAWithSHA512" => (512, false),
        "SHA256WithRSAPSS" => (256, true),
        "SHA384WithRSAPSS" => (384, true),
        "SHA512WithRSAPSS" => (512, true),
        "PureEd25519" | "Ed25519" => (0, false),
        other => {
            return Err(Error::invalid(format!(
                "Unknown signature algorithm value: {other}"
            )))
        }
    })
}

/// How an issuer's key signs: the identifier written into what it signs,
/// and what the host is asked for.
#[derive(Debug, Clone)]
pub struct Signer {
    /// The signature algorithm identifier.
    pub algorithm: AlgorithmIdentifierOwned,
    /// The host's sign options.
    pub options: SignOptions,
}

/// The signature algorithm a key of type `t` signs with: `signature_bits`
/// picks the hash (0: SHA-256 for RSA, the curve's own for ECDSA), and
/// `use_pss` RSA-PSS (salt as long as the hash, as Go signs) over PKCS#1
/// v1.5.
pub fn signer(t: KeyType, signature_bits: u32, use_pss: bool) -> Result<Signer, Error> {
    let hash = |bits: u32| match bits {
        256 => Ok(HashAlgorithm::Sha256),
        384 => Ok(HashAlgorithm::Sha384),
        512 => Ok(HashAlgorithm::Sha512),
        b => Err(Error::invalid(format!(
            "unsupported signature_bits: {b} (expected 256, 384 or 512)"
        ))),
    };
    match pki_key_type(t) {
        Some((PkiKeyType::Rsa, _)) => {
            let h = hash(if signature_bits == 0 {
                256
            } else {
                signature_bits
            })?;
            if use_pss {
                let digest = AlgorithmIdentifierOwned {
                    oid: match h {
                        HashAlgorithm::Sha384 => SHA384,
                        HashAlgorithm::Sha512 => SHA512,
                        _ => SHA256,
                    },
                    parameters: Some(Any::null()),
                };
                let params = PssParams {
                    hash: Some(digest.clone()),
                    mask_gen: Some(AlgorithmIdentifierOwned {
                        oid: MGF1,
                        parameters: Some(any_of(&digest)?),
                    }),
                    salt_length: Some(h.output_len() as u32),
                    trailer: None,
                };
                return Ok(Signer {
                    algorithm: AlgorithmIdentifierOwned {
                        oid: RSASSA_PSS,
                        parameters: Some(any_of(&params)?),
                    },
                    options: SignOptions {
                        hash: Some(h),
                        padding: RsaPadding::Pss,
                        salt_length: Some(h.output_len() as u32),
                        ..SignOptions::default()
                    },
                });
            }
            Ok(Signer {
                algorithm: AlgorithmIdentifierOwned {
                    oid: match h {
                        HashAlgorithm::Sha384 => SHA384_WITH_RSA,
                        HashAlgorithm::Sha512 => SHA512_WITH_RSA,
                        _ => SHA256_WITH_RSA,
                    },
                    parameters: Some(Any::null()),
                },
                options: SignOptions {
                    hash: Some(h),
                    padding: RsaPadding::Pkcs1v15,
                    ..SignOptions::default()
                },
            })
        }
        Some((PkiKeyType::Ec, curve)) => {
            let bits = match (signature_bits, curve) {
                (0, 256) => 256,
                (0, 384) => 384,
                (0, _) => 512,
                (b, _) => b,
            };
            let h = hash(bits)?;
            Ok(Signer {
                algorithm: AlgorithmIdentifierOwned {
                    oid: match h {
                        HashAlgorithm::Sha384 => ECDSA_WITH_SHA384,
                        HashAlgorithm::Sha512 => ECDSA_WITH_SHA512,
                        _ => ECDSA_WITH_SHA256,
                    },
                    parameters: None,
                },
                options: SignOptions {
                    hash: Some(h),
                    encoding: SignatureEncoding::Asn1,
                    ..SignOptions::default()
                },
            })
        }
        Some((PkiKeyType::Ed25519, _)) => Ok(Signer {
            algorithm: AlgorithmIdentifierOwned {
                oid: ED25519,
                parameters: None,
            },
            options: SignOptions::default(),
        }),
        None => Err(Error::invalid(format!("key type {t} cannot sign"))),
    }
}

/// `value` re-read as an `Any` (its DER, as an algorithm's parameters).
fn any_of(value: &impl Encode) -> Result<Any, Error> {
    use der::Decode;
    let der = value.to_der().map_err(|e| Error::internal(e.to_string()))?;
    Any::from_der(&der).map_err(|e| Error::internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_map_both_ways() {
        for t in [
            KeyType::Rsa2048,
            KeyType::Rsa3072,
            KeyType::Rsa4096,
            KeyType::EcdsaP256,
            KeyType::EcdsaP384,
            KeyType::EcdsaP521,
            KeyType::Ed25519,
        ] {
            let (kind, bits) = pki_key_type(t).unwrap();
            assert_eq!(host_key_type(kind, bits).unwrap().0, t);
        }
        assert_eq!(
            host_key_type(PkiKeyType::Rsa, 0).unwrap(),
            (KeyType::Rsa2048, 2048)
        );
        let e = host_key_type(PkiKeyType::Rsa, 1024).unwrap_err();
        assert!(e.message().contains("1024"), "{e:?}");
        assert!(host_key_type(PkiKeyType::Ec, 255).is_err());
    }

    #[test]
    fn ecdsa_hash_follows_the_curve() {
        let s = signer(KeyType::EcdsaP384, 0, false).unwrap();
        assert_eq!(s.algorithm.oid, ECDSA_WITH_SHA384);
        let s = signer(KeyType::EcdsaP521, 0, false).unwrap();
        assert_eq!(s.algorithm.oid, ECDSA_WITH_SHA512);
        let s = signer(KeyType::Rsa2048, 384, true).unwrap();
        assert_eq!(s.algorithm.oid, RSASSA_PSS);
        assert_eq!(s.options.salt_length, Some(48));
        assert!(signer(KeyType::Rsa2048, 1, false).is_err());
    }
}
