//! `kcmp controller`: the reconcile loop (docs/controller-sync.md §4.2, §7;
//! controller-appset.md §4). Thin wiring only: kube-rs's runtime `Controller`
//! watches Applications and ApplicationSets in one namespace and requeues on
//! an interval and on change; each reconcile is [`app::reconcile`] or
//! [`appset::reconcile`]; a Lease ([`crate::controller::lease`]) keeps a second
//! replica idle; `/metrics` is served by a tiny TCP handler.
//!
//! Steps of [`run`], in order: metrics server -> leader election (wait, then
//! renew in the background; losing the lease stops the loop) -> both
//! controllers until SIGTERM/Ctrl-C.

pub mod app;
pub mod appset;

use crate::controller::application::API_VERSION;
use crate::controller::kube::KubeCluster;
use crate::controller::metrics::Metrics;
use crate::controller::{Error, Result};
use futures::StreamExt;
use kube::api::DynamicObject;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Leader-election settings.
#[derive(Clone, Debug)]
pub struct LeaseSettings {
    /// Lease name (in the controller namespace).
    pub name: String,
    /// This replica's identity (pod name).
    pub identity: String,
    /// `leaseDurationSeconds`; renewed every third of it.
    pub duration: Duration,
}

/// Everything `kcmp controller` was asked to do.
#[derive(Clone, Debug)]
pub struct LoopSettings {
    /// Namespace whose Applications and ApplicationSets are reconciled.
    pub namespace: String,
    /// Application reconciler settings.
    pub app: app::AppSettings,
    /// ApplicationSet reconciler settings.
    pub appset: appset::AppSetSettings,
    /// Where `/metrics` listens (`None` = no server).
    pub metrics_addr: Option<SocketAddr>,
    /// Leader election (`None` = act alone).
    pub lease: Option<LeaseSettings>,
}

struct Ctx {
    cluster: KubeCluster,
    settings: LoopSettings,
    metrics: Arc<Metrics>,
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// The watched object as JSON. Items of a list answer carry no apiVersion/kind
/// (the API server leaves them out), so they are filled in from the watched type.
fn to_value(obj: &DynamicObject, kind: &str) -> Result<Value> {
    let mut v = serde_json::to_value(obj).map_err(|e| Error::Api {
        what: "decoding a watched object".into(),
        message: e.to_string(),
        code: 0,
    })?;
    if let Some(m) = v.as_object_mut() {
        m.entry("apiVersion").or_insert_with(|| Value::String(API_VERSION.into()));
        m.entry("kind").or_insert_with(|| Value::String(kind.into()));
    }
    Ok(v)
}

async fn reconcile_app(obj: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action> {
    let start = Instant::now();
    let raw = to_value(&obj, "Application")?;
    // The sync engine's progress callback makes its future !Send; it runs on a
    // blocking-pool thread driven by this runtime instead of a worker thread.
    let handle = tokio::runtime::Handle::current();
    let c = ctx.clone();
    let result = tokio::task::spawn_blocking(move || {
        handle.block_on(app::reconcile(&c.cluster, &raw, &c.settings.app, &c.metrics, unix_now))
    })
    .await
    .map_err(|e| Error::Config { message: format!("reconcile task failed: {e}") })?;
    ctx.metrics.reconciled("Application", result.is_ok(), start.elapsed());
    Ok(Action::requeue(result?.requeue))
}

async fn reconcile_appset(obj: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action> {
    let start = Instant::now();
    let raw = to_value(&obj, "ApplicationSet")?;
    let result = appset::reconcile(&ctx.cluster, &raw, &ctx.settings.appset).await;
    ctx.metrics.reconciled("ApplicationSet", result.as_ref().is_ok_and(|d| d.error.is_none()), start.elapsed());
    result?;
    Ok(Action::requeue(ctx.settings.app.interval))
}

fn error_policy(_obj: Arc<DynamicObject>, error: &Error, _ctx: Arc<Ctx>) -> Action {
    tracing::warn!(%error, "reconcile failed; retrying in 10s");
    Action::requeue(Duration::from_secs(10))
}

/// Waits until this replica holds the lease.
async fn acquire(cluster: &KubeCluster, ns: &str, lease: &LeaseSettings) -> Result<()> {
    loop {
        match cluster.claim_lease(ns, &lease.name, &lease.identity, lease.duration, unix_now()).await? {
            None => {
                tracing::info!(lease = %lease.name, identity = %lease.identity, "leader lease acquired");
                return Ok(());
            }
            Some(wait) => {
                tracing::info!(lease = %lease.name, wait_s = wait.as_secs(), "another replica leads; waiting");
                tokio::time::sleep(wait.min(lease.duration)).await;
            }
        }
    }
}

/// Renews the lease every third of its duration; returns when it is lost.
async fn keep(ctx: Arc<Ctx>, lease: LeaseSettings) -> Error {
    let ns = ctx.settings.namespace.clone();
    loop {
        tokio::time::sleep(lease.duration / 3).await;
        match ctx.cluster.claim_lease(&ns, &lease.name, &lease.identity, lease.duration, unix_now()).await {
            Ok(None) => {}
            Ok(Some(_)) => {
                return Error::Config {
                    message: format!("lost leader lease {ns}/{}: another replica took it", lease.name),
                }
            }
            Err(e) => tracing::warn!(error = %e, "lease renewal failed"),
        }
    }
}

/// Serves the metrics text on every HTTP request (any path answers `/metrics`).
async fn serve_metrics(listener: tokio::net::TcpListener, metrics: Arc<Metrics>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        let Ok((mut stream, _)) = listener.accept().await else { continue };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            let _ = stream.read(&mut buf).await;
            let body = metrics.encode();
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body.as_bytes()).await;
        });
    }
}

/// Runs the controller until SIGTERM/Ctrl-C or the loss of the lease.
pub async fn run(cluster: KubeCluster, settings: LoopSettings) -> Result<()> {
    run_until(cluster, settings, futures::future::pending()).await
}

/// Like [`run`], also stopping (gracefully: running reconciles finish) when
/// `stop` completes; tests and embedders use it.
pub async fn run_until(
    cluster: KubeCluster,
    settings: LoopSettings,
    stop: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> Result<()> {
    let stop = futures::FutureExt::shared(
        Box::pin(stop) as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + Sync>>
    );
    let metrics = Arc::new(Metrics::new());
    if let Some(addr) = settings.metrics_addr {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Error::Config { message: format!("metrics address {addr}: {e}") })?;
        tracing::info!(%addr, "serving /metrics");
        tokio::spawn(serve_metrics(listener, metrics.clone()));
    }
    let ns = settings.namespace.clone();
    if let Some(lease) = &settings.lease {
        tokio::select! {
            r = acquire(&cluster, &ns, lease) => r?,
            _ = stop.clone() => return Ok(()),
        }
    }
    let (apps_api, apps_ar) = cluster.watch_api(API_VERSION, "Application", &ns)?;
    let appsets = cluster.watch_api(API_VERSION, "ApplicationSet", &ns).ok();
    let secrets = cluster.watch_api("v1", "Secret", &ns).ok();
    let lease = settings.lease.clone();
    let ctx = Arc::new(Ctx { cluster, settings, metrics });
    let apps = Controller::new_with(apps_api, watcher::Config::default(), apps_ar)
        .shutdown_on_signal()
        .graceful_shutdown_on(stop.clone())
        .run(reconcile_app, error_policy, ctx.clone())
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "application controller event");
            }
        });
    let sets = async {
        let Some((api, ar)) = appsets else {
            tracing::warn!(
                "the server has no ApplicationSet kind; install it with `kcmp controller crds | kubectl apply -f -`"
            );
            return;
        };
        let ctrl = Controller::new_with(api, watcher::Config::default(), ar.clone());
        // A cluster Secret added, relabelled or removed re-runs every ApplicationSet
        // at once ("enable an addon per cluster by label"), not at the next interval.
        let ctrl = match secrets {
            Some((secrets_api, secrets_ar)) => {
                let store = ctrl.store();
                let selector = format!("{}=cluster", crate::controller::appset::CLUSTER_SECRET_LABEL);
                ctrl.watches_with(secrets_api, secrets_ar, watcher::Config::default().labels(&selector), move |_| {
                    store.state().iter().map(|s| ObjectRef::from_obj_with(s.as_ref(), ar.clone())).collect::<Vec<_>>()
                })
            }
            None => ctrl,
        };
        ctrl.shutdown_on_signal()
            .graceful_shutdown_on(stop.clone())
            .run(reconcile_appset, error_policy, ctx.clone())
            .for_each(|r| async move {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "applicationset controller event");
                }
            })
            .await
    };
    tracing::info!(namespace = %ns, "controller running");
    match lease {
        Some(lease) => tokio::select! {
            _ = futures::future::join(apps, sets) => Ok(()),
            e = keep(ctx.clone(), lease) => Err(e),
        },
        None => {
            futures::future::join(apps, sets).await;
            Ok(())
        }
    }
}
