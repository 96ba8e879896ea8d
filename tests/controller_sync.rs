//! The whole compare + sync pipeline (render -> reconcile -> diff -> plan -> execute)
//! against an in-memory API server: waves, hooks, prunes, ownership, dry-run gating,
//! CreateNamespace, timeouts. No cluster needed; the same scenarios run against a
//! real one in `controller_cluster.rs` when KCMP_TEST_KUBECONFIG is set.

mod support;

use kcmp::controller::application::Application;
use kcmp::controller::diff::SyncStatus;
use kcmp::controller::source::SourceOptions;
use kcmp::controller::sync::execute::{ExecuteOptions, OperationPhase, ResultStatus, TaskState};
use kcmp::controller::{self, Options, SyncRequest};
use serde_json::json;
use std::path::Path;
use std::time::Duration;
use support::fake_cluster::{FakeCluster, HEALTH, INVALID};

fn app_yaml(extra_sync_policy: &str) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: demo\n  namespace: argocd\nspec:\n  source:\n    repoURL: ./repo\n  destination:\n    server: https://kubernetes.default.svc\n    namespace: default\n  syncPolicy:\n{extra_sync_policy}"
    )
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write fixture");
}

fn options(dir: &Path) -> Options {
    Options {
        controller_namespace: "argocd".into(),
        source: SourceOptions { local: Some(dir.to_path_buf()), ..Default::default() },
        render: Default::default(),
    }
}

fn request(prune: bool) -> SyncRequest {
    SyncRequest {
        prune,
        sync_options: None,
        resources: Vec::new(),
        skip_hooks: false,
        force: false,
        execute: ExecuteOptions {
            timeout: Duration::from_secs(5),
            poll_interval: Duration::from_millis(5),
            wave_delay: Duration::ZERO,
            ..Default::default()
        },
    }
}

async fn sync(
    cluster: &FakeCluster,
    app: &Application,
    dir: &Path,
    req: &SyncRequest,
) -> kcmp::controller::Result<kcmp::controller::sync::execute::Outcome> {
    let opts = options(dir);
    let desired = controller::desired(app, &opts).await?;
    let cmp = controller::compare(cluster, app, &desired, &opts).await?;
    controller::sync(cluster, app, &cmp, req, &mut |_| {}).await
}

async fn status(cluster: &FakeCluster, app: &Application, dir: &Path) -> SyncStatus {
    let opts = options(dir);
    let desired = controller::desired(app, &opts).await.expect("render");
    controller::compare(cluster, app, &desired, &opts).await.expect("compare").sync_status
}

fn app(policy: &str) -> Application {
    Application::from_yaml(&app_yaml(policy), "app.yaml").expect("valid app")
}

const CM_WAVE_MINUS_ONE: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config\n  annotations:\n    argocd.argoproj.io/sync-wave: \"-1\"\ndata:\n  k: v\n";
const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n";

#[tokio::test]
async fn wave_minus_one_config_map_is_applied_before_the_wave_zero_deployment() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "cm.yaml", CM_WAVE_MINUS_ONE);
    write(dir.path(), "deploy.yaml", DEPLOYMENT);
    let cluster = FakeCluster::new();
    let a = app("    syncOptions: []\n");
    let outcome = sync(&cluster, &a, dir.path(), &request(false)).await.expect("sync");
    assert_eq!(outcome.phase, OperationPhase::Succeeded, "{}", outcome.message);
    assert_eq!(cluster.writes(), vec!["apply ConfigMap/config", "apply Deployment/web"]);
    let waves: Vec<(String, i64)> = outcome.results.iter().map(|r| (r.key.kind.clone(), r.wave)).collect();
    assert_eq!(waves, vec![("ConfigMap".into(), -1), ("Deployment".into(), 0)]);
    let cm = cluster.object("ConfigMap", "config").expect("applied");
    assert_eq!(cm["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"], "demo:/ConfigMap:default/config");
    assert_eq!(status(&cluster, &a, dir.path()).await, SyncStatus::Synced);
}

#[tokio::test]
async fn a_progressing_wave_blocks_the_next_until_the_operation_times_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "deploy.yaml",
        &format!("{DEPLOYMENT}---\n")
            .replace("name: web\n", &format!("name: web\n  annotations:\n    {HEALTH}: progressing\n")),
    );
    write(dir.path(), "svc.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  annotations:\n    argocd.argoproj.io/sync-wave: \"1\"\n");
    let cluster = FakeCluster::new();
    let mut req = request(false);
    req.execute.timeout = Duration::from_millis(200);
    let outcome = sync(&cluster, &app("    syncOptions: []\n"), dir.path(), &req).await.expect("sync");
    assert_eq!(outcome.phase, OperationPhase::Failed);
    assert!(
        outcome.message.starts_with("operation timed out after 0s: waiting for healthy state of apps/Deployment/web"),
        "{}",
        outcome.message
    );
    assert!(!cluster.has("Service", "web"), "wave 1 must not be applied");
}

#[tokio::test]
async fn a_degraded_wave_fails_the_operation_and_stops_later_waves() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "deploy.yaml",
        &DEPLOYMENT.replace("name: web\n", &format!("name: web\n  annotations:\n    {HEALTH}: degraded\n")),
    );
    write(dir.path(), "svc.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  annotations:\n    argocd.argoproj.io/sync-wave: \"1\"\n");
    let cluster = FakeCluster::new();
    let outcome = sync(&cluster, &app("    syncOptions: []\n"), dir.path(), &request(false)).await.expect("sync");
    assert_eq!(outcome.phase, OperationPhase::Failed);
    assert!(outcome.message.contains("exceeded its progress deadline"), "{}", outcome.message);
    assert!(!cluster.has("Service", "web"));
    // Applied but Degraded: status Synced, task state Failed (controller-sync.md §5.7-3).
    let web = outcome.results.iter().find(|r| r.key.kind == "Deployment").expect("deployment result");
    assert_eq!((web.status, web.state), (ResultStatus::Synced, TaskState::Failed));
}

const PRESYNC_JOB: &str = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  annotations:\n    argocd.argoproj.io/hook: PreSync\n    argocd.argoproj.io/hook-delete-policy: HookSucceeded\n";

#[tokio::test]
async fn a_presync_job_runs_first_and_is_deleted_when_the_operation_succeeds() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "job.yaml", PRESYNC_JOB);
    write(dir.path(), "deploy.yaml", DEPLOYMENT);
    let cluster = FakeCluster::new();
    let outcome = sync(&cluster, &app("    syncOptions: []\n"), dir.path(), &request(false)).await.expect("sync");
    assert_eq!(outcome.phase, OperationPhase::Succeeded, "{}", outcome.message);
    assert_eq!(cluster.writes(), vec!["apply Job/migrate", "apply Deployment/web", "delete Job/migrate"]);
    let job = outcome.results.iter().find(|r| r.key.kind == "Job").expect("job result");
    assert!(job.hook);
    assert_eq!(job.state, TaskState::Succeeded);
}

#[tokio::test]
async fn a_failing_presync_job_gates_the_sync_phase() {
    let dir = tempfile::tempdir().expect("tempdir");
    let failing = PRESYNC_JOB.replace("HookSucceeded", "HookFailed").replace(
        "argocd.argoproj.io/hook: PreSync\n",
        &format!("argocd.argoproj.io/hook: PreSync\n    {HEALTH}: degraded\n"),
    );
    write(dir.path(), "job.yaml", &failing);
    write(dir.path(), "deploy.yaml", DEPLOYMENT);
    let cluster = FakeCluster::new();
    let outcome = sync(&cluster, &app("    syncOptions: []\n"), dir.path(), &request(false)).await.expect("sync");
    assert_eq!(outcome.phase, OperationPhase::Failed);
    assert!(
        outcome.message.starts_with(
            "one or more synchronization tasks completed unsuccessfully: batch/Job/migrate: BackoffLimitExceeded"
        ),
        "{}",
        outcome.message
    );
    assert!(!cluster.has("Deployment", "web"), "the Sync phase must not run");
    assert_eq!(cluster.writes(), vec!["apply Job/migrate", "delete Job/migrate"], "HookFailed deletes the hook");
    let job = outcome.results.iter().find(|r| r.key.kind == "Job").expect("job result");
    assert_eq!((job.status, job.state), (ResultStatus::Synced, TaskState::Failed));
}

#[tokio::test]
async fn a_leftover_hook_is_deleted_before_it_is_created_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "job.yaml",
        &PRESYNC_JOB.replace("    argocd.argoproj.io/hook-delete-policy: HookSucceeded\n", ""),
    );
    let cluster = FakeCluster::new();
    cluster
        .put(json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate", "namespace": "default"}}));
    let outcome = sync(&cluster, &app("    syncOptions: []\n"), dir.path(), &request(false)).await.expect("sync");
    assert_eq!(outcome.phase, OperationPhase::Succeeded, "{}", outcome.message);
    assert_eq!(cluster.writes(), vec!["delete Job/migrate", "apply Job/migrate"]);
    assert!(cluster.has("Job", "migrate"), "BeforeHookCreation keeps the new hook");
}

fn old_config_map(annotations: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "old", "namespace": "default", "annotations": annotations}})
}

#[tokio::test]
async fn prune_last_deletes_a_removed_object_after_every_wave() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "deploy.yaml", DEPLOYMENT);
    write(dir.path(), "cm.yaml", CM_WAVE_MINUS_ONE);
    let cluster = FakeCluster::new();
    cluster.put_tracked("demo", old_config_map(json!({})));
    let a = app("    syncOptions: [PruneLast=true]\n");
    let outcome = sync(&cluster, &a, dir.path(), &request(true)).await.expect("sync");
    assert_eq!(outcome.phase, OperationPhase::Succeeded, "{}", outcome.message);
    assert_eq!(cluster.writes(), vec!["apply ConfigMap/config", "apply Deployment/web", "delete ConfigMap/old"]);
    let pruned = outcome.results.iter().find(|r| r.key.name == "old").expect("prune result");
    assert_eq!((pruned.status, pruned.wave), (ResultStatus::Pruned, 1));
}

#[tokio::test]
async fn without_prune_a_removed_object_is_kept_and_the_app_stays_out_of_sync() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "cm.yaml", CM_WAVE_MINUS_ONE);
    let cluster = FakeCluster::new();
    cluster.put_tracked("demo", old_config_map(json!({})));
    let a = app("    syncOptions: []\n");
    let outcome = sync(&cluster, &a, dir.path(), &request(false)).await.expect("sync");
    let r = outcome.results.iter().find(|r| r.key.name == "old").expect("result");
    assert_eq!((r.status, r.message.as_str()), (ResultStatus::PruneSkipped, "ignored (requires pruning)"));
    assert!(cluster.has("ConfigMap", "old"));
    assert_eq!(status(&cluster, &a, dir.path()).await, SyncStatus::OutOfSync);
}

#[tokio::test]
async fn prune_false_on_the_live_object_is_respected() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "cm.yaml", CM_WAVE_MINUS_ONE);
    let cluster = FakeCluster::new();
    cluster.put_tracked("demo", old_config_map(json!({"argocd.argoproj.io/sync-options": "Prune=false"})));
    let outcome = sync(&cluster, &app("    syncOptions: []\n"), dir.path(), &request(true)).await.expect("sync");
    let r = outcome.results.iter().find(|r| r.key.name == "old").expect("result");
    assert_eq!((r.status, r.message.as_str()), (ResultStatus::PruneSkipped, "ignored (no prune)"));
    assert!(cluster.has("ConfigMap", "old"));
}

#[tokio::test]
async fn objects_of_another_app_are_never_touched() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "cm.yaml", CM_WAVE_MINUS_ONE);
    let cluster = FakeCluster::new();
    cluster.put_tracked("other", old_config_map(json!({})));
    cluster.put(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "untracked", "namespace": "default"}}),
    );
    let outcome = sync(&cluster, &app("    syncOptions: []\n"), dir.path(), &request(true)).await.expect("sync");
    assert_eq!(outcome.phase, OperationPhase::Succeeded);
    assert_eq!(cluster.writes(), vec!["apply ConfigMap/config"]);
    assert!(cluster.has("ConfigMap", "old") && cluster.has("ConfigMap", "untracked"));

    let clash = tempfile::tempdir().expect("tempdir");
    write(clash.path(), "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: old\n");
    let err = sync(&cluster, &app("    syncOptions: []\n"), clash.path(), &request(true)).await.expect_err("shared");
    assert_eq!(
        err.to_string(),
        "application 'demo': /ConfigMap:default/old is tracked by application 'other'; kcmp never touches another app's objects: remove it from one of the apps"
    );
}

#[tokio::test]
async fn a_failed_dry_run_applies_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "cm.yaml", CM_WAVE_MINUS_ONE);
    write(
        dir.path(),
        "deploy.yaml",
        &DEPLOYMENT.replace("name: web\n", &format!("name: web\n  annotations:\n    {INVALID}: \"yes\"\n")),
    );
    let cluster = FakeCluster::new();
    let outcome = sync(&cluster, &app("    syncOptions: []\n"), dir.path(), &request(false)).await.expect("sync");
    assert_eq!(outcome.phase, OperationPhase::Failed);
    assert_eq!(
        outcome.message,
        "one or more objects failed to apply (dry run): dry-run apply apps/Deployment:default/web: spec.replicas: Invalid value: \"x\": must be an integer"
    );
    assert!(cluster.writes().is_empty());
}

#[tokio::test]
async fn a_failed_render_applies_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "kustomization.yaml", "resources:\n- missing.yaml\n");
    let cluster = FakeCluster::new();
    let err =
        sync(&cluster, &app("    syncOptions: []\n"), dir.path(), &request(false)).await.expect_err("render fails");
    assert!(err.to_string().starts_with("application 'demo': rendering "), "{err}");
    assert!(cluster.log.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn pruning_everything_is_refused_unless_allow_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = FakeCluster::new();
    cluster.put_tracked("demo", old_config_map(json!({})));
    let err = sync(&cluster, &app("    syncOptions: []\n"), dir.path(), &request(true)).await.expect_err("refused");
    assert!(err.to_string().contains("refusing to prune all 1 resources"), "{err}");
    assert!(cluster.has("ConfigMap", "old"));
    let allowed = app("    automated: {prune: true, allowEmpty: true}\n");
    let outcome = sync(&cluster, &allowed, dir.path(), &request(true)).await.expect("sync");
    assert_eq!(outcome.phase, OperationPhase::Succeeded);
    assert!(!cluster.has("ConfigMap", "old"));
}

#[tokio::test]
async fn create_namespace_creates_the_destination_before_the_dry_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "cm.yaml", CM_WAVE_MINUS_ONE);
    let cluster = FakeCluster::new();
    let yaml = app_yaml("    syncOptions: [CreateNamespace=true]\n").replace("namespace: default", "namespace: fresh");
    let a = Application::from_yaml(&yaml, "app.yaml").expect("app");
    let outcome = sync(&cluster, &a, dir.path(), &request(false)).await.expect("sync");
    assert_eq!(outcome.phase, OperationPhase::Succeeded, "{}", outcome.message);
    assert_eq!(cluster.writes(), vec!["apply Namespace/fresh", "apply ConfigMap/config"]);
    let ns = cluster.object("Namespace", "fresh").expect("namespace");
    assert!(ns["metadata"].get("annotations").is_none(), "the namespace carries no tracking id");

    let without = tempfile::tempdir().expect("tempdir");
    write(without.path(), "cm.yaml", CM_WAVE_MINUS_ONE);
    let other = Application::from_yaml(
        &app_yaml("    syncOptions: []\n").replace("namespace: default", "namespace: absent"),
        "a.yaml",
    )
    .expect("app");
    let outcome = sync(&cluster, &other, without.path(), &request(false)).await.expect("sync");
    assert_eq!(outcome.phase, OperationPhase::Failed);
    assert!(outcome.message.contains("namespaces \"absent\" not found"), "{}", outcome.message);
}

#[tokio::test]
async fn a_dry_run_sync_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "cm.yaml", CM_WAVE_MINUS_ONE);
    let cluster = FakeCluster::new();
    cluster.put_tracked("demo", old_config_map(json!({})));
    let mut req = request(true);
    req.execute.dry_run = true;
    let outcome = sync(&cluster, &app("    syncOptions: []\n"), dir.path(), &req).await.expect("sync");
    assert_eq!(outcome.phase, OperationPhase::Succeeded);
    assert!(cluster.writes().is_empty());
    assert!(outcome.results.iter().any(|r| r.status == ResultStatus::Pruned && r.message == "pruned (dry run)"));
}

#[tokio::test]
async fn live_drift_makes_the_app_out_of_sync_and_a_sync_repairs_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "cm.yaml", CM_WAVE_MINUS_ONE);
    let cluster = FakeCluster::new();
    let a = app("    syncOptions: []\n");
    sync(&cluster, &a, dir.path(), &request(false)).await.expect("sync");
    let mut live = cluster.object("ConfigMap", "config").expect("live");
    live["data"]["k"] = json!("edited");
    cluster.put(serde_json::Value::Object(live));
    assert_eq!(status(&cluster, &a, dir.path()).await, SyncStatus::OutOfSync);
    sync(&cluster, &a, dir.path(), &request(false)).await.expect("sync");
    assert_eq!(status(&cluster, &a, dir.path()).await, SyncStatus::Synced);
}

#[tokio::test]
async fn validate_false_turns_off_server_side_field_validation() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "deploy.yaml",
        &DEPLOYMENT.replace("name: web\n", &format!("name: web\n  annotations:\n    {INVALID}: \"yes\"\n")),
    );
    let cluster = FakeCluster::new();
    let outcome =
        sync(&cluster, &app("    syncOptions: [Validate=false]\n"), dir.path(), &request(false)).await.expect("sync");
    assert_eq!(outcome.phase, OperationPhase::Succeeded, "{}", outcome.message);
    assert!(cluster.has("Deployment", "web"));
}

#[tokio::test]
async fn apply_out_of_sync_only_skips_unmodified_resources() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "cm.yaml", CM_WAVE_MINUS_ONE);
    write(dir.path(), "deploy.yaml", DEPLOYMENT);
    let cluster = FakeCluster::new();
    let a = app("    syncOptions: [ApplyOutOfSyncOnly=true]\n");
    sync(&cluster, &a, dir.path(), &request(false)).await.expect("first sync");
    let mut live = cluster.object("ConfigMap", "config").expect("live");
    live["data"]["k"] = json!("edited");
    cluster.put(serde_json::Value::Object(live));
    cluster.log.lock().expect("lock").clear();
    let outcome = sync(&cluster, &a, dir.path(), &request(false)).await.expect("second sync");
    assert_eq!(outcome.phase, OperationPhase::Succeeded, "{}", outcome.message);
    assert_eq!(cluster.writes(), vec!["apply ConfigMap/config"], "the unmodified Deployment is not re-applied");
}

#[tokio::test]
async fn a_selective_sync_applies_only_the_named_resources_and_runs_no_hooks() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "job.yaml", PRESYNC_JOB);
    write(dir.path(), "cm.yaml", CM_WAVE_MINUS_ONE);
    write(dir.path(), "deploy.yaml", DEPLOYMENT);
    let cluster = FakeCluster::new();
    let mut req = request(false);
    req.resources = vec![kcmp::controller::sync::plan::Selector::parse("apps:Deployment:web").expect("selector")];
    let outcome = sync(&cluster, &app("    syncOptions: []\n"), dir.path(), &req).await.expect("sync");
    assert_eq!(outcome.phase, OperationPhase::Succeeded, "{}", outcome.message);
    assert_eq!(cluster.writes(), vec!["apply Deployment/web"]);

    let cluster = FakeCluster::new();
    let mut req = request(false);
    req.resources = vec![kcmp::controller::sync::plan::Selector::parse("!:ConfigMap:*").expect("selector")];
    sync(&cluster, &app("    syncOptions: []\n"), dir.path(), &req).await.expect("sync");
    assert_eq!(cluster.writes(), vec!["apply Deployment/web"], "exclusions only: everything else, still no hooks");

    let cluster = FakeCluster::new();
    let mut req = request(false);
    req.skip_hooks = true;
    sync(&cluster, &app("    syncOptions: []\n"), dir.path(), &req).await.expect("sync");
    assert_eq!(
        cluster.writes(),
        vec!["apply ConfigMap/config", "apply Deployment/web"],
        "--strategy apply skips hooks"
    );

    let err = kcmp::controller::sync::plan::Selector::parse("Deployment/web").expect_err("bad");
    assert_eq!(err, "--resource \"Deployment/web\": expected GROUP:KIND:NAME or GROUP:KIND:NAMESPACE/NAME");
}

#[tokio::test]
async fn respect_ignore_differences_keeps_live_values_of_ignored_fields() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "deploy.yaml", DEPLOYMENT);
    let cluster = FakeCluster::new();
    let policy = "    syncOptions: [RespectIgnoreDifferences=true]\n";
    let yaml = app_yaml(policy).replace(
        "  syncPolicy:\n",
        "  ignoreDifferences:\n  - {group: apps, kind: Deployment, jsonPointers: [/spec/replicas]}\n  syncPolicy:\n",
    );
    let a = Application::from_yaml(&yaml, "app.yaml").expect("app");
    sync(&cluster, &a, dir.path(), &request(false)).await.expect("first sync");
    let mut live = cluster.object("Deployment", "web").expect("live");
    live["spec"]["replicas"] = json!(7);
    cluster.put(serde_json::Value::Object(live));
    assert_eq!(status(&cluster, &a, dir.path()).await, SyncStatus::Synced, "ignored for the diff");
    sync(&cluster, &a, dir.path(), &request(false)).await.expect("second sync");
    assert_eq!(
        cluster.object("Deployment", "web").expect("live")["spec"]["replicas"],
        7,
        "the scaled value survives a sync"
    );

    let plain = Application::from_yaml(&yaml.replace("RespectIgnoreDifferences=true", "Validate=true"), "app.yaml")
        .expect("app");
    sync(&cluster, &plain, dir.path(), &request(false)).await.expect("third sync");
    assert_eq!(
        cluster.object("Deployment", "web").expect("live")["spec"]["replicas"],
        1,
        "without the option git wins"
    );
}

#[tokio::test]
async fn sync_fail_hooks_run_only_when_the_operation_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "cleanup.yaml",
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: cleanup\n  annotations:\n    argocd.argoproj.io/hook: SyncFail\n",
    );
    write(dir.path(), "cm.yaml", CM_WAVE_MINUS_ONE);
    let cluster = FakeCluster::new();
    let ok = sync(&cluster, &app("    syncOptions: []\n"), dir.path(), &request(false)).await.expect("sync");
    assert_eq!(ok.phase, OperationPhase::Succeeded);
    assert!(!cluster.has("Job", "cleanup"), "no SyncFail hook on success");

    write(
        dir.path(),
        "deploy.yaml",
        &DEPLOYMENT.replace("name: web\n", &format!("name: web\n  annotations:\n    {HEALTH}: degraded\n")),
    );
    write(dir.path(), "svc.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  annotations:\n    argocd.argoproj.io/sync-wave: \"1\"\n");
    let failed = sync(&cluster, &app("    syncOptions: []\n"), dir.path(), &request(false)).await.expect("sync");
    assert_eq!(failed.phase, OperationPhase::Failed);
    assert!(cluster.has("Job", "cleanup"), "the SyncFail hook ran");
    let hook = failed.results.iter().find(|r| r.key.name == "cleanup").expect("hook result");
    assert_eq!((hook.phase.to_string(), hook.state), ("SyncFail".to_string(), TaskState::Succeeded));
}

#[tokio::test]
async fn a_post_sync_hook_waits_for_the_sync_phase_to_be_healthy() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "deploy.yaml",
        &DEPLOYMENT.replace("name: web\n", &format!("name: web\n  annotations:\n    {HEALTH}: progressing\n")),
    );
    write(
        dir.path(),
        "notify.yaml",
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: notify\n  annotations:\n    argocd.argoproj.io/hook: PostSync\n",
    );
    let cluster = FakeCluster::new();
    let mut req = request(false);
    req.execute.timeout = Duration::from_millis(150);
    let outcome = sync(&cluster, &app("    syncOptions: []\n"), dir.path(), &req).await.expect("sync");
    assert_eq!(outcome.phase, OperationPhase::Failed);
    assert!(outcome.message.contains("waiting for healthy state of apps/Deployment/web"), "{}", outcome.message);
    assert!(!cluster.has("Job", "notify"), "PostSync must not start before Sync is healthy");
}

#[tokio::test]
async fn force_recreates_an_object_whose_update_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let job = |image: &str, force: bool| {
        let ann = if force { "  annotations:\n    argocd.argoproj.io/sync-options: Force=true\n" } else { "" };
        format!("apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: batch\n{ann}spec:\n  template:\n    spec:\n      containers:\n      - {{name: c, image: {image}}}\n")
    };
    write(dir.path(), "job.yaml", &job("a:1", false));
    let cluster = FakeCluster::new();
    let a = app("    syncOptions: []\n");
    assert_eq!(sync(&cluster, &a, dir.path(), &request(false)).await.expect("sync").phase, OperationPhase::Succeeded);

    write(dir.path(), "job.yaml", &job("a:2", false));
    let refused = sync(&cluster, &a, dir.path(), &request(false)).await.expect("sync");
    assert_eq!(refused.phase, OperationPhase::Failed);
    assert!(refused.message.contains("field is immutable"), "{}", refused.message);

    write(dir.path(), "job.yaml", &job("a:2", true));
    cluster.log.lock().expect("lock").clear();
    let forced = sync(&cluster, &a, dir.path(), &request(false)).await.expect("sync");
    assert_eq!(forced.phase, OperationPhase::Succeeded, "{}", forced.message);
    assert_eq!(cluster.writes(), vec!["apply Job/batch", "delete Job/batch", "apply Job/batch"]);
    let live = cluster.object("Job", "batch").expect("recreated");
    assert_eq!(live["spec"]["template"]["spec"]["containers"][0]["image"], "a:2");
}

/// A server on which another controller writes the app's object after kcmp read
/// it (as the Deployment controller adds its revision annotation right after a
/// sync): the first write lands just before the dry-run apply, any further one
/// just before the next read. The dry-run answers with what the writes left, at
/// the stored resourceVersion, as a real server does.
struct WrittenDuringCompare {
    live: std::sync::Mutex<serde_json::Map<String, serde_json::Value>>,
    writes_left: std::sync::atomic::AtomicUsize,
    dry_run_seen: std::sync::atomic::AtomicBool,
}

impl WrittenDuringCompare {
    fn other_controller_writes(&self, live: &mut serde_json::Map<String, serde_json::Value>) {
        use std::sync::atomic::Ordering::SeqCst;
        let pending = self.writes_left.load(SeqCst);
        if pending == 0 {
            return;
        }
        self.writes_left.store(pending - 1, SeqCst);
        live["metadata"]["annotations"]["example.com/revision"] = json!(pending.to_string());
        let version: u64 = live["metadata"]["resourceVersion"].as_str().unwrap_or("0").parse().unwrap_or(0);
        live["metadata"]["resourceVersion"] = json!((version + 1).to_string());
    }
}

impl kcmp::controller::kube::Cluster for WrittenDuringCompare {
    fn scope(&self, _api_version: &str, _kind: &str) -> Option<kcmp::controller::kube::KindScope> {
        Some(kcmp::controller::kube::KindScope::Namespaced)
    }

    async fn get(
        &self,
        _api_version: &str,
        _key: &kcmp::controller::tracking::ResourceKey,
    ) -> kcmp::controller::Result<Option<serde_json::Map<String, serde_json::Value>>> {
        let mut live = self.live.lock().expect("lock");
        if self.dry_run_seen.load(std::sync::atomic::Ordering::SeqCst) {
            self.other_controller_writes(&mut live);
        }
        Ok(Some(live.clone()))
    }

    async fn list_tracked(
        &self,
        _app: &str,
    ) -> kcmp::controller::Result<Vec<serde_json::Map<String, serde_json::Value>>> {
        Ok(vec![self.live.lock().expect("lock").clone()])
    }

    async fn apply(
        &self,
        obj: &serde_json::Map<String, serde_json::Value>,
        opts: kcmp::controller::kube::ApplyOptions,
    ) -> kcmp::controller::Result<serde_json::Map<String, serde_json::Value>> {
        assert!(opts.dry_run, "compare only dry-runs");
        let mut live = self.live.lock().expect("lock");
        if !self.dry_run_seen.swap(true, std::sync::atomic::Ordering::SeqCst) {
            self.other_controller_writes(&mut live);
        }
        let mut predicted = obj.clone();
        predicted["metadata"]["annotations"] = live["metadata"]["annotations"].clone();
        predicted["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"].clone();
        Ok(predicted)
    }

    async fn delete(
        &self,
        _api_version: &str,
        _key: &kcmp::controller::tracking::ResourceKey,
        _propagation: kcmp::controller::sync::Propagation,
        _dry_run: bool,
    ) -> kcmp::controller::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_write_by_another_controller_during_compare_is_not_drift() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  k: v\n");
    let a = app("    syncOptions: []\n");
    let mut live = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "default", "resourceVersion": "1", "annotations": {}},
        "data": {"k": "v"}})
    .as_object()
    .cloned()
    .expect("object");
    kcmp::controller::tracking::stamp("demo", &mut live, "default");
    let opts = options(dir.path());
    let desired = controller::desired(&a, &opts).await.expect("render");
    for writes in [1, 2] {
        let cluster = WrittenDuringCompare {
            live: std::sync::Mutex::new(live.clone()),
            writes_left: std::sync::atomic::AtomicUsize::new(writes),
            dry_run_seen: Default::default(),
        };
        let cmp = controller::compare(&cluster, &a, &desired, &opts).await.expect("compare");
        assert_eq!(cmp.sync_status, SyncStatus::Synced, "{writes} write(s) during compare: {:?}", cmp.diffs);
        let seen = cmp.reconciled.resources[0].live.as_ref().expect("live");
        assert_eq!(seen["metadata"]["resourceVersion"], json!((1 + writes).to_string()), "the re-read live copy");
    }
}
