//! `keys/:name/trim`: deletes versions below `min_available_version` for
//! good.

use coffer_sdk::prelude::*;

use crate::policy::{cache, store};

/// `keys/:name/trim`.
pub fn path() -> Path {
    Path::new("keys/{name}/trim")
        .update(trim)
        .synopsis("Trims key versions of a named key.")
}

#[derive(Fields)]
struct Trim {
    /// Name of the key.
    name: String,
    /// The oldest version to keep; older ones are deleted.
    min_available_version: Option<i64>,
}

fn trim(ctx: &mut Ctx<'_>, f: Trim) -> Result<Response, Error> {
    let Some(loaded) = cache::load(ctx, &f.name)? else {
        return Err(Error::invalid("invalid key name"));
    };
    let mut p = loaded.policy.clone();
    let wanted = f
        .min_available_version
        .ok_or_else(|| Error::invalid("missing min_available_version"))?;
    let bad = |m: &str| Err(Error::invalid(m.to_owned()));
    if wanted < i64::from(p.min_available_version) {
        return bad("minimum available version cannot be decremented");
    }
    if p.min_encryption_version == 0 {
        return bad(
            "minimum available version cannot be set when minimum encryption version is not set",
        );
    }
    if wanted > i64::from(p.min_encryption_version) {
        return bad("minimum available version cannot be greater than minmum encryption version");
    }
    if wanted > i64::from(p.min_decryption_version) {
        return bad("minimum available version cannot be greater than minimum decryption version");
    }
    if wanted <= 0 {
        return bad("minimum available version should be positive");
    }
    // At most min_encryption_version (a u32) by the checks above.
    let wanted = u32::try_from(wanted)
        .map_err(|_| Error::invalid(format!("invalid min_available_version {wanted}")))?;
    p.min_available_version = wanted;
    p.versions.retain(|v, _| *v >= wanted);
    store::save(ctx, &p)?;
    Ok(Response::data(p.to_response(None)?))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::tests::{data, transit};

    #[test]
    fn trims_within_bounds() {
        let mut t = transit();
        data(t.write("keys/k", json!({})));
        let old = data(t.write("encrypt/k", json!({"plaintext": "aGk="})))["ciphertext"].clone();
        for _ in 0..3 {
            data(t.write("keys/k/rotate", json!({})));
        }
        let err = t
            .write("keys/k/trim", json!({"min_available_version": 2}))
            .unwrap_err();
        assert!(err
            .message()
            .contains("minimum encryption version is not set"));
        data(t.write(
            "keys/k/config",
            json!({"min_decryption_version": 3, "min_encryption_version": 3}),
        ));
        assert!(t
            .write("keys/k/trim", json!({}))
            .unwrap_err()
            .message()
            .contains("missing"));
        assert!(t
            .write("keys/k/trim", json!({"min_available_version": 4}))
            .is_err());
        let r = data(t.write("keys/k/trim", json!({"min_available_version": 3})));
        assert_eq!(r["min_available_version"], 3);
        assert!(t
            .write("keys/k/trim", json!({"min_available_version": 2}))
            .unwrap_err()
            .message()
            .contains("decremented"));
        let err = t
            .write("keys/k/config", json!({"min_decryption_version": 1}))
            .unwrap_err();
        assert!(err.message().contains("min available version"), "{err}");
        assert!(t.write("decrypt/k", json!({"ciphertext": old})).is_err());
        assert_eq!(
            data(t.write("encrypt/k", json!({"plaintext": "aGk="})))["key_version"],
            4
        );
    }
}
