//! Output order (docs/kustomize-semantics.md §10).

use crate::render::error::{Error, ErrorKind, Result};
use crate::render::kustomize::kustomization::SortOptions;
use crate::render::resource::Resource;
use serde_json::Map;
use std::cmp::Ordering;

/// Kinds that come first in the legacy order, in this order.
const ORDER_FIRST: &[&str] = &[
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];

/// Kinds that come last, in this order.
const ORDER_LAST: &[&str] = &["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"];

/// Sorts in place: legacy order unless `sortOptions.order` is `fifo`.
pub fn sort(resources: &mut [Resource], options: Option<&SortOptions>) -> Result<()> {
    let (first, last): (Vec<String>, Vec<String>) = match options {
        None => (owned(ORDER_FIRST), owned(ORDER_LAST)),
        Some(o) => match o.order.as_str() {
            "fifo" => {
                if o.legacy_sort_options.is_some() {
                    return Err(Error::new(
                        ErrorKind::Kustomization,
                        "sortOptions: legacySortOptions may only be set when order is 'legacy'",
                    ));
                }
                return Ok(());
            }
            "" | "legacy" => match &o.legacy_sort_options {
                Some(l) => (l.order_first.clone(), l.order_last.clone()),
                None => (owned(ORDER_FIRST), owned(ORDER_LAST)),
            },
            other => {
                return Err(Error::new(
                    ErrorKind::Kustomization,
                    format!("sortOptions.order must be 'legacy' or 'fifo', not '{other}'"),
                ))
            }
        },
    };
    let mut keyed: Vec<(SortKey, usize)> =
        resources.iter().enumerate().map(|(i, r)| (SortKey::of(r, &first, &last), i)).collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let order: Vec<usize> = keyed.into_iter().map(|(_, i)| i).collect();
    permute(resources, &order);
    Ok(())
}

fn owned(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Reorders `items` so that position k holds the element formerly at `order[k]`.
fn permute(items: &mut [Resource], order: &[usize]) {
    let mut taken: Vec<Option<Resource>> =
        items.iter_mut().map(|r| Some(std::mem::replace(r, Resource::new(Map::new())))).collect();
    for (slot, &from) in items.iter_mut().zip(order) {
        if let Some(r) = taken[from].take() {
            *slot = r;
        }
    }
}

#[derive(PartialEq, Eq)]
struct SortKey {
    rank: i64,
    gvk: String,
    id: String,
    namespace_quirk: bool,
}

impl SortKey {
    fn of(r: &Resource, first: &[String], last: &[String]) -> SortKey {
        let id = r.id();
        let kind = id.gvk.kind.as_str();
        let rank = if let Some(i) = first.iter().position(|k| k == kind) {
            i as i64 - first.len() as i64
        } else if let Some(i) = last.iter().position(|k| k == kind) {
            1 + i as i64
        } else {
            0
        };
        let or = |s: &str, d: &str| if s.is_empty() { d.to_string() } else { s.to_string() };
        let gvk = format!("{}_{}_{}", or(&id.gvk.group, "~G"), or(&id.gvk.version, "~V"), or(&id.gvk.kind, "~K"));
        let full = format!("{}|{}|{}", gvk, or(&id.namespace, "~X"), or(&id.name, "~N"));
        SortKey { rank, gvk, id: full, namespace_quirk: kind == "Namespace" && id.gvk.group.is_empty() }
    }
}

impl Ord for SortKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank.cmp(&other.rank).then_with(|| {
            if self.gvk != other.gvk {
                // Kustomize compares two Namespace GVKs in reverse when one is in the core group.
                if self.rank == other.rank && (self.namespace_quirk || other.namespace_quirk) && self.rank != 0 {
                    return other.gvk.cmp(&self.gvk);
                }
                return self.gvk.cmp(&other.gvk);
            }
            self.id.cmp(&other.id)
        })
    }
}

impl PartialOrd for SortKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn res(kind: &str, api: &str, name: &str) -> Resource {
        let Value::Object(m) = json!({"apiVersion": api, "kind": kind, "metadata": {"name": name}}) else { panic!() };
        Resource::new(m)
    }

    #[test]
    fn legacy_order_ranks_kinds_then_gvk_then_name() {
        let mut rs = vec![
            res("ValidatingWebhookConfiguration", "admissionregistration.k8s.io/v1", "v"),
            res("Deployment", "apps/v1", "b"),
            res("Foo", "x.io/v1", "f"),
            res("Deployment", "apps/v1", "a"),
            res("Service", "v1", "s"),
            res("Namespace", "v1", "n"),
            res("Bar", "a.io/v1", "b"),
        ];
        sort(&mut rs, None).expect("sorts");
        let names: Vec<&str> = rs.iter().map(|r| r.name()).collect();
        assert_eq!(names, vec!["n", "s", "a", "b", "b", "f", "v"]);
    }

    #[test]
    fn fifo_keeps_accumulation_order() {
        let mut rs = vec![res("Service", "v1", "s"), res("Namespace", "v1", "n")];
        let opts = SortOptions { order: "fifo".into(), legacy_sort_options: None };
        sort(&mut rs, Some(&opts)).expect("sorts");
        assert_eq!(rs[0].name(), "s");
    }
}
