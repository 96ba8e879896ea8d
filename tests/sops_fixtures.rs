//! Walks every SOPS fixture of `../shared/testdata/sops/` (located from
//! `CARGO_MANIFEST_DIR`) and checks the outcome its README records: the rows of
//! `ORACLE_RESULTS.md` (every upstream and generated fixture with the keys
//! given) and every key set and tampered case of `generated/manifest.json`.
//! A fixture decrypts and equals the expected plaintext as data, or fails with
//! the recorded kind of error. Known deviations, each asserted:
//! * kcmp always verifies the MAC: the `--ignore-mac` cases must fail with a
//!   MAC error instead of decrypting;
//! * the oracle (pyrage) could not decrypt the post-quantum fixture; the README
//!   records that the real sops does, and kcmp must too: it is checked against
//!   its `expected/age-pq.yaml.sops-decrypted` like every "ok" row.

use kcmp::render::sops::{Decryption, Keyring};
use kcmp::render::yaml::parse::{parse_stream, parse_stream_with, resolve_scalar, ScalarHook, ScalarRole, ScalarStyle};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn testdata() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata/sops");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: {} is absent (CI places shared/ beside the clone)", dir.display());
        None
    }
}

/// Keeps `.inf`/`.nan` (which the engine refuses to render) as marker strings so
/// expected and actual plaintext still compare as data.
struct Tolerant;
impl ScalarHook for Tolerant {
    fn scalar(&self, text: &str, style: ScalarStyle, tag: Option<&str>, _: ScalarRole) -> Result<Value, String> {
        Ok(resolve_scalar(text, style, tag).unwrap_or_else(|_| Value::String(format!("<special {text}>"))))
    }
}

fn yaml_data(text: &str) -> Vec<Value> {
    parse_stream_with(text, &Tolerant).expect("expected plaintext parses").into_iter().map(|d| d.value).collect()
}

fn keyring(keys: &[PathBuf]) -> Decryption {
    let mut vars = BTreeMap::new();
    let mut age = String::new();
    for k in keys {
        if k.extension().is_some_and(|e| e == "asc") {
            vars.insert("SOPS_PGP_KEY_FILE".to_string(), k.display().to_string());
        } else {
            age.push_str(&std::fs::read_to_string(k).expect("key file"));
            age.push('\n');
        }
    }
    if !age.is_empty() {
        vars.insert("SOPS_AGE_KEY".to_string(), age);
    }
    Decryption::Enabled(Keyring::from_vars(&vars, None).expect("keys load"))
}

enum Kind {
    Yaml,
    Json,
    Dotenv,
    Ini,
    Binary,
}

fn kind_of(path: &Path, binary: bool) -> Kind {
    if binary {
        return Kind::Binary;
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some("yaml" | "yml") => Kind::Yaml,
        Some("json") => Kind::Json,
        Some("env") => Kind::Dotenv,
        Some("ini") => Kind::Ini,
        _ => Kind::Binary,
    }
}

/// Decrypts like the engine does: resource documents for YAML/JSON, generator
/// source bytes for every format. Returns the error text on failure.
fn decrypt(dec: &Decryption, path: &Path, binary: bool) -> Result<(Option<Vec<Value>>, Vec<u8>), String> {
    let bytes = std::fs::read(path).expect("fixture");
    let name = path.display().to_string();
    let docs = match kind_of(path, binary) {
        Kind::Yaml | Kind::Json => {
            let text = String::from_utf8(bytes.clone()).expect("utf-8");
            match dec.documents(&name, &text) {
                Ok(Some(docs)) => Some(docs.into_iter().map(|d| d.value).collect()),
                Ok(None) => return Err("not detected as sops".into()),
                // Infinity cannot become an engine value; the source path still decrypts.
                Err(e) if e.to_string().contains("infinity and NaN") => None,
                Err(e) => return Err(e.to_string()),
            }
        }
        _ => None,
    };
    let source_name = if binary { format!("{name}.bin") } else { name.clone() };
    match dec.source(&source_name, &bytes) {
        Ok(Some(out)) => Ok((docs, out)),
        Ok(None) => Err("not detected as sops".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// Asserts that decryption output equals the expected `sops decrypt` stdout: the
/// engine documents as data, the generator-source bytes byte for byte (so a
/// generated Secret hashes like one built from `sops -d` output).
fn assert_plaintext(label: &str, _path: &Path, _binary: bool, got: &(Option<Vec<Value>>, Vec<u8>), expected: &[u8]) {
    let (docs, source) = got;
    let expected_text = String::from_utf8_lossy(expected);
    if let Some(docs) = docs {
        if let Ok(strict) = parse_stream(&expected_text) {
            let strict: Vec<Value> = strict.into_iter().map(|d| d.value).collect();
            assert_eq!(docs, &strict, "{label}: documents differ from expected plaintext");
        } else {
            assert_eq!(docs.len(), yaml_data(&expected_text).len(), "{label}: document count");
        }
    }
    assert!(
        source.as_slice() == expected,
        "{label}: source output differs from sops decrypt:\n{}\n---- expected:\n{expected_text}",
        String::from_utf8_lossy(source)
    );
}

/// Every recipient id named in sops' failure text must be listed in ours.
fn assert_lists_recipients(label: &str, sops_text: &str, ours: &str) {
    let re = regex::Regex::new(r"age1[0-9a-z]{20,}|\b[0-9A-F]{40}\b").expect("re");
    for m in re.find_iter(sops_text) {
        assert!(ours.contains(m.as_str()), "{label}: recipient {} not listed in: {ours}", m.as_str());
    }
}

/// Checks a failure against the error kind sops reported (by its message).
fn assert_failure_kind(label: &str, sops_text: &str, ours: &str) {
    let lower = ours.to_lowercase();
    let want = if sops_text.contains("MAC mismatch") {
        "mac mismatch"
    } else if sops_text.contains("Cannot decrypt MAC") {
        "cannot decrypt the mac"
    } else if sops_text.contains("Could not decrypt value") {
        "could not decrypt the value"
    } else if sops_text.contains("successful groups required") || sops_text.contains("Shamir threshold") {
        "key groups (shamir threshold)"
    } else if sops_text.contains("data key") {
        "no key could decrypt the data key"
    } else {
        panic!("{label}: unrecognised sops failure {sops_text:?}")
    };
    assert!(lower.contains(want), "{label}: expected a {want:?} error, got: {ours}");
    if want.contains("key") {
        assert_lists_recipients(label, sops_text, ours);
    }
}

/// The plaintext of every encrypted leaf: `enc` and `plain` walked side by side.
fn secret_values(enc: &Value, plain: &Value, out: &mut Vec<String>) {
    match (enc, plain) {
        (Value::Object(e), Value::Object(p)) => {
            for (k, ev) in e {
                if let Some(pv) = p.get(k) {
                    secret_values(ev, pv, out);
                }
            }
        }
        (Value::Array(e), Value::Array(p)) => e.iter().zip(p).for_each(|(a, b)| secret_values(a, b, out)),
        (Value::String(e), p) if e.starts_with("ENC[") => {
            let text = match p {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if text.len() >= 4 {
                out.push(text);
            }
        }
        _ => {}
    }
}

/// Asserts that no decrypted value of `enc_file` (plaintext in `plain_file`) is in `err`.
fn assert_no_plaintext(label: &str, enc_file: &Path, plain_file: &Path, err: &str) {
    let (Ok(enc), Ok(plain)) = (std::fs::read_to_string(enc_file), std::fs::read_to_string(plain_file)) else {
        return;
    };
    let mut secrets = Vec::new();
    for (e, p) in yaml_data(&enc).iter().zip(yaml_data(&plain).iter()) {
        secret_values(e, p, &mut secrets);
    }
    for secret in secrets {
        for line in secret.lines().filter(|l| l.trim().len() >= 4) {
            assert!(!err.contains(line.trim()), "{label}: decrypted value {line:?} appears in the error: {err}");
        }
    }
}

fn find_key(root: &Path, fixture: &str, name: &str) -> PathBuf {
    let top = fixture.split('/').next().unwrap_or_default();
    let mut hits: Vec<PathBuf> = walk(root).into_iter().filter(|p| p.file_name().is_some_and(|f| f == name)).collect();
    hits.sort_by_key(|p| !p.starts_with(root.join(top)));
    hits.into_iter().next().unwrap_or_else(|| panic!("key {name} not found"))
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn upstream_expected(path: &Path) -> PathBuf {
    let dir = path.parent().expect("parent");
    let name = path.file_name().expect("name").to_string_lossy();
    dir.join("expected").join(format!("{name}.sops-decrypted"))
}

#[test]
fn every_fixture_in_oracle_results_has_the_recorded_outcome() {
    let Some(root) = testdata() else { return };
    let oracle = std::fs::read_to_string(root.join("ORACLE_RESULTS.md")).expect("ORACLE_RESULTS.md");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("generated/manifest.json")).expect("manifest"))
            .expect("manifest json");
    let mut checked = 0;
    let mut fixtures_seen = std::collections::BTreeSet::new();
    for line in oracle.lines().filter(|l| l.starts_with("| ok") || l.starts_with("| expected-failure")) {
        let cols: Vec<&str> = line.split(" | ").map(|c| c.trim_matches(['|', ' '])).collect();
        let (fixture, keys, expectation, detail) = (cols[1].trim_matches('`'), cols[2], cols[3], cols[4]);
        let binary = fixture.ends_with("[binary]");
        let fixture = fixture.trim_end_matches(" [binary]").trim_end_matches('`');
        let path = root.join(fixture);
        fixtures_seen.insert(fixture.to_string());
        let key_paths: Vec<PathBuf> = keys.split(", ").map(|k| find_key(&root, fixture, k)).collect();
        let label = format!("{fixture} with {keys}");
        let result = decrypt(&keyring(&key_paths), &path, binary);
        checked += 1;
        match expectation {
            "ok" => {
                let got = result.unwrap_or_else(|e| panic!("{label}: {e}"));
                let expected = if fixture.starts_with("generated/") {
                    expected_from_manifest(&root, &manifest, fixture)
                } else {
                    let p = upstream_expected(&path);
                    std::fs::read(&p).map(Some).unwrap_or(None)
                };
                if let Some(expected) = expected {
                    assert_plaintext(&label, &path, binary, &got, &expected);
                }
            }
            "ok-ignore-mac" => {
                let err = result.err().unwrap_or_else(|| panic!("{label}: kcmp never ignores the mac"));
                assert!(err.contains("mac mismatch"), "{label}: {err}");
            }
            "fail" if fixture.ends_with("age-pq.yaml") => {
                let got = result.unwrap_or_else(|e| panic!("{label}: post-quantum fixture must decrypt: {e}"));
                let expected = std::fs::read(upstream_expected(&path)).expect("age-pq expected output");
                assert_plaintext(&label, &path, binary, &got, &expected);
            }
            "fail" => {
                let err = result.err().unwrap_or_else(|| panic!("{label}: decrypted but must fail"));
                assert!(!err.contains("t00m4nys3cr3t"), "{label}: plaintext in error");
                assert_failure_kind(&label, detail, &err);
            }
            other => panic!("unknown expectation {other}"),
        }
    }
    // Every file the detector takes for SOPS has a row (so none is skipped silently).
    let mut detected = 0;
    for p in walk(&root) {
        let rel = p.strip_prefix(&root).expect("rel").to_string_lossy().to_string();
        if rel.contains("/expected/") {
            continue;
        }
        let bytes = std::fs::read(&p).expect("read");
        if let Err(e) = Decryption::Disabled.source(&rel, &bytes) {
            assert!(e.to_string().contains("decryption is disabled"), "{rel}: {e}");
            assert!(fixtures_seen.contains(&rel), "fixture {rel} has no oracle row");
            detected += 1;
        }
    }
    assert!(detected >= 80, "only {detected} sops files detected");
    eprintln!("checked {checked} oracle rows");
    assert!(checked >= 99, "only {checked} rows");
}

fn expected_from_manifest(root: &Path, manifest: &Value, fixture: &str) -> Option<Vec<u8>> {
    let rel = fixture.strip_prefix("generated/")?;
    for f in manifest["fixtures"].as_array()? {
        if f["encrypted"] == rel {
            let native = f["expected"]["native"].as_str()?;
            return std::fs::read(root.join("generated").join(native)).ok();
        }
    }
    for t in manifest["tampered"].as_array()? {
        if t["file"] == rel {
            return std::fs::read(root.join("generated").join(t["stdout"].as_str()?)).ok();
        }
    }
    None
}

fn manifest_keys(root: &Path, set: &Value) -> Vec<PathBuf> {
    set.as_array()
        .expect("key set")
        .iter()
        .map(|k| match k.as_str().expect("key name") {
            "pgp" => root.join("getsops-sops/keys/sops_functional_tests_key.asc"),
            name => root.join(format!("generated/keys/age-{name}.txt")),
        })
        .collect()
}

#[test]
fn every_manifest_key_set_and_tampered_case_has_the_recorded_outcome() {
    let Some(root) = testdata() else { return };
    let gen = root.join("generated");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(gen.join("manifest.json")).expect("manifest")).expect("json");
    let mut checked = 0;
    for f in manifest["fixtures"].as_array().expect("fixtures") {
        let name = f["name"].as_str().expect("name");
        let path = gen.join(f["encrypted"].as_str().expect("encrypted"));
        let binary = f["format"] == "binary";
        let native = std::fs::read(gen.join(f["expected"]["native"].as_str().expect("native"))).expect("expected");
        for set in f["decrypts_with"].as_array().expect("decrypts_with") {
            let label = format!("{name} with {set}");
            let got =
                decrypt(&keyring(&manifest_keys(&root, set)), &path, binary).unwrap_or_else(|e| panic!("{label}: {e}"));
            assert_plaintext(&label, &path, binary, &got, &native);
            // The typed view (`sops decrypt --output-type json`) equals our documents.
            if let (Some(docs), Some(json)) = (&got.0, f["expected"]["json"].as_str()) {
                let want: Value =
                    serde_json::from_str(&std::fs::read_to_string(gen.join(json)).expect("json")).expect("json");
                let want = yaml_data(&serde_json::to_string(&want).expect("json")).remove(0);
                assert_eq!(docs[0], want, "{label}: typed values differ");
            }
            checked += 1;
        }
        for failure in f["failures"].as_array().expect("failures") {
            let label = format!("{name} with {}", failure["keys"]);
            let err = decrypt(&keyring(&manifest_keys(&root, &failure["keys"])), &path, binary)
                .err()
                .unwrap_or_else(|| panic!("{label}: decrypted but must fail"));
            assert_eq!(failure["exit_code"], 128);
            if matches!(f["format"].as_str(), Some("yaml" | "json")) {
                let native = gen.join(f["expected"]["native"].as_str().expect("native"));
                assert_no_plaintext(&label, &path, &native, &err);
            }
            assert_failure_kind(&label, failure["stderr"].as_str().expect("stderr"), &err);
            checked += 1;
        }
    }
    for t in manifest["tampered"].as_array().expect("tampered") {
        let name = t["name"].as_str().expect("name");
        let path = gen.join(t["file"].as_str().expect("file"));
        let result = decrypt(&keyring(&manifest_keys(&root, &t["keys"])), &path, false);
        let ignore_mac = t["flags"].as_array().is_some_and(|f| f.iter().any(|x| x == "--ignore-mac"));
        match (t["exit_code"].as_i64(), ignore_mac) {
            (Some(0), true) => {
                let err = result.err().unwrap_or_else(|| panic!("{name}: kcmp never ignores the mac"));
                assert!(err.contains("mac mismatch"), "{name}: {err}");
            }
            (Some(0), false) => {
                let got = result.unwrap_or_else(|e| panic!("{name}: {e}"));
                let want = std::fs::read(gen.join(t["stdout"].as_str().expect("stdout"))).expect("stdout file");
                assert_plaintext(name, &path, false, &got, &want);
            }
            (Some(code), _) => {
                let err = result.err().unwrap_or_else(|| panic!("{name}: decrypted but sops exits {code}"));
                assert_failure_kind(name, t["stderr"].as_str().expect("stderr"), &err);
                let from = t["from"].as_str().expect("from");
                let native = manifest["fixtures"]
                    .as_array()
                    .and_then(|fs| fs.iter().find(|f| f["encrypted"] == from))
                    .and_then(|f| f["expected"]["native"].as_str())
                    .expect("source fixture");
                assert_no_plaintext(name, &gen.join(from), &gen.join(native), &err);
                assert!(err.contains(&path.display().to_string()), "{name}: error names the file: {err}");
            }
            _ => panic!("{name}: no exit code"),
        }
        checked += 1;
    }
    eprintln!("checked {checked} manifest cases");
}
