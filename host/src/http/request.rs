//! Parsing: an HTTP request becomes an [`api::Request`] or a 4xx, before any
//! state is touched.

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE};
use percent_encoding::percent_decode_str;
use uuid::Uuid;

use crate::api::{self, ApiError, Method};

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
    check_path(&path)?;
    Ok(Head {
        method,
        path,
        query,
        token: token(&parts.headers),
    })
}

/// Refuses paths whose segments the policy check and the handler could
/// read differently: empty segments (`a//b`, also from `%2F`), `.` and
/// `..`, and control characters. (A trailing `/` on an engine path is
/// refused in `Server::handle`.) The path the ACL sees is then the path
/// that is served.
pub fn check_path(path: &str) -> Result<(), ApiError> {
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    if path.chars().any(char::is_control) {
        return Err(ApiError::bad("request path contains control characters"));
    }
    if !trimmed.is_empty()
        && trimmed
            .split('/')
            .any(|segment| segment.is_empty() || segment == "." || segment == "..")
    {
        return Err(ApiError::bad(format!(
            "invalid request path {path:?}: empty, '.' and '..' segments are not allowed"
        )));
    }
    Ok(())
}

/// Reads and checks the body: at most `limit` bytes (the listener's
/// `max_request_size`) of one JSON object (empty or `null` means `{}`).
/// Returns its text. How long the body may take is bounded by the caller.
pub async fn body(body: Incoming, limit: usize) -> Result<String, ApiError> {
    check_json_body(&read(body, limit).await?)
}

/// Reads a body for a contract-0.2 engine as it comes: at most `limit`
/// bytes, anything else unchecked (the engine parses it).
pub async fn raw_body(body: Incoming, limit: usize) -> Result<Bytes, ApiError> {
    read(body, limit).await
}

/// The request's `Content-Type` without parameters, lower-case; `None`
/// when there is none (or it is empty or not text).
pub fn content_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let media = value.split(';').next()?.trim().to_ascii_lowercase();
    (!media.is_empty()).then_some(media)
}

/// The request's headers among `wanted` (lower-case names), as
/// `(name, value)` pairs: grouped by name in the order of `wanted`, a
/// repeated header's values in the order they came. A value that is not
/// visible ASCII is left out. (Credentials never are in `wanted`.)
pub fn select_headers(headers: &HeaderMap, wanted: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for name in wanted {
        for value in headers.get_all(name.as_str()) {
            if let Ok(v) = value.to_str() {
                out.push((name.clone(), v.to_string()));
            }
        }
    }
    out
}

/// At most `limit` bytes of body; 413 beyond.
async fn read(body: Incoming, limit: usize) -> Result<Bytes, ApiError> {
    let bytes: Bytes = match Limited::new(body, limit).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                return Err(ApiError::TooLarge(format!(
                    "request body is larger than max_request_size ({limit} bytes)"
                )));
            }
            return Err(ApiError::bad(format!("cannot read request body: {e}")));
        }
    };
    Ok(bytes)
}

/// Checks that a body is one JSON object (or empty, or `null`) without
/// building it, and returns its text; engines parse it themselves.
pub fn check_json_body(bytes: &[u8]) -> Result<String, ApiError> {
    let not_object = || ApiError::bad("failed to parse JSON input: the body must be a JSON object");
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => return Ok("{}".to_string()),
        Some(b'{') | Some(b'n') => {}
        Some(_) => return Err(not_object()),
    }
    let raw: &serde_json::value::RawValue = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad(format!("failed to parse JSON input: {e}")))?;
    match raw.get() {
        "null" => Ok("{}".to_string()),
        text if text.starts_with('{') => Ok(text.to_string()),
        _ => Err(not_object()),
    }
}

/// Assembles the domain request.
pub fn assemble(
    id: Uuid,
    head: Head,
    body: String,
    raw: Option<api::RawBody>,
    admission: Option<crate::sandbox::Admission>,
) -> api::Request {
    api::Request {
        id,
        method: head.method,
        path: head.path,
        body,
        raw,
        query: head.query,
        token: head.token,
        admission,
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
        // `?list` alone is a list, as in Vault; otherwise Go's ParseBool
        // (hvac's `client.list` sends `list=True`).
        match v.as_str() {
            "" => flag = true,
            other => match coffer_rules::parse_bool(other) {
                Some(b) => flag = b,
                None => {
                    err = Some(ApiError::bad(format!(
                        "invalid value for \"list\": {other:?}: use true or false"
                    )))
                }
            },
        }
        false
    });
    match err {
        Some(e) => Err(e),
        None => Ok(flag),
    }
}

#[cfg(test)]
mod fuzz;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bodies_must_be_json_objects() {
        assert_eq!(check_json_body(b"").unwrap(), "{}");
        assert_eq!(check_json_body(b"  \n").unwrap(), "{}");
        assert_eq!(check_json_body(b"null").unwrap(), "{}");
        assert_eq!(check_json_body(b" {\"a\":1} ").unwrap(), "{\"a\":1}");
        assert_eq!(check_json_body(b"{bad").unwrap_err().status(), 400);
        assert_eq!(check_json_body(b"{\"a\":1} x").unwrap_err().status(), 400);
        assert_eq!(check_json_body(b"[1]").unwrap_err().status(), 400);
        assert_eq!(check_json_body(b"nul").unwrap_err().status(), 400);
        assert_eq!(check_json_body(b"\xff").unwrap_err().status(), 400);
    }

    #[test]
    fn content_type_and_selected_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(content_type(&h), None);
        h.insert(
            CONTENT_TYPE,
            "Application/OCSP-Request ; q=1".parse().unwrap(),
        );
        assert_eq!(
            content_type(&h).as_deref(),
            Some("application/ocsp-request")
        );
        h.insert(CONTENT_TYPE, " ; x=y".parse().unwrap());
        assert_eq!(content_type(&h), None);
        h.append("x-a", "1".parse().unwrap());
        h.append("x-b", "2".parse().unwrap());
        h.append("x-a", "3".parse().unwrap());
        h.append("x-c", "4".parse().unwrap());
        let wanted = [
            "x-b".to_string(),
            "x-a".to_string(),
            "x-missing".to_string(),
        ];
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert_eq!(
            select_headers(&h, &wanted),
            pairs(&[("x-b", "2"), ("x-a", "1"), ("x-a", "3")])
        );
        assert!(select_headers(&h, &[]).is_empty());
    }

    #[test]
    fn paths_with_ambiguous_segments_are_refused() {
        for bad in ["a//b", "/a", "a/./b", "a/../b", "..", "a/b//", "a/\u{0}b"] {
            assert!(super::check_path(bad).is_err(), "{bad:?}");
        }
        for good in ["a/b", "a/b/", "sys/mounts", "a.b/c..d"] {
            assert!(super::check_path(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn list_flag_is_taken_from_the_query() {
        let mut q = parse_query("list=true&x=a%20b+c").unwrap();
        assert!(take_list_flag(&mut q).unwrap());
        assert_eq!(q, vec![("x".to_string(), "a b c".to_string())]);
        let mut q = parse_query("list=maybe").unwrap();
        assert_eq!(take_list_flag(&mut q).unwrap_err().status(), 400);
        // Every spelling Go's ParseBool takes; hvac sends `True`.
        for yes in ["1", "t", "T", "TRUE", "true", "True", ""] {
            let mut q = parse_query(&format!("list={yes}")).unwrap();
            assert!(take_list_flag(&mut q).unwrap(), "{yes:?}");
        }
        for no in ["0", "f", "F", "FALSE", "false", "False"] {
            let mut q = parse_query(&format!("list={no}")).unwrap();
            assert!(!take_list_flag(&mut q).unwrap(), "{no:?}");
        }
    }
}
