//! The commit rule's memory: what a call read ([`Reads`]) and what the
//! mount's last commits wrote ([`History`]), so that a call whose snapshot
//! is no longer the newest still commits when nothing it read has changed
//! since (see `Sandbox::run`).
//!
//! Why that is serialisable: the commits that landed after the call's
//! snapshot wrote none of the keys it read nor any key under a prefix it
//! listed, so it would have read the same values after them; committing
//! it after them is the same as running it after them, alone. A write the
//! call made without reading (a blind write) orders after theirs. Reading
//! the generation reads everything: such a call re-runs as before.

use std::collections::{HashSet, VecDeque};

/// The most commits [`History`] remembers.
const HISTORY_COMMITS: usize = 256;
/// The most written keys [`History`] keeps in all.
const HISTORY_KEYS: usize = 65_536;

/// What one call read from its snapshot.
#[derive(Debug, Default)]
pub(crate) struct Reads {
    keys: HashSet<String>,
    prefixes: Vec<String>,
    everything: bool,
}

impl Reads {
    /// A key read from the snapshot (present or not).
    pub(crate) fn key(&mut self, key: &str) {
        if !self.everything && !self.keys.contains(key) {
            self.keys.insert(key.to_owned());
        }
    }

    /// A listing of `prefix` (every key under it counts as read).
    pub(crate) fn prefix(&mut self, prefix: &str) {
        if !self.everything && !self.prefixes.iter().any(|p| p == prefix) {
            self.prefixes.push(prefix.to_owned());
        }
    }

    /// The generation, or anything else that depends on every key.
    pub(crate) fn everything(&mut self) {
        self.everything = true;
        self.keys.clear();
        self.prefixes.clear();
    }

    /// Whether a write of `written` may change what was read.
    pub(crate) fn depends_on(&self, written: &str) -> bool {
        self.everything
            || self.keys.contains(written)
            || self
                .prefixes
                .iter()
                .any(|p| written.starts_with(p.as_str()))
    }
}

/// The keys the mount's last commits wrote, oldest first, each with the
/// generation its commit made.
#[derive(Debug, Default)]
pub(crate) struct History {
    commits: VecDeque<(u64, Vec<String>)>,
    keys: usize,
}

impl History {
    /// Records a commit that made `generation` by writing `keys`.
    pub(crate) fn record(&mut self, generation: u64, keys: Vec<String>) {
        self.keys += keys.len();
        self.commits.push_back((generation, keys));
        while self.commits.len() > HISTORY_COMMITS || self.keys > HISTORY_KEYS {
            match self.commits.pop_front() {
                Some((_, old)) => self.keys -= old.len(),
                None => break,
            }
        }
    }

    /// Whether none of the commits after generation `since`, up to `now`,
    /// wrote what `reads` read. `false` when it cannot tell: the history
    /// no longer holds all of those commits.
    pub(crate) fn untouched(&self, reads: &Reads, since: u64, now: u64) -> bool {
        if reads.everything {
            return false;
        }
        let Some(needed) = now.checked_sub(since) else {
            return false;
        };
        let after: Vec<&(u64, Vec<String>)> = self
            .commits
            .iter()
            .filter(|(g, _)| *g > since && *g <= now)
            .collect();
        if after.len() as u64 != needed {
            return false;
        }
        after
            .iter()
            .all(|(_, keys)| keys.iter().all(|k| !reads.depends_on(k)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(k: &[&str]) -> Vec<String> {
        k.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn disjoint_commits_do_not_touch_a_call() {
        let mut h = History::default();
        h.record(1, keys(&["certs/01"]));
        h.record(2, keys(&["certs/02"]));
        let mut r = Reads::default();
        r.key("config/epoch");
        r.key("role/web");
        assert!(h.untouched(&r, 0, 2));
        // a key it read, or a key under a prefix it listed, was written
        r.key("certs/02");
        assert!(!h.untouched(&r, 0, 2));
        assert!(h.untouched(&r, 2, 2), "nothing after its snapshot");
        let mut l = Reads::default();
        l.prefix("certs/");
        assert!(!h.untouched(&l, 1, 2));
        // reading the generation depends on everything
        let mut g = Reads::default();
        g.everything();
        g.key("x");
        assert!(!h.untouched(&g, 1, 2));
    }

    #[test]
    fn a_history_that_lost_commits_cannot_tell() {
        let mut h = History::default();
        for g in 1..=(HISTORY_COMMITS as u64 + 10) {
            h.record(g, keys(&["a"]));
        }
        let r = Reads::default();
        assert!(!h.untouched(&r, 0, HISTORY_COMMITS as u64 + 10));
        assert!(h.untouched(&r, 10, HISTORY_COMMITS as u64 + 10));
        assert!(
            !h.untouched(&r, 5, 3),
            "a snapshot newer than now is not trusted"
        );
        let mut big = History::default();
        big.record(1, (0..HISTORY_KEYS + 1).map(|i| i.to_string()).collect());
        assert!(
            !big.untouched(&r, 0, 1),
            "a commit too large to keep is not remembered"
        );
    }
}
