//! `revoke`: marks a certificate revoked (by serial or by the certificate
//! itself) and its issuer's CRL stale. The CRL is rebuilt by the next CRL
//! read or periodic tick, so a revoke costs the same however many came
//! before it.
//!
//! `revoked/<serial>` holds a [`Revoked`] record: when, and by which
//! issuer's CRL it is listed. Each record also has a key of its own under
//! its issuer, `crl-entries/<issuer>/<serial>.<time>.<ns>.<not-after>`,
//! with everything a CRL needs in its name: a rebuild lists that folder
//! (one host call per 10,000 revocations) instead of reading each record.

use coffer_sdk::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::serial;
use crate::store;
use crate::x509::Parsed;

const PREFIX: &str = "revoked/";
const ENTRIES: &str = "crl-entries/";
/// Names read per `list_page` call when rebuilding a CRL.
const PAGE: u32 = 10_000;

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

impl Revoked {
    fn entry_key(&self) -> String {
        format!(
            "{ENTRIES}{}/{}.{}.{}.{}",
            self.issuer_id,
            serial::storage_form(&self.serial),
            self.revocation_time,
            self.revoked_at_ns,
            self.not_after
        )
    }

    fn from_entry(issuer_id: &str, name: &str) -> Option<Self> {
        let mut parts = name.split('.');
        let serial = parts.next()?.replace('-', ":");
        let revocation_time = parts.next()?.parse().ok()?;
        let revoked_at_ns = parts.next()?.parse().ok()?;
        let not_after = parts.next()?.parse().ok()?;
        Some(Self {
            serial,
            revocation_time,
            issuer_id: issuer_id.to_owned(),
            not_after,
            revoked_at_ns,
        })
    }
}

/// Revokes `cert`, listed by the CRL of issuer `issuer_id`, now.
pub fn record(ctx: &mut Ctx<'_>, cert: &Parsed, issuer_id: &str) -> Result<Revoked, Error> {
    let now = ctx.now();
    let record = Revoked {
        serial: cert.serial(),
        revocation_time: now.seconds,
        issuer_id: issuer_id.to_owned(),
        not_after: cert.not_after(),
        revoked_at_ns: nanos(now),
    };
    save(ctx, &record)?;
    crate::crl::mark_stale(ctx, issuer_id)?;
    Ok(record)
}

/// Stores a revocation (its record and its CRL entry).
fn save(ctx: &mut Ctx<'_>, record: &Revoked) -> Result<(), Error> {
    ctx.storage().put_json(
        &format!("{PREFIX}{}", serial::storage_form(&record.serial)),
        record,
    )?;
    ctx.storage().put(&record.entry_key(), b"")
}

/// The revocations an issuer's CRL lists, from the names of its entries.
pub fn of_issuer(ctx: &mut Ctx<'_>, issuer_id: &str) -> Result<Vec<Revoked>, Error> {
    let prefix = format!("{ENTRIES}{issuer_id}/");
    let mut out = Vec::new();
    let mut after = String::new();
    loop {
        let page = ctx.storage().list_page(&prefix, &after, PAGE)?;
        out.extend(
            page.iter()
                .filter_map(|n| Revoked::from_entry(issuer_id, n)),
        );
        match page.last() {
            Some(last) if page.len() as u32 == PAGE => after = last.clone(),
            _ => return Ok(out),
        }
    }
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

/// Deletes a revocation (its record and its CRL entry).
pub fn delete(ctx: &mut Ctx<'_>, record: &Revoked) -> Result<(), Error> {
    ctx.storage().delete(&record.entry_key())?;
    ctx.storage()
        .delete(&format!("{PREFIX}{}", serial::storage_form(&record.serial)))
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
        .find(|i| i.parsed().is_ok_and(|p| cert.issued_by(&p)))
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
    let record = record(ctx, &cert, &issuer.id)?;
    Ok(answer(&record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_name_carries_the_whole_revocation() {
        let r = Revoked {
            serial: "01:ab:ff".into(),
            revocation_time: 1_700_000_000,
            issuer_id: "6f1d2c3e-0000-4000-8000-000000000001".into(),
            not_after: 1_800_000_000,
            revoked_at_ns: 1_700_000_000_123_456_789,
        };
        let key = r.entry_key();
        let (folder, name) = key.rsplit_once('/').unwrap();
        assert_eq!(folder, format!("crl-entries/{}", r.issuer_id));
        let back = Revoked::from_entry(&r.issuer_id, name).unwrap();
        assert_eq!(
            (
                back.serial,
                back.revocation_time,
                back.not_after,
                back.revoked_at_ns
            ),
            (r.serial, r.revocation_time, r.not_after, r.revoked_at_ns)
        );
        assert!(Revoked::from_entry("x", "01-ab.notanumber.1.2").is_none());
    }
}
