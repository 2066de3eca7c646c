//! Host key operations, old against new in one run: each scenario is
//! timed on the RustCrypto calls `coffer-crypto` made before its keys moved
//! to AWS-LC ("old": `rsa`, `p256`, `p384`, made here the way that crate
//! made them) and on `coffer_crypto::PrivateKey` as it is ("new"), one
//! after the other, alternating, several rounds; it prints the median time
//! per operation of each and their ratio. BENCHMARKS.md records a run.
//!
//! Run with `cargo bench -p coffer-host --bench keys`; `KEYS_ONLY=<prefix>`
//! runs only the scenarios whose label starts with it; `KEYS_ROUNDS=<n>`
//! (5) sets the rounds.

use std::hint::black_box;
use std::time::{Duration, Instant};

use coffer_host::crypto::{KeyType, PrivateKey, SignOptions};
use rand::rngs::OsRng;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use sha2::Digest;

/// Seconds of work per side per round for the fast operations.
const SLICE: Duration = Duration::from_millis(300);

/// A scenario: its label, the old way and the new way, each doing one
/// operation per call.
struct Scenario {
    label: &'static str,
    old: Box<dyn FnMut()>,
    new: Box<dyn FnMut()>,
    /// Calls per round (for the slow ones: key generation).
    calls: Option<u32>,
}

/// Median time per call of `f` over the rounds, each round running it for
/// SLICE or `calls` times.
fn time_once(f: &mut dyn FnMut(), calls: Option<u32>) -> Duration {
    let start = Instant::now();
    let mut n = 0u32;
    loop {
        f();
        n += 1;
        match calls {
            Some(c) if n >= c => break,
            None if start.elapsed() >= SLICE => break,
            _ => {}
        }
    }
    start.elapsed() / n
}

/// An RSA signing scenario: the old key with a scheme made per call (the
/// `rsa` crate consumes it), the new key with options, over `message`.
fn rsa_sign<S: rsa::traits::SignatureScheme + 'static>(
    label: &'static str,
    (old, scheme): (&rsa::RsaPrivateKey, fn() -> S),
    (new, options): (&PrivateKey, SignOptions),
    message: &[u8],
) -> Scenario {
    let digest = sha2::Sha256::digest(message);
    let (old, new, message) = (old.clone(), new.clone(), message.to_vec());
    Scenario {
        label,
        old: Box::new(move || {
            black_box(old.sign_with_rng(&mut OsRng, scheme(), &digest).ok());
        }),
        new: Box::new(move || {
            black_box(new.sign(&message, &options).ok());
        }),
        calls: None,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::var("KEYS_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let only = std::env::var("KEYS_ONLY").ok();
    let message = b"the quick brown fox jumps over the lazy dog".to_vec();

    let new_p256 = PrivateKey::generate(KeyType::EcdsaP256).map_err(anyhow::Error::msg)?;
    let pkcs8 = new_p256
        .export(coffer_host::crypto::PrivateKeyFormat::Pkcs8Der)
        .map_err(anyhow::Error::msg)?;
    let old_p256 = p256::ecdsa::SigningKey::from_pkcs8_der(&pkcs8)?;
    let p256_signature = new_p256
        .sign(&message, &SignOptions::default())
        .map_err(anyhow::Error::msg)?;
    let new_p256_public = new_p256.public_key();
    let old_p256_public = *old_p256.verifying_key();

    let new_p384 = PrivateKey::generate(KeyType::EcdsaP384).map_err(anyhow::Error::msg)?;
    let pkcs8 = new_p384
        .export(coffer_host::crypto::PrivateKeyFormat::Pkcs8Der)
        .map_err(anyhow::Error::msg)?;
    let old_p384 = p384::ecdsa::SigningKey::from_pkcs8_der(&pkcs8)?;

    let new_rsa = PrivateKey::generate(KeyType::Rsa2048).map_err(anyhow::Error::msg)?;
    let pkcs8 = new_rsa
        .export(coffer_host::crypto::PrivateKeyFormat::Pkcs8Der)
        .map_err(anyhow::Error::msg)?;
    let mut old_rsa = rsa::RsaPrivateKey::from_pkcs8_der(&pkcs8)?;
    old_rsa.precompute()?;
    // Transit's default for RSA: PSS, SHA-256, the longest salt (222 bytes).
    let pss = SignOptions::default();
    let pkcs1 = SignOptions {
        padding: coffer_host::crypto::RsaPadding::Pkcs1v15,
        ..SignOptions::default()
    };

    let mut scenarios = vec![
        Scenario {
            label: "ecdsa-p256 sign (sha-256)",
            old: Box::new({
                let key = old_p256.clone();
                let message = message.clone();
                move || {
                    let digest = sha2::Sha256::digest(&message);
                    let s: Option<p256::ecdsa::Signature> =
                        PrehashSigner::sign_prehash(&key, &digest).ok();
                    black_box(s.map(|s| s.to_der()));
                }
            }),
            new: Box::new({
                let key = new_p256.clone();
                let message = message.clone();
                move || {
                    black_box(key.sign(&message, &SignOptions::default()).ok());
                }
            }),
            calls: None,
        },
        Scenario {
            label: "ecdsa-p256 verify (sha-256)",
            old: Box::new({
                let signature = p256::ecdsa::Signature::from_der(&p256_signature)?;
                let message = message.clone();
                move || {
                    let digest = sha2::Sha256::digest(&message);
                    black_box(
                        PrehashVerifier::verify_prehash(&old_p256_public, &digest, &signature)
                            .is_ok(),
                    );
                }
            }),
            new: Box::new({
                let signature = p256_signature.clone();
                let message = message.clone();
                move || {
                    black_box(
                        new_p256_public
                            .verify(&message, &signature, &SignOptions::default())
                            .ok(),
                    );
                }
            }),
            calls: None,
        },
        Scenario {
            label: "ecdsa-p256 generate",
            old: Box::new(|| {
                black_box(p256::ecdsa::SigningKey::random(&mut OsRng));
            }),
            new: Box::new(|| {
                black_box(PrivateKey::generate(KeyType::EcdsaP256).ok());
            }),
            calls: None,
        },
        Scenario {
            label: "ecdsa-p384 sign (sha-384)",
            old: Box::new({
                let message = message.clone();
                move || {
                    let digest = sha2::Sha384::digest(&message);
                    let s: Option<p384::ecdsa::Signature> =
                        PrehashSigner::sign_prehash(&old_p384, &digest).ok();
                    black_box(s.map(|s| s.to_der()));
                }
            }),
            new: Box::new({
                let options = SignOptions {
                    hash: Some(coffer_host::crypto::HashAlgorithm::Sha384),
                    ..SignOptions::default()
                };
                let message = message.clone();
                move || {
                    black_box(new_p384.sign(&message, &options).ok());
                }
            }),
            calls: None,
        },
        rsa_sign(
            "rsa-2048 sign (pss, sha-256, longest salt)",
            (&old_rsa, || {
                rsa::Pss::new_blinded_with_salt::<sha2::Sha256>(222)
            }),
            (&new_rsa, pss),
            &message,
        ),
        rsa_sign(
            "rsa-2048 sign (pkcs1v15, sha-256)",
            (&old_rsa, rsa::Pkcs1v15Sign::new::<sha2::Sha256>),
            (&new_rsa, pkcs1),
            &message,
        ),
        Scenario {
            label: "rsa-2048 generate",
            old: Box::new(|| {
                black_box(rsa::RsaPrivateKey::new(&mut OsRng, 2048).ok());
            }),
            new: Box::new(|| {
                black_box(PrivateKey::generate(KeyType::Rsa2048).ok());
            }),
            calls: Some(4),
        },
    ];

    println!(
        "{:<45} {:>12} {:>12} {:>8}",
        "operation", "old", "new", "old/new"
    );
    for s in &mut scenarios {
        if only.as_deref().is_some_and(|o| !s.label.starts_with(o)) {
            continue;
        }
        let (mut old, mut new) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            if round % 2 == 0 {
                old.push(time_once(&mut s.old, s.calls));
                new.push(time_once(&mut s.new, s.calls));
            } else {
                new.push(time_once(&mut s.new, s.calls));
                old.push(time_once(&mut s.old, s.calls));
            }
        }
        let (old, new) = (median(old), median(new));
        println!(
            "{:<45} {:>10.1}µs {:>10.1}µs {:>7.2}x",
            s.label,
            old.as_secs_f64() * 1e6,
            new.as_secs_f64() * 1e6,
            old.as_secs_f64() / new.as_secs_f64().max(1e-12)
        );
    }
    Ok(())
}
