//! What an upgrade must keep: storage written by an older release, and
//! engines built against an older contract.
//!
//! - `tests/fixtures/transit-0.1/`: a redb file in which the release on
//!   contract 0.1 (see `fixture.json`'s `made_by`) stored transit keys of
//!   every type, two versions each, with what that release answered
//!   (`make.py` wrote both). This binary must open it, unseal it and keep
//!   every answer valid: the same public keys, its ciphertexts decrypting
//!   to the plaintext, its signatures and HMACs verifying. Checked through
//!   the API and, where the test can do it without the server,
//!   independently: the exportable key's ciphertexts with `aes-gcm` and
//!   the exported key, the ECDSA signatures with `p256`/`p384`.
//! - `tests/fixtures/kv-0.1/`: a build of `kv` on contract 0.1, frozen
//!   (its sha256 beside it), registered and mounted from the catalog.

use std::path::PathBuf;

use aes_gcm::aead::{Aead, KeyInit};
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::Digest;

use crate::harness::{sha256_file, Client, ConfigDir, InitKeys, Server};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn b64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap_or_else(|e| panic!("base64 {text:?}: {e}"))
}

/// `vault:vN:<base64>` → (N, bytes).
fn vault_blob(text: &str) -> (u32, Vec<u8>) {
    let rest = text.strip_prefix("vault:v").expect("a vault:vN: prefix");
    let (version, body) = rest.split_once(':').expect("vault:vN:...");
    (version.parse().expect("a version"), b64(body))
}

#[test]
fn transit_storage_of_release_0_1_opens_and_answers() {
    let dir = ConfigDir::new("");
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("transit-0.1/fixture.json"))
            .expect("read fixture.json"),
    )
    .expect("fixture.json is JSON");
    std::fs::copy(
        fixtures().join("transit-0.1/coffer.redb"),
        dir.storage_file(),
    )
    .expect("copy the fixture's redb file");
    let keys = InitKeys {
        keys: vec![fixture["unseal_key"].as_str().unwrap().to_string()],
        root_token: fixture["root_token"].as_str().unwrap().to_string(),
    };
    let server = Server::config_unsealed(&dir, &keys);
    let c: Client = server.client();
    let plaintext = fixture["plaintext"].as_str().unwrap();
    let context = fixture["context"].as_str().unwrap();
    let expected = b64(plaintext);

    let names = fixture["keys"].as_object().unwrap();
    assert!(names.len() >= 10, "{names:?}");
    for (name, entry) in names {
        let read = c.read(&format!("transit/keys/{name}"));
        assert_eq!(read["type"], entry["read"]["type"], "{name}");
        assert_eq!(
            read["keys"], entry["read"]["keys"],
            "{name}: versions and public keys"
        );
        let derived = entry["read"]["derived"] == json!(true);
        for (version, made) in entry["versions"].as_object().unwrap() {
            let ctx = if derived { json!(context) } else { Value::Null };
            if let Some(ct) = made["ciphertext"].as_str() {
                let r = c.post(
                    &format!("transit/decrypt/{name}"),
                    &json!({ "ciphertext": ct, "context": ctx }),
                );
                r.expect(200);
                assert_eq!(
                    b64(r.data()["plaintext"].as_str().unwrap()),
                    expected,
                    "{name} v{version}"
                );
            }
            if let Some(sig) = made["signature"].as_str() {
                let r = c.post(
                    &format!("transit/verify/{name}"),
                    &json!({ "input": plaintext, "signature": sig }),
                );
                r.expect(200);
                assert_eq!(r.data()["valid"], json!(true), "{name} v{version}");
            }
            let mac = made["hmac"].as_str().unwrap();
            let r = c.post(
                &format!("transit/verify/{name}"),
                &json!({ "input": plaintext, "hmac": mac }),
            );
            r.expect(200);
            assert_eq!(r.data()["valid"], json!(true), "{name} v{version} hmac");
        }
        // The key still works for new data, at its latest version.
        if entry["versions"]["2"]["ciphertext"].is_string() {
            let ctx = if derived { json!(context) } else { Value::Null };
            let ct = c.post(
                &format!("transit/encrypt/{name}"),
                &json!({ "plaintext": plaintext, "context": ctx }),
            );
            ct.expect(200);
            let ct = ct.data()["ciphertext"].as_str().unwrap().to_string();
            assert!(ct.starts_with("vault:v2:"), "{ct}");
            let r = c.post(
                &format!("transit/decrypt/{name}"),
                &json!({ "ciphertext": ct, "context": ctx }),
            );
            assert_eq!(b64(r.data()["plaintext"].as_str().unwrap()), expected);
        }
    }

    // Independently: the exportable key's ciphertexts open with the key
    // the old release exported (AES-256-GCM, nonce first, tag last)...
    let exported = fixture["exported"].as_object().unwrap();
    for (version, made) in fixture["keys"]["exportable"]["versions"]
        .as_object()
        .unwrap()
    {
        let (v, blob) = vault_blob(made["ciphertext"].as_str().unwrap());
        assert_eq!(v.to_string(), *version);
        let key = b64(exported[version].as_str().unwrap());
        let cipher = aes_gcm::Aes256Gcm::new_from_slice(&key).unwrap();
        let (nonce, sealed) = blob.split_at(12);
        let opened = cipher
            .decrypt(aes_gcm::Nonce::from_slice(nonce), sealed)
            .expect("the old ciphertext opens with the exported key");
        assert_eq!(opened, expected);
    }
    // ... and this binary exports the same key.
    let now = c.read("transit/export/encryption-key/exportable");
    assert_eq!(now["keys"], json!(exported));

    // Independently: the ECDSA signatures verify with RustCrypto and the
    // public keys this binary reads back (SHA-256, ASN.1 DER: transit's
    // defaults).
    let digest = sha2::Sha256::digest(&expected);
    for (name, curve) in [("p256", 256), ("p384", 384)] {
        let entry = &fixture["keys"][name];
        for (version, made) in entry["versions"].as_object().unwrap() {
            let (v, sig) = vault_blob(made["signature"].as_str().unwrap());
            assert_eq!(v.to_string(), *version);
            let pem = c.read(&format!("transit/keys/{name}"))["keys"][version]["public_key"]
                .as_str()
                .unwrap()
                .to_string();
            use p256::ecdsa::signature::hazmat::PrehashVerifier;
            use p256::pkcs8::DecodePublicKey;
            let ok = if curve == 256 {
                let key = p256::ecdsa::VerifyingKey::from_public_key_pem(&pem).unwrap();
                let sig = p256::ecdsa::Signature::from_der(&sig).unwrap();
                key.verify_prehash(&digest, &sig).is_ok()
            } else {
                let key = p384::ecdsa::VerifyingKey::from_public_key_pem(&pem).unwrap();
                let sig = p384::ecdsa::Signature::from_der(&sig).unwrap();
                key.verify_prehash(&digest, &sig).is_ok()
            };
            assert!(
                ok,
                "{name} v{version}: signature does not verify independently"
            );
        }
    }
}

#[test]
fn kv_built_on_contract_0_1_registers_mounts_and_serves() {
    let frozen = fixtures().join("kv-0.1/coffer_engine_kv.wasm");
    let recorded = std::fs::read_to_string(fixtures().join("kv-0.1/coffer_engine_kv.wasm.sha256"))
        .expect("read the recorded sha256");
    let sha = sha256_file(&frozen);
    assert_eq!(
        sha,
        recorded.split_whitespace().next().unwrap(),
        "the frozen build changed"
    );

    let server = Server::dev();
    let c = server.client();
    std::fs::copy(&frozen, server.plugin_dir().join("kv01.wasm")).expect("copy");
    c.post(
        "sys/plugins/catalog/secret/kv01",
        &json!({ "command": "kv01.wasm", "sha256": sha }),
    )
    .expect_no_content();
    c.mount("old", "kv01");
    c.write("old/a/b", &json!({ "v": "1", "n": 2 }));
    assert_eq!(c.read("old/a/b"), json!({ "v": "1", "n": 2 }));
    assert_eq!(c.list("old/a").keys(), ["b"]);
    assert_eq!(c.list("old").keys(), ["a/"]);
    c.delete("old/a/b").expect_no_content();
    c.get("old/a/b").expect(404);
    assert_eq!(
        c.get("sys/mounts").data()["old/"]["running_sha256"],
        json!(sha)
    );
}
