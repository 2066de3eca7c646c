//! Property tests of request parsing (issue #9's fuzzing on stable Rust,
//! with proptest): [`head`] over requests built with hyper's builder from
//! arbitrary methods, URIs and headers, [`check_path`], the query string
//! and [`check_json_body`]. Properties: nothing panics; every refusal is a
//! 4xx (400, or 404 outside `/v1/`, or 405 for an unknown verb), never a
//! 500; what is accepted keeps the promises the ACL relies on (no empty,
//! `.` or `..` segment, no control character).
//!
//! An ordinary test run tries a few hundred cases per property;
//! `PROPTEST_CASES` (`just fuzz`) sets how many.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::{check_json_body, check_path, head, parse_query};
use crate::api::{ApiError, Method};

use crate::fuzz_cases as cases;

/// The promises of an accepted path: those `check_path` exists for.
fn assert_served_path_is_plain(path: &str) -> Result<(), TestCaseError> {
    prop_assert!(!path.chars().any(char::is_control), "{:?}", path);
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    if !trimmed.is_empty() {
        for segment in trimmed.split('/') {
            prop_assert!(
                !segment.is_empty() && segment != "." && segment != "..",
                "{:?}",
                path
            );
        }
    }
    Ok(())
}

fn assert_refusal(e: &ApiError, allowed: &[u16]) -> Result<(), TestCaseError> {
    prop_assert!(allowed.contains(&e.status()), "{:?}", e);
    Ok(())
}

/// Pieces of a request target: path segments, escapes (valid, invalid,
/// encoded slashes and dots, control characters, bad UTF-8) and query
/// syntax.
const URI_PIECES: &[&str] = &[
    "/",
    "/v1/",
    "v1",
    "secret",
    "keys",
    "a",
    ".",
    "..",
    "%2F",
    "%2f",
    "%2E",
    "%2e%2E",
    "%00",
    "%0A",
    "%7F",
    "%C3%A9",
    "%C3",
    "%FF",
    "%",
    "%z",
    "%%",
    "?",
    "&",
    "=",
    "+",
    "list",
    "list=true",
    "list=1",
    "list=",
    "list=maybe",
    "list=%FF",
    "#",
    "*",
    "~",
    "é",
    ";",
];

fn uri() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(prop::sample::select(URI_PIECES), 0..12)
            .prop_map(|pieces| format!("/v1/{}", pieces.concat())),
        prop::collection::vec(prop::sample::select(URI_PIECES), 0..12)
            .prop_map(|pieces| pieces.concat()),
        any::<String>(),
        any::<String>().prop_map(|s| format!("/v1/{s}")),
    ]
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "GET", "HEAD", "POST", "PUT", "DELETE", "LIST", "PATCH", "OPTIONS", "TRACE", "get",
            "CONNECT", "BREW",
        ])
        .prop_map(str::to_string),
        "[A-Za-z!#$%&'*+.^_`|~-]{1,12}",
        any::<String>(),
    ]
}

/// Header values: the token headers' shapes, and raw bytes (including the
/// obs-text bytes 0x80–0xFF that `HeaderValue` allows and `to_str` refuses).
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            " ",
            "Bearer",
            "Bearer ",
            "bearer  t ",
            "Basic x",
            "s.token",
            "Bearer é",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 0..24),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(&'static str, Vec<u8>)>> {
    let name = prop::sample::select(vec![
        "x-vault-token",
        "authorization",
        "content-type",
        "x-vault-request",
    ]);
    prop::collection::vec((name, header_value()), 0..4)
}

/// Pieces of JSON bodies: syntax, numbers at and past the limits, strings
/// with escapes and bad surrogates.
const JSON_PIECES: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    " ",
    "\n",
    "\"a\"",
    "\"\"",
    "null",
    "nul",
    "true",
    "1",
    "-0",
    "1e999",
    "-1e-999",
    "18446744073709551616",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"\\",
    "\"é\"",
    "\u{feff}",
    "\u{0}",
    "/*",
    "NaN",
];

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn any_request_head_is_parsed_or_a_4xx(
        method in method(),
        uri in uri(),
        headers in headers(),
    ) {
        let mut builder = hyper::Request::builder().method(method.as_str()).uri(uri.as_str());
        for (name, value) in &headers {
            builder = builder.header(*name, value.as_slice());
        }
        // What hyper's builder refuses, hyper's server would not deliver.
        let Ok(request) = builder.body(()) else {
            return Ok(());
        };
        let (parts, ()) = request.into_parts();
        match head(&parts) {
            Ok(head) => {
                assert_served_path_is_plain(&head.path)?;
                prop_assert!(check_path(&head.path).is_ok());
                prop_assert!(!head.query.iter().any(|(k, _)| k == "list"));
                let verb = parts.method.as_str();
                match head.method {
                    Method::List => prop_assert!(matches!(verb, "LIST" | "GET" | "HEAD")),
                    Method::Read => prop_assert!(matches!(verb, "GET" | "HEAD")),
                    Method::Write => prop_assert!(matches!(verb, "POST" | "PUT")),
                    Method::Delete => prop_assert_eq!(verb, "DELETE"),
                    Method::Patch => prop_assert_eq!(verb, "PATCH"),
                }
                if let Some(token) = &head.token {
                    prop_assert!(!token.is_empty());
                }
            }
            Err(e) => assert_refusal(&e, &[400, 404, 405])?,
        }
    }

    #[test]
    fn any_path_is_checked_or_a_400(
        path in prop_oneof![
            any::<String>(),
            prop::collection::vec(
                prop::sample::select(vec!["a", "/", ".", "..", "é", "\u{0}", "\u{85}", "x.y"]),
                0..10,
            )
            .prop_map(|p| p.concat()),
        ]
    ) {
        match check_path(&path) {
            Ok(()) => assert_served_path_is_plain(&path)?,
            Err(e) => assert_refusal(&e, &[400])?,
        }
    }

    #[test]
    fn any_query_string_is_parsed_or_a_400(
        query in prop_oneof![
            any::<String>(),
            prop::collection::vec(prop::sample::select(URI_PIECES), 0..12)
                .prop_map(|p| p.concat()),
        ]
    ) {
        match parse_query(&query) {
            Ok(pairs) => {
                let parts: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
                prop_assert_eq!(pairs.len(), parts.len());
                if !query.contains(['%', '+']) {
                    // Nothing to decode: the pairs are the text as split.
                    for ((k, v), part) in pairs.iter().zip(parts) {
                        let (pk, pv) = part.split_once('=').unwrap_or((part, ""));
                        prop_assert_eq!((k.as_str(), v.as_str()), (pk, pv));
                    }
                }
            }
            Err(e) => assert_refusal(&e, &[400])?,
        }
    }

    #[test]
    fn any_body_is_an_object_or_a_400(
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            prop::collection::vec(prop::sample::select(JSON_PIECES), 0..16)
                .prop_map(|p| p.concat().into_bytes()),
            prop::collection::vec(prop::sample::select(JSON_PIECES), 0..16)
                .prop_map(|p| format!("{{\"a\":{}}}", p.concat()).into_bytes()),
        ]
    ) {
        match check_json_body(&body) {
            Ok(text) => assert_object_text(&text)?,
            Err(e) => assert_refusal(&e, &[400])?,
        }
    }
}

/// What `check_json_body` lets through: one JSON object's text, which the
/// host's own handlers read as fields or refuse with a 400. (The check
/// does not build the value: a lone surrogate escape, which RFC 8259
/// allows and serde_json refuses in a string, or nesting just past
/// serde_json's limit, pass it and are refused by whoever reads the
/// fields, still with a 400.)
fn assert_object_text(text: &str) -> Result<(), TestCaseError> {
    prop_assert!(text.starts_with('{') && text.ends_with('}'), "{:?}", text);
    let request = crate::api::Request {
        id: uuid::Uuid::nil(),
        method: Method::Write,
        path: "x".into(),
        body: text.to_string(),
        query: Vec::new(),
        token: None,
        raw: None,
        admission: None,
    };
    if let Err(e) = request.data() {
        assert_refusal(&e, &[400])?;
    }
    Ok(())
}

#[test]
fn nesting_past_serde_json_limit_is_a_400() {
    for depth in [127, 128, 129, 100_000] {
        let body = format!("{{\"a\":{}{}}}", "[".repeat(depth), "]".repeat(depth));
        match check_json_body(body.as_bytes()) {
            Ok(text) => assert_object_text(&text).unwrap(),
            Err(e) => assert_eq!(e.status(), 400, "{depth}"),
        }
    }
}
