//! The decrypted-file tree and the walk over it (docs/sops-format.md §6, §7):
//! mappings keep key order and comment items, lists keep their elements; the
//! walk decides per leaf whether it is encrypted (the selection rule, with
//! sops' comment stack), decrypts it with the key-path AAD, and feeds the MAC.

use crate::render::sops::cipher::{self, DataKey, Plain};
use crate::render::sops::error::Error;
use crate::render::sops::mac::{go_format_float, Mac};
use crate::render::sops::metadata::{Metadata, Rule};
use serde_json::Value;
use zeroize::Zeroize;

/// One node of a SOPS data tree (one branch per YAML document).
#[derive(Clone)]
pub(crate) enum Node {
    /// A mapping: pairs and comment items in file order.
    Map(Vec<Entry>),
    /// A list; comments are elements too, as in sops.
    Seq(Vec<Node>),
    /// A value.
    Leaf(Leaf),
    /// A comment inside a list.
    Comment(String),
    /// `null`: never encrypted, never hashed.
    Null,
}

/// An item of a mapping.
#[derive(Clone)]
pub(crate) enum Entry {
    /// `key: value`.
    Pair(String, Node),
    /// A comment line (text after `#`).
    Comment(String),
}

/// A leaf value: as parsed from the file, or decrypted.
#[derive(Clone)]
pub(crate) enum Leaf {
    /// A value in the file, resolved the way the engine's YAML parser resolves it.
    Clear(Value),
    /// A decrypted, typed value.
    Plain(Plain),
}

impl Drop for Node {
    fn drop(&mut self) {
        match self {
            Node::Leaf(Leaf::Plain(p)) => p.zeroize(),
            Node::Leaf(Leaf::Clear(Value::String(s))) | Node::Comment(s) => s.zeroize(),
            _ => {}
        }
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        if let Entry::Comment(s) = self {
            s.zeroize();
        }
    }
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Node(<redacted>)")
    }
}

struct Walk<'a> {
    rule: &'a Rule,
    key: &'a DataKey,
    mac: Mac,
    mac_only: bool,
}

/// Decrypts every branch in place and verifies the MAC (§6, §7).
pub(crate) fn decrypt(branches: &mut [Node], meta: &Metadata, key: &DataKey) -> Result<(), Error> {
    let mut walk =
        Walk { rule: &meta.rule, key, mac: Mac::new(meta.mac_only_encrypted), mac_only: meta.mac_only_encrypted };
    for branch in branches.iter_mut() {
        walk.node(branch, &mut Vec::new(), &mut Vec::new())?;
    }
    walk.mac.verify(key, &meta.mac, &meta.lastmodified)
}

fn aad(path: &[String]) -> String {
    let mut s = path.join(":");
    s.push(':');
    s
}

impl Walk<'_> {
    fn node(&mut self, node: &mut Node, path: &mut Vec<String>, stack: &mut Vec<Vec<String>>) -> Result<(), Error> {
        match node {
            Node::Map(entries) => {
                stack.push(Vec::new());
                for entry in entries.iter_mut() {
                    match entry {
                        Entry::Comment(c) => {
                            if let Some(last) = stack.last_mut() {
                                last.push(c.clone());
                            }
                            self.comment(c, path, stack);
                        }
                        Entry::Pair(k, v) => {
                            path.push(k.clone());
                            let r = self.node(v, path, stack);
                            path.pop();
                            r?;
                            if let Some(last) = stack.last_mut() {
                                last.clear();
                            }
                        }
                    }
                }
                stack.pop();
            }
            Node::Seq(items) => {
                stack.push(Vec::new());
                for item in items.iter_mut() {
                    if let Node::Comment(c) = item {
                        if let Some(last) = stack.last_mut() {
                            last.push(c.clone());
                        }
                        self.comment(c, path, stack);
                    } else {
                        self.node(item, path, stack)?;
                        if let Some(last) = stack.last_mut() {
                            last.clear();
                        }
                    }
                }
                stack.pop();
            }
            Node::Comment(c) => self.comment(c, path, stack),
            Node::Null => {}
            Node::Leaf(leaf) => {
                let encrypted = should_encrypt(self.rule, path, stack, false);
                if encrypted {
                    let Leaf::Clear(Value::String(s)) = &*leaf else {
                        return Err(Error::ExpectedEncrypted { path: aad(path) });
                    };
                    let plain = cipher::decrypt(self.key, s, &aad(path))?;
                    *leaf = Leaf::Plain(plain);
                }
                if !self.mac_only || encrypted {
                    match &*leaf {
                        Leaf::Plain(p) => self.mac.feed(p),
                        Leaf::Clear(v) => self.mac.feed_text(&clear_text(v)),
                    }
                }
            }
        }
        Ok(())
    }

    /// Comments are leaves too; one that fails to decrypt was stored in clear by an
    /// older sops and is kept (§5). Comments are never hashed.
    fn comment(&mut self, c: &mut String, path: &[String], stack: &[Vec<String>]) {
        if should_encrypt(self.rule, path, stack, true) {
            if let Ok(Plain::Comment(text) | Plain::Str(text)) = cipher::decrypt(self.key, c, &aad(path)) {
                c.zeroize();
                *c = text;
            }
        }
    }
}

/// A clear value rendered like sops' `ToBytes`.
fn clear_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if !n.is_i64() && !n.is_u64() => go_format_float(f),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// sops' `shouldBeEncrypted`: `stack` holds, per nesting level, the comments seen
/// since the last non-comment item; `is_comment` marks the leaf as that last comment.
fn should_encrypt(rule: &Rule, path: &[String], stack: &[Vec<String>], is_comment: bool) -> bool {
    match rule {
        Rule::UnencryptedSuffix(s) => !path.iter().any(|p| p.ends_with(s.as_str())),
        Rule::EncryptedSuffix(s) => path.iter().any(|p| p.ends_with(s.as_str())),
        Rule::UnencryptedRegex(re) => !path.iter().any(|p| re.is_match(p)),
        Rule::EncryptedRegex(re) => path.iter().any(|p| re.is_match(p)),
        Rule::UnencryptedCommentRegex(re) => !stack.iter().flatten().any(|c| re.is_match(c)),
        Rule::EncryptedCommentRegex(re) => {
            let last_level = stack.len().saturating_sub(1);
            stack.iter().enumerate().any(|(i, cs)| {
                cs.iter().enumerate().any(|(j, c)| {
                    // The marker comment itself stays readable.
                    let is_self = is_comment && i == last_level && j + 1 == cs.len();
                    !is_self && re.is_match(c)
                })
            })
        }
    }
}

/// How a store prints numbers before the engine re-reads them (§12): YAML
/// (go-yaml v3) or JSON (`encoding/json`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Flavor {
    /// go-yaml v3: floats as `strconv.FormatFloat(f, 'g', -1, 64)`.
    Yaml,
    /// encoding/json: floats in `'f'` form unless tiny or huge.
    Json,
}

/// The plaintext tree as the engine's values: what parsing `sops -d` output gives.
pub(crate) fn to_value(node: &Node, flavor: Flavor, path: &mut Vec<String>) -> Result<Value, Error> {
    Ok(match node {
        Node::Map(entries) => {
            let mut map = serde_json::Map::new();
            let mut merges = Vec::new();
            for e in entries {
                if let Entry::Pair(k, v) = e {
                    path.push(k.clone());
                    let v = to_value(v, flavor, path);
                    path.pop();
                    let v = v?;
                    if k == "<<" && is_merge_source(&v) {
                        merges.push(v);
                    } else {
                        map.insert(k.clone(), v);
                    }
                }
            }
            Value::Object(apply_merges(map, merges))
        }
        Node::Seq(items) => Value::Array(
            items
                .iter()
                .filter(|i| !matches!(i, Node::Comment(_)))
                .map(|i| to_value(i, flavor, path))
                .collect::<Result<_, _>>()?,
        ),
        Node::Null | Node::Comment(_) => Value::Null,
        Node::Leaf(Leaf::Clear(v)) => v.clone(),
        Node::Leaf(Leaf::Plain(p)) => plain_value(p, flavor).ok_or_else(|| Error::Type {
            path: aad(path),
            kind: "float (infinity and NaN cannot be rendered)".into(),
        })?,
    })
}

fn is_merge_source(v: &Value) -> bool {
    match v {
        Value::Object(_) => true,
        Value::Array(items) => items.iter().all(Value::is_object),
        _ => false,
    }
}

/// sops keeps `<<` as an ordinary key; the engine's parser applies merge keys when it
/// reads `sops -d` output, so the decrypted documents apply them the same way:
/// earlier sources win over later ones, the mapping's own keys win over all.
fn apply_merges(own: serde_json::Map<String, Value>, merges: Vec<Value>) -> serde_json::Map<String, Value> {
    if merges.is_empty() {
        return own;
    }
    let mut merged = serde_json::Map::new();
    for source in merges {
        let objects = match source {
            Value::Object(o) => vec![o],
            Value::Array(items) => items
                .into_iter()
                .filter_map(|i| match i {
                    Value::Object(o) => Some(o),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        for o in objects {
            for (k, v) in o {
                merged.entry(k).or_insert(v);
            }
        }
    }
    for (k, v) in own {
        merged.insert(k, v);
    }
    merged
}

fn plain_value(p: &Plain, flavor: Flavor) -> Option<Value> {
    use crate::render::yaml::parse::resolve_plain;
    Some(match p {
        Plain::Str(s) | Plain::Comment(s) => Value::String(s.clone()),
        Plain::Bytes(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
        Plain::Int(i) => Value::from(*i),
        Plain::Bool(b) => Value::Bool(*b),
        Plain::Time(t) => resolve_plain(t),
        Plain::Float(f) => {
            if !f.is_finite() {
                return None;
            }
            let text = match flavor {
                Flavor::Yaml => go_format_g(*f),
                Flavor::Json => go_json_float(*f),
            };
            match resolve_plain(&text) {
                Value::String(_) => Value::from(*f),
                v => v,
            }
        }
    })
}

/// Go `strconv.FormatFloat(f, 'g', -1, 64)` for finite `f`: shortest digits, in
/// exponent form when the decimal exponent is < -4 or >= 6 (Go's `eprec = 6` for
/// shortest formatting), e.g. `1e+21`, `1e-06`, `1.234567e+06`.
pub(crate) fn go_format_g(f: f64) -> String {
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        go_exp(mantissa, exp)
    } else {
        format!("{f}")
    }
}

fn go_exp(mantissa: &str, exp: i32) -> String {
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

/// Go `encoding/json` float formatting.
fn go_json_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let sci = format!("{f:e}");
        let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        go_exp(mantissa, exp).replace("e-0", "e-")
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_go_yaml_and_encoding_json() {
        assert_eq!(go_format_g(1e21), "1e+21");
        assert_eq!(go_format_g(1e-6), "1e-06");
        assert_eq!(go_format_g(1234567.0), "1.234567e+06");
        assert_eq!(go_format_g(1000.0), "1000");
        assert_eq!(go_format_g(0.5), "0.5");
        assert_eq!(go_format_g(-0.0), "-0");
        assert_eq!(go_json_float(1e21), "1e+21");
        assert_eq!(go_json_float(1e-7), "1e-7");
        assert_eq!(go_json_float(1234567890123456789.0), "1234567890123456800");
    }

    #[test]
    fn merge_keys_apply_like_the_engine_parser() {
        let text = "base: &b\n    a: 1\n    b: 2\nderived:\n    <<: *b\n    b: 3\n";
        let docs = crate::render::sops::yaml::parse(text).expect("parse");
        let v = to_value(&docs[0].node, Flavor::Yaml, &mut Vec::new()).expect("value");
        let plain = crate::render::yaml::parse::parse_stream(text).expect("plain");
        assert_eq!(v, plain[0].value);
    }

    #[test]
    fn encrypted_comment_regex_skips_the_marker_itself() {
        let re = regex::Regex::new("sops:enc").expect("re");
        let rule = Rule::EncryptedCommentRegex(re);
        let stack = vec![vec![" sops:enc".to_string()]];
        assert!(should_encrypt(&rule, &["first".into()], &stack, false));
        assert!(!should_encrypt(&rule, &[], &stack, true));
        assert!(!should_encrypt(&rule, &["second".into()], &[vec![]], false));
    }

    #[test]
    fn suffix_on_any_path_component_applies_to_the_subtree() {
        let rule = Rule::UnencryptedSuffix("_unencrypted".into());
        assert!(!should_encrypt(&rule, &["parent_unencrypted".into(), "child".into()], &[], false));
        assert!(should_encrypt(&rule, &["parent".into(), "child".into()], &[], false));
    }
}
