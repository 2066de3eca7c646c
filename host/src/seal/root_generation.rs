//! `sys/generate-root`'s attempt: a one-time pad handed out at its start,
//! shares (unseal keys, or an auto seal's recovery keys) collected up to the
//! threshold, then a new root token encoded with the pad (Vault's flow
//! since 1.10: the server makes the pad, as long as a token, and the
//! token travels only XORed with it).
//!
//! The state machine only: the handler (`sys/generate_root.rs`) checks the
//! shares against the seal (`Seal::check_shares`) and stores the token.

use std::sync::Mutex;

use zeroize::Zeroizing;

use crate::api::ApiError;

/// One attempt in progress.
struct Attempt {
    nonce: String,
    otp: Zeroizing<String>,
    shares: Vec<Zeroizing<String>>,
}

/// What `GET sys/generate-root/attempt` shows.
#[derive(Debug, Default)]
pub struct Status {
    /// Whether an attempt is in progress.
    pub started: bool,
    /// Its nonce ("" when none).
    pub nonce: String,
    /// Distinct shares given so far.
    pub progress: usize,
}

/// The root generation attempts of a server (at most one at a time).
#[derive(Default)]
pub struct RootGeneration {
    attempt: Mutex<Option<Attempt>>,
}

/// The result of one share.
pub enum Step {
    /// More shares are needed.
    Progress(usize),
    /// The threshold is met: these shares are to be checked, and the token
    /// encoded with this pad.
    Complete {
        /// The shares given.
        shares: Vec<Zeroizing<String>>,
        /// The attempt's one-time pad.
        otp: Zeroizing<String>,
        /// Its nonce.
        nonce: String,
    },
}

fn poisoned() -> ApiError {
    ApiError::internal("root generation lock poisoned")
}

impl RootGeneration {
    /// The attempt's state.
    pub fn status(&self) -> Result<Status, ApiError> {
        let attempt = self.attempt.lock().map_err(|_| poisoned())?;
        Ok(attempt.as_ref().map_or_else(Status::default, |a| Status {
            started: true,
            nonce: a.nonce.clone(),
            progress: a.shares.len(),
        }))
    }

    /// Starts an attempt whose pad is `otp_len` characters; gives the nonce
    /// and the pad. Refused while one is in progress.
    pub fn start(&self, otp_len: usize) -> Result<(String, Zeroizing<String>), ApiError> {
        let mut attempt = self.attempt.lock().map_err(|_| poisoned())?;
        if attempt.is_some() {
            return Err(ApiError::bad("root generation already in progress"));
        }
        let nonce = uuid::Uuid::new_v4().to_string();
        let otp = Zeroizing::new(crate::auth::tokens::random_base62(otp_len));
        *attempt = Some(Attempt {
            nonce: nonce.clone(),
            otp: otp.clone(),
            shares: Vec::new(),
        });
        Ok((nonce, otp))
    }

    /// Cancels the attempt, if any.
    pub fn cancel(&self) -> Result<(), ApiError> {
        *self.attempt.lock().map_err(|_| poisoned())? = None;
        Ok(())
    }

    /// Adds `share` to the attempt `nonce` names; at `threshold` the
    /// attempt ends and its shares and pad are given back.
    pub fn add(&self, nonce: &str, share: &str, threshold: u8) -> Result<Step, ApiError> {
        let mut guard = self.attempt.lock().map_err(|_| poisoned())?;
        let attempt = guard
            .as_mut()
            .ok_or_else(|| ApiError::bad("no root generation in progress"))?;
        if attempt.nonce != nonce {
            return Err(ApiError::bad(format!(
                "incorrect nonce supplied: the attempt in progress has nonce {:?}",
                attempt.nonce
            )));
        }
        if !attempt.shares.iter().any(|s| s.as_str() == share) {
            attempt.shares.push(Zeroizing::new(share.to_string()));
        }
        if attempt.shares.len() < usize::from(threshold) {
            return Ok(Step::Progress(attempt.shares.len()));
        }
        let done = guard.take().ok_or_else(poisoned)?;
        Ok(Step::Complete {
            shares: done.shares,
            otp: done.otp,
            nonce: done.nonce,
        })
    }
}

/// The token XORed with the pad, in base64 without padding (Vault's form,
/// which `bao operator generate-root -decode` undoes); none if their
/// lengths differ.
pub fn encode_token(token: &str, otp: &str) -> Option<String> {
    use base64::Engine as _;
    if token.len() != otp.len() {
        return None;
    }
    let xored: Vec<u8> = token.bytes().zip(otp.bytes()).map(|(t, o)| t ^ o).collect();
    Some(base64::engine::general_purpose::STANDARD_NO_PAD.encode(xored))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use base64::Engine as _;

    use super::*;

    #[test]
    fn an_attempt_collects_distinct_shares_then_ends() {
        let g = RootGeneration::default();
        assert!(!g.status().unwrap().started);
        let (nonce, otp) = g.start(26).unwrap();
        assert_eq!(otp.len(), 26);
        assert!(g.start(26).is_err(), "one at a time");
        assert!(g.add("other", "k1", 2).is_err(), "the nonce must match");
        assert!(matches!(g.add(&nonce, "k1", 2).unwrap(), Step::Progress(1)));
        assert!(matches!(g.add(&nonce, "k1", 2).unwrap(), Step::Progress(1)));
        let Step::Complete { shares, .. } = g.add(&nonce, "k2", 2).unwrap() else {
            panic!("not complete")
        };
        assert_eq!(shares.len(), 2);
        assert!(!g.status().unwrap().started, "a finished attempt is gone");
        g.start(26).unwrap();
        g.cancel().unwrap();
        assert!(!g.status().unwrap().started);
    }

    #[test]
    fn the_token_round_trips_through_the_pad() {
        let encoded = encode_token("s.abc", "XYZ12").unwrap();
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(encoded)
            .unwrap();
        let back: String = bytes
            .iter()
            .zip("XYZ12".bytes())
            .map(|(b, o)| char::from(b ^ o))
            .collect();
        assert_eq!(back, "s.abc");
        assert!(encode_token("short", "longer").is_none());
    }
}
