//! What a handler returns; the status comes from the constructor used.

use serde::Serialize;
use serde_json::Value;

use crate::Error;

/// A successful answer. Build it with [`Response::data`], [`Response::none`],
/// [`Response::raw`] or [`Response::list`]; the constructor sets the status.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    status: u16,
    body: Body,
    warnings: Vec<String>,
    headers: Vec<(String, String)>,
}

/// What a [`Response`] carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// Nothing: 204, or 200 with only warnings.
    None,
    /// A JSON value that becomes the envelope's `data`.
    Data(Value),
    /// JSON text that becomes the envelope's `data` as it is: what a
    /// serializer wrote without building a [`Value`] (batch results). The
    /// host checks that it is JSON; [`crate::testing::TestEngine`] answers
    /// it as [`Body::Data`].
    Json(String),
    /// A body sent as it is, with no envelope.
    Raw {
        /// The `Content-Type` header.
        content_type: String,
        /// The bytes.
        bytes: Vec<u8>,
    },
}

impl Response {
    /// 200 with `data` as the envelope's `data`.
    pub fn data(data: Value) -> Self {
        Self {
            status: 200,
            body: Body::Data(data),
            warnings: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// 200 with `data` serialised to JSON; a serialisation failure is a 500.
    pub fn json<T: Serialize + ?Sized>(data: &T) -> Result<Self, Error> {
        Ok(Self::data(serde_json::to_value(data)?))
    }

    /// 200 with `data` given as JSON text, sent as it is (see [`Body::Json`]).
    pub(crate) fn json_text(text: String) -> Self {
        Self {
            status: 200,
            body: Body::Json(text),
            warnings: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// 200 with `data` when it is `Some`, else a 404 with empty errors
    /// (Vault's answer for a missing entry).
    pub fn data_or_not_found(data: Option<Value>) -> Result<Self, Error> {
        data.map(Self::data).ok_or_else(Error::not_found)
    }

    /// 204, no body.
    pub fn none() -> Self {
        Self {
            status: 204,
            body: Body::None,
            warnings: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// 200 with `bytes` sent as they are, for PEM, DER or plain text.
    pub fn raw(content_type: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        Self {
            status: 200,
            body: Body::Raw {
                content_type: content_type.into(),
                bytes: bytes.into(),
            },
            warnings: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// 200 with data `{"keys": [...]}`; an empty list is a 404 with empty
    /// errors instead, as Vault answers it.
    pub fn list(keys: Vec<String>) -> Self {
        if keys.is_empty() {
            return Self {
                status: 404,
                body: Body::None,
                warnings: Vec::new(),
                headers: Vec::new(),
            };
        }
        Self::data(serde_json::json!({ "keys": keys }))
    }

    /// Adds a warning for the envelope's `warnings` list.
    #[must_use]
    pub fn with_warning(mut self, warning: impl Into<String>) -> Self {
        self.warnings.push(warning.into());
        self
    }

    /// Sets the status: another 2xx (201 for a created resource, 202 for
    /// accepted work; with [`Response::none`] the host answers it with an
    /// empty body), a 3xx with a `location` header, or 400 for a batch
    /// whose items failed (Vault answers it with 400 and the whole result).
    /// The host answers anything outside 200..=599 as a 500.
    #[must_use]
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// Adds a response header (contract 0.2; 0.1 drops them): `name` a
    /// lower-case HTTP token such as `cache-control`, `location`, `link`,
    /// `replay-nonce`, a value of visible ASCII, spaces and tabs. The host
    /// owns the framing, hop-by-hop and security headers
    /// (`content-type`, `content-length`, `set-cookie`, ...) and answers a
    /// 500 naming the header if an engine sets one; a `cache-control`
    /// replaces the host's `no-store`.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The headers, in the order they were added.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The value of header `name` (ASCII case-insensitive), the first if
    /// several.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The body.
    pub fn body(&self) -> &Body {
        &self.body
    }

    /// The envelope's `data`, when the body is a [`Body::Data`] (as every
    /// JSON answer is once it went through [`crate::testing::TestEngine`]).
    pub fn data_value(&self) -> Option<&Value> {
        match &self.body {
            Body::Data(v) => Some(v),
            _ => None,
        }
    }

    /// The warnings.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Status, body, warnings and headers, for the contracts' glue.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn into_parts(self) -> (u16, Body, Vec<String>, Vec<(String, String)>) {
        (self.status, self.body, self.warnings, self.headers)
    }

    pub(crate) fn prepend_warnings(&mut self, mut warnings: Vec<String>) {
        warnings.append(&mut self.warnings);
        self.warnings = warnings;
    }

    /// Parses a [`Body::Json`] into a [`Body::Data`], refusing text that is
    /// not JSON as the host does (a 500).
    pub(crate) fn parsed(mut self) -> Result<Self, Error> {
        if let Body::Json(text) = &self.body {
            let value = serde_json::from_str(text)
                .map_err(|e| Error::Internal(format!("engine answered invalid JSON: {e}")))?;
            self.body = Body::Data(value);
        }
        Ok(self)
    }

    /// Turns the internal 404 of an empty list into the error the host
    /// expects.
    pub(crate) fn finish(self) -> Result<Self, Error> {
        if self.status == 404 && self.body == Body::None {
            return Err(Error::not_found());
        }
        Ok(self)
    }
}
