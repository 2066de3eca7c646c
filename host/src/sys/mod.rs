//! The host's own endpoints under `sys/`, one file per endpoint group. Each
//! file parses its request into a typed value first and only then applies
//! it; no handler sees hyper types or renders the envelope.

mod audit;
mod capabilities;
mod health;
mod internal_ui;
mod mounts;
mod plugins;
mod policies;
mod remount;
mod seal;

use serde_json::Map;

use crate::api::{ApiError, ApiResult, Method, Request};
use crate::auth::Authorized;
use crate::server::Server;

pub(crate) use crate::fields::{opt_bool, opt_duration, opt_object, opt_string};

/// Routes a `sys/` request to its handler.
pub async fn handle(server: &Server, authorized: Authorized, request: Request) -> ApiResult {
    let path = authorized.path().to_string();
    let rest = path.strip_prefix("sys/").unwrap_or_default();
    let method = request.method;
    let body = if matches!(method, Method::Write | Method::Patch) {
        request.data()?
    } else {
        Map::new()
    };
    let data = &body;
    match rest {
        "health" => health::health(server, method, &request.query),
        "seal-status" => seal::status(server, method),
        "init" => seal::init(server, method, data),
        "unseal" => seal::unseal(server, method, data).await,
        "seal" => seal::seal(server, method).await,
        "rotate" | "rotate/keyring" => seal::rotate(server, method).await,
        "key-status" => seal::key_status(server, method),
        "leader" => health::leader(method),
        "policies/acl" | "policies/acl/" => policies::list_acl(server, method),
        "policy" | "policy/" => policies::list_old(server, method),
        "capabilities-self" => {
            capabilities::capabilities(server, &authorized, method, data, capabilities::Whose::Own)
        }
        "capabilities" => capabilities::capabilities(
            server,
            &authorized,
            method,
            data,
            capabilities::Whose::Token,
        ),
        "capabilities-accessor" => capabilities::capabilities(
            server,
            &authorized,
            method,
            data,
            capabilities::Whose::Accessor,
        ),
        "mounts" => mounts::list(server, method),
        "audit" => audit::list(server, method),
        "remount" => remount::remount(server, method, data).await,
        "plugins/catalog" => plugins::catalog(server, method),
        "plugins/catalog/secret" | "plugins/catalog/secret/" => plugins::list(server, method),
        "internal/ui/mounts" => internal_ui::all(server, method),
        _ => {
            if let Some(p) = rest.strip_prefix("mounts/") {
                if let Some(mount) = p.strip_suffix("/tune") {
                    return mounts::tune(server, method, mount, data).await;
                }
                return mounts::one(server, method, p, data).await;
            }
            if let Some(p) = rest.strip_prefix("audit/") {
                return audit::one(server, method, p, data);
            }
            if let Some(p) = rest.strip_prefix("audit-hash/") {
                return audit::hash(server, method, p, data);
            }
            if let Some(id) = rest.strip_prefix("remount/status/") {
                return remount::status(server, method, id);
            }
            if let Some(name) = rest.strip_prefix("plugins/catalog/secret/") {
                return plugins::entry(server, method, name, data).await;
            }
            if let Some(name) = rest.strip_prefix("policies/acl/") {
                return policies::one(server, method, name, data, false).await;
            }
            if let Some(name) = rest.strip_prefix("policy/") {
                return policies::one(server, method, name, data, true).await;
            }
            if let Some(p) = rest.strip_prefix("internal/ui/mounts/") {
                return internal_ui::one(server, method, p);
            }
            Err(ApiError::NotFound(Some("unsupported path".into())))
        }
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
