//! The cryptography on top of a policy, all of it through key handles
//! the host holds (`coffer_sdk::keys`): AEAD (a batch in one host call per
//! key), RSA-OAEP, derivation (`Key::derive`: HKDF-SHA256 with the
//! context as info, Vault's current KDF), convergent nonces (version 3:
//! the derived key's `hmac` of the plaintext), signatures and HMACs.
//!
//! A [`Loaded`] opens each version's blobs into handles on first use and
//! keeps them as long as it lives (the per-instance cache keeps it while
//! the stored policy is unchanged: `cache.rs`).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use coffer_sdk::crypto::{
    self, HashAlgorithm, PublicKeyFormat, RsaPadding, SignOptions, SignatureEncoding,
};
use coffer_sdk::keys::{AeadItem, Key, Permission, PublicKey};
use coffer_sdk::Error;

use super::model::{public_text, KeyKind, Policy};
use crate::util::{
    b64, decode_b64, decode_b64url, encode_b64url, push_version_prefix, split_versioned,
    version_prefix,
};

/// AEAD nonces and tags.
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Which of a version's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    /// The version's key.
    Key,
    /// Its HMAC key (the key itself for `hmac` keys).
    Hmac,
}

/// A policy ready for use: the parsed record, and each version's handles,
/// opened from its blobs on first use and kept.
#[derive(Debug)]
pub struct Loaded {
    /// The policy.
    pub policy: Policy,
    keys: RefCell<BTreeMap<(u32, Slot), Rc<Key>>>,
    publics: RefCell<BTreeMap<u32, Rc<PublicKey>>>,
}

/// One plaintext to encrypt.
#[derive(Debug, Clone, Copy)]
pub struct ToEncrypt<'a> {
    /// The version (already checked).
    pub version: u32,
    /// The derivation context (derived keys).
    pub context: &'a [u8],
    /// The plaintext.
    pub plaintext: &'a [u8],
    /// Associated data (AEAD keys).
    pub aad: &'a [u8],
}

/// One ciphertext to decrypt.
#[derive(Debug, Clone, Copy)]
pub struct ToDecrypt<'a> {
    /// The `vault:vN:` ciphertext.
    pub ciphertext: &'a str,
    /// The derivation context (derived keys).
    pub context: &'a [u8],
    /// Associated data (AEAD keys).
    pub aad: &'a [u8],
}

/// An AEAD item to decrypt and its index in the request.
type Indexed = (usize, AeadItem);

/// An AEAD item on its way to the host, and where its result goes.
struct Pending {
    index: usize,
    version: u32,
    nonce: [u8; NONCE_LEN],
}

impl Loaded {
    /// Wraps a policy (already migrated: see `store::migrate`); handles
    /// are opened lazily.
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            keys: RefCell::new(BTreeMap::new()),
            publics: RefCell::new(BTreeMap::new()),
        }
    }

    fn open(&self, v: u32, slot: Slot) -> Result<Rc<Key>, Error> {
        if let Some(k) = self.keys.borrow().get(&(v, slot)) {
            return Ok(Rc::clone(k));
        }
        let p = &self.policy;
        let blob = match slot {
            Slot::Key => {
                let version = p.version(v)?;
                if let Some(reference) = &version.managed {
                    let key = Rc::new(reference.open()?);
                    self.keys.borrow_mut().insert((v, slot), Rc::clone(&key));
                    return Ok(key);
                }
                if version.blob.is_empty() {
                    return Err(Error::invalid(format!(
                        "key version {v} does not have a private counterpart"
                    )));
                }
                &version.blob
            }
            Slot::Hmac => p.hmac_blob(v)?,
        };
        let key = Rc::new(Key::open(blob)?);
        self.keys.borrow_mut().insert((v, slot), Rc::clone(&key));
        Ok(key)
    }

    /// Version `v`'s key; a 400 for a version imported as a public key.
    pub fn key(&self, v: u32) -> Result<Rc<Key>, Error> {
        self.open(v, Slot::Key)
    }

    /// Version `v`'s HMAC key.
    pub fn hmac_key(&self, v: u32) -> Result<Rc<Key>, Error> {
        self.open(v, Slot::Hmac)
    }

    /// Whether version `v` has a private key.
    pub fn has_private(&self, v: u32) -> Result<bool, Error> {
        Ok(!self.policy.version(v)?.is_private_missing())
    }

    /// Version `v`'s public key (asymmetric types): its key's public half,
    /// or the public key imported alone.
    pub fn public(&self, v: u32) -> Result<Rc<PublicKey>, Error> {
        if let Some(k) = self.publics.borrow().get(&v) {
            return Ok(Rc::clone(k));
        }
        let p = &self.policy;
        if !p.kind.is_asymmetric() {
            return Err(Error::invalid(format!(
                "key type {} has no public key",
                p.kind
            )));
        }
        let public = if self.has_private(v)? {
            self.key(v)?.public_key()?
        } else {
            let text = &p.version(v)?.public_key;
            let encoded = if p.kind == KeyKind::Ed25519 {
                // Raw Ed25519 keys are imported as SubjectPublicKeyInfo.
                let raw = decode_b64(text).map_err(Error::internal)?;
                ed25519_spki(&raw)
            } else {
                text.clone().into_bytes()
            };
            PublicKey::import(p.kind.key_type()?, &encoded)?
        };
        let public = Rc::new(public);
        self.publics.borrow_mut().insert(v, Rc::clone(&public));
        Ok(public)
    }

    /// The policy with `permission` added to every version's handles, as
    /// new blobs (`keys/:name/config` turning `exportable` or
    /// `allow_plaintext_backup` on).
    pub fn permitted(&self, permission: Permission) -> Result<Policy, Error> {
        let mut policy = self.policy.clone();
        for (v, version) in policy.versions.iter_mut() {
            if !version.blob.is_empty() {
                version.blob = self.key(*v)?.permit(permission)?.seal()?;
            }
            if !version.hmac_blob.is_empty() {
                version.hmac_blob = self.hmac_key(*v)?.permit(permission)?.seal()?;
            }
        }
        Ok(policy)
    }

    /// The key read response; `context` derives the public keys of a
    /// derived Ed25519 key.
    pub fn to_response(&self, context: Option<&[u8]>) -> Result<serde_json::Value, Error> {
        let p = &self.policy;
        let mut derived = BTreeMap::new();
        if let Some(context) = context.filter(|c| !c.is_empty()) {
            if p.kind == KeyKind::Ed25519 && p.derived {
                for v in p
                    .versions
                    .keys()
                    .filter(|v| **v >= p.min_decryption_version)
                {
                    let public = self.key(*v)?.derive(context)?.public_key()?;
                    derived.insert(*v, public_text(p.kind, &public)?);
                }
            }
        }
        p.to_response(Some(&derived))
    }

    /// The key an AEAD item of version `v` uses: the version's, or the one
    /// derived for `context`.
    fn aead_key(&self, v: u32, context: &[u8]) -> Result<Rc<Key>, Error> {
        let key = self.key(v)?;
        if self.policy.derived {
            check_context(context)?;
            return Ok(Rc::new(key.derive(context)?));
        }
        Ok(key)
    }

    /// Encrypts each item, in order: AEAD items go to the host in one
    /// `encrypt_batch` per key (version and context), RSA items one by
    /// one. `nonces` gives the random nonces of keys that are not
    /// convergent.
    pub fn encrypt_all(
        &self,
        items: &[ToEncrypt<'_>],
        nonces: &mut Nonces,
    ) -> Vec<Result<String, Error>> {
        let p = &self.policy;
        if p.kind.aead().is_none() {
            return items.iter().map(|item| self.encrypt_rsa(item)).collect();
        }
        let mut results: Vec<Result<String, Error>> = items
            .iter()
            .map(|_| Err(Error::internal("item not encrypted")))
            .collect();
        let mut groups: BTreeMap<(u32, &[u8]), Vec<usize>> = BTreeMap::new();
        for (i, item) in items.iter().enumerate() {
            let context: &[u8] = if p.derived { item.context } else { &[] };
            groups.entry((item.version, context)).or_default().push(i);
        }
        for ((v, context), indexes) in groups {
            let key = match self.aead_key(v, context) {
                Ok(key) => key,
                Err(e) => {
                    for i in indexes {
                        if let Some(slot) = results.get_mut(i) {
                            *slot = Err(e.clone());
                        }
                    }
                    continue;
                }
            };
            let mut pending = Vec::with_capacity(indexes.len());
            let mut batch = Vec::with_capacity(indexes.len());
            for i in indexes {
                let Some(item) = items.get(i) else { continue };
                let nonce = if p.convergent_encryption {
                    convergent_nonce(&key, item.plaintext)
                } else {
                    nonces.next()
                };
                match nonce {
                    Ok(nonce) => {
                        batch.push(AeadItem {
                            data: item.plaintext.to_vec(),
                            nonce: nonce.to_vec(),
                            aad: item.aad.to_vec(),
                        });
                        pending.push(Pending {
                            index: i,
                            version: v,
                            nonce,
                        });
                    }
                    Err(e) => {
                        if let Some(slot) = results.get_mut(i) {
                            *slot = Err(e);
                        }
                    }
                }
            }
            // One item (the single request) needs no list.
            let sealed = match batch.as_slice() {
                [one] => vec![key.encrypt(&one.data, &one.nonce, &one.aad)],
                _ => key.encrypt_batch(&batch),
            };
            for (item, sealed) in pending.into_iter().zip(sealed) {
                let Some(slot) = results.get_mut(item.index) else {
                    continue;
                };
                *slot = sealed.map(|sealed| {
                    // base64(nonce ‖ sealed) is base64(nonce) ‖ base64(sealed):
                    // the 12-byte nonce encodes to 16 characters, no padding.
                    let mut out =
                        String::with_capacity(32 + 4 * (NONCE_LEN + sealed.len()).div_ceil(3));
                    push_version_prefix(&mut out, item.version);
                    b64::encode_into(&item.nonce, &mut out);
                    b64::encode_into(&sealed, &mut out);
                    out
                });
            }
        }
        results
    }

    /// Encrypts one plaintext (see [`Loaded::encrypt_all`]).
    pub fn encrypt(&self, item: ToEncrypt<'_>, nonces: &mut Nonces) -> Result<String, Error> {
        self.encrypt_all(&[item], nonces)
            .pop()
            .unwrap_or_else(|| Err(Error::internal("no encryption result")))
    }

    fn encrypt_rsa(&self, item: &ToEncrypt<'_>) -> Result<String, Error> {
        let p = &self.policy;
        if !p.kind.is_rsa() {
            return Err(Error::invalid(format!(
                "message encryption not supported for key type {}",
                p.kind
            )));
        }
        let public = self.public(item.version)?;
        let sealed = public.encrypt_oaep(item.plaintext, HashAlgorithm::Sha256, None)?;
        let mut out = version_prefix(item.version);
        out.push_str(&b64::encode(&sealed));
        Ok(out)
    }

    /// Decrypts each `vault:vN:` ciphertext, in order, returning its
    /// plaintext and version: AEAD items in one `decrypt_batch` per key.
    /// Never returns plaintext whose authentication failed.
    pub fn decrypt_all(&self, items: &[ToDecrypt<'_>]) -> Vec<Result<(Vec<u8>, u32), Error>> {
        let p = &self.policy;
        if !p.kind.supports_decryption() {
            let e = Error::invalid(format!(
                "message decryption not supported for key type {}",
                p.kind
            ));
            return items.iter().map(|_| Err(e.clone())).collect();
        }
        if p.kind.aead().is_none() {
            return items.iter().map(|item| self.decrypt_rsa(item)).collect();
        }
        let mut results: Vec<Result<(Vec<u8>, u32), Error>> = items
            .iter()
            .map(|_| Err(Error::internal("item not decrypted")))
            .collect();
        let mut groups: BTreeMap<(u32, &[u8]), Vec<Indexed>> = BTreeMap::new();
        for (i, item) in items.iter().enumerate() {
            match self.parse_aead(item) {
                Ok((v, aead)) => {
                    let context: &[u8] = if p.derived { item.context } else { &[] };
                    groups.entry((v, context)).or_default().push((i, aead));
                }
                Err(e) => {
                    if let Some(slot) = results.get_mut(i) {
                        *slot = Err(e);
                    }
                }
            }
        }
        for ((v, context), group) in groups {
            let (indexes, batch): (Vec<usize>, Vec<AeadItem>) = group.into_iter().unzip();
            let opened: Vec<Result<Vec<u8>, Error>> = match self.aead_key(v, context) {
                Ok(key) => match batch.as_slice() {
                    [one] => vec![key.decrypt(&one.data, &one.nonce, &one.aad)],
                    _ => key.decrypt_batch(&batch),
                }
                .into_iter()
                .map(|r| {
                    r.map_err(|e| match e {
                        Error::InvalidRequest(_) => {
                            Error::invalid("cipher: message authentication failed")
                        }
                        other => other,
                    })
                })
                .collect(),
                Err(e) => batch.iter().map(|_| Err(e.clone())).collect(),
            };
            for (i, plain) in indexes.into_iter().zip(opened) {
                if let Some(slot) = results.get_mut(i) {
                    *slot = plain.map(|plain| (plain, v));
                }
            }
        }
        results
    }

    /// Decrypts one ciphertext (see [`Loaded::decrypt_all`]).
    #[cfg(test)]
    pub fn decrypt(
        &self,
        ciphertext: &str,
        context: &[u8],
        aad: &[u8],
    ) -> Result<(Vec<u8>, u32), Error> {
        self.decrypt_all(&[ToDecrypt {
            ciphertext,
            context,
            aad,
        }])
        .pop()
        .unwrap_or_else(|| Err(Error::internal("no decryption result")))
    }

    /// Parses an AEAD ciphertext into its version and host item.
    fn parse_aead(&self, item: &ToDecrypt<'_>) -> Result<(u32, AeadItem), Error> {
        let p = &self.policy;
        let (v, decoded) = self.parse_ciphertext(item.ciphertext)?;
        p.version(v)?;
        if decoded.len() < NONCE_LEN + TAG_LEN {
            return Err(Error::invalid("invalid ciphertext length"));
        }
        if p.derived {
            check_context(item.context)?;
        }
        let (nonce, sealed) = decoded.split_at(NONCE_LEN);
        Ok((
            v,
            AeadItem {
                data: sealed.to_vec(),
                nonce: nonce.to_vec(),
                aad: item.aad.to_vec(),
            },
        ))
    }

    fn parse_ciphertext(&self, ciphertext: &str) -> Result<(u32, Vec<u8>), Error> {
        let (v, body) = split_versioned(ciphertext, "ciphertext")?;
        let v = self.policy.decryption_version(v, "ciphertext")?;
        let decoded = decode_b64(body)
            .map_err(|_| Error::invalid("invalid ciphertext: could not decode base64"))?;
        Ok((v, decoded))
    }

    fn decrypt_rsa(&self, item: &ToDecrypt<'_>) -> Result<(Vec<u8>, u32), Error> {
        let (v, decoded) = self.parse_ciphertext(item.ciphertext)?;
        if !self.has_private(v)? {
            return Err(Error::invalid(
                "cannot decrypt ciphertext, key version does not have a private counterpart",
            ));
        }
        let plain = self
            .key(v)?
            .decrypt_oaep(&decoded, HashAlgorithm::Sha256, None)
            .map_err(|e| {
                Error::invalid(format!(
                    "failed to RSA decrypt the ciphertext: {}",
                    e.message()
                ))
            })?;
        Ok((plain, v))
    }

    /// Signs `input` (already hashed as Vault does unless `prehashed`) with
    /// version `v` (already checked). Returns the signature string and, for
    /// derived Ed25519, the derived public key.
    pub fn sign(
        &self,
        v: u32,
        context: &[u8],
        input: &[u8],
        params: &SignParams,
    ) -> Result<(String, Option<String>), Error> {
        let p = &self.policy;
        if !self.has_private(v)? {
            return Err(Error::invalid(
                "requested version for signing does not contain a private part",
            ));
        }
        let options = params.options(p)?;
        let (signature, public) = if p.kind == KeyKind::Ed25519 && p.derived {
            check_context(context)?;
            let key = self.key(v)?.derive(context)?;
            let public = key.public_key()?.export(PublicKeyFormat::Raw)?;
            (key.sign(input, options)?, Some(b64::encode(&public)))
        } else {
            (self.key(v)?.sign(input, options)?, None)
        };
        let mut out = version_prefix(v);
        if params.jws && p.kind.is_ecdsa() {
            out.push_str(&encode_b64url(&signature));
        } else {
            out.push_str(&b64::encode(&signature));
        }
        Ok((out, public))
    }

    /// Verifies a `vault:vN:` signature over `input`.
    pub fn verify(
        &self,
        signature: &str,
        context: &[u8],
        input: &[u8],
        params: &SignParams,
    ) -> Result<bool, Error> {
        let p = &self.policy;
        let (v, body) = split_versioned(signature, "signature")?;
        let v = p.decryption_version(v, "signature")?;
        p.version(v)?;
        let sig = if params.jws && p.kind.is_ecdsa() {
            decode_b64url(body)
        } else {
            decode_b64(body)
        }
        .map_err(|_| Error::invalid("invalid base64 signature value"))?;
        let options = params.options(p)?;
        if p.kind == KeyKind::Ed25519 && p.derived {
            check_context(context)?;
            let key = self.key(v)?.derive(context)?;
            return key.verify(input, &sig, options);
        }
        self.public(v)?.verify(input, &sig, options)
    }

    /// The HMAC of `input` under version `v`'s HMAC key.
    pub fn hmac(&self, v: u32, algorithm: HashAlgorithm, input: &[u8]) -> Result<Vec<u8>, Error> {
        self.hmac_key(v)?.hmac(algorithm, input)
    }
}

/// A convergent nonce: the derived key's HMAC-SHA256 of the plaintext,
/// cut to 12 bytes (Vault's convergent version 3).
fn convergent_nonce(key: &Key, plaintext: &[u8]) -> Result<[u8; NONCE_LEN], Error> {
    let mac = key.hmac(HashAlgorithm::Sha256, plaintext)?;
    mac.get(..NONCE_LEN)
        .and_then(|n| <[u8; NONCE_LEN]>::try_from(n).ok())
        .ok_or_else(|| Error::internal("HMAC-SHA256 is too short for a nonce"))
}

/// SubjectPublicKeyInfo DER of a raw Ed25519 public key (RFC 8410).
pub fn ed25519_spki(raw: &[u8]) -> Vec<u8> {
    const PREFIX: [u8; 12] = [
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    let mut der = PREFIX.to_vec();
    der.extend_from_slice(raw);
    der
}

/// PKCS#8 DER (version 1) of an Ed25519 seed (RFC 8410).
pub fn ed25519_pkcs8(seed: &[u8]) -> Vec<u8> {
    const PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let mut der = PREFIX.to_vec();
    der.extend_from_slice(seed);
    der
}

/// The message Vault gives for a missing derivation context.
pub const MISSING_CONTEXT: &str = "missing 'context' for key derivation; the key was created using a derived key, which means additional, per-request information must be included in order to perform operations with the key";

fn check_context(context: &[u8]) -> Result<(), Error> {
    if context.is_empty() {
        return Err(Error::invalid(MISSING_CONTEXT));
    }
    Ok(())
}

/// RSA-PSS salt lengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Salt {
    /// The longest when signing, any when verifying.
    #[default]
    Auto,
    /// The hash's length.
    Hash,
    /// This many bytes.
    Len(u32),
}

impl Salt {
    /// Parses `auto`, `hash` or an integer, as Vault does.
    pub fn parse(text: &str) -> Result<Self, Error> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(Self::Auto),
            "hash" => Ok(Self::Hash),
            other => match other.parse::<i64>() {
                Ok(0) => Ok(Self::Auto),
                Ok(-1) => Ok(Self::Hash),
                Ok(n) if n > 0 => Ok(Self::Len(u32::try_from(n).unwrap_or(u32::MAX))),
                Ok(n) => Err(Error::invalid(format!("salt length is invalid: {n}"))),
                Err(_) => Err(Error::invalid(format!(
                    "salt length neither 'auto', 'hash', nor an int: {text}"
                ))),
            },
        }
    }
}

/// How to sign or verify.
#[derive(Debug, Clone, Copy)]
pub struct SignParams {
    /// The hash (none only for RSA PKCS#1 v1.5 over prehashed input).
    pub hash: Option<HashAlgorithm>,
    /// The input is already the digest.
    pub prehashed: bool,
    /// RSA padding.
    pub padding: RsaPadding,
    /// RSA-PSS salt.
    pub salt: Salt,
    /// ECDSA signatures as JWS (`r || s`, base64url).
    pub jws: bool,
}

impl SignParams {
    fn options(&self, p: &Policy) -> Result<SignOptions, Error> {
        let mut salt_length = None;
        if p.kind.is_rsa() && self.padding == RsaPadding::Pss {
            let hash = self.hash.unwrap_or(HashAlgorithm::Sha256);
            let bits: usize = match p.kind {
                KeyKind::Rsa2048 => 2048,
                KeyKind::Rsa3072 => 3072,
                _ => 4096,
            };
            let max = (bits - 1).div_ceil(8).saturating_sub(2 + hash.output_len());
            salt_length = match self.salt {
                Salt::Auto => None,
                Salt::Hash => Some(u32::try_from(hash.output_len()).unwrap_or(u32::MAX)),
                Salt::Len(n) => {
                    if usize::try_from(n).map_or(true, |n| n > max) {
                        return Err(Error::invalid(format!(
                            "requested salt length {n} is invalid"
                        )));
                    }
                    Some(n)
                }
            };
        }
        Ok(SignOptions {
            hash: self.hash,
            prehashed: self.prehashed,
            padding: self.padding,
            salt_length,
            encoding: if self.jws {
                SignatureEncoding::Fixed
            } else {
                SignatureEncoding::Asn1
            },
        })
    }
}

/// A pool of random nonces for a batch: one host call for many items.
#[derive(Debug)]
pub struct Nonces {
    buf: Vec<u8>,
    at: usize,
    remaining: usize,
}

impl Nonces {
    /// Nonces for up to `count` encryptions.
    pub fn new(count: usize) -> Self {
        Self {
            buf: Vec::new(),
            at: 0,
            remaining: count,
        }
    }

    /// The next nonce.
    pub fn next(&mut self) -> Result<[u8; NONCE_LEN], Error> {
        if self.at + NONCE_LEN > self.buf.len() {
            // At most 64 Ki nonces (768 KiB) per host call.
            let count = self.remaining.clamp(1, 65_536);
            self.buf = crypto::random_bytes(u32::try_from(count * NONCE_LEN).unwrap_or(12))?;
            self.at = 0;
        }
        let mut nonce = [0u8; NONCE_LEN];
        let chunk = self
            .buf
            .get(self.at..self.at + NONCE_LEN)
            .ok_or_else(|| Error::internal("nonce pool exhausted"))?;
        nonce.copy_from_slice(chunk);
        self.at += NONCE_LEN;
        self.remaining = self.remaining.saturating_sub(1);
        Ok(nonce)
    }
}

#[cfg(test)]
mod tests {
    use coffer_sdk::clock::Timestamp;

    use coffer_sdk::crypto::PrivateKeyFormat;

    use super::*;
    use crate::policy::model::NewKey;

    fn loaded(kind: KeyKind, derived: bool, convergent: bool) -> Loaded {
        let mut p = Policy::new(
            "k",
            kind,
            &NewKey {
                derived,
                convergent,
                exportable: true,
                ..NewKey::default()
            },
        )
        .unwrap();
        p.rotate(Timestamp::from_secs(1)).unwrap();
        Loaded::new(p)
    }

    fn enc(l: &Loaded, context: &[u8], plaintext: &[u8], aad: &[u8]) -> Result<String, Error> {
        let item = ToEncrypt {
            version: 1,
            context,
            plaintext,
            aad,
        };
        l.encrypt(item, &mut Nonces::new(1))
    }

    #[test]
    fn aead_round_trip_and_tamper() {
        for kind in [
            KeyKind::Aes128Gcm96,
            KeyKind::Aes256Gcm96,
            KeyKind::Chacha20Poly1305,
        ] {
            let l = loaded(kind, false, false);
            let ct = enc(&l, b"", b"hello", b"ad").unwrap();
            assert!(ct.starts_with("vault:v1:"));
            assert_eq!(l.decrypt(&ct, b"", b"ad").unwrap().0, b"hello");
            assert!(l.decrypt(&ct, b"", b"other").is_err());
            let mut bytes = decode_b64(ct.strip_prefix("vault:v1:").unwrap()).unwrap();
            let last = bytes.len() - 1;
            bytes[last] ^= 1;
            let tampered = format!("vault:v1:{}", b64::encode(&bytes));
            assert_eq!(
                l.decrypt(&tampered, b"", b"ad"),
                Err(Error::invalid("cipher: message authentication failed"))
            );
            let short = format!("vault:v1:{}", b64::encode(&bytes[..10]));
            assert_eq!(
                l.decrypt(&short, b"", b"ad"),
                Err(Error::invalid("invalid ciphertext length"))
            );
        }
    }

    #[test]
    fn convergent_is_deterministic_per_context() {
        let l = loaded(KeyKind::Aes256Gcm96, true, true);
        let a = enc(&l, b"ctx", b"pt", b"").unwrap();
        let b = enc(&l, b"ctx", b"pt", b"").unwrap();
        let c = enc(&l, b"ctx2", b"pt", b"").unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(l.decrypt(&a, b"ctx", b"").unwrap().0, b"pt");
        assert!(l.decrypt(&a, b"ctx2", b"").is_err());
        assert_eq!(
            enc(&l, b"", b"pt", b""),
            Err(Error::invalid(MISSING_CONTEXT))
        );
    }

    #[test]
    fn convergent_matches_vault_construction() {
        // nonce = HMAC-SHA256(HKDF(key, info=ctx)[32..64], pt)[..12]
        let l = loaded(KeyKind::Aes256Gcm96, true, true);
        let key = l.key(1).unwrap().export(PrivateKeyFormat::Raw).unwrap();
        let derived = crypto::hkdf(HashAlgorithm::Sha256, &key, &[], b"ctx", 64).unwrap();
        let mac = crypto::hmac(HashAlgorithm::Sha256, &derived[32..], b"pt").unwrap();
        let ct = enc(&l, b"ctx", b"pt", b"").unwrap();
        let bytes = decode_b64(ct.strip_prefix("vault:v1:").unwrap()).unwrap();
        assert_eq!(&bytes[..12], &mac[..12]);
        let sealed = crypto::aead_seal(
            crypto::AeadAlgorithm::Aes256Gcm,
            &derived[..32],
            &mac[..12],
            b"pt",
            b"",
        )
        .unwrap();
        assert_eq!(&bytes[12..], &sealed[..]);
    }

    #[test]
    fn signatures() {
        let params = SignParams {
            hash: Some(HashAlgorithm::Sha256),
            prehashed: false,
            padding: RsaPadding::Pss,
            salt: Salt::Auto,
            jws: false,
        };
        for kind in [KeyKind::Ed25519, KeyKind::EcdsaP256, KeyKind::EcdsaP521] {
            let l = loaded(kind, false, false);
            let (sig, _) = l.sign(1, b"", b"msg", &params).unwrap();
            assert!(l.verify(&sig, b"", b"msg", &params).unwrap());
            assert!(!l.verify(&sig, b"", b"other", &params).unwrap());
        }
        let l = loaded(KeyKind::Ed25519, true, false);
        let (a, pa) = l.sign(1, b"c1", b"msg", &params).unwrap();
        let (b, pb) = l.sign(1, b"c1", b"msg", &params).unwrap();
        assert_eq!((a.clone(), pa), (b, pb));
        assert!(l.verify(&a, b"c1", b"msg", &params).unwrap());
        assert!(!l.verify(&a, b"c2", b"msg", &params).unwrap());
        assert!(Salt::parse("x").is_err());
        assert_eq!(Salt::parse("hash").unwrap(), Salt::Hash);
        assert_eq!(Salt::parse("7").unwrap(), Salt::Len(7));
    }

    #[test]
    fn batches_group_by_version_and_context_and_keep_their_order() {
        let mut l = loaded(KeyKind::Chacha20Poly1305, true, false);
        l.policy.rotate(Timestamp::from_secs(2)).unwrap();
        let l = Loaded::new(l.policy);
        let item = |version, context: &'static [u8], plaintext: &'static [u8]| ToEncrypt {
            version,
            context,
            plaintext,
            aad: b"",
        };
        let items = [
            item(2, b"a", b"one"),
            item(1, b"b", b"two"),
            item(2, b"", b"three"),
            item(2, b"a", b"four"),
            item(9, b"a", b"five"),
        ];
        let out = l.encrypt_all(&items, &mut Nonces::new(items.len()));
        assert_eq!(out.len(), 5);
        assert_eq!(out[2], Err(Error::invalid(MISSING_CONTEXT)));
        assert!(out[4].is_err());
        let cts: Vec<String> = [0, 1, 3].iter().map(|i| out[*i].clone().unwrap()).collect();
        assert!(cts[0].starts_with("vault:v2:") && cts[1].starts_with("vault:v1:"));
        let sealed = |ciphertext, context| ToDecrypt {
            ciphertext,
            context,
            aad: b"",
        };
        let back = l.decrypt_all(&[
            sealed(&cts[0], b"a"),
            sealed(&cts[1], b"b"),
            sealed("vault:v1:AAAA", b"b"),
            sealed(&cts[2], b"a"),
            sealed(&cts[2], b"b"),
        ]);
        assert_eq!(back[0], Ok((b"one".to_vec(), 2)));
        assert_eq!(back[1], Ok((b"two".to_vec(), 1)));
        assert_eq!(back[2], Err(Error::invalid("invalid ciphertext length")));
        assert_eq!(back[3], Ok((b"four".to_vec(), 2)));
        assert_eq!(
            back[4],
            Err(Error::invalid("cipher: message authentication failed"))
        );
    }
}
