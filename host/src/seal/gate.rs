//! The gate: whether the server is unsealed, as a type.
//!
//! [`Unsealed`] is the proof that the barrier is open. Only this module
//! makes one: [`Gate::enter`] while unsealed, and the transitions
//! ([`Gate::open`], [`Gate::initialize`]) for the work they do under the
//! exclusive lock. Storage asks for it on every read and write of the
//! `engine` and `system` tables and takes the keyring from it, so a sealed
//! server has no keyring anywhere to reach, and code that forgot the seal
//! check does not compile.
//!
//! An `Unsealed` from [`Gate::enter`] also holds the state lock shared, so
//! while any exists (a request in flight, a periodic call, a commit in a
//! blocking task holding a clone) the seal cannot close and the keyring
//! cannot be replaced: [`Gate::close`] and [`Gate::rotate`] take the lock
//! exclusively and so wait for them, and no new one is handed out meanwhile
//! (tokio's lock is fair: a waiting writer stops new readers).
//!
//! What it does not cover: one task must not [`Gate::enter`] twice (the
//! second would wait behind a queued writer that waits for the first), so
//! only the request pipeline and the periodic ticker call it, once per unit
//! of work, and hand the proof down.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedRwLockReadGuard, RwLock};

use crate::api::ApiError;
use crate::storage::barrier::Keyring;

/// The open barrier's keyring, or nothing while sealed.
type State = Option<Arc<Keyring>>;

/// Proof that the barrier is open; carries the keyring storage uses.
/// Cheap to clone (clones share one hold on the state lock).
#[derive(Clone)]
pub struct Unsealed {
    keyring: Arc<Keyring>,
    /// The shared hold on the state lock; `None` only inside a transition,
    /// which holds the lock exclusively itself.
    _held: Option<Arc<OwnedRwLockReadGuard<State>>>,
}

impl Unsealed {
    /// The barrier's keyring (for `storage/`).
    pub(crate) fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// A proof over `keyring` for unit tests of storage and its users.
    #[cfg(test)]
    pub(crate) fn for_tests(keyring: Keyring) -> Unsealed {
        Unsealed {
            keyring: Arc::new(keyring),
            _held: None,
        }
    }
}

/// The seal state and the lock around it.
pub struct Gate {
    state: Arc<RwLock<State>>,
    /// Mirrors `state` for answers that must not wait (`sys/health`).
    open: AtomicBool,
}

impl Default for Gate {
    fn default() -> Self {
        Gate {
            state: Arc::new(RwLock::new(None)),
            open: AtomicBool::new(false),
        }
    }
}

impl Gate {
    /// Whether the server is unsealed, without waiting (for status pages;
    /// anything that touches storage takes an [`Unsealed`] instead).
    pub fn is_unsealed(&self) -> bool {
        self.open.load(Ordering::SeqCst)
    }

    /// The proof, held until dropped, or 503 `Vault is sealed`. Waits while
    /// a seal, unseal or rotation is under way.
    pub async fn enter(&self) -> Result<Unsealed, ApiError> {
        let guard = self.state.clone().read_owned().await;
        let keyring = guard.clone().ok_or_else(ApiError::sealed)?;
        Ok(Unsealed {
            keyring,
            _held: Some(Arc::new(guard)),
        })
    }

    /// Unseals with `keyring`: waits for the lock alone, runs `bring_up`
    /// (loading what must be in memory) with a proof, and lets requests in
    /// only if it succeeded; otherwise stays sealed and runs nothing else.
    pub async fn open(
        &self,
        keyring: Keyring,
        bring_up: impl AsyncFnOnce(&Unsealed) -> Result<(), ApiError>,
    ) -> Result<(), ApiError> {
        let mut state = self.state.write().await;
        if state.is_some() {
            return Ok(());
        }
        let keyring = Arc::new(keyring);
        let proof = Unsealed {
            keyring: keyring.clone(),
            _held: None,
        };
        bring_up(&proof).await?;
        *state = Some(keyring);
        self.open.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Writes a new server's first records with the keyring `sys/init`
    /// made, while it stays sealed (nothing else runs meanwhile).
    pub async fn initialize<T>(
        &self,
        keyring: Keyring,
        write: impl FnOnce(&Unsealed) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let _state = self.state.write().await;
        let proof = Unsealed {
            keyring: Arc::new(keyring),
            _held: None,
        };
        write(&proof)
    }

    /// Seals: waits for every proof to be dropped, shuts the gate, then
    /// runs `tear_down` (forgetting what was loaded) before anyone can
    /// enter again. The keyring is dropped here.
    pub async fn close(&self, tear_down: impl AsyncFnOnce()) {
        let mut state = self.state.write().await;
        self.open.store(false, Ordering::SeqCst);
        *state = None;
        tear_down().await;
    }

    /// Replaces the keyring with what `next` makes of the current one,
    /// while no proof exists. 503 when sealed.
    pub async fn rotate(
        &self,
        next: impl FnOnce(&Keyring) -> Result<Keyring, ApiError>,
    ) -> Result<(), ApiError> {
        let mut state = self.state.write().await;
        let current = state.as_ref().ok_or_else(ApiError::sealed)?;
        let rotated = next(current)?;
        *state = Some(Arc::new(rotated));
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sealed_until_opened_and_closing_waits_for_proofs() {
        let gate = Arc::new(Gate::default());
        assert_eq!(gate.enter().await.err(), Some(ApiError::sealed()));
        gate.open(Keyring::generate(0), async |_| Ok(()))
            .await
            .unwrap();
        assert!(gate.is_unsealed());
        let proof = gate.enter().await.unwrap();
        let closer = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.close(async || {}).await })
        };
        tokio::task::yield_now().await;
        // The seal waits for the proof in hand.
        assert!(!closer.is_finished());
        drop(proof);
        closer.await.unwrap();
        assert!(!gate.is_unsealed());
        assert_eq!(gate.enter().await.err(), Some(ApiError::sealed()));
    }

    #[tokio::test]
    async fn a_failed_bring_up_stays_sealed() {
        let gate = Gate::default();
        let e = gate
            .open(Keyring::generate(0), async |_| {
                Err(ApiError::internal("no"))
            })
            .await;
        assert!(e.is_err());
        assert!(!gate.is_unsealed());
        assert!(gate.enter().await.is_err());
    }
}
