//! `sys/audit` (list), `sys/audit/<path>` (enable, disable) and
//! `sys/audit-hash/<path>`: Vault's audit device endpoints over
//! [`crate::audit::Broker`], which stores the table through
//! `Storage::system_write` under [`crate::audit::STORAGE_KEY`].

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::{only, opt_bool, opt_string};
use crate::api::{ApiError, ApiResult, Method, Reply};
use crate::audit::{EnableRequest, STORAGE_KEY};
use crate::seal::Unsealed;
use crate::server::Server;

/// `GET sys/audit`: the devices by path, repeated at the top level of the
/// envelope as Vault does.
pub fn list(server: &Server, method: Method) -> ApiResult {
    only(method, &[Method::Read])?;
    let mut data = Map::new();
    for device in server.audit.list() {
        data.insert(
            device.path.clone(),
            json!({
                "type": device.kind,
                "description": device.description,
                "options": device.options,
                "local": device.local,
                "path": device.path,
            }),
        );
    }
    Ok(Reply::Data {
        status: 200,
        top_level: Some(data.clone()),
        data: Value::Object(data),
        warnings: Vec::new(),
    })
}

/// `sys/audit/<path>`: PUT enables, DELETE disables.
pub fn one(
    server: &Server,
    u: &Unsealed,
    method: Method,
    path: &str,
    data: &Map<String, Value>,
) -> ApiResult {
    match method {
        Method::Write => {
            let request = parse_enable(path, data)?;
            server
                .audit
                .enable(request, |bytes| persist(server, u, bytes))?;
            Ok(Reply::empty())
        }
        Method::Delete => {
            server
                .audit
                .disable(path, |bytes| persist(server, u, bytes))?;
            Ok(Reply::empty())
        }
        _ => Err(ApiError::unsupported()),
    }
}

/// `PUT sys/audit-hash/<path>` with `input`.
pub fn hash(server: &Server, method: Method, path: &str, data: &Map<String, Value>) -> ApiResult {
    only(method, &[Method::Write])?;
    no_trailing_slash(path)?;
    let input = match data.get("input") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => if *b { "1" } else { "0" }.to_string(),
        Some(other) => {
            return Err(ApiError::bad(format!(
                "field \"input\" must be a string, got {other}"
            )))
        }
    };
    if input.is_empty() {
        return Err(ApiError::bad("the \"input\" parameter is empty"));
    }
    let hash = server.audit.hash(path, &input)?;
    Ok(Reply::data(json!({ "hash": hash })))
}

/// Parses `PUT sys/audit/<path>`'s body. Options are strings, as Vault
/// stores them; booleans become `"1"`/`"0"` and numbers their text, as
/// Vault's weak decoding makes them.
fn parse_enable(path: &str, data: &Map<String, Value>) -> Result<EnableRequest, ApiError> {
    no_trailing_slash(path)?;
    let mut options = BTreeMap::new();
    match data.get("options") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
                    Value::Number(n) => n.to_string(),
                    Value::Null => String::new(),
                    other => {
                        return Err(ApiError::bad(format!(
                            "option {k:?} must be a string, got {other}"
                        )))
                    }
                };
                options.insert(k.clone(), text);
            }
        }
        Some(other) => {
            return Err(ApiError::bad(format!(
                "field \"options\" must be an object, got {other}"
            )))
        }
    }
    Ok(EnableRequest {
        path: path.to_string(),
        kind: opt_string(data, "type")?.unwrap_or_default(),
        description: opt_string(data, "description")?.unwrap_or_default(),
        options,
        local: opt_bool(data, "local")?.unwrap_or(false),
    })
}

/// Vault refuses a write to a path ending in `/`.
fn no_trailing_slash(path: &str) -> Result<(), ApiError> {
    if path.is_empty() || path.ends_with('/') {
        return Err(ApiError::bad("cannot write to a path ending in '/'"));
    }
    Ok(())
}

fn persist(server: &Server, u: &Unsealed, bytes: &[u8]) -> Result<(), String> {
    server
        .storage
        .system_write(u, &[(STORAGE_KEY, Some(bytes))])
        .map_err(|e| e.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn enable_bodies_parse_as_vaults() {
        let r = parse_enable(
            "file1",
            &body(json!({
                "type": "file",
                "description": "d",
                "options": {"file_path": "/x", "log_raw": true, "hmac_accessor": false, "n": 5},
                "local": "true",
            })),
        )
        .unwrap();
        assert_eq!(r.path, "file1");
        assert_eq!(r.kind, "file");
        assert_eq!(r.description, "d");
        assert!(r.local);
        let expected: BTreeMap<String, String> = [
            ("file_path", "/x"),
            ("hmac_accessor", "0"),
            ("log_raw", "1"),
            ("n", "5"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(r.options, expected);

        let r = parse_enable("x", &body(json!({}))).unwrap();
        assert_eq!(r.kind, "");
        assert!(r.options.is_empty());

        assert_eq!(
            parse_enable("x/", &body(json!({"type": "file"}))).unwrap_err(),
            ApiError::bad("cannot write to a path ending in '/'")
        );
        assert!(parse_enable("x", &body(json!({"options": {"a": [1]}}))).is_err());
        assert!(parse_enable("x", &body(json!({"options": "a"}))).is_err());
        assert!(parse_enable("x", &body(json!({"type": 1}))).is_err());
    }
}
