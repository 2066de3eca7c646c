//! The `data` of a line: a request's or a response's payload as one device
//! logs it, written in one pass from its JSON text (or parsed value) into a
//! buffer of at most [`DATA_CAP`] bytes, every leaf hashed on the way. No
//! copy of the payload is built: the text is read as a stream of tokens.
//!
//! **What is hashed** (unless the device has `log_raw`): every string,
//! number and boolean, as `hmac-sha256:<hex>`. Vault hashes only strings;
//! Coffer is stricter on purpose, since a PIN sent as `987654321` is as
//! secret as one sent as `"987654321"`. A number is hashed as the text
//! serde_json writes for it (an integer as its digits, any other number as
//! the shortest text of the nearest `f64`: `1.5`, `100000.0`, `1e300`), a
//! boolean as `true` or `false`, so `sys/audit-hash` of that text gives the
//! logged value. Left in clear: object keys, `null`, the empty string and
//! RFC 3339 timestamps ([`hash::in_clear`]), and the counts
//! `elide_list_responses` writes. Object keys keep the payload's order (a
//! host value's keys are sorted; an engine's or client's text keeps its
//! own order, duplicates included).
//!
//! **Bound:** the hashed form of a payload of `N` bytes with `L` hashed
//! leaves is at most `N + 77·L` bytes (a leaf of at least one byte becomes
//! a 78-byte quoted hash; keys and strings in clear are written no longer
//! than JSON lets them be sent; whitespace is dropped). Whatever the
//! payload, a device's `data` is at most [`DATA_CAP`] bytes: writing stops
//! as soon as the buffer would pass it, and the payload is then logged as
//! `{"coffer_audit_truncated":"<n> bytes"}` (`n`: the length of its JSON
//! text), raw devices included. So a line costs one pass over its payloads
//! (parse and HMAC, linear in their size, stopped early past the cap) and at
//! most `DATA_CAP` bytes of memory and log per payload.
//!
//! Not covered: the rest of a line (path, token metadata and policies,
//! warnings) is not capped here; their sizes are bounded by the request's
//! URL and by what token creation accepts.

use std::fmt;
use std::io;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::entry::{Payload, Style};
use super::hash::{self, QUOTED_LEN};

/// The most a device writes for one payload's `data` (1 MiB).
pub const DATA_CAP: usize = 1 << 20;

/// The key of the object that replaces a payload over [`DATA_CAP`].
pub const TRUNCATED: &str = "coffer_audit_truncated";

/// `payload` as `style`'s device logs it, `elide` applying Vault's
/// `elide_list_responses` to its top level; `None` when there is nothing to
/// log (`null` or `{}`, Go's `omitempty`).
pub(crate) fn render(
    payload: Payload<'_>,
    style: &Style<'_>,
    elide: bool,
) -> Option<Box<RawValue>> {
    render_capped(payload, style, elide, DATA_CAP)
}

fn render_capped(
    payload: Payload<'_>,
    style: &Style<'_>,
    elide: bool,
    cap: usize,
) -> Option<Box<RawValue>> {
    let mut out = Out {
        buf: Vec::new(),
        cap,
        over: false,
        style,
    };
    let top = Node {
        out: &mut out,
        comma: false,
        elide: if elide { Elide::TopLevel } else { Elide::No },
    };
    let written = match payload {
        Payload::Object(map) => top.deserialize(map).is_ok(),
        Payload::Value(value) => top.deserialize(value).is_ok(),
        Payload::Text(text) => {
            let mut de = serde_json::Deserializer::from_str(text);
            top.deserialize(&mut de).and_then(|()| de.end()).is_ok()
        }
    };
    if !written && !out.over {
        let Payload::Text(text) = payload else {
            // A value's walk fails only over the cap.
            return truncated(payload);
        };
        // Text that is not JSON (the request path checks bodies, so this is
        // a stray engine answer): logged as one string.
        out.buf.clear();
        let _ = out.string::<serde_json::Error>(text);
    }
    if out.over {
        return truncated(payload);
    }
    if out.buf == b"{}" || out.buf == b"null" {
        return None;
    }
    String::from_utf8(out.buf)
        .ok()
        .and_then(|text| RawValue::from_string(text).ok())
        .or_else(|| truncated(payload))
}

/// `{"coffer_audit_truncated":"<n> bytes"}` (always JSON: `n` is digits).
fn truncated(payload: Payload<'_>) -> Option<Box<RawValue>> {
    let n = match payload {
        Payload::Text(text) => text.len(),
        Payload::Object(map) => json_len(map),
        Payload::Value(value) => json_len(value),
    };
    RawValue::from_string(format!(r#"{{"{TRUNCATED}":"{n} bytes"}}"#)).ok()
}

/// The length of a value's compact JSON text, counted without keeping it.
fn json_len<T: serde::Serialize>(value: &T) -> usize {
    struct Count(usize);
    impl io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 = self.0.saturating_add(buf.len());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// The capped output and how to write leaves into it.
struct Out<'s> {
    buf: Vec<u8>,
    cap: usize,
    /// Set when a write would have passed `cap`; the error that stops the
    /// walk is then this, not bad input.
    over: bool,
    style: &'s Style<'s>,
}

impl Out<'_> {
    /// Room for `n` more bytes, or the error that stops the walk.
    fn room<E: de::Error>(&mut self, n: usize) -> Result<(), E> {
        if self.buf.len().saturating_add(n) > self.cap {
            self.over = true;
            return Err(E::custom("audit data over its cap"));
        }
        Ok(())
    }

    fn push<E: de::Error>(&mut self, bytes: &[u8]) -> Result<(), E> {
        self.room(bytes.len())?;
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// A string written as JSON, escaped.
    fn quoted<E: de::Error>(&mut self, s: &str) -> Result<(), E> {
        // The escaped text is at least `len + 2` bytes: refuse before
        // writing what cannot fit, check again after.
        self.room(s.len().saturating_add(2))?;
        serde_json::to_writer(&mut self.buf, s).map_err(E::custom)?;
        self.room(0)
    }

    fn hashed<E: de::Error>(&mut self, text: &str) -> Result<(), E> {
        self.room(QUOTED_LEN)?;
        self.style.hasher.push_quoted(text, &mut self.buf);
        Ok(())
    }

    fn string<E: de::Error>(&mut self, s: &str) -> Result<(), E> {
        if self.style.raw || hash::in_clear(s) {
            self.quoted(s)
        } else {
            self.hashed(s)
        }
    }

    /// A number or boolean, given as its JSON text.
    fn scalar<E: de::Error>(&mut self, text: &str) -> Result<(), E> {
        if self.style.raw {
            self.push(text.as_bytes())
        } else {
            self.hashed(text)
        }
    }

    /// A count written in clear (`elide_list_responses`).
    fn count<E: de::Error>(&mut self, n: u64) -> Result<(), E> {
        self.push(n.to_string().as_bytes())
    }
}

/// What `elide_list_responses` does to a value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Elide {
    No,
    /// The payload itself: its `keys` and `key_info` are elided.
    TopLevel,
    /// The top-level `keys`: an array becomes its length.
    Keys,
    /// The top-level `key_info`: an object becomes its number of entries.
    KeyInfo,
}

/// One value to write; `comma` puts a `,` before it (a later element).
struct Node<'o, 's> {
    out: &'o mut Out<'s>,
    comma: bool,
    elide: Elide,
}

impl<'de> DeserializeSeed<'de> for Node<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.comma {
            self.out.push(b",")?;
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.out.scalar(if v { "true" } else { "false" })
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.out.scalar(&v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.out.scalar(&v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        match serde_json::Number::from_f64(v) {
            Some(n) => self.out.scalar(&n.to_string()),
            // JSON has no NaN or infinity; serde_json writes them as null.
            None => self.out.push(b"null"),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.out.string(v)
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.out.push(b"null")
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.out.push(b"null")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.elide == Elide::Keys {
            let mut n = 0u64;
            while seq.next_element::<IgnoredAny>()?.is_some() {
                n = n.saturating_add(1);
            }
            return self.out.count(n);
        }
        self.out.push(b"[")?;
        let mut comma = false;
        while seq
            .next_element_seed(Node {
                out: &mut *self.out,
                comma,
                elide: Elide::No,
            })?
            .is_some()
        {
            comma = true;
        }
        self.out.push(b"]")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if self.elide == Elide::KeyInfo {
            let mut n = 0u64;
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {
                n = n.saturating_add(1);
            }
            return self.out.count(n);
        }
        self.out.push(b"{")?;
        let mut comma = false;
        while let Some(elide) = map.next_key_seed(Key {
            out: &mut *self.out,
            comma,
            top: self.elide == Elide::TopLevel,
        })? {
            comma = true;
            self.out.push(b":")?;
            map.next_value_seed(Node {
                out: &mut *self.out,
                comma: false,
                elide,
            })?;
        }
        self.out.push(b"}")
    }
}

/// An object key, written in clear; says how to elide its value.
struct Key<'o, 's> {
    out: &'o mut Out<'s>,
    comma: bool,
    top: bool,
}

impl<'de> DeserializeSeed<'de> for Key<'_, '_> {
    type Value = Elide;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Elide, D::Error> {
        if self.comma {
            self.out.push(b",")?;
        }
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_, '_> {
    type Value = Elide;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Elide, E> {
        self.out.quoted(key)?;
        Ok(match (self.top, key) {
            (true, "keys") => Elide::Keys,
            (true, "key_info") => Elide::KeyInfo,
            _ => Elide::No,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::audit::hash::Hasher;

    fn style(hasher: &Hasher, raw: bool) -> Style<'_> {
        Style {
            hasher,
            raw,
            hmac_accessor: true,
            elide_list_responses: false,
        }
    }

    fn logged(payload: Payload<'_>, style: &Style<'_>, elide: bool) -> Option<Value> {
        render(payload, style, elide).map(|raw| serde_json::from_str(raw.get()).unwrap())
    }

    #[test]
    fn every_leaf_is_hashed_but_keys_nulls_empties_and_timestamps() {
        let hasher = Hasher::new(&[7u8; 32]).unwrap();
        let h = |t: &str| hasher.hash(t);
        let text = r#"{ "s": "secret", "pin": 987654321, "neg": -3, "f": 1.5,
            "e": 1e5, "b": true, "z": null, "empty": "",
            "t": "2024-01-01T00:00:00Z",
            "nested": {"a": ["x", 1, {"deep": "y"}], "e": [], "o": {}} }"#;
        let want = json!({
            "s": h("secret"), "pin": h("987654321"), "neg": h("-3"), "f": h("1.5"),
            "e": h("100000.0"), "b": h("true"), "z": null, "empty": "",
            "t": "2024-01-01T00:00:00Z",
            "nested": {"a": [h("x"), h("1"), {"deep": h("y")}], "e": [], "o": {}},
        });
        let s = style(&hasher, false);
        assert_eq!(logged(Payload::Text(text), &s, false).unwrap(), want);
        // The same from a parsed value and a parsed object.
        let value: Value = serde_json::from_str(text).unwrap();
        assert_eq!(logged(Payload::Value(&value), &s, false).unwrap(), want);
        let map = value.as_object().unwrap();
        assert_eq!(logged(Payload::Object(map), &s, false).unwrap(), want);
        let out = render(Payload::Text(text), &s, false).unwrap();
        for clear in ["secret", "987654321", "1.5", "true"] {
            assert!(!out.get().contains(clear), "{clear} in clear");
        }
    }

    #[test]
    fn raw_devices_get_the_payload_compacted() {
        let hasher = Hasher::new(&[7u8; 32]).unwrap();
        let text = "{\n  \"s\": \"sec\\u0072et\\n\", \"n\": [1, -2, 0.25, false, null] }";
        let out = render(Payload::Text(text), &style(&hasher, true), false).unwrap();
        assert_eq!(out.get(), r#"{"s":"secret\n","n":[1,-2,0.25,false,null]}"#);
    }

    #[test]
    fn empty_payloads_are_left_out_and_bad_text_is_one_string() {
        let hasher = Hasher::new(&[7u8; 32]).unwrap();
        let s = style(&hasher, false);
        for empty in ["{}", " { } ", "null"] {
            assert!(render(Payload::Text(empty), &s, false).is_none(), "{empty}");
        }
        assert!(render(Payload::Value(&Value::Null), &s, false).is_none());
        assert_eq!(
            logged(Payload::Text("not json"), &s, false).unwrap(),
            json!(hasher.hash("not json"))
        );
        // Trailing text makes the whole text one string, too.
        assert_eq!(
            logged(Payload::Text(r#"{"a":"b"} x"#), &s, false).unwrap(),
            json!(hasher.hash(r#"{"a":"b"} x"#))
        );
    }

    #[test]
    fn list_responses_are_elided_at_the_top_level_only() {
        let hasher = Hasher::new(&[7u8; 32]).unwrap();
        let s = style(&hasher, false);
        let text = r#"{"keys":["a","b","c"],"key_info":{"a":{},"b":1},
                       "other":{"keys":["x"]}}"#;
        let got = logged(Payload::Text(text), &s, true).unwrap();
        assert_eq!(
            got,
            json!({"keys": 3, "key_info": 2, "other": {"keys": [hasher.hash("x")]}})
        );
        // Not an array or object: written (and hashed) as any value.
        let got = logged(Payload::Text(r#"{"keys":"k"}"#), &s, true).unwrap();
        assert_eq!(got, json!({"keys": hasher.hash("k")}));
    }

    #[test]
    fn hashed_data_is_at_most_n_plus_77_per_leaf() {
        let hasher = Hasher::new(&[7u8; 32]).unwrap();
        let s = style(&hasher, false);
        // The densest leaves JSON allows: one-byte numbers.
        let leaves = 1000;
        let text = format!("{{\"a\":[{}]}}", vec!["0"; leaves].join(","));
        let out = render(Payload::Text(&text), &s, false).unwrap();
        assert!(out.get().len() <= text.len() + 77 * leaves);
        assert_eq!(out.get().len(), text.len() + 77 * leaves);
        // Empty strings are not leaves to hash: the body is logged as sent.
        let text = format!("{{\"a\":[{}]}}", vec!["\"\""; leaves].join(","));
        assert_eq!(render(Payload::Text(&text), &s, false).unwrap().get(), text);
    }

    #[test]
    fn a_payload_over_the_cap_is_replaced_by_its_size() {
        let hasher = Hasher::new(&[7u8; 32]).unwrap();
        for raw in [false, true] {
            let s = style(&hasher, raw);
            // Over the cap once hashed (or raw: already as sent).
            let text = if raw {
                format!("{{\"a\":\"{}\"}}", "x".repeat(DATA_CAP))
            } else {
                format!("{{\"a\":[{}]}}", vec!["0"; DATA_CAP / 70].join(","))
            };
            let got = logged(Payload::Text(&text), &s, false).unwrap();
            assert_eq!(
                got,
                json!({ TRUNCATED: format!("{} bytes", text.len()) }),
                "raw: {raw}"
            );
            let value: Value = serde_json::from_str(&text).unwrap();
            let got = logged(Payload::Value(&value), &s, false).unwrap();
            assert_eq!(got, json!({ TRUNCATED: format!("{} bytes", text.len()) }));
        }
        // Just under the cap is logged whole; the cap is on what is written.
        let s = style(&hasher, false);
        let out = render_capped(Payload::Text(r#"{"a":"b"}"#), &s, false, 8 + QUOTED_LEN).unwrap();
        assert_eq!(out.get().len(), 6 + QUOTED_LEN);
        let out = render_capped(Payload::Text(r#"{"a":"b"}"#), &s, false, 5 + QUOTED_LEN).unwrap();
        assert!(out.get().contains(TRUNCATED));
    }
}
