//! The embedded GitOps controller (docs/controller-sync.md, controller-appset.md): ApplicationSet generation and
//! the auto-sync decision rules, both pure.
pub mod appset;
pub mod autosync;
