//! `sys/health`, `sys/seal-status` and `sys/leader`: answered without a
//! token, as bare JSON (no envelope), in Vault's shapes. The server is
//! always initialised and unsealed until the seal issue lands.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;

use super::only;
use crate::api::{ApiResult, Method, Reply};
use crate::server::Server;

/// The version reported to clients.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `GET sys/health`.
pub fn health(server: &Server, method: Method) -> ApiResult {
    only(method, &[Method::Read])?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Ok(Reply::Bare {
        status: 200,
        body: json!({
            "initialized": true,
            "sealed": false,
            "standby": false,
            "performance_standby": false,
            "replication_performance_mode": "disabled",
            "replication_dr_mode": "disabled",
            "server_time_utc": now,
            "version": VERSION,
            "enterprise": false,
            "cluster_name": server.cluster_name,
            "cluster_id": server.cluster_id,
        }),
    })
}

/// `GET sys/seal-status`.
pub fn seal_status(server: &Server, method: Method) -> ApiResult {
    only(method, &[Method::Read])?;
    Ok(Reply::Bare {
        status: 200,
        body: json!({
            "type": "shamir",
            "initialized": true,
            "sealed": false,
            "t": 1,
            "n": 1,
            "progress": 0,
            "nonce": "",
            "version": VERSION,
            "build_date": "",
            "migration": false,
            "cluster_name": server.cluster_name,
            "cluster_id": server.cluster_id,
            "recovery_seal": false,
            "storage_type": "redb",
        }),
    })
}

/// `GET sys/leader`: no HA, so never a leader elsewhere.
pub fn leader(method: Method) -> ApiResult {
    only(method, &[Method::Read])?;
    Ok(Reply::Bare {
        status: 200,
        body: json!({
            "ha_enabled": false,
            "is_self": false,
            "active_time": "0001-01-01T00:00:00Z",
            "leader_address": "",
            "leader_cluster_address": "",
            "performance_standby": false,
            "performance_standby_last_remote_wal": 0,
        }),
    })
}
