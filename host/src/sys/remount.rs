//! `sys/remount`: move a mount, with its data, to another path. The data
//! stays where it is (it is keyed by the mount's uuid, not its path), so the
//! move is one table change; it is reported as a finished migration, as
//! Vault's asynchronous remount reports one.

use serde_json::{json, Map, Value};

use super::{only, opt_string};
use crate::api::{ApiError, ApiResult, Method, Reply};
use crate::mounts::{Migration, Mounts};
use crate::router::normalize_mount_path;
use crate::seal::Unsealed;

/// `POST sys/remount` with `from` and `to`.
pub async fn remount(
    mounts: &Mounts,
    u: &Unsealed,
    method: Method,
    data: &Map<String, Value>,
) -> ApiResult {
    only(method, &[Method::Write])?;
    let from = opt_string(data, "from")?
        .ok_or_else(|| ApiError::bad("missing required field \"from\""))?;
    let to =
        opt_string(data, "to")?.ok_or_else(|| ApiError::bad("missing required field \"to\""))?;
    let from = normalize_mount_path(&from).map_err(ApiError::BadRequest)?;
    let to = normalize_mount_path(&to).map_err(ApiError::BadRequest)?;
    let id = mounts.remount(u, &from, &to).await?;
    Ok(Reply::data(json!({ "migration_id": id })))
}

/// `GET sys/remount/status/<id>`.
pub fn status(mounts: &Mounts, method: Method, id: &str) -> ApiResult {
    only(method, &[Method::Read])?;
    let Some(Migration { id, from, to }) = mounts.migration(id) else {
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
