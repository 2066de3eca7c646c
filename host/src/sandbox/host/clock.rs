//! `clock`: the host's wall clock. Never traps.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::sandbox::bindings::coffer::engine::clock::{Host, Timestamp};
use crate::sandbox::InstanceState;

impl Host for InstanceState {
    fn now(&mut self) -> wasmtime::Result<Timestamp> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_add(self.clock_offset);
        Ok(Timestamp {
            seconds: now.as_secs(),
            nanoseconds: now.subsec_nanos(),
        })
    }
}
