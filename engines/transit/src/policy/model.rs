//! The key policy: a named key ring (versions with their sealed key blobs
//! and creation times), the minimum versions that gate its use, and the
//! flags set at creation or through `keys/:name/config`.
//!
//! A version holds no key bytes: its key, and its HMAC key, are blobs the
//! host sealed (`Key::seal`), opened into handles by `crypto.rs`. Only a
//! policy read from storage of release 0.1, or from a backup, carries
//! [`Plain`] material, which `store.rs` moves into blobs before anything
//! uses the policy.
//!
//! Everything here is pure data and rules; persistence is `store.rs`, the
//! per-instance cache `cache.rs`, and the crypto on top `crypto.rs`.

use std::collections::BTreeMap;

use coffer_sdk::clock::Timestamp;
use coffer_sdk::crypto::{self, PublicKeyFormat};
use coffer_sdk::keys::{Key, KeyType, ManagedRef, Permission, PublicKey};
use coffer_sdk::{Error, FieldEnum};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::util::{b64, rfc3339_nanos};

/// The format of stored policies written by this code (see `store.rs`).
pub const FORMAT: u32 = 1;

/// The smallest and largest HMAC key, in bytes (Vault's limits).
pub const HMAC_MIN_KEY_SIZE: u32 = 32;
/// See [`HMAC_MIN_KEY_SIZE`].
pub const HMAC_MAX_KEY_SIZE: u32 = 512;

/// The convergent-encryption scheme of keys made here: version 3, whose
/// nonce is an HMAC-SHA256 of the plaintext under a derived key.
pub const CONVERGENT_VERSION: i64 = 3;

/// A key type, as clients name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, FieldEnum)]
pub enum KeyKind {
    /// AES-128-GCM with 96-bit nonces.
    Aes128Gcm96,
    /// AES-256-GCM with 96-bit nonces (the default).
    Aes256Gcm96,
    /// ChaCha20-Poly1305.
    Chacha20Poly1305,
    /// Ed25519.
    Ed25519,
    /// ECDSA over P-256.
    #[field(rename = "ecdsa-p256")]
    EcdsaP256,
    /// ECDSA over P-384.
    #[field(rename = "ecdsa-p384")]
    EcdsaP384,
    /// ECDSA over P-521.
    #[field(rename = "ecdsa-p521")]
    EcdsaP521,
    /// RSA-2048.
    #[field(rename = "rsa-2048")]
    Rsa2048,
    /// RSA-3072.
    #[field(rename = "rsa-3072")]
    Rsa3072,
    /// RSA-4096.
    #[field(rename = "rsa-4096")]
    Rsa4096,
    /// HMAC only.
    Hmac,
    /// A key held by an HSM or a cloud KMS (`sys/managed-keys`): only a
    /// request's type. The policy is stored with the managed key's own
    /// type (RSA or ECDSA) and `managed` set; each version names its
    /// managed key ([`KeyVersion::managed`]) and holds no blob.
    #[field(rename = "managed_key")]
    ManagedKey,
}

impl KeyKind {
    /// The AEAD of symmetric encryption types.
    pub fn aead(self) -> Option<crypto::AeadAlgorithm> {
        match self {
            Self::Aes128Gcm96 => Some(crypto::AeadAlgorithm::Aes128Gcm),
            Self::Aes256Gcm96 => Some(crypto::AeadAlgorithm::Aes256Gcm),
            Self::Chacha20Poly1305 => Some(crypto::AeadAlgorithm::Chacha20Poly1305),
            _ => None,
        }
    }

    /// Whether the type is a key pair (Ed25519, ECDSA, RSA).
    pub fn is_asymmetric(self) -> bool {
        self.is_rsa() || self.is_ecdsa() || self == Self::Ed25519
    }

    /// The host's key type (`keys.wit`'s names); the managed-keys seam has
    /// none.
    pub fn key_type(self) -> Result<KeyType, Error> {
        Ok(match self {
            Self::Aes128Gcm96 => KeyType::Aes128Gcm96,
            Self::Aes256Gcm96 => KeyType::Aes256Gcm96,
            Self::Chacha20Poly1305 => KeyType::Chacha20Poly1305,
            Self::Ed25519 => KeyType::Ed25519,
            Self::EcdsaP256 => KeyType::EcdsaP256,
            Self::EcdsaP384 => KeyType::EcdsaP384,
            Self::EcdsaP521 => KeyType::EcdsaP521,
            Self::Rsa2048 => KeyType::Rsa2048,
            Self::Rsa3072 => KeyType::Rsa3072,
            Self::Rsa4096 => KeyType::Rsa4096,
            Self::Hmac => KeyType::Hmac,
            Self::ManagedKey => {
                return Err(Self::ManagedKey
                    .check_supported()
                    .err()
                    .unwrap_or_else(|| Error::internal("managed_key")))
            }
        })
    }

    /// Whether the type is RSA.
    pub fn is_rsa(self) -> bool {
        matches!(self, Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096)
    }

    /// Whether the type is ECDSA.
    pub fn is_ecdsa(self) -> bool {
        matches!(self, Self::EcdsaP256 | Self::EcdsaP384 | Self::EcdsaP521)
    }

    /// Vault's `supports_encryption`.
    pub fn supports_encryption(self) -> bool {
        self.aead().is_some() || self.is_rsa()
    }

    /// Vault's `supports_decryption`.
    pub fn supports_decryption(self) -> bool {
        self.supports_encryption()
    }

    /// Vault's `supports_signing`.
    pub fn supports_signing(self) -> bool {
        self.is_rsa() || self.is_ecdsa() || self == Self::Ed25519
    }

    /// Vault's `supports_derivation`.
    pub fn supports_derivation(self) -> bool {
        self.aead().is_some() || self == Self::Ed25519
    }

    /// Whether `associated_data` applies.
    pub fn supports_associated_data(self) -> bool {
        self.aead().is_some()
    }

    /// Whether a public key alone can be imported.
    pub fn supports_public_import(self) -> bool {
        self.is_asymmetric()
    }

    /// The name of the curve or algorithm in a key read (Go's curve names).
    fn public_name(self) -> &'static str {
        match self {
            Self::EcdsaP256 => "P-256",
            Self::EcdsaP384 => "P-384",
            Self::EcdsaP521 => "P-521",
            other => other.as_str(),
        }
    }

    /// Refuses `managed_key` where a key of the host's own is made (a
    /// managed key's policy has its managed key's type).
    pub fn check_supported(self) -> Result<Self, Error> {
        if self == Self::ManagedKey {
            return Err(Error::invalid(
                "a managed_key key is made from a managed key: give managed_key_name or managed_key_id",
            ));
        }
        Ok(self)
    }

    /// The transit type of a host key type (none for types transit has not).
    pub fn of_key_type(key_type: KeyType) -> Option<Self> {
        [
            Self::Aes128Gcm96,
            Self::Aes256Gcm96,
            Self::Chacha20Poly1305,
            Self::Ed25519,
            Self::EcdsaP256,
            Self::EcdsaP384,
            Self::EcdsaP521,
            Self::Rsa2048,
            Self::Rsa3072,
            Self::Rsa4096,
            Self::Hmac,
        ]
        .into_iter()
        .find(|k| k.key_type().ok() == Some(key_type))
    }
}

/// A time with nanoseconds, stored as such.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Time {
    /// Seconds since the epoch.
    pub secs: u64,
    /// Nanoseconds within the second.
    #[serde(default)]
    pub nanos: u32,
}

impl From<Timestamp> for Time {
    fn from(t: Timestamp) -> Self {
        Self {
            secs: t.seconds,
            nanos: t.nanoseconds,
        }
    }
}

/// When a backup or a restore happened, and the latest version then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// When.
    pub time: Time,
    /// The latest version at that time.
    pub version: u32,
}

/// One version of a key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct KeyVersion {
    /// When it was made or imported.
    pub creation_time: Time,
    /// The version's key as the host sealed it (`Key::seal`). Empty for a
    /// version imported as a public key only.
    #[serde(with = "b64", default, skip_serializing_if = "Vec::is_empty")]
    pub blob: Vec<u8>,
    /// The version's HMAC key (`hmac/`, `verify` of an HMAC), sealed.
    /// Empty for `hmac` keys, whose key is their HMAC key.
    #[serde(with = "b64", default, skip_serializing_if = "Vec::is_empty")]
    pub hmac_blob: Vec<u8>,
    /// Key bytes in the clear: only in a policy that release 0.1 stored
    /// and in a backup (see [`Plain`]); empty everywhere else.
    #[serde(flatten, default, skip_serializing_if = "Plain::is_empty")]
    pub plain: Plain,
    /// The public key as a key read shows it: PEM for RSA and ECDSA, base64
    /// for Ed25519; empty for symmetric types.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub public_key: String,
    /// The certificate chain set with `set-certificate`, leaf first, DER.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificate_chain: Vec<B64Bytes>,
    /// The convergent scheme (0 when not convergent).
    #[serde(default)]
    pub convergent_version: i64,
    /// The managed key this version is (a `managed_key` key's versions);
    /// its private half stays in the HSM or KMS, so `blob` is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<ManagedRef>,
}

/// A version's key bytes in the clear, as contract 0.1's transit stored
/// them and as a backup carries them: `store::migrate` imports them into
/// the host and keeps only sealed blobs, so a policy in use never holds
/// them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Plain {
    /// The AEAD or HMAC key; for Ed25519 its 64 bytes (seed then public
    /// key, as Vault keeps them) or PKCS#8 DER; PKCS#8 DER for RSA and
    /// ECDSA.
    #[serde(with = "b64", default, skip_serializing_if = "Vec::is_empty")]
    pub key: Vec<u8>,
    /// The version's HMAC key (equal to `key` for `hmac` keys).
    #[serde(with = "b64", default, skip_serializing_if = "Vec::is_empty")]
    pub hmac_key: Vec<u8>,
}

impl Plain {
    /// Whether it holds nothing (the case of every policy in use).
    pub fn is_empty(&self) -> bool {
        self.key.is_empty() && self.hmac_key.is_empty()
    }
}

/// Bytes stored as base64.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct B64Bytes(#[serde(with = "b64")] pub Vec<u8>);

impl std::fmt::Debug for KeyVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyVersion")
            .field("creation_time", &self.creation_time)
            .field("has_private", &!self.is_private_missing())
            .finish_non_exhaustive()
    }
}

impl KeyVersion {
    /// Whether this version has no private key (an imported public key).
    pub fn is_private_missing(&self) -> bool {
        self.blob.is_empty() && self.plain.key.is_empty() && self.managed.is_none()
    }
}

/// A named key: its versions and its configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// The stored format (see `store.rs`).
    #[serde(default)]
    pub format: u32,
    /// The key's name.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: KeyKind,
    /// Whether every use needs a `context` to derive the key from.
    #[serde(default)]
    pub derived: bool,
    /// Whether encryption is deterministic per (plaintext, context).
    #[serde(default)]
    pub convergent_encryption: bool,
    /// The policy-level convergent version (-1: per version, as Vault).
    #[serde(default)]
    pub convergent_version: i64,
    /// Whether the key may be exported (one-way).
    #[serde(default)]
    pub exportable: bool,
    /// Whether the key may be deleted.
    #[serde(default)]
    pub deletion_allowed: bool,
    /// Whether a plaintext backup may be taken (one-way).
    #[serde(default)]
    pub allow_plaintext_backup: bool,
    /// The oldest version allowed to decrypt, verify or check an HMAC.
    pub min_decryption_version: u32,
    /// The oldest version allowed to encrypt, sign or make an HMAC (0: any).
    #[serde(default)]
    pub min_encryption_version: u32,
    /// The oldest version kept (0: never trimmed).
    #[serde(default)]
    pub min_available_version: u32,
    /// The newest version.
    pub latest_version: u32,
    /// Seconds between automatic rotations (0: never).
    #[serde(default)]
    pub auto_rotate_period: u64,
    /// The HMAC key size in bytes for `hmac` keys (0 otherwise).
    #[serde(default)]
    pub key_size: u32,
    /// Whether the material came from outside.
    #[serde(default)]
    pub imported: bool,
    /// Whether an imported key may be rotated here.
    #[serde(default)]
    pub allow_imported_key_rotation: bool,
    /// The last backup.
    #[serde(default)]
    pub backup_info: Option<Stamp>,
    /// The restore this key came from.
    #[serde(default)]
    pub restore_info: Option<Stamp>,
    /// Every kept version.
    pub versions: BTreeMap<u32, KeyVersion>,
    /// Whether it is a `managed_key` key (its versions are managed keys).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub managed: bool,
}

/// What a new key is made with.
#[derive(Debug, Clone, Default)]
pub struct NewKey {
    /// Derived.
    pub derived: bool,
    /// Convergent.
    pub convergent: bool,
    /// Exportable.
    pub exportable: bool,
    /// Plaintext backups allowed.
    pub allow_plaintext_backup: bool,
    /// Auto-rotation period in seconds.
    pub auto_rotate_period: u64,
    /// HMAC key size (0: default 32).
    pub key_size: u32,
}

impl Policy {
    /// A policy with no versions yet, after checking the combination.
    pub fn new(name: &str, kind: KeyKind, opts: &NewKey) -> Result<Self, Error> {
        kind.check_supported()?;
        if opts.auto_rotate_period != 0 && opts.auto_rotate_period < 3600 {
            return Err(Error::invalid(
                "auto rotate period must be 0 to disable or at least an hour",
            ));
        }
        if opts.convergent && !opts.derived {
            return Err(Error::invalid(
                "convergent encryption requires derivation to be enabled",
            ));
        }
        if opts.derived && !kind.supports_derivation() {
            return Err(Error::invalid(format!(
                "key derivation and convergent encryption not supported for keys of type {kind}"
            )));
        }
        if opts.convergent && kind.aead().is_none() {
            return Err(Error::invalid(format!(
                "convergent encryption not supported for keys of type {kind}"
            )));
        }
        let mut key_size = 0;
        if opts.key_size != 0 {
            if kind != KeyKind::Hmac {
                return Err(Error::invalid(format!(
                    "key_size is not valid for algorithm {kind}"
                )));
            }
            if !(HMAC_MIN_KEY_SIZE..=HMAC_MAX_KEY_SIZE).contains(&opts.key_size) {
                return Err(Error::invalid(format!(
                    "invalid key_size {}: it must be between {HMAC_MIN_KEY_SIZE} and {HMAC_MAX_KEY_SIZE} bytes",
                    opts.key_size
                )));
            }
            key_size = opts.key_size;
        } else if kind == KeyKind::Hmac {
            key_size = HMAC_MIN_KEY_SIZE;
        }
        Ok(Self {
            format: FORMAT,
            name: name.to_owned(),
            kind,
            derived: opts.derived,
            convergent_encryption: opts.convergent,
            convergent_version: if opts.convergent { -1 } else { 0 },
            exportable: opts.exportable,
            deletion_allowed: false,
            allow_plaintext_backup: opts.allow_plaintext_backup,
            min_decryption_version: 1,
            min_encryption_version: 0,
            min_available_version: 0,
            latest_version: 0,
            auto_rotate_period: opts.auto_rotate_period,
            key_size,
            imported: false,
            allow_imported_key_rotation: false,
            backup_info: None,
            restore_info: None,
            versions: BTreeMap::new(),
            managed: false,
        })
    }

    /// The permissions of this key's handles: `export` when exportable,
    /// `plaintext-backup` when plaintext backups are allowed.
    pub fn permissions(&self) -> Vec<Permission> {
        let mut permissions = Vec::new();
        if self.exportable {
            permissions.push(Permission::Export);
        }
        if self.allow_plaintext_backup {
            permissions.push(Permission::PlaintextBackup);
        }
        permissions
    }

    /// Adds a version generated by the host (creation and `rotate`); a
    /// 400, before any key is generated, when the key has no version
    /// number left.
    pub fn rotate(&mut self, now: Timestamp) -> Result<(), Error> {
        if self.managed {
            return Err(Error::invalid(format!(
                "key {:?} is a managed_key key: it rotates onto another managed key, named by managed_key_name or managed_key_id",
                self.name
            )));
        }
        let kind = self.kind.check_supported()?;
        self.next_version()?;
        let permissions = self.permissions();
        let size = (kind == KeyKind::Hmac).then_some(if self.key_size == 0 {
            HMAC_MIN_KEY_SIZE
        } else {
            self.key_size
        });
        let key = Key::generate(kind.key_type()?, size, &permissions)?;
        let mut version = self.new_version(now, &key)?;
        if self.convergent_encryption {
            version.convergent_version = CONVERGENT_VERSION;
        }
        self.push_version(version)
    }

    /// Adds a version that is the managed key `reference` names (creation
    /// of a `managed_key` key, and its rotations): it must have this
    /// policy's type.
    pub fn push_managed(
        &mut self,
        now: Timestamp,
        key: &Key,
        reference: ManagedRef,
    ) -> Result<(), Error> {
        self.next_version()?;
        let kind = KeyKind::of_key_type(key.key_type()?)
            .filter(|k| k.is_rsa() || k.is_ecdsa())
            .ok_or_else(|| {
                Error::invalid("a managed key for transit must be an RSA or ECDSA key")
            })?;
        if kind != self.kind {
            return Err(Error::invalid(format!(
                "managed key {:?} is {kind}, but key {:?} is {}",
                reference.value(),
                self.name,
                self.kind
            )));
        }
        let version = KeyVersion {
            creation_time: now.into(),
            hmac_blob: new_hmac_key(&self.permissions())?.seal()?,
            public_key: public_text(kind, &key.public_key()?)?,
            managed: Some(reference),
            ..KeyVersion::default()
        };
        self.push_version(version)
    }

    /// What a key read shows as its type: `managed_key`, or its own.
    pub fn type_name(&self) -> &'static str {
        if self.managed {
            KeyKind::ManagedKey.as_str()
        } else {
            self.kind.as_str()
        }
    }

    /// Refuses what a `managed_key` key cannot do: `what` needs key
    /// bytes, which never leave the HSM or KMS.
    pub fn check_not_managed(&self, what: &str) -> Result<(), Error> {
        if self.managed {
            return Err(Error::invalid(format!(
                "key {:?} is a managed_key key: {what} is not possible, its private key never leaves its HSM or KMS",
                self.name
            )));
        }
        Ok(())
    }

    /// A version holding `key` (generated or imported here, with this
    /// policy's permissions): its blob, a new HMAC key's blob unless the
    /// key is an HMAC key itself, and the public key a key read shows.
    pub fn new_version(&self, now: Timestamp, key: &Key) -> Result<KeyVersion, Error> {
        let mut version = KeyVersion {
            creation_time: now.into(),
            blob: key.seal()?,
            ..KeyVersion::default()
        };
        if self.kind != KeyKind::Hmac {
            version.hmac_blob = new_hmac_key(&self.permissions())?.seal()?;
        }
        if self.kind.is_asymmetric() {
            version.public_key = public_text(self.kind, &key.public_key()?)?;
        }
        Ok(version)
    }

    /// The number the next version would get: a 400 when the latest is
    /// already `u32::MAX` (a restored key can be there), since there is
    /// no number left to give it.
    pub fn next_version(&self) -> Result<u32, Error> {
        self.latest_version.checked_add(1).ok_or_else(|| {
            Error::invalid(format!(
                "key {:?} is at version {}, the largest there is: no version can be added",
                self.name, self.latest_version
            ))
        })
    }

    /// Appends `version` as the new latest version (a 400, changing
    /// nothing, when there is no number left; see [`Policy::next_version`]).
    pub fn push_version(&mut self, version: KeyVersion) -> Result<(), Error> {
        let next = self.next_version()?;
        self.latest_version = next;
        self.versions.insert(next, version);
        if self.min_decryption_version == 0 {
            self.min_decryption_version = 1;
        }
        Ok(())
    }

    /// The version, if kept.
    pub fn version(&self, v: u32) -> Result<&KeyVersion, Error> {
        self.versions
            .get(&v)
            .ok_or_else(|| Error::invalid(format!("no such key version: {v}")))
    }

    /// The version to encrypt, sign or make an HMAC with: `requested`
    /// (0 is the latest), checked against the key's bounds.
    pub fn encryption_version(&self, requested: u32, what: &str) -> Result<u32, Error> {
        let v = if requested == 0 {
            self.latest_version
        } else {
            requested
        };
        if v > self.latest_version {
            return Err(Error::invalid(format!(
                "requested version for {what} is higher than the latest key version"
            )));
        }
        if self.min_encryption_version > 0 && v < self.min_encryption_version {
            return Err(Error::invalid(format!(
                "requested version for {what} is less than the minimum encryption key version"
            )));
        }
        if v < self.min_available_version {
            return Err(Error::invalid(format!(
                "requested version for {what} has been trimmed"
            )));
        }
        Ok(v)
    }

    /// Checks a version read from a ciphertext or signature (`what`:
    /// "ciphertext", "signature" or "HMAC").
    pub fn decryption_version(&self, v: u32, what: &str) -> Result<u32, Error> {
        // Version 0 was the first version of the earliest Vault releases.
        let v = v.max(1);
        if v > self.latest_version {
            return Err(Error::invalid(format!(
                "invalid {what}: version is too new"
            )));
        }
        if self.min_decryption_version > 0 && v < self.min_decryption_version {
            return Err(Error::invalid(
                "ciphertext or signature version is disallowed by policy (too old)",
            ));
        }
        Ok(v)
    }

    /// The sealed HMAC key of version `v` (the key itself for `hmac`
    /// keys).
    pub fn hmac_blob(&self, v: u32) -> Result<&[u8], Error> {
        let version = self.versions.get(&v).ok_or_else(|| {
            Error::invalid(format!(
                "key version does not exist; latest key version is {}",
                self.latest_version
            ))
        })?;
        let blob = if self.kind == KeyKind::Hmac {
            &version.blob
        } else {
            &version.hmac_blob
        };
        if blob.is_empty() {
            return Err(Error::invalid("no HMAC key exists for that key version"));
        }
        Ok(blob)
    }

    /// Whether the key may be rotated here.
    pub fn check_rotatable(&self) -> Result<(), Error> {
        if self.imported && !self.allow_imported_key_rotation {
            return Err(Error::invalid(format!(
                "imported key {} does not allow rotation within Vault",
                self.name
            )));
        }
        Ok(())
    }

    /// The key read response (Vault's shape). `derived_public` holds, per
    /// version, the public key of a derived Ed25519 key for the read's
    /// context (see `Loaded::to_response`).
    pub fn to_response(
        &self,
        derived_public: Option<&BTreeMap<u32, String>>,
    ) -> Result<Value, Error> {
        let kind = self.kind;
        let mut data = json!({
            "name": self.name,
            "type": self.type_name(),
            "derived": self.derived,
            "deletion_allowed": self.deletion_allowed,
            "min_available_version": self.min_available_version,
            "min_decryption_version": self.min_decryption_version,
            "min_encryption_version": self.min_encryption_version,
            "latest_version": self.latest_version,
            "exportable": self.exportable,
            "allow_plaintext_backup": self.allow_plaintext_backup,
            "supports_encryption": kind.supports_encryption(),
            "supports_decryption": kind.supports_decryption(),
            "supports_signing": kind.supports_signing(),
            "supports_derivation": kind.supports_derivation(),
            "auto_rotate_period": self.auto_rotate_period,
            "imported_key": self.imported,
        });
        let Value::Object(map) = &mut data else {
            return Err(Error::internal("key response is not an object"));
        };
        if self.key_size != 0 {
            map.insert("key_size".into(), json!(self.key_size));
        }
        if self.imported {
            map.insert(
                "imported_key_allow_rotation".into(),
                json!(self.allow_imported_key_rotation),
            );
        }
        for (field, stamp) in [
            ("backup_info", &self.backup_info),
            ("restore_info", &self.restore_info),
        ] {
            if let Some(s) = stamp {
                map.insert(
                    field.into(),
                    json!({"time": rfc3339_nanos(s.time), "version": s.version}),
                );
            }
        }
        if self.derived {
            map.insert("kdf".into(), json!("hkdf_sha256"));
            map.insert(
                "convergent_encryption".into(),
                json!(self.convergent_encryption),
            );
            if self.convergent_encryption {
                map.insert(
                    "convergent_encryption_version".into(),
                    json!(self.convergent_version),
                );
            }
        }
        let shown = self
            .versions
            .iter()
            .filter(|(v, _)| **v >= self.min_decryption_version);
        let mut keys = Map::new();
        if kind.is_asymmetric() {
            for (v, version) in shown {
                let mut public_key = version.public_key.clone();
                if kind == KeyKind::Ed25519 && self.derived {
                    public_key = derived_public
                        .and_then(|keys| keys.get(v))
                        .cloned()
                        .unwrap_or_default();
                }
                let chain = version
                    .certificate_chain
                    .iter()
                    .map(|der| {
                        crate::util::pem("CERTIFICATE", &der.0)
                            .trim_end()
                            .to_owned()
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                let mut shown = json!({
                    "name": kind.public_name(),
                    "public_key": public_key,
                    "certificate_chain": chain,
                    "creation_time": rfc3339_nanos(version.creation_time),
                });
                if let Some(reference) = &version.managed {
                    shown[reference.field()] = json!(reference.value());
                }
                keys.insert(v.to_string(), shown);
            }
        } else {
            for (v, version) in shown {
                keys.insert(v.to_string(), json!(version.creation_time.secs));
            }
        }
        map.insert("keys".into(), Value::Object(keys));
        Ok(data)
    }
}

/// A new per-version HMAC key (32 bytes, as Vault's) with `permissions`.
pub fn new_hmac_key(permissions: &[Permission]) -> Result<Key, Error> {
    Key::generate(KeyType::Hmac, Some(HMAC_MIN_KEY_SIZE), permissions)
}

/// The public key as a key read shows it: base64 of the raw key for
/// Ed25519, SubjectPublicKeyInfo PEM for RSA and ECDSA.
pub fn public_text(kind: KeyKind, public: &PublicKey) -> Result<String, Error> {
    if kind == KeyKind::Ed25519 {
        Ok(b64::encode(&public.export(PublicKeyFormat::Raw)?))
    } else {
        public_pem(public)
    }
}

/// The PEM a key read shows for an RSA or ECDSA public key.
pub fn public_pem(public: &PublicKey) -> Result<String, Error> {
    let der = public.export(PublicKeyFormat::SpkiDer)?;
    Ok(crate::util::pem("PUBLIC KEY", &der))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_key_rules() {
        let opts = |f: fn(&mut NewKey)| {
            let mut o = NewKey::default();
            f(&mut o);
            o
        };
        assert!(Policy::new("k", KeyKind::Aes256Gcm96, &opts(|o| o.convergent = true)).is_err());
        assert!(Policy::new("k", KeyKind::EcdsaP256, &opts(|o| o.derived = true)).is_err());
        assert!(Policy::new("k", KeyKind::Hmac, &opts(|o| o.key_size = 16)).is_err());
        assert!(Policy::new("k", KeyKind::Aes256Gcm96, &opts(|o| o.key_size = 32)).is_err());
        assert!(Policy::new(
            "k",
            KeyKind::Aes256Gcm96,
            &opts(|o| o.auto_rotate_period = 60)
        )
        .is_err());
        assert_eq!(
            Policy::new("k", KeyKind::ManagedKey, &NewKey::default()).map(|_| ()),
            KeyKind::ManagedKey.check_supported().map(|_| ())
        );
        let p = Policy::new("k", KeyKind::Hmac, &NewKey::default()).unwrap();
        assert_eq!(p.key_size, 32);
    }

    #[test]
    fn versions_are_bounded() {
        let mut p = Policy::new("k", KeyKind::Aes256Gcm96, &NewKey::default()).unwrap();
        let now = Timestamp::from_secs(10);
        p.rotate(now).unwrap();
        p.rotate(now).unwrap();
        assert_eq!(p.latest_version, 2);
        assert_eq!(p.encryption_version(0, "encryption").unwrap(), 2);
        assert!(p.encryption_version(3, "encryption").is_err());
        p.min_decryption_version = 2;
        assert!(p.decryption_version(1, "ciphertext").is_err());
        assert_eq!(p.decryption_version(2, "ciphertext").unwrap(), 2);
        // Blobs only: no key bytes in the policy.
        assert!(p.versions[&1].plain.is_empty());
        assert!(!p.versions[&1].blob.is_empty());
        assert!(!p.versions[&1].hmac_blob.is_empty());
        assert_ne!(p.versions[&1].blob, p.versions[&2].blob);
    }
}
