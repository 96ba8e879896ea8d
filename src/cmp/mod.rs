//! The CMP sidecar (`kcmp serve`): Argo CD's Config Management Plugin protocol
//! (docs/cmp-protocol.md) over gRPC on a unix socket, replacing argocd-cmp-server.
//! Generation runs kcmp's engine in-process (`spec.generate.engine: kcmp`) or the
//! plugin's own commands (compat mode).
//!
//! Index: [`serve`] binds `<socket dir>/<name>[-<version>].sock` (§1), recreates the
//! work root (§5), registers the plugin service and gRPC health, and on shutdown
//! unlinks the socket and drains in-flight requests. Per request:
//! `server.rs` (handlers, status mapping) -> `request.rs` (phases) -> `archive.rs`
//! (receive, extract) -> `command.rs` / `manifests.rs` (compat) or `render` (engine);
//! `discovery.rs` and `params.rs` answer MatchRepository and GetParametersAnnouncement.

pub mod archive;
pub mod authority;
pub mod cache;
pub mod command;
pub mod config;
pub mod discovery;
pub mod error;
pub mod manifests;
pub mod metrics;
pub mod params;
pub mod proto;
mod request;
pub mod server;

pub use config::PluginConfig;
pub use error::{Error, Result};

use crate::render::sops::Decryption;
use proto::config_management_plugin_service_server::ConfigManagementPluginServiceServer;
use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;
use tracing::info;

/// Everything the sidecar needs besides plugin.yaml; the CLI fills it from flags and
/// the environment, so nothing below reads the process environment.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Socket directory (`$ARGOCD_PLUGINSOCKFILEPATH`).
    pub socket_dir: PathBuf,
    /// Parent of the work root `_cmp_server` (`$ARGOCD_CMP_WORKDIR` or the temp dir).
    pub work_dir: PathBuf,
    /// Archive limits.
    pub limits: archive::Limits,
    /// Requests processed at once; more wait in a queue.
    pub max_concurrent: usize,
    /// Bound on each plugin command besides the client deadline (`ARGOCD_EXEC_TIMEOUT`).
    pub exec_timeout: Option<Duration>,
    /// gRPC message limit both ways (`ARGOCD_GRPC_MAX_SIZE_MB`, default 100 MiB).
    pub max_message_bytes: usize,
    /// The environment plugin commands start from (the sidecar's own, as upstream).
    pub base_env: Vec<(String, String)>,
    /// SOPS keys for the in-process engine.
    pub decryption: Decryption,
    /// Bytes of rendered manifests kept in memory (0 disables the cache).
    pub cache_bytes: usize,
    /// Also cache output of apps that may hold SOPS-encrypted files (plaintext in memory).
    pub cache_decrypted: bool,
    /// Where to answer `GET /metrics` (Prometheus); `None` = no metrics endpoint.
    pub metrics_addr: Option<std::net::SocketAddr>,
}

impl Default for ServeOptions {
    fn default() -> ServeOptions {
        ServeOptions {
            socket_dir: PathBuf::from("/home/argocd/cmp-server/plugins"),
            work_dir: PathBuf::from("/tmp"),
            limits: archive::Limits::default(),
            max_concurrent: 16,
            exec_timeout: None,
            max_message_bytes: 100 << 20,
            base_env: Vec::new(),
            decryption: Decryption::default(),
            cache_bytes: 64 << 20,
            cache_decrypted: false,
            metrics_addr: None,
        }
    }
}

/// State shared by all requests: immutable config plus the concurrency slots.
pub(crate) struct Shared {
    pub(crate) config: PluginConfig,
    pub(crate) options: ServeOptions,
    /// Canonical `<work_dir>/_cmp_server`.
    pub(crate) work_root: PathBuf,
    pub(crate) slots: tokio::sync::Semaphore,
    pub(crate) cache: cache::Cache,
    /// Part of every cache key: a changed plugin.yaml never serves old output.
    pub(crate) config_fingerprint: String,
    pub(crate) metrics: Arc<metrics::Metrics>,
}

/// The socket path for `config` under `dir`, refusing names that leave `dir`.
pub fn socket_path(config: &PluginConfig, dir: &Path) -> Result<PathBuf> {
    let name = config.socket_file_name();
    if name.contains('/') || name.starts_with('.') {
        return Err(Error::Config {
            file: PathBuf::from("plugin.yaml"),
            detail: format!(
                "socket name {name:?} must not contain '/' or start with '.'; fix metadata.name or spec.version"
            ),
        });
    }
    Ok(dir.join(name))
}

/// Serves until `shutdown` resolves, then unlinks the socket and finishes in-flight
/// requests before returning.
pub async fn serve(
    config: PluginConfig,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    let socket = socket_path(&config, &options.socket_dir)?;
    let work_root = prepare_work_root(&options.work_dir)?;
    std::fs::create_dir_all(&options.socket_dir).map_err(|source| Error::Startup {
        what: format!("create socket directory {}", options.socket_dir.display()),
        source,
    })?;
    // A socket left by a previous process would make bind fail (§1: errors ignored).
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket)
        .map_err(|source| Error::Startup { what: format!("listen on {}", socket.display()), source })?;
    let max_message = options.max_message_bytes;
    let slots = tokio::sync::Semaphore::new(options.max_concurrent.max(1));
    if config.discover.rule().is_none() {
        info!(plugin = %config.name, "no discovery rule: applications must name the plugin ({})", socket_name(&config));
    }
    let cache = cache::Cache::new(options.cache_bytes);
    let config_fingerprint = format!("{config:?}");
    let metrics = Arc::new(metrics::Metrics::default());
    let metrics_task = match options.metrics_addr {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| Error::Startup { what: format!("listen for metrics on {addr}"), source })?;
            info!(%addr, "metrics on /metrics");
            Some(tokio::spawn(metrics::serve(listener, Arc::clone(&metrics))))
        }
        None => None,
    };
    let shared = Arc::new(Shared { config, options, work_root, slots, cache, config_fingerprint, metrics });
    let service = ConfigManagementPluginServiceServer::new(server::CmpService { shared })
        .max_decoding_message_size(max_message)
        .max_encoding_message_size(max_message);
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter.set_serving::<ConfigManagementPluginServiceServer<server::CmpService>>().await;
    info!(socket = %socket.display(), "serving");
    let unlink = socket.clone();
    let result = tonic::transport::Server::builder()
        .add_service(health)
        .add_service(service)
        .serve_with_incoming_shutdown(incoming(listener), async move {
            shutdown.await;
            // New connections stop at once; running requests finish (§1).
            let _ = std::fs::remove_file(&unlink);
            info!("shutting down: socket removed, draining in-flight requests");
        })
        .await;
    let _ = std::fs::remove_file(&socket);
    if let Some(task) = metrics_task {
        task.abort();
    }
    result.map_err(|e| Error::Startup {
        what: format!("serve on {}", socket.display()),
        source: std::io::Error::other(e.to_string()),
    })
}

/// Accepted connections, each behind the `:authority` fix the real repo-server needs.
fn incoming(
    listener: UnixListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<authority::AuthorityFix<tokio::net::UnixStream>>> {
    use tokio_stream::StreamExt;
    UnixListenerStream::new(listener).map(|conn| conn.map(authority::AuthorityFix::new))
}

fn socket_name(config: &PluginConfig) -> String {
    config.socket_file_name().trim_end_matches(".sock").to_string()
}

/// `<dir>/_cmp_server`, deleted and recreated with mode 0700 (§5).
fn prepare_work_root(dir: &Path) -> Result<PathBuf> {
    let root = dir.join("_cmp_server");
    let fail = |what: &str, source| Error::Startup { what: format!("{what} work root {}", root.display()), source };
    match std::fs::remove_dir_all(&root) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail("clear", e)),
    }
    std::fs::create_dir_all(&root).map_err(|e| fail("create", e))?;
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700)).map_err(|e| fail("restrict", e))?;
    std::fs::canonicalize(&root).map_err(|e| fail("resolve", e))
}
