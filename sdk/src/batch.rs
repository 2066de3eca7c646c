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
    partial_failure_status: Option<u16>,
    item_errors_fail: bool,
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
                partial_failure_status: None,
                item_errors_fail: true,
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
        let (mut user_errors, mut internal_errors, mut successes) = (0usize, 0usize, 0usize);
        let mut results: Vec<Value> = Vec::with_capacity(self.items.len());
        for (input, reference) in self.items {
            let mut result = match input.and_then(&mut f) {
                Ok(Value::Object(map)) => {
                    successes += 1;
                    map
                }
                Ok(other) => {
                    successes += 1;
                    Map::from_iter([("value".to_owned(), other)])
                }
                Err(e) => {
                    if matches!(e, Error::Internal(_)) {
                        internal_errors += 1;
                    } else {
                        user_errors += 1;
                    }
                    let message = match e {
                        Error::InvalidRequest(m)
                        | Error::PermissionDenied(m)
                        | Error::NotFound(m)
                        | Error::UnsupportedOperation(m)
                        | Error::Internal(m) => m,
                    };
                    Map::from_iter([("error".to_owned(), Value::String(message))])
                }
            };
            result.insert(
                "reference".to_owned(),
                reference.unwrap_or_else(|| Value::String(String::new())),
            );
            results.push(Value::Object(result));
        }
        let response = Response::data(serde_json::json!({ "batch_results": results }));
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
