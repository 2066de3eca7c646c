//! Rendering: the only place that knows Vault's JSON envelope.
//!
//! Headers an engine set (contract 0.2) are added to its answer after the
//! host's own: a name the host owns or a hop-by-hop one never gets here
//! (the sandbox answers a 500 naming it, see
//! [`crate::api::check_engine_header`], which holds the rule), and one
//! that still would not make a valid header is dropped. An engine's
//! `cache-control` replaces the host's `no-store`; other names are added,
//! repeated names kept in order.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde::Serialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::api::{ApiError, ApiResult, Reply};

/// The HTTP response for a handled request.
pub fn render(request_id: Uuid, result: ApiResult, mount_type: &str) -> Response<Full<Bytes>> {
    match result {
        Ok(Reply::Data {
            status,
            data,
            warnings,
            top_level,
        }) => envelope(
            request_id, status, data, warnings, top_level, None, mount_type,
        ),
        Ok(Reply::EngineData {
            status,
            data,
            warnings,
            headers,
        }) => with_headers(
            envelope(request_id, status, data, warnings, None, None, mount_type),
            headers,
        ),
        Ok(Reply::Auth { auth, warnings }) => envelope(
            request_id,
            200,
            Value::Null,
            warnings,
            None,
            Some(auth),
            mount_type,
        ),
        Ok(Reply::Empty {
            status,
            warnings,
            headers,
        }) if warnings.is_empty() => {
            // Vault answers a response with nothing in it 204.
            let status = if status == 200 { 204 } else { status };
            with_headers(bytes(status, None, Bytes::new()), headers)
        }
        Ok(Reply::Empty {
            status,
            warnings,
            headers,
        }) => with_headers(
            envelope(
                request_id,
                status,
                Value::Null,
                warnings,
                None,
                None,
                mount_type,
            ),
            headers,
        ),
        Ok(Reply::Raw {
            status,
            content_type,
            body,
            headers,
        }) => with_headers(
            bytes(status, Some(&content_type), Bytes::from(body)),
            headers,
        ),
        Ok(Reply::Bare { status, body }) => json_response(status, &body),
        Err(e) => error(&e),
    }
}

/// Adds an engine's headers (see the module doc for the rule).
fn with_headers(
    mut response: Response<Full<Bytes>>,
    headers: Vec<(String, String)>,
) -> Response<Full<Bytes>> {
    let mut replaced_cache_control = false;
    for (name, value) in headers {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) else {
            continue;
        };
        if crate::api::HOST_HEADERS.contains(&name.as_str()) {
            continue;
        }
        if name == CACHE_CONTROL && !replaced_cache_control {
            response.headers_mut().remove(CACHE_CONTROL);
            replaced_cache_control = true;
        }
        response.headers_mut().append(name, value);
    }
    response
}

/// `{"errors": [...]}` with the error's status.
pub fn error(e: &ApiError) -> Response<Full<Bytes>> {
    let mut response = json_response(e.status(), &json!({ "errors": e.messages() }));
    if let Some(secs) = e.retry_after() {
        response
            .headers_mut()
            .insert(hyper::header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// Vault's response envelope; `top_level` fields come first (Vault repeats
/// `sys/mounts` data there for old clients).
#[derive(Serialize)]
struct Envelope<'a, D: Serialize> {
    #[serde(flatten)]
    top_level: Option<Map<String, Value>>,
    request_id: String,
    lease_id: &'static str,
    renewable: bool,
    lease_duration: u64,
    data: D,
    wrap_info: Option<()>,
    warnings: Option<Vec<String>>,
    auth: Option<Value>,
    mount_type: &'a str,
}

fn envelope<D: Serialize>(
    request_id: Uuid,
    status: u16,
    data: D,
    warnings: Vec<String>,
    top_level: Option<Map<String, Value>>,
    auth: Option<Value>,
    mount_type: &str,
) -> Response<Full<Bytes>> {
    let body = Envelope {
        top_level,
        request_id: request_id.to_string(),
        lease_id: "",
        renewable: false,
        lease_duration: 0,
        data,
        wrap_info: None,
        warnings: if warnings.is_empty() {
            None
        } else {
            Some(warnings)
        },
        auth,
        mount_type,
    };
    let text =
        serde_json::to_vec(&body).unwrap_or_else(|_| b"{\"errors\":[\"internal error\"]}".to_vec());
    bytes(status, Some("application/json"), Bytes::from(text))
}

fn json_response(status: u16, body: &Value) -> Response<Full<Bytes>> {
    let text =
        serde_json::to_vec(body).unwrap_or_else(|_| b"{\"errors\":[\"internal error\"]}".to_vec());
    bytes(status, Some("application/json"), Bytes::from(text))
}

fn bytes(status: u16, content_type: Option<&str>, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    if let Some(ct) = content_type {
        if let Ok(v) = HeaderValue::from_str(ct) {
            headers.insert(CONTENT_TYPE, v);
        }
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
