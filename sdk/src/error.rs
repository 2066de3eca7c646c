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
    /// 503: something the request needs cannot be reached now (an HSM or
    /// a cloud KMS behind a key handle); the text says what. Contract 0.1
    /// has no such error: there it is a 500.
    Unavailable(String),
    /// 500: the engine failed; the text is logged and shown.
    Internal(String),
    /// Any other status in 400..=599 (409, 429, 502...), with its text; the
    /// host answers a status outside that range as a 500. Contract 0.1
    /// answers it with the closest status it has (400, 403, 404, 405 or
    /// 500).
    Status(u16, String),
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

    /// A 503 with `message` ([`Error::Unavailable`]).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::Unavailable(message.into())
    }

    /// An error with any `status` in 400..=599 and `message`
    /// ([`Error::Status`]).
    pub fn with_status(status: u16, message: impl Into<String>) -> Self {
        Self::Status(status, message.into())
    }

    /// The HTTP status the host answers with (contract 0.2).
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidRequest(_) => 400,
            Self::PermissionDenied(_) => 403,
            Self::NotFound(_) => 404,
            Self::UnsupportedOperation(_) => 405,
            Self::Unavailable(_) => 503,
            Self::Internal(_) => 500,
            Self::Status(status, _) if (400..=599).contains(status) => *status,
            Self::Status(..) => 500,
        }
    }

    /// The text shown to the client.
    pub fn message(&self) -> &str {
        match self {
            Self::InvalidRequest(m)
            | Self::PermissionDenied(m)
            | Self::NotFound(m)
            | Self::UnsupportedOperation(m)
            | Self::Unavailable(m)
            | Self::Internal(m)
            | Self::Status(_, m) => m,
        }
    }
}

impl Error {
    /// The text shown to the client, owned.
    pub fn into_message(self) -> String {
        match self {
            Self::InvalidRequest(m)
            | Self::PermissionDenied(m)
            | Self::NotFound(m)
            | Self::UnsupportedOperation(m)
            | Self::Unavailable(m)
            | Self::Internal(m)
            | Self::Status(_, m) => m,
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
