//! Parsed policies kept between calls of one instance, so that the hot path
//! (encrypt, decrypt, sign with a known key) reads no storage, parses no
//! JSON and opens no blob: an entry keeps its policy's opened key handles.
//!
//! The cache is the instance's state (`Ctx::state`): one per engine
//! table, so native tests that build several engines never share entries.
//! An entry is trusted while the storage generation is the one it was
//! validated at; when the generation moved (some write committed), the
//! stored bytes are read again and, if unchanged, the entry (and its
//! handles) is kept; if they changed (a rotation, a config change, a
//! restore), the entry is replaced, so a changed policy never reuses a
//! handle of the old one.
//!
//! Writes never fill the cache: a call's writes may still be dropped (an
//! error, a trap, a re-run after a conflict), so a written name is
//! "tainted" for the rest of its generation and read from storage (which
//! shows the call's own writes) without being cached.
//!
//! A policy stored by release 0.1 (key bytes in the clear) is migrated
//! when loaded (`store::migrate`) and written back in the same call, so
//! it is cached only once stored with blobs.
//!
//! What it does not do: share entries between instances (each warm
//! instance warms its own), or bound memory by bytes (`cache-config` bounds
//! the number of keys, evicting the least recently used).

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use coffer_sdk::prelude::*;

use super::crypto::Loaded;
use super::store;

/// Where the cache size is stored (`cache-config`).
pub const CONFIG_KEY: &str = "config/cache";

#[derive(Debug)]
struct Entry {
    raw: Vec<u8>,
    loaded: Rc<Loaded>,
    validated_at: u64,
    last_used: u64,
}

/// One instance's cache (its `Ctx::state`).
#[derive(Debug, Default)]
pub struct PolicyCache {
    entries: HashMap<String, Entry>,
    /// Names written at this generation (see the module doc).
    tainted: Option<(u64, HashSet<String>)>,
    /// The configured size (0: unbounded) and the generation it was read at.
    size: Option<(u64, usize)>,
    tick: u64,
}

/// The policy `name`, from the cache when it is still valid, else from
/// storage (migrated and written back if release 0.1 stored it); `None`
/// if there is no such key. Only for calls that may write (`handle`,
/// `periodic`): an existence check uses [`exists`].
pub fn load(ctx: &mut Ctx<'_>, name: &str) -> Result<Option<Rc<Loaded>>, Error> {
    let generation = ctx.storage().generation();
    let state = ctx.state::<PolicyCache>();
    let mut cache = state.borrow_mut();
    cache.tick += 1;
    let tick = cache.tick;
    let tainted =
        matches!(&cache.tainted, Some((g, names)) if *g == generation && names.contains(name));
    if tainted {
        drop(cache);
        return match ctx.storage().get(&store::key(name))? {
            Some(raw) => Ok(Some(Rc::new(Loaded::new(store::read(ctx, &raw)?)))),
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
    let policy = store::parse(&raw)?;
    if store::needs_migration(&policy) {
        // Written back, hence tainted: not cached in this generation.
        drop(cache);
        return Ok(Some(Rc::new(Loaded::new(store::read(ctx, &raw)?))));
    }
    let loaded = Rc::new(Loaded::new(policy));
    let limit = size(&mut cache, ctx, generation)?;
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
}

/// Whether the key `name` exists, for an existence check (which must not
/// write, so never migrates): a fresh cache entry answers without reading
/// storage.
pub fn exists(ctx: &mut Ctx<'_>, name: &str) -> Result<bool, Error> {
    let generation = ctx.storage().generation();
    let state = ctx.state::<PolicyCache>();
    let fresh = {
        let cache = state.borrow();
        let tainted =
            matches!(&cache.tainted, Some((g, names)) if *g == generation && names.contains(name));
        !tainted
            && cache
                .entries
                .get(name)
                .is_some_and(|e| e.validated_at == generation)
    };
    if fresh {
        return Ok(true);
    }
    store::exists(ctx, name)
}

/// Drops `name`'s entry and taints it for the current generation (called
/// on every write of a policy).
pub fn invalidate(ctx: &mut Ctx<'_>, name: &str) {
    let generation = ctx.storage().generation();
    let state = ctx.state::<PolicyCache>();
    let mut cache = state.borrow_mut();
    cache.entries.remove(name);
    match &mut cache.tainted {
        Some((g, names)) if *g == generation => {
            names.insert(name.to_owned());
        }
        other => *other = Some((generation, HashSet::from([name.to_owned()]))),
    }
}

/// Forgets the configured size (after `cache-config` is written) and trims
/// the cache to `new_size` now.
pub fn resize(ctx: &mut Ctx<'_>, new_size: usize) {
    let state = ctx.state::<PolicyCache>();
    let mut cache = state.borrow_mut();
    cache.size = None;
    if new_size > 0 {
        evict_least_recently_used(&mut cache.entries, new_size);
    }
}

/// The configured size, read once per generation.
fn size(cache: &mut PolicyCache, ctx: &mut Ctx<'_>, generation: u64) -> Result<usize, Error> {
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
