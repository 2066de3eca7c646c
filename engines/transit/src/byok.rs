//! Bring your own key: `wrapping_key` (the mount's RSA-4096 import key),
//! `keys/:name/import`, `keys/:name/import_version`, and
//! `byok-export/:destination/:source(/:version)` whose output the import
//! of another mount accepts.
//!
//! The wrapped form (Vault's): `base64(RSA-OAEP(wrapping key, hash,
//! ephemeral AES-256 key) || AES-KWP(ephemeral key, material))`, the
//! material being the raw key of symmetric types and PKCS#8 DER of
//! asymmetric ones.
//!
//! The host does both ends: an import hands the wrapped bytes to
//! `Key::unwrap` with the wrapping key's handle (the wrapping key itself is
//! stored as a sealed blob), and an export asks the source's handle to
//! `wrap_for` the destination's public key (its key's public half, or the
//! public key imported alone: another mount's wrapping key, the usual
//! case), which the host allows only for a key with `export`. No key's
//! bytes enter the engine.

use coffer_sdk::clock::Timestamp;
use coffer_sdk::crypto::HashAlgorithm;
use coffer_sdk::keys::{Key, KeyType, PublicKey};
use coffer_sdk::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::policy::model::{new_hmac_key, public_pem, public_text, KeyVersion, NewKey};
use crate::policy::{cache, store, KeyKind, Policy};
use crate::util::{b64, decode_b64, parse_url_version};

/// Where the wrapping key is stored.
const WRAPPING_KEY: &str = "wrapping_key";

/// Length of the RSA-4096-wrapped ephemeral key at the start of a ciphertext.
const WRAPPED_KEY_LEN: usize = 512;

/// `wrapping_key`.
pub fn wrapping_key_path() -> Path {
    Path::new("wrapping_key")
        .read(read_wrapping_key)
        .synopsis("Returns the public key to wrap keys imported into this mount.")
}

/// `keys/:name/import`.
pub fn import_path() -> Path {
    Path::new("keys/{name}/import")
        .update(import)
        .synopsis("Imports an externally generated key as a new key.")
}

/// `keys/:name/import_version`.
pub fn import_version_path() -> Path {
    Path::new("keys/{name}/import_version")
        .update(import_version)
        .synopsis("Imports new key material into an existing imported key.")
}

/// `byok-export/:destination/:source(/:version)`.
pub fn byok_export_path() -> Path {
    Path::new("byok-export/{destination}/{source}/{version?}")
        .read(byok_export)
        .synopsis("Exports a key wrapped for import into another mount.")
}

/// The stored wrapping key: its sealed blob, or (stored by release 0.1)
/// its PKCS#8 DER, migrated to a blob when next used.
#[derive(Serialize, Deserialize)]
struct StoredWrappingKey {
    #[serde(with = "b64", default, skip_serializing_if = "Vec::is_empty")]
    blob: Vec<u8>,
    #[serde(with = "b64", default, skip_serializing_if = "Vec::is_empty")]
    key: Vec<u8>,
}

#[derive(Fields)]
struct Import {
    /// Name of the key.
    name: String,
    /// Type of the imported key.
    #[field(default = "aes256-gcm96")]
    r#type: KeyKind,
    /// Base64: the ephemeral AES key wrapped with the wrapping key (512 bytes), then the key wrapped with AES-KWP.
    ciphertext: Option<String>,
    /// Hash of the RSA-OAEP step: SHA1, SHA224, SHA256 (default), SHA384 or SHA512.
    #[field(default = "SHA256")]
    hash_function: String,
    /// PEM public key, to import a public key only (verify and encrypt).
    public_key: Option<String>,
    /// Whether the key may be rotated here.
    allow_rotation: bool,
    /// Whether every use derives the key from a `context`.
    derived: bool,
    /// Base64 context for derivation (accepted for compatibility).
    context: Option<Base64>,
    /// Whether the key may be exported (cannot be undone).
    exportable: bool,
    /// Whether a plaintext backup may be taken (cannot be undone).
    allow_plaintext_backup: bool,
    /// Period of automatic rotation (needs `allow_rotation`); 0 disables it.
    auto_rotate_period: DurationSeconds,
    /// Refused: imported keys cannot be convergent.
    convergent_encryption: Option<bool>,
}

#[derive(Fields)]
struct ImportVersion {
    /// Name of the key.
    name: String,
    /// Base64 wrapped key material (see `import`).
    ciphertext: Option<String>,
    /// Hash of the RSA-OAEP step: SHA1, SHA224, SHA256 (default), SHA384 or SHA512.
    #[field(default = "SHA256")]
    hash_function: String,
    /// PEM public key, to import a public key only.
    public_key: Option<String>,
    /// Version to complete with its private key; absent adds a version.
    version: Option<u32>,
}

#[derive(Fields)]
struct ByokExport {
    /// Name of the (RSA) key to wrap for: usually another mount's wrapping key, imported here.
    destination: String,
    /// Name of the key to export.
    source: String,
    /// Version to export: a number, `latest`, or all when absent.
    version: Option<String>,
    /// Hash of the RSA-OAEP step: SHA1, SHA224, SHA256 (default), SHA384 or SHA512.
    #[field(default = "SHA256")]
    hash: String,
}

/// The mount's wrapping key (never exportable), made on first use; one
/// that release 0.1 stored in the clear is imported and stored sealed.
fn wrapping_key(ctx: &mut Ctx<'_>) -> Result<Key, Error> {
    let stored = ctx.storage().get_json::<StoredWrappingKey>(WRAPPING_KEY)?;
    let key = match stored {
        Some(stored) if !stored.blob.is_empty() => return Key::open(&stored.blob),
        Some(stored) => Key::import(KeyType::Rsa4096, &stored.key, &[])?,
        None => Key::generate(KeyType::Rsa4096, None, &[])?,
    };
    let blob = key.seal()?;
    ctx.storage().put_json(
        WRAPPING_KEY,
        &StoredWrappingKey {
            blob,
            key: Vec::new(),
        },
    )?;
    Ok(key)
}

fn read_wrapping_key(ctx: &mut Ctx<'_>, _: ()) -> Result<Response, Error> {
    let key = wrapping_key(ctx)?;
    Ok(Response::data(
        json!({"public_key": public_pem(&key.public_key()?)?}),
    ))
}

fn hash_function(name: &str) -> Result<HashAlgorithm, Error> {
    Ok(match name.to_ascii_uppercase().as_str() {
        "SHA1" => HashAlgorithm::Sha1,
        "SHA224" => HashAlgorithm::Sha224,
        "SHA256" => HashAlgorithm::Sha256,
        "SHA384" => HashAlgorithm::Sha384,
        "SHA512" => HashAlgorithm::Sha512,
        _ => return Err(Error::invalid(format!("unknown hash function: {name}"))),
    })
}

/// The key an import ciphertext carries, unwrapped by the host with the
/// mount's wrapping key, with `p`'s type and permissions.
fn unwrap_key(ctx: &mut Ctx<'_>, p: &Policy, ciphertext: &str, hash: &str) -> Result<Key, Error> {
    let hash = hash_function(hash)?;
    let bytes = decode_b64(ciphertext)
        .map_err(|e| Error::invalid(format!("'ciphertext' is not base64: {e}")))?;
    if bytes.len() <= WRAPPED_KEY_LEN {
        return Err(Error::invalid("provided ciphertext is too short"));
    }
    let key_type = p.kind.key_type()?;
    let wrapping = wrapping_key(ctx)?;
    let key = Key::unwrap(&wrapping, &bytes, hash, key_type, &p.permissions())
        .map_err(|e| Error::invalid(format!("cannot unwrap the key material: {}", e.message())))?;
    if p.kind == KeyKind::Hmac {
        // Vault's smallest imported HMAC key (the host's is smaller).
        let size = key.bits() / 8;
        if size < 32 {
            return Err(Error::invalid(format!(
                "invalid key size {size} bytes for key type hmac"
            )));
        }
    }
    Ok(key)
}

/// A version holding only an imported public key.
fn public_version(p: &Policy, pem: &str, now: Timestamp) -> Result<KeyVersion, Error> {
    let kind = p.kind;
    if !kind.supports_public_import() {
        return Err(Error::invalid(
            "provided type does not support public_key import",
        ));
    }
    if kind == KeyKind::Ed25519 && p.derived {
        return Err(Error::invalid(
            "unable to import only public key for derived Ed25519 key",
        ));
    }
    let public = PublicKey::import(kind.key_type()?, pem.as_bytes())
        .map_err(|e| Error::invalid(format!("error parsing public key: {}", e.message())))?;
    Ok(KeyVersion {
        creation_time: now.into(),
        hmac_blob: new_hmac_key(&p.permissions())?.seal()?,
        public_key: public_text(kind, &public)?,
        ..KeyVersion::default()
    })
}

/// Which of `ciphertext` and `public_key` was given.
enum Material {
    Private(String),
    Public(String),
}

fn material(ciphertext: Option<String>, public_key: Option<String>) -> Result<Material, Error> {
    let ciphertext = ciphertext.filter(|c| !c.is_empty());
    let public_key = public_key.filter(|c| !c.is_empty());
    match (ciphertext, public_key) {
        (Some(_), Some(_)) => Err(Error::invalid(
            "only one of the following fields, ciphertext and public_key, can be set",
        )),
        (Some(c), None) => Ok(Material::Private(c)),
        (None, Some(p)) => Ok(Material::Public(p)),
        (None, None) => Err(Error::invalid(
            "one of 'ciphertext' (wrapped key material) or 'public_key' is required",
        )),
    }
}

fn import(ctx: &mut Ctx<'_>, f: Import) -> Result<Response, Error> {
    store::check_name(&f.name)?;
    if f.convergent_encryption.is_some() {
        return Err(Error::invalid(
            "import cannot be used on keys with convergent encryption enabled",
        ));
    }
    if f.auto_rotate_period.as_secs() > 0 && !f.allow_rotation {
        return Err(Error::invalid(
            "allow_rotation must be set to true if auto-rotation is enabled",
        ));
    }
    let given = material(f.ciphertext, f.public_key)?;
    let _ = f.context;
    if cache::load(ctx, &f.name)?.is_some() {
        return Err(Error::invalid(
            "the import path cannot be used with an existing key; use import-version to rotate an existing imported key",
        ));
    }
    let mut p = Policy::new(
        &f.name,
        f.r#type,
        &NewKey {
            derived: f.derived,
            exportable: f.exportable,
            allow_plaintext_backup: f.allow_plaintext_backup,
            auto_rotate_period: f.auto_rotate_period.as_secs(),
            ..NewKey::default()
        },
    )?;
    let now = ctx.now();
    let version = match given {
        Material::Private(c) => {
            let key = unwrap_key(ctx, &p, &c, &f.hash_function)?;
            if p.kind == KeyKind::Hmac {
                p.key_size = key.bits() / 8;
            }
            p.new_version(now, &key)?
        }
        Material::Public(pem) => public_version(&p, &pem, now)?,
    };
    p.push_version(version)?;
    p.imported = true;
    p.allow_imported_key_rotation = f.allow_rotation;
    store::save(ctx, &p)?;
    Ok(Response::none())
}

fn import_version(ctx: &mut Ctx<'_>, f: ImportVersion) -> Result<Response, Error> {
    let given = material(f.ciphertext, f.public_key)?;
    let Some(loaded) = cache::load(ctx, &f.name)? else {
        return Err(Error::invalid(format!(
            "no key found with name {}; to import a new key, use the import/ endpoint",
            f.name
        )));
    };
    let mut p = loaded.policy.clone();
    if !p.imported {
        return Err(Error::invalid(
            "the import_version endpoint can only be used with an imported key",
        ));
    }
    if p.convergent_encryption {
        return Err(Error::invalid(
            "import_version cannot be used on keys with convergent encryption enabled",
        ));
    }
    let now = ctx.now();
    let new = match given {
        Material::Private(c) => {
            let key = unwrap_key(ctx, &p, &c, &f.hash_function)?;
            p.new_version(now, &key)?
        }
        Material::Public(pem) => public_version(&p, &pem, now)?,
    };
    let is_private = !new.is_private_missing();
    // A private key completes a public-only version with the same public key.
    let target = match f.version {
        Some(v) => {
            let existing = p.version(v)?;
            if !p.kind.supports_public_import() {
                return Err(Error::invalid(
                    "provided type does not support importing key versions",
                ));
            }
            if !existing.is_private_missing() {
                return Err(Error::invalid(
                    "private key imported, key version cannot be updated",
                ));
            }
            if !is_private {
                return Err(Error::invalid(
                    "cannot add a public key to a key version that already has a public key set",
                ));
            }
            Some(v)
        }
        None => {
            let latest = p.versions.get(&p.latest_version);
            match latest {
                Some(l)
                    if is_private && l.is_private_missing() && l.public_key == new.public_key =>
                {
                    Some(p.latest_version)
                }
                _ => None,
            }
        }
    };
    match target {
        Some(v) => {
            let existing = p
                .versions
                .get_mut(&v)
                .ok_or_else(|| Error::invalid("no such key version"))?;
            if existing.public_key != new.public_key {
                return Err(Error::invalid("cannot import key, key pair does not match"));
            }
            existing.blob = new.blob;
        }
        None => p.push_version(new)?,
    }
    store::save(ctx, &p)?;
    Ok(Response::none())
}

fn byok_export(ctx: &mut Ctx<'_>, f: ByokExport) -> Result<Response, Error> {
    let hash = hash_function(&f.hash)?;
    let Some(dst) = cache::load(ctx, &f.destination)? else {
        return Err(Error::invalid("no such destination key to export to"));
    };
    let Some(src) = cache::load(ctx, &f.source)? else {
        return Err(Error::invalid("no such source key for export"));
    };
    if !src.policy.exportable {
        return Err(Error::invalid("key is not exportable"));
    }
    if !dst.policy.kind.is_rsa() {
        return Err(Error::invalid(
            "key wrapping is only supported with an RSA destination key",
        ));
    }
    let dv = dst.policy.encryption_version(0, "key wrapping")?;
    let s = &src.policy;
    let mut keys = Map::new();
    let versions: Vec<u32> = match parse_url_version(f.version.as_deref(), s.latest_version)? {
        None => s
            .versions
            .keys()
            .copied()
            .filter(|v| *v >= s.min_decryption_version)
            .collect(),
        Some(v) => {
            if v < s.min_decryption_version {
                return Err(Error::invalid(
                    "version for export is below minimum decryption version",
                ));
            }
            if !s.versions.contains_key(&v) {
                return Err(Error::invalid("version does not exist or cannot be found"));
            }
            vec![v]
        }
    };
    for v in versions {
        if !src.has_private(v)? {
            return Err(Error::invalid(format!(
                "version {v} of the source key has no private key to export"
            )));
        }
        let wrapped = src.key(v)?.wrap_for(&*dst.public(dv)?, hash)?;
        keys.insert(v.to_string(), Value::String(b64::encode(&wrapped)));
    }
    Ok(Response::data(json!({
        "name": s.name,
        "type": s.kind.as_str(),
        "keys": keys,
    })))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::tests::{data, transit};

    #[test]
    fn byok_between_two_mounts() {
        let mut a = transit();
        let mut b = transit();
        // The destination mount's wrapping key, imported into the source
        // mount as a public key.
        let wk = data(b.read("wrapping_key"))["public_key"].clone();
        assert_eq!(data(b.read("wrapping_key"))["public_key"], wk, "stable");
        assert_eq!(
            a.write(
                "keys/b-wrap/import",
                json!({"type": "rsa-4096", "public_key": wk})
            )
            .unwrap()
            .status(),
            204
        );
        for kind in ["aes256-gcm96", "ecdsa-p256", "ed25519", "hmac"] {
            let name = format!("src-{kind}");
            data(a.write(
                &format!("keys/{name}"),
                json!({"type": kind, "exportable": true}),
            ));
            let out = data(a.read(&format!("byok-export/b-wrap/{name}/1")));
            let ct = out["keys"]["1"].clone();
            assert_eq!(
                b.write(
                    &format!("keys/{name}/import"),
                    json!({"type": kind, "ciphertext": ct})
                )
                .unwrap()
                .status(),
                204,
                "{kind}"
            );
            let read = data(b.read(&format!("keys/{name}")));
            assert_eq!(read["imported_key"], true);
            assert_eq!(read["imported_key_allow_rotation"], false);
        }
        // The imported AES key decrypts what the source encrypted.
        let ct = data(a.write("encrypt/src-aes256-gcm96", json!({"plaintext": "aGk="})))
            ["ciphertext"]
            .clone();
        assert_eq!(
            data(b.write("decrypt/src-aes256-gcm96", json!({"ciphertext": ct})))["plaintext"],
            "aGk="
        );
        // The imported ECDSA key verifies the source's signatures.
        let sig =
            data(a.write("sign/src-ecdsa-p256", json!({"input": "aGk="})))["signature"].clone();
        assert_eq!(
            data(b.write(
                "verify/src-ecdsa-p256",
                json!({"input": "aGk=", "signature": sig})
            ))["valid"],
            true
        );
        // Imported keys rotate only when allowed.
        assert!(b
            .write("keys/src-ecdsa-p256/rotate", json!({}))
            .unwrap_err()
            .message()
            .contains("does not allow rotation"));
        // A public-only key verifies and encrypts, but neither signs nor decrypts.
        let sig_b = a
            .write("sign/b-wrap", json!({"input": "aGk="}))
            .unwrap_err();
        assert!(sig_b.message().contains("private part"), "{sig_b}");
        let ct =
            data(a.write("encrypt/b-wrap", json!({"plaintext": "aGk="})))["ciphertext"].clone();
        assert!(a
            .write("decrypt/b-wrap", json!({"ciphertext": ct}))
            .is_err());
        // Errors.
        assert!(a.read("byok-export/nope/src-hmac").is_err());
        data(a.write("keys/noexp", json!({})));
        assert_eq!(
            a.read("byok-export/b-wrap/noexp").unwrap_err().message(),
            "key is not exportable"
        );
        for body in [
            json!({"type": "aes256-gcm96"}),
            json!({"type": "aes256-gcm96", "ciphertext": "AAAA"}),
            json!({"type": "aes256-gcm96", "ciphertext": "AAAA", "public_key": "x"}),
            json!({"type": "aes256-gcm96", "ciphertext": "AAAA", "hash_function": "MD5"}),
            json!({"type": "managed_key", "ciphertext": "AAAA"}),
            json!({"auto_rotate_period": "2h", "ciphertext": "AAAA"}),
        ] {
            assert_eq!(
                b.write("keys/x/import", body.clone()).unwrap_err().status(),
                400,
                "{body}"
            );
        }
        assert!(b
            .write("keys/src-hmac/import", json!({"ciphertext": "AAAA"}))
            .unwrap_err()
            .message()
            .contains("existing key"));
    }

    #[test]
    fn import_version_completes_a_public_key() {
        let mut a = transit();
        let mut b = transit();
        let wk = data(b.read("wrapping_key"))["public_key"].clone();
        a.write(
            "keys/wrap/import",
            json!({"type": "rsa-4096", "public_key": wk}),
        )
        .unwrap();
        data(a.write("keys/ec", json!({"type": "ecdsa-p256", "exportable": true})));
        let public = data(a.read("export/public-key/ec"))["keys"]["1"].clone();
        b.write(
            "keys/ec/import",
            json!({"type": "ecdsa-p256", "public_key": public}),
        )
        .unwrap();
        let sig = data(a.write("sign/ec", json!({"input": "aGk="})))["signature"].clone();
        assert_eq!(
            data(b.write("verify/ec", json!({"input": "aGk=", "signature": sig})))["valid"],
            true
        );
        assert!(b.write("sign/ec", json!({"input": "aGk="})).is_err());
        let ct = data(a.read("byok-export/wrap/ec/1"))["keys"]["1"].clone();
        b.write(
            "keys/ec/import_version",
            json!({"ciphertext": ct, "version": 1}),
        )
        .unwrap();
        assert_eq!(data(b.read("keys/ec"))["latest_version"], 1);
        let sig = data(b.write("sign/ec", json!({"input": "aGk="})))["signature"].clone();
        assert_eq!(
            data(a.write("verify/ec", json!({"input": "aGk=", "signature": sig})))["valid"],
            true
        );
        let err = b
            .write(
                "keys/ec/import_version",
                json!({"ciphertext": ct, "version": 1}),
            )
            .unwrap_err();
        assert!(err.message().contains("cannot be updated"));
        data(b.write("keys/native", json!({})));
        assert!(b
            .write("keys/native/import_version", json!({"ciphertext": ct}))
            .unwrap_err()
            .message()
            .contains("imported key"));
    }
}
