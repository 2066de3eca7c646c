//! The host side of each WIT interface an engine imports, one file each.
//!
//! Each implements the generated `Host` trait on [`InstanceState`], the data
//! of one engine instance's store. A host function either answers the engine
//! (possibly with a WIT `error` it can handle) or traps it; which failures
//! trap is stated in each file's module doc.

pub mod clock;
pub mod crypto;
pub mod log;
pub mod storage;

use super::InstanceState;

impl super::bindings::coffer::engine::types::Host for InstanceState {}
