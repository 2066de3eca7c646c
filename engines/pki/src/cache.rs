//! What every issuing request reads, kept in the instance between calls:
//! roles, and per issuer reference the issuer's record, parsed
//! certificate, opened key handle, chain and URLs. A request then reads
//! one small storage key (the epoch) instead of the records, and opens no
//! key blob.
//!
//! The epoch (`config/epoch`) is a random token that every write of a
//! role, issuer, key, default or URL replaces (`bump`, called by the
//! writers in `store.rs`, `roles.rs` and `urls.rs`). The cache is trusted
//! only while the stored epoch is the one it was filled at. Tokens are
//! random, never counted up, so a token written by a call that was then
//! rolled back can never come back with other contents. Only paths that
//! write no configuration read through the cache, so what it holds was
//! read from committed storage.

use std::collections::HashMap;
use std::rc::Rc;

use coffer_sdk::prelude::*;

use crate::bundle::SigningIssuer;
use crate::roles::{self, Role};
use crate::x509::{Parsed, Urls};

const EPOCH: &str = "config/epoch";

/// Marks the configuration changed (see the module doc).
pub fn bump(ctx: &mut Ctx<'_>) -> Result<(), Error> {
    let token = coffer_sdk::crypto::random_bytes(8)?;
    ctx.storage().put(EPOCH, &token)
}

/// An issuer ready to sign, with what answers show of it.
pub struct Signing {
    /// The issuer, its certificate and key.
    pub issuer: SigningIssuer,
    /// Its chain, itself first, as DER.
    pub chain: Vec<Vec<u8>>,
    /// Whether each chain entry is self-issued (a root).
    pub chain_roots: Vec<bool>,
    /// The URLs its certificates carry.
    pub urls: Urls,
}

#[derive(Default)]
struct Cache {
    epoch: Option<Vec<u8>>,
    roles: HashMap<String, Rc<Role>>,
    signing: HashMap<String, Rc<Signing>>,
}

fn current(ctx: &mut Ctx<'_>) -> Result<Rc<std::cell::RefCell<Cache>>, Error> {
    let epoch = ctx.storage().get(EPOCH)?.unwrap_or_default();
    let cache = ctx.state::<Cache>();
    if cache.borrow().epoch.as_deref() != Some(epoch.as_slice()) {
        *cache.borrow_mut() = Cache {
            epoch: Some(epoch),
            ..Cache::default()
        };
    }
    Ok(cache)
}

/// The role `name` (unknown: 400, as Vault answers).
pub fn role(ctx: &mut Ctx<'_>, name: &str) -> Result<Rc<Role>, Error> {
    let cache = current(ctx)?;
    if let Some(r) = cache.borrow().roles.get(name) {
        return Ok(r.clone());
    }
    let role = Rc::new(roles::require(ctx, name)?);
    cache
        .borrow_mut()
        .roles
        .insert(name.to_owned(), role.clone());
    Ok(role)
}

/// The issuer `reference` names, ready to sign.
pub fn signing(ctx: &mut Ctx<'_>, reference: &str) -> Result<Rc<Signing>, Error> {
    let cache = current(ctx)?;
    if let Some(s) = cache.borrow().signing.get(reference) {
        return Ok(s.clone());
    }
    let issuer = SigningIssuer::load(ctx, reference)?;
    let mut chain = Vec::new();
    let mut chain_roots = Vec::new();
    for pem_text in crate::store::chain(ctx, &issuer.entry)? {
        let der = crate::pem::single(&pem_text, &["CERTIFICATE"], "chain")?;
        chain_roots.push(Parsed::from_der(&der).is_ok_and(|c| c.self_issued()));
        chain.push(der);
    }
    let urls = crate::bundle::urls_for(ctx, &issuer.entry)?;
    let s = Rc::new(Signing {
        issuer,
        chain,
        chain_roots,
        urls,
    });
    cache
        .borrow_mut()
        .signing
        .insert(reference.to_owned(), s.clone());
    Ok(s)
}
