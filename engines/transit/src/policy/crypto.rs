//! The cryptography on top of a policy: AEAD and RSA-OAEP encryption,
//! derivation (HKDF-SHA256 with the context as info, Vault's current KDF),
//! convergent nonces (version 3: HMAC-SHA256 of the plaintext under the
//! second half of the derived key), signatures. All of it through the SDK's
//! `crypto` module, i.e. the host.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use coffer_sdk::crypto::{
    self, HashAlgorithm, PrivateKey, PublicKey, RsaPadding, SignOptions, SignatureEncoding,
};
use coffer_sdk::Error;

use super::model::{KeyKind, KeyVersion, Policy};
use crate::util::{
    b64, decode_b64, decode_b64url, encode_b64url, push_version_prefix, split_versioned,
    version_prefix,
};

/// AEAD nonces and tags.
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// A policy ready for use: the parsed record, and each version's parsed
/// asymmetric key, made on first use and kept (in wasm, a host resource).
#[derive(Debug)]
pub struct Loaded {
    /// The policy.
    pub policy: Policy,
    keys: RefCell<BTreeMap<u32, Rc<Asym>>>,
}

/// A version's parsed asymmetric key.
#[derive(Debug)]
pub enum Asym {
    /// The private key (and through it the public one).
    Private(PrivateKey),
    /// Only the public key was imported.
    Public(PublicKey),
}

impl Asym {
    /// Verifies with the public half.
    fn verify(
        &self,
        message: &[u8],
        signature: &[u8],
        options: SignOptions,
    ) -> Result<bool, Error> {
        match self {
            Self::Private(k) => k.public_key().verify(message, signature, options),
            Self::Public(k) => k.verify(message, signature, options),
        }
    }

    /// The public half.
    pub fn public(&self) -> Result<PublicKey, Error> {
        match self {
            Self::Private(k) => Ok(k.public_key()),
            Self::Public(k) => {
                let der = k.export(crypto::PublicKeyFormat::SpkiDer)?;
                PublicKey::import(k.key_type(), &der)
            }
        }
    }
}

impl Loaded {
    /// Wraps a policy; keys are parsed lazily.
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            keys: RefCell::new(BTreeMap::new()),
        }
    }

    /// Version `v`'s asymmetric key, parsed once.
    pub fn asym(&self, v: u32) -> Result<Rc<Asym>, Error> {
        if let Some(k) = self.keys.borrow().get(&v) {
            return Ok(Rc::clone(k));
        }
        let p = &self.policy;
        let kt = p
            .kind
            .asymmetric()
            .ok_or_else(|| Error::invalid(format!("key type {} has no asymmetric key", p.kind)))?;
        let version = p.version(v)?;
        let key = if version.is_private_missing() {
            let public = if p.kind == KeyKind::Ed25519 {
                decode_b64(&version.public_key).map_err(Error::internal)?
            } else {
                version.public_key.clone().into_bytes()
            };
            Asym::Public(PublicKey::import(kt, &public)?)
        } else if p.kind == KeyKind::Ed25519 {
            let seed = version
                .key
                .get(..32)
                .ok_or_else(|| Error::internal("stored ed25519 key is too short"))?;
            Asym::Private(PrivateKey::from_ed25519_seed(seed)?)
        } else {
            Asym::Private(PrivateKey::import(kt, &version.key)?)
        };
        let key = Rc::new(key);
        self.keys.borrow_mut().insert(v, Rc::clone(&key));
        Ok(key)
    }

    /// Encrypts `plaintext` with version `v` (already checked). `nonce` is
    /// a fresh random nonce, used unless the key is convergent.
    pub fn encrypt(
        &self,
        v: u32,
        context: &[u8],
        plaintext: &[u8],
        aad: &[u8],
        nonce: &[u8; NONCE_LEN],
    ) -> Result<String, Error> {
        let p = &self.policy;
        if let Some(aead) = p.kind.aead() {
            let version = p.version(v)?;
            let (nonce, sealed) = if p.derived {
                check_context(context)?;
                let enc_len = p.kind.aead_key_len();
                let convergent = p.convergent_encryption;
                let len = if convergent { enc_len + 32 } else { enc_len };
                let derived = derive(&version.key, context, len)?;
                let (key, hmac_key) = derived.split_at(enc_len);
                let nonce = if convergent {
                    let mac = crypto::hmac(HashAlgorithm::Sha256, hmac_key, plaintext)?;
                    mac.get(..NONCE_LEN)
                        .and_then(|n| <[u8; NONCE_LEN]>::try_from(n).ok())
                        .ok_or_else(|| Error::internal("HMAC-SHA256 is too short for a nonce"))?
                } else {
                    *nonce
                };
                (nonce, crypto::aead_seal(aead, key, &nonce, plaintext, aad)?)
            } else {
                let sealed = crypto::aead_seal(aead, &version.key, nonce, plaintext, aad)?;
                (*nonce, sealed)
            };
            // base64(nonce ‖ sealed) is base64(nonce) ‖ base64(sealed): the
            // 12-byte nonce encodes to 16 characters without padding.
            let mut out = String::with_capacity(16 + 4 * (NONCE_LEN + sealed.len()).div_ceil(3));
            push_version_prefix(&mut out, v);
            b64::encode_into(&nonce, &mut out);
            b64::encode_into(&sealed, &mut out);
            return Ok(out);
        }
        let out = version_prefix(v);
        if p.kind.is_rsa() {
            let key = self.asym(v)?;
            let public = match &*key {
                Asym::Private(k) => k.public_key(),
                Asym::Public(k) => {
                    return finish(out, k.encrypt_oaep(plaintext, HashAlgorithm::Sha256, None)?)
                }
            };
            return finish(
                out,
                public.encrypt_oaep(plaintext, HashAlgorithm::Sha256, None)?,
            );
        }
        Err(Error::invalid(format!(
            "message encryption not supported for key type {}",
            p.kind
        )))
    }

    /// Decrypts a `vault:vN:` ciphertext; returns the plaintext and the
    /// version. Never returns plaintext whose authentication failed.
    pub fn decrypt(
        &self,
        ciphertext: &str,
        context: &[u8],
        aad: &[u8],
    ) -> Result<(Vec<u8>, u32), Error> {
        let p = &self.policy;
        if !p.kind.supports_decryption() {
            return Err(Error::invalid(format!(
                "message decryption not supported for key type {}",
                p.kind
            )));
        }
        let (v, body) = split_versioned(ciphertext, "ciphertext")?;
        let v = p.decryption_version(v, "ciphertext")?;
        let decoded = decode_b64(body)
            .map_err(|_| Error::invalid("invalid ciphertext: could not decode base64"))?;
        if let Some(aead) = p.kind.aead() {
            let version = p.version(v)?;
            if decoded.len() < NONCE_LEN + TAG_LEN {
                return Err(Error::invalid("invalid ciphertext length"));
            }
            let (nonce, sealed) = decoded.split_at(NONCE_LEN);
            let opened = if p.derived {
                check_context(context)?;
                let key = derive(&version.key, context, p.kind.aead_key_len())?;
                crypto::aead_open(aead, &key, nonce, sealed, aad)
            } else {
                crypto::aead_open(aead, &version.key, nonce, sealed, aad)
            };
            let plain =
                opened.map_err(|_| Error::invalid("cipher: message authentication failed"))?;
            return Ok((plain, v));
        }
        let key = self.asym(v)?;
        match &*key {
            Asym::Private(k) => {
                let plain = k
                    .decrypt_oaep(&decoded, HashAlgorithm::Sha256, None)
                    .map_err(|e| {
                        Error::invalid(format!(
                            "failed to RSA decrypt the ciphertext: {}",
                            e.message()
                        ))
                    })?;
                Ok((plain, v))
            }
            Asym::Public(_) => Err(Error::invalid(
                "cannot decrypt ciphertext, key version does not have a private counterpart",
            )),
        }
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
        let version = p.version(v)?;
        if version.is_private_missing() {
            return Err(Error::invalid(
                "requested version for signing does not contain a private part",
            ));
        }
        let options = params.options(p, version)?;
        let (signature, public) = if p.kind == KeyKind::Ed25519 && p.derived {
            let key = derived_ed25519(version, context)?;
            let public = key.public_key().export(crypto::PublicKeyFormat::Raw)?;
            (key.sign(input, options)?, Some(b64::encode(&public)))
        } else {
            match &*self.asym(v)? {
                Asym::Private(k) => (k.sign(input, options)?, None),
                Asym::Public(_) => {
                    return Err(Error::invalid(
                        "requested version for signing does not contain a private part",
                    ))
                }
            }
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
        let version = p.version(v)?;
        let sig = if params.jws && p.kind.is_ecdsa() {
            decode_b64url(body)
        } else {
            decode_b64(body)
        }
        .map_err(|_| Error::invalid("invalid base64 signature value"))?;
        let options = params.options(p, version)?;
        if p.kind == KeyKind::Ed25519 && p.derived {
            let key = derived_ed25519(version, context)?;
            return key.public_key().verify(input, &sig, options);
        }
        self.asym(v)?.verify(input, &sig, options)
    }
}

fn finish(mut prefix: String, bytes: Vec<u8>) -> Result<String, Error> {
    prefix.push_str(&b64::encode(&bytes));
    Ok(prefix)
}

/// The message Vault gives for a missing derivation context.
pub const MISSING_CONTEXT: &str = "missing 'context' for key derivation; the key was created using a derived key, which means additional, per-request information must be included in order to perform operations with the key";

fn check_context(context: &[u8]) -> Result<(), Error> {
    if context.is_empty() {
        return Err(Error::invalid(MISSING_CONTEXT));
    }
    Ok(())
}

/// HKDF-SHA256 of a version's key with the context as info and no salt.
pub fn derive(key: &[u8], context: &[u8], len: usize) -> Result<Vec<u8>, Error> {
    check_context(context)?;
    crypto::hkdf(
        HashAlgorithm::Sha256,
        key,
        &[],
        context,
        u32::try_from(len).unwrap_or(u32::MAX),
    )
}

/// The Ed25519 key derived for `context`: its seed is the first 32 bytes
/// of HKDF over the version's 64-byte key.
pub fn derived_ed25519(version: &KeyVersion, context: &[u8]) -> Result<PrivateKey, Error> {
    let seed = derive(&version.key, context, 32)?;
    PrivateKey::from_ed25519_seed(&seed)
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
    fn options(&self, p: &Policy, version: &KeyVersion) -> Result<SignOptions, Error> {
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
        let _ = version;
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

    use super::*;
    use crate::policy::model::NewKey;

    fn loaded(kind: KeyKind, derived: bool, convergent: bool) -> Loaded {
        let mut p = Policy::new(
            "k",
            kind,
            &NewKey {
                derived,
                convergent,
                ..NewKey::default()
            },
        )
        .unwrap();
        p.rotate(Timestamp::from_secs(1)).unwrap();
        Loaded::new(p)
    }

    #[test]
    fn aead_round_trip_and_tamper() {
        for kind in [
            KeyKind::Aes128Gcm96,
            KeyKind::Aes256Gcm96,
            KeyKind::Chacha20Poly1305,
        ] {
            let l = loaded(kind, false, false);
            let mut nonces = Nonces::new(2);
            let ct = l
                .encrypt(1, b"", b"hello", b"ad", &nonces.next().unwrap())
                .unwrap();
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
        let n = [0u8; 12];
        let a = l.encrypt(1, b"ctx", b"pt", b"", &n).unwrap();
        let b = l.encrypt(1, b"ctx", b"pt", b"", &[1u8; 12]).unwrap();
        let c = l.encrypt(1, b"ctx2", b"pt", b"", &n).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(l.decrypt(&a, b"ctx", b"").unwrap().0, b"pt");
        assert!(l.decrypt(&a, b"ctx2", b"").is_err());
        assert_eq!(
            l.encrypt(1, b"", b"pt", b"", &n),
            Err(Error::invalid(MISSING_CONTEXT))
        );
    }

    #[test]
    fn convergent_matches_vault_construction() {
        // nonce = HMAC-SHA256(HKDF(key, info=ctx)[32..64], pt)[..12]
        let l = loaded(KeyKind::Aes256Gcm96, true, true);
        let key = &l.policy.versions[&1].key;
        let derived = crypto::hkdf(HashAlgorithm::Sha256, key, &[], b"ctx", 64).unwrap();
        let mac = crypto::hmac(HashAlgorithm::Sha256, &derived[32..], b"pt").unwrap();
        let ct = l.encrypt(1, b"ctx", b"pt", b"", &[0; 12]).unwrap();
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
}
