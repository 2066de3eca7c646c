//! The broker end to end over real files: hashing checked against an HMAC
//! computed here, raw logging, accessors, failing closed, and the stored
//! table's round trip.

#![allow(clippy::unwrap_used)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use uuid::Uuid;

use super::*;

/// The test's own HMAC: `hmac-sha256:` + hex, with the key read back from
/// the stored record.
fn expected(key: &[u8], text: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    mac.update(text.as_bytes());
    format!("hmac-sha256:{}", hex::encode(mac.finalize().into_bytes()))
}

/// A broker whose persisted table is kept in a cell, as storage would.
struct Harness {
    broker: Broker,
    stored: RefCell<Option<Vec<u8>>>,
    dir: tempfile::TempDir,
}

impl Harness {
    fn new() -> Self {
        Harness {
            broker: Broker::new(),
            stored: RefCell::new(None),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn file(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }

    fn enable(&self, path: &str, options: &[(&str, &str)]) -> Result<(), AuditError> {
        let request = EnableRequest {
            path: path.into(),
            kind: "file".into(),
            description: format!("device {path}"),
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            local: false,
        };
        self.broker.enable(request, |bytes| {
            *self.stored.borrow_mut() = Some(bytes.to_vec());
            Ok(())
        })
    }

    fn enable_file(&self, path: &str, extra: &[(&str, &str)]) -> String {
        let file = self.file(&format!("{path}.log"));
        let mut options = vec![("file_path", file.as_str())];
        options.extend_from_slice(extra);
        self.enable(path, &options).unwrap();
        file
    }

    /// The key of the device at `path`, from the persisted record.
    fn key(&self, path: &str) -> Vec<u8> {
        let stored = self.stored.borrow();
        let table: Value = serde_json::from_slice(stored.as_ref().unwrap()).unwrap();
        let device = table["devices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["path"] == path)
            .unwrap();
        let key = base64::engine::general_purpose::STANDARD
            .decode(device["hmac_key"].as_str().unwrap())
            .unwrap();
        assert_eq!(key.len(), 32);
        key
    }
}

/// The lines of a log file after the test line written at enable time.
fn lines(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.ends_with('\n'), "lines are whole");
    let all: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(all[0]["request"]["path"], "sys/audit/test");
    all[1..].to_vec()
}

fn secret_data() -> Map<String, Value> {
    json!({
        "password": "hunter2",
        "count": 3,
        "ratio": 0.5,
        "flag": false,
        "none": null,
        "when": "2024-05-01T10:00:00Z",
        "nested": {"list": ["alpha", 7, {"deep": "omega"}], "inner": {"k": "v"}},
    })
    .as_object()
    .unwrap()
    .clone()
}

fn token_auth<'a>(policies: &'a [String]) -> AuthInfo<'a> {
    AuthInfo {
        client_token: Some("s.requesttoken"),
        accessor: Some("requestaccessor"),
        display_name: "token",
        policies,
        token_policies: policies,
        token_type: "service",
        ..AuthInfo::default()
    }
}

#[test]
fn request_lines_hash_every_secret_with_the_devices_key() {
    let h = Harness::new();
    let file = h.enable_file("one", &[]);
    let key = h.key("one/");
    let data = secret_data();
    let policies = vec!["root".to_string()];
    let auth = token_auth(&policies);
    let mut entry = RequestEntry::new(Uuid::new_v4(), Operation::Update, "secret/foo");
    entry.mount_point = "secret/";
    entry.mount_type = "kv";
    entry.client_token = Some("s.requesttoken");
    entry.client_token_accessor = Some("requestaccessor");
    entry.remote_address = Some("127.0.0.1");
    entry.remote_port = Some(4242);
    entry.data = Some(Payload::Object(&data));
    entry.auth = Some(&auth);
    h.broker.log_request(&entry).unwrap();

    let got = lines(&file);
    assert_eq!(got.len(), 1);
    let line = &got[0];
    let k = |t: &str| expected(&key, t);
    assert_eq!(line["type"], "request");
    assert_eq!(
        line["auth"],
        json!({
            "client_token": k("s.requesttoken"),
            "accessor": k("requestaccessor"),
            "display_name": "token",
            "policies": ["root"],
            "token_policies": ["root"],
            "token_type": "service",
        })
    );
    assert_eq!(
        line["request"],
        json!({
            "id": entry.id.to_string(),
            "operation": "update",
            "mount_point": "secret/",
            "mount_type": "kv",
            "client_token": k("s.requesttoken"),
            "client_token_accessor": k("requestaccessor"),
            "namespace": {"id": "root"},
            "path": "secret/foo",
            "data": {
                "password": k("hunter2"),
                "count": k("3"),
                "ratio": k("0.5"),
                "flag": k("false"),
                "none": null,
                "when": "2024-05-01T10:00:00Z",
                "nested": {"list": [k("alpha"), k("7"), {"deep": k("omega")}], "inner": {"k": k("v")}},
            },
            "remote_address": "127.0.0.1",
            "remote_port": 4242,
        })
    );
    assert!(line.get("error").is_none());
    let time = line["time"].as_str().unwrap();
    assert!(hash::is_rfc3339(time), "{time}");
    let text = std::fs::read_to_string(&file).unwrap();
    for secret in [
        "hunter2",
        "alpha",
        "omega",
        "s.requesttoken",
        "requestaccessor",
    ] {
        assert!(!text.contains(secret), "{secret} leaked");
    }
    // sys/audit-hash answers with the same key.
    assert_eq!(h.broker.hash("one", "hunter2").unwrap(), k("hunter2"));
    assert_eq!(h.broker.hash("/one/", "hunter2").unwrap(), k("hunter2"));
}

#[test]
fn response_lines_hash_data_new_tokens_and_errors() {
    let h = Harness::new();
    let file = h.enable_file("one", &[]);
    let key = h.key("one/");
    let body = r#"{"policies":["default"],"meta":{"team":"blue"}}"#;
    let mut entry = RequestEntry::new(Uuid::new_v4(), Operation::Update, "auth/token/create");
    entry.mount_type = "token";
    entry.client_token = Some("s.caller");
    entry.data = Some(Payload::Text(body));
    let new_policies = vec!["default".to_string()];
    let metadata: BTreeMap<String, String> = [("team".to_string(), "blue".to_string())].into();
    let new_token = AuthInfo {
        client_token: Some("s.newtoken"),
        accessor: Some("newaccessor"),
        display_name: "token",
        policies: &new_policies,
        token_policies: &new_policies,
        metadata: Some(&metadata),
        token_type: "service",
        token_ttl: 3600,
        ..AuthInfo::default()
    };
    let reply = json!({"keys": ["a", "b"], "n": 1});
    let warnings = vec!["careful".to_string()];
    let response = ResponseEntry {
        data: Some(Payload::Value(&reply)),
        auth: Some(&new_token),
        warnings: &warnings,
        error: Some("1 error occurred: boom"),
    };
    h.broker
        .log_response(&entry, &Logged::default(), &response)
        .unwrap();

    let got = lines(&file);
    let line = &got[0];
    let k = |t: &str| expected(&key, t);
    assert_eq!(line["type"], "response");
    assert_eq!(line["error"], k("1 error occurred: boom"));
    assert_eq!(line["auth"], json!({"token_type": "default"}));
    assert_eq!(
        line["request"]["data"],
        json!({"policies": [k("default")], "meta": {"team": k("blue")}})
    );
    assert_eq!(
        line["response"],
        json!({
            "auth": {
                "client_token": k("s.newtoken"),
                "accessor": k("newaccessor"),
                "display_name": "token",
                "policies": ["default"],
                "token_policies": ["default"],
                "metadata": {"team": "blue"},
                "token_type": "service",
                "token_ttl": 3600,
            },
            "mount_type": "token",
            "data": {"keys": [k("a"), k("b")], "n": k("1")},
            "warnings": ["careful"],
        })
    );
}

#[test]
fn log_raw_writes_everything_in_clear() {
    let h = Harness::new();
    let file = h.enable_file("raw", &[("log_raw", "true")]);
    let data = secret_data();
    let mut entry = RequestEntry::new(Uuid::new_v4(), Operation::Update, "secret/foo");
    entry.client_token = Some("s.requesttoken");
    entry.client_token_accessor = Some("requestaccessor");
    entry.data = Some(Payload::Object(&data));
    let reply = Value::Object(secret_data());
    let response = ResponseEntry {
        data: Some(Payload::Value(&reply)),
        ..ResponseEntry::default()
    };
    let logged = h.broker.log_request(&entry).unwrap();
    let failed = ResponseEntry {
        error: Some("invalid ttl \"987654321zz\""),
        ..ResponseEntry::default()
    };
    h.broker.log_response(&entry, &logged, &response).unwrap();
    h.broker.log_response(&entry, &logged, &failed).unwrap();
    let got = lines(&file);
    assert_eq!(got[0]["request"]["data"], reply);
    assert_eq!(got[2]["error"], "invalid ttl \"987654321zz\"");
    assert_eq!(got[0]["request"]["client_token"], "s.requesttoken");
    assert_eq!(
        got[0]["request"]["client_token_accessor"],
        "requestaccessor"
    );
    assert_eq!(got[1]["response"]["data"], reply);
}

#[test]
fn hmac_accessor_false_keeps_accessors_in_clear_and_hashes_tokens() {
    let h = Harness::new();
    let file = h.enable_file("acc", &[("hmac_accessor", "false")]);
    let key = h.key("acc/");
    let policies = vec!["root".to_string()];
    let auth = token_auth(&policies);
    let mut entry = RequestEntry::new(Uuid::new_v4(), Operation::Read, "secret/foo");
    entry.client_token = Some("s.requesttoken");
    entry.client_token_accessor = Some("requestaccessor");
    entry.auth = Some(&auth);
    h.broker.log_request(&entry).unwrap();
    let got = lines(&file);
    let line = &got[0];
    assert_eq!(line["request"]["client_token_accessor"], "requestaccessor");
    assert_eq!(line["auth"]["accessor"], "requestaccessor");
    assert_eq!(
        line["request"]["client_token"],
        expected(&key, "s.requesttoken")
    );
    assert_eq!(
        line["auth"]["client_token"],
        expected(&key, "s.requesttoken")
    );
}

#[test]
fn each_device_has_its_own_key() {
    let h = Harness::new();
    let one = h.enable_file("one", &[]);
    let two = h.enable_file("two", &[("prefix", "AUDIT ")]);
    let (k1, k2) = (h.key("one/"), h.key("two/"));
    assert_ne!(k1, k2);
    let mut entry = RequestEntry::new(Uuid::new_v4(), Operation::Read, "secret/foo");
    entry.client_token = Some("tok");
    h.broker.log_request(&entry).unwrap();
    assert_eq!(
        lines(&one)[0]["request"]["client_token"],
        expected(&k1, "tok")
    );
    let text = std::fs::read_to_string(&two).unwrap();
    let last = text.lines().last().unwrap();
    let json = last.strip_prefix("AUDIT ").unwrap();
    let v: Value = serde_json::from_str(json).unwrap();
    assert_eq!(v["request"]["client_token"], expected(&k2, "tok"));
}

#[cfg(target_os = "linux")]
#[test]
fn a_request_fails_when_no_device_can_write_and_succeeds_when_one_can() {
    let h = Harness::new();
    // Vault's test line already fails on a full disk.
    let e = h.enable("full", &[("file_path", "/dev/full")]).unwrap_err();
    assert!(
        matches!(&e, AuditError::BadRequest(m) if m.starts_with("audit backend failed test message")),
        "{e:?}"
    );
    assert!(!h.broker.is_enabled());
    h.enable("full", &[("file_path", "/dev/full"), ("skip_test", "true")])
        .unwrap();
    assert!(h.broker.is_enabled());

    let entry = RequestEntry::new(Uuid::new_v4(), Operation::Read, "secret/foo");
    let e = h.broker.log_request(&entry).unwrap_err();
    assert!(
        matches!(&e, AuditError::NotLogged(m) if m.contains("full/")),
        "{e:?}"
    );
    let e = h
        .broker
        .log_response(&entry, &Logged::default(), &ResponseEntry::default())
        .unwrap_err();
    assert!(matches!(e, AuditError::NotLogged(_)));
    assert_eq!(
        crate::api::ApiError::from(e),
        crate::api::ApiError::Internal("internal error".into())
    );

    let good = h.enable_file("good", &[]);
    let logged = h.broker.log_request(&entry).unwrap();
    h.broker
        .log_response(&entry, &logged, &ResponseEntry::default())
        .unwrap();
    let got = lines(&good);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0]["type"], "request");
    assert_eq!(got[1]["type"], "response");
}

#[test]
fn no_device_means_nothing_to_do() {
    let broker = Broker::new();
    assert!(!broker.is_enabled());
    let entry = RequestEntry::new(Uuid::nil(), Operation::Read, "x");
    let logged = broker.log_request(&entry).unwrap();
    broker
        .log_response(&entry, &logged, &ResponseEntry::default())
        .unwrap();
    assert!(broker.list().is_empty());
}

#[test]
fn enabling_checks_type_options_and_path() {
    let h = Harness::new();
    let file = h.file("a.log");
    let bad = |e: Result<(), AuditError>| match e {
        Err(AuditError::BadRequest(m)) => m,
        other => unreachable!("{other:?}"),
    };
    let mut request = EnableRequest {
        path: "x".into(),
        kind: "syslog".into(),
        description: String::new(),
        options: [("file_path".to_string(), file.clone())].into(),
        local: false,
    };
    assert_eq!(
        bad(h.broker.enable(request.clone(), |_| Ok(()))),
        "unknown backend type: \"syslog\""
    );
    request.kind = "file".into();
    request.path = "/".into();
    assert_eq!(
        bad(h.broker.enable(request.clone(), |_| Ok(()))),
        "backend path must be specified"
    );
    assert_eq!(bad(h.enable("x", &[])), "file_path is required");
    let e = bad(h.enable("x", &[("file_path", "/proc/nope/a.log")]));
    assert!(e.contains("/proc/nope/a.log"), "{e}");

    h.enable("file1", &[("file_path", &file)]).unwrap();
    for clash in ["file1", "file1/", "file1/sub", "file"] {
        let got = h.enable(clash, &[("file_path", &file)]);
        if clash == "file" {
            // "file/" is not a prefix of "file1/", nor the other way.
            got.unwrap();
        } else {
            assert_eq!(bad(got), "path already in use", "{clash}");
        }
    }
    let listed: Vec<String> = h.broker.list().into_iter().map(|d| d.path).collect();
    assert_eq!(listed, ["file/", "file1/"]);
}

#[test]
fn a_failed_persist_changes_nothing() {
    let h = Harness::new();
    let file = h.file("a.log");
    let request = EnableRequest {
        path: "a".into(),
        kind: "file".into(),
        description: String::new(),
        options: [("file_path".to_string(), file)].into(),
        local: false,
    };
    let e = h
        .broker
        .enable(request, |_| Err("disk on fire".into()))
        .unwrap_err();
    assert_eq!(
        e,
        AuditError::Internal("failed to update audit table: disk on fire".into())
    );
    assert!(!h.broker.is_enabled());
    assert!(h.broker.list().is_empty());

    h.enable_file("b", &[]);
    let e = h
        .broker
        .disable("b", |_| Err("disk on fire".into()))
        .unwrap_err();
    assert!(matches!(e, AuditError::Internal(_)));
    assert_eq!(h.broker.list().len(), 1);
}

#[test]
fn disabling_persists_and_stops_logging() {
    let h = Harness::new();
    let file = h.enable_file("one", &[]);
    assert!(!h.broker.disable("other", |_| unreachable!()).unwrap());
    assert!(h
        .broker
        .disable("one/", |bytes| {
            *h.stored.borrow_mut() = Some(bytes.to_vec());
            Ok(())
        })
        .unwrap());
    assert!(!h.broker.is_enabled());
    let stored: Value = serde_json::from_slice(h.stored.borrow().as_ref().unwrap()).unwrap();
    assert_eq!(stored, json!({"version": 1, "devices": []}));
    let before = std::fs::read_to_string(&file).unwrap();
    let entry = RequestEntry::new(Uuid::nil(), Operation::Read, "x");
    h.broker.log_request(&entry).unwrap();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);
    assert_eq!(
        h.broker.hash("one", "x").unwrap_err(),
        AuditError::BadRequest("unknown audit backend \"one/\"".into())
    );
}

#[test]
fn the_stored_table_round_trips_through_load() {
    let h = Harness::new();
    let one = h.enable_file("one", &[("hmac_accessor", "0")]);
    h.enable_file("two", &[("log_raw", "1")]);
    let stored = h.stored.borrow().clone().unwrap();
    let key = h.key("one/");

    let restored = Broker::new();
    restored.load(&stored).unwrap();
    assert!(restored.is_enabled());
    assert_eq!(restored.list(), h.broker.list());
    assert_eq!(
        restored.hash("one", "x").unwrap(),
        h.broker.hash("one", "x").unwrap()
    );
    assert_eq!(restored.hash("one", "x").unwrap(), expected(&key, "x"));
    let listed = &restored.list()[0];
    assert_eq!(listed.description, "device one");
    assert_eq!(listed.options.get("hmac_accessor").unwrap(), "0");

    // The restored device appends to the same file with the same key.
    let mut entry = RequestEntry::new(Uuid::new_v4(), Operation::Read, "secret/foo");
    entry.client_token = Some("tok");
    entry.client_token_accessor = Some("acc");
    restored.log_request(&entry).unwrap();
    let got = lines(&one);
    assert_eq!(got[0]["request"]["client_token"], expected(&key, "tok"));
    assert_eq!(got[0]["request"]["client_token_accessor"], "acc");

    // Sealing forgets everything; unsealing brings it back.
    restored.clear();
    assert!(!restored.is_enabled());
    assert!(restored.list().is_empty());
    restored.log_request(&entry).unwrap();
    restored.load(&stored).unwrap();
    assert_eq!(restored.list().len(), 2);
}

#[test]
fn a_table_whose_devices_cannot_open_loads_but_fails_closed() {
    let h = Harness::new();
    let file = h.enable_file("one", &[]);
    let stored = h.stored.borrow().clone().unwrap();
    // The file's folder becomes a file: the device cannot reopen it.
    let dir = Path::new(&file).parent().unwrap().join("gone");
    std::fs::write(&dir, b"").unwrap();
    let broken = String::from_utf8(stored)
        .unwrap()
        .replace(&file, dir.join("a.log").to_str().unwrap());

    let restored = Broker::new();
    let e = restored.load(broken.as_bytes()).unwrap_err();
    assert!(
        matches!(&e, AuditError::Internal(m) if m.contains("one/")),
        "{e:?}"
    );
    assert!(restored.is_enabled());
    assert_eq!(restored.list().len(), 1);
    let entry = RequestEntry::new(Uuid::nil(), Operation::Read, "x");
    assert!(matches!(
        restored.log_request(&entry),
        Err(AuditError::NotLogged(_))
    ));
}

#[test]
fn corrupt_tables_are_refused() {
    let broker = Broker::new();
    for bad in [
        &b"not json"[..],
        br#"{"version":2,"devices":[]}"#,
        br#"{"version":1,"devices":[{"path":"a/","type":"file","options":{"file_path":"discard"},"hmac_key":"c2hvcnQ="}]}"#,
        br#"{"version":1,"devices":[{"path":"a/","type":"file","options":{},"hmac_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}]}"#,
    ] {
        assert!(
            matches!(broker.load(bad), Err(AuditError::Internal(_))),
            "{}",
            String::from_utf8_lossy(bad)
        );
        assert!(!broker.is_enabled());
    }
    let ok = br#"{"version":1,"devices":[{"path":"a/","type":"file","options":{"file_path":"discard"},"hmac_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}]}"#;
    broker.load(ok).unwrap();
    assert_eq!(broker.hash("a", "x").unwrap(), expected(&[0u8; 32], "x"));
}

#[test]
fn concurrent_lines_stay_whole() {
    let h = Harness::new();
    let file = h.enable_file("one", &[]);
    let big = "x".repeat(64 * 1024);
    let data = json!({"big": big}).as_object().unwrap().clone();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..25 {
                    let mut entry = RequestEntry::new(Uuid::new_v4(), Operation::Update, "p");
                    entry.data = Some(Payload::Object(&data));
                    h.broker.log_request(&entry).unwrap();
                }
            });
        }
    });
    assert_eq!(lines(&file).len(), 100);
}

#[test]
fn list_responses_can_be_elided() {
    let h = Harness::new();
    let file = h.enable_file("one", &[("elide_list_responses", "true")]);
    let entry = RequestEntry::new(Uuid::nil(), Operation::List, "secret/");
    let reply = json!({"keys": ["a", "b", "c"], "key_info": {"a": {}}});
    let response = ResponseEntry {
        data: Some(Payload::Value(&reply)),
        ..ResponseEntry::default()
    };
    h.broker
        .log_response(&entry, &Logged::default(), &response)
        .unwrap();
    assert_eq!(
        lines(&file)[0]["response"]["data"],
        json!({"keys": 3, "key_info": 1})
    );
}

#[test]
fn the_response_line_reuses_the_request_data_each_device_wrote() {
    let h = Harness::new();
    let one = h.enable_file("one", &[]);
    let key = h.key("one/");
    let body = r#"{"password":"hunter2","pin":987654321}"#;
    let mut entry = RequestEntry::new(Uuid::new_v4(), Operation::Update, "secret/foo");
    entry.data = Some(Payload::Text(body));
    let logged = h.broker.log_request(&entry).unwrap();
    // A device enabled while the request runs logs no request data for it.
    let two = h.enable_file("two", &[]);
    // The request path drops the body once the request has run.
    let after = RequestEntry {
        data: None,
        ..entry
    };
    h.broker
        .log_response(&after, &logged, &ResponseEntry::default())
        .unwrap();
    let got = lines(&one);
    let want = json!({"password": expected(&key, "hunter2"), "pin": expected(&key, "987654321")});
    assert_eq!(got[0]["request"]["data"], want);
    assert_eq!(got[1]["request"]["data"], want);
    let got = lines(&two);
    assert!(got[0]["request"].get("data").is_none());
    for file in [one, two] {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(!text.contains("hunter2") && !text.contains("987654321"));
    }
}

#[test]
fn errors_are_hashed_unless_value_free() {
    let h = Harness::new();
    let file = h.enable_file("one", &[]);
    let key = h.key("one/");
    let mut entry = RequestEntry::new(Uuid::new_v4(), Operation::Update, "auth/token/create");
    for error in [
        "permission denied",
        "invalid ttl \"987654321zz\"",
        "key version 987654321 not found",
    ] {
        entry.error = Some(error);
        let logged = h.broker.log_request(&entry).unwrap();
        let response = ResponseEntry {
            error: Some(error),
            ..ResponseEntry::default()
        };
        h.broker.log_response(&entry, &logged, &response).unwrap();
    }
    let got = lines(&file);
    let errors: Vec<&Value> = got.iter().map(|l| &l["error"]).collect();
    let hashed_ttl = expected(&key, "invalid ttl \"987654321zz\"");
    let hashed_version = expected(&key, "key version 987654321 not found");
    assert_eq!(
        errors,
        [
            "permission denied",
            "permission denied",
            hashed_ttl.as_str(),
            hashed_ttl.as_str(),
            hashed_version.as_str(),
            hashed_version.as_str(),
        ]
    );
    assert!(!std::fs::read_to_string(&file)
        .unwrap()
        .contains("987654321"));
}

#[test]
fn a_huge_payload_is_logged_as_its_size() {
    let h = Harness::new();
    let file = h.enable_file("one", &[]);
    // 4 MiB of one-byte numbers: two million leaves, 160 MiB once hashed.
    let body = format!("{{\"a\":[{}]}}", vec!["0"; 2 << 20].join(","));
    let mut entry = RequestEntry::new(Uuid::new_v4(), Operation::Update, "secret/foo");
    entry.data = Some(Payload::Text(&body));
    let logged = h.broker.log_request(&entry).unwrap();
    h.broker
        .log_response(&entry, &logged, &ResponseEntry::default())
        .unwrap();
    let got = lines(&file);
    let marker = json!({ TRUNCATED: format!("{} bytes", body.len()) });
    assert_eq!(got[0]["request"]["data"], marker);
    assert_eq!(got[1]["request"]["data"], marker);
    let size = std::fs::metadata(&file).unwrap().len();
    assert!(size < 8 * 1024, "{size} bytes for two lines");
}
