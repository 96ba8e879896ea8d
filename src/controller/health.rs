//! Health of live objects and of an app (docs/controller-health.md). Pure: a live
//! object in, `Option<Health>` out (`None` = the kind has no health check, which is
//! not the same as Healthy). The built-in checks are one table, [`RULES`], keyed by
//! group and kind; kinds outside it fall back to the generic kstatus-style rule
//! (observedGeneration, then a `Ready` condition), and have no health without one.
//!
//! Lua overrides (§4) are not supported; the Argo CD opt-in check for child
//! Applications (§3 "argoproj.io Application") is built in.

use crate::controller::tracking::ResourceKey;
use serde_json::{Map, Value};
use std::fmt;

/// The six health codes, declared best to worst: the derived order is Argo CD's
/// "worse" order (Healthy < Suspended < Progressing < Missing < Degraded < Unknown).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HealthStatus {
    /// All good.
    Healthy,
    /// Paused or suspended on purpose.
    Suspended,
    /// Not there yet.
    Progressing,
    /// The object does not exist.
    Missing,
    /// Failed.
    Degraded,
    /// Cannot tell.
    Unknown,
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HealthStatus::Healthy => "Healthy",
            HealthStatus::Suspended => "Suspended",
            HealthStatus::Progressing => "Progressing",
            HealthStatus::Missing => "Missing",
            HealthStatus::Degraded => "Degraded",
            HealthStatus::Unknown => "Unknown",
        })
    }
}

impl HealthStatus {
    /// Parses a status string as Argo CD stores it.
    pub fn parse(s: &str) -> Option<HealthStatus> {
        Some(match s {
            "Healthy" => HealthStatus::Healthy,
            "Suspended" => HealthStatus::Suspended,
            "Progressing" => HealthStatus::Progressing,
            "Missing" => HealthStatus::Missing,
            "Degraded" => HealthStatus::Degraded,
            "Unknown" => HealthStatus::Unknown,
            _ => return None,
        })
    }
}

/// A health verdict with its reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    /// The code.
    pub status: HealthStatus,
    /// Why (may be empty).
    pub message: String,
}

impl Health {
    fn new(status: HealthStatus, message: impl Into<String>) -> Health {
        Health { status, message: message.into() }
    }
}

/// A built-in check: `group`/`kind`, accepted API versions (empty = any), and the rule.
pub struct Rule {
    /// API group ("" = core).
    pub group: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Accepted versions; another version yields Unknown.
    pub versions: &'static [&'static str],
    /// The check itself.
    pub check: fn(&Map<String, Value>) -> Health,
}

/// The built-in checks of docs/controller-health.md §3, one row per kind.
pub const RULES: &[Rule] = &[
    Rule { group: "apps", kind: "Deployment", versions: &["v1"], check: deployment },
    Rule { group: "apps", kind: "StatefulSet", versions: &["v1"], check: stateful_set },
    Rule { group: "apps", kind: "DaemonSet", versions: &["v1"], check: daemon_set },
    Rule { group: "apps", kind: "ReplicaSet", versions: &["v1"], check: replica_set },
    Rule { group: "", kind: "Pod", versions: &["v1"], check: pod },
    Rule { group: "", kind: "Service", versions: &["v1"], check: service },
    Rule { group: "networking.k8s.io", kind: "Ingress", versions: &[], check: ingress },
    Rule { group: "extensions", kind: "Ingress", versions: &[], check: ingress },
    Rule { group: "", kind: "PersistentVolumeClaim", versions: &["v1"], check: pvc },
    Rule { group: "batch", kind: "Job", versions: &["v1"], check: job },
    Rule { group: "batch", kind: "CronJob", versions: &[], check: cron_job },
    Rule { group: "autoscaling", kind: "HorizontalPodAutoscaler", versions: &["v1", "v2"], check: hpa },
    Rule { group: "apiregistration.k8s.io", kind: "APIService", versions: &["v1", "v1beta1"], check: api_service },
    Rule { group: "argoproj.io", kind: "Workflow", versions: &[], check: workflow },
    Rule { group: "argoproj.io", kind: "Application", versions: &[], check: application },
];

/// Health of one live object (§2): pending deletion first, then the kind's rule, then
/// the generic Ready-condition rule; `None` when nothing applies.
pub fn resource_health(live: &Map<String, Value>) -> Option<Health> {
    let meta = live.get("metadata");
    if meta.and_then(|m| m.get("deletionTimestamp")).is_some_and(|t| !t.is_null()) && !has_hook_finalizer(live) {
        return Some(Health::new(HealthStatus::Progressing, "Pending deletion"));
    }
    let api_version = str_at(live, &["apiVersion"]);
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let kind = str_at(live, &["kind"]);
    if let Some(rule) = RULES.iter().find(|r| r.group == group && r.kind == kind) {
        if !rule.versions.is_empty() && !rule.versions.contains(&version) {
            return Some(Health::new(HealthStatus::Unknown, format!("unsupported version {api_version} of {kind}")));
        }
        return Some((rule.check)(live));
    }
    generic(live)
}

fn has_hook_finalizer(live: &Map<String, Value>) -> bool {
    at(live, &["metadata", "finalizers"])
        .and_then(Value::as_array)
        .is_some_and(|f| f.iter().any(|v| v.as_str() == Some(crate::controller::sync::HOOK_FINALIZER)))
}

fn at<'a>(obj: &'a Map<String, Value>, path: &[&str]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let mut v = obj.get(*first)?;
    for p in rest {
        v = v.get(*p)?;
    }
    Some(v)
}

fn str_at<'a>(obj: &'a Map<String, Value>, path: &[&str]) -> &'a str {
    at(obj, path).and_then(Value::as_str).unwrap_or_default()
}

fn int_at(obj: &Map<String, Value>, path: &[&str]) -> Option<i64> {
    at(obj, path).and_then(Value::as_i64)
}

fn num(obj: &Map<String, Value>, path: &[&str]) -> i64 {
    int_at(obj, path).unwrap_or(0)
}

fn conditions(obj: &Map<String, Value>) -> &[Value] {
    at(obj, &["status", "conditions"]).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}

fn cond_field<'a>(c: &'a Value, k: &str) -> &'a str {
    c.get(k).and_then(Value::as_str).unwrap_or_default()
}

fn find_condition<'a>(conds: &'a [Value], type_: &str) -> Option<&'a Value> {
    conds.iter().find(|c| cond_field(c, "type") == type_)
}

fn generation_behind(obj: &Map<String, Value>) -> bool {
    num(obj, &["metadata", "generation"]) > num(obj, &["status", "observedGeneration"])
}

fn deployment(o: &Map<String, Value>) -> Health {
    use HealthStatus::*;
    if at(o, &["spec", "paused"]).and_then(Value::as_bool) == Some(true) {
        return Health::new(Suspended, "Deployment is paused");
    }
    if generation_behind(o) {
        return Health::new(
            Progressing,
            "Waiting for rollout to finish: observed deployment generation less than desired generation",
        );
    }
    let name = str_at(o, &["metadata", "name"]);
    if find_condition(conditions(o), "Progressing")
        .is_some_and(|c| cond_field(c, "reason") == "ProgressDeadlineExceeded")
    {
        return Health::new(Degraded, format!("Deployment {name:?} exceeded its progress deadline"));
    }
    let updated = num(o, &["status", "updatedReplicas"]);
    let replicas = num(o, &["status", "replicas"]);
    let available = num(o, &["status", "availableReplicas"]);
    if let Some(want) = int_at(o, &["spec", "replicas"]) {
        if updated < want {
            return Health::new(
                Progressing,
                format!("Waiting for rollout to finish: {updated} out of {want} new replicas have been updated..."),
            );
        }
    }
    if replicas > updated {
        return Health::new(
            Progressing,
            format!("Waiting for rollout to finish: {} old replicas are pending termination...", replicas - updated),
        );
    }
    if available < updated {
        return Health::new(
            Progressing,
            format!("Waiting for rollout to finish: {available} of {updated} updated replicas are available..."),
        );
    }
    Health::new(Healthy, "")
}

fn stateful_set(o: &Map<String, Value>) -> Health {
    use HealthStatus::*;
    if int_at(o, &["status", "observedGeneration"]).unwrap_or(0) == 0 || generation_behind(o) {
        return Health::new(Progressing, "Waiting for statefulset spec update to be observed...");
    }
    let ready = num(o, &["status", "readyReplicas"]);
    let want = int_at(o, &["spec", "replicas"]);
    if let Some(want) = want {
        if ready < want {
            return Health::new(Progressing, format!("Waiting for {} pods to be ready...", want - ready));
        }
    }
    let strategy = str_at(o, &["spec", "updateStrategy", "type"]);
    if strategy == "RollingUpdate" {
        if let Some(rolling) = at(o, &["spec", "updateStrategy", "rollingUpdate"]) {
            if let (Some(want), Some(partition)) = (want, rolling.get("partition").and_then(Value::as_i64)) {
                let updated = num(o, &["status", "updatedReplicas"]);
                if updated < want - partition {
                    return Health::new(
                        Progressing,
                        format!("Waiting for partitioned roll out to finish: {updated} out of {} new pods have been updated...", want - partition),
                    );
                }
            }
            return Health::new(Healthy, "partitioned roll out complete");
        }
    }
    if strategy == "OnDelete" {
        return Health::new(Healthy, "");
    }
    if str_at(o, &["status", "updateRevision"]) != str_at(o, &["status", "currentRevision"]) {
        return Health::new(Progressing, "waiting for statefulset rolling update to complete");
    }
    Health::new(Healthy, "")
}

fn daemon_set(o: &Map<String, Value>) -> Health {
    use HealthStatus::*;
    if generation_behind(o) {
        return Health::new(
            Progressing,
            "Waiting for rollout to finish: observed daemon set generation less than desired generation",
        );
    }
    if str_at(o, &["spec", "updateStrategy", "type"]) == "OnDelete" {
        return Health::new(Healthy, "");
    }
    let desired = num(o, &["status", "desiredNumberScheduled"]);
    let updated = num(o, &["status", "updatedNumberScheduled"]);
    if updated < desired {
        return Health::new(
            Progressing,
            format!(
                "Waiting for daemon set rollout to finish: {updated} out of {desired} new pods have been updated..."
            ),
        );
    }
    let available = num(o, &["status", "numberAvailable"]);
    if available < desired {
        return Health::new(
            Progressing,
            format!("Waiting for daemon set rollout to finish: {available} of {desired} updated pods are available..."),
        );
    }
    Health::new(Healthy, "")
}

fn replica_set(o: &Map<String, Value>) -> Health {
    use HealthStatus::*;
    if generation_behind(o) {
        return Health::new(
            Progressing,
            "Waiting for rollout to finish: observed replica set generation less than desired generation",
        );
    }
    if let Some(c) = find_condition(conditions(o), "ReplicaFailure").filter(|c| cond_field(c, "status") == "True") {
        return Health::new(Degraded, cond_field(c, "message"));
    }
    if let Some(want) = int_at(o, &["spec", "replicas"]) {
        let available = num(o, &["status", "availableReplicas"]);
        if available < want {
            return Health::new(
                Progressing,
                format!("Waiting for rollout to finish: {available} out of {want} new replicas are available..."),
            );
        }
    }
    Health::new(Healthy, "")
}

fn pod(o: &Map<String, Value>) -> Health {
    use HealthStatus::*;
    let is_hook = crate::controller::sync::is_hook(o);
    let long_running = str_at(o, &["spec", "restartPolicy"]) == "Always"
        || (!is_hook
            && crate::controller::application::annotation(o, "argocd.argoproj.io/ignore-restart-policy")
                == Some("true"));
    let statuses =
        at(o, &["status", "containerStatuses"]).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    if long_running {
        let waiting: Vec<&str> = statuses
            .iter()
            .filter_map(|s| s.get("state")?.get("waiting"))
            .filter(|w| {
                let reason = w.get("reason").and_then(Value::as_str).unwrap_or_default();
                reason.starts_with("Err") || reason.ends_with("Error") || reason.ends_with("BackOff")
            })
            .map(|w| w.get("message").and_then(Value::as_str).unwrap_or_default())
            .collect();
        if !waiting.is_empty() {
            return Health::new(Degraded, waiting.join(", "));
        }
    }
    match str_at(o, &["status", "phase"]) {
        "Pending" => Health::new(Progressing, str_at(o, &["status", "message"])),
        "Succeeded" => Health::new(Healthy, str_at(o, &["status", "message"])),
        "Failed" => Health::new(Degraded, pod_failure_message(o)),
        "Running" if long_running => {
            let ready = find_condition(conditions(o), "Ready").is_some_and(|c| cond_field(c, "status") == "True");
            if ready {
                Health::new(Healthy, str_at(o, &["status", "message"]))
            } else if statuses.iter().any(|s| s.get("lastState").and_then(|l| l.get("terminated")).is_some()) {
                Health::new(Degraded, "container restarted and is not ready")
            } else {
                Health::new(Progressing, str_at(o, &["status", "message"]))
            }
        }
        "Running" => Health::new(Progressing, str_at(o, &["status", "message"])),
        other => Health::new(Unknown, format!("unknown pod phase {other:?}")),
    }
}

fn pod_failure_message(o: &Map<String, Value>) -> String {
    let msg = str_at(o, &["status", "message"]);
    if !msg.is_empty() {
        return msg.to_string();
    }
    for list in ["initContainerStatuses", "containerStatuses"] {
        for s in at(o, &["status", list]).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default() {
            let Some(t) = s.get("state").and_then(|st| st.get("terminated")) else { continue };
            if let Some(m) = t.get("message").and_then(Value::as_str).filter(|m| !m.is_empty()) {
                return m.to_string();
            }
            if t.get("reason").and_then(Value::as_str) == Some("OOMKilled") {
                return "OOMKilled".into();
            }
            let code = t.get("exitCode").and_then(Value::as_i64).unwrap_or(0);
            if code != 0 {
                let name = s.get("name").and_then(Value::as_str).unwrap_or_default();
                return format!("container {name:?} failed with exit code {code}");
            }
        }
    }
    String::new()
}

fn has_lb_ingress(o: &Map<String, Value>) -> bool {
    at(o, &["status", "loadBalancer", "ingress"]).and_then(Value::as_array).is_some_and(|a| !a.is_empty())
}

fn service(o: &Map<String, Value>) -> Health {
    if str_at(o, &["spec", "type"]) == "LoadBalancer" && !has_lb_ingress(o) {
        return Health::new(HealthStatus::Progressing, "");
    }
    Health::new(HealthStatus::Healthy, "")
}

fn ingress(o: &Map<String, Value>) -> Health {
    if has_lb_ingress(o) {
        Health::new(HealthStatus::Healthy, "")
    } else {
        Health::new(HealthStatus::Progressing, "")
    }
}

fn pvc(o: &Map<String, Value>) -> Health {
    match str_at(o, &["status", "phase"]) {
        "Bound" => Health::new(HealthStatus::Healthy, ""),
        "Pending" => Health::new(HealthStatus::Progressing, ""),
        "Lost" => Health::new(HealthStatus::Degraded, ""),
        other => Health::new(HealthStatus::Unknown, format!("unknown persistent volume claim phase {other:?}")),
    }
}

fn job(o: &Map<String, Value>) -> Health {
    use HealthStatus::*;
    let (mut complete, mut failed, mut suspended, mut message) = (false, false, false, String::new());
    for c in conditions(o) {
        match cond_field(c, "type") {
            "Failed" => {
                failed = true;
                complete = true;
                message = cond_field(c, "message").to_string();
            }
            "Complete" => {
                complete = true;
                message = cond_field(c, "message").to_string();
            }
            "Suspended" => {
                complete = true;
                message = cond_field(c, "message").to_string();
                suspended = cond_field(c, "status") == "True";
            }
            _ => {}
        }
    }
    if !complete {
        Health::new(Progressing, message)
    } else if failed {
        Health::new(Degraded, message)
    } else if suspended {
        Health::new(Suspended, message)
    } else {
        Health::new(Healthy, message)
    }
}

fn cron_job(o: &Map<String, Value>) -> Health {
    use HealthStatus::*;
    if at(o, &["spec", "suspend"]).and_then(Value::as_bool) == Some(true) {
        return Health::new(Healthy, "CronJob is Suspended");
    }
    let Some(status) = o.get("status").filter(|s| s.is_object()) else {
        return Health::new(Progressing, "Waiting for CronJob");
    };
    let Some(scheduled) = status.get("lastScheduleTime").and_then(Value::as_str) else {
        return Health::new(Healthy, "CronJob has not been scheduled yet");
    };
    let Some(succeeded) = status.get("lastSuccessfulTime").and_then(Value::as_str) else {
        return Health::new(Healthy, "The CronJob has not completed a run yet");
    };
    if status.get("active").and_then(Value::as_array).is_some_and(|a| !a.is_empty()) {
        return Health::new(Healthy, "The last job is running");
    }
    if succeeded < scheduled {
        return Health::new(Degraded, "CronJob has not completed its last execution successfully");
    }
    Health::new(Healthy, "The CronJob last execution was successful")
}

/// HPA conditions whose (type, reason) means failure (§3).
const HPA_DEGRADED: &[(&str, &str)] = &[
    ("AbleToScale", "FailedGetScale"),
    ("AbleToScale", "FailedUpdateScale"),
    ("ScalingActive", "FailedGetResourceMetric"),
    ("ScalingActive", "FailedGetObjectMetric"),
    ("ScalingActive", "FailedGetPodsMetric"),
    ("ScalingActive", "FailedGetExternalMetric"),
    ("ScalingActive", "FailedComputeMetricsReplicas"),
    ("ScalingActive", "InvalidSelector"),
];

fn hpa(o: &Map<String, Value>) -> Health {
    use HealthStatus::*;
    let version = str_at(o, &["apiVersion"]);
    let conds: Vec<Value> = if version == "autoscaling/v1" {
        let text = crate::controller::application::annotation(o, "autoscaling.alpha.kubernetes.io/conditions")
            .unwrap_or_default();
        match serde_json::from_str::<Vec<Value>>(text) {
            Ok(c) if !c.is_empty() => c,
            _ => return Health::new(Progressing, "Waiting to Autoscale"),
        }
    } else {
        conditions(o).to_vec()
    };
    for c in &conds {
        if HPA_DEGRADED.contains(&(cond_field(c, "type"), cond_field(c, "reason"))) {
            return Health::new(Degraded, cond_field(c, "message"));
        }
    }
    for c in &conds {
        let t = cond_field(c, "type");
        if (t == "AbleToScale" || t == "ScalingLimited") && cond_field(c, "status") == "True" {
            return Health::new(Healthy, cond_field(c, "message"));
        }
    }
    Health::new(Progressing, "Waiting to Autoscale")
}

fn api_service(o: &Map<String, Value>) -> Health {
    use HealthStatus::*;
    match find_condition(conditions(o), "Available") {
        Some(c) if cond_field(c, "status") == "True" => Health::new(Healthy, cond_field(c, "message")),
        Some(c) => Health::new(Progressing, format!("{}: {}", cond_field(c, "reason"), cond_field(c, "message"))),
        None => Health::new(Progressing, "Waiting to be processed"),
    }
}

fn workflow(o: &Map<String, Value>) -> Health {
    use HealthStatus::*;
    let message = str_at(o, &["status", "message"]);
    match str_at(o, &["status", "phase"]) {
        "" | "Pending" | "Running" => Health::new(Progressing, message),
        "Succeeded" => Health::new(Healthy, message),
        "Failed" | "Error" => Health::new(Degraded, message),
        _ => Health::new(Unknown, message),
    }
}

/// The documented opt-in check for child Applications, built in: copy `status.health`.
fn application(o: &Map<String, Value>) -> Health {
    let status = str_at(o, &["status", "health", "status"]);
    let message = str_at(o, &["status", "health", "message"]);
    match HealthStatus::parse(status) {
        Some(s) => Health::new(s, message),
        None => Health::new(HealthStatus::Progressing, ""),
    }
}

/// Kinds with no built-in rule: a stale status is Progressing; a `Ready` condition
/// decides (True = Healthy; a True `Stalled` = Degraded; otherwise Progressing);
/// no Ready condition = no health (ConfigMap, Secret, RBAC, ...).
fn generic(o: &Map<String, Value>) -> Option<Health> {
    use HealthStatus::*;
    let conds = conditions(o);
    let ready = find_condition(conds, "Ready")?;
    if int_at(o, &["status", "observedGeneration"]).is_some() && generation_behind(o) {
        return Some(Health::new(Progressing, "Waiting for the status to observe the latest generation"));
    }
    let message = cond_field(ready, "message");
    if cond_field(ready, "status") == "True" {
        return Some(Health::new(Healthy, message));
    }
    if find_condition(conds, "Stalled").is_some_and(|c| cond_field(c, "status") == "True") {
        return Some(Health::new(Degraded, message));
    }
    Some(Health::new(Progressing, message))
}

/// One resource of an app as the aggregation sees it (docs/controller-health.md §5).
#[derive(Clone, Debug)]
pub struct AppResource<'a> {
    /// Key of the pair.
    pub key: ResourceKey,
    /// Whether the target side exists and is not a hook (a "non-hook target").
    pub is_target: bool,
    /// The live object, if any.
    pub live: Option<&'a Map<String, Value>>,
}

/// App health = the worst resource health, with the causes (§5). Hooks, objects with
/// `ignore-healthcheck`, missing objects, kinds without health and child apps that are
/// Missing/Unknown do not count; an app whose targets all are missing is Missing.
pub fn app_health(resources: &[AppResource<'_>]) -> Health {
    let mut worst = HealthStatus::Healthy;
    let mut causes: Vec<String> = Vec::new();
    let mut any_target = false;
    let mut any_target_live = false;
    for r in resources {
        if r.is_target {
            any_target = true;
            any_target_live |= r.live.is_some();
        }
        let Some(live) = r.live else { continue };
        if crate::controller::sync::is_hook(live)
            || crate::controller::application::annotation(live, "argocd.argoproj.io/ignore-healthcheck") == Some("true")
        {
            continue;
        }
        let Some(h) = resource_health(live) else { continue };
        if r.key.group == "argoproj.io"
            && r.key.kind == "Application"
            && matches!(h.status, HealthStatus::Missing | HealthStatus::Unknown)
        {
            continue;
        }
        if h.status > worst {
            worst = h.status;
            causes = vec![format!("{}/{}:{}/{}", r.key.group, r.key.kind, r.key.namespace, r.key.name)];
        } else if h.status == worst && worst != HealthStatus::Healthy {
            causes.push(format!("{}/{}:{}/{}", r.key.group, r.key.kind, r.key.namespace, r.key.name));
        }
    }
    if any_target && !any_target_live {
        return Health::new(HealthStatus::Missing, "");
    }
    if causes.is_empty() {
        return Health::new(worst, "");
    }
    let shown: Vec<&str> = causes.iter().take(3).map(String::as_str).collect();
    let mut message = format!("Caused by {}", shown.join(", "));
    if causes.len() > 3 {
        message.push_str(&format!(" and {} more", causes.len() - 3));
    }
    Health::new(worst, message)
}
