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
            let gvks: Vec<String> = self.field_specs.iter().map(|s| s.gvk().api_version_kind()).collect();
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
