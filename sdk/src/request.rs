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

/// One request routed to the engine's mount.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// What is asked.
    pub operation: Operation,
    /// The path inside the mount, without a leading slash.
    pub path: String,
    /// The body, a JSON object (empty when there was none).
    pub body: Map<String, Value>,
    /// URL query parameters in order, percent-decoded.
    pub query: Vec<(String, String)>,
    /// Where the engine is mounted, with a trailing slash.
    pub mount_path: String,
    /// The mount's `options`.
    pub mount_options: Map<String, Value>,
}

impl Request {
    /// A request with an empty body and no query, mounted at `test/`.
    pub fn new(operation: Operation, path: impl Into<String>) -> Self {
        Self {
            operation,
            path: path.into(),
            body: Map::new(),
            query: Vec::new(),
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

    /// Appends a query parameter.
    #[must_use]
    pub fn with_query(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((key.into(), value.into()));
        self
    }

    /// Sets the mount's options.
    #[must_use]
    pub fn with_mount_options(mut self, options: Map<String, Value>) -> Self {
        self.mount_options = options;
        self
    }
}

impl From<crate::bindings::coffer::engine::types::Operation> for Operation {
    fn from(op: crate::bindings::coffer::engine::types::Operation) -> Self {
        use crate::bindings::coffer::engine::types::Operation as W;
        match op {
            W::Read => Operation::Read,
            W::Create => Operation::Create,
            W::Update => Operation::Update,
            W::Delete => Operation::Delete,
            W::List => Operation::List,
            W::Patch => Operation::Patch,
        }
    }
}

impl TryFrom<crate::bindings::coffer::engine::types::Request> for Request {
    type Error = Error;

    fn try_from(r: crate::bindings::coffer::engine::types::Request) -> Result<Self, Error> {
        let operation = Operation::from(r.operation);
        let body = json_object(&r.data, "request body")?;
        let mount_options = json_object(&r.mount_options, "mount options")?;
        Ok(Self {
            operation,
            path: r.path,
            body,
            query: r.query,
            mount_path: r.mount_path,
            mount_options,
        })
    }
}

/// A request as dispatch works on it: the body still JSON text, read once
/// by the handler's fields (a wasm request's body is never parsed into a
/// `Value`).
pub(crate) struct Call {
    pub operation: Operation,
    pub path: String,
    pub body: String,
    pub query: Vec<(String, String)>,
    pub mount_path: String,
    pub mount_options: Map<String, Value>,
}

impl From<Request> for Call {
    fn from(r: Request) -> Self {
        Self {
            operation: r.operation,
            path: r.path,
            // A map with string keys always serialises.
            body: serde_json::to_string(&r.body).unwrap_or_default(),
            query: r.query,
            mount_path: r.mount_path,
            mount_options: r.mount_options,
        }
    }
}

impl TryFrom<crate::bindings::coffer::engine::types::Request> for Call {
    type Error = Error;

    fn try_from(r: crate::bindings::coffer::engine::types::Request) -> Result<Self, Error> {
        let operation = Operation::from(r.operation);
        let mount_options = json_object(&r.mount_options, "mount options")?;
        Ok(Self {
            operation,
            path: r.path,
            body: r.data,
            query: r.query,
            mount_path: r.mount_path,
            mount_options,
        })
    }
}

fn json_object(text: &str, what: &str) -> Result<Map<String, Value>, Error> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::invalid(format!("{what} must be a JSON object"))),
        Err(e) => Err(Error::invalid(format!("{what} is not valid JSON: {e}"))),
    }
}
