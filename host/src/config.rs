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
//!   # Bounds on clients (these are the defaults):
//!   http_read_header_timeout = "10s"   # accept (or TLS) to a complete head
//!   http_read_timeout        = "30s"   # head to the end of the body (408)
//!   http_idle_timeout        = "5m"    # no request in flight, after an answer
//!   max_request_size         = 33554432 # body bytes (413); "32MiB" works too
//!   max_request_duration     = "90s"   # head to answer (503)
//!   tls_handshake_timeout    = "10s"   # Coffer: accept to a finished handshake
//!   max_connections          = 4096    # Coffer: open connections at most
//!   http_max_header_bytes    = "64KiB" # Coffer: request head size (431)
//! }
//! plugin_directory    = "/var/lib/coffer/plugins"
//! engine_call_timeout = "30s"    # Coffer: deadline of one engine call
//! engine_memory_limit = "256MiB" # Coffer: memory cap of one engine instance
//! engine_max_concurrent_calls = 64 # Coffer: calls running at once per mount
//! engine_max_queued_calls = 256    # Coffer: calls waiting per mount (then 503)
//! engine_queue_timeout = "10s"     # Coffer: longest wait for a running slot
//! graceful_shutdown_timeout = "30s" # Coffer: how long requests in flight may finish at shutdown
//! # Auto-unseal (instead of Shamir shares; `disabled = "true"` migrates
//! # back to Shamir), one of:
//! seal "pkcs11" {
//!   lib          = "/usr/lib/softhsm/libsofthsm2.so"
//!   token_label  = "vault"          # or slot = "1234"
//!   pin          = "1234"
//!   key_label    = "coffer-root"    # an AES-256 key
//!   generate_key = "true"           # made at init when missing
//! }
//! seal "awskms" {
//!   region     = "us-east-1"
//!   kms_key_id = "alias/coffer-seal" # a symmetric key
//!   # access_key, secret_key (else the environment's), endpoint
//! }
//! # PKCS#11 libraries that managed keys (`sys/managed-keys/pkcs11`) name:
//! kms_library "pkcs11" {
//!   name    = "softhsm"
//!   library = "/usr/lib/softhsm/libsofthsm2.so"
//! }
//! ```
//!
//! Durations are seconds or Vault's `"90s"`, `"5m"`, `"1h30m"`, and
//! `"500ms"`; the HTTP bounds are between 1 ms and 24 h. `--dev` with
//! `--config` takes the file's engine settings, plugin directory, listener
//! bounds and `graceful_shutdown_timeout`; dev mode keeps its own address,
//! storage and plain HTTP.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use hcl::{BlockLabel, Expression};

use crate::http::tls::MinVersion;
use crate::http::{self, MIN_HEADER_BYTES};
use crate::sandbox::Limits;
use crate::seal::auto::{AwsSeal, Pkcs11Seal, SealDevice, SealStanza, Secret};

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
    /// Bounds on what clients may hold.
    pub limits: http::Limits,
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

/// A `kms_library "pkcs11"` stanza: a PKCS#11 library that managed keys
/// name (Vault's shape).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KmsLibrary {
    /// The name managed keys give (`library`), lowercased: Vault compares
    /// them without case.
    pub name: String,
    /// The shared object's path.
    pub library: PathBuf,
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
    /// How long requests in flight may finish after a shutdown signal.
    pub graceful_shutdown_timeout: Duration,
    /// The PKCS#11 libraries managed keys may name.
    pub kms_libraries: Vec<KmsLibrary>,
    /// The auto-unseal stanza, if any (`seal "pkcs11"` or `seal "awskms"`).
    pub seal: Option<SealStanza>,
}

/// The largest `engine_max_concurrent_calls`.
const MAX_CONCURRENT_CALLS: usize = 1_000_000;

/// Default engine limits.
pub fn default_limits() -> Limits {
    Limits {
        // Wall time, host functions included: generating an RSA-4096 key
        // alone can take several seconds on a loaded machine.
        call_timeout: Duration::from_secs(30),
        // Room for a request near the 32 MiB body limit (the body, its
        // parse and the answer); instances that grew past 32 MiB are not
        // kept warm (sandbox::limits::KEEP_WARM_BYTES).
        memory_bytes: 256 << 20,
        max_concurrent_calls: 64,
        max_queued_calls: 256,
        queue_timeout: Duration::from_secs(10),
        max_reuse: 10_000,
        clock_offset: Duration::ZERO,
    }
}

/// Default listener bounds (Vault's where Vault has the setting).
pub fn default_http_limits() -> http::Limits {
    http::Limits {
        read_header_timeout: Duration::from_secs(10),
        read_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(5 * 60),
        tls_handshake_timeout: Duration::from_secs(10),
        max_request_size: 32 << 20,
        max_request_duration: Duration::from_secs(90),
        max_connections: 4096,
        max_header_bytes: 64 << 10,
    }
}

/// Default `graceful_shutdown_timeout`.
pub const DEFAULT_GRACEFUL_SHUTDOWN: Duration = Duration::from_secs(30);

/// The longest any HTTP bound or the shutdown deadline may be.
const MAX_BOUND: Duration = Duration::from_secs(24 * 3600);

impl Config {
    /// The configuration the flags (and file, if any) describe.
    pub fn from_args(args: &ServerArgs) -> anyhow::Result<Config> {
        if args.dev {
            let mut config = Config {
                storage: StorageConfig::DevTemporary,
                listener: Listener {
                    address: args.dev_listen_address.clone(),
                    tls: None,
                    limits: default_http_limits(),
                },
                plugin_dir: args.dev_plugin_dir.clone(),
                limits: default_limits(),
                dev_root_token: Some(args.dev_root_token_id.clone()),
                periodic_interval: Duration::from_secs(60),
                graceful_shutdown_timeout: DEFAULT_GRACEFUL_SHUTDOWN,
                kms_libraries: Vec::new(),
                // Dev mode is unsealed with its one share: no seal stanza.
                seal: None,
            };
            if let Some(file) = &args.config {
                // Vault allows -dev with -config: the file tunes limits.
                let parsed = parse_file_for_dev(file)?;
                config.limits = parsed.limits;
                config.listener.limits = parsed.listener.limits;
                config.graceful_shutdown_timeout = parsed.graceful_shutdown_timeout;
                config.periodic_interval = parsed.periodic_interval;
                config.kms_libraries = parsed.kms_libraries;
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
    let mut graceful_shutdown_timeout = DEFAULT_GRACEFUL_SHUTDOWN;
    let mut kms_libraries: Vec<KmsLibrary> = Vec::new();
    let mut seal: Option<SealStanza> = None;
    for attr in body.attributes() {
        let key = attr.key.as_str();
        match key {
            "plugin_directory" => plugin_dir = Some(PathBuf::from(string(&attr.expr, key)?)),
            "engine_call_timeout" => limits.call_timeout = duration(&attr.expr, key)?,
            "engine_periodic_interval" => periodic_interval = duration(&attr.expr, key)?,
            "graceful_shutdown_timeout" => graceful_shutdown_timeout = bound(&attr.expr, key)?,
            "dev_insecure_clock_offset" => {
                limits.clock_offset = duration(&attr.expr, key)?;
                tracing::warn!(
                    "dev_insecure_clock_offset is set: engines see a clock {:?} ahead",
                    limits.clock_offset
                );
            }
            "engine_memory_limit" => limits.memory_bytes = size(&attr.expr, key, 1 << 20, "1MiB")?,
            "engine_max_concurrent_calls" => {
                // Beyond a semaphore's maximum, making a mount panics.
                limits.max_concurrent_calls = usize::try_from(integer(&attr.expr, key)?)
                    .ok()
                    .filter(|n| *n <= MAX_CONCURRENT_CALLS)
                    .ok_or_else(|| {
                        anyhow::anyhow!("{key} must be at most {MAX_CONCURRENT_CALLS}")
                    })?
            }
            "engine_max_queued_calls" => {
                limits.max_queued_calls = usize::try_from(integer(&attr.expr, key)?)
                    .map_err(|_| anyhow::anyhow!("{key} is too large"))?
            }
            "engine_queue_timeout" => limits.queue_timeout = duration(&attr.expr, key)?,
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
            ("kms_library", Some("pkcs11")) => {
                let parsed = parse_kms_library(&block.body)?;
                if kms_libraries.iter().any(|l| l.name == parsed.name) {
                    anyhow::bail!("kms_library name {:?} is given twice", parsed.name);
                }
                kms_libraries.push(parsed);
            }
            ("kms_library", other) => {
                anyhow::bail!("unsupported kms_library {other:?}: only \"pkcs11\"")
            }
            ("seal", kind) => {
                if seal.is_some() {
                    anyhow::bail!("only one seal stanza is supported");
                }
                seal = Some(parse_seal(kind.unwrap_or_default(), &block.body)?);
            }
            ("telemetry" | "service_registration", _) => {
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
            limits: default_http_limits(),
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
        graceful_shutdown_timeout,
        kms_libraries,
        seal,
    })
}

/// A `seal "pkcs11"` or `seal "awskms"` stanza (Vault's setting names;
/// booleans may be strings, as Vault writes them).
fn parse_seal(kind: &str, body: &hcl::Body) -> anyhow::Result<SealStanza> {
    let mut values: std::collections::BTreeMap<String, &Expression> = Default::default();
    for attr in body.attributes() {
        values.insert(attr.key.as_str().to_string(), &attr.expr);
    }
    let mut take_string = |key: &str| -> anyhow::Result<Option<String>> {
        values
            .remove(key)
            .map(|e| match e {
                Expression::Number(n) => Ok(n.to_string()),
                Expression::Bool(b) => Ok(b.to_string()),
                other => string(other, &format!("seal.{key}")),
            })
            .transpose()
    };
    let disabled = match take_string("disabled")? {
        Some(text) => coffer_rules::parse_bool(&text)
            .ok_or_else(|| anyhow::anyhow!("seal.disabled must be a boolean"))?,
        None => false,
    };
    let device = match kind {
        "pkcs11" => {
            let required = |v: Option<String>, key: &str| {
                v.filter(|s| !s.is_empty())
                    .ok_or_else(|| anyhow::anyhow!("seal \"pkcs11\" needs {key}"))
            };
            let lib = required(take_string("lib")?, "lib")?;
            let slot = take_string("slot")?
                .map(|s| s.trim().parse::<u64>())
                .transpose()
                .map_err(|_| anyhow::anyhow!("seal.slot must be a decimal slot number"))?;
            let token_label = take_string("token_label")?;
            if slot.is_none() && token_label.is_none() {
                anyhow::bail!("seal \"pkcs11\" needs slot or token_label");
            }
            let pin = required(take_string("pin")?, "pin")?;
            let key_label = required(take_string("key_label")?, "key_label")?;
            let generate_key = match take_string("generate_key")? {
                Some(text) => coffer_rules::parse_bool(&text)
                    .ok_or_else(|| anyhow::anyhow!("seal.generate_key must be a boolean"))?,
                None => false,
            };
            if let Some(m) = take_string("mechanism")? {
                let m = m.trim().to_lowercase();
                if m != "0x1087" && m != "4231" {
                    anyhow::bail!(
                        "seal \"pkcs11\": mechanism {m:?} is not supported: only 0x1087 (CKM_AES_GCM)"
                    );
                }
            }
            SealDevice::Pkcs11(Pkcs11Seal {
                lib: PathBuf::from(lib),
                slot,
                token_label,
                pin: Secret::new(pin),
                key_label,
                generate_key,
            })
        }
        "awskms" => {
            let region = take_string("region")?
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "us-east-1".into());
            let access_key = take_string("access_key")?.filter(|s| !s.is_empty());
            let secret_key = take_string("secret_key")?.filter(|s| !s.is_empty());
            if access_key.is_some() != secret_key.is_some() {
                anyhow::bail!("seal \"awskms\": access_key and secret_key go together");
            }
            let kms_key_id = take_string("kms_key_id")?
                .filter(|s| !s.is_empty())
                .ok_or_else(|| anyhow::anyhow!("seal \"awskms\" needs kms_key_id"))?;
            let endpoint = take_string("endpoint")?.filter(|s| !s.is_empty());
            SealDevice::Awskms(AwsSeal {
                region,
                access_key,
                secret_key: secret_key.map(Secret::new),
                kms_key_id,
                endpoint,
            })
        }
        other => anyhow::bail!("unsupported seal {other:?}: use \"pkcs11\" or \"awskms\""),
    };
    if let Some(unknown) = values.keys().next() {
        anyhow::bail!("unknown setting {unknown:?} in seal \"{kind}\"");
    }
    Ok(SealStanza { disabled, device })
}

fn parse_kms_library(body: &hcl::Body) -> anyhow::Result<KmsLibrary> {
    let mut name = None;
    let mut library = None;
    for attr in body.attributes() {
        match attr.key.as_str() {
            "name" => name = Some(string(&attr.expr, "kms_library.name")?),
            "library" => library = Some(string(&attr.expr, "kms_library.library")?),
            other => anyhow::bail!("unknown setting {other:?} in kms_library \"pkcs11\""),
        }
    }
    let name = name
        .map(|n| n.trim().to_lowercase())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| anyhow::anyhow!("kms_library \"pkcs11\" needs a name"))?;
    let library = library
        .filter(|l| !l.trim().is_empty())
        .ok_or_else(|| anyhow::anyhow!("kms_library {name:?} needs a library path"))?;
    Ok(KmsLibrary {
        name,
        library: PathBuf::from(library),
    })
}

fn parse_listener(body: &hcl::Body) -> anyhow::Result<Listener> {
    let mut address = "127.0.0.1:8200".to_string();
    let mut disable = false;
    let mut cert = None;
    let mut key = None;
    let mut min_version = MinVersion::Tls12;
    let mut limits = default_http_limits();
    for attr in body.attributes() {
        let k = attr.key.as_str();
        match k {
            "http_read_header_timeout" => limits.read_header_timeout = bound(&attr.expr, k)?,
            "http_read_timeout" => limits.read_timeout = bound(&attr.expr, k)?,
            "http_idle_timeout" => limits.idle_timeout = bound(&attr.expr, k)?,
            "tls_handshake_timeout" => limits.tls_handshake_timeout = bound(&attr.expr, k)?,
            "max_request_duration" => limits.max_request_duration = bound(&attr.expr, k)?,
            "max_request_size" => limits.max_request_size = size(&attr.expr, k, 1, "1")?,
            "http_max_header_bytes" => {
                limits.max_header_bytes = size(&attr.expr, k, MIN_HEADER_BYTES, "8KiB")?
            }
            "max_connections" => {
                limits.max_connections = usize::try_from(integer(&attr.expr, k)?)
                    .ok()
                    .filter(|n| (1..=1 << 20).contains(n))
                    .ok_or_else(|| anyhow::anyhow!("{k} must be between 1 and 1048576"))?
            }
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
    Ok(Listener {
        address,
        tls,
        limits,
    })
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

/// A boolean: `true`/`false`, the strings Go's `ParseBool` takes
/// ([`coffer_rules::parse_bool`]), or the numbers 0 and 1.
fn boolean(e: &Expression, key: &str) -> anyhow::Result<bool> {
    let parsed = match e {
        Expression::Bool(b) => Some(*b),
        Expression::String(s) => coffer_rules::parse_bool(s),
        Expression::Number(n) => match n.as_u64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        _ => None,
    };
    parsed.ok_or_else(|| anyhow::anyhow!("{key} must be a boolean (true or false)"))
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

/// A positive duration of at most [`MAX_DURATION`]: seconds as a number,
/// or Vault's forms through [`coffer_rules::parse_duration`] (`"90s"`,
/// `"5m"`, `"500ms"`).
fn duration(e: &Expression, key: &str) -> anyhow::Result<Duration> {
    let parsed = match e {
        Expression::Number(n) => n.as_u64().map(Duration::from_secs),
        Expression::String(s) => coffer_rules::parse_duration(s),
        _ => None,
    };
    match parsed {
        // Zero too is refused: a zero interval panics tokio's ticker, and a
        // zero deadline fails every call.
        Some(d) if !d.is_zero() && d <= MAX_DURATION => Ok(d),
        _ => {
            anyhow::bail!("{key} must be a positive duration of at most 365 days, such as \"10s\"")
        }
    }
}

/// A duration for an HTTP bound or the shutdown deadline: positive and at
/// most [`MAX_BOUND`] (so that deadlines computed from it cannot overflow).
fn bound(e: &Expression, key: &str) -> anyhow::Result<Duration> {
    let d = duration(e, key)?;
    if d > MAX_BOUND {
        anyhow::bail!("{key} must be at most 24h");
    }
    Ok(d)
}

/// A size in bytes (a number, or a string with `KiB`, `MiB` or `GiB`) of
/// at least `min` (spelled `min_text` in the error).
fn size(e: &Expression, key: &str, min: usize, min_text: &str) -> anyhow::Result<usize> {
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
        Some(b) if b >= min => Ok(b),
        _ => anyhow::bail!(
            "{key} must be a size of at least {min_text}: bytes, or a string such as \"64KiB\""
        ),
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

    #[test]
    fn kms_libraries_are_read_and_checked() {
        let c = with_listener(
            "",
            "kms_library \"pkcs11\" {\n name = \"SoftHSM\"\n library = \"/usr/lib/x.so\"\n}",
        )
        .unwrap();
        assert_eq!(
            c.kms_libraries,
            [KmsLibrary {
                name: "softhsm".into(),
                library: "/usr/lib/x.so".into()
            }]
        );
        for (text, named) in [
            ("kms_library \"pkcs11\" { library = \"/x.so\" }", "needs a name"),
            ("kms_library \"pkcs11\" { name = \"a\" }", "needs a library"),
            ("kms_library \"awskms\" { name = \"a\" }", "only \"pkcs11\""),
            ("kms_library \"pkcs11\" {\n name = \"a\"\n slot = 1\n}", "\"slot\""),
            (
                "kms_library \"pkcs11\" {\n name = \"a\"\n library = \"/a\"\n}\nkms_library \"pkcs11\" {\n name = \"A\"\n library = \"/b\"\n}",
                "given twice",
            ),
        ] {
            let e = with_listener("", text).unwrap_err().to_string();
            assert!(e.contains(named), "{text}: {e}");
        }
    }

    #[test]
    fn seal_stanzas_are_read_and_checked() {
        let c = with_listener(
            "",
            "seal \"pkcs11\" {\n lib = \"/l.so\"\n slot = \"7\"\n pin = \"1\"\n key_label = \"k\"\n generate_key = \"true\"\n disabled = \"false\"\n}",
        )
        .unwrap();
        let stanza = c.seal.unwrap();
        assert!(!stanza.disabled);
        assert!(matches!(stanza.device, SealDevice::Pkcs11(ref p)
            if p.slot == Some(7) && p.generate_key && p.key_label == "k"));
        let c = with_listener(
            "",
            "seal \"awskms\" {\n kms_key_id = \"alias/x\"\n disabled = true\n}",
        )
        .unwrap();
        let stanza = c.seal.unwrap();
        assert!(stanza.disabled);
        assert!(matches!(stanza.device, SealDevice::Awskms(ref a) if a.region == "us-east-1"));
        for (text, named) in [
            ("seal \"pkcs11\" { lib = \"/l.so\" }", "slot or token_label"),
            ("seal \"awskms\" { access_key = \"a\" }", "go together"),
            ("seal \"shamir\" { }", "unsupported seal"),
            (
                "seal \"awskms\" {\n kms_key_id = \"k\"\n token = \"t\"\n}",
                "\"token\"",
            ),
            (
                "seal \"awskms\" { kms_key_id = \"k\" }\nseal \"awskms\" { kms_key_id = \"k\" }",
                "one seal",
            ),
        ] {
            let e = with_listener("", text).unwrap_err().to_string();
            assert!(e.contains(named), "{text}: {e}");
        }
    }

    /// A file with these listener lines (plain HTTP) and top-level lines.
    fn with_listener(listener: &str, top: &str) -> anyhow::Result<Config> {
        parse(&format!(
            "storage \"redb\" {{ path = \"x\" }}\n\
             listener \"tcp\" {{\n  tls_disable = true\n  {listener}\n}}\n{top}\n"
        ))
    }

    #[test]
    fn http_bounds_default_to_vaults_values() {
        let c = with_listener("", "").unwrap();
        let l = c.listener.limits;
        assert_eq!(l, default_http_limits());
        assert_eq!(l.read_header_timeout, Duration::from_secs(10));
        assert_eq!(l.read_timeout, Duration::from_secs(30));
        assert_eq!(l.idle_timeout, Duration::from_secs(300));
        assert_eq!(l.tls_handshake_timeout, Duration::from_secs(10));
        assert_eq!(l.max_request_size, 32 << 20);
        assert_eq!(l.max_request_duration, Duration::from_secs(90));
        assert!(l.max_connections >= 1024);
        assert_eq!(l.max_header_bytes, 64 << 10);
        assert_eq!(c.graceful_shutdown_timeout, Duration::from_secs(30));
    }

    #[test]
    fn http_bounds_are_read_from_the_listener_block() {
        let c = with_listener(
            r#"
              http_read_header_timeout = "2s"
              http_read_timeout = "1m30s"
              http_idle_timeout = "5m"
              tls_handshake_timeout = "500ms"
              max_request_size = 1048576
              max_request_duration = 7
              max_connections = 8
              http_max_header_bytes = "16KiB"
            "#,
            r#"graceful_shutdown_timeout = "3s""#,
        )
        .unwrap();
        let l = c.listener.limits;
        assert_eq!(l.read_header_timeout, Duration::from_secs(2));
        assert_eq!(l.read_timeout, Duration::from_secs(90));
        assert_eq!(l.idle_timeout, Duration::from_secs(300));
        assert_eq!(l.tls_handshake_timeout, Duration::from_millis(500));
        assert_eq!(l.max_request_size, 1 << 20);
        assert_eq!(l.max_request_duration, Duration::from_secs(7));
        assert_eq!(l.max_connections, 8);
        assert_eq!(l.max_header_bytes, 16 << 10);
        assert_eq!(c.graceful_shutdown_timeout, Duration::from_secs(3));
        let c = with_listener(r#"max_request_size = "32MiB""#, "").unwrap();
        assert_eq!(c.listener.limits.max_request_size, 32 << 20);
    }

    #[test]
    fn bad_http_bounds_are_named() {
        let cases = [
            (
                r#"http_read_header_timeout = "soon""#,
                "",
                "http_read_header_timeout",
            ),
            (r#"http_read_timeout = 0"#, "", "http_read_timeout"),
            (r#"http_idle_timeout = "0ms""#, "", "http_idle_timeout"),
            (
                r#"tls_handshake_timeout = true"#,
                "",
                "tls_handshake_timeout",
            ),
            (r#"max_request_duration = "2d""#, "", "at most 24h"),
            (r#"max_request_size = "lots""#, "", "max_request_size"),
            (r#"http_max_header_bytes = "1KiB""#, "", "at least 8KiB"),
            (r#"max_connections = 0"#, "", "max_connections"),
            (r#"max_connections = -5"#, "", "max_connections"),
            (
                "",
                r#"graceful_shutdown_timeout = "forever""#,
                "graceful_shutdown_timeout",
            ),
            (
                "",
                r#"http_idle_timeout = "1s""#,
                "unknown setting \"http_idle_timeout\"",
            ),
        ];
        for (listener, top, named) in cases {
            let e = with_listener(listener, top).unwrap_err().to_string();
            assert!(e.contains(named), "{listener} {top}: {e}");
        }
    }

    #[test]
    fn dev_mode_takes_http_bounds_from_its_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dev.hcl");
        std::fs::write(
            &file,
            "listener \"tcp\" {\n  tls_disable = true\n  http_idle_timeout = \"1s\"\n}\n\
             graceful_shutdown_timeout = \"2s\"\n",
        )
        .unwrap();
        let args = ServerArgs {
            config: Some(file),
            dev: true,
            dev_root_token_id: None,
            dev_listen_address: "127.0.0.1:0".into(),
            dev_plugin_dir: None,
        };
        let c = Config::from_args(&args).unwrap();
        assert_eq!(c.listener.address, "127.0.0.1:0");
        assert!(c.listener.tls.is_none());
        assert_eq!(c.listener.limits.idle_timeout, Duration::from_secs(1));
        assert_eq!(
            c.listener.limits.read_timeout,
            default_http_limits().read_timeout
        );
        assert_eq!(c.graceful_shutdown_timeout, Duration::from_secs(2));
    }

    #[test]
    fn booleans_follow_go_and_refuse_the_rest() {
        let listener = |v: &str| {
            parse(&format!(
                "storage \"redb\" {{ path = \"/tmp/x\" }}\nlistener \"tcp\" {{ tls_disable = {v} }}"
            ))
        };
        for yes in ["true", "\"True\"", "\"t\"", "1", "\"1\""] {
            assert!(listener(yes).unwrap().listener.tls.is_none(), "{yes}");
        }
        for bad in ["2", "\"yes\""] {
            let e = listener(bad).unwrap_err();
            assert!(e.to_string().contains("tls_disable"), "{bad}: {e}");
        }
    }
}
