//! Criterion benches for the CMP sidecar (issue 7; docs/cmp-protocol.md §3 GenerateManifest).
//!
//! A real `kcmp::cmp::serve` on a temp unix socket and a real tonic client, as the Argo CD
//! repo-server talks to it: metadata then 1 KiB chunks of a tar.gz, manifests back. The
//! archive of the app (the guestbook example, `testdata/examples/guestbook`, rendered at
//! `overlays/prod`) is built once outside the timing; what is timed is the round trip: stream,
//! checksum, safe extraction, in-process render, JSON manifests, work-dir cleanup.
//!
//! - `cmp/generate/uncached`: the output cache off (`cache_bytes: 0`), every request renders.
//! - `cmp/generate/cached`: the default cache, the steady state of an unchanged app.
//! - `cmp/generate-concurrent/64`: 64 streams at once on one connection (uncached), one
//!   iteration = all 64 answered; per-stream latency is the time divided by 64 at best.
//!
//! Further sidecar benches (compat-mode commands, other apps) are their own functions in
//! `criterion_group!` at the bottom.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hyper_util::rt::TokioIo;
use kcmp::cmp::proto::config_management_plugin_service_client::ConfigManagementPluginServiceClient;
use kcmp::cmp::proto::{app_stream_request::Request as Msg, AppStreamRequest, File, ManifestRequestMetadata};
use kcmp::cmp::{PluginConfig, ServeOptions};
use sha2::{Digest, Sha256};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

/// The in-process engine plugin, as `plugin.yaml` in the sidecar image configures it.
const PLUGIN: &str = "apiVersion: argoproj.io/v1alpha1\nkind: ConfigManagementPlugin\nmetadata: {name: kcmp}\nspec:\n  generate: {engine: kcmp}\n  discover: {fileName: kustomization.yaml}\n";

/// The app inside the archive, relative to the archive root.
const APP_PATH: &str = "overlays/prod";

/// Concurrent streams of the concurrency bench (the "64 concurrent streams").
const STREAMS: usize = 64;

type Client = ConfigManagementPluginServiceClient<Channel>;

/// A running sidecar; dropping the sender stops it.
struct Sidecar {
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
    client: Client,
}

async fn start(cache_bytes: usize) -> Sidecar {
    let dir = tempfile::tempdir().expect("a temp dir for the socket and work dir");
    let config = PluginConfig::parse(Path::new("plugin.yaml"), PLUGIN).expect("the bench plugin.yaml is valid");
    let options = ServeOptions {
        socket_dir: dir.path().join("plugins"),
        work_dir: dir.path().join("work"),
        max_concurrent: STREAMS,
        cache_bytes,
        ..ServeOptions::default()
    };
    let socket = options.socket_dir.join(config.socket_file_name());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(kcmp::cmp::serve(config, options, async move {
        let _ = stopped.await;
    }));
    for _ in 0..500 {
        if socket.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let path = socket.clone();
    let channel = Endpoint::try_from("http://kcmp.invalid")
        .expect("a static endpoint")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let p = path.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(p).await?)) }
        }))
        .await
        .unwrap_or_else(|e| panic!("connecting to the sidecar at {}: {e}", socket.display()));
    Sidecar { _dir: dir, _stop: stop, client: ConfigManagementPluginServiceClient::new(channel) }
}

/// tar.gz of every file under `root`, paths relative to it, as Argo CD sends an app's repo.
fn archive(root: &Path) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    files.sort();
    for f in files {
        let rel = f.strip_prefix(root).expect("walked under the root");
        tar.append_path_with_name(&f, rel).expect("an example file is readable");
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar.into_inner().expect("tar")).expect("gzip");
    gz.finish().expect("gzip")
}

/// Metadata then 1024-byte chunks, as the repo-server streams by default.
fn messages(archive: &[u8]) -> Vec<AppStreamRequest> {
    let checksum = Sha256::digest(archive).iter().map(|b| format!("{b:02x}")).collect();
    let meta = ManifestRequestMetadata {
        app_name: "guestbook".into(),
        app_rel_path: APP_PATH.into(),
        checksum,
        size: archive.len() as i64,
        env: Vec::new(),
    };
    let mut out = vec![AppStreamRequest { request: Some(Msg::Metadata(meta)) }];
    for chunk in archive.chunks(1024) {
        out.push(AppStreamRequest { request: Some(Msg::File(File { chunk: chunk.to_vec() })) });
    }
    out
}

async fn generate(client: &Client, msgs: &[AppStreamRequest]) -> usize {
    let reply = client
        .clone()
        .generate_manifest(tokio_stream::iter(msgs.to_vec()))
        .await
        .unwrap_or_else(|status| panic!("GenerateManifest failed: {status}"))
        .into_inner();
    reply.manifests.len()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime")
}

fn generate_manifest(c: &mut Criterion) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/examples/guestbook");
    let msgs = messages(&archive(&root));
    let rt = runtime();
    let mut group = c.benchmark_group("cmp/generate");
    for (name, cache_bytes) in [("uncached", 0), ("cached", ServeOptions::default().cache_bytes)] {
        let sidecar = rt.block_on(start(cache_bytes));
        // one answer before timing: a failing setup panics here with the status, not mid-bench
        let docs = rt.block_on(generate(&sidecar.client, &msgs));
        group.throughput(Throughput::Elements(docs as u64));
        group.bench_function(name, |b| b.iter(|| rt.block_on(generate(&sidecar.client, &msgs))));
    }
    group.finish();
}

fn generate_concurrent(c: &mut Criterion) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/examples/guestbook");
    let msgs = messages(&archive(&root));
    let rt = runtime();
    let sidecar = rt.block_on(start(0));
    let all = |client: &Client| {
        let calls: Vec<_> = (0..STREAMS)
            .map(|_| {
                let client = client.clone();
                let msgs = msgs.clone();
                rt.spawn(async move { generate(&client, &msgs).await })
            })
            .collect();
        rt.block_on(async {
            let mut docs = 0;
            for call in calls {
                docs += call.await.expect("a stream task finishes");
            }
            docs
        })
    };
    all(&sidecar.client);
    let mut group = c.benchmark_group("cmp/generate-concurrent");
    group.sample_size(10);
    group.throughput(Throughput::Elements(STREAMS as u64));
    group.bench_with_input(BenchmarkId::from_parameter(STREAMS), &sidecar.client, |b, client| b.iter(|| all(client)));
    group.finish();
}

criterion_group!(benches, generate_manifest, generate_concurrent);
criterion_main!(benches);
