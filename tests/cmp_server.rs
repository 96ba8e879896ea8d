//! `kcmp serve` end to end: the server on a temp unix socket, a real tonic client,
//! archives built here. Covers the four RPCs, health, compat commands, every archive
//! refusal with its message, deadlines killing process groups, concurrency and
//! work-dir cleanup.

use hyper_util::rt::TokioIo;
use kcmp::cmp::archive::Limits;
use kcmp::cmp::proto::config_management_plugin_service_client::ConfigManagementPluginServiceClient;
use kcmp::cmp::proto::{app_stream_request::Request as Msg, AppStreamRequest, EnvEntry, File, ManifestRequestMetadata};
use kcmp::cmp::{PluginConfig, ServeOptions};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

type Client = ConfigManagementPluginServiceClient<Channel>;

/// A running server and the paths it owns.
struct Server {
    dir: tempfile::TempDir,
    socket: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<kcmp::cmp::Result<()>>,
}

impl Server {
    async fn start(plugin_yaml: &str, tune: impl FnOnce(&mut ServeOptions)) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = PluginConfig::parse(Path::new("plugin.yaml"), plugin_yaml).expect("valid plugin.yaml");
        let mut options = ServeOptions {
            socket_dir: dir.path().join("plugins"),
            work_dir: dir.path().join("work"),
            base_env: vec![("PATH".into(), std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()))],
            ..ServeOptions::default()
        };
        tune(&mut options);
        let socket = options.socket_dir.join(config.socket_file_name());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(kcmp::cmp::serve(config, options, async move {
            let _ = rx.await;
        }));
        for _ in 0..200 {
            if socket.exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(socket.exists(), "server did not create {}", socket.display());
        Server { dir, socket, stop: Some(tx), task }
    }

    async fn channel(&self) -> Channel {
        let path = self.socket.clone();
        Endpoint::try_from("http://kcmp.invalid")
            .expect("endpoint")
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let p = path.clone();
                async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(p).await?)) }
            }))
            .await
            .expect("connect")
    }

    async fn client(&self) -> Client {
        ConfigManagementPluginServiceClient::new(self.channel().await)
    }

    fn work_root(&self) -> PathBuf {
        self.dir.path().join("work/_cmp_server")
    }

    /// Entries left in the work root (request dirs must all be gone).
    fn leftovers(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.work_root()).expect("work root").map(|e| e.expect("entry").path()).collect()
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let result = tokio::time::timeout(Duration::from_secs(10), &mut self.task).await;
        result.expect("server stops").expect("join").expect("serve ok");
        assert!(!self.socket.exists(), "socket removed on shutdown");
    }
}

const IN_PROCESS: &str =
    "apiVersion: argoproj.io/v1alpha1\nkind: ConfigManagementPlugin\nmetadata: {name: kcmp}\nspec:\n  generate: {engine: kcmp}\n  discover: {fileName: kustomization.yaml}\n  parameters:\n    static:\n      - {name: replicas, title: Replicas, string: \"1\"}\n    dynamic:\n      command: [sh, -c]\n      args: ['echo \"[{\\\"name\\\": \\\"dyn-$ARGOCD_APP_NAME\\\", \\\"collectionType\\\": \\\"map\\\", \\\"map\\\": {\\\"a\\\": \\\"b\\\"}}]\"']\n";

/// tar.gz of `(name, content)` regular files, with normal headers.
fn tgz(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, content) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, content.as_bytes()).expect("append");
    }
    gzip(&b.into_inner().expect("tar"))
}

fn gzip(tar: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(tar).expect("gzip");
    gz.finish().expect("gzip")
}

/// A tar with one raw header whose name bytes are written as given (bypassing the
/// builder's own path checks, as a hostile client would).
fn raw_tgz(name: &str, kind: tar::EntryType, link: &str, data: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_old();
    {
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        old.linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_cksum();
    let mut tar = h.as_bytes().to_vec();
    tar.extend_from_slice(data);
    tar.resize(tar.len().div_ceil(512) * 512 + 1024, 0);
    gzip(&tar)
}

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn env(pairs: &[(&str, &str)]) -> Vec<EnvEntry> {
    pairs.iter().map(|(n, v)| EnvEntry { name: n.to_string(), value: v.to_string() }).collect()
}

/// Metadata then 1024-byte chunks, as the repo-server streams by default.
fn messages(archive: &[u8], app_rel_path: &str, env: Vec<EnvEntry>) -> Vec<AppStreamRequest> {
    let meta = ManifestRequestMetadata {
        app_name: "app".into(),
        app_rel_path: app_rel_path.into(),
        checksum: sha(archive),
        size: archive.len() as i64,
        env,
    };
    let mut out = vec![AppStreamRequest { request: Some(Msg::Metadata(meta)) }];
    for chunk in archive.chunks(1024) {
        out.push(AppStreamRequest { request: Some(Msg::File(File { chunk: chunk.to_vec() })) });
    }
    out
}

fn guestbook() -> Vec<(&'static str, &'static str)> {
    vec![
        ("apps/gb/kustomization.yaml", "namePrefix: dev-\ncommonLabels: {app: gb}\nresources: [svc.yaml, cm.yaml]\n"),
        ("apps/gb/svc.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports: [{port: 80}]\n"),
        ("apps/gb/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: conf}\ndata: {html: \"<b>&</b>\"}\n"),
        ("README.md", "not part of the app\n"),
    ]
}

#[tokio::test]
async fn generate_in_process_matches_the_engine_and_cleans_up() {
    let server = Server::start(IN_PROCESS, |_| {}).await;
    let files = guestbook();
    let archive = tgz(&files);
    let reply = server
        .client()
        .await
        .generate_manifest(tokio_stream::iter(messages(&archive, "apps/gb", vec![])))
        .await
        .expect("generate ok")
        .into_inner();

    let tree = tempfile::tempdir().expect("tree");
    for (name, content) in &files {
        let p = tree.path().join(name);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, content).expect("write");
    }
    let expected =
        kcmp::render::render(&tree.path().join("apps/gb"), &kcmp::render::Options::default()).expect("render");
    assert_eq!(reply.manifests, kcmp::render::emit::to_manifest_json(&expected));
    assert_eq!(reply.manifests.len(), 2);
    assert!(reply.manifests.iter().any(|m| m.contains("\"name\":\"dev-web\"")), "{:?}", reply.manifests);
    assert_eq!(reply.source_type, "");
    assert!(server.leftovers().is_empty(), "work dirs left: {:?}", server.leftovers());
    server.stop().await;
}

#[tokio::test]
async fn render_error_names_the_file_and_the_phase() {
    let server = Server::start(IN_PROCESS, |_| {}).await;
    let archive = tgz(&[("kustomization.yaml", "resources: [missing.yaml]\n")]);
    let status = server
        .client()
        .await
        .generate_manifest(tokio_stream::iter(messages(&archive, ".", vec![])))
        .await
        .expect_err("render fails");
    assert_eq!(status.code(), tonic::Code::Unknown);
    let msg = status.message();
    assert!(msg.starts_with("error generating manifests: "), "{msg}");
    assert!(msg.contains("missing.yaml"), "{msg}");
    assert!(msg.contains("render failed after"), "{msg}");
    assert!(server.leftovers().is_empty());
    server.stop().await;
}

/// Sends `msgs` to GenerateManifest and returns the refusal.
async fn refuse(server: &Server, msgs: Vec<AppStreamRequest>) -> tonic::Status {
    server.client().await.generate_manifest(tokio_stream::iter(msgs)).await.expect_err("refused")
}

#[tokio::test]
async fn hostile_archives_are_refused_naming_the_entry_and_nothing_escapes() {
    let server = Server::start(IN_PROCESS, |o| {
        o.limits = Limits { max_archive_bytes: 64 << 10, max_extracted_bytes: 1 << 20, max_entries: 100 };
    })
    .await;
    let outside = server.dir.path();
    let prefix = "generate manifest error receiving stream: error decompressing tgz file: ";

    let s = refuse(&server, messages(&raw_tgz("../evil.yaml", tar::EntryType::Regular, "", b"x"), ".", vec![])).await;
    assert_eq!(s.code(), tonic::Code::Unknown);
    assert!(
        s.message()
            .starts_with(&format!("{prefix}illegal filepath in archive: \"../evil.yaml\" leaves the work directory")),
        "{}",
        s.message()
    );
    assert!(!server.dir.path().join("work/evil.yaml").exists());

    let s = refuse(&server, messages(&raw_tgz("/etc/evil", tar::EntryType::Regular, "", b"x"), ".", vec![])).await;
    assert!(
        s.message().starts_with(&format!("{prefix}illegal filepath in archive: \"/etc/evil\" is absolute")),
        "{}",
        s.message()
    );

    let s = refuse(&server, messages(&raw_tgz("up", tar::EntryType::Symlink, "../../..", b""), ".", vec![])).await;
    assert!(
        s.message().starts_with(&format!(
            "{prefix}\"up\": illegal filepath in symlink: target \"../../..\" resolves outside the work directory"
        )),
        "{}",
        s.message()
    );
    let s = refuse(&server, messages(&raw_tgz("abs", tar::EntryType::Symlink, "/etc/passwd", b""), ".", vec![])).await;
    assert!(s.message().contains("\"abs\": illegal filepath in symlink: absolute target"), "{}", s.message());
    let s = refuse(&server, messages(&raw_tgz("root", tar::EntryType::Symlink, ".", b""), ".", vec![])).await;
    assert!(s.message().contains("\"root\": illegal filepath in symlink"), "{}", s.message());

    let s = refuse(&server, messages(&raw_tgz("hl", tar::EntryType::Link, "/etc/passwd", b""), ".", vec![])).await;
    assert!(s.message().contains("\"hl\": hard links are not allowed in the archive"), "{}", s.message());
    let s = refuse(&server, messages(&raw_tgz("dev", tar::EntryType::Char, "", b""), ".", vec![])).await;
    assert!(s.message().contains("\"dev\": device files are not allowed in the archive"), "{}", s.message());
    let s = refuse(&server, messages(&raw_tgz("fifo", tar::EntryType::Fifo, "", b""), ".", vec![])).await;
    assert!(s.message().contains("\"fifo\": FIFOs are not allowed in the archive"), "{}", s.message());

    // A gzip bomb: 8 MiB of zeros compress to a few KiB, far over the 1 MiB limit.
    let zeros = "\0".repeat(8 << 20);
    let bomb = tgz(&[("bomb.bin", zeros.as_str())]);
    assert!(bomb.len() < 64 << 10, "bomb is small: {}", bomb.len());
    let s = refuse(&server, messages(&bomb, ".", vec![])).await;
    assert_eq!(s.code(), tonic::Code::ResourceExhausted);
    assert!(
        s.message().contains("archive expands beyond the limit of 1048576 extracted bytes (at \"bomb.bin\")"),
        "{}",
        s.message()
    );

    let many: Vec<(String, &str)> = (0..150).map(|i| (format!("f{i}.yaml"), "")).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(n, c)| (n.as_str(), *c)).collect();
    let s = refuse(&server, messages(&tgz(&many), ".", vec![])).await;
    assert_eq!(s.code(), tonic::Code::ResourceExhausted);
    assert!(s.message().contains("archive has more than 100 entries (at \"f100.yaml\")"), "{}", s.message());

    // An oversized stream is cut while receiving, before extraction.
    let big: Vec<u8> = (0..100_000u32).flat_map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes()).collect();
    let s = refuse(&server, messages(&big, ".", vec![])).await;
    assert_eq!(s.code(), tonic::Code::ResourceExhausted);
    assert!(
        s.message().starts_with(
            "generate manifest error receiving stream: error receiving tgz file: archive is larger than the limit of 65536 bytes"
        ),
        "{}",
        s.message()
    );

    let entries: Vec<_> = std::fs::read_dir(outside).expect("dir").map(|e| e.expect("e").file_name()).collect();
    let mut names: Vec<_> = entries.iter().map(|n| n.to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["plugins", "work"], "nothing written beside the work root");
    let work: Vec<_> =
        std::fs::read_dir(outside.join("work")).expect("dir").map(|e| e.expect("e").file_name()).collect();
    assert_eq!(work, ["_cmp_server"]);
    assert!(server.leftovers().is_empty(), "work dirs left: {:?}", server.leftovers());
    server.stop().await;
}

#[tokio::test]
async fn stream_errors_bad_checksum_truncation_and_missing_metadata() {
    let server = Server::start(IN_PROCESS, |_| {}).await;
    // Incompressible content, so the archive spans several 1024-byte chunks.
    let mut x = 0x2545_f491_u32;
    let noise: String = (0..6000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect();
    let archive = tgz(&[("noise.txt", noise.as_str())]);
    assert!(archive.len() > 2048);

    let mut msgs = messages(&archive, ".", vec![]);
    if let Some(Msg::Metadata(m)) = &mut msgs[0].request {
        m.checksum = "0".repeat(64);
    }
    let s = refuse(&server, msgs).await;
    assert_eq!(s.code(), tonic::Code::Unknown);
    assert!(
        s.message().starts_with(&format!(
            "generate manifest error receiving stream: error receiving tgz file: file checksum validation error: metadata says \"{}\", received archive has {}",
            "0".repeat(64),
            sha(&archive)
        )),
        "{}",
        s.message()
    );

    let mut msgs = messages(&archive, ".", vec![]);
    msgs.truncate(2);
    let s = refuse(&server, msgs).await;
    assert!(s.message().contains("file checksum validation error"), "{}", s.message());
    assert!(
        s.message().contains(&format!("(stream truncated: received 1024 of {} bytes)", archive.len())),
        "{}",
        s.message()
    );

    let msgs = messages(&archive, ".", vec![]).split_off(1);
    let s = refuse(&server, msgs).await;
    assert!(
        s.message().starts_with(
            "generate manifest error receiving stream: error getting stream metadata: metadata is nil (queue 0ms, receive failed after"
        ),
        "{}",
        s.message()
    );
    server.stop().await;
}

#[tokio::test]
async fn empty_stream_reports_eof() {
    let server = Server::start(IN_PROCESS, |_| {}).await;
    let s = refuse(&server, vec![]).await;
    assert!(
        s.message().starts_with("generate manifest error receiving stream: error receiving stream header: EOF"),
        "{}",
        s.message()
    );
    server.stop().await;
}

#[tokio::test]
async fn check_match_and_parameters() {
    let server = Server::start(IN_PROCESS, |_| {}).await;
    let mut client = server.client().await;
    let check = client.check_plugin_configuration(()).await.expect("check").into_inner();
    assert!(check.is_discovery_configured);
    assert!(!check.provide_git_creds);

    let archive = tgz(&guestbook());
    let yes = client.match_repository(tokio_stream::iter(messages(&archive, "apps/gb", vec![]))).await.expect("match");
    let yes = yes.into_inner();
    assert!(yes.is_supported && yes.is_discovery_enabled);
    let no = client.match_repository(tokio_stream::iter(messages(&archive, ".", vec![]))).await.expect("match");
    assert!(!no.into_inner().is_supported);

    let params = client
        .get_parameters_announcement(tokio_stream::iter(messages(
            &archive,
            "apps/gb",
            env(&[("ARGOCD_APP_NAME", "guestbook")]),
        )))
        .await
        .expect("params")
        .into_inner();
    let names: Vec<&str> = params.parameter_announcements.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["dyn-guestbook", "replicas"], "dynamic first, then static");
    assert_eq!(params.parameter_announcements[0].map.get("a").map(String::as_str), Some("b"));
    assert_eq!(params.parameter_announcements[1].string, "1");
    assert!(server.leftovers().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn health_reports_serving() {
    let server = Server::start(IN_PROCESS, |_| {}).await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel().await);
    let reply = health
        .check(tonic_health::pb::HealthCheckRequest { service: String::new() })
        .await
        .expect("health")
        .into_inner();
    assert_eq!(reply.status(), tonic_health::pb::health_check_response::ServingStatus::Serving);
    server.stop().await;
}

const COMPAT: &str = r#"apiVersion: argoproj.io/v1alpha1
kind: ConfigManagementPlugin
metadata:
  name: legacy
spec:
  version: v1.0
  init:
    command: [sh, -c, 'echo init > init.log']
  generate:
    command: [sh, -c]
    args:
      - |
        test -f init.log || exit 9
        for f in *.yaml; do echo ---; cat "$f"; done
        echo ---
        printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-env}\ndata: {foo: "%s", param: "%s"}\n' "$ARGOCD_ENV_FOO" "$PARAM_REPLICAS"
  discover:
    find:
      command: [sh, -c, 'ls *.yaml 2>/dev/null | head -1']
  provideGitCreds: true
"#;

#[tokio::test]
async fn compat_mode_runs_a_sh_generate_command_unchanged() {
    let server = Server::start(COMPAT, |_| {}).await;
    assert!(server.socket.ends_with("legacy-v1.0.sock"));
    let mut client = server.client().await;
    let check = client.check_plugin_configuration(()).await.expect("check").into_inner();
    assert!(check.is_discovery_configured && check.provide_git_creds);

    let archive = tgz(&[("app/a.yaml", "kind: Service\napiVersion: v1\nmetadata:\n  name: a\n"), ("other/x.txt", "")]);
    let m = client.match_repository(tokio_stream::iter(messages(&archive, "app", vec![]))).await.expect("match");
    assert!(m.into_inner().is_supported);
    let m = client.match_repository(tokio_stream::iter(messages(&archive, "other", vec![]))).await.expect("match");
    assert!(!m.into_inner().is_supported);

    let reply = client
        .generate_manifest(tokio_stream::iter(messages(
            &archive,
            "app",
            env(&[("ARGOCD_ENV_FOO", "bar<"), ("PARAM_REPLICAS", "3")]),
        )))
        .await
        .expect("generate")
        .into_inner();
    assert_eq!(
        reply.manifests,
        vec![
            r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"a"}}"#.to_string(),
            r#"{"apiVersion":"v1","data":{"foo":"bar\u003c","param":"3"},"kind":"ConfigMap","metadata":{"name":"from-env"}}"#
                .to_string(),
        ]
    );
    assert!(server.leftovers().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn failing_generate_command_reads_like_argocd() {
    let yaml = "kind: ConfigManagementPlugin\nmetadata: {name: f}\nspec:\n  generate: {command: [sh, -c, 'echo boom >&2; exit 3']}\n";
    let server = Server::start(yaml, |_| {}).await;
    let archive = tgz(&[("a.yaml", "")]);
    let s = refuse(&server, messages(&archive, ".", vec![])).await;
    assert_eq!(s.code(), tonic::Code::Unknown);
    assert!(
        s.message()
            .starts_with("error generating manifests: `sh -c \"echo boom >&2; exit 3\"` failed exit status 3: boom ("),
        "{}",
        s.message()
    );
    assert!(s.message().contains("generate failed after"), "{}", s.message());
    server.stop().await;
}

fn process_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // A zombie (state Z) has been killed and only waits to be reaped.
        Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

#[tokio::test]
async fn client_deadline_kills_the_whole_process_group() {
    let pids = tempfile::tempdir().expect("pid dir");
    let pidfile = pids.path().join("child.pid");
    let yaml = format!(
        "kind: ConfigManagementPlugin\nmetadata: {{name: slow}}\nspec:\n  generate:\n    command: [sh, -c, 'sleep 60 & echo $! > {}; wait']\n",
        pidfile.display()
    );
    let server = Server::start(&yaml, |_| {}).await;
    let archive = tgz(&[("a.yaml", "")]);
    let mut request = tonic::Request::new(tokio_stream::iter(messages(&archive, ".", vec![])));
    request.set_timeout(Duration::from_millis(1500));
    let started = std::time::Instant::now();
    let s = server.client().await.generate_manifest(request).await.expect_err("times out");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(s.code(), tonic::Code::DeadlineExceeded, "{}", s.message());
    assert!(s.message().starts_with("error generating manifests: `sh -c \"sleep 60 & echo $! >"), "{}", s.message());
    assert!(s.message().contains("failed signal: killed (timed out after"), "{}", s.message());
    let pid: i32 = std::fs::read_to_string(&pidfile).expect("pid written").trim().parse().expect("pid");
    let mut gone = false;
    for _ in 0..100 {
        if process_gone(pid) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "background child {pid} of the generate command survived");
    assert!(server.leftovers().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn exec_timeout_bounds_commands_without_a_client_deadline() {
    let yaml = "kind: ConfigManagementPlugin\nmetadata: {name: slow}\nspec:\n  init: {command: [sleep, '30']}\n  generate: {command: ['true']}\n";
    let server = Server::start(yaml, |o| o.exec_timeout = Some(Duration::from_millis(300))).await;
    let archive = tgz(&[("a.yaml", "")]);
    let s = refuse(&server, messages(&archive, ".", vec![])).await;
    assert_eq!(s.code(), tonic::Code::DeadlineExceeded);
    assert!(
        s.message().starts_with("error generating manifests: `sleep 30` failed signal: killed (timed out after"),
        "{}",
        s.message()
    );
    assert!(s.message().contains("init failed after"), "{}", s.message());
    server.stop().await;
}

#[tokio::test]
async fn response_over_the_message_limit_fails_clearly() {
    let server = Server::start(IN_PROCESS, |o| o.max_message_bytes = 4096).await;
    let big = format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: big}}\ndata: {{x: {}}}\n", "y".repeat(5000));
    let archive = tgz(&[("big.yaml", big.as_str())]);
    let s = refuse(&server, messages(&archive, ".", vec![])).await;
    assert_eq!(s.code(), tonic::Code::ResourceExhausted, "{}", s.message());
    assert!(s.message().contains("over the gRPC message limit of 4096 bytes"), "{}", s.message());
    server.stop().await;
}

#[tokio::test]
async fn app_path_outside_the_work_dir_is_refused() {
    let server = Server::start(IN_PROCESS, |_| {}).await;
    let archive = tgz(&guestbook());
    let s = refuse(&server, messages(&archive, "../other", vec![])).await;
    assert!(s.message().contains("illegal appPath: out of workDir bound"), "{}", s.message());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_requests_at_concurrency_sixteen_all_succeed_and_leave_no_work_dirs() {
    let server = Server::start(IN_PROCESS, |o| o.max_concurrent = 4).await;
    let archive = std::sync::Arc::new(tgz(&guestbook()));
    let channel = server.channel().await;
    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(16));
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let (archive, channel, semaphore) = (archive.clone(), channel.clone(), semaphore.clone());
        tasks.push(tokio::spawn(async move {
            let _slot = semaphore.acquire_owned().await.expect("slot");
            let mut client = ConfigManagementPluginServiceClient::new(channel);
            client
                .generate_manifest(tokio_stream::iter(messages(&archive, "apps/gb", vec![])))
                .await
                .map(|r| r.into_inner().manifests.len())
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("join").expect("generate ok"), 2);
    }
    assert!(server.leftovers().is_empty(), "work dirs left: {:?}", server.leftovers());
    server.stop().await;
}

#[tokio::test]
async fn a_stale_socket_is_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).expect("mkdir");
    std::fs::write(plugins.join("kcmp.sock"), "stale").expect("stale file");
    let config = PluginConfig::parse(Path::new("plugin.yaml"), IN_PROCESS).expect("config");
    let options =
        ServeOptions { socket_dir: plugins.clone(), work_dir: dir.path().join("w"), ..ServeOptions::default() };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(kcmp::cmp::serve(config, options, async move {
        let _ = rx.await;
    }));
    let mut ok = false;
    for _ in 0..200 {
        if UnixStream::connect(plugins.join("kcmp.sock")).await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(ok, "server listens where the stale file was");
    let _ = tx.send(());
    task.await.expect("join").expect("serve");
}

#[test]
fn repository_plugin_yaml_is_a_ready_in_process_config() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugin.yaml");
    let config = PluginConfig::load(&path).expect("plugin.yaml is valid");
    assert_eq!(config.name, "kcmp");
    assert!(matches!(config.generate, kcmp::cmp::config::Generate::InProcess(_)));
    assert!(config.discover.rule().is_some());
}

async fn generate_with_cache_header(client: &mut Client, archive: &[u8], env: Vec<EnvEntry>) -> (Vec<String>, String) {
    let reply =
        client.generate_manifest(tokio_stream::iter(messages(archive, "apps/gb", env))).await.expect("generate");
    let cache = reply.metadata().get("kcmp-cache").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    (reply.into_inner().manifests, cache)
}

#[tokio::test]
async fn in_process_output_is_cached_by_archive_and_env_but_not_for_sops_apps() {
    let server = Server::start(IN_PROCESS, |_| {}).await;
    let mut client = server.client().await;
    let archive = tgz(&guestbook());
    let (first, c1) = generate_with_cache_header(&mut client, &archive, vec![]).await;
    let (second, c2) = generate_with_cache_header(&mut client, &archive, vec![]).await;
    assert_eq!((c1.as_str(), c2.as_str()), ("miss", "hit"));
    assert_eq!(first, second);
    let (_, c3) = generate_with_cache_header(&mut client, &archive, env(&[("ARGOCD_ENV_X", "1")])).await;
    assert_eq!(c3, "miss", "different env, different key");

    let mut files = guestbook();
    files.push(("apps/gb/notes.txt", "secrets are managed with sops\n"));
    let sops_archive = tgz(&files);
    let (_, c4) = generate_with_cache_header(&mut client, &sops_archive, vec![]).await;
    let (_, c5) = generate_with_cache_header(&mut client, &sops_archive, vec![]).await;
    assert_eq!((c4.as_str(), c5.as_str()), ("off", "off"), "possible SOPS content is never cached by default");
    assert!(server.leftovers().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn metrics_endpoint_counts_requests_errors_phases_and_cache() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let server = Server::start(IN_PROCESS, |o| o.metrics_addr = Some(addr)).await;
    let mut client = server.client().await;
    let archive = tgz(&guestbook());
    generate_with_cache_header(&mut client, &archive, vec![]).await;
    let _ = refuse(&server, vec![]).await;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("metrics listens");
    conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
    let mut text = String::new();
    conn.read_to_string(&mut text).await.expect("read");
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("kcmp_requests_total{rpc=\"GenerateManifest\"} 2\n"), "{text}");
    assert!(text.contains("kcmp_request_errors_total{rpc=\"GenerateManifest\",code=\"Unknown\"} 1\n"), "{text}");
    assert!(text.contains("kcmp_phase_duration_seconds_count{phase=\"render\"} 1\n"), "{text}");
    assert!(text.contains("kcmp_cache_requests_total{result=\"miss\"} 1\n"), "{text}");
    assert!(text.contains("kcmp_requests_in_flight 0\n"), "{text}");
    assert!(!text.contains("apps/gb"), "no app paths in metrics");
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_goes_away_mid_stream_leaves_no_work_dir() {
    let server = Server::start(IN_PROCESS, |_| {}).await;
    let archive = tgz(&[("noise.bin", "x".repeat(50_000).as_str())]);
    let mut msgs = messages(&archive, ".", vec![]);
    msgs.truncate(2);
    // Metadata and one chunk, then the stream stays open until the client is dropped.
    let stream = tokio_stream::StreamExt::chain(tokio_stream::iter(msgs), tokio_stream::pending());
    let mut client = server.client().await;
    let call = tokio::spawn(async move { client.generate_manifest(stream).await });
    let mut saw_dir = false;
    for _ in 0..100 {
        if !server.leftovers().is_empty() {
            saw_dir = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(saw_dir, "the request's work dir exists while it is received");
    call.abort();
    let _ = call.await;
    let mut gone = false;
    for _ in 0..200 {
        if server.leftovers().is_empty() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(gone, "work dir left after the client went away: {:?}", server.leftovers());
    server.stop().await;
}

#[tokio::test]
async fn shutdown_unlinks_the_socket_at_once_and_finishes_in_flight_requests() {
    let yaml = "kind: ConfigManagementPlugin\nmetadata: {name: slow}\nspec:\n  generate: {command: [sh, -c, 'sleep 1; echo \"{\\\"kind\\\": \\\"Done\\\"}\"']}\n";
    let mut server = Server::start(yaml, |_| {}).await;
    let archive = tgz(&[("a.yaml", "")]);
    let mut client = server.client().await;
    let call =
        tokio::spawn(
            async move { client.generate_manifest(tokio_stream::iter(messages(&archive, ".", vec![]))).await },
        );
    tokio::time::sleep(Duration::from_millis(300)).await;
    if let Some(tx) = server.stop.take() {
        let _ = tx.send(());
    }
    let mut unlinked = false;
    for _ in 0..50 {
        if !server.socket.exists() {
            unlinked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(unlinked, "socket removed as soon as shutdown starts");
    let reply = call.await.expect("join").expect("in-flight request completes").into_inner();
    assert_eq!(reply.manifests, vec!["{\"kind\": \"Done\"}".to_string()]);
    server.stop().await;
}

#[tokio::test]
async fn discovery_and_dynamic_parameter_failures_carry_their_rpc_prefixes() {
    let yaml = "kind: ConfigManagementPlugin\nmetadata: {name: p}\nspec:\n  generate: {command: ['true']}\n  discover: {find: {glob: Chart.yaml}}\n  parameters: {dynamic: {command: [sh, -c, 'echo not-json']}}\n";
    let server = Server::start(yaml, |_| {}).await;
    let mut client = server.client().await;
    let archive = tgz(&[("a.yaml", "")]);
    let s =
        client.match_repository(tokio_stream::iter(messages(&archive, ".", vec![]))).await.expect_err("static miss");
    assert!(
        s.message().starts_with(
            "match repository error: error finding glob match for pattern \"Chart.yaml\": file does not exist ("
        ),
        "{}",
        s.message()
    );
    let s = client
        .get_parameters_announcement(tokio_stream::iter(messages(&archive, ".", vec![])))
        .await
        .expect_err("bad json");
    assert!(
        s.message().starts_with(
            "get parameters announcement error: error unmarshaling dynamic parameter output into ParametersAnnouncementResponse: expected ident at line 1 column 2"
        ),
        "{}",
        s.message()
    );
    let s = client.match_repository(tokio_stream::iter(vec![])).await.expect_err("no metadata");
    assert!(s.message().starts_with("match repository error receiving stream: error receiving stream header: EOF"));
    server.stop().await;
}

#[tokio::test]
async fn preserve_file_mode_keeps_exec_bits_for_compat_commands() {
    let yaml = "kind: ConfigManagementPlugin\nmetadata: {name: p}\nspec:\n  generate: {command: [./gen.sh]}\n  preserveFileMode: true\n";
    let server = Server::start(yaml, |_| {}).await;
    let script = "#!/bin/sh\necho '{\"kind\": \"FromScript\"}'\n";
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(script.len() as u64);
    h.set_mode(0o755);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, "gen.sh", script.as_bytes()).expect("append");
    let archive = gzip(&b.into_inner().expect("tar"));
    let reply = server
        .client()
        .await
        .generate_manifest(tokio_stream::iter(messages(&archive, ".", vec![])))
        .await
        .expect("script runs")
        .into_inner();
    assert_eq!(reply.manifests, vec!["{\"kind\": \"FromScript\"}".to_string()]);
    server.stop().await;
}
