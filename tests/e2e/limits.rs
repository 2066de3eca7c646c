//! Every wait a client can cause has a bound (the `listener "tcp"` bounds
//! and `graceful_shutdown_timeout`): half-sent and silent connections, idle
//! keep-alive connections (HTTP/1 and HTTP/2), trickled heads, slow
//! bodies, silent TLS connections, the connection cap, accept errors,
//! oversized heads, `max_request_duration` and the shutdown deadline.
//!
//! Each test sets its bound to about 1 s and checks that the bound fires
//! well before the default would (an upper limit with a generous margin),
//! and never before the bound itself (a lower limit: nothing may cut a
//! connection early). Clients are raw sockets where the behaviour is below
//! HTTP (closing, waiting), so that no client library's own timeouts or
//! retries are tested instead.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{install_engine, openssl_self_signed, ConfigDir, Server, MISBEHAVE_WASM};

/// How much later than its bound a close may come (a loaded CI machine).
const MARGIN: Duration = Duration::from_secs(4);
/// How much earlier than its bound a close may be observed (the server's
/// clock starts a little before the test's).
const EARLY: Duration = Duration::from_millis(300);

/// A dev server whose config file has these `listener "tcp"` lines and
/// these top-level lines.
fn dev(listener: &str, top: &str) -> Server {
    Server::dev_with_config(&format!(
        "listener \"tcp\" {{\n  tls_disable = true\n{listener}\n}}\n{top}\n"
    ))
}

fn socket_addr(server: &Server) -> SocketAddr {
    let host = server
        .addr
        .rsplit("://")
        .next()
        .expect("an address after the scheme");
    host.parse().expect("Api Address is host:port")
}

fn connect(server: &Server) -> TcpStream {
    TcpStream::connect(socket_addr(server)).expect("connect")
}

/// What a connection did before it ended.
struct Ended {
    /// From the call to the end of the stream.
    after: Duration,
    /// Everything received.
    bytes: Vec<u8>,
}

/// Reads until the server closes the connection; `None` if it is still
/// open after `within`.
fn until_closed(stream: &mut TcpStream, within: Duration) -> Option<Ended> {
    let start = Instant::now();
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = within.checked_sub(start.elapsed())?;
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("set_read_timeout");
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return None
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // A reset is a close too.
            Err(_) => break,
        }
    }
    Some(Ended {
        after: start.elapsed(),
        bytes,
    })
}

/// Reads one HTTP/1.1 answer with a `content-length` body; returns the
/// status line and the body.
fn read_answer(stream: &mut TcpStream, within: Duration) -> (String, String) {
    stream
        .set_read_timeout(Some(within))
        .expect("set_read_timeout");
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&bytes).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if body.len() >= length {
                let status = head.lines().next().unwrap_or_default().to_string();
                return (status, body.to_string());
            }
        }
        let n = stream
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("no complete answer within {within:?}: {e}; got {text:?}"));
        assert!(
            n > 0,
            "connection closed before a complete answer: {text:?}"
        );
        bytes.extend_from_slice(&buf[..n]);
    }
}

fn health_request() -> &'static [u8] {
    b"GET /v1/sys/health HTTP/1.1\r\nHost: coffer\r\n\r\n"
}

#[test]
fn half_sent_and_silent_connections_are_closed_after_the_header_timeout() {
    let server = dev(
        "  http_read_header_timeout = \"1s\"\n  http_idle_timeout = \"60s\"",
        "",
    );
    let bound = Duration::from_secs(1);
    let opened = Instant::now();
    let mut half = connect(&server);
    half.write_all(b"GET /v1/sys/health HTTP/1.1\r\nHost: coffer\r\n")
        .expect("write");
    let mut silent = connect(&server);
    // The HTTP/2 preface, then nothing: a head that never comes on h2.
    let mut h2 = connect(&server);
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .expect("write");
    for (name, stream) in [
        ("half-sent", &mut half),
        ("silent", &mut silent),
        ("h2", &mut h2),
    ] {
        let left = (bound + MARGIN).saturating_sub(opened.elapsed());
        let ended = until_closed(stream, left)
            .unwrap_or_else(|| panic!("{name} connection still open after {:?}", bound + MARGIN));
        assert!(
            opened.elapsed() + EARLY >= bound,
            "{name} connection closed before its 1 s bound: {:?}",
            opened.elapsed()
        );
        if name != "h2" {
            assert!(ended.bytes.is_empty(), "{name}: {:?}", ended.bytes);
        }
    }
    // The server itself is unharmed.
    server.anonymous().get("sys/health").expect(200);
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    // The header timeout is longer, so that only the idle bound can close
    // the connection within the limit checked.
    let server = dev(
        "  http_read_header_timeout = \"8s\"\n  http_idle_timeout = \"1s\"",
        "",
    );
    let bound = Duration::from_secs(1);
    let before_header_timeout = Duration::from_secs(6);
    // HTTP/1.1.
    let mut h1 = connect(&server);
    h1.write_all(health_request()).expect("write");
    let (status, _) = read_answer(&mut h1, Duration::from_secs(10));
    assert!(status.contains(" 200 "), "{status}");
    let ended = until_closed(&mut h1, before_header_timeout).expect("HTTP/1 connection still open");
    assert!(
        ended.after + EARLY >= bound,
        "closed early: {:?}",
        ended.after
    );
    assert!(ended.bytes.is_empty(), "{:?}", ended.bytes);
    // HTTP/2 (prior knowledge): one GET on stream 1, then silence.
    let mut h2 = connect(&server);
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend_from_slice(&frame(0x4, 0, 0, &[])); // SETTINGS
    let mut block = vec![0x82, 0x86, 0x44, 14]; // GET, http, :path literal
    block.extend_from_slice(b"/v1/sys/health");
    block.extend_from_slice(&[0x41, 6]); // :authority literal
    block.extend_from_slice(b"coffer");
    out.extend_from_slice(&frame(0x1, 0x5, 1, &block)); // HEADERS, END_STREAM|END_HEADERS
    h2.write_all(&out).expect("write");
    let started = Instant::now();
    let frames =
        h2_until_closed(&mut h2, before_header_timeout).expect("HTTP/2 connection still open");
    assert!(
        frames
            .iter()
            .any(|&(kind, stream)| kind == 0x1 && stream == 1),
        "no answer HEADERS on stream 1: {frames:?}"
    );
    assert!(
        frames.iter().any(|&(kind, _)| kind == 0x7),
        "closed without GOAWAY: {frames:?}"
    );
    assert!(
        started.elapsed() + EARLY >= bound,
        "closed early: {:?}",
        started.elapsed()
    );
}

/// An HTTP/2 frame.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len())
        .expect("small payload")
        .to_be_bytes();
    let mut f = vec![len[1], len[2], len[3], kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// Reads HTTP/2 frames as a well-behaved client would (acknowledging
/// SETTINGS and PING) until the server closes; returns (type, stream) of
/// each frame, or `None` if still open after `within`.
fn h2_until_closed(stream: &mut TcpStream, within: Duration) -> Option<Vec<(u8, u32)>> {
    let start = Instant::now();
    let mut buf = Vec::new();
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while buf.len() >= 9 {
            let len = usize::from(buf[0]) << 16 | usize::from(buf[1]) << 8 | usize::from(buf[2]);
            if buf.len() < 9 + len {
                break;
            }
            let (kind, flags) = (buf[3], buf[4]);
            let id = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) & 0x7fff_ffff;
            let payload = buf[9..9 + len].to_vec();
            buf.drain(..9 + len);
            seen.push((kind, id));
            let ack = match (kind, flags & 1) {
                (0x4, 0) => Some(frame(0x4, 1, 0, &[])),
                (0x6, 0) => Some(frame(0x6, 1, 0, &payload)),
                _ => None,
            };
            if let Some(ack) = ack {
                let _ = stream.write_all(&ack);
            }
        }
        let left = within.checked_sub(start.elapsed())?;
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("set_read_timeout");
        match stream.read(&mut chunk) {
            Ok(0) => return Some(seen),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return None
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Some(seen),
        }
    }
}

#[test]
fn trickling_heads_do_not_stop_a_new_client() {
    // The liveness requirement: with 300 connections trickling
    // their heads, a new client is answered within 1 s.
    let server = dev(
        "  http_read_header_timeout = \"2s\"\n  http_idle_timeout = \"60s\"",
        "",
    );
    let bound = Duration::from_secs(2);
    let mut tricklers: Vec<TcpStream> = (0..300).map(|_| connect(&server)).collect();
    let writers: Vec<TcpStream> = tricklers
        .iter()
        .map(|s| s.try_clone().expect("clone"))
        .collect();
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let trickle = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut writers = writers;
            for w in &mut writers {
                let _ = w.write_all(b"GET /v1/sys/health HTTP/1.1\r\nX-Slow: ");
            }
            while !stop.load(Ordering::Relaxed) {
                for w in &mut writers {
                    let _ = w.write_all(b"a");
                }
                thread::sleep(Duration::from_millis(100));
            }
        })
    };
    thread::sleep(Duration::from_millis(300));
    let asked = Instant::now();
    let mut client = connect(&server);
    client.write_all(health_request()).expect("write");
    let (status, _) = read_answer(&mut client, Duration::from_secs(10));
    let waited = asked.elapsed();
    assert!(status.contains(" 200 "), "{status}");
    assert!(
        waited < Duration::from_secs(1),
        "a new client waited {waited:?} behind 300 trickling connections"
    );
    // And each trickler is cut at the header timeout.
    for (i, t) in tricklers.iter_mut().enumerate() {
        let left = (bound + MARGIN).saturating_sub(started.elapsed());
        let ended = until_closed(t, left).unwrap_or_else(|| {
            panic!(
                "trickling connection {i} still open {:?} after start",
                started.elapsed()
            )
        });
        assert!(ended.bytes.is_empty(), "answered a head that never ended");
    }
    assert!(
        started.elapsed() + EARLY >= bound,
        "trickling connections closed before the 2 s bound: {:?}",
        started.elapsed()
    );
    stop.store(true, Ordering::Relaxed);
    trickle.join().expect("trickle thread");
}

#[test]
fn a_slow_body_is_cut_with_408() {
    let server = dev(
        "  http_read_timeout = \"1s\"\n  http_read_header_timeout = \"10s\"",
        "",
    );
    let bound = Duration::from_secs(1);
    let mut stream = connect(&server);
    let writer = stream.try_clone().expect("clone");
    let stop = Arc::new(AtomicBool::new(false));
    let trickle = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut w = writer;
            let head = "PUT /v1/secret/slow HTTP/1.1\r\nHost: coffer\r\n\
                        X-Vault-Token: e2e-root-token\r\nContent-Type: application/json\r\n\
                        Content-Length: 200\r\n\r\n{\"v\":\"";
            let _ = w.write_all(head.as_bytes());
            while !stop.load(Ordering::Relaxed) {
                if w.write_all(b"a").is_err() {
                    return;
                }
                thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let started = Instant::now();
    let (status, body) = read_answer(&mut stream, bound + MARGIN);
    let after = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    assert!(status.contains(" 408 "), "{status} {body}");
    assert!(body.contains("http_read_timeout (1s)"), "{body}");
    assert!(after + EARLY >= bound, "cut before the bound: {after:?}");
    // The connection is closed after the answer, and nothing was written.
    assert!(
        until_closed(&mut stream, MARGIN).is_some(),
        "connection still open after a 408"
    );
    trickle.join().expect("trickle thread");
    server.client().get("secret/slow").expect(404);
}

#[test]
fn a_tls_listener_closes_a_silent_connection_after_the_handshake_timeout() {
    let dir = ConfigDir::new("");
    openssl_self_signed(
        dir.path(),
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    );
    let text = dir.standard_config("").replace(
        "tls_disable = true",
        &format!(
            "tls_cert_file = \"{}\"\n  tls_key_file = \"{}\"\n  \
             tls_handshake_timeout = \"1s\"\n  http_read_header_timeout = \"30s\"",
            dir.path().join("cert.pem").display(),
            dir.path().join("key.pem").display()
        ),
    );
    dir.write_config(&text);
    let server =
        Server::start(&dir.args()).unwrap_or_else(|f| panic!("TLS server did not start: {f:#?}"));
    let bound = Duration::from_secs(1);
    let opened = Instant::now();
    let mut silent = connect(&server);
    // Half a TLS record header: a handshake that never finishes.
    let mut half = connect(&server);
    half.write_all(&[0x16, 0x03, 0x01]).expect("write");
    for (name, stream) in [("silent", &mut silent), ("half a ClientHello", &mut half)] {
        let left = (bound + MARGIN).saturating_sub(opened.elapsed());
        until_closed(stream, left)
            .unwrap_or_else(|| panic!("{name}: still open after {:?}", bound + MARGIN));
        assert!(
            opened.elapsed() + EARLY >= bound,
            "{name}: closed early, after {:?}",
            opened.elapsed()
        );
    }
}

#[test]
fn beyond_max_connections_clients_wait_and_are_served_when_one_closes() {
    let server = dev(
        "  max_connections = 8\n  http_read_header_timeout = \"30s\"",
        "",
    );
    let mut held: Vec<TcpStream> = (0..8).map(|_| connect(&server)).collect();
    // The ninth connects (the kernel's backlog) but is not served.
    let mut ninth = connect(&server);
    ninth.write_all(health_request()).expect("write");
    ninth
        .set_read_timeout(Some(Duration::from_secs(1)))
        .expect("set_read_timeout");
    let mut buf = [0u8; 64];
    match ninth.read(&mut buf) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("the ninth connection was served past max_connections = 8: {other:?}"),
    }
    // One closes: the ninth is served.
    drop(held.pop());
    let (status, _) = read_answer(&mut ninth, Duration::from_secs(10));
    assert!(status.contains(" 200 "), "{status}");
    drop(held);
    drop(ninth);
    server.anonymous().get("sys/health").expect(200);
}

#[test]
fn accept_errors_back_off_and_the_server_recovers() {
    let mut server = dev("  http_read_header_timeout = \"30s\"", "");
    // Few file descriptors: accepting soon fails with EMFILE.
    let status = Command::new("prlimit")
        .arg(format!("--pid={}", server.pid()))
        .arg("--nofile=64:64")
        .status()
        .expect("run prlimit (util-linux)");
    assert!(status.success(), "prlimit failed");
    let held: Vec<TcpStream> = (0..100).map(|_| connect(&server)).collect();
    thread::sleep(Duration::from_secs(2));
    let stderr = server.stderr();
    let failures = stderr.matches("accept failed").count();
    assert!(failures > 0, "accept never failed; stderr:\n{stderr}");
    // Backing off from 5 ms doubling to 1 s gives about ten failures in
    // 2 s; a spinning loop gives thousands.
    assert!(
        failures < 50,
        "{failures} accept failures in 2 s: the loop spins"
    );
    drop(held);
    assert!(server.is_running(), "the server died of EMFILE");
    server.anonymous().get("sys/health").expect(200);
}

#[test]
fn an_oversized_head_is_refused_with_431() {
    let server = dev("  http_max_header_bytes = \"16KiB\"", "");
    let c = server.anonymous();
    let big = "a".repeat(20 << 10);
    let r = c.send("GET", "sys/health", &[("X-Big", &big)], None);
    assert_eq!(r.status, 431, "{r:?}");
    // Below the cap is fine.
    let fine = "a".repeat(8 << 10);
    c.send("GET", "sys/health", &[("X-Big", &fine)], None)
        .expect(200);
    // HTTP/2 too (the cap is its max_header_list_size).
    let header = format!("X-Big: {big}");
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--http2-prior-knowledge"])
        .args(["-o", "/dev/null", "-w", "%{http_code}", "-H", &header])
        .arg(format!("{}/v1/sys/health", server.addr))
        .output()
        .expect("run curl");
    let code = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        code,
        "431",
        "HTTP/2 head over the cap; curl said {}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.anonymous().get("sys/health").expect(200);
}

#[test]
fn max_request_duration_answers_503_and_drops_the_handler() {
    let server = dev(
        "  max_request_duration = \"1s\"",
        "engine_call_timeout = \"30s\"",
    );
    let c = server.client();
    install_engine(&c, &server.plugin_dir(), MISBEHAVE_WASM, "misbehave");
    c.mount("bad", "misbehave");
    c.get("bad/ok").expect(200);
    let bound = Duration::from_secs(1);
    let started = Instant::now();
    let r = c.get("bad/loop");
    let after = started.elapsed();
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(
        r.errors(),
        vec!["request exceeded max_request_duration (1s)".to_string()]
    );
    assert!(
        after + EARLY >= bound,
        "answered before the bound: {after:?}"
    );
    assert!(after < bound + MARGIN, "answered after {after:?}");
    // The mount still serves.
    c.get("bad/ok").expect(200);
}

#[test]
fn sigterm_with_a_stuck_request_exits_within_graceful_shutdown_timeout() {
    let server = dev(
        "  max_request_duration = \"60s\"",
        "engine_call_timeout = \"60s\"\ngraceful_shutdown_timeout = \"1s\"",
    );
    let c = server.client();
    install_engine(&c, &server.plugin_dir(), MISBEHAVE_WASM, "misbehave");
    c.mount("bad", "misbehave");
    c.get("bad/ok").expect(200);
    let mut stuck = connect(&server);
    stuck
        .write_all(
            b"GET /v1/bad/loop HTTP/1.1\r\nHost: coffer\r\nX-Vault-Token: e2e-root-token\r\n\r\n",
        )
        .expect("write");
    // Let the call start (setup, not a measurement).
    thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let status = server.stop();
    let after = started.elapsed();
    assert!(
        status.is_some(),
        "the server did not exit within 15 s of SIGTERM"
    );
    assert!(
        after < Duration::from_secs(1) + MARGIN,
        "exit took {after:?} with graceful_shutdown_timeout = 1s"
    );
    // The request in flight was given its grace.
    assert!(
        after + EARLY >= Duration::from_secs(1),
        "exited after {after:?}, without waiting for the request in flight"
    );
    assert!(
        until_closed(&mut stuck, MARGIN).is_some(),
        "the stuck request's connection is still open"
    );
}
