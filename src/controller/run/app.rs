//! One reconcile of one Application (docs/controller-sync.md §4.1, §7): render
//! and compare, decide the step with [`operation::next`] (a requested operation,
//! a due retry, or auto-sync), run it through the sync engine, compare again
//! after a real sync, and write status ONCE with [`operation::app_patch`].
//! Generic over [`Objects`], so tests drive it against an in-memory API server.

use crate::controller::application::{Application, API_VERSION};
use crate::controller::autosync::{self, SelfHeal, UnixSeconds};
use crate::controller::kube::Objects;
use crate::controller::metrics::Metrics;
use crate::controller::operation::{self, Ended, Facts, Report, Step};
use crate::controller::sync::execute::ExecuteOptions;
use crate::controller::tracking::ResourceKey;
use crate::controller::{self as ctl, Comparison, Options, Result, SyncRequest};
use serde_json::Value;
use std::time::Duration;

/// Settings of the Application reconciler.
#[derive(Clone, Debug)]
pub struct AppSettings {
    /// Compare and sync settings.
    pub options: Options,
    /// Refresh interval (`timeout.reconciliation`).
    pub interval: Duration,
    /// Self-heal pacing.
    pub self_heal: SelfHeal,
    /// How one sync operation runs (timeout, polling).
    pub execute: ExecuteOptions,
    /// URL of the API server the loop is connected to: apps must name it (or the
    /// in-cluster address); an app for another cluster is refused, never deployed here.
    pub cluster_url: String,
}

/// What one reconcile did, for the loop (requeue) and for tests.
#[derive(Clone, Debug, PartialEq)]
pub struct Done {
    /// Requeue after this long.
    pub requeue: Duration,
    /// Phase of the operation that ran, if one did.
    pub ran: Option<String>,
    /// The app's status after this reconcile.
    pub status: Value,
    /// The merge patch written (`None`: nothing changed, nothing written).
    pub patch: Option<Value>,
}

fn key_of(app: &Application) -> ResourceKey {
    ResourceKey {
        group: "argoproj.io".into(),
        kind: "Application".into(),
        namespace: app.metadata.namespace.clone(),
        name: app.metadata.name.clone(),
    }
}

/// Reconciles the Application `raw` (as read from the API server) at `now`.
/// An `Err` is only returned when the status itself cannot be written; compare
/// and sync failures are recorded in the status.
#[tracing::instrument(skip_all, fields(app = %raw.pointer("/metadata/name").and_then(|v| v.as_str()).unwrap_or_default()))]
pub async fn reconcile<S: Objects>(
    store: &S,
    raw: &Value,
    settings: &AppSettings,
    metrics: &Metrics,
    now: fn() -> UnixSeconds,
) -> Result<Done> {
    let started = now();
    let ns = raw.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default();
    let name = raw.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    let file = format!("application {ns}/{name}");
    let mut report = Report { reconciled_at: started, ..Report::default() };
    let app = match Application::from_value(raw.clone(), &file) {
        Ok(mut app) => {
            // A retry syncs the revision of the failed attempt (unless retry.refresh).
            if let (Some(rev), Some(src)) = (operation::pinned_revision(raw), app.spec.source.as_mut()) {
                src.target_revision = rev;
            }
            app
        }
        Err(e) => {
            report.conditions.push(operation::condition("InvalidSpecError", &e.to_string(), started));
            let key = ResourceKey {
                group: "argoproj.io".into(),
                kind: "Application".into(),
                namespace: ns.into(),
                name: name.into(),
            };
            return write(store, &key, raw, &report, settings.interval, None).await;
        }
    };
    if raw.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null()) {
        return delete(store, &app, raw, settings).await;
    }
    if let Err(e) = app.check_destination(&settings.cluster_url) {
        report.conditions.push(operation::condition("InvalidSpecError", &e.to_string(), started));
        return write(store, &key_of(&app), raw, &report, settings.interval, None).await;
    }
    let source = raw.pointer("/spec/source").cloned().unwrap_or(Value::Null);
    let destination = raw.pointer("/spec/destination").cloned().unwrap_or(Value::Null);
    let policy = app.spec.sync_policy.clone().unwrap_or_default();
    let mut requeue = settings.interval;
    let mut ran = None;
    match compare(store, &app, &settings.options).await {
        Err(e) => {
            tracing::warn!(error = %e, "compare failed");
            report.conditions.push(operation::condition("ComparisonError", &e.to_string(), started));
            // A requested operation cannot run without desired state: it ends in
            // Error (retried per its retry strategy) instead of waiting forever.
            let nothing = autosync::SyncPolicy::default();
            let facts = Facts {
                policy: &nothing,
                sync_status: crate::controller::diff::SyncStatus::Unknown,
                resources: &[],
                revision: "",
                source: &source,
                deleting: false,
            };
            match operation::next(raw, &facts, settings.self_heal, started) {
                Step::Run { operation: op, retry_count, requested: true } => {
                    let ended = Ended::Error(format!("ComparisonError: {e}"));
                    let fin = operation::finish(&op, retry_count, &ended, "", &source, started, now());
                    if let Some(after) = fin.retry_after {
                        requeue = requeue.min(after.max(Duration::from_secs(1)));
                    }
                    report.clear_operation = !fin.keep_operation;
                    ran = fin.state["phase"].as_str().map(String::from);
                    if let Some(phase) = &ran {
                        metrics.synced(phase);
                    }
                    report.operation_state = Some(fin.state);
                }
                Step::Wait(d) => requeue = requeue.min(d.max(Duration::from_secs(1))),
                Step::Refuse(message) => {
                    let fin = operation::finish(
                        &operation::Operation::default(),
                        0,
                        &Ended::Error(message),
                        "",
                        &source,
                        started,
                        now(),
                    );
                    report.operation_state = Some(fin.state);
                    report.clear_operation = true;
                }
                _ => {}
            }
        }
        Ok((desired, cmp)) => {
            let resources = operation::resources_of(&cmp);
            let facts = Facts {
                policy: &policy,
                sync_status: cmp.sync_status,
                resources: &resources,
                revision: &cmp.revision,
                source: &source,
                deleting: raw.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null()),
            };
            let step = operation::next(raw, &facts, settings.self_heal, started);
            tracing::debug!(?step, "step");
            let mut cmp = cmp;
            match step {
                Step::Idle { reason, condition } => {
                    tracing::debug!(%reason, "no operation");
                    if let Some(c) = condition {
                        report.conditions.push(operation::condition("SyncError", &c, started));
                    }
                }
                Step::Wait(d) => requeue = requeue.min(d.max(Duration::from_secs(1))),
                Step::Refuse(message) => {
                    let op = operation::Operation::default();
                    let fin = operation::finish(&op, 0, &Ended::Error(message), &cmp.revision, &source, started, now());
                    report.operation_state = Some(fin.state);
                    report.clear_operation = true;
                }
                Step::Run { operation: op, retry_count, requested } => {
                    let spec = op.sync.clone().unwrap_or_default();
                    let request = SyncRequest {
                        prune: spec.prune,
                        sync_options: spec.sync_options.clone(),
                        resources: spec.selectors(),
                        skip_hooks: spec.skip_hooks(),
                        force: spec.force(),
                        execute: ExecuteOptions { dry_run: spec.dry_run, ..settings.execute.clone() },
                    };
                    tracing::info!(revision = %cmp.revision, requested, retry_count, "operation starts");
                    let ended = match ctl::sync(store, &app, &cmp, &request, &mut |_| {}).await {
                        Ok(outcome) => Ended::Ran(outcome),
                        Err(e) => Ended::Error(e.to_string()),
                    };
                    let fin = operation::finish(&op, retry_count, &ended, &cmp.revision, &source, started, now());
                    let phase = fin.state["phase"].as_str().unwrap_or_default().to_string();
                    tracing::info!(%phase, message = %fin.state["message"].as_str().unwrap_or_default(), "operation ended");
                    metrics.synced(&phase);
                    if let Some(after) = fin.retry_after {
                        requeue = requeue.min(after.max(Duration::from_secs(1)));
                    }
                    // Keep a retrying operation; an auto-sync that must retry is stored
                    // as the app's operation so the retry survives a restart.
                    report.clear_operation = requested && !fin.keep_operation;
                    if fin.keep_operation && !requested {
                        report.operation = Some(operation::operation_value(&op));
                    }
                    report.history = operation::history(raw, &op, fin.phase, &cmp.revision, started, now());
                    report.operation_state = Some(fin.state);
                    ran = Some(phase);
                    if !spec.dry_run {
                        match ctl::compare(store, &app, &desired, &settings.options).await {
                            Ok(after) => cmp = after,
                            Err(e) => tracing::warn!(error = %e, "compare after sync failed"),
                        }
                    }
                }
            }
            report.sync = Some(operation::sync_value(&cmp, &source, &destination));
            report.health = Some(operation::health_value(&cmp));
            report.resources = Some(operation::resource_list(&cmp));
        }
    }
    // A refresh request (`argocd.argoproj.io/refresh`) is answered by this reconcile.
    report.remove_annotation = Some(REFRESH_ANNOTATION.into());
    write(store, &key_of(&app), raw, &report, requeue, ran).await
}

/// Writes the reconcile's one patch, if anything changed.
async fn write<S: Objects>(
    store: &S,
    key: &ResourceKey,
    raw: &Value,
    report: &Report,
    requeue: Duration,
    ran: Option<String>,
) -> Result<Done> {
    let (status, patch) = operation::app_patch(raw, report);
    if let Some(p) = &patch {
        store.merge_patch(API_VERSION, key, p).await?;
    }
    Ok(Done { requeue, ran, status, patch })
}

/// Annotation asking for an immediate refresh; removed once answered.
pub const REFRESH_ANNOTATION: &str = "argocd.argoproj.io/refresh";

/// A deleted app with the resources finalizer: delete every object it manages
/// (the prune rules: its own tracking id, no ownerReferences), then drop the
/// finalizer once none is left. Without the finalizer, deletion needs nothing.
async fn delete<S: Objects>(store: &S, app: &Application, raw: &Value, settings: &AppSettings) -> Result<Done> {
    let none = Done { requeue: settings.interval, ran: None, status: Value::Null, patch: None };
    let Some((finalizer, propagation)) = operation::deletion_finalizer(raw) else { return Ok(none) };
    let instance = app.instance_name(&settings.options.controller_namespace);
    let dest_ns = app.spec.destination.namespace.as_str();
    let managed = store.list_tracked(&instance).await?;
    let scoped = |k: &ResourceKey| {
        let av = managed
            .iter()
            .find(|m| &ResourceKey::of(m) == k)
            .and_then(|m| m.get("apiVersion"))
            .and_then(Value::as_str)
            .unwrap_or("v1");
        store.scope(av, &k.kind) == Some(crate::controller::kube::KindScope::Cluster)
    };
    let owned = crate::controller::reconcile::reconcile(
        &instance,
        dest_ns,
        Vec::new(),
        &std::collections::BTreeMap::new(),
        &managed,
        &scoped,
    );
    for pair in &owned.resources {
        let Some(live) = &pair.live else { continue };
        let av = live.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
        tracing::info!(resource = %pair.key, "deleting a resource of the deleted application");
        store.delete(av, &pair.key, propagation, false).await?;
    }
    if !owned.resources.is_empty() {
        // Deletions may take a while (foreground); drop the finalizer once they are gone.
        return Ok(Done { requeue: Duration::from_secs(5), ..none });
    }
    let finalizers: Vec<Value> = raw
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|f| f.iter().filter(|x| x.as_str() != Some(finalizer.as_str())).cloned().collect())
        .unwrap_or_default();
    let patch = serde_json::json!({"metadata": {"finalizers": finalizers}});
    store.merge_patch(API_VERSION, &key_of(app), &patch).await?;
    tracing::info!("resources deleted; finalizer removed");
    Ok(Done { patch: Some(patch), ..none })
}

async fn compare<S: Objects>(store: &S, app: &Application, opts: &Options) -> Result<(ctl::Desired, Comparison)> {
    let desired = ctl::desired(app, opts).await?;
    let cmp = ctl::compare(store, app, &desired, opts).await?;
    Ok((desired, cmp))
}
