//! `storage`: the calling mount's data, through the call's [`CallState`]
//! — the one implementation both contract versions call (0.2's
//! `list-page` is `list` with a start and a bound; `v02/storage.rs`
//! converts at its edge).
//!
//! Answered as a WIT error: a storage failure of the database itself (the
//! engine may report it), and a key over [`MAX_KEY_LEN`] (an
//! `invalid-request`, since keys usually come from client input). Traps: a
//! storage call outside a request (no call state, e.g. from a component's
//! start function or `describe`), or a call whose buffered writes pass
//! [`MAX_WRITE_BYTES`]: the buffer is bounded so an engine cannot hold the
//! host's memory hostage.
//!
//! [`CallState`]: crate::sandbox::CallState

use crate::sandbox::bindings::v01::coffer::engine::storage::Host;
use crate::sandbox::bindings::v01::coffer::engine::types::Error;
use crate::sandbox::host::Fault;
use crate::sandbox::InstanceState;
use crate::storage::{Snapshot, StorageError, WriteSet};

/// The most bytes (keys and values) one call may buffer for writing.
pub const MAX_WRITE_BYTES: usize = 64 << 20;
/// The longest key an engine may use.
pub const MAX_KEY_LEN: usize = 4096;

/// What a storage import answers: a value, a [`Fault`] for the engine, or
/// (outer `Err`) a trap.
pub(crate) type Stored<T> = wasmtime::Result<Result<T, Fault>>;

/// A key over the limit is answered as a WIT error, not a trap: engines
/// usually build keys from client input, so it is the client's mistake.
fn check_key(key: &str) -> Result<(), Fault> {
    if key.len() > MAX_KEY_LEN {
        return Err(Fault::Invalid(format!(
            "path too long: storage keys are limited to {MAX_KEY_LEN} bytes"
        )));
    }
    Ok(())
}

fn failed(e: StorageError) -> Fault {
    Fault::Internal(e.to_string())
}

impl InstanceState {
    pub(crate) fn storage_get(&mut self, key: &str) -> Stored<Option<Vec<u8>>> {
        if let Err(e) = check_key(key) {
            return Ok(Err(e));
        }
        let call = self.call_mut()?;
        if let Some(pending) = call.writes.get(key) {
            return Ok(Ok(pending.clone()));
        }
        call.reads.key(key);
        Ok(call.snapshot.get(key).map_err(failed))
    }

    /// Buffers a write (`None`: a delete).
    pub(crate) fn storage_set(&mut self, key: String, value: Option<Vec<u8>>) -> Stored<()> {
        if let Err(e) = check_key(&key) {
            return Ok(Err(e));
        }
        let call = self.call_mut()?;
        let size = key.len() + value.as_ref().map_or(0, Vec::len);
        call.write_bytes = call.write_bytes.saturating_add(size);
        if call.write_bytes > MAX_WRITE_BYTES {
            wasmtime::bail!(
                "engine buffered more than {MAX_WRITE_BYTES} bytes of writes in one call"
            );
        }
        call.writes.insert(key, value);
        Ok(Ok(()))
    }

    /// At most `limit` entries of the listing of `prefix` (Vault's folded
    /// shape) that sort after `after`, as the snapshot and the call's own
    /// writes make it; see [`list_merged`].
    pub(crate) fn storage_list(
        &mut self,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> Stored<Vec<String>> {
        if let Err(e) = check_key(prefix).and_then(|()| check_key(after)) {
            return Ok(Err(e));
        }
        let call = self.call_mut()?;
        call.reads.prefix(prefix);
        Ok(list_merged(&call.snapshot, &call.writes, prefix, after, limit).map_err(failed))
    }

    /// The generation depends on every key: a call that reads it
    /// conflicts with any commit after its snapshot.
    pub(crate) fn storage_generation(&mut self) -> wasmtime::Result<u64> {
        let call = self.call_mut()?;
        call.reads.everything();
        Ok(call.generation)
    }
}

/// The listing of `prefix` after `after`, at most `limit` entries: the
/// snapshot's entries ([`Snapshot::next_entry`], one range read each) merged
/// in order with the folded keys of the call's own writes. An entry is
/// shown if it exists once the writes apply: a key the call deleted is
/// not, a folder is while one of its keys is (written by the call, or
/// stored and not deleted by it). The work is bounded by `limit` and the
/// call's write buffer, never by the number of stored keys.
fn list_merged(
    snapshot: &Snapshot,
    writes: &WriteSet,
    prefix: &str,
    after: &str,
    limit: usize,
) -> Result<Vec<String>, StorageError> {
    let touched = writes
        .range(prefix.to_string()..)
        .next()
        .is_some_and(|(k, _)| k.starts_with(prefix));
    let mut out = Vec::new();
    let mut cursor = after.to_string();
    while out.len() < limit {
        let stored = snapshot.next_entry(prefix, &cursor)?;
        let pending = if touched {
            next_pending(writes, prefix, &cursor)
        } else {
            None
        };
        let entry = match (stored, pending) {
            (None, None) => break,
            (Some(e), None) if !touched => {
                // Nothing of the call's under the prefix: the snapshot decides.
                out.push(e.clone());
                cursor = e;
                continue;
            }
            (Some(e), None) | (None, Some(e)) => e,
            (Some(a), Some(b)) => a.min(b),
        };
        if exists(snapshot, writes, &format!("{prefix}{entry}"))? {
            out.push(entry.clone());
        }
        cursor = entry;
    }
    Ok(out)
}

/// The first folded entry of the call's writes under `prefix` that sorts
/// after `after` (deletes included; [`exists`] decides).
fn next_pending(writes: &WriteSet, prefix: &str, after: &str) -> Option<String> {
    writes
        .range(format!("{prefix}{after}")..)
        .take_while(|(k, _)| k.starts_with(prefix))
        .filter_map(|(k, _)| k.get(prefix.len()..))
        .map(|rest| match rest.find('/') {
            Some(slash) => rest[..=slash].to_string(),
            None => rest.to_string(),
        })
        .find(|entry| entry.as_str() > after)
}

/// Whether a listed key, or a folder (ending in `/`), exists once the
/// call's writes apply.
fn exists(snapshot: &Snapshot, writes: &WriteSet, key: &str) -> Result<bool, StorageError> {
    if !key.ends_with('/') {
        return match writes.get(key) {
            Some(value) => Ok(value.is_some()),
            None => snapshot.contains(key),
        };
    }
    let mut inside = writes
        .range(key.to_string()..)
        .take_while(|(k, _)| k.starts_with(key));
    if inside.any(|(_, v)| v.is_some()) {
        return Ok(true);
    }
    snapshot.any_key_under(key, |k| matches!(writes.get(k), Some(None)))
}

impl From<Fault> for Error {
    fn from(f: Fault) -> Self {
        match f {
            Fault::Invalid(m) => Error::InvalidRequest(m),
            Fault::Internal(m) => Error::Internal(m),
        }
    }
}

/// Contract 0.1's answer: a [`Fault`] becomes its `error`.
fn v01<T>(r: Stored<T>) -> wasmtime::Result<Result<T, Error>> {
    r.map(|r| r.map_err(Error::from))
}

impl Host for InstanceState {
    fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        v01(self.storage_get(&key))
    }

    fn put(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), Error>> {
        v01(self.storage_set(key, Some(value)))
    }

    fn delete(&mut self, key: String) -> wasmtime::Result<Result<(), Error>> {
        v01(self.storage_set(key, None))
    }

    fn list(&mut self, prefix: String) -> wasmtime::Result<Result<Vec<String>, Error>> {
        v01(self.storage_list(&prefix, "", usize::MAX))
    }

    fn generation(&mut self) -> wasmtime::Result<u64> {
        self.storage_generation()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::seal::Unsealed;
    use crate::storage::barrier::Keyring;
    use crate::storage::{MountPrefix, Storage};

    fn stored(keys: &[&str]) -> (tempfile::TempDir, Storage, Snapshot) {
        let dir = tempfile::tempdir().unwrap();
        let s = Storage::open(&dir.path().join("c.redb")).unwrap();
        let u = Unsealed::for_tests(Keyring::generate(0));
        let prefix = MountPrefix::for_mount("m");
        let mut w = WriteSet::new();
        for k in keys {
            w.insert((*k).to_string(), Some(b"v".to_vec()));
        }
        // Another mount's keys, which must never show.
        let mut other = WriteSet::new();
        other.insert("a/zz".to_string(), Some(b"v".to_vec()));
        s.commit(&u, &MountPrefix::for_mount("l"), &other).unwrap();
        s.commit(&u, &MountPrefix::for_mount("n"), &other).unwrap();
        s.commit(&u, &prefix, &w).unwrap();
        let snap = s.snapshot(&u, prefix).unwrap();
        (dir, s, snap)
    }

    /// The listing computed the slow way, independently: every key after
    /// the writes, folded, sorted, after `after`, cut at `limit`.
    fn expected(
        keys: &[&str],
        writes: &WriteSet,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> Vec<String> {
        let mut all: std::collections::BTreeSet<String> =
            keys.iter().map(|k| k.to_string()).collect();
        for (k, v) in writes {
            match v {
                Some(_) => all.insert(k.clone()),
                None => all.remove(k),
            };
        }
        let folded: std::collections::BTreeSet<String> = all
            .iter()
            .filter_map(|k| k.strip_prefix(prefix))
            .map(|r| match r.find('/') {
                Some(i) => r[..=i].to_string(),
                None => r.to_string(),
            })
            .collect();
        folded
            .into_iter()
            .filter(|e| e.as_str() > after)
            .take(limit)
            .collect()
    }

    #[test]
    fn pages_match_the_whole_listing_with_and_without_writes() {
        let keys = [
            "a",
            "a-b",
            "a/x",
            "a/y/z",
            "a0",
            "b/c",
            "b/d",
            "c",
            "dir/sub/k",
            "dir/k2",
            "z",
        ];
        let (_d, _s, snap) = stored(&keys);
        let mut writes_sets = vec![WriteSet::new()];
        let mut w = WriteSet::new();
        w.insert("b/c".into(), None);
        w.insert("b/d".into(), None); // folder b/ disappears
        w.insert("a/x".into(), None); // folder a/ stays (a/y/z)
        w.insert("c".into(), None);
        w.insert("m/new".into(), Some(b"v".to_vec()));
        w.insert("a1".into(), Some(b"v".to_vec()));
        w.insert("dir/sub/k2".into(), Some(b"v".to_vec()));
        writes_sets.push(w);
        for writes in &writes_sets {
            for prefix in ["", "a/", "dir/", "dir/sub/", "nothing/"] {
                for after in ["", "a", "a-b", "a/", "a/x", "b", "b/", "c", "dir/", "zz"] {
                    for limit in [1, 2, 3, 100] {
                        let got = list_merged(&snap, writes, prefix, after, limit).unwrap();
                        let want = expected(&keys, writes, prefix, after, limit);
                        assert_eq!(got, want, "prefix {prefix:?} after {after:?} limit {limit}");
                    }
                }
            }
        }
    }
}
