//! A test engine written directly against contract 0.2 with wit-bindgen
//! (the SDK is still on 0.1), so the host's 0.2 side can be tested end to
//! end. Its paths, relative to the mount:
//!
//! - `ca/pem` (unauthenticated): a PEM body, `application/pem-certificate-chain`,
//!   with `cache-control: max-age=60`;
//! - `public/whoami` (unauthenticated) and `whoami`: what the engine was
//!   told — operation, path, caller, mount path and options, request id,
//!   query, headers, content type;
//! - `root/{name}` (sudo): `{"sudo": true}`;
//! - `echo` (write): answers the body it received, as it came, with the
//!   content type it came with (header `x-echo-content-type`);
//! - `created/{name}` (write, with an existence check): stores the body,
//!   answers 201 with a `location` header and the operation it ran as;
//! - `accepted`: 202 with no body and an `x-queued` header;
//! - `unavailable`: the `unavailable` error; `teapot`: `status(418)`;
//!   `badstatus`: `status(200)` (not an error status); `badheader`: a
//!   response that sets `content-length`;
//! - `items/{name}` (write) stores a key; `LIST items` pages them with
//!   `storage.list-page` (`?after=`, `?limit=`);
//! - `hash/{algorithm}` (write): the hex digest of the body, by the host's
//!   keyless `crypto.hash`;
//! - `keys`: generates a key with `keys.key.generate` (the host's error,
//!   if any, answered as it is);
//! - `kms/{name}` (write, JSON `{"type", "size", "permissions", "import"}`,
//!   bytes in hex): a key generated (or imported), sealed and stored;
//!   `kms/{name}/{op}` opens the stored blob and runs `op`: `permit`
//!   (`{"permission"}`, sealed and stored again), `sign`, `verify`,
//!   `encrypt`, `decrypt`, `encrypt-batch` (`{"items": [...]}`),
//!   `decrypt-oaep`, `hmac`, `export`, `derive` and `unwrap` (the new key
//!   stored as `{"as"}`), `wrap` (`{"target"}`, another stored key) (writes,
//!   JSON fields of the same names in hex) and `public` (read: the SPKI
//!   DER);
//! - `managed/{name}/sign` (write, `{"message"}`): signs with a managed
//!   key and answers the signature and the key's SPKI DER;
//!   `managed/{name}/{op}` runs the other `kms/` operations on it.
//!
//! Every host error is answered as it is.
// The glue wit-bindgen generates is unsafe code (the canonical ABI); this
// crate writes none of its own.
#![allow(unsafe_code)]

#[allow(clippy::all, missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        world: "engine",
        path: "../../../wit/coffer-engine@0.2.0",
    });
}

use bindings::coffer::engine::http::{Body, Caller, RawBody, Request, Response};
use bindings::coffer::engine::keys::{AeadItem, Key, SignOptions};
use bindings::coffer::engine::types::{Error, ErrorStatus, Operation};
use bindings::coffer::engine::{crypto, storage};
use bindings::exports::coffer::engine::handler::{Description, Guest, OperationInfo, PathInfo};
use serde_json::json;

struct Engine;

/// A JSON request body (`kms/...`), its bytes fields in hex.
struct Fields(serde_json::Map<String, serde_json::Value>);

impl Fields {
    fn of(request: &Request) -> Result<Self, Error> {
        match serde_json::from_slice(&request.body()) {
            Ok(serde_json::Value::Object(map)) => Ok(Fields(map)),
            _ => Err(Error::InvalidRequest(
                "the body is not a JSON object".into(),
            )),
        }
    }

    fn text_opt(&self, field: &str) -> Option<String> {
        self.0.get(field).and_then(|v| v.as_str()).map(String::from)
    }

    fn text(&self, field: &str) -> Result<String, Error> {
        self.text_opt(field)
            .ok_or_else(|| Error::InvalidRequest(format!("missing {field}")))
    }

    fn number(&self, field: &str) -> Option<u32> {
        self.0
            .get(field)
            .and_then(|v| v.as_u64())
            .and_then(|n| u32::try_from(n).ok())
    }

    fn strings(&self, field: &str) -> Vec<String> {
        self.0
            .get(field)
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn objects(&self, field: &str) -> Vec<Fields> {
        self.0
            .get(field)
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_object().cloned().map(Fields))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn hex_opt(&self, field: &str) -> Result<Option<Vec<u8>>, Error> {
        self.text_opt(field).map(|t| unhex(&t)).transpose()
    }

    fn hex(&self, field: &str) -> Result<Vec<u8>, Error> {
        Ok(self.hex_opt(field)?.unwrap_or_default())
    }

    fn sign_options(&self) -> SignOptions {
        SignOptions {
            hash: self.text_opt("hash"),
            prehashed: self
                .0
                .get("prehashed")
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
            padding: self.text_opt("padding"),
            salt_length: self.number("salt_length"),
            encoding: self.text_opt("encoding"),
            context: None,
        }
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

fn describe_key(key: &Key) -> serde_json::Value {
    json!({
        "type": key.key_type(),
        "permissions": key.permissions(),
        "managed": key.is_managed(),
    })
}

/// The key stored at `kms/{name}`, opened.
fn stored_key(name: &str) -> Result<Key, Error> {
    let blob =
        storage::get(&format!("kms/{name}"))?.ok_or_else(|| Error::NotFound(String::new()))?;
    Key::open(&blob)
}

/// `kms/{name}/{action}`.
fn use_key(name: &str, key: &Key, action: &str, body: &Fields) -> Result<serde_json::Value, Error> {
    Ok(match action {
        "permit" => {
            let widened = key.permit(&body.text("permission")?)?;
            storage::put(&format!("kms/{name}"), &widened.seal()?)?;
            describe_key(&widened)
        }
        "sign" => {
            let signature = key.sign(&body.hex("message")?, &body.sign_options())?;
            json!({ "signature": hex(&signature) })
        }
        "verify" => {
            let valid = key.verify(
                &body.hex("message")?,
                &body.hex("signature")?,
                &body.sign_options(),
            )?;
            json!({ "valid": valid })
        }
        "encrypt" => {
            let ciphertext = key.encrypt(
                &body.hex("plaintext")?,
                &body.hex("nonce")?,
                &body.hex("aad")?,
            )?;
            json!({ "ciphertext": hex(&ciphertext) })
        }
        "decrypt" => {
            let plaintext = key.decrypt(
                &body.hex("ciphertext")?,
                &body.hex("nonce")?,
                &body.hex("aad")?,
            )?;
            json!({ "plaintext": hex(&plaintext) })
        }
        "decrypt-oaep" => {
            let plaintext =
                key.decrypt_oaep(&body.hex("ciphertext")?, &body.text("hash")?, None)?;
            json!({ "plaintext": hex(&plaintext) })
        }
        "hmac" => {
            let mac = key.hmac(&body.text("algorithm")?, &body.hex("data")?)?;
            json!({ "hmac": hex(&mac) })
        }
        "export" => json!({ "key": hex(&key.export(&body.text("format")?)?) }),
        "encrypt-batch" => {
            let items = body
                .objects("items")
                .iter()
                .map(|item| {
                    Ok(AeadItem {
                        data: item.hex("plaintext")?,
                        nonce: item.hex("nonce")?,
                        aad: item.hex("aad")?,
                    })
                })
                .collect::<Result<Vec<_>, Error>>()?;
            let results: Vec<serde_json::Value> = key
                .encrypt_batch(&items)
                .into_iter()
                .map(|r| match r {
                    Ok(c) => json!({ "ciphertext": hex(&c) }),
                    Err(e) => json!({ "error": format!("{e:?}") }),
                })
                .collect();
            json!({ "results": results })
        }
        "derive" => {
            let derived = key.derive(&body.hex("context")?)?;
            storage::put(&format!("kms/{}", body.text("as")?), &derived.seal()?)?;
            describe_key(&derived)
        }
        "wrap" => {
            let target = stored_key(&body.text("target")?)?;
            json!({ "wrapped": hex(&target.wrap_for(&key.public_key()?, "sha2-256")?) })
        }
        "unwrap" => {
            let unwrapped = Key::unwrap(
                key,
                &body.hex("wrapped")?,
                "sha2-256",
                &body.text("type")?,
                &body.strings("permissions"),
            )?;
            storage::put(&format!("kms/{}", body.text("as")?), &unwrapped.seal()?)?;
            describe_key(&unwrapped)
        }
        _ => return Err(Error::NotFound(String::new())),
    })
}

fn data(status: u16, value: serde_json::Value, headers: Vec<(String, String)>) -> Response {
    Response {
        status,
        body: Body::Data(value.to_string()),
        warnings: Vec::new(),
        headers,
    }
}

fn op_name(op: Operation) -> &'static str {
    match op {
        Operation::Read => "read",
        Operation::Create => "create",
        Operation::Update => "update",
        Operation::Delete => "delete",
        Operation::List => "list",
        Operation::Patch => "patch",
    }
}

fn whoami(request: &Request) -> Response {
    let caller = match request.caller() {
        Caller::Unauthenticated => json!("unauthenticated"),
        Caller::Token(t) => json!({
            "display_name": t.display_name,
            "policies": t.policies,
            "accessor": t.accessor,
        }),
    };
    data(
        200,
        json!({
            "operation": op_name(request.operation()),
            "path": request.path(),
            "caller": caller,
            "mount_path": request.mount_path(),
            "mount_options": request.mount_options(),
            "id": request.id(),
            "query": request.query(),
            "headers": request.headers(),
            "content_type": request.content_type(),
        }),
        Vec::new(),
    )
}

fn query(request: &Request, name: &str) -> Option<String> {
    request
        .query()
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

impl Guest for Engine {
    fn handle(request: &Request) -> Result<Response, Error> {
        let path = request.path();
        let op = request.operation();
        let segments: Vec<&str> = path.split('/').collect();
        match (segments.as_slice(), op) {
            (["ca", "pem"], Operation::Read) => Ok(Response {
                status: 200,
                body: Body::Raw(RawBody {
                    content_type: "application/pem-certificate-chain".into(),
                    bytes: b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
                        .to_vec(),
                }),
                warnings: Vec::new(),
                headers: vec![("cache-control".into(), "max-age=60".into())],
            }),
            (["public", "whoami"] | ["whoami"], _) => Ok(whoami(request)),
            (["root", _], _) => Ok(data(200, json!({ "sudo": true }), Vec::new())),
            (["echo"], Operation::Create | Operation::Update) => {
                let content_type = request.content_type();
                Ok(Response {
                    status: 200,
                    body: Body::Raw(RawBody {
                        content_type: content_type
                            .clone()
                            .unwrap_or_else(|| "application/octet-stream".into()),
                        bytes: request.body(),
                    }),
                    warnings: vec!["echoed".into()],
                    headers: vec![(
                        "x-echo-content-type".into(),
                        content_type.unwrap_or_else(|| "none".into()),
                    )],
                })
            }
            (["created", name], Operation::Create | Operation::Update) => {
                storage::put(&format!("created/{name}"), &request.body())?;
                let location = format!("/v1/{}created/{name}", request.mount_path());
                Ok(data(
                    201,
                    json!({ "operation": op_name(op) }),
                    vec![("location".into(), location)],
                ))
            }
            (["created", name], Operation::Read) => match storage::get(&format!("created/{name}"))?
            {
                Some(bytes) => Ok(data(
                    200,
                    json!({ "body": String::from_utf8_lossy(&bytes) }),
                    Vec::new(),
                )),
                None => Err(Error::NotFound(String::new())),
            },
            // No body, a status of its own, and a header.
            (["accepted"], _) => Ok(Response {
                status: 202,
                body: Body::None,
                warnings: Vec::new(),
                headers: vec![("x-queued".into(), "yes".into())],
            }),
            (["unavailable"], _) => {
                Err(Error::Unavailable("the test HSM cannot be reached".into()))
            }
            (["teapot"], _) => Err(Error::Status(ErrorStatus {
                status: 418,
                message: "short and stout".into(),
            })),
            (["badstatus"], _) => Err(Error::Status(ErrorStatus {
                status: 200,
                message: "not an error".into(),
            })),
            (["badheader"], _) => Ok(data(
                200,
                json!({}),
                vec![("content-length".into(), "1".into())],
            )),
            (["items", name], Operation::Create | Operation::Update) => {
                storage::put(&format!("items/{name}"), b"x")?;
                Ok(data(200, json!({}), Vec::new()))
            }
            (["items"] | ["items", ""], Operation::List) => {
                let after = query(request, "after").unwrap_or_default();
                let limit = query(request, "limit")
                    .map(|l| l.parse::<u32>())
                    .transpose()
                    .map_err(|e| Error::InvalidRequest(format!("limit: {e}")))?
                    .unwrap_or(1000);
                let keys = storage::list_page("items/", &after, limit)?;
                Ok(data(200, json!({ "keys": keys }), Vec::new()))
            }
            (["hash", algorithm], Operation::Create | Operation::Update) => {
                let digest = crypto::hash(algorithm, &request.body())?;
                let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                Ok(data(200, json!({ "digest": hex }), Vec::new()))
            }
            (["keys"], Operation::Read) => {
                Key::generate("aes256-gcm96", None, &[])?;
                Ok(data(200, json!({ "generated": true }), Vec::new()))
            }
            (["kms", name], Operation::Create | Operation::Update) => {
                let body = Fields::of(request)?;
                let permissions = body.strings("permissions");
                let key_type = body.text("type")?;
                let key = match body.hex_opt("import")? {
                    Some(bytes) => Key::import(&key_type, &bytes, &permissions)?,
                    None => Key::generate(&key_type, body.number("size"), &permissions)?,
                };
                storage::put(&format!("kms/{name}"), &key.seal()?)?;
                Ok(data(200, describe_key(&key), Vec::new()))
            }
            (["kms", name, "public"], Operation::Read) => {
                let spki = stored_key(name)?.public_key()?.export("spki-der")?;
                Ok(data(200, json!({ "spki": hex(&spki) }), Vec::new()))
            }
            (["kms", name, action], Operation::Create | Operation::Update) => {
                let key = stored_key(name)?;
                let body = Fields::of(request)?;
                Ok(data(200, use_key(name, &key, action, &body)?, Vec::new()))
            }
            (["managed", name, "sign"], Operation::Create | Operation::Update) => {
                let key = Key::managed(name)?;
                let body = Fields::of(request)?;
                let signature = key.sign(&body.hex("message")?, &body.sign_options())?;
                let spki = key.public_key()?.export("spki-der")?;
                Ok(data(
                    200,
                    json!({
                        "signature": hex(&signature),
                        "spki": hex(&spki),
                        "managed": key.is_managed(),
                        "type": key.key_type(),
                    }),
                    Vec::new(),
                ))
            }
            (["managed", name, action], Operation::Create | Operation::Update) => {
                let key = Key::managed(name)?;
                let body = Fields::of(request)?;
                Ok(data(200, use_key(name, &key, action, &body)?, Vec::new()))
            }
            _ => Err(Error::NotFound(String::new())),
        }
    }

    fn exists(request: &Request) -> Result<Option<bool>, Error> {
        let path = request.path();
        match path.strip_prefix("created/") {
            Some(name) => Ok(Some(storage::get(&format!("created/{name}"))?.is_some())),
            None => Ok(None),
        }
    }

    fn periodic(_mount_path: String, _mount_options: String) -> Result<(), Error> {
        Ok(())
    }

    fn describe() -> Description {
        let path = |pattern: &str, synopsis: &str, ops: &[Operation]| PathInfo {
            pattern: pattern.into(),
            synopsis: synopsis.into(),
            description: String::new(),
            operations: ops
                .iter()
                .map(|op| OperationInfo {
                    operation: *op,
                    summary: String::new(),
                })
                .collect(),
            fields: Vec::new(),
        };
        Description {
            paths: vec![
                path("ca/pem", "The CA certificate, PEM.", &[Operation::Read]),
                path("whoami", "What the engine is told.", &[Operation::Read]),
                path("echo", "Echoes the body.", &[Operation::Update]),
            ],
            unauthenticated: vec!["ca/pem".into(), "public/*".into()],
            sudo: vec!["root/+".into()],
            // Credentials are never passed on, even when asked for.
            headers: vec!["x-test-header".into(), "x-vault-token".into()],
        }
    }
}

bindings::export!(Engine with_types_in bindings);
