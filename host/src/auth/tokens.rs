//! The token store: token entries in the host's system table (behind the
//! barrier), keyed by an HMAC-SHA256 of the token under a random salt that
//! is itself stored behind the barrier — never the token, and not a plain
//! hash either, so the storage file's keys do not allow an offline guess
//! (invariant 4).
//!
//! Records:
//! - `token/salt`: the 32-byte salt;
//! - `token/id/<hash>`: the [`TokenEntry`];
//! - `token/accessor/<hash of the accessor>`: the accessor and its token's
//!   hash, for the accessor calls;
//! - `token/parent/<parent hash>/<child hash>`: the tree, so revoking a
//!   token revokes its descendants.
//!
//! Entries are cached in memory after the first read; every change goes to
//! storage first and then to the cache, and the cache is emptied on seal.
//! A generation number, bumped by every change, keeps a read that raced a
//! change from caching what it read.
//! Expiry is checked on every use, for the token and each of its ancestors
//! (an expired parent takes its children with it, as Vault's expiration
//! manager does).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::api::ApiError;
use crate::seal::Unsealed;
use crate::storage::Storage;

/// The default and maximum TTL of a non-root token (Vault's 32 days).
pub const MAX_TTL: u64 = 32 * 24 * 3600;

/// A token as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenEntry {
    /// The SHA-256 of the token, hex (also its storage key).
    pub hash: String,
    /// The accessor: names the token without being it.
    pub accessor: String,
    /// Policy names, sorted.
    pub policies: Vec<String>,
    /// The parent's hash; `None` for an orphan.
    pub parent: Option<String>,
    /// `meta`.
    pub meta: Option<BTreeMap<String, String>>,
    /// `display_name`.
    pub display_name: String,
    /// Uses left; 0 is unlimited.
    pub num_uses: u64,
    /// Unix seconds.
    pub creation_time: u64,
    /// The TTL it was created with (0: none).
    pub creation_ttl: u64,
    /// Unix seconds it expires at; `None`: never.
    pub expire_time: Option<u64>,
    /// `explicit_max_ttl` (0: none).
    pub explicit_max_ttl: u64,
    /// `period` (0: not periodic).
    pub period: u64,
    /// Whether `renew` may extend it.
    pub renewable: bool,
    /// The path it was made at (`auth/token/create`, `auth/token/root`).
    pub path: String,
    /// Unix seconds of the last renewal.
    pub last_renewal: Option<u64>,
}

impl TokenEntry {
    /// Whether it holds the `root` policy.
    pub fn is_root(&self) -> bool {
        self.policies.iter().any(|p| p == "root")
    }

    /// Seconds left (0 for a token that never expires).
    pub fn ttl(&self, now: u64) -> u64 {
        self.expire_time.map_or(0, |e| e.saturating_sub(now))
    }

    fn expired(&self, now: u64) -> bool {
        self.expire_time.is_some_and(|e| e <= now)
    }

    /// `lookup`'s data; `id` is the token when the caller presented it,
    /// `""` for accessor lookups (as Vault does).
    pub fn lookup_data(&self, id: &str, now: u64) -> Value {
        let mut data = json!({
            "accessor": self.accessor,
            "creation_time": self.creation_time,
            "creation_ttl": self.creation_ttl,
            "display_name": self.display_name,
            "entity_id": "",
            "expire_time": self.expire_time.map(rfc3339),
            "explicit_max_ttl": self.explicit_max_ttl,
            "id": id,
            "meta": self.meta,
            "num_uses": self.num_uses,
            "orphan": self.parent.is_none(),
            "path": self.path,
            "policies": self.policies,
            "renewable": self.renewable,
            "ttl": self.ttl(now),
            "type": "service",
        });
        if let Some(obj) = data.as_object_mut() {
            if !self.is_root() || self.expire_time.is_some() {
                obj.insert("issue_time".into(), rfc3339(self.creation_time).into());
            }
            if self.period > 0 {
                obj.insert("period".into(), self.period.into());
            }
            if let Some(r) = self.last_renewal {
                obj.insert("last_renewal".into(), rfc3339(r).into());
                obj.insert("last_renewal_time".into(), r.into());
            }
        }
        data
    }

    /// The envelope's `auth` block for this token.
    pub fn auth_block(&self, token: &str, now: u64) -> Value {
        json!({
            "client_token": token,
            "accessor": self.accessor,
            "policies": self.policies,
            "token_policies": self.policies,
            "metadata": self.meta,
            "lease_duration": self.ttl(now),
            "renewable": self.renewable,
            "entity_id": "",
            "token_type": "service",
            "orphan": self.parent.is_none(),
            "mfa_requirement": null,
            "num_uses": self.num_uses,
        })
    }
}

/// Unix seconds now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Unix seconds as RFC 3339.
pub fn rfc3339(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + std::time::Duration::from_secs(secs)).to_string()
}

/// A fresh random token (Vault's `s.` service-token form).
pub fn new_token() -> String {
    format!("s.{}", random_base62(24))
}

/// `len` random characters of `[0-9A-Za-z]`.
pub fn random_base62(len: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let b: u8 = rand::random();
        // Reject the top of the range so every symbol is equally likely.
        if b < 248 {
            out.push(ALPHABET[(b % 62) as usize] as char);
        }
    }
    out
}

fn id_key(hash: &str) -> String {
    format!("token/id/{hash}")
}

const SALT_KEY: &str = "token/salt";
const ACCESSOR_PREFIX: &str = "token/accessor/";

/// An accessor record: the accessor (for listing) and its token's hash.
#[derive(Serialize, Deserialize)]
struct AccessorRecord {
    accessor: String,
    token: String,
}

fn child_prefix(parent: &str) -> String {
    format!("token/parent/{parent}/")
}

/// The token store.
pub struct TokenStore {
    storage: Storage,
    cache: RwLock<HashMap<String, Arc<TokenEntry>>>,
    /// Bumped (under the cache's write lock) by every change.
    generation: AtomicU64,
    salt: RwLock<Option<Zeroizing<[u8; 32]>>>,
    /// Serialises read-modify-write of entries (uses, renewals, revocation).
    write: Mutex<()>,
}

impl TokenStore {
    /// The store over `storage`.
    pub fn new(storage: Storage) -> Self {
        TokenStore {
            storage,
            cache: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            salt: RwLock::new(None),
            write: Mutex::new(()),
        }
    }

    /// Reads the salt, making it on first use (at unseal and init).
    pub fn load(&self, u: &Unsealed) -> Result<(), ApiError> {
        let salt: [u8; 32] = match self.storage.system_get(u, SALT_KEY)? {
            Some(bytes) => bytes
                .as_slice()
                .try_into()
                .map_err(|_| ApiError::internal("the stored token salt is corrupt"))?,
            None => {
                let salt: [u8; 32] = rand::random();
                self.storage.system_write(u, &[(SALT_KEY, Some(&salt))])?;
                salt
            }
        };
        if let Ok(mut s) = self.salt.write() {
            *s = Some(Zeroizing::new(salt));
        }
        Ok(())
    }

    /// Forgets every cached entry and the salt (on seal).
    pub fn clear(&self) {
        if let Ok(mut c) = self.cache.write() {
            self.generation.fetch_add(1, Ordering::SeqCst);
            c.clear();
        }
        if let Ok(mut s) = self.salt.write() {
            *s = None;
        }
    }

    /// The storage name of a token (or, with `kind` "accessor", of an
    /// accessor): HMAC-SHA256 under the salt, hex.
    fn salted(&self, kind: &str, value: &str) -> Result<String, ApiError> {
        let salt = self
            .salt
            .read()
            .map_err(|_| ApiError::internal("token salt lock"))?;
        let salt = salt.as_ref().ok_or_else(ApiError::sealed)?;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(salt.as_slice())
            .map_err(|_| ApiError::internal("token salt"))?;
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        // Into a stack buffer: `hex::encode` builds its String a char at a
        // time, which showed in a KV read's profile.
        let mut digits = [0u8; 64];
        hex::encode_to_slice(mac.finalize().into_bytes(), &mut digits)
            .map_err(|_| ApiError::internal("token hash"))?;
        std::str::from_utf8(&digits)
            .map(str::to_owned)
            .map_err(|_| ApiError::internal("token hash"))
    }

    /// A token's storage name.
    pub fn hash(&self, token: &str) -> Result<String, ApiError> {
        self.salted("token", token)
    }

    fn accessor_key(&self, accessor: &str) -> Result<String, ApiError> {
        Ok(format!(
            "{ACCESSOR_PREFIX}{}",
            self.salted("accessor", accessor)?
        ))
    }

    fn cache_insert(&self, generation: u64, entry: Arc<TokenEntry>) {
        if let Ok(mut c) = self.cache.write() {
            if self.generation.load(Ordering::SeqCst) == generation {
                c.insert(entry.hash.clone(), entry);
            }
        }
    }

    fn cache_set(&self, entry: Option<Arc<TokenEntry>>, hash: &str) {
        if let Ok(mut c) = self.cache.write() {
            self.generation.fetch_add(1, Ordering::SeqCst);
            match entry {
                Some(e) => c.insert(hash.to_string(), e),
                None => c.remove(hash),
            };
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, ()>, ApiError> {
        self.write
            .lock()
            .map_err(|_| ApiError::internal("token store lock poisoned"))
    }

    fn get_stored(&self, u: &Unsealed, hash: &str) -> Result<Option<Arc<TokenEntry>>, ApiError> {
        if let Some(e) = self.cache.read().ok().and_then(|c| c.get(hash).cloned()) {
            return Ok(Some(e));
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let Some(bytes) = self.storage.system_get(u, &id_key(hash))? else {
            return Ok(None);
        };
        let entry: TokenEntry = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::internal(format!("stored token entry is corrupt: {e}")))?;
        let entry = Arc::new(entry);
        self.cache_insert(generation, entry.clone());
        Ok(Some(entry))
    }

    fn put(&self, u: &Unsealed, entry: TokenEntry) -> Result<Arc<TokenEntry>, ApiError> {
        let bytes = serde_json::to_vec(&entry).map_err(ApiError::internal)?;
        self.storage
            .system_write(u, &[(&id_key(&entry.hash), Some(&bytes))])?;
        let entry = Arc::new(entry);
        self.cache_set(Some(entry.clone()), &entry.hash.clone());
        Ok(entry)
    }

    /// The live entry for a token hash: `None` if unknown, revoked or
    /// expired (an expired token, or one under an expired ancestor, is
    /// revoked on the spot).
    pub fn live(&self, u: &Unsealed, hash: &str) -> Result<Option<Arc<TokenEntry>>, ApiError> {
        let now = now();
        let Some(entry) = self.get_stored(u, hash)? else {
            return Ok(None);
        };
        // Walk up: every ancestor must be live too.
        let mut current = entry.clone();
        let mut depth = 0;
        loop {
            if current.expired(now) {
                self.revoke_tree(u, &current.hash)?;
                return Ok(None);
            }
            let Some(parent) = current.parent.clone() else {
                break;
            };
            depth += 1;
            if depth > 1000 {
                return Err(ApiError::internal("token parent chain is too deep"));
            }
            match self.get_stored(u, &parent)? {
                Some(p) => current = p,
                // The parent is gone but this child was missed: revoke it.
                None => {
                    self.revoke_tree(u, &entry.hash)?;
                    return Ok(None);
                }
            }
        }
        Ok(Some(entry))
    }

    /// The live entry for a token.
    pub fn lookup(&self, u: &Unsealed, token: &str) -> Result<Option<Arc<TokenEntry>>, ApiError> {
        self.live(u, &self.hash(token)?)
    }

    /// The live entry for an accessor.
    pub fn lookup_accessor(
        &self,
        u: &Unsealed,
        accessor: &str,
    ) -> Result<Option<Arc<TokenEntry>>, ApiError> {
        if accessor.is_empty() {
            return Ok(None);
        }
        let Some(bytes) = self.storage.system_get(u, &self.accessor_key(accessor)?)? else {
            return Ok(None);
        };
        let record: AccessorRecord = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::internal(format!("stored accessor record is corrupt: {e}")))?;
        self.live(u, &record.token)
    }

    /// Every accessor.
    pub fn accessors(&self, u: &Unsealed) -> Result<Vec<String>, ApiError> {
        let mut out = Vec::new();
        for key in self.storage.system_list(u, ACCESSOR_PREFIX)? {
            if let Some(bytes) = self
                .storage
                .system_get(u, &format!("{ACCESSOR_PREFIX}{key}"))?
            {
                let record: AccessorRecord = serde_json::from_slice(&bytes).map_err(|e| {
                    ApiError::internal(format!("stored accessor record is corrupt: {e}"))
                })?;
                out.push(record.accessor);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Stores a new token; `token` is the secret to hand out once.
    pub fn create(
        &self,
        u: &Unsealed,
        token: &str,
        mut entry: TokenEntry,
    ) -> Result<Arc<TokenEntry>, ApiError> {
        let _guard = self.lock()?;
        entry.hash = self.hash(token)?;
        if self.storage.system_get(u, &id_key(&entry.hash))?.is_some() {
            return Err(ApiError::bad("cannot create a token with a duplicate ID"));
        }
        entry.accessor = random_base62(24);
        let bytes = serde_json::to_vec(&entry).map_err(ApiError::internal)?;
        let accessor_record = serde_json::to_vec(&AccessorRecord {
            accessor: entry.accessor.clone(),
            token: entry.hash.clone(),
        })
        .map_err(ApiError::internal)?;
        let child = entry
            .parent
            .as_ref()
            .map(|p| format!("{}{}", child_prefix(p), entry.hash));
        let mut writes: Vec<(&str, Option<&[u8]>)> = Vec::new();
        let id = id_key(&entry.hash);
        let acc = self.accessor_key(&entry.accessor)?;
        writes.push((&id, Some(&bytes)));
        writes.push((&acc, Some(&accessor_record)));
        if let Some(c) = &child {
            writes.push((c, Some(b"")));
        }
        self.storage.system_write(u, &writes)?;
        let entry = Arc::new(entry);
        self.cache_set(Some(entry.clone()), &entry.hash.clone());
        Ok(entry)
    }

    /// Counts one use of a token with limited uses; after the last one the
    /// token is revoked (the request that used it still runs).
    pub fn use_once(&self, u: &Unsealed, entry: &TokenEntry) -> Result<(), ApiError> {
        if entry.num_uses == 0 {
            return Ok(());
        }
        let _guard = self.lock()?;
        let Some(current) = self.get_stored(u, &entry.hash)? else {
            return Err(ApiError::PermissionDenied);
        };
        match current.num_uses {
            0 => Ok(()),
            1 => self.revoke_tree_locked(u, &entry.hash),
            n => {
                let mut next = (*current).clone();
                next.num_uses = n - 1;
                self.put(u, next).map(|_| ())
            }
        }
    }

    /// Extends a token's TTL by `increment` (or its creation TTL), bounded
    /// by `explicit_max_ttl` and the system maximum; periodic tokens get
    /// their period.
    pub fn renew(
        &self,
        u: &Unsealed,
        hash: &str,
        increment: Option<u64>,
    ) -> Result<Arc<TokenEntry>, ApiError> {
        let _guard = self.lock()?;
        let Some(current) = self.get_stored(u, hash)? else {
            return Err(ApiError::bad("token not found"));
        };
        if current.expire_time.is_none() {
            return Err(ApiError::bad("invalid lease ID"));
        }
        if !current.renewable {
            return Err(ApiError::bad("lease is not renewable"));
        }
        let now = now();
        let wanted = if current.period > 0 {
            current.period
        } else {
            increment
                .filter(|i| *i > 0)
                .unwrap_or(current.creation_ttl)
                .min(MAX_TTL)
        };
        let mut expire = now.saturating_add(wanted);
        if current.explicit_max_ttl > 0 {
            expire = expire.min(
                current
                    .creation_time
                    .saturating_add(current.explicit_max_ttl),
            );
        } else if current.period == 0 {
            expire = expire.min(current.creation_time.saturating_add(MAX_TTL));
        }
        let mut next = (*current).clone();
        next.expire_time = Some(expire);
        next.last_renewal = Some(now);
        self.put(u, next)
    }

    /// Revokes a token and every descendant.
    pub fn revoke_tree(&self, u: &Unsealed, hash: &str) -> Result<(), ApiError> {
        let _guard = self.lock()?;
        self.revoke_tree_locked(u, hash)
    }

    /// [`TokenStore::revoke_tree`] with the write lock already held.
    fn revoke_tree_locked(&self, u: &Unsealed, hash: &str) -> Result<(), ApiError> {
        let mut pending = vec![hash.to_string()];
        let mut doomed = Vec::new();
        while let Some(h) = pending.pop() {
            if doomed.len() > 100_000 {
                return Err(ApiError::internal("token tree is too large to revoke"));
            }
            for child in self.storage.system_list(u, &child_prefix(&h))? {
                pending.push(child);
            }
            doomed.push(h);
        }
        // Children first, so a failure part-way never leaves an orphaned
        // child whose parent is gone (and `live` catches one that is).
        for h in doomed.iter().rev() {
            self.remove(u, h)?;
        }
        Ok(())
    }

    /// Revokes a token but not its children, which become orphans
    /// (`revoke-orphan`).
    pub fn revoke_orphan(&self, u: &Unsealed, hash: &str) -> Result<(), ApiError> {
        let _guard = self.lock()?;
        for child in self.storage.system_list(u, &child_prefix(hash))? {
            if let Some(entry) = self.get_stored(u, &child)? {
                let mut next = (*entry).clone();
                next.parent = None;
                self.put(u, next)?;
            }
        }
        self.remove(u, hash)
    }

    fn remove(&self, u: &Unsealed, hash: &str) -> Result<(), ApiError> {
        let entry = self.get_stored(u, hash)?;
        let mut keys = vec![id_key(hash)];
        for child in self.storage.system_list(u, &child_prefix(hash))? {
            keys.push(format!("{}{child}", child_prefix(hash)));
        }
        if let Some(e) = &entry {
            keys.push(self.accessor_key(&e.accessor)?);
            if let Some(p) = &e.parent {
                keys.push(format!("{}{hash}", child_prefix(p)));
            }
        }
        let writes: Vec<(&str, Option<&[u8]>)> = keys.iter().map(|k| (k.as_str(), None)).collect();
        self.storage.system_write(u, &writes)?;
        self.cache_set(None, hash);
        Ok(())
    }
}
