//! Patches (docs/kustomize-semantics.md §4): `patches` (SMP or JSON 6902, by target
//! or by the patch's own id), `patchesStrategicMerge`, `patchesJson6902`.
//! Target selection lives in `selector`; merge rules in `strategic`; RFC 6902 in `json6902`.
//!
//! STUB: signatures fixed by the lead; implementation pending (patch helper).

use crate::render::error::{Error, ErrorKind, Result};
use crate::render::kustomize::kustomization::Selector;
use crate::render::resource::Resource;
use serde_json::Value;

/// A patch after loading: its parsed documents and where it came from.
#[derive(Clone, Debug, Default)]
pub struct PatchInput {
    /// `path` of the patch file, or `inline patch` text head, for messages.
    pub origin: String,
    /// Parsed documents of the patch text (an SMP object, SMP objects, or a JSON-patch op list).
    pub docs: Vec<Value>,
    /// `target:` selector, if any.
    pub target: Option<Selector>,
    /// `options.allowNameChange`.
    pub allow_name_change: bool,
    /// `options.allowKindChange`.
    pub allow_kind_change: bool,
}

/// Merge-key schema: the built-in Kubernetes one, optionally replaced or extended by
/// a kustomization's `openapi:` document.
#[derive(Clone, Debug, Default)]
pub struct Schema {
    /// Custom OpenAPI document from `openapi: {path: ...}`, if any.
    pub custom: Option<Value>,
}

/// Applies one `patches:` entry (SMP or JSON 6902, classified from its content).
pub fn apply_patch(resources: &mut Vec<Resource>, patch: &PatchInput, schema: &Schema) -> Result<()> {
    let _ = (resources, patch, schema);
    Err(Error::new(ErrorKind::Unsupported, "patches are not implemented yet"))
}

/// Applies one `patchesStrategicMerge:` entry (each document finds its target by id).
pub fn apply_strategic_merge(resources: &mut Vec<Resource>, patch: &PatchInput, schema: &Schema) -> Result<()> {
    let _ = (resources, patch, schema);
    Err(Error::new(ErrorKind::Unsupported, "patchesStrategicMerge is not implemented yet"))
}

/// Applies one `patchesJson6902:` entry (target required).
pub fn apply_json6902(resources: &mut Vec<Resource>, patch: &PatchInput) -> Result<()> {
    let _ = (resources, patch);
    Err(Error::new(ErrorKind::Unsupported, "patchesJson6902 is not implemented yet"))
}
