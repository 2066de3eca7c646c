//! Who may do what. For now one root token that may do everything; the
//! policy issue replaces [`Auth::check`]'s body, not its signature.
//!
//! Tokens are never stored: only their SHA-256, compared in constant time.
//!
//! **Invariant:** an engine runs only for a request that holds an
//! [`Authorized`], and only [`Auth::check`] makes one (invariant 1).

pub mod policy;
pub mod token;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::api::ApiError;
use crate::storage::Storage;

/// Proof that a request's token may act on its path. Its field is private,
/// so only [`Auth::check`] can make one.
#[derive(Debug)]
pub struct Authorized {
    path: String,
}

impl Authorized {
    /// The path the check allowed.
    pub fn path(&self) -> &str {
        &self.path
    }
}

/// Paths anyone may call, as in Vault.
pub const UNAUTHENTICATED: &[&str] = &["sys/health", "sys/seal-status", "sys/leader"];

const ROOT_KEY: &str = "core/root-token-sha256";

/// The token store.
pub struct Auth {
    root_hash: [u8; 32],
}

impl Auth {
    /// Loads the root token's hash; if there is none, makes a token (or uses
    /// `wanted`, in dev mode) and returns it so it can be shown once.
    pub fn load(storage: &Storage, wanted: Option<&str>) -> anyhow::Result<(Self, Option<String>)> {
        if let Some(token) = wanted {
            let hash = digest(token);
            storage.system_write(&[(ROOT_KEY, Some(&hash))])?;
            return Ok((Auth { root_hash: hash }, Some(token.to_string())));
        }
        if let Some(stored) = storage.system_get(ROOT_KEY)? {
            let root_hash: [u8; 32] = stored
                .as_slice()
                .try_into()
                .map_err(|_| anyhow::anyhow!("stored root token hash is corrupt"))?;
            return Ok((Auth { root_hash }, None));
        }
        let token = format!("s.{}", hex::encode(rand::random::<[u8; 16]>()));
        let hash = digest(&token);
        storage.system_write(&[(ROOT_KEY, Some(&hash))])?;
        Ok((Auth { root_hash: hash }, Some(token)))
    }

    /// Allows the request or answers 403 `permission denied`.
    pub fn check(&self, token: Option<&str>, path: &str) -> Result<Authorized, ApiError> {
        if UNAUTHENTICATED.contains(&path) {
            return Ok(Authorized {
                path: path.to_string(),
            });
        }
        let Some(token) = token else {
            return Err(ApiError::PermissionDenied);
        };
        if bool::from(digest(token).ct_eq(&self.root_hash)) {
            Ok(Authorized {
                path: path.to_string(),
            })
        } else {
            Err(ApiError::PermissionDenied)
        }
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}
