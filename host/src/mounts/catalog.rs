//! The plugin catalog: registered third-party engines (a file in the
//! plugin directory and its sha256), reading their files, and which
//! component runs for an engine type.
//!
//! The built-in engines' names (`kv`, `transit`) are reserved: a catalog
//! entry cannot take them, and a built-in always wins over an entry stored
//! under its name by an older version.
//!
//! A plugin file must be a regular file directly inside the (canonical)
//! plugin directory once symlinks are resolved (as Vault requires), and at
//! most [`MAX_PLUGIN_BYTES`] long. What this does not cover: the file is
//! resolved, then opened, so whoever can write the plugin directory can
//! swap it in between; its contents are still checked against the
//! registered sha256 before anything runs.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::api::ApiError;
use crate::engines::{self, PluginRecord, PLUGIN_PREFIX};
use crate::sandbox::{EngineCode, Sandbox};
use crate::seal::Unsealed;
use crate::storage::Storage;

/// The largest plugin file read. A component is read whole into memory to
/// be hashed and compiled, so this bounds the memory a registration, mount
/// or reload takes; the built-in engines are under 2 MiB (transit, the
/// largest, about 1.2 MiB), so 64 MiB leaves ample room for third-party
/// engines.
pub const MAX_PLUGIN_BYTES: u64 = 64 << 20;

/// Catalog records (in the `system` table) and the plugin directory.
#[derive(Clone)]
pub struct Catalog {
    storage: Storage,
    /// Where catalog engines' files are; `None` disables the catalog.
    plugin_dir: Option<PathBuf>,
}

/// A plugin file as read, and the sha256 of what was read.
pub struct PluginFile {
    /// Its contents.
    pub bytes: Vec<u8>,
    /// Their sha256.
    pub sha256: [u8; 32],
}

/// The code that runs for an engine type.
pub struct Resolved {
    /// The loaded component.
    pub code: Arc<EngineCode>,
    /// Whether it is built in (it then follows the binary; there is no
    /// file to go stale).
    pub builtin: bool,
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
    /// lock). A built-in's name cannot be stored.
    pub fn put(
        &self,
        unsealed: &Unsealed,
        name: &str,
        record: Option<&PluginRecord>,
    ) -> Result<(), ApiError> {
        if record.is_some() {
            check_not_builtin(name)?;
        }
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

    /// Reads a file from the plugin directory, hashing it as it is read:
    /// `command` must be a plain file name that resolves (symlinks
    /// followed) to a regular file directly inside the plugin directory, of
    /// at most [`MAX_PLUGIN_BYTES`]. Every refusal is a 400 naming the rule.
    pub fn read_file(&self, command: &str) -> Result<PluginFile, ApiError> {
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
        let cannot = |e: std::io::Error| {
            ApiError::bad(format!(
                "cannot read plugin file {command:?} in the plugin directory: {e}"
            ))
        };
        let dir = dir.canonicalize().map_err(|e| {
            ApiError::bad(format!(
                "cannot resolve the plugin directory {}: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join(command).canonicalize().map_err(cannot)?;
        if path.parent() != Some(dir.as_path()) {
            return Err(ApiError::bad(format!(
                "plugin file {command:?} resolves to {}, outside the plugin directory {}: \
                 links out of it are refused",
                path.display(),
                dir.display()
            )));
        }
        read_capped(&path, command).map_err(|e| match e {
            Capped::Io(e) => cannot(e),
            Capped::Refused(message) => ApiError::BadRequest(message),
        })
    }

    /// Reads the file of `record` and checks it has the registered sha256.
    pub fn verified_file(&self, record: &PluginRecord) -> Result<PluginFile, ApiError> {
        let file = self.read_file(&record.command)?;
        let actual = hex::encode(file.sha256);
        if !actual.eq_ignore_ascii_case(&record.sha256) {
            return Err(ApiError::bad(format!(
                "sha256 mismatch for plugin {:?}: {} was registered, but file {:?} has {actual}",
                record.name, record.sha256, record.command
            )));
        }
        Ok(file)
    }

    /// The component for an engine type: a built-in, or a catalog entry
    /// whose file still has its registered sha256. Reads and compiles: call
    /// off the async workers.
    pub fn code(
        &self,
        unsealed: &Unsealed,
        sandbox: &Sandbox,
        kind: &str,
    ) -> Result<Resolved, ApiError> {
        if let Some(b) = engines::builtin(kind) {
            let code = sandbox.load(b.wasm).map_err(ApiError::Internal)?;
            return Ok(Resolved {
                code,
                builtin: true,
            });
        }
        let Some(record) = self.get(unsealed, kind)? else {
            return Err(ApiError::bad(format!(
                "unknown secrets engine type {kind:?}"
            )));
        };
        let file = self.verified_file(&record)?;
        let code = sandbox.load(&file.bytes).map_err(ApiError::BadRequest)?;
        Ok(Resolved {
            code,
            builtin: false,
        })
    }
}

/// 400 if `name` is a built-in engine's.
pub fn check_not_builtin(name: &str) -> Result<(), ApiError> {
    if engines::builtin(name).is_some() {
        return Err(ApiError::bad(format!(
            "plugin name {name:?} is reserved for the built-in engine; \
             register the component under another name"
        )));
    }
    Ok(())
}

enum Capped {
    Io(std::io::Error),
    Refused(String),
}

/// Reads a regular file of at most [`MAX_PLUGIN_BYTES`], hashing as it
/// reads; the size is checked on the open file before reading, and again
/// while reading (the file may grow).
fn read_capped(path: &Path, command: &str) -> Result<PluginFile, Capped> {
    let file = std::fs::File::open(path).map_err(Capped::Io)?;
    let meta = file.metadata().map_err(Capped::Io)?;
    if !meta.is_file() {
        return Err(Capped::Refused(format!(
            "plugin file {command:?} is not a regular file"
        )));
    }
    let too_big = |size: u64| {
        Capped::Refused(format!(
            "plugin file {command:?} is {size} bytes, over the limit of {MAX_PLUGIN_BYTES} bytes ({} MiB)",
            MAX_PLUGIN_BYTES >> 20
        ))
    };
    if meta.len() > MAX_PLUGIN_BYTES {
        return Err(too_big(meta.len()));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    let mut hasher = Sha256::new();
    let mut limited = file.take(MAX_PLUGIN_BYTES.saturating_add(1));
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match limited.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Capped::Io(e)),
        };
        let read = chunk.get(..n).unwrap_or_default();
        hasher.update(read);
        bytes.extend_from_slice(read);
    }
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if size > MAX_PLUGIN_BYTES {
        return Err(too_big(size));
    }
    Ok(PluginFile {
        bytes,
        sha256: hasher.finalize().into(),
    })
}
