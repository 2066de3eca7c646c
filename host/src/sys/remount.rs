//! `sys/remount`: move a mount, with its data, to another path. The data
//! stays where it is (it is keyed by the mount's uuid, not its path), so the
//! move is one table change; it is reported as a finished migration, as
//! Vault's asynchronous remount reports one.

use serde_json::{json, Map, Value};

use super::{only, opt_string};
use crate::api::{ApiError, ApiResult, Method, Reply};
use crate::router::{normalize_mount_path, Mount, MountTable};
use crate::server::Server;

/// `POST sys/remount` with `from` and `to`.
pub async fn remount(server: &Server, method: Method, data: &Map<String, Value>) -> ApiResult {
    only(method, &[Method::Write])?;
    let from = opt_string(data, "from")?
        .ok_or_else(|| ApiError::bad("missing required field \"from\""))?;
    let to =
        opt_string(data, "to")?.ok_or_else(|| ApiError::bad("missing required field \"to\""))?;
    let from = normalize_mount_path(&from).map_err(ApiError::BadRequest)?;
    let to = normalize_mount_path(&to).map_err(ApiError::BadRequest)?;
    let _guard = server.mounts_lock.lock().await;
    let table = server.router.table();
    let mount = table
        .exact(&from)
        .ok_or_else(|| ApiError::bad(format!("no secret engine mount at {from}")))?;
    let others: Vec<_> = table
        .mounts()
        .iter()
        .filter(|m| m.record.path != from)
        .cloned()
        .collect();
    if let Some(existing) = MountTable::new(others.clone()).conflict(&to) {
        return Err(ApiError::bad(format!(
            "path is already in use at {existing}"
        )));
    }
    let mut record = mount.record.clone();
    record.path = to.clone();
    mount.runtime.set_label(&to);
    let mut mounts = others;
    mounts.push(std::sync::Arc::new(Mount {
        record,
        runtime: mount.runtime.clone(),
    }));
    let new_table = MountTable::new(mounts);
    server.persist_mounts(&new_table)?;
    server.router.replace(new_table);
    let id = uuid::Uuid::new_v4().to_string();
    if let Ok(mut m) = server.migrations.lock() {
        m.push((id.clone(), from, to));
    }
    Ok(Reply::data(json!({ "migration_id": id })))
}

/// `GET sys/remount/status/<id>`.
pub fn status(server: &Server, method: Method, id: &str) -> ApiResult {
    only(method, &[Method::Read])?;
    let found = server
        .migrations
        .lock()
        .ok()
        .and_then(|m| m.iter().find(|(i, _, _)| i == id).cloned());
    let Some((id, from, to)) = found else {
        return Err(ApiError::NotFound(None));
    };
    Ok(Reply::data(json!({
        "migration_id": id,
        "migration_info": {
            "source_mount": from,
            "target_mount": to,
            "status": "success",
        },
    })))
}
