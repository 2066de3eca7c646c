//! The server's shared state and the dispatch of one authorised request.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use zeroize::Zeroizing;

use crate::api::{ApiError, ApiResult, Method, Reply, Request};
use crate::auth::tokens::{now, TokenEntry};
use crate::auth::{Auth, Authorized, Target, UNAUTHENTICATED};
use crate::engines::{self, PluginRecord};
use crate::router::{Mount, MountRecord, MountTable, Router};
use crate::sandbox::{CallRequest, EngineCode, Sandbox};
use crate::seal::{Seal, Submitted};
use crate::storage::barrier::Keyring;
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
    /// Tokens and policies.
    pub auth: Auth,
    /// The seal's keys and unseal progress.
    pub seal: Seal,
    /// Set once everything is up after an unseal; cleared on seal.
    /// Requests other than the seal's own are refused while it is false.
    unsealed: AtomicBool,
    /// Held shared by every request while it runs and exclusively by seal,
    /// unseal and rotation, which so wait for requests in flight (and none
    /// starts during them): nothing refills a cache after a seal emptied
    /// it, and no write lands under a keyring being replaced.
    state: tokio::sync::RwLock<()>,
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

/// A token a response hands out, read back from its `auth` block so the
/// audit line can hash it.
struct IssuedAuth {
    client_token: String,
    accessor: String,
    policies: Vec<String>,
    metadata: Option<std::collections::BTreeMap<String, String>>,
    ttl: i64,
}

impl IssuedAuth {
    fn from_block(auth: &serde_json::Value) -> Self {
        let text = |k: &str| auth[k].as_str().unwrap_or_default().to_string();
        IssuedAuth {
            client_token: text("client_token"),
            accessor: text("accessor"),
            policies: serde_json::from_value(auth["policies"].clone()).unwrap_or_default(),
            metadata: serde_json::from_value(auth["metadata"].clone()).unwrap_or_default(),
            ttl: auth["lease_duration"].as_i64().unwrap_or(0),
        }
    }

    fn info(&self) -> crate::audit::AuthInfo<'_> {
        crate::audit::AuthInfo {
            client_token: Some(&self.client_token),
            accessor: Some(&self.accessor),
            display_name: "",
            policies: &self.policies,
            token_policies: &self.policies,
            metadata: self.metadata.as_ref(),
            token_type: "service",
            token_ttl: self.ttl,
            ..crate::audit::AuthInfo::default()
        }
    }
}

/// Authenticated paths that change the seal state: they take the state
/// lock exclusively, so they do not hold it shared.
const STATE_CHANGING: &[&str] = &["sys/seal", "sys/rotate", "sys/rotate/keyring"];

/// The unseal key shares `sys/init` hands out.
pub type UnsealShares = Vec<Zeroizing<Vec<u8>>>;

/// What a new server starts from.
pub struct ServerParts {
    /// The database.
    pub storage: Storage,
    /// The engine runtime.
    pub sandbox: Arc<Sandbox>,
    /// Where catalog engines' files are.
    pub plugin_dir: Option<PathBuf>,
    /// Identity reported by `sys/health`.
    pub cluster_id: String,
}

impl Server {
    /// A sealed server over `parts`.
    pub fn new(parts: ServerParts) -> Self {
        Server {
            auth: Auth::new(parts.storage.clone()),
            seal: Seal::new(parts.storage.clone()),
            unsealed: AtomicBool::new(false),
            state: tokio::sync::RwLock::new(()),
            storage: parts.storage,
            sandbox: parts.sandbox,
            router: Router::default(),
            plugin_dir: parts.plugin_dir,
            mounts_lock: tokio::sync::Mutex::new(()),
            cluster_name: format!(
                "coffer-cluster-{}",
                parts.cluster_id.get(..8).unwrap_or_default()
            ),
            cluster_id: parts.cluster_id,
            migrations: Mutex::new(Vec::new()),
            started: SystemTime::now(),
            audit: crate::audit::Broker::new(),
        }
    }

    /// Whether requests are served (the seal is open and the state is up).
    pub fn is_unsealed(&self) -> bool {
        self.unsealed.load(Ordering::SeqCst)
    }

    /// Seal, then authorise, then run one request (invariant 1).
    pub async fn handle(&self, request: Request) -> Handled {
        let path = request.path.as_str();
        let host = path == "sys" || path.starts_with("sys/") || path.starts_with("auth/token/");
        // The paths that change the seal state take it exclusively
        // themselves; every other request holds it shared while it runs.
        let changes_state = UNAUTHENTICATED.contains(&path) || STATE_CHANGING.contains(&path);
        let _shared = if changes_state {
            None
        } else {
            Some(self.state.read().await)
        };
        if !self.is_unsealed() && !UNAUTHENTICATED.contains(&path) {
            return Handled {
                result: Err(ApiError::sealed()),
                mount_type: String::new(),
            };
        }
        let target = if host { Target::Host } else { Target::Engine };
        // Engines ignore a trailing slash on a path they serve, so the
        // policy check would see another path than the engine: only a
        // LIST may end in '/' (Vault refuses such writes as well).
        if target == Target::Engine && path.ends_with('/') && request.method != Method::List {
            return Handled {
                result: Err(ApiError::bad(format!(
                    "unsupported path {path:?}: only a LIST may end in '/'"
                ))),
                mount_type: String::new(),
            };
        }
        let authorized = self
            .auth
            .check(request.token.as_deref(), request.method, path, target);
        // The seal's own unauthenticated paths are not audited (as in
        // Vault): an unseal share must never reach a log.
        if self.audit.is_enabled() && !UNAUTHENTICATED.contains(&path) {
            return self.handle_audited(request, authorized).await;
        }
        match authorized {
            Ok(a) => self.dispatch(a, request).await,
            Err(e) => Handled {
                result: Err(e),
                mount_type: String::new(),
            },
        }
    }

    /// Runs an authorised request on its handler.
    async fn dispatch(&self, authorized: Authorized, request: Request) -> Handled {
        let path = authorized.path();
        if path == "sys" || path.starts_with("sys/") {
            return Handled {
                result: crate::sys::handle(self, authorized, request).await,
                mount_type: "system".into(),
            };
        }
        if path.starts_with("auth/token/") {
            return Handled {
                result: crate::auth::token::handle(&self.auth, &authorized, &request),
                mount_type: "token".into(),
            };
        }
        self.call_engine(authorized, request).await
    }

    /// [`Server::handle`] with audit devices enabled: the request is logged
    /// before it runs (and does not run if no device could log it), the
    /// response after (and a response no device could log becomes a 500,
    /// as in Vault). Refused requests are logged with their error.
    async fn handle_audited(
        &self,
        request: Request,
        authorized: Result<Authorized, ApiError>,
    ) -> Handled {
        use crate::audit::{AuthInfo, Operation, Payload, RequestEntry, ResponseEntry};
        let id = request.id;
        let method = request.method;
        let path = request.path.clone();
        let token = request.token.clone();
        let body = (request.body.trim() != "{}").then(|| request.body.clone());
        let caller = authorized.as_ref().ok().and_then(|a| a.caller().cloned());
        let now = now();
        let caller_info = caller.as_ref().map(|c| AuthInfo {
            client_token: Some(&c.token),
            accessor: Some(&c.entry.accessor),
            display_name: &c.entry.display_name,
            policies: &c.entry.policies,
            token_policies: &c.entry.policies,
            metadata: c.entry.meta.as_ref(),
            num_uses: i64::try_from(c.entry.num_uses).unwrap_or(i64::MAX),
            token_type: "service",
            token_ttl: i64::try_from(c.entry.ttl(now)).unwrap_or(i64::MAX),
            ..AuthInfo::default()
        });
        let (mount_point, mount_type, mount_accessor) = self.mount_of(&path);
        let mut entry = RequestEntry::new(id, Operation::from(method), &path);
        entry.mount_point = &mount_point;
        entry.mount_type = &mount_type;
        entry.mount_accessor = &mount_accessor;
        entry.client_token = token.as_deref();
        entry.client_token_accessor = caller.as_ref().map(|c| c.entry.accessor.as_str());
        entry.data = body.as_deref().map(Payload::Text);
        entry.auth = caller_info.as_ref();

        let authorized = match authorized {
            Ok(a) => a,
            Err(e) => {
                let message = e.messages().join("; ");
                entry.error = Some(&message);
                // A refusal is answered whether or not it could be logged.
                let _ = self.audit.log_request(&entry);
                let _ = self.audit.log_response(
                    &entry,
                    &ResponseEntry {
                        error: Some(&message),
                        ..ResponseEntry::default()
                    },
                );
                return Handled {
                    result: Err(e),
                    mount_type,
                };
            }
        };
        if let Err(e) = self.audit.log_request(&entry) {
            return Handled {
                result: Err(e.into()),
                mount_type,
            };
        }
        let handled = self.dispatch(authorized, request).await;
        let error = handled
            .result
            .as_ref()
            .err()
            .map(|e| e.messages().join("; "));
        let empty = Vec::new();
        let issued = match &handled.result {
            Ok(Reply::Auth { auth, .. }) => Some(IssuedAuth::from_block(auth)),
            _ => None,
        };
        let issued_info = issued.as_ref().map(IssuedAuth::info);
        let response = match &handled.result {
            Ok(Reply::Data { data, warnings, .. }) => ResponseEntry {
                data: Some(Payload::Value(data)),
                warnings,
                ..ResponseEntry::default()
            },
            Ok(Reply::EngineData { data, warnings, .. }) => ResponseEntry {
                data: Some(Payload::Text(data.get())),
                warnings,
                ..ResponseEntry::default()
            },
            Ok(Reply::Auth { warnings, .. }) => ResponseEntry {
                auth: issued_info.as_ref(),
                warnings,
                ..ResponseEntry::default()
            },
            Ok(Reply::Bare { body, .. }) => ResponseEntry {
                data: Some(Payload::Value(body)),
                ..ResponseEntry::default()
            },
            Ok(Reply::Empty { warnings }) => ResponseEntry {
                warnings,
                ..ResponseEntry::default()
            },
            Ok(Reply::Raw { .. }) => ResponseEntry {
                warnings: &empty,
                ..ResponseEntry::default()
            },
            Err(_) => ResponseEntry {
                error: error.as_deref(),
                ..ResponseEntry::default()
            },
        };
        if let Err(e) = self.audit.log_response(&entry, &response) {
            return Handled {
                result: Err(e.into()),
                mount_type: handled.mount_type,
            };
        }
        handled
    }

    /// The mount a path goes to, for audit lines: path, type, accessor.
    fn mount_of(&self, path: &str) -> (String, String, String) {
        if path == "sys" || path.starts_with("sys/") {
            return ("sys/".into(), "system".into(), String::new());
        }
        if path.starts_with("auth/token/") {
            return ("auth/token/".into(), "token".into(), String::new());
        }
        match self.router.table().route(path) {
            Some((mount, _)) => (
                mount.record.path.clone(),
                mount.record.kind.clone(),
                mount.record.accessor.clone(),
            ),
            None => Default::default(),
        }
    }

    /// `sys/init`: makes the keys, stores the root token, and leaves the
    /// server sealed. `root_token` picks the token (dev mode).
    pub fn initialize(
        &self,
        shares: u8,
        threshold: u8,
        root_token: Option<&str>,
    ) -> Result<(UnsealShares, String), ApiError> {
        let init = self.seal.init(shares, threshold)?;
        let token = root_token
            .map(str::to_string)
            .unwrap_or_else(crate::auth::tokens::new_token);
        // The barrier is opened for this one write only; requests still see
        // a sealed server (`unsealed` is false), so nothing else runs.
        self.storage.set_keyring(Some(init.keyring));
        let written = self.auth.tokens.load().and_then(|()| {
            self.auth.tokens.create(
                &token,
                TokenEntry {
                    hash: String::new(),
                    accessor: String::new(),
                    policies: vec!["root".into()],
                    parent: None,
                    meta: None,
                    display_name: "root".into(),
                    num_uses: 0,
                    creation_time: now(),
                    creation_ttl: 0,
                    expire_time: None,
                    explicit_max_ttl: 0,
                    period: 0,
                    renewable: false,
                    path: "auth/token/root".into(),
                    last_renewal: None,
                },
            )
        });
        self.storage.set_keyring(None);
        self.auth.clear();
        written?;
        Ok((init.keys, token))
    }

    /// `sys/unseal` with one share; unseals when the threshold is met.
    pub async fn submit_share(&self, key: &str) -> Result<(), ApiError> {
        if self.is_unsealed() {
            return Ok(());
        }
        if let Submitted::Unsealed(keyring) = self.seal.submit(key)? {
            self.unseal_with(keyring).await?;
        }
        Ok(())
    }

    /// Brings the server up behind an opened keyring: policies, audit
    /// devices, mounts, then requests are let in. A stored audit table
    /// whose devices cannot be opened keeps the server sealed (Vault's
    /// rule: better unavailable than unaudited).
    async fn unseal_with(&self, keyring: Keyring) -> Result<(), ApiError> {
        let _state = self.state.write().await;
        if self.is_unsealed() {
            return Ok(());
        }
        let _guard = self.mounts_lock.lock().await;
        self.storage.set_keyring(Some(keyring));
        let up = self
            .auth
            .load()
            .and_then(
                |()| match self.storage.system_get(crate::audit::STORAGE_KEY)? {
                    Some(stored) => self.audit.load(&stored).map_err(ApiError::from),
                    None => Ok(()),
                },
            )
            .and_then(|()| {
                self.restore_mounts()
                    .map(|_| ())
                    .map_err(|e| ApiError::internal(format!("cannot load the mount table: {e}")))
            });
        if let Err(e) = up {
            self.router.replace(MountTable::new(Vec::new()));
            self.auth.clear();
            self.audit.clear();
            self.storage.set_keyring(None);
            self.seal.forget();
            return Err(e);
        }
        self.unsealed.store(true, Ordering::SeqCst);
        tracing::info!("unsealed");
        Ok(())
    }

    /// `sys/seal`: waits for requests in flight, then stops serving, drops
    /// every engine instance (and so the engines' in-memory caches), every
    /// cached token and policy, the audit devices' keys, then the keys.
    pub async fn seal_now(&self) {
        let _state = self.state.write().await;
        let _guard = self.mounts_lock.lock().await;
        self.unsealed.store(false, Ordering::SeqCst);
        let table = self.router.table();
        self.router.replace(MountTable::new(Vec::new()));
        for mount in table.mounts() {
            mount.runtime.retire().await;
        }
        self.auth.clear();
        self.audit.clear();
        self.storage.set_keyring(None);
        self.seal.forget();
        tracing::info!("sealed");
    }

    /// `sys/rotate`: a new barrier key term for new writes, made and
    /// installed while no request runs.
    pub async fn rotate_barrier(&self) -> Result<(), ApiError> {
        let _state = self.state.write().await;
        if !self.is_unsealed() {
            return Err(ApiError::sealed());
        }
        let current = self.storage.keyring()?;
        let next = self.seal.rotate(&current)?;
        self.storage.set_keyring(Some(next));
        Ok(())
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
            write_rule: authorized.write_rule(),
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::router::MountConfig;

    fn request(method: Method, path: &str, body: &str) -> Request {
        Request {
            id: uuid::Uuid::new_v4(),
            method,
            path: path.into(),
            body: body.into(),
            query: Vec::new(),
            token: Some("root".into()),
        }
    }

    /// Sealing drops every warm engine instance (and with it whatever an
    /// engine cached in memory), the mount table, the token and policy
    /// caches and the keys; unsealing brings the mounts back from storage.
    #[tokio::test(flavor = "multi_thread")]
    async fn sealing_drops_engines_caches_and_keys() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(&dir.path().join("c.redb")).unwrap();
        let sandbox = Sandbox::new(storage.clone(), crate::config::default_limits(), None).unwrap();
        let server = Server::new(ServerParts {
            storage: storage.clone(),
            sandbox,
            plugin_dir: None,
            cluster_id: "test".into(),
        });
        let (keys, _) = server.initialize(1, 1, Some("root")).unwrap();
        let key = hex::encode(keys[0].as_slice());
        server.submit_share(&key).await.unwrap();
        let record = MountRecord {
            path: "kv/".into(),
            kind: "kv".into(),
            description: String::new(),
            uuid: uuid::Uuid::new_v4().to_string(),
            accessor: "kv_test".into(),
            config: MountConfig::default(),
            options: serde_json::Map::new(),
            local: false,
            seal_wrap: false,
            sha256: String::new(),
        };
        let mount = server.start_mount(record).unwrap();
        let table = MountTable::new(vec![mount.clone()]);
        server.persist_mounts(&table).unwrap();
        server.router.replace(table);
        let written = server
            .handle(request(Method::Write, "kv/x", r#"{"v":"secret"}"#))
            .await;
        assert!(written.result.is_ok());
        assert!(server
            .handle(request(Method::Read, "kv/x", "{}"))
            .await
            .result
            .is_ok());
        assert!(mount.runtime.idle_instances() > 0);

        server.seal_now().await;
        assert_eq!(mount.runtime.idle_instances(), 0);
        assert!(server.router.table().mounts().is_empty());
        assert!(storage.keyring().is_err());
        let sealed = server.handle(request(Method::Read, "kv/x", "{}")).await;
        assert_eq!(sealed.result.err(), Some(ApiError::sealed()));

        server.submit_share(&key).await.unwrap();
        assert_eq!(server.router.table().mounts().len(), 1);
        let read = server.handle(request(Method::Read, "kv/x", "{}")).await;
        assert!(read.result.is_ok());
    }
}
