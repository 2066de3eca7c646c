//! Start-up: what the server prints, and refusing to start, with a message
//! that names the problem, on bad configuration, a taken port or unreadable
//! storage.

use std::ffi::OsString;
use std::net::TcpListener;

use serde_json::json;

use crate::harness::{expect_start_failure, ConfigDir, Server};

#[test]
fn dev_mode_generates_a_working_root_token() {
    let args: Vec<OsString> = ["server", "--dev", "--dev-listen-address", "127.0.0.1:0"]
        .iter()
        .map(OsString::from)
        .collect();
    let server =
        Server::start(&args).unwrap_or_else(|f| panic!("dev server did not start: {f:#?}"));
    let token = server
        .root_token
        .clone()
        .unwrap_or_else(|| panic!("no `Root Token:` line; stdout:\n{}", server.stdout));
    assert!(
        token.len() >= 16,
        "a generated token is long enough to guess never: {token:?}"
    );
    let c = server.client();
    assert_eq!(c.read("auth/token/lookup-self")["id"], json!(token));
    // Dev mode mounts kv v1 at secret/.
    let mounts = c.get("sys/mounts").data();
    assert_eq!(mounts["secret/"]["type"], json!("kv"), "{mounts}");
    let version = &mounts["secret/"]["options"]["version"];
    assert!(
        version.is_null() || *version == json!("1"),
        "secret/ is kv v1: {mounts}"
    );
    c.write("secret/x", &json!({"a": "b"}));
    assert_eq!(c.read("secret/x"), json!({"a": "b"}));
}

#[test]
fn taken_port_fails_in_dev_mode() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let args: Vec<OsString> = ["server", "--dev", "--dev-listen-address", &addr]
        .iter()
        .map(OsString::from)
        .collect();
    let (status, stderr) = expect_start_failure(&args);
    assert!(!status.success());
    assert_names(&stderr, &[&addr, "in use"]);
}

#[test]
fn taken_port_fails_in_config_mode() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = ConfigDir::new("");
    dir.write_config(&dir.standard_config("").replace("127.0.0.1:0", &addr));
    let (status, stderr) = expect_start_failure(&dir.args());
    assert!(!status.success());
    assert_names(&stderr, &[&addr, "in use"]);
}

#[test]
fn bad_configs_fail_with_a_message() {
    let dir = ConfigDir::new("");
    let good = dir.standard_config("");
    let storage = dir.storage_file().display().to_string();
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "syntax error",
            format!("{good}\nstorage \"redb\" {{ path = "),
            vec!["config", "hcl", "pars", "expected"],
        ),
        (
            "unknown storage type",
            good.replace("storage \"redb\"", "storage \"consul\""),
            vec!["consul"],
        ),
        (
            "no storage",
            good.replace(
                &format!("storage \"redb\" {{\n  path = \"{storage}\"\n}}\n"),
                "",
            ),
            vec!["storage"],
        ),
        (
            "no listener",
            good.replace(
                "listener \"tcp\" {\n  address = \"127.0.0.1:0\"\n  tls_disable = true\n}\n",
                "",
            ),
            vec!["listener"],
        ),
        (
            "bad engine_call_timeout",
            dir.standard_config("engine_call_timeout = \"soon\""),
            vec!["engine_call_timeout", "soon"],
        ),
        (
            "bad engine_memory_limit",
            dir.standard_config("engine_memory_limit = \"lots\""),
            vec!["engine_memory_limit", "lots"],
        ),
        (
            "bad listen address",
            good.replace("127.0.0.1:0", "not-an-address"),
            vec!["not-an-address", "address"],
        ),
        (
            "tls without certificate",
            good.replace("tls_disable = true", "tls_disable = false"),
            vec!["tls", "cert"],
        ),
    ];
    for (name, text, names) in cases {
        assert_ne!(text, good, "{name}: the case must change the config");
        dir.write_config(&text);
        let (status, stderr) = expect_start_failure(&dir.args());
        assert!(!status.success(), "{name}: exit status {status}");
        assert_names_case(name, &stderr, &names);
    }
    // A config file that does not exist.
    let missing = dir.path().join("nope.hcl");
    let args: Vec<OsString> = vec![
        "server".into(),
        "--config".into(),
        missing.clone().into_os_string(),
    ];
    let (status, stderr) = expect_start_failure(&args);
    assert!(!status.success());
    assert_names_case(
        "missing file",
        &stderr,
        &["nope.hcl", "no such file", "not found"],
    );
    // No mode at all.
    let (status, _) = expect_start_failure(&["server".into()]);
    assert!(!status.success());
}

#[test]
fn unreadable_storage_fails_with_a_message() {
    // Garbage where the redb file should be.
    let dir = ConfigDir::new("");
    std::fs::write(dir.storage_file(), vec![0x5a; 64 * 1024]).unwrap();
    let (status, stderr) = expect_start_failure(&dir.args());
    assert!(!status.success());
    assert_names_case(
        "garbage redb file",
        &stderr,
        &["coffer.redb", "storage", "redb", "database"],
    );

    // A directory where the redb file should be.
    let dir = ConfigDir::new("");
    std::fs::create_dir(dir.storage_file()).unwrap();
    let (status, stderr) = expect_start_failure(&dir.args());
    assert!(!status.success());
    assert_names_case(
        "directory as redb file",
        &stderr,
        &["coffer.redb", "storage", "directory"],
    );
}

#[track_caller]
fn assert_names(stderr: &str, any_of: &[&str]) {
    assert_names_case("", stderr, any_of);
}

/// The message is there, names the problem (one of `any_of`, ignoring
/// case), and is no panic.
#[track_caller]
fn assert_names_case(case: &str, stderr: &str, any_of: &[&str]) {
    let lower = stderr.to_lowercase();
    assert!(!stderr.trim().is_empty(), "{case}: no message on stderr");
    assert!(
        any_of.iter().any(|s| lower.contains(&s.to_lowercase())),
        "{case}: stderr should name the problem (one of {any_of:?}):\n{stderr}"
    );
    assert!(
        !lower.contains("panicked"),
        "{case}: the server panicked:\n{stderr}"
    );
}
