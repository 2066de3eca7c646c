//! PEM in and out: Go's layout (64-column lines) on the way out, and
//! bundles of mixed blocks (certificates, keys, CSRs) on the way in.

use coffer_sdk::prelude::*;

/// A PEM block labelled `label`, with a final newline.
pub fn encode(label: &str, der: &[u8]) -> String {
    let block = pem::Pem::new(label, der.to_vec());
    pem::encode_config(
        &block,
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// As [`encode`], without the final newline: how Vault's JSON answers
/// carry PEM.
pub fn encode_trimmed(label: &str, der: &[u8]) -> String {
    let mut text = encode(label, der);
    while text.ends_with('\n') {
        text.pop();
    }
    text
}

/// The blocks of `text` in order, as (label, DER); text outside blocks is
/// ignored. No block at all, or a malformed one, is a 400 naming `what`.
pub fn blocks(text: &str, what: &str) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let parsed = pem::parse_many(text.as_bytes())
        .map_err(|e| Error::invalid(format!("could not decode the PEM {what}: {e}")))?;
    if parsed.is_empty() {
        return Err(Error::invalid(format!("no PEM data found in the {what}")));
    }
    Ok(parsed
        .into_iter()
        .map(|p| (p.tag().to_owned(), p.into_contents()))
        .collect())
}

/// The one block of `text` labelled one of `labels`.
pub fn single(text: &str, labels: &[&str], what: &str) -> Result<Vec<u8>, Error> {
    let mut found = blocks(text, what)?
        .into_iter()
        .filter(|(label, _)| labels.contains(&label.as_str()));
    match (found.next(), found.next()) {
        (Some((_, der)), None) => Ok(der),
        (None, _) => Err(Error::invalid(format!(
            "no {} block found in the {what}",
            labels.join(" or ")
        ))),
        (Some(_), Some(_)) => Err(Error::invalid(format!(
            "more than one {} block in the {what}",
            labels.join(" or ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_go_layout() {
        let der: Vec<u8> = (0..100u8).collect();
        let text = encode("CERTIFICATE", &der);
        assert!(text.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(text.ends_with("-----END CERTIFICATE-----\n"));
        assert!(text.lines().all(|l| l.len() <= 64));
        assert!(!encode_trimmed("X", &der).ends_with('\n'));
        let two = format!("junk\n{text}{}", encode("PRIVATE KEY", &[1, 2, 3]));
        let b = blocks(&two, "bundle").unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b[0], ("CERTIFICATE".to_owned(), der.clone()));
        assert_eq!(
            single(&two, &["PRIVATE KEY"], "bundle").unwrap(),
            vec![1, 2, 3]
        );
        assert!(single(&two, &["CERTIFICATE REQUEST"], "csr").is_err());
        assert!(blocks("not pem", "csr").is_err());
    }
}
