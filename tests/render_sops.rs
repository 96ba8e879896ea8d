//! End to end: `render` on a kustomize overlay whose base has a SOPS-encrypted
//! Secret resource, a secretGenerator fed by a SOPS-encrypted `.env` and one fed
//! by a SOPS binary-format file. The expected output (`expected.yaml`) is
//! `kubectl kustomize` of the same tree after `sops -d` of each file.
//!
//! ```text
//! overlay (namePrefix prod-, namespace prod) -> base
//!   base: resources [secret.enc.yaml]
//!         secretGenerator app-env   <- envs  [app.enc.env]
//!         secretGenerator app-files <- files [blob.txt=blob.enc.txt]
//! ```
//! Keys: `tests/fixtures/sops-e2e/keys/age-{a,b}.txt` are copies of the public
//! test keys of shared/testdata/sops/generated/keys (published for testing).

use kcmp::render::load::MemFs;
use kcmp::render::sops::{Decryption, Keyring};
use kcmp::render::yaml::parse::parse_stream;
use kcmp::render::{render_with, Options};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sops-e2e")
}

/// Plaintext values of the fixtures; none may ever appear in an error or on failure.
const SECRETS: [&str; 6] = ["s3cr3t", "czNjcjN0", "cGFzc3dvcmQxMjM=", "password123", "db.example.com", "opaque blob"];

fn data(yaml: &str) -> Vec<Value> {
    parse_stream(yaml).expect("yaml").into_iter().map(|d| d.value).collect()
}

fn render(dir: &Path, envs: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_render"));
    cmd.args(args).arg(dir).env_remove("SOPS_AGE_KEY").env_remove("SOPS_AGE_KEY_FILE").env("HOME", "/nonexistent");
    cmd.env_remove("SOPS_PGP_KEY_FILE").env_remove("SOPS_AGE_SSH_PRIVATE_KEY_FILE").env_remove("XDG_CONFIG_HOME");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run render")
}

fn key(name: &str) -> String {
    fixtures().join("keys").join(name).display().to_string()
}

#[test]
fn renders_the_decrypted_secret_and_generator_sources() {
    let out = render(&fixtures().join("enc/overlay"), &[("SOPS_AGE_KEY_FILE", &key("age-a.txt"))], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let expected = std::fs::read_to_string(fixtures().join("expected.yaml")).expect("expected");
    assert_eq!(data(&String::from_utf8_lossy(&out.stdout)), data(&expected));
    for s in SECRETS {
        assert!(!stderr.contains(s), "plaintext {s:?} on stderr: {stderr}");
    }
}

#[test]
fn the_key_can_also_come_from_sops_age_key() {
    let text = std::fs::read_to_string(key("age-a.txt")).expect("key");
    let out = render(&fixtures().join("enc/overlay"), &[("SOPS_AGE_KEY", &text)], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_wrong_key_fails_listing_the_recipients_and_prints_no_plaintext() {
    let out = render(&fixtures().join("enc/overlay"), &[("SOPS_AGE_KEY_FILE", &key("age-b.txt"))], &[]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "no partial output on failure");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("sops decryption failed: no key could decrypt the data key; recipients tried:"),
        "{stderr}"
    );
    assert!(
        stderr.contains("age age150c4js90e9fh6nndxxapvcr2vysgwdlcwkdk83vfwg6w30pxqsysraagd3: no loaded age identity matches this recipient"),
        "{stderr}"
    );
    assert!(stderr.contains("secret.enc.yaml"), "names the file: {stderr}");
    for s in SECRETS {
        assert!(!stderr.contains(s), "plaintext {s:?} on stderr");
    }
    assert!(!stderr.contains("AGE-SECRET-KEY"), "identity leaked: {stderr}");
}

#[test]
fn no_key_at_all_says_which_variables_to_set() {
    let out = render(&fixtures().join("enc/overlay"), &[], &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no age identity loaded; no identities loaded (set SOPS_AGE_KEY, SOPS_AGE_KEY_FILE"),
        "{stderr}"
    );
}

#[test]
fn no_decrypt_refuses_encrypted_files() {
    let out = render(&fixtures().join("enc/overlay"), &[("SOPS_AGE_KEY_FILE", &key("age-a.txt"))], &["--no-decrypt"]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("sops decryption failed: the file is sops-encrypted but decryption is disabled"),
        "{stderr}"
    );
}

#[test]
fn a_missing_key_file_is_an_error_naming_the_variable() {
    let out = render(&fixtures().join("enc/overlay"), &[("SOPS_AGE_KEY_FILE", "/nonexistent/keys.txt")], &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("SOPS_AGE_KEY_FILE /nonexistent/keys.txt: No such file or directory"), "{stderr}");
}

fn snapshot(dir: &Path, out: &mut BTreeMap<PathBuf, (u64, std::time::SystemTime)>) {
    for e in std::fs::read_dir(dir).expect("dir").flatten() {
        let p = e.path();
        let meta = e.metadata().expect("meta");
        out.insert(p.clone(), (meta.len(), meta.modified().expect("mtime")));
        if meta.is_dir() {
            snapshot(&p, out);
        }
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("dir").flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

fn set_read_only(dir: &Path, read_only: bool) {
    use std::os::unix::fs::PermissionsExt;
    for e in std::fs::read_dir(dir).expect("dir").flatten() {
        if e.path().is_dir() {
            set_read_only(&e.path(), read_only);
        } else {
            std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(if read_only { 0o444 } else { 0o644 }))
                .expect("chmod");
        }
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(if read_only { 0o555 } else { 0o755 }))
        .expect("chmod");
}

#[test]
fn decryption_writes_no_file() {
    // The repo tree, HOME and TMPDIR are read-only (root ignores the bits, so the
    // snapshot comparison is the real check): nothing may be created or changed.
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = tmp.path().join("repo");
    let scratch = tmp.path().join("scratch");
    copy_tree(&fixtures().join("enc"), &repo);
    std::fs::create_dir_all(&scratch).expect("mkdir");
    set_read_only(&repo, true);
    set_read_only(&scratch, true);
    let mut before = BTreeMap::new();
    snapshot(tmp.path(), &mut before);
    let scratch_s = scratch.display().to_string();
    let out = render(
        &repo.join("overlay"),
        &[("SOPS_AGE_KEY_FILE", &key("age-a.txt")), ("TMPDIR", &scratch_s), ("HOME", &scratch_s)],
        &[],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut after = BTreeMap::new();
    snapshot(tmp.path(), &mut after);
    set_read_only(&repo, false);
    set_read_only(&scratch, false);
    assert_eq!(before, after, "render created or modified files");
}

fn memfs() -> MemFs {
    let mut fs = MemFs::new();
    for name in ["kustomization.yaml", "secret.enc.yaml", "app.enc.env", "blob.enc.txt"] {
        fs.insert(format!("/app/base/{name}"), std::fs::read(fixtures().join("enc/base").join(name)).expect("read"));
    }
    fs.insert(
        "/app/overlay/kustomization.yaml",
        std::fs::read(fixtures().join("enc/overlay/kustomization.yaml")).expect("read"),
    );
    fs
}

fn keyring(file: &str) -> Keyring {
    let vars = BTreeMap::from([("SOPS_AGE_KEY_FILE".to_string(), key(file))]);
    Keyring::from_vars(&vars, None).expect("keyring")
}

#[test]
fn the_engine_decrypts_from_an_in_memory_tree_like_the_sidecar() {
    let options = Options { decryption: Decryption::Enabled(keyring("age-a.txt")), ..Options::default() };
    let resources = render_with(&memfs(), Path::new("/app/overlay"), &options).expect("render");
    let got: Vec<Value> = resources.iter().map(|r| Value::Object(r.obj.clone())).collect();
    let expected = data(&std::fs::read_to_string(fixtures().join("expected.yaml")).expect("expected"));
    assert_eq!(got.len(), expected.len());
    for e in &expected {
        assert!(got.contains(e), "missing {e}");
    }
}

#[test]
fn without_keys_the_default_options_fail_on_encrypted_files() {
    let err = render_with(&memfs(), Path::new("/app/overlay"), &Options::default()).expect_err("no keys");
    assert_eq!(err.kind(), kcmp::render::ErrorKind::Sops);
    assert!(err.to_string().contains("no key could decrypt the data key"), "{err}");
}

#[test]
fn templates_are_never_decrypted() {
    let mut fs = MemFs::new();
    let enc = std::fs::read(fixtures().join("enc/base/secret.enc.yaml")).expect("read");
    fs.insert("/app/secret.yaml.j2", enc);
    fs.insert("/app/kustomization.yaml", "resources:\n  - secret.yaml.j2\n");
    let options = Options { decryption: Decryption::Disabled, ..Options::default() };
    // Disabled refuses any file it is asked to decrypt, so reaching the template
    // engine (or rendering) proves the `.j2` file never went through sops.
    match render_with(&fs, Path::new("/app"), &options) {
        Ok(resources) => {
            let v = Value::Object(resources[0].obj.clone());
            assert!(v["data"]["password"].as_str().is_some_and(|s| s.starts_with("ENC[AES256_GCM,")), "{v}");
        }
        Err(e) => assert_ne!(e.kind(), kcmp::render::ErrorKind::Sops, "a template was decrypted: {e}"),
    }
}

/// `tests/fixtures/sops-emit/`: inputs (`x.yaml`) encrypted (`x.enc.yaml`) and
/// decrypted (`x.dec.yaml`) by the real sops 3.11.0 with test key A; generator
/// sources must come out byte for byte as `sops decrypt` printed them, so their
/// content hashes match a `sops -d` + kustomize pipeline.
#[test]
fn generator_sources_print_exactly_like_sops_decrypt() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sops-emit");
    let decryption = Decryption::Enabled(keyring("age-a.txt"));
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("dir").flatten() {
        let path = entry.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if !name.contains(".enc.") {
            continue;
        }
        let expected = std::fs::read(dir.join(name.replace(".enc.", ".dec."))).expect("expected");
        let got = decryption
            .source(&name, &std::fs::read(&path).expect("read"))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .unwrap_or_else(|| panic!("{name}: not detected"));
        assert!(
            got == expected,
            "{name}:\n{}\n---- sops decrypt:\n{}",
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&expected)
        );
        checked += 1;
    }
    assert_eq!(checked, 5);
}
