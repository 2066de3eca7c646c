//! Vault's batch shape (transit's `batch_input`), done once.

use serde_json::{Map, Value};

use crate::{Ctx, Error, Fields, Response};

/// The inputs of a request that takes either one input in its top-level
/// fields or many in `batch_input`.
///
/// ```
/// use coffer_sdk::prelude::*;
/// use coffer_sdk::Batch;
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
///     batch_input: Option<Vec<serde_json::Map<String, serde_json::Value>>>,
/// }
///
/// fn shout(ctx: &mut Ctx<'_>, f: Shout) -> Result<Response, Error> {
///     Batch::<Item>::from_request(ctx, f.batch_input)?
///         .run(|item| Ok(serde_json::json!({ "text": item.text.to_uppercase() })))
/// }
/// # let _ = shout;
/// ```
#[derive(Debug)]
pub struct Batch<T> {
    items: Vec<(Result<T, Error>, Option<Value>)>,
    is_batch: bool,
}

impl<T: Fields> Batch<T> {
    /// A lone input parsed from the request's own fields (its errors are the
    /// request's), or, when `batch_input` is given, one input per item (each
    /// parsed on its own; an item's `reference` is echoed in its result).
    pub fn from_request(
        ctx: &Ctx<'_>,
        batch_input: Option<Vec<Map<String, Value>>>,
    ) -> Result<Self, Error> {
        match batch_input {
            None => Ok(Self {
                items: vec![(ctx.parse::<T>(), None)],
                is_batch: false,
            }),
            Some(items) if items.is_empty() => {
                Err(Error::invalid("missing batch input to process"))
            }
            Some(items) => Ok(Self {
                items: items
                    .into_iter()
                    .map(|item| (T::from_fields(&item), item.get("reference").cloned()))
                    .collect(),
                is_batch: true,
            }),
        }
    }

    /// Whether the request used `batch_input`.
    pub fn is_batch(&self) -> bool {
        self.is_batch
    }

    /// Runs `f` on each input independently. A lone input answers its
    /// result as `data` (or its error as the request's error). A batch
    /// answers `{"batch_results": [...]}`, an item's failure being
    /// `{"error": "..."}`, each with its `reference`; if any item failed
    /// the status is 400, as Vault answers it.
    pub fn run<F>(self, mut f: F) -> Result<Response, Error>
    where
        F: FnMut(T) -> Result<Value, Error>,
    {
        if !self.is_batch {
            let mut items = self.items.into_iter();
            return match items.next() {
                Some((input, _)) => Ok(Response::data(f(input?)?)),
                None => Err(Error::invalid("missing input")),
            };
        }
        let mut failed = false;
        let results: Vec<Value> = self
            .items
            .into_iter()
            .map(|(input, reference)| {
                let mut result = match input.and_then(&mut f) {
                    Ok(Value::Object(map)) => map,
                    Ok(other) => Map::from_iter([("value".to_owned(), other)]),
                    Err(e) => {
                        failed = true;
                        Map::from_iter([(
                            "error".to_owned(),
                            Value::String(e.message().to_owned()),
                        )])
                    }
                };
                if let Some(reference) = reference {
                    result.insert("reference".to_owned(), reference);
                }
                Value::Object(result)
            })
            .collect();
        let response = Response::data(serde_json::json!({ "batch_results": results }));
        Ok(if failed {
            response.with_status(400)
        } else {
            response
        })
    }
}
