//! `decrypt/:name`: decrypts one ciphertext or a batch.

use coffer_sdk::prelude::*;
use coffer_sdk::{Batch, BatchInput};
use serde::Serialize;

use crate::policy::cache;
use crate::policy::crypto::ToDecrypt;
use crate::util::{answer_in_order, b64};

/// `decrypt/:name`.
pub fn path() -> Path {
    Path::new("decrypt/{name}")
        .update(decrypt)
        .synopsis("Decrypts a ciphertext value or a batch of them with a named key.")
}

#[derive(Fields)]
#[allow(dead_code)] // Declared for the schema; `Batch` parses the lone input.
struct Decrypt {
    /// Name of the key.
    name: String,
    /// The ciphertext (`vault:vN:...`).
    ciphertext: Option<String>,
    /// Base64 context for key derivation (derived keys).
    context: Option<String>,
    /// Base64 associated data given when encrypting (AEAD key types).
    associated_data: Option<String>,
    /// Ignored: nonces are carried in the ciphertext.
    nonce: Option<String>,
    /// Items to decrypt, each with the fields above and a `reference`.
    batch_input: Option<BatchInput<Item>>,
    /// Status for a batch where some items failed and some succeeded.
    partial_failure_response_code: Option<u16>,
}

/// One input.
#[derive(Fields)]
struct Item {
    /// The ciphertext.
    #[field(required)]
    ciphertext: String,
    /// Base64 context for key derivation.
    context: Option<Base64>,
    /// Base64 associated data.
    associated_data: Option<Base64>,
}

fn decrypt(ctx: &mut Ctx<'_>, f: Decrypt) -> Result<Response, Error> {
    let batch = Batch::<Item>::from_request(ctx, f.batch_input)?
        .partial_failure_status(f.partial_failure_response_code);
    let Some(loaded) = cache::load(ctx, &f.name)? else {
        return Err(Error::invalid("encryption key not found"));
    };
    let kind = loaded.policy.kind;
    // Checked item by item, then decrypted together (one host call per
    // key), then answered item by item in order.
    let mut checked = Vec::with_capacity(batch.len());
    let mut inputs = Vec::with_capacity(batch.len());
    for (i, item) in batch.parsed().enumerate() {
        let aad = item.associated_data.as_deref().unwrap_or_default();
        if !aad.is_empty() && !kind.supports_associated_data() {
            checked.push(Err(Error::invalid(format!(
                "'[{i}].associated_data' provided for non-AEAD cipher suite {kind}"
            ))));
            continue;
        }
        inputs.push(ToDecrypt {
            ciphertext: &item.ciphertext,
            context: item.context.as_deref().unwrap_or_default(),
            aad,
        });
        checked.push(Ok(()));
    }
    let decrypted = loaded.decrypt_all(&inputs);
    drop(inputs);
    answer_in_order(batch, checked, decrypted, |(), (plain, _)| Decrypted {
        plaintext: b64::encode(&plain),
    })
}

/// One result.
#[derive(Serialize)]
struct Decrypted {
    plaintext: String,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::tests::{data, transit};

    #[test]
    fn failures_name_the_problem_and_never_return_plaintext() {
        let mut t = transit();
        data(t.write("keys/k", json!({})));
        let ct = data(t.write(
            "encrypt/k",
            json!({"plaintext": "aGVsbG8=", "associated_data": "YWQ="}),
        ))["ciphertext"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            data(t.write(
                "decrypt/k",
                json!({"ciphertext": ct, "associated_data": "YWQ="})
            ))["plaintext"],
            "aGVsbG8="
        );
        let mut tampered = ct.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        let truncated = ct[..20].to_owned();
        for (body, needle) in [
            (json!({"ciphertext": ct}), "message authentication failed"),
            (
                json!({"ciphertext": tampered, "associated_data": "YWQ="}),
                "message authentication failed",
            ),
            (json!({"ciphertext": truncated}), "invalid ciphertext"),
            (
                json!({"ciphertext": "vault:v2:AAAA"}),
                "invalid ciphertext: version is too new",
            ),
            (
                json!({"ciphertext": "vault:vx:AAAA"}),
                "version number could not be decoded",
            ),
            (
                json!({"ciphertext": "foo"}),
                "invalid ciphertext: no prefix",
            ),
            (
                json!({"ciphertext": "vault:v1:!!"}),
                "could not decode base64",
            ),
            (json!({}), "missing required field 'ciphertext'"),
        ] {
            let err = t.write("decrypt/k", body.clone()).unwrap_err();
            assert_eq!(err.status(), 400, "{body}");
            assert!(err.message().contains(needle), "{body}: {err}");
        }
        let err = t
            .write("decrypt/nope", json!({"ciphertext": ct}))
            .unwrap_err();
        assert_eq!(err.message(), "encryption key not found");
        let r = t
            .write(
                "decrypt/k",
                json!({"batch_input": [{"ciphertext": "bad", "reference": "x"}]}),
            )
            .unwrap();
        assert_eq!(r.status(), 400);
        assert_eq!(
            r.data_value().unwrap()["batch_results"][0]["reference"],
            "x"
        );
        assert!(r.data_value().unwrap()["batch_results"][0]
            .get("plaintext")
            .is_none());
    }

    #[test]
    fn min_decryption_version_and_derived_context() {
        let mut t = transit();
        data(t.write("keys/k", json!({})));
        let old = data(t.write("encrypt/k", json!({"plaintext": "aGk="})))["ciphertext"].clone();
        data(t.write("keys/k/rotate", json!({})));
        data(t.write("keys/k/config", json!({"min_decryption_version": 2})));
        let err = t
            .write("decrypt/k", json!({"ciphertext": old}))
            .unwrap_err();
        assert!(err.message().contains("too old"), "{err}");

        data(t.write("keys/d", json!({"derived": true})));
        let ct = data(t.write("encrypt/d", json!({"plaintext": "aGk=", "context": "YQ=="})))
            ["ciphertext"]
            .clone();
        assert!(t
            .write("decrypt/d", json!({"ciphertext": ct, "context": "Yg=="}))
            .is_err());
        assert!(t.write("decrypt/d", json!({"ciphertext": ct})).is_err());
        assert_eq!(
            data(t.write("decrypt/d", json!({"ciphertext": ct, "context": "YQ=="})))["plaintext"],
            "aGk="
        );
    }
}
