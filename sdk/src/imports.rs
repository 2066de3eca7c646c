//! The host functions an engine reaches without a [`crate::Ctx`] (the
//! clock, the log, keyless crypto), in wasm: each contract version's glue
//! (`export/`) implements [`Imports`] over its own WIT imports and binds it
//! at every entry, so the free functions of [`crate::clock`],
//! [`crate::log`] and [`crate::crypto`] call the imports of the world the
//! engine exports. Dispatch is dynamic on purpose: a static reference to
//! both versions' imports would make every component import both worlds,
//! and the host links only one; the vtable of a version exists only where
//! its glue is expanded, so the other's imports are never linked.

// Natively nothing calls the host: only the glue binds, and no free
// function reads what it bound.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

use std::cell::Cell;

use crate::clock::Timestamp;
use crate::crypto::{AeadAlgorithm, HashAlgorithm};
use crate::log::Level;
use crate::Error;

/// One contract version's host functions (see the module doc).
pub(crate) trait Imports: Sync {
    fn now(&self) -> Timestamp;
    fn log(&self, level: Level, message: &str);
    fn random_bytes(&self, len: u32) -> Result<Vec<u8>, Error>;
    fn hash(&self, algorithm: HashAlgorithm, data: &[u8]) -> Result<Vec<u8>, Error>;
    fn hmac(&self, algorithm: HashAlgorithm, key: &[u8], data: &[u8]) -> Result<Vec<u8>, Error>;
    fn hmac_verify(
        &self,
        algorithm: HashAlgorithm,
        key: &[u8],
        data: &[u8],
        tag: &[u8],
    ) -> Result<bool, Error>;
    fn hkdf(
        &self,
        algorithm: HashAlgorithm,
        ikm: &[u8],
        salt: &[u8],
        info: &[u8],
        len: u32,
    ) -> Result<Vec<u8>, Error>;
    fn aead_seal(
        &self,
        algorithm: AeadAlgorithm,
        key: &[u8],
        nonce: &[u8],
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, Error>;
    fn aead_open(
        &self,
        algorithm: AeadAlgorithm,
        key: &[u8],
        nonce: &[u8],
        ciphertext: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, Error>;
    fn aes_key_wrap_pad(&self, kek: &[u8], key: &[u8]) -> Result<Vec<u8>, Error>;
    fn aes_key_unwrap_pad(&self, kek: &[u8], wrapped: &[u8]) -> Result<Vec<u8>, Error>;
}

thread_local! {
    static BOUND: Cell<Option<&'static dyn Imports>> = const { Cell::new(None) };
}

/// Makes `imports` the ones the free functions call (the glue, at every
/// entry; an instance runs one engine, of one version).
pub(crate) fn bind(imports: &'static dyn Imports) {
    BOUND.with(|b| b.set(Some(imports)));
}

/// The bound imports; none before the first entry (never in practice: the
/// glue binds before it builds the engine).
pub(crate) fn bound() -> Result<&'static dyn Imports, Error> {
    BOUND
        .with(Cell::get)
        .ok_or_else(|| Error::internal("no contract is bound: host functions are unavailable"))
}
