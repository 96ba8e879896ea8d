//! Shamir secret sharing combine (docs/sops-format.md §9), HashiCorp Vault's
//! scheme as sops uses it: a share is one y byte per secret byte followed by
//! its x coordinate; arithmetic in GF(2^8) with the AES polynomial 0x11B; each
//! secret byte is the Lagrange interpolation at x = 0. No maintained crate
//! implements this exact share layout, and it is a few lines.

use crate::render::sops::error::Error;
use zeroize::Zeroizing;

fn mul(mut a: u8, mut b: u8) -> u8 {
    let mut p = 0u8;
    while b != 0 {
        if b & 1 != 0 {
            p ^= a;
        }
        let carry = a & 0x80 != 0;
        a <<= 1;
        if carry {
            a ^= 0x1B;
        }
        b >>= 1;
    }
    p
}

/// a^254 = a^-1 in GF(2^8) (a != 0).
fn inverse(a: u8) -> u8 {
    let mut result = 1u8;
    let mut base = a;
    let mut e = 254u8;
    while e != 0 {
        if e & 1 != 0 {
            result = mul(result, base);
        }
        base = mul(base, base);
        e >>= 1;
    }
    result
}

/// Rebuilds the secret from two or more shares.
pub(crate) fn combine(shares: &[Zeroizing<Vec<u8>>]) -> Result<Zeroizing<Vec<u8>>, Error> {
    if shares.len() < 2 {
        return Err(Error::Shamir("fewer than two shares"));
    }
    let len = shares[0].len();
    if len < 2 {
        return Err(Error::Shamir("shares must be at least two bytes"));
    }
    if shares.iter().any(|s| s.len() != len) {
        return Err(Error::Shamir("all shares must be the same length"));
    }
    let xs: Vec<u8> = shares.iter().map(|s| s[len - 1]).collect();
    for (i, x) in xs.iter().enumerate() {
        if xs[..i].contains(x) {
            return Err(Error::Shamir("duplicate share"));
        }
    }
    let mut secret = Zeroizing::new(vec![0u8; len - 1]);
    for (i, share) in shares.iter().enumerate() {
        // basis_i(0) = prod_{j != i} x_j / (x_i - x_j); subtraction is xor.
        let mut basis = 1u8;
        for (j, &xj) in xs.iter().enumerate() {
            if i != j {
                let denom = xs[i] ^ xj;
                basis = mul(basis, mul(xj, inverse(denom)));
            }
        }
        for (k, out) in secret.iter_mut().enumerate() {
            *out ^= mul(share[k], basis);
        }
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits with a fixed degree-1 polynomial per byte (test only).
    fn split2(secret: &[u8], coeff: u8, xs: &[u8]) -> Vec<Zeroizing<Vec<u8>>> {
        xs.iter()
            .map(|&x| {
                let mut s: Vec<u8> = secret.iter().map(|&b| b ^ mul(coeff, x)).collect();
                s.push(x);
                Zeroizing::new(s)
            })
            .collect()
    }

    #[test]
    fn any_two_shares_of_a_threshold_two_split_recover_the_secret() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let shares = split2(secret, 0x53, &[1, 2, 3]);
        for pair in [[0, 1], [1, 2], [0, 2]] {
            let got = combine(&[shares[pair[0]].clone(), shares[pair[1]].clone()]).expect("combine");
            assert_eq!(got.as_slice(), secret);
        }
        let all = combine(&shares).expect("all three");
        assert_eq!(all.as_slice(), secret);
    }

    #[test]
    fn inverse_is_multiplicative_inverse() {
        for a in 1..=255u8 {
            assert_eq!(mul(a, inverse(a)), 1, "{a}");
        }
    }

    #[test]
    fn rejects_bad_share_sets() {
        let s = split2(b"ab", 9, &[1, 1]);
        assert_eq!(combine(&s).expect_err("dup").to_string(), "cannot combine the key group shares: duplicate share");
        assert!(combine(&s[..1]).is_err());
    }
}
