//! `export/:key_type/:name(/:version)`: key material of exportable keys,
//! and public keys and certificate chains of any asymmetric key.

use coffer_sdk::crypto::{PrivateKeyFormat, PublicKeyFormat};
use coffer_sdk::prelude::*;
use serde_json::{json, Map, Value};

use crate::policy::{cache, KeyKind, Loaded};
use crate::util::{b64, parse_url_version, pem};

/// `export/:key_type/:name(/:version)`.
pub fn path() -> Path {
    Path::new("export/{type}/{name}/{version?}")
        .read(export)
        .synopsis("Exports a named key.")
}

#[derive(Fields)]
struct Export {
    /// encryption-key, signing-key, hmac-key, public-key or certificate-chain.
    r#type: String,
    /// Name of the key.
    name: String,
    /// Version to export: a number, `latest`, or all when absent.
    version: Option<String>,
}

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum What {
    Encryption,
    Signing,
    Hmac,
    Public,
    Chain,
}

fn export(ctx: &mut Ctx<'_>, f: Export) -> Result<Response, Error> {
    let what = match f.r#type.as_str() {
        "encryption-key" => What::Encryption,
        "signing-key" => What::Signing,
        "hmac-key" => What::Hmac,
        "public-key" => What::Public,
        "certificate-chain" => What::Chain,
        other => return Err(Error::invalid(format!("invalid export type: {other}"))),
    };
    let Some(loaded) = cache::load(ctx, &f.name)? else {
        return Err(Error::not_found());
    };
    let p = &loaded.policy;
    if !p.exportable && !matches!(what, What::Public | What::Chain) {
        return Err(Error::invalid("private key material is not exportable"));
    }
    match what {
        What::Encryption if !p.kind.supports_encryption() => {
            return Err(Error::invalid("encryption not supported for the key"))
        }
        What::Signing if !p.kind.supports_signing() => {
            return Err(Error::invalid("signing not supported for the key"))
        }
        What::Public if !p.kind.is_asymmetric() => {
            return Err(Error::invalid("public key not supported for the key"))
        }
        What::Chain if !p.kind.supports_signing() => {
            return Err(Error::invalid(
                "certificate chain not supported for keys that do not support signing",
            ))
        }
        _ => {}
    }
    let mut keys = Map::new();
    match parse_url_version(f.version.as_deref(), p.latest_version)? {
        None => {
            for v in p
                .versions
                .keys()
                .filter(|v| **v >= p.min_decryption_version)
            {
                keys.insert(v.to_string(), Value::String(material(&loaded, *v, what)?));
            }
        }
        Some(v) => {
            if v < p.min_decryption_version {
                return Err(Error::invalid(
                    "version for export is below minimum decryption version",
                ));
            }
            if !p.versions.contains_key(&v) {
                return Err(Error::invalid("version does not exist or cannot be found"));
            }
            keys.insert(v.to_string(), Value::String(material(&loaded, v, what)?));
        }
    }
    Ok(Response::data(json!({
        "name": p.name,
        "type": p.kind.as_str(),
        "keys": keys,
    })))
}

/// One version's exported value, in Vault's encodings. Key bytes come
/// only from the host's `export`, which checks the handle's `export`
/// permission.
fn material(loaded: &Loaded, v: u32, what: What) -> Result<String, Error> {
    let p = &loaded.policy;
    let kind = p.kind;
    let version = p.version(v)?;
    Ok(match what {
        What::Hmac => b64::encode(&loaded.hmac_key(v)?.export(PrivateKeyFormat::Raw)?),
        What::Chain => {
            if version.certificate_chain.is_empty() {
                return Err(Error::invalid(
                    "selected key version does not have a certificate chain imported",
                ));
            }
            version
                .certificate_chain
                .iter()
                .map(|der| pem("CERTIFICATE", &der.0).trim_end().to_owned())
                .collect::<Vec<_>>()
                .join("\n")
        }
        What::Public => match kind {
            KeyKind::Ed25519 => version.public_key.clone(),
            k if k.is_ecdsa() => version.public_key.trim_end().to_owned(),
            _ => version.public_key.clone(),
        },
        What::Encryption | What::Signing => {
            if version.is_private_missing() {
                return Ok(String::new());
            }
            let key = loaded.key(v)?;
            if kind.aead().is_some() || kind == KeyKind::Hmac {
                b64::encode(&key.export(PrivateKeyFormat::Raw)?)
            } else if kind == KeyKind::Ed25519 {
                // Vault's form: the seed, then the public key.
                let mut bytes = key.export(PrivateKeyFormat::Raw)?;
                bytes.extend(key.public_key()?.export(PublicKeyFormat::Raw)?);
                b64::encode(&bytes)
            } else if kind.is_rsa() {
                String::from_utf8_lossy(&key.export(PrivateKeyFormat::Pkcs1Pem)?).into_owned()
            } else {
                String::from_utf8_lossy(&key.export(PrivateKeyFormat::Sec1Pem)?)
                    .trim_end()
                    .to_owned()
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::tests::{data, transit};

    #[test]
    fn exports_only_what_is_allowed() {
        let mut t = transit();
        data(t.write("keys/x", json!({"exportable": true})));
        let e = data(t.read("export/encryption-key/x"));
        assert_eq!(e["type"], "aes256-gcm96");
        assert_eq!(
            crate::util::decode_b64(e["keys"]["1"].as_str().unwrap())
                .unwrap()
                .len(),
            32
        );
        assert!(data(t.read("export/hmac-key/x/latest"))["keys"]["1"].is_string());
        assert!(t
            .read("export/signing-key/x")
            .unwrap_err()
            .message()
            .contains("signing not supported"));
        assert!(t
            .read("export/encryption-key/x/5")
            .unwrap_err()
            .message()
            .contains("does not exist"));
        assert!(t
            .read("export/foo/x")
            .unwrap_err()
            .message()
            .contains("invalid export type"));
        assert_eq!(
            t.read("export/encryption-key/nope").unwrap_err().status(),
            404
        );

        data(t.write("keys/p", json!({"type": "ecdsa-p256"})));
        let public = data(t.read("export/public-key/p"));
        assert!(public["keys"]["1"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----"));
        assert_eq!(
            t.read("export/signing-key/p").unwrap_err().message(),
            "private key material is not exportable"
        );
        data(t.write("keys/p/config", json!({"exportable": true})));
        let s = data(t.read("export/signing-key/p/1"));
        assert!(s["keys"]["1"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN EC PRIVATE KEY-----"));
        data(t.write("keys/r", json!({"type": "rsa-2048", "exportable": true})));
        let r = data(t.read("export/encryption-key/r"));
        assert!(r["keys"]["1"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        data(t.write("keys/e", json!({"type": "ed25519", "exportable": true})));
        let e = data(t.read("export/signing-key/e"));
        assert_eq!(
            crate::util::decode_b64(e["keys"]["1"].as_str().unwrap())
                .unwrap()
                .len(),
            64
        );
        assert!(t
            .read("export/certificate-chain/e")
            .unwrap_err()
            .message()
            .contains("certificate chain"));
    }
}
