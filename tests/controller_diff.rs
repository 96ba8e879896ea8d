//! Diff normalization and statuses fed YAML (docs/controller-sync.md §4.1, §6, §8
//! cases 35-40), and the `kcmp app diff` text.

use kcmp::controller::application::IgnoreDifferences;
use kcmp::controller::diff::{app_status, compare, normalize, render_unified, Color, SyncStatus};
use kcmp::controller::tracking::ResourceKey;
use serde_json::{json, Map, Value};

fn obj(yaml: &str) -> Map<String, Value> {
    let docs = kcmp::render::yaml::parse::parse_stream(yaml).expect("yaml");
    docs.into_iter().next().and_then(|d| d.value.as_object().cloned()).expect("one object")
}

const TARGET: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: ns
spec:
  replicas: 2
  template:
    spec:
      containers:
      - name: web
        image: nginx:1.25
"#;

const LIVE: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: ns
  uid: 1234
  resourceVersion: "99"
  generation: 4
  creationTimestamp: "2024-01-01T00:00:00Z"
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: "{}"
  managedFields:
  - manager: kcmp
    operation: Apply
    fieldsV1: {"f:spec": {"f:replicas": {}}}
  - manager: hpa-controller
    operation: Update
    fieldsV1: {"f:spec": {"f:replicas": {}}}
spec:
  replicas: 5
  template:
    spec:
      containers:
      - name: web
        image: nginx:1.25
status:
  replicas: 5
"#;

fn key() -> ResourceKey {
    ResourceKey { group: "apps".into(), kind: "Deployment".into(), namespace: "ns".into(), name: "web".into() }
}

#[test]
fn server_metadata_status_and_last_applied_are_never_differences() {
    let n = normalize(&obj(LIVE), &key(), &[]).expect("normalize");
    let meta = n["metadata"].as_object().expect("metadata");
    assert_eq!(meta.keys().collect::<Vec<_>>(), vec!["name", "namespace"]);
    assert!(n.get("status").is_none());
}

#[test]
fn replicas_scaled_live_is_out_of_sync_until_ignored() {
    let target = obj(TARGET);
    let live = obj(LIVE);
    let d = compare(&key(), Some(&target), Some(&live), None, &[]).expect("compare");
    assert_eq!((d.status, d.modified), (SyncStatus::OutOfSync, true));

    let by_pointer = IgnoreDifferences {
        group: "apps".into(),
        kind: "Deployment".into(),
        json_pointers: vec!["/spec/replicas".into()],
        ..Default::default()
    };
    let d = compare(&key(), Some(&target), Some(&live), None, &[by_pointer]).expect("compare");
    assert_eq!(d.status, SyncStatus::Synced);

    let by_jq = IgnoreDifferences {
        group: "*".into(),
        kind: "*".into(),
        jq_path_expressions: vec![".spec.replicas".into()],
        ..Default::default()
    };
    assert_eq!(
        compare(&key(), Some(&target), Some(&live), None, &[by_jq]).expect("compare").status,
        SyncStatus::Synced
    );

    let by_manager = IgnoreDifferences {
        group: "apps".into(),
        kind: "Deployment".into(),
        managed_fields_managers: vec!["hpa-controller".into()],
        ..Default::default()
    };
    assert_eq!(
        compare(&key(), Some(&target), Some(&live), None, &[by_manager]).expect("compare").status,
        SyncStatus::Synced
    );

    let other_name = IgnoreDifferences {
        group: "apps".into(),
        kind: "Deployment".into(),
        name: "api".into(),
        json_pointers: vec!["/spec/replicas".into()],
        ..Default::default()
    };
    assert_eq!(
        compare(&key(), Some(&target), Some(&live), None, &[other_name]).expect("compare").status,
        SyncStatus::OutOfSync
    );
}

#[test]
fn the_servers_predicted_object_is_compared_not_the_raw_target() {
    let target = obj(TARGET);
    let mut live = obj(LIVE);
    live["spec"]["replicas"] = json!(2);
    live["spec"]["progressDeadlineSeconds"] = json!(600);
    let mut predicted = live.clone();
    predicted["metadata"]["resourceVersion"] = json!("100");
    let d = compare(&key(), Some(&target), Some(&live), Some(&predicted), &[]).expect("compare");
    assert_eq!(d.status, SyncStatus::Synced, "server defaults present on both sides are no difference");
}

#[test]
fn secret_string_data_equals_base64_data() {
    let k = ResourceKey { group: String::new(), kind: "Secret".into(), namespace: "ns".into(), name: "s".into() };
    let target =
        obj("apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: ns}\nstringData: {password: hunter2}\n");
    let live =
        obj("apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: ns}\ndata: {password: aHVudGVyMg==}\n");
    assert_eq!(compare(&k, Some(&target), Some(&live), None, &[]).expect("compare").status, SyncStatus::Synced);
}

#[test]
fn missing_and_extraneous_objects_are_out_of_sync_unless_ignored_extraneous() {
    let target = obj(TARGET);
    let created = compare(&key(), Some(&target), None, None, &[]).expect("compare");
    assert_eq!(
        (created.status, created.modified, created.normalized_live.clone()),
        (SyncStatus::OutOfSync, true, Value::Null)
    );

    let live = obj(LIVE);
    let extra = compare(&key(), None, Some(&live), None, &[]).expect("compare");
    assert!(extra.requires_pruning);
    assert_eq!(app_status(&[(extra.clone(), Some(&live))]), SyncStatus::OutOfSync);

    let mut ignored = live.clone();
    ignored["metadata"]["annotations"]["argocd.argoproj.io/compare-options"] = json!("IgnoreExtraneous");
    assert_eq!(app_status(&[(extra, Some(&ignored))]), SyncStatus::Synced);
    assert_eq!(app_status(&[]), SyncStatus::Synced);
}

#[test]
fn unsupported_jq_is_an_error_naming_the_expression() {
    let rule = IgnoreDifferences {
        group: "apps".into(),
        kind: "*".into(),
        jq_path_expressions: vec![".spec | del(.x)".into()],
        ..Default::default()
    };
    let err = normalize(&obj(TARGET), &key(), &[rule]).expect_err("unsupported");
    assert!(err.to_string().starts_with("ignoreDifferences: unsupported jqPathExpression '.spec | del(.x)'"), "{err}");
}

#[test]
fn unified_diff_has_an_argocd_header_and_masks_secrets() {
    let target = obj(TARGET);
    let live = obj(LIVE);
    let d = compare(&key(), Some(&target), Some(&live), None, &[]).expect("compare");
    let text = render_unified(&d, Color::Never);
    assert!(text.starts_with("===== apps/Deployment ns/web ======\n--- live\n+++ desired\n"), "{text}");
    assert!(text.contains("-  replicas: 5\n") && text.contains("+  replicas: 2\n"), "{text}");
    let coloured = render_unified(&d, Color::Always);
    assert!(coloured.contains("\x1b[31m-  replicas: 5\x1b[0m"), "{coloured}");

    let k = ResourceKey { group: String::new(), kind: "Secret".into(), namespace: "ns".into(), name: "s".into() };
    let t = obj("apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: ns}\ndata: {a: bmV3, b: c2FtZQ==}\n");
    let l = obj("apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: ns}\ndata: {a: b2xk, b: c2FtZQ==}\n");
    // Quoting is the emitter's business; compare the text without quotes.
    let text =
        render_unified(&compare(&k, Some(&t), Some(&l), None, &[]).expect("compare"), Color::Never).replace('"', "");
    assert!(!text.contains("bmV3") && !text.contains("b2xk"), "secret values must not be printed: {text}");
    assert!(text.contains("-  a: ++++++++\n") && text.contains("+  a: +++++++++\n"), "{text}");
}
