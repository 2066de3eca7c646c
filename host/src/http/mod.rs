//! Where a request enters: the listener (plain TCP or rustls), hyper's
//! HTTP/1.1 and HTTP/2, parsing into the domain [`Request`](crate::api::Request)
//! and rendering of the answer.
//!
//! Every wait a client can cause is bounded by a [`Limits`] field (the
//! listener's settings; see `config.rs`): `conn.rs` bounds connections
//! (their number, the TLS handshake, the wait for a head, idleness, and
//! through each connection's watchdog a request's body arrival and whole
//! run) and [`handle`] runs one request in a task the watchdog can cut.
//! Shutdown has its own deadline ([`serve`]).
//!
//! **Invariant:** only `http/` knows the Vault JSON envelope and hyper's
//! types; every handler below it takes and returns domain types. A panic in
//! a handler becomes a logged 500 for that request alone (invariant 5).

mod conn;
pub mod request;
pub mod response;
pub mod tls;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::api::{self, ApiError};
use crate::server::Server;

pub use conn::MIN_HEADER_BYTES;

/// What one client may hold, and for how long: the listener's settings
/// (names as in the `listener "tcp"` block; defaults in
/// `config::default_http_limits`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `http_read_header_timeout`: from accept (or the end of the TLS
    /// handshake) to the first request's complete head; for HTTP/1, also
    /// from the end of an answer to the next complete head (so an idle
    /// HTTP/1 connection is closed after the shorter of this and
    /// `idle_timeout`). Closed without an answer when it passes.
    pub read_header_timeout: Duration,
    /// `http_read_timeout`: from the complete head to the end of the body
    /// (the head has its own bound above, so a whole request arrives within
    /// the sum). 408 when it passes.
    pub read_timeout: Duration,
    /// `http_idle_timeout`: how long a connection with no request in flight
    /// stays open after its last answer (HTTP/2: then GOAWAY).
    pub idle_timeout: Duration,
    /// `tls_handshake_timeout`: from accept to a finished TLS handshake.
    pub tls_handshake_timeout: Duration,
    /// `max_request_size`: the largest body, in bytes (413 beyond).
    pub max_request_size: usize,
    /// `max_request_duration`: from the complete head to the answer; when
    /// it passes the handler is dropped and the answer is 503.
    pub max_request_duration: Duration,
    /// `max_connections`: open connections at most; further ones wait in
    /// the kernel's accept backlog until one closes.
    pub max_connections: usize,
    /// `http_max_header_bytes`: the largest request head (request line and
    /// headers) for HTTP/1, and the largest header list (HPACK-decoded, 32
    /// bytes counted per field) for HTTP/2; 431 beyond.
    pub max_header_bytes: usize,
}

/// Serves connections until `shutdown` resolves, then stops accepting, lets
/// requests in flight finish for at most `grace`
/// (`graceful_shutdown_timeout`) and returns, abandoning what is left (the
/// runtime drops those tasks when it shuts down).
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    server: Arc<Server>,
    limits: Limits,
    grace: Duration,
    shutdown: impl Future<Output = ()>,
) {
    conn::raise_file_limit(limits.max_connections);
    let connections = conn::accept_until(listener, tls, server, limits, shutdown).await;
    if tokio::time::timeout(grace, connections.closed())
        .await
        .is_err()
    {
        tracing::warn!(
            "graceful_shutdown_timeout ({grace:?}) passed with requests still in flight; \
             stopping without them"
        );
    }
}

/// One request: parse the head, read the body (bounded in size) in the
/// connection's own task, then run the request in a task of its own, so
/// that a panic is caught and answered as a 500. The connection's watchdog
/// cuts the body's read at `http_read_timeout` (408) and the task at
/// `max_request_duration` (503) through `ticket` (see `conn.rs`). The body
/// is read here rather than in the task because a hand-over between tasks
/// per chunk cost a POST measurably more CPU (issue #9's A/B).
async fn handle(
    server: Arc<Server>,
    limits: Limits,
    ticket: &conn::Ticket,
    req: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let head = match request::head(&parts) {
        Ok(h) => h,
        Err(e) => return response::error(&e),
    };
    // An engine request takes its place in the mount's queue before its
    // body is read: a full queue is a 503 at once, so waiting requests
    // cannot pile up bodies.
    let intake = match server.admit(&head.path) {
        Ok(a) => a,
        Err(e) => return response::error(&e),
    };
    // A contract-0.2 engine takes any body, its content type and the
    // headers it asked for; everything else (sys/, 0.1 engines) a JSON
    // object, as before.
    let raw = intake.raw_headers.map(|wanted| api::RawBody {
        bytes: Bytes::new(),
        content_type: request::content_type(&parts.headers),
        headers: request::select_headers(&parts.headers, &wanted),
    });
    let admission = intake.admission;
    let no_body = matches!(parts.method, hyper::Method::GET | hyper::Method::HEAD);
    let (data, raw) = match raw {
        Some(mut raw) => {
            if !no_body {
                raw.bytes = match ticket
                    .read_body(request::raw_body(body, limits.max_request_size))
                    .await
                {
                    Some(Ok(b)) => b,
                    Some(Err(e)) => return response::error(&e),
                    None => return response::error(&cut_error(ticket.cut(), &limits)),
                };
            }
            ("{}".to_string(), Some(raw))
        }
        None if no_body => ("{}".to_string(), None),
        None => match ticket
            .read_body(request::body(body, limits.max_request_size))
            .await
        {
            Some(Ok(d)) => (d, None),
            Some(Err(e)) => return response::error(&e),
            None => return response::error(&cut_error(ticket.cut(), &limits)),
        },
    };
    let id = uuid::Uuid::new_v4();
    // Boxed: a task's cell holds its future or its output in one enum
    // that tokio moves whole at each stage, so a handler future of
    // kilobytes inline cost a KV read several copies of itself.
    let task = tokio::spawn(Box::pin(async move {
        let request = request::assemble(id, head, data, raw, admission);
        let handled = server.handle(request).await;
        response::render(id, handled.result, &handled.mount_type)
    }));
    ticket.track(task.abort_handle());
    match task.await {
        Ok(r) => r,
        // Dropping the handler drops its engine call (and its uncommitted
        // writes) at the call's next yield point.
        Err(e) if e.is_cancelled() => match ticket.cut() {
            conn::Cut::Body => response::error(&cut_error(conn::Cut::Body, &limits)),
            conn::Cut::Run | conn::Cut::No => {
                tracing::warn!(request_id = %id, "request exceeded max_request_duration; stopped");
                response::error(&too_long(&limits))
            }
        },
        Err(e) => {
            tracing::error!(request_id = %id, "request handler panicked: {e}");
            response::error(&ApiError::Internal(format!(
                "internal error (request {id})"
            )))
        }
    }
}

/// What a request the watchdog cut is answered: 408 when its body did not
/// arrive within `http_read_timeout`, else 503 (see [`too_long`]).
fn cut_error(cut: conn::Cut, limits: &Limits) -> ApiError {
    match cut {
        conn::Cut::Body => ApiError::RequestTimeout(format!(
            "request body not received within http_read_timeout ({:?})",
            limits.read_timeout
        )),
        conn::Cut::Run | conn::Cut::No => too_long(limits),
    }
}

/// 503 for a request that ran past `max_request_duration`.
fn too_long(limits: &Limits) -> ApiError {
    ApiError::Unavailable(format!(
        "request exceeded max_request_duration ({:?})",
        limits.max_request_duration
    ))
}
