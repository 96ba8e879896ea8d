//! The embedded GitOps controller: Argo CD's compare and sync for one Application,
//! driven by `kcmp app diff|sync|wait` (docs/controller-sync.md, controller-health.md,
//! controller-cli.md). Steps, in order:
//!
//! 0. [`application`]: the Application as written (file or cluster).
//! 1. [`source`]: fetch the source (local directory or Git at `targetRevision`) and
//!    render it with the engine (`render::render`, plugin env/params as context).
//! 2. [`reconcile`]: default namespaces, stamp [`tracking`] ids, split hooks, pair
//!    every target with its live object, find prune candidates (§3, §4.1).
//! 3. [`diff`]: normalize both sides and compare with the server's dry-run answer (§6).
//! 4. [`health`]: resource and app health (controller-health.md).
//! 5. [`sync`]: plan the tasks (phases, waves, hooks, prunes; pure) and execute them
//!    through [`kube::Cluster`] (§5).
//!
//! Only [`kube`] talks to the API server and only [`source`] runs processes; every
//! other module is a pure function of the objects it is handed.
//!
//! ApplicationSets: [`appset`] turns generators and templates into desired
//! Applications; [`autosync`] decides when an Application syncs by itself. Both pure.
//!
//! `kcmp controller`: [`run`] is the reconcile loop (kube-rs runtime watches,
//! leader election via [`lease`], [`metrics`]); what one reconcile does is the pure
//! [`operation`] module (step decision, status patch).

pub mod application;
pub mod appset;
pub mod autosync;
pub mod crds;
pub mod diff;
mod error;
pub mod health;
pub mod kube;
pub mod lease;
pub mod listkeys;
pub mod metrics;
pub mod operation;
pub mod reconcile;
pub mod run;
pub mod source;
pub mod sync;
pub mod tracking;

pub use error::{Error, Result};

use application::{Application, SyncOptions};
use diff::{ResourceDiff, SyncStatus};
use health::Health;
use kube::{Cluster, KindScope};
use reconcile::Reconciled;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use sync::execute::{ExecuteOptions, Outcome};
use tracking::ResourceKey;

/// Settings shared by every command.
#[derive(Clone, Debug)]
pub struct Options {
    /// Namespace the controller's Applications live in (tracking ids of apps there
    /// use the bare name).
    pub controller_namespace: String,
    /// Where sources come from.
    pub source: source::SourceOptions,
    /// Engine settings (decryption); the template context is set per app.
    pub render: crate::render::Options,
}

/// Desired state of an app at one revision.
#[derive(Debug)]
pub struct Desired {
    /// The fetched source (kept alive while it is used).
    pub checkout: source::Checkout,
    /// Rendered objects, as the engine emitted them.
    pub objects: Vec<Map<String, Value>>,
}

/// Step 1: fetch and render. A failure here means nothing is compared or applied.
#[tracing::instrument(skip_all, fields(app = %app.metadata.name))]
pub async fn desired(app: &Application, opts: &Options) -> Result<Desired> {
    let checkout = source::fetch(app, &opts.source).await?;
    let objects = source::render(app, &checkout, &opts.render).await?;
    Ok(Desired { checkout, objects })
}

/// The result of comparing an app with the cluster.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// Tracking-id instance name.
    pub instance: String,
    /// Resolved source revision.
    pub revision: String,
    /// Paired objects.
    pub reconciled: Reconciled,
    /// One diff per `reconciled.resources` entry, same order.
    pub diffs: Vec<ResourceDiff>,
    /// Messages of resources that could not be compared (status Unknown), by index.
    pub errors: BTreeMap<usize, String>,
    /// Health per `reconciled.resources` entry (`None` = no health check / missing).
    pub resource_health: Vec<Option<Health>>,
    /// App sync status.
    pub sync_status: SyncStatus,
    /// App health.
    pub health: Health,
}

fn scope_of<C: Cluster>(cluster: &C, obj_api_version: &str, kind: &str) -> bool {
    if let Some(scope) = cluster.scope(obj_api_version, kind) {
        return scope == KindScope::Cluster;
    }
    crate::render::Gvk::from_api_version(obj_api_version, kind).is_cluster_scoped()
}

fn api_version(obj: &Map<String, Value>) -> &str {
    obj.get("apiVersion").and_then(Value::as_str).unwrap_or_default()
}

/// Steps 2-4: pair, diff (server-side apply dry-run for objects that exist), health.
#[tracing::instrument(skip_all, fields(app = %app.metadata.name))]
pub async fn compare<C: Cluster>(
    cluster: &C,
    app: &Application,
    desired: &Desired,
    opts: &Options,
) -> Result<Comparison> {
    let instance = app.instance_name(&opts.controller_namespace);
    let dest_ns = app.spec.destination.namespace.as_str();
    let mut versions: BTreeMap<(String, String), String> = BTreeMap::new();
    for o in &desired.objects {
        let key = ResourceKey::of(o);
        versions.insert((key.group, key.kind), api_version(o).to_string());
    }
    let scoped = |k: &ResourceKey| {
        let av = versions.get(&(k.group.clone(), k.kind.clone())).cloned().unwrap_or_else(|| {
            if k.group.is_empty() {
                "v1".to_string()
            } else {
                format!("{}/v1", k.group)
            }
        });
        scope_of(cluster, &av, &k.kind)
    };
    let targets = reconcile::normalize_targets(desired.objects.clone(), dest_ns, &scoped);
    let mut live_at_targets = BTreeMap::new();
    for t in &targets {
        if cluster.scope(api_version(t), &ResourceKey::of(t).kind).is_none() {
            continue;
        }
        let key = ResourceKey::of(t);
        if let Some(live) = cluster.get(api_version(t), &key).await? {
            live_at_targets.insert(key, live);
        }
    }
    let managed = cluster.list_tracked(&instance).await?;
    let live_scoped = |k: &ResourceKey| {
        managed
            .iter()
            .find(|m| &ResourceKey::of(m) == k)
            .map(|m| scope_of(cluster, api_version(m), &k.kind))
            .unwrap_or_else(|| scoped(k))
    };
    let mut reconciled = reconcile::reconcile(&instance, dest_ns, targets, &live_at_targets, &managed, &live_scoped);
    let rules = &app.spec.ignore_differences;
    let mut diffs = Vec::new();
    let mut errors = BTreeMap::new();
    for (i, pair) in reconciled.resources.iter_mut().enumerate() {
        let predicted = match (&pair.target, &mut pair.live) {
            (Some(t), live @ Some(_)) => match predict(cluster, t, live).await {
                Ok(p) => Some(p),
                Err(e) => {
                    errors.insert(i, e.to_string());
                    None
                }
            },
            _ => None,
        };
        let mut d = diff::compare(&pair.key, pair.target.as_ref(), pair.live.as_ref(), predicted.as_ref(), rules)?;
        if errors.contains_key(&i) {
            d.status = SyncStatus::Unknown;
        }
        diffs.push(d);
    }
    let resource_health: Vec<Option<Health>> =
        reconciled.resources.iter().map(|p| p.live.as_ref().and_then(health::resource_health)).collect();
    let with_live: Vec<(ResourceDiff, Option<&Map<String, Value>>)> =
        diffs.iter().cloned().zip(reconciled.resources.iter().map(|p| p.live.as_ref())).collect();
    let sync_status = diff::app_status(&with_live);
    let app_resources: Vec<health::AppResource<'_>> = reconciled
        .resources
        .iter()
        .map(|p| health::AppResource { key: p.key.clone(), is_target: p.target.is_some(), live: p.live.as_ref() })
        .collect();
    let health = health::app_health(&app_resources);
    Ok(Comparison {
        instance,
        revision: desired.checkout.revision.clone(),
        reconciled,
        diffs,
        errors,
        resource_health,
        sync_status,
        health,
    })
}

fn resource_version(obj: &Map<String, Value>) -> Option<&Value> {
    obj.get("metadata").and_then(|m| m.get("resourceVersion"))
}

/// A server-side dry-run apply of `target`, with `live` re-read until both are of
/// the same resourceVersion. `live` was read before the dry-run, and a controller
/// may have written the object in between (right after a sync the Deployment
/// controller adds its revision annotation): comparing across that write would
/// report a drift that nobody made. A dry-run keeps the stored resourceVersion.
async fn predict<C: Cluster>(
    cluster: &C,
    target: &Map<String, Value>,
    live: &mut Option<Map<String, Value>>,
) -> Result<Map<String, Value>> {
    const ATTEMPTS: usize = 3;
    let mut predicted = cluster.apply(target, kube::ApplyOptions::DRY_RUN).await?;
    for _ in 1..ATTEMPTS {
        let Some(predicted_version) = resource_version(&predicted) else { break };
        if live.as_ref().and_then(resource_version) == Some(predicted_version) {
            break;
        }
        let Some(fresh) = cluster.get(api_version(target), &ResourceKey::of(target)).await? else { break };
        let same = resource_version(&fresh) == Some(predicted_version);
        *live = Some(fresh);
        if !same {
            predicted = cluster.apply(target, kube::ApplyOptions::DRY_RUN).await?;
        }
    }
    Ok(predicted)
}

/// What a sync operation asks for (`kcmp app sync` flags).
#[derive(Clone, Debug, Default)]
pub struct SyncRequest {
    /// Delete resources that left the source.
    pub prune: bool,
    /// Replace the app's sync options for this operation (argocd `--sync-option`).
    pub sync_options: Option<Vec<String>>,
    /// Selective sync (`--resource`): only these resources, no hooks. Empty = full sync.
    pub resources: Vec<sync::plan::Selector>,
    /// Run hooks (`--strategy hook`, the default); `false` = `--strategy apply`.
    pub skip_hooks: bool,
    /// `--force`: recreate objects whose update the server refuses.
    pub force: bool,
    /// Execution settings (dry-run, timeout, polling).
    pub execute: ExecuteOptions,
}

/// Step 5: plan and execute a sync from a fresh comparison. Refuses before any write
/// when a target is tracked by another app or the plan is refused.
#[tracing::instrument(skip_all, fields(app = %app.metadata.name, dry_run = request.execute.dry_run))]
pub async fn sync<C: Cluster>(
    cluster: &C,
    app: &Application,
    comparison: &Comparison,
    request: &SyncRequest,
    progress: &mut dyn FnMut(&sync::execute::Event<'_>),
) -> Result<Outcome> {
    let name = &app.metadata.name;
    if let Some((key, other)) = comparison.reconciled.shared.first() {
        return Err(Error::Plan {
            app: name.clone(),
            message: format!("{key} is tracked by application '{other}'; kcmp never touches another app's objects: remove it from one of the apps"),
        });
    }
    let options = match &request.sync_options {
        Some(list) => SyncOptions::new(list.iter().cloned()),
        None => app.sync_options(),
    };
    let propagation =
        sync::Propagation::from_options(&options).map_err(|message| Error::Plan { app: name.clone(), message })?;
    let started_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let plan_opts = sync::plan::PlanOptions {
        prune: request.prune,
        allow_empty: app.allow_empty(),
        sync_options: options.clone(),
        hooks: !request.skip_hooks && request.resources.is_empty(),
        revision: comparison.revision.clone(),
        started_unix,
        force: request.force,
    };
    tracing::info!(revision = %comparison.revision, status = %comparison.sync_status, "sync starts");
    let mut reconciled = if options.has("ApplyOutOfSyncOnly=true") {
        out_of_sync_only(comparison)
    } else {
        comparison.reconciled.clone()
    };
    if !request.resources.is_empty() {
        reconciled = sync::plan::select(&reconciled, &request.resources);
    }
    if options.has("RespectIgnoreDifferences=true") {
        for pair in &mut reconciled.resources {
            if let (Some(target), Some(live)) = (pair.target.as_mut(), pair.live.as_ref()) {
                diff::respect_ignored(target, live, &pair.key, &app.spec.ignore_differences)?;
            }
        }
    }
    let plan = sync::plan::plan(name, &reconciled, &plan_opts)?;
    let namespace = managed_namespace(cluster, app, &options, comparison).await?;
    let mut exec = request.execute.clone();
    exec.propagation = propagation;
    let outcome = sync::execute::execute(cluster, &plan, namespace.as_ref(), &exec, progress).await;
    tracing::info!(phase = %outcome.phase, message = %outcome.message, "sync finished");
    Ok(outcome)
}

/// `ApplyOutOfSyncOnly=true` (§2): resources that exist live and are unmodified get
/// no task; hooks and prunes are unaffected.
fn out_of_sync_only(comparison: &Comparison) -> Reconciled {
    let mut reconciled = comparison.reconciled.clone();
    reconciled.resources = comparison
        .reconciled
        .resources
        .iter()
        .zip(&comparison.diffs)
        .filter(|(pair, d)| !(pair.target.is_some() && pair.live.is_some() && !d.modified))
        .map(|(pair, _)| pair.clone())
        .collect();
    reconciled
}

/// `CreateNamespace=true` (§2): the destination Namespace to create when it is
/// missing (or to update when `managedNamespaceMetadata` is set), unless the source
/// declares it. It carries no tracking id, so it is never pruned.
async fn managed_namespace<C: Cluster>(
    cluster: &C,
    app: &Application,
    options: &SyncOptions,
    comparison: &Comparison,
) -> Result<Option<Map<String, Value>>> {
    let ns = app.spec.destination.namespace.as_str();
    if !options.has("CreateNamespace=true") || ns.is_empty() {
        return Ok(None);
    }
    let in_source = comparison
        .reconciled
        .resources
        .iter()
        .any(|p| p.target.is_some() && p.key.group.is_empty() && p.key.kind == "Namespace" && p.key.name == ns);
    if in_source {
        return Ok(None);
    }
    let metadata = app.spec.sync_policy.as_ref().and_then(|p| p.managed_namespace_metadata.clone());
    let key = ResourceKey { group: String::new(), kind: "Namespace".into(), namespace: String::new(), name: ns.into() };
    if metadata.is_none() && cluster.get("v1", &key).await?.is_some() {
        return Ok(None);
    }
    let mut meta = Map::new();
    meta.insert("name".into(), Value::String(ns.into()));
    if let Some(m) = metadata {
        if !m.labels.is_empty() {
            meta.insert("labels".into(), serde_json::to_value(m.labels).unwrap_or_default());
        }
        if !m.annotations.is_empty() {
            meta.insert("annotations".into(), serde_json::to_value(m.annotations).unwrap_or_default());
        }
    }
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), Value::String("v1".into()));
    obj.insert("kind".into(), Value::String("Namespace".into()));
    obj.insert("metadata".into(), Value::Object(meta));
    Ok(Some(obj))
}
