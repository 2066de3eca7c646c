//! `log`: one line to the host's log, tagged with the mount. Lines are cut
//! to 4 KiB so an engine cannot flood the log with one call. Never traps.

use crate::sandbox::bindings::coffer::engine::log::{Host, Level};
use crate::sandbox::InstanceState;

const MAX_LINE: usize = 4096;

impl Host for InstanceState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let mut end = message.len().min(MAX_LINE);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let line = message.get(..end).unwrap_or_default();
        let mount = self.mount_label.as_str();
        match level {
            Level::Trace => tracing::trace!(target: "engine", mount, "{line}"),
            Level::Debug => tracing::debug!(target: "engine", mount, "{line}"),
            Level::Info => tracing::info!(target: "engine", mount, "{line}"),
            Level::Warn => tracing::warn!(target: "engine", mount, "{line}"),
            Level::Error => tracing::error!(target: "engine", mount, "{line}"),
        }
        Ok(())
    }
}
