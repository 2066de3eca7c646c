//! The domain types a request becomes once `http/` has parsed it, and what
//! handlers answer. No JSON envelope and no hyper type appears here: `http/`
//! converts at the edge.

use serde_json::{Map, Value};
use uuid::Uuid;

/// What the HTTP verb asks, before create and update are told apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// GET (without `?list=true`).
    Read,
    /// POST or PUT.
    Write,
    /// DELETE.
    Delete,
    /// LIST, or GET with `?list=true`.
    List,
    /// PATCH.
    Patch,
}

/// A parsed API request: the path is relative to `/v1/`, already decoded.
#[derive(Debug)]
pub struct Request {
    /// Fresh per request; echoed in the envelope and logs.
    pub id: Uuid,
    /// The verb.
    pub method: Method,
    /// Path after `/v1/`, with no leading slash.
    pub path: String,
    /// The JSON body: the client's text, checked to be one JSON object
    /// (`{}` when there was none). Engines get it as it is; the host's own
    /// handlers parse it with [`Request::data`].
    pub body: String,
    /// Query parameters, decoded, `list` removed.
    pub query: Vec<(String, String)>,
    /// The client token, from `X-Vault-Token` or `Authorization: Bearer`.
    pub token: Option<String>,
    /// For a request to a contract-0.2 engine: its body as it came, with
    /// its content type and the headers the engine asked for (`body` is
    /// then `{}`: the engine parses the bytes). `None` for host paths and
    /// 0.1 engines, whose bodies must be JSON objects.
    pub raw: Option<RawBody>,
    /// The place an engine request took in its mount's queue before its
    /// body was read ([`crate::server::Server::admit`]); `None` for host
    /// paths, or when none was taken (one is then taken at the call).
    pub admission: Option<crate::sandbox::Admission>,
}

impl Request {
    /// The body as a JSON object.
    pub fn data(&self) -> Result<Map<String, Value>, ApiError> {
        match serde_json::from_str::<Value>(&self.body) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(Value::Null) => Ok(Map::new()),
            Ok(_) => Err(ApiError::bad(
                "failed to parse JSON input: the body must be a JSON object",
            )),
            Err(e) => Err(ApiError::bad(format!("failed to parse JSON input: {e}"))),
        }
    }
}

/// A request body as it came, for an engine that takes any body (contract
/// 0.2): checked for nothing but its size.
#[derive(Clone, Debug, Default)]
pub struct RawBody {
    /// The bytes (shared, not copied, on their way to the engine).
    pub bytes: bytes::Bytes,
    /// The `Content-Type` without parameters, lower-case; `None` without one.
    pub content_type: Option<String>,
    /// The headers the engine listed in its description (names
    /// lower-case, in the order they came), credentials never among them.
    pub headers: Vec<(String, String)>,
}

/// A successful answer.
#[derive(Debug)]
pub enum Reply {
    /// `data` in the envelope, with a status (200 unless an engine says).
    Data {
        /// HTTP status.
        status: u16,
        /// The envelope's `data`.
        data: Value,
        /// The envelope's `warnings`.
        warnings: Vec<String>,
        /// Extra top-level envelope fields (Vault repeats `sys/mounts` data
        /// at the top level for old clients; `auth` blocks later).
        top_level: Option<Map<String, Value>>,
    },
    /// An engine's `data`, as the JSON text it produced (checked to be JSON),
    /// placed in the envelope without being parsed and written again.
    EngineData {
        /// HTTP status.
        status: u16,
        /// The envelope's `data`.
        data: Box<serde_json::value::RawValue>,
        /// The envelope's `warnings`.
        warnings: Vec<String>,
        /// Headers an engine set (checked by [`check_engine_header`]).
        headers: Vec<(String, String)>,
    },
    /// A token was issued or renewed: the envelope's `auth` block, 200.
    Auth {
        /// The `auth` block.
        auth: Value,
        /// The envelope's `warnings`.
        warnings: Vec<String>,
    },
    /// No body: 204, or 200 with warnings only; an engine's other status
    /// (a 0.2 engine's 201 or 202) is answered as it is, with an empty
    /// body or the warnings.
    Empty {
        /// The status: 200 unless an engine chose another.
        status: u16,
        /// Warnings, if any.
        warnings: Vec<String>,
        /// Headers an engine set (checked by [`check_engine_header`]).
        headers: Vec<(String, String)>,
    },
    /// A body sent as it is.
    Raw {
        /// HTTP status.
        status: u16,
        /// Its content type.
        content_type: String,
        /// The bytes.
        body: Vec<u8>,
        /// Headers an engine set (checked by [`check_engine_header`]).
        headers: Vec<(String, String)>,
    },
    /// A JSON document sent as it is, without the envelope (`sys/health`,
    /// `sys/seal-status` answer this way in Vault).
    Bare {
        /// HTTP status.
        status: u16,
        /// The document.
        body: Value,
    },
}

impl Reply {
    /// 200 with `data`.
    pub fn data(data: Value) -> Self {
        Reply::Data {
            status: 200,
            data,
            warnings: Vec::new(),
            top_level: None,
        }
    }

    /// 200 with an `auth` block.
    pub fn auth(auth: Value, warnings: Vec<String>) -> Self {
        Reply::Auth { auth, warnings }
    }

    /// 204.
    pub fn empty() -> Self {
        Reply::Empty {
            status: 200,
            warnings: Vec::new(),
            headers: Vec::new(),
        }
    }
}

/// Response headers the host owns or that belong to one connection hop:
/// an engine may not set them (the host answers a 500 naming the header).
pub const HOST_HEADERS: &[&str] = &[
    // Framing and content: the host writes them from the body.
    "content-length",
    "content-type",
    "transfer-encoding",
    "content-encoding",
    // Hop-by-hop (RFC 9110 section 7.6.1), and HTTP/2's pseudo-free set.
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "proxy-authenticate",
    // Security and the host's own.
    "set-cookie",
    "strict-transport-security",
    "retry-after",
    "date",
    "server",
];

/// Whether an engine may send this response header: a lower-case HTTP
/// token (RFC 9110's `tchar`s) not in [`HOST_HEADERS`], with a value of
/// visible ASCII, spaces and tabs (no line breaks, no control characters,
/// nothing beyond ASCII), at most 8 KiB. The error names the header.
pub fn check_engine_header(name: &str, value: &str) -> Result<(), String> {
    let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(tchar) {
        return Err(format!("engine set a header with an invalid name {name:?}"));
    }
    if name.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!(
            "engine set header {name:?}: names must be lower-case"
        ));
    }
    if HOST_HEADERS.contains(&name) {
        return Err(format!("engine set header {name:?}, which the host owns"));
    }
    if value.len() > 8192
        || !value
            .chars()
            .all(|c| c == ' ' || c == '\t' || c.is_ascii_graphic())
    {
        return Err(format!("engine set header {name:?} with an invalid value"));
    }
    Ok(())
}

/// Why a request failed; the variant decides the status code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// 400: the request is malformed or impossible.
    BadRequest(String),
    /// 403 `permission denied`.
    PermissionDenied,
    /// 403 with another message (`bad token`).
    Forbidden(String),
    /// 404; `None` renders `{"errors": []}`.
    NotFound(Option<String>),
    /// 405.
    UnsupportedOperation(String),
    /// 408: the request did not arrive in time (`http_read_timeout`).
    RequestTimeout(String),
    /// 413: the body is over the limit.
    TooLarge(String),
    /// 500: our fault; the message is logged and shown.
    Internal(String),
    /// 503: temporarily unable (sealed, shutting down).
    Unavailable(String),
    /// 503 with `Retry-After`: too many requests wait for this mount's
    /// engine; nothing of the request ran.
    Busy(String),
    /// 503 with `Retry-After`: a backend the engine needs (an HSM, a cloud
    /// KMS) cannot be reached (contract 0.2's `unavailable`).
    BackendUnavailable(String),
    /// Any other 4xx or 5xx an engine answered (contract 0.2's
    /// `status(n)`, checked to be in 400..=599 by the sandbox).
    Status(u16, String),
}

impl ApiError {
    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::PermissionDenied | ApiError::Forbidden(_) => 403,
            ApiError::NotFound(_) => 404,
            ApiError::UnsupportedOperation(_) => 405,
            ApiError::RequestTimeout(_) => 408,
            ApiError::TooLarge(_) => 413,
            ApiError::Internal(_) => 500,
            ApiError::Unavailable(_) | ApiError::Busy(_) | ApiError::BackendUnavailable(_) => 503,
            ApiError::Status(status, _) => *status,
        }
    }

    /// The `errors` list.
    pub fn messages(&self) -> Vec<String> {
        match self {
            ApiError::BadRequest(m)
            | ApiError::UnsupportedOperation(m)
            | ApiError::RequestTimeout(m)
            | ApiError::TooLarge(m)
            | ApiError::Internal(m)
            | ApiError::Unavailable(m)
            | ApiError::Busy(m)
            | ApiError::BackendUnavailable(m)
            | ApiError::Status(_, m)
            | ApiError::Forbidden(m) => vec![m.clone()],
            ApiError::PermissionDenied => vec!["permission denied".to_string()],
            ApiError::NotFound(Some(m)) => vec![m.clone()],
            ApiError::NotFound(None) => Vec::new(),
        }
    }

    /// 400 with a message.
    pub fn bad(message: impl Into<String>) -> Self {
        ApiError::BadRequest(message.into())
    }

    /// 500 with a message.
    pub fn internal(message: impl std::fmt::Display) -> Self {
        ApiError::Internal(message.to_string())
    }

    /// 503 `Vault is sealed` (Vault's words, which clients match on).
    pub fn sealed() -> Self {
        ApiError::Unavailable("Vault is sealed".to_string())
    }

    /// Seconds a client should wait before trying again (`Retry-After`),
    /// for the errors that say so.
    pub fn retry_after(&self) -> Option<u32> {
        match self {
            ApiError::Busy(_) => Some(1),
            // Long enough for a device or a network to come back, short
            // enough that a client does not give up on it.
            ApiError::BackendUnavailable(_) => Some(5),
            _ => None,
        }
    }

    /// 405 for a host path that does not take this verb.
    pub fn unsupported() -> Self {
        ApiError::UnsupportedOperation("unsupported operation".to_string())
    }
}

impl From<crate::storage::StorageError> for ApiError {
    fn from(e: crate::storage::StorageError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

/// The result of handling a request.
pub type ApiResult = Result<Reply, ApiError>;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn engines_may_set_only_safe_well_formed_headers() {
        for (name, value) in [
            ("cache-control", "max-age=60"),
            ("location", "/v1/pki/issuer/abc"),
            ("link", "<https://x/acme/directory>;rel=\"index\""),
            ("replay-nonce", "oFvnlFP1wIhRlYS2jTaXbA"),
            ("x-custom", "a\tb c"),
        ] {
            assert_eq!(check_engine_header(name, value), Ok(()), "{name}");
        }
        for owned in HOST_HEADERS {
            let e = check_engine_header(owned, "1").unwrap_err();
            assert!(e.contains(owned), "{e}");
        }
        for (name, value) in [
            ("", "x"),
            ("Cache-Control", "x"),
            ("bad name", "x"),
            ("bad:name", "x"),
            ("x-a", "line\r\nbreak"),
            ("x-a", "caf\u{e9}"),
            ("x-a", "\u{0}"),
        ] {
            let e = check_engine_header(name, value).unwrap_err();
            assert!(e.contains(&format!("{name:?}")), "{e}");
        }
        assert!(check_engine_header("x-a", &"a".repeat(8193)).is_err());
    }

    #[test]
    fn an_engine_status_error_keeps_its_status() {
        let e = ApiError::Status(418, "short and stout".into());
        assert_eq!(e.status(), 418);
        assert_eq!(e.messages(), vec!["short and stout".to_string()]);
        assert_eq!(e.retry_after(), None);
    }
}
