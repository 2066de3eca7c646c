//! Tokens and policies over HTTP: what a limited token may and may not do,
//! Vault's precedence rules end to end, token lifetimes and revocation.

use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{Client, Server};

/// Writes a policy and checks the 204.
#[track_caller]
fn policy(c: &Client, name: &str, hcl: &str) {
    c.put(
        &format!("sys/policies/acl/{name}"),
        &json!({ "policy": hcl }),
    )
    .expect_no_content();
}

/// Creates a token with `body` and returns (token, auth block).
#[track_caller]
fn token(c: &Client, body: Value) -> (String, Value) {
    let r = c.post("auth/token/create", &body);
    r.expect(200);
    let auth = r.json()["auth"].clone();
    let t = auth["client_token"]
        .as_str()
        .expect("client_token")
        .to_string();
    (t, auth)
}

#[test]
fn a_token_limited_to_one_encrypt_path_can_do_nothing_else() {
    let server = Server::dev();
    let root = server.client();
    root.mount("transit", "transit");
    root.post("transit/keys/app", &json!({})).expect(200);
    root.post("transit/keys/other", &json!({})).expect(200);
    policy(
        &root,
        "encrypt-app",
        r#"path "transit/encrypt/app" { capabilities = ["update"] }"#,
    );
    let (t, auth) = token(&root, json!({ "policies": ["encrypt-app"] }));
    assert_eq!(auth["policies"], json!(["default", "encrypt-app"]));
    let app = root.with_token(Some(&t));

    let r = app.post("transit/encrypt/app", &json!({ "plaintext": "aGVsbG8=" }));
    r.expect(200);
    let ciphertext = r.data()["ciphertext"].as_str().unwrap().to_string();
    assert!(ciphertext.starts_with("vault:v1:"));
    // Root can decrypt what it encrypted: the request really ran.
    assert_eq!(
        root.post("transit/decrypt/app", &json!({ "ciphertext": ciphertext }))
            .data()["plaintext"],
        json!("aGVsbG8=")
    );

    for (method, path, body) in [
        (
            "POST",
            "transit/decrypt/app",
            json!({ "ciphertext": ciphertext }),
        ),
        (
            "POST",
            "transit/encrypt/other",
            json!({ "plaintext": "aGVsbG8=" }),
        ),
        ("GET", "transit/keys/app", Value::Null),
        ("POST", "transit/keys/app/rotate", json!({})),
        ("GET", "sys/mounts", Value::Null),
        ("POST", "sys/mounts/evil", json!({ "type": "kv" })),
        ("GET", "sys/policies/acl/encrypt-app", Value::Null),
        (
            "PUT",
            "sys/policies/acl/encrypt-app",
            json!({ "policy": "path \"*\" { capabilities = [\"sudo\"] }" }),
        ),
        ("POST", "auth/token/create", json!({})),
        ("GET", "secret/anything", Value::Null),
    ] {
        let body = (!body.is_null()).then(|| body.to_string().into_bytes());
        let r = app.send(method, path, &[], body);
        assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
        assert_eq!(r.errors(), ["permission denied"], "{method} {path}");
    }
    // The default policy lets it look itself up.
    let me = app.read("auth/token/lookup-self");
    assert_eq!(me["policies"], json!(["default", "encrypt-app"]));
    assert_eq!(me["id"], json!(t));
    // And its capabilities are reported as the check applies them.
    let caps = app
        .post(
            "sys/capabilities-self",
            &json!({ "paths": ["transit/encrypt/app", "transit/decrypt/app"] }),
        )
        .data();
    assert_eq!(caps["transit/encrypt/app"], json!(["update"]));
    assert_eq!(caps["transit/decrypt/app"], json!(["deny"]));
    // The policy was not changed by the refused write.
    assert!(root.read("sys/policies/acl/encrypt-app")["policy"]
        .as_str()
        .unwrap()
        .contains("transit/encrypt/app"));
}

#[test]
fn create_and_update_are_told_apart_by_the_engine() {
    let server = Server::dev();
    let root = server.client();
    root.mount("transit", "transit");
    root.post("transit/keys/existing", &json!({})).expect(200);
    // Only `create`: encrypt may upsert a new key, but not use an existing one.
    policy(
        &root,
        "create-only",
        r#"path "transit/encrypt/*" { capabilities = ["create"] }"#,
    );
    let (t, _) = token(&root, json!({ "policies": ["create-only"] }));
    let c = root.with_token(Some(&t));
    c.post("transit/encrypt/fresh", &json!({ "plaintext": "aGk=" }))
        .expect(200);
    c.post("transit/encrypt/existing", &json!({ "plaintext": "aGk=" }))
        .expect(403);
    // The upsert really created the key.
    root.get("transit/keys/fresh").expect(200);
    // Only `update`: the reverse.
    policy(
        &root,
        "update-only",
        r#"path "transit/encrypt/*" { capabilities = ["update"] }"#,
    );
    let (t, _) = token(&root, json!({ "policies": ["update-only"] }));
    let c = root.with_token(Some(&t));
    c.post("transit/encrypt/existing", &json!({ "plaintext": "aGk=" }))
        .expect(200);
    c.post("transit/encrypt/brand-new", &json!({ "plaintext": "aGk=" }))
        .expect(403);
    root.get("transit/keys/brand-new").expect(404);
}

#[test]
fn precedence_follows_vaults_rules() {
    let server = Server::dev();
    let root = server.client();
    root.mount("kv", "kv");
    for path in ["kv/team/a", "kv/team/secret", "kv/team/x/y", "kv/open"] {
        root.write(path, &json!({ "v": path }));
    }
    policy(
        &root,
        "broad",
        r#"
        path "kv/*" { capabilities = ["read", "list"] }
        path "kv/team/secret" { capabilities = ["deny"] }
        "#,
    );
    policy(
        &root,
        "narrow",
        r#"
        path "kv/team/+" { capabilities = ["create", "update"] }
        "#,
    );
    let (t, _) = token(&root, json!({ "policies": ["broad", "narrow"] }));
    let c = root.with_token(Some(&t));
    // Glob grants read; the exact deny beats it.
    assert_eq!(c.read("kv/open")["v"], json!("kv/open"));
    c.get("kv/team/secret").expect(403);
    // `kv/team/+` is more specific than `kv/*` for one segment below team,
    // and only that best match applies: no read there.
    c.get("kv/team/a").expect(403);
    c.write("kv/team/a", &json!({ "v": "new" }));
    // Two segments below team: `+` does not match, `kv/*` does.
    assert_eq!(c.read("kv/team/x/y")["v"], json!("kv/team/x/y"));
    c.post("kv/team/x/y", &json!({ "v": 1 })).expect(403);
    // Deny in one policy beats a grant in another for the same path.
    policy(
        &root,
        "deny-open",
        r#"path "kv/*" { capabilities = ["deny"] }"#,
    );
    let (t2, _) = token(&root, json!({ "policies": ["broad", "deny-open"] }));
    root.with_token(Some(&t2)).get("kv/open").expect(403);
}

#[test]
fn expired_revoked_and_used_up_tokens_are_refused() {
    let server = Server::dev();
    let root = server.client();
    root.write("secret/x", &json!({ "v": 1 }));
    policy(
        &root,
        "reader",
        r#"path "secret/*" { capabilities = ["read"] }"#,
    );

    // Expiry.
    let (short, auth) = token(&root, json!({ "policies": ["reader"], "ttl": "1s" }));
    assert_eq!(auth["lease_duration"], json!(1));
    let c = root.with_token(Some(&short));
    thread::sleep(Duration::from_millis(2100));
    c.get("secret/x").expect(403);
    root.post("auth/token/lookup", &json!({ "token": short }))
        .expect(403);

    // Revocation takes the children too.
    policy(
        &root,
        "creator",
        r#"path "auth/token/create" { capabilities = ["update"] }"#,
    );
    let (parent, _) = token(&root, json!({ "policies": ["reader", "creator"] }));
    let p = root.with_token(Some(&parent));
    let (child, child_auth) = token(&p, json!({ "policies": ["reader"] }));
    assert_eq!(child_auth["orphan"], json!(false));
    let ch = root.with_token(Some(&child));
    assert_eq!(ch.read("secret/x")["v"], json!(1));
    root.post("auth/token/revoke", &json!({ "token": parent }))
        .expect_no_content();
    p.get("secret/x").expect(403);
    ch.get("secret/x").expect(403);

    // A child may not hold a policy its parent lacks.
    let (limited, _) = token(&root, json!({ "policies": ["reader", "creator"] }));
    let r = root
        .with_token(Some(&limited))
        .post("auth/token/create", &json!({ "policies": ["admin"] }));
    r.expect(400);
    assert!(r.errors()[0].contains("subset"), "{:?}", r.errors());
    // Without `creator`, the default policy does not grant creating tokens.
    let (reader, _) = token(&root, json!({ "policies": ["reader"] }));
    root.with_token(Some(&reader))
        .post("auth/token/create", &json!({}))
        .expect(403);

    // num_uses.
    let (twice, _) = token(&root, json!({ "policies": ["reader"], "num_uses": 2 }));
    let c = root.with_token(Some(&twice));
    c.get("secret/x").expect(200);
    c.get("secret/x").expect(200);
    c.get("secret/x").expect(403);

    // Accessors.
    let (t, auth) = token(&root, json!({ "policies": ["reader"] }));
    let accessor = auth["accessor"].as_str().unwrap();
    let looked = root
        .post(
            "auth/token/lookup-accessor",
            &json!({ "accessor": accessor }),
        )
        .data();
    assert_eq!(looked["id"], json!(""));
    assert_eq!(looked["policies"], json!(["default", "reader"]));
    assert!(root
        .list("auth/token/accessors")
        .keys()
        .contains(&accessor.to_string()));
    root.post(
        "auth/token/revoke-accessor",
        &json!({ "accessor": accessor }),
    )
    .expect_no_content();
    root.with_token(Some(&t)).get("secret/x").expect(403);

    // revoke-self.
    let (t, _) = token(&root, json!({ "policies": ["reader"] }));
    let c = root.with_token(Some(&t));
    c.post("auth/token/revoke-self", &json!({}))
        .expect_no_content();
    c.get("auth/token/lookup-self").expect(403);
}

#[test]
fn token_shapes_renewal_and_limits() {
    let server = Server::dev();
    let root = server.client();
    let (t, auth) = token(
        &root,
        json!({
            "policies": "a,b",
            "ttl": "1h",
            "explicit_max_ttl": "2h",
            "meta": { "team": "x" },
            "display_name": "App",
            "num_uses": 5,
        }),
    );
    assert!(t.starts_with("s."), "{t}");
    assert_eq!(auth["policies"], json!(["a", "b", "default"]));
    assert_eq!(auth["token_policies"], json!(["a", "b", "default"]));
    assert_eq!(auth["metadata"], json!({ "team": "x" }));
    assert_eq!(auth["lease_duration"], json!(3600));
    assert_eq!(auth["renewable"], json!(true));
    assert_eq!(auth["num_uses"], json!(5));
    let looked = root
        .post("auth/token/lookup", &json!({ "token": t }))
        .data();
    assert_eq!(looked["display_name"], json!("token-app"));
    assert_eq!(looked["explicit_max_ttl"], json!(7200));
    assert_eq!(looked["path"], json!("auth/token/create"));
    assert!(looked["expire_time"].as_str().unwrap().ends_with('Z'));
    // Renewal is capped by explicit_max_ttl.
    let r = root.post(
        "auth/token/renew",
        &json!({ "token": t, "increment": "10h" }),
    );
    r.expect(200);
    let lease = r.json()["auth"]["lease_duration"].as_u64().unwrap();
    assert!((7100..=7200).contains(&lease), "{lease}");
    // Periodic tokens renew to their period.
    let (periodic, auth) = token(
        &root,
        json!({ "policies": ["a"], "period": "30m", "ttl": "5m" }),
    );
    assert_eq!(auth["lease_duration"], json!(1800));
    let looked = root
        .post("auth/token/lookup", &json!({ "token": periodic }))
        .data();
    assert_eq!(looked["period"], json!(1800));
    let renewed = root
        .with_token(Some(&periodic))
        .post("auth/token/renew-self", &json!({ "increment": "10h" }));
    assert_eq!(renewed.json()["auth"]["lease_duration"], json!(1800));
    // Not renewable when asked so.
    let (fixed, auth) = token(&root, json!({ "policies": ["a"], "renewable": false }));
    assert_eq!(auth["renewable"], json!(false));
    root.post("auth/token/renew", &json!({ "token": fixed }))
        .expect(400);
    // Orphans: root may ask with no_parent; others use create-orphan, and
    // an orphan outlives its creator.
    let (_, auth) = token(&root, json!({ "policies": ["a"], "no_parent": true }));
    assert_eq!(auth["orphan"], json!(true));
    root.put(
        "sys/policies/acl/maker",
        &json!({ "policy": "path \"auth/token/create*\" { capabilities = [\"update\"] }" }),
    )
    .expect_no_content();
    let (maker, _) = token(&root, json!({ "policies": ["maker", "a"] }));
    let m = root.with_token(Some(&maker));
    m.post("auth/token/create", &json!({ "no_parent": true }))
        .expect(400);
    let r = m.post("auth/token/create-orphan", &json!({ "policies": ["a"] }));
    r.expect(200);
    assert_eq!(r.json()["auth"]["orphan"], json!(true));
    let orphan = r.json()["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    root.post("auth/token/revoke", &json!({ "token": maker }))
        .expect_no_content();
    root.post("auth/token/lookup", &json!({ "token": orphan }))
        .expect(200);
    // Root's own token has no TTL and cannot be renewed.
    root.post("auth/token/renew-self", &json!({})).expect(400);
    // Bad inputs name the problem and create nothing.
    let before = root.list("auth/token/accessors").keys().len();
    for body in [
        json!({ "ttl": "forever" }),
        json!({ "num_uses": -1 }),
        json!({ "meta": { "a": 1 } }),
        json!({ "type": "batch" }),
        json!({ "no_such_field": true }),
    ] {
        let r = root.post("auth/token/create", &body);
        r.expect(400);
        assert!(!r.errors().is_empty(), "{body}");
    }
    assert_eq!(root.list("auth/token/accessors").keys().len(), before);
}

#[test]
fn policy_documents_are_validated_and_listed() {
    let server = Server::dev();
    let root = server.client();
    let r = root.put(
        "sys/policies/acl/bad",
        &json!({ "policy": "path \"x\" {\n  capabilities = [\"read\"\n}" }),
    );
    r.expect(400);
    let message = r.errors().join(" ");
    assert!(message.contains("line 3"), "{message}");
    let r = root.put(
        "sys/policies/acl/bad",
        &json!({ "policy": "path \"x\" { capabilities = [\"fly\"] }" }),
    );
    r.expect(400);
    assert!(r.errors().join(" ").contains("fly"), "{:?}", r.errors());
    root.get("sys/policies/acl/bad").expect(404);
    // Names are not folded: the capability check saw them as sent.
    for name in ["Good", "good%20"] {
        root.put(
            &format!("sys/policies/acl/{name}"),
            &json!({ "policy": "path \"a/*\" { capabilities = [\"read\"] }" }),
        )
        .expect(400);
    }
    // Nothing stored by the failures; a good one lists.
    policy(&root, "good", r#"path "a/*" { capabilities = ["read"] }"#);
    assert_eq!(
        root.list("sys/policies/acl").keys(),
        ["default", "good", "root"]
    );
    let old = root.get("sys/policy/good").json();
    assert!(old["rules"].as_str().unwrap().contains("a/*"));
    root.put(
        "sys/policies/acl/root",
        &json!({ "policy": "path \"*\" { capabilities = [\"read\"] }" }),
    )
    .expect(400);
    root.delete("sys/policies/acl/default").expect(400);
    root.delete("sys/policies/acl/good").expect_no_content();
    root.get("sys/policies/acl/good").expect(404);
}

/// A policy's text is capped at 1 MiB: at the cap it is stored, read
/// back whole and enforced; one byte more is a 400 naming the cap, and
/// nothing is stored.
#[test]
fn policy_text_is_capped_at_one_mebibyte() {
    const CAP: usize = 1 << 20;
    let server = Server::dev();
    let root = server.client();
    let rule = "path \"secret/big\" { capabilities = [\"read\"] }\n# ";
    let at_cap = format!("{rule}{}", "x".repeat(CAP - rule.len()));
    assert_eq!(at_cap.len(), CAP);
    policy(&root, "big", &at_cap);
    assert_eq!(
        root.get("sys/policies/acl/big").data()["policy"]
            .as_str()
            .map(str::len),
        Some(CAP)
    );
    root.put("secret/big", &json!({ "v": "1" }))
        .expect_no_content();
    let (t, _) = token(&root, json!({ "policies": ["big"] }));
    let user = root.with_token(Some(&t));
    user.get("secret/big").expect(200);
    user.get("secret/other").expect(403);

    let over = format!("{at_cap}x");
    let r = root.put("sys/policies/acl/over", &json!({ "policy": over }));
    r.expect(400);
    let message = r.errors().join(" ");
    assert!(message.contains("1048576"), "{message}");
    root.get("sys/policies/acl/over").expect(404);
}

/// Paths the policy check and the engine could read differently are
/// refused before either looks at them.
#[test]
fn ambiguous_paths_cannot_slip_past_a_deny() {
    let server = Server::dev();
    let root = server.client();
    root.write("secret/admin", &json!({ "v": "top" }));
    root.mount("transit", "transit");
    root.post("transit/keys/prod", &json!({})).expect(200);
    policy(
        &root,
        "mostly",
        r#"
        path "secret/*" { capabilities = ["read"] }
        path "secret/admin" { capabilities = ["deny"] }
        path "transit/*" { capabilities = ["read", "update"] }
        path "transit/encrypt/prod" { capabilities = ["deny"] }
        path "transit/keys/prod" { capabilities = ["deny"] }
        "#,
    );
    let (t, _) = token(&root, json!({ "policies": ["mostly"] }));
    let c = root.with_token(Some(&t));
    c.get("secret/admin").expect(403);
    for (method, path) in [
        ("GET", "secret//admin"),
        ("GET", "secret/%2Fadmin"),
        ("GET", "secret/./admin"),
        ("GET", "secret/x/../admin"),
        ("GET", "transit/keys/prod/"),
        ("POST", "transit/encrypt/prod/"),
    ] {
        let body = (method == "POST").then(|| br#"{"plaintext":"aGk="}"#.to_vec());
        let r = c.send(method, path, &[], body);
        assert_eq!(r.status, 400, "{method} {path}: {}", r.body);
    }
    // The CLI's mount lookup works for a token that may use the mount.
    let ui = c.get("sys/internal/ui/mounts/secret/x");
    ui.expect(200);
    c.get("sys/internal/ui/mounts/sys/x").expect(403);
}

/// A trailing `/` on a host path (which the CLI sends, and which the
/// handler serves like the path without it) does not slip past an exact
/// rule on the path without it: `DELETE sys/mounts/victim/` is refused like
/// `DELETE sys/mounts/victim`, and the mount and its data stay; the same
/// for `sys/audit/<path>/`. A policy written for the slash spelling alone
/// still works.
#[test]
fn a_trailing_slash_on_a_sys_path_does_not_pass_an_exact_deny() {
    let server = Server::dev();
    let root = server.client();
    root.mount("victim", "kv");
    root.write("victim/k", &json!({ "v": "kept" }));
    let log = server.plugin_dir().join("audit.log");
    root.put(
        "sys/audit/file",
        &json!({ "type": "file", "options": { "file_path": log.to_str().unwrap() } }),
    )
    .expect_no_content();
    policy(
        &root,
        "mounter",
        r#"
        path "sys/mounts/*" { capabilities = ["create", "read", "update", "delete"] }
        path "sys/mounts/victim" { capabilities = ["deny"] }
        path "sys/audit/*" { capabilities = ["update", "delete", "sudo"] }
        path "sys/audit/file" { capabilities = ["deny"] }
        path "sys/mounts/mine/" { capabilities = ["create", "update"] }
        "#,
    );
    let (t, _) = token(&root, json!({ "policies": ["mounter"] }));
    let c = root.with_token(Some(&t));
    c.delete("sys/mounts/victim").expect(403);
    c.delete("sys/mounts/victim/").expect(403);
    c.delete("sys/audit/file").expect(403);
    c.delete("sys/audit/file/").expect(403);
    assert_eq!(root.read("victim/k"), json!({ "v": "kept" }));
    assert!(root.get("sys/audit").data()["file/"].is_object());
    // Both spellings answer `deny` in sys/capabilities-self.
    for p in ["sys/mounts/victim", "sys/mounts/victim/"] {
        let r = c.post("sys/capabilities-self", &json!({ "path": p }));
        assert_eq!(r.data()["capabilities"], json!(["deny"]), "{p}");
    }
    // Other mounts under the glob can still be made and removed with the
    // CLI's trailing slash; a rule for the slash spelling alone works.
    c.post("sys/mounts/other/", &json!({ "type": "kv" }))
        .expect_no_content();
    c.delete("sys/mounts/other/").expect_no_content();
    c.post("sys/mounts/mine/", &json!({ "type": "kv" }))
        .expect_no_content();
}

#[test]
fn only_privileged_tokens_make_periodic_children_and_limited_tokens_make_none() {
    let server = Server::dev();
    let root = server.client();
    policy(
        &root,
        "maker",
        r#"path "auth/token/create*" { capabilities = ["update"] }"#,
    );
    let (maker, _) = token(&root, json!({ "policies": ["maker"] }));
    let m = root.with_token(Some(&maker));
    for path in ["auth/token/create", "auth/token/create-orphan"] {
        let r = m.post(path, &json!({ "period": "1h" }));
        r.expect(400);
        assert!(r.errors()[0].contains("periodic"), "{:?}", r.errors());
    }
    let r = m.post("auth/token/create", &json!({ "id": "chosen" }));
    r.expect(400);
    let (limited, _) = token(&root, json!({ "policies": ["maker"], "num_uses": 5 }));
    let r = root
        .with_token(Some(&limited))
        .post("auth/token/create", &json!({}));
    r.expect(400);
    assert!(r.errors()[0].contains("restricted use"), "{:?}", r.errors());
    // Durations beyond the maximum are refused, not wrapped.
    root.post(
        "auth/token/create",
        &json!({ "period": "18446744073709551615" }),
    )
    .expect(400);
    // With sudo it works.
    policy(
        &root,
        "sudo-maker",
        r#"path "auth/token/create" { capabilities = ["update", "sudo"] }"#,
    );
    let (sudo, _) = token(&root, json!({ "policies": ["sudo-maker"] }));
    let r = root.with_token(Some(&sudo)).post(
        "auth/token/create",
        &json!({ "period": "1h", "policies": ["sudo-maker"] }),
    );
    r.expect(200);
    assert_eq!(r.json()["auth"]["lease_duration"], json!(3600));
}
