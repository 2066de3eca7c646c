//! `tidy` and `tidy-status`: removing expired certificates from the
//! store and expired revocations from the CRLs, past a safety buffer.
//!
//! A tidy is a job kept in storage (`tidy/status`): the request records
//! it as `Running` and does a first bounded slice of the work; the rest
//! goes on in slices of at most [`SLICE`] entries, a few per periodic tick
//! and one per `tidy-status` read, so no call holds the mount for long,
//! however many certificates there are.

use coffer_sdk::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::x509::Parsed;

const STATUS: &str = "tidy/status";
const UUID: &str = "tidy/backend-uuid";

/// Entries looked at per slice.
pub const SLICE: usize = 2000;

/// `tidy`.
pub fn path() -> Path {
    Path::new("tidy").update(tidy).synopsis(
        "Tidy up the backend by removing expired certificates, revocation information, or both.",
    )
}

/// `tidy-status`.
pub fn status_path() -> Path {
    Path::new("tidy-status")
        .read(status)
        .synopsis("Returns the status of the tidy operation.")
}

#[derive(Fields)]
struct Tidy {
    /// Remove expired certificates from the store.
    tidy_cert_store: bool,
    /// Remove expired certificates from the revocation list.
    tidy_revoked_certs: bool,
    /// Re-associate revoked certificates with their issuers (accepted).
    tidy_revoked_cert_issuer_associations: bool,
    /// Remove expired issuers (accepted).
    tidy_expired_issuers: bool,
    /// Move the legacy CA bundle (accepted).
    tidy_move_legacy_ca_bundle: bool,
    /// Tidy ACME state (accepted).
    tidy_acme: bool,
    /// Remove unparsable certificates (accepted).
    tidy_invalid_certs: bool,
    /// How long past notAfter an entry is kept.
    #[field(default = "72h")]
    safety_buffer: DurationSeconds,
    /// How long past notAfter an issuer is kept.
    #[field(default = "8760h")]
    issuer_safety_buffer: DurationSeconds,
    /// Pause between entries (accepted; slices replace it).
    #[field(default = "0s")]
    pause_duration: String,
}

/// The job and its outcome, as `tidy-status` shows it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Job {
    state: String,
    safety_buffer: u64,
    issuer_safety_buffer: u64,
    tidy_cert_store: bool,
    tidy_revoked_certs: bool,
    tidy_revoked_cert_issuer_associations: bool,
    tidy_expired_issuers: bool,
    tidy_move_legacy_ca_bundle: bool,
    tidy_acme: bool,
    tidy_invalid_certs: bool,
    pause_duration: String,
    time_started: u64,
    time_finished: Option<u64>,
    cert_store_deleted_count: u64,
    revoked_cert_deleted_count: u64,
    error: Option<String>,
    /// Revocations still to look at.
    revoked_after: Option<String>,
    /// Stored certificates still to look at.
    certs_after: Option<String>,
}

fn load(ctx: &mut Ctx<'_>) -> Result<Option<Job>, Error> {
    ctx.storage().get_json(STATUS)
}

fn backend_uuid(ctx: &mut Ctx<'_>) -> Result<String, Error> {
    if let Some(id) = ctx.storage().get(UUID)? {
        return Ok(String::from_utf8_lossy(&id).into_owned());
    }
    let id = crate::store::new_id()?;
    ctx.storage().put(UUID, id.as_bytes())?;
    Ok(id)
}

fn tidy(ctx: &mut Ctx<'_>, f: Tidy) -> Result<Response, Error> {
    DurationSeconds::parse(&f.pause_duration)
        .map_err(|e| Error::invalid(format!("invalid pause_duration: {e}")))?;
    let any = f.tidy_cert_store
        || f.tidy_revoked_certs
        || f.tidy_revoked_cert_issuer_associations
        || f.tidy_expired_issuers
        || f.tidy_move_legacy_ca_bundle
        || f.tidy_acme
        || f.tidy_invalid_certs;
    if !any {
        return Ok(accepted(
            "Manual tidy requested but no tidy operations were set. Enable at least one tidy operation to be run (tidy_cert_store, tidy_revoked_certs, ...).",
        ));
    }
    if load(ctx)?.is_some_and(|j| j.state == "Running") {
        return Err(Error::invalid("a tidy operation is already running"));
    }
    let mut job = Job {
        state: "Running".into(),
        safety_buffer: f.safety_buffer.as_secs(),
        issuer_safety_buffer: f.issuer_safety_buffer.as_secs(),
        tidy_cert_store: f.tidy_cert_store,
        tidy_revoked_certs: f.tidy_revoked_certs,
        tidy_revoked_cert_issuer_associations: f.tidy_revoked_cert_issuer_associations,
        tidy_expired_issuers: f.tidy_expired_issuers,
        tidy_move_legacy_ca_bundle: f.tidy_move_legacy_ca_bundle,
        tidy_acme: f.tidy_acme,
        tidy_invalid_certs: f.tidy_invalid_certs,
        pause_duration: f.pause_duration,
        time_started: ctx.now().seconds,
        revoked_after: f.tidy_revoked_certs.then(String::new),
        certs_after: f.tidy_cert_store.then(String::new),
        ..Job::default()
    };
    backend_uuid(ctx)?;
    step(ctx, &mut job)?;
    ctx.storage().put_json(STATUS, &job)?;
    Ok(accepted(
        "Tidy operation successfully started. Any information from the operation will be printed to the server logs.",
    ))
}

fn accepted(warning: &str) -> Response {
    Response::data(Value::Null)
        .with_warning(warning)
        .with_status(202)
}

/// One slice of a running job: the store first, then revocations (as
/// Vault orders them).
fn step(ctx: &mut Ctx<'_>, job: &mut Job) -> Result<(), Error> {
    let now = ctx.now().seconds;
    let cutoff = now.saturating_sub(job.safety_buffer);
    let mut budget = SLICE;
    if let Some(after) = job.certs_after.clone() {
        let page = ctx.storage().list_page("certs/", &after, budget as u32)?;
        budget -= page.len();
        for key in &page {
            let Some(der) = ctx.storage().get(&format!("certs/{key}"))? else {
                continue;
            };
            let expired = Parsed::from_der(&der).is_ok_and(|c| c.not_after() < cutoff);
            if expired {
                ctx.storage().delete(&format!("certs/{key}"))?;
                job.cert_store_deleted_count += 1;
            }
        }
        job.certs_after = page.last().cloned().filter(|_| budget == 0);
    }
    if budget > 0 {
        if let Some(after) = job.revoked_after.clone() {
            let page = ctx.storage().list_page("revoked/", &after, budget as u32)?;
            budget -= page.len();
            for key in &page {
                let Some(r) = ctx
                    .storage()
                    .get_json::<crate::revoke::Revoked>(&format!("revoked/{key}"))?
                else {
                    continue;
                };
                if r.not_after > 0 && r.not_after < cutoff {
                    crate::revoke::delete(ctx, &r)?;
                    crate::crl::mark_stale(ctx, &r.issuer_id)?;
                    job.revoked_cert_deleted_count += 1;
                }
            }
            job.revoked_after = page.last().cloned().filter(|_| budget == 0);
        }
    }
    if job.revoked_after.is_none() && job.certs_after.is_none() {
        job.state = "Finished".into();
        job.time_finished = Some(ctx.now().seconds);
    }
    Ok(())
}

/// Advances a running job by up to `slices` slices (a periodic tick does
/// a few, a status read one).
pub fn advance(ctx: &mut Ctx<'_>, slices: usize) -> Result<(), Error> {
    let Some(mut job) = load(ctx)? else {
        return Ok(());
    };
    if job.state != "Running" {
        return Ok(());
    }
    for _ in 0..slices {
        step(ctx, &mut job)?;
        if job.state != "Running" {
            break;
        }
    }
    ctx.storage().put_json(STATUS, &job)
}

fn status(ctx: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
    advance(ctx, 1)?;
    let uuid = backend_uuid(ctx)?;
    let Some(job) = load(ctx)? else {
        let mut data = serde_json::Map::new();
        for k in STATUS_FIELDS {
            data.insert((*k).to_owned(), Value::Null);
        }
        data.insert("state".into(), json!("Inactive"));
        data.insert("internal_backend_uuid".into(), json!(uuid));
        return Ok(Response::data(Value::Object(data)));
    };
    let t = |s: Option<u64>| s.map(crate::time::rfc3339);
    Ok(Response::data(json!({
        "state": job.state,
        "safety_buffer": job.safety_buffer,
        "issuer_safety_buffer": job.issuer_safety_buffer,
        "revoked_safety_buffer": job.safety_buffer,
        "tidy_cert_store": job.tidy_cert_store,
        "tidy_revoked_certs": job.tidy_revoked_certs,
        "tidy_revoked_cert_issuer_associations": job.tidy_revoked_cert_issuer_associations,
        "tidy_expired_issuers": job.tidy_expired_issuers,
        "tidy_move_legacy_ca_bundle": job.tidy_move_legacy_ca_bundle,
        "tidy_acme": job.tidy_acme,
        "tidy_invalid_certs": job.tidy_invalid_certs,
        "pause_duration": job.pause_duration,
        "time_started": t(Some(job.time_started)),
        "time_finished": t(job.time_finished),
        "last_auto_tidy_finished": t(job.time_finished),
        "cert_store_deleted_count": job.cert_store_deleted_count,
        "revoked_cert_deleted_count": job.revoked_cert_deleted_count,
        "missing_issuer_cert_count": 0,
        "current_cert_store_count": Value::Null,
        "current_revoked_cert_count": Value::Null,
        "error": job.error,
        "message": Value::Null,
        "internal_backend_uuid": uuid,
        "page_size": SLICE,
        "acme_account_deleted_count": 0,
        "acme_account_revoked_count": 0,
        "acme_account_safety_buffer": 2_592_000,
        "acme_orders_deleted_count": 0,
        "total_acme_account_count": 0,
    })))
}

/// The fields of `tidy-status` (all null before any tidy).
const STATUS_FIELDS: &[&str] = &[
    "acme_account_deleted_count",
    "acme_account_revoked_count",
    "acme_account_safety_buffer",
    "acme_orders_deleted_count",
    "cert_store_deleted_count",
    "current_cert_store_count",
    "current_revoked_cert_count",
    "error",
    "internal_backend_uuid",
    "issuer_safety_buffer",
    "message",
    "missing_issuer_cert_count",
    "page_size",
    "pause_duration",
    "revoked_cert_deleted_count",
    "revoked_safety_buffer",
    "safety_buffer",
    "state",
    "tidy_acme",
    "tidy_cert_store",
    "tidy_expired_issuers",
    "tidy_invalid_certs",
    "tidy_move_legacy_ca_bundle",
    "tidy_revoked_cert_issuer_associations",
    "tidy_revoked_certs",
    "time_finished",
    "time_started",
    "total_acme_account_count",
];
