//! The reconcile loop against a real API server: run only when
//! KCMP_TEST_KUBECONFIG names a kubeconfig (otherwise each test prints a skip
//! notice and passes). The CRDs come from `kcmp controller crds` (applied with
//! kubectl); every test works in its own namespace `kcmp-loop-<test>-<pid>` and
//! deletes it at the end. One reconcile per call, as the runtime would run them.

use kcmp::controller::autosync::SelfHeal;
use kcmp::controller::kube::{ApplyOptions, Cluster, ClusterConfig, KubeCluster};
use kcmp::controller::metrics::Metrics;
use kcmp::controller::run::app::{self, AppSettings};
use kcmp::controller::run::appset::{self, AppSetSettings};
use kcmp::controller::source::SourceOptions;
use kcmp::controller::sync::execute::ExecuteOptions;
use kcmp::controller::sync::plan::ApplyMode;
use kcmp::controller::tracking::ResourceKey;
use kcmp::controller::Options;
use serde_json::{json, Map, Value};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn kubeconfig(test: &str) -> Option<PathBuf> {
    match std::env::var_os("KCMP_TEST_KUBECONFIG") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => {
            let _ = writeln!(std::io::stderr(), "skipping {test}: KCMP_TEST_KUBECONFIG is not set (no cluster)");
            None
        }
    }
}

#[path = "support/namespace_guard.rs"]
mod namespace_guard;

struct Env {
    cluster: KubeCluster,
    namespace: String,
    /// Deletes the namespace when the test ends, also on failure.
    _cleanup: namespace_guard::NamespaceGuard,
}

fn install_crds(kubeconfig: &Path) {
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("run kubectl");
    child.stdin.take().expect("stdin").write_all(kcmp::controller::crds::yaml().as_bytes()).expect("write crds");
    assert!(child.wait().expect("kubectl").success(), "kubectl apply of the CRDs failed");
    let _ = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args([
            "wait",
            "--for=condition=Established",
            "crd/applications.argoproj.io",
            "crd/applicationsets.argoproj.io",
        ])
        .status();
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().expect("object")
}

const WRITE: ApplyOptions = ApplyOptions { mode: ApplyMode::Apply, dry_run: false, validate: false };

async fn env(test: &str) -> Option<Env> {
    let kubeconfig = kubeconfig(test)?;
    install_crds(&kubeconfig);
    let config = ClusterConfig::Kubeconfig { path: kubeconfig.clone(), context: None };
    let cluster = KubeCluster::connect(&config, Duration::from_secs(30)).await.expect("connect to the test cluster");
    let namespace = format!("kcmp-loop-{}-{}", test.replace('_', "-"), std::process::id());
    cluster
        .apply(&obj(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})), WRITE)
        .await
        .expect("create namespace");
    let _cleanup = namespace_guard::NamespaceGuard { kubeconfig, namespace: namespace.clone() };
    Some(Env { cluster, namespace, _cleanup })
}

impl Env {
    async fn get(&self, api_version: &str, kind: &str, name: &str) -> Option<Value> {
        let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or_default();
        let key = ResourceKey {
            group: group.into(),
            kind: kind.into(),
            namespace: self.namespace.clone(),
            name: name.into(),
        };
        self.cluster.get(api_version, &key).await.expect("get").map(Value::Object)
    }

    async fn put(&self, v: Value) {
        self.cluster.apply(&obj(v), WRITE).await.expect("apply");
    }

    async fn apps(&self) -> Vec<String> {
        use kcmp::controller::kube::Objects;
        let list = self.cluster.list("argoproj.io/v1alpha1", "Application", &self.namespace, "").await.expect("list");
        let mut names: Vec<String> =
            list.iter().filter_map(|a| a["metadata"]["name"].as_str().map(String::from)).collect();
        names.sort();
        names
    }
}

fn secret(ns: &str, name: &str, addon: bool) -> Value {
    let mut labels = json!({"argocd.argoproj.io/secret-type": "cluster"});
    if addon {
        labels["addons.kcmp.dev/metrics-server"] = json!("enabled");
    }
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": format!("cluster-{name}"), "namespace": ns, "labels": labels},
           "stringData": {"name": name, "server": format!("https://{name}.example.com")}})
}

fn addon_set(ns: &str, extra: Option<Value>) -> Value {
    let mut generators =
        vec![json!({"clusters": {"selector": {"matchLabels": {"addons.kcmp.dev/metrics-server": "enabled"}}}})];
    generators.extend(extra);
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "metadata": {"name": "metrics-server", "namespace": ns},
           "spec": {"generators": generators, "syncPolicy": {"preserveResourcesOnDeletion": true}, "template": {"metadata": {"name": "metrics-server-{{name}}"},
               "spec": {"project": "default", "source": {"repoURL": "https://git.example.com/addons.git", "path": "m"},
                        "destination": {"server": "{{server}}", "namespace": "kube-system"}}}}})
}

async fn reconcile_set(e: &Env) -> appset::Done {
    let raw = e.get("argoproj.io/v1alpha1", "ApplicationSet", "metrics-server").await.expect("appset");
    appset::reconcile(&e.cluster, &raw, &AppSetSettings::default()).await.expect("reconcile")
}

#[tokio::test]
async fn clusters_generator_follows_the_cluster_secret_label() {
    let Some(e) = env("clusters_generator").await else { return };
    let ns = e.namespace.clone();
    e.put(secret(&ns, "a", true)).await;
    e.put(secret(&ns, "b", true)).await;
    e.put(secret(&ns, "c", false)).await;
    e.put(addon_set(&ns, None)).await;
    reconcile_set(&e).await;
    assert_eq!(e.apps().await, ["metrics-server-a", "metrics-server-b"]);
    e.put(secret(&ns, "b", false)).await;
    let done = reconcile_set(&e).await;
    assert_eq!(done.deleted, ["metrics-server-b"]);
}

#[tokio::test]
async fn a_generator_error_deletes_nothing_on_a_real_server() {
    let Some(e) = env("generator_error").await else { return };
    let ns = e.namespace.clone();
    e.put(secret(&ns, "a", true)).await;
    e.put(addon_set(&ns, None)).await;
    reconcile_set(&e).await;
    e.put(secret(&ns, "a", false)).await;
    e.put(addon_set(
        &ns,
        Some(json!({"git": {"repoURL": "/nonexistent/kcmp-repo", "revision": "HEAD", "directories": [{"path": "*"}]}})),
    ))
    .await;
    let done = reconcile_set(&e).await;
    assert!(done.error.is_some());
    assert!(done.deleted.is_empty());
    assert_eq!(e.apps().await, ["metrics-server-a"]);
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn commit(repo: &Path, value: &str) -> String {
    let cm = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  value: \"{value}\"\n");
    std::fs::write(repo.join("cm.yaml"), cm).expect("write");
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-qm", value]);
    git(repo, &["rev-parse", "HEAD"])
}

fn settings(ns: &str, url: &str) -> AppSettings {
    AppSettings {
        options: Options {
            controller_namespace: ns.into(),
            source: SourceOptions::default(),
            render: Default::default(),
        },
        interval: Duration::from_secs(120),
        self_heal: SelfHeal::Timeout(Duration::ZERO),
        execute: ExecuteOptions { timeout: Duration::from_secs(60), ..ExecuteOptions::default() },
        cluster_url: url.into(),
    }
}

async fn reconcile_app(e: &Env) -> app::Done {
    let raw = e.get("argoproj.io/v1alpha1", "Application", "web").await.expect("app");
    app::reconcile(&e.cluster, &raw, &settings(&e.namespace, e.cluster.url()), &Metrics::new(), || {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
    })
    .await
    .expect("reconcile")
}

async fn live(e: &Env) -> Option<String> {
    e.get("v1", "ConfigMap", "settings").await.and_then(|c| c["data"]["value"].as_str().map(String::from))
}

#[tokio::test]
async fn auto_sync_follows_new_revisions_and_self_heal_reverts_an_edit() {
    let Some(e) = env("auto_sync").await else { return };
    let repo = tempfile::tempdir().expect("tmp");
    git(repo.path(), &["init", "-q", "-b", "main"]);
    commit(repo.path(), "one");
    let ns = e.namespace.clone();
    e.put(json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "web", "namespace": ns},
        "spec": {"project": "default", "source": {"repoURL": repo.path().display().to_string(), "path": "."},
                 "destination": {"server": "https://kubernetes.default.svc", "namespace": ns},
                 "syncPolicy": {"automated": {"selfHeal": true}}}}))
    .await;
    assert_eq!(reconcile_app(&e).await.ran.as_deref(), Some("Succeeded"));
    assert_eq!(live(&e).await.as_deref(), Some("one"));
    let rev2 = commit(repo.path(), "two");
    reconcile_app(&e).await;
    assert_eq!(live(&e).await.as_deref(), Some("two"));
    let app = e.get("argoproj.io/v1alpha1", "Application", "web").await.expect("app");
    assert_eq!(app["status"]["sync"]["revision"], rev2.as_str());
    let mut cm = e.get("v1", "ConfigMap", "settings").await.expect("cm");
    cm["data"]["value"] = json!("edited");
    if let Some(m) = cm["metadata"].as_object_mut() {
        m.remove("managedFields");
        m.remove("resourceVersion");
    }
    e.put(cm).await;
    reconcile_app(&e).await;
    assert_eq!(live(&e).await.as_deref(), Some("two"), "selfHeal reverted the edit");
}
