//! The whole `kcmp controller` loop in plain `cargo test`: kube-rs client,
//! discovery, runtime watches and requeues, leader election on a Lease and the
//! `/metrics` endpoint, against the localhost API stand-in
//! (`support/api_server.rs`). An ApplicationSet creates an Application, the
//! watch event makes the Application controller pick it up and auto-sync it,
//! next to a hand-written auto-synced Application; relabelling a cluster Secret
//! re-runs a clusters generator at once (Secret watch); a second replica cannot
//! take the lease; the loop's own status writes do not re-trigger writes.

mod support;

use kcmp::controller::autosync::SelfHeal;
use kcmp::controller::kube::{ClusterConfig, KubeCluster};
use kcmp::controller::run::{self, app::AppSettings, appset::AppSetSettings, LeaseSettings, LoopSettings};
use kcmp::controller::source::SourceOptions;
use kcmp::controller::sync::execute::ExecuteOptions;
use kcmp::controller::Options;
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::api_server::ApiServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn config_map(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: \"one\"\n")
}

fn app(name: &str, repo: &Path, path: &str) -> serde_json::Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
           "metadata": {"name": name, "namespace": "argocd"},
           "spec": {"project": "default", "source": {"repoURL": repo.display().to_string(), "path": path},
                    "destination": {"server": "https://kubernetes.default.svc", "namespace": "default"},
                    "syncPolicy": {"automated": {"prune": true}}}})
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(30), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn scrape(addr: std::net::SocketAddr) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect metrics");
    s.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n").await.expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loop_syncs_apps_and_generated_apps_under_a_lease_and_serves_metrics() {
    let repo = tempfile::tempdir().expect("tmp");
    git(repo.path(), &["init", "-q", "-b", "main"]);
    std::fs::write(repo.path().join("cm.yaml"), config_map("settings")).expect("write");
    std::fs::create_dir(repo.path().join("sub")).expect("mkdir");
    std::fs::write(repo.path().join("sub/cm.yaml"), config_map("generated")).expect("write");
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-qm", "one"]);

    let server = ApiServer::start().await;
    for ns in ["argocd", "default"] {
        server.put(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
    }
    server.put(app("web", repo.path(), "."));
    let mut template = app("{{name}}", repo.path(), "sub");
    template["metadata"] = json!({"name": "{{name}}"});
    server.put(json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "gen", "namespace": "argocd"},
        "spec": {"generators": [{"list": {"elements": [{"name": "gen-a"}]}}],
                 "syncPolicy": {"preserveResourcesOnDeletion": true}, "template": template}}));

    let mut addon = app("addon-{{name}}", repo.path(), "sub");
    addon["metadata"] = json!({"name": "addon-{{name}}"});
    addon["spec"]["destination"]["server"] = json!("{{server}}");
    addon["spec"]["syncPolicy"] = json!({});
    server.put(json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "addons", "namespace": "argocd"},
        "spec": {"generators": [{"clusters": {"selector": {"matchLabels": {"addon": "on"}}}}],
                 "syncPolicy": {"preserveResourcesOnDeletion": true}, "template": addon}}));
    let secret = |labels: serde_json::Value| {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cluster-edge", "namespace": "argocd", "labels": labels},
               "stringData": {"name": "edge", "server": "https://edge.example.com"}})
    };
    server.put(secret(json!({"argocd.argoproj.io/secret-type": "cluster", "addon": "on"})));

    let dir = tempfile::tempdir().expect("tmp");
    let config = ClusterConfig::Kubeconfig { path: server.kubeconfig(dir.path()), context: None };
    let cluster = KubeCluster::connect(&config, Duration::from_secs(10)).await.expect("connect");
    let metrics_addr = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr");
    let source = SourceOptions::default();
    let settings = LoopSettings {
        namespace: "argocd".into(),
        app: AppSettings {
            options: Options {
                controller_namespace: "argocd".into(),
                source: source.clone(),
                render: Default::default(),
            },
            // Longer than every wait below: the generated app is picked up by the watch, and
            // the stand-in replays events from the list's resourceVersion, so none is lost
            // between a list and its watch.
            interval: Duration::from_secs(60),
            self_heal: SelfHeal::default(),
            execute: ExecuteOptions {
                poll_interval: Duration::from_millis(20),
                wave_delay: Duration::ZERO,
                ..ExecuteOptions::default()
            },
            cluster_url: cluster.url().to_string(),
        },
        appset: AppSetSettings { source, ..AppSetSettings::default() },
        metrics_addr: Some(metrics_addr),
        lease: Some(LeaseSettings {
            name: "kcmp-controller".into(),
            identity: "replica-a".into(),
            duration: Duration::from_secs(15),
        }),
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(run::run_until(cluster, settings, async move {
        let _ = stop_rx.await;
    }));

    wait_for("the ConfigMap of app web", || server.get("ConfigMap", "default", "settings").is_some()).await;
    wait_for("app web Synced", || {
        server.get("Application", "argocd", "web").is_some_and(|a| a["status"]["sync"]["status"] == "Synced")
    })
    .await;
    wait_for("the generated app", || server.get("Application", "argocd", "gen-a").is_some()).await;
    wait_for("the generated app's ConfigMap", || server.get("ConfigMap", "default", "generated").is_some()).await;
    wait_for("gen-a Synced", || {
        server.get("Application", "argocd", "gen-a").is_some_and(|a| a["status"]["sync"]["status"] == "Synced")
    })
    .await;
    wait_for("the addon app of the labelled cluster", || server.get("Application", "argocd", "addon-edge").is_some())
        .await;
    // Interval is 60 s: only the Secret watch can make this happen within the wait.
    server.put(secret(json!({"argocd.argoproj.io/secret-type": "cluster"})));
    wait_for("the addon app to go with the label", || server.get("Application", "argocd", "addon-edge").is_none())
        .await;
    let web = server.get("Application", "argocd", "web").expect("web");
    assert_eq!(web["status"]["operationState"]["phase"], "Succeeded");
    assert_eq!(web["status"]["health"]["status"], "Healthy");
    let set = server.get("ApplicationSet", "argocd", "gen").expect("set");
    assert_eq!(set["status"]["conditions"][2]["status"], "True", "{set}");

    let lease = server.get("Lease", "argocd", "kcmp-controller").expect("lease written");
    assert_eq!(lease["spec"]["holderIdentity"], "replica-a");
    let other = KubeCluster::connect(&config, Duration::from_secs(10)).await.expect("connect");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64;
    let wait =
        other.claim_lease("argocd", "kcmp-controller", "replica-b", Duration::from_secs(15), now).await.expect("claim");
    assert!(wait.is_some(), "a second replica must not take a live lease");
    assert_eq!(server.get("Lease", "argocd", "kcmp-controller").expect("lease")["spec"]["holderIdentity"], "replica-a");

    // Settled: our own status writes come back as watch events but write nothing new.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let patches = server.count("PATCH /apis/argoproj.io/v1alpha1/namespaces/argocd/applications/web");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(server.count("PATCH /apis/argoproj.io/v1alpha1/namespaces/argocd/applications/web"), patches);

    let text = scrape(metrics_addr).await;
    assert!(text.contains("kcmp_reconciles_total{kind=\"Application\",result=\"ok\"}"), "{text}");
    assert!(text.contains("kcmp_syncs_total{phase=\"Succeeded\"} 2"), "{text}");
    assert!(text.contains("kcmp_reconcile_duration_seconds_count{kind=\"ApplicationSet\"}"), "{text}");

    let _ = stop_tx.send(());
    let result = tokio::time::timeout(Duration::from_secs(20), handle).await.expect("loop stops").expect("join");
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kcmp_controller_binary_syncs_an_app_and_stops_cleanly_on_sigterm() {
    let repo = tempfile::tempdir().expect("tmp");
    git(repo.path(), &["init", "-q", "-b", "main"]);
    std::fs::write(repo.path().join("cm.yaml"), config_map("settings")).expect("write");
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-qm", "one"]);
    let server = ApiServer::start().await;
    for ns in ["argocd", "default"] {
        server.put(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
    }
    server.put(app("web", repo.path(), "."));
    let dir = tempfile::tempdir().expect("tmp");
    let kubeconfig = server.kubeconfig(dir.path());
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_kcmp"))
        .args(["controller", "--metrics-addr", "off", "--lease", "off", "--kubeconfig"])
        .arg(&kubeconfig)
        .env("RUST_LOG", "kcmp=info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn kcmp controller");
    wait_for("app web Synced by the binary", || {
        server.get("Application", "argocd", "web").is_some_and(|a| a["status"]["sync"]["status"] == "Synced")
    })
    .await;
    assert!(server.get("ConfigMap", "default", "settings").is_some());
    assert!(server.get("Lease", "argocd", "kcmp-controller").is_none(), "--lease off");
    let pid = child.id().expect("pid").to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
    assert!(sent.success());
    let out =
        tokio::time::timeout(Duration::from_secs(20), child.wait_with_output()).await.expect("exits").expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    assert!(stderr.contains("controller running"), "structured logs on stderr: {stderr}");
    assert!(stderr.contains("operation ended"), "{stderr}");
}
