//! Replacements and vars on the object shapes real trees use (kubebuilder's
//! cert-manager wiring; a var naming a generated ConfigMap), compared with what
//! `kubectl kustomize` (v5.5.0) printed for the same kustomizations.

use kcmp::render::kustomize::fieldspec::FieldSpecTables;
use kcmp::render::kustomize::generators::{add_hash_suffixes, generate, merge_generated, GeneratorKind};
use kcmp::render::kustomize::kustomization::{GeneratorArgs, Replacement, Var};
use kcmp::render::kustomize::transformers::replacements;
use kcmp::render::kustomize::vars;
use kcmp::render::load::{Loader, MemFs};
use kcmp::render::sops::Decryption;
use kcmp::render::template::Context;
use kcmp::render::Resource;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn res(v: Value) -> Resource {
    match v {
        Value::Object(m) => Resource::new(m),
        _ => panic!("not an object"),
    }
}

/// What `namespace: app-system` and `namePrefix: app-` do before replacements run.
fn namespace_and_prefix(resources: &mut [Resource]) {
    for r in resources.iter_mut() {
        if r.kind() != "ValidatingWebhookConfiguration" {
            r.set_namespace("app-system");
        }
        let prefixed = format!("app-{}", r.name());
        r.rename(&prefixed);
    }
}

#[test]
fn kubebuilder_certificate_wiring() {
    let mut resources = vec![
        res(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "webhook-service", "namespace": "system"}, "spec": {"ports": [{"port": 443}]}})),
        res(json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": "serving-cert", "namespace": "system"},
            "spec": {"dnsNames": ["SERVICE_NAME.SERVICE_NAMESPACE.svc", "SERVICE_NAME.SERVICE_NAMESPACE.svc.cluster.local"],
                     "issuerRef": {"kind": "Issuer", "name": "selfsigned-issuer"}, "secretName": "webhook-server-cert"}})),
        res(json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "validating-webhook-configuration"},
            "webhooks": [{"name": "vapp.kb.io", "clientConfig": {"service": {"name": "webhook-service", "namespace": "system", "path": "/validate"}}}]})),
    ];
    namespace_and_prefix(&mut resources);
    let cert = json!({"kind": "Certificate", "group": "cert-manager.io", "version": "v1"});
    let reps: Vec<Replacement> = serde_json::from_value(json!([
        {"source": {"kind": "Service", "version": "v1", "name": "webhook-service", "fieldPath": ".metadata.name"},
         "targets": [{"select": cert, "fieldPaths": [".spec.dnsNames.0", ".spec.dnsNames.1"],
                      "options": {"delimiter": ".", "index": 0, "create": true}}]},
        {"source": {"kind": "Service", "version": "v1", "name": "webhook-service", "fieldPath": ".metadata.namespace"},
         "targets": [{"select": cert, "fieldPaths": [".spec.dnsNames.0", ".spec.dnsNames.1"],
                      "options": {"delimiter": ".", "index": 1, "create": true}}]},
        {"source": {"kind": "Certificate", "group": "cert-manager.io", "version": "v1", "name": "serving-cert",
                    "fieldPath": ".metadata.namespace"},
         "targets": [{"select": {"kind": "ValidatingWebhookConfiguration"},
                      "fieldPaths": [".metadata.annotations.[cert-manager.io/inject-ca-from]"],
                      "options": {"delimiter": "/", "index": 0, "create": true}}]},
        {"source": {"kind": "Certificate", "group": "cert-manager.io", "version": "v1", "name": "serving-cert",
                    "fieldPath": ".metadata.name"},
         "targets": [{"select": {"kind": "ValidatingWebhookConfiguration"},
                      "fieldPaths": [".metadata.annotations.[cert-manager.io/inject-ca-from]"],
                      "options": {"delimiter": "/", "index": 1, "create": true}}]}
    ]))
    .expect("valid replacements");
    replacements::apply(&mut resources, &reps).expect("applies");
    assert_eq!(
        resources[1].obj["spec"]["dnsNames"],
        json!(["app-webhook-service.app-system.svc", "app-webhook-service.app-system.svc.cluster.local"])
    );
    assert_eq!(
        resources[2].obj["metadata"]["annotations"],
        json!({"cert-manager.io/inject-ca-from": "app-system/app-serving-cert"})
    );
}

#[test]
fn var_reads_the_hashed_name_of_a_generated_configmap() {
    let fs = MemFs::new().with("/app/app.properties", "color=blue\n");
    let template = Context::default();
    let decryption = Decryption::default();
    let loader = Loader { fs: &fs, template: &template, decryption: &decryption, app_root: PathBuf::from("/app") };
    let mut resources = vec![res(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx",
            "command": ["/bin/sh", "-c", "cat /etc/$(CFG)/app.properties; echo $$(HOME)"],
            "env": [{"name": "CFG", "value": "$(CFG)"}]}]}}}}))];
    let entry: GeneratorArgs = serde_json::from_value(
        json!({"name": "cfg", "files": ["app.properties"], "literals": ["greeting=\"hello world\""]}),
    )
    .expect("entry");
    let cm = generate(GeneratorKind::ConfigMap, &entry, None, Path::new("/app"), &loader).expect("generates");
    merge_generated(&mut resources, cm).expect("creates");
    for r in resources.iter_mut() {
        let prefixed = format!("dev-{}", r.name());
        r.rename(&prefixed);
    }
    add_hash_suffixes(&mut resources).expect("hashes");
    let vs: Vec<Var> = serde_json::from_value(
        json!([{"name": "CFG", "objref": {"kind": "ConfigMap", "name": "cfg", "apiVersion": "v1"}}]),
    )
    .expect("vars");
    vars::resolve(&mut resources, &vs, &FieldSpecTables::builtin().var_reference).expect("resolves");
    // kubectl: dev-cfg-88fbhf5g9k everywhere, `$$(HOME)` kept as `$(HOME)`.
    assert_eq!(resources[1].name(), "dev-cfg-88fbhf5g9k");
    let container = &resources[0].obj["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["command"],
        json!(["/bin/sh", "-c", "cat /etc/dev-cfg-88fbhf5g9k/app.properties; echo $(HOME)"])
    );
    assert_eq!(container["env"], json!([{"name": "CFG", "value": "dev-cfg-88fbhf5g9k"}]));
}
