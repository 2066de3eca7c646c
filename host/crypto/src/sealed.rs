//! Sealed key blobs: how a contract 0.2 engine keeps a key without ever
//! holding its bytes.
//!
//! The host seals a [`SoftwareKey`] into a blob under a 32-byte key of the
//! engine's mount ([`KeySealer`]; the host derives one per mount, see
//! `host/src/keys/`); the engine stores the blob like any value and hands
//! it back to [`KeySealer::open`] to get a handle again. The key's type and
//! permissions are inside the blob, encrypted and authenticated with the
//! key, so an engine can neither read nor change them.
//!
//! The format, version 1, byte by byte:
//!
//! | bytes      | what |
//! |------------|------|
//! | 0..3       | the magic `CKB` (Coffer key blob) |
//! | 3          | the format's version, `0x01` |
//! | 4..16      | a random 12-byte nonce |
//! | 16..len-16 | the AES-256-GCM ciphertext of the body below, under the mount's sealing key and this nonce, with bytes 0..4 as associated data |
//! | len-16..   | the 16-byte GCM tag |
//!
//! The body, in clear only inside the host:
//!
//! | bytes       | what |
//! |-------------|------|
//! | 0           | `n`, the length of the key type's name (1 to 255) |
//! | 1..1+n      | the key type's `keys.wit` name in ASCII (`aes256-gcm96`, `hmac`, `rsa-2048`) |
//! | 1+n         | the permissions: bit 0 `export`, bit 1 `plaintext-backup`, the others zero |
//! | 2+n..       | the key material: PKCS#8 DER (version 1) for a key pair; the raw key for an AEAD key, followed by its 32-byte nonce key if it was derived; the raw key for an HMAC key (whose length is the key's) |
//!
//! What a blob gives away: its length (so the key's type, roughly). What
//! it does not: the key, its type or permissions in clear, or anything on
//! another mount, whose sealing key differs — a blob moved there, altered
//! in any bit, cut short, or made up is a [`BlobError`], never a panic.
//! Random nonces under one key are safe for about 2^32 seals; a mount
//! seals a blob per key made or changed, far fewer.

use std::fmt;
use std::sync::Arc;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::Aes256Gcm;
use p256::elliptic_curve::zeroize::Zeroizing;

use super::hash::fill_random;
use super::{cost_of, Cost, CryptoError, KeyHandle, KeyKind, Operation, Permissions, SoftwareKey};

/// The magic and version that open a version-1 blob (its associated data).
const HEADER: [u8; 4] = *b"CKB\x01";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Seals keys into blobs, and opens them, under one mount's sealing key
/// (see the module's doc).
pub struct KeySealer {
    cipher: Aes256Gcm,
}

/// A blob authenticated and decrypted, its key not yet parsed: parsing a
/// key pair's PKCS#8 can be slow (RSA, P-384, P-521), so a caller may ask
/// [`OpenedBlob::cost`] where to run [`OpenedBlob::into_key`].
pub struct OpenedBlob {
    kind: KeyKind,
    permissions: Permissions,
    material: Zeroizing<Vec<u8>>,
}

/// Why a blob does not open. Each is the engine's (or its storage's)
/// fault: the WIT `invalid-request`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlobError {
    /// Too short, or without the magic: not a sealed key blob.
    NotABlob,
    /// A blob of a format version this host does not know.
    UnknownVersion(u8),
    /// It does not authenticate: sealed on another mount, or altered.
    Unauthentic,
    /// It authenticated but its body is not a key this host can read.
    Malformed(String),
}

impl KeySealer {
    /// A sealer under `key`, a mount's sealing key.
    pub fn new(key: &Zeroizing<[u8; 32]>) -> Self {
        Self {
            cipher: Aes256Gcm::new(key.as_ref().into()),
        }
    }

    /// The blob of `key`: its type, permissions and material, sealed. An
    /// error only if the key cannot be encoded or the system's random
    /// generator fails.
    pub fn seal(&self, key: &SoftwareKey) -> Result<Vec<u8>, CryptoError> {
        let name = key.kind().name().as_bytes();
        let name_len = u8::try_from(name.len())
            .map_err(|_| CryptoError::new("a key type's name is too long to seal"))?;
        let material = key.encoded()?;
        let body_len = 2usize
            .saturating_add(name.len())
            .saturating_add(material.len());
        // Room for the tag too, so that sealing in place never reallocates
        // (which would leave a copy of the body behind).
        let mut body = Zeroizing::new(Vec::with_capacity(body_len.saturating_add(TAG_LEN)));
        body.push(name_len);
        body.extend_from_slice(name);
        body.push(key.permissions().bits());
        body.extend_from_slice(&material);

        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce)?;
        self.cipher
            .encrypt_in_place((&nonce).into(), &HEADER, &mut *body)
            .map_err(|_| CryptoError::new("cannot seal the key"))?;
        let mut blob = Vec::with_capacity(HEADER.len() + NONCE_LEN + body.len());
        blob.extend_from_slice(&HEADER);
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&body);
        Ok(blob)
    }

    /// The key `blob` holds, if this sealer sealed it: [`KeySealer::unseal`]
    /// then [`OpenedBlob::into_key`].
    pub fn open(&self, blob: &[u8]) -> Result<Arc<SoftwareKey>, BlobError> {
        self.unseal(blob)?.into_key()
    }

    /// Authenticates and decrypts `blob` (fast: AES-GCM over a few hundred
    /// bytes) and reads its key's type and permissions; the key itself is
    /// parsed by [`OpenedBlob::into_key`].
    pub fn unseal(&self, blob: &[u8]) -> Result<OpenedBlob, BlobError> {
        let (header, rest) = blob
            .split_at_checked(HEADER.len())
            .ok_or(BlobError::NotABlob)?;
        let (magic, version) = header.split_at(3);
        if magic != &HEADER[..3] {
            return Err(BlobError::NotABlob);
        }
        if version != &HEADER[3..] {
            return Err(BlobError::UnknownVersion(
                version.first().copied().unwrap_or_default(),
            ));
        }
        let (nonce, sealed) = rest
            .split_at_checked(NONCE_LEN)
            .ok_or(BlobError::NotABlob)?;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| BlobError::NotABlob)?;
        if sealed.len() < TAG_LEN {
            return Err(BlobError::NotABlob);
        }
        let mut body = Zeroizing::new(sealed.to_vec());
        self.cipher
            .decrypt_in_place((&nonce).into(), header, &mut *body)
            .map_err(|_| BlobError::Unauthentic)?;
        parse_body(&body)
    }
}

/// Reads an opened body (the module's second table).
fn parse_body(body: &[u8]) -> Result<OpenedBlob, BlobError> {
    let malformed = |what: &str| BlobError::Malformed(what.to_owned());
    let (&name_len, rest) = body.split_first().ok_or_else(|| malformed("empty"))?;
    let (name, rest) = rest
        .split_at_checked(usize::from(name_len))
        .ok_or_else(|| malformed("its key type is cut short"))?;
    let name = std::str::from_utf8(name).map_err(|_| malformed("its key type is not text"))?;
    let (&bits, material) = rest
        .split_first()
        .ok_or_else(|| malformed("it has no permissions"))?;
    let permissions = Permissions::from_bits(bits)
        .ok_or_else(|| malformed(&format!("unknown permission bits {bits:#04x}")))?;
    let kind = KeyKind::of_import(name, material.len())
        .map_err(|e| BlobError::Malformed(e.message().to_owned()))?;
    Ok(OpenedBlob {
        kind,
        permissions,
        material: Zeroizing::new(material.to_vec()),
    })
}

impl OpenedBlob {
    /// The key's type.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// Where [`OpenedBlob::into_key`] should run: parsing a key pair costs
    /// what [`cost_of`] says of an import; a secret key is light.
    pub fn cost(&self) -> Cost {
        match self.kind {
            KeyKind::Asymmetric(key_type) => {
                cost_of(key_type, Operation::Import, self.material.len())
            }
            KeyKind::Symmetric(_) | KeyKind::Hmac(_) => Cost::Light,
        }
    }

    /// The key, as a handle with the blob's permissions.
    pub fn into_key(self) -> Result<Arc<SoftwareKey>, BlobError> {
        SoftwareKey::decoded(self.kind, &self.material, self.permissions)
            .map_err(|e| BlobError::Malformed(e.message().to_owned()))
    }
}

impl fmt::Debug for OpenedBlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenedBlob")
            .field("kind", &self.kind)
            .field("permissions", &self.permissions)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for KeySealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySealer").finish_non_exhaustive()
    }
}

impl fmt::Display for BlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotABlob => f.write_str("not a sealed key blob"),
            Self::UnknownVersion(v) => write!(f, "a sealed key blob of unknown version {v}"),
            Self::Unauthentic => f.write_str(
                "the sealed key blob does not open on this mount: it was sealed on another mount, or altered",
            ),
            Self::Malformed(why) => write!(f, "the sealed key blob is malformed: {why}"),
        }
    }
}

impl std::error::Error for BlobError {}
