//! Contract 0.2's `keys`: keys held by the host behind handles (a `key`
//! resource is a [`KeyData`]: a software key or a managed key's handle),
//! kept by engines only as blobs sealed under their mount's key.
//!
//! What each function calls is listed in `keys/mod.rs`'s module doc. What
//! this file adds is the edge:
//! - names parsed (`KeyKind::parse`, `Permissions::parse`, the formats and
//!   hashes), each unknown one an `invalid-request` naming it;
//! - the call's [`KeyScope`]: the mount's sealer (reached through the
//!   call's `Unsealed` proof, so a blob is sealed or opened only while the
//!   server is unsealed and only on its own mount), its
//!   `allowed_managed_keys` and the managed-key backends, and whether the
//!   call may `permit` (only while `handle` runs an authenticated client's
//!   create or update: never in `exists`, `periodic`, a read or an
//!   unauthenticated request). Outside a call (an engine's `describe`),
//!   `open`, `seal` and `managed` answer `unavailable`;
//! - the key-bytes rule: bytes leave only through `export`, `backup` and
//!   `wrap-for`, each after its permission check (`permission-denied`
//!   without it; a managed key never). Nothing else returns key material;
//! - where each operation runs: [`KeyHandle::cost`] (or `cost_of` for a
//!   key not made yet) decides, as in `host/crypto.rs`: RSA and P-521 work,
//!   large inputs and opening a key pair's blob on the heavy pool; a
//!   managed key's backend awaited under the call's deadline.
//!
//! Errors: every bad input (an unknown name, a wrong nonce, a blob of
//! another mount, tampered or not a blob, a failed tag, a key of the wrong
//! kind for the operation) is an `invalid-request`. A trap: a handle the
//! engine made up or already dropped (the resource table's error), more
//! than `MAX_KEYS` live key handles, the deadline.

use std::sync::Arc;

use wasmtime::component::Resource;

use super::crypto::sign_options;
use super::{hash_algorithm, invalid, Answer};
use crate::crypto::{
    byok_unwrap, byok_wrap, cost_of, BlobError, Cipher, Cost, CryptoError, KeyHandle, KeyKind,
    KeySealer, Operation, Permission, Permissions, PrivateKeyFormat, SoftwareKey,
    HEAVY_INPUT_BYTES,
};
use crate::keys::managed::{open_for_mount, ManagedKeyError, ManagedKeys, MountGrant};
use crate::keys::MountKeys;
use crate::sandbox::bindings::v02::coffer::engine::keys::{AeadItem, Host, HostKey, SignOptions};
use crate::sandbox::bindings::v02::coffer::engine::types::Error;
use crate::sandbox::host::crypto::PublicKeyHandle;
use crate::sandbox::InstanceState;
use crate::seal::Unsealed;

/// A `key` resource.
pub struct KeyData(Held);

/// What a `key` handle holds.
#[derive(Clone)]
enum Held {
    /// A key whose bytes the host holds, with its permissions.
    Software(Arc<SoftwareKey>),
    /// A managed key's handle (`keys::managed::ManagedHandle`: never
    /// exportable); it has no permissions and no blob.
    Managed(Arc<dyn KeyHandle>),
}

impl Held {
    fn handle(&self) -> Arc<dyn KeyHandle> {
        match self {
            Held::Software(key) => Arc::clone(key) as Arc<dyn KeyHandle>,
            Held::Managed(key) => Arc::clone(key),
        }
    }

    /// The software key, or an `invalid-request` saying a managed key
    /// does not do `what`.
    fn software(&self, what: &str) -> Result<&Arc<SoftwareKey>, Error> {
        match self {
            Held::Software(key) => Ok(key),
            Held::Managed(_) => Err(Error::InvalidRequest(format!(
                "a managed key cannot {what}"
            ))),
        }
    }

    /// The software key if it has `permission`; `permission-denied`
    /// otherwise (a managed key never has one).
    fn permitted(&self, permission: Permission) -> Result<&Arc<SoftwareKey>, Error> {
        match self {
            Held::Managed(_) => Err(Error::PermissionDenied(
                "a managed key's bytes never leave its backend".into(),
            )),
            Held::Software(key) if key.permissions().allows(permission) => Ok(key),
            Held::Software(_) => Err(Error::PermissionDenied(format!(
                "the key lacks the `{permission}` permission"
            ))),
        }
    }
}

/// What one call's `keys` imports may reach (see the module's doc); made
/// by the sandbox for each call.
pub struct KeyScope {
    unsealed: Unsealed,
    sealers: Arc<MountKeys>,
    managed: Option<Arc<dyn ManagedKeys>>,
    mount_uuid: String,
    allowed_managed_keys: Vec<String>,
    /// Whether `permit` is allowed: set by the sandbox only around `handle`
    /// for an authenticated client's create or update.
    pub(crate) may_permit: bool,
}

impl KeyScope {
    /// The scope of a call on the mount `mount_uuid`, with `permit`
    /// refused.
    pub fn new(
        unsealed: Unsealed,
        sealers: Arc<MountKeys>,
        managed: Option<Arc<dyn ManagedKeys>>,
        mount_uuid: String,
        allowed_managed_keys: Vec<String>,
    ) -> Self {
        Self {
            unsealed,
            sealers,
            managed,
            mount_uuid,
            allowed_managed_keys,
            may_permit: false,
        }
    }

    /// This mount's sealer.
    fn sealer(&self) -> Result<Arc<KeySealer>, Error> {
        self.sealers
            .sealer_for(&self.unsealed, &self.mount_uuid)
            .map_err(|e| Error::Internal(e.messages().join("; ")))
    }
}

fn blob_error(e: BlobError) -> Error {
    Error::InvalidRequest(e.to_string())
}

fn managed_error(e: ManagedKeyError) -> Error {
    match e {
        ManagedKeyError::NotFound(m) | ManagedKeyError::Invalid(m) => Error::InvalidRequest(m),
        ManagedKeyError::NotAllowed(m) => Error::PermissionDenied(m),
        ManagedKeyError::Unavailable(m) => Error::Unavailable(m),
    }
}

fn internal(e: CryptoError) -> Error {
    Error::Internal(e.to_string())
}

impl InstanceState {
    /// The current call's key scope; `unavailable` outside a call.
    fn key_scope(&self) -> Result<&KeyScope, Error> {
        self.call
            .as_ref()
            .and_then(|c| c.keys.as_ref())
            .ok_or_else(|| {
                Error::Unavailable(
                    "keys are opened and sealed only while handling a request".into(),
                )
            })
    }

    /// What `this` holds; a trap if it names no key.
    fn held(&self, this: &Resource<KeyData>) -> wasmtime::Result<Held> {
        Ok(self.table.get(this)?.0.clone())
    }

    fn push_key(&mut self, held: Held) -> wasmtime::Result<Resource<KeyData>> {
        self.check_key_budget()?;
        let r = self.table.push(KeyData(held))?;
        self.live_keys += 1;
        Ok(r)
    }

    /// A new software key's handle, or the engine's error.
    fn push_made(&mut self, made: Result<Arc<SoftwareKey>, Error>) -> Answer<Resource<KeyData>> {
        match made {
            Ok(key) => Ok(Ok(self.push_key(Held::Software(key))?)),
            Err(e) => Ok(Err(e)),
        }
    }

    /// One handle operation, run where its cost says (`host/crypto.rs`).
    async fn run_key<T, F>(&mut self, cost: Cost, start: F) -> Answer<T>
    where
        F: FnOnce() -> crate::crypto::KeyFuture<T> + Send + 'static,
        T: Send + 'static,
    {
        Ok(self.key_operation(cost, start).await?.map_err(invalid))
    }

    /// A batch over a software key (one key schedule), or item by item
    /// through a managed key's handle.
    async fn aead_batch(
        &mut self,
        this: &Resource<KeyData>,
        items: Vec<AeadItem>,
        encrypt: bool,
    ) -> wasmtime::Result<Vec<Result<Vec<u8>, Error>>> {
        let held = self.held(this)?;
        let items: Vec<crate::crypto::AeadItem> = items
            .into_iter()
            .map(|i| crate::crypto::AeadItem {
                data: i.data,
                nonce: i.nonce,
                aad: i.aad,
            })
            .collect();
        match held {
            Held::Software(key) => {
                let total = items
                    .iter()
                    .fold(0usize, |n, i| n.saturating_add(i.data.len()));
                let work = move || {
                    if encrypt {
                        key.encrypt_batch(&items)
                    } else {
                        key.decrypt_batch(&items)
                    }
                };
                let done = self.place(total > HEAVY_INPUT_BYTES, work).await?;
                Ok(done.into_iter().map(|r| r.map_err(invalid)).collect())
            }
            Held::Managed(key) => {
                let mut done = Vec::with_capacity(items.len());
                for item in items {
                    let operation = if encrypt {
                        Operation::Encrypt
                    } else {
                        Operation::Decrypt
                    };
                    let cost = key.cost(operation, item.data.len());
                    let key = Arc::clone(&key);
                    let cipher = Cipher::Aead {
                        nonce: item.nonce,
                        aad: item.aad,
                    };
                    let data = item.data;
                    let answer = self
                        .run_key(cost, move || {
                            if encrypt {
                                key.encrypt(data, cipher)
                            } else {
                                key.decrypt(data, cipher)
                            }
                        })
                        .await?;
                    done.push(answer);
                }
                Ok(done)
            }
        }
    }
}

impl Host for InstanceState {}

impl HostKey for InstanceState {
    async fn generate(
        &mut self,
        key_type: String,
        size: Option<u32>,
        permissions: Vec<String>,
    ) -> Answer<Resource<KeyData>> {
        let kind = parsed!(KeyKind::parse(&key_type, size).map_err(invalid));
        let permissions = parsed!(Permissions::parse(&permissions).map_err(invalid));
        let heavy = match kind {
            KeyKind::Asymmetric(t) => cost_of(t, Operation::Generate, 0) != Cost::Light,
            KeyKind::Symmetric(_) | KeyKind::Hmac(_) => false,
        };
        let made = self
            .place(heavy, move || SoftwareKey::generate(kind, permissions))
            .await?;
        self.push_made(made.map_err(invalid))
    }

    async fn open(&mut self, blob: Vec<u8>) -> Answer<Resource<KeyData>> {
        let sealer = parsed!(self.key_scope().and_then(KeyScope::sealer));
        // Authenticating is AES-GCM over the blob: cheap unless it is big.
        let opened = if blob.len() > HEAVY_INPUT_BYTES {
            let work = move || sealer.unseal(&blob);
            self.offload(work).await?
        } else {
            sealer.unseal(&blob)
        };
        let opened = parsed!(opened.map_err(blob_error));
        let heavy = opened.cost() != Cost::Light;
        let key = self.place(heavy, move || opened.into_key()).await?;
        self.push_made(key.map_err(blob_error))
    }

    async fn import(
        &mut self,
        key_type: String,
        encoded: Vec<u8>,
        permissions: Vec<String>,
    ) -> Answer<Resource<KeyData>> {
        let kind = parsed!(KeyKind::of_import(&key_type, encoded.len()).map_err(invalid));
        let permissions = parsed!(Permissions::parse(&permissions).map_err(invalid));
        let heavy = match kind {
            KeyKind::Asymmetric(t) => cost_of(t, Operation::Import, encoded.len()) != Cost::Light,
            KeyKind::Symmetric(_) | KeyKind::Hmac(_) => false,
        };
        let encoded = zeroize::Zeroizing::new(encoded);
        let made = self
            .place(heavy, move || {
                SoftwareKey::import(kind, &encoded, permissions)
            })
            .await?;
        self.push_made(made.map_err(invalid))
    }

    async fn unwrap(
        &mut self,
        wrapping_key: Resource<KeyData>,
        wrapped: Vec<u8>,
        hash: String,
        key_type: String,
        permissions: Vec<String>,
    ) -> Answer<Resource<KeyData>> {
        let held = self.held(&wrapping_key)?;
        let hash = parsed!(hash_algorithm(&hash));
        let permissions = parsed!(Permissions::parse(&permissions).map_err(invalid));
        let wrapping = Arc::clone(parsed!(held.software("unwrap keys here")));
        let heavy = wrapping.cost(Operation::Decrypt, wrapped.len()) != Cost::Light;
        let made = self
            .place(heavy, move || {
                byok_unwrap(&wrapping, &wrapped, hash, &key_type, permissions)
            })
            .await?;
        self.push_made(made.map_err(invalid))
    }

    async fn managed(&mut self, name_or_id: String) -> Answer<Resource<KeyData>> {
        let scope = parsed!(self.key_scope());
        let Some(backend) = scope.managed.clone() else {
            return Ok(Err(Error::PermissionDenied(format!(
                "this mount may not use managed key {name_or_id:?}: no managed-key backend is configured"
            ))));
        };
        let allowed = scope.allowed_managed_keys.clone();
        let deadline = tokio::time::Instant::from_std(self.deadline);
        let opening = async move {
            open_for_mount(
                backend.as_ref(),
                MountGrant { allowed: &allowed },
                &name_or_id,
            )
            .await
        };
        let opened = tokio::time::timeout_at(deadline, opening)
            .await
            .map_err(|_| wasmtime::Error::from(wasmtime::Trap::Interrupt))?;
        match opened {
            Ok(handle) => Ok(Ok(self.push_key(Held::Managed(handle))?)),
            Err(e) => Ok(Err(managed_error(e))),
        }
    }

    async fn seal(&mut self, this: Resource<KeyData>) -> Answer<Vec<u8>> {
        let held = self.held(&this)?;
        let key = Arc::clone(parsed!(held.software(
            "be sealed: keep its name or id and open it again with key.managed"
        )));
        let sealer = parsed!(self.key_scope().and_then(KeyScope::sealer));
        let heavy = key.cost(Operation::Export, 0) != Cost::Light;
        let blob = self.place(heavy, move || sealer.seal(&key)).await?;
        Ok(blob.map_err(internal))
    }

    fn key_type(&mut self, this: Resource<KeyData>) -> wasmtime::Result<String> {
        Ok(self.held(&this)?.handle().kind().name().to_string())
    }

    fn size(&mut self, this: Resource<KeyData>) -> wasmtime::Result<u32> {
        Ok(self.held(&this)?.handle().kind().bits())
    }

    fn is_managed(&mut self, this: Resource<KeyData>) -> wasmtime::Result<bool> {
        Ok(matches!(self.held(&this)?, Held::Managed(_)))
    }

    fn permissions(&mut self, this: Resource<KeyData>) -> wasmtime::Result<Vec<String>> {
        Ok(match self.held(&this)? {
            Held::Software(key) => key
                .permissions()
                .names()
                .into_iter()
                .map(String::from)
                .collect(),
            Held::Managed(_) => Vec::new(),
        })
    }

    fn permit(&mut self, this: Resource<KeyData>, permission: String) -> Answer<Resource<KeyData>> {
        let held = self.held(&this)?;
        let permission = parsed!(Permission::from_name(&permission).map_err(invalid));
        let Held::Software(key) = held else {
            return Ok(Err(Error::PermissionDenied(
                "a managed key is never given a permission".into(),
            )));
        };
        if !self
            .call
            .as_ref()
            .and_then(|c| c.keys.as_ref())
            .is_some_and(|k| k.may_permit)
        {
            return Ok(Err(Error::PermissionDenied(format!(
                "a key is given `{permission}` only while handling a client's create or update"
            ))));
        }
        Ok(Ok(self.push_key(Held::Software(key.permit(permission)))?))
    }

    async fn derive(
        &mut self,
        this: Resource<KeyData>,
        context: Vec<u8>,
    ) -> Answer<Resource<KeyData>> {
        let held = self.held(&this)?;
        let key = parsed!(held.software("be derived"));
        let derived = key.derive(&context).map_err(invalid);
        self.push_made(derived)
    }

    fn public_key(&mut self, this: Resource<KeyData>) -> Answer<Resource<PublicKeyHandle>> {
        let handle = self.held(&this)?.handle();
        match handle.public_key() {
            Some(public) => Ok(Ok(self.push_public(public)?)),
            None => Ok(Err(Error::InvalidRequest(format!(
                "a {} key has no public half",
                handle.kind()
            )))),
        }
    }

    async fn sign(
        &mut self,
        this: Resource<KeyData>,
        message: Vec<u8>,
        options: SignOptions,
    ) -> Answer<Vec<u8>> {
        let key = self.held(&this)?.handle();
        let options = parsed!(sign_options(&options));
        let cost = key.cost(Operation::Sign, message.len());
        self.run_key(cost, move || key.sign(message, options)).await
    }

    async fn verify(
        &mut self,
        this: Resource<KeyData>,
        message: Vec<u8>,
        signature: Vec<u8>,
        options: SignOptions,
    ) -> Answer<bool> {
        let key = self.held(&this)?.handle();
        let options = parsed!(sign_options(&options));
        let cost = key.cost(Operation::Verify, message.len());
        self.run_key(cost, move || key.verify(message, signature, options))
            .await
    }

    async fn encrypt(
        &mut self,
        this: Resource<KeyData>,
        plaintext: Vec<u8>,
        nonce: Vec<u8>,
        aad: Vec<u8>,
    ) -> Answer<Vec<u8>> {
        let key = self.held(&this)?.handle();
        let cost = key.cost(Operation::Encrypt, plaintext.len());
        let cipher = Cipher::Aead { nonce, aad };
        self.run_key(cost, move || key.encrypt(plaintext, cipher))
            .await
    }

    async fn decrypt(
        &mut self,
        this: Resource<KeyData>,
        ciphertext: Vec<u8>,
        nonce: Vec<u8>,
        aad: Vec<u8>,
    ) -> Answer<Vec<u8>> {
        let key = self.held(&this)?.handle();
        let cost = key.cost(Operation::Decrypt, ciphertext.len());
        let cipher = Cipher::Aead { nonce, aad };
        self.run_key(cost, move || key.decrypt(ciphertext, cipher))
            .await
    }

    async fn encrypt_batch(
        &mut self,
        this: Resource<KeyData>,
        items: Vec<AeadItem>,
    ) -> wasmtime::Result<Vec<Result<Vec<u8>, Error>>> {
        self.aead_batch(&this, items, true).await
    }

    async fn decrypt_batch(
        &mut self,
        this: Resource<KeyData>,
        items: Vec<AeadItem>,
    ) -> wasmtime::Result<Vec<Result<Vec<u8>, Error>>> {
        self.aead_batch(&this, items, false).await
    }

    async fn decrypt_oaep(
        &mut self,
        this: Resource<KeyData>,
        ciphertext: Vec<u8>,
        hash: String,
        label: Option<Vec<u8>>,
    ) -> Answer<Vec<u8>> {
        let key = self.held(&this)?.handle();
        let hash = parsed!(hash_algorithm(&hash));
        let cost = key.cost(Operation::Decrypt, ciphertext.len());
        let cipher = Cipher::Oaep { hash, label };
        self.run_key(cost, move || key.decrypt(ciphertext, cipher))
            .await
    }

    async fn hmac(
        &mut self,
        this: Resource<KeyData>,
        algorithm: String,
        data: Vec<u8>,
    ) -> Answer<Vec<u8>> {
        let held = self.held(&this)?;
        let algorithm = parsed!(hash_algorithm(&algorithm));
        let key = Arc::clone(parsed!(held.software("make HMACs")));
        let heavy = data.len() > HEAVY_INPUT_BYTES;
        let mac = self
            .place(heavy, move || key.hmac(algorithm, &data))
            .await?;
        Ok(mac.map_err(invalid))
    }

    async fn export(&mut self, this: Resource<KeyData>, format: String) -> Answer<Vec<u8>> {
        let held = self.held(&this)?;
        let key = Arc::clone(parsed!(held.permitted(Permission::Export)));
        let format = parsed!(PrivateKeyFormat::from_name(&format).map_err(invalid));
        let heavy = key.cost(Operation::Export, 0) != Cost::Light;
        let exported = self.place(heavy, move || key.export(format)).await?;
        Ok(exported.map_err(invalid))
    }

    async fn backup(&mut self, this: Resource<KeyData>) -> Answer<Vec<u8>> {
        let held = self.held(&this)?;
        let key = Arc::clone(parsed!(held.permitted(Permission::PlaintextBackup)));
        let heavy = key.cost(Operation::Export, 0) != Cost::Light;
        let backup = self
            .place(heavy, move || key.backup().map(|bytes| bytes.to_vec()))
            .await?;
        Ok(backup.map_err(invalid))
    }

    async fn wrap_for(
        &mut self,
        this: Resource<KeyData>,
        destination: Resource<PublicKeyHandle>,
        hash: String,
    ) -> Answer<Vec<u8>> {
        let held = self.held(&this)?;
        let public = self.public_key_behind(&destination)?;
        let hash = parsed!(hash_algorithm(&hash));
        let key = Arc::clone(parsed!(held.permitted(Permission::Export)));
        // An ECDSA or Ed25519 destination is refused by `byok_wrap`.
        let heavy = cost_of(public.key_type(), Operation::Encrypt, 0) != Cost::Light;
        let wrapped = self
            .place(heavy, move || byok_wrap(&public, &key, hash))
            .await?;
        Ok(wrapped.map_err(invalid))
    }

    fn drop(&mut self, this: Resource<KeyData>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        self.live_keys = self.live_keys.saturating_sub(1);
        Ok(())
    }
}
