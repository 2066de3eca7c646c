//! The barrier: every value is sealed with AES-256-GCM before it reaches
//! redb, and opened after it is read (invariant 4).
//!
//! A [`Keyring`] holds numbered key *terms*; new values use the active term,
//! old values name the term that sealed them, so `sys/rotate` adds a term
//! without rewriting anything. The storage key (table and key path) is the
//! associated data, so a sealed value cannot be moved to another key and
//! still open.
//!
//! Stored value layout: `0x01 ‖ term (u32, big-endian) ‖ nonce (12) ‖
//! ciphertext ‖ tag (16)`.

use std::collections::BTreeMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

const VERSION: u8 = 1;
const HEADER: usize = 1 + 4 + 12;

/// Why a sealed value or keyring did not open.
#[derive(Debug, PartialEq, Eq)]
pub struct BarrierError(pub String);

impl std::fmt::Display for BarrierError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One key term.
struct Term {
    cipher: Aes256Gcm,
    installed: u64,
}

/// The barrier's keys. Dropped (and its key bytes zeroed by `aes-gcm`'s
/// `zeroize` support) on seal.
pub struct Keyring {
    terms: BTreeMap<u32, Term>,
    /// Kept only to serialise the keyring again after a rotation.
    raw: BTreeMap<u32, (Zeroizing<[u8; 32]>, u64)>,
    active: u32,
}

/// The keyring as stored (itself sealed under the root key).
#[derive(Serialize, Deserialize)]
struct StoredKeyring {
    active: u32,
    terms: Vec<StoredTerm>,
}

#[derive(Serialize, Deserialize)]
struct StoredTerm {
    term: u32,
    key: String,
    installed: u64,
}

impl Keyring {
    /// A keyring with one fresh random term.
    pub fn generate(now: u64) -> Self {
        let mut ring = Keyring {
            terms: BTreeMap::new(),
            raw: BTreeMap::new(),
            active: 0,
        };
        ring.add(1, Zeroizing::new(rand::random()), now);
        ring.active = 1;
        ring
    }

    fn add(&mut self, term: u32, key: Zeroizing<[u8; 32]>, installed: u64) {
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key.as_slice()));
        self.terms.insert(term, Term { cipher, installed });
        self.raw.insert(term, (key, installed));
    }

    /// The keyring with one more term, which becomes the active one.
    pub fn rotated(&self, now: u64) -> Keyring {
        let mut next = Keyring {
            terms: BTreeMap::new(),
            raw: BTreeMap::new(),
            active: self.active + 1,
        };
        for (term, (key, installed)) in &self.raw {
            next.add(*term, key.clone(), *installed);
        }
        next.add(self.active + 1, Zeroizing::new(rand::random()), now);
        next
    }

    /// The active term and when it was installed (unix seconds).
    pub fn active(&self) -> (u32, u64) {
        let installed = self.terms.get(&self.active).map_or(0, |t| t.installed);
        (self.active, installed)
    }

    /// Seals `plaintext` for the storage key `aad` under the active term.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, BarrierError> {
        let term = self
            .terms
            .get(&self.active)
            .ok_or_else(|| BarrierError("the active barrier term is missing".into()))?;
        let nonce: [u8; 12] = rand::random();
        let sealed = term
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| BarrierError("barrier encryption failed".into()))?;
        let mut out = Vec::with_capacity(HEADER + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&self.active.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens a value sealed by any term of this keyring for `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, BarrierError> {
        if sealed.len() < HEADER + 16 || sealed[0] != VERSION {
            return Err(BarrierError("stored value is not barrier-sealed".into()));
        }
        let term = u32::from_be_bytes([sealed[1], sealed[2], sealed[3], sealed[4]]);
        let key = self
            .terms
            .get(&term)
            .ok_or_else(|| BarrierError(format!("stored value names unknown key term {term}")))?;
        key.cipher
            .decrypt(
                Nonce::from_slice(&sealed[5..HEADER]),
                Payload {
                    msg: &sealed[HEADER..],
                    aad,
                },
            )
            .map_err(|_| BarrierError("stored value failed authentication".into()))
    }

    /// The keyring's serialised form (to be sealed under the root key).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let stored = StoredKeyring {
            active: self.active,
            terms: self
                .raw
                .iter()
                .map(|(term, (key, installed))| StoredTerm {
                    term: *term,
                    key: hex::encode(key.as_slice()),
                    installed: *installed,
                })
                .collect(),
        };
        Zeroizing::new(serde_json::to_vec(&stored).unwrap_or_default())
    }

    /// Reads a serialised keyring.
    pub fn from_bytes(bytes: &[u8]) -> Result<Keyring, BarrierError> {
        let stored: StoredKeyring = serde_json::from_slice(bytes)
            .map_err(|e| BarrierError(format!("stored keyring is corrupt: {e}")))?;
        let mut ring = Keyring {
            terms: BTreeMap::new(),
            raw: BTreeMap::new(),
            active: stored.active,
        };
        for t in stored.terms {
            let mut key = Zeroizing::new([0u8; 32]);
            hex::decode_to_slice(&t.key, key.as_mut_slice())
                .map_err(|e| BarrierError(format!("stored keyring is corrupt: {e}")))?;
            ring.add(t.term, key, t.installed);
        }
        if !ring.terms.contains_key(&ring.active) {
            return Err(BarrierError("stored keyring lacks its active term".into()));
        }
        Ok(ring)
    }
}

/// Seals `plaintext` under a single 32-byte key (the root key sealing the
/// keyring, the unseal key sealing the root key): `nonce ‖ ciphertext ‖ tag`.
pub fn seal_with(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, BarrierError> {
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
    let nonce: [u8; 12] = rand::random();
    let mut out = nonce.to_vec();
    out.extend(
        cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| BarrierError("encryption failed".into()))?,
    );
    Ok(out)
}

/// Opens what [`seal_with`] sealed.
pub fn open_with(
    key: &[u8; 32],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, BarrierError> {
    if sealed.len() < 12 + 16 {
        return Err(BarrierError("sealed record is truncated".into()));
    }
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
    cipher
        .decrypt(
            Nonce::from_slice(&sealed[..12]),
            Payload {
                msg: &sealed[12..],
                aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| BarrierError("message authentication failed".into()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use aes_gcm::aead::generic_array::GenericArray;

    #[test]
    fn a_value_opens_only_under_its_own_storage_key() {
        let ring = Keyring::generate(1);
        let sealed = ring.seal(b"engine/u/k", b"secret").unwrap();
        assert_eq!(ring.open(b"engine/u/k", &sealed).unwrap(), b"secret");
        assert!(ring.open(b"engine/u/other", &sealed).is_err());
    }

    #[test]
    fn tampering_is_detected_anywhere() {
        let ring = Keyring::generate(1);
        let sealed = ring.seal(b"k", b"secret").unwrap();
        for i in 0..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 1;
            assert!(ring.open(b"k", &t).is_err(), "byte {i}");
        }
        assert!(ring.open(b"k", &sealed[..sealed.len() - 1]).is_err());
    }

    #[test]
    fn old_terms_still_open_after_rotation() {
        let ring = Keyring::generate(1);
        let old = ring.seal(b"k", b"v1").unwrap();
        let next = ring.rotated(2);
        assert_eq!(next.active().0, 2);
        let new = next.seal(b"k", b"v2").unwrap();
        assert_eq!(&new[1..5], &2u32.to_be_bytes());
        assert_eq!(next.open(b"k", &old).unwrap(), b"v1");
        let reread = Keyring::from_bytes(&next.to_bytes()).unwrap();
        assert_eq!(reread.open(b"k", &old).unwrap(), b"v1");
        assert_eq!(reread.open(b"k", &new).unwrap(), b"v2");
        // The old ring cannot open the new term's values.
        assert!(ring.open(b"k", &new).is_err());
    }

    /// The layout is plain AES-256-GCM: an independent decryption with the
    /// raw term key (taken from the serialised keyring) and the AAD opens it.
    #[test]
    fn layout_is_standard_aes_gcm() {
        let ring = Keyring::generate(1);
        let sealed = ring.seal(b"aad", b"hello").unwrap();
        let stored: serde_json::Value = serde_json::from_slice(&ring.to_bytes()).unwrap();
        let key = hex::decode(stored["terms"][0]["key"].as_str().unwrap()).unwrap();
        let cipher = Aes256Gcm::new(GenericArray::from_slice(&key));
        let plain = cipher
            .decrypt(
                GenericArray::from_slice(&sealed[5..17]),
                Payload {
                    msg: &sealed[17..],
                    aad: b"aad",
                },
            )
            .unwrap();
        assert_eq!(plain, b"hello");
    }

    #[test]
    fn single_key_sealing_round_trips_and_refuses_wrong_keys() {
        let key = [7u8; 32];
        let sealed = seal_with(&key, b"root", b"material").unwrap();
        assert_eq!(
            open_with(&key, b"root", &sealed).unwrap().as_slice(),
            b"material"
        );
        assert!(open_with(&[8u8; 32], b"root", &sealed).is_err());
        assert!(open_with(&key, b"other", &sealed).is_err());
        assert!(open_with(&key, b"root", &sealed[..10]).is_err());
    }
}
