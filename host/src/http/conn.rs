//! Connections: accepting them under a cap, the TLS handshake, hyper's
//! HTTP/1.1 and HTTP/2 on each, and closing them when they idle or the
//! server stops.
//!
//! Bounds kept here (settings in [`Limits`]):
//! - at most `max_connections` are open: a permit of a semaphore is taken
//!   *before* `accept` and held by the connection's task, so further
//!   clients wait in the kernel's accept backlog (and are refused by the
//!   kernel once that is full), never crashing the server. An accept error
//!   such as EMFILE is retried after a back-off (5 ms doubling to 1 s), so
//!   it cannot spin.
//! - a TLS handshake finishes within `tls_handshake_timeout` or the
//!   connection is closed.
//! - a connection's first complete head arrives within
//!   `http_read_header_timeout` of the connection starting (this also
//!   covers a silent connection); on HTTP/1, each later head within
//!   `http_read_header_timeout` of the answer before it (hyper's own
//!   header timer is off: it armed a timer per request).
//! - a connection with no request in flight is closed
//!   `http_idle_timeout` after its last answer (HTTP/2: GOAWAY first); if it
//!   has not closed `http_read_header_timeout` after that, it is dropped.
//! - a request's body arrives within `http_read_timeout` of its head (else
//!   408) and its answer within `max_request_duration` (else 503): the
//!   connection's watchdog ends the body's read and aborts the handler's
//!   task at the deadline ([`Ticket`]), so no request arms a timer of its
//!   own.
//!
//! - the process may open enough files for `max_connections`: at start,
//!   [`raise_file_limit`] lifts the soft `RLIMIT_NOFILE` toward the hard
//!   one, as Go's runtime does (a soft limit of 1024 is common and below the
//!   default cap); where it cannot, accept errors back off as above.
//!
//! Not covered: how fast a client reads its answer. An answer that cannot
//! be written no longer counts as in flight once the handler has returned,
//! so such a connection is closed by the idle bound above. HTTP/2 keeps
//! hyper's defaults for streams per connection (200) and reset floods; no
//! keep-alive pings are sent, since every state of a connection already
//! has a bound of its own.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use atomic_waker::AtomicWaker;
use hyper::rt::{Read, Write};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::AbortHandle;
use tokio_rustls::TlsAcceptor;

use super::Limits;
use crate::server::Server;

/// The smallest head size hyper accepts as its HTTP/1 buffer limit.
pub const MIN_HEADER_BYTES: usize = 8 << 10;

const BACKOFF_MIN: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

type Builder = auto::Builder<TokioExecutor>;

/// What every connection's task shares.
struct Shared {
    builder: Builder,
    tls: Option<TlsAcceptor>,
    server: Arc<Server>,
    limits: Limits,
}

/// Accepts connections until `shutdown` resolves; then tells every open
/// connection to finish (`graceful_shutdown`) and returns the sender whose
/// `closed()` resolves once all of them have ended.
pub(super) async fn accept_until(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    server: Arc<Server>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> watch::Sender<bool> {
    let shared = Arc::new(Shared {
        builder: builder(&limits),
        tls,
        server,
        limits,
    });
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopped) = watch::channel(false);
    tokio::pin!(shutdown);
    let mut backoff = BACKOFF_MIN;
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                // The semaphore is never closed.
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) if per_connection(&e) => {
                    tracing::debug!("accept failed: {e}");
                    continue;
                }
                Err(e) => {
                    tracing::warn!("accept failed: {e}; retrying in {backoff:?}");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = &mut shutdown => break,
                    }
                    backoff = backoff.saturating_mul(2).min(BACKOFF_MAX);
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        backoff = BACKOFF_MIN;
        tokio::spawn(connection(
            stream,
            peer,
            shared.clone(),
            permit,
            stopped.clone(),
        ));
    }
    // Receivers close as connections end; `stop.closed()` then resolves.
    let _ = stop.send(true);
    stop
}

/// hyper's builder with the limits that hyper enforces itself.
fn builder(limits: &Limits) -> Builder {
    let mut builder = Builder::new(TokioExecutor::new());
    // No hyper header timer: it would arm a timer per request on every
    // keep-alive connection; the watchdog bounds every head instead.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .max_buf_size(limits.max_header_bytes.max(MIN_HEADER_BYTES));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    builder
}

/// Errors about one connection that went away before it was accepted; any
/// other error (EMFILE, ENFILE, ENOBUFS, ...) is about the process and is
/// retried after a back-off.
fn per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        e.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::Interrupted
    )
}

/// One connection's task, holding its permit until it ends.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    _permit: OwnedSemaphorePermit,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let Some(acceptor) = &shared.tls else {
        return drive(TokioIo::new(stream), &shared, &mut stop, peer).await;
    };
    let handshake =
        tokio::time::timeout(shared.limits.tls_handshake_timeout, acceptor.accept(stream));
    let handshake = tokio::select! {
        done = handshake => done,
        () = stop_requested(&mut stop) => return,
    };
    match handshake {
        Ok(Ok(tls_stream)) => drive(TokioIo::new(tls_stream), &shared, &mut stop, peer).await,
        Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
        Err(_) => tracing::debug!(%peer, "TLS handshake not finished within tls_handshake_timeout"),
    }
}

/// Serves one connection until it ends, idles too long, or the server
/// stops.
async fn drive<I>(io: I, shared: &Shared, stop: &mut watch::Receiver<bool>, peer: SocketAddr)
where
    I: Read + Write + Unpin + Send + 'static,
{
    let limits = shared.limits;
    let activity = Arc::new(Activity::new(limits));
    let service = {
        let activity = activity.clone();
        let server = shared.server.clone();
        service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let ticket = Ticket::start(&activity, req.version() == hyper::Version::HTTP_2);
            let server = server.clone();
            async move {
                let answer = super::handle(server, limits, &ticket, req).await;
                drop(ticket);
                Ok::<_, Infallible>(answer)
            }
        })
    };
    // The watchdog is a task of its own, so that the connection's wake-ups
    // (several per request) do not poll its timer; it says once whether the
    // connection idled too long (true) or the server stops (false).
    let (tell, told) = oneshot::channel::<bool>();
    let watchdog = {
        let activity = activity.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let idle = tokio::select! {
                () = activity.until_idle() => true,
                () = stop_requested(&mut stop) => false,
            };
            let _ = tell.send(idle);
        })
    };
    let _watchdog = AbortOnDrop(watchdog.abort_handle());
    let conn = shared.builder.serve_connection(io, service);
    tokio::pin!(conn);
    let idle = tokio::select! {
        ended = conn.as_mut() => {
            if let Err(e) = ended {
                tracing::debug!(%peer, "connection ended: {e}");
            }
            return;
        }
        // A watchdog that ended without a word was stopped with the server.
        told = told => told.unwrap_or(false),
    };
    conn.as_mut().graceful_shutdown();
    let ended = if idle {
        tracing::debug!(%peer, "closing an idle connection");
        match tokio::time::timeout(limits.read_header_timeout, conn).await {
            Ok(ended) => ended,
            Err(_) => {
                tracing::debug!(%peer, "idle connection did not close; dropped");
                return;
            }
        }
    } else {
        // Requests in flight finish; `serve` bounds the wait.
        conn.await
    };
    if let Err(e) = ended {
        tracing::debug!(%peer, "connection ended: {e}");
    }
}

/// Aborts a connection's watchdog task when the connection ends.
struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Resolves once the server stops (or `serve` has returned).
async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// What a connection's requests are doing, for its bounds. A request
/// registers when its head has come (a lock, a push) and deregisters when
/// answered (a lock, a removal); no request arms a timer or wakes
/// anything. The watchdog
/// ([`Activity::until_idle`]) sleeps until the earliest moment a bound
/// could be passed, cuts the requests past theirs, and looks again.
struct Activity {
    born: Instant,
    limits: Limits,
    in_flight: AtomicUsize,
    /// Whether any request has been answered (until then, the head-read
    /// bound applies instead of the idle one).
    served: AtomicBool,
    /// Whether the connection speaks HTTP/2 (known from its first request).
    http2: AtomicBool,
    /// When the last request in flight ended, in ms after `born`.
    idle_since_ms: AtomicU64,
    /// The requests in flight whose task can be cut.
    tracked: Mutex<Vec<Tracked>>,
    next_id: AtomicU64,
}

/// A request the watchdog may cut.
struct Tracked {
    id: u64,
    clock: Arc<RequestClock>,
}

/// One request's deadlines and what became of it, shared by the request
/// ([`Ticket`]), its task and the watchdog.
pub(super) struct RequestClock {
    /// The body must have arrived by then (`http_read_timeout` after the
    /// head); past `run_by` the request is cut as too long instead.
    read_by: Instant,
    /// The answer must be ready by then (`max_request_duration`).
    run_by: Instant,
    body_read: AtomicBool,
    cut: AtomicU8,
    /// Woken when the request is cut while its body is read (in the
    /// connection's own task, see [`Ticket::read_body`]).
    reading: AtomicWaker,
    /// The task running the request once its body is in, to abort when it
    /// is cut.
    task: OnceLock<AbortHandle>,
}

/// Why the watchdog cut a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Cut {
    /// Not cut.
    No,
    /// Its body did not arrive within `http_read_timeout` (408).
    Body,
    /// It ran past `max_request_duration` (503).
    Run,
}

impl RequestClock {
    /// Cuts the request for `why`: its body read ends, its task is
    /// aborted.
    fn cut(&self, why: Cut) {
        self.cut.store(why as u8, Ordering::Release);
        self.reading.wake();
        // With the fence in `Ticket::track`: of a cut and a task handed
        // over at the same time, at least one side sees the other.
        fence(Ordering::SeqCst);
        if let Some(task) = self.task.get() {
            task.abort();
        }
    }

    fn is_cut(&self) -> bool {
        self.cut.load(Ordering::Acquire) != Cut::No as u8
    }

    /// When this request must be cut, and why.
    fn due(&self) -> (Instant, Cut) {
        if !self.body_read.load(Ordering::Acquire) && self.read_by <= self.run_by {
            (self.read_by, Cut::Body)
        } else {
            (self.run_by, Cut::Run)
        }
    }
}

/// One request in flight on a connection; ends when dropped (answered, or
/// dropped by hyper because the connection went away).
pub(super) struct Ticket {
    activity: Arc<Activity>,
    id: u64,
    clock: Arc<RequestClock>,
}

impl Ticket {
    fn start(activity: &Arc<Activity>, http2: bool) -> Ticket {
        if http2 {
            activity.http2.store(true, Ordering::Relaxed);
        }
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        let now = Instant::now();
        let limits = activity.limits;
        let id = activity.next_id.fetch_add(1, Ordering::Relaxed);
        let clock = Arc::new(RequestClock {
            read_by: now + limits.read_timeout,
            run_by: now + limits.max_request_duration,
            body_read: AtomicBool::new(false),
            cut: AtomicU8::new(Cut::No as u8),
            reading: AtomicWaker::new(),
            task: OnceLock::new(),
        });
        lock(&activity.tracked).push(Tracked {
            id,
            clock: clock.clone(),
        });
        Ticket {
            activity: activity.clone(),
            id,
            clock,
        }
    }

    /// Runs `read` (the body's arrival) in the caller's task until it ends
    /// or the watchdog cuts the request (`None`): reading the body where
    /// hyper's connection runs costs no hand-over between tasks, and the
    /// cut needs no timer of its own. Marks the body read when it ends.
    pub(super) async fn read_body<T>(&self, read: impl Future<Output = T>) -> Option<T> {
        let mut read = std::pin::pin!(read);
        let clock = &self.clock;
        let out = std::future::poll_fn(|cx| {
            clock.reading.register(cx.waker());
            if clock.is_cut() {
                return std::task::Poll::Ready(None);
            }
            read.as_mut().poll(cx).map(Some)
        })
        .await;
        clock.body_read.store(true, Ordering::Release);
        out
    }

    /// Hands the watchdog the request's task, to abort at its deadline
    /// (at once if it was cut meanwhile).
    pub(super) fn track(&self, abort: AbortHandle) {
        let first = self.clock.task.set(abort).is_ok();
        fence(Ordering::SeqCst);
        if first && self.clock.is_cut() {
            if let Some(task) = self.clock.task.get() {
                task.abort();
            }
        }
    }

    /// Why the watchdog cut the request, if it did.
    pub(super) fn cut(&self) -> Cut {
        match self.clock.cut.load(Ordering::Acquire) {
            x if x == Cut::Body as u8 => Cut::Body,
            x if x == Cut::Run as u8 => Cut::Run,
            _ => Cut::No,
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let a = &self.activity;
        lock(&a.tracked).retain(|t| t.id != self.id);
        let ms = u64::try_from(a.born.elapsed().as_millis()).unwrap_or(u64::MAX);
        a.idle_since_ms.store(ms, Ordering::Release);
        a.served.store(true, Ordering::Release);
        a.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The registry's lock; a panic while it was held cannot leave it
/// inconsistent (each change is one push or one retain), so a poisoned
/// lock is used as it is.
fn lock(tracked: &Mutex<Vec<Tracked>>) -> std::sync::MutexGuard<'_, Vec<Tracked>> {
    tracked
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Activity {
    fn new(limits: Limits) -> Activity {
        Activity {
            born: Instant::now(),
            limits,
            in_flight: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            http2: AtomicBool::new(false),
            idle_since_ms: AtomicU64::new(0),
            tracked: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(0),
        }
    }

    /// Cuts the requests past their deadline (their task is aborted; the
    /// request answers 408 or 503 from [`Ticket::cut`]) and returns the
    /// earliest deadline of those left.
    fn police(&self, now: Instant) -> Option<Instant> {
        let tracked = lock(&self.tracked);
        let mut next: Option<Instant> = None;
        for t in tracked.iter() {
            if t.clock.is_cut() {
                continue;
            }
            let (due, why) = t.clock.due();
            if now >= due {
                t.clock.cut(why);
            } else {
                next = Some(next.map_or(due, |n| n.min(due)));
            }
        }
        next
    }

    /// Resolves when the connection has been idle for the bound that
    /// applies: `http_read_header_timeout` before the first request (a head
    /// that does not come), after an answer `http_idle_timeout`, and for
    /// HTTP/1 at most `http_read_header_timeout` (the next head must come
    /// within it, as hyper's own header timer would have it). Meanwhile it
    /// cuts requests past their deadlines ([`Activity::police`]).
    ///
    /// It is never late: it never sleeps longer than the shortest bound
    /// (`step`), so a request that starts or an idle spell that begins
    /// while it sleeps is seen before its deadline; after that, it wakes at
    /// the earliest deadline it knows. An idle deadline only moves later as
    /// requests come.
    async fn until_idle(&self) {
        let limits = self.limits;
        // The longest it may sleep: no deadline of a request that starts,
        // or of an idle spell that begins, while it sleeps is shorter.
        let step = limits
            .read_timeout
            .min(limits.max_request_duration)
            .min(limits.idle_timeout)
            .min(limits.read_header_timeout);
        let mut wake = self.born + step;
        loop {
            tokio::time::sleep_until(wake.into()).await;
            let now = Instant::now();
            let due = self.police(now);
            if self.in_flight.load(Ordering::Acquire) > 0 {
                let soonest = now + step;
                wake = due.map_or(soonest, |d| d.min(soonest));
                continue;
            }
            let served = self.served.load(Ordering::Acquire);
            let deadline = if served {
                let since = Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire));
                let idle = if self.http2.load(Ordering::Relaxed) {
                    limits.idle_timeout
                } else {
                    limits.idle_timeout.min(limits.read_header_timeout)
                };
                self.born + since + idle
            } else {
                self.born + limits.read_header_timeout
            };
            if now >= deadline {
                return;
            }
            wake = deadline.min(now + step);
        }
    }
}

/// Files the process needs besides its connections (storage, engine
/// cache, audit files, the blocking pool's pipes...).
const SPARE_FILES: u64 = 256;

/// Raises the soft limit on open files so that `max_connections` fit,
/// up to the hard limit; logs what it could not do. Linux only (elsewhere
/// the accept back-off is the only guard).
pub fn raise_file_limit(max_connections: usize) {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
        let wanted = u64::try_from(max_connections)
            .unwrap_or(u64::MAX)
            .saturating_add(SPARE_FILES);
        let current = getrlimit(Resource::Nofile);
        let soft = current.current.unwrap_or(u64::MAX);
        if soft >= wanted {
            return;
        }
        let target = current.maximum.map_or(wanted, |hard| hard.min(wanted));
        if target > soft {
            let raised = setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: Some(target),
                    maximum: current.maximum,
                },
            );
            if let Err(e) = raised {
                tracing::warn!("cannot raise the open-file limit from {soft} to {target}: {e}");
            }
        }
        if target < wanted {
            tracing::warn!(
                "the open-file limit ({target}) is below max_connections + {SPARE_FILES}: \
                 connections beyond it wait until others close"
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = max_connections;
}

#[cfg(test)]
mod tests {
    /// The soft limit ends at least at what `max_connections` needs, or at
    /// the hard limit when that is lower.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_file_limit_is_raised_toward_max_connections() {
        use rustix::process::{getrlimit, Resource};
        super::raise_file_limit(2048);
        let now = getrlimit(Resource::Nofile);
        let want = now.maximum.map_or(2048 + super::SPARE_FILES, |hard| {
            hard.min(2048 + super::SPARE_FILES)
        });
        assert!(now.current.unwrap_or(u64::MAX) >= want, "{:?}", now.current);
    }
}
