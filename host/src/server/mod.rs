//! The composition root: the services a request needs, built once and
//! shared by every connection.
//!
//! - [`pipeline`]: one request's way — the seal gate, the token check, the
//!   audit devices, then `sys/`, `auth/token/` or an engine.
//! - [`lifecycle`]: init, unseal, seal and barrier rotation, which bring the
//!   other services up and down around the [`Gate`].
//!
//! The services themselves live in their folders: [`Gate`] and [`Seal`]
//! (`seal/`), [`Auth`] (`auth/`), [`Mounts`] (`mounts/`: routing, catalog,
//! every mount change), the audit [`Broker`](crate::audit::Broker).

pub mod lifecycle;
pub mod pipeline;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use zeroize::Zeroizing;

use crate::auth::Auth;
use crate::mounts::Mounts;
use crate::sandbox::Sandbox;
use crate::seal::{Gate, Seal};
use crate::storage::Storage;

pub(crate) use lifecycle::root_entry;
pub use pipeline::Handled;

/// The unseal key shares `sys/init` hands out.
pub type UnsealShares = Vec<Zeroizing<Vec<u8>>>;

/// What `sys/health` and `sys/seal-status` say about this server.
pub struct Cluster {
    /// Identity, kept in the `seal` table.
    pub id: String,
    /// Name derived from the id.
    pub name: String,
    /// When the server started.
    pub started: SystemTime,
}

/// Everything a request may need, shared by all connections.
pub struct Server {
    /// The database (the services below keep their own handles; this one
    /// is for the audit table's record).
    pub storage: Storage,
    /// Whether the barrier is open, as the [`Unsealed`](crate::seal::Unsealed) proof.
    pub gate: Gate,
    /// The seal's keys and unseal progress.
    pub seal: Seal,
    /// Tokens and policies.
    pub auth: Auth,
    /// The mount table, the catalog and the engine runtime behind them.
    pub mounts: Mounts,
    /// The audit devices.
    pub audit: crate::audit::Broker,
    /// The managed keys (`sys/managed-keys`).
    pub managed_keys: Arc<crate::kms::ManagedKeyStore>,
    /// `sys/generate-root`'s attempt.
    pub root_generation: crate::seal::root_generation::RootGeneration,
    /// Identity reported by `sys/health` and `sys/seal-status`.
    pub cluster: Cluster,
}

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
    /// The managed keys (also the sandbox's managed-key backend).
    pub managed_keys: Arc<crate::kms::ManagedKeyStore>,
    /// The configured auto seal's device (none: Shamir).
    pub auto_seal: Option<Arc<dyn crate::seal::auto::Wrapper>>,
}

impl Server {
    /// A sealed server over `parts`.
    pub fn new(parts: ServerParts) -> Self {
        Server {
            auth: Auth::new(parts.storage.clone()),
            seal: Seal::with_auto(parts.storage.clone(), parts.auto_seal),
            gate: Gate::default(),
            mounts: Mounts::new(parts.storage.clone(), parts.sandbox, parts.plugin_dir),
            storage: parts.storage,
            audit: crate::audit::Broker::new(),
            managed_keys: parts.managed_keys,
            root_generation: Default::default(),
            cluster: Cluster {
                name: format!(
                    "coffer-cluster-{}",
                    parts.cluster_id.get(..8).unwrap_or_default()
                ),
                id: parts.cluster_id,
                started: SystemTime::now(),
            },
        }
    }

    /// Whether requests are served (the seal is open and the state is up).
    pub fn is_unsealed(&self) -> bool {
        self.gate.is_unsealed()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::api::{ApiError, Method, Request};
    use crate::mounts::NewMount;
    use crate::router::MountConfig;

    fn request(method: Method, path: &str, body: &str) -> Request {
        Request {
            id: uuid::Uuid::new_v4(),
            method,
            path: path.into(),
            body: body.into(),
            query: Vec::new(),
            token: Some("root".into()),
            raw: None,
            admission: None,
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
            managed_keys: Arc::new(crate::kms::ManagedKeyStore::new(storage.clone(), &[])),
            auto_seal: None,
        });
        let (keys, _) = server.initialize(1, 1, Some("root")).await.unwrap();
        let key = hex::encode(keys[0].as_slice());
        server.submit_share(&key).await.unwrap();
        {
            let u = server.gate.enter().await.unwrap();
            server
                .mounts
                .add(
                    &u,
                    NewMount {
                        path: "kv/".into(),
                        kind: "kv".into(),
                        description: String::new(),
                        config: MountConfig::default(),
                        options: serde_json::Map::new(),
                        local: false,
                        seal_wrap: false,
                    },
                )
                .await
                .unwrap();
        }
        let mount = server.mounts.table().exact("kv/").unwrap();
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
        assert!(server.mounts.table().mounts().is_empty());
        assert!(server.gate.enter().await.is_err());
        let sealed = server.handle(request(Method::Read, "kv/x", "{}")).await;
        assert_eq!(sealed.result.err(), Some(ApiError::sealed()));

        server.submit_share(&key).await.unwrap();
        assert_eq!(server.mounts.table().mounts().len(), 1);
        let read = server.handle(request(Method::Read, "kv/x", "{}")).await;
        assert!(read.result.is_ok());
    }
}
