//! `backup/:name` and `restore(/:name)`: a whole key (every version and its
//! configuration) as one base64 string, and back.
//!
//! The backup is Coffer's own format, `base64(JSON {"coffer_transit_backup":
//! 1, "policy": <stored policy>})`: Vault's backups serialise Go structures
//! (big integers, Go RSA keys) and are not read here.

use coffer_sdk::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::policy::model::Stamp;
use crate::policy::{cache, store, Mount, Policy};
use crate::util::{b64, decode_b64};

/// `backup/:name`.
pub fn backup_path(m: Mount) -> Path {
    Path::new("backup/{name}")
        .read(move |ctx: &mut Ctx<'_>, f: crate::keys::Name| backup(m, ctx, f))
        .synopsis("Backs up a named key in plaintext.")
}

/// `restore(/:name)`.
pub fn restore_path(m: Mount) -> Path {
    Path::new("restore/{name?}")
        .update(move |ctx: &mut Ctx<'_>, f: Restore| restore(m, ctx, f))
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

fn backup(m: Mount, ctx: &mut Ctx<'_>, f: crate::keys::Name) -> Result<Response, Error> {
    let Some(loaded) = cache::load(m, ctx, &f.name)? else {
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
    store::save(m, ctx, &p)?;
    let record = BackupRecord {
        coffer_transit_backup: 1,
        policy: p,
    };
    Ok(Response::data(
        json!({"backup": b64::encode(&serde_json::to_vec(&record)?)}),
    ))
}

fn restore(m: Mount, ctx: &mut Ctx<'_>, f: Restore) -> Result<Response, Error> {
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
    if !f.force && cache::load(m, ctx, &policy.name)?.is_some() {
        return Err(Error::invalid(format!(
            "key {:?} already exists",
            policy.name
        )));
    }
    policy.restore_info = Some(Stamp {
        time: ctx.now().into(),
        version: policy.latest_version,
    });
    store::save(m, ctx, &policy)?;
    Ok(Response::none())
}

/// A backup is client input: refuse one whose versions do not add up.
fn check_consistent(p: &Policy) -> Result<(), Error> {
    p.kind.check_supported()?;
    let ok = p.latest_version >= 1
        && p.versions.contains_key(&p.latest_version)
        && p.versions.keys().all(|v| *v >= 1 && *v <= p.latest_version)
        && p.min_decryption_version >= 1
        && p.min_decryption_version <= p.latest_version;
    if !ok {
        return Err(Error::invalid("'backup' holds an inconsistent key"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::tests::{data, transit};

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
