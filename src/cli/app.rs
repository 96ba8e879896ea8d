//! `kcmp app diff|sync|wait|get|manifests`: argocd-like commands over the embedded
//! controller (docs/controller-cli.md). Reads the environment (KUBECONFIG, HOME,
//! SOPS keys), picks the cluster config, prints, and chooses exit codes:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (`diff`: no differences) |
//! | 1 | `diff`: differences found; `sync`: operation not Succeeded or resources still need pruning; `wait`: health became Degraded |
//! | 2 | error: bad input, render failure, API error, usage |
//! | 124 | `wait`: timeout |

use crate::controller::application::Application;
use crate::controller::diff::{Color, SyncStatus};
use crate::controller::health::HealthStatus;
use crate::controller::kube::{ClusterConfig, KubeCluster};
use crate::controller::sync::execute::{Event, ExecuteOptions, OperationPhase, ResultStatus, TaskResult};
use crate::controller::sync::plan::Selector;
use crate::controller::sync::retry::{parse_duration, Retry};
use crate::controller::{self, Comparison, Options, SyncRequest};
use crate::render::{self, sops};
use anyhow::{bail, Context as _, Result};
use clap::{Args, Subcommand, ValueEnum};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// `kcmp app ...`.
#[derive(Debug, Args)]
pub struct AppArgs {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: AppCommand,
}

#[derive(Debug, Args)]
struct GlobalArgs {
    /// Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, global = true)]
    kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: its current-context).
    #[arg(long, global = true)]
    context: Option<String>,
    /// Namespace of Applications looked up by name.
    #[arg(short = 'N', long = "app-namespace", default_value = "argocd", global = true)]
    app_namespace: String,
    /// The controller namespace: apps there are tracked by bare name.
    #[arg(long, default_value = "argocd", global = true)]
    controller_namespace: String,
    /// Render this directory instead of the app's source.
    #[arg(long, global = true)]
    local: Option<PathBuf>,
    /// Seconds allowed for each API request and each git command.
    #[arg(long, default_value_t = 60, global = true)]
    request_timeout: u64,
    /// Refuse to decrypt SOPS files.
    #[arg(long, global = true)]
    no_decrypt: bool,
}

#[derive(Debug, Subcommand)]
enum AppCommand {
    /// Show live vs desired (exit 0 no diff, 1 diff, 2 error).
    Diff(DiffArgs),
    /// Sync the app: dry-run all, then apply by phase and wave with health waits.
    Sync(SyncArgs),
    /// Wait until the app is Synced and/or Healthy.
    Wait(WaitArgs),
    /// Show the app's sync and health status per resource.
    Get(AppRef),
    /// Print the desired (or live) manifests.
    Manifests(ManifestsArgs),
}

#[derive(Debug, Args)]
struct AppRef {
    /// An Application YAML file, or the name of an Application in the cluster.
    app: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Args)]
struct DiffArgs {
    #[command(flatten)]
    app: AppRef,
    /// Exit 1 when differences are found (`--exit-code=false` exits 0).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    exit_code: bool,
    /// Colour the diff.
    #[arg(long, value_enum, default_value = "auto")]
    color: ColorChoice,
}

#[derive(Debug, Args)]
struct SyncArgs {
    #[command(flatten)]
    app: AppRef,
    /// Dry-run every step; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Delete resources that left the source.
    #[arg(long)]
    prune: bool,
    /// Seconds the whole operation may take (it fails after that).
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Replace the app's sync options for this operation (repeatable, `Key=value`).
    #[arg(long = "sync-option", value_name = "KEY=VALUE")]
    sync_option: Vec<String>,
    /// Seconds between waves (Argo CD waits 2).
    #[arg(long, default_value_t = 2)]
    wave_delay: u64,
    /// Selective sync: only `GROUP:KIND:[NAMESPACE/]NAME` (repeatable, `*` wildcards,
    /// `!` excludes); runs no hooks.
    #[arg(long = "resource", value_name = "GROUP:KIND:NAME")]
    resource: Vec<String>,
    /// Delete and recreate objects whose update the server refuses (immutable fields).
    #[arg(long)]
    force: bool,
    /// `hook` (default) runs hooks; `apply` applies the resources only.
    #[arg(long, value_enum, default_value = "hook")]
    strategy: Strategy,
    /// Retries of a failed operation (-1 = unlimited).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    retry_limit: i64,
    /// First wait before a retry (`5s`, `1m`, or seconds).
    #[arg(long, default_value = "5s")]
    retry_backoff_duration: String,
    /// Growth factor of the wait.
    #[arg(long, default_value_t = 2)]
    retry_backoff_factor: u32,
    /// Longest wait between retries.
    #[arg(long, default_value = "3m")]
    retry_backoff_max_duration: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Strategy {
    Hook,
    Apply,
}

#[derive(Debug, Args)]
struct WaitArgs {
    #[command(flatten)]
    app: AppRef,
    /// Wait for health Healthy.
    #[arg(long)]
    health: bool,
    /// Wait for sync status Synced.
    #[arg(long)]
    sync: bool,
    /// Seconds to wait; 0 = no limit (exit 124 on timeout).
    #[arg(long, default_value_t = 0)]
    timeout: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ManifestSource {
    Git,
    Live,
}

#[derive(Debug, Args)]
struct ManifestsArgs {
    #[command(flatten)]
    app: AppRef,
    /// `git`: rendered from the source; `live`: the app's objects in the cluster (Secret values masked).
    #[arg(long, value_enum, default_value = "git")]
    source: ManifestSource,
}

/// How a command ended; [`exit_code`] maps it to the table in the module doc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Success (`diff`: no differences).
    Done,
    /// `diff` found differences.
    DiffFound,
    /// `sync` did not succeed, or `wait` saw a Degraded transition (reason printed).
    Failed,
    /// `wait` ran out of time.
    TimedOut,
}

/// Runs one `kcmp app` command and returns its exit code.
pub fn run(args: &AppArgs) -> ExitCode {
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
        .and_then(|runtime| runtime.block_on(dispatch(args)));
    exit_code(result)
}

/// The one place `kcmp app` outcomes become exit codes.
fn exit_code(result: Result<Verdict>) -> ExitCode {
    match result {
        Ok(Verdict::Done) => ExitCode::SUCCESS,
        Ok(Verdict::DiffFound | Verdict::Failed) => ExitCode::from(1),
        Ok(Verdict::TimedOut) => ExitCode::from(124),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn dispatch(args: &AppArgs) -> Result<Verdict> {
    match &args.command {
        AppCommand::Diff(a) => diff(&args.global, a).await,
        AppCommand::Sync(a) => sync(&args.global, a).await,
        AppCommand::Wait(a) => wait(&args.global, a).await,
        AppCommand::Get(a) => get(&args.global, a).await,
        AppCommand::Manifests(a) => manifests(&args.global, a).await,
    }
}

fn cluster_config(g: &GlobalArgs) -> Result<ClusterConfig> {
    let from_env =
        std::env::var_os("KUBECONFIG").and_then(|v| std::env::split_paths(&v).find(|p| !p.as_os_str().is_empty()));
    let home = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kube").join("config"));
    let path = g.kubeconfig.clone().or(from_env).or_else(|| home.filter(|p| p.is_file()));
    match path {
        Some(path) => Ok(ClusterConfig::Kubeconfig { path, context: g.context.clone() }),
        None if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() => Ok(ClusterConfig::InCluster),
        None => bail!("no cluster configured: pass --kubeconfig, set KUBECONFIG, or run in a pod"),
    }
}

async fn connect(g: &GlobalArgs) -> Result<KubeCluster> {
    let config = cluster_config(g)?;
    Ok(KubeCluster::connect(&config, Duration::from_secs(g.request_timeout)).await?)
}

fn options(g: &GlobalArgs, base_dir: PathBuf) -> Result<Options> {
    let decryption = if g.no_decrypt {
        sops::Decryption::Disabled
    } else {
        let vars: BTreeMap<String, String> = std::env::vars().collect();
        let home = std::env::var_os("HOME").map(PathBuf::from);
        sops::Decryption::Enabled(sops::Keyring::from_vars(&vars, home.as_deref()).map_err(anyhow::Error::new)?)
    };
    Ok(Options {
        controller_namespace: g.controller_namespace.clone(),
        source: controller::source::SourceOptions {
            base_dir,
            local: g.local.clone(),
            git_timeout: Duration::from_secs(g.request_timeout),
            git: "git".into(),
            mirrors: None,
        },
        render: render::Options { decryption, ..Default::default() },
    })
}

/// A file path reads the Application YAML; anything else is a name in the cluster.
async fn load_app(g: &GlobalArgs, cluster: Option<&KubeCluster>, app: &str) -> Result<(Application, PathBuf)> {
    let path = Path::new(app);
    if path.is_file() {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let parsed = Application::from_yaml(&text, &path.display().to_string())?;
        if let Some(cluster) = cluster {
            parsed.check_destination(cluster.url())?;
        }
        let base = path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
        return Ok((parsed, base));
    }
    let Some(cluster) = cluster else { bail!("{app}: no such file, and no cluster to look the application up in") };
    let raw = cluster.get_application(&g.app_namespace, app).await?;
    let parsed = Application::from_value(serde_json::Value::Object(raw), &format!("{}/{app}", g.app_namespace))?;
    parsed.check_destination(cluster.url())?;
    Ok((parsed, PathBuf::from(".")))
}

async fn compare_app(g: &GlobalArgs, app_ref: &str) -> Result<(KubeCluster, Application, Options, Comparison)> {
    let cluster = connect(g).await?;
    let (app, base) = load_app(g, Some(&cluster), app_ref).await?;
    let opts = options(g, base)?;
    let desired = controller::desired(&app, &opts).await?;
    let comparison = controller::compare(&cluster, &app, &desired, &opts).await?;
    Ok((cluster, app, opts, comparison))
}

async fn diff(g: &GlobalArgs, a: &DiffArgs) -> Result<Verdict> {
    let (_, _, _, cmp) = compare_app(g, &a.app.app).await?;
    if let Some((i, message)) = cmp.errors.iter().next() {
        let key = &cmp.reconciled.resources[*i].key;
        bail!("cannot compare {key}: {message}");
    }
    let color = match a.color {
        ColorChoice::Always => Color::Always,
        ColorChoice::Never => Color::Never,
        ColorChoice::Auto if std::io::stdout().is_terminal() => Color::Always,
        ColorChoice::Auto => Color::Never,
    };
    let mut out = std::io::stdout().lock();
    let mut found = false;
    for d in &cmp.diffs {
        if d.modified || d.requires_pruning {
            found = true;
            out.write_all(controller::diff::render_unified(d, color).as_bytes()).context("writing to stdout")?;
        }
    }
    out.flush().context("writing to stdout")?;
    Ok(if found && a.exit_code { Verdict::DiffFound } else { Verdict::Done })
}

fn print_progress(start: Instant, e: &Event<'_>) {
    let t = start.elapsed().as_secs();
    match e {
        Event::NamespaceCreated(ns) => eprintln!("[{t:>4}s] namespace {ns} created"),
        Event::DryRunPassed(n) => eprintln!("[{t:>4}s] dry-run passed for {n} tasks"),
        Event::Group { phase, wave, tasks } => eprintln!("[{t:>4}s] {phase} wave {wave}: {tasks} tasks"),
        Event::Result(r) => eprintln!("[{t:>4}s]   {}", result_line(r)),
        Event::Waiting(m) => eprintln!("[{t:>4}s]   {m}"),
    }
}

fn result_line(r: &TaskResult) -> String {
    let k = &r.key;
    let hook = if r.hook { r.phase.to_string() } else { String::new() };
    format!(
        "{:<12} {:<22} {:<16} {:<28} {:<12} {:<10} {:<9} {}",
        k.group, k.kind, k.namespace, k.name, r.status, r.state, hook, r.message
    )
}

async fn sync(g: &GlobalArgs, a: &SyncArgs) -> Result<Verdict> {
    let retry = Retry {
        limit: if a.retry_limit < 0 { None } else { Some(u32::try_from(a.retry_limit).unwrap_or(u32::MAX)) },
        duration: parse_duration(&a.retry_backoff_duration)
            .map_err(anyhow::Error::msg)
            .context("--retry-backoff-duration")?,
        factor: a.retry_backoff_factor.max(1),
        max_duration: parse_duration(&a.retry_backoff_max_duration)
            .map_err(anyhow::Error::msg)
            .context("--retry-backoff-max-duration")?,
    };
    let cluster = connect(g).await?;
    let (app, base) = load_app(g, Some(&cluster), &a.app.app).await?;
    let opts = options(g, base)?;
    let desired = controller::desired(&app, &opts).await?;
    let request = SyncRequest {
        prune: a.prune,
        sync_options: if a.sync_option.is_empty() { None } else { Some(a.sync_option.clone()) },
        resources: a
            .resource
            .iter()
            .map(|r| Selector::parse(r))
            .collect::<std::result::Result<Vec<_>, String>>()
            .map_err(anyhow::Error::msg)?,
        skip_hooks: a.strategy == Strategy::Apply,
        force: a.force,
        execute: ExecuteOptions {
            dry_run: a.dry_run,
            timeout: Duration::from_secs(a.timeout),
            poll_interval: Duration::from_secs(2),
            wave_delay: Duration::from_secs(a.wave_delay),
            ..Default::default()
        },
    };
    let start = Instant::now();
    let mut retries = 0u32;
    let outcome = loop {
        let cmp = controller::compare(&cluster, &app, &desired, &opts).await?;
        let outcome = controller::sync(&cluster, &app, &cmp, &request, &mut |e| print_progress(start, e)).await?;
        if outcome.phase == OperationPhase::Succeeded || a.dry_run || !retry.allows(retries) {
            break outcome;
        }
        let wait = retry.delay(retries);
        eprintln!("[{:>4}s] {}; retrying in {}s", start.elapsed().as_secs(), outcome.message, wait.as_secs());
        tokio::time::sleep(wait).await;
        retries += 1;
    };
    println!(
        "{:<12} {:<22} {:<16} {:<28} {:<12} {:<10} {:<9} MESSAGE",
        "GROUP", "KIND", "NAMESPACE", "NAME", "STATUS", "STATE", "HOOK"
    );
    for r in &outcome.results {
        println!("{}", result_line(r));
    }
    let retried = if retries > 0 { format!(" (retried {retries} times)") } else { String::new() };
    println!("Operation: {} ({}){retried}", outcome.phase, outcome.message);
    if outcome.phase != OperationPhase::Succeeded {
        eprintln!("error: operation has completed with phase: {}", outcome.phase);
        return Ok(Verdict::Failed);
    }
    let needs_prune = outcome.results.iter().filter(|r| r.status == ResultStatus::PruneSkipped).count();
    if needs_prune > 0 && !a.dry_run {
        eprintln!("error: {needs_prune} resources require pruning");
        return Ok(Verdict::Failed);
    }
    Ok(Verdict::Done)
}

async fn wait(g: &GlobalArgs, a: &WaitArgs) -> Result<Verdict> {
    let (want_sync, want_health) = if !a.sync && !a.health { (true, true) } else { (a.sync, a.health) };
    let cluster = connect(g).await?;
    let (app, base) = load_app(g, Some(&cluster), &a.app.app).await?;
    let opts = options(g, base)?;
    let desired = controller::desired(&app, &opts).await?;
    let start = Instant::now();
    let mut previous: Option<HealthStatus> = None;
    loop {
        let cmp = controller::compare(&cluster, &app, &desired, &opts).await?;
        let synced = cmp.sync_status == SyncStatus::Synced;
        let healthy = cmp.health.status == HealthStatus::Healthy;
        eprintln!(
            "[{:>4}s] sync {} health {} {}",
            start.elapsed().as_secs(),
            cmp.sync_status,
            cmp.health.status,
            cmp.health.message
        );
        if (!want_sync || synced) && (!want_health || healthy) {
            return Ok(Verdict::Done);
        }
        if want_health && cmp.health.status == HealthStatus::Degraded {
            if let Some(p) = previous.filter(|p| !matches!(p, HealthStatus::Degraded | HealthStatus::Unknown)) {
                eprintln!("error: health state has transitioned from {p} to Degraded");
                return Ok(Verdict::Failed);
            }
        }
        previous = Some(cmp.health.status);
        if a.timeout > 0 && start.elapsed() >= Duration::from_secs(a.timeout) {
            eprintln!(
                "error: timed out ({}s) waiting for app {:?} to match desired state (sync {}, health {})",
                a.timeout, app.metadata.name, cmp.sync_status, cmp.health.status
            );
            return Ok(Verdict::TimedOut);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

async fn get(g: &GlobalArgs, a: &AppRef) -> Result<Verdict> {
    let (_, app, _, cmp) = compare_app(g, &a.app).await?;
    let src = app.primary_source().cloned().unwrap_or_default();
    let policy = match app.spec.sync_policy.as_ref().and_then(|p| p.automated.as_ref()) {
        Some(auto) if auto.enabled != Some(false) => {
            if auto.prune {
                "Automated (Prune)"
            } else {
                "Automated"
            }
        }
        _ => "Manual",
    };
    let dest = &app.spec.destination;
    let app_ns = if app.metadata.namespace.is_empty() { &g.app_namespace } else { &app.metadata.namespace };
    println!("Name:               {app_ns}/{}", app.metadata.name);
    println!("Project:            {}", if app.spec.project.is_empty() { "default" } else { &app.spec.project });
    println!("Server:             {}", if dest.server.is_empty() { &dest.name } else { &dest.server });
    println!("Namespace:          {}", dest.namespace);
    println!("Repo:               {}", src.repo_url);
    println!("Target:             {}", src.target_revision);
    println!("Path:               {}", src.path);
    println!("Sync Policy:        {policy}");
    println!("Sync Status:        {} ({})", cmp.sync_status, cmp.revision.chars().take(7).collect::<String>());
    println!("Health Status:      {}", cmp.health.status);
    println!();
    println!(
        "{:<12} {:<22} {:<16} {:<28} {:<10} {:<12} MESSAGE",
        "GROUP", "KIND", "NAMESPACE", "NAME", "STATUS", "HEALTH"
    );
    for (i, (pair, d)) in cmp.reconciled.resources.iter().zip(&cmp.diffs).enumerate() {
        let k = &pair.key;
        let h = cmp.resource_health.get(i).and_then(|h| h.as_ref());
        let health = match (h, &pair.live) {
            (Some(h), _) => h.status.to_string(),
            (None, None) => "Missing".into(),
            (None, Some(_)) => String::new(),
        };
        let mut message = h.map(|h| h.message.clone()).unwrap_or_default();
        if d.requires_pruning {
            message = "requires pruning".into();
        }
        if let Some(e) = cmp.errors.get(&i) {
            message = e.clone();
        }
        println!(
            "{:<12} {:<22} {:<16} {:<28} {:<10} {:<12} {}",
            k.group, k.kind, k.namespace, k.name, d.status, health, message
        );
    }
    Ok(Verdict::Done)
}

async fn manifests(g: &GlobalArgs, a: &ManifestsArgs) -> Result<Verdict> {
    let objects: Vec<serde_json::Value> = match a.source {
        ManifestSource::Git => {
            let (app, base) = if Path::new(&a.app.app).is_file() {
                load_app(g, None, &a.app.app).await?
            } else {
                let cluster = connect(g).await?;
                load_app(g, Some(&cluster), &a.app.app).await?
            };
            let opts = options(g, base)?;
            controller::desired(&app, &opts).await?.objects.into_iter().map(serde_json::Value::Object).collect()
        }
        ManifestSource::Live => {
            let (_, _, _, cmp) = compare_app(g, &a.app.app).await?;
            // Secret values are masked, as Argo CD hides them in managed resources.
            cmp.reconciled
                .resources
                .into_iter()
                .filter_map(|p| {
                    let mut live = serde_json::Value::Object(p.live?);
                    controller::diff::mask_secrets(&p.key, &mut live, &mut serde_json::Value::Null);
                    Some(live)
                })
                .collect()
        }
    };
    let yaml = render::yaml::emit::to_yaml_stream(objects.iter());
    let mut out = std::io::stdout().lock();
    out.write_all(yaml.as_bytes()).context("writing to stdout")?;
    out.flush().context("writing to stdout")?;
    Ok(Verdict::Done)
}
