//! `labels`, `commonLabels` and `commonAnnotations` (docs/kustomize-semantics.md §3,
//! §8.1, §8.2): set string key/values in every map found at the field specs.

use crate::render::error::{Error, ErrorKind, Result};
use crate::render::kustomize::fieldspec::{walk, FieldSpec};
use crate::render::resource::Resource;
use indexmap::IndexMap;
use serde_json::{Map, Value};

/// Adds `pairs` at every field spec that applies to an object.
#[derive(Clone, Debug, Default)]
pub struct MetadataMapTransformer {
    /// Keys and values to set; values are always written as strings.
    pub pairs: IndexMap<String, String>,
    /// Where to set them.
    pub field_specs: Vec<FieldSpec>,
}

/// Kustomize writes label/annotation values as strings whatever their YAML type.
pub fn stringify_values(map: &IndexMap<String, Value>) -> IndexMap<String, String> {
    map.iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (k.clone(), s)
        })
        .collect()
}

impl MetadataMapTransformer {
    /// Applies the pairs to every resource.
    pub fn apply(&self, resources: &mut [Resource]) -> Result<()> {
        if self.pairs.is_empty() {
            return Ok(());
        }
        let mut sorted: Vec<(&String, &String)> = self.pairs.iter().collect();
        sorted.sort();
        for res in resources.iter_mut() {
            let gvk = res.gvk();
            let id = res.id();
            let mut node = Value::Object(std::mem::take(&mut res.obj));
            let mut result = Ok(());
            for spec in self.field_specs.iter().filter(|s| s.applies_to(&gvk)) {
                result = walk(&mut node, &spec.segments(), spec.create, &mut |leaf| {
                    if leaf.is_null() {
                        *leaf = Value::Object(Map::new());
                    }
                    let Value::Object(m) = leaf else {
                        return Err(Error::new(
                            ErrorKind::Transformer,
                            format!("expected a map at '{}' to add labels/annotations to", spec.path),
                        ));
                    };
                    for (k, v) in &sorted {
                        m.insert((*k).clone(), Value::String((*v).clone()));
                    }
                    Ok(())
                });
                if result.is_err() {
                    break;
                }
            }
            if let Value::Object(m) = node {
                res.obj = m;
            }
            result.map_err(|e| e.for_resource(&id))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::kustomize::fieldspec::FieldSpecTables;
    use serde_json::json;

    fn res(v: Value) -> Resource {
        let Value::Object(m) = v else { panic!("object") };
        Resource::new(m)
    }

    #[test]
    fn common_labels_reach_selectors_and_templates_as_strings() {
        let t = MetadataMapTransformer {
            pairs: stringify_values(
                &[("app".to_string(), json!("web")), ("tier".to_string(), json!(1))].into_iter().collect(),
            ),
            field_specs: FieldSpecTables::builtin().common_labels,
        };
        let mut rs = vec![res(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"template": {"spec": {"containers": []}}}}))];
        t.apply(&mut rs).expect("applies");
        assert_eq!(
            Value::Object(rs[0].obj.clone()),
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "d", "labels": {"app": "web", "tier": "1"}},
                "spec": {"template": {"spec": {"containers": []}, "metadata": {"labels": {"app": "web", "tier": "1"}}},
                         "selector": {"matchLabels": {"app": "web", "tier": "1"}}}})
        );
    }

    #[test]
    fn selectors_that_do_not_exist_are_not_created_when_create_is_false() {
        let t = MetadataMapTransformer {
            pairs: [("a".to_string(), "b".to_string())].into_iter().collect(),
            field_specs: FieldSpecTables::builtin().common_labels,
        };
        let mut rs = vec![res(json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {}}))];
        t.apply(&mut rs).expect("applies");
        assert_eq!(
            Value::Object(rs[0].obj.clone()),
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "labels": {"a": "b"}},
                   "spec": {"template": {"metadata": {"labels": {"a": "b"}}}}})
        );
    }
}
