//! The sync planner (docs/controller-sync.md §5.2-§5.6, §5.8 prune rules): the
//! reconciled pairs and hooks in, an ordered list of tasks out, grouped by
//! (phase, wave). Pure; `execute` runs the groups against the cluster.

use crate::controller::application::SyncOptions;
use crate::controller::reconcile::Reconciled;
use crate::controller::sync::hooks::{self, DeletePolicy, Phase, Role};
use crate::controller::tracking::ResourceKey;
use crate::controller::{Error, Result};
use serde_json::{Map, Value};

/// Helm's install order (§5.5); kinds not listed sort after all of them.
pub const KIND_ORDER: &[&str] = &[
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
];

fn kind_rank(kind: &str) -> usize {
    KIND_ORDER.iter().position(|k| *k == kind).unwrap_or(KIND_ORDER.len())
}

/// How an object is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplyMode {
    /// Server-side apply with the kcmp field manager.
    Apply,
    /// `Replace=true`: PUT over the live object (create when absent).
    Replace,
}

/// Why a prune candidate is, or is not, deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PruneDecision {
    /// Delete it.
    Prune,
    /// Keep it; the message is the per-resource result ("ignored (no prune)", ...).
    Skip(String),
}

/// What a task does.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Create or update the target (resources and hooks).
    Apply(ApplyMode),
    /// Delete the live object (or skip, per the decision).
    Prune(PruneDecision),
}

/// One step of a sync.
#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    /// Phase it runs in.
    pub phase: Phase,
    /// Wave inside the phase.
    pub wave: i64,
    /// Object identity (a generateName hook carries its generated name).
    pub key: ResourceKey,
    /// Apply or prune.
    pub action: Action,
    /// Desired object (absent for prunes).
    pub target: Option<Map<String, Value>>,
    /// Live object at plan time.
    pub live: Option<Map<String, Value>>,
    /// For hooks: their delete policies.
    pub hook: Option<Vec<DeletePolicy>>,
    /// Server-side field validation on (`Validate=false` on the app or the object turns it off).
    pub validate: bool,
    /// `Force=true` / `--force`: an object the server refuses to update (immutable
    /// fields) is deleted and created again; with Replace it is always recreated.
    pub force: bool,
}

impl Task {
    /// Whether the task is a hook.
    pub fn is_hook(&self) -> bool {
        self.hook.is_some()
    }

    /// Whether `Force` may delete and recreate the live object. CRDs and Namespaces
    /// never are: deleting them takes every object in them along (§2 Replace).
    pub fn recreatable(&self) -> bool {
        self.force && self.live.is_some() && !matches!(self.key.kind.as_str(), "CustomResourceDefinition" | "Namespace")
    }

    /// Whether the task is a prune candidate (deleted, or kept with a reason).
    pub fn is_prune(&self) -> bool {
        matches!(self.action, Action::Prune(_))
    }
}

/// What the operation asks for, beside the app's objects.
#[derive(Clone, Debug, Default)]
pub struct PlanOptions {
    /// Delete resources that left the source (`--prune`, `automated.prune`).
    pub prune: bool,
    /// `syncPolicy.automated.allowEmpty`: permit pruning every resource.
    pub allow_empty: bool,
    /// Operation-level sync options.
    pub sync_options: SyncOptions,
    /// Run hooks (a full sync with the hook strategy).
    pub hooks: bool,
    /// Resolved revision (names generateName hooks).
    pub revision: String,
    /// Operation start, unix seconds (names generateName hooks).
    pub started_unix: i64,
    /// `--force`: recreate objects whose update is refused.
    pub force: bool,
}

/// The ordered tasks of one operation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// PreSync, Sync and PostSync tasks in execution order.
    pub tasks: Vec<Task>,
    /// SyncFail hooks, run only when the operation fails.
    pub sync_fail: Vec<Task>,
}

impl Plan {
    /// The tasks split into consecutive (phase, wave) groups, in order.
    pub fn groups(&self) -> Vec<&[Task]> {
        self.tasks.chunk_by(|a, b| (a.phase, a.wave) == (b.phase, b.wave)).collect()
    }

    /// Whether nothing is to be done.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

/// Builds the plan (§5.6): one task per resource (prune when the target is gone),
/// one per (hook, phase) when hooks run; prune decisions; wave overrides (prune waves
/// reversed, PruneLast); the sort of §5.5; Namespace/CRD bubbling.
///
/// Refuses (`Error::Plan`) to prune every resource of the app unless `allow_empty`.
pub fn plan(app: &str, reconciled: &Reconciled, opts: &PlanOptions) -> Result<Plan> {
    let app_opts = &opts.sync_options;
    let mut tasks: Vec<Task> = Vec::new();
    let mut prunable = 0usize;
    let mut live_targets = 0usize;
    for pair in &reconciled.resources {
        match (&pair.target, &pair.live) {
            (Some(target), live) => {
                live_targets += 1;
                let res_opts = SyncOptions::from_annotation(target);
                let live_opts = live.as_ref().map(SyncOptions::from_annotation).unwrap_or_default();
                let replace =
                    app_opts.has("Replace=true") || res_opts.has("Replace=true") || live_opts.has("Replace=true");
                tasks.push(Task {
                    phase: Phase::Sync,
                    wave: hooks::wave(target),
                    key: pair.key.clone(),
                    action: Action::Apply(if replace { ApplyMode::Replace } else { ApplyMode::Apply }),
                    target: Some(target.clone()),
                    live: live.clone(),
                    hook: None,
                    validate: !(app_opts.has("Validate=false") || res_opts.has("Validate=false")),
                    force: opts.force || res_opts.has("Force=true") || live_opts.has("Force=true"),
                });
            }
            (None, Some(live)) => {
                let decision = prune_decision(opts, live);
                if decision == PruneDecision::Prune {
                    prunable += 1;
                }
                tasks.push(Task {
                    phase: Phase::Sync,
                    wave: hooks::wave(live),
                    key: pair.key.clone(),
                    action: Action::Prune(decision),
                    target: None,
                    live: Some(live.clone()),
                    hook: None,
                    validate: true,
                    force: false,
                });
            }
            (None, None) => {}
        }
    }
    if opts.prune && prunable > 0 && live_targets == 0 && !opts.allow_empty {
        return Err(Error::Plan {
            app: app.to_string(),
            message: format!(
                "refusing to prune all {prunable} resources: the source rendered no resources; set syncPolicy.automated.allowEmpty: true if that is intended"
            ),
        });
    }
    let mut sync_fail = Vec::new();
    if opts.hooks {
        for hook in &reconciled.hooks {
            let Role::Hook(phases) = hooks::role(hook) else { continue };
            for phase in phases {
                let task = hook_task(hook, phase, opts);
                if phase == Phase::SyncFail {
                    sync_fail.push(task);
                } else {
                    tasks.push(task);
                }
            }
        }
    }
    apply_wave_overrides(&mut tasks, app_opts);
    tasks.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
    sync_fail.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
    bubble_dependencies(&mut tasks);
    Ok(Plan { tasks, sync_fail })
}

fn sort_key(t: &Task) -> (Phase, i64, usize, &str, &str) {
    (t.phase, t.wave, kind_rank(&t.key.kind), &t.key.name, &t.key.namespace)
}

/// §5.8 prune rules, in Argo CD's order: pruning off for the operation, then
/// `Prune=false` (live annotation or app option), then `Prune=confirm`.
fn prune_decision(opts: &PlanOptions, live: &Map<String, Value>) -> PruneDecision {
    let res = SyncOptions::from_annotation(live);
    if !opts.prune {
        return PruneDecision::Skip("ignored (requires pruning)".into());
    }
    if res.has("Prune=false") || opts.sync_options.has("Prune=false") {
        return PruneDecision::Skip("ignored (no prune)".into());
    }
    if res.has("Prune=confirm") || opts.sync_options.has("Prune=confirm") {
        return PruneDecision::Skip(
            "ignored (Prune=confirm needs a deletion approval, which kcmp does not support)".into(),
        );
    }
    PruneDecision::Prune
}

fn hook_task(hook: &Map<String, Value>, phase: Phase, opts: &PlanOptions) -> Task {
    let mut target = hook.clone();
    let mut key = ResourceKey::of(&target);
    if key.name.is_empty() {
        let generate = target
            .get("metadata")
            .and_then(|m| m.get("generateName"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let name = hooks::generated_hook_name(&generate, &opts.revision, phase, opts.started_unix);
        if let Some(meta) = target.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("generateName");
            meta.insert("name".into(), Value::String(name.clone()));
        }
        key.name = name;
    }
    let res_opts = SyncOptions::from_annotation(&target);
    let validate = !(opts.sync_options.has("Validate=false") || res_opts.has("Validate=false"));
    let force = opts.force || res_opts.has("Force=true");
    Task {
        phase,
        wave: hooks::wave(&target),
        key,
        action: Action::Apply(ApplyMode::Apply),
        hook: Some(hooks::delete_policies(&target)),
        target: Some(target),
        live: None,
        validate,
        force,
    }
}

/// §5.4: prune waves reversed (highest deleted first), then `PruneLast` prunes moved
/// to one wave after the last Sync-phase wave.
fn apply_wave_overrides(tasks: &mut [Task], app_opts: &SyncOptions) {
    let mut prune_waves: Vec<i64> = tasks.iter().filter(|t| t.is_prune()).map(|t| t.wave).collect();
    prune_waves.sort_unstable();
    prune_waves.dedup();
    for t in tasks.iter_mut().filter(|t| t.is_prune()) {
        if let Some(i) = prune_waves.iter().position(|w| *w == t.wave) {
            t.wave = prune_waves[prune_waves.len() - 1 - i];
        }
    }
    let last_sync_wave = tasks.iter().filter(|t| t.phase == Phase::Sync).map(|t| t.wave).max();
    if let Some(last) = last_sync_wave {
        for t in tasks.iter_mut().filter(|t| t.is_prune()) {
            let res = t.live.as_ref().map(SyncOptions::from_annotation).unwrap_or_default();
            if app_opts.has("PruneLast=true") || res.has("PruneLast=true") {
                t.wave = last + 1;
            }
        }
    }
}

/// §5.4 dependency bubbling: a Namespace moves in front of the first task in it, a
/// CRD in front of the first of its custom resources, taking that task's phase/wave.
fn bubble_dependencies(tasks: &mut Vec<Task>) {
    let mut i = 0;
    while i < tasks.len() {
        let dependency = match (&tasks[i].action, tasks[i].key.kind.as_str(), &tasks[i].target) {
            (Action::Apply(_), "Namespace", _) if tasks[i].key.group.is_empty() => {
                let ns = tasks[i].key.name.clone();
                Some(Box::new(move |t: &Task| t.key.namespace == ns) as Box<dyn Fn(&Task) -> bool>)
            }
            (Action::Apply(_), "CustomResourceDefinition", Some(crd)) => {
                let group = crd
                    .get("spec")
                    .and_then(|s| s.get("group"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let kind = crd
                    .get("spec")
                    .and_then(|s| s.get("names"))
                    .and_then(|n| n.get("kind"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                Some(Box::new(move |t: &Task| t.key.group == group && t.key.kind == kind) as Box<dyn Fn(&Task) -> bool>)
            }
            _ => None,
        };
        if let Some(depends) = dependency {
            if let Some(j) = tasks[..i].iter().position(|t| !t.is_prune() && depends(t)) {
                let mut dep = tasks.remove(i);
                dep.phase = tasks[j].phase;
                dep.wave = tasks[j].wave;
                tasks.insert(j, dep);
            }
        }
        i += 1;
    }
}

/// One `--resource GROUP:KIND:[NAMESPACE/]NAME` filter of a selective sync (`*`
/// matches anything in a field; a leading `!` excludes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    group: String,
    kind: String,
    namespace: Option<String>,
    name: String,
    exclude: bool,
}

impl Selector {
    /// Parses `GROUP:KIND:NAME` or `GROUP:KIND:NAMESPACE/NAME` (group empty for core kinds).
    pub fn parse(text: &str) -> std::result::Result<Selector, String> {
        let (exclude, body) = match text.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let parts: Vec<&str> = body.split(':').collect();
        let [group, kind, name] = parts.as_slice() else {
            return Err(format!("--resource {text:?}: expected GROUP:KIND:NAME or GROUP:KIND:NAMESPACE/NAME"));
        };
        let (namespace, name) = match name.split_once('/') {
            Some((ns, n)) => (Some(ns.to_string()), n.to_string()),
            None => (None, name.to_string()),
        };
        if kind.is_empty() || name.is_empty() {
            return Err(format!("--resource {text:?}: KIND and NAME must not be empty"));
        }
        Ok(Selector { group: group.to_string(), kind: kind.to_string(), namespace, name, exclude })
    }

    /// Selects exactly one object (self-heal syncs only the drifted resources).
    pub fn exact(key: &ResourceKey) -> Selector {
        Selector {
            group: key.group.clone(),
            kind: key.kind.clone(),
            namespace: Some(key.namespace.clone()),
            name: key.name.clone(),
            exclude: false,
        }
    }

    fn matches(&self, key: &ResourceKey) -> bool {
        let field = |pattern: &str, value: &str| pattern == "*" || pattern == value;
        field(&self.group, &key.group)
            && field(&self.kind, &key.kind)
            && field(&self.name, &key.name)
            && self.namespace.as_deref().is_none_or(|ns| field(ns, &key.namespace))
    }
}

/// The resources a selective sync touches: those matching an including selector
/// (all, when there are only exclusions) and no excluding one. Hooks are dropped:
/// a selective sync runs none (docs/controller-sync.md §5.2).
pub fn select(reconciled: &Reconciled, selectors: &[Selector]) -> Reconciled {
    let includes: Vec<&Selector> = selectors.iter().filter(|s| !s.exclude).collect();
    let excludes: Vec<&Selector> = selectors.iter().filter(|s| s.exclude).collect();
    let mut out = reconciled.clone();
    out.hooks.clear();
    out.resources.retain(|p| {
        (includes.is_empty() || includes.iter().any(|s| s.matches(&p.key)))
            && !excludes.iter().any(|s| s.matches(&p.key))
    });
    out
}
