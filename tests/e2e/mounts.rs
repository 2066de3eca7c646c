//! Mounts: `sys/mounts`, `sys/remount`, `sys/mounts/<path>/tune`, and what
//! they do to the data behind them.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{Client, Server};

#[test]
fn nested_mount_write_read_list() {
    let server = Server::dev();
    let c = server.client();
    c.mount("a/b/secrets", "kv");

    c.write("a/b/secrets/k1", &json!({"foo": "bar", "n": 1}));
    c.write("a/b/secrets/dir/k2", &json!({"x": "y"}));

    let read = c.get("a/b/secrets/k1");
    read.expect(200);
    let envelope = read.json();
    assert_eq!(envelope["data"], json!({"foo": "bar", "n": 1}));
    let request_id = envelope["request_id"]
        .as_str()
        .expect("request_id is a string");
    assert_eq!(request_id.len(), 36, "request_id is a uuid: {request_id:?}");
    assert_eq!(envelope["lease_id"], json!(""));
    assert_eq!(envelope["renewable"], json!(false));
    assert!(
        envelope["lease_duration"].is_u64(),
        "lease_duration is a number: {envelope}"
    );
    assert_eq!(envelope["wrap_info"], Value::Null);
    assert_eq!(envelope["warnings"], Value::Null);
    assert_eq!(envelope["auth"], Value::Null);
    assert_eq!(envelope["mount_type"], json!("kv"));

    assert_eq!(c.list("a/b/secrets").keys(), ["dir/", "k1"]);
    assert_eq!(c.list("a/b/secrets/").keys(), ["dir/", "k1"]);
    assert_eq!(c.list("a/b/secrets/dir").keys(), ["k2"]);
    assert_eq!(c.read("a/b/secrets/dir/k2"), json!({"x": "y"}));

    // The parents of a nested mount are no mounts.
    c.get("a/b/k1").expect(404);
    c.get("a/k1").expect(404);

    let mounts = c.get("sys/mounts").data();
    assert_eq!(mounts["a/b/secrets/"]["type"], json!("kv"), "{mounts}");
}

#[test]
fn mount_conflicts_are_400() {
    let server = Server::dev();
    let c = server.client();
    c.mount("a/b/secrets", "kv");
    // The same path, a path inside it, a path above it.
    for path in ["a/b/secrets", "a/b/secrets/c", "a/b", "secret"] {
        let r = c.post(&format!("sys/mounts/{path}"), &json!({"type": "kv"}));
        r.expect(400);
        assert!(
            !r.errors().is_empty(),
            "a 400 names the problem: {}",
            r.body
        );
    }
    // A mount needs a type.
    c.post("sys/mounts/notype", &json!({})).expect(400);
    // The host's own paths are not mountable.
    c.post("sys/mounts/sys", &json!({"type": "kv"})).expect(400);
    let mounts = c.get("sys/mounts").data();
    assert!(
        mounts.get("a/b/").is_none() && mounts.get("notype/").is_none(),
        "{mounts}"
    );
}

#[test]
fn two_kv_mounts_are_isolated() {
    let server = Server::dev();
    let c = server.client();
    c.mount("one", "kv");
    c.mount("two", "kv");
    c.write("one/shared", &json!({"v": "one"}));
    c.write("two/shared", &json!({"v": "two"}));
    c.write("one/only-one", &json!({"v": 1}));
    c.write("one/dir/deep", &json!({"v": 1}));
    c.write("secret/only-secret", &json!({"v": 0}));

    assert_eq!(c.read("one/shared"), json!({"v": "one"}));
    assert_eq!(c.read("two/shared"), json!({"v": "two"}));
    c.get("two/only-one").expect(404);
    c.get("two/dir/deep").expect(404);
    c.get("one/only-secret").expect(404);

    assert_eq!(c.list("one").keys(), ["dir/", "only-one", "shared"]);
    assert_eq!(c.list("two").keys(), ["shared"]);
    assert_eq!(c.list("secret").keys(), ["only-secret"]);
    c.list("two/dir").expect(404);

    // Deleting in one mount leaves the other's key alone.
    c.delete("two/shared").expect_no_content();
    c.get("two/shared").expect(404);
    assert_eq!(c.read("one/shared"), json!({"v": "one"}));
}

#[test]
fn unmount_removes_data() {
    let server = Server::dev();
    let c = server.client();
    c.mount("gone", "kv");
    c.write("gone/k", &json!({"a": "b"}));
    c.write("gone/dir/k", &json!({"a": "b"}));
    c.write("secret/stays", &json!({"a": "b"}));

    c.delete("sys/mounts/gone").expect_no_content();
    c.get("gone/k").expect(404);
    assert!(c.get("sys/mounts").data().get("gone/").is_none());

    // Mounting again at the same path starts empty.
    c.mount("gone", "kv");
    c.get("gone/k").expect(404);
    c.get("gone/dir/k").expect(404);
    c.list("gone").expect(404);
    // Other mounts are untouched.
    assert_eq!(c.read("secret/stays"), json!({"a": "b"}));
}

#[test]
fn remount_keeps_data() {
    let server = Server::dev();
    let c = server.client();
    c.post(
        "sys/mounts/src",
        &json!({"type": "kv", "description": "moving"}),
    )
    .expect_no_content();
    c.write("src/k", &json!({"a": "b"}));
    c.write("src/nested/k2", &json!({"c": "d"}));
    let before = c.get("sys/mounts").data()["src/"].clone();

    remount(&c, "src", "dst/moved");
    assert_eq!(c.read("dst/moved/k"), json!({"a": "b"}));
    assert_eq!(c.read("dst/moved/nested/k2"), json!({"c": "d"}));
    assert_eq!(c.list("dst/moved").keys(), ["k", "nested/"]);
    c.get("src/k").expect(404);
    let mounts = c.get("sys/mounts").data();
    assert!(mounts.get("src/").is_none(), "{mounts}");
    let after = &mounts["dst/moved/"];
    assert_eq!(after["type"], json!("kv"));
    assert_eq!(after["description"], json!("moving"));
    assert_eq!(
        after["uuid"], before["uuid"],
        "a remount keeps the mount's identity"
    );
    assert_eq!(after["accessor"], before["accessor"]);

    // The bao CLI (`bao secrets move`) sends trailing slashes.
    remount(&c, "dst/moved/", "back/");
    assert_eq!(c.read("back/k"), json!({"a": "b"}));
    c.get("dst/moved/k").expect(404);

    // A taken target and a missing source are 400s.
    c.post("sys/remount", &json!({"from": "back", "to": "secret"}))
        .expect(400);
    c.post("sys/remount", &json!({"from": "nosuch", "to": "else"}))
        .expect(400);
    assert_eq!(c.read("back/k"), json!({"a": "b"}));
}

/// `sys/remount` as Vault 1.10+/OpenBao answer it: 200 with a
/// `migration_id` (then poll `sys/remount/status/<id>`), or a plain 204.
fn remount(c: &Client, from: &str, to: &str) {
    let r = c.post("sys/remount", &json!({"from": from, "to": to}));
    match r.status {
        204 => {}
        200 => {
            let data = r.data();
            let id = data["migration_id"]
                .as_str()
                .unwrap_or_else(|| panic!("200 without data.migration_id: {}", r.body))
                .to_string();
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let status = c.get(&format!("sys/remount/status/{id}"));
                status.expect(200);
                let info = status.data()["migration_info"].clone();
                match info["status"].as_str() {
                    Some("success") => break,
                    Some("in-progress") if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    _ => panic!("remount {from} → {to} did not succeed: {}", status.body),
                }
            }
        }
        _ => panic!("remount {from} → {to}: {} {}", r.status, r.body),
    }
}

#[test]
fn tune_read_and_write() {
    let server = Server::dev();
    let c = server.client();
    c.mount("t", "kv");

    let tune = c.get("sys/mounts/t/tune");
    tune.expect(200);
    let data = tune.data();
    assert!(data["default_lease_ttl"].is_u64(), "{data}");
    assert!(data["max_lease_ttl"].is_u64(), "{data}");
    assert!(data["description"].is_string(), "{data}");

    c.post(
        "sys/mounts/t/tune",
        &json!({"description": "tuned", "options": {"foo": "bar"}}),
    )
    .expect_no_content();
    let data = c.get("sys/mounts/t/tune").data();
    assert_eq!(data["description"], json!("tuned"));
    assert_eq!(data["options"]["foo"], json!("bar"), "{data}");
    let mounts = c.get("sys/mounts").data();
    assert_eq!(mounts["t/"]["description"], json!("tuned"));
    assert_eq!(mounts["t/"]["options"]["foo"], json!("bar"));

    // What `bao secrets tune -description=d2 t` sends.
    c.post(
        "sys/mounts/t/tune",
        &json!({"options": null, "default_lease_ttl": "", "description": "d2", "max_lease_ttl": "", "force_no_cache": false}),
    )
    .expect_no_content();
    assert_eq!(
        c.get("sys/mounts/t/tune").data()["description"],
        json!("d2")
    );

    // Tuning one mount leaves the others alone.
    assert_ne!(
        c.get("sys/mounts/secret/tune").data()["description"],
        json!("d2")
    );
    // No mount, no tune (OpenBao answers 400).
    let r = c.post("sys/mounts/nosuch/tune", &json!({"description": "x"}));
    assert!(
        r.status == 400 || r.status == 404,
        "{} {}",
        r.status,
        r.body
    );
}

#[test]
fn mounts_list_shape() {
    let server = Server::dev();
    let c = server.client();
    // What `bao secrets enable -path=cli kv` sends.
    c.post(
        "sys/mounts/cli",
        &json!({"type": "kv", "description": "", "config": {"options": null, "default_lease_ttl": "0s", "max_lease_ttl": "0s", "force_no_cache": false}, "local": false, "seal_wrap": false, "external_entropy_access": false, "options": null}),
    )
    .expect_no_content();
    c.post(
        "sys/mounts/described",
        &json!({"type": "kv", "description": "mine"}),
    )
    .expect_no_content();

    let r = c.get("sys/mounts");
    r.expect(200);
    let data = r.data();
    for path in ["secret/", "cli/", "described/"] {
        let m = &data[path];
        assert_eq!(m["type"], json!("kv"), "{path}: {m}");
        assert!(m["description"].is_string(), "{path}: {m}");
        assert!(
            !m["accessor"].as_str().unwrap_or_default().is_empty(),
            "{path}: {m}"
        );
        assert!(m["config"].is_object(), "{path}: {m}");
        assert!(
            m["options"].is_object() || m["options"].is_null(),
            "{path}: {m}"
        );
        for flag in ["local", "seal_wrap", "external_entropy_access"] {
            assert!(m[flag].is_boolean(), "{path}.{flag}: {m}");
        }
        assert_eq!(
            m["uuid"].as_str().unwrap_or_default().len(),
            36,
            "{path}: {m}"
        );
        assert!(m["plugin_version"].is_string(), "{path}: {m}");
        assert!(m["running_plugin_version"].is_string(), "{path}: {m}");
    }
    assert_eq!(data["described/"]["description"], json!("mine"));
    assert_ne!(data["cli/"]["uuid"], data["secret/"]["uuid"]);
    assert_ne!(data["cli/"]["accessor"], data["secret/"]["accessor"]);
    // Every key of the map is a mount path ending in '/'.
    for key in data.as_object().expect("data is an object").keys() {
        assert!(key.ends_with('/'), "{key}");
    }
}
