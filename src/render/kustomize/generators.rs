//! ConfigMap / Secret generators (docs/kustomize-semantics.md §5) and the
//! name-suffix hash (§6).
//!
//! STUB: signatures fixed by the lead; implementation pending (generators helper).

use crate::render::error::{Error, ErrorKind, Result};
use crate::render::kustomize::kustomization::{GeneratorArgs, GeneratorOptions};
use crate::render::load::ReadSource;
use crate::render::resource::Resource;
use std::path::Path;

/// Which generator an entry belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GeneratorKind {
    /// `configMapGenerator`.
    ConfigMap,
    /// `secretGenerator`.
    Secret,
}

/// Builds the object of one generator entry. `global` is the kustomization's
/// `generatorOptions`; `dir` the kustomization directory sources are relative to.
pub fn generate(
    kind: GeneratorKind,
    args: &GeneratorArgs,
    global: Option<&GeneratorOptions>,
    dir: &Path,
    sources: &dyn ReadSource,
) -> Result<Resource> {
    let _ = (kind, args, global, dir, sources);
    Err(Error::new(ErrorKind::Unsupported, "generators are not implemented yet"))
}

/// Adds a generated object to the accumulated ones following its `behavior`
/// (create / merge / replace).
pub fn merge_generated(resources: &mut Vec<Resource>, generated: Resource) -> Result<()> {
    let _ = (resources, generated);
    Err(Error::new(ErrorKind::Unsupported, "generators are not implemented yet"))
}

/// Appends `-<hash>` to every object marked `needs_hash` (top level only, §2.1 step 8).
pub fn add_hash_suffixes(resources: &mut [Resource]) -> Result<()> {
    let _ = resources;
    Ok(())
}
