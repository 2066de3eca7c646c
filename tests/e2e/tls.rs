//! A `listener "tcp"` with `tls_cert_file`/`tls_key_file` serves HTTPS
//! through rustls. The certificate is made with the `openssl` command and
//! the connection is checked by `curl`, which verifies the chain against
//! that certificate: neither is Coffer's code.

use std::process::Command;

use crate::harness::{openssl_self_signed, ConfigDir, Server};

fn curl(args: &[&str]) -> (bool, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("run curl (scripts/setup.sh installs it)");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn tls_server(key_args: &[&str], min_version: &str) -> (ConfigDir, Server) {
    let dir = ConfigDir::new("");
    openssl_self_signed(dir.plugin_dir().parent().expect("dir"), key_args);
    let base = dir.plugin_dir().parent().expect("dir").to_path_buf();
    let text = dir.standard_config("").replace(
        "tls_disable = true",
        &format!(
            "tls_cert_file = \"{}\"\n  tls_key_file = \"{}\"\n  tls_min_version = \"{min_version}\"",
            base.join("cert.pem").display(),
            base.join("key.pem").display()
        ),
    );
    dir.write_config(&text);
    let server =
        Server::start(&dir.args()).unwrap_or_else(|f| panic!("TLS server did not start: {f:#?}"));
    (dir, server)
}

#[test]
fn https_with_an_ecdsa_certificate_verifies_and_serves_the_api() {
    let (dir, server) = tls_server(
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "tls12",
    );
    assert!(server.addr.starts_with("https://"), "{}", server.addr);
    let ca = dir.plugin_dir().parent().expect("dir").join("cert.pem");
    let ca = ca.to_string_lossy().to_string();
    let url = format!("{}/v1/sys/health", server.addr);
    let (ok, body) = curl(&["--cacert", &ca, &url]);
    assert!(ok, "curl over verified TLS failed: {body}");
    assert!(body.contains("\"initialized\":false"), "{body}");
    // Initialise and unseal over TLS.
    let (ok, body) = curl(&[
        "--cacert",
        &ca,
        "-X",
        "PUT",
        "-d",
        r#"{"secret_shares":1,"secret_threshold":1}"#,
        &format!("{}/v1/sys/init", server.addr),
    ]);
    assert!(ok, "{body}");
    let init: serde_json::Value = serde_json::from_str(&body).expect("init JSON");
    let key = init["keys"][0].as_str().expect("key");
    let (ok, body) = curl(&[
        "--cacert",
        &ca,
        "-X",
        "PUT",
        "-d",
        &format!(r#"{{"key":"{key}"}}"#),
        &format!("{}/v1/sys/unseal", server.addr),
    ]);
    assert!(ok && body.contains("\"sealed\":false"), "{body}");
    // An authenticated call over HTTP/2 (ALPN h2) works too.
    let token = format!(
        "X-Vault-Token: {}",
        init["root_token"].as_str().expect("root token")
    );
    let (ok, body) = curl(&[
        "--http2",
        "--cacert",
        &ca,
        "-H",
        &token,
        &format!("{}/v1/sys/mounts", server.addr),
    ]);
    assert!(ok && body.contains("\"data\""), "{body}");
    // Without the certificate as trust anchor, the client refuses it.
    let (ok, body) = curl(&[&url]);
    assert!(!ok, "an unverifiable certificate was accepted: {body}");
}

#[test]
fn https_with_rsa_and_tls13_only_refuses_tls12() {
    let (dir, server) = tls_server(&["-newkey", "rsa:2048"], "tls13");
    let ca = dir.plugin_dir().parent().expect("dir").join("cert.pem");
    let ca = ca.to_string_lossy().to_string();
    let url = format!("{}/v1/sys/health", server.addr);
    let (ok, body) = curl(&["--cacert", &ca, "--tlsv1.3", &url]);
    assert!(ok, "TLS 1.3 failed: {body}");
    let (ok, body) = curl(&["--cacert", &ca, "--tlsv1.2", "--tls-max", "1.2", &url]);
    assert!(
        !ok,
        "TLS 1.2 was accepted with tls_min_version = tls13: {body}"
    );
}
