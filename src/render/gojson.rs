//! JSON text as Go's `encoding/json` writes it. kubectl hashes generated
//! ConfigMaps over it, Argo CD sends manifests in it, and Go templates' `toJson`
//! and sops print it, so kcmp must write the same bytes: `<`, `>` and `&` escaped
//! as `\u003c` … (HTML-safe; `SetEscapeHTML(false)` turns only this off), U+2028
//! and U+2029 always escaped, and the short `\b`/`\f` escapes of Go 1.22+
//! (kubectl 1.32 is built with Go 1.23).

/// Appends `s` as a quoted JSON string.
pub fn write_string(out: &mut String, s: &str, escape_html: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' if escape_html => push_unicode_escape(out, c),
            '\u{2028}' | '\u{2029}' => push_unicode_escape(out, c),
            c if (c as u32) < 0x20 => push_unicode_escape(out, c),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn push_unicode_escape(out: &mut String, c: char) {
    out.push_str(&format!("\\u{:04x}", c as u32));
}

/// Turns serde_json's text into Go's HTML-safe text. `<`, `>`, `&`, U+2028 and
/// U+2029 can only occur inside strings in JSON text, so replacing them in the
/// encoded text is exact; serde_json already writes every other escape as Go does.
pub fn html_safe(json_text: &str) -> String {
    let mut out = String::with_capacity(json_text.len());
    for c in json_text.chars() {
        match c {
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => push_unicode_escape(&mut out, c),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected texts from Go's json.Marshal and an Encoder with SetEscapeHTML(false).
    const AWKWARD: &str = "<x>&\u{2028}\u{2029}\u{8}\u{c}\u{1}\u{7f}\"\\\n";

    #[test]
    fn strings_are_escaped_as_go_does() {
        let mut safe = String::new();
        write_string(&mut safe, AWKWARD, true);
        assert_eq!(safe, "\"\\u003cx\\u003e\\u0026\\u2028\\u2029\\b\\f\\u0001\u{7f}\\\"\\\\\\n\"");
        let mut raw = String::new();
        write_string(&mut raw, AWKWARD, false);
        assert_eq!(raw, "\"<x>&\\u2028\\u2029\\b\\f\\u0001\u{7f}\\\"\\\\\\n\"");
    }

    #[test]
    fn serde_json_text_becomes_the_same_as_the_string_writer() {
        let mut expected = String::new();
        write_string(&mut expected, AWKWARD, true);
        assert_eq!(html_safe(&serde_json::Value::String(AWKWARD.into()).to_string()), expected);
    }
}
