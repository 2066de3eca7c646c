//! Keys: `LIST keys`, `key/:ref` (read, update, delete),
//! `keys/generate/:type`, `keys/import`, `config/keys`. A key is the
//! host's; the mount keeps its sealed blob.

use coffer_sdk::prelude::*;
use serde_json::{json, Map};

use crate::bundle;
use crate::generate::{KeyFields, Source};
use crate::store;

/// `LIST keys`.
pub fn list_path() -> Path {
    Path::new("keys/")
        .list(list)
        .synopsis("Fetch a list of all issuer keys.")
}

/// `key/:ref`.
pub fn path() -> Path {
    Path::new("key/{key_ref}")
        .read(read)
        .update(|ctx, mut f: Update| {
            // POST replaces: no name given clears it (PATCH keeps it).
            f.key_name.get_or_insert_with(String::new);
            update(ctx, f)
        })
        .patch(update)
        .delete(delete)
        .synopsis("Fetch a single issuer key.")
}

/// `keys/generate/:type`.
pub fn generate_path() -> Path {
    Path::new("keys/generate/{exported}")
        .update(generate)
        .synopsis("Generate a new private key used for signing.")
}

/// `keys/import`.
pub fn import_path() -> Path {
    Path::new("keys/import")
        .update(import)
        .synopsis("Import the specified key.")
}

/// `config/keys`.
pub fn config_path() -> Path {
    Path::new("config/keys")
        .read(read_config)
        .update(write_config)
        .synopsis("Read and set the default key used for signing.")
}

#[derive(Fields)]
struct Ref {
    /// A key id, name or `default`.
    key_ref: String,
}

#[derive(Fields)]
struct Update {
    /// A key id, name or `default`.
    key_ref: String,
    /// New name.
    key_name: Option<String>,
}

#[derive(Fields)]
struct Generate {
    #[field(flatten)]
    key: KeyFields,
}

#[derive(Fields)]
struct Import {
    /// The private key (PEM).
    #[field(required)]
    pem_bundle: String,
    /// Name of the key.
    key_name: Option<String>,
}

#[derive(Fields)]
struct WriteConfig {
    /// The default key (reference).
    default: Option<String>,
}

fn list(ctx: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
    let default = store::keys_config(ctx)?.default;
    let mut keys = Vec::new();
    let mut info = Map::new();
    for id in store::key_ids(ctx)? {
        if let Some(k) = store::key(ctx, &id)? {
            info.insert(
                id.clone(),
                json!({ "key_name": k.name, "is_default": id == default }),
            );
            keys.push(id);
        }
    }
    if keys.is_empty() {
        return Err(Error::not_found());
    }
    Ok(Response::data(json!({ "keys": keys, "key_info": info })))
}

fn describe(k: &store::KeyEntry) -> Result<serde_json::Value, Error> {
    use der::Decode;
    let spki = x509_cert::spki::SubjectPublicKeyInfoOwned::from_der(&k.spki)
        .map_err(|e| Error::internal(e.to_string()))?;
    let mut described = json!({
        "key_id": k.id,
        "key_name": k.name,
        "key_type": bundle::kind_name(k.key_type),
        "subject_key_id": crate::serial::colon_hex(&crate::x509::key_id(&spki)),
    });
    if let Some(reference) = &k.managed {
        described[reference.field()] = json!(reference.value());
    }
    Ok(described)
}

fn read(ctx: &mut Ctx<'_>, f: Ref) -> Result<Response, Error> {
    let k = store::resolve_key(ctx, &f.key_ref)?;
    Ok(Response::data(describe(&k)?))
}

fn update(ctx: &mut Ctx<'_>, f: Update) -> Result<Response, Error> {
    let mut k = store::resolve_key(ctx, &f.key_ref)?;
    if let Some(name) = f.key_name {
        let name = name.trim().to_owned();
        store::check_name(&name, "key")?;
        if !name.is_empty() {
            for id in store::key_ids(ctx)? {
                if id != k.id && store::key(ctx, &id)?.is_some_and(|o| o.name == name) {
                    return Err(Error::invalid(format!("key name already in use: {name}")));
                }
            }
        }
        k.name = name;
    }
    store::put_key(ctx, &k)?;
    Ok(Response::data(describe(&k)?))
}

fn delete(ctx: &mut Ctx<'_>, f: Ref) -> Result<Response, Error> {
    let k = match store::resolve_key(ctx, &f.key_ref) {
        Ok(k) => k,
        Err(_) if f.key_ref != "default" => return Ok(Response::none()),
        Err(e) => return Err(e),
    };
    let users: Vec<String> = store::issuers(ctx)?
        .into_iter()
        .filter(|i| i.key_id == k.id)
        .map(|i| i.id)
        .collect();
    if !users.is_empty() {
        return Err(Error::invalid(format!(
            "Failed to Delete Key.  Key in Use by Issuer: {}",
            users.join(", ")
        )));
    }
    store::delete_key(ctx, &k.id)?;
    Ok(Response::none())
}

fn generate(ctx: &mut Ctx<'_>, f: Generate) -> Result<Response, Error> {
    let source = f.key.source()?;
    if source == Source::Existing {
        return Err(Error::invalid(
            "keys/generate takes internal, exported or kms, not existing",
        ));
    }
    let name = f.key.key_name.clone().unwrap_or_default();
    store::check_name(&name, "key")?;
    let (key, (entry, _)) = match source {
        Source::Kms => {
            let (key, reference) = f.key.managed_key()?;
            let stored = store::store_managed_key(ctx, &key, reference, &name)?;
            (key, stored)
        }
        s => {
            let key = bundle::generate_key(f.key.kind()?, f.key.bits(), s == Source::Exported)?;
            let stored = store::store_key(ctx, &key, &name)?;
            (key, stored)
        }
    };
    let mut data = json!({
        "key_id": entry.id,
        "key_name": entry.name,
        "key_type": bundle::kind_name(entry.key_type),
    });
    if source == Source::Exported {
        let (pk, _) = bundle::private_key_out(&key, bundle::Format::Pem, f.key.private_key_format)?;
        data["private_key"] = json!(pk);
    }
    Ok(Response::data(data))
}

fn import(ctx: &mut Ctx<'_>, f: Import) -> Result<Response, Error> {
    let name = f.key_name.clone().unwrap_or_default();
    store::check_name(&name, "key")?;
    let blocks = crate::pem::blocks(&f.pem_bundle, "pem_bundle")?;
    let keys: Vec<_> = blocks
        .into_iter()
        .filter(|(l, _)| {
            matches!(
                l.as_str(),
                "RSA PRIVATE KEY" | "EC PRIVATE KEY" | "PRIVATE KEY"
            )
        })
        .collect();
    let der = match keys.as_slice() {
        [(_, der)] => der,
        [] => return Err(Error::invalid("no private key found in pem_bundle")),
        _ => {
            return Err(Error::invalid(
                "pem_bundle must hold exactly one private key",
            ))
        }
    };
    let key = crate::issuers::import_key(der)?;
    let (mut entry, new) = store::store_key(ctx, &key, &name)?;
    if !new && !name.is_empty() && entry.name != name {
        entry.name = name;
        store::put_key(ctx, &entry)?;
    }
    Ok(Response::data(json!({
        "key_id": entry.id,
        "key_name": entry.name,
        "key_type": bundle::kind_name(entry.key_type),
    })))
}

fn read_config(ctx: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
    Response::json(&store::keys_config(ctx)?)
}

fn write_config(ctx: &mut Ctx<'_>, f: WriteConfig) -> Result<Response, Error> {
    let mut c = store::keys_config(ctx)?;
    if let Some(r) = f.default.filter(|r| !r.trim().is_empty()) {
        c.default = store::resolve_key(ctx, &r)
            .map_err(|e| {
                Error::invalid(format!("Error resolving issuer reference: {}", e.message()))
            })?
            .id;
    }
    store::put_keys_config(ctx, &c)?;
    Response::json(&c)
}
