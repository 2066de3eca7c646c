//! The host's own endpoints under `sys/`, one file per endpoint group. Each
//! file parses its request into a typed value first and only then applies
//! it; no handler sees hyper types or renders the envelope.

mod audit;
mod capabilities;
mod generate_root;
mod health;
mod internal_ui;
mod managed_keys;
mod mounts;
mod plugins;
mod policies;
mod remount;
mod seal;

use serde_json::Map;

use crate::api::{ApiError, ApiResult, Method, Request};
use crate::auth::Authorized;
use crate::seal::Unsealed;
use crate::server::Server;

pub(crate) use crate::fields::{opt_bool, opt_duration, opt_object, opt_string, opt_string_list};

/// Routes one of the seal's own unauthenticated paths (`sys/health`,
/// `sys/seal-status`, `sys/leader`, `sys/init`, `sys/unseal`, which answer
/// sealed or not, and `sys/generate-root/*`, which needs the server
/// unsealed and a threshold of shares instead of a token).
pub async fn unauthenticated(
    server: &Server,
    authorized: Authorized,
    request: Request,
) -> ApiResult {
    let method = request.method;
    let body = body_of(&request)?;
    let data = &body;
    match authorized.path() {
        "sys/health" => health::health(server, method, &request.query),
        "sys/seal-status" => seal::status(server, method),
        "sys/leader" => health::leader(method),
        "sys/init" => seal::init(server, method, data).await,
        "sys/unseal" => seal::unseal(server, method, data).await,
        // Vault's API is `generate-root` (bare JSON); OpenBao 2's, which
        // its CLI calls, `generate-root-token` (the JSON envelope).
        "sys/generate-root/attempt" => generate_root::attempt(server, method, data, false).await,
        "sys/generate-root/update" => generate_root::update(server, method, data, false).await,
        "sys/generate-root-token/attempt" => {
            generate_root::attempt(server, method, data, true).await
        }
        "sys/generate-root-token/update" => generate_root::update(server, method, data, true).await,
        _ => Err(ApiError::NotFound(Some("unsupported path".into()))),
    }
}

/// Routes a `sys/` request to its handler. `unsealed` is given up (dropped)
/// by the handlers that change the seal state, which must wait for every
/// request in flight.
pub async fn handle(
    server: &Server,
    unsealed: Unsealed,
    authorized: Authorized,
    request: Request,
) -> ApiResult {
    let path = authorized.path().to_string();
    let rest = path.strip_prefix("sys/").unwrap_or_default();
    let method = request.method;
    let body = body_of(&request)?;
    let data = &body;
    let u = &unsealed;
    let mounts = &server.mounts;
    match rest {
        "seal" => seal::seal(server, method, unsealed).await,
        "rotate" | "rotate/keyring" => seal::rotate(server, method, unsealed).await,
        "key-status" => seal::key_status(u, method),
        "policies/acl" | "policies/acl/" => policies::list_acl(&server.auth, u, method),
        "policy" | "policy/" => policies::list_old(&server.auth, u, method),
        "capabilities-self" | "capabilities" | "capabilities-accessor" => {
            let whose = match rest {
                "capabilities-self" => capabilities::Whose::Own,
                "capabilities" => capabilities::Whose::Token,
                _ => capabilities::Whose::Accessor,
            };
            capabilities::capabilities(&server.auth, u, &authorized, method, data, whose)
        }
        "mounts" => mounts::list(server, method),
        "audit" => audit::list(server, method),
        "remount" => remount::remount(mounts, u, method, data).await,
        "plugins/catalog" => plugins::catalog(mounts, u, method),
        "plugins/catalog/secret" | "plugins/catalog/secret/" => plugins::list(mounts, u, method),
        "plugins/reload/backend" => plugins::reload(mounts, u, method, data).await,
        "internal/ui/mounts" => internal_ui::all(mounts, method),
        _ => {
            if let Some(p) = rest.strip_prefix("mounts/") {
                if let Some(mount) = p.strip_suffix("/tune") {
                    return mounts::tune(mounts, u, method, mount, data).await;
                }
                return mounts::one(mounts, u, method, p, data).await;
            }
            if let Some(p) = rest.strip_prefix("audit/") {
                return audit::one(server, u, method, p, data);
            }
            if let Some(p) = rest.strip_prefix("audit-hash/") {
                return audit::hash(server, method, p, data);
            }
            if let Some(id) = rest.strip_prefix("remount/status/") {
                return remount::status(mounts, method, id);
            }
            if let Some(name) = rest.strip_prefix("plugins/catalog/secret/") {
                return plugins::entry(mounts, u, method, name, data).await;
            }
            if let Some(name) = rest.strip_prefix("policies/acl/") {
                return policies::one(&server.auth, u, method, name, data, false).await;
            }
            if let Some(name) = rest.strip_prefix("policy/") {
                return policies::one(&server.auth, u, method, name, data, true).await;
            }
            if let Some(p) = rest.strip_prefix("managed-keys/") {
                return managed_keys::handle(&server.managed_keys, mounts, u, method, p, data)
                    .await;
            }
            if let Some(p) = rest.strip_prefix("internal/ui/mounts/") {
                return internal_ui::one(mounts, method, p);
            }
            Err(ApiError::NotFound(Some("unsupported path".into())))
        }
    }
}

/// The body of a write as a JSON object; empty for other verbs.
fn body_of(request: &Request) -> Result<Map<String, serde_json::Value>, ApiError> {
    if matches!(request.method, Method::Write | Method::Patch) {
        request.data()
    } else {
        Ok(Map::new())
    }
}

/// Requires `method` to be one of `allowed`, else 405.
fn only(method: Method, allowed: &[Method]) -> Result<(), ApiError> {
    if allowed.contains(&method) {
        Ok(())
    } else {
        Err(ApiError::unsupported())
    }
}
