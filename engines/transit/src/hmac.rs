//! `hmac/:name(/:algorithm)`: HMACs with the key's per-version HMAC key;
//! their verification is `verify/:name` with `hmac` (see `sign.rs`).

use coffer_sdk::crypto::{constant_time_eq, HashAlgorithm};
use coffer_sdk::prelude::*;
use coffer_sdk::{Batch, BatchInput};
use serde_json::json;

use crate::policy::{cache, Loaded};
use crate::util::{b64, decode_b64, version_prefix, HashName};

/// `hmac/:name(/:algorithm)`.
pub fn path() -> Path {
    Path::new("hmac/{name}/{urlalgorithm?}")
        .update(hmac)
        .synopsis("Generates an HMAC for input data with a named key.")
}

#[derive(Fields)]
#[allow(dead_code)] // Declared for the schema; `Batch` parses the lone input.
struct Hmac {
    /// Name of the key.
    name: String,
    /// Algorithm in the URL (overrides `algorithm`).
    urlalgorithm: Option<String>,
    /// sha2-256 (default), sha1, sha2-224/384/512 or sha3-224/256/384/512.
    #[field(default = "sha2-256")]
    algorithm: String,
    /// Version of the key; 0 is the latest.
    key_version: u32,
    /// Base64 input.
    input: Option<String>,
    /// Items, each with `input` and a `reference`.
    batch_input: Option<BatchInput<Item>>,
}

/// One input.
#[derive(Fields)]
struct Item {
    /// Base64 input.
    input: Option<Base64>,
}

/// The host algorithm of an HMAC algorithm name.
pub fn algorithm(name: &str) -> Result<HashAlgorithm, Error> {
    HashName::from_name(name)
        .and_then(HashName::algorithm)
        .ok_or_else(|| Error::invalid(format!("unsupported algorithm {name:?}")))
}

fn hmac(ctx: &mut Ctx<'_>, f: Hmac) -> Result<Response, Error> {
    let batch = Batch::<Item>::from_request(ctx, f.batch_input)?.item_errors_succeed();
    let Some(loaded) = cache::load(ctx, &f.name)? else {
        return Err(Error::invalid("encryption key not found"));
    };
    let p = &loaded.policy;
    let v = if f.key_version == 0 {
        p.latest_version
    } else {
        f.key_version
    };
    if v != p.latest_version && p.min_encryption_version > 0 && v < p.min_encryption_version {
        return Err(Error::invalid(
            "cannot generate HMAC: version is too old (disallowed by policy)",
        ));
    }
    let key = loaded.hmac_key(v)?;
    let alg = algorithm(f.urlalgorithm.as_deref().unwrap_or(&f.algorithm))?;
    let prefix = version_prefix(v);
    batch.run(|item| {
        let input = item
            .input
            .ok_or_else(|| Error::invalid("missing input for HMAC"))?;
        let mac = key.hmac(alg, &input)?;
        Ok(json!({"hmac": format!("{prefix}{}", b64::encode(&mac))}))
    })
}

/// Verifies a `vault:vN:` HMAC over `input`.
pub fn verify(loaded: &Loaded, alg: HashAlgorithm, input: &[u8], mac: &str) -> Result<bool, Error> {
    let p = &loaded.policy;
    let rest = mac
        .strip_prefix("vault:v")
        .ok_or_else(|| Error::invalid("invalid HMAC to verify: no prefix"))?;
    let (v, body) = rest
        .split_once(':')
        .ok_or_else(|| Error::invalid("invalid HMAC: wrong number of fields"))?;
    let v: u32 = v
        .parse()
        .map_err(|_| Error::invalid("invalid HMAC: version number could not be decoded"))?;
    let tag = decode_b64(body).map_err(|e| {
        Error::invalid(format!("unable to decode verification HMAC as base64: {e}"))
    })?;
    if v > p.latest_version {
        return Err(Error::invalid("invalid HMAC: version is too new"));
    }
    if p.min_decryption_version > 0 && v < p.min_decryption_version {
        return Err(Error::invalid(
            "cannot verify HMAC: version is too old (disallowed by policy)",
        ));
    }
    let mac = loaded.hmac(v, alg, input)?;
    Ok(constant_time_eq(&mac, &tag))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::tests::{data, transit};

    #[test]
    fn hmac_and_verify() {
        let mut t = transit();
        data(t.write("keys/k", json!({})));
        let mac = data(t.write("hmac/k", json!({"input": "aGVsbG8="})))["hmac"].clone();
        assert!(mac.as_str().unwrap().starts_with("vault:v1:"));
        let v = |t: &mut coffer_sdk::testing::TestEngine, input: &str, mac: &serde_json::Value| {
            data(t.write("verify/k", json!({"input": input, "hmac": mac})))["valid"].clone()
        };
        assert_eq!(v(&mut t, "aGVsbG8=", &mac), true);
        assert_eq!(v(&mut t, "aGk=", &mac), false);
        let m512 = data(t.write("hmac/k/sha2-512", json!({"input": "aGVsbG8="})))["hmac"].clone();
        assert_eq!(
            data(t.write(
                "verify/k/sha2-512",
                json!({"input": "aGVsbG8=", "hmac": m512})
            ))["valid"],
            true
        );
        // A new version gets its own HMAC key.
        data(t.write("keys/k/rotate", json!({})));
        let m2 = data(t.write("hmac/k", json!({"input": "aGVsbG8="})))["hmac"].clone();
        assert!(m2.as_str().unwrap().starts_with("vault:v2:"));
        assert_ne!(m2.as_str().unwrap()[9..], mac.as_str().unwrap()[9..]);
        assert_eq!(v(&mut t, "aGVsbG8=", &mac), true);
        data(t.write("keys/k/config", json!({"min_decryption_version": 2})));
        let err = t
            .write("verify/k", json!({"input": "aGVsbG8=", "hmac": mac}))
            .unwrap_err();
        assert!(err.message().contains("too old"));

        data(t.write("keys/h", json!({"type": "hmac", "key_size": 64})));
        let r = t
            .write(
                "hmac/h",
                json!({"batch_input": [{"input": "YQ==", "reference": "r"}, {"input": "!"}]}),
            )
            .unwrap();
        assert_eq!(r.status(), 200);
        let items = &r.data_value().unwrap()["batch_results"];
        assert_eq!(items[0]["reference"], "r");
        assert!(items[1]["error"].as_str().unwrap().contains("input"));
        for (path, body, msg) in [
            (
                "hmac/nope",
                json!({"input": "YQ=="}),
                "encryption key not found",
            ),
            (
                "hmac/k",
                json!({"input": "YQ==", "key_version": 3}),
                "key version does not exist",
            ),
            (
                "hmac/k",
                json!({"input": "YQ==", "algorithm": "md5"}),
                "unsupported algorithm",
            ),
            ("hmac/k", json!({}), "missing input for HMAC"),
            (
                "verify/k",
                json!({"input": "YQ==", "hmac": "bad"}),
                "no prefix",
            ),
        ] {
            let err = t.write(path, body).unwrap_err();
            assert!(err.message().contains(msg), "{err}");
        }
    }
}
