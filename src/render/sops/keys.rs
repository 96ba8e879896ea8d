//! Identities and data-key recovery (docs/sops-format.md §8, §9, §11).
//!
//! [`Keyring::from_vars`] loads identities once (X25519 and, through `pq`,
//! post-quantum age keys; SSH keys; OpenPGP keys), from the variables sops reads:
//! `SOPS_AGE_KEY` (keys, whitespace separated), `SOPS_AGE_KEY_FILE`, the default
//! `$XDG_CONFIG_HOME/sops/age/keys.txt` or `<home>/.config/sops/age/keys.txt`,
//! `SOPS_AGE_SSH_PRIVATE_KEY_FILE` and the unencrypted `<home>/.ssh/id_ed25519`
//! / `id_rsa`, and, since kcmp never runs gpg, OpenPGP secret keys from an
//! armored key file named by `SOPS_PGP_KEY_FILE` (or the armored text itself in
//! `SOPS_PGP_KEY`). Commands (`SOPS_AGE_KEY_CMD`, gpg) are not run: no shell.
//! Key files are process configuration, read here once at startup with
//! `std::fs`, never through the repository's `Fs`, so a repository can neither
//! name nor read a key file.
//!
//! [`data_key`] tries every master key of every group (age, then pgp; cloud
//! KMS and Vault are reported as not supported), combines Shamir shares when
//! the file has several groups, and lists every recipient tried on failure.

use crate::render::sops::cipher::DataKey;
use crate::render::sops::error::Error;
use crate::render::sops::metadata::{MasterKey, Metadata};
use crate::render::sops::shamir;
use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::Zeroizing;

/// Decryption identities (age, age-SSH, PGP). `Debug` never prints key material.
#[derive(Clone, Default)]
pub struct Keyring {
    age: Vec<Arc<dyn age::Identity + Send + Sync>>,
    pgp: Vec<Arc<pgp::composed::SignedSecretKey>>,
    /// Where identities came from and what was skipped, for "no key" messages.
    sources: Vec<String>,
    /// How many post-quantum (`AGE-SECRET-KEY-PQ-1…`) identities were loaded.
    post_quantum: usize,
    /// `SOPS_DECRYPTION_ORDER`: key types tried first, in this order (default age, pgp).
    order: Vec<String>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyring(<redacted>)")
    }
}

/// A failure to load identities: names the variable or file, never its content.
fn load_error(what: &str, why: impl std::fmt::Display) -> crate::render::Error {
    crate::render::Error::new(crate::render::ErrorKind::Sops, format!("{what}: {why}"))
}

impl Keyring {
    /// Loads identities named by `SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE`,
    /// `SOPS_AGE_SSH_PRIVATE_KEY_FILE`, `SOPS_PGP_KEY_FILE` / `SOPS_PGP_KEY`, and the
    /// default `<home>/.config/sops/age/keys.txt`. `vars` is the process environment.
    /// A variable that names a missing or invalid key file is an error; the default
    /// locations are optional.
    pub fn from_vars(vars: &BTreeMap<String, String>, home: Option<&Path>) -> Result<Keyring, crate::render::Error> {
        let mut ring = Keyring::default();
        let var = |name: &str| vars.get(name).filter(|v| !v.trim().is_empty());
        if let Some(order) = var("SOPS_DECRYPTION_ORDER") {
            ring.order = order.split(',').map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect();
        }
        if let Some(keys) = var("SOPS_AGE_KEY") {
            // Several keys per line are allowed here, split on whitespace; `#` lines are comments.
            let keys = Zeroizing::new(
                keys.lines()
                    .filter(|l| !l.trim_start().starts_with('#'))
                    .flat_map(str::split_whitespace)
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
            ring.add_age_keys(&keys, "SOPS_AGE_KEY").map_err(|e| load_error("SOPS_AGE_KEY", e))?;
        }
        if let Some(path) = var("SOPS_AGE_KEY_FILE") {
            let text = read_secret(Path::new(path)).map_err(|e| load_error(&format!("SOPS_AGE_KEY_FILE {path}"), e))?;
            ring.add_age_keys(&text, &format!("SOPS_AGE_KEY_FILE {path}"))
                .map_err(|e| load_error(&format!("SOPS_AGE_KEY_FILE {path}"), e))?;
        }
        let config_dir = var("XDG_CONFIG_HOME").map(PathBuf::from).or_else(|| home.map(|h| h.join(".config")));
        if let Some(default) = config_dir.map(|d| d.join("sops/age/keys.txt")) {
            if let Ok(text) = read_secret(&default) {
                let shown = default.display().to_string();
                ring.add_age_keys(&text, &shown).map_err(|e| load_error(&shown, e))?;
            }
        }
        if let Some(path) = var("SOPS_AGE_SSH_PRIVATE_KEY_FILE") {
            let text = read_secret(Path::new(path))
                .map_err(|e| load_error(&format!("SOPS_AGE_SSH_PRIVATE_KEY_FILE {path}"), e))?;
            ring.add_ssh_key(&text, path, true)
                .map_err(|e| load_error(&format!("SOPS_AGE_SSH_PRIVATE_KEY_FILE {path}"), e))?;
        }
        if let Some(home) = home {
            for name in ["id_ed25519", "id_rsa"] {
                let path = home.join(".ssh").join(name);
                if let Ok(text) = read_secret(&path) {
                    // Optional like in sops; a key kcmp cannot use is noted, not fatal.
                    if let Err(why) = ring.add_ssh_key(&text, &path.display().to_string(), false) {
                        ring.sources.push(format!("{} skipped: {why}", path.display()));
                    }
                }
            }
        }
        if let Some(path) = var("SOPS_PGP_KEY_FILE") {
            let text = read_secret(Path::new(path)).map_err(|e| load_error(&format!("SOPS_PGP_KEY_FILE {path}"), e))?;
            ring.add_pgp_keys(&text, &format!("SOPS_PGP_KEY_FILE {path}"))
                .map_err(|e| load_error(&format!("SOPS_PGP_KEY_FILE {path}"), e))?;
        }
        if let Some(text) = var("SOPS_PGP_KEY") {
            ring.add_pgp_keys(text, "SOPS_PGP_KEY").map_err(|e| load_error("SOPS_PGP_KEY", e))?;
        }
        Ok(ring)
    }

    /// Whether no identity at all was loaded.
    pub fn is_empty(&self) -> bool {
        self.age.is_empty() && self.pgp.is_empty()
    }

    /// Adds the identities of an age keys file (one per line, `#` comments).
    fn add_age_keys(&mut self, text: &str, source: &str) -> Result<(), String> {
        let trimmed = text.trim_start();
        if trimmed.starts_with("age-encryption.org/") || trimmed.starts_with("-----BEGIN AGE") {
            return Err("passphrase-protected age identity files are not supported (no prompt in kcmp); store the identity unencrypted in a mounted secret".into());
        }
        let mut count = 0;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with("AGE-SECRET-KEY-PQ-") {
                let id = crate::render::sops::pq::HybridIdentity::parse(line)
                    .map_err(|why| format!("line {}: {why}", n + 1))?;
                self.age.push(Arc::new(id));
                self.post_quantum += 1;
                count += 1;
                continue;
            }
            if line.starts_with("AGE-PLUGIN-") {
                return Err(format!("line {}: age plugin identities are not supported", n + 1));
            }
            let id: age::x25519::Identity =
                line.parse().map_err(|_| format!("line {} is not an age identity (AGE-SECRET-KEY-1...)", n + 1))?;
            self.age.push(Arc::new(id));
            count += 1;
        }
        self.sources.push(format!("{source} ({count} age identities)"));
        Ok(())
    }

    fn add_ssh_key(&mut self, text: &str, source: &str, explicit: bool) -> Result<(), String> {
        let id = age::ssh::Identity::from_buffer(text.as_bytes(), Some(source.to_string()))
            .map_err(|_| "not an OpenSSH private key age can use (ssh-ed25519 or ssh-rsa)".to_string())?;
        match id {
            age::ssh::Identity::Unencrypted(_) => {
                self.age.push(Arc::new(id));
                self.sources.push(format!("{source} (ssh identity)"));
                Ok(())
            }
            age::ssh::Identity::Encrypted(_) => {
                Err("passphrase-protected ssh keys are not supported (no prompt in kcmp)".into())
            }
            age::ssh::Identity::Unsupported(_) if explicit => Err("unsupported ssh key type".into()),
            age::ssh::Identity::Unsupported(_) => Err("unsupported ssh key type".into()),
        }
    }

    fn add_pgp_keys(&mut self, text: &str, source: &str) -> Result<(), String> {
        use pgp::composed::{Deserializable as _, SignedSecretKey};
        let (keys, _) = SignedSecretKey::from_armor_many(std::io::Cursor::new(text.as_bytes()))
            .map_err(|_| "not an armored OpenPGP secret key (-----BEGIN PGP PRIVATE KEY BLOCK-----)".to_string())?;
        let mut count = 0;
        for key in keys {
            let key = key.map_err(|_| "not an armored OpenPGP secret key".to_string())?;
            self.pgp.push(Arc::new(key));
            count += 1;
        }
        if count == 0 {
            return Err("no OpenPGP secret key in it".into());
        }
        self.sources.push(format!("{source} ({count} pgp keys)"));
        Ok(())
    }

    fn describe(&self) -> String {
        if self.sources.is_empty() {
            "no identities loaded (set SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, SOPS_AGE_SSH_PRIVATE_KEY_FILE or SOPS_PGP_KEY_FILE)"
                .into()
        } else {
            format!("identities from {}", self.sources.join(", "))
        }
    }
}

fn read_secret(path: &Path) -> std::io::Result<Zeroizing<String>> {
    let mut f = std::fs::File::open(path)?;
    let mut text = Zeroizing::new(String::new());
    f.read_to_string(&mut text)?;
    Ok(text)
}

/// Unwraps one master key to the bytes it holds (the data key, or a Shamir share).
fn unwrap(key: &MasterKey, ring: &Keyring) -> Result<Zeroizing<Vec<u8>>, String> {
    match key {
        MasterKey::Age { recipient, enc } => {
            if recipient.starts_with("age1pq1") && ring.post_quantum == 0 {
                return Err(format!(
                    "this is a post-quantum recipient and no post-quantum identity (AGE-SECRET-KEY-PQ-1...) is loaded; {}",
                    ring.describe()
                ));
            }
            if ring.age.is_empty() {
                return Err(format!("no age identity loaded; {}", ring.describe()));
            }
            let reader = age::armor::ArmoredReader::new(enc.as_bytes());
            let decryptor = age::Decryptor::new(reader).map_err(|e| format!("invalid age ciphertext in enc: {e}"))?;
            let mut stream =
                decryptor.decrypt(ring.age.iter().map(|i| i.as_ref() as &dyn age::Identity)).map_err(|e| match e {
                    age::DecryptError::NoMatchingKeys => {
                        format!("no loaded age identity matches this recipient; {}", ring.describe())
                    }
                    other => format!("age decryption failed: {other}"),
                })?;
            let mut out = Zeroizing::new(Vec::new());
            stream.read_to_end(&mut out).map_err(|e| format!("age decryption failed: {e}"))?;
            Ok(out)
        }
        MasterKey::Pgp { enc, .. } => {
            if ring.pgp.is_empty() {
                return Err(format!("no pgp secret key loaded (set SOPS_PGP_KEY_FILE); {}", ring.describe()));
            }
            for secret in &ring.pgp {
                if let Some(bytes) = pgp_decrypt(enc, secret) {
                    return Ok(bytes);
                }
            }
            Err(format!("no loaded pgp secret key decrypts it; {}", ring.describe()))
        }
        MasterKey::Remote { kind, .. } => {
            Err(format!("key type '{kind}' is not supported by kcmp (offline decryption only)"))
        }
    }
}

fn pgp_decrypt(armored: &str, key: &pgp::composed::SignedSecretKey) -> Option<Zeroizing<Vec<u8>>> {
    use pgp::composed::Message;
    let (msg, _) = Message::from_string(armored).ok()?;
    let mut msg = msg.decrypt(&pgp::types::Password::empty(), key).ok()?;
    if msg.is_compressed() {
        msg = msg.decompress().ok()?;
    }
    let bytes = Zeroizing::new(msg.as_data_vec().ok()?);
    // A zero-byte result counts as failure, as in sops.
    (!bytes.is_empty()).then_some(bytes)
}

/// A group's keys stably sorted by the decryption order (§9); types not named keep
/// their place after the named ones. The default order is the metadata order.
fn ordered<'a>(group: &'a [MasterKey], order: &[String]) -> Vec<&'a MasterKey> {
    let mut keys: Vec<&MasterKey> = group.iter().collect();
    if !order.is_empty() {
        let rank = |k: &MasterKey| order.iter().position(|t| t == k.kind()).unwrap_or(order.len());
        keys.sort_by_key(|k| rank(k));
    }
    keys
}

/// Recovers the file's data key with the identities in `ring` (§9).
pub(crate) fn data_key(meta: &Metadata, ring: &Keyring) -> Result<DataKey, Error> {
    let mut tried = Vec::new();
    let mut shares = Vec::new();
    let several = meta.groups.len() > 1;
    for (g, group) in meta.groups.iter().enumerate() {
        for key in ordered(group, &ring.order) {
            match unwrap(key, ring) {
                Ok(bytes) => {
                    shares.push(bytes);
                    break;
                }
                Err(why) => {
                    let prefix = if several { format!("group {g}: ") } else { String::new() };
                    tried.push(format!("  {prefix}{}: {why}", key.label()));
                }
            }
        }
    }
    let tried = tried.join("\n");
    if !several {
        let Some(bytes) = shares.pop() else { return Err(Error::NoKey { tried }) };
        return DataKey::from_slice(&bytes)
            .ok_or_else(|| Error::Metadata("the unwrapped data key is not 32 bytes".into()));
    }
    if shares.len() < meta.threshold.max(2) {
        if shares.is_empty() {
            return Err(Error::NoKey { tried });
        }
        return Err(Error::Threshold { needed: meta.threshold, got: shares.len(), tried });
    }
    let secret = shamir::combine(&shares)?;
    DataKey::from_slice(&secret).ok_or_else(|| Error::Metadata("the combined data key is not 32 bytes".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `getsops-sops/age-vectors` (from sops' age/keysource_test.go), if shared/ is beside the repo.
    fn vectors() -> Option<PathBuf> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata/sops/getsops-sops/age-vectors");
        if dir.is_dir() {
            Some(dir)
        } else {
            eprintln!("skipping: {} is absent", dir.display());
            None
        }
    }

    fn ring(var: &str, path: &Path) -> Result<Keyring, crate::render::Error> {
        let vars = BTreeMap::from([(var.to_string(), path.display().to_string())]);
        Keyring::from_vars(&vars, None)
    }

    fn read(dir: &Path, name: &str) -> String {
        std::fs::read_to_string(dir.join(name)).expect("vector")
    }

    #[test]
    fn age_vectors_x25519_and_ssh_identities_unwrap_the_key() {
        let Some(dir) = vectors() else { return };
        let recipient = read(&dir, "recipient.txt").trim().to_string();
        let key = MasterKey::Age { recipient: recipient.clone(), enc: read(&dir, "encrypted-key.age.asc") };
        let x25519 = ring("SOPS_AGE_KEY_FILE", &dir.join("identity.txt")).expect("identity");
        assert_eq!(unwrap(&key, &x25519).expect("decrypts").as_slice(), b"data");
        let other = ring("SOPS_AGE_KEY_FILE", &dir.join("other-identity.txt")).expect("identity");
        let why = unwrap(&key, &other).expect_err("wrong identity");
        assert!(why.starts_with("no loaded age identity matches this recipient"), "{why}");

        let ssh = ring("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &dir.join("ssh-ed25519-identity")).expect("ssh identity");
        let key = MasterKey::Age {
            recipient: read(&dir, "ssh-ed25519-recipient.pub").trim().to_string(),
            enc: read(&dir, "encrypted-key-for-ssh.age.asc"),
        };
        assert_eq!(unwrap(&key, &ssh).expect("ssh decrypts").as_slice(), b"data");
    }

    #[test]
    fn passphrase_protected_identity_files_are_refused_clearly() {
        let Some(dir) = vectors() else { return };
        let err = ring("SOPS_AGE_KEY_FILE", &dir.join("passphrase-identity.age.asc")).expect_err("protected");
        assert!(err.to_string().contains("passphrase-protected age identity files are not supported"), "{err}");
        assert!(err.to_string().contains("passphrase-identity.age.asc"), "names the file: {err}");
    }

    #[test]
    fn post_quantum_identities_load_and_are_required_for_pq_recipients() {
        let Some(dir) = vectors() else { return };
        let pq = ring("SOPS_AGE_KEY_FILE", &dir.join("hybrid-identity.txt")).expect("pq identity file loads");
        assert!(!pq.is_empty());
        let x25519 = ring("SOPS_AGE_KEY_FILE", &dir.join("identity.txt")).expect("identity");
        let key = MasterKey::Age { recipient: "age1pq1xyz".into(), enc: String::new() };
        let why = unwrap(&key, &x25519).expect_err("no pq identity");
        assert!(why.starts_with("this is a post-quantum recipient and no post-quantum identity"), "{why}");
    }

    #[test]
    fn bad_key_material_errors_name_the_variable_but_not_the_content() {
        let vars = BTreeMap::from([("SOPS_AGE_KEY".to_string(), "AGE-SECRET-KEY-1NOTAKEY".to_string())]);
        let err = Keyring::from_vars(&vars, None).expect_err("bad key");
        assert_eq!(
            err.to_string(),
            "sops decryption failed: SOPS_AGE_KEY: line 1 is not an age identity (AGE-SECRET-KEY-1...)"
        );
        assert!(format!("{:?}", Keyring::default()).contains("redacted"));
    }

    #[test]
    fn decryption_order_puts_named_types_first() {
        let group = vec![
            MasterKey::Age { recipient: "a".into(), enc: String::new() },
            MasterKey::Pgp { fp: "p".into(), enc: String::new() },
            MasterKey::Remote { field: "kms", kind: "aws kms", id: "k".into() },
        ];
        let labels = |order: &[String]| ordered(&group, order).iter().map(|k| k.label()).collect::<Vec<_>>();
        assert_eq!(labels(&[]), ["age a", "pgp p", "aws kms k"]);
        assert_eq!(labels(&["pgp".to_string()]), ["pgp p", "age a", "aws kms k"]);
        let vars = BTreeMap::from([("SOPS_DECRYPTION_ORDER".to_string(), "pgp, age".to_string())]);
        assert_eq!(Keyring::from_vars(&vars, None).expect("ring").order, ["pgp", "age"]);
    }

    #[test]
    fn cloud_kms_keys_are_reported_as_unsupported() {
        let key = MasterKey::Remote { field: "kms", kind: "aws kms", id: "arn:aws:kms:eu-west-1:1:key/x".into() };
        let why = unwrap(&key, &Keyring::default()).expect_err("kms");
        assert_eq!(why, "key type 'aws kms' is not supported by kcmp (offline decryption only)");
    }
}
