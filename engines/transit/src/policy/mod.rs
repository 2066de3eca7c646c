//! The key policy, split by concern: `model.rs` (versions, minimum
//! versions, key material, the rules on them), `store.rs` (persistence with
//! a format version, upgraded on read), `cache.rs` (parsed policies kept per
//! instance, validated by the storage generation) and `crypto.rs` (what the
//! keys do).

pub mod cache;
pub mod crypto;
#[cfg(test)]
mod fuzz;
pub mod model;
pub mod store;

pub use cache::Mount;
pub use crypto::Loaded;
pub use model::{KeyKind, Policy};
