//! Health rules as a table: one live object per row, the status docs/controller-health.md
//! §3 and §7 give for it. Plus app aggregation (§5).

use kcmp::controller::health::{app_health, resource_health, AppResource, HealthStatus};
use kcmp::controller::tracking::ResourceKey;
use serde_json::{json, Map, Value};
use HealthStatus::*;

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().expect("object")
}

fn check(case: &str, v: Value, want: Option<HealthStatus>) {
    let got = resource_health(&obj(v)).map(|h| h.status);
    assert_eq!(got, want, "case: {case}");
}

fn deploy(spec: Value, status: Value, generation: i64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "generation": generation}, "spec": spec, "status": status})
}

#[test]
fn deployment_rules() {
    check("paused", deploy(json!({"paused": true}), json!({}), 1), Some(Suspended));
    check("generation ahead", deploy(json!({"replicas": 1}), json!({"observedGeneration": 1}), 2), Some(Progressing));
    check(
        "deadline exceeded",
        deploy(
            json!({"replicas": 1}),
            json!({"observedGeneration": 1, "conditions": [{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}]}),
            1,
        ),
        Some(Degraded),
    );
    check(
        "updated = available = replicas",
        deploy(
            json!({"replicas": 2}),
            json!({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}),
            1,
        ),
        Some(Healthy),
    );
    check(
        "old replicas pending termination",
        deploy(
            json!({"replicas": 2}),
            json!({"observedGeneration": 1, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 2}),
            1,
        ),
        Some(Progressing),
    );
    check(
        "not all updated",
        deploy(json!({"replicas": 2}), json!({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 1}), 1),
        Some(Progressing),
    );
    let mut old = deploy(json!({}), json!({}), 1);
    old["apiVersion"] = json!("apps/v1beta1");
    check("other version", old, Some(Unknown));
    let msg = resource_health(&obj(deploy(
        json!({}),
        json!({"observedGeneration": 1, "conditions": [{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}]}),
        1,
    )))
    .expect("health")
    .message;
    assert_eq!(msg, "Deployment \"web\" exceeded its progress deadline");
}

fn sts(strategy: Value, status: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "generation": 1}, "spec": {"replicas": 2, "updateStrategy": strategy}, "status": status})
}

#[test]
fn stateful_set_rules() {
    check("never observed", sts(json!({}), json!({"observedGeneration": 0})), Some(Progressing));
    check("pods not ready", sts(json!({}), json!({"observedGeneration": 1, "readyReplicas": 1})), Some(Progressing));
    check(
        "OnDelete with revision mismatch",
        sts(
            json!({"type": "OnDelete"}),
            json!({"observedGeneration": 1, "readyReplicas": 2, "updateRevision": "b", "currentRevision": "a"}),
        ),
        Some(Healthy),
    );
    check(
        "partition not rolled",
        sts(
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}),
            json!({"observedGeneration": 1, "readyReplicas": 2, "updatedReplicas": 0}),
        ),
        Some(Progressing),
    );
    check(
        "rolling update revision mismatch",
        sts(
            json!({"type": "RollingUpdate"}),
            json!({"observedGeneration": 1, "readyReplicas": 2, "updateRevision": "b", "currentRevision": "a"}),
        ),
        Some(Progressing),
    );
}

#[test]
fn daemon_set_and_replica_set_rules() {
    let ds = |strategy: &str, status: Value| json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "d", "generation": 1}, "spec": {"updateStrategy": {"type": strategy}}, "status": status});
    check("ds OnDelete", ds("OnDelete", json!({"observedGeneration": 1})), Some(Healthy));
    check(
        "ds not updated",
        ds("RollingUpdate", json!({"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 2})),
        Some(Progressing),
    );
    check(
        "ds available",
        ds(
            "RollingUpdate",
            json!({"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 3}),
        ),
        Some(Healthy),
    );
    let rs = |status: Value| json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "r", "generation": 1}, "spec": {"replicas": 2}, "status": status});
    check(
        "rs failure",
        rs(
            json!({"observedGeneration": 1, "conditions": [{"type": "ReplicaFailure", "status": "True", "message": "quota"}]}),
        ),
        Some(Degraded),
    );
    check("rs short", rs(json!({"observedGeneration": 1, "availableReplicas": 1})), Some(Progressing));
    check("rs ok", rs(json!({"observedGeneration": 1, "availableReplicas": 2})), Some(Healthy));
}

fn pod(restart: &str, annotations: Value, status: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "annotations": annotations}, "spec": {"restartPolicy": restart}, "status": status})
}

#[test]
fn pod_rules() {
    check(
        "crash loop",
        pod(
            "Always",
            json!({}),
            json!({"phase": "Running", "containerStatuses": [{"name": "c", "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}}}]}),
        ),
        Some(Degraded),
    );
    check("never + running", pod("Never", json!({}), json!({"phase": "Running"})), Some(Progressing));
    check(
        "ignore-restart-policy + ready",
        pod(
            "Never",
            json!({"argocd.argoproj.io/ignore-restart-policy": "true"}),
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}),
        ),
        Some(Healthy),
    );
    check("pending", pod("Always", json!({}), json!({"phase": "Pending"})), Some(Progressing));
    check("succeeded", pod("Never", json!({}), json!({"phase": "Succeeded"})), Some(Healthy));
    let failed = pod(
        "Never",
        json!({}),
        json!({"phase": "Failed", "containerStatuses": [{"name": "c", "state": {"terminated": {"exitCode": 3}}}]}),
    );
    let h = resource_health(&obj(failed)).expect("health");
    assert_eq!((h.status, h.message.as_str()), (Degraded, "container \"c\" failed with exit code 3"));
}

#[test]
fn service_ingress_pvc_rules() {
    check(
        "clusterip",
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"type": "ClusterIP"}}),
        Some(Healthy),
    );
    check(
        "lb without ingress",
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {}}}),
        Some(Progressing),
    );
    check(
        "lb with ingress",
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}}),
        Some(Healthy),
    );
    check(
        "ingress empty lb",
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i"}, "status": {"loadBalancer": {}}}),
        Some(Progressing),
    );
    let pvc = |phase: &str| json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c"}, "status": {"phase": phase}});
    check("pvc pending", pvc("Pending"), Some(Progressing));
    check("pvc lost", pvc("Lost"), Some(Degraded));
    check("pvc bound", pvc("Bound"), Some(Healthy));
}

#[test]
fn job_hpa_apiservice_rules() {
    let job = |conds: Value| json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "status": {"conditions": conds}});
    check("job complete", job(json!([{"type": "Complete", "status": "True"}])), Some(Healthy));
    check("job failed", job(json!([{"type": "Failed", "status": "True"}])), Some(Degraded));
    check("job suspended", job(json!([{"type": "Suspended", "status": "True"}])), Some(Suspended));
    check("job running", job(json!([])), Some(Progressing));
    let hpa = |conds: Value| json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"}, "status": {"conditions": conds}});
    check(
        "hpa failed metric",
        hpa(
            json!([{"type": "ScalingActive", "status": "False", "reason": "FailedGetResourceMetric", "message": "no metrics"}]),
        ),
        Some(Degraded),
    );
    check(
        "hpa able",
        hpa(json!([{"type": "AbleToScale", "status": "True", "reason": "SucceededRescale"}])),
        Some(Healthy),
    );
    check("hpa nothing", hpa(json!([])), Some(Progressing));
    check(
        "hpa v1 annotation",
        json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h", "annotations": {
            "autoscaling.alpha.kubernetes.io/conditions": "[{\"type\":\"AbleToScale\",\"status\":\"True\"}]"}}}),
        Some(Healthy),
    );
    let api = |conds: Value| json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": "v1.x"}, "status": {"conditions": conds}});
    check(
        "apiservice unavailable",
        api(json!([{"type": "Available", "status": "False", "reason": "MissingEndpoints"}])),
        Some(Progressing),
    );
    check("apiservice available", api(json!([{"type": "Available", "status": "True"}])), Some(Healthy));
    check("apiservice no condition", api(json!([])), Some(Progressing));
}

#[test]
fn application_cronjob_generic_and_no_health() {
    let child = |status: &str| json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "c"}, "status": {"health": {"status": status}}});
    check("child degraded", child("Degraded"), Some(Degraded));
    check("child healthy", child("Healthy"), Some(Healthy));
    check(
        "child without status",
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "c"}}),
        Some(Progressing),
    );
    check(
        "cronjob suspended",
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"}, "spec": {"suspend": true}}),
        Some(Healthy),
    );
    check(
        "cronjob missed success",
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"}, "spec": {}, "status": {
            "lastScheduleTime": "2024-01-02T00:00:00Z", "lastSuccessfulTime": "2024-01-01T00:00:00Z"}}),
        Some(Degraded),
    );
    check(
        "cr ready",
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "generation": 2}, "status": {
            "observedGeneration": 2, "conditions": [{"type": "Ready", "status": "True"}]}}),
        Some(Healthy),
    );
    check(
        "cr stale",
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "generation": 3}, "status": {
            "observedGeneration": 2, "conditions": [{"type": "Ready", "status": "True"}]}}),
        Some(Progressing),
    );
    check(
        "cr stalled",
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "status": {
            "conditions": [{"type": "Ready", "status": "False"}, {"type": "Stalled", "status": "True"}]}}),
        Some(Degraded),
    );
    check("configmap", json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}), None);
    check(
        "cr without conditions",
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}),
        None,
    );
    check(
        "pending deletion",
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "deletionTimestamp": "2024-01-01T00:00:00Z"}}),
        Some(Progressing),
    );
}

fn key(kind: &str, name: &str) -> ResourceKey {
    ResourceKey { group: String::new(), kind: kind.into(), namespace: "ns".into(), name: name.into() }
}

#[test]
fn app_health_is_the_worst_resource_and_names_the_causes() {
    let degraded = obj(
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "a"}, "status": {"phase": "Lost"}}),
    );
    let healthy = obj(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "b"}, "spec": {}}));
    let h = app_health(&[
        AppResource { key: key("PersistentVolumeClaim", "a"), is_target: true, live: Some(&degraded) },
        AppResource { key: key("Service", "b"), is_target: true, live: Some(&healthy) },
        AppResource { key: key("Service", "missing"), is_target: true, live: None },
    ]);
    assert_eq!(h.status, Degraded, "one Degraded and one Missing => Degraded");
    assert_eq!(h.message, "Caused by /PersistentVolumeClaim:ns/a");

    let all_missing = app_health(&[AppResource { key: key("Service", "x"), is_target: true, live: None }]);
    assert_eq!(all_missing.status, Missing);

    let mut ignored = degraded.clone();
    ignored["metadata"]["annotations"] = json!({"argocd.argoproj.io/ignore-healthcheck": "true"});
    let h =
        app_health(&[AppResource { key: key("PersistentVolumeClaim", "a"), is_target: true, live: Some(&ignored) }]);
    assert_eq!(h.status, Healthy);

    let child = obj(
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "c"}, "status": {"health": {"status": "Unknown"}}}),
    );
    let child_key = ResourceKey {
        group: "argoproj.io".into(),
        kind: "Application".into(),
        namespace: "ns".into(),
        name: "c".into(),
    };
    assert_eq!(app_health(&[AppResource { key: child_key, is_target: true, live: Some(&child) }]).status, Healthy);
    assert_eq!(app_health(&[]).status, Healthy);
}

#[test]
fn health_order_is_argo_cds() {
    assert!(
        Healthy < Suspended
            && Suspended < Progressing
            && Progressing < Missing
            && Missing < Degraded
            && Degraded < Unknown
    );
}
