//! In-memory SOPS decryption (docs/sops-format.md): detect encrypted files, unwrap
//! the data key with the configured identities, decrypt every value, verify the MAC.
//! Plaintext never touches disk or logs.
//!
//! STUB: signatures fixed by the lead; implementation pending (sops helper).

use crate::render::error::{Error, ErrorKind};
use crate::render::yaml::parse::Document;
use std::collections::BTreeMap;
use std::path::Path;

/// Decryption identities (age, age-SSH, PGP). `Debug` never prints key material.
#[derive(Clone, Default)]
pub struct Keyring {
    _private: (),
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyring(<redacted>)")
    }
}

impl Keyring {
    /// Loads identities named by `SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE`,
    /// `SOPS_AGE_SSH_PRIVATE_KEY_FILE`, the PGP key variable, and the default
    /// `<home>/.config/sops/age/keys.txt`. `vars` is the process environment.
    pub fn from_vars(vars: &BTreeMap<String, String>, home: Option<&Path>) -> Result<Keyring, Error> {
        let _ = (vars, home);
        Ok(Keyring::default())
    }
}

/// Whether and how the engine decrypts SOPS files.
#[derive(Clone, Debug, Default)]
pub enum Decryption {
    /// Encrypted files are an error ("decryption is disabled").
    Disabled,
    /// Decrypt with these identities.
    Enabled(Keyring),
    /// Default: decrypt with no identities (an encrypted file fails with "no key").
    #[default]
    NoKeys,
}

impl Decryption {
    /// For a YAML/JSON resource file: `Ok(None)` when not SOPS-encrypted, else the
    /// decrypted documents (sops metadata removed). `file` is for messages only.
    pub fn documents(&self, file: &str, text: &str) -> Result<Option<Vec<Document>>, Error> {
        let _ = file;
        if text.contains("\nsops:") || text.starts_with("sops:") || text.contains("\"sops\"") {
            return Err(Error::new(ErrorKind::Sops, "sops decryption is not implemented yet").in_file(file));
        }
        Ok(None)
    }

    /// For a generator source (dotenv, INI, JSON, YAML, binary): `Ok(None)` when not
    /// encrypted, else the plaintext as `sops decrypt` prints it.
    pub fn source(&self, file: &str, bytes: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        let _ = (file, bytes);
        Ok(None)
    }
}
