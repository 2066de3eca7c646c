//! What bounds an engine call: the settings ([`Limits`]), the memory
//! limiter each instance's store runs under ([`MemoryLimiter`]), and the
//! admission of calls to a mount ([`Admission`]).
//!
//! What they do not cover: the memory cap counts the instance's linear
//! memories, not host memory held for it (key handles are capped
//! separately, see `host/crypto.rs`); the call deadline is wall time
//! checked at each epoch tick while wasm runs, so a long host function is
//! not interrupted, only followed by the trap; admission bounds how many
//! requests wait for a mount, not how long a client takes to send its body
//! (that is the listener's `http_read_timeout`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::api::ApiError;

/// Limits applied to every engine call; defaults in `config.rs`.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Longest a call may run in wasm before it is trapped.
    pub call_timeout: Duration,
    /// Linear memory one instance may grow to.
    pub memory_bytes: usize,
    /// Calls running at once on one mount; more wait for a slot.
    pub max_concurrent_calls: usize,
    /// Calls that may wait for a slot on one mount; one more is refused at
    /// once with 503 and `Retry-After`, before its body is read.
    pub max_queued_calls: usize,
    /// Longest a call waits for a slot before it is refused with 503.
    pub queue_timeout: Duration,
    /// Calls one warm instance serves before it is replaced.
    pub max_reuse: u32,
    /// How far ahead of the wall clock the engines' `clock` runs. Zero
    /// except under the loudly named dev setting `dev_insecure_clock_offset`,
    /// which tests use to make time-driven work (auto-rotation) happen now.
    pub clock_offset: Duration,
}

/// An instance whose memory grew past this is not kept warm after its
/// call: idle instances would otherwise hold what their largest request
/// needed.
pub const KEEP_WARM_BYTES: usize = 32 << 20;

/// Whether a request body of `body` bytes is large enough, against a
/// memory cap of `cap` bytes, that running out of memory is the request's
/// size (413) rather than an engine bug (500): at least 1/32 of the cap
/// (8 MiB under the default 256 MiB). An engine needs a few copies of its
/// body (the text, its parse, the answer), so a large body can exhaust the
/// cap honestly; a small one cannot.
pub fn body_explains_memory(body: usize, cap: usize) -> bool {
    body >= cap / 32
}

/// The store limiter of one instance: a memory cap that traps (and
/// remembers that it did, so the host can answer 413 rather than 500), the
/// peak size, and a cap on instances.
pub struct MemoryLimiter {
    cap: usize,
    peak: usize,
    exceeded: bool,
}

impl MemoryLimiter {
    /// A limiter capping each linear memory at `cap` bytes.
    pub fn new(cap: usize) -> Self {
        MemoryLimiter {
            cap,
            peak: 0,
            exceeded: false,
        }
    }

    /// Whether a growth past the cap was refused (the instance trapped).
    pub fn exceeded(&self) -> bool {
        self.exceeded
    }

    /// The largest memory size granted so far.
    pub fn peak(&self) -> usize {
        self.peak
    }

    /// The cap, in bytes.
    pub fn cap(&self) -> usize {
        self.cap
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.cap {
            self.exceeded = true;
            return Err(wasmtime::format_err!(
                "engine memory limit of {} bytes exceeded",
                self.cap
            ));
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // A table element is a pointer: as many as the memory cap has
        // words is more than any engine needs.
        Ok(desired <= self.cap / 8)
    }

    fn instances(&self) -> usize {
        16
    }
}

/// Calls admitted to one mount (waiting for a slot or running), and the
/// most it takes.
pub struct Queue {
    admitted: AtomicUsize,
    capacity: usize,
}

impl Queue {
    /// Room for `running + waiting` calls.
    pub fn new(running: usize, waiting: usize) -> Self {
        Queue {
            admitted: AtomicUsize::new(0),
            capacity: running.saturating_add(waiting).max(1),
        }
    }
}

/// One admitted call; its place is given back when dropped.
pub struct Admission {
    queue: Arc<Queue>,
}

impl Admission {
    /// A place in `queue`, or 503 (with `Retry-After`) naming `label` when
    /// it is full. Never waits.
    pub fn take(queue: &Arc<Queue>, label: impl FnOnce() -> String) -> Result<Admission, ApiError> {
        let before = queue.admitted.fetch_add(1, Ordering::SeqCst);
        if before >= queue.capacity {
            queue.admitted.fetch_sub(1, Ordering::SeqCst);
            return Err(ApiError::Busy(format!(
                "mount {:?} is busy: {} requests are already running or waiting; try again",
                label(),
                queue.capacity
            )));
        }
        Ok(Admission {
            queue: queue.clone(),
        })
    }

    /// Whether this place is in `queue`.
    pub fn is_for(&self, queue: &Arc<Queue>) -> bool {
        Arc::ptr_eq(&self.queue, queue)
    }
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Admission")
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.queue.admitted.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_refuses_at_once_and_frees_on_drop() {
        let q = Arc::new(Queue::new(1, 1));
        let a = Admission::take(&q, || "m/".into()).unwrap();
        let b = Admission::take(&q, || "m/".into()).unwrap();
        let e = Admission::take(&q, || "m/".into()).err().unwrap();
        assert_eq!(e.status(), 503);
        assert_eq!(e.retry_after(), Some(1));
        drop(a);
        let c = Admission::take(&q, || "m/".into()).unwrap();
        assert!(c.is_for(&q));
        drop((b, c));
        assert_eq!(q.admitted.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn growth_past_the_cap_traps_and_is_remembered() {
        use wasmtime::ResourceLimiter;
        let mut l = MemoryLimiter::new(1 << 20);
        assert!(l.memory_growing(0, 1 << 19, None).unwrap());
        assert_eq!(l.peak(), 1 << 19);
        assert!(!l.exceeded());
        assert!(l.memory_growing(1 << 19, 2 << 20, None).is_err());
        assert!(l.exceeded());
    }
}
