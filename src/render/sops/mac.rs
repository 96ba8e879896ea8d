//! The MAC (docs/sops-format.md §7): SHA-512 over the typed plaintext values in
//! walk order, uppercase hex, stored encrypted with the data key and the
//! normalised `lastmodified` as AAD. kcmp always verifies it; there is no
//! `--ignore-mac`.

use crate::render::sops::cipher::{self, DataKey, Plain};
use crate::render::sops::error::Error;
use sha2::{Digest, Sha256, Sha512};
use zeroize::Zeroizing;

/// The running MAC of one file.
pub(crate) struct Mac {
    hash: Sha512,
}

impl Mac {
    /// `mac_only_encrypted` files start with SHA-256("sops") so the two modes never collide.
    pub(crate) fn new(mac_only_encrypted: bool) -> Mac {
        let mut hash = Sha512::new();
        if mac_only_encrypted {
            hash.update(Sha256::digest(b"sops"));
        }
        Mac { hash }
    }

    /// Feeds one value as sops' `ToBytes` renders it.
    pub(crate) fn feed(&mut self, value: &Plain) {
        match value {
            Plain::Str(s) | Plain::Time(s) => self.hash.update(s.as_bytes()),
            Plain::Bytes(b) => self.hash.update(b),
            Plain::Int(i) => self.hash.update(i.to_string().as_bytes()),
            Plain::Float(f) => self.hash.update(Zeroizing::new(go_format_float(*f)).as_bytes()),
            Plain::Bool(true) => self.hash.update(b"True"),
            Plain::Bool(false) => self.hash.update(b"False"),
            Plain::Comment(_) => {}
        }
    }

    /// Feeds raw text (a clear value already rendered the way `ToBytes` would).
    pub(crate) fn feed_text(&mut self, text: &str) {
        self.hash.update(text.as_bytes());
    }

    /// Compares with the stored, encrypted MAC.
    pub(crate) fn verify(self, key: &DataKey, stored: &str, lastmodified: &str) -> Result<(), Error> {
        let computed = Zeroizing::new(hex_upper(&self.hash.finalize()));
        if stored.is_empty() {
            return Err(Error::NoMac);
        }
        let aad = normalize_rfc3339(lastmodified)
            .ok_or_else(|| Error::Metadata(format!("lastmodified {lastmodified:?} is not an RFC 3339 time")))?;
        let stored = match cipher::decrypt(key, stored, &aad) {
            Ok(Plain::Str(s)) => Zeroizing::new(s),
            Ok(_) => return Err(Error::MacUndecryptable),
            Err(Error::Envelope { reason, .. }) => return Err(Error::Envelope { path: "sops:mac:".into(), reason }),
            Err(_) => return Err(Error::MacUndecryptable),
        };
        if stored.as_bytes() == computed.as_bytes() {
            Ok(())
        } else {
            Err(Error::MacMismatch)
        }
    }
}

fn hex_upper(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out
}

/// Go `strconv.FormatFloat(f, 'f', -1, 64)`: Rust's `{}` prints the same shortest
/// round-trip digits without exponent; only the infinities are spelled differently.
pub(crate) fn go_format_float(f: f64) -> String {
    if f == f64::INFINITY {
        "+Inf".to_string()
    } else if f == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        format!("{f}")
    }
}

/// `lastmodified` parsed as RFC 3339 and re-formatted with Go's RFC 3339 layout:
/// fractional seconds dropped, a zero offset written `Z`.
pub(crate) fn normalize_rfc3339(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
        || !matches!(b[10], b'T' | b't')
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = &frac[n..];
    }
    let base = format!("{}T{}", &s[..10], &s[11..19]);
    match rest {
        "Z" | "z" => Some(format!("{base}Z")),
        off if off.len() == 6
            && (off.starts_with('+') || off.starts_with('-'))
            && off.as_bytes()[3] == b':'
            && off[1..3].bytes().all(|d| d.is_ascii_digit())
            && off[4..6].bytes().all(|d| d.is_ascii_digit()) =>
        {
            if &off[1..] == "00:00" {
                Some(format!("{base}Z"))
            } else {
                Some(format!("{base}{off}"))
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lastmodified_is_normalised_like_go() {
        assert_eq!(normalize_rfc3339("2024-11-12T13:33:42Z").as_deref(), Some("2024-11-12T13:33:42Z"));
        assert_eq!(normalize_rfc3339("2024-11-12T13:33:42.123+00:00").as_deref(), Some("2024-11-12T13:33:42Z"));
        assert_eq!(normalize_rfc3339("2024-11-12T13:33:42-05:30").as_deref(), Some("2024-11-12T13:33:42-05:30"));
        assert_eq!(normalize_rfc3339("yesterday"), None);
    }

    #[test]
    fn floats_hash_like_go_format_float() {
        assert_eq!(go_format_float(1.0), "1");
        assert_eq!(go_format_float(1e21), "1000000000000000000000");
        assert_eq!(go_format_float(1e-6), "0.000001");
        assert_eq!(go_format_float(-0.0), "-0");
        assert_eq!(go_format_float(f64::INFINITY), "+Inf");
        assert_eq!(go_format_float(f64::NAN), "NaN");
    }

    #[test]
    fn values_are_hashed_without_separators() {
        let mut a = Mac::new(false);
        a.feed(&Plain::Str("ab".into()));
        a.feed(&Plain::Bool(true));
        let mut b = Mac::new(false);
        b.feed_text("abTrue");
        assert_eq!(a.hash.finalize(), b.hash.finalize());
    }
}
