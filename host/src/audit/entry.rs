//! What the request path hands the broker ([`RequestEntry`],
//! [`ResponseEntry`], [`AuthInfo`]) and the JSON line a device writes for
//! it, in Vault's `json` audit format: field names and order as Vault's,
//! empty fields left out as Go's `omitempty` leaves them out. The payloads
//! (`data`) are written by `data.rs`; error texts are kept in clear only
//! when value-free ([`Hasher::error_text`]).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::hash::Hasher;
use crate::api::Method;

/// Vault's name for what a request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// A write to something that does not exist yet.
    Create,
    /// GET.
    Read,
    /// POST/PUT (when create and update are not told apart).
    Update,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
    /// LIST.
    List,
}

impl Operation {
    /// The name in the log.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Read => "read",
            Operation::Update => "update",
            Operation::Patch => "patch",
            Operation::Delete => "delete",
            Operation::List => "list",
        }
    }
}

impl From<Method> for Operation {
    /// A write is an `update`: the host learns create from update only
    /// inside the engine call, after the request is logged.
    fn from(method: Method) -> Self {
        match method {
            Method::Read => Operation::Read,
            Method::Write => Operation::Update,
            Method::Delete => Operation::Delete,
            Method::List => Operation::List,
            Method::Patch => Operation::Patch,
        }
    }
}

/// A JSON payload as the caller has it; text is read (as a stream, never
/// copied into a tree) only when some device is enabled.
#[derive(Clone, Copy)]
pub enum Payload<'a> {
    /// A parsed object (a `sys/` handler's input).
    Object(&'a Map<String, Value>),
    /// Any parsed value (a reply's `data`).
    Value(&'a Value),
    /// JSON text (a request body, an engine's `data`). Text that does not
    /// parse is logged as one string (hashed like any string).
    Text(&'a str),
}

impl Payload<'_> {
    /// Bytes of JSON text to read (0 for a parsed value).
    pub fn text_len(self) -> usize {
        match self {
            Payload::Text(text) => text.len(),
            Payload::Object(_) | Payload::Value(_) => 0,
        }
    }
}

/// The token behind a request, or a token a response hands out. Only
/// `client_token` and `accessor` are secrets (hashed); the rest is logged as
/// given. Build it with `..AuthInfo::default()`. Not `Debug`: it holds a
/// token.
#[derive(Clone, Copy, Default)]
pub struct AuthInfo<'a> {
    /// The token itself.
    pub client_token: Option<&'a str>,
    /// Its accessor.
    pub accessor: Option<&'a str>,
    /// `display_name`, e.g. `token` or `root`.
    pub display_name: &'a str,
    /// All its policies.
    pub policies: &'a [String],
    /// The policies attached to the token itself.
    pub token_policies: &'a [String],
    /// Policies from identity.
    pub identity_policies: &'a [String],
    /// `no_default_policy`.
    pub no_default_policy: bool,
    /// Which policies allowed the request (request side only).
    pub policy_results: Option<PolicyResults<'a>>,
    /// Token metadata.
    pub metadata: Option<&'a BTreeMap<String, String>>,
    /// `num_uses` (a response's new token).
    pub num_uses: i64,
    /// Uses left on the request's token.
    pub remaining_uses: i64,
    /// `entity_id`.
    pub entity_id: &'a str,
    /// `service`, `batch`; empty logs Vault's `default`.
    pub token_type: &'a str,
    /// TTL in seconds (0: none).
    pub token_ttl: i64,
    /// When the token was issued.
    pub token_issue_time: Option<SystemTime>,
}

/// The ACL decision, as Vault logs it.
#[derive(Clone, Copy, Debug)]
pub struct PolicyResults<'a> {
    /// Whether the request was allowed.
    pub allowed: bool,
    /// Names of the policies that granted it.
    pub granting_policies: &'a [String],
}

/// One request, as the request path knows it before running it. Not
/// `Debug`, like every type here that holds tokens or data.
#[derive(Clone, Copy)]
pub struct RequestEntry<'a> {
    /// The request id (the envelope's `request_id`).
    pub id: Uuid,
    /// What it does.
    pub operation: Operation,
    /// Path after `/v1/`.
    pub path: &'a str,
    /// The mount it routes to, e.g. `secret/`, `sys/` (empty if none).
    pub mount_point: &'a str,
    /// The mount's type, e.g. `kv`, `system`, `token` (empty if none).
    pub mount_type: &'a str,
    /// The mount's accessor (empty if none).
    pub mount_accessor: &'a str,
    /// The token the client sent (hashed).
    pub client_token: Option<&'a str>,
    /// Its accessor (hashed unless a device says `hmac_accessor=false`).
    pub client_token_accessor: Option<&'a str>,
    /// The client's address.
    pub remote_address: Option<&'a str>,
    /// The client's port.
    pub remote_port: Option<u16>,
    /// The request's fields (every leaf hashed, capped: see `data.rs`).
    /// `None` for a request refused before authorisation: its body is
    /// never read for the log.
    pub data: Option<Payload<'a>>,
    /// The token's details, once it is known; `None` logs Vault's
    /// `{"token_type":"default"}`.
    pub auth: Option<&'a AuthInfo<'a>>,
    /// Why the request was refused before it ran (e.g. `permission
    /// denied`); the line's `error`, hashed unless value-free.
    pub error: Option<&'a str>,
}

impl<'a> RequestEntry<'a> {
    /// An entry with only the id, operation and path set.
    pub fn new(id: Uuid, operation: Operation, path: &'a str) -> Self {
        RequestEntry {
            id,
            operation,
            path,
            mount_point: "",
            mount_type: "",
            mount_accessor: "",
            client_token: None,
            client_token_accessor: None,
            remote_address: None,
            remote_port: None,
            data: None,
            auth: None,
            error: None,
        }
    }
}

/// What a request produced.
#[derive(Clone, Copy, Default)]
pub struct ResponseEntry<'a> {
    /// The envelope's `data` (every leaf hashed, capped: see `data.rs`).
    pub data: Option<Payload<'a>>,
    /// A token the response hands out (`client_token`, `accessor` hashed).
    pub auth: Option<&'a AuthInfo<'a>>,
    /// The envelope's `warnings` (in clear, as Vault: they name fields,
    /// keys and policies, not values).
    pub warnings: &'a [String],
    /// The error the client gets, if the request failed; hashed whole
    /// unless value-free.
    pub error: Option<&'a str>,
}

/// How one device writes: the parts of its configuration that shape a line.
pub(crate) struct Style<'a> {
    pub hasher: &'a Hasher,
    pub raw: bool,
    pub hmac_accessor: bool,
    pub elide_list_responses: bool,
}

/// One request line; `data` is the request's, as `data::render` wrote it
/// for this device.
pub(crate) fn request_line(
    style: &Style<'_>,
    time: &str,
    entry: &RequestEntry<'_>,
    data: Option<&RawValue>,
) -> serde_json::Result<Vec<u8>> {
    let line = Line {
        time,
        kind: "request",
        auth: AuthOut::new(style, entry.auth, entry.remaining_uses()),
        request: RequestOut::new(style, entry, data),
        response: None,
        error: error_text(style, entry.error),
    };
    serde_json::to_vec(&line)
}

/// One response line; `request_data` and `response_data` as
/// `data::render` wrote them for this device.
pub(crate) fn response_line(
    style: &Style<'_>,
    time: &str,
    entry: &RequestEntry<'_>,
    request_data: Option<&RawValue>,
    response: &ResponseEntry<'_>,
    response_data: Option<&RawValue>,
) -> serde_json::Result<Vec<u8>> {
    let line = Line {
        time,
        kind: "response",
        auth: AuthOut::new(style, entry.auth, entry.remaining_uses()),
        request: RequestOut::new(style, entry, request_data),
        response: Some(ResponseOut {
            auth: response
                .auth
                .map(|a| AuthOut::new(style, Some(a), a.remaining_uses)),
            mount_point: entry.mount_point,
            mount_type: entry.mount_type,
            mount_accessor: entry.mount_accessor,
            data: response_data,
            warnings: response.warnings,
        }),
        error: error_text(style, response.error),
    };
    serde_json::to_vec(&line)
}

/// The line Vault writes when a device is enabled, to prove it can write.
pub(crate) fn test_line(time: &str) -> serde_json::Result<Vec<u8>> {
    let id = Uuid::new_v4();
    let entry = RequestEntry::new(id, Operation::Update, "sys/audit/test");
    let hasher = Hasher::new(&rand::random::<[u8; 32]>());
    let Some(hasher) = hasher else {
        return Err(serde::ser::Error::custom("cannot key the HMAC"));
    };
    let style = Style {
        hasher: &hasher,
        raw: false,
        hmac_accessor: true,
        elide_list_responses: false,
    };
    request_line(&style, time, &entry, None)
}

impl RequestEntry<'_> {
    fn remaining_uses(&self) -> i64 {
        self.auth.map(|a| a.remaining_uses).unwrap_or(0)
    }
}

/// An error text as this device logs it: in clear when raw, else as
/// [`Hasher::error_text`] decides (value-free texts in clear, any other
/// hashed whole).
fn error_text<'a>(style: &Style<'_>, error: Option<&'a str>) -> Cow<'a, str> {
    match error {
        None => Cow::Borrowed(""),
        Some(text) if style.raw => Cow::Borrowed(text),
        Some(text) => style.hasher.error_text(text),
    }
}

#[derive(serde::Serialize)]
struct Line<'a> {
    time: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    auth: AuthOut<'a>,
    request: RequestOut<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response: Option<ResponseOut<'a>>,
    #[serde(skip_serializing_if = "str::is_empty")]
    error: Cow<'a, str>,
}

#[derive(serde::Serialize)]
struct AuthOut<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    client_token: Cow<'a, str>,
    #[serde(skip_serializing_if = "str::is_empty")]
    accessor: Cow<'a, str>,
    #[serde(skip_serializing_if = "str::is_empty")]
    display_name: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    policies: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    token_policies: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    identity_policies: &'a [String],
    #[serde(skip_serializing_if = "is_false")]
    no_default_policy: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_results: Option<PolicyResultsOut<'a>>,
    #[serde(skip_serializing_if = "no_metadata")]
    metadata: Option<&'a BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "is_zero")]
    num_uses: i64,
    #[serde(skip_serializing_if = "is_zero")]
    remaining_uses: i64,
    #[serde(skip_serializing_if = "str::is_empty")]
    entity_id: &'a str,
    token_type: &'a str,
    #[serde(skip_serializing_if = "is_zero")]
    token_ttl: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    token_issue_time: String,
}

impl<'a> AuthOut<'a> {
    fn new(style: &Style<'_>, auth: Option<&'a AuthInfo<'a>>, remaining_uses: i64) -> Self {
        let Some(a) = auth else {
            return AuthOut {
                client_token: Cow::Borrowed(""),
                accessor: Cow::Borrowed(""),
                display_name: "",
                policies: &[],
                token_policies: &[],
                identity_policies: &[],
                no_default_policy: false,
                policy_results: None,
                metadata: None,
                num_uses: 0,
                remaining_uses,
                entity_id: "",
                token_type: "default",
                token_ttl: 0,
                token_issue_time: String::new(),
            };
        };
        AuthOut {
            client_token: secret(style, a.client_token, true),
            accessor: secret(style, a.accessor, style.hmac_accessor),
            display_name: a.display_name,
            policies: a.policies,
            token_policies: a.token_policies,
            identity_policies: a.identity_policies,
            no_default_policy: a.no_default_policy,
            policy_results: a.policy_results.map(|p| PolicyResultsOut {
                allowed: p.allowed,
                granting_policies: p.granting_policies,
            }),
            metadata: a.metadata,
            num_uses: a.num_uses,
            remaining_uses,
            entity_id: a.entity_id,
            token_type: if a.token_type.is_empty() {
                "default"
            } else {
                a.token_type
            },
            token_ttl: a.token_ttl,
            token_issue_time: a
                .token_issue_time
                .map(|t| rfc3339(t, false))
                .unwrap_or_default(),
        }
    }
}

/// A token or accessor as a device logs it: hashed unless raw (or, for
/// accessors, unless the device keeps them in clear).
fn secret<'a>(style: &Style<'_>, value: Option<&'a str>, hash: bool) -> Cow<'a, str> {
    match value {
        None | Some("") => Cow::Borrowed(""),
        Some(v) if style.raw || !hash => Cow::Borrowed(v),
        Some(v) => Cow::Owned(style.hasher.hash(v)),
    }
}

struct PolicyResultsOut<'a> {
    allowed: bool,
    granting_policies: &'a [String],
}

impl Serialize for PolicyResultsOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Granting<'a>(&'a [String]);
        impl Serialize for Granting<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.iter().map(
                    |name| serde_json::json!({"name": name, "namespace_id": "root", "type": "acl"}),
                ))
            }
        }
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("allowed", &self.allowed)?;
        if !self.granting_policies.is_empty() {
            m.serialize_entry("granting_policies", &Granting(self.granting_policies))?;
        }
        m.end()
    }
}

#[derive(serde::Serialize)]
struct RequestOut<'a> {
    #[serde(serialize_with = "display")]
    id: Uuid,
    operation: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    mount_point: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    mount_type: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    mount_accessor: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    client_token: Cow<'a, str>,
    #[serde(skip_serializing_if = "str::is_empty")]
    client_token_accessor: Cow<'a, str>,
    namespace: Namespace,
    #[serde(skip_serializing_if = "str::is_empty")]
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "str::is_empty")]
    remote_address: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote_port: Option<u16>,
}

impl<'a> RequestOut<'a> {
    fn new(style: &Style<'_>, e: &RequestEntry<'a>, data: Option<&'a RawValue>) -> Self {
        RequestOut {
            id: e.id,
            operation: e.operation.name(),
            mount_point: e.mount_point,
            mount_type: e.mount_type,
            mount_accessor: e.mount_accessor,
            client_token: secret(style, e.client_token, true),
            client_token_accessor: secret(style, e.client_token_accessor, style.hmac_accessor),
            namespace: Namespace,
            path: e.path,
            data,
            remote_address: e.remote_address.unwrap_or_default(),
            remote_port: e.remote_port.filter(|p| *p != 0),
        }
    }
}

/// Vault's root namespace: `{"id":"root"}`.
struct Namespace;

impl Serialize for Namespace {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry("id", "root")?;
        m.end()
    }
}

#[derive(serde::Serialize)]
struct ResponseOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    auth: Option<AuthOut<'a>>,
    #[serde(skip_serializing_if = "str::is_empty")]
    mount_point: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    mount_type: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    mount_accessor: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
}

fn display<S: Serializer>(id: &Uuid, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(id)
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

fn no_metadata(m: &Option<&BTreeMap<String, String>>) -> bool {
    m.is_none_or(|m| m.is_empty())
}

/// `time` in UTC as Go formats RFC 3339: with `nanos`, the fraction of a
/// second without trailing zeros (`RFC3339Nano`); without, whole seconds.
/// (`humantime` writes the date; it always prints nine fraction digits.)
pub(crate) fn rfc3339(time: SystemTime, nanos: bool) -> String {
    if !nanos {
        return humantime::format_rfc3339_seconds(time).to_string();
    }
    let full = humantime::format_rfc3339_nanos(time).to_string();
    match full.strip_suffix('Z').and_then(|t| t.split_once('.')) {
        Some((whole, fraction)) => {
            let fraction = fraction.trim_end_matches('0');
            if fraction.is_empty() {
                format!("{whole}Z")
            } else {
                format!("{whole}.{fraction}Z")
            }
        }
        None => full,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn time_is_formatted_as_gos_rfc3339_nano() {
        let t = UNIX_EPOCH + Duration::new(1_795_433_490, 893_918_000);
        assert_eq!(rfc3339(t, true), "2026-11-23T11:31:30.893918Z");
        assert_eq!(rfc3339(t, false), "2026-11-23T11:31:30Z");
        assert_eq!(rfc3339(UNIX_EPOCH, true), "1970-01-01T00:00:00Z");
        // A leap day, and the last second of a year.
        let leap = UNIX_EPOCH + Duration::from_secs(1_709_208_000);
        assert_eq!(rfc3339(leap, true), "2024-02-29T12:00:00Z");
        let eoy = UNIX_EPOCH + Duration::new(1_735_689_599, 1);
        assert_eq!(rfc3339(eoy, true), "2024-12-31T23:59:59.000000001Z");
    }

    #[test]
    fn a_request_without_auth_logs_the_default_token_type() {
        let hasher = Hasher::new(&[1u8; 32]).unwrap();
        let style = Style {
            hasher: &hasher,
            raw: false,
            hmac_accessor: true,
            elide_list_responses: false,
        };
        let id = Uuid::nil();
        let mut entry = RequestEntry::new(id, Operation::Read, "kv/foo");
        entry.client_token = Some("bad");
        entry.error = Some("permission denied");
        let line = request_line(&style, "T", &entry, None).unwrap();
        let v: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "time": "T",
                "type": "request",
                "auth": {"token_type": "default"},
                "request": {
                    "id": "00000000-0000-0000-0000-000000000000",
                    "operation": "read",
                    "client_token": hasher.hash("bad"),
                    "namespace": {"id": "root"},
                    "path": "kv/foo",
                },
                "error": "permission denied",
            })
        );
        // Field order is Vault's.
        let text = String::from_utf8(line).unwrap();
        assert!(text.starts_with(r#"{"time":"T","type":"request","auth":"#));
    }
}
