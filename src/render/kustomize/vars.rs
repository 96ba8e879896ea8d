//! Legacy `vars:` and `$(VAR)` substitution (docs/kustomize-semantics.md §9).
//!
//! Runs once at the top level (§2.1 step 10), after hash suffixes and name
//! references, so a var reads final values (e.g. the hashed name of a generated
//! ConfigMap). Semantics follow Kustomize v5.5.0 and were checked with kubectl:
//! * a var's `objref` names an object by exact GVK (from `apiVersion`, or
//!   `group`/`version`) and name, matched against current and previous ids; the
//!   namespace only counts when given (or for cluster-scoped kinds);
//! * `fieldref.fieldpath` defaults to `metadata.name`, is dot-separated and takes
//!   `name[0]` or `name.0` indices;
//! * substitution happens in string values at the `varReference` field specs: a
//!   string, every string value of a map, every item of a list (a non-string item
//!   is an error); a string that is exactly `$(NAME)` takes the var's type (an
//!   integer stays an integer), otherwise the value is printed into the text;
//!   `$$` is a literal `$`; unknown names and map/list vars stay `$(NAME)`.

use crate::render::error::{Error, ErrorKind, Result};
use crate::render::kustomize::fieldspec::{walk, FieldSpec};
use crate::render::kustomize::kustomization::Var;
use crate::render::kustomize::transformers::replacements::path;
use crate::render::resource::{Gvk, ResId, Resource};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

const DEFAULT_FIELD_PATH: &str = "metadata.name";

/// Resolves every var against `resources` and substitutes `$(NAME)` at the
/// `varReference` field specs. Runs once, at the top level, after name references.
pub fn resolve(resources: &mut [Resource], vars: &[Var], var_reference: &[FieldSpec]) -> Result<()> {
    if vars.is_empty() {
        return Ok(());
    }
    let mut owners: Vec<usize> = Vec::with_capacity(vars.len());
    for v in vars {
        let gvk = objref_gvk(v);
        let wanted = ResId::new(gvk.clone(), &v.objref.name, &v.objref.namespace);
        let with_namespace = !wanted.namespace.is_empty() || gvk.is_cluster_scoped();
        let matched: Vec<usize> = resources
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                r.all_ids().iter().any(|id| {
                    id.gvk == wanted.gvk
                        && id.name == wanted.name
                        && (!with_namespace || id.effective_namespace() == wanted.effective_namespace())
                })
            })
            .map(|(i, _)| i)
            .collect();
        if matched.len() > 1 {
            return Err(err(format!(
                "found {} resId matches for var {} (unable to disambiguate)",
                matched.len(),
                var_display(v, &v.fieldref.fieldpath)
            )));
        }
        owners.push(matched.first().copied().unwrap_or(usize::MAX));
    }
    let mut seen = BTreeSet::new();
    for v in vars {
        if !seen.insert(v.name.as_str()) {
            return Err(err(format!("var '{}' already encountered", v.name)));
        }
    }

    // Kustomize reads the values in name order, so the first failing name reports.
    let mut order: Vec<usize> = (0..vars.len()).collect();
    order.sort_by(|a, b| vars[*a].name.cmp(&vars[*b].name));
    let mut values: BTreeMap<String, VarValue> = BTreeMap::new();
    for i in order {
        let v = &vars[i];
        let field_path =
            if v.fieldref.fieldpath.is_empty() { DEFAULT_FIELD_PATH } else { v.fieldref.fieldpath.as_str() };
        let Some(owner) = resources.get(owners[i]) else {
            return Err(err(format!(
                "var '{}' cannot be mapped to a field in the set of known resources",
                var_display(v, field_path)
            )));
        };
        let obj = Value::Object(owner.obj.clone());
        let found = path::get(&obj, &field_parts(field_path)).ok().flatten().ok_or_else(|| {
            err(format!("field specified in var '{}' not found in corresponding resource", var_display(v, field_path)))
        })?;
        values.insert(v.name.clone(), VarValue::of(found));
    }

    for res in resources.iter_mut() {
        let gvk = res.gvk();
        let id = res.id();
        let mut root = Value::Object(std::mem::take(&mut res.obj));
        let mut outcome = Ok(());
        for spec in var_reference.iter().filter(|s| s.applies_to(&gvk)) {
            outcome = walk(&mut root, &spec.segments(), false, &mut |node| substitute(node, &values))
                .map_err(|e| err(format!("considering field '{}' of object {id}: {}", spec.path, e.detail())));
            if outcome.is_err() {
                break;
            }
        }
        if let Value::Object(m) = root {
            res.obj = m;
        }
        outcome?;
    }
    Ok(())
}

fn err(detail: impl Into<String>) -> Error {
    Error::new(ErrorKind::Replacement, detail)
}

/// The objref's GVK: `apiVersion` split into group and version when given.
fn objref_gvk(v: &Var) -> Gvk {
    let r = &v.objref;
    let mut gvk = Gvk { group: r.group.clone(), version: r.version.clone(), kind: r.kind.clone() };
    if !r.api_version.is_empty() {
        let parts: Vec<&str> = r.api_version.split('/').collect();
        match parts.as_slice() {
            [g, ver] => {
                gvk.group = g.to_string();
                gvk.version = ver.to_string();
            }
            [ver] => gvk.version = ver.to_string(),
            _ => {}
        }
    }
    gvk
}

/// A var as Go's `%v` prints it in Kustomize's messages: `{NAME Kind.version.group {fieldpath}}`.
fn var_display(v: &Var, field_path: &str) -> String {
    let gvk = objref_gvk(v);
    let or = |s: &str, d: &'static str| if s.is_empty() { d.to_string() } else { s.to_string() };
    format!(
        "{{{} {}.{}.{} {{{}}}}}",
        v.name,
        or(&gvk.kind, "[noKind]"),
        or(&gvk.version, "[noVer]"),
        or(&gvk.group, "[noGrp]"),
        field_path
    )
}

/// A field path split into lookup parts, with `name[3]` read as `name`, `3`.
fn field_parts(field_path: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in path::split(field_path) {
        let indexed = part
            .strip_suffix(']')
            .and_then(|p| p.rsplit_once('['))
            .filter(|(_, idx)| !idx.is_empty() && idx.bytes().all(|b| b.is_ascii_digit()));
        match indexed {
            Some((name, idx)) => {
                if !name.is_empty() {
                    out.push(name.to_string());
                }
                out.push(idx.to_string());
            }
            None => out.push(part),
        }
    }
    out
}

/// A var's value with the Go type Kustomize gives it.
#[derive(Clone, Debug, PartialEq)]
enum VarValue {
    Str(String),
    Int(Value),
    Float(f64),
    Bool(bool),
    /// Maps and lists cannot be substituted; `$(NAME)` stays.
    Unusable,
}

impl VarValue {
    fn of(v: &Value) -> VarValue {
        match v {
            Value::String(s) => VarValue::Str(s.clone()),
            Value::Bool(b) => VarValue::Bool(*b),
            Value::Number(n) if n.is_f64() => VarValue::Float(n.as_f64().unwrap_or_default()),
            Value::Number(_) => VarValue::Int(v.clone()),
            Value::Null => VarValue::Str("null".into()),
            Value::Object(_) | Value::Array(_) => VarValue::Unusable,
        }
    }

    /// The node a string that is exactly `$(NAME)` becomes.
    fn to_node(&self, name: &str) -> Value {
        match self {
            VarValue::Str(s) => Value::String(s.clone()),
            VarValue::Int(n) => n.clone(),
            VarValue::Float(f) => serde_json::Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null),
            VarValue::Bool(b) => Value::Bool(*b),
            VarValue::Unusable => Value::String(format!("$({name})")),
        }
    }

    /// The text Go's `%v` prints for the value inside a longer string.
    fn to_text(&self, name: &str) -> String {
        match self {
            VarValue::Str(s) => s.clone(),
            VarValue::Int(n) => n.to_string(),
            VarValue::Float(f) => go_float_v(*f),
            VarValue::Bool(b) => b.to_string(),
            VarValue::Unusable => format!("$({name})"),
        }
    }
}

/// Go's `%v` for a float64: shortest round-trip digits, in exponent form
/// (`1e+06`, `1e-05`) when the decimal exponent is below -4 or at least 6
/// (strconv's fixed threshold for shortest `'g'`).
fn go_float_v(f: f64) -> String {
    if f == 0.0 || !f.is_finite() {
        return format!("{f}");
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

/// Substitutes vars in one field-spec leaf (§9).
fn substitute(node: &mut Value, values: &BTreeMap<String, VarValue>) -> Result<()> {
    match node {
        Value::String(s) => {
            let new = expand(s, values);
            *node = new;
        }
        Value::Object(m) => {
            for v in m.values_mut() {
                if let Value::String(s) = v {
                    let new = expand(s, values);
                    *v = new;
                }
            }
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                let Value::String(s) = item else {
                    return Err(err("invalid value type expect a string"));
                };
                let new = expand(s, values);
                *item = new;
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    Ok(())
}

/// Kustomize's `DoReplacements`: `$(NAME)` replaced, `$$` read as `$`, anything
/// else after `$` kept; a string that is exactly `$(NAME)` takes the var's type.
fn expand(input: &str, values: &BTreeMap<String, VarValue>) -> Value {
    let mut out = String::with_capacity(input.len());
    let mut checkpoint = 0;
    let mut cursor = 0;
    let bytes = input.as_bytes();
    while cursor < bytes.len() {
        if bytes[cursor] == b'$' && cursor + 1 < bytes.len() {
            out.push_str(&input[checkpoint..cursor]);
            let rest = &input[cursor + 1..];
            let advance = if rest.starts_with('$') {
                out.push('$');
                1
            } else if let Some(body) = rest.strip_prefix('(') {
                match body.find(')') {
                    Some(close) => {
                        let name = &body[..close];
                        if input.len() == name.len() + 3 {
                            return values
                                .get(name)
                                .map(|v| v.to_node(name))
                                .unwrap_or_else(|| Value::String(input.to_string()));
                        }
                        match values.get(name) {
                            Some(v) => out.push_str(&v.to_text(name)),
                            None => out.push_str(&format!("$({name})")),
                        }
                        close + 2
                    }
                    None => {
                        out.push_str("$(");
                        1
                    }
                }
            } else {
                let c = rest.chars().next().expect("cursor + 1 < len");
                out.push('$');
                out.push(c);
                c.len_utf8()
            };
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    out.push_str(&input[checkpoint.min(input.len())..]);
    Value::String(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::kustomize::fieldspec::FieldSpecTables;
    use serde_json::json;

    fn res(v: Value) -> Resource {
        match v {
            Value::Object(m) => Resource::new(m),
            _ => panic!("not an object"),
        }
    }

    fn vars(v: Value) -> Vec<Var> {
        serde_json::from_value(v).expect("valid vars")
    }

    fn table() -> Vec<FieldSpec> {
        FieldSpecTables::builtin().var_reference
    }

    fn service(ns: &str) -> Resource {
        res(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc", "namespace": ns},
            "spec": {"ports": [{"port": 8080}], "flag": true, "ratio": 1.5}}))
    }

    /// The objects of the kubectl probe (`namePrefix: pre-` applied before vars).
    fn probe() -> Vec<Resource> {
        let mut svc = service("ns1");
        svc.rename("pre-svc");
        let mut dep = res(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "dep",
            "labels": {"l1": "$(SVC)", "l2": "x-$(PORT)"},
            "annotations": {"a1": "$(PORT)", "a2": "$(UNKNOWN)-$$(SVC)-$$x$-$(", "a3": "$(FLAG)", "a4": "$(RATIO)", "a5": "$(MAP)"}},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x",
                "command": ["run", "$(SVC).$(NS)"], "args": ["$(PORT)", "--p=$(PORT)", "$(FLAG)"],
                "env": [{"name": "A", "value": "$(PORT)"}]}]}}}}));
        dep.rename("pre-dep");
        vec![svc, dep]
    }

    fn probe_vars() -> Vec<Var> {
        let svc = json!({"kind": "Service", "name": "svc", "apiVersion": "v1"});
        vars(json!([
            {"name": "SVC", "objref": svc},
            {"name": "NS", "objref": svc, "fieldref": {"fieldpath": "metadata.namespace"}},
            {"name": "PORT", "objref": svc, "fieldref": {"fieldpath": "spec.ports[0].port"}},
            {"name": "FLAG", "objref": svc, "fieldref": {"fieldpath": "spec.flag"}},
            {"name": "RATIO", "objref": svc, "fieldref": {"fieldpath": "spec.ratio"}},
            {"name": "MAP", "objref": svc, "fieldref": {"fieldpath": "spec.ports"}}
        ]))
    }

    #[test]
    fn substitutes_typed_values_escapes_and_leaves_unknown_names() {
        let mut r = probe();
        resolve(&mut r, &probe_vars(), &table()).expect("resolves");
        // Transcribed from kubectl kustomize of the same input; annotations print as
        // strings there only because kubectl stringifies annotations on output.
        assert_eq!(
            Value::Object(r[1].obj.clone()),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "pre-dep",
                "labels": {"l1": "pre-svc", "l2": "x-8080"},
                "annotations": {"a1": 8080, "a2": "$(UNKNOWN)-$(SVC)-$x$-$(", "a3": true, "a4": 1.5, "a5": "$(MAP)"}},
                "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x",
                    "command": ["run", "pre-svc.ns1"], "args": [8080, "--p=8080", true],
                    "env": [{"name": "A", "value": 8080}]}]}}}})
        );
    }

    #[test]
    fn floats_print_like_go_inside_strings() {
        let mut r = vec![
            res(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"}, "spec": {
                "f1": 1000000.0, "f2": 1234567.5, "f3": 0.00001, "f4": 100000.0, "f5": 2.5, "big": 12345678901_i64, "nul": null}})),
            res(
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pod"}, "spec": {"containers": [{"name": "c",
                "args": ["a-$(F1)", "a-$(F2)", "a-$(F3)", "a-$(F4)", "a-$(F5)", "a-$(BIG)", "a-$(NUL)", "$(F5)",
                         "$$", "$x", "$", "x$(", "$(A)$(A)"]}]}}),
            ),
        ];
        let svc = json!({"kind": "Service", "name": "svc", "apiVersion": "v1"});
        let field = |name: &str, path: &str| json!({"name": name, "objref": svc, "fieldref": {"fieldpath": path}});
        let vs = vars(json!([
            field("F1", "spec.f1"), field("F2", "spec.f2"), field("F3", "spec.f3"), field("F4", "spec.f4"),
            field("F5", "spec.f5"), field("BIG", "spec.big"), field("NUL", "spec.nul"), {"name": "A", "objref": svc}
        ]));
        resolve(&mut r, &vs, &table()).expect("resolves");
        // kubectl printed exactly these.
        assert_eq!(
            r[1].obj["spec"]["containers"][0]["args"],
            json!([
                "a-1e+06",
                "a-1.2345675e+06",
                "a-1e-05",
                "a-100000",
                "a-2.5",
                "a-12345678901",
                "a-null",
                2.5,
                "$",
                "$x",
                "$",
                "x$(",
                "svcsvc"
            ])
        );
    }

    #[test]
    fn errors_read_like_kustomize() {
        let e =
            |rs: &mut Vec<Resource>, v: Value| resolve(rs, &vars(v), &table()).expect_err("fails").detail().to_string();
        let mut one = vec![service("ns1")];
        assert_eq!(
            e(&mut one, json!([{"name": "SVC", "objref": {"kind": "Service", "name": "nothere", "apiVersion": "v1"}}])),
            "var '{SVC Service.v1.[noGrp] {metadata.name}}' cannot be mapped to a field in the set of known resources"
        );
        assert_eq!(
            e(
                &mut one,
                json!([{"name": "SVC", "objref": {"kind": "Service", "name": "svc", "apiVersion": "v1"},
                                "fieldref": {"fieldpath": "spec.nothere"}}])
            ),
            "field specified in var '{SVC Service.v1.[noGrp] {spec.nothere}}' not found in corresponding resource"
        );
        assert_eq!(
            e(
                &mut one,
                json!([{"name": "SVC", "objref": {"kind": "Service", "name": "svc", "apiVersion": "v1"}},
                               {"name": "SVC", "objref": {"kind": "Service", "name": "svc", "apiVersion": "v1"}}])
            ),
            "var 'SVC' already encountered"
        );
        // Without a version the GVK cannot equal the object's.
        assert_eq!(
            e(&mut one, json!([{"name": "SVC", "objref": {"kind": "Service", "name": "svc"}}])),
            "var '{SVC Service.[noVer].[noGrp] {metadata.name}}' cannot be mapped to a field in the set of known resources"
        );
        // A namespace, when given, must match (an empty one reads as `default`).
        assert_eq!(
            e(
                &mut one,
                json!([{"name": "SVC", "objref": {"kind": "Service", "name": "svc", "apiVersion": "v1", "namespace": "default"}}])
            ),
            "var '{SVC Service.v1.[noGrp] {metadata.name}}' cannot be mapped to a field in the set of known resources"
        );
        let mut two = vec![service("ns1"), service("ns2")];
        assert_eq!(
            e(&mut two, json!([{"name": "SVC", "objref": {"kind": "Service", "name": "svc", "apiVersion": "v1"}}])),
            "found 2 resId matches for var {SVC Service.v1.[noGrp] {}} (unable to disambiguate)"
        );
    }

    #[test]
    fn namespace_disambiguates_and_version_field_works() {
        let mut r = vec![
            service("ns1"),
            service("ns2"),
            res(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"l1": "$(SVC)"}}})),
        ];
        let v = vars(
            json!([{"name": "SVC", "objref": {"kind": "Service", "name": "svc", "version": "v1", "namespace": "ns2"},
                             "fieldref": {"fieldpath": "metadata.namespace"}}]),
        );
        resolve(&mut r, &v, &table()).expect("resolves");
        // kubectl: l1: ns2
        assert_eq!(r[2].obj["metadata"]["labels"]["l1"], json!("ns2"));
    }

    #[test]
    fn non_string_list_items_at_a_var_reference_are_an_error() {
        let mut r = vec![
            service("ns1"),
            res(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                "spec": {"containers": [{"name": "c", "args": ["$(SVC)", 1]}]}})),
        ];
        let v = vars(json!([{"name": "SVC", "objref": {"kind": "Service", "name": "svc", "apiVersion": "v1"}}]));
        let e = resolve(&mut r, &v, &table()).expect_err("fails");
        // kubectl adds `visit traversal on path: [args]: ` before the last clause.
        assert_eq!(
            e.detail(),
            "considering field 'spec/containers/args' of object Pod.v1.[noGrp]/p.[noNs]: invalid value type expect a string"
        );
    }

    #[test]
    fn field_parts_read_bracket_indices() {
        assert_eq!(field_parts("spec.ports[0].port"), vec!["spec", "ports", "0", "port"]);
        assert_eq!(field_parts("spec.ports.0.port"), vec!["spec", "ports", "0", "port"]);
        assert_eq!(field_parts("metadata.annotations.[a.b/c]"), vec!["metadata", "annotations", "a.b/c"]);
    }

    #[test]
    fn var_values_read_from_previous_names() {
        let mut svc = service("ns1");
        svc.rename("svc-abc");
        let mut r = vec![
            svc,
            res(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "annotations": {"a": "$(S)"}}})),
        ];
        let v = vars(json!([{"name": "S", "objref": {"kind": "Service", "name": "svc", "apiVersion": "v1"}}]));
        resolve(&mut r, &v, &table()).expect("resolves");
        assert_eq!(r[1].obj["metadata"]["annotations"]["a"], json!("svc-abc"));
    }
}
