//! The only user of wasmtime: loads engine components and runs calls into
//! them, each bounded in time and memory, with storage writes committed
//! whole or not at all.
//!
//! Lifetimes, as Spin's factors name them:
//! - link time, once per process: [`Sandbox::new`] builds the one
//!   `wasmtime::Engine` (epoch interruption on) and the `Linker` holding the
//!   `coffer:engine` imports plus an empty WASI p2 (std needs it to link;
//!   there are no files, sockets, environment or arguments behind it).
//! - mount time: [`Sandbox::load`] compiles a component once (or reuses the
//!   serialized artifact the host cached on disk and proves it wrote, see
//!   [`cache`]) into an [`EngineCode`], shared by every mount of that
//!   engine, which knows the contract version it was built against
//!   ([`Contract`]: its exports say; each version has its own linker);
//!   [`Sandbox::describe`] asks a 0.2 engine for its description once per
//!   mount; [`MountRuntime`] holds one mount's storage prefix, description,
//!   warm instances, commit lock and generation (or, held, only the reason
//!   it runs nothing).
//! - call time: [`CallState`] (snapshot, write buffer, generation) lives in
//!   the instance's store for one call and is consumed by the commit or
//!   dropped.
//!
//! What the bounds do not cover: the deadline is wall time checked at each
//! epoch tick while wasm runs, and around a heavy crypto import's wait for
//! and run on the [`heavy::HeavyPool`] (the call traps at the deadline, the
//! operation finishes on its own thread); any other host function is not
//! interrupted, only followed by the trap; the memory cap counts linear memory and tables, not host memory held for the
//! instance (key handles are capped separately, see `host/crypto.rs`).
//! Every tick a running call yields to tokio, so a call that runs long never
//! monopolises a worker thread.

pub mod bindings;
pub mod cache;
mod commit;
mod conflicts;
pub mod heavy;
pub mod host;
pub mod limits;

pub use limits::{Admission, Limits};

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::api::{ApiError, ApiResult, Method, RawBody, Reply};
use crate::keys::managed::ManagedKeys;
use crate::keys::MountKeys;
use crate::router::special::{Special, SpecialPaths};
use crate::seal::Unsealed;
use crate::storage::{MountPrefix, Snapshot, Storage, WriteSet};
use bindings::{v01, v02};
use host::v02::http::RequestData;
use host::v02::keys::KeyScope;

/// How often the epoch ticks: the granularity of call deadlines.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Instances the pooling allocator holds at once, across all mounts (warm
/// idle instances included; idle ones are evicted when the pool is full).
const POOL_INSTANCES: u32 = 512;

/// The WIT contract an engine was built against, told by its exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contract {
    /// `coffer:engine@0.1.0`: exports `handle`, `exists`, `periodic`.
    V01,
    /// `coffer:engine@0.2.0`: exports `coffer:engine/handler@0.2.0`.
    V02,
}

/// The name of contract 0.2's exported interface.
const HANDLER_V02: &str = "coffer:engine/handler@0.2.0";

/// A compiled and linked engine, one arm per contract version.
enum Pre {
    V01(v01::EnginePre<InstanceState>),
    V02(v02::EnginePre<InstanceState>),
}

/// A compiled engine, ready to instantiate; shared by its mounts.
pub struct EngineCode {
    pre: Pre,
    /// Hex sha256 of the component bytes.
    pub sha256: String,
}

impl EngineCode {
    /// The contract the engine was built against.
    pub fn contract(&self) -> Contract {
        match self.pre {
            Pre::V01(_) => Contract::V01,
            Pre::V02(_) => Contract::V02,
        }
    }
}

/// What a mount's engine said about itself (`describe`, contract 0.2),
/// checked; empty for a 0.1 engine.
#[derive(Clone, Debug, Default)]
pub struct Described {
    /// Its special paths.
    pub special: SpecialPaths,
    /// The request headers it wants to see, lower-case, credentials
    /// removed.
    pub headers: Vec<String>,
}

/// Request headers never passed to an engine, even if it names them.
const CREDENTIAL_HEADERS: &[&str] = &[
    "x-vault-token",
    "authorization",
    "cookie",
    "proxy-authorization",
];

impl Described {
    /// Checks a 0.2 engine's description; the error names the bad path or
    /// header.
    fn check(d: &v02::exports::coffer::engine::handler::Description) -> Result<Self, String> {
        let special = SpecialPaths::parse(&d.unauthenticated, &d.sudo)?;
        let mut headers = Vec::new();
        for name in &d.headers {
            let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            if name.is_empty()
                || !name.chars().all(token)
                || name.chars().any(|c| c.is_ascii_uppercase())
            {
                return Err(format!(
                    "engine asks for request header {name:?}: names must be lower-case HTTP tokens"
                ));
            }
            if !CREDENTIAL_HEADERS.contains(&name.as_str()) && !headers.contains(name) {
                headers.push(name.clone());
            }
        }
        Ok(Described { special, headers })
    }
}

/// The data of one engine instance's store.
pub struct InstanceState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: limits::MemoryLimiter,
    live_keys: usize,
    /// Where the heavy crypto imports run (shared by every store).
    heavy: heavy::HeavyPool,
    clock_offset: Duration,
    /// When the current call must end (checked at every epoch tick).
    deadline: std::time::Instant,
    /// The mount's path, for log lines.
    mount_label: String,
    call: Option<CallState>,
}

impl InstanceState {
    fn call_mut(&mut self) -> wasmtime::Result<&mut CallState> {
        self.call
            .as_mut()
            .ok_or_else(|| wasmtime::format_err!("storage used outside a request"))
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// One call's view of storage: reads from `snapshot` (after the call's own
/// writes), writes into `writes`, committed only by [`Sandbox::call`] after
/// the call returned `ok`.
pub struct CallState {
    snapshot: Snapshot,
    writes: WriteSet,
    write_bytes: usize,
    generation: u64,
    /// What the call read from `snapshot`, for the commit rule.
    reads: conflicts::Reads,
    /// What contract 0.2's `keys` may reach during this call (`None` for
    /// a 0.1 engine).
    keys: Option<KeyScope>,
}

/// An instance's exports, one arm per contract version.
enum Instance {
    V01(v01::Engine),
    V02(v02::Engine),
}

/// A warm instance.
struct Warm {
    store: Store<InstanceState>,
    engine: Instance,
    uses: u32,
}

/// What a mount runs.
enum Runs {
    /// A loaded engine.
    Engine(Arc<EngineCode>),
    /// Nothing: the code the mount's record names cannot be had (see
    /// [`Sandbox::held`]); every call answers 503 with this reason.
    Held(String),
}

/// One mount's runtime: what calls on it share.
///
/// The commit lock, the generation and the removed flag belong to the
/// mount's data, not to its code: a runtime that takes over from another
/// ([`Sandbox::succeed`], a plugin reload) shares them, so calls still
/// running on the old code and new calls stay serialisable.
pub struct MountRuntime {
    prefix: MountPrefix,
    code: Runs,
    /// What the engine described (special paths, headers) when mounted.
    described: Arc<Described>,
    label: RwLock<String>,
    /// Bumped after every commit to this mount (see [`Sandbox::call`]).
    generation: Arc<AtomicU64>,
    /// The keys the last commits wrote (see [`conflicts`]), updated with
    /// `generation` under `commit_lock`.
    history: Arc<Mutex<conflicts::History>>,
    /// Calls waiting to commit (see [`commit`]), shared like `history`.
    commits: Arc<commit::Queue>,
    /// Held while validating and committing a write set, and while re-running
    /// a call that lost a race, so commits on one mount are serial.
    commit_lock: Arc<tokio::sync::Mutex<()>>,
    /// Set on unmount, under `commit_lock`: nothing commits afterwards.
    removed: Arc<AtomicBool>,
    idle: Mutex<Vec<Warm>>,
    slots: Semaphore,
    /// Calls admitted (waiting for a slot or running), bounded.
    queue: Arc<limits::Queue>,
    /// Longest a call waits for a slot.
    queue_timeout: Duration,
}

impl MountRuntime {
    /// The storage prefix of this mount.
    pub fn prefix(&self) -> &MountPrefix {
        &self.prefix
    }

    /// The sha256 of the engine's component; `None` while held.
    pub fn code_sha256(&self) -> Option<&str> {
        match &self.code {
            Runs::Engine(code) => Some(&code.sha256),
            Runs::Held(_) => None,
        }
    }

    /// The contract of the engine it runs; `None` while held.
    pub fn contract(&self) -> Option<Contract> {
        match &self.code {
            Runs::Engine(code) => Some(code.contract()),
            Runs::Held(_) => None,
        }
    }

    /// What `path` (inside the mount) needs by the engine's special paths.
    pub fn special(&self, path: &str) -> Special {
        self.described.special.classify(path)
    }

    /// The request headers the engine asked to see (0.2), lower-case.
    pub fn wanted_headers(&self) -> &[String] {
        &self.described.headers
    }

    /// Why the mount runs nothing (see [`Sandbox::held`]); `None` when it
    /// runs an engine.
    pub fn held(&self) -> Option<&str> {
        match &self.code {
            Runs::Engine(_) => None,
            Runs::Held(reason) => Some(reason),
        }
    }

    /// Renames the mount in log lines (after a remount).
    pub fn set_label(&self, label: &str) {
        if let Ok(mut l) = self.label.write() {
            *l = label.to_string();
        }
    }

    /// How many warm instances wait for calls (each may hold the engine's
    /// in-memory caches).
    pub fn idle_instances(&self) -> usize {
        self.idle.lock().map(|i| i.len()).unwrap_or(0)
    }

    /// A place in this mount's queue, or 503 with `Retry-After` at once
    /// when it is full (take it before reading the request body).
    pub fn admit(&self) -> Result<Admission, ApiError> {
        Admission::take(&self.queue, || {
            self.label.read().map(|l| l.clone()).unwrap_or_default()
        })
    }

    /// Marks the mount removed and drops its warm instances; waits for a
    /// commit in progress to finish, so none lands after this returns.
    pub async fn retire(&self) {
        let _guard = self.commit_lock.lock().await;
        self.removed.store(true, Ordering::SeqCst);
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}

/// Who calls an engine: a token's holder (the token itself never reaches
/// an engine). Shares the token's entry, so a call to an engine that never
/// asks (every 0.1 engine) copies nothing.
#[derive(Clone, Debug)]
pub struct EngineCaller(pub Arc<crate::auth::tokens::TokenEntry>);

impl EngineCaller {
    /// The token's display name.
    pub fn display_name(&self) -> &str {
        &self.0.display_name
    }

    /// Its policies, sorted.
    pub fn policies(&self) -> Vec<String> {
        let mut policies = self.0.policies.clone();
        policies.sort();
        policies
    }

    /// Its accessor.
    pub fn accessor(&self) -> &str {
        &self.0.accessor
    }
}

/// An engine request before create and update are told apart.
pub struct CallRequest {
    /// The verb.
    pub method: Method,
    /// Path inside the mount.
    pub path: String,
    /// JSON object text (`{}` when `raw` holds a body that is not one).
    pub data: String,
    /// A 0.2 engine's body as it came, with its content type and headers.
    pub raw: Option<RawBody>,
    /// The caller; `None` on an unauthenticated path.
    pub caller: Option<EngineCaller>,
    /// The request's id.
    pub id: uuid::Uuid,
    /// Query parameters.
    pub query: Vec<(String, String)>,
    /// The mount's path with a trailing slash.
    pub mount_path: String,
    /// The mount's options as JSON object text.
    pub mount_options: String,
    /// Which of create and update the caller's policies allow for a write
    /// (enforced once the engine's `exists` has answered).
    pub write_rule: crate::auth::WriteRule,
    /// The mount's `allowed_managed_keys` (for `keys.managed`); empty for
    /// a 0.1 engine, which has no `keys`.
    pub allowed_managed_keys: Vec<String>,
}

/// What one invocation produced, before the commit decision (the engine's
/// answer already converted from its contract's types).
enum Outcome {
    /// `handle` answered.
    Handled(ApiResult),
    /// `periodic` answered.
    Periodic(Result<(), ApiError>),
    /// The write was a create (or an update) the caller may not make;
    /// `handle` did not run.
    Denied,
}

/// Which export to invoke.
enum Entry<'a> {
    /// A request, shared with the 0.2 `request` resource that shows it.
    Handle(&'a Arc<CallRequest>),
    Periodic {
        mount_path: &'a str,
        mount_options: &'a str,
        allowed_managed_keys: &'a [String],
    },
}

/// The engine runtime.
pub struct Sandbox {
    engine: wasmtime::Engine,
    /// Contract 0.1's imports (and WASI).
    linker_v01: Linker<InstanceState>,
    /// Contract 0.2's imports (and WASI).
    linker_v02: Linker<InstanceState>,
    limits: Limits,
    /// Compiled artifacts on disk; `None` without a folder or when the
    /// folder is not provably this server's own.
    cache: Option<cache::ArtifactCache>,
    storage: Storage,
    loaded: Mutex<HashMap<String, Arc<EngineCode>>>,
    /// Every mount runtime made, so idle instances can be evicted when the
    /// instance pool is full.
    mounts: Mutex<Vec<std::sync::Weak<MountRuntime>>>,
    /// Where the heavy crypto imports run, one thread per core.
    heavy: heavy::HeavyPool,
    /// The mounts' key-blob sealers (contract 0.2's `keys.seal`/`open`).
    keys: Arc<MountKeys>,
    /// The managed-key backends `keys.managed` opens keys from; none
    /// configured means every managed key is refused (403).
    managed: OnceLock<Arc<dyn ManagedKeys>>,
}

impl Sandbox {
    /// Builds the process's wasmtime engine and linker, and starts the epoch
    /// ticker thread. `cache_dir`, if given, caches compiled engines when
    /// [`cache::ArtifactCache::open`] proves it is this server's own;
    /// otherwise a warning says why and engines are compiled at each start.
    pub fn new(
        storage: Storage,
        limits: Limits,
        cache_dir: Option<PathBuf>,
    ) -> anyhow::Result<Arc<Self>> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.max_wasm_stack(1 << 20);
        // The pooling allocator keeps instance slots and async fiber stacks
        // for reuse; the on-demand one maps and unmaps a fiber stack on
        // every call, which dominated a warm call's cost when measured.
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(POOL_INSTANCES)
            .total_core_instances(POOL_INSTANCES * 8)
            .total_memories(POOL_INSTANCES)
            .total_tables(POOL_INSTANCES * 8)
            .total_stacks(POOL_INSTANCES)
            .max_core_instances_per_component(32)
            .max_memories_per_component(2)
            .max_tables_per_component(16)
            .max_memory_size(limits.memory_bytes);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = wasmtime::Engine::new(&config).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        // One linker per contract: an engine sees only its own world's
        // host functions (and WASI's).
        let mut linker_v01: Linker<InstanceState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker_v01)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        v01::Engine::add_to_linker::<InstanceState, HasSelf<InstanceState>>(&mut linker_v01, |s| s)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let mut linker_v02: Linker<InstanceState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker_v02)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        v02::Engine::add_to_linker::<InstanceState, HasSelf<InstanceState>>(&mut linker_v02, |s| s)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("coffer-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })?;
        let cache = cache_dir.and_then(|dir| match cache::ArtifactCache::open(&dir) {
            Ok(c) => Some(c),
            Err(why) => {
                tracing::warn!(
                    "not using the engine cache in {}: {why}; engines are compiled at every start",
                    dir.display()
                );
                None
            }
        });
        let storage_for_keys = storage.clone();
        Ok(Arc::new(Sandbox {
            engine,
            linker_v01,
            linker_v02,
            limits,
            cache,
            storage,
            loaded: Mutex::new(HashMap::new()),
            mounts: Mutex::new(Vec::new()),
            heavy: heavy::HeavyPool::per_core(),
            keys: Arc::new(MountKeys::new(storage_for_keys)),
            managed: OnceLock::new(),
        }))
    }

    /// The mounts' key-blob sealers, shared with the mounts service (which
    /// forgets them at seal).
    pub fn mount_keys(&self) -> Arc<MountKeys> {
        Arc::clone(&self.keys)
    }

    /// Sets the managed-key backends, once, at start; an error if they
    /// were set already.
    pub fn set_managed_keys(&self, backend: Arc<dyn ManagedKeys>) -> anyhow::Result<()> {
        self.managed
            .set(backend)
            .map_err(|_| anyhow::anyhow!("the managed-key backends are set once"))
    }

    /// Compiles (or fetches from the cache) a component and links it with
    /// its contract's linker. The contract is told by the exports: a
    /// component exporting `coffer:engine/handler@0.2.0` is a 0.2 engine,
    /// one exporting `handle` a 0.1 engine, anything else is refused. The
    /// error names what is wrong: not a component, not an engine, or an
    /// import the host does not offer. (The artifact cache needs no
    /// version in its key: the compiled code does not depend on the
    /// linker, and the contract is read from the component each time.)
    pub fn load(&self, wasm: &[u8]) -> Result<Arc<EngineCode>, String> {
        let sha256 = hex::encode(Sha256::digest(wasm));
        if let Some(code) = self
            .loaded
            .lock()
            .ok()
            .and_then(|l| l.get(&sha256).cloned())
        {
            return Ok(code);
        }
        let (component, _) = cache::compile(&self.engine, self.cache.as_ref(), wasm, &sha256)?;
        let contract = contract_of(&self.engine, &component)?;
        let linker = match contract {
            Contract::V01 => &self.linker_v01,
            Contract::V02 => &self.linker_v02,
        };
        let linked = linker
            .instantiate_pre(&component)
            .map_err(|e| format!("engine cannot be linked: {e}"))?;
        let pre = match contract {
            Contract::V01 => Pre::V01(v01::EnginePre::new(linked).map_err(|e| {
                format!("engine does not export the coffer:engine@0.1.0 world: {e}")
            })?),
            Contract::V02 => Pre::V02(v02::EnginePre::new(linked).map_err(|e| {
                format!("engine does not export the coffer:engine@0.2.0 world: {e}")
            })?),
        };
        let code = Arc::new(EngineCode {
            pre,
            sha256: sha256.clone(),
        });
        if let Ok(mut l) = self.loaded.lock() {
            l.insert(sha256, code.clone());
        }
        Ok(code)
    }

    /// What a mount of `code` at `label` needs to know of its engine:
    /// nothing for 0.1; for 0.2 its `describe`, called once in a fresh
    /// instance (no storage; a trap, an overrun or a bad description is
    /// an error naming why, which refuses the mount).
    pub async fn describe(&self, code: &EngineCode, label: &str) -> Result<Described, String> {
        let Pre::V02(pre) = &code.pre else {
            return Ok(Described::default());
        };
        let mut store = self.new_store(label);
        let engine = pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| format!("engine failed to start: {e}"))?;
        let description = engine
            .coffer_engine_handler()
            .call_describe(&mut store)
            .await
            .map_err(|e| format!("engine's describe failed: {}", trap_reason(&e, false)))?;
        Described::check(&description)
    }

    /// The runtime for a mount of `code` whose data lives under `prefix`,
    /// with what [`Self::describe`] said of it.
    pub fn mount(
        &self,
        code: Arc<EngineCode>,
        described: Described,
        prefix: MountPrefix,
        label: &str,
    ) -> Arc<MountRuntime> {
        self.runtime(Runs::Engine(code), described, prefix, label, None)
    }

    /// A runtime that runs nothing: every call on it answers 503 with
    /// `reason` (a restored mount whose recorded code cannot be had, until
    /// it is reloaded). Its data stays where it is. The 503 comes where an
    /// instance would be made, after the token check, so the reason is
    /// shown only to callers allowed on the path.
    pub fn held(&self, prefix: MountPrefix, label: &str, reason: String) -> Arc<MountRuntime> {
        self.runtime(
            Runs::Held(reason),
            Described::default(),
            prefix,
            label,
            None,
        )
    }

    /// A runtime of `code` that takes over from `old` (a reload): the same
    /// data, commit lock, generation and removed flag, so calls still
    /// running on `old` commit in one order with the new ones, and an
    /// unmount stops both. `old` keeps its warm instances until its last
    /// call ends.
    pub fn succeed(
        &self,
        old: &MountRuntime,
        code: Arc<EngineCode>,
        described: Described,
    ) -> Arc<MountRuntime> {
        let label = old.label.read().map(|l| l.clone()).unwrap_or_default();
        self.runtime(
            Runs::Engine(code),
            described,
            old.prefix.clone(),
            &label,
            Some(old),
        )
    }

    fn runtime(
        &self,
        code: Runs,
        described: Described,
        prefix: MountPrefix,
        label: &str,
        after: Option<&MountRuntime>,
    ) -> Arc<MountRuntime> {
        let runtime = Arc::new(MountRuntime {
            prefix,
            code,
            described: Arc::new(described),
            label: RwLock::new(label.to_string()),
            generation: after.map_or_else(|| Arc::new(AtomicU64::new(0)), |o| o.generation.clone()),
            history: after.map_or_else(
                || Arc::new(Mutex::new(conflicts::History::default())),
                |o| o.history.clone(),
            ),
            commits: after
                .map_or_else(|| Arc::new(commit::Queue::default()), |o| o.commits.clone()),
            commit_lock: after.map_or_else(
                || Arc::new(tokio::sync::Mutex::new(())),
                |o| o.commit_lock.clone(),
            ),
            removed: after.map_or_else(|| Arc::new(AtomicBool::new(false)), |o| o.removed.clone()),
            idle: Mutex::new(Vec::new()),
            slots: Semaphore::new(self.limits.max_concurrent_calls.max(1)),
            queue: Arc::new(limits::Queue::new(
                self.limits.max_concurrent_calls.max(1),
                self.limits.max_queued_calls,
            )),
            queue_timeout: self.limits.queue_timeout,
        });
        if let Ok(mut mounts) = self.mounts.lock() {
            mounts.retain(|m| m.strong_count() > 0);
            mounts.push(Arc::downgrade(&runtime));
        }
        runtime
    }

    fn new_store(&self, label: &str) -> Store<InstanceState> {
        let label = label.to_string();
        let state = InstanceState {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            limits: limits::MemoryLimiter::new(self.limits.memory_bytes),
            live_keys: 0,
            heavy: self.heavy.clone(),
            clock_offset: self.limits.clock_offset,
            deadline: std::time::Instant::now(),
            mount_label: label,
            call: None,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        // At every epoch tick a running call either yields to tokio (so a
        // long call never holds a worker thread, and tasks queued behind it
        // run) or, past its deadline, traps.
        store.epoch_deadline_callback(|ctx| {
            if std::time::Instant::now() >= ctx.data().deadline {
                Ok(wasmtime::UpdateDeadline::Interrupt)
            } else {
                Ok(wasmtime::UpdateDeadline::Yield(1))
            }
        });
        store.data_mut().deadline = std::time::Instant::now() + self.limits.call_timeout;
        store.set_epoch_deadline(1);
        store
    }

    /// A new instance of the mount's engine. When the instance pool is full
    /// (of other mounts' idle instances, since calls in flight are bounded
    /// per mount), every idle instance is dropped and it is tried once more.
    async fn instantiate(&self, mount: &MountRuntime) -> Result<Warm, ApiError> {
        let code = match &mount.code {
            Runs::Engine(code) => code,
            Runs::Held(reason) => return Err(ApiError::Unavailable(reason.clone())),
        };
        let label = mount.label.read().map(|l| l.clone()).unwrap_or_default();
        let mut store = self.new_store(&label);
        let engine = match code.instantiate(&mut store).await {
            Ok(engine) => engine,
            Err(e)
                if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
                    .is_some() =>
            {
                drop(store);
                self.evict_idle();
                store = self.new_store(&label);
                code.instantiate(&mut store).await.map_err(|e| {
                    ApiError::Unavailable(format!("no engine instance available: {e}"))
                })?
            }
            Err(e) => return Err(ApiError::Internal(format!("engine failed to start: {e}"))),
        };
        Ok(Warm {
            store,
            engine,
            uses: 0,
        })
    }

    /// Drops every idle instance of every mount.
    fn evict_idle(&self) {
        let mounts: Vec<Arc<MountRuntime>> = match self.mounts.lock() {
            Ok(m) => m.iter().filter_map(std::sync::Weak::upgrade).collect(),
            Err(_) => return,
        };
        for mount in mounts {
            if let Ok(mut idle) = mount.idle.lock() {
                idle.clear();
            }
        }
    }

    /// Runs one request on a mount's engine.
    /// `admission` is the place the request took in the mount's queue
    /// before its body was read; without one (or with another mount's,
    /// after a remount) a place is taken now.
    pub async fn call(
        &self,
        unsealed: &Unsealed,
        mount: &Arc<MountRuntime>,
        request: CallRequest,
        admission: Option<Admission>,
    ) -> ApiResult {
        let request = Arc::new(request);
        match self
            .run(unsealed, mount, Entry::Handle(&request), admission)
            .await?
        {
            Outcome::Handled(answer) => answer,
            Outcome::Denied => Err(ApiError::PermissionDenied),
            Outcome::Periodic(_) => Err(ApiError::internal("engine call mix-up")),
        }
    }

    /// Runs a mount's periodic entry point.
    pub async fn periodic(
        &self,
        unsealed: &Unsealed,
        mount: &Arc<MountRuntime>,
        mount_path: &str,
        mount_options: &str,
        allowed_managed_keys: &[String],
    ) -> Result<(), ApiError> {
        // A held mount has no engine to tick; its 503 is for requests.
        if mount.held().is_some() {
            return Ok(());
        }
        match self
            .run(
                unsealed,
                mount,
                Entry::Periodic {
                    mount_path,
                    mount_options,
                    allowed_managed_keys,
                },
                None,
            )
            .await?
        {
            Outcome::Periodic(done) => done,
            Outcome::Handled(_) | Outcome::Denied => Err(ApiError::internal("engine call mix-up")),
        }
    }

    /// The commit rule (invariant 3): a call runs on a snapshot without any
    /// lock. If it wrote nothing, its answer stands. If it wrote, the mount's
    /// commit lock is taken and its generation compared with the one the
    /// snapshot was taken at: unchanged means no other commit landed in
    /// between, so committing is as if the call ran alone; changed, the
    /// commits since are looked up in the mount's history: if none wrote a
    /// key the call read or a key under a prefix it listed (and the call did
    /// not read the generation), it would have read the same after them, so
    /// it commits after them ([`conflicts`]); otherwise it may have read
    /// stale data, so its writes are dropped and it runs again while holding
    /// the lock, which nothing can overtake. Nothing has been answered
    /// before the commit, so the re-run is invisible.
    async fn run(
        &self,
        unsealed: &Unsealed,
        mount: &Arc<MountRuntime>,
        entry: Entry<'_>,
        admission: Option<Admission>,
    ) -> Result<Outcome, ApiError> {
        let _admission = match admission {
            Some(a) if a.is_for(&mount.queue) => a,
            _ => mount.admit()?,
        };
        let _slot = match tokio::time::timeout(mount.queue_timeout, mount.slots.acquire()).await {
            Ok(Ok(slot)) => slot,
            Ok(Err(_)) => return Err(ApiError::Unavailable("mount is shutting down".into())),
            Err(_) => {
                return Err(ApiError::Busy(format!(
                    "mount is busy: no engine instance became free within {:?}",
                    mount.queue_timeout
                )))
            }
        };
        let mut warm = match mount.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            Some(w) => w,
            None => Box::pin(self.instantiate(mount)).await?,
        };
        let mut held = None;
        loop {
            if mount.removed.load(Ordering::SeqCst) {
                return Err(ApiError::NotFound(None));
            }
            // Read the generation before the snapshot: the snapshot then holds
            // at least every commit counted in it (see `commit_lock`).
            let generation = mount.generation.load(Ordering::SeqCst);
            let snapshot = self.storage.snapshot(unsealed, mount.prefix.clone())?;
            // Only a 0.2 engine has `keys`: a 0.1 call builds no scope.
            let keys = matches!(warm.engine, Instance::V02(_))
                .then(|| self.key_scope(unsealed, mount, &entry));
            let (outcome, call) = match self
                .invoke(&mut warm, &entry, snapshot, generation, keys)
                .await
            {
                Ok(done) => done,
                Err(e) => {
                    // Trapped (deadline, memory, panic, host trap): the
                    // instance is dead and its writes are dropped with it.
                    let label = mount.label.read().map(|l| l.clone()).unwrap_or_default();
                    tracing::warn!(mount = %label, "engine call failed: {e:?}");
                    let memory = &warm.store.data().limits;
                    let body = match &entry {
                        Entry::Handle(req) => {
                            req.data.len() + req.raw.as_ref().map_or(0, |r| r.bytes.len())
                        }
                        Entry::Periodic { .. } => 0,
                    };
                    if memory.exceeded() && limits::body_explains_memory(body, memory.cap()) {
                        // What the request asked for does not fit: its
                        // size is the client's to change, so not a 500.
                        return Err(ApiError::TooLarge(format!(
                            "the request needs more memory than the engine's limit of {} MiB (engine_memory_limit)",
                            memory.cap() >> 20
                        )));
                    }
                    return Err(ApiError::Internal(format!(
                        "engine call failed: {}",
                        trap_reason(&e, memory.exceeded())
                    )));
                }
            };
            let succeeded = match &outcome {
                Outcome::Handled(r) => r.is_ok(),
                Outcome::Periodic(r) => r.is_ok(),
                Outcome::Denied => false,
            };
            if !succeeded || call.writes.is_empty() {
                self.recycle(mount, warm);
                return Ok(outcome);
            }
            let guard = match held.take() {
                Some(g) => g,
                None => {
                    // The usual way: queued, and committed with the calls
                    // that finish about the same time.
                    let grouped = commit::commit(
                        &self.storage,
                        unsealed,
                        mount,
                        call.reads,
                        call.writes,
                        generation,
                    )
                    .await?;
                    match grouped {
                        commit::Grouped::Committed => {
                            self.recycle(mount, warm);
                            return Ok(outcome);
                        }
                        commit::Grouped::Conflict => {
                            held = Some(mount.commit_lock.clone().lock_owned().await);
                            continue;
                        }
                    }
                }
            };
            if mount.removed.load(Ordering::SeqCst) {
                return Err(ApiError::NotFound(None));
            }
            let now = mount.generation.load(Ordering::SeqCst);
            let untouched = now == generation
                || mount
                    .history
                    .lock()
                    .is_ok_and(|h| h.untouched(&call.reads, generation, now));
            if !untouched {
                held = Some(guard);
                continue;
            }
            let written: Vec<String> = call.writes.keys().cloned().collect();
            // The commit and the generation bump run in their own task, which
            // holds the commit lock and a clone of the proof: if this call's
            // future is dropped (the request's deadline), they still finish
            // together, and the seal waits for them.
            let storage = self.storage.clone();
            let unsealed = unsealed.clone();
            let committing = mount.clone();
            let keys = written;
            let commit = tokio::spawn(async move {
                let prefix = committing.prefix.clone();
                let written = tokio::task::spawn_blocking(move || {
                    storage.commit(&unsealed, &prefix, &call.writes)
                })
                .await;
                if matches!(written, Ok(Ok(()))) {
                    let made = committing.generation.fetch_add(1, Ordering::SeqCst) + 1;
                    if let Ok(mut h) = committing.history.lock() {
                        h.record(made, keys);
                    }
                }
                drop(guard);
                written
            });
            commit
                .await
                .map_err(ApiError::internal)?
                .map_err(ApiError::internal)??;
            self.recycle(mount, warm);
            return Ok(outcome);
        }
    }

    /// What the call's `keys` imports may reach: this mount's sealer
    /// (through the call's proof of unsealing) and the managed keys its
    /// `allowed_managed_keys` names. `permit` stays refused until
    /// [`invoke_v02`] runs a client's create or update.
    fn key_scope(&self, unsealed: &Unsealed, mount: &MountRuntime, entry: &Entry<'_>) -> KeyScope {
        let allowed = match entry {
            Entry::Handle(req) => req.allowed_managed_keys.clone(),
            Entry::Periodic {
                allowed_managed_keys,
                ..
            } => allowed_managed_keys.to_vec(),
        };
        KeyScope::new(
            unsealed.clone(),
            Arc::clone(&self.keys),
            self.managed.get().cloned(),
            mount.prefix.mount_uuid().to_owned(),
            allowed,
        )
    }

    async fn invoke(
        &self,
        warm: &mut Warm,
        entry: &Entry<'_>,
        snapshot: Snapshot,
        generation: u64,
        keys: Option<KeyScope>,
    ) -> wasmtime::Result<(Outcome, CallState)> {
        warm.uses = warm.uses.saturating_add(1);
        warm.store.data_mut().call = Some(CallState {
            snapshot,
            writes: WriteSet::new(),
            write_bytes: 0,
            generation,
            reads: conflicts::Reads::default(),
            keys,
        });
        warm.store.data_mut().deadline = std::time::Instant::now() + self.limits.call_timeout;
        warm.store.set_epoch_deadline(1);
        let outcome = match &warm.engine {
            Instance::V01(engine) => invoke_v01(engine, &mut warm.store, entry).await?,
            Instance::V02(engine) => invoke_v02(engine, &mut warm.store, entry).await?,
        };
        let call = warm
            .store
            .data_mut()
            .call
            .take()
            .ok_or_else(|| wasmtime::format_err!("call state vanished"))?;
        Ok((outcome, call))
    }

    fn recycle(&self, mount: &MountRuntime, mut warm: Warm) {
        if warm.uses >= self.limits.max_reuse
            || warm.store.data().limits.peak() > limits::KEEP_WARM_BYTES
            || mount.removed.load(Ordering::SeqCst)
        {
            return;
        }
        warm.store.data_mut().call = None;
        if let Ok(mut idle) = mount.idle.lock() {
            idle.push(warm);
        }
    }
}

impl EngineCode {
    async fn instantiate(&self, store: &mut Store<InstanceState>) -> wasmtime::Result<Instance> {
        Ok(match &self.pre {
            Pre::V01(pre) => Instance::V01(pre.instantiate_async(store).await?),
            Pre::V02(pre) => Instance::V02(pre.instantiate_async(store).await?),
        })
    }
}

/// The contract a component was built against, from its exports.
fn contract_of(
    engine: &wasmtime::Engine,
    component: &wasmtime::component::Component,
) -> Result<Contract, String> {
    let ty = component.component_type();
    let names: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
    if names.contains(&HANDLER_V02) {
        Ok(Contract::V02)
    } else if names.contains(&"handle") {
        Ok(Contract::V01)
    } else {
        Err(format!(
            "not a Coffer engine: it exports neither {HANDLER_V02} (contract 0.2) nor \
             handle (contract 0.1); its exports are [{}]",
            names.join(", ")
        ))
    }
}

/// The create-or-update decision for a write, from the engine's `exists`
/// answer: the operation, or the outcome that ends the call there.
fn write_operation(
    req: &CallRequest,
    exists: Result<Option<bool>, ApiError>,
) -> Result<bool, Outcome> {
    let create = match exists {
        Ok(Some(false)) => true,
        Ok(_) => false,
        Err(e) => return Err(Outcome::Handled(Err(e))),
    };
    if !req.write_rule.allows(create) {
        return Err(Outcome::Denied);
    }
    Ok(create)
}

/// One call into a contract-0.1 engine.
async fn invoke_v01(
    engine: &v01::Engine,
    store: &mut Store<InstanceState>,
    entry: &Entry<'_>,
) -> wasmtime::Result<Outcome> {
    use v01::Operation;
    let req = match entry {
        Entry::Periodic {
            mount_path,
            mount_options,
            ..
        } => {
            let done = engine
                .call_periodic(&mut *store, mount_path, mount_options)
                .await?;
            return Ok(Outcome::Periodic(done.map_err(error_v01)));
        }
        Entry::Handle(req) => req,
    };
    let operation = match req.method {
        Method::Read => Operation::Read,
        Method::List => Operation::List,
        Method::Delete => Operation::Delete,
        Method::Patch => Operation::Patch,
        Method::Write => {
            let probe = request_v01(req, Operation::Update);
            let exists = engine.call_exists(&mut *store, &probe).await?;
            match write_operation(req, exists.map_err(error_v01)) {
                Ok(true) => Operation::Create,
                Ok(false) => Operation::Update,
                Err(outcome) => return Ok(outcome),
            }
        }
    };
    let answer = engine
        .call_handle(&mut *store, &request_v01(req, operation))
        .await?;
    Ok(Outcome::Handled(answer.map(reply_v01).map_err(error_v01)))
}

/// One call into a contract-0.2 engine: the request is a resource in the
/// store's table, borrowed by `exists` and then by `handle`, and deleted by
/// the host after (a trap drops the whole store instead).
async fn invoke_v02(
    engine: &v02::Engine,
    store: &mut Store<InstanceState>,
    entry: &Entry<'_>,
) -> wasmtime::Result<Outcome> {
    use v02::coffer::engine::types::Operation;
    let handler = engine.coffer_engine_handler();
    let req = match entry {
        Entry::Periodic {
            mount_path,
            mount_options,
            ..
        } => {
            let done = handler
                .call_periodic(&mut *store, mount_path, mount_options)
                .await?;
            return Ok(Outcome::Periodic(done.map_err(error_v02)));
        }
        Entry::Handle(req) => req,
    };
    let operation = match req.method {
        Method::Read => Operation::Read,
        Method::List => Operation::List,
        Method::Delete => Operation::Delete,
        Method::Patch => Operation::Patch,
        Method::Write => Operation::Update,
    };
    let request = store
        .data_mut()
        .table
        .push(RequestData::new(Arc::clone(req), operation))?;
    if req.method == Method::Write {
        let borrowed = wasmtime::component::Resource::<RequestData>::new_borrow(request.rep());
        let exists = handler.call_exists(&mut *store, borrowed).await?;
        match write_operation(req, exists.map_err(error_v02)) {
            Ok(create) => {
                if create {
                    store.data_mut().table.get_mut(&request)?.operation = Operation::Create;
                }
            }
            Err(outcome) => {
                store.data_mut().table.delete(request)?;
                return Ok(outcome);
            }
        }
    }
    // `keys.permit` only while handling a client's create or update.
    let permits = req.caller.is_some()
        && matches!(
            store.data_mut().table.get(&request)?.operation,
            Operation::Create | Operation::Update
        );
    if let Some(keys) = store.data_mut().call_mut()?.keys.as_mut() {
        keys.may_permit = permits;
    }
    let borrowed = wasmtime::component::Resource::<RequestData>::new_borrow(request.rep());
    let answer = handler.call_handle(&mut *store, borrowed).await?;
    store.data_mut().table.delete(request)?;
    Ok(Outcome::Handled(answer.map(reply_v02).map_err(error_v02)))
}

fn request_v01(req: &CallRequest, operation: v01::Operation) -> v01::EngineRequest {
    v01::EngineRequest {
        operation,
        path: req.path.clone(),
        data: req.data.clone(),
        query: req.query.clone(),
        mount_path: req.mount_path.clone(),
        mount_options: req.mount_options.clone(),
    }
}

/// A response's body, whichever contract produced it.
enum Answer {
    None,
    Data(String),
    Raw {
        content_type: String,
        bytes: Vec<u8>,
    },
}

/// Converts an engine's response into the host's reply, refusing what the
/// contracts forbid (a status outside 200..=599, data that is not JSON, a
/// header an engine may not set, see [`crate::api::check_engine_header`])
/// with a 500 naming it. The call's writes still commit: the engine
/// answered `ok`.
fn reply(
    status: u16,
    body: Answer,
    warnings: Vec<String>,
    headers: Vec<(String, String)>,
) -> Reply {
    let refuse = |message: String| Reply::Bare {
        status: 500,
        body: serde_json::json!({ "errors": [message] }),
    };
    if !(200..=599).contains(&status) {
        return refuse(format!("engine answered with invalid status {status}"));
    }
    for (name, value) in &headers {
        if let Err(why) = crate::api::check_engine_header(name, value) {
            return refuse(why);
        }
    }
    match body {
        Answer::None => Reply::Empty {
            status,
            warnings,
            headers,
        },
        Answer::Data(text) => match serde_json::value::RawValue::from_string(text) {
            Ok(data) => Reply::EngineData {
                status,
                data,
                warnings,
                headers,
            },
            Err(e) => refuse(format!("engine answered invalid JSON: {e}")),
        },
        Answer::Raw {
            content_type,
            bytes,
        } => Reply::Raw {
            status,
            content_type,
            body: bytes,
            headers,
        },
    }
}

fn reply_v01(r: v01::EngineResponse) -> Reply {
    let body = match r.body {
        v01::Body::None => Answer::None,
        v01::Body::Data(text) => Answer::Data(text),
        v01::Body::Raw(raw) => Answer::Raw {
            content_type: raw.content_type,
            bytes: raw.bytes,
        },
    };
    reply(r.status, body, r.warnings, Vec::new())
}

fn reply_v02(r: v02::coffer::engine::http::Response) -> Reply {
    use v02::coffer::engine::http::Body;
    let body = match r.body {
        Body::None => Answer::None,
        Body::Data(text) => Answer::Data(text),
        Body::Raw(raw) => Answer::Raw {
            content_type: raw.content_type,
            bytes: raw.bytes,
        },
    };
    reply(r.status, body, r.warnings, r.headers)
}

fn error_v01(e: v01::EngineError) -> ApiError {
    use v01::EngineError as E;
    match e {
        E::InvalidRequest(m) => ApiError::BadRequest(m),
        E::PermissionDenied(_) => ApiError::PermissionDenied,
        E::NotFound(m) if m.is_empty() => ApiError::NotFound(None),
        E::NotFound(m) => ApiError::NotFound(Some(m)),
        E::UnsupportedOperation(m) => ApiError::UnsupportedOperation(m),
        E::Internal(m) => ApiError::Internal(m),
    }
}

/// Contract 0.2's errors: 0.1's, plus `unavailable` (503) and `status(n)`
/// (n when it is a 4xx or 5xx; anything else is a 500 naming it).
fn error_v02(e: v02::coffer::engine::types::Error) -> ApiError {
    use v02::coffer::engine::types::Error as E;
    match e {
        E::InvalidRequest(m) => ApiError::BadRequest(m),
        E::PermissionDenied(_) => ApiError::PermissionDenied,
        E::NotFound(m) if m.is_empty() => ApiError::NotFound(None),
        E::NotFound(m) => ApiError::NotFound(Some(m)),
        E::UnsupportedOperation(m) => ApiError::UnsupportedOperation(m),
        E::Unavailable(m) => ApiError::BackendUnavailable(m),
        E::Internal(m) => ApiError::Internal(m),
        E::Status(s) if (400..=599).contains(&s.status) => ApiError::Status(s.status, s.message),
        E::Status(s) => ApiError::Internal(format!(
            "engine answered an error with status {}, which is not a 4xx or 5xx: {}",
            s.status, s.message
        )),
    }
}

/// A short, client-safe reason for a trap; `memory_exceeded` is the store
/// limiter's own record that it refused a growth (never read from text).
fn trap_reason(e: &wasmtime::Error, memory_exceeded: bool) -> String {
    if memory_exceeded {
        return "engine exceeded its memory limit".to_string();
    }
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => "engine exceeded its time limit".to_string(),
        Some(wasmtime::Trap::UnreachableCodeReached) => {
            "engine trapped (a panic or abort)".to_string()
        }
        Some(trap) => format!("engine trapped: {trap}"),
        None => format!(
            "engine failed: {}",
            e.to_string().lines().next().unwrap_or_default()
        ),
    }
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;
    use v02::coffer::engine::types::{Error as E, ErrorStatus};

    #[test]
    fn contract_02_errors_map_to_their_statuses() {
        let status = |n: u16| {
            error_v02(E::Status(ErrorStatus {
                status: n,
                message: "m".into(),
            }))
        };
        assert_eq!(
            error_v02(E::Unavailable("hsm down".into())),
            ApiError::BackendUnavailable("hsm down".into())
        );
        for n in [400, 409, 418, 429, 499, 500, 502, 599] {
            assert_eq!(status(n), ApiError::Status(n, "m".into()));
        }
        for n in [0, 100, 200, 204, 302, 399, 600, 65535] {
            let e = status(n);
            assert_eq!(e.status(), 500, "{n}");
            assert!(e.messages()[0].contains(&format!("status {n}")), "{e:?}");
        }
        assert_eq!(
            error_v02(E::NotFound(String::new())),
            ApiError::NotFound(None)
        );
    }

    #[test]
    fn replies_carry_safe_headers_and_refuse_the_others() {
        let located = vec![("location".to_string(), "/v1/x".to_string())];
        match reply(
            201,
            Answer::Data(r#"{"a":1}"#.into()),
            Vec::new(),
            located.clone(),
        ) {
            Reply::EngineData {
                status: 201,
                headers,
                data,
                ..
            } => {
                assert_eq!(headers, located);
                assert_eq!(data.get(), r#"{"a":1}"#);
            }
            other => panic!("{other:?}"),
        }
        for (status, headers) in [
            (200, vec![("content-length".to_string(), "1".to_string())]),
            (200, vec![("Location".to_string(), "/x".to_string())]),
            (99, Vec::new()),
            (600, Vec::new()),
        ] {
            match reply(status, Answer::None, Vec::new(), headers.clone()) {
                Reply::Bare { status: 500, body } => {
                    let text = body["errors"][0].as_str().unwrap_or_default().to_string();
                    let named = headers
                        .first()
                        .map_or(format!("status {status}"), |(n, _)| format!("{n:?}"));
                    assert!(text.contains(&named), "{text} should name {named}");
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            reply(200, Answer::Data("not json".into()), Vec::new(), Vec::new()),
            Reply::Bare { status: 500, .. }
        ));
    }
}
