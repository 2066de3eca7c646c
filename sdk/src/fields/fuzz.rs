//! Property tests of field parsing (issue #9's fuzzing on stable Rust,
//! with proptest): [`parse`] and [`parse_quiet`] over arbitrary bodies,
//! query parameters and captures, [`Fields::from_fields`] over arbitrary
//! objects, and every [`FieldValue`] type over arbitrary JSON values.
//! Properties: nothing panics; every refusal is the 400 kind
//! ([`Error::InvalidRequest`]), never a 500; a field read straight out of
//! the JSON text is what [`FieldValue::from_value`] makes of the same value.
//!
//! An ordinary test run tries a few hundred cases per property;
//! `PROPTEST_CASES` (`just fuzz`) sets how many.

#![allow(clippy::unwrap_used)]

use std::fmt;

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::{parse, parse_quiet, FieldValue, Input};
use crate::{Base64, BatchInput, CommaList, DurationSeconds, Error, FieldEnum, Fields, Operation};

/// `n` cases in an ordinary test run; `PROPTEST_CASES` overrides it.
fn cases(n: u32) -> ProptestConfig {
    if std::env::var_os("PROPTEST_CASES").is_some() {
        ProptestConfig::default()
    } else {
        ProptestConfig::with_cases(n)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, FieldEnum)]
enum Color {
    Red,
    #[field(rename = "dark-blue")]
    DarkBlue,
}

/// A batch item.
#[derive(Debug, Fields)]
#[allow(dead_code)]
struct Item {
    /// Required in each item.
    #[field(required)]
    input: Base64,
    /// Optional in each item.
    version: Option<u32>,
}

/// One field of every type the SDK has.
#[derive(Debug, Fields)]
#[allow(dead_code)]
struct Every {
    /// Text.
    #[field(required)]
    name: String,
    /// A flag.
    flag: bool,
    /// Small.
    small: Option<u8>,
    /// Signed.
    signed: Option<i64>,
    /// Big.
    #[field(default = 7)]
    big: u64,
    /// Time.
    #[field(default = "1h")]
    ttl: DurationSeconds,
    /// List.
    list: CommaList,
    /// Numbers.
    numbers: Option<CommaList<u16>>,
    /// Object.
    meta: Option<Map<String, Value>>,
    /// Anything.
    any: Option<Value>,
    /// Array.
    items: Option<Vec<u32>>,
    /// Bytes.
    bytes: Option<Base64>,
    /// Enum.
    #[field(default = "red")]
    color: Color,
    /// Batch.
    batch_input: Option<BatchInput<Item>>,
}

const NAMES: &[&str] = &[
    "name",
    "flag",
    "small",
    "signed",
    "big",
    "ttl",
    "list",
    "numbers",
    "meta",
    "any",
    "items",
    "bytes",
    "color",
    "batch_input",
    "input",
    "version",
    "reference",
    "unknown",
    "",
];

/// Scalars at and past every type's limits.
fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(vec![
            0.0,
            -0.0,
            1.0,
            1.5,
            255.0,
            256.0,
            -1.0,
            1e19,
            1.8446744073709552e19,
            9.3e18,
        ])
        .prop_map(Value::from),
        prop::sample::select(vec![
            "",
            " ",
            "1",
            "0",
            "t",
            "True",
            "yes",
            "-1",
            "255",
            "256",
            "1h30m",
            "7d",
            "1x",
            "99999999999999999999d",
            "18446744073709551615s",
            "a,b,,c",
            "1, 2",
            "aGk=",
            "aGk",
            "a=b",
            "!!",
            "red",
            "dark-blue",
            "Red",
            "\u{0}",
            "é",
        ])
        .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ]
}

/// Any JSON value, nested a few levels, with field names for keys.
fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(NAMES), inner), 0..4).prop_map(|entries| {
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect(),
                )
            }),
        ]
    })
}

fn object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((prop::sample::select(NAMES), value()), 0..8).prop_map(|entries| {
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    })
}

/// Pieces of JSON text, valid and not.
const JSON_PIECES: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    " ",
    "\"name\"",
    "\"batch_input\"",
    "\"input\"",
    "\"ttl\"",
    "\"\"",
    "null",
    "true",
    "1",
    "-0",
    "1e999",
    "18446744073709551616",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"\\",
    "\"aGk=\"",
    "{\"input\":\"aGk=\"}",
];

fn body() -> impl Strategy<Value = String> {
    prop_oneof![
        object().prop_map(|m| Value::Object(m).to_string()),
        any::<String>(),
        prop::collection::vec(prop::sample::select(JSON_PIECES), 0..16).prop_map(|p| p.concat()),
        value().prop_map(|v| v.to_string()),
    ]
}

fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (
            prop::sample::select(NAMES).prop_map(str::to_string),
            prop_oneof![
                prop::sample::select(vec!["", "1", "true", "x", "aGk=", "1h", "a,b"])
                    .prop_map(str::to_string),
                any::<String>(),
            ],
        ),
        0..4,
    )
}

fn assert_400<T>(result: Result<T, Error>) -> Result<(), TestCaseError> {
    if let Err(e) = result {
        prop_assert!(matches!(e, Error::InvalidRequest(_)), "{:?}", e);
    }
    Ok(())
}

/// `from_value` and the in-place reads (from the JSON text, from the
/// value) agree. (The text is compared with the value read back from it:
/// serde_json may read a float's shortest text one bit off.)
fn agree<T: FieldValue + PartialEq + fmt::Debug>(value: &Value) -> Result<(), TestCaseError> {
    let from_value = |value: &Value| match value {
        Value::Null => None,
        v => Some(T::from_value(v)),
    };
    let text = value.to_string();
    let read_back: Value = serde_json::from_str(&text).unwrap();
    let mut de = serde_json::Deserializer::from_str(&text);
    prop_assert_eq!(
        T::deserialize_field(&mut de).unwrap(),
        from_value(&read_back),
        "{}",
        text
    );
    prop_assert_eq!(
        T::deserialize_field(value).unwrap(),
        from_value(value),
        "{}",
        text
    );
    prop_assert_eq!(T::from_owned(value.clone()).ok(), T::from_value(value).ok());
    Ok(())
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn any_request_parses_or_is_a_400(
        body in body(),
        query in pairs(),
        captures in pairs(),
        operation in prop::sample::select(Operation::ALL.to_vec()),
        takes_arbitrary_input in any::<bool>(),
    ) {
        let input = Input {
            operation,
            body: &body,
            query: &query,
            captures: &captures,
            takes_arbitrary_input,
        };
        let schema = Every::schema();
        let parsed = parse::<Every>(&input, &schema);
        if let Ok(p) = &parsed {
            // A capture always wins.
            if let Some((_, name)) = captures.iter().find(|(k, _)| k == "name") {
                prop_assert_eq!(&p.fields.name, name);
            }
        }
        assert_400(parsed)?;
        assert_400(parse_quiet::<Every>(&input, &schema))?;
    }

    #[test]
    fn any_object_parses_or_is_a_400(fields in object()) {
        assert_400(Every::from_fields(&fields))?;
        assert_400(Item::from_fields(&fields))?;
    }

    #[test]
    fn reading_in_place_agrees_with_from_value(value in value()) {
        agree::<String>(&value)?;
        agree::<bool>(&value)?;
        agree::<u8>(&value)?;
        agree::<u32>(&value)?;
        agree::<u64>(&value)?;
        agree::<i32>(&value)?;
        agree::<i64>(&value)?;
        agree::<usize>(&value)?;
        agree::<DurationSeconds>(&value)?;
        agree::<CommaList>(&value)?;
        agree::<CommaList<u16>>(&value)?;
        agree::<Map<String, Value>>(&value)?;
        agree::<Vec<u32>>(&value)?;
        agree::<Option<String>>(&value)?;
        agree::<Base64>(&value)?;
        agree::<Color>(&value)?;
    }
}
