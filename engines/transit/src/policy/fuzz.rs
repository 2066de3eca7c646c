//! Property tests of the `vault:vN:` values transit reads back — the
//! ciphertexts of `decrypt` and `rewrap`, the signatures and HMACs of
//! `verify` — (issue #9's fuzzing on stable Rust, with proptest), through
//! the engine's own paths over one key of each kind: arbitrary text,
//! `vault:v<version>:<body>` built from hostile pieces, and valid values
//! with a few characters changed. Properties: nothing panics; every
//! refusal is a 400 (a batch's too), never a 500; a ciphertext that
//! decrypts gives back exactly what was encrypted.
//!
//! An ordinary test run tries a few hundred cases per property;
//! `PROPTEST_CASES` (`just fuzz`) sets how many.

#![allow(clippy::unwrap_used, clippy::panic)]

use coffer_sdk::testing::TestEngine;
use coffer_sdk::{Error, Response};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};

use crate::tests::{data, transit};
use crate::util::split_versioned;

/// `n` cases in an ordinary test run; `PROPTEST_CASES` overrides it.
fn config(n: u32) -> Config {
    if std::env::var_os("PROPTEST_CASES").is_some() {
        Config::default()
    } else {
        Config::with_cases(n)
    }
}

/// What was encrypted and signed: "hi".
const PLAIN: &str = "aGk=";
/// The context of derived keys.
const CONTEXT: &str = "Y3R4";

/// A key under test: its name, whether it encrypts or signs, and the
/// fields every request on it carries.
struct Key {
    name: &'static str,
    encrypts: bool,
    signs: bool,
    extra: Value,
}

fn keys() -> Vec<Key> {
    let key = |name, encrypts, signs, extra| Key {
        name,
        encrypts,
        signs,
        extra,
    };
    vec![
        key("aes", true, false, json!({})),
        key("derived", true, false, json!({ "context": CONTEXT })),
        key("convergent", true, false, json!({ "context": CONTEXT })),
        key("rsa", true, true, json!({})),
        key("ec", false, true, json!({})),
        key(
            "ec-jws",
            false,
            true,
            json!({"marshaling_algorithm": "jws"}),
        ),
        key("ed", false, true, json!({})),
        key("hmac", false, false, json!({})),
    ]
}

/// An engine with every key of [`keys`] at two versions, and valid
/// ciphertexts, signatures and HMACs made with both.
fn setup() -> (TestEngine, Vec<Key>, Vec<String>) {
    let mut t = transit();
    let created = [
        ("aes", json!({})),
        ("derived", json!({"derived": true})),
        (
            "convergent",
            json!({"type": "chacha20-poly1305", "derived": true, "convergent_encryption": true}),
        ),
        ("rsa", json!({"type": "rsa-2048"})),
        ("ec", json!({"type": "ecdsa-p256"})),
        ("ec-jws", json!({"type": "ecdsa-p384"})),
        ("ed", json!({"type": "ed25519"})),
        ("hmac", json!({"type": "hmac"})),
    ];
    for (name, body) in created {
        data(t.write(&format!("keys/{name}"), body));
        data(t.write(&format!("keys/{name}/rotate"), json!({})));
    }
    let keys = keys();
    let mut samples = Vec::new();
    for k in &keys {
        for version in [1, 2] {
            let mut body = json!({ "input": PLAIN, "plaintext": PLAIN, "key_version": version });
            merge(&mut body, &k.extra);
            if k.encrypts {
                let r = data(t.write(&format!("encrypt/{}", k.name), body.clone()));
                samples.push(r["ciphertext"].as_str().unwrap().to_string());
            }
            if k.signs {
                let r = data(t.write(&format!("sign/{}", k.name), body.clone()));
                samples.push(r["signature"].as_str().unwrap().to_string());
            }
            let r = data(t.write(&format!("hmac/{}", k.name), body));
            samples.push(r["hmac"].as_str().unwrap().to_string());
        }
    }
    (t, keys, samples)
}

fn merge(body: &mut Value, extra: &Value) {
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            body.insert(k.clone(), v.clone());
        }
    }
}

/// The `vault:vN:` values to try.
fn value(samples: Vec<String>) -> impl Strategy<Value = String> {
    let version = prop::sample::select(vec![
        "1",
        "2",
        "0",
        "3",
        "-1",
        "+1",
        " 1",
        "01",
        "4294967295",
        "4294967296",
        "99999999999999999999",
        "",
        "x",
        "1:2",
    ]);
    let body = "[A-Za-z0-9+/=_ -]{0,48}";
    let built = (
        prop::sample::select(vec!["vault:v", "vault:", "vault:V", "v", ""]),
        version,
        prop::sample::select(vec![":", "::", ""]),
        body,
    )
        .prop_map(|(prefix, version, colon, body)| format!("{prefix}{version}{colon}{body}"));
    let edited = (
        prop::sample::select(samples),
        prop::collection::vec(
            (
                any::<prop::sample::Index>(),
                prop::sample::select(vec![
                    "", "A", "/", "+", "=", "==", ":", "v", "-", "_", " ", "é", "\u{0}",
                ]),
                0usize..3,
            ),
            1..4,
        ),
    )
        .prop_map(|(sample, edits)| {
            let mut chars: Vec<char> = sample.chars().collect();
            for (at, piece, remove) in edits {
                let i = at.index(chars.len() + 1);
                let end = (i + remove).min(chars.len());
                chars.splice(i..end, piece.chars());
            }
            chars.into_iter().collect()
        });
    prop_oneof![any::<String>(), built, edited]
}

/// A response is not a 500, its own status included (a batch's).
fn check_status(r: &Result<Response, Error>) -> Result<(), TestCaseError> {
    match r {
        Ok(r) => prop_assert!(r.status() < 500, "{:?}", r),
        Err(e) => prop_assert_eq!(e.status(), 400, "{}", e),
    }
    Ok(())
}

/// Every plaintext in a decrypt answer (lone or batch) is what was
/// encrypted.
fn check_plaintexts(r: &Result<Response, Error>) -> Result<(), TestCaseError> {
    let Some(data) = r.as_ref().ok().and_then(Response::data_value) else {
        return Ok(());
    };
    let items = match data.get("batch_results").and_then(Value::as_array) {
        Some(items) => items.clone(),
        None => vec![data.clone()],
    };
    for item in items {
        if let Some(plain) = item.get("plaintext") {
            prop_assert_eq!(plain, PLAIN);
        }
    }
    Ok(())
}

#[test]
fn versioned_values_are_read_or_refused_with_a_400() {
    let (mut t, keys, samples) = setup();
    // The values edited below are valid to begin with.
    let valid = data(t.write("decrypt/aes", json!({ "ciphertext": samples[0] })));
    assert_eq!(valid["plaintext"], PLAIN);
    // The runner takes a `Fn`: the engine is borrowed mutably per case.
    let t = std::cell::RefCell::new(t);
    let mut runner = TestRunner::new(config(256));
    let cases = (
        value(samples),
        any::<prop::sample::Index>(),
        0..5usize,
        any::<bool>(),
    );
    runner
        .run(&cases, |(text, key, operation, batch)| {
            let k = key.get(&keys);
            let (path, field) = match operation {
                0 if k.encrypts => ("decrypt", "ciphertext"),
                1 if k.encrypts => ("rewrap", "ciphertext"),
                2 if k.signs => ("verify", "signature"),
                _ => ("verify", "hmac"),
            };
            let mut item = json!({ "input": PLAIN, field: text });
            merge(&mut item, &k.extra);
            let body = if batch {
                let mut body = json!({ "batch_input": [item.clone(), item] });
                merge(&mut body, &k.extra);
                body
            } else {
                item
            };
            let r = t.borrow_mut().write(&format!("{path}/{}", k.name), body);
            check_status(&r)?;
            if path == "decrypt" {
                check_plaintexts(&r)?;
            }
            Ok(())
        })
        .unwrap();
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn split_versioned_never_panics(text in any::<String>()) {
        if let Err(e) = split_versioned(&text, "ciphertext") {
            prop_assert_eq!(e.status(), 400);
        }
    }
}
