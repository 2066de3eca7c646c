//! Shamir's secret sharing over GF(2^8), the way Vault splits its unseal
//! key: each byte of the secret is the constant term of its own random
//! polynomial of degree `threshold - 1`; a share is the polynomials'
//! values at one non-zero x, followed by that x (so a share is one byte
//! longer than the secret).
//!
//! Field arithmetic uses AES's polynomial (x^8 + x^4 + x^3 + x + 1) and is
//! branch-free on secret data (no log tables, whose lookups leak timing).

use zeroize::Zeroizing;

/// Why shares could not be made or combined.
#[derive(Debug, PartialEq, Eq)]
pub struct ShamirError(pub &'static str);

impl std::fmt::Display for ShamirError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Multiplication in GF(2^8), constant time.
fn mul(mut a: u8, mut b: u8) -> u8 {
    let mut product = 0u8;
    for _ in 0..8 {
        product ^= a & 0u8.wrapping_sub(b & 1);
        let carry = 0u8.wrapping_sub(a >> 7);
        a = (a << 1) ^ (0x1b & carry);
        b >>= 1;
    }
    product
}

/// The multiplicative inverse (a^254); 0 maps to 0.
fn inv(a: u8) -> u8 {
    // a^254 = a^(2+4+8+16+32+64+128)
    let mut result = 1u8;
    let mut power = a;
    for _ in 0..7 {
        power = mul(power, power);
        result = mul(result, power);
    }
    result
}

/// Splits `secret` into `parts` shares of which any `threshold` recover it.
pub fn split(secret: &[u8], parts: u8, threshold: u8) -> Result<Vec<Vec<u8>>, ShamirError> {
    if secret.is_empty() {
        return Err(ShamirError("cannot split an empty secret"));
    }
    if threshold < 2 || parts < threshold {
        return Err(ShamirError(
            "threshold must be at least 2 and at most the number of shares",
        ));
    }
    // Distinct random x coordinates in 1..=255.
    let mut xs: Vec<u8> = (1..=255).collect();
    for i in (1..xs.len()).rev() {
        let j = (rand::random::<u32>() as usize) % (i + 1);
        xs.swap(i, j);
    }
    xs.truncate(parts as usize);
    let mut shares: Vec<Vec<u8>> = xs
        .iter()
        .map(|_| Vec::with_capacity(secret.len() + 1))
        .collect();
    let mut coefficients = Zeroizing::new(vec![0u8; threshold as usize]);
    for &byte in secret {
        coefficients[0] = byte;
        for c in coefficients.iter_mut().skip(1) {
            *c = rand::random();
        }
        for (share, &x) in shares.iter_mut().zip(&xs) {
            // Horner's rule.
            let mut y = 0u8;
            for &c in coefficients.iter().rev() {
                y = mul(y, x) ^ c;
            }
            share.push(y);
        }
    }
    for (share, &x) in shares.iter_mut().zip(&xs) {
        share.push(x);
    }
    Ok(shares)
}

/// Recovers the secret from at least `threshold` shares (more are harmless;
/// fewer, or wrong ones, give a wrong secret, which the caller detects when
/// it fails to decrypt with it).
pub fn combine(shares: &[Vec<u8>]) -> Result<Zeroizing<Vec<u8>>, ShamirError> {
    if shares.len() < 2 {
        return Err(ShamirError("at least two shares are needed"));
    }
    let len = shares[0].len();
    if len < 2 || shares.iter().any(|s| s.len() != len) {
        return Err(ShamirError("shares must all have the same length"));
    }
    let xs: Vec<u8> = shares.iter().map(|s| s[len - 1]).collect();
    for (i, x) in xs.iter().enumerate() {
        if *x == 0 || xs[..i].contains(x) {
            return Err(ShamirError("shares must be distinct"));
        }
    }
    let mut secret = Zeroizing::new(vec![0u8; len - 1]);
    for (i, &xi) in xs.iter().enumerate() {
        // The Lagrange basis polynomial for share i, evaluated at 0.
        let mut basis = 1u8;
        for (j, &xj) in xs.iter().enumerate() {
            if i != j {
                basis = mul(basis, mul(xj, inv(xi ^ xj)));
            }
        }
        for (k, out) in secret.iter_mut().enumerate() {
            *out ^= mul(basis, shares[i][k]);
        }
    }
    Ok(secret)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Multiplication checked against a plain carry-less multiply and
    /// reduction written the textbook way.
    #[test]
    fn field_multiplication_matches_the_textbook() {
        fn slow(a: u8, b: u8) -> u8 {
            let mut p: u16 = 0;
            for i in 0..8 {
                if b >> i & 1 == 1 {
                    p ^= (a as u16) << i;
                }
            }
            for i in (8..16).rev() {
                if p >> i & 1 == 1 {
                    p ^= 0x11b << (i - 8);
                }
            }
            p as u8
        }
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                assert_eq!(mul(a, b), slow(a, b));
            }
            if a != 0 {
                assert_eq!(mul(a, inv(a)), 1);
            }
        }
        // A known value from FIPS-197: {57} • {83} = {c1}.
        assert_eq!(mul(0x57, 0x83), 0xc1);
    }

    /// Property: for random secrets and parameters, every subset of exactly
    /// `threshold` shares recovers the secret, and (with overwhelming
    /// probability) `threshold - 1` shares do not.
    #[test]
    fn any_threshold_subset_recovers_the_secret() {
        for round in 0..200 {
            let len = 1 + round % 40;
            let secret: Vec<u8> = (0..len).map(|_| rand::random()).collect();
            let parts = 2 + (rand::random::<u8>() % 9);
            let threshold = 2 + rand::random::<u8>() % (parts - 1);
            let shares = split(&secret, parts, threshold).unwrap();
            assert_eq!(shares.len(), parts as usize);
            assert!(shares.iter().all(|s| s.len() == len + 1));
            // A random subset of size threshold, in random order.
            let mut idx: Vec<usize> = (0..parts as usize).collect();
            for i in (1..idx.len()).rev() {
                idx.swap(i, rand::random::<usize>() % (i + 1));
            }
            let subset: Vec<Vec<u8>> = idx[..threshold as usize]
                .iter()
                .map(|&i| shares[i].clone())
                .collect();
            assert_eq!(combine(&subset).unwrap().as_slice(), secret.as_slice());
            if threshold > 2 && len >= 16 {
                let fewer = &subset[..threshold as usize - 1];
                assert_ne!(combine(fewer).unwrap().as_slice(), secret.as_slice());
            }
        }
    }

    #[test]
    fn bad_parameters_and_shares_are_refused() {
        assert!(split(b"", 3, 2).is_err());
        assert!(split(b"k", 3, 1).is_err());
        assert!(split(b"k", 2, 3).is_err());
        let shares = split(b"secret", 3, 2).unwrap();
        assert!(combine(&shares[..1]).is_err());
        assert!(combine(&[shares[0].clone(), shares[0].clone()]).is_err());
        assert!(combine(&[shares[0].clone(), shares[1][..3].to_vec()]).is_err());
        let mut zero_x = shares[1].clone();
        *zero_x.last_mut().unwrap() = 0;
        assert!(combine(&[shares[0].clone(), zero_x]).is_err());
    }
}
