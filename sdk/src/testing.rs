//! Test helpers every engine gets: a check of its path table, and an
//! in-memory engine runner that behaves like the host.

use serde_json::Value;

use crate::clock::{FixedClock, Timestamp};
use crate::storage::MemoryStorage;
use crate::{Engine, Error, Operation, Request, Response};

/// Problems with an engine's declarations, empty when there are none:
/// invalid patterns; two patterns some path matches with equal specificity
/// (ambiguous: neither wins); a capture a handler's fields do not declare;
/// a field without a description; a default that does not parse; a path
/// with no operation.
pub fn check_paths(engine: &Engine) -> Vec<String> {
    let mut problems = Vec::new();
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
/// and a failed call leaves storage as it was.
#[derive(Debug)]
pub struct TestEngine {
    engine: Engine,
    /// The mount's storage; inspect or seed it freely.
    pub storage: MemoryStorage,
    clock: FixedClock,
}

impl TestEngine {
    /// `engine` with empty storage and the clock at 2024-01-01T00:00:00Z.
    pub fn new(engine: Engine) -> Self {
        Self {
            engine,
            storage: MemoryStorage::new(),
            clock: FixedClock::new(Timestamp::from_secs(1_704_067_200)),
        }
    }

    /// Sets the clock.
    pub fn set_now(&mut self, now: Timestamp) {
        self.clock.set(now);
    }

    /// Sends `req` as it is (no existence check); storage writes are
    /// dropped if it fails. JSON text the engine answered (batch results)
    /// is parsed, so that [`Response::data_value`] shows it, and must be
    /// JSON, as the host requires.
    pub fn request(&mut self, req: Request) -> Result<Response, Error> {
        let before = self.storage.clone();
        let result = self
            .engine
            .handle(&mut self.storage, &self.clock, req)
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
        let before = self.storage.clone();
        let result = self.engine.exists(&mut self.storage, &self.clock, req);
        // The existence check must not write; the host drops its writes.
        if self.storage != before {
            self.storage.roll_back_to(before);
        }
        result
    }

    /// Runs the periodic work.
    pub fn periodic(&mut self) -> Result<(), Error> {
        let before = self.storage.clone();
        let result = self.engine.run_periodic(
            &mut self.storage,
            &self.clock,
            "test/",
            serde_json::Map::new(),
        );
        if result.is_err() {
            self.storage.roll_back_to(before);
        }
        result
    }
}
