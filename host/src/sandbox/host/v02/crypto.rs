//! Contract 0.2's keyless `crypto` and the `keys.public-key` resource,
//! served by the host's native code through the methods 0.1 uses
//! (`sandbox/host/crypto.rs`, whose module doc says where each runs and
//! what traps). Here: 0.2's string names parsed into the host's types; an
//! unknown name is an `invalid-request`.

use wasmtime::component::Resource;

use super::{aead_algorithm, hash_algorithm, invalid, key_type, Answer};
use crate::crypto as native;
use crate::sandbox::bindings::v02::coffer::engine::crypto::Host;
use crate::sandbox::bindings::v02::coffer::engine::keys::{HostPublicKey, SignOptions};
use crate::sandbox::bindings::v02::coffer::engine::types::Error;
use crate::sandbox::host::crypto::PublicKeyHandle;
use crate::sandbox::InstanceState;

/// 0.2's sign options, checked: unknown names and a signature context
/// (no key type the host serves takes one yet) are `invalid-request`s.
pub(crate) fn sign_options(o: &SignOptions) -> Result<native::SignOptions, Error> {
    let padding = match o.padding.as_deref() {
        None | Some("pss") => native::RsaPadding::Pss,
        Some("pkcs1v15") => native::RsaPadding::Pkcs1v15,
        Some(other) => {
            return Err(Error::InvalidRequest(format!(
                "unknown RSA padding {other:?}: use pss or pkcs1v15"
            )))
        }
    };
    let encoding = match o.encoding.as_deref() {
        None | Some("asn1") => native::SignatureEncoding::Asn1,
        Some("fixed") => native::SignatureEncoding::Fixed,
        Some(other) => {
            return Err(Error::InvalidRequest(format!(
                "unknown signature encoding {other:?}: use asn1 or fixed"
            )))
        }
    };
    if o.context.is_some() {
        return Err(Error::InvalidRequest(
            "a signature context is not taken by this key type".into(),
        ));
    }
    Ok(native::SignOptions {
        hash: o.hash.as_deref().map(hash_algorithm).transpose()?,
        prehashed: o.prehashed,
        padding,
        salt_length: o.salt_length,
        encoding,
    })
}

fn public_format(name: &str) -> Result<native::PublicKeyFormat, Error> {
    use native::PublicKeyFormat as F;
    [F::SpkiDer, F::SpkiPem, F::Pkcs1Pem, F::Raw]
        .into_iter()
        .find(|f| f.name() == name)
        .ok_or_else(|| Error::InvalidRequest(format!("unknown public key format {name:?}")))
}

impl Host for InstanceState {
    fn random_bytes(&mut self, len: u32) -> Answer<Vec<u8>> {
        Ok(native::random_bytes(len).map_err(invalid))
    }

    async fn hash(&mut self, algorithm: String, data: Vec<u8>) -> Answer<Vec<u8>> {
        let algorithm = parsed!(hash_algorithm(&algorithm));
        Ok(Ok(self.digest(algorithm, data).await?))
    }

    fn hmac(&mut self, algorithm: String, key: Vec<u8>, data: Vec<u8>) -> Answer<Vec<u8>> {
        let algorithm = parsed!(hash_algorithm(&algorithm));
        Ok(native::hmac(algorithm, &key, &data).map_err(invalid))
    }

    fn hmac_verify(
        &mut self,
        algorithm: String,
        key: Vec<u8>,
        data: Vec<u8>,
        tag: Vec<u8>,
    ) -> Answer<bool> {
        let algorithm = parsed!(hash_algorithm(&algorithm));
        Ok(native::hmac_verify(algorithm, &key, &data, &tag).map_err(invalid))
    }

    fn hkdf(
        &mut self,
        algorithm: String,
        ikm: Vec<u8>,
        salt: Vec<u8>,
        info: Vec<u8>,
        len: u32,
    ) -> Answer<Vec<u8>> {
        let algorithm = parsed!(hash_algorithm(&algorithm));
        Ok(native::hkdf(algorithm, &ikm, &salt, &info, len).map_err(invalid))
    }

    fn aead_seal(
        &mut self,
        algorithm: String,
        key: Vec<u8>,
        nonce: Vec<u8>,
        plaintext: Vec<u8>,
        aad: Vec<u8>,
    ) -> Answer<Vec<u8>> {
        let algorithm = parsed!(aead_algorithm(&algorithm));
        Ok(native::aead_seal(algorithm, &key, &nonce, &plaintext, &aad).map_err(invalid))
    }

    fn aead_open(
        &mut self,
        algorithm: String,
        key: Vec<u8>,
        nonce: Vec<u8>,
        ciphertext: Vec<u8>,
        aad: Vec<u8>,
    ) -> Answer<Vec<u8>> {
        let algorithm = parsed!(aead_algorithm(&algorithm));
        Ok(native::aead_open(algorithm, &key, &nonce, &ciphertext, &aad).map_err(invalid))
    }
}

impl HostPublicKey for InstanceState {
    fn import(&mut self, kt: String, encoded: Vec<u8>) -> Answer<Resource<PublicKeyHandle>> {
        let kt = parsed!(key_type(&kt));
        Ok(self.public_import(kt, &encoded)?.map_err(invalid))
    }

    fn key_type(&mut self, this: Resource<PublicKeyHandle>) -> wasmtime::Result<String> {
        Ok(self.public_key_type(&this)?.name().to_string())
    }

    fn export(&mut self, this: Resource<PublicKeyHandle>, format: String) -> Answer<Vec<u8>> {
        let format = parsed!(public_format(&format));
        Ok(self.public_export(&this, format)?.map_err(invalid))
    }

    async fn verify(
        &mut self,
        this: Resource<PublicKeyHandle>,
        message: Vec<u8>,
        signature: Vec<u8>,
        options: SignOptions,
    ) -> Answer<bool> {
        let options = parsed!(sign_options(&options));
        Ok(self
            .public_verify(&this, message, signature, options)
            .await?
            .map_err(invalid))
    }

    async fn encrypt_oaep(
        &mut self,
        this: Resource<PublicKeyHandle>,
        plaintext: Vec<u8>,
        hash: String,
        label: Option<Vec<u8>>,
    ) -> Answer<Vec<u8>> {
        let hash = parsed!(hash_algorithm(&hash));
        Ok(self
            .public_encrypt_oaep(&this, plaintext, hash, label)
            .await?
            .map_err(invalid))
    }

    fn drop(&mut self, this: Resource<PublicKeyHandle>) -> wasmtime::Result<()> {
        self.public_drop(this)
    }
}
