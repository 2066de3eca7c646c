//! A hostile test engine on contract 0.2 (wit-bindgen against
//! `wit/coffer-engine@0.2.0`): it tries, through the imports an engine has,
//! to get key bytes its requests did not give it, and reports what each
//! attempt got. `tests/e2e/keys02.rs` mounts it twice and checks that every
//! attempt got nothing but the expected error. Its paths, relative to the
//! mount:
//!
//! - `blob` (write): a new AES key without permissions, sealed; answers
//!   `{"blob": hex}` (for the other mount to try to open);
//! - `attacks` (read, `?foreign=<hex blob of another mount>`): every
//!   attempt below, answered as `{name: outcome}`, where an outcome is
//!   `{"error": case, "message": text}` or `{"ok": true, ...}` with what it
//!   got;
//! - `permit` (write, with an existence check): `permit` tried in `exists`
//!   and in `handle` (a create or update: allowed there only);
//!   `public/permit` (unauthenticated, write): `permit` without a client;
//! - `periodic` (read): what `permit` got in the last `periodic`;
//! - `export` (read): exports a key made without `export` and answers the
//!   host's error as it is; `managed/{name}` (read): opens that managed
//!   key and answers the host's error as it is, or `{"managed": true}`;
//! - `forge` and `forge-request` (read): use a `key` handle the engine
//!   made up, or its request's handle as a key: the host traps.
// The glue wit-bindgen generates is unsafe code (the canonical ABI); this
// crate's own is the handle forgery `forge` attempts on purpose.
#![allow(unsafe_code)]

#[allow(clippy::all, missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        world: "engine",
        path: "../../../wit/coffer-engine@0.2.0",
    });
}

use std::sync::Mutex;

use bindings::coffer::engine::http::{Body, Request, Response};
use bindings::coffer::engine::keys::Key;
use bindings::coffer::engine::types::{Error, Operation};
use bindings::coffer::engine::{crypto, storage};
use bindings::exports::coffer::engine::handler::{Description, Guest};
use serde_json::{json, Map, Value};

struct Engine;

/// What `permit` got in the last `exists`, for `handle` to report.
static IN_EXISTS: Mutex<Option<Value>> = Mutex::new(None);

fn data(value: Value) -> Response {
    Response {
        status: 200,
        body: Body::Data(value.to_string()),
        warnings: Vec::new(),
        headers: Vec::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Result<Vec<u8>, Error> {
    let bad = || Error::InvalidRequest(format!("not hex: {text:?}"));
    if !text.len().is_multiple_of(2) {
        return Err(bad());
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
                .ok_or_else(bad)
        })
        .collect()
}

fn error_case(e: &Error) -> (&'static str, String) {
    match e {
        Error::InvalidRequest(m) => ("invalid-request", m.clone()),
        Error::PermissionDenied(m) => ("permission-denied", m.clone()),
        Error::NotFound(m) => ("not-found", m.clone()),
        Error::UnsupportedOperation(m) => ("unsupported-operation", m.clone()),
        Error::Unavailable(m) => ("unavailable", m.clone()),
        Error::Internal(m) => ("internal", m.clone()),
        Error::Status(s) => ("status", format!("{}: {}", s.status, s.message)),
    }
}

fn failed(e: &Error) -> Value {
    let (case, message) = error_case(e);
    json!({ "error": case, "message": message })
}

/// An attempt that would give a key or its use.
fn outcome<T>(r: &Result<T, Error>) -> Value {
    match r {
        Ok(_) => json!({ "ok": true }),
        Err(e) => failed(e),
    }
}

/// An attempt that would give bytes: what came back, if anything did.
fn leak(r: &Result<Vec<u8>, Error>) -> Value {
    match r {
        Ok(bytes) => json!({ "ok": true, "bytes": hex(bytes) }),
        Err(e) => failed(e),
    }
}

fn none() -> Vec<String> {
    Vec::new()
}

fn query(request: &Request, name: &str) -> Option<String> {
    request
        .query()
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Every attempt of `attacks`.
fn attacks(foreign: Option<Vec<u8>>) -> Result<Map<String, Value>, Error> {
    let mut report = Map::new();
    let mut note = |name: &str, value: Value| {
        report.insert(name.to_string(), value);
    };

    // Export, backup and wrap-for without the permission.
    let aes = Key::generate("aes256-gcm96", None, &none())?;
    note("export-without-export", leak(&aes.export("raw")));
    let ed = Key::generate("ed25519", None, &none())?;
    note(
        "export-ed25519-without-export",
        leak(&ed.export("pkcs8-der")),
    );
    let exportable = Key::generate("hmac", None, &["export".to_string()])?;
    note(
        "backup-without-plaintext-backup",
        leak(&exportable.backup()),
    );
    let rsa = Key::generate("rsa-2048", None, &none())?;
    note(
        "wrap-for-of-an-unexportable-key",
        leak(&aes.wrap_for(&rsa.public_key()?, "sha2-256")),
    );
    // Permissions widen only in a client's create or update.
    note("permit-in-a-read", outcome(&aes.permit("export")));
    note(
        "permit-unknown-permission",
        outcome(&aes.permit("everything")),
    );
    note(
        "generate-unknown-permission",
        outcome(&Key::generate(
            "aes256-gcm96",
            None,
            &["everything".to_string()],
        )),
    );
    note(
        "generate-unknown-type",
        outcome(&Key::generate("aes512-gcm", None, &none())),
    );
    // A derived key keeps its parent's permissions.
    let derived = aes.derive(b"tenant")?;
    note("export-of-a-derived-key", leak(&derived.export("raw")));
    note("derive-rsa", outcome(&rsa.derive(b"tenant")));
    let ec = Key::generate("ecdsa-p256", None, &none())?;
    note("derive-ecdsa", outcome(&ec.derive(b"tenant")));
    note("derive-empty-context", outcome(&aes.derive(b"")));
    note(
        "hmac-with-an-underived-aead-key",
        leak(&aes.hmac("sha2-256", b"x")),
    );
    note("hmac-with-rsa", leak(&rsa.hmac("sha2-256", b"x")));
    note("public-key-of-aes", outcome(&aes.public_key()));
    note(
        "unwrap-garbage",
        outcome(&Key::unwrap(
            &rsa,
            b"garbage",
            "sha2-256",
            "aes256-gcm96",
            &none(),
        )),
    );
    note(
        "unwrap-with-aes",
        outcome(&Key::unwrap(
            &aes,
            &[0u8; 300],
            "sha2-256",
            "aes256-gcm96",
            &none(),
        )),
    );
    note(
        "import-wrong-length",
        outcome(&Key::import("aes256-gcm96", &[1u8; 5], &none())),
    );
    note(
        "import-garbage-as-ed25519",
        outcome(&Key::import("ed25519", b"not a key", &none())),
    );
    // AEAD misuse: no plaintext comes back.
    note(
        "encrypt-short-nonce",
        leak(&aes.encrypt(b"x", &[0u8; 11], b"")),
    );
    let sealed = aes.encrypt(b"secret", &[0u8; 12], b"aad")?;
    let mut forged = sealed.clone();
    if let Some(last) = forged.last_mut() {
        *last ^= 1;
    }
    note(
        "decrypt-with-a-bad-tag",
        leak(&aes.decrypt(&forged, &[0u8; 12], b"aad")),
    );
    note(
        "decrypt-with-other-aad",
        leak(&aes.decrypt(&sealed, &[0u8; 12], b"other")),
    );

    // Blobs: only this mount's own, whole, open.
    let blob = aes.seal()?;
    let mut tampered = blob.clone();
    if let Some(byte) = tampered.get_mut(20) {
        *byte ^= 1;
    }
    note("open-a-tampered-blob", outcome(&Key::open(&tampered)));
    let mut version = blob.clone();
    if let Some(byte) = version.get_mut(3) {
        *byte = 2;
    }
    note("open-another-version", outcome(&Key::open(&version)));
    note(
        "open-a-truncated-blob",
        outcome(&Key::open(blob.get(..blob.len() / 2).unwrap_or_default())),
    );
    note("open-not-a-blob", outcome(&Key::open(b"not a blob at all")));
    note("open-empty", outcome(&Key::open(b"")));
    if let Some(foreign) = foreign {
        note("open-another-mounts-blob", outcome(&Key::open(&foreign)));
    }
    // A blob keeps its key's type: an HMAC key's blob is no AEAD key.
    let hmac_blob = exportable.seal()?;
    let reopened = Key::open(&hmac_blob)?;
    note("reopened-hmac-type", json!(reopened.key_type()));
    note(
        "encrypt-with-an-hmac-key",
        leak(&reopened.encrypt(b"x", &[0u8; 12], b"")),
    );
    // The blob does not hold the key in clear.
    let raw = exportable.export("raw")?;
    let blob_of_exportable = exportable.seal()?;
    note(
        "blob-contains-the-key",
        json!(blob_of_exportable
            .windows(raw.len())
            .any(|w| w == raw.as_slice())),
    );

    // Managed keys: only those the mount may use, never their bytes.
    note("managed-not-allowed", outcome(&Key::managed("signer")));
    note("managed-unknown", outcome(&Key::managed("no-such-key")));
    match Key::managed("shared") {
        Ok(shared) => {
            note(
                "managed-shared",
                json!({ "ok": true, "managed": shared.is_managed() }),
            );
            note("managed-export", leak(&shared.export("pkcs8-der")));
            note("managed-backup", leak(&shared.backup()));
            note("managed-permit", outcome(&shared.permit("export")));
            note("managed-seal", leak(&shared.seal()));
            note("managed-derive", outcome(&shared.derive(b"tenant")));
            note("managed-permissions", json!(shared.permissions()));
            note(
                "wrap-for-of-a-managed-key",
                leak(&shared.wrap_for(&rsa.public_key()?, "sha2-256")),
            );
        }
        Err(e) => note("managed-shared", failed(&e)),
    }

    // Storage reaches only this mount's keys: not the host's blob root.
    for key in [
        "core/keys/blob-root",
        "../core/keys/blob-root",
        "/core/keys/blob-root",
    ] {
        let got = storage::get(key);
        note(
            &format!("storage-get {key}"),
            match got {
                Ok(found) => json!({ "ok": true, "found": found.is_some() }),
                Err(e) => failed(&e),
            },
        );
    }
    // The keyless crypto takes only the engine's own bytes: a blob used as
    // a key opens nothing.
    note(
        "aead-open-a-blob-with-itself",
        leak(&crypto::aead_open(
            "aes256-gcm96",
            blob.get(..32).unwrap_or_default(),
            blob.get(4..16).unwrap_or_default(),
            blob.get(16..).unwrap_or_default(),
            blob.get(..4).unwrap_or_default(),
        )),
    );
    Ok(report)
}

impl Guest for Engine {
    fn handle(request: &Request) -> Result<Response, Error> {
        let path = request.path();
        let op = request.operation();
        let segments: Vec<&str> = path.split('/').collect();
        match (segments.as_slice(), op) {
            (["blob"], Operation::Create | Operation::Update) => {
                let key = Key::generate("aes256-gcm96", None, &none())?;
                Ok(data(json!({ "blob": hex(&key.seal()?) })))
            }
            (["attacks"], Operation::Read) => {
                let foreign = query(request, "foreign").map(|h| unhex(&h)).transpose()?;
                Ok(data(Value::Object(attacks(foreign)?)))
            }
            (["permit"] | ["public", "permit"], Operation::Create | Operation::Update) => {
                let key = Key::generate("aes256-gcm96", None, &none())?;
                let in_exists = IN_EXISTS
                    .lock()
                    .ok()
                    .and_then(|mut s| s.take())
                    .unwrap_or(Value::Null);
                let permitted = key.permit("export");
                let exported = match &permitted {
                    Ok(k) => leak(&k.export("raw")),
                    Err(e) => failed(e),
                };
                Ok(data(json!({
                    "exists": in_exists,
                    "handle": outcome(&permitted),
                    "export": exported,
                    "old-handle-export": leak(&key.export("raw")),
                })))
            }
            (["periodic"], Operation::Read) => {
                let seen = storage::get("periodic/permit")?
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                Ok(data(json!({ "permit": seen })))
            }
            (["export"], Operation::Read) => {
                let key = Key::generate("aes256-gcm96", None, &none())?;
                let bytes = key.export("raw")?;
                Ok(data(json!({ "leaked": hex(&bytes) })))
            }
            (["managed", name], Operation::Read) => {
                let key = Key::managed(name)?;
                Ok(data(json!({ "managed": key.is_managed() })))
            }
            (["forge"], Operation::Read) => {
                // SAFETY: none; a handle made up on purpose: the host must
                // trap on it, never use another resource.
                let forged = unsafe { Key::from_handle(0x7fff_fff0) };
                let kind = forged.key_type();
                Ok(data(json!({ "forged": kind })))
            }
            (["forge-request"], Operation::Read) => {
                // SAFETY: as above: the request's handle used as a key's.
                let forged = unsafe { Key::from_handle(request.handle()) };
                let exported = forged.export("raw");
                std::mem::forget(forged);
                Ok(data(json!({ "forged": leak(&exported) })))
            }
            _ => Err(Error::NotFound(String::new())),
        }
    }

    fn exists(request: &Request) -> Result<Option<bool>, Error> {
        if request.path() == "permit" {
            let tried =
                Key::generate("aes256-gcm96", None, &none()).and_then(|k| k.permit("export"));
            if let Ok(mut slot) = IN_EXISTS.lock() {
                *slot = Some(outcome(&tried));
            }
            return Ok(Some(false));
        }
        Ok(None)
    }

    fn periodic(_mount_path: String, _mount_options: String) -> Result<(), Error> {
        let tried = Key::generate("aes256-gcm96", None, &none()).and_then(|k| k.permit("export"));
        let seen = match &tried {
            Ok(_) => "ok".to_string(),
            Err(e) => error_case(e).0.to_string(),
        };
        storage::put("periodic/permit", seen.as_bytes())
    }

    fn describe() -> Description {
        Description {
            paths: Vec::new(),
            unauthenticated: vec!["public/*".into()],
            sudo: Vec::new(),
            headers: Vec::new(),
        }
    }
}

bindings::export!(Engine with_types_in bindings);
