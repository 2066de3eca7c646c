//! Tests of [`SoftwareKey`] through the [`KeyHandle`] trait, checked
//! against published answers and `openssl`, as `tests.rs` does for the
//! operations underneath.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use p256::elliptic_curve::zeroize::Zeroizing;

use super::*;

/// A software key's future is ready when made: take its value.
fn now<T>(future: KeyFuture<T>) -> Result<T, CryptoError> {
    let mut future = future;
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("a software key's future was not ready"),
    }
}

fn h(hex: &str) -> Vec<u8> {
    hex::decode(hex.replace(' ', "")).unwrap()
}

fn handle(key_type: KeyType) -> Arc<dyn KeyHandle> {
    SoftwareKey::pair(
        PrivateKey::generate(key_type).unwrap(),
        Permission::Export.into(),
    )
}

#[test]
fn signatures_made_through_a_handle_verify_in_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    std::fs::write(path("msg"), b"through a handle").unwrap();
    for key_type in [KeyType::EcdsaP256, KeyType::Rsa2048, KeyType::Ed25519] {
        let key = handle(key_type);
        assert_eq!(key.kind(), KeyKind::Asymmetric(key_type));
        let public = key.public_key().unwrap();
        std::fs::write(
            path("pub.pem"),
            public.export(PublicKeyFormat::SpkiPem).unwrap(),
        )
        .unwrap();
        let signature = now(key
            .clone()
            .sign(b"through a handle".to_vec(), SignOptions::default()))
        .unwrap();
        std::fs::write(path("sig"), &signature).unwrap();
        let mut args = vec!["pkeyutl", "-verify", "-pubin", "-inkey"];
        let (pubkey, sig, msg) = (path("pub.pem"), path("sig"), path("msg"));
        args.extend([
            pubkey.as_str(),
            "-sigfile",
            sig.as_str(),
            "-in",
            msg.as_str(),
        ]);
        match key_type {
            KeyType::Ed25519 => args.push("-rawin"),
            KeyType::Rsa2048 => args.extend([
                "-rawin",
                "-digest",
                "sha256",
                "-pkeyopt",
                "rsa_padding_mode:pss",
                "-pkeyopt",
                "rsa_pss_saltlen:auto",
            ]),
            _ => args.extend(["-rawin", "-digest", "sha256"]),
        }
        let out = Command::new("openssl").args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "{key_type}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let verified = now(key.clone().verify(
            b"through a handle".to_vec(),
            signature,
            SignOptions::default(),
        ));
        assert_eq!(verified, Ok(true));
    }
}

#[test]
fn a_secret_key_encrypts_and_wraps_by_known_answers() {
    // McGrew & Viega test case 16 (AES-256-GCM), as in tests.rs.
    let key = SoftwareKey::secret(
        AeadAlgorithm::Aes256Gcm,
        Zeroizing::new(h(
            "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
        )),
        Permissions::NONE,
    )
    .unwrap();
    let cipher = Cipher::Aead {
        nonce: h("cafebabefacedbaddecaf888"),
        aad: h("feedfacedeadbeeffeedfacedeadbeefabaddad2"),
    };
    let plaintext = h("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
    let sealed = h("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f66276fc6ece0f4e1768cddf8853bb2d551b");
    assert_eq!(
        now(key.clone().encrypt(plaintext.clone(), cipher.clone())).unwrap(),
        sealed
    );
    assert_eq!(now(key.clone().decrypt(sealed, cipher)).unwrap(), plaintext);
    // Refused export; no public half; no signatures.
    assert!(key.export(PrivateKeyFormat::Raw).is_err());
    assert!(key.public_key().is_none());
    assert!(now(key.clone().sign(b"m".to_vec(), SignOptions::default())).is_err());
    let oaep = Cipher::Oaep {
        hash: HashAlgorithm::Sha256,
        label: None,
    };
    assert!(now(key.clone().encrypt(b"m".to_vec(), oaep)).is_err());

    // RFC 5649 §6, the 192-bit KEK: AES-KWP needs an AES key, so the same
    // wrap through a handle on an AES-192 key is not possible; check the
    // round trip against the function `tests.rs` checks by known answer.
    let wrapped = now(key.clone().wrap(Zeroizing::new(b"a data key".to_vec()))).unwrap();
    assert_eq!(
        wrapped,
        aes_key_wrap_pad(
            &h("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"),
            b"a data key"
        )
        .unwrap()
    );
    assert_eq!(
        now(key.clone().unwrap_key(wrapped)).unwrap().as_slice(),
        b"a data key"
    );
    assert!(SoftwareKey::secret(
        AeadAlgorithm::Aes256Gcm,
        Zeroizing::new(vec![0; 16]),
        Permission::Export.into()
    )
    .is_err());
}

#[test]
fn an_rsa_key_wraps_with_oaep_that_openssl_opens() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let private = PrivateKey::generate(KeyType::Rsa2048).unwrap();
    std::fs::write(
        path("key.pem"),
        private.export(PrivateKeyFormat::Pkcs8Pem).unwrap(),
    )
    .unwrap();
    let key = SoftwareKey::pair(private, Permissions::NONE);
    let wrapped = now(key
        .clone()
        .wrap(Zeroizing::new(b"wrapped key bytes".to_vec())))
    .unwrap();
    std::fs::write(path("wrapped"), &wrapped).unwrap();
    let out = Command::new("openssl")
        .args([
            "pkeyutl",
            "-decrypt",
            "-inkey",
            &path("key.pem"),
            "-in",
            &path("wrapped"),
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha256",
            "-pkeyopt",
            "rsa_mgf1_md:sha256",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"wrapped key bytes");
    assert_eq!(
        now(key.clone().unwrap_key(wrapped)).unwrap().as_slice(),
        b"wrapped key bytes"
    );
    let err = key.export(PrivateKeyFormat::Pkcs8Der).unwrap_err();
    assert_eq!(
        err.message(),
        "the key does not allow export: it lacks the `export` permission"
    );
    // An EC key neither wraps nor decrypts.
    let ec = handle(KeyType::EcdsaP256);
    assert!(now(ec.clone().wrap(Zeroizing::new(vec![1; 16]))).is_err());
}

#[test]
fn costs_send_slow_work_off_the_caller() {
    assert_eq!(
        cost_of(KeyType::EcdsaP256, Operation::Sign, 100),
        Cost::Light
    );
    assert_eq!(
        cost_of(KeyType::EcdsaP256, Operation::Sign, HEAVY_INPUT_BYTES + 1),
        Cost::Heavy
    );
    assert_eq!(cost_of(KeyType::Rsa2048, Operation::Sign, 0), Cost::Heavy);
    assert_eq!(
        cost_of(KeyType::Rsa4096, Operation::Generate, 0),
        Cost::Heavy
    );
    assert_eq!(cost_of(KeyType::EcdsaP384, Operation::Sign, 0), Cost::Light);
    assert_eq!(
        cost_of(KeyType::EcdsaP384, Operation::Verify, 0),
        Cost::Heavy
    );
    assert_eq!(
        cost_of(KeyType::EcdsaP384, Operation::Import, 0),
        Cost::Heavy
    );
    let key = handle(KeyType::Ed25519);
    assert_eq!(key.cost(Operation::Sign, 10), Cost::Light);
}
