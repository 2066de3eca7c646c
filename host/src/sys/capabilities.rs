//! `sys/capabilities-self`, `sys/capabilities` and
//! `sys/capabilities-accessor`: what a token may do on paths, answered from
//! the same ACL the request check uses.

use serde_json::{Map, Value};

use crate::api::{ApiError, ApiResult, Method, Reply};
use crate::auth::policy::Acl;
use crate::auth::Auth;
use crate::auth::Authorized;
use crate::fields::{opt_string, opt_string_list};
use crate::seal::Unsealed;

/// Which token to ask about.
pub enum Whose {
    /// The caller's own.
    Own,
    /// The one in the body's `token`.
    Token,
    /// The one behind the body's `accessor`.
    Accessor,
}

/// Handles the three endpoints.
pub fn capabilities(
    auth: &Auth,
    u: &Unsealed,
    authorized: &Authorized,
    method: Method,
    data: &Map<String, Value>,
    whose: Whose,
) -> ApiResult {
    super::only(method, &[Method::Write])?;
    let mut paths = opt_string_list(data, "paths")?.unwrap_or_default();
    if let Some(p) = opt_string(data, "path")? {
        paths.push(p);
    }
    if paths.is_empty() {
        return Err(ApiError::bad("missing \"paths\""));
    }
    let acl = match whose {
        Whose::Own => authorized
            .caller()
            .map(|c| c.acl.clone())
            .ok_or(ApiError::PermissionDenied)?,
        Whose::Token => {
            let token =
                opt_string(data, "token")?.ok_or_else(|| ApiError::bad("missing \"token\""))?;
            let entry = auth
                .tokens
                .lookup(u, &token)?
                .ok_or_else(|| ApiError::bad("invalid token"))?;
            auth.policies.acl(u, &entry.policies)?
        }
        Whose::Accessor => {
            let accessor = opt_string(data, "accessor")?
                .ok_or_else(|| ApiError::bad("missing \"accessor\""))?;
            let entry = auth
                .tokens
                .lookup_accessor(u, &accessor)?
                .ok_or_else(|| ApiError::bad("invalid accessor"))?;
            auth.policies.acl(u, &entry.policies)?
        }
    };
    let mut out = Map::new();
    for path in &paths {
        let names = names(&acl, path.trim_start_matches('/'));
        // With one path, Vault also answers it as `capabilities`.
        if paths.len() == 1 {
            out.insert("capabilities".into(), names.clone().into());
        }
        out.insert(path.clone(), names.into());
    }
    Ok(Reply::Data {
        status: 200,
        data: Value::Object(out.clone()),
        warnings: Vec::new(),
        top_level: Some(out),
    })
}

fn names(acl: &Acl, path: &str) -> Vec<&'static str> {
    if acl.is_root() {
        return vec!["root"];
    }
    acl.list_capabilities(path).names()
}
