//! The SDK end to end, natively: declarations, Vault's rules, shapes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use coffer_sdk::prelude::*;
use coffer_sdk::testing::{assert_paths_valid, check_paths, TestEngine};
use coffer_sdk::{Batch, BatchInput, FieldType, Operation, Request};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, FieldEnum)]
enum KeyKind {
    Aes256Gcm96,
    #[field(rename = "ed25519")]
    Ed25519,
}

#[derive(Fields)]
struct KeyFields {
    /// The key's name.
    name: String,
    /// The key's type.
    #[field(default = "aes256-gcm96")]
    r#type: KeyKind,
    /// How long versions live.
    #[field(default = "1h")]
    ttl: DurationSeconds,
    /// Whether the key can be exported.
    exportable: bool,
    /// Who may use it.
    allowed: Option<CommaList>,
    /// A number.
    #[field(required)]
    count: u32,
    /// Some bytes.
    blob: Option<Base64>,
}

#[derive(Fields)]
struct Name {
    /// The key's name.
    name: String,
}

#[derive(Fields)]
struct Export {
    /// What to export.
    r#type: String,
    /// The key's name.
    name: String,
    /// Which version.
    version: Option<u32>,
}

fn create(_: &mut Ctx<'_>, f: KeyFields) -> Result<Response, Error> {
    Ok(Response::data(json!({
        "op": "create",
        "name": f.name,
        "type": f.r#type,
        "ttl": f.ttl.as_secs(),
        "exportable": f.exportable,
        "allowed": f.allowed.map(CommaList::into_inner),
        "count": f.count,
        "blob": f.blob.map(|b| b.len()),
    })))
}

fn update(ctx: &mut Ctx<'_>, f: Name) -> Result<Response, Error> {
    ctx.storage().put_json(&format!("keys/{}", f.name), &1)?;
    ctx.warn("updated");
    Ok(Response::none())
}

fn key_exists(ctx: &mut Ctx<'_>, f: Name) -> Result<bool, Error> {
    Ok(ctx.storage().get(&format!("keys/{}", f.name))?.is_some())
}

fn read_config(_: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
    Ok(Response::data(json!({"config": true})))
}

fn list_keys(ctx: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
    Ok(Response::list(ctx.storage().list("keys/")?))
}

fn export(_: &mut Ctx<'_>, f: Export) -> Result<Response, Error> {
    Ok(Response::data(
        json!({"type": f.r#type, "name": f.name, "version": f.version}),
    ))
}

fn fail(ctx: &mut Ctx<'_>, _: Name) -> Result<Response, Error> {
    ctx.storage().put("junk", b"x")?;
    Err(Error::PermissionDenied("no".into()))
}

#[derive(Fields)]
struct Item {
    /// Input.
    #[field(required)]
    text: String,
}

#[derive(Fields)]
#[allow(dead_code)] // `text` is declared for the schema; Batch parses it.
struct Shout {
    /// Input.
    text: Option<String>,
    /// Many inputs.
    batch_input: Option<BatchInput<Item>>,
    /// Status when some items fail.
    partial_failure_response_code: Option<u16>,
}

fn shout(ctx: &mut Ctx<'_>, f: Shout) -> Result<Response, Error> {
    Batch::<Item>::from_request(ctx, f.batch_input)?
        .partial_failure_status(f.partial_failure_response_code)
        .run(|item| {
            if item.text == "bad" {
                return Err(Error::invalid("bad input"));
            }
            Ok(json!({"text": item.text.to_uppercase()}))
        })
}

fn engine() -> Engine {
    Engine::new()
        .path(
            Path::new("keys/{name}")
                .create(create)
                .update(update)
                .exists(key_exists),
        )
        .path(Path::new("keys/config").read(read_config))
        .path(Path::new("keys").list(list_keys))
        .path(Path::new("export/{type}/{name}/{version?}").read(export))
        .path(Path::new("fail/{name}").update(fail))
        .path(Path::new("shout").update(shout))
}

fn data(r: Result<Response, Error>) -> Value {
    r.unwrap().data_value().cloned().unwrap()
}

#[test]
fn table_is_valid() {
    assert_paths_valid(&engine());
}

#[test]
fn check_finds_problems() {
    #[derive(Fields)]
    #[allow(dead_code)]
    struct Undocumented {
        name: String,
    }
    #[derive(Fields)]
    #[allow(dead_code)]
    struct BadDefault {
        /// A number.
        #[field(default = "x")]
        n: u32,
    }
    fn h(_: &mut Ctx<'_>, _: Undocumented) -> Result<Response, Error> {
        Ok(Response::none())
    }
    fn b(_: &mut Ctx<'_>, _: BadDefault) -> Result<Response, Error> {
        Ok(Response::none())
    }
    fn n(_: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
        Ok(Response::none())
    }
    let e = Engine::new()
        .path(Path::new("a/{name}").read(h))
        .path(Path::new("a/{other}").read(b))
        .path(Path::new("b/{x?}/c").read(n))
        .path(Path::new("d"));
    let problems = check_paths(&e);
    let text = problems.join("\n");
    assert!(
        text.contains("'a/{name}' and 'a/{other}' are ambiguous"),
        "{text}"
    );
    assert!(
        text.contains("field 'name' of the read handler has no description"),
        "{text}"
    );
    assert!(text.contains("do not declare capture 'other'"), "{text}");
    assert!(
        text.contains("default of field 'n' does not parse"),
        "{text}"
    );
    assert!(text.contains("must be the last segment"), "{text}");
    assert!(text.contains("path 'd' declares no operation"), "{text}");
}

#[test]
fn an_invalid_pattern_fails_every_request() {
    fn n(_: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
        Ok(Response::none())
    }
    let mut t = TestEngine::new(
        Engine::new()
            .path(Path::new("ok").read(n))
            .path(Path::new("b/{x?}/c").read(n)),
    );
    // Even the valid path answers 500, naming the bad one.
    for path in ["ok", "b/1/c", "elsewhere"] {
        let e = t.read(path).unwrap_err();
        assert_eq!(e.status(), 500, "{path}");
        assert!(
            e.message().contains("'b/{x?}/c'"),
            "{path}: {}",
            e.message()
        );
    }
}

#[test]
fn schema_is_kept() {
    let e = engine();
    let path = &e.paths()[0];
    assert_eq!(path.operations(), [Operation::Create, Operation::Update]);
    let schema = path.fields(Operation::Create).unwrap();
    let ty = schema.iter().find(|f| f.name == "type").unwrap();
    assert_eq!(ty.kind, FieldType::Enum);
    assert_eq!(ty.allowed_values, ["aes256-gcm96", "ed25519"]);
    assert_eq!(ty.default, Some(json!("aes256-gcm96")));
    assert_eq!(ty.description, "The key's type.");
    let count = schema.iter().find(|f| f.name == "count").unwrap();
    assert!(count.required);
    assert_eq!(count.kind, FieldType::Int);
}

#[test]
fn routing_and_operations() {
    let mut t = TestEngine::new(engine());
    assert_eq!(
        t.read("nope"),
        Err(Error::NotFound("unsupported path".into()))
    );
    assert_eq!(
        t.delete("keys/a"),
        Err(Error::UnsupportedOperation("unsupported operation".into()))
    );
    // Literal beats capture.
    assert_eq!(data(t.read("keys/config")), json!({"config": true}));
    // Optional trailing capture.
    assert_eq!(
        data(t.read("export/k/app")),
        json!({"type": "k", "name": "app", "version": null})
    );
    assert_eq!(
        data(t.read("export/k/app/3")),
        json!({"type": "k", "name": "app", "version": 3})
    );
    assert!(
        matches!(t.read("export/k/app/x"), Err(Error::InvalidRequest(m)) if m.contains("'version'"))
    );
}

#[test]
fn create_update_and_fields() {
    let mut t = TestEngine::new(engine());
    // Absent: create, with defaults and lenient parsing.
    let r = t
        .write("keys/a", json!({"count": "3", "exportable": "1", "allowed": "x, y", "ttl": "1h30m", "blob": "aGk="}))
        .unwrap();
    assert_eq!(
        r.data_value().unwrap(),
        &json!({"op": "create", "name": "a", "type": "aes256-gcm96", "ttl": 5400, "exportable": true,
                "allowed": ["x", "y"], "count": 3, "blob": 2})
    );
    assert!(r.warnings().is_empty());

    // Errors name the field.
    assert_eq!(
        t.write("keys/a", json!({})),
        Err(Error::InvalidRequest(
            "missing required field 'count'".into()
        ))
    );
    let err = t
        .write("keys/a", json!({"count": 1, "type": "rsa"}))
        .unwrap_err();
    assert_eq!(
        err,
        Error::InvalidRequest(
            "field 'type': unknown value \"rsa\"; allowed values: aes256-gcm96, ed25519".into()
        )
    );
    let err = t.write("keys/a", json!({"count": "many"})).unwrap_err();
    assert!(
        err.message()
            .starts_with("field 'count': expected an integer"),
        "{err}"
    );
    let err = t
        .write("keys/a", json!({"count": 1, "blob": "%%%"}))
        .unwrap_err();
    assert!(
        err.message().starts_with("field 'blob': expected base64"),
        "{err}"
    );

    // The update handler stores; then the key exists and writes are updates.
    let r = t.request(
        Request::new(Operation::Update, "keys/b").with_body(json!({"zz": 1, "aa": 2, "name": "x"})),
    );
    let r = r.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        r.warnings(),
        [
            "Endpoint ignored these unrecognized parameters: [aa zz]",
            "Endpoint replaced the value of these parameters with the values captured from the endpoint's path: [name]",
            "updated",
        ]
    );
    assert_eq!(t.write("keys/b", json!({})).unwrap().status(), 204);
}

#[test]
fn create_falls_back_to_update() {
    let mut t = TestEngine::new(engine());
    let r = t.request(Request::new(Operation::Create, "fail/x"));
    assert_eq!(r, Err(Error::PermissionDenied("no".into())));
    assert!(t.storage.is_empty(), "failed call's writes are dropped");
    assert_eq!(
        t.exists(Request::new(Operation::Update, "fail/x")),
        Ok(None)
    );
}

#[test]
fn list_shape() {
    let mut t = TestEngine::new(engine());
    assert_eq!(t.list("keys/"), Err(Error::not_found()));
    t.request(Request::new(Operation::Update, "keys/b"))
        .unwrap();
    assert_eq!(data(t.list("keys")), json!({"keys": ["b"]}));
    // Query parameters are fields for list: unknown ones are warned about.
    let r = t.request(
        Request::new(Operation::List, "keys")
            .with_query("list", "true")
            .with_query("x", "1"),
    );
    assert_eq!(
        r.unwrap().warnings(),
        ["Endpoint ignored these unrecognized parameters: [x]"]
    );
}

#[test]
fn batches() {
    let mut t = TestEngine::new(engine());
    assert_eq!(
        data(t.write("shout", json!({"text": "hi"}))),
        json!({"text": "HI"})
    );
    assert_eq!(
        t.write("shout", json!({"text": "bad"})),
        Err(Error::invalid("bad input"))
    );
    assert_eq!(
        t.write("shout", json!({})),
        Err(Error::invalid("missing required field 'text'"))
    );
    let r = t
        .write(
            "shout",
            json!({"batch_input": [{"text": "a", "reference": "r1"}, {"text": "bad"}, {"reference": 7}]}),
        )
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.data_value().unwrap(),
        &json!({"batch_results": [
            {"text": "A", "reference": "r1"},
            {"error": "bad input", "reference": ""},
            {"error": "missing required field 'text'", "reference": 7},
        ]})
    );
    // partial_failure_response_code: some succeeded, or none did.
    let r = t
        .write(
            "shout",
            json!({"batch_input": [{"text": "a"}, {"text": "bad"}], "partial_failure_response_code": 207}),
        )
        .unwrap();
    assert_eq!(r.status(), 207);
    let r = t
        .write(
            "shout",
            json!({"batch_input": [{"text": "bad"}], "partial_failure_response_code": 207}),
        )
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = t
        .write(
            "shout",
            json!({"batch_input": [{"text": "a"}, {"text": "bad"}], "partial_failure_response_code": 999}),
        )
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.warnings().len(), 1);
    let r = t
        .write("shout", json!({"batch_input": [{"text": "a"}]}))
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        t.write("shout", json!({"batch_input": []})),
        Err(Error::invalid("missing batch input to process"))
    );
}

#[test]
fn enums_roundtrip() {
    assert_eq!(KeyKind::Aes256Gcm96.to_string(), "aes256-gcm96");
    assert_eq!("ed25519".parse::<KeyKind>(), Ok(KeyKind::Ed25519));
    assert_eq!(
        serde_json::to_value(KeyKind::Ed25519).unwrap(),
        json!("ed25519")
    );
    assert_eq!(
        serde_json::from_value::<KeyKind>(json!("aes256-gcm96")).unwrap(),
        KeyKind::Aes256Gcm96
    );
    assert!(serde_json::from_value::<KeyKind>(json!("x")).is_err());
}

/// `rename_all` for every variant without its own `rename`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FieldEnum)]
#[field(rename_all = "snake_case")]
enum Format {
    PemBundle,
    #[field(rename = "der")]
    Der,
}

/// `case_insensitive`: any ASCII case on input, the wire string on output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FieldEnum)]
#[field(case_insensitive, rename_all = "SCREAMING_SNAKE_CASE")]
enum Usage {
    DigitalSignature,
    KeyAgreement,
}

#[test]
fn enum_cases() {
    assert_eq!(
        <Format as coffer_sdk::FieldEnum>::VALUES,
        ["pem_bundle", "der"]
    );
    assert_eq!("pem_bundle".parse::<Format>(), Ok(Format::PemBundle));
    assert!("pem-bundle".parse::<Format>().is_err());
    assert!(
        "PEM_BUNDLE".parse::<Format>().is_err(),
        "case-sensitive by default"
    );

    assert_eq!(Usage::KeyAgreement.to_string(), "KEY_AGREEMENT");
    for text in ["KEY_AGREEMENT", "key_agreement", "Key_Agreement"] {
        assert_eq!(text.parse::<Usage>(), Ok(Usage::KeyAgreement), "{text}");
    }
    assert_eq!(
        serde_json::from_value::<Usage>(json!("digitalsignature")).map_err(|e| e.to_string()),
        Err(
            "unknown value \"digitalsignature\"; allowed values: DIGITAL_SIGNATURE, KEY_AGREEMENT"
                .to_string()
        )
    );
}

#[test]
fn state_lives_with_the_instance() {
    #[derive(Default)]
    struct Calls(u64);
    fn count(ctx: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
        let calls = ctx.state::<Calls>();
        calls.borrow_mut().0 += 1;
        let n = calls.borrow().0;
        Ok(Response::data(json!({ "calls": n })))
    }
    let table = || Engine::new().path(Path::new("count").read(count));
    let mut one = TestEngine::new(table());
    let mut other = TestEngine::new(table());
    let calls = |t: &mut TestEngine| {
        t.read("count").unwrap().data_value().cloned().unwrap()["calls"].clone()
    };
    assert_eq!(calls(&mut one), json!(1));
    assert_eq!(calls(&mut one), json!(2));
    assert_eq!(calls(&mut other), json!(1), "instances do not share state");
}

/// A batch path whose single request and items share one declaration.
#[derive(Fields)]
struct Shared {
    /// The key's name.
    name: String,
    /// The single request's input (none in a batch).
    #[field(flatten)]
    single: Option<Item>,
    /// Many inputs.
    batch_input: Option<BatchInput<Item>>,
}

#[derive(Fields)]
struct WithPrefix {
    /// A prefix.
    #[field(default = ">")]
    prefix: String,
    /// The rest.
    #[field(flatten)]
    item: Item,
}

#[test]
fn flattened_fields_are_read_from_the_same_request() {
    let shared = |ctx: &mut Ctx<'_>, f: Shared| -> Result<Response, Error> {
        match (f.single, f.batch_input) {
            (Some(item), None) => Ok(Response::data(
                json!({ "name": f.name, "texts": [item.text] }),
            )),
            (None, Some(b)) => Batch::<Item>::from_request(ctx, Some(b))?
                .run(|item| Ok(json!({ "text": item.text }))),
            (None, None) => Err(Error::invalid("missing text")),
            (Some(_), Some(_)) => Err(Error::invalid("both")),
        }
    };
    let prefixed = |_: &mut Ctx<'_>, f: WithPrefix| -> Result<Response, Error> {
        Ok(Response::data(json!(format!(
            "{}{}",
            f.prefix, f.item.text
        ))))
    };
    let e = Engine::new()
        .path(Path::new("shout/{name}").update(shared))
        .path(Path::new("prefix/{text}").update(prefixed));
    assert_paths_valid(&e);
    let schema = e.paths()[0].fields(Operation::Update).unwrap();
    let text = schema.iter().find(|f| f.name == "text").unwrap();
    assert!(!text.required, "optional when flattened as an Option");
    let mut t = TestEngine::new(e);

    let r = t.write("shout/k", json!({"text": "a"})).unwrap();
    assert_eq!(
        r.data_value().unwrap(),
        &json!({"name": "k", "texts": ["a"]})
    );
    assert!(
        r.warnings().is_empty(),
        "flattened keys are known: {:?}",
        r.warnings()
    );
    let r = t
        .write(
            "shout/k",
            json!({"batch_input": [{"text": "b"}, {"text": "c"}]}),
        )
        .unwrap();
    assert_eq!(
        r.data_value().unwrap()["batch_results"],
        json!([{"text": "b", "reference": ""}, {"text": "c", "reference": ""}])
    );
    assert_eq!(
        t.write("shout/k", json!({})).unwrap_err().message(),
        "missing text"
    );
    let r = t
        .write("shout/k", json!({"text": "d", "other": 1}))
        .unwrap();
    assert_eq!(r.warnings().len(), 1, "an unknown key still warns");

    // A capture fills a flattened field; a required one is required.
    let r = t.write("prefix/x", json!({})).unwrap();
    assert_eq!(r.data_value().unwrap(), &json!(">x"));
    let r = t
        .request(
            Request::new(Operation::Update, "prefix/y")
                .with_body(json!({"prefix": "#", "text": "ignored"})),
        )
        .unwrap();
    assert_eq!(r.data_value().unwrap(), &json!("#y"));
}

/// A second flattened group for [`two_flattened_structs_fill_their_own_fields`].
#[derive(Fields)]
struct Output {
    /// An output format.
    #[field(default = "pem")]
    format: String,
}

#[derive(Fields)]
struct TwoGroups {
    /// The text group.
    #[field(flatten)]
    item: Item,
    /// The output group.
    #[field(flatten)]
    out: Output,
}

/// Never parsed: only its declaration is checked.
#[allow(dead_code)]
#[derive(Fields)]
struct Clash {
    /// Declared here and in `Item`.
    text: String,
    /// Declares `text` again.
    #[field(flatten)]
    item: Item,
}

#[test]
fn two_flattened_structs_fill_their_own_fields() {
    let both = |_: &mut Ctx<'_>, f: TwoGroups| -> Result<Response, Error> {
        Ok(Response::data(json!([f.item.text, f.out.format])))
    };
    let e = Engine::new().path(Path::new("two/{text}").update(both));
    assert_paths_valid(&e);
    let names: Vec<&str> = e.paths()[0]
        .fields(Operation::Update)
        .unwrap()
        .iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(names, ["text", "format"]);
    let mut t = TestEngine::new(e);
    let r = t.write("two/a", json!({"format": "der"})).unwrap();
    assert_eq!(r.data_value().unwrap(), &json!(["a", "der"]));
    assert!(r.warnings().is_empty(), "{:?}", r.warnings());
    let r = t.write("two/b", json!({})).unwrap();
    assert_eq!(r.data_value().unwrap(), &json!(["b", "pem"]));

    // A name declared both here and in a flattened struct is a declaration
    // problem, which the path check reports.
    let clash = |_: &mut Ctx<'_>, _: Clash| -> Result<Response, Error> { Ok(Response::none()) };
    let problems = <Clash as coffer_sdk::Fields>::declaration_problems();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("\"text\" is declared twice")),
        "{problems:?}"
    );
    let e = Engine::new().path(Path::new("clash").update(clash));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| assert_paths_valid(&e)));
    assert!(caught.is_err(), "assert_paths_valid reports the clash");
}
