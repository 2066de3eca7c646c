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

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;

/// The body cap, as Coffer's.
const MAX_BODY: usize = 32 << 20;

struct State {
    token: String,
    secrets: RwLock<HashMap<String, Map<String, Value>>>,
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
