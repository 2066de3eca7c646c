//! `crypto`: the native implementations in [`crate::crypto`], offered to
//! engines.
//!
//! Answered as a WIT `invalid-request` error: every mistake in the engine's
//! arguments (wrong key length, malformed key, failed authentication), which
//! engines usually pass on from their clients. Traps: a stale or foreign
//! resource handle, and more than [`MAX_KEYS`] live key handles in one
//! instance (host memory the store's limiter does not see).

use wasmtime::component::Resource;

use crate::crypto as native;
use crate::sandbox::bindings::coffer::engine::crypto::{
    AeadAlgorithm, HashAlgorithm, Host, HostPrivateKey, HostPublicKey, KeyType, PrivateKeyFormat,
    PublicKeyFormat, RsaPadding, SignOptions, SignatureEncoding,
};
use crate::sandbox::bindings::coffer::engine::types::Error;
use crate::sandbox::InstanceState;

/// The most key handles one instance may hold at once.
pub const MAX_KEYS: usize = 4096;

/// A private key held for an engine instance.
pub struct PrivateKeyHandle(native::PrivateKey);

/// A public key held for an engine instance.
pub struct PublicKeyHandle(native::PublicKey);

type Answer<T> = wasmtime::Result<Result<T, Error>>;

fn answer<T>(r: Result<T, native::CryptoError>) -> Answer<T> {
    Ok(r.map_err(|e| Error::InvalidRequest(e.to_string())))
}

fn hash(h: HashAlgorithm) -> native::HashAlgorithm {
    use native::HashAlgorithm as N;
    match h {
        HashAlgorithm::Sha1 => N::Sha1,
        HashAlgorithm::Sha224 => N::Sha224,
        HashAlgorithm::Sha256 => N::Sha256,
        HashAlgorithm::Sha384 => N::Sha384,
        HashAlgorithm::Sha512 => N::Sha512,
        HashAlgorithm::Sha512x256 => N::Sha512_256,
        HashAlgorithm::Sha3x224 => N::Sha3_224,
        HashAlgorithm::Sha3x256 => N::Sha3_256,
        HashAlgorithm::Sha3x384 => N::Sha3_384,
        HashAlgorithm::Sha3x512 => N::Sha3_512,
    }
}

fn aead(a: AeadAlgorithm) -> native::AeadAlgorithm {
    match a {
        AeadAlgorithm::Aes128Gcm => native::AeadAlgorithm::Aes128Gcm,
        AeadAlgorithm::Aes256Gcm => native::AeadAlgorithm::Aes256Gcm,
        AeadAlgorithm::Chacha20Poly1305 => native::AeadAlgorithm::ChaCha20Poly1305,
    }
}

fn key_type(k: KeyType) -> native::KeyType {
    use native::KeyType as N;
    match k {
        KeyType::Rsa2048 => N::Rsa2048,
        KeyType::Rsa3072 => N::Rsa3072,
        KeyType::Rsa4096 => N::Rsa4096,
        KeyType::EcdsaP256 => N::EcdsaP256,
        KeyType::EcdsaP384 => N::EcdsaP384,
        KeyType::EcdsaP521 => N::EcdsaP521,
        KeyType::Ed25519 => N::Ed25519,
    }
}

fn key_type_back(k: native::KeyType) -> KeyType {
    use native::KeyType as N;
    match k {
        N::Rsa2048 => KeyType::Rsa2048,
        N::Rsa3072 => KeyType::Rsa3072,
        N::Rsa4096 => KeyType::Rsa4096,
        N::EcdsaP256 => KeyType::EcdsaP256,
        N::EcdsaP384 => KeyType::EcdsaP384,
        N::EcdsaP521 => KeyType::EcdsaP521,
        N::Ed25519 => KeyType::Ed25519,
    }
}

fn sign_options(o: &SignOptions) -> native::SignOptions {
    native::SignOptions {
        hash: o.hash.map(hash),
        prehashed: o.prehashed,
        padding: match o.padding {
            RsaPadding::Pss => native::RsaPadding::Pss,
            RsaPadding::Pkcs1v15 => native::RsaPadding::Pkcs1v15,
        },
        salt_length: o.salt_length,
        encoding: match o.encoding {
            SignatureEncoding::Asn1 => native::SignatureEncoding::Asn1,
            SignatureEncoding::Fixed => native::SignatureEncoding::Fixed,
        },
    }
}

impl InstanceState {
    fn check_key_budget(&self) -> wasmtime::Result<()> {
        if self.live_keys >= MAX_KEYS {
            wasmtime::bail!("engine holds more than {MAX_KEYS} key handles");
        }
        Ok(())
    }

    fn push_private(
        &mut self,
        key: native::PrivateKey,
    ) -> wasmtime::Result<Resource<PrivateKeyHandle>> {
        self.check_key_budget()?;
        let r = self.table.push(PrivateKeyHandle(key))?;
        self.live_keys += 1;
        Ok(r)
    }

    fn push_public(
        &mut self,
        key: native::PublicKey,
    ) -> wasmtime::Result<Resource<PublicKeyHandle>> {
        self.check_key_budget()?;
        let r = self.table.push(PublicKeyHandle(key))?;
        self.live_keys += 1;
        Ok(r)
    }
}

impl HostPrivateKey for InstanceState {
    fn generate(&mut self, kt: KeyType) -> Answer<Resource<PrivateKeyHandle>> {
        match native::PrivateKey::generate(key_type(kt)) {
            Ok(k) => Ok(Ok(self.push_private(k)?)),
            Err(e) => answer(Err(e)),
        }
    }

    fn import(&mut self, kt: KeyType, encoded: Vec<u8>) -> Answer<Resource<PrivateKeyHandle>> {
        match native::PrivateKey::import(key_type(kt), &encoded) {
            Ok(k) => Ok(Ok(self.push_private(k)?)),
            Err(e) => answer(Err(e)),
        }
    }

    fn from_ed25519_seed(&mut self, seed: Vec<u8>) -> Answer<Resource<PrivateKeyHandle>> {
        match native::PrivateKey::from_ed25519_seed(&seed) {
            Ok(k) => Ok(Ok(self.push_private(k)?)),
            Err(e) => answer(Err(e)),
        }
    }

    fn key_type(&mut self, this: Resource<PrivateKeyHandle>) -> wasmtime::Result<KeyType> {
        Ok(key_type_back(self.table.get(&this)?.0.key_type()))
    }

    fn export(
        &mut self,
        this: Resource<PrivateKeyHandle>,
        format: PrivateKeyFormat,
    ) -> Answer<Vec<u8>> {
        let f = match format {
            PrivateKeyFormat::Pkcs8Der => native::PrivateKeyFormat::Pkcs8Der,
            PrivateKeyFormat::Pkcs8Pem => native::PrivateKeyFormat::Pkcs8Pem,
            PrivateKeyFormat::Pkcs1Pem => native::PrivateKeyFormat::Pkcs1Pem,
            PrivateKeyFormat::Sec1Pem => native::PrivateKeyFormat::Sec1Pem,
            PrivateKeyFormat::Raw => native::PrivateKeyFormat::Raw,
        };
        answer(self.table.get(&this)?.0.export(f))
    }

    fn public_key(
        &mut self,
        this: Resource<PrivateKeyHandle>,
    ) -> wasmtime::Result<Resource<PublicKeyHandle>> {
        let public = self.table.get(&this)?.0.public_key();
        self.push_public(public)
    }

    fn sign(
        &mut self,
        this: Resource<PrivateKeyHandle>,
        message: Vec<u8>,
        options: SignOptions,
    ) -> Answer<Vec<u8>> {
        answer(
            self.table
                .get(&this)?
                .0
                .sign(&message, &sign_options(&options)),
        )
    }

    fn decrypt_oaep(
        &mut self,
        this: Resource<PrivateKeyHandle>,
        ciphertext: Vec<u8>,
        h: HashAlgorithm,
        label: Option<Vec<u8>>,
    ) -> Answer<Vec<u8>> {
        answer(
            self.table
                .get(&this)?
                .0
                .decrypt_oaep(&ciphertext, hash(h), label.as_deref()),
        )
    }

    fn drop(&mut self, this: Resource<PrivateKeyHandle>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        self.live_keys = self.live_keys.saturating_sub(1);
        Ok(())
    }
}

impl HostPublicKey for InstanceState {
    fn import(&mut self, kt: KeyType, encoded: Vec<u8>) -> Answer<Resource<PublicKeyHandle>> {
        match native::PublicKey::import(key_type(kt), &encoded) {
            Ok(k) => Ok(Ok(self.push_public(k)?)),
            Err(e) => answer(Err(e)),
        }
    }

    fn key_type(&mut self, this: Resource<PublicKeyHandle>) -> wasmtime::Result<KeyType> {
        Ok(key_type_back(self.table.get(&this)?.0.key_type()))
    }

    fn export(
        &mut self,
        this: Resource<PublicKeyHandle>,
        format: PublicKeyFormat,
    ) -> Answer<Vec<u8>> {
        let f = match format {
            PublicKeyFormat::SpkiDer => native::PublicKeyFormat::SpkiDer,
            PublicKeyFormat::SpkiPem => native::PublicKeyFormat::SpkiPem,
            PublicKeyFormat::Pkcs1Pem => native::PublicKeyFormat::Pkcs1Pem,
            PublicKeyFormat::Raw => native::PublicKeyFormat::Raw,
        };
        answer(self.table.get(&this)?.0.export(f))
    }

    fn verify(
        &mut self,
        this: Resource<PublicKeyHandle>,
        message: Vec<u8>,
        signature: Vec<u8>,
        options: SignOptions,
    ) -> Answer<bool> {
        answer(
            self.table
                .get(&this)?
                .0
                .verify(&message, &signature, &sign_options(&options)),
        )
    }

    fn encrypt_oaep(
        &mut self,
        this: Resource<PublicKeyHandle>,
        plaintext: Vec<u8>,
        h: HashAlgorithm,
        label: Option<Vec<u8>>,
    ) -> Answer<Vec<u8>> {
        answer(
            self.table
                .get(&this)?
                .0
                .encrypt_oaep(&plaintext, hash(h), label.as_deref()),
        )
    }

    fn drop(&mut self, this: Resource<PublicKeyHandle>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        self.live_keys = self.live_keys.saturating_sub(1);
        Ok(())
    }
}

impl Host for InstanceState {
    fn random_bytes(&mut self, len: u32) -> Answer<Vec<u8>> {
        answer(native::random_bytes(len))
    }

    fn hash(&mut self, algorithm: HashAlgorithm, data: Vec<u8>) -> wasmtime::Result<Vec<u8>> {
        Ok(native::hash(hash(algorithm), &data))
    }

    fn hmac(&mut self, algorithm: HashAlgorithm, key: Vec<u8>, data: Vec<u8>) -> Answer<Vec<u8>> {
        answer(native::hmac(hash(algorithm), &key, &data))
    }

    fn hmac_verify(
        &mut self,
        algorithm: HashAlgorithm,
        key: Vec<u8>,
        data: Vec<u8>,
        tag: Vec<u8>,
    ) -> Answer<bool> {
        answer(native::hmac_verify(hash(algorithm), &key, &data, &tag))
    }

    fn hkdf(
        &mut self,
        algorithm: HashAlgorithm,
        ikm: Vec<u8>,
        salt: Vec<u8>,
        info: Vec<u8>,
        len: u32,
    ) -> Answer<Vec<u8>> {
        answer(native::hkdf(hash(algorithm), &ikm, &salt, &info, len))
    }

    fn aead_seal(
        &mut self,
        algorithm: AeadAlgorithm,
        key: Vec<u8>,
        nonce: Vec<u8>,
        plaintext: Vec<u8>,
        aad: Vec<u8>,
    ) -> Answer<Vec<u8>> {
        answer(native::aead_seal(
            aead(algorithm),
            &key,
            &nonce,
            &plaintext,
            &aad,
        ))
    }

    fn aead_open(
        &mut self,
        algorithm: AeadAlgorithm,
        key: Vec<u8>,
        nonce: Vec<u8>,
        ciphertext: Vec<u8>,
        aad: Vec<u8>,
    ) -> Answer<Vec<u8>> {
        answer(native::aead_open(
            aead(algorithm),
            &key,
            &nonce,
            &ciphertext,
            &aad,
        ))
    }

    fn aes_key_wrap_pad(&mut self, kek: Vec<u8>, key: Vec<u8>) -> Answer<Vec<u8>> {
        answer(native::aes_key_wrap_pad(&kek, &key))
    }

    fn aes_key_unwrap_pad(&mut self, kek: Vec<u8>, wrapped: Vec<u8>) -> Answer<Vec<u8>> {
        answer(native::aes_key_unwrap_pad(&kek, &wrapped))
    }
}
