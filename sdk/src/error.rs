//! Why a request failed, as a closed enum: the variant decides the HTTP status.

use std::fmt;

/// Why a request failed. The variant decides the HTTP status (never the
/// text); the text is shown to the client in `{"errors": [text]}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// 400: the request is malformed or asks something impossible.
    InvalidRequest(String),
    /// 403: the engine refuses (for instance a key that forbids the operation).
    PermissionDenied(String),
    /// 404: nothing at that path; an empty text answers `{"errors": []}`.
    NotFound(String),
    /// 405: the path exists but does not take this operation.
    UnsupportedOperation(String),
    /// 500: the engine failed; the text is logged and shown.
    Internal(String),
}

impl Error {
    /// 404 with no message (`{"errors": []}`), Vault's answer for a missing entry.
    pub fn not_found() -> Self {
        Self::NotFound(String::new())
    }

    /// A 400 with `message`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidRequest(message.into())
    }

    /// A 500 with `message`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal(message.into())
    }

    /// The HTTP status the host answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidRequest(_) => 400,
            Self::PermissionDenied(_) => 403,
            Self::NotFound(_) => 404,
            Self::UnsupportedOperation(_) => 405,
            Self::Internal(_) => 500,
        }
    }

    /// The text shown to the client.
    pub fn message(&self) -> &str {
        match self {
            Self::InvalidRequest(m)
            | Self::PermissionDenied(m)
            | Self::NotFound(m)
            | Self::UnsupportedOperation(m)
            | Self::Internal(m) => m,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status(), self.message())
    }
}

impl std::error::Error for Error {}

impl From<serde_json::Error> for Error {
    /// A (de)serialisation failure of the engine's own data is a 500.
    fn from(e: serde_json::Error) -> Self {
        Self::Internal(format!("json: {e}"))
    }
}

impl From<crate::bindings::coffer::engine::types::Error> for Error {
    fn from(e: crate::bindings::coffer::engine::types::Error) -> Self {
        use crate::bindings::coffer::engine::types::Error as W;
        match e {
            W::InvalidRequest(m) => Self::InvalidRequest(m),
            W::PermissionDenied(m) => Self::PermissionDenied(m),
            W::NotFound(m) => Self::NotFound(m),
            W::UnsupportedOperation(m) => Self::UnsupportedOperation(m),
            W::Internal(m) => Self::Internal(m),
        }
    }
}

impl From<Error> for crate::bindings::coffer::engine::types::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidRequest(m) => Self::InvalidRequest(m),
            Error::PermissionDenied(m) => Self::PermissionDenied(m),
            Error::NotFound(m) => Self::NotFound(m),
            Error::UnsupportedOperation(m) => Self::UnsupportedOperation(m),
            Error::Internal(m) => Self::Internal(m),
        }
    }
}
