//! `sys/plugins/catalog`: register third-party engines by file name and
//! sha256. Registration reads the file from the plugin directory, checks its
//! digest and compiles it, so a broken component is refused at once (400)
//! rather than at mount time. `sys/plugins/reload/backend` switches mounts
//! to what the catalog now names. This file parses; [`Mounts`] applies.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::{only, opt_string};
use crate::api::{ApiError, ApiResult, Method, Reply};
use crate::engines::{self, PluginRecord, BUILTINS};
use crate::fields::opt_string_list;
use crate::mounts::{Mounts, Reload};
use crate::router::normalize_mount_path;
use crate::seal::Unsealed;

/// A registration, parsed.
struct Registration {
    record: PluginRecord,
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
        })
    }
}

/// A `sys/plugins/reload/backend` request, parsed (Vault's fields:
/// `plugin` or `mounts`, not both; `scope` empty or `global`).
struct ReloadRequest {
    which: Reload,
    /// `scope = "global"`: on one server the same as local, answered 202
    /// as Vault answers a cluster-wide reload.
    global: bool,
}

impl ReloadRequest {
    fn parse(data: &Map<String, Value>) -> Result<Self, ApiError> {
        let global = match opt_string(data, "scope")?.as_deref() {
            None | Some("") => false,
            Some("global") => true,
            Some(other) => {
                return Err(ApiError::bad(format!(
                    "reload scope must be omitted or 'global', got {other:?}"
                )))
            }
        };
        let plugin = opt_string(data, "plugin")?.filter(|p| !p.is_empty());
        let paths = opt_string_list(data, "mounts")?.unwrap_or_default();
        let which = match (plugin, paths.is_empty()) {
            (Some(_), false) => {
                return Err(ApiError::bad(
                    "plugin and mounts cannot be set at the same time",
                ))
            }
            (None, true) => return Err(ApiError::bad("plugin or mounts must be provided")),
            (Some(name), true) => Reload::Plugin(name),
            (None, false) => Reload::Mounts(
                paths
                    .iter()
                    .map(|p| normalize_mount_path(p).map_err(ApiError::BadRequest))
                    .collect::<Result<_, _>>()?,
            ),
        };
        Ok(ReloadRequest { which, global })
    }
}

/// `POST sys/plugins/reload/backend`: answers Vault's `reload_id` (with a
/// warning when no mount was switched).
pub async fn reload(
    mounts: &Mounts,
    u: &Unsealed,
    method: Method,
    data: &Map<String, Value>,
) -> ApiResult {
    only(method, &[Method::Write])?;
    let req = ReloadRequest::parse(data)?;
    let switched = mounts.reload(u, req.which).await?;
    let warnings = if switched.is_empty() {
        vec!["no mounts were reloaded: none runs that plugin".to_string()]
    } else {
        Vec::new()
    };
    Ok(Reply::Data {
        status: if req.global { 202 } else { 200 },
        data: json!({ "reload_id": uuid::Uuid::new_v4().to_string() }),
        warnings,
        top_level: None,
    })
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

/// Every engine name with whether it is built in, sorted. A built-in's
/// name is listed once, as the built-in (an entry stored under it by an
/// older version does not run).
fn names(mounts: &Mounts, u: &Unsealed) -> Result<Vec<(String, bool)>, ApiError> {
    let registered = mounts.catalog().registered(u)?;
    let mut all: Vec<(String, bool)> = BUILTINS
        .iter()
        .map(|b| (b.name.to_string(), true))
        .collect();
    all.extend(
        registered
            .into_iter()
            .filter(|n| engines::builtin(n).is_none())
            .map(|n| (n, false)),
    );
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
            if let Some(b) = engines::builtin(name) {
                return Ok(Reply::data(json!({
                    "name": b.name,
                    "command": "",
                    "sha256": hex::encode(Sha256::digest(b.wasm)),
                    "args": [],
                    "builtin": true,
                    "version": "",
                })));
            }
            match mounts.catalog().get(u, name)? {
                Some(r) => Ok(Reply::data(json!({
                    "name": r.name,
                    "command": r.command,
                    "sha256": r.sha256,
                    "args": r.args,
                    "builtin": false,
                    "version": r.version,
                }))),
                None => Err(ApiError::NotFound(None)),
            }
        }
        Method::Write => {
            let reg = Registration::parse(name, data)?;
            mounts.register(u, reg.record).await?;
            Ok(Reply::empty())
        }
        Method::Delete => {
            mounts.deregister(u, name).await?;
            Ok(Reply::empty())
        }
        _ => Err(ApiError::unsupported()),
    }
}
