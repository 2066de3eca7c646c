//! The generated bindings, one module per contract version the host loads:
//! [`v01`] (`wit/coffer-engine@0.1.0`) and [`v02`] (`wit/coffer-engine@0.2.0`).
//!
//! Each version has its own linker (see `Sandbox::new`), so an engine sees
//! only the host functions of the world it was built against. The host
//! functions of both versions share their implementation (`sandbox/host/`):
//! each version's types are converted at the edge, in its own module.
//!
//! Options, and why (both versions):
//! - `exports: async`: engine calls run on wasmtime fibers inside tokio
//!   tasks, so a call never blocks a worker thread and needs no thread hop.
//! - `imports: trappable`: a host function can trap the guest (stale resource
//!   handle, a write buffer over its cap) instead of answering it; such an
//!   instance is then dropped.
//! - `async` on the imports that may compute for long (key generation,
//!   private-key operations, and those whose cost grows with their input; the
//!   list and the rule are in `host/crypto.rs`): their Rust side is a future,
//!   so they can hand the work to the [`HeavyPool`](super::heavy::HeavyPool)
//!   and suspend the call's fiber instead of holding a tokio worker. To the
//!   engine they are still plain blocking calls (the WIT is unchanged).
//!   Everything else stays synchronous: no future, no thread hop.
//! - No `tracing` on any import: its argument values are secrets.
//! - `with`: resources are host types kept in the store's `ResourceTable`,
//!   so a warm instance keeps its keys parsed.

pub mod v01;
pub mod v02;
