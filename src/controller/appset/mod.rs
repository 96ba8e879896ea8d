//! ApplicationSets, the pure part (docs/controller-appset.md): the
//! ApplicationSet model, generators -> parameter sets -> rendered
//! Applications, and the create/update/delete plan against the live
//! Applications. No API calls here; the reconcile loop lists cluster Secrets
//! and Applications, checks out Git repositories, calls [`generate`] and
//! [`plan::plan`], and carries out the plan through `kube.rs`.
//!
//! Steps, in the order of §4 of the doc:
//! 1. [`ApplicationSet::from_value`] reads the resource as written;
//! 2. [`generate`] runs every top-level generator (`generator` dispatches to
//!    `list`, `clusters`, `git`, `matrix`, `merge`) and renders one
//!    Application per parameter set (`render`, templates in `fasttemplate` or
//!    `gotemplate`); any error fails the whole generation;
//! 3. [`plan::plan`] validates the apps and diffs them against the live ones;
//!    a failed generation yields a plan that changes nothing.

pub mod clusters;
pub(crate) mod fasttemplate;
pub mod generator;
pub mod git;
pub(crate) mod glob;
pub mod gotemplate;
pub(crate) mod list;
pub(crate) mod matrix;
pub(crate) mod merge;
pub(crate) mod params;
pub mod plan;
pub(crate) mod render;
pub mod selector;

use serde::Deserialize;
use serde_json::Value;

/// The API group/version of Application and ApplicationSet.
pub const API_VERSION: &str = "argoproj.io/v1alpha1";
/// Finalizer that makes deleting an Application cascade to its resources.
pub const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";
/// Label marking a Secret as an Argo CD cluster.
pub const CLUSTER_SECRET_LABEL: &str = "argocd.argoproj.io/secret-type";
/// The in-cluster API server URL.
pub const IN_CLUSTER_SERVER: &str = "https://kubernetes.default.svc";

/// Errors of ApplicationSet generation; each names the ApplicationSet part
/// (generator path, template field, Git file) and what to fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The resource does not parse as an ApplicationSet.
    #[error("invalid ApplicationSet {name:?}: {message}")]
    Spec {
        /// ApplicationSet name (or "" when unknown).
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A generator failed (bad configuration, missing input, merge conflict).
    #[error("{generator}: {message}")]
    Generator {
        /// Path of the generator, e.g. `spec.generators[1].matrix.generators[0].git`.
        generator: String,
        /// What is wrong.
        message: String,
    },
    /// Rendering one Application from a parameter set failed.
    #[error("rendering {field}: {message}")]
    Template {
        /// Which template field (e.g. `template.metadata.name`, `templatePatch`).
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, Error>;

/// An ApplicationSet as written (`argoproj.io/v1alpha1`).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSet {
    /// Name, namespace and uid (used for ownerReferences).
    pub metadata: Metadata,
    /// The spec.
    pub spec: Spec,
}

/// The metadata fields generation needs.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// ApplicationSet name.
    #[serde(default)]
    pub name: String,
    /// Namespace; generated Applications are forced into it.
    #[serde(default)]
    pub namespace: String,
    /// UID, copied into the generated apps' ownerReference.
    #[serde(default)]
    pub uid: String,
}

/// `spec` of an ApplicationSet (§1).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    /// Go `text/template` instead of fasttemplate.
    #[serde(default)]
    pub go_template: bool,
    /// Options for goTemplate, e.g. `missingkey=error`.
    #[serde(default)]
    pub go_template_options: Vec<String>,
    /// Generator entries, kept as JSON: matrix children are interpolated as
    /// JSON before they are parsed (§2.4).
    #[serde(default)]
    pub generators: Vec<Value>,
    /// The Application template `{metadata, spec}`.
    #[serde(default)]
    pub template: Value,
    /// Templated YAML merged onto each rendered Application (§3.3).
    #[serde(default)]
    pub template_patch: Option<String>,
    /// Deletion and create/update/delete policy.
    #[serde(default)]
    pub sync_policy: Option<SyncPolicy>,
    /// Live labels/annotations that survive updates.
    #[serde(default)]
    pub preserved_fields: Option<PreservedFields>,
    /// Fields of generated apps the ApplicationSet does not overwrite.
    #[serde(default)]
    pub ignore_application_differences: Vec<IgnoreDifference>,
    /// Progressive sync strategy; only `AllAtOnce` (the default) is supported.
    #[serde(default)]
    pub strategy: Option<Value>,
}

/// `spec.syncPolicy`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncPolicy {
    /// No resources finalizer on generated apps: deleting them keeps workloads.
    #[serde(default)]
    pub preserve_resources_on_deletion: bool,
    /// Which of create/update/delete the ApplicationSet may do.
    #[serde(default)]
    pub applications_sync: Option<Policy>,
}

/// `applicationsSync` / the controller's `--policy` (§4 step 4).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub enum Policy {
    /// Only create missing apps.
    #[serde(rename = "create-only")]
    CreateOnly,
    /// Create and update, never delete.
    #[serde(rename = "create-update")]
    CreateUpdate,
    /// Create and delete, never update.
    #[serde(rename = "create-delete")]
    CreateDelete,
    /// Create, update and delete (default).
    #[serde(rename = "sync")]
    Sync,
}

impl Policy {
    /// Whether existing apps are updated.
    pub fn allows_update(self) -> bool {
        matches!(self, Policy::Sync | Policy::CreateUpdate)
    }

    /// Whether apps no longer generated are deleted.
    pub fn allows_delete(self) -> bool {
        matches!(self, Policy::Sync | Policy::CreateDelete)
    }
}

/// `spec.preservedFields`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreservedFields {
    /// Annotation keys kept from the live app.
    #[serde(default)]
    pub annotations: Vec<String>,
    /// Label keys kept from the live app.
    #[serde(default)]
    pub labels: Vec<String>,
}

/// One `spec.ignoreApplicationDifferences` entry.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IgnoreDifference {
    /// Application name the rule applies to (all when empty).
    #[serde(default)]
    pub name: String,
    /// RFC 6901 pointers into the Application (e.g. `/spec/syncPolicy`).
    #[serde(default)]
    pub json_pointers: Vec<String>,
    /// jq paths; not supported by kcmp (refused when present).
    #[serde(default)]
    pub jq_path_expressions: Vec<String>,
}

impl ApplicationSet {
    /// Reads an ApplicationSet from its JSON form and refuses what kcmp cannot
    /// honour (RollingSync, jq ignore paths) instead of silently ignoring it.
    pub fn from_value(value: &Value) -> Result<ApplicationSet> {
        let name = value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
        let spec_err = |message: String| Error::Spec { name: name.clone(), message };
        let kind = value.get("kind").and_then(Value::as_str).unwrap_or_default();
        if kind != "ApplicationSet" {
            return Err(spec_err(format!("kind is {kind:?}, expected \"ApplicationSet\"")));
        }
        let appset: ApplicationSet = serde_json::from_value(value.clone()).map_err(|e| spec_err(e.to_string()))?;
        if appset.metadata.name.is_empty() {
            return Err(spec_err("metadata.name is empty".into()));
        }
        if appset.spec.generators.is_empty() {
            return Err(spec_err("spec.generators is empty; add at least one generator".into()));
        }
        if !appset.spec.template.is_object() && !appset.spec.template.is_null() {
            return Err(spec_err("spec.template must be an object with metadata and spec".into()));
        }
        if let Some(kind) = appset.spec.strategy.as_ref().and_then(|s| s.get("type")).and_then(Value::as_str) {
            if kind != "AllAtOnce" {
                return Err(spec_err(format!(
                    "spec.strategy.type {kind:?} (progressive sync) is not supported by kcmp; remove it or use AllAtOnce"
                )));
            }
        }
        if appset.spec.ignore_application_differences.iter().any(|r| !r.jq_path_expressions.is_empty()) {
            return Err(spec_err(
                "spec.ignoreApplicationDifferences[].jqPathExpressions are not supported by kcmp; use jsonPointers"
                    .into(),
            ));
        }
        if !appset.spec.go_template && !appset.spec.go_template_options.is_empty() {
            return Err(spec_err("spec.goTemplateOptions is set but spec.goTemplate is false".into()));
        }
        Ok(appset)
    }

    /// Whether generated apps keep their resources when deleted.
    pub fn preserve_resources_on_deletion(&self) -> bool {
        self.spec.sync_policy.as_ref().is_some_and(|p| p.preserve_resources_on_deletion)
    }
}

/// Everything generation reads besides the ApplicationSet itself.
pub struct Inputs<'a> {
    /// Secrets of the Argo CD namespace as JSON objects (all of them or only
    /// the cluster ones; the clusters generator filters by label).
    pub cluster_secrets: &'a [Value],
    /// Checked-out Git repositories for the git generator.
    pub repos: &'a dyn git::Repos,
    /// Controller-level switches.
    pub options: Options,
}

/// Controller-level generation switches.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// `cluster.inClusterEnabled` of argocd-cm (default true): whether the
    /// clusters generator may add the synthetic in-cluster entry.
    pub in_cluster_enabled: bool,
    /// How git files patterns treat `*` (§2.3).
    pub file_globbing: git::Globbing,
}

impl Default for Options {
    fn default() -> Self {
        Options { in_cluster_enabled: true, file_globbing: git::Globbing::Greedy }
    }
}

/// Runs all generators and renders one Application per parameter set,
/// sorted by name (§4 steps 2 and 4). Any generator or render error fails
/// the whole call, so a caller can never act on a partial set.
///
/// ```
/// use kcmp::controller::appset::{self, git::RepoSet, plan, ApplicationSet, Inputs, Options};
/// use serde_json::json;
///
/// let set = ApplicationSet::from_value(&json!({
///     "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
///     "metadata": {"name": "guestbook", "namespace": "argocd"},
///     "spec": {
///         "generators": [{"list": {"elements": [{"env": "dev"}, {"env": "prod"}]}}],
///         "template": {"metadata": {"name": "guestbook-{{env}}"},
///                      "spec": {"project": "default",
///                               "destination": {"server": "https://kubernetes.default.svc", "namespace": "{{env}}"}}}
///     }
/// }))?;
/// let repos = RepoSet::new();
/// let generated = appset::generate(&set, &Inputs { cluster_secrets: &[], repos: &repos, options: Options::default() });
/// let names: Vec<&str> = generated.as_ref().map(|apps| apps.iter().map(|a| appset::app_name(a)).collect()).unwrap_or_default();
/// assert_eq!(names, ["guestbook-dev", "guestbook-prod"]);
///
/// let clusters = appset::clusters::known_clusters(&[], Options::default()).map_err(|m| appset::Error::Spec { name: "guestbook".into(), message: m })?;
/// let settings = plan::Settings::default();
/// let live: Vec<serde_json::Value> = Vec::new();
/// let plan = plan::plan(&plan::Input { appset: &set, generated: &generated, live: &live, clusters: &clusters, projects: None, settings: &settings });
/// assert_eq!(plan.create.len(), 2);
/// # Ok::<(), appset::Error>(())
/// ```
pub fn generate(appset: &ApplicationSet, inputs: &Inputs) -> Result<Vec<Value>> {
    let engine = render::Engine::new(appset)?;
    let ctx = generator::Ctx { appset, inputs, engine: &engine };
    let mut apps = Vec::new();
    for (i, entry) in appset.spec.generators.iter().enumerate() {
        let path = format!("spec.generators[{i}]");
        for set in generator::run(&ctx, entry, &path, 0, None)? {
            apps.push(render::application(appset, &engine, &set)?);
        }
    }
    apps.sort_by(|a, b| app_name(a).cmp(app_name(b)));
    Ok(apps)
}

/// `metadata.name` of an Application value ("" when absent).
pub fn app_name(app: &Value) -> &str {
    app.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default()
}
