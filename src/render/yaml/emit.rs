//! JSON values -> YAML text byte-compatible with `kubectl kustomize` output
//! (sigs.k8s.io/yaml over go-yaml v2: keys sorted, sequences not indented,
//! go-yaml v2 quoting and line folding; docs/kustomize-semantics.md §12).
//!
//! STUB: minimal writer; the byte-exact emitter is pending (emitter helper).

use serde_json::Value;

/// One document as YAML, ending with a newline.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    write_node(&mut out, value, 0, false);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// Documents joined with `---\n`, as `kubectl kustomize` prints them.
pub fn to_yaml_stream<'a>(docs: impl IntoIterator<Item = &'a Value>) -> String {
    docs.into_iter().map(to_yaml).collect::<Vec<_>>().join("---\n")
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => serde_json::to_string(s).unwrap_or_default(),
        other => other.to_string(),
    }
}

fn write_node(out: &mut String, v: &Value, indent: usize, _in_seq: bool) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) if !m.is_empty() => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for k in keys {
                let child = &m[k.as_str()];
                match child {
                    Value::Object(c) if !c.is_empty() => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        write_node(out, child, indent + 2, false);
                    }
                    Value::Array(a) if !a.is_empty() => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        write_node(out, child, indent, false);
                    }
                    _ => out.push_str(&format!("{pad}{k}: {}\n", flow(child))),
                }
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for item in a {
                out.push_str(&format!("{pad}- "));
                let mut sub = String::new();
                write_node(&mut sub, item, indent + 2, true);
                let sub = sub.trim_start().to_string();
                out.push_str(&sub);
                if !sub.ends_with('\n') {
                    out.push('\n');
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", flow(other))),
    }
}

fn flow(v: &Value) -> String {
    match v {
        Value::Object(m) if m.is_empty() => "{}".into(),
        Value::Array(a) if a.is_empty() => "[]".into(),
        other => scalar(other),
    }
}
