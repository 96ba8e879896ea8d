//! Integration tests against a real API server (with nodes: Jobs and Deployments must
//! run). They run only when KCMP_TEST_KUBECONFIG names a kubeconfig; otherwise each
//! prints a skip notice and passes. Every test works in its own namespace
//! `kcmp-it-<test>-<pid>` (created by CreateNamespace=true), deleted when the test
//! ends, also on failure; app names carry the pid too, so objects of an earlier run
//! that are still terminating never count as this run's.

#[path = "support/namespace_guard.rs"]
mod namespace_guard;

use kcmp::controller::application::Application;
use kcmp::controller::diff::SyncStatus;
use kcmp::controller::kube::{Cluster, ClusterConfig, KubeCluster};
use kcmp::controller::source::SourceOptions;
use kcmp::controller::sync::execute::{Event, ExecuteOptions, OperationPhase, Outcome, ResultStatus};
use kcmp::controller::tracking::ResourceKey;
use kcmp::controller::{self, Options, SyncRequest};
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

fn kubeconfig(test: &str) -> Option<PathBuf> {
    match std::env::var_os("KCMP_TEST_KUBECONFIG") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => {
            // Written past the test harness's capture so the notice is always seen.
            let _ = writeln!(std::io::stderr(), "skipping {test}: KCMP_TEST_KUBECONFIG is not set (no cluster)");
            None
        }
    }
}

struct Env {
    cluster: KubeCluster,
    kubeconfig: PathBuf,
    namespace: String,
    dir: tempfile::TempDir,
    _cleanup: namespace_guard::NamespaceGuard,
}

async fn env(test: &str) -> Option<Env> {
    let kubeconfig = kubeconfig(test)?;
    let config = ClusterConfig::Kubeconfig { path: kubeconfig.clone(), context: None };
    let cluster = KubeCluster::connect(&config, Duration::from_secs(30)).await.expect("connect to the test cluster");
    let namespace = format!("kcmp-it-{}-{}", test.replace('_', "-"), std::process::id());
    let dir = tempfile::tempdir().expect("tempdir");
    let _cleanup = namespace_guard::NamespaceGuard { kubeconfig: kubeconfig.clone(), namespace: namespace.clone() };
    Some(Env { cluster, kubeconfig, namespace, dir, _cleanup })
}

impl Env {
    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.path().join(name), text).expect("write manifest");
    }

    fn remove(&self, name: &str) {
        std::fs::remove_file(self.dir.path().join(name)).expect("remove manifest");
    }

    fn app(&self, name: &str, options: &[&str]) -> Application {
        let opts: Vec<String> =
            std::iter::once("CreateNamespace=true").chain(options.iter().copied()).map(String::from).collect();
        let yaml = format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: {name}-{}, namespace: argocd}}\nspec:\n  source: {{repoURL: ./unused-local-override}}\n  destination: {{server: https://kubernetes.default.svc, namespace: {}}}\n  syncPolicy:\n    syncOptions: {opts:?}\n",
            std::process::id(),
            self.namespace
        );
        Application::from_yaml(&yaml, "app.yaml").expect("app")
    }

    fn options(&self) -> Options {
        Options {
            controller_namespace: "argocd".into(),
            source: SourceOptions { local: Some(self.dir.path().to_path_buf()), ..Default::default() },
            render: Default::default(),
        }
    }

    async fn sync(&self, app: &Application, prune: bool) -> (Outcome, Vec<String>) {
        let opts = self.options();
        let desired = controller::desired(app, &opts).await.expect("render");
        let cmp = controller::compare(&self.cluster, app, &desired, &opts).await.expect("compare");
        let request = SyncRequest {
            prune,
            sync_options: None,
            resources: Vec::new(),
            skip_hooks: false,
            force: false,
            execute: ExecuteOptions {
                timeout: Duration::from_secs(180),
                poll_interval: Duration::from_secs(1),
                wave_delay: Duration::from_secs(1),
                ..Default::default()
            },
        };
        let mut applied = Vec::new();
        let outcome = controller::sync(&self.cluster, app, &cmp, &request, &mut |e| {
            if let Event::Result(r) = e {
                let entry = format!("{} {}/{}", r.status, r.key.kind, r.key.name);
                if !applied.contains(&entry) {
                    applied.push(entry);
                }
            }
        })
        .await
        .expect("sync");
        (outcome, applied)
    }

    async fn status(&self, app: &Application) -> SyncStatus {
        let opts = self.options();
        let desired = controller::desired(app, &opts).await.expect("render");
        let c = controller::compare(&self.cluster, app, &desired, &opts).await.expect("compare");
        // Shown with a failing assertion on the status: what differs.
        for d in c.diffs.iter().filter(|d| d.modified) {
            eprintln!("modified {:?}\n  live:      {}\n  predicted: {}", d.key, d.normalized_live, d.predicted_live);
        }
        c.sync_status
    }

    async fn exists(&self, api_version: &str, kind: &str, name: &str) -> bool {
        let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or_default();
        let key = ResourceKey {
            group: group.into(),
            kind: kind.into(),
            namespace: self.namespace.clone(),
            name: name.into(),
        };
        matches!(self.cluster.get(api_version, &key).await, Ok(Some(o)) if o["metadata"].get("deletionTimestamp").is_none())
    }
}

fn cm(name: &str, annotations: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  annotations: {{{annotations}}}\ndata:\n  k: v\n"
    )
}

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n";

fn job(name: &str, command: &str, policy: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\n  annotations:\n    argocd.argoproj.io/hook: PreSync\n    argocd.argoproj.io/hook-delete-policy: {policy}\nspec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: run\n        image: busybox:1.36\n        command: [\"sh\", \"-c\", \"{command}\"]\n"
    )
}

#[tokio::test]
async fn wave_minus_one_config_map_is_applied_before_the_wave_zero_deployment() {
    let Some(e) = env("waves").await else { return };
    e.write("cm.yaml", &cm("settings", "argocd.argoproj.io/sync-wave: \"-1\""));
    e.write("deploy.yaml", DEPLOYMENT);
    let app = e.app("it-waves", &[]);
    let (outcome, order) = e.sync(&app, false).await;
    assert_eq!(outcome.phase, OperationPhase::Succeeded, "{}", outcome.message);
    assert_eq!(order, vec!["Synced ConfigMap/settings", "Synced Deployment/web"]);
    assert_eq!(e.status(&app).await, SyncStatus::Synced);
}

/// A Service and a container port without `protocol`: v1.20 servers refuse such a server-side
/// apply ("omits key field \"protocol\"") unless kcmp fills in the TCP default.
#[tokio::test]
async fn ports_without_protocol_sync_and_then_show_no_diff() {
    let Some(e) = env("ports").await else { return };
    e.write(
        "svc.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  ports:\n  - port: 80\n    targetPort: 8080\n",
    );
    e.write(
        "deploy.yaml",
        &DEPLOYMENT
            .replace("image: nginx:1.27\n", "image: nginx:1.27\n        ports:\n        - containerPort: 8080\n"),
    );
    let app = e.app("it-ports", &[]);
    let (outcome, _) = e.sync(&app, false).await;
    assert_eq!(outcome.phase, OperationPhase::Succeeded, "{}", outcome.message);
    assert!(e.exists("v1", "Service", "web").await);
    assert_eq!(e.status(&app).await, SyncStatus::Synced);
}

#[tokio::test]
async fn a_failing_presync_job_gates_the_sync_phase() {
    let Some(e) = env("presync").await else { return };
    e.write("job.yaml", &job("migrate", "exit 1", "HookSucceeded"));
    e.write("deploy.yaml", DEPLOYMENT);
    let app = e.app("it-presync", &[]);
    let (outcome, _) = e.sync(&app, false).await;
    assert_eq!(outcome.phase, OperationPhase::Failed, "{}", outcome.message);
    assert!(
        outcome.message.starts_with("one or more synchronization tasks completed unsuccessfully"),
        "{}",
        outcome.message
    );
    assert!(!e.exists("apps/v1", "Deployment", "web").await, "the Sync phase must not run");
    assert!(e.exists("batch/v1", "Job", "migrate").await, "HookSucceeded keeps a failed hook");

    // §5.3: an explicit policy replaces the BeforeHookCreation default, so the failed Job stays
    // and the changed (immutable) pod template is refused by the dry run, as in Argo CD.
    e.write("job.yaml", &job("migrate", "echo ok", "HookSucceeded"));
    let (outcome, _) = e.sync(&app, false).await;
    assert_eq!(outcome.phase, OperationPhase::Failed, "{}", outcome.message);
    assert!(outcome.message.contains("(dry run)"), "{}", outcome.message);

    // With BeforeHookCreation the leftover is deleted first and the new Job runs.
    e.write("job.yaml", &job("migrate", "echo ok", "BeforeHookCreation,HookSucceeded"));
    let (outcome, order) = e.sync(&app, false).await;
    assert_eq!(outcome.phase, OperationPhase::Succeeded, "{}", outcome.message);
    assert_eq!(order.first().map(String::as_str), Some("Synced Job/migrate"));
    assert!(e.exists("apps/v1", "Deployment", "web").await);
    assert!(!e.exists("batch/v1", "Job", "migrate").await, "HookSucceeded deletes the hook");
}

#[tokio::test]
async fn a_removed_object_is_pruned_last_and_prune_false_is_respected() {
    let Some(e) = env("prune").await else { return };
    e.write("a.yaml", &cm("a", ""));
    e.write("b.yaml", &cm("b", ""));
    e.write("keep.yaml", &cm("keep", "argocd.argoproj.io/sync-options: Prune=false"));
    let app = e.app("it-prune", &["PruneLast=true"]);
    let (outcome, _) = e.sync(&app, false).await;
    assert_eq!(outcome.phase, OperationPhase::Succeeded, "{}", outcome.message);
    e.remove("b.yaml");
    e.remove("keep.yaml");
    assert_eq!(e.status(&app).await, SyncStatus::OutOfSync);
    let (outcome, order) = e.sync(&app, true).await;
    assert_eq!(outcome.phase, OperationPhase::Succeeded, "{}", outcome.message);
    // §5.4/§5.8: with PruneLast every prune task (including the `Prune=false` one, which ends
    // `PruneSkipped`) sits in one extra wave after all applies; prunes of a wave run in parallel.
    let position = |entry: &str| order.iter().position(|o| o == entry);
    let applied = position("Synced ConfigMap/a").expect("a applied");
    let pruned = position("Pruned ConfigMap/b").expect("b pruned");
    let skipped = position("PruneSkipped ConfigMap/keep").expect("keep skipped");
    assert!(applied < pruned && applied < skipped, "{order:?}");
    assert!(outcome.results.iter().any(|r| r.key.name == "keep" && r.status == ResultStatus::PruneSkipped));
    assert!(!e.exists("v1", "ConfigMap", "b").await);
    assert!(e.exists("v1", "ConfigMap", "keep").await);
}

#[tokio::test]
async fn objects_of_another_app_are_never_touched() {
    let Some(e) = env("owners").await else { return };
    e.write("theirs.yaml", &cm("theirs", ""));
    let other = e.app("it-other", &[]);
    assert_eq!(e.sync(&other, false).await.0.phase, OperationPhase::Succeeded);
    e.remove("theirs.yaml");
    e.write("mine.yaml", &cm("mine", ""));
    let mine = e.app("it-mine", &[]);
    let (outcome, _) = e.sync(&mine, true).await;
    assert_eq!(outcome.phase, OperationPhase::Succeeded, "{}", outcome.message);
    assert!(e.exists("v1", "ConfigMap", "theirs").await, "another app's object survives a prune");
    assert!(outcome.results.iter().all(|r| r.key.name != "theirs"));
}

#[tokio::test]
async fn diff_exit_codes() {
    let Some(e) = env("diff").await else { return };
    e.write("cm.yaml", &cm("settings", ""));
    let app_dir = tempfile::tempdir().expect("tempdir");
    let app_file = app_dir.path().join("app.yaml");
    let app = e.app("it-diff", &[]);
    std::fs::write(&app_file, serde_json::to_string(&app).expect("json")).expect("write app");
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_kcmp"))
            .args(["app", "diff", "--color", "never", "--kubeconfig"])
            .arg(&e.kubeconfig)
            .arg("--local")
            .arg(e.dir.path())
            .arg(&app_file)
            .args(extra)
            .output()
            .expect("kcmp runs")
    };
    // The namespace does not exist yet: the ConfigMap is missing, a diff.
    assert_eq!(run(&[]).status.code(), Some(1));
    assert_eq!(run(&["--exit-code=false"]).status.code(), Some(0));
    assert_eq!(e.sync(&app, false).await.0.phase, OperationPhase::Succeeded);
    let synced = run(&[]);
    assert_eq!(synced.status.code(), Some(0), "{}", String::from_utf8_lossy(&synced.stdout));
    assert!(synced.stdout.is_empty());
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_kcmp"))
        .args(["app", "diff", "--kubeconfig"])
        .arg(&e.kubeconfig)
        .arg("no-such-app")
        .output()
        .expect("kcmp runs");
    assert_eq!(missing.status.code(), Some(2));
}
