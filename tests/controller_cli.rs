//! `kcmp app` as a process, without a cluster: manifests rendering, error texts and
//! the exit-code table (2 for every error, diff included).

use std::process::{Command, Output};

fn kcmp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kcmp")).args(args).env_remove("KUBECONFIG").output().expect("kcmp runs")
}

#[test]
fn manifests_render_the_apps_source_without_a_cluster() {
    let out = kcmp(&["app", "manifests", "testdata/apps/waves.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).replace('"', "");
    assert_eq!(text.matches("\nkind: ").count() + usize::from(text.starts_with("kind: ")), 4, "{text}");
    assert!(text.contains("argocd.argoproj.io/hook: PreSync"), "{text}");
}

#[test]
fn a_bad_kubeconfig_is_an_error_with_exit_code_2() {
    let out = kcmp(&["app", "diff", "--kubeconfig", "/nonexistent/kubeconfig", "testdata/apps/guestbook-dev.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: cluster config: reading kubeconfig /nonexistent/kubeconfig"), "{stderr}");
}

#[test]
fn an_invalid_application_file_names_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("app.yaml");
    std::fs::write(&file, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n").expect("write");
    let path = file.display().to_string();
    let out = kcmp(&["app", "manifests", &path]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim_end(),
        format!("error: {path}: invalid application: expected apiVersion argoproj.io/v1alpha1 and kind Application, found 'v1' 'ConfigMap'")
    );
}

#[test]
fn an_unknown_name_without_a_cluster_is_an_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_kcmp"))
        .args(["app", "sync", "no-such-app"])
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env("HOME", "/nonexistent-home")
        .output()
        .expect("kcmp runs");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "error: no cluster configured: pass --kubeconfig, set KUBECONFIG, or run in a pod"
    );
}
