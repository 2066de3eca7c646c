//! Managed keys (`sys/managed-keys`): keys held by an HSM or a cloud KMS,
//! configured by an operator and used by engines through handles.
//!
//! [`ManagedKeyStore`] holds the records (in the `system` table under
//! `core/managed-keys/<name>`, so behind the barrier, PINs and secrets
//! included) and the keys opened from them, and is the
//! [`ManagedKeys`] backend the sandbox opens engines' keys through (the
//! access rule is `keys::managed::open_for_mount`'s, not this module's).
//!
//! - Records are loaded at unseal and forgotten at seal, with every opened
//!   key (so every HSM session; the token logs out with its last one).
//! - A record is written only after its key opened: a create or update
//!   that cannot reach a usable key changes nothing (`write`).
//! - Opening runs off the runtime's workers under [`OPEN_TIMEOUT`]: a hung
//!   device holds neither a runtime worker nor the request past it (key
//!   operations are bounded by the engine call's deadline, `test/sign` by
//!   [`OPEN_TIMEOUT`]).
//! - A key whose open finishes after its record was deleted, replaced or
//!   forgotten (a seal) is dropped, not kept.
//!
//! Backends: `pkcs11/` (cryptoki, blocking: its calls run on tokio's
//! blocking pool), `awskms/`, `azure/` and `gcp/` (the clouds' SDKs, async:
//! their calls run on the KMS runtime, [`remote`]); `device.rs` is what
//! their opened keys share.

pub mod awskms;
pub mod azure;
pub mod device;
pub mod gcp;
pub mod pkcs11;
pub mod record;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use crate::api::ApiError;
use crate::config::KmsLibrary;
use crate::crypto::KeyHandle;
use crate::keys::managed::{ManagedFuture, ManagedKeyError, ManagedKeyInfo, ManagedKeys};
use crate::seal::Unsealed;
use crate::storage::Storage;

use self::record::{Backend, BackendType, Record};

/// Where records live in the `system` table.
const PREFIX: &str = "core/managed-keys/";

/// The longest an HSM or KMS may take to open a key.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(20);

/// The records by name; `None` while sealed.
type Records = Option<HashMap<String, Arc<Record>>>;

/// Opened keys by uuid, with the record each was opened from.
type Opened = HashMap<String, (Arc<Record>, Arc<dyn KeyHandle>)>;

/// The managed keys (see the module's doc).
pub struct ManagedKeyStore {
    storage: Storage,
    pkcs11: Arc<pkcs11::Libraries>,
    /// By name; `None` while sealed.
    records: Arc<RwLock<Records>>,
    /// Opened keys by uuid, for the record they were opened from.
    opened: Arc<Mutex<Opened>>,
    /// One create, update or delete at a time.
    writer: tokio::sync::Mutex<()>,
}

impl ManagedKeyStore {
    /// The store over `storage`, with the server's PKCS#11 libraries.
    pub fn new(storage: Storage, libraries: &[KmsLibrary]) -> Self {
        ManagedKeyStore {
            storage,
            pkcs11: Arc::new(pkcs11::Libraries::new(libraries)),
            records: Arc::new(RwLock::new(None)),
            opened: Arc::new(Mutex::new(HashMap::new())),
            writer: tokio::sync::Mutex::new(()),
        }
    }

    /// Loads every record (at unseal).
    pub fn load(&self, u: &Unsealed) -> Result<(), ApiError> {
        let mut records = HashMap::new();
        for name in self.storage.system_list(u, PREFIX)? {
            if let Some(bytes) = self.storage.system_get(u, &format!("{PREFIX}{name}"))? {
                let record: Record = serde_json::from_slice(&bytes).map_err(|e| {
                    ApiError::internal(format!("stored managed key {name:?} is unreadable: {e}"))
                })?;
                records.insert(name, Arc::new(record));
            }
        }
        *self.records.write().map_err(poisoned)? = Some(records);
        Ok(())
    }

    /// Forgets every record and closes every opened key (at seal).
    pub fn clear(&self) {
        if let Ok(mut records) = self.records.write() {
            *records = None;
        }
        if let Ok(mut opened) = self.opened.lock() {
            opened.clear();
        }
    }

    fn with_records<T>(
        &self,
        f: impl FnOnce(&HashMap<String, Arc<Record>>) -> T,
    ) -> Result<T, ManagedKeyError> {
        let records = self.records.read().map_err(|_| {
            ManagedKeyError::Unavailable("the managed-key table is poisoned".into())
        })?;
        match records.as_ref() {
            Some(records) => Ok(f(records)),
            None => Err(ManagedKeyError::Unavailable("the server is sealed".into())),
        }
    }

    /// The names of `kind`'s keys, sorted.
    pub fn list(&self, kind: BackendType) -> Result<Vec<String>, ApiError> {
        let mut names = self.with_records(|records| {
            records
                .values()
                .filter(|r| r.backend.kind() == kind)
                .map(|r| r.name.clone())
                .collect::<Vec<_>>()
        })?;
        names.sort();
        Ok(names)
    }

    /// The record `kind`/`name`; none if there is none of that type.
    pub fn get(&self, kind: BackendType, name: &str) -> Result<Option<Arc<Record>>, ApiError> {
        Ok(self.with_records(|records| {
            records
                .get(name)
                .filter(|r| r.backend.kind() == kind)
                .cloned()
        })?)
    }

    /// Creates or updates `kind`/`name` from a request's fields: the record
    /// is stored only once its key opened (see the module's doc).
    pub async fn write(
        &self,
        u: &Unsealed,
        kind: BackendType,
        name: &str,
        data: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), ApiError> {
        let _writing = self.writer.lock().await;
        let existing = self.with_records(|records| records.get(name).cloned())?;
        if let Some(other) = existing.as_ref().filter(|r| r.backend.kind() != kind) {
            return Err(ApiError::bad(format!(
                "the name {name:?} is already used by a managed key of type {}: names are unique across types",
                other.backend.kind().name()
            )));
        }
        let record = Arc::new(Record::from_request(kind, name, data, existing.as_deref())?);
        let key = self.open_record(&record).await?;
        let bytes = serde_json::to_vec(record.as_ref()).map_err(ApiError::internal)?;
        self.storage
            .system_write(u, &[(&format!("{PREFIX}{name}"), Some(&bytes))])?;
        if let Some(records) = self.records.write().map_err(poisoned)?.as_mut() {
            records.insert(name.to_string(), Arc::clone(&record));
        }
        if let Ok(mut opened) = self.opened.lock() {
            opened.insert(record.uuid.clone(), (record, key));
        }
        Ok(())
    }

    /// Deletes `kind`/`name`, unless a mount's `allowed_managed_keys`
    /// names it (`users`: the paths of those mounts, by the caller).
    pub async fn delete(
        &self,
        u: &Unsealed,
        kind: BackendType,
        name: &str,
        users: impl FnOnce(&Record) -> Vec<String>,
    ) -> Result<(), ApiError> {
        let _writing = self.writer.lock().await;
        let Some(record) = self.get(kind, name)? else {
            return Ok(());
        };
        let users = users(&record);
        if !users.is_empty() {
            return Err(ApiError::bad(format!(
                "managed key {name:?} is in use: the allowed_managed_keys of {} name it",
                users.join(", ")
            )));
        }
        self.storage
            .system_write(u, &[(&format!("{PREFIX}{name}"), None)])?;
        if let Some(records) = self.records.write().map_err(poisoned)?.as_mut() {
            records.remove(name);
        }
        if let Ok(mut opened) = self.opened.lock() {
            opened.remove(&record.uuid);
        }
        Ok(())
    }

    /// The opened key of `record`, opened (and kept) if it is not yet.
    pub fn key(&self, record: &Arc<Record>) -> ManagedFuture {
        if let Some(key) = self.cached(record) {
            return Box::pin(std::future::ready(Ok(key)));
        }
        let opening = self.open_record(record);
        let opened = Arc::clone(&self.opened);
        let records = Arc::clone(&self.records);
        let record = Arc::clone(record);
        Box::pin(async move {
            let key = opening.await?;
            // Kept only if its record is still the current one: an open
            // that outlived a delete, an update or a seal is dropped.
            let current = records
                .read()
                .ok()
                .and_then(|r| r.as_ref().and_then(|r| r.get(&record.name).cloned()))
                .is_some_and(|now| Arc::ptr_eq(&now, &record));
            if current {
                if let Ok(mut map) = opened.lock() {
                    map.insert(record.uuid.clone(), (record, Arc::clone(&key)));
                }
            }
            Ok(key)
        })
    }

    fn cached(&self, record: &Arc<Record>) -> Option<Arc<dyn KeyHandle>> {
        let opened = self.opened.lock().ok()?;
        let (from, key) = opened.get(&record.uuid)?;
        Arc::ptr_eq(from, record).then(|| Arc::clone(key))
    }

    /// Opens `record`'s key in its backend, off the runtime's workers and
    /// under [`OPEN_TIMEOUT`].
    fn open_record(
        &self,
        record: &Arc<Record>,
    ) -> impl Future<Output = Result<Arc<dyn KeyHandle>, ManagedKeyError>> + Send + 'static {
        let record = Arc::clone(record);
        let libraries = Arc::clone(&self.pkcs11);
        async move {
            let opening = async move {
                match &record.backend {
                    Backend::Pkcs11(params) => {
                        let params = params.clone();
                        tokio::task::spawn_blocking(move || {
                            pkcs11::open(&libraries, &record.name, &params, &record.generic)
                                .map(|k| Arc::new(k) as Arc<dyn KeyHandle>)
                        })
                        .await
                        .map_err(|e| {
                            ManagedKeyError::Unavailable(format!(
                                "opening the managed key failed: {e}"
                            ))
                        })?
                    }
                    Backend::Awskms(params) => {
                        awskms::open(record.name.clone(), params.clone(), record.generic.clone())
                            .await
                    }
                    Backend::Azurekeyvault(params) => {
                        azure::open(record.name.clone(), params.clone(), record.generic.clone())
                            .await
                    }
                    Backend::Gcpckms(params) => {
                        gcp::open(record.name.clone(), params.clone(), record.generic.clone()).await
                    }
                }
            };
            tokio::time::timeout(OPEN_TIMEOUT, opening)
                .await
                .unwrap_or_else(|_| {
                    Err(ManagedKeyError::Unavailable(format!(
                        "the key's backend did not answer within {} s",
                        OPEN_TIMEOUT.as_secs()
                    )))
                })
        }
    }
}

/// The runtime KMS clients run on (two threads of their own), so that
/// their I/O never runs on the server's workers.
static REMOTE: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();

/// Runs `work` on the KMS runtime and waits for it.
#[cfg_attr(
    not(any(feature = "awskms", feature = "azurekeyvault", feature = "gcpckms")),
    allow(dead_code)
)]
pub(crate) async fn remote<F>(work: F) -> Result<F::Output, RemoteError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let runtime = REMOTE.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("coffer-kms")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    });
    match runtime {
        Ok(runtime) => runtime
            .spawn(work)
            .await
            .map_err(|e| RemoteError(format!("a KMS call failed: {e}"))),
        Err(e) => Err(RemoteError(format!("the KMS runtime cannot start: {e}"))),
    }
}

/// A KMS call that did not finish (its runtime is gone, or it panicked).
#[derive(Debug)]
pub(crate) struct RemoteError(String);

impl std::fmt::Display for RemoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn poisoned<T>(_: T) -> ApiError {
    ApiError::internal("the managed-key table is poisoned")
}

impl ManagedKeys for ManagedKeyStore {
    fn find(&self, name_or_id: &str) -> Result<ManagedKeyInfo, ManagedKeyError> {
        self.with_records(|records| {
            records
                .values()
                .find(|r| r.name == name_or_id || r.uuid == name_or_id)
                .map(|r| ManagedKeyInfo {
                    name: r.name.clone(),
                    id: r.uuid.clone(),
                    any_mount: r.generic.any_mount,
                })
        })?
        .ok_or_else(|| ManagedKeyError::NotFound(format!("no managed key {name_or_id:?}")))
    }

    fn open(&self, info: &ManagedKeyInfo) -> ManagedFuture {
        let record = self.with_records(|records| records.get(&info.name).cloned());
        let record = match record {
            Ok(Some(record)) => record,
            Ok(None) => {
                let missing = ManagedKeyError::NotFound(format!("no managed key {:?}", info.name));
                return Box::pin(std::future::ready(Err(missing)));
            }
            Err(e) => return Box::pin(std::future::ready(Err(e))),
        };
        self.key(&record)
    }
}
