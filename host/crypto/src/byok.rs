//! Bring your own key, as Vault's transit takes and gives it: a key's
//! bytes wrapped for an RSA key, so that they cross the engine only
//! wrapped (`keys.wit`'s `key.unwrap` and `key.wrap-for`).
//!
//! The wrapped form: an ephemeral AES-256 key encrypted with RSA-OAEP
//! (one hash for OAEP and MGF1, no label) under the wrapping key — as many
//! bytes as its modulus — followed by the target key wrapped under the
//! ephemeral key with AES-KWP (RFC 5649). The target is its raw bytes for
//! AEAD and HMAC keys, PKCS#8 DER for key pairs.

use std::sync::Arc;

use p256::elliptic_curve::zeroize::Zeroizing;

use super::hash::fill_random;
use super::{
    aes_key_unwrap_pad, aes_key_wrap_pad, CryptoError, HashAlgorithm, KeyHandle, KeyKind,
    Permissions, PrivateKeyFormat, PublicKey, SoftwareKey, DEFAULT_HMAC_KEY_BYTES,
};

/// The ephemeral AES key's length.
const EPHEMERAL_LEN: usize = 32;

/// A key of type `key_type` (a `keys.wit` name) from `wrapped`, unwrapped
/// with the RSA key `wrapping`; it gets `permissions`. Every failure —
/// not an RSA key, a wrong length, a failed unwrap, material that is not a
/// `key_type` key — is an error naming it.
pub fn byok_unwrap(
    wrapping: &SoftwareKey,
    wrapped: &[u8],
    hash: HashAlgorithm,
    key_type: &str,
    permissions: Permissions,
) -> Result<Arc<SoftwareKey>, CryptoError> {
    // An unknown type fails before any RSA work.
    KeyKind::of_import(key_type, DEFAULT_HMAC_KEY_BYTES)?;
    let private = wrapping.private()?;
    let bits = private.key_type().rsa_bits().ok_or_else(|| {
        CryptoError::new(format!(
            "a {} key cannot unwrap keys: only RSA keys do",
            private.key_type()
        ))
    })?;
    let (wrapped_key, wrapped_material) = wrapped
        .split_at_checked(bits / 8)
        .filter(|(_, material)| !material.is_empty())
        .ok_or_else(|| {
            CryptoError::new(format!(
                "the wrapped key of {} bytes is too short: it starts with the {}-byte RSA-OAEP block",
                wrapped.len(),
                bits / 8
            ))
        })?;
    let ephemeral = Zeroizing::new(
        private
            .decrypt_oaep(wrapped_key, hash, None)
            .map_err(|e| CryptoError::new(format!("cannot unwrap the ephemeral key: {e}")))?,
    );
    if ephemeral.len() != EPHEMERAL_LEN {
        return Err(CryptoError::new(format!(
            "the ephemeral key is {} bytes: it must be a {EPHEMERAL_LEN}-byte AES-256 key",
            ephemeral.len()
        )));
    }
    let material = Zeroizing::new(
        aes_key_unwrap_pad(&ephemeral, wrapped_material)
            .map_err(|e| CryptoError::new(format!("cannot unwrap the key: {e}")))?,
    );
    let kind = KeyKind::of_import(key_type, material.len())?;
    SoftwareKey::import(kind, &material, permissions)
}

/// `target` wrapped for `wrapping` (an RSA public key) as
/// [`byok_unwrap`] takes it; refused unless `target` allows `export`.
pub fn byok_wrap(
    wrapping: &PublicKey,
    target: &SoftwareKey,
    hash: HashAlgorithm,
) -> Result<Vec<u8>, CryptoError> {
    if wrapping.key_type().rsa_bits().is_none() {
        return Err(CryptoError::new(format!(
            "a {} key cannot wrap keys for transport: only RSA keys do",
            wrapping.key_type()
        )));
    }
    let format = match target.kind() {
        KeyKind::Asymmetric(_) => PrivateKeyFormat::Pkcs8Der,
        KeyKind::Symmetric(_) | KeyKind::Hmac(_) => PrivateKeyFormat::Raw,
    };
    let material = Zeroizing::new(target.export(format)?);
    let mut ephemeral = Zeroizing::new([0u8; EPHEMERAL_LEN]);
    fill_random(ephemeral.as_mut_slice())?;
    let mut wrapped = wrapping.encrypt_oaep(ephemeral.as_slice(), hash, None)?;
    wrapped.extend(aes_key_wrap_pad(ephemeral.as_slice(), &material)?);
    Ok(wrapped)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
    use rsa::{Oaep, RsaPrivateKey, RsaPublicKey};

    use super::*;
    use crate::{KeyType, Permission, PublicKeyFormat};

    fn exportable() -> Permissions {
        Permission::Export.into()
    }

    /// An RSA-2048 wrapping key, exportable so the test can read it with
    /// the `rsa` crate.
    fn wrapping() -> Arc<SoftwareKey> {
        SoftwareKey::generate(KeyKind::Asymmetric(KeyType::Rsa2048), exportable()).unwrap()
    }

    /// The wrapped form made with RustCrypto's `rsa` and `aes-kw` directly.
    fn wrap_by_hand(wrapping: &SoftwareKey, material: &[u8]) -> Vec<u8> {
        let spki = wrapping
            .public_key()
            .unwrap()
            .export(PublicKeyFormat::SpkiDer)
            .unwrap();
        let public = RsaPublicKey::from_public_key_der(&spki).unwrap();
        let ephemeral = [0x42u8; 32];
        let mut out = public
            .encrypt(
                &mut rand::rngs::OsRng,
                Oaep::new::<sha2::Sha256>(),
                &ephemeral,
            )
            .unwrap();
        out.extend(
            aes_kw::KekAes256::try_from(ephemeral.as_slice())
                .unwrap()
                .wrap_with_padding_vec(material)
                .unwrap(),
        );
        out
    }

    #[test]
    fn unwraps_what_rust_crypto_wrapped() {
        let wrapping = wrapping();
        let material: Vec<u8> = (0..32).collect();
        let wrapped = wrap_by_hand(&wrapping, &material);
        let key = byok_unwrap(
            &wrapping,
            &wrapped,
            HashAlgorithm::Sha256,
            "aes256-gcm96",
            exportable(),
        )
        .unwrap();
        assert_eq!(
            key.kind(),
            KeyKind::Symmetric(crate::AeadAlgorithm::Aes256Gcm)
        );
        assert_eq!(key.export(PrivateKeyFormat::Raw).unwrap(), material);
        let hmac = byok_unwrap(
            &wrapping,
            &wrapped,
            HashAlgorithm::Sha256,
            "hmac",
            Permissions::NONE,
        )
        .unwrap();
        assert_eq!(hmac.kind(), KeyKind::Hmac(32));
        assert!(hmac.export(PrivateKeyFormat::Raw).is_err());

        // A key pair travels as PKCS#8 DER.
        let pair =
            SoftwareKey::generate(KeyKind::Asymmetric(KeyType::EcdsaP256), exportable()).unwrap();
        let der = pair.export(PrivateKeyFormat::Pkcs8Der).unwrap();
        let wrapped = wrap_by_hand(&wrapping, &der);
        let key = byok_unwrap(
            &wrapping,
            &wrapped,
            HashAlgorithm::Sha256,
            "ecdsa-p256",
            exportable(),
        )
        .unwrap();
        assert_eq!(key.export(PrivateKeyFormat::Pkcs8Der).unwrap(), der);

        // Bad inputs, each an error that names it.
        let cases: [(&[u8], HashAlgorithm, &str, &str); 6] = [
            (
                &wrapped,
                HashAlgorithm::Sha256,
                "ecdsa-p384",
                "the key is ecdsa-p256, not ecdsa-p384",
            ),
            (
                &wrapped,
                HashAlgorithm::Sha1,
                "ecdsa-p256",
                "cannot unwrap the ephemeral key",
            ),
            (
                &wrapped[..256],
                HashAlgorithm::Sha256,
                "ecdsa-p256",
                "the wrapped key of 256 bytes is too short",
            ),
            (
                &wrapped[..100],
                HashAlgorithm::Sha256,
                "ecdsa-p256",
                "the wrapped key of 100 bytes is too short",
            ),
            (
                &wrapped[..wrapped.len() - 8],
                HashAlgorithm::Sha256,
                "ecdsa-p256",
                "cannot unwrap the key",
            ),
            (
                &wrapped,
                HashAlgorithm::Sha256,
                "aes-256",
                "unknown key type `aes-256`",
            ),
        ];
        for (bytes, hash, key_type, why) in cases {
            let err = byok_unwrap(&wrapping, bytes, hash, key_type, Permissions::NONE).unwrap_err();
            assert!(err.message().starts_with(why), "{key_type}: {err}");
        }
        let not_rsa =
            SoftwareKey::generate(KeyKind::Asymmetric(KeyType::Ed25519), exportable()).unwrap();
        assert!(byok_unwrap(
            &not_rsa,
            &wrapped,
            HashAlgorithm::Sha256,
            "ecdsa-p256",
            exportable()
        )
        .is_err());
    }

    #[test]
    fn wraps_what_rust_crypto_unwraps_and_only_with_export() {
        let wrapping = wrapping();
        let der = wrapping.export(PrivateKeyFormat::Pkcs8Der).unwrap();
        let private = RsaPrivateKey::from_pkcs8_der(&der).unwrap();
        let target = SoftwareKey::generate(KeyKind::Hmac(48), exportable()).unwrap();
        let public = wrapping.public_key().unwrap();
        for (hash, oaep) in [
            (HashAlgorithm::Sha256, Oaep::new::<sha2::Sha256>()),
            (HashAlgorithm::Sha1, Oaep::new::<sha1::Sha1>()),
        ] {
            let wrapped = byok_wrap(&public, &target, hash).unwrap();
            let ephemeral = private.decrypt(oaep, &wrapped[..256]).unwrap();
            let material = aes_kw::KekAes256::try_from(ephemeral.as_slice())
                .unwrap()
                .unwrap_with_padding_vec(&wrapped[256..])
                .unwrap();
            assert_eq!(material, target.export(PrivateKeyFormat::Raw).unwrap());
            // And the host unwraps its own.
            let back = byok_unwrap(&wrapping, &wrapped, hash, "hmac", exportable()).unwrap();
            assert_eq!(back.export(PrivateKeyFormat::Raw).unwrap(), material);
        }
        let sealed_in = SoftwareKey::generate(KeyKind::Hmac(32), Permissions::NONE).unwrap();
        assert_eq!(
            byok_wrap(&public, &sealed_in, HashAlgorithm::Sha256)
                .unwrap_err()
                .message(),
            "the key does not allow export: it lacks the `export` permission"
        );
        let ec =
            SoftwareKey::generate(KeyKind::Asymmetric(KeyType::EcdsaP256), exportable()).unwrap();
        assert!(byok_wrap(&ec.public_key().unwrap(), &target, HashAlgorithm::Sha256).is_err());
    }
}
