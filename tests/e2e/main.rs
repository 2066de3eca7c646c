//! End-to-end tests: the real `coffer` binary, started on `127.0.0.1:0`
//! with temporary storage, spoken to over plain HTTP exactly as a Vault
//! client would.
//!
//! Every test starts its own server (see [`harness`]), so tests are
//! independent and run in parallel. One file per area:
//!
//! - `mounts`: mounting (nested paths), isolation, unmount, remount, tune,
//!   the `sys/mounts` shape.
//! - `catalog`: the plugin catalog and mounting catalog engines.
//! - `api`: Vault's HTTP conventions: verbs, tokens, status codes, bodies.
//! - `sandbox`: engines that loop, allocate without bound or trap.
//! - `persistence`: data and tokens across restarts on one redb file.
//! - `crash`: SIGKILL under load keeps every acknowledged write whole; an
//!   engine call that writes and then fails leaves nothing stored.
//! - `concurrency`: concurrent writes through one engine.
//! - `startup`: start-up output and refusing bad configurations.
//! - `tls`: a TLS listener (rustls) checked by an independent client.
//! - `access`: tokens and ACL policies: what a limited token can and
//!   cannot do, precedence, expiry, revocation.
//! - `seal`: init, unseal, seal, barrier rotation.
//! - `audit`: the file audit device: lines, hashing, failing closed.
//! - `queues`: bounded engine queues (503 + `Retry-After` before the body)
//!   and large bodies that are served, never a 500.
//! - `contract02`: engines built on contract 0.2 (special paths, raw
//!   bodies, headers, statuses, paged lists) beside 0.1 ones.
//! - `keys02`: contract 0.2's `keys`: a hostile engine gets no key bytes,
//!   keys of every type survive a restart and check out with RustCrypto,
//!   managed keys and `allowed_managed_keys`.
//! - `upgrade`: storage written by the release on contract 0.1 (a committed
//!   redb fixture with transit keys) and a frozen 0.1 build of `kv` keep
//!   working.
//! - `limits`: every wait a client can cause is bounded (header, body and
//!   idle timeouts, TLS handshake, connection cap, head size,
//!   `max_request_duration`, the shutdown deadline).

// Test code: a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

mod access;
mod api;
mod audit;
mod catalog;
mod concurrency;
mod contract02;
mod crash;
mod keys02;
mod limits;
mod mounts;
mod persistence;
mod queues;
mod sandbox;
mod seal;
mod startup;
mod tls;
mod upgrade;
