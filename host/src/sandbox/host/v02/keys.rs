//! Contract 0.2's `keys`: not served by this host yet. Every function that
//! would make a key answers the `error` `status(501)` "keys are not served
//! by this host yet" (never a trap), so no `key` resource can exist; the
//! methods answer the same after checking their handle (a handle the
//! engine made up traps, as a stale one does everywhere). The host's key
//! service (sealed blobs, handles) replaces this file.

use wasmtime::component::Resource;

use super::Answer;
use crate::sandbox::bindings::v02::coffer::engine::keys::{AeadItem, Host, HostKey, SignOptions};
use crate::sandbox::bindings::v02::coffer::engine::types::{Error, ErrorStatus};
use crate::sandbox::host::crypto::PublicKeyHandle;
use crate::sandbox::InstanceState;

/// A `key` resource. None can be made until the key service lands.
pub struct KeyData {
    _none: (),
}

/// The answer of every `keys` function for now.
fn not_served() -> Error {
    Error::Status(ErrorStatus {
        status: 501,
        message: "keys are not served by this host yet".into(),
    })
}

impl InstanceState {
    /// Checks the handle (a trap when it names no key), then answers
    /// [`not_served`].
    fn no_key<T>(&mut self, this: &Resource<KeyData>) -> Answer<T> {
        self.table.get(this)?;
        Ok(Err(not_served()))
    }

    /// [`InstanceState::no_key`] for each item of a batch.
    fn no_key_each<T>(
        &mut self,
        this: &Resource<KeyData>,
        items: &[AeadItem],
    ) -> wasmtime::Result<Vec<Result<T, Error>>> {
        self.table.get(this)?;
        Ok(items.iter().map(|_| Err(not_served())).collect())
    }
}

impl Host for InstanceState {}

impl HostKey for InstanceState {
    async fn generate(
        &mut self,
        _key_type: String,
        _size: Option<u32>,
        _permissions: Vec<String>,
    ) -> Answer<Resource<KeyData>> {
        Ok(Err(not_served()))
    }

    async fn open(&mut self, _blob: Vec<u8>) -> Answer<Resource<KeyData>> {
        Ok(Err(not_served()))
    }

    async fn import(
        &mut self,
        _key_type: String,
        _encoded: Vec<u8>,
        _permissions: Vec<String>,
    ) -> Answer<Resource<KeyData>> {
        Ok(Err(not_served()))
    }

    async fn unwrap(
        &mut self,
        wrapping_key: Resource<KeyData>,
        _wrapped: Vec<u8>,
        _hash: String,
        _key_type: String,
        _permissions: Vec<String>,
    ) -> Answer<Resource<KeyData>> {
        self.no_key(&wrapping_key)
    }

    async fn managed(&mut self, _name_or_id: String) -> Answer<Resource<KeyData>> {
        Ok(Err(not_served()))
    }

    async fn seal(&mut self, this: Resource<KeyData>) -> Answer<Vec<u8>> {
        self.no_key(&this)
    }

    fn key_type(&mut self, this: Resource<KeyData>) -> wasmtime::Result<String> {
        self.table.get(&this)?;
        wasmtime::bail!("no key is served yet")
    }

    fn is_managed(&mut self, this: Resource<KeyData>) -> wasmtime::Result<bool> {
        self.table.get(&this)?;
        wasmtime::bail!("no key is served yet")
    }

    fn permissions(&mut self, this: Resource<KeyData>) -> wasmtime::Result<Vec<String>> {
        self.table.get(&this)?;
        wasmtime::bail!("no key is served yet")
    }

    fn permit(
        &mut self,
        this: Resource<KeyData>,
        _permission: String,
    ) -> Answer<Resource<KeyData>> {
        self.no_key(&this)
    }

    async fn derive(
        &mut self,
        this: Resource<KeyData>,
        _context: Vec<u8>,
    ) -> Answer<Resource<KeyData>> {
        self.no_key(&this)
    }

    fn public_key(&mut self, this: Resource<KeyData>) -> Answer<Resource<PublicKeyHandle>> {
        self.no_key(&this)
    }

    async fn sign(
        &mut self,
        this: Resource<KeyData>,
        _message: Vec<u8>,
        _options: SignOptions,
    ) -> Answer<Vec<u8>> {
        self.no_key(&this)
    }

    async fn verify(
        &mut self,
        this: Resource<KeyData>,
        _message: Vec<u8>,
        _signature: Vec<u8>,
        _options: SignOptions,
    ) -> Answer<bool> {
        self.no_key(&this)
    }

    async fn encrypt(
        &mut self,
        this: Resource<KeyData>,
        _plaintext: Vec<u8>,
        _nonce: Vec<u8>,
        _aad: Vec<u8>,
    ) -> Answer<Vec<u8>> {
        self.no_key(&this)
    }

    async fn decrypt(
        &mut self,
        this: Resource<KeyData>,
        _ciphertext: Vec<u8>,
        _nonce: Vec<u8>,
        _aad: Vec<u8>,
    ) -> Answer<Vec<u8>> {
        self.no_key(&this)
    }

    async fn encrypt_batch(
        &mut self,
        this: Resource<KeyData>,
        items: Vec<AeadItem>,
    ) -> wasmtime::Result<Vec<Result<Vec<u8>, Error>>> {
        self.no_key_each(&this, &items)
    }

    async fn decrypt_batch(
        &mut self,
        this: Resource<KeyData>,
        items: Vec<AeadItem>,
    ) -> wasmtime::Result<Vec<Result<Vec<u8>, Error>>> {
        self.no_key_each(&this, &items)
    }

    async fn decrypt_oaep(
        &mut self,
        this: Resource<KeyData>,
        _ciphertext: Vec<u8>,
        _hash: String,
        _label: Option<Vec<u8>>,
    ) -> Answer<Vec<u8>> {
        self.no_key(&this)
    }

    async fn hmac(
        &mut self,
        this: Resource<KeyData>,
        _algorithm: String,
        _data: Vec<u8>,
    ) -> Answer<Vec<u8>> {
        self.no_key(&this)
    }

    async fn export(&mut self, this: Resource<KeyData>, _format: String) -> Answer<Vec<u8>> {
        self.no_key(&this)
    }

    async fn backup(&mut self, this: Resource<KeyData>) -> Answer<Vec<u8>> {
        self.no_key(&this)
    }

    async fn wrap_key(
        &mut self,
        this: Resource<KeyData>,
        _target: Resource<KeyData>,
        _hash: String,
    ) -> Answer<Vec<u8>> {
        self.no_key(&this)
    }

    fn drop(&mut self, this: Resource<KeyData>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}
