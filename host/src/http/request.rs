//! Parsing: an HTTP request becomes an [`api::Request`] or a 4xx, before any
//! state is touched.

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, AUTHORIZATION};
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::api::{self, ApiError, Method};

/// The largest request body accepted, as Vault's default `max_request_size`.
pub const MAX_BODY: usize = 32 << 20;

/// The request line and headers, parsed.
pub struct Head {
    /// The verb.
    pub method: Method,
    /// The path after `/v1/`, decoded.
    pub path: String,
    /// Query parameters without `list`.
    pub query: Vec<(String, String)>,
    /// The client token.
    pub token: Option<String>,
}

/// Parses the request line and headers: everything but the body.
pub fn head(parts: &hyper::http::request::Parts) -> Result<Head, ApiError> {
    let raw_path = parts.uri.path();
    let Some(rest) = raw_path.strip_prefix("/v1/") else {
        return Err(ApiError::NotFound(None));
    };
    let path = percent_decode_str(rest)
        .decode_utf8()
        .map_err(|_| ApiError::bad("request path is not valid UTF-8"))?
        .into_owned();
    let mut query = parse_query(parts.uri.query().unwrap_or_default())?;
    let list_flag = take_list_flag(&mut query)?;
    let method = match parts.method.as_str() {
        "GET" | "HEAD" if list_flag => Method::List,
        "GET" | "HEAD" => Method::Read,
        "POST" | "PUT" => Method::Write,
        "DELETE" => Method::Delete,
        "LIST" => Method::List,
        "PATCH" => Method::Patch,
        _ => return Err(ApiError::unsupported()),
    };
    Ok(Head {
        method,
        path,
        query,
        token: token(&parts.headers),
    })
}

/// Reads and parses the body: at most [`MAX_BODY`] bytes of a JSON object
/// (empty means `{}`).
pub async fn body(body: Incoming) -> Result<Map<String, Value>, ApiError> {
    let bytes: Bytes = match Limited::new(body, MAX_BODY).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                return Err(ApiError::TooLarge(format!(
                    "request body is larger than the limit of {MAX_BODY} bytes"
                )));
            }
            return Err(ApiError::bad(format!("cannot read request body: {e}")));
        }
    };
    parse_json_body(&bytes)
}

/// The JSON object in a body.
pub fn parse_json_body(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(_) => Err(ApiError::bad(
            "failed to parse JSON input: the body must be a JSON object",
        )),
        Err(e) => Err(ApiError::bad(format!("failed to parse JSON input: {e}"))),
    }
}

/// Assembles the domain request.
pub fn assemble(head: Head, data: Map<String, Value>) -> api::Request {
    api::Request {
        id: Uuid::new_v4(),
        method: head.method,
        path: head.path,
        data,
        query: head.query,
        token: head.token,
    }
}

fn token(headers: &HeaderMap) -> Option<String> {
    if let Some(t) = headers.get("x-vault-token").and_then(|v| v.to_str().ok()) {
        if !t.is_empty() {
            return Some(t.to_string());
        }
    }
    let auth = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, value) = auth.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") && !value.trim().is_empty() {
        Some(value.trim().to_string())
    } else {
        None
    }
}

fn parse_query(q: &str) -> Result<Vec<(String, String)>, ApiError> {
    let decode = |s: &str| -> Result<String, ApiError> {
        let s = s.replace('+', " ");
        percent_decode_str(&s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| ApiError::bad("query string is not valid UTF-8"))
    };
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => Ok((decode(k)?, decode(v)?)),
            None => Ok((decode(pair)?, String::new())),
        })
        .collect()
}

/// Removes `list` from the query; `true` means the GET is a LIST.
fn take_list_flag(query: &mut Vec<(String, String)>) -> Result<bool, ApiError> {
    let mut flag = false;
    let mut err = None;
    query.retain(|(k, v)| {
        if k != "list" {
            return true;
        }
        match v.as_str() {
            "true" | "1" | "t" | "" => flag = true,
            "false" | "0" | "f" => {}
            other => {
                err = Some(ApiError::bad(format!(
                    "invalid value for \"list\": {other:?}"
                )))
            }
        }
        false
    });
    match err {
        Some(e) => Err(e),
        None => Ok(flag),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bodies_must_be_json_objects() {
        assert!(parse_json_body(b"").unwrap().is_empty());
        assert!(parse_json_body(b"  \n").unwrap().is_empty());
        assert_eq!(parse_json_body(b"{\"a\":1}").unwrap().len(), 1);
        assert_eq!(parse_json_body(b"{bad").unwrap_err().status(), 400);
        assert_eq!(parse_json_body(b"[1]").unwrap_err().status(), 400);
    }

    #[test]
    fn list_flag_is_taken_from_the_query() {
        let mut q = parse_query("list=true&x=a%20b+c").unwrap();
        assert!(take_list_flag(&mut q).unwrap());
        assert_eq!(q, vec![("x".to_string(), "a b c".to_string())]);
        let mut q = parse_query("list=maybe").unwrap();
        assert_eq!(take_list_flag(&mut q).unwrap_err().status(), 400);
    }
}
