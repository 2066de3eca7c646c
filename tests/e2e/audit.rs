//! The file audit device through the real server: one JSON line per
//! request and per response, secrets and tokens only as `hmac-sha256:`
//! digests, requests refused when no device can write, and a log that grows
//! by a bounded amount per request (sizes measured on the file).

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
        json!(hash("7")),
        "numbers are hashed too"
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

/// Enables a file device at `file/` and returns the log's path (in `dir`).
fn enable_file_device(c: &crate::harness::Client, dir: &tempfile::TempDir) -> std::path::PathBuf {
    let log = dir.path().join("audit.log");
    c.put(
        "sys/audit/file",
        &json!({ "type": "file", "options": { "file_path": log.to_str().unwrap() } }),
    )
    .expect_no_content();
    log
}

fn size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).expect("the audit log").len()
}

/// `{"a":[<item>,<item>,...]}` of about `bytes` bytes.
fn dense_body(item: &str, bytes: usize) -> Vec<u8> {
    let count = bytes / (item.len() + 1);
    let mut body = Vec::with_capacity(bytes + 16);
    body.extend_from_slice(b"{\"a\":[");
    for i in 0..count {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(item.as_bytes());
    }
    body.extend_from_slice(b"]}");
    body
}

#[test]
fn a_request_refused_before_authorisation_is_logged_without_its_body() {
    let server = Server::dev();
    let c = server.client();
    let dir = tempfile::tempdir().unwrap();
    let log = enable_file_device(&c, &dir);
    c.put(
        "sys/policies/acl/nothing",
        &json!({ "policy": r#"path "other/*" { capabilities = ["read"] }"# }),
    )
    .expect_no_content();
    let weak = c
        .post("auth/token/create", &json!({ "policies": ["nothing"] }))
        .json()["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    // The issue's body: ~16 MiB of empty strings (884 MB of log before).
    let big = dense_body("\"\"", 16 << 20);
    let before = size(&log);
    for token in [None, Some("not-a-token"), Some(weak.as_str())] {
        c.with_token(token)
            .raw("POST", "secret/flood", &big)
            .expect(403);
    }
    let grown = size(&log) - before;
    assert!(
        grown < 64 * 1024,
        "three refused 16 MiB requests grew the log by {grown} bytes"
    );
    let entries = lines(&log);
    let refused: Vec<&Value> = entries
        .iter()
        .filter(|e| e["request"]["path"] == "secret/flood")
        .collect();
    assert_eq!(refused.len(), 6, "a request and a response line each");
    for e in refused {
        assert_eq!(e["error"], "permission denied");
        assert!(e["request"].get("data").is_none(), "{e}");
        assert_eq!(e["request"]["operation"], "update");
    }
}

#[test]
fn an_authorised_write_grows_the_log_by_a_bounded_amount() {
    let server = Server::dev();
    let c = server.client();
    let dir = tempfile::tempdir().unwrap();
    let log = enable_file_device(&c, &dir);
    let hash = |input: &str| {
        c.post("sys/audit-hash/file", &json!({ "input": input }))
            .data()["hash"]
            .as_str()
            .unwrap()
            .to_string()
    };

    // Below the cap: N body bytes with L hashed leaves add at most
    // 2·(N + 77·L) + 8 KiB (request and response line each carry the
    // request's data, hashed; k = 2 per byte plus 154 per leaf, c = 8 KiB).
    let fields: serde_json::Map<String, Value> = (0..200)
        .map(|i| (format!("field{i}"), json!(format!("value-{i}"))))
        .collect();
    let body = Value::Object(fields).to_string();
    let (n, leaves) = (body.len() as u64, 200u64);
    let before = size(&log);
    c.raw("POST", "secret/many", body.as_bytes()).expect(204);
    let grown = size(&log) - before;
    assert!(
        grown <= 2 * (n + 77 * leaves) + 8 * 1024,
        "{grown} bytes for a {n}-byte body"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("value-17"));
    assert!(text.contains(&hash("value-17")));

    // Over the cap: 2 MiB of one-byte numbers (a million leaves, 80 MiB
    // once hashed) adds at most 2·(1 MiB + 64) + 8 KiB whatever N is
    // (k = 0, c = 2 MiB + 8 KiB): each line's data is replaced by its size.
    let dense = dense_body("0", 2 << 20);
    let before = size(&log);
    c.raw("POST", "secret/dense", &dense).expect(204);
    let grown = size(&log) - before;
    assert!(
        grown <= 2 * ((1 << 20) + 64) + 8 * 1024,
        "{grown} bytes for a {}-byte body",
        dense.len()
    );
    let entries = lines(&log);
    let marker = json!({ "coffer_audit_truncated": format!("{} bytes", dense.len()) });
    let dense_lines: Vec<&Value> = entries
        .iter()
        .filter(|e| e["request"]["path"] == "secret/dense")
        .collect();
    assert_eq!(dense_lines.len(), 2);
    for e in dense_lines {
        assert_eq!(e["request"]["data"], marker);
    }
}

#[test]
fn no_request_value_reaches_the_log_in_clear() {
    let server = Server::dev();
    let c = server.client();
    let dir = tempfile::tempdir().unwrap();
    let log = enable_file_device(&c, &dir);
    let secret = "987654321";
    // A numeric secret, written and read back.
    c.write("secret/pin", &json!({ "pin": 987654321, "ok": true }));
    assert_eq!(c.read("secret/pin")["pin"], json!(987654321));
    // Errors that quote what was sent.
    c.mount("transit", "transit");
    c.post("transit/keys/k", &json!({})).expect(200);
    let refused = [
        c.post(
            "transit/encrypt/k",
            &json!({ "plaintext": "aGVsbG8=", "key_version": 987654321 }),
        ),
        c.post("auth/token/create", &json!({ "ttl": "987654321zz" })),
        c.post(
            "auth/token/create",
            &json!({ "meta": { "team": 987654321 } }),
        ),
        c.post(
            "transit/hash",
            &json!({ "input": "aGVsbG8=", "algorithm": "sha987654321" }),
        ),
    ];
    for r in &refused {
        assert!(r.status >= 400, "{}: {}", r.status, r.body);
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !text.contains(secret),
        "{secret} is in the audit log in clear"
    );
    // It is there, hashed: the pin as a value, the errors whole.
    let hashed = c
        .post("sys/audit-hash/file", &json!({ "input": secret }))
        .data()["hash"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(text.contains(&hashed));
    let errors: Vec<String> = lines(&log)
        .iter()
        .filter(|e| e["type"] == "response")
        .filter_map(|e| e["error"].as_str().map(str::to_string))
        .collect();
    assert!(errors.len() >= refused.len(), "{errors:?}");
    assert!(
        errors.iter().all(|e| e.starts_with("hmac-sha256:")),
        "{errors:?}"
    );
}
