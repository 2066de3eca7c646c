//! What a handler gets besides its typed fields.

use serde_json::{Map, Value};

use crate::clock::{Clock, Timestamp};
use crate::storage::Storage;
use crate::{Error, Fields, Operation};

/// The context of one call: the request's metadata, the mount's storage,
/// the clock, and warnings to add to the response.
pub struct Ctx<'a> {
    storage: &'a mut dyn Storage,
    clock: &'a dyn Clock,
    operation: Operation,
    path: String,
    mount_path: String,
    mount_options: Map<String, Value>,
    body: Map<String, Value>,
    fields: Map<String, Value>,
    warnings: Vec<String>,
}

/// The parts of a request a [`Ctx`] is built from.
pub(crate) struct CtxRequest {
    pub operation: Operation,
    pub path: String,
    pub mount_path: String,
    pub mount_options: Map<String, Value>,
    pub body: Map<String, Value>,
    pub fields: Map<String, Value>,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(storage: &'a mut dyn Storage, clock: &'a dyn Clock, req: CtxRequest) -> Self {
        Self {
            storage,
            clock,
            operation: req.operation,
            path: req.path,
            mount_path: req.mount_path,
            mount_options: req.mount_options,
            body: req.body,
            fields: req.fields,
            warnings: Vec::new(),
        }
    }

    /// A context for periodic work: no request, an empty path.
    pub(crate) fn periodic(
        storage: &'a mut dyn Storage,
        clock: &'a dyn Clock,
        mount_path: String,
        mount_options: Map<String, Value>,
    ) -> Self {
        Self::new(
            storage,
            clock,
            CtxRequest {
                operation: Operation::Update,
                path: String::new(),
                mount_path,
                mount_options,
                body: Map::new(),
                fields: Map::new(),
            },
        )
    }

    /// The mount's storage (use [`crate::StorageExt`] for typed JSON).
    pub fn storage(&mut self) -> &mut dyn Storage {
        self.storage
    }

    /// The current time (the host's clock; settable in tests).
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The operation.
    pub fn operation(&self) -> Operation {
        self.operation
    }

    /// The path inside the mount.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Where the engine is mounted, with a trailing slash (for messages).
    pub fn mount_path(&self) -> &str {
        &self.mount_path
    }

    /// The mount's options.
    pub fn mount_options(&self) -> &Map<String, Value> {
        &self.mount_options
    }

    /// The request body as sent, for paths that take arbitrary input (kv).
    pub fn body(&self) -> &Map<String, Value> {
        &self.body
    }

    /// Parses another [`Fields`] struct from this request's fields (the
    /// same merged map the handler's own fields came from).
    pub fn parse<T: Fields>(&self) -> Result<T, Error> {
        T::from_fields(&self.fields)
    }

    pub(crate) fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }

    /// Adds a warning to the response.
    pub fn warn(&mut self, warning: impl Into<String>) {
        self.warnings.push(warning.into());
    }

    pub(crate) fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }
}
