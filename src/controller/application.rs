//! The Argo CD `argoproj.io/v1alpha1` Application, as written: serde types for the
//! fields the embedded controller acts on (docs/controller-sync.md §1), plus the
//! sync-option lookups of §2. Read from a YAML file or from the cluster (`kube.rs`);
//! everything else in the controller takes these types as plain data.
//!
//! Unknown fields are kept out of the model on purpose (`helm`, `kustomize` and
//! `directory` stay raw JSON): the engine renders kustomizations and plain
//! directories, and the other source types are refused where they are used.

use crate::controller::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// API group/version of Applications.
pub const API_VERSION: &str = "argoproj.io/v1alpha1";
/// Kind of an Application.
pub const KIND: &str = "Application";
/// Argo CD's name for the cluster it runs in.
pub const IN_CLUSTER_SERVER: &str = "https://kubernetes.default.svc";

/// One Application: metadata, spec and (when read from a cluster) its raw status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    /// Always `argoproj.io/v1alpha1`.
    #[serde(default)]
    pub api_version: String,
    /// Always `Application`.
    #[serde(default)]
    pub kind: String,
    /// Name, namespace, labels, annotations.
    #[serde(default)]
    pub metadata: AppMetadata,
    /// What to deploy where, and how.
    #[serde(default)]
    pub spec: ApplicationSpec,
    /// Status as stored by Argo CD (kept raw; `kcmp app get` shows parts of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
}

/// The metadata fields the controller reads.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppMetadata {
    /// Application name: part of every tracking id.
    #[serde(default)]
    pub name: String,
    /// Namespace the Application lives in (empty = the controller namespace).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations (`argocd.argoproj.io/compare-options`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// `spec` (docs/controller-sync.md §1).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSpec {
    /// AppProject name; empty means `default`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub project: String,
    /// The single source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ApplicationSource>,
    /// Multi-source list; when non-empty it wins over `source`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<ApplicationSource>,
    /// Target cluster and default namespace.
    #[serde(default)]
    pub destination: Destination,
    /// Automation, sync options, retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_policy: Option<SyncPolicy>,
    /// Fields excluded from the diff.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_differences: Vec<IgnoreDifferences>,
    /// History entries kept (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i64>,
}

/// One source (`spec.source` or an entry of `spec.sources`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSource {
    /// Git repository URL (or a local directory, see `controller::source`).
    #[serde(default, rename = "repoURL")]
    pub repo_url: String,
    /// Directory inside the repository.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// Branch, tag or commit; empty = `HEAD`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target_revision: String,
    /// Helm chart name (not rendered by kcmp).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub chart: String,
    /// Reference name for multi-source apps.
    #[serde(default, rename = "ref", skip_serializing_if = "String::is_empty")]
    pub ref_name: String,
    /// Display name of the source.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Config-management plugin settings: env and parameters reach the templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<PluginSource>,
    /// Argo CD kustomize overrides (kept raw; refused if set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kustomize: Option<Value>,
    /// Helm options (kept raw; refused if set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm: Option<Value>,
    /// Plain-directory options (`recurse` is honoured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<Value>,
}

/// `source.plugin`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginSource {
    /// Plugin name (informational for kcmp: the engine is the plugin).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// `ARGOCD_ENV_<name>` values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvEntry>,
    /// Typed parameters (`ARGOCD_APP_PARAMETERS`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<Parameter>,
}

/// One plugin env entry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EnvEntry {
    /// Name without the `ARGOCD_ENV_` prefix.
    pub name: String,
    /// Value.
    #[serde(default)]
    pub value: String,
}

/// One plugin parameter: exactly one of `string`, `map`, `array` is meant to be set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Parameter {
    /// Parameter name.
    pub name: String,
    /// String value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string: Option<String>,
    /// Map value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map: Option<BTreeMap<String, String>>,
    /// List value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array: Option<Vec<String>>,
}

/// `spec.destination`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Destination {
    /// API server URL (`https://kubernetes.default.svc` = in-cluster).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub server: String,
    /// Cluster name (`in-cluster`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Default namespace for namespaced objects without one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

/// `spec.syncPolicy`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncPolicy {
    /// Auto-sync settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automated: Option<Automated>,
    /// `Key=value` options, compared literally.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_options: Vec<String>,
    /// Retry of failed operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryStrategy>,
    /// Labels/annotations for a namespace created by `CreateNamespace=true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_namespace_metadata: Option<ManagedNamespaceMetadata>,
}

/// `syncPolicy.automated`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Automated {
    /// `false` keeps the block but turns auto-sync off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Auto-sync may delete what left the source.
    #[serde(default)]
    pub prune: bool,
    /// Re-sync on live drift.
    #[serde(default)]
    pub self_heal: bool,
    /// Permit a sync that prunes every resource.
    #[serde(default)]
    pub allow_empty: bool,
}

/// `syncPolicy.retry`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RetryStrategy {
    /// Retries after the first failure; -1 = unlimited.
    #[serde(default)]
    pub limit: i64,
    /// Re-resolve the revision before retrying.
    #[serde(default)]
    pub refresh: bool,
    /// Wait between attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
}

/// `retry.backoff`; durations as written (`5s`, `3m`, or bare seconds).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Backoff {
    /// Initial wait (default 5s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// Growth factor (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<i64>,
    /// Upper bound (default 3m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<String>,
}

/// `syncPolicy.managedNamespaceMetadata`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ManagedNamespaceMetadata {
    /// Labels for the created namespace.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations for the created namespace.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// One `spec.ignoreDifferences` rule (docs/controller-sync.md §1.6, §6.1).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IgnoreDifferences {
    /// API group glob (empty = core).
    #[serde(default)]
    pub group: String,
    /// Kind glob.
    #[serde(default)]
    pub kind: String,
    /// Exact name; empty = all.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Exact namespace; empty = all.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// RFC 6901 pointers removed from both sides.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub json_pointers: Vec<String>,
    /// jq paths removed from both sides (simple paths only, see `diff`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jq_path_expressions: Vec<String>,
    /// Fields owned by these managers are ignored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_fields_managers: Vec<String>,
}

impl Application {
    /// Reads one Application from YAML (or JSON) text; `file` names the input in errors.
    pub fn from_yaml(text: &str, file: &str) -> Result<Application> {
        let docs = crate::render::yaml::parse::parse_stream(text)
            .map_err(|e| Error::Application { file: file.to_string(), message: e.to_string() })?;
        let mut apps = docs.into_iter().filter(|d| !d.value.is_null());
        let doc = apps.next().ok_or_else(|| Error::Application {
            file: file.to_string(),
            message: "no Application document found".into(),
        })?;
        if apps.next().is_some() {
            return Err(Error::Application {
                file: file.to_string(),
                message: "expected exactly one Application document, found several".into(),
            });
        }
        Application::from_value(doc.value, file)
    }

    /// Reads one Application from a JSON value (a YAML document or an API response).
    pub fn from_value(value: Value, file: &str) -> Result<Application> {
        let app: Application = serde_json::from_value(value)
            .map_err(|e| Error::Application { file: file.to_string(), message: e.to_string() })?;
        app.validate(file)?;
        Ok(app)
    }

    fn validate(&self, file: &str) -> Result<()> {
        let bad = |message: String| Err(Error::Application { file: file.to_string(), message });
        if self.kind != KIND || self.api_version != API_VERSION {
            return bad(format!(
                "expected apiVersion {API_VERSION} and kind {KIND}, found '{}' '{}'",
                self.api_version, self.kind
            ));
        }
        if self.metadata.name.is_empty() {
            return bad("metadata.name is required".into());
        }
        if self.spec.source.is_none() && self.spec.sources.is_empty() {
            return bad("spec.source (or spec.sources) is required".into());
        }
        if !self.spec.destination.server.is_empty() && !self.spec.destination.name.is_empty() {
            return bad("spec.destination: set server or name, not both".into());
        }
        Ok(())
    }

    /// The source to render: the first of `spec.sources` when that is set (fetching
    /// refuses more than one), else `spec.source`.
    pub fn primary_source(&self) -> Option<&ApplicationSource> {
        self.spec.sources.first().or(self.spec.source.as_ref())
    }

    /// `<appInstance>` of the tracking id: the name when the app lives in the controller
    /// namespace (or has none), else `<namespace>_<name>` (docs/controller-sync.md §3).
    pub fn instance_name(&self, controller_namespace: &str) -> String {
        let ns = &self.metadata.namespace;
        if ns.is_empty() || ns == controller_namespace {
            self.metadata.name.clone()
        } else {
            format!("{ns}_{}", self.metadata.name)
        }
    }

    /// App-level sync options.
    pub fn sync_options(&self) -> SyncOptions {
        SyncOptions::new(self.spec.sync_policy.iter().flat_map(|p| p.sync_options.iter().cloned()))
    }

    /// Whether the app's destination is the cluster at `connected_url`: the in-cluster
    /// names (`https://kubernetes.default.svc`, `in-cluster`, or none) mean "the
    /// connected cluster"; any other server must be that URL. Refuses otherwise, so an
    /// app is never deployed to a cluster it does not name.
    pub fn check_destination(&self, connected_url: &str) -> Result<()> {
        let d = &self.spec.destination;
        let trim = |u: &str| u.trim_end_matches('/').to_string();
        let ok_server = d.server.is_empty() || d.server == IN_CLUSTER_SERVER || trim(&d.server) == trim(connected_url);
        let ok_name = d.name.is_empty() || d.name == "in-cluster";
        if ok_server && ok_name {
            return Ok(());
        }
        let wanted = if d.server.is_empty() { format!("cluster '{}'", d.name) } else { format!("server {}", d.server) };
        Err(Error::Application {
            file: self.metadata.name.clone(),
            message: format!(
                "spec.destination names {wanted}, but the connected cluster is {connected_url}: pass --kubeconfig/--context for that cluster"
            ),
        })
    }

    /// `syncPolicy.automated.allowEmpty`.
    pub fn allow_empty(&self) -> bool {
        self.spec.sync_policy.as_ref().and_then(|p| p.automated.as_ref()).is_some_and(|a| a.allow_empty)
    }
}

/// A list of `Key=value` sync options. Lookups compare literally, as Argo CD does
/// (`ServerSideApply=True` is not `ServerSideApply=true`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncOptions(Vec<String>);

impl SyncOptions {
    /// Options from a list, trimmed and de-duplicated.
    pub fn new(options: impl IntoIterator<Item = String>) -> SyncOptions {
        let mut out: Vec<String> = Vec::new();
        for o in options {
            let o = o.trim().to_string();
            if !o.is_empty() && !out.contains(&o) {
                out.push(o);
            }
        }
        SyncOptions(out)
    }

    /// Options of the resource annotation `argocd.argoproj.io/sync-options` (comma-separated).
    pub fn from_annotation(obj: &Map<String, Value>) -> SyncOptions {
        let text = annotation(obj, SYNC_OPTIONS_ANNOTATION).unwrap_or_default();
        SyncOptions::new(text.split(',').map(str::to_string))
    }

    /// Whether the exact option is present.
    pub fn has(&self, option: &str) -> bool {
        self.0.iter().any(|o| o == option)
    }

    /// The value of `key=...`, if any.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.0.iter().find_map(|o| o.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
    }

    /// The options as written.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

/// Resource annotation carrying per-resource sync options.
pub const SYNC_OPTIONS_ANNOTATION: &str = "argocd.argoproj.io/sync-options";

/// Reads `metadata.annotations[key]` of a raw object.
pub fn annotation<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    obj.get("metadata")?.get("annotations")?.get(key)?.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: guestbook
  namespace: argocd
spec:
  project: default
  source:
    repoURL: https://example.com/repo.git
    path: apps/guestbook
    targetRevision: main
    plugin:
      name: kcmp
      env:
      - name: STAGE
        value: dev
      parameters:
      - name: replicas
        string: "2"
      - name: images
        array: [a, b]
  destination:
    server: https://kubernetes.default.svc
    namespace: guestbook
  syncPolicy:
    automated: {prune: true, allowEmpty: true}
    syncOptions: [CreateNamespace=true, "PrunePropagationPolicy=background", CreateNamespace=true]
  ignoreDifferences:
  - group: apps
    kind: Deployment
    jsonPointers: [/spec/replicas]
"#;

    #[test]
    fn reads_the_fields_that_matter() {
        let app = Application::from_yaml(APP, "app.yaml").expect("valid app");
        let src = app.primary_source().expect("source");
        assert_eq!(src.repo_url, "https://example.com/repo.git");
        assert_eq!(src.target_revision, "main");
        let plugin = src.plugin.as_ref().expect("plugin");
        assert_eq!(plugin.env[0].name, "STAGE");
        assert_eq!(plugin.parameters[1].array.as_deref(), Some(&["a".to_string(), "b".to_string()][..]));
        assert_eq!(app.spec.destination.namespace, "guestbook");
        assert!(app.allow_empty());
        let opts = app.sync_options();
        assert_eq!(opts.as_slice().len(), 2, "duplicates removed");
        assert!(opts.has("CreateNamespace=true"));
        assert!(!opts.has("CreateNamespace=True"));
        assert_eq!(opts.value("PrunePropagationPolicy"), Some("background"));
        assert_eq!(app.spec.ignore_differences[0].json_pointers, vec!["/spec/replicas"]);
    }

    #[test]
    fn instance_name_is_qualified_outside_the_controller_namespace() {
        let mut app = Application::from_yaml(APP, "app.yaml").expect("valid app");
        assert_eq!(app.instance_name("argocd"), "guestbook");
        app.metadata.namespace = "team-a".into();
        assert_eq!(app.instance_name("argocd"), "team-a_guestbook");
    }

    #[test]
    fn rejects_other_kinds_with_the_file_name() {
        let err = Application::from_yaml("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "cm.yaml")
            .expect_err("not an app");
        assert_eq!(
            err.to_string(),
            "cm.yaml: invalid application: expected apiVersion argoproj.io/v1alpha1 and kind Application, found 'v1' 'ConfigMap'"
        );
    }

    #[test]
    fn requires_a_source() {
        let err = Application::from_yaml(
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: x}\nspec: {}\n",
            "a.yaml",
        )
        .expect_err("no source");
        assert!(err.to_string().contains("spec.source (or spec.sources) is required"), "{err}");
    }

    #[test]
    fn destinations_must_name_the_connected_cluster() {
        let mut app = Application::from_yaml(APP, "app.yaml").expect("valid app");
        assert!(app.check_destination("https://10.0.0.1:6443").is_ok(), "in-cluster means the connected cluster");
        app.spec.destination.server = "https://prod.example.com".into();
        assert!(app.check_destination("https://prod.example.com/").is_ok());
        let err = app.check_destination("https://10.0.0.1:6443").expect_err("other cluster");
        assert_eq!(
            err.to_string(),
            "guestbook: invalid application: spec.destination names server https://prod.example.com, but the connected cluster is https://10.0.0.1:6443: pass --kubeconfig/--context for that cluster"
        );
        app.spec.destination.server.clear();
        app.spec.destination.name = "prod".into();
        assert!(app.check_destination("https://10.0.0.1:6443").is_err());
    }

    #[test]
    fn resource_sync_options_come_from_the_annotation() {
        let obj: Map<String, Value> = serde_json::from_str(
            r#"{"metadata":{"annotations":{"argocd.argoproj.io/sync-options":"Prune=false, PruneLast=true"}}}"#,
        )
        .expect("json");
        let opts = SyncOptions::from_annotation(&obj);
        assert!(opts.has("Prune=false"));
        assert!(opts.has("PruneLast=true"));
    }
}
