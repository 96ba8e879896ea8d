//! Sources: a Git repository checked out at targetRevision (local repository, the
//! `git` CLI), plain directories, and the template variables an app passes to the engine.

use kcmp::controller::application::Application;
use kcmp::controller::source::{fetch, template_vars, SourceOptions};
use kcmp::controller::{self, Options};
use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn app(repo: &str, path: &str, revision: &str) -> Application {
    let yaml = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: demo}}\nspec:\n  source: {{repoURL: {repo}, path: {path:?}, targetRevision: {revision:?}}}\n  destination: {{namespace: default}}\n"
    );
    Application::from_yaml(&yaml, "app.yaml").expect("app")
}

fn config_map(value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  version: {value}\n")
}

/// `<tmp>/repo`: a git repository whose first commit (tag `v1`) has
/// `app/cm.yaml` with version "one".
fn repo_tagged_v1() -> (tempfile::TempDir, std::path::PathBuf) {
    let base = tempfile::tempdir().expect("tempdir");
    let repo = base.path().join("repo");
    std::fs::create_dir_all(repo.join("app")).expect("mkdir");
    git(&repo, &["init", "--quiet"]);
    std::fs::write(repo.join("app/cm.yaml"), config_map("one")).expect("write");
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "--quiet", "-m", "one"]);
    git(&repo, &["tag", "v1"]);
    (base, repo)
}

#[tokio::test]
async fn git_sources_are_checked_out_at_the_target_revision() {
    let (base, repo) = repo_tagged_v1();
    std::fs::write(repo.join("app/cm.yaml"), config_map("two")).expect("write");
    git(&repo, &["commit", "--quiet", "-am", "two"]);

    let opts = Options {
        controller_namespace: "argocd".into(),
        source: SourceOptions { base_dir: base.path().to_path_buf(), ..Default::default() },
        render: Default::default(),
    };
    for (revision, want) in [("v1", "one"), ("main", "two"), ("", "two")] {
        let desired = controller::desired(&app("./repo", "app", revision), &opts).await.expect("render");
        assert_eq!(desired.objects.len(), 1);
        assert_eq!(desired.objects[0]["data"]["version"], want, "revision {revision:?}");
        assert_eq!(desired.checkout.revision.len(), 40, "resolved to a commit sha");
    }
    let err = fetch(&app("./repo", "app", "no-such-branch"), &opts.source).await.expect_err("unknown revision");
    assert!(err.to_string().contains("targetRevision 'no-such-branch' is not a branch, tag or commit"), "{err}");
    let err = fetch(&app("./repo", "../..", ""), &opts.source).await.expect_err("escape");
    assert!(err.to_string().ends_with("path '../..' leaves the repository"), "{err}");
}

#[tokio::test]
async fn with_a_mirror_directory_fetches_update_one_mirror_per_repository() {
    let (base, repo) = repo_tagged_v1();
    let mirrors = tempfile::tempdir().expect("mirror dir");
    let opts = Options {
        controller_namespace: "argocd".into(),
        source: SourceOptions {
            base_dir: base.path().to_path_buf(),
            mirrors: Some(mirrors.path().to_path_buf()),
            ..Default::default()
        },
        render: Default::default(),
    };
    let version = |d: &controller::Desired| d.objects[0]["data"]["version"].clone();
    // Two apps on the same repository at once: one mirror, no git lock clash.
    let (on_main, on_tag) = (app("./repo", "app", "main"), app("./repo", "app", "v1"));
    let (a, b) = tokio::join!(controller::desired(&on_main, &opts), controller::desired(&on_tag, &opts));
    assert_eq!(version(&a.expect("main")), "one");
    assert_eq!(version(&b.expect("v1")), "one");

    std::fs::write(repo.join("app/cm.yaml"), config_map("two")).expect("write");
    git(&repo, &["commit", "--quiet", "-am", "two"]);
    let fetched = controller::desired(&app("./repo", "app", ""), &opts).await.expect("after a new commit");
    assert_eq!(version(&fetched), "two", "the mirror was fetched");
    assert_eq!(version(&controller::desired(&app("./repo", "app", "v1"), &opts).await.expect("tag")), "one");
    let err = fetch(&app("./repo", "app", "no-such-branch"), &opts.source).await.expect_err("unknown revision");
    assert!(err.to_string().contains("targetRevision 'no-such-branch' is not a branch, tag or commit"), "{err}");

    let entries: Vec<_> = std::fs::read_dir(mirrors.path()).expect("list").filter_map(|e| e.ok()).collect();
    assert_eq!(entries.len(), 1, "one mirror and no leftovers: {entries:?}");
    // A broken mirror is cloned again instead of failing every fetch from then on.
    let mirror = entries[0].path();
    std::fs::write(mirror.join("config"), "not a git config\n").expect("break it");
    let repaired = controller::desired(&app("./repo", "app", "main"), &opts).await.expect("repaired");
    assert_eq!(version(&repaired), "two");
}

#[tokio::test]
async fn plain_directories_render_as_they_are_and_refuse_revisions() {
    let base = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(base.path().join("plain")).expect("mkdir");
    std::fs::write(base.path().join("plain/cm.yaml"), config_map("x")).expect("write");
    let source = SourceOptions { base_dir: base.path().to_path_buf(), ..Default::default() };
    let checkout = fetch(&app("./plain", "", ""), &source).await.expect("plain dir");
    assert_eq!(checkout.revision, "local");
    let err = fetch(&app("./plain", "", "v2"), &source).await.expect_err("revision on a plain dir");
    assert!(err.to_string().contains("is a plain directory, so targetRevision 'v2' cannot be checked out"), "{err}");
}

#[test]
fn plugin_env_and_parameters_become_template_variables() {
    let yaml = r#"
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: shop}
spec:
  source:
    repoURL: https://example.com/r.git
    path: apps/shop
    targetRevision: main
    plugin:
      env: [{name: STAGE, value: prod}]
      parameters:
      - {name: replicas, string: "3"}
      - {name: tags, array: [a, b]}
  destination: {namespace: shop}
"#;
    let a = Application::from_yaml(yaml, "app.yaml").expect("app");
    let vars = template_vars(&a, "0123456789");
    let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("ARGOCD_ENV_STAGE"), Some("prod"));
    assert_eq!(get("ARGOCD_APP_NAME"), Some("shop"));
    assert_eq!(get("ARGOCD_APP_NAMESPACE"), Some("shop"));
    assert_eq!(get("ARGOCD_APP_REVISION_SHORT"), Some("0123456"));
    assert_eq!(get("ARGOCD_APP_SOURCE_PATH"), Some("apps/shop"));
    let params: serde_json::Value = serde_json::from_str(get("ARGOCD_APP_PARAMETERS").expect("params")).expect("json");
    assert_eq!(params, serde_json::json!([{"name": "replicas", "string": "3"}, {"name": "tags", "array": ["a", "b"]}]));
}

#[tokio::test]
async fn helm_sources_are_refused_with_a_reason() {
    let yaml = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: h}\nspec:\n  source: {repoURL: https://charts.example.com, chart: nginx, targetRevision: 1.0.0}\n";
    let a = Application::from_yaml(yaml, "app.yaml").expect("app");
    let err = fetch(&a, &SourceOptions::default()).await.expect_err("helm");
    assert_eq!(
        err.to_string(),
        "application 'h': source: helm sources are not supported: kcmp renders kustomizations and plain directories"
    );
}

#[tokio::test]
async fn multi_source_apps_are_refused_rather_than_half_rendered() {
    let yaml = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: m}\nspec:\n  sources:\n  - {repoURL: ./a}\n  - {repoURL: ./b}\n";
    let a = Application::from_yaml(yaml, "app.yaml").expect("app");
    let err = fetch(&a, &SourceOptions::default()).await.expect_err("two sources");
    assert_eq!(
        err.to_string(),
        "application 'm': source: 2 sources in spec.sources: kcmp renders one source; split the app or merge the sources"
    );
}
