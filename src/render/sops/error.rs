//! `sops::Error`: every way an in-memory SOPS decryption can fail
//! (docs/sops-format.md §10). Messages never contain decrypted values, data
//! keys or identities: only paths, recipients, fingerprints and key types.
//! `render::Error` wraps it with kind `Sops` and the file name.

/// What went wrong while decrypting one SOPS file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `--no-decrypt` / the plugin option turned decryption off.
    #[error(
        "the file is sops-encrypted but decryption is disabled; enable decryption or commit the plaintext elsewhere"
    )]
    Disabled,
    /// The file looks like SOPS output but cannot be read as such.
    #[error("invalid sops file: {0}")]
    Format(String),
    /// The `sops` metadata block is invalid.
    #[error("invalid sops metadata: {0}")]
    Metadata(String),
    /// No master key of any group could be unwrapped with the loaded identities.
    #[error("no key could decrypt the data key; recipients tried:\n{tried}")]
    NoKey {
        /// One line per recipient with the reason it failed.
        tried: String,
    },
    /// Key groups: fewer groups decrypted than the Shamir threshold requires.
    #[error("the file needs {needed} key groups (shamir threshold) but only {got} could be decrypted; recipients tried:\n{tried}")]
    Threshold {
        /// `shamir_threshold`.
        needed: usize,
        /// Groups whose share was recovered.
        got: usize,
        /// One line per recipient with the reason it failed.
        tried: String,
    },
    /// Shares from key groups could not be combined.
    #[error("cannot combine the key group shares: {0}")]
    Shamir(&'static str),
    /// A value (or the MAC) has a malformed `ENC[...]` envelope.
    #[error("value at '{path}' is not in sops' ENC[AES256_GCM,...] format: {reason}")]
    Envelope {
        /// Key path (`data:password:`), never the value.
        path: String,
        /// What is malformed.
        reason: &'static str,
    },
    /// AES-GCM rejected a value: tampered ciphertext, a value moved to another key, or a wrong data key.
    #[error("could not decrypt the value at '{path}': message authentication failed (the value was edited or moved to another key)")]
    Value {
        /// Key path (`data:password:`).
        path: String,
    },
    /// A decrypted value is not valid for its recorded type.
    #[error("the value at '{path}' does not decode as its recorded type '{kind}'")]
    Type {
        /// Key path.
        path: String,
        /// The `type:` field.
        kind: String,
    },
    /// A leaf the selection rules say is encrypted is not a string.
    #[error("expected an encrypted string at '{path}', found a clear value; re-encrypt the file with sops")]
    ExpectedEncrypted {
        /// Key path.
        path: String,
    },
    /// The file has no MAC.
    #[error("mac mismatch: the file has no mac; re-encrypt it with sops")]
    NoMac,
    /// The stored MAC does not decrypt (its `lastmodified` or the MAC itself was edited).
    #[error("cannot decrypt the mac: message authentication failed (sops.mac or sops.lastmodified was edited)")]
    MacUndecryptable,
    /// The values do not hash to the stored MAC.
    #[error("mac mismatch: the file's values do not match its mac (it was edited without sops, or tampered with)")]
    MacMismatch,
}
