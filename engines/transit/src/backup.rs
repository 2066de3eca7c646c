//! `backup/:name` and `restore(/:name)`: a whole key (every version and its
//! configuration) as one base64 string, and back.
//!
//! The backup is Coffer's own format, `base64(JSON {"coffer_transit_backup":
//! 1, "policy": <policy>})`, the policy as release 0.1 stored it: each
//! version's key bytes in the clear (`key`, `hmac_key`), which only the
//! host's `backup` gives (checking the handles' `plaintext-backup`
//! permission), and no sealed blob (a blob opens only on the mount that
//! sealed it). A restore imports them into the host as the migration of a
//! 0.1 policy does (`store::migrate`). Vault's backups serialise Go
//! structures (big integers, Go RSA keys) and are not read here.

use coffer_sdk::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::policy::model::{KeyKind, Plain, Stamp};
use crate::policy::{cache, store, Loaded, Policy};
use crate::util::{b64, decode_b64};

/// `backup/:name`.
pub fn backup_path() -> Path {
    Path::new("backup/{name}")
        .read(move |ctx: &mut Ctx<'_>, f: crate::keys::Name| backup(ctx, f))
        .synopsis("Backs up a named key in plaintext.")
}

/// `restore(/:name)`.
pub fn restore_path() -> Path {
    Path::new("restore/{name?}")
        .update(restore)
        .synopsis("Restores a named key from a backup.")
}

#[derive(Fields)]
struct Restore {
    /// Name to restore the key under (defaults to the name in the backup).
    name: Option<String>,
    /// The backup, as `backup/:name` returned it.
    backup: Option<String>,
    /// Whether to overwrite an existing key of that name.
    force: bool,
}

#[derive(Serialize, Deserialize)]
struct BackupRecord {
    coffer_transit_backup: u32,
    policy: Policy,
}

fn backup(ctx: &mut Ctx<'_>, f: crate::keys::Name) -> Result<Response, Error> {
    let Some(loaded) = cache::load(ctx, &f.name)? else {
        return Err(Error::invalid(format!("key {:?} not found", f.name)));
    };
    let mut p = loaded.policy.clone();
    if !p.exportable {
        return Err(Error::invalid("exporting is disallowed on the policy"));
    }
    if !p.allow_plaintext_backup {
        return Err(Error::invalid(
            "plaintext backup is disallowed on the policy",
        ));
    }
    p.backup_info = Some(Stamp {
        time: ctx.now().into(),
        version: p.latest_version,
    });
    store::save(ctx, &p)?;
    let record = BackupRecord {
        coffer_transit_backup: 1,
        policy: in_the_clear(&loaded, p)?,
    };
    Ok(Response::data(
        json!({"backup": b64::encode(&serde_json::to_vec(&record)?)}),
    ))
}

fn restore(ctx: &mut Ctx<'_>, f: Restore) -> Result<Response, Error> {
    let text = f
        .backup
        .filter(|b| !b.is_empty())
        .ok_or_else(|| Error::invalid("'backup' must be supplied"))?;
    let bytes =
        decode_b64(&text).map_err(|e| Error::invalid(format!("'backup' is not base64: {e}")))?;
    let record: BackupRecord = serde_json::from_slice(&bytes)
        .map_err(|e| Error::invalid(format!("'backup' is not a transit key backup: {e}")))?;
    let raw = serde_json::to_vec(&record.policy)?;
    let mut policy = store::parse(&raw).map_err(|e| Error::invalid(e.message().to_owned()))?;
    if let Some(name) = f.name.filter(|n| !n.is_empty()) {
        policy.name = name;
    }
    store::check_name(&policy.name)?;
    check_consistent(&policy)?;
    // A blob in a backup came from another mount, or was made up: only
    // key bytes are restored.
    for (v, version) in policy.versions.iter_mut() {
        version.blob.clear();
        version.hmac_blob.clear();
        if version.plain.key.is_empty()
            && (!policy.kind.is_asymmetric() || version.public_key.is_empty())
        {
            return Err(Error::invalid(format!(
                "'backup' holds version {v} without its key"
            )));
        }
    }
    store::migrate(&mut policy)?;
    if !f.force && cache::load(ctx, &policy.name)?.is_some() {
        return Err(Error::invalid(format!(
            "key {:?} already exists",
            policy.name
        )));
    }
    policy.restore_info = Some(Stamp {
        time: ctx.now().into(),
        version: policy.latest_version,
    });
    store::save(ctx, &policy)?;
    Ok(Response::none())
}

/// `policy` (the loaded one with its backup stamp) with each version's
/// key bytes from the host's `backup` instead of its blobs.
fn in_the_clear(loaded: &Loaded, mut policy: Policy) -> Result<Policy, Error> {
    for (v, version) in policy.versions.iter_mut() {
        let mut plain = Plain::default();
        if !version.blob.is_empty() {
            plain.key = loaded.key(*v)?.backup()?;
        }
        plain.hmac_key = if loaded.policy.kind == KeyKind::Hmac {
            plain.key.clone()
        } else {
            loaded.hmac_key(*v)?.backup()?
        };
        version.blob.clear();
        version.hmac_blob.clear();
        version.plain = plain;
    }
    Ok(policy)
}

/// A backup is client input: refuse one whose versions do not add up (the
/// bounds every other path keeps: `1 <= min_available <= min_decryption
/// <= latest`, `min_encryption` 0 or between `min_decryption` and
/// `latest`, every kept version between `min_available` and `latest`).
/// A latest version of `u32::MAX` is consistent: the key works, and
/// `rotate` refuses to go past it.
fn check_consistent(p: &Policy) -> Result<(), Error> {
    p.kind.check_supported()?;
    let oldest = p.min_available_version.max(1);
    let ok = p.latest_version >= 1
        && p.versions.contains_key(&p.latest_version)
        && p.versions
            .keys()
            .all(|v| *v >= oldest && *v <= p.latest_version)
        && p.min_decryption_version >= oldest
        && p.min_decryption_version <= p.latest_version
        && (p.min_encryption_version == 0
            || (p.min_encryption_version >= p.min_decryption_version
                && p.min_encryption_version <= p.latest_version));
    if !ok {
        return Err(Error::invalid("'backup' holds an inconsistent key"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use coffer_sdk::testing::TestEngine;
    use serde_json::{json, Value};

    use crate::tests::{data, transit};
    use crate::util::{b64, decode_b64};

    const TOP: u32 = u32::MAX;

    /// Backs up `name` (made exportable with plaintext backups), lets
    /// `edit` change the stored policy, and restores the result as `as_name`.
    fn restore_edited(
        t: &mut TestEngine,
        name: &str,
        as_name: &str,
        edit: impl FnOnce(&mut Value),
    ) {
        let backup = data(t.read(&format!("backup/{name}")))["backup"].clone();
        let mut record: Value =
            serde_json::from_slice(&decode_b64(backup.as_str().unwrap()).unwrap()).unwrap();
        edit(&mut record["policy"]);
        let edited = b64::encode(&serde_json::to_vec(&record).unwrap());
        let r = t.write(&format!("restore/{as_name}"), json!({ "backup": edited }));
        assert_eq!(r.unwrap().status(), 204);
    }

    /// Moves the policy's only version to number `to`, which becomes the latest.
    fn renumber(policy: &mut Value, to: u32) {
        let versions = policy["versions"].as_object_mut().unwrap();
        let only = versions.remove("1").unwrap();
        versions.insert(to.to_string(), only);
        policy["latest_version"] = to.into();
    }

    #[test]
    fn a_key_at_the_last_version_number_cannot_rotate() {
        let mut t = transit();
        let opts = json!({"exportable": true, "allow_plaintext_backup": true});
        data(t.write("keys/k", opts.clone()));
        let ct = data(t.write("encrypt/k", json!({"plaintext": "aGk="})))["ciphertext"].clone();
        restore_edited(&mut t, "k", "top", |p| {
            renumber(p, TOP);
            p["auto_rotate_period"] = 3600.into();
        });
        let before = data(t.read("keys/top"));
        assert_eq!(before["latest_version"], TOP);

        // rotate: a 400 naming the limit, and the key unchanged.
        let err = t.write("keys/top/rotate", json!({})).unwrap_err();
        assert_eq!(err.status(), 400, "{err}");
        assert!(err.message().contains("no version can be added"), "{err}");
        assert_eq!(data(t.read("keys/top")), before);
        // Periodic auto-rotation (due an hour later) leaves it alone too.
        t.set_now(coffer_sdk::clock::Timestamp::from_secs(u64::from(u32::MAX)));
        t.periodic().unwrap();
        assert_eq!(data(t.read("keys/top"))["latest_version"], TOP);

        // The version's key still decrypts what it encrypted.
        let moved = ct
            .as_str()
            .unwrap()
            .replacen("vault:v1:", &format!("vault:v{TOP}:"), 1);
        let r = data(t.write("decrypt/top", json!({ "ciphertext": moved })));
        assert_eq!(r["plaintext"], "aGk=");
        let r = data(t.write("encrypt/top", json!({"plaintext": "aGk="})));
        assert_eq!(r["key_version"], TOP);
    }

    #[test]
    fn import_version_at_the_last_version_number_is_refused() {
        let mut t = transit();
        let opts =
            json!({"exportable": true, "allow_plaintext_backup": true, "type": "ecdsa-p256"});
        data(t.write("keys/k", opts.clone()));
        data(t.write("keys/other", json!({"type": "ecdsa-p256"})));
        let other = data(t.read("keys/other"))["keys"]["1"]["public_key"].clone();
        restore_edited(&mut t, "k", "top", |p| {
            renumber(p, TOP);
            p["imported"] = true.into();
        });
        let before = data(t.read("keys/top"));
        let err = t
            .write("keys/top/import_version", json!({ "public_key": other }))
            .unwrap_err();
        assert_eq!(err.status(), 400, "{err}");
        assert!(err.message().contains("no version can be added"), "{err}");
        assert_eq!(data(t.read("keys/top")), before);
    }

    #[test]
    fn min_versions_beyond_u32_are_refused_not_clamped() {
        let mut t = transit();
        let opts = json!({"exportable": true, "allow_plaintext_backup": true});
        data(t.write("keys/k", opts));
        restore_edited(&mut t, "k", "top", |p| renumber(p, TOP));
        let beyond = i64::from(TOP) + 1;
        for field in ["min_decryption_version", "min_encryption_version"] {
            let err = t
                .write("keys/top/config", json!({ field: beyond }))
                .unwrap_err();
            assert_eq!(err.status(), 400, "{field}: {err}");
            assert!(err.message().contains(&beyond.to_string()), "{err}");
        }
        let r = data(t.read("keys/top"));
        assert_eq!(r["min_decryption_version"], 1);
        assert_eq!(r["min_encryption_version"], 0);
        // The last number itself is a version, and may be the minimum.
        let r = data(t.write(
            "keys/top/config",
            json!({"min_decryption_version": TOP, "min_encryption_version": TOP}),
        ));
        assert_eq!(r["min_decryption_version"], TOP);
    }

    #[test]
    fn a_backup_whose_bounds_do_not_add_up_is_refused() {
        let mut t = transit();
        let opts = json!({"exportable": true, "allow_plaintext_backup": true});
        data(t.write("keys/k", opts));
        data(t.write("keys/k/rotate", json!({})));
        let backup = data(t.read("backup/k"))["backup"].clone();
        let record: Value =
            serde_json::from_slice(&decode_b64(backup.as_str().unwrap()).unwrap()).unwrap();
        let edits: [(&str, Value); 5] = [
            ("min_decryption_version", 3.into()),
            ("min_encryption_version", 3.into()),
            ("min_available_version", 2.into()),
            ("latest_version", 1.into()),
            ("latest_version", TOP.into()),
        ];
        for (field, value) in edits {
            let mut bad = record.clone();
            bad["policy"][field] = value.clone();
            let text = b64::encode(&serde_json::to_vec(&bad).unwrap());
            let err = t
                .write("restore/bad", json!({ "backup": text }))
                .unwrap_err();
            assert_eq!(err.status(), 400, "{field} = {value}: {err}");
        }
        assert!(t.read("keys/bad").is_err(), "nothing was restored");
    }

    #[test]
    fn round_trip_all_versions_and_config() {
        let mut t = transit();
        data(t.write(
            "keys/k",
            json!({"exportable": true, "allow_plaintext_backup": true, "type": "ecdsa-p256"}),
        ));
        data(t.write("keys/k/rotate", json!({})));
        let sig = data(t.write("sign/k", json!({"input": "aGk=", "key_version": 1})))["signature"]
            .clone();
        data(t.write(
            "keys/k/config",
            json!({"min_encryption_version": 2, "deletion_allowed": true}),
        ));
        let backup = data(t.read("backup/k"))["backup"].clone();
        assert!(data(t.read("keys/k"))["backup_info"]["version"] == 2);
        let err = t.write("restore", json!({"backup": backup})).unwrap_err();
        assert_eq!(err.message(), "key \"k\" already exists");
        assert_eq!(
            t.write("restore/k2", json!({"backup": backup}))
                .unwrap()
                .status(),
            204
        );
        let k2 = data(t.read("keys/k2"));
        assert_eq!(k2["latest_version"], 2);
        assert_eq!(k2["min_encryption_version"], 2);
        assert_eq!(k2["restore_info"]["version"], 2);
        assert_eq!(
            data(t.write("verify/k2", json!({"input": "aGk=", "signature": sig})))["valid"],
            true
        );
        t.delete("keys/k").unwrap();
        assert_eq!(
            t.write("restore", json!({"backup": backup}))
                .unwrap()
                .status(),
            204
        );
        assert_eq!(
            t.write("restore", json!({"backup": backup, "force": true}))
                .unwrap()
                .status(),
            204
        );
        for body in [
            json!({}),
            json!({"backup": "!!"}),
            json!({"backup": "e30="}),
        ] {
            assert_eq!(t.write("restore", body).unwrap_err().status(), 400);
        }
        data(t.write("keys/plain", json!({})));
        assert!(t
            .read("backup/plain")
            .unwrap_err()
            .message()
            .contains("exporting is disallowed"));
        assert!(t
            .read("backup/nope")
            .unwrap_err()
            .message()
            .contains("not found"));
    }
}
