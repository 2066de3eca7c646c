//! A managed-key backend for the end-to-end tests, compiled into the
//! `coffer` binary only with coffer-host's `test-managed-keys` feature
//! (which `cargo test` turns on through coffer-host's dev-dependency on
//! itself; a `cargo build` never does). It is included in the host as
//! `keys::test_backend` and configured at start by the environment
//! variable [`ENV`], a JSON list of keys:
//!
//! ```json
//! [{"name": "signer", "id": "1111-aaaa", "any_mount": false,
//!   "type": "ecdsa-p256", "down": false}]
//! ```
//!
//! Each key is generated at start, in memory (so a restart makes new
//! ones). Underneath it is exportable: the host's seam must refuse export
//! all the same. A key with `"down": true` stands for a backend that
//! cannot be reached: opening it is `unavailable` (503).

use std::future::ready;
use std::sync::Arc;

use serde::Deserialize;

use crate::crypto::{KeyHandle, KeyKind, Permission, SoftwareKey};
use crate::keys::managed::{ManagedFuture, ManagedKeyError, ManagedKeyInfo, ManagedKeys};

/// The environment variable naming the test backend's keys.
pub const ENV: &str = "COFFER_TEST_MANAGED_KEYS";

/// One key of [`ENV`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Configured {
    name: String,
    id: String,
    #[serde(default)]
    any_mount: bool,
    #[serde(rename = "type")]
    key_type: String,
    #[serde(default)]
    down: bool,
}

/// The test backend: its keys, generated at start.
pub struct TestBackend {
    keys: Vec<(ManagedKeyInfo, Arc<SoftwareKey>, bool)>,
}

/// The backend [`ENV`] describes; none when it is not set.
pub fn from_env() -> anyhow::Result<Option<Arc<dyn ManagedKeys>>> {
    let Some(text) = std::env::var_os(ENV) else {
        return Ok(None);
    };
    let text = text
        .into_string()
        .map_err(|_| anyhow::anyhow!("{ENV} is not UTF-8"))?;
    let configured: Vec<Configured> =
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{ENV}: {e}"))?;
    let mut keys = Vec::with_capacity(configured.len());
    for c in configured {
        let kind = KeyKind::parse(&c.key_type, None).map_err(|e| anyhow::anyhow!("{ENV}: {e}"))?;
        let key = SoftwareKey::generate(kind, Permission::Export.into())
            .map_err(|e| anyhow::anyhow!("{ENV}: {e}"))?;
        let info = ManagedKeyInfo {
            name: c.name,
            id: c.id,
            any_mount: c.any_mount,
        };
        keys.push((info, key, c.down));
    }
    Ok(Some(Arc::new(TestBackend { keys })))
}

impl ManagedKeys for TestBackend {
    fn find(&self, name_or_id: &str) -> Result<ManagedKeyInfo, ManagedKeyError> {
        self.keys
            .iter()
            .find(|(info, _, _)| info.name == name_or_id || info.id == name_or_id)
            .map(|(info, _, _)| info.clone())
            .ok_or_else(|| ManagedKeyError::NotFound(format!("no managed key {name_or_id:?}")))
    }

    fn open(&self, info: &ManagedKeyInfo) -> ManagedFuture {
        let answer = match self.keys.iter().find(|(i, _, _)| i.id == info.id) {
            Some((_, _, true)) => Err(ManagedKeyError::Unavailable(format!(
                "the test backend of managed key {:?} is down",
                info.name
            ))),
            Some((_, key, false)) => Ok(Arc::clone(key) as Arc<dyn KeyHandle>),
            None => Err(ManagedKeyError::NotFound(format!(
                "no managed key {:?}",
                info.name
            ))),
        };
        Box::pin(ready(answer))
    }
}
