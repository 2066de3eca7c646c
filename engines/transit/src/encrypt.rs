//! `encrypt/:name`: encrypts one plaintext or a batch, creating the key on
//! first use (upsert) unless `config/keys` disables it.

use std::rc::Rc;

use coffer_sdk::prelude::*;
use coffer_sdk::{Batch, BatchInput};
use serde::Serialize;

use crate::config::read_config;
use crate::keys::Name;
use crate::policy::crypto::{Nonces, ToEncrypt};
use crate::policy::model::NewKey;
use crate::policy::{cache, store, KeyKind, Loaded, Policy};
use crate::util::answer_in_order;

/// `encrypt/:name`.
pub fn path() -> Path {
    Path::new("encrypt/{name}")
        .update(encrypt)
        .exists(|ctx: &mut Ctx<'_>, f: Name| cache::exists(ctx, &f.name))
        .synopsis("Encrypts a plaintext value or a batch of them with a named key.")
}

/// The request's own fields (a lone input's fields are parsed as [`Item`]).
#[derive(Fields)]
#[allow(dead_code)] // Declared for the schema; `Batch` parses the lone input.
struct Encrypt {
    /// Name of the key.
    name: String,
    /// Base64 plaintext to encrypt.
    plaintext: Option<String>,
    /// Base64 context for key derivation (derived keys).
    context: Option<String>,
    /// Version of the key to use; 0 is the latest.
    key_version: Option<u32>,
    /// Base64 associated data, authenticated with AEAD key types.
    associated_data: Option<String>,
    /// Ignored: nonces are random, or derived for convergent keys.
    nonce: Option<String>,
    /// Type of the key to create when it does not exist.
    #[field(default = "aes256-gcm96")]
    r#type: KeyKind,
    /// Whether a key created here is convergent (needs a context).
    convergent_encryption: bool,
    /// Items to encrypt, each with the fields above and a `reference`.
    batch_input: Option<BatchInput<Item>>,
    /// Status for a batch where some items failed and some succeeded.
    partial_failure_response_code: Option<u16>,
}

/// One input.
#[derive(Fields)]
pub struct Item {
    /// Base64 plaintext to encrypt.
    #[field(required)]
    plaintext: Base64,
    /// Base64 context for key derivation.
    context: Option<Base64>,
    /// Version of the key to use; 0 is the latest.
    key_version: u32,
    /// Base64 associated data (AEAD key types).
    associated_data: Option<Base64>,
    /// Ignored (see the request's `nonce`).
    nonce: Option<String>,
}

fn encrypt(ctx: &mut Ctx<'_>, f: Encrypt) -> Result<Response, Error> {
    let batch = Batch::<Item>::from_request(ctx, f.batch_input)?
        .partial_failure_status(f.partial_failure_response_code);
    let mut with_context = None;
    for item in batch.parsed() {
        let has = item.context.as_ref().is_some_and(|c| !c.is_empty());
        if *with_context.get_or_insert(has) != has {
            return Err(Error::invalid(
                "context should be set either in all the request blocks or in none",
            ));
        }
        if item.nonce.is_some() {
            ctx.warn("'nonce' is ignored: nonces are random, or derived from the plaintext for convergent keys");
        }
    }
    let loaded = match cache::load(ctx, &f.name)? {
        Some(l) => l,
        None => upsert(
            ctx,
            &f.name,
            f.r#type,
            f.convergent_encryption,
            with_context == Some(true),
        )?,
    };
    let p = &loaded.policy;
    // Checked item by item, then encrypted together (one host call per
    // key), then answered item by item in order.
    let mut checked = Vec::with_capacity(batch.len());
    let mut inputs = Vec::with_capacity(batch.len());
    for (i, item) in batch.parsed().enumerate() {
        let check = p
            .encryption_version(item.key_version, "encryption")
            .and_then(|v| {
                let aad = item.associated_data.as_deref().unwrap_or_default();
                if !aad.is_empty() && !p.kind.supports_associated_data() {
                    return Err(Error::invalid(format!(
                        "'[{i}].associated_data' provided for non-AEAD cipher suite {}",
                        p.kind
                    )));
                }
                inputs.push(ToEncrypt {
                    version: v,
                    context: item.context.as_deref().unwrap_or_default(),
                    plaintext: &item.plaintext,
                    aad,
                });
                Ok(v)
            });
        checked.push(check);
    }
    let mut nonces = Nonces::new(inputs.len());
    let encrypted = loaded.encrypt_all(&inputs, &mut nonces);
    drop(inputs);
    answer_in_order(batch, checked, encrypted, |key_version, ciphertext| {
        Encrypted {
            ciphertext,
            key_version,
        }
    })
}

/// One result (also rewrap's).
#[derive(Serialize)]
pub(crate) struct Encrypted {
    pub(crate) ciphertext: String,
    pub(crate) key_version: u32,
}

/// Creates the key of an encrypt (or datakey) to a missing name, unless
/// upserts are disabled.
fn upsert(
    ctx: &mut Ctx<'_>,
    name: &str,
    kind: KeyKind,
    convergent: bool,
    derived: bool,
) -> Result<Rc<Loaded>, Error> {
    if ctx.operation() != coffer_sdk::Operation::Create || read_config(ctx)?.disable_upsert {
        return Err(Error::invalid("encryption key not found"));
    }
    store::check_name(name)?;
    if kind.aead().is_none() {
        kind.check_supported()?;
        return Err(Error::invalid(format!(
            "key type {kind} not supported for this operation"
        )));
    }
    if convergent && !derived {
        return Err(Error::invalid(
            "convergent encryption requires derivation to be enabled, so context is required",
        ));
    }
    let mut policy = Policy::new(
        name,
        kind,
        &NewKey {
            derived,
            convergent,
            ..NewKey::default()
        },
    )?;
    policy.rotate(ctx.now())?;
    store::save(ctx, &policy)?;
    Ok(Rc::new(Loaded::new(policy)))
}

#[cfg(test)]
mod tests {
    use coffer_sdk::{Operation, Request};
    use serde_json::json;

    use crate::tests::{data, transit};

    #[test]
    fn encrypt_decrypt_round_trip_with_upsert() {
        let mut t = transit();
        let r = data(t.write("encrypt/k", json!({"plaintext": "aGVsbG8="})));
        assert_eq!(r["key_version"], 1);
        let ct = r["ciphertext"].as_str().unwrap().to_owned();
        assert!(ct.starts_with("vault:v1:"));
        let d = data(t.write("decrypt/k", json!({"ciphertext": ct})));
        assert_eq!(d["plaintext"], "aGVsbG8=");
        // An update (no create capability) on a missing key does not upsert.
        let err = t
            .request(
                Request::new(Operation::Update, "encrypt/other")
                    .with_body(json!({"plaintext": "aGk="})),
            )
            .unwrap_err();
        assert_eq!(err.message(), "encryption key not found");
    }

    #[test]
    fn upsert_rules() {
        let mut t = transit();
        data(t.write("config/keys", json!({"disable_upsert": true})));
        assert_eq!(
            t.write("encrypt/k", json!({"plaintext": "aGk="}))
                .unwrap_err()
                .message(),
            "encryption key not found"
        );
        data(t.write("config/keys", json!({"disable_upsert": false})));
        let err = t
            .write(
                "encrypt/k",
                json!({"plaintext": "aGk=", "type": "ecdsa-p256"}),
            )
            .unwrap_err();
        assert_eq!(
            err.message(),
            "key type ecdsa-p256 not supported for this operation"
        );
        let err = t
            .write(
                "encrypt/k",
                json!({"plaintext": "aGk=", "convergent_encryption": true}),
            )
            .unwrap_err();
        assert!(err.message().contains("context is required"));
        data(t.write(
            "encrypt/conv",
            json!({"plaintext": "aGk=", "convergent_encryption": true, "context": "Y3R4", "type": "chacha20-poly1305"}),
        ));
        let k = data(t.read("keys/conv"));
        assert_eq!(k["derived"], true);
        assert_eq!(k["convergent_encryption"], true);
        assert_eq!(k["type"], "chacha20-poly1305");
        let a = data(t.write(
            "encrypt/conv",
            json!({"plaintext": "aGk=", "context": "Y3R4"}),
        ));
        let b = data(t.write(
            "encrypt/conv",
            json!({"plaintext": "aGk=", "context": "Y3R4"}),
        ));
        assert_eq!(a, b);
        let err = t
            .write("encrypt/conv", json!({"plaintext": "aGk="}))
            .unwrap_err();
        assert!(err
            .message()
            .starts_with("missing 'context' for key derivation"));
    }

    #[test]
    fn batches_keep_order_and_references() {
        let mut t = transit();
        data(t.write("keys/k", json!({})));
        let r = t
            .write(
                "encrypt/k",
                json!({"batch_input": [
                    {"plaintext": "YQ==", "reference": "a"},
                    {"plaintext": "!!", "reference": "b"},
                    {"plaintext": "Yw=="},
                ]}),
            )
            .unwrap();
        assert_eq!(r.status(), 400);
        let items = r.data_value().unwrap()["batch_results"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0]["reference"], "a");
        assert!(items[0]["ciphertext"]
            .as_str()
            .unwrap()
            .starts_with("vault:v1:"));
        assert_eq!(items[1]["reference"], "b");
        assert!(items[1]["error"].as_str().unwrap().contains("plaintext"));
        assert_eq!(items[2]["reference"], "");
        let r = t
            .write(
                "encrypt/k",
                json!({"batch_input": [{"plaintext": "YQ=="}, {"plaintext": "!!"}], "partial_failure_response_code": 207}),
            )
            .unwrap();
        assert_eq!(r.status(), 207);
        let err = t
            .write("encrypt/k", json!({"batch_input": [{"plaintext": "YQ==", "context": "Yw=="}, {"plaintext": "YQ=="}]}))
            .unwrap_err();
        assert!(err.message().contains("context should be set"));
        assert!(t.write("encrypt/k", json!({"batch_input": []})).is_err());
    }

    #[test]
    fn bad_inputs() {
        let mut t = transit();
        data(t.write("keys/k", json!({})));
        data(t.write("keys/e", json!({"type": "ed25519"})));
        for (path, body, needle) in [
            ("encrypt/k", json!({"plaintext": "!!"}), "field 'plaintext'"),
            ("encrypt/k", json!({}), "missing required field 'plaintext'"),
            (
                "encrypt/k",
                json!({"plaintext": "aGk=", "key_version": 2}),
                "higher than the latest",
            ),
            (
                "encrypt/k",
                json!({"plaintext": "aGk=", "context": "!"}),
                "field 'context'",
            ),
            (
                "encrypt/e",
                json!({"plaintext": "aGk="}),
                "not supported for key type ed25519",
            ),
        ] {
            let err = t.write(path, body.clone()).unwrap_err();
            assert_eq!(err.status(), 400, "{body}");
            assert!(err.message().contains(needle), "{body}: {err}");
        }
    }

    #[test]
    fn rsa_encrypts_with_oaep_and_aad_is_refused() {
        let mut t = transit();
        data(t.write("keys/r", json!({"type": "rsa-2048"})));
        let ct = data(t.write("encrypt/r", json!({"plaintext": "aGk="})))["ciphertext"].clone();
        assert_eq!(
            data(t.write("decrypt/r", json!({"ciphertext": ct})))["plaintext"],
            "aGk="
        );
        let err = t
            .write(
                "encrypt/r",
                json!({"plaintext": "aGk=", "associated_data": "YQ=="}),
            )
            .unwrap_err();
        assert!(
            err.message().contains("non-AEAD cipher suite rsa-2048"),
            "{err}"
        );
    }

    #[test]
    fn thousand_item_batch() {
        let mut t = transit();
        data(t.write("keys/k", json!({})));
        let items: Vec<_> = (0..1000)
            .map(|i| json!({"plaintext": "aGVsbG8=", "reference": i}))
            .collect();
        let start = std::time::Instant::now();
        let r = data(t.write("encrypt/k", json!({"batch_input": items})));
        let elapsed = start.elapsed();
        let results = r["batch_results"].as_array().unwrap();
        assert_eq!(results.len(), 1000);
        assert_eq!(results[999]["reference"], 999);
        eprintln!("1000 encrypts natively (debug build): {elapsed:?}");
    }
}
