//! Where a request enters: the listener (plain TCP or rustls), hyper's
//! HTTP/1.1 and HTTP/2, parsing into the domain [`Request`](crate::api::Request)
//! and rendering of the answer.
//!
//! **Invariant:** only `http/` knows the Vault JSON envelope and hyper's
//! types; every handler below it takes and returns domain types. A panic in
//! a handler becomes a logged 500 for that request alone (invariant 5).

pub mod request;
pub mod response;
pub mod tls;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::api::ApiError;
use crate::server::Server;

/// Serves connections until `shutdown` resolves, then stops accepting and
/// lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    server: Arc<Server>,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let server = server.clone();
        let service = service_fn(move |req| {
            let server = server.clone();
            async move { Ok::<_, Infallible>(handle(server, req).await) }
        });
        match &tls {
            None => {
                let conn = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, "connection ended: {e}");
                    }
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let builder = builder.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    match acceptor.accept(stream).await {
                        Ok(tls_stream) => {
                            let conn = builder
                                .serve_connection(TokioIo::new(tls_stream), service)
                                .into_owned();
                            if let Err(e) = watcher.watch(conn).await {
                                tracing::debug!(%peer, "connection ended: {e}");
                            }
                        }
                        Err(e) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                    }
                });
            }
        }
    }
    graceful.shutdown().await;
}

/// One request: parse, then run it in its own task so a panic is caught and
/// answered as a 500.
async fn handle(
    server: Arc<Server>,
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
    let admission = match server.admit(&head.path) {
        Ok(a) => a,
        Err(e) => return response::error(&e),
    };
    let data = if matches!(parts.method, hyper::Method::GET | hyper::Method::HEAD) {
        "{}".to_string()
    } else {
        match request::body(body).await {
            Ok(d) => d,
            Err(e) => return response::error(&e),
        }
    };
    let request = request::assemble(head, data, admission);
    let id = request.id;
    let task = tokio::spawn(async move {
        let handled = server.handle(request).await;
        response::render(id, handled.result, &handled.mount_type)
    });
    match task.await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(request_id = %id, "request handler panicked: {e}");
            response::error(&ApiError::Internal(format!(
                "internal error (request {id})"
            )))
        }
    }
}
