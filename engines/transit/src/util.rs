//! Small helpers shared by the path files: base64, PEM, times, the
//! `vault:vN:` prefix, the inputs several endpoints take, and answering a
//! batch checked item by item but run in one host call.

use base64::Engine as _;
use coffer_sdk::crypto::HashAlgorithm;
use coffer_sdk::{Batch, Error, FieldEnum, Fields, Response};
use serde::Serialize;

use crate::policy::model::Time;

/// Base64 (standard alphabet, padded), also as a serde helper for stored
/// byte fields.
pub mod b64 {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Encodes with padding.
    pub fn encode(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// Encodes with padding, appending to `out`.
    pub fn encode_into(bytes: &[u8], out: &mut String) {
        base64::engine::general_purpose::STANDARD.encode_string(bytes, out);
    }

    /// Serialises bytes as base64.
    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(bytes))
    }

    /// Deserialises base64 into bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        super::decode_b64(&text).map_err(serde::de::Error::custom)
    }
}

const LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decodes standard base64 (padding optional, as Go's decoder is lenient
/// about trailing bits); the error text names the problem.
pub fn decode_b64(text: &str) -> Result<Vec<u8>, String> {
    LENIENT.decode(text.trim()).map_err(|e| e.to_string())
}

/// URL-safe base64 without padding (JWS).
pub fn encode_b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes URL-safe base64, padded or not.
pub fn decode_b64url(text: &str) -> Result<Vec<u8>, String> {
    const URL: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    URL.decode(text.trim()).map_err(|e| e.to_string())
}

/// PEM with 64-column lines and a final newline, as Go writes it.
pub fn pem(label: &str, der: &[u8]) -> String {
    let body = b64::encode(der);
    let mut out = String::with_capacity(body.len() + body.len() / 64 + 64);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    let mut rest = body.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(64));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// RFC 3339 in UTC with nanoseconds when there are any, trailing zeros
/// trimmed (Go's `time.RFC3339Nano`).
pub fn rfc3339_nanos(t: Time) -> String {
    let base = coffer_sdk::clock::Timestamp::from_secs(t.secs).to_rfc3339();
    if t.nanos == 0 {
        return base;
    }
    let frac = format!("{:09}", t.nanos);
    let frac = frac.trim_end_matches('0');
    match base.strip_suffix('Z') {
        Some(stem) => format!("{stem}.{frac}Z"),
        None => base,
    }
}

/// The `vault:vN:` prefix.
pub fn version_prefix(version: u32) -> String {
    let mut out = String::with_capacity(16);
    push_version_prefix(&mut out, version);
    out
}

/// Appends the `vault:vN:` prefix to `out` (without `format!`: it is
/// written once per item of a batch).
pub fn push_version_prefix(out: &mut String, version: u32) {
    out.push_str("vault:v");
    let mut digits = ['0'; 10];
    let mut n = version;
    let mut len = 0;
    for slot in digits.iter_mut() {
        *slot = char::from_digit(n % 10, 10).unwrap_or('0');
        n /= 10;
        len += 1;
        if n == 0 {
            break;
        }
    }
    out.extend(digits.iter().take(len).rev());
    out.push(':');
}

/// Splits `vault:vN:rest` into (N, rest); `what` names the value in errors
/// ("ciphertext", "signature").
pub fn split_versioned<'a>(value: &'a str, what: &str) -> Result<(u32, &'a str), Error> {
    let rest = value
        .strip_prefix("vault:v")
        .ok_or_else(|| Error::invalid(format!("invalid {what}: no prefix")))?;
    let (version, body) = rest
        .split_once(':')
        .ok_or_else(|| Error::invalid(format!("invalid {what}: wrong number of fields")))?;
    let version: u32 = version.parse().map_err(|_| {
        Error::invalid(format!(
            "invalid {what}: version number could not be decoded"
        ))
    })?;
    Ok((version, body))
}

/// Hash algorithms as transit names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FieldEnum)]
pub enum HashName {
    /// No hashing (RSA PKCS#1 v1.5 with prehashed input only).
    None,
    /// SHA-1.
    Sha1,
    /// SHA-224.
    #[field(rename = "sha2-224")]
    Sha2_224,
    /// SHA-256.
    #[field(rename = "sha2-256")]
    Sha2_256,
    /// SHA-384.
    #[field(rename = "sha2-384")]
    Sha2_384,
    /// SHA-512.
    #[field(rename = "sha2-512")]
    Sha2_512,
    /// SHA3-224.
    #[field(rename = "sha3-224")]
    Sha3_224,
    /// SHA3-256.
    #[field(rename = "sha3-256")]
    Sha3_256,
    /// SHA3-384.
    #[field(rename = "sha3-384")]
    Sha3_384,
    /// SHA3-512.
    #[field(rename = "sha3-512")]
    Sha3_512,
}

impl HashName {
    /// The host's algorithm; none for `none`.
    pub fn algorithm(self) -> Option<HashAlgorithm> {
        Some(match self {
            Self::None => return None,
            Self::Sha1 => HashAlgorithm::Sha1,
            Self::Sha2_224 => HashAlgorithm::Sha224,
            Self::Sha2_256 => HashAlgorithm::Sha256,
            Self::Sha2_384 => HashAlgorithm::Sha384,
            Self::Sha2_512 => HashAlgorithm::Sha512,
            Self::Sha3_224 => HashAlgorithm::Sha3x224,
            Self::Sha3_256 => HashAlgorithm::Sha3x256,
            Self::Sha3_384 => HashAlgorithm::Sha3x384,
            Self::Sha3_512 => HashAlgorithm::Sha3x512,
        })
    }
}

/// Output encodings of `hash` and `random`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FieldEnum)]
pub enum Format {
    /// Lowercase hexadecimal.
    Hex,
    /// Standard base64.
    Base64,
}

impl Format {
    /// Encodes `bytes`.
    pub fn encode(self, bytes: &[u8]) -> String {
        match self {
            Self::Base64 => b64::encode(bytes),
            Self::Hex => hex(bytes),
        }
    }

    /// Parses a format, with Vault's message.
    pub fn parse(text: &str) -> Result<Self, Error> {
        Self::from_name(text).ok_or_else(|| {
            Error::invalid(format!(
                "unsupported encoding format {text:?}; must be \"hex\" or \"base64\""
            ))
        })
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// A key version given as a URL segment: `latest`, `N` or `vN`; none when
/// empty (all versions).
pub fn parse_url_version(text: Option<&str>, latest: u32) -> Result<Option<u32>, Error> {
    match text {
        None | Some("") => Ok(None),
        Some("latest") => Ok(Some(latest)),
        Some(v) => v
            .strip_prefix('v')
            .unwrap_or(v)
            .parse::<u32>()
            .map(Some)
            .map_err(|_| Error::invalid("invalid key version")),
    }
}

/// Answers a batch whose items were checked one by one and then sent
/// together in one host call: an item that failed its check keeps its
/// error, the others take that call's results in turn, made into their
/// answer by `answer`; then the batch is answered item by item in order.
pub fn answer_in_order<T: Fields, C, P, R: Serialize>(
    batch: Batch<T>,
    checked: Vec<Result<C, Error>>,
    done: Vec<Result<P, Error>>,
    mut answer: impl FnMut(C, P) -> R,
) -> Result<Response, Error> {
    let mut done = done.into_iter();
    let mut results = checked.into_iter().map(|check| {
        let c = check?;
        let p = done
            .next()
            .unwrap_or_else(|| Err(Error::internal("an item has no result from its batch call")))?;
        Ok(answer(c, p))
    });
    batch.run(|_| {
        results
            .next()
            .unwrap_or_else(|| Err(Error::internal("an item has no result")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip() {
        let der: Vec<u8> = (0..100u8).collect();
        let text = pem("X", &der);
        assert!(text.starts_with("-----BEGIN X-----\n"));
        assert!(text.ends_with("-----END X-----\n"));
        assert_eq!(text.lines().nth(1).unwrap().len(), 64);
    }

    #[test]
    fn times_and_prefixes() {
        assert_eq!(
            rfc3339_nanos(Time {
                secs: 0,
                nanos: 5_000_000
            }),
            "1970-01-01T00:00:00.005Z"
        );
        assert_eq!(
            split_versioned("vault:v3:abc", "ciphertext").unwrap(),
            (3, "abc")
        );
        assert_eq!(
            split_versioned("foo", "ciphertext"),
            Err(Error::invalid("invalid ciphertext: no prefix"))
        );
        assert!(split_versioned("vault:vx:abc", "ciphertext").is_err());
        assert!(split_versioned("vault:v1", "ciphertext").is_err());
        assert_eq!(hex(&[0, 255]), "00ff");
        for v in [0, 1, 9, 10, 123, u32::MAX] {
            assert_eq!(version_prefix(v), format!("vault:v{v}:"));
        }
        assert_eq!(parse_url_version(Some("v2"), 5).unwrap(), Some(2));
        assert_eq!(parse_url_version(Some("latest"), 5).unwrap(), Some(5));
    }
}
