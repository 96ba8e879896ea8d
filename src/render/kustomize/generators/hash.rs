//! The name-suffix hash of generated objects (docs/kustomize-semantics.md §6):
//! SHA-256 over a small JSON document serialised exactly as Go's `encoding/json`
//! does, shortened to 10 characters with Kustomize's vowel-free substitution.

use crate::render::gojson;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The 10-character suffix for `obj` (without the leading `-`).
pub(crate) fn name_hash(obj: &Map<String, Value>) -> String {
    let encoded = go_json(&Value::Object(hashed_view(obj)));
    let digest = Sha256::digest(encoded.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    hex.chars()
        .take(10)
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            c => c,
        })
        .collect()
}

/// What Kustomize feeds the hash. `name` is always empty: v5.5.0 looks the name
/// up with a path it never finds. Labels, annotations, namespace and
/// `immutable` are not part of it.
fn hashed_view(obj: &Map<String, Value>) -> Map<String, Value> {
    let field = |name: &str| match obj.get(name) {
        None => Value::String(String::new()),
        Some(v) => scalar_text_or_value(v),
    };
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    let mut m = Map::new();
    match kind {
        "ConfigMap" => {
            m.insert("kind".into(), Value::String("ConfigMap".into()));
            m.insert("name".into(), Value::String(String::new()));
            m.insert("data".into(), field("data"));
            if let Some(b @ Value::Object(_)) = obj.get("binaryData") {
                m.insert("binaryData".into(), b.clone());
            }
        }
        "Secret" => {
            m.insert("kind".into(), Value::String("Secret".into()));
            m.insert("name".into(), Value::String(String::new()));
            m.insert("type".into(), field("type"));
            m.insert("data".into(), field("data"));
            if let Some(s @ Value::Object(_)) = obj.get("stringData") {
                m.insert("stringData".into(), s.clone());
            }
        }
        _ => return obj.clone(),
    }
    m
}

/// A scalar field is hashed as its text; a map as itself.
fn scalar_text_or_value(v: &Value) -> Value {
    match v {
        Value::Object(_) | Value::Array(_) => v.clone(),
        Value::Null => Value::String(String::new()),
        Value::String(s) => Value::String(s.clone()),
        other => Value::String(other.to_string()),
    }
}

/// Go `encoding/json` output: keys sorted, no spaces, HTML-safe escaping.
pub(crate) fn go_json(v: &Value) -> String {
    let mut out = String::new();
    write_go_json(&mut out, v);
    out
}

fn write_go_json(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&go_number(n)),
        Value::String(s) => gojson::write_string(out, s, true),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json(out, item);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                gojson::write_string(out, k, true);
                out.push(':');
                write_go_json(out, &m[k.as_str()]);
            }
            out.push('}');
        }
    }
}

/// Numbers went through Go's `interface{}` decoding, i.e. float64, and are
/// printed the way `encoding/json` prints a float64.
fn go_number(n: &serde_json::Number) -> String {
    let Some(f) = n.as_f64() else {
        return n.to_string();
    };
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Go: exponent form with at least one exponent digit and an explicit sign.
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((mant, exp)) if exp.starts_with('-') => format!("{mant}e-{}", &exp[1..]),
            Some((mant, exp)) => format!("{mant}e+{exp}"),
            None => s,
        }
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hash_of(v: Value) -> String {
        match v {
            Value::Object(m) => name_hash(&m),
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn hash_matches_kustomize_test_vectors() {
        // All four values were produced by kubectl kustomize (v5.5.0) on this machine.
        let cm =
            |data: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": data});
        assert_eq!(hash_of(cm(json!({"a": "1", "b": "<&>"}))), "f986b78m9b");
        assert_eq!(hash_of(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "e"}})), "6ct58987ht");
        assert_eq!(hash_of(cm(json!({"k": "v"}))), "bdg947hgcc");
        assert_eq!(
            hash_of(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls"},
                           "type": "kubernetes.io/tls", "data": {"x": "eQ=="}})),
            "5m4gk962d9"
        );
    }

    #[test]
    fn hash_ignores_name_labels_namespace_and_immutable() {
        let a = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kv"}, "data": {"k": "v"}});
        let b = json!({"apiVersion": "v1", "kind": "ConfigMap", "immutable": true, "data": {"k": "v"},
                       "metadata": {"name": "other", "namespace": "n", "labels": {"l": "1"}, "annotations": {"a": "b"}}});
        assert_eq!(hash_of(a), hash_of(b));
    }

    #[test]
    fn control_characters_escape_like_go_1_23() {
        // kubectl: env line `A=x<BS>y<FF>z<SOH><>&<U+2028>` gives ctl-9fdbk4484k.
        let data = json!({"A": "x\u{8}y\u{c}z\u{1}<>&\u{2028}"});
        assert_eq!(go_json(&data), r#"{"A":"x\by\fz\u0001\u003c\u003e\u0026\u2028"}"#);
        assert_eq!(hash_of(json!({"kind": "ConfigMap", "data": data})), "9fdbk4484k");
    }

    #[test]
    fn empty_secret_and_binary_data_vectors() {
        // kubectl: `secretGenerator: [{name: es}]` gives es-46f8b28mk5.
        assert_eq!(hash_of(json!({"kind": "Secret", "type": "Opaque", "data": {}})), "46f8b28mk5");
        // kubectl: the t1 probe ConfigMap (binaryData + data) gives cm-2fmd656md4.
        let data = json!({"A": "1", "B ": " two ", "C": "", "D": "\"quoted\"", "E": "a=b",
            "f.txt": "line1\nline2\n", "other": "line1\nline2\n", "q1": "double", "q2": "single",
            "q3": "\"mismatch'", "q4": " spaced", "q5": "a=b"});
        assert_eq!(
            hash_of(json!({"kind": "ConfigMap", "data": data, "binaryData": {"b.bin": "//4AYmlu"}})),
            "2fmd656md4"
        );
    }

    #[test]
    fn numbers_print_like_go_float64() {
        assert_eq!(go_json(&json!([1, 1.5, 1e21, 0.0000001, 100])), "[1,1.5,1e+21,1e-7,100]");
    }
}
