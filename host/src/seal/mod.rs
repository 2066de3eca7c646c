//! The seal: the gate every request passes first, and the keys behind it.
//!
//! Three keys, each protecting the next (Vault's model):
//!
//! - the **unseal key** (32 random bytes) exists only while unsealing: it is
//!   split into Shamir shares at init ([`shamir`]) and handed out, never
//!   stored;
//! - the **root key** (32 bytes) is stored sealed under the unseal key
//!   (`seal` table, `root-key`), and kept in memory while unsealed so that
//!   `sys/rotate` can re-seal the keyring;
//! - the **keyring** (the barrier's AES-256-GCM terms, see
//!   `storage::barrier`) is stored sealed under the root key (`keyring`).
//!
//! Unsealing combines the submitted shares, opens the root key and the
//! keyring, and gives the keyring to storage; sealing takes it away. A wrong
//! share set fails authentication of the root key: the attempt is refused,
//! progress starts over, nothing stored changes.
//!
//! With an auto seal (`seal "pkcs11"` or `seal "awskms"`, see [`auto`]),
//! the unseal key is a **recovery key** instead, and the root key is also
//! stored wrapped by the seal's device (`auto-root-key`), which unseals the
//! server by itself. A stored seal that differs from the configured one is
//! a **migration**: the server stays sealed until the old seal's shares are
//! submitted with `migrate`, then stores the root key the new way (the
//! shares stay valid: unseal keys become recovery keys and back).
//!
//! This module only holds the keys and the unseal progress; bringing the
//! server's state up and down around them is `server.rs`'s job.

pub mod auto;
pub mod gate;
pub mod root_generation;
pub mod shamir;

pub use gate::{Gate, Unsealed};

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::api::ApiError;
use crate::storage::barrier::{open_with, seal_with, Keyring};
use crate::storage::Storage;

use self::auto::{SealType, Wrapper};

const CONFIG: &str = "config";
const ROOT_KEY: &str = "root-key";
const KEYRING: &str = "keyring";
const AUTO_ROOT_KEY: &str = "auto-root-key";
const ROOT_KEY_AAD: &[u8] = b"coffer/root-key";
const KEYRING_AAD: &[u8] = b"coffer/keyring";

/// How the root key is sealed and the unseal (or recovery) key split
/// (stored in clear: it is not secret).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct SealConfig {
    /// Shares handed out (Shamir).
    pub secret_shares: u8,
    /// Shares needed to unseal (Shamir).
    pub secret_threshold: u8,
    /// What seals the root key.
    #[serde(default, rename = "type")]
    pub seal_type: SealType,
    /// Recovery shares handed out (auto seals).
    #[serde(default)]
    pub recovery_shares: u8,
    /// Recovery shares needed (auto seals).
    #[serde(default)]
    pub recovery_threshold: u8,
}

impl SealConfig {
    /// The shares that open the stored root key, and how many are needed.
    fn shares(&self) -> (u8, u8) {
        if self.seal_type == SealType::Shamir {
            (self.secret_shares, self.secret_threshold)
        } else {
            (self.recovery_shares, self.recovery_threshold)
        }
    }
}

/// What `sys/seal-status` reports about the seal itself.
pub struct SealStatus {
    /// Whether `sys/init` has run.
    pub initialized: bool,
    /// Threshold and share count (0 before init).
    pub threshold: u8,
    /// Shares handed out.
    pub shares: u8,
    /// Distinct shares submitted so far.
    pub progress: usize,
    /// Identifies the current unseal attempt ("" when none).
    pub nonce: String,
    /// The stored seal (the configured one before init).
    pub seal_type: SealType,
    /// Whether a migration to the configured seal waits for shares.
    pub migration: bool,
}

/// What `sys/init` produced.
pub struct Initialized {
    /// The shares to hand out (each once).
    pub keys: Vec<Zeroizing<Vec<u8>>>,
    /// The keyring, for the caller to write its first records (the root
    /// token) before sealing.
    pub keyring: Keyring,
}

/// The result of submitting one share.
pub enum Submitted {
    /// More shares are needed.
    Progress,
    /// The threshold was met and the keys opened: the caller installs the
    /// keyring.
    Unsealed(Keyring),
    /// The threshold was met with `migrate`: the caller has the configured
    /// seal wrap the root key (if it is an auto seal), then calls
    /// [`Seal::commit_migration`].
    Migrate(Migration),
}

/// A migration between seals, once the old seal's shares opened the root
/// key.
pub struct Migration {
    root_key: Zeroizing<[u8; 32]>,
    config: SealConfig,
}

impl Migration {
    /// The root key, for the new seal to wrap.
    pub fn root_key(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.root_key.to_vec())
    }
}

/// An auto seal's init, before the device wrapped the root key.
pub struct PreparedInit {
    recovery_keys: Vec<Zeroizing<Vec<u8>>>,
    root_key: Zeroizing<[u8; 32]>,
    keyring: Keyring,
    sealed_root: Vec<u8>,
    sealed_keyring: Vec<u8>,
    config: SealConfig,
}

impl PreparedInit {
    /// The root key, for the device to wrap.
    pub fn root_key(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.root_key.to_vec())
    }
}

#[derive(Default)]
struct Progress {
    shares: Vec<Zeroizing<Vec<u8>>>,
    nonce: String,
}

/// The seal's keys and unseal progress.
pub struct Seal {
    storage: Storage,
    /// The configured auto seal (none: Shamir, or a disabled stanza).
    auto: Option<Arc<dyn Wrapper>>,
    progress: Mutex<Progress>,
    root_key: Mutex<Option<Zeroizing<[u8; 32]>>>,
    /// Serialises init, unseal and rotate.
    lock: Mutex<()>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn poisoned() -> ApiError {
    ApiError::internal("seal state lock poisoned")
}

impl Seal {
    /// The seal of the database in `storage` (Shamir).
    pub fn new(storage: Storage) -> Self {
        Self::with_auto(storage, None)
    }

    /// The seal of the database in `storage`, with the configured auto
    /// seal's device (none: Shamir).
    pub fn with_auto(storage: Storage, auto: Option<Arc<dyn Wrapper>>) -> Self {
        Seal {
            storage,
            auto,
            progress: Mutex::new(Progress::default()),
            root_key: Mutex::new(None),
            lock: Mutex::new(()),
        }
    }

    /// The stored configuration; `None` before init.
    pub fn config(&self) -> Result<Option<SealConfig>, ApiError> {
        match self.storage.seal_get(CONFIG)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| ApiError::internal(format!("stored seal config is corrupt: {e}"))),
            None => Ok(None),
        }
    }

    /// The configured auto seal's device, if any.
    pub fn auto(&self) -> Option<Arc<dyn Wrapper>> {
        self.auto.clone()
    }

    /// The configured seal.
    pub fn configured_type(&self) -> SealType {
        self.auto
            .as_ref()
            .map_or(SealType::Shamir, |w| w.seal_type())
    }

    /// Whether the server should unseal itself: initialised with the auto
    /// seal that is configured.
    pub fn unseals_itself(&self) -> Result<bool, ApiError> {
        Ok(self.auto.is_some()
            && self
                .config()?
                .is_some_and(|c| c.seal_type == self.configured_type()))
    }

    /// Progress and configuration, for `sys/seal-status`.
    pub fn status(&self) -> Result<SealStatus, ApiError> {
        let config = self.config()?;
        let progress = self.progress.lock().map_err(|_| poisoned())?;
        let (shares, threshold) = config.map_or((0, 0), |c| c.shares());
        Ok(SealStatus {
            initialized: config.is_some(),
            threshold,
            shares,
            progress: progress.shares.len(),
            nonce: progress.nonce.clone(),
            seal_type: config.map_or(self.configured_type(), |c| c.seal_type),
            migration: config.is_some_and(|c| c.seal_type != self.configured_type()),
        })
    }

    /// `sys/init`: makes the keys and stores them sealed. Refused if already
    /// initialised. The caller gets the keyring to write first records
    /// with, then seals.
    pub fn init(&self, shares: u8, threshold: u8) -> Result<Initialized, ApiError> {
        let _guard = self.lock.lock().map_err(|_| poisoned())?;
        if self.auto.is_some() {
            return Err(ApiError::bad(format!(
                "this server's seal is {}: initialise it with recovery_shares and recovery_threshold",
                self.configured_type().name()
            )));
        }
        let made = self.make_keys(shares, threshold, "secret")?;
        let config = SealConfig {
            secret_shares: shares,
            secret_threshold: threshold,
            seal_type: SealType::Shamir,
            recovery_shares: 0,
            recovery_threshold: 0,
        };
        let config = serde_json::to_vec(&config).map_err(ApiError::internal)?;
        // One transaction: a crash leaves the server either uninitialised
        // or fully initialised.
        self.storage.seal_write(&[
            (ROOT_KEY, &made.sealed_root),
            (KEYRING, &made.sealed_keyring),
            (CONFIG, &config),
        ])?;
        Ok(Initialized {
            keys: made.recovery_keys,
            keyring: made.keyring,
        })
    }

    /// The keys of a new seal: a root key sealed under a new key split into
    /// `shares` (`what`: `secret` or `recovery`, for messages), and a keyring
    /// sealed under the root key. Refused if already initialised.
    fn make_keys(&self, shares: u8, threshold: u8, what: &str) -> Result<PreparedInit, ApiError> {
        if self.config()?.is_some() {
            return Err(ApiError::bad("Vault is already initialized"));
        }
        if shares == 0 {
            return Err(ApiError::bad(format!("{what}_shares must be at least 1")));
        }
        if threshold == 0 || threshold > shares {
            return Err(ApiError::bad(format!(
                "{what}_threshold must be at least 1 and at most {what}_shares"
            )));
        }
        if shares > 1 && threshold == 1 {
            return Err(ApiError::bad(format!(
                "{what}_threshold must be greater than one for multiple shares"
            )));
        }
        let unseal_key = Zeroizing::new(rand::random::<[u8; 32]>());
        let root_key = Zeroizing::new(rand::random::<[u8; 32]>());
        let keyring = Keyring::generate(now());
        let sealed_root = seal_with(&unseal_key, ROOT_KEY_AAD, root_key.as_slice())
            .map_err(ApiError::internal)?;
        let sealed_keyring =
            seal_with(&root_key, KEYRING_AAD, &keyring.to_bytes()).map_err(ApiError::internal)?;
        let keys = if shares == 1 {
            vec![Zeroizing::new(unseal_key.to_vec())]
        } else {
            shamir::split(unseal_key.as_slice(), shares, threshold)
                .map_err(ApiError::internal)?
                .into_iter()
                .map(Zeroizing::new)
                .collect()
        };
        Ok(PreparedInit {
            recovery_keys: keys,
            root_key,
            keyring,
            sealed_root,
            sealed_keyring,
            config: SealConfig {
                secret_shares: 0,
                secret_threshold: 0,
                seal_type: self.configured_type(),
                recovery_shares: shares,
                recovery_threshold: threshold,
            },
        })
    }

    /// An auto seal's `sys/init`, first half: the keys, with the root key
    /// sealed under a recovery key split into `shares`. The caller has the
    /// device wrap [`PreparedInit::root_key`], then calls
    /// [`Seal::commit_init`].
    pub fn prepare_init(&self, shares: u8, threshold: u8) -> Result<PreparedInit, ApiError> {
        let _guard = self.lock.lock().map_err(|_| poisoned())?;
        if self.auto.is_none() {
            return Err(ApiError::internal("no auto seal is configured"));
        }
        self.make_keys(shares, threshold, "recovery")
    }

    /// An auto seal's `sys/init`, second half: stores everything, with the
    /// root key as the device wrapped it, in one transaction. Gives the
    /// recovery keys and the keyring.
    pub fn commit_init(
        &self,
        prepared: PreparedInit,
        wrapped_root: &[u8],
    ) -> Result<Initialized, ApiError> {
        let _guard = self.lock.lock().map_err(|_| poisoned())?;
        if self.config()?.is_some() {
            return Err(ApiError::bad("Vault is already initialized"));
        }
        let config = serde_json::to_vec(&prepared.config).map_err(ApiError::internal)?;
        self.storage.seal_write(&[
            (ROOT_KEY, &prepared.sealed_root),
            (AUTO_ROOT_KEY, wrapped_root),
            (KEYRING, &prepared.sealed_keyring),
            (CONFIG, &config),
        ])?;
        Ok(Initialized {
            keys: prepared.recovery_keys,
            keyring: prepared.keyring,
        })
    }

    /// The root key as the auto seal's device wrapped it.
    pub fn wrapped_root(&self) -> Result<Vec<u8>, ApiError> {
        self.storage
            .seal_get(AUTO_ROOT_KEY)?
            .ok_or_else(|| ApiError::internal("the stored auto-unseal root key is missing"))
    }

    /// Opens the keyring with a root key the device gave back (auto-unseal).
    pub fn unseal_with_root(&self, root: &[u8]) -> Result<Keyring, ApiError> {
        let _guard = self.lock.lock().map_err(|_| poisoned())?;
        let root_key: Zeroizing<[u8; 32]> = Zeroizing::new(root.try_into().map_err(|_| {
            ApiError::internal("the seal's device gave a root key of the wrong length")
        })?);
        let keyring = self.open_keyring(&root_key)?;
        *self.root_key.lock().map_err(|_| poisoned())? = Some(root_key);
        Ok(keyring)
    }

    /// Stores the root key the way the configured seal wants it (`wrapped`
    /// by its device for an auto seal; none for Shamir) and opens the
    /// keyring: the end of a migration.
    pub fn commit_migration(
        &self,
        migration: Migration,
        wrapped: Option<&[u8]>,
    ) -> Result<Keyring, ApiError> {
        let _guard = self.lock.lock().map_err(|_| poisoned())?;
        let config = serde_json::to_vec(&migration.config).map_err(ApiError::internal)?;
        match wrapped {
            Some(wrapped) => self
                .storage
                .seal_write(&[(AUTO_ROOT_KEY, wrapped), (CONFIG, &config)])?,
            None => self
                .storage
                .seal_update(&[(CONFIG, &config)], &[AUTO_ROOT_KEY])?,
        }
        let keyring = self.open_keyring(&migration.root_key)?;
        *self.root_key.lock().map_err(|_| poisoned())? = Some(migration.root_key);
        tracing::info!("the seal migrated to {}", migration.config.seal_type.name());
        Ok(keyring)
    }

    /// `sys/unseal` with `reset`: forgets submitted shares.
    pub fn reset(&self) -> Result<(), ApiError> {
        *self.progress.lock().map_err(|_| poisoned())? = Progress::default();
        Ok(())
    }

    /// `sys/unseal` with a `key` (hex or base64). A share already submitted
    /// is ignored, as Vault does.
    pub fn submit(&self, key: &str) -> Result<Submitted, ApiError> {
        self.submit_for(key, false)
    }

    /// [`Seal::submit`], with `migrate` (Vault's `sys/unseal` field) for a
    /// migration between the stored seal and the configured one.
    pub fn submit_for(&self, key: &str, migrate: bool) -> Result<Submitted, ApiError> {
        let share = decode_share(key)?;
        let _guard = self.lock.lock().map_err(|_| poisoned())?;
        let config = self
            .config()?
            .ok_or_else(|| ApiError::bad("Vault is not initialized"))?;
        let (stored, configured) = (config.seal_type, self.configured_type());
        if stored == configured && stored != SealType::Shamir {
            return Err(ApiError::bad(format!(
                "this server unseals itself with its {} seal: recovery keys do not unseal it",
                stored.name()
            )));
        }
        if stored != configured && !migrate {
            return Err(ApiError::bad(format!(
                "the seal is migrating from {} to {}: submit the {} keys with migrate=true",
                stored.name(),
                configured.name(),
                if stored == SealType::Shamir {
                    "unseal"
                } else {
                    "recovery"
                }
            )));
        }
        if stored == configured && migrate {
            return Err(ApiError::bad(
                "no seal migration is configured: migrate applies only when the seal stanza changed",
            ));
        }
        let (_, threshold) = config.shares();
        let shares = {
            let mut progress = self.progress.lock().map_err(|_| poisoned())?;
            if !progress
                .shares
                .iter()
                .any(|s| s.as_slice() == share.as_slice())
            {
                progress.shares.push(share);
            }
            if progress.nonce.is_empty() {
                progress.nonce = uuid::Uuid::new_v4().to_string();
            }
            if progress.shares.len() < usize::from(threshold) {
                return Ok(Submitted::Progress);
            }
            std::mem::take(&mut *progress).shares
        };
        // Progress is reset whatever happens next: a failed attempt starts
        // over cleanly, as in Vault.
        let root_key = self.open_root(shares, threshold)?;
        if stored != configured {
            let (shares, threshold) = config.shares();
            let config = if configured == SealType::Shamir {
                SealConfig {
                    secret_shares: shares,
                    secret_threshold: threshold,
                    seal_type: SealType::Shamir,
                    recovery_shares: 0,
                    recovery_threshold: 0,
                }
            } else {
                SealConfig {
                    secret_shares: 0,
                    secret_threshold: 0,
                    seal_type: configured,
                    recovery_shares: shares,
                    recovery_threshold: threshold,
                }
            };
            // Check the keyring opens before anything changes.
            self.open_keyring(&root_key)?;
            return Ok(Submitted::Migrate(Migration { root_key, config }));
        }
        let keyring = self.open_keyring(&root_key)?;
        *self.root_key.lock().map_err(|_| poisoned())? = Some(root_key);
        Ok(Submitted::Unsealed(keyring))
    }

    /// The root key the `shares` (unseal or recovery shares, `threshold`
    /// of them) open; a 400 if they do not.
    fn open_root(
        &self,
        shares: Vec<Zeroizing<Vec<u8>>>,
        threshold: u8,
    ) -> Result<Zeroizing<[u8; 32]>, ApiError> {
        let key = if threshold == 1 {
            shares
                .into_iter()
                .next()
                .ok_or_else(|| ApiError::internal("no share"))?
        } else {
            shamir::combine(&shares.iter().map(|s| s.to_vec()).collect::<Vec<_>>())
                .map_err(|e| ApiError::bad(format!("invalid key: {e}")))?
        };
        let key: Zeroizing<[u8; 32]> = Zeroizing::new(
            key.as_slice()
                .try_into()
                .map_err(|_| ApiError::bad("invalid key: the shares do not combine to a key"))?,
        );
        let stored_root = self
            .storage
            .seal_get(ROOT_KEY)?
            .ok_or_else(|| ApiError::internal("the stored root key is missing"))?;
        let root = open_with(&key, ROOT_KEY_AAD, &stored_root).map_err(|e| {
            ApiError::bad(format!(
                "unable to retrieve stored keys: invalid key: failed to decrypt keys from storage: {e}"
            ))
        })?;
        Ok(Zeroizing::new(root.as_slice().try_into().map_err(
            |_| ApiError::internal("the stored root key has the wrong length"),
        )?))
    }

    /// How many shares open the root key now (unseal shares, or an auto
    /// seal's recovery shares); an error before init.
    pub fn threshold(&self) -> Result<u8, ApiError> {
        let config = self
            .config()?
            .ok_or_else(|| ApiError::bad("Vault is not initialized"))?;
        Ok(config.shares().1)
    }

    /// Whether `shares` (as submitted: hex or base64) open the root key:
    /// the proof `sys/generate-root` asks for.
    pub fn check_shares(&self, shares: &[String]) -> Result<(), ApiError> {
        let threshold = self.threshold()?;
        let decoded = shares
            .iter()
            .map(|s| decode_share(s))
            .collect::<Result<Vec<_>, _>>()?;
        self.open_root(decoded, threshold).map(|_| ())
    }

    fn open_keyring(&self, root_key: &[u8; 32]) -> Result<Keyring, ApiError> {
        let stored = self
            .storage
            .seal_get(KEYRING)?
            .ok_or_else(|| ApiError::internal("the stored keyring is missing"))?;
        let bytes = open_with(root_key, KEYRING_AAD, &stored)
            .map_err(|e| ApiError::internal(format!("the stored keyring does not open: {e}")))?;
        Keyring::from_bytes(&bytes).map_err(ApiError::internal)
    }

    /// Forgets the root key and any unseal progress (on seal).
    pub fn forget(&self) {
        if let Ok(mut k) = self.root_key.lock() {
            *k = None;
        }
        if let Ok(mut p) = self.progress.lock() {
            *p = Progress::default();
        }
    }

    /// `sys/rotate`: a new barrier term, stored; returns the new keyring for
    /// storage to use. Old terms stay, so old values still open.
    pub fn rotate(&self, current: &Keyring) -> Result<Keyring, ApiError> {
        let _guard = self.lock.lock().map_err(|_| poisoned())?;
        let root = self.root_key.lock().map_err(|_| poisoned())?;
        let root = root.as_ref().ok_or_else(ApiError::sealed)?;
        let next = current.rotated(now());
        let sealed = seal_with(root, KEYRING_AAD, &next.to_bytes()).map_err(ApiError::internal)?;
        self.storage.seal_write(&[(KEYRING, &sealed)])?;
        Ok(next)
    }
}

/// A submitted share: hex first, then base64, 16 to 33 bytes (Vault's
/// rules and messages).
fn decode_share(key: &str) -> Result<Zeroizing<Vec<u8>>, ApiError> {
    let bytes = hex::decode(key)
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(key))
        .map_err(|_| ApiError::bad("'key' must be a valid hex or base64 string"))?;
    let bytes = Zeroizing::new(bytes);
    if bytes.len() < 16 {
        return Err(ApiError::bad(
            "invalid key: key is shorter than minimum 16 bytes",
        ));
    }
    if bytes.len() > 33 {
        return Err(ApiError::bad(
            "invalid key: key is longer than maximum 33 bytes",
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn seal() -> (tempfile::TempDir, Seal) {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(&dir.path().join("c.redb")).unwrap();
        (dir, Seal::new(storage))
    }

    fn unsealed(s: Submitted) -> Keyring {
        match s {
            Submitted::Unsealed(k) => k,
            Submitted::Progress => panic!("still sealed"),
            Submitted::Migrate(_) => panic!("migrating"),
        }
    }

    #[test]
    fn threshold_of_shares_unseals_and_fewer_do_not() {
        let (_d, seal) = seal();
        let init = seal.init(5, 3).unwrap();
        let probe = init.keyring.seal(b"k", b"v").unwrap();
        let keys: Vec<String> = init
            .keys
            .iter()
            .map(|k| hex::encode(k.as_slice()))
            .collect();
        assert!(matches!(
            seal.submit(&keys[4]).unwrap(),
            Submitted::Progress
        ));
        assert!(matches!(
            seal.submit(&keys[4]).unwrap(),
            Submitted::Progress
        ));
        assert_eq!(seal.status().unwrap().progress, 1);
        assert!(matches!(
            seal.submit(&keys[0]).unwrap(),
            Submitted::Progress
        ));
        let ring = unsealed(seal.submit(&keys[2]).unwrap());
        assert_eq!(ring.open(b"k", &probe).unwrap(), b"v");
        assert_eq!(seal.status().unwrap().progress, 0);
    }

    #[test]
    fn a_wrong_share_is_refused_and_progress_starts_over() {
        let (_d, seal) = seal();
        let init = seal.init(3, 2).unwrap();
        let keys: Vec<String> = init
            .keys
            .iter()
            .map(|k| hex::encode(k.as_slice()))
            .collect();
        seal.submit(&keys[0]).unwrap();
        let mut wrong = init.keys[1].to_vec();
        wrong[0] ^= 1;
        let e = seal.submit(&hex::encode(&wrong)).err().unwrap();
        assert!(
            e.messages()[0].contains("failed to decrypt"),
            "{:?}",
            e.messages()
        );
        assert_eq!(seal.status().unwrap().progress, 0);
        // Still unsealable with good shares afterwards.
        seal.submit(&keys[1]).unwrap();
        unsealed(seal.submit(&keys[2]).unwrap());
    }

    #[test]
    fn init_twice_is_refused_and_changes_nothing() {
        let (_d, seal) = seal();
        let init = seal.init(1, 1).unwrap();
        let before = seal.storage.seal_get(ROOT_KEY).unwrap();
        assert!(seal.init(1, 1).is_err());
        assert_eq!(seal.storage.seal_get(ROOT_KEY).unwrap(), before);
        let b64 = base64::engine::general_purpose::STANDARD.encode(init.keys[0].as_slice());
        unsealed(seal.submit(&b64).unwrap());
    }

    #[test]
    fn bad_parameters_and_keys_are_refused() {
        let (_d, seal) = seal();
        assert!(seal.init(0, 0).is_err());
        assert!(seal.init(3, 4).is_err());
        assert!(seal.init(3, 1).is_err());
        assert!(seal.config().unwrap().is_none());
        seal.init(3, 2).unwrap();
        assert!(seal.submit("zz").is_err());
        assert!(seal.submit(&hex::encode([1u8; 8])).is_err());
        assert!(seal.submit(&hex::encode([1u8; 40])).is_err());
        assert_eq!(seal.status().unwrap().progress, 0);
    }

    #[test]
    fn rotation_is_stored_and_keeps_old_terms() {
        let (_d, seal) = seal();
        let init = seal.init(1, 1).unwrap();
        let key = hex::encode(init.keys[0].as_slice());
        let ring = unsealed(seal.submit(&key).unwrap());
        let old = ring.seal(b"k", b"old").unwrap();
        let next = seal.rotate(&ring).unwrap();
        assert_eq!(next.active().0, 2);
        seal.forget();
        assert!(seal.rotate(&next).is_err());
        let reopened = unsealed(seal.submit(&key).unwrap());
        assert_eq!(reopened.active().0, 2);
        assert_eq!(reopened.open(b"k", &old).unwrap(), b"old");
    }
}
