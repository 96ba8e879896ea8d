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

/// Reads one `crds:` file: a map of OpenAPI definitions (`{name: {Schema: ...}}`).
/// For each definition that looks like a Kubernetes type (has `kind`, `apiVersion`,
/// `metadata` properties), its properties — and, through `$ref`, the properties of
/// referenced definitions — may carry `x-kubernetes-annotation`,
/// `x-kubernetes-label-selector`, `x-kubernetes-identity` (name prefix) and
/// `x-kubernetes-object-ref-api-version` + `-kind` (+ `-name-key`, default `name`),
/// which add field specs for the definition's kind.
pub fn load_crd(loader: &Loader<'_>, dir: &Path, rel: &str) -> Result<FieldSpecTables> {
    let path = normalize(&dir.join(rel));
    check_in_root(loader.fs, dir, &path)?;
    let shown = loader.display(&path);
    let mut tables = FieldSpecTables::default();
    for doc in loader.read_documents(&path)? {
        let Value::Object(defs) = doc.value else { continue };
        for (def_name, def) in &defs {
            let Some(props) = schema_of(def).and_then(|s| s.get("properties")) else { continue };
            if !["kind", "apiVersion", "metadata"].iter().all(|k| props.get(k).is_some()) {
                continue;
            }
            if def_name.split('.').count() < 3 {
                return Err(Error::new(
                    ErrorKind::Kustomization,
                    format!(
                        "crd definition '{def_name}': `api` should be specified in dot notation: group.version.kind"
                    ),
                )
                .in_file(&shown));
            }
            let kind = def_name.rsplit('.').next().unwrap_or_default();
            collect(&defs, def_name, kind, &mut Vec::new(), &mut tables, 0);
        }
    }
    Ok(tables)
}

fn schema_of(def: &Value) -> Option<&Value> {
    let Value::Object(m) = def else { return None };
    m.iter().find(|(k, _)| k.eq_ignore_ascii_case("schema")).map(|(_, v)| v)
}

fn collect(
    defs: &serde_json::Map<String, Value>,
    type_name: &str,
    kind: &str,
    path: &mut Vec<String>,
    out: &mut FieldSpecTables,
    depth: usize,
) {
    // `$ref` chains are followed like Kustomize does; the depth bound guards against self-references.
    if depth > 32 {
        return;
    }
    let Some(Value::Object(props)) = defs.get(type_name).and_then(schema_of).and_then(|s| s.get("properties")) else {
        return;
    };
    for (name, prop) in props {
        path.push(name.clone());
        let spec = |p: &[String]| FieldSpec { kind: kind.to_string(), path: p.join("/"), ..FieldSpec::default() };
        if prop.get("x-kubernetes-annotation").is_some() {
            out.merge(&FieldSpecTables { common_annotations: vec![spec(path)], ..FieldSpecTables::default() });
        }
        if prop.get("x-kubernetes-label-selector").is_some() {
            out.merge(&FieldSpecTables { common_labels: vec![spec(path)], ..FieldSpecTables::default() });
        }
        if prop.get("x-kubernetes-identity").is_some() {
            out.merge(&FieldSpecTables { name_prefix: vec![spec(path)], ..FieldSpecTables::default() });
        }
        let version = prop.get("x-kubernetes-object-ref-api-version").and_then(Value::as_str);
        let ref_kind = prop.get("x-kubernetes-object-ref-kind").and_then(Value::as_str);
        if let (Some(version), Some(ref_kind)) = (version, ref_kind) {
            let name_key = prop.get("x-kubernetes-object-ref-name-key").and_then(Value::as_str).unwrap_or("name");
            let mut p = path.clone();
            p.push(name_key.to_string());
            let referenced =
                GvkSelector { kind: ref_kind.to_string(), version: version.to_string(), ..GvkSelector::default() };
            let rule = NameReference { referenced, referrers: vec![spec(&p)] };
            out.merge(&FieldSpecTables { name_reference: vec![rule], ..FieldSpecTables::default() });
        }
        if let Some(r) = prop.get("$ref").and_then(Value::as_str) {
            collect(defs, r, kind, path, out, depth + 1);
        }
        path.pop();
    }
}
