//! The policy store: ACL policies as their HCL text in the system table
//! (`policy/acl/<name>`), parsed once and cached, and the [`Acl`] of each
//! set of policy names a token holds, cached too. Any policy change empties
//! the ACL cache; seal empties both.
//!
//! A generation number, bumped (under the caches' write locks) by every
//! change, keeps a read that raced a change from caching what it read.
//!
//! `root` is not stored: it is the built-in allow-everything policy and can
//! be neither read as text, changed nor deleted. `default` is stored at
//! the first unseal from [`DEFAULT_POLICY`] and may be changed, not deleted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use super::policy::{Acl, Policy, DEFAULT_POLICY, MAX_POLICY_BYTES};
use crate::api::ApiError;
use crate::seal::Unsealed;
use crate::storage::Storage;

const PREFIX: &str = "policy/acl/";

/// The policy store.
pub struct PolicyStore {
    storage: Storage,
    parsed: RwLock<HashMap<String, Arc<Policy>>>,
    acls: RwLock<HashMap<Vec<String>, Arc<Acl>>>,
    generation: AtomicU64,
}

/// A policy a client wrote, checked and parsed by
/// [`PolicyStore::parse_new`] (its only maker): what [`PolicyStore::put`]
/// stores.
#[derive(Debug)]
pub struct NewPolicy(Policy);

impl NewPolicy {
    /// The parsed policy.
    pub fn policy(&self) -> &Policy {
        &self.0
    }
}

/// A policy name is 1–128 characters of letters, digits, `-`, `_`, `.`
/// (lowercase as Vault stores it).
fn check_name(name: &str) -> Result<String, ApiError> {
    if name != name.trim().to_lowercase() {
        // The capability check saw the name as sent: folding it here would
        // let `ADMIN` reach a policy that `admin`'s rule protects.
        return Err(ApiError::bad(format!(
            "invalid policy name {name:?}: policy names are lowercase, without spaces"
        )));
    }
    let name = name.to_string();
    if name.is_empty()
        || name.len() > 128
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(ApiError::bad(format!(
            "invalid policy name {name:?}: use letters, digits, '-', '_' and '.'"
        )));
    }
    Ok(name)
}

impl PolicyStore {
    /// The store over `storage`.
    pub fn new(storage: Storage) -> Self {
        PolicyStore {
            storage,
            parsed: RwLock::new(HashMap::new()),
            acls: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }

    /// Stores `default` if it is missing (at unseal).
    pub fn ensure_default(&self, u: &Unsealed) -> Result<(), ApiError> {
        if self
            .storage
            .system_get(u, &format!("{PREFIX}default"))?
            .is_none()
        {
            self.storage.system_write(
                u,
                &[(&format!("{PREFIX}default"), Some(DEFAULT_POLICY.as_bytes()))],
            )?;
        }
        Ok(())
    }

    /// Forgets everything cached (on seal).
    pub fn clear(&self) {
        if let (Ok(mut p), Ok(mut a)) = (self.parsed.write(), self.acls.write()) {
            self.generation.fetch_add(1, Ordering::SeqCst);
            p.clear();
            a.clear();
        }
    }

    fn forget(&self, name: &str) {
        if let (Ok(mut p), Ok(mut a)) = (self.parsed.write(), self.acls.write()) {
            self.generation.fetch_add(1, Ordering::SeqCst);
            p.remove(name);
            a.clear();
        }
    }

    /// Every policy name, `root` included, sorted.
    pub fn list(&self, u: &Unsealed) -> Result<Vec<String>, ApiError> {
        let mut names = self.storage.system_list(u, PREFIX)?;
        names.push("root".into());
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// A stored policy.
    pub fn get(&self, u: &Unsealed, name: &str) -> Result<Option<Arc<Policy>>, ApiError> {
        let name = name.to_string();
        if let Some(p) = self.parsed.read().ok().and_then(|p| p.get(&name).cloned()) {
            return Ok(Some(p));
        }
        if name == "root" || name.contains('/') {
            return Ok(None);
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let Some(bytes) = self.storage.system_get(u, &format!("{PREFIX}{name}"))? else {
            return Ok(None);
        };
        let text = String::from_utf8(bytes).map_err(ApiError::internal)?;
        let policy = Arc::new(
            Policy::parse(&name, &text)
                .map_err(|e| ApiError::internal(format!("stored policy {name:?}: {e}")))?,
        );
        if let Ok(mut p) = self.parsed.write() {
            if self.generation.load(Ordering::SeqCst) == generation {
                p.insert(name, policy.clone());
            }
        }
        Ok(Some(policy))
    }

    /// Checks a policy written by a client and parses it: a 400 for a bad
    /// name, `root`, text over [`MAX_POLICY_BYTES`] or text that does not
    /// parse. Pure and CPU-bound (a policy at the cap takes a while):
    /// callers on the async runtime run it with `spawn_blocking`.
    pub fn parse_new(name: &str, text: &str) -> Result<NewPolicy, ApiError> {
        let name = check_name(name)?;
        if name == "root" {
            return Err(ApiError::bad("cannot update \"root\" policy"));
        }
        if text.len() > MAX_POLICY_BYTES {
            return Err(ApiError::bad(format!(
                "policy {name:?} is {} bytes, over the limit of {MAX_POLICY_BYTES} bytes (1 MiB)",
                text.len()
            )));
        }
        Policy::parse(&name, text)
            .map(NewPolicy)
            .map_err(|e| ApiError::bad(e.to_string()))
    }

    /// Stores a policy made by [`PolicyStore::parse_new`] and caches it, so
    /// that its first use does not parse it again.
    pub fn put(&self, u: &Unsealed, policy: NewPolicy) -> Result<(), ApiError> {
        let NewPolicy(policy) = policy;
        let name = policy.name().to_string();
        self.storage.system_write(
            u,
            &[(&format!("{PREFIX}{name}"), Some(policy.raw().as_bytes()))],
        )?;
        if let (Ok(mut p), Ok(mut a)) = (self.parsed.write(), self.acls.write()) {
            self.generation.fetch_add(1, Ordering::SeqCst);
            p.insert(name, Arc::new(policy));
            a.clear();
        }
        Ok(())
    }

    /// Deletes a policy (`root` and `default` cannot be).
    pub fn delete(&self, u: &Unsealed, name: &str) -> Result<(), ApiError> {
        let name = check_name(name)?;
        if name == "root" || name == "default" {
            return Err(ApiError::bad(format!("cannot delete {name:?} policy")));
        }
        self.storage
            .system_write(u, &[(&format!("{PREFIX}{name}"), None)])?;
        self.forget(&name);
        Ok(())
    }

    /// The ACL for a token's policy names: root if `root` is among them;
    /// unknown names are skipped (Vault lets a token name a policy that is
    /// written later).
    pub fn acl(&self, u: &Unsealed, names: &[String]) -> Result<Arc<Acl>, ApiError> {
        if let Some(a) = self.acls.read().ok().and_then(|a| a.get(names).cloned()) {
            return Ok(a);
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let acl = if names.iter().any(|n| n == "root") {
            Arc::new(Acl::root())
        } else {
            let mut policies = Vec::new();
            for n in names {
                if let Some(p) = self.get(u, n)? {
                    policies.push(p);
                }
            }
            Arc::new(Acl::new(&policies))
        };
        if let Ok(mut a) = self.acls.write() {
            if self.generation.load(Ordering::SeqCst) == generation {
                a.insert(names.to_vec(), acl.clone());
            }
        }
        Ok(acl)
    }
}
