//! `rewrap/:name`: decrypts and re-encrypts with the latest (or a given)
//! version, without ever returning the plaintext.

use coffer_sdk::prelude::*;
use coffer_sdk::{Batch, BatchInput};

use crate::encrypt::Encrypted;
use crate::policy::cache;
use crate::policy::crypto::{Nonces, ToDecrypt, ToEncrypt};
use crate::util::answer_in_order;

/// `rewrap/:name`.
pub fn path() -> Path {
    Path::new("rewrap/{name}")
        .update(rewrap)
        .synopsis("Rewraps a ciphertext with the latest version of a named key.")
}

#[derive(Fields)]
#[allow(dead_code)] // Declared for the schema; `Batch` parses the lone input.
struct Rewrap {
    /// Name of the key.
    name: String,
    /// The ciphertext (`vault:vN:...`).
    ciphertext: Option<String>,
    /// Base64 context for key derivation (derived keys).
    context: Option<String>,
    /// Version to re-encrypt with; 0 is the latest.
    key_version: Option<u32>,
    /// Ignored: nonces are carried in the ciphertext.
    nonce: Option<String>,
    /// Items to rewrap, each with the fields above and a `reference`.
    batch_input: Option<BatchInput<Item>>,
}

/// One input.
#[derive(Fields)]
struct Item {
    /// The ciphertext.
    #[field(required)]
    ciphertext: String,
    /// Base64 context for key derivation.
    context: Option<Base64>,
    /// Version to re-encrypt with; 0 is the latest.
    key_version: u32,
}

fn rewrap(ctx: &mut Ctx<'_>, f: Rewrap) -> Result<Response, Error> {
    // Vault answers a rewrap batch with 200 and per-item errors.
    let batch = Batch::<Item>::from_request(ctx, f.batch_input)?.item_errors_succeed();
    let Some(loaded) = cache::load(ctx, &f.name)? else {
        return Err(Error::invalid("encryption key not found"));
    };
    let p = &loaded.policy;
    // Every item decrypted together, then re-encrypted together (one host
    // call per key each), then answered item by item in order.
    let items: Vec<&Item> = batch.parsed().collect();
    let opened = loaded.decrypt_all(
        &items
            .iter()
            .map(|item| ToDecrypt {
                ciphertext: &item.ciphertext,
                context: item.context.as_deref().unwrap_or_default(),
                aad: &[],
            })
            .collect::<Vec<_>>(),
    );
    let mut checked = Vec::with_capacity(items.len());
    let mut inputs = Vec::with_capacity(items.len());
    for (item, opened) in items.iter().zip(&opened) {
        let check = opened
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|(plain, _)| {
                let v = p.encryption_version(item.key_version, "encryption")?;
                inputs.push(ToEncrypt {
                    version: v,
                    context: item.context.as_deref().unwrap_or_default(),
                    plaintext: plain,
                    aad: &[],
                });
                Ok(v)
            });
        checked.push(check);
    }
    let mut nonces = Nonces::new(inputs.len());
    let sealed = loaded.encrypt_all(&inputs, &mut nonces);
    drop(inputs);
    drop(items);
    answer_in_order(batch, checked, sealed, |key_version, ciphertext| {
        Encrypted {
            ciphertext,
            key_version,
        }
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::tests::{data, transit};

    #[test]
    fn rewrap_moves_to_the_latest_version() {
        let mut t = transit();
        data(t.write("keys/k", json!({})));
        let ct = data(t.write("encrypt/k", json!({"plaintext": "aGk="})))["ciphertext"].clone();
        data(t.write("keys/k/rotate", json!({})));
        let r = data(t.write("rewrap/k", json!({"ciphertext": ct})));
        assert_eq!(r["key_version"], 2);
        assert!(r["ciphertext"].as_str().unwrap().starts_with("vault:v2:"));
        assert!(r.get("plaintext").is_none());
        assert_eq!(
            data(t.write("decrypt/k", json!({"ciphertext": r["ciphertext"]})))["plaintext"],
            "aGk="
        );
        let r = t
            .write("rewrap/k", json!({"batch_input": [{"ciphertext": ct, "reference": "a"}, {"ciphertext": "bad"}]}))
            .unwrap();
        assert_eq!(r.status(), 200);
        let items = &r.data_value().unwrap()["batch_results"];
        assert_eq!(items[0]["key_version"], 2);
        assert_eq!(items[1]["error"], "invalid ciphertext: no prefix");
        assert!(t.write("rewrap/nope", json!({"ciphertext": ct})).is_err());
    }
}
