//! Bounded waits for engine calls, and request sizes the server accepts.
//!
//! - A mount's queue (`engine_max_concurrent_calls` running plus
//!   `engine_max_queued_calls` waiting) is bounded: one request more is
//!   refused at once with 503 and `Retry-After`, before its body is read.
//! - A call that waits for a running slot gives up after
//!   `engine_queue_timeout` with the same 503.
//! - Bodies within the advertised 32 MiB limit are answered, never with a
//!   500: a 12 MiB kv value and an 8 MiB transit plaintext succeed, and a
//!   `batch_input` of a million items is answered (success or a 413 naming
//!   the memory limit).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::harness::{install_engine, ConfigDir, Server, MISBEHAVE_WASM};

/// One running and one waiting call per mount; calls wait at most 1 s for
/// a slot; a `loop` call runs 6 s before its deadline.
const QUEUE_LIMITS: &str = "engine_call_timeout = \"6s\"\n\
    engine_max_concurrent_calls = 1\n\
    engine_max_queued_calls = 1\n\
    engine_queue_timeout = \"1s\"\n";

/// A full queue refuses at once with 503 and `Retry-After`, without
/// reading the body (the request is sent with its headers only and a
/// `Content-Length` of 1 MiB: the answer arrives anyway); a waiting call
/// gives up after `engine_queue_timeout` with 503; another mount is not
/// affected; the mount serves again once its calls end.
#[test]
fn a_full_queue_is_refused_before_the_body_and_waits_are_bounded() {
    let dir = ConfigDir::new(QUEUE_LIMITS);
    let (server, _keys) = Server::config_ready(&dir);
    let c = server.client();
    install_engine(&c, &dir.plugin_dir(), MISBEHAVE_WASM, "misbehave");
    c.mount("busy", "misbehave");
    c.mount("other", "kv");
    c.write("other/k", &json!({"v": 1}));

    // 1. A call that runs until its 6 s deadline holds the one slot.
    let running = {
        let c = c.clone();
        thread::spawn(move || c.get("busy/loop"))
    };
    // Wait until it surely runs: a second call now waits for the slot and
    // gives up after the 1 s queue timeout.
    thread::sleep(Duration::from_millis(300));
    let waiting = {
        let c = c.clone();
        thread::spawn(move || {
            let start = Instant::now();
            let r = c.get("busy/ok");
            (r, start.elapsed())
        })
    };
    thread::sleep(Duration::from_millis(300));

    // 2. The queue (1 running + 1 waiting) is full: a third request is
    // refused at once, although its body never comes.
    let addr = server.addr.trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST /v1/busy/ok HTTP/1.1\r\nHost: {addr}\r\nX-Vault-Token: {}\r\n\
         Content-Type: application/json\r\nContent-Length: 1048576\r\n\r\n",
        server.root_token.as_deref().unwrap()
    )
    .unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed without an answer");
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 503"), "{text}");
    assert!(text.contains("retry-after: 1"), "{text}");

    // Another mount answers meanwhile.
    assert_eq!(c.read("other/k"), json!({"v": 1}));

    // 3. The waiting call gave up after the queue timeout with a 503.
    let (r, waited) = waiting.join().unwrap();
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(
        r.errors()[0].contains("busy"),
        "the error names the reason: {}",
        r.body
    );
    assert!(
        waited >= Duration::from_millis(500),
        "it waited for the timeout first, took {waited:?}"
    );

    // 4. The running call ends at its deadline; the mount serves again.
    let r = running.join().unwrap();
    assert_eq!(r.status, 500, "{}", r.body);
    assert_eq!(c.read("busy/ok"), json!({"ok": true}));
}

/// Large bodies within the 32 MiB limit are served or refused with a 4xx
/// naming a limit, never a 500.
#[test]
fn large_bodies_are_served_not_500() {
    let server = Server::dev();
    let c = server.client();

    // A 12 MiB kv value round-trips.
    let big = "v".repeat(12 << 20);
    c.write("secret/big", &json!({ "value": big }));
    let back = c.read("secret/big");
    assert_eq!(back["value"].as_str().map(str::len), Some(12 << 20));

    // An 8 MiB transit plaintext encrypts and decrypts.
    c.mount("transit", "transit");
    c.post("transit/keys/k", &json!({})).expect(200);
    let plain = vec![0x5a_u8; 8 << 20];
    let b64 = base64::engine::general_purpose::STANDARD.encode(&plain);
    let r = c.post("transit/encrypt/k", &json!({ "plaintext": b64 }));
    assert_eq!(r.status, 200, "{}", &r.body[..r.body.len().min(300)]);
    let ciphertext = r.data()["ciphertext"].as_str().unwrap().to_string();
    let r = c.post("transit/decrypt/k", &json!({ "ciphertext": ciphertext }));
    assert_eq!(r.status, 200, "{}", &r.body[..r.body.len().min(300)]);
    assert_eq!(r.data()["plaintext"].as_str(), Some(b64.as_str()));

    // A batch of a million items (about 20 MiB of JSON): answered, and if
    // refused then with a 4xx that names the limit.
    let items: Vec<Value> = (0..1_000_000)
        .map(|_| json!({"plaintext": "AA=="}))
        .collect();
    let r = c.post("transit/encrypt/k", &json!({ "batch_input": items }));
    assert_ne!(r.status, 500, "{}", &r.body[..r.body.len().min(300)]);
    if r.status != 200 {
        assert!((400..500).contains(&r.status), "{}", r.status);
        assert!(
            r.errors()[0].contains("limit"),
            "the refusal names the limit: {}",
            &r.body[..r.body.len().min(300)]
        );
    }
}
