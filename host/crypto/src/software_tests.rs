//! Tests of what a [`SoftwareKey`] answers beyond the [`KeyHandle`] trait
//! (`handle_tests.rs`): permissions, HMAC keys, derivation, batch AEAD.
//! Expected values come from elsewhere: Python's `cryptography` (pasted
//! with the script that made them) and RustCrypto's `aes-gcm` called
//! directly.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aes_gcm::aead::{Aead, KeyInit, Payload};
use p256::elliptic_curve::zeroize::Zeroizing;

use super::*;

fn h(hex: &str) -> Vec<u8> {
    hex::decode(hex).unwrap()
}

/// The 32 bytes 0, 1, ..., 31.
fn aes256_key(permissions: Permissions) -> std::sync::Arc<SoftwareKey> {
    SoftwareKey::secret(
        AeadAlgorithm::Aes256Gcm,
        Zeroizing::new((0..32).collect()),
        permissions,
    )
    .unwrap()
}

fn exportable() -> Permissions {
    Permission::Export.into()
}

#[test]
fn export_and_backup_obey_the_permissions_and_permit_widens_a_new_handle() {
    let key = aes256_key(Permissions::NONE);
    assert_eq!(
        key.export(PrivateKeyFormat::Raw).unwrap_err().message(),
        "the key does not allow export: it lacks the `export` permission"
    );
    assert_eq!(
        key.backup().unwrap_err().message(),
        "the key does not allow a plaintext backup: it lacks the `plaintext-backup` permission"
    );

    let exportable = key.permit(Permission::Export);
    assert_eq!(exportable.permissions().names(), ["export"]);
    assert_eq!(
        exportable.export(PrivateKeyFormat::Raw).unwrap(),
        (0..32).collect::<Vec<u8>>()
    );
    assert!(exportable.export(PrivateKeyFormat::Pkcs8Der).is_err());
    assert!(exportable.backup().is_err());
    // The old handle keeps its own permissions.
    assert!(key.export(PrivateKeyFormat::Raw).is_err());
    assert_eq!(key.permissions(), Permissions::NONE);

    let both = exportable.permit(Permission::PlaintextBackup);
    assert_eq!(
        both.backup().unwrap().as_slice(),
        (0..32).collect::<Vec<u8>>()
    );

    // A key pair's backup is PKCS#8 DER, which parses back to the key.
    let pair = SoftwareKey::generate(
        KeyKind::Asymmetric(KeyType::EcdsaP256),
        Permission::PlaintextBackup.into(),
    )
    .unwrap();
    assert!(pair.export(PrivateKeyFormat::Pkcs8Der).is_err());
    let der = pair.backup().unwrap();
    let parsed = <p256::SecretKey as p256::pkcs8::DecodePrivateKey>::from_pkcs8_der(&der).unwrap();
    let spki = pair
        .public_key()
        .unwrap()
        .export(PublicKeyFormat::Raw)
        .unwrap();
    assert_eq!(
        parsed.public_key().to_sec1_bytes().as_ref(),
        spki.as_slice()
    );
}

#[test]
fn hmac_keys_generate_import_and_mac_by_rfc_4231() {
    for len in [16, 32, 64, 512] {
        let key = SoftwareKey::generate(KeyKind::Hmac(len), exportable()).unwrap();
        assert_eq!(key.kind(), KeyKind::Hmac(len));
        assert_eq!(key.export(PrivateKeyFormat::Raw).unwrap().len(), len);
    }
    let other = SoftwareKey::generate(KeyKind::Hmac(32), exportable()).unwrap();
    let again = SoftwareKey::generate(KeyKind::Hmac(32), exportable()).unwrap();
    assert_ne!(
        other.export(PrivateKeyFormat::Raw).unwrap(),
        again.export(PrivateKeyFormat::Raw).unwrap()
    );

    // RFC 4231 test case 2's key is 4 bytes, below our minimum; case 6's
    // is 131 bytes of 0xaa.
    let key = SoftwareKey::import(
        KeyKind::of_import("hmac", 131).unwrap(),
        &[0xaa; 131],
        Permissions::NONE,
    )
    .unwrap();
    assert_eq!(
        key.hmac(
            HashAlgorithm::Sha256,
            b"Test Using Larger Than Block-Size Key - Hash Key First"
        )
        .unwrap(),
        h("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    );
    assert_eq!(
        key.hmac(
            HashAlgorithm::Sha512,
            b"Test Using Larger Than Block-Size Key - Hash Key First"
        )
        .unwrap(),
        h("80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598")
    );
    assert!(SoftwareKey::import(KeyKind::Hmac(32), &[1; 31], Permissions::NONE).is_err());
    assert!(SoftwareKey::hmac_key(Zeroizing::new(vec![1; 15]), Permissions::NONE).is_err());
    assert!(SoftwareKey::hmac_key(Zeroizing::new(vec![1; 513]), Permissions::NONE).is_err());

    // An HMAC key neither signs nor encrypts; an AEAD key not derived and a
    // key pair make no HMAC.
    assert!(key.clone().public_key().is_none());
    assert!(aes256_key(Permissions::NONE)
        .hmac(HashAlgorithm::Sha256, b"x")
        .is_err());
    let pair =
        SoftwareKey::generate(KeyKind::Asymmetric(KeyType::Ed25519), Permissions::NONE).unwrap();
    assert!(pair.hmac(HashAlgorithm::Sha256, b"x").is_err());
    assert!(key.encrypt_batch(&[AeadItem::default()])[0].is_err());
}

// The expected values below were made with Python's `cryptography` 48
// (HKDF-SHA256, no salt, info = context):
//   from cryptography.hazmat.primitives.kdf.hkdf import HKDF
//   from cryptography.hazmat.primitives import hashes
//   hk = lambda ikm, info, n: HKDF(algorithm=hashes.SHA256(), length=n,
//                                  salt=None, info=info).derive(ikm)
//   hk(bytes(range(32)), b"coffer context", 64).hex()
//   hk(bytes(range(16)), b"coffer context", 48).hex()
//   hk(bytes(range(100, 148)), b"coffer context", 48).hex()
//   # Ed25519: seed 200..231, its public key `pub` from cryptography:
//   hk(seed + pub, b"coffer context", 32).hex()
//   # and HMAC-SHA256 under the last 32 bytes of the first:
//   hmac.new(okm[32:], b"plaintext", hashlib.sha256).hexdigest()
const CONTEXT: &[u8] = b"coffer context";

#[test]
fn derived_aead_keys_are_transits_hkdf_with_the_nonce_key_after() {
    let okm = h("144917cbeb2683d29370d0722deccfe6e2501a79f163439bf18a8666497fdad0d8467eb2a0cb514690054e3fdb812117c62cddf56ed0f737837468bc3f289b75");
    let derived = aes256_key(exportable()).derive(CONTEXT).unwrap();
    assert_eq!(derived.kind(), KeyKind::Symmetric(AeadAlgorithm::Aes256Gcm));
    assert_eq!(derived.permissions(), exportable());
    assert_eq!(derived.export(PrivateKeyFormat::Raw).unwrap(), okm[..32]);
    // Transit's convergent nonce: HMAC-SHA256 under bytes 32..64.
    assert_eq!(
        derived.hmac(HashAlgorithm::Sha256, b"plaintext").unwrap(),
        h("5093e3d194dfbfc6b5f480c6d0e53cb085066509b5207c730476566a3e69fc3c")
    );
    // It encrypts under the derived key: RustCrypto opens it with okm[..32].
    let nonce = [7u8; 12];
    let item = AeadItem {
        data: b"derived".to_vec(),
        nonce: nonce.to_vec(),
        aad: b"aad".to_vec(),
    };
    let sealed = derived
        .encrypt_batch(std::slice::from_ref(&item))
        .remove(0)
        .unwrap();
    let opened = aes_gcm::Aes256Gcm::new_from_slice(&okm[..32])
        .unwrap()
        .decrypt(
            (&nonce).into(),
            Payload {
                msg: &sealed,
                aad: b"aad",
            },
        )
        .unwrap();
    assert_eq!(opened, b"derived");

    let aes128 = SoftwareKey::secret(
        AeadAlgorithm::Aes128Gcm,
        Zeroizing::new((0..16).collect()),
        exportable(),
    )
    .unwrap();
    assert_eq!(
        aes128
            .derive(CONTEXT)
            .unwrap()
            .export(PrivateKeyFormat::Raw)
            .unwrap(),
        h("a8782abbbff021f257ee7ef26b4a554f")
    );
    // Another context, another key; an empty one is refused.
    let other = aes256_key(exportable()).derive(b"other").unwrap();
    assert_ne!(other.export(PrivateKeyFormat::Raw).unwrap(), okm[..32]);
    assert!(aes256_key(exportable()).derive(b"").is_err());
}

#[test]
fn derived_hmac_and_ed25519_keys_match_python() {
    let hmac_key =
        SoftwareKey::hmac_key(Zeroizing::new((100..148).collect()), exportable()).unwrap();
    let derived = hmac_key.derive(CONTEXT).unwrap();
    assert_eq!(derived.kind(), KeyKind::Hmac(48));
    assert_eq!(
        derived.export(PrivateKeyFormat::Raw).unwrap(),
        h("56ce3db428965684ede355e973b7f5aec6195d5629aa94404500f13f7f0412051cfe8f6bb6b79d04f03093fb37494be0")
    );

    let seed: Vec<u8> = (200..232).collect();
    let ed = SoftwareKey::pair(PrivateKey::from_ed25519_seed(&seed).unwrap(), exportable());
    assert_eq!(
        ed.public_key()
            .unwrap()
            .export(PublicKeyFormat::Raw)
            .unwrap(),
        h("32b53e882e3daac180d7a5f6224d61b6401b43f901db09f0e4d84ce4e4a2718b")
    );
    let derived = ed.derive(CONTEXT).unwrap();
    assert_eq!(
        derived.export(PrivateKeyFormat::Raw).unwrap(),
        h("014e8eda599ba7001bb250e89b08f3465a8e42fe6bb126c26f7f93f3c58d4369")
    );
    assert_eq!(
        derived
            .public_key()
            .unwrap()
            .export(PublicKeyFormat::Raw)
            .unwrap(),
        h("2047ea5d7b959c5cb9cb9d05cb3909e1a7e6bb33e540d9bcc9ca690f6c0c2a06")
    );

    for key_type in [KeyType::EcdsaP256, KeyType::Rsa2048] {
        let pair = SoftwareKey::generate(KeyKind::Asymmetric(key_type), exportable()).unwrap();
        assert_eq!(
            pair.derive(CONTEXT).unwrap_err().message(),
            format!("a {key_type} key cannot be derived: only AEAD, HMAC and Ed25519 keys are")
        );
    }
}

#[test]
fn a_batch_gives_a_result_per_item_and_a_bad_item_fails_alone() {
    let key = aes256_key(Permissions::NONE);
    let rust_crypto = aes_gcm::Aes256Gcm::new_from_slice(&(0..32).collect::<Vec<u8>>()).unwrap();
    let items: Vec<AeadItem> = (0..5u8)
        .map(|i| AeadItem {
            data: vec![i; usize::from(i) * 7],
            nonce: if i == 2 { vec![0; 11] } else { vec![i; 12] },
            aad: vec![i; usize::from(i)],
        })
        .collect();
    let sealed = key.encrypt_batch(&items);
    assert_eq!(sealed.len(), 5);
    assert_eq!(
        sealed[2].as_ref().unwrap_err().message(),
        "invalid nonce length 11 for aes256-gcm96: expected 12 bytes"
    );
    for (i, (item, result)) in items.iter().zip(&sealed).enumerate() {
        if i == 2 {
            continue;
        }
        let expected = rust_crypto
            .encrypt(
                item.nonce.as_slice().into(),
                Payload {
                    msg: &item.data,
                    aad: &item.aad,
                },
            )
            .unwrap();
        assert_eq!(result.as_ref().unwrap(), &expected, "item {i}");
    }

    // Decrypt them back, with item 3 tampered and item 2 still bad.
    let mut back: Vec<AeadItem> = items
        .iter()
        .zip(&sealed)
        .map(|(item, sealed)| AeadItem {
            data: sealed.clone().unwrap_or_default(),
            ..item.clone()
        })
        .collect();
    back[3].data[0] ^= 1;
    let opened = key.decrypt_batch(&back);
    assert_eq!(opened.len(), 5);
    for (i, result) in opened.iter().enumerate() {
        match i {
            2 => assert!(result.is_err()),
            3 => assert_eq!(
                result.as_ref().unwrap_err().message(),
                "message authentication failed"
            ),
            _ => assert_eq!(result.as_ref().unwrap(), &items[i].data),
        }
    }
    assert!(key.encrypt_batch(&[]).is_empty());

    // A key pair has no AEAD: every item says so.
    let pair =
        SoftwareKey::generate(KeyKind::Asymmetric(KeyType::Ed25519), Permissions::NONE).unwrap();
    let refused = pair.decrypt_batch(&items);
    assert_eq!(refused.len(), 5);
    assert!(refused.iter().all(|r| r
        .as_ref()
        .is_err_and(|e| e.message() == "a ed25519 key cannot encrypt with AEAD")));
}
