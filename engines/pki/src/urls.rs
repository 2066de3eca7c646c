//! `config/urls`: the AIA and CRL distribution URLs written into
//! certificates issued by issuers that have none of their own.

use coffer_sdk::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::x509::Urls;

const KEY: &str = "config/urls";

/// `config/urls`.
pub fn path() -> Path {
    Path::new("config/urls")
        .read(read)
        .update(write)
        .synopsis("Set the URLs for the issuing CA, CRL distribution points, and OCSP servers.")
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Stored {
    #[serde(flatten)]
    urls: Urls,
    #[serde(default)]
    enable_templating: bool,
}

#[derive(Fields)]
struct Write {
    /// caIssuers URLs.
    issuing_certificates: Option<CommaList>,
    /// CRL distribution points.
    crl_distribution_points: Option<CommaList>,
    /// OCSP servers.
    ocsp_servers: Option<CommaList>,
    /// Delta CRL distribution points.
    delta_crl_distribution_points: Option<CommaList>,
    /// Whether the URLs are templates.
    enable_templating: Option<bool>,
}

/// The mount's URLs.
pub fn load(ctx: &mut Ctx<'_>) -> Result<Urls, Error> {
    Ok(stored(ctx)?.urls)
}

fn stored(ctx: &mut Ctx<'_>) -> Result<Stored, Error> {
    Ok(ctx.storage().get_json(KEY)?.unwrap_or_default())
}

/// Checks that each of `urls` parses as an absolute URL with a scheme.
pub fn check(urls: &[String], field: &str) -> Result<(), Error> {
    for u in urls {
        let ok = u
            .split_once("://")
            .is_some_and(|(scheme, rest)| !scheme.is_empty() && !rest.is_empty() && u.is_ascii());
        if !ok {
            return Err(Error::invalid(format!("invalid URL in {field}: {u:?}")));
        }
    }
    Ok(())
}

fn answer(s: &Stored) -> Response {
    Response::data(json!({
        "issuing_certificates": s.urls.issuing_certificates,
        "crl_distribution_points": s.urls.crl_distribution_points,
        "ocsp_servers": s.urls.ocsp_servers,
        "delta_crl_distribution_points": s.urls.delta_crl_distribution_points,
        "enable_templating": s.enable_templating,
    }))
}

fn read(ctx: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
    Ok(answer(&stored(ctx)?))
}

fn write(ctx: &mut Ctx<'_>, f: Write) -> Result<Response, Error> {
    let mut s = stored(ctx)?;
    for (given, slot, field) in [
        (
            f.issuing_certificates,
            &mut s.urls.issuing_certificates,
            "issuing_certificates",
        ),
        (
            f.crl_distribution_points,
            &mut s.urls.crl_distribution_points,
            "crl_distribution_points",
        ),
        (f.ocsp_servers, &mut s.urls.ocsp_servers, "ocsp_servers"),
        (
            f.delta_crl_distribution_points,
            &mut s.urls.delta_crl_distribution_points,
            "delta_crl_distribution_points",
        ),
    ] {
        if let Some(list) = given {
            check(&list.0, field)?;
            *slot = list.0;
        }
    }
    if let Some(t) = f.enable_templating {
        s.enable_templating = t;
    }
    crate::cache::bump(ctx)?;
    ctx.storage().put_json(KEY, &s)?;
    Ok(answer(&s))
}

/// Whether the mount has any AIA URL (else generation warns).
pub fn any_configured(ctx: &mut Ctx<'_>) -> Result<bool, Error> {
    let s = stored(ctx)?;
    Ok(!s.urls.issuing_certificates.is_empty()
        || !s.urls.crl_distribution_points.is_empty()
        || !s.urls.ocsp_servers.is_empty())
}
