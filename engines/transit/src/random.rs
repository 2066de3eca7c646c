//! `random(/:source)(/:bytes)`: random bytes from the host's generator.

use coffer_sdk::crypto;
use coffer_sdk::prelude::*;
use serde_json::json;

use crate::util::Format;

/// The most bytes one request may ask for (Vault's cap).
pub const MAX_BYTES: u64 = 128 * 1024;

/// `random(/:bytes)`, or `random/:source` with one segment naming a source.
pub fn path() -> Path {
    Path::new("random/{urlbytes?}")
        .update(random_one)
        .synopsis("Generates random bytes.")
}

/// `random/:source/:bytes`.
pub fn source_path() -> Path {
    Path::new("random/{source}/{urlbytes}")
        .update(random_two)
        .synopsis("Generates random bytes from a named source.")
}

#[derive(Fields)]
struct One {
    /// Number of bytes in the URL, or a source name (`platform`, `seal`, `all`).
    urlbytes: Option<String>,
    /// Number of bytes to generate (at most 131072).
    #[field(default = 32)]
    bytes: u64,
    /// Output encoding: base64 (default) or hex.
    #[field(default = "base64")]
    format: String,
    /// Entropy source: platform (default), seal or all; all are the host's generator.
    #[field(default = "platform")]
    source: String,
}

#[derive(Fields)]
struct Two {
    /// Entropy source: platform, seal or all.
    source: String,
    /// Number of bytes in the URL.
    urlbytes: String,
    /// Number of bytes to generate (overridden by the URL).
    #[field(default = 32)]
    bytes: u64,
    /// Output encoding: base64 (default) or hex.
    #[field(default = "base64")]
    format: String,
}

fn random_one(_: &mut Ctx<'_>, f: One) -> Result<Response, Error> {
    match f.urlbytes.as_deref() {
        Some(s @ ("platform" | "seal" | "all")) => generate(s, f.bytes, &f.format),
        Some(b) => generate(&f.source, url_bytes(b)?, &f.format),
        None => generate(&f.source, f.bytes, &f.format),
    }
}

fn random_two(_: &mut Ctx<'_>, f: Two) -> Result<Response, Error> {
    let _ = f.bytes;
    generate(&f.source, url_bytes(&f.urlbytes)?, &f.format)
}

fn url_bytes(text: &str) -> Result<u64, Error> {
    text.parse().map_err(|_| {
        Error::invalid(format!(
            "error parsing url-set byte count: {text:?} is not a number"
        ))
    })
}

fn generate(source: &str, bytes: u64, format: &str) -> Result<Response, Error> {
    if !matches!(source, "platform" | "seal" | "all") {
        return Err(Error::invalid(format!(
            "unsupported entropy source {source:?}; must be \"platform\" or \"seal\", or \"all\""
        )));
    }
    let format = Format::parse(format)?;
    if bytes < 1 {
        return Err(Error::invalid("'bytes' cannot be less than 1"));
    }
    if bytes > MAX_BYTES {
        return Err(Error::invalid(format!(
            "'bytes' should be less than {MAX_BYTES}"
        )));
    }
    let random = crypto::random_bytes(u32::try_from(bytes).unwrap_or(32))?;
    Ok(Response::data(
        json!({"random_bytes": format.encode(&random)}),
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::tests::{data, transit};
    use crate::util::decode_b64;

    #[test]
    fn sizes_formats_and_sources() {
        let mut t = transit();
        let len = |v: &serde_json::Value| {
            decode_b64(v["random_bytes"].as_str().unwrap())
                .unwrap()
                .len()
        };
        assert_eq!(len(&data(t.write("random", json!({})))), 32);
        assert_eq!(len(&data(t.write("random/16", json!({})))), 16);
        assert_eq!(len(&data(t.write("random", json!({"bytes": "12"})))), 12);
        assert_eq!(len(&data(t.write("random/all", json!({})))), 32);
        assert_eq!(len(&data(t.write("random/seal/8", json!({})))), 8);
        let hex = data(t.write("random/4", json!({"format": "hex"})));
        assert_eq!(hex["random_bytes"].as_str().unwrap().len(), 8);
        assert_eq!(
            len(&data(t.write("random", json!({"bytes": 131072})))),
            131072
        );
        for (path, body, msg) in [
            ("random", json!({"bytes": 0}), "cannot be less than 1"),
            (
                "random",
                json!({"bytes": 131073}),
                "should be less than 131072",
            ),
            ("random/hex", json!({}), "error parsing url-set byte count"),
            ("random/system/4", json!({}), "unsupported entropy source"),
            (
                "random",
                json!({"format": "bin"}),
                "unsupported encoding format",
            ),
        ] {
            let err = t.write(path, body).unwrap_err();
            assert_eq!(err.status(), 400);
            assert!(err.message().contains(msg), "{err}");
        }
        assert_eq!(t.read("random").unwrap_err().status(), 405);
    }
}
