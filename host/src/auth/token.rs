//! `auth/token/*`: for now only `lookup-self`, which clients call to check
//! their token (hvac's `is_authenticated`, the CLI's login).

use serde_json::json;

use crate::api::{ApiError, ApiResult, Method, Reply, Request};
use crate::auth::Authorized;

/// Handles `auth/token/<rest>`.
pub fn handle(authorized: Authorized, request: &Request) -> ApiResult {
    match (authorized.path(), request.method) {
        ("auth/token/lookup-self", Method::Read) => Ok(Reply::data(json!({
            "accessor": "",
            "creation_time": 0,
            "creation_ttl": 0,
            "display_name": "root",
            "entity_id": "",
            "expire_time": null,
            "explicit_max_ttl": 0,
            "id": request.token.clone().unwrap_or_default(),
            "meta": null,
            "num_uses": 0,
            "orphan": true,
            "path": "auth/token/root",
            "policies": ["root"],
            "ttl": 0,
            "type": "service",
        }))),
        ("auth/token/lookup-self", _) => Err(ApiError::unsupported()),
        _ => Err(ApiError::NotFound(Some("unsupported path".into()))),
    }
}
