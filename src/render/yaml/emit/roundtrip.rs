//! What Kustomize's JSON -> go-yaml round trip does to strings before the
//! emitter sees them (docs/kustomize-semantics.md §12): Go's JSON encoder
//! escapes control characters below U+0020 but writes DEL, C1 controls and
//! U+FFFE/U+FFFF raw, which go-yaml's reader then refuses, and NEL raw, which
//! go-yaml reads as a line break. Part of the emitter ([`super`]).

use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt::Write;

/// A string `kubectl kustomize` cannot print, found by [`find_unprintable`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unprintable {
    /// Where in the object: `data.key`, `spec.list[2]`.
    pub path: String,
    /// What is wrong, worded for the person who has to fix the input.
    pub problem: String,
}

/// Finds the first string go-yaml cannot take back from Kustomize's JSON.
/// Go's JSON encoder leaves DEL, C1 controls (except NEL) and U+FFFE/U+FFFF
/// unescaped and go-yaml's reader refuses them ("control characters are not
/// allowed"); a NEL in a key makes it a multi-line implicit key, which go-yaml
/// refuses too. kubectl then fails the whole build, so kcmp must not print a
/// result either.
pub fn find_unprintable(map: &Map<String, Value>) -> Option<Unprintable> {
    let mut path = String::new();
    unprintable_in_map(map, &mut path)
}

fn unprintable_in_map(map: &Map<String, Value>, path: &mut String) -> Option<Unprintable> {
    for (k, v) in map {
        let len = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(k);
        if let Some(c) = first_refused(k) {
            return Some(Unprintable { path: path.clone(), problem: refused(c, "key") });
        }
        if k.contains('\u{85}') {
            return Some(Unprintable {
                path: path.clone(),
                problem: "key contains U+0085 (next line), which makes it a multi-line key".into(),
            });
        }
        if let Some(found) = unprintable_in_value(v, path) {
            return Some(found);
        }
        path.truncate(len);
    }
    None
}

fn unprintable_in_value(v: &Value, path: &mut String) -> Option<Unprintable> {
    match v {
        Value::String(s) => first_refused(s).map(|c| Unprintable { path: path.clone(), problem: refused(c, "value") }),
        Value::Object(m) => unprintable_in_map(m, path),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let len = path.len();
            let _ = write!(path, "[{i}]");
            let found = unprintable_in_value(item, path);
            path.truncate(len);
            found
        }),
        _ => None,
    }
}

fn refused(c: char, what: &str) -> String {
    format!("{what} contains control character U+{:04X} (yaml: control characters are not allowed)", u32::from(c))
}

fn first_refused(s: &str) -> Option<char> {
    // Every refused character starts with one of these bytes in UTF-8.
    if !s.bytes().any(|b| matches!(b, 0x7F | 0xC2 | 0xEF)) {
        return None;
    }
    s.chars().find(|&c| is_refused_by_reader(c))
}

/// Characters go-yaml's reader rejects that Go's JSON encoder writes raw.
fn is_refused_by_reader(c: char) -> bool {
    matches!(c, '\u{7F}'..='\u{84}' | '\u{86}'..='\u{9F}' | '\u{FFFE}' | '\u{FFFF}')
}

/// Kustomize's JSON -> YAML round trip changes one kind of string: Go's JSON
/// encoder writes NEL (U+0085) unescaped, and go-yaml then reads it as a line
/// break inside the double-quoted JSON string, folding it like YAML does
/// (one break and the spaces around it become one space; further breaks
/// become newlines).
pub(super) fn fold_nel(s: &str) -> Cow<'_, str> {
    if !s.contains('\u{85}') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while chars.peek().is_some() {
        while let Some(&c) = chars.peek() {
            if c == ' ' || c == '\u{85}' {
                break;
            }
            out.push(c);
            chars.next();
        }
        let mut spaces = 0;
        let mut leading_break = false;
        let mut trailing_breaks = 0;
        while let Some(&c) = chars.peek() {
            match c {
                ' ' if !leading_break => spaces += 1,
                ' ' => {}
                '\u{85}' if !leading_break => leading_break = true,
                '\u{85}' => trailing_breaks += 1,
                _ => break,
            }
            chars.next();
        }
        if !leading_break {
            out.extend(std::iter::repeat_n(' ', spaces));
        } else if trailing_breaks == 0 {
            out.push(' ');
        } else {
            out.extend(std::iter::repeat_n('\n', trailing_breaks));
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_go_yaml_cannot_read_back_are_found() {
        let ok = json!({"data": {"k": "tab\t\u{85}é😀"}});
        assert_eq!(find_unprintable(ok.as_object().expect("map")), None);
        let del = json!({"spec": {"list": ["a", "b\u{7f}"]}});
        assert_eq!(
            find_unprintable(del.as_object().expect("map")),
            Some(Unprintable {
                path: "spec.list[1]".into(),
                problem: "value contains control character U+007F (yaml: control characters are not allowed)".into()
            })
        );
        let key = json!({"data": {"a\u{85}b": "v"}});
        let found = find_unprintable(key.as_object().expect("map")).expect("nel key");
        assert_eq!(found.path, "data.a\u{85}b");
        assert!(found.problem.contains("multi-line key"), "{}", found.problem);
    }
}
