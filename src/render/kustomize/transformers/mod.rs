//! The built-in transformers, in Kustomize's fixed order (§2 step 5).

pub mod replacements;
