//! `auth/token/*`: Vault's token endpoints. Each call parses its fields
//! into a typed request first, then acts on the [`TokenStore`](super::tokens::TokenStore).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::tokens::{new_token, now, TokenEntry, MAX_TTL};
use super::{Auth, Authorized, Caller};
use crate::api::{ApiError, ApiResult, Method, Reply, Request};
use crate::fields::{opt_bool, opt_duration, opt_object, opt_string, opt_string_list, opt_u64};
use crate::seal::Unsealed;

/// Handles `auth/token/<rest>`.
pub fn handle(auth: &Auth, u: &Unsealed, authorized: &Authorized, request: &Request) -> ApiResult {
    let rest = authorized
        .path()
        .strip_prefix("auth/token/")
        .unwrap_or_default();
    let caller = authorized.caller().ok_or(ApiError::PermissionDenied)?;
    let method = request.method;
    let data = match method {
        Method::Write => request.data()?,
        _ => query_fields(request),
    };
    match (rest, method) {
        ("create", Method::Write) => create(auth, u, caller, &data, false),
        ("create-orphan", Method::Write) => create(auth, u, caller, &data, true),
        ("lookup-self", Method::Read | Method::Write) => {
            Ok(Reply::data(caller.entry.lookup_data(&caller.token, now())))
        }
        ("lookup", Method::Read | Method::Write) => {
            // Without a token, Vault looks up the caller's own.
            let token = match opt_string(&data, "token")?.filter(|t| !t.is_empty()) {
                Some(t) => t,
                None => caller.token.clone(),
            };
            let entry = auth
                .tokens
                .lookup(u, &token)?
                .ok_or_else(|| ApiError::Forbidden("bad token".into()))?;
            Ok(Reply::data(entry.lookup_data(&token, now())))
        }
        ("lookup-accessor", Method::Write) => {
            let accessor = required(&data, "accessor")?;
            let entry = auth
                .tokens
                .lookup_accessor(u, &accessor)?
                .ok_or_else(|| ApiError::bad("invalid accessor"))?;
            Ok(Reply::data(entry.lookup_data("", now())))
        }
        ("renew-self", Method::Write) => {
            let increment = opt_duration(&data, "increment")?;
            let entry = auth.tokens.renew(u, &caller.entry.hash, increment)?;
            Ok(Reply::auth(
                entry.auth_block(&caller.token, now()),
                Vec::new(),
            ))
        }
        ("renew", Method::Write) => {
            let token = required(&data, "token")?;
            let increment = opt_duration(&data, "increment")?;
            let entry = auth
                .tokens
                .lookup(u, &token)?
                .ok_or_else(|| ApiError::bad("token not found"))?;
            let entry = auth.tokens.renew(u, &entry.hash, increment)?;
            Ok(Reply::auth(entry.auth_block(&token, now()), Vec::new()))
        }
        ("renew-accessor", Method::Write) => {
            let accessor = required(&data, "accessor")?;
            let increment = opt_duration(&data, "increment")?;
            let entry = auth
                .tokens
                .lookup_accessor(u, &accessor)?
                .ok_or_else(|| ApiError::bad("invalid accessor"))?;
            let entry = auth.tokens.renew(u, &entry.hash, increment)?;
            Ok(Reply::auth(entry.auth_block("", now()), Vec::new()))
        }
        ("revoke-self", Method::Write) => {
            auth.tokens.revoke_tree(u, &caller.entry.hash)?;
            Ok(Reply::empty())
        }
        ("revoke", Method::Write) => {
            let token = required(&data, "token")?;
            if let Some(entry) = auth.tokens.lookup(u, &token)? {
                auth.tokens.revoke_tree(u, &entry.hash)?;
            }
            Ok(Reply::empty())
        }
        ("revoke-orphan", Method::Write) => {
            let token = required(&data, "token")?;
            if let Some(entry) = auth.tokens.lookup(u, &token)? {
                auth.tokens.revoke_orphan(u, &entry.hash)?;
            }
            Ok(Reply::empty())
        }
        ("revoke-accessor", Method::Write) => {
            let accessor = required(&data, "accessor")?;
            let entry = auth
                .tokens
                .lookup_accessor(u, &accessor)?
                .ok_or_else(|| ApiError::bad("invalid accessor"))?;
            auth.tokens.revoke_tree(u, &entry.hash)?;
            Ok(Reply::empty())
        }
        ("accessors" | "accessors/", Method::List) => Ok(Reply::data(json!({
            "keys": auth.tokens.accessors(u)?,
        }))),
        (
            "create" | "create-orphan" | "lookup-self" | "lookup" | "lookup-accessor"
            | "renew-self" | "renew" | "renew-accessor" | "revoke-self" | "revoke"
            | "revoke-orphan" | "revoke-accessor" | "accessors" | "accessors/",
            _,
        ) => Err(ApiError::unsupported()),
        _ => Err(ApiError::NotFound(Some("unsupported path".into()))),
    }
}

fn query_fields(request: &Request) -> Map<String, Value> {
    request
        .query
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

fn required(data: &Map<String, Value>, field: &str) -> Result<String, ApiError> {
    opt_string(data, field)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad(format!("missing {field:?}")))
}

/// The longest TTL, period or explicit maximum a token may be given: ten
/// years (renewals and the system maximum bound it further).
const MAX_DURATION: u64 = 10 * 366 * 24 * 3600;

/// `auth/token/create` as parsed.
struct CreateRequest {
    id: Option<String>,
    policies: Option<Vec<String>>,
    meta: Option<BTreeMap<String, String>>,
    no_parent: bool,
    no_default_policy: bool,
    renewable: bool,
    ttl: Option<u64>,
    explicit_max_ttl: u64,
    display_name: String,
    num_uses: u64,
    period: u64,
}

fn parse_create(data: &Map<String, Value>) -> Result<CreateRequest, ApiError> {
    const KNOWN: &[&str] = &[
        "id",
        "policies",
        "meta",
        "no_parent",
        "no_default_policy",
        "renewable",
        "ttl",
        "lease",
        "explicit_max_ttl",
        "display_name",
        "num_uses",
        "period",
        "type",
        "entity_alias",
        "role_name",
    ];
    if let Some(unknown) = data.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(ApiError::bad(format!("unknown field {unknown:?}")));
    }
    match opt_string(data, "type")?.as_deref() {
        None | Some("") | Some("service") | Some("default") => {}
        Some(other) => {
            return Err(ApiError::bad(format!(
                "token type {other:?} is not supported; only \"service\" tokens are"
            )))
        }
    }
    for unsupported in ["entity_alias", "role_name"] {
        if opt_string(data, unsupported)?.is_some_and(|s| !s.is_empty()) {
            return Err(ApiError::bad(format!(
                "{unsupported:?} is not supported (Coffer has no token roles or identity)"
            )));
        }
    }
    let meta = match opt_object(data, "meta")? {
        None => None,
        Some(m) => Some(
            m.into_iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k, s)),
                    other => Err(ApiError::bad(format!(
                        "field \"meta\": value of {k:?} must be a string, got {other}"
                    ))),
                })
                .collect::<Result<BTreeMap<_, _>, _>>()?,
        ),
    };
    let num_uses = opt_u64(data, "num_uses")?.unwrap_or(0);
    // Durations fit Vault's (signed 64-bit) fields; anything above the
    // system maximum is refused rather than wrapped.
    let duration = |field: &str| -> Result<Option<u64>, ApiError> {
        match opt_duration(data, field)? {
            Some(d) if d > MAX_DURATION => Err(ApiError::bad(format!(
                "field {field:?} is longer than the maximum of {MAX_DURATION} seconds"
            ))),
            other => Ok(other),
        }
    };
    let ttl = match duration("ttl")? {
        Some(t) => Some(t),
        None => duration("lease")?,
    };
    Ok(CreateRequest {
        id: opt_string(data, "id")?.filter(|s| !s.is_empty()),
        policies: opt_string_list(data, "policies")?,
        meta,
        no_parent: opt_bool(data, "no_parent")?.unwrap_or(false),
        no_default_policy: opt_bool(data, "no_default_policy")?.unwrap_or(false),
        renewable: opt_bool(data, "renewable")?.unwrap_or(true),
        ttl,
        explicit_max_ttl: duration("explicit_max_ttl")?.unwrap_or(0),
        display_name: opt_string(data, "display_name")?.unwrap_or_default(),
        num_uses,
        period: duration("period")?.unwrap_or(0),
    })
}

/// Vault's display name: `token`, or `token-<name>` with the name
/// lowercased and anything but letters, digits and `-` made `-`.
fn display_name(raw: &str) -> String {
    let cleaned: String = raw
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "token".into()
    } else {
        format!("token-{cleaned}")
    }
}

fn create(
    auth: &Auth,
    u: &Unsealed,
    caller: &Caller,
    data: &Map<String, Value>,
    orphan_path: bool,
) -> ApiResult {
    let req = parse_create(data)?;
    let parent = &caller.entry;
    let parent_root = parent.is_root();
    let privileged = parent_root || caller_has_sudo(caller, orphan_path);
    if parent.num_uses > 0 {
        return Err(ApiError::bad(
            "restricted use token cannot generate child tokens",
        ));
    }
    if req.id.is_some() && !privileged {
        return Err(ApiError::bad(
            "root or sudo privileges required to specify token id",
        ));
    }
    if req.no_parent && !orphan_path && !privileged {
        return Err(ApiError::bad(
            "root or sudo privileges required to create orphan token",
        ));
    }
    if req.period > 0 && !privileged {
        return Err(ApiError::bad(
            "root or sudo privileges required to create periodic token",
        ));
    }
    // Policies: inherited when not given; otherwise a subset of the
    // parent's unless the parent is root.
    let mut policies: Vec<String> = match &req.policies {
        None => parent.policies.clone(),
        Some(p) => p.iter().map(|n| n.trim().to_lowercase()).collect(),
    };
    policies.retain(|p| !p.is_empty());
    if !parent_root {
        if let Some(extra) = policies
            .iter()
            .find(|p| p.as_str() != "default" && !parent.policies.contains(p))
        {
            return Err(ApiError::bad(format!(
                "child policies must be subset of parent: {extra:?} is not held by the parent"
            )));
        }
    }
    if !policies.iter().any(|p| p == "root") {
        if req.no_default_policy {
            policies.retain(|p| p != "default");
        } else if !policies.iter().any(|p| p == "default") {
            policies.push("default".into());
        }
    }
    policies.sort();
    policies.dedup();
    if policies.is_empty() {
        return Err(ApiError::bad("token must have at least one policy"));
    }
    let mut warnings = Vec::new();
    for p in &policies {
        if p != "root" && auth.policies.get(u, p)?.is_none() {
            warnings.push(format!("Policy {p:?} does not exist"));
        }
    }
    // TTL: the period for periodic tokens; else as asked, or none for a
    // root-policy token made by root, or the system default.
    let now = now();
    let mut ttl = if req.period > 0 {
        req.period
    } else {
        match req.ttl {
            Some(t) if t > 0 => t.min(MAX_TTL),
            _ if policies.iter().any(|p| p == "root")
                && parent_root
                && req.explicit_max_ttl == 0 =>
            {
                0
            }
            _ => MAX_TTL,
        }
    };
    if req.explicit_max_ttl > 0 && (ttl == 0 || ttl > req.explicit_max_ttl) {
        ttl = req.explicit_max_ttl;
    }
    let token = match &req.id {
        Some(id) => id.clone(),
        None => new_token(),
    };
    let entry = TokenEntry {
        hash: String::new(),
        accessor: String::new(),
        policies,
        parent: if req.no_parent || orphan_path {
            None
        } else {
            Some(parent.hash.clone())
        },
        meta: req.meta,
        display_name: display_name(&req.display_name),
        num_uses: req.num_uses,
        creation_time: now,
        creation_ttl: ttl,
        expire_time: (ttl > 0).then(|| now.saturating_add(ttl)),
        explicit_max_ttl: req.explicit_max_ttl,
        period: req.period,
        renewable: req.renewable && ttl > 0,
        path: if orphan_path {
            "auth/token/create-orphan".into()
        } else {
            "auth/token/create".into()
        },
        last_renewal: None,
    };
    let entry = auth.tokens.create(u, &token, entry)?;
    Ok(Reply::auth(entry.auth_block(&token, now), warnings))
}

fn caller_has_sudo(caller: &Caller, orphan_path: bool) -> bool {
    let path = if orphan_path {
        "auth/token/create-orphan"
    } else {
        "auth/token/create"
    };
    caller
        .acl
        .capabilities(path)
        .allows(super::policy::Capability::Sudo)
}

#[cfg(test)]
mod tests {
    use super::display_name;

    #[test]
    fn display_names_follow_vault() {
        assert_eq!(display_name(""), "token");
        assert_eq!(display_name("App"), "token-app");
        assert_eq!(display_name("my app/1"), "token-my-app-1");
    }
}
