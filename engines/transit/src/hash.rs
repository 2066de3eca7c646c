//! `hash(/:algorithm)`: a digest of the input.

use coffer_sdk::crypto;
use coffer_sdk::prelude::*;
use serde_json::json;

use crate::util::{Format, HashName};

/// `hash(/:algorithm)`.
pub fn path() -> Path {
    Path::new("hash/{urlalgorithm?}")
        .update(hash)
        .synopsis("Generates a hash sum for input data.")
}

#[derive(Fields)]
struct Hash {
    /// Algorithm in the URL (overrides `algorithm`).
    urlalgorithm: Option<String>,
    /// sha2-224, sha2-256 (default), sha2-384, sha2-512, sha3-224, sha3-256, sha3-384 or sha3-512.
    #[field(default = "sha2-256")]
    algorithm: String,
    /// Base64 input.
    input: Option<Base64>,
    /// Output encoding: hex (default) or base64.
    #[field(default = "hex")]
    format: String,
}

fn hash(_: &mut Ctx<'_>, f: Hash) -> Result<Response, Error> {
    let name = f.urlalgorithm.unwrap_or(f.algorithm);
    let format = Format::parse(&f.format)?;
    let input = f.input.ok_or_else(|| Error::invalid("input missing"))?;
    let algorithm = match HashName::from_name(&name) {
        Some(HashName::None | HashName::Sha1) | None => None,
        Some(h) => h.algorithm(),
    }
    .ok_or_else(|| Error::invalid(format!("unsupported algorithm {name}")))?;
    let sum = crypto::hash(algorithm, &input);
    Ok(Response::data(json!({"sum": format.encode(&sum)})))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::tests::{data, transit};

    #[test]
    fn sums() {
        let mut t = transit();
        assert_eq!(
            data(t.write("hash", json!({"input": "aGVsbG8="})))["sum"],
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(
            data(t.write(
                "hash/sha3-256",
                json!({"input": "aGVsbG8=", "format": "base64"})
            ))["sum"],
            "Mzi+aU9QxfM4gUmGzfBoZFOoiLhPQk15KvS5ICOY85I="
        );
        assert_eq!(
            data(t.write(
                "hash",
                json!({"input": "aGVsbG8=", "algorithm": "sha2-512"})
            ))["sum"]
                .as_str()
                .unwrap()
                .len(),
            128
        );
        for (path, body, msg) in [
            (
                "hash/md5",
                json!({"input": "aGk="}),
                "unsupported algorithm md5",
            ),
            (
                "hash/sha1",
                json!({"input": "aGk="}),
                "unsupported algorithm sha1",
            ),
            ("hash", json!({}), "input missing"),
            (
                "hash",
                json!({"input": "aGk=", "format": "bin"}),
                "unsupported encoding format",
            ),
        ] {
            let err = t.write(path, body).unwrap_err();
            assert!(err.message().contains(msg), "{err}");
        }
        assert!(t
            .write("hash", json!({"input": "!!"}))
            .unwrap_err()
            .message()
            .contains("field 'input'"));
    }
}
