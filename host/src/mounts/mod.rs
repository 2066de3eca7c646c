//! The mounts service: the live mount table (routing), the plugin catalog
//! ([`catalog`]), and every change of them — mount, unmount, tune, remount,
//! restore at unseal, retire at seal — serialised by one lock.
//!
//! `sys/mounts`, `sys/remount`, `sys/plugins` and dev mode's `secret/` all
//! go through [`Mounts::add`] and its siblings; none edits the table itself.
//!
//! **Invariant:** changes are serialised by the mounts lock, and storage is
//! written before the router's table is swapped, so a failed write leaves
//! both as they were.

pub mod catalog;

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use crate::api::ApiError;
use crate::router::{Mount, MountConfig, MountRecord, MountTable, Router};
use crate::sandbox::Sandbox;
use crate::seal::Unsealed;
use crate::storage::{MountPrefix, Storage};
use catalog::Catalog;

/// Where the mount table is stored.
pub const MOUNTS_KEY: &str = "core/mounts";

/// A mount to make, parsed and checked.
pub struct NewMount {
    /// Its normalised path, ending in `/`.
    pub path: String,
    /// The engine type.
    pub kind: String,
    /// Free text.
    pub description: String,
    /// Lease settings.
    pub config: MountConfig,
    /// Engine options.
    pub options: Map<String, Value>,
    /// Vault's `local`.
    pub local: bool,
    /// Vault's `seal_wrap`.
    pub seal_wrap: bool,
}

/// A finished remount, for `sys/remount/status`.
#[derive(Clone)]
pub struct Migration {
    /// Its id.
    pub id: String,
    /// The old path.
    pub from: String,
    /// The new path.
    pub to: String,
}

/// The mount table and catalog, and the lock around their changes.
pub struct Mounts {
    storage: Storage,
    sandbox: Arc<Sandbox>,
    router: Router,
    catalog: Catalog,
    /// Serialises changes of the mount table and the catalog.
    lock: tokio::sync::Mutex<()>,
    /// Finished remounts.
    migrations: Mutex<Vec<Migration>>,
}

impl Mounts {
    /// An empty table over `storage`; catalog files in `plugin_dir`.
    pub fn new(
        storage: Storage,
        sandbox: Arc<Sandbox>,
        plugin_dir: Option<std::path::PathBuf>,
    ) -> Self {
        Mounts {
            catalog: Catalog::new(storage.clone(), plugin_dir),
            storage,
            sandbox,
            router: Router::default(),
            lock: tokio::sync::Mutex::new(()),
            migrations: Mutex::new(Vec::new()),
        }
    }

    /// The current table (routing never waits on a change).
    pub fn table(&self) -> Arc<MountTable> {
        self.router.table()
    }

    /// The plugin catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The engine runtime.
    pub fn sandbox(&self) -> &Arc<Sandbox> {
        &self.sandbox
    }

    /// Holds the lock for a catalog change.
    pub async fn lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.lock.lock().await
    }

    /// Mounts an engine: the one way a mount is made (`sys/mounts`, dev
    /// mode's `secret/`).
    pub async fn add(&self, unsealed: &Unsealed, new: NewMount) -> Result<(), ApiError> {
        let _guard = self.lock.lock().await;
        let table = self.router.table();
        if let Some(existing) = table.conflict(&new.path) {
            return Err(ApiError::bad(format!(
                "path is already in use at {existing}"
            )));
        }
        let uuid = uuid::Uuid::new_v4().to_string();
        let accessor = format!("{}_{}", new.kind, uuid.get(..8).unwrap_or_default());
        let sha256 = match self.catalog.get(unsealed, &new.kind)? {
            Some(p) => p.sha256,
            None => String::new(),
        };
        let record = MountRecord {
            path: new.path,
            kind: new.kind,
            description: new.description,
            uuid,
            accessor,
            config: new.config,
            options: new.options,
            local: new.local,
            seal_wrap: new.seal_wrap,
            sha256,
        };
        let live = self.start(unsealed, record)?;
        let mut mounts = table.mounts().to_vec();
        mounts.push(live);
        self.install(unsealed, MountTable::new(mounts))
    }

    /// Unmounts `path` and deletes its data; nothing mounted there is not
    /// an error (Vault answers 204).
    pub async fn remove(&self, unsealed: &Unsealed, path: &str) -> Result<(), ApiError> {
        let _guard = self.lock.lock().await;
        let table = self.router.table();
        let Some(mount) = table.exact(path) else {
            return Ok(());
        };
        let remaining = without(&table, path);
        // Route no new request to it, wait out any commit, then delete its data.
        self.install(unsealed, MountTable::new(remaining))?;
        mount.runtime.retire().await;
        let storage = self.storage.clone();
        let prefix = mount.runtime.prefix().clone();
        let unsealed = unsealed.clone();
        tokio::task::spawn_blocking(move || storage.delete_mount_data(&unsealed, &prefix))
            .await
            .map_err(ApiError::internal)??;
        Ok(())
    }

    /// Changes the record of the mount at `path` (tune); `change` may
    /// refuse. The engine keeps running.
    pub async fn update(
        &self,
        unsealed: &Unsealed,
        path: &str,
        change: impl FnOnce(&mut MountRecord) -> Result<(), ApiError>,
    ) -> Result<(), ApiError> {
        let _guard = self.lock.lock().await;
        let table = self.router.table();
        let mount = table
            .exact(path)
            .ok_or_else(|| ApiError::bad(format!("cannot tune: no mount at {path:?}")))?;
        let mut record = mount.record.clone();
        change(&mut record)?;
        let updated = Arc::new(Mount {
            record,
            runtime: mount.runtime.clone(),
        });
        let mounts = table
            .mounts()
            .iter()
            .map(|m| {
                if m.record.path == path {
                    updated.clone()
                } else {
                    m.clone()
                }
            })
            .collect();
        self.install(unsealed, MountTable::new(mounts))
    }

    /// Moves the mount at `from` to `to`, data and engine included; returns
    /// the migration id.
    pub async fn remount(
        &self,
        unsealed: &Unsealed,
        from: &str,
        to: &str,
    ) -> Result<String, ApiError> {
        let _guard = self.lock.lock().await;
        let table = self.router.table();
        let mount = table
            .exact(from)
            .ok_or_else(|| ApiError::bad(format!("no secret engine mount at {from}")))?;
        let others = without(&table, from);
        if let Some(existing) = MountTable::new(others.clone()).conflict(to) {
            return Err(ApiError::bad(format!(
                "path is already in use at {existing}"
            )));
        }
        let mut record = mount.record.clone();
        record.path = to.to_string();
        let mut mounts = others;
        mounts.push(Arc::new(Mount {
            record,
            runtime: mount.runtime.clone(),
        }));
        self.install(unsealed, MountTable::new(mounts))?;
        mount.runtime.set_label(to);
        let id = uuid::Uuid::new_v4().to_string();
        if let Ok(mut m) = self.migrations.lock() {
            m.push(Migration {
                id: id.clone(),
                from: from.to_string(),
                to: to.to_string(),
            });
        }
        Ok(id)
    }

    /// A finished remount.
    pub fn migration(&self, id: &str) -> Option<Migration> {
        self.migrations
            .lock()
            .ok()
            .and_then(|m| m.iter().find(|mig| mig.id == id).cloned())
    }

    /// Loads the stored table (at unseal). A mount whose engine cannot be
    /// loaded is logged and left out of routing; its data stays.
    pub async fn restore(&self, unsealed: &Unsealed) -> Result<(), ApiError> {
        let _guard = self.lock.lock().await;
        let records: Vec<MountRecord> = match self.storage.system_get(unsealed, MOUNTS_KEY)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::internal(format!("cannot load the mount table: {e}")))?,
            None => Vec::new(),
        };
        let mut live = Vec::new();
        for record in records {
            let path = record.path.clone();
            match self.start(unsealed, record) {
                Ok(m) => live.push(m),
                Err(e) => {
                    tracing::error!(path = %path, "cannot start mount: {:?}", e.messages())
                }
            }
        }
        self.router.replace(MountTable::new(live));
        Ok(())
    }

    /// Empties the table and drops every engine instance (at seal, or when
    /// an unseal fails half-way).
    pub async fn retire_all(&self) {
        let _guard = self.lock.lock().await;
        let table = self.router.table();
        self.router.replace(MountTable::new(Vec::new()));
        for mount in table.mounts() {
            mount.runtime.retire().await;
        }
    }

    /// Builds a live mount from its record.
    fn start(&self, unsealed: &Unsealed, record: MountRecord) -> Result<Arc<Mount>, ApiError> {
        let code = self.catalog.code(unsealed, &self.sandbox, &record.kind)?;
        let runtime = self
            .sandbox
            .mount(code, MountPrefix::for_mount(&record.uuid), &record.path);
        Ok(Arc::new(Mount { record, runtime }))
    }

    /// Stores `table`'s records, then routes by it (call with the lock held).
    fn install(&self, unsealed: &Unsealed, table: MountTable) -> Result<(), ApiError> {
        let mut records: Vec<&MountRecord> = table.mounts().iter().map(|m| &m.record).collect();
        records.sort_by(|a, b| a.path.cmp(&b.path));
        let bytes = serde_json::to_vec(&records).map_err(ApiError::internal)?;
        self.storage
            .system_write(unsealed, &[(MOUNTS_KEY, Some(&bytes))])?;
        self.router.replace(table);
        Ok(())
    }
}

/// Every mount of `table` but the one at `path`.
fn without(table: &MountTable, path: &str) -> Vec<Arc<Mount>> {
    table
        .mounts()
        .iter()
        .filter(|m| m.record.path != path)
        .cloned()
        .collect()
}
