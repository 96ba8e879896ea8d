//! The last touches `kubectl kustomize` gives every object before printing
//! (docs/kustomize-semantics.md §2.1 steps 13-14, §11): `buildMetadata` options,
//! and `metadata.annotations` values written back as strings (an empty map is dropped).

use crate::render::error::{Error, ErrorKind, Result};
use crate::render::resource::Resource;
use serde_json::{Map, Value};

/// Kustomize re-sets annotations as a string map at the end of a build: every value
/// becomes its string form (`1` -> `"1"`, `null` -> `"null"`) and an empty map goes away.
/// Labels are left as they are (checked with kubectl).
pub fn stringify_annotations(resources: &mut [Resource]) {
    for r in resources.iter_mut() {
        let Some(Value::Object(md)) = r.obj.get_mut("metadata") else { continue };
        let empty = match md.get_mut("annotations") {
            Some(Value::Object(a)) => {
                for v in a.values_mut() {
                    let text = match &*v {
                        Value::String(_) => continue,
                        Value::Null => "null".to_string(),
                        other => other.to_string(),
                    };
                    *v = Value::String(text);
                }
                a.is_empty()
            }
            _ => false,
        };
        if empty {
            md.remove("annotations");
        }
    }
}

/// `buildMetadata:` options: `managedByLabel` adds the kustomize version label,
/// `originAnnotations` records where each object came from.
pub fn apply_build_metadata(resources: &mut [Resource], options: &[String]) -> Result<()> {
    for opt in options {
        match opt.as_str() {
            "managedByLabel" => {
                for r in resources.iter_mut() {
                    insert_meta_string(r, "labels", "app.kubernetes.io/managed-by", "kustomize-(devel)");
                }
            }
            "originAnnotations" => {
                for r in resources.iter_mut() {
                    let origin = r.meta.origin.clone().unwrap_or_default();
                    let text = if r.meta.needs_hash || r.meta.hashed || r.meta.generated {
                        format!("configuredIn: {origin}\nconfiguredBy:\n  apiVersion: builtin\n  kind: {}Generator\n", r.kind())
                    } else {
                        format!("path: {origin}\n")
                    };
                    insert_meta_string(r, "annotations", "config.kubernetes.io/origin", &text);
                }
            }
            "transformerAnnotations" => {}
            other => {
                return Err(Error::new(
                    ErrorKind::Kustomization,
                    format!("buildMetadata option '{other}' is not one of managedByLabel, originAnnotations, transformerAnnotations"),
                ))
            }
        }
    }
    Ok(())
}

fn insert_meta_string(r: &mut Resource, map: &str, key: &str, value: &str) {
    let md = r.metadata_mut();
    let m = md.entry(map).or_insert_with(|| Value::Object(Map::new()));
    if !m.is_object() {
        *m = Value::Object(Map::new());
    }
    if let Value::Object(m) = m {
        m.insert(key.to_string(), Value::String(value.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn annotations_become_strings_and_empty_maps_go() {
        // Checked with kubectl kustomize: {x: 1, y: true, z: null} -> "1", "true", "null"; {} removed.
        let Value::Object(a) = json!({"metadata": {"name": "a", "annotations": {}, "labels": {}}}) else { panic!() };
        let Value::Object(b) =
            json!({"metadata": {"name": "b", "annotations": {"x": 1, "y": true, "z": null}, "labels": {"x": 1}}})
        else {
            panic!()
        };
        let mut rs = vec![Resource::new(a), Resource::new(b)];
        stringify_annotations(&mut rs);
        assert_eq!(Value::Object(rs[0].obj.clone()), json!({"metadata": {"name": "a", "labels": {}}}));
        assert_eq!(
            Value::Object(rs[1].obj.clone()),
            json!({"metadata": {"name": "b", "annotations": {"x": "1", "y": "true", "z": "null"}, "labels": {"x": 1}}})
        );
    }
}
