//! The path table: patterns, handlers per operation, existence checks, and
//! the dispatch that applies Vault's rules.

use std::fmt;

use crate::clock::Clock;
use crate::ctx::{Ctx, CtxRequest};
use crate::fields::{self, FieldSchema, Fields};
use crate::pattern::{more_specific, Captures, Pattern};
use crate::request::{Call, GivenMeta, Meta, RawBody};
use crate::state::State;
use crate::storage::Storage;
use crate::{Error, Operation, Request, Response};

/// A handler: parses its fields (given their schema) and runs.
type HandlerFn = dyn Fn(&mut Ctx<'_>, &[FieldSchema]) -> Result<Response, Error> + Send + Sync;
type ExistsFn = dyn Fn(&mut Ctx<'_>, &[FieldSchema]) -> Result<bool, Error> + Send + Sync;
type PeriodicFn = dyn Fn(&mut Ctx<'_>) -> Result<(), Error> + Send + Sync;

struct Handler<F: ?Sized> {
    schema: Vec<FieldSchema>,
    problems: fn() -> Vec<String>,
    run: Box<F>,
}

/// An engine: its table of paths and its periodic work.
///
/// ```
/// use coffer_sdk::prelude::*;
///
/// #[derive(Fields)]
/// struct Name {
///     /// The counter's name.
///     name: String,
/// }
///
/// fn read(ctx: &mut Ctx<'_>, f: Name) -> Result<Response, Error> {
///     let n: u64 = ctx.storage().get_json(&f.name)?.unwrap_or(0);
///     Ok(Response::data(serde_json::json!({ "value": n })))
/// }
///
/// let engine = Engine::new().path(Path::new("counter/{name}").read(read));
/// coffer_sdk::testing::assert_paths_valid(&engine);
/// ```
#[derive(Default)]
pub struct Engine {
    paths: Vec<Path>,
    periodic: Option<Box<PeriodicFn>>,
    /// Request headers the engine wants ([`Engine::request_headers`]).
    headers: Vec<String>,
    /// This instance's state ([`Ctx::state`]).
    state: State,
}

/// One path: a pattern, a handler per operation, an optional existence
/// check, and help text.
pub struct Path {
    pattern: Result<Pattern, String>,
    handlers: [Option<Handler<HandlerFn>>; 6],
    exists: Option<Handler<ExistsFn>>,
    takes_arbitrary_input: bool,
    /// Content types whose bodies the handlers take raw ([`Path::raw_body`]).
    raw_bodies: Vec<&'static str>,
    unauthenticated: bool,
    sudo: bool,
    synopsis: &'static str,
    description: &'static str,
    summaries: [&'static str; 6],
}

impl Engine {
    /// An engine with no paths.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a path.
    #[must_use]
    pub fn path(mut self, path: Path) -> Self {
        self.paths.push(path);
        self
    }

    /// Sets the periodic work, called about once a minute per mount.
    #[must_use]
    pub fn periodic<H>(mut self, handler: H) -> Self
    where
        H: Fn(&mut Ctx<'_>) -> Result<(), Error> + Send + Sync + 'static,
    {
        self.periodic = Some(Box::new(handler));
        self
    }

    /// Names the request headers the engine wants to see (contract 0.2):
    /// the host passes on only these ([`Ctx::header`]), never credentials
    /// (`x-vault-token`, `authorization`, `cookie`,
    /// `proxy-authorization`). Names are lower-cased.
    #[must_use]
    pub fn request_headers(mut self, names: &[&str]) -> Self {
        for name in names {
            let name = name.to_ascii_lowercase();
            if !self.headers.contains(&name) {
                self.headers.push(name);
            }
        }
        self
    }

    /// The request headers the engine wants.
    pub fn request_header_names(&self) -> &[String] {
        &self.headers
    }

    /// The paths, in declaration order.
    pub fn paths(&self) -> &[Path] {
        &self.paths
    }

    /// The most specific path matching `path`, with its captures. An
    /// engine with an invalid pattern answers every request with a 500
    /// naming it, so the mistake shows in its first test rather than as a
    /// path that never matches.
    pub(crate) fn route(&self, path: &str) -> Result<(&Path, Captures), Error> {
        let first = path
            .strip_prefix('/')
            .unwrap_or(path)
            .split('/')
            .next()
            .unwrap_or_default();
        let mut best: Option<(&Path, Captures, Vec<u8>)> = None;
        for p in &self.paths {
            let pattern = p.pattern.as_ref().map_err(|why| {
                Error::internal(format!("the engine declares an invalid path: {why}"))
            })?;
            if pattern.first_literal().is_some_and(|l| l != first) {
                continue;
            }
            if let Some((captures, rank)) = pattern.matches(path) {
                let better = match &best {
                    Some((_, _, best_rank)) => more_specific(&rank, best_rank).is_lt(),
                    None => true,
                };
                if better {
                    best = Some((p, captures, rank));
                }
            }
        }
        best.map(|(p, c, _)| (p, c))
            .ok_or_else(|| Error::NotFound("unsupported path".to_owned()))
    }

    /// Answers one request: routes it, applies Vault's field rules, runs the
    /// operation's handler. An empty list answers a 404 error.
    pub fn handle(
        &self,
        storage: &mut dyn Storage,
        clock: &dyn Clock,
        req: Request,
    ) -> Result<Response, Error> {
        let (call, meta) = req.into_call();
        self.handle_call(storage, clock, call, &meta)
    }

    pub(crate) fn handle_call(
        &self,
        storage: &mut dyn Storage,
        clock: &dyn Clock,
        call: Call,
        meta: &dyn Meta,
    ) -> Result<Response, Error> {
        let (path, captures) = self.route(&call.path)?;
        let handler = path
            .handler(call.operation)
            .ok_or_else(|| Error::UnsupportedOperation("unsupported operation".to_owned()))?;
        let mut ctx = Ctx::new(
            storage,
            clock,
            &self.state,
            meta,
            ctx_request(call, captures, path)?,
        );
        let mut response = (handler.run)(&mut ctx, &handler.schema)?;
        response.prepend_warnings(ctx.take_warnings());
        response.finish()
    }

    /// Whether the target of a create-or-update request exists: `None` when
    /// the path declares no existence check (the request is then an update).
    /// The body is read only if the check's fields need it (not when the
    /// path's captures give them all).
    pub fn exists(
        &self,
        storage: &mut dyn Storage,
        clock: &dyn Clock,
        req: Request,
    ) -> Result<Option<bool>, Error> {
        let (call, meta) = req.into_call();
        self.exists_call(storage, clock, call, &meta)
    }

    pub(crate) fn exists_call(
        &self,
        storage: &mut dyn Storage,
        clock: &dyn Clock,
        call: Call,
        meta: &dyn Meta,
    ) -> Result<Option<bool>, Error> {
        let (path, captures) = self.route(&call.path)?;
        let Some(check) = &path.exists else {
            return Ok(None);
        };
        let mut ctx = Ctx::new(
            storage,
            clock,
            &self.state,
            meta,
            ctx_request(call, captures, path)?,
        );
        (check.run)(&mut ctx, &check.schema).map(Some)
    }

    /// Runs the periodic work, if any, for the mount at `mount_path` with
    /// these options.
    pub fn run_periodic(
        &self,
        storage: &mut dyn Storage,
        clock: &dyn Clock,
        mount_path: &str,
        mount_options: serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), Error> {
        match &self.periodic {
            Some(periodic) => periodic(&mut Ctx::periodic(
                storage,
                clock,
                &self.state,
                &GivenMeta::periodic(mount_path, mount_options),
            )),
            None => Ok(()),
        }
    }
}

/// The handler's view of `call`: a body in one of the path's raw content
/// types stays bytes ([`Ctx::raw_body`]); any other is JSON text (what
/// Vault does whatever the content type), which must be UTF-8.
fn ctx_request(call: Call, captures: Captures, path: &Path) -> Result<CtxRequest, Error> {
    let raw = call
        .content_type
        .as_deref()
        .is_some_and(|t| path.raw_bodies.contains(&t));
    let (body, raw_body) = if raw {
        let content_type = call.content_type.unwrap_or_default();
        (
            String::new(),
            Some(RawBody {
                content_type,
                bytes: call.body,
            }),
        )
    } else {
        let text = String::from_utf8(call.body)
            .map_err(|_| Error::invalid("request body is not valid JSON: it is not UTF-8"))?;
        (text, None)
    };
    Ok(CtxRequest {
        operation: call.operation,
        path: call.path,
        body,
        raw_body,
        query: call.query,
        captures,
        takes_arbitrary_input: path.takes_arbitrary_input,
    })
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("paths", &self.paths)
            .finish_non_exhaustive()
    }
}

impl Path {
    /// A path with `pattern`: `/`-separated literal segments and captures
    /// `{name}` (one segment), `{name?}` (one segment or none, last only) and
    /// `{name*}` (the rest, slashes included, possibly empty; last only).
    /// Captures are fields: each handler's fields must declare them. An
    /// invalid pattern fails [`crate::testing::check_paths`] and makes the
    /// engine answer every request with a 500 naming it.
    pub fn new(pattern: &str) -> Self {
        Self {
            pattern: Pattern::parse(pattern),
            handlers: Default::default(),
            exists: None,
            takes_arbitrary_input: false,
            raw_bodies: Vec::new(),
            unauthenticated: false,
            sudo: false,
            synopsis: "",
            description: "",
            summaries: [""; 6],
        }
    }

    fn on<F, H>(mut self, op: Operation, handler: H) -> Self
    where
        F: Fields + 'static,
        H: Fn(&mut Ctx<'_>, F) -> Result<Response, Error> + Send + Sync + 'static,
    {
        let run = move |ctx: &mut Ctx<'_>, schema: &[FieldSchema]| {
            let parsed = fields::parse::<F>(&ctx.input(), schema)?;
            for warning in parsed.warnings {
                ctx.warn(warning);
            }
            handler(ctx, parsed.fields)
        };
        if let Some(slot) = self.handlers.get_mut(op.index()) {
            *slot = Some(Handler {
                schema: F::schema(),
                problems: F::declaration_problems,
                run: Box::new(run),
            });
        }
        self
    }

    /// Handles `read` (GET).
    #[must_use]
    pub fn read<F, H>(self, handler: H) -> Self
    where
        F: Fields + 'static,
        H: Fn(&mut Ctx<'_>, F) -> Result<Response, Error> + Send + Sync + 'static,
    {
        self.on(Operation::Read, handler)
    }

    /// Handles `create` (POST/PUT when the existence check says the target
    /// is absent). Without it, creates go to the `update` handler.
    #[must_use]
    pub fn create<F, H>(self, handler: H) -> Self
    where
        F: Fields + 'static,
        H: Fn(&mut Ctx<'_>, F) -> Result<Response, Error> + Send + Sync + 'static,
    {
        self.on(Operation::Create, handler)
    }

    /// Handles `update` (POST/PUT), and `create` unless declared separately.
    #[must_use]
    pub fn update<F, H>(self, handler: H) -> Self
    where
        F: Fields + 'static,
        H: Fn(&mut Ctx<'_>, F) -> Result<Response, Error> + Send + Sync + 'static,
    {
        self.on(Operation::Update, handler)
    }

    /// Handles `delete` (DELETE).
    #[must_use]
    pub fn delete<F, H>(self, handler: H) -> Self
    where
        F: Fields + 'static,
        H: Fn(&mut Ctx<'_>, F) -> Result<Response, Error> + Send + Sync + 'static,
    {
        self.on(Operation::Delete, handler)
    }

    /// Handles `list` (LIST, or GET with `?list=true`).
    #[must_use]
    pub fn list<F, H>(self, handler: H) -> Self
    where
        F: Fields + 'static,
        H: Fn(&mut Ctx<'_>, F) -> Result<Response, Error> + Send + Sync + 'static,
    {
        self.on(Operation::List, handler)
    }

    /// Handles `patch` (PATCH).
    #[must_use]
    pub fn patch<F, H>(self, handler: H) -> Self
    where
        F: Fields + 'static,
        H: Fn(&mut Ctx<'_>, F) -> Result<Response, Error> + Send + Sync + 'static,
    {
        self.on(Operation::Patch, handler)
    }

    /// Declares the existence check that tells `create` from `update`. It
    /// must not write.
    #[must_use]
    pub fn exists<F, H>(mut self, check: H) -> Self
    where
        F: Fields + 'static,
        H: Fn(&mut Ctx<'_>, F) -> Result<bool, Error> + Send + Sync + 'static,
    {
        let run = move |ctx: &mut Ctx<'_>, schema: &[FieldSchema]| {
            let fields = fields::parse_quiet::<F>(&ctx.input(), schema)?;
            check(ctx, fields)
        };
        self.exists = Some(Handler {
            schema: F::schema(),
            problems: F::declaration_problems,
            run: Box::new(run),
        });
        self
    }

    /// The path accepts any body field (kv): no "ignored parameters" warning;
    /// the handler reads the body with [`Ctx::body`].
    #[must_use]
    pub fn takes_arbitrary_input(mut self) -> Self {
        self.takes_arbitrary_input = true;
        self
    }

    /// The path's handlers take bodies of `content_type` (lower-case,
    /// without parameters, e.g. `application/ocsp-request`) as bytes,
    /// through [`Ctx::raw_body`]; their fields then come only from the
    /// captures and the query. Bodies of other types are JSON, as Vault
    /// reads them whatever their type. Contract 0.2 (0.1 bodies are JSON).
    #[must_use]
    pub fn raw_body(mut self, content_type: &'static str) -> Self {
        self.raw_bodies.push(content_type);
        self
    }

    /// The path is served without a token (contract 0.2): the host skips
    /// authentication, audits the request as unauthenticated, and the
    /// handler sees [`crate::Caller::Unauthenticated`]. Declared to the host
    /// as Vault globs ([`crate::describe::globs`]: `cert/{serial}/raw` is
    /// `cert/+/raw`).
    #[must_use]
    pub fn unauthenticated(mut self) -> Self {
        self.unauthenticated = true;
        self
    }

    /// The path needs the `sudo` capability besides the operation's own
    /// (contract 0.2), as Vault's root-protected paths.
    #[must_use]
    pub fn sudo(mut self) -> Self {
        self.sudo = true;
        self
    }

    /// One-line summary of what `op` does here (help and OpenAPI).
    #[must_use]
    pub fn summary(mut self, op: Operation, text: &'static str) -> Self {
        if let Some(slot) = self.summaries.get_mut(op.index()) {
            *slot = text;
        }
        self
    }

    /// One-line help.
    #[must_use]
    pub fn synopsis(mut self, text: &'static str) -> Self {
        self.synopsis = text;
        self
    }

    /// Longer help.
    #[must_use]
    pub fn description(mut self, text: &'static str) -> Self {
        self.description = text;
        self
    }

    /// The pattern, or why it is invalid.
    pub fn pattern(&self) -> Result<&Pattern, &str> {
        self.pattern.as_ref().map_err(String::as_str)
    }

    /// The handler for `op`, with `create` falling back to `update`.
    fn handler(&self, op: Operation) -> Option<&Handler<HandlerFn>> {
        let own = self.handlers.get(op.index()).and_then(Option::as_ref);
        match (own, op) {
            (None, Operation::Create) => self.handler(Operation::Update),
            (own, _) => own,
        }
    }

    /// The operations this path takes (`create` included when `update` is).
    pub fn operations(&self) -> Vec<Operation> {
        Operation::ALL
            .into_iter()
            .filter(|op| self.handler(*op).is_some())
            .collect()
    }

    /// The fields of `op`'s handler.
    pub fn fields(&self, op: Operation) -> Option<&[FieldSchema]> {
        self.handler(op).map(|h| h.schema.as_slice())
    }

    /// The fields of the existence check, when there is one.
    pub fn exists_fields(&self) -> Option<&[FieldSchema]> {
        self.exists.as_ref().map(|h| h.schema.as_slice())
    }

    /// Problems with the declarations of the handlers' fields.
    pub(crate) fn declaration_problems(&self) -> Vec<String> {
        let handlers = self.handlers.iter().flatten().map(|h| h.problems);
        handlers
            .chain(self.exists.iter().map(|h| h.problems))
            .flat_map(|f| f())
            .collect()
    }

    /// Whether the path declares an existence check.
    pub fn has_existence_check(&self) -> bool {
        self.exists.is_some()
    }

    /// Whether any body field is accepted.
    pub fn accepts_arbitrary_input(&self) -> bool {
        self.takes_arbitrary_input
    }

    /// One-line help.
    pub fn synopsis_text(&self) -> &'static str {
        self.synopsis
    }

    /// Longer help.
    pub fn description_text(&self) -> &'static str {
        self.description
    }

    /// The summary of `op` (empty if none; `create` falls back to
    /// `update`'s, as its handler does).
    pub fn summary_text(&self, op: Operation) -> &'static str {
        let own = self.summaries.get(op.index()).copied().unwrap_or_default();
        match (own, op) {
            ("", Operation::Create)
                if self
                    .handlers
                    .get(Operation::Create.index())
                    .is_some_and(Option::is_none) =>
            {
                self.summary_text(Operation::Update)
            }
            (own, _) => own,
        }
    }

    /// Whether it is served without a token.
    pub fn is_unauthenticated(&self) -> bool {
        self.unauthenticated
    }

    /// Whether it needs `sudo`.
    pub fn needs_sudo(&self) -> bool {
        self.sudo
    }

    /// The content types taken raw.
    pub fn raw_content_types(&self) -> &[&'static str] {
        &self.raw_bodies
    }
}

impl fmt::Debug for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pattern = match &self.pattern {
            Ok(p) => p.as_str(),
            Err(e) => e.as_str(),
        };
        f.debug_struct("Path")
            .field("pattern", &pattern)
            .field("operations", &self.operations())
            .finish_non_exhaustive()
    }
}
