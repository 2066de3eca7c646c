//! Tests of sealed key blobs (`sealed.rs`): round trips of every key type,
//! the format read back with RustCrypto's AES-GCM directly, blobs of
//! another mount, altered or cut short, and arbitrary bytes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use p256::elliptic_curve::zeroize::Zeroizing;
use proptest::prelude::*;

use super::*;

fn sealer(byte: u8) -> KeySealer {
    KeySealer::new(&Zeroizing::new([byte; 32]))
}

/// Every kind of key, all permitted to export so that their bytes can be
/// compared (a derived AEAD key too, which carries a nonce key).
fn every_key() -> Vec<Arc<SoftwareKey>> {
    let export = Permissions::from(Permission::Export);
    let mut keys: Vec<Arc<SoftwareKey>> = KeyKind::names()
        .into_iter()
        .map(|name| SoftwareKey::generate(KeyKind::parse(name, None).unwrap(), export).unwrap())
        .collect();
    keys.push(SoftwareKey::generate(KeyKind::Hmac(16), export).unwrap());
    keys.push(SoftwareKey::generate(KeyKind::Hmac(512), export).unwrap());
    let aes = SoftwareKey::generate(KeyKind::Symmetric(AeadAlgorithm::Aes256Gcm), export).unwrap();
    keys.push(aes.derive(b"context").unwrap());
    keys
}

/// The bytes that must not appear in a blob: the raw secret, or the
/// private key's PKCS#8 DER.
fn secret_bytes(key: &SoftwareKey) -> Vec<u8> {
    match key.kind() {
        KeyKind::Asymmetric(_) => key.export(PrivateKeyFormat::Pkcs8Der).unwrap(),
        _ => key.export(PrivateKeyFormat::Raw).unwrap(),
    }
}

#[test]
fn every_key_type_round_trips_with_its_permissions() {
    let sealer = sealer(1);
    for key in every_key() {
        let blob = sealer.seal(&key).unwrap();
        let opened = sealer.open(&blob).unwrap();
        assert_eq!(opened.kind(), key.kind());
        assert_eq!(opened.permissions(), key.permissions());
        assert_eq!(secret_bytes(&opened), secret_bytes(&key), "{}", key.kind());
        // A derived AEAD key keeps its nonce key.
        if let Ok(mac) = key.hmac(HashAlgorithm::Sha256, b"m") {
            assert_eq!(opened.hmac(HashAlgorithm::Sha256, b"m").unwrap(), mac);
        }
        // Two seals of one key differ (random nonces) and both open.
        let again = sealer.seal(&key).unwrap();
        assert_ne!(again, blob);
        assert_eq!(
            secret_bytes(&sealer.open(&again).unwrap()),
            secret_bytes(&key)
        );
    }
    // Permissions travel in the blob, every combination.
    let key = SoftwareKey::generate(KeyKind::Hmac(32), Permissions::NONE).unwrap();
    for permissions in [
        Permissions::NONE,
        Permission::Export.into(),
        Permission::PlaintextBackup.into(),
        Permissions::parse(&["export", "plaintext-backup"]).unwrap(),
    ] {
        let key = Permission::ALL
            .into_iter()
            .filter(|p| permissions.allows(*p))
            .fold(Arc::clone(&key), |k, p| k.permit(p));
        let opened = sealer.open(&sealer.seal(&key).unwrap()).unwrap();
        assert_eq!(opened.permissions(), permissions);
    }
    // A sealed key without `export` still refuses it once opened.
    let opened = sealer.open(&sealer.seal(&key).unwrap()).unwrap();
    assert!(opened.export(PrivateKeyFormat::Raw).is_err());
}

#[test]
fn the_format_is_as_documented() {
    let sealing_key = [9u8; 32];
    let sealer = KeySealer::new(&Zeroizing::new(sealing_key));
    let raw: Vec<u8> = (0..32).collect();
    let key = SoftwareKey::secret(
        AeadAlgorithm::ChaCha20Poly1305,
        Zeroizing::new(raw.clone()),
        Permission::PlaintextBackup.into(),
    )
    .unwrap();
    let blob = sealer.seal(&key).unwrap();
    assert_eq!(&blob[..4], b"CKB\x01");
    let body = aes_gcm::Aes256Gcm::new_from_slice(&sealing_key)
        .unwrap()
        .decrypt(
            blob[4..16].into(),
            Payload {
                msg: &blob[16..],
                aad: &blob[..4],
            },
        )
        .unwrap();
    let mut expected = vec![17u8];
    expected.extend_from_slice(b"chacha20-poly1305");
    expected.push(0b10);
    expected.extend_from_slice(&raw);
    assert_eq!(body, expected);
    assert_eq!(blob.len(), 4 + 12 + expected.len() + 16);
}

#[test]
fn a_blob_does_not_contain_the_key() {
    let sealer = sealer(2);
    for key in every_key() {
        let blob = sealer.seal(&key).unwrap();
        let secret = secret_bytes(&key);
        // No 8-byte window of the secret appears in the blob (a PKCS#8
        // encoding's first bytes are its public structure: skip them).
        let start = if secret.len() > 64 { 32 } else { 0 };
        for window in secret[start..].windows(8) {
            assert!(
                !blob.windows(8).any(|w| w == window),
                "{}: the blob holds key bytes",
                key.kind()
            );
        }
    }
}

#[test]
fn a_blob_of_another_mount_does_not_open() {
    let key =
        SoftwareKey::generate(KeyKind::Asymmetric(KeyType::EcdsaP256), Permissions::NONE).unwrap();
    let blob = sealer(3).seal(&key).unwrap();
    assert_eq!(sealer(4).open(&blob).unwrap_err(), BlobError::Unauthentic);
    assert_eq!(
        sealer(4).open(&blob).unwrap_err().to_string(),
        "the sealed key blob does not open on this mount: it was sealed on another mount, or altered"
    );
    assert!(sealer(3).open(&blob).is_ok());
}

#[test]
fn a_flipped_bit_anywhere_or_a_cut_blob_does_not_open() {
    let sealer = sealer(5);
    let key = SoftwareKey::generate(KeyKind::Hmac(32), Permission::Export.into()).unwrap();
    let blob = sealer.seal(&key).unwrap();
    for i in 0..blob.len() {
        for bit in 0..8 {
            let mut altered = blob.clone();
            altered[i] ^= 1 << bit;
            let err = sealer.open(&altered).unwrap_err();
            let expected = match i {
                0..=2 => BlobError::NotABlob,
                3 => BlobError::UnknownVersion(1 ^ (1 << bit)),
                _ => BlobError::Unauthentic, // nonce, ciphertext, tag
            };
            assert_eq!(err, expected, "byte {i} bit {bit}");
        }
    }
    for len in 0..blob.len() {
        let err = sealer.open(&blob[..len]).unwrap_err();
        assert!(
            matches!(err, BlobError::NotABlob | BlobError::Unauthentic),
            "cut to {len}: {err:?}"
        );
    }
    let mut longer = blob.clone();
    longer.push(0);
    assert_eq!(sealer.open(&longer).unwrap_err(), BlobError::Unauthentic);
    assert_eq!(
        sealer.open(b"").unwrap_err().to_string(),
        "not a sealed key blob"
    );
}

#[test]
fn an_authentic_body_that_is_not_a_key_is_malformed() {
    // Bodies sealed by hand with the mount's key: what a future or buggy
    // host could have written.
    let sealing_key = [6u8; 32];
    let sealer = KeySealer::new(&Zeroizing::new(sealing_key));
    let cipher = aes_gcm::Aes256Gcm::new_from_slice(&sealing_key).unwrap();
    let seal = |body: &[u8]| {
        let mut blob = b"CKB\x01".to_vec();
        blob.extend_from_slice(&[0; 12]);
        blob.extend(
            cipher
                .encrypt(
                    (&[0u8; 12]).into(),
                    Payload {
                        msg: body,
                        aad: b"CKB\x01",
                    },
                )
                .unwrap(),
        );
        blob
    };
    let mut hmac = vec![4u8];
    hmac.extend_from_slice(b"hmac\x00");
    hmac.extend_from_slice(&[1; 32]);
    assert!(sealer.open(&seal(&hmac)).is_ok());
    let cases: [(&[u8], &str); 7] = [
        (b"", "empty"),
        (b"\x09hmac", "its key type is cut short"),
        (b"\x02\xff\xfe\x00", "its key type is not text"),
        (b"\x04hmac", "it has no permissions"),
        (b"\x04hmac\x04", "unknown permission bits 0x04"),
        (
            b"\x04hmac\x00\x01\x02",
            "an hmac key is 16 to 512 bytes, not 2",
        ),
        (b"\x07rsa-512\x00\x30\x00", "unknown key type `rsa-512`"),
    ];
    for (body, why) in cases {
        match sealer.open(&seal(body)) {
            Err(BlobError::Malformed(message)) => {
                assert!(message.starts_with(why), "{message:?} for {body:?}")
            }
            other => panic!("{body:?}: {other:?}"),
        }
    }
    // An AEAD key of a wrong length, and a key pair that does not parse.
    let mut aes = vec![12u8];
    aes.extend_from_slice(b"aes256-gcm96\x00");
    aes.extend_from_slice(&[1; 33]);
    assert!(matches!(
        sealer.open(&seal(&aes)),
        Err(BlobError::Malformed(_))
    ));
    let mut ec = vec![10u8];
    ec.extend_from_slice(b"ecdsa-p256\x00");
    ec.extend_from_slice(&[0x30; 40]);
    assert!(matches!(
        sealer.open(&seal(&ec)),
        Err(BlobError::Malformed(_))
    ));
}

proptest! {
    #[test]
    fn opening_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        prop_assert!(sealer(7).open(&bytes).is_err());
        // With the right header, the bytes reach authentication.
        let mut blob = b"CKB\x01".to_vec();
        blob.extend_from_slice(&bytes);
        prop_assert!(sealer(7).open(&blob).is_err());
    }
}

#[test]
fn unseal_names_the_kind_and_where_to_parse_it() {
    let sealer = sealer(8);
    let cases = [
        (KeyKind::Asymmetric(KeyType::Rsa2048), Cost::Heavy),
        (KeyKind::Asymmetric(KeyType::EcdsaP384), Cost::Heavy),
        (KeyKind::Asymmetric(KeyType::EcdsaP256), Cost::Light),
        (KeyKind::Asymmetric(KeyType::Ed25519), Cost::Light),
        (KeyKind::Symmetric(AeadAlgorithm::Aes128Gcm), Cost::Light),
        (KeyKind::Hmac(64), Cost::Light),
    ];
    for (kind, cost) in cases {
        let key = SoftwareKey::generate(kind, Permissions::NONE).unwrap();
        let opened = sealer.unseal(&sealer.seal(&key).unwrap()).unwrap();
        assert_eq!(opened.kind(), kind);
        assert_eq!(opened.cost(), cost, "{kind}");
        assert_eq!(opened.into_key().unwrap().kind(), kind);
    }
}
