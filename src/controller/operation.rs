//! What the reconcile loop does with one Application after a compare, and the
//! status it writes for it, as pure functions (docs/controller-sync.md §1.4,
//! §1.5, §4.1 step 8, §5.1, §7). [`next`] reads the app's `operation` field
//! (a manual sync requested as Argo CD's CLI does, or a retry waiting its
//! turn), its last `status.operationState` and [`autosync::decide`]; the loop
//! carries the answer out and hands the results to [`app_patch`], which
//! builds the ONE merge patch written per reconcile (status, plus clearing
//! `operation` once it ended). Time is passed in; nothing here reads a clock.

use crate::controller::autosync::{self, Decision, LastOperation, Phase, RetryStrategy, SelfHeal, UnixSeconds};
use crate::controller::diff::SyncStatus;
use crate::controller::sync::execute::{OperationPhase, Outcome, TaskResult};
use crate::controller::sync::plan::Selector;
use crate::controller::Comparison;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::time::Duration;

/// `operation` of an Application: what `argocd app sync` (or auto-sync) asks for.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    /// The sync request; an operation without one is refused.
    #[serde(default)]
    pub sync: Option<SyncSpec>,
    /// Who asked (`{username}` or `{automated: true}`), copied into the state.
    #[serde(default)]
    pub initiated_by: Option<Value>,
    /// Retry strategy of this operation.
    #[serde(default)]
    pub retry: Option<RetryStrategy>,
}

/// `operation.sync`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SyncSpec {
    /// Revision to sync (informational: kcmp syncs what the compare resolved).
    #[serde(default)]
    pub revision: String,
    /// Delete resources that left the source.
    #[serde(default)]
    pub prune: bool,
    /// Validate only.
    #[serde(default)]
    pub dry_run: bool,
    /// Replaces the app's sync options for this operation.
    #[serde(default)]
    pub sync_options: Option<Vec<String>>,
    /// Selective sync; empty = the whole app.
    #[serde(default)]
    pub resources: Vec<ResourceRef>,
    /// `{hook: {}}` (default) or `{apply: {}}`.
    #[serde(default)]
    pub sync_strategy: Option<Value>,
    /// Self-heal attempts so far at this revision (auto-sync only).
    #[serde(default)]
    pub self_heal_attempts_count: u32,
}

/// One `operation.sync.resources[]` entry.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRef {
    /// API group ("" core).
    #[serde(default)]
    pub group: String,
    /// Kind.
    #[serde(default)]
    pub kind: String,
    /// Namespace ("" any / cluster-scoped).
    #[serde(default)]
    pub namespace: String,
    /// Name.
    #[serde(default)]
    pub name: String,
}

impl SyncSpec {
    /// Whether hooks are skipped (`syncStrategy.apply`).
    pub fn skip_hooks(&self) -> bool {
        self.sync_strategy.as_ref().is_some_and(|s| s.get("apply").is_some())
    }

    /// `syncStrategy.{apply,hook}.force` (CLI `--force`).
    pub fn force(&self) -> bool {
        self.sync_strategy.as_ref().is_some_and(|s| {
            ["apply", "hook"].iter().any(|k| s.pointer(&format!("/{k}/force")).and_then(Value::as_bool) == Some(true))
        })
    }

    /// Selective-sync selectors for `sync::plan::select`.
    pub fn selectors(&self) -> Vec<Selector> {
        self.resources
            .iter()
            .filter_map(|r| {
                let ns = if r.namespace.is_empty() { String::new() } else { format!("{}/", r.namespace) };
                Selector::parse(&format!("{}:{}:{ns}{}", r.group, r.kind, r.name)).ok()
            })
            .collect()
    }
}

/// The last operation as stored in `status.operationState`.
#[derive(Clone, Debug, PartialEq)]
pub struct State {
    /// The operation it ran.
    pub operation: Operation,
    /// Its phase.
    pub phase: Phase,
    /// Its message.
    pub message: String,
    /// When it finished (or the failed attempt finished, while a retry waits).
    pub finished_at: Option<UnixSeconds>,
    /// Retries done.
    pub retry_count: u32,
    /// `syncResult.revision`.
    pub revision: String,
    /// `syncResult.source`.
    pub source: Value,
}

fn phase_of(s: &str) -> Option<Phase> {
    Some(match s {
        "Running" => Phase::Running,
        "Terminating" => Phase::Terminating,
        "Failed" => Phase::Failed,
        "Error" => Phase::Error,
        "Succeeded" => Phase::Succeeded,
        _ => return None,
    })
}

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Running => "Running",
        Phase::Terminating => "Terminating",
        Phase::Failed => "Failed",
        Phase::Error => "Error",
        Phase::Succeeded => "Succeeded",
    }
}

/// Reads `status.operationState` (`None` when absent or unreadable: a foreign
/// or corrupt state is treated as "no previous operation", never a panic).
pub fn read_state(app: &Value) -> Option<State> {
    let st = app.pointer("/status/operationState")?;
    let phase = phase_of(st.get("phase")?.as_str()?)?;
    let operation = st.get("operation").cloned().and_then(|o| serde_json::from_value(o).ok()).unwrap_or_default();
    Some(State {
        operation,
        phase,
        message: st.get("message").and_then(Value::as_str).unwrap_or_default().to_string(),
        finished_at: st.get("finishedAt").and_then(Value::as_str).and_then(parse_time),
        retry_count: st.get("retryCount").and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok()).unwrap_or(0),
        revision: st.pointer("/syncResult/revision").and_then(Value::as_str).unwrap_or_default().to_string(),
        source: st.pointer("/syncResult/source").cloned().unwrap_or(Value::Null),
    })
}

/// Reads the app's `operation` field. `Err` names what is wrong with it.
pub fn read_operation(app: &Value) -> Result<Option<Operation>, String> {
    match app.get("operation") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let op: Operation = serde_json::from_value(v.clone()).map_err(|e| format!("operation: {e}"))?;
            if op.sync.is_none() {
                return Err("operation has no sync field: kcmp runs sync operations only".into());
            }
            Ok(Some(op))
        }
    }
}

/// What the loop does with the app this reconcile.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Run this operation now. `retry_count` is the attempt's retries so far.
    Run {
        /// The operation to run (manual, retried or automated).
        operation: Box<Operation>,
        /// Retries done before this attempt.
        retry_count: u32,
        /// The operation came from the app's `operation` field (clear it when done).
        requested: bool,
    },
    /// A retry is due later: requeue after this long.
    Wait(Duration),
    /// Nothing to run; `condition` is a `SyncError` message to record, if any.
    Idle {
        /// Why nothing runs (for logs).
        reason: String,
        /// `SyncError` condition message.
        condition: Option<String>,
    },
    /// The `operation` field cannot be run: record this failure and clear it.
    Refuse(String),
}

/// The compare results [`next`] needs, in autosync's terms.
pub fn resources_of(cmp: &Comparison) -> Vec<autosync::Resource> {
    cmp.diffs
        .iter()
        .map(|d| autosync::Resource {
            group: d.key.group.clone(),
            kind: d.key.kind.clone(),
            namespace: d.key.namespace.clone(),
            name: d.key.name.clone(),
            status: d.status,
            requires_pruning: d.requires_pruning,
        })
        .collect()
}

/// Everything [`next`] reads about the app besides its raw JSON.
#[derive(Clone, Debug)]
pub struct Facts<'a> {
    /// `spec.syncPolicy` as autosync reads it.
    pub policy: &'a autosync::SyncPolicy,
    /// App sync status of this compare.
    pub sync_status: SyncStatus,
    /// Resources of this compare.
    pub resources: &'a [autosync::Resource],
    /// The resolved revision.
    pub revision: &'a str,
    /// `spec.source` as written.
    pub source: &'a Value,
    /// The app is being deleted.
    pub deleting: bool,
}

/// Decides the step (see the module doc). Order: a requested or retrying
/// operation first (a retry waits `retry_wait` after its failed attempt), then
/// auto-sync per [`autosync::decide`].
pub fn next(app: &Value, facts: &Facts, self_heal: SelfHeal, now: UnixSeconds) -> Step {
    let state = read_state(app);
    match read_operation(app) {
        Err(message) => return Step::Refuse(message),
        Ok(Some(operation)) => {
            // A state Running with retries means a retry waits for its time.
            let retry_count = match &state {
                Some(s) if s.phase == Phase::Running && s.retry_count > 0 => s.retry_count,
                _ => 0,
            };
            if retry_count > 0 {
                let strategy = operation.retry.clone().unwrap_or_default();
                let wait = autosync::retry_wait(&strategy, retry_count - 1).unwrap_or(Duration::ZERO);
                let finished = state.as_ref().and_then(|s| s.finished_at).unwrap_or(now);
                let elapsed = Duration::from_secs(u64::try_from(now.saturating_sub(finished)).unwrap_or(0));
                if elapsed < wait {
                    return Step::Wait(wait - elapsed);
                }
            }
            return Step::Run { operation: Box::new(operation), retry_count, requested: true };
        }
        Ok(None) => {}
    }
    let target = autosync::Target { revisions: vec![facts.revision.to_string()], source: facts.source.clone() };
    let last = state.as_ref().filter(|s| !s.revision.is_empty()).map(|s| LastOperation {
        revisions: vec![s.revision.clone()],
        source: s.source.clone(),
        phase: s.phase,
        message: s.message.clone(),
        finished_at: s.finished_at,
        self_heal_attempts: s.operation.sync.as_ref().map(|x| x.self_heal_attempts_count).unwrap_or(0),
    });
    let app_state = autosync::AppState {
        policy: facts.policy,
        operation_in_progress: false,
        deleting: facts.deleting,
        sync_status: facts.sync_status,
        resources: facts.resources,
        target: &target,
        last: last.as_ref(),
    };
    match autosync::decide(&app_state, self_heal, now) {
        Decision::Skip(skip) => Step::Idle { reason: skip.to_string(), condition: None },
        Decision::SyncError(message) => Step::Idle { reason: message.clone(), condition: Some(message) },
        Decision::Wait(d) => Step::Wait(d),
        Decision::Sync(op) => {
            let resources = op
                .resources
                .iter()
                .map(|r| ResourceRef {
                    group: r.group.clone(),
                    kind: r.kind.clone(),
                    namespace: r.namespace.clone(),
                    name: r.name.clone(),
                })
                .collect();
            let operation = Operation {
                sync: Some(SyncSpec {
                    revision: op.revisions.first().cloned().unwrap_or_default(),
                    prune: op.prune,
                    dry_run: false,
                    sync_options: if op.sync_options.is_empty() { None } else { Some(op.sync_options.clone()) },
                    resources,
                    sync_strategy: None,
                    self_heal_attempts_count: op.self_heal_attempts,
                }),
                initiated_by: Some(json!({"automated": true})),
                retry: Some(op.retry.clone()),
            };
            Step::Run { operation: Box::new(operation), retry_count: 0, requested: false }
        }
    }
}

/// How an attempt ended, as the loop saw it.
#[derive(Clone, Debug)]
pub enum Ended {
    /// The sync engine ran (its phase says how it went).
    Ran(Outcome),
    /// The attempt failed before or outside the engine (plan refused, API error).
    Error(String),
}

/// The result of one run, turned into the state to store and what follows.
#[derive(Clone, Debug, PartialEq)]
pub struct Finished {
    /// `status.operationState`.
    pub state: Value,
    /// Keep `operation` set (a retry is pending) instead of clearing it.
    pub keep_operation: bool,
    /// Requeue after this long for the retry.
    pub retry_after: Option<Duration>,
    /// Phase stored.
    pub phase: Phase,
}

/// Builds `status.operationState` for an attempt that ran from `started` to
/// `finished`, applying the retry rules ([`autosync::after_failure`]).
pub fn finish(
    operation: &Operation,
    retry_count: u32,
    ended: &Ended,
    revision: &str,
    source: &Value,
    started: UnixSeconds,
    finished: UnixSeconds,
) -> Finished {
    let (phase, message, results): (Phase, String, &[TaskResult]) = match ended {
        Ended::Ran(o) => (
            if o.phase == OperationPhase::Succeeded { Phase::Succeeded } else { Phase::Failed },
            o.message.clone(),
            &o.results,
        ),
        Ended::Error(m) => (Phase::Error, m.clone(), &[]),
    };
    let strategy = operation.retry.clone().unwrap_or_default();
    let (phase, message, keep, retry_after, retry_count) = if phase == Phase::Succeeded {
        (phase, message, false, None, retry_count)
    } else {
        match autosync::after_failure(&strategy, phase, false, retry_count, &message) {
            Ok(autosync::Retry::Again { retry_count, after, message, .. }) => {
                (Phase::Running, message, true, Some(after), retry_count)
            }
            Ok(autosync::Retry::Done { message }) => (phase, message, false, None, retry_count),
            Err(e) => (phase, format!("{message} (retry not possible: {e})"), false, None, retry_count),
        }
    };
    let resources: Vec<Value> = results.iter().map(result_value).collect();
    let op_value = operation_value(operation);
    let state = json!({
        "operation": op_value,
        "phase": phase_name(phase),
        "message": message,
        "startedAt": format_time(started),
        "finishedAt": format_time(finished),
        "retryCount": retry_count,
        "syncResult": {"revision": revision, "source": source, "resources": resources},
    });
    Finished { state, keep_operation: keep, retry_after, phase }
}

/// The operation as stored (the same camelCase shape it was read from).
pub fn operation_value(op: &Operation) -> Value {
    let sync = op.sync.as_ref().map(|s| {
        let mut m = Map::new();
        m.insert("revision".into(), json!(s.revision));
        if s.prune {
            m.insert("prune".into(), json!(true));
        }
        if s.dry_run {
            m.insert("dryRun".into(), json!(true));
        }
        if let Some(o) = &s.sync_options {
            m.insert("syncOptions".into(), json!(o));
        }
        if !s.resources.is_empty() {
            let r: Vec<Value> = s
                .resources
                .iter()
                .map(|r| json!({"group": r.group, "kind": r.kind, "namespace": r.namespace, "name": r.name}))
                .collect();
            m.insert("resources".into(), Value::Array(r));
        }
        if let Some(st) = &s.sync_strategy {
            m.insert("syncStrategy".into(), st.clone());
        }
        if s.self_heal_attempts_count > 0 {
            m.insert("selfHealAttemptsCount".into(), json!(s.self_heal_attempts_count));
        }
        Value::Object(m)
    });
    let retry = op.retry.as_ref().map(|r| {
        let mut m = Map::new();
        m.insert("limit".into(), json!(r.limit));
        if r.refresh {
            m.insert("refresh".into(), json!(true));
        }
        if let Some(b) = &r.backoff {
            let mut bm = Map::new();
            if let Some(d) = &b.duration {
                bm.insert("duration".into(), json!(d));
            }
            if let Some(f) = b.factor {
                bm.insert("factor".into(), json!(f));
            }
            if let Some(d) = &b.max_duration {
                bm.insert("maxDuration".into(), json!(d));
            }
            m.insert("backoff".into(), Value::Object(bm));
        }
        Value::Object(m)
    });
    let mut out = Map::new();
    for (k, v) in [("sync", sync), ("initiatedBy", op.initiated_by.clone()), ("retry", retry)] {
        if let Some(v) = v {
            out.insert(k.into(), v);
        }
    }
    Value::Object(out)
}

fn result_value(r: &TaskResult) -> Value {
    let mut m = Map::new();
    m.insert("group".into(), json!(r.key.group));
    m.insert("kind".into(), json!(r.key.kind));
    m.insert("namespace".into(), json!(r.key.namespace));
    m.insert("name".into(), json!(r.key.name));
    m.insert("status".into(), json!(r.status.to_string()));
    m.insert("message".into(), json!(r.message));
    m.insert("syncPhase".into(), json!(r.phase.to_string()));
    m.insert("hookPhase".into(), json!(r.state.to_string()));
    if r.hook {
        m.insert("hookType".into(), json!(r.phase.to_string()));
    }
    Value::Object(m)
}

/// `status.resources`: one entry per compared resource with its sync status,
/// health and whether it needs pruning (Argo CD's `ResourceStatus`).
pub fn resource_list(cmp: &Comparison) -> Vec<Value> {
    let mut out = Vec::new();
    for (i, (pair, d)) in cmp.reconciled.resources.iter().zip(&cmp.diffs).enumerate() {
        let version = pair
            .target
            .as_ref()
            .or(pair.live.as_ref())
            .and_then(|o| o.get("apiVersion"))
            .and_then(Value::as_str)
            .map(|av| av.rsplit_once('/').map(|(_, v)| v).unwrap_or(av))
            .unwrap_or_default();
        let mut m = Map::new();
        m.insert("group".into(), json!(d.key.group));
        m.insert("version".into(), json!(version));
        m.insert("kind".into(), json!(d.key.kind));
        m.insert("namespace".into(), json!(d.key.namespace));
        m.insert("name".into(), json!(d.key.name));
        m.insert("status".into(), json!(d.status.to_string()));
        if let Some(Some(h)) = cmp.resource_health.get(i) {
            let mut hm = Map::new();
            hm.insert("status".into(), json!(h.status.to_string()));
            if !h.message.is_empty() {
                hm.insert("message".into(), json!(h.message));
            }
            m.insert("health".into(), Value::Object(hm));
        }
        if d.requires_pruning {
            m.insert("requiresPruning".into(), json!(true));
        }
        out.push(Value::Object(m));
    }
    out
}

/// One `status.conditions[]` entry.
pub fn condition(kind: &str, message: &str, now: UnixSeconds) -> Value {
    json!({"type": kind, "message": message, "lastTransitionTime": format_time(now)})
}

/// What one reconcile learned, for [`app_patch`].
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// `status.sync` (`None` when the compare failed: status Unknown).
    pub sync: Option<Value>,
    /// `status.health`.
    pub health: Option<Value>,
    /// `status.resources` (`None` keeps the stored list).
    pub resources: Option<Vec<Value>>,
    /// `status.operationState` of an attempt that ran this reconcile.
    pub operation_state: Option<Value>,
    /// Clear `operation` (it ended or was refused).
    pub clear_operation: bool,
    /// Store this as `operation` (an auto-sync that waits for a retry).
    pub operation: Option<Value>,
    /// Conditions (ComparisonError, SyncError); empty clears them.
    pub conditions: Vec<Value>,
    /// `status.reconciledAt`.
    pub reconciled_at: UnixSeconds,
    /// Remove this annotation (an answered refresh request).
    pub remove_annotation: Option<String>,
    /// `status.history` (`None` keeps the stored one).
    pub history: Option<Value>,
}

/// The complete `status` after this reconcile: the stored one with every field
/// the reconcile owns replaced. `status.sync` of a failed compare is `Unknown`
/// (Argo CD's ComparisonError); a condition that was already there keeps its
/// `lastTransitionTime`.
pub fn desired_status(stored: &Value, report: &Report) -> Value {
    let mut status = stored.as_object().cloned().unwrap_or_default();
    status.insert("sync".into(), report.sync.clone().unwrap_or_else(|| json!({"status": "Unknown"})));
    status.insert("health".into(), report.health.clone().unwrap_or_else(|| json!({"status": "Unknown"})));
    if let Some(r) = &report.resources {
        status.insert("resources".into(), Value::Array(r.clone()));
    }
    if let Some(s) = &report.operation_state {
        status.insert("operationState".into(), s.clone());
    }
    if let Some(h) = &report.history {
        status.insert("history".into(), h.clone());
    }
    let old = stored.get("conditions").and_then(Value::as_array).cloned().unwrap_or_default();
    let conditions: Vec<Value> = report
        .conditions
        .iter()
        .map(|c| {
            let same = old.iter().find(|o| o.get("type") == c.get("type") && o.get("message") == c.get("message"));
            match (same.and_then(|o| o.get("lastTransitionTime")), c.clone()) {
                (Some(t), Value::Object(mut m)) => {
                    m.insert("lastTransitionTime".into(), t.clone());
                    Value::Object(m)
                }
                (_, c) => c,
            }
        })
        .collect();
    if conditions.is_empty() {
        status.remove("conditions");
    } else {
        status.insert("conditions".into(), Value::Array(conditions));
    }
    status.insert("reconciledAt".into(), json!(format_time(report.reconciled_at)));
    Value::Object(status)
}

/// The single RFC 7386 merge patch a reconcile writes for the app `raw`
/// (status, `operation`, an answered refresh annotation), or `None` when it
/// would change nothing but `reconciledAt`: the loop's own write comes back
/// as a watch event, and that event then ends without another write.
pub fn app_patch(raw: &Value, report: &Report) -> (Value, Option<Value>) {
    let stored = raw.get("status").cloned().unwrap_or_else(|| json!({}));
    let desired = desired_status(&stored, report);
    let without_time = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("reconciledAt");
        }
        v
    };
    let mut patch = Map::new();
    if let Some(p) = crate::controller::appset::plan::merge_patch(&without_time(&stored), &without_time(&desired)) {
        let mut p = p;
        p["reconciledAt"] = desired["reconciledAt"].clone();
        patch.insert("status".into(), p);
    }
    let op_now = raw.get("operation").unwrap_or(&Value::Null);
    if let Some(op) = &report.operation {
        if op != op_now {
            patch.insert("operation".into(), op.clone());
        }
    } else if report.clear_operation && !op_now.is_null() {
        patch.insert("operation".into(), Value::Null);
    }
    if let Some(a) = &report.remove_annotation {
        if raw.pointer("/metadata/annotations").and_then(|m| m.get(a)).is_some() {
            patch.insert("metadata".into(), json!({"annotations": {a.as_str(): null}}));
        }
    }
    let patch = if patch.is_empty() { None } else { Some(Value::Object(patch)) };
    (desired, patch)
}

/// `status.sync` of a successful compare.
pub fn sync_value(cmp: &Comparison, source: &Value, destination: &Value) -> Value {
    json!({
        "status": cmp.sync_status.to_string(),
        "revision": cmp.revision,
        "comparedTo": {"source": source, "destination": destination},
    })
}

/// `status.health` of a successful compare.
pub fn health_value(cmp: &Comparison) -> Value {
    let mut m = Map::new();
    m.insert("status".into(), json!(cmp.health.status.to_string()));
    if !cmp.health.message.is_empty() {
        m.insert("message".into(), json!(cmp.health.message));
    }
    Value::Object(m)
}

/// The revision a pending retry must sync again (§1.5: a retry keeps the
/// resolved revision unless `retry.refresh`); `None` for a first attempt.
pub fn pinned_revision(app: &Value) -> Option<String> {
    let op = read_operation(app).ok().flatten()?;
    let state = read_state(app)?;
    let refresh = op.retry.as_ref().is_some_and(|r| r.refresh);
    (state.phase == Phase::Running && state.retry_count > 0 && !refresh && !state.revision.is_empty())
        .then_some(state.revision)
}

/// `status.history` after a successful, non-dry-run, full (non-selective)
/// sync: the entry appended with the next id, truncated to `limit` (default 10)
/// newest entries (§7). Other operations leave history unchanged (`None`).
pub fn history(
    app: &Value,
    op: &Operation,
    phase: Phase,
    revision: &str,
    started: UnixSeconds,
    finished: UnixSeconds,
) -> Option<Value> {
    let sync = op.sync.as_ref()?;
    if phase != Phase::Succeeded || sync.dry_run || !sync.resources.is_empty() {
        return None;
    }
    let mut list = app.pointer("/status/history").and_then(Value::as_array).cloned().unwrap_or_default();
    let next = list.iter().filter_map(|h| h.get("id").and_then(Value::as_i64)).max().unwrap_or(-1) + 1;
    list.push(json!({
        "id": next,
        "revision": revision,
        "source": app.pointer("/spec/source").cloned().unwrap_or(Value::Null),
        "deployStartedAt": format_time(started),
        "deployedAt": format_time(finished),
        "initiatedBy": op.initiated_by.clone().unwrap_or_else(|| json!({})),
    }));
    let limit = app.pointer("/spec/revisionHistoryLimit").and_then(Value::as_i64).unwrap_or(10).max(1);
    let keep = usize::try_from(limit).unwrap_or(10);
    let drop = list.len().saturating_sub(keep);
    Some(Value::Array(list.split_off(drop)))
}

/// Finalizer that makes deleting an Application delete its resources first.
pub const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";

/// The resources finalizer of a deleted app, if set, and the propagation its
/// suffix asks for (`…/background`; plain and `…/foreground` = foreground).
pub fn deletion_finalizer(app: &Value) -> Option<(String, crate::controller::sync::Propagation)> {
    use crate::controller::sync::Propagation;
    let list = app.pointer("/metadata/finalizers")?.as_array()?;
    list.iter().filter_map(Value::as_str).find_map(|f| {
        let rest = f.strip_prefix(RESOURCES_FINALIZER)?;
        match rest {
            "" | "/foreground" => Some((f.to_string(), Propagation::Foreground)),
            "/background" => Some((f.to_string(), Propagation::Background)),
            _ => None,
        }
    })
}

/// RFC 3339 in UTC with second precision, as Kubernetes writes `metav1.Time`.
pub fn format_time(t: UnixSeconds) -> String {
    use k8s_openapi::chrono::{DateTime, SecondsFormat};
    DateTime::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

/// Parses an RFC 3339 timestamp (`None` when malformed).
pub fn parse_time(s: &str) -> Option<UnixSeconds> {
    k8s_openapi::chrono::DateTime::parse_from_rfc3339(s).ok().map(|d| d.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(v: Value) -> autosync::SyncPolicy {
        serde_json::from_value(v).expect("policy")
    }

    fn res(status: autosync::SyncStatus) -> autosync::Resource {
        autosync::Resource {
            group: "".into(),
            kind: "ConfigMap".into(),
            namespace: "d".into(),
            name: "c".into(),
            status,
            requires_pruning: false,
        }
    }

    fn facts<'a>(
        p: &'a autosync::SyncPolicy,
        r: &'a [autosync::Resource],
        rev: &'a str,
        src: &'a Value,
        st: SyncStatus,
    ) -> Facts<'a> {
        Facts { policy: p, sync_status: st, resources: r, revision: rev, source: src, deleting: false }
    }

    #[test]
    fn manual_operation_runs_before_auto_sync_and_is_cleared() {
        let app = json!({"operation": {"sync": {"revision": "abc", "prune": true,
            "resources": [{"group": "apps", "kind": "Deployment", "name": "web"}], "syncStrategy": {"apply": {}}},
            "initiatedBy": {"username": "admin"}}});
        let p = policy(json!({}));
        let src = json!({"repoURL": "r"});
        let r = [res(autosync::SyncStatus::Synced)];
        match next(&app, &facts(&p, &r, "abc", &src, SyncStatus::Synced), SelfHeal::default(), 100) {
            Step::Run { operation, retry_count, requested } => {
                assert!(requested);
                assert_eq!(retry_count, 0);
                let sync = operation.sync.expect("sync");
                assert!(sync.prune && sync.skip_hooks());
                assert_eq!(sync.selectors().len(), 1);
            }
            other => panic!("expected Run, got {other:?}"),
        }
    }

    #[test]
    fn an_operation_without_sync_is_refused() {
        let app = json!({"operation": {"initiatedBy": {"username": "x"}}});
        let p = policy(json!({}));
        let src = json!({});
        assert_eq!(
            next(&app, &facts(&p, &[], "a", &src, SyncStatus::Synced), SelfHeal::default(), 0),
            Step::Refuse("operation has no sync field: kcmp runs sync operations only".into())
        );
    }

    #[test]
    fn auto_sync_runs_once_per_revision_without_self_heal() {
        let p = policy(json!({"automated": {}}));
        let src = json!({"repoURL": "r"});
        let r = [res(autosync::SyncStatus::OutOfSync)];
        let f = facts(&p, &r, "rev1", &src, SyncStatus::OutOfSync);
        let Step::Run { operation, requested, .. } = next(&json!({}), &f, SelfHeal::default(), 0) else {
            panic!("first sync at rev1 runs");
        };
        assert!(!requested);
        assert_eq!(operation.initiated_by, Some(json!({"automated": true})));
        let fin = finish(
            &operation,
            0,
            &Ended::Ran(Outcome { phase: OperationPhase::Succeeded, message: "ok".into(), results: vec![] }),
            "rev1",
            &src,
            10,
            12,
        );
        assert_eq!(fin.state["phase"], "Succeeded");
        assert_eq!(fin.state["finishedAt"], "1970-01-01T00:00:12Z");
        let app = json!({"status": {"operationState": fin.state}});
        match next(&app, &f, SelfHeal::default(), 20) {
            Step::Idle { reason, condition } => {
                assert_eq!(reason, "most recent sync already to [rev1]");
                assert_eq!(condition, None);
            }
            other => panic!("expected Idle, got {other:?}"),
        }
        let f2 = facts(&p, &r, "rev2", &src, SyncStatus::OutOfSync);
        assert!(matches!(next(&app, &f2, SelfHeal::default(), 20), Step::Run { .. }), "a new revision syncs");
    }

    #[test]
    fn self_heal_waits_its_backoff_then_syncs_only_drifted_resources() {
        let p = policy(json!({"automated": {"selfHeal": true}}));
        let src = json!({"repoURL": "r"});
        let r = [res(autosync::SyncStatus::OutOfSync), {
            let mut x = res(autosync::SyncStatus::Synced);
            x.name = "ok".into();
            x
        }];
        let f = facts(&p, &r, "rev1", &src, SyncStatus::OutOfSync);
        let op = Operation {
            sync: Some(SyncSpec { self_heal_attempts_count: 1, ..Default::default() }),
            ..Default::default()
        };
        let ran = Ended::Ran(Outcome { phase: OperationPhase::Succeeded, message: "ok".into(), results: vec![] });
        let app = json!({"status": {"operationState": finish(&op, 0, &ran, "rev1", &src, 100, 100).state}});
        assert_eq!(next(&app, &f, SelfHeal::default(), 101), Step::Wait(Duration::from_secs(1)));
        let Step::Run { operation, .. } = next(&app, &f, SelfHeal::default(), 103) else { panic!("due") };
        let sync = operation.sync.expect("sync");
        assert_eq!(sync.self_heal_attempts_count, 2);
        assert_eq!(sync.resources.len(), 1, "only the drifted resource");
        assert_eq!(sync.resources[0].name, "c");
    }

    #[test]
    fn a_failed_attempt_retries_with_backoff_and_keeps_the_operation() {
        let op = Operation {
            sync: Some(SyncSpec::default()),
            retry: Some(serde_json::from_value(json!({"limit": 2, "backoff": {"duration": "10s"}})).expect("r")),
            ..Default::default()
        };
        let src = json!({});
        let failed = Ended::Ran(Outcome { phase: OperationPhase::Failed, message: "boom".into(), results: vec![] });
        let fin = finish(&op, 0, &failed, "rev", &src, 0, 50);
        assert!(fin.keep_operation);
        assert_eq!(fin.retry_after, Some(Duration::from_secs(10)));
        assert_eq!(fin.state["phase"], "Running");
        assert_eq!(fin.state["retryCount"], 1);
        assert_eq!(fin.state["message"], "boom. Retrying attempt #1 in 10s.");
        let app = json!({"operation": operation_value(&op), "status": {"operationState": fin.state}});
        let p = policy(json!({}));
        let f = facts(&p, &[], "rev", &src, SyncStatus::OutOfSync);
        assert_eq!(next(&app, &f, SelfHeal::default(), 54), Step::Wait(Duration::from_secs(6)));
        assert!(matches!(next(&app, &f, SelfHeal::default(), 60), Step::Run { retry_count: 1, .. }));
        let done = finish(&op, 2, &failed, "rev", &src, 0, 90);
        assert!(!done.keep_operation);
        assert_eq!(done.state["phase"], "Failed");
        assert_eq!(done.state["message"], "boom (retried 2 times).");
        let errored = finish(&op, 2, &Ended::Error("apply failed".into()), "rev", &src, 0, 90);
        assert_eq!(errored.state["phase"], "Error");
    }

    #[test]
    fn the_patch_is_minimal_clears_the_operation_and_is_none_when_nothing_changed() {
        let report = Report {
            clear_operation: true,
            conditions: vec![condition("ComparisonError", "rendering failed", 0)],
            reconciled_at: 86400,
            health: Some(json!({"status": "Healthy"})),
            remove_annotation: Some("argocd.argoproj.io/refresh".into()),
            ..Report::default()
        };
        let raw = json!({"metadata": {"annotations": {"argocd.argoproj.io/refresh": "normal"}},
                         "operation": {"sync": {}},
                         "status": {"health": {"status": "Degraded", "message": "old"}, "sync": {"status": "Synced", "revision": "a"}}});
        let (status, patch) = app_patch(&raw, &report);
        let patch = patch.expect("changes");
        assert_eq!(patch["operation"], Value::Null);
        assert_eq!(patch["metadata"]["annotations"]["argocd.argoproj.io/refresh"], Value::Null);
        assert_eq!(
            patch["status"]["sync"],
            json!({"status": "Unknown", "revision": null}),
            "minimal: stale keys removed"
        );
        assert_eq!(patch["status"]["health"], json!({"status": "Healthy", "message": null}));
        assert_eq!(patch["status"]["reconciledAt"], "1970-01-02T00:00:00Z");
        assert_eq!(status["conditions"][0]["type"], "ComparisonError");

        let mut stored = raw.clone();
        json_patch::merge(&mut stored, &patch);
        let later = Report {
            reconciled_at: 99999,
            conditions: vec![condition("ComparisonError", "rendering failed", 500)],
            ..report
        };
        let (status, again) = app_patch(&stored, &later);
        assert_eq!(again, None, "only reconciledAt and the condition time would change");
        assert_eq!(status["conditions"][0]["lastTransitionTime"], "1970-01-01T00:00:00Z", "first transition kept");
    }

    #[test]
    fn the_resources_finalizer_and_its_propagation_are_recognised() {
        use crate::controller::sync::Propagation;
        let app = |f: Value| json!({"metadata": {"finalizers": f}});
        assert_eq!(
            deletion_finalizer(&app(json!(["x", RESOURCES_FINALIZER]))),
            Some((RESOURCES_FINALIZER.to_string(), Propagation::Foreground))
        );
        let bg = format!("{RESOURCES_FINALIZER}/background");
        assert_eq!(deletion_finalizer(&app(json!([bg.clone()]))), Some((bg, Propagation::Background)));
        assert_eq!(deletion_finalizer(&app(json!(["other"]))), None);
        assert_eq!(deletion_finalizer(&json!({})), None);
    }

    #[test]
    fn history_grows_on_full_successful_syncs_only_and_is_truncated() {
        let op =
            Operation { sync: Some(SyncSpec::default()), initiated_by: Some(json!({"automated": true})), retry: None };
        let mut app = json!({"spec": {"source": {"repoURL": "r"}, "revisionHistoryLimit": 2}});
        for (i, rev) in ["a", "b", "c"].iter().enumerate() {
            let h = history(&app, &op, Phase::Succeeded, rev, i as i64, i as i64 + 1).expect("appended");
            app["status"] = json!({"history": h});
        }
        let h = app["status"]["history"].as_array().expect("list");
        assert_eq!(h.len(), 2, "truncated to revisionHistoryLimit");
        assert_eq!((h[0]["id"].as_i64(), h[1]["id"].as_i64()), (Some(1), Some(2)));
        assert_eq!(h[1]["revision"], "c");
        assert_eq!(h[1]["deployedAt"], "1970-01-01T00:00:03Z");
        assert_eq!(history(&app, &op, Phase::Failed, "d", 0, 0), None);
        let selective = Operation {
            sync: Some(SyncSpec { resources: vec![ResourceRef::default()], ..SyncSpec::default() }),
            ..op.clone()
        };
        assert_eq!(history(&app, &selective, Phase::Succeeded, "d", 0, 0), None, "self-heal syncs add no entry");
        let dry = Operation { sync: Some(SyncSpec { dry_run: true, ..SyncSpec::default() }), ..op };
        assert_eq!(history(&app, &dry, Phase::Succeeded, "d", 0, 0), None);
    }

    #[test]
    fn a_pending_retry_pins_its_revision_unless_refresh_and_force_is_read() {
        let failed = |refresh: bool| {
            let op = Operation {
                sync: Some(SyncSpec::default()),
                retry: Some(RetryStrategy { limit: 3, refresh, backoff: None }),
                ..Operation::default()
            };
            let fin = finish(&op, 0, &Ended::Error("x".into()), "sha1", &json!({}), 0, 1);
            json!({"operation": operation_value(&op), "status": {"operationState": fin.state}})
        };
        assert_eq!(pinned_revision(&failed(false)), Some("sha1".into()));
        assert_eq!(pinned_revision(&failed(true)), None);
        assert_eq!(pinned_revision(&json!({"operation": {"sync": {}}})), None, "first attempt");
        let forced: SyncSpec =
            serde_json::from_value(json!({"syncStrategy": {"apply": {"force": true}}})).expect("spec");
        assert!(forced.force() && forced.skip_hooks());
        assert!(!SyncSpec::default().force());
    }

    #[test]
    fn times_round_trip_and_bad_states_read_as_none() {
        assert_eq!(parse_time(&format_time(1_700_000_000)), Some(1_700_000_000));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(read_state(&json!({"status": {"operationState": {"phase": "Bogus"}}})), None);
    }
}
