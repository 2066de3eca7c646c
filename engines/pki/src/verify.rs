//! Checking signatures made by others (a CSR's self-signature, an
//! imported certificate's issuer): the key type from a SubjectPublicKeyInfo
//! and the host's verify options from a signature algorithm identifier.
//! The host does the arithmetic.

use coffer_sdk::crypto::{HashAlgorithm, RsaPadding, SignOptions, SignatureEncoding};
use coffer_sdk::keys::{KeyType, PublicKey};
use coffer_sdk::prelude::*;
use der::asn1::{ObjectIdentifier, UintRef};
use der::{Decode, Encode, Sequence};
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use crate::alg::{hash_of_oid, PssParams};

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");

#[derive(Sequence)]
struct RsaPublicKey<'a> {
    modulus: UintRef<'a>,
    exponent: UintRef<'a>,
}

/// The host key type of a public key; unsupported algorithms and sizes
/// are a 400.
pub fn spki_key_type(spki: &SubjectPublicKeyInfoOwned) -> Result<KeyType, Error> {
    let oid = spki.algorithm.oid;
    if oid == RSA_ENCRYPTION {
        let key = RsaPublicKey::from_der(spki.subject_public_key.raw_bytes())
            .map_err(|e| Error::invalid(format!("invalid RSA public key: {e}")))?;
        let bits = key.modulus.as_bytes().len() * 8;
        return match bits {
            2048 => Ok(KeyType::Rsa2048),
            3072 => Ok(KeyType::Rsa3072),
            4096 => Ok(KeyType::Rsa4096),
            b => Err(Error::invalid(format!(
                "unsupported RSA key size: {b} bits (2048, 3072 or 4096)"
            ))),
        };
    }
    if oid == EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        return match curve {
            Some(c) if c == P256 => Ok(KeyType::EcdsaP256),
            Some(c) if c == P384 => Ok(KeyType::EcdsaP384),
            Some(c) if c == P521 => Ok(KeyType::EcdsaP521),
            _ => Err(Error::invalid(
                "unsupported EC curve (P-256, P-384 or P-521)",
            )),
        };
    }
    if oid == ED25519 {
        return Ok(KeyType::Ed25519);
    }
    Err(Error::invalid(format!(
        "unsupported public key algorithm {oid}"
    )))
}

/// The host's verify options for a signature algorithm; none when
/// unsupported.
pub fn options(alg: &AlgorithmIdentifierOwned) -> Option<SignOptions> {
    let rsa = |hash| SignOptions {
        hash: Some(hash),
        padding: RsaPadding::Pkcs1v15,
        ..SignOptions::default()
    };
    let ecdsa = |hash| SignOptions {
        hash: Some(hash),
        encoding: SignatureEncoding::Asn1,
        ..SignOptions::default()
    };
    Some(match alg.oid.to_string().as_str() {
        "1.2.840.113549.1.1.5" => rsa(HashAlgorithm::Sha1),
        "1.2.840.113549.1.1.11" => rsa(HashAlgorithm::Sha256),
        "1.2.840.113549.1.1.12" => rsa(HashAlgorithm::Sha384),
        "1.2.840.113549.1.1.13" => rsa(HashAlgorithm::Sha512),
        "1.2.840.10045.4.3.2" => ecdsa(HashAlgorithm::Sha256),
        "1.2.840.10045.4.3.3" => ecdsa(HashAlgorithm::Sha384),
        "1.2.840.10045.4.3.4" => ecdsa(HashAlgorithm::Sha512),
        "1.3.101.112" => SignOptions::default(),
        "1.2.840.113549.1.1.10" => {
            // PSS: the hash its parameters name, any salt length.
            let params: PssParams = alg.parameters.as_ref()?.decode_as().ok()?;
            let hash = match params.hash {
                Some(h) => hash_of_oid(h.oid)?,
                None => HashAlgorithm::Sha1,
            };
            SignOptions {
                hash: Some(hash),
                padding: RsaPadding::Pss,
                salt_length: None,
                ..SignOptions::default()
            }
        }
        _ => return None,
    })
}

/// Whether `signature` over `signed`'s DER verifies with `spki` under
/// `alg`; anything unsupported or malformed is `false`.
pub fn signed_by(
    signed: &impl Encode,
    alg: &AlgorithmIdentifierOwned,
    signature: &[u8],
    spki: &SubjectPublicKeyInfoOwned,
) -> bool {
    let check = || -> Option<bool> {
        let options = options(alg)?;
        let key_type = spki_key_type(spki).ok()?;
        let key = PublicKey::import(key_type, &spki.to_der().ok()?).ok()?;
        let message = signed.to_der().ok()?;
        key.verify(&message, signature, options).ok()
    };
    check().unwrap_or(false)
}
