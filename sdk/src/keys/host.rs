//! In wasm, keys are the host's `keys.key` resources (contract 0.2).

use super::AeadItem;
use crate::bindings::v02::coffer::engine::keys as wit;
use crate::crypto::{
    HashAlgorithm, PrivateKeyFormat, PublicKeyFormat, RsaPadding, SignOptions, SignatureEncoding,
};
use crate::Error;

pub(crate) struct Key(wit::Key);

pub(crate) struct PublicKey(wit::PublicKey);

/// The SDK's options as `keys.wit` takes them: a default padding (PSS) or
/// encoding (ASN.1) is sent as none, which means the same and is what a
/// key type they do not apply to expects.
fn options(o: SignOptions) -> wit::SignOptions {
    wit::SignOptions {
        hash: o.hash.map(|h| h.name().to_owned()),
        prehashed: o.prehashed,
        padding: (o.padding != RsaPadding::default()).then(|| o.padding.name().to_owned()),
        salt_length: o.salt_length,
        encoding: (o.encoding != SignatureEncoding::default())
            .then(|| o.encoding.name().to_owned()),
        context: None,
    }
}

fn items(items: &[AeadItem]) -> Vec<wit::AeadItem> {
    items
        .iter()
        .map(|i| wit::AeadItem {
            data: i.data.clone(),
            nonce: i.nonce.clone(),
            aad: i.aad.clone(),
        })
        .collect()
}

fn each(
    results: Vec<Result<Vec<u8>, crate::bindings::v02::coffer::engine::types::Error>>,
) -> Vec<Result<Vec<u8>, Error>> {
    results
        .into_iter()
        .map(|r| r.map_err(Error::from))
        .collect()
}

impl Key {
    pub(crate) fn generate(
        key_type: &str,
        size: Option<u32>,
        perms: &[String],
    ) -> Result<Self, Error> {
        Ok(Self(wit::Key::generate(key_type, size, perms)?))
    }

    pub(crate) fn open(blob: &[u8]) -> Result<Self, Error> {
        Ok(Self(wit::Key::open(blob)?))
    }

    pub(crate) fn import(key_type: &str, encoded: &[u8], perms: &[String]) -> Result<Self, Error> {
        Ok(Self(wit::Key::import(key_type, encoded, perms)?))
    }

    pub(crate) fn unwrap(
        wrapping: &Key,
        wrapped: &[u8],
        hash: HashAlgorithm,
        key_type: &str,
        perms: &[String],
    ) -> Result<Self, Error> {
        Ok(Self(wit::Key::unwrap(
            &wrapping.0,
            wrapped,
            hash.name(),
            key_type,
            perms,
        )?))
    }

    pub(crate) fn managed(name_or_id: &str) -> Result<Self, Error> {
        Ok(Self(wit::Key::managed(name_or_id)?))
    }

    pub(crate) fn seal(&self) -> Result<Vec<u8>, Error> {
        Ok(self.0.seal()?)
    }

    pub(crate) fn key_type_name(&self) -> String {
        self.0.key_type()
    }

    pub(crate) fn bits(&self) -> u32 {
        self.0.size()
    }

    pub(crate) fn is_managed(&self) -> bool {
        self.0.is_managed()
    }

    pub(crate) fn permissions(&self) -> Vec<String> {
        self.0.permissions()
    }

    pub(crate) fn permit(&self, permission: &str) -> Result<Self, Error> {
        Ok(Self(self.0.permit(permission)?))
    }

    pub(crate) fn derive(&self, context: &[u8]) -> Result<Self, Error> {
        Ok(Self(self.0.derive(context)?))
    }

    pub(crate) fn public_key(&self) -> Result<PublicKey, Error> {
        Ok(PublicKey(self.0.public_key()?))
    }

    pub(crate) fn sign(&self, message: &[u8], o: SignOptions) -> Result<Vec<u8>, Error> {
        Ok(self.0.sign(message, &options(o))?)
    }

    pub(crate) fn verify(
        &self,
        message: &[u8],
        signature: &[u8],
        o: SignOptions,
    ) -> Result<bool, Error> {
        Ok(self.0.verify(message, signature, &options(o))?)
    }

    pub(crate) fn encrypt(
        &self,
        plaintext: &[u8],
        nonce: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, Error> {
        Ok(self.0.encrypt(plaintext, nonce, aad)?)
    }

    pub(crate) fn decrypt(
        &self,
        ciphertext: &[u8],
        nonce: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, Error> {
        Ok(self.0.decrypt(ciphertext, nonce, aad)?)
    }

    pub(crate) fn encrypt_batch(&self, batch: &[AeadItem]) -> Vec<Result<Vec<u8>, Error>> {
        each(self.0.encrypt_batch(&items(batch)))
    }

    pub(crate) fn decrypt_batch(&self, batch: &[AeadItem]) -> Vec<Result<Vec<u8>, Error>> {
        each(self.0.decrypt_batch(&items(batch)))
    }

    pub(crate) fn decrypt_oaep(
        &self,
        ciphertext: &[u8],
        hash: HashAlgorithm,
        label: Option<&[u8]>,
    ) -> Result<Vec<u8>, Error> {
        Ok(self.0.decrypt_oaep(ciphertext, hash.name(), label)?)
    }

    pub(crate) fn hmac(&self, algorithm: HashAlgorithm, data: &[u8]) -> Result<Vec<u8>, Error> {
        Ok(self.0.hmac(algorithm.name(), data)?)
    }

    pub(crate) fn export(&self, format: PrivateKeyFormat) -> Result<Vec<u8>, Error> {
        Ok(self.0.export(format.name())?)
    }

    pub(crate) fn backup(&self) -> Result<Vec<u8>, Error> {
        Ok(self.0.backup()?)
    }

    pub(crate) fn wrap_for(
        &self,
        destination: &PublicKey,
        hash: HashAlgorithm,
    ) -> Result<Vec<u8>, Error> {
        Ok(self.0.wrap_for(&destination.0, hash.name())?)
    }
}

impl PublicKey {
    pub(crate) fn import(key_type: &str, encoded: &[u8]) -> Result<Self, Error> {
        Ok(Self(wit::PublicKey::import(key_type, encoded)?))
    }

    pub(crate) fn key_type_name(&self) -> String {
        self.0.key_type()
    }

    pub(crate) fn export(&self, format: PublicKeyFormat) -> Result<Vec<u8>, Error> {
        Ok(self.0.export(format.name())?)
    }

    pub(crate) fn verify(
        &self,
        message: &[u8],
        signature: &[u8],
        o: SignOptions,
    ) -> Result<bool, Error> {
        Ok(self.0.verify(message, signature, &options(o))?)
    }

    pub(crate) fn encrypt_oaep(
        &self,
        plaintext: &[u8],
        hash: HashAlgorithm,
        label: Option<&[u8]>,
    ) -> Result<Vec<u8>, Error> {
        Ok(self.0.encrypt_oaep(plaintext, hash.name(), label)?)
    }
}

/// In wasm the host holds the mount's key: a test mount's key is a native
/// notion, and entering one does nothing.
#[derive(Clone, Debug)]
pub(crate) struct MountKey;

impl MountKey {
    pub(crate) fn random() -> Result<Self, Error> {
        Ok(Self)
    }

    pub(crate) fn enter<T>(&self, f: impl FnOnce() -> T) -> T {
        f()
    }
}
