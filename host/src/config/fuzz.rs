//! Property tests of the configuration file parser (issue #9's fuzzing on
//! stable Rust, with proptest): arbitrary text, and generated files (known
//! settings with values of every shape) as written and mutated.
//! Properties: nothing panics; a file either is refused with an error or
//! gives a configuration the server can run with (durations that fit in
//! an `Instant`, a concurrency bound a semaphore can hold, a memory cap of
//! at least 1 MiB).
//!
//! An ordinary test run tries a few hundred cases per property;
//! `PROPTEST_CASES` (`just fuzz`) sets how many.

#![allow(clippy::unwrap_used)]

use std::time::Instant;

use proptest::prelude::*;

use super::{parse, parse_with, Config};

use crate::fuzz_cases as cases;

/// What the server does with a configuration before and while it serves,
/// done here without a server: each would panic on a value out of range.
fn assert_usable(config: &Config) -> Result<(), TestCaseError> {
    let now = Instant::now();
    prop_assert!(now.checked_add(config.limits.call_timeout).is_some());
    prop_assert!(now.checked_add(config.periodic_interval).is_some());
    prop_assert!(!config.periodic_interval.is_zero());
    prop_assert!(!config.limits.call_timeout.is_zero());
    prop_assert!(config.limits.max_concurrent_calls <= tokio::sync::Semaphore::MAX_PERMITS);
    prop_assert!(config.limits.memory_bytes >= 1 << 20);
    Ok(())
}

fn check(text: &str) -> Result<(), TestCaseError> {
    for dev in [false, true] {
        if let Ok(config) = parse_with(text, dev) {
            assert_usable(&config)?;
        }
    }
    Ok(())
}

/// Values of every shape, at and past the limits.
const VALUES: &[&str] = &[
    "\"10s\"",
    "\"1ms\"",
    "\"0ms\"",
    "\"0\"",
    "\"0s\"",
    "\"\"",
    "\"1h30m\"",
    "\"99999999999999999999d\"",
    "\"213503982334601d\"",
    "\"18446744073709551615\"",
    "\"18446744073709551615ms\"",
    "18446744073709551615",
    "18446744073709551616",
    "9223372036854775807",
    "\"64MiB\"",
    "\"1MiB\"",
    "\"1023KiB\"",
    "\"17179869184GiB\"",
    "\"18446744073709551615GiB\"",
    "\" 2 GiB \"",
    "0",
    "1",
    "-1",
    "1.5",
    "1e300",
    "true",
    "false",
    "null",
    "\"true\"",
    "[]",
    "[\"a\"]",
    "{}",
    "{ a = 1 }",
    "\"tls12\"",
    "\"tls13\"",
    "\"127.0.0.1:0\"",
    "\"/tmp/x\"",
    "\"${x}\"",
    "x",
];

const TOP_KEYS: &[&str] = &[
    "plugin_directory",
    "engine_call_timeout",
    "engine_periodic_interval",
    "dev_insecure_clock_offset",
    "engine_memory_limit",
    "engine_max_concurrent_calls",
    "api_addr",
    "ui",
    "bogus",
];

const LISTENER_KEYS: &[&str] = &[
    "address",
    "tls_disable",
    "tls_cert_file",
    "tls_key_file",
    "tls_min_version",
    "cluster_address",
    "bogus",
];

fn attribute(keys: &'static [&'static str]) -> impl Strategy<Value = String> {
    (prop::sample::select(keys), prop::sample::select(VALUES))
        .prop_map(|(k, v)| format!("{k} = {v}"))
}

/// A configuration file: settings, then perhaps storage and listener
/// blocks (with other labels too) and an ignored block.
fn file() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(attribute(TOP_KEYS), 0..5),
        prop::option::of((
            prop::sample::select(vec!["\"redb\"", "\"raft\"", "redb", ""]),
            prop::option::of(prop::sample::select(VALUES)),
        )),
        prop::option::of((
            prop::sample::select(vec!["\"tcp\"", "\"unix\"", "tcp", ""]),
            prop::collection::vec(attribute(LISTENER_KEYS), 0..4),
        )),
        any::<bool>(),
    )
        .prop_map(|(top, storage, listener, telemetry)| {
            let mut text = top.join("\n");
            text.push('\n');
            if let Some((label, path)) = storage {
                let body = path.map(|p| format!("path = {p}")).unwrap_or_default();
                text.push_str(&format!("storage {label} {{\n  {body}\n}}\n"));
            }
            if let Some((label, attributes)) = listener {
                text.push_str(&format!(
                    "listener {label} {{\n  {}\n}}\n",
                    attributes.join("\n  ")
                ));
            }
            if telemetry {
                text.push_str("telemetry {\n  statsd_address = \"x\"\n}\n");
            }
            text
        })
}

fn mutate(text: &str, at: prop::sample::Index, piece: &str, remove: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    let i = at.index(chars.len() + 1);
    let end = (i + remove).min(chars.len());
    let mut out: String = chars.get(..i).unwrap_or_default().iter().collect();
    out.push_str(piece);
    out.extend(chars.get(end..).unwrap_or_default());
    out
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn arbitrary_text_is_refused_or_usable(text in any::<String>()) {
        check(&text)?;
    }

    #[test]
    fn generated_files_are_refused_or_usable(text in file()) {
        check(&text)?;
    }

    #[test]
    fn mutated_files_are_refused_or_usable(
        text in file(),
        edits in prop::collection::vec(
            (
                any::<prop::sample::Index>(),
                prop::sample::select(vec![
                    "", "\"", "{", "}", "=", "\n", "#", "/*", "<<EOF\n", "${", "é", "\\", "[",
                ]),
                0usize..3,
            ),
            1..4,
        ),
    ) {
        let mut mutated = text;
        for (at, piece, remove) in edits {
            mutated = mutate(&mutated, at, piece, remove);
        }
        check(&mutated)?;
    }
}

/// Each value that once passed the parser and would then have panicked
/// the server (a deadline past what an `Instant` holds, a semaphore past
/// its maximum) is refused.
#[test]
fn values_the_server_cannot_run_with_are_refused() {
    let base = "storage \"redb\" { path = \"/tmp/x\" }\nlistener \"tcp\" { tls_disable = true }\n";
    for setting in [
        "engine_call_timeout = 18446744073709551615",
        "engine_call_timeout = \"18446744073709551615ms\"",
        "engine_periodic_interval = \"213503982334601d\"",
        "dev_insecure_clock_offset = 18446744073709551615",
        "engine_periodic_interval = \"0ms\"",
        "engine_max_concurrent_calls = 18446744073709551615",
    ] {
        let text = format!("{base}{setting}\n");
        assert!(parse(&text).is_err(), "{setting}");
    }
}
