//! The reconcile loop of `kcmp controller`, one reconcile at a time, against the
//! in-memory API server (`support/fake_cluster.rs`): what the kube-rs runtime
//! would call on every watch event or requeue. ApplicationSet clusters generator
//! (create per labelled cluster Secret, delete when the label goes), a generator
//! error deletes nothing, auto-sync follows a new revision of a local Git repo,
//! selfHeal reverts a manual edit, a manual `operation` runs and is cleared.
//! The same scenarios against a real API server, gated on `KCMP_TEST_KUBECONFIG`:
//! `controller_loop_cluster.rs`.

mod support;

use kcmp::controller::appset::plan;
use kcmp::controller::autosync::SelfHeal;
use kcmp::controller::metrics::Metrics;
use kcmp::controller::run::app::{self, AppSettings};
use kcmp::controller::run::appset::{self, AppSetSettings};
use kcmp::controller::source::SourceOptions;
use kcmp::controller::sync::execute::ExecuteOptions;
use kcmp::controller::tracking::ResourceKey;
use kcmp::controller::Options;
use serde_json::{json, Value};
use std::cell::Cell;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::fake_cluster::FakeCluster;

thread_local! {
    // Per test: `#[tokio::test]` runs the test and its reconciles on one thread.
    static NOW: Cell<i64> = const { Cell::new(1_700_000_000) };
}

fn now() -> i64 {
    NOW.with(Cell::get)
}

fn advance(secs: i64) {
    NOW.with(|n| n.set(n.get() + secs));
}

fn settings(base: &Path) -> AppSettings {
    let source = SourceOptions { base_dir: base.to_path_buf(), ..SourceOptions::default() };
    AppSettings {
        options: Options { controller_namespace: "argocd".into(), source, render: Default::default() },
        interval: Duration::from_secs(120),
        self_heal: SelfHeal::default(),
        execute: ExecuteOptions {
            timeout: Duration::from_secs(20),
            poll_interval: Duration::from_millis(10),
            wave_delay: Duration::ZERO,
            ..ExecuteOptions::default()
        },
        cluster_url: "https://10.0.0.1:6443".into(),
    }
}

fn cluster_secret(name: &str, addon: bool) -> Value {
    let mut labels = json!({"argocd.argoproj.io/secret-type": "cluster", "env": "prod"});
    if addon {
        labels["addons.kcmp.dev/metrics-server"] = json!("enabled");
    }
    json!({"apiVersion": "v1", "kind": "Secret",
           "metadata": {"name": format!("cluster-{name}"), "namespace": "argocd", "labels": labels},
           "stringData": {"name": name, "server": format!("https://{name}.example.com")}})
}

fn addon_appset(extra_generator: Option<Value>) -> Value {
    let mut generators =
        vec![json!({"clusters": {"selector": {"matchLabels": {"addons.kcmp.dev/metrics-server": "enabled"}}}})];
    if let Some(g) = extra_generator {
        generators.push(g);
    }
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
           "metadata": {"name": "metrics-server", "namespace": "argocd", "uid": "uid-appset"},
           "spec": {"generators": generators,
                    "template": {"metadata": {"name": "metrics-server-{{name}}"},
                                 "spec": {"project": "default",
                                          "source": {"repoURL": "https://git.example.com/addons.git", "path": "metrics-server"},
                                          "destination": {"server": "{{server}}", "namespace": "kube-system"}}}}})
}

fn argocd() -> FakeCluster {
    let fake = FakeCluster::new();
    fake.put(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}}));
    fake
}

fn apps(fake: &FakeCluster) -> Vec<String> {
    let objects = fake.objects.lock().expect("lock");
    objects.keys().filter(|k| k.kind == "Application").map(|k| k.name.clone()).collect()
}

async fn reconcile_set(fake: &FakeCluster) -> appset::Done {
    let raw = Value::Object(fake.object("ApplicationSet", "metrics-server").expect("appset stored"));
    let settings = AppSetSettings { plan: plan::Settings::default(), ..AppSetSettings::default() };
    appset::reconcile(fake, &raw, &settings).await.expect("reconcile")
}

#[tokio::test]
async fn clusters_generator_creates_one_app_per_labelled_secret_and_deletes_it_when_the_label_goes() {
    let fake = argocd();
    fake.put(addon_appset(None));
    fake.put(cluster_secret("prod-eu", true));
    fake.put(cluster_secret("prod-us", true));
    fake.put(cluster_secret("dev", false));
    let done = reconcile_set(&fake).await;
    assert_eq!(done.created, ["metrics-server-prod-eu", "metrics-server-prod-us"]);
    assert_eq!(apps(&fake), ["metrics-server-prod-eu", "metrics-server-prod-us"]);
    let app = fake.object("Application", "metrics-server-prod-eu").expect("created");
    assert_eq!(app["spec"]["destination"]["server"], "https://prod-eu.example.com");
    assert_eq!(app["metadata"]["ownerReferences"][0]["kind"], "ApplicationSet");
    let set = fake.object("ApplicationSet", "metrics-server").expect("set");
    assert_eq!(set["status"]["conditions"][2]["type"], "ResourcesUpToDate");
    assert_eq!(set["status"]["conditions"][2]["status"], "True");

    let again = reconcile_set(&fake).await;
    assert!(again.created.is_empty() && again.updated.is_empty() && again.deleted.is_empty(), "{again:?}");

    fake.put(cluster_secret("prod-us", false));
    let done = reconcile_set(&fake).await;
    assert_eq!(done.deleted, ["metrics-server-prod-us"]);
    assert_eq!(apps(&fake), ["metrics-server-prod-eu"]);
}

#[tokio::test]
async fn a_generator_error_deletes_nothing_and_is_reported() {
    let fake = argocd();
    fake.put(addon_appset(None));
    fake.put(cluster_secret("prod-eu", true));
    reconcile_set(&fake).await;
    assert_eq!(apps(&fake), ["metrics-server-prod-eu"]);
    // A second generator that cannot run: its repository does not exist.
    let missing = tempfile::tempdir().expect("tmp");
    let url = missing.path().join("no-such-repo").display().to_string();
    fake.put(addon_appset(Some(json!({"git": {"repoURL": url, "revision": "HEAD", "directories": [{"path": "*"}]}}))));
    fake.put(cluster_secret("prod-eu", false));
    let done = reconcile_set(&fake).await;
    let error = done.error.expect("generation failed");
    assert!(error.contains("git checkout"), "{error}");
    assert!(done.deleted.is_empty() && done.created.is_empty());
    assert_eq!(apps(&fake), ["metrics-server-prod-eu"], "nothing deleted although no cluster is selected any more");
    let set = fake.object("ApplicationSet", "metrics-server").expect("set");
    assert_eq!(set["status"]["conditions"][0]["type"], "ErrorOccurred");
    assert_eq!(set["status"]["conditions"][0]["status"], "True");
}

#[tokio::test]
async fn the_refresh_annotation_is_removed_once_generation_succeeded() {
    let fake = argocd();
    let mut set = addon_appset(None);
    set["metadata"]["annotations"] = json!({appset::REFRESH_ANNOTATION: "true", "team": "platform"});
    fake.put(set.clone());
    fake.put(cluster_secret("prod-eu", true));
    let done = reconcile_set(&fake).await;
    assert_eq!(done.created, ["metrics-server-prod-eu"]);
    let stored = fake.object("ApplicationSet", "metrics-server").expect("set");
    assert_eq!(stored["metadata"]["annotations"], json!({"team": "platform"}), "only the refresh request goes");

    // A failed generation keeps the request, so the retry regenerates too.
    let missing = tempfile::tempdir().expect("tmp");
    let url = missing.path().join("no-such-repo").display().to_string();
    let mut broken =
        addon_appset(Some(json!({"git": {"repoURL": url, "revision": "HEAD", "directories": [{"path": "*"}]}})));
    broken["metadata"]["annotations"] = json!({appset::REFRESH_ANNOTATION: "true"});
    fake.put(broken);
    assert!(reconcile_set(&fake).await.error.is_some());
    let stored = fake.object("ApplicationSet", "metrics-server").expect("set");
    assert_eq!(stored["metadata"]["annotations"][appset::REFRESH_ANNOTATION], "true");
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn commit_config(repo: &Path, value: &str) -> String {
    std::fs::write(
        repo.join("cm.yaml"),
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  value: \"{value}\"\n"),
    )
    .expect("write");
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-qm", value]);
    git(repo, &["rev-parse", "HEAD"])
}

fn application(repo: &Path, automated: Value) -> Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
           "metadata": {"name": "web", "namespace": "argocd"},
           "spec": {"project": "default",
                    "source": {"repoURL": repo.display().to_string(), "targetRevision": "HEAD", "path": "."},
                    "destination": {"server": "https://kubernetes.default.svc", "namespace": "default"},
                    "syncPolicy": {"automated": automated}}})
}

async fn reconcile_app(fake: &FakeCluster, settings: &AppSettings) -> app::Done {
    let raw = Value::Object(fake.object("Application", "web").expect("app stored"));
    app::reconcile(fake, &raw, settings, &Metrics::new(), now).await.expect("reconcile")
}

fn live_value(fake: &FakeCluster) -> Option<String> {
    fake.object("ConfigMap", "settings").and_then(|c| c["data"]["value"].as_str().map(String::from))
}

fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    git(dir.path(), &["init", "-q", "-b", "main"]);
    dir
}

#[tokio::test]
async fn auto_sync_applies_each_new_revision_once_and_writes_status() {
    let repo = repo();
    let rev1 = commit_config(repo.path(), "one");
    let fake = FakeCluster::new();
    fake.put(application(repo.path(), json!({"prune": true})));
    let s = settings(repo.path());
    let done = reconcile_app(&fake, &s).await;
    assert_eq!(done.ran.as_deref(), Some("Succeeded"));
    assert_eq!(live_value(&fake).as_deref(), Some("one"));
    let app = fake.object("Application", "web").expect("app");
    assert_eq!(app["status"]["sync"]["status"], "Synced");
    assert_eq!(app["status"]["sync"]["revision"], rev1.as_str());
    assert_eq!(app["status"]["health"]["status"], "Healthy");
    assert_eq!(app["status"]["operationState"]["phase"], "Succeeded");
    assert_eq!(app["status"]["operationState"]["syncResult"]["revision"], rev1.as_str());
    assert_eq!(app["status"]["operationState"]["syncResult"]["resources"][0]["name"], "settings");
    assert_eq!(app["status"]["operationState"]["operation"]["initiatedBy"]["automated"], true);
    assert_eq!(app["status"]["resources"][0]["kind"], "ConfigMap");
    assert_eq!(app["status"]["resources"][0]["status"], "Synced");
    let patches = fake.writes().iter().filter(|w| w.starts_with("patch Application")).count();
    assert_eq!(patches, 1, "status is written once per reconcile");

    let idle = reconcile_app(&fake, &s).await;
    assert_eq!(idle.ran, None, "nothing to do at the same revision");

    let rev2 = commit_config(repo.path(), "two");
    advance(5);
    let done = reconcile_app(&fake, &s).await;
    assert_eq!(done.ran.as_deref(), Some("Succeeded"));
    assert_eq!(live_value(&fake).as_deref(), Some("two"));
    let app = fake.object("Application", "web").expect("app");
    assert_eq!(app["status"]["sync"]["revision"], rev2.as_str());
    let history: Vec<&str> =
        app["status"]["history"].as_array().expect("history").iter().filter_map(|h| h["revision"].as_str()).collect();
    assert_eq!(history, [rev1.as_str(), rev2.as_str()]);
}

fn edit_live(fake: &FakeCluster, value: &str) {
    let mut cm = fake.object("ConfigMap", "settings").expect("live");
    cm["data"]["value"] = json!(value);
    let key = ResourceKey::of(&cm);
    fake.objects.lock().expect("lock").insert(key, cm);
}

#[tokio::test]
async fn self_heal_reverts_a_manual_edit_and_without_it_the_drift_stays() {
    let repo = repo();
    commit_config(repo.path(), "one");
    let s = settings(repo.path());

    let fake = FakeCluster::new();
    fake.put(application(repo.path(), json!({})));
    reconcile_app(&fake, &s).await;
    edit_live(&fake, "edited");
    let done = reconcile_app(&fake, &s).await;
    assert_eq!(done.ran, None, "no selfHeal: one sync per revision");
    assert_eq!(live_value(&fake).as_deref(), Some("edited"));
    assert_eq!(done.status["sync"]["status"], "OutOfSync");

    let fake = FakeCluster::new();
    fake.put(application(repo.path(), json!({"selfHeal": true})));
    reconcile_app(&fake, &s).await;
    edit_live(&fake, "edited");
    advance(1);
    let done = reconcile_app(&fake, &s).await;
    assert_eq!(done.ran.as_deref(), Some("Succeeded"));
    assert_eq!(live_value(&fake).as_deref(), Some("one"), "selfHeal reverted the edit");
    assert_eq!(done.status["sync"]["status"], "Synced");
    assert_eq!(done.status["operationState"]["operation"]["sync"]["selfHealAttemptsCount"], 1);
    // A second drift right away waits for the backoff (2s after attempt 1).
    edit_live(&fake, "edited again");
    let done = reconcile_app(&fake, &s).await;
    assert_eq!(done.ran, None);
    assert_eq!(done.requeue, Duration::from_secs(2));
}

#[tokio::test]
async fn a_manual_operation_runs_and_is_cleared_and_a_bad_one_is_refused() {
    let repo = repo();
    commit_config(repo.path(), "one");
    let s = settings(repo.path());
    let fake = FakeCluster::new();
    let mut manual = application(repo.path(), json!(null));
    manual["spec"]["syncPolicy"] = json!({});
    manual["operation"] = json!({"sync": {"revision": "HEAD"}, "initiatedBy": {"username": "admin"}});
    fake.put(manual.clone());
    let done = reconcile_app(&fake, &s).await;
    assert_eq!(done.ran.as_deref(), Some("Succeeded"));
    assert_eq!(live_value(&fake).as_deref(), Some("one"));
    let app = fake.object("Application", "web").expect("app");
    assert!(app.get("operation").is_none(), "the finished operation is cleared");
    assert_eq!(app["status"]["operationState"]["operation"]["initiatedBy"]["username"], "admin");

    manual["operation"] = json!({"initiatedBy": {"username": "admin"}});
    fake.put(manual);
    let done = reconcile_app(&fake, &s).await;
    assert_eq!(done.ran, None);
    assert_eq!(done.status["operationState"]["phase"], "Error");
    assert_eq!(done.status["operationState"]["message"], "operation has no sync field: kcmp runs sync operations only");
    assert!(fake.object("Application", "web").expect("app").get("operation").is_none());
}

#[tokio::test]
async fn a_render_failure_is_a_comparison_error_and_nothing_is_applied() {
    let repo = repo();
    std::fs::write(repo.path().join("kustomization.yaml"), "resources: [missing.yaml]\n").expect("write");
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-qm", "broken"]);
    let s = settings(repo.path());
    let fake = FakeCluster::new();
    fake.put(application(repo.path(), json!({"prune": true})));
    let done = reconcile_app(&fake, &s).await;
    assert_eq!(done.ran, None);
    assert_eq!(done.status["sync"]["status"], "Unknown");
    assert_eq!(done.status["conditions"][0]["type"], "ComparisonError");
    assert!(fake.writes().iter().all(|w| !w.starts_with("apply")), "{:?}", fake.writes());
}

#[tokio::test]
async fn an_app_for_another_cluster_is_refused_and_nothing_is_applied() {
    let repo = repo();
    commit_config(repo.path(), "one");
    let s = settings(repo.path());
    let fake = FakeCluster::new();
    let mut app = application(repo.path(), json!({"prune": true}));
    app["spec"]["destination"]["server"] = json!("https://prod-eu.example.com");
    fake.put(app);
    let done = reconcile_app(&fake, &s).await;
    assert_eq!(done.ran, None);
    let message = done.status["conditions"][0]["message"].as_str().unwrap_or_default().to_string();
    assert_eq!(done.status["conditions"][0]["type"], "InvalidSpecError");
    assert!(message.contains("spec.destination names server https://prod-eu.example.com"), "{message}");
    assert!(fake.writes().iter().all(|w| !w.starts_with("apply")), "{:?}", fake.writes());
}

#[tokio::test]
async fn deleting_an_app_with_the_resources_finalizer_deletes_its_objects_then_the_finalizer() {
    let repo = repo();
    commit_config(repo.path(), "one");
    let s = settings(repo.path());
    let fake = FakeCluster::new();
    fake.put(application(repo.path(), json!({})));
    reconcile_app(&fake, &s).await;
    assert!(fake.has("ConfigMap", "settings"));
    fake.put_tracked(
        "other",
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "theirs", "namespace": "default"}}),
    );
    let mut app = Value::Object(fake.object("Application", "web").expect("app"));
    app["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    app["metadata"]["finalizers"] = json!(["resources-finalizer.argocd.argoproj.io"]);
    fake.put(app);
    let first = reconcile_app(&fake, &s).await;
    assert!(!fake.has("ConfigMap", "settings"), "the app's object is deleted");
    assert!(fake.has("ConfigMap", "theirs"), "another app's object is not");
    assert_eq!(first.requeue, Duration::from_secs(5), "the finalizer waits for the deletions");
    reconcile_app(&fake, &s).await;
    let app = fake.object("Application", "web").expect("app");
    assert_eq!(app["metadata"]["finalizers"], json!([]), "finalizer removed once nothing is left");
}

#[tokio::test]
async fn a_refresh_annotation_is_answered_and_removed_in_the_same_write() {
    let repo = repo();
    commit_config(repo.path(), "one");
    let s = settings(repo.path());
    let fake = FakeCluster::new();
    let mut app = application(repo.path(), json!({}));
    app["metadata"]["annotations"] = json!({"argocd.argoproj.io/refresh": "normal", "keep": "me"});
    fake.put(app);
    reconcile_app(&fake, &s).await;
    let app = fake.object("Application", "web").expect("app");
    assert_eq!(app["metadata"]["annotations"], json!({"keep": "me"}));
    assert_eq!(fake.writes().iter().filter(|w| w.starts_with("patch Application")).count(), 1);
}

#[tokio::test]
async fn an_unchanged_status_is_not_written_again() {
    let repo = repo();
    commit_config(repo.path(), "one");
    let s = settings(repo.path());
    let fake = FakeCluster::new();
    fake.put(application(repo.path(), json!({})));
    reconcile_app(&fake, &s).await;
    advance(1);
    reconcile_app(&fake, &s).await;
    reconcile_app(&fake, &s).await;
    assert_eq!(fake.writes().iter().filter(|w| w.starts_with("patch Application")).count(), 1);
}

#[tokio::test]
async fn app_of_apps_creates_child_applications_and_counts_their_health() {
    let repo = repo();
    let child = |name: &str| {
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {name}\n  namespace: argocd\nspec:\n  project: default\n  source:\n    repoURL: ./child\n  destination:\n    server: https://kubernetes.default.svc\n    namespace: default\n"
        )
    };
    std::fs::write(repo.path().join("a.yaml"), child("child-a")).expect("write");
    std::fs::write(repo.path().join("b.yaml"), child("child-b")).expect("write");
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-qm", "children"]);
    let s = settings(repo.path());
    let fake = argocd();
    let mut root = application(repo.path(), json!({}));
    root["spec"]["destination"]["namespace"] = json!("argocd");
    fake.put(root);
    let done = reconcile_app(&fake, &s).await;
    assert_eq!(done.ran.as_deref(), Some("Succeeded"), "{}", done.status);
    assert!(fake.has("Application", "child-a") && fake.has("Application", "child-b"));
    assert_eq!(done.status["health"]["status"], "Progressing", "children without health yet");
    for (name, health) in [("child-a", "Healthy"), ("child-b", "Degraded")] {
        let mut c = fake.object("Application", name).expect("child");
        c.insert("status".into(), json!({"health": {"status": health}}));
        fake.objects.lock().expect("lock").insert(ResourceKey::of(&c), c);
    }
    advance(1);
    let done = reconcile_app(&fake, &s).await;
    assert_eq!(done.status["health"]["status"], "Degraded", "the worst child health counts");
    assert_eq!(done.status["sync"]["status"], "Synced", "child status is not drift");
    let kinds: Vec<&str> =
        done.status["resources"].as_array().expect("list").iter().filter_map(|r| r["kind"].as_str()).collect();
    assert_eq!(kinds, ["Application", "Application"]);
    assert_eq!(done.status["resources"][1]["health"]["status"], "Degraded");
}

#[tokio::test]
async fn a_requested_operation_on_a_broken_source_ends_in_error_instead_of_waiting() {
    let repo = repo();
    std::fs::write(repo.path().join("kustomization.yaml"), "resources: [missing.yaml]\n").expect("write");
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-qm", "broken"]);
    let s = settings(repo.path());
    let fake = FakeCluster::new();
    let mut app = application(repo.path(), json!(null));
    app["spec"]["syncPolicy"] = json!({});
    app["operation"] = json!({"sync": {"revision": "HEAD"}, "retry": {"limit": 1, "backoff": {"duration": "7s"}}});
    fake.put(app);
    let first = reconcile_app(&fake, &s).await;
    assert_eq!(first.ran.as_deref(), Some("Running"), "one retry left");
    assert_eq!(first.requeue, Duration::from_secs(7));
    let state = &first.status["operationState"];
    assert!(state["message"].as_str().unwrap_or_default().starts_with("ComparisonError: "), "{state}");
    assert!(fake.object("Application", "web").expect("app").get("operation").is_some(), "kept for the retry");
    advance(7);
    let second = reconcile_app(&fake, &s).await;
    assert_eq!(second.ran.as_deref(), Some("Error"));
    assert!(second.status["operationState"]["message"].as_str().unwrap_or_default().ends_with("(retried 1 times)."));
    assert!(fake.object("Application", "web").expect("app").get("operation").is_none(), "cleared once it ended");
}

#[tokio::test]
async fn a_failed_auto_sync_retries_at_the_same_revision_with_backoff() {
    let repo = repo();
    std::fs::write(
        repo.path().join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  annotations:\n    test.kcmp/invalid: \"yes\"\ndata:\n  value: \"bad\"\n",
    )
    .expect("write");
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-qm", "bad"]);
    let rev1 = git(repo.path(), &["rev-parse", "HEAD"]);
    let s = settings(repo.path());
    let fake = FakeCluster::new();
    fake.put(application(repo.path(), json!({})));
    let first = reconcile_app(&fake, &s).await;
    assert_eq!(first.ran.as_deref(), Some("Running"), "failed, retry pending: {}", first.status["operationState"]);
    assert_eq!(first.requeue, Duration::from_secs(5), "default backoff 5s");
    let stored = fake.object("Application", "web").expect("app");
    assert_eq!(stored["operation"]["initiatedBy"]["automated"], true, "the auto-sync is kept as the app's operation");
    assert_eq!(stored["status"]["operationState"]["retryCount"], 1);

    // A fixed revision lands meanwhile; the retry still syncs the failed attempt's revision.
    let rev2 = commit_config(repo.path(), "good");
    assert_ne!(rev1, rev2);
    advance(2);
    let early = reconcile_app(&fake, &s).await;
    assert_eq!(early.ran, None, "backoff not over");
    advance(3);
    let retry = reconcile_app(&fake, &s).await;
    assert_eq!(retry.ran.as_deref(), Some("Running"));
    assert_eq!(retry.status["operationState"]["syncResult"]["revision"], rev1.as_str(), "pinned");
    assert_eq!(retry.status["operationState"]["retryCount"], 2);
    assert_eq!(live_value(&fake), None, "nothing applied");
}

#[tokio::test]
async fn applicationset_status_lists_its_apps_and_a_create_only_set_orphans_them_on_deletion() {
    let fake = argocd();
    let mut set = addon_appset(None);
    set["spec"]["syncPolicy"] = json!({"applicationsSync": "create-only"});
    set["metadata"]["finalizers"] = json!(["resources-finalizer.argocd.argoproj.io"]);
    fake.put(set);
    fake.put(cluster_secret("prod-eu", true));
    let done = reconcile_set(&fake).await;
    assert_eq!(done.created, ["metrics-server-prod-eu"]);
    let stored = fake.object("ApplicationSet", "metrics-server").expect("set");
    assert_eq!(stored["status"]["resources"][0]["name"], "metrics-server-prod-eu");
    assert_eq!(stored["status"]["resources"][0]["kind"], "Application");

    let mut deleting = Value::Object(stored);
    deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    fake.put(deleting);
    reconcile_set(&fake).await;
    let app = fake.object("Application", "metrics-server-prod-eu").expect("kept");
    let refs = app["metadata"]["ownerReferences"].as_array().cloned().unwrap_or_default();
    assert!(refs.iter().all(|r| r["kind"] != "ApplicationSet"), "ownerReference removed: {refs:?}");
    let set = fake.object("ApplicationSet", "metrics-server").expect("set");
    assert_eq!(set["metadata"]["finalizers"], json!([]), "the set's finalizer is removed");
}
