//! Where bytes live: one redb file, three tables.
//!
//! - `engine`: every engine's data, keyed `<mount uuid>/<engine key>`. An
//!   engine never builds these keys: [`MountPrefix`] does, from the mount's
//!   uuid, so one mount cannot name another's key.
//! - `system`: the host's own records (mount table, plugin catalog, tokens,
//!   policies, audit devices), keyed by a short path such as `core/mounts`.
//! - `seal`: what must be readable while sealed: the seal configuration and
//!   the keyring, itself encrypted (see `seal/`). Nothing else goes here.
//!
//! **Invariant 4:** every value of `engine` and `system` passes through the
//! [`barrier`] (AES-256-GCM, the storage key as associated data) on its way
//! to and from disk. Storage holds no keyring: every read or write of those
//! tables takes an [`Unsealed`] proof (only `seal::gate` makes one) and
//! uses the keyring it carries, so nothing can reach them while sealed.
//! Keys (paths) stay in clear, as in Vault, so that listing works without
//! decrypting.
//!
//! Engines read through a [`Snapshot`] (one redb read transaction, so a call
//! sees a consistent state) and write through a [`WriteSet`] that is applied
//! in one redb write transaction by [`Storage::commit`], or dropped.
//!
//! This module does not decide *whether* a write set may commit (that is the
//! sandbox's serializability check, see `sandbox::call`); it only applies it
//! atomically.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use redb::{Database, Durability, ReadOnlyTable, ReadableDatabase, TableDefinition};

pub mod barrier;

use crate::seal::Unsealed;

const ENGINE: TableDefinition<&str, &[u8]> = TableDefinition::new("engine");
const SYSTEM: TableDefinition<&str, &[u8]> = TableDefinition::new("system");
const SEAL: TableDefinition<&str, &[u8]> = TableDefinition::new("seal");

/// A storage failure.
#[derive(Debug)]
pub enum StorageError {
    /// The file is unreadable, full, or corrupt, or a value failed to open:
    /// a 500 for the request that met it, never the client's fault.
    Failed(String),
}

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageError::Failed(m) => write!(f, "storage error: {m}"),
        }
    }
}

impl std::error::Error for StorageError {}

fn err(e: impl std::fmt::Display) -> StorageError {
    StorageError::Failed(e.to_string())
}

/// A value that did not open: the key goes to the log, not to the client.
fn opened_badly(key: &str, e: barrier::BarrierError) -> StorageError {
    tracing::error!(key, "a stored value did not open: {e}");
    StorageError::Failed(e.to_string())
}

/// The associated data binding a sealed value to its table and key.
fn aad(table: &str, key: &str) -> Vec<u8> {
    let mut a = Vec::with_capacity(table.len() + 1 + key.len());
    a.extend_from_slice(table.as_bytes());
    a.push(0);
    a.extend_from_slice(key.as_bytes());
    a
}

/// The key prefix of one mount's data: `<uuid>/`. Only built from a mount's
/// uuid, so a guest-supplied string can never become a prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountPrefix(String);

impl MountPrefix {
    /// The prefix for the mount with this uuid.
    pub fn for_mount(uuid: &str) -> Self {
        MountPrefix(format!("{uuid}/"))
    }

    /// The uuid of the mount whose prefix this is.
    pub fn mount_uuid(&self) -> &str {
        self.0.strip_suffix('/').unwrap_or(&self.0)
    }

    fn key(&self, key: &str) -> String {
        format!("{}{}", self.0, key)
    }
}

/// Buffered writes of one call: `Some` puts, `None` deletes.
pub type WriteSet = BTreeMap<String, Option<Vec<u8>>>;

/// The embedded database.
#[derive(Clone)]
pub struct Storage {
    db: Arc<Database>,
    durability: Durability,
}

impl Storage {
    /// Opens (or creates) the redb file at `path`.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let db = Database::create(path)
            .map_err(|e| StorageError::Failed(format!("cannot open {}: {e}", path.display())))?;
        let storage = Storage {
            db: Arc::new(db),
            durability: Durability::Immediate,
        };
        // Create the tables so read transactions can always open them.
        let txn = storage.db.begin_write().map_err(err)?;
        txn.open_table(ENGINE).map_err(err)?;
        txn.open_table(SYSTEM).map_err(err)?;
        txn.open_table(SEAL).map_err(err)?;
        txn.commit().map_err(err)?;
        Ok(storage)
    }

    /// A consistent read view of one mount's data (it keeps the proof, and
    /// so holds the seal open, while it lives).
    pub fn snapshot(
        &self,
        unsealed: &Unsealed,
        prefix: MountPrefix,
    ) -> Result<Snapshot, StorageError> {
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(ENGINE).map_err(err)?;
        Ok(Snapshot {
            table,
            prefix,
            unsealed: unsealed.clone(),
        })
    }

    /// Applies `writes` to the mount's data in one transaction: all or none.
    /// Blocking (it may wait for the file to sync): call it off the async
    /// workers.
    pub fn commit(
        &self,
        unsealed: &Unsealed,
        prefix: &MountPrefix,
        writes: &WriteSet,
    ) -> Result<(), StorageError> {
        let keyring = unsealed.keyring();
        let mut txn = self.db.begin_write().map_err(err)?;
        txn.set_durability(self.durability).map_err(err)?;
        {
            let mut table = txn.open_table(ENGINE).map_err(err)?;
            for (key, value) in writes {
                let full = prefix.key(key);
                match value {
                    Some(v) => {
                        let sealed = keyring.seal(&aad("engine", &full), v).map_err(err)?;
                        table
                            .insert(full.as_str(), sealed.as_slice())
                            .map_err(err)?;
                    }
                    None => {
                        table.remove(full.as_str()).map_err(err)?;
                    }
                }
            }
        }
        txn.commit().map_err(err)
    }

    /// Removes every key of a mount (on unmount). Blocking.
    pub fn delete_mount_data(
        &self,
        _unsealed: &Unsealed,
        prefix: &MountPrefix,
    ) -> Result<(), StorageError> {
        let mut txn = self.db.begin_write().map_err(err)?;
        txn.set_durability(self.durability).map_err(err)?;
        {
            let mut table = txn.open_table(ENGINE).map_err(err)?;
            let (start, end) = prefix_range(&prefix.0);
            table
                .retain_in(start.as_str()..end.as_str(), |_, _| false)
                .map_err(err)?;
        }
        txn.commit().map_err(err)
    }

    /// A host record.
    pub fn system_get(
        &self,
        unsealed: &Unsealed,
        key: &str,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        let keyring = unsealed.keyring();
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(SYSTEM).map_err(err)?;
        let value = table.get(key).map_err(err)?;
        match value {
            Some(v) => {
                Ok(Some(keyring.open(&aad("system", key), v.value()).map_err(
                    |e| StorageError::Failed(format!("{key}: {e}")),
                )?))
            }
            None => Ok(None),
        }
    }

    /// Sets (`Some`) or removes (`None`) host records, all in one transaction.
    pub fn system_write(
        &self,
        unsealed: &Unsealed,
        writes: &[(&str, Option<&[u8]>)],
    ) -> Result<(), StorageError> {
        let keyring = unsealed.keyring();
        let mut txn = self.db.begin_write().map_err(err)?;
        txn.set_durability(self.durability).map_err(err)?;
        {
            let mut table = txn.open_table(SYSTEM).map_err(err)?;
            for (key, value) in writes {
                match value {
                    Some(v) => {
                        let sealed = keyring.seal(&aad("system", key), v).map_err(err)?;
                        table.insert(*key, sealed.as_slice()).map_err(err)?;
                    }
                    None => {
                        table.remove(*key).map_err(err)?;
                    }
                }
            }
        }
        txn.commit().map_err(err)
    }

    /// Host record keys that start with `prefix`, with the prefix removed.
    pub fn system_list(
        &self,
        _unsealed: &Unsealed,
        prefix: &str,
    ) -> Result<Vec<String>, StorageError> {
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(SYSTEM).map_err(err)?;
        let (start, end) = prefix_range(prefix);
        let mut keys = Vec::new();
        for entry in table.range(start.as_str()..end.as_str()).map_err(err)? {
            let (k, _) = entry.map_err(err)?;
            if let Some(rest) = k.value().strip_prefix(prefix) {
                keys.push(rest.to_string());
            }
        }
        Ok(keys)
    }
}

impl Storage {
    /// A record of the `seal` table, as stored (not through the barrier:
    /// callers store only what is safe in clear or already encrypted).
    pub fn seal_get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(SEAL).map_err(err)?;
        let value = table.get(key).map_err(err)?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    /// Writes `seal` records, all in one transaction.
    pub fn seal_write(&self, writes: &[(&str, &[u8])]) -> Result<(), StorageError> {
        self.seal_update(writes, &[])
    }

    /// Writes `seal` records and removes others, all in one transaction.
    pub fn seal_update(
        &self,
        writes: &[(&str, &[u8])],
        removes: &[&str],
    ) -> Result<(), StorageError> {
        let mut txn = self.db.begin_write().map_err(err)?;
        txn.set_durability(self.durability).map_err(err)?;
        {
            let mut table = txn.open_table(SEAL).map_err(err)?;
            for (key, value) in writes {
                table.insert(*key, *value).map_err(err)?;
            }
            for key in removes {
                table.remove(*key).map_err(err)?;
            }
        }
        txn.commit().map_err(err)
    }
}

/// One mount's data as of the moment the snapshot was taken.
pub struct Snapshot {
    table: ReadOnlyTable<&'static str, &'static [u8]>,
    prefix: MountPrefix,
    unsealed: Unsealed,
}

impl Snapshot {
    /// The value at `key` (relative to the mount).
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let full = self.prefix.key(key);
        let value = self.table.get(full.as_str()).map_err(err)?;
        match value {
            Some(v) => Ok(Some(
                self.unsealed
                    .keyring()
                    .open(&aad("engine", &full), v.value())
                    .map_err(|e| opened_badly(&full, e))?,
            )),
            None => Ok(None),
        }
    }

    /// Whether `key` (relative to the mount) holds a value; nothing is
    /// decrypted.
    pub fn contains(&self, key: &str) -> Result<bool, StorageError> {
        let full = self.prefix.key(key);
        Ok(self.table.get(full.as_str()).map_err(err)?.is_some())
    }

    /// Whether some key under `folder` (relative to the mount, ending in
    /// `/`) is not `gone`; reads keys in order until the first such one.
    pub fn any_key_under(
        &self,
        folder: &str,
        gone: impl Fn(&str) -> bool,
    ) -> Result<bool, StorageError> {
        let full = self.prefix.key(folder);
        let (start, end) = prefix_range(&full);
        let strip = self.prefix.0.len();
        for entry in self
            .table
            .range(start.as_str()..end.as_str())
            .map_err(err)?
        {
            let (k, _) = entry.map_err(err)?;
            if let Some(rest) = k.value().get(strip..) {
                if !gone(rest) {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// The first entry of [`Self::list`]`(prefix)` that sorts after `after`
    /// (an empty `after`: the first entry), found with a range read or two
    /// (one more per folder that sorts at or before `after`), never by
    /// reading the entries before it. Folding keeps the keys' order: a
    /// folder `b/` sorts where its keys do.
    pub fn next_entry(&self, prefix: &str, after: &str) -> Result<Option<String>, StorageError> {
        let full = self.prefix.key(prefix);
        let (_, end) = prefix_range(&full);
        let mut start = format!("{full}{after}");
        loop {
            let next = {
                let mut range = self
                    .table
                    .range(start.as_str()..end.as_str())
                    .map_err(err)?;
                match range.next() {
                    None => None,
                    Some(entry) => {
                        let (k, _) = entry.map_err(err)?;
                        Some(k.value().to_string())
                    }
                }
            };
            let Some(key) = next else { return Ok(None) };
            let Some(rest) = key.strip_prefix(full.as_str()) else {
                return Ok(None);
            };
            let (entry, skip) = match rest.find('/') {
                // '0' follows '/': past every key inside the folder.
                Some(slash) => (&rest[..=slash], format!("{full}{}0", &rest[..slash])),
                None => (rest, format!("{key}\u{0}")),
            };
            if entry > after {
                return Ok(Some(entry.to_string()));
            }
            start = skip;
        }
    }

    /// The keys directly under `prefix`, folded Vault's way: `a/b` listed
    /// under `""` is `a/`. Skips over folders instead of reading them whole
    /// ([`Self::next_entry`] after each entry).
    pub fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let mut out: Vec<String> = Vec::new();
        while let Some(entry) = self.next_entry(prefix, out.last().map_or("", String::as_str))? {
            out.push(entry);
        }
        Ok(out)
    }
}

/// The half-open key range of every string starting with `prefix`.
fn prefix_range(prefix: &str) -> (String, String) {
    (prefix.to_string(), format!("{prefix}\u{10FFFF}"))
}

/// Folds full keys (relative to the list prefix) into Vault's one-level
/// listing: sorted, folders once with a trailing slash.
pub fn fold_listing<'a>(keys: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut set = std::collections::BTreeSet::new();
    for key in keys {
        match key.find('/') {
            Some(slash) => set.insert(key[..=slash].to_string()),
            None => set.insert(key.to_string()),
        };
    }
    set.into_iter().collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    use crate::storage::barrier::Keyring;

    fn storage() -> (tempfile::TempDir, Storage, Unsealed) {
        let dir = tempfile::tempdir().unwrap();
        let s = Storage::open(&dir.path().join("c.redb")).unwrap();
        (dir, s, Unsealed::for_tests(Keyring::generate(0)))
    }

    #[test]
    fn the_seal_table_needs_no_proof() {
        // It is how the seal opens; the other tables cannot be named
        // without an `Unsealed` (a compile-time check).
        let (_d, s, _u) = storage();
        s.seal_write(&[("config", b"{}")]).unwrap();
        assert_eq!(s.seal_get("config").unwrap(), Some(b"{}".to_vec()));
    }

    #[test]
    fn the_file_holds_no_plaintext_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.redb");
        {
            let s = Storage::open(&path).unwrap();
            let u = Unsealed::for_tests(Keyring::generate(0));
            let mut w = WriteSet::new();
            w.insert("k".into(), Some(b"engine-secret-4242".to_vec()));
            s.commit(&u, &MountPrefix::for_mount("m"), &w).unwrap();
            s.system_write(&u, &[("core/x", Some(b"system-secret-4242"))])
                .unwrap();
        }
        let raw = std::fs::read(&path).unwrap();
        for needle in [&b"engine-secret-4242"[..], b"system-secret-4242"] {
            assert!(!raw.windows(needle.len()).any(|w| w == needle));
        }
    }

    #[test]
    fn a_value_moved_to_another_key_does_not_open() {
        let (_d, s, u) = storage();
        s.system_write(&u, &[("a", Some(b"v"))]).unwrap();
        let sealed = {
            let txn = s.db.begin_read().unwrap();
            let t = txn.open_table(SYSTEM).unwrap();
            let v = t.get("a").unwrap().unwrap().value().to_vec();
            v
        };
        {
            let txn = s.db.begin_write().unwrap();
            txn.open_table(SYSTEM)
                .unwrap()
                .insert("b", sealed.as_slice())
                .unwrap();
            txn.commit().unwrap();
        }
        assert!(matches!(
            s.system_get(&u, "b"),
            Err(StorageError::Failed(_))
        ));
    }

    #[test]
    fn mounts_do_not_see_each_other() {
        let (_d, s, u) = storage();
        let a = MountPrefix::for_mount("aaaa");
        let b = MountPrefix::for_mount("bbbb");
        let mut w = WriteSet::new();
        w.insert("k".into(), Some(b"1".to_vec()));
        s.commit(&u, &a, &w).unwrap();
        assert_eq!(
            s.snapshot(&u, a.clone()).unwrap().get("k").unwrap(),
            Some(b"1".to_vec())
        );
        assert_eq!(s.snapshot(&u, b.clone()).unwrap().get("k").unwrap(), None);
        assert!(s.snapshot(&u, b).unwrap().list("").unwrap().is_empty());
    }

    #[test]
    fn list_folds_folders_and_skips_their_contents() {
        let (_d, s, u) = storage();
        let p = MountPrefix::for_mount("m");
        let mut w = WriteSet::new();
        for k in ["a", "b/c", "b/d/e", "b0", "c/x", "c/y"] {
            w.insert(k.into(), Some(vec![1]));
        }
        s.commit(&u, &p, &w).unwrap();
        let snap = s.snapshot(&u, p.clone()).unwrap();
        assert_eq!(snap.list("").unwrap(), vec!["a", "b/", "b0", "c/"]);
        assert_eq!(snap.list("b/").unwrap(), vec!["c", "d/"]);
        assert!(snap.list("zz/").unwrap().is_empty());
        s.delete_mount_data(&u, &p).unwrap();
        assert!(s.snapshot(&u, p).unwrap().list("").unwrap().is_empty());
    }

    #[test]
    fn snapshot_does_not_see_later_commits() {
        let (_d, s, u) = storage();
        let p = MountPrefix::for_mount("m");
        let snap = s.snapshot(&u, p.clone()).unwrap();
        let mut w = WriteSet::new();
        w.insert("k".into(), Some(vec![1]));
        s.commit(&u, &p, &w).unwrap();
        assert_eq!(snap.get("k").unwrap(), None);
    }
}
