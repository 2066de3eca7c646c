//! Restarts on one redb file: mounts, secrets, catalog entries, engine
//! storage and the root token survive.

use serde_json::json;

use crate::harness::{install_engine, ConfigDir, Server, COUNTER_WASM};

#[test]
fn data_survives_a_restart() {
    let dir = ConfigDir::new("");
    let first = Server::config(&dir);
    let token = first.root_token.clone().unwrap_or_else(|| {
        panic!(
            "the first start prints `Root Token:`; stdout:\n{}",
            first.stdout
        )
    });
    assert!(!token.is_empty());
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
    let first = Server::config(&dir);
    let token = first.root_token.clone().expect("root token at first start");
    let c = first.client();
    c.mount("k", "kv");
    for i in 0..20 {
        c.write(&format!("k/s{i}"), &json!({ "i": i }));
    }
    c.delete("k/s0").expect_no_content();
    first.kill();

    let second = Server::config(&dir);
    let c = second.client().with_token(Some(&token));
    c.get("k/s0").expect(404);
    for i in 1..20 {
        assert_eq!(c.read(&format!("k/s{i}")), json!({ "i": i }));
    }
    assert_eq!(c.list("k").keys().len(), 19);
}

#[test]
#[ignore = "values are encrypted at rest only once the barrier lands (issue 5: seal, barrier, tokens and policies)"]
fn storage_file_holds_no_plaintext() {
    let dir = ConfigDir::new("");
    let server = Server::config(&dir);
    let token = server.root_token.clone().expect("root token");
    let c = server.client();
    // Key names may be stored in the clear (Vault's barrier seals values,
    // not paths); values and tokens may not.
    let marker = "plaintext-marker-4f1c2b9e";
    c.mount("sealed", "kv");
    c.write("sealed/item", &json!({ "value": marker }));
    assert_eq!(c.read("sealed/item")["value"], json!(marker));
    server.stop();
    let bytes = std::fs::read(dir.storage_file()).expect("read redb file");
    let found = bytes.windows(marker.len()).any(|w| w == marker.as_bytes());
    assert!(!found, "a secret value reached the redb file unsealed");
    let found = bytes.windows(token.len()).any(|w| w == token.as_bytes());
    assert!(!found, "the root token reached the redb file in the clear");
}
