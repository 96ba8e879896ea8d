//! The dotenv store (docs/sops-format.md §2): one flat mapping, one item per
//! `KEY=VALUE` line split at the first `=` and not trimmed, `#` comment lines,
//! metadata as `sops_<flattened key>=` lines, `\n` escapes in every value.

use crate::render::sops::cipher::Plain;
use crate::render::sops::error::Error;
use crate::render::sops::tree::{Entry, Leaf, Node};
use serde_json::Value;

/// Whether the text carries dotenv sops metadata.
pub(crate) fn detect(text: &str) -> bool {
    text.split('\n').any(|l| l.starts_with("sops_lastmodified=") || l.starts_with("sops_version="))
}

/// The data tree and the flattened metadata pairs.
pub(crate) fn parse(text: &str) -> Result<(Node, Vec<(String, String)>), Error> {
    let mut entries = Vec::new();
    let mut meta = Vec::new();
    for (n, line) in text.split('\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            entries.push(Entry::Comment(c.to_string()));
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| Error::Format(format!("line {}: invalid dotenv input line (no '=')", n + 1)))?;
        let v = v.replace("\\n", "\n");
        match k.strip_prefix("sops_") {
            Some(meta_key) => meta.push((meta_key.to_string(), v)),
            None => entries.push(Entry::Pair(k.to_string(), Node::Leaf(Leaf::Clear(Value::String(v))))),
        }
    }
    Ok((Node::Map(entries), meta))
}

/// Plaintext as `sops decrypt` prints a dotenv file.
pub(crate) fn emit(tree: &Node) -> String {
    let mut out = String::new();
    if let Node::Map(entries) = tree {
        for e in entries {
            match e {
                Entry::Comment(c) => {
                    out.push('#');
                    out.push_str(c);
                }
                Entry::Pair(k, v) => {
                    out.push_str(k);
                    out.push('=');
                    out.push_str(&leaf_text(v).replace('\n', "\\n"));
                }
            }
            out.push('\n');
        }
    }
    out
}

/// A flat store's value as text (dotenv and INI values are strings).
pub(crate) fn leaf_text(v: &Node) -> String {
    match v {
        Node::Leaf(Leaf::Clear(Value::String(s))) => s.clone(),
        Node::Leaf(Leaf::Clear(other)) => other.to_string(),
        Node::Leaf(Leaf::Plain(p)) => match p {
            Plain::Str(s) | Plain::Time(s) | Plain::Comment(s) => s.clone(),
            Plain::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            Plain::Int(i) => i.to_string(),
            Plain::Float(f) => crate::render::sops::mac::go_format_float(*f),
            Plain::Bool(true) => "true".into(),
            Plain::Bool(false) => "false".into(),
        },
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_are_not_trimmed_and_metadata_is_split_off() {
        let (tree, meta) = parse("#c\nfoo = bar\na=b=c\nsops_version=3.9.0\n").expect("parse");
        assert_eq!(meta, vec![("version".to_string(), "3.9.0".to_string())]);
        assert_eq!(emit(&tree), "#c\nfoo = bar\na=b=c\n");
        let err = parse("novalue\n").expect_err("no =");
        assert_eq!(err.to_string(), "invalid sops file: line 1: invalid dotenv input line (no '=')");
    }
}
