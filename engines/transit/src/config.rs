//! `keys/:name/config` (a key's tunables) and `config/keys` (the mount's
//! key configuration: `disable_upsert`).

use coffer_sdk::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use coffer_sdk::keys::Permission;

use crate::policy::{cache, store, Loaded};

/// Where `config/keys` is stored.
pub const KEYS_CONFIG: &str = "config/keys";

/// `keys/:name/config`.
pub fn key_path() -> Path {
    Path::new("keys/{name}/config")
        .update(write_key_config)
        .synopsis("Configures a named key.")
}

/// `config/keys`.
pub fn keys_path() -> Path {
    Path::new("config/keys")
        .read(read_keys_config)
        .update(write_keys_config)
        .synopsis("Configuration common to all keys of the mount.")
}

/// A key's tunables; absent fields are left as they are.
#[derive(Fields)]
struct KeyConfig {
    /// Name of the key.
    name: String,
    /// Oldest version allowed to decrypt, verify signatures or check HMACs.
    min_decryption_version: Option<i64>,
    /// Oldest version allowed to encrypt, sign or make HMACs; 0 means the latest.
    min_encryption_version: Option<i64>,
    /// Whether the key may be deleted.
    deletion_allowed: Option<bool>,
    /// Makes the key exportable (cannot be undone).
    exportable: Option<bool>,
    /// Allows plaintext backups (cannot be undone).
    allow_plaintext_backup: Option<bool>,
    /// Period of automatic rotation; 0 disables it, else at least an hour.
    auto_rotate_period: Option<DurationSeconds>,
}

/// The mount's key configuration.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct KeysConfig {
    /// Whether `encrypt` refuses to create missing keys.
    #[serde(default)]
    pub disable_upsert: bool,
}

/// Writing `config/keys`.
#[derive(Fields)]
struct KeysConfigFields {
    /// Whether `encrypt` refuses to create missing keys.
    disable_upsert: Option<bool>,
}

fn write_key_config(ctx: &mut Ctx<'_>, f: KeyConfig) -> Result<Response, Error> {
    let Some(loaded) = cache::load(ctx, &f.name)? else {
        return Err(Error::invalid(format!(
            "no existing key named {} could be found",
            f.name
        )));
    };
    let mut p = loaded.policy.clone();
    let mut warning = None;
    if let Some(v) = f.min_decryption_version {
        if v < 0 {
            return Err(Error::invalid("min decryption version cannot be negative"));
        }
        // Beyond u32 is beyond any version: refused below as too new,
        // with the number as given (not clamped to u32::MAX, which a
        // restored key's latest version can equal).
        let mut v = u32::try_from(v).map_err(|_| {
            Error::invalid(format!(
                "cannot set min decryption version of {v}, latest key version is {}",
                p.latest_version
            ))
        })?;
        if v == 0 {
            v = 1;
            warning =
                Some("since Vault 0.3, transit key numbering starts at 1; forcing minimum to 1");
        }
        if v != p.min_decryption_version {
            if v > p.latest_version {
                return Err(Error::invalid(format!(
                    "cannot set min decryption version of {v}, latest key version is {}",
                    p.latest_version
                )));
            }
            p.min_decryption_version = v;
        }
    }
    if let Some(v) = f.min_encryption_version {
        if v < 0 {
            return Err(Error::invalid("min encryption version cannot be negative"));
        }
        let v = u32::try_from(v).map_err(|_| {
            Error::invalid(format!(
                "cannot set min encryption version of {v}, latest key version is {}",
                p.latest_version
            ))
        })?;
        if v != p.min_encryption_version {
            if v > p.latest_version {
                return Err(Error::invalid(format!(
                    "cannot set min encryption version of {v}, latest key version is {}",
                    p.latest_version
                )));
            }
            p.min_encryption_version = v;
        }
    }
    if p.min_encryption_version > 0 && p.min_encryption_version < p.min_decryption_version {
        return Err(Error::invalid(format!(
            "cannot set min encryption/decryption values; min encryption version of {} must be greater than or equal to min decryption version of {}",
            p.min_encryption_version, p.min_decryption_version
        )));
    }
    if let Some(allowed) = f.deletion_allowed {
        p.deletion_allowed = allowed;
    }
    if f.exportable == Some(true) || f.allow_plaintext_backup == Some(true) {
        p.check_not_managed("exporting or backing up its key")?;
    }
    if f.auto_rotate_period.is_some_and(|d| d.as_secs() != 0) {
        p.check_not_managed("automatic rotation")?;
    }
    // One-way switches: `false` never turns them off. Turning one on
    // widens every version's handles (`permit`) and stores their new blobs.
    if f.exportable == Some(true) && !p.exportable {
        p.versions = loaded.permitted(Permission::Export)?.versions;
        p.exportable = true;
    }
    if f.allow_plaintext_backup == Some(true) && !p.allow_plaintext_backup {
        let widened = Loaded::new(p.clone()).permitted(Permission::PlaintextBackup)?;
        p.versions = widened.versions;
        p.allow_plaintext_backup = true;
    }
    if let Some(period) = f.auto_rotate_period {
        let period = period.as_secs();
        if period != 0 && period < 3600 {
            return Err(Error::invalid(
                "auto rotate period must be 0 to disable or at least an hour",
            ));
        }
        p.auto_rotate_period = period;
    }
    if p != loaded.policy {
        if p.min_available_version > p.min_encryption_version {
            return Err(Error::invalid(
                "min encryption version should not be less than min available version",
            ));
        }
        if p.min_available_version > p.min_decryption_version {
            return Err(Error::invalid(
                "min decryption version should not be less then min available version",
            ));
        }
        store::save(ctx, &p)?;
    }
    let mut response = Response::data(p.to_response(None)?);
    if let Some(w) = warning {
        response = response.with_warning(w);
    }
    Ok(response)
}

/// The stored `config/keys`.
pub fn read_config(ctx: &mut Ctx<'_>) -> Result<KeysConfig, Error> {
    Ok(ctx.storage().get_json(KEYS_CONFIG)?.unwrap_or_default())
}

fn read_keys_config(ctx: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
    let c = read_config(ctx)?;
    Ok(Response::data(json!({"disable_upsert": c.disable_upsert})))
}

fn write_keys_config(ctx: &mut Ctx<'_>, f: KeysConfigFields) -> Result<Response, Error> {
    let mut c = read_config(ctx)?;
    if let Some(d) = f.disable_upsert {
        c.disable_upsert = d;
    }
    ctx.storage().put_json(KEYS_CONFIG, &c)?;
    Ok(Response::data(json!({"disable_upsert": c.disable_upsert})))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::tests::{data, transit};

    #[test]
    fn min_versions_follow_vault_rules() {
        let mut t = transit();
        data(t.write("keys/k", json!({})));
        data(t.write("keys/k/rotate", json!({})));
        data(t.write("keys/k/rotate", json!({})));
        let r = data(t.write("keys/k/config", json!({"min_decryption_version": 2})));
        assert_eq!(r["min_decryption_version"], 2);
        assert_eq!(r["keys"].as_object().unwrap().len(), 2);
        for (body, needle) in [
            (
                json!({"min_decryption_version": 5}),
                "cannot set min decryption version of 5, latest key version is 3",
            ),
            (
                json!({"min_encryption_version": 1}),
                "must be greater than or equal to min decryption version of 2",
            ),
            (
                json!({"min_encryption_version": 5}),
                "cannot set min encryption version of 5",
            ),
            (json!({"min_decryption_version": -1}), "cannot be negative"),
            (json!({"auto_rotate_period": "10m"}), "at least an hour"),
        ] {
            let err = t.write("keys/k/config", body.clone()).unwrap_err();
            assert!(err.message().contains(needle), "{body}: {err}");
        }
        assert_eq!(data(t.read("keys/k"))["min_decryption_version"], 2);
        let r = data(t.write(
            "keys/k/config",
            json!({"exportable": true, "auto_rotate_period": "2h"}),
        ));
        assert_eq!(
            (r["exportable"].clone(), r["auto_rotate_period"].clone()),
            (json!(true), json!(7200))
        );
        let r = data(t.write("keys/k/config", json!({"exportable": false})));
        assert_eq!(r["exportable"], true, "exportable is one-way");
        let r = t
            .write("keys/k/config", json!({"min_decryption_version": 0}))
            .unwrap();
        assert_eq!(r.warnings().len(), 1);
        assert!(t.write("keys/nope/config", json!({})).is_err());
    }

    #[test]
    fn keys_config() {
        let mut t = transit();
        assert_eq!(
            data(t.read("config/keys")),
            json!({"disable_upsert": false})
        );
        data(t.write("config/keys", json!({"disable_upsert": true})));
        assert_eq!(data(t.read("config/keys")), json!({"disable_upsert": true}));
    }
}
