//! The mounts service: the live mount table (routing), the plugin catalog
//! ([`catalog`]), and every change of them — mount, unmount, tune, remount,
//! register, reload, restore at unseal, retire at seal — serialised by one
//! lock.
//!
//! `sys/mounts`, `sys/remount`, `sys/plugins` and dev mode's `secret/` all
//! go through [`Mounts::add`] and its siblings; none edits the table itself.
//!
//! A mount records the sha256 of the component it runs (`sha256`, shown as
//! `running_sha256`), catalog plugins and built-ins alike. Registering a
//! name again changes no running mount; [`Mounts::reload`]
//! (`sys/plugins/reload/backend`) switches mounts to what the catalog now
//! names and records its sha256. At unseal ([`Mounts::restore`]) a mount
//! whose recorded code cannot be had — its catalog entry now names another
//! sha256, its file changed, went missing or does not load — is still
//! routed but held: every call answers 503 naming the mismatch until it is
//! reloaded (or unmounted); its data stays. A built-in mount follows the
//! binary instead: its record takes the built-in's current sha256.
//!
//! The service also reaches the mounts' key-blob sealers ([`Mounts::keys`],
//! `keys::MountKeys`, made by the sandbox, whose `keys` import uses them)
//! and forgets them with the engine instances at seal.
//!
//! **Invariant:** changes are serialised by the mounts lock, and storage is
//! written before the router's table is swapped, so a failed write leaves
//! both as they were.

pub mod catalog;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use crate::api::ApiError;
use crate::engines::PluginRecord;
use crate::keys::MountKeys;
use crate::router::{Mount, MountConfig, MountRecord, MountTable, Router};
use crate::sandbox::{EngineCode, MountRuntime, Sandbox};
use crate::seal::Unsealed;
use crate::storage::{MountPrefix, Storage};
use catalog::{Catalog, Resolved};

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

/// Which mounts a reload switches.
pub enum Reload {
    /// Every mount of this engine type (a catalog name or a built-in).
    Plugin(String),
    /// These mounts (normalised paths).
    Mounts(Vec<String>),
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
    /// Each mount's key-blob sealer, forgotten at seal with the mounts.
    keys: Arc<MountKeys>,
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
            keys: sandbox.mount_keys(),
            storage,
            sandbox,
            router: Router::default(),
            lock: tokio::sync::Mutex::new(()),
            migrations: Mutex::new(Vec::new()),
        }
    }

    /// The mounts' key-blob sealers (`MountKeys::sealer_for` with a
    /// mount's uuid): the sandbox's (`Sandbox::mount_keys`), which its
    /// `keys` import uses; this service forgets them at seal.
    pub fn keys(&self) -> Arc<MountKeys> {
        Arc::clone(&self.keys)
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

    /// Registers (or re-registers) a catalog engine: its file must have
    /// the record's sha256 and compile. Running mounts keep their code.
    pub async fn register(
        &self,
        unsealed: &Unsealed,
        record: PluginRecord,
    ) -> Result<(), ApiError> {
        catalog::check_not_builtin(&record.name)?;
        let catalog = self.catalog.clone();
        let sandbox = self.sandbox.clone();
        let record = tokio::task::spawn_blocking(move || {
            let file = catalog.verified_file(&record)?;
            sandbox.load(&file.bytes).map_err(ApiError::BadRequest)?;
            Ok::<_, ApiError>(record)
        })
        .await
        .map_err(ApiError::internal)??;
        let _guard = self.lock.lock().await;
        self.catalog.put(unsealed, &record.name, Some(&record))
    }

    /// Removes a catalog entry (nothing there is not an error). Running
    /// mounts keep their code; after a restart they are held.
    pub async fn deregister(&self, unsealed: &Unsealed, name: &str) -> Result<(), ApiError> {
        let _guard = self.lock.lock().await;
        self.catalog.put(unsealed, name, None)
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
        let code = self.resolve(unsealed, &new.kind).await?.code;
        let described = self
            .sandbox
            .describe(&code, &new.path)
            .await
            .map_err(|e| ApiError::bad(format!("cannot mount {:?}: {e}", new.path)))?;
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
            sha256: code.sha256.clone(),
        };
        let runtime = self.sandbox.mount(
            code,
            described,
            MountPrefix::for_mount(&record.uuid),
            &record.path,
        );
        let mut mounts = table.mounts().to_vec();
        mounts.push(Arc::new(Mount { record, runtime }));
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

    /// Switches mounts to the code their engine type now names (the
    /// catalog entry's file, or the built-in) and records its sha256, as
    /// Vault's `sys/plugins/reload/backend`: every engine type involved is
    /// loaded first, so nothing changes unless all load. A held mount
    /// starts running. Returns the paths switched.
    ///
    /// Calls already running on the old code finish on it; they share the
    /// mount's commit lock and generation with the new code, so the
    /// mount's writes stay serialisable (see [`Sandbox::succeed`]).
    pub async fn reload(
        &self,
        unsealed: &Unsealed,
        which: Reload,
    ) -> Result<Vec<String>, ApiError> {
        let _guard = self.lock.lock().await;
        let table = self.router.table();
        let chosen: Vec<Arc<Mount>> = match &which {
            Reload::Plugin(name) => {
                if crate::engines::builtin(name).is_none()
                    && self.catalog.get(unsealed, name)?.is_none()
                {
                    return Err(ApiError::bad(format!(
                        "plugin {name:?} is not in the catalog"
                    )));
                }
                table
                    .mounts()
                    .iter()
                    .filter(|m| m.record.kind == *name)
                    .cloned()
                    .collect()
            }
            Reload::Mounts(paths) => paths
                .iter()
                .map(|p| {
                    table.exact(p).ok_or_else(|| {
                        ApiError::bad(format!("cannot reload {p:?}: no mount there"))
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let mut codes: BTreeMap<String, Arc<EngineCode>> = BTreeMap::new();
        for mount in &chosen {
            let kind = &mount.record.kind;
            if !codes.contains_key(kind) {
                let code = self.resolve(unsealed, kind).await?.code;
                codes.insert(kind.clone(), code);
            }
        }
        let mut switched: BTreeMap<String, Arc<Mount>> = BTreeMap::new();
        for mount in chosen {
            let Some(code) = codes.get(&mount.record.kind) else {
                continue;
            };
            // Described before anything changes: a description the host
            // refuses refuses the whole reload.
            let described = self
                .sandbox
                .describe(code, &mount.record.path)
                .await
                .map_err(|e| {
                    ApiError::bad(format!("cannot reload {:?}: {e}", mount.record.path))
                })?;
            let mut record = mount.record.clone();
            record.sha256 = code.sha256.clone();
            let runtime = self
                .sandbox
                .succeed(&mount.runtime, code.clone(), described);
            switched.insert(record.path.clone(), Arc::new(Mount { record, runtime }));
        }
        let mounts = table
            .mounts()
            .iter()
            .map(|m| switched.get(&m.record.path).unwrap_or(m).clone())
            .collect();
        self.install(unsealed, MountTable::new(mounts))?;
        for mount in switched.values() {
            tracing::info!(
                path = %mount.record.path,
                "reloaded engine {:?}: now runs sha256 {}",
                mount.record.kind,
                mount.record.sha256
            );
        }
        Ok(switched.into_keys().collect())
    }

    /// Loads the stored table (at unseal). A mount whose recorded code
    /// cannot be had is routed but held (503 naming why, see the module
    /// doc) and logged; its data stays.
    pub async fn restore(&self, unsealed: &Unsealed) -> Result<(), ApiError> {
        let _guard = self.lock.lock().await;
        let records: Vec<MountRecord> = match self.storage.system_get(unsealed, MOUNTS_KEY)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::internal(format!("cannot load the mount table: {e}")))?,
            None => Vec::new(),
        };
        let mut live = Vec::new();
        for record in records {
            live.push(self.revive(unsealed, record).await);
        }
        self.router.replace(MountTable::new(live));
        Ok(())
    }

    /// Empties the table, drops every engine instance and forgets the
    /// mounts' key-blob sealers (at seal, or when an unseal fails
    /// half-way).
    pub async fn retire_all(&self) {
        let _guard = self.lock.lock().await;
        let table = self.router.table();
        self.router.replace(MountTable::new(Vec::new()));
        for mount in table.mounts() {
            mount.runtime.retire().await;
        }
        self.keys.forget();
    }

    /// The code for an engine type (reads and compiles off the workers).
    async fn resolve(&self, unsealed: &Unsealed, kind: &str) -> Result<Resolved, ApiError> {
        let catalog = self.catalog.clone();
        let sandbox = self.sandbox.clone();
        let unsealed = unsealed.clone();
        let kind = kind.to_string();
        tokio::task::spawn_blocking(move || catalog.code(&unsealed, &sandbox, &kind))
            .await
            .map_err(ApiError::internal)?
    }

    /// A live mount from its stored record: running the code it records,
    /// or held.
    async fn revive(&self, unsealed: &Unsealed, mut record: MountRecord) -> Arc<Mount> {
        let prefix = MountPrefix::for_mount(&record.uuid);
        let held = |why: String| -> Arc<MountRuntime> {
            let reason = format!(
                "mount {:?} is held: {why}; reload it with sys/plugins/reload/backend",
                record.path
            );
            tracing::error!(path = %record.path, "{reason}");
            self.sandbox.held(prefix.clone(), &record.path, reason)
        };
        let resolved = match self.resolve(unsealed, &record.kind).await {
            Ok(r) => match self.sandbox.describe(&r.code, &record.path).await {
                Ok(described) => Ok((r, described)),
                Err(e) => Err(ApiError::bad(e)),
            },
            Err(e) => Err(e),
        };
        let runtime = match resolved {
            Ok((
                Resolved {
                    code,
                    builtin: true,
                },
                described,
            )) => {
                if record.sha256 != code.sha256 {
                    if !record.sha256.is_empty() {
                        tracing::info!(
                            path = %record.path,
                            "built-in engine {:?} changed with this binary: sha256 {} is now {}",
                            record.kind,
                            record.sha256,
                            code.sha256
                        );
                    }
                    record.sha256 = code.sha256.clone();
                }
                self.sandbox
                    .mount(code, described, prefix.clone(), &record.path)
            }
            Ok((Resolved { code, .. }, described)) if code.sha256 == record.sha256 => self
                .sandbox
                .mount(code, described, prefix.clone(), &record.path),
            Ok((Resolved { code, .. }, _)) => held(format!(
                "it runs plugin {:?} with sha256 {}, but the catalog entry now has sha256 {}",
                record.kind, record.sha256, code.sha256
            )),
            Err(e) => held(format!(
                "it runs plugin {:?} with sha256 {}, which cannot be loaded: {}",
                record.kind,
                record.sha256,
                e.messages().join("; ")
            )),
        };
        Arc::new(Mount { record, runtime })
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
