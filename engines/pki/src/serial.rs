//! Certificate serial numbers: random, and written as Vault writes them
//! (lower-case hex pairs joined by colons; storage keys use hyphens).

use coffer_sdk::prelude::*;

/// A fresh serial: 159 random bits (as Vault draws them), big-endian,
/// minimal, positive and non-zero.
pub fn random() -> Result<Vec<u8>, Error> {
    loop {
        let mut bytes = coffer_sdk::crypto::random_bytes(20)?;
        bytes[0] &= 0x7f;
        let first = bytes.iter().position(|b| *b != 0);
        if let Some(i) = first {
            return Ok(bytes.split_off(i));
        }
    }
}

/// `01:ab:...`.
pub fn colon_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// A serial as a client sends it (colons or hyphens, any case) in the
/// canonical colon form; anything else is a 400.
pub fn normalize(text: &str) -> Result<String, Error> {
    let text = text.trim().to_ascii_lowercase().replace('-', ":");
    let ok = !text.is_empty()
        && text
            .split(':')
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok {
        Ok(text)
    } else {
        Err(Error::invalid(format!(
            "invalid serial number {text:?}: expected hex pairs separated by colons or hyphens"
        )))
    }
}

/// The storage key fragment of a canonical serial (hyphens).
pub fn storage_form(colon: &str) -> String {
    colon.replace(':', "-")
}

/// The serial's DER integer contents (canonical colon form in).
pub fn bytes(colon: &str) -> Result<Vec<u8>, Error> {
    colon
        .split(':')
        .map(|p| u8::from_str_radix(p, 16).map_err(|_| Error::invalid("invalid serial number")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(colon_hex(&[1, 0xab, 0]), "01:ab:00");
        assert_eq!(normalize("01-AB-00").unwrap(), "01:ab:00");
        assert!(normalize("1:ab").is_err());
        assert!(normalize("").is_err());
        assert_eq!(storage_form("01:ab"), "01-ab");
        assert_eq!(bytes("01:ab").unwrap(), vec![1, 0xab]);
        let s = random().unwrap();
        assert!(!s.is_empty() && s.len() <= 20 && s[0] != 0);
    }
}
