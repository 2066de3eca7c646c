//! Parsed policies kept between calls of one instance, so that the hot path
//! (encrypt, decrypt, sign with a known key) reads no storage and parses no
//! JSON, and keeps its parsed private keys (host resources).
//!
//! The cache is module-level (a `thread_local`: wasm is single-threaded),
//! one per engine table built (`Mount`), so native tests that build several
//! engines in one thread never share entries. An entry is trusted while the
//! storage generation is the one it was validated at; when the generation
//! moved (some write committed), the stored bytes are read again and, if
//! unchanged, the entry (and its parsed keys) is kept.
//!
//! Writes never fill the cache: a call's writes may still be dropped (an
//! error, a trap, a re-run after a conflict), so a written name is
//! "tainted" for the rest of its generation and read from storage (which
//! shows the call's own writes) without being cached.
//!
//! What it does not do: share entries between instances (each warm
//! instance warms its own), or bound memory by bytes (`cache-config` bounds
//! the number of keys, evicting the least recently used).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use coffer_sdk::prelude::*;

use super::crypto::Loaded;
use super::store;

/// Where the cache size is stored (`cache-config`).
pub const CONFIG_KEY: &str = "config/cache";

/// The identity of one built engine table (one per instance in wasm).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mount(u64);

impl Mount {
    /// A fresh identity.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

#[derive(Debug)]
struct Entry {
    raw: Vec<u8>,
    loaded: Rc<Loaded>,
    validated_at: u64,
    last_used: u64,
}

#[derive(Debug, Default)]
struct MountCache {
    entries: HashMap<String, Entry>,
    /// Names written at this generation (see the module doc).
    tainted: Option<(u64, HashSet<String>)>,
    /// The configured size (0: unbounded) and the generation it was read at.
    size: Option<(u64, usize)>,
    tick: u64,
}

thread_local! {
    static CACHES: RefCell<HashMap<Mount, MountCache>> = RefCell::new(HashMap::new());
}

/// The policy `name`, from the cache when it is still valid, else from
/// storage; `None` if there is no such key.
pub fn load(mount: Mount, ctx: &mut Ctx<'_>, name: &str) -> Result<Option<Rc<Loaded>>, Error> {
    let generation = ctx.storage().generation();
    CACHES.with(|caches| {
        let mut caches = caches.borrow_mut();
        let cache = caches.entry(mount).or_default();
        cache.tick += 1;
        let tick = cache.tick;
        let tainted =
            matches!(&cache.tainted, Some((g, names)) if *g == generation && names.contains(name));
        if tainted {
            return match ctx.storage().get(&store::key(name))? {
                Some(raw) => Ok(Some(Rc::new(Loaded::new(store::parse(&raw)?)))),
                None => Ok(None),
            };
        }
        if let Some(entry) = cache.entries.get_mut(name) {
            if entry.validated_at == generation {
                entry.last_used = tick;
                return Ok(Some(Rc::clone(&entry.loaded)));
            }
        }
        let Some(raw) = ctx.storage().get(&store::key(name))? else {
            cache.entries.remove(name);
            return Ok(None);
        };
        if let Some(entry) = cache.entries.get_mut(name) {
            if entry.raw == raw {
                entry.validated_at = generation;
                entry.last_used = tick;
                return Ok(Some(Rc::clone(&entry.loaded)));
            }
        }
        let loaded = Rc::new(Loaded::new(store::parse(&raw)?));
        let limit = size(cache, ctx, generation)?;
        if limit > 0 && !cache.entries.contains_key(name) {
            // Make room for the one about to be inserted.
            evict_least_recently_used(&mut cache.entries, limit - 1);
        }
        cache.entries.insert(
            name.to_owned(),
            Entry {
                raw,
                loaded: Rc::clone(&loaded),
                validated_at: generation,
                last_used: tick,
            },
        );
        Ok(Some(loaded))
    })
}

/// Drops `name`'s entry and taints it for the current generation (called
/// on every write of a policy).
pub fn invalidate(mount: Mount, ctx: &mut Ctx<'_>, name: &str) {
    let generation = ctx.storage().generation();
    CACHES.with(|caches| {
        let mut caches = caches.borrow_mut();
        let cache = caches.entry(mount).or_default();
        cache.entries.remove(name);
        match &mut cache.tainted {
            Some((g, names)) if *g == generation => {
                names.insert(name.to_owned());
            }
            other => *other = Some((generation, HashSet::from([name.to_owned()]))),
        }
    });
}

/// Forgets the configured size (after `cache-config` is written) and trims
/// the cache to `new_size` now.
pub fn resize(mount: Mount, new_size: usize) {
    CACHES.with(|caches| {
        let mut caches = caches.borrow_mut();
        let cache = caches.entry(mount).or_default();
        cache.size = None;
        if new_size > 0 {
            evict_least_recently_used(&mut cache.entries, new_size);
        }
    });
}

/// The configured size, read once per generation.
fn size(cache: &mut MountCache, ctx: &mut Ctx<'_>, generation: u64) -> Result<usize, Error> {
    if let Some((g, size)) = cache.size {
        if g == generation {
            return Ok(size);
        }
    }
    let size = read_size(ctx)?;
    cache.size = Some((generation, size));
    Ok(size)
}

/// The stored cache size (0: unbounded).
pub fn read_size(ctx: &mut Ctx<'_>) -> Result<usize, Error> {
    #[derive(serde::Deserialize)]
    struct Config {
        size: usize,
    }
    Ok(ctx
        .storage()
        .get_json::<Config>(CONFIG_KEY)?
        .map_or(0, |c| c.size))
}

/// Drops the least recently used entries until at most `keep` remain.
fn evict_least_recently_used(entries: &mut HashMap<String, Entry>, keep: usize) {
    while entries.len() > keep {
        let oldest = entries
            .iter()
            .min_by_key(|(_, e)| e.last_used)
            .map(|(k, _)| k.clone());
        match oldest {
            Some(k) => entries.remove(&k),
            None => break,
        };
    }
}
