//! Resources as the engine sees them: an ordered JSON object plus the build
//! bookkeeping Kustomize keeps beside it (rename history, hash marker,
//! generator behaviour, origin). Plain data; every stage consumes and returns
//! `Vec<Resource>` (see docs/kustomize-semantics.md §1 and §7).

use serde_json::{Map, Value};
use std::fmt;

/// A group/version/kind triple, parsed from `apiVersion` + `kind`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gvk {
    /// API group; empty for the core group.
    pub group: String,
    /// API version; empty when the object has no `apiVersion`.
    pub version: String,
    /// Kind.
    pub kind: String,
}

impl Gvk {
    /// Splits an `apiVersion` the way Kubernetes does: `apps/v1` → (`apps`, `v1`), `v1` → (``, `v1`).
    pub fn from_api_version(api_version: &str, kind: &str) -> Gvk {
        let (group, version) = match api_version.rsplit_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), api_version.to_string()),
        };
        Gvk { group, version, kind: kind.to_string() }
    }

    /// The `apiVersion` string this GVK came from.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Kustomize's `Gvk.String()`: `Kind.version.group` with `[noVer]`/`[noGrp]`.
    pub fn kustomize_string(&self) -> String {
        let or = |s: &str, d: &str| if s.is_empty() { d.to_string() } else { s.to_string() };
        format!("{}.{}.{}", or(&self.kind, "[noKind]"), or(&self.version, "[noVer]"), or(&self.group, "[noGrp]"))
    }

    /// Whether Kustomize treats this GVK as cluster-scoped (exact apiVersion+kind table;
    /// unknown kinds are namespaced), docs/kustomize-tables/clusterscoped.tsv.
    pub fn is_cluster_scoped(&self) -> bool {
        crate::render::kustomize::fieldspec::is_cluster_scoped(&self.api_version(), &self.kind)
    }

    /// Kustomize's own matching rule for field specs and name references:
    /// every non-empty part of `self` (the selector) must equal the other's part.
    pub fn selects(&self, other: &Gvk) -> bool {
        (self.group.is_empty() || self.group == other.group)
            && (self.version.is_empty() || self.version == other.version)
            && (self.kind.is_empty() || self.kind == other.kind)
    }
}

/// A resource id: GVK plus name and namespace, as Kustomize's `ResId`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResId {
    /// Group/version/kind.
    pub gvk: Gvk,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`; empty when unset.
    pub namespace: String,
}

impl ResId {
    /// Builds an id from its parts.
    pub fn new(gvk: Gvk, name: &str, namespace: &str) -> ResId {
        ResId { gvk, name: name.to_string(), namespace: namespace.to_string() }
    }

    /// The namespace used when matching: `default` for namespaced objects without one
    /// (Kustomize's `EffectiveNamespace`), empty for cluster-scoped objects.
    pub fn effective_namespace(&self) -> &str {
        if self.gvk.is_cluster_scoped() {
            ""
        } else if self.namespace.is_empty() {
            "default"
        } else {
            &self.namespace
        }
    }
}

impl fmt::Display for ResId {
    /// Kustomize's `ResId.String()`: `Kind.version.group/name.namespace`, with
    /// `[noGrp]`, `[noVer]`, `[noNs]` placeholders, so messages read like kubectl's.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let or = |s: &str, d: &'static str| {
            if s.is_empty() {
                d.to_string()
            } else {
                s.to_string()
            }
        };
        write!(
            f,
            "{}.{}.{}/{}.{}",
            or(&self.gvk.kind, "[noKind]"),
            or(&self.gvk.version, "[noVer]"),
            or(&self.gvk.group, "[noGrp]"),
            or(&self.name, "[noName]"),
            or(&self.namespace, "[noNs]")
        )
    }
}

/// What a generator asked for when its object meets an existing one (§5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Behavior {
    /// Not generated, or `behavior: create` (the default).
    #[default]
    Create,
    /// Union the data into the existing object.
    Merge,
    /// Replace the existing object's data.
    Replace,
}

/// Bookkeeping Kustomize carries beside an object during a build; never emitted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BuildMeta {
    /// File the object was read from (relative to the build root), or the
    /// kustomization that generated it.
    pub origin: Option<String>,
    /// Ids this object had before each rename (prefix, suffix, namespace, patch),
    /// oldest first. The first entry is the original id.
    pub previous_ids: Vec<ResId>,
    /// Name prefixes applied, innermost (base) first.
    pub prefixes: Vec<String>,
    /// Name suffixes applied, innermost (base) first.
    pub suffixes: Vec<String>,
    /// Set on generated ConfigMaps/Secrets that get a content-hash suffix (§6).
    pub needs_hash: bool,
    /// Generator behaviour, for objects made by a generator.
    pub behavior: Behavior,
    /// Made by a generator (for origin annotations).
    pub generated: bool,
    /// Set once the hash suffix has been appended (the top level does it once).
    pub hashed: bool,
}

/// One Kubernetes object plus its build bookkeeping.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    /// The object, keys in the order they were read.
    pub obj: Map<String, Value>,
    /// Build bookkeeping (rename history, hash marker, origin).
    pub meta: BuildMeta,
}

impl Resource {
    /// Wraps a parsed object; no validation beyond the shape.
    pub fn new(obj: Map<String, Value>) -> Resource {
        Resource { obj, meta: BuildMeta::default() }
    }

    /// Wraps a parsed object and records where it came from.
    pub fn with_origin(obj: Map<String, Value>, origin: impl Into<String>) -> Resource {
        let mut r = Resource::new(obj);
        r.meta.origin = Some(origin.into());
        r
    }

    fn str_at(&self, path: &[&str]) -> &str {
        let mut cur = match path.split_first() {
            Some((first, _)) => self.obj.get(*first),
            None => None,
        };
        for key in path.iter().skip(1) {
            cur = cur.and_then(|v| v.get(*key));
        }
        cur.and_then(Value::as_str).unwrap_or("")
    }

    /// `apiVersion`, or empty.
    pub fn api_version(&self) -> &str {
        self.str_at(&["apiVersion"])
    }
    /// `kind`, or empty.
    pub fn kind(&self) -> &str {
        self.str_at(&["kind"])
    }
    /// `metadata.name`, or empty.
    pub fn name(&self) -> &str {
        self.str_at(&["metadata", "name"])
    }
    /// `metadata.namespace`, or empty.
    pub fn namespace(&self) -> &str {
        self.str_at(&["metadata", "namespace"])
    }
    /// The object's GVK.
    pub fn gvk(&self) -> Gvk {
        Gvk::from_api_version(self.api_version(), self.kind())
    }
    /// The object's current id.
    pub fn id(&self) -> ResId {
        ResId::new(self.gvk(), self.name(), self.namespace())
    }
    /// The id the object had when first read (before any rename).
    pub fn original_id(&self) -> ResId {
        self.meta.previous_ids.first().cloned().unwrap_or_else(|| self.id())
    }
    /// Current id followed by every previous one, newest first.
    pub fn all_ids(&self) -> Vec<ResId> {
        let mut ids = vec![self.id()];
        ids.extend(self.meta.previous_ids.iter().rev().cloned());
        ids
    }
    /// Whether the current or any previous name equals `name`.
    pub fn had_name(&self, name: &str) -> bool {
        self.name() == name || self.meta.previous_ids.iter().any(|id| id.name == name)
    }

    /// `metadata` as a mutable map, created when missing or not a map.
    pub fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        let md = self.obj.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
        if !md.is_object() {
            *md = Value::Object(Map::new());
        }
        match md {
            Value::Object(m) => m,
            _ => unreachable!("metadata was just made an object"),
        }
    }

    /// Records the current id in the rename history, then sets the new name.
    pub fn rename(&mut self, new_name: &str) {
        if new_name == self.name() {
            return;
        }
        self.remember_id();
        self.metadata_mut().insert("name".into(), Value::String(new_name.to_string()));
    }

    /// Records the current id in the rename history, then sets the namespace.
    pub fn set_namespace(&mut self, namespace: &str) {
        if namespace == self.namespace() {
            return;
        }
        self.remember_id();
        self.metadata_mut().insert("namespace".into(), Value::String(namespace.to_string()));
    }

    /// Pushes the current id onto the rename history (before a rename).
    pub fn remember_id(&mut self) {
        let id = self.id();
        if self.meta.previous_ids.last() != Some(&id) {
            self.meta.previous_ids.push(id);
        }
    }

    /// `metadata.labels` / `metadata.annotations` value for `key`.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.obj.get("metadata")?.get("annotations")?.get(key)?.as_str()
    }

    /// `metadata.labels[key]`.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.obj.get("metadata")?.get("labels")?.get(key)?.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn res(v: Value) -> Resource {
        match v {
            Value::Object(m) => Resource::new(m),
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn resid_prints_like_kustomize() {
        let r = res(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}));
        assert_eq!(r.id().to_string(), "ConfigMap.v1.[noGrp]/x.[noNs]");
        let r =
            res(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "n"}}));
        assert_eq!(r.id().to_string(), "Deployment.v1.apps/d.n");
    }

    #[test]
    fn rename_keeps_history_oldest_first() {
        let mut r = res(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}));
        r.rename("p-x");
        r.rename("q-p-x");
        assert_eq!(r.original_id().name, "x");
        assert!(r.had_name("p-x"));
        assert_eq!(r.name(), "q-p-x");
    }
}
