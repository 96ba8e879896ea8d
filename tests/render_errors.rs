//! Every bad input gets one clear message naming the file and what to fix.
//! Trees are built in memory; each test asserts the full message text.

use kcmp::render::load::MemFs;
use kcmp::render::{render_with, ErrorKind, Options};
use std::path::Path;

fn err(fs: &MemFs, dir: &str) -> kcmp::render::Error {
    match render_with(fs, Path::new(dir), &Options::default()) {
        Ok(rs) => panic!("expected an error, got {} resources", rs.len()),
        Err(e) => e,
    }
}

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n";

#[test]
fn missing_resource_file_names_entry_and_kustomization() {
    let fs = MemFs::new().with("/app/kustomization.yaml", "resources:\n- missing.yaml\n");
    let e = err(&fs, "/app");
    assert_eq!(e.kind(), ErrorKind::Io);
    assert_eq!(
        e.to_string(),
        "cannot read: 'missing.yaml' is neither a file nor a directory: /app/missing.yaml: no such file or directory\n  via resources of kustomization.yaml (entry 'missing.yaml')"
    );
}

#[test]
fn cycle_between_two_kustomizations_is_detected() {
    let fs = MemFs::new()
        .with("/app/a/kustomization.yaml", "resources:\n- ../b\n")
        .with("/app/b/kustomization.yaml", "resources:\n- ../a\n");
    let e = err(&fs, "/app/a");
    assert_eq!(e.kind(), ErrorKind::Cycle);
    assert_eq!(
        e.to_string(),
        "cycle detected: candidate root '/app/a' contains visited root '/app/a'\n  via resources of /app/b/kustomization.yaml (entry '../a')\n  via resources of kustomization.yaml (entry '../b')"
    );
}

#[test]
fn unknown_field_is_named_with_its_file() {
    let fs = MemFs::new().with("/app/kustomization.yaml", "resources: []\nnamePrefx: a-\n");
    let e = err(&fs, "/app");
    assert_eq!(e.kind(), ErrorKind::Kustomization);
    assert_eq!(e.to_string(), "invalid kustomization: json: unknown field \"namePrefx\" (in kustomization.yaml)");
}

#[test]
fn file_outside_the_root_is_refused() {
    let fs = MemFs::new()
        .with("/app/overlay/kustomization.yaml", "resources:\n- ../base\npatches:\n- path: ../secret-patch.yaml\n")
        .with("/app/base/kustomization.yaml", "resources:\n- cm.yaml\n")
        .with("/app/base/cm.yaml", CM)
        .with("/app/secret-patch.yaml", CM);
    let e = err(&fs, "/app/overlay");
    assert_eq!(e.kind(), ErrorKind::Security);
    assert_eq!(
        e.to_string(),
        "security: file '/app/secret-patch.yaml' is not in or below '/app/overlay'; kustomize only loads files inside the kustomization's directory (in /app/secret-patch.yaml)\n  via patches or replacements of kustomization.yaml"
    );
}

#[test]
fn resource_file_outside_the_root_is_refused() {
    let fs =
        MemFs::new().with("/app/overlay/kustomization.yaml", "resources:\n- ../cm.yaml\n").with("/app/cm.yaml", CM);
    let e = err(&fs, "/app/overlay");
    assert_eq!(e.kind(), ErrorKind::Security);
    assert!(e.to_string().starts_with("security: file '/app/cm.yaml' is not in or below '/app/overlay'"), "{e}");
}

#[test]
fn duplicate_ids_are_refused() {
    let fs = MemFs::new()
        .with("/app/kustomization.yaml", "resources:\n- a.yaml\n- b.yaml\n")
        .with("/app/a.yaml", CM)
        .with("/app/b.yaml", CM);
    let e = err(&fs, "/app");
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert_eq!(
        e.to_string(),
        "resource id conflict: may not add resource with an already registered id: ConfigMap.v1.[noGrp]/x.[noNs] (in b.yaml)\n  via resources of kustomization.yaml (entry 'b.yaml')"
    );
}

#[test]
fn broken_yaml_names_file_and_line() {
    let fs = MemFs::new()
        .with("/app/kustomization.yaml", "resources:\n- cm.yaml\n")
        .with("/app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n");
    let e = err(&fs, "/app");
    assert_eq!(e.kind(), ErrorKind::Yaml);
    assert_eq!(e.file(), Some("cm.yaml"));
    assert!(e.line().is_some_and(|l| l >= 4), "{e}");
}

#[test]
fn object_without_kind_is_refused_with_line() {
    let fs = MemFs::new()
        .with("/app/kustomization.yaml", "resources:\n- cm.yaml\n")
        .with("/app/cm.yaml", format!("{CM}---\napiVersion: v1\nmetadata:\n  name: y\n"));
    let e = err(&fs, "/app");
    assert_eq!(
        e.to_string(),
        "invalid resource: missing kind in object; every resource needs apiVersion, kind and metadata.name (in cm.yaml:6)\n  via resources of kustomization.yaml (entry 'cm.yaml')"
    );
}

#[test]
fn component_listed_as_resource_and_kustomization_as_component() {
    let fs = MemFs::new().with("/app/kustomization.yaml", "resources:\n- comp\n").with(
        "/app/comp/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: []\n",
    );
    assert!(err(&fs, "/app")
        .to_string()
        .starts_with("invalid kustomization: expected kind != 'Component' for path '/app/comp'"));
    let fs = MemFs::new()
        .with("/app/kustomization.yaml", "components:\n- base\n")
        .with("/app/base/kustomization.yaml", "resources: []\nnamePrefix: x-\n");
    assert!(err(&fs, "/app")
        .to_string()
        .starts_with("invalid kustomization: expected kind 'Component' for path '/app/base' but got 'Kustomization'"));
}

#[test]
fn remote_bases_helm_and_external_plugins_are_refused_clearly() {
    let fs = MemFs::new().with("/app/kustomization.yaml", "resources:\n- https://github.com/org/repo//base?ref=v1\n");
    let e = err(&fs, "/app");
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.to_string().contains("remote resource 'https://github.com/org/repo//base?ref=v1'"), "{e}");

    let fs = MemFs::new().with("/app/kustomization.yaml", "helmCharts:\n- name: x\n");
    assert!(err(&fs, "/app").to_string().starts_with("not supported: helmCharts needs helm"));

    let fs = MemFs::new()
        .with("/app/kustomization.yaml", "transformers:\n- t.yaml\n")
        .with("/app/t.yaml", "apiVersion: example.com/v1\nkind: MyPlugin\nmetadata:\n  name: p\n");
    assert!(err(&fs, "/app")
        .to_string()
        .starts_with("not supported: external plugins disabled; unable to load external plugin 'MyPlugin'"));
}

#[test]
fn missing_kustomization_in_a_resource_directory() {
    let fs = MemFs::new().with("/app/kustomization.yaml", "resources:\n- base\n").with("/app/base/readme.txt", "x");
    assert!(err(&fs, "/app").to_string().starts_with(
        "invalid kustomization: unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in directory '/app/base'"
    ));
}

/// The `render` binary prints the chain with `{:#}`: a cause that is already in the message
/// must not be appended again (it used to end in ": No such file or directory (os error 2)").
#[test]
fn the_binary_names_a_missing_configuration_file_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("kustomization.yaml"), "configurations:\n- missing.yaml\n").expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_render")).arg(dir.path()).output().expect("render runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let missing = dir.path().join("missing.yaml");
    assert_eq!(
        stderr,
        format!(
            "error: cannot read: {}: no such file or directory\n  via configurations of kustomization.yaml\n",
            missing.display()
        )
    );
}
