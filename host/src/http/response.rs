//! Rendering: the only place that knows Vault's JSON envelope.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Response, StatusCode};
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
        }) => envelope(request_id, status, data, warnings, top_level, mount_type),
        Ok(Reply::Empty { warnings }) if warnings.is_empty() => bytes(204, None, Bytes::new()),
        Ok(Reply::Empty { warnings }) => {
            envelope(request_id, 200, Value::Null, warnings, None, mount_type)
        }
        Ok(Reply::Raw {
            status,
            content_type,
            body,
        }) => bytes(status, Some(&content_type), Bytes::from(body)),
        Ok(Reply::Bare { status, body }) => json_response(status, &body),
        Err(e) => error(&e),
    }
}

/// `{"errors": [...]}` with the error's status.
pub fn error(e: &ApiError) -> Response<Full<Bytes>> {
    json_response(e.status(), &json!({ "errors": e.messages() }))
}

fn envelope(
    request_id: Uuid,
    status: u16,
    data: Value,
    warnings: Vec<String>,
    top_level: Option<Map<String, Value>>,
    mount_type: &str,
) -> Response<Full<Bytes>> {
    let mut body = top_level.unwrap_or_default();
    body.insert("request_id".into(), Value::String(request_id.to_string()));
    body.insert("lease_id".into(), Value::String(String::new()));
    body.insert("renewable".into(), Value::Bool(false));
    body.insert("lease_duration".into(), json!(0));
    body.insert("data".into(), data);
    body.insert("wrap_info".into(), Value::Null);
    body.insert(
        "warnings".into(),
        if warnings.is_empty() {
            Value::Null
        } else {
            json!(warnings)
        },
    );
    body.insert("auth".into(), Value::Null);
    body.insert("mount_type".into(), Value::String(mount_type.to_string()));
    json_response(status, &Value::Object(body))
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
