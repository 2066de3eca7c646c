//! Who may do what: the token store, the policy store, and the check every
//! request passes before anything runs for it.
//!
//! [`Auth::check`] resolves the request's token (by its SHA-256: tokens are
//! never stored or compared in clear, so lookup time says nothing about how
//! close a guess was), builds the ACL of its policies, and requires the
//! capability the request needs on its full path, plus `sudo` on
//! root-protected paths and on the sudo paths a contract-0.2 engine
//! declares; such an engine's unauthenticated paths are served without a
//! token (see [`Target`]). A write to an engine path needs `create` or
//! `update` depending on whether the target exists, which only the engine
//! knows: the check passes the allowed choice along in the
//! [`Authorized`] proof and the sandbox enforces it once the engine's
//! `exists` has answered (see [`WriteRule`]).
//!
//! **Invariant 1:** an engine runs only for a request that holds an
//! [`Authorized`], and only [`Auth::check`] makes one.

pub mod policies;
pub mod policy;
pub mod token;
pub mod tokens;

use std::sync::Arc;

use crate::api::{ApiError, Method};
use crate::router::special::Special;
use crate::seal::Unsealed;
use crate::storage::Storage;
use policies::PolicyStore;
use policy::{Acl, Capability};
use tokens::{TokenEntry, TokenStore};

/// Paths anyone may call, sealed or not, as in Vault.
pub const UNAUTHENTICATED: &[&str] = &[
    "sys/health",
    "sys/seal-status",
    "sys/leader",
    "sys/init",
    "sys/unseal",
    "sys/generate-root/attempt",
    "sys/generate-root/update",
    "sys/generate-root-token/attempt",
    "sys/generate-root-token/update",
];

/// The token behind a request.
pub struct Caller {
    /// The token as presented (kept only for this request's life).
    pub token: String,
    /// Its entry.
    pub entry: Arc<TokenEntry>,
    /// Its policies' ACL.
    pub acl: Arc<Acl>,
}

/// Which of create and update a write may be, once the engine has said
/// whether its target exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteRule {
    /// Either (or not a write).
    Any,
    /// Only a create: the target must not exist.
    CreateOnly,
    /// Only an update: the target must exist.
    UpdateOnly,
}

impl WriteRule {
    /// Whether a write that is a create (`true`) or an update may go on.
    pub fn allows(self, create: bool) -> bool {
        match self {
            WriteRule::Any => true,
            WriteRule::CreateOnly => create,
            WriteRule::UpdateOnly => !create,
        }
    }
}

/// Proof that a request's token may act on its path. Its fields are
/// private, so only [`Auth::check`] can make one.
pub struct Authorized {
    path: String,
    caller: Option<Arc<Caller>>,
    write_rule: WriteRule,
}

impl Authorized {
    /// The path the check allowed.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The caller (`None` on unauthenticated paths).
    pub fn caller(&self) -> Option<&Arc<Caller>> {
        self.caller.as_ref()
    }

    /// What an engine write may be.
    pub fn write_rule(&self) -> WriteRule {
        self.write_rule
    }
}

/// Where a request goes, as far as the capability check cares.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The host's own endpoints (`sys/`, `auth/token/`): a write is an
    /// update, as Vault treats paths without an existence check.
    Host,
    /// An engine, which tells create from update, with what its mount's
    /// special paths say of the path (contract 0.2's `describe`; nothing
    /// for 0.1 engines).
    Engine(Special),
}

impl Target {
    /// Whether `path` needs `sudo` besides the operation's capability:
    /// the one rule, for the host's root-protected paths
    /// ([`policy::needs_sudo`]) and an engine's declared sudo paths alike.
    fn needs_sudo(self, path: &str) -> bool {
        policy::needs_sudo(path) || matches!(self, Target::Engine(s) if s.sudo)
    }
}

/// For `GET sys/internal/ui/mounts/<path>`, the path asked about.
fn ui_mount_path(method: Method, path: &str) -> Option<&str> {
    match method {
        Method::Read => path
            .strip_prefix("sys/internal/ui/mounts/")
            .filter(|p| !p.is_empty()),
        _ => None,
    }
}

/// Tokens and policies.
pub struct Auth {
    /// The token store.
    pub tokens: TokenStore,
    /// The policy store.
    pub policies: PolicyStore,
}

impl Auth {
    /// The stores over `storage`.
    pub fn new(storage: Storage) -> Self {
        Auth {
            tokens: TokenStore::new(storage.clone()),
            policies: PolicyStore::new(storage),
        }
    }

    /// Loads what must be in memory while unsealed (the token salt) and
    /// stores the `default` policy if it is missing.
    pub fn load(&self, u: &Unsealed) -> Result<(), ApiError> {
        self.tokens.load(u)?;
        self.policies.ensure_default(u)
    }

    /// Forgets every cached token and policy (on seal).
    pub fn clear(&self) {
        self.tokens.clear();
        self.policies.clear();
    }

    /// The caller behind a token, or 403.
    pub fn caller(&self, u: &Unsealed, token: Option<&str>) -> Result<Arc<Caller>, ApiError> {
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::PermissionDenied)?;
        let entry = self
            .tokens
            .lookup(u, token)?
            .ok_or(ApiError::PermissionDenied)?;
        let acl = self.policies.acl(u, &entry.policies)?;
        Ok(Arc::new(Caller {
            token: token.to_string(),
            entry,
            acl,
        }))
    }

    /// The proof for one of the seal's own [`UNAUTHENTICATED`] paths,
    /// which anyone may call, sealed or not; `None` for every other path.
    pub fn unauthenticated(&self, path: &str) -> Option<Authorized> {
        UNAUTHENTICATED.contains(&path).then(|| Authorized {
            path: path.to_string(),
            caller: None,
            write_rule: WriteRule::Any,
        })
    }

    /// Allows the request or answers 403 `permission denied`.
    ///
    /// A host path may end in `/` (the CLI sends `sys/mounts/<path>/`), and
    /// its handler serves both spellings alike; so a request is allowed
    /// only if the path as sent allows it and the path without the `/`
    /// does not refuse it (a rule that matches it and lacks the capability,
    /// `deny` included): an exact `deny` on `sys/mounts/victim` holds for
    /// `sys/mounts/victim/` too.
    pub fn check(
        &self,
        u: &Unsealed,
        token: Option<&str>,
        method: Method,
        path: &str,
        target: Target,
    ) -> Result<Authorized, ApiError> {
        if let Some(authorized) = self.unauthenticated(path) {
            return Ok(authorized);
        }
        if let Target::Engine(special) = target {
            if special.unauthenticated {
                // An engine's unauthenticated path: served without a token,
                // and a token sent anyway is not looked at (OpenBao serves
                // `pki/ca/pem` with a bad token too).
                return Ok(Authorized {
                    path: path.to_string(),
                    caller: None,
                    write_rule: WriteRule::Any,
                });
            }
        }
        let caller = self.caller(u, token)?;
        let write_rule = if caller.acl.is_root() {
            WriteRule::Any
        } else if let Some(mount_path) = ui_mount_path(method, path) {
            // What the CLI asks before `kv get` (Vault lets any token that
            // may do something on the path see its mount's type there).
            if caller.acl.capabilities(mount_path).is_denied()
                && caller
                    .acl
                    .list_capabilities(&format!("{}/", mount_path.trim_end_matches('/')))
                    .is_denied()
            {
                return Err(ApiError::PermissionDenied);
            }
            WriteRule::Any
        } else {
            // Vault checks a LIST on the path with a trailing slash.
            let caps = if method == Method::List && !path.ends_with('/') {
                caller.acl.list_capabilities(&format!("{path}/"))
            } else if method == Method::List {
                caller.acl.list_capabilities(path)
            } else {
                let as_sent = caller.acl.capabilities(path);
                match path.strip_suffix('/') {
                    Some(trimmed) => {
                        let other = caller.acl.capabilities(trimmed);
                        if other == policy::Capabilities::NONE {
                            as_sent
                        } else {
                            as_sent.both(other)
                        }
                    }
                    None => as_sent,
                }
            };
            if target.needs_sudo(path) && !caps.allows(Capability::Sudo) {
                return Err(ApiError::PermissionDenied);
            }
            let need = |c| {
                if caps.allows(c) {
                    Ok(WriteRule::Any)
                } else {
                    Err(ApiError::PermissionDenied)
                }
            };
            match (method, target) {
                (Method::Read, _) => need(Capability::Read)?,
                (Method::List, _) => need(Capability::List)?,
                (Method::Delete, _) => need(Capability::Delete)?,
                (Method::Patch, _) => need(Capability::Patch)?,
                (Method::Write, Target::Host) => need(Capability::Update)?,
                (Method::Write, Target::Engine(_)) => {
                    match (
                        caps.allows(Capability::Create),
                        caps.allows(Capability::Update),
                    ) {
                        (true, true) => WriteRule::Any,
                        (true, false) => WriteRule::CreateOnly,
                        (false, true) => WriteRule::UpdateOnly,
                        (false, false) => return Err(ApiError::PermissionDenied),
                    }
                }
            }
        };
        self.tokens.use_once(u, &caller.entry)?;
        Ok(Authorized {
            path: path.to_string(),
            caller: Some(caller),
            write_rule,
        })
    }
}
