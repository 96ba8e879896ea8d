//! `kcmp controller`: runs the reconcile loop against a cluster, or prints the
//! CRDs it needs (`kcmp controller crds`). Reads the environment (KUBECONFIG,
//! HOME, SOPS keys, POD_NAME) and hands plain settings to `controller::run`.

use crate::controller::appset::{self, plan};
use crate::controller::autosync::SelfHeal;
use crate::controller::kube::{ClusterConfig, KubeCluster};
use crate::controller::run::{self, app::AppSettings, appset::AppSetSettings, LeaseSettings, LoopSettings};
use crate::controller::source::SourceOptions;
use crate::controller::sync::execute::ExecuteOptions;
use crate::controller::{self, Options};
use crate::render::{self, sops};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// `kcmp controller [crds]`.
#[derive(Debug, Args)]
pub struct ControllerArgs {
    #[command(subcommand)]
    command: Option<ControllerCommand>,
    /// Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: its current-context).
    #[arg(long)]
    context: Option<String>,
    /// Namespace whose Applications, ApplicationSets and cluster Secrets are used.
    #[arg(short = 'n', long, default_value = "argocd")]
    namespace: String,
    /// Seconds between refreshes of every app (Argo CD's timeout.reconciliation).
    #[arg(long, default_value_t = 120)]
    interval: u64,
    /// Seconds allowed for each API request and each git command.
    #[arg(long, default_value_t = 60)]
    request_timeout: u64,
    /// Seconds one sync operation may take.
    #[arg(long, default_value_t = 300)]
    sync_timeout: u64,
    /// Fixed self-heal wait in seconds instead of the default backoff (2s x3, max 300s).
    #[arg(long)]
    self_heal_timeout: Option<u64>,
    /// Address of the Prometheus /metrics endpoint; "off" disables it.
    #[arg(long, default_value = "0.0.0.0:8082")]
    metrics_addr: String,
    /// Lease for leader election (in --namespace); "off" runs without election.
    #[arg(long, default_value = "kcmp-controller")]
    lease: String,
    /// Lease duration in seconds.
    #[arg(long, default_value_t = 15)]
    lease_duration: u64,
    /// ApplicationSet policy for every set: sync, create-only, create-update, create-delete.
    #[arg(long)]
    policy: Option<String>,
    /// Refuse to decrypt SOPS files.
    #[arg(long)]
    no_decrypt: bool,
    /// Directory for the git mirrors every fetch updates (default: a temporary
    /// directory removed on exit). Give a volume to keep them across restarts.
    #[arg(long)]
    git_cache: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum ControllerCommand {
    /// Print the Application and ApplicationSet CRDs (minimal structural schemas).
    Crds,
}

/// Entry point of `kcmp controller`.
pub fn run(args: &ControllerArgs) -> Result<ExitCode> {
    if let Some(ControllerCommand::Crds) = args.command {
        print!("{}", controller::crds::yaml());
        return Ok(ExitCode::SUCCESS);
    }
    // Lives until the loop ends, so the default mirror directory is removed on exit.
    let scratch_cache = match &args.git_cache {
        Some(_) => None,
        None => Some(tempfile::Builder::new().prefix("kcmp-git-").tempdir().context("creating the git cache")?),
    };
    let mut settings = settings(args)?;
    let mirrors = args.git_cache.clone().or_else(|| scratch_cache.as_ref().map(|d| d.path().to_path_buf()));
    settings.app.options.source.mirrors = mirrors.clone();
    settings.appset.source.mirrors = mirrors;
    let config = cluster_config(args)?;
    let timeout = Duration::from_secs(args.request_timeout);
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    runtime.block_on(async {
        let cluster = KubeCluster::connect(&config, timeout).await?;
        let mut settings = settings;
        settings.app.cluster_url = cluster.url().to_string();
        run::run(cluster, settings).await
    })?;
    Ok(ExitCode::SUCCESS)
}

fn cluster_config(a: &ControllerArgs) -> Result<ClusterConfig> {
    let from_env =
        std::env::var_os("KUBECONFIG").and_then(|v| std::env::split_paths(&v).find(|p| !p.as_os_str().is_empty()));
    let home = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kube").join("config"));
    let path = a.kubeconfig.clone().or(from_env).or_else(|| home.filter(|p| p.is_file()));
    match path {
        Some(path) => Ok(ClusterConfig::Kubeconfig { path, context: a.context.clone() }),
        None if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() => Ok(ClusterConfig::InCluster),
        None => bail!("no cluster configured: pass --kubeconfig, set KUBECONFIG, or run in a pod"),
    }
}

fn settings(a: &ControllerArgs) -> Result<LoopSettings> {
    let decryption = if a.no_decrypt {
        sops::Decryption::Disabled
    } else {
        let vars: BTreeMap<String, String> = std::env::vars().collect();
        let home = std::env::var_os("HOME").map(PathBuf::from);
        sops::Decryption::Enabled(sops::Keyring::from_vars(&vars, home.as_deref()).map_err(anyhow::Error::new)?)
    };
    let source = SourceOptions {
        base_dir: std::env::current_dir().context("reading the working directory")?,
        local: None,
        git_timeout: Duration::from_secs(a.request_timeout),
        git: "git".into(),
        mirrors: None,
    };
    let controller_policy = match a.policy.as_deref() {
        None => None,
        Some(p) => {
            Some(serde_json::from_value::<appset::Policy>(serde_json::Value::String(p.into())).map_err(|_| {
                anyhow::anyhow!("--policy {p:?}: use sync, create-only, create-update or create-delete")
            })?)
        }
    };
    let metrics_addr = match a.metrics_addr.as_str() {
        "off" => None,
        s => Some(s.parse::<SocketAddr>().with_context(|| format!("--metrics-addr {s:?} is not host:port"))?),
    };
    let lease = (a.lease != "off").then(|| LeaseSettings {
        name: a.lease.clone(),
        identity: std::env::var("POD_NAME")
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| format!("kcmp-{}", std::process::id())),
        duration: Duration::from_secs(a.lease_duration.max(3)),
    });
    Ok(LoopSettings {
        namespace: a.namespace.clone(),
        app: AppSettings {
            options: Options {
                controller_namespace: a.namespace.clone(),
                source: source.clone(),
                render: render::Options { decryption, ..Default::default() },
            },
            interval: Duration::from_secs(a.interval.max(1)),
            self_heal: a.self_heal_timeout.map(|s| SelfHeal::Timeout(Duration::from_secs(s))).unwrap_or_default(),
            execute: ExecuteOptions { timeout: Duration::from_secs(a.sync_timeout), ..Default::default() },
            cluster_url: String::new(),
        },
        appset: AppSetSettings {
            plan: plan::Settings { controller_policy, ..Default::default() },
            generate: appset::Options::default(),
            source,
        },
        metrics_addr,
        lease,
    })
}
