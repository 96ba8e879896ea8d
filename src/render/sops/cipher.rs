//! Value encryption format (docs/sops-format.md §4, §5): parse
//! `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`, AES-256-GCM-decrypt it with the
//! data key and the key-path AAD, and restore the typed plaintext.
//! sops writes 32-byte IVs, which `aes-gcm` supports as a non-default nonce size.

use crate::render::sops::error::Error;
use aes::Aes256;
use aes_gcm::aead::consts::{U12, U32};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::AesGcm;
use base64::Engine as _;
use zeroize::{Zeroize, Zeroizing};

/// The 32-byte data key of one file. Zeroized on drop; `Debug` prints nothing.
pub(crate) struct DataKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

impl DataKey {
    /// A data key from unwrapped bytes; sops keys are always 32 bytes.
    pub(crate) fn from_slice(bytes: &[u8]) -> Option<DataKey> {
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(DataKey(Zeroizing::new(arr)))
    }
}

/// A typed plaintext value (the `type:` of the envelope).
#[derive(Clone, PartialEq, Zeroize)]
pub(crate) enum Plain {
    /// `str` (valid UTF-8).
    Str(String),
    /// `str` whose bytes are not UTF-8 (binary store), or legacy `bytes`.
    Bytes(Vec<u8>),
    /// `int`.
    Int(i64),
    /// `float`.
    Float(f64),
    /// `bool`.
    Bool(bool),
    /// `time`, kept as its RFC 3339 text.
    Time(String),
    /// `comment`.
    Comment(String),
}

impl std::fmt::Debug for Plain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

struct Envelope {
    data: Vec<u8>,
    iv: Vec<u8>,
    tag: Vec<u8>,
    kind: String,
}

fn envelope(s: &str, path: &str) -> Result<Envelope, Error> {
    let bad = |reason| Error::Envelope { path: path.to_string(), reason };
    // sops' regex: ^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\] (greedy,
    // anchored at the start only); base64 never contains ',' so splitting is equivalent.
    let inner = s.strip_prefix("ENC[AES256_GCM,").ok_or_else(|| bad("missing ENC[AES256_GCM, prefix"))?;
    let end = inner.rfind(']').ok_or_else(|| bad("missing closing ']'"))?;
    let inner = &inner[..end];
    let rest = inner.strip_prefix("data:").ok_or_else(|| bad("missing data field"))?;
    let (data, rest) = rest.split_once(",iv:").ok_or_else(|| bad("missing iv field"))?;
    let (iv, rest) = rest.split_once(",tag:").ok_or_else(|| bad("missing tag field"))?;
    let (tag, kind) = rest.split_once(",type:").ok_or_else(|| bad("missing type field"))?;
    if data.is_empty() || iv.is_empty() || tag.is_empty() || kind.is_empty() {
        return Err(bad("empty field"));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(Envelope {
        data: b64.decode(data).map_err(|_| bad("data is not valid base64"))?,
        iv: b64.decode(iv).map_err(|_| bad("iv is not valid base64"))?,
        tag: b64.decode(tag).map_err(|_| bad("tag is not valid base64"))?,
        kind: kind.to_string(),
    })
}

/// Decrypts one value; `aad` is the key path joined with ':' plus a trailing ':'.
/// An empty string is sops' encryption of the empty string (§4).
pub(crate) fn decrypt(key: &DataKey, value: &str, aad: &str) -> Result<Plain, Error> {
    if value.is_empty() {
        return Ok(Plain::Str(String::new()));
    }
    let env = envelope(value, aad)?;
    if env.tag.len() != 16 {
        return Err(Error::Envelope { path: aad.to_string(), reason: "tag is not 16 bytes" });
    }
    let mut sealed = Vec::with_capacity(env.data.len() + 16);
    sealed.extend_from_slice(&env.data);
    sealed.extend_from_slice(&env.tag);
    let payload = Payload { msg: &sealed, aad: aad.as_bytes() };
    let failed = || Error::Value { path: aad.to_string() };
    let bytes = Zeroizing::new(match env.iv.len() {
        32 => AesGcm::<Aes256, U32>::new_from_slice(key.0.as_ref())
            .map_err(|_| failed())?
            .decrypt(aes_gcm::Nonce::<U32>::from_slice(&env.iv), payload)
            .map_err(|_| failed())?,
        12 => AesGcm::<Aes256, U12>::new_from_slice(key.0.as_ref())
            .map_err(|_| failed())?
            .decrypt(aes_gcm::Nonce::<U12>::from_slice(&env.iv), payload)
            .map_err(|_| failed())?,
        _ => return Err(Error::Envelope { path: aad.to_string(), reason: "iv is neither 32 nor 12 bytes" }),
    });
    typed(&bytes, &env.kind, aad)
}

fn typed(bytes: &[u8], kind: &str, path: &str) -> Result<Plain, Error> {
    let bad = || Error::Type { path: path.to_string(), kind: kind.to_string() };
    let text = || std::str::from_utf8(bytes).map_err(|_| bad());
    Ok(match kind {
        "str" => match std::str::from_utf8(bytes) {
            Ok(s) => Plain::Str(s.to_string()),
            Err(_) => Plain::Bytes(bytes.to_vec()),
        },
        "bytes" => Plain::Bytes(bytes.to_vec()),
        "comment" => Plain::Comment(text()?.to_string()),
        "time" => Plain::Time(text()?.to_string()),
        // Go strconv.Atoi: optional sign, decimal digits, fits int64.
        "int" => {
            let t = text()?;
            let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            Plain::Int(t.parse().map_err(|_| bad())?)
        }
        "float" => Plain::Float(go_parse_float(text()?).ok_or_else(bad)?),
        // Go strconv.ParseBool.
        "bool" => match text()? {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Plain::Bool(true),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Plain::Bool(false),
            _ => return Err(bad()),
        },
        _ => return Err(Error::Envelope { path: path.to_string(), reason: "unknown datatype in type field" }),
    })
}

/// Go `strconv.ParseFloat(s, 64)` for the forms sops writes (`FormatFloat('f', -1)`,
/// `+Inf`, `-Inf`, `NaN`) and the decimal/exponent forms Go accepts.
fn go_parse_float(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "+inf" | "inf" | "+Infinity" | "Infinity" => return Some(f64::INFINITY),
        "-Inf" | "-inf" | "-Infinity" => return Some(f64::NEG_INFINITY),
        "NaN" | "nan" => return Some(f64::NAN),
        _ => {}
    }
    if !s.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E')) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal(key: &[u8; 32], iv: &[u8; 32], plain: &[u8], aad: &str, kind: &str) -> String {
        let cipher = AesGcm::<Aes256, U32>::new_from_slice(key).expect("key");
        let out = cipher
            .encrypt(aes_gcm::Nonce::<U32>::from_slice(iv), Payload { msg: plain, aad: aad.as_bytes() })
            .expect("seal");
        let (data, tag) = out.split_at(out.len() - 16);
        let b = base64::engine::general_purpose::STANDARD;
        format!("ENC[AES256_GCM,data:{},iv:{},tag:{},type:{kind}]", b.encode(data), b.encode(iv), b.encode(tag))
    }

    #[test]
    fn round_trips_typed_values_and_binds_the_key_path() {
        let key = DataKey::from_slice(&[7u8; 32]).expect("key");
        let enc = seal(&[7u8; 32], &[1u8; 32], b"42", "a:b:", "int");
        assert_eq!(decrypt(&key, &enc, "a:b:").expect("decrypts"), Plain::Int(42));
        let moved = decrypt(&key, &enc, "a:c:").expect_err("aad differs");
        assert_eq!(
            moved.to_string(),
            "could not decrypt the value at 'a:c:': message authentication failed (the value was edited or moved to another key)"
        );
        let enc = seal(&[7u8; 32], &[1u8; 32], b"True", "x:", "bool");
        assert_eq!(decrypt(&key, &enc, "x:").expect("bool"), Plain::Bool(true));
        let enc = seal(&[7u8; 32], &[1u8; 32], b"-0", "x:", "float");
        assert!(matches!(decrypt(&key, &enc, "x:").expect("float"), Plain::Float(f) if f == 0.0));
    }

    #[test]
    fn bad_type_payload_is_an_error_without_the_value() {
        let key = DataKey::from_slice(&[7u8; 32]).expect("key");
        let enc = seal(&[7u8; 32], &[1u8; 32], b"s3cret", "n:", "int");
        let err = decrypt(&key, &enc, "n:").expect_err("not an int");
        assert!(!err.to_string().contains("s3cret"), "{err}");
        assert_eq!(err.to_string(), "the value at 'n:' does not decode as its recorded type 'int'");
    }

    #[test]
    fn malformed_envelopes_are_named() {
        let key = DataKey::from_slice(&[0u8; 32]).expect("key");
        let err = decrypt(&key, "ENC[AES256_GCM,data:AA==,iv:AA==]", "k:").expect_err("no tag");
        assert_eq!(err.to_string(), "value at 'k:' is not in sops' ENC[AES256_GCM,...] format: missing tag field");
        assert_eq!(decrypt(&key, "", "k:").expect("empty"), Plain::Str(String::new()));
    }
}
