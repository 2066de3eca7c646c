//! `sys/init`, `sys/unseal`, `sys/seal`, `sys/seal-status`, `sys/rotate`
//! and `sys/key-status`: the seal's endpoints, in Vault's shapes.

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::health::VERSION;
use super::only;
use crate::api::{ApiError, ApiResult, Method, Reply};
use crate::fields::{opt_bool, opt_string, opt_u64};
use crate::seal::auto::SealType;
use crate::seal::Unsealed;
use crate::server::Server;

/// `GET sys/init` (is it initialised) and `PUT sys/init` (initialise).
pub async fn init(server: &Server, method: Method, data: &Map<String, Value>) -> ApiResult {
    only(method, &[Method::Read, Method::Write])?;
    if method == Method::Read {
        return Ok(Reply::Bare {
            status: 200,
            body: json!({ "initialized": server.seal.config()?.is_some() }),
        });
    }
    for unsupported in ["pgp_keys", "root_token_pgp_key", "recovery_pgp_keys"] {
        let given = match data.get(unsupported) {
            None | Some(Value::Null) => false,
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Array(a)) => !a.is_empty(),
            Some(_) => true,
        };
        if given {
            return Err(ApiError::bad(format!(
                "{unsupported:?} is not supported: Coffer hands out unencrypted shares"
            )));
        }
    }
    let count = |field: &str| -> Result<u8, ApiError> {
        let n = opt_u64(data, field)?.ok_or_else(|| ApiError::bad(format!("missing {field:?}")))?;
        u8::try_from(n)
            .ok()
            .ok_or_else(|| ApiError::bad(format!("{field:?} must be at most 255")))
    };
    let hex_of = |keys: &[zeroize::Zeroizing<Vec<u8>>]| {
        keys.iter()
            .map(|k| hex::encode(k.as_slice()))
            .collect::<Vec<_>>()
    };
    let base64_of = |keys: &[zeroize::Zeroizing<Vec<u8>>]| {
        keys.iter()
            .map(|k| base64::engine::general_purpose::STANDARD.encode(k.as_slice()))
            .collect::<Vec<_>>()
    };
    if server.seal.auto().is_some() {
        // An auto seal: recovery shares (Vault's CLI defaults, 5 and 3,
        // when not given); secret_shares does not apply.
        let or = |field: &str, default: u8| -> Result<u8, ApiError> {
            match opt_u64(data, field)? {
                None | Some(0) => Ok(default),
                Some(n) => u8::try_from(n)
                    .map_err(|_| ApiError::bad(format!("{field:?} must be at most 255"))),
            }
        };
        let shares = or("recovery_shares", 5)?;
        let threshold = or("recovery_threshold", 3)?;
        let (keys, root_token) = server.initialize_auto(shares, threshold).await?;
        return Ok(Reply::Bare {
            status: 200,
            body: json!({
                "keys": [],
                "keys_base64": [],
                "recovery_keys": hex_of(&keys),
                "recovery_keys_base64": base64_of(&keys),
                "root_token": root_token,
            }),
        });
    }
    let shares = count("secret_shares")?;
    let threshold = count("secret_threshold")?;
    let (keys, root_token) = server.initialize(shares, threshold, None).await?;
    Ok(Reply::Bare {
        status: 200,
        body: json!({
            "keys": hex_of(&keys),
            "keys_base64": base64_of(&keys),
            "root_token": root_token,
        }),
    })
}

/// `PUT sys/unseal`: one share (`key`) or `reset`; answers the seal status.
pub async fn unseal(server: &Server, method: Method, data: &Map<String, Value>) -> ApiResult {
    only(method, &[Method::Write])?;
    if opt_bool(data, "reset")?.unwrap_or(false) {
        server.seal.reset()?;
        return status(server, Method::Read);
    }
    let key = opt_string(data, "key")?
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            ApiError::bad("'key' must be specified in request body as JSON, or 'reset' set to true")
        })?;
    if server.seal.config()?.is_none() {
        return Err(ApiError::bad("Vault is not initialized"));
    }
    let migrate = opt_bool(data, "migrate")?.unwrap_or(false);
    server.submit_share_for(&key, migrate).await?;
    status(server, Method::Read)
}

/// `PUT sys/seal` (needs `sudo`).
pub async fn seal(server: &Server, method: Method, unsealed: Unsealed) -> ApiResult {
    only(method, &[Method::Write])?;
    // Give up this request's hold on the seal: sealing waits for all.
    drop(unsealed);
    server.seal_now().await;
    Ok(Reply::empty())
}

/// `GET sys/seal-status`: bare JSON, no token needed.
pub fn status(server: &Server, method: Method) -> ApiResult {
    only(method, &[Method::Read])?;
    let s = server.seal.status()?;
    let sealed = !server.is_unsealed();
    let mut body = json!({
        "type": s.seal_type.name(),
        "initialized": s.initialized,
        "sealed": sealed,
        "t": s.threshold,
        "n": s.shares,
        "progress": s.progress,
        "nonce": s.nonce,
        "version": VERSION,
        "build_date": "",
        "migration": s.migration,
        "recovery_seal": s.seal_type != SealType::Shamir,
        "storage_type": "redb",
    });
    if !sealed {
        if let Some(obj) = body.as_object_mut() {
            obj.insert("cluster_name".into(), server.cluster.name.clone().into());
            obj.insert("cluster_id".into(), server.cluster.id.clone().into());
        }
    }
    Ok(Reply::Bare { status: 200, body })
}

/// `PUT sys/rotate` (needs `sudo`): a new barrier key term.
pub async fn rotate(server: &Server, method: Method, unsealed: Unsealed) -> ApiResult {
    only(method, &[Method::Write])?;
    drop(unsealed);
    server.rotate_barrier().await?;
    Ok(Reply::empty())
}

/// `GET sys/key-status`: the active barrier term.
pub fn key_status(unsealed: &Unsealed, method: Method) -> ApiResult {
    only(method, &[Method::Read])?;
    let (term, installed) = unsealed.keyring().active();
    let data = json!({
        "term": term,
        "install_time": crate::auth::tokens::rfc3339(installed),
    });
    Ok(Reply::Data {
        status: 200,
        data: data.clone(),
        warnings: Vec::new(),
        top_level: data.as_object().cloned(),
    })
}
