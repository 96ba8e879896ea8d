//! `replacements:` (docs/kustomize-semantics.md §9).
//!
//! STUB: signature fixed by the lead; implementation pending (generators helper).

use crate::render::error::{Error, ErrorKind, Result};
use crate::render::kustomize::kustomization::Replacement;
use crate::render::resource::Resource;

/// Applies the replacements in order.
pub fn apply(resources: &mut [Resource], replacements: &[Replacement]) -> Result<()> {
    if replacements.is_empty() {
        return Ok(());
    }
    let _ = resources;
    Err(Error::new(ErrorKind::Unsupported, "replacements are not implemented yet"))
}
