//! `sys/policies/acl[/:name]` and the older `sys/policy[/:name]`: ACL
//! policies in Vault's HCL language, stored by the policy store.

use serde_json::{json, Map, Value};

use super::only;
use crate::api::{ApiError, ApiResult, Method, Reply};
use crate::auth::policies::PolicyStore;
use crate::auth::Auth;
use crate::fields::opt_string;
use crate::seal::Unsealed;

/// `LIST sys/policies/acl`.
pub fn list_acl(auth: &Auth, u: &Unsealed, method: Method) -> ApiResult {
    only(method, &[Method::List])?;
    Ok(Reply::data(json!({ "keys": auth.policies.list(u)? })))
}

/// `GET sys/policy`: the names, in both fields old clients read.
pub fn list_old(auth: &Auth, u: &Unsealed, method: Method) -> ApiResult {
    only(method, &[Method::Read, Method::List])?;
    let names = auth.policies.list(u)?;
    let data = json!({ "keys": names, "policies": names });
    Ok(Reply::Data {
        status: 200,
        top_level: data.as_object().cloned(),
        data,
        warnings: Vec::new(),
    })
}

/// `sys/policies/acl/:name` (`old` = `sys/policy/:name`, whose text field
/// is `rules` and whose data is repeated at the top level). A written
/// policy is parsed on tokio's blocking pool, not on a runtime worker.
pub async fn one(
    auth: &Auth,
    u: &Unsealed,
    method: Method,
    name: &str,
    data: &Map<String, Value>,
    old: bool,
) -> ApiResult {
    only(method, &[Method::Read, Method::Write, Method::Delete])?;
    if name != name.trim().to_lowercase() {
        // The capability check saw the name as sent: never fold it.
        return Err(ApiError::bad(format!(
            "invalid policy name {name:?}: policy names are lowercase, without spaces"
        )));
    }
    match method {
        Method::Read => {
            let text = if name == "root" {
                String::new()
            } else {
                match auth.policies.get(u, name)? {
                    Some(p) => p.raw().to_string(),
                    None => return Err(ApiError::NotFound(None)),
                }
            };
            let field = if old { "rules" } else { "policy" };
            let mut body = Map::new();
            body.insert("name".into(), name.into());
            body.insert(field.into(), text.into());
            let body = Value::Object(body);
            Ok(Reply::Data {
                status: 200,
                top_level: if old { body.as_object().cloned() } else { None },
                data: body,
                warnings: Vec::new(),
            })
        }
        Method::Write => {
            let text = match opt_string(data, "policy")? {
                Some(t) => t,
                None => {
                    opt_string(data, "rules")?.ok_or_else(|| ApiError::bad("missing \"policy\""))?
                }
            };
            let owned = name.to_string();
            let policy = tokio::task::spawn_blocking(move || {
                // Vault accepts the policy base64-encoded too.
                PolicyStore::parse_new(&owned, &decode_maybe_base64(&text))
            })
            .await
            .map_err(|e| ApiError::internal(format!("policy parsing failed: {e}")))??;
            auth.policies.put(u, policy)?;
            Ok(Reply::empty())
        }
        _ => {
            auth.policies.delete(u, name)?;
            Ok(Reply::empty())
        }
    }
}

/// A policy given as base64 of HCL is decoded (as Vault does); anything
/// else is taken as HCL.
fn decode_maybe_base64(text: &str) -> String {
    use base64::Engine as _;
    if text.contains(['{', '"', ' ', '\n']) {
        return text.to_string();
    }
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_else(|| text.to_string())
}
