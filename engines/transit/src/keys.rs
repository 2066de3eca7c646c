//! `keys` (list), `keys/:name` (create, read, delete), `keys/:name/rotate`,
//! and automatic rotation (the engine's periodic work).

use coffer_sdk::prelude::*;

use coffer_sdk::keys::ManagedRef;

use crate::policy::model::{NewKey, Policy};
use crate::policy::{cache, store, KeyKind};

/// `LIST keys`.
pub fn list_path() -> Path {
    Path::new("keys")
        .list(list)
        .synopsis("Lists the named keys.")
}

/// `keys/:name`.
pub fn path() -> Path {
    Path::new("keys/{name}")
        .update(create)
        .read(read)
        .delete(delete)
        .synopsis("Managed named encryption keys.")
        .description(
            "A write creates the key (a key that exists is left as it is, with a warning); \
             a read shows its versions and configuration; a delete removes it when its \
             configuration allows deletion.",
        )
}

/// `keys/:name/rotate`.
pub fn rotate_path() -> Path {
    Path::new("keys/{name}/rotate")
        .update(rotate)
        .synopsis("Rotates a named key: adds a new version and makes it the latest.")
}

/// A key's name.
#[derive(Fields)]
pub struct Name {
    /// Name of the key.
    pub name: String,
}

/// Creating a key.
#[derive(Fields)]
struct Create {
    /// Name of the key.
    name: String,
    /// Type of key to create.
    #[field(default = "aes256-gcm96")]
    r#type: KeyKind,
    /// Whether every use derives the key from a `context`.
    derived: bool,
    /// Whether encryption is deterministic per (plaintext, context); needs `derived`.
    convergent_encryption: bool,
    /// Whether the key may be exported (cannot be undone).
    exportable: bool,
    /// Whether a plaintext backup may be taken (cannot be undone).
    allow_plaintext_backup: bool,
    /// Key size in bytes for `hmac` keys (32 to 512; 0 means 32).
    key_size: u32,
    /// Period of automatic rotation; 0 disables it, else at least an hour.
    auto_rotate_period: DurationSeconds,
    /// Name of the managed key (`sys/managed-keys`) of a `managed_key` key.
    managed_key_name: Option<String>,
    /// UUID of the managed key of a `managed_key` key.
    managed_key_id: Option<String>,
}

/// Reading a key.
#[derive(Fields)]
struct Read {
    /// Name of the key.
    name: String,
    /// Base64 context, to show the public keys of a derived Ed25519 key.
    context: Option<Base64>,
}

/// Rotating a key.
#[derive(Fields)]
struct Rotate {
    /// Name of the key.
    name: String,
    /// Name of the managed key a `managed_key` key rotates onto.
    managed_key_name: Option<String>,
    /// UUID of the managed key a `managed_key` key rotates onto.
    managed_key_id: Option<String>,
}

fn list(ctx: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
    Ok(Response::list(store::list(ctx)?))
}

fn create(ctx: &mut Ctx<'_>, f: Create) -> Result<Response, Error> {
    store::check_name(&f.name)?;
    let reference =
        ManagedRef::from_fields(f.managed_key_name.as_deref(), f.managed_key_id.as_deref());
    let managed = f.r#type == KeyKind::ManagedKey;
    match (&reference, managed) {
        (None, true) => {
            return Err(Error::invalid(
                "managed_key_name or managed_key_id is required for type managed_key",
            ))
        }
        (Some(_), false) => {
            return Err(Error::invalid(
                "managed_key_name and managed_key_id apply only to type managed_key",
            ))
        }
        _ => {}
    }
    if managed
        && (f.derived
            || f.convergent_encryption
            || f.exportable
            || f.allow_plaintext_backup
            || f.key_size != 0
            || f.auto_rotate_period.as_secs() != 0)
    {
        return Err(Error::invalid(
            "a managed_key key cannot be derived, convergent, exportable, backed up in plaintext, sized or rotated automatically",
        ));
    }
    let opts = NewKey {
        derived: f.derived,
        convergent: f.convergent_encryption,
        exportable: f.exportable,
        allow_plaintext_backup: f.allow_plaintext_backup,
        auto_rotate_period: f.auto_rotate_period.as_secs(),
        key_size: f.key_size,
    };
    if let Some(existing) = cache::load(ctx, &f.name)? {
        if !managed {
            Policy::new(&f.name, f.r#type, &opts)?;
        }
        return Ok(Response::data(existing.policy.to_response(None)?)
            .with_warning(format!("key {} already existed", f.name)));
    }
    let policy = match reference {
        Some(reference) => {
            let key = reference.open()?;
            let kind = KeyKind::of_key_type(key.key_type()?).ok_or_else(|| {
                Error::invalid("a managed key for transit must be an RSA or ECDSA key")
            })?;
            let mut policy = Policy::new(&f.name, kind, &opts)?;
            policy.managed = true;
            policy.push_managed(ctx.now(), &key, reference)?;
            policy
        }
        None => {
            let mut policy = Policy::new(&f.name, f.r#type, &opts)?;
            policy.rotate(ctx.now())?;
            policy
        }
    };
    store::save(ctx, &policy)?;
    Ok(Response::data(policy.to_response(None)?))
}

fn read(ctx: &mut Ctx<'_>, f: Read) -> Result<Response, Error> {
    let Some(loaded) = cache::load(ctx, &f.name)? else {
        return Err(Error::not_found());
    };
    let context = f.context.as_deref();
    Ok(Response::data(loaded.to_response(context)?))
}

fn delete(ctx: &mut Ctx<'_>, f: Name) -> Result<Response, Error> {
    let Some(loaded) = cache::load(ctx, &f.name)? else {
        return Err(Error::invalid(format!(
            "error deleting policy {}: could not delete key; not found",
            f.name
        )));
    };
    if !loaded.policy.deletion_allowed {
        return Err(Error::invalid(format!(
            "error deleting policy {}: deletion is not allowed for this key",
            f.name
        )));
    }
    store::delete(ctx, &f.name)?;
    Ok(Response::none())
}

fn rotate(ctx: &mut Ctx<'_>, f: Rotate) -> Result<Response, Error> {
    let reference =
        ManagedRef::from_fields(f.managed_key_name.as_deref(), f.managed_key_id.as_deref());
    let Some(loaded) = cache::load(ctx, &f.name)? else {
        return Err(Error::invalid("key not found"));
    };
    let mut policy = loaded.policy.clone();
    policy.check_rotatable()?;
    match reference {
        Some(reference) if policy.managed => {
            let key = reference.open()?;
            policy.push_managed(ctx.now(), &key, reference)?;
        }
        Some(_) => {
            return Err(Error::invalid(
                "managed_key_name and managed_key_id apply only to a managed_key key",
            ))
        }
        None => policy.rotate(ctx.now())?,
    }
    policy.imported = false;
    store::save(ctx, &policy)?;
    Ok(Response::data(policy.to_response(None)?))
}

/// The periodic work: loads every key, which migrates one that release 0.1
/// stored with its key bytes (`store::read`), so idle keys migrate too;
/// and rotates every key whose `auto_rotate_period` has passed since its
/// latest version was made, by the host's clock. The times are stored, so
/// a restart changes nothing.
pub fn auto_rotate(ctx: &mut Ctx<'_>) -> Result<(), Error> {
    let now = ctx.now();
    for name in store::list(ctx)? {
        let Some(loaded) = cache::load(ctx, &name)? else {
            continue;
        };
        let p = &loaded.policy;
        if p.auto_rotate_period == 0 || p.check_rotatable().is_err() {
            continue;
        }
        let latest = p
            .versions
            .get(&p.latest_version)
            .map_or(0, |v| v.creation_time.secs);
        if now.seconds < latest.saturating_add(p.auto_rotate_period) {
            continue;
        }
        let mut policy = p.clone();
        match policy.rotate(now) {
            Ok(()) => {
                policy.imported = false;
                store::save(ctx, &policy)?;
            }
            Err(e) => coffer_sdk::log::log(
                coffer_sdk::log::Level::Error,
                &format!("auto-rotation of key {name} failed: {}", e.message()),
            ),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use coffer_sdk::clock::Timestamp;
    use serde_json::json;

    use crate::tests::{data, transit};

    #[test]
    fn create_read_list_delete() {
        let mut t = transit();
        let r = data(t.write("keys/k1", json!({})));
        assert_eq!(r["type"], "aes256-gcm96");
        assert_eq!(r["latest_version"], 1);
        assert_eq!(r["min_decryption_version"], 1);
        assert_eq!(r["keys"]["1"], json!(1_704_067_200u64));
        assert_eq!(r["supports_encryption"], true);
        let again = t.write("keys/k1", json!({"type": "ed25519"})).unwrap();
        assert_eq!(again.warnings(), ["key k1 already existed"]);
        assert_eq!(data(t.read("keys/k1"))["type"], "aes256-gcm96");
        data(t.write("keys/e1", json!({"type": "ed25519"})));
        let e = data(t.read("keys/e1"));
        assert_eq!(e["keys"]["1"]["name"], "ed25519");
        assert_eq!(e["keys"]["1"]["creation_time"], "2024-01-01T00:00:00Z");
        assert_eq!(data(t.list("keys"))["keys"], json!(["e1", "k1"]));
        assert_eq!(t.read("keys/nope").unwrap_err().status(), 404);
        let err = t.delete("keys/k1").unwrap_err();
        assert!(err.message().contains("deletion is not allowed"), "{err}");
        data(t.write("keys/k1/config", json!({"deletion_allowed": true})));
        assert_eq!(t.delete("keys/k1").unwrap().status(), 204);
        assert_eq!(t.read("keys/k1").unwrap_err().status(), 404);
        assert_eq!(t.delete("keys/k1").unwrap_err().status(), 400);
    }

    #[test]
    fn create_errors() {
        let mut t = transit();
        for (body, needle) in [
            (
                json!({"type": "managed_key"}),
                "managed_key_name or managed_key_id is required",
            ),
            (json!({"type": "foo"}), "field 'type'"),
            (json!({"type": "hmac", "key_size": 16}), "invalid key_size"),
            (json!({"key_size": 64}), "key_size is not valid"),
            (
                json!({"convergent_encryption": true}),
                "requires derivation",
            ),
            (
                json!({"type": "ecdsa-p256", "derived": true}),
                "not supported",
            ),
            (json!({"auto_rotate_period": "30m"}), "at least an hour"),
        ] {
            let err = t.write("keys/bad", body.clone()).unwrap_err();
            assert_eq!(err.status(), 400, "{body}");
            assert!(err.message().contains(needle), "{body}: {err}");
        }
        assert!(t.write("keys/a b", json!({})).is_err());
        assert!(t.storage.is_empty());
    }

    #[test]
    fn every_type_creates_and_rotates() {
        let mut t = transit();
        for kind in [
            "aes128-gcm96",
            "aes256-gcm96",
            "chacha20-poly1305",
            "ed25519",
            "ecdsa-p256",
            "ecdsa-p384",
            "ecdsa-p521",
            "rsa-2048",
            "hmac",
        ] {
            let path = format!("keys/{kind}");
            data(t.write(&path, json!({"type": kind})));
            let r = data(t.write(&format!("{path}/rotate"), json!({})));
            assert_eq!(r["latest_version"], 2, "{kind}");
            assert_eq!(r["type"], kind);
        }
        let rsa = data(t.read("keys/rsa-2048"));
        let pem = rsa["keys"]["2"]["public_key"].as_str().unwrap();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert_eq!(
            data(t.read("keys/ecdsa-p384"))["keys"]["1"]["name"],
            "P-384"
        );
        assert_eq!(data(t.read("keys/hmac"))["key_size"], 32);
        assert_eq!(
            t.write("keys/nope/rotate", json!({}))
                .unwrap_err()
                .message(),
            "key not found"
        );
    }

    #[test]
    fn auto_rotation_follows_the_clock() {
        let mut t = transit();
        data(t.write("keys/k", json!({"auto_rotate_period": "1h"})));
        data(t.write("keys/still", json!({})));
        t.periodic().unwrap();
        assert_eq!(data(t.read("keys/k"))["latest_version"], 1);
        t.set_now(Timestamp::from_secs(1_704_067_200 + 3600));
        t.periodic().unwrap();
        assert_eq!(data(t.read("keys/k"))["latest_version"], 2);
        t.periodic().unwrap();
        assert_eq!(data(t.read("keys/k"))["latest_version"], 2);
        assert_eq!(data(t.read("keys/still"))["latest_version"], 1);
    }
}
