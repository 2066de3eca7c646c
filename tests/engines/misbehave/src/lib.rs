//! A test engine that misbehaves on purpose, so the host's limits can be
//! tested: `ok` answers, `loop` never returns, `alloc` eats memory without
//! bound, `trap` panics. `pem` answers a raw PEM body, for the host's raw
//! response path.
//!
//! For the all-or-nothing commit (design invariant 3), writes (POST/PUT)
//! that store a key and then fail: `write-trap` stores `t` and panics,
//! `write-loop` stores `l` and never returns, `write-alloc` stores `a` and
//! eats memory, `write-fail` stores `f` and answers a 400. `put/{key}`
//! stores `key` and succeeds; `get/{key}` reads a key back (404 if absent).
//!
//! Its periodic work is slow on purpose when the mount asks (see
//! [`periodic`]), so a test can seal while a periodic call runs.
#![deny(missing_docs)]
#![deny(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use coffer_sdk::prelude::*;

/// The path table.
#[coffer_sdk::engine(contract = "0.1")]
pub fn engine() -> Engine {
    Engine::new()
        .path(Path::new("ok").read(ok))
        .path(Path::new("loop").read(spin))
        .path(Path::new("alloc").read(alloc))
        .path(Path::new("trap").read(trap))
        .path(Path::new("pem").read(pem))
        .path(Path::new("write-trap").update(write_trap))
        .path(Path::new("write-loop").update(write_loop))
        .path(Path::new("write-alloc").update(write_alloc))
        .path(Path::new("write-fail").update(write_fail))
        .path(Path::new("put/{key}").update(put))
        .path(Path::new("get/{key}").read(get))
        .periodic(periodic)
}

/// Periodic work, only on a mount with the option `periodic_busy_secs`:
/// logs `periodic call <n> started`, busy-waits that many seconds of the
/// host's clock, then stores `n` at `periodic-count`. A test can so tell a
/// periodic call in flight (the log line is out, the count not yet stored)
/// and whether its write landed.
fn periodic(ctx: &mut Ctx<'_>) -> Result<(), Error> {
    let Some(busy) = ctx
        .mount_options()
        .get("periodic_busy_secs")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse::<u64>().ok())
    else {
        return Ok(());
    };
    let n = ctx
        .storage()
        .get_json::<u64>("periodic-count")?
        .unwrap_or(0)
        + 1;
    coffer_sdk::log::warn(&format!("periodic call {n} started"));
    let until = coffer_sdk::clock::now().seconds.saturating_add(busy);
    while coffer_sdk::clock::now().seconds < until {
        core::hint::black_box(n);
    }
    ctx.storage().put_json("periodic-count", &n)?;
    Ok(())
}

/// A key of this engine's storage, named in the path.
#[derive(Fields)]
struct Key {
    /// The storage key.
    key: String,
}

/// What the writing paths store: the key's own name, so a value read back
/// says where it was written.
fn stored(key: &str) -> serde_json::Value {
    serde_json::json!({ "written_as": key })
}

/// Stores `key` and succeeds.
fn put(ctx: &mut Ctx<'_>, f: Key) -> Result<Response, Error> {
    ctx.storage().put_json(&f.key, &stored(&f.key))?;
    Ok(Response::none())
}

/// Reads `key` back: `{"value": ...}`, or 404 when absent.
fn get(ctx: &mut Ctx<'_>, f: Key) -> Result<Response, Error> {
    let value: Option<serde_json::Value> = ctx.storage().get_json(&f.key)?;
    Response::data_or_not_found(value.map(|v| serde_json::json!({ "value": v })))
}

/// Stores `t`, then panics (a trap).
#[allow(clippy::panic)]
fn write_trap(ctx: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
    ctx.storage().put_json("t", &stored("t"))?;
    panic!("misbehave: trap after a write");
}

/// Stores `l`, then never returns (stopped by the call deadline).
fn write_loop(ctx: &mut Ctx<'_>, f: ()) -> Result<Response, Error> {
    ctx.storage().put_json("l", &stored("l"))?;
    spin(ctx, f)
}

/// Stores `a`, then allocates until the memory cap stops it.
fn write_alloc(ctx: &mut Ctx<'_>, f: ()) -> Result<Response, Error> {
    ctx.storage().put_json("a", &stored("a"))?;
    alloc(ctx, f)
}

/// Stores `f`, then answers an error (400): the engine itself fails.
fn write_fail(ctx: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
    ctx.storage().put_json("f", &stored("f"))?;
    Err(Error::invalid("misbehave: failing after a write"))
}

/// The PEM text `pem` answers.
pub const PEM: &str = "-----BEGIN CERTIFICATE-----\nTUlTQkVIQVZF\n-----END CERTIFICATE-----\n";

fn pem(_: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
    Ok(Response::raw("application/pem-certificate-chain", PEM))
}

fn ok(_: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
    Ok(Response::data(serde_json::json!({ "ok": true })))
}

/// Never returns; `black_box` keeps the optimiser from proving it useless.
fn spin(_: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
    let mut n: u64 = 0;
    loop {
        n = core::hint::black_box(n.wrapping_add(1));
    }
}

/// Allocates 1 MiB at a time, touching every page, until the host stops it.
fn alloc(_: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let chunk = vec![0xA5_u8; 1 << 20];
        hoard.push(core::hint::black_box(chunk));
        core::hint::black_box(&hoard);
    }
}

/// Panics: a wasm trap.
#[allow(clippy::panic)]
fn trap(_: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
    panic!("misbehave: trap on purpose");
}

#[cfg(test)]
mod tests {
    use coffer_sdk::testing::{assert_paths_valid, TestEngine};

    #[test]
    fn table_and_ok() {
        assert_paths_valid(&super::engine());
        let mut t = TestEngine::new(super::engine());
        let r = t.read("ok").unwrap();
        assert_eq!(r.data_value(), Some(&serde_json::json!({ "ok": true })));
    }

    #[test]
    fn put_get_and_failing_write() {
        let mut t = TestEngine::new(super::engine());
        assert_eq!(t.read("get/k"), Err(coffer_sdk::Error::not_found()));
        assert_eq!(
            t.write("put/k", serde_json::json!({})).unwrap().status(),
            204
        );
        assert_eq!(
            t.read("get/k").unwrap().data_value(),
            Some(&serde_json::json!({ "value": { "written_as": "k" } }))
        );
        assert!(matches!(
            t.write("write-fail", serde_json::json!({})),
            Err(coffer_sdk::Error::InvalidRequest(_))
        ));
        assert_eq!(t.read("get/f"), Err(coffer_sdk::Error::not_found()));
    }

    #[test]
    #[should_panic(expected = "trap after a write")]
    fn write_trap_panics() {
        let _ = TestEngine::new(super::engine()).write("write-trap", serde_json::json!({}));
    }

    #[test]
    #[should_panic(expected = "trap on purpose")]
    fn trap_panics() {
        let _ = TestEngine::new(super::engine()).read("trap");
    }
}
