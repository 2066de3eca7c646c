//! A test engine written on the SDK's contract 0.2, so that the SDK's glue
//! is tested against the real host (`tests/e2e/sdk02.rs`). Its paths,
//! relative to the mount:
//!
//! - `public/whoami` (unauthenticated) and `whoami`: what the handler was
//!   told (caller, the `x-test-header` request header, request id,
//!   content type of a raw body);
//! - `cert/{serial}/der` (unauthenticated): a raw body with its content
//!   type and `cache-control`;
//! - `ocsp` (write, raw `application/ocsp-request`): the body reversed,
//!   as `application/ocsp-response`;
//! - `root/{name}` (sudo, write): `{"sudo": true}`;
//! - `items/{name}` (write): stores it, answers 201 with a `location`;
//!   `LIST items` pages with `after` and `limit`;
//! - `queued` (write): 202, no body; `hsm`: 503; `teapot`: 418.
#![deny(missing_docs)]
#![deny(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use coffer_sdk::prelude::*;
use serde_json::json;

/// The path table.
#[coffer_sdk::engine]
pub fn engine() -> Engine {
    Engine::new()
        .request_headers(&["x-test-header"])
        .path(Path::new("public/whoami").unauthenticated().read(whoami))
        .path(Path::new("whoami").read(whoami))
        .path(Path::new("cert/{serial}/der").unauthenticated().read(cert))
        .path(
            Path::new("ocsp")
                .raw_body("application/ocsp-request")
                .update(ocsp),
        )
        .path(Path::new("root/{name}").sudo().update(root))
        .path(Path::new("items/{name}").update(item))
        .path(Path::new("items").list(items))
        .path(Path::new("queued").update(queued))
        .path(Path::new("hsm").read(hsm))
        .path(Path::new("teapot").read(teapot))
}

/// A certificate.
#[derive(Fields)]
struct Serial {
    /// Its serial number.
    serial: String,
}

/// An item.
#[derive(Fields)]
struct Name {
    /// Its name.
    name: String,
}

/// A page of items.
#[derive(Fields)]
struct Page {
    /// Start after this one.
    after: Option<String>,
    /// At most this many.
    #[field(default = 100)]
    limit: u32,
}

fn whoami(ctx: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
    let caller = match ctx.caller() {
        Caller::Unauthenticated => json!("unauthenticated"),
        Caller::Token(t) => json!({
            "display_name": t.display_name,
            "policies": t.policies,
            "accessor_set": !t.accessor.is_empty(),
        }),
    };
    Ok(Response::data(json!({
        "caller": caller,
        "x_test_header": ctx.header("x-test-header"),
        "headers": ctx.headers().len(),
        "id_set": !ctx.request_id().is_empty(),
        "mount_path": ctx.mount_path(),
    })))
}

fn cert(_: &mut Ctx<'_>, f: Serial) -> Result<Response, Error> {
    Ok(
        Response::raw("application/pkix-cert", f.serial.into_bytes())
            .with_header("cache-control", "max-age=60"),
    )
}

fn ocsp(ctx: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
    let raw = ctx
        .raw_body()
        .ok_or_else(|| Error::invalid("expected an application/ocsp-request body"))?;
    let mut answer = raw.bytes.clone();
    answer.reverse();
    Ok(Response::raw("application/ocsp-response", answer))
}

fn root(_: &mut Ctx<'_>, _: Name) -> Result<Response, Error> {
    Ok(Response::data(json!({ "sudo": true })))
}

fn item(ctx: &mut Ctx<'_>, f: Name) -> Result<Response, Error> {
    ctx.storage().put(&format!("items/{}", f.name), b"x")?;
    let location = format!("/v1/{}items/{}", ctx.mount_path(), f.name);
    Ok(Response::data(json!({ "name": f.name }))
        .with_status(201)
        .with_header("location", location))
}

fn items(ctx: &mut Ctx<'_>, f: Page) -> Result<Response, Error> {
    let after = f.after.unwrap_or_default();
    Ok(Response::list(
        ctx.storage().list_page("items/", &after, f.limit)?,
    ))
}

fn queued(_: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
    Ok(Response::none().with_status(202))
}

fn hsm(_: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
    Err(Error::unavailable("the test HSM cannot be reached"))
}

fn teapot(_: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
    Err(Error::with_status(418, "short and stout"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn path_table_is_valid() {
        coffer_sdk::testing::assert_paths_valid(&super::engine());
    }
}
