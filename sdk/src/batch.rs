//! Vault's batch shape (transit's `batch_input`), done once.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{
    Deserialize as _, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde::Serialize;
use serde_json::Value;

use crate::fields::{FieldType, FieldValue, Rules};
use crate::{Ctx, Error, Fields, Response};

/// The inputs of a request that takes either one input in its top-level
/// fields or many in `batch_input`.
///
/// ```
/// use coffer_sdk::prelude::*;
/// use coffer_sdk::{Batch, BatchInput};
///
/// #[derive(Fields)]
/// struct Item {
///     /// Text to shout.
///     #[field(required)]
///     text: String,
/// }
///
/// #[derive(Fields)]
/// struct Shout {
///     /// Text to shout.
///     text: Option<String>,
///     /// Many inputs at once.
///     batch_input: Option<BatchInput<Item>>,
/// }
///
/// #[derive(serde::Serialize)]
/// struct Shouted {
///     text: String,
/// }
///
/// fn shout(ctx: &mut Ctx<'_>, f: Shout) -> Result<Response, Error> {
///     Batch::<Item>::from_request(ctx, f.batch_input)?
///         .run(|item| Ok(Shouted { text: item.text.to_uppercase() }))
/// }
/// # let _ = shout;
/// ```
#[derive(Debug)]
pub struct Batch<T> {
    items: Vec<(Result<T, Error>, Option<Value>)>,
    is_batch: bool,
    partial_failure_status: Option<u16>,
    item_errors_fail: bool,
}

impl<T: Fields> Batch<T> {
    /// A lone input parsed from the request's own fields (its errors are the
    /// request's), or, when `batch_input` is given, one input per item (each
    /// parsed on its own; an item's `reference` is echoed in its result).
    pub fn from_request(ctx: &Ctx<'_>, batch_input: Option<BatchInput<T>>) -> Result<Self, Error> {
        match batch_input {
            None => Ok(Self {
                items: vec![(ctx.parse::<T>(), None)],
                is_batch: false,
                partial_failure_status: None,
                item_errors_fail: true,
            }),
            Some(input) if input.items.is_empty() => {
                Err(Error::invalid("missing batch input to process"))
            }
            Some(input) => Ok(Self {
                items: input.items,
                is_batch: true,
                partial_failure_status: None,
                item_errors_fail: true,
            }),
        }
    }

    /// Whether the request used `batch_input`.
    pub fn is_batch(&self) -> bool {
        self.is_batch
    }

    /// How many inputs there are.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are no inputs (never, once built).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The inputs that parsed, for checks across the whole batch (Vault's
    /// "context should be set either in all the request blocks or in none").
    pub fn parsed(&self) -> impl Iterator<Item = &T> {
        self.items.iter().filter_map(|(item, _)| item.as_ref().ok())
    }

    /// Vault's `partial_failure_response_code`: the status of a batch in
    /// which some items failed and some succeeded (a batch whose items all
    /// failed keeps its error status). A code outside 1..=599 is ignored
    /// with a warning, as Vault does.
    #[must_use]
    pub fn partial_failure_status(mut self, status: Option<u16>) -> Self {
        self.partial_failure_status = status;
        self
    }

    /// Answers a batch with 200 even when items failed, each failure being
    /// reported in its own result: Vault's rule for transit's `rewrap`,
    /// `hmac`, `sign` and `verify` (only `encrypt` and `decrypt` answer 400).
    #[must_use]
    pub fn item_errors_succeed(mut self) -> Self {
        self.item_errors_fail = false;
        self
    }

    /// Runs `f` on each input independently. A lone input answers its
    /// result as `data` (or its error as the request's error). A batch
    /// answers `{"batch_results": [...]}` in input order, an item's failure
    /// being `{"error": "..."}`, each with its `reference` (`""` when the
    /// item had none, as Vault echoes it). If any item failed the status is
    /// 400 (500 when every failure was internal), as Vault answers it, unless
    /// [`Batch::partial_failure_status`] or [`Batch::item_errors_succeed`]
    /// say otherwise.
    ///
    /// A result is anything serde serialises, best a JSON object (a struct
    /// with `#[derive(Serialize)]`, or a `serde_json::Value`); anything
    /// else is answered as `{"value": ...}`. Results are written straight
    /// into the response's JSON text, one after the other.
    pub fn run<F, R>(self, mut f: F) -> Result<Response, Error>
    where
        F: FnMut(T) -> Result<R, Error>,
        R: Serialize,
    {
        if !self.is_batch {
            let mut items = self.items.into_iter();
            return match items.next() {
                Some((input, _)) => Ok(Response::json_text(serde_json::to_string(&f(input?)?)?)),
                None => Err(Error::invalid("missing input")),
            };
        }
        let (mut user_errors, mut internal_errors, mut successes) = (0usize, 0usize, 0usize);
        let count = self.items.len();
        let mut out: Vec<u8> = Vec::with_capacity(64);
        out.extend_from_slice(b"{\"batch_results\":[");
        for (i, (input, reference)) in self.items.into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let start = out.len();
            match input.and_then(&mut f) {
                Ok(result) => {
                    successes += 1;
                    write_object(&mut out, &result)?;
                }
                Err(e) => {
                    if e.status() >= 500 {
                        internal_errors += 1;
                    } else {
                        user_errors += 1;
                    }
                    let message = e.into_message();
                    out.extend_from_slice(b"{\"error\":");
                    serde_json::to_writer(&mut out, &message)?;
                    out.push(b'}');
                }
            }
            // Reopen the item's object to add its reference.
            out.pop();
            if out.len() > start + 1 {
                out.push(b',');
            }
            out.extend_from_slice(b"\"reference\":");
            match &reference {
                Some(r) => serde_json::to_writer(&mut out, r)?,
                None => out.extend_from_slice(b"\"\""),
            }
            out.push(b'}');
            if i == 0 {
                // The first item tells how long the others will be.
                out.reserve((out.len() - start + 1).saturating_mul(count));
            }
        }
        out.extend_from_slice(b"]}");
        let text =
            String::from_utf8(out).map_err(|_| Error::internal("batch results are not UTF-8"))?;
        let response = Response::json_text(text);
        if (user_errors == 0 && internal_errors == 0) || !self.item_errors_fail {
            return Ok(response);
        }
        let failed_status = if user_errors > 0 { 400 } else { 500 };
        Ok(match self.partial_failure_status {
            Some(code) if successes > 0 && (1..=599).contains(&code) => response.with_status(code),
            Some(_) if successes > 0 => response
                .with_warning(format!(
                    "invalid HTTP response code override from partial_failure_response_code, reverting to {failed_status}"
                ))
                .with_status(failed_status),
            _ => response.with_status(failed_status),
        })
    }
}

/// Writes `value` as a JSON object: itself when it serialises to one, else
/// `{"value": ...}`.
fn write_object<R: Serialize>(out: &mut Vec<u8>, value: &R) -> Result<(), Error> {
    let start = out.len();
    serde_json::to_writer(&mut *out, value)?;
    if out.get(start) != Some(&b'{') {
        let text = out.split_off(start);
        out.extend_from_slice(b"{\"value\":");
        out.extend_from_slice(&text);
        out.push(b'}');
    }
    Ok(())
}

/// A `batch_input` field: a JSON array of objects, each parsed as `T` on
/// its own (an item that does not parse fails alone, in its result), with
/// its `reference` kept to be echoed. Items are read straight out of the
/// request's JSON, as the request's own fields are. Anything but an array
/// of objects fails the field.
#[derive(Debug)]
pub struct BatchInput<T> {
    items: Vec<(Result<T, Error>, Option<Value>)>,
}

impl<T> BatchInput<T> {
    /// How many items there are.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none (an error for [`Batch::from_request`]).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

impl<T: Fields> FieldValue for BatchInput<T> {
    const KIND: FieldType = FieldType::Slice;

    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::Object(map) => Ok((T::from_fields(map), map.get("reference").cloned())),
                    other => Err(format!(
                        "item {i}: expected a JSON object, got {}",
                        kind(other)
                    )),
                })
                .collect::<Result<_, _>>()
                .map(|items| Self { items }),
            other => Err(format!("expected a JSON array, got {}", kind(other))),
        }
    }

    fn deserialize_field<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Result<Self, String>>, D::Error> {
        deserializer.deserialize_any(ArrayVisitor(PhantomData))
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads `batch_input`'s array.
struct ArrayVisitor<T>(PhantomData<fn() -> T>);

type Item<T> = (Result<T, Error>, Option<Value>);

impl<T> ArrayVisitor<T> {
    fn not_array(kind: &str) -> Option<Result<BatchInput<T>, String>> {
        Some(Err(format!("expected a JSON array, got {kind}")))
    }
}

impl<'de, T: Fields> Visitor<'de> for ArrayVisitor<T> {
    type Value = Option<Result<BatchInput<T>, String>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(16).min(4096));
        let mut failure = None;
        let mut i = 0usize;
        while let Some(item) = seq.next_element_seed(ItemSeed::<T> {
            skip: failure.is_some(),
            item: PhantomData,
        })? {
            match item {
                Ok(Some(item)) => items.push(item),
                Ok(None) => {}
                Err(kind) => {
                    failure = Some(format!("item {i}: expected a JSON object, got {kind}"));
                }
            }
            i += 1;
        }
        Ok(Some(match failure {
            Some(message) => Err(message),
            None => Ok(BatchInput { items }),
        }))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Self::not_array("a boolean"))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Self::not_array("a number"))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Self::not_array("a number"))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Self::not_array("a number"))
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Self::not_array("a string"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Self::not_array("an object"))
    }
}

/// Reads one item: `Ok(Some(item))`, `Ok(None)` when skipped (an earlier
/// item already failed the field), `Err(kind)` when it is not an object.
struct ItemSeed<T> {
    skip: bool,
    item: PhantomData<fn() -> T>,
}

impl<'de, T: Fields> DeserializeSeed<'de> for ItemSeed<T> {
    type Value = Result<Option<Item<T>>, &'static str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        if self.skip {
            IgnoredAny::deserialize(deserializer)?;
            return Ok(Ok(None));
        }
        deserializer.deserialize_any(self)
    }
}

impl<'de, T: Fields> Visitor<'de> for ItemSeed<T> {
    type Value = Result<Option<Item<T>>, &'static str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let mut rules = Rules::item();
        let parsed = T::from_map(map, &mut rules)?;
        Ok(Ok(Some((parsed, rules.take_reference()))))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Err("an array"))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Err("null"))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Err("a boolean"))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Err("a number"))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Err("a number"))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Err("a number"))
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Err("a string"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(Debug, PartialEq, Fields)]
    struct Item {
        /// Text.
        #[field(required)]
        text: String,
    }

    fn both(text: &str) -> Option<Result<BatchInput<Item>, String>> {
        let value: Value = serde_json::from_str(text).unwrap();
        let from_value = match &value {
            Value::Null => None,
            v => Some(BatchInput::<Item>::from_value(v)),
        };
        let mut de = serde_json::Deserializer::from_str(text);
        let read = BatchInput::<Item>::deserialize_field(&mut de).unwrap();
        assert_eq!(format!("{read:?}"), format!("{from_value:?}"), "{text}");
        read
    }

    #[test]
    fn batch_input_reads_items_on_their_own() {
        let read = both(r#"[{"text": "a", "reference": {"r": 1}}, {"text": 1}, {"x": "y"}]"#)
            .unwrap()
            .unwrap();
        assert_eq!(read.len(), 3);
        assert_eq!(
            read.items[0],
            (Ok(Item { text: "a".into() }), Some(json!({"r": 1})))
        );
        assert_eq!(read.items[1].0, Ok(Item { text: "1".into() }));
        assert_eq!(
            read.items[2],
            (Err(Error::invalid("missing required field 'text'")), None)
        );
        for (text, message) in [
            (
                r#"[{"text": "a"}, "b", 3]"#,
                "item 1: expected a JSON object, got a string",
            ),
            (r#"[null]"#, "item 0: expected a JSON object, got null"),
            (r#"[[1]]"#, "item 0: expected a JSON object, got an array"),
            (r#"{"a": 1}"#, "expected a JSON array, got an object"),
            (r#""x""#, "expected a JSON array, got a string"),
        ] {
            assert_eq!(both(text).unwrap().unwrap_err(), message);
        }
        assert!(both("null").is_none());
        assert!(both("[]").unwrap().unwrap().is_empty());
    }

    #[test]
    fn results_are_objects_with_references() {
        let mut out = Vec::new();
        write_object(&mut out, &json!(3)).unwrap();
        write_object(&mut out, &json!({"a": 1})).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"value":3}{"a":1}"#);
    }
}
