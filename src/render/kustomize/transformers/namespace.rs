//! `namespace:` (docs/kustomize-semantics.md §3, §8.4): move every namespaced object
//! into one namespace, plus the fields that carry a namespace by convention.

use crate::render::error::{Error, ErrorKind, Result};
use crate::render::kustomize::fieldspec::{walk, FieldSpec};
use crate::render::resource::Resource;
use serde_json::Value;
use std::collections::HashSet;

/// Sets the namespace of namespaced objects and at the namespace field specs.
#[derive(Clone, Debug, Default)]
pub struct NamespaceTransformer {
    /// The target namespace.
    pub namespace: String,
    /// Extra places holding a namespace (Namespace name, APIService, CRD webhook, custom).
    pub field_specs: Vec<FieldSpec>,
    /// Only set where no namespace is set yet (`unsetOnly` of the plugin config).
    pub unset_only: bool,
}

impl NamespaceTransformer {
    /// Applies the namespace; fails if two objects end up with the same id.
    pub fn apply(&self, resources: &mut [Resource]) -> Result<()> {
        if self.namespace.is_empty() {
            return Ok(());
        }
        for res in resources.iter_mut() {
            let gvk = res.gvk();
            let before = res.id();
            let may_set = !self.unset_only || res.namespace().is_empty();
            if !gvk.is_cluster_scoped() && may_set {
                res.set_namespace(&self.namespace);
            }
            let mut node = Value::Object(std::mem::take(&mut res.obj));
            for spec in self.field_specs.iter().filter(|s| s.applies_to(&gvk)) {
                let segments = spec.segments();
                if segments == ["metadata", "namespace"] {
                    continue;
                }
                walk(&mut node, &segments, spec.create, &mut |leaf| {
                    if leaf.is_null() || leaf.is_string() {
                        *leaf = Value::String(self.namespace.clone());
                    }
                    Ok(())
                })?;
            }
            if let Value::Object(m) = node {
                res.obj = m;
            }
            // A v1 Namespace is renamed to the target namespace: keep the old id for references.
            if res.name() != before.name && !res.meta.previous_ids.contains(&before) {
                res.meta.previous_ids.push(before);
            }
            set_role_binding_subjects(res, &self.namespace);
        }
        check_unique(resources)
    }
}

/// RoleBinding/ClusterRoleBinding subjects named `default` follow the namespace
/// (Kustomize's `defaultOnly` subject mode; the subject kind is not checked, as kubectl shows).
fn set_role_binding_subjects(res: &mut Resource, namespace: &str) {
    if !matches!(res.kind(), "RoleBinding" | "ClusterRoleBinding") {
        return;
    }
    if let Some(Value::Array(subjects)) = res.obj.get_mut("subjects") {
        for s in subjects.iter_mut() {
            if let Value::Object(m) = s {
                if m.get("name").and_then(Value::as_str) == Some("default") {
                    m.insert("namespace".into(), Value::String(namespace.to_string()));
                }
            }
        }
    }
}

fn check_unique(resources: &[Resource]) -> Result<()> {
    let mut seen = HashSet::new();
    for r in resources {
        let id = r.id();
        let key = (id.gvk.clone(), id.name.clone(), id.effective_namespace().to_string());
        if !seen.insert(key) {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!("namespace transformation produces ID conflict: more than one object is now {id}"),
            ));
        }
    }
    Ok(())
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

    fn ns(namespace: &str) -> NamespaceTransformer {
        NamespaceTransformer {
            namespace: namespace.into(),
            field_specs: FieldSpecTables::builtin().namespace,
            unset_only: false,
        }
    }

    #[test]
    fn namespaced_objects_move_cluster_scoped_stay_and_namespace_objects_are_renamed() {
        // Checked with kubectl kustomize: Namespace `old` becomes `prod`, subjects named
        // `default` (any kind) get the namespace, ClusterRole untouched.
        let mut rs = vec![
            res(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "old"}})),
            res(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "x"}})),
            res(
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"}}),
            ),
            res(
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "rb"},
                "subjects": [{"kind": "User", "name": "default"}, {"kind": "ServiceAccount", "name": "sa", "namespace": "x"}]}),
            ),
        ];
        ns("prod").apply(&mut rs).expect("applies");
        assert_eq!(rs[0].name(), "prod");
        assert_eq!(rs[0].original_id().name, "old");
        assert_eq!(rs[1].namespace(), "prod");
        assert_eq!(rs[1].original_id().namespace, "x");
        assert_eq!(rs[2].namespace(), "");
        assert_eq!(
            rs[3].obj["subjects"],
            json!([{"kind": "User", "name": "default", "namespace": "prod"}, {"kind": "ServiceAccount", "name": "sa", "namespace": "x"}])
        );
    }

    #[test]
    fn colliding_objects_are_an_error() {
        let mut rs = vec![
            res(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "a"}})),
            res(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "b"}})),
        ];
        let err = ns("prod").apply(&mut rs).expect_err("conflict");
        assert_eq!(
            err.to_string(),
            "resource id conflict: namespace transformation produces ID conflict: more than one object is now ConfigMap.v1.[noGrp]/c.prod"
        );
    }
}
