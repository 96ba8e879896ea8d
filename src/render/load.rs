//! The engine's only file-system boundary. Everything the engine reads goes
//! through an [`Fs`] (disk, or memory for the sidecar and tests), and through
//! [`Loader`], which applies the load restrictor (docs/kustomize-semantics.md §1),
//! expands `.j2` templates and decrypts SOPS files *before* Kustomize sees the
//! bytes, so no other module reads files or handles template syntax or ciphertext.

use crate::render::error::{Error, ErrorKind, Result};
use std::collections::BTreeMap;
use std::io;
use std::path::{Component, Path, PathBuf};

/// A read-only file system view. Paths given to it are absolute and normalised.
pub trait Fs: Send + Sync {
    /// The whole content of a regular file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Whether `path` is a directory.
    fn is_dir(&self, path: &Path) -> bool;
    /// Whether `path` is a regular file.
    fn is_file(&self, path: &Path) -> bool;
    /// Direct children of a directory, sorted by name.
    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>>;
    /// The path with symlinks resolved (for the load restrictor and cycle checks).
    fn real_path(&self, path: &Path) -> io::Result<PathBuf>;
}

/// The real file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct DiskFs;

impl Fs for DiskFs {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }
    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }
    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }
    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(path)? {
            out.push(entry?.path());
        }
        out.sort();
        Ok(out)
    }
    fn real_path(&self, path: &Path) -> io::Result<PathBuf> {
        std::fs::canonicalize(path)
    }
}

/// An in-memory tree: file path -> bytes. Directories exist implicitly.
/// Used by the sidecar (rendering straight from the received archive) and tests.
#[derive(Clone, Debug, Default)]
pub struct MemFs {
    files: BTreeMap<PathBuf, Vec<u8>>,
}

impl MemFs {
    /// An empty tree.
    pub fn new() -> MemFs {
        MemFs::default()
    }

    /// Adds (or replaces) a file; `path` should be absolute.
    pub fn insert(&mut self, path: impl AsRef<Path>, content: impl Into<Vec<u8>>) {
        self.files.insert(normalize(path.as_ref()), content.into());
    }

    /// Builder form of [`MemFs::insert`].
    pub fn with(mut self, path: impl AsRef<Path>, content: impl Into<Vec<u8>>) -> MemFs {
        self.insert(path, content);
        self
    }
}

impl Fs for MemFs {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.files
            .get(&normalize(path))
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file or directory"))
    }
    fn is_dir(&self, path: &Path) -> bool {
        let p = normalize(path);
        self.files.keys().any(|f| f.starts_with(&p) && f != &p)
    }
    fn is_file(&self, path: &Path) -> bool {
        self.files.contains_key(&normalize(path))
    }
    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let p = normalize(path);
        if !self.is_dir(&p) {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such file or directory"));
        }
        let mut out: Vec<PathBuf> = Vec::new();
        for f in self.files.keys() {
            if let Ok(rest) = f.strip_prefix(&p) {
                if let Some(first) = rest.components().next() {
                    let child = p.join(first);
                    if out.last() != Some(&child) && !out.contains(&child) {
                        out.push(child);
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }
    fn real_path(&self, path: &Path) -> io::Result<PathBuf> {
        let p = normalize(path);
        if self.is_file(&p) || self.is_dir(&p) {
            Ok(p)
        } else {
            Err(io::Error::new(io::ErrorKind::NotFound, "no such file or directory"))
        }
    }
}

/// Lexical normalisation: removes `.` and folds `..` (no symlink resolution).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The load restrictor (`LoadRestrictionsRootOnly`): `file` must be in or below `root`.
pub fn check_in_root(fs: &dyn Fs, root: &Path, file: &Path) -> Result<PathBuf> {
    let real = fs.real_path(file).map_err(|e| io_error(file, e))?;
    let real_root = fs.real_path(root).map_err(|e| io_error(root, e))?;
    if real.starts_with(&real_root) {
        Ok(real)
    } else {
        Err(Error::new(
            ErrorKind::Security,
            format!(
                "file '{}' is not in or below '{}'; kustomize only loads files inside the kustomization's directory",
                file.display(),
                root.display()
            ),
        ))
    }
}

/// Maps an I/O failure on `path` to a render error naming the file. The cause is in the
/// message, not in `source`, so `{:#}` chains do not print it twice.
pub fn io_error(path: &Path, e: io::Error) -> Error {
    let what = match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".to_string(),
        _ => e.to_string(),
    };
    Error::new(ErrorKind::Io, format!("{}: {what}", path.display()))
}

/// Reads generator sources (`files`, `envs`) for leaves that must not see [`Loader`].
pub trait ReadSource {
    /// The bytes of `rel` (relative to the kustomization directory `dir`), after the
    /// load restrictor, template expansion (`.j2`) and SOPS decryption. Returns the
    /// logical file name (without `.j2`) with the bytes.
    fn read_source(&self, dir: &Path, rel: &str) -> Result<(PathBuf, Vec<u8>)>;
}

/// Reads files for the engine: restrictor, then template or SOPS, then parse.
pub struct Loader<'a> {
    /// Where bytes come from.
    pub fs: &'a dyn Fs,
    /// Template context for `.j2` files.
    pub template: &'a crate::render::template::Context,
    /// SOPS settings.
    pub decryption: &'a crate::render::sops::Decryption,
    /// The directory the build started in; template includes stay below it, and
    /// messages name files relative to it.
    pub app_root: PathBuf,
}

/// Whether a file is a template (its name ends in `.j2`).
pub fn is_template(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "j2")
}

impl Loader<'_> {
    /// A path for messages: relative to the app root when below it.
    pub fn display(&self, path: &Path) -> String {
        match path.strip_prefix(&self.app_root) {
            Ok(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
            _ => path.display().to_string(),
        }
    }

    /// A path relative to the app root, with `..` segments for files outside it
    /// (Kustomize's origin annotations are written this way).
    pub fn relative(&self, path: &Path) -> String {
        let from: Vec<_> = self.app_root.components().collect();
        let to: Vec<_> = path.components().collect();
        let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
        let mut rel = PathBuf::new();
        for _ in common..from.len() {
            rel.push("..");
        }
        for c in &to[common..] {
            rel.push(c.as_os_str());
        }
        rel.display().to_string()
    }

    fn read_text(&self, path: &Path) -> Result<String> {
        let bytes = self.fs.read(path).map_err(|e| io_error(path, e).in_file(self.display(path)))?;
        String::from_utf8(bytes)
            .map_err(|_| Error::new(ErrorKind::Yaml, "file is not valid UTF-8 text").in_file(self.display(path)))
    }

    /// The YAML/JSON documents of a resource, patch or kustomization file.
    /// `.j2` files are rendered structure-safely; SOPS files are decrypted.
    pub fn read_documents(&self, path: &Path) -> Result<Vec<crate::render::yaml::parse::Document>> {
        let text = self.read_text(path)?;
        let shown = self.display(path);
        if is_template(path) {
            return crate::render::template::render_yaml(self.template, self.fs, &self.app_root, path, &text)
                .map_err(|e| e.in_file(&shown));
        }
        if let Some(docs) = self.decryption.documents(&shown, &text)? {
            return Ok(docs);
        }
        crate::render::yaml::parse::parse_stream(&text)
            .map_err(|e| Error::new(ErrorKind::Yaml, e.message).in_file(&shown).at_line(e.line))
    }

    /// A plain (not templated) patch file read as Kustomize reads a JSON patch
    /// (go-yaml v2 scalars), if it is one op list.
    pub fn json_patch_ops(&self, path: &Path) -> Option<serde_json::Value> {
        if is_template(path) {
            return None;
        }
        crate::render::kustomize::patch::json_ops_of(&self.read_text(path).ok()?)
    }

    /// A file's bytes for a generator: template-rendered as text or SOPS-decrypted.
    pub fn read_bytes(&self, path: &Path) -> Result<Vec<u8>> {
        let shown = self.display(path);
        if is_template(path) {
            let text = self.read_text(path)?;
            return crate::render::template::render_text(self.template, self.fs, &self.app_root, path, &text)
                .map(String::into_bytes)
                .map_err(|e| e.in_file(&shown));
        }
        let bytes = self.fs.read(path).map_err(|e| io_error(path, e).in_file(&shown))?;
        match self.decryption.source(&shown, &bytes)? {
            Some(plain) => Ok(plain),
            None => Ok(bytes),
        }
    }
}

impl ReadSource for Loader<'_> {
    fn read_source(&self, dir: &Path, rel: &str) -> Result<(PathBuf, Vec<u8>)> {
        let path = normalize(&dir.join(rel));
        check_in_root(self.fs, dir, &path).map_err(|e| e.in_file(self.display(&path)))?;
        let bytes = self.read_bytes(&path)?;
        let logical = if is_template(&path) { path.with_extension("") } else { path };
        Ok((logical, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memfs_lists_children_and_dirs() {
        let fs = MemFs::new().with("/a/b/c.yaml", "x").with("/a/d.yaml", "y");
        assert!(fs.is_dir(Path::new("/a")));
        assert!(fs.is_dir(Path::new("/a/b")));
        assert!(fs.is_file(Path::new("/a/./b/../d.yaml")));
        assert_eq!(fs.read_dir(Path::new("/a")).expect("dir"), vec![PathBuf::from("/a/b"), PathBuf::from("/a/d.yaml")]);
    }

    #[test]
    fn restrictor_refuses_files_outside_root() {
        let fs = MemFs::new().with("/app/base/kustomization.yaml", "").with("/app/secret.yaml", "");
        let err =
            check_in_root(&fs, Path::new("/app/base"), Path::new("/app/base/../secret.yaml")).expect_err("outside");
        assert_eq!(err.kind(), ErrorKind::Security);
        assert!(err.to_string().contains("is not in or below '/app/base'"), "{err}");
    }
}
