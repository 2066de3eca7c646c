//! The benchmark's native floor: the least a server must do to answer a
//! Vault KV v1 read, with the same stack as Coffer's `http/` (tokio's
//! multi-threaded runtime, hyper 1 via hyper-util's auto HTTP/1+2 builder,
//! serde_json) but no auth table, router, sandbox or storage: secrets live in
//! a `HashMap` behind an `RwLock`, and the token is one string compared.
//!
//! `bench/run.sh` measures Coffer against this to estimate what the engine
//! call (wasm instance, host calls, redb snapshot) costs per request.
//!
//! ```text
//! cargo run --release -p coffer-host --example bench_floor -- [127.0.0.1:0] [token]
//! ```
//!
//! It prints `Api Address: http://127.0.0.1:PORT` and `Coffer bench floor
//! started`, then serves `GET/POST/PUT/DELETE /v1/<path>` (JSON object
//! bodies, 204 on writes, 404 for missing keys, 403 on a wrong token) and
//! `GET /v1/sys/health`, until killed.
//!
//! It also answers the Transit requests the benchmark sends, doing the same
//! JSON and cryptography in-process with `coffer_host::crypto` (what the
//! `transit` engine's host calls run) and nothing else: no key storage, no
//! policy, no versions beyond `v1`.
//!
//! - `POST /v1/transit/keys/<name>` `{"type": ...}`: makes a key in memory
//!   (`aes256-gcm96` by default, `ecdsa-p256` or `ed25519`);
//! - `POST /v1/transit/encrypt/<name>` `{"plaintext"}` or `{"batch_input"}`:
//!   AES-256-GCM with a random 12-byte nonce, `vault:v1:` + base64(nonce ||
//!   ciphertext || tag);
//! - `POST /v1/transit/decrypt/<name>` `{"ciphertext"}` or `{"batch_input"}`;
//! - `POST /v1/transit/sign/<name>` `{"input"}`: SHA-256 ECDSA (ASN.1) or
//!   Ed25519, `vault:v1:` + base64;
//! - `POST /v1/transit/verify/<name>` `{"input", "signature"}`: `{"valid"}`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, RwLock};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::Bytes;
use coffer_host::crypto::{
    aead_open, aead_seal, AeadAlgorithm, KeyType, PrivateKey, PublicKey, SignOptions,
};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;

/// The body cap, as Coffer's.
const MAX_BODY: usize = 32 << 20;

struct State {
    token: String,
    secrets: RwLock<HashMap<String, Map<String, Value>>>,
    keys: RwLock<HashMap<String, Arc<TransitKey>>>,
}

/// A Transit key of the floor: one version, in memory.
enum TransitKey {
    Aes256Gcm([u8; 32]),
    Asymmetric(Box<PrivateKey>, PublicKey),
}

/// The ciphertext and signature prefix: key version 1, always.
const PREFIX: &str = "vault:v1:";

/// A Transit request, or one item of its `batch_input`: the fields the
/// benchmark sends, parsed by serde.
#[derive(Deserialize)]
struct TransitItem {
    plaintext: Option<String>,
    ciphertext: Option<String>,
    input: Option<String>,
    signature: Option<String>,
}

#[derive(Deserialize)]
struct TransitRequest {
    #[serde(flatten)]
    item: TransitItem,
    batch_input: Option<Vec<TransitItem>>,
    r#type: Option<String>,
}

#[derive(Clone, Copy)]
enum Op {
    Encrypt,
    Decrypt,
    Sign,
    Verify,
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:0".into());
    let token = args.next().unwrap_or_else(|| "root".into());
    let listener = TcpListener::bind(&addr).await.expect("bind");
    let local = listener.local_addr().expect("local address");
    println!("Api Address: http://{local}");
    println!("Root Token: {token}");
    println!("Coffer bench floor started");
    let state = Arc::new(State {
        token,
        secrets: RwLock::new(HashMap::new()),
        keys: RwLock::new(HashMap::new()),
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let builder = builder.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(&state, req).await) }
            });
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(path) = req.uri().path().strip_prefix("/v1/").map(str::to_string) else {
        return error(StatusCode::NOT_FOUND, "no handler for route");
    };
    if path == "sys/health" {
        return json_response(
            StatusCode::OK,
            &json!({"initialized": true, "sealed": false, "standby": false}),
        );
    }
    let token = req
        .headers()
        .get("x-vault-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if token != state.token {
        return error(StatusCode::FORBIDDEN, "permission denied");
    }
    if let Some(rest) = path.strip_prefix("transit/") {
        if *req.method() == Method::POST || *req.method() == Method::PUT {
            let rest = rest.to_string();
            return transit(state, &rest, req).await;
        }
    }
    match *req.method() {
        Method::GET => {
            let found = state.secrets.read().unwrap().get(&path).cloned();
            match found {
                Some(data) => json_response(StatusCode::OK, &envelope(Value::Object(data))),
                None => json_response(StatusCode::NOT_FOUND, &json!({"errors": []})),
            }
        }
        Method::POST | Method::PUT => {
            let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => return error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
            };
            match serde_json::from_slice::<Map<String, Value>>(&body) {
                Ok(data) => {
                    state.secrets.write().unwrap().insert(path, data);
                    empty(StatusCode::NO_CONTENT)
                }
                Err(e) => error(
                    StatusCode::BAD_REQUEST,
                    &format!("failed to parse JSON input: {e}"),
                ),
            }
        }
        Method::DELETE => {
            state.secrets.write().unwrap().remove(&path);
            empty(StatusCode::NO_CONTENT)
        }
        _ => error(StatusCode::METHOD_NOT_ALLOWED, "unsupported operation"),
    }
}

/// `POST /v1/transit/<op>/<name>`.
async fn transit(state: &State, rest: &str, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let Some((op, name)) = rest.split_once('/') else {
        return error(StatusCode::NOT_FOUND, "no handler for route");
    };
    let op = match op {
        "keys" => None,
        "encrypt" => Some(Op::Encrypt),
        "decrypt" => Some(Op::Decrypt),
        "sign" => Some(Op::Sign),
        "verify" => Some(Op::Verify),
        _ => return error(StatusCode::NOT_FOUND, "no handler for route"),
    };
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
    };
    let request: TransitRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("failed to parse JSON input: {e}"),
            )
        }
    };
    let Some(op) = op else {
        return match create_key(request.r#type.as_deref().unwrap_or("aes256-gcm96")) {
            Ok(key) => {
                state
                    .keys
                    .write()
                    .unwrap()
                    .insert(name.to_string(), Arc::new(key));
                empty(StatusCode::NO_CONTENT)
            }
            Err(e) => error(StatusCode::BAD_REQUEST, &e),
        };
    };
    let Some(key) = state.keys.read().unwrap().get(name).cloned() else {
        return error(StatusCode::BAD_REQUEST, "encryption key not found");
    };
    let data = match request.batch_input {
        Some(items) => {
            let mut results = Vec::with_capacity(items.len());
            for item in &items {
                match run(&key, op, item) {
                    Ok(Value::Object(mut result)) => {
                        result.insert("reference".into(), Value::String(String::new()));
                        results.push(Value::Object(result));
                    }
                    Ok(other) => results.push(other),
                    Err(e) => results.push(json!({ "error": e })),
                }
            }
            json!({ "batch_results": results })
        }
        None => match run(&key, op, &request.item) {
            Ok(data) => data,
            Err(e) => return error(StatusCode::BAD_REQUEST, &e),
        },
    };
    let mut body = envelope(data);
    body["mount_type"] = Value::String("transit".into());
    json_response(StatusCode::OK, &body)
}

fn create_key(kind: &str) -> Result<TransitKey, String> {
    let key_type = match kind {
        "aes256-gcm96" => return Ok(TransitKey::Aes256Gcm(rand::random())),
        "ecdsa-p256" => KeyType::EcdsaP256,
        "ed25519" => KeyType::Ed25519,
        other => return Err(format!("unsupported key type {other} in the bench floor")),
    };
    let private = PrivateKey::generate(key_type).map_err(|e| e.to_string())?;
    let public = private.public_key();
    Ok(TransitKey::Asymmetric(Box::new(private), public))
}

fn field<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, String> {
    value
        .as_deref()
        .ok_or_else(|| format!("missing {name} to operate on"))
}

fn decode(text: &str) -> Result<Vec<u8>, String> {
    B64.decode(text).map_err(|e| format!("invalid base64: {e}"))
}

/// The bytes of a `vault:v1:` value.
fn versioned(text: &str) -> Result<Vec<u8>, String> {
    decode(
        text.strip_prefix(PREFIX)
            .ok_or("invalid value: no vault:v1: prefix")?,
    )
}

/// One encrypt, decrypt, sign or verify.
fn run(key: &TransitKey, op: Op, item: &TransitItem) -> Result<Value, String> {
    match (op, key) {
        (Op::Encrypt, TransitKey::Aes256Gcm(k)) => {
            let plaintext = decode(field(&item.plaintext, "plaintext")?)?;
            let nonce: [u8; 12] = rand::random();
            let sealed = aead_seal(AeadAlgorithm::Aes256Gcm, k, &nonce, &plaintext, &[])
                .map_err(|e| e.to_string())?;
            let mut out = Vec::with_capacity(nonce.len() + sealed.len());
            out.extend_from_slice(&nonce);
            out.extend_from_slice(&sealed);
            Ok(json!({
                "ciphertext": format!("{PREFIX}{}", B64.encode(out)),
                "key_version": 1,
            }))
        }
        (Op::Decrypt, TransitKey::Aes256Gcm(k)) => {
            let raw = versioned(field(&item.ciphertext, "ciphertext")?)?;
            if raw.len() < 12 {
                return Err("invalid ciphertext: too short".into());
            }
            let (nonce, sealed) = raw.split_at(12);
            let plaintext = aead_open(AeadAlgorithm::Aes256Gcm, k, nonce, sealed, &[])
                .map_err(|e| e.to_string())?;
            Ok(json!({ "plaintext": B64.encode(plaintext) }))
        }
        (Op::Sign, TransitKey::Asymmetric(private, _)) => {
            let input = decode(field(&item.input, "input")?)?;
            let signature = private
                .sign(&input, &SignOptions::default())
                .map_err(|e| e.to_string())?;
            Ok(json!({
                "signature": format!("{PREFIX}{}", B64.encode(signature)),
                "key_version": 1,
            }))
        }
        (Op::Verify, TransitKey::Asymmetric(_, public)) => {
            let input = decode(field(&item.input, "input")?)?;
            let signature = versioned(field(&item.signature, "signature")?)?;
            let valid = public
                .verify(&input, &signature, &SignOptions::default())
                .map_err(|e| e.to_string())?;
            Ok(json!({ "valid": valid }))
        }
        _ => Err("operation not supported by this key type".into()),
    }
}

/// Vault's success envelope, the same fields Coffer renders.
fn envelope(data: Value) -> Value {
    json!({
        "request_id": uuid::Uuid::new_v4().to_string(),
        "lease_id": "",
        "renewable": false,
        "lease_duration": 0,
        "data": data,
        "wrap_info": null,
        "warnings": null,
        "auth": null,
        "mount_type": "kv",
    })
}

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    json_response(status, &json!({ "errors": [message] }))
}

fn empty(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}
