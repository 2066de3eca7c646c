//! Tests against published known answers and the `openssl` command-line
//! tool, so that no result is checked only against this module itself.
//! The `openssl` tests need `openssl` (3.x) on the PATH.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Command;
use std::sync::OnceLock;

use super::*;

const RSA2048_PEM: &str = include_str!("testdata/rsa2048.pem");
const P256_PEM: &str = include_str!("testdata/ecp256.pem");
const P384_PEM: &str = include_str!("testdata/ecp384.pem");
const P521_PEM: &str = include_str!("testdata/ecp521.pem");
const ED25519_PEM: &str = include_str!("testdata/ed25519.pem");

fn h(hex: &str) -> Vec<u8> {
    hex::decode(hex.replace([' ', '\n'], "")).unwrap()
}

/// A temporary folder in which to run `openssl`.
struct Scratch(tempfile::TempDir);

impl Scratch {
    fn new() -> Self {
        Self(tempfile::tempdir().unwrap())
    }

    fn write(&self, name: &str, bytes: impl AsRef<[u8]>) {
        std::fs::write(self.0.path().join(name), bytes).unwrap();
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.0.path().join(name)).unwrap()
    }

    /// Runs `openssl args`; whether it succeeded.
    fn openssl(&self, args: &[&str]) -> bool {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(self.0.path())
            .output()
            .expect("the openssl command-line tool is needed by these tests");
        output.status.success()
    }

    /// Runs `openssl args`, which must succeed; its standard output.
    fn openssl_ok(&self, args: &[&str]) -> Vec<u8> {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(self.0.path())
            .output()
            .expect("the openssl command-line tool is needed by these tests");
        assert!(
            output.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    /// Writes `key`'s SPKI PEM as `pub.pem`.
    fn public_pem(&self, key: &PublicKey) {
        self.write("pub.pem", key.export(PublicKeyFormat::SpkiPem).unwrap());
    }
}

fn options(hash: Option<HashAlgorithm>) -> SignOptions {
    SignOptions {
        hash,
        ..SignOptions::default()
    }
}

fn rsa_fixture() -> &'static PrivateKey {
    static KEY: OnceLock<PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| PrivateKey::import(KeyType::Rsa2048, RSA2048_PEM.as_bytes()).unwrap())
}

/// One generated key per type for the whole module (RSA generation is slow).
fn generated(key_type: KeyType) -> &'static PrivateKey {
    static KEYS: [OnceLock<PrivateKey>; 7] = [const { OnceLock::new() }; 7];
    let index = KeyType::ALL.iter().position(|t| *t == key_type).unwrap();
    KEYS[index].get_or_init(|| PrivateKey::generate(key_type).unwrap())
}

fn fixture(key_type: KeyType) -> PrivateKey {
    let pem = match key_type {
        KeyType::Rsa2048 => RSA2048_PEM,
        KeyType::EcdsaP256 => P256_PEM,
        KeyType::EcdsaP384 => P384_PEM,
        KeyType::EcdsaP521 => P521_PEM,
        KeyType::Ed25519 => ED25519_PEM,
        other => panic!("no fixture for {other}"),
    };
    PrivateKey::import(key_type, pem.as_bytes()).unwrap()
}

fn curve_len(key_type: KeyType) -> usize {
    match key_type {
        KeyType::EcdsaP256 => 32,
        KeyType::EcdsaP384 => 48,
        KeyType::EcdsaP521 => 66,
        other => panic!("{other} is not ECDSA"),
    }
}

/// DER `SEQUENCE { r, s }` to fixed `r || s`, each on `len` bytes.
fn der_to_fixed(der: &[u8], len: usize) -> Vec<u8> {
    assert_eq!(der[0], 0x30);
    let mut rest = if der[1] == 0x81 { &der[3..] } else { &der[2..] };
    let mut out = Vec::new();
    for _ in 0..2 {
        assert_eq!(rest[0], 0x02);
        let n = usize::from(rest[1]);
        let int = &rest[2..2 + n];
        let int = &int[int.iter().position(|b| *b != 0).unwrap_or(int.len())..];
        out.extend(std::iter::repeat_n(0, len - int.len()));
        out.extend_from_slice(int);
        rest = &rest[2 + n..];
    }
    assert!(rest.is_empty());
    out
}

/// Fixed `r || s` to DER `SEQUENCE { r, s }`.
fn fixed_to_der(fixed: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for half in fixed.chunks(fixed.len() / 2) {
        let int = &half[half.iter().position(|b| *b != 0).unwrap_or(half.len() - 1)..];
        let pad = int[0] & 0x80 != 0;
        body.push(0x02);
        body.push(u8::try_from(int.len() + usize::from(pad)).unwrap());
        if pad {
            body.push(0);
        }
        body.extend_from_slice(int);
    }
    let mut der = vec![0x30];
    if body.len() >= 0x80 {
        der.push(0x81);
    }
    der.push(u8::try_from(body.len()).unwrap());
    der.extend(body);
    der
}

// ---------------------------------------------------------------- digests

#[test]
fn hash_fips_abc() {
    // FIPS 180-4 and FIPS 202 examples: the digests of "abc".
    let expected = [
        (HashAlgorithm::Sha1, "a9993e364706816aba3e25717850c26c9cd0d89d"),
        (HashAlgorithm::Sha224, "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"),
        (HashAlgorithm::Sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (HashAlgorithm::Sha384, "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"),
        (HashAlgorithm::Sha512, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"),
        (HashAlgorithm::Sha512_256, "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23"),
        (HashAlgorithm::Sha3_224, "e642824c3f8cf24ad09234ee7d3c766fc9a3a5168d0c94ad73b46fdf"),
        (HashAlgorithm::Sha3_256, "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"),
        (HashAlgorithm::Sha3_384, "ec01498288516fc926459f58e2c6ad8df9b473cb0fc08c2596da7cf0e49be4b298d88cea927ac7f539f1edf228376d25"),
        (HashAlgorithm::Sha3_512, "b751850b1a57168a5693cd924b6b096e08f621827444f70d884f5d0240d2712e10e116e9192af3c91a7ec57647e3934057340b4cf408d5a56592f8274eec53f0"),
    ];
    assert_eq!(expected.len(), HashAlgorithm::ALL.len());
    for (algorithm, digest) in expected {
        let actual = hash(algorithm, b"abc");
        assert_eq!(hex::encode(&actual), digest, "{algorithm}");
        assert_eq!(actual.len(), algorithm.output_len(), "{algorithm}");
    }
}

#[test]
fn hmac_rfc4231() {
    let cases: [(&[u8], &[u8], HashAlgorithm, &str); 4] = [
        // Test case 1.
        (&[0x0b; 20], b"Hi There", HashAlgorithm::Sha256, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        (&[0x0b; 20], b"Hi There", HashAlgorithm::Sha512, "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"),
        // Test case 2.
        (b"Jefe", b"what do ya want for nothing?", HashAlgorithm::Sha256, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        // Test case 6: a key longer than the block.
        (&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First", HashAlgorithm::Sha256, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    ];
    for (key, data, algorithm, tag) in cases {
        assert_eq!(hex::encode(hmac(algorithm, key, data).unwrap()), tag);
        assert!(hmac_verify(algorithm, key, data, &h(tag)).unwrap());
        let mut bad = h(tag);
        bad[0] ^= 1;
        assert!(!hmac_verify(algorithm, key, data, &bad).unwrap());
        assert!(
            !hmac_verify(algorithm, key, data, &h(tag)[..16]).unwrap(),
            "truncated tag"
        );
        assert!(
            !hmac_verify(algorithm, key, data, &[]).unwrap(),
            "empty tag"
        );
    }
}

#[test]
fn hmac_every_algorithm_matches_openssl() {
    let scratch = Scratch::new();
    scratch.write("data", b"coffer");
    for algorithm in HashAlgorithm::ALL {
        let tag = hmac(algorithm, b"key", b"coffer").unwrap();
        assert_eq!(tag.len(), algorithm.output_len());
        let out = scratch.openssl_ok(&[
            "dgst",
            &format!("-{algorithm}"),
            "-hmac",
            "key",
            "-binary",
            "data",
        ]);
        assert_eq!(out, tag, "{algorithm}");
    }
}

#[test]
fn hkdf_rfc5869() {
    // Test case 1.
    let okm = hkdf(
        HashAlgorithm::Sha256,
        &[0x0b; 22],
        &h("000102030405060708090a0b0c"),
        &h("f0f1f2f3f4f5f6f7f8f9"),
        42,
    )
    .unwrap();
    assert_eq!(
        hex::encode(okm),
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    );
    // Test case 3: empty salt and info.
    let okm = hkdf(HashAlgorithm::Sha256, &[0x0b; 22], &[], &[], 42).unwrap();
    assert_eq!(
        hex::encode(okm),
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
    );
    assert_eq!(
        hkdf(HashAlgorithm::Sha256, b"k", &[], &[], 0).unwrap(),
        Vec::<u8>::new()
    );
    assert_eq!(
        hkdf(HashAlgorithm::Sha256, b"k", &[], &[], 255 * 32)
            .unwrap()
            .len(),
        8160
    );
    let err = hkdf(HashAlgorithm::Sha256, b"k", &[], &[], 255 * 32 + 1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot derive 8161 bytes with hkdf-sha2-256: at most 8160"
    );
    assert!(hkdf(HashAlgorithm::Sha256, b"k", &[], &[], u32::MAX).is_err());
    for algorithm in HashAlgorithm::ALL {
        assert_eq!(hkdf(algorithm, b"k", b"s", b"i", 100).unwrap().len(), 100);
    }
}

#[test]
fn random_bytes_lengths() {
    assert!(random_bytes(0).unwrap().is_empty());
    let a = random_bytes(32).unwrap();
    let b = random_bytes(32).unwrap();
    assert_eq!(a.len(), 32);
    assert_ne!(a, b);
    assert_eq!(random_bytes(MAX_RANDOM_BYTES).unwrap().len(), 1024 * 1024);
    let err = random_bytes(MAX_RANDOM_BYTES + 1).unwrap_err();
    assert!(err.to_string().contains("at most 1048576"), "{err}");
    assert!(random_bytes(u32::MAX).is_err());
}

// ---------------------------------------------------------------- AEAD

#[test]
fn aes_gcm_known_answers() {
    // McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 4
    // (AES-128) and 16 (AES-256), as in NIST's GCM validation vectors.
    let iv = h("cafebabefacedbaddecaf888");
    let plaintext = h("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
    let aad = h("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    let cases = [
        (
            AeadAlgorithm::Aes128Gcm,
            "feffe9928665731c6d6a8f9467308308",
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091 5bc94fbc3221a5db94fae95ae7121a47",
        ),
        (
            AeadAlgorithm::Aes256Gcm,
            "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662 76fc6ece0f4e1768cddf8853bb2d551b",
        ),
    ];
    for (algorithm, key, sealed) in cases {
        let key = h(key);
        let sealed = h(sealed);
        assert_eq!(
            aead_seal(algorithm, &key, &iv, &plaintext, &aad).unwrap(),
            sealed
        );
        assert_eq!(
            aead_open(algorithm, &key, &iv, &sealed, &aad).unwrap(),
            plaintext
        );
    }
}

#[test]
fn chacha20_poly1305_rfc8439() {
    // RFC 8439 §2.8.2.
    let key = h("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
    let nonce = h("070000004041424344454647");
    let aad = h("50515253c0c1c2c3c4c5c6c7");
    let plaintext = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
    let sealed = h("d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116 1ae10b594f09e26a7e902ecbd0600691");
    let algorithm = AeadAlgorithm::ChaCha20Poly1305;
    assert_eq!(
        aead_seal(algorithm, &key, &nonce, plaintext, &aad).unwrap(),
        sealed
    );
    assert_eq!(
        aead_open(algorithm, &key, &nonce, &sealed, &aad).unwrap(),
        plaintext
    );
}

#[test]
fn aead_rejects_tampering_and_bad_inputs() {
    for algorithm in [
        AeadAlgorithm::Aes128Gcm,
        AeadAlgorithm::Aes256Gcm,
        AeadAlgorithm::ChaCha20Poly1305,
    ] {
        let key = vec![7u8; algorithm.key_len()];
        let nonce = [9u8; 12];
        let sealed = aead_seal(algorithm, &key, &nonce, b"secret", b"aad").unwrap();
        assert_eq!(sealed.len(), 6 + 16);
        assert_eq!(
            aead_open(algorithm, &key, &nonce, &sealed, b"aad").unwrap(),
            b"secret"
        );
        // Empty plaintext: just a tag.
        let empty = aead_seal(algorithm, &key, &nonce, b"", b"").unwrap();
        assert_eq!(
            aead_open(algorithm, &key, &nonce, &empty, b"").unwrap(),
            b""
        );

        let auth_failed = |result: Result<Vec<u8>, CryptoError>| {
            assert_eq!(
                result.unwrap_err().to_string(),
                "message authentication failed"
            );
        };
        for i in [0, 5, 6, sealed.len() - 1] {
            let mut tampered = sealed.clone();
            tampered[i] ^= 0x80;
            auth_failed(aead_open(algorithm, &key, &nonce, &tampered, b"aad"));
        }
        auth_failed(aead_open(algorithm, &key, &nonce, &sealed, b"aaD"));
        auth_failed(aead_open(algorithm, &key, &[8u8; 12], &sealed, b"aad"));
        auth_failed(aead_open(
            algorithm,
            &[6u8; 32][..algorithm.key_len()],
            &nonce,
            &sealed,
            b"aad",
        ));
        auth_failed(aead_open(algorithm, &key, &nonce, &sealed[..17], b"aad"));

        let err = aead_open(algorithm, &key, &nonce, &sealed[..15], b"aad").unwrap_err();
        assert!(err.to_string().contains("too short"), "{err}");
        let err = aead_seal(algorithm, &[0u8; 15], &nonce, b"x", b"").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "invalid key length 15 for {algorithm}: expected {} bytes",
                algorithm.key_len()
            )
        );
        let err = aead_open(algorithm, &[0u8; 15], &nonce, &sealed, b"").unwrap_err();
        assert!(
            err.to_string().starts_with("invalid key length 15"),
            "{err}"
        );
        for bad_nonce in [&[0u8; 0][..], &[0u8; 11], &[0u8; 16]] {
            let err = aead_seal(algorithm, &key, bad_nonce, b"x", b"").unwrap_err();
            assert!(err.to_string().starts_with("invalid nonce length"), "{err}");
            assert!(aead_open(algorithm, &key, bad_nonce, &sealed, b"").is_err());
        }
    }
    let err = aead_seal(AeadAlgorithm::Aes256Gcm, &[0u8; 15], &[0; 12], b"", b"").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid key length 15 for aes256-gcm96: expected 32 bytes"
    );
}

#[test]
fn aes_key_wrap_pad_rfc5649() {
    let kek = h("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8");
    let cases = [
        (
            "c37b7e6492584340bed12207808941155068f738",
            "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a",
        ),
        ("466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f"),
    ];
    for (key, wrapped) in cases {
        assert_eq!(
            hex::encode(aes_key_wrap_pad(&kek, &h(key)).unwrap()),
            wrapped
        );
        assert_eq!(
            hex::encode(aes_key_unwrap_pad(&kek, &h(wrapped)).unwrap()),
            key
        );
    }
}

#[test]
fn aes_key_wrap_pad_round_trips_and_rejects_bad_inputs() {
    for kek_len in [16, 24, 32] {
        let kek = vec![3u8; kek_len];
        for key_len in [1, 7, 8, 9, 16, 32, 33, 64] {
            let key = vec![0x5a; key_len];
            let wrapped = aes_key_wrap_pad(&kek, &key).unwrap();
            assert_eq!(wrapped.len(), key_len.div_ceil(8) * 8 + 8);
            assert_eq!(aes_key_unwrap_pad(&kek, &wrapped).unwrap(), key);
            let mut tampered = wrapped.clone();
            tampered[3] ^= 1;
            let err = aes_key_unwrap_pad(&kek, &tampered).unwrap_err();
            assert_eq!(err.to_string(), "key unwrap failed: integrity check failed");
            assert!(aes_key_unwrap_pad(&vec![4u8; kek_len], &wrapped).is_err());
            assert!(aes_key_unwrap_pad(&kek, &wrapped[..wrapped.len() - 8]).is_err());
        }
    }
    let kek = [0u8; 32];
    assert!(aes_key_wrap_pad(&kek, &[]).is_err());
    for short in [&[0u8; 0][..], &[0u8; 8], &[0u8; 15], &[0u8; 17]] {
        assert!(aes_key_unwrap_pad(&kek, short).is_err());
    }
    for bad in [0, 8, 15, 20, 31, 33, 64] {
        let err = aes_key_wrap_pad(&vec![0u8; bad], b"key").unwrap_err();
        assert!(
            err.to_string().contains(&format!("key length {bad}")),
            "{err}"
        );
        assert!(aes_key_unwrap_pad(&vec![0u8; bad], &[0u8; 16]).is_err());
    }
}

// ---------------------------------------------------------------- RSA

#[test]
fn rsa_import_forms_and_checks() {
    let scratch = Scratch::new();
    scratch.write("key.pem", RSA2048_PEM);
    let pkcs8_der = scratch.openssl_ok(&[
        "pkcs8", "-topk8", "-nocrypt", "-in", "key.pem", "-outform", "DER",
    ]);
    let pkcs1_pem = scratch.openssl_ok(&["rsa", "-in", "key.pem", "-traditional"]);
    let pkcs1_der =
        scratch.openssl_ok(&["rsa", "-in", "key.pem", "-traditional", "-outform", "DER"]);
    let spki_der = scratch.openssl_ok(&["pkey", "-in", "key.pem", "-pubout", "-outform", "DER"]);
    let spki_pem = scratch.openssl_ok(&["pkey", "-in", "key.pem", "-pubout"]);
    let pkcs1_pub_der = scratch.openssl_ok(&[
        "rsa",
        "-in",
        "key.pem",
        "-RSAPublicKey_out",
        "-outform",
        "DER",
    ]);
    let pkcs1_pub_pem = scratch.openssl_ok(&["rsa", "-in", "key.pem", "-RSAPublicKey_out"]);
    assert!(String::from_utf8_lossy(&pkcs1_pem).contains("BEGIN RSA PRIVATE KEY"));

    for encoded in [RSA2048_PEM.as_bytes(), &pkcs8_der, &pkcs1_pem, &pkcs1_der] {
        let key = PrivateKey::import(KeyType::Rsa2048, encoded).unwrap();
        assert_eq!(key.key_type(), KeyType::Rsa2048);
        assert_eq!(
            key.public_key().export(PublicKeyFormat::SpkiDer).unwrap(),
            spki_der
        );
        assert_eq!(key.export(PrivateKeyFormat::Pkcs8Der).unwrap(), pkcs8_der);
        assert_eq!(key.export(PrivateKeyFormat::Pkcs1Pem).unwrap(), pkcs1_pem);
        let err = PrivateKey::import(KeyType::Rsa3072, encoded).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the key is a 2048-bit RSA key, not rsa-3072"
        );
        let err = PrivateKey::import(KeyType::EcdsaP256, encoded).unwrap_err();
        assert!(!err.to_string().is_empty());
    }
    for encoded in [&spki_der, &spki_pem, &pkcs1_pub_der, &pkcs1_pub_pem] {
        let key = PublicKey::import(KeyType::Rsa2048, encoded).unwrap();
        assert_eq!(key.key_type(), KeyType::Rsa2048);
        assert_eq!(key.export(PublicKeyFormat::SpkiDer).unwrap(), spki_der);
        assert_eq!(key.export(PublicKeyFormat::SpkiPem).unwrap(), spki_pem);
        assert_eq!(
            key.export(PublicKeyFormat::Pkcs1Pem).unwrap(),
            pkcs1_pub_pem
        );
        let err = PublicKey::import(KeyType::Rsa4096, encoded).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the key is a 2048-bit RSA key, not rsa-4096"
        );
    }
    let err = PrivateKey::import(KeyType::EcdsaP256, RSA2048_PEM.as_bytes()).unwrap_err();
    assert_eq!(err.to_string(), "the key is an RSA key, not ecdsa-p256");
    let err = PublicKey::import(KeyType::Ed25519, &spki_der).unwrap_err();
    assert_eq!(err.to_string(), "the key is an RSA key, not ed25519");
    let err = PrivateKey::import(KeyType::EcdsaP256, &pkcs1_pem).unwrap_err();
    assert!(err.to_string().contains("PKCS#1"), "{err}");

    // Wrong formats for the type.
    let key = rsa_fixture();
    for format in [PrivateKeyFormat::Sec1Pem, PrivateKeyFormat::Raw] {
        let err = key.export(format).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("rsa-2048 private keys cannot be exported as"));
    }
    assert!(key.public_key().export(PublicKeyFormat::Raw).is_err());
    assert!(key.sign(b"x", &SignOptions::default()).is_ok());
    assert_eq!(format!("{key:?}"), "PrivateKey { key_type: Rsa2048, .. }");

    // Truncated and garbage input.
    for encoded in [
        &pkcs8_der[..pkcs8_der.len() - 1],
        &pkcs8_der[..10],
        &pkcs1_der[..pkcs1_der.len() / 2],
        &RSA2048_PEM.as_bytes()[..RSA2048_PEM.len() - 30],
        b"",
        b"-----BEGIN PRIVATE KEY-----\n",
        b"\x30\x82\xff\xff",
    ] {
        assert!(PrivateKey::import(KeyType::Rsa2048, encoded).is_err());
    }
    for encoded in [
        &spki_der[..spki_der.len() - 1],
        &pkcs1_pub_der[..20],
        b"".as_slice(),
    ] {
        assert!(PublicKey::import(KeyType::Rsa2048, encoded).is_err());
    }
    // Trailing data after the DER.
    let mut trailing = pkcs8_der.clone();
    trailing.push(0);
    assert!(PrivateKey::import(KeyType::Rsa2048, &trailing).is_err());
    // Encrypted and unrelated PEM.
    scratch.openssl_ok(&[
        "pkcs8", "-topk8", "-in", "key.pem", "-passout", "pass:x", "-out", "enc.pem",
    ]);
    let err = PrivateKey::import(KeyType::Rsa2048, &scratch.read("enc.pem")).unwrap_err();
    assert_eq!(err.to_string(), "encrypted private keys are not supported");
    let err = PrivateKey::import(KeyType::Rsa2048, &spki_pem).unwrap_err();
    assert!(err.to_string().contains("is not a private key"), "{err}");
    assert!(PublicKey::import(KeyType::Rsa2048, RSA2048_PEM.as_bytes()).is_err());
}

#[test]
fn rsa_exports_parse_in_openssl() {
    let scratch = Scratch::new();
    let key = rsa_fixture();
    scratch.write("key.pem", RSA2048_PEM);
    let modulus = scratch.openssl_ok(&["rsa", "-in", "key.pem", "-noout", "-modulus"]);
    for (name, bytes, args) in [
        (
            "a.pem",
            key.export(PrivateKeyFormat::Pkcs8Pem).unwrap(),
            &["rsa", "-in", "a.pem"][..],
        ),
        (
            "b.der",
            key.export(PrivateKeyFormat::Pkcs8Der).unwrap(),
            &["rsa", "-inform", "DER", "-in", "b.der"],
        ),
        (
            "c.pem",
            key.export(PrivateKeyFormat::Pkcs1Pem).unwrap(),
            &["rsa", "-in", "c.pem"],
        ),
        (
            "d.pem",
            key.public_key().export(PublicKeyFormat::SpkiPem).unwrap(),
            &["rsa", "-pubin", "-in", "d.pem"],
        ),
        (
            "e.pem",
            key.public_key().export(PublicKeyFormat::Pkcs1Pem).unwrap(),
            &["rsa", "-RSAPublicKey_in", "-in", "e.pem"],
        ),
    ] {
        scratch.write(name, bytes);
        let mut args = args.to_vec();
        args.extend(["-noout", "-modulus"]);
        assert_eq!(scratch.openssl_ok(&args), modulus, "{name}");
    }
}

#[test]
fn rsa_signatures_verify_in_openssl() {
    let scratch = Scratch::new();
    let key = rsa_fixture();
    let message = b"the quick brown fox";
    scratch.public_pem(&key.public_key());
    scratch.write("msg", message);
    for algorithm in HashAlgorithm::ALL {
        let md = format!("-{algorithm}");
        // PKCS#1 v1.5.
        let options = SignOptions {
            hash: Some(algorithm),
            padding: RsaPadding::Pkcs1v15,
            ..SignOptions::default()
        };
        let signature = key.sign(message, &options).unwrap();
        assert_eq!(signature.len(), 256);
        scratch.write("sig", &signature);
        scratch.openssl_ok(&[
            "dgst",
            &md,
            "-verify",
            "pub.pem",
            "-signature",
            "sig",
            "msg",
        ]);
        // The check is not vacuous: openssl rejects a tampered signature.
        let mut tampered = signature.clone();
        tampered[7] ^= 1;
        scratch.write("bad", &tampered);
        assert!(!scratch.openssl(&[
            "dgst",
            &md,
            "-verify",
            "pub.pem",
            "-signature",
            "bad",
            "msg"
        ]));
        assert!(key
            .public_key()
            .verify(message, &signature, &options)
            .unwrap());
        assert!(!key
            .public_key()
            .verify(b"other", &signature, &options)
            .unwrap());

        // PSS with the longest salt (the default), then a given one.
        let max_salt = 256 - algorithm.output_len() - 2;
        for (salt, expected) in [(None, max_salt), (Some(20), 20), (Some(0), 0)] {
            let options = SignOptions {
                hash: Some(algorithm),
                padding: RsaPadding::Pss,
                salt_length: salt,
                ..SignOptions::default()
            };
            let signature = key.sign(message, &options).unwrap();
            scratch.write("sig", &signature);
            scratch.openssl_ok(&[
                "dgst",
                &md,
                "-verify",
                "pub.pem",
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                &format!("rsa_pss_saltlen:{expected}"),
                "-signature",
                "sig",
                "msg",
            ]);
            assert!(key
                .public_key()
                .verify(message, &signature, &options)
                .unwrap());
            let auto = SignOptions {
                salt_length: None,
                ..options
            };
            assert!(key.public_key().verify(message, &signature, &auto).unwrap());
            let wrong_salt = SignOptions {
                salt_length: Some(u32::try_from(expected).unwrap() + 1),
                ..options
            };
            assert!(!key
                .public_key()
                .verify(message, &signature, &wrong_salt)
                .unwrap());
            let pkcs1 = SignOptions {
                padding: RsaPadding::Pkcs1v15,
                ..options
            };
            assert!(!key
                .public_key()
                .verify(message, &signature, &pkcs1)
                .unwrap());
        }
    }
}

#[test]
fn rsa_verifies_openssl_signatures() {
    let scratch = Scratch::new();
    let public = rsa_fixture().public_key();
    scratch.write("key.pem", RSA2048_PEM);
    scratch.write("msg", b"signed by openssl");
    for algorithm in [
        HashAlgorithm::Sha1,
        HashAlgorithm::Sha256,
        HashAlgorithm::Sha512,
        HashAlgorithm::Sha3_384,
    ] {
        let md = format!("-{algorithm}");
        let signature = scratch.openssl_ok(&["dgst", &md, "-sign", "key.pem", "msg"]);
        let options = SignOptions {
            hash: Some(algorithm),
            padding: RsaPadding::Pkcs1v15,
            ..SignOptions::default()
        };
        assert!(public
            .verify(b"signed by openssl", &signature, &options)
            .unwrap());
        for salt in ["0", "17", "digest", "max"] {
            let signature = scratch.openssl_ok(&[
                "dgst",
                &md,
                "-sign",
                "key.pem",
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                &format!("rsa_pss_saltlen:{salt}"),
                "msg",
            ]);
            let options = SignOptions {
                hash: Some(algorithm),
                padding: RsaPadding::Pss,
                salt_length: None,
                ..SignOptions::default()
            };
            assert!(
                public
                    .verify(b"signed by openssl", &signature, &options)
                    .unwrap(),
                "{algorithm} salt {salt}"
            );
            assert!(!public
                .verify(b"signed by OpenSSL", &signature, &options)
                .unwrap());
        }
    }
}

#[test]
fn rsa_prehashed_signatures_verify_in_openssl() {
    let scratch = Scratch::new();
    let key = rsa_fixture();
    scratch.public_pem(&key.public_key());
    let digest = hash(HashAlgorithm::Sha384, b"message");
    scratch.write("digest", &digest);

    // A digest with its DigestInfo.
    let options = SignOptions {
        hash: Some(HashAlgorithm::Sha384),
        prehashed: true,
        padding: RsaPadding::Pkcs1v15,
        ..SignOptions::default()
    };
    let signature = key.sign(&digest, &options).unwrap();
    scratch.write("sig", &signature);
    scratch.openssl_ok(&[
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        "pub.pem",
        "-pkeyopt",
        "digest:sha384",
        "-in",
        "digest",
        "-sigfile",
        "sig",
    ]);
    // The same as hashing here.
    let hashed = SignOptions {
        prehashed: false,
        ..options
    };
    assert_eq!(key.sign(b"message", &hashed).unwrap(), signature);
    assert!(key
        .public_key()
        .verify(b"message", &signature, &hashed)
        .unwrap());
    assert!(key
        .public_key()
        .verify(&digest, &signature, &options)
        .unwrap());

    // No hash: the input as it is, without DigestInfo.
    let raw = SignOptions {
        hash: None,
        prehashed: true,
        padding: RsaPadding::Pkcs1v15,
        ..SignOptions::default()
    };
    let input = b"any bytes at all, not a digest";
    let signature = key.sign(input, &raw).unwrap();
    scratch.write("input", input);
    scratch.write("sig", &signature);
    scratch.openssl_ok(&[
        "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-in", "input", "-sigfile", "sig",
    ]);
    assert!(key.public_key().verify(input, &signature, &raw).unwrap());
    assert!(!key.public_key().verify(b"other", &signature, &raw).unwrap());
    let err = key.sign(&[0u8; 246], &raw).unwrap_err();
    assert!(err.to_string().contains("too long"), "{err}");

    // PSS over a digest.
    let pss = SignOptions {
        hash: Some(HashAlgorithm::Sha384),
        prehashed: true,
        padding: RsaPadding::Pss,
        salt_length: Some(48),
        ..SignOptions::default()
    };
    let signature = key.sign(&digest, &pss).unwrap();
    scratch.write("sig", &signature);
    scratch.openssl_ok(&[
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        "pub.pem",
        "-pkeyopt",
        "digest:sha384",
        "-pkeyopt",
        "rsa_padding_mode:pss",
        "-pkeyopt",
        "rsa_pss_saltlen:48",
        "-in",
        "digest",
        "-sigfile",
        "sig",
    ]);

    // A digest of the wrong length is the caller's mistake.
    let err = key.sign(&digest[..32], &options).unwrap_err();
    assert_eq!(
        err.to_string(),
        "prehashed input is 32 bytes but sha2-384 digests are 48 bytes"
    );
    assert!(key
        .public_key()
        .verify(&digest[..32], &signature, &options)
        .is_err());
    let pss_default = SignOptions { hash: None, ..pss };
    assert!(key.sign(&digest, &pss_default).is_err());
    assert!(key.sign(&digest[..32], &pss_default).is_ok());
}

#[test]
fn rsa_rejects_bad_signatures_and_options() {
    let key = rsa_fixture();
    let public = key.public_key();
    for padding in [RsaPadding::Pss, RsaPadding::Pkcs1v15] {
        let options = SignOptions {
            padding,
            ..SignOptions::default()
        };
        let signature = key.sign(b"m", &options).unwrap();
        assert!(public.verify(b"m", &signature, &options).unwrap());
        let mut tampered = signature.clone();
        tampered[100] ^= 1;
        assert!(!public.verify(b"m", &tampered, &options).unwrap());
        assert!(!public.verify(b"m", &signature[..255], &options).unwrap());
        assert!(!public.verify(b"m", &[], &options).unwrap());
        assert!(!public.verify(b"m", &[0xff; 256], &options).unwrap());
        assert!(!public.verify(b"m", &[0xff; 512], &options).unwrap());
        let sha512 = SignOptions {
            hash: Some(HashAlgorithm::Sha512),
            ..options
        };
        assert!(!public.verify(b"m", &signature, &sha512).unwrap());
    }
    let err = key
        .sign(
            b"m",
            &SignOptions {
                salt_length: Some(223),
                ..SignOptions::default()
            },
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "PSS salt length 223 is too long: at most 222 bytes with sha2-256 and this key"
    );
    assert!(key
        .sign(
            b"m",
            &SignOptions {
                salt_length: Some(u32::MAX),
                ..SignOptions::default()
            }
        )
        .is_err());
    let signature = key.sign(b"m", &SignOptions::default()).unwrap();
    let huge_salt = SignOptions {
        salt_length: Some(u32::MAX),
        ..SignOptions::default()
    };
    assert!(!public.verify(b"m", &signature, &huge_salt).unwrap());
}

#[test]
fn rsa_oaep_interoperates_with_openssl() {
    let scratch = Scratch::new();
    let key = rsa_fixture();
    let public = key.public_key();
    scratch.write("key.pem", RSA2048_PEM);
    scratch.public_pem(&public);
    scratch.write("pt", b"attack at dawn");
    let cases: [(HashAlgorithm, Option<&[u8]>); 5] = [
        (HashAlgorithm::Sha1, None),
        (HashAlgorithm::Sha256, None),
        (HashAlgorithm::Sha256, Some(b"label")),
        (HashAlgorithm::Sha512, Some(b"")),
        (HashAlgorithm::Sha3_256, None),
    ];
    for (algorithm, label) in cases {
        let mut opts = vec![
            "-pkeyopt".to_owned(),
            "rsa_padding_mode:oaep".to_owned(),
            "-pkeyopt".to_owned(),
            format!("rsa_oaep_md:{algorithm}"),
            "-pkeyopt".to_owned(),
            format!("rsa_mgf1_md:{algorithm}"),
        ];
        if let Some(label) = label.filter(|l| !l.is_empty()) {
            opts.push("-pkeyopt".to_owned());
            opts.push(format!("rsa_oaep_label:{}", hex::encode(label)));
        }
        let opts: Vec<&str> = opts.iter().map(String::as_str).collect();

        // Ours to openssl.
        let ciphertext = public
            .encrypt_oaep(b"attack at dawn", algorithm, label)
            .unwrap();
        assert_eq!(ciphertext.len(), 256);
        scratch.write("ct", &ciphertext);
        let mut args = vec!["pkeyutl", "-decrypt", "-inkey", "key.pem", "-in", "ct"];
        args.extend(&opts);
        assert_eq!(scratch.openssl_ok(&args), b"attack at dawn", "{algorithm}");

        // Openssl's to ours.
        let mut args = vec![
            "pkeyutl", "-encrypt", "-pubin", "-inkey", "pub.pem", "-in", "pt",
        ];
        args.extend(&opts);
        let ciphertext = scratch.openssl_ok(&args);
        assert_eq!(
            key.decrypt_oaep(&ciphertext, algorithm, label).unwrap(),
            b"attack at dawn"
        );

        // Tampering, the wrong label or hash fail, all alike.
        let mut tampered = ciphertext.clone();
        tampered[10] ^= 1;
        let err = key.decrypt_oaep(&tampered, algorithm, label).unwrap_err();
        assert_eq!(err.to_string(), "RSA-OAEP decryption failed");
        let err = key
            .decrypt_oaep(&ciphertext, algorithm, Some(b"other"))
            .unwrap_err();
        assert_eq!(err.to_string(), "RSA-OAEP decryption failed");
        let other = if algorithm == HashAlgorithm::Sha1 {
            HashAlgorithm::Sha256
        } else {
            HashAlgorithm::Sha1
        };
        assert!(key.decrypt_oaep(&ciphertext, other, label).is_err());
        assert!(key
            .decrypt_oaep(&ciphertext[..255], algorithm, label)
            .is_err());
        assert!(key.decrypt_oaep(&[], algorithm, label).is_err());
    }
    // Limits.
    let longest = 256 - 2 * 32 - 2;
    assert!(public
        .encrypt_oaep(&vec![1; longest], HashAlgorithm::Sha256, None)
        .is_ok());
    let err = public
        .encrypt_oaep(&vec![1; longest + 1], HashAlgorithm::Sha256, None)
        .unwrap_err();
    assert!(err.to_string().contains("too long"), "{err}");
    let err = public
        .encrypt_oaep(b"x", HashAlgorithm::Sha256, Some(&[0xff, 0xfe]))
        .unwrap_err();
    assert_eq!(err.to_string(), "RSA-OAEP labels must be valid UTF-8 text");
    // Not RSA.
    let ec = fixture(KeyType::EcdsaP256);
    let err = ec
        .decrypt_oaep(b"x", HashAlgorithm::Sha256, None)
        .unwrap_err();
    assert_eq!(err.to_string(), "RSA-OAEP needs an RSA key, not ecdsa-p256");
    assert!(ec
        .public_key()
        .encrypt_oaep(b"x", HashAlgorithm::Sha256, None)
        .is_err());
}

#[test]
fn rsa_generated_keys_have_their_size() {
    let scratch = Scratch::new();
    for key_type in [KeyType::Rsa2048, KeyType::Rsa3072, KeyType::Rsa4096] {
        let key = generated(key_type);
        let bits = key_type.rsa_bits().unwrap();
        assert_eq!(key.key_type(), key_type);
        scratch.write("key.der", key.export(PrivateKeyFormat::Pkcs8Der).unwrap());
        let text = scratch.openssl_ok(&[
            "pkey", "-inform", "DER", "-in", "key.der", "-check", "-noout", "-text",
        ]);
        assert!(String::from_utf8_lossy(&text).contains(&format!("Private-Key: ({bits} bit")));
        // Re-import, sign and check with openssl.
        let pem = key.export(PrivateKeyFormat::Pkcs1Pem).unwrap();
        let again = PrivateKey::import(key_type, &pem).unwrap();
        scratch.public_pem(&again.public_key());
        scratch.write("msg", b"m");
        scratch.write("sig", key.sign(b"m", &SignOptions::default()).unwrap());
        scratch.openssl_ok(&[
            "dgst",
            "-sha256",
            "-verify",
            "pub.pem",
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:-2",
            "-signature",
            "sig",
            "msg",
        ]);
        let wrong = if key_type == KeyType::Rsa2048 {
            KeyType::Rsa4096
        } else {
            KeyType::Rsa2048
        };
        assert!(PrivateKey::import(wrong, &pem).is_err());
    }
}

// ---------------------------------------------------------------- ECDSA

const CURVES: [KeyType; 3] = [KeyType::EcdsaP256, KeyType::EcdsaP384, KeyType::EcdsaP521];

#[test]
fn ecdsa_import_forms_and_checks() {
    let scratch = Scratch::new();
    for key_type in CURVES {
        let pem = match key_type {
            KeyType::EcdsaP256 => P256_PEM,
            KeyType::EcdsaP384 => P384_PEM,
            _ => P521_PEM,
        };
        scratch.write("key.pem", pem);
        let pkcs8_der = scratch.openssl_ok(&[
            "pkcs8", "-topk8", "-nocrypt", "-in", "key.pem", "-outform", "DER",
        ]);
        let sec1_pem = scratch.openssl_ok(&["ec", "-in", "key.pem"]);
        let sec1_der = scratch.openssl_ok(&["ec", "-in", "key.pem", "-outform", "DER"]);
        let spki_der =
            scratch.openssl_ok(&["pkey", "-in", "key.pem", "-pubout", "-outform", "DER"]);
        let spki_pem = scratch.openssl_ok(&["pkey", "-in", "key.pem", "-pubout"]);
        let compressed = scratch.openssl_ok(&[
            "ec",
            "-in",
            "key.pem",
            "-pubout",
            "-conv_form",
            "compressed",
            "-outform",
            "DER",
        ]);
        assert!(String::from_utf8_lossy(&sec1_pem).contains("BEGIN EC PRIVATE KEY"));

        for encoded in [pem.as_bytes(), &pkcs8_der, &sec1_pem, &sec1_der] {
            let key = PrivateKey::import(key_type, encoded).unwrap();
            assert_eq!(key.key_type(), key_type);
            assert_eq!(
                key.public_key().export(PublicKeyFormat::SpkiDer).unwrap(),
                spki_der
            );
            // SEC1 as OpenSSL writes it: named curve and public point.
            assert_eq!(key.export(PrivateKeyFormat::Sec1Pem).unwrap(), sec1_pem);
            for other in KeyType::ALL.into_iter().filter(|t| *t != key_type) {
                assert!(
                    PrivateKey::import(other, encoded).is_err(),
                    "{key_type} as {other}"
                );
            }
        }
        let key = PrivateKey::import(key_type, pem.as_bytes()).unwrap();
        let raw = key.public_key().export(PublicKeyFormat::Raw).unwrap();
        assert_eq!(raw.len(), 1 + 2 * curve_len(key_type));
        assert_eq!(raw[0], 4);
        assert!(spki_der.ends_with(&raw));
        let compressed_point = &compressed[compressed.len() - 1 - curve_len(key_type)..];
        for encoded in [
            &spki_der[..],
            &spki_pem,
            &raw,
            compressed_point,
            &compressed,
        ] {
            let public = PublicKey::import(key_type, encoded).unwrap();
            assert_eq!(public.export(PublicKeyFormat::SpkiDer).unwrap(), spki_der);
            assert_eq!(public.export(PublicKeyFormat::SpkiPem).unwrap(), spki_pem);
            for other in KeyType::ALL.into_iter().filter(|t| *t != key_type) {
                assert!(
                    PublicKey::import(other, encoded).is_err(),
                    "{key_type} as {other}"
                );
            }
        }
        // Formats that do not fit.
        for format in [PrivateKeyFormat::Pkcs1Pem, PrivateKeyFormat::Raw] {
            assert!(key.export(format).is_err());
        }
        let err = key
            .public_key()
            .export(PublicKeyFormat::Pkcs1Pem)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{key_type} public keys cannot be exported as pkcs1-pem")
        );
        // Exports parse in openssl.
        scratch.write("a.pem", key.export(PrivateKeyFormat::Pkcs8Pem).unwrap());
        scratch.write("b.der", key.export(PrivateKeyFormat::Pkcs8Der).unwrap());
        assert_eq!(key.export(PrivateKeyFormat::Pkcs8Der).unwrap(), pkcs8_der);
        for args in [
            &["pkey", "-in", "a.pem"][..],
            &["pkey", "-inform", "DER", "-in", "b.der"],
        ] {
            let mut args = args.to_vec();
            args.extend(["-pubout", "-outform", "DER"]);
            assert_eq!(scratch.openssl_ok(&args), spki_der);
        }
        // Truncated and garbage input.
        for encoded in [
            &pkcs8_der[..pkcs8_der.len() - 1],
            &sec1_der[..sec1_der.len() - 5],
            &sec1_der[..8],
            b"\x30",
        ] {
            assert!(PrivateKey::import(key_type, encoded).is_err());
        }
        for encoded in [
            &spki_der[..spki_der.len() - 1],
            &raw[..raw.len() - 1],
            &raw[1..],
            b"",
        ] {
            assert!(PublicKey::import(key_type, encoded).is_err());
        }
        let mut off_curve = raw.clone();
        *off_curve.last_mut().unwrap() ^= 1;
        assert!(PublicKey::import(key_type, &off_curve).is_err());
    }
    // Curve mismatch messages.
    let err = PrivateKey::import(KeyType::EcdsaP256, P384_PEM.as_bytes()).unwrap_err();
    assert_eq!(err.to_string(), "the key is ecdsa-p384, not ecdsa-p256");
    scratch.write("key.pem", P384_PEM);
    let sec1 = scratch.openssl_ok(&["ec", "-in", "key.pem"]);
    let err = PrivateKey::import(KeyType::EcdsaP256, &sec1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the SEC1 private key is not on the curve of ecdsa-p256"
    );
    let err = PrivateKey::import(KeyType::Rsa2048, &sec1).unwrap_err();
    assert!(err.to_string().contains("SEC1"), "{err}");
}

#[test]
fn ecdsa_signatures_verify_in_openssl() {
    let scratch = Scratch::new();
    let message = b"ecdsa message";
    scratch.write("msg", message);
    for key_type in CURVES {
        for key in [fixture(key_type), generated(key_type).clone()] {
            let public = key.public_key();
            scratch.public_pem(&public);
            for algorithm in [
                None,
                Some(HashAlgorithm::Sha1),
                Some(HashAlgorithm::Sha384),
                Some(HashAlgorithm::Sha512),
                Some(HashAlgorithm::Sha3_256),
            ] {
                let md = format!("-{}", algorithm.unwrap_or(HashAlgorithm::Sha256));
                let asn1 = options(algorithm);
                let fixed = SignOptions {
                    encoding: SignatureEncoding::Fixed,
                    ..asn1
                };
                let signature = key.sign(message, &asn1).unwrap();
                scratch.write("sig", &signature);
                scratch.openssl_ok(&[
                    "dgst",
                    &md,
                    "-verify",
                    "pub.pem",
                    "-signature",
                    "sig",
                    "msg",
                ]);
                assert!(public.verify(message, &signature, &asn1).unwrap());
                assert!(!public.verify(message, &signature, &fixed).unwrap());
                assert!(!public.verify(b"other", &signature, &asn1).unwrap());

                let signature = key.sign(message, &fixed).unwrap();
                assert_eq!(signature.len(), 2 * curve_len(key_type));
                scratch.write("sig", fixed_to_der(&signature));
                scratch.openssl_ok(&[
                    "dgst",
                    &md,
                    "-verify",
                    "pub.pem",
                    "-signature",
                    "sig",
                    "msg",
                ]);
                assert!(public.verify(message, &signature, &fixed).unwrap());
                assert!(!public.verify(message, &signature, &asn1).unwrap());
            }
        }
    }
}

#[test]
fn ecdsa_verifies_openssl_signatures() {
    let scratch = Scratch::new();
    let message = b"signed by openssl";
    scratch.write("msg", message);
    for key_type in CURVES {
        let key = fixture(key_type);
        let public = key.public_key();
        scratch.write("key.pem", key.export(PrivateKeyFormat::Sec1Pem).unwrap());
        for algorithm in [
            HashAlgorithm::Sha256,
            HashAlgorithm::Sha512,
            HashAlgorithm::Sha3_512,
        ] {
            let der =
                scratch.openssl_ok(&["dgst", &format!("-{algorithm}"), "-sign", "key.pem", "msg"]);
            let asn1 = options(Some(algorithm));
            let fixed = SignOptions {
                encoding: SignatureEncoding::Fixed,
                ..asn1
            };
            assert!(public.verify(message, &der, &asn1).unwrap());
            let raw = der_to_fixed(&der, curve_len(key_type));
            assert!(public.verify(message, &raw, &fixed).unwrap());
            let mut tampered = raw.clone();
            tampered[5] ^= 1;
            assert!(!public.verify(message, &tampered, &fixed).unwrap());
            assert!(!public.verify(message, &raw[1..], &fixed).unwrap());
            assert!(!public
                .verify(message, &der[..der.len() - 1], &asn1)
                .unwrap());
            assert!(!public.verify(message, &[], &asn1).unwrap());
            assert!(!public.verify(message, &[0; 200], &fixed).unwrap());
        }
    }
}

#[test]
fn ecdsa_prehashed_matches_openssl() {
    let scratch = Scratch::new();
    for key_type in CURVES {
        let key = fixture(key_type);
        let public = key.public_key();
        scratch.public_pem(&public);
        scratch.write("key.pem", key.export(PrivateKeyFormat::Pkcs8Pem).unwrap());
        // Shorter and longer than the curve's order, incl. P-521's 521 bits.
        for len in [16, 20, 32, 48, 64, 65, 66, 80, 100] {
            let digest: Vec<u8> = (0..len)
                .map(|i| u8::try_from(i * 7 % 256).unwrap() | 0x80)
                .collect();
            let options = SignOptions {
                hash: Some(HashAlgorithm::Sha256),
                prehashed: true,
                ..SignOptions::default()
            };
            let signature = key.sign(&digest, &options).unwrap();
            assert!(public.verify(&digest, &signature, &options).unwrap());
            let no_hash = SignOptions {
                hash: None,
                ..options
            };
            assert!(public.verify(&digest, &signature, &no_hash).unwrap());
            if len > 64 {
                continue; // openssl takes digests of at most 64 bytes
            }
            scratch.write("digest", &digest);
            scratch.write("sig", &signature);
            scratch.openssl_ok(&[
                "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-in", "digest", "-sigfile",
                "sig",
            ]);
            // openssl over the same digest.
            let theirs =
                scratch.openssl_ok(&["pkeyutl", "-sign", "-inkey", "key.pem", "-in", "digest"]);
            assert!(
                public.verify(&digest, &theirs, &options).unwrap(),
                "{key_type} {len}"
            );
        }
        // Prehashing here is the same as hashing with the same algorithm.
        let digest = hash(HashAlgorithm::Sha384, b"m");
        let prehashed = SignOptions {
            hash: Some(HashAlgorithm::Sha384),
            prehashed: true,
            ..SignOptions::default()
        };
        let signature = key.sign(&digest, &prehashed).unwrap();
        assert!(public
            .verify(b"m", &signature, &options(Some(HashAlgorithm::Sha384)))
            .unwrap());
        let err = key.sign(&[], &prehashed).unwrap_err();
        assert_eq!(err.to_string(), "prehashed input must not be empty");
        assert!(public.verify(&[], &signature, &prehashed).is_err());
    }
}

#[test]
fn ecdsa_p521_long_prehashed_inputs_keep_their_leftmost_521_bits() {
    // Signatures over inputs longer than 521 bits, made with the fixture key
    // by a plain SEC1 §4.1.3 reference (Python integers, e = the input's
    // leftmost 521 bits, a fixed k), which openssl cannot check as it takes
    // digests of at most 64 bytes.
    let cases = [
        (66, "009bc35d9b293fda98e4c54e174e861d4570e5090430b0925a81613ea7da60bda737d08187d2b523d5575f64c960121fe8e75553ac87c935ee6c9e0b95a66da79ebd00a8120b9dec137e1f95b788de912e739ed59bd06bf8b9cfcecfb3e029694823d3c270ec29019b5eeb29beb508e40851ef0300ba9bc6e2707404c97da90bc30e4bcb"),
        (80, "0192996711da12875c2295b70d21e6b1d4f37de113b5fe9b745f91cd65d6f008260d5bb4bf436b256dde403d18e2e38a4ecad825c21edcc661205226188f9348f4ca004b7a691f39e577df1d6d79dd2c5493740cb16e3aeac6f5d7a9091b516bd3d4bc3d44eb1c09abf72b5bce1ed87044110742aa39234daf9855b19ac240fae3215f1e"),
    ];
    let public = fixture(KeyType::EcdsaP521).public_key();
    let options = SignOptions {
        prehashed: true,
        encoding: SignatureEncoding::Fixed,
        ..SignOptions::default()
    };
    for (len, signature) in cases {
        let input: Vec<u8> = (0..len)
            .map(|i| u8::try_from(i * 7 % 256).unwrap() | 0x80)
            .collect();
        assert!(
            public.verify(&input, &h(signature), &options).unwrap(),
            "{len}"
        );
        let mut other = input.clone();
        *other.last_mut().unwrap() ^= 0x80; // within the leftmost 521 bits only if len is 66
        assert_eq!(
            public.verify(&other, &h(signature), &options).unwrap(),
            len > 66
        );
    }
}

// ---------------------------------------------------------------- Ed25519

#[test]
fn ed25519_rfc8032_vectors() {
    let cases = [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
    ];
    for (seed, public, message, signature) in cases {
        let key = PrivateKey::from_ed25519_seed(&h(seed)).unwrap();
        assert_eq!(key.key_type(), KeyType::Ed25519);
        assert_eq!(
            hex::encode(key.export(PrivateKeyFormat::Raw).unwrap()),
            seed
        );
        assert_eq!(
            hex::encode(key.public_key().export(PublicKeyFormat::Raw).unwrap()),
            public
        );
        // Hash options are ignored: pure Ed25519.
        for options in [
            SignOptions::default(),
            SignOptions {
                hash: Some(HashAlgorithm::Sha1),
                prehashed: true,
                ..SignOptions::default()
            },
        ] {
            assert_eq!(
                hex::encode(key.sign(&h(message), &options).unwrap()),
                signature
            );
            let public = PublicKey::import(KeyType::Ed25519, &h(public)).unwrap();
            assert!(public.verify(&h(message), &h(signature), &options).unwrap());
            assert!(!public.verify(b"x", &h(signature), &options).unwrap());
            assert!(!public
                .verify(&h(message), &h(signature)[..63], &options)
                .unwrap());
            let mut tampered = h(signature);
            tampered[40] ^= 1;
            assert!(!public.verify(&h(message), &tampered, &options).unwrap());
        }
    }
    for bad in [0, 31, 33, 64] {
        let err = PrivateKey::from_ed25519_seed(&vec![1; bad]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("invalid Ed25519 seed length {bad}: expected 32 bytes")
        );
    }
}

#[test]
fn ed25519_interoperates_with_openssl() {
    let scratch = Scratch::new();
    scratch.write("key.pem", ED25519_PEM);
    let pkcs8_der = scratch.openssl_ok(&[
        "pkcs8", "-topk8", "-nocrypt", "-in", "key.pem", "-outform", "DER",
    ]);
    let spki_der = scratch.openssl_ok(&["pkey", "-in", "key.pem", "-pubout", "-outform", "DER"]);
    let spki_pem = scratch.openssl_ok(&["pkey", "-in", "key.pem", "-pubout"]);
    for key in [
        fixture(KeyType::Ed25519),
        generated(KeyType::Ed25519).clone(),
    ] {
        let public = key.public_key();
        scratch.public_pem(&public);
        let message = b"ed25519 message";
        scratch.write("msg", message);
        scratch.write("sig", key.sign(message, &SignOptions::default()).unwrap());
        scratch.openssl_ok(&[
            "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-in", "msg",
            "-sigfile", "sig",
        ]);
        scratch.write("mine.pem", key.export(PrivateKeyFormat::Pkcs8Pem).unwrap());
        let theirs = scratch.openssl_ok(&[
            "pkeyutl", "-sign", "-inkey", "mine.pem", "-rawin", "-in", "msg",
        ]);
        assert!(public
            .verify(message, &theirs, &SignOptions::default())
            .unwrap());
    }
    let key = fixture(KeyType::Ed25519);
    assert_eq!(key.export(PrivateKeyFormat::Pkcs8Der).unwrap(), pkcs8_der);
    assert_eq!(
        key.export(PrivateKeyFormat::Pkcs8Pem).unwrap(),
        ED25519_PEM.as_bytes()
    );
    assert_eq!(
        key.public_key().export(PublicKeyFormat::SpkiDer).unwrap(),
        spki_der
    );
    assert_eq!(
        key.public_key().export(PublicKeyFormat::SpkiPem).unwrap(),
        spki_pem
    );
    assert!(PrivateKey::import(KeyType::Ed25519, &pkcs8_der).is_ok());
    let seed = key.export(PrivateKeyFormat::Raw).unwrap();
    assert!(pkcs8_der.ends_with(&seed));
    for encoded in [&spki_der[..], &spki_pem, &spki_der[spki_der.len() - 32..]] {
        let public = PublicKey::import(KeyType::Ed25519, encoded).unwrap();
        assert_eq!(public.export(PublicKeyFormat::SpkiDer).unwrap(), spki_der);
    }
    // Formats and types that do not fit.
    for format in [PrivateKeyFormat::Pkcs1Pem, PrivateKeyFormat::Sec1Pem] {
        let err = key.export(format).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("ed25519 private keys cannot be exported"),
            "{err}"
        );
    }
    assert!(key.public_key().export(PublicKeyFormat::Pkcs1Pem).is_err());
    assert!(key.decrypt_oaep(b"x", HashAlgorithm::Sha256, None).is_err());
    let err = PrivateKey::import(KeyType::Ed25519, RSA2048_PEM.as_bytes()).unwrap_err();
    assert_eq!(err.to_string(), "the key is an RSA key, not ed25519");
    assert!(PrivateKey::import(KeyType::Ed25519, &seed).is_err());
    assert!(PrivateKey::import(KeyType::Ed25519, &pkcs8_der[..pkcs8_der.len() - 1]).is_err());
    assert!(PublicKey::import(KeyType::Ed25519, &spki_der[..40]).is_err());
    assert!(PublicKey::import(KeyType::Ed25519, &[0u8; 31]).is_err());
    assert!(PrivateKey::import(KeyType::EcdsaP256, ED25519_PEM.as_bytes()).is_err());
}

#[test]
fn keys_are_cheap_to_reuse_and_shareable() {
    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync::<PrivateKey>();
    assert_send_sync::<PublicKey>();
    let key = rsa_fixture();
    // Many signatures on one parsed key (a precomputed RSA key is fast).
    for _ in 0..20 {
        let signature = key.sign(b"m", &SignOptions::default()).unwrap();
        assert!(key
            .public_key()
            .verify(b"m", &signature, &SignOptions::default())
            .unwrap());
    }
}

#[test]
fn never_panics_on_arbitrary_key_bytes() {
    let mut inputs: Vec<Vec<u8>> = vec![
        vec![],
        vec![0x30],
        vec![0x30, 0x80],
        vec![0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
        vec![0x04; 65],
        vec![0x02; 33],
        b"-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n".to_vec(),
        b"-----BEGIN PUBLIC KEY-----\n-----END PRIVATE KEY-----\n".to_vec(),
    ];
    inputs.extend((0..50).map(|n| random_bytes(n * 7).unwrap()));
    let der = rsa_fixture().export(PrivateKeyFormat::Pkcs8Der).unwrap();
    inputs.extend((0..der.len()).step_by(37).map(|n| der[..n].to_vec()));
    for input in &inputs {
        for key_type in KeyType::ALL {
            assert!(PrivateKey::import(key_type, input).is_err());
            let _ = PublicKey::import(key_type, input);
        }
        assert!(PrivateKey::from_ed25519_seed(input).is_err() || input.len() == 32);
    }
}

#[test]
fn errors_display_their_message() {
    let err = CryptoError::new("boom");
    assert_eq!(err.to_string(), "boom");
    assert_eq!(err.message(), "boom");
    let _: &dyn std::error::Error = &err;
}

/// A generated ECDSA key (held by AWS-LC) exports SEC1 and PKCS#8 without
/// the portable key; OpenSSL reads both back to the same public key.
#[test]
fn generated_ecdsa_keys_export_what_openssl_reads() {
    let scratch = Scratch::new();
    for key_type in CURVES {
        let key = PrivateKey::generate(key_type).unwrap();
        let spki = key.public_key().export(PublicKeyFormat::SpkiDer).unwrap();
        let sec1 = key.export(PrivateKeyFormat::Sec1Pem).unwrap();
        assert!(String::from_utf8_lossy(&sec1).starts_with("-----BEGIN EC PRIVATE KEY-----\n"));
        scratch.write("sec1.pem", sec1);
        let from_sec1 =
            scratch.openssl_ok(&["ec", "-in", "sec1.pem", "-pubout", "-outform", "DER"]);
        assert_eq!(from_sec1, spki, "{key_type}: SEC1");
        // The named curve is in the SEC1 structure (OpenSSL needs it).
        let text = scratch.openssl_ok(&["ec", "-in", "sec1.pem", "-noout", "-text"]);
        assert!(
            String::from_utf8_lossy(&text).contains("NIST CURVE"),
            "{key_type}"
        );
        scratch.write("p8.der", key.export(PrivateKeyFormat::Pkcs8Der).unwrap());
        let from_p8 = scratch.openssl_ok(&[
            "pkey", "-in", "p8.der", "-inform", "DER", "-pubout", "-outform", "DER",
        ]);
        assert_eq!(from_p8, spki, "{key_type}: PKCS#8");
        let again =
            PrivateKey::import(key_type, &key.export(PrivateKeyFormat::Pkcs8Pem).unwrap()).unwrap();
        assert_eq!(
            again.public_key().export(PublicKeyFormat::SpkiDer).unwrap(),
            spki
        );
    }
}

/// A generated ECDSA key's public half is built from AWS-LC's point; the
/// portable key behind it is made only when needed (a hash AWS-LC does not
/// take), and every form agrees.
#[test]
fn generated_ecdsa_public_keys_agree_in_every_form() {
    for key_type in CURVES {
        let key = PrivateKey::generate(key_type).unwrap();
        let public = key.public_key();
        let spki = public.export(PublicKeyFormat::SpkiDer).unwrap();
        let raw = public.export(PublicKeyFormat::Raw).unwrap();
        assert!(spki.ends_with(&raw), "{key_type}: SPKI ends with the point");
        let again = PublicKey::import(key_type, &spki).unwrap();
        assert_eq!(again.export(PublicKeyFormat::Raw).unwrap(), raw);
        for algorithm in [HashAlgorithm::Sha256, HashAlgorithm::Sha3_512] {
            let signature = key.sign(b"m", &options(Some(algorithm))).unwrap();
            assert!(public
                .verify(b"m", &signature, &options(Some(algorithm)))
                .unwrap());
            assert!(!public
                .verify(b"n", &signature, &options(Some(algorithm)))
                .unwrap());
            assert!(again
                .verify(b"m", &signature, &options(Some(algorithm)))
                .unwrap());
        }
    }
}
