//! A request as the SDK sees it, constructible natively for tests.

use std::fmt;

use serde_json::{Map, Value};

use crate::Error;

/// What a request asks of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    /// GET.
    Read,
    /// POST or PUT on a target that does not exist yet (per the path's
    /// existence check).
    Create,
    /// POST or PUT otherwise.
    Update,
    /// DELETE.
    Delete,
    /// LIST, or GET with `?list=true`.
    List,
    /// PATCH.
    Patch,
}

impl Operation {
    /// Every operation, in declaration order.
    pub const ALL: [Operation; 6] = [
        Operation::Read,
        Operation::Create,
        Operation::Update,
        Operation::Delete,
        Operation::List,
        Operation::Patch,
    ];

    /// Vault's name for it (`read`, `create`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::List => "list",
            Self::Patch => "patch",
        }
    }

    /// Whether URL query parameters count as fields (Vault: read, list and
    /// delete only).
    pub fn takes_query(self) -> bool {
        matches!(self, Self::Read | Self::List | Self::Delete)
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Self::Read => 0,
            Self::Create => 1,
            Self::Update => 2,
            Self::Delete => 3,
            Self::List => 4,
            Self::Patch => 5,
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One request routed to the engine's mount, as a native test builds it
/// (in wasm the SDK reads the host's request directly).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// What is asked.
    pub operation: Operation,
    /// The path inside the mount, without a leading slash.
    pub path: String,
    /// The body, a JSON object (empty when there was none).
    pub body: Map<String, Value>,
    /// A body that is not JSON (DER, PEM...), sent instead of `body` with
    /// its content type.
    pub raw_body: Option<RawBody>,
    /// URL query parameters in order, percent-decoded.
    pub query: Vec<(String, String)>,
    /// Request headers (lower-case names); the host passes only those the
    /// engine names ([`crate::Engine::request_headers`]).
    pub headers: Vec<(String, String)>,
    /// Who is calling.
    pub caller: Caller,
    /// The request's id.
    pub id: String,
    /// Where the engine is mounted, with a trailing slash.
    pub mount_path: String,
    /// The mount's `options`.
    pub mount_options: Map<String, Value>,
}

/// A request body that is not JSON, with its `Content-Type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawBody {
    /// The content type without parameters, lower-case
    /// (`application/ocsp-request`).
    pub content_type: String,
    /// The bytes as they came.
    pub bytes: Vec<u8>,
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// Nobody: the path is one of the engine's unauthenticated paths
    /// ([`crate::Path::unauthenticated`]) and no token was checked.
    Unauthenticated,
    /// A token's holder, already authorised for the path.
    Token(TokenCaller),
}

/// A token's holder, as the host knows it (the token itself never reaches
/// an engine). On contract 0.1, which does not say who calls, every field
/// is empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenCaller {
    /// The token's display name (`token`, `root`, `token-<name>`).
    pub display_name: String,
    /// The token's policies, sorted.
    pub policies: Vec<String>,
    /// The token's accessor.
    pub accessor: String,
}

impl Caller {
    /// The root token's holder, the caller of native test requests unless
    /// they say otherwise.
    pub fn root() -> Self {
        Self::Token(TokenCaller {
            display_name: "root".to_owned(),
            policies: vec!["root".to_owned()],
            accessor: "test-accessor".to_owned(),
        })
    }
}

impl Request {
    /// A request with an empty body and no query, from the root token,
    /// mounted at `test/`.
    pub fn new(operation: Operation, path: impl Into<String>) -> Self {
        Self {
            operation,
            path: path.into(),
            body: Map::new(),
            raw_body: None,
            query: Vec::new(),
            headers: Vec::new(),
            caller: Caller::root(),
            id: "test-request".to_owned(),
            mount_path: "test/".to_owned(),
            mount_options: Map::new(),
        }
    }

    /// Sets the body; anything but a JSON object is taken as an empty body.
    #[must_use]
    pub fn with_body(mut self, body: Value) -> Self {
        self.body = match body {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        self
    }

    /// Sends `bytes` as the body, with `content_type`, instead of JSON.
    #[must_use]
    pub fn with_raw_body(
        mut self,
        content_type: impl Into<String>,
        bytes: impl Into<Vec<u8>>,
    ) -> Self {
        self.raw_body = Some(RawBody {
            content_type: content_type.into(),
            bytes: bytes.into(),
        });
        self
    }

    /// Appends a query parameter.
    #[must_use]
    pub fn with_query(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((key.into(), value.into()));
        self
    }

    /// Appends a request header (the name is lower-cased).
    #[must_use]
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// Sets the caller.
    #[must_use]
    pub fn with_caller(mut self, caller: Caller) -> Self {
        self.caller = caller;
        self
    }

    /// Sets the mount's options.
    #[must_use]
    pub fn with_mount_options(mut self, options: Map<String, Value>) -> Self {
        self.mount_options = options;
        self
    }
}

/// A request as dispatch works on it: the parts every request needs to be
/// routed and its fields read, the body still bytes, read once by the
/// handler's fields (a wasm request's body is never parsed into a
/// `Value`). Each contract's glue (`export/`) builds it; the rest of the
/// request comes through a [`Meta`].
#[derive(Clone)]
pub(crate) struct Call {
    pub operation: Operation,
    pub path: String,
    /// The body as sent (JSON text unless `content_type` says otherwise).
    pub body: Vec<u8>,
    /// The content type, lower-case, without parameters; none if not sent.
    pub content_type: Option<String>,
    pub query: Vec<(String, String)>,
}

/// The parts of a request few handlers read, each read when a handler
/// first asks ([`crate::Ctx`] keeps it): on contract 0.2 each is a host
/// call, so a request that never asks copies none of them into the
/// engine.
pub(crate) trait Meta {
    fn caller(&self) -> Caller;
    fn headers(&self) -> Vec<(String, String)>;
    fn id(&self) -> String;
    fn mount_path(&self) -> String;
    fn mount_options(&self) -> Map<String, Value>;
}

/// A [`Meta`] given whole: a native test's request, contract 0.1's, and
/// periodic work's.
#[derive(Clone, Debug)]
pub(crate) struct GivenMeta {
    pub caller: Caller,
    pub headers: Vec<(String, String)>,
    pub id: String,
    pub mount_path: String,
    pub mount_options: Map<String, Value>,
}

impl GivenMeta {
    /// Periodic work's: nobody calls it, so no token was checked.
    pub(crate) fn periodic(mount_path: &str, mount_options: Map<String, Value>) -> Self {
        Self {
            caller: Caller::Unauthenticated,
            headers: Vec::new(),
            id: String::new(),
            mount_path: mount_path.to_owned(),
            mount_options,
        }
    }
}

impl Meta for GivenMeta {
    fn caller(&self) -> Caller {
        self.caller.clone()
    }

    fn headers(&self) -> Vec<(String, String)> {
        self.headers.clone()
    }

    fn id(&self) -> String {
        self.id.clone()
    }

    fn mount_path(&self) -> String {
        self.mount_path.clone()
    }

    fn mount_options(&self) -> Map<String, Value> {
        self.mount_options.clone()
    }
}

impl Request {
    /// What dispatch works on, and the rest.
    pub(crate) fn into_call(self) -> (Call, GivenMeta) {
        let (body, content_type) = match self.raw_body {
            Some(raw) => (raw.bytes, Some(raw.content_type)),
            // A map with string keys always serialises.
            None => (
                serde_json::to_vec(&self.body).unwrap_or_default(),
                Some(JSON.to_owned()),
            ),
        };
        let call = Call {
            operation: self.operation,
            path: self.path,
            body,
            content_type,
            query: self.query,
        };
        let meta = GivenMeta {
            caller: self.caller,
            headers: self.headers,
            id: self.id,
            mount_path: self.mount_path,
            mount_options: self.mount_options,
        };
        (call, meta)
    }
}

/// JSON's content type.
pub(crate) const JSON: &str = "application/json";

/// `text` as a JSON object: empty text is an empty object, anything else
/// that is not an object a 400 naming `what`.
pub(crate) fn json_object(text: &str, what: &str) -> Result<Map<String, Value>, Error> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::invalid(format!("{what} must be a JSON object"))),
        Err(e) => Err(Error::invalid(format!("{what} is not valid JSON: {e}"))),
    }
}
