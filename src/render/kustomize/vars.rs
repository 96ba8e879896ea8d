//! Legacy `vars:` and `$(VAR)` substitution (docs/kustomize-semantics.md §9).
//!
//! STUB: signature fixed by the lead; implementation pending (generators helper).

use crate::render::error::{Error, ErrorKind, Result};
use crate::render::kustomize::fieldspec::FieldSpec;
use crate::render::kustomize::kustomization::Var;
use crate::render::resource::Resource;

/// Resolves every var against `resources` and substitutes `$(NAME)` at the
/// `varReference` field specs. Runs once, at the top level, after name references.
pub fn resolve(resources: &mut [Resource], vars: &[Var], var_reference: &[FieldSpec]) -> Result<()> {
    if vars.is_empty() {
        return Ok(());
    }
    let _ = (resources, var_reference);
    Err(Error::new(ErrorKind::Unsupported, "vars are not implemented yet"))
}
