//! Property tests of every key import path (issue #10: "a property test
//! feeds malformed DER/PEM to every import path"): `PrivateKey::import` and
//! `PublicKey::import` for every key type, and `from_ed25519_seed`, fed
//! arbitrary bytes and valid encodings (PKCS#8, PKCS#1, SEC1, SPKI, raw; DER
//! and PEM) with bytes flipped, cut, inserted and PEM bodies re-encoded.
//! Properties: nothing panics (in RustCrypto, in AWS-LC, or here); an
//! import either fails with a message or gives a key that then signs and
//! verifies its own signature (a key half-accepted by one library and not
//! the other would fail that), of the type asked for.
//!
//! An ordinary test run tries a few hundred cases per property;
//! `PROPTEST_CASES` (`just fuzz`) sets how many.

#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;

use proptest::prelude::*;

use super::{KeyType, PrivateKey, PrivateKeyFormat, PublicKey, PublicKeyFormat, SignOptions};

/// `n` cases in an ordinary run; `PROPTEST_CASES` overrides it.
fn cases(n: u32) -> ProptestConfig {
    if std::env::var_os("PROPTEST_CASES").is_some() {
        ProptestConfig::default()
    } else {
        ProptestConfig::with_cases(n)
    }
}

/// One key of each type and every encoding of it the crate writes, made
/// once (RSA generation is slow).
fn encodings() -> &'static Vec<(KeyType, bool, Vec<u8>)> {
    static ALL: OnceLock<Vec<(KeyType, bool, Vec<u8>)>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut all = Vec::new();
        for key_type in KeyType::ALL {
            // One RSA size is enough to reach every RSA path.
            if matches!(key_type, KeyType::Rsa3072 | KeyType::Rsa4096) {
                continue;
            }
            let key = PrivateKey::generate(key_type).unwrap();
            for format in [
                PrivateKeyFormat::Pkcs8Der,
                PrivateKeyFormat::Pkcs8Pem,
                PrivateKeyFormat::Pkcs1Pem,
                PrivateKeyFormat::Sec1Pem,
                PrivateKeyFormat::Raw,
            ] {
                if let Ok(bytes) = key.export(format) {
                    all.push((key_type, true, bytes));
                }
            }
            let public = key.public_key();
            for format in [
                PublicKeyFormat::SpkiDer,
                PublicKeyFormat::SpkiPem,
                PublicKeyFormat::Pkcs1Pem,
                PublicKeyFormat::Raw,
            ] {
                if let Ok(bytes) = public.export(format) {
                    all.push((key_type, false, bytes));
                }
            }
        }
        all
    })
}

/// What an edit does to a valid encoding.
#[derive(Clone, Debug)]
enum Edit {
    Flip(usize, u8),
    Cut(usize),
    Insert(usize, Vec<u8>),
    /// A PEM's base64 body decoded, edited at a byte, and encoded again, so
    /// that the DER inside is what breaks, not the base64.
    Inner(usize, u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(i, x)| Edit::Flip(i, x)),
        any::<usize>().prop_map(Edit::Cut),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, b)| Edit::Insert(i, b)),
        (any::<usize>(), 1..=255u8).prop_map(|(i, x)| Edit::Inner(i, x)),
    ]
}

fn apply(bytes: &[u8], edit: &Edit) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let at = |i: usize| i % out.len().max(1);
    match edit {
        Edit::Flip(i, x) => {
            let i = at(*i);
            if let Some(b) = out.get_mut(i) {
                *b ^= x;
            }
        }
        Edit::Cut(i) => out.truncate(at(*i)),
        Edit::Insert(i, b) => {
            let i = at(*i);
            out.splice(i..i, b.iter().copied());
        }
        Edit::Inner(i, x) => {
            let Ok(text) = std::str::from_utf8(bytes) else {
                return out;
            };
            let Ok((label, mut der)) = sec1::der::pem::decode_vec(text.as_bytes()) else {
                return out;
            };
            let len = der.len().max(1);
            if let Some(b) = der.get_mut(i % len) {
                *b ^= x;
            }
            let pem = sec1::der::pem::encode_string(label, sec1::der::pem::LineEnding::LF, &der);
            return pem.map(String::into_bytes).unwrap_or(out);
        }
    }
    out
}

/// An imported key must work: sign, and verify its own signature, through
/// whichever library holds it.
fn check_private(key_type: KeyType, bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(key) = PrivateKey::import(key_type, bytes) {
        prop_assert_eq!(key.key_type(), key_type);
        let signature = key.sign(b"m", &SignOptions::default());
        prop_assert!(signature.is_ok(), "{:?}", signature.err());
        let signature = signature.unwrap();
        let valid = key
            .public_key()
            .verify(b"m", &signature, &SignOptions::default());
        prop_assert_eq!(valid, Ok(true));
        prop_assert!(key.export(PrivateKeyFormat::Pkcs8Der).is_ok());
    }
    Ok(())
}

fn check_public(key_type: KeyType, bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(key) = PublicKey::import(key_type, bytes) {
        prop_assert_eq!(key.key_type(), key_type);
        // A signature that is not one is false, never a panic or an error.
        let valid = key.verify(
            b"m",
            &[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01],
            &SignOptions::default(),
        );
        prop_assert_eq!(valid, Ok(false));
        prop_assert!(key.export(PublicKeyFormat::SpkiDer).is_ok());
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(256))]

    /// Arbitrary bytes, as every key type, private and public.
    #[test]
    fn arbitrary_bytes_import_or_fail(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        for key_type in KeyType::ALL {
            check_private(key_type, &bytes)?;
            check_public(key_type, &bytes)?;
        }
        let _ = PrivateKey::from_ed25519_seed(&bytes);
    }

    /// Valid encodings, edited, as every key type (so a P-256 key is also
    /// offered as RSA, and so on).
    #[test]
    fn edited_encodings_import_or_fail(index in any::<usize>(), edit in edit()) {
        let all = encodings();
        let (_, private, bytes) = &all[index % all.len()];
        let edited = apply(bytes, &edit);
        for key_type in KeyType::ALL {
            if *private {
                check_private(key_type, &edited)?;
            } else {
                check_public(key_type, &edited)?;
            }
        }
    }
}
