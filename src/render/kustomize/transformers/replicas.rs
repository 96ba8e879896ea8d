//! `replicas:` (docs/kustomize-semantics.md §8.5): set `spec.replicas` by object name.

use crate::render::error::{Error, ErrorKind, Result};
use crate::render::kustomize::fieldspec::{walk, FieldSpec};
use crate::render::kustomize::kustomization::Replica;
use crate::render::resource::Resource;
use serde_json::Value;

/// One `replicas:` entry with the field specs it applies at.
#[derive(Clone, Debug)]
pub struct ReplicaTransformer {
    /// Name and count.
    pub replica: Replica,
    /// Workload kinds and their replica fields.
    pub field_specs: Vec<FieldSpec>,
}

impl ReplicaTransformer {
    /// Sets the count on objects whose current or original name matches.
    pub fn apply(&self, resources: &mut [Resource]) -> Result<()> {
        let mut matched = false;
        for res in resources.iter_mut() {
            if !res.had_name(&self.replica.name) {
                continue;
            }
            let gvk = res.gvk();
            let mut node = Value::Object(std::mem::take(&mut res.obj));
            for spec in self.field_specs.iter().filter(|s| s.applies_to(&gvk)) {
                matched = true;
                walk(&mut node, &spec.segments(), spec.create, &mut |leaf| {
                    *leaf = Value::from(self.replica.count);
                    Ok(())
                })?;
            }
            if let Value::Object(m) = node {
                res.obj = m;
            }
        }
        if !matched {
            let gvks: Vec<String> = self.field_specs.iter().map(|s| s.gvk().kustomize_string()).collect();
            return Err(Error::new(
                ErrorKind::Transformer,
                format!(
                    "resource with name {} does not match a config with the following GVK [{}]",
                    self.replica.name,
                    gvks.join(" ")
                ),
            ));
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
    fn sets_count_by_original_name_after_a_prefix() {
        let mut r = res(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}));
        r.rename("p-web");
        let mut rs = vec![r, res(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}}))];
        let t = ReplicaTransformer {
            replica: Replica { name: "web".into(), count: 5 },
            field_specs: FieldSpecTables::builtin().replicas,
        };
        t.apply(&mut rs).expect("applies");
        assert_eq!(rs[0].obj["spec"], json!({"replicas": 5}));
        assert_eq!(rs[1].obj.get("spec"), None);
    }

    #[test]
    fn no_match_is_an_error_listing_the_kinds() {
        let mut rs = vec![res(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}}))];
        let t = ReplicaTransformer {
            replica: Replica { name: "nope".into(), count: 1 },
            field_specs: FieldSpecTables::builtin().replicas,
        };
        assert_eq!(
            t.apply(&mut rs).expect_err("no match").to_string(),
            "transformer failed: resource with name nope does not match a config with the following GVK [Deployment.[noVer].[noGrp] ReplicationController.[noVer].[noGrp] ReplicaSet.[noVer].[noGrp] StatefulSet.[noVer].[noGrp]]"
        );
    }
}
