//! Vault's rules for values that arrive as text, defined once for the host
//! (query strings, its own `sys/` fields, the config file) and for
//! `coffer-sdk` (engine fields).
//!
//! - [`parse_bool`] is Go's `strconv.ParseBool`, which Vault applies to every
//!   boolean that arrives as a string: `?list=True` from hvac is a list.
//! - [`parse_duration`] is Vault's `parseutil.ParseDurationSecond` for the
//!   forms Coffer accepts: a whole number of seconds, or number-unit pairs
//!   (`ms`, `s`, `m`, `h`, `d`) such as `"1h30m"`.
//!
//! What an *empty* value means differs by caller (an absent field, zero),
//! so both parsers refuse `""` and leave that choice to the caller.

#![deny(unsafe_code)]
#![deny(missing_docs)]

use std::time::Duration;

/// Go's `strconv.ParseBool`: `1 t T TRUE true True` and
/// `0 f F FALSE false False`, exactly (no trimming, no other case).
pub fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A duration: `"3600"` (seconds), or one or more number-unit pairs with
/// units `ms`, `s`, `m`, `h`, `d` (`"90s"`, `"1h30m"`, `"250ms"`, `"7d"`).
/// `None` for anything else, for `""`, and on overflow.
pub fn parse_duration(text: &str) -> Option<Duration> {
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if text.is_empty() {
        return None;
    }
    let mut millis: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (number, after) = rest.split_at(digits);
        let n: u64 = number.parse().ok()?;
        let (unit_ms, after): (u64, &str) = if let Some(a) = after.strip_prefix("ms") {
            (1, a)
        } else {
            let mut chars = after.chars();
            let unit = match chars.next()? {
                's' => 1_000,
                'm' => 60_000,
                'h' => 3_600_000,
                'd' => 86_400_000,
                _ => return None,
            };
            (unit, chars.as_str())
        };
        millis = millis.checked_add(n.checked_mul(unit_ms)?)?;
        rest = after;
    }
    Some(Duration::from_millis(millis))
}

/// [`parse_duration`] in whole seconds (milliseconds are truncated, as
/// Vault's `ParseDurationSecond` truncates).
pub fn parse_duration_secs(text: &str) -> Option<u64> {
    parse_duration(text).map(|d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_are_gos() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        for bad in ["", "yes", "tRUE", " true", "2", "y", "on"] {
            assert_eq!(parse_bool(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn durations_follow_vaults_forms() {
        let s = parse_duration_secs;
        assert_eq!(s("3600"), Some(3600));
        assert_eq!(s("90s"), Some(90));
        assert_eq!(s("1h30m"), Some(5400));
        assert_eq!(s("7d"), Some(604_800));
        assert_eq!(s("1500ms"), Some(1));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        for bad in [
            "",
            "1x",
            "h",
            "10 s",
            "-5s",
            "1.5h",
            "s10",
            "99999999999999999999s",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }
}
