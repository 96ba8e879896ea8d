//! Patch failures read like kustomize's (docs/kustomize-semantics.md §4.1, §13) and
//! name the patch and the kustomization. Trees are built in memory; each test
//! asserts the whole message.

use kcmp::render::load::MemFs;
use kcmp::render::{render_with, ErrorKind, Options};
use std::path::Path;

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: b\n";

fn err(kustomization: &str) -> kcmp::render::Error {
    let fs = MemFs::new().with("/app/kustomization.yaml", kustomization).with("/app/cm.yaml", CM);
    match render_with(&fs, Path::new("/app"), &Options::default()) {
        Ok(rs) => panic!("expected an error, got {} resources", rs.len()),
        Err(e) => e,
    }
}

#[test]
fn json_patch_without_target_is_refused() {
    let e = err("resources: [cm.yaml]\npatches:\n- patch: '[{\"op\": \"remove\", \"path\": \"/data\"}]'\n");
    assert_eq!(e.kind(), ErrorKind::Patch);
    assert_eq!(
        e.to_string(),
        "patch failed: must specify a target for JSON patch inline patch \"[{\\\"op\\\": \\\"remove\\\", \\\"path\\\": \\\"/data\\\"}]\"; add 'target:' to the entry\n  via transformers of kustomization.yaml"
    );
}

#[test]
fn patch_and_path_together_or_neither_are_refused() {
    let e = err("resources: [cm.yaml]\npatches:\n- path: p.yaml\n  patch: 'a: b'\n");
    assert_eq!(
        e.to_string(),
        "patch failed: patch and path can't be set at the same time\n  via patches or replacements of kustomization.yaml"
    );
    let e = err("resources: [cm.yaml]\npatches:\n- target: {kind: ConfigMap}\n");
    assert_eq!(
        e.to_string(),
        "patch failed: must specify one of patch and path\n  via patches or replacements of kustomization.yaml"
    );
}

#[test]
fn strategic_merge_patch_without_a_target_object() {
    let patch = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nothere\n";
    let fs = MemFs::new()
        .with("/app/kustomization.yaml", "resources: [cm.yaml]\npatches:\n- path: p.yaml\n")
        .with("/app/cm.yaml", CM)
        .with("/app/p.yaml", patch);
    let e = render_with(&fs, Path::new("/app"), &Options::default()).expect_err("fails");
    assert_eq!(
        e.to_string(),
        "patch failed: no resource matches strategic merge patch \"ConfigMap.v1.[noGrp]/nothere.[noNs]\": no matches for Id ConfigMap.v1.[noGrp]/nothere.[noNs]; failed to find unique target for patch ConfigMap.v1.[noGrp]/nothere.[noNs] (in p.yaml)\n  via transformers of kustomization.yaml"
    );
    let fs = MemFs::new()
        .with("/app/kustomization.yaml", "resources: [cm.yaml]\npatchesStrategicMerge:\n- p.yaml\n")
        .with("/app/cm.yaml", CM)
        .with("/app/p.yaml", patch);
    let e = render_with(&fs, Path::new("/app"), &Options::default()).expect_err("fails");
    assert_eq!(
        e.to_string(),
        "patch failed: no matches for Id ConfigMap.v1.[noGrp]/nothere.[noNs]; failed to find unique target for patch ConfigMap.v1.[noGrp]/nothere.[noNs] (in p.yaml)\n  via transformers of kustomization.yaml"
    );
}

#[test]
fn failing_json_op_names_the_op_the_object_and_the_patch() {
    let e = err(
        "resources: [cm.yaml]\npatches:\n- target: {kind: ConfigMap}\n  patch: '[{\"op\": \"replace\", \"path\": \"/nodata/zz\", \"value\": 1}]'\n",
    );
    assert_eq!(
        e.to_string(),
        "patch failed: replace operation does not apply: doc is missing path: /nodata/zz: missing value (resource ConfigMap.v1.[noGrp]/x.[noNs]) (in inline patch \"[{\\\"op\\\": \\\"replace\\\", \\\"path\\\": \\\"/nodata/zz\\\", \\\"value\\\": 1}]\")\n  via transformers of kustomization.yaml"
    );
}

#[test]
fn several_documents_with_one_target_are_refused() {
    let e = err("resources: [cm.yaml]\npatches:\n- target: {kind: ConfigMap}\n  patch: |-\n    kind: ConfigMap\n    metadata: {name: a}\n    ---\n    kind: ConfigMap\n    metadata: {name: b}\n");
    assert_eq!(
        e.to_string(),
        "patch failed: Multiple Strategic-Merge Patches in one `patches` entry is not allowed to set `patches.target` field: inline patch \"kind: ConfigMap metadata: {name: a} --- kind: ConfigMap meta\"; split the documents into separate entries\n  via transformers of kustomization.yaml"
    );
}

#[test]
fn patch_shape_mismatch_and_unknown_directive_are_errors() {
    let e = err("resources: [cm.yaml]\npatches:\n- target: {kind: ConfigMap}\n  patch: |-\n    kind: ConfigMap\n    metadata: {name: a}\n    data: [1]\n");
    assert_eq!(
        e.to_string(),
        "patch failed: patch has a list where the other side has a map; make the patch's shape match the resource (resource ConfigMap.v1.[noGrp]/x.[noNs]) (in inline patch \"kind: ConfigMap metadata: {name: a} data: [1]\")\n  via transformers of kustomization.yaml"
    );
    let e = err("resources: [cm.yaml]\npatches:\n- target: {kind: ConfigMap}\n  patch: |-\n    kind: ConfigMap\n    metadata: {name: a}\n    data: {$patch: frob}\n");
    assert_eq!(e.kind(), ErrorKind::Patch);
    assert!(e.to_string().starts_with("patch failed: unknown patch strategy 'frob'"), "{e}");
}

#[test]
fn bad_target_regex_and_label_selector_are_errors() {
    let e = err("resources: [cm.yaml]\npatches:\n- target: {name: \"(bad\"}\n  patch: '[{\"op\": \"remove\", \"path\": \"/data\"}]'\n");
    assert!(e.to_string().starts_with("patch failed: target name '(bad' is not a valid regular expression"), "{e}");
    let e =
        err("resources: [cm.yaml]\npatches:\n- target: {labelSelector: \"a in b\"}\n  patch: '[{\"op\": \"remove\", \"path\": \"/data\"}]'\n");
    assert!(
        e.to_string()
            .starts_with("patch failed: unable to parse requirement in selector 'a in b': expected '(' after in/notin"),
        "{e}"
    );
}

#[test]
fn legacy_json6902_needs_a_target_name_and_operations() {
    let e = err("resources: [cm.yaml]\npatchesJson6902:\n- target: {kind: ConfigMap, version: v1}\n  patch: '[{\"op\": \"remove\", \"path\": \"/data\"}]'\n");
    assert_eq!(
        e.to_string(),
        "patch failed: must specify the target name for patch inline patch \"[{\\\"op\\\": \\\"remove\\\", \\\"path\\\": \\\"/data\\\"}]\"; add 'name:' to the entry's target\n  via transformers of kustomization.yaml"
    );
    let e = err(
        "resources: [cm.yaml]\npatchesJson6902:\n- target: {kind: ConfigMap, version: v1, name: x}\n  patch: '[]'\n",
    );
    assert_eq!(
        e.to_string(),
        "patch failed: patch appears to be empty; file=inline patch \"[]\"; give it at least one operation\n  via transformers of kustomization.yaml"
    );
}
