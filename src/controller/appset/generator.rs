//! One generator entry -> parameter sets (docs/controller-appset.md §1, §2):
//! parses the entry, refuses unsupported generator kinds, interpolates a
//! matrix's second child with the first child's params, dispatches to the
//! generator module and applies the entry's post-selector.

use super::params::{flatten_strings, Params};
use super::render::Engine;
use super::selector::LabelSelector;
use super::{clusters, git, list, matrix, merge, ApplicationSet, Error, Inputs, Result};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// What generation needs besides the entry: the ApplicationSet, the inputs
/// and the template engine.
pub struct Ctx<'a> {
    /// The ApplicationSet being generated.
    pub appset: &'a ApplicationSet,
    /// Cluster Secrets, repositories, switches.
    pub inputs: &'a Inputs<'a>,
    /// The template engine (fast or Go).
    pub engine: &'a Engine,
}

/// One parameter set plus the generator-level template that applies to it.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamSet {
    /// The parameters.
    pub params: Params,
    /// The generator's own `template`, merged over the ApplicationSet's.
    pub template: Option<Value>,
}

/// Generator kinds Argo CD has and kcmp does not implement.
const UNSUPPORTED: [&str; 4] = ["scmProvider", "pullRequest", "clusterDecisionResource", "plugin"];

/// Runs one generator entry. `depth` counts enclosing matrix/merge
/// generators; `interpolate` holds the params a matrix's second child is
/// templated with.
pub fn run(ctx: &Ctx, entry: &Value, path: &str, depth: usize, interpolate: Option<&Params>) -> Result<Vec<ParamSet>> {
    let fail = |generator: String, message: String| Error::Generator { generator, message };
    let interpolated;
    let entry = match interpolate {
        Some(params) => {
            interpolated = interpolate_entry(ctx.engine, entry, params).map_err(|m| fail(path.to_string(), m))?;
            &interpolated
        }
        None => entry,
    };
    let Some(map) = entry.as_object() else {
        return Err(fail(path.to_string(), "a generator entry must be a map".into()));
    };
    let mut selector = None;
    let mut kinds = Vec::new();
    for (key, value) in map {
        match key.as_str() {
            "selector" => {
                let parsed: LabelSelector = serde_json::from_value(value.clone())
                    .map_err(|e| fail(format!("{path}.selector"), e.to_string()))?;
                selector = Some(parsed);
            }
            "list" | "clusters" | "git" | "matrix" | "merge" => {
                if !value.is_null() {
                    kinds.push((key.as_str(), value));
                }
            }
            k if UNSUPPORTED.contains(&k) => {
                return Err(fail(format!("{path}.{k}"), format!("the {k} generator is not supported by kcmp")));
            }
            other => return Err(fail(path.to_string(), format!("unknown generator field {other:?}"))),
        }
    }
    if kinds.is_empty() {
        return Err(fail(path.to_string(), "no generator given (use list, clusters, git, matrix or merge)".into()));
    }
    if depth > 0 && kinds.len() > 1 {
        return Err(fail(path.to_string(), "a matrix/merge child must hold exactly one generator".into()));
    }
    let mut out = Vec::new();
    for (kind, value) in kinds {
        let gpath = format!("{path}.{kind}");
        let sets = run_kind(ctx, kind, value, &gpath, depth)?;
        for set in sets {
            if let Some(sel) = &selector {
                if !post_select(sel, &set.params).map_err(|m| fail(format!("{path}.selector"), m))? {
                    continue;
                }
            }
            out.push(set);
        }
    }
    Ok(out)
}

fn run_kind(ctx: &Ctx, kind: &str, value: &Value, path: &str, depth: usize) -> Result<Vec<ParamSet>> {
    let fail = |message: String| Error::Generator { generator: path.to_string(), message };
    let parse_err = |e: serde_json::Error| fail(e.to_string());
    let go = ctx.engine.is_go();
    let (params, template) = match kind {
        "list" => {
            let g: list::ListGenerator = serde_json::from_value(value.clone()).map_err(parse_err)?;
            (list::generate(&g, go).map_err(fail)?, g.template)
        }
        "clusters" => {
            let g: clusters::ClusterGenerator = serde_json::from_value(value.clone()).map_err(parse_err)?;
            let params =
                clusters::generate(&g, ctx.inputs.cluster_secrets, ctx.inputs.options, ctx.engine).map_err(fail)?;
            (params, g.template)
        }
        "git" => {
            let g: git::GitGenerator = serde_json::from_value(value.clone()).map_err(parse_err)?;
            let params =
                git::generate(&g, ctx.inputs.repos, ctx.inputs.options.file_globbing, ctx.engine).map_err(fail)?;
            (params, g.template)
        }
        "matrix" | "merge" => {
            if depth >= 2 {
                return Err(fail(
                    "matrix/merge generators nest only one level deep (a nested matrix/merge may hold only list, clusters or git)"
                        .into(),
                ));
            }
            if kind == "matrix" {
                let g: matrix::MatrixGenerator = serde_json::from_value(value.clone()).map_err(parse_err)?;
                (matrix::generate(ctx, &g, path, depth)?, g.template)
            } else {
                let g: merge::MergeGenerator = serde_json::from_value(value.clone()).map_err(parse_err)?;
                (merge::generate(ctx, &g, path, depth)?, g.template)
            }
        }
        other => return Err(fail(format!("unknown generator {other:?}"))),
    };
    Ok(params.into_iter().map(|params| ParamSet { params, template: template.clone() }).collect())
}

/// The post-selector matches the params flattened with dots, every value
/// printed with `%v` (Argo CD's `flattenParameters`).
fn post_select(selector: &LabelSelector, params: &Params) -> std::result::Result<bool, String> {
    let flat = flatten_strings(params);
    let labels: BTreeMap<String, String> =
        flat.into_iter().map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string())).collect();
    selector.matches(&labels)
}

/// Templates every string of a matrix child with the first child's params
/// (§2.4), in goTemplate mode with `missingkey=error`. Skipped: the child's
/// own `template` (it is rendered later with the combined params) and, best
/// effort, `values` entries that cannot be rendered yet (they usually refer
/// to the child's own params, e.g. a cluster's `name`).
fn interpolate_entry(engine: &Engine, entry: &Value, params: &Params) -> std::result::Result<Value, String> {
    let strict = engine.strict();
    walk(&strict, entry, params, 0, false)
}

fn walk(
    engine: &Engine,
    v: &Value,
    params: &Params,
    depth: usize,
    lenient: bool,
) -> std::result::Result<Value, String> {
    Ok(match v {
        Value::String(s) => match engine.render_str(s, params) {
            Ok(out) => Value::String(out),
            Err(_) if lenient => Value::String(s.clone()),
            Err(e) => return Err(e),
        },
        Value::Array(items) => Value::Array(
            items.iter().map(|i| walk(engine, i, params, depth + 1, lenient)).collect::<std::result::Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, child) in map {
                // depth 1 = inside `{kind: {...}}`: the generator's own fields
                if depth == 1 && k == "template" {
                    out.insert(k.clone(), child.clone());
                    continue;
                }
                let lenient_child = lenient || k == "values";
                out.insert(k.clone(), walk(engine, child, params, depth + 1, lenient_child)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// When to regenerate without an event (§4 step 7): the smallest interval
/// any generator asks for. Git generators ask for `requeueAfterSeconds` or
/// `git_default` (Argo CD: 180 s, overridable by the controller's
/// environment, which the caller reads); list and clusters generators are
/// event-driven and ask for nothing. Matrix and merge take their children's
/// minimum. `None` = only re-reconcile on change.
pub fn requeue_after(generators: &[Value], git_default: Duration) -> Option<Duration> {
    let mut best: Option<Duration> = None;
    let mut consider = |d: Duration| best = Some(best.map_or(d, |b| b.min(d)));
    for entry in generators {
        let Some(map) = entry.as_object() else { continue };
        if let Some(git) = map.get("git").filter(|g| g.is_object()) {
            match git.get("requeueAfterSeconds").and_then(Value::as_u64) {
                Some(secs) => consider(Duration::from_secs(secs)),
                None => consider(git_default),
            }
        }
        for kind in ["matrix", "merge"] {
            if let Some(children) = map.get(kind).and_then(|m| m.get("generators")).and_then(Value::as_array) {
                if let Some(d) = requeue_after(children, git_default) {
                    consider(d);
                }
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requeue_after_is_the_smallest_git_interval() {
        let three_min = Duration::from_secs(180);
        assert_eq!(requeue_after(&[json!({"list": {"elements": []}}), json!({"clusters": {}})], three_min), None);
        assert_eq!(requeue_after(&[json!({"git": {"repoURL": "r"}})], three_min), Some(three_min));
        let gens = [
            json!({"git": {"repoURL": "r", "requeueAfterSeconds": 600}}),
            json!({"matrix": {"generators": [{"git": {"repoURL": "r", "requeueAfterSeconds": 30}}, {"clusters": {}}]}}),
        ];
        assert_eq!(requeue_after(&gens, three_min), Some(Duration::from_secs(30)));
    }

    #[test]
    fn post_selector_sees_flattened_params() {
        let sel: LabelSelector =
            serde_json::from_value(json!({"matchLabels": {"a.b": "1", "l.0": "x"}})).expect("selector");
        let params = json!({"a": {"b": 1.0}, "l": ["x"]}).as_object().cloned().expect("object");
        assert_eq!(post_select(&sel, &params), Ok(true));
    }

    #[test]
    fn interpolation_keeps_child_templates_and_is_lenient_for_values() {
        let engine = Engine::go(crate::controller::appset::gotemplate::Options::default());
        let params = json!({"env": "prod"}).as_object().cloned().expect("object");
        let entry = json!({"clusters": {"values": {"ns": "{{.name}}-{{.env}}"}, "template": {"metadata": {"name": "{{.nope}}"}}},
                           "selector": {"matchLabels": {"env": "{{.env}}"}}});
        let out = interpolate_entry(&engine, &entry, &params).expect("interpolates");
        assert_eq!(out["selector"]["matchLabels"]["env"], json!("prod"));
        assert_eq!(out["clusters"]["values"]["ns"], json!("{{.name}}-{{.env}}"), "values that cannot render yet stay");
        assert_eq!(out["clusters"]["template"]["metadata"]["name"], json!("{{.nope}}"));
        let strict = json!({"list": {"elements": [{"x": "{{.missing}}"}]}});
        let err = interpolate_entry(&engine, &strict, &params).expect_err("missingkey=error is forced");
        assert!(err.contains("map has no entry for key \"missing\""), "{err}");
    }
}
