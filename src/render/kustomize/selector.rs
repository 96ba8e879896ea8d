//! Object selectors (docs/kustomize-semantics.md §4.1, §9): patch targets match
//! group/version/kind/name/namespace as anchored regexes against current *and*
//! previous ids; replacements match them exactly; both understand Kubernetes
//! label-selector syntax for `labelSelector` / `annotationSelector`.
//!
//! STUB: signatures fixed by the lead; implementation pending (patch helper).

use crate::render::error::{Error, ErrorKind, Result};
use crate::render::kustomize::kustomization::Selector;
use crate::render::resource::Resource;
use serde_json::{Map, Value};

/// How name/namespace/GVK fields of a [`Selector`] are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Matching {
    /// Anchored RE2-style regexes (`patches[].target`).
    Regex,
    /// Exact string equality (`replacements`).
    Exact,
}

/// Whether `res` is selected by `sel` (any of its current or previous ids).
pub fn selects(sel: &Selector, res: &Resource, matching: Matching) -> Result<bool> {
    let _ = (sel, res, matching);
    Err(Error::new(ErrorKind::Unsupported, "selectors are not implemented yet"))
}

/// Whether `labels` satisfy a Kubernetes label selector string (`a=b,c!=d,x in (y),!k,k`).
pub fn matches_label_selector(selector: &str, labels: Option<&Map<String, Value>>) -> Result<bool> {
    let _ = (selector, labels);
    Err(Error::new(ErrorKind::Unsupported, "label selectors are not implemented yet"))
}
