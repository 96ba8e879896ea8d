//! The sync engine (docs/controller-sync.md §5): [`hooks`] reads phase, wave and
//! delete-policy annotations, [`plan`] orders the tasks (pure), [`execute`] runs them
//! against a [`crate::controller::kube::Cluster`]: dry-run everything, then wave by
//! wave prune, apply and wait for health, within one operation timeout; [`retry`]
//! spaces out repeated attempts.

pub mod execute;
pub mod hooks;
pub mod plan;
pub mod retry;

pub use hooks::{is_hook, Phase, HOOK_FINALIZER};

/// Deletion propagation for prunes and hook deletions (`PrunePropagationPolicy`,
/// default foreground).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Propagation {
    /// Dependents are deleted first.
    #[default]
    Foreground,
    /// The object goes first, dependents are collected later.
    Background,
    /// Dependents are kept.
    Orphan,
}

impl Propagation {
    /// Reads the `PrunePropagationPolicy` sync option; an unknown value is an error
    /// message naming the accepted ones.
    pub fn from_options(options: &crate::controller::application::SyncOptions) -> Result<Propagation, String> {
        match options.value("PrunePropagationPolicy") {
            None | Some("foreground") => Ok(Propagation::Foreground),
            Some("background") => Ok(Propagation::Background),
            Some("orphan") => Ok(Propagation::Orphan),
            Some(other) => Err(format!("PrunePropagationPolicy={other} is not one of foreground, background, orphan")),
        }
    }
}
