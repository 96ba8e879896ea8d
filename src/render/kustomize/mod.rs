//! Kustomize-compatible build of one directory (docs/kustomize-semantics.md §2).
//! PLACEHOLDER: the lead is writing the build algorithm.

pub mod fieldspec;
pub mod generators;
pub mod kustomization;
pub mod patch;
pub mod selector;
pub mod transformers;
pub mod vars;

use crate::render::error::{Error, ErrorKind, Result};
use crate::render::load::{Fs, Loader};
use crate::render::resource::Resource;
use crate::render::DirectoryMode;
use std::path::{Path, PathBuf};

/// The kustomization file of `dir`, if it has one (also `kustomization.yaml.j2`).
pub fn find_kustomization_file(fs: &dyn Fs, dir: &Path) -> Result<Option<PathBuf>> {
    let mut found = Vec::new();
    for name in kustomization::FILE_NAMES {
        for candidate in [dir.join(name), dir.join(format!("{name}.j2"))] {
            if fs.is_file(&candidate) {
                found.push(candidate);
            }
        }
    }
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(Error::new(
            ErrorKind::Kustomization,
            format!("Found multiple kustomization files under: {}", dir.display()),
        )),
    }
}

/// Builds the kustomization in `dir` (top level).
pub fn build(loader: &Loader<'_>, dir: &Path) -> Result<Vec<Resource>> {
    let _ = (loader, dir);
    Err(Error::new(ErrorKind::Unsupported, "kustomize build is not implemented yet"))
}

/// Reads a directory without a kustomization as plain manifests.
pub fn plain_directory(loader: &Loader<'_>, dir: &Path, mode: DirectoryMode) -> Result<Vec<Resource>> {
    let _ = (loader, dir, mode);
    Err(Error::new(ErrorKind::Unsupported, "plain directories are not implemented yet"))
}
