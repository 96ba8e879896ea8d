//! `KubeCluster` (the real kube-rs client path) against a small hand-written HTTP API
//! server on localhost: discovery (one aggregated group answering 503 must not break
//! it), get, list, server-side apply with the kcmp field manager and strict validation,
//! dry-run, delete with propagation. Not a real API server: it stores what it is sent
//! and answers the shapes kube-rs expects, so the wire glue is exercised in plain
//! `cargo test`; behaviour against a real server is `controller_cluster.rs`.

use kcmp::controller::application::Application;
use kcmp::controller::diff::SyncStatus;
use kcmp::controller::kube::{Cluster, ClusterConfig, KindScope, KubeCluster};
use kcmp::controller::source::SourceOptions;
use kcmp::controller::sync::execute::{ExecuteOptions, OperationPhase};
use kcmp::controller::{self, Options, SyncRequest};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Default)]
struct State {
    /// Object path (`/api/v1/namespaces/ns/configmaps/name`) -> object.
    objects: BTreeMap<String, Value>,
    /// `METHOD path?query` of every request after discovery.
    log: Vec<String>,
    /// Bodies of DELETE requests.
    delete_bodies: Vec<Value>,
    version: u64,
}

/// (group, version, plural, kind, namespaced)
type Resource = (&'static str, &'static str, &'static str, &'static str, bool);

const RESOURCES: &[Resource] = &[
    ("", "v1", "configmaps", "ConfigMap", true),
    ("", "v1", "namespaces", "Namespace", false),
    ("apps", "v1", "deployments", "Deployment", true),
    ("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", false),
    // Served only once the CRD is stored, like a real API server.
    ("example.com", "v1", "widgets", "Widget", true),
];

const CRD_PATH: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com";

fn discovery(path: &str, crd_stored: bool) -> Option<(u16, Value)> {
    let verbs = json!(["create", "delete", "get", "list", "patch", "update", "watch"]);
    let list = |gv: &str, group: &str, version: &str| {
        let resources: Vec<Value> = RESOURCES
            .iter()
            .filter(|r| r.0 == group && r.1 == version)
            .map(|r| json!({"name": r.2, "singularName": "", "namespaced": r.4, "kind": r.3, "verbs": verbs}))
            .collect();
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
    };
    Some(match path {
        "/api" => (200, json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})),
        "/apis" => (
            200,
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
                 "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}},
                {"name": "apiextensions.k8s.io", "versions": [{"groupVersion": "apiextensions.k8s.io/v1", "version": "v1"}],
                 "preferredVersion": {"groupVersion": "apiextensions.k8s.io/v1", "version": "v1"}},
                {"name": "metrics.k8s.io", "versions": [{"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"}],
                 "preferredVersion": {"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"}}]}),
        ),
        "/api/v1" => (200, list("v1", "", "v1")),
        "/apis/apps/v1" => (200, list("apps/v1", "apps", "v1")),
        "/apis/apiextensions.k8s.io/v1" => (200, list("apiextensions.k8s.io/v1", "apiextensions.k8s.io", "v1")),
        "/apis/example.com/v1" if crd_stored => (200, list("example.com/v1", "example.com", "v1")),
        "/apis/example.com/v1" => (404, status(404, "NotFound", "the server could not find the requested resource")),
        "/apis/metrics.k8s.io/v1beta1" => {
            (503, status(503, "ServiceUnavailable", "the server is currently unable to handle the request"))
        }
        _ => return None,
    })
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code})
}

/// `/api/v1/namespaces/ns/configmaps/name` -> (kind, namespace, name); collection paths have no name.
fn parse_object_path(path: &str) -> Option<(&'static Resource, String, Option<String>)> {
    let rest = path.strip_prefix("/api/v1/").map(|r| ("", "v1", r)).or_else(|| {
        let r = path.strip_prefix("/apis/")?;
        let mut it = r.splitn(3, '/');
        let (g, v, rest) = (it.next()?, it.next()?, it.next()?);
        RESOURCES.iter().find(|x| x.0 == g && x.1 == v).map(|x| (x.0, x.1, rest))
    })?;
    let (group, version, rest) = rest;
    let parts: Vec<&str> = rest.split('/').collect();
    let (ns, plural, name) = match parts.as_slice() {
        ["namespaces", ns, plural] => (ns.to_string(), *plural, None),
        ["namespaces", ns, plural, name] => (ns.to_string(), *plural, Some(name.to_string())),
        [plural] => (String::new(), *plural, None),
        [plural, name] => (String::new(), *plural, Some(name.to_string())),
        _ => return None,
    };
    let res = RESOURCES.iter().find(|r| r.0 == group && r.1 == version && r.2 == plural)?;
    Some((res, ns, name))
}

fn handle(state: &Mutex<State>, method: &str, target: &str, body: &[u8]) -> (u16, Value) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut st = state.lock().expect("lock");
    if let Some(answer) = discovery(path, st.objects.contains_key(CRD_PATH)) {
        return answer;
    }
    st.log.push(format!("{method} {target}"));
    let Some((res, ns, name)) = parse_object_path(path) else {
        return (404, status(404, "NotFound", "the server could not find the requested resource"));
    };
    if res.0 == "example.com" && !st.objects.contains_key(CRD_PATH) {
        return (404, status(404, "NotFound", "the server could not find the requested resource"));
    }
    let dry_run = query.split('&').any(|q| q == "dryRun=All");
    match (method, name) {
        ("GET", None) => {
            let items: Vec<Value> = st
                .objects
                .iter()
                .filter(|(p, o)| p.contains(&format!("/{}/", res.2)) && o["kind"] == res.3)
                .map(|(_, o)| {
                    let mut o = o.clone();
                    // Real list responses omit apiVersion/kind on items.
                    if let Some(m) = o.as_object_mut() {
                        m.remove("apiVersion");
                        m.remove("kind");
                    }
                    o
                })
                .collect();
            (
                200,
                json!({"kind": format!("{}List", res.3), "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items}),
            )
        }
        ("GET", Some(name)) => match st.objects.get(path) {
            Some(o) => (200, o.clone()),
            None => (404, status(404, "NotFound", &format!("{} \"{name}\" not found", res.2))),
        },
        ("PATCH" | "PUT" | "POST", name) => {
            let Ok(mut obj) = serde_json::from_slice::<Value>(body) else {
                return (400, status(400, "BadRequest", "body is not json"));
            };
            if res.4
                && !ns.is_empty()
                && !st.objects.contains_key(&format!("/api/v1/namespaces/{ns}"))
                && ns != "default"
            {
                return (404, status(404, "NotFound", &format!("namespaces \"{ns}\" not found")));
            }
            let name = name.or_else(|| obj["metadata"]["name"].as_str().map(String::from)).unwrap_or_default();
            let key = if method == "POST" { format!("{path}/{name}") } else { path.to_string() };
            st.version += 1;
            obj["metadata"]["resourceVersion"] = json!(st.version.to_string());
            obj["metadata"]["uid"] = json!(format!("uid-{name}"));
            if !dry_run {
                st.objects.insert(key, obj.clone());
            }
            (if method == "POST" { 201 } else { 200 }, obj)
        }
        ("DELETE", Some(_)) => {
            st.delete_bodies.push(serde_json::from_slice(body).unwrap_or(Value::Null));
            if !dry_run && st.objects.remove(path).is_none() {
                return (404, status(404, "NotFound", "not found"));
            }
            (200, json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}))
        }
        _ => (405, status(405, "MethodNotAllowed", "method not allowed")),
    }
}

async fn serve(listener: TcpListener, state: Arc<Mutex<State>>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { return };
        let state = state.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut reader = BufReader::new(read);
            loop {
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).await.unwrap_or(0) == 0 {
                    return;
                }
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':') {
                        if k.eq_ignore_ascii_case("content-length") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let mut body = vec![0u8; length];
                if reader.read_exact(&mut body).await.is_err() {
                    return;
                }
                let mut parts = request_line.split_whitespace();
                let (method, target) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
                let (code, answer) = handle(&state, method, target, &body);
                let text = answer.to_string();
                let head = format!(
                    "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    text.len()
                );
                if write.write_all(head.as_bytes()).await.is_err() || write.write_all(text.as_bytes()).await.is_err() {
                    return;
                }
            }
        });
    }
}

struct Server {
    state: Arc<Mutex<State>>,
    kubeconfig: std::path::PathBuf,
    _kubeconfig_dir: tempfile::TempDir,
    cluster: KubeCluster,
}

async fn start() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let state = Arc::new(Mutex::new(State::default()));
    tokio::spawn(serve(listener, state.clone()));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: mock\n  cluster:\n    server: http://127.0.0.1:{port}\ncontexts:\n- name: mock\n  context: {{cluster: mock, user: nobody}}\ncurrent-context: mock\nusers:\n- name: nobody\n  user: {{}}\n"
        ),
    )
    .expect("write kubeconfig");
    let cluster =
        KubeCluster::connect(&ClusterConfig::Kubeconfig { path: path.clone(), context: None }, Duration::from_secs(10))
            .await
            .expect("connect despite the failing metrics group");
    Server { state, kubeconfig: path, _kubeconfig_dir: dir, cluster }
}

#[tokio::test]
async fn discovery_skips_a_failing_group_and_knows_scopes() {
    let server = start().await;
    assert_eq!(server.cluster.scope("v1", "ConfigMap"), Some(KindScope::Namespaced));
    assert_eq!(server.cluster.scope("v1", "Namespace"), Some(KindScope::Cluster));
    assert_eq!(server.cluster.scope("apps/v1", "Deployment"), Some(KindScope::Namespaced));
    assert_eq!(server.cluster.scope("metrics.k8s.io/v1beta1", "PodMetrics"), None);
    assert_eq!(server.cluster.scope("apps/v1beta1", "Deployment"), None);
}

/// An Application `name` rendered from `dir` (`--local`), with its options and a
/// sync request that polls fast and waits nothing between waves.
fn local_app(name: &str, dir: &std::path::Path, prune: bool) -> (Application, Options, SyncRequest) {
    let app = Application::from_yaml(
        &format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: {name}}}\nspec:\n  source: {{repoURL: ./x}}\n  destination: {{namespace: default}}\n"
        ),
        "app.yaml",
    )
    .expect("app");
    let opts = Options {
        controller_namespace: "argocd".into(),
        source: SourceOptions { local: Some(dir.to_path_buf()), ..Default::default() },
        render: Default::default(),
    };
    let request = SyncRequest {
        prune,
        sync_options: None,
        resources: Vec::new(),
        skip_hooks: false,
        force: false,
        execute: ExecuteOptions {
            poll_interval: Duration::from_millis(10),
            wave_delay: Duration::ZERO,
            ..Default::default()
        },
    };
    (app, opts, request)
}

#[tokio::test]
async fn compare_and_sync_go_through_the_kube_client() {
    let server = start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  annotations:\n    argocd.argoproj.io/sync-wave: \"-1\"\ndata:\n  k: v\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("deploy.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n",
    )
    .expect("write");
    let (app, opts, request) = local_app("mock", dir.path(), true);

    let desired = controller::desired(&app, &opts).await.expect("render");
    let cmp = controller::compare(&server.cluster, &app, &desired, &opts).await.expect("compare");
    assert_eq!(cmp.sync_status, SyncStatus::OutOfSync);
    let outcome = controller::sync(&server.cluster, &app, &cmp, &request, &mut |_| {}).await.expect("sync");
    assert_eq!(outcome.phase, OperationPhase::Succeeded, "{}", outcome.message);

    let writes: Vec<(String, Vec<String>)> = {
        let st = server.state.lock().expect("lock");
        st.log
            .iter()
            .filter_map(|l| l.strip_prefix("PATCH "))
            .map(|l| {
                let (path, query) = l.split_once('?').unwrap_or((l, ""));
                let mut params: Vec<String> = query.split('&').filter(|q| !q.is_empty()).map(String::from).collect();
                params.sort();
                (path.to_string(), params)
            })
            .collect()
    };
    let params = |dry: bool| {
        let mut p: Vec<String> =
            ["fieldManager=kcmp", "force=true", "fieldValidation=Strict"].iter().map(|s| s.to_string()).collect();
        if dry {
            p.push("dryRun=All".into());
        }
        p.sort();
        p
    };
    let cm = "/api/v1/namespaces/default/configmaps/settings".to_string();
    let deploy = "/apis/apps/v1/namespaces/default/deployments/web".to_string();
    assert_eq!(
        writes,
        vec![(cm.clone(), params(true)), (deploy.clone(), params(true)), (cm, params(false)), (deploy, params(false))],
        "every object is dry-run before anything is written"
    );
    {
        let st = server.state.lock().expect("lock");
        let cm = &st.objects["/api/v1/namespaces/default/configmaps/settings"];
        assert_eq!(cm["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"], "mock:/ConfigMap:default/settings");
    }

    let cmp = controller::compare(&server.cluster, &app, &desired, &opts).await.expect("compare");
    assert_eq!(
        cmp.sync_status,
        SyncStatus::Synced,
        "{:?}",
        cmp.diffs.iter().filter(|d| d.modified).collect::<Vec<_>>()
    );

    std::fs::remove_file(dir.path().join("cm.yaml")).expect("remove");
    let desired = controller::desired(&app, &opts).await.expect("render");
    let cmp = controller::compare(&server.cluster, &app, &desired, &opts).await.expect("compare");
    assert_eq!(cmp.diffs.iter().filter(|d| d.requires_pruning).count(), 1, "found through list + tracking id");
    let outcome = controller::sync(&server.cluster, &app, &cmp, &request, &mut |_| {}).await.expect("sync");
    assert_eq!(outcome.phase, OperationPhase::Succeeded, "{}", outcome.message);
    let st = server.state.lock().expect("lock");
    assert!(!st.objects.contains_key("/api/v1/namespaces/default/configmaps/settings"), "pruned");
    assert_eq!(st.delete_bodies.last().and_then(|b| b.get("propagationPolicy")), Some(&json!("Foreground")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_exit_codes_follow_the_diff_and_sync_outcome() {
    let server = start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("src")).expect("mkdir");
    std::fs::write(
        dir.path().join("src/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  k: v\n",
    )
    .expect("write");
    let app = dir.path().join("app.yaml");
    std::fs::write(
        &app,
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: cli}\nspec:\n  source: {repoURL: ./src}\n  destination: {namespace: default}\n",
    )
    .expect("write");
    let kubeconfig = server.kubeconfig.clone();
    let run = move |args: Vec<&'static str>| {
        let kubeconfig = kubeconfig.clone();
        let app = app.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_kcmp"))
                .arg("app")
                .args(&args)
                .arg("--kubeconfig")
                .arg(&kubeconfig)
                .arg(&app)
                .output()
                .expect("kcmp runs")
        })
    };
    let diff = run(vec!["diff", "--color", "never"]).await.expect("join");
    assert_eq!(diff.status.code(), Some(1), "{}", String::from_utf8_lossy(&diff.stderr));
    let text = String::from_utf8_lossy(&diff.stdout).replace('"', "");
    assert!(text.starts_with("===== /ConfigMap default/c ======\n--- live\n+++ desired\n"), "{text}");
    assert!(text.contains("+  k: v\n"), "{text}");
    let sync = run(vec!["sync", "--wave-delay", "0"]).await.expect("join");
    assert_eq!(sync.status.code(), Some(0), "{}", String::from_utf8_lossy(&sync.stderr));
    assert!(
        String::from_utf8_lossy(&sync.stdout).contains("Operation: Succeeded (successfully synced (all tasks run))")
    );
    let diff = run(vec!["diff"]).await.expect("join");
    assert_eq!(diff.status.code(), Some(0), "{}", String::from_utf8_lossy(&diff.stdout));
    assert!(diff.stdout.is_empty());
    let wait = run(vec!["wait", "--sync", "--health", "--timeout", "5"]).await.expect("join");
    assert_eq!(wait.status.code(), Some(0), "{}", String::from_utf8_lossy(&wait.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_sync_is_retried_then_exits_1() {
    let server = start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("w.yaml"), "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n")
        .expect("write");
    let app_dir = tempfile::tempdir().expect("tempdir");
    let app = app_dir.path().join("app.yaml");
    std::fs::write(
        &app,
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: retry}\nspec:\n  source: {repoURL: .}\n  destination: {namespace: default}\n",
    )
    .expect("write");
    let kubeconfig = server.kubeconfig.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_kcmp"))
            .args(["app", "sync", "--retry-limit", "1", "--retry-backoff-duration", "0", "--local"])
            .arg(dir.path())
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg(&app)
            .output()
            .expect("kcmp runs")
    })
    .await
    .expect("join");
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Operation: Failed (one or more objects failed to apply (dry run): example.com/Widget:default/w: the server has no resource type for example.com/v1 Widget) (retried 1 times)"),
        "{stdout}"
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr).matches("retrying in 0s").count(), 1);
}

#[tokio::test]
async fn a_crd_and_its_custom_resource_sync_together() {
    let server = start().await;
    assert_eq!(server.cluster.scope("example.com/v1", "Widget"), None, "unknown before the CRD exists");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("w.yaml"),
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  size: 1\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("crd.yaml"),
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  names: {kind: Widget, plural: widgets}\n  scope: Namespaced\n",
    )
    .expect("write");
    let (app, opts, request) = local_app("crd", dir.path(), false);
    let desired = controller::desired(&app, &opts).await.expect("render");
    let cmp = controller::compare(&server.cluster, &app, &desired, &opts).await.expect("compare");
    let outcome = controller::sync(&server.cluster, &app, &cmp, &request, &mut |_| {}).await.expect("sync");
    assert_eq!(outcome.phase, OperationPhase::Succeeded, "{}", outcome.message);
    let order: Vec<&str> = outcome.results.iter().map(|r| r.key.kind.as_str()).collect();
    assert_eq!(order, vec!["CustomResourceDefinition", "Widget"]);
    assert!(server
        .state
        .lock()
        .expect("lock")
        .objects
        .contains_key("/apis/example.com/v1/namespaces/default/widgets/w"));
    assert_eq!(server.cluster.scope("example.com/v1", "Widget"), Some(KindScope::Namespaced));
    let cmp = controller::compare(&server.cluster, &app, &desired, &opts).await.expect("compare");
    assert_eq!(cmp.sync_status, SyncStatus::Synced);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_health_times_out_with_exit_124() {
    let server = start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    // The stand-in never fills in status, so the Deployment stays Progressing.
    std::fs::write(
        dir.path().join("d.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n",
    )
    .expect("write");
    let app_dir = tempfile::tempdir().expect("tempdir");
    let app = app_dir.path().join("app.yaml");
    std::fs::write(
        &app,
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: slow}\nspec:\n  source: {repoURL: .}\n  destination: {namespace: default}\n",
    )
    .expect("write");
    let kubeconfig = server.kubeconfig.clone();
    let src = dir.path().to_path_buf();
    let run = move |args: Vec<&'static str>| {
        let (kubeconfig, app, src) = (kubeconfig.clone(), app.clone(), src.clone());
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_kcmp"))
                .arg("app")
                .args(&args)
                .arg("--local")
                .arg(&src)
                .arg("--kubeconfig")
                .arg(&kubeconfig)
                .arg(&app)
                .output()
                .expect("kcmp runs")
        })
    };
    let sync = run(vec!["sync", "--wave-delay", "0"]).await.expect("join");
    assert_eq!(
        sync.status.code(),
        Some(0),
        "a single wave is not health-gated: {}",
        String::from_utf8_lossy(&sync.stderr)
    );
    let wait = run(vec!["wait", "--health", "--timeout", "1"]).await.expect("join");
    assert_eq!(wait.status.code(), Some(124));
    let stderr = String::from_utf8_lossy(&wait.stderr);
    assert!(
        stderr.contains(
            "error: timed out (1s) waiting for app \"slow\" to match desired state (sync Synced, health Progressing)"
        ),
        "{stderr}"
    );
    let wait_sync = run(vec!["wait", "--sync", "--timeout", "1"]).await.expect("join");
    assert_eq!(wait_sync.status.code(), Some(0), "{}", String::from_utf8_lossy(&wait_sync.stderr));
}
