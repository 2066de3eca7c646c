//! CRLs: one per issuer, signed by that issuer's key through the host.
//! A revoke only marks its issuer's CRL stale (`crl-stale/<issuer>`); the
//! next CRL read, `crl/rotate` or periodic tick rebuilds it from the
//! revocation records, in time linear in the revocations. A delta CRL
//! lists what was revoked since the last full CRL.
//!
//! Paths: `crl`, `crl/pem`, `crl/delta`, `crl/delta/pem`,
//! `issuer/:ref/crl(/der|/pem)`, `issuer/:ref/crl/delta(/der|/pem)`,
//! `crl/rotate`, `crl/rotate-delta`, `config/crl`.

use coffer_sdk::prelude::*;
use der::asn1::{BitString, OctetString};
use der::Encode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, CrlNumber};
use x509_cert::serial_number::SerialNumber;

use crate::alg::signer;
use crate::store::{self, IssuerEntry};
use crate::x509::{extension, time};

const CONFIG: &str = "config/crl";
const STALE: &str = "crl-stale/";
const STATE: &str = "crl-state/";
const FULL: &str = "crl-full/";
const DELTA: &str = "crl-delta/";

/// `config/crl`.
pub fn config_path() -> Path {
    Path::new("config/crl")
        .read(read_config)
        .update(write_config)
        .synopsis("Configure the CRL expiration.")
}

/// The default issuer's CRL: `crl`, `crl/pem`, `crl/delta`, `crl/delta/pem`.
pub fn default_paths() -> [Path; 4] {
    [
        Path::new("crl").read(|ctx, _: ()| raw(ctx, "default", false, false)),
        Path::new("crl/pem").read(|ctx, _: ()| raw(ctx, "default", false, true)),
        Path::new("crl/delta").read(|ctx, _: ()| raw(ctx, "default", true, false)),
        Path::new("crl/delta/pem").read(|ctx, _: ()| raw(ctx, "default", true, true)),
    ]
    .map(|p| p.unauthenticated().synopsis("Fetch the current CRL."))
}

#[derive(Fields)]
struct Ref {
    /// An issuer id, name or `default`.
    issuer_ref: String,
}

/// An issuer's CRL: `issuer/:ref/crl(/der|/pem)` and the delta forms.
pub fn issuer_paths() -> [Path; 6] {
    [
        Path::new("issuer/{issuer_ref}/crl")
            .read(|ctx, f: Ref| json_crl(ctx, &f.issuer_ref, false)),
        Path::new("issuer/{issuer_ref}/crl/der")
            .read(|ctx, f: Ref| raw(ctx, &f.issuer_ref, false, false)),
        Path::new("issuer/{issuer_ref}/crl/pem")
            .read(|ctx, f: Ref| raw(ctx, &f.issuer_ref, false, true)),
        Path::new("issuer/{issuer_ref}/crl/delta")
            .read(|ctx, f: Ref| json_crl(ctx, &f.issuer_ref, true)),
        Path::new("issuer/{issuer_ref}/crl/delta/der")
            .read(|ctx, f: Ref| raw(ctx, &f.issuer_ref, true, false)),
        Path::new("issuer/{issuer_ref}/crl/delta/pem")
            .read(|ctx, f: Ref| raw(ctx, &f.issuer_ref, true, true)),
    ]
    .map(|p| p.unauthenticated().synopsis("Fetch an issuer's CRL."))
}

/// `crl/rotate` and `crl/rotate-delta`.
pub fn rotate_paths() -> [Path; 2] {
    [
        Path::new("crl/rotate").read(|ctx, _: ()| rotate(ctx, false)),
        Path::new("crl/rotate-delta").read(|ctx, _: ()| rotate(ctx, true)),
    ]
    .map(|p| p.synopsis("Force a rebuild of the CRL."))
}

/// `config/crl` as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// How long a CRL is valid.
    pub expiry: String,
    /// Serve empty CRLs.
    pub disable: bool,
    /// OpenBao's automatic rebuild.
    pub auto_rebuild: bool,
    /// How long before expiry an automatic rebuild happens.
    pub auto_rebuild_grace_period: String,
    /// Whether delta CRLs are built.
    pub enable_delta: bool,
    /// How often delta CRLs are rebuilt.
    pub delta_rebuild_interval: String,
    /// OCSP off.
    pub ocsp_disable: bool,
    /// OCSP response lifetime.
    pub ocsp_expiry: String,
    /// Whether expired certificates may be revoked.
    pub allow_expired_cert_revocation: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            expiry: "72h".into(),
            disable: false,
            auto_rebuild: false,
            auto_rebuild_grace_period: "12h".into(),
            enable_delta: false,
            delta_rebuild_interval: "15m".into(),
            ocsp_disable: false,
            ocsp_expiry: "12h".into(),
            allow_expired_cert_revocation: false,
        }
    }
}

#[derive(Fields)]
struct WriteConfig {
    /// CRL lifetime.
    expiry: Option<String>,
    /// Serve empty CRLs.
    disable: Option<bool>,
    /// Rebuild automatically.
    auto_rebuild: Option<bool>,
    /// Grace period of automatic rebuilds.
    auto_rebuild_grace_period: Option<String>,
    /// Build delta CRLs.
    enable_delta: Option<bool>,
    /// Delta rebuild interval.
    delta_rebuild_interval: Option<String>,
    /// OCSP off.
    ocsp_disable: Option<bool>,
    /// OCSP response lifetime.
    ocsp_expiry: Option<String>,
    /// Allow revoking expired certificates.
    allow_expired_cert_revocation: Option<bool>,
}

/// The mount's CRL settings.
pub fn config(ctx: &mut Ctx<'_>) -> Result<Config, Error> {
    Ok(ctx.storage().get_json(CONFIG)?.unwrap_or_default())
}

fn duration(text: &str, field: &str) -> Result<u64, Error> {
    DurationSeconds::parse(text)
        .map(|d| d.as_secs())
        .map_err(|_| {
            Error::invalid(format!(
                "given {field} could not be decoded: time: invalid duration {text:?}"
            ))
        })
}

fn read_config(ctx: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
    Response::json(&config(ctx)?)
}

fn write_config(ctx: &mut Ctx<'_>, f: WriteConfig) -> Result<Response, Error> {
    let mut c = config(ctx)?;
    for (given, slot, field) in [
        (f.expiry, &mut c.expiry, "expiry"),
        (
            f.auto_rebuild_grace_period,
            &mut c.auto_rebuild_grace_period,
            "auto_rebuild_grace_period",
        ),
        (
            f.delta_rebuild_interval,
            &mut c.delta_rebuild_interval,
            "delta_rebuild_interval",
        ),
        (f.ocsp_expiry, &mut c.ocsp_expiry, "ocsp_expiry"),
    ] {
        if let Some(v) = given {
            duration(&v, field)?;
            *slot = v;
        }
    }
    for (given, slot) in [
        (f.disable, &mut c.disable),
        (f.auto_rebuild, &mut c.auto_rebuild),
        (f.enable_delta, &mut c.enable_delta),
        (f.ocsp_disable, &mut c.ocsp_disable),
        (
            f.allow_expired_cert_revocation,
            &mut c.allow_expired_cert_revocation,
        ),
    ] {
        if let Some(v) = given {
            *slot = v;
        }
    }
    if c.enable_delta && !c.auto_rebuild {
        return Err(Error::invalid(
            "Delta CRLs cannot be enabled when auto rebuilding is disabled as the complete CRL is always regenerated!",
        ));
    }
    if c.auto_rebuild
        && duration(&c.auto_rebuild_grace_period, "auto_rebuild_grace_period")?
            >= duration(&c.expiry, "expiry")?
    {
        return Err(Error::invalid(
            "CRL auto-rebuilding grace period must be strictly less than CRL expiry",
        ));
    }
    ctx.storage().put_json(CONFIG, &c)?;
    for id in store::issuer_ids(ctx)? {
        mark_stale(ctx, &id)?;
    }
    Response::json(&c)
}

/// Marks an issuer's CRLs for a rebuild.
pub fn mark_stale(ctx: &mut Ctx<'_>, issuer_id: &str) -> Result<(), Error> {
    ctx.storage().put(&format!("{STALE}{issuer_id}"), b"1")
}

/// What the last full build left: its number and time.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    /// The last number used (full and delta CRLs share the sequence).
    number: u64,
    /// When the last full CRL was built (seconds).
    full_built_at: u64,
    /// The same in nanoseconds: a delta lists what was revoked after it.
    #[serde(default)]
    full_built_at_ns: u64,
    /// The full CRL's number (a delta's base).
    full_number: u64,
}

/// The issuer's current full (or delta) CRL's DER. A stale or missing
/// one is rebuilt first, except that with `auto_rebuild` the full CRL
/// changes only on `crl/rotate` or near its expiry (periodic), and with
/// `enable_delta` too a revoke is taken in by rebuilding the delta alone.
pub fn current(ctx: &mut Ctx<'_>, issuer: &IssuerEntry, delta: bool) -> Result<Vec<u8>, Error> {
    let cfg = config(ctx)?;
    let stale = ctx
        .storage()
        .get(&format!("{STALE}{}", issuer.id))?
        .is_some();
    let slot = if delta { DELTA } else { FULL };
    let stored = ctx.storage().get(&format!("{slot}{}", issuer.id))?;
    match stored {
        None => rebuild(ctx, issuer)?,
        Some(der) if !stale => return Ok(der),
        Some(der) if cfg.auto_rebuild && !delta => return Ok(der),
        Some(_) if cfg.auto_rebuild && cfg.enable_delta => rebuild_delta(ctx, issuer)?,
        Some(_) => rebuild(ctx, issuer)?,
    }
    ctx.storage()
        .get(&format!("{slot}{}", issuer.id))?
        .ok_or_else(|| Error::internal("the CRL was not written"))
}

fn state(ctx: &mut Ctx<'_>, issuer: &IssuerEntry) -> Result<State, Error> {
    Ok(ctx
        .storage()
        .get_json(&format!("{STATE}{}", issuer.id))?
        .unwrap_or_default())
}

/// The revocations an issuer's CRL lists (none when CRLs are disabled).
fn revoked_by(
    ctx: &mut Ctx<'_>,
    issuer: &IssuerEntry,
    cfg: &Config,
) -> Result<Vec<crate::revoke::Revoked>, Error> {
    if cfg.disable {
        return Ok(Vec::new());
    }
    crate::revoke::of_issuer(ctx, &issuer.id)
}

/// Builds an issuer's full CRL, and a delta on it, from the revocation
/// records.
pub fn rebuild(ctx: &mut Ctx<'_>, issuer: &IssuerEntry) -> Result<(), Error> {
    let cfg = config(ctx)?;
    let now_ts = ctx.now();
    let now = now_ts.seconds;
    let mut st = state(ctx, issuer)?;
    let revoked = revoked_by(ctx, issuer, &cfg)?;
    let expiry = duration(&cfg.expiry, "expiry")?;
    st.number += 1;
    let full = sign(ctx, issuer, &revoked, now, now + expiry, st.number, None)?;
    st.full_built_at = now;
    st.full_built_at_ns = crate::revoke::nanos(now_ts);
    st.full_number = st.number;
    ctx.storage().put(&format!("{FULL}{}", issuer.id), &full)?;
    ctx.storage()
        .put_json(&format!("{STATE}{}", issuer.id), &st)?;
    rebuild_delta(ctx, issuer)
}

/// Builds an issuer's delta CRL: what was revoked since its full CRL.
pub fn rebuild_delta(ctx: &mut Ctx<'_>, issuer: &IssuerEntry) -> Result<(), Error> {
    let cfg = config(ctx)?;
    let now = ctx.now().seconds;
    let mut st = state(ctx, issuer)?;
    let since = st.full_built_at_ns;
    let entries: Vec<_> = revoked_by(ctx, issuer, &cfg)?
        .into_iter()
        .filter(|r| r.revoked_at_ns > since)
        .collect();
    let expiry = duration(&cfg.expiry, "expiry")?;
    st.number += 1;
    let delta = sign(
        ctx,
        issuer,
        &entries,
        now,
        now + expiry,
        st.number,
        Some(st.full_number),
    )?;
    ctx.storage()
        .put(&format!("{DELTA}{}", issuer.id), &delta)?;
    ctx.storage()
        .put_json(&format!("{STATE}{}", issuer.id), &st)?;
    ctx.storage().delete(&format!("{STALE}{}", issuer.id))?;
    Ok(())
}

/// The delta CRL indicator extension (RFC 5280 5.2.4): the base number.
#[derive(Debug, Clone, Copy)]
struct DeltaIndicator(u64);

impl der::oid::AssociatedOid for DeltaIndicator {
    const OID: der::asn1::ObjectIdentifier = der::asn1::ObjectIdentifier::new_unwrap("2.5.29.27");
}

impl Encode for DeltaIndicator {
    fn encoded_len(&self) -> der::Result<der::Length> {
        self.0.encoded_len()
    }
    fn encode(&self, w: &mut impl der::Writer) -> der::Result<()> {
        self.0.encode(w)
    }
}

fn crl_number(n: u64) -> Result<CrlNumber, Error> {
    let bytes = n.to_be_bytes();
    let start = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len() - 1);
    der::asn1::Uint::new(&bytes[start..])
        .map(CrlNumber)
        .map_err(|e| Error::internal(e.to_string()))
}

#[allow(clippy::too_many_arguments)]
fn sign(
    ctx: &mut Ctx<'_>,
    issuer: &IssuerEntry,
    revoked: &[crate::revoke::Revoked],
    this_update: u64,
    next_update: u64,
    number: u64,
    delta_of: Option<u64>,
) -> Result<Vec<u8>, Error> {
    if issuer.key_id.is_empty() {
        return Err(Error::invalid(format!(
            "issuer {} has no key on this mount and cannot sign a CRL",
            issuer.id
        )));
    }
    let key = store::key(ctx, &issuer.key_id)?
        .ok_or_else(|| Error::invalid(format!("the key of issuer {} is missing", issuer.id)))?
        .open()?;
    let cert = issuer.parsed()?;
    let (bits, pss) = if issuer.revocation_signature_algorithm.is_empty() {
        (0, false)
    } else {
        crate::alg::revocation_algorithm(&issuer.revocation_signature_algorithm)?
    };
    let s = signer(key.key_type()?, bits, pss)?;
    let mut entries = Vec::with_capacity(revoked.len());
    for r in revoked {
        let bytes = crate::serial::bytes(&r.serial)?;
        entries.push(RevokedCert {
            serial_number: SerialNumber::new(&bytes)
                .map_err(|e| Error::internal(format!("serial {}: {e}", r.serial)))?,
            revocation_date: time(r.revocation_time)?,
            crl_entry_extensions: None,
        });
    }
    let mut exts = vec![
        extension(
            &AuthorityKeyIdentifier {
                key_identifier: Some(
                    OctetString::new(cert.key_id()).map_err(|e| Error::internal(e.to_string()))?,
                ),
                ..Default::default()
            },
            false,
        )?,
        extension(&crl_number(number)?, false)?,
    ];
    if let Some(base) = delta_of {
        exts.push(extension(&DeltaIndicator(base), true)?);
    }
    let tbs = TbsCertList {
        version: x509_cert::Version::V2,
        signature: s.algorithm.clone(),
        issuer: cert.cert.tbs_certificate.subject.clone(),
        this_update: time(this_update)?,
        next_update: Some(time(next_update)?),
        revoked_certificates: if entries.is_empty() {
            None
        } else {
            Some(entries)
        },
        crl_extensions: Some(exts),
    };
    let tbs_der = tbs
        .to_der()
        .map_err(|e| Error::internal(format!("could not encode the CRL: {e}")))?;
    let signature = key.sign(&tbs_der, s.options)?;
    CertificateList {
        tbs_cert_list: tbs,
        signature_algorithm: s.algorithm,
        signature: BitString::from_bytes(&signature).map_err(|e| Error::internal(e.to_string()))?,
    }
    .to_der()
    .map_err(|e| Error::internal(format!("could not encode the CRL: {e}")))
}

fn raw(ctx: &mut Ctx<'_>, reference: &str, delta: bool, pem: bool) -> Result<Response, Error> {
    if reference == "default" && crate::issuers::default_issuer(ctx)?.is_none() {
        return Ok(Response::none());
    }
    let issuer = store::resolve_issuer(ctx, reference)?;
    let der = current(ctx, &issuer, delta)?;
    Ok(if pem {
        Response::raw(
            "application/x-pem-file",
            crate::pem::encode("X509 CRL", &der),
        )
    } else {
        Response::raw("application/pkix-crl", der)
    })
}

fn json_crl(ctx: &mut Ctx<'_>, reference: &str, delta: bool) -> Result<Response, Error> {
    let issuer = store::resolve_issuer(ctx, reference)?;
    let der = current(ctx, &issuer, delta)?;
    Ok(Response::data(json!({
        "crl": crate::pem::encode("X509 CRL", &der),
    })))
}

fn rotate(ctx: &mut Ctx<'_>, delta: bool) -> Result<Response, Error> {
    for issuer in store::issuers(ctx)? {
        if issuer.key_id.is_empty() {
            continue;
        }
        if delta {
            rebuild_delta(ctx, &issuer)?;
        } else {
            rebuild(ctx, &issuer)?;
        }
    }
    Ok(Response::data(json!({ "success": true })))
}

/// The periodic tick: rebuilds stale CRLs (only the delta under
/// `auto_rebuild` with `enable_delta`), and under `auto_rebuild` a full CRL
/// within its grace period of expiring.
pub fn periodic(ctx: &mut Ctx<'_>) -> Result<(), Error> {
    let cfg = config(ctx)?;
    for id in ctx.storage().list(STALE)? {
        match store::issuer(ctx, &id)? {
            Some(issuer) if !issuer.key_id.is_empty() => {
                if cfg.auto_rebuild && cfg.enable_delta {
                    rebuild_delta(ctx, &issuer)?;
                } else if !cfg.auto_rebuild {
                    rebuild(ctx, &issuer)?;
                }
            }
            _ => ctx.storage().delete(&format!("{STALE}{id}"))?,
        }
    }
    if cfg.auto_rebuild {
        let now = ctx.now().seconds;
        let lifetime = duration(&cfg.expiry, "expiry")?;
        let grace = duration(&cfg.auto_rebuild_grace_period, "auto_rebuild_grace_period")?;
        for issuer in store::issuers(ctx)? {
            if issuer.key_id.is_empty() {
                continue;
            }
            let st = state(ctx, &issuer)?;
            if st.full_built_at + lifetime.saturating_sub(grace) <= now {
                rebuild(ctx, &issuer)?;
            }
        }
    }
    Ok(())
}
