//! Contract 0.2's host functions: its generated traits, over the
//! implementation shared with 0.1 (`sandbox/host/*.rs`). What is here is
//! the edge: 0.2's names (algorithms and key types are strings) and types
//! converted to the host's, and what only 0.2 has — the request resource
//! (`http.rs`) and the `keys` interface (`keys.rs`).

/// The value of a parse, or, from the host function, the engine's `error`.
macro_rules! parsed {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        }
    };
}

pub mod crypto;
pub mod http;
pub mod keys;
pub mod storage;

use crate::crypto as native;
use crate::sandbox::bindings::v02::coffer::engine::{clock, log, types};
use crate::sandbox::host::Fault;
use crate::sandbox::InstanceState;
use types::Error;

impl types::Host for InstanceState {}

impl From<Fault> for Error {
    fn from(f: Fault) -> Self {
        match f {
            Fault::Invalid(m) => Error::InvalidRequest(m),
            Fault::Internal(m) => Error::Internal(m),
        }
    }
}

impl clock::Host for InstanceState {
    fn now(&mut self) -> wasmtime::Result<clock::Timestamp> {
        let now = InstanceState::now(self);
        Ok(clock::Timestamp {
            seconds: now.as_secs(),
            nanoseconds: now.subsec_nanos(),
        })
    }
}

impl log::Host for InstanceState {
    fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            log::Level::Trace => tracing::Level::TRACE,
            log::Level::Debug => tracing::Level::DEBUG,
            log::Level::Info => tracing::Level::INFO,
            log::Level::Warn => tracing::Level::WARN,
            log::Level::Error => tracing::Level::ERROR,
        };
        self.log_line(level, &message);
        Ok(())
    }
}

/// What a 0.2 import answers: a value, the engine's `error`, or a trap.
pub(crate) type Answer<T> = wasmtime::Result<Result<T, Error>>;

/// A native crypto failure is the engine's (or its client's) mistake,
/// unless the key's backend could not be reached (`unavailable`).
pub(crate) fn invalid(e: native::CryptoError) -> Error {
    if e.is_unavailable() {
        return Error::Unavailable(e.to_string());
    }
    Error::InvalidRequest(e.to_string())
}

/// Contract 0.2's hash names (Vault's transit names).
pub(crate) fn hash_algorithm(name: &str) -> Result<native::HashAlgorithm, Error> {
    use native::HashAlgorithm as H;
    Ok(match name {
        "sha1" => H::Sha1,
        "sha2-224" => H::Sha224,
        "sha2-256" => H::Sha256,
        "sha2-384" => H::Sha384,
        "sha2-512" => H::Sha512,
        "sha2-512/256" => H::Sha512_256,
        "sha3-224" => H::Sha3_224,
        "sha3-256" => H::Sha3_256,
        "sha3-384" => H::Sha3_384,
        "sha3-512" => H::Sha3_512,
        other => {
            return Err(Error::InvalidRequest(format!(
                "unknown hash algorithm {other:?}"
            )))
        }
    })
}

/// Contract 0.2's AEAD names.
pub(crate) fn aead_algorithm(name: &str) -> Result<native::AeadAlgorithm, Error> {
    use native::AeadAlgorithm as A;
    Ok(match name {
        "aes128-gcm96" => A::Aes128Gcm,
        "aes256-gcm96" => A::Aes256Gcm,
        "chacha20-poly1305" => A::ChaCha20Poly1305,
        other => {
            return Err(Error::InvalidRequest(format!(
                "unknown AEAD algorithm {other:?}"
            )))
        }
    })
}

/// Contract 0.2's asymmetric key types (the host's names are the same).
pub(crate) fn key_type(name: &str) -> Result<native::KeyType, Error> {
    native::KeyType::ALL
        .into_iter()
        .find(|kt| kt.name() == name)
        .ok_or_else(|| Error::InvalidRequest(format!("{name:?} is not an asymmetric key type")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_name_parses_and_others_are_invalid() {
        let hashes = [
            "sha1",
            "sha2-224",
            "sha2-256",
            "sha2-384",
            "sha2-512",
            "sha2-512/256",
            "sha3-224",
            "sha3-256",
            "sha3-384",
            "sha3-512",
        ];
        let parsed: std::collections::HashSet<_> =
            hashes.iter().map(|h| hash_algorithm(h).unwrap()).collect();
        assert_eq!(parsed.len(), native::HashAlgorithm::ALL.len());
        for aead in ["aes128-gcm96", "aes256-gcm96", "chacha20-poly1305"] {
            aead_algorithm(aead).unwrap();
        }
        for kt in [
            "rsa-2048",
            "rsa-3072",
            "rsa-4096",
            "ecdsa-p256",
            "ecdsa-p384",
            "ecdsa-p521",
            "ed25519",
        ] {
            assert_eq!(key_type(kt).unwrap().name(), kt);
        }
        for bad in ["", "SHA2-256", "sha256", "md5"] {
            assert!(
                matches!(hash_algorithm(bad), Err(Error::InvalidRequest(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            aead_algorithm("aes256-gcm"),
            Err(Error::InvalidRequest(_))
        ));
        assert!(matches!(
            key_type("aes256-gcm96"),
            Err(Error::InvalidRequest(_))
        ));
    }
}
