//! Contract 0.1 (`wit/coffer-engine@0.1.0`), behind the `contract-0-1`
//! feature: the free `handle`, `exists` and `periodic` exports, a request
//! record whose body is a JSON object, responses without headers, and
//! errors without `unavailable` or `status` (see [`From<Error>`] below).

use std::thread::LocalKey;

use crate::bindings::v01::coffer::engine::{clock, crypto, log, storage, types as wit};
use crate::clock::{HostClock, Timestamp};
use crate::crypto::{AeadAlgorithm, HashAlgorithm};
use crate::imports::{self, Imports};
use crate::log::Level;
use crate::request::{Call, Caller, GivenMeta, TokenCaller, JSON};
use crate::response::Body;
use crate::storage::Storage;
use crate::{Engine, Error, Operation, Response};

/// The `handle` export.
pub fn handle(
    engine: &'static LocalKey<Engine>,
    request: wit::Request,
) -> Result<wit::Response, wit::Error> {
    imports::bind(&IMPORTS);
    let (call, meta) = call(request)?;
    let response = engine.with(|e| e.handle_call(&mut HostStorage, &HostClock, call, &meta))?;
    Ok(response.into())
}

/// The `exists` export.
pub fn exists(
    engine: &'static LocalKey<Engine>,
    request: wit::Request,
) -> Result<Option<bool>, wit::Error> {
    imports::bind(&IMPORTS);
    let (call, meta) = call(request)?;
    Ok(engine.with(|e| e.exists_call(&mut HostStorage, &HostClock, call, &meta))?)
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

/// 0.1's request: a JSON body, no headers, no caller (a token caller with
/// empty fields), no id.
fn call(r: wit::Request) -> Result<(Call, GivenMeta), Error> {
    let mount_options = crate::request::json_object(&r.mount_options, "mount options")?;
    let call = Call {
        operation: r.operation.into(),
        path: r.path,
        body: r.data.into_bytes(),
        content_type: Some(JSON.to_owned()),
        query: r.query,
    };
    let meta = GivenMeta {
        caller: Caller::Token(TokenCaller::default()),
        headers: Vec::new(),
        id: String::new(),
        mount_path: r.mount_path,
        mount_options,
    };
    Ok((call, meta))
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

/// 0.1 has no response headers: they are dropped.
impl From<Response> for wit::Response {
    fn from(r: Response) -> Self {
        let (status, body, warnings, _headers) = r.into_parts();
        let body = match body {
            Body::None => wit::Body::None,
            // Serialising a `Value` cannot fail: its map keys are strings.
            Body::Data(v) => wit::Body::Data(serde_json::to_string(&v).unwrap_or_default()),
            Body::Json(text) => wit::Body::Data(text),
            Body::Raw {
                content_type,
                bytes,
            } => wit::Body::Raw(wit::RawBody {
                content_type,
                bytes,
            }),
        };
        Self {
            status,
            body,
            warnings,
        }
    }
}

/// 0.1's closed error: `unavailable` is a 500, and `status(n)` the case of
/// n if it has one, else 400 for a 4xx and 500 for the rest.
impl From<Error> for wit::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidRequest(m) => Self::InvalidRequest(m),
            Error::PermissionDenied(m) => Self::PermissionDenied(m),
            Error::NotFound(m) => Self::NotFound(m),
            Error::UnsupportedOperation(m) => Self::UnsupportedOperation(m),
            Error::Unavailable(m) | Error::Internal(m) => Self::Internal(m),
            Error::Status(403, m) => Self::PermissionDenied(m),
            Error::Status(404, m) => Self::NotFound(m),
            Error::Status(405, m) => Self::UnsupportedOperation(m),
            Error::Status(400..=499, m) => Self::InvalidRequest(m),
            Error::Status(_, m) => Self::Internal(m),
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
            wit::Error::Internal(m) => Self::Internal(m),
        }
    }
}

/// The mount's storage through 0.1's `storage` import (`list_page` lists
/// everything and cuts: 0.1 has no range listing).
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

    fn generation(&self) -> u64 {
        storage::generation()
    }
}

/// 0.1's clock, log and keyless crypto.
struct V01;

static IMPORTS: V01 = V01;

impl Imports for V01 {
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
        Ok(crypto::hash(algorithm.into(), data))
    }

    fn hmac(&self, algorithm: HashAlgorithm, key: &[u8], data: &[u8]) -> Result<Vec<u8>, Error> {
        Ok(crypto::hmac(algorithm.into(), key, data)?)
    }

    fn hmac_verify(
        &self,
        algorithm: HashAlgorithm,
        key: &[u8],
        data: &[u8],
        tag: &[u8],
    ) -> Result<bool, Error> {
        Ok(crypto::hmac_verify(algorithm.into(), key, data, tag)?)
    }

    fn hkdf(
        &self,
        algorithm: HashAlgorithm,
        ikm: &[u8],
        salt: &[u8],
        info: &[u8],
        len: u32,
    ) -> Result<Vec<u8>, Error> {
        Ok(crypto::hkdf(algorithm.into(), ikm, salt, info, len)?)
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
            algorithm.into(),
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
            algorithm.into(),
            key,
            nonce,
            ciphertext,
            aad,
        )?)
    }

    fn aes_key_wrap_pad(&self, kek: &[u8], key: &[u8]) -> Result<Vec<u8>, Error> {
        Ok(crypto::aes_key_wrap_pad(kek, key)?)
    }

    fn aes_key_unwrap_pad(&self, kek: &[u8], wrapped: &[u8]) -> Result<Vec<u8>, Error> {
        Ok(crypto::aes_key_unwrap_pad(kek, wrapped)?)
    }
}
