//! The certificate store: `certs/<serial>` holds each stored certificate's
//! DER (serials with hyphens in keys, colons on the wire). `LIST certs`,
//! `cert/:serial` (JSON, `/raw` DER, `/raw/pem`), and the fixed names
//! `cert/ca`, `cert/ca_chain`, `cert/crl`, `cert/delta-crl`.

use coffer_sdk::prelude::*;
use serde_json::json;

use crate::serial;
use crate::store;
use crate::x509::Parsed;

const PREFIX: &str = "certs/";

/// `LIST certs`.
pub fn list_path() -> Path {
    Path::new("certs/")
        .list(list)
        .synopsis("Fetch a list of all issued certificates.")
}

/// `LIST certs/revoked`.
pub fn revoked_list_path() -> Path {
    Path::new("certs/revoked/")
        .list(|ctx, _: ()| {
            let serials = crate::revoke::all(ctx)?
                .into_iter()
                .map(|r| r.serial)
                .collect();
            Ok(Response::list(serials))
        })
        .synopsis("Fetch a list of all revoked certificates.")
}

/// `cert/:serial`, `cert/:serial/raw`, `cert/:serial/raw/pem`.
pub fn fetch_paths() -> [Path; 3] {
    [
        Path::new("cert/{serial}").read(read_json),
        Path::new("cert/{serial}/raw").read(read_der),
        Path::new("cert/{serial}/raw/pem").read(read_pem),
    ]
    .map(|p| {
        p.unauthenticated()
            .synopsis("Fetch a CA, CRL, CA Chain, or non-revoked certificate.")
    })
}

/// `cert/ca`, `cert/ca_chain`, `cert/crl`, `cert/delta-crl`.
pub fn fixed_paths() -> [Path; 4] {
    [
        Path::new("cert/ca").read(ca),
        Path::new("cert/ca_chain").read(ca_chain),
        Path::new("cert/crl").read(|ctx, _: ()| crl_json(ctx, false)),
        Path::new("cert/delta-crl").read(|ctx, _: ()| crl_json(ctx, true)),
    ]
    .map(|p| {
        p.unauthenticated()
            .synopsis("Fetch a CA, CRL, CA Chain, or non-revoked certificate.")
    })
}

#[derive(Fields)]
struct Serial {
    /// The certificate's serial, colon- or hyphen-separated hex.
    serial: String,
}

/// Stores a certificate under its serial.
pub fn store(ctx: &mut Ctx<'_>, cert: &Parsed) -> Result<(), Error> {
    let key = format!("{PREFIX}{}", serial::storage_form(&cert.serial()));
    ctx.storage().put(&key, &cert.der)
}

/// The stored certificate with this (canonical) serial.
pub fn load(ctx: &mut Ctx<'_>, colon: &str) -> Result<Option<Vec<u8>>, Error> {
    ctx.storage()
        .get(&format!("{PREFIX}{}", serial::storage_form(colon)))
}

/// Every stored serial, canonical form.
pub fn serials(ctx: &mut Ctx<'_>) -> Result<Vec<String>, Error> {
    Ok(ctx
        .storage()
        .list(PREFIX)?
        .into_iter()
        .map(|k| k.replace('-', ":"))
        .collect())
}

fn list(ctx: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
    Ok(Response::list(serials(ctx)?))
}

fn found(ctx: &mut Ctx<'_>, f: &Serial) -> Result<(String, Vec<u8>), Error> {
    let colon = serial::normalize(&f.serial)?;
    match load(ctx, &colon)? {
        Some(der) => Ok((colon, der)),
        None => Err(Error::not_found()),
    }
}

fn read_json(ctx: &mut Ctx<'_>, f: Serial) -> Result<Response, Error> {
    let (colon, der) = found(ctx, &f)?;
    let mut data = json!({
        "certificate": crate::pem::encode("CERTIFICATE", &der),
        "revocation_time": 0,
        "revocation_time_rfc3339": "",
    });
    if let Some(r) = crate::revoke::load(ctx, &colon)? {
        data["revocation_time"] = json!(r.revocation_time);
        data["revocation_time_rfc3339"] = json!(crate::time::rfc3339(r.revocation_time));
        data["issuer_id"] = json!(r.issuer_id);
    }
    Ok(Response::data(data))
}

/// The DER a raw form serves: a stored certificate, or for the names
/// `ca` and `crl` the default issuer's certificate or CRL; none (an empty
/// 204, as Vault answers) when there is nothing.
fn raw_der(ctx: &mut Ctx<'_>, f: &Serial) -> Result<Option<(Vec<u8>, bool)>, Error> {
    match f.serial.as_str() {
        "ca" => Ok(crate::issuers::default_issuer(ctx)?.map(|i| (i.certificate, false))),
        "crl" => match crate::issuers::default_issuer(ctx)? {
            Some(i) => Ok(Some((crate::crl::current(ctx, &i, false)?, true))),
            None => Ok(None),
        },
        other => {
            let colon = serial::normalize(other)?;
            Ok(load(ctx, &colon)?.map(|der| (der, false)))
        }
    }
}

fn read_der(ctx: &mut Ctx<'_>, f: Serial) -> Result<Response, Error> {
    Ok(match raw_der(ctx, &f)? {
        Some((der, false)) => Response::raw("application/pkix-cert", der),
        Some((der, true)) => Response::raw("application/pkix-crl", der),
        None => Response::none(),
    })
}

fn read_pem(ctx: &mut Ctx<'_>, f: Serial) -> Result<Response, Error> {
    Ok(match raw_der(ctx, &f)? {
        Some((der, false)) => Response::raw(
            "application/pem-certificate-chain",
            crate::pem::encode("CERTIFICATE", &der),
        ),
        Some((der, true)) => Response::raw(
            "application/x-pem-file",
            crate::pem::encode("X509 CRL", &der),
        ),
        None => Response::none(),
    })
}

fn ca(ctx: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
    let issuer = store::resolve_issuer(ctx, "default")?;
    Ok(Response::data(json!({
        "certificate": issuer.pem(),
        "revocation_time": 0,
        "revocation_time_rfc3339": "",
    })))
}

fn ca_chain(ctx: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
    let issuer = store::resolve_issuer(ctx, "default")?;
    let chain = store::chain(ctx, &issuer)?;
    Ok(Response::data(json!({
        "certificate": issuer.pem(),
        "ca_chain": chain.concat(),
        "revocation_time": 0,
        "revocation_time_rfc3339": "",
    })))
}

/// `cert/crl` and `cert/delta-crl`: the default issuer's CRL as PEM in the
/// shape of a certificate read.
fn crl_json(ctx: &mut Ctx<'_>, delta: bool) -> Result<Response, Error> {
    let issuer = store::resolve_issuer(ctx, "default")?;
    let der = crate::crl::current(ctx, &issuer, delta)?;
    Ok(Response::data(json!({
        "certificate": crate::pem::encode("X509 CRL", &der),
        "revocation_time": 0,
        "revocation_time_rfc3339": "",
    })))
}
