//! `crypto`: the native implementations in [`crate::crypto`], offered to
//! engines. The public-key resource and `hash` are shared with contract
//! 0.2 (`v02/crypto.rs` converts its names and calls the methods here).
//!
//! Answered as a WIT `invalid-request` error: every mistake in the engine's
//! arguments (wrong key length, malformed key, failed authentication), which
//! engines usually pass on from their clients. Traps: a stale or foreign
//! resource handle, more than [`MAX_KEYS`] live key handles in one
//! instance (host memory the store's limiter does not see), and an operation
//! on the heavy pool still unfinished at the call's deadline (the same trap
//! as the epoch deadline's, "exceeded its time limit").
//!
//! Keys. A `private-key` resource is a host key handle
//! ([`native::KeyHandle`], today always a [`native::SoftwareKey`] that
//! contract 0.1 lets the engine export); its operations go through the
//! handle, which says where each should run ([`native::Cost`]).
//!
//! Where each import runs. A call's imports run on its fiber, on a tokio
//! worker; what may compute for long goes to the sandbox's
//! [`HeavyPool`](crate::sandbox::heavy::HeavyPool) instead (one thread per
//! core, at a lower priority; the call's fiber waits without holding the
//! worker). The rule: an operation that can take more than about 100 µs
//! goes to the pool, unless it is on the per-item path of transit's
//! batches, where a future per call would cost. For keys the rule is
//! [`native::cost_of`]'s (its doc has the timings, on AWS-LC); a remote
//! key's operation ([`native::Cost::Remote`]) is awaited on the fiber
//! until the call's deadline.
//! - On the pool (`async` in `bindings.rs`): every operation on RSA and
//!   P-521 keys, and P-384's import, export and verify, and,
//!   above [`HEAVY_INPUT_BYTES`], `sign` and `verify` of any type, `hash`,
//!   `aes-key-wrap-pad` and `aes-key-unwrap-pad` (SHA3-512 takes 5 ms per
//!   MiB, AES-KWP 18 ms).
//! - On the worker: every Ed25519 and P-256 operation (under 50 µs with
//!   AWS-LC), P-384's generation and signature (under 90 µs),
//!   `from-ed25519-seed`, parsing and exporting public keys,
//!   `key-type`, `public-key`, the resource drops, the size-bound imports
//!   above when below the threshold, and always `random-bytes`, `hmac`,
//!   `hmac-verify`, `hkdf`, `aead-seal` and `aead-open`: the batch path, a
//!   microsecond or two for small inputs. Their cost grows with their input
//!   (AES-256-GCM and HMAC-SHA-256 about 0.7 ms per MiB, HMAC over SHA-3
//!   about 5 ms; `random-bytes` is capped at 1 MiB, 3 ms), bounded only by
//!   the instance's memory cap: this is what the pool does not cover.

use std::sync::Arc;

use wasmtime::component::Resource;

use crate::crypto::{self as native, Cost, KeyFuture, KeyHandle, Operation};
use crate::sandbox::bindings::v01::coffer::engine::crypto::{
    AeadAlgorithm, HashAlgorithm, Host, HostPrivateKey, HostPublicKey, KeyType, PrivateKeyFormat,
    PublicKeyFormat, RsaPadding, SignOptions, SignatureEncoding,
};
use crate::sandbox::bindings::v01::coffer::engine::types::Error;
use crate::sandbox::heavy::HeavyError;
use crate::sandbox::InstanceState;

/// The most key handles one instance may hold at once.
pub const MAX_KEYS: usize = 4096;

/// Above this many input bytes, the imports whose cost grows with their
/// input run on the heavy pool (64 KiB: about 40 µs of SHA-256, 1 ms of
/// AES-KWP); the key handles use the same bound.
pub use native::HEAVY_INPUT_BYTES;

/// A private key held for an engine instance: a host key handle, shared
/// with the pool's thread while an operation on it runs there.
pub struct PrivateKeyHandle(Arc<dyn KeyHandle>);

impl PrivateKeyHandle {
    /// The type of the key pair (contract 0.1's keys are all pairs).
    fn key_type(&self) -> wasmtime::Result<native::KeyType> {
        match self.0.kind() {
            native::KeyKind::Asymmetric(kt) => Ok(kt),
            native::KeyKind::Symmetric(_) | native::KeyKind::Hmac(_) => {
                wasmtime::bail!("a private-key resource holds a symmetric key")
            }
        }
    }
}

/// A public key held for an engine instance; shared like a private one.
pub struct PublicKeyHandle(Arc<native::PublicKey>);

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
    /// Runs `work` on the heavy pool until the call's deadline. Past the
    /// deadline the engine traps as it does at an epoch tick past it
    /// (`Trap::Interrupt`, "exceeded its time limit"), and the instance is
    /// dropped; a panic in the work traps too.
    pub(crate) async fn offload<T, F>(&mut self, work: F) -> wasmtime::Result<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (pool, deadline) = (self.heavy.clone(), self.deadline);
        pool.run(deadline, work).await.map_err(|e| match e {
            HeavyError::Deadline => wasmtime::Error::from(wasmtime::Trap::Interrupt),
            HeavyError::Failed => wasmtime::format_err!("a host crypto operation failed"),
        })
    }

    /// Runs `work` here, or on the heavy pool when `heavy` (see
    /// [`Self::offload`]).
    pub(crate) async fn place<T, F>(&mut self, heavy: bool, work: F) -> wasmtime::Result<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        if heavy {
            self.offload(work).await
        } else {
            Ok(work())
        }
    }

    pub(crate) fn check_key_budget(&self) -> wasmtime::Result<()> {
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
        // Contract 0.1's engines keep their keys' encodings themselves.
        let handle = native::SoftwareKey::pair(key, native::Permission::Export.into());
        let r = self.table.push(PrivateKeyHandle(handle))?;
        self.live_keys += 1;
        Ok(r)
    }

    /// Runs a key handle's operation where its cost says (see
    /// [`native::Cost`]): here, on the heavy pool, or awaited until the
    /// call's deadline. `start` calls the handle's method.
    pub(crate) async fn key_operation<T, F>(
        &mut self,
        cost: Cost,
        start: F,
    ) -> wasmtime::Result<Result<T, native::CryptoError>>
    where
        F: FnOnce() -> KeyFuture<T> + Send + 'static,
        T: Send + 'static,
    {
        let future = self.place(cost == Cost::Heavy, start).await?;
        if cost != Cost::Remote {
            // A software key's future is ready: no deadline to arm.
            return Ok(future.await);
        }
        let deadline = tokio::time::Instant::from_std(self.deadline);
        tokio::time::timeout_at(deadline, future)
            .await
            .map_err(|_| wasmtime::Error::from(wasmtime::Trap::Interrupt))
    }

    pub(crate) fn push_public(
        &mut self,
        key: native::PublicKey,
    ) -> wasmtime::Result<Resource<PublicKeyHandle>> {
        self.check_key_budget()?;
        let r = self.table.push(PublicKeyHandle(Arc::new(key)))?;
        self.live_keys += 1;
        Ok(r)
    }
}

impl HostPrivateKey for InstanceState {
    async fn generate(&mut self, kt: KeyType) -> Answer<Resource<PrivateKeyHandle>> {
        let kt = key_type(kt);
        let work = move || native::PrivateKey::generate(kt);
        let generated = self
            .place(
                native::cost_of(kt, Operation::Generate, 0) != Cost::Light,
                work,
            )
            .await?;
        match generated {
            Ok(k) => Ok(Ok(self.push_private(k)?)),
            Err(e) => answer(Err(e)),
        }
    }

    async fn import(
        &mut self,
        kt: KeyType,
        encoded: Vec<u8>,
    ) -> Answer<Resource<PrivateKeyHandle>> {
        let kt = key_type(kt);
        let work = move || native::PrivateKey::import(kt, &encoded);
        let parsed = self
            .place(
                native::cost_of(kt, Operation::Import, 0) != Cost::Light,
                work,
            )
            .await?;
        match parsed {
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
        Ok(key_type_back(self.table.get(&this)?.key_type()?))
    }

    async fn export(
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
        let key = Arc::clone(&self.table.get(&this)?.0);
        let cost = key.cost(Operation::Export, 0);
        let exported = self
            .key_operation(cost, move || Box::pin(std::future::ready(key.export(f))))
            .await?;
        answer(exported)
    }

    fn public_key(
        &mut self,
        this: Resource<PrivateKeyHandle>,
    ) -> wasmtime::Result<Resource<PublicKeyHandle>> {
        let Some(public) = self.table.get(&this)?.0.public_key() else {
            wasmtime::bail!("a private-key resource holds a symmetric key");
        };
        self.push_public(public)
    }

    async fn sign(
        &mut self,
        this: Resource<PrivateKeyHandle>,
        message: Vec<u8>,
        options: SignOptions,
    ) -> Answer<Vec<u8>> {
        let key = Arc::clone(&self.table.get(&this)?.0);
        let options = sign_options(&options);
        let cost = key.cost(Operation::Sign, message.len());
        answer(
            self.key_operation(cost, move || key.sign(message, options))
                .await?,
        )
    }

    async fn decrypt_oaep(
        &mut self,
        this: Resource<PrivateKeyHandle>,
        ciphertext: Vec<u8>,
        h: HashAlgorithm,
        label: Option<Vec<u8>>,
    ) -> Answer<Vec<u8>> {
        let key = Arc::clone(&self.table.get(&this)?.0);
        let cost = key.cost(Operation::Decrypt, ciphertext.len());
        let cipher = native::Cipher::Oaep {
            hash: hash(h),
            label,
        };
        answer(
            self.key_operation(cost, move || key.decrypt(ciphertext, cipher))
                .await?,
        )
    }

    fn drop(&mut self, this: Resource<PrivateKeyHandle>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        self.live_keys = self.live_keys.saturating_sub(1);
        Ok(())
    }
}

impl InstanceState {
    /// A public key parsed from SPKI or PKCS#1, DER or PEM (both versions).
    pub(crate) fn public_import(
        &mut self,
        kt: native::KeyType,
        encoded: &[u8],
    ) -> wasmtime::Result<Result<Resource<PublicKeyHandle>, native::CryptoError>> {
        match native::PublicKey::import(kt, encoded) {
            Ok(k) => Ok(Ok(self.push_public(k)?)),
            Err(e) => Ok(Err(e)),
        }
    }

    /// A public key's type.
    pub(crate) fn public_key_type(
        &mut self,
        this: &Resource<PublicKeyHandle>,
    ) -> wasmtime::Result<native::KeyType> {
        Ok(self.table.get(this)?.0.key_type())
    }

    /// A public key in `format`.
    pub(crate) fn public_export(
        &mut self,
        this: &Resource<PublicKeyHandle>,
        format: native::PublicKeyFormat,
    ) -> wasmtime::Result<Result<Vec<u8>, native::CryptoError>> {
        Ok(self.table.get(this)?.0.export(format))
    }

    /// Verifies a signature, on the heavy pool when it is costly.
    pub(crate) async fn public_verify(
        &mut self,
        this: &Resource<PublicKeyHandle>,
        message: Vec<u8>,
        signature: Vec<u8>,
        options: native::SignOptions,
    ) -> wasmtime::Result<Result<bool, native::CryptoError>> {
        let key = Arc::clone(&self.table.get(this)?.0);
        let heavy =
            native::cost_of(key.key_type(), Operation::Verify, message.len()) != Cost::Light;
        let work = move || key.verify(&message, &signature, &options);
        self.place(heavy, work).await
    }

    /// RSA-OAEP encryption, on the heavy pool when it is costly.
    pub(crate) async fn public_encrypt_oaep(
        &mut self,
        this: &Resource<PublicKeyHandle>,
        plaintext: Vec<u8>,
        h: native::HashAlgorithm,
        label: Option<Vec<u8>>,
    ) -> wasmtime::Result<Result<Vec<u8>, native::CryptoError>> {
        let key = Arc::clone(&self.table.get(this)?.0);
        let heavy =
            native::cost_of(key.key_type(), Operation::Encrypt, plaintext.len()) != Cost::Light;
        let work = move || key.encrypt_oaep(&plaintext, h, label.as_deref());
        self.place(heavy, work).await
    }

    /// The public key behind a handle (for `key.wrap-for`).
    pub(crate) fn public_key_behind(
        &self,
        this: &Resource<PublicKeyHandle>,
    ) -> wasmtime::Result<Arc<native::PublicKey>> {
        Ok(Arc::clone(&self.table.get(this)?.0))
    }

    /// Drops a public key handle.
    pub(crate) fn public_drop(&mut self, this: Resource<PublicKeyHandle>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        self.live_keys = self.live_keys.saturating_sub(1);
        Ok(())
    }

    /// A digest, on the heavy pool above [`HEAVY_INPUT_BYTES`].
    pub(crate) async fn digest(
        &mut self,
        algorithm: native::HashAlgorithm,
        data: Vec<u8>,
    ) -> wasmtime::Result<Vec<u8>> {
        let heavy = data.len() > HEAVY_INPUT_BYTES;
        let work = move || native::hash(algorithm, &data);
        self.place(heavy, work).await
    }
}

impl HostPublicKey for InstanceState {
    fn import(&mut self, kt: KeyType, encoded: Vec<u8>) -> Answer<Resource<PublicKeyHandle>> {
        answer(self.public_import(key_type(kt), &encoded)?)
    }

    fn key_type(&mut self, this: Resource<PublicKeyHandle>) -> wasmtime::Result<KeyType> {
        Ok(key_type_back(self.public_key_type(&this)?))
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
        answer(self.public_export(&this, f)?)
    }

    async fn verify(
        &mut self,
        this: Resource<PublicKeyHandle>,
        message: Vec<u8>,
        signature: Vec<u8>,
        options: SignOptions,
    ) -> Answer<bool> {
        let options = sign_options(&options);
        answer(
            self.public_verify(&this, message, signature, options)
                .await?,
        )
    }

    async fn encrypt_oaep(
        &mut self,
        this: Resource<PublicKeyHandle>,
        plaintext: Vec<u8>,
        h: HashAlgorithm,
        label: Option<Vec<u8>>,
    ) -> Answer<Vec<u8>> {
        answer(
            self.public_encrypt_oaep(&this, plaintext, hash(h), label)
                .await?,
        )
    }

    fn drop(&mut self, this: Resource<PublicKeyHandle>) -> wasmtime::Result<()> {
        self.public_drop(this)
    }
}

impl Host for InstanceState {
    fn random_bytes(&mut self, len: u32) -> Answer<Vec<u8>> {
        answer(native::random_bytes(len))
    }

    async fn hash(&mut self, algorithm: HashAlgorithm, data: Vec<u8>) -> wasmtime::Result<Vec<u8>> {
        self.digest(hash(algorithm), data).await
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

    async fn aes_key_wrap_pad(&mut self, kek: Vec<u8>, key: Vec<u8>) -> Answer<Vec<u8>> {
        let heavy = key.len() > HEAVY_INPUT_BYTES;
        let work = move || native::aes_key_wrap_pad(&kek, &key);
        answer(self.place(heavy, work).await?)
    }

    async fn aes_key_unwrap_pad(&mut self, kek: Vec<u8>, wrapped: Vec<u8>) -> Answer<Vec<u8>> {
        let heavy = wrapped.len() > HEAVY_INPUT_BYTES;
        let work = move || native::aes_key_unwrap_pad(&kek, &wrapped);
        answer(self.place(heavy, work).await?)
    }
}
