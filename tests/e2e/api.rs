//! Vault's HTTP conventions: verbs, tokens, status codes, bodies.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{Server, DEV_TOKEN};

#[test]
fn list_verb_and_query_are_equal() {
    let server = Server::dev();
    let c = server.client();
    c.write("secret/b", &json!({"v": 1}));
    c.write("secret/a", &json!({"v": 1}));
    c.write("secret/d/e", &json!({"v": 1}));
    c.write("secret/d/f/g", &json!({"v": 1}));

    let expected = ["a", "b", "d/"];
    assert_eq!(c.list("secret").keys(), expected);
    assert_eq!(c.list("secret/").keys(), expected);
    assert_eq!(c.get("secret?list=true").keys(), expected);
    assert_eq!(c.get("secret/?list=true").keys(), expected);
    assert_eq!(c.list("secret/d").keys(), ["e", "f/"]);
    assert_eq!(c.get("secret/d/?list=true").keys(), ["e", "f/"]);
    // The whole envelope matches too (but for request_id).
    let mut by_verb = c.list("secret/d/f").json();
    let mut by_query = c.get("secret/d/f?list=true").json();
    by_verb["request_id"] = Value::Null;
    by_query["request_id"] = Value::Null;
    assert_eq!(by_verb, by_query);
    assert_eq!(by_verb["data"]["keys"], json!(["g"]));
    // `?list=false` is a plain read.
    c.get("secret/d?list=false").expect(404);
    // An empty listing is a 404, as in Vault.
    c.list("secret/nothing/").expect(404);
    c.get("secret/nothing/?list=true").expect(404);
}

#[test]
fn tokens_are_required_and_checked() {
    let server = Server::dev();
    let c = server.client();
    c.write("secret/guarded", &json!({"v": 1}));
    let anonymous = server.anonymous();
    let bad = c.with_token(Some("not-the-token"));
    let denied = json!({"errors": ["permission denied"]});

    for client in [&anonymous, &bad] {
        for (method, path) in [
            ("GET", "secret/guarded"),
            ("LIST", "secret/"),
            ("DELETE", "secret/guarded"),
            ("GET", "sys/mounts"),
            ("GET", "sys/mounts/secret/tune"),
            ("GET", "sys/plugins/catalog"),
            ("GET", "auth/token/lookup-self"),
            ("GET", "nosuch/mount/path"),
            ("GET", "sys/internal/ui/mounts/secret/guarded"),
        ] {
            let r = client.send(method, path, &[], None);
            assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
            assert_eq!(r.json(), denied, "{method} {path}");
        }
        for (path, body) in [
            ("secret/guarded", json!({"v": 2})),
            ("sys/mounts/evil", json!({"type": "kv"})),
            ("sys/remount", json!({"from": "secret", "to": "evil"})),
        ] {
            let r = client.post(path, &body);
            assert_eq!(r.status, 403, "POST {path}: {}", r.body);
            assert_eq!(r.json(), denied);
        }
    }
    // Nothing changed.
    assert_eq!(c.read("secret/guarded"), json!({"v": 1}));
    assert!(c.get("sys/mounts").data().get("evil/").is_none());
    assert!(c.get("sys/mounts").data().get("secret/").is_some());

    // `Authorization: Bearer` works like `X-Vault-Token`.
    let r = anonymous.send(
        "GET",
        "secret/guarded",
        &[("Authorization", &format!("Bearer {DEV_TOKEN}"))],
        None,
    );
    r.expect(200);
    assert_eq!(r.data(), json!({"v": 1}));
    let r = anonymous.send(
        "GET",
        "secret/guarded",
        &[("Authorization", "Bearer wrong")],
        None,
    );
    assert_eq!(r.status, 403);
    // An empty token is no token.
    let r = anonymous.send("GET", "secret/guarded", &[("X-Vault-Token", "")], None);
    assert_eq!(r.status, 403);
}

#[test]
fn health_and_seal_status_need_no_token() {
    let server = Server::dev();
    for client in [server.anonymous(), server.client().with_token(Some("bad"))] {
        let r = client.get("sys/health");
        r.expect(200);
        let h = r.json();
        assert_eq!(h["initialized"], json!(true), "{h}");
        assert_eq!(h["sealed"], json!(false), "{h}");
        assert_eq!(h["standby"], json!(false), "{h}");
        assert!(h["version"].is_string(), "{h}");
        assert!(h["server_time_utc"].is_u64(), "{h}");

        let r = client.get("sys/seal-status");
        r.expect(200);
        let s = r.json();
        assert_eq!(s["type"], json!("shamir"), "{s}");
        assert_eq!(s["initialized"], json!(true), "{s}");
        assert_eq!(s["sealed"], json!(false), "{s}");
        assert!(s["t"].is_u64() && s["n"].is_u64(), "{s}");
        assert_eq!(s["progress"], json!(0), "{s}");
        assert!(s["version"].is_string(), "{s}");
    }
}

#[test]
fn lookup_self_and_ui_mounts() {
    let server = Server::dev();
    let c = server.client();
    let r = c.get("auth/token/lookup-self");
    r.expect(200);
    let data = r.data();
    assert_eq!(data["policies"], json!(["root"]), "{data}");
    assert_eq!(data["id"], json!(DEV_TOKEN), "{data}");

    c.mount("a/b/secrets", "kv");
    let m = c.get("sys/internal/ui/mounts/a/b/secrets/some/key").data();
    assert_eq!(m["type"], json!("kv"), "{m}");
    assert_eq!(m["path"], json!("a/b/secrets/"), "{m}");
    let m = c.get("sys/internal/ui/mounts/secret/foo").data();
    assert_eq!(m["path"], json!("secret/"), "{m}");
    assert_eq!(m["type"], json!("kv"), "{m}");
    let r = c.get("sys/internal/ui/mounts/nosuch/foo");
    assert!(
        r.status == 403 || r.status == 404,
        "{} {}",
        r.status,
        r.body
    );
}

#[test]
fn writes_answer_204_and_put_equals_post() {
    let server = Server::dev();
    let c = server.client();
    let r = c.post("secret/p", &json!({"a": "1"}));
    r.expect_no_content();
    assert_eq!(c.read("secret/p"), json!({"a": "1"}));
    c.put("secret/p", &json!({"b": "2"})).expect_no_content();
    // kv v1 writes replace the whole secret.
    assert_eq!(c.read("secret/p"), json!({"b": "2"}));
    c.delete("secret/p").expect_no_content();
    c.get("secret/p").expect(404);
    // Deleting what is not there is fine.
    c.delete("secret/p").expect_no_content();
    // Values keep their JSON types.
    let value = json!({"s": "x", "n": 12.5, "b": true, "l": [1, "two"], "o": {"k": null}});
    c.write("secret/typed", &value);
    assert_eq!(c.read("secret/typed"), value);
}

#[test]
fn missing_secret_is_404_with_errors() {
    let server = Server::dev();
    let c = server.client();
    let r = c.get("secret/never-written");
    r.expect(404);
    let json = r.json();
    assert!(json["errors"].is_array(), "{json}");
}

#[test]
fn malformed_json_is_400() {
    let server = Server::dev();
    let c = server.client();
    for body in [
        &b"{bad json"[..],
        b"[1,2]",
        b"\"string\"",
        b"{\"a\":",
        b"\xff\xfe",
    ] {
        let r = c.raw("POST", "secret/broken", body);
        assert_eq!(r.status, 400, "body {body:?}: {}", r.body);
        assert!(!r.errors().is_empty(), "a 400 names the problem");
    }
    c.get("secret/broken").expect(404);
    // The host's own endpoints too.
    let r = c.raw("POST", "sys/mounts/broken", b"{nope");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(c.get("sys/mounts").data().get("broken/").is_none());
}

#[test]
fn unknown_path_is_404() {
    let server = Server::dev();
    let c = server.client();
    let r = c.get("nosuch/foo");
    r.expect(404);
    assert!(r.json()["errors"].is_array());
    c.post("nosuch/foo", &json!({"a": 1})).expect(404);
    c.list("nosuch/").expect(404);
    c.get("sys/nosuch").expect(404);
}

#[test]
fn unsupported_operation_is_405() {
    let server = Server::dev();
    let c = server.client();
    c.write("secret/p", &json!({"a": "1"}));
    let r = c.patch("secret/p", &json!({"a": "2"}));
    r.expect(405);
    assert!(r.json()["errors"].is_array());
    assert_eq!(c.read("secret/p"), json!({"a": "1"}));
    // A host endpoint that does not take DELETE.
    c.delete("sys/health").expect(405);
}

#[test]
fn large_bodies() {
    let server = Server::dev();
    let c = server.client();
    // 1 MiB goes through whole.
    let big = "x".repeat(1 << 20);
    c.write("secret/big", &json!({ "v": big }));
    assert_eq!(
        c.read("secret/big")["v"].as_str().map(str::len),
        Some(1 << 20)
    );

    // Over 32 MiB is refused with 413 (or 400), and the server lives on.
    let status = send_oversized(&server.addr, 33 << 20);
    assert!(
        status == 413 || status == 400,
        "oversized body answered {status}"
    );
    c.get("secret/big").expect(200);
}

/// POSTs `len` bytes of a JSON string over a raw socket; returns the status.
/// The server may answer (and close) before it has read everything, so write
/// errors are expected and ignored.
fn send_oversized(addr: &str, len: usize) -> u16 {
    let host = addr.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let head = format!(
        "POST /v1/secret/huge HTTP/1.1\r\nHost: {host}\r\nX-Vault-Token: {DEV_TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).expect("write head");
    let writer = {
        let mut stream = stream.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut chunk = vec![b'x'; 1 << 16];
            chunk[0] = b'"';
            let mut sent = 0;
            while sent < len {
                let n = chunk.len().min(len - sent);
                if stream.write_all(&chunk[..n]).is_err() {
                    return;
                }
                chunk[0] = b'x';
                sent += n;
            }
        })
    };
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    // Read until the status line is complete.
    while !answer.windows(2).any(|w| w == b"\r\n") {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) => panic!("no answer to an oversized body: {e}"),
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = writer.join();
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}

#[test]
fn hostile_inputs_are_refused_and_the_server_lives() {
    let mut server = Server::dev();
    let c = server.client();
    c.write("secret/ok", &json!({"v": 1}));
    let long = format!("secret/{}", "a".repeat(16 * 1024));
    let deep = format!("[{}]", "[".repeat(100_000));
    let cases: Vec<(&str, String, Option<Vec<u8>>)> = vec![
        ("GET", "secret/%ff%fe".into(), None),
        ("GET", "secret/../sys/mounts".into(), None),
        ("GET", "secret/%2e%2e/sys/mounts".into(), None),
        ("GET", "secret//double".into(), None),
        ("GET", long, None),
        ("FOO", "secret/ok".into(), None),
        ("POST", "secret/deep".into(), Some(deep.into_bytes())),
        (
            "POST",
            "sys/mounts/x".into(),
            Some(br#"{"type": 5}"#.to_vec()),
        ),
        (
            "POST",
            "sys/mounts/y".into(),
            Some(br#"{"type": "kv", "config": "nope"}"#.to_vec()),
        ),
        (
            "POST",
            "sys/remount".into(),
            Some(br#"{"from": 1}"#.to_vec()),
        ),
        (
            "POST",
            "sys/plugins/catalog/secret/z".into(),
            Some(br#"{"command": ["a"]}"#.to_vec()),
        ),
        (
            "POST",
            "sys/mounts/secret/tune".into(),
            Some(br#"{"options": "nope"}"#.to_vec()),
        ),
    ];
    let mut wrong = Vec::new();
    for (method, path, body) in cases {
        let r = c.send(method, &path, &[], body);
        // OpenBao redirects `..` and `//` paths (307); a 4xx is as good.
        if !(300..500).contains(&r.status) {
            let shown: String = path.chars().take(40).collect();
            let body: String = r.body.chars().take(200).collect();
            wrong.push(format!("{method} {shown}: {} {body}", r.status));
        }
    }
    assert!(
        wrong.is_empty(),
        "expected a 4xx (or 3xx) for each of:\n{}",
        wrong.join("\n")
    );
    assert!(
        server.is_running(),
        "the server died; stderr:\n{}",
        server.stderr()
    );
    assert_eq!(c.read("secret/ok"), json!({"v": 1}));
    assert!(c.get("sys/mounts").data().get("secret/").is_some());
}

/// An engine that answers a raw body (PEM, DER) gets it sent as it is, with
/// its content type and no JSON envelope.
#[test]
fn raw_engine_bodies_keep_their_content_type() {
    let server = Server::dev();
    let c = server.client();
    crate::harness::install_engine(
        &c,
        &server.plugin_dir(),
        crate::harness::MISBEHAVE_WASM,
        "misbehave",
    );
    c.mount("weird", "misbehave");
    let r = c.get("weird/pem");
    r.expect(200);
    assert_eq!(
        r.body,
        "-----BEGIN CERTIFICATE-----\nTUlTQkVIQVZF\n-----END CERTIFICATE-----\n"
    );
    assert_eq!(
        r.content_type.as_deref(),
        Some("application/pem-certificate-chain")
    );
}
