//! Placeholders: how an interpolated value reaches its place without ever being
//! parsed as template or YAML text (issue 4, "structure safety").
//!
//! While a template renders, every `{{ … }}` emits a token `U+E000 <n> U+E001`
//! and its value is kept in slot `n`. Only after the rendered text has been
//! parsed (its structure fixed) are the slots put back:
//! - YAML ([`YamlSlots`], a [`ScalarHook`] for `yaml::parse`): tokens can only sit
//!   inside scalars, so a value lands inside one scalar. A plain scalar that is
//!   exactly one token is typed the way YAML types the value alone, if the value
//!   is a single plain scalar; anything else is a string.
//! - JSON text ([`substitute_json`]): inside a string literal the value is JSON-escaped,
//!   elsewhere it becomes one JSON literal.
//! - other text ([`substitute_text`]): the value as text.
//!
//! The token characters are from the Private Use Area: they have no case and no
//! YAML or JSON meaning, and neither template sources nor values may contain them, so every
//! token in the rendered text came from an interpolation.

use crate::render::yaml::parse::{resolve_scalar, ScalarHook, ScalarRole, ScalarStyle};
use saphyr_parser::{Event, Parser, ScalarStyle as SaphyrStyle};
use serde_json::Value;

/// Opens a token.
pub(crate) const OPEN: char = '\u{E000}';
/// Closes a token.
pub(crate) const CLOSE: char = '\u{E001}';

/// One interpolated value, as the template produced it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Slot {
    /// A string: typed by the YAML rule when it is a whole plain scalar.
    Str(String),
    /// The output of `| quote`: always a string; as text it is the quoted form.
    Quoted(String),
    /// A number, boolean or none: keeps its type when it is a whole plain scalar.
    Scalar(Value),
    /// A list or map (allowed only in JSON and plain-text templates).
    Structured(Value),
}

impl Slot {
    /// The value as text, for mixed scalars and text templates.
    pub(crate) fn text(&self) -> String {
        match self {
            Slot::Str(s) => s.clone(),
            Slot::Quoted(s) => quoted(s),
            Slot::Scalar(Value::Null) => String::new(),
            Slot::Scalar(v) | Slot::Structured(v) => v.to_string(),
        }
    }
}

/// A JSON (and YAML double-quoted) string literal of `s`.
pub(crate) fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("serializing a string to JSON cannot fail")
}

/// The token text for slot `n`.
pub(crate) fn token(n: usize) -> String {
    format!("{OPEN}{n}{CLOSE}")
}

/// Whether `s` holds a token character (a template source may not).
pub(crate) fn has_marker(s: &str) -> bool {
    s.contains([OPEN, CLOSE])
}

/// Text between tokens, or a slot number.
#[derive(Debug, PartialEq)]
enum Piece<'a> {
    Text(&'a str),
    Slot(usize),
}

/// Splits `s` into text and tokens; a broken token (a filter cut or reversed
/// captured text) is an error.
fn pieces(s: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find([OPEN, CLOSE]) {
        let broken = || {
            "an interpolation placeholder was cut apart (captured template text was sliced or changed by a filter); slice or filter the value itself".to_string()
        };
        if !rest[start..].starts_with(OPEN) {
            return Err(broken());
        }
        let after = &rest[start + OPEN.len_utf8()..];
        let end = after.find(CLOSE).ok_or_else(broken)?;
        let n: usize = after[..end].parse().map_err(|_| broken())?;
        if start > 0 {
            out.push(Piece::Text(&rest[..start]));
        }
        out.push(Piece::Slot(n));
        rest = &after[end + CLOSE.len_utf8()..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

fn slot(slots: &[Slot], n: usize) -> Result<&Slot, String> {
    slots.get(n).ok_or_else(|| format!("internal error: placeholder {n} has no value"))
}

/// Replaces every token in `s` by its slot's text (values are not scanned again).
pub(crate) fn expand(s: &str, slots: &[Slot]) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    for piece in pieces(s)? {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Slot(n) => out.push_str(&slot(slots, n)?.text()),
        }
    }
    Ok(out)
}

/// `s` with every token shown as `{{…}}`, for messages (values may be secrets).
pub(crate) fn mask(s: &str) -> String {
    match pieces(s) {
        Ok(parts) => parts
            .into_iter()
            .map(|p| match p {
                Piece::Text(t) => t,
                Piece::Slot(_) => "{{…}}",
            })
            .collect(),
        Err(_) => s.replace([OPEN, CLOSE], ""),
    }
}

/// Whether `s`, written alone as YAML, is exactly one untagged plain scalar with
/// the same text (so `3`, `true`, `0755` qualify; `a: b`, `- x`, `&a x`, `!!str 1`,
/// `x # c`, `"q"`, `[1]`, multi-line text and `` do not).
pub(crate) fn is_single_plain_scalar(s: &str) -> bool {
    if s.is_empty() || s.trim() != s || s.contains(['\n', '\r']) {
        return false;
    }
    let mut scalars = 0;
    for item in Parser::new_from_str(s) {
        match item {
            Err(_) => return false,
            Ok((Event::StreamStart | Event::StreamEnd | Event::DocumentStart(false) | Event::DocumentEnd, _)) => {}
            Ok((Event::Scalar(text, SaphyrStyle::Plain, 0, None), _)) if text == s => scalars += 1,
            Ok(_) => return false,
        }
    }
    scalars == 1
}

/// Types a string that is a whole plain scalar: go-yaml's resolution if it is a
/// single plain scalar (`.inf`-like values, which Kustomize refuses, stay strings).
pub(crate) fn type_alone(s: &str) -> Value {
    if is_single_plain_scalar(s) {
        if let Ok(v) = resolve_scalar(s, ScalarStyle::Plain, None) {
            return v;
        }
    }
    Value::String(s.to_string())
}

/// The scalar hook that puts slots back into a parsed YAML template.
pub(crate) struct YamlSlots<'a> {
    /// Values by slot number.
    pub(crate) slots: &'a [Slot],
}

impl ScalarHook for YamlSlots<'_> {
    fn scalar(&self, text: &str, style: ScalarStyle, tag: Option<&str>, _role: ScalarRole) -> Result<Value, String> {
        if tag.is_some_and(has_marker) {
            return Err("an interpolation cannot be part of a YAML tag".into());
        }
        if !has_marker(text) {
            return resolve_scalar(text, style, tag);
        }
        let parts = pieces(text)?;
        if let ([Piece::Slot(n)], ScalarStyle::Plain, None) = (parts.as_slice(), style, tag) {
            return Ok(match slot(self.slots, *n)? {
                Slot::Str(s) => type_alone(s),
                Slot::Quoted(s) => Value::String(s.clone()),
                Slot::Scalar(v) | Slot::Structured(v) => v.clone(),
            });
        }
        let value = expand(text, self.slots)?;
        match tag {
            // An explicit core tag (`!!int {{ x }}`) is the author's typing.
            Some(t) if t.starts_with("tag:yaml.org,2002:") => resolve_scalar(&value, style, tag),
            _ => Ok(Value::String(value)),
        }
    }
}

/// Puts slots back into rendered JSON text: JSON-escaped inside string literals,
/// one JSON literal elsewhere (a string that reads as a JSON number, boolean or
/// null stays bare, like YAML's typing; other strings are quoted).
pub(crate) fn substitute_json(rendered: &str, slots: &[Slot]) -> Result<String, String> {
    let mut out = String::with_capacity(rendered.len());
    let (mut in_string, mut escaped) = (false, false);
    for piece in pieces(rendered)? {
        match piece {
            Piece::Text(t) => {
                for c in t.chars() {
                    if in_string {
                        match (escaped, c) {
                            (true, _) => escaped = false,
                            (false, '\\') => escaped = true,
                            (false, '"') => in_string = false,
                            _ => {}
                        }
                    } else if c == '"' {
                        in_string = true;
                    }
                }
                out.push_str(t);
            }
            Piece::Slot(n) => {
                let s = slot(slots, n)?;
                if escaped {
                    return Err("an interpolation cannot follow a backslash inside a JSON string".into());
                }
                if in_string {
                    let q = quoted(&s.text());
                    out.push_str(&q[1..q.len() - 1]);
                } else {
                    out.push_str(&json_literal(s));
                }
            }
        }
    }
    Ok(out)
}

fn json_literal(s: &Slot) -> String {
    match s {
        Slot::Str(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Number(_) | Value::Bool(_) | Value::Null) if text.trim() == text => text.clone(),
            _ => quoted(text),
        },
        Slot::Quoted(text) => quoted(text),
        Slot::Scalar(v) | Slot::Structured(v) => v.to_string(),
    }
}

/// Puts slots back into rendered text as their text.
pub(crate) fn substitute_text(rendered: &str, slots: &[Slot]) -> Result<String, String> {
    expand(rendered, slots)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn single_plain_scalars_are_recognised() {
        for yes in ["3", "true", "0755", "a:b", "nginx", "1.5", "~", "a b"] {
            assert!(is_single_plain_scalar(yes), "{yes}");
        }
        for no in [
            "", " 3", "a: b", "- x", "&a x", "*a", "!!str 1", "x # c", "\"q\"", "'q'", "[1]", "{a}", "a\nb", "---", "|",
        ] {
            assert!(!is_single_plain_scalar(no), "{no:?}");
        }
    }

    #[test]
    fn whole_plain_values_are_typed_like_yaml_alone() {
        assert_eq!(type_alone("3"), json!(3));
        assert_eq!(type_alone("true"), json!(true));
        assert_eq!(type_alone("yes"), json!("yes"));
        assert_eq!(type_alone("0755"), json!(493));
        assert_eq!(type_alone("null"), Value::Null);
        assert_eq!(type_alone(""), json!(""));
        assert_eq!(type_alone(".inf"), json!(".inf"));
        assert_eq!(type_alone("3 # x"), json!("3 # x"));
    }

    #[test]
    fn broken_tokens_are_refused() {
        let reversed: String = token(12).chars().rev().collect();
        assert!(pieces(&reversed).is_err());
        assert!(pieces(&format!("a{OPEN}1")).is_err());
        assert_eq!(
            pieces(&format!("a{}b", token(0))).expect("ok"),
            vec![Piece::Text("a"), Piece::Slot(0), Piece::Text("b")]
        );
    }

    #[test]
    fn json_values_are_escaped_in_strings_and_literals_outside() {
        let slots = vec![Slot::Str("a\"b\n".into()), Slot::Str("3".into()), Slot::Structured(json!(["x"]))];
        let text = format!("{{\"k\": \"<{}>\", \"n\": {}, \"l\": {}}}", token(0), token(1), token(2));
        assert_eq!(substitute_json(&text, &slots).expect("ok"), "{\"k\": \"<a\\\"b\\n>\", \"n\": 3, \"l\": [\"x\"]}");
        let text = format!("{{\"k\": {}}}", token(0));
        assert_eq!(substitute_json(&text, &slots).expect("ok"), "{\"k\": \"a\\\"b\\n\"}");
    }
}
