//! `sys/health` and `sys/leader`: answered without a token, as bare JSON
//! (no envelope), in Vault's shapes. (`sys/seal-status` is in `seal.rs`.)

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;

use super::only;
use crate::api::{ApiResult, Method, Reply};
use crate::server::Server;

/// The version reported to clients.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `GET sys/health`: 200 when unsealed, 503 sealed, 501 uninitialised,
/// each overridable by `sealedcode`, `uninitcode`, `activecode` as in Vault.
pub fn health(server: &Server, method: Method, query: &[(String, String)]) -> ApiResult {
    only(method, &[Method::Read])?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let initialized = server.seal.config()?.is_some();
    let sealed = !server.is_unsealed();
    let code = |name: &str, default: u16| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.parse::<u16>().ok())
            .filter(|c| (100..600).contains(c))
            .unwrap_or(default)
    };
    let status = if !initialized {
        code("uninitcode", 501)
    } else if sealed {
        code("sealedcode", 503)
    } else {
        code("activecode", 200)
    };
    let mut body = json!({
        "initialized": initialized,
        "sealed": sealed,
        "standby": false,
        "performance_standby": false,
        "replication_performance_mode": "disabled",
        "replication_dr_mode": "disabled",
        "server_time_utc": now,
        "version": VERSION,
        "enterprise": false,
    });
    if !sealed {
        if let Some(obj) = body.as_object_mut() {
            obj.insert("cluster_name".into(), server.cluster.name.clone().into());
            obj.insert("cluster_id".into(), server.cluster.id.clone().into());
        }
    }
    Ok(Reply::Bare { status, body })
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
