//! `log`: one line to the host's log, tagged with the mount, for both
//! contract versions. Lines are cut to 4 KiB so an engine cannot flood the
//! log with one call. Never traps.

use crate::sandbox::bindings::v01::coffer::engine::log::{Host, Level};
use crate::sandbox::InstanceState;

const MAX_LINE: usize = 4096;

impl InstanceState {
    /// Writes `message`, cut to [`MAX_LINE`] bytes, at `level`.
    pub(crate) fn log_line(&self, level: tracing::Level, message: &str) {
        let mut end = message.len().min(MAX_LINE);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let line = message.get(..end).unwrap_or_default();
        let mount = self.mount_label.as_str();
        match level {
            tracing::Level::TRACE => tracing::trace!(target: "engine", mount, "{line}"),
            tracing::Level::DEBUG => tracing::debug!(target: "engine", mount, "{line}"),
            tracing::Level::INFO => tracing::info!(target: "engine", mount, "{line}"),
            tracing::Level::WARN => tracing::warn!(target: "engine", mount, "{line}"),
            tracing::Level::ERROR => tracing::error!(target: "engine", mount, "{line}"),
        }
    }
}

impl Host for InstanceState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            Level::Trace => tracing::Level::TRACE,
            Level::Debug => tracing::Level::DEBUG,
            Level::Info => tracing::Level::INFO,
            Level::Warn => tracing::Level::WARN,
            Level::Error => tracing::Level::ERROR,
        };
        self.log_line(level, &message);
        Ok(())
    }
}
