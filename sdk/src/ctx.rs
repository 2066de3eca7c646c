//! What a handler gets besides its typed fields.

use std::cell::OnceCell;

use serde_json::{Map, Value};

use std::cell::RefCell;
use std::rc::Rc;

use crate::clock::{Clock, Timestamp};
use crate::fields::{self, Input};
use crate::request::{Caller, GivenMeta, Meta, RawBody};
use crate::state::State;
use crate::storage::Storage;
use crate::{Error, Fields, Operation};

/// The context of one call: the request's metadata, the mount's storage,
/// the clock, and warnings to add to the response.
pub struct Ctx<'a> {
    storage: &'a mut dyn Storage,
    clock: &'a dyn Clock,
    state: &'a State,
    request: CtxRequest,
    /// The body as a map, parsed on first use ([`Ctx::body`]).
    body: OnceCell<Map<String, Value>>,
    /// The rest of the request, each part read on first use.
    meta: &'a dyn Meta,
    read: MetaRead,
    warnings: Vec<String>,
}

/// The parts of the request's `meta` read so far.
#[derive(Default)]
struct MetaRead {
    caller: OnceCell<Caller>,
    headers: OnceCell<Vec<(String, String)>>,
    id: OnceCell<String>,
    mount_path: OnceCell<String>,
    mount_options: OnceCell<Map<String, Value>>,
}

/// The parts of a request a [`Ctx`] is built from.
pub(crate) struct CtxRequest {
    pub operation: Operation,
    pub path: String,
    /// The body's JSON text, as sent (empty for none or a raw body).
    pub body: String,
    /// A body in one of the path's raw content types.
    pub raw_body: Option<RawBody>,
    pub query: Vec<(String, String)>,
    pub captures: Vec<(String, String)>,
    pub takes_arbitrary_input: bool,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(
        storage: &'a mut dyn Storage,
        clock: &'a dyn Clock,
        state: &'a State,
        meta: &'a dyn Meta,
        request: CtxRequest,
    ) -> Self {
        Self {
            storage,
            clock,
            state,
            request,
            body: OnceCell::new(),
            meta,
            read: MetaRead::default(),
            warnings: Vec::new(),
        }
    }

    /// A context for periodic work: no request, an empty path.
    pub(crate) fn periodic(
        storage: &'a mut dyn Storage,
        clock: &'a dyn Clock,
        state: &'a State,
        meta: &'a GivenMeta,
    ) -> Self {
        Self::new(
            storage,
            clock,
            state,
            meta,
            CtxRequest {
                operation: Operation::Update,
                path: String::new(),
                body: String::new(),
                raw_body: None,
                query: Vec::new(),
                captures: Vec::new(),
                takes_arbitrary_input: false,
            },
        )
    }

    /// The mount's storage (use [`crate::StorageExt`] for typed JSON).
    pub fn storage(&mut self) -> &mut dyn Storage {
        self.storage
    }

    /// This instance's value of type `T` (see [`crate::state`]): a cache
    /// kept between the calls one instance answers, made with `Default`
    /// on first use. Never trust it without checking storage.
    pub fn state<T: Default + 'static>(&self) -> Rc<RefCell<T>> {
        self.state.get::<T>()
    }

    /// The current time (the host's clock; settable in tests).
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The operation.
    pub fn operation(&self) -> Operation {
        self.request.operation
    }

    /// The path inside the mount.
    pub fn path(&self) -> &str {
        &self.request.path
    }

    /// Where the engine is mounted, with a trailing slash (for messages).
    pub fn mount_path(&self) -> &str {
        self.read.mount_path.get_or_init(|| self.meta.mount_path())
    }

    /// The mount's options.
    pub fn mount_options(&self) -> &Map<String, Value> {
        self.read
            .mount_options
            .get_or_init(|| self.meta.mount_options())
    }

    /// The request body as sent, for paths that take arbitrary input (kv);
    /// parsed on first use.
    pub fn body(&self) -> &Map<String, Value> {
        self.body.get_or_init(|| {
            match serde_json::from_str::<Value>(&self.request.body) {
                Ok(Value::Object(map)) => map,
                // The handler's own fields were read from this body already,
                // so it is a JSON object (or empty).
                _ => Map::new(),
            }
        })
    }

    /// A body in one of the content types the path takes raw
    /// ([`crate::Path::raw_body`]), with its content type; none for a JSON
    /// body.
    pub fn raw_body(&self) -> Option<&RawBody> {
        self.request.raw_body.as_ref()
    }

    /// Who is calling: a token's holder, or nobody on an unauthenticated
    /// path (and in periodic work).
    pub fn caller(&self) -> &Caller {
        self.read.caller.get_or_init(|| self.meta.caller())
    }

    /// The value of request header `name` (the first if repeated), if the
    /// engine asked for it ([`crate::Engine::request_headers`]) and the
    /// request had it. Names are matched ignoring ASCII case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers()
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The request headers the engine asked for, in the order they came.
    pub fn headers(&self) -> &[(String, String)] {
        self.read.headers.get_or_init(|| self.meta.headers())
    }

    /// The request's id, as the client's response and the audit log show
    /// it (empty on contract 0.1 and in periodic work).
    pub fn request_id(&self) -> &str {
        self.read.id.get_or_init(|| self.meta.id())
    }

    /// Parses another [`Fields`] struct from this request's fields (the
    /// body, captures and query parameters the handler's own fields came
    /// from, by the same rules, without warnings).
    pub fn parse<T: Fields>(&self) -> Result<T, Error> {
        fields::parse_quiet::<T>(&self.input(), &T::schema())
    }

    /// The request's fields, unparsed.
    pub(crate) fn input(&self) -> Input<'_> {
        Input {
            operation: self.request.operation,
            body: &self.request.body,
            query: &self.request.query,
            captures: &self.request.captures,
            takes_arbitrary_input: self.request.takes_arbitrary_input,
        }
    }

    /// Adds a warning to the response.
    pub fn warn(&mut self, warning: impl Into<String>) {
        self.warnings.push(warning.into());
    }

    pub(crate) fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }
}
