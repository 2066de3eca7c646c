//! Persistence of policies: one JSON record per key at `policy/<name>`,
//! carrying a format number. A record of an older format is upgraded when
//! read (and written in the new format by the next write); a record of a
//! newer format than this code knows is refused rather than misread.

use coffer_sdk::prelude::*;

use super::cache::{self, Mount};
use super::model::{Policy, FORMAT};

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

/// Writes `policy` and drops its cache entry (the write may still be
/// dropped with the call, so nothing written is cached).
pub fn save(mount: Mount, ctx: &mut Ctx<'_>, policy: &Policy) -> Result<(), Error> {
    let mut record = policy.clone();
    record.format = FORMAT;
    // Taint first: natively the generation moves with the write itself.
    cache::invalidate(mount, ctx, &policy.name);
    ctx.storage().put_json(&key(&policy.name), &record)?;
    Ok(())
}

/// Deletes a policy.
pub fn delete(mount: Mount, ctx: &mut Ctx<'_>, name: &str) -> Result<(), Error> {
    cache::invalidate(mount, ctx, name);
    ctx.storage().delete(&key(name))?;
    Ok(())
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
}
