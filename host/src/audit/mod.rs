//! Audit devices: Vault's `file` device and the [`Broker`] that writes
//! every request and response to each enabled device.
//!
//! `entry.rs` is what the request path hands over and the JSON line Vault
//! writes for it; `data.rs` writes a payload into that line, every leaf
//! hashed and the whole capped at [`DATA_CAP`]; `hash.rs` is Vault's hashing
//! of secrets (`hmac-sha256:<hex>` under each device's own random 32-byte
//! key) and the rule for what stays in clear; `file.rs` is the device's
//! options and its file. The device table, keys
//! included, is one record in the system table ([`STORAGE_KEY`]); the
//! broker never touches storage itself: `enable` and `disable` hand the new
//! record to a `persist` callback before they change anything in memory.
//!
//! **Invariant:** with at least one device enabled, a request is logged by
//! at least one device or [`Broker::log_request`] fails (the request must
//! then not run); with none, logging is one atomic load. A line's payloads
//! cost one pass over their text and at most [`DATA_CAP`] bytes each
//! (`data.rs`); the request's is written once per device and reused by the
//! response line ([`Logged`]). Formatting a payload over [`OFFLOAD_ABOVE`]
//! bytes of text runs under `tokio::task::block_in_place` on a
//! multi-threaded runtime, so that other tasks move off the worker; a
//! payload given as a parsed value (a host reply) never is.

mod data;
mod entry;
mod file;
mod hash;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::SystemTime;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

pub use data::{DATA_CAP, TRUNCATED};
pub use entry::{AuthInfo, Operation, Payload, PolicyResults, RequestEntry, ResponseEntry};
pub use file::parse_bool;

use entry::Style;
use file::{FileConfig, Sink};
use hash::Hasher;

/// Where the device table is stored (Vault's key).
pub const STORAGE_KEY: &str = "core/audit";

/// The format version of the stored table.
const TABLE_VERSION: u32 = 1;

/// The only device type.
pub const FILE_TYPE: &str = "file";

/// Why an audit operation failed; the variant decides the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditError {
    /// The caller asked for something impossible (400), with Vault's
    /// message.
    BadRequest(String),
    /// Devices are enabled and none could write the line: the request path
    /// answers 500 `internal error` (Vault's answer) and, for a request,
    /// does not run it. The message (which devices failed, why) is for the
    /// server log.
    NotLogged(String),
    /// The stored table is unreadable, cannot be written, or none of its
    /// devices can be opened (500; at unseal: refuse to serve).
    Internal(String),
}

impl fmt::Display for AuditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditError::BadRequest(m) | AuditError::NotLogged(m) | AuditError::Internal(m) => {
                f.write_str(m)
            }
        }
    }
}

impl std::error::Error for AuditError {}

impl From<AuditError> for crate::api::ApiError {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::BadRequest(m) => crate::api::ApiError::BadRequest(m),
            // The devices' failures are in the server log already.
            AuditError::NotLogged(_) => crate::api::ApiError::Internal("internal error".into()),
            AuditError::Internal(m) => crate::api::ApiError::Internal(m),
        }
    }
}

/// A device to enable, parsed from `PUT sys/audit/<path>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnableRequest {
    /// Its path, without the trailing `/` (added here).
    pub path: String,
    /// Its type (only `file` exists).
    pub kind: String,
    /// Free text.
    pub description: String,
    /// The device's options, as strings.
    pub options: BTreeMap<String, String>,
    /// Vault's `local` (kept and listed; there is no replication).
    pub local: bool,
}

/// An enabled device as `GET sys/audit` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceSummary {
    /// Path, ending in `/`.
    pub path: String,
    /// Type.
    pub kind: String,
    /// Description.
    pub description: String,
    /// Options as given.
    pub options: BTreeMap<String, String>,
    /// `local`.
    pub local: bool,
}

/// What [`Broker::log_request`] wrote: the request's `data` as each device
/// logged it (each at most [`DATA_CAP`] bytes), so that the response line
/// neither reads the body again nor needs it kept. `Default` is "nothing
/// logged yet": the response line then writes `entry.data` itself.
#[derive(Default)]
pub struct Logged {
    data: Vec<(Arc<Device>, Option<Box<RawValue>>)>,
}

impl fmt::Debug for Logged {
    /// The number of devices only: the data is a request's.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Logged")
            .field("devices", &self.data.len())
            .finish()
    }
}

impl Logged {
    /// The request's data as `device` logged it; `None` if it did not log
    /// the request (it was enabled since, or it discards).
    fn data_for(&self, device: &Arc<Device>) -> Option<Option<&RawValue>> {
        self.data
            .iter()
            .find(|(d, _)| Arc::ptr_eq(d, device))
            .map(|(_, data)| data.as_deref())
    }
}

/// Payload text above this many bytes is formatted off the runtime's
/// worker (64 KiB: below it a line takes well under a millisecond).
pub const OFFLOAD_ABOVE: usize = 64 * 1024;

/// Runs `work` under `block_in_place` when `weight` (bytes of payload text)
/// is over [`OFFLOAD_ABOVE`] and this thread is a worker of a multi-threaded
/// runtime (the tasks queued on it move to another worker meanwhile);
/// otherwise here. A current-thread runtime (unit tests) runs it here.
fn offload<T>(weight: usize, work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let multi =
        Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
    if weight > OFFLOAD_ABOVE && multi {
        tokio::task::block_in_place(work)
    } else {
        work()
    }
}

/// Sends entries to the enabled devices. `Send + Sync`; one per server.
pub struct Broker {
    /// Whether the table has any device: the hot path's only read when
    /// there is none.
    enabled: AtomicBool,
    /// The devices; replaced whole, never edited in place.
    table: RwLock<Arc<Table>>,
    /// Serialises enable, disable, load and clear.
    changes: Mutex<()>,
}

#[derive(Default)]
struct Table {
    devices: Vec<Arc<Device>>,
}

struct Device {
    record: DeviceRecord,
    config: FileConfig,
    hasher: Hasher,
    sink: Sink,
}

/// A device as stored: its configuration and its HMAC key.
#[derive(Clone, Serialize, Deserialize)]
struct DeviceRecord {
    path: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    options: BTreeMap<String, String>,
    #[serde(default)]
    local: bool,
    /// The 32-byte HMAC key, base64.
    hmac_key: String,
}

#[derive(Serialize, Deserialize)]
struct StoredTable {
    version: u32,
    devices: Vec<DeviceRecord>,
}

impl Default for Broker {
    fn default() -> Self {
        Self::new()
    }
}

impl Broker {
    /// A broker with no device.
    pub fn new() -> Self {
        Broker {
            enabled: AtomicBool::new(false),
            table: RwLock::new(Arc::new(Table::default())),
            changes: Mutex::new(()),
        }
    }

    /// Whether any device is enabled. When it is not, `log_*` return at
    /// once; callers may skip building costly entries.
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    /// Logs a request before it runs. `Err` means devices are enabled and
    /// none wrote the line: do not run the request; answer 500. The
    /// [`Logged`] holds the request's `data` as each device wrote it, for
    /// [`Broker::log_response`].
    pub fn log_request(&self, entry: &RequestEntry<'_>) -> Result<Logged, AuditError> {
        if !self.is_enabled() {
            return Ok(Logged::default());
        }
        let table = self.snapshot();
        offload(entry.data.map_or(0, Payload::text_len), || {
            let time = entry::rfc3339(SystemTime::now(), true);
            let mut logged = Logged::default();
            table
                .write_each("request", entry.path, |device, style| {
                    let data = entry.data.and_then(|p| data::render(p, style, false));
                    let line = entry::request_line(style, &time, entry, data.as_deref());
                    logged.data.push((Arc::clone(device), data));
                    line
                })
                .map(|()| logged)
        })
    }

    /// Logs a response (or a failure) after the request ran, with the
    /// request's `data` from `logged` (a device enabled since is given
    /// `entry.data`, which the request path leaves out once the request
    /// has run). `Err` means devices are enabled and none wrote the line:
    /// answer 500.
    pub fn log_response(
        &self,
        entry: &RequestEntry<'_>,
        logged: &Logged,
        response: &ResponseEntry<'_>,
    ) -> Result<(), AuditError> {
        if !self.is_enabled() {
            return Ok(());
        }
        let table = self.snapshot();
        let weight = response
            .data
            .map_or(0, Payload::text_len)
            .saturating_add(entry.data.map_or(0, Payload::text_len));
        let elide = entry.operation == Operation::List;
        offload(weight, || {
            let time = entry::rfc3339(SystemTime::now(), true);
            table.write_each("response", entry.path, |device, style| {
                let fresh;
                let request_data = match logged.data_for(device) {
                    Some(data) => data,
                    None => {
                        fresh = entry.data.and_then(|p| data::render(p, style, false));
                        fresh.as_deref()
                    }
                };
                let response_data = response
                    .data
                    .and_then(|p| data::render(p, style, elide && style.elide_list_responses));
                entry::response_line(
                    style,
                    &time,
                    entry,
                    request_data,
                    response,
                    response_data.as_deref(),
                )
            })
        })
    }

    /// Forgets every device and key (at seal). Lines being written finish.
    pub fn clear(&self) {
        let _guard = self.changes.lock().unwrap_or_else(PoisonError::into_inner);
        self.install(Table::default());
    }

    /// Replaces the devices with those of a stored table (the bytes of
    /// [`STORAGE_KEY`], at unseal). A device whose file cannot be opened is
    /// kept (listed, and logging to it is tried again at each line) and
    /// logged; if the table has devices and none can be opened, this
    /// returns `Err` with the devices installed, so that every request
    /// fails until one can write: Vault refuses to unseal then.
    pub fn load(&self, stored: &[u8]) -> Result<(), AuditError> {
        let stored: StoredTable = serde_json::from_slice(stored)
            .map_err(|e| AuditError::Internal(format!("audit table is corrupt: {e}")))?;
        if stored.version != TABLE_VERSION {
            return Err(AuditError::Internal(format!(
                "audit table has version {}, this server reads version {TABLE_VERSION}",
                stored.version
            )));
        }
        let mut devices = Vec::with_capacity(stored.devices.len());
        let mut failures = Vec::new();
        for record in stored.devices {
            let (device, opened) = Device::restore(record)?;
            if let Err(e) = opened {
                tracing::error!(path = %device.record.path, "audit device cannot open its file: {e}");
                failures.push(format!("{}: {e}", device.record.path));
            }
            devices.push(Arc::new(device));
        }
        let total = devices.len();
        let _guard = self.changes.lock().unwrap_or_else(PoisonError::into_inner);
        self.install(Table { devices });
        if total > 0 && failures.len() == total {
            return Err(AuditError::Internal(format!(
                "failed to setup audit table: no audit device can write: {}",
                failures.join("; ")
            )));
        }
        Ok(())
    }

    /// The enabled devices, by path.
    pub fn list(&self) -> Vec<DeviceSummary> {
        self.snapshot()
            .devices
            .iter()
            .map(|d| DeviceSummary {
                path: d.record.path.clone(),
                kind: d.record.kind.clone(),
                description: d.record.description.clone(),
                options: d.record.options.clone(),
                local: d.record.local,
            })
            .collect()
    }

    /// Enables a device: checks the request, opens the file, writes Vault's
    /// test line (unless the option `skip_test` is true), hands the new
    /// stored table to `persist`, and only then starts logging to it.
    pub fn enable<F>(&self, request: EnableRequest, persist: F) -> Result<(), AuditError>
    where
        F: FnOnce(&[u8]) -> Result<(), String>,
    {
        let path = format!("{}/", request.path.trim_end_matches('/'));
        if path == "/" {
            return Err(AuditError::BadRequest(
                "backend path must be specified".into(),
            ));
        }
        if request.kind != FILE_TYPE {
            return Err(AuditError::BadRequest(format!(
                "unknown backend type: {:?}",
                request.kind
            )));
        }
        let _guard = self.changes.lock().unwrap_or_else(PoisonError::into_inner);
        let table = self.snapshot();
        if table
            .devices
            .iter()
            .any(|d| d.record.path.starts_with(&path) || path.starts_with(&d.record.path))
        {
            return Err(AuditError::BadRequest("path already in use".into()));
        }
        let config = FileConfig::parse(&request.options).map_err(AuditError::BadRequest)?;
        let sink = Sink::open(&config).map_err(AuditError::BadRequest)?;
        let skip_test = request
            .options
            .get("skip_test")
            .and_then(|v| parse_bool(v))
            .unwrap_or(false);
        if !skip_test {
            let mut line = config.prefix.clone().into_bytes();
            let body = entry::test_line(&entry::rfc3339(SystemTime::now(), true))
                .map_err(|e| AuditError::Internal(e.to_string()))?;
            line.extend_from_slice(&body);
            line.push(b'\n');
            sink.write_line(&line).map_err(|e| {
                AuditError::BadRequest(format!("audit backend failed test message: {e}"))
            })?;
        }
        let key: [u8; 32] = rand::random();
        let hasher = Hasher::new(&key)
            .ok_or_else(|| AuditError::Internal("cannot key the audit HMAC".into()))?;
        let device = Device {
            record: DeviceRecord {
                path,
                kind: request.kind,
                description: request.description,
                options: request.options,
                local: request.local,
                hmac_key: base64::engine::general_purpose::STANDARD.encode(key),
            },
            config,
            hasher,
            sink,
        };
        let mut devices = table.devices.clone();
        devices.push(Arc::new(device));
        devices.sort_by(|a, b| a.record.path.cmp(&b.record.path));
        let next = Table { devices };
        persist(&next.stored()?)
            .map_err(|e| AuditError::Internal(format!("failed to update audit table: {e}")))?;
        self.install(next);
        Ok(())
    }

    /// Disables the device at `path`; `Ok(false)` if there was none (Vault
    /// answers 204 then too). The new table is persisted first.
    pub fn disable<F>(&self, path: &str, persist: F) -> Result<bool, AuditError>
    where
        F: FnOnce(&[u8]) -> Result<(), String>,
    {
        let path = format!("{}/", path.trim_end_matches('/'));
        if path == "/" {
            return Err(AuditError::BadRequest(
                "audit device path must be specified".into(),
            ));
        }
        let _guard = self.changes.lock().unwrap_or_else(PoisonError::into_inner);
        let table = self.snapshot();
        if !table.devices.iter().any(|d| d.record.path == path) {
            return Ok(false);
        }
        let next = Table {
            devices: table
                .devices
                .iter()
                .filter(|d| d.record.path != path)
                .cloned()
                .collect(),
        };
        persist(&next.stored()?)
            .map_err(|e| AuditError::Internal(format!("failed to update audit table: {e}")))?;
        self.install(next);
        Ok(true)
    }

    /// `hmac-sha256:<hex>` of `input` under the key of the device at
    /// `path` (`sys/audit-hash`).
    pub fn hash(&self, path: &str, input: &str) -> Result<String, AuditError> {
        let path = format!("{}/", path.trim_start_matches('/').trim_end_matches('/'));
        let table = self.snapshot();
        let device = table
            .devices
            .iter()
            .find(|d| d.record.path == path)
            .ok_or_else(|| AuditError::BadRequest(format!("unknown audit backend {path:?}")))?;
        Ok(device.hasher.hash(input))
    }

    fn snapshot(&self) -> Arc<Table> {
        self.table
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Swaps in `table` (call with `changes` held).
    fn install(&self, table: Table) {
        let any = !table.devices.is_empty();
        *self.table.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(table);
        self.enabled.store(any, Ordering::Release);
    }
}

impl Table {
    /// Formats a line per device and writes it; succeeds if any device
    /// wrote (Vault's rule), or if there is no device. Devices that discard
    /// are not asked for a line.
    fn write_each<F>(&self, what: &str, request_path: &str, mut line: F) -> Result<(), AuditError>
    where
        F: FnMut(&Arc<Device>, &Style<'_>) -> serde_json::Result<Vec<u8>>,
    {
        if self.devices.is_empty() {
            return Ok(());
        }
        let mut failures = Vec::new();
        let mut logged = false;
        for device in &self.devices {
            match device.write(|style| line(device, style)) {
                Ok(()) => logged = true,
                Err(e) => {
                    tracing::error!(
                        device = %device.record.path,
                        path = %request_path,
                        "audit device failed to log {what}: {e}"
                    );
                    failures.push(format!("{}: {e}", device.record.path));
                }
            }
        }
        if logged {
            Ok(())
        } else {
            Err(AuditError::NotLogged(format!(
                "no audit backend succeeded in logging the {what} ({})",
                failures.join("; ")
            )))
        }
    }

    fn stored(&self) -> Result<Vec<u8>, AuditError> {
        let stored = StoredTable {
            version: TABLE_VERSION,
            devices: self.devices.iter().map(|d| d.record.clone()).collect(),
        };
        serde_json::to_vec(&stored).map_err(|e| AuditError::Internal(e.to_string()))
    }
}

impl Device {
    /// A device from its stored record, and whether its file opened.
    fn restore(record: DeviceRecord) -> Result<(Self, Result<(), String>), AuditError> {
        let corrupt = |why: &str| {
            AuditError::Internal(format!(
                "audit table is corrupt: device {:?}: {why}",
                record.path
            ))
        };
        let key = base64::engine::general_purpose::STANDARD
            .decode(&record.hmac_key)
            .ok()
            .filter(|k| k.len() == 32)
            .ok_or_else(|| corrupt("bad HMAC key"))?;
        let hasher = Hasher::new(&key).ok_or_else(|| corrupt("bad HMAC key"))?;
        let config = FileConfig::parse(&record.options).map_err(|e| corrupt(&e))?;
        let (sink, opened) = match Sink::open(&config) {
            Ok(sink) => (sink, Ok(())),
            Err(e) => (Sink::closed(&config), Err(e)),
        };
        Ok((
            Device {
                record,
                config,
                hasher,
                sink,
            },
            opened,
        ))
    }

    fn write<F>(&self, line: F) -> Result<(), String>
    where
        F: FnOnce(&Style<'_>) -> serde_json::Result<Vec<u8>>,
    {
        if self.sink.is_discard() {
            return Ok(());
        }
        let style = Style {
            hasher: &self.hasher,
            raw: self.config.log_raw,
            hmac_accessor: self.config.hmac_accessor,
            elide_list_responses: self.config.elide_list_responses,
        };
        let body = line(&style).map_err(|e| format!("cannot format the entry: {e}"))?;
        let mut out = Vec::with_capacity(self.config.prefix.len() + body.len() + 1);
        out.extend_from_slice(self.config.prefix.as_bytes());
        out.extend_from_slice(&body);
        out.push(b'\n');
        self.sink.write_line(&out).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests;
