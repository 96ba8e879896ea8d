//! Field specs: which field, in which kinds, a transformer touches
//! (docs/kustomize-semantics.md §8), the built-in tables (docs/kustomize-tables/*.tsv,
//! copied into `tables/`), and the one path walker every field-spec transformer uses.

use crate::render::error::Result;
use crate::render::resource::Gvk;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::sync::LazyLock;

/// One field spec: GVK selector, path and whether to create the field when missing.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct FieldSpec {
    /// API group selector; empty = any.
    #[serde(default)]
    pub group: String,
    /// API version selector; empty = any.
    #[serde(default)]
    pub version: String,
    /// Kind selector; empty = any.
    #[serde(default)]
    pub kind: String,
    /// `/`-separated path (`\/` escapes a slash inside a key; `[]` marks a list).
    pub path: String,
    /// Create missing fields along the path.
    #[serde(default)]
    pub create: bool,
}

impl FieldSpec {
    /// The GVK selector part.
    pub fn gvk(&self) -> Gvk {
        Gvk { group: self.group.clone(), version: self.version.clone(), kind: self.kind.clone() }
    }

    /// Whether this spec applies to an object of `gvk`.
    pub fn applies_to(&self, gvk: &Gvk) -> bool {
        self.gvk().selects(gvk)
    }

    /// The path split into segments.
    pub fn segments(&self) -> Vec<String> {
        split_path(&self.path)
    }
}

/// Splits a field-spec path at unescaped `/`.
pub fn split_path(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'/') => {
                cur.push('/');
                chars.next();
            }
            '/' => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().filter(|s| !s.is_empty()).collect()
}

/// Calls `leaf` on every node at `segments` below `node`. Lists met on the way are
/// traversed element-wise (with or without a `[]` suffix). With `create`, missing
/// maps are created, and a missing leaf is inserted as `null` for `leaf` to fill.
/// A leaf left `null` after a creating call is removed again.
pub fn walk(
    node: &mut Value,
    segments: &[String],
    create: bool,
    leaf: &mut dyn FnMut(&mut Value) -> Result<()>,
) -> Result<()> {
    let Some((head, rest)) = segments.split_first() else {
        return leaf(node);
    };
    if let Value::Array(items) = node {
        for item in items.iter_mut() {
            walk(item, segments, create, leaf)?;
        }
        return Ok(());
    }
    let Value::Object(map) = node else {
        return Ok(());
    };
    let (key, is_list) = match head.strip_suffix("[]") {
        Some(k) => (k, true),
        None => (head.as_str(), false),
    };
    if !map.contains_key(key) {
        if !create {
            return Ok(());
        }
        if rest.is_empty() {
            let mut v = Value::Null;
            leaf(&mut v)?;
            if !v.is_null() {
                map.insert(key.to_string(), v);
            }
            return Ok(());
        }
        if is_list {
            // Never invent list elements.
            return Ok(());
        }
        map.insert(key.to_string(), Value::Object(Map::new()));
    }
    let child = map.get_mut(key).expect("present: checked or inserted above");
    if child.is_null() && create && !rest.is_empty() {
        *child = Value::Object(Map::new());
    }
    walk(child, rest, create, leaf)
}

/// Field-spec groups of the built-in transformer config (the `set` column).
#[derive(Clone, Debug, Default)]
pub struct FieldSpecTables {
    /// `commonLabels` (selectors included).
    pub common_labels: Vec<FieldSpec>,
    /// `templateLabels` (metadata + pod templates).
    pub template_labels: Vec<FieldSpec>,
    /// `commonAnnotations`.
    pub common_annotations: Vec<FieldSpec>,
    /// `namePrefix`.
    pub name_prefix: Vec<FieldSpec>,
    /// `nameSuffix`.
    pub name_suffix: Vec<FieldSpec>,
    /// `namespace`.
    pub namespace: Vec<FieldSpec>,
    /// `images`.
    pub images: Vec<FieldSpec>,
    /// `replicas`.
    pub replicas: Vec<FieldSpec>,
    /// `varReference`.
    pub var_reference: Vec<FieldSpec>,
    /// `nameReference` rules.
    pub name_reference: Vec<NameReference>,
}

/// One name-reference rule: objects of `referenced` kind are referred to from
/// every field spec in `referrers`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NameReference {
    /// The referenced kind (group/version/kind selector).
    #[serde(flatten)]
    pub referenced: GvkSelector,
    /// Fields holding such names.
    #[serde(default, rename = "fieldSpecs")]
    pub referrers: Vec<FieldSpec>,
}

/// A GVK selector as written in transformer configs.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Default)]
pub struct GvkSelector {
    /// Group; empty = any.
    #[serde(default)]
    pub group: String,
    /// Version; empty = any.
    #[serde(default)]
    pub version: String,
    /// Kind; empty = any.
    #[serde(default)]
    pub kind: String,
}

impl GvkSelector {
    /// As a [`Gvk`] selector.
    pub fn gvk(&self) -> Gvk {
        Gvk { group: self.group.clone(), version: self.version.clone(), kind: self.kind.clone() }
    }
}

impl FieldSpecTables {
    /// The built-in defaults (Kustomize v5.5.0).
    pub fn builtin() -> FieldSpecTables {
        BUILTIN.clone()
    }

    /// Adds `other`'s specs (union, de-duplicated, order of first appearance kept).
    pub fn merge(&mut self, other: &FieldSpecTables) {
        fn union(into: &mut Vec<FieldSpec>, from: &[FieldSpec]) {
            let mut seen: HashSet<FieldSpec> = into.iter().cloned().collect();
            for fs in from {
                if seen.insert(fs.clone()) {
                    into.push(fs.clone());
                }
            }
        }
        union(&mut self.common_labels, &other.common_labels);
        union(&mut self.template_labels, &other.template_labels);
        union(&mut self.common_annotations, &other.common_annotations);
        union(&mut self.name_prefix, &other.name_prefix);
        union(&mut self.name_suffix, &other.name_suffix);
        union(&mut self.namespace, &other.namespace);
        union(&mut self.images, &other.images);
        union(&mut self.replicas, &other.replicas);
        union(&mut self.var_reference, &other.var_reference);
        for nr in &other.name_reference {
            match self.name_reference.iter_mut().find(|x| x.referenced == nr.referenced) {
                Some(existing) => union(&mut existing.referrers, &nr.referrers),
                None => self.name_reference.push(nr.clone()),
            }
        }
    }
}

static BUILTIN: LazyLock<FieldSpecTables> = LazyLock::new(parse_builtin);
static CLUSTER_SCOPED: LazyLock<HashSet<(String, String)>> = LazyLock::new(|| {
    rows(include_str!("tables/clusterscoped.tsv"))
        .filter_map(|cols| match cols.as_slice() {
            [api_version, kind, ..] => Some((api_version.to_string(), kind.to_string())),
            _ => None,
        })
        .collect()
});

/// Kustomize's cluster-scoped table: exact `apiVersion` + `kind`.
pub fn is_cluster_scoped(api_version: &str, kind: &str) -> bool {
    CLUSTER_SCOPED.contains(&(api_version.to_string(), kind.to_string()))
}

/// Data rows of a TSV table: comments and the header line skipped.
fn rows(tsv: &str) -> impl Iterator<Item = Vec<&str>> {
    tsv.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).skip(1).map(|l| l.split('\t').collect())
}

fn parse_builtin() -> FieldSpecTables {
    let mut t = FieldSpecTables::default();
    for cols in rows(include_str!("tables/fieldspecs.tsv")) {
        let [set, group, version, kind, path, create, ..] = cols.as_slice() else {
            continue;
        };
        let spec = FieldSpec {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
            path: path.to_string(),
            create: *create == "true",
        };
        let list = match *set {
            "commonLabels" => &mut t.common_labels,
            "templateLabels" => &mut t.template_labels,
            "commonAnnotations" => &mut t.common_annotations,
            "namePrefix" => &mut t.name_prefix,
            "nameSuffix" => &mut t.name_suffix,
            "namespace" => &mut t.namespace,
            "images" => &mut t.images,
            "replicas" => &mut t.replicas,
            "varReference" => &mut t.var_reference,
            _ => continue,
        };
        list.push(spec);
    }
    // commonLabels also covers every templateLabels path (§8.1) and metadata/labels.
    for cols in rows(include_str!("tables/namereference.tsv")) {
        let [rg, rv, rk, fg, fv, fk, path, ..] = cols.as_slice() else {
            continue;
        };
        let referenced = GvkSelector { group: rg.to_string(), version: rv.to_string(), kind: rk.to_string() };
        let spec = FieldSpec {
            group: fg.to_string(),
            version: fv.to_string(),
            kind: fk.to_string(),
            path: path.to_string(),
            create: false,
        };
        match t.name_reference.iter_mut().find(|nr| nr.referenced == referenced) {
            Some(nr) => nr.referrers.push(spec),
            None => t.name_reference.push(NameReference { referenced, referrers: vec![spec] }),
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builtin_tables_load_every_row() {
        let t = FieldSpecTables::builtin();
        assert_eq!(t.common_labels.len(), 32);
        assert_eq!(t.template_labels.len(), 10);
        assert_eq!(t.var_reference.len(), 72);
        let rows: usize = t.name_reference.iter().map(|nr| nr.referrers.len()).sum();
        assert_eq!(rows, 167);
        assert!(is_cluster_scoped("v1", "Namespace"));
        assert!(!is_cluster_scoped("v1", "ConfigMap"));
    }

    #[test]
    fn walk_visits_list_elements_and_creates_maps() {
        let mut v = json!({"spec": {"containers": [{"image": "a"}, {"image": "b"}]}});
        let mut seen = Vec::new();
        walk(&mut v, &split_path("spec/containers[]/image"), false, &mut |n| {
            seen.push(n.as_str().unwrap_or_default().to_string());
            Ok(())
        })
        .expect("walks");
        assert_eq!(seen, vec!["a", "b"]);

        let mut v = json!({"spec": {}});
        walk(&mut v, &split_path("spec/selector/matchLabels"), true, &mut |n| {
            *n = json!({"app": "x"});
            Ok(())
        })
        .expect("walks");
        assert_eq!(v, json!({"spec": {"selector": {"matchLabels": {"app": "x"}}}}));
    }

    #[test]
    fn escaped_slash_stays_in_key() {
        assert_eq!(split_path("metadata/annotations/a\\/b"), vec!["metadata", "annotations", "a/b"]);
    }
}
