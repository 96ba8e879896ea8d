//! The YAML/JSON store (docs/sops-format.md §2, §12): text -> one [`Node`] tree
//! per document with comment items where sops' go-yaml store puts them, and
//! back to text for generator sources. Scalars resolve exactly like the
//! engine's own parser ([`resolve_scalar`]), so a decrypted file reads the same
//! as its plaintext would.
//!
//! Comments: sops writes every comment on its own line above the item it
//! belongs to, so a comment line is attached before the next key (or list
//! item) and trailing comments to the end of the document's mapping. Merge keys
//! (`<<`) stay ordinary keys, as in sops.

use crate::render::sops::cipher::Plain;
use crate::render::sops::error::Error;
use crate::render::sops::tree::{go_format_g, Entry, Leaf, Node};
use crate::render::yaml::parse::{resolve_plain, resolve_scalar, ScalarStyle};
use saphyr_parser::{Event, Parser, ScalarStyle as SaphyrStyle};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// One parsed document and the 1-based line its content starts on.
pub(crate) struct Doc {
    pub(crate) node: Node,
    pub(crate) line: usize,
}

enum Frame {
    Map { entries: Vec<Entry>, key: Option<String>, anchor: usize, col: Option<usize> },
    Seq { items: Vec<Node>, anchor: usize, col: Option<usize> },
    Doc { line: usize, node: Option<Node> },
}

struct Builder {
    /// Comment lines: line -> (indentation, text after `#`).
    comments: BTreeMap<usize, (usize, String)>,
    consumed: usize,
    anchors: HashMap<usize, Node>,
    stack: Vec<Frame>,
    docs: Vec<Doc>,
}

/// Parses a YAML (or JSON) stream into trees.
pub(crate) fn parse(text: &str) -> Result<Vec<Doc>, Error> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let comments = text
        .lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let t = l.trim_start();
            t.strip_prefix('#').map(|c| (i + 1, (l.len() - t.len(), c.to_string())))
        })
        .collect();
    let mut b = Builder { comments, consumed: 0, anchors: HashMap::new(), stack: Vec::new(), docs: Vec::new() };
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| Error::Format(format!("line {}: {}", e.marker().line(), e.info())))?;
        let line = span.start.line();
        match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
            Event::DocumentStart(_) => b.stack.push(Frame::Doc { line, node: None }),
            Event::DocumentEnd => {
                b.trailing_comments(line);
                if let Some(Frame::Doc { line, node }) = b.stack.pop() {
                    b.docs.push(Doc { node: node.unwrap_or(Node::Null), line });
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                // Lines inside a multi-line scalar are content, never comments.
                let end = span.end.line();
                if end > line {
                    let last = if span.end.col() == 0 { end - 1 } else { end };
                    for l in line..=last {
                        b.comments.remove(&l);
                    }
                }
                let is_key = matches!(b.stack.last(), Some(Frame::Map { key: None, .. }));
                b.item_start(line, span.start.col());
                if is_key {
                    b.set_key(text.to_string(), line)?;
                    continue;
                }
                let style = match style {
                    SaphyrStyle::Plain => ScalarStyle::Plain,
                    SaphyrStyle::SingleQuoted => ScalarStyle::SingleQuoted,
                    SaphyrStyle::DoubleQuoted => ScalarStyle::DoubleQuoted,
                    SaphyrStyle::Literal => ScalarStyle::Literal,
                    SaphyrStyle::Folded => ScalarStyle::Folded,
                };
                let tag = tag.map(|t| format!("{}{}", t.handle, t.suffix));
                let node = match resolve_scalar(&text, style, tag.as_deref()) {
                    Ok(Value::Null) => Node::Null,
                    Ok(v) => Node::Leaf(Leaf::Clear(v)),
                    Err(msg) => return Err(Error::Format(format!("line {line}: {msg}"))),
                };
                if anchor > 0 {
                    b.anchors.insert(anchor, node.clone());
                }
                b.push(node, line)?;
            }
            Event::Alias(id) => {
                if matches!(b.stack.last(), Some(Frame::Map { key: None, .. })) {
                    return Err(Error::Format(format!("line {line}: aliases as mapping keys are not supported")));
                }
                b.item_start(line, span.start.col());
                let node = b
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| Error::Format(format!("line {line}: unknown anchor referenced by alias")))?;
                b.push(node, line)?;
            }
            Event::MappingStart(anchor, _) | Event::SequenceStart(anchor, _) => {
                if matches!(b.stack.last(), Some(Frame::Map { key: None, .. })) {
                    return Err(Error::Format(format!("line {line}: complex mapping keys are not supported")));
                }
                b.item_start(line, span.start.col());
                if matches!(event, Event::MappingStart(..)) {
                    b.stack.push(Frame::Map { entries: Vec::new(), key: None, anchor, col: None });
                } else {
                    b.stack.push(Frame::Seq { items: Vec::new(), anchor, col: None });
                }
            }
            Event::MappingEnd => {
                b.closing_comments(line);
                if let Some(Frame::Map { entries, anchor, .. }) = b.stack.pop() {
                    let node = Node::Map(entries);
                    if anchor > 0 {
                        b.anchors.insert(anchor, node.clone());
                    }
                    b.push(node, line)?;
                }
            }
            Event::SequenceEnd => {
                b.closing_comments(line);
                if let Some(Frame::Seq { items, anchor, .. }) = b.stack.pop() {
                    let node = Node::Seq(items);
                    if anchor > 0 {
                        b.anchors.insert(anchor, node.clone());
                    }
                    b.push(node, line)?;
                }
            }
        }
    }
    Ok(b.docs)
}

impl Builder {
    /// Comment lines after the last item and before `before`, as long as they are
    /// indented at least `min_col` (a dedented comment belongs to an outer level).
    fn take_comments(&mut self, before: usize, min_col: usize) -> Vec<String> {
        if before <= self.consumed + 1 {
            return Vec::new();
        }
        let lines: Vec<usize> = self
            .comments
            .range(self.consumed + 1..before)
            .take_while(|(_, (indent, _))| *indent >= min_col)
            .map(|(l, _)| *l)
            .collect();
        lines.into_iter().filter_map(|l| self.comments.remove(&l).map(|(_, c)| c)).collect()
    }

    /// A key or list item starts on `line`: comment lines since the last item go before it.
    fn item_start(&mut self, line: usize, col: usize) {
        let comments = match self.stack.last_mut() {
            Some(Frame::Map { key: None, col: c, .. }) | Some(Frame::Seq { col: c, .. }) => {
                c.get_or_insert(col);
                self.take_comments(line, 0)
            }
            // A value after its key: its comments belong to its first key or item.
            _ => return,
        };
        match self.stack.last_mut() {
            Some(Frame::Map { entries, .. }) => entries.extend(comments.into_iter().map(Entry::Comment)),
            Some(Frame::Seq { items, .. }) => items.extend(comments.into_iter().map(Node::Comment)),
            _ => {}
        }
        self.consumed = self.consumed.max(line);
    }

    /// A block mapping or list ends before `line`: comments indented like its items
    /// are its trailing comments (sops writes a last item's foot comments there).
    fn closing_comments(&mut self, line: usize) {
        let col = match self.stack.last() {
            Some(Frame::Map { col: Some(c), .. }) | Some(Frame::Seq { col: Some(c), .. }) if *c > 0 => *c,
            _ => return,
        };
        let comments = self.take_comments(line, col);
        match self.stack.last_mut() {
            Some(Frame::Map { entries, .. }) => entries.extend(comments.into_iter().map(Entry::Comment)),
            Some(Frame::Seq { items, .. }) => items.extend(comments.into_iter().map(Node::Comment)),
            _ => {}
        }
    }

    fn trailing_comments(&mut self, end: usize) {
        let comments = self.take_comments(end + 1, 0);
        if let Some(Frame::Doc { node: Some(Node::Map(entries)), .. }) = self.stack.last_mut() {
            entries.extend(comments.into_iter().map(Entry::Comment));
        }
    }

    fn set_key(&mut self, k: String, line: usize) -> Result<(), Error> {
        if let Some(Frame::Map { entries, key, .. }) = self.stack.last_mut() {
            if entries.iter().any(|e| matches!(e, Entry::Pair(existing, _) if *existing == k)) {
                return Err(Error::Format(format!("line {line}: mapping key {k:?} already defined")));
            }
            *key = Some(k);
        }
        Ok(())
    }

    fn push(&mut self, node: Node, line: usize) -> Result<(), Error> {
        match self.stack.last_mut() {
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                Some(k) => entries.push(Entry::Pair(k, node)),
                None => return Err(Error::Format(format!("line {line}: mapping keys must be strings"))),
            },
            Some(Frame::Doc { node: slot, .. }) => *slot = Some(node),
            None => {}
        }
        Ok(())
    }
}

/// Plaintext YAML for a generator source, laid out like go-yaml v3 in sops
/// (§12): block style, 4-space indentation, lists indented under their key,
/// key order and comments kept, go-yaml's quoting and block-scalar choices.
pub(crate) fn emit(docs: &[Node]) -> String {
    let mut out = String::new();
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        match doc {
            Node::Map(entries) if !entries.is_empty() => emit_map(entries, 0, 0, &mut out),
            Node::Seq(items) if !items.is_empty() => emit_seq(items, 0, &mut out),
            other => {
                out.push_str(&inline(other, 4));
                out.push('\n');
            }
        }
    }
    out
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn comment_line(c: &str, out: &mut String) {
    out.push('#');
    out.push_str(c);
    out.push('\n');
}

/// Keys at column `key_col`; their nested blocks are indented from `base` (they
/// differ for a mapping that starts after a list item's `- `).
fn emit_map(entries: &[Entry], key_col: usize, base: usize, out: &mut String) {
    for e in entries {
        pad(out, key_col);
        match e {
            Entry::Comment(c) => comment_line(c, out),
            Entry::Pair(k, v) => {
                out.push_str(&scalar_text(k));
                out.push(':');
                emit_value(v, base, out);
            }
        }
    }
}

fn emit_seq(items: &[Node], indent: usize, out: &mut String) {
    for item in items {
        pad(out, indent);
        match item {
            Node::Comment(c) => comment_line(c, out),
            Node::Map(entries) if !entries.is_empty() => {
                out.push_str("- ");
                let mut nested = String::new();
                emit_map(entries, indent + 2, indent, &mut nested);
                out.push_str(nested.trim_start_matches(' '));
            }
            Node::Seq(inner) if !inner.is_empty() => {
                out.push_str("- ");
                let mut nested = String::new();
                emit_seq(inner, indent + 2, &mut nested);
                out.push_str(nested.trim_start_matches(' '));
            }
            other => {
                out.push_str("- ");
                out.push_str(&inline(other, indent + 2));
                out.push('\n');
            }
        }
    }
}

/// After `key:`: a nested block on the next lines, or ` value`.
fn emit_value(v: &Node, base: usize, out: &mut String) {
    match v {
        Node::Map(entries) if !entries.is_empty() => {
            out.push('\n');
            emit_map(entries, base + 4, base + 4, out);
        }
        Node::Seq(items) if !items.is_empty() => {
            out.push('\n');
            emit_seq(items, base + 4, out);
        }
        other => {
            out.push(' ');
            out.push_str(&inline(other, base + 4));
            out.push('\n');
        }
    }
}

/// A scalar (or empty collection); `indent` is where block-scalar lines go.
fn inline(v: &Node, indent: usize) -> String {
    match v {
        Node::Map(_) => "{}".into(),
        Node::Seq(_) => "[]".into(),
        Node::Null | Node::Comment(_) => "null".into(),
        Node::Leaf(Leaf::Clear(Value::String(s))) => string(s, indent),
        Node::Leaf(Leaf::Clear(v)) => match v {
            Value::Number(n) if !n.is_i64() && !n.is_u64() => {
                n.as_f64().map(go_format_g).unwrap_or_else(|| n.to_string())
            }
            other => other.to_string(),
        },
        Node::Leaf(Leaf::Plain(p)) => match p {
            Plain::Str(s) | Plain::Comment(s) => string(s, indent),
            Plain::Time(t) => t.clone(),
            Plain::Bytes(b) => string(&String::from_utf8_lossy(b), indent),
            Plain::Int(i) => i.to_string(),
            Plain::Bool(b) => b.to_string(),
            Plain::Float(f) if f.is_nan() => ".nan".into(),
            Plain::Float(f) if *f == f64::INFINITY => ".inf".into(),
            Plain::Float(f) if *f == f64::NEG_INFINITY => "-.inf".into(),
            Plain::Float(f) => go_format_g(*f),
        },
    }
}

/// A string scalar the way go-yaml v3 writes it: double quotes when it would
/// read back as another type, else plain when libyaml allows it, else single quotes.
fn scalar_text(s: &str) -> String {
    if s.is_empty() || resolve_plain(s) != Value::String(s.to_string()) || is_yaml11_special(s) {
        return double_quoted(s);
    }
    if s.chars().any(char::is_control) {
        return double_quoted(s);
    }
    if plain_allowed(s) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

/// libyaml's double-quoted style: named escapes, `\xXX`/`\uXXXX` for other
/// non-printable characters, printable Unicode as is.
fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{85}' => out.push_str("\\N"),
            '\u{a0}' => out.push_str("\\_"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if c.is_control() || c == '\u{feff}' => {
                let n = u32::from(c);
                if n <= 0xff {
                    out.push_str(&format!("\\x{n:02X}"));
                } else {
                    out.push_str(&format!("\\u{n:04X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// libyaml's analysis for a plain scalar in block context.
fn plain_allowed(s: &str) -> bool {
    let chars: Vec<char> = s.chars().collect();
    let (Some(first), Some(last)) = (chars.first(), chars.last()) else { return false };
    if first.is_whitespace() || last.is_whitespace() {
        return false;
    }
    let followed_by_space = |i: usize| chars.get(i + 1).is_none_or(|c| c.is_whitespace());
    if "#,[]{}&*!|>'\"%@`".contains(*first) || ("-?:".contains(*first) && followed_by_space(0)) {
        return false;
    }
    for (i, c) in chars.iter().enumerate().skip(1) {
        if (*c == ':' && followed_by_space(i)) || (*c == '#' && chars[i - 1].is_whitespace()) {
            return false;
        }
    }
    true
}

/// go-yaml v3 still quotes strings that YAML 1.1 readers would take for a bool or a
/// base-60 number, so `sops decrypt` prints `"yes"` and `"1:20"`.
fn is_yaml11_special(s: &str) -> bool {
    if crate::render::yaml::parse::yaml11_bool(s).is_some() {
        return true;
    }
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let mut parts = body.split(':');
    let head_ok = parts.next().is_some_and(|h| {
        h.starts_with(|c: char| c.is_ascii_digit()) && h.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    });
    let mut count = 0;
    let tail_ok = parts.all(|p| {
        count += 1;
        let (int, frac) = p.split_once('.').unwrap_or((p, ""));
        !int.is_empty()
            && int.len() <= 2
            && int.bytes().all(|b| b.is_ascii_digit())
            && int.parse::<u8>().is_ok_and(|n| n < 60)
            && frac.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    });
    head_ok && count > 0 && tail_ok
}

/// Multi-line strings become literal blocks (`|`, `|-` without a final newline,
/// `|+` with several, an indentation indicator when the first line starts with a
/// space); everything else goes through [`scalar_text`].
fn string(s: &str, indent: usize) -> String {
    let literal_ok = s.contains('\n')
        && !s.chars().any(|c| c.is_control() && c != '\n')
        && !s.split('\n').any(|l| l.ends_with(' ') || l.ends_with('\t'));
    if !literal_ok {
        return scalar_text(s);
    }
    let (body, chomp) = if let Some(b) = s.strip_suffix("\n\n") {
        (format!("{b}\n"), "+")
    } else if let Some(b) = s.strip_suffix('\n') {
        (b.to_string(), "")
    } else {
        (s.to_string(), "-")
    };
    let indicator = if s.starts_with(' ') { "4" } else { "" };
    let mut out = format!("|{indicator}{chomp}");
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            out.extend(std::iter::repeat_n(' ', indent));
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::sops::tree::{to_value, Flavor};

    #[test]
    fn comments_attach_before_the_next_item() {
        let docs = parse("# top\na: 1\nn:\n    # inner\n    b: x\n# last\nc: |\n  # content\n").expect("parse");
        let Node::Map(entries) = &docs[0].node else { panic!("map") };
        let shape: Vec<String> = entries
            .iter()
            .map(|e| match e {
                Entry::Comment(c) => format!("#{c}"),
                Entry::Pair(k, _) => k.clone(),
            })
            .collect();
        assert_eq!(shape, ["# top", "a", "n", "# last", "c"]);
        let v = to_value(&docs[0].node, Flavor::Yaml, &mut Vec::new()).expect("value");
        assert_eq!(v["c"], "# content\n");
    }

    #[test]
    fn yaml11_lookalikes_are_quoted_like_go_yaml_v3() {
        assert!(is_yaml11_special("yes") && is_yaml11_special("Off") && is_yaml11_special("1:20"));
        assert!(!is_yaml11_special("yesterday") && !is_yaml11_special("12:345") && !is_yaml11_special("a:1"));
        assert_eq!(scalar_text("on"), "\"on\"");
        assert_eq!(scalar_text("42"), "\"42\"");
        assert_eq!(scalar_text("a: b"), "'a: b'");
        assert_eq!(scalar_text("it's: x"), "'it''s: x'");
        assert_eq!(scalar_text("-foo"), "-foo");
        assert_eq!(scalar_text("- foo"), "'- foo'");
        assert_eq!(scalar_text("a,b #c"), "'a,b #c'");
        assert_eq!(scalar_text("a#b"), "a#b");
    }

    #[test]
    fn emitted_yaml_reads_back_as_the_same_data() {
        let text = "a: 1\nb:\n    - x\n    - k: 'yes'\n      m: \"two\\nlines\\n\"\nc: ''\nd: 0.5\n";
        let docs = parse(text).expect("parse");
        let nodes: Vec<Node> = docs.into_iter().map(|d| d.node).collect();
        let out = emit(&nodes);
        let again = crate::render::yaml::parse::parse_stream(&out).expect("reparse");
        let orig = crate::render::yaml::parse::parse_stream(text).expect("orig");
        assert_eq!(again[0].value, orig[0].value, "{out}");
    }
}
