//! Command line and configuration file: everything the server is told
//! before it starts, checked, with errors that name the problem.
//!
//! The file uses Vault's HCL shape where it applies:
//!
//! ```hcl
//! storage "redb" { path = "/var/lib/coffer/coffer.redb" }
//! listener "tcp" {
//!   address       = "127.0.0.1:8200"
//!   tls_disable   = false
//!   tls_cert_file = "/etc/coffer/cert.pem"
//!   tls_key_file  = "/etc/coffer/key.pem"
//!   tls_min_version = "tls12"
//! }
//! plugin_directory    = "/var/lib/coffer/plugins"
//! engine_call_timeout = "30s"    # Coffer: deadline of one engine call
//! engine_memory_limit = "64MiB"  # Coffer: memory cap of one engine instance
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use hcl::{BlockLabel, Expression};

use crate::http::tls::MinVersion;
use crate::sandbox::Limits;

/// The `coffer` command line.
#[derive(Parser, Debug)]
#[command(
    name = "coffer",
    version,
    about = "A secrets server that speaks Vault's HTTP API"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Runs the server.
    Server(ServerArgs),
}

/// `coffer server` flags.
#[derive(Args, Debug)]
pub struct ServerArgs {
    /// A configuration file in Vault's HCL shape.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Development mode: temporary storage, `kv` at `secret/`, a known root
    /// token. Never for real secrets.
    #[arg(long)]
    pub dev: bool,
    /// The root token in dev mode (default: generated).
    #[arg(long, requires = "dev")]
    pub dev_root_token_id: Option<String>,
    /// Where to listen in dev mode.
    #[arg(long, default_value = "127.0.0.1:8200", requires = "dev")]
    pub dev_listen_address: String,
    /// The plugin directory in dev mode.
    #[arg(long, requires = "dev")]
    pub dev_plugin_dir: Option<PathBuf>,
}

/// A listener.
#[derive(Clone, Debug)]
pub struct Listener {
    /// `host:port`.
    pub address: String,
    /// TLS settings, unless `tls_disable`.
    pub tls: Option<TlsFiles>,
}

/// TLS material for a listener.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// PEM certificate chain.
    pub cert_file: PathBuf,
    /// PEM private key.
    pub key_file: PathBuf,
    /// Lowest accepted version.
    pub min_version: MinVersion,
}

/// Where data lives.
#[derive(Clone, Debug)]
pub enum StorageConfig {
    /// A redb file.
    Redb(PathBuf),
    /// A redb file in a fresh temporary directory, removed at exit: dev only.
    DevTemporary,
}

/// A checked server configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Storage.
    pub storage: StorageConfig,
    /// The listener.
    pub listener: Listener,
    /// The plugin directory.
    pub plugin_dir: Option<PathBuf>,
    /// Engine limits.
    pub limits: Limits,
    /// Dev mode's root token (`Some` in dev mode, possibly empty = generate).
    pub dev_root_token: Option<Option<String>>,
    /// Seconds between periodic engine calls.
    pub periodic_interval: Duration,
}

/// The largest `engine_max_concurrent_calls`.
const MAX_CONCURRENT_CALLS: usize = 1_000_000;

/// Default engine limits.
pub fn default_limits() -> Limits {
    Limits {
        // Wall time, host functions included: generating an RSA-4096 key
        // alone can take several seconds on a loaded machine.
        call_timeout: Duration::from_secs(30),
        memory_bytes: 64 << 20,
        max_concurrent_calls: 64,
        max_reuse: 10_000,
        clock_offset: Duration::ZERO,
    }
}

impl Config {
    /// The configuration the flags (and file, if any) describe.
    pub fn from_args(args: &ServerArgs) -> anyhow::Result<Config> {
        if args.dev {
            let mut config = Config {
                storage: StorageConfig::DevTemporary,
                listener: Listener {
                    address: args.dev_listen_address.clone(),
                    tls: None,
                },
                plugin_dir: args.dev_plugin_dir.clone(),
                limits: default_limits(),
                dev_root_token: Some(args.dev_root_token_id.clone()),
                periodic_interval: Duration::from_secs(60),
            };
            if let Some(file) = &args.config {
                // Vault allows -dev with -config: the file tunes limits.
                let parsed = parse_file_for_dev(file)?;
                config.limits = parsed.limits;
                config.periodic_interval = parsed.periodic_interval;
                if parsed.plugin_dir.is_some() {
                    config.plugin_dir = parsed.plugin_dir;
                }
            }
            return Ok(config);
        }
        match &args.config {
            Some(file) => parse_file(file),
            None => anyhow::bail!("either --dev or --config FILE is required"),
        }
    }
}

fn parse_file(file: &Path) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", file.display()))?;
    parse(&text).map_err(|e| anyhow::anyhow!("config file {}: {e}", file.display()))
}

/// A file given with `--dev`: storage and listener blocks are optional (dev
/// mode supplies its own); engine settings and the plugin directory apply.
fn parse_file_for_dev(file: &Path) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", file.display()))?;
    parse_with(&text, true).map_err(|e| anyhow::anyhow!("config file {}: {e}", file.display()))
}

/// Parses a configuration text.
pub fn parse(text: &str) -> anyhow::Result<Config> {
    parse_with(text, false)
}

fn parse_with(text: &str, dev: bool) -> anyhow::Result<Config> {
    let body = hcl::parse(text).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut storage = None;
    let mut listener = None;
    let mut plugin_dir = None;
    let mut limits = default_limits();
    let mut periodic_interval = Duration::from_secs(60);
    for attr in body.attributes() {
        let key = attr.key.as_str();
        match key {
            "plugin_directory" => plugin_dir = Some(PathBuf::from(string(&attr.expr, key)?)),
            "engine_call_timeout" => limits.call_timeout = duration(&attr.expr, key)?,
            "engine_periodic_interval" => periodic_interval = duration(&attr.expr, key)?,
            "dev_insecure_clock_offset" => {
                limits.clock_offset = duration(&attr.expr, key)?;
                tracing::warn!(
                    "dev_insecure_clock_offset is set: engines see a clock {:?} ahead",
                    limits.clock_offset
                );
            }
            "engine_memory_limit" => limits.memory_bytes = size(&attr.expr, key)?,
            "engine_max_concurrent_calls" => {
                // Beyond a semaphore's maximum, making a mount panics.
                limits.max_concurrent_calls = usize::try_from(integer(&attr.expr, key)?)
                    .ok()
                    .filter(|n| *n <= MAX_CONCURRENT_CALLS)
                    .ok_or_else(|| {
                        anyhow::anyhow!("{key} must be at most {MAX_CONCURRENT_CALLS}")
                    })?
            }
            "api_addr" | "cluster_addr" | "ui" | "disable_mlock" | "log_level" | "cluster_name"
            | "default_lease_ttl" | "max_lease_ttl" | "disable_cache" | "pid_file" => {
                tracing::warn!("config: {key:?} is accepted for compatibility and ignored");
            }
            other => anyhow::bail!("unknown setting {other:?}"),
        }
    }
    for block in body.blocks() {
        let label = block.labels.first().map(label);
        match (block.identifier.as_str(), label.as_deref()) {
            ("storage", Some("redb")) => {
                let mut path = None;
                for attr in block.body.attributes() {
                    match attr.key.as_str() {
                        "path" => path = Some(PathBuf::from(string(&attr.expr, "storage.path")?)),
                        other => anyhow::bail!("unknown setting {other:?} in storage \"redb\""),
                    }
                }
                let path = path.ok_or_else(|| anyhow::anyhow!("storage \"redb\" needs a path"))?;
                storage = Some(StorageConfig::Redb(path));
            }
            ("storage", Some(other)) => {
                anyhow::bail!("unsupported storage {other:?}: only \"redb\"")
            }
            ("listener", Some("tcp")) => listener = Some(parse_listener(&block.body)?),
            ("listener", Some(other)) => {
                anyhow::bail!("unsupported listener {other:?}: only \"tcp\"")
            }
            ("telemetry" | "seal" | "service_registration", _) => {
                tracing::warn!("config: block {:?} is ignored", block.identifier.as_str());
            }
            (other, _) => anyhow::bail!("unknown block {other:?}"),
        }
    }
    if dev {
        storage = storage.or(Some(StorageConfig::DevTemporary));
        listener = listener.or(Some(Listener {
            address: String::new(),
            tls: None,
        }));
    }
    Ok(Config {
        storage: storage.ok_or_else(|| anyhow::anyhow!("a storage \"redb\" block is required"))?,
        listener: listener
            .ok_or_else(|| anyhow::anyhow!("a listener \"tcp\" block is required"))?,
        plugin_dir,
        limits,
        dev_root_token: None,
        periodic_interval,
    })
}

fn parse_listener(body: &hcl::Body) -> anyhow::Result<Listener> {
    let mut address = "127.0.0.1:8200".to_string();
    let mut disable = false;
    let mut cert = None;
    let mut key = None;
    let mut min_version = MinVersion::Tls12;
    for attr in body.attributes() {
        let k = attr.key.as_str();
        match k {
            "address" => address = string(&attr.expr, k)?,
            "tls_disable" => disable = boolean(&attr.expr, k)?,
            "tls_cert_file" => cert = Some(PathBuf::from(string(&attr.expr, k)?)),
            "tls_key_file" => key = Some(PathBuf::from(string(&attr.expr, k)?)),
            "tls_min_version" => {
                min_version = match string(&attr.expr, k)?.as_str() {
                    "tls12" => MinVersion::Tls12,
                    "tls13" => MinVersion::Tls13,
                    other => anyhow::bail!(
                        "tls_min_version {other:?} is not supported: use tls12 or tls13"
                    ),
                }
            }
            "cluster_address" | "tls_disable_client_certs" | "proxy_protocol_behavior" => {
                tracing::warn!("config: listener setting {k:?} is ignored");
            }
            other => anyhow::bail!("unknown setting {other:?} in listener \"tcp\""),
        }
    }
    let tls = if disable {
        None
    } else {
        match (cert, key) {
            (Some(cert_file), Some(key_file)) => Some(TlsFiles {
                cert_file,
                key_file,
                min_version,
            }),
            _ => anyhow::bail!(
                "listener \"tcp\" needs tls_cert_file and tls_key_file, or tls_disable = true"
            ),
        }
    };
    Ok(Listener { address, tls })
}

fn label(l: &BlockLabel) -> String {
    match l {
        BlockLabel::Identifier(i) => i.as_str().to_string(),
        BlockLabel::String(s) => s.clone(),
    }
}

fn string(e: &Expression, key: &str) -> anyhow::Result<String> {
    match e {
        Expression::String(s) => Ok(s.clone()),
        _ => anyhow::bail!("{key} must be a string"),
    }
}

fn boolean(e: &Expression, key: &str) -> anyhow::Result<bool> {
    match e {
        Expression::Bool(b) => Ok(*b),
        Expression::String(s) if s == "true" || s == "1" => Ok(true),
        Expression::String(s) if s == "false" || s == "0" => Ok(false),
        Expression::Number(n) => Ok(n.as_u64() == Some(1)),
        _ => anyhow::bail!("{key} must be a boolean"),
    }
}

fn integer(e: &Expression, key: &str) -> anyhow::Result<u64> {
    match e {
        Expression::Number(n) => n
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("{key} must be a whole number")),
        Expression::String(s) => s
            .parse()
            .map_err(|_| anyhow::anyhow!("{key} must be a whole number")),
        _ => anyhow::bail!("{key} must be a whole number"),
    }
}

/// The longest duration a setting takes (365 days): a deadline this far
/// out still fits in an `Instant`, which a larger one (say `u64::MAX`
/// seconds) would overflow, panicking every engine call.
const MAX_DURATION: Duration = Duration::from_secs(365 * 86_400);

fn duration(e: &Expression, key: &str) -> anyhow::Result<Duration> {
    let parsed = match e {
        Expression::Number(n) => n.as_u64().map(Duration::from_secs),
        Expression::String(s) => match s.strip_suffix("ms") {
            Some(ms) => ms.parse::<u64>().ok().map(Duration::from_millis),
            None => crate::fields::parse_duration(s).map(Duration::from_secs),
        },
        _ => None,
    };
    match parsed {
        // Zero too is refused ("0ms" once passed): a zero interval panics
        // tokio's ticker, and a zero deadline fails every call.
        Some(d) if !d.is_zero() && d <= MAX_DURATION => Ok(d),
        _ => {
            anyhow::bail!("{key} must be a positive duration of at most 365 days, such as \"10s\"")
        }
    }
}

fn size(e: &Expression, key: &str) -> anyhow::Result<usize> {
    let bytes = match e {
        Expression::Number(n) => n.as_u64(),
        Expression::String(s) => {
            let s = s.trim();
            let (num, mul) = if let Some(n) = s.strip_suffix("GiB") {
                (n, 1u64 << 30)
            } else if let Some(n) = s.strip_suffix("MiB") {
                (n, 1 << 20)
            } else if let Some(n) = s.strip_suffix("KiB") {
                (n, 1 << 10)
            } else {
                (s, 1)
            };
            num.trim()
                .parse::<u64>()
                .ok()
                .and_then(|n| n.checked_mul(mul))
        }
        _ => None,
    };
    match bytes.and_then(|b| usize::try_from(b).ok()) {
        Some(b) if b >= (1 << 20) => Ok(b),
        _ => anyhow::bail!("{key} must be a size of at least 1MiB such as \"64MiB\""),
    }
}

#[cfg(test)]
mod fuzz;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_vault_style_file_parses() {
        let c = parse(
            r#"
            storage "redb" { path = "/tmp/x.redb" }
            listener "tcp" {
              address = "127.0.0.1:0"
              tls_disable = true
            }
            plugin_directory = "/tmp/plugins"
            engine_call_timeout = "1s"
            engine_memory_limit = "32MiB"
            "#,
        )
        .unwrap();
        assert!(matches!(c.storage, StorageConfig::Redb(ref p) if p == Path::new("/tmp/x.redb")));
        assert_eq!(c.listener.address, "127.0.0.1:0");
        assert!(c.listener.tls.is_none());
        assert_eq!(c.limits.call_timeout, Duration::from_secs(1));
        assert_eq!(c.limits.memory_bytes, 32 << 20);
    }

    #[test]
    fn mistakes_are_named() {
        let e = parse("storage \"redb\" {}\nlistener \"tcp\" { tls_disable = true }").unwrap_err();
        assert!(e.to_string().contains("path"), "{e}");
        let e = parse("storage \"redb\" { path = \"x\" }").unwrap_err();
        assert!(e.to_string().contains("listener"), "{e}");
        let e = parse("storage \"redb\" { path = \"x\" }\nlistener \"tcp\" {}").unwrap_err();
        assert!(e.to_string().contains("tls_cert_file"), "{e}");
        let e = parse("bogus = 1").unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
        assert!(parse("storage {").is_err());
    }
}
