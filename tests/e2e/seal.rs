//! The seal: while sealed every path but the seal's own answers 503; the
//! threshold of shares unseals; sealing drops what engines hold; the
//! barrier's key rotates without losing old data.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{install_engine, ConfigDir, Server, MISBEHAVE_WASM};

/// Dev mode prints its single unseal key (as Vault's dev server does).
fn dev_unseal_key(server: &Server) -> String {
    server
        .stdout
        .lines()
        .find_map(|l| {
            l.split_once("Unseal Key:")
                .map(|(_, k)| k.trim().to_string())
        })
        .unwrap_or_else(|| panic!("dev mode prints `Unseal Key:`; stdout:\n{}", server.stdout))
}

#[test]
fn sealing_refuses_everything_until_unsealed_and_keeps_data() {
    let server = Server::dev();
    let c = server.client();
    let status = server.anonymous().get("sys/seal-status").json();
    assert_eq!(status["sealed"], json!(false));
    assert_eq!(status["t"], json!(1));
    assert_eq!(status["n"], json!(1));
    c.write("secret/x", &json!({ "v": "kept" }));
    c.mount("transit", "transit");
    c.post("transit/keys/k", &json!({})).expect(200);
    let ct = c
        .post("transit/encrypt/k", &json!({ "plaintext": "aGk=" }))
        .data()["ciphertext"]
        .as_str()
        .unwrap()
        .to_string();

    // Only root (or sudo) may seal.
    c.put(
        "sys/policies/acl/sealer",
        &json!({ "policy": "path \"sys/seal\" { capabilities = [\"update\"] }" }),
    )
    .expect_no_content();
    let t = c
        .post("auth/token/create", &json!({ "policies": ["sealer"] }))
        .json()["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    c.with_token(Some(&t))
        .put("sys/seal", &json!({}))
        .expect(403);

    c.put("sys/seal", &json!({})).expect_no_content();
    for (method, path) in [
        ("GET", "secret/x"),
        ("GET", "sys/mounts"),
        ("POST", "transit/decrypt/k"),
        ("GET", "auth/token/lookup-self"),
        ("GET", "sys/policies/acl/default"),
    ] {
        let r = c.send(method, path, &[], Some(b"{}".to_vec()));
        assert_eq!(r.status, 503, "{method} {path}: {}", r.body);
        assert_eq!(r.errors(), ["Vault is sealed"]);
    }
    let status = server.anonymous().get("sys/seal-status").json();
    assert_eq!(status["sealed"], json!(true));
    assert!(status.get("cluster_id").is_none());
    server.anonymous().get("sys/health").expect(503);
    let r = server
        .anonymous()
        .send("GET", "sys/health?sealedcode=299", &[], None);
    assert_eq!(r.status, 299);

    // Bad shares name the problem and change nothing.
    let r = server
        .anonymous()
        .put("sys/unseal", &json!({ "key": "zz" }));
    r.expect(400);
    assert!(r.errors()[0].contains("hex or base64"), "{:?}", r.errors());
    server
        .anonymous()
        .put("sys/unseal", &json!({ "key": hex::encode([1u8; 8]) }))
        .expect(400);
    server.anonymous().put("sys/unseal", &json!({})).expect(400);
    let wrong = base64_encode(&[9u8; 32]);
    server
        .anonymous()
        .put("sys/unseal", &json!({ "key": wrong }))
        .expect(400);
    assert_eq!(
        server.anonymous().get("sys/seal-status").json()["sealed"],
        json!(true)
    );

    let r = server
        .anonymous()
        .put("sys/unseal", &json!({ "key": dev_unseal_key(&server) }));
    r.expect(200);
    assert_eq!(r.json()["sealed"], json!(false));
    assert_eq!(c.read("secret/x")["v"], json!("kept"));
    // The transit engine starts over from storage: old ciphertext decrypts.
    assert_eq!(
        c.post("transit/decrypt/k", &json!({ "ciphertext": ct }))
            .data()["plaintext"],
        json!("aGk=")
    );
    // Init is refused on an initialised server.
    let r = server.anonymous().put(
        "sys/init",
        &json!({ "secret_shares": 1, "secret_threshold": 1 }),
    );
    r.expect(400);
    assert_eq!(r.errors(), ["Vault is already initialized"]);
    assert_eq!(c.read("secret/x")["v"], json!("kept"));
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn init_checks_its_parameters_and_the_barrier_rotates() {
    let dir = ConfigDir::new("");
    let mut server = Server::config(&dir);
    assert_eq!(
        server.anonymous().get("sys/init").json(),
        json!({ "initialized": false })
    );
    server.anonymous().get("sys/health").expect(501);
    for body in [
        json!({ "secret_shares": 0, "secret_threshold": 0 }),
        json!({ "secret_shares": 3, "secret_threshold": 4 }),
        json!({ "secret_shares": 300, "secret_threshold": 2 }),
        json!({ "secret_shares": 3 }),
        json!({ "secret_shares": "x", "secret_threshold": 2 }),
    ] {
        server.anonymous().put("sys/init", &body).expect(400);
    }
    assert_eq!(
        server.anonymous().get("sys/init").json(),
        json!({ "initialized": false })
    );
    let keys = server.init(5, 3);
    assert_eq!(keys.keys.len(), 5);
    assert!(keys.keys.iter().all(|k| k.len() == 66), "{:?}", keys.keys);
    server.unseal(&keys.keys[2..]);
    let c = server.client();
    c.mount("kv", "kv");
    c.write("kv/before", &json!({ "v": 1 }));
    assert_eq!(c.read("sys/key-status")["term"], json!(1));
    c.put("sys/rotate", &json!({})).expect_no_content();
    assert_eq!(c.read("sys/key-status")["term"], json!(2));
    c.write("kv/after", &json!({ "v": 2 }));
    server.stop();

    let server = Server::config(&dir);
    server.unseal(&keys.keys[..3]);
    let c = server.client().with_token(Some(&keys.root_token));
    assert_eq!(c.read("sys/key-status")["term"], json!(2));
    assert_eq!(c.read("kv/before")["v"], json!(1));
    assert_eq!(c.read("kv/after")["v"], json!(2));
}

#[test]
fn concurrent_rotations_lose_nothing() {
    let server = Server::dev();
    let c = server.client();
    let writer = {
        let c = c.clone();
        std::thread::spawn(move || {
            for i in 0..60 {
                c.write(&format!("secret/k{i}"), &json!({ "i": i }));
            }
        })
    };
    let rotators: Vec<_> = (0..3)
        .map(|_| {
            let c = c.clone();
            std::thread::spawn(move || {
                for _ in 0..5 {
                    c.put("sys/rotate", &json!({})).expect_no_content();
                }
            })
        })
        .collect();
    writer.join().unwrap();
    for r in rotators {
        r.join().unwrap();
    }
    assert_eq!(c.read("sys/key-status")["term"], json!(16));
    for i in 0..60 {
        assert_eq!(c.read(&format!("secret/k{i}"))["i"], json!(i));
    }
    // And after a seal and unseal, from the stored keyring.
    c.put("sys/seal", &json!({})).expect_no_content();
    server
        .anonymous()
        .put("sys/unseal", &json!({ "key": dev_unseal_key(&server) }))
        .expect(200);
    for i in 0..60 {
        assert_eq!(c.read(&format!("secret/k{i}"))["i"], json!(i));
    }
}

/// The periodic ticker holds the seal open like a request: `sys/seal`
/// sent while a periodic call runs (the test engine has logged that it
/// started and busy-waits 3 s before it writes) waits for it, and the
/// call's write lands. Before, the seal went ahead and the call's commit
/// found the barrier closed, so its write was lost.
#[test]
fn a_seal_waits_for_a_periodic_call_in_flight() {
    let dir = ConfigDir::new("engine_periodic_interval = \"1s\"\nengine_call_timeout = \"20s\"\n");
    let (server, keys) = Server::config_ready(&dir);
    let c = server.client();
    install_engine(&c, &dir.plugin_dir(), MISBEHAVE_WASM, "misbehave");
    c.post(
        "sys/mounts/slow",
        &json!({ "type": "misbehave", "options": { "periodic_busy_secs": "3" } }),
    )
    .expect_no_content();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.stderr().contains("periodic call 1 started") {
        assert!(
            Instant::now() < deadline,
            "no periodic call started; stderr:\n{}",
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The call is now busy for about 3 s and has not written yet.
    c.post("sys/seal", &json!({})).expect_no_content();
    server.unseal(&keys.keys);
    let r = c.get("slow/get/periodic-count");
    assert_eq!(
        r.status, 200,
        "the periodic call's write was lost: {}",
        r.body
    );
    assert!(r.data()["value"].as_u64() >= Some(1), "{}", r.body);
}
