//! The file audit device through the real server: one JSON line per
//! request and per response, secrets and tokens only as `hmac-sha256:`
//! digests, and requests refused when no device can write.

use serde_json::{json, Value};

use crate::harness::Server;

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("read the audit log")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn every_request_and_response_is_logged_with_secrets_hashed() {
    let server = Server::dev();
    let c = server.client();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    c.put(
        "sys/audit/file",
        &json!({ "type": "file", "options": { "file_path": log.to_str().unwrap() } }),
    )
    .expect_no_content();
    assert_eq!(c.get("sys/audit").data()["file/"]["type"], json!("file"));
    let secret = "audit-secret-value-93d1";
    c.write("secret/app", &json!({ "password": secret, "n": 7 }));
    assert_eq!(c.read("secret/app")["password"], json!(secret));
    let created = c
        .post("auth/token/create", &json!({ "policies": ["x"] }))
        .json();
    let child = created["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    // A refused request is logged too.
    c.with_token(Some("not-a-token"))
        .get("secret/app")
        .expect(403);

    let text = std::fs::read_to_string(&log).unwrap();
    for needle in [secret, super::harness::DEV_TOKEN, child.as_str()] {
        assert!(
            !text.contains(needle),
            "{needle:?} is in the audit log in clear"
        );
    }
    let entries = lines(&log);
    let hash = |input: &str| {
        c.post("sys/audit-hash/file", &json!({ "input": input }))
            .data()["hash"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let write_req = entries
        .iter()
        .find(|e| {
            e["type"] == "request"
                && e["request"]["path"] == "secret/app"
                && e["request"]["operation"] == "update"
        })
        .expect("the write's request line");
    assert_eq!(
        write_req["request"]["data"]["password"],
        json!(hash(secret))
    );
    assert_eq!(
        write_req["request"]["data"]["n"],
        json!(7),
        "numbers stay as they are"
    );
    assert_eq!(
        write_req["request"]["client_token"],
        json!(hash(super::harness::DEV_TOKEN))
    );
    assert_eq!(write_req["request"]["mount_type"], json!("kv"));
    let read_resp = entries
        .iter()
        .find(|e| {
            e["type"] == "response"
                && e["request"]["path"] == "secret/app"
                && e["request"]["operation"] == "read"
        })
        .expect("the read's response line");
    assert_eq!(
        read_resp["response"]["data"]["password"],
        json!(hash(secret))
    );
    let token_resp = entries
        .iter()
        .find(|e| e["type"] == "response" && e["request"]["path"] == "auth/token/create")
        .expect("token create's response line");
    assert_eq!(
        token_resp["response"]["auth"]["client_token"],
        json!(hash(&child))
    );
    let denied = entries
        .iter()
        .find(|e| e["type"] == "request" && e["error"] == "permission denied")
        .expect("the refused request's line");
    assert_eq!(
        denied["request"]["client_token"],
        json!(hash("not-a-token"))
    );
    // Every line is a request or a response, and requests pair with responses.
    let requests = entries.iter().filter(|e| e["type"] == "request").count();
    let responses = entries.iter().filter(|e| e["type"] == "response").count();
    assert!(entries
        .iter()
        .all(|e| e["type"] == "request" || e["type"] == "response"));
    assert!(
        requests >= 5 && responses + 1 >= requests,
        "{requests} {responses}"
    );

    // Disable: nothing more is written.
    c.delete("sys/audit/file").expect_no_content();
    let before = std::fs::read_to_string(&log).unwrap().len();
    c.read("secret/app");
    assert_eq!(std::fs::read_to_string(&log).unwrap().len(), before);
    // Bad input names the problem.
    let r = c.put("sys/audit/x", &json!({ "type": "socket", "options": {} }));
    r.expect(400);
    let r = c.put("sys/audit/x", &json!({ "type": "file", "options": {} }));
    r.expect(400);
    assert!(r.errors()[0].contains("file_path"), "{:?}", r.errors());
}

#[test]
fn requests_fail_when_no_device_can_write() {
    let server = Server::dev();
    let c = server.client();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.log");
    c.put(
        "sys/audit/good",
        &json!({ "type": "file", "options": { "file_path": good.to_str().unwrap() } }),
    )
    .expect_no_content();
    // /dev/full takes the open but fails every write (ENOSPC).
    c.put(
        "sys/audit/full",
        &json!({ "type": "file", "options": { "file_path": "/dev/full", "skip_test": "true" } }),
    )
    .expect_no_content();
    // One device still writes: requests go on.
    c.write("secret/a", &json!({ "v": 1 }));
    // Disabling the good device runs (its request line was written), but
    // its response line has no device left to go to: 500, as in Vault.
    c.delete("sys/audit/good").expect(500);
    // From now on no device can write: refused with 500 before anything
    // runs.
    let r = c.post("secret/b", &json!({ "v": 2 }));
    r.expect(500);
    c.get("secret/a").expect(500);
    c.get("sys/mounts").expect(500);
}

#[test]
fn audit_devices_come_back_after_unseal_and_never_see_a_share() {
    let server = Server::dev();
    let c = server.client();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    c.put(
        "sys/audit/raw",
        &json!({ "type": "file", "options": { "file_path": log.to_str().unwrap(), "log_raw": true } }),
    )
    .expect_no_content();
    let key = server
        .stdout
        .lines()
        .find_map(|l| {
            l.split_once("Unseal Key:")
                .map(|(_, k)| k.trim().to_string())
        })
        .expect("dev mode prints its unseal key");
    c.put("sys/seal", &json!({})).expect_no_content();
    server
        .anonymous()
        .put("sys/unseal", &json!({ "key": key }))
        .expect(200);
    // Also while unsealed: the seal's own paths are not audited.
    server
        .anonymous()
        .put("sys/unseal", &json!({ "key": key }))
        .expect(200);
    assert!(c.get("sys/audit").data()["raw/"].is_object());
    c.write("secret/after", &json!({ "v": "after-unseal-marker" }));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("after-unseal-marker"),
        "the device logs after an unseal"
    );
    assert!(
        !text.contains(&key),
        "an unseal share reached the audit log"
    );
}
