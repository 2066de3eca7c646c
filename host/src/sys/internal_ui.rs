//! `sys/internal/ui/mounts`: what the CLI's `kv` commands ask to learn the
//! mount (and kv version) behind a path.

use serde_json::{Map, Value};

use super::mounts::render;
use super::only;
use crate::api::{ApiError, ApiResult, Method, Reply};
use crate::mounts::Mounts;

/// `GET sys/internal/ui/mounts/<path>`.
pub fn one(mounts: &Mounts, method: Method, path: &str) -> ApiResult {
    only(method, &[Method::Read])?;
    let table = mounts.table();
    let (mount, _) = table.find(path).ok_or(ApiError::NotFound(None))?;
    let mut data = match render(&mount.record) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    data.insert("path".into(), Value::String(mount.record.path.clone()));
    Ok(Reply::data(Value::Object(data)))
}

/// `GET sys/internal/ui/mounts`.
pub fn all(mounts: &Mounts, method: Method) -> ApiResult {
    only(method, &[Method::Read])?;
    let mut secret = Map::new();
    for mount in mounts.table().mounts() {
        secret.insert(mount.record.path.clone(), render(&mount.record));
    }
    Ok(Reply::data(
        serde_json::json!({ "secret": secret, "auth": {} }),
    ))
}
