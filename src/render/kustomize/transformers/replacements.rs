//! `replacements:` (docs/kustomize-semantics.md §9), the last built-in
//! transformer of a kustomization (§2 step 5.11): copy one field of one object
//! into fields of other objects.
//!
//! Behaviour follows Kustomize v5.5.0's replacement filter, checked against
//! `kubectl kustomize`: the source must select exactly one object (by current or
//! previous id); a scalar target keeps its own type and only takes the source's
//! text (so `replicas: 1` stays an integer, a string label stays a string, and
//! text that does not fit the target's type is an error); a created scalar takes
//! whatever type the text reads as; a map or list target is replaced by a copy.

pub(crate) mod path;

use crate::render::error::{Error, ErrorKind, Result};
use crate::render::kustomize::kustomization::{FieldOptions, Replacement, ReplacementSource, Selector};
use crate::render::resource::{Gvk, ResId, Resource};
use crate::render::yaml::parse::resolve_plain;
use path::Shape;
use serde_json::{Map, Value};

const DEFAULT_FIELD_PATH: &str = "metadata.name";

/// Decides whether labels satisfy a label-selector string. The engine passes
/// `selector::matches_label_selector`; tests pass a stand-in.
type LabelMatcher<'a> = &'a dyn Fn(&str, Option<&Map<String, Value>>) -> Result<bool>;

/// Applies the replacements in order.
pub fn apply(resources: &mut [Resource], replacements: &[Replacement]) -> Result<()> {
    apply_with(resources, replacements, &crate::render::kustomize::selector::matches_label_selector)
}

fn apply_with(resources: &mut [Resource], replacements: &[Replacement], labels: LabelMatcher<'_>) -> Result<()> {
    for r in replacements {
        let Some(source) = r.source.as_ref().filter(|_| !r.targets.is_empty()) else {
            return Err(err("replacements must specify a source and at least one target"));
        };
        let value = source_value(resources, source)?;
        for target in &r.targets {
            let Some(select) = target.select.as_ref() else {
                return Err(err("target must specify resources to select"));
            };
            let default_paths = [DEFAULT_FIELD_PATH.to_string()];
            let field_paths: &[String] =
                if target.field_paths.is_empty() { &default_paths } else { &target.field_paths };
            for res in resources.iter_mut() {
                if !selected_by_labels(res, select, &target.reject, labels)? {
                    continue;
                }
                let ids = res.all_ids();
                let rejected = target
                    .reject
                    .iter()
                    .filter(|rej| !selector_id_is_empty(rej))
                    .any(|rej| ids.iter().any(|id| id_selected(id, &selector_id(rej))));
                if rejected || !ids.iter().any(|id| id_selected(id, &selector_id(select))) {
                    continue;
                }
                let id = res.id();
                for fp in field_paths {
                    copy_to_target(&mut res.obj, &value, fp, target.options.as_ref())
                        .map_err(|e| e.for_resource(&id))?;
                }
            }
        }
    }
    Ok(())
}

fn err(detail: impl Into<String>) -> Error {
    Error::new(ErrorKind::Replacement, detail)
}

/// The value a replacement copies: the node, and its text as a scalar.
struct SourceValue {
    node: Value,
    text: String,
}

fn source_value(resources: &[Resource], source: &ReplacementSource) -> Result<SourceValue> {
    let sel = ResId::new(
        Gvk { group: source.group.clone(), version: source.version.clone(), kind: source.kind.clone() },
        &source.name,
        &source.namespace,
    );
    let mut found: Option<&Resource> = None;
    for res in resources {
        if res.all_ids().iter().any(|id| id_selected(id, &sel)) {
            if found.is_some() {
                return Err(err(format!("multiple matches for selector {}", source_string(&sel, source))));
            }
            found = Some(res);
        }
    }
    let Some(res) = found else {
        return Err(err(format!("nothing selected by {}", source_string(&sel, source))));
    };
    let field_path = if source.field_path.is_empty() { DEFAULT_FIELD_PATH } else { source.field_path.as_str() };
    let obj = Value::Object(res.obj.clone());
    let node = path::get(&obj, &path::split(field_path))
        .map_err(|e| err(format!("error looking up replacement source: {e}")))?
        .filter(|v| !is_nil_or_empty(v))
        .ok_or_else(|| err(format!("fieldPath `{field_path}` is missing for replacement source {sel}")))?;
    let value = SourceValue { node: node.clone(), text: path::scalar_text(node) };
    match source.options.as_ref().filter(|o| !o.delimiter.is_empty()) {
        None => Ok(value),
        Some(opts) => {
            if matches!(value.node, Value::Object(_) | Value::Array(_)) {
                return Err(err("delimiter option can only be used with scalar nodes"));
            }
            let parts: Vec<&str> = value.text.split(opts.delimiter.as_str()).collect();
            let part = usize::try_from(opts.index).ok().and_then(|i| parts.get(i)).ok_or_else(|| {
                err(format!("options.index {} is out of bounds for value {}", opts.index, value.text))
            })?;
            Ok(SourceValue { node: retyped(&value.node, part), text: part.to_string() })
        }
    }
}

/// The source selector as Kustomize prints it in errors: id, field path, options.
fn source_string(sel: &ResId, source: &ReplacementSource) -> String {
    let mut out = sel.to_string();
    if !source.field_path.is_empty() {
        out.push(':');
        out.push_str(&source.field_path);
    }
    if let Some(o) = source.options.as_ref().filter(|o| !o.delimiter.is_empty() || o.create) {
        out.push_str(&format!(":{}({}), create={}", o.delimiter, o.index, o.create));
    }
    out
}

/// Kustomize's `IsNilOrEmpty`: missing, null, `{}` and `[]` count as missing.
fn is_nil_or_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// A scalar with new text but the type tag of `like` (strings stay strings).
fn retyped(like: &Value, text: &str) -> Value {
    match like {
        Value::String(_) => Value::String(text.to_string()),
        _ => resolve_plain(text),
    }
}

fn selector_id(sel: &Selector) -> ResId {
    ResId::new(
        Gvk { group: sel.group.clone(), version: sel.version.clone(), kind: sel.kind.clone() },
        &sel.name,
        &sel.namespace,
    )
}

fn selector_id_is_empty(sel: &Selector) -> bool {
    sel.group.is_empty()
        && sel.version.is_empty()
        && sel.kind.is_empty()
        && sel.name.is_empty()
        && sel.namespace.is_empty()
}

/// Kustomize's `ResId.IsSelectedBy`: exact match of every non-empty selector
/// field; namespaces compared after reading an empty one as `default`.
fn id_selected(id: &ResId, sel: &ResId) -> bool {
    (sel.name.is_empty() || sel.name == id.name)
        && (sel.namespace.is_empty() || sel.effective_namespace() == id.effective_namespace())
        && sel.gvk.selects(&id.gvk)
}

/// The label/annotation part of selection: `select`'s selectors must match, and
/// any `reject` entry with a label or annotation selector that matches excludes
/// the object (independently of that entry's id fields).
fn selected_by_labels(
    res: &Resource,
    select: &Selector,
    reject: &[Selector],
    labels: LabelMatcher<'_>,
) -> Result<bool> {
    if !label_and_annotation_match(res, select, labels)? {
        return Ok(false);
    }
    for rej in reject {
        if rej.label_selector.is_empty() && rej.annotation_selector.is_empty() {
            continue;
        }
        if label_and_annotation_match(res, rej, labels)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn label_and_annotation_match(res: &Resource, sel: &Selector, labels: LabelMatcher<'_>) -> Result<bool> {
    let md = res.obj.get("metadata");
    let map = |field: &str| md.and_then(|m| m.get(field)).and_then(Value::as_object);
    if !sel.annotation_selector.is_empty() && !labels(&sel.annotation_selector, map("annotations"))? {
        return Ok(false);
    }
    if !sel.label_selector.is_empty() && !labels(&sel.label_selector, map("labels"))? {
        return Ok(false);
    }
    Ok(true)
}

fn copy_to_target(
    obj: &mut Map<String, Value>,
    value: &SourceValue,
    field_path: &str,
    options: Option<&FieldOptions>,
) -> Result<()> {
    let create = options.is_some_and(|o| o.create);
    let retrieval = || {
        if create {
            format!("unable to find or create field {} in replacement target", go_quote(field_path))
        } else {
            format!("unable to find field {} in replacement target", go_quote(field_path))
        }
    };
    let mut root = Value::Object(std::mem::take(obj));
    let mut failure: Option<Error> = None;
    let visited = path::visit(
        &mut root,
        &path::split(field_path),
        create.then(|| Shape::of(&value.node)),
        &mut |node, created| {
            set_field(node, created, value, options).map_err(|e| {
                let msg = e.to_string();
                failure = Some(e);
                msg
            })
        },
    );
    if let Value::Object(m) = root {
        *obj = m;
    }
    match visited {
        Ok(0) => Err(err(retrieval())),
        Ok(_) => Ok(()),
        Err(_) if failure.is_some() => Err(failure.expect("checked")),
        Err(e) => Err(err(format!("{}: {e}", retrieval()))),
    }
}

/// Writes the value into one target node (§9): delimiter splicing first, then a
/// scalar target keeps its type and takes the text, anything else is replaced.
fn set_field(target: &mut Value, created: bool, value: &SourceValue, options: Option<&FieldOptions>) -> Result<()> {
    let target_is_scalar = created || !matches!(target, Value::Object(_) | Value::Array(_));
    let mut text = value.text.clone();
    let mut node = value.node.clone();
    if let Some(opts) = options.filter(|o| !o.delimiter.is_empty()) {
        if !target_is_scalar {
            return Err(err("delimiter option can only be used with scalar nodes"));
        }
        let current = if created { String::new() } else { path::scalar_text(target) };
        let mut parts: Vec<String> = current.split(opts.delimiter.as_str()).map(str::to_string).collect();
        match usize::try_from(opts.index) {
            Err(_) => parts.insert(0, text.clone()),
            Ok(i) if i >= parts.len() => parts.push(text.clone()),
            Ok(i) => parts[i] = text.clone(),
        }
        text = parts.join(&opts.delimiter);
        node = retyped(&node, &text);
    }
    if !target_is_scalar {
        *target = node;
    } else if created {
        *target = resolve_plain(&text);
    } else {
        *target = retyped_like_target(target, &text)?;
    }
    Ok(())
}

/// The text read with the target's own type, as go-yaml decodes a node whose
/// value changed but whose tag did not.
fn retyped_like_target(target: &Value, text: &str) -> Result<Value> {
    let want = yaml_tag(target);
    if want == "str" {
        return Ok(Value::String(text.to_string()));
    }
    let got = resolve_plain(text);
    let have = yaml_tag(&got);
    if have == want || (want == "float" && have == "int") {
        Ok(got)
    } else {
        Err(err(format!("cannot decode !!{have} `{text}` as a !!{want}")))
    }
}

fn yaml_tag(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "seq",
        Value::Object(_) => "map",
    }
}

/// Go's `%q` for a field path.
fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn res(v: Value) -> Resource {
        match v {
            Value::Object(m) => Resource::new(m),
            _ => panic!("not an object"),
        }
    }

    fn reps(v: Value) -> Vec<Replacement> {
        serde_json::from_value(v).expect("valid replacements")
    }

    /// Test stand-in for the label-selector parser: `k=v` and bare `k` terms joined by commas.
    fn simple_labels(selector: &str, labels: Option<&Map<String, Value>>) -> Result<bool> {
        Ok(selector.split(',').all(|term| match term.split_once('=') {
            Some((k, v)) => labels.and_then(|l| l.get(k)).and_then(Value::as_str) == Some(v),
            None => labels.is_some_and(|l| l.contains_key(term)),
        }))
    }

    fn run(resources: &mut [Resource], v: Value) -> Result<()> {
        apply_with(resources, &reps(v), &simple_labels)
    }

    /// The objects of the kubectl probes (a ConfigMap source, a Deployment, a Service).
    fn probe() -> Vec<Resource> {
        vec![
            res(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "src", "annotations": {"a.b/c": "x.y.z"}},
                "data": {"host": "svc.ns.svc.cluster.local", "port": "8080", "num": 42, "flag": "true", "list": [1, 2]}}),
            ),
            res(
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "dep", "labels": {"app": "dep"}},
                "spec": {"replicas": 1, "template": {"spec": {"containers": [
                    {"name": "app-sidecar", "image": "side:1", "args": ["--a", "--b"]},
                    {"name": "app", "image": "app:1", "env": [{"name": "HOST", "value": "old"}, {"name": "PORT", "value": "1"}]}
                ]}}}}),
            ),
            res(
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"}, "spec": {"ports": [{"port": 80}]}}),
            ),
        ]
    }

    #[test]
    fn scalar_targets_keep_their_type_and_created_fields_take_the_texts_type() {
        let mut r = probe();
        run(
            &mut r,
            json!([
                {"source": {"kind": "ConfigMap", "name": "src", "fieldPath": "data.port"}, "targets": [
                    {"select": {"kind": "Deployment"}, "options": {"create": true}, "fieldPaths": [
                        "spec.template.spec.containers.[name=app].env.[name=PORT].value", "spec.replicas", "metadata.labels.newint"]},
                    {"select": {"kind": "Service"}, "options": {"create": true},
                     "fieldPaths": ["spec.ports.0.port", "spec.ports.0.targetPort"]}]},
                {"source": {"kind": "ConfigMap", "name": "src", "fieldPath": "data.num"}, "targets": [
                    {"select": {"kind": "Deployment"}, "options": {"create": true},
                     "fieldPaths": ["metadata.labels.app", "metadata.annotations.created"]}]},
                {"source": {"kind": "ConfigMap", "name": "src", "fieldPath": "data.host", "options": {"delimiter": ".", "index": 1}},
                 "targets": [{"select": {"kind": "Deployment"}, "fieldPaths": ["spec.template.spec.containers.*.image"],
                              "options": {"delimiter": ":", "index": 1}}]},
                {"source": {"kind": "ConfigMap", "name": "src", "fieldPath": "data.list"}, "targets": [
                    {"select": {"kind": "Deployment"}, "fieldPaths": ["spec.template.spec.containers.0.args"]}]},
                {"source": {"kind": "ConfigMap", "name": "src", "fieldPath": "metadata.annotations.[a.b/c]"}, "targets": [
                    {"select": {"kind": "Service"}, "fieldPaths": ["metadata.annotations.[x.y/z]"], "options": {"create": true}}]}
            ]),
        )
        .expect("applies");
        // Expected objects transcribed from `kubectl kustomize` of the same input
        // (annotation values print as strings there because kubectl stringifies
        // annotations at output time; the node itself holds the number 42).
        assert_eq!(
            Value::Object(r[1].obj.clone()),
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "dep", "labels": {"app": "42", "newint": 8080}, "annotations": {"created": 42}},
            "spec": {"replicas": 8080, "template": {"spec": {"containers": [
                {"name": "app-sidecar", "image": "side:ns", "args": [1, 2], "env": [{"name": "PORT", "value": 8080}]},
                {"name": "app", "image": "app:ns", "env": [{"name": "HOST", "value": "old"}, {"name": "PORT", "value": "8080"}]}
            ]}}}})
        );
        assert_eq!(
            Value::Object(r[2].obj.clone()),
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc", "annotations": {"x.y/z": "x.y.z"}},
                "spec": {"ports": [{"port": 8080, "targetPort": 8080}]}})
        );
    }

    #[test]
    fn target_type_mismatch_is_an_error() {
        let tgt = || {
            vec![
                res(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "src"},
                    "data": {"word": "abc", "t": "true", "n": "12"}})),
                res(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "tgt"},
                    "data": {"int": 5, "bool": false, "nul": null, "str": "x", "float": 1.5}})),
            ]
        };
        let case = |from: &str, to: &str| {
            let mut r = tgt();
            run(
                &mut r,
                json!([{"source": {"name": "src", "fieldPath": format!("data.{from}")},
                                "targets": [{"select": {"name": "tgt"}, "fieldPaths": [format!("data.{to}")]}]}]),
            )
            .map(|_| r[1].obj["data"][to].clone())
            .map_err(|e| e.detail().to_string())
        };
        // Each result below is what kubectl printed for the same pair.
        assert_eq!(case("n", "int"), Ok(json!(12)));
        assert_eq!(case("word", "int"), Err("cannot decode !!str `abc` as a !!int".into()));
        assert_eq!(case("t", "int"), Err("cannot decode !!bool `true` as a !!int".into()));
        assert_eq!(case("t", "bool"), Ok(json!(true)));
        assert_eq!(case("n", "bool"), Err("cannot decode !!int `12` as a !!bool".into()));
        assert_eq!(case("word", "nul"), Err("cannot decode !!str `abc` as a !!null".into()));
        assert_eq!(case("t", "str"), Ok(json!("true")));
        assert_eq!(case("n", "str"), Ok(json!("12")));
        assert_eq!(case("n", "float"), Ok(json!(12)));
        assert_eq!(case("word", "float"), Err("cannot decode !!str `abc` as a !!float".into()));
    }

    #[test]
    fn source_errors_read_like_kustomize() {
        let e = |v: Value| {
            let mut r = probe();
            r[0].rename("p-src");
            r[1].rename("p-dep");
            r[2].rename("p-svc");
            run(&mut r, v).expect_err("fails").detail().to_string()
        };
        assert_eq!(
            e(json!([{"source": {"kind": "ConfigMap", "name": "src", "fieldPath": "data.nothere"},
                      "targets": [{"select": {"kind": "Service"}}]}])),
            "fieldPath `data.nothere` is missing for replacement source ConfigMap.[noVer].[noGrp]/src.[noNs]"
        );
        assert_eq!(
            e(json!([{"source": {"kind": "ConfigMap", "name": "nothere", "fieldPath": "data.port",
                                 "options": {"delimiter": ".", "index": 2, "create": true}},
                      "targets": [{"select": {"kind": "Service"}}]}])),
            "nothing selected by ConfigMap.[noVer].[noGrp]/nothere.[noNs]:data.port:.(2), create=true"
        );
        assert_eq!(
            e(json!([{"source": {"version": "v1"}, "targets": [{"select": {"kind": "Service"}}]}])),
            "multiple matches for selector [noKind].v1.[noGrp]/[noName].[noNs]"
        );
        assert_eq!(
            e(
                json!([{"source": {"kind": "ConfigMap", "fieldPath": "data.host", "options": {"delimiter": ".", "index": 9}},
                      "targets": [{"select": {"kind": "Service"}}]}])
            ),
            "options.index 9 is out of bounds for value svc.ns.svc.cluster.local"
        );
        assert_eq!(
            e(json!([{"source": {"kind": "ConfigMap", "fieldPath": "data.list", "options": {"delimiter": "."}},
                      "targets": [{"select": {"kind": "Service"}}]}])),
            "delimiter option can only be used with scalar nodes"
        );
        assert_eq!(
            e(json!([{"source": {"kind": "ConfigMap"}}])),
            "replacements must specify a source and at least one target"
        );
        assert_eq!(
            e(json!([{"source": {"kind": "ConfigMap"}, "targets": [{}]}])),
            "target must specify resources to select"
        );
    }

    #[test]
    fn source_is_found_by_previous_name_and_copies_the_current_one() {
        let mut r = probe();
        r[0].rename("p-src");
        run(&mut r, json!([{"source": {"name": "src"}, "targets": [{"select": {"kind": "Service"}}]}]))
            .expect("applies");
        assert_eq!(r[2].name(), "p-src");
    }

    #[test]
    fn target_errors_name_the_field_path() {
        let e = |paths: Value, options: Value| {
            let mut r = probe();
            run(
                &mut r,
                json!([{"source": {"kind": "ConfigMap", "fieldPath": "data.port"},
                "targets": [{"select": {"kind": "Deployment"}, "fieldPaths": paths, "options": options}]}]),
            )
            .expect_err("fails")
            .detail()
            .to_string()
        };
        assert_eq!(
            e(json!(["spec.template.spec.containers.1.args"]), json!({})),
            "unable to find field \"spec.template.spec.containers.1.args\" in replacement target"
        );
        assert_eq!(
            e(json!(["spec.template.spec.containers.5.image"]), json!({})),
            "unable to find field \"spec.template.spec.containers.5.image\" in replacement target: index 5 specified but only 2 elements found"
        );
        assert_eq!(
            e(json!(["metadata.labels.*"]), json!({})),
            "unable to find field \"metadata.labels.*\" in replacement target: wrong node kind: expected SequenceNode but got MappingNode"
        );
        assert_eq!(
            e(json!(["data.idx.2"]), json!({"create": true})),
            "unable to find or create field \"data.idx.2\" in replacement target: index 2 specified but only 0 elements found"
        );
        assert_eq!(
            e(json!(["metadata.labels"]), json!({"delimiter": "-"})),
            "delimiter option can only be used with scalar nodes"
        );
    }

    #[test]
    fn delimiter_prepends_appends_and_replaces() {
        let case = |path: &str, index: i64| {
            let mut r = probe();
            run(&mut r, json!([{"source": {"kind": "ConfigMap", "fieldPath": "data.port"},
                "targets": [{"select": {"kind": "Deployment"}, "fieldPaths": [path], "options": {"delimiter": ":", "index": index}}]}]))
            .expect("applies");
            r[1].obj["spec"]["template"]["spec"]["containers"][1]["image"].clone()
        };
        // kubectl: index -1 prepends to both matched containers, 7 appends.
        assert_eq!(case("spec.template.spec.containers.[name=app].image", -1), json!("8080:app:1"));
        assert_eq!(case("spec.template.spec.containers.[name=app$].image", 7), json!("app:1:8080"));
        assert_eq!(case("spec.template.spec.containers.[name=app$].image", 0), json!("8080:1"));
    }

    #[test]
    fn map_or_list_source_into_a_string_target_writes_empty_text() {
        let mut r = probe();
        run(
            &mut r,
            json!([{"source": {"kind": "ConfigMap", "fieldPath": "data.list"},
            "targets": [{"select": {"kind": "Deployment"}, "fieldPaths": ["metadata.labels.app"]}]}]),
        )
        .expect("applies");
        assert_eq!(r[1].obj["metadata"]["labels"]["app"], json!(""));
    }

    fn tiers() -> Vec<Resource> {
        let mut r = probe();
        for (name, labels) in [("a", json!({"tier": "web"})), ("b", json!({"tier": "db"})), ("c", json!(null))] {
            let mut md = json!({"name": name});
            if !labels.is_null() {
                md["labels"] = labels;
            }
            r.push(res(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": md, "data": {"v": "old"}})));
        }
        r
    }

    fn values(r: &[Resource]) -> Vec<Value> {
        r[3..].iter().map(|x| x.obj["data"]["v"].clone()).collect()
    }

    #[test]
    fn reject_by_id_or_by_labels() {
        let mut r = tiers();
        run(
            &mut r,
            json!([{"source": {"kind": "Service"}, "targets": [{"select": {"kind": "ConfigMap"},
            "reject": [{"name": "src"}, {"labelSelector": "tier=db"}], "fieldPaths": ["data.v"]}]}]),
        )
        .expect("applies");
        assert_eq!(values(&r), vec![json!("svc"), json!("old"), json!("svc")]);
        assert!(r[0].obj["data"].get("v").is_none());

        // A reject entry with both id and labels rejects on either (kubectl: all stay "old").
        let mut r = tiers();
        run(&mut r, json!([{"source": {"kind": "Service"}, "targets": [{"select": {"kind": "ConfigMap", "labelSelector": "tier"},
            "reject": [{"name": "a", "labelSelector": "tier=db"}], "fieldPaths": ["data.v"]}]}]))
        .expect("applies");
        assert_eq!(values(&r), vec![json!("old"), json!("old"), json!("old")]);
    }

    #[test]
    fn label_selector_on_select_narrows_targets() {
        let mut r = tiers();
        run(&mut r, json!([{"source": {"kind": "Service"}, "targets": [{"select": {"kind": "ConfigMap", "labelSelector": "tier=web"},
            "fieldPaths": ["data.v"]}]}]))
        .expect("applies");
        assert_eq!(values(&r), vec![json!("svc"), json!("old"), json!("old")]);
    }

    #[test]
    fn list_elements_by_value_and_creation() {
        let mut r = tiers();
        r[3].obj["data"]["list"] = json!(["x", "y"]);
        run(
            &mut r,
            json!([{"source": {"kind": "Service"}, "targets": [{"select": {"name": "a"},
            "fieldPaths": ["data.list.[=y]"]}]}]),
        )
        .expect("applies");
        assert_eq!(r[3].obj["data"]["list"], json!(["x", "svc"]));
        run(
            &mut r,
            json!([{"source": {"kind": "Service"}, "targets": [{"select": {"name": "a"}, "options": {"create": true},
            "fieldPaths": ["data.list.[=z]", "data.new.[name=q].value", "data.new2.0", "data.n3.[port=80].x"]}]}]),
        )
        .expect("applies");
        // kubectl output for the same paths.
        assert_eq!(
            r[3].obj["data"],
            json!({"v": "old", "list": ["x", "svc", "svc"], "new": [{"name": "q", "value": "svc"}], "new2": ["svc"],
                   "n3": [{"port": 80, "x": "svc"}]})
        );
    }
}
