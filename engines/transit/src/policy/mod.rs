//! The key policy, split by concern: `model.rs` (versions, minimum
//! versions, sealed key blobs, the rules on them), `store.rs` (persistence
//! with a format version, upgraded on read, and the migration of release
//! 0.1's key bytes into blobs), `cache.rs` (parsed policies and their open
//! handles kept per instance, validated by the storage generation) and
//! `crypto.rs` (what the keys do, through host handles).

pub mod cache;
pub mod crypto;
#[cfg(test)]
mod fuzz;
pub mod model;
pub mod store;

pub use crypto::Loaded;
pub use model::{KeyKind, Policy};
