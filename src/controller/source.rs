//! From an Application's source to desired objects: fetch (a local directory, or a
//! Git repository checked out at `targetRevision` with the `git` CLI under a
//! timeout), then render with kcmp's engine using the app's plugin env and
//! parameters as template context (docs/controller-sync.md §1.1 `plugin`).
//! The first step of every compare and sync.

use crate::controller::application::{Application, ApplicationSource};
use crate::controller::{Error, Result};
use crate::render;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where sources come from.
#[derive(Clone, Debug)]
pub struct SourceOptions {
    /// Directory relative `repoURL`s resolve against (the Application file's directory).
    pub base_dir: PathBuf,
    /// Render this directory instead of the app's source (`--local`).
    pub local: Option<PathBuf>,
    /// Bound on each `git` command.
    pub git_timeout: Duration,
    /// The `git` executable.
    pub git: PathBuf,
    /// Keep one bare mirror per repository here and fetch into it, instead of
    /// cloning the whole repository for every fetch. `kcmp controller` sets it:
    /// it fetches every app's source at every reconcile.
    pub mirrors: Option<PathBuf>,
}

impl Default for SourceOptions {
    fn default() -> Self {
        SourceOptions {
            base_dir: PathBuf::from("."),
            local: None,
            git_timeout: Duration::from_secs(120),
            git: "git".into(),
            mirrors: None,
        }
    }
}

/// One lock per mirror directory, so two reconciles of apps on the same
/// repository never run git in the same mirror at once.
fn mirror_lock(path: &Path) -> std::sync::Arc<tokio::sync::Mutex<()>> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let mut locks = LOCKS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    locks.entry(path.to_path_buf()).or_default().clone()
}

/// Brings the mirror of `repo` under `root` up to date (cloning it the first
/// time) and returns its path. A mirror whose fetch fails is cloned again once,
/// so a broken cache directory repairs itself; a repository that cannot be
/// reached still fails.
async fn update_mirror(app: &Application, opts: &SourceOptions, root: &Path, repo: &str) -> Result<PathBuf> {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(repo.as_bytes());
    let name: String = digest.iter().take(10).map(|b| format!("{b:02x}")).collect();
    let path = root.join(format!("{name}.git"));
    let lock = mirror_lock(&path);
    let _held = lock.lock().await;
    if path.join("HEAD").exists() {
        let fetched = git(app, opts, Some(&path), &["fetch", "--quiet", "--prune"]).await;
        match fetched {
            Ok(_) => return Ok(path),
            Err(e) => tracing::warn!(error = %e, mirror = %path.display(), "mirror fetch failed; cloning it again"),
        }
    }
    std::fs::create_dir_all(root)
        .map_err(|e| source_error(app, format!("creating the mirror directory {}: {e}", root.display())))?;
    let _ = std::fs::remove_dir_all(&path);
    let fresh = tempfile::tempdir_in(root)
        .map_err(|e| source_error(app, format!("creating a directory in {}: {e}", root.display())))?;
    let staged = fresh.path().join("mirror.git");
    let staged_str = staged.display().to_string();
    git(app, opts, None, &["clone", "--quiet", "--mirror", "--", repo, &staged_str]).await?;
    std::fs::rename(&staged, &path)
        .map_err(|e| source_error(app, format!("moving the new mirror to {}: {e}", path.display())))?;
    Ok(path)
}

/// A fetched source: the directory to render and the resolved revision. Holds the
/// temporary clone, removed on drop.
#[derive(Debug)]
pub struct Checkout {
    /// Directory to render (repository root joined with `path`).
    pub dir: PathBuf,
    /// Resolved commit SHA, or `local` for a plain directory.
    pub revision: String,
    _clone: Option<tempfile::TempDir>,
}

fn source_error(app: &Application, message: impl Into<String>) -> Error {
    Error::Source { app: app.metadata.name.clone(), message: message.into() }
}

fn check_supported(app: &Application, src: &ApplicationSource) -> Result<()> {
    if !src.chart.is_empty() || src.helm.is_some() {
        return Err(source_error(
            app,
            "helm sources are not supported: kcmp renders kustomizations and plain directories",
        ));
    }
    if src.kustomize.as_ref().is_some_and(|k| k.as_object().is_some_and(|m| !m.is_empty())) {
        return Err(source_error(
            app,
            "spec.source.kustomize overrides are not supported: move them into the kustomization.yaml",
        ));
    }
    Ok(())
}

/// Fetches the app's source (see the module doc).
pub async fn fetch(app: &Application, opts: &SourceOptions) -> Result<Checkout> {
    if let Some(dir) = &opts.local {
        return Ok(Checkout { dir: dir.clone(), revision: "local".into(), _clone: None });
    }
    if app.spec.sources.len() > 1 {
        return Err(source_error(
            app,
            format!(
                "{} sources in spec.sources: kcmp renders one source; split the app or merge the sources",
                app.spec.sources.len()
            ),
        ));
    }
    let src = app.primary_source().ok_or_else(|| source_error(app, "spec.source is required"))?;
    check_supported(app, src)?;
    let url = src.repo_url.strip_prefix("file://").unwrap_or(&src.repo_url);
    let is_remote = url.contains("://") || url.contains('@');
    if !is_remote {
        let root = opts.base_dir.join(url);
        if root.is_dir() && !root.join(".git").exists() {
            if !matches!(src.target_revision.as_str(), "" | "HEAD") {
                return Err(source_error(
                    app,
                    format!(
                        "repoURL {} is a plain directory, so targetRevision '{}' cannot be checked out: make it a git repository or drop targetRevision",
                        root.display(),
                        src.target_revision
                    ),
                ));
            }
            return Ok(Checkout { dir: join_inside(app, &root, &src.path)?, revision: "local".into(), _clone: None });
        }
    }
    let repo = if is_remote { url.to_string() } else { opts.base_dir.join(url).display().to_string() };
    let tmp = tempfile::tempdir().map_err(|e| source_error(app, format!("creating a temporary directory: {e}")))?;
    let work = tmp.path().join("repo");
    let work_str = work.display().to_string();
    match &opts.mirrors {
        Some(root) => {
            let mirror = update_mirror(app, opts, root, &repo).await?.display().to_string();
            // `--shared` borrows the mirror's objects: the clone costs a few files.
            git(app, opts, None, &["clone", "--quiet", "--no-checkout", "--shared", "--", &mirror, &work_str]).await?;
        }
        None => {
            git(app, opts, None, &["clone", "--quiet", "--no-checkout", "--", &repo, &work_str]).await?;
        }
    }
    let rev = src.target_revision.as_str();
    let candidates: Vec<String> = if rev.is_empty() || rev == "HEAD" {
        vec!["origin/HEAD".into(), "HEAD".into()]
    } else {
        vec![format!("origin/{rev}"), rev.to_string()]
    };
    let mut sha = None;
    for c in &candidates {
        let spec = format!("{c}^{{commit}}");
        if let Ok(out) = git(app, opts, Some(&work), &["rev-parse", "--verify", "--quiet", &spec]).await {
            sha = Some(out.trim().to_string());
            break;
        }
    }
    let sha = sha
        .ok_or_else(|| source_error(app, format!("targetRevision '{rev}' is not a branch, tag or commit of {repo}")))?;
    git(app, opts, Some(&work), &["checkout", "--quiet", "--detach", &sha]).await?;
    Ok(Checkout { dir: join_inside(app, &work, &src.path)?, revision: sha, _clone: Some(tmp) })
}

fn join_inside(app: &Application, root: &Path, path: &str) -> Result<PathBuf> {
    let dir = root.join(path);
    let (Ok(root_real), Ok(dir_real)) = (root.canonicalize(), dir.canonicalize()) else {
        return Err(source_error(app, format!("path '{path}' does not exist in the repository")));
    };
    if !dir_real.starts_with(&root_real) {
        return Err(source_error(app, format!("path '{path}' leaves the repository")));
    }
    Ok(dir_real)
}

async fn git(app: &Application, opts: &SourceOptions, cwd: Option<&Path>, args: &[&str]) -> Result<String> {
    let mut cmd = tokio::process::Command::new(&opts.git);
    if let Some(dir) = cwd {
        cmd.arg("-C").arg(dir);
    }
    cmd.args(args).env("GIT_TERMINAL_PROMPT", "0").stdin(std::process::Stdio::null()).kill_on_drop(true);
    let shown = args.first().copied().unwrap_or_default();
    let out = tokio::time::timeout(opts.git_timeout, cmd.output())
        .await
        .map_err(|_| source_error(app, format!("git {shown} timed out after {}s", opts.git_timeout.as_secs())))?
        .map_err(|e| source_error(app, format!("running {}: {e}", opts.git.display())))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(source_error(app, format!("git {shown} failed: {}", stderr.trim())));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The environment-style variables the templates see, as the CMP sidecar would get
/// them from Argo CD: `ARGOCD_APP_*`, `ARGOCD_ENV_<name>`, `ARGOCD_APP_PARAMETERS`.
pub fn template_vars(app: &Application, revision: &str) -> Vec<(String, String)> {
    let src = app.primary_source().cloned().unwrap_or_default();
    let short: String = revision.chars().take(7).collect();
    let mut vars = vec![
        ("ARGOCD_APP_NAME".to_string(), app.metadata.name.clone()),
        ("ARGOCD_APP_NAMESPACE".into(), app.spec.destination.namespace.clone()),
        (
            "ARGOCD_APP_PROJECT_NAME".into(),
            if app.spec.project.is_empty() { "default".into() } else { app.spec.project.clone() },
        ),
        ("ARGOCD_APP_REVISION".into(), revision.to_string()),
        ("ARGOCD_APP_REVISION_SHORT".into(), short),
        ("ARGOCD_APP_SOURCE_PATH".into(), src.path.clone()),
        ("ARGOCD_APP_SOURCE_REPO_URL".into(), src.repo_url.clone()),
        ("ARGOCD_APP_SOURCE_TARGET_REVISION".into(), src.target_revision.clone()),
    ];
    if let Some(plugin) = &src.plugin {
        for e in &plugin.env {
            vars.push((format!("ARGOCD_ENV_{}", e.name), e.value.clone()));
        }
        if !plugin.parameters.is_empty() {
            let params = serde_json::to_string(&plugin.parameters).unwrap_or_else(|_| "[]".into());
            vars.push(("ARGOCD_APP_PARAMETERS".into(), params));
        }
    }
    vars
}

/// Renders a checkout with the engine (on a blocking thread). `base` supplies the
/// decryption settings; the template context comes from the app.
pub async fn render(app: &Application, checkout: &Checkout, base: &render::Options) -> Result<Vec<Map<String, Value>>> {
    let vars = template_vars(app, &checkout.revision);
    let template = render::template::Context::from_vars(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|source| Error::Render { app: app.metadata.name.clone(), path: checkout.dir.clone(), source })?;
    let recurse = app
        .primary_source()
        .and_then(|s| s.directory.as_ref())
        .and_then(|d| d.get("recurse"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let options = render::Options {
        directory: if recurse { render::DirectoryMode::Recurse } else { render::DirectoryMode::TopLevel },
        template,
        decryption: base.decryption.clone(),
    };
    let dir = checkout.dir.clone();
    let name = app.metadata.name.clone();
    let result = tokio::task::spawn_blocking(move || render::render(&dir, &options))
        .await
        .map_err(|e| Error::Source { app: name, message: format!("render task failed: {e}") })?;
    let resources = result.map_err(|source| Error::Render {
        app: app.metadata.name.clone(),
        path: checkout.dir.clone(),
        source,
    })?;
    Ok(resources.into_iter().map(|r| r.obj).collect())
}
