//! Which code runs for an engine type: the built-in engines embedded in the
//! binary, and third-party engines registered in the plugin catalog.

use serde::{Deserialize, Serialize};

/// A built-in engine: its type name and its component.
pub struct Builtin {
    /// The mount `type` that selects it.
    pub name: &'static str,
    /// The component bytes.
    pub wasm: &'static [u8],
}

/// The engines compiled into this binary (by `build.rs`).
pub const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "kv",
        wasm: include_bytes!(concat!(env!("COFFER_WASM_DIR"), "/coffer_engine_kv.wasm")),
    },
    Builtin {
        name: "transit",
        wasm: include_bytes!(concat!(
            env!("COFFER_WASM_DIR"),
            "/coffer_engine_transit.wasm"
        )),
    },
    Builtin {
        name: "pki",
        wasm: include_bytes!(concat!(env!("COFFER_WASM_DIR"), "/coffer_engine_pki.wasm")),
    },
];

/// The built-in engine of that name.
pub fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// A registered third-party engine, as stored under
/// `core/plugins/secret/<name>`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PluginRecord {
    /// Its name (the mount `type`).
    pub name: String,
    /// File name inside the plugin directory.
    pub command: String,
    /// Hex sha256 the file must have.
    pub sha256: String,
    /// Accepted for Vault compatibility; engines take no arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Accepted for Vault compatibility; engines see no environment.
    #[serde(default)]
    pub env: Vec<String>,
    /// Free-form version label.
    #[serde(default)]
    pub version: String,
}

/// The storage key of a catalog entry.
pub fn plugin_key(name: &str) -> String {
    format!("{PLUGIN_PREFIX}{name}")
}

/// Where catalog entries live in the system table.
pub const PLUGIN_PREFIX: &str = "core/plugins/secret/";
