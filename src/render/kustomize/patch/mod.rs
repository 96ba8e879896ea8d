//! Patches (docs/kustomize-semantics.md §4): `patches` (SMP or JSON 6902, by target
//! or by the patch's own id), `patchesStrategicMerge`, `patchesJson6902`.
//! Target selection lives in `selector`; merge rules in `strategic`, the merge-key
//! schema in `schema`; RFC 6902 in `json6902`. This file classifies a patch, finds its targets and puts back what
//! kustomize puts back after a merge (name, kind, namespace, rename history).

pub mod json6902;
pub mod schema;
pub mod strategic;

use crate::render::error::{Error, ErrorKind, Result};
use crate::render::kustomize::kustomization::Selector;
use crate::render::kustomize::selector::{CompiledSelector, Matching};
use crate::render::resource::{Gvk, ResId, Resource};
use schema::SchemaView;
use serde_json::{Map, Value};
use strategic::Merged;

/// A patch after loading: its parsed documents and where it came from.
#[derive(Clone, Debug, Default)]
pub struct PatchInput {
    /// `path` of the patch file, or `inline patch` text head, for messages.
    pub origin: String,
    /// Parsed documents of the patch text (an SMP object, SMP objects, or a JSON-patch op list).
    pub docs: Vec<Value>,
    /// `target:` selector, if any.
    pub target: Option<Selector>,
    /// `options.allowNameChange`.
    pub allow_name_change: bool,
    /// `options.allowKindChange`.
    pub allow_kind_change: bool,
    /// The text read as Kustomize reads a JSON patch (go-yaml v2: `yes` is a
    /// boolean), when it is one op list; used instead of `docs` for JSON 6902.
    pub json_ops: Option<Value>,
}

/// A patch from its documents as go-yaml v3 read them (`docs`, empty ones
/// dropped) and a way to read its text as one go-yaml v2 op list. The v2
/// reading runs only where it matters: v3 gave one list, or v3 failed (v2
/// accepts a repeated key).
pub(crate) fn patch_input(
    origin: String,
    docs: Result<Vec<Value>>,
    json_ops: impl FnOnce() -> Option<Value>,
) -> Result<PatchInput> {
    let (docs, json_ops) = match docs {
        Ok(docs) => {
            let ops = if matches!(docs.as_slice(), [Value::Array(_)]) { json_ops() } else { None };
            (docs, ops)
        }
        Err(e) => match json_ops() {
            Some(ops) => (vec![ops.clone()], Some(ops)),
            None => return Err(e),
        },
    };
    Ok(PatchInput { origin, docs, json_ops, ..PatchInput::default() })
}

/// `text` as one JSON-patch op list under go-yaml v2 scalar rules, if it is one.
pub(crate) fn json_ops_of(text: &str) -> Option<Value> {
    let docs = crate::render::yaml::parse::parse_stream_with(text, &crate::render::yaml::parse::GoYaml::V2).ok()?;
    let mut values: Vec<Value> = docs.into_iter().map(|d| d.value).filter(|v| !v.is_null()).collect();
    match values.as_mut_slice() {
        [ops @ Value::Array(_)] => Some(std::mem::take(ops)),
        _ => None,
    }
}

/// Merge-key schema: the built-in Kubernetes one, optionally replaced or extended by
/// a kustomization's `openapi:` document.
#[derive(Clone, Debug, Default)]
pub struct Schema {
    /// Custom OpenAPI document from `openapi: {path: ...}`, if any.
    pub custom: Option<Value>,
}

impl Schema {
    fn view(&self) -> SchemaView<'_> {
        SchemaView { custom: self.custom.as_ref() }
    }
}

/// What a `patches` entry's text turned out to be (§4.1).
enum Classified<'a> {
    Strategic(Vec<&'a Map<String, Value>>),
    Json(&'a Value),
}

fn classify(patch: &PatchInput) -> Result<Classified<'_>> {
    if let [list @ Value::Array(_)] = patch.docs.as_slice() {
        return Ok(Classified::Json(list));
    }
    // Kustomize reads SMP documents as resources, which need a kind and a name.
    let objects: Vec<_> = patch.docs.iter().filter_map(Value::as_object).filter(|o| is_resource(o)).collect();
    if objects.len() != patch.docs.len() {
        return Err(Error::new(
            ErrorKind::Patch,
            format!(
                "unable to parse SM or JSON patch from {}; write a Kubernetes object or a list of {{op, path, value}}",
                patch.origin
            ),
        ));
    }
    Ok(Classified::Strategic(objects))
}

fn is_resource(o: &Map<String, Value>) -> bool {
    let kind = o.get("kind").and_then(Value::as_str).unwrap_or("");
    let name = o.get("metadata").and_then(|m| m.get("name")).and_then(Value::as_str).unwrap_or("");
    !kind.is_empty() && !name.is_empty()
}

/// Applies one `patches:` entry (SMP or JSON 6902, classified from its content).
pub fn apply_patch(resources: &mut Vec<Resource>, patch: &PatchInput, schema: &Schema) -> Result<()> {
    match classify(patch)? {
        Classified::Json(ops) => {
            let target = patch.target.as_ref().ok_or_else(|| {
                Error::new(
                    ErrorKind::Patch,
                    format!("must specify a target for JSON patch {}; add 'target:' to the entry", patch.origin),
                )
            })?;
            let ops = patch.json_ops.as_ref().unwrap_or(ops);
            apply_json_to_selected(resources, ops, target, &patch.origin, Renames::Remember)
        }
        Classified::Strategic(docs) => match &patch.target {
            None => {
                for doc in docs {
                    apply_by_id(resources, doc, patch, schema, true)?;
                }
                Ok(())
            }
            Some(target) => {
                let doc = match docs.as_slice() {
                    [] => return Ok(()),
                    [one] => *one,
                    _ => {
                        return Err(Error::new(
                            ErrorKind::Patch,
                            format!(
                                "Multiple Strategic-Merge Patches in one `patches` entry is not allowed to set `patches.target` field: {}; split the documents into separate entries",
                                patch.origin
                            ),
                        ))
                    }
                };
                let target = CompiledSelector::new(target, Matching::Regex).map_err(|e| e.in_file(&patch.origin))?;
                let mut selected = Vec::new();
                for (i, res) in resources.iter().enumerate() {
                    if target.selects(res).map_err(|e| e.in_file(&patch.origin))? {
                        selected.push(i);
                    }
                }
                apply_smp_to(resources, &selected, doc, patch, schema)
            }
        },
    }
}

/// Applies one `patchesStrategicMerge:` entry (each document finds its target by id).
pub fn apply_strategic_merge(resources: &mut Vec<Resource>, patch: &PatchInput, schema: &Schema) -> Result<()> {
    for doc in &patch.docs {
        let Some(doc) = doc.as_object().filter(|o| is_resource(o)) else {
            return Err(Error::new(
                ErrorKind::Patch,
                format!(
                    "strategic merge patch {} is not a Kubernetes object; write a map with apiVersion, kind and metadata.name",
                    patch.origin
                ),
            ));
        };
        apply_by_id(resources, doc, patch, schema, false)?;
    }
    Ok(())
}

/// Applies one `patchesJson6902:` entry (target required).
pub fn apply_json6902(resources: &mut [Resource], patch: &PatchInput) -> Result<()> {
    let target = patch.target.as_ref().ok_or_else(|| {
        Error::new(
            ErrorKind::Patch,
            format!("must specify a target for patch {}; add 'target:' to the entry", patch.origin),
        )
    })?;
    if target.name.is_empty() {
        return Err(Error::new(
            ErrorKind::Patch,
            format!("must specify the target name for patch {}; add 'name:' to the entry's target", patch.origin),
        ));
    }
    let ops = match patch.docs.as_slice() {
        [Value::Array(list)] if list.is_empty() => {
            return Err(Error::new(
                ErrorKind::Patch,
                format!("patch appears to be empty; file={}; give it at least one operation", patch.origin),
            ))
        }
        [ops @ Value::Array(_)] => patch.json_ops.as_ref().unwrap_or(ops),
        [] => {
            return Err(Error::new(
                ErrorKind::Patch,
                format!("patch appears to be empty; file={}; give it at least one operation", patch.origin),
            ))
        }
        _ => {
            return Err(Error::new(
                ErrorKind::Patch,
                format!("json patch {} must be one list of operations ({{op, path, value}})", patch.origin),
            ))
        }
    };
    // Unlike `patches`, the legacy transformer does not store the previous id,
    // so references to a renamed object keep the old name (checked with kubectl).
    apply_json_to_selected(resources, ops, target, &patch.origin, Renames::Forget)
}

/// Whether a JSON patch that renames an object leaves the old id behind for
/// name-reference fixing.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Renames {
    Remember,
    Forget,
}

fn apply_json_to_selected(
    resources: &mut [Resource],
    ops: &Value,
    target: &Selector,
    origin: &str,
    renames: Renames,
) -> Result<()> {
    let ops = json6902::parse(ops).map_err(|e| e.in_file(origin))?;
    let target = CompiledSelector::new(target, Matching::Regex).map_err(|e| e.in_file(origin))?;
    for res in resources.iter_mut() {
        if !target.selects(res).map_err(|e| e.in_file(origin))? {
            continue;
        }
        let before = res.id();
        // During a kustomize build every object carries internal annotations, so
        // `metadata.annotations` always exists for a JSON patch; an empty map left
        // over is dropped at output like any other empty annotations map.
        if let Some(Value::Object(md)) = res.obj.get_mut("metadata") {
            md.entry("annotations").or_insert_with(|| Value::Object(Map::new()));
        }
        let mut doc = Value::Object(std::mem::take(&mut res.obj));
        let result = json6902::apply(&mut doc, &ops);
        res.obj = match doc {
            Value::Object(m) => m,
            _ => {
                return Err(Error::new(
                    ErrorKind::Patch,
                    format!("json patch {origin} turned {before} into something that is not an object"),
                ))
            }
        };
        result.map_err(|e| e.in_file(origin).for_resource(&before))?;
        // Kustomize re-reads the patched object as a resource.
        let missing = if res.kind().is_empty() {
            Some("kind")
        } else if res.name().is_empty() {
            Some("metadata.name")
        } else {
            None
        };
        if let Some(field) = missing {
            return Err(Error::new(
                ErrorKind::Patch,
                format!(
                    "missing {field} in object after json patch {origin}; the patch must keep kind and metadata.name"
                ),
            )
            .for_resource(&before));
        }
        if renames == Renames::Remember {
            remember_if_renamed(res, before);
        }
    }
    Ok(())
}

/// Finds the one object a patch without target names (GVK + name exactly,
/// namespace with `default` standing for unset, any current or previous id).
fn apply_by_id(
    resources: &mut Vec<Resource>,
    doc: &Map<String, Value>,
    patch: &PatchInput,
    schema: &Schema,
    from_patches: bool,
) -> Result<()> {
    let s = |path: &[&str]| {
        let mut cur = doc.get(path[0]);
        for k in &path[1..] {
            cur = cur.and_then(|v| v.get(*k));
        }
        cur.and_then(Value::as_str).unwrap_or("").to_string()
    };
    let id = ResId::new(
        Gvk::from_api_version(&s(&["apiVersion"]), &s(&["kind"])),
        &s(&["metadata", "name"]),
        &s(&["metadata", "namespace"]),
    );
    let matching: Vec<usize> = resources
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            r.all_ids().iter().any(|rid| {
                rid.gvk == id.gvk && rid.name == id.name && rid.effective_namespace() == id.effective_namespace()
            })
        })
        .map(|(i, _)| i)
        .collect();
    let detail = match matching.len() {
        1 => return apply_smp_to(resources, &matching, doc, patch, schema),
        0 => format!("no matches for Id {id}; failed to find unique target for patch {id}"),
        _ => format!("multiple matches for Id {id}; failed to find unique target for patch {id}"),
    };
    let msg =
        if from_patches { format!("no resource matches strategic merge patch \"{id}\": {detail}") } else { detail };
    Err(Error::new(ErrorKind::Patch, msg).in_file(&patch.origin))
}

/// Kustomize's `ApplySmPatch`: merge a copy of the patch (with the target's
/// apiVersion) into each selected object, restore name/kind/namespace unless
/// allowed to change, and drop objects the patch emptied.
fn apply_smp_to(
    resources: &mut Vec<Resource>,
    selected: &[usize],
    doc: &Map<String, Value>,
    patch: &PatchInput,
    schema: &Schema,
) -> Result<()> {
    let view = schema.view();
    let mut removed = Vec::new();
    for &i in selected {
        let Some(res) = resources.get_mut(i) else { continue };
        let before = res.id();
        let (name, kind, namespace) = (res.name().to_string(), res.kind().to_string(), res.namespace().to_string());
        let mut p = doc.clone();
        if res.api_version().is_empty() {
            p.shift_remove("apiVersion");
        } else {
            p.insert("apiVersion".into(), Value::String(res.api_version().to_string()));
        }
        let root = view.root(res.api_version(), res.kind());
        let target = Value::Object(std::mem::take(&mut res.obj));
        let merged = strategic::merge(Some(target), Some(Value::Object(p)), root, view)
            .map_err(|e| e.in_file(&patch.origin).for_resource(&before))?;
        match merged {
            Merged::Keep(Value::Object(m)) if !m.is_empty() => res.obj = m,
            _ => {
                removed.push(i);
                continue;
            }
        }
        if !patch.allow_kind_change {
            res.obj.insert("kind".into(), Value::String(kind));
        }
        if !patch.allow_name_change {
            res.metadata_mut().insert("name".into(), Value::String(name));
        }
        if namespace.is_empty() {
            if let Some(Value::Object(md)) = res.obj.get_mut("metadata") {
                md.shift_remove("namespace");
            }
        } else {
            res.metadata_mut().insert("namespace".into(), Value::String(namespace));
        }
        remember_if_renamed(res, before);
    }
    let mut index = 0;
    resources.retain(|_| {
        let keep = !removed.contains(&index);
        index += 1;
        keep
    });
    Ok(())
}

fn remember_if_renamed(res: &mut Resource, before: ResId) {
    if res.id() != before && res.meta.previous_ids.last() != Some(&before) {
        res.meta.previous_ids.push(before);
    }
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

    fn input(docs: Vec<Value>, target: Option<Selector>) -> PatchInput {
        PatchInput { origin: "patch.yaml".into(), docs, target, ..PatchInput::default() }
    }

    fn cm(name: &str) -> Resource {
        res(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "1"}}))
    }

    #[test]
    fn smp_by_target_keeps_name_and_kind() {
        let mut rs = vec![cm("one"), cm("two")];
        let p = input(
            vec![json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ignored"}, "data": {"b": "2"}})],
            Some(Selector { name: "t.*".into(), ..Selector::default() }),
        );
        apply_patch(&mut rs, &p, &Schema::default()).expect("applies");
        assert_eq!(rs[0].obj["data"], json!({"a": "1"}));
        assert_eq!(rs[1].obj["data"], json!({"a": "1", "b": "2"}));
        assert_eq!(rs[1].name(), "two");
    }

    #[test]
    fn smp_without_target_needs_a_matching_id() {
        let mut rs = vec![cm("one")];
        let p = input(vec![json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "nothere"}})], None);
        let e = apply_patch(&mut rs, &p, &Schema::default()).expect_err("fails");
        assert!(
            e.to_string().contains("no resource matches strategic merge patch \"ConfigMap.v1.[noGrp]/nothere.[noNs]\": no matches for Id ConfigMap.v1.[noGrp]/nothere.[noNs]; failed to find unique target for patch ConfigMap.v1.[noGrp]/nothere.[noNs]"),
            "{e}"
        );
        let e = apply_strategic_merge(&mut rs, &p, &Schema::default()).expect_err("fails");
        assert!(e.to_string().contains(": no matches for Id ConfigMap.v1.[noGrp]/nothere.[noNs]"), "{e}");
        assert!(!e.to_string().contains("no resource matches"), "{e}");
    }

    #[test]
    fn delete_patch_removes_the_object() {
        let mut rs = vec![cm("one"), cm("two")];
        let p = input(
            vec![json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "one"}, "$patch": "delete"})],
            None,
        );
        apply_strategic_merge(&mut rs, &p, &Schema::default()).expect("applies");
        assert_eq!(rs.len(), 1);
        assert_eq!(rs[0].name(), "two");
    }

    #[test]
    fn allow_name_change_renames_and_remembers() {
        let mut rs = vec![cm("one")];
        let mut p = input(
            vec![json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "renamed"}})],
            Some(Selector { name: "one".into(), ..Selector::default() }),
        );
        p.allow_name_change = true;
        apply_patch(&mut rs, &p, &Schema::default()).expect("applies");
        assert_eq!(rs[0].name(), "renamed");
        assert_eq!(rs[0].original_id().name, "one");
    }

    #[test]
    fn json_patch_needs_a_target_and_reports_missing_paths() {
        let mut rs = vec![cm("one")];
        let ops = json!([{"op": "replace", "path": "/nodata/zz", "value": "x"}]);
        let e = apply_patch(&mut rs, &input(vec![ops.clone()], None), &Schema::default()).expect_err("fails");
        assert!(e.to_string().contains("must specify a target for JSON patch"), "{e}");
        let p = input(vec![ops], Some(Selector { kind: "ConfigMap".into(), ..Selector::default() }));
        let e = apply_patch(&mut rs, &p, &Schema::default()).expect_err("fails");
        assert!(
            e.to_string().contains("replace operation does not apply: doc is missing path: /nodata/zz: missing value"),
            "{e}"
        );
    }

    #[test]
    fn json_patch_rename_is_remembered_by_patches_only() {
        let ops = json!([{"op": "replace", "path": "/metadata/name", "value": "two"}]);
        let p = input(vec![ops], Some(Selector { name: "one".into(), ..Selector::default() }));
        let mut rs = vec![cm("one")];
        apply_patch(&mut rs, &p, &Schema::default()).expect("applies");
        assert_eq!(rs[0].name(), "two");
        assert!(rs[0].had_name("one"));
        let mut rs = vec![cm("one")];
        apply_json6902(&mut rs, &p).expect("applies");
        assert_eq!(rs[0].name(), "two");
        assert!(!rs[0].had_name("one"));
    }

    #[test]
    fn scalar_patch_is_neither_smp_nor_json() {
        let mut rs = vec![cm("one")];
        let e = apply_patch(&mut rs, &input(vec![json!("text")], None), &Schema::default()).expect_err("fails");
        assert!(e.to_string().contains("unable to parse SM or JSON patch from patch.yaml"), "{e}");
    }
}
