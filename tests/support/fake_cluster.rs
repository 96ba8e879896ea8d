//! An in-memory API server for controller tests: stores objects by key, answers
//! server-side apply (the target replaces the stored object, status simulated from
//! a `test.kcmp/health` annotation), dry-runs, deletes, and logs every write.

use kcmp::controller::kube::{ApplyOptions, Cluster, KindScope, Objects};
use kcmp::controller::sync::Propagation;
use kcmp::controller::tracking::{self, ResourceKey};
use kcmp::controller::{Error, Result};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Annotation the fake reads to decide the status it writes on apply.
pub const HEALTH: &str = "test.kcmp/health";
/// Annotation that makes the fake reject the object (dry-run and real).
pub const INVALID: &str = "test.kcmp/invalid";

#[derive(Default)]
pub struct FakeCluster {
    pub objects: Mutex<BTreeMap<ResourceKey, Map<String, Value>>>,
    pub log: Mutex<Vec<String>>,
}

fn known(kind: &str) -> Option<KindScope> {
    match kind {
        "Namespace" | "ClusterRole" | "CustomResourceDefinition" => Some(KindScope::Cluster),
        "ConfigMap" | "Secret" | "Service" | "Deployment" | "Job" | "Pod" | "ServiceAccount" | "Application"
        | "ApplicationSet" => Some(KindScope::Namespaced),
        _ => None,
    }
}

fn ann<'a>(o: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    o.get("metadata")?.get("annotations")?.get(k)?.as_str()
}

fn simulate_status(obj: &mut Map<String, Value>) {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
    let health = ann(obj, HEALTH).unwrap_or("healthy").to_string();
    let status = match (kind.as_str(), health.as_str()) {
        ("Deployment", "progressing") => json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 0}),
        ("Deployment", "degraded") => json!({"observedGeneration": 1, "conditions": [
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}),
        ("Deployment", _) => {
            json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1})
        }
        ("Job", "degraded") => {
            json!({"conditions": [{"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}]})
        }
        ("Job", "progressing") => json!({"active": 1}),
        ("Job", _) => json!({"conditions": [{"type": "Complete", "status": "True"}]}),
        _ => return,
    };
    obj.insert("status".into(), status);
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("generation".into(), json!(1));
    }
}

impl FakeCluster {
    pub fn new() -> FakeCluster {
        let fake = FakeCluster::default();
        fake.put(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}));
        fake
    }

    /// Stores an object as if someone else created it.
    pub fn put(&self, obj: Value) {
        let obj = obj.as_object().cloned().expect("object");
        self.objects.lock().expect("lock").insert(ResourceKey::of(&obj), obj);
    }

    /// Stores an object tracked by `app`.
    pub fn put_tracked(&self, app: &str, obj: Value) {
        let mut obj = obj.as_object().cloned().expect("object");
        tracking::stamp(app, &mut obj, "default");
        self.objects.lock().expect("lock").insert(ResourceKey::of(&obj), obj);
    }

    pub fn has(&self, kind: &str, name: &str) -> bool {
        self.objects.lock().expect("lock").keys().any(|k| k.kind == kind && k.name == name)
    }

    pub fn object(&self, kind: &str, name: &str) -> Option<Map<String, Value>> {
        self.objects
            .lock()
            .expect("lock")
            .iter()
            .find(|(k, _)| k.kind == kind && k.name == name)
            .map(|(_, v)| v.clone())
    }

    /// Real writes only (`apply Kind/name`, `delete Kind/name`), in order.
    pub fn writes(&self) -> Vec<String> {
        self.log.lock().expect("lock").iter().filter(|l| !l.starts_with("dry-run")).cloned().collect()
    }

    fn namespace_exists(&self, ns: &str) -> bool {
        self.objects.lock().expect("lock").keys().any(|k| k.kind == "Namespace" && k.name == ns)
    }
}

fn api_err(what: String, message: &str, code: u16) -> Error {
    Error::Api { what, message: message.into(), code }
}

impl Cluster for FakeCluster {
    fn scope(&self, _api_version: &str, kind: &str) -> Option<KindScope> {
        known(kind)
    }

    async fn get(&self, _api_version: &str, key: &ResourceKey) -> Result<Option<Map<String, Value>>> {
        Ok(self.objects.lock().expect("lock").get(key).cloned())
    }

    async fn list_tracked(&self, app: &str) -> Result<Vec<Map<String, Value>>> {
        let objects = self.objects.lock().expect("lock");
        Ok(objects
            .values()
            .filter(|o| ann(o, tracking::TRACKING_ANNOTATION).and_then(tracking::parse).is_some_and(|id| id.app == app))
            .cloned()
            .collect())
    }

    async fn apply(&self, obj: &Map<String, Value>, opts: ApplyOptions) -> Result<Map<String, Value>> {
        let dry_run = opts.dry_run;
        let key = ResourceKey::of(obj);
        let verb = if dry_run { "dry-run apply" } else { "apply" };
        let what = format!("{verb} {key}");
        self.log.lock().expect("lock").push(format!("{verb} {}/{}", key.kind, key.name));
        let Some(scope) = known(&key.kind) else {
            return Err(api_err(what, "the server could not find the requested resource", 404));
        };
        if ann(obj, INVALID).is_some() && opts.validate {
            return Err(api_err(what, "spec.replicas: Invalid value: \"x\": must be an integer", 422));
        }
        if scope == KindScope::Namespaced && !self.namespace_exists(&key.namespace) {
            return Err(api_err(what, &format!("namespaces \"{}\" not found", key.namespace), 404));
        }
        // Jobs are immutable, as on a real server.
        let existing = self.objects.lock().expect("lock").get(&key).cloned();
        if existing.is_some_and(|e| key.kind == "Job" && e.get("spec") != obj.get("spec")) {
            return Err(api_err(what, "spec.template: Invalid value: field is immutable", 422));
        }
        let mut stored = obj.clone();
        simulate_status(&mut stored);
        if !dry_run {
            self.objects.lock().expect("lock").insert(key, stored.clone());
        }
        Ok(stored)
    }

    async fn delete(&self, _api_version: &str, key: &ResourceKey, _p: Propagation, dry_run: bool) -> Result<()> {
        let verb = if dry_run { "dry-run delete" } else { "delete" };
        self.log.lock().expect("lock").push(format!("{verb} {}/{}", key.kind, key.name));
        if !dry_run {
            self.objects.lock().expect("lock").remove(key);
        }
        Ok(())
    }
}

/// `list` (label selector `k=v[,k=v]` only) and JSON merge patches, for the
/// reconcile loop tests.
impl Objects for FakeCluster {
    async fn list(
        &self,
        _api_version: &str,
        kind: &str,
        namespace: &str,
        selector: &str,
    ) -> Result<Vec<Map<String, Value>>> {
        let wanted: Vec<(&str, &str)> = selector.split(',').filter_map(|p| p.split_once('=')).collect();
        let objects = self.objects.lock().expect("lock");
        Ok(objects
            .iter()
            .filter(|(k, _)| k.kind == kind && k.namespace == namespace)
            .filter(|(_, o)| wanted.iter().all(|(k, v)| o["metadata"]["labels"][*k].as_str() == Some(*v)))
            .map(|(_, o)| o.clone())
            .collect())
    }

    async fn merge_patch(&self, _api_version: &str, key: &ResourceKey, patch: &Value) -> Result<Map<String, Value>> {
        self.log.lock().expect("lock").push(format!("patch {}/{}", key.kind, key.name));
        let mut objects = self.objects.lock().expect("lock");
        let Some(obj) = objects.get_mut(key) else {
            return Err(api_err(format!("patch {key}"), "not found", 404));
        };
        let mut v = Value::Object(obj.clone());
        json_patch::merge(&mut v, patch);
        let Value::Object(m) = v else { return Err(api_err(format!("patch {key}"), "not an object", 500)) };
        *obj = m.clone();
        Ok(m)
    }
}
