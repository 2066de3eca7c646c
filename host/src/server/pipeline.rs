//! One request's way through the host: the seal gate, the token check,
//! the audit devices, then `sys/`, `auth/token/` or an engine.
//!
//! **Invariant 1:** nothing past the seal's own unauthenticated paths runs
//! without an [`Unsealed`] from [`Gate::enter`](crate::seal::Gate::enter) and
//! an [`Authorized`] from [`Auth::check`](crate::auth::Auth::check).

use super::Server;
use std::sync::Arc;

use crate::api::{ApiError, ApiResult, Method, Reply, Request};
use crate::auth::tokens::now;
use crate::auth::{Authorized, Target};
use crate::router::special::Special;
use crate::sandbox::{Admission, CallRequest, Contract, EngineCaller};
use crate::seal::Unsealed;

/// What a handled request produced, plus the mount type for the envelope.
pub struct Handled {
    /// The answer.
    pub result: ApiResult,
    /// `mount_type` of the envelope.
    pub mount_type: String,
}

impl Handled {
    fn error(e: ApiError) -> Self {
        Handled {
            result: Err(e),
            mount_type: String::new(),
        }
    }
}

/// A token a response hands out, read back from its `auth` block so the
/// audit line can hash it.
struct IssuedAuth {
    client_token: String,
    accessor: String,
    policies: Vec<String>,
    metadata: Option<std::collections::BTreeMap<String, String>>,
    ttl: i64,
}

impl IssuedAuth {
    fn from_block(auth: &serde_json::Value) -> Self {
        let text = |k: &str| auth[k].as_str().unwrap_or_default().to_string();
        IssuedAuth {
            client_token: text("client_token"),
            accessor: text("accessor"),
            policies: serde_json::from_value(auth["policies"].clone()).unwrap_or_default(),
            metadata: serde_json::from_value(auth["metadata"].clone()).unwrap_or_default(),
            ttl: auth["lease_duration"].as_i64().unwrap_or(0),
        }
    }

    fn info(&self) -> crate::audit::AuthInfo<'_> {
        crate::audit::AuthInfo {
            client_token: Some(&self.client_token),
            accessor: Some(&self.accessor),
            display_name: "",
            policies: &self.policies,
            token_policies: &self.policies,
            metadata: self.metadata.as_ref(),
            token_type: "service",
            token_ttl: self.ttl,
            ..crate::audit::AuthInfo::default()
        }
    }
}

/// What the HTTP layer needs to know of a request's mount before it reads
/// the body ([`Server::admit`]).
#[derive(Default)]
pub struct Intake {
    /// The request's place in its mount's queue; `None` for host paths and
    /// paths no mount serves.
    pub admission: Option<Admission>,
    /// For a contract-0.2 mount, the request headers its engine asked to
    /// see: the body is then read as it comes (any content type), not as
    /// a JSON object. `None` otherwise.
    pub raw_headers: Option<Vec<String>>,
}

/// Whether the host serves `path` itself (`sys/`, `auth/token/`) rather
/// than a mount's engine.
fn is_host_path(path: &str) -> bool {
    path == "sys" || path.starts_with("sys/") || path.starts_with("auth/token/")
}

impl Server {
    /// A place in the queue of the mount an engine path goes to, taken
    /// before the request's body is read, and how to read that body (see
    /// [`Intake`]). 503 with `Retry-After` when the queue is full.
    pub fn admit(&self, path: &str) -> Result<Intake, ApiError> {
        if is_host_path(path) {
            return Ok(Intake::default());
        }
        match self.mounts.table().find(path) {
            Some((mount, _)) => Ok(Intake {
                admission: Some(mount.runtime.admit()?),
                raw_headers: (mount.runtime.contract() == Some(Contract::V02))
                    .then(|| mount.runtime.wanted_headers().to_vec()),
            }),
            None => Ok(Intake::default()),
        }
    }

    /// What an engine path needs by its mount's special paths.
    fn special(&self, path: &str) -> Special {
        match self.mounts.table().find(path) {
            Some((mount, inner)) => mount.runtime.special(inner),
            None => Special::default(),
        }
    }

    /// Seal, then authorise, then run one request (invariant 1).
    pub async fn handle(&self, request: Request) -> Handled {
        let path = request.path.as_str();
        // The seal's own paths answer sealed or not, without a token, and
        // are never audited (as in Vault): an unseal share must never
        // reach a log.
        if let Some(authorized) = self.auth.unauthenticated(path) {
            return Handled {
                result: Box::pin(crate::sys::unauthenticated(self, authorized, request)).await,
                mount_type: "system".into(),
            };
        }
        let unsealed = match self.gate.enter().await {
            Ok(u) => u,
            Err(e) => return Handled::error(e),
        };
        let target = if is_host_path(path) {
            Target::Host
        } else {
            Target::Engine(self.special(path))
        };
        // Engines ignore a trailing slash on a path they serve, so the
        // policy check would see another path than the engine: only a
        // LIST may end in '/' (Vault refuses such writes as well). Host
        // paths keep it (the CLI sends `sys/mounts/<path>/`); the check
        // then covers both spellings (see `Auth::check`).
        if target != Target::Host && path.ends_with('/') && request.method != Method::List {
            return Handled::error(ApiError::bad(format!(
                "unsupported path {path:?}: only a LIST may end in '/'"
            )));
        }
        let authorized = self.auth.check(
            &unsealed,
            request.token.as_deref(),
            request.method,
            path,
            target,
        );
        if self.audit.is_enabled() {
            return Box::pin(self.handle_audited(unsealed, request, authorized)).await;
        }
        match authorized {
            Ok(a) => self.dispatch(unsealed, a, request).await,
            Err(e) => Handled::error(e),
        }
    }

    /// Runs an authorised request on its handler.
    async fn dispatch(
        &self,
        unsealed: Unsealed,
        authorized: Authorized,
        request: Request,
    ) -> Handled {
        let path = authorized.path();
        if path == "sys" || path.starts_with("sys/") {
            return Handled {
                result: Box::pin(crate::sys::handle(self, unsealed, authorized, request)).await,
                mount_type: "system".into(),
            };
        }
        if path.starts_with("auth/token/") {
            return Handled {
                result: crate::auth::token::handle(&self.auth, &unsealed, &authorized, &request),
                mount_type: "token".into(),
            };
        }
        self.call_engine(&unsealed, authorized, request).await
    }

    /// [`Server::handle`] with audit devices enabled: the request is logged
    /// before it runs (and does not run if no device could log it), the
    /// response after (and a response no device could log becomes a 500,
    /// as in Vault).
    ///
    /// A request refused before authorisation (no token, a bad token,
    /// permission denied) is logged, request and response line, with its
    /// operation, path, mount, hashed token and error, but without `data`:
    /// its body is not parsed, copied or hashed for the log, so a refusal
    /// costs the log a few hundred bytes whatever its size (Vault logs the body of such
    /// requests too; Coffer does not, on purpose). The remote address is
    /// not known here (the request carries none), so no line has one.
    async fn handle_audited(
        &self,
        unsealed: Unsealed,
        request: Request,
        authorized: Result<Authorized, ApiError>,
    ) -> Handled {
        use crate::audit::{AuthInfo, Operation, Payload, RequestEntry, ResponseEntry};
        let id = request.id;
        let method = request.method;
        let path = request.path.clone();
        let token = request.token.clone();
        let caller = authorized.as_ref().ok().and_then(|a| a.caller().cloned());
        let now = now();
        let caller_info = caller.as_ref().map(|c| AuthInfo {
            client_token: Some(&c.token),
            accessor: Some(&c.entry.accessor),
            display_name: &c.entry.display_name,
            policies: &c.entry.policies,
            token_policies: &c.entry.policies,
            metadata: c.entry.meta.as_ref(),
            num_uses: i64::try_from(c.entry.num_uses).unwrap_or(i64::MAX),
            token_type: "service",
            token_ttl: i64::try_from(c.entry.ttl(now)).unwrap_or(i64::MAX),
            ..AuthInfo::default()
        });
        let (mount_point, mount_type, mount_accessor) = self.mount_of(&path);
        let mut entry = RequestEntry::new(id, Operation::from(method), &path);
        entry.mount_point = &mount_point;
        entry.mount_type = &mount_type;
        entry.mount_accessor = &mount_accessor;
        entry.client_token = token.as_deref();
        entry.client_token_accessor = caller.as_ref().map(|c| c.entry.accessor.as_str());
        entry.auth = caller_info.as_ref();

        let authorized = match authorized {
            Ok(a) => a,
            Err(e) => {
                let message = e.messages().join("; ");
                entry.error = Some(&message);
                // A refusal is answered whether or not it could be logged.
                let logged = self.audit.log_request(&entry).unwrap_or_default();
                let _ = self.audit.log_response(
                    &entry,
                    &logged,
                    &ResponseEntry {
                        error: Some(&message),
                        ..ResponseEntry::default()
                    },
                );
                return Handled {
                    result: Err(e),
                    mount_type,
                };
            }
        };
        // The body is logged from the request itself (no copy); the
        // response line reuses what each device wrote (`Logged`).
        // A contract-0.2 engine's body is logged as text when it is text
        // (a JSON object has its leaves hashed, other text is hashed whole),
        // and not at all when it is binary (DER, say).
        let body = match &request.raw {
            Some(raw) => std::str::from_utf8(&raw.bytes)
                .ok()
                .filter(|t| !t.is_empty()),
            None => Some(request.body.as_str()),
        };
        let with_body = RequestEntry {
            data: body.map(Payload::Text),
            ..entry
        };
        let logged = match self.audit.log_request(&with_body) {
            Ok(logged) => logged,
            Err(e) => {
                return Handled {
                    result: Err(e.into()),
                    mount_type,
                }
            }
        };
        let handled = self.dispatch(unsealed, authorized, request).await;
        let error = handled
            .result
            .as_ref()
            .err()
            .map(|e| e.messages().join("; "));
        let empty = Vec::new();
        let issued = match &handled.result {
            Ok(Reply::Auth { auth, .. }) => Some(IssuedAuth::from_block(auth)),
            _ => None,
        };
        let issued_info = issued.as_ref().map(IssuedAuth::info);
        let response = match &handled.result {
            Ok(Reply::Data { data, warnings, .. }) => ResponseEntry {
                data: Some(Payload::Value(data)),
                warnings,
                ..ResponseEntry::default()
            },
            Ok(Reply::EngineData { data, warnings, .. }) => ResponseEntry {
                data: Some(Payload::Text(data.get())),
                warnings,
                ..ResponseEntry::default()
            },
            Ok(Reply::Auth { warnings, .. }) => ResponseEntry {
                auth: issued_info.as_ref(),
                warnings,
                ..ResponseEntry::default()
            },
            Ok(Reply::Bare { body, .. }) => ResponseEntry {
                data: Some(Payload::Value(body)),
                ..ResponseEntry::default()
            },
            Ok(Reply::Empty { warnings, .. }) => ResponseEntry {
                warnings,
                ..ResponseEntry::default()
            },
            Ok(Reply::Raw { .. }) => ResponseEntry {
                warnings: &empty,
                ..ResponseEntry::default()
            },
            Err(_) => ResponseEntry {
                error: error.as_deref(),
                ..ResponseEntry::default()
            },
        };
        if let Err(e) = self.audit.log_response(&entry, &logged, &response) {
            return Handled {
                result: Err(e.into()),
                mount_type: handled.mount_type,
            };
        }
        handled
    }

    /// The mount a path goes to, for audit lines: path, type, accessor.
    fn mount_of(&self, path: &str) -> (String, String, String) {
        if path == "sys" || path.starts_with("sys/") {
            return ("sys/".into(), "system".into(), String::new());
        }
        if path.starts_with("auth/token/") {
            return ("auth/token/".into(), "token".into(), String::new());
        }
        match self.mounts.table().find(path) {
            Some((mount, _)) => (
                mount.record.path.clone(),
                mount.record.kind.clone(),
                mount.record.accessor.clone(),
            ),
            None => Default::default(),
        }
    }

    async fn call_engine(
        &self,
        unsealed: &Unsealed,
        authorized: Authorized,
        request: Request,
    ) -> Handled {
        let table = self.mounts.table();
        let Some((mount, inner)) = table.route(authorized.path()) else {
            return Handled {
                result: Err(ApiError::NotFound(Some(format!(
                    "no handler for route {:?}. route entry not found.",
                    request.path
                )))),
                mount_type: String::new(),
            };
        };
        let admission = request.admission;
        let caller = authorized
            .caller()
            .map(|c| EngineCaller(Arc::clone(&c.entry)));
        // Only a 0.2 engine has `keys.managed` to check them against.
        let allowed_managed_keys = if mount.runtime.contract() == Some(Contract::V02) {
            mount.record.config.allowed_managed_keys.clone()
        } else {
            Vec::new()
        };
        let call = CallRequest {
            method: request.method,
            path: inner,
            data: request.body,
            raw: request.raw,
            caller,
            id: request.id,
            // Vault's rule: query parameters are fields only for these verbs.
            query: match request.method {
                Method::Read | Method::List | Method::Delete => request.query,
                Method::Write | Method::Patch => Vec::new(),
            },
            mount_path: mount.record.path.clone(),
            mount_options: engine_options(&mount.record),
            write_rule: authorized.write_rule(),
            allowed_managed_keys,
        };
        Handled {
            result: self
                .mounts
                .sandbox()
                .call(unsealed, &mount.runtime, call, admission)
                .await,
            mount_type: mount.record.kind.clone(),
        }
    }
}

/// Vault's system lease TTLs (32 days), what a mount that sets none has.
pub const SYSTEM_LEASE_TTL: u64 = 768 * 3600;

/// The mount options an engine sees: the mount's `options`, with the
/// mount's effective lease TTLs in seconds under `default_lease_ttl` and
/// `max_lease_ttl` (the tuned values, else the system's; the default never
/// above the maximum), as Vault's engines read them from their system view.
/// The host owns those two names: an option of the same name is replaced.
fn engine_options(record: &crate::router::MountRecord) -> String {
    let max = match record.config.max_lease_ttl {
        0 => SYSTEM_LEASE_TTL,
        t => t,
    };
    let default = match record.config.default_lease_ttl {
        0 => SYSTEM_LEASE_TTL,
        t => t,
    }
    .min(max);
    let mut options = record.options.clone();
    options.insert("default_lease_ttl".into(), default.into());
    options.insert("max_lease_ttl".into(), max.into());
    serde_json::Value::Object(options).to_string()
}
