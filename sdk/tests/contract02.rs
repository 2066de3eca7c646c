//! What contract 0.2 adds to the SDK, natively: the description, special
//! paths, caller, headers, raw bodies, statuses, errors, list pages, and
//! keys behind handles (checked with RustCrypto directly).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aes_gcm::aead::{Aead, KeyInit, Payload};
use coffer_sdk::crypto::{PrivateKeyFormat, PublicKeyFormat, SignOptions};
use coffer_sdk::keys::{AeadItem, Key, KeyType, Permission};
use coffer_sdk::prelude::*;
use coffer_sdk::testing::{check_paths, TestEngine};
use coffer_sdk::{Body, Operation, Request, TokenCaller};
use ed25519_dalek::Verifier;
use serde_json::{json, Value};

#[derive(Fields)]
struct Serial {
    /// The certificate's serial number.
    serial: String,
}

#[derive(Fields)]
struct Name {
    /// The item's name.
    name: String,
    /// What it holds.
    #[field(default = "x")]
    value: String,
}

#[derive(Fields)]
struct Page {
    /// Start after this entry.
    after: Option<String>,
    /// At most this many.
    #[field(default = 10)]
    limit: u32,
}

fn whoami(ctx: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
    let caller = match ctx.caller() {
        Caller::Unauthenticated => json!("unauthenticated"),
        Caller::Token(t) => json!({ "display_name": t.display_name, "policies": t.policies }),
    };
    Ok(Response::data(json!({
        "caller": caller,
        "if_none_match": ctx.header("If-None-Match"),
        "headers": ctx.headers().len(),
        "id": ctx.request_id(),
    })))
}

fn cert(_: &mut Ctx<'_>, f: Serial) -> Result<Response, Error> {
    Ok(
        Response::raw("application/pkix-cert", f.serial.into_bytes())
            .with_header("cache-control", "max-age=60"),
    )
}

fn ocsp(ctx: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
    let raw = ctx
        .raw_body()
        .ok_or_else(|| Error::invalid("expected a DER body"))?;
    let mut answer = raw.bytes.clone();
    answer.reverse();
    Ok(Response::raw("application/ocsp-response", answer))
}

fn create(ctx: &mut Ctx<'_>, f: Name) -> Result<Response, Error> {
    ctx.storage()
        .put(&format!("items/{}", f.name), f.value.as_bytes())?;
    Ok(Response::data(json!({ "name": f.name }))
        .with_status(201)
        .with_header("location", format!("/v1/test/items/{}", f.name)))
}

fn list(ctx: &mut Ctx<'_>, f: Page) -> Result<Response, Error> {
    let after = f.after.unwrap_or_default();
    let keys = ctx.storage().list_page("items/", &after, f.limit)?;
    Ok(Response::list(keys))
}

fn engine() -> Engine {
    Engine::new()
        .request_headers(&["If-None-Match", "x-vault-token"])
        .path(
            Path::new("cert/{serial}/raw")
                .unauthenticated()
                .read(cert)
                .synopsis("A certificate, DER.")
                .summary(Operation::Read, "Reads a certificate."),
        )
        .path(Path::new("public/whoami").unauthenticated().read(whoami))
        .path(Path::new("whoami").read(whoami))
        .path(
            Path::new("ocsp")
                .raw_body("application/ocsp-request")
                .update(ocsp),
        )
        .path(Path::new("root/{name}").sudo().update(create))
        .path(Path::new("items/{name}").update(create))
        .path(Path::new("items").list(list))
        .path(
            Path::new("queued")
                .update(|_: &mut Ctx<'_>, _: ()| Ok(Response::none().with_status(202))),
        )
        .path(
            Path::new("hsm").read(|_: &mut Ctx<'_>, _: ()| -> Result<Response, Error> {
                Err(Error::unavailable("the HSM cannot be reached"))
            }),
        )
        .path(
            Path::new("conflict").read(|_: &mut Ctx<'_>, _: ()| -> Result<Response, Error> {
                Err(Error::with_status(409, "it changed"))
            }),
        )
}

#[test]
fn the_description_comes_from_the_path_table() {
    assert_eq!(check_paths(&engine()), Vec::<String>::new());
    let d = engine().describe();
    assert_eq!(d.unauthenticated, ["cert/+/raw", "public/whoami"]);
    assert_eq!(d.sudo, ["root/+"]);
    assert_eq!(d.headers, ["if-none-match", "x-vault-token"]);
    let cert = d
        .paths
        .iter()
        .find(|p| p.pattern == "cert/{serial}/raw")
        .unwrap();
    assert_eq!(cert.synopsis, "A certificate, DER.");
    assert_eq!(
        cert.operations,
        [(Operation::Read, "Reads a certificate.".to_owned())]
    );
    let serial = &cert.fields[0];
    assert_eq!(
        (
            serial.name.as_str(),
            serial.kind,
            serial.in_path,
            serial.required
        ),
        ("serial", "string", true, true)
    );
    let items = d
        .paths
        .iter()
        .find(|p| p.pattern == "items/{name}")
        .unwrap();
    let value = items.fields.iter().find(|f| f.name == "value").unwrap();
    assert_eq!(value.default.as_deref(), Some("\"x\""));
    assert!(!value.in_path && !value.required);
    // `update` implies `create`.
    assert_eq!(
        items
            .operations
            .iter()
            .map(|(op, _)| *op)
            .collect::<Vec<_>>(),
        [Operation::Create, Operation::Update]
    );
}

#[test]
fn bad_declarations_fail_the_checks() {
    let e = Engine::new()
        .request_headers(&["bad header"])
        .path(Path::new("a").unauthenticated().sudo().read(whoami))
        .path(Path::new("b").raw_body("Application/DER").update(ocsp));
    let problems = check_paths(&e);
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems
        .iter()
        .any(|p| p.contains("both unauthenticated and sudo")));
    assert!(problems.iter().any(|p| p.contains("\"bad header\"")));
    assert!(problems.iter().any(|p| p.contains("Application/DER")));
}

#[test]
fn callers_and_headers_are_what_the_host_passes() {
    let mut t = TestEngine::new(engine());
    let req = |path: &str| {
        Request::new(Operation::Read, path)
            .with_header("If-None-Match", "abc")
            .with_header("x-vault-token", "s.secret")
            .with_header("x-other", "1")
    };
    let r = t.request(req("whoami")).unwrap();
    assert_eq!(
        r.data_value().unwrap(),
        &json!({
            "caller": { "display_name": "root", "policies": ["root"] },
            "if_none_match": "abc",
            "headers": 1,
            "id": "test-request",
        })
    );
    let r = t.request(req("public/whoami")).unwrap();
    assert_eq!(r.data_value().unwrap()["caller"], json!("unauthenticated"));
    let someone = Caller::Token(TokenCaller {
        display_name: "token-app".into(),
        policies: vec!["app".into()],
        accessor: "acc".into(),
    });
    let r = t
        .request(Request::new(Operation::Read, "whoami").with_caller(someone))
        .unwrap();
    assert_eq!(
        r.data_value().unwrap()["caller"]["display_name"],
        "token-app"
    );
}

#[test]
fn raw_bodies_statuses_headers_and_errors() {
    let mut t = TestEngine::new(engine());
    let r = t.read("cert/0a/raw").unwrap();
    assert_eq!(r.header("Cache-Control"), Some("max-age=60"));
    assert!(matches!(r.body(), Body::Raw { content_type, bytes }
        if content_type == "application/pkix-cert" && bytes == b"0a"));

    let der = [0x30u8, 0x03, 0x0a, 0x01, 0xff];
    let r = t
        .request(
            Request::new(Operation::Update, "ocsp").with_raw_body("application/ocsp-request", der),
        )
        .unwrap();
    assert!(
        matches!(r.body(), Body::Raw { bytes, .. } if bytes == &[0xff, 0x01, 0x0a, 0x03, 0x30])
    );
    // The same bytes as another type are JSON, which they are not.
    let err = t
        .request(Request::new(Operation::Update, "ocsp").with_raw_body("application/der", der))
        .unwrap_err();
    assert_eq!(err.status(), 400);
    assert!(err.message().contains("not valid JSON"), "{err}");

    let r = t.write("items/a", json!({ "value": "1" })).unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.header("location"), Some("/v1/test/items/a"));
    let r = t.write("queued", json!({})).unwrap();
    assert_eq!((r.status(), r.body()), (202, &Body::None));

    let e = t.read("hsm").unwrap_err();
    assert_eq!(
        (e.status(), e.message()),
        (503, "the HSM cannot be reached")
    );
    assert_eq!(t.read("conflict").unwrap_err().status(), 409);
    assert_eq!(Error::with_status(200, "no").status(), 500);
}

#[test]
fn lists_come_in_pages() {
    let mut t = TestEngine::new(engine());
    for name in ["a", "b", "c", "d", "e"] {
        t.write(&format!("items/{name}"), json!({})).unwrap();
    }
    let page = |t: &mut TestEngine, after: &str, limit: &str| -> Value {
        let mut req = Request::new(Operation::List, "items").with_query("limit", limit);
        if !after.is_empty() {
            req = req.with_query("after", after);
        }
        t.request(req).unwrap().data_value().unwrap()["keys"].clone()
    };
    assert_eq!(page(&mut t, "", "2"), json!(["a", "b"]));
    assert_eq!(page(&mut t, "b", "2"), json!(["c", "d"]));
    assert_eq!(page(&mut t, "d", "2"), json!(["e"]));
    assert_eq!(
        t.request(Request::new(Operation::List, "items").with_query("limit", "0"))
            .unwrap_err()
            .status(),
        400
    );
}

#[test]
fn keys_seal_open_and_stay_on_their_mount() {
    let a = TestEngine::new(Engine::new());
    let b = TestEngine::new(Engine::new());
    let (blob, ciphertext) = a.in_mount(|| {
        let key = Key::generate(KeyType::Aes256Gcm96, None, &[]).unwrap();
        let blob = key.seal().unwrap();
        let ct = key.encrypt(b"secret", &[7; 12], b"ad").unwrap();
        (blob, ct)
    });
    // The blob holds no key in clear, and opens on its own mount only.
    let opened = a.in_mount(|| Key::open(&blob)).unwrap();
    assert_eq!(opened.key_type().unwrap(), KeyType::Aes256Gcm96);
    assert_eq!(
        opened.decrypt(&ciphertext, &[7; 12], b"ad").unwrap(),
        b"secret"
    );
    let err = b.in_mount(|| Key::open(&blob)).unwrap_err();
    assert_eq!(err.status(), 400);
    let mut tampered = blob.clone();
    *tampered.last_mut().unwrap() ^= 1;
    assert_eq!(
        a.in_mount(|| Key::open(&tampered)).unwrap_err().status(),
        400
    );
    assert_eq!(
        a.in_mount(|| Key::open(b"not a blob"))
            .unwrap_err()
            .status(),
        400
    );
    assert_eq!(Key::managed("hsm-key").unwrap_err().status(), 403);
}

#[test]
fn key_bytes_leave_only_with_permission() {
    let key = Key::generate(KeyType::Aes128Gcm96, None, &[]).unwrap();
    assert_eq!(key.export(PrivateKeyFormat::Raw).unwrap_err().status(), 403);
    assert_eq!(key.backup().unwrap_err().status(), 403);
    let exportable = key.permit(Permission::Export).unwrap();
    assert_eq!(exportable.permissions(), [Permission::Export]);
    assert!(key.permissions().is_empty(), "the old handle keeps its own");
    let raw = exportable.export(PrivateKeyFormat::Raw).unwrap();

    // What the handle encrypts, AES-GCM itself decrypts.
    let nonce = [3u8; 12];
    let ct = exportable.encrypt(b"hello", &nonce, b"aad").unwrap();
    let cipher = aes_gcm::Aes128Gcm::new_from_slice(&raw).unwrap();
    let pt = cipher
        .decrypt(
            (&nonce).into(),
            Payload {
                msg: &ct,
                aad: b"aad",
            },
        )
        .unwrap();
    assert_eq!(pt, b"hello");

    let items = [
        AeadItem {
            data: b"one".to_vec(),
            nonce: vec![1; 12],
            aad: vec![],
        },
        AeadItem {
            data: b"two".to_vec(),
            nonce: vec![1; 5],
            aad: vec![],
        },
    ];
    let out = exportable.encrypt_batch(&items);
    assert_eq!(out.len(), 2);
    let first = out[0].as_ref().unwrap();
    assert_eq!(
        cipher
            .decrypt((&[1u8; 12]).into(), first.as_slice())
            .unwrap(),
        b"one"
    );
    assert_eq!(out[1].as_ref().unwrap_err().status(), 400);

    // Imported bytes are the key's.
    let imported = Key::import(KeyType::Aes128Gcm96, &raw, &[Permission::PlaintextBackup]).unwrap();
    assert_eq!(imported.backup().unwrap(), raw);
    assert_eq!(imported.decrypt(&ct, &nonce, b"aad").unwrap(), b"hello");
}

#[test]
fn signatures_verify_independently() {
    let key = Key::generate(KeyType::Ed25519, None, &[]).unwrap();
    let sig = key.sign(b"message", SignOptions::default()).unwrap();
    let public = key
        .public_key()
        .unwrap()
        .export(PublicKeyFormat::Raw)
        .unwrap();
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&public.try_into().unwrap()).unwrap();
    let sig = ed25519_dalek::Signature::from_slice(&sig).unwrap();
    vk.verify(b"message", &sig).unwrap();
    assert!(vk.verify(b"other", &sig).is_err());
    assert_eq!(
        Key::generate(KeyType::Aes256Gcm96, None, &[])
            .unwrap()
            .public_key()
            .unwrap_err()
            .status(),
        400
    );
    assert_eq!(KeyType::from_name("rsa-8192").unwrap_err().status(), 400);
    assert_eq!(
        KeyType::from_name("ecdsa-p384").unwrap(),
        KeyType::EcdsaP384
    );
}
