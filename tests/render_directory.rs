//! Directories without a kustomization render as plain manifests (Argo CD's
//! "directory" source): `*.yaml|*.yml|*.json` in name order, `kind: List`
//! flattened, subdirectories only with `--recurse`.

use kcmp::render::load::MemFs;
use kcmp::render::{render_with, DirectoryMode, Options};
use std::path::Path;

fn names(fs: &MemFs, mode: DirectoryMode) -> Vec<String> {
    let opts = Options { directory: mode, ..Options::default() };
    render_with(fs, Path::new("/app"), &opts)
        .expect("renders")
        .iter()
        .map(|r| format!("{}/{}", r.kind(), r.name()))
        .collect()
}

fn tree() -> MemFs {
    MemFs::new()
        .with("/app/b.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n")
        .with("/app/a.json", r#"{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}]}"#)
        .with("/app/README.md", "# not a manifest\n")
        .with("/app/sub/d.yml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n")
}

#[test]
fn top_level_files_in_name_order_with_lists_flattened() {
    assert_eq!(names(&tree(), DirectoryMode::TopLevel), vec!["Secret/x", "Service/s", "ConfigMap/c"]);
}

#[test]
fn recurse_descends_into_subdirectories() {
    assert_eq!(names(&tree(), DirectoryMode::Recurse), vec!["Secret/x", "Service/s", "ConfigMap/c", "Deployment/d"]);
}

#[test]
fn a_missing_directory_is_an_error_naming_it() {
    let e = render_with(&MemFs::new(), Path::new("/nope"), &Options::default()).expect_err("missing");
    assert_eq!(e.to_string(), "cannot read: must build at a directory: '/nope' does not exist");
}
