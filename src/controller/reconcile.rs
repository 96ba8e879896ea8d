//! Pairing desired with live (docs/controller-sync.md §4.1 steps 2-5): targets get
//! their namespace defaulted and their tracking id stamped, hooks are split off, and
//! each target is matched to the live object of the same key; live objects the app
//! manages but the source no longer has become prune candidates. Pure: the live
//! objects are fetched by `kube.rs` and handed in.

use crate::controller::sync::hooks::{self, Role};
use crate::controller::tracking::{self, Ownership, ResourceKey};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// One resource of the app: its target (absent = needs pruning) and its live object.
#[derive(Clone, Debug, PartialEq)]
pub struct Pair {
    /// Group/kind/namespace/name.
    pub key: ResourceKey,
    /// Desired object, tracking id stamped.
    pub target: Option<Map<String, Value>>,
    /// Live object.
    pub live: Option<Map<String, Value>>,
}

/// The app's objects sorted into what the diff and the sync planner consume.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reconciled {
    /// Ordinary resources (target and/or live), in target order then prune candidates.
    pub resources: Vec<Pair>,
    /// Hook targets (not compared, not pruned).
    pub hooks: Vec<Map<String, Value>>,
    /// Targets annotated `hook: Skip` or with an unusable hook annotation: never applied.
    pub skipped: Vec<ResourceKey>,
    /// Targets whose live object is tracked by another app (key, other app).
    pub shared: Vec<(ResourceKey, String)>,
}

/// Namespaced targets without a namespace get `destination_namespace`; cluster-scoped
/// ones lose any namespace. `cluster_scoped` answers from discovery (unknown kinds are
/// namespaced, as Argo CD assumes). Later duplicates replace earlier ones.
pub fn normalize_targets(
    targets: Vec<Map<String, Value>>,
    destination_namespace: &str,
    cluster_scoped: &dyn Fn(&ResourceKey) -> bool,
) -> Vec<Map<String, Value>> {
    let mut out: Vec<Map<String, Value>> = Vec::new();
    let mut index: BTreeMap<ResourceKey, usize> = BTreeMap::new();
    for mut obj in targets {
        let key = ResourceKey::of(&obj);
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            if cluster_scoped(&key) {
                meta.remove("namespace");
            } else if key.namespace.is_empty() && !destination_namespace.is_empty() {
                meta.insert("namespace".into(), Value::String(destination_namespace.to_string()));
            }
        }
        let key = ResourceKey::of(&obj);
        match index.get(&key) {
            Some(&i) => out[i] = obj,
            None => {
                index.insert(key, out.len());
                out.push(obj);
            }
        }
    }
    out
}

/// Pairs normalized targets with live state. `live_at_targets` holds the live object
/// found at each target key (any owner); `managed` the live objects carrying this
/// app's tracking id (listed cluster-wide). Children (ownerReferences), copied ids
/// and other apps' objects never become prune candidates.
pub fn reconcile(
    app: &str,
    destination_namespace: &str,
    targets: Vec<Map<String, Value>>,
    live_at_targets: &BTreeMap<ResourceKey, Map<String, Value>>,
    managed: &[Map<String, Value>],
    cluster_scoped: &dyn Fn(&ResourceKey) -> bool,
) -> Reconciled {
    let mut out = Reconciled::default();
    let mut seen: BTreeMap<ResourceKey, ()> = BTreeMap::new();
    for mut target in targets {
        let key = ResourceKey::of(&target);
        match hooks::role(&target) {
            Role::Hook(_) => {
                tracking::stamp(app, &mut target, destination_namespace);
                out.hooks.push(target);
                continue;
            }
            Role::Skip | Role::Ignored => {
                out.skipped.push(key);
                continue;
            }
            Role::Resource => {}
        }
        tracking::stamp(app, &mut target, destination_namespace);
        let live = live_at_targets.get(&key).cloned();
        if let Some(l) = &live {
            if let Ownership::OtherApp(other) = tracking::ownership(app, l, cluster_scoped(&key)) {
                out.shared.push((key.clone(), other));
            }
        }
        seen.insert(key.clone(), ());
        out.resources.push(Pair { key, target: Some(target), live });
    }
    for live in managed {
        let key = ResourceKey::of(live);
        if seen.contains_key(&key) || hooks::role(live) != Role::Resource {
            continue;
        }
        if tracking::ownership(app, live, cluster_scoped(&key)) != Ownership::Managed {
            continue;
        }
        seen.insert(key.clone(), ());
        out.resources.push(Pair { key, target: None, live: Some(live.clone()) });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    fn ns_scoped(k: &ResourceKey) -> bool {
        k.kind == "Namespace"
    }

    #[test]
    fn namespaces_are_defaulted_and_cleared_by_scope() {
        let out = normalize_targets(
            vec![
                obj(json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}})),
                obj(json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"n","namespace":"x"}})),
                obj(json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"v":"2"}})),
            ],
            "dest",
            &ns_scoped,
        );
        assert_eq!(out.len(), 2, "the duplicate replaced the first");
        assert_eq!(out[0]["metadata"]["namespace"], "dest");
        assert_eq!(out[0]["data"]["v"], "2");
        assert!(out[1]["metadata"].get("namespace").is_none());
    }

    #[test]
    fn only_self_tracked_ownerless_objects_become_prune_candidates() {
        let mut mine = obj(json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"old","namespace":"d"}}));
        tracking::stamp("app", &mut mine, "d");
        let mut child = mine.clone();
        child["metadata"]["name"] = json!("child");
        tracking::stamp("app", &mut child, "d");
        child["metadata"]["ownerReferences"] = json!([{"kind":"X"}]);
        let mut other = mine.clone();
        other["metadata"]["name"] = json!("theirs");
        tracking::stamp("other", &mut other, "d");
        let r = reconcile("app", "d", vec![], &BTreeMap::new(), &[mine, child, other], &ns_scoped);
        assert_eq!(r.resources.len(), 1);
        assert_eq!(r.resources[0].key.name, "old");
        assert!(r.resources[0].target.is_none());
    }

    #[test]
    fn hooks_and_skips_are_split_off_and_shared_objects_reported() {
        let targets = vec![
            obj(
                json!({"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"m","namespace":"d","annotations":{"argocd.argoproj.io/hook":"PreSync"}}}),
            ),
            obj(
                json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"s","namespace":"d","annotations":{"argocd.argoproj.io/hook":"Skip"}}}),
            ),
            obj(json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"d"}})),
        ];
        let mut live = obj(json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"d"}}));
        tracking::stamp("other", &mut live, "d");
        let at: BTreeMap<_, _> = [(ResourceKey::of(&live), live)].into_iter().collect();
        let r = reconcile("app", "d", targets, &at, &[], &ns_scoped);
        assert_eq!(r.hooks.len(), 1);
        assert_eq!(r.skipped.len(), 1);
        assert_eq!(r.resources.len(), 1);
        assert_eq!(
            r.resources[0]
                .target
                .as_ref()
                .and_then(|t| crate::controller::application::annotation(t, tracking::TRACKING_ANNOTATION)),
            Some("app:/ConfigMap:d/c")
        );
        assert_eq!(r.shared, vec![(r.resources[0].key.clone(), "other".to_string())]);
    }
}
