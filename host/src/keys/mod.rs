//! The host's key service for contract 0.2 engines: which key seals a
//! mount's key blobs ([`MountKeys`]), and the seam managed keys come
//! through ([`managed`]).
//!
//! A mount's sealing key is derived, never stored: one random 32-byte
//! **blob root** is kept in the barrier-protected `system` table
//! ([`ROOT_KEY`], made on first use) and a mount's key is
//! HKDF-SHA-256(root, no salt, info = `coffer key blob v1` ‖ the mount's
//! uuid). The uuid survives remounts, so a remounted engine's blobs still
//! open; another mount's uuid gives another key, so a blob copied there
//! does not (`coffer_crypto::KeySealer`, whose module documents the blob).
//!
//! The root and the sealers made from it live in memory only while the
//! server is unsealed: reaching them takes an [`Unsealed`] proof, and
//! [`MountKeys::forget`] (called by `Mounts::retire_all` at seal) drops
//! them, wiping the root.
//!
//! What each `keys.wit` function calls (the sandbox converts at the edge;
//! names parse with `from_name`/`parse`, each unknown one an error naming
//! it):
//! - `generate`: `KeyKind::parse(type, size)`, `Permissions::parse`,
//!   `SoftwareKey::generate` (a pair's cost: `cost_of(.., Generate, 0)`);
//!   `import`: `KeyKind::of_import`, `SoftwareKey::import`; `unwrap`:
//!   `byok_unwrap`; `managed`: [`managed::open_for_mount`].
//! - `open`: [`MountKeys::sealer_for`], `KeySealer::unseal`, then
//!   `OpenedBlob::into_key` where `OpenedBlob::cost` says; `seal`:
//!   `KeySealer::seal` (a managed key has no blob: refused).
//! - `key-type`, `permissions`, `permit`, `derive`, `hmac`,
//!   `encrypt-batch`, `decrypt-batch`, `backup`: `SoftwareKey`'s methods of
//!   those names (`kind().name()`, `permissions().names()`); `wrap-for`:
//!   `byok_wrap(destination, self, hash)`; `size`: `kind().bits()`.
//! - `public-key`, `sign`, `verify`, `encrypt`/`decrypt` (`Cipher::Aead`),
//!   `decrypt-oaep` (`Cipher::Oaep`), `export`: the `KeyHandle` trait, for
//!   software and managed keys alike.
//! - A managed key has no blob and no permissions: `seal`, `derive`,
//!   `hmac` and `unwrap` with it are refused, `permit`, `export`, `backup`
//!   and `wrap-for` of it are `permission-denied`; its batches go item by
//!   item through its handle.
//!
//! With coffer-host's `test-managed-keys` feature (tests only), the
//! end-to-end tests' backend `test_backend` is compiled in from
//! `tests/support/managed_keys.rs`.
//!
//! **Invariant:** a sealer exists only for a mount uuid, from the stored
//! root; nothing outside this module sees the root or a sealing key's
//! bytes.

pub mod managed;
#[cfg(feature = "test-managed-keys")]
#[path = "../../../tests/support/managed_keys.rs"]
pub mod test_backend;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use zeroize::Zeroizing;

use crate::api::ApiError;
use crate::crypto::{hkdf, random_bytes, HashAlgorithm, KeySealer};
use crate::seal::Unsealed;
use crate::storage::Storage;

/// Where the blob root is stored (in the `system` table, so under the
/// barrier).
pub const ROOT_KEY: &str = "core/keys/blob-root";

/// What the info of a mount's HKDF starts with; the mount's uuid follows.
const INFO_PREFIX: &[u8] = b"coffer key blob v1";

/// The mounts' sealing keys (see the module's doc).
pub struct MountKeys {
    storage: Storage,
    /// The root and the sealers made from it, while unsealed. One lock, so
    /// that two first uses cannot make two roots.
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    root: Option<Zeroizing<[u8; 32]>>,
    sealers: HashMap<String, Arc<KeySealer>>,
}

impl MountKeys {
    /// The service over `storage`; it reads nothing until first used.
    pub fn new(storage: Storage) -> Self {
        Self {
            storage,
            state: Mutex::new(State::default()),
        }
    }

    /// The sealer of the mount whose uuid is `mount_uuid`: made once, then
    /// kept until [`MountKeys::forget`]. The first call after unseal reads
    /// the root (or, on a server that never had one, makes and stores it).
    pub fn sealer_for(
        &self,
        unsealed: &Unsealed,
        mount_uuid: &str,
    ) -> Result<Arc<KeySealer>, ApiError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| ApiError::internal("the key service's lock is poisoned"))?;
        if let Some(sealer) = state.sealers.get(mount_uuid) {
            return Ok(Arc::clone(sealer));
        }
        let root = match &state.root {
            Some(root) => root.clone(),
            None => {
                let root = self.load_root(unsealed)?;
                state.root = Some(root.clone());
                root
            }
        };
        let sealer = Arc::new(KeySealer::new(&mount_key(&root, mount_uuid)?));
        state
            .sealers
            .insert(mount_uuid.to_owned(), Arc::clone(&sealer));
        Ok(sealer)
    }

    /// Forgets the root and every sealer (at seal); the next
    /// [`MountKeys::sealer_for`] reads the root again.
    pub fn forget(&self) {
        // A poisoned lock still holds the state: clear it all the same.
        let mut state = match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        *state = State::default();
    }

    /// The stored root, or a new one stored now.
    fn load_root(&self, unsealed: &Unsealed) -> Result<Zeroizing<[u8; 32]>, ApiError> {
        if let Some(stored) = self.storage.system_get(unsealed, ROOT_KEY)? {
            let stored = Zeroizing::new(stored);
            let root: [u8; 32] = stored
                .as_slice()
                .try_into()
                .map_err(|_| ApiError::internal("the stored key blob root is corrupt"))?;
            return Ok(Zeroizing::new(root));
        }
        let fresh = Zeroizing::new(random_bytes(32).map_err(ApiError::internal)?);
        let root: [u8; 32] = fresh
            .as_slice()
            .try_into()
            .map_err(|_| ApiError::internal("the random generator gave a short key"))?;
        self.storage
            .system_write(unsealed, &[(ROOT_KEY, Some(fresh.as_slice()))])?;
        Ok(Zeroizing::new(root))
    }
}

/// A mount's sealing key: HKDF-SHA-256(root, no salt, info =
/// [`INFO_PREFIX`] ‖ uuid), 32 bytes.
fn mount_key(root: &[u8; 32], mount_uuid: &str) -> Result<Zeroizing<[u8; 32]>, ApiError> {
    let mut info = Vec::with_capacity(INFO_PREFIX.len() + mount_uuid.len());
    info.extend_from_slice(INFO_PREFIX);
    info.extend_from_slice(mount_uuid.as_bytes());
    let okm = Zeroizing::new(
        hkdf(HashAlgorithm::Sha256, root, &[], &info, 32).map_err(ApiError::internal)?,
    );
    let key: [u8; 32] = okm
        .as_slice()
        .try_into()
        .map_err(|_| ApiError::internal("HKDF gave a short sealing key"))?;
    Ok(Zeroizing::new(key))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    use crate::crypto::{KeyHandle, KeyKind, Permission, PrivateKeyFormat, SoftwareKey};
    use crate::storage::barrier::Keyring;

    const UUID: &str = "6f1c9a2e-3b4d-4e5f-8a7b-9c0d1e2f3a4b";

    fn storage() -> (tempfile::TempDir, Storage, Unsealed) {
        let dir = tempfile::tempdir().unwrap();
        let s = Storage::open(&dir.path().join("c.redb")).unwrap();
        (dir, s, Unsealed::for_tests(Keyring::generate(0)))
    }

    fn key() -> Arc<SoftwareKey> {
        SoftwareKey::generate(KeyKind::Hmac(32), Permission::Export.into()).unwrap()
    }

    fn raw(key: &SoftwareKey) -> Vec<u8> {
        key.export(PrivateKeyFormat::Raw).unwrap()
    }

    #[test]
    fn a_mounts_key_is_hkdf_of_the_stored_root_and_its_uuid() {
        let (_dir, storage, u) = storage();
        let root: Vec<u8> = (0..32).collect();
        storage
            .system_write(&u, &[(ROOT_KEY, Some(root.as_slice()))])
            .unwrap();
        let keys = MountKeys::new(storage);
        let blob = keys.sealer_for(&u, UUID).unwrap().seal(&key()).unwrap();
        // Made with Python's `cryptography` 48:
        //   HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
        //        info=b"coffer key blob v1" + UUID).derive(bytes(range(32))).hex()
        let expected: [u8; 32] =
            hex::decode("3e857a444b265d536f96b50461623fb9b90d599a5407d881cb51f538b6853062")
                .unwrap()
                .try_into()
                .unwrap();
        assert!(KeySealer::new(&Zeroizing::new(expected))
            .open(&blob)
            .is_ok());
        let mut other = expected;
        other[0] ^= 1;
        assert!(KeySealer::new(&Zeroizing::new(other)).open(&blob).is_err());
    }

    #[test]
    fn the_root_is_made_once_stored_and_survives_a_seal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.redb");
        let u = Unsealed::for_tests(Keyring::generate(0));
        let key = key();
        let (blob, stored_root) = {
            let storage = Storage::open(&path).unwrap();
            let keys = MountKeys::new(storage.clone());
            assert_eq!(storage.system_get(&u, ROOT_KEY).unwrap(), None);
            let sealer = keys.sealer_for(&u, UUID).unwrap();
            let stored_root = storage.system_get(&u, ROOT_KEY).unwrap().unwrap();
            assert_eq!(stored_root.len(), 32);
            // Cached: the same sealer again, and the root is not remade.
            assert!(Arc::ptr_eq(&sealer, &keys.sealer_for(&u, UUID).unwrap()));
            let blob = sealer.seal(&key).unwrap();
            // After a seal (forget), the root is read back, not remade.
            keys.forget();
            let reopened = keys.sealer_for(&u, UUID).unwrap();
            assert!(!Arc::ptr_eq(&sealer, &reopened));
            assert_eq!(raw(&reopened.open(&blob).unwrap()), raw(&key));
            assert_eq!(
                storage.system_get(&u, ROOT_KEY).unwrap().unwrap(),
                stored_root
            );
            (blob, stored_root)
        };
        // A restarted server (same file, same keyring) opens the blob.
        let storage = Storage::open(&path).unwrap();
        let keys = MountKeys::new(storage.clone());
        let sealer = keys.sealer_for(&u, UUID).unwrap();
        assert_eq!(raw(&sealer.open(&blob).unwrap()), raw(&key));
        assert_eq!(
            storage.system_get(&u, ROOT_KEY).unwrap().unwrap(),
            stored_root
        );
    }

    #[test]
    fn a_blob_opens_only_on_the_mount_that_sealed_it() {
        let (_dir, storage, u) = storage();
        let keys = MountKeys::new(storage);
        let key = key();
        let blob = keys.sealer_for(&u, UUID).unwrap().seal(&key).unwrap();
        let other = keys
            .sealer_for(&u, "0b5a7c9e-1d2f-4a3b-8c4d-5e6f7a8b9c0d")
            .unwrap();
        assert!(other.open(&blob).is_err());
        assert_eq!(
            raw(&keys.sealer_for(&u, UUID).unwrap().open(&blob).unwrap()),
            raw(&key)
        );
        // Another server (another root) opens none of them.
        let (_dir2, storage2, u2) = self::storage();
        let elsewhere = MountKeys::new(storage2).sealer_for(&u2, UUID).unwrap();
        assert!(elsewhere.open(&blob).is_err());
    }

    #[test]
    fn a_corrupt_root_is_an_internal_error_not_a_new_root() {
        let (_dir, storage, u) = storage();
        storage
            .system_write(&u, &[(ROOT_KEY, Some(&[1u8; 31][..]))])
            .unwrap();
        let keys = MountKeys::new(storage.clone());
        let err = keys.sealer_for(&u, UUID).unwrap_err();
        assert_eq!(err.status(), 500);
        assert_eq!(
            storage.system_get(&u, ROOT_KEY).unwrap().unwrap(),
            vec![1u8; 31]
        );
    }

    #[test]
    fn first_uses_racing_make_one_root() {
        let (_dir, storage, u) = storage();
        let keys = Arc::new(MountKeys::new(storage));
        let key = key();
        let blobs: Vec<Vec<u8>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let (keys, u, key) = (Arc::clone(&keys), u.clone(), Arc::clone(&key));
                    s.spawn(move || keys.sealer_for(&u, UUID).unwrap().seal(&key).unwrap())
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        keys.forget();
        let sealer = keys.sealer_for(&u, UUID).unwrap();
        for blob in blobs {
            assert_eq!(raw(&sealer.open(&blob).unwrap()), raw(&key));
        }
    }
}
