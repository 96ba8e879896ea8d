//! Hook and wave annotations (docs/controller-sync.md §5.2-§5.4): which phase(s) an
//! object runs in, its delete policies, its wave, and the deterministic name of a
//! `generateName` hook. Pure.

use crate::controller::application::annotation;
use serde_json::{Map, Value};
use std::fmt;

/// Argo CD hook annotation.
pub const HOOK_ANNOTATION: &str = "argocd.argoproj.io/hook";
/// Argo CD hook delete-policy annotation.
pub const HOOK_DELETE_POLICY_ANNOTATION: &str = "argocd.argoproj.io/hook-delete-policy";
/// Helm hook annotation (mapped to Argo CD phases).
pub const HELM_HOOK_ANNOTATION: &str = "helm.sh/hook";
/// Helm delete-policy annotation.
pub const HELM_DELETE_POLICY_ANNOTATION: &str = "helm.sh/hook-delete-policy";
/// Helm hook weight: the wave when `sync-wave` is absent or unparsable.
pub const HELM_WEIGHT_ANNOTATION: &str = "helm.sh/hook-weight";
/// Wave annotation.
pub const SYNC_WAVE_ANNOTATION: &str = "argocd.argoproj.io/sync-wave";
/// Finalizer put on hooks so their result can be read before they vanish.
pub const HOOK_FINALIZER: &str = "argocd.argoproj.io/hook-finalizer";

/// Sync phases, in execution order (PreSync < Sync < PostSync < SyncFail).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Before the resources.
    PreSync,
    /// The resources (and `Sync` hooks).
    Sync,
    /// After every Sync-phase object is healthy.
    PostSync,
    /// Only when the operation fails.
    SyncFail,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::PreSync => "PreSync",
            Phase::Sync => "Sync",
            Phase::PostSync => "PostSync",
            Phase::SyncFail => "SyncFail",
        })
    }
}

/// What an object is to the sync engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// An ordinary resource, applied in the Sync phase, compared and pruned.
    Resource,
    /// A hook running in these phases (one task each).
    Hook(Vec<Phase>),
    /// `hook: Skip`: never applied, no status.
    Skip,
    /// A hook annotation with no usable type (Helm `test`, PreDelete/PostDelete only,
    /// unknown values): neither applied nor pruned.
    Ignored,
}

/// Hook delete policies (both annotations unioned; none = BeforeHookCreation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeletePolicy {
    /// Delete when the whole operation succeeds.
    HookSucceeded,
    /// Delete when the operation fails.
    HookFailed,
    /// Delete a leftover of the same name before creating the hook.
    BeforeHookCreation,
}

fn csv(text: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if !out.contains(&part) {
            out.push(part);
        }
    }
    out
}

/// Classifies an object by its hook annotations (§5.2).
pub fn role(obj: &Map<String, Value>) -> Role {
    if let Some(text) = annotation(obj, HOOK_ANNOTATION) {
        let values = csv(text);
        let mut phases = Vec::new();
        let mut skip = false;
        let mut delete_only = false;
        for v in &values {
            match *v {
                "PreSync" => phases.push(Phase::PreSync),
                "Sync" => phases.push(Phase::Sync),
                "PostSync" => phases.push(Phase::PostSync),
                "SyncFail" => phases.push(Phase::SyncFail),
                "Skip" => skip = true,
                "PreDelete" | "PostDelete" => delete_only = true,
                _ => {}
            }
        }
        if !phases.is_empty() {
            return Role::Hook(phases);
        }
        if skip {
            return Role::Skip;
        }
        if delete_only || !values.is_empty() {
            return Role::Ignored;
        }
    }
    if let Some(text) = annotation(obj, HELM_HOOK_ANNOTATION) {
        let values = csv(text);
        if values.iter().all(|v| *v == "crd-install") {
            return Role::Resource;
        }
        let mut phases = Vec::new();
        for v in &values {
            let phase = match *v {
                "pre-install" | "pre-upgrade" => Phase::PreSync,
                "post-install" | "post-upgrade" => Phase::PostSync,
                _ => continue,
            };
            if !phases.contains(&phase) {
                phases.push(phase);
            }
        }
        return if phases.is_empty() { Role::Ignored } else { Role::Hook(phases) };
    }
    Role::Resource
}

/// Whether the object is a hook of any phase (used by health aggregation too).
pub fn is_hook(obj: &Map<String, Value>) -> bool {
    matches!(role(obj), Role::Hook(_))
}

/// The delete policies of a hook (§5.3).
pub fn delete_policies(obj: &Map<String, Value>) -> Vec<DeletePolicy> {
    let mut out = Vec::new();
    for v in csv(annotation(obj, HOOK_DELETE_POLICY_ANNOTATION).unwrap_or_default()) {
        match v {
            "HookSucceeded" => out.push(DeletePolicy::HookSucceeded),
            "HookFailed" => out.push(DeletePolicy::HookFailed),
            "BeforeHookCreation" => out.push(DeletePolicy::BeforeHookCreation),
            _ => {}
        }
    }
    for v in csv(annotation(obj, HELM_DELETE_POLICY_ANNOTATION).unwrap_or_default()) {
        match v {
            "hook-succeeded" => out.push(DeletePolicy::HookSucceeded),
            "hook-failed" => out.push(DeletePolicy::HookFailed),
            "before-hook-creation" => out.push(DeletePolicy::BeforeHookCreation),
            _ => {}
        }
    }
    out.sort();
    out.dedup();
    if out.is_empty() {
        out.push(DeletePolicy::BeforeHookCreation);
    }
    out
}

/// The wave: `sync-wave`, else `helm.sh/hook-weight`, else 0 (§5.4).
pub fn wave(obj: &Map<String, Value>) -> i64 {
    let parse = |k: &str| annotation(obj, k).and_then(|v| v.trim().parse::<i64>().ok());
    parse(SYNC_WAVE_ANNOTATION).or_else(|| parse(HELM_WEIGHT_ANNOTATION)).unwrap_or(0)
}

/// Name of a hook created from `generateName`: `<generateName><rev[..7]>-<phase>-<unix>`,
/// lowercased, so one operation always names it the same (§5.3).
pub fn generated_hook_name(generate_name: &str, revision: &str, phase: Phase, started_unix: i64) -> String {
    let short: String = revision.chars().take(7).collect();
    format!("{generate_name}{short}-{phase}-{started_unix}").to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with_annotations(a: Value) -> Map<String, Value> {
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "annotations": a}})
            .as_object()
            .cloned()
            .expect("object")
    }

    #[test]
    fn argo_hook_values_are_trimmed_and_deduplicated() {
        let o = with_annotations(json!({HOOK_ANNOTATION: "PreSync, PostSync,PreSync"}));
        assert_eq!(role(&o), Role::Hook(vec![Phase::PreSync, Phase::PostSync]));
    }

    #[test]
    fn helm_hooks_map_to_phases_or_are_ignored() {
        assert_eq!(
            role(&with_annotations(json!({HELM_HOOK_ANNOTATION: "pre-upgrade"}))),
            Role::Hook(vec![Phase::PreSync])
        );
        assert_eq!(role(&with_annotations(json!({HELM_HOOK_ANNOTATION: "test"}))), Role::Ignored);
        assert_eq!(role(&with_annotations(json!({HELM_HOOK_ANNOTATION: "crd-install"}))), Role::Resource);
        let both = with_annotations(json!({HOOK_ANNOTATION: "PostSync", HELM_HOOK_ANNOTATION: "pre-install"}));
        assert_eq!(role(&both), Role::Hook(vec![Phase::PostSync]), "argo annotation wins");
    }

    #[test]
    fn skip_and_delete_only_hooks() {
        assert_eq!(role(&with_annotations(json!({HOOK_ANNOTATION: "Skip"}))), Role::Skip);
        assert_eq!(role(&with_annotations(json!({HOOK_ANNOTATION: "PreDelete"}))), Role::Ignored);
    }

    #[test]
    fn delete_policy_defaults_to_before_hook_creation_and_unions_helm() {
        assert_eq!(delete_policies(&with_annotations(json!({}))), vec![DeletePolicy::BeforeHookCreation]);
        let o = with_annotations(
            json!({HOOK_DELETE_POLICY_ANNOTATION: "HookSucceeded", HELM_DELETE_POLICY_ANNOTATION: "hook-failed"}),
        );
        assert_eq!(delete_policies(&o), vec![DeletePolicy::HookSucceeded, DeletePolicy::HookFailed]);
    }

    #[test]
    fn invalid_wave_falls_back_to_helm_weight_then_zero() {
        assert_eq!(wave(&with_annotations(json!({SYNC_WAVE_ANNOTATION: "-1"}))), -1);
        assert_eq!(wave(&with_annotations(json!({SYNC_WAVE_ANNOTATION: "abc", HELM_WEIGHT_ANNOTATION: "3"}))), 3);
        assert_eq!(wave(&with_annotations(json!({SYNC_WAVE_ANNOTATION: "abc"}))), 0);
    }

    #[test]
    fn generate_name_hooks_get_deterministic_lowercase_names() {
        assert_eq!(
            generated_hook_name("Migrate-", "ABCDEF0123456", Phase::PreSync, 1700000000),
            "migrate-abcdef0-presync-1700000000"
        );
    }
}
