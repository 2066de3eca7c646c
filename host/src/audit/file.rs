//! Vault's `file` audit device: its options and where it writes (a file
//! opened for append, standard output, or nowhere).
//!
//! Options are strings, as Vault stores them: `file_path` (or `path`;
//! `stdout` and `discard` in any case are special), `format` (`json` only),
//! `prefix`, `log_raw`, `hmac_accessor`, `elide_list_responses` (booleans by
//! Go's `strconv.ParseBool`) and `mode` (octal; `0` keeps an existing
//! file's mode; executable bits are cleared).
//!
//! Unlike Vault, which `chmod`s every path but `/dev/null`, the mode is set
//! only on a regular file (through the open descriptor), so pointing a
//! device at `/dev/full` or a FIFO never changes the device node; missing
//! parent folders are created 0700 rather than with the file's mode.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// The file device's options, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileConfig {
    /// Where lines go.
    pub target: Target,
    /// Log secrets in clear.
    pub log_raw: bool,
    /// Hash accessors (default true).
    pub hmac_accessor: bool,
    /// Replace a list's `keys` and `key_info` by their counts.
    pub elide_list_responses: bool,
    /// Written before each line.
    pub prefix: String,
    /// The file's permission bits; `None` keeps an existing file's mode.
    pub mode: Option<u32>,
}

/// Where a device writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A file, appended to.
    File(PathBuf),
    /// The server's standard output.
    Stdout,
    /// Nowhere (every write succeeds).
    Discard,
}

/// Go's `FileMode` type bits: a mode with any of them is not a regular file.
const GO_MODE_TYPE_BITS: u32 =
    (1 << 31) | (1 << 27) | (1 << 26) | (1 << 25) | (1 << 24) | (1 << 21) | (1 << 19);

impl FileConfig {
    /// Parses the options; the error is Vault's message.
    pub fn parse(options: &BTreeMap<String, String>) -> Result<Self, String> {
        let path = options
            .get("file_path")
            .or_else(|| options.get("path"))
            .ok_or_else(|| "file_path is required".to_string())?;
        let target = if path.eq_ignore_ascii_case("stdout") {
            Target::Stdout
        } else if path.eq_ignore_ascii_case("discard") {
            Target::Discard
        } else {
            Target::File(PathBuf::from(path))
        };
        match options.get("format").map(String::as_str) {
            None | Some("json") => {}
            Some("jsonx") => {
                return Err(
                    "jsonx formatting has been removed, consider switching to json by \
                     omitting \"format\" or setting it to \"json\""
                        .to_string(),
                )
            }
            Some(other) => return Err(format!("unknown format type {other:?}")),
        }
        let flag = |name: &str, default: bool| -> Result<bool, String> {
            match options.get(name) {
                None => Ok(default),
                Some(v) => parse_bool(v)
                    .ok_or_else(|| format!("strconv.ParseBool: parsing {v:?}: invalid syntax")),
            }
        };
        let mode = match options.get("mode") {
            None => Some(0o600),
            Some(raw) => {
                let m = u32::from_str_radix(raw, 8)
                    .ok()
                    .filter(|_| !raw.starts_with('+'))
                    .ok_or_else(|| format!("strconv.ParseUint: parsing {raw:?}: invalid syntax"))?;
                if m == 0 {
                    None
                } else if m & GO_MODE_TYPE_BITS != 0 {
                    return Err("file mode does not represent a regular file".to_string());
                } else {
                    Some(m & 0o777 & !0o111)
                }
            }
        };
        Ok(FileConfig {
            target,
            log_raw: flag("log_raw", false)?,
            hmac_accessor: flag("hmac_accessor", true)?,
            elide_list_responses: flag("elide_list_responses", false)?,
            prefix: options.get("prefix").cloned().unwrap_or_default(),
            mode,
        })
    }
}

pub use coffer_rules::parse_bool;

/// Where a device's lines go, with the lock that keeps them whole.
pub struct Sink {
    inner: SinkKind,
}

enum SinkKind {
    Discard,
    Stdout,
    File(Mutex<FileState>),
}

struct FileState {
    path: PathBuf,
    mode: Option<u32>,
    file: Option<File>,
}

impl Sink {
    /// A sink for `config`, with its file opened now: enabling a device
    /// fails at once, naming the path, if it cannot be opened.
    pub fn open(config: &FileConfig) -> Result<Self, String> {
        let sink = Sink::closed(config);
        if let SinkKind::File(state) = &sink.inner {
            let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
            if let Err(e) = state.open() {
                return Err(format!(
                    "sanity check failed; unable to open {:?} for writing: {e}",
                    state.path.display().to_string()
                ));
            }
        }
        Ok(sink)
    }

    /// A sink whose file is opened at its first write (a device restored
    /// from storage whose file cannot be opened yet).
    pub fn closed(config: &FileConfig) -> Self {
        let inner = match &config.target {
            Target::Discard => SinkKind::Discard,
            Target::Stdout => SinkKind::Stdout,
            Target::File(path) => SinkKind::File(Mutex::new(FileState {
                path: path.clone(),
                mode: config.mode,
                file: None,
            })),
        };
        Sink { inner }
    }

    /// Writes one whole line (the caller ends it with `\n`) in a single
    /// `write_all` under the sink's lock. A failed write to a file is tried
    /// once more on a freshly opened descriptor, as Vault does (the file
    /// may have been rotated away or its disk remounted).
    pub fn write_line(&self, line: &[u8]) -> io::Result<()> {
        match &self.inner {
            SinkKind::Discard => Ok(()),
            SinkKind::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(line)?;
                out.flush()
            }
            SinkKind::File(state) => {
                let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
                let first = state.open().and_then(|f| f.write_all(line));
                if first.is_ok() {
                    return Ok(());
                }
                state.file = None;
                state.open()?.write_all(line)
            }
        }
    }

    /// Whether lines go nowhere.
    pub fn is_discard(&self) -> bool {
        matches!(self.inner, SinkKind::Discard)
    }
}

impl FileState {
    /// The open file, opening it (create, append) if need be.
    fn open(&mut self) -> io::Result<&mut File> {
        if self.file.is_none() {
            self.file = Some(open_append(&self.path, self.mode)?);
        }
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("audit file is not open"))
    }
}

/// Opens `path` for appending, creating it (and missing parent folders,
/// 0700) with `mode`; `None` requires the file to exist and keeps its mode.
/// The mode of an existing regular file is set to `mode`; a device node or
/// FIFO is left as it is.
fn open_append(path: &Path, mode: Option<u32>) -> io::Result<File> {
    if mode.is_none() {
        std::fs::metadata(path)?;
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.exists() {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(parent)?;
        }
    }
    let mut options = OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    if let Some(m) = mode {
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, m);
    }
    let file = options.open(path)?;
    #[cfg(unix)]
    if let Some(m) = mode {
        use std::os::unix::fs::PermissionsExt;
        let meta = file.metadata()?;
        if meta.is_file() && meta.permissions().mode() & 0o7777 != m {
            file.set_permissions(std::fs::Permissions::from_mode(m))?;
        }
    }
    Ok(file)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn options_parse_as_vault_parses_them() {
        let c = FileConfig::parse(&options(&[("file_path", "/x/a.log")])).unwrap();
        assert_eq!(c.target, Target::File("/x/a.log".into()));
        assert!(!c.log_raw && c.hmac_accessor && !c.elide_list_responses);
        assert_eq!(c.mode, Some(0o600));
        assert_eq!(c.prefix, "");

        let c = FileConfig::parse(&options(&[
            ("path", "STDOUT"),
            ("log_raw", "1"),
            ("hmac_accessor", "False"),
            ("mode", "0755"),
            ("prefix", "audit: "),
        ]))
        .unwrap();
        assert_eq!(c.target, Target::Stdout);
        assert!(c.log_raw && !c.hmac_accessor);
        assert_eq!(c.mode, Some(0o644), "executable bits are cleared");
        assert_eq!(c.prefix, "audit: ");

        let c = FileConfig::parse(&options(&[("file_path", "Discard"), ("mode", "0")])).unwrap();
        assert_eq!(c.target, Target::Discard);
        assert_eq!(c.mode, None);

        let err = |pairs: &[(&str, &str)]| FileConfig::parse(&options(pairs)).unwrap_err();
        assert_eq!(err(&[]), "file_path is required");
        assert_eq!(
            err(&[("file_path", "/a"), ("format", "xml")]),
            "unknown format type \"xml\""
        );
        assert!(err(&[("file_path", "/a"), ("format", "jsonx")]).starts_with("jsonx"));
        assert!(err(&[("file_path", "/a"), ("log_raw", "maybe")]).contains("ParseBool"));
        assert!(err(&[("file_path", "/a"), ("hmac_accessor", "yes")]).contains("ParseBool"));
        assert!(err(&[("file_path", "/a"), ("mode", "abc")]).contains("ParseUint"));
        assert!(err(&[("file_path", "/a"), ("mode", "0800")]).contains("ParseUint"));
        assert!(err(&[("file_path", "/a"), ("mode", "+600")]).contains("ParseUint"));
        assert_eq!(
            err(&[("file_path", "/a"), ("mode", "20000000000")]),
            "file mode does not represent a regular file"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_file_is_created_with_its_mode_in_new_folders_and_appended_to() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/audit.log");
        let config = FileConfig::parse(&options(&[("file_path", path.to_str().unwrap())])).unwrap();
        let sink = Sink::open(&config).unwrap();
        sink.write_line(b"one\n").unwrap();
        sink.write_line(b"two\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\ntwo\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let parent = std::fs::metadata(path.parent().unwrap()).unwrap();
        assert_eq!(parent.permissions().mode() & 0o777, 0o700);

        // An existing file gets the configured mode; mode 0 keeps it.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let keep = FileConfig::parse(&options(&[
            ("file_path", path.to_str().unwrap()),
            ("mode", "0000"),
        ]))
        .unwrap();
        Sink::open(&keep).unwrap().write_line(b"three\n").unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o640
        );
        Sink::open(&config).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\ntwo\nthree\n");

        // Mode 0 on a missing file is refused, naming the path.
        let missing = dir.path().join("missing.log");
        let config = FileConfig::parse(&options(&[
            ("file_path", missing.to_str().unwrap()),
            ("mode", "0"),
        ]))
        .unwrap();
        let e = Sink::open(&config).err().unwrap();
        assert!(e.contains("missing.log"), "{e}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_device_fails_to_write_and_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let before = std::fs::metadata("/dev/full").unwrap().permissions().mode();
        let config = FileConfig::parse(&options(&[("file_path", "/dev/full")])).unwrap();
        let sink = Sink::open(&config).unwrap();
        let e = sink.write_line(b"line\n").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(28), "ENOSPC: {e}");
        let after = std::fs::metadata("/dev/full").unwrap().permissions().mode();
        assert_eq!(before, after);
    }

    #[test]
    fn an_unopenable_path_is_named() {
        let config = FileConfig::parse(&options(&[("file_path", "/proc/no/such/a.log")])).unwrap();
        let e = Sink::open(&config).err().unwrap();
        assert!(e.contains("/proc/no/such/a.log"), "{e}");
        // Discard never fails.
        let discard = FileConfig::parse(&options(&[("file_path", "discard")])).unwrap();
        let sink = Sink::open(&discard).unwrap();
        assert!(sink.is_discard());
        sink.write_line(b"x\n").unwrap();
    }
}
