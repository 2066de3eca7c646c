//! `sys/generate-root/attempt` and `sys/generate-root/update`: a new root
//! token from a threshold of the shares that open the root key — unseal
//! keys, or an auto seal's recovery keys (Vault's API; unauthenticated, as
//! in Vault, and only while unsealed). The attempt's state is
//! `seal::root_generation`'s; this file parses and answers.

use serde_json::{json, Map, Value};

use super::only;
use crate::api::{ApiError, ApiResult, Method, Reply};
use crate::auth::tokens::new_token;
use crate::fields::{opt_string, opt_u64};
use crate::seal::root_generation::{encode_token, Step};
use crate::server::Server;

/// The pad's length: a token's (`s.` and 24 characters).
fn otp_length() -> usize {
    new_token().len()
}

fn status_body(server: &Server, extra: Option<Map<String, Value>>) -> Result<Value, ApiError> {
    let s = server.root_generation.status()?;
    let required = server.seal.threshold().unwrap_or(0);
    let mut body = json!({
        "started": s.started,
        "nonce": s.nonce,
        "progress": s.progress,
        "required": required,
        "complete": false,
        "encoded_token": "",
        "encoded_root_token": "",
        "pgp_fingerprint": "",
        "otp": "",
        "otp_length": otp_length(),
    });
    if let (Some(extra), Some(map)) = (extra, body.as_object_mut()) {
        map.extend(extra);
    }
    Ok(body)
}

/// The status as Vault answers it (bare JSON) or OpenBao 2 (`enveloped`).
fn answer(body: Value, enveloped: bool) -> Reply {
    if enveloped {
        Reply::data(body)
    } else {
        Reply::Bare { status: 200, body }
    }
}

/// `sys/generate-root/attempt`: read, start (`PUT`/`POST`), cancel
/// (`DELETE`).
pub async fn attempt(
    server: &Server,
    method: Method,
    data: &Map<String, Value>,
    enveloped: bool,
) -> ApiResult {
    only(method, &[Method::Read, Method::Write, Method::Delete])?;
    match method {
        Method::Read => Ok(answer(status_body(server, None)?, enveloped)),
        Method::Delete => {
            server.root_generation.cancel()?;
            Ok(Reply::empty())
        }
        _ => {
            if opt_string(data, "pgp_key")?.is_some_and(|k| !k.is_empty()) {
                return Err(ApiError::bad(
                    "\"pgp_key\" is not supported: the token is encoded with the attempt's one-time pad",
                ));
            }
            if opt_string(data, "otp")?.is_some_and(|k| !k.is_empty()) {
                return Err(ApiError::bad(
                    "\"otp\" is not taken: the server makes the one-time pad and returns it",
                ));
            }
            // Refused before init or while sealed, as the update would be.
            server.seal.threshold()?;
            server.gate.enter().await?;
            let (_, otp) = server.root_generation.start(otp_length())?;
            let mut extra = Map::new();
            extra.insert("otp".into(), otp.as_str().into());
            Ok(answer(status_body(server, Some(extra))?, enveloped))
        }
    }
}

/// `PUT sys/generate-root/update`: one share (`key`) for the attempt
/// (`nonce`); at the threshold, the shares are checked against the stored
/// root key and a new root token is made and returned encoded.
pub async fn update(
    server: &Server,
    method: Method,
    data: &Map<String, Value>,
    enveloped: bool,
) -> ApiResult {
    only(method, &[Method::Write])?;
    let key = opt_string(data, "key")?
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ApiError::bad("'key' must be specified in request body as JSON"))?;
    let nonce = opt_string(data, "nonce")?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad("'nonce' must be specified in request body as JSON"))?;
    let _ = opt_u64(data, "progress")?;
    let unsealed = server.gate.enter().await?;
    let threshold = server.seal.threshold()?;
    match server.root_generation.add(&nonce, &key, threshold)? {
        Step::Progress(progress) => {
            let mut extra = Map::new();
            extra.insert("progress".into(), progress.into());
            Ok(answer(status_body(server, Some(extra))?, enveloped))
        }
        Step::Complete { shares, otp, nonce } => {
            let given: Vec<String> = shares.iter().map(|s| s.to_string()).collect();
            server.seal.check_shares(&given)?;
            let token = new_token();
            server
                .auth
                .tokens
                .create(&unsealed, &token, crate::server::root_entry())?;
            let encoded = encode_token(&token, &otp)
                .ok_or_else(|| ApiError::internal("the pad is not as long as the token"))?;
            tracing::warn!("a new root token was generated (sys/generate-root)");
            let mut extra = Map::new();
            extra.insert("started".into(), true.into());
            extra.insert("nonce".into(), nonce.into());
            extra.insert("progress".into(), usize::from(threshold).into());
            extra.insert("complete".into(), true.into());
            extra.insert("encoded_token".into(), encoded.clone().into());
            extra.insert("encoded_root_token".into(), encoded.into());
            Ok(answer(status_body(server, Some(extra))?, enveloped))
        }
    }
}
