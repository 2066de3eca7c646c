//! The generated bindings for `wit/coffer-engine@0.1.0`, in one place.
//!
//! Options, and why:
//! - `exports: async`: engine calls run on wasmtime fibers inside tokio
//!   tasks, so a call never blocks a worker thread and needs no thread hop.
//! - `imports: trappable`: a host function can trap the guest (stale resource
//!   handle, a write buffer over its cap) instead of answering it; such an
//!   instance is then dropped.
//! - No `tracing` on any import: its argument values are secrets.
//! - `with`: the crypto key resources are host types kept in the store's
//!   `ResourceTable`, so a warm instance keeps its keys parsed.

wasmtime::component::bindgen!({
    path: "../wit/coffer-engine@0.1.0",
    world: "coffer:engine/engine",
    imports: { default: trappable },
    exports: { default: async },
    with: {
        "coffer:engine/crypto.private-key": crate::sandbox::host::crypto::PrivateKeyHandle,
        "coffer:engine/crypto.public-key": crate::sandbox::host::crypto::PublicKeyHandle,
    },
});

pub use coffer::engine::types::{
    Body, Error as EngineError, Operation, RawBody, Request as EngineRequest,
    Response as EngineResponse,
};
