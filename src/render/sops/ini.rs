//! The INI store (docs/sops-format.md §2): go-ini's reading of sections and
//! `key = value` lines (trimmed, quotes removed, `"""` multi-line values,
//! `;`/`#` comments), the implicit `DEFAULT` section first, and the `[sops]`
//! section holding the flattened metadata with `\n` escapes.

use crate::render::sops::dotenv::leaf_text;
use crate::render::sops::error::Error;
use crate::render::sops::tree::{Entry, Leaf, Node};
use serde_json::Value;

/// Whether the text has a `[sops]` section.
pub(crate) fn detect(text: &str) -> bool {
    text.lines().any(|l| l.trim() == "[sops]")
}

fn strip_comment_char(c: &str) -> String {
    if c.starts_with(';') {
        c.trim_start_matches([';', ' ']).to_string()
    } else if c.starts_with('#') {
        c.trim_start_matches(['#', ' ']).to_string()
    } else {
        c.to_string()
    }
}

/// The data tree (sections -> keys) and the `[sops]` pairs.
pub(crate) fn parse(text: &str) -> Result<(Node, Vec<(String, String)>), Error> {
    let mut sections: Vec<(String, Vec<Entry>)> = vec![("DEFAULT".to_string(), Vec::new())];
    let mut pending: Vec<String> = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, raw)) = lines.next() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with(';') || line.starts_with('#') {
            pending.push(line.to_string());
            continue;
        }
        if let Some(name) = line.strip_prefix('[') {
            let name = name
                .strip_suffix(']')
                .ok_or_else(|| Error::Format(format!("line {}: unclosed section header", n + 1)))?
                .trim()
                .to_string();
            let mut entries = Vec::new();
            if !pending.is_empty() {
                entries.push(Entry::Comment(strip_comment_char(&pending.join("\n"))));
                pending.clear();
            }
            sections.push((name, entries));
            continue;
        }
        let split =
            line.find(['=', ':']).ok_or_else(|| Error::Format(format!("line {}: expected key = value", n + 1)))?;
        let key = line[..split].trim().to_string();
        let mut value = line[split + 1..].trim().to_string();
        if let Some(rest) = value.strip_prefix("\"\"\"") {
            let mut body = rest.to_string();
            if let Some(done) = body.strip_suffix("\"\"\"") {
                value = done.to_string();
            } else {
                loop {
                    let (m, next) = lines
                        .next()
                        .ok_or_else(|| Error::Format(format!("line {}: unterminated \"\"\" value", n + 1)))?;
                    let _ = m;
                    body.push('\n');
                    if let Some(done) = next.strip_suffix("\"\"\"") {
                        body.push_str(done);
                        break;
                    }
                    body.push_str(next);
                }
                value = body;
            }
        } else if value.len() >= 2
            && ((value.starts_with('"') && value.ends_with('"')) || (value.starts_with('\'') && value.ends_with('\'')))
        {
            value = value[1..value.len() - 1].to_string();
        } else if let Some(i) = value.find(['#', ';']) {
            // go-ini's default: an unquoted '#' or ';' starts an inline comment.
            value = value[..i].trim_end().to_string();
        }
        let entries = &mut sections.last_mut().expect("DEFAULT section is always present").1;
        entries.push(Entry::Pair(key, Node::Leaf(Leaf::Clear(Value::String(value)))));
        if !pending.is_empty() {
            entries.push(Entry::Comment(strip_comment_char(&pending.join("\n"))));
            pending.clear();
        }
    }
    let mut meta = Vec::new();
    let mut tree = Vec::new();
    for (name, entries) in sections {
        if name == "sops" {
            for e in &entries {
                if let Entry::Pair(k, v) = e {
                    meta.push((k.clone(), leaf_text(v).replace("\\n", "\n")));
                }
            }
        } else {
            tree.push(Entry::Pair(name, Node::Map(entries)));
        }
    }
    Ok((Node::Map(tree), meta))
}

/// Plaintext INI like go-ini writes it: `[section]`, `key = value` with `=` aligned
/// per section, comments above what they describe, a blank line between sections.
pub(crate) fn emit(tree: &Node) -> String {
    let Node::Map(sections) = tree else { return String::new() };
    let mut blocks = Vec::new();
    for s in sections {
        let Entry::Pair(name, Node::Map(entries)) = s else { continue };
        if name == "DEFAULT" && entries.is_empty() {
            continue;
        }
        let mut out = String::new();
        let mut rest = &entries[..];
        if let Some(Entry::Comment(c)) = rest.first() {
            out.push_str(&format!("; {c}\n"));
            rest = &rest[1..];
        }
        if name != "DEFAULT" {
            out.push_str(&format!("[{name}]\n"));
        }
        let width = rest
            .iter()
            .filter_map(|e| match e {
                Entry::Pair(k, _) => Some(k.chars().count()),
                Entry::Comment(_) => None,
            })
            .max()
            .unwrap_or(0);
        for (i, e) in rest.iter().enumerate() {
            if let Entry::Pair(k, v) = e {
                if let Some(Entry::Comment(c)) = rest.get(i + 1) {
                    out.push_str(&format!("; {c}\n"));
                }
                out.push_str(&format!("{k:<width$} = {}\n", leaf_text(v)));
            }
        }
        blocks.push(out);
    }
    blocks.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_comments_and_metadata() {
        let text = "; about db\n[db]\nuser = admin\n; the password\npass = \"x y\"\n[sops]\nversion = 3.9.0\nage__list_0__map_enc = \"\"\"a\nb\"\"\"\n";
        let (tree, meta) = parse(text).expect("parse");
        assert_eq!(meta, vec![("version".into(), "3.9.0".into()), ("age__list_0__map_enc".into(), "a\nb".into())]);
        assert_eq!(emit(&tree), "; about db\n[db]\nuser = admin\n; the password\npass = x y\n");
    }
}
