//! The kustomization file exactly as written (Kustomize v5.5 `types.Kustomization`),
//! decoded the way Kustomize does: YAML -> JSON -> struct with unknown fields
//! rejected and keys matched case-insensitively, as Go's JSON decoder matches them
//! (docs/kustomize-semantics.md §1). No defaults are resolved here; the build does that.

use crate::render::error::{Error, ErrorKind, Result};
use crate::render::kustomize::fieldspec::FieldSpec;
use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::{Map, Value};

/// Names the kustomization file may have, in lookup order.
pub const FILE_NAMES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// `kind:` of a kustomization file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum KustKind {
    /// `Kustomization` (the default).
    #[default]
    Kustomization,
    /// `Component`.
    Component,
}

/// A kustomization file as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Kustomization {
    pub api_version: Option<String>,
    pub kind: Option<String>,
    pub metadata: Option<Value>,
    pub openapi: Option<IndexMap<String, String>>,
    pub name_prefix: Option<String>,
    pub name_suffix: Option<String>,
    pub namespace: Option<String>,
    pub common_labels: Option<IndexMap<String, Value>>,
    pub labels: Option<Vec<Label>>,
    pub common_annotations: Option<IndexMap<String, Value>>,
    pub patches_strategic_merge: Option<Vec<String>>,
    #[serde(rename = "patchesJson6902")]
    pub patches_json6902: Option<Vec<Patch>>,
    pub patches: Option<Vec<Patch>>,
    pub images: Option<Vec<Image>>,
    pub image_tags: Option<Vec<Image>>,
    pub replacements: Option<Vec<ReplacementEntry>>,
    pub replicas: Option<Vec<Replica>>,
    pub vars: Option<Vec<Var>>,
    pub sort_options: Option<SortOptions>,
    pub resources: Option<Vec<String>>,
    pub components: Option<Vec<String>>,
    pub crds: Option<Vec<String>>,
    pub bases: Option<Vec<String>>,
    pub config_map_generator: Option<Vec<GeneratorArgs>>,
    pub secret_generator: Option<Vec<GeneratorArgs>>,
    pub helm_globals: Option<Value>,
    pub helm_charts: Option<Vec<Value>>,
    pub helm_chart_inflation_generator: Option<Vec<Value>>,
    pub generator_options: Option<GeneratorOptions>,
    pub configurations: Option<Vec<String>>,
    pub generators: Option<Vec<String>>,
    pub transformers: Option<Vec<String>>,
    pub validators: Option<Vec<String>>,
    pub build_metadata: Option<Vec<String>>,
}

/// An entry of `labels:`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Label {
    /// Label key/values.
    #[serde(default)]
    pub pairs: IndexMap<String, Value>,
    /// Also set selectors (behaves like commonLabels).
    #[serde(default)]
    pub include_selectors: bool,
    /// Also set pod-template labels.
    #[serde(default)]
    pub include_templates: bool,
    /// Extra field specs.
    #[serde(default)]
    pub fields: Vec<FieldSpec>,
}

/// A `patches:` / `patchesJson6902:` entry.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Patch {
    /// File holding the patch.
    pub path: Option<String>,
    /// Inline patch text.
    pub patch: Option<String>,
    /// Which objects to patch.
    pub target: Option<Selector>,
    /// `allowNameChange`, `allowKindChange`.
    #[serde(default)]
    pub options: IndexMap<String, bool>,
}

/// Object selector of patches and replacements (§4.1): regexes for patches.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Selector {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub label_selector: String,
    #[serde(default)]
    pub annotation_selector: String,
}

/// An `images:` entry.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Image {
    #[serde(default)]
    pub name: String,
    pub new_name: Option<String>,
    pub new_tag: Option<String>,
    pub digest: Option<String>,
    pub tag_suffix: Option<String>,
}

/// A `replicas:` entry.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Replica {
    /// Object name (original or current).
    #[serde(default)]
    pub name: String,
    /// Replica count.
    #[serde(default)]
    pub count: i64,
}

/// A `vars:` entry (legacy, §9).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Var {
    pub name: String,
    pub objref: ObjRef,
    #[serde(default)]
    pub fieldref: FieldRef,
}

/// Object reference of a var.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct ObjRef {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
}

/// Field of a var (`metadata.name` by default).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldRef {
    /// Dot-separated path. Kustomize's JSON name is `fieldPath`; vars usually spell
    /// it `fieldpath`, which Go's case-insensitive decoding accepts.
    #[serde(default, rename = "fieldPath", alias = "fieldpath")]
    pub fieldpath: String,
}

/// `sortOptions:`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct SortOptions {
    #[serde(default)]
    pub order: String,
    pub legacy_sort_options: Option<LegacySortOptions>,
}

/// `sortOptions.legacySortOptions`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct LegacySortOptions {
    #[serde(default)]
    pub order_first: Vec<String>,
    #[serde(default)]
    pub order_last: Vec<String>,
}

/// A `configMapGenerator` / `secretGenerator` entry.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct GeneratorArgs {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub behavior: String,
    #[serde(default)]
    pub literals: Vec<String>,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub envs: Vec<String>,
    /// Legacy singular form, appended to `envs` at load time.
    #[serde(default)]
    pub env: String,
    pub options: Option<GeneratorOptions>,
    /// Secret type (secretGenerator only).
    #[serde(default, rename = "type")]
    pub secret_type: String,
}

/// `generatorOptions:` and a generator's `options:`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct GeneratorOptions {
    #[serde(default)]
    pub labels: IndexMap<String, String>,
    #[serde(default)]
    pub annotations: IndexMap<String, String>,
    #[serde(default)]
    pub disable_name_suffix_hash: bool,
    #[serde(default)]
    pub immutable: bool,
}

/// A `replacements:` entry: inline, or `path:` to a file of them.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplacementEntry {
    /// File holding a list of replacements.
    pub path: Option<String>,
    /// Inline source.
    pub source: Option<ReplacementSource>,
    /// Inline targets.
    #[serde(default)]
    pub targets: Vec<ReplacementTarget>,
}

/// A replacement as found in a file or inline.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Replacement {
    /// Where the value comes from.
    pub source: Option<ReplacementSource>,
    /// Where it goes.
    #[serde(default)]
    pub targets: Vec<ReplacementTarget>,
}

/// `replacements[].source`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct ReplacementSource {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub field_path: String,
    pub options: Option<FieldOptions>,
}

/// `replacements[].targets[]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct ReplacementTarget {
    pub select: Option<Selector>,
    #[serde(default)]
    pub reject: Vec<Selector>,
    #[serde(default)]
    pub field_paths: Vec<String>,
    pub options: Option<FieldOptions>,
}

/// `options` of replacement sources and targets.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct FieldOptions {
    #[serde(default)]
    pub delimiter: String,
    #[serde(default)]
    pub index: i64,
    #[serde(default)]
    pub encoding: String,
    #[serde(default)]
    pub create: bool,
}

/// Every field name of [`Kustomization`] as written in YAML, for case-insensitive matching.
const FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "openapi",
    "namePrefix",
    "nameSuffix",
    "namespace",
    "commonLabels",
    "labels",
    "commonAnnotations",
    "patchesStrategicMerge",
    "patchesJson6902",
    "patches",
    "images",
    "imageTags",
    "replacements",
    "replicas",
    "vars",
    "sortOptions",
    "resources",
    "components",
    "crds",
    "bases",
    "configMapGenerator",
    "secretGenerator",
    "helmGlobals",
    "helmCharts",
    "helmChartInflationGenerator",
    "generatorOptions",
    "configurations",
    "generators",
    "transformers",
    "validators",
    "buildMetadata",
];

impl Kustomization {
    /// Decodes a parsed kustomization document; `file` names it in errors.
    pub fn from_value(doc: Value, file: &str) -> Result<Kustomization> {
        let mut map = match doc {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            _ => {
                return Err(
                    Error::new(ErrorKind::Kustomization, "the kustomization must be a YAML mapping").in_file(file)
                )
            }
        };
        map = canonical_keys(map);
        let only_type_fields = map.keys().all(|k| k == "apiVersion" || k == "kind");
        if only_type_fields {
            return Err(Error::new(ErrorKind::Kustomization, "kustomization.yaml is empty").in_file(file));
        }
        let k: Kustomization = serde_json::from_value(Value::Object(map)).map_err(|e| {
            Error::new(ErrorKind::Kustomization, format!("json: {}", go_like(&e.to_string()))).in_file(file)
        })?;
        k.check_kind(file)?;
        Ok(k.normalized())
    }

    fn check_kind(&self, file: &str) -> Result<()> {
        let kind = self.kind.as_deref().unwrap_or("Kustomization");
        let (want_api, kind_name) = match kind {
            "" | "Kustomization" => ("kustomize.config.k8s.io/v1beta1", "Kustomization"),
            "Component" => ("kustomize.config.k8s.io/v1alpha1", "Component"),
            _ => {
                return Err(
                    Error::new(ErrorKind::Kustomization, "kind should be Kustomization or Component").in_file(file)
                )
            }
        };
        match self.api_version.as_deref() {
            None | Some("") => Ok(()),
            Some(v) if v == want_api => Ok(()),
            Some(_) => {
                Err(Error::new(ErrorKind::Kustomization, format!("apiVersion for {kind_name} should be {want_api}"))
                    .in_file(file))
            }
        }
    }

    /// Kustomization or Component.
    pub fn kust_kind(&self) -> KustKind {
        match self.kind.as_deref() {
            Some("Component") => KustKind::Component,
            _ => KustKind::Kustomization,
        }
    }

    /// Load-time normalisation (§1): bases after resources, imageTags after images,
    /// generator `env` appended to `envs`.
    fn normalized(mut self) -> Kustomization {
        if let Some(bases) = self.bases.take() {
            self.resources.get_or_insert_with(Vec::new).extend(bases);
        }
        if let Some(tags) = self.image_tags.take() {
            self.images.get_or_insert_with(Vec::new).extend(tags);
        }
        for g in self.config_map_generator.iter_mut().chain(self.secret_generator.iter_mut()).flatten() {
            if !g.env.is_empty() {
                g.envs.push(std::mem::take(&mut g.env));
            }
        }
        self
    }

    /// Deprecated fields in use, for the stderr warnings kubectl prints.
    pub fn deprecations(&self) -> Vec<(&'static str, &'static str)> {
        let mut out = Vec::new();
        if self.common_labels.is_some() {
            out.push(("commonLabels", "labels"));
        }
        if self.patches_strategic_merge.is_some() {
            out.push(("patchesStrategicMerge", "patches"));
        }
        if self.patches_json6902.is_some() {
            out.push(("patchesJson6902", "patches"));
        }
        if self.vars.is_some() {
            out.push(("vars", "replacements"));
        }
        out
    }
}

/// Field names of the nested structs (labels entries, patches, selectors, images,
/// replicas, vars, generators, replacements, sort options, field specs).
const NESTED_FIELDS: &[&str] = &[
    "pairs",
    "includeSelectors",
    "includeTemplates",
    "fields",
    "group",
    "version",
    "kind",
    "path",
    "create",
    "patch",
    "target",
    "options",
    "name",
    "namespace",
    "labelSelector",
    "annotationSelector",
    "newName",
    "newTag",
    "digest",
    "tagSuffix",
    "count",
    "objref",
    "fieldref",
    "apiVersion",
    "order",
    "legacySortOptions",
    "orderFirst",
    "orderLast",
    "behavior",
    "literals",
    "files",
    "envs",
    "env",
    "type",
    "labels",
    "annotations",
    "disableNameSuffixHash",
    "immutable",
    "source",
    "targets",
    "fieldPath",
    "select",
    "reject",
    "fieldPaths",
    "delimiter",
    "index",
    "encoding",
];

/// Values that are user data (label/annotation maps, free-form configs): their keys
/// are never renamed.
const USER_DATA: &[&str] = &[
    "commonLabels",
    "commonAnnotations",
    "pairs",
    "openapi",
    "metadata",
    "helmGlobals",
    "helmCharts",
    "helmChartInflationGenerator",
];

/// Renames keys that match a known field case-insensitively to the field's spelling,
/// at every level, as Go's JSON decoder matches struct fields.
fn canonical_keys(map: Map<String, Value>) -> Map<String, Value> {
    canonical_map(map, FIELDS)
}

fn canonical_map(map: Map<String, Value>, fields: &[&str]) -> Map<String, Value> {
    map.into_iter()
        .map(|(k, v)| {
            let k = fields.iter().find(|f| f.eq_ignore_ascii_case(&k)).map(|f| f.to_string()).unwrap_or(k);
            let keep = USER_DATA.contains(&k.as_str())
                || (matches!(k.as_str(), "labels" | "annotations" | "options")
                    && v.is_object()
                    && fields == NESTED_FIELDS);
            let v = if keep { v } else { canonical_value(v) };
            (k, v)
        })
        .collect()
}

fn canonical_value(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(canonical_map(m, NESTED_FIELDS)),
        Value::Array(items) => Value::Array(items.into_iter().map(canonical_value).collect()),
        other => other,
    }
}

/// serde says `unknown field `x`, expected one of ...`; Kustomize says `unknown field "x"`.
fn go_like(msg: &str) -> String {
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        if let Some((name, _)) = rest.split_once('`') {
            return format!("unknown field \"{name}\"");
        }
    }
    msg.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_rejected_like_kustomize() {
        let err =
            Kustomization::from_value(json!({"resources": [], "xyz": 1}), "k/kustomization.yaml").expect_err("unknown");
        assert_eq!(err.to_string(), "invalid kustomization: json: unknown field \"xyz\" (in k/kustomization.yaml)");
    }

    #[test]
    fn keys_match_case_insensitively() {
        let k = Kustomization::from_value(
            json!({"patchesJSON6902": [{"path": "p.yaml", "target": {"kind": "X"}}], "CommonLabels": {"a": "b"}}),
            "k",
        )
        .expect("decodes");
        assert_eq!(k.patches_json6902.map(|p| p.len()), Some(1));
        assert!(k.common_labels.is_some());
    }

    #[test]
    fn nested_keys_match_case_insensitively_but_user_data_keeps_its_keys() {
        let k = Kustomization::from_value(
            json!({"vars": [{"name": "V", "objRef": {"kind": "Service", "name": "s"}, "fieldRef": {"fieldPath": "metadata.name"}}],
                   "commonLabels": {"Name": "x"}}),
            "k",
        )
        .expect("decodes");
        assert_eq!(k.vars.expect("vars")[0].fieldref.fieldpath, "metadata.name");
        assert!(k.common_labels.expect("labels").contains_key("Name"));
    }

    #[test]
    fn replacement_field_path_and_var_fieldpath_both_decode() {
        let k = Kustomization::from_value(
            json!({"replacements": [{"source": {"kind": "Service", "name": "s", "fieldPath": ".metadata.name"},
                                     "targets": [{"select": {"kind": "X"}, "fieldPaths": ["spec.a"]}]}],
                   "vars": [{"name": "V", "objref": {"kind": "Service", "name": "s"}, "fieldref": {"fieldpath": "metadata.namespace"}}]}),
            "k",
        )
        .expect("decodes");
        assert_eq!(k.vars.expect("vars")[0].fieldref.fieldpath, "metadata.namespace");
        assert_eq!(k.replacements.map(|r| r.len()), Some(1));
    }

    #[test]
    fn bases_follow_resources_and_env_joins_envs() {
        let k = Kustomization::from_value(
            json!({"bases": ["b"], "resources": ["r"], "configMapGenerator": [{"name": "x", "env": "a.env", "envs": ["b.env"]}]}),
            "k",
        )
        .expect("decodes");
        assert_eq!(k.resources, Some(vec!["r".to_string(), "b".to_string()]));
        assert_eq!(k.config_map_generator.expect("gen")[0].envs, vec!["b.env", "a.env"]);
    }

    #[test]
    fn empty_and_wrong_kind_are_errors() {
        let e = Kustomization::from_value(json!({"kind": "Kustomization"}), "k").expect_err("empty");
        assert!(e.to_string().contains("kustomization.yaml is empty"));
        let e = Kustomization::from_value(json!({"kind": "Foo", "resources": []}), "k").expect_err("kind");
        assert!(e.to_string().contains("kind should be Kustomization or Component"));
    }

    #[test]
    fn string_patches_give_the_type_error() {
        let e = Kustomization::from_value(json!({"patches": ["p.yaml"]}), "k").expect_err("type");
        assert!(e.to_string().contains("invalid type: string"), "{e}");
    }
}
