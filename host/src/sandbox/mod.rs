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
//!   engine; [`MountRuntime`] holds one mount's storage prefix, warm
//!   instances, commit lock and generation (or, held, only the reason it
//!   runs nothing).
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
pub mod heavy;
pub mod host;
pub mod limits;

pub use limits::{Admission, Limits};

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::api::{ApiError, ApiResult, Method, Reply};
use crate::seal::Unsealed;
use crate::storage::{MountPrefix, Snapshot, Storage, WriteSet};
use bindings::{Body, EngineError, EngineRequest, EngineResponse, Operation};

/// How often the epoch ticks: the granularity of call deadlines.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Instances the pooling allocator holds at once, across all mounts (warm
/// idle instances included; idle ones are evicted when the pool is full).
const POOL_INSTANCES: u32 = 512;

/// A compiled engine, ready to instantiate; shared by its mounts.
pub struct EngineCode {
    pre: bindings::EnginePre<InstanceState>,
    /// Hex sha256 of the component bytes.
    pub sha256: String,
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
}

/// A warm instance.
struct Warm {
    store: Store<InstanceState>,
    engine: bindings::Engine,
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
    label: RwLock<String>,
    /// Bumped after every commit to this mount (see [`Sandbox::call`]).
    generation: Arc<AtomicU64>,
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

/// An engine request before create and update are told apart.
pub struct CallRequest {
    /// The verb.
    pub method: Method,
    /// Path inside the mount.
    pub path: String,
    /// JSON object text.
    pub data: String,
    /// Query parameters.
    pub query: Vec<(String, String)>,
    /// The mount's path with a trailing slash.
    pub mount_path: String,
    /// The mount's options as JSON object text.
    pub mount_options: String,
    /// Which of create and update the caller's policies allow for a write
    /// (enforced once the engine's `exists` has answered).
    pub write_rule: crate::auth::WriteRule,
}

/// What one invocation produced, before the commit decision.
enum Outcome {
    /// `handle` answered.
    Handled(Result<EngineResponse, EngineError>),
    /// `periodic` answered.
    Periodic(Result<(), EngineError>),
    /// The write was a create (or an update) the caller may not make;
    /// `handle` did not run.
    Denied,
}

/// Which export to invoke.
enum Entry<'a> {
    Handle(&'a CallRequest),
    Periodic {
        mount_path: &'a str,
        mount_options: &'a str,
    },
}

/// The engine runtime.
pub struct Sandbox {
    engine: wasmtime::Engine,
    linker: Linker<InstanceState>,
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
        let mut linker: Linker<InstanceState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        bindings::Engine::add_to_linker::<InstanceState, HasSelf<InstanceState>>(
            &mut linker,
            |s| s,
        )
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
        Ok(Arc::new(Sandbox {
            engine,
            linker,
            limits,
            cache,
            storage,
            loaded: Mutex::new(HashMap::new()),
            mounts: Mutex::new(Vec::new()),
            heavy: heavy::HeavyPool::per_core(),
        }))
    }

    /// Compiles (or fetches from the cache) a component and links it. The
    /// error names what is wrong: not a component, or an import the host
    /// does not offer.
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
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| format!("engine cannot be linked: {e}"))?;
        let pre = bindings::EnginePre::new(pre)
            .map_err(|e| format!("engine does not export the coffer:engine world: {e}"))?;
        let code = Arc::new(EngineCode {
            pre,
            sha256: sha256.clone(),
        });
        if let Ok(mut l) = self.loaded.lock() {
            l.insert(sha256, code.clone());
        }
        Ok(code)
    }

    /// The runtime for a mount of `code` whose data lives under `prefix`.
    pub fn mount(
        &self,
        code: Arc<EngineCode>,
        prefix: MountPrefix,
        label: &str,
    ) -> Arc<MountRuntime> {
        self.runtime(Runs::Engine(code), prefix, label, None)
    }

    /// A runtime that runs nothing: every call on it answers 503 with
    /// `reason` (a restored mount whose recorded code cannot be had, until
    /// it is reloaded). Its data stays where it is. The 503 comes where an
    /// instance would be made, after the token check, so the reason is
    /// shown only to callers allowed on the path.
    pub fn held(&self, prefix: MountPrefix, label: &str, reason: String) -> Arc<MountRuntime> {
        self.runtime(Runs::Held(reason), prefix, label, None)
    }

    /// A runtime of `code` that takes over from `old` (a reload): the same
    /// data, commit lock, generation and removed flag, so calls still
    /// running on `old` commit in one order with the new ones, and an
    /// unmount stops both. `old` keeps its warm instances until its last
    /// call ends.
    pub fn succeed(&self, old: &MountRuntime, code: Arc<EngineCode>) -> Arc<MountRuntime> {
        let label = old.label.read().map(|l| l.clone()).unwrap_or_default();
        self.runtime(Runs::Engine(code), old.prefix.clone(), &label, Some(old))
    }

    fn runtime(
        &self,
        code: Runs,
        prefix: MountPrefix,
        label: &str,
        after: Option<&MountRuntime>,
    ) -> Arc<MountRuntime> {
        let runtime = Arc::new(MountRuntime {
            prefix,
            code,
            label: RwLock::new(label.to_string()),
            generation: after.map_or_else(|| Arc::new(AtomicU64::new(0)), |o| o.generation.clone()),
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

    fn new_store(&self, mount: &MountRuntime) -> Store<InstanceState> {
        let label = mount.label.read().map(|l| l.clone()).unwrap_or_default();
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
        let mut store = self.new_store(mount);
        let engine = match code.pre.instantiate_async(&mut store).await {
            Ok(engine) => engine,
            Err(e)
                if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
                    .is_some() =>
            {
                drop(store);
                self.evict_idle();
                store = self.new_store(mount);
                code.pre.instantiate_async(&mut store).await.map_err(|e| {
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
        match self
            .run(unsealed, mount, Entry::Handle(&request), admission)
            .await?
        {
            Outcome::Handled(Ok(response)) => Ok(reply(response)),
            Outcome::Handled(Err(e)) => Err(engine_error(e)),
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
                },
                None,
            )
            .await?
        {
            Outcome::Periodic(Ok(())) => Ok(()),
            Outcome::Periodic(Err(e)) => Err(engine_error(e)),
            Outcome::Handled(_) | Outcome::Denied => Err(ApiError::internal("engine call mix-up")),
        }
    }

    /// The commit rule (invariant 3): a call runs on a snapshot without any
    /// lock. If it wrote nothing, its answer stands. If it wrote, the mount's
    /// commit lock is taken and its generation compared with the one the
    /// snapshot was taken at: unchanged means no other commit landed in
    /// between, so committing is as if the call ran alone; changed means it
    /// may have read stale data, so its writes are dropped and it runs again
    /// while holding the lock, which nothing can overtake. Nothing has been
    /// answered before the commit, so the re-run is invisible.
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
            None => self.instantiate(mount).await?,
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
            let (outcome, call) = match self.invoke(&mut warm, &entry, snapshot, generation).await {
                Ok(done) => done,
                Err(e) => {
                    // Trapped (deadline, memory, panic, host trap): the
                    // instance is dead and its writes are dropped with it.
                    let label = mount.label.read().map(|l| l.clone()).unwrap_or_default();
                    tracing::warn!(mount = %label, "engine call failed: {e:?}");
                    let memory = &warm.store.data().limits;
                    let body = match &entry {
                        Entry::Handle(req) => req.data.len(),
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
                None => mount.commit_lock.clone().lock_owned().await,
            };
            if mount.removed.load(Ordering::SeqCst) {
                return Err(ApiError::NotFound(None));
            }
            if mount.generation.load(Ordering::SeqCst) != generation {
                held = Some(guard);
                continue;
            }
            // The commit and the generation bump run in their own task, which
            // holds the commit lock and a clone of the proof: if this call's
            // future is dropped (the request's deadline), they still finish
            // together, and the seal waits for them.
            let storage = self.storage.clone();
            let unsealed = unsealed.clone();
            let committing = mount.clone();
            let commit = tokio::spawn(async move {
                let prefix = committing.prefix.clone();
                let written = tokio::task::spawn_blocking(move || {
                    storage.commit(&unsealed, &prefix, &call.writes)
                })
                .await;
                if matches!(written, Ok(Ok(()))) {
                    committing.generation.fetch_add(1, Ordering::SeqCst);
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

    async fn invoke(
        &self,
        warm: &mut Warm,
        entry: &Entry<'_>,
        snapshot: Snapshot,
        generation: u64,
    ) -> wasmtime::Result<(Outcome, CallState)> {
        warm.uses = warm.uses.saturating_add(1);
        warm.store.data_mut().call = Some(CallState {
            snapshot,
            writes: WriteSet::new(),
            write_bytes: 0,
            generation,
        });
        warm.store.data_mut().deadline = std::time::Instant::now() + self.limits.call_timeout;
        warm.store.set_epoch_deadline(1);
        let outcome = match entry {
            Entry::Handle(req) => {
                let operation =
                    match req.method {
                        Method::Read => Operation::Read,
                        Method::List => Operation::List,
                        Method::Delete => Operation::Delete,
                        Method::Patch => Operation::Patch,
                        Method::Write => {
                            let probe = to_wit(req, Operation::Update);
                            let operation =
                                match warm.engine.call_exists(&mut warm.store, &probe).await? {
                                    Ok(Some(false)) => Operation::Create,
                                    Ok(_) => Operation::Update,
                                    Err(e) => {
                                        let call =
                                            warm.store.data_mut().call.take().ok_or_else(|| {
                                                wasmtime::format_err!("call state vanished")
                                            })?;
                                        return Ok((Outcome::Handled(Err(e)), call));
                                    }
                                };
                            if !req
                                .write_rule
                                .allows(matches!(operation, Operation::Create))
                            {
                                let call =
                                    warm.store.data_mut().call.take().ok_or_else(|| {
                                        wasmtime::format_err!("call state vanished")
                                    })?;
                                return Ok((Outcome::Denied, call));
                            }
                            operation
                        }
                    };
                let wit = to_wit(req, operation);
                Outcome::Handled(warm.engine.call_handle(&mut warm.store, &wit).await?)
            }
            Entry::Periodic {
                mount_path,
                mount_options,
            } => Outcome::Periodic(
                warm.engine
                    .call_periodic(&mut warm.store, mount_path, mount_options)
                    .await?,
            ),
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

fn to_wit(req: &CallRequest, operation: Operation) -> EngineRequest {
    EngineRequest {
        operation,
        path: req.path.clone(),
        data: req.data.clone(),
        query: req.query.clone(),
        mount_path: req.mount_path.clone(),
        mount_options: req.mount_options.clone(),
    }
}

/// Converts an engine's response into the host's reply, refusing what the
/// WIT forbids (a status outside 200..=599, data that is not JSON).
fn reply(response: EngineResponse) -> Reply {
    let status = response.status;
    let bad_status = !(200..=599).contains(&status);
    match response.body {
        _ if bad_status => Reply::Bare {
            status: 500,
            body: serde_json::json!({ "errors": [format!("engine answered with invalid status {status}")] }),
        },
        Body::None => Reply::Empty {
            warnings: response.warnings,
        },
        Body::Data(text) => match serde_json::value::RawValue::from_string(text) {
            Ok(data) => Reply::EngineData {
                status,
                data,
                warnings: response.warnings,
            },
            Err(e) => Reply::Bare {
                status: 500,
                body: serde_json::json!({ "errors": [format!("engine answered invalid JSON: {e}")] }),
            },
        },
        Body::Raw(raw) => Reply::Raw {
            status,
            content_type: raw.content_type,
            body: raw.bytes,
        },
    }
}

fn engine_error(e: EngineError) -> ApiError {
    match e {
        EngineError::InvalidRequest(m) => ApiError::BadRequest(m),
        EngineError::PermissionDenied(_) => ApiError::PermissionDenied,
        EngineError::NotFound(m) if m.is_empty() => ApiError::NotFound(None),
        EngineError::NotFound(m) => ApiError::NotFound(Some(m)),
        EngineError::UnsupportedOperation(m) => ApiError::UnsupportedOperation(m),
        EngineError::Internal(m) => ApiError::Internal(m),
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
