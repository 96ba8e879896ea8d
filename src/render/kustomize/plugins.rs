//! `transformers:`, `generators:` and `validators:` entries, and the patch and
//! replacement files a kustomization names (docs/kustomize-semantics.md §3, last rows).
//! Built-in plugin kinds (`apiVersion: builtin`) become the same transformer values
//! the kustomization's own fields produce; anything else is an external plugin,
//! which `kubectl kustomize` refuses without flags and kcmp refuses always.

use crate::render::error::{Error, ErrorKind, Result};
use crate::render::kustomize::fieldspec::{walk, FieldSpec, FieldSpecTables};
use crate::render::kustomize::generators::{self, GeneratorKind};
use crate::render::kustomize::kustomization::{
    GeneratorArgs, GeneratorOptions, Image, Replacement, ReplacementEntry, Replica, Selector,
};
use crate::render::kustomize::patch::PatchInput;
use crate::render::kustomize::selector::{self, Matching};
use crate::render::kustomize::transformers::images::ImageTransformer;
use crate::render::kustomize::transformers::metadata_map::{stringify_values, MetadataMapTransformer};
use crate::render::kustomize::transformers::name_affix::{Affix, NameAffixTransformer};
use crate::render::kustomize::transformers::namespace::NamespaceTransformer;
use crate::render::kustomize::transformers::replicas::ReplicaTransformer;
use crate::render::kustomize::transformers::Transformer;
use crate::render::kustomize::{inline_patch, resources};
use crate::render::load::{check_in_root, normalize, Loader};
use crate::render::resource::Resource;
use indexmap::IndexMap;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// A `patches`/`patchesJson6902` entry's text: from `path` or inline `patch`.
pub fn load_patch(loader: &Loader<'_>, dir: &Path, path: Option<&str>, patch: Option<&str>) -> Result<PatchInput> {
    match (path.filter(|p| !p.is_empty()), patch.filter(|p| !p.trim().is_empty())) {
        (Some(_), Some(_)) => Err(Error::new(ErrorKind::Patch, "patch and path can't be set at the same time")),
        (None, None) => Err(Error::new(ErrorKind::Patch, "must specify one of patch and path")),
        (Some(p), None) => load_patch_file(loader, dir, p),
        (None, Some(text)) => inline_patch(&format!("inline patch {:?}", head(text)), text),
    }
}

fn head(text: &str) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    one_line.chars().take(60).collect()
}

fn load_patch_file(loader: &Loader<'_>, dir: &Path, rel: &str) -> Result<PatchInput> {
    let path = normalize(&dir.join(rel));
    check_in_root(loader.fs, dir, &path).map_err(|e| e.in_file(loader.display(&path)))?;
    let docs =
        loader.read_documents(&path).map(|docs| docs.into_iter().map(|d| d.value).filter(|v| !v.is_null()).collect());
    crate::render::kustomize::patch::patch_input(loader.display(&path), docs, || loader.json_patch_ops(&path))
}

/// A `patchesStrategicMerge` entry: a file path, or the patch itself as YAML text.
pub fn load_patch_text_or_file(loader: &Loader<'_>, dir: &Path, entry: &str) -> Result<PatchInput> {
    if entry.contains('\n') || entry.trim_start().starts_with('{') {
        return inline_patch(&format!("inline patch {:?}", head(entry)), entry);
    }
    load_patch_file(loader, dir, entry)
}

/// A `replacements` entry: inline, or a file holding one replacement or a list.
pub fn load_replacement(loader: &Loader<'_>, dir: &Path, entry: &ReplacementEntry) -> Result<Vec<Replacement>> {
    match (&entry.path, &entry.source) {
        (Some(_), Some(_)) => Err(Error::new(
            ErrorKind::Replacement,
            "a replacements entry may have either 'path' or 'source'/'targets', not both",
        )),
        (None, _) => Ok(vec![Replacement { source: entry.source.clone(), targets: entry.targets.clone() }]),
        (Some(rel), None) => {
            let path = normalize(&dir.join(rel));
            check_in_root(loader.fs, dir, &path)?;
            let shown = loader.display(&path);
            let mut out = Vec::new();
            for doc in loader.read_documents(&path)? {
                let items = match doc.value {
                    Value::Null => continue,
                    Value::Array(items) => items,
                    other => vec![other],
                };
                for item in items {
                    out.push(decode::<Replacement>(item, "replacement").map_err(|e| e.in_file(&shown))?);
                }
            }
            Ok(out)
        }
    }
}

fn decode<T: DeserializeOwned>(v: Value, what: &str) -> Result<T> {
    serde_json::from_value(v).map_err(|e| Error::new(ErrorKind::Kustomization, format!("invalid {what}: {e}")))
}

/// The plugin config objects an entry names: inline YAML, a file, or a kustomization directory.
fn configs(loader: &Loader<'_>, dir: &Path, entry: &str, stack: &mut Vec<PathBuf>) -> Result<Vec<Resource>> {
    if entry.contains('\n') {
        let docs = crate::render::yaml::parse::parse_stream(entry)
            .map_err(|e| Error::new(ErrorKind::Kustomization, format!("inline plugin config: {}", e.message)))?;
        let mut out = Vec::new();
        for d in docs {
            resources::to_resources(d.value, "inline plugin config", &mut out)?;
        }
        return Ok(out);
    }
    let path = normalize(&dir.join(entry));
    if loader.fs.is_file(&path) {
        check_in_root(loader.fs, dir, &path)?;
        return resources::read_file(loader, &path);
    }
    if loader.fs.is_dir(&path) {
        return Ok(super::build_directory(loader, &path, None, stack)?.1.into_resources());
    }
    Err(Error::new(ErrorKind::Io, format!("'{entry}': {}: no such file or directory", path.display())))
}

fn external(kind: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!("external plugins disabled; unable to load external plugin '{kind}' (kcmp runs only built-in plugins)"),
    )
}

fn is_builtin(r: &Resource) -> bool {
    r.api_version() == "builtin" || r.api_version().is_empty()
}

/// Transformers configured by one `transformers:` entry.
pub fn transformers(
    loader: &Loader<'_>,
    dir: &Path,
    entry: &str,
    tables: &FieldSpecTables,
    stack: &mut Vec<PathBuf>,
) -> Result<Vec<Transformer>> {
    let mut out = Vec::new();
    for cfg in configs(loader, dir, entry, stack)? {
        if !is_builtin(&cfg) {
            return Err(external(cfg.kind()));
        }
        let kind = cfg.kind().to_string();
        let t = transformer(loader, dir, cfg, tables).map_err(|e| e.via(format!("{kind} configured by '{entry}'")))?;
        out.extend(t);
    }
    Ok(out)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PluginFields {
    #[serde(default)]
    field_specs: Vec<FieldSpec>,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    suffix: String,
    #[serde(default)]
    labels: IndexMap<String, Value>,
    #[serde(default)]
    annotations: IndexMap<String, Value>,
    image_tag: Option<Image>,
    replica: Option<Replica>,
    #[serde(default)]
    unset_only: bool,
    path: Option<String>,
    patch: Option<String>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    patches: String,
    json_op: Option<String>,
    target: Option<Selector>,
    #[serde(default)]
    options: IndexMap<String, bool>,
    #[serde(default)]
    replacements: Vec<ReplacementEntry>,
    value: Option<String>,
    #[serde(default)]
    targets: Vec<ValueAddTarget>,
}

#[derive(Deserialize, Default, Clone, Debug)]
#[serde(rename_all = "camelCase")]
struct ValueAddTarget {
    selector: Option<Selector>,
    #[serde(default)]
    field_path: String,
    #[serde(default)]
    file_path_position: usize,
}

fn specs_or(given: Vec<FieldSpec>, default: &[FieldSpec]) -> Vec<FieldSpec> {
    if given.is_empty() {
        default.to_vec()
    } else {
        given
    }
}

fn transformer(loader: &Loader<'_>, dir: &Path, cfg: Resource, tables: &FieldSpecTables) -> Result<Vec<Transformer>> {
    let kind = cfg.kind().to_string();
    let namespace = cfg.namespace().to_string();
    let f: PluginFields = decode(Value::Object(cfg.obj.clone()), &format!("{kind} config"))?;
    let t = match kind.as_str() {
        "NamespaceTransformer" => Transformer::Namespace(NamespaceTransformer {
            namespace,
            field_specs: f.field_specs,
            unset_only: f.unset_only,
        }),
        "PrefixTransformer" | "PrefixSuffixTransformer" if !f.prefix.is_empty() || kind == "PrefixTransformer" => {
            let mut out = vec![Transformer::NameAffix(NameAffixTransformer {
                affix: Affix::Prefix,
                text: f.prefix.clone(),
                field_specs: specs_or(f.field_specs.clone(), &tables.name_prefix),
            })];
            if !f.suffix.is_empty() {
                out.push(Transformer::NameAffix(NameAffixTransformer {
                    affix: Affix::Suffix,
                    text: f.suffix,
                    field_specs: specs_or(f.field_specs, &tables.name_suffix),
                }));
            }
            return Ok(out);
        }
        "SuffixTransformer" | "PrefixSuffixTransformer" => Transformer::NameAffix(NameAffixTransformer {
            affix: Affix::Suffix,
            text: f.suffix,
            field_specs: specs_or(f.field_specs, &tables.name_suffix),
        }),
        "LabelTransformer" => Transformer::MetadataMap(MetadataMapTransformer {
            pairs: stringify_values(&f.labels),
            field_specs: f.field_specs,
        }),
        "AnnotationsTransformer" => Transformer::MetadataMap(MetadataMapTransformer {
            pairs: stringify_values(&f.annotations),
            field_specs: f.field_specs,
        }),
        "ImageTagTransformer" => {
            let image =
                f.image_tag.ok_or_else(|| Error::new(ErrorKind::Transformer, "ImageTagTransformer needs imageTag"))?;
            Transformer::Image(ImageTransformer::new(image, specs_or(f.field_specs, &tables.images))?)
        }
        "ReplicaCountTransformer" => {
            let replica =
                f.replica.ok_or_else(|| Error::new(ErrorKind::Transformer, "ReplicaCountTransformer needs replica"))?;
            Transformer::Replicas(ReplicaTransformer {
                replica,
                field_specs: specs_or(f.field_specs, &tables.replicas),
            })
        }
        "PatchTransformer" => {
            let mut input = load_patch(loader, dir, f.path.as_deref(), f.patch.as_deref())?;
            input.target = f.target;
            input.allow_name_change = f.options.get("allowNameChange").copied().unwrap_or(false);
            input.allow_kind_change = f.options.get("allowKindChange").copied().unwrap_or(false);
            Transformer::Patch(input)
        }
        "PatchJson6902Transformer" => {
            let mut input = load_patch(loader, dir, f.path.as_deref(), f.json_op.as_deref())?;
            input.target = f.target;
            Transformer::PatchJson6902(input)
        }
        "PatchStrategicMergeTransformer" => {
            let mut out = Vec::new();
            for p in &f.paths {
                out.push(Transformer::PatchStrategicMerge(load_patch_text_or_file(loader, dir, p)?));
            }
            if !f.patches.trim().is_empty() {
                out.push(Transformer::PatchStrategicMerge(inline_patch("inline patches", &f.patches)?));
            }
            return Ok(out);
        }
        "ReplacementTransformer" => {
            let mut all = Vec::new();
            for r in &f.replacements {
                all.extend(load_replacement(loader, dir, r)?);
            }
            Transformer::Replacements(all)
        }
        "ValueAddTransformer" => {
            let value = f
                .value
                .clone()
                .unwrap_or_else(|| dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default());
            return Ok(vec![Transformer::ValueAdd(ValueAdd { value, targets: f.targets.clone() })]);
        }
        "HashTransformer" | "SortOrderTransformer" => return Ok(Vec::new()),
        other => return Err(external(other)),
    };
    Ok(vec![t])
}

/// `ValueAddTransformer`: writes a value (default: the kustomization directory's
/// name) at field paths, optionally as one segment of a `/`-separated path.
#[derive(Clone, Debug)]
pub struct ValueAdd {
    value: String,
    targets: Vec<ValueAddTarget>,
}

impl ValueAdd {
    /// Applies the value to every selected object.
    pub fn apply(&self, resources: &mut [Resource]) -> Result<()> {
        for target in &self.targets {
            for res in resources.iter_mut() {
                if let Some(sel) = &target.selector {
                    if !selector::selects(sel, res, Matching::Regex)? {
                        continue;
                    }
                }
                let segments = crate::render::kustomize::fieldspec::split_path(&target.field_path);
                let mut node = Value::Object(std::mem::take(&mut res.obj));
                walk(&mut node, &segments, true, &mut |leaf| {
                    let current = leaf.as_str().unwrap_or_default().to_string();
                    *leaf = Value::String(insert_segment(&current, &self.value, target.file_path_position));
                    Ok(())
                })?;
                if let Value::Object(m) = node {
                    res.obj = m;
                }
            }
        }
        Ok(())
    }
}

/// Position 0 replaces the value; position N (1-based) inserts as the N-th `/` segment.
fn insert_segment(current: &str, value: &str, position: usize) -> String {
    if position == 0 || current.is_empty() {
        return value.to_string();
    }
    let mut parts: Vec<&str> = current.split('/').collect();
    let at = (position - 1).min(parts.len());
    parts.insert(at, value);
    parts.join("/")
}

/// Objects generated by one `generators:` entry (built-in ConfigMap/Secret generators only).
pub fn generators(
    loader: &Loader<'_>,
    dir: &Path,
    entry: &str,
    global: Option<&GeneratorOptions>,
    stack: &mut Vec<PathBuf>,
) -> Result<Vec<Resource>> {
    let mut out = Vec::new();
    for cfg in configs(loader, dir, entry, stack)? {
        if !is_builtin(&cfg) {
            return Err(external(cfg.kind()));
        }
        let kind = match cfg.kind() {
            "ConfigMapGenerator" => GeneratorKind::ConfigMap,
            "SecretGenerator" => GeneratorKind::Secret,
            other => return Err(external(other)),
        };
        let mut fields: Map<String, Value> = cfg.obj.clone();
        for k in ["apiVersion", "kind", "metadata"] {
            fields.remove(k);
        }
        fields.insert("name".into(), Value::String(cfg.name().to_string()));
        if !cfg.namespace().is_empty() {
            fields.insert("namespace".into(), Value::String(cfg.namespace().to_string()));
        }
        let args: GeneratorArgs = decode(Value::Object(fields), "generator config")?;
        out.push(generators::generate(kind, &args, global, dir, loader)?);
    }
    Ok(out)
}

/// There are no built-in validators: any `validators:` entry is an external plugin.
pub fn refuse_validator(loader: &Loader<'_>, dir: &Path, entry: &str, stack: &mut Vec<PathBuf>) -> Result<()> {
    let cfgs = configs(loader, dir, entry, stack)?;
    match cfgs.first() {
        Some(cfg) => Err(external(cfg.kind())),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_add_inserts_path_segments() {
        assert_eq!(insert_segment("projects", "dog-222", 2), "projects/dog-222");
        assert_eq!(insert_segment("a/b", "x", 1), "x/a/b");
        assert_eq!(insert_segment("old", "new", 0), "new");
    }
}
