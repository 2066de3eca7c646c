//! Vault's transit secrets engine: cryptography as a service with named
//! keys, on contract 0.2. The keys are the host's: transit stores only the
//! blobs the host sealed and acts through key handles, so a key's bytes
//! leave the host only when a client exports or backs up a key that allows
//! it (see `policy/`).
//!
//! This file is the path table; each path group has its own file
//! (declaration, handlers, tests), and the key policy model lives in
//! `policy/`.
#![deny(missing_docs)]
#![deny(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use coffer_sdk::Engine;

mod backup;
mod byok;
mod cache;
mod config;
mod csr;
mod datakey;
mod decrypt;
mod encrypt;
mod export;
mod hash;
mod hmac;
mod keys;
mod policy;
mod random;
mod rewrap;
mod sign;
mod trim;
mod util;

/// The path table. Every path shares the instance's policy cache (`policy::cache`,
/// kept in the instance's state).
#[coffer_sdk::engine]
pub fn engine() -> Engine {
    Engine::new()
        .path(keys::list_path())
        .path(keys::path())
        .path(keys::rotate_path())
        .path(config::key_path())
        .path(config::keys_path())
        .path(encrypt::path())
        .path(decrypt::path())
        .path(rewrap::path())
        .path(datakey::path())
        .path(random::path())
        .path(random::source_path())
        .path(hash::path())
        .path(hmac::path())
        .path(sign::sign_path())
        .path(sign::verify_path())
        .path(export::path())
        .path(backup::backup_path())
        .path(backup::restore_path())
        .path(trim::path())
        .path(cache::path())
        .path(byok::wrapping_key_path())
        .path(byok::import_path())
        .path(byok::import_version_path())
        .path(byok::byok_export_path())
        .path(csr::csr_path())
        .path(csr::set_certificate_path())
        .periodic(keys::auto_rotate)
}

#[cfg(test)]
mod tests {
    use coffer_sdk::testing::TestEngine;
    use coffer_sdk::{Error, Response};
    use serde_json::Value;

    /// A transit engine over in-memory storage.
    pub fn transit() -> TestEngine {
        TestEngine::new(super::engine())
    }

    /// The data of a successful answer.
    #[track_caller]
    pub fn data(r: Result<Response, Error>) -> Value {
        match r {
            Ok(r) => r.data_value().cloned().unwrap_or(Value::Null),
            Err(e) => panic!("request failed: {e}"),
        }
    }

    #[test]
    fn path_table_is_valid() {
        coffer_sdk::testing::assert_paths_valid(&super::engine());
    }
}
