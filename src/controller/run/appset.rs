//! One reconcile of one ApplicationSet (docs/controller-appset.md §4): list the
//! cluster Secrets and the live Applications, check out the Git repositories
//! the git generators read (through `source`), call [`appset::generate`] and
//! [`plan::plan`], carry out creates/updates/deletes, and write the status
//! conditions. A generator or checkout error yields a plan that changes
//! nothing, so a broken generator never deletes an Application.

use crate::controller::application::Application;
use crate::controller::appset::{self, git, plan, ApplicationSet, CLUSTER_SECRET_LABEL};
use crate::controller::kube::{ApplyOptions, Objects};
use crate::controller::source::{self, SourceOptions};
use crate::controller::sync::plan::ApplyMode;
use crate::controller::sync::Propagation;
use crate::controller::tracking::ResourceKey;
use crate::controller::Result;
use serde_json::{json, Map, Value};

/// Settings of the ApplicationSet reconciler.
#[derive(Clone, Debug, Default)]
pub struct AppSetSettings {
    /// Plan settings (`--policy`, preserved fields).
    pub plan: plan::Settings,
    /// Generation switches.
    pub generate: appset::Options,
    /// How git generator repositories are checked out.
    pub source: SourceOptions,
}

/// What one reconcile did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Done {
    /// Applications created.
    pub created: Vec<String>,
    /// Applications patched.
    pub updated: Vec<String>,
    /// Applications deleted.
    pub deleted: Vec<String>,
    /// The generation error, if generation failed (nothing was deleted).
    pub error: Option<String>,
    /// Status conditions written.
    pub conditions: Vec<Value>,
    /// `status.resources` written.
    pub resources: Vec<Value>,
}

fn app_key(ns: &str, name: &str) -> ResourceKey {
    ResourceKey { group: "argoproj.io".into(), kind: "Application".into(), namespace: ns.into(), name: name.into() }
}

fn values(list: Vec<Map<String, Value>>) -> Vec<Value> {
    list.into_iter().map(Value::Object).collect()
}

/// Checks out every (repoURL, revision) the generators read; the checkouts
/// are returned so their temporary clones live as long as generation.
async fn checkouts(
    raw: &Value,
    set: &ApplicationSet,
    opts: &SourceOptions,
) -> Result<Vec<(String, String, source::Checkout)>> {
    let generators = raw.pointer("/spec/generators").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut out = Vec::new();
    for (url, revision) in git::repositories(&generators) {
        let app = Application::from_value(
            json!({"apiVersion": appset::API_VERSION, "kind": "Application",
                   "metadata": {"name": set.metadata.name, "namespace": set.metadata.namespace},
                   "spec": {"project": "default", "destination": {"server": appset::IN_CLUSTER_SERVER},
                            "source": {"repoURL": url, "targetRevision": revision, "path": "."}}}),
            &format!("applicationset {}", set.metadata.name),
        )?;
        let checkout = source::fetch(&app, opts).await?;
        out.push((url, revision, checkout));
    }
    Ok(out)
}

/// Set (to `"true"`) by Argo CD's webhook handler or by hand to ask for a
/// regeneration now. Every reconcile already reads fresh checkouts, so the
/// change event is the refresh; the annotation is removed once generation
/// succeeded, as Argo CD does, and stays for the retry when it failed.
pub const REFRESH_ANNOTATION: &str = "argocd.argoproj.io/application-set-refresh";

/// Reconciles the ApplicationSet `raw`. `Err` only when the API server fails;
/// generation errors are recorded in the status and change nothing.
#[tracing::instrument(skip_all, fields(appset = %raw.pointer("/metadata/name").and_then(|v| v.as_str()).unwrap_or_default()))]
pub async fn reconcile<S: Objects>(store: &S, raw: &Value, settings: &AppSetSettings) -> Result<Done> {
    let ns = raw.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default().to_string();
    let name = raw.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
    let key = ResourceKey {
        group: "argoproj.io".into(),
        kind: "ApplicationSet".into(),
        namespace: ns.clone(),
        name: name.clone(),
    };
    let mut done = Done::default();
    let set = match ApplicationSet::from_value(raw) {
        Ok(set) => set,
        Err(e) => {
            let p = plan::Plan { error: Some(e), ..Default::default() };
            return write_status(store, raw, &key, p, done).await;
        }
    };
    let live = values(store.list(appset::API_VERSION, "Application", &ns, "").await?);
    if raw.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null()) {
        return deleting(store, raw, &set, &live, settings, &key).await.map(|()| done);
    }
    let secrets = values(store.list("v1", "Secret", &ns, &format!("{CLUSTER_SECRET_LABEL}=cluster")).await?);
    let generated = match checkouts(raw, &set, &settings.source).await {
        Ok(repos) => {
            let mut set_of_repos = git::RepoSet::new();
            for (url, revision, checkout) in &repos {
                set_of_repos.insert(url, Some(revision), Box::new(git::LocalDir::new(checkout.dir.clone())));
            }
            let inputs = appset::Inputs { cluster_secrets: &secrets, repos: &set_of_repos, options: settings.generate };
            appset::generate(&set, &inputs)
        }
        Err(e) => {
            Err(appset::Error::Generator { generator: "spec.generators (git checkout)".into(), message: e.to_string() })
        }
    };
    let clusters = match appset::clusters::known_clusters(&secrets, settings.generate) {
        Ok(c) => c,
        Err(message) => {
            let p =
                plan::Plan { error: Some(appset::Error::Spec { name: name.clone(), message }), ..Default::default() };
            return write_status(store, raw, &key, p, done).await;
        }
    };
    let p = plan::plan(&plan::Input {
        appset: &set,
        generated: &generated,
        live: &live,
        clusters: &clusters,
        projects: None,
        settings: &settings.plan,
    });
    if let Some(e) = &p.error {
        tracing::warn!(error = %e, "generation failed; no application is created, updated or deleted");
    } else if raw.pointer("/metadata/annotations").and_then(|a| a.get(REFRESH_ANNOTATION)).is_some() {
        let patch = json!({"metadata": {"annotations": {REFRESH_ANNOTATION: null}}});
        store.merge_patch(appset::API_VERSION, &key, &patch).await?;
    }
    let write = ApplyOptions { mode: ApplyMode::Apply, dry_run: false, validate: false };
    for app in &p.create {
        if let Value::Object(obj) = app {
            store.apply(obj, write).await?;
            done.created.push(appset::app_name(app).to_string());
        }
    }
    for u in &p.update {
        store.merge_patch(appset::API_VERSION, &app_key(&ns, &u.name), &u.patch).await?;
        done.updated.push(u.name.clone());
    }
    for d in &p.delete {
        let k = app_key(&ns, &d.name);
        if d.strip_resources_finalizer {
            let finalizers: Vec<Value> = live
                .iter()
                .find(|a| appset::app_name(a) == d.name)
                .and_then(|a| a.pointer("/metadata/finalizers"))
                .and_then(Value::as_array)
                .map(|f| f.iter().filter(|x| x.as_str() != Some(appset::RESOURCES_FINALIZER)).cloned().collect())
                .unwrap_or_default();
            store.merge_patch(appset::API_VERSION, &k, &json!({"metadata": {"finalizers": finalizers}})).await?;
        }
        store.delete(appset::API_VERSION, &k, Propagation::Foreground, false).await?;
        done.deleted.push(d.name.clone());
    }
    tracing::info!(
        created = done.created.len(),
        updated = done.updated.len(),
        deleted = done.deleted.len(),
        "applicationset reconciled"
    );
    let generated_names: Vec<String> = generated
        .as_ref()
        .map(|apps| apps.iter().map(|a| appset::app_name(a).to_string()).collect())
        .unwrap_or_default();
    let now_live = if done.created.is_empty() && done.updated.is_empty() && done.deleted.is_empty() {
        live
    } else {
        values(store.list(appset::API_VERSION, "Application", &ns, "").await?)
    };
    done.resources = resources(&generated_names, &now_live);
    write_status(store, raw, &key, p, done).await
}

/// `status.resources`: the generated Applications with their sync and health
/// status as they stand (an app not created yet is left out).
pub fn resources(names: &[String], live: &[Value]) -> Vec<Value> {
    names
        .iter()
        .filter_map(|name| {
            let app = live.iter().find(|a| appset::app_name(a) == name)?;
            let mut entry = json!({"group": "argoproj.io", "version": "v1alpha1", "kind": "Application",
                                   "namespace": app.pointer("/metadata/namespace").cloned().unwrap_or(Value::Null),
                                   "name": name});
            if let Some(s) = app.pointer("/status/sync/status") {
                entry["status"] = s.clone();
            }
            if let Some(h) = app.pointer("/status/health") {
                entry["health"] = h.clone();
            }
            Some(entry)
        })
        .collect()
}

/// §4 step 1: the set is being deleted. When its policy forbids deleting apps,
/// they lose their ownerReference first (garbage collection would delete them);
/// then the set's resources finalizer is removed so the deletion completes.
async fn deleting<S: Objects>(
    store: &S,
    raw: &Value,
    set: &ApplicationSet,
    live: &[Value],
    settings: &AppSetSettings,
    key: &ResourceKey,
) -> Result<()> {
    for (name, refs) in plan::orphan_on_delete(set, live, &settings.plan) {
        tracing::info!(app = %name, "keeping the application: the policy forbids deleting it");
        let k = app_key(&key.namespace, &name);
        store.merge_patch(appset::API_VERSION, &k, &json!({"metadata": {"ownerReferences": refs}})).await?;
    }
    let finalizers = raw.pointer("/metadata/finalizers").and_then(Value::as_array).cloned().unwrap_or_default();
    let kept: Vec<Value> = finalizers
        .iter()
        .filter(|f| !f.as_str().is_some_and(|f| f.starts_with(appset::RESOURCES_FINALIZER)))
        .cloned()
        .collect();
    if kept.len() != finalizers.len() {
        store.merge_patch(appset::API_VERSION, key, &json!({"metadata": {"finalizers": kept}})).await?;
    }
    Ok(())
}

async fn write_status<S: Objects>(
    store: &S,
    live_status: &Value,
    key: &ResourceKey,
    p: plan::Plan,
    mut done: Done,
) -> Result<Done> {
    done.error = p.error.as_ref().map(ToString::to_string);
    done.conditions = p.conditions().iter().map(plan::Condition::to_value).collect();
    // A failed generation keeps the last known list instead of emptying it.
    let resources = if done.error.is_some() {
        live_status.pointer("/status/resources").cloned().unwrap_or_else(|| json!([]))
    } else {
        Value::Array(done.resources.clone())
    };
    let patch = json!({"status": {"conditions": done.conditions, "resources": resources}});
    if live_status.pointer("/status/conditions") == patch.pointer("/status/conditions")
        && live_status.pointer("/status/resources").unwrap_or(&json!([])) == &patch["status"]["resources"]
    {
        return Ok(done);
    }
    store.merge_patch(appset::API_VERSION, key, &patch).await?;
    Ok(done)
}
