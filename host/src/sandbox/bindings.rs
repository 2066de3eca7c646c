//! The generated bindings for `wit/coffer-engine@0.1.0`, in one place.
//!
//! Options, and why:
//! - `exports: async`: engine calls run on wasmtime fibers inside tokio
//!   tasks, so a call never blocks a worker thread and needs no thread hop.
//! - `imports: trappable`: a host function can trap the guest (stale resource
//!   handle, a write buffer over its cap) instead of answering it; such an
//!   instance is then dropped.
//! - `async` on the crypto imports that may compute for long (key generation,
//!   private-key operations, and those whose cost grows with their input; the
//!   list and the rule are in `host/crypto.rs`): their Rust side is a future,
//!   so they can hand the work to the [`HeavyPool`](super::heavy::HeavyPool)
//!   and suspend the call's fiber instead of holding a tokio worker. To the
//!   engine they are still plain blocking calls (the WIT is unchanged).
//!   Everything else stays synchronous: no future, no thread hop.
//! - No `tracing` on any import: its argument values are secrets.
//! - `with`: the crypto key resources are host types kept in the store's
//!   `ResourceTable`, so a warm instance keeps its keys parsed.

wasmtime::component::bindgen!({
    path: "../wit/coffer-engine@0.1.0",
    world: "coffer:engine/engine",
    imports: {
        "coffer:engine/crypto.[static]private-key.generate": async | trappable,
        "coffer:engine/crypto.[static]private-key.import": async | trappable,
        "coffer:engine/crypto.[method]private-key.export": async | trappable,
        "coffer:engine/crypto.[method]private-key.sign": async | trappable,
        "coffer:engine/crypto.[method]private-key.decrypt-oaep": async | trappable,
        "coffer:engine/crypto.[method]public-key.verify": async | trappable,
        "coffer:engine/crypto.[method]public-key.encrypt-oaep": async | trappable,
        "coffer:engine/crypto.hash": async | trappable,
        "coffer:engine/crypto.aes-key-wrap-pad": async | trappable,
        "coffer:engine/crypto.aes-key-unwrap-pad": async | trappable,
        default: trappable,
    },
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
