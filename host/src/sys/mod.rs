//! The host's own endpoints under `sys/`, one file per endpoint group. Each
//! file parses its request into a typed value first and only then applies
//! it; no handler sees hyper types or renders the envelope.

mod audit;
mod health;
mod internal_ui;
mod mounts;
mod plugins;
mod remount;

use serde_json::{Map, Value};

use crate::api::{ApiError, ApiResult, Method, Request};
use crate::auth::Authorized;
use crate::server::Server;

/// Routes a `sys/` request to its handler.
pub async fn handle(server: &Server, authorized: Authorized, request: Request) -> ApiResult {
    let path = authorized.path().to_string();
    let rest = path.strip_prefix("sys/").unwrap_or_default();
    let method = request.method;
    let body = if matches!(method, Method::Write | Method::Patch) {
        request.data()?
    } else {
        Map::new()
    };
    let data = &body;
    match rest {
        "health" => health::health(server, method),
        "seal-status" => health::seal_status(server, method),
        "leader" => health::leader(method),
        "mounts" => mounts::list(server, method),
        "audit" => audit::list(server, method),
        "remount" => remount::remount(server, method, data).await,
        "plugins/catalog" => plugins::catalog(server, method),
        "plugins/catalog/secret" | "plugins/catalog/secret/" => plugins::list(server, method),
        "internal/ui/mounts" => internal_ui::all(server, method),
        _ => {
            if let Some(p) = rest.strip_prefix("mounts/") {
                if let Some(mount) = p.strip_suffix("/tune") {
                    return mounts::tune(server, method, mount, data).await;
                }
                return mounts::one(server, method, p, data).await;
            }
            if let Some(p) = rest.strip_prefix("audit/") {
                return audit::one(server, method, p, data);
            }
            if let Some(p) = rest.strip_prefix("audit-hash/") {
                return audit::hash(server, method, p, data);
            }
            if let Some(id) = rest.strip_prefix("remount/status/") {
                return remount::status(server, method, id);
            }
            if let Some(name) = rest.strip_prefix("plugins/catalog/secret/") {
                return plugins::entry(server, method, name, data).await;
            }
            if let Some(p) = rest.strip_prefix("internal/ui/mounts/") {
                return internal_ui::one(server, method, p);
            }
            Err(ApiError::NotFound(Some("unsupported path".into())))
        }
    }
}

/// Requires `method` to be one of `allowed`, else 405.
fn only(method: Method, allowed: &[Method]) -> Result<(), ApiError> {
    if allowed.contains(&method) {
        Ok(())
    } else {
        Err(ApiError::unsupported())
    }
}

/// A string field, if present; a non-string is a 400 naming the field.
fn opt_string(data: &Map<String, Value>, field: &str) -> Result<Option<String>, ApiError> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::bad(format!(
            "field {field:?} must be a string, got {other}"
        ))),
    }
}

/// An object field, if present.
fn opt_object(
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

/// A bool field by Vault's rules (`true`, `"true"`, `"1"`).
fn opt_bool(data: &Map<String, Value>, field: &str) -> Result<Option<bool>, ApiError> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => match s.as_str() {
            "true" | "1" | "t" | "T" | "TRUE" | "True" => Ok(Some(true)),
            "false" | "0" | "f" | "F" | "FALSE" | "False" => Ok(Some(false)),
            _ => Err(ApiError::bad(format!(
                "field {field:?} must be a boolean, got {s:?}"
            ))),
        },
        Some(other) => Err(ApiError::bad(format!(
            "field {field:?} must be a boolean, got {other}"
        ))),
    }
}

/// A duration field by Vault's rules: seconds as a number or string, or a
/// string like `"90s"`, `"1h30m"`, `"7d"`. Returns seconds.
fn opt_duration(data: &Map<String, Value>, field: &str) -> Result<Option<u64>, ApiError> {
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

/// Parses `"3600"`, `"90s"`, `"1h30m"`, `"7d"` into seconds.
pub fn parse_duration(text: &str) -> Option<u64> {
    if let Ok(secs) = text.parse::<u64>() {
        return Some(secs);
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    let mut any = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = number.parse().ok()?;
        number.clear();
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
        any = true;
    }
    if !number.is_empty() || !any {
        return None;
    }
    Some(total)
}

#[cfg(test)]
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
