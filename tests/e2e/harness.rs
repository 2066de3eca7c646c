//! The test harness: start the real `coffer` binary, talk to it over HTTP.
//!
//! - [`Server`] spawns `coffer server` (dev mode or a config file in a
//!   temporary directory) on `127.0.0.1:0`, reads the printed `Api Address:`
//!   and `Root Token:` lines, waits for `Coffer server started` (bounded by
//!   [`START_TIMEOUT`]) and kills the process when dropped.
//! - [`Client`] is a small blocking client over ureq that speaks any method
//!   (`LIST` included) and never turns a status code into an error.
//! - [`install_engine`] copies a test engine component into a plugin
//!   directory and registers it in the catalog.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

/// How long a server may take from spawn to `Coffer server started`.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a server that should refuse to start may take to exit.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(30);
/// The root token the dev servers of these tests are started with.
pub const DEV_TOKEN: &str = "e2e-root-token";
/// Test engine files, as built by host/build.rs.
pub const MISBEHAVE_WASM: &str = "coffer_test_misbehave.wasm";
pub const COUNTER_WASM: &str = "coffer_test_counter.wasm";
pub const CONTRACT02_WASM: &str = "coffer_test_contract02.wasm";
pub const BADSPECIAL_WASM: &str = "coffer_test_badspecial.wasm";
pub const HOSTILE02_WASM: &str = "coffer_test_hostile02.wasm";

/// Kept stderr per server, at most this many bytes (the tail).
const STDERR_CAP: usize = 256 * 1024;

/// The `coffer` binary cargo built for this test target.
pub fn coffer_bin() -> &'static str {
    env!("CARGO_BIN_EXE_coffer")
}

/// Where host/build.rs put the engine components.
pub fn wasm_dir() -> PathBuf {
    PathBuf::from(env!("COFFER_WASM_DIR"))
}

/// A running `coffer` process, killed on drop.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub addr: String,
    /// The token printed at start (`None` when none was printed).
    pub root_token: Option<String>,
    /// Everything the server printed on stdout so far (start-up lines).
    pub stdout: String,
    stderr: Arc<Mutex<String>>,
    /// Dev mode: the temporary plugin directory (kept alive with the server).
    dev_dir: Option<TempDir>,
}

/// A server that did not come up.
#[derive(Debug)]
pub struct StartFailure {
    /// `None` if it was still running at the deadline (then it was killed).
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
}

impl Server {
    /// `coffer server --dev` on a free port with [`DEV_TOKEN`] and a fresh
    /// plugin directory ([`Server::plugin_dir`]).
    pub fn dev() -> Server {
        Server::dev_with(None, &[])
    }

    /// [`Server::dev`] with `--config` naming a file of this HCL text
    /// (settings that tune dev mode, e.g. a `listener "tcp"` block's bounds).
    pub fn dev_with_config(hcl: &str) -> Server {
        Server::dev_with(Some(hcl), &[])
    }

    /// [`Server::dev`] with an optional config (as
    /// [`Server::dev_with_config`]) and these environment variables (e.g.
    /// the test managed-key backend's, `tests/support/managed_keys.rs`).
    pub fn dev_with(hcl: Option<&str>, env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let plugins = dir.path().join("plugins");
        std::fs::create_dir_all(&plugins).expect("plugin dir");
        let mut args: Vec<OsString> = vec![
            "server".into(),
            "--dev".into(),
            "--dev-root-token-id".into(),
            DEV_TOKEN.into(),
            "--dev-listen-address".into(),
            "127.0.0.1:0".into(),
            "--dev-plugin-dir".into(),
            plugins.into_os_string(),
        ];
        if let Some(text) = hcl {
            let file = dir.path().join("dev.hcl");
            std::fs::write(&file, text).expect("write the dev config");
            args.push("--config".into());
            args.push(file.into_os_string());
        }
        let mut server = Server::start_with_env(&args, env)
            .unwrap_or_else(|f| panic!("dev server did not start: {f:#?}"));
        assert_eq!(
            server.root_token.as_deref(),
            Some(DEV_TOKEN),
            "dev server must print `Root Token: {DEV_TOKEN}`; stdout was:\n{}",
            server.stdout
        );
        server.dev_dir = Some(dir);
        server
    }

    /// `coffer server --config <dir>/coffer.hcl`.
    pub fn config(dir: &ConfigDir) -> Server {
        let args: Vec<OsString> = vec![
            "server".into(),
            "--config".into(),
            dir.config_file().into_os_string(),
        ];
        Server::start(&args).unwrap_or_else(|f| panic!("config server did not start: {f:#?}"))
    }

    /// Spawns `coffer ARGS` and waits until it says it started.
    pub fn start(args: &[OsString]) -> Result<Server, StartFailure> {
        Server::start_with_env(args, &[])
    }

    /// [`Server::start`] with these environment variables set.
    pub fn start_with_env(args: &[OsString], env: &[(&str, &str)]) -> Result<Server, StartFailure> {
        let mut child = Command::new(coffer_bin())
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the coffer binary");
        let stderr = Arc::new(Mutex::new(String::new()));
        let stderr_thread = {
            let pipe = child.stderr.take().expect("stderr pipe");
            let sink = Arc::clone(&stderr);
            thread::spawn(move || drain_capped(pipe, &sink))
        };
        let (tx, rx) = mpsc::channel::<String>();
        {
            let pipe = child.stdout.take().expect("stdout pipe");
            // Keeps reading after start-up so that the server never blocks
            // on a full pipe; lines nobody waits for any more are dropped.
            thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    let _ = tx.send(line);
                }
            });
        }

        let deadline = Instant::now() + START_TIMEOUT;
        let mut stdout = String::new();
        let mut addr = None;
        let mut root_token = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    stdout.push_str(&line);
                    stdout.push('\n');
                    if let Some(rest) = after(&line, "Api Address:") {
                        addr = Some(rest.trim_end_matches('/').to_string());
                    } else if let Some(rest) = after(&line, "Root Token:") {
                        root_token = Some(rest.to_string());
                    }
                    if line.contains("Coffer server started") {
                        break;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    // stdout closed: the process is ending or has ended.
                    let status = wait_timeout(&mut child, EXIT_TIMEOUT);
                    if status.is_none() {
                        let _ = child.kill();
                        let _ = child.wait();
                    }
                    let _ = stderr_thread.join();
                    let stderr = stderr.lock().map(|s| s.clone()).unwrap_or_default();
                    return Err(StartFailure {
                        status,
                        stdout,
                        stderr,
                    });
                }
                Err(RecvTimeoutError::Timeout) => {
                    let status = child.try_wait().ok().flatten();
                    let _ = child.kill();
                    let _ = child.wait();
                    let stderr = stderr.lock().map(|s| s.clone()).unwrap_or_default();
                    return Err(StartFailure {
                        status,
                        stdout,
                        stderr,
                    });
                }
            }
        }
        let Some(addr) = addr else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the server said it started but printed no `Api Address:` line; stdout:\n{stdout}"
            );
        };
        assert!(
            (addr.starts_with("http://127.0.0.1:") || addr.starts_with("https://127.0.0.1:"))
                && !addr.ends_with(":0"),
            "`Api Address:` must name the real port on 127.0.0.1, got {addr:?}"
        );
        Ok(Server {
            child,
            addr,
            root_token,
            stdout,
            stderr,
            dev_dir: None,
        })
    }

    /// `coffer server --config ...`, then `sys/init` with one share and
    /// `sys/unseal`: a server ready for requests, with its keys.
    pub fn config_ready(dir: &ConfigDir) -> (Server, InitKeys) {
        let mut server = Server::config(dir);
        let keys = server.init(1, 1);
        server.unseal(&keys.keys);
        (server, keys)
    }

    /// Restarts on existing storage: `coffer server --config ...` on `dir`,
    /// then `sys/unseal` with `keys`; [`Server::client`] uses their root
    /// token. For restarts after [`Server::stop`] or [`Server::kill`].
    pub fn config_unsealed(dir: &ConfigDir, keys: &InitKeys) -> Server {
        let mut server = Server::config(dir);
        server.unseal(&keys.keys);
        server.root_token = Some(keys.root_token.clone());
        server
    }

    /// `PUT sys/init`; remembers the root token for [`Server::client`].
    #[track_caller]
    pub fn init(&mut self, shares: u8, threshold: u8) -> InitKeys {
        let r = self.anonymous().put(
            "sys/init",
            &json!({ "secret_shares": shares, "secret_threshold": threshold }),
        );
        r.expect(200);
        let body = r.json();
        let keys: Vec<String> = body["keys"]
            .as_array()
            .expect("init answers `keys`")
            .iter()
            .map(|k| k.as_str().expect("hex key").to_string())
            .collect();
        let root_token = body["root_token"].as_str().expect("root_token").to_string();
        self.root_token = Some(root_token.clone());
        InitKeys { keys, root_token }
    }

    /// Submits `keys` to `sys/unseal` until the answer says unsealed.
    #[track_caller]
    pub fn unseal(&self, keys: &[String]) {
        for key in keys {
            let r = self.anonymous().put("sys/unseal", &json!({ "key": key }));
            r.expect(200);
            if r.json()["sealed"] == json!(false) {
                return;
            }
        }
        panic!("still sealed after {} keys", keys.len());
    }

    /// A client with the root token (dev token, or the printed one).
    pub fn client(&self) -> Client {
        Client::new(&self.addr, self.root_token.as_deref())
    }

    /// A client without any token.
    pub fn anonymous(&self) -> Client {
        Client::new(&self.addr, None)
    }

    /// Dev mode's plugin directory.
    pub fn plugin_dir(&self) -> PathBuf {
        self.dev_dir
            .as_ref()
            .expect("plugin_dir is for dev servers")
            .path()
            .join("plugins")
    }

    /// What the server wrote on stderr so far (the last 256 KiB).
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still alive.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Asks the server to stop (SIGTERM) and waits for it; kills it if it
    /// has not exited within 15 s. Returns how it ended.
    pub fn stop(mut self) -> Option<ExitStatus> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let status = wait_timeout(&mut self.child, Duration::from_secs(15));
        if status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        status
    }

    /// Kills the server at once (SIGKILL), as a crash would: no graceful
    /// shutdown runs, and a config server's storage ([`ConfigDir`]) stays as
    /// the crash left it, for [`Server::config_unsealed`].
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `coffer ARGS` expecting it to refuse to start: returns its exit
/// status and stderr, or panics if it started (or kept running).
pub fn expect_start_failure(args: &[OsString]) -> (ExitStatus, String) {
    match Server::start(args) {
        Ok(server) => {
            let stdout = server.stdout.clone();
            drop(server);
            panic!("`coffer {args:?}` started although it should have failed; stdout:\n{stdout}");
        }
        Err(StartFailure {
            status: None,
            stdout,
            stderr,
        }) => {
            panic!("`coffer {args:?}` neither started nor exited in time;\nstdout:\n{stdout}\nstderr:\n{stderr}")
        }
        Err(StartFailure {
            status: Some(status),
            stderr,
            ..
        }) => (status, stderr),
    }
}

/// A temporary directory with `coffer.hcl`, `coffer.redb` and `plugins/`,
/// which outlives the servers started on it (for restart tests).
pub struct ConfigDir {
    dir: TempDir,
}

impl ConfigDir {
    /// A directory with a config listening on `127.0.0.1:0` with the given
    /// extra top-level HCL lines (e.g. `engine_call_timeout = "1s"`).
    pub fn new(extra: &str) -> ConfigDir {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("plugins")).expect("plugin dir");
        let config = ConfigDir { dir };
        config.write_config(&config.standard_config(extra));
        config
    }

    /// The standard config text for this directory.
    pub fn standard_config(&self, extra: &str) -> String {
        format!(
            "storage \"redb\" {{\n  path = \"{}\"\n}}\n\
             listener \"tcp\" {{\n  address = \"127.0.0.1:0\"\n  tls_disable = true\n}}\n\
             plugin_directory = \"{}\"\n{extra}\n",
            self.storage_file().display(),
            self.plugin_dir().display(),
        )
    }

    /// Replaces the config file.
    pub fn write_config(&self, text: &str) {
        std::fs::write(self.config_file(), text).expect("write config");
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_file(&self) -> PathBuf {
        self.dir.path().join("coffer.hcl")
    }

    pub fn storage_file(&self) -> PathBuf {
        self.dir.path().join("coffer.redb")
    }

    pub fn plugin_dir(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }

    /// `["server", "--config", <file>]`.
    pub fn args(&self) -> Vec<OsString> {
        vec![
            "server".into(),
            "--config".into(),
            self.config_file().into_os_string(),
        ]
    }
}

/// One HTTP answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub body: String,
    pub content_type: Option<String>,
    /// Every header, names lower-case, in the order they came.
    pub headers: Vec<(String, String)>,
}

impl Response {
    /// The values of header `name` (lower-case), in order.
    pub fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as JSON (panics, showing the body, if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {} body is not JSON ({e}): {:?}",
                self.status, self.body
            )
        })
    }

    /// The envelope's `data`.
    pub fn data(&self) -> Value {
        self.json().get("data").cloned().unwrap_or(Value::Null)
    }

    /// The envelope's `data.keys` as strings.
    pub fn keys(&self) -> Vec<String> {
        let data = self.data();
        let keys = data
            .get("keys")
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("no data.keys in {} {:?}", self.status, self.body));
        keys.iter()
            .map(|k| k.as_str().expect("key is a string").to_string())
            .collect()
    }

    /// The `errors` array.
    pub fn errors(&self) -> Vec<String> {
        let json = self.json();
        let errors = json
            .get("errors")
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("no errors array in {} {:?}", self.status, self.body));
        errors
            .iter()
            .map(|e| e.as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Response {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        self
    }

    /// Asserts a 204 with an empty body.
    #[track_caller]
    pub fn expect_no_content(&self) {
        assert_eq!(self.status, 204, "expected 204; body: {}", self.body);
        assert!(
            self.body.is_empty(),
            "a 204 has no body, got {:?}",
            self.body
        );
    }
}

/// A blocking HTTP client for one server.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
}

impl Client {
    pub fn new(base: &str, token: Option<&str>) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .allow_non_standard_methods(true)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Client {
            agent,
            base: base.to_string(),
            token: token.map(str::to_string),
        }
    }

    /// The same server with another token (or none).
    pub fn with_token(&self, token: Option<&str>) -> Client {
        Client {
            agent: self.agent.clone(),
            base: self.base.clone(),
            token: token.map(str::to_string),
        }
    }

    /// The full URL of an API path: `secret/foo` → `<base>/v1/secret/foo`;
    /// a path starting with `/` is taken as is.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with('/') {
            format!("{}{path}", self.base)
        } else {
            format!("{}/v1/{path}", self.base)
        }
    }

    /// Sends one request; the token goes in `X-Vault-Token`. Panics on a
    /// transport error (see [`Client::try_send`]).
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Response {
        self.try_send(method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// [`Client::send`], with a transport error (no complete answer, e.g.
    /// the server died) as `Err` rather than a panic.
    pub fn try_send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Response, String> {
        let method = ureq::http::Method::from_bytes(method.as_bytes()).expect("method");
        let mut builder = ureq::http::Request::builder()
            .method(method.clone())
            .uri(self.url(path));
        if let Some(token) = &self.token {
            builder = builder.header("X-Vault-Token", token.as_str());
        }
        let has_body = body.is_some();
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let has_content_type = headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
        if has_body && !has_content_type {
            builder = builder.header("Content-Type", "application/json");
        }
        let request = builder.body(body.unwrap_or_default()).expect("request");
        let response = self
            .agent
            .run(request)
            .map_err(|e| format!("transport error: {e}"))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    v.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let body = response
            .into_body()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .map_err(|e| format!("reading the body: {e}"))?;
        Ok(Response {
            status,
            body,
            content_type,
            headers,
        })
    }

    pub fn get(&self, path: &str) -> Response {
        self.send("GET", path, &[], None)
    }

    pub fn list(&self, path: &str) -> Response {
        self.send("LIST", path, &[], None)
    }

    pub fn delete(&self, path: &str) -> Response {
        self.send("DELETE", path, &[], None)
    }

    pub fn post(&self, path: &str, body: &Value) -> Response {
        self.send("POST", path, &[], Some(body.to_string().into_bytes()))
    }

    pub fn put(&self, path: &str, body: &Value) -> Response {
        self.send("PUT", path, &[], Some(body.to_string().into_bytes()))
    }

    pub fn patch(&self, path: &str, body: &Value) -> Response {
        self.send(
            "PATCH",
            path,
            &[("Content-Type", "application/merge-patch+json")],
            Some(body.to_string().into_bytes()),
        )
    }

    /// Sends raw bytes as the body.
    pub fn raw(&self, method: &str, path: &str, body: &[u8]) -> Response {
        self.send(method, path, &[], Some(body.to_vec()))
    }

    /// Mounts an engine type at `path` and checks the 204.
    #[track_caller]
    pub fn mount(&self, path: &str, engine_type: &str) {
        self.post(
            &format!("sys/mounts/{path}"),
            &json!({ "type": engine_type }),
        )
        .expect_no_content();
    }

    /// Writes a kv secret and checks the 204.
    #[track_caller]
    pub fn write(&self, path: &str, data: &Value) {
        self.post(path, data).expect_no_content();
    }

    /// Reads a kv secret's data, asserting a 200.
    #[track_caller]
    pub fn read(&self, path: &str) -> Value {
        let response = self.get(path);
        response.expect(200);
        response.data()
    }
}

/// What `sys/init` handed out.
pub struct InitKeys {
    /// The unseal key shares, hex.
    pub keys: Vec<String>,
    /// The initial root token.
    pub root_token: String,
}

/// The hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    hex::encode(Sha256::digest(&bytes))
}

/// Copies a built test engine (`file` in [`wasm_dir`]) into `plugin_dir`
/// and registers it in the catalog as secret engine `name`; returns the
/// file's sha256.
#[track_caller]
pub fn install_engine(client: &Client, plugin_dir: &Path, file: &str, name: &str) -> String {
    let sha = place_engine(file, &plugin_dir.join(file));
    client
        .post(
            &format!("sys/plugins/catalog/secret/{name}"),
            &json!({ "command": file, "sha256": sha }),
        )
        .expect_no_content();
    sha
}

/// Writes a self-signed `cert.pem` (CN localhost, SAN IP 127.0.0.1) and its
/// `key.pem` into `dir` with the `openssl` command; `key_args` choose the
/// key (e.g. `["-newkey", "rsa:2048"]`).
pub fn openssl_self_signed(dir: &std::path::Path, key_args: &[&str]) {
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .args(key_args)
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .output()
        .expect("run openssl (scripts/setup.sh installs it)");
    assert!(status.status.success(), "openssl failed: {status:?}");
}

/// Waits for a child with a deadline; `None` if it is still running.
fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            _ => return None,
        }
    }
}

/// Reads a pipe to its end into `sink`, keeping only the last STDERR_CAP bytes.
fn drain_capped(mut pipe: impl Read, sink: &Mutex<String>) {
    let mut buf = [0u8; 8192];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let Ok(mut s) = sink.lock() else { return };
                s.push_str(&String::from_utf8_lossy(&buf[..n]));
                if s.len() > STDERR_CAP {
                    let mut cut = s.len() - STDERR_CAP / 2;
                    while !s.is_char_boundary(cut) {
                        cut += 1;
                    }
                    s.drain(..cut);
                }
            }
        }
    }
}

/// The trimmed text after `marker` in `line`, if present and non-empty.
fn after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    let at = line.find(marker)?;
    let rest = line[at + marker.len()..].trim();
    (!rest.is_empty()).then_some(rest)
}

/// Copies a built test engine (`file` in [`wasm_dir`]) to `dest`, without
/// registering it; returns its sha256.
#[track_caller]
pub fn place_engine(file: &str, dest: &Path) -> String {
    let source = wasm_dir().join(file);
    let meta = std::fs::metadata(&source).unwrap_or_else(|e| {
        panic!(
            "test engine {} is missing ({e}): host/build.rs builds it",
            source.display()
        )
    });
    assert!(meta.len() > 0, "test engine {} is empty", source.display());
    std::fs::copy(&source, dest).expect("copy the test engine");
    sha256_file(dest)
}
