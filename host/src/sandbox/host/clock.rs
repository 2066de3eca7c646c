//! `clock`: the host's wall clock, for both contract versions. Never traps.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::sandbox::bindings::v01::coffer::engine::clock::{Host, Timestamp};
use crate::sandbox::InstanceState;

impl InstanceState {
    /// Now, since the Unix epoch (plus the test clock's offset).
    pub(crate) fn now(&self) -> Duration {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_add(self.clock_offset)
    }
}

impl Host for InstanceState {
    fn now(&mut self) -> wasmtime::Result<Timestamp> {
        let now = InstanceState::now(self);
        Ok(Timestamp {
            seconds: now.as_secs(),
            nanoseconds: now.subsec_nanos(),
        })
    }
}
