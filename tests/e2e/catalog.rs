//! The plugin catalog: registering engine components from the plugin
//! directory, reading, listing, deleting them, and mounting them.

use serde_json::json;

use crate::harness::{install_engine, sha256_file, wasm_dir, Server, COUNTER_WASM, MISBEHAVE_WASM};

#[test]
fn catalog_register_read_list_delete_mount() {
    let server = Server::dev();
    let c = server.client();
    let sha = install_engine(&c, &server.plugin_dir(), COUNTER_WASM, "counter");

    let r = c.get("sys/plugins/catalog/secret/counter");
    r.expect(200);
    let data = r.data();
    assert_eq!(data["name"], json!("counter"));
    assert_eq!(data["command"], json!(COUNTER_WASM));
    assert_eq!(data["sha256"], json!(sha));
    assert_eq!(data["builtin"], json!(false));
    assert_eq!(data["args"], json!([]));
    assert_eq!(data["version"], json!(""));

    let keys = c.list("sys/plugins/catalog/secret").keys();
    assert!(keys.contains(&"counter".to_string()), "{keys:?}");
    let listed = c.get("sys/plugins/catalog/secret?list=true").keys();
    assert_eq!(listed, keys);
    let all = c.get("sys/plugins/catalog").data();
    let secret = all["secret"]
        .as_array()
        .unwrap_or_else(|| panic!("data.secret: {all}"));
    assert!(secret.contains(&json!("counter")), "{all}");

    // Mount it and use it.
    c.mount("cnt", "counter");
    let r = c.post("cnt/counter/x", &json!({}));
    r.expect(200);
    assert_eq!(r.data()["value"], json!(1));
    assert_eq!(c.read("cnt/counter/x")["value"], json!(1));
    assert_eq!(c.get("sys/mounts").data()["cnt/"]["type"], json!("counter"));

    // What `bao plugin register -sha256=.. -command=.. secret counter2`
    // sends: PUT, with a numeric `type`.
    c.put(
        "sys/plugins/catalog/secret/counter2",
        &json!({"type": 3, "command": COUNTER_WASM, "sha256": sha}),
    )
    .expect_no_content();
    assert_eq!(
        c.read("sys/plugins/catalog/secret/counter2")["command"],
        json!(COUNTER_WASM)
    );

    // Delete: gone from read and list; no new mounts of that type.
    c.delete("sys/plugins/catalog/secret/counter")
        .expect_no_content();
    c.get("sys/plugins/catalog/secret/counter").expect(404);
    let keys = c.list("sys/plugins/catalog/secret").keys();
    assert!(!keys.contains(&"counter".to_string()), "{keys:?}");
    assert!(keys.contains(&"counter2".to_string()), "{keys:?}");
    c.post("sys/mounts/cnt2", &json!({"type": "counter"}))
        .expect(400);
}

#[test]
fn catalog_rejects_wrong_sha256() {
    let server = Server::dev();
    let c = server.client();
    std::fs::copy(
        wasm_dir().join(COUNTER_WASM),
        server.plugin_dir().join(COUNTER_WASM),
    )
    .unwrap();
    let mut sha = sha256_file(&server.plugin_dir().join(COUNTER_WASM)).into_bytes();
    // Flip the last hex digit.
    let last = sha.len() - 1;
    sha[last] = if sha[last] == b'0' { b'1' } else { b'0' };
    let wrong = String::from_utf8(sha).unwrap();

    let r = c.post(
        "sys/plugins/catalog/secret/counter",
        &json!({"command": COUNTER_WASM, "sha256": wrong}),
    );
    r.expect(400);
    assert!(!r.errors().is_empty());
    c.get("sys/plugins/catalog/secret/counter").expect(404);
    c.post("sys/mounts/cnt", &json!({"type": "counter"}))
        .expect(400);

    // Not hex / not 32 bytes.
    for bad in ["zz", "00", ""] {
        c.post(
            "sys/plugins/catalog/secret/counter",
            &json!({"command": COUNTER_WASM, "sha256": bad}),
        )
        .expect(400);
    }
}

#[test]
fn catalog_rejects_missing_file() {
    let server = Server::dev();
    let c = server.client();
    let sha = sha256_file(&wasm_dir().join(COUNTER_WASM));
    let r = c.post(
        "sys/plugins/catalog/secret/counter",
        &json!({"command": "not-there.wasm", "sha256": sha}),
    );
    r.expect(400);
    assert!(!r.errors().is_empty());
    c.get("sys/plugins/catalog/secret/counter").expect(404);
}

#[test]
fn catalog_command_stays_inside_plugin_directory() {
    let server = Server::dev();
    let c = server.client();
    // A valid component right beside the plugin directory.
    let outside = server.plugin_dir().parent().unwrap().join(COUNTER_WASM);
    std::fs::copy(wasm_dir().join(COUNTER_WASM), &outside).unwrap();
    let sha = sha256_file(&outside);
    for command in [format!("../{COUNTER_WASM}"), outside.display().to_string()] {
        let r = c.post(
            "sys/plugins/catalog/secret/escape",
            &json!({"command": command, "sha256": sha}),
        );
        r.expect(400);
    }
    c.get("sys/plugins/catalog/secret/escape").expect(404);
}

#[test]
fn mount_of_unknown_type_is_400() {
    let server = Server::dev();
    let c = server.client();
    let r = c.post("sys/mounts/x", &json!({"type": "nosuch-engine"}));
    r.expect(400);
    assert!(!r.errors().is_empty());
    assert!(c.get("sys/mounts").data().get("x/").is_none());
    c.get("x/foo").expect(404);
}

#[test]
fn catalog_engine_that_is_not_a_component_fails_at_registration_or_mount() {
    let server = Server::dev();
    let c = server.client();
    let path = server.plugin_dir().join("junk.wasm");
    std::fs::write(&path, b"\0asm this is not a component").unwrap();
    let sha = sha256_file(&path);
    let r = c.post(
        "sys/plugins/catalog/secret/junk",
        &json!({"command": "junk.wasm", "sha256": sha}),
    );
    if r.status == 204 {
        let m = c.post("sys/mounts/junk", &json!({"type": "junk"}));
        assert_eq!(m.status, 400, "mounting a non-component: {}", m.body);
    } else {
        assert_eq!(r.status, 400, "registering a non-component: {}", r.body);
    }
    // The server is fine.
    c.write("secret/after", &json!({"ok": true}));
    assert_eq!(c.read("secret/after"), json!({"ok": true}));
    // And a real engine still registers next to it.
    install_engine(&c, &server.plugin_dir(), MISBEHAVE_WASM, "misbehave");
    c.mount("mb", "misbehave");
    assert_eq!(c.read("mb/ok"), json!({"ok": true}));
}

/// The kv engine, built with the SDK like any third party's, registered from
/// the plugin directory under a name of its own and mounted twice: it works
/// as the built-in does, and its two mounts are isolated.
#[test]
fn kv_registered_as_a_third_party_plugin_works() {
    let server = Server::dev();
    let c = server.client();
    install_engine(&c, &server.plugin_dir(), "coffer_engine_kv.wasm", "my-kv");
    assert_eq!(
        c.get("sys/plugins/catalog/secret/my-kv").data()["builtin"],
        json!(false)
    );
    c.mount("team/a/secrets", "my-kv");
    c.mount("team/b/secrets", "my-kv");
    c.write("team/a/secrets/db/password", &json!({"value": "s3cret"}));
    c.write("team/a/secrets/db/user", &json!({"value": "app"}));
    assert_eq!(
        c.read("team/a/secrets/db/password")["value"],
        json!("s3cret")
    );
    assert_eq!(c.list("team/a/secrets/db").keys(), vec!["password", "user"]);
    assert_eq!(c.list("team/a/secrets").keys(), vec!["db/"]);
    c.get("team/b/secrets/db/password").expect(404);
    c.list("team/b/secrets").expect(404);
    let mounts = c.get("sys/mounts").data();
    assert_eq!(mounts["team/a/secrets/"]["type"], json!("my-kv"));
}
