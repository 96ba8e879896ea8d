//! Parameter sets: what generators produce and templates consume
//! (docs/controller-appset.md §2). One set is a JSON object: flat dotted
//! string keys in fasttemplate mode (`path.basename`), nested values in
//! goTemplate mode (`.path.basename`). Also the helpers both modes share:
//! Argo CD's name sanitising, Go-style flattening and `%v` stringification.

use serde_json::{Map, Value};

/// One parameter set.
pub type Params = Map<String, Value>;

/// Argo CD's `SanitizeName` (`nameNormalized`, `basenameNormalized`,
/// `normalize`): lower-case, characters outside `[-a-z0-9.]` become `-`,
/// at most 253 characters, leading/trailing `-` and `.` trimmed.
pub fn sanitize_name(name: &str) -> String {
    let mapped: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.' { c } else { '-' })
        .collect();
    let cut: String = mapped.chars().take(253).collect();
    cut.trim_matches(|c| c == '-' || c == '.').to_string()
}

/// Numbers as Go sees them after `json.Unmarshal` into `any`: all float64.
/// Generators whose data came through Go's JSON decoding (list elements, git
/// files) pass it through this so printing matches (`1000000` -> `1e+06`).
pub fn go_numbers(v: Value) -> Value {
    match v {
        Value::Number(n) if !n.is_f64() => {
            n.as_f64().and_then(serde_json::Number::from_f64).map(Value::Number).unwrap_or(Value::Number(n))
        }
        Value::Array(items) => Value::Array(items.into_iter().map(go_numbers).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, go_numbers(v))).collect()),
        other => other,
    }
}

/// `flatten.Flatten(v, "", DotStyle)` then `fmt.Sprintf("%v")` on every leaf:
/// nested maps and lists become `a.b` / `a.0` keys; empty maps and lists
/// vanish, as in the Go library.
pub fn flatten_strings(params: &Params) -> Params {
    let mut out = Params::new();
    for (k, v) in params {
        flatten_into(k, v, &mut out);
    }
    out
}

fn flatten_into(key: &str, v: &Value, out: &mut Params) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                flatten_into(&format!("{key}.{k}"), v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten_into(&format!("{key}.{i}"), v, out);
            }
        }
        leaf => {
            out.insert(key.to_string(), Value::String(crate::controller::appset::gotemplate::format_v(leaf)));
        }
    }
}

/// Go `mergo.Merge(dst, src, WithOverride)` on JSON data: maps merge
/// recursively, any other non-empty `src` value replaces `dst`'s; empty
/// `src` values ("", 0, false, null, empty list) never override.
pub fn merge_override(dst: &mut Params, src: &Params) {
    for (k, v) in src {
        match (dst.get_mut(k), v) {
            (Some(Value::Object(d)), Value::Object(s)) => merge_override(d, s),
            (Some(_), v) if is_empty(v) => {}
            (_, v) => {
                dst.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Go's zero/empty test used by mergo.
pub fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(_) => false,
    }
}

/// Path parameters shared by the git generators (§2.3). `file` is the file
/// name for the files generator, `None` for directories.
pub fn path_params(dir: &str, file: Option<&str>, go: bool, prefix: Option<&str>) -> Params {
    let segments: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
    let basename = dir.rsplit('/').next().unwrap_or(dir);
    let mut out = Params::new();
    let key = |k: &str| match prefix {
        Some(p) if !p.is_empty() => format!("{p}.{k}"),
        _ => k.to_string(),
    };
    if go {
        let mut path = Params::new();
        path.insert("path".into(), Value::String(dir.to_string()));
        path.insert("basename".into(), Value::String(basename.to_string()));
        if let Some(f) = file {
            path.insert("filename".into(), Value::String(f.to_string()));
        }
        path.insert("basenameNormalized".into(), Value::String(sanitize_name(basename)));
        if let Some(f) = file {
            path.insert("filenameNormalized".into(), Value::String(sanitize_name(f)));
        }
        path.insert("segments".into(), Value::Array(segments.iter().map(|s| Value::String((*s).into())).collect()));
        match prefix {
            Some(p) if !p.is_empty() => {
                let mut outer = Params::new();
                outer.insert("path".into(), Value::Object(path));
                out.insert(p.to_string(), Value::Object(outer));
            }
            _ => {
                out.insert("path".into(), Value::Object(path));
            }
        }
        return out;
    }
    out.insert(key("path"), Value::String(dir.to_string()));
    out.insert(key("path.basename"), Value::String(basename.to_string()));
    out.insert(key("path.basenameNormalized"), Value::String(sanitize_name(basename)));
    if let Some(f) = file {
        out.insert(key("path.filename"), Value::String(f.to_string()));
        out.insert(key("path.filenameNormalized"), Value::String(sanitize_name(f)));
    }
    for (i, s) in segments.iter().enumerate() {
        out.insert(key(&format!("path[{i}]")), Value::String((*s).to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Params {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn sanitize_name_follows_argo() {
        assert_eq!(sanitize_name("My_Cluster.EU!"), "my-cluster.eu");
        assert_eq!(sanitize_name("--a--"), "a");
        assert_eq!(sanitize_name(&"x".repeat(300)).len(), 253);
    }

    #[test]
    fn flatten_uses_dots_and_go_formatting() {
        let p = obj(json!({"a": {"b": 1.5, "c": [true, null]}, "e": {}, "n": 1000000.0}));
        let flat = flatten_strings(&p);
        assert_eq!(Value::Object(flat), json!({"a.b": "1.5", "a.c.0": "true", "a.c.1": "<nil>", "n": "1e+06"}));
    }

    #[test]
    fn merge_override_is_deep_and_skips_empty() {
        let mut dst = obj(json!({"a": {"x": 1, "y": 2}, "b": "keep", "c": "old"}));
        merge_override(&mut dst, &obj(json!({"a": {"y": 3}, "b": "", "c": "new", "d": [1]})));
        assert_eq!(Value::Object(dst), json!({"a": {"x": 1, "y": 3}, "b": "keep", "c": "new", "d": [1]}));
    }

    #[test]
    fn path_params_for_both_modes_and_prefix() {
        let fast = path_params("apps/Guest_Book", None, false, None);
        assert_eq!(
            Value::Object(fast),
            json!({"path": "apps/Guest_Book", "path.basename": "Guest_Book", "path.basenameNormalized": "guest-book",
                   "path[0]": "apps", "path[1]": "Guest_Book"})
        );
        let go = path_params("envs/dev", Some("config.json"), true, Some("p"));
        assert_eq!(
            Value::Object(go),
            json!({"p": {"path": {"path": "envs/dev", "basename": "dev", "filename": "config.json",
                   "basenameNormalized": "dev", "filenameNormalized": "config.json", "segments": ["envs", "dev"]}}})
        );
        let prefixed = path_params("a", None, false, Some("p"));
        assert!(prefixed.contains_key("p.path.basename"));
    }
}
