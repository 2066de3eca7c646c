//! A test engine with state: `counter/{name}` counts updates, so the host's
//! write commits and serializability can be tested (two concurrent updates
//! must make 2, never 1).
#![deny(missing_docs)]
#![deny(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use coffer_sdk::prelude::*;

/// The path table.
#[coffer_sdk::engine(contract = "0.1")]
pub fn engine() -> Engine {
    Engine::new().path(Path::new("counter/{name}").read(read).update(increment))
}

/// Which counter.
#[derive(Fields)]
struct Counter {
    /// The counter's name; its value is stored under this key.
    name: String,
}

fn value(ctx: &mut Ctx<'_>, name: &str) -> Result<u64, Error> {
    Ok(ctx.storage().get_json::<u64>(name)?.unwrap_or(0))
}

fn read(ctx: &mut Ctx<'_>, f: Counter) -> Result<Response, Error> {
    let n = value(ctx, &f.name)?;
    Ok(Response::data(serde_json::json!({ "value": n })))
}

fn increment(ctx: &mut Ctx<'_>, f: Counter) -> Result<Response, Error> {
    let n = value(ctx, &f.name)?
        .checked_add(1)
        .ok_or_else(|| Error::invalid("counter overflow"))?;
    ctx.storage().put_json(&f.name, &n)?;
    Ok(Response::data(serde_json::json!({ "value": n })))
}

#[cfg(test)]
mod tests {
    use coffer_sdk::testing::{assert_paths_valid, TestEngine};
    use coffer_sdk::Error;
    use serde_json::json;

    #[test]
    fn counts() {
        assert_paths_valid(&super::engine());
        let mut t = TestEngine::new(super::engine());
        assert_eq!(
            t.read("counter/a").unwrap().data_value(),
            Some(&json!({"value": 0}))
        );
        assert_eq!(
            t.write("counter/a", json!({})).unwrap().data_value(),
            Some(&json!({"value": 1}))
        );
        assert_eq!(
            t.write("counter/a", json!({})).unwrap().data_value(),
            Some(&json!({"value": 2}))
        );
        assert_eq!(
            t.read("counter/a").unwrap().data_value(),
            Some(&json!({"value": 2}))
        );
        assert_eq!(
            t.read("counter/b").unwrap().data_value(),
            Some(&json!({"value": 0}))
        );
        assert_eq!(
            t.read("counter"),
            Err(Error::NotFound("unsupported path".into()))
        );
        assert_eq!(
            t.delete("counter/a"),
            Err(Error::UnsupportedOperation("unsupported operation".into()))
        );
    }
}
