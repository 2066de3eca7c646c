//! Test helpers every engine gets: a check of its path table, and an
//! in-memory engine runner that behaves like the host.

use serde_json::Value;

use crate::clock::{FixedClock, Timestamp};
#[cfg(any(target_arch = "wasm32", feature = "crypto"))]
use crate::keys::MountKey;

/// Without keys (natively, the `crypto` feature off) a mount has no key.
#[cfg(not(any(target_arch = "wasm32", feature = "crypto")))]
#[derive(Debug, Clone)]
struct MountKey;

#[cfg(not(any(target_arch = "wasm32", feature = "crypto")))]
impl MountKey {
    fn random() -> Result<Self, Error> {
        Ok(Self)
    }

    fn enter<T>(&self, f: impl FnOnce() -> T) -> T {
        f()
    }
}
use crate::storage::MemoryStorage;
use crate::{Caller, Engine, Error, Operation, Request, Response};

/// Headers the host never passes to an engine, even when it asks.
const CREDENTIAL_HEADERS: [&str; 4] = [
    "x-vault-token",
    "authorization",
    "cookie",
    "proxy-authorization",
];

/// Problems with an engine's declarations, empty when there are none:
/// invalid patterns; two patterns some path matches with equal specificity
/// (ambiguous: neither wins); a capture a handler's fields do not declare;
/// a field without a description; a default that does not parse; a path
/// with no operation; what the host would refuse at mount time in the
/// description (a malformed special path, a path both unauthenticated and
/// sudo, a request header name or raw content type that is not a
/// lower-case token).
pub fn check_paths(engine: &Engine) -> Vec<String> {
    let mut problems = Vec::new();
    let described = engine.describe();
    for glob in described.unauthenticated.iter().chain(&described.sudo) {
        problems.extend(crate::describe::glob_problems(glob));
    }
    for name in &described.headers {
        if !is_lower_token(name) {
            problems.push(format!(
                "request header {name:?} is not a lower-case HTTP token"
            ));
        }
    }
    let paths = engine.paths();
    for (i, path) in paths.iter().enumerate() {
        let pattern = match path.pattern() {
            Ok(p) => p,
            Err(e) => {
                problems.push(e.to_owned());
                continue;
            }
        };
        let name = pattern.as_str();
        if path.operations().is_empty() {
            problems.push(format!("path '{name}' declares no operation"));
        }
        if path.is_unauthenticated() && path.needs_sudo() {
            problems.push(format!("path '{name}' is both unauthenticated and sudo"));
        }
        for content_type in path.raw_content_types() {
            let token = content_type
                .split_once('/')
                .is_some_and(|(a, b)| is_lower_token(a) && is_lower_token(b));
            if !token {
                problems.push(format!(
                    "path '{name}': raw content type {content_type:?} must be a lower-case type/subtype without parameters"
                ));
            }
        }
        for other in paths.iter().skip(i + 1) {
            if let Ok(other) = other.pattern() {
                if pattern.ambiguous_with(other) {
                    problems.push(format!(
                        "paths '{name}' and '{}' are ambiguous: some path matches both equally",
                        other.as_str()
                    ));
                }
            }
        }
        let mut schemas: Vec<(String, &[crate::FieldSchema])> = Operation::ALL
            .into_iter()
            .filter_map(|op| path.fields(op).map(|f| (op.to_string(), f)))
            .collect();
        if let Some(f) = path.exists_fields() {
            schemas.push(("existence check".to_owned(), f));
        }
        for (what, schema) in schemas {
            for capture in pattern.capture_names() {
                if !schema.iter().any(|f| f.name == capture) {
                    problems.push(format!(
                        "path '{name}': the {what} handler's fields do not declare capture '{capture}'"
                    ));
                }
            }
            for field in schema.iter().filter(|f| f.description.trim().is_empty()) {
                problems.push(format!(
                    "path '{name}': field '{}' of the {what} handler has no description (doc comment)",
                    field.name
                ));
            }
        }
        problems.extend(
            path.declaration_problems()
                .into_iter()
                .map(|p| format!("path '{name}': {p}")),
        );
    }
    problems.sort();
    problems.dedup();
    problems
}

/// Whether `s` is a non-empty HTTP token without upper-case letters.
fn is_lower_token(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| {
            (c.is_ascii_alphanumeric() && !c.is_ascii_uppercase()) || "!#$%&'*+-.^_`|~".contains(c)
        })
}

/// Panics listing [`check_paths`]'s problems; put it in a `#[test]`.
#[allow(clippy::panic)]
pub fn assert_paths_valid(engine: &Engine) {
    let problems = check_paths(engine);
    if !problems.is_empty() {
        panic!("invalid path table:\n  {}", problems.join("\n  "));
    }
}

/// An engine over in-memory storage and a settable clock, answering as the
/// host would: POST/PUT ask the existence check to pick create or update,
/// a failed call leaves storage as it was, a request to an unauthenticated
/// path comes from [`crate::Caller::Unauthenticated`] whatever it says, and
/// only the request headers the engine asked for reach it.
#[derive(Debug)]
pub struct TestEngine {
    engine: Engine,
    /// The mount's storage; inspect or seed it freely.
    pub storage: MemoryStorage,
    clock: FixedClock,
    /// The mount's key for sealed key blobs ([`crate::keys`]): each test
    /// engine is a mount of its own (none only if the system's random
    /// generator failed: keys then use the thread's mount key).
    mount_key: Option<MountKey>,
}

impl TestEngine {
    /// `engine` with empty storage and the clock at 2024-01-01T00:00:00Z.
    pub fn new(engine: Engine) -> Self {
        Self {
            engine,
            storage: MemoryStorage::new(),
            clock: FixedClock::new(Timestamp::from_secs(1_704_067_200)),
            mount_key: MountKey::random().ok(),
        }
    }

    /// Sets the clock.
    pub fn set_now(&mut self, now: Timestamp) {
        self.clock.set(now);
    }

    /// Runs `f` as this mount: the keys it opens and seals are this
    /// mount's (a test can make or open keys as the engine would, e.g. to
    /// seed storage with a sealed blob).
    pub fn in_mount<T>(&self, f: impl FnOnce() -> T) -> T {
        Self::enter(&self.mount_key, f)
    }

    fn enter<T>(mount_key: &Option<MountKey>, f: impl FnOnce() -> T) -> T {
        match mount_key {
            Some(key) => key.enter(f),
            None => f(),
        }
    }

    /// The engine under test.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// What the host does to a request before the engine sees it.
    fn as_host_passes_it(&self, mut req: Request) -> Request {
        let unauthenticated = self
            .engine
            .paths()
            .iter()
            .filter(|p| p.is_unauthenticated())
            .filter_map(|p| p.pattern().ok())
            .flat_map(crate::describe::globs)
            .any(|glob| crate::describe::glob_matches(&glob, &req.path));
        if unauthenticated {
            req.caller = Caller::Unauthenticated;
        }
        let wanted = self.engine.request_header_names();
        req.headers.retain(|(name, _)| {
            let name = name.to_ascii_lowercase();
            wanted.contains(&name) && !CREDENTIAL_HEADERS.contains(&name.as_str())
        });
        req
    }

    /// Sends `req` as it is (no existence check); storage writes are
    /// dropped if it fails. JSON text the engine answered (batch results)
    /// is parsed, so that [`Response::data_value`] shows it, and must be
    /// JSON, as the host requires.
    pub fn request(&mut self, req: Request) -> Result<Response, Error> {
        let req = self.as_host_passes_it(req);
        let before = self.storage.clone();
        let (engine, storage, clock) = (&self.engine, &mut self.storage, &self.clock);
        let result = Self::enter(&self.mount_key, || engine.handle(storage, clock, req))
            .and_then(Response::parsed);
        if result.is_err() {
            self.storage.roll_back_to(before);
        }
        result
    }

    /// GET.
    pub fn read(&mut self, path: &str) -> Result<Response, Error> {
        self.request(Request::new(Operation::Read, path))
    }

    /// LIST.
    pub fn list(&mut self, path: &str) -> Result<Response, Error> {
        self.request(Request::new(Operation::List, path))
    }

    /// DELETE.
    pub fn delete(&mut self, path: &str) -> Result<Response, Error> {
        self.request(Request::new(Operation::Delete, path))
    }

    /// PATCH.
    pub fn patch(&mut self, path: &str, body: Value) -> Result<Response, Error> {
        self.request(Request::new(Operation::Patch, path).with_body(body))
    }

    /// POST/PUT: create or update as the existence check says.
    pub fn write(&mut self, path: &str, body: Value) -> Result<Response, Error> {
        let req = Request::new(Operation::Update, path).with_body(body);
        let op = match self.exists(req.clone())? {
            Some(false) => Operation::Create,
            _ => Operation::Update,
        };
        self.request(Request {
            operation: op,
            ..req
        })
    }

    /// The existence check (`None` when the path declares none).
    pub fn exists(&mut self, req: Request) -> Result<Option<bool>, Error> {
        let req = self.as_host_passes_it(req);
        let before = self.storage.clone();
        let (engine, storage, clock) = (&self.engine, &mut self.storage, &self.clock);
        let result = Self::enter(&self.mount_key, || engine.exists(storage, clock, req));
        // The existence check must not write; the host drops its writes.
        if self.storage != before {
            self.storage.roll_back_to(before);
        }
        result
    }

    /// Runs the periodic work.
    pub fn periodic(&mut self) -> Result<(), Error> {
        let before = self.storage.clone();
        let (engine, storage, clock) = (&self.engine, &mut self.storage, &self.clock);
        let result = Self::enter(&self.mount_key, || {
            engine.run_periodic(storage, clock, "test/", serde_json::Map::new())
        });
        if result.is_err() {
            self.storage.roll_back_to(before);
        }
        result
    }
}
