//! The host's log, tagged with the mount's path. Natively (tests) lines go
//! to stderr.

/// How important a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Very detailed.
    Trace,
    /// For debugging.
    Debug,
    /// Normal operation.
    Info,
    /// Something looks wrong.
    Warn,
    /// Something failed.
    Error,
}

/// Writes one line (the host truncates it to 4 KiB). Never log secrets.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    if let Ok(imports) = crate::imports::bound() {
        imports.log(level, message);
    }
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message}");
}

/// [`log`] at debug level.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// [`log`] at info level.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// [`log`] at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// [`log`] at error level.
pub fn error(message: &str) {
    log(Level::Error, message);
}
