//! The only module that talks to the API server. [`Cluster`] is the narrow set of
//! calls the controller needs (discovery lookups, get, list the app's objects,
//! server-side apply or replace, delete), each on raw JSON objects; [`KubeCluster`]
//! implements it with kube-rs (dynamic API + discovery, kubeconfig or in-cluster).
//! Tests implement [`Cluster`] in memory, so the sync engine runs without a cluster.

use crate::controller::sync::plan::ApplyMode;
use crate::controller::sync::Propagation;
use crate::controller::tracking::{self, Ownership, ResourceKey};
use crate::controller::{Error, Result};
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, PropagationPolicy,
    ValidationDirective,
};
use kube::core::GroupVersion;
use kube::discovery::{verbs, ApiCapabilities, ApiResource, Scope};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

/// Lists in flight at once when looking for an app's objects.
const LIST_CONCURRENCY: usize = 8;

/// Field manager of every kcmp write (server-side apply).
pub const FIELD_MANAGER: &str = "kcmp";

/// Kinds never listed when looking for an app's objects: high-churn or virtual types
/// that apps do not own (Argo CD's default `resource.exclusions`).
const EXCLUDED_KINDS: &[(&str, &str)] = &[
    ("", "Event"),
    ("events.k8s.io", "Event"),
    ("", "Endpoints"),
    ("discovery.k8s.io", "EndpointSlice"),
    ("coordination.k8s.io", "Lease"),
    ("", "ComponentStatus"),
    ("authentication.k8s.io", "TokenReview"),
    ("authorization.k8s.io", "SubjectAccessReview"),
    ("authorization.k8s.io", "SelfSubjectAccessReview"),
    ("authorization.k8s.io", "LocalSubjectAccessReview"),
    ("authorization.k8s.io", "SelfSubjectRulesReview"),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("cilium.io", "CiliumIdentity"),
    ("cilium.io", "CiliumEndpoint"),
    ("cilium.io", "CiliumEndpointSlice"),
    ("kyverno.io", "PolicyReport"),
    ("kyverno.io", "ClusterPolicyReport"),
];

/// How one write is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApplyOptions {
    /// Server-side apply or replace.
    pub mode: ApplyMode,
    /// Validate and answer, store nothing.
    pub dry_run: bool,
    /// Strict server-side field validation (`Validate=false` turns it off).
    pub validate: bool,
}

impl ApplyOptions {
    /// A validated server-side apply dry-run: what the diff asks for.
    pub const DRY_RUN: ApplyOptions = ApplyOptions { mode: ApplyMode::Apply, dry_run: true, validate: true };
}

/// Whether objects of a kind live in namespaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KindScope {
    /// Namespaced.
    Namespaced,
    /// Cluster-wide.
    Cluster,
}

/// What the controller needs from an API server.
pub trait Cluster: Sync {
    /// Scope of `api_version`/`kind`; `None` when the server does not serve it.
    fn scope(&self, api_version: &str, kind: &str) -> Option<KindScope>;

    /// The live object, `None` when absent.
    fn get(
        &self,
        api_version: &str,
        key: &ResourceKey,
    ) -> impl Future<Output = Result<Option<Map<String, Value>>>> + Send;

    /// Every live object carrying `app`'s tracking id, over all listable kinds.
    fn list_tracked(&self, app: &str) -> impl Future<Output = Result<Vec<Map<String, Value>>>> + Send;

    /// Writes `obj` (server-side apply as [`FIELD_MANAGER`] with force, or replace);
    /// with `dry_run` the server validates and answers but stores nothing.
    fn apply(
        &self,
        obj: &Map<String, Value>,
        opts: ApplyOptions,
    ) -> impl Future<Output = Result<Map<String, Value>>> + Send;

    /// Deletes the object (absent is not an error).
    fn delete(
        &self,
        api_version: &str,
        key: &ResourceKey,
        propagation: Propagation,
        dry_run: bool,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// How to reach the cluster; chosen by the CLI (no environment is read here).
#[derive(Clone, Debug)]
pub enum ClusterConfig {
    /// A kubeconfig file and optionally one of its contexts.
    Kubeconfig {
        /// File path.
        path: PathBuf,
        /// Context name (default: current-context).
        context: Option<String>,
    },
    /// The pod's service account.
    InCluster,
}

/// A connected cluster: a kube-rs client plus one discovery pass.
pub struct KubeCluster {
    client: kube::Client,
    url: String,
    index: ApiIndex,
    /// Kinds that appeared after connecting (CRDs applied by this sync), found on use.
    late: std::sync::Mutex<ResourceTable>,
}

/// Served resource types by (group, version, kind), and the preferred version of each
/// kind for listing. Built group-version by group-version so one broken aggregated
/// API (a metrics server that is down) skips only itself, as Argo CD does;
/// `kube::Discovery::run` would fail as a whole.
/// Resource types by (group, version, kind).
type ResourceTable = BTreeMap<(String, String, String), (ApiResource, ApiCapabilities)>;

#[derive(Default)]
struct ApiIndex {
    resources: ResourceTable,
    preferred: Vec<(ApiResource, ApiCapabilities)>,
}

async fn discover(client: &kube::Client) -> Result<ApiIndex> {
    let core = client.list_core_api_versions().await.map_err(|e| api_error("api discovery", e))?;
    let mut versions: Vec<(String, String, bool)> =
        core.versions.iter().enumerate().map(|(i, v)| (String::new(), v.clone(), i == 0)).collect();
    let groups = client.list_api_groups().await.map_err(|e| api_error("api discovery", e))?;
    for g in groups.groups {
        let preferred = g.preferred_version.as_ref().map(|p| p.version.clone());
        for v in &g.versions {
            versions.push((g.name.clone(), v.version.clone(), preferred.as_deref() == Some(v.version.as_str())));
        }
    }
    let mut index = ApiIndex::default();
    for (group, version, preferred) in versions {
        match kube::discovery::pinned_group(client, &GroupVersion::gv(&group, &version)).await {
            Ok(found) => {
                for (ar, caps) in found.versioned_resources(&version) {
                    if preferred {
                        index.preferred.push((ar.clone(), caps.clone()));
                    }
                    index.resources.insert((group.clone(), version.clone(), ar.kind.clone()), (ar, caps));
                }
            }
            Err(e) => {
                tracing::warn!(%group, %version, error = %e, "skipping an api group version that failed discovery")
            }
        }
    }
    Ok(index)
}

fn api_error(what: impl Into<String>, e: kube::Error) -> Error {
    let what = what.into();
    match e {
        kube::Error::Api(r) => Error::Api { what, message: r.message, code: r.code },
        other => Error::Api { what, message: other.to_string().to_lowercase(), code: 0 },
    }
}

impl KubeCluster {
    /// Connects and runs discovery. `timeout` bounds every request.
    pub async fn connect(config: &ClusterConfig, timeout: Duration) -> Result<KubeCluster> {
        let mut cfg = match config {
            ClusterConfig::Kubeconfig { path, context } => {
                let kubeconfig = kube::config::Kubeconfig::read_from(path)
                    .map_err(|e| Error::Config { message: format!("reading kubeconfig {}: {e}", path.display()) })?;
                let options = kube::config::KubeConfigOptions { context: context.clone(), ..Default::default() };
                kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(|e| Error::Config { message: format!("kubeconfig {}: {e}", path.display()) })?
            }
            ClusterConfig::InCluster => {
                kube::Config::incluster().map_err(|e| Error::Config { message: format!("in-cluster config: {e}") })?
            }
        };
        let url = cfg.cluster_url.to_string();
        cfg.connect_timeout = Some(timeout);
        cfg.read_timeout = Some(timeout);
        cfg.write_timeout = Some(timeout);
        let client = kube::Client::try_from(cfg).map_err(|e| api_error("creating the API client", e))?;
        let index = tokio::time::timeout(timeout * 4, discover(&client)).await.map_err(|_| Error::Api {
            what: "api discovery".into(),
            message: "timed out".into(),
            code: 0,
        })??;
        Ok(KubeCluster { client, url, index, late: Default::default() })
    }

    fn resolve(&self, api_version: &str, kind: &str) -> Result<(ApiResource, ApiCapabilities)> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        self.index
            .resources
            .get(&(group.to_string(), version.to_string(), kind.to_string()))
            .cloned()
            .ok_or_else(|| Error::UnknownKind { api_version: api_version.to_string(), kind: kind.to_string() })
    }

    /// Like `resolve`, but a kind unknown at connect time is looked up again, for up to
    /// 3 s (a CRD applied earlier in this sync becomes Established; Argo CD waits as long).
    async fn resolve_late(&self, api_version: &str, kind: &str) -> Result<(ApiResource, ApiCapabilities)> {
        if let Ok(found) = self.resolve(api_version, kind) {
            return Ok(found);
        }
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let id = (group.to_string(), version.to_string(), kind.to_string());
        if let Some(found) = self.late.lock().ok().and_then(|late| late.get(&id).cloned()) {
            return Ok(found);
        }
        let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
        for attempt in 0..4 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            if let Ok(found) = kube::discovery::pinned_kind(&self.client, &gvk).await {
                if let Ok(mut late) = self.late.lock() {
                    late.insert(id, found.clone());
                }
                return Ok(found);
            }
        }
        Err(Error::UnknownKind { api_version: api_version.to_string(), kind: kind.to_string() })
    }

    async fn api(&self, api_version: &str, key: &ResourceKey) -> Result<(Api<DynamicObject>, ApiResource)> {
        let (ar, caps) = self.resolve_late(api_version, &key.kind).await?;
        let api =
            match caps.scope {
                Scope::Namespaced if key.namespace.is_empty() => return Err(Error::Api {
                    what: format!("{key}"),
                    message:
                        "a namespaced object needs a namespace: set metadata.namespace or spec.destination.namespace"
                            .into(),
                    code: 0,
                }),
                Scope::Namespaced => Api::namespaced_with(self.client.clone(), &key.namespace, &ar),
                Scope::Cluster => Api::all_with(self.client.clone(), &ar),
            };
        Ok((api, ar))
    }

    /// The API server URL this client talks to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The Application `name` in `namespace` as raw JSON.
    pub async fn get_application(&self, namespace: &str, name: &str) -> Result<Map<String, Value>> {
        let key = ResourceKey {
            group: "argoproj.io".into(),
            kind: "Application".into(),
            namespace: namespace.into(),
            name: name.into(),
        };
        self.get(crate::controller::application::API_VERSION, &key).await?.ok_or_else(|| Error::Api {
            what: format!("get application {namespace}/{name}"),
            message: "not found".into(),
            code: 404,
        })
    }
}

/// The objects of one kind that carry `app`'s tracking id (any ownership but none).
async fn list_kind(
    client: kube::Client,
    ar: ApiResource,
    cluster_scoped: bool,
    app: String,
) -> Result<Vec<Map<String, Value>>> {
    let api: Api<DynamicObject> = Api::all_with(client, &ar);
    let list = match api.list(&ListParams::default()).await {
        Ok(list) => list,
        // Kinds this identity may not list are skipped: kcmp only manages what it can see.
        Err(kube::Error::Api(r)) if r.code == 403 || r.code == 404 || r.code == 405 => return Ok(Vec::new()),
        Err(e) => return Err(api_error(format!("list {}/{}", ar.group, ar.kind), e)),
    };
    let mut out = Vec::new();
    for obj in list.items {
        let map = to_map(obj, &ar)?;
        if !matches!(tracking::ownership(&app, &map, cluster_scoped), Ownership::Untracked | Ownership::OtherApp(_)) {
            out.push(map);
        }
    }
    Ok(out)
}

fn to_map(obj: DynamicObject, ar: &ApiResource) -> Result<Map<String, Value>> {
    let value = serde_json::to_value(obj).map_err(|e| Error::Api {
        what: "decoding a server response".into(),
        message: e.to_string(),
        code: 0,
    })?;
    let Value::Object(mut map) = value else {
        return Err(Error::Api { what: "decoding a server response".into(), message: "not an object".into(), code: 0 });
    };
    map.entry("apiVersion").or_insert_with(|| Value::String(ar.api_version.clone()));
    map.entry("kind").or_insert_with(|| Value::String(ar.kind.clone()));
    Ok(map)
}

fn to_dynamic(obj: &Map<String, Value>, what: &str) -> Result<DynamicObject> {
    serde_json::from_value(Value::Object(obj.clone())).map_err(|e| Error::Api {
        what: what.to_string(),
        message: format!("object cannot be encoded: {e}"),
        code: 0,
    })
}

impl Cluster for KubeCluster {
    fn scope(&self, api_version: &str, kind: &str) -> Option<KindScope> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let id = (group.to_string(), version.to_string(), kind.to_string());
        let late = self.late.lock().ok().and_then(|late| late.get(&id).cloned());
        let (_, caps) = self.resolve(api_version, kind).ok().or(late)?;
        Some(match caps.scope {
            Scope::Namespaced => KindScope::Namespaced,
            Scope::Cluster => KindScope::Cluster,
        })
    }

    async fn get(&self, api_version: &str, key: &ResourceKey) -> Result<Option<Map<String, Value>>> {
        let (api, ar) = self.api(api_version, key).await?;
        match api.get_opt(&key.name).await.map_err(|e| api_error(format!("get {key}"), e))? {
            Some(obj) => Ok(Some(to_map(obj, &ar)?)),
            None => Ok(None),
        }
    }

    async fn list_tracked(&self, app: &str) -> Result<Vec<Map<String, Value>>> {
        use futures::stream::{self, StreamExt, TryStreamExt};
        let mut lists = Vec::new();
        for (ar, caps) in &self.index.preferred {
            if caps.supports_operation(verbs::LIST) && !EXCLUDED_KINDS.contains(&(ar.group.as_str(), ar.kind.as_str()))
            {
                lists.push(list_kind(self.client.clone(), ar.clone(), caps.scope == Scope::Cluster, app.to_string()));
            }
        }
        // A few lists in flight at once; `buffered` keeps the output order stable.
        let found: Vec<Vec<Map<String, Value>>> = stream::iter(lists).buffered(LIST_CONCURRENCY).try_collect().await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn apply(&self, obj: &Map<String, Value>, opts: ApplyOptions) -> Result<Map<String, Value>> {
        let ApplyOptions { mode, dry_run, validate } = opts;
        let key = ResourceKey::of(obj);
        let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
        let (api, ar) = self.api(api_version, &key).await?;
        let verb = if dry_run { "dry-run apply" } else { "apply" };
        let what = format!("{verb} {key}");
        let result = match mode {
            ApplyMode::Apply => {
                let mut pp = PatchParams::apply(FIELD_MANAGER).force();
                pp.dry_run = dry_run;
                pp.field_validation =
                    Some(if validate { ValidationDirective::Strict } else { ValidationDirective::Ignore });
                let mut body = obj.clone();
                crate::controller::listkeys::fill_port_protocols(&mut body);
                api.patch(&key.name, &pp, &Patch::Apply(Value::Object(body))).await
            }
            ApplyMode::Replace => {
                let pp = PostParams { dry_run, field_manager: Some(FIELD_MANAGER.into()) };
                match api.get_opt(&key.name).await.map_err(|e| api_error(format!("get {key}"), e))? {
                    Some(live) => {
                        let mut body = to_dynamic(obj, &what)?;
                        body.metadata.resource_version = live.metadata.resource_version;
                        api.replace(&key.name, &pp, &body).await
                    }
                    None => api.create(&pp, &to_dynamic(obj, &what)?).await,
                }
            }
        };
        to_map(result.map_err(|e| api_error(what, e))?, &ar)
    }

    async fn delete(
        &self,
        api_version: &str,
        key: &ResourceKey,
        propagation: Propagation,
        dry_run: bool,
    ) -> Result<()> {
        let (api, _) = self.api(api_version, key).await?;
        let dp = DeleteParams {
            dry_run,
            propagation_policy: Some(match propagation {
                Propagation::Foreground => PropagationPolicy::Foreground,
                Propagation::Background => PropagationPolicy::Background,
                Propagation::Orphan => PropagationPolicy::Orphan,
            }),
            ..Default::default()
        };
        match api.delete(&key.name, &dp).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(r)) if r.code == 404 => Ok(()),
            Err(e) => Err(api_error(format!("delete {key}"), e)),
        }
    }
}

/// Calls the reconcile loop needs beyond [`Cluster`]: listing one kind by label
/// and JSON merge patches (an Application has no status subresource in Argo CD's
/// CRD, so status and the `operation` field are written by one patch).
pub trait Objects: Cluster {
    /// Objects of `api_version`/`kind` in `namespace` matching `label_selector`
    /// (empty = all).
    fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        label_selector: &str,
    ) -> impl Future<Output = Result<Vec<Map<String, Value>>>> + Send;

    /// Applies a JSON merge patch (RFC 7386) to the object.
    fn merge_patch(
        &self,
        api_version: &str,
        key: &ResourceKey,
        patch: &Value,
    ) -> impl Future<Output = Result<Map<String, Value>>> + Send;
}

impl Objects for KubeCluster {
    async fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        label_selector: &str,
    ) -> Result<Vec<Map<String, Value>>> {
        let key =
            ResourceKey { group: String::new(), kind: kind.into(), namespace: namespace.into(), name: String::new() };
        let (api, ar) = self.api(api_version, &key).await?;
        let mut lp = ListParams::default();
        if !label_selector.is_empty() {
            lp = lp.labels(label_selector);
        }
        let list = api.list(&lp).await.map_err(|e| api_error(format!("list {kind} in {namespace}"), e))?;
        list.items.into_iter().map(|o| to_map(o, &ar)).collect()
    }

    async fn merge_patch(&self, api_version: &str, key: &ResourceKey, patch: &Value) -> Result<Map<String, Value>> {
        let (api, ar) = self.api(api_version, key).await?;
        let pp = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
        let obj =
            api.patch(&key.name, &pp, &Patch::Merge(patch)).await.map_err(|e| api_error(format!("patch {key}"), e))?;
        to_map(obj, &ar)
    }
}

impl KubeCluster {
    /// The kube-rs client, for the watch streams of the reconcile loop.
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// The served resource type of `api_version`/`kind` (watch streams need it).
    pub fn api_resource(&self, api_version: &str, kind: &str) -> Result<ApiResource> {
        self.resolve(api_version, kind).map(|(ar, _)| ar)
    }

    /// One leader-election round on Lease `namespace/name` (see `lease.rs`):
    /// `Ok(None)` = this replica holds the lease now; `Ok(Some(wait))` = another
    /// replica does, or won a concurrent write (HTTP 409); retry after `wait`.
    pub async fn claim_lease(
        &self,
        namespace: &str,
        name: &str,
        identity: &str,
        duration: Duration,
        now: i64,
    ) -> Result<Option<Duration>> {
        use crate::controller::lease::{self, Claim, Record};
        use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
        use k8s_openapi::chrono::DateTime;
        let api: Api<Lease> = Api::namespaced(self.client.clone(), namespace);
        let what = format!("lease {namespace}/{name}");
        let live = api.get_opt(name).await.map_err(|e| api_error(format!("get {what}"), e))?;
        let record = live.as_ref().and_then(|l| l.spec.as_ref()).map(|s| Record {
            holder: s.holder_identity.clone().unwrap_or_default(),
            duration_secs: i64::from(s.lease_duration_seconds.unwrap_or(0)),
            acquired: s.acquire_time.as_ref().map(|t| t.0.timestamp()),
            renewed: s.renew_time.as_ref().map(|t| t.0.timestamp()),
            transitions: s.lease_transitions.unwrap_or(0),
        });
        let new = match lease::claim(record.as_ref(), identity, now, duration) {
            Claim::Follow { retry_in, .. } => return Ok(Some(retry_in)),
            Claim::Write(r) => r,
        };
        let time = |t: Option<i64>| t.and_then(|s| DateTime::from_timestamp(s, 0)).map(MicroTime);
        let spec = LeaseSpec {
            holder_identity: Some(new.holder.clone()),
            lease_duration_seconds: i32::try_from(new.duration_secs).ok(),
            acquire_time: time(new.acquired),
            renew_time: time(new.renewed),
            lease_transitions: Some(new.transitions),
            ..Default::default()
        };
        let pp = PostParams { dry_run: false, field_manager: Some(FIELD_MANAGER.into()) };
        let result = match live {
            Some(mut l) => {
                l.spec = Some(spec);
                api.replace(name, &pp, &l).await
            }
            None => {
                let mut l = Lease { spec: Some(spec), ..Default::default() };
                l.metadata.name = Some(name.to_string());
                l.metadata.namespace = Some(namespace.to_string());
                api.create(&pp, &l).await
            }
        };
        match result {
            Ok(_) => Ok(None),
            Err(kube::Error::Api(r)) if r.code == 409 => Ok(Some(Duration::from_secs(1))),
            Err(e) => Err(api_error(format!("write {what}"), e)),
        }
    }
}

impl KubeCluster {
    /// A namespaced dynamic API of `api_version`/`kind` to watch, with its type.
    pub fn watch_api(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
    ) -> Result<(Api<DynamicObject>, ApiResource)> {
        let ar = self.api_resource(api_version, kind)?;
        Ok((Api::namespaced_with(self.client.clone(), namespace, &ar), ar))
    }
}
