//! The large-tree generator (`testdata/large/gen.py`, used by `benches/`) makes the tree it
//! promises, and the engine renders it as `kubectl kustomize` does (expected values below were
//! checked with kubectl v1.32 / Kustomize v5.5.0 on generated trees).

use kcmp::render::{self, Options, Resource};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Generated names are fixed: the generator inputs do not depend on the tree size.
const SHARED_CONFIG: &str = "prod-shared-config-cm95b7h7k2";
const SHARED_CREDENTIALS: &str = "prod-shared-credentials-b892bc2827";

fn gen(docs: &str, out: &Path) -> Output {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/large/gen.py");
    Command::new("python3")
        .arg(&script)
        .args(["--docs", docs, "--out"])
        .arg(out)
        .output()
        .unwrap_or_else(|e| panic!("python3 is needed to run {}: {e}", script.display()))
}

fn render_generated(docs: usize, variant: &str) -> Vec<Resource> {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = gen(&docs.to_string(), tmp.path());
    assert!(out.status.success(), "gen.py failed: {}", String::from_utf8_lossy(&out.stderr));
    render::render(&tmp.path().join(variant), &Options::default())
        .unwrap_or_else(|e| panic!("rendering the generated {variant}: {e}"))
}

fn at<'a>(r: &'a Resource, path: &[&str]) -> &'a Value {
    let mut v = r.obj.get(path[0]).unwrap_or(&Value::Null);
    for key in &path[1..] {
        v = match key.parse::<usize>() {
            Ok(i) => v.get(i),
            Err(_) => v.get(*key),
        }
        .unwrap_or(&Value::Null);
    }
    v
}

fn count(resources: &[Resource], kind: &str) -> usize {
    resources.iter().filter(|r| r.kind() == kind).count()
}

#[test]
fn overlay_without_patches_renders_exactly_the_requested_documents() {
    // 51 = 2 generated + 16 apps x 3 + 1 leftover ConfigMap
    let resources = render_generated(51, "overlay-nopatch");
    assert_eq!(resources.len(), 51);
    assert_eq!(count(&resources, "Deployment"), 16);
    assert_eq!(count(&resources, "Service"), 16);
    assert_eq!(count(&resources, "ConfigMap"), 18);
    assert_eq!(count(&resources, "Secret"), 1);
}

#[test]
fn overlay_without_patches_applies_prefix_labels_annotations_and_generated_names() {
    let resources = render_generated(20, "overlay-nopatch");
    for r in &resources {
        assert!(r.name().starts_with("prod-"), "{} lacks the prefix", r.id());
        assert_eq!(r.label("env"), Some("prod"), "{}", r.id());
        assert_eq!(r.label("team"), Some("platform"), "{}", r.id());
        assert_eq!(r.annotation("owner"), Some("platform-team"), "{}", r.id());
    }
    assert!(resources.iter().any(|r| r.name() == SHARED_CONFIG));
    assert!(resources.iter().any(|r| r.name() == SHARED_CREDENTIALS));
    let deployments: Vec<&Resource> = resources.iter().filter(|r| r.kind() == "Deployment").collect();
    assert_eq!(deployments.len(), 6);
    for d in deployments {
        let container = ["spec", "template", "spec", "containers", "0"];
        let env_from = |i: &str, kind: &str| at(d, &[&container[..], &["envFrom", i, kind, "name"]].concat()).clone();
        assert_eq!(env_from("0", "configMapRef"), SHARED_CONFIG, "{}", d.id());
        assert_eq!(env_from("1", "secretRef"), SHARED_CREDENTIALS, "{}", d.id());
        let volume = at(d, &["spec", "template", "spec", "volumes", "0", "configMap", "name"]);
        assert_eq!(volume, &Value::String(format!("{}-config", d.name())), "{}", d.id());
        // includeSelectors: false keeps the selector as written
        let selector = at(d, &["spec", "selector", "matchLabels"]);
        assert!(selector.get("env").is_none(), "{}", d.id());
    }
}

#[test]
fn overlay_with_patches_patches_every_deployment_and_service() {
    let resources = render_generated(20, "overlay");
    assert_eq!(resources.len(), 20);
    for d in resources.iter().filter(|r| r.kind() == "Deployment") {
        assert_eq!(at(d, &["spec", "revisionHistoryLimit"]), 3, "{}", d.id());
        let c = ["spec", "template", "spec", "containers", "0"];
        // kustomize puts the patch's new env entry first, then the original ones
        assert_eq!(at(d, &[&c[..], &["env", "0", "name"]].concat()), "ENVIRONMENT", "{}", d.id());
        assert_eq!(at(d, &[&c[..], &["env", "1", "name"]].concat()), "APP_NAME", "{}", d.id());
        assert_eq!(at(d, &[&c[..], &["resources", "limits", "cpu"]].concat()), "1", "{}", d.id());
        assert!(at(d, &[&c[..], &["resources", "limits", "memory"]].concat()).is_string(), "{}", d.id());
    }
    for s in resources.iter().filter(|r| r.kind() == "Service") {
        assert_eq!(at(s, &["spec", "sessionAffinity"]), "ClientIP", "{}", s.id());
        assert_eq!(at(s, &["spec", "ports", "0", "port"]), 8080, "{}", s.id());
    }
}

#[test]
fn patched_overlay_is_byte_identical_to_kubectl_kustomize() {
    // testdata/large/expected-overlay-20.yaml is `kubectl kustomize OUT/overlay` (v1.32.4,
    // Kustomize v5.5.0) of `gen.py --docs 20 --out OUT`; regenerate it when gen.py changes.
    let expected_file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/large/expected-overlay-20.yaml");
    let expected = std::fs::read_to_string(&expected_file).expect("the expected output is in the repo");
    let resources = render_generated(20, "overlay");
    pretty_assertions::assert_eq!(kcmp::render::emit::to_yaml_stream(&resources), expected);
}

#[test]
fn generator_rejects_a_size_below_one_app_plus_the_generated_objects() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = gen("4", tmp.path());
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "gen.py: --docs must be at least 5, got 4\n");
}
