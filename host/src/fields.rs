//! Vault's rules for the host's own request fields: strings, booleans
//! (`true`, `"true"`, `"1"`), durations (`3600`, `"90s"`, `"1h30m"`), each a
//! 400 naming the field when it is the wrong kind. Engines have the SDK's
//! `fields` module for the same rules.

use serde_json::{Map, Value};

use crate::api::ApiError;

/// A string field, if present; a non-string is a 400 naming the field.
pub fn opt_string(data: &Map<String, Value>, field: &str) -> Result<Option<String>, ApiError> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::bad(format!(
            "field {field:?} must be a string, got {other}"
        ))),
    }
}

/// An object field, if present.
pub fn opt_object(
    data: &Map<String, Value>,
    field: &str,
) -> Result<Option<Map<String, Value>>, ApiError> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m.clone())),
        Some(other) => Err(ApiError::bad(format!(
            "field {field:?} must be an object, got {other}"
        ))),
    }
}

/// A bool field by Vault's rules: JSON `true`/`false`, or a string Go's
/// `ParseBool` takes ([`coffer_rules::parse_bool`]).
pub fn opt_bool(data: &Map<String, Value>, field: &str) -> Result<Option<bool>, ApiError> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => coffer_rules::parse_bool(s)
            .map(Some)
            .ok_or_else(|| ApiError::bad(format!("field {field:?} must be a boolean, got {s:?}"))),
        Some(other) => Err(ApiError::bad(format!(
            "field {field:?} must be a boolean, got {other}"
        ))),
    }
}

/// A duration field by Vault's rules: seconds as a number or string, or a
/// string like `"90s"`, `"1h30m"`, `"7d"`. Returns seconds.
pub fn opt_duration(data: &Map<String, Value>, field: &str) -> Result<Option<u64>, ApiError> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| {
            ApiError::bad(format!("field {field:?} must be a non-negative duration"))
        }),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => parse_duration(s)
            .map(Some)
            .ok_or_else(|| ApiError::bad(format!("field {field:?}: invalid duration {s:?}"))),
        Some(other) => Err(ApiError::bad(format!(
            "field {field:?} must be a duration, got {other}"
        ))),
    }
}

/// A list of strings: a JSON array of strings, or one comma-separated
/// string (Vault accepts both for `policies`).
pub fn opt_string_list(
    data: &Map<String, Value>,
    field: &str,
) -> Result<Option<Vec<String>>, ApiError> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(
            s.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(String::from)
                .collect(),
        )),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.trim().to_string()),
                other => Err(ApiError::bad(format!(
                    "field {field:?} must be a list of strings, got {other}"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(ApiError::bad(format!(
            "field {field:?} must be a list of strings, got {other}"
        ))),
    }
}

/// A non-negative whole number.
pub fn opt_u64(data: &Map<String, Value>, field: &str) -> Result<Option<u64>, ApiError> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| {
            ApiError::bad(format!("field {field:?} must be a non-negative integer"))
        }),
        Some(Value::String(s)) => s.trim().parse::<u64>().map(Some).map_err(|_| {
            ApiError::bad(format!(
                "field {field:?} must be a non-negative integer, got {s:?}"
            ))
        }),
        Some(other) => Err(ApiError::bad(format!(
            "field {field:?} must be a non-negative integer, got {other}"
        ))),
    }
}

/// Parses `"3600"`, `"90s"`, `"1h30m"`, `"7d"` into seconds: Vault's
/// duration forms, defined once in [`coffer_rules::parse_duration`].
pub fn parse_duration(text: &str) -> Option<u64> {
    coffer_rules::parse_duration_secs(text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations_follow_vaults_rules() {
        assert_eq!(parse_duration("3600"), Some(3600));
        assert_eq!(parse_duration("90s"), Some(90));
        assert_eq!(parse_duration("1h30m"), Some(5400));
        assert_eq!(parse_duration("7d"), Some(604_800));
        assert_eq!(parse_duration("1x"), None);
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_duration("10"), Some(10));
        assert_eq!(parse_duration(""), None);
    }
}
