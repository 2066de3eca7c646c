//! Typed request fields: the [`Fields`] and [`FieldValue`] traits, the field
//! types with Vault's lenient parsing, and Vault's field rules in one
//! function ([`parse`]), which reads each declared field straight out of the
//! request's JSON text into its type.

use std::fmt;
use std::ops::Deref;

use base64::Engine as _;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize as _;
use serde_json::{Map, Value};

use crate::Error;

#[cfg(test)]
mod fuzz;
mod rules;

pub(crate) use rules::parse_quiet;
pub use rules::{parse, Input, Parsed};
#[doc(hidden)]
pub use rules::{FieldSeed, Key, Rules};

/// A struct of request fields, normally `#[derive(Fields)]`.
///
/// ```
/// use coffer_sdk::{Fields, DurationSeconds};
///
/// #[derive(Fields)]
/// struct Config {
///     /// The key's name.
///     #[field(required)]
///     name: String,
///     /// How long a version lives.
///     #[field(default = "1h")]
///     ttl: DurationSeconds,
///     /// Whether the key may be exported.
///     exportable: bool,
///     /// Free-form metadata.
///     metadata: Option<serde_json::Map<String, serde_json::Value>>,
/// }
/// ```
///
/// A field is required (`#[field(required)]`: missing is a 400), has a
/// default (`#[field(default = <json literal>)]`, written as a client would
/// send it and parsed by the same rules), is an `Option`, or else takes its
/// type's `Default` when absent. `#[field(rename = "name")]` sets the wire
/// name (a raw identifier `r#type` is `type` already). Doc comments become
/// descriptions.
pub trait Fields: Sized {
    /// The declared fields, for enforcement, help and OpenAPI.
    fn schema() -> Vec<FieldSchema>;

    /// Parses the fields from a JSON object read as a stream of keys and
    /// values, `rules` deciding what captures, query parameters and unknown
    /// keys do (see [`parse`]). The outer error is the JSON's; the inner one
    /// the fields' (a 400 naming the field). Written by `#[derive(Fields)]`.
    #[doc(hidden)]
    fn from_map<'de, A: MapAccess<'de>>(
        map: A,
        rules: &mut Rules<'_>,
    ) -> Result<Result<Self, Error>, A::Error>;

    /// Parses the fields out of a JSON object as they are (no captures, no
    /// query, no warnings): a batch item, or a nested object.
    fn from_fields(fields: &Map<String, Value>) -> Result<Self, Error> {
        rules::from_map_value(fields)
    }

    /// Declaration problems found without a request (a default that does
    /// not parse as its field's type), for [`crate::testing::check_paths`].
    fn declaration_problems() -> Vec<String> {
        Vec::new()
    }
}

/// No fields at all.
impl Fields for () {
    fn schema() -> Vec<FieldSchema> {
        Vec::new()
    }

    fn from_map<'de, A: MapAccess<'de>>(
        mut map: A,
        rules: &mut Rules<'_>,
    ) -> Result<Result<Self, Error>, A::Error> {
        while let Some(key) = map.next_key_seed(rules.key_seed(&[]))? {
            rules.skip(&mut map, key)?;
        }
        Ok(Ok(()))
    }
}

/// One declared field, kept at run time for help and OpenAPI.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSchema {
    /// The wire name.
    pub name: &'static str,
    /// The type.
    pub kind: FieldType,
    /// From the doc comment.
    pub description: &'static str,
    /// The default, as a client would send it.
    pub default: Option<Value>,
    /// Whether a missing value is a 400.
    pub required: bool,
    /// For enums: every accepted value.
    pub allowed_values: &'static [&'static str],
}

/// The type of a field, as help and OpenAPI describe it (Vault's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// `string`.
    String,
    /// `bool`.
    Bool,
    /// `int`.
    Int,
    /// `duration`: seconds, or `"90s"`, `"1h30m"`, `"7d"`.
    Duration,
    /// `comma_string_slice`: `"a,b"` or `["a","b"]`.
    CommaList,
    /// `map`: a JSON object.
    Map,
    /// `slice`: a JSON array.
    Slice,
    /// Base64-encoded bytes (a string on the wire).
    Base64,
    /// One of `allowed_values` (a string on the wire).
    Enum,
    /// Any JSON value.
    Any,
}

impl FieldType {
    /// Vault's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Bool => "bool",
            Self::Int => "int",
            Self::Duration => "duration",
            Self::CommaList => "comma_string_slice",
            Self::Map => "map",
            Self::Slice => "slice",
            Self::Base64 => "base64",
            Self::Enum => "enum",
            Self::Any => "any",
        }
    }
}

/// A type a field can have: it parses itself from JSON by Vault's rules.
pub trait FieldValue: Sized {
    /// The type in the schema.
    const KIND: FieldType;

    /// For enums: every accepted value.
    const ALLOWED: &'static [&'static str] = &[];

    /// Parses `value` (never `null`: a null field counts as absent). The
    /// error completes "field 'x': ", e.g. `expected an integer`.
    fn from_value(value: &Value) -> Result<Self, String>;

    /// Parses an owned `value`, as [`FieldValue::from_value`] does; types
    /// that can keep the value's allocations (strings, arrays, objects)
    /// take them instead of copying.
    fn from_owned(value: Value) -> Result<Self, String> {
        Self::from_value(&value)
    }

    /// Parses the field straight out of the request's JSON: `Ok(None)` for
    /// `null` (absent), `Ok(Some(Err(message)))` for a value of the wrong
    /// shape, with [`FieldValue::from_value`]'s message. The outer error is
    /// the JSON's own. The default reads a `Value` and calls
    /// [`FieldValue::from_owned`]; text types read the string in place.
    fn deserialize_field<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Result<Self, String>>, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Ok(match value {
            Value::Null => None,
            value => Some(Self::from_owned(value)),
        })
    }
}

/// An enum field, normally `#[derive(FieldEnum)]`: one wire string per
/// variant. An unknown value is a 400 naming the field and the allowed
/// values. The derive also implements [`FieldValue`], `Display`, `FromStr`
/// and serde's traits (as the same string), so a stored record can hold it.
pub trait FieldEnum: Sized + 'static {
    /// The wire strings, in declaration order.
    const VALUES: &'static [&'static str];
    /// This variant's wire string.
    fn as_str(&self) -> &'static str;
    /// The variant named `s`.
    fn from_name(s: &str) -> Option<Self>;
}

/// The error text for an unknown enum value.
#[doc(hidden)]
pub fn unknown_variant(value: &str, allowed: &[&str]) -> String {
    format!(
        "unknown value {value:?}; allowed values: {}",
        allowed.join(", ")
    )
}

/// Parses an enum field from JSON (used by `#[derive(FieldEnum)]`).
#[doc(hidden)]
pub fn enum_from_value<E: FieldEnum>(value: &Value) -> Result<E, String> {
    match value {
        Value::String(s) => E::from_name(s).ok_or_else(|| unknown_variant(s, E::VALUES)),
        other => Err(format!(
            "expected one of {}, got {}",
            E::VALUES.join(", "),
            type_name(other)
        )),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn expected(what: &str, got: &Value) -> String {
    expected_kind(what, type_name(got))
}

fn expected_kind(what: &str, kind: &str) -> String {
    format!("expected {what}, got {kind}")
}

/// Reads a field whose value is text where it lies in the JSON: `parse`
/// gets the string; numbers and booleans are text too when `weak` (Vault's
/// weak decoding of strings), else the same errors as the types'
/// `from_value`. Arrays and objects are skipped over and refused.
struct TextVisitor<T> {
    parse: fn(Text<'_>) -> Result<T, String>,
    what: &'static str,
    weak: bool,
}

/// A string from the JSON: borrowed from the body when it had no escapes.
enum Text<'a> {
    Borrowed(&'a str),
    Owned(String),
}

impl Text<'_> {
    fn as_str(&self) -> &str {
        match self {
            Text::Borrowed(s) => s,
            Text::Owned(s) => s,
        }
    }

    fn into_owned(self) -> String {
        match self {
            Text::Borrowed(s) => s.to_owned(),
            Text::Owned(s) => s,
        }
    }
}

impl<T> TextVisitor<T> {
    fn scalar(self, text: String, kind: &str) -> Option<Result<T, String>> {
        Some(if self.weak {
            (self.parse)(Text::Owned(text))
        } else {
            Err(expected_kind(self.what, kind))
        })
    }
}

impl<'de, T> Visitor<'de> for TextVisitor<T> {
    type Value = Option<Result<T, String>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.what)
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some((self.parse)(Text::Borrowed(v))))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some((self.parse)(Text::Owned(v))))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(self.scalar(v.to_string(), "a boolean"))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(self.scalar(v.to_string(), "a number"))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(self.scalar(v.to_string(), "a number"))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        let text = serde_json::Number::from_f64(v).map_or_else(String::new, |n| n.to_string());
        Ok(self.scalar(text, "a number"))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Some(Err(expected_kind(self.what, "an array"))))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Some(Err(expected_kind(self.what, "an object"))))
    }
}

impl FieldValue for String {
    const KIND: FieldType = FieldType::String;

    /// Strings, and numbers or booleans as their text (Vault's weak decoding).
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            other => Err(expected("a string", other)),
        }
    }

    fn from_owned(value: Value) -> Result<Self, String> {
        match value {
            Value::String(s) => Ok(s),
            other => Self::from_value(&other),
        }
    }

    fn deserialize_field<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Result<Self, String>>, D::Error> {
        deserializer.deserialize_any(TextVisitor {
            parse: |text| Ok(text.into_owned()),
            what: "a string",
            weak: true,
        })
    }
}

impl FieldValue for bool {
    const KIND: FieldType = FieldType::Bool;

    /// `true`/`false`, the strings Go's `ParseBool` takes (`"true"`, `"1"`,
    /// `"f"`, ...), and the numbers 0 and 1.
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Bool(b) => Ok(*b),
            Value::String(s) => coffer_rules::parse_bool(s.trim())
                .ok_or_else(|| format!("expected a boolean, got {s:?}")),
            Value::Number(n) if n.as_u64() == Some(1) => Ok(true),
            Value::Number(n) if n.as_u64() == Some(0) => Ok(false),
            other => Err(expected("a boolean", other)),
        }
    }
}

macro_rules! int_field {
    ($($t:ty),*) => {$(
        impl FieldValue for $t {
            const KIND: FieldType = FieldType::Int;

            /// JSON integers, integral floats and numeric strings, range-checked.
            fn from_value(value: &Value) -> Result<Self, String> {
                let what = concat!("an integer (", stringify!($t), ")");
                let parsed: Option<Self> = match value {
                    Value::Number(n) => {
                        if let Some(u) = n.as_u64() {
                            Self::try_from(u).ok()
                        } else if let Some(i) = n.as_i64() {
                            Self::try_from(i).ok()
                        } else {
                            n.as_f64()
                                .filter(|f| f.fract() == 0.0)
                                .and_then(|f| format!("{f:.0}").parse().ok())
                        }
                    }
                    Value::String(s) => s.trim().parse().ok(),
                    other => return Err(expected(what, other)),
                };
                parsed.ok_or_else(|| format!("expected {what}, got {value}"))
            }
        }
    )*};
}
int_field!(u8, u16, u32, u64, usize, i32, i64);

impl FieldValue for Map<String, Value> {
    const KIND: FieldType = FieldType::Map;

    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Object(m) => Ok(m.clone()),
            other => Err(expected("a JSON object", other)),
        }
    }

    fn from_owned(value: Value) -> Result<Self, String> {
        match value {
            Value::Object(m) => Ok(m),
            other => Err(expected("a JSON object", &other)),
        }
    }
}

impl FieldValue for Value {
    const KIND: FieldType = FieldType::Any;

    fn from_value(value: &Value) -> Result<Self, String> {
        Ok(value.clone())
    }

    fn from_owned(value: Value) -> Result<Self, String> {
        Ok(value)
    }
}

/// A JSON array whose items each parse as `T` (Vault's `slice`).
impl<T: FieldValue> FieldValue for Vec<T> {
    const KIND: FieldType = FieldType::Slice;

    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| T::from_value(item).map_err(|e| format!("item {i}: {e}")))
                .collect(),
            other => Err(expected("a JSON array", other)),
        }
    }

    fn from_owned(value: Value) -> Result<Self, String> {
        match value {
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| T::from_owned(item).map_err(|e| format!("item {i}: {e}")))
                .collect(),
            other => Err(expected("a JSON array", &other)),
        }
    }
}

/// Absent or `null` is `None`.
impl<T: FieldValue> FieldValue for Option<T> {
    const KIND: FieldType = T::KIND;
    const ALLOWED: &'static [&'static str] = T::ALLOWED;

    fn from_value(value: &Value) -> Result<Self, String> {
        T::from_value(value).map(Some)
    }

    fn from_owned(value: Value) -> Result<Self, String> {
        T::from_owned(value).map(Some)
    }

    fn deserialize_field<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Result<Self, String>>, D::Error> {
        Ok(T::deserialize_field(deserializer)?.map(|r| r.map(Some)))
    }
}

/// A duration in whole seconds: `3600`, `"3600"`, `"90s"`, `"1h30m"`, `"7d"`
/// (units `s`, `m`, `h`, `d`; `""` is 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct DurationSeconds(pub u64);

impl DurationSeconds {
    /// The number of seconds.
    pub fn as_secs(self) -> u64 {
        self.0
    }

    /// As a `std::time::Duration`.
    pub fn as_duration(self) -> std::time::Duration {
        std::time::Duration::from_secs(self.0)
    }

    /// Parses the string forms ([`coffer_rules::parse_duration`]; `""`
    /// is 0 here, as Vault decodes an empty duration field).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Self(0));
        }
        coffer_rules::parse_duration_secs(text)
            .map(Self)
            .ok_or_else(|| {
                format!(
                    "expected a duration such as 3600, \"90s\", \"1h30m\" or \"7d\", got {text:?}"
                )
            })
    }
}

impl FieldValue for DurationSeconds {
    const KIND: FieldType = FieldType::Duration;

    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Number(n) => n
                .as_u64()
                .map(Self)
                .ok_or_else(|| format!("expected a non-negative whole number of seconds, got {n}")),
            Value::String(s) => Self::parse(s),
            other => Err(expected("a duration", other)),
        }
    }
}

impl fmt::Display for DurationSeconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.0)
    }
}

/// A list given as `"a,b"` (split on commas, items trimmed, empty items
/// dropped) or as `["a","b"]`; each item parses as `T`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CommaList<T = String>(pub Vec<T>);

impl<T> Default for CommaList<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T> CommaList<T> {
    /// The items.
    pub fn into_inner(self) -> Vec<T> {
        self.0
    }
}

impl<T> Deref for CommaList<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T: FieldValue> FieldValue for CommaList<T> {
    const KIND: FieldType = FieldType::CommaList;
    const ALLOWED: &'static [&'static str] = T::ALLOWED;

    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::String(s) => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| T::from_value(&Value::String(s.to_owned())))
                .collect::<Result<_, _>>()
                .map(Self),
            Value::Array(_) => Vec::<T>::from_value(value).map(Self),
            other => Err(expected("a comma-separated string or an array", other)),
        }
    }
}

/// Bytes sent base64-encoded (standard alphabet; padding optional).
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Base64(pub Vec<u8>);

impl Base64 {
    /// The decoded bytes.
    pub fn into_inner(self) -> Vec<u8> {
        self.0
    }

    /// Encodes `bytes` the way clients send them (standard, padded).
    pub fn encode(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}

/// Does not print the bytes: they are often secrets.
impl fmt::Debug for Base64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Base64({} bytes)", self.0.len())
    }
}

impl Deref for Base64 {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl Base64 {
    fn decode(text: &str) -> Result<Self, String> {
        const LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
        );
        LENIENT
            .decode(text.trim())
            .map(Self)
            .map_err(|e| format!("expected base64-encoded bytes: {e}"))
    }
}

impl FieldValue for Base64 {
    const KIND: FieldType = FieldType::Base64;

    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::String(s) => Self::decode(s),
            other => Err(expected("a base64-encoded string", other)),
        }
    }

    /// Decodes the string where it lies in the body, without copying it.
    fn deserialize_field<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Result<Self, String>>, D::Error> {
        deserializer.deserialize_any(TextVisitor {
            parse: |text| Self::decode(text.as_str()),
            what: "a base64-encoded string",
            weak: false,
        })
    }
}

// ---------------------------------------------------------------------------
// Used by `#[derive(Fields)]`: a field's slot holds what the request gave
// (`None`: absent or null; `Some(Err(..))`: a value of the wrong shape).

fn named<T>(name: &str, parsed: Result<T, String>) -> Result<T, Error> {
    parsed.map_err(|e| Error::InvalidRequest(format!("field '{name}': {e}")))
}

/// A `#[field(required)]` field.
#[doc(hidden)]
pub fn required<T>(name: &str, slot: Option<Result<T, String>>) -> Result<T, Error> {
    match slot {
        Some(parsed) => named(name, parsed),
        None => Err(Error::InvalidRequest(format!(
            "missing required field '{name}'"
        ))),
    }
}

/// A `#[field(default = ...)]` field; the default is built only when used.
#[doc(hidden)]
pub fn with_default<T: FieldValue>(
    name: &str,
    slot: Option<Result<T, String>>,
    default: impl FnOnce() -> Value,
) -> Result<T, Error> {
    match slot {
        Some(parsed) => named(name, parsed),
        None => T::from_owned(default())
            .map_err(|e| Error::Internal(format!("default of field '{name}' does not parse: {e}"))),
    }
}

/// Whether a `#[field(default = ...)]` parses as its type.
#[doc(hidden)]
pub fn check_default<T: FieldValue>(name: &str, default: &Value) -> Option<String> {
    T::from_value(default)
        .err()
        .map(|e| format!("default of field '{name}' does not parse: {e}"))
}

/// Any other field: absent is the type's `Default` (`None` for an `Option`).
#[doc(hidden)]
pub fn optional<T: Default>(name: &str, slot: Option<Result<T, String>>) -> Result<T, Error> {
    match slot {
        Some(parsed) => named(name, parsed),
        None => Ok(T::default()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn v<T: FieldValue>(value: Value) -> Result<T, String> {
        T::from_value(&value)
    }

    #[test]
    fn bools() {
        for t in [json!(true), json!("true"), json!("1"), json!(1), json!("T")] {
            assert_eq!(v::<bool>(t), Ok(true));
        }
        for f in [json!(false), json!("false"), json!("0"), json!(0)] {
            assert_eq!(v::<bool>(f), Ok(false));
        }
        assert!(v::<bool>(json!("yes")).is_err());
        assert!(v::<bool>(json!(2)).is_err());
    }

    #[test]
    fn ints() {
        assert_eq!(v::<u32>(json!(5)), Ok(5));
        assert_eq!(v::<u32>(json!("5")), Ok(5));
        assert_eq!(v::<i64>(json!(-5)), Ok(-5));
        assert_eq!(v::<u64>(json!(3.0)), Ok(3));
        assert!(v::<u32>(json!(-1)).is_err());
        assert!(v::<u8>(json!(300)).is_err());
        assert!(v::<u32>(json!("x")).is_err());
        assert!(v::<u32>(json!(1.5)).is_err());
        assert!(v::<u32>(json!([1])).is_err());
    }

    #[test]
    fn durations() {
        let d = |x| v::<DurationSeconds>(x).map(|d| d.0);
        assert_eq!(d(json!(3600)), Ok(3600));
        assert_eq!(d(json!("3600")), Ok(3600));
        assert_eq!(d(json!("90s")), Ok(90));
        assert_eq!(d(json!("1h")), Ok(3600));
        assert_eq!(d(json!("1h30m")), Ok(5400));
        assert_eq!(d(json!("7d")), Ok(604_800));
        assert_eq!(d(json!("")), Ok(0));
        for bad in [
            json!("1x"),
            json!("h"),
            json!(-1),
            json!("1h5"),
            json!(true),
        ] {
            assert!(d(bad.clone()).is_err(), "{bad}");
        }
        assert!(d(json!("99999999999999999999d")).is_err());
    }

    #[test]
    fn lists_maps_base64() {
        let l = |x| v::<CommaList>(x).map(|l| l.0);
        assert_eq!(
            l(json!("a, b,,c")),
            Ok(vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(l(json!(["a", "b"])), Ok(vec!["a".into(), "b".into()]));
        assert_eq!(
            v::<CommaList<u32>>(json!("1,2")).map(|l| l.0),
            Ok(vec![1, 2])
        );
        assert!(l(json!({})).is_err());
        assert!(v::<Map<String, Value>>(json!({"a": 1})).is_ok());
        assert!(v::<Map<String, Value>>(json!("a")).is_err());
        assert_eq!(v::<Base64>(json!("aGk=")).map(|b| b.0), Ok(b"hi".to_vec()));
        assert_eq!(v::<Base64>(json!("aGk")).map(|b| b.0), Ok(b"hi".to_vec()));
        let err = v::<Base64>(json!("not base64!")).unwrap_err();
        assert!(err.contains("base64"), "{err}");
    }
}
