//! The SDK's contract 0.2 end to end: `tests/engines/sdk02`, written on
//! `coffer-sdk` (not on the bindings, as `contract02` is), served by the
//! real host. What this checks is the SDK's glue: its description (special
//! paths the host enforces, headers it passes), the request it reads
//! (caller, headers, raw body), and the responses and errors it writes.

use serde_json::json;

use crate::harness::{install_engine, Server, SDK02_WASM};

#[test]
fn sdk02_engine_is_described_read_and_answered_as_the_sdk_says() {
    let server = Server::dev();
    let c = server.client();
    install_engine(&c, &server.plugin_dir(), SDK02_WASM, "sdk02");
    c.mount("pki", "sdk02");
    let anonymous = server.anonymous();

    // The description: unauthenticated paths need no token, the others do.
    let seen = anonymous.read("pki/public/whoami");
    assert_eq!(seen["caller"], json!("unauthenticated"), "{seen}");
    let r = anonymous.get("pki/cert/0a/der");
    r.expect(200);
    assert_eq!(r.content_type.as_deref(), Some("application/pkix-cert"));
    assert_eq!(r.body, "0a");
    assert_eq!(r.header("cache-control"), vec!["max-age=60"]);
    anonymous.get("pki/whoami").expect(403);
    anonymous.get("pki/cert/0a/der/x").expect(403);

    // The request: the caller, and only the header asked for.
    let r = c.send(
        "GET",
        "pki/whoami",
        &[("X-Test-Header", "hello"), ("X-Other", "unseen")],
        None,
    );
    r.expect(200);
    let seen = r.data();
    assert_eq!(seen["caller"]["display_name"], json!("root"), "{seen}");
    assert_eq!(seen["caller"]["policies"], json!(["root"]));
    assert_eq!(seen["caller"]["accessor_set"], json!(true));
    assert_eq!(seen["x_test_header"], json!("hello"));
    assert_eq!(seen["headers"], json!(1));
    assert_eq!(seen["id_set"], json!(true));
    assert_eq!(seen["mount_path"], json!("pki/"));

    // A raw body of the declared type reaches the handler as bytes; any
    // other body is JSON, and the SDK refuses one that is not.
    let der = b"0\x03\x02\x01\x05".to_vec();
    let r = c.send(
        "POST",
        "pki/ocsp",
        &[("Content-Type", "application/ocsp-request")],
        Some(der.clone()),
    );
    r.expect(200);
    assert_eq!(r.content_type.as_deref(), Some("application/ocsp-response"));
    let mut reversed = der.clone();
    reversed.reverse();
    assert_eq!(r.body.as_bytes(), reversed.as_slice());
    let r = c.send(
        "POST",
        "pki/ocsp",
        &[("Content-Type", "application/octet-stream")],
        Some(der),
    );
    r.expect(400);
    assert!(r.errors()[0].contains("JSON"), "{:?}", r.errors());

    // Statuses, headers and errors.
    let r = c.post("pki/items/b", &json!({}));
    r.expect(201);
    assert_eq!(r.header("location"), vec!["/v1/pki/items/b"]);
    assert_eq!(r.data()["name"], json!("b"));
    let r = c.post("pki/queued", &json!({}));
    r.expect(202);
    assert_eq!(r.body, "");
    let r = c.get("pki/hsm");
    r.expect(503);
    assert_eq!(r.errors(), vec!["the test HSM cannot be reached"]);
    c.get("pki/teapot").expect(418);

    // Paged listing through storage.list-page.
    for name in ["a", "c", "d"] {
        c.post(&format!("pki/items/{name}"), &json!({})).expect(201);
    }
    let page = |q: &str| c.list(&format!("pki/items?{q}")).keys();
    assert_eq!(page("limit=2"), vec!["a", "b"]);
    assert_eq!(page("limit=2&after=b"), vec!["c", "d"]);
    assert_eq!(page(""), vec!["a", "b", "c", "d"]);

    // Sudo: a token whose policy lacks it is refused.
    c.put(
        "sys/policies/acl/nosudo",
        &json!({ "policy": r#"path "pki/*" { capabilities = ["read", "create", "update"] }"# }),
    )
    .expect_no_content();
    let r = c.post("auth/token/create", &json!({ "policies": ["nosudo"] }));
    r.expect(200);
    let token = r.json()["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    c.with_token(Some(&token))
        .post("pki/root/x", &json!({}))
        .expect(403);
    let r = c.post("pki/root/x", &json!({}));
    r.expect(200);
    assert_eq!(r.data(), json!({ "sudo": true }));
}
