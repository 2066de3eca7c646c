//! Contract 0.2 (`wit/coffer-engine@0.2.0`): the `handler` export, the
//! `http.request` resource read through its getters, responses with
//! headers, errors with `unavailable` and `status`, storage with
//! `list-page`, and string algorithm names.

use std::thread::LocalKey;

use serde_json::{Map, Value};

use crate::bindings::v02::coffer::engine::{clock, crypto, http, log, storage, types as wit};
use crate::bindings::v02::exports::coffer::engine::handler as export;
use crate::clock::{HostClock, Timestamp};
use crate::crypto::{AeadAlgorithm, HashAlgorithm};
use crate::describe::Description;
use crate::imports::{self, Imports};
use crate::log::Level;
use crate::request::{Call, Caller, Meta, TokenCaller};
use crate::response::Body;
use crate::storage::Storage;
use crate::{Engine, Error, Operation, Response};

/// The `handle` export.
pub fn handle(
    engine: &'static LocalKey<Engine>,
    request: &http::Request,
) -> Result<http::Response, wit::Error> {
    imports::bind(&IMPORTS);
    let call = call(request);
    let response =
        engine.with(|e| e.handle_call(&mut HostStorage, &HostClock, call, &HostMeta(request)))?;
    Ok(response.into())
}

/// The `exists` export.
pub fn exists(
    engine: &'static LocalKey<Engine>,
    request: &http::Request,
) -> Result<Option<bool>, wit::Error> {
    imports::bind(&IMPORTS);
    let call = call(request);
    Ok(engine.with(|e| e.exists_call(&mut HostStorage, &HostClock, call, &HostMeta(request)))?)
}

/// The `periodic` export.
pub fn periodic(
    engine: &'static LocalKey<Engine>,
    mount_path: String,
    mount_options: String,
) -> Result<(), wit::Error> {
    imports::bind(&IMPORTS);
    let options = super::options(&mount_options);
    Ok(engine.with(|e| e.run_periodic(&mut HostStorage, &HostClock, &mount_path, options))?)
}

/// The `describe` export.
pub fn describe(engine: &'static LocalKey<Engine>) -> export::Description {
    imports::bind(&IMPORTS);
    engine.with(|e| e.describe()).into()
}

/// What every request needs, read in one host call (`request.parts`: a
/// getter per part was a host call each, most of a small request's cost).
fn call(r: &http::Request) -> Call {
    let r = r.parts();
    Call {
        operation: r.operation.into(),
        path: r.path,
        body: r.body,
        content_type: r.content_type,
        query: r.query,
    }
}

/// The rest of the request, through the getters, each only when a handler
/// asks.
struct HostMeta<'r>(&'r http::Request);

impl Meta for HostMeta<'_> {
    fn caller(&self) -> Caller {
        match self.0.caller() {
            http::Caller::Unauthenticated => Caller::Unauthenticated,
            http::Caller::Token(t) => Caller::Token(TokenCaller {
                display_name: t.display_name,
                policies: t.policies,
                accessor: t.accessor,
            }),
        }
    }

    fn headers(&self) -> Vec<(String, String)> {
        self.0.headers()
    }

    fn id(&self) -> String {
        self.0.id()
    }

    fn mount_path(&self) -> String {
        self.0.mount_path()
    }

    /// The host passes the mount's options as a JSON object, which it
    /// checked when the mount was made; anything else reads as none.
    fn mount_options(&self) -> Map<String, Value> {
        crate::request::json_object(&self.0.mount_options(), "mount options").unwrap_or_default()
    }
}

impl From<wit::Operation> for Operation {
    fn from(op: wit::Operation) -> Self {
        match op {
            wit::Operation::Read => Operation::Read,
            wit::Operation::Create => Operation::Create,
            wit::Operation::Update => Operation::Update,
            wit::Operation::Delete => Operation::Delete,
            wit::Operation::List => Operation::List,
            wit::Operation::Patch => Operation::Patch,
        }
    }
}

impl From<Operation> for wit::Operation {
    fn from(op: Operation) -> Self {
        match op {
            Operation::Read => wit::Operation::Read,
            Operation::Create => wit::Operation::Create,
            Operation::Update => wit::Operation::Update,
            Operation::Delete => wit::Operation::Delete,
            Operation::List => wit::Operation::List,
            Operation::Patch => wit::Operation::Patch,
        }
    }
}

impl From<Response> for http::Response {
    fn from(r: Response) -> Self {
        let (status, body, warnings, headers) = r.into_parts();
        let body = match body {
            Body::None => http::Body::None,
            // Serialising a `Value` cannot fail: its map keys are strings.
            Body::Data(v) => http::Body::Data(serde_json::to_string(&v).unwrap_or_default()),
            Body::Json(text) => http::Body::Data(text),
            Body::Raw {
                content_type,
                bytes,
            } => http::Body::Raw(http::RawBody {
                content_type,
                bytes,
            }),
        };
        Self {
            status,
            body,
            warnings,
            headers,
        }
    }
}

impl From<Error> for wit::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidRequest(m) => Self::InvalidRequest(m),
            Error::PermissionDenied(m) => Self::PermissionDenied(m),
            Error::NotFound(m) => Self::NotFound(m),
            Error::UnsupportedOperation(m) => Self::UnsupportedOperation(m),
            Error::Unavailable(m) => Self::Unavailable(m),
            Error::Internal(m) => Self::Internal(m),
            Error::Status(status, message) => Self::Status(wit::ErrorStatus { status, message }),
        }
    }
}

impl From<wit::Error> for Error {
    fn from(e: wit::Error) -> Self {
        match e {
            wit::Error::InvalidRequest(m) => Self::InvalidRequest(m),
            wit::Error::PermissionDenied(m) => Self::PermissionDenied(m),
            wit::Error::NotFound(m) => Self::NotFound(m),
            wit::Error::UnsupportedOperation(m) => Self::UnsupportedOperation(m),
            wit::Error::Unavailable(m) => Self::Unavailable(m),
            wit::Error::Internal(m) => Self::Internal(m),
            wit::Error::Status(s) => Self::Status(s.status, s.message),
        }
    }
}

impl From<Description> for export::Description {
    fn from(d: Description) -> Self {
        Self {
            paths: d
                .paths
                .into_iter()
                .map(|p| export::PathInfo {
                    pattern: p.pattern,
                    synopsis: p.synopsis,
                    description: p.description,
                    operations: p
                        .operations
                        .into_iter()
                        .map(|(op, summary)| export::OperationInfo {
                            operation: op.into(),
                            summary,
                        })
                        .collect(),
                    fields: p
                        .fields
                        .into_iter()
                        .map(|f| export::FieldInfo {
                            name: f.name,
                            kind: f.kind.to_owned(),
                            description: f.description,
                            default: f.default,
                            required: f.required,
                            allowed: f.allowed,
                            in_path: f.in_path,
                        })
                        .collect(),
                })
                .collect(),
            unauthenticated: d.unauthenticated,
            sudo: d.sudo,
            headers: d.headers,
        }
    }
}

/// The mount's storage through 0.2's `storage` import.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostStorage;

impl Storage for HostStorage {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(storage::get(key)?)
    }

    fn put(&mut self, key: &str, value: &[u8]) -> Result<(), Error> {
        Ok(storage::put(key, value)?)
    }

    fn delete(&mut self, key: &str) -> Result<(), Error> {
        Ok(storage::delete(key)?)
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, Error> {
        Ok(storage::list(prefix)?)
    }

    fn list_page(&self, prefix: &str, after: &str, limit: u32) -> Result<Vec<String>, Error> {
        crate::storage::check_limit(limit)?;
        Ok(storage::list_page(prefix, after, limit)?)
    }

    fn generation(&self) -> u64 {
        storage::generation()
    }
}

/// 0.2's clock, log and keyless crypto.
struct V02;

static IMPORTS: V02 = V02;

impl Imports for V02 {
    fn now(&self) -> Timestamp {
        let t = clock::now();
        Timestamp {
            seconds: t.seconds,
            nanoseconds: t.nanoseconds,
        }
    }

    fn log(&self, level: Level, message: &str) {
        let level = match level {
            Level::Trace => log::Level::Trace,
            Level::Debug => log::Level::Debug,
            Level::Info => log::Level::Info,
            Level::Warn => log::Level::Warn,
            Level::Error => log::Level::Error,
        };
        log::log(level, message);
    }

    fn random_bytes(&self, len: u32) -> Result<Vec<u8>, Error> {
        Ok(crypto::random_bytes(len)?)
    }

    fn hash(&self, algorithm: HashAlgorithm, data: &[u8]) -> Result<Vec<u8>, Error> {
        Ok(crypto::hash(algorithm.name(), data)?)
    }

    fn hmac(&self, algorithm: HashAlgorithm, key: &[u8], data: &[u8]) -> Result<Vec<u8>, Error> {
        Ok(crypto::hmac(algorithm.name(), key, data)?)
    }

    fn hmac_verify(
        &self,
        algorithm: HashAlgorithm,
        key: &[u8],
        data: &[u8],
        tag: &[u8],
    ) -> Result<bool, Error> {
        Ok(crypto::hmac_verify(algorithm.name(), key, data, tag)?)
    }

    fn hkdf(
        &self,
        algorithm: HashAlgorithm,
        ikm: &[u8],
        salt: &[u8],
        info: &[u8],
        len: u32,
    ) -> Result<Vec<u8>, Error> {
        Ok(crypto::hkdf(algorithm.name(), ikm, salt, info, len)?)
    }

    fn aead_seal(
        &self,
        algorithm: AeadAlgorithm,
        key: &[u8],
        nonce: &[u8],
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, Error> {
        Ok(crypto::aead_seal(
            algorithm.name(),
            key,
            nonce,
            plaintext,
            aad,
        )?)
    }

    fn aead_open(
        &self,
        algorithm: AeadAlgorithm,
        key: &[u8],
        nonce: &[u8],
        ciphertext: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, Error> {
        Ok(crypto::aead_open(
            algorithm.name(),
            key,
            nonce,
            ciphertext,
            aad,
        )?)
    }

    fn aes_key_wrap_pad(&self, _kek: &[u8], _key: &[u8]) -> Result<Vec<u8>, Error> {
        Err(no_key_wrap())
    }

    fn aes_key_unwrap_pad(&self, _kek: &[u8], _wrapped: &[u8]) -> Result<Vec<u8>, Error> {
        Err(no_key_wrap())
    }
}

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
fn no_key_wrap() -> Error {
    Error::invalid("contract 0.2 has no AES key wrap import: use keys::Key::wrap_for and unwrap")
}
