//! Running a [`Plan`] (docs/controller-sync.md §5.7-§5.8) in one pass: create the
//! destination namespace if asked, dry-run every task (any failure applies nothing),
//! then group by group: prune, delete leftover hooks (BeforeHookCreation), apply, and
//! wait for health before the next group. The final group is not health-gated unless
//! it holds hooks. Failure runs the SyncFail hooks; hook delete policies are honoured
//! at the end. Every wait is bounded by the operation timeout.
//!
//! Argo CD runs the same algorithm as a re-entrant step function persisted on the
//! Application; kcmp's CLI holds the state in memory for the one operation. Hooks
//! get no `hook-finalizer` for that reason (nothing else reads their result).

use crate::controller::health::{self, HealthStatus};
use crate::controller::kube::{ApplyOptions, Cluster, KindScope};
use crate::controller::sync::hooks::{DeletePolicy, Phase};
use crate::controller::sync::plan::{Action, ApplyMode, Plan, PruneDecision, Task};
use crate::controller::sync::Propagation;
use crate::controller::tracking::ResourceKey;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

/// How the operation runs.
#[derive(Clone, Debug)]
pub struct ExecuteOptions {
    /// Only dry-run: nothing is changed.
    pub dry_run: bool,
    /// Bound on the whole operation; never wait forever.
    pub timeout: Duration,
    /// Pause between health polls.
    pub poll_interval: Duration,
    /// Pause after a wave before judging the next (Argo CD's 2 s `ARGOCD_SYNC_WAVE_DELAY`).
    pub wave_delay: Duration,
    /// Deletion propagation for prunes and hook deletions.
    pub propagation: Propagation,
}

impl Default for ExecuteOptions {
    fn default() -> Self {
        ExecuteOptions {
            dry_run: false,
            timeout: Duration::from_secs(300),
            poll_interval: Duration::from_secs(2),
            wave_delay: Duration::from_secs(2),
            propagation: Propagation::Foreground,
        }
    }
}

/// Per-resource result (`syncResult.resources[].status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResultStatus {
    /// Applied.
    Synced,
    /// Apply, prune or hook failed.
    SyncFailed,
    /// Deleted.
    Pruned,
    /// Kept although it left the source.
    PruneSkipped,
}

impl fmt::Display for ResultStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResultStatus::Synced => "Synced",
            ResultStatus::SyncFailed => "SyncFailed",
            ResultStatus::Pruned => "Pruned",
            ResultStatus::PruneSkipped => "PruneSkipped",
        })
    }
}

/// State of one task (`hookPhase`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskState {
    /// Applied, waiting for health or deletion.
    Running,
    /// Done.
    Succeeded,
    /// Failed.
    Failed,
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaskState::Running => "Running",
            TaskState::Succeeded => "Succeeded",
            TaskState::Failed => "Failed",
        })
    }
}

/// The result of one task.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskResult {
    /// Which object.
    pub key: ResourceKey,
    /// Phase it ran in.
    pub phase: Phase,
    /// Wave it ran in.
    pub wave: i64,
    /// Whether it is a hook.
    pub hook: bool,
    /// Sync result.
    pub status: ResultStatus,
    /// Task state.
    pub state: TaskState,
    /// Why.
    pub message: String,
}

/// Final phase of an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperationPhase {
    /// Everything ran.
    Succeeded,
    /// Something failed (or the timeout hit); see the message.
    Failed,
}

impl fmt::Display for OperationPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OperationPhase::Succeeded => "Succeeded",
            OperationPhase::Failed => "Failed",
        })
    }
}

/// What an operation did.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// Final phase.
    pub phase: OperationPhase,
    /// Argo CD-style operation message.
    pub message: String,
    /// Per-task results in execution order.
    pub results: Vec<TaskResult>,
}

/// Live progress, for the CLI.
#[derive(Debug)]
pub enum Event<'a> {
    /// The destination namespace was created (`CreateNamespace=true`).
    NamespaceCreated(&'a str),
    /// Every task passed the dry-run.
    DryRunPassed(usize),
    /// A group starts.
    Group {
        /// Its phase.
        phase: Phase,
        /// Its wave.
        wave: i64,
        /// How many tasks.
        tasks: usize,
    },
    /// A task result was recorded or changed.
    Result(&'a TaskResult),
    /// Waiting on something (health, deletion).
    Waiting(&'a str),
}

struct Run<'a, C: Cluster> {
    cluster: &'a C,
    opts: &'a ExecuteOptions,
    deadline: Instant,
    results: Vec<TaskResult>,
    applied_hooks: Vec<(Task, usize)>,
    api_versions: BTreeMap<ResourceKey, String>,
    progress: &'a mut dyn FnMut(&Event<'_>),
}

fn api_version(t: &Task) -> &str {
    t.target.as_ref().or(t.live.as_ref()).and_then(|o| o.get("apiVersion")).and_then(Value::as_str).unwrap_or_default()
}

/// Runs `plan`. `create_namespace` is the Namespace object to create before the
/// dry-run (`CreateNamespace=true` and it does not exist yet).
pub async fn execute<C: Cluster>(
    cluster: &C,
    plan: &Plan,
    create_namespace: Option<&Map<String, Value>>,
    opts: &ExecuteOptions,
    progress: &mut dyn FnMut(&Event<'_>),
) -> Outcome {
    let mut run = Run {
        cluster,
        opts,
        deadline: Instant::now() + opts.timeout,
        results: Vec::new(),
        applied_hooks: Vec::new(),
        api_versions: plan
            .tasks
            .iter()
            .chain(&plan.sync_fail)
            .map(|t| (t.key.clone(), api_version(t).to_string()))
            .collect(),
        progress,
    };
    let pending_namespace = create_namespace.map(|ns| ResourceKey::of(ns).name);
    if let Some(ns) = create_namespace {
        if !opts.dry_run {
            let write = ApplyOptions { mode: ApplyMode::Apply, dry_run: false, validate: true };
            if let Err(e) = cluster.apply(ns, write).await {
                return run.fail(plan, format!("failed to create namespace: {e}")).await;
            }
            let name = ResourceKey::of(ns).name;
            (run.progress)(&Event::NamespaceCreated(&name));
        }
    }
    if let Err(message) = run.dry_run(plan, if opts.dry_run { pending_namespace.as_deref() } else { None }).await {
        return Outcome { phase: OperationPhase::Failed, message, results: run.results };
    }
    (run.progress)(&Event::DryRunPassed(plan.tasks.len()));
    if opts.dry_run {
        for t in &plan.tasks {
            let (status, message) = match &t.action {
                Action::Apply(_) => (ResultStatus::Synced, "applied (dry run)".to_string()),
                Action::Prune(PruneDecision::Prune) => (ResultStatus::Pruned, "pruned (dry run)".to_string()),
                Action::Prune(PruneDecision::Skip(m)) => (ResultStatus::PruneSkipped, m.clone()),
            };
            run.record(t, status, TaskState::Succeeded, message);
        }
        return Outcome {
            phase: OperationPhase::Succeeded,
            message: "successfully synced (dry run)".into(),
            results: run.results,
        };
    }
    let groups = plan.groups();
    for (i, group) in groups.iter().enumerate() {
        let last = i + 1 == groups.len();
        if let Err(message) = run.group(group).await {
            return run.fail(plan, message).await;
        }
        if !last || group.iter().any(Task::is_hook) {
            if let Err(message) = run.wait(group.len()).await {
                return run.fail(plan, message).await;
            }
        } else {
            run.finish_unwatched(group.len());
        }
        if !last && !opts.wave_delay.is_zero() {
            tokio::time::sleep(opts.wave_delay).await;
        }
    }
    run.delete_hooks(DeletePolicy::HookSucceeded).await;
    Outcome {
        phase: OperationPhase::Succeeded,
        message: "successfully synced (all tasks run)".into(),
        results: run.results,
    }
}

impl<C: Cluster> Run<'_, C> {
    fn record(&mut self, t: &Task, status: ResultStatus, state: TaskState, message: String) -> usize {
        self.results.push(TaskResult {
            key: t.key.clone(),
            phase: t.phase,
            wave: t.wave,
            hook: t.is_hook(),
            status,
            state,
            message,
        });
        let i = self.results.len() - 1;
        (self.progress)(&Event::Result(&self.results[i]));
        i
    }

    fn update(&mut self, i: usize, status: ResultStatus, state: TaskState, message: String) {
        let r = &mut self.results[i];
        if r.state == state && r.status == status && r.message == message {
            return;
        }
        r.status = status;
        r.state = state;
        r.message = message;
        (self.progress)(&Event::Result(&self.results[i]));
    }

    /// §5.7 step 2b: a server-side dry-run of every task; nothing is written.
    async fn dry_run(&mut self, plan: &Plan, pending_namespace: Option<&str>) -> Result<(), String> {
        let mut failures = Vec::new();
        for t in &plan.tasks {
            let av = api_version(t);
            if self.cluster.scope(av, &t.key.kind).is_none() {
                let crd_in_sync = plan.tasks.iter().any(|c| defines_kind(c, &t.key));
                if !crd_in_sync {
                    failures.push(format!("{}: the server has no resource type for {av} {}", t.key, t.key.kind));
                }
                continue;
            }
            let namespace_created_later = !t.key.namespace.is_empty()
                && (pending_namespace == Some(t.key.namespace.as_str())
                    || plan.tasks.iter().any(|n| {
                        n.key.group.is_empty()
                            && n.key.kind == "Namespace"
                            && n.key.name == t.key.namespace
                            && n.live.is_none()
                    }));
            if namespace_created_later {
                continue;
            }
            let result = match (&t.action, &t.target) {
                (Action::Apply(mode), Some(target)) => {
                    if t.is_hook() && self.hook_will_be_recreated(t).await {
                        continue;
                    }
                    let write = ApplyOptions { mode: *mode, dry_run: true, validate: t.validate };
                    match self.cluster.apply(target, write).await {
                        // Force recreates what the server refuses to update.
                        Err(e) if t.recreatable() && refused_update(&e) => Ok(()),
                        other => other.map(|_| ()),
                    }
                }
                (Action::Prune(PruneDecision::Prune), _) => {
                    self.cluster.delete(av, &t.key, self.opts.propagation, true).await
                }
                _ => Ok(()),
            };
            if let Err(e) = result {
                failures.push(e.to_string());
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(format!("one or more objects failed to apply (dry run): {}", failures.join("; ")))
        }
    }

    /// A hook whose leftover will be deleted first (BeforeHookCreation) cannot be
    /// dry-run against the leftover (Jobs are immutable), so its dry-run is skipped.
    async fn hook_will_be_recreated(&self, t: &Task) -> bool {
        let policies = t.hook.as_deref().unwrap_or_default();
        policies.contains(&DeletePolicy::BeforeHookCreation)
            && matches!(self.cluster.get(api_version(t), &t.key).await, Ok(Some(_)))
    }

    /// §5.8: prunes, then BeforeHookCreation deletions, then applies in order.
    async fn group(&mut self, group: &[Task]) -> Result<(), String> {
        if let Some(first) = group.first() {
            tracing::debug!(phase = %first.phase, wave = first.wave, tasks = group.len(), "running group");
            (self.progress)(&Event::Group { phase: first.phase, wave: first.wave, tasks: group.len() });
        }
        let mut failures = Vec::new();
        for t in group.iter().filter(|t| t.is_prune()) {
            match &t.action {
                Action::Prune(PruneDecision::Skip(m)) => {
                    self.record(t, ResultStatus::PruneSkipped, TaskState::Succeeded, m.clone());
                }
                _ => match self.cluster.delete(api_version(t), &t.key, self.opts.propagation, false).await {
                    Ok(()) => {
                        self.record(t, ResultStatus::Pruned, TaskState::Running, "pruned".into());
                    }
                    Err(e) => {
                        failures.push(e.to_string());
                        self.record(t, ResultStatus::SyncFailed, TaskState::Failed, e.to_string());
                    }
                },
            }
        }
        for t in group.iter().filter(|t| t.is_hook()) {
            if t.hook.as_deref().unwrap_or_default().contains(&DeletePolicy::BeforeHookCreation) {
                if let Err(e) = self.delete_and_wait(t).await {
                    failures.push(e);
                }
            }
        }
        if !failures.is_empty() {
            return Err(format!("one or more objects failed to apply, reason: {}", failures.join("; ")));
        }
        for t in group.iter().filter(|t| !t.is_prune()) {
            let (Action::Apply(mode), Some(target)) = (&t.action, &t.target) else { continue };
            let write = ApplyOptions { mode: *mode, dry_run: false, validate: t.validate };
            let result = if t.recreatable() && *mode == ApplyMode::Replace {
                self.recreate(t, target, write).await
            } else {
                match self.cluster.apply(target, write).await {
                    Err(e) if t.recreatable() && refused_update(&e) => self.recreate(t, target, write).await,
                    other => other.map_err(|e| e.to_string()),
                }
            };
            match result {
                Ok(_) => {
                    let verb = if t.live.is_some() && !t.is_hook() { "configured" } else { "created" };
                    let i = self.record(t, ResultStatus::Synced, TaskState::Running, format!("{} {verb}", t.key.name));
                    if t.is_hook() {
                        self.applied_hooks.push((t.clone(), i));
                    }
                }
                Err(e) => {
                    failures.push(e.clone());
                    self.record(t, ResultStatus::SyncFailed, TaskState::Failed, e);
                    break;
                }
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(format!("one or more objects failed to apply, reason: {}", failures.join("; ")))
        }
    }

    /// Force: delete the live object, wait until it is gone, create it again.
    async fn recreate(
        &mut self,
        t: &Task,
        target: &Map<String, Value>,
        write: ApplyOptions,
    ) -> Result<Map<String, Value>, String> {
        self.delete_and_wait(t).await?;
        self.cluster.apply(target, write).await.map_err(|e| e.to_string())
    }

    async fn delete_and_wait(&mut self, t: &Task) -> Result<(), String> {
        let av = api_version(t).to_string();
        match self.cluster.get(&av, &t.key).await {
            Ok(None) => return Ok(()),
            Ok(Some(_)) => {}
            Err(e) => return Err(e.to_string()),
        }
        self.cluster.delete(&av, &t.key, self.opts.propagation, false).await.map_err(|e| e.to_string())?;
        let what = if t.is_hook() { "hook " } else { "" };
        let waiting = format!("waiting for deletion of {what}{}/{}/{}", t.key.group, t.key.kind, t.key.name);
        loop {
            match self.cluster.get(&av, &t.key).await {
                Ok(None) => return Ok(()),
                Ok(Some(_)) => {}
                Err(e) => return Err(e.to_string()),
            }
            if Instant::now() >= self.deadline {
                return Err(format!("operation timed out after {}s: {waiting}", self.opts.timeout.as_secs()));
            }
            (self.progress)(&Event::Waiting(&waiting));
            tokio::time::sleep(self.opts.poll_interval).await;
        }
    }

    /// Marks the last group's results done without a health gate (§5.7 step 11).
    fn finish_unwatched(&mut self, n: usize) {
        let start = self.results.len().saturating_sub(n);
        for i in start..self.results.len() {
            if self.results[i].state == TaskState::Running {
                let (status, message) = (self.results[i].status, self.results[i].message.clone());
                self.update(i, status, TaskState::Succeeded, message);
            }
        }
    }

    /// §5.7 steps 3-5: poll the last `n` results until each is done; a Degraded
    /// resource, a failed hook or a vanished object fails the operation.
    async fn wait(&mut self, n: usize) -> Result<(), String> {
        let start = self.results.len().saturating_sub(n);
        loop {
            let mut waiting: Vec<String> = Vec::new();
            let mut failed: Vec<String> = Vec::new();
            for i in start..self.results.len() {
                if self.results[i].state != TaskState::Running {
                    continue;
                }
                let r = self.results[i].clone();
                let av = self.api_version_of(&r.key);
                let live = match self.cluster.get(&av, &r.key).await {
                    Ok(l) => l,
                    Err(e) => {
                        failed.push(e.to_string());
                        self.update(i, ResultStatus::SyncFailed, TaskState::Failed, e.to_string());
                        continue;
                    }
                };
                let id = format!("{}/{}/{}", r.key.group, r.key.kind, r.key.name);
                match (r.status, live) {
                    (ResultStatus::Pruned, None) => self.update(i, r.status, TaskState::Succeeded, r.message),
                    (ResultStatus::Pruned, Some(_)) => waiting.push(format!("waiting for deletion of {id}")),
                    (_, None) => {
                        let m = format!("resource {id} is missing, it might have been deleted");
                        failed.push(m.clone());
                        self.update(i, ResultStatus::SyncFailed, TaskState::Failed, m);
                    }
                    (_, Some(live)) => {
                        let h = health::resource_health(&live);
                        let state = task_state(r.hook, h.as_ref().map(|h| h.status));
                        let message = match &h {
                            Some(h) if !h.message.is_empty() => h.message.clone(),
                            _ => r.message.clone(),
                        };
                        match state {
                            TaskState::Running => {
                                let what = if r.hook { "completion of hook" } else { "healthy state of" };
                                waiting.push(format!("waiting for {what} {id}"));
                                self.update(i, r.status, state, message);
                            }
                            TaskState::Failed => {
                                // §5.7-3: the apply worked, so the status stays `Synced`;
                                // only the task state (hookPhase) becomes Failed.
                                failed.push(format!("{id}: {message}"));
                                self.update(i, r.status, state, message);
                            }
                            TaskState::Succeeded => self.update(i, r.status, state, message),
                        }
                    }
                }
            }
            if !failed.is_empty() {
                return Err(format!(
                    "one or more synchronization tasks completed unsuccessfully: {}",
                    failed.join("; ")
                ));
            }
            if waiting.is_empty() {
                return Ok(());
            }
            let message = if waiting.len() > 1 {
                format!("{} and {} more", waiting[0], waiting.len() - 1)
            } else {
                waiting[0].clone()
            };
            if Instant::now() >= self.deadline {
                return Err(format!("operation timed out after {}s: {message}", self.opts.timeout.as_secs()));
            }
            (self.progress)(&Event::Waiting(&message));
            tokio::time::sleep(self.opts.poll_interval).await;
        }
    }

    fn api_version_of(&self, key: &ResourceKey) -> String {
        self.api_versions.get(key).cloned().unwrap_or_default()
    }

    /// §5.7 step 7 / §5.7 "SyncFail phase": run SyncFail hooks, delete HookFailed hooks.
    async fn fail(&mut self, plan: &Plan, message: String) -> Outcome {
        let mut message = message;
        if !plan.sync_fail.is_empty() {
            let fail_group: Vec<Task> = plan.sync_fail.clone();
            let outcome = match self.group(&fail_group).await {
                Ok(()) => self.wait(fail_group.len()).await,
                Err(e) => Err(e),
            };
            if let Err(e) = outcome {
                message.push_str(&format!("; one or more SyncFail hooks failed: {e}"));
            }
        }
        self.delete_hooks(DeletePolicy::HookFailed).await;
        Outcome { phase: OperationPhase::Failed, message, results: std::mem::take(&mut self.results) }
    }

    async fn delete_hooks(&mut self, policy: DeletePolicy) {
        let hooks: Vec<(Task, usize)> = self.applied_hooks.clone();
        for (t, i) in hooks {
            if t.hook.as_deref().unwrap_or_default().contains(&policy) {
                if let Err(e) = self.cluster.delete(api_version(&t), &t.key, self.opts.propagation, false).await {
                    let r = self.results[i].clone();
                    self.update(i, r.status, r.state, format!("{}; deleting the hook failed: {e}", r.message));
                }
            }
        }
    }
}

/// §5.7 step 3 / controller-health.md §6: how health moves a task.
pub fn task_state(hook: bool, health: Option<HealthStatus>) -> TaskState {
    use HealthStatus::*;
    match (hook, health) {
        (_, None) | (_, Some(Healthy)) => TaskState::Succeeded,
        (true, Some(Progressing | Suspended)) => TaskState::Running,
        (true, Some(Degraded | Unknown)) => TaskState::Failed,
        (true, Some(Missing)) => TaskState::Succeeded,
        (false, Some(Degraded)) => TaskState::Failed,
        (false, Some(_)) => TaskState::Running,
    }
}

/// The server refused an update it would accept as a create (immutable field, conflict).
fn refused_update(e: &crate::controller::Error) -> bool {
    e.is_code(422) || e.is_code(409)
}

fn defines_kind(crd_task: &Task, key: &ResourceKey) -> bool {
    if crd_task.key.kind != "CustomResourceDefinition" {
        return false;
    }
    let Some(spec) = crd_task.target.as_ref().and_then(|t| t.get("spec")) else { return false };
    spec.get("group").and_then(Value::as_str) == Some(key.group.as_str())
        && spec.get("names").and_then(|n| n.get("kind")).and_then(Value::as_str) == Some(key.kind.as_str())
}

/// Whether a kind is cluster-scoped per the cluster (unknown kinds count as namespaced).
pub fn is_cluster_scoped<C: Cluster>(cluster: &C, api_version: &str, kind: &str) -> bool {
    cluster.scope(api_version, kind) == Some(KindScope::Cluster)
}
