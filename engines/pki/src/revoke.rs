//! `revoke`: marks a certificate revoked (by serial or by the certificate
//! itself) and its issuer's CRL stale. The CRL is rebuilt by the next CRL
//! read or periodic tick, so a revoke costs the same however many came
//! before it.
//!
//! `revoked/<serial>` holds a [`Revoked`] record: when, and by which
//! issuer's CRL it is listed.

use coffer_sdk::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::serial;
use crate::store;
use crate::x509::Parsed;

const PREFIX: &str = "revoked/";

/// `revoke`.
pub fn path() -> Path {
    Path::new("revoke")
        .update(revoke)
        .synopsis("Revoke a certificate by serial number or with explicit certificate.")
}

/// A revocation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Revoked {
    /// Serial, colon form.
    pub serial: String,
    /// When, seconds since the epoch.
    pub revocation_time: u64,
    /// The issuer whose CRL lists it.
    pub issuer_id: String,
    /// The certificate's notAfter (for tidy).
    #[serde(default)]
    pub not_after: u64,
    /// When, in nanoseconds (orders revocations within a second, for
    /// delta CRLs).
    #[serde(default)]
    pub revoked_at_ns: u64,
}

/// Nanoseconds since the epoch.
pub fn nanos(t: coffer_sdk::clock::Timestamp) -> u64 {
    t.seconds
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(t.nanoseconds))
}

#[derive(Fields)]
struct Revoke {
    /// Serial of the certificate to revoke.
    serial_number: Option<String>,
    /// The certificate to revoke (PEM), instead of its serial.
    certificate: Option<String>,
}

/// The revocation of this (canonical) serial, if any.
pub fn load(ctx: &mut Ctx<'_>, colon: &str) -> Result<Option<Revoked>, Error> {
    ctx.storage()
        .get_json(&format!("{PREFIX}{}", serial::storage_form(colon)))
}

/// Every revocation.
pub fn all(ctx: &mut Ctx<'_>) -> Result<Vec<Revoked>, Error> {
    let mut out = Vec::new();
    for key in ctx.storage().list(PREFIX)? {
        if let Some(r) = ctx
            .storage()
            .get_json::<Revoked>(&format!("{PREFIX}{key}"))?
        {
            out.push(r);
        }
    }
    Ok(out)
}

/// Deletes a revocation record.
pub fn delete(ctx: &mut Ctx<'_>, colon: &str) -> Result<(), Error> {
    ctx.storage()
        .delete(&format!("{PREFIX}{}", serial::storage_form(colon)))
}

/// An issuer's own certificate is never put on its own CRL.
fn check_not_issuer(issuers: &[store::IssuerEntry], colon: &str) -> Result<(), Error> {
    match issuers.iter().find(|i| i.serial_number == colon) {
        Some(own) => Err(Error::invalid(format!(
            "adding issuer (id: {}) to its own CRL is not allowed",
            own.id
        ))),
        None => Ok(()),
    }
}

fn answer(r: &Revoked) -> Response {
    Response::data(json!({
        "revocation_time": r.revocation_time,
        "revocation_time_rfc3339": crate::time::rfc3339(r.revocation_time),
        "state": "revoked",
    }))
}

fn revoke(ctx: &mut Ctx<'_>, f: Revoke) -> Result<Response, Error> {
    let given_serial = f
        .serial_number
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let given_cert = f
        .certificate
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let cert = match (given_serial, given_cert) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid(
                "Must provide either the certificate or the serial to revoke; not both.",
            ))
        }
        (None, None) => {
            return Err(Error::invalid(
                "The serial number or certificate to revoke must be provided.",
            ))
        }
        (Some(s), None) => {
            let colon = serial::normalize(s)?;
            if let Some(r) = load(ctx, &colon)? {
                return Ok(answer(&r));
            }
            check_not_issuer(&store::issuers(ctx)?, &colon)?;
            let der = crate::certs::load(ctx, &colon)?.ok_or_else(|| {
                Error::invalid(format!("certificate with serial {colon} not found."))
            })?;
            Parsed::from_der(&der)?
        }
        (None, Some(text)) => {
            let der = crate::pem::single(text, &["CERTIFICATE"], "certificate")?;
            let cert = Parsed::from_der(&der)?;
            if let Some(r) = load(ctx, &cert.serial())? {
                return Ok(answer(&r));
            }
            cert
        }
    };
    let colon = cert.serial();
    let issuers = store::issuers(ctx)?;
    check_not_issuer(&issuers, &colon)?;

    let issuer = issuers
        .iter()
        .filter(|i| !i.key_id.is_empty())
        .find(|i| {
            i.parsed()
                .is_ok_and(|p| p.subject_der() == cert.issuer_der() && cert.signed_by(&p))
        })
        .ok_or_else(|| {
            Error::invalid(format!(
                "certificate with serial {colon} was not issued by an issuer of this mount"
            ))
        })?;
    let now_ts = ctx.now();
    let now = now_ts.seconds;
    let allow_expired = crate::crl::config(ctx)?.allow_expired_cert_revocation;
    if cert.not_after() < now && !allow_expired {
        return Ok(Response::data(serde_json::Value::Null).with_warning(format!(
            "certificate with serial {colon} already expired; refusing to add to CRL. Set allow_expired_cert_revocation on config/crl to revoke it anyway."
        )));
    }
    if crate::certs::load(ctx, &colon)?.is_none() {
        crate::certs::store(ctx, &cert)?;
    }
    let record = Revoked {
        serial: colon.clone(),
        revocation_time: now,
        issuer_id: issuer.id.clone(),
        not_after: cert.not_after(),
        revoked_at_ns: nanos(now_ts),
    };
    ctx.storage().put_json(
        &format!("{PREFIX}{}", serial::storage_form(&colon)),
        &record,
    )?;
    crate::crl::mark_stale(ctx, &issuer.id)?;
    Ok(answer(&record))
}
