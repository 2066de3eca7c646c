//! `sys/managed-keys/:type[/:name[/test/sign]]`: the operator's managed
//! keys (`kms::ManagedKeyStore` holds them). Create and update open the key
//! before anything is stored; reads redact secrets; delete is refused
//! while a mount's `allowed_managed_keys` names the key.

use serde_json::{json, Map, Value};

use super::{only, opt_bool, opt_string};
use crate::api::{ApiError, ApiResult, Method, Reply};
use crate::crypto::{random_bytes, HashAlgorithm, RsaPadding, SignOptions};
use crate::kms::record::{BackendType, Record};
use crate::kms::{ManagedKeyStore, OPEN_TIMEOUT};
use crate::mounts::Mounts;
use crate::seal::Unsealed;

/// What follows `sys/managed-keys/`, parsed.
enum Target<'a> {
    /// `:type`.
    Type(BackendType),
    /// `:type/:name`.
    Key(BackendType, &'a str),
    /// `:type/:name/test/sign`.
    TestSign(BackendType, &'a str),
}

fn target(rest: &str) -> Result<Target<'_>, ApiError> {
    let rest = rest.trim_end_matches('/');
    let (kind, name) = match rest.split_once('/') {
        Some((kind, name)) => (BackendType::parse(kind)?, Some(name)),
        None => (BackendType::parse(rest)?, None),
    };
    Ok(match name {
        None => Target::Type(kind),
        Some(name) => match name.strip_suffix("/test/sign") {
            Some(name) => Target::TestSign(kind, name),
            None if name.contains('/') => {
                return Err(ApiError::NotFound(Some("unsupported path".into())))
            }
            None => Target::Key(kind, name),
        },
    })
}

/// Routes `sys/managed-keys/<rest>`.
pub async fn handle(
    store: &ManagedKeyStore,
    mounts: &Mounts,
    u: &Unsealed,
    method: Method,
    rest: &str,
    data: &Map<String, Value>,
) -> ApiResult {
    match target(rest)? {
        Target::Type(kind) => {
            only(method, &[Method::List])?;
            let names = store.list(kind)?;
            if names.is_empty() {
                return Err(ApiError::NotFound(None));
            }
            Ok(Reply::data(json!({ "keys": names })))
        }
        Target::Key(kind, name) => {
            only(method, &[Method::Read, Method::Write, Method::Delete])?;
            match method {
                Method::Read => match store.get(kind, name)? {
                    Some(record) => Ok(Reply::data(record.show())),
                    None => Err(ApiError::NotFound(None)),
                },
                Method::Write => {
                    store.write(u, kind, name, data).await?;
                    Ok(Reply::empty())
                }
                _ => {
                    store
                        .delete(u, kind, name, |record| users(mounts, record))
                        .await?;
                    Ok(Reply::empty())
                }
            }
        }
        Target::TestSign(kind, name) => {
            only(method, &[Method::Write])?;
            let record = store
                .get(kind, name)?
                .ok_or_else(|| ApiError::bad(format!("no {} managed key {name:?}", kind.name())))?;
            test_sign(store, &record, data).await
        }
    }
}

/// The paths of the mounts whose `allowed_managed_keys` name `record`.
fn users(mounts: &Mounts, record: &Record) -> Vec<String> {
    mounts
        .table()
        .mounts()
        .iter()
        .filter(|m| {
            m.record
                .config
                .allowed_managed_keys
                .iter()
                .any(|a| *a == record.name || *a == record.uuid)
        })
        .map(|m| m.record.path.clone())
        .collect()
}

/// `test/sign`: signs 32 random bytes with the key (in its backend) and
/// checks the signature with its public half.
async fn test_sign(
    store: &ManagedKeyStore,
    record: &std::sync::Arc<Record>,
    data: &Map<String, Value>,
) -> ApiResult {
    let use_pss = opt_bool(data, "use_pss")?.unwrap_or(false);
    let hash = match opt_string(data, "hash_algorithm")? {
        None => HashAlgorithm::Sha256,
        Some(name) => HashAlgorithm::from_name(&name)
            .map_err(|e| ApiError::bad(format!("invalid \"hash_algorithm\": {e}")))?,
    };
    let key = store.key(record).await?;
    let options = SignOptions {
        hash: Some(hash),
        padding: if use_pss {
            RsaPadding::Pss
        } else {
            RsaPadding::Pkcs1v15
        },
        ..SignOptions::default()
    };
    let message = random_bytes(32).map_err(ApiError::internal)?;
    let signing = std::sync::Arc::clone(&key).sign(message.clone(), options);
    let signature = tokio::time::timeout(OPEN_TIMEOUT, signing)
        .await
        .map_err(|_| {
            ApiError::BackendUnavailable(format!(
                "the key's backend did not sign within {} s",
                OPEN_TIMEOUT.as_secs()
            ))
        })?
        .map_err(sign_error)?;
    let valid = key
        .verify(message, signature, options)
        .await
        .map_err(sign_error)?;
    if !valid {
        return Err(ApiError::internal(format!(
            "managed key {:?} made a signature its own public key does not verify",
            record.name
        )));
    }
    Ok(Reply::empty())
}

fn sign_error(e: crate::crypto::CryptoError) -> ApiError {
    if e.is_unavailable() {
        ApiError::BackendUnavailable(e.to_string())
    } else {
        ApiError::bad(e.to_string())
    }
}
