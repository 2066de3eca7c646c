//! The plugin catalog: registered third-party engines (a file in the
//! plugin directory and its sha256), and which component runs for an engine
//! type.

use std::path::PathBuf;
use std::sync::Arc;

use crate::api::ApiError;
use crate::engines::{self, PluginRecord, PLUGIN_PREFIX};
use crate::sandbox::{EngineCode, Sandbox};
use crate::seal::Unsealed;
use crate::storage::Storage;

/// Catalog records (in the `system` table) and the plugin directory.
pub struct Catalog {
    storage: Storage,
    /// Where catalog engines' files are; `None` disables the catalog.
    plugin_dir: Option<PathBuf>,
}

impl Catalog {
    /// The catalog over `storage`, with files in `plugin_dir`.
    pub fn new(storage: Storage, plugin_dir: Option<PathBuf>) -> Self {
        Catalog {
            storage,
            plugin_dir,
        }
    }

    /// A catalog entry.
    pub fn get(&self, unsealed: &Unsealed, name: &str) -> Result<Option<PluginRecord>, ApiError> {
        match self
            .storage
            .system_get(unsealed, &engines::plugin_key(name))?
        {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| ApiError::internal(format!("catalog entry {name:?} is corrupt: {e}"))),
            None => Ok(None),
        }
    }

    /// Stores (`Some`) or removes a catalog entry (call under the mounts
    /// lock).
    pub fn put(
        &self,
        unsealed: &Unsealed,
        name: &str,
        record: Option<&PluginRecord>,
    ) -> Result<(), ApiError> {
        let bytes = record
            .map(serde_json::to_vec)
            .transpose()
            .map_err(ApiError::internal)?;
        self.storage
            .system_write(unsealed, &[(&engines::plugin_key(name), bytes.as_deref())])?;
        Ok(())
    }

    /// The names of the registered entries.
    pub fn registered(&self, unsealed: &Unsealed) -> Result<Vec<String>, ApiError> {
        Ok(self.storage.system_list(unsealed, PLUGIN_PREFIX)?)
    }

    /// Reads a file from the plugin directory; `command` must be a plain
    /// file name in it.
    pub fn read_file(&self, command: &str) -> Result<Vec<u8>, ApiError> {
        let Some(dir) = &self.plugin_dir else {
            return Err(ApiError::bad("no plugin_directory is configured"));
        };
        if command.is_empty()
            || command.contains('/')
            || command.contains('\\')
            || command.starts_with('.')
        {
            return Err(ApiError::bad(format!(
                "command {command:?} must be a file name inside the plugin directory"
            )));
        }
        std::fs::read(dir.join(command)).map_err(|e| {
            ApiError::bad(format!(
                "cannot read plugin file {command:?} in the plugin directory: {e}"
            ))
        })
    }

    /// The component for an engine type: a catalog entry (whose file must
    /// still have its registered sha256) or a built-in.
    pub fn code(
        &self,
        unsealed: &Unsealed,
        sandbox: &Sandbox,
        kind: &str,
    ) -> Result<Arc<EngineCode>, ApiError> {
        if let Some(record) = self.get(unsealed, kind)? {
            let wasm = self.read_file(&record.command)?;
            let actual = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&wasm));
            if !actual.eq_ignore_ascii_case(&record.sha256) {
                return Err(ApiError::bad(format!(
                    "plugin {kind:?}: file {:?} has sha256 {actual}, but {} was registered",
                    record.command, record.sha256
                )));
            }
            return sandbox.load(&wasm).map_err(ApiError::BadRequest);
        }
        match engines::builtin(kind) {
            Some(b) => sandbox.load(b.wasm).map_err(ApiError::Internal),
            None => Err(ApiError::bad(format!(
                "unknown secrets engine type {kind:?}"
            ))),
        }
    }
}
