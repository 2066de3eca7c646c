//! Restarts on one redb file: the server comes back sealed; once unsealed,
//! mounts, secrets, catalog entries, engine storage and the root token are
//! all there. The file itself holds no secret in the clear.

use serde_json::json;

use crate::harness::{install_engine, ConfigDir, Server, COUNTER_WASM};

#[test]
fn data_survives_a_restart() {
    let dir = ConfigDir::new("");
    let mut first = Server::config(&dir);
    // Not initialised yet: everything but the seal's paths is 503.
    first.anonymous().get("secret/x").expect(503);
    let keys = first.init(3, 2);
    let token = keys.root_token.clone();
    // Initialised but sealed.
    first.client().get("sys/mounts").expect(503);
    first.unseal(&keys.keys[1..]);
    let c = first.client();
    c.mount("p/nested", "kv");
    c.post("sys/mounts/p/nested/tune", &json!({"description": "kept"}))
        .expect_no_content();
    c.write("p/nested/k", &json!({"a": "b"}));
    c.write("p/nested/dir/k2", &json!({"c": 1}));
    install_engine(&c, &dir.plugin_dir(), COUNTER_WASM, "counter");
    c.mount("cnt", "counter");
    assert_eq!(
        c.post("cnt/counter/x", &json!({})).data()["value"],
        json!(1)
    );
    let uuid_before = c.get("sys/mounts").data()["p/nested/"]["uuid"].clone();
    first.stop();

    let second = Server::config(&dir);
    assert_eq!(
        second.root_token, None,
        "a restart on existing storage prints no new root token; stdout:\n{}",
        second.stdout
    );
    let c = second.client().with_token(Some(&token));
    // Restarted sealed: the token is useless until unsealed.
    c.get("p/nested/k").expect(503);
    let status = second.anonymous().get("sys/seal-status");
    assert_eq!(status.json()["sealed"], json!(true));
    assert_eq!(status.json()["t"], json!(2));
    assert_eq!(status.json()["n"], json!(3));
    // A wrong share (right length) completes the threshold but does not
    // unseal; progress starts over and good shares still work.
    let first_share = &keys.keys[0];
    second
        .anonymous()
        .put("sys/unseal", &json!({ "key": first_share }))
        .expect(200);
    let mut wrong = hex::decode(&keys.keys[2]).expect("hex share");
    wrong[0] ^= 0x55;
    let r = second
        .anonymous()
        .put("sys/unseal", &json!({ "key": hex::encode(&wrong) }));
    r.expect(400);
    let status = second.anonymous().get("sys/seal-status").json();
    assert_eq!(status["sealed"], json!(true));
    assert_eq!(status["progress"], json!(0));
    second.unseal(&[keys.keys[2].clone(), keys.keys[0].clone()]);
    assert_eq!(c.read("p/nested/k"), json!({"a": "b"}));
    assert_eq!(c.read("p/nested/dir/k2"), json!({"c": 1}));
    assert_eq!(c.list("p/nested").keys(), ["dir/", "k"]);
    let mounts = c.get("sys/mounts").data();
    assert_eq!(mounts["p/nested/"]["uuid"], uuid_before);
    assert_eq!(mounts["p/nested/"]["description"], json!("kept"));
    assert_eq!(mounts["cnt/"]["type"], json!("counter"));
    assert_eq!(
        c.read("sys/plugins/catalog/secret/counter")["command"],
        json!(COUNTER_WASM)
    );
    // The engine's own storage survived too.
    assert_eq!(
        c.post("cnt/counter/x", &json!({})).data()["value"],
        json!(2)
    );
    let me = c.read("auth/token/lookup-self");
    assert_eq!(me["policies"], json!(["root"]));
    // A wrong token is still refused.
    second
        .anonymous()
        .with_token(Some("wrong"))
        .get("p/nested/k")
        .expect(403);
}

#[test]
fn acknowledged_writes_survive_a_kill() {
    let dir = ConfigDir::new("");
    let (first, keys) = Server::config_ready(&dir);
    let token = keys.root_token.clone();
    let c = first.client();
    c.mount("k", "kv");
    for i in 0..20 {
        c.write(&format!("k/s{i}"), &json!({ "i": i }));
    }
    c.delete("k/s0").expect_no_content();
    first.kill();

    let second = Server::config(&dir);
    second.unseal(&keys.keys);
    let c = second.client().with_token(Some(&token));
    c.get("k/s0").expect(404);
    for i in 1..20 {
        assert_eq!(c.read(&format!("k/s{i}")), json!({ "i": i }));
    }
    assert_eq!(c.list("k").keys().len(), 19);
}

#[test]
fn storage_file_holds_no_plaintext() {
    let dir = ConfigDir::new("");
    let (server, keys) = Server::config_ready(&dir);
    let token = keys.root_token.clone();
    let c = server.client();
    // Key names may be stored in the clear (Vault's barrier seals values,
    // not paths); values, key material and tokens may not.
    let marker = "plaintext-marker-4f1c2b9e";
    c.mount("sealed", "kv");
    c.write("sealed/item", &json!({ "value": marker }));
    assert_eq!(c.read("sealed/item")["value"], json!(marker));
    // Transit key material, read back through export.
    c.mount("transit", "transit");
    c.post("transit/keys/k", &json!({ "exportable": true }))
        .expect(200);
    let exported = c.read("transit/export/encryption-key/k");
    let material = exported["keys"]["1"].as_str().expect("key").to_string();
    let material_raw = base64_decode(&material);
    // A child token and a policy.
    let child = c
        .post("auth/token/create", &json!({ "policies": ["p"] }))
        .json()["auth"]["client_token"]
        .as_str()
        .expect("token")
        .to_string();
    let policy_marker = "policy-marker-77aa";
    c.put(
        "sys/policies/acl/p",
        &json!({ "policy": format!("path \"{policy_marker}/*\" {{ capabilities = [\"read\"] }}") }),
    )
    .expect_no_content();
    server.stop();
    let bytes = std::fs::read(dir.storage_file()).expect("read redb file");
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(
        !contains(marker.as_bytes()),
        "a secret value reached the redb file unsealed"
    );
    assert!(
        !contains(token.as_bytes()),
        "the root token reached the file"
    );
    assert!(
        !contains(child.as_bytes()),
        "a child token reached the file"
    );
    assert!(
        !contains(material.as_bytes()),
        "transit key (base64) reached the file"
    );
    assert!(
        !contains(&material_raw),
        "transit key bytes reached the file"
    );
    assert!(
        !contains(policy_marker.as_bytes()),
        "a policy reached the file"
    );
    for key in &keys.keys {
        let raw = hex::decode(key).expect("hex");
        assert!(!contains(&raw), "an unseal key share reached the file");
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("base64")
}
