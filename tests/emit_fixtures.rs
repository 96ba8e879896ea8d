//! Emitter fixtures: tests/fixtures/emit/<case>/in is a Kustomize tree full of
//! scalars that are hard to print (YAML 1.1 look-alikes, indicators, edge
//! spaces, tabs, control and non-ASCII characters, long lines, odd keys,
//! numbers); expected.yaml is what `kubectl kustomize` (v5.5.0) printed for it
//! on this machine (regen.sh). The rendered stream must match byte for byte.

use kcmp::render::{emit, render, Options};
use std::path::Path;

/// The first differing line, with a little context, for a readable failure.
fn first_difference(got: &str, want: &str) -> String {
    let (g, w): (Vec<&str>, Vec<&str>) = (got.split('\n').collect(), want.split('\n').collect());
    let line = g.iter().zip(&w).position(|(a, b)| a != b).unwrap_or(g.len().min(w.len()));
    let from = line.saturating_sub(2);
    format!(
        "line {}:\n  got:  {:?}\n  want: {:?}",
        line + 1,
        g.get(from..(line + 1).min(g.len())).unwrap_or_default(),
        w.get(from..(line + 1).min(w.len())).unwrap_or_default()
    )
}

#[test]
fn emitter_fixtures_match_kubectl_byte_for_byte() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/emit");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .expect("tests/fixtures/emit exists")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 5, "expected the emitter fixture cases, found {}", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().expect("case name").to_string_lossy().to_string();
        let want = std::fs::read_to_string(case.join("expected.yaml")).expect("expected.yaml");
        match render(&case.join("in"), &Options::default()) {
            Err(e) => failures.push(format!("{name}: render failed: {e}")),
            Ok(resources) => {
                let got = emit::to_yaml_stream(&resources);
                if got != want {
                    failures.push(format!("{name}: bytes differ at {}", first_difference(&got, &want)));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} emitter fixtures differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// kubectl fails with "yaml: control characters are not allowed" when an object
/// holds a raw DEL/C1 control character (Go's JSON leaves them unescaped and
/// go-yaml refuses them); kcmp fails too, naming the field, object and file.
#[test]
fn strings_kubectl_cannot_print_fail_the_render() {
    use kcmp::render::load::MemFs;
    use kcmp::render::{render_with, ErrorKind};
    let fs = MemFs::new().with("/app/kustomization.yaml", "resources:\n- cm.yaml\n").with(
        "/app/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  ok: \"tab\\there\"\n  bad: \"a\\x7fb\"\n",
    );
    let e = match render_with(&fs, Path::new("/app"), &Options::default()) {
        Ok(rs) => panic!("expected an error, got {} resources", rs.len()),
        Err(e) => e,
    };
    assert_eq!(e.kind(), ErrorKind::Resource);
    assert_eq!(
        e.to_string(),
        "invalid resource: data.bad: value contains control character U+007F (yaml: control characters are not allowed) (resource ConfigMap.v1.[noGrp]/x.[noNs]) (in cm.yaml)"
    );
}
