//! The schema a strategic merge consults (docs/kustomize-semantics.md §4.2):
//! which lists merge by which keys. Built-in facts come from
//! `tables/mergekeys.tsv` (kyaml's Kubernetes v1.21.2 OpenAPI, reduced); a
//! kustomization's `openapi:` document replaces them, read the way kyaml reads
//! one (`definitions`, `$ref`, `x-kubernetes-group-version-kind`,
//! `x-kubernetes-patch-strategy`, `x-kubernetes-patch-merge-key`,
//! `x-kubernetes-list-map-keys`).

use serde_json::Value;
use std::collections::HashMap;
use std::sync::LazyLock;

/// One `field` row of the built-in table.
#[derive(Debug)]
pub(crate) struct FieldRow {
    child: Option<String>,
    /// `x-kubernetes-patch-strategy`, when the field has one.
    strategy: Option<String>,
    keys: Vec<String>,
}

/// The built-in schema facts: root type per apiVersion/kind, fields per type.
#[derive(Debug, Default)]
struct Table {
    roots: HashMap<(String, String), String>,
    fields: HashMap<(String, String), FieldRow>,
}

static BUILTIN: LazyLock<Table> = LazyLock::new(|| {
    let mut t = Table::default();
    let dash = |s: &str| if s == "-" || s.is_empty() { None } else { Some(s.to_string()) };
    for line in include_str!("../tables/mergekeys.tsv").lines().filter(|l| !l.starts_with('#')).skip(1) {
        match line.split('\t').collect::<Vec<_>>().as_slice() {
            ["kind", api_version, kind, root, ..] => {
                t.roots.insert((api_version.to_string(), kind.to_string()), root.to_string());
            }
            ["field", ty, field, child, strategy, keys, ..] => {
                let keys = dash(keys).map(|k| k.split(',').map(str::to_string).collect()).unwrap_or_default();
                t.fields.insert(
                    (ty.to_string(), field.to_string()),
                    FieldRow { child: dash(child), strategy: dash(strategy), keys },
                );
            }
            _ => {}
        }
    }
    t
});

/// Where the merge stands in the schema.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Node<'a> {
    /// No schema: nested objects carrying apiVersion/kind get theirs looked up.
    None,
    /// Known to the schema, but nothing below merges by key.
    Opaque,
    /// A built-in table type.
    Type(&'a str),
    /// A built-in list field (its strategy, keys and element type).
    List(&'a FieldRow),
    /// A node of a custom OpenAPI document (`doc` resolves `$ref`s).
    Custom { node: &'a Value, doc: &'a Value },
}

/// The schema a merge consults: the built-in table, or a custom document that
/// replaces it entirely (kyaml's `SetSchema` does the same).
#[derive(Clone, Copy, Debug)]
pub(crate) struct SchemaView<'a> {
    pub custom: Option<&'a Value>,
}

impl<'a> SchemaView<'a> {
    /// The schema of a whole object of this apiVersion/kind.
    pub(crate) fn root(&self, api_version: &str, kind: &str) -> Node<'a> {
        match self.custom {
            None => match BUILTIN.roots.get(&(api_version.to_string(), kind.to_string())) {
                Some(root) => Node::Type(root.as_str()),
                None => Node::None,
            },
            Some(doc) => custom_root(doc, api_version, kind),
        }
    }
}

fn custom_root<'a>(doc: &'a Value, api_version: &str, kind: &str) -> Node<'a> {
    let (group, version) = match api_version.rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    let Some(defs) = doc.get("definitions").and_then(Value::as_object) else { return Node::None };
    for def in defs.values() {
        let gvks = def.get("x-kubernetes-group-version-kind").and_then(Value::as_array);
        let hit = gvks.into_iter().flatten().any(|g| {
            let s = |k: &str| g.get(k).and_then(Value::as_str).unwrap_or("");
            s("group") == group && s("version") == version && s("kind") == kind
        });
        if hit {
            return Node::Custom { node: def, doc };
        }
    }
    Node::None
}

/// Follows `$ref: "#/definitions/x"` inside a custom document.
fn resolve<'a>(node: &'a Value, doc: &'a Value) -> &'a Value {
    let mut cur = node;
    for _ in 0..32 {
        let Some(r) = cur.get("$ref").and_then(Value::as_str) else { return cur };
        let Some(name) = r.strip_prefix("#/definitions/") else { return cur };
        match doc.get("definitions").and_then(|d| d.get(name)) {
            Some(next) => cur = next,
            None => return cur,
        }
    }
    cur
}

impl<'a> Node<'a> {
    /// The schema of field `key` of an object at this node.
    pub(crate) fn field(self, key: &str) -> Node<'a> {
        match self {
            Node::None => Node::None,
            Node::Opaque | Node::List(_) => Node::Opaque,
            Node::Type(ty) => match BUILTIN.fields.get(&(ty.to_string(), key.to_string())) {
                Some(row) if row.strategy.is_some() => Node::List(row),
                Some(FieldRow { child: Some(child), .. }) => Node::Type(child.as_str()),
                _ => Node::Opaque,
            },
            Node::Custom { node, doc } => {
                let node = resolve(node, doc);
                let prop = node
                    .get("properties")
                    .and_then(|p| p.get(key))
                    .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()));
                match prop {
                    Some(p) => Node::Custom { node: p, doc },
                    None => Node::Opaque,
                }
            }
        }
    }

    /// The schema of the elements of a list at this node.
    pub(crate) fn elements(self) -> Node<'a> {
        match self {
            Node::None => Node::None,
            Node::List(row) => row.child.as_deref().map_or(Node::Opaque, Node::Type),
            Node::Custom { node, doc } => match resolve(node, doc).get("items") {
                Some(items) => Node::Custom { node: items, doc },
                None => Node::Opaque,
            },
            _ => Node::Opaque,
        }
    }

    /// The merge keys of an associative list (empty for a list of scalars), or
    /// `None` when the list has no merge strategy and is replaced.
    pub(crate) fn merge_keys(self) -> Option<Vec<String>> {
        let (strategy, keys) = match self {
            Node::List(row) => (row.strategy.clone().unwrap_or_default(), row.keys.clone()),
            Node::Custom { node, doc } => {
                let node = if node.get("x-kubernetes-patch-strategy").is_some() { node } else { resolve(node, doc) };
                let strategy = node.get("x-kubernetes-patch-strategy").and_then(Value::as_str).unwrap_or("");
                let list_keys: Option<Vec<String>> = node
                    .get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect());
                let key = node.get("x-kubernetes-patch-merge-key").and_then(Value::as_str);
                let keys = list_keys.unwrap_or_else(|| key.map(|k| vec![k.to_string()]).unwrap_or_default());
                (strategy.to_string(), keys)
            }
            _ => return None,
        };
        strategy.split(',').any(|s| s == "merge").then_some(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list_keys(api_version: &str, kind: &str, path: &[&str]) -> Option<Vec<String>> {
        let mut node = SchemaView { custom: None }.root(api_version, kind);
        let (last, parents) = path.split_last()?;
        for p in parents {
            node = if *p == "[]" { node.elements() } else { node.field(p) };
        }
        node.field(last).merge_keys()
    }

    #[test]
    fn builtin_table_knows_workload_merge_keys() {
        let keys = |p: &[&str]| list_keys("apps/v1", "Deployment", p);
        assert_eq!(keys(&["spec", "template", "spec", "containers"]), Some(vec!["name".to_string()]));
        assert_eq!(
            keys(&["spec", "template", "spec", "containers", "[]", "ports"]),
            Some(vec!["containerPort".to_string(), "protocol".to_string()])
        );
        assert_eq!(keys(&["spec", "template", "spec", "tolerations"]), None);
        assert_eq!(keys(&["metadata", "finalizers"]), Some(vec![]));
        let cron = ["spec", "jobTemplate", "spec", "template", "spec", "volumes"];
        assert_eq!(list_keys("batch/v1beta1", "CronJob", &cron), Some(vec!["name".to_string()]));
    }

    #[test]
    fn unknown_versions_and_ephemeral_ports_have_no_merge_keys() {
        assert_eq!(list_keys("apps/v1beta2", "Deployment", &["spec", "template", "spec", "containers"]), None);
        let eph = ["spec", "ephemeralContainers", "[]", "ports"];
        assert_eq!(list_keys("v1", "Pod", &eph), None);
        assert_eq!(
            list_keys("v1", "Pod", &["spec", "ephemeralContainers", "[]", "env"]),
            Some(vec!["name".to_string()])
        );
    }
}
