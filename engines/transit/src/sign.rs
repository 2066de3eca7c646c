//! `sign/:name(/:hash_algorithm)` and `verify/:name(/:hash_algorithm)`
//! (signatures, or HMACs with `hmac`).

use coffer_sdk::crypto::RsaPadding;
use coffer_sdk::prelude::*;
use coffer_sdk::{Batch, BatchInput};
use serde_json::json;

use crate::policy::cache;
use crate::policy::crypto::{Salt, SignParams};
use crate::util::{decode_b64, HashName};

/// `sign/:name(/:hash_algorithm)`.
pub fn sign_path() -> Path {
    Path::new("sign/{name}/{urlalgorithm?}")
        .update(sign)
        .synopsis("Generates a signature for input data with a named key.")
}

/// `verify/:name(/:hash_algorithm)`.
pub fn verify_path() -> Path {
    Path::new("verify/{name}/{urlalgorithm?}")
        .update(verify)
        .synopsis("Verifies a signature or an HMAC for input data with a named key.")
}

/// What sign and verify share.
#[derive(Fields)]
struct Common {
    /// Hash algorithm in the URL (overrides `hash_algorithm`).
    urlalgorithm: Option<String>,
    /// sha2-256 (default), sha1, sha2-224/384/512, sha3-224/256/384/512, or none (RSA PKCS#1 v1.5 with prehashed input).
    hash_algorithm: Option<String>,
    /// Deprecated alias of `hash_algorithm`.
    algorithm: Option<String>,
    /// Whether the input is already the digest.
    prehashed: bool,
    /// RSA: pss (default) or pkcs1v15.
    #[field(default = "pss")]
    signature_algorithm: String,
    /// ECDSA: asn1 (default) or jws.
    #[field(default = "asn1")]
    marshaling_algorithm: String,
    /// RSA-PSS salt length: auto (default), hash, or a number of bytes.
    #[field(default = "auto")]
    salt_length: String,
}

impl Common {
    fn algorithm_name(&self) -> &str {
        self.urlalgorithm
            .as_deref()
            .or(self.hash_algorithm.as_deref())
            .or(self.algorithm.as_deref())
            .unwrap_or("sha2-256")
    }

    fn params(&self) -> Result<SignParams, Error> {
        let name = self.algorithm_name();
        let hash = HashName::from_name(name)
            .ok_or_else(|| Error::invalid(format!("invalid hash algorithm {name:?}")))?;
        let padding = match self.signature_algorithm.as_str() {
            "" | "pss" => RsaPadding::Pss,
            "pkcs1v15" => RsaPadding::Pkcs1v15,
            other => {
                return Err(Error::invalid(format!(
                    "unsupported rsa signature algorithm {other}"
                )))
            }
        };
        let jws = match self.marshaling_algorithm.as_str() {
            "" | "asn1" => false,
            "jws" => true,
            other => return Err(Error::invalid(format!("invalid marshaling type {other:?}"))),
        };
        if hash == HashName::None && (!self.prehashed || padding != RsaPadding::Pkcs1v15) {
            return Err(Error::invalid(
                "hash_algorithm=none requires both prehashed=true and signature_algorithm=pkcs1v15",
            ));
        }
        Ok(SignParams {
            hash: hash.algorithm(),
            prehashed: self.prehashed,
            padding,
            salt: Salt::parse(&self.salt_length)?,
            jws,
        })
    }
}

#[derive(Fields)]
#[allow(dead_code)] // Declared for the schema; `Batch` parses the lone input.
struct Sign {
    /// Name of the key.
    name: String,
    /// Hash algorithm in the URL (overrides `hash_algorithm`).
    urlalgorithm: Option<String>,
    /// sha2-256 (default), sha1, sha2-224/384/512, sha3-224/256/384/512, or none (RSA PKCS#1 v1.5 with prehashed input).
    hash_algorithm: Option<String>,
    /// Deprecated alias of `hash_algorithm`.
    algorithm: Option<String>,
    /// Whether the input is already the digest.
    prehashed: bool,
    /// RSA: pss (default) or pkcs1v15.
    signature_algorithm: Option<String>,
    /// ECDSA: asn1 (default) or jws.
    marshaling_algorithm: Option<String>,
    /// RSA-PSS salt length: auto (default), hash, or a number of bytes.
    salt_length: Option<String>,
    /// Version of the key to sign with; 0 is the latest.
    key_version: u32,
    /// Base64 input.
    input: Option<String>,
    /// Base64 context (derived Ed25519 keys).
    context: Option<String>,
    /// Items, each with `input`, `context` and a `reference`.
    batch_input: Option<BatchInput<SignItem>>,
}

#[derive(Fields)]
#[allow(dead_code)] // Declared for the schema; `Batch` parses the lone input.
struct Verify {
    /// Name of the key.
    name: String,
    /// Hash algorithm in the URL (overrides `hash_algorithm`).
    urlalgorithm: Option<String>,
    /// sha2-256 (default), sha1, sha2-224/384/512, sha3-224/256/384/512, or none (RSA PKCS#1 v1.5 with prehashed input).
    hash_algorithm: Option<String>,
    /// Deprecated alias of `hash_algorithm`.
    algorithm: Option<String>,
    /// Whether the input is already the digest.
    prehashed: bool,
    /// RSA: pss (default) or pkcs1v15.
    signature_algorithm: Option<String>,
    /// ECDSA: asn1 (default) or jws.
    marshaling_algorithm: Option<String>,
    /// RSA-PSS salt length: auto (default), hash, or a number of bytes.
    salt_length: Option<String>,
    /// Base64 input.
    input: Option<String>,
    /// Base64 context (derived Ed25519 keys).
    context: Option<String>,
    /// The signature (`vault:vN:...`).
    signature: Option<String>,
    /// The HMAC (`vault:vN:...`), instead of a signature.
    hmac: Option<String>,
    /// Items, each with `input`, `signature` or `hmac`, `context` and a `reference`.
    batch_input: Option<BatchInput<VerifyItem>>,
}

/// One input to sign.
#[derive(Fields)]
struct SignItem {
    /// Base64 input.
    input: Option<Base64>,
    /// Base64 context.
    context: Option<Base64>,
}

/// One input to verify. `input` and `context` are decoded when the item
/// runs, after the checks on `signature` and `hmac`, as Vault does: bad
/// base64 is "unable to decode input as base64", not a missing signature.
#[derive(Fields)]
struct VerifyItem {
    /// Base64 input.
    input: Option<String>,
    /// Base64 context.
    context: Option<String>,
    /// The signature.
    signature: Option<String>,
    /// The HMAC.
    hmac: Option<String>,
}

fn sign(ctx: &mut Ctx<'_>, f: Sign) -> Result<Response, Error> {
    let common: Common = ctx.parse()?;
    let params = common.params()?;
    let batch = Batch::<SignItem>::from_request(ctx, f.batch_input)?.item_errors_succeed();
    let Some(loaded) = cache::load(ctx, &f.name)? else {
        return Err(Error::invalid("signing key not found"));
    };
    let p = &loaded.policy;
    if !p.kind.supports_signing() {
        return Err(Error::invalid(format!(
            "key type {} does not support signing",
            p.kind
        )));
    }
    let v = p.encryption_version(f.key_version, "signing")?;
    batch.run(|item| {
        let input = item.input.ok_or_else(|| Error::invalid("missing input"))?;
        let context = item.context.as_deref().unwrap_or_default();
        let (signature, public) = loaded.sign(v, context, &input, &params)?;
        let mut out = json!({"signature": signature, "key_version": v});
        if let Some(public) = public {
            out["public_key"] = json!(public);
        }
        Ok(out)
    })
}

fn verify(ctx: &mut Ctx<'_>, f: Verify) -> Result<Response, Error> {
    let common: Common = ctx.parse()?;
    let is_batch = f.batch_input.is_some();
    let batch = Batch::<VerifyItem>::from_request(ctx, f.batch_input)?.item_errors_succeed();
    let (mut sigs, mut macs, mut missing) = (0, 0, 0);
    for item in batch.parsed() {
        match (&item.signature, &item.hmac) {
            (Some(_), Some(_)) if !is_batch => {
                return Err(Error::invalid("provide one of 'signature' or 'hmac'"))
            }
            (Some(_), _) => sigs += 1,
            (None, Some(_)) => macs += 1,
            (None, None) => missing += 1,
        }
    }
    match (sigs > 0, macs > 0, missing > 0) {
        (false, false, _) if !is_batch => {
            return Err(Error::invalid(
                "neither a 'signature' nor an 'hmac' were given to verify",
            ))
        }
        (true, true, _) => {
            return Err(Error::invalid(
                "elements of batch_input must all provide 'signature' or all provide 'hmac'",
            ))
        }
        (true, false, true) => {
            return Err(Error::invalid(
                "some elements of batch_input are missing 'signature'",
            ))
        }
        (false, true, true) => {
            return Err(Error::invalid(
                "some elements of batch_input are missing 'hmac'",
            ))
        }
        (false, false, true) => {
            return Err(Error::invalid(
                "no batch_input elements have 'signature' or 'hmac'",
            ))
        }
        _ => {}
    }
    let Some(loaded) = cache::load(ctx, &f.name)? else {
        return Err(Error::invalid(if macs > 0 {
            "encryption key not found"
        } else {
            "signature verification key not found"
        }));
    };
    if macs > 0 {
        let alg = crate::hmac::algorithm(common.algorithm_name())?;
        return batch.run(|item| {
            let input = decode_input(item.input.as_deref())?;
            let mac = item.hmac.ok_or_else(|| Error::invalid("missing hmac"))?;
            Ok(json!({"valid": crate::hmac::verify(&loaded, alg, &input, &mac)?}))
        });
    }
    let params = common.params()?;
    if !loaded.policy.kind.supports_signing() {
        return Err(Error::invalid(format!(
            "key type {} does not support verification",
            loaded.policy.kind
        )));
    }
    batch.run(|item| {
        let input = decode_input(item.input.as_deref())?;
        let signature = item
            .signature
            .ok_or_else(|| Error::invalid("missing signature"))?;
        let context = match item.context.as_deref() {
            None | Some("") => Vec::new(),
            Some(text) => decode_b64(text)
                .map_err(|e| Error::invalid(format!("failed to base64-decode context: {e}")))?,
        };
        Ok(json!({"valid": loaded.verify(&signature, &context, &input, &params)?}))
    })
}

/// A verify item's `input` (Vault's messages).
fn decode_input(input: Option<&str>) -> Result<Vec<u8>, Error> {
    let input = input.ok_or_else(|| Error::invalid("missing input"))?;
    decode_b64(input).map_err(|e| Error::invalid(format!("unable to decode input as base64: {e}")))
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::tests::{data, transit};

    fn sign_verify(t: &mut coffer_sdk::testing::TestEngine, key: &str, extra: Value) -> Value {
        let mut body = json!({"input": "aGVsbG8="});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let sig = data(t.write(&format!("sign/{key}"), body.clone()));
        body["signature"] = sig["signature"].clone();
        assert_eq!(
            data(t.write(&format!("verify/{key}"), body.clone()))["valid"],
            true,
            "{key} {extra}"
        );
        body["input"] = json!("aGk=");
        assert_eq!(
            data(t.write(&format!("verify/{key}"), body))["valid"],
            false,
            "{key} {extra}"
        );
        sig
    }

    #[test]
    fn every_signing_type_and_option() {
        let mut t = transit();
        for kind in [
            "ed25519",
            "ecdsa-p256",
            "ecdsa-p384",
            "ecdsa-p521",
            "rsa-2048",
        ] {
            data(t.write(&format!("keys/{kind}"), json!({"type": kind})));
            let s = sign_verify(&mut t, kind, json!({}));
            assert_eq!(s["key_version"], 1);
            assert!(s["signature"].as_str().unwrap().starts_with("vault:v1:"));
        }
        let jws = sign_verify(&mut t, "ecdsa-p256", json!({"marshaling_algorithm": "jws"}));
        let body = jws["signature"]
            .as_str()
            .unwrap()
            .trim_start_matches("vault:v1:")
            .to_owned();
        assert!(!body.contains('=') && !body.contains('+') && !body.contains('/'));
        sign_verify(&mut t, "ecdsa-p384", json!({"hash_algorithm": "sha3-256"}));
        sign_verify(
            &mut t,
            "ecdsa-p256",
            json!({"prehashed": true, "input": "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="}),
        );
        sign_verify(
            &mut t,
            "rsa-2048",
            json!({"signature_algorithm": "pkcs1v15"}),
        );
        sign_verify(&mut t, "rsa-2048", json!({"salt_length": "hash"}));
        sign_verify(
            &mut t,
            "rsa-2048",
            json!({"salt_length": 10, "hash_algorithm": "sha2-512"}),
        );
        sign_verify(
            &mut t,
            "rsa-2048",
            json!({"hash_algorithm": "none", "prehashed": true, "signature_algorithm": "pkcs1v15"}),
        );
        let url = data(t.write("sign/rsa-2048/sha2-384", json!({"input": "aGVsbG8="})));
        assert_eq!(
            data(t.write(
                "verify/rsa-2048/sha2-384",
                json!({"input": "aGVsbG8=", "signature": url["signature"]})
            ))["valid"],
            true
        );
        for (path, body, msg) in [
            (
                "sign/rsa-2048/none",
                json!({"input": "aGk="}),
                "hash_algorithm=none requires",
            ),
            (
                "sign/rsa-2048",
                json!({"input": "aGk=", "salt_length": "foo"}),
                "salt length neither",
            ),
            (
                "sign/rsa-2048",
                json!({"input": "aGk=", "salt_length": 500}),
                "requested salt length 500 is invalid",
            ),
            (
                "sign/rsa-2048",
                json!({"input": "aGk=", "signature_algorithm": "foo"}),
                "unsupported rsa signature algorithm",
            ),
            (
                "sign/ecdsa-p256",
                json!({"input": "aGk=", "marshaling_algorithm": "foo"}),
                "invalid marshaling type",
            ),
            (
                "sign/ecdsa-p256/md5",
                json!({"input": "aGk="}),
                "invalid hash algorithm",
            ),
            (
                "sign/nope",
                json!({"input": "aGk="}),
                "signing key not found",
            ),
            (
                "sign/ecdsa-p256",
                json!({"input": "aGk=", "key_version": 2}),
                "higher than the latest",
            ),
            (
                "verify/ecdsa-p256",
                json!({"input": "aGk="}),
                "neither a 'signature' nor an 'hmac'",
            ),
            (
                "verify/ecdsa-p256",
                json!({"input": "aGk=", "signature": "garbage"}),
                "invalid signature: no prefix",
            ),
            (
                "verify/ecdsa-p256",
                json!({"input": "%%%", "signature": "vault:v1:AAAA"}),
                "unable to decode input as base64: ",
            ),
            (
                "verify/ecdsa-p256",
                json!({"input": "%%%", "hmac": "vault:v1:AAAA"}),
                "unable to decode input as base64: ",
            ),
            (
                "verify/ecdsa-p256",
                json!({"input": "aGk=", "context": "%%", "signature": "vault:v1:AAAA"}),
                "failed to base64-decode context: ",
            ),
            (
                "verify/ecdsa-p256",
                json!({"input": "aGk=", "signature": "vault:v2:AAAA"}),
                "version is too new",
            ),
        ] {
            let err = t.write(path, body.clone()).unwrap_err();
            assert_eq!(err.status(), 400, "{path} {body}");
            assert!(err.message().contains(msg), "{path} {body}: {err}");
        }
        data(t.write("keys/aes", json!({})));
        let err = t.write("sign/aes", json!({"input": "aGk="})).unwrap_err();
        assert_eq!(
            err.message(),
            "key type aes256-gcm96 does not support signing"
        );
    }

    #[test]
    fn derived_ed25519_and_batches() {
        let mut t = transit();
        data(t.write("keys/d", json!({"type": "ed25519", "derived": true})));
        let a = data(t.write("sign/d", json!({"input": "aGk=", "context": "YQ=="})));
        let b = data(t.write("sign/d", json!({"input": "aGk=", "context": "YQ=="})));
        assert_eq!(a, b, "same context, same key, same signature");
        assert!(a["public_key"].is_string());
        let read = data(
            t.request(
                coffer_sdk::Request::new(coffer_sdk::Operation::Read, "keys/d")
                    .with_query("context", "YQ=="),
            ),
        );
        assert_eq!(read["keys"]["1"]["public_key"], a["public_key"]);
        assert_eq!(data(t.read("keys/d"))["keys"]["1"]["public_key"], "");
        let ok = data(t.write(
            "verify/d",
            json!({"input": "aGk=", "context": "YQ==", "signature": a["signature"]}),
        ));
        assert_eq!(ok["valid"], true);
        let other = data(t.write(
            "verify/d",
            json!({"input": "aGk=", "context": "Yg==", "signature": a["signature"]}),
        ));
        assert_eq!(other["valid"], false);
        assert!(t
            .write("sign/d", json!({"input": "aGk="}))
            .unwrap_err()
            .message()
            .contains("context"));

        data(t.write("keys/p", json!({"type": "ecdsa-p256"})));
        let r = t
            .write(
                "sign/p",
                json!({"batch_input": [{"input": "aGk=", "reference": "r"}, {"input": "!"}]}),
            )
            .unwrap();
        assert_eq!(r.status(), 200);
        let items = r.data_value().unwrap()["batch_results"].clone();
        assert_eq!(items[0]["reference"], "r");
        assert!(items[1]["error"].is_string());
        let r = t
            .write(
                "verify/p",
                json!({"batch_input": [{"input": "aGk=", "signature": items[0]["signature"], "reference": "x"}, {"input": "aGk=", "signature": "bad"}]}),
            )
            .unwrap();
        let items = &r.data_value().unwrap()["batch_results"];
        assert_eq!(items[0]["valid"], true);
        assert_eq!(items[0]["reference"], "x");
        assert_eq!(items[1]["error"], "invalid signature: no prefix");
        let r = t
            .write(
                "verify/p",
                json!({"batch_input": [{"input": "%%", "signature": "vault:v1:AAAA"}]}),
            )
            .unwrap();
        let error = r.data_value().unwrap()["batch_results"][0]["error"].clone();
        assert!(error
            .as_str()
            .unwrap()
            .starts_with("unable to decode input as base64: "));
        let err = t
            .write(
                "verify/p",
                json!({"batch_input": [{"input": "aGk=", "signature": "x"}, {"input": "aGk="}]}),
            )
            .unwrap_err();
        assert!(err.message().contains("missing 'signature'"));
    }
}
