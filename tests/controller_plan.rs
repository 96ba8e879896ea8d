//! The sync planner fed YAML: ordering (phase, wave, kind, name), hooks, waves,
//! prune decisions, dependency bubbling (docs/controller-sync.md §5.2-§5.6, §8).

use kcmp::controller::application::SyncOptions;
use kcmp::controller::reconcile::{reconcile, Reconciled};
use kcmp::controller::sync::hooks::{DeletePolicy, Phase};
use kcmp::controller::sync::plan::{plan, Action, ApplyMode, Plan, PlanOptions, PruneDecision};
use kcmp::controller::tracking::{self, ResourceKey};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

fn objects(yaml: &str) -> Vec<Map<String, Value>> {
    kcmp::render::yaml::parse::parse_stream(yaml)
        .expect("yaml")
        .into_iter()
        .filter_map(|d| d.value.as_object().cloned())
        .collect()
}

fn cluster_scoped(k: &ResourceKey) -> bool {
    matches!(k.kind.as_str(), "Namespace" | "CustomResourceDefinition" | "ClusterRole")
}

fn reconciled(targets: &str, live_tracked: &str) -> Reconciled {
    let mut managed = objects(live_tracked);
    for m in &mut managed {
        tracking::stamp("app", m, "ns");
    }
    let live_at: BTreeMap<ResourceKey, Map<String, Value>> = BTreeMap::new();
    reconcile("app", "ns", objects(targets), &live_at, &managed, &cluster_scoped)
}

fn opts(prune: bool, sync_options: &[&str]) -> PlanOptions {
    PlanOptions {
        prune,
        allow_empty: false,
        sync_options: SyncOptions::new(sync_options.iter().map(|s| s.to_string())),
        hooks: true,
        revision: "0123456789abcdef".into(),
        started_unix: 1700000000,
        force: false,
    }
}

fn order(p: &Plan) -> Vec<String> {
    p.tasks.iter().map(|t| format!("{}:{}:{}/{}", t.phase, t.wave, t.key.kind, t.key.name)).collect()
}

#[test]
fn tasks_sort_by_phase_wave_kind_then_name() {
    let r = reconciled(
        r#"
apiVersion: example.com/v1
kind: Widget
metadata: {name: a-widget, namespace: ns}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ns}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: sa, namespace: ns}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: b, namespace: ns}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: a, namespace: ns}
---
apiVersion: example.com/v1
kind: Gadget
metadata: {name: z-gadget, namespace: ns}
---
apiVersion: v1
kind: Service
metadata: {name: late, namespace: ns, annotations: {argocd.argoproj.io/sync-wave: "2"}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: pre, namespace: ns, annotations: {argocd.argoproj.io/hook: PreSync}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: post, namespace: ns, annotations: {argocd.argoproj.io/hook: PostSync}}
"#,
        "",
    );
    let p = plan("app", &r, &opts(false, &[])).expect("plan");
    assert_eq!(
        order(&p),
        vec![
            "PreSync:0:Job/pre",
            "Sync:0:ServiceAccount/sa",
            "Sync:0:ConfigMap/a",
            "Sync:0:ConfigMap/b",
            "Sync:0:Deployment/web",
            "Sync:0:Widget/a-widget",
            "Sync:0:Gadget/z-gadget",
            "Sync:2:Service/late",
            "PostSync:0:Job/post",
        ]
    );
    assert_eq!(p.groups().len(), 4);
}

#[test]
fn hooks_get_one_task_per_phase_and_sync_fail_is_kept_apart() {
    let r = reconciled(
        r#"
apiVersion: batch/v1
kind: Job
metadata: {name: twice, namespace: ns, annotations: {argocd.argoproj.io/hook: "PreSync,PostSync", argocd.argoproj.io/hook-delete-policy: HookSucceeded}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: cleanup, namespace: ns, annotations: {argocd.argoproj.io/hook: SyncFail}}
---
apiVersion: v1
kind: Pod
metadata: {name: helm-test, namespace: ns, annotations: {helm.sh/hook: test}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: skipped, namespace: ns, annotations: {argocd.argoproj.io/hook: Skip}}
"#,
        "",
    );
    let p = plan("app", &r, &opts(false, &[])).expect("plan");
    assert_eq!(order(&p), vec!["PreSync:0:Job/twice", "PostSync:0:Job/twice"]);
    assert_eq!(p.tasks[0].hook.as_deref(), Some(&[DeletePolicy::HookSucceeded][..]));
    assert_eq!(p.sync_fail.len(), 1);
    assert_eq!(p.sync_fail[0].phase, Phase::SyncFail);
    assert_eq!(r.skipped.len(), 2, "helm test hook and Skip are neither applied nor pruned");

    let mut no_hooks = opts(false, &[]);
    no_hooks.hooks = false;
    assert!(plan("app", &r, &no_hooks).expect("plan").tasks.is_empty());
}

#[test]
fn generate_name_hooks_are_named_from_revision_phase_and_start() {
    let r = reconciled(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: migrate-, namespace: ns, annotations: {argocd.argoproj.io/hook: PreSync}}\n",
        "",
    );
    let p = plan("app", &r, &opts(false, &[])).expect("plan");
    assert_eq!(p.tasks[0].key.name, "migrate-0123456-presync-1700000000");
    let target = p.tasks[0].target.as_ref().expect("target");
    assert_eq!(target["metadata"]["name"], "migrate-0123456-presync-1700000000");
    assert!(target["metadata"].get("generateName").is_none());
}

const LIVE_WAVES: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: w0, namespace: ns}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: w1, namespace: ns, annotations: {argocd.argoproj.io/sync-wave: "1"}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: w2, namespace: ns, annotations: {argocd.argoproj.io/sync-wave: "2"}}
"#;

#[test]
fn prune_waves_are_reversed() {
    let r = reconciled("apiVersion: v1\nkind: Secret\nmetadata: {name: keep, namespace: ns}\n", LIVE_WAVES);
    let p = plan("app", &r, &opts(true, &[])).expect("plan");
    assert_eq!(
        order(&p),
        vec!["Sync:0:Secret/keep", "Sync:0:ConfigMap/w2", "Sync:1:ConfigMap/w1", "Sync:2:ConfigMap/w0"]
    );
    assert!(p.tasks.iter().filter(|t| t.is_prune()).all(|t| t.action == Action::Prune(PruneDecision::Prune)));
}

#[test]
fn prune_last_moves_prunes_after_the_last_sync_wave() {
    let targets = "apiVersion: v1\nkind: Secret\nmetadata: {name: keep, namespace: ns, annotations: {argocd.argoproj.io/sync-wave: \"5\"}}\n";
    let p = plan("app", &reconciled(targets, LIVE_WAVES), &opts(true, &["PruneLast=true"])).expect("plan");
    let prune_waves: Vec<i64> = p.tasks.iter().filter(|t| t.is_prune()).map(|t| t.wave).collect();
    assert_eq!(prune_waves, vec![6, 6, 6]);
    assert_eq!(p.tasks[0].key.name, "keep");

    let live = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: last, namespace: ns, annotations: {argocd.argoproj.io/sync-options: PruneLast=true}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: early, namespace: ns}\n";
    let p = plan("app", &reconciled(targets, live), &opts(true, &[])).expect("plan");
    assert_eq!(order(&p), vec!["Sync:0:ConfigMap/early", "Sync:5:Secret/keep", "Sync:6:ConfigMap/last"]);
}

#[test]
fn prune_decisions_follow_operation_and_annotations() {
    let live = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: no, namespace: ns, annotations: {argocd.argoproj.io/sync-options: Prune=false}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: yes, namespace: ns}\n";
    let targets = "apiVersion: v1\nkind: Secret\nmetadata: {name: keep, namespace: ns}\n";
    let decisions = |p: &Plan| -> Vec<(String, Action)> {
        p.tasks.iter().filter(|t| t.is_prune()).map(|t| (t.key.name.clone(), t.action.clone())).collect()
    };
    let off = plan("app", &reconciled(targets, live), &opts(false, &[])).expect("plan");
    assert!(decisions(&off)
        .iter()
        .all(|(_, a)| *a == Action::Prune(PruneDecision::Skip("ignored (requires pruning)".into()))));
    let on = plan("app", &reconciled(targets, live), &opts(true, &[])).expect("plan");
    assert_eq!(
        decisions(&on),
        vec![
            ("no".to_string(), Action::Prune(PruneDecision::Skip("ignored (no prune)".into()))),
            ("yes".to_string(), Action::Prune(PruneDecision::Prune)),
        ]
    );
    let app_level = plan("app", &reconciled(targets, live), &opts(true, &["Prune=false"])).expect("plan");
    assert!(decisions(&app_level).iter().all(|(_, a)| matches!(a, Action::Prune(PruneDecision::Skip(_)))));
}

#[test]
fn pruning_every_resource_needs_allow_empty() {
    let r = reconciled("", LIVE_WAVES);
    let err = plan("app", &r, &opts(true, &[])).expect_err("refused");
    assert_eq!(
        err.to_string(),
        "application 'app': refusing to prune all 3 resources: the source rendered no resources; set syncPolicy.automated.allowEmpty: true if that is intended"
    );
    let mut allowed = opts(true, &[]);
    allowed.allow_empty = true;
    assert_eq!(plan("app", &r, &allowed).expect("plan").tasks.len(), 3);
    assert!(plan("app", &r, &opts(false, &[])).is_ok(), "without prune nothing is deleted, so nothing to refuse");
}

#[test]
fn namespaces_and_crds_bubble_in_front_of_their_dependents() {
    let r = reconciled(
        r#"
apiVersion: v1
kind: Namespace
metadata: {name: foo, annotations: {argocd.argoproj.io/sync-wave: "5"}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm, namespace: foo}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com, annotations: {argocd.argoproj.io/sync-wave: "3"}}
spec: {group: example.com, names: {kind: Widget}}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w, namespace: ns, annotations: {argocd.argoproj.io/sync-wave: "1"}}
"#,
        "",
    );
    let p = plan("app", &r, &opts(false, &[])).expect("plan");
    assert_eq!(
        order(&p),
        vec![
            "Sync:0:Namespace/foo",
            "Sync:0:ConfigMap/cm",
            "Sync:1:CustomResourceDefinition/widgets.example.com",
            "Sync:1:Widget/w"
        ]
    );
}

#[test]
fn replace_comes_from_app_or_resource_options() {
    let targets = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: r, namespace: ns, annotations: {argocd.argoproj.io/sync-options: Replace=true}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: ns}\n";
    let p = plan("app", &reconciled(targets, ""), &opts(false, &[])).expect("plan");
    let modes: Vec<(String, Action)> = p.tasks.iter().map(|t| (t.key.name.clone(), t.action.clone())).collect();
    assert_eq!(
        modes,
        vec![("a".to_string(), Action::Apply(ApplyMode::Apply)), ("r".to_string(), Action::Apply(ApplyMode::Replace))]
    );
    let all = plan("app", &reconciled(targets, ""), &opts(false, &["Replace=true"])).expect("plan");
    assert!(all.tasks.iter().all(|t| t.action == Action::Apply(ApplyMode::Replace)));
}

#[test]
fn selective_sync_keeps_matching_resources_and_drops_hooks() {
    use kcmp::controller::sync::plan::{select, Selector};
    let r = reconciled(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: ns}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: other}\n---\napiVersion: batch/v1\nkind: Job\nmetadata: {name: h, namespace: ns, annotations: {argocd.argoproj.io/hook: PreSync}}\n",
        "",
    );
    let names =
        |sel: &[Selector]| -> Vec<String> { select(&r, sel).resources.iter().map(|p| p.key.name.clone()).collect() };
    assert_eq!(names(&[Selector::parse(":ConfigMap:*").expect("ok")]), vec!["a", "b"]);
    assert_eq!(names(&[Selector::parse(":ConfigMap:other/*").expect("ok")]), vec!["b"]);
    assert_eq!(names(&[Selector::parse("!:ConfigMap:a").expect("ok")]), vec!["b"]);
    assert_eq!(names(&[Selector::exact(&r.resources[0].key)]), vec!["a"]);
    assert!(select(&r, &[Selector::parse("*:*:*").expect("ok")]).hooks.is_empty());
}

#[test]
fn force_never_recreates_crds_or_namespaces() {
    let live = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j, namespace: ns}\n---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec: {group: example.com, names: {kind: Widget}}\n";
    let mut live_objects: BTreeMap<ResourceKey, Map<String, Value>> = BTreeMap::new();
    for o in objects(live) {
        live_objects.insert(ResourceKey::of(&o), o);
    }
    let r = reconcile("app", "ns", objects(live), &live_objects, &[], &cluster_scoped);
    let mut o = opts(false, &[]);
    o.force = true;
    let p = plan("app", &r, &o).expect("plan");
    let recreatable: Vec<(String, bool)> = p.tasks.iter().map(|t| (t.key.kind.clone(), t.recreatable())).collect();
    assert_eq!(recreatable, vec![("CustomResourceDefinition".to_string(), false), ("Job".to_string(), true)]);
}
