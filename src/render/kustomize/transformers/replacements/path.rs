//! Replacement field paths (docs/kustomize-semantics.md §9): the dot-separated
//! syntax with `[key=value]` list selection, numeric indices, `*` and bracket-
//! protected keys, and the two walkers Kustomize uses on it: a strict getter for
//! the source (kyaml `PathGetter`) and a matcher for targets (kyaml `PathMatcher`)
//! that may match many nodes and may create missing ones.
//!
//! Errors are plain strings; the caller wraps them with the field path.

use crate::render::yaml::parse::resolve_plain;
use regex::Regex;
use serde_json::{Map, Value};

/// Splits a field path at unescaped dots; a `[...]` part that spans dots is kept
/// whole, with its brackets when it is a `[key=value]` selector and without them
/// when it is a protected map key (`metadata.annotations.[a.b/c]`).
pub(crate) fn split(path: &str) -> Vec<String> {
    let mut raw: Vec<String> = path.split('.').map(str::to_string).collect();
    if raw.len() > 1 && raw[0].is_empty() {
        raw.remove(0);
    }
    let mut unescaped: Vec<String> = Vec::new();
    for part in raw {
        match unescaped.last_mut() {
            Some(last) if last.ends_with('\\') => {
                last.pop();
                last.push('.');
                last.push_str(&part);
            }
            _ => unescaped.push(part),
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < unescaped.len() {
        let elem = &unescaped[i];
        if elem.starts_with('[') && !elem.ends_with(']') {
            let mut joined = vec![elem.clone()];
            while i < unescaped.len() - 1 {
                i += 1;
                joined.push(unescaped[i].clone());
                if unescaped[i].ends_with(']') {
                    break;
                }
            }
            let joined = joined.join(".");
            if joined.contains('=') {
                out.push(joined);
            } else {
                out.push(joined.trim_matches(|c| c == '[' || c == ']').to_string());
            }
        } else {
            out.push(elem.clone());
        }
        i += 1;
    }
    out
}

/// The text of a scalar as YAML wrote it (as far as the JSON model still knows it).
pub(crate) fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null | Value::Object(_) | Value::Array(_) => String::new(),
    }
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "MappingNode",
        Value::Array(_) => "SequenceNode",
        _ => "ScalarNode",
    }
}

fn wrong_kind(expected: &str, got: &Value) -> String {
    format!("wrong node kind: expected {expected} but got {}", kind_name(got))
}

fn is_list_index(p: &str) -> bool {
    p.starts_with('[') && p.ends_with(']')
}

/// Go's `strconv.Atoi` (optional sign, decimal digits).
fn atoi(p: &str) -> Option<i64> {
    let digits = p.strip_prefix(['+', '-']).unwrap_or(p);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse().ok()
}

fn index_number(p: &str) -> Option<usize> {
    atoi(p).and_then(|i| usize::try_from(i).ok())
}

fn split_index_name_value(p: &str) -> Result<(String, String), String> {
    let inner = p.strip_suffix(']').unwrap_or(p);
    let inner = inner.strip_prefix('[').unwrap_or(inner);
    match inner.split_once('=') {
        Some((k, v)) => Ok((k.to_string(), v.to_string())),
        None => Err("list path element must contain fieldName=fieldValue for element to match".into()),
    }
}

/// Source lookup: `None` when a part is missing. Indices must be plain numbers
/// (or `-` for the last element); `[k=v]` compares exactly and takes the first
/// match; `*` is refused.
pub(crate) fn get<'a>(node: &'a Value, parts: &[String]) -> Result<Option<&'a Value>, String> {
    let mut cur = node;
    for part in parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let next = if let Some(idx) = atoi(part) {
            let idx = usize::try_from(idx).map_err(|_| format!("array index {idx} cannot be negative"))?;
            match cur {
                Value::Array(items) => items.get(idx),
                Value::Null => None,
                other => return Err(wrong_kind("SequenceNode", other)),
            }
        } else if part == "-" {
            match cur {
                Value::Array(items) => items.last(),
                Value::Null => None,
                other => return Err(wrong_kind("SequenceNode", other)),
            }
        } else if part == "*" {
            return Err("wildcard is not supported in PathGetter".into());
        } else if is_list_index(part) {
            let (key, want) = split_index_name_value(part)?;
            match cur {
                Value::Array(items) => items.iter().find(|item| {
                    if key.is_empty() {
                        scalar_text(item) == want
                    } else {
                        match item.get(&key) {
                            Some(v) => want.is_empty() || scalar_text(v) == want,
                            None => false,
                        }
                    }
                }),
                Value::Null => None,
                other => return Err(wrong_kind("SequenceNode", other)),
            }
        } else {
            match cur {
                Value::Object(m) => m.get(part),
                Value::Null => None,
                other => return Err(wrong_kind("MappingNode", other)),
            }
        };
        match next {
            Some(v) => cur = v,
            None => return Ok(None),
        }
    }
    Ok(Some(cur))
}

/// The shape of the node a creating walk makes for a missing leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A scalar (filled by the caller).
    Scalar,
    /// A map.
    Map,
    /// A list.
    Seq,
}

impl Shape {
    /// The shape of `v`.
    pub(crate) fn of(v: &Value) -> Shape {
        match v {
            Value::Object(_) => Shape::Map,
            Value::Array(_) => Shape::Seq,
            _ => Shape::Scalar,
        }
    }
}

/// A target leaf: the node, and whether the walk just created it as a scalar
/// (a created scalar has no type yet; the value written decides it).
pub(crate) type Leaf<'a> = &'a mut dyn FnMut(&mut Value, bool) -> Result<(), String>;

/// Calls `leaf` on every node `parts` matches below `node` and returns how many
/// there were. `[k=v]` treats `v` as an unanchored regular expression, as
/// Kustomize does; `*` visits every list element. With `create`, missing map
/// fields and `[k=v]` elements are created, and an index equal to the list length
/// appends.
pub(crate) fn visit(
    node: &mut Value,
    parts: &[String],
    create: Option<Shape>,
    leaf: Leaf<'_>,
) -> Result<usize, String> {
    visit_inner(node, parts, create, false, leaf)
}

/// What a creating walk puts at a missing part, judged by the part after it.
fn created_node(next: Option<&String>, create: Option<Shape>) -> (Value, bool) {
    match next {
        Some(p) if is_list_index(p) || index_number(p).is_some() => (Value::Array(Vec::new()), false),
        Some(_) => (Value::Object(Map::new()), false),
        None => match create {
            Some(Shape::Map) => (Value::Object(Map::new()), false),
            Some(Shape::Seq) => (Value::Array(Vec::new()), false),
            _ => (Value::Null, true),
        },
    }
}

fn visit_inner(
    node: &mut Value,
    parts: &[String],
    create: Option<Shape>,
    created: bool,
    leaf: Leaf<'_>,
) -> Result<usize, String> {
    let Some((head, rest)) = parts.split_first() else {
        leaf(node, created)?;
        return Ok(1);
    };
    if let Some(idx) = index_number(head) {
        if node.is_null() && create.is_some() {
            *node = Value::Array(Vec::new());
        }
        let items = match node {
            Value::Array(items) => items,
            Value::Null => return Err(format!("index {idx} specified but only 0 elements found")),
            other => return Err(wrong_kind("SequenceNode", other)),
        };
        let mut fresh = false;
        if items.len() == idx && create.is_some() {
            let (v, is_leaf) = created_node(rest.first(), create);
            items.push(v);
            fresh = is_leaf;
        }
        let len = items.len();
        let Some(item) = items.get_mut(idx) else {
            return Err(format!("index {idx} specified but only {len} elements found"));
        };
        return visit_inner(item, rest, create, fresh, leaf);
    }
    if is_list_index(head) {
        return visit_list(node, head, rest, create, leaf);
    }
    if head == "*" {
        return match node {
            Value::Array(items) => {
                let mut n = 0;
                for item in items.iter_mut() {
                    n += visit_inner(item, rest, create, false, leaf)?;
                }
                Ok(n)
            }
            Value::Null => Ok(0),
            other => Err(wrong_kind("SequenceNode", other)),
        };
    }
    if node.is_null() && create.is_some() {
        *node = Value::Object(Map::new());
    }
    let map = match node {
        Value::Object(m) => m,
        Value::Null => return Ok(0),
        other => return Err(wrong_kind("MappingNode", other)),
    };
    let mut fresh = false;
    if !map.contains_key(head.as_str()) {
        if create.is_none() {
            return Ok(0);
        }
        let (v, is_leaf) = created_node(rest.first(), create);
        map.insert(head.clone(), v);
        fresh = is_leaf;
    }
    let child = map.get_mut(head.as_str()).expect("present: checked or inserted above");
    visit_inner(child, rest, create, fresh, leaf)
}

fn visit_list(
    node: &mut Value,
    head: &str,
    rest: &[String],
    create: Option<Shape>,
    leaf: Leaf<'_>,
) -> Result<usize, String> {
    let (key, pattern) = split_index_name_value(head)?;
    let re = Regex::new(&pattern).map_err(|e| e.to_string())?;
    if node.is_null() && create.is_some() {
        *node = Value::Array(Vec::new());
    }
    let items = match node {
        Value::Array(items) => items,
        Value::Null => return Ok(0),
        other => return Err(wrong_kind("SequenceNode", other)),
    };
    let mut appended = None;
    for attempt in 0..2 {
        let mut n = 0;
        for (i, item) in items.iter_mut().enumerate() {
            if key.is_empty() {
                // A primitive element is itself the match; the rest of the path is ignored.
                if !item.is_object() && !item.is_array() && re.is_match(&scalar_text(item)) {
                    leaf(item, appended == Some(i))?;
                    n += 1;
                }
                continue;
            }
            let hit = match item.get(&key) {
                Some(v) if !v.is_null() => re.is_match(&scalar_text(v)),
                _ => false,
            };
            if hit {
                n += visit_inner(item, rest, create, false, leaf)?;
            }
        }
        if n > 0 || create.is_none() || attempt == 1 {
            return Ok(n);
        }
        let value = resolve_plain(&pattern);
        let elem = if key.is_empty() {
            value
        } else {
            let mut m = Map::new();
            m.insert(key.clone(), value);
            Value::Object(m)
        };
        items.push(elem);
        appended = Some(items.len() - 1);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn split_keeps_selectors_and_protected_keys() {
        assert_eq!(
            split("spec.template.spec.containers.[name=com.foo.app].image"),
            vec!["spec", "template", "spec", "containers", "[name=com.foo.app]", "image"]
        );
        assert_eq!(split("metadata.annotations.[a.b/c]"), vec!["metadata", "annotations", "a.b/c"]);
        assert_eq!(split("a\\.b.c"), vec!["a.b", "c"]);
        assert_eq!(split(".a.b"), vec!["a", "b"]);
        assert_eq!(split("data.x"), vec!["data", "x"]);
    }

    #[test]
    fn get_follows_indices_and_exact_selectors() {
        let v = json!({"spec": {"ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}]}});
        let parts = |p: &str| split(p);
        assert_eq!(get(&v, &parts("spec.ports.1.port")), Ok(Some(&json!(443))));
        assert_eq!(get(&v, &parts("spec.ports.-.name")), Ok(Some(&json!("https"))));
        assert_eq!(get(&v, &parts("spec.ports.[name=http].port")), Ok(Some(&json!(80))));
        assert_eq!(get(&v, &parts("spec.ports.[name=htt].port")), Ok(None));
        assert_eq!(get(&v, &parts("spec.ports.5")), Ok(None));
        assert_eq!(get(&v, &parts("spec.ports.-1")), Err("array index -1 cannot be negative".into()));
        assert_eq!(get(&v, &parts("spec.ports.*")), Err("wildcard is not supported in PathGetter".into()));
        assert_eq!(
            get(&v, &parts("spec.ports.name")),
            Err("wrong node kind: expected MappingNode but got SequenceNode".into())
        );
    }

    fn collect(v: &mut Value, path: &str, create: Option<Shape>) -> Result<Vec<(Value, bool)>, String> {
        let mut seen = Vec::new();
        visit(v, &split(path), create, &mut |n, created| {
            seen.push((n.clone(), created));
            *n = json!("X");
            Ok(())
        })?;
        Ok(seen)
    }

    #[test]
    fn visit_matches_unanchored_regex_and_wildcards() {
        let mut v = json!({"c": [{"name": "app-sidecar", "image": "s"}, {"name": "app", "image": "a"}]});
        let seen = collect(&mut v, "c.[name=app].image", None).expect("visits");
        assert_eq!(seen, vec![(json!("s"), false), (json!("a"), false)]);
        let mut v = json!({"c": [{"name": "app-sidecar", "image": "s"}, {"name": "app", "image": "a"}]});
        assert_eq!(collect(&mut v, "c.[name=app$].image", None).expect("visits").len(), 1);
        assert_eq!(collect(&mut v, "c.*.image", None).expect("visits").len(), 2);
        assert_eq!(
            collect(&mut v, "c.image", None),
            Err("wrong node kind: expected MappingNode but got SequenceNode".into())
        );
        assert_eq!(collect(&mut v, "c.5.image", None), Err("index 5 specified but only 2 elements found".into()));
        let mut m = json!({"labels": {"a": "b"}});
        assert_eq!(
            collect(&mut m, "labels.*", None),
            Err("wrong node kind: expected SequenceNode but got MappingNode".into())
        );
    }

    #[test]
    fn visit_creates_maps_lists_and_elements() {
        let mut v = json!({"data": {"list": ["x", "y"]}});
        for p in ["data.list.[=z]", "data.new.[name=q].value", "data.new2.0", "data.n3.[port=80].x"] {
            collect(&mut v, p, Some(Shape::Scalar)).expect("visits");
        }
        // Same shape kubectl produced for these four paths with create: true.
        assert_eq!(
            v,
            json!({"data": {"list": ["x", "y", "X"], "new": [{"name": "q", "value": "X"}], "new2": ["X"],
                            "n3": [{"port": 80, "x": "X"}]}})
        );
        let mut v = json!({"data": {}});
        assert_eq!(
            collect(&mut v, "data.idx.2", Some(Shape::Scalar)),
            Err("index 2 specified but only 0 elements found".into())
        );
    }
}
