//! `{path*}`: read, write, delete and list secrets at any depth.
//!
//! A secret is the request body, a JSON object, stored whole under its path;
//! `LIST` lists one level, folders with a trailing `/`.

use coffer_sdk::prelude::*;
use serde_json::{Map, Value};

/// The declaration.
pub fn path() -> Path {
    Path::new("{path*}")
        .read(read)
        .update(write)
        .delete(delete)
        .list(list)
        .exists(exists)
        .takes_arbitrary_input()
        .synopsis("Pass-through secret storage to the mount's storage.")
        .description(
            "Writes store the request body as the secret at that path, replacing any \
             previous one; reads return it; LIST on a prefix returns the keys under it.",
        )
}

/// Where the secret is.
#[derive(Fields)]
struct Location {
    /// Location of the secret.
    path: String,
}

fn read(ctx: &mut Ctx<'_>, f: Location) -> Result<Response, Error> {
    let secret: Option<Map<String, Value>> = ctx.storage().get_json(&f.path)?;
    Response::data_or_not_found(secret.map(Value::Object))
}

fn write(ctx: &mut Ctx<'_>, f: Location) -> Result<Response, Error> {
    if f.path.is_empty() {
        return Err(Error::invalid("missing path"));
    }
    if ctx.body().is_empty() {
        return Err(Error::invalid("missing data fields"));
    }
    let body = ctx.body().clone();
    ctx.storage().put_json(&f.path, &body)?;
    Ok(Response::none())
}

fn delete(ctx: &mut Ctx<'_>, f: Location) -> Result<Response, Error> {
    ctx.storage().delete(&f.path)?;
    Ok(Response::none())
}

fn list(ctx: &mut Ctx<'_>, f: Location) -> Result<Response, Error> {
    let mut prefix = f.path;
    if !prefix.is_empty() && !prefix.ends_with('/') {
        prefix.push('/');
    }
    Ok(Response::list(ctx.storage().list(&prefix)?))
}

fn exists(ctx: &mut Ctx<'_>, f: Location) -> Result<bool, Error> {
    Ok(ctx.storage().get(&f.path)?.is_some())
}

#[cfg(test)]
mod tests {
    use coffer_sdk::testing::TestEngine;
    use coffer_sdk::{Operation, Request};
    use serde_json::json;

    use super::*;

    fn kv() -> TestEngine {
        TestEngine::new(crate::engine())
    }

    #[test]
    fn write_read_delete() {
        let mut t = kv();
        assert_eq!(t.read("app/db"), Err(Error::not_found()));
        let r = t
            .write("app/db", json!({"user": "u", "pass": "p", "n": 1}))
            .unwrap();
        assert_eq!(r.status(), 204);
        assert!(r.warnings().is_empty(), "kv takes arbitrary input");
        let r = t.read("app/db").unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.data_value(),
            Some(&json!({"user": "u", "pass": "p", "n": 1}))
        );
        // A write replaces the whole secret.
        t.write("app/db", json!({"user": "v"})).unwrap();
        assert_eq!(
            t.read("app/db").unwrap().data_value(),
            Some(&json!({"user": "v"}))
        );
        assert_eq!(t.delete("app/db").unwrap().status(), 204);
        assert_eq!(t.read("app/db"), Err(Error::not_found()));
        assert_eq!(
            t.delete("app/db").unwrap().status(),
            204,
            "deleting nothing is fine"
        );
    }

    #[test]
    fn existence_check_tells_create_from_update() {
        let mut t = kv();
        let probe = || Request::new(Operation::Update, "a/b");
        assert_eq!(t.exists(probe()), Ok(Some(false)));
        t.write("a/b", json!({"x": 1})).unwrap();
        assert_eq!(t.exists(probe()), Ok(Some(true)));
    }

    #[test]
    fn lists_one_level() {
        let mut t = kv();
        assert_eq!(t.list(""), Err(Error::not_found()));
        for p in ["a", "b/c", "b/d/e", "b/d/f", "c"] {
            t.write(p, json!({"v": p})).unwrap();
        }
        assert_eq!(
            t.list("").unwrap().data_value(),
            Some(&json!({"keys": ["a", "b/", "c"]}))
        );
        assert_eq!(
            t.list("b/").unwrap().data_value(),
            Some(&json!({"keys": ["c", "d/"]}))
        );
        assert_eq!(
            t.list("b").unwrap().data_value(),
            Some(&json!({"keys": ["c", "d/"]}))
        );
        assert_eq!(
            t.list("b/d/").unwrap().data_value(),
            Some(&json!({"keys": ["e", "f"]}))
        );
        assert_eq!(t.list("nothing/"), Err(Error::not_found()));
    }

    #[test]
    fn bad_writes_are_400s() {
        let mut t = kv();
        assert_eq!(
            t.write("a", json!({})),
            Err(Error::invalid("missing data fields"))
        );
        assert_eq!(
            t.write("", json!({"x": 1})),
            Err(Error::invalid("missing path"))
        );
        assert!(t.storage.is_empty());
    }

    #[test]
    fn body_is_stored_as_sent() {
        let mut t = kv();
        // A body field named like the capture is kept in the secret.
        t.write("a", json!({"path": "inner", "nested": {"k": [1, 2]}}))
            .unwrap();
        assert_eq!(
            t.read("a").unwrap().data_value(),
            Some(&json!({"path": "inner", "nested": {"k": [1, 2]}}))
        );
    }

    #[test]
    fn query_does_not_leak_into_writes() {
        let mut t = kv();
        let req = Request::new(Operation::Update, "q")
            .with_body(json!({"a": 1}))
            .with_query("b", "2");
        t.request(req).unwrap();
        assert_eq!(t.read("q").unwrap().data_value(), Some(&json!({"a": 1})));
    }
}
