//! A generate command's stdout -> `ManifestResponse.manifests` (docs/cmp-protocol.md
//! §8 step 5): JSON mode when the first non-blank byte is `{` (each value's original
//! text), else YAML documents cut at `---` lines, each re-encoded as compact JSON
//! with sorted keys and Go's HTML-safe escaping; empty and null documents dropped.
//! Any error fails the whole response.

use crate::render::yaml::parse::parse_stream;
use serde_json::Value;
use std::collections::BTreeMap;

/// Splits stdout into manifest strings; the error reads `failed to unmarshal manifest: ...`.
pub fn split(stdout: &str) -> Result<Vec<String>, String> {
    let sniff: String = stdout.chars().take(4096).collect();
    if sniff.trim_start().starts_with('{') {
        let mut out = Vec::new();
        let mut stream = serde_json::Deserializer::from_str(stdout).into_iter::<serde::de::IgnoredAny>();
        let mut start = 0;
        loop {
            match stream.next() {
                None => return Ok(out),
                Some(Ok(_)) => {
                    let end = stream.byte_offset();
                    out.push(stdout[start..end].trim().to_string());
                    start = end;
                }
                Some(Err(e)) => {
                    if out.len() >= 2 {
                        return Err(format!("failed to unmarshal manifest: {e}"));
                    }
                    // Go's YAMLOrJSONDecoder falls back to YAML after at most one
                    // JSON value: skip blanks up to and including one newline.
                    let rest = &stdout[start..];
                    let trimmed = rest.trim_start_matches([' ', '\t', '\r']);
                    let rest = trimmed.strip_prefix('\n').unwrap_or(trimmed);
                    out.extend(split_yaml(rest)?);
                    return Ok(out);
                }
            }
        }
    }
    split_yaml(stdout)
}

fn split_yaml(text: &str) -> Result<Vec<String>, String> {
    let mut docs = Vec::new();
    let mut current = String::new();
    for line in text.split_inclusive('\n') {
        if let Some(rest) = line.strip_prefix("---") {
            let rest = rest.trim();
            if rest.is_empty() || rest.starts_with('#') {
                docs.push(std::mem::take(&mut current));
                continue;
            }
            return Err(format!("failed to unmarshal manifest: invalid Yaml document separator: {rest}"));
        }
        current.push_str(line);
    }
    docs.push(current);
    let mut out = Vec::new();
    for doc in docs {
        if doc.trim().is_empty() {
            continue;
        }
        let parsed =
            parse_stream(&doc).map_err(|e| format!("failed to unmarshal manifest: line {}: {}", e.line, e.message))?;
        for d in parsed {
            if d.value.is_null() {
                continue;
            }
            out.push(go_json(&sorted(d.value)));
        }
    }
    Ok(out)
}

/// Map keys sorted, as Go's `json.Marshal` of a `map[string]interface{}` prints them.
fn sorted(value: Value) -> Value {
    match value {
        Value::Object(obj) => {
            let tree: BTreeMap<String, Value> = obj.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(tree.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// Compact JSON with Go's HTML-safe escapes.
fn go_json(value: &Value) -> String {
    crate::render::gojson::html_safe(&value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_documents_become_sorted_compact_json_and_empty_ones_are_dropped() {
        let out =
            split("---\nkind: B\napiVersion: v1\n--- # c\n# only a comment\n---\n~\n---\nx: <a&b>\n").expect("ok");
        assert_eq!(out, vec![r#"{"apiVersion":"v1","kind":"B"}"#, r#"{"x":"\u003ca\u0026b\u003e"}"#]);
    }

    #[test]
    fn json_values_keep_their_original_text() {
        let out = split("  {\"b\": 1, \"a\": 2}\n{\"c\":3}\n").expect("ok");
        assert_eq!(out, vec!["{\"b\": 1, \"a\": 2}", "{\"c\":3}"]);
    }

    #[test]
    fn bad_separator_fails_the_whole_output() {
        let e = split("a: 1\n--- nope\nb: 2\n").expect_err("bad");
        assert_eq!(e, "failed to unmarshal manifest: invalid Yaml document separator: nope");
    }

    #[test]
    fn empty_output_is_zero_manifests() {
        assert_eq!(split("").expect("ok"), Vec::<String>::new());
    }
}
