//! A test engine that misbehaves on purpose, so the host's limits can be
//! tested: `ok` answers, `loop` never returns, `alloc` eats memory without
//! bound, `trap` panics. `pem` answers a raw PEM body, for the host's raw
//! response path.
#![deny(missing_docs)]
#![deny(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use coffer_sdk::prelude::*;

/// The path table.
#[coffer_sdk::engine]
pub fn engine() -> Engine {
    Engine::new()
        .path(Path::new("ok").read(ok))
        .path(Path::new("loop").read(spin))
        .path(Path::new("alloc").read(alloc))
        .path(Path::new("trap").read(trap))
        .path(Path::new("pem").read(pem))
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
    #[should_panic(expected = "trap on purpose")]
    fn trap_panics() {
        let _ = TestEngine::new(super::engine()).read("trap");
    }
}
