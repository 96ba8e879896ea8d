//! Fills the `protocol` key of port lists in built-in objects before a server-side apply.
//!
//! Place in the pipeline: called by [`crate::controller::kube`] on every object it writes with
//! server-side apply (real syncs and the dry runs behind diff and sync, controller-sync.md §5.7-2,
//! §5.8-4). Service `spec.ports` and container `ports` are associative lists keyed by
//! `(port|containerPort, protocol)`. API servers before v1.21 (e.g. v1.20.2) reject an apply whose
//! element omits `protocol` with a 500 "failed to create typed patch object: … omits key field
//! \"protocol\" (and doesn't have default value)", although a create or `kubectl apply` defaults it
//! to `TCP`. Writing the default ourselves changes nothing in the stored object and makes such
//! manifests (most real ones) sync on old servers too. Custom resources are left alone: their
//! lists have no keys and their schemas may not allow the field.

use serde_json::{Map, Value};

/// The value every API server defaults a missing port `protocol` to.
const DEFAULT_PROTOCOL: &str = "TCP";

/// Pod-spec keys holding container lists whose `ports` are keyed by protocol.
const CONTAINER_LISTS: &[&str] = &["containers", "initContainers", "ephemeralContainers"];

/// Adds `protocol: TCP` to port entries that lack it, in Services (`spec.ports`) and in every
/// container list of a built-in object (`""`, `apps`, `batch` groups), so that server-side apply
/// works on API servers that cannot default list keys. Other objects are returned unchanged.
pub fn fill_port_protocols(obj: &mut Map<String, Value>) {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    if !matches!(group, "" | "apps" | "batch") {
        return;
    }
    let is_service = group.is_empty() && obj.get("kind").and_then(Value::as_str) == Some("Service");
    if let Some(spec) = obj.get_mut("spec") {
        if is_service {
            if let Some(ports) = spec.get_mut("ports") {
                fill_list(ports);
            }
        }
        walk(spec);
    }
}

/// Visits every map below `value`, filling the ports of container lists.
fn walk(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if CONTAINER_LISTS.contains(&key.as_str()) {
                    if let Value::Array(containers) = child {
                        for c in containers.iter_mut() {
                            if let Some(ports) = c.get_mut("ports") {
                                fill_list(ports);
                            }
                        }
                    }
                } else {
                    walk(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(walk),
        _ => {}
    }
}

/// Sets `protocol` on each map element of a port list that has none.
fn fill_list(ports: &mut Value) {
    if let Value::Array(items) = ports {
        for port in items.iter_mut() {
            if let Value::Object(p) = port {
                if !p.contains_key("protocol") {
                    p.insert("protocol".into(), Value::String(DEFAULT_PROTOCOL.into()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fill_port_protocols;
    use serde_json::{json, Map, Value};

    fn fill(v: Value) -> Value {
        let mut m: Map<String, Value> = serde_json::from_value(v).expect("object");
        fill_port_protocols(&mut m);
        Value::Object(m)
    }

    #[test]
    fn service_ports_get_tcp_and_explicit_protocols_stay() {
        let out = fill(json!({"apiVersion": "v1", "kind": "Service",
            "spec": {"ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}]}}));
        assert_eq!(out["spec"]["ports"], json!([{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]));
    }

    #[test]
    fn container_ports_in_pod_templates_get_tcp() {
        let out = fill(json!({"apiVersion": "batch/v1beta1", "kind": "CronJob", "spec": {"jobTemplate": {"spec":
            {"template": {"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 8080}]}],
             "initContainers": [{"name": "b", "ports": [{"containerPort": 9, "protocol": "SCTP"}]}]}}}}}}));
        let pod = &out["spec"]["jobTemplate"]["spec"]["template"]["spec"];
        assert_eq!(pod["containers"][0]["ports"], json!([{"containerPort": 8080, "protocol": "TCP"}]));
        assert_eq!(pod["initContainers"][0]["ports"], json!([{"containerPort": 9, "protocol": "SCTP"}]));
    }

    #[test]
    fn custom_resources_and_other_fields_are_untouched() {
        let cr = json!({"apiVersion": "example.com/v1", "kind": "Service",
            "spec": {"ports": [{"port": 80}], "containers": [{"ports": [{"containerPort": 1}]}]}});
        assert_eq!(fill(cr.clone()), cr);
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"ports": "80"}});
        assert_eq!(fill(cm.clone()), cm);
        // Only Services have keyed `spec.ports`; a Pod's container ports are still filled.
        let pod = fill(json!({"apiVersion": "v1", "kind": "Pod", "spec": {"ports": [{"port": 1}],
            "containers": [{"name": "c", "ports": [{"containerPort": 2}]}]}}));
        assert_eq!(pod["spec"]["ports"], json!([{"port": 1}]));
        assert_eq!(pod["spec"]["containers"][0]["ports"][0]["protocol"], json!("TCP"));
    }
}
