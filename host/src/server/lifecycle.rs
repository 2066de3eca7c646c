//! Init, unseal, seal and barrier rotation: the seal's keys (`seal/`) and
//! the gate, with the other services brought up and down around them.

use super::{Server, UnsealShares};
use crate::api::ApiError;
use crate::auth::tokens::{now, TokenEntry};
use crate::seal::{Submitted, Unsealed};
use crate::storage::barrier::Keyring;

impl Server {
    /// `sys/init`: makes the keys, stores the root token, and leaves the
    /// server sealed. `root_token` picks the token (dev mode).
    pub async fn initialize(
        &self,
        shares: u8,
        threshold: u8,
        root_token: Option<&str>,
    ) -> Result<(UnsealShares, String), ApiError> {
        let init = self.seal.init(shares, threshold)?;
        let token = root_token
            .map(str::to_string)
            .unwrap_or_else(crate::auth::tokens::new_token);
        self.store_first_root_token(init.keyring, &token).await?;
        Ok((init.keys, token))
    }

    /// Stores the root token of a new server with its first keyring. The
    /// barrier is opened for this one write only, under the gate's
    /// exclusive lock; requests still see a sealed server.
    async fn store_first_root_token(&self, keyring: Keyring, token: &str) -> Result<(), ApiError> {
        let written = self
            .gate
            .initialize(keyring, |u| {
                self.auth.tokens.load(u)?;
                self.auth.tokens.create(u, token, root_entry())
            })
            .await;
        self.auth.clear();
        written.map(|_| ())
    }

    /// `sys/init` with an auto seal: the root key wrapped by the seal's
    /// device and sealed under recovery shares; then the server unseals
    /// itself through the device. Gives the recovery shares and the root
    /// token.
    pub async fn initialize_auto(
        &self,
        recovery_shares: u8,
        recovery_threshold: u8,
    ) -> Result<(UnsealShares, String), ApiError> {
        let wrapper = self
            .seal
            .auto()
            .ok_or_else(|| ApiError::internal("no auto seal is configured"))?;
        let prepared = self
            .seal
            .prepare_init(recovery_shares, recovery_threshold)?;
        let wrapped = wrapper.wrap(prepared.root_key()).await?;
        let init = self.seal.commit_init(prepared, &wrapped)?;
        let token = crate::auth::tokens::new_token();
        self.store_first_root_token(init.keyring, &token).await?;
        // The keys are stored: whatever happens now, the client must get
        // the recovery keys and the token. A device that fails here leaves
        // the server sealed until it starts again (and unseals itself).
        if let Err(e) = self.auto_unseal().await {
            tracing::error!(
                "initialised, but the seal's device did not unseal the server: {}",
                e.messages().join("; ")
            );
        }
        Ok((init.keys, token))
    }

    /// Unseals through the auto seal's device (at start, and after an auto
    /// seal's init).
    pub async fn auto_unseal(&self) -> Result<(), ApiError> {
        if self.is_unsealed() {
            return Ok(());
        }
        let wrapper = self
            .seal
            .auto()
            .ok_or_else(|| ApiError::internal("no auto seal is configured"))?;
        let root = wrapper.unwrap(self.seal.wrapped_root()?).await?;
        let keyring = self.seal.unseal_with_root(&root)?;
        self.unseal_with(keyring).await
    }

    /// `sys/unseal` with one share; unseals when the threshold is met.
    pub async fn submit_share(&self, key: &str) -> Result<(), ApiError> {
        self.submit_share_for(key, false).await
    }

    /// [`Server::submit_share`] with Vault's `migrate`: at the threshold of a
    /// migration, the configured seal takes over the root key (its device
    /// wraps it, for an auto seal), then the server unseals.
    pub async fn submit_share_for(&self, key: &str, migrate: bool) -> Result<(), ApiError> {
        if self.is_unsealed() {
            return Ok(());
        }
        match self.seal.submit_for(key, migrate)? {
            Submitted::Progress => Ok(()),
            Submitted::Unsealed(keyring) => self.unseal_with(keyring).await,
            Submitted::Migrate(migration) => {
                let wrapped = match self.seal.auto() {
                    Some(wrapper) => Some(wrapper.wrap(migration.root_key()).await?),
                    None => None,
                };
                let keyring = self.seal.commit_migration(migration, wrapped.as_deref())?;
                self.unseal_with(keyring).await
            }
        }
    }

    /// Brings the server up behind an opened keyring: policies, audit
    /// devices, mounts, then requests are let in. A stored audit table
    /// whose devices cannot be opened keeps the server sealed (Vault's
    /// rule: better unavailable than unaudited).
    async fn unseal_with(&self, keyring: Keyring) -> Result<(), ApiError> {
        let opened = self
            .gate
            .open(keyring, async |u: &Unsealed| {
                self.auth.load(u)?;
                self.managed_keys.load(u)?;
                if let Some(stored) = self.storage.system_get(u, crate::audit::STORAGE_KEY)? {
                    self.audit.load(&stored)?;
                }
                self.mounts.restore(u).await
            })
            .await;
        if let Err(e) = opened {
            self.mounts.retire_all().await;
            self.auth.clear();
            self.managed_keys.clear();
            self.audit.clear();
            self.seal.forget();
            return Err(e);
        }
        tracing::info!("unsealed");
        Ok(())
    }

    /// `sys/seal`: waits for requests in flight, then stops serving, drops
    /// every engine instance (and so the engines' in-memory caches), every
    /// cached token and policy, the audit devices' keys, then the keys.
    pub async fn seal_now(&self) {
        self.gate
            .close(async || {
                let _ = self.root_generation.cancel();
                self.mounts.retire_all().await;
                self.auth.clear();
                self.managed_keys.clear();
                self.audit.clear();
                self.seal.forget();
            })
            .await;
        tracing::info!("sealed");
    }

    /// `sys/rotate`: a new barrier key term for new writes, made and
    /// installed while no request runs.
    pub async fn rotate_barrier(&self) -> Result<(), ApiError> {
        self.gate.rotate(|current| self.seal.rotate(current)).await
    }
}

/// A root token's entry (init, `sys/generate-root`).
pub(crate) fn root_entry() -> TokenEntry {
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
    }
}
