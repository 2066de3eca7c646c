//! Vault's PKI secrets engine, multi-issuer: a certificate authority with
//! several issuers and keys per mount, roles, issuance and signing,
//! revocation and CRLs. Certificates and CRLs are built here as DER; every
//! signature is made by the host through a key handle (contract 0.2), so
//! no issuer's private key ever enters the engine.
//!
//! This file is the path table; each path group has its own file.
#![recursion_limit = "256"]
#![deny(missing_docs)]
#![deny(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use coffer_sdk::Engine;

mod alg;
mod bundle;
mod cache;
mod certs;
mod crl;
mod csr;
mod generate;
mod issue;
mod issuers;
mod keys;
mod names;
mod pem;
mod revoke;
mod roles;
mod serial;
mod store;
mod tidy;
mod time;
mod urls;
mod verify;
mod x509;

/// The path table.
#[coffer_sdk::engine]
pub fn engine() -> Engine {
    let mut e = Engine::new()
        .path(generate::root_path())
        .path(generate::issuers_root_path())
        .path(generate::intermediate_path())
        .path(generate::issuers_intermediate_path())
        .path(issuers::list_path())
        .path(issuers::path())
        .path(issuers::revoke_path())
        .path(issuers::config_path())
        .path(issuers::root_path())
        .path(keys::list_path())
        .path(keys::path())
        .path(keys::generate_path())
        .path(keys::import_path())
        .path(keys::config_path())
        .path(roles::path())
        .path(roles::list_path())
        .path(urls::path())
        .path(crl::config_path())
        .path(certs::list_path())
        .path(certs::revoked_list_path())
        .path(revoke::path())
        .path(generate::cross_sign_path())
        .path(tidy::path())
        .path(tidy::status_path())
        .periodic(periodic);
    let groups: Vec<Vec<coffer_sdk::Path>> = vec![
        issuers::fetch_paths().into(),
        issuers::ca_paths().into(),
        issuers::import_paths().into(),
        issue::issue_paths().into(),
        issue::sign_paths().into(),
        issue::verbatim_paths().into(),
        issue::intermediate_paths().into(),
        issue::self_issued_paths().into(),
        certs::fetch_paths().into(),
        certs::fixed_paths().into(),
        crl::default_paths().into(),
        crl::issuer_paths().into(),
        crl::rotate_paths().into(),
    ];
    for p in groups.into_iter().flatten() {
        e = e.path(p);
    }
    e
}

/// The periodic tick: stale CRLs, then a slice of a running tidy.
fn periodic(ctx: &mut coffer_sdk::Ctx<'_>) -> Result<(), coffer_sdk::Error> {
    crl::periodic(ctx)?;
    tidy::advance(ctx, 5)
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths_are_valid() {
        coffer_sdk::testing::assert_paths_valid(&super::engine());
    }
}
