//! The glue `#[coffer_sdk::engine]` expands to, one module per contract
//! version: WIT types in, SDK types out and back. Every conversion between
//! a contract's generated types and the SDK's lives here (`v01.rs`,
//! `v02.rs`), with that version's host storage and its [`Imports`]
//! (`crate::imports`) for the free functions.
//!
//! [`Imports`]: crate::imports::Imports

#[cfg(feature = "contract-0-1")]
pub mod v01;
pub mod v02;

use serde_json::{Map, Value};

/// The mount's options as the host gives them: a JSON object, `{}` when
/// anything else (the host always sends an object).
fn options(text: &str) -> Map<String, Value> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}
