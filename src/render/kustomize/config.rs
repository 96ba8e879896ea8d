//! `configurations:` and `crds:` files -> extra field specs (docs/kustomize-semantics.md §3).

use crate::render::error::{Error, ErrorKind, Result};
use crate::render::kustomize::fieldspec::{FieldSpec, FieldSpecTables, GvkSelector, NameReference};
use crate::render::load::{check_in_root, normalize, Loader};
use serde::Deserialize;
use serde_json::Value;
use std::path::Path;

/// A transformer configuration file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
struct TransformerConfig {
    #[serde(default)]
    name_prefix: Vec<FieldSpec>,
    #[serde(default)]
    name_suffix: Vec<FieldSpec>,
    #[serde(default)]
    namespace: Vec<FieldSpec>,
    #[serde(default)]
    common_labels: Vec<FieldSpec>,
    #[serde(default)]
    labels: Vec<FieldSpec>,
    #[serde(default)]
    template_labels: Vec<FieldSpec>,
    #[serde(default)]
    common_annotations: Vec<FieldSpec>,
    #[serde(default)]
    name_reference: Vec<NameReference>,
    #[serde(default)]
    var_reference: Vec<FieldSpec>,
    #[serde(default)]
    images: Vec<FieldSpec>,
    #[serde(default)]
    replicas: Vec<FieldSpec>,
}

/// Reads one `configurations:` file.
pub fn load_configuration(loader: &Loader<'_>, dir: &Path, rel: &str) -> Result<FieldSpecTables> {
    let path = normalize(&dir.join(rel));
    check_in_root(loader.fs, dir, &path)?;
    let shown = loader.display(&path);
    let mut tables = FieldSpecTables::default();
    for doc in loader.read_documents(&path)? {
        if doc.value.is_null() {
            continue;
        }
        let c: TransformerConfig = serde_json::from_value(doc.value).map_err(|e| {
            Error::new(ErrorKind::Kustomization, format!("invalid transformer configuration: {e}")).in_file(&shown)
        })?;
        let mut common_labels = c.common_labels;
        common_labels.extend(c.labels);
        tables.merge(&FieldSpecTables {
            common_labels,
            template_labels: c.template_labels,
            common_annotations: c.common_annotations,
            name_prefix: c.name_prefix,
            name_suffix: c.name_suffix,
            namespace: c.namespace,
            images: c.images,
            replicas: c.replicas,
            var_reference: c.var_reference,
            name_reference: c.name_reference,
        });
    }
    Ok(tables)
}

/// Reads one `crds:` file: OpenAPI definitions whose properties carry
/// `x-kubernetes-object-ref-kind` (+ `-api-version`) add name-reference rules.
pub fn load_crd(loader: &Loader<'_>, dir: &Path, rel: &str) -> Result<FieldSpecTables> {
    let path = normalize(&dir.join(rel));
    check_in_root(loader.fs, dir, &path)?;
    let mut tables = FieldSpecTables::default();
    for doc in loader.read_documents(&path)? {
        let Value::Object(defs) = doc.value else { continue };
        for (def_name, def) in defs {
            let kind = def_name.rsplit('.').next().unwrap_or_default().to_string();
            collect_refs(&def, &kind, "", &mut tables);
        }
    }
    Ok(tables)
}

fn collect_refs(schema: &Value, kind: &str, prefix: &str, tables: &mut FieldSpecTables) {
    let Some(Value::Object(props)) = schema.get("properties") else { return };
    for (name, prop) in props {
        let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
        if let Some(ref_kind) = prop.get("x-kubernetes-object-ref-kind").and_then(Value::as_str) {
            let referrer = FieldSpec { kind: kind.to_string(), path: path.clone(), ..FieldSpec::default() };
            let referenced = GvkSelector { kind: ref_kind.to_string(), ..GvkSelector::default() };
            let rule = NameReference { referenced, referrers: vec![referrer] };
            tables.merge(&FieldSpecTables { name_reference: vec![rule], ..FieldSpecTables::default() });
        }
        collect_refs(prop, kind, &path, tables);
    }
}
