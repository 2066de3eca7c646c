//! Vault's field rules, applied while the request's JSON is read: each
//! declared field is parsed straight out of the body text into its type
//! (strings and base64 read in place), with no `serde_json::Value` tree in
//! between, and keys nobody declared are skipped without being built.

use std::collections::BTreeSet;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::{FieldSchema, FieldValue, Fields};
use crate::{Error, Operation};

/// A request's fields before parsing.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The operation (query parameters count only for read, list, delete).
    pub operation: Operation,
    /// The body: JSON object text, or empty.
    pub body: &'a str,
    /// URL query parameters, in order.
    pub query: &'a [(String, String)],
    /// The path's captures.
    pub captures: &'a [(String, String)],
    /// Whether the path takes any body field (no "ignored" warning).
    pub takes_arbitrary_input: bool,
}

/// What [`parse`] produced.
#[derive(Debug)]
pub struct Parsed<F> {
    /// The fields.
    pub fields: F,
    /// Warnings for the response.
    pub warnings: Vec<String>,
}

/// Vault's field rules, in one place, applied while parsing `F` (whose
/// `schema` is `F::schema()`, passed in by callers that keep it):
///
/// 1. The body's fields count; for read, list and delete so do URL query
///    parameters (a repeated parameter is an array of its values; `list`
///    on a list operation is the verb, not a field). Body fields beat query
///    parameters of the same name.
/// 2. URL captures beat both, with the warning "Endpoint replaced the value
///    of these parameters with the values captured from the endpoint's
///    path: [a b]".
/// 3. Unless the path takes arbitrary input, fields the schema does not
///    declare are ignored with the warning "Endpoint ignored these
///    unrecognized parameters: [a b]".
///
/// A body that is not a JSON object is a 400; so is a declared field that
/// does not parse, naming the field.
pub fn parse<F: Fields>(input: &Input<'_>, schema: &[FieldSchema]) -> Result<Parsed<F>, Error> {
    let mut rules = Rules::request(input, true);
    let fields = read_body::<F>(input, &mut rules, false)?;
    let warnings = rules.warnings(schema);
    Ok(Parsed { fields, warnings })
}

/// [`parse`] without warnings (an existence check, [`crate::Ctx::parse`]):
/// when the captures give every declared field, the body is not read at all.
pub(crate) fn parse_quiet<F: Fields>(
    input: &Input<'_>,
    schema: &[FieldSchema],
) -> Result<F, Error> {
    let captured = schema
        .iter()
        .all(|f| input.captures.iter().any(|(c, _)| c == f.name));
    let mut rules = Rules::request(input, false);
    read_body::<F>(input, &mut rules, captured)
}

/// [`Fields::from_fields`]: a JSON object as it is.
pub(super) fn from_map_value<F: Fields>(map: &Map<String, Value>) -> Result<F, Error> {
    let mut rules = Rules::plain();
    map.deserialize_any(FieldsVisitor::<F>::new(&mut rules))
        .map_err(|e| Error::internal(format!("cannot read fields: {e}")))?
}

fn read_body<F: Fields>(input: &Input<'_>, rules: &mut Rules<'_>, skip: bool) -> Result<F, Error> {
    // Empty or `null` means no fields, as Vault (and the host, for 0.1
    // engines) reads it: `bao write -f` sends `null`.
    let body = input.body.trim();
    if skip || body.is_empty() || body == "null" {
        let empty = Map::new();
        return (&empty)
            .deserialize_any(FieldsVisitor::<F>::new(rules))
            .map_err(|e| Error::internal(format!("cannot read fields: {e}")))?;
    }
    let mut de = serde_json::Deserializer::from_str(input.body);
    let fields = de
        .deserialize_map(FieldsVisitor::<F>::new(rules))
        .and_then(|fields| de.end().map(|()| fields))
        .map_err(|e| match e.classify() {
            serde_json::error::Category::Data => {
                Error::invalid("request body must be a JSON object")
            }
            _ => Error::invalid(format!("request body is not valid JSON: {e}")),
        })?;
    fields
}

struct FieldsVisitor<'r, 'a, F> {
    rules: &'r mut Rules<'a>,
    fields: PhantomData<fn() -> F>,
}

impl<'r, 'a, F> FieldsVisitor<'r, 'a, F> {
    fn new(rules: &'r mut Rules<'a>) -> Self {
        Self {
            rules,
            fields: PhantomData,
        }
    }
}

impl<'de, F: Fields> Visitor<'de> for FieldsVisitor<'_, '_, F> {
    type Value = Result<F, Error>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        F::from_map(map, self.rules)
    }
}

/// What a [`Fields::from_map`] needs besides the JSON: the captures and
/// query parameters that complete the body, and what to note about keys
/// that are not fields. Used by `#[derive(Fields)]`'s code.
#[doc(hidden)]
#[derive(Debug)]
pub struct Rules<'a> {
    input: Option<&'a Input<'a>>,
    /// Note unknown keys and replaced captures.
    warn: bool,
    /// Keep a `reference` key's value (batch items).
    keep_reference: bool,
    reference: Option<Value>,
    ignored: BTreeSet<String>,
    /// Indexes of captures the body also gave, in no order.
    replaced: Vec<usize>,
}

/// One key of the object being read, as [`Rules::key_seed`] classified it.
#[doc(hidden)]
#[derive(Debug)]
pub enum Key {
    /// The declared field at this index.
    Field(usize),
    /// The capture at this index: the body's value is dropped.
    Capture(usize),
    /// A batch item's `reference`.
    Reference,
    /// Anything else, with its name when a warning may name it.
    Other(Option<String>),
}

impl<'a> Rules<'a> {
    /// A request's own fields.
    fn request(input: &'a Input<'a>, warn: bool) -> Self {
        Self {
            input: Some(input),
            warn: warn && !input.takes_arbitrary_input,
            ..Self::plain()
        }
    }

    /// An object as it is: no captures, no query, no warnings.
    pub(crate) fn plain() -> Self {
        Self {
            input: None,
            warn: false,
            keep_reference: false,
            reference: None,
            ignored: BTreeSet::new(),
            replaced: Vec::new(),
        }
    }

    /// A batch item: [`Rules::plain`], keeping `reference`.
    pub(crate) fn item() -> Self {
        Self {
            keep_reference: true,
            ..Self::plain()
        }
    }

    /// The item's `reference`, if it had one.
    pub(crate) fn take_reference(&mut self) -> Option<Value> {
        self.reference.take()
    }

    /// Classifies the next key against the declared `names`.
    pub fn key_seed<'r>(&'r self, names: &'static [&'static str]) -> KeySeed<'r, 'a> {
        KeySeed { rules: self, names }
    }

    /// Reads (or skips) the value of a key that is not a field.
    pub fn skip<'de, A: MapAccess<'de>>(&mut self, map: &mut A, key: Key) -> Result<(), A::Error> {
        match key {
            Key::Capture(i) => {
                let given: Option<IgnoredAny> = map.next_value()?;
                if given.is_some() && !self.replaced.contains(&i) {
                    self.replaced.push(i);
                }
            }
            Key::Reference => self.reference = Some(map.next_value()?),
            Key::Field(_) | Key::Other(None) => {
                map.next_value::<IgnoredAny>()?;
            }
            Key::Other(Some(name)) => {
                map.next_value::<IgnoredAny>()?;
                self.ignored.insert(name);
            }
        }
        Ok(())
    }

    /// What completes the field `name` besides the body: its capture
    /// (always), or its query parameters when the body did not give it
    /// (`present`) and the operation takes them.
    pub fn fill(&self, name: &str, present: bool) -> Option<Value> {
        let input = self.input?;
        if let Some((_, value)) = input.captures.iter().find(|(c, _)| c == name) {
            return Some(Value::String(value.clone()));
        }
        if present {
            return None;
        }
        let mut values = query(input)
            .filter(|(k, _)| k == name)
            .map(|(_, v)| Value::String(v.clone()));
        let first = values.next()?;
        Some(match values.next() {
            None => first,
            Some(second) => {
                let mut all = vec![first, second];
                all.extend(values);
                Value::Array(all)
            }
        })
    }

    fn warnings(mut self, schema: &[FieldSchema]) -> Vec<String> {
        let Some(input) = self.input else {
            return Vec::new();
        };
        if self.warn {
            let captured = |k: &str| input.captures.iter().any(|(c, _)| c == k);
            for (key, _) in query(input) {
                if !schema.iter().any(|f| f.name == key) && !captured(key) {
                    self.ignored.insert(key.clone());
                }
            }
        }
        let mut warnings = Vec::new();
        if !self.ignored.is_empty() {
            let names: Vec<&str> = self.ignored.iter().map(String::as_str).collect();
            warnings.push(format!(
                "Endpoint ignored these unrecognized parameters: [{}]",
                names.join(" ")
            ));
        }
        if !self.replaced.is_empty() {
            self.replaced.sort_unstable();
            let names: Vec<&str> = self
                .replaced
                .iter()
                .filter_map(|&i| input.captures.get(i).map(|(c, _)| c.as_str()))
                .collect();
            warnings.push(format!(
                "Endpoint replaced the value of these parameters with the values captured from the endpoint's path: [{}]",
                names.join(" ")
            ));
        }
        warnings
    }
}

/// The query parameters that count as fields.
fn query<'a>(input: &'a Input<'a>) -> impl Iterator<Item = &'a (String, String)> {
    let operation = input.operation;
    input.query.iter().filter(move |(k, _)| {
        operation.takes_query() && !(operation == Operation::List && k == "list")
    })
}

/// Classifies an object's key (see [`Rules::key_seed`]).
#[doc(hidden)]
pub struct KeySeed<'r, 'a> {
    rules: &'r Rules<'a>,
    names: &'static [&'static str],
}

impl KeySeed<'_, '_> {
    fn classify(&self, key: &str) -> Key {
        if let Some(input) = self.rules.input {
            if let Some(i) = input.captures.iter().position(|(c, _)| c == key) {
                return Key::Capture(i);
            }
        }
        if let Some(i) = self.names.iter().position(|n| *n == key) {
            return Key::Field(i);
        }
        if self.rules.keep_reference && key == "reference" {
            return Key::Reference;
        }
        Key::Other(self.rules.warn.then(|| key.to_owned()))
    }
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_, '_> {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Key, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_, '_> {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E>(self, key: &str) -> Result<Key, E> {
        Ok(self.classify(key))
    }
}

/// Reads one field's value as its type (see [`FieldValue::deserialize_field`]).
#[doc(hidden)]
pub struct FieldSeed<T>(PhantomData<fn() -> T>);

impl<T> FieldSeed<T> {
    /// A seed for a field of type `T`.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self(PhantomData)
    }
}

impl<'de, T: FieldValue> DeserializeSeed<'de> for FieldSeed<T> {
    type Value = Option<Result<T, String>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        T::deserialize_field(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Base64, Fields};

    #[derive(Debug, Fields)]
    struct Named {
        /// A name.
        name: Option<String>,
        /// A number.
        n: Option<u32>,
    }

    fn input<'a>(
        operation: Operation,
        body: &'a str,
        query: &'a [(String, String)],
        captures: &'a [(String, String)],
    ) -> Input<'a> {
        Input {
            operation,
            body,
            query,
            captures,
            takes_arbitrary_input: false,
        }
    }

    #[test]
    fn rules() {
        let schema = Named::schema();
        let body = r#"{"name": "body", "zz": 1, "aa": {"deep": [1, 2]}}"#;
        let query = [
            ("q".to_owned(), "1".to_owned()),
            ("q".to_owned(), "2".to_owned()),
            ("n".to_owned(), "7".to_owned()),
        ];
        let caps = [("name".to_owned(), "url".to_owned())];

        let p = parse::<Named>(&input(Operation::Update, body, &query, &caps), &schema).unwrap();
        assert_eq!(p.fields.name.as_deref(), Some("url"));
        assert_eq!(p.fields.n, None, "query ignored for update");
        assert_eq!(
            p.warnings,
            [
                "Endpoint ignored these unrecognized parameters: [aa zz]",
                "Endpoint replaced the value of these parameters with the values captured from the endpoint's path: [name]",
            ]
        );

        let p = parse::<Named>(&input(Operation::Read, "", &query, &[]), &schema).unwrap();
        assert_eq!(p.fields.n, Some(7));
        assert_eq!(
            p.warnings,
            ["Endpoint ignored these unrecognized parameters: [q]"]
        );
        // Body beats query.
        let p =
            parse::<Named>(&input(Operation::Read, r#"{"n": 3}"#, &query, &[]), &schema).unwrap();
        assert_eq!(p.fields.n, Some(3));

        let list = [("list".to_owned(), "true".to_owned())];
        let p = parse::<Named>(&input(Operation::List, "", &list, &[]), &schema).unwrap();
        assert!(p.warnings.is_empty() && p.fields.name.is_none());

        let mut arbitrary = input(Operation::Update, body, &[], &[]);
        arbitrary.takes_arbitrary_input = true;
        assert!(parse::<Named>(&arbitrary, &schema)
            .unwrap()
            .warnings
            .is_empty());

        // A null capture in the body is not "replaced"; null is absent.
        let p = parse::<Named>(
            &input(
                Operation::Update,
                r#"{"name": null, "n": null}"#,
                &[],
                &caps,
            ),
            &schema,
        )
        .unwrap();
        assert!(p.warnings.is_empty());
        assert_eq!(p.fields.n, None);
    }

    #[test]
    fn null_and_empty_bodies_are_no_fields() {
        let schema = Named::schema();
        for body in ["", "  ", "null", " null\n"] {
            let p = parse::<Named>(&input(Operation::Update, body, &[], &[]), &schema)
                .unwrap_or_else(|e| panic!("{body:?}: {e:?}"));
            assert_eq!(p.fields.n, None, "{body:?}");
        }
    }

    #[test]
    fn bad_bodies_and_fields() {
        let schema = Named::schema();
        let err = |body: &str| {
            parse::<Named>(&input(Operation::Update, body, &[], &[]), &schema).unwrap_err()
        };
        assert_eq!(
            err("[1]"),
            Error::invalid("request body must be a JSON object")
        );
        assert!(err("{")
            .message()
            .starts_with("request body is not valid JSON"));
        assert!(err("{} x")
            .message()
            .starts_with("request body is not valid JSON"));
        assert_eq!(
            err(r#"{"n": "x"}"#),
            Error::invalid("field 'n': expected an integer (u32), got \"x\"")
        );
        assert_eq!(
            err(r#"{"name": [1]}"#),
            Error::invalid("field 'name': expected a string, got an array")
        );
    }

    #[test]
    fn quiet_parse_skips_the_body_when_captures_say_everything() {
        #[derive(Fields)]
        struct Only {
            /// A name.
            name: String,
        }
        let caps = [("name".to_owned(), "url".to_owned())];
        // Not even valid JSON: never read.
        let only = parse_quiet::<Only>(
            &input(Operation::Update, "{not json", &[], &caps),
            &Only::schema(),
        )
        .unwrap();
        assert_eq!(only.name, "url");
    }

    /// Reading a field from the JSON text gives what `from_value` gives.
    #[test]
    fn in_place_reads_match_values() {
        fn check<T: FieldValue + PartialEq + fmt::Debug>(text: &str) {
            let value: Value = serde_json::from_str(text).unwrap();
            let from_value = match &value {
                Value::Null => None,
                v => Some(T::from_value(v)),
            };
            let mut de = serde_json::Deserializer::from_str(text);
            assert_eq!(T::deserialize_field(&mut de).unwrap(), from_value, "{text}");
            assert_eq!(T::deserialize_field(&value).unwrap(), from_value, "{text}");
        }
        for text in [
            r#""a""#,
            r#""a\"b""#,
            "12",
            "-3",
            "1.5",
            "true",
            "null",
            "[1, [2]]",
            r#"{"a": {}}"#,
        ] {
            check::<String>(text);
            check::<Base64>(text);
            check::<Option<String>>(text);
            check::<u32>(text);
        }
        check::<Base64>(r#"" aGk= ""#);
        check::<Base64>(r#""!!""#);
        check::<Vec<u8>>("[1, 2]");
        check::<Map<String, Value>>(r#"{"a": [1]}"#);
    }
}
