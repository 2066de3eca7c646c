//! Contract 0.2's `keys` end to end.
//!
//! - A hostile engine (`tests/engines/hostile02`), mounted twice, tries
//!   every way it has to get key bytes it was not given (export, backup and
//!   wrap-for without permission, `permit` outside a client's create or
//!   update, blobs of the other mount, tampered or made up, managed keys,
//!   storage, forged handles): each attempt gets nothing but the expected
//!   error.
//! - The contract-0.2 test engine (`tests/engines/contract02`) uses keys as
//!   an engine should: every key type generated, sealed, stored and, after
//!   a restart, opened again; what the host made is checked with RustCrypto
//!   directly (the keys exported with permission, or their public halves).
//! - Managed keys through the test backend (`tests/support/managed_keys.rs`,
//!   `COFFER_TEST_MANAGED_KEYS`): a signature checked with the key's public
//!   half, `allowed_managed_keys` (403) and a backend that is down (503).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{install_engine, Client, ConfigDir, Server, CONTRACT02_WASM, HOSTILE02_WASM};

/// The test backend's keys: `signer` for the mounts that name it,
/// `shared` for any mount, `offline` behind a backend that is down.
const MANAGED: &str = r#"[
    {"name": "signer", "id": "11111111-aaaa", "type": "ecdsa-p256"},
    {"name": "sealer", "id": "44444444-dddd", "any_mount": true, "type": "aes256-gcm96"},
    {"name": "shared", "id": "22222222-bbbb", "any_mount": true, "type": "ecdsa-p256"},
    {"name": "offline", "id": "33333333-cccc", "type": "ed25519", "down": true}
]"#;

fn managed_server(hcl: Option<&str>) -> Server {
    Server::dev_with(hcl, &[("COFFER_TEST_MANAGED_KEYS", MANAGED)])
}

fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(
        v.as_str()
            .unwrap_or_else(|| panic!("hex expected, got {v}")),
    )
    .unwrap()
}

/// The outcome `attacks` reported for `name` is the error `case`.
#[track_caller]
fn refused(report: &Value, name: &str, case: &str) {
    let outcome = &report[name];
    assert_eq!(
        outcome["error"], case,
        "{name}: expected {case}, got {outcome}"
    );
    assert!(outcome.get("bytes").is_none(), "{name} leaked {outcome}");
}

#[test]
fn keys02_a_hostile_engine_gets_no_key_bytes_it_was_not_given() {
    let server = managed_server(Some("engine_periodic_interval = \"1s\"\n"));
    let c = server.client();
    install_engine(&c, &server.plugin_dir(), HOSTILE02_WASM, "hostile");
    c.mount("a", "hostile");
    c.mount("b", "hostile");

    let r = c.post("a/blob", &json!({}));
    r.expect(200);
    let foreign = r.data()["blob"].as_str().unwrap().to_string();
    let r = c.get(&format!("b/attacks?foreign={foreign}"));
    r.expect(200);
    let report = r.data();

    let expected = [
        ("export-without-export", "permission-denied"),
        ("export-ed25519-without-export", "permission-denied"),
        ("backup-without-plaintext-backup", "permission-denied"),
        ("wrap-for-of-an-unexportable-key", "permission-denied"),
        ("permit-in-a-read", "permission-denied"),
        ("export-of-a-derived-key", "permission-denied"),
        ("managed-export", "permission-denied"),
        ("managed-backup", "permission-denied"),
        ("managed-permit", "permission-denied"),
        ("wrap-for-of-a-managed-key", "permission-denied"),
        ("managed-not-allowed", "permission-denied"),
        ("managed-unknown", "permission-denied"),
        ("permit-unknown-permission", "invalid-request"),
        ("generate-unknown-permission", "invalid-request"),
        ("generate-unknown-type", "invalid-request"),
        ("derive-rsa", "invalid-request"),
        ("derive-ecdsa", "invalid-request"),
        ("derive-empty-context", "invalid-request"),
        ("hmac-with-an-underived-aead-key", "invalid-request"),
        ("hmac-with-rsa", "invalid-request"),
        ("public-key-of-aes", "invalid-request"),
        ("unwrap-garbage", "invalid-request"),
        ("unwrap-with-aes", "invalid-request"),
        ("import-wrong-length", "invalid-request"),
        ("import-garbage-as-ed25519", "invalid-request"),
        ("encrypt-short-nonce", "invalid-request"),
        ("decrypt-with-a-bad-tag", "invalid-request"),
        ("decrypt-with-other-aad", "invalid-request"),
        ("open-a-tampered-blob", "invalid-request"),
        ("open-another-version", "invalid-request"),
        ("open-a-truncated-blob", "invalid-request"),
        ("open-not-a-blob", "invalid-request"),
        ("open-empty", "invalid-request"),
        ("open-another-mounts-blob", "invalid-request"),
        ("encrypt-with-an-hmac-key", "invalid-request"),
        ("managed-seal", "invalid-request"),
        ("managed-derive", "invalid-request"),
        ("aead-open-a-blob-with-itself", "invalid-request"),
    ];
    for (name, case) in expected {
        refused(&report, name, case);
    }
    // The errors say why.
    assert_eq!(
        report["export-without-export"]["message"],
        "the key lacks the `export` permission"
    );
    assert_eq!(
        report["open-another-mounts-blob"]["message"],
        "the sealed key blob does not open on this mount: it was sealed on another mount, or altered"
    );
    assert!(
        report["managed-not-allowed"]["message"]
            .as_str()
            .unwrap()
            .contains("allowed_managed_keys does not name it"),
        "{}",
        report["managed-not-allowed"]
    );
    // What is not an error gives nothing away either.
    assert_eq!(report["reopened-hmac-type"], "hmac");
    assert_eq!(report["blob-contains-the-key"], false);
    assert_eq!(
        report["managed-shared"],
        json!({ "ok": true, "managed": true })
    );
    assert_eq!(report["managed-permissions"], json!([]));
    for key in [
        "core/keys/blob-root",
        "../core/keys/blob-root",
        "/core/keys/blob-root",
    ] {
        assert_eq!(
            report[format!("storage-get {key}")],
            json!({ "ok": true, "found": false }),
            "{key}"
        );
    }
    // Every outcome is one of the above: nothing unchecked came back.
    assert_eq!(
        report.as_object().unwrap().len(),
        expected.len() + 4 + 3,
        "{report:#}"
    );

    // `permit` works only in a client's create or update: not in `exists`
    // (the same request), not without a client, and the old handle keeps
    // its own permissions.
    let r = c.post("b/permit", &json!({}));
    r.expect(200);
    let permit = r.data();
    refused(&permit, "exists", "permission-denied");
    assert_eq!(permit["handle"], json!({ "ok": true }));
    assert_eq!(unhex(&permit["export"]["bytes"]).len(), 32);
    refused(&permit, "old-handle-export", "permission-denied");
    let r = server.anonymous().post("b/public/permit", &json!({}));
    r.expect(200);
    let anonymous = r.data();
    refused(&anonymous, "handle", "permission-denied");
    refused(&anonymous, "export", "permission-denied");
    // Nor in `periodic`.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let seen = c.get("b/periodic").data()["permit"].clone();
        if seen != "" {
            assert_eq!(seen, "permission-denied");
            break;
        }
        assert!(Instant::now() < deadline, "no periodic call within 20 s");
        std::thread::sleep(Duration::from_millis(200));
    }

    // The host's errors reach the client with their status (a 403 says
    // only Vault's "permission denied").
    let r = c.get("b/export");
    r.expect(403);
    assert_eq!(r.errors(), ["permission denied"]);

    // A forged handle, or the request's handle used as a key's, traps: a
    // 500, and the instance is replaced (the next call works).
    for path in ["b/forge", "b/forge-request"] {
        let r = c.get(path);
        r.expect(500);
        let r = c.get("b/attacks");
        r.expect(200);
        refused(&r.data(), "export-without-export", "permission-denied");
    }
}

#[test]
fn keys02_allowed_managed_keys_is_a_mount_setting_shown_as_vault_shows_it() {
    let server = managed_server(None);
    let c = server.client();
    install_engine(&c, &server.plugin_dir(), HOSTILE02_WASM, "hostile");
    c.post(
        "sys/mounts/a",
        &json!({ "type": "hostile", "config": { "allowed_managed_keys": ["signer", "offline"] } }),
    )
    .expect_no_content();
    c.mount("b", "hostile");

    let r = c.get("sys/mounts/a");
    r.expect(200);
    assert_eq!(
        r.data()["config"]["allowed_managed_keys"],
        json!(["signer", "offline"])
    );
    // Unset: not shown, as Vault omits it.
    let r = c.get("sys/mounts/b");
    assert!(r.data()["config"].get("allowed_managed_keys").is_none());
    assert!(c
        .get("sys/mounts/b/tune")
        .data()
        .get("allowed_managed_keys")
        .is_none());
    let mounts = c.get("sys/mounts").data();
    assert_eq!(
        mounts["a/"]["config"]["allowed_managed_keys"],
        json!(["signer", "offline"])
    );

    // Named: opens; not named: 403, also while the backend is down.
    c.get("a/managed/signer").expect(200);
    c.get("a/managed/11111111-aaaa").expect(200);
    c.get("b/managed/signer").expect(403);
    c.get("b/managed/offline").expect(403);
    let r = c.get("a/managed/offline");
    r.expect(503);
    assert_eq!(
        r.errors(),
        ["the test backend of managed key \"offline\" is down"]
    );
    // Any mount may use `shared`.
    c.get("b/managed/shared").expect(200);

    // Tune sets it (a list or Vault's comma-separated string) and reads it
    // back.
    c.post(
        "sys/mounts/b/tune",
        &json!({ "allowed_managed_keys": "signer, nothing-such" }),
    )
    .expect_no_content();
    assert_eq!(
        c.get("sys/mounts/b/tune").data()["allowed_managed_keys"],
        json!(["signer", "nothing-such"])
    );
    c.get("b/managed/signer").expect(200);
    // A key the mount names but the backend does not have: 400, said so.
    let r = c.get("b/managed/nothing-such");
    r.expect(400);
    assert_eq!(r.errors(), ["no managed key \"nothing-such\""]);
    c.post("sys/mounts/a/tune", &json!({ "allowed_managed_keys": [] }))
        .expect_no_content();
    c.get("a/managed/signer").expect(403);
    assert!(c
        .get("sys/mounts/a/tune")
        .data()
        .get("allowed_managed_keys")
        .is_none());
    // A bad value changes nothing.
    c.post("sys/mounts/b/tune", &json!({ "allowed_managed_keys": 7 }))
        .expect(400);
    c.get("b/managed/signer").expect(200);
}

/// A client for the contract-0.2 engine's `kms/` paths.
struct Kms<'a>(&'a Client);

impl Kms<'_> {
    #[track_caller]
    fn make(&self, name: &str, body: Value) -> Value {
        let r = self.0.post(&format!("pki/kms/{name}"), &body);
        r.expect(200);
        r.data()
    }

    #[track_caller]
    fn op(&self, name: &str, op: &str, body: Value) -> Value {
        let r = self.0.post(&format!("pki/kms/{name}/{op}"), &body);
        r.expect(200);
        r.data()
    }

    #[track_caller]
    fn spki(&self, name: &str) -> Vec<u8> {
        let r = self.0.get(&format!("pki/kms/{name}/public"));
        r.expect(200);
        unhex(&r.data()["spki"])
    }
}

const NONCE: [u8; 12] = [7; 12];

/// A `sign` body: RSA-PSS with a salt as long as the digest, P-384 with
/// SHA-384 (what RustCrypto's verifiers take by default).
fn sign_body(key_type: &str, message: &[u8]) -> Value {
    let mut body = json!({ "message": hex::encode(message) });
    match key_type {
        "rsa-2048" => body["salt_length"] = json!(32),
        "ecdsa-p384" => body["hash"] = json!("sha2-384"),
        _ => {}
    }
    body
}

/// Checks a signature of `message` by the key whose SPKI DER is `spki`,
/// with RustCrypto.
#[track_caller]
fn verify_independently(key_type: &str, spki: &[u8], message: &[u8], signature: &[u8]) {
    use p256::pkcs8::DecodePublicKey;
    use rsa::signature::Verifier;
    let verified = match key_type {
        "ecdsa-p256" => p256::ecdsa::VerifyingKey::from_public_key_der(spki)
            .unwrap()
            .verify(
                message,
                &p256::ecdsa::Signature::from_der(signature).unwrap(),
            ),
        "ecdsa-p384" => p384::ecdsa::VerifyingKey::from_public_key_der(spki)
            .unwrap()
            .verify(
                message,
                &p384::ecdsa::Signature::from_der(signature).unwrap(),
            ),
        "ed25519" => ed25519_dalek::VerifyingKey::from_public_key_der(spki)
            .unwrap()
            .verify(
                message,
                &ed25519_dalek::Signature::from_slice(signature).unwrap(),
            ),
        "rsa-2048" => rsa::pss::VerifyingKey::<sha2::Sha256>::new(
            rsa::RsaPublicKey::from_public_key_der(spki).unwrap(),
        )
        .verify(message, &rsa::pss::Signature::try_from(signature).unwrap()),
        other => panic!("no check for {other}"),
    };
    verified.unwrap_or_else(|e| panic!("{key_type}: the host's signature does not verify: {e}"));
}

/// Decrypts an AEAD ciphertext-and-tag made by the host, with RustCrypto.
fn open_independently(key_type: &str, key: &[u8], ciphertext: &[u8], aad: &[u8]) -> Vec<u8> {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    let payload = Payload {
        msg: ciphertext,
        aad,
    };
    let nonce = aes_gcm::Nonce::from_slice(&NONCE);
    match key_type {
        "aes128-gcm96" => aes_gcm::Aes128Gcm::new_from_slice(key)
            .unwrap()
            .decrypt(nonce, payload),
        "aes256-gcm96" => aes_gcm::Aes256Gcm::new_from_slice(key)
            .unwrap()
            .decrypt(nonce, payload),
        "chacha20-poly1305" => chacha20poly1305::ChaCha20Poly1305::new_from_slice(key)
            .unwrap()
            .decrypt(chacha20poly1305::Nonce::from_slice(&NONCE), payload),
        other => panic!("no AEAD {other}"),
    }
    .unwrap_or_else(|_| panic!("{key_type}: the host's ciphertext does not open"))
}

#[test]
fn keys02_every_key_type_sealed_survives_a_restart_and_checks_out_independently() {
    let dir = ConfigDir::new("");
    let (first, init) = Server::config_ready(&dir);
    let c = first.client();
    install_engine(&c, &dir.plugin_dir(), CONTRACT02_WASM, "c02");
    c.mount("pki", "c02");
    let kms = Kms(&c);
    let message = b"signed by the host".to_vec();
    let exportable = json!(["export"]);

    // Signing keys: the signature checks with the public half.
    let signers = ["ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-2048"];
    let mut signed = Vec::new();
    for key_type in signers {
        let made = kms.make(key_type, json!({ "type": key_type, "permissions": [] }));
        assert_eq!(
            made,
            json!({ "type": key_type, "permissions": [], "managed": false })
        );
        let spki = kms.spki(key_type);
        let signature =
            unhex(&kms.op(key_type, "sign", sign_body(key_type, &message))["signature"]);
        verify_independently(key_type, &spki, &message, &signature);
        signed.push((key_type, spki));
        // Without `export`, the private half stays in the host.
        c.post(
            &format!("pki/kms/{key_type}/export"),
            &json!({ "format": "pkcs8-der" }),
        )
        .expect(403);
    }

    // AEAD keys: exported with permission, the ciphertext opens with
    // RustCrypto.
    let aeads = ["aes128-gcm96", "aes256-gcm96", "chacha20-poly1305"];
    let mut sealed = Vec::new();
    for key_type in aeads {
        kms.make(
            key_type,
            json!({ "type": key_type, "permissions": exportable }),
        );
        let ciphertext = unhex(
            &kms.op(
                key_type,
                "encrypt",
                json!({ "plaintext": hex::encode(b"secret"), "nonce": hex::encode(NONCE), "aad": "aa" }),
            )["ciphertext"],
        );
        let key = unhex(&kms.op(key_type, "export", json!({ "format": "raw" }))["key"]);
        assert_eq!(
            open_independently(key_type, &key, &ciphertext, &[0xaa]),
            b"secret"
        );
        sealed.push((key_type, key, ciphertext));
    }

    // HMAC: checked with RustCrypto's hmac over the exported key.
    kms.make(
        "mac",
        json!({ "type": "hmac", "size": 48, "permissions": exportable }),
    );
    let tag = unhex(
        &kms.op(
            "mac",
            "hmac",
            json!({ "algorithm": "sha2-256", "data": hex::encode(b"data") }),
        )["hmac"],
    );
    let mac_key = unhex(&kms.op("mac", "export", json!({ "format": "raw" }))["key"]);
    assert_eq!(mac_key.len(), 48);
    {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&mac_key).unwrap();
        mac.update(b"data");
        mac.verify_slice(&tag).unwrap();
    }

    // RSA-OAEP: encrypted by RustCrypto to the public half, decrypted by
    // the host.
    let rsa_spki = kms.spki("rsa-2048");
    let ciphertext = {
        use p256::pkcs8::DecodePublicKey;
        let public = rsa::RsaPublicKey::from_public_key_der(&rsa_spki).unwrap();
        public
            .encrypt(
                &mut rand::thread_rng(),
                rsa::Oaep::new::<sha2::Sha256>(),
                b"wrapped",
            )
            .unwrap()
    };
    let opened = kms.op(
        "rsa-2048",
        "decrypt-oaep",
        json!({ "ciphertext": hex::encode(&ciphertext), "hash": "sha2-256" }),
    );
    assert_eq!(unhex(&opened["plaintext"]), b"wrapped");

    // A batch: each item alone, a bad one failing by itself.
    let batch = kms.op(
        "aes256-gcm96",
        "encrypt-batch",
        json!({ "items": [
            { "plaintext": hex::encode(b"one"), "nonce": hex::encode(NONCE) },
            { "plaintext": hex::encode(b"two"), "nonce": "0011" },
            { "plaintext": hex::encode(b"three"), "nonce": hex::encode(NONCE), "aad": "aa" },
        ] }),
    );
    let results = batch["results"].as_array().unwrap();
    let aes_key = &sealed[1].1;
    assert_eq!(
        open_independently(
            "aes256-gcm96",
            aes_key,
            &unhex(&results[0]["ciphertext"]),
            &[]
        ),
        b"one"
    );
    assert!(results[1]["error"]
        .as_str()
        .unwrap()
        .contains("InvalidRequest"));
    assert_eq!(
        open_independently(
            "aes256-gcm96",
            aes_key,
            &unhex(&results[2]["ciphertext"]),
            &[0xaa]
        ),
        b"three"
    );

    // A derived key is HKDF-SHA-256(key, no salt, context), checked with
    // RustCrypto's hkdf, and keeps its parent's permissions.
    let derived = kms.op(
        "aes256-gcm96",
        "derive",
        json!({ "context": hex::encode(b"tenant"), "as": "derived" }),
    );
    assert_eq!(derived["permissions"], json!(["export"]));
    let derived_key = unhex(&kms.op("derived", "export", json!({ "format": "raw" }))["key"]);
    let mut okm = [0u8; 64];
    hkdf::Hkdf::<sha2::Sha256>::new(None, aes_key)
        .expand(b"tenant", &mut okm)
        .unwrap();
    assert_eq!(derived_key, okm[..32]);

    // BYOK: a key wrapped for an exportable RSA key opens with RustCrypto
    // (RSA-OAEP, then AES-KWP) to the target's bytes, and unwraps in the
    // host to the same key.
    kms.make(
        "wrapper",
        json!({ "type": "rsa-2048", "permissions": exportable }),
    );
    let wrapped = unhex(&kms.op("wrapper", "wrap", json!({ "target": "aes256-gcm96" }))["wrapped"]);
    let wrapper_der = unhex(&kms.op("wrapper", "export", json!({ "format": "pkcs8-der" }))["key"]);
    {
        use rsa::pkcs8::DecodePrivateKey;
        let private = rsa::RsaPrivateKey::from_pkcs8_der(&wrapper_der).unwrap();
        let (head, tail) = wrapped.split_at(256);
        let ephemeral = private
            .decrypt(rsa::Oaep::new::<sha2::Sha256>(), head)
            .unwrap();
        let kek = aes_kw::KekAes256::try_from(ephemeral.as_slice()).unwrap();
        assert_eq!(&kek.unwrap_with_padding_vec(tail).unwrap(), aes_key);
    }
    kms.op(
        "wrapper",
        "unwrap",
        json!({ "wrapped": hex::encode(&wrapped), "type": "aes256-gcm96", "as": "unwrapped", "permissions": ["export"] }),
    );
    let unwrapped = unhex(&kms.op("unwrapped", "export", json!({ "format": "raw" }))["key"]);
    assert_eq!(&unwrapped, aes_key);

    // An imported key is the client's bytes.
    let imported = [0x42u8; 32];
    kms.make(
        "imported",
        json!({ "type": "aes256-gcm96", "import": hex::encode(imported) }),
    );
    let ciphertext = unhex(
        &kms.op(
            "imported",
            "encrypt",
            json!({ "plaintext": hex::encode(b"mine"), "nonce": hex::encode(NONCE) }),
        )["ciphertext"],
    );
    assert_eq!(
        open_independently("aes256-gcm96", &imported, &ciphertext, &[]),
        b"mine"
    );

    // `permit` in a client's update widens the stored key.
    c.post("pki/kms/ed25519/export", &json!({ "format": "raw" }))
        .expect(403);
    let widened = kms.op("ed25519", "permit", json!({ "permission": "export" }));
    assert_eq!(widened["permissions"], json!(["export"]));
    let seed = unhex(&kms.op("ed25519", "export", json!({ "format": "raw" }))["key"]);
    let public = ed25519_dalek::SigningKey::from_bytes(&seed.try_into().unwrap()).verifying_key();
    assert_eq!(
        {
            use ed25519_dalek::pkcs8::EncodePublicKey;
            public.to_public_key_der().unwrap().as_bytes().to_vec()
        },
        signed[2].1
    );
    first.stop();

    // After a restart the stored blobs open: the same keys.
    let second = Server::config_unsealed(&dir, &init);
    let c = second.client();
    let kms = Kms(&c);
    for (key_type, spki) in &signed {
        assert_eq!(&kms.spki(key_type), spki, "{key_type}");
        let signature =
            unhex(&kms.op(key_type, "sign", sign_body(key_type, &message))["signature"]);
        verify_independently(key_type, spki, &message, &signature);
    }
    for (key_type, key, ciphertext) in &sealed {
        let opened = kms.op(
            key_type,
            "decrypt",
            json!({ "ciphertext": hex::encode(ciphertext), "nonce": hex::encode(NONCE), "aad": "aa" }),
        );
        assert_eq!(unhex(&opened["plaintext"]), b"secret", "{key_type}");
        let again = unhex(&kms.op(key_type, "export", json!({ "format": "raw" }))["key"]);
        assert_eq!(&again, key, "{key_type}");
    }
    // The permission given before the restart is in the blob.
    kms.op("ed25519", "export", json!({ "format": "raw" }));
}

#[test]
fn keys02_a_managed_key_signs_and_only_where_allowed() {
    let server = managed_server(None);
    let c = server.client();
    install_engine(&c, &server.plugin_dir(), CONTRACT02_WASM, "c02");
    c.post(
        "sys/mounts/pki",
        &json!({ "type": "c02", "config": { "allowed_managed_keys": ["signer", "offline"] } }),
    )
    .expect_no_content();
    let message = b"signed in the backend";
    let body = json!({ "message": hex::encode(message) });
    for name in ["signer", "22222222-bbbb"] {
        let r = c.post(&format!("pki/managed/{name}/sign"), &body);
        r.expect(200);
        let signed = r.data();
        assert_eq!(signed["managed"], true);
        assert_eq!(signed["type"], "ecdsa-p256");
        verify_independently(
            "ecdsa-p256",
            &unhex(&signed["spki"]),
            message,
            &unhex(&signed["signature"]),
        );
    }
    let r = c.post("pki/managed/offline/sign", &body);
    r.expect(503);
    assert_eq!(r.header("retry-after"), vec!["5"]);
    c.post(
        "sys/mounts/pki/tune",
        &json!({ "allowed_managed_keys": ["offline"] }),
    )
    .expect_no_content();
    let r = c.post("pki/managed/signer/sign", &body);
    r.expect(403);
    c.post("pki/managed/shared/sign", &body).expect(200);

    // A managed AEAD key: a batch goes item by item through its handle,
    // a bad item failing alone, and round-trips; its bytes never leave.
    let r = c.post(
        "pki/managed/sealer/encrypt-batch",
        &json!({ "items": [
            { "plaintext": hex::encode(b"one"), "nonce": hex::encode(NONCE) },
            { "plaintext": hex::encode(b"two"), "nonce": "00" },
        ] }),
    );
    r.expect(200);
    let results = r.data()["results"].clone();
    assert!(results[1]["error"]
        .as_str()
        .unwrap()
        .contains("InvalidRequest"));
    let r = c.post(
        "pki/managed/sealer/decrypt",
        &json!({ "ciphertext": results[0]["ciphertext"], "nonce": hex::encode(NONCE) }),
    );
    r.expect(200);
    assert_eq!(unhex(&r.data()["plaintext"]), b"one");
    c.post("pki/managed/sealer/export", &json!({ "format": "raw" }))
        .expect(403);
    c.post(
        "pki/managed/sealer/permit",
        &json!({ "permission": "export" }),
    )
    .expect(403);
    c.post(
        "pki/managed/sealer/derive",
        &json!({ "context": "00", "as": "d" }),
    )
    .expect(400);
    c.post(
        "pki/managed/sealer/hmac",
        &json!({ "algorithm": "sha2-256", "data": "00" }),
    )
    .expect(400);
}
