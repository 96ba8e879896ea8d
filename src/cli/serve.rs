//! `kcmp serve`: the CMP sidecar. Reads plugin.yaml and the Argo CD sidecar
//! variables (docs/cmp-protocol.md §1, §14), then runs [`crate::cmp::serve`] on a
//! tokio runtime until SIGTERM or SIGINT.

use crate::cmp::{self, archive::Limits, PluginConfig, ServeOptions};
use crate::render::sops;
use anyhow::{Context as _, Result};
use clap::Args;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `kcmp serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The ConfigManagementPlugin file.
    #[arg(long, env = "KCMP_PLUGIN_CONFIG", default_value = "/home/argocd/cmp-server/config/plugin.yaml")]
    pub config: PathBuf,
    /// Directory of the plugin socket, shared with the repo-server.
    #[arg(long, env = "ARGOCD_PLUGINSOCKFILEPATH", default_value = "/home/argocd/cmp-server/plugins")]
    pub socket_dir: PathBuf,
    /// Parent of the `_cmp_server` work root (default: the temp dir).
    #[arg(long, env = "ARGOCD_CMP_WORKDIR")]
    pub work_dir: Option<PathBuf>,
    /// Largest compressed archive accepted, in bytes.
    #[arg(long, env = "KCMP_MAX_ARCHIVE_BYTES", default_value_t = Limits::default().max_archive_bytes)]
    pub max_archive_bytes: u64,
    /// Largest total size of extracted files, in bytes.
    #[arg(long, env = "KCMP_MAX_EXTRACTED_BYTES", default_value_t = Limits::default().max_extracted_bytes)]
    pub max_extracted_bytes: u64,
    /// Most tar entries accepted.
    #[arg(long, env = "KCMP_MAX_ENTRIES", default_value_t = Limits::default().max_entries)]
    pub max_entries: u64,
    /// Requests processed at once; more wait in a queue.
    #[arg(long, env = "KCMP_MAX_CONCURRENT", default_value_t = 16)]
    pub max_concurrent: usize,
    /// Bound on each plugin command (Go duration, e.g. 90s); the client deadline always applies.
    #[arg(long, env = "ARGOCD_EXEC_TIMEOUT")]
    pub exec_timeout: Option<String>,
    /// gRPC message size limit in MiB.
    #[arg(long, env = "ARGOCD_GRPC_MAX_SIZE_MB", default_value_t = 100)]
    pub grpc_max_size_mb: usize,
    /// Refuse SOPS files even where plugin.yaml allows decryption.
    #[arg(long)]
    pub no_decrypt: bool,
    /// Memory for cached rendered output, in MiB (0 disables the cache).
    #[arg(long, env = "KCMP_CACHE_MB", default_value_t = 64)]
    pub cache_mb: usize,
    /// Also cache output of apps with SOPS files (decrypted data then stays in memory).
    #[arg(long, env = "KCMP_CACHE_DECRYPTED")]
    pub cache_decrypted: bool,
    /// Serve Prometheus metrics on this address (e.g. 0.0.0.0:9102), path /metrics.
    #[arg(long, env = "KCMP_METRICS_ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
}

/// Loads the config, builds the options, serves until a termination signal.
pub fn run(args: &ServeArgs) -> Result<ExitCode> {
    let config = PluginConfig::load(&args.config)?;
    let vars: BTreeMap<String, String> = std::env::vars().collect();
    let exec_timeout =
        match &args.exec_timeout {
            None => None,
            Some(text) => Some(cmp::command::parse_duration(text).with_context(|| {
                format!("ARGOCD_EXEC_TIMEOUT / --exec-timeout {text:?}: expected a duration like 90s")
            })?),
        };
    let decryption = if args.no_decrypt {
        sops::Decryption::Disabled
    } else {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        sops::Decryption::Enabled(sops::Keyring::from_vars(&vars, home.as_deref()).map_err(anyhow::Error::new)?)
    };
    let options = ServeOptions {
        socket_dir: args.socket_dir.clone(),
        work_dir: args.work_dir.clone().unwrap_or_else(std::env::temp_dir),
        limits: Limits {
            max_archive_bytes: args.max_archive_bytes,
            max_extracted_bytes: args.max_extracted_bytes,
            max_entries: args.max_entries,
        },
        max_concurrent: args.max_concurrent,
        exec_timeout,
        max_message_bytes: args.grpc_max_size_mb.saturating_mul(1 << 20),
        base_env: vars.into_iter().collect(),
        decryption,
        cache_bytes: args.cache_mb.saturating_mul(1 << 20),
        cache_decrypted: args.cache_decrypted,
        metrics_addr: args.metrics_addr,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async move {
        // Registered before serving starts, so a SIGTERM right after startup is not
        // fatal (the default action) but a graceful shutdown.
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("watching SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("watching SIGINT")?;
        let shutdown = async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        };
        cmp::serve(config, options, shutdown).await.map_err(anyhow::Error::new)
    })?;
    Ok(ExitCode::SUCCESS)
}
