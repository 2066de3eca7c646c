//! `datakey/:type/:name`: a fresh random key, returned encrypted with the
//! named key, and in plaintext too for `type` = `plaintext`.

use coffer_sdk::crypto;
use coffer_sdk::prelude::*;
use serde_json::json;

use crate::policy::cache;
use crate::policy::crypto::{Nonces, ToEncrypt};
use crate::util::b64;

/// `datakey/:type/:name`.
pub fn path() -> Path {
    Path::new("datakey/{plaintext}/{name}")
        .update(datakey)
        .synopsis("Generates a data key encrypted with a named key.")
}

#[derive(Fields)]
struct Datakey {
    /// `plaintext` to return the key in plaintext too, or `wrapped`.
    plaintext: String,
    /// Name of the key.
    name: String,
    /// Base64 context for key derivation (derived keys).
    context: Option<Base64>,
    /// Ignored: nonces are random, or derived for convergent keys.
    nonce: Option<String>,
    /// Number of bits of the data key: 128, 256 or 512.
    #[field(default = 256)]
    bits: u32,
    /// Version of the key to encrypt with; 0 is the latest.
    key_version: u32,
    /// Base64 associated data (AEAD key types).
    associated_data: Option<Base64>,
}

fn datakey(ctx: &mut Ctx<'_>, f: Datakey) -> Result<Response, Error> {
    let with_plaintext = match f.plaintext.as_str() {
        "plaintext" => true,
        "wrapped" => false,
        _ => {
            return Err(Error::invalid(
                "Invalid path, must be 'plaintext' or 'wrapped'",
            ))
        }
    };
    let Some(loaded) = cache::load(ctx, &f.name)? else {
        return Err(Error::invalid("encryption key not found"));
    };
    if !matches!(f.bits, 128 | 256 | 512) {
        return Err(Error::invalid(
            "invalid bit length: 'bits' must be 128, 256 or 512",
        ));
    }
    if f.nonce.is_some() {
        ctx.warn("'nonce' is ignored: nonces are random, or derived for convergent keys");
    }
    let p = &loaded.policy;
    let aad = f.associated_data.as_deref().unwrap_or_default();
    if !aad.is_empty() && !p.kind.supports_associated_data() {
        return Err(Error::invalid(format!(
            "'associated_data' provided for non-AEAD cipher suite {}",
            p.kind
        )));
    }
    let v = p.encryption_version(f.key_version, "encryption")?;
    let key = crypto::random_bytes(f.bits / 8)?;
    let ciphertext = loaded.encrypt(
        ToEncrypt {
            version: v,
            context: f.context.as_deref().unwrap_or_default(),
            plaintext: &key,
            aad,
        },
        &mut Nonces::new(1),
    )?;
    let mut data = json!({"ciphertext": ciphertext, "key_version": v});
    if with_plaintext {
        data["plaintext"] = json!(b64::encode(&key));
    }
    Ok(Response::data(data))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::tests::{data, transit};
    use crate::util::decode_b64;

    #[test]
    fn plaintext_and_wrapped() {
        let mut t = transit();
        data(t.write("keys/k", json!({})));
        let r = data(t.write("datakey/plaintext/k", json!({})));
        let key = decode_b64(r["plaintext"].as_str().unwrap()).unwrap();
        assert_eq!(key.len(), 32);
        let d = data(t.write("decrypt/k", json!({"ciphertext": r["ciphertext"]})));
        assert_eq!(d["plaintext"], r["plaintext"]);
        let r = data(t.write("datakey/wrapped/k", json!({"bits": 512})));
        assert!(r.get("plaintext").is_none());
        let d = data(t.write("decrypt/k", json!({"ciphertext": r["ciphertext"]})));
        assert_eq!(
            decode_b64(d["plaintext"].as_str().unwrap()).unwrap().len(),
            64
        );
        assert!(t
            .write("datakey/wrapped/k", json!({"bits": 100}))
            .unwrap_err()
            .message()
            .contains("bit length"));
        assert!(t
            .write("datakey/foo/k", json!({}))
            .unwrap_err()
            .message()
            .contains("Invalid path"));
        assert_eq!(
            t.write("datakey/plaintext/nope", json!({}))
                .unwrap_err()
                .message(),
            "encryption key not found"
        );
    }
}
