//! Which mount serves a path: the mount table and longest-prefix routing.
//!
//! The table is an immutable snapshot behind an `RwLock<Arc<_>>`: routing
//! clones the `Arc` and never waits on a mount change; `sys/mounts` builds a
//! new table and swaps it in.
//!
//! **Invariant:** `router/` never reads storage and never runs an engine.

pub mod special;

use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::sandbox::MountRuntime;

/// Paths the host serves itself; nothing may be mounted under them.
pub const RESERVED: &[&str] = &["sys/", "auth/", "identity/", "cubbyhole/"];

/// A mount as stored in `core/mounts` and listed by `sys/mounts`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MountRecord {
    /// Its path, ending in `/`.
    pub path: String,
    /// The engine type (`kv`, `transit`, or a catalog name).
    #[serde(rename = "type")]
    pub kind: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Identity of the mount's data; kept across remounts.
    pub uuid: String,
    /// Vault's accessor (`<type>_<8 hex>`).
    pub accessor: String,
    /// Lease settings and the like (`sys/mounts/<path>/tune`).
    #[serde(default)]
    pub config: MountConfig,
    /// Engine options (`{"version": "1"}` for kv).
    #[serde(default)]
    pub options: Map<String, Value>,
    /// Vault's `local` flag (no replication here; kept for clients).
    #[serde(default)]
    pub local: bool,
    /// Vault's `seal_wrap` flag (kept for clients).
    #[serde(default)]
    pub seal_wrap: bool,
    /// Hex sha256 of the component the mount runs (`running_sha256`), a
    /// built-in's or a catalog plugin's. Set when mounted and by a reload;
    /// re-registering the plugin does not change it. At unseal a catalog
    /// mount whose code no longer has it is held (see `mounts`); a
    /// built-in's follows the binary. Empty in records of older versions.
    #[serde(default)]
    pub sha256: String,
}

/// Tunable mount settings.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct MountConfig {
    /// Seconds; 0 means the system default.
    #[serde(default)]
    pub default_lease_ttl: u64,
    /// Seconds; 0 means the system default.
    #[serde(default)]
    pub max_lease_ttl: u64,
    /// Kept for clients.
    #[serde(default)]
    pub force_no_cache: bool,
    /// Vault's `allowed_managed_keys`: the managed keys (names or ids) the
    /// mount's engine may open with `keys.managed` besides those that
    /// allow any mount (`keys::managed::open_for_mount`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_managed_keys: Vec<String>,
}

/// A live mount.
pub struct Mount {
    /// Its record.
    pub record: MountRecord,
    /// Its engine runtime.
    pub runtime: Arc<MountRuntime>,
}

/// An immutable mount table, longest path first.
#[derive(Default)]
pub struct MountTable {
    mounts: Vec<Arc<Mount>>,
}

impl MountTable {
    /// A table of these mounts.
    pub fn new(mut mounts: Vec<Arc<Mount>>) -> Self {
        mounts.sort_by(|a, b| {
            b.record
                .path
                .len()
                .cmp(&a.record.path.len())
                .then(a.record.path.cmp(&b.record.path))
        });
        MountTable { mounts }
    }

    /// Every mount, longest path first.
    pub fn mounts(&self) -> &[Arc<Mount>] {
        &self.mounts
    }

    /// The mount serving `path` and the path inside it. `secret` and
    /// `secret/` both reach the mount `secret/` with an empty inner path.
    pub fn route(&self, path: &str) -> Option<(Arc<Mount>, String)> {
        let (mount, rest) = self.find(path)?;
        Some((mount.clone(), rest.to_string()))
    }

    /// [`Self::route`] without copying: the mount and the inner path.
    pub fn find<'p>(&self, path: &'p str) -> Option<(&Arc<Mount>, &'p str)> {
        for mount in &self.mounts {
            let mp = mount.record.path.as_str();
            if let Some(rest) = path.strip_prefix(mp) {
                return Some((mount, rest));
            }
            if Some(path) == mp.strip_suffix('/') {
                return Some((mount, ""));
            }
        }
        None
    }

    /// The mount at exactly `path` (with its trailing slash).
    pub fn exact(&self, path: &str) -> Option<Arc<Mount>> {
        self.mounts.iter().find(|m| m.record.path == path).cloned()
    }

    /// The mount whose path is a prefix of `path`, or under `path`: a new
    /// mount there would shadow or be shadowed.
    pub fn conflict(&self, path: &str) -> Option<&str> {
        self.mounts
            .iter()
            .map(|m| m.record.path.as_str())
            .find(|mp| path.starts_with(mp) || mp.starts_with(path))
    }
}

/// The current mount table.
#[derive(Default)]
pub struct Router {
    table: RwLock<Arc<MountTable>>,
}

impl Router {
    /// The table as of now.
    pub fn table(&self) -> Arc<MountTable> {
        self.table.read().map(|t| t.clone()).unwrap_or_default()
    }

    /// Replaces the table.
    pub fn replace(&self, table: MountTable) {
        if let Ok(mut t) = self.table.write() {
            *t = Arc::new(table);
        }
    }
}

/// Normalises a mount path from a URL or body: no leading slash, exactly one
/// trailing slash, no empty or dot segments. The error names the problem.
pub fn normalize_mount_path(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim_matches('/');
    if trimmed.is_empty() {
        return Err("mount path must not be empty".into());
    }
    for seg in trimmed.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." {
            return Err(format!("invalid mount path {raw:?}: empty or dot segment"));
        }
        if seg.chars().any(|c| c.is_control() || c == '*' || c == '+') {
            return Err(format!("invalid mount path {raw:?}: forbidden character"));
        }
    }
    let path = format!("{trimmed}/");
    if let Some(r) = RESERVED.iter().find(|r| path.starts_with(*r)) {
        return Err(format!("cannot mount under reserved path {r:?}"));
    }
    Ok(path)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn mount_paths_are_normalised_and_checked() {
        assert_eq!(
            normalize_mount_path("/a/b/transit2/").unwrap(),
            "a/b/transit2/"
        );
        assert_eq!(normalize_mount_path("kv").unwrap(), "kv/");
        assert!(normalize_mount_path("").is_err());
        assert!(normalize_mount_path("a//b").is_err());
        assert!(normalize_mount_path("a/../b").is_err());
        assert!(normalize_mount_path("sys/x").is_err());
        assert!(normalize_mount_path("auth/token").is_err());
    }
}
