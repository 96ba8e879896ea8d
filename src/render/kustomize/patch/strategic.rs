//! Strategic merge patch the way kustomize runs it: kyaml `merge2.Merge` with
//! `ListIncreaseDirection: Prepend` (docs/kustomize-semantics.md §4.2). Maps
//! merge recursively, `null` clears, `$patch: delete|replace|merge` directives
//! act on maps and lists, and lists merge by key only where the schema says so
//! (built-in facts in `tables/mergekeys.tsv`, or a kustomization's `openapi:`
//! document); every other list is replaced by the patch.
//!
//! The merge is a pure function of (target, patch, schema); the caller restores
//! name/kind/namespace and decides what an emptied object means.

use super::schema::{Node, SchemaView};
use crate::render::error::{Error, ErrorKind, Result};
use serde_json::{Map, Value};

const DIRECTIVE: &str = "$patch";

/// What a `$patch` directive asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Directive {
    Merge,
    Replace,
    Delete,
}

fn directive_of(value: &str) -> Result<Directive> {
    match value {
        "merge" => Ok(Directive::Merge),
        "replace" => Ok(Directive::Replace),
        "delete" => Ok(Directive::Delete),
        other => Err(Error::new(ErrorKind::Patch, format!("unknown patch strategy '{other}'"))),
    }
}

/// Removes a map's `$patch` key and says what it asked for.
fn take_map_directive(map: &mut Map<String, Value>) -> Result<Directive> {
    match map.get(DIRECTIVE) {
        None => Ok(Directive::Merge),
        Some(v) => {
            let d = directive_of(&scalar_string(v))?;
            map.shift_remove(DIRECTIVE);
            Ok(d)
        }
    }
}

/// kyaml's `determineSequenceNodePatchStrategy`: the first element carrying a
/// `$patch` key decides; if it has other keys too, the list merges and nothing
/// is removed. Otherwise every element with that same `$patch` value goes.
fn take_list_directive(list: &mut Vec<Value>) -> Result<Directive> {
    let first = list.iter().find_map(|e| e.as_object().filter(|m| m.contains_key(DIRECTIVE)));
    let Some(m) = first else { return Ok(Directive::Merge) };
    if m.len() > 1 {
        return Ok(Directive::Merge);
    }
    let value = m.get(DIRECTIVE).map(scalar_string).unwrap_or_default();
    let d = directive_of(&value)?;
    list.retain(|e| e.get(DIRECTIVE).is_none_or(|v| scalar_string(v) != value));
    Ok(d)
}

/// A scalar as kyaml compares it (its YAML text); non-scalars compare as empty.
fn scalar_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

/// The outcome of merging one node.
#[derive(Debug, PartialEq)]
pub(crate) enum Merged {
    /// The field is removed from its parent.
    Clear,
    /// The field keeps / takes this value.
    Keep(Value),
}

/// Merges `patch` into `target` under `schema`. `None` means "absent".
pub(crate) fn merge(
    target: Option<Value>,
    patch: Option<Value>,
    schema: Node<'_>,
    view: SchemaView<'_>,
) -> Result<Merged> {
    let non_null = |v: &Option<Value>| v.as_ref().filter(|v| !v.is_null()).map(kind_of);
    let kind = non_null(&target).or_else(|| non_null(&patch));
    for (side, v) in [("target", &target), ("patch", &patch)] {
        if let (Some(k), Some(actual)) = (kind, non_null(v)) {
            if k != actual {
                return Err(Error::new(
                    ErrorKind::Patch,
                    format!("{side} has a {actual} where the other side has a {k}; make the patch's shape match the resource"),
                ));
            }
        }
    }
    match kind {
        None => Ok(match (target, patch) {
            // An explicit null the patch does not mention stays (kyaml keeps it as a scalar).
            (Some(Value::Null), None) => Merged::Keep(Value::Null),
            _ => Merged::Clear,
        }),
        Some(NodeKind::Scalar) => Ok(match patch {
            Some(Value::Null) => Merged::Clear,
            Some(p) => Merged::Keep(p),
            None => target.map_or(Merged::Clear, Merged::Keep),
        }),
        Some(NodeKind::Map) => merge_map(target, patch, schema, view),
        Some(NodeKind::List) => merge_list(target, patch, schema, view),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NodeKind {
    Scalar,
    Map,
    List,
}

impl std::fmt::Display for NodeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NodeKind::Scalar => "scalar",
            NodeKind::Map => "map",
            NodeKind::List => "list",
        })
    }
}

fn kind_of(v: &Value) -> NodeKind {
    match v {
        Value::Object(_) => NodeKind::Map,
        Value::Array(_) => NodeKind::List,
        _ => NodeKind::Scalar,
    }
}

fn into_map(v: Option<Value>) -> Option<Map<String, Value>> {
    match v {
        Some(Value::Object(m)) => Some(m),
        _ => None,
    }
}

fn into_list(v: Option<Value>) -> Option<Vec<Value>> {
    match v {
        Some(Value::Array(a)) => Some(a),
        _ => None,
    }
}

fn merge_map(target: Option<Value>, patch: Option<Value>, schema: Node<'_>, view: SchemaView<'_>) -> Result<Merged> {
    let patch_is_null = matches!(patch, Some(Value::Null));
    let mut patch = into_map(patch);
    let schema = match schema {
        Node::None => typed_root(target.as_ref(), view)
            .or_else(|| typed_root(patch.as_ref().map(|p| Value::Object(p.clone())).as_ref(), view))
            .unwrap_or(Node::None),
        other => other,
    };
    let Some(mut dest) = into_map(target) else {
        // Added wholesale: the patch value, cleaned of directives and nulls.
        let Some(p) = patch else { return Ok(Merged::Clear) };
        return clean(Value::Object(p), schema, view);
    };
    if patch_is_null {
        return Ok(Merged::Clear);
    }
    if let Some(p) = patch.as_mut() {
        match take_map_directive(p)? {
            Directive::Delete => return Ok(Merged::Clear),
            Directive::Replace => return clean(Value::Object(std::mem::take(p)), schema, view),
            Directive::Merge => {}
        }
    }
    let mut keys: Vec<String> = dest.keys().cloned().collect();
    if let Some(p) = &patch {
        keys.extend(p.keys().filter(|k| !dest.contains_key(*k)).cloned());
    }
    keys.sort();
    keys.dedup();
    for key in keys {
        // Taken out (leaving a placeholder in place, so the key keeps its position).
        let t = dest.get_mut(&key).map(Value::take);
        let p = patch.as_mut().and_then(|p| p.remove(&key));
        match merge(t, p, schema.field(&key), view)? {
            Merged::Clear => {
                dest.shift_remove(&key);
            }
            Merged::Keep(v) => {
                dest.insert(key, v);
            }
        }
    }
    Ok(Merged::Keep(Value::Object(dest)))
}

/// kyaml's `GetSchema` fallback: an object without a schema from its parent
/// that carries apiVersion and kind gets the schema of that type.
fn typed_root<'a>(v: Option<&Value>, view: SchemaView<'a>) -> Option<Node<'a>> {
    let v = v?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("");
    if s("apiVersion").is_empty() || s("kind").is_empty() {
        return None;
    }
    match view.root(s("apiVersion"), s("kind")) {
        Node::None => None,
        node => Some(node),
    }
}

/// A value added where the target had nothing (or taken whole by `$patch:
/// replace`): kyaml walks it as both target and patch, one node seen twice, so
/// its own nulls and directives apply to it.
fn clean(v: Value, schema: Node<'_>, view: SchemaView<'_>) -> Result<Merged> {
    match v {
        Value::Null => Ok(Merged::Clear),
        Value::Object(mut m) => {
            let schema = match schema {
                Node::None => typed_root(Some(&Value::Object(m.clone())), view).unwrap_or(Node::None),
                other => other,
            };
            if take_map_directive(&mut m)? == Directive::Delete {
                return Ok(Merged::Clear);
            }
            let keys: Vec<String> = m.keys().cloned().collect();
            for key in keys {
                let f = m.get_mut(&key).map(Value::take).unwrap_or_default();
                match clean(f, schema.field(&key), view)? {
                    Merged::Clear => {
                        m.shift_remove(&key);
                    }
                    Merged::Keep(v) => {
                        m.insert(key, v);
                    }
                }
            }
            Ok(Merged::Keep(Value::Object(m)))
        }
        Value::Array(mut list) => match schema.merge_keys() {
            None => Ok(Merged::Keep(Value::Array(list))),
            // Below the top of an added value the list is present on both
            // sides, so its directive is read (unlike in `merge_list`).
            Some(keys) => match take_list_directive(&mut list)? {
                Directive::Delete => Ok(Merged::Clear),
                Directive::Replace | Directive::Merge => merge_elements(list, Source::Aliased, &keys, schema, view),
            },
        },
        scalar => Ok(Merged::Keep(scalar)),
    }
}

/// Where the patch side of a list merge comes from.
enum Source {
    /// No patch value for this list.
    Absent,
    /// A patch list distinct from the target.
    Separate(Vec<Value>),
    /// The target list is its own patch (see [`clean`]).
    Aliased,
}

fn merge_list(target: Option<Value>, patch: Option<Value>, schema: Node<'_>, view: SchemaView<'_>) -> Result<Merged> {
    let Some(keys) = schema.merge_keys() else {
        return Ok(match patch {
            Some(Value::Null) => Merged::Clear,
            Some(p) => Merged::Keep(p),
            None => target.map_or(Merged::Clear, Merged::Keep),
        });
    };
    if matches!(patch, Some(Value::Null)) && target.as_ref().is_some_and(|t| !t.is_null()) {
        return Ok(Merged::Clear);
    }
    let mut patch = into_list(patch);
    let dest = match into_list(target) {
        Some(d) => {
            if let Some(p) = patch.as_mut() {
                match take_list_directive(p)? {
                    Directive::Replace => {
                        return merge_elements(std::mem::take(p), Source::Aliased, &keys, schema, view)
                    }
                    Directive::Delete => return Ok(Merged::Clear),
                    Directive::Merge => {}
                }
            }
            d
        }
        None => {
            // kyaml takes the patch list as it is here, without reading its
            // directive, so a `- $patch: replace` element stays in the output.
            let Some(p) = patch else { return Ok(Merged::Clear) };
            return merge_elements(p, Source::Aliased, &keys, schema, view);
        }
    };
    let source = match patch {
        Some(p) => Source::Separate(p),
        None => Source::Absent,
    };
    merge_elements(dest, source, &keys, schema, view)
}

/// kyaml's `setAssociativeSequenceElements` (kyaml v0.18.1, the one in
/// kubectl 1.32). Single-key lists come out as the patch's elements in patch
/// order, then the target's others; for multi-key lists every target element is
/// moved behind the new ones. Elements match on the keys that appear anywhere in
/// the two lists, so a patch element missing one of them (e.g. `protocol`) does
/// not meet a target element that has it, and is dropped.
fn merge_elements(
    mut dest: Vec<Value>,
    source: Source,
    keys: &[String],
    schema: Node<'_>,
    view: SchemaView<'_>,
) -> Result<Merged> {
    let aliased = matches!(source, Source::Aliased);
    let mut patch = match source {
        Source::Separate(p) => p,
        Source::Absent | Source::Aliased => Vec::new(),
    };
    if keys.is_empty() {
        let mut out: Vec<Value> = Vec::new();
        for v in patch.into_iter().chain(dest) {
            if !out.iter().any(|o| scalar_string(o) == scalar_string(&v)) {
                out.push(v);
            }
        }
        return Ok(Merged::Keep(Value::Array(out)));
    }
    let tuple = |e: &Value| -> Vec<String> { keys.iter().map(|k| key_value(e, k).unwrap_or_default()).collect() };
    let mut values: Vec<Vec<String>> = Vec::new();
    for v in patch.iter().chain(dest.iter()).map(tuple) {
        if !values.contains(&v) {
            values.push(v);
        }
    }
    if keys.len() > 1 {
        merge_values(&mut values);
    }
    let present: Vec<usize> =
        (0..keys.len()).filter(|&i| values.iter().any(|v| v.get(i).is_some_and(|x| !x.is_empty()))).collect();
    let positions: Vec<usize> = if present.is_empty() { (0..keys.len()).collect() } else { present };
    let valid_keys: Vec<String> = positions.iter().map(|&i| keys[i].clone()).collect();
    let element_schema = schema.elements();
    let mut items: Vec<Value> = Vec::new();
    for v in &values {
        let vv: Vec<String> = positions.iter().map(|&i| v[i].clone()).collect();
        let (qk, qv) = query_keys(&valid_keys, &vv);
        let ti = dest.iter().position(|e| element_matches(e, &qk, &qv));
        // kyaml mutates the nodes it merges: the target element in place (unless
        // the patch element replaces it), and the patch element loses its
        // `$patch` key, which matters when a key tuple is visited twice.
        let (merged, write_back) = if aliased {
            match ti {
                Some(i) => (clean(dest[i].clone(), element_schema, view)?, true),
                None => (Merged::Clear, false),
            }
        } else {
            let pi = patch.iter().position(|e| element_matches(e, &qk, &qv));
            let pe = pi.and_then(|i| patch.get_mut(i)).map(|e| {
                let seen = e.clone();
                if let Value::Object(m) = e {
                    m.shift_remove(DIRECTIVE);
                }
                seen
            });
            let replaces = pe.as_ref().and_then(|e| e.get(DIRECTIVE)).and_then(Value::as_str) == Some("replace");
            (merge(ti.map(|i| dest[i].clone()), pe, element_schema, view)?, !replaces)
        };
        let mut val = match merged {
            Merged::Keep(v) if v.as_object().is_some_and(|m| !m.is_empty()) => v,
            _ => {
                element_setter(&mut dest, None, &valid_keys, &vv);
                continue;
            }
        };
        if let Value::Object(m) = &mut val {
            for (k, x) in valid_keys.iter().zip(&vv) {
                if !m.contains_key(k) && !x.is_empty() {
                    m.insert(k.clone(), crate::render::yaml::parse::resolve_plain(x));
                }
            }
        }
        if let (Some(i), true) = (ti, write_back) {
            dest[i] = val.clone();
        }
        element_setter(&mut items, Some(val), &valid_keys, &vv);
    }
    // appendListNode: re-set every target element into the result.
    for e in dest {
        let mut vals = Vec::new();
        for k in &valid_keys {
            match key_value(&e, k) {
                Some(v) => vals.push(v),
                None => items.push(e.clone()),
            }
        }
        if valid_keys.len() > 1 {
            element_setter(&mut items, None, &valid_keys, &vals);
        }
        element_setter(&mut items, Some(e), &valid_keys, &vals);
    }
    Ok(Merged::Keep(Value::Array(items)))
}

/// A merge-key field as kyaml reads it: absent, null and empty read as nothing.
fn key_value(e: &Value, key: &str) -> Option<String> {
    let v = e.as_object()?.get(key)?;
    match v {
        Value::Null => None,
        Value::Object(m) if m.is_empty() => None,
        Value::Array(a) if a.is_empty() => None,
        other => Some(scalar_string(other)).filter(|s| !s.is_empty()),
    }
}

/// kyaml's `mergeValues`: key tuples that agree where both are set and share a
/// value become one tuple holding the union of their values.
fn merge_values(values: &mut [Vec<String>]) {
    for i in 0..values.len() {
        // Go's `range` hands out element i once; later updates to it are not seen.
        let first = values[i].clone();
        for j in 0..values.len() {
            if let Some(m) = match_tuples(&first, &values[j]) {
                values[i] = m.clone();
                values[j] = m;
            }
        }
    }
}

fn match_tuples(a: &[String], b: &[String]) -> Option<Vec<String>> {
    if a.len() != b.len() {
        return None;
    }
    let mut common = false;
    let mut out = Vec::new();
    for (x, y) in a.iter().zip(b) {
        if x == y {
            common = true;
            out.push(x.clone());
        } else if !x.is_empty() && !y.is_empty() {
            return None;
        } else {
            out.push(if x.is_empty() { y.clone() } else { x.clone() });
        }
    }
    common.then_some(out)
}

/// The keys an element lookup uses: those with a value in this tuple (all when none).
fn query_keys(keys: &[String], values: &[String]) -> (Vec<String>, Vec<String>) {
    let (ks, vs): (Vec<String>, Vec<String>) =
        keys.iter().zip(values).filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.clone(), v.clone())).unzip();
    if ks.is_empty() {
        (keys.to_vec(), values.to_vec())
    } else {
        (ks, vs)
    }
}

/// `MatchElementList`: a map element whose every key field has exactly that
/// value (so an empty wanted value finds no element with a real key).
fn element_matches(e: &Value, keys: &[String], values: &[String]) -> bool {
    let Some(m) = e.as_object() else { return false };
    keys.iter().zip(values).all(|(k, v)| m.get(k).is_some_and(|f| scalar_string(f) == *v))
}

/// `ElementSetter`'s field test: an empty wanted value only needs the field to exist.
fn setter_field_matches(e: &Value, keys: &[String], values: &[String]) -> bool {
    let Some(m) = e.as_object() else { return false };
    keys.iter().zip(values).all(|(k, v)| m.get(k).is_some_and(|f| v.is_empty() || scalar_string(f) == *v))
}

/// kyaml's `ElementSetter`: drops null and empty elements, replaces every
/// element matching `values` on `keys` (keys beyond the values are not checked)
/// with `element`, or removes them when `element` is `None`, and appends
/// `element` when nothing matched. With no values at all nothing matches and
/// every element is dropped, as in kyaml.
fn element_setter(items: &mut Vec<Value>, element: Option<Value>, keys: &[String], values: &[String]) {
    let mapping_setter = keys.first().is_some_and(|k| !k.is_empty()) && values.first().is_some_and(|v| !v.is_empty());
    let checked = &keys[..values.len().min(keys.len())];
    let mut found_any = false;
    let mut out = Vec::with_capacity(items.len() + 1);
    for x in items.drain(..) {
        if x.is_null() || x.as_object().is_some_and(|m| m.is_empty()) {
            continue;
        }
        if !x.is_object() && mapping_setter {
            out.push(x);
            continue;
        }
        if values.is_empty() || !setter_field_matches(&x, checked, values) {
            if !values.is_empty() {
                out.push(x);
            }
            continue;
        }
        found_any = true;
        if let Some(e) = &element {
            out.push(e.clone());
        }
    }
    if let Some(e) = element {
        if !found_any {
            out.push(e);
        }
    }
    *items = out;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn smp(target: Value, patch: Value) -> Value {
        let view = SchemaView { custom: None };
        let root =
            view.root(target["apiVersion"].as_str().unwrap_or_default(), target["kind"].as_str().unwrap_or_default());
        match merge(Some(target), Some(patch), root, view).expect("merges") {
            Merged::Keep(v) => v,
            Merged::Clear => Value::Null,
        }
    }

    fn deploy(containers: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
               "spec": {"template": {"spec": {"containers": containers}}}})
    }

    #[test]
    fn containers_merge_by_name_patch_elements_first() {
        let out = smp(
            deploy(json!([{"name": "x"}, {"name": "b", "image": "b:1"}, {"name": "z"}])),
            deploy(json!([{"name": "b", "image": "b:2"}])),
        );
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([{"name": "b", "image": "b:2"}, {"name": "x"}, {"name": "z"}])
        );
    }

    #[test]
    fn env_delete_directive_and_new_element_order() {
        let out = smp(
            deploy(json!([{"name": "c", "env": [{"name": "E1", "value": "1"}, {"name": "E2", "value": "2"}]}])),
            deploy(json!([{"name": "c", "env": [{"name": "E3", "value": "3"}, {"name": "E1", "$patch": "delete"}]}])),
        );
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][0]["env"],
            json!([{"name": "E3", "value": "3"}, {"name": "E2", "value": "2"}])
        );
    }

    #[test]
    fn lists_without_strategy_are_replaced() {
        let out =
            smp(deploy(json!([{"name": "c", "args": ["a", "b"]}])), deploy(json!([{"name": "c", "args": ["z"]}])));
        assert_eq!(out["spec"]["template"]["spec"]["containers"][0]["args"], json!(["z"]));
    }

    #[test]
    fn unknown_kinds_replace_lists() {
        let t = json!({"apiVersion": "x.io/v1", "kind": "Foo", "spec": {"items": [{"name": "a"}, {"name": "b"}]}});
        let p = json!({"spec": {"items": [{"name": "b", "v": 1}]}});
        assert_eq!(smp(t, p)["spec"]["items"], json!([{"name": "b", "v": 1}]));
    }

    #[test]
    fn null_deletes_and_replace_directive_replaces() {
        let t = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1", "b": "2"}},
                       "data": {"x": "1", "y": "2"}});
        let p = json!({"metadata": {"labels": {"a": null}}, "data": {"$patch": "replace", "z": "3"}});
        let out = smp(t, p);
        assert_eq!(out["metadata"]["labels"], json!({"b": "2"}));
        assert_eq!(out["data"], json!({"z": "3"}));
    }

    #[test]
    fn top_level_delete_clears_the_object() {
        let t = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        assert_eq!(smp(t, json!({"$patch": "delete"})), Value::Null);
    }

    #[test]
    fn list_replace_pseudo_element() {
        let out =
            smp(deploy(json!([{"name": "a"}, {"name": "b"}])), deploy(json!([{"$patch": "replace"}, {"name": "c"}])));
        assert_eq!(out["spec"]["template"]["spec"]["containers"], json!([{"name": "c"}]));
    }

    #[test]
    fn container_ports_merge_by_container_port() {
        let out = smp(
            deploy(json!([{"name": "c", "ports": [{"containerPort": 80}]}])),
            deploy(json!([{"name": "c", "ports": [{"containerPort": 8080}]}])),
        );
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][0]["ports"],
            json!([{"containerPort": 8080}, {"containerPort": 80}])
        );
    }

    #[test]
    fn custom_schema_gives_merge_keys_to_a_crd() {
        let doc = json!({"definitions": {
            "My": {"x-kubernetes-group-version-kind": [{"group": "x.io", "version": "v1", "kind": "My"}],
                   "properties": {"spec": {"properties": {"items": {
                       "type": "array", "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "name"}}}}}}});
        let view = SchemaView { custom: Some(&doc) };
        let t = json!({"apiVersion": "x.io/v1", "kind": "My", "spec": {"items": [{"name": "a"}, {"name": "b"}]}});
        let p = json!({"spec": {"items": [{"name": "b", "v": 1}]}});
        let out = merge(Some(t), Some(p), view.root("x.io/v1", "My"), view).expect("merges");
        assert_eq!(
            out,
            Merged::Keep(json!({"apiVersion": "x.io/v1", "kind": "My",
                "spec": {"items": [{"name": "b", "v": 1}, {"name": "a"}]}}))
        );
    }

    #[test]
    fn finalizers_are_a_set() {
        let t = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["a", "b"]}});
        let p = json!({"metadata": {"finalizers": ["c", "a"]}});
        assert_eq!(smp(t, p)["metadata"]["finalizers"], json!(["c", "a", "b"]));
    }
}
