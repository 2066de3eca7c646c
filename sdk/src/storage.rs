//! Storage scoped to the engine's mount, behind a trait so that engine logic
//! runs natively over [`MemoryStorage`] in unit tests and over the host's
//! storage in wasm (each contract's glue has its own, in `export/`).

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::Error;

/// The mount's key-value storage. Keys are relative to the mount.
///
/// In wasm, reads see one snapshot per call together with the call's own
/// writes, and writes commit together when the handler returns `Ok`; an
/// `Err` (or a trap) drops them all.
pub trait Storage {
    /// The value at `key`, or `None`.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error>;
    /// Sets `key` to `value`.
    fn put(&mut self, key: &str, value: &[u8]) -> Result<(), Error>;
    /// Removes `key`; removing a missing key is not an error.
    fn delete(&mut self, key: &str) -> Result<(), Error>;
    /// The keys directly under `prefix`, sorted; deeper keys appear once as
    /// a folder with a trailing `/` (`a/b/c` under `a/` is `b/`).
    fn list(&self, prefix: &str) -> Result<Vec<String>, Error>;
    /// A page of [`Storage::list`]: at most `limit` of the entries it would
    /// give that sort after `after` (an empty `after` starts at the first).
    /// On contract 0.2 the host reads only the page; the default (and
    /// contract 0.1) lists everything and cuts. A `limit` of 0 is a 400.
    fn list_page(&self, prefix: &str, after: &str, limit: u32) -> Result<Vec<String>, Error> {
        check_limit(limit)?;
        let all = self.list(prefix)?;
        Ok(page(all.into_iter(), after, limit))
    }
    /// A number that changes whenever a write to this mount commits: a cache
    /// of parsed storage stays valid while it stays the same.
    fn generation(&self) -> u64;
}

/// A `limit` of 0 is a 400, as the host answers it.
pub(crate) fn check_limit(limit: u32) -> Result<(), Error> {
    if limit == 0 {
        return Err(Error::invalid("a list page's limit must be at least 1"));
    }
    Ok(())
}

/// At most `limit` of the sorted `entries` after `after`.
fn page(entries: impl Iterator<Item = String>, after: &str, limit: u32) -> Vec<String> {
    entries
        .filter(|e| after.is_empty() || e.as_str() > after)
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect()
}

/// Typed JSON on top of any [`Storage`] (in the prelude).
pub trait StorageExt: Storage {
    /// The JSON value at `key` decoded as `T`, or `None`. A value that does
    /// not decode is a 500: the engine wrote it.
    fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        match self.get(key)? {
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                Error::Internal(format!("stored value at '{key}' does not decode: {e}"))
            }),
            None => Ok(None),
        }
    }

    /// Stores `value` as JSON at `key`.
    fn put_json<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Error> {
        let bytes = serde_json::to_vec(value)?;
        self.put(key, &bytes)
    }
}

impl<S: Storage + ?Sized> StorageExt for S {}

/// In-memory storage for native tests, listing exactly as the host does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryStorage {
    entries: BTreeMap<String, Vec<u8>>,
    generation: u64,
}

impl MemoryStorage {
    /// Empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every key, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Puts back the entries of `before` (a failed call's rollback) while
    /// keeping the generation moving forward, as the host's never goes
    /// back: a cache validated by generation never sees a number twice.
    pub(crate) fn roll_back_to(&mut self, before: MemoryStorage) {
        let generation = self.generation.max(before.generation) + 1;
        *self = before;
        self.generation = generation;
    }
}

impl Storage for MemoryStorage {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.entries.get(key).cloned())
    }

    fn put(&mut self, key: &str, value: &[u8]) -> Result<(), Error> {
        self.entries.insert(key.to_owned(), value.to_vec());
        self.generation += 1;
        Ok(())
    }

    fn delete(&mut self, key: &str) -> Result<(), Error> {
        if self.entries.remove(key).is_some() {
            self.generation += 1;
        }
        Ok(())
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, Error> {
        let mut out: Vec<String> = Vec::new();
        for key in self.entries.keys().filter(|k| k.starts_with(prefix)) {
            let rest = key.get(prefix.len()..).unwrap_or_default();
            let item = match rest.split_once('/') {
                Some((folder, _)) => format!("{folder}/"),
                None => rest.to_owned(),
            };
            // Keys are sorted, so a repeated folder is always the last item.
            if out.last() != Some(&item) {
                out.push(item);
            }
        }
        Ok(out)
    }

    fn list_page(&self, prefix: &str, after: &str, limit: u32) -> Result<Vec<String>, Error> {
        check_limit(limit)?;
        // Only the keys from `after` on are looked at (a range read, as the
        // host's): the page of the items `list` would give.
        let start = if after.is_empty() {
            prefix.to_owned()
        } else {
            format!("{prefix}{after}")
        };
        let mut out: Vec<String> = Vec::new();
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        for key in self
            .entries
            .range(start..)
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(prefix))
        {
            let rest = key.get(prefix.len()..).unwrap_or_default();
            let item = match rest.split_once('/') {
                Some((folder, _)) => format!("{folder}/"),
                None => rest.to_owned(),
            };
            if (!after.is_empty() && item.as_str() <= after) || out.last() == Some(&item) {
                continue;
            }
            if out.len() == limit {
                break;
            }
            out.push(item);
        }
        Ok(out)
    }

    fn generation(&self) -> u64 {
        self.generation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_one_level() {
        let mut s = MemoryStorage::new();
        for k in ["a", "b/c", "b/d/e", "bb", "c/x"] {
            s.put(k, b"1").unwrap();
        }
        assert_eq!(s.list("").unwrap(), ["a", "b/", "bb", "c/"]);
        assert_eq!(s.list("b/").unwrap(), ["c", "d/"]);
        assert!(s.list("z/").unwrap().is_empty());
    }

    #[test]
    fn pages_list_as_list_does() {
        let mut s = MemoryStorage::new();
        for k in ["a", "b/c", "b/d/e", "b0", "bb", "c/x", "c/y", "d"] {
            s.put(k, b"1").unwrap();
        }
        let all = s.list("").unwrap();
        for limit in 1..=9 {
            for after in ["", "a", "b", "b/", "b0", "c/", "c/x", "zz"] {
                let want = page(all.clone().into_iter(), after, limit);
                assert_eq!(
                    s.list_page("", after, limit).unwrap(),
                    want,
                    "after {after:?} limit {limit}"
                );
            }
        }
        assert_eq!(s.list_page("b/", "c", 5).unwrap(), ["d/"]);
        assert_eq!(s.list_page("", "", 2).unwrap(), ["a", "b/"]);
        assert_eq!(s.list_page("", "", 0).unwrap_err().status(), 400);
    }

    #[test]
    fn json_roundtrip() {
        let mut s = MemoryStorage::new();
        let dynamic: &mut dyn Storage = &mut s;
        dynamic.put_json("k", &vec![1, 2]).unwrap();
        assert_eq!(dynamic.get_json::<Vec<u8>>("k").unwrap(), Some(vec![1, 2]));
        assert_eq!(dynamic.get_json::<Vec<u8>>("missing").unwrap(), None);
        dynamic.put("bad", b"{").unwrap();
        assert!(matches!(
            dynamic.get_json::<Vec<u8>>("bad"),
            Err(Error::Internal(_))
        ));
    }
}
