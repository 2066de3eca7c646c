//! `sys/mounts`: list, mount, read, unmount and tune secrets engines.

use serde_json::{json, Map, Value};

use super::{only, opt_bool, opt_duration, opt_object, opt_string, opt_string_list};
use crate::api::{ApiError, ApiResult, Method, Reply};
use crate::mounts::{Mounts, NewMount};
use crate::router::{normalize_mount_path, MountConfig, MountRecord};
use crate::seal::Unsealed;
use crate::server::Server;

/// Vault's system default lease TTL (32 days), shown when a mount has none.
const SYSTEM_TTL: u64 = 32 * 24 * 3600;

/// A mount request, parsed.
struct MountRequest(NewMount);

impl MountRequest {
    fn parse(raw_path: &str, data: &Map<String, Value>) -> Result<Self, ApiError> {
        let path = normalize_mount_path(raw_path).map_err(ApiError::BadRequest)?;
        let kind = opt_string(data, "type")?
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::bad("missing required field \"type\""))?;
        let options = opt_object(data, "options")?.unwrap_or_default();
        let kind = match kind.as_str() {
            "kv-v1" => "kv".to_string(),
            "kv-v2" => {
                return Err(ApiError::bad(
                    "kv version 2 is not supported; mount kv (version 1)",
                ))
            }
            _ => kind,
        };
        if kind == "kv" {
            match options.get("version") {
                None | Some(Value::Null) => {}
                Some(Value::String(v)) if v == "1" || v.is_empty() => {}
                Some(Value::Number(n)) if n.as_u64() == Some(1) => {}
                Some(v) => {
                    return Err(ApiError::bad(format!(
                        "kv version {v} is not supported; only version 1"
                    )))
                }
            }
        }
        let mut config = MountConfig::default();
        if let Some(c) = opt_object(data, "config")? {
            config.default_lease_ttl = opt_duration(&c, "default_lease_ttl")?.unwrap_or(0);
            config.max_lease_ttl = opt_duration(&c, "max_lease_ttl")?.unwrap_or(0);
            config.force_no_cache = opt_bool(&c, "force_no_cache")?.unwrap_or(false);
            config.allowed_managed_keys =
                opt_string_list(&c, "allowed_managed_keys")?.unwrap_or_default();
        }
        Ok(MountRequest(NewMount {
            path,
            kind,
            description: opt_string(data, "description")?.unwrap_or_default(),
            config,
            options,
            local: opt_bool(data, "local")?.unwrap_or(false),
            seal_wrap: opt_bool(data, "seal_wrap")?.unwrap_or(false),
        }))
    }
}

/// A mount's `config` as `sys/mounts` lists it.
fn render_config(config: &MountConfig) -> Value {
    let mut shown = json!({
        "default_lease_ttl": config.default_lease_ttl,
        "max_lease_ttl": config.max_lease_ttl,
        "force_no_cache": config.force_no_cache,
    });
    show_allowed_managed_keys(&mut shown, config);
    shown
}

/// Adds `allowed_managed_keys` to a mount's config or tune object, only
/// when set (Vault omits it when empty).
fn show_allowed_managed_keys(shown: &mut Value, config: &MountConfig) {
    if let (false, Value::Object(map)) = (config.allowed_managed_keys.is_empty(), shown) {
        map.insert(
            "allowed_managed_keys".into(),
            json!(config.allowed_managed_keys),
        );
    }
}

/// A mount in the shape `sys/mounts` lists it.
pub fn render(record: &MountRecord) -> Value {
    json!({
        "type": record.kind,
        "description": record.description,
        "accessor": record.accessor,
        "uuid": record.uuid,
        "config": render_config(&record.config),
        "options": if record.options.is_empty() { Value::Null } else { Value::Object(record.options.clone()) },
        "local": record.local,
        "seal_wrap": record.seal_wrap,
        "external_entropy_access": false,
        "plugin_version": "",
        "running_plugin_version": "",
        "running_sha256": record.sha256,
        "deprecation_status": "supported",
    })
}

fn system_mount(server: &Server) -> Value {
    json!({
        "type": "system",
        "description": "system endpoints used for control, policy and debugging",
        "accessor": format!("system_{}", server.cluster.id.get(..8).unwrap_or_default()),
        "uuid": server.cluster.id,
        "config": { "default_lease_ttl": 0, "max_lease_ttl": 0, "force_no_cache": false },
        "options": null,
        "local": false,
        "seal_wrap": true,
        "external_entropy_access": false,
        "plugin_version": "",
        "running_plugin_version": "",
        "running_sha256": "",
    })
}

/// `GET sys/mounts`. Vault repeats the map at the top level of the
/// envelope for old clients; so do we.
pub fn list(server: &Server, method: Method) -> ApiResult {
    only(method, &[Method::Read])?;
    let mut data = Map::new();
    for mount in server.mounts.table().mounts() {
        data.insert(mount.record.path.clone(), render(&mount.record));
    }
    data.insert("sys/".into(), system_mount(server));
    Ok(Reply::Data {
        status: 200,
        top_level: Some(data.clone()),
        data: Value::Object(data),
        warnings: Vec::new(),
    })
}

/// `sys/mounts/<path>`: GET reads, POST mounts, DELETE unmounts.
pub async fn one(
    mounts: &Mounts,
    u: &Unsealed,
    method: Method,
    raw_path: &str,
    data: &Map<String, Value>,
) -> ApiResult {
    match method {
        Method::Read => {
            let path = normalize_mount_path(raw_path).map_err(ApiError::BadRequest)?;
            let mount = mounts
                .table()
                .exact(&path)
                .ok_or_else(|| ApiError::bad(format!("no mount at {path:?}")))?;
            Ok(Reply::data(render(&mount.record)))
        }
        Method::Write => {
            let req = MountRequest::parse(raw_path, data)?;
            mounts.add(u, req.0).await?;
            Ok(Reply::empty())
        }
        Method::Delete => {
            let path = normalize_mount_path(raw_path).map_err(ApiError::BadRequest)?;
            mounts.remove(u, &path).await?;
            Ok(Reply::empty())
        }
        _ => Err(ApiError::unsupported()),
    }
}

/// `sys/mounts/<path>/tune`.
pub async fn tune(
    mounts: &Mounts,
    u: &Unsealed,
    method: Method,
    raw_path: &str,
    data: &Map<String, Value>,
) -> ApiResult {
    let path = normalize_mount_path(raw_path).map_err(ApiError::BadRequest)?;
    match method {
        Method::Read => {
            let mount = mounts.table().exact(&path).ok_or_else(|| {
                ApiError::bad(format!("cannot fetch mount config: no mount at {path:?}"))
            })?;
            let r = &mount.record;
            let ttl = |v: u64| if v == 0 { SYSTEM_TTL } else { v };
            let mut shown = json!({
                "default_lease_ttl": ttl(r.config.default_lease_ttl),
                "max_lease_ttl": ttl(r.config.max_lease_ttl),
                "force_no_cache": r.config.force_no_cache,
                "description": r.description,
                "options": if r.options.is_empty() { Value::Null } else { Value::Object(r.options.clone()) },
            });
            show_allowed_managed_keys(&mut shown, &r.config);
            Ok(Reply::data(shown))
        }
        Method::Write => {
            // Parse everything before changing anything.
            let description = opt_string(data, "description")?;
            let default_ttl = opt_duration(data, "default_lease_ttl")?;
            let max_ttl = opt_duration(data, "max_lease_ttl")?;
            let options = opt_object(data, "options")?;
            let allowed_managed_keys = opt_string_list(data, "allowed_managed_keys")?;
            mounts
                .update(u, &path, |record| {
                    if let Some(o) = &options {
                        if record.kind == "kv" {
                            if let Some(v) = o.get("version") {
                                if v != "1" && v != 1 {
                                    return Err(ApiError::bad(
                                        "kv version 2 is not supported; only version 1",
                                    ));
                                }
                            }
                        }
                    }
                    if let Some(d) = description {
                        record.description = d;
                    }
                    if let Some(t) = default_ttl {
                        record.config.default_lease_ttl = t;
                    }
                    if let Some(t) = max_ttl {
                        record.config.max_lease_ttl = t;
                    }
                    if let Some(o) = options {
                        record.options.extend(o);
                    }
                    if let Some(keys) = allowed_managed_keys {
                        record.config.allowed_managed_keys = keys;
                    }
                    Ok(())
                })
                .await?;
            Ok(Reply::empty())
        }
        _ => Err(ApiError::unsupported()),
    }
}
