//! The git generator (docs/controller-appset.md §2.3): `directories` (one
//! parameter set per matching directory) or `files` (one per matching
//! YAML/JSON file, or per element when the file holds a list). The
//! repository is a checked-out tree behind [`RepoTree`]; walking a local
//! directory ([`LocalDir`]) is the only I/O of the ApplicationSet code, and
//! tests use [`MemoryTree`].

use super::clusters::add_values;
use super::glob::{self, Mode};
use super::params::{flatten_strings, go_numbers, path_params, Params};
use super::render::Engine;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// `generators[].git`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitGenerator {
    /// Repository URL (the key into [`Repos`]).
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// Branch, tag or commit ("" = HEAD).
    #[serde(default)]
    pub revision: String,
    /// Directory patterns.
    #[serde(default)]
    pub directories: Vec<PathPattern>,
    /// File patterns.
    #[serde(default)]
    pub files: Vec<PathPattern>,
    /// Requeue interval (default 180 s).
    #[serde(default)]
    pub requeue_after_seconds: Option<u64>,
    /// Prefix for the path params.
    #[serde(default)]
    pub path_param_prefix: String,
    /// Extra params, templated like the clusters generator's.
    #[serde(default)]
    pub values: BTreeMap<String, String>,
    /// Generator-level template.
    #[serde(default)]
    pub template: Option<Value>,
}

/// One `directories[]` / `files[]` entry.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PathPattern {
    /// Glob relative to the repository root.
    pub path: String,
    /// Matching paths are removed (exclude wins over include).
    #[serde(default)]
    pub exclude: bool,
}

/// How `*` behaves in `files` patterns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Globbing {
    /// Argo CD's default: `*` also matches `/`.
    Greedy,
    /// The new-file-globbing flag: `*` stops at `/`, `**` crosses directories.
    Strict,
}

/// A checked-out repository tree. Paths are relative, `/`-separated, without
/// a leading `./`.
pub trait RepoTree {
    /// Every directory except the root and anything under a hidden (`.`) directory.
    fn dirs(&self) -> Result<Vec<String>, String>;
    /// Every regular file outside `.git`.
    fn files(&self) -> Result<Vec<String>, String>;
    /// A file's bytes.
    fn read(&self, path: &str) -> Result<Vec<u8>, String>;
}

/// Finds the checked-out tree of a repository at a revision.
pub trait Repos {
    /// The tree for `repo_url` at `revision`; an error when not available.
    fn tree(&self, repo_url: &str, revision: &str) -> Result<&dyn RepoTree, String>;
}

/// Repositories keyed by URL (and optionally revision): what the controller
/// checked out for this reconcile, or memory trees in tests.
#[derive(Default)]
pub struct RepoSet {
    trees: BTreeMap<(String, String), Box<dyn RepoTree>>,
}

impl RepoSet {
    /// An empty set: every git generator fails with "not checked out".
    pub fn new() -> RepoSet {
        RepoSet::default()
    }

    /// Adds a tree for `repo_url`; `revision` None serves every revision.
    pub fn insert(&mut self, repo_url: &str, revision: Option<&str>, tree: Box<dyn RepoTree>) {
        self.trees.insert((repo_url.to_string(), revision.unwrap_or("*").to_string()), tree);
    }
}

impl Repos for RepoSet {
    fn tree(&self, repo_url: &str, revision: &str) -> Result<&dyn RepoTree, String> {
        let exact = self.trees.get(&(repo_url.to_string(), revision.to_string()));
        exact
            .or_else(|| self.trees.get(&(repo_url.to_string(), "*".to_string())))
            .map(|b| b.as_ref())
            .ok_or_else(|| format!("repository {repo_url} at revision {revision:?} is not checked out"))
    }
}

/// A tree held in memory: file path -> bytes; directories derive from paths.
#[derive(Clone, Debug, Default)]
pub struct MemoryTree {
    files: BTreeMap<String, Vec<u8>>,
    extra_dirs: BTreeSet<String>,
}

impl MemoryTree {
    /// A tree of the given files.
    pub fn new<I, P, B>(files: I) -> MemoryTree
    where
        I: IntoIterator<Item = (P, B)>,
        P: Into<String>,
        B: Into<Vec<u8>>,
    {
        MemoryTree {
            files: files.into_iter().map(|(p, b)| (p.into(), b.into())).collect(),
            extra_dirs: BTreeSet::new(),
        }
    }

    /// Adds an empty directory.
    pub fn with_dir(mut self, dir: &str) -> MemoryTree {
        self.extra_dirs.insert(dir.to_string());
        self
    }
}

impl RepoTree for MemoryTree {
    fn dirs(&self) -> Result<Vec<String>, String> {
        let mut dirs: BTreeSet<String> = self.extra_dirs.clone();
        for path in self.files.keys() {
            let mut parts: Vec<&str> = path.split('/').collect();
            parts.pop();
            for i in 1..=parts.len() {
                dirs.insert(parts[..i].join("/"));
            }
        }
        Ok(dirs.into_iter().filter(|d| !d.split('/').any(|s| s.starts_with('.'))).collect())
    }

    fn files(&self) -> Result<Vec<String>, String> {
        Ok(self.files.keys().filter(|p| !p.split('/').any(|s| s == ".git")).cloned().collect())
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        self.files.get(path).cloned().ok_or_else(|| format!("{path}: no such file"))
    }
}

/// A checked-out repository on disk.
#[derive(Clone, Debug)]
pub struct LocalDir {
    root: PathBuf,
}

impl LocalDir {
    /// The tree rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> LocalDir {
        LocalDir { root: root.into() }
    }

    fn walk(&self, want_dirs: bool) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        let walker = walkdir::WalkDir::new(&self.root).min_depth(1).sort_by_file_name().into_iter();
        for entry in walker.filter_entry(|e| {
            let hidden = e.file_name().to_string_lossy().starts_with('.');
            !(e.file_type().is_dir() && (e.file_name() == ".git" || (want_dirs && hidden)))
        }) {
            let entry = entry.map_err(|e| format!("walking {}: {e}", self.root.display()))?;
            let is_match = if want_dirs { entry.file_type().is_dir() } else { entry.file_type().is_file() };
            if !is_match {
                continue;
            }
            let rel = entry.path().strip_prefix(&self.root).map_err(|e| e.to_string())?;
            let parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            out.push(parts.join("/"));
        }
        Ok(out)
    }
}

impl RepoTree for LocalDir {
    fn dirs(&self) -> Result<Vec<String>, String> {
        self.walk(true)
    }

    fn files(&self) -> Result<Vec<String>, String> {
        self.walk(false)
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        if path.split('/').any(|s| s == "..") {
            return Err(format!("{path}: path leaves the repository"));
        }
        std::fs::read(self.root.join(path)).map_err(|e| format!("{path}: {e}"))
    }
}

/// The (repoURL, revision) pairs the git generators of `generators` read,
/// including those inside matrix/merge, so the caller can check them out
/// before calling [`super::generate`]. An empty revision reads `HEAD`. A
/// repoURL templated from a matrix's first child (it holds `{{`) is only
/// known during generation and is left out; generation then reports it as
/// not checked out.
pub fn repositories(generators: &[Value]) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for entry in generators {
        if let Some(git) = entry.get("git") {
            let url = git.get("repoURL").and_then(Value::as_str).unwrap_or_default();
            let revision = git.get("revision").and_then(Value::as_str).filter(|r| !r.is_empty()).unwrap_or("HEAD");
            if !url.is_empty() && !url.contains("{{") && !revision.contains("{{") {
                out.insert((url.to_string(), revision.to_string()));
            }
        }
        for kind in ["matrix", "merge"] {
            if let Some(children) = entry.get(kind).and_then(|m| m.get("generators")).and_then(Value::as_array) {
                out.extend(repositories(children));
            }
        }
    }
    out
}

/// Parameter sets for one git generator.
pub fn generate(
    g: &GitGenerator,
    repos: &dyn Repos,
    globbing: Globbing,
    engine: &Engine,
) -> Result<Vec<Params>, String> {
    if g.repo_url.is_empty() {
        return Err("repoURL is empty".into());
    }
    let revision = if g.revision.is_empty() { "HEAD" } else { g.revision.as_str() };
    let tree = repos.tree(&g.repo_url, revision)?;
    let go = engine.is_go();
    let prefix = Some(g.path_param_prefix.as_str()).filter(|p| !p.is_empty());
    let mut out = Vec::new();
    if !g.directories.is_empty() {
        for dir in filter(&tree.dirs()?, &g.directories, |p, s| glob::matches(p, s, Mode::PathMatch))? {
            let mut params = path_params(&dir, None, go, prefix);
            add_values(&mut params, &g.values, engine)?;
            out.push(params);
        }
    } else if !g.files.is_empty() {
        let star = match globbing {
            Globbing::Greedy => Mode::Greedy,
            Globbing::Strict => Mode::DoubleStar,
        };
        for file in filter(&tree.files()?, &g.files, |p, s| glob::matches(p, s, star))? {
            for object in parse_file(&file, &tree.read(&file)?)? {
                let (dir, name) = match file.rsplit_once('/') {
                    Some((d, n)) => (d.to_string(), n.to_string()),
                    None => (".".to_string(), file.clone()),
                };
                let mut params = if go { object } else { flatten_strings(&object) };
                for (k, v) in path_params(&dir, Some(&name), go, prefix) {
                    params.insert(k, v);
                }
                add_values(&mut params, &g.values, engine)?;
                out.push(params);
            }
        }
    } else {
        return Err("set directories or files".into());
    }
    Ok(out)
}

/// Keeps paths matching an include pattern and no exclude pattern, sorted.
fn filter(
    paths: &[String],
    patterns: &[PathPattern],
    matches: impl Fn(&str, &str) -> Result<bool, String>,
) -> Result<Vec<String>, String> {
    let mut out = BTreeSet::new();
    for path in paths {
        let mut include = false;
        let mut exclude = false;
        for p in patterns {
            if matches(&p.path, path)? {
                if p.exclude {
                    exclude = true;
                } else {
                    include = true;
                }
            }
        }
        if include && !exclude {
            out.insert(path.clone());
        }
    }
    Ok(out.into_iter().collect())
}

/// A file is one YAML/JSON map or a list of maps; an empty file is one empty map.
fn parse_file(path: &str, bytes: &[u8]) -> Result<Vec<Params>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| format!("{path}: not utf-8 text"))?;
    let docs = crate::render::yaml::parse::parse_stream(text)
        .map_err(|e| format!("{path}: unable to parse file (line {}): {e}", e.line))?;
    let value = go_numbers(docs.into_iter().next().map(|d| d.value).unwrap_or(Value::Null));
    match value {
        Value::Null => Ok(vec![Params::new()]),
        Value::Object(map) => Ok(vec![map]),
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Object(map) => Ok(map),
                _ => Err(format!("{path}: list element {i} is not a map")),
            })
            .collect(),
        _ => Err(format!("{path}: must hold a map or a list of maps")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::appset::gotemplate;
    use serde_json::json;

    fn repos(tree: MemoryTree) -> RepoSet {
        let mut set = RepoSet::new();
        set.insert("https://git.example/repo.git", None, Box::new(tree));
        set
    }

    fn gen(v: Value) -> GitGenerator {
        serde_json::from_value(v).expect("git generator parses")
    }

    fn apps_tree() -> MemoryTree {
        MemoryTree::new([
            ("apps/guestbook/kustomization.yaml", ""),
            ("apps/legacy/kustomization.yaml", ""),
            ("apps/web/deep/x.yaml", ""),
            (".hidden/a.yaml", ""),
            ("README.md", ""),
        ])
    }

    #[test]
    fn directories_exclude_wins_regardless_of_order() {
        let g = gen(json!({"repoURL": "https://git.example/repo.git", "revision": "main",
                           "directories": [{"path": "apps/legacy", "exclude": true}, {"path": "apps/*"}]}));
        let sets = generate(&g, &repos(apps_tree()), Globbing::Greedy, &Engine::fast()).expect("generates");
        let paths: Vec<&str> = sets.iter().map(|s| s["path"].as_str().unwrap_or_default()).collect();
        assert_eq!(paths, ["apps/guestbook", "apps/web"]);
        assert_eq!(sets[0]["path.basename"], json!("guestbook"));
        assert_eq!(sets[0]["path[1]"], json!("guestbook"));
    }

    #[test]
    fn directories_go_mode_with_prefix_and_values() {
        let g = gen(json!({"repoURL": "https://git.example/repo.git", "directories": [{"path": "apps/guestbook"}],
                           "pathParamPrefix": "app", "values": {"ns": "{{.app.path.basename}}-ns"}}));
        let engine = Engine::go(gotemplate::Options::default());
        let sets = generate(&g, &repos(apps_tree()), Globbing::Greedy, &engine).expect("generates");
        assert_eq!(sets[0]["app"]["path"]["segments"], json!(["apps", "guestbook"]));
        assert_eq!(sets[0]["values"]["ns"], json!("guestbook-ns"));
    }

    #[test]
    fn files_list_gives_one_set_per_element() {
        let tree = MemoryTree::new([
            ("envs/dev/config.json", r#"[{"cluster": {"name": "a", "port": 8080}}, {"cluster": {"name": "b"}}]"#),
            ("envs/prod/config.json", "cluster:\n  name: p\n"),
            ("envs/prod/other.yaml", "x: 1"),
        ]);
        let g = gen(json!({"repoURL": "https://git.example/repo.git", "files": [{"path": "envs/*/config.json"}]}));
        let sets = generate(&g, &repos(tree), Globbing::Greedy, &Engine::fast()).expect("generates");
        let names: Vec<&str> = sets.iter().map(|s| s["cluster.name"].as_str().unwrap_or_default()).collect();
        assert_eq!(names, ["a", "b", "p"]);
        assert_eq!(sets[0]["cluster.port"], json!("8080"));
        assert_eq!(sets[0]["path"], json!("envs/dev"));
        assert_eq!(sets[0]["path.filename"], json!("config.json"));
        assert_eq!(sets[2]["path.basename"], json!("prod"));
    }

    #[test]
    fn files_greedy_vs_strict_globbing_and_excludes() {
        let tree = MemoryTree::new([("a/x/c.yaml", "k: 1"), ("a/c.yaml", "k: 2"), ("a/skip/c.yaml", "k: 3")]);
        let g = gen(json!({"repoURL": "https://git.example/repo.git",
                           "files": [{"path": "a/*.yaml"}, {"path": "a/skip/*", "exclude": true}]}));
        let greedy = generate(&g, &repos(tree.clone()), Globbing::Greedy, &Engine::fast()).expect("generates");
        assert_eq!(greedy.len(), 2);
        let strict = generate(&g, &repos(tree), Globbing::Strict, &Engine::fast()).expect("generates");
        assert_eq!(strict.len(), 1);
        assert_eq!(strict[0]["k"], json!("2"));
    }

    #[test]
    fn bad_files_and_missing_repos_are_errors() {
        let tree = MemoryTree::new([("c.yaml", "- 1\n- 2\n"), ("d.yaml", "a: [")]);
        let g = gen(json!({"repoURL": "https://git.example/repo.git", "files": [{"path": "c.yaml"}]}));
        let err = generate(&g, &repos(tree.clone()), Globbing::Greedy, &Engine::fast()).expect_err("list of scalars");
        assert_eq!(err, "c.yaml: list element 0 is not a map");
        let g = gen(json!({"repoURL": "https://git.example/repo.git", "files": [{"path": "d.yaml"}]}));
        let err = generate(&g, &repos(tree), Globbing::Greedy, &Engine::fast()).expect_err("bad yaml");
        assert!(err.starts_with("d.yaml: unable to parse file"), "{err}");
        let g = gen(json!({"repoURL": "https://elsewhere", "files": [{"path": "*"}]}));
        let err = generate(&g, &RepoSet::new(), Globbing::Greedy, &Engine::fast()).expect_err("no repo");
        assert_eq!(err, "repository https://elsewhere at revision \"HEAD\" is not checked out");
    }

    #[test]
    fn repositories_lists_literal_git_sources_in_nested_generators() {
        let gens = [
            json!({"git": {"repoURL": "https://a", "directories": [{"path": "*"}]}}),
            json!({"matrix": {"generators": [
                {"git": {"repoURL": "https://b", "revision": "v1", "files": [{"path": "*"}]}},
                {"git": {"repoURL": "{{.url}}", "files": [{"path": "*"}]}}
            ]}}),
            json!({"list": {"elements": []}}),
        ];
        let repos: Vec<(String, String)> = repositories(&gens).into_iter().collect();
        assert_eq!(repos, [("https://a".to_string(), "HEAD".to_string()), ("https://b".to_string(), "v1".to_string())]);
    }

    #[test]
    fn local_dir_walks_disk_skipping_hidden_dirs() {
        let dir = tempfile::tempdir().expect("tempdir");
        for p in ["apps/a/k.yaml", "apps/b/k.yaml", ".git/config", ".github/x.yaml"] {
            let full = dir.path().join(p);
            std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
            std::fs::write(full, "x: y").expect("write");
        }
        let tree = LocalDir::new(dir.path());
        assert_eq!(tree.dirs().expect("dirs"), ["apps", "apps/a", "apps/b"]);
        assert_eq!(tree.files().expect("files"), [".github/x.yaml", "apps/a/k.yaml", "apps/b/k.yaml"]);
        assert_eq!(tree.read("apps/a/k.yaml").expect("read"), b"x: y");
        assert!(tree.read("../etc/passwd").is_err());
    }
}
