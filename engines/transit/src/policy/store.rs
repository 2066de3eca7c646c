//! Persistence of policies: one JSON record per key at `policy/<name>`,
//! carrying a format number. A record of an older format is upgraded when
//! read (and written in the new format by the next write); a record of a
//! newer format than this code knows is refused rather than misread.
//!
//! Release 0.1 stored each version's key bytes in the clear (`Plain`).
//! Such a policy is migrated when a call that may write loads it
//! ([`read`]: every `handle` and the periodic work, which loads every
//! key): each key is imported into the host with the policy's
//! permissions, sealed, and the policy written back with blobs only, in
//! the same call. A restore migrates its backup the same way.

use coffer_sdk::keys::{Key, KeyType};
use coffer_sdk::prelude::*;

use super::cache;
use super::crypto::ed25519_pkcs8;
use super::model::{KeyKind, Policy, FORMAT};

/// Where policies live.
pub const PREFIX: &str = "policy/";

/// The storage key of a policy.
pub fn key(name: &str) -> String {
    format!("{PREFIX}{name}")
}

/// Parses a stored record, upgrading older formats.
pub fn parse(raw: &[u8]) -> Result<Policy, Error> {
    let mut policy: Policy = serde_json::from_slice(raw)
        .map_err(|e| Error::internal(format!("stored key policy does not decode: {e}")))?;
    if policy.format > FORMAT {
        return Err(Error::internal(format!(
            "key {} was stored in format {}, newer than this engine's {FORMAT}",
            policy.name, policy.format
        )));
    }
    upgrade(&mut policy);
    Ok(policy)
}

/// Brings a record of an older format up to [`FORMAT`]. Format 0 (no
/// number) is the shape before numbering: version numbering starts at 1.
fn upgrade(policy: &mut Policy) {
    if policy.format == 0 {
        if policy.min_decryption_version == 0 {
            policy.min_decryption_version = 1;
        }
        policy.format = 1;
    }
}

/// Whether `policy` still holds key bytes in the clear (release 0.1's
/// storage, or a backup).
pub fn needs_migration(policy: &Policy) -> bool {
    policy.versions.values().any(|v| !v.plain.is_empty())
}

/// Parses a stored record and, if it holds key bytes in the clear,
/// migrates it and writes it back (see the module doc).
pub fn read(ctx: &mut Ctx<'_>, raw: &[u8]) -> Result<Policy, Error> {
    let mut policy = parse(raw)?;
    if needs_migration(&policy) {
        migrate(&mut policy)?;
        save(ctx, &policy)?;
    }
    Ok(policy)
}

/// Moves every version's `Plain` bytes into the host: each key is
/// imported with the policy's permissions and kept as its sealed blob; a
/// version without an HMAC key gets a new one. Afterwards the policy
/// holds no key bytes.
pub fn migrate(policy: &mut Policy) -> Result<(), Error> {
    let kind = policy.kind.check_supported()?;
    let key_type = kind.key_type()?;
    let permissions = policy.permissions();
    for (v, version) in policy.versions.iter_mut() {
        let plain = std::mem::take(&mut version.plain);
        if plain.is_empty() {
            continue;
        }
        let bad = |e: Error| {
            Error::invalid(format!(
                "key {:?} version {v}: its stored key does not import: {}",
                policy.name,
                e.message()
            ))
        };
        if !plain.key.is_empty() {
            let encoded = if kind == KeyKind::Ed25519 && plain.key.len() == 64 {
                // Vault's form: the seed, then the public key.
                ed25519_pkcs8(plain.key.get(..32).unwrap_or_default())
            } else {
                plain.key.clone()
            };
            let key = Key::import(key_type, &encoded, &permissions).map_err(bad)?;
            version.blob = key.seal()?;
        }
        if kind != KeyKind::Hmac {
            let hmac = if plain.hmac_key.is_empty() {
                super::model::new_hmac_key(&permissions)?
            } else {
                Key::import(KeyType::Hmac, &plain.hmac_key, &permissions).map_err(bad)?
            };
            version.hmac_blob = hmac.seal()?;
        }
    }
    Ok(())
}

/// Writes `policy` and drops its cache entry (the write may still be
/// dropped with the call, so nothing written is cached). A policy that
/// still holds key bytes is refused: they never reach storage.
pub fn save(ctx: &mut Ctx<'_>, policy: &Policy) -> Result<(), Error> {
    if needs_migration(policy) {
        return Err(Error::internal(format!(
            "key {:?} holds key bytes and was not migrated",
            policy.name
        )));
    }
    let mut record = policy.clone();
    record.format = FORMAT;
    // Taint first: natively the generation moves with the write itself.
    cache::invalidate(ctx, &policy.name);
    ctx.storage().put_json(&key(&policy.name), &record)?;
    Ok(())
}

/// Deletes a policy.
pub fn delete(ctx: &mut Ctx<'_>, name: &str) -> Result<(), Error> {
    cache::invalidate(ctx, name);
    ctx.storage().delete(&key(name))?;
    Ok(())
}

/// Whether a key named `name` exists (for existence checks, which must
/// not write, so do not migrate).
pub fn exists(ctx: &mut Ctx<'_>, name: &str) -> Result<bool, Error> {
    Ok(ctx.storage().get(&key(name))?.is_some())
}

/// The names of every key.
pub fn list(ctx: &mut Ctx<'_>) -> Result<Vec<String>, Error> {
    Ok(ctx
        .storage()
        .list(PREFIX)?
        .into_iter()
        .filter(|k| !k.ends_with('/'))
        .collect())
}

/// Checks a key name (Vault's: word characters, `-`, `.` and `@`).
pub fn check_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'))
        && name != "."
        && name != "..";
    if !ok {
        return Err(Error::invalid(format!(
            "invalid key name {name:?}: use letters, digits, '_', '-', '.' and '@'"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::model::{KeyKind, NewKey};

    #[test]
    fn upgrade_and_refuse_newer() {
        let p = Policy::new("k", KeyKind::Aes256Gcm96, &NewKey::default()).unwrap();
        let mut v = serde_json::to_value(&p).unwrap();
        v["format"] = 0.into();
        v["min_decryption_version"] = 0.into();
        let old = parse(&serde_json::to_vec(&v).unwrap()).unwrap();
        assert_eq!((old.format, old.min_decryption_version), (FORMAT, 1));
        v["format"] = (FORMAT + 1).into();
        assert!(matches!(
            parse(&serde_json::to_vec(&v).unwrap()),
            Err(Error::Internal(_))
        ));
        assert!(check_name("a-b.c@d_e").is_ok());
        assert!(check_name("a b").is_err());
    }

    /// Release 0.1's form of a one-version policy: key bytes in the clear.
    fn old_policy(
        name: &str,
        kind: &str,
        key: &[u8],
        hmac_key: &[u8],
        public_key: &str,
    ) -> Vec<u8> {
        use crate::util::b64;
        serde_json::to_vec(&serde_json::json!({
            "format": 1, "name": name, "type": kind, "derived": false,
            "convergent_encryption": false, "convergent_version": 0,
            "exportable": false, "deletion_allowed": false, "allow_plaintext_backup": false,
            "min_decryption_version": 1, "min_encryption_version": 0,
            "min_available_version": 0, "latest_version": 1, "auto_rotate_period": 0,
            "key_size": 0, "imported": false, "allow_imported_key_rotation": false,
            "backup_info": null, "restore_info": null,
            "versions": {"1": {
                "creation_time": {"secs": 1, "nanos": 0},
                "key": b64::encode(key), "hmac_key": b64::encode(hmac_key),
                "public_key": public_key, "convergent_version": 0,
            }},
        }))
        .unwrap()
    }

    /// The stored record of `name`, as JSON.
    fn stored(t: &coffer_sdk::testing::TestEngine, name: &str) -> serde_json::Value {
        use coffer_sdk::Storage;
        serde_json::from_slice(&t.storage.get(&key(name)).unwrap().unwrap()).unwrap()
    }

    fn holds_no_key_bytes(record: &serde_json::Value) -> bool {
        let version = &record["versions"]["1"];
        version.get("key").is_none()
            && version.get("hmac_key").is_none()
            && version["blob"].is_string()
    }

    #[test]
    fn a_policy_of_release_0_1_migrates_on_first_use_and_keeps_answering() {
        use coffer_sdk::crypto::{self, AeadAlgorithm, HashAlgorithm, PrivateKeyFormat};
        use coffer_sdk::crypto::{PublicKeyFormat, SignOptions};
        use coffer_sdk::keys::Permission;
        use coffer_sdk::Storage;
        use serde_json::json;

        use crate::tests::{data, transit};
        use crate::util::b64;

        let mut t = transit();
        // An AES key, its HMAC key, and what release 0.1 made with them,
        // computed here without transit.
        let aes = crypto::random_bytes(32).unwrap();
        let mac_key = crypto::random_bytes(32).unwrap();
        let nonce = [7u8; 12];
        let sealed =
            crypto::aead_seal(AeadAlgorithm::Aes256Gcm, &aes, &nonce, b"hello", b"").unwrap();
        let ct = format!("vault:v1:{}{}", b64::encode(&nonce), b64::encode(&sealed));
        let mac = crypto::hmac(HashAlgorithm::Sha256, &mac_key, b"hello").unwrap();
        let mac = format!("vault:v1:{}", b64::encode(&mac));
        t.storage
            .put(
                &key("old"),
                &old_policy("old", "aes256-gcm96", &aes, &mac_key, ""),
            )
            .unwrap();
        // An Ed25519 key in Vault's form (seed, then public key).
        let ed = Key::generate(KeyType::Ed25519, None, &[Permission::Export]).unwrap();
        let mut ed_bytes = ed.export(PrivateKeyFormat::Raw).unwrap();
        let ed_public = ed
            .public_key()
            .unwrap()
            .export(PublicKeyFormat::Raw)
            .unwrap();
        ed_bytes.extend_from_slice(&ed_public);
        let options = SignOptions {
            hash: Some(HashAlgorithm::Sha256),
            ..SignOptions::default()
        };
        let sig = format!(
            "vault:v1:{}",
            b64::encode(&ed.sign(b"hello", options).unwrap())
        );
        let old_ed = old_policy(
            "ed",
            "ed25519",
            &ed_bytes,
            &mac_key,
            &b64::encode(&ed_public),
        );
        t.storage.put(&key("ed"), &old_ed).unwrap();
        // A key nobody uses, for the periodic work.
        let idle = crypto::random_bytes(16).unwrap();
        t.storage
            .put(
                &key("idle"),
                &old_policy("idle", "aes128-gcm96", &idle, &mac_key, ""),
            )
            .unwrap();

        // A read migrates and writes back: blobs, no key bytes.
        assert!(!holds_no_key_bytes(&stored(&t, "old")));
        let read = data(t.read("keys/old"));
        assert_eq!(read["latest_version"], 1);
        assert!(
            holds_no_key_bytes(&stored(&t, "old")),
            "{}",
            stored(&t, "old")
        );
        // What release 0.1 made still opens and verifies.
        let d = data(t.write("decrypt/old", json!({"ciphertext": ct})));
        assert_eq!(d["plaintext"], b64::encode(b"hello"));
        let v = data(t.write(
            "verify/old",
            json!({"input": b64::encode(b"hello"), "hmac": mac}),
        ));
        assert_eq!(v["valid"], true);
        let v = data(t.write(
            "verify/ed",
            json!({"input": b64::encode(b"hello"), "signature": sig}),
        ));
        assert_eq!(v["valid"], true);
        assert!(holds_no_key_bytes(&stored(&t, "ed")));
        assert_eq!(
            data(t.read("keys/ed"))["keys"]["1"]["public_key"],
            b64::encode(&ed_public)
        );
        // The key was not exportable, and its handle is not either.
        assert!(t.read("export/encryption-key/old").is_err());

        // The periodic work migrates a key nobody used.
        assert!(!holds_no_key_bytes(&stored(&t, "idle")));
        t.periodic().unwrap();
        assert!(holds_no_key_bytes(&stored(&t, "idle")));
        // An existence check never writes.
        t.storage
            .put(
                &key("late"),
                &old_policy("late", "aes256-gcm96", &aes, &mac_key, ""),
            )
            .unwrap();
        assert_eq!(
            t.exists(coffer_sdk::Request::new(
                coffer_sdk::Operation::Update,
                "encrypt/late"
            ))
            .unwrap(),
            Some(true)
        );
        assert!(!holds_no_key_bytes(&stored(&t, "late")));
    }
}
