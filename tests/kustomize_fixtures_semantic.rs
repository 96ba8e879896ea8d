//! The same fixtures as `kustomize_fixtures.rs` (tests/fixtures/kustomize/<case>/in
//! with `kubectl kustomize` v5.5.0 output in `expected.yaml` or its failure in
//! `expected-error.txt`), compared by documents only: same objects, same order,
//! same values, key order and YAML styling ignored. Byte identity is checked by
//! `kustomize_fixtures.rs`; this test keeps engine regressions visible on their own.

use kcmp::render::yaml::parse::parse_stream;
use kcmp::render::{render, Options};
use serde_json::Value;
use std::path::Path;

/// Integral floats compare equal to integers (YAML `1e3` vs `1000` both print as 1000).
fn normalize(v: Value) -> Value {
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => Value::from(f as i64),
            _ => Value::Number(n),
        },
        Value::Array(a) => Value::Array(a.into_iter().map(normalize).collect()),
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, normalize(v))).collect()),
        other => other,
    }
}

#[test]
fn fixtures_render_the_same_documents_as_kubectl_kustomize() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kustomize");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .expect("fixtures dir")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().expect("name").to_string_lossy().to_string();
        let result = render(&case.join("in"), &Options::default());
        if case.join("expected-error.txt").exists() {
            if result.is_ok() {
                failures.push(format!("{name}: kubectl fails but kcmp rendered"));
            }
            continue;
        }
        let expected = std::fs::read_to_string(case.join("expected.yaml")).expect("expected.yaml");
        let want: Vec<Value> = parse_stream(&expected)
            .expect("expected output parses")
            .into_iter()
            .map(|d| normalize(d.value))
            .filter(|v| !v.is_null())
            .collect();
        match result {
            Err(e) => failures.push(format!("{name}: kcmp failed: {e}")),
            Ok(resources) => {
                let got: Vec<Value> = resources.iter().map(|r| normalize(Value::Object(r.obj.clone()))).collect();
                if got != want {
                    let first = got.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
                    failures.push(format!(
                        "{name}: documents differ at #{first} (got {}, want {})\n  got:  {}\n  want: {}",
                        got.len(),
                        want.len(),
                        got.get(first).map(|v| v.to_string()).unwrap_or_default(),
                        want.get(first).map(|v| v.to_string()).unwrap_or_default()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} fixtures differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
}
