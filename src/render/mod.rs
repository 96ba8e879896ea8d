//! The render engine: a directory in, `Vec<Resource>` out. Synchronous and free of
//! I/O other than through [`load::Fs`], so the CLI, the sidecar and the controller
//! all share one code path.
//!
//! Pipeline (docs/style.md "Data flow"): bytes -> template (`.j2`) -> SOPS -> YAML
//! -> Kustomize build (or a plain directory of manifests) -> resources -> [`emit`].

pub mod emit;
pub mod error;
pub mod gojson;
pub mod kustomize;
pub mod load;
pub mod resource;
pub mod sops;
pub mod template;
pub mod yaml;

pub use error::{Error, ErrorKind, Result};
pub use resource::{Gvk, ResId, Resource};

use load::{DiskFs, Fs, Loader};
use std::path::Path;

/// How a directory without a kustomization file is read (Argo CD "directory" source).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DirectoryMode {
    /// Only the directory's own `*.yaml|*.yml|*.json` files.
    #[default]
    TopLevel,
    /// Descend into subdirectories too (`--recurse`).
    Recurse,
}

/// Everything a render depends on besides the files: no environment is read below this.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Plain-directory handling.
    pub directory: DirectoryMode,
    /// Values for `.j2` templates.
    pub template: template::Context,
    /// SOPS settings.
    pub decryption: sops::Decryption,
}

/// Renders `dir` from the real file system.
pub fn render(dir: &Path, options: &Options) -> Result<Vec<Resource>> {
    render_with(&DiskFs, dir, options)
}

/// Renders `dir` read through `fs`: a kustomization if the directory has one,
/// otherwise its manifest files as they are.
pub fn render_with(fs: &dyn Fs, dir: &Path, options: &Options) -> Result<Vec<Resource>> {
    // The message already says what failed; a `source` would print the cause twice in `{:#}` chains.
    let root = fs.real_path(dir).map_err(|_| {
        Error::new(ErrorKind::Io, format!("must build at a directory: '{}' does not exist", dir.display()))
    })?;
    if !fs.is_dir(&root) {
        return Err(Error::new(
            ErrorKind::Io,
            format!("must build at a directory: '{}' is not a directory", dir.display()),
        ));
    }
    let loader = Loader { fs, template: &options.template, decryption: &options.decryption, app_root: root.clone() };
    let resources = if kustomize::find_kustomization_file(fs, &root)?.is_some() {
        kustomize::build(&loader, &root)?
    } else {
        kustomize::plain_directory(&loader, &root, options.directory)?
    };
    // kubectl fails on strings its YAML printer cannot read back (§12); so does kcmp.
    emit::check_printable(&resources)?;
    Ok(resources)
}
