//! JSON values -> YAML text byte-identical to `kubectl kustomize` output, the
//! last stage of every render (docs/kustomize-semantics.md §12). Kustomize
//! prints each object through sigs.k8s.io/yaml, i.e. go-yaml v2's encoder and
//! emitter; this module reproduces that emitter's observable rules:
//!
//! * mapping keys in go-yaml v2's "natural" order (`order`): digit runs
//!   compare as numbers, non-letters sort before letters (`a9` < `a10` < `aB`);
//! * block style, 2-space indent, sequences not indented under their key,
//!   `{}` / `[]` for empty collections, keys longer than 128 bytes as `? key`;
//! * scalar style chosen as go-yaml's `stringv` + `select_scalar_style` do it:
//!   plain when the text reads back as the same string (`resolve`), else
//!   double-quoted; single-quoted when plain is not allowed (indicators, `: `,
//!   ` #`, edge spaces); literal `|` for text with newlines unless it holds
//!   tabs, other control characters or spaces before a line break;
//! * plain, single- and double-quoted scalars folded at spaces once the line
//!   passes 80 columns (go-yaml's `best_width`), counted in characters;
//! * numbers as Go's JSON -> go-yaml round trip prints them (`number`).
//!
//! One pass over the tree writes into one `String`; besides the output, the
//! only allocation in the common case is the sorted key list of each mapping.

mod number;
mod order;
mod resolve;
mod roundtrip;

pub use roundtrip::{find_unprintable, Unprintable};

use serde_json::{Map, Value};
use std::borrow::Cow;

/// go-yaml v2's `best_width`: scalars are folded at the first space past it.
const BEST_WIDTH: usize = 80;
/// go-yaml v2's limit for a simple (`key: value`) mapping key, in bytes.
const SIMPLE_KEY_MAX: usize = 128;

/// One document as YAML, ending with a newline.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    write_document(&mut out, value);
    out
}

/// Documents joined with `---\n`, as `kubectl kustomize` prints them (empty for none).
pub fn to_yaml_stream<'a>(docs: impl IntoIterator<Item = &'a Value>) -> String {
    let mut out = String::new();
    for (i, doc) in docs.into_iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        write_document(&mut out, doc);
    }
    out
}

/// Appends one document to `out`; lets callers stream many objects into one buffer.
pub fn write_document(out: &mut String, value: &Value) {
    let mut e = Emitter { out, column: 0, whitespace: true, indention: true };
    e.node(value, None, false);
    // go-yaml's document end: finish the last line.
    e.write_indent(0);
}

/// Appends one JSON object as a document (the resource case, without cloning it into a `Value`).
pub fn write_object(out: &mut String, map: &Map<String, Value>) {
    let mut e = Emitter { out, column: 0, whitespace: true, indention: true };
    if map.is_empty() {
        e.flow_empty("{", "}");
    } else {
        e.block_mapping(map, 0);
    }
    e.write_indent(0);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
}

/// go-yaml's writer state: the column (in characters), whether the last thing
/// written was whitespace, and whether only indentation is on the current line.
struct Emitter<'o> {
    out: &'o mut String,
    column: usize,
    whitespace: bool,
    indention: bool,
}

impl Emitter<'_> {
    /// `parent` is the indent of the enclosing collection (`None` at the root);
    /// `mapping_value` is go-yaml's `mapping_context` (the node is a mapping value).
    fn node(&mut self, v: &Value, parent: Option<usize>, mapping_value: bool) {
        match v {
            Value::Object(m) if m.is_empty() => self.flow_empty("{", "}"),
            Value::Object(m) => self.block_mapping(m, parent.map_or(0, |p| p + 2)),
            Value::Array(a) if a.is_empty() => self.flow_empty("[", "]"),
            Value::Array(a) => {
                // A sequence that is a mapping value is written at its key's indent.
                let indent = match parent {
                    None => 0,
                    Some(p) if mapping_value && !self.indention => p,
                    Some(p) => p + 2,
                };
                for item in a {
                    self.write_indent(indent);
                    self.write_indicator("-", true, false, true);
                    self.node(item, Some(indent), false);
                }
            }
            Value::String(s) => self.string(s, parent.map_or(2, |p| p + 2), false),
            Value::Null => self.plain_word("null"),
            Value::Bool(b) => self.plain_word(if *b { "true" } else { "false" }),
            Value::Number(n) => {
                if !self.whitespace {
                    self.put(' ');
                }
                let start = self.out.len();
                number::write_number(self.out, n);
                self.column += self.out.len() - start;
                self.whitespace = false;
                self.indention = false;
            }
        }
    }

    fn block_mapping(&mut self, m: &Map<String, Value>, indent: usize) {
        let mut entries: Vec<(Cow<'_, str>, &Value)> = m.iter().map(|(k, v)| (roundtrip::fold_nel(k), v)).collect();
        order::sort_keys(&mut entries);
        for (k, v) in &entries {
            let k: &str = k;
            let a = analyze(k);
            self.write_indent(indent);
            if k.len() <= SIMPLE_KEY_MAX && !a.multiline {
                self.analyzed_string(k, &a, indent + 2, true);
                self.write_indicator(":", false, false, false);
            } else {
                self.write_indicator("?", true, false, true);
                self.analyzed_string(k, &a, indent + 2, false);
                self.write_indent(indent);
                self.write_indicator(":", true, false, true);
            }
            self.node(v, Some(indent), true);
        }
    }

    fn flow_empty(&mut self, open: &str, close: &str) {
        self.write_indicator(open, true, true, false);
        self.write_indicator(close, false, false, false);
    }

    fn plain_word(&mut self, word: &str) {
        if !self.whitespace {
            self.put(' ');
        }
        self.out.push_str(word);
        self.column += word.len();
        self.whitespace = false;
        self.indention = false;
    }

    fn string(&mut self, s: &str, indent: usize, simple_key: bool) {
        let s = &*roundtrip::fold_nel(s);
        self.analyzed_string(s, &analyze(s), indent, simple_key);
    }

    /// go-yaml v2 `stringv` (requested style) then `select_scalar_style`;
    /// `s` is already NEL-folded and `a` is its analysis.
    fn analyzed_string(&mut self, s: &str, a: &Analysis, indent: usize, simple_key: bool) {
        let mut style = if s.contains('\n') {
            Style::Literal
        } else if resolve::can_use_plain(s) {
            Style::Plain
        } else {
            Style::DoubleQuoted
        };
        if simple_key && a.multiline {
            style = Style::DoubleQuoted;
        }
        if style == Style::Plain && (!a.block_plain_allowed || (s.is_empty() && simple_key)) {
            style = Style::SingleQuoted;
        }
        if style == Style::SingleQuoted && !a.single_quoted_allowed {
            style = Style::DoubleQuoted;
        }
        if style == Style::Literal && (!a.block_allowed || simple_key) {
            style = Style::DoubleQuoted;
        }
        let allow_breaks = !simple_key;
        match style {
            Style::Plain => self.write_plain(s, indent, allow_breaks),
            Style::SingleQuoted => self.write_single_quoted(s, indent, allow_breaks),
            Style::DoubleQuoted => self.write_double_quoted(s, indent, allow_breaks),
            Style::Literal => self.write_literal(s, indent),
        }
    }

    fn write_plain(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        if !self.whitespace {
            self.put(' ');
        }
        if !allow_breaks || !s.contains(' ') {
            self.out.push_str(s);
            self.column += char_count(s);
        } else {
            let mut spaces = false;
            let mut chars = s.chars().peekable();
            while let Some(c) = chars.next() {
                // Plain scalars never hold line breaks (analyze forbids them).
                if c == ' ' {
                    if !spaces && self.column > BEST_WIDTH && chars.peek() != Some(&' ') {
                        self.write_indent(indent);
                    } else {
                        self.put(' ');
                    }
                    spaces = true;
                } else {
                    self.put(c);
                    self.indention = false;
                    spaces = false;
                }
            }
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn write_single_quoted(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        self.write_indicator("'", true, false, false);
        let mut spaces = false;
        let mut breaks = false;
        let mut chars = s.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            let next = chars.peek().map(|&(_, n)| n);
            if c == ' ' {
                if allow_breaks && !spaces && self.column > BEST_WIDTH && i > 0 && next.is_some() && next != Some(' ') {
                    self.write_indent(indent);
                } else {
                    self.put(' ');
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent(indent);
                }
                if c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.write_indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_double_quoted(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        self.write_indicator("\"", true, false, false);
        // go-yaml checks for a BOM at the start of the value, not at each
        // character, so a leading BOM escapes every character.
        let bom = s.starts_with('\u{FEFF}');
        let mut spaces = false;
        let mut chars = s.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            let next = chars.peek().map(|&(_, n)| n);
            if bom || !is_printable(c) || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                match c {
                    '\0' => self.put('0'),
                    '\u{7}' => self.put('a'),
                    '\u{8}' => self.put('b'),
                    '\t' => self.put('t'),
                    '\n' => self.put('n'),
                    '\u{b}' => self.put('v'),
                    '\u{c}' => self.put('f'),
                    '\r' => self.put('r'),
                    '\u{1b}' => self.put('e'),
                    '"' => self.put('"'),
                    '\\' => self.put('\\'),
                    '\u{85}' => self.put('N'),
                    '\u{a0}' => self.put('_'),
                    '\u{2028}' => self.put('L'),
                    '\u{2029}' => self.put('P'),
                    _ => {
                        let v = u32::from(c);
                        let (letter, width) = match v {
                            0..=0xFF => ('x', 2),
                            0x100..=0xFFFF => ('u', 4),
                            _ => ('U', 8),
                        };
                        self.put(letter);
                        for k in (0..width).rev() {
                            let digit = (v >> (k * 4)) & 0xF;
                            self.put(char::from_digit(digit, 16).map_or('0', |d| d.to_ascii_uppercase()));
                        }
                    }
                }
                spaces = false;
            } else if c == ' ' {
                if allow_breaks && !spaces && self.column > BEST_WIDTH && i > 0 && next.is_some() {
                    self.write_indent(indent);
                    if next == Some(' ') {
                        self.put('\\');
                    }
                } else {
                    self.put(' ');
                }
                spaces = true;
            } else {
                self.put(c);
                spaces = false;
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_literal(&mut self, s: &str, indent: usize) {
        self.write_indicator("|", true, false, false);
        let mut rev = s.chars().rev();
        if s.starts_with(|c: char| c == ' ' || is_break(c)) {
            self.write_indicator("2", false, false, false);
        }
        match (rev.next(), rev.next()) {
            (None, _) => self.write_indicator("-", false, false, false),
            (Some(last), _) if !is_break(last) => self.write_indicator("-", false, false, false),
            (Some(_), None) => self.write_indicator("+", false, false, false),
            (Some(_), Some(prev)) if is_break(prev) => self.write_indicator("+", false, false, false),
            _ => {}
        }
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for line in s.split_inclusive(is_break) {
            let (text, brk) = match line.chars().next_back() {
                Some(c) if is_break(c) => (&line[..line.len() - c.len_utf8()], Some(c)),
                _ => (line, None),
            };
            if !text.is_empty() {
                if breaks {
                    self.write_indent(indent);
                }
                self.out.push_str(text);
                self.column += char_count(text);
                self.indention = false;
                breaks = false;
            }
            if let Some(c) = brk {
                self.write_break(c);
                self.indention = true;
                breaks = true;
            }
        }
    }

    fn write_indent(&mut self, indent: usize) {
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn write_indicator(&mut self, indicator: &str, need_whitespace: bool, is_whitespace: bool, is_indention: bool) {
        if need_whitespace && !self.whitespace {
            self.put(' ');
        }
        self.out.push_str(indicator);
        self.column += indicator.len();
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
    }

    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    /// A line break from the value: `\n` as is, other breaks copied verbatim.
    fn write_break(&mut self, c: char) {
        self.out.push(c);
        self.column = 0;
    }
}

fn char_count(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    }
}

/// go-yaml `is_break`: CR, LF, NEL, LS, PS.
fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// go-yaml `is_printable` (byte-level in Go; the same set of characters):
/// LF, printable ASCII, U+00A0..U+D7FF, U+E000..U+FFFD except the BOM.
/// Tabs, other controls and everything above U+FFFF (emoji) are not.
fn is_printable(c: char) -> bool {
    matches!(c, '\n' | ' '..='~' | '\u{A0}'..='\u{D7FF}') || (('\u{E000}'..='\u{FFFD}').contains(&c) && c != '\u{FEFF}')
}

/// What go-yaml's `analyze_scalar` decides about a string.
struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

/// go-yaml v2 `yaml_emitter_analyze_scalar`, for block context (no string is
/// ever emitted inside a flow collection here: only empty ones are flow).
fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let mut block_indicators = s.starts_with("---") || s.starts_with("...");
    let (mut line_breaks, mut special) = (false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) = (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    let mut preceded_by_whitespace = true;
    let mut chars = s.chars().peekable();
    let mut first = true;
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        let last = next.is_none();
        let followed_by_whitespace = matches!(next, None | Some(' ' | '\t'));
        if first {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@' | '`' => {
                    block_indicators = true
                }
                '?' | ':' | '-' if followed_by_whitespace => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_whitespace => block_indicators = true,
                '#' if preceded_by_whitespace => block_indicators = true,
                _ => {}
            }
        }
        if !is_printable(c) {
            special = true;
        }
        if c == ' ' {
            leading_space |= first;
            trailing_space |= last;
            break_space |= previous_break;
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            line_breaks = true;
            leading_break |= first;
            trailing_break |= last;
            space_break |= previous_space;
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = matches!(c, ' ' | '\t' | '\0') || is_break(c);
        first = false;
    }
    let mut a = Analysis {
        multiline: line_breaks,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break || line_breaks || block_indicators {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
        a.block_allowed = false;
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sequences_sit_under_their_key_and_empty_collections_are_flow() {
        let v = json!({"b": [1, {"x": [], "y": {}}, [2, 3]], "a": {"c": null, "d": true}});
        assert_eq!(to_yaml(&v), "a:\n  c: null\n  d: true\nb:\n- 1\n- x: []\n  \"y\": {}\n- - 2\n  - 3\n");
    }

    #[test]
    fn strings_get_go_yaml_v2_styles() {
        let v = json!({"k": ["1", "yes", "", "@x", "a: b", " lead", "tab\there", "x\ny\n", "x\n\n", "x", "- a"]});
        assert_eq!(
            to_yaml(&v),
            "k:\n- \"1\"\n- \"yes\"\n- \"\"\n- '@x'\n- 'a: b'\n- ' lead'\n- \"tab\\there\"\n- |\n  x\n  y\n- |+\n  x\n\n- x\n- '- a'\n"
        );
    }

    #[test]
    fn long_plain_strings_fold_past_column_80() {
        let words = "word ".repeat(20);
        let v = json!({"k": words.trim_end()});
        let out = to_yaml(&v);
        let first = out.lines().next().unwrap_or_default();
        assert!(first.chars().count() > 80 && first.chars().count() <= 86, "{out}");
        assert!(out.lines().nth(1).unwrap_or_default().starts_with("  word"), "{out}");
    }

    #[test]
    fn nel_folds_like_the_json_round_trip_does() {
        let v = json!({"a": "x\u{85}y", "b": "a \u{85} b", "c": "a\u{85}\u{85}b"});
        assert_eq!(to_yaml(&v), "a: x y\nb: a b\nc: |-\n  a\n  b\n");
    }

    #[test]
    fn long_and_multi_line_keys_are_complex_keys() {
        let long = "k".repeat(129);
        let v = json!({ long.clone(): 1, "two\nlines": [1] });
        assert_eq!(to_yaml(&v), format!("? {long}\n: 1\n? |-\n  two\n  lines\n: - 1\n"));
    }

    #[test]
    fn stream_joins_documents_with_separators() {
        let docs = [json!({"a": 1}), json!({"b": "x\n\n"})];
        assert_eq!(to_yaml_stream(docs.iter()), "a: 1\n---\nb: |+\n  x\n\n");
        assert_eq!(to_yaml_stream(std::iter::empty()), "");
    }
}
