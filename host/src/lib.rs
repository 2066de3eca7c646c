//! # Coffer's host
//!
//! A request's way through this crate, one folder each, in order:
//!
//! - [`http`]: the listener, hyper, parsing into [`api::Request`], and
//!   rendering Vault's JSON envelope. Where a request enters.
//! - [`auth`]: the token check that yields an [`auth::Authorized`]. Where it
//!   is authorised.
//! - [`router`]: the mount table; the longest mount prefix picks the mount.
//!   Which engine runs it.
//! - [`sandbox`]: wasmtime; runs the mount's engine component, bounded in
//!   time and memory, and commits its writes whole or not at all.
//! - [`storage`]: redb; every engine key prefixed by its mount's uuid. Where
//!   its bytes are stored.
//!
//! Beside them: [`sys`] (the host's own endpoints), [`engines`] (built-in
//! and catalog engine code), [`crypto`] (the `coffer-crypto` crate: what the `crypto` import runs),
//! [`keys`] (each mount's key-blob sealer, and the managed-key seam), [`kms`]
//! (the managed keys of `sys/managed-keys` and their backends),
//! [`config`] (flags and the HCL file) and [`server`] (shared state).
//! `main.rs` only parses the command line and calls [`run`].

#![deny(unsafe_code)]

pub mod api;
pub mod audit;
pub mod auth;
pub mod config;
pub use coffer_crypto as crypto;
pub mod engines;
pub mod fields;
pub mod http;
pub mod keys;
pub mod kms;
pub mod mounts;
pub mod router;
pub mod sandbox;
pub mod seal;
pub mod server;
pub mod storage;
pub mod sys;

/// Property tests' case count: `n` in an ordinary test run;
/// `PROPTEST_CASES` (`just fuzz`) overrides it. Shared by the `fuzz`
/// modules beside each parser.
#[cfg(test)]
fn fuzz_cases(n: u32) -> proptest::test_runner::Config {
    if std::env::var_os("PROPTEST_CASES").is_some() {
        proptest::test_runner::Config::default()
    } else {
        proptest::test_runner::Config::with_cases(n)
    }
}

use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;

use config::{Config, StorageConfig};
use server::Server;

/// Runs the server until `shutdown` resolves, then for at most the
/// `graceful_shutdown_timeout` while requests in flight finish.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    // Dev storage lives in a temporary directory removed when this returns.
    let (storage_path, _temp) = match &config.storage {
        StorageConfig::Redb(path) => (path.clone(), None),
        StorageConfig::DevTemporary => {
            let dir = tempfile::Builder::new().prefix("coffer-dev-").tempdir()?;
            (dir.path().join("coffer.redb"), Some(dir))
        }
    };
    let storage = storage::Storage::open(&storage_path)?;
    let sandbox = sandbox::Sandbox::new(
        storage.clone(),
        config.limits.clone(),
        cache_dir(&storage_path),
    )?;
    let managed_keys = Arc::new(kms::ManagedKeyStore::new(
        storage.clone(),
        &config.kms_libraries,
    ));
    #[cfg(feature = "test-managed-keys")]
    let test_backend = keys::test_backend::from_env()?;
    #[cfg(not(feature = "test-managed-keys"))]
    let test_backend: Option<Arc<dyn keys::managed::ManagedKeys>> = None;
    match test_backend {
        Some(backend) => {
            tracing::warn!(
                "engines' managed keys come from the TEST backend (COFFER_TEST_MANAGED_KEYS): a test build, never for real secrets"
            );
            sandbox.set_managed_keys(backend)?;
        }
        None => sandbox.set_managed_keys(Arc::clone(&managed_keys) as _)?,
    }
    let cluster_id = match storage.seal_get("cluster-id")? {
        Some(id) => String::from_utf8_lossy(&id).into_owned(),
        None => {
            let id = uuid::Uuid::new_v4().to_string();
            storage.seal_write(&[("cluster-id", id.as_bytes())])?;
            id
        }
    };
    // The auto seal's device; a disabled stanza means "migrate to Shamir".
    let auto_seal = match &config.seal {
        Some(stanza) if !stanza.disabled => Some(seal::auto::wrapper(&stanza.device)?),
        _ => None,
    };
    let server = Arc::new(Server::new(server::ServerParts {
        storage,
        sandbox,
        plugin_dir: config.plugin_dir.clone(),
        cluster_id,
        managed_keys,
        auto_seal,
    }));
    let fail = |e: api::ApiError| anyhow::anyhow!("{}", e.messages().join("; "));
    // Dev mode: initialised with one share, unsealed, `secret/` mounted.
    let mut shown = None;
    if let Some(wanted) = &config.dev_root_token {
        let (keys, token) = server
            .initialize(1, 1, wanted.as_deref())
            .await
            .map_err(fail)?;
        let key = keys
            .first()
            .map(|k| base64::engine::general_purpose::STANDARD.encode(k.as_slice()))
            .unwrap_or_default();
        server.submit_share(&key).await.map_err(fail)?;
        mount_dev_kv(&server).await.map_err(fail)?;
        shown = Some((key, token));
    }
    let listener = tokio::net::TcpListener::bind(&config.listener.address)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listener.address))?;
    let tls = match &config.listener.tls {
        Some(t) => Some(http::tls::acceptor(
            &t.cert_file,
            &t.key_file,
            t.min_version,
        )?),
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let address = listener.local_addr()?;

    let mut out = std::io::stdout().lock();
    if config.dev_root_token.is_some() {
        writeln!(
            out,
            "WARNING! dev mode is enabled: storage is temporary and the root token is shown."
        )?;
    }
    writeln!(out, "             Api Address: {scheme}://{address}")?;
    writeln!(
        out,
        "                 Storage: redb ({})",
        storage_path.display()
    )?;
    if let Some((key, token)) = &shown {
        writeln!(out, "              Unseal Key: {key}")?;
        writeln!(out, "              Root Token: {token}")?;
    } else if server.seal.unseals_itself().map_err(fail)? {
        writeln!(
            out,
            "                    Seal: {} (auto-unseal)",
            server.seal.configured_type().name()
        )?;
    } else if let Some(status) = server
        .seal
        .status()
        .ok()
        .filter(|s| s.initialized && s.migration)
    {
        writeln!(
            out,
            "                    Seal: migrating from {} to {}; unseal with `sys/unseal` and migrate=true",
            status.seal_type.name(),
            server.seal.configured_type().name()
        )?;
    } else if server.seal.config().map_err(fail)?.is_some() {
        writeln!(
            out,
            "                    Seal: sealed; unseal with `sys/unseal`"
        )?;
    } else {
        writeln!(
            out,
            "                    Seal: not initialised; start with `sys/init`"
        )?;
    }
    writeln!(
        out,
        "==> Coffer server started! Log data will stream in below:"
    )?;
    out.flush()?;
    drop(out);

    let ticker = tokio::spawn(periodic(server.clone(), config.periodic_interval));
    let auto_unseal = tokio::spawn(auto_unseal(server.clone()));
    http::serve(
        listener,
        tls,
        server,
        config.listener.limits,
        config.graceful_shutdown_timeout,
        shutdown,
    )
    .await;
    ticker.abort();
    auto_unseal.abort();
    Ok(())
}

/// Unseals through the auto seal at start, if the server is initialised
/// with the seal that is configured: tried until it works, every 5 s (each
/// try bounded by `seal::auto::DEVICE_TIMEOUT`), so a device that is late
/// at start is waited for without holding anything else.
async fn auto_unseal(server: Arc<Server>) {
    loop {
        match server.seal.unseals_itself() {
            Ok(true) => {}
            _ => return,
        }
        match server.auto_unseal().await {
            Ok(()) => {
                tracing::info!(
                    "unsealed by the {} seal",
                    server.seal.configured_type().name()
                );
                return;
            }
            Err(e) => tracing::error!(
                "auto-unseal failed (trying again in 5 s): {}",
                e.messages().join("; ")
            ),
        }
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    }
}

/// Mounts kv version 1 at `secret/`, as Vault's dev server does.
async fn mount_dev_kv(server: &Server) -> Result<(), api::ApiError> {
    let mut options = serde_json::Map::new();
    options.insert("version".into(), "1".into());
    let unsealed = server.gate.enter().await?;
    server
        .mounts
        .add(
            &unsealed,
            mounts::NewMount {
                path: "secret/".into(),
                kind: "kv".into(),
                description: "key/value secret storage".into(),
                config: router::MountConfig::default(),
                options,
                local: false,
                seal_wrap: false,
            },
        )
        .await
}

/// Calls every mount's periodic entry point at a fixed interval. Each call
/// holds an [`seal::Unsealed`] like a request: a seal waits for it, and
/// nothing runs while sealed.
async fn periodic(server: Arc<Server>, every: std::time::Duration) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let table = server.mounts.table();
        for mount in table.mounts() {
            let Ok(unsealed) = server.gate.enter().await else {
                break;
            };
            let options = serde_json::Value::Object(mount.record.options.clone()).to_string();
            if let Err(e) = server
                .mounts
                .sandbox()
                .periodic(
                    &unsealed,
                    &mount.runtime,
                    &mount.record.path,
                    &options,
                    &mount.record.config.allowed_managed_keys,
                )
                .await
            {
                tracing::warn!(mount = %mount.record.path, "periodic call failed: {:?}", e.messages());
            }
        }
    }
}

/// Where compiled engines are cached: beside the storage file (for dev
/// mode's temporary storage, in the user's cache folder), created 0700 if
/// missing. An existing folder keeps its mode: `sandbox::cache` checks it
/// (owner, who may write it and the folders above) before using it.
fn cache_dir(storage_path: &std::path::Path) -> Option<PathBuf> {
    let base = match std::env::var_os("HOME") {
        // Dev storage is temporary: cache in the user's cache folder instead.
        Some(home) if storage_path.starts_with(std::env::temp_dir()) => PathBuf::from(home)
            .join(".cache")
            .join("coffer")
            .join("engines"),
        _ => storage_path.parent()?.join("engine-cache"),
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    if let Err(e) = builder.create(&base) {
        tracing::warn!("cannot create the engine cache {}: {e}", base.display());
        return None;
    }
    Some(base)
}
