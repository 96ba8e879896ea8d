//! Generators end to end through the real source reader (`Loader` over an
//! in-memory tree): build the objects of a kustomization's generator entries,
//! merge them, hash them, and compare with what `kubectl kustomize` (v5.5.0)
//! printed for the same files.

use kcmp::render::kustomize::generators::{add_hash_suffixes, generate, merge_generated, GeneratorKind};
use kcmp::render::kustomize::kustomization::{GeneratorArgs, GeneratorOptions};
use kcmp::render::load::{Loader, MemFs};
use kcmp::render::sops::Decryption;
use kcmp::render::template::Context;
use kcmp::render::{ErrorKind, Resource};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn args(v: Value) -> GeneratorArgs {
    serde_json::from_value(v).expect("valid generator entry")
}

fn obj(r: &Resource) -> Value {
    Value::Object(r.obj.clone())
}

/// The files of the `/tmp/g/t1` kubectl probe.
fn probe_fs() -> MemFs {
    MemFs::new()
        .with("/app/kustomization.yaml", "")
        .with("/app/app.env", b"\xef\xbb\xbfA=1\n  # comment\n\n  B = two \nC\nD=\"quoted\"\nE=a=b\n#x=y\n".to_vec())
        .with("/app/f.txt", "line1\nline2\n")
        .with("/app/b.bin", vec![0xff, 0xfe, 0x00, b'b', b'i', b'n'])
        .with("/secret.txt", "outside")
}

fn with_loader<T>(fs: &MemFs, f: impl FnOnce(&Loader<'_>) -> T) -> T {
    let template = Context::default();
    let decryption = Decryption::default();
    let loader = Loader { fs, template: &template, decryption: &decryption, app_root: PathBuf::from("/app") };
    f(&loader)
}

#[test]
fn probe_kustomization_generates_what_kubectl_printed() {
    let fs = probe_fs();
    let global: GeneratorOptions =
        serde_json::from_value(json!({"labels": {"a": "global", "g": "g"}, "annotations": {"ga": "y"}}))
            .expect("options");
    let entries = [
        (
            GeneratorKind::ConfigMap,
            args(json!({"name": "cm", "namespace": "ns1", "envs": ["app.env"],
                "literals": ["q1=\"double\"", "q2='single'", "q3=\"mismatch'", "q4= spaced", "q5=a=b"],
                "files": ["f.txt", "other=f.txt", "b.bin"],
                "options": {"labels": {"z": "1", "a": "b"}, "annotations": {"note": "x"}, "immutable": true}})),
        ),
        (
            GeneratorKind::Secret,
            args(json!({"name": "sec", "files": ["b.bin"], "literals": [
                format!("long={}", "a".repeat(111)), "short=x", format!("exact={}", "a".repeat(51))]})),
        ),
        (GeneratorKind::Secret, args(json!({"name": "tls", "type": "kubernetes.io/tls", "literals": ["x=y"]}))),
    ];
    let mut resources = Vec::new();
    with_loader(&fs, |loader| {
        for (kind, a) in &entries {
            let r = generate(*kind, a, Some(&global), Path::new("/app"), loader).expect("generates");
            merge_generated(&mut resources, r).expect("creates");
        }
    });
    add_hash_suffixes(&mut resources).expect("hashes");

    assert_eq!(
        obj(&resources[0]),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "immutable": true,
            "binaryData": {"b.bin": "//4AYmlu"},
            "data": {"A": "1", "B ": " two ", "C": "", "D": "\"quoted\"", "E": "a=b",
                     "f.txt": "line1\nline2\n", "other": "line1\nline2\n", "q1": "double", "q2": "single",
                     "q3": "\"mismatch'", "q4": " spaced", "q5": "a=b"},
            "metadata": {"annotations": {"ga": "y", "note": "x"}, "labels": {"a": "b", "g": "g", "z": "1"},
                         "name": "cm-2fmd656md4", "namespace": "ns1"}})
    );
    assert_eq!(
        obj(&resources[1]),
        json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "data": {"b.bin": "//4AYmlu",
                     "exact": "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFh",
                     "long": "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYW\nFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFh\nYWFhYWFh\n",
                     "short": "eA=="},
            "metadata": {"annotations": {"ga": "y"}, "labels": {"a": "global", "g": "g"}, "name": "sec-f9k6bh9t2f"}})
    );
    assert_eq!(
        obj(&resources[2]),
        json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls", "data": {"x": "eQ=="},
            "metadata": {"annotations": {"ga": "y"}, "labels": {"a": "global", "g": "g"}, "name": "tls-5m4gk962d9"}})
    );
    // The pre-hash name stays in the history for name-reference fixing.
    assert!(resources.iter().all(|r| r.meta.hashed && r.meta.previous_ids.len() == 1));
    assert_eq!(resources[0].original_id().name, "cm");
}

#[test]
fn sources_outside_the_kustomization_are_refused() {
    let fs = probe_fs();
    let err = with_loader(&fs, |loader| {
        generate(
            GeneratorKind::ConfigMap,
            &args(json!({"name": "x", "files": ["../secret.txt"]})),
            None,
            Path::new("/app"),
            loader,
        )
        .expect_err("outside the root")
    });
    assert_eq!(err.kind(), ErrorKind::Security);
    assert!(err.to_string().contains("via loading KV pairs: file sources: [../secret.txt]"), "{err}");
}

#[test]
fn missing_env_file_names_the_generator_source() {
    let fs = probe_fs();
    let err = with_loader(&fs, |loader| {
        generate(
            GeneratorKind::ConfigMap,
            &args(json!({"name": "x", "envs": ["nothere.env"]})),
            None,
            Path::new("/app"),
            loader,
        )
        .expect_err("missing")
    });
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(err.to_string().ends_with("via loading KV pairs: env source files: [nothere.env]"), "{err}");
}

#[test]
fn overlay_merge_keeps_base_position_prefix_and_hash_rule() {
    // kubectl probe /tmp/g/m1: base (namePrefix p-, namespace foo) + overlay merge/replace.
    let fs = probe_fs();
    let mut resources = Vec::new();
    with_loader(&fs, |loader| {
        let dir = Path::new("/app");
        let base = [
            (
                GeneratorKind::ConfigMap,
                json!({"name": "gen", "literals": ["a=1", "b=2"],
                "options": {"labels": {"l1": "base"}, "annotations": {"an": "base"}}}),
            ),
            (GeneratorKind::ConfigMap, json!({"name": "gen2", "literals": ["a=1"]})),
            (GeneratorKind::Secret, json!({"name": "s", "literals": ["a=1"], "type": "kubernetes.io/tls"})),
        ];
        for (kind, a) in base {
            let r = generate(kind, &args(a), None, dir, loader).expect("generates");
            merge_generated(&mut resources, r).expect("creates");
        }
        // What the base's namespace and prefix transformers do.
        for r in resources.iter_mut() {
            r.set_namespace("foo");
            let prefixed = format!("p-{}", r.name());
            r.rename(&prefixed);
        }
        let overlay = [
            (
                GeneratorKind::ConfigMap,
                json!({"name": "gen", "behavior": "merge", "literals": ["b=3", "c=4"],
                "options": {"labels": {"l2": "ov"}, "annotations": {"an": "ov"}}}),
            ),
            (
                GeneratorKind::ConfigMap,
                json!({"name": "gen2", "behavior": "replace", "literals": ["z=1"],
                "options": {"disableNameSuffixHash": true}}),
            ),
            (GeneratorKind::Secret, json!({"name": "s", "behavior": "merge", "literals": ["b=2"]})),
        ];
        for (kind, a) in overlay {
            let r = generate(kind, &args(a), None, dir, loader).expect("generates");
            merge_generated(&mut resources, r).expect("merges");
        }
    });
    add_hash_suffixes(&mut resources).expect("hashes");
    let names: Vec<&str> = resources.iter().map(|r| r.name()).collect();
    assert_eq!(names, vec!["p-gen-fbcmkbc66h", "p-gen2", "p-s-8fb7cfch84"]);
    assert_eq!(
        obj(&resources[0]),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1", "b": "3", "c": "4"},
            "metadata": {"annotations": {"an": "ov"}, "labels": {"l1": "base", "l2": "ov"},
                         "name": "p-gen-fbcmkbc66h", "namespace": "foo"}})
    );
    assert_eq!(
        obj(&resources[2]),
        json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "data": {"a": "MQ==", "b": "Mg=="},
            "metadata": {"name": "p-s-8fb7cfch84", "namespace": "foo"}})
    );
    assert!(resources[0].had_name("gen") && resources[0].had_name("p-gen"));
}
