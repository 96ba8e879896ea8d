//! Resource files -> [`Resource`]s (docs/kustomize-semantics.md §1 "Reading
//! resource files"): every non-empty document must be an object with `kind` and
//! `metadata.name`; `kind: List` is flattened into its items.

use crate::render::error::{Error, ErrorKind, Result};
use crate::render::load::Loader;
use crate::render::resource::Resource;
use serde_json::Value;
use std::path::Path;

/// The resources of one file, in document order.
pub fn read_file(loader: &Loader<'_>, path: &Path) -> Result<Vec<Resource>> {
    let shown = loader.display(path);
    let origin = loader.relative(path);
    let mut out = Vec::new();
    for doc in loader.read_documents(path)? {
        let line = doc.line;
        to_resources(doc.value, &origin, &mut out).map_err(|e| e.in_file(&shown).at_line(line))?;
    }
    Ok(out)
}

/// Validates one document and appends its object(s).
pub fn to_resources(value: Value, origin: &str, out: &mut Vec<Resource>) -> Result<()> {
    let obj = match value {
        Value::Null => return Ok(()),
        Value::Object(m) => m,
        other => {
            return Err(Error::new(
                ErrorKind::Resource,
                format!("expected a Kubernetes object (a YAML mapping), found {}", kind_of(&other)),
            ))
        }
    };
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    if kind.is_empty() {
        return Err(Error::new(
            ErrorKind::Resource,
            "missing kind in object; every resource needs apiVersion, kind and metadata.name",
        ));
    }
    if kind == "List" || (kind.ends_with("List") && obj.get("items").is_some_and(Value::is_array)) {
        if let Some(Value::Array(items)) = obj.get("items") {
            for item in items {
                to_resources(item.clone(), origin, out)?;
            }
        }
        return Ok(());
    }
    let name = obj.get("metadata").and_then(|m| m.get("name")).and_then(Value::as_str).unwrap_or_default();
    if name.is_empty() {
        return Err(Error::new(ErrorKind::Resource, format!("missing metadata.name in {kind} object")));
    }
    if let Some(md) = obj.get("metadata") {
        if !md.is_object() {
            return Err(Error::new(ErrorKind::Resource, "metadata must be a mapping"));
        }
    }
    out.push(Resource::with_origin(obj, origin));
    Ok(())
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "a list",
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        _ => "something else",
    }
}
