//! Vault's KV secrets engine, version 1: any JSON object stored at any path.
//!
//! The path table is the whole engine; `secret.rs` holds the one path group.
#![deny(missing_docs)]
#![deny(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use coffer_sdk::Engine;

mod secret;

/// The path table.
#[coffer_sdk::engine]
pub fn engine() -> Engine {
    Engine::new().path(secret::path())
}

#[cfg(test)]
mod tests {
    #[test]
    fn path_table_is_valid() {
        coffer_sdk::testing::assert_paths_valid(&super::engine());
    }
}
