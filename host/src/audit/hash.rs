//! Vault's hashing of audited values: `hmac-sha256:<hex>` of a text under
//! the device's key. Which values of a payload are hashed is decided here
//! ([`in_clear`]) and applied by `data.rs`; which error texts are kept in
//! clear is decided here too ([`Hasher::error_text`]).

use std::borrow::Cow;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What Vault puts before the hex HMAC.
pub const PREFIX: &str = "hmac-sha256:";

/// A device's keyed HMAC-SHA256. Cloning the keyed state per value saves
/// deriving the key pads again.
#[derive(Clone)]
pub struct Hasher {
    mac: Hmac<Sha256>,
}

impl Hasher {
    /// Keys the HMAC (any key length is valid for HMAC; `None` is not
    /// reachable, but the crate's signature is fallible).
    pub fn new(key: &[u8]) -> Option<Self> {
        <Hmac<Sha256> as Mac>::new_from_slice(key)
            .ok()
            .map(|mac| Hasher { mac })
    }

    /// `hmac-sha256:<hex>` of `text`.
    pub fn hash(&self, text: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(text.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut out = String::with_capacity(PREFIX.len() + 2 * digest.len());
        out.push_str(PREFIX);
        out.push_str(&hex::encode(digest));
        out
    }

    /// Appends `"hmac-sha256:<hex>"` (quoted: 78 bytes) of `text` to
    /// `out`, without allocating.
    pub fn push_quoted(&self, text: &str, out: &mut Vec<u8>) {
        let mut mac = self.mac.clone();
        mac.update(text.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut hex_digits = [0u8; 64];
        // 32 bytes always fit 64 hex digits; on the impossible error the
        // digits stay zero rather than panicking.
        let _ = hex::encode_to_slice(digest, &mut hex_digits);
        out.push(b'"');
        out.extend_from_slice(PREFIX.as_bytes());
        out.extend_from_slice(&hex_digits);
        out.push(b'"');
    }

    /// An error text as a line shows it: in clear if it is one of
    /// [`VALUE_FREE_ERRORS`] (texts that cannot hold a request value), else
    /// hashed whole, because many errors quote what the client sent
    /// (`invalid ttl "987654321zz"`, an engine's `key version 7 not found`).
    /// An auditor who suspects a text can check it with `sys/audit-hash`.
    pub fn error_text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if text.is_empty() || VALUE_FREE_ERRORS.contains(&text) {
            Cow::Borrowed(text)
        } else {
            Cow::Owned(self.hash(text))
        }
    }
}

/// Length of [`Hasher::push_quoted`]'s output.
pub const QUOTED_LEN: usize = PREFIX.len() + 64 + 2;

/// Error texts the host writes word for word, whatever the request held:
/// the only ones an audit line shows in clear (with `log_raw` off).
pub const VALUE_FREE_ERRORS: &[&str] = &[
    "permission denied",
    "Vault is sealed",
    "internal error",
    "unsupported operation",
    "unsupported path",
    "bad token",
    "invalid token",
    "invalid accessor",
    "token not found",
    "invalid lease ID",
    "lease is not renewable",
    "mount is shutting down",
    "cannot write to a path ending in '/'",
    "failed to parse JSON input: the body must be a JSON object",
];

/// Whether a string value stays in clear in a hashed payload: the empty
/// string (it hides nothing, and hashing it made each two-byte `""` of a body
/// 78 bytes, a 39-fold amplification) and RFC 3339 timestamps (as Vault).
/// Every other string, number and boolean is hashed.
pub fn in_clear(s: &str) -> bool {
    s.is_empty() || is_rfc3339(s)
}

/// Whether `s` is a timestamp Go's `time.Time.UnmarshalText` accepts (strict
/// RFC 3339: `2006-01-02T15:04:05[.fraction](Z|±hh:mm)`, a real calendar
/// date, hours below 24, minutes and seconds below 60). Vault leaves such
/// strings unhashed.
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let Some(head) = b.get(..19) else {
        return false;
    };
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = head.get(range)?;
        digits.iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = (
        num(0..4),
        num(5..7),
        num(8..10),
        num(11..13),
        num(14..16),
        num(17..19),
    ) else {
        return false;
    };
    let separators = head.get(4) == Some(&b'-')
        && head.get(7) == Some(&b'-')
        && head.get(10) == Some(&b'T')
        && head.get(13) == Some(&b':')
        && head.get(16) == Some(&b':');
    if !separators
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in(month, year)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return false;
    }
    let mut rest = b.get(19..).unwrap_or_default();
    if let [b'.', d, ..] = rest {
        if d.is_ascii_digit() {
            let digits = rest
                .iter()
                .skip(1)
                .take_while(|c| c.is_ascii_digit())
                .count();
            rest = rest.get(1 + digits..).unwrap_or_default();
        }
    }
    match rest {
        [b'Z'] => true,
        [sign, h1, h2, b':', m1, m2] if *sign == b'+' || *sign == b'-' => {
            let two = |a: u8, b: u8| -> Option<u32> {
                (a.is_ascii_digit() && b.is_ascii_digit())
                    .then(|| u32::from(a - b'0') * 10 + u32::from(b - b'0'))
            };
            matches!((two(*h1, *h2), two(*m1, *m2)), (Some(h), Some(m)) if h < 24 && m < 60)
        }
        _ => false,
    }
}

fn days_in(month: u32, year: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// RFC 4231, test case 2: an answer computed by someone else.
    #[test]
    fn hash_is_hmac_sha256_of_rfc_4231() {
        let hasher = Hasher::new(b"Jefe").unwrap();
        assert_eq!(
            hasher.hash("what do ya want for nothing?"),
            "hmac-sha256:5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn push_quoted_writes_the_same_hash_as_hash() {
        let hasher = Hasher::new(&[7u8; 32]).unwrap();
        let mut out = b"x".to_vec();
        hasher.push_quoted("secret", &mut out);
        assert_eq!(out.len(), 1 + QUOTED_LEN);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("x\"{}\"", hasher.hash("secret"))
        );
        assert_ne!(hasher.hash("x"), hasher.hash("y"));
    }

    #[test]
    fn only_value_free_errors_stay_in_clear() {
        let hasher = Hasher::new(&[7u8; 32]).unwrap();
        assert_eq!(hasher.error_text("permission denied"), "permission denied");
        assert_eq!(hasher.error_text(""), "");
        for echoing in [
            "invalid ttl \"987654321zz\"",
            "permission denied: 987654321",
            "Permission denied",
        ] {
            assert_eq!(hasher.error_text(echoing), hasher.hash(echoing));
        }
    }

    #[test]
    fn empty_strings_and_timestamps_stay_in_clear() {
        assert!(in_clear(""));
        assert!(in_clear("2024-01-01T00:00:00Z"));
        assert!(!in_clear(" "));
        assert!(!in_clear("secret"));
    }

    #[test]
    fn rfc3339_follows_gos_strict_parser() {
        for ok in [
            "2024-01-01T00:00:00Z",
            "2024-02-29T23:59:59.123456789Z",
            "2024-01-01T00:00:00+05:30",
            "2024-01-01T00:00:00.5-23:59",
            "0000-01-01T00:00:00Z",
        ] {
            assert!(is_rfc3339(ok), "{ok}");
        }
        for bad in [
            "",
            "2024-01-01",
            "2024-01-01 00:00:00Z",
            "2024-01-01t00:00:00Z",
            "2024-01-01T00:00:00z",
            "2024-01-01T00:00:00",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-00-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:60:00Z",
            "2024-01-01T00:00:60Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00,5Z",
            "2024-01-01T00:00:00+24:00",
            "2024-01-01T00:00:00+05:60",
            "2024-01-01T00:00:00+0530",
            "2024-01-01T00:00:00Zx",
            "secret",
            "2024-01-01T00:00:0\u{e9}Z",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }
}
