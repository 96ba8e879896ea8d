//! `namePrefix:` / `nameSuffix:` (docs/kustomize-semantics.md §3): rename objects,
//! remembering the old id and the affix so name references can be fixed later (§7).

use crate::render::error::Result;
use crate::render::kustomize::fieldspec::{walk, FieldSpec};
use crate::render::resource::Resource;
use serde_json::Value;

/// Which end of the name the affix goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Affix {
    /// `namePrefix`.
    Prefix,
    /// `nameSuffix`.
    Suffix,
}

/// Adds a prefix or suffix to names at the field specs.
#[derive(Clone, Debug)]
pub struct NameAffixTransformer {
    /// Prefix or suffix.
    pub affix: Affix,
    /// The text to add.
    pub text: String,
    /// Where names live (`metadata/name` by default).
    pub field_specs: Vec<FieldSpec>,
}

/// Kinds whose names Kustomize never prefixes or suffixes.
fn skipped(res: &Resource) -> bool {
    let gvk = res.gvk();
    matches!(gvk.kind.as_str(), "CustomResourceDefinition" | "Namespace")
        || (gvk.kind == "APIService" && gvk.group == "apiregistration.k8s.io")
}

impl NameAffixTransformer {
    /// Renames every object the field specs select.
    pub fn apply(&self, resources: &mut [Resource]) -> Result<()> {
        if self.text.is_empty() {
            return Ok(());
        }
        for res in resources.iter_mut() {
            if skipped(res) {
                continue;
            }
            let gvk = res.gvk();
            for spec in self.field_specs.iter().filter(|s| s.applies_to(&gvk)) {
                let segments = spec.segments();
                if segments == ["metadata", "name"] {
                    let new_name = match self.affix {
                        Affix::Prefix => format!("{}{}", self.text, res.name()),
                        Affix::Suffix => format!("{}{}", res.name(), self.text),
                    };
                    res.rename(&new_name);
                    continue;
                }
                let mut node = Value::Object(std::mem::take(&mut res.obj));
                walk(&mut node, &segments, spec.create, &mut |leaf| {
                    if let Value::String(s) = leaf {
                        *s = match self.affix {
                            Affix::Prefix => format!("{}{s}", self.text),
                            Affix::Suffix => format!("{s}{}", self.text),
                        };
                    }
                    Ok(())
                })?;
                if let Value::Object(m) = node {
                    res.obj = m;
                }
            }
            match self.affix {
                Affix::Prefix => res.meta.prefixes.push(self.text.clone()),
                Affix::Suffix => res.meta.suffixes.push(self.text.clone()),
            }
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
    fn prefix_nests_and_skips_crds_and_namespaces() {
        let mut rs = vec![
            res(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})),
            res(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}})),
            res(
                json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "a.b"}}),
            ),
        ];
        let specs = FieldSpecTables::builtin().name_prefix;
        let base = NameAffixTransformer { affix: Affix::Prefix, text: "base-".into(), field_specs: specs.clone() };
        let overlay = NameAffixTransformer { affix: Affix::Prefix, text: "prod-".into(), field_specs: specs };
        base.apply(&mut rs).expect("applies");
        overlay.apply(&mut rs).expect("applies");
        assert_eq!(rs[0].name(), "prod-base-c");
        assert!(rs[0].had_name("c") && rs[0].had_name("base-c"));
        assert_eq!(rs[0].meta.prefixes, vec!["base-", "prod-"]);
        assert_eq!(rs[1].name(), "n");
        assert_eq!(rs[2].name(), "a.b");
    }

    #[test]
    fn suffix_appends() {
        let mut rs = vec![res(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}))];
        let t = NameAffixTransformer {
            affix: Affix::Suffix,
            text: "-v2".into(),
            field_specs: FieldSpecTables::builtin().name_suffix,
        };
        t.apply(&mut rs).expect("applies");
        assert_eq!(rs[0].name(), "s-v2");
    }
}
