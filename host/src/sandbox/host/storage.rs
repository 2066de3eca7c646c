//! `storage`: the calling mount's data, through the call's [`CallState`].
//!
//! Answered as a WIT error: a storage failure of the database itself (the
//! engine may report it), and a key over [`MAX_KEY_LEN`] (an
//! `invalid-request`, since keys usually come from client input). Traps: a
//! storage call outside a request (no call state, e.g. from a component's
//! start function), or a call whose buffered writes pass
//! [`MAX_WRITE_BYTES`]: the buffer is bounded so an engine cannot hold the
//! host's memory hostage.
//!
//! [`CallState`]: crate::sandbox::CallState

use crate::sandbox::bindings::coffer::engine::storage::Host;
use crate::sandbox::bindings::coffer::engine::types::Error;
use crate::sandbox::InstanceState;
use crate::storage::fold_listing;

/// The most bytes (keys and values) one call may buffer for writing.
pub const MAX_WRITE_BYTES: usize = 64 << 20;
/// The longest key an engine may use.
pub const MAX_KEY_LEN: usize = 4096;

/// A key over the limit is answered as a WIT error, not a trap: engines
/// usually build keys from client input, so it is the client's mistake.
fn check_key(key: &str) -> Result<(), Error> {
    if key.len() > MAX_KEY_LEN {
        return Err(Error::InvalidRequest(format!(
            "path too long: storage keys are limited to {MAX_KEY_LEN} bytes"
        )));
    }
    Ok(())
}

impl Host for InstanceState {
    fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        if let Err(e) = check_key(&key) {
            return Ok(Err(e));
        }
        let call = self.call_mut()?;
        if let Some(pending) = call.writes.get(&key) {
            return Ok(Ok(pending.clone()));
        }
        Ok(call
            .snapshot
            .get(&key)
            .map_err(|e| Error::Internal(e.to_string())))
    }

    fn put(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), Error>> {
        if let Err(e) = check_key(&key) {
            return Ok(Err(e));
        }
        let call = self.call_mut()?;
        call.write_bytes = call.write_bytes.saturating_add(key.len() + value.len());
        if call.write_bytes > MAX_WRITE_BYTES {
            wasmtime::bail!(
                "engine buffered more than {MAX_WRITE_BYTES} bytes of writes in one call"
            );
        }
        call.writes.insert(key, Some(value));
        Ok(Ok(()))
    }

    fn delete(&mut self, key: String) -> wasmtime::Result<Result<(), Error>> {
        if let Err(e) = check_key(&key) {
            return Ok(Err(e));
        }
        let call = self.call_mut()?;
        call.write_bytes = call.write_bytes.saturating_add(key.len());
        if call.write_bytes > MAX_WRITE_BYTES {
            wasmtime::bail!(
                "engine buffered more than {MAX_WRITE_BYTES} bytes of writes in one call"
            );
        }
        call.writes.insert(key, None);
        Ok(Ok(()))
    }

    fn list(&mut self, prefix: String) -> wasmtime::Result<Result<Vec<String>, Error>> {
        if let Err(e) = check_key(&prefix) {
            return Ok(Err(e));
        }
        let call = self.call_mut()?;
        let pending = call
            .writes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix));
        if pending.clone().next().is_none() {
            // Fast path: nothing of ours under the prefix, the snapshot decides.
            return Ok(call
                .snapshot
                .list(&prefix)
                .map_err(|e| Error::Internal(e.to_string())));
        }
        // Merge the snapshot's full key set with the call's own writes.
        let mut keys: std::collections::BTreeSet<String> = match call.snapshot.keys_under(&prefix) {
            Ok(keys) => keys.into_iter().collect(),
            Err(e) => return Ok(Err(Error::Internal(e.to_string()))),
        };
        for (key, value) in pending {
            match value {
                Some(_) => keys.insert(key.clone()),
                None => keys.remove(key),
            };
        }
        let rel: Vec<&str> = keys
            .iter()
            .filter_map(|k| k.strip_prefix(prefix.as_str()))
            .collect();
        Ok(Ok(fold_listing(rel.into_iter())))
    }

    fn generation(&mut self) -> wasmtime::Result<u64> {
        Ok(self.call_mut()?.generation)
    }
}
