//! Contract 0.2's `storage`: the shared implementation
//! (`sandbox/host/storage.rs`, whose module doc says what traps), with
//! `list-page` as the bounded form of `list`.

use crate::sandbox::bindings::v02::coffer::engine::storage::Host;
use crate::sandbox::bindings::v02::coffer::engine::types::Error;
use crate::sandbox::host::storage::Stored;
use crate::sandbox::InstanceState;

fn v02<T>(r: Stored<T>) -> wasmtime::Result<Result<T, Error>> {
    r.map(|r| r.map_err(Error::from))
}

impl Host for InstanceState {
    fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        v02(self.storage_get(&key))
    }

    fn put(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), Error>> {
        v02(self.storage_set(key, Some(value)))
    }

    fn delete(&mut self, key: String) -> wasmtime::Result<Result<(), Error>> {
        v02(self.storage_set(key, None))
    }

    fn list(&mut self, prefix: String) -> wasmtime::Result<Result<Vec<String>, Error>> {
        v02(self.storage_list(&prefix, "", usize::MAX))
    }

    fn list_page(
        &mut self,
        prefix: String,
        after: String,
        limit: u32,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        if limit == 0 {
            return Ok(Err(Error::InvalidRequest(
                "list-page: a limit of 0 lists nothing".into(),
            )));
        }
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        v02(self.storage_list(&prefix, &after, limit))
    }

    fn generation(&mut self) -> wasmtime::Result<u64> {
        self.storage_generation()
    }
}
