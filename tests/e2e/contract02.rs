//! Contract 0.2 end to end: a test engine written against
//! `wit/coffer-engine@0.2.0` (`tests/engines/contract02`) registered,
//! mounted and called beside the built-in 0.1 engines: unauthenticated and
//! sudo paths, raw bodies and content types, response headers and
//! statuses, the new errors, paged listing; and an engine whose special
//! paths are malformed (`tests/engines/badspecial`) refused at mount time.

use serde_json::{json, Value};

use crate::harness::{install_engine, Client, ConfigDir, Server, BADSPECIAL_WASM, CONTRACT02_WASM};

/// A dev server with the contract-0.2 test engine mounted at `pki/`.
fn server_with_engine() -> (Server, Client) {
    let server = Server::dev();
    let c = server.client();
    install_engine(&c, &server.plugin_dir(), CONTRACT02_WASM, "c02");
    c.mount("pki", "c02");
    (server, c)
}

#[track_caller]
fn policy(c: &Client, name: &str, hcl: &str) {
    c.put(
        &format!("sys/policies/acl/{name}"),
        &json!({ "policy": hcl }),
    )
    .expect_no_content();
}

#[track_caller]
fn token(c: &Client, policies: &[&str]) -> String {
    let r = c.post("auth/token/create", &json!({ "policies": policies }));
    r.expect(200);
    r.json()["auth"]["client_token"]
        .as_str()
        .expect("client_token")
        .to_string()
}

#[test]
fn contract02_unauthenticated_paths_need_no_token_and_the_others_do() {
    let (server, c) = server_with_engine();
    assert_eq!(c.get("sys/mounts").data()["pki/"]["type"], json!("c02"));
    let anonymous = server.anonymous();

    // `ca/pem`: a raw PEM body, its content type, and the engine's
    // Cache-Control instead of the host's no-store.
    for client in [&anonymous, &c.with_token(Some("not-a-token")), &c] {
        let r = client.get("pki/ca/pem");
        r.expect(200);
        assert_eq!(
            r.content_type.as_deref(),
            Some("application/pem-certificate-chain")
        );
        assert!(
            r.body.starts_with("-----BEGIN CERTIFICATE-----\n"),
            "{}",
            r.body
        );
        assert_eq!(r.header("cache-control"), vec!["max-age=60"]);
    }

    // `public/*` is unauthenticated: the engine is told so, even when a
    // (valid) token is sent.
    for client in [&anonymous, &c] {
        let seen = client.read("pki/public/whoami");
        assert_eq!(seen["caller"], json!("unauthenticated"), "{seen}");
        assert_eq!(seen["path"], json!("public/whoami"));
    }

    // The engine's other paths still need a token.
    anonymous.get("pki/whoami").expect(403);
    c.with_token(Some("not-a-token"))
        .get("pki/whoami")
        .expect(403);
    anonymous.post("pki/echo", &json!({})).expect(403);
    anonymous.get("pki/ca/pem/x").expect(403);
}

#[test]
fn contract02_request_carries_caller_query_headers_and_raw_bodies() {
    let (_server, c) = server_with_engine();

    // What the engine is told: the caller, the query, only the headers it
    // asked for (never the token), the mount and the request id.
    let r = c.send(
        "GET",
        "pki/whoami?x=1&y=a%20b",
        &[("X-Test-Header", "hello"), ("X-Other", "unseen")],
        None,
    );
    r.expect(200);
    let seen = r.data();
    assert_eq!(seen["operation"], json!("read"));
    assert_eq!(seen["path"], json!("whoami"));
    assert_eq!(seen["caller"]["display_name"], json!("root"), "{seen}");
    assert_eq!(seen["caller"]["policies"], json!(["root"]));
    assert!(!seen["caller"]["accessor"].as_str().unwrap().is_empty());
    assert_eq!(seen["mount_path"], json!("pki/"));
    // The mount's options, with its effective lease TTLs added by the host
    // (the system's 768h when not tuned).
    let options: serde_json::Value =
        serde_json::from_str(seen["mount_options"].as_str().unwrap()).unwrap();
    assert_eq!(
        options,
        json!({"default_lease_ttl": 768 * 3600, "max_lease_ttl": 768 * 3600})
    );
    c.post(
        "sys/mounts/pki/tune",
        &json!({"default_lease_ttl": "1h", "max_lease_ttl": "2h"}),
    )
    .expect(204);
    let again = c.send("GET", "pki/whoami", &[], None);
    again.expect(200);
    let tuned: serde_json::Value =
        serde_json::from_str(again.data()["mount_options"].as_str().unwrap()).unwrap();
    assert_eq!(
        tuned,
        json!({"default_lease_ttl": 3600, "max_lease_ttl": 7200})
    );
    assert_eq!(seen["id"], r.json()["request_id"]);
    assert_eq!(seen["query"], json!([["x", "1"], ["y", "a b"]]));
    assert_eq!(seen["headers"], json!([["x-test-header", "hello"]]));

    // A body that is not JSON reaches the engine as it came, with its
    // content type (without parameters, lower-case).
    let der = b"0\x03\x02\x01\x05".to_vec();
    let r = c.send(
        "POST",
        "pki/echo",
        &[("Content-Type", "Application/OCSP-Request; foo=bar")],
        Some(der.clone()),
    );
    r.expect(200);
    assert_eq!(r.body.as_bytes(), der.as_slice());
    assert_eq!(r.content_type.as_deref(), Some("application/ocsp-request"));
    assert_eq!(
        r.header("x-echo-content-type"),
        vec!["application/ocsp-request"]
    );
    // JSON stays the common case: its text as sent.
    let text = br#"{ "a": [1, 2] }"#.to_vec();
    let r = c.send("PUT", "pki/echo", &[], Some(text.clone()));
    r.expect(200);
    assert_eq!(r.body.as_bytes(), text.as_slice());
    assert_eq!(r.header("x-echo-content-type"), vec!["application/json"]);
    // No content type at all.
    let r = c.send(
        "POST",
        "pki/echo",
        &[("Content-Type", "")],
        Some(b"plain".to_vec()),
    );
    r.expect(200);
    assert_eq!(r.header("x-echo-content-type"), vec!["none"]);

    // A 0.1 engine and sys/ still insist on a JSON object.
    c.raw("POST", "secret/x", b"not json").expect(400);
    c.raw("POST", "sys/policies/acl/x", b"not json").expect(400);
    c.write("secret/x", &json!({ "v": "1" }));
    assert_eq!(c.read("secret/x"), json!({ "v": "1" }));
}

#[test]
fn contract02_statuses_headers_errors_and_list_pages() {
    let (_server, c) = server_with_engine();

    // 201 with a Location header; create, then update (the engine's
    // `exists` told them apart); the write committed.
    let r = c.post("pki/created/one", &json!({ "n": 1 }));
    r.expect(201);
    assert_eq!(r.header("location"), vec!["/v1/pki/created/one"]);
    assert_eq!(r.data()["operation"], json!("create"));
    let r = c.post("pki/created/one", &json!({ "n": 2 }));
    r.expect(201);
    assert_eq!(r.data()["operation"], json!("update"));
    assert_eq!(c.read("pki/created/one")["body"], json!(r#"{"n":2}"#));

    // No body and the engine's own status: that status, empty, with its
    // header (not the 204 that a response with nothing in it gets).
    let r = c.post("pki/accepted", &json!({}));
    r.expect(202);
    assert_eq!(r.body, "");
    assert_eq!(r.header("x-queued"), vec!["yes"]);

    // The errors of 0.2.
    let r = c.get("pki/unavailable");
    r.expect(503);
    assert_eq!(r.errors(), vec!["the test HSM cannot be reached"]);
    assert_eq!(r.header("retry-after"), vec!["5"]);
    let r = c.get("pki/teapot");
    r.expect(418);
    assert_eq!(r.errors(), vec!["short and stout"]);
    let r = c.get("pki/badstatus");
    r.expect(500);
    assert!(r.errors()[0].contains("status 200"), "{:?}", r.errors());
    // A header the host owns is refused, named.
    let r = c.get("pki/badheader");
    r.expect(500);
    assert!(r.errors()[0].contains("content-length"), "{:?}", r.errors());

    // Paged listing over storage.list-page.
    for name in ["e", "a", "c", "b", "d"] {
        c.post(&format!("pki/items/{name}"), &json!({})).expect(200);
    }
    let page = |q: &str| c.list(&format!("pki/items?{q}")).keys();
    assert_eq!(page("limit=2"), vec!["a", "b"]);
    assert_eq!(page("limit=2&after=b"), vec!["c", "d"]);
    assert_eq!(page("limit=2&after=d"), vec!["e"]);
    assert_eq!(page("after=e"), Vec::<String>::new());
    assert_eq!(page(""), vec!["a", "b", "c", "d", "e"]);
    let r = c.list("pki/items?limit=0");
    r.expect(400);
    assert!(r.errors()[0].contains("limit"), "{:?}", r.errors());

    // Keyless crypto by 0.2's names, checked against sha2 here.
    let r = c.send(
        "PUT",
        "pki/hash/sha2-256",
        &[("Content-Type", "text/plain")],
        Some(b"abc".to_vec()),
    );
    r.expect(200);
    use sha2::Digest;
    assert_eq!(
        r.data()["digest"],
        json!(hex::encode(sha2::Sha256::digest(b"abc")))
    );
    let r = c.send(
        "PUT",
        "pki/hash/sha256",
        &[("Content-Type", "text/plain")],
        Some(b"abc".to_vec()),
    );
    r.expect(400);
    assert!(
        r.errors()[0].contains("unknown hash algorithm"),
        "{:?}",
        r.errors()
    );
    // The host serves keys: a generated key, no trap.
    let r = c.get("pki/keys");
    r.expect(200);
    assert_eq!(r.data(), json!({ "generated": true }));
    // The instance lived on: the next call on it works.
    c.read("pki/whoami");
}

#[test]
fn contract02_sudo_paths_need_sudo_and_unauthenticated_calls_are_audited() {
    let (server, c) = server_with_engine();
    policy(
        &c,
        "nosudo",
        r#"path "pki/*" { capabilities = ["read", "create", "update", "list"] }"#,
    );
    policy(
        &c,
        "withsudo",
        r#"path "pki/*" { capabilities = ["read", "sudo"] }"#,
    );
    let plain = c.with_token(Some(&token(&c, &["nosudo"])));
    let sudo = c.with_token(Some(&token(&c, &["withsudo"])));

    plain.get("pki/root/x").expect(403);
    plain.read("pki/whoami");
    assert_eq!(sudo.read("pki/root/x"), json!({ "sudo": true }));
    assert_eq!(c.read("pki/root/x"), json!({ "sudo": true }));
    // `root/+` is one segment: deeper paths are not sudo paths.
    plain.get("pki/root/x/y").expect(404);
    // sudo alone does not give the operation's own capability.
    sudo.post("pki/root/x", &json!({})).expect(403);

    // An unauthenticated call is audited as such: no token, no auth.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    c.put(
        "sys/audit/file",
        &json!({ "type": "file", "options": { "file_path": log.to_str().unwrap() } }),
    )
    .expect_no_content();
    server.anonymous().get("pki/ca/pem").expect(200);
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ours: Vec<&Value> = lines
        .iter()
        .filter(|l| l["request"]["path"] == json!("pki/ca/pem"))
        .collect();
    assert_eq!(ours.len(), 2, "a request and a response line: {lines:?}");
    for line in ours {
        assert!(line["request"]["client_token"].is_null(), "{line}");
        assert!(line["auth"]["client_token"].is_null(), "{line}");
        assert!(line["auth"]["policies"].is_null(), "{line}");
        assert_eq!(line["request"]["mount_type"], json!("c02"), "{line}");
    }
}

#[test]
fn contract02_bad_special_paths_and_non_engines_are_refused() {
    let server = Server::dev();
    let c = server.client();
    install_engine(&c, &server.plugin_dir(), BADSPECIAL_WASM, "bad");
    let r = c.post("sys/mounts/bad", &json!({ "type": "bad" }));
    r.expect(400);
    assert!(r.errors()[0].contains(r#""ca//pem""#), "{:?}", r.errors());
    assert!(c.get("sys/mounts").data().get("bad/").is_none());
    c.get("bad/ca/pem").expect(404);

    // A component that is no engine of either contract (an empty one) is
    // refused when registered, saying why.
    let empty = b"\0asm\x0d\x00\x01\x00";
    std::fs::write(server.plugin_dir().join("empty.wasm"), empty).unwrap();
    let sha = crate::harness::sha256_file(&server.plugin_dir().join("empty.wasm"));
    let r = c.post(
        "sys/plugins/catalog/secret/empty",
        &json!({ "command": "empty.wasm", "sha256": sha }),
    );
    r.expect(400);
    assert!(
        r.errors()[0].contains("not a Coffer engine"),
        "{:?}",
        r.errors()
    );

    // The built-in 0.1 engines are unchanged beside them.
    c.write("secret/a", &json!({ "k": "v" }));
    assert_eq!(c.read("secret/a"), json!({ "k": "v" }));
    c.mount("transit", "transit");
    c.post("transit/keys/k", &json!({})).expect(200);
}

#[test]
fn contract02_special_paths_hold_after_a_restart() {
    let dir = ConfigDir::new("");
    let (first, keys) = Server::config_ready(&dir);
    let c = first.client();
    install_engine(&c, &dir.plugin_dir(), CONTRACT02_WASM, "c02");
    c.mount("pki", "c02");
    c.post("pki/items/a", &json!({})).expect(200);
    first.stop();

    // Restored at unseal: described again, so its unauthenticated path
    // still needs no token and its others still do.
    let second = Server::config_unsealed(&dir, &keys);
    let anonymous = second.anonymous();
    anonymous.get("pki/ca/pem").expect(200);
    anonymous.get("pki/whoami").expect(403);
    assert_eq!(second.client().list("pki/items").keys(), vec!["a"]);
}
