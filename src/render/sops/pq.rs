//! age post-quantum identities (`AGE-SECRET-KEY-PQ-1…`, recipients `age1pq1…`,
//! stanza type `mlkem768x25519`), which sops ≥ 3.12 writes (docs/sops-format.md
//! §8) and the `age` crate (0.12) cannot decrypt yet. Implemented from age's
//! `pq.go` and `filippo.io/hpke`: RFC 9180 HPKE base mode with the
//! MLKEM768-X25519 (X-Wing) KEM `0x647a`, HKDF-SHA256 and ChaCha20-Poly1305,
//! info `age-encryption.org/mlkem768x25519`. Only the decryption side exists.

use age::DecryptError;
use age_core::format::{FileKey, Stanza};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::ChaCha20Poly1305;
use hkdf::Hkdf;
use ml_kem::kem::Decapsulate;
use ml_kem::{KemCore, MlKem768};
use sha2::Sha256;
use sha3::digest::{ExtendableOutput, Update, XofReader};
use sha3::{Digest, Sha3_256, Shake256};
use zeroize::Zeroizing;

const STANZA_TAG: &str = "mlkem768x25519";
const INFO: &[u8] = b"age-encryption.org/mlkem768x25519";
/// X-Wing's combiner label `\./` `/^\`.
const XWING_LABEL: &[u8] = b"\\.//^\\";
const KEM_ID: u16 = 0x647a;
const KDF_HKDF_SHA256: u16 = 0x0001;
const AEAD_CHACHA20POLY1305: u16 = 0x0003;
const CT_PQ: usize = 1088;
const CT_T: usize = 32;

/// One hybrid identity, expanded from its 32-byte seed.
pub(crate) struct HybridIdentity {
    dk_pq: <MlKem768 as KemCore>::DecapsulationKey,
    sk_t: x25519_dalek::StaticSecret,
    pk_t: [u8; 32],
}

impl HybridIdentity {
    /// Parses `AGE-SECRET-KEY-PQ-1…` (Bech32, HRP `AGE-SECRET-KEY-PQ-`). The error
    /// never repeats the key.
    pub(crate) fn parse(s: &str) -> Result<HybridIdentity, &'static str> {
        let (hrp, data) = bech32::decode(s).map_err(|_| "not a valid Bech32 post-quantum age identity")?;
        if !hrp.as_str().eq_ignore_ascii_case("AGE-SECRET-KEY-PQ-") {
            return Err("not a post-quantum age identity");
        }
        let data = Zeroizing::new(data);
        let seed: &[u8; 32] = data.as_slice().try_into().map_err(|_| "post-quantum age identity is not 32 bytes")?;
        Ok(HybridIdentity::from_seed(seed))
    }

    /// MLKEM768-X25519 key expansion: SHAKE256(seed) gives the 64-byte ML-KEM seed
    /// (d || z), then the 32-byte X25519 scalar.
    fn from_seed(seed: &[u8; 32]) -> HybridIdentity {
        let mut xof = Shake256::default();
        xof.update(seed);
        let mut reader = xof.finalize_xof();
        let mut d = Zeroizing::new([0u8; 32]);
        let mut z = Zeroizing::new([0u8; 32]);
        let mut t = Zeroizing::new([0u8; 32]);
        reader.read(d.as_mut());
        reader.read(z.as_mut());
        reader.read(t.as_mut());
        let (dk_pq, _) = MlKem768::generate_deterministic(&(*d).into(), &(*z).into());
        let sk_t = x25519_dalek::StaticSecret::from(*t);
        let pk_t = x25519_dalek::PublicKey::from(&sk_t).to_bytes();
        HybridIdentity { dk_pq, sk_t, pk_t }
    }

    /// KEM decapsulation: the X-Wing shared secret for `enc` = ct_pq || ct_t.
    fn decap(&self, enc: &[u8]) -> Option<Zeroizing<[u8; 32]>> {
        if enc.len() != CT_PQ + CT_T {
            return None;
        }
        let (ct_pq, ct_t) = enc.split_at(CT_PQ);
        let ct_pq: [u8; CT_PQ] = ct_pq.try_into().ok()?;
        let ss_pq = self.dk_pq.decapsulate(&ct_pq.into()).ok()?;
        let ct_t: [u8; CT_T] = ct_t.try_into().ok()?;
        let ss_t = self.sk_t.diffie_hellman(&x25519_dalek::PublicKey::from(ct_t));
        if !ss_t.was_contributory() {
            return None;
        }
        let mut h = Sha3_256::new();
        Digest::update(&mut h, ss_pq.as_slice());
        Digest::update(&mut h, ss_t.as_bytes());
        Digest::update(&mut h, ct_t);
        Digest::update(&mut h, self.pk_t);
        Digest::update(&mut h, XWING_LABEL);
        Some(Zeroizing::new(h.finalize().into()))
    }
}

fn suite_id() -> Vec<u8> {
    let mut id = b"HPKE".to_vec();
    for part in [KEM_ID, KDF_HKDF_SHA256, AEAD_CHACHA20POLY1305] {
        id.extend_from_slice(&part.to_be_bytes());
    }
    id
}

fn labeled_extract(salt: &[u8], label: &[u8], ikm: &[u8]) -> Hkdf<Sha256> {
    let mut labeled = b"HPKE-v1".to_vec();
    labeled.extend_from_slice(&suite_id());
    labeled.extend_from_slice(label);
    labeled.extend_from_slice(ikm);
    Hkdf::<Sha256>::new(Some(salt), &labeled)
}

fn labeled_expand(prk: &Hkdf<Sha256>, label: &[u8], info: &[u8], out: &mut [u8]) -> Option<()> {
    let len = u16::try_from(out.len()).ok()?;
    let mut labeled = len.to_be_bytes().to_vec();
    labeled.extend_from_slice(b"HPKE-v1");
    labeled.extend_from_slice(&suite_id());
    labeled.extend_from_slice(label);
    labeled.extend_from_slice(info);
    prk.expand(&labeled, out).ok()
}

/// The PRK bytes of a labeled extract, as the next salt / hash input.
fn extract_bytes(salt: &[u8], label: &[u8], ikm: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut labeled = b"HPKE-v1".to_vec();
    labeled.extend_from_slice(&suite_id());
    labeled.extend_from_slice(label);
    labeled.extend_from_slice(ikm);
    let (prk, _) = Hkdf::<Sha256>::extract(Some(salt), &labeled);
    Zeroizing::new(prk.to_vec())
}

/// HPKE base-mode open of the single message `ct` (sequence number 0).
fn hpke_open(shared_secret: &[u8], ct: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let psk_id_hash = extract_bytes(&[], b"psk_id_hash", &[]);
    let info_hash = extract_bytes(&[], b"info_hash", INFO);
    let mut context = vec![0u8];
    context.extend_from_slice(&psk_id_hash);
    context.extend_from_slice(&info_hash);
    let secret = labeled_extract(shared_secret, b"secret", &[]);
    let mut key = Zeroizing::new([0u8; 32]);
    let mut nonce = [0u8; 12];
    labeled_expand(&secret, b"key", &context, key.as_mut())?;
    labeled_expand(&secret, b"base_nonce", &context, &mut nonce)?;
    let aead = ChaCha20Poly1305::new_from_slice(key.as_ref()).ok()?;
    aead.decrypt(chacha20poly1305::Nonce::from_slice(&nonce), Payload { msg: ct, aad: &[] }).ok().map(Zeroizing::new)
}

impl age::Identity for HybridIdentity {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, DecryptError>> {
        if stanza.tag != STANZA_TAG {
            return None;
        }
        let [arg] = stanza.args.as_slice() else { return Some(Err(DecryptError::InvalidHeader)) };
        let Ok(enc) = base64::engine::general_purpose::STANDARD_NO_PAD.decode(arg) else {
            return Some(Err(DecryptError::InvalidHeader));
        };
        if stanza.body.len() != 16 + 16 {
            return Some(Err(DecryptError::InvalidHeader));
        }
        // ML-KEM rejects implicitly: a stanza for another key only fails at the AEAD.
        let ss = self.decap(&enc)?;
        let file_key = hpke_open(ss.as_ref(), &stanza.body)?;
        let key: [u8; 16] = file_key.as_slice().try_into().ok()?;
        Some(Ok(FileKey::new(Box::new(key))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_parse_only_as_pq_keys_and_errors_hide_the_key() {
        let err = HybridIdentity::parse("AGE-SECRET-KEY-1QQQQ").err().expect("not pq");
        assert!(!err.contains("QQQQ"));
        assert!(HybridIdentity::parse("not bech32").is_err());
    }

    #[test]
    fn foreign_stanzas_are_not_for_this_identity() {
        let id = HybridIdentity::from_seed(&[7u8; 32]);
        let stanza = Stanza { tag: "X25519".into(), args: vec!["x".into()], body: vec![0; 32] };
        assert!(age::Identity::unwrap_stanza(&id, &stanza).is_none());
        let wrong = Stanza {
            tag: STANZA_TAG.into(),
            args: vec![base64::engine::general_purpose::STANDARD_NO_PAD.encode([1u8; CT_PQ + CT_T])],
            body: vec![0; 32],
        };
        assert!(age::Identity::unwrap_stanza(&id, &wrong).is_none(), "implicit rejection, then aead failure");
    }
}
