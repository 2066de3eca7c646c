//! `sys/plugins/catalog`: register third-party engines by file name and
//! sha256. Registration reads the file from the plugin directory, checks its
//! digest and compiles it, so a broken component is refused at once (400)
//! rather than at mount time.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::{only, opt_string};
use crate::api::{ApiError, ApiResult, Method, Reply};
use crate::engines::{self, PluginRecord, BUILTINS};
use crate::mounts::Mounts;
use crate::seal::Unsealed;

/// A registration, parsed.
struct Registration {
    record: PluginRecord,
    digest: [u8; 32],
}

impl Registration {
    fn parse(name: &str, data: &Map<String, Value>) -> Result<Self, ApiError> {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(ApiError::bad(format!(
                "invalid plugin name {name:?}: use letters, digits, '-', '_' and '.'"
            )));
        }
        let command = opt_string(data, "command")?
            .filter(|c| !c.is_empty())
            .ok_or_else(|| ApiError::bad("missing required field \"command\""))?;
        let sha = opt_string(data, "sha256")?
            .filter(|c| !c.is_empty())
            .ok_or_else(|| ApiError::bad("missing required field \"sha256\""))?;
        let digest: [u8; 32] = hex::decode(&sha)
            .ok()
            .and_then(|d| d.try_into().ok())
            .ok_or_else(|| {
                ApiError::bad(format!(
                    "field \"sha256\" must be 64 hex digits, got {sha:?}"
                ))
            })?;
        let strings = |field: &str| -> Result<Vec<String>, ApiError> {
            match data.get(field) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|i| {
                        i.as_str().map(str::to_string).ok_or_else(|| {
                            ApiError::bad(format!("field {field:?} must be a list of strings"))
                        })
                    })
                    .collect(),
                Some(_) => Err(ApiError::bad(format!(
                    "field {field:?} must be a list of strings"
                ))),
            }
        };
        Ok(Registration {
            record: PluginRecord {
                name: name.to_string(),
                command,
                sha256: hex::encode(digest),
                args: strings("args")?,
                env: strings("env")?,
                version: opt_string(data, "version")?.unwrap_or_default(),
            },
            digest,
        })
    }
}

/// `GET sys/plugins/catalog`.
pub fn catalog(mounts: &Mounts, u: &Unsealed, method: Method) -> ApiResult {
    only(method, &[Method::Read])?;
    let names = names(mounts, u)?;
    let detailed: Vec<Value> = names
        .iter()
        .map(|(name, builtin)| json!({ "name": name, "type": "secret", "builtin": builtin, "version": "" }))
        .collect();
    let secret: Vec<&String> = names.iter().map(|(n, _)| n).collect();
    Ok(Reply::data(json!({
        "secret": secret,
        "auth": [],
        "database": [],
        "detailed": detailed,
    })))
}

/// `LIST sys/plugins/catalog/secret`.
pub fn list(mounts: &Mounts, u: &Unsealed, method: Method) -> ApiResult {
    only(method, &[Method::List])?;
    let keys: Vec<String> = names(mounts, u)?.into_iter().map(|(n, _)| n).collect();
    Ok(Reply::data(json!({ "keys": keys })))
}

/// Every engine name with whether it is built in, sorted.
fn names(mounts: &Mounts, u: &Unsealed) -> Result<Vec<(String, bool)>, ApiError> {
    let registered = mounts.catalog().registered(u)?;
    let mut all: Vec<(String, bool)> = BUILTINS
        .iter()
        .filter(|b| !registered.iter().any(|r| r == b.name))
        .map(|b| (b.name.to_string(), true))
        .collect();
    all.extend(registered.into_iter().map(|n| (n, false)));
    all.sort();
    Ok(all)
}

/// `sys/plugins/catalog/secret/<name>`: GET, POST, DELETE.
pub async fn entry(
    mounts: &Mounts,
    u: &Unsealed,
    method: Method,
    name: &str,
    data: &Map<String, Value>,
) -> ApiResult {
    match method {
        Method::Read => {
            if let Some(r) = mounts.catalog().get(u, name)? {
                return Ok(Reply::data(json!({
                    "name": r.name,
                    "command": r.command,
                    "sha256": r.sha256,
                    "args": r.args,
                    "builtin": false,
                    "version": r.version,
                })));
            }
            match engines::builtin(name) {
                Some(b) => Ok(Reply::data(json!({
                    "name": b.name,
                    "command": "",
                    "sha256": hex::encode(Sha256::digest(b.wasm)),
                    "args": [],
                    "builtin": true,
                    "version": "",
                }))),
                None => Err(ApiError::NotFound(None)),
            }
        }
        Method::Write => {
            let reg = Registration::parse(name, data)?;
            let wasm = mounts.catalog().read_file(&reg.record.command)?;
            let actual: [u8; 32] = Sha256::digest(&wasm).into();
            if actual != reg.digest {
                return Err(ApiError::bad(format!(
                    "sha256 mismatch: registered {} but {:?} has {}",
                    reg.record.sha256,
                    reg.record.command,
                    hex::encode(actual)
                )));
            }
            mounts.sandbox().load(&wasm).map_err(ApiError::BadRequest)?;
            let _guard = mounts.lock().await;
            mounts.catalog().put(u, name, Some(&reg.record))?;
            Ok(Reply::empty())
        }
        Method::Delete => {
            let _guard = mounts.lock().await;
            mounts.catalog().put(u, name, None)?;
            Ok(Reply::empty())
        }
        _ => Err(ApiError::unsupported()),
    }
}
