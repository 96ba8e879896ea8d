//! In-memory SOPS decryption (docs/sops-format.md): detect encrypted files, unwrap
//! the data key with the configured identities, decrypt every value, verify the MAC.
//! Runs per file inside `load` (docs/style.md "Data flow"), for resource
//! documents and for generator sources (`files`, `envs`); `.j2` templates never
//! get here. Plaintext never touches disk or logs.
//!
//! Steps (§13 of the format doc):
//! 1. `detect`: which store (YAML, JSON, binary envelope, dotenv, INI) and the
//!    `sops` block, parsed by `metadata`;
//! 2. `keys::data_key`: the data key from one master key, or Shamir shares of
//!    several key groups (`shamir`);
//! 3. `tree::decrypt`: walk, selection rules, `cipher` per value, `mac` check;
//! 4. the plaintext as engine documents (`tree::to_value`) or as the bytes
//!    `sops decrypt` prints (`yaml::emit`, `dotenv::emit`, `ini::emit`).

mod cipher;
mod dotenv;
mod error;
mod ini;
mod keys;
mod mac;
mod metadata;
mod pq;
mod shamir;
mod tree;
mod yaml;

pub use error::Error;
pub use keys::Keyring;

use crate::render::error::ErrorKind;
use crate::render::yaml::parse::Document;
use metadata::Metadata;
use serde_json::Value;
use tree::{Entry, Flavor, Leaf, Node};

/// Whether and how the engine decrypts SOPS files.
#[derive(Clone, Debug, Default)]
pub enum Decryption {
    /// Encrypted files are an error ("decryption is disabled"): a team can make sure
    /// nothing is decrypted (`render --no-decrypt`, the plugin option).
    Disabled,
    /// Decrypt with these identities.
    Enabled(Keyring),
    /// Default: decrypt with no identities (an encrypted file fails with "no key").
    #[default]
    NoKeys,
}

/// The file formats sops writes (§2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Store {
    Yaml,
    Json,
    /// `{"data": "ENC[...]", "sops": {...}}`: the plaintext is the raw `data`.
    Binary,
    Dotenv,
    Ini,
}

/// A detected SOPS file: its data branches (without `sops`) and metadata.
struct Encrypted {
    store: Store,
    branches: Vec<Node>,
    lines: Vec<usize>,
    meta: Value,
}

fn sops_error(file: &str, e: Error) -> crate::render::Error {
    crate::render::Error::new(ErrorKind::Sops, e.to_string()).in_file(file)
}

impl Decryption {
    /// For a YAML/JSON resource file: `Ok(None)` when not SOPS-encrypted, else the
    /// decrypted documents (sops metadata removed). `file` is for messages only.
    pub fn documents(&self, file: &str, text: &str) -> Result<Option<Vec<Document>>, crate::render::Error> {
        let Some(mut enc) = detect_tree(file, text, false).map_err(|e| sops_error(file, e))? else {
            return Ok(None);
        };
        self.decrypt(&mut enc).map_err(|e| sops_error(file, e))?;
        let flavor = if enc.store == Store::Json { Flavor::Json } else { Flavor::Yaml };
        let mut docs = Vec::with_capacity(enc.branches.len());
        for (node, line) in enc.branches.iter().zip(&enc.lines) {
            let value = tree::to_value(node, flavor, &mut Vec::new()).map_err(|e| sops_error(file, e))?;
            docs.push(Document { value, line: *line });
        }
        Ok(Some(docs))
    }

    /// For a generator source (dotenv, INI, JSON, YAML, binary): `Ok(None)` when not
    /// encrypted, else the plaintext as `sops decrypt` prints it.
    pub fn source(&self, file: &str, bytes: &[u8]) -> Result<Option<Vec<u8>>, crate::render::Error> {
        let Ok(text) = std::str::from_utf8(bytes) else { return Ok(None) };
        let Some(mut enc) = detect(file, text).map_err(|e| sops_error(file, e))? else {
            return Ok(None);
        };
        self.decrypt(&mut enc).map_err(|e| sops_error(file, e))?;
        let out = match enc.store {
            Store::Dotenv => enc.branches.first().map(dotenv::emit).unwrap_or_default().into_bytes(),
            Store::Ini => enc.branches.first().map(ini::emit).unwrap_or_default().into_bytes(),
            Store::Yaml => yaml::emit(&enc.branches).into_bytes(),
            Store::Json => json_text(enc.branches.first(), file)?.into_bytes(),
            Store::Binary => binary_data(enc.branches.first()),
        };
        Ok(Some(out))
    }

    fn decrypt(&self, enc: &mut Encrypted) -> Result<(), Error> {
        let empty = Keyring::default();
        let ring = match self {
            Decryption::Disabled => return Err(Error::Disabled),
            Decryption::Enabled(ring) => ring,
            Decryption::NoKeys => &empty,
        };
        let meta = Metadata::parse(&enc.meta)?;
        tracing::debug!(store = ?enc.store, groups = meta.groups.len(), "decrypting sops file");
        let key = keys::data_key(&meta, ring)?;
        tree::decrypt(&mut enc.branches, &meta, &key)
    }
}

/// Which store holds this generator source, if it is SOPS-encrypted at all.
fn detect(file: &str, text: &str) -> Result<Option<Encrypted>, Error> {
    if dotenv::detect(text) {
        let (tree, pairs) = dotenv::parse(text)?;
        let meta = metadata::unflatten(&pairs)?;
        return Ok(Some(Encrypted { store: Store::Dotenv, branches: vec![tree], lines: vec![1], meta }));
    }
    if ini::detect(text) {
        let (tree, pairs) = ini::parse(text)?;
        let meta = metadata::unflatten(&pairs)?;
        return Ok(Some(Encrypted { store: Store::Ini, branches: vec![tree], lines: vec![1], meta }));
    }
    detect_tree(file, text, true)
}

fn has_extension(file: &str, exts: &[&str]) -> bool {
    std::path::Path::new(file).extension().and_then(|e| e.to_str()).is_some_and(|e| exts.contains(&e))
}

/// YAML/JSON (and, for sources, the binary envelope): the first document's
/// top-level `sops` mapping marks the file; it is removed from every document (§2).
fn detect_tree(file: &str, text: &str, allow_binary: bool) -> Result<Option<Encrypted>, Error> {
    if !text.contains("sops") {
        return Ok(None);
    }
    let docs = match yaml::parse(text) {
        Ok(docs) => docs,
        // Ciphertext must never pass through as if it were plaintext.
        Err(e) if text.contains("ENC[AES256_GCM,") => return Err(e),
        // Not a sops file: the engine's parser reports the problem in its own words.
        Err(_) => return Ok(None),
    };
    let is_meta = |n: &Node| matches!(n, Node::Map(entries) if entries.iter().any(|e| matches!(e, Entry::Pair(k, _) if k == "lastmodified" || k == "mac")));
    let sops_of = |n: &Node| match n {
        Node::Map(entries) => entries.iter().find_map(|e| match e {
            Entry::Pair(k, v) if k == "sops" => Some(v.clone()),
            _ => None,
        }),
        _ => None,
    };
    let Some(first) = docs.first() else { return Ok(None) };
    let block = match sops_of(&first.node) {
        Some(b) if is_meta(&b) => b,
        // A `sops` key that is not sops metadata: an ordinary field of a plain file.
        Some(_) => return Ok(None),
        None => {
            if docs.iter().any(|d| sops_of(&d.node).is_some_and(|b| is_meta(&b))) {
                return Err(Error::Format("sops metadata must be in the first document of the file".into()));
            }
            return Ok(None);
        }
    };
    let meta = tree::to_value(&block, Flavor::Yaml, &mut Vec::new())?;
    let mut branches = Vec::with_capacity(docs.len());
    let mut lines = Vec::with_capacity(docs.len());
    for doc in docs {
        let mut node = doc.node;
        match &mut node {
            Node::Map(entries) => entries.retain(|e| !matches!(e, Entry::Pair(k, _) if k == "sops")),
            Node::Null => {}
            _ => return Err(Error::Format("a document of a sops file must be a mapping".into())),
        }
        branches.push(node);
        lines.push(doc.line);
    }
    let is_envelope = matches!(branches.as_slice(), [Node::Map(e)] if e.len() == 1
        && matches!(&e[0], Entry::Pair(k, Node::Leaf(Leaf::Clear(Value::String(_)))) if k == "data"));
    let store = if allow_binary && is_envelope && !has_extension(file, &["yaml", "yml", "json"]) {
        Store::Binary
    } else if has_extension(file, &["json"]) {
        Store::Json
    } else {
        Store::Yaml
    };
    Ok(Some(Encrypted { store, branches, lines, meta }))
}

/// `sops decrypt` of a JSON file: tab-indented, Go's escapes for `<`, `>`, `&`.
fn json_text(tree: Option<&Node>, file: &str) -> Result<String, crate::render::Error> {
    let value = match tree {
        Some(n) => tree::to_value(n, Flavor::Json, &mut Vec::new()).map_err(|e| sops_error(file, e))?,
        None => Value::Null,
    };
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    serde::Serialize::serialize(&value, &mut ser)
        .map_err(|e| sops_error(file, Error::Format(format!("cannot print json: {e}"))))?;
    let text = crate::render::gojson::html_safe(&String::from_utf8_lossy(&buf));
    Ok(text + "\n")
}

/// The binary store's plaintext: the raw `data` value.
fn binary_data(tree: Option<&Node>) -> Vec<u8> {
    let Some(Node::Map(entries)) = tree else { return Vec::new() };
    entries
        .iter()
        .find_map(|e| match e {
            Entry::Pair(k, Node::Leaf(leaf)) if k == "data" => Some(match leaf {
                Leaf::Plain(cipher::Plain::Str(s)) => s.clone().into_bytes(),
                Leaf::Plain(cipher::Plain::Bytes(b)) => b.clone(),
                Leaf::Clear(Value::String(s)) => s.clone().into_bytes(),
                _ => Vec::new(),
            }),
            _ => None,
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decryption_settings_can_be_shared_across_threads() {
        // The sidecar and the controller render in spawn_blocking with shared options.
        fn shareable<T: Send + Sync + Clone>() {}
        shareable::<Decryption>();
        shareable::<Keyring>();
    }

    #[test]
    fn plain_files_are_not_detected() {
        let d = Decryption::Disabled;
        assert!(d.documents("a.yaml", "kind: ConfigMap\nsops: {enabled: true}\n").expect("plain").is_none());
        assert!(d.documents("a.yaml", "kind: ConfigMap\ndata: {a: sops}\n").expect("plain").is_none());
        assert!(d.source("a.env", b"sops_enabled=true\nA=b\n").expect("plain").is_none());
        assert!(d.source("a.ini", b"[main]\nsops = 1\n").expect("plain").is_none());
        assert!(d.source("a.bin", &[0xff, 0xfe, 0x00]).expect("binary").is_none());
    }

    #[test]
    fn disabled_decryption_names_the_file() {
        let text = "a: ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]\nsops:\n    lastmodified: \"2024-01-01T00:00:00Z\"\n    mac: x\n";
        let err = Decryption::Disabled.documents("base/secret.yaml", text).expect_err("disabled");
        assert_eq!(
            err.to_string(),
            "sops decryption failed: the file is sops-encrypted but decryption is disabled; enable decryption or commit the plaintext elsewhere (in base/secret.yaml)"
        );
        let env = b"A=ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]\nsops_lastmodified=2024-01-01T00:00:00Z\n";
        let err = Decryption::Disabled.source("app.env", env).expect_err("disabled");
        assert!(err.to_string().contains("decryption is disabled"), "{err}");
    }

    #[test]
    fn metadata_only_in_a_later_document_is_an_error() {
        let text = "a: 1\n---\nb: 2\nsops:\n    lastmodified: \"2024-01-01T00:00:00Z\"\n    mac: x\n";
        let err = Decryption::NoKeys.documents("multi.yaml", text).expect_err("misplaced");
        assert_eq!(
            err.to_string(),
            "sops decryption failed: invalid sops file: sops metadata must be in the first document of the file (in multi.yaml)"
        );
    }

    #[test]
    fn an_unreadable_encrypted_file_is_an_error_not_plaintext() {
        let text = "? [complex, key]\n: ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]\nsops:\n    mac: x\n";
        let err = Decryption::NoKeys.documents("c.yaml", text).expect_err("complex key");
        assert_eq!(
            err.to_string(),
            "sops decryption failed: invalid sops file: line 1: complex mapping keys are not supported (in c.yaml)"
        );
    }

    #[test]
    fn a_file_without_keys_says_so() {
        let text = "a: 1\nsops:\n    lastmodified: \"2024-01-01T00:00:00Z\"\n    mac: x\n";
        let err = Decryption::NoKeys.documents("k.yaml", text).expect_err("no keys");
        assert_eq!(
            err.to_string(),
            "sops decryption failed: invalid sops metadata: no keys found in the file (in k.yaml)"
        );
    }
}
