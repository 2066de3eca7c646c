//! The server's shared state and the dispatch of one authorised request.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::api::{ApiError, ApiResult, Method, Request};
use crate::auth::{Auth, Authorized};
use crate::engines::{self, PluginRecord};
use crate::router::{Mount, MountRecord, MountTable, Router};
use crate::sandbox::{CallRequest, EngineCode, Sandbox};
use crate::storage::{MountPrefix, Storage};

/// Where the mount table is stored.
pub const MOUNTS_KEY: &str = "core/mounts";

/// Everything a request may need, shared by all connections.
pub struct Server {
    /// The database.
    pub storage: Storage,
    /// The engine runtime.
    pub sandbox: Arc<Sandbox>,
    /// The mount table.
    pub router: Router,
    /// Tokens.
    pub auth: Auth,
    /// Where catalog engines' files are; none disables the catalog.
    pub plugin_dir: Option<PathBuf>,
    /// Serialises changes of the mount table and the catalog.
    pub mounts_lock: tokio::sync::Mutex<()>,
    /// Identity reported by `sys/health` and `sys/seal-status`.
    pub cluster_id: String,
    /// Name reported by `sys/health` and `sys/seal-status`.
    pub cluster_name: String,
    /// Finished remounts, by migration id.
    pub migrations: Mutex<Vec<(String, String, String)>>,
    /// When the server started.
    pub started: SystemTime,
    /// The audit devices.
    pub audit: crate::audit::Broker,
}

/// What a handled request produced, plus the mount type for the envelope.
pub struct Handled {
    /// The answer.
    pub result: ApiResult,
    /// `mount_type` of the envelope.
    pub mount_type: String,
}

impl Server {
    /// Authorises and runs one request.
    pub async fn handle(&self, request: Request) -> Handled {
        let authorized = match self.auth.check(request.token.as_deref(), &request.path) {
            Ok(a) => a,
            Err(e) => {
                return Handled {
                    result: Err(e),
                    mount_type: String::new(),
                }
            }
        };
        if request.path == "sys" || request.path.starts_with("sys/") {
            return Handled {
                result: crate::sys::handle(self, authorized, request).await,
                mount_type: "system".into(),
            };
        }
        if request.path.starts_with("auth/token/") {
            return Handled {
                result: crate::auth::token::handle(authorized, &request),
                mount_type: "token".into(),
            };
        }
        self.call_engine(authorized, request).await
    }

    async fn call_engine(&self, authorized: Authorized, request: Request) -> Handled {
        let table = self.router.table();
        let Some((mount, inner)) = table.route(authorized.path()) else {
            return Handled {
                result: Err(ApiError::NotFound(Some(format!(
                    "no handler for route {:?}. route entry not found.",
                    request.path
                )))),
                mount_type: String::new(),
            };
        };
        let call = CallRequest {
            method: request.method,
            path: inner,
            data: request.body,
            // Vault's rule: query parameters are fields only for these verbs.
            query: match request.method {
                Method::Read | Method::List | Method::Delete => request.query,
                Method::Write | Method::Patch => Vec::new(),
            },
            mount_path: mount.record.path.clone(),
            mount_options: serde_json::Value::Object(mount.record.options.clone()).to_string(),
        };
        Handled {
            result: self.sandbox.call(&mount.runtime, call).await,
            mount_type: mount.record.kind.clone(),
        }
    }

    /// The component for an engine type: a catalog entry (whose file must
    /// still have its registered sha256) or a built-in.
    pub fn engine_code(&self, kind: &str) -> Result<Arc<EngineCode>, ApiError> {
        if let Some(record) = self.plugin(kind)? {
            let wasm = self.read_plugin_file(&record.command)?;
            let actual = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&wasm));
            if !actual.eq_ignore_ascii_case(&record.sha256) {
                return Err(ApiError::bad(format!(
                    "plugin {kind:?}: file {:?} has sha256 {actual}, but {} was registered",
                    record.command, record.sha256
                )));
            }
            return self.sandbox.load(&wasm).map_err(ApiError::BadRequest);
        }
        match engines::builtin(kind) {
            Some(b) => self.sandbox.load(b.wasm).map_err(ApiError::Internal),
            None => Err(ApiError::bad(format!(
                "unknown secrets engine type {kind:?}"
            ))),
        }
    }

    /// A catalog entry.
    pub fn plugin(&self, name: &str) -> Result<Option<PluginRecord>, ApiError> {
        match self.storage.system_get(&engines::plugin_key(name))? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| ApiError::internal(format!("catalog entry {name:?} is corrupt: {e}"))),
            None => Ok(None),
        }
    }

    /// Reads a file from the plugin directory; `command` must be a plain
    /// file name in it.
    pub fn read_plugin_file(&self, command: &str) -> Result<Vec<u8>, ApiError> {
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

    /// Builds a live mount from its record.
    pub fn start_mount(&self, record: MountRecord) -> Result<Arc<Mount>, ApiError> {
        let code = self.engine_code(&record.kind)?;
        let runtime = self
            .sandbox
            .mount(code, MountPrefix::for_mount(&record.uuid), &record.path);
        Ok(Arc::new(Mount { record, runtime }))
    }

    /// Stores the records of `table` (call with `mounts_lock` held).
    pub fn persist_mounts(&self, table: &MountTable) -> Result<(), ApiError> {
        let mut records: Vec<&MountRecord> = table.mounts().iter().map(|m| &m.record).collect();
        records.sort_by(|a, b| a.path.cmp(&b.path));
        let bytes = serde_json::to_vec(&records).map_err(ApiError::internal)?;
        self.storage.system_write(&[(MOUNTS_KEY, Some(&bytes))])?;
        Ok(())
    }

    /// Loads the stored mount table at start. A mount whose engine cannot be
    /// loaded is logged and left out of routing; its data stays.
    pub fn restore_mounts(&self) -> anyhow::Result<Vec<MountRecord>> {
        let records: Vec<MountRecord> = match self.storage.system_get(MOUNTS_KEY)? {
            Some(bytes) => serde_json::from_slice(&bytes)?,
            None => Vec::new(),
        };
        let mut live = Vec::new();
        for record in &records {
            match self.start_mount(record.clone()) {
                Ok(m) => live.push(m),
                Err(e) => {
                    tracing::error!(path = %record.path, "cannot start mount: {:?}", e.messages())
                }
            }
        }
        self.router.replace(MountTable::new(live));
        Ok(records)
    }
}
