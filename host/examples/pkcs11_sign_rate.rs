//! The managed-key benchmark's floor: how many signatures a PKCS#11 token
//! makes when `threads` threads call `C_Sign` on one key directly, each on
//! its own session, for `seconds` (`bench/managed_keys.py` compares
//! Coffer's sign through the same key, with `max_parallel = threads`).
//!
//! ```text
//! cargo run --release -p coffer-host --example pkcs11_sign_rate -- \
//!     LIBRARY TOKEN_LABEL PIN KEY_LABEL ec|rsa THREADS SECONDS
//! ```
//!
//! Prints one JSON line: `{"threads": N, "signs": n, "seconds": s,
//! "per_second": r}`. What is signed is what Coffer asks of the token for a
//! SHA-256 signature: the 32-byte digest (CKM_ECDSA) or its DigestInfo
//! (CKM_RSA_PKCS).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [library, token, pin, label, kind, threads, seconds] = args.as_slice() else {
        anyhow::bail!("usage: LIBRARY TOKEN_LABEL PIN KEY_LABEL ec|rsa THREADS SECONDS");
    };
    let threads: usize = threads.parse()?;
    let duration = Duration::from_secs_f64(seconds.parse()?);
    let context = Pkcs11::new(library)?;
    context.initialize(CInitializeArgs::OsThreads)?;
    let slot = context
        .get_slots_with_token()?
        .into_iter()
        .find(|s| {
            context
                .get_token_info(*s)
                .is_ok_and(|i| i.label().trim_end() == token)
        })
        .ok_or_else(|| anyhow::anyhow!("no token {token:?}"))?;
    // SHA-256 of something, and its DigestInfo for RSA.
    let digest = [0x5au8; 32];
    let rsa = kind == "rsa";
    let data = if rsa {
        let mut info = vec![
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ];
        info.extend_from_slice(&digest);
        info
    } else {
        digest.to_vec()
    };
    let mut sessions = Vec::with_capacity(threads);
    for _ in 0..threads {
        let session = context.open_ro_session(slot)?;
        match session.login(UserType::User, Some(&AuthPin::new(pin.clone()))) {
            Ok(()) | Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => return Err(e.into()),
        }
        sessions.push(session);
    }
    let key = *sessions
        .first()
        .ok_or_else(|| anyhow::anyhow!("THREADS must be at least 1"))?
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(label.as_bytes().to_vec()),
        ])?
        .first()
        .ok_or_else(|| anyhow::anyhow!("no private key {label:?}"))?;
    let count = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let workers: Vec<_> = sessions
        .into_iter()
        .map(|session| {
            let (count, stop, data) = (count.clone(), stop.clone(), data.clone());
            std::thread::spawn(move || -> Result<(), Error> {
                let mechanism = if rsa {
                    Mechanism::RsaPkcs
                } else {
                    Mechanism::Ecdsa
                };
                while !stop.load(Ordering::Relaxed) {
                    session.sign(&mechanism, key, &data)?;
                    count.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .collect();
    std::thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join()
            .map_err(|_| anyhow::anyhow!("a signing thread panicked"))??;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let signs = count.load(Ordering::Relaxed);
    println!(
        "{{\"threads\": {threads}, \"signs\": {signs}, \"seconds\": {elapsed:.3}, \"per_second\": {:.1}}}",
        signs as f64 / elapsed
    );
    Ok(())
}
