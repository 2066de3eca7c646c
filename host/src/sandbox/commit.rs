//! Group commit: calls on one mount that finish writing at about the same
//! time commit in one redb transaction (one durable write instead of one
//! each), each still checked by the commit rule of [`super::conflicts`].
//!
//! A call with writes queues them ([`Pending`]) and waits for the mount's
//! commit lock. Whoever gets the lock drains the queue and commits, in a
//! task of its own that holds the lock and the unsealed proof (so a
//! dropped request cannot leave a commit half done, and the seal waits for
//! it): in queue order, a call is accepted if no commit since its snapshot
//! wrote what it read (the mount's history), and no call accepted before it
//! in this batch wrote what it read either; its writes then join the
//! transaction, after those of the calls before it. The others are told
//! [`Grouped::Conflict`] and run again while holding the lock, as a lone
//! call that lost the race always did. Each accepted call counts as one
//! commit (one generation, one history entry), in queue order, so the batch
//! is the same as those calls committing one after the other. A call whose
//! request was dropped while queued is skipped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::conflicts::Reads;
use super::MountRuntime;
use crate::api::ApiError;
use crate::seal::Unsealed;
use crate::storage::{Storage, WriteSet};

/// How a queued commit ended.
#[derive(Debug)]
pub(crate) enum Grouped {
    /// Its writes are stored.
    Committed,
    /// It may have read stale data: run it again.
    Conflict,
}

/// A call's writes waiting to be committed.
pub(crate) struct Pending {
    reads: Reads,
    writes: WriteSet,
    generation: u64,
    dropped: Arc<AtomicBool>,
    done: oneshot::Sender<Result<Grouped, ApiError>>,
}

/// A mount's queue of pending commits.
#[derive(Default)]
pub(crate) struct Queue(Mutex<Vec<Pending>>);

/// Marks a queued commit abandoned when the waiting call is dropped
/// before a batch decided on it.
struct Abandon(Option<Arc<AtomicBool>>);

impl Drop for Abandon {
    fn drop(&mut self) {
        if let Some(flag) = self.0.take() {
            flag.store(true, Ordering::SeqCst);
        }
    }
}

/// Queues a call's writes (it read `reads` from a snapshot at
/// `generation`) and waits until a batch decided on them.
pub(crate) async fn commit(
    storage: &Storage,
    unsealed: &Unsealed,
    mount: &Arc<MountRuntime>,
    reads: Reads,
    writes: WriteSet,
    generation: u64,
) -> Result<Grouped, ApiError> {
    let (done, answer) = oneshot::channel();
    let dropped = Arc::new(AtomicBool::new(false));
    let mut abandon = Abandon(Some(dropped.clone()));
    mount
        .commits
        .0
        .lock()
        .map_err(|_| ApiError::internal("commit queue poisoned"))?
        .push(Pending {
            reads,
            writes,
            generation,
            dropped,
            done,
        });
    let guard = mount.commit_lock.clone().lock_owned().await;
    let batch = std::mem::take(
        &mut *mount
            .commits
            .0
            .lock()
            .map_err(|_| ApiError::internal("commit queue poisoned"))?,
    );
    if batch.is_empty() {
        // An earlier holder of the lock took this call's writes too.
        drop(guard);
    } else {
        let storage = storage.clone();
        let unsealed = unsealed.clone();
        let mount = mount.clone();
        tokio::spawn(async move {
            run_batch(&storage, &unsealed, &mount, batch).await;
            drop(guard);
        });
    }
    let result = answer
        .await
        .map_err(|_| ApiError::internal("the commit was abandoned"))?;
    // Decided: nothing left to abandon.
    abandon.0 = None;
    result
}

/// Decides on and commits one batch (the caller holds the commit lock).
async fn run_batch(
    storage: &Storage,
    unsealed: &Unsealed,
    mount: &MountRuntime,
    batch: Vec<Pending>,
) {
    if mount.removed.load(Ordering::SeqCst) {
        for p in batch {
            let _ = p.done.send(Err(ApiError::NotFound(None)));
        }
        return;
    }
    let now = mount.generation.load(Ordering::SeqCst);
    let mut accepted = Vec::new();
    let mut written_here: Vec<String> = Vec::new();
    {
        let history = mount.history.lock();
        for p in batch {
            if p.dropped.load(Ordering::SeqCst) {
                continue;
            }
            let fresh = p.generation == now
                || history
                    .as_ref()
                    .is_ok_and(|h| h.untouched(&p.reads, p.generation, now));
            if fresh && !written_here.iter().any(|k| p.reads.depends_on(k)) {
                written_here.extend(p.writes.keys().cloned());
                accepted.push(p);
            } else {
                let _ = p.done.send(Ok(Grouped::Conflict));
            }
        }
    }
    if accepted.is_empty() {
        return;
    }
    tracing::trace!(calls = accepted.len(), "group commit");
    let mut merged = WriteSet::new();
    for p in &accepted {
        for (k, v) in &p.writes {
            merged.insert(k.clone(), v.clone());
        }
    }
    let storage = storage.clone();
    let unsealed = unsealed.clone();
    let prefix = mount.prefix.clone();
    let written =
        tokio::task::spawn_blocking(move || storage.commit(&unsealed, &prefix, &merged)).await;
    match written {
        Ok(Ok(())) => {
            for p in accepted {
                let made = mount.generation.fetch_add(1, Ordering::SeqCst) + 1;
                if let Ok(mut h) = mount.history.lock() {
                    h.record(made, p.writes.keys().cloned().collect());
                }
                let _ = p.done.send(Ok(Grouped::Committed));
            }
        }
        Ok(Err(e)) => {
            let message = e.to_string();
            for p in accepted {
                let _ = p.done.send(Err(ApiError::internal(message.clone())));
            }
        }
        Err(e) => {
            let message = e.to_string();
            for p in accepted {
                let _ = p.done.send(Err(ApiError::internal(message.clone())));
            }
        }
    }
}
