//! The host side of each WIT interface an engine imports.
//!
//! One file per interface holds the implementation both contract versions
//! share (`storage.rs`, `crypto.rs`, `clock.rs`, `log.rs`) as methods of
//! [`InstanceState`], the data of one engine instance's store, and
//! contract 0.1's generated `Host` traits over them; `v02/` implements
//! contract 0.2's traits by converting its types at the edge and calling
//! the same methods (and adds what only 0.2 has: the request resource and
//! the `keys` interface). A host function either answers the engine
//! (possibly with a WIT `error` it can handle) or traps it; which failures
//! trap is stated in each file's module doc.

pub mod clock;
pub mod crypto;
pub mod log;
pub mod storage;
pub mod v02;

use super::InstanceState;

impl super::bindings::v01::coffer::engine::types::Host for InstanceState {}

/// A failure a host function answers the engine with (not a trap), before
/// it becomes the WIT `error` of the engine's contract version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The engine's arguments are wrong (usually its client's input): an
    /// `invalid-request`.
    Invalid(String),
    /// The host failed (the database): an `internal` error.
    Internal(String),
}
