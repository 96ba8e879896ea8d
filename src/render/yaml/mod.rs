//! YAML in and out: [`parse`] reads streams into ordered JSON values with
//! Kustomize's scalar resolution; [`emit`] writes them back byte-compatible with
//! `kubectl kustomize` (go-yaml v2 style, keys sorted). No serde_yaml-style
//! crate gives either exactly, so both sit on an event-level parser
//! (saphyr-parser) and a hand-written emitter.

pub mod emit;
pub mod parse;
