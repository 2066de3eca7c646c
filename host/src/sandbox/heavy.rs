//! [`HeavyPool`]: where host functions run work too slow for a tokio worker.
//!
//! A host import runs on its engine call's wasmtime fiber, and the fiber on
//! one of tokio's few worker threads: a synchronous import that computes for
//! seconds (an RSA-4096 key generation) holds that worker, and a handful of
//! them stall every mount (issue #9: four parallel `rsa-4096` creations held
//! a KV read on another mount for 12 s). The imports `host/crypto.rs` names
//! are `async` in the bindings and hand such work to [`HeavyPool::run`]: the
//! fiber suspends, the worker is free for other requests, and the work runs
//! on one of the pool's own threads (`coffer-heavy-N`, one per core), which
//! on Linux run at a lower priority ([`NICE_INCREMENT`]) so that the request
//! path preempts them when both want the CPU.
//!
//! What it bounds: how many heavy operations run at once (one per thread);
//! the others wait for a permit without holding any thread, and that wait,
//! like the operation, ends at the call's deadline.
//!
//! What it does not bound or cover:
//! - the CPU those operations take: a lower priority shares the cores
//!   unevenly, it does not reserve any (and outside Linux the threads run at
//!   the normal priority);
//! - an operation already started: a thread cannot be interrupted. At the
//!   deadline the call traps at once, and the operation runs to its end on
//!   its own, keeping its permit until then, so the bound holds;
//! - fairness between mounts: permits go first come, first served;
//! - work that is not sent here (the cheap imports, storage, the engine's
//!   own wasm, which the epoch deadline bounds).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{oneshot, Semaphore};

/// How much less priority (in nice steps, at most 19) the pool's threads
/// take than the process: at +10 the scheduler gives a thread of the request
/// path about ten times the CPU share of a heavy one.
pub const NICE_INCREMENT: i32 = 10;

/// A bounded pool for heavy host work; cheap to clone (clones share it).
/// The threads end when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct HeavyPool {
    permits: Arc<Semaphore>,
    jobs: mpsc::Sender<Job>,
}

/// Why [`HeavyPool::run`] gave no result.
#[derive(Debug, PartialEq, Eq)]
pub enum HeavyError {
    /// The deadline passed while waiting for a permit or for the work.
    Deadline,
    /// The work panicked (a bug in the host), or the pool has no threads.
    Failed,
}

type Job = Box<dyn FnOnce() + Send>;

impl HeavyPool {
    /// A pool of `size` threads (at least one), so at most `size` operations
    /// run at once. A thread that cannot be started leaves the pool smaller
    /// (with none, every `run` fails).
    pub fn new(size: usize) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let mut started = 0;
        for n in 0..size.max(1) {
            let queue = Arc::clone(&queue);
            let spawned = std::thread::Builder::new()
                .name(format!("coffer-heavy-{n}"))
                .spawn(move || serve(&queue));
            match spawned {
                Ok(_) => started += 1,
                Err(e) => tracing::warn!("heavy pool: cannot start a thread: {e}"),
            }
        }
        HeavyPool {
            permits: Arc::new(Semaphore::new(started)),
            jobs,
        }
    }

    /// A pool of one thread per core the process may use
    /// (`std::thread::available_parallelism`, one if unknown).
    pub fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get))
    }

    /// Runs `work` on a pool thread once a permit is free, and waits for its
    /// result until `deadline`. The permit moves with the work, so it is
    /// released when the work ends, even if nobody waits for it any more.
    pub async fn run<T, F>(&self, deadline: Instant, work: F) -> Result<T, HeavyError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let deadline = tokio::time::Instant::from_std(deadline);
        let permit = tokio::time::timeout_at(deadline, Arc::clone(&self.permits).acquire_owned())
            .await
            .map_err(|_| HeavyError::Deadline)?
            .map_err(|_| HeavyError::Failed)?;
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let outcome = catch_unwind(AssertUnwindSafe(work));
            drop(permit);
            let _ = done.send(outcome);
        });
        self.jobs.send(job).map_err(|_| HeavyError::Failed)?;
        match tokio::time::timeout_at(deadline, result).await {
            Err(_) => Err(HeavyError::Deadline),
            Ok(Ok(Ok(value))) => Ok(value),
            // The work panicked, or its thread is gone.
            Ok(Ok(Err(_)) | Err(_)) => Err(HeavyError::Failed),
        }
    }
}

/// A pool thread: lowers its priority, then runs jobs until the pool is
/// dropped.
fn serve(queue: &Mutex<mpsc::Receiver<Job>>) {
    lower_priority();
    loop {
        // The lock is held only while waiting for the next job.
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

/// Adds [`NICE_INCREMENT`] to the calling thread's nice value. On Linux the
/// nice value is per thread, and `setpriority(PRIO_PROCESS, 0)` names the
/// calling thread; elsewhere it would name the whole process, so nothing is
/// done there.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        let lowered = getpriority_process(None)
            .and_then(|now| setpriority_process(None, now.saturating_add(NICE_INCREMENT).min(19)));
        if let Err(e) = lowered {
            tracing::debug!("heavy pool: priority unchanged: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Barrier;
    use std::time::Duration;

    use super::*;

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_work_and_returns_its_result() {
        let pool = HeavyPool::new(2);
        assert_eq!(pool.run(far(), || 6 * 7).await, Ok(42));
    }

    #[cfg(target_os = "linux")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn work_runs_at_a_lower_priority_than_the_caller() {
        let pool = HeavyPool::new(1);
        let caller = rustix::process::getpriority_process(None).unwrap();
        let worker = pool
            .run(far(), || {
                rustix::process::getpriority_process(None).unwrap()
            })
            .await
            .unwrap();
        assert_eq!(worker, caller.saturating_add(NICE_INCREMENT).min(19));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_size_operations_run_at_once() {
        let pool = HeavyPool::new(2);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (pool, running, most) = (pool.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    pool.run(far(), move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), Ok(()));
        }
        let most = most.load(Ordering::SeqCst);
        assert!(
            (1..=2).contains(&most),
            "two threads, eight tasks: {most} ran at once"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wait_for_a_permit_ends_at_the_deadline() {
        let pool = HeavyPool::new(1);
        // Hold the only permit until released.
        let gate = Arc::new(Barrier::new(2));
        let held = {
            let (pool, gate) = (pool.clone(), gate.clone());
            tokio::spawn(async move { pool.run(far(), move || gate.wait()).await })
        };
        while pool.permits.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let ran = Arc::new(AtomicUsize::new(0));
        let r = {
            let ran = ran.clone();
            pool.run(Instant::now() + Duration::from_millis(50), move || {
                ran.fetch_add(1, Ordering::SeqCst)
            })
            .await
        };
        assert_eq!(r, Err(HeavyError::Deadline));
        gate.wait();
        held.await.unwrap().unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 0, "timed-out work never ran");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_deadline_inside_the_work_answers_at_once_and_keeps_the_permit() {
        let pool = HeavyPool::new(1);
        let gate = Arc::new(Barrier::new(2));
        let r = {
            let gate = gate.clone();
            pool.run(Instant::now() + Duration::from_millis(50), move || {
                gate.wait();
            })
            .await
        };
        assert_eq!(r, Err(HeavyError::Deadline));
        // The abandoned work still runs and still holds the permit.
        assert_eq!(pool.permits.available_permits(), 0);
        gate.wait();
        assert_eq!(pool.run(far(), || 1).await, Ok(1));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panic_in_the_work_is_an_error_and_the_thread_serves_on() {
        let pool = HeavyPool::new(1);
        let r: Result<(), _> = pool.run(far(), || panic!("boom")).await;
        assert_eq!(r, Err(HeavyError::Failed));
        assert_eq!(pool.run(far(), || 1).await, Ok(1));
    }
}
