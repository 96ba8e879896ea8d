//! The auto-sync decision and retry backoff, as pure functions
//! (docs/controller-sync.md §1.4, §1.5, §7). After every compare the
//! reconciler calls [`decide`] with the app's policy, sync state and last
//! operation; after an operation ends `Failed`/`Error` it calls
//! [`after_failure`]. Time is passed in (`now`, `finished_at` in Unix
//! seconds), so nothing here reads a clock.

use serde_json::Value;
use std::time::Duration;

/// Seconds since the Unix epoch (Kubernetes timestamps have second precision).
pub type UnixSeconds = i64;

// The policy types are the Application model's own (one definition of the CRD's fields), and
// the sync status is the diff's: this module only adds the decision rules on top of them.
pub use crate::controller::application::{Automated, Backoff, RetryStrategy, SyncPolicy};
pub use crate::controller::diff::SyncStatus;

/// One compared resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    /// API group ("" for core).
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace ("" when cluster-scoped).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Its sync status.
    pub status: SyncStatus,
    /// Live but no longer in the source.
    pub requires_pruning: bool,
}

/// Terminal and running phases of an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// In progress.
    Running,
    /// Being terminated.
    Terminating,
    /// Ended with failed tasks.
    Failed,
    /// Ended with a controller error.
    Error,
    /// Ended successfully.
    Succeeded,
}

/// What the app should be synced to now.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// Resolved revision(s), one per source.
    pub revisions: Vec<String>,
    /// The source spec (`spec.source` or `spec.sources`).
    pub source: Value,
}

/// The last sync operation that got as far as a sync result.
#[derive(Clone, Debug, PartialEq)]
pub struct LastOperation {
    /// Revision(s) it synced.
    pub revisions: Vec<String>,
    /// Source spec it synced.
    pub source: Value,
    /// How it ended (or `Running`).
    pub phase: Phase,
    /// Its status message.
    pub message: String,
    /// When it finished.
    pub finished_at: Option<UnixSeconds>,
    /// `operation.sync.selfHealAttemptsCount`.
    pub self_heal_attempts: u32,
}

/// Everything the decision reads about one app.
#[derive(Clone, Debug)]
pub struct AppState<'a> {
    /// `spec.syncPolicy` (default when absent).
    pub policy: &'a SyncPolicy,
    /// An operation is set and not finished.
    pub operation_in_progress: bool,
    /// The app has a deletionTimestamp.
    pub deleting: bool,
    /// App sync status from the last compare.
    pub sync_status: SyncStatus,
    /// Compared resources.
    pub resources: &'a [Resource],
    /// Desired revision(s) and source.
    pub target: &'a Target,
    /// The last operation, if any got a sync result.
    pub last: Option<&'a LastOperation>,
}

/// How self-heal waits between attempts at one revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelfHeal {
    /// Exponential backoff by attempt count (Argo CD's default).
    Backoff {
        /// Wait before the second attempt (default 2 s).
        initial: Duration,
        /// Multiplier per attempt (default 3).
        factor: u32,
        /// Largest wait (default 300 s).
        cap: Duration,
        /// Quiet time after which the attempt count resets (default 330 s,
        /// Argo CD's `--self-heal-backoff-cooldown-seconds`).
        cooldown: Duration,
    },
    /// A fixed wait after the previous operation (`--self-heal-timeout-seconds`).
    Timeout(Duration),
}

impl Default for SelfHeal {
    fn default() -> Self {
        SelfHeal::Backoff {
            initial: Duration::from_secs(2),
            factor: 3,
            cap: Duration::from_secs(300),
            cooldown: Duration::from_secs(330),
        }
    }
}

/// Why auto-sync did nothing this time.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Skip {
    /// No `automated` block, or `enabled: false`.
    #[error("auto-sync is not enabled")]
    NotAutomated,
    /// An operation is running.
    #[error("another operation is already in progress")]
    OperationInProgress,
    /// The app is being deleted.
    #[error("deletion in progress")]
    Deleting,
    /// The app is not OutOfSync.
    #[error("application status is {0:?}")]
    NotOutOfSync(SyncStatus),
    /// Only prunes are pending and prune is off.
    #[error("need to prune extra resources only but automated prune is disabled")]
    PruneOnly,
    /// The last sync already went to this revision and selfHeal is off.
    #[error("most recent sync already to {0}")]
    AlreadySynced(String),
}

/// The operation an auto-sync creates (§7 step 6).
#[derive(Clone, Debug, PartialEq)]
pub struct SyncOperation {
    /// Revision(s) to sync.
    pub revisions: Vec<String>,
    /// Source spec.
    pub source: Value,
    /// `automated.prune`.
    pub prune: bool,
    /// `syncPolicy.syncOptions`.
    pub sync_options: Vec<String>,
    /// Selective sync (self-heal: only the non-Synced resources); empty = all.
    pub resources: Vec<Resource>,
    /// Retry strategy of the operation.
    pub retry: RetryStrategy,
    /// The new `selfHealAttemptsCount`.
    pub self_heal_attempts: u32,
}

/// The auto-sync decision.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Nothing to do.
    Skip(Skip),
    /// Refused: set condition `SyncError` with this message.
    SyncError(String),
    /// Self-heal is due later: requeue after this long.
    Wait(Duration),
    /// Create this operation.
    Sync(Box<SyncOperation>),
}

/// Decides whether to auto-sync now (§7 steps 1-6).
///
/// ```
/// use kcmp::controller::autosync::{decide, AppState, Decision, SelfHeal, SyncPolicy, SyncStatus, Target};
/// use serde_json::json;
///
/// let policy: SyncPolicy = serde_json::from_value(json!({"automated": {"prune": true}})).expect("policy");
/// let target = Target { revisions: vec!["abc123".into()], source: json!({"repoURL": "https://example/repo.git"}) };
/// let app = AppState {
///     policy: &policy, operation_in_progress: false, deleting: false,
///     sync_status: SyncStatus::OutOfSync, resources: &[], target: &target, last: None,
/// };
/// // with prune on and nothing but prunes pending, allowEmpty protects the app
/// assert!(matches!(decide(&app, SelfHeal::default(), 0), Decision::SyncError(_)));
/// ```
pub fn decide(app: &AppState, self_heal: SelfHeal, now: UnixSeconds) -> Decision {
    let Some(automated) = app.policy.automated.as_ref().filter(|a| a.enabled != Some(false)) else {
        return Decision::Skip(Skip::NotAutomated);
    };
    if app.operation_in_progress {
        return Decision::Skip(Skip::OperationInProgress);
    }
    if app.deleting {
        return Decision::Skip(Skip::Deleting);
    }
    if app.sync_status != SyncStatus::OutOfSync {
        return Decision::Skip(Skip::NotOutOfSync(app.sync_status));
    }
    if !automated.prune && app.resources.iter().all(|r| r.status == SyncStatus::Synced || r.requires_pruning) {
        return Decision::Skip(Skip::PruneOnly);
    }
    // Go prints the revision slice as `[a b]`.
    let revisions = format!("[{}]", app.target.revisions.join(" "));
    let attempted = app.last.filter(|l| l.revisions == app.target.revisions && l.source == app.target.source);
    let mut self_heal_attempts = 0;
    let mut resources = Vec::new();
    if let Some(last) = attempted {
        if last.phase != Phase::Succeeded {
            return Decision::SyncError(format!("Failed last sync attempt to {revisions}: {}", last.message));
        }
        if !automated.self_heal {
            return Decision::Skip(Skip::AlreadySynced(revisions));
        }
        let wait = self_heal_wait(last, self_heal, now);
        if !wait.is_zero() {
            return Decision::Wait(wait);
        }
        self_heal_attempts = effective_attempts(last, self_heal, now) + 1;
        resources = app.resources.iter().filter(|r| r.status != SyncStatus::Synced).cloned().collect();
    }
    if automated.prune && !automated.allow_empty && app.resources.iter().all(|r| r.requires_pruning) {
        return Decision::SyncError(format!(
            "Skipping sync attempt to {revisions}: auto-sync will wipe out all resources"
        ));
    }
    Decision::Sync(Box::new(SyncOperation {
        revisions: app.target.revisions.clone(),
        source: app.target.source.clone(),
        prune: automated.prune,
        sync_options: app.policy.sync_options.clone(),
        resources,
        retry: app.policy.retry.clone().unwrap_or(RetryStrategy { limit: 5, ..RetryStrategy::default() }),
        self_heal_attempts,
    }))
}

fn since_finish(last: &LastOperation, now: UnixSeconds) -> Option<Duration> {
    last.finished_at.map(|f| Duration::from_secs(u64::try_from(now.saturating_sub(f)).unwrap_or(0)))
}

/// The attempt count after the cooldown rule: a long quiet period resets it.
fn effective_attempts(last: &LastOperation, self_heal: SelfHeal, now: UnixSeconds) -> u32 {
    match (self_heal, since_finish(last, now)) {
        (SelfHeal::Backoff { cooldown, .. }, Some(since)) if since >= cooldown => 0,
        _ => last.self_heal_attempts,
    }
}

/// Time left before the next self-heal may run (zero = now).
fn self_heal_wait(last: &LastOperation, self_heal: SelfHeal, now: UnixSeconds) -> Duration {
    let delay = match self_heal {
        SelfHeal::Timeout(t) => t,
        SelfHeal::Backoff { .. } => self_heal_delay(self_heal, effective_attempts(last, self_heal, now)),
    };
    match since_finish(last, now) {
        Some(since) => delay.saturating_sub(since),
        None => delay,
    }
}

/// The self-heal backoff for attempt count `n`: 0, then `initial`,
/// `initial*factor`, ... capped (k8s `wait.Backoff` stepped `n` times).
pub fn self_heal_delay(self_heal: SelfHeal, attempts: u32) -> Duration {
    match self_heal {
        SelfHeal::Timeout(t) => t,
        SelfHeal::Backoff { initial, factor, cap, .. } => {
            if attempts == 0 {
                return Duration::ZERO;
            }
            let mut delay = initial;
            for _ in 1..attempts {
                delay = delay.saturating_mul(factor);
                if delay >= cap {
                    return cap;
                }
            }
            delay.min(cap)
        }
    }
}

/// What to do after an operation ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Retry {
    /// Run attempt `retry_count` again after `after` (phase back to Running).
    Again {
        /// New `retryCount` of the operation state.
        retry_count: u32,
        /// Wait measured from the failure.
        after: Duration,
        /// Clear the pinned revision (`retry.refresh`).
        refresh_revision: bool,
        /// The operation message to store.
        message: String,
    },
    /// No retry; the operation stays terminal with this message.
    Done {
        /// The operation message to store.
        message: String,
    },
}

/// Retry policy after an operation ended (§1.5): only `Failed`/`Error`
/// operations retry, never a terminated one; `retries_done` is the
/// operation's `retryCount`. Wait before retry n (n = retries done, from 0)
/// = min(maxDuration, duration x factor^n), so the first retry waits
/// `duration` (Argo CD's `NextRetryAt`).
pub fn after_failure(
    retry: &RetryStrategy,
    phase: Phase,
    terminated: bool,
    retries_done: u32,
    message: &str,
) -> Result<Retry, String> {
    let failed = matches!(phase, Phase::Failed | Phase::Error);
    let allowed = retry.limit < 0 || i64::from(retries_done) < retry.limit;
    if !failed || terminated || phase == Phase::Terminating {
        return Ok(Retry::Done { message: message.to_string() });
    }
    if allowed {
        let after = retry_wait(retry, retries_done)?;
        let retry_count = retries_done + 1;
        return Ok(Retry::Again {
            retry_count,
            after,
            refresh_revision: retry.refresh,
            message: format!("{message}. Retrying attempt #{retry_count} in {}.", format_duration(after)),
        });
    }
    if retries_done > 0 {
        return Ok(Retry::Done { message: format!("{message} (retried {retries_done} times).") });
    }
    Ok(Retry::Done { message: message.to_string() })
}

/// min(maxDuration, duration x factor^n) with the defaults 5s, 2, 3m.
pub fn retry_wait(retry: &RetryStrategy, n: u32) -> Result<Duration, String> {
    let b = retry.backoff.clone().unwrap_or_default();
    let duration = match b.duration.as_deref().filter(|d| !d.is_empty()) {
        Some(d) => parse_duration(d).map_err(|e| format!("retry.backoff.duration: {e}"))?,
        None => Duration::from_secs(5),
    };
    let max = match b.max_duration.as_deref().filter(|d| !d.is_empty()) {
        Some(d) => parse_duration(d).map_err(|e| format!("retry.backoff.maxDuration: {e}"))?,
        None => Duration::from_secs(180),
    };
    let factor = b.factor.unwrap_or(2);
    let wait = duration.as_secs_f64() * (factor as f64).powi(i32::try_from(n).unwrap_or(i32::MAX));
    let wait = if wait.is_finite() { wait } else { f64::MAX };
    let capped = if max.is_zero() { wait } else { wait.min(max.as_secs_f64()) };
    Ok(Duration::try_from_secs_f64(capped.max(0.0)).unwrap_or(max))
}

/// A bare integer (seconds) or a Go duration: `300ms`, `1.5h`, `2m30s`
/// (units ns, us, µs, ms, s, m, h).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let bad = || format!("invalid duration {text:?} (use seconds, or a Go duration such as 10s, 2m, 1h30m)");
    if t.is_empty() || t.starts_with('-') {
        return Err(bad());
    }
    let t = t.strip_prefix('+').unwrap_or(t);
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        if num_len == 0 {
            return Err(bad());
        }
        let value: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

/// Go's `Duration.String()` for whole and fractional seconds: `10s`, `1m20s`, `1h0m0s`, `1.5s`.
pub fn format_duration(d: Duration) -> String {
    let total = d.as_secs();
    let frac = d.subsec_millis();
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    let secs = if frac == 0 { format!("{s}s") } else { format!("{s}.{}s", format!("{frac:03}").trim_end_matches('0')) };
    if h > 0 {
        format!("{h}h{m}m{secs}")
    } else if m > 0 {
        format!("{m}m{secs}")
    } else {
        secs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn res(name: &str, status: SyncStatus, prune: bool) -> Resource {
        Resource {
            group: "apps".into(),
            kind: "Deployment".into(),
            namespace: "default".into(),
            name: name.into(),
            status,
            requires_pruning: prune,
        }
    }

    fn policy(v: Value) -> SyncPolicy {
        serde_json::from_value(v).expect("policy parses")
    }

    fn target(rev: &str) -> Target {
        Target { revisions: vec![rev.into()], source: json!({"repoURL": "r", "path": "p"}) }
    }

    fn last(rev: &str, phase: Phase, finished_at: i64, attempts: u32) -> LastOperation {
        LastOperation {
            revisions: vec![rev.into()],
            source: json!({"repoURL": "r", "path": "p"}),
            phase,
            message: "one or more objects failed to apply".into(),
            finished_at: Some(finished_at),
            self_heal_attempts: attempts,
        }
    }

    fn state<'a>(
        p: &'a SyncPolicy,
        resources: &'a [Resource],
        t: &'a Target,
        l: Option<&'a LastOperation>,
    ) -> AppState<'a> {
        AppState {
            policy: p,
            operation_in_progress: false,
            deleting: false,
            sync_status: SyncStatus::OutOfSync,
            resources,
            target: t,
            last: l,
        }
    }

    #[test]
    fn new_revision_is_synced_with_default_retry() {
        let p = policy(json!({"automated": {"prune": true}, "syncOptions": ["CreateNamespace=true"]}));
        let r = [res("a", SyncStatus::OutOfSync, false)];
        let t = target("b2");
        let l = last("a1", Phase::Succeeded, 0, 0);
        let Decision::Sync(op) = decide(&state(&p, &r, &t, Some(&l)), SelfHeal::default(), 100) else {
            panic!("expected a sync");
        };
        assert_eq!(op.revisions, ["b2"]);
        assert!(op.prune);
        assert_eq!(op.sync_options, ["CreateNamespace=true"]);
        assert_eq!(op.retry.limit, 5);
        assert!(op.resources.is_empty());
        assert_eq!(op.self_heal_attempts, 0);
    }

    #[test]
    fn preconditions_skip() {
        let r = [res("a", SyncStatus::OutOfSync, false)];
        let t = target("x");
        let manual = SyncPolicy::default();
        assert_eq!(decide(&state(&manual, &r, &t, None), SelfHeal::default(), 0), Decision::Skip(Skip::NotAutomated));
        let disabled = policy(json!({"automated": {"enabled": false}}));
        assert_eq!(decide(&state(&disabled, &r, &t, None), SelfHeal::default(), 0), Decision::Skip(Skip::NotAutomated));
        let p = policy(json!({"automated": {}}));
        let mut s = state(&p, &r, &t, None);
        s.operation_in_progress = true;
        assert_eq!(decide(&s, SelfHeal::default(), 0), Decision::Skip(Skip::OperationInProgress));
        let mut s = state(&p, &r, &t, None);
        s.deleting = true;
        assert_eq!(decide(&s, SelfHeal::default(), 0), Decision::Skip(Skip::Deleting));
        for status in [SyncStatus::Synced, SyncStatus::Unknown] {
            let mut s = state(&p, &r, &t, None);
            s.sync_status = status;
            assert_eq!(decide(&s, SelfHeal::default(), 0), Decision::Skip(Skip::NotOutOfSync(status)));
        }
    }

    #[test]
    fn prune_only_changes_are_skipped_without_prune() {
        let p = policy(json!({"automated": {}}));
        let r = [res("a", SyncStatus::Synced, false), res("old", SyncStatus::OutOfSync, true)];
        let t = target("x");
        assert_eq!(decide(&state(&p, &r, &t, None), SelfHeal::default(), 0), Decision::Skip(Skip::PruneOnly));
    }

    #[test]
    fn failed_attempt_at_same_revision_is_not_retried() {
        let p = policy(json!({"automated": {"selfHeal": true}}));
        let r = [res("a", SyncStatus::OutOfSync, false)];
        let t = target("x");
        let l = last("x", Phase::Failed, 0, 0);
        assert_eq!(
            decide(&state(&p, &r, &t, Some(&l)), SelfHeal::default(), 1000),
            Decision::SyncError("Failed last sync attempt to [x]: one or more objects failed to apply".into())
        );
        // a different source spec is a new attempt
        let mut other = l.clone();
        other.source = json!({"repoURL": "r", "path": "other"});
        assert!(matches!(decide(&state(&p, &r, &t, Some(&other)), SelfHeal::default(), 1000), Decision::Sync(_)));
    }

    #[test]
    fn succeeded_attempt_is_once_per_revision_without_self_heal() {
        let p = policy(json!({"automated": {}}));
        let r = [res("a", SyncStatus::OutOfSync, false)];
        let t = target("x");
        let l = last("x", Phase::Succeeded, 0, 0);
        assert_eq!(
            decide(&state(&p, &r, &t, Some(&l)), SelfHeal::default(), 1000),
            Decision::Skip(Skip::AlreadySynced("[x]".into()))
        );
    }

    #[test]
    fn self_heal_backs_off_and_syncs_only_drifted_resources() {
        let p = policy(json!({"automated": {"selfHeal": true}}));
        let r = [res("a", SyncStatus::OutOfSync, false), res("b", SyncStatus::Synced, false)];
        let t = target("x");
        // attempts 0: heal at once
        let l = last("x", Phase::Succeeded, 100, 0);
        let Decision::Sync(op) = decide(&state(&p, &r, &t, Some(&l)), SelfHeal::default(), 100) else {
            panic!("expected a self-heal");
        };
        assert_eq!(op.self_heal_attempts, 1);
        assert_eq!(op.resources.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["a"]);
        // attempts 2: 6 s backoff from the finish
        let l = last("x", Phase::Succeeded, 100, 2);
        assert_eq!(
            decide(&state(&p, &r, &t, Some(&l)), SelfHeal::default(), 102),
            Decision::Wait(Duration::from_secs(4))
        );
        assert!(matches!(decide(&state(&p, &r, &t, Some(&l)), SelfHeal::default(), 106), Decision::Sync(_)));
        // after the cooldown the count resets
        let l = last("x", Phase::Succeeded, 100, 9);
        let Decision::Sync(op) = decide(&state(&p, &r, &t, Some(&l)), SelfHeal::default(), 100 + 330) else {
            panic!("expected a self-heal after cooldown");
        };
        assert_eq!(op.self_heal_attempts, 1);
        // fixed timeout mode
        let l = last("x", Phase::Succeeded, 100, 0);
        let fixed = SelfHeal::Timeout(Duration::from_secs(5));
        assert_eq!(decide(&state(&p, &r, &t, Some(&l)), fixed, 101), Decision::Wait(Duration::from_secs(4)));
    }

    #[test]
    fn self_heal_delay_sequence() {
        let delays: Vec<u64> = (0..8).map(|n| self_heal_delay(SelfHeal::default(), n).as_secs()).collect();
        assert_eq!(delays, [0, 2, 6, 18, 54, 162, 300, 300]);
    }

    #[test]
    fn wiping_everything_needs_allow_empty() {
        let r = [res("a", SyncStatus::OutOfSync, true), res("b", SyncStatus::OutOfSync, true)];
        let t = target("x");
        let p = policy(json!({"automated": {"prune": true}}));
        assert_eq!(
            decide(&state(&p, &r, &t, None), SelfHeal::default(), 0),
            Decision::SyncError("Skipping sync attempt to [x]: auto-sync will wipe out all resources".into())
        );
        let p = policy(json!({"automated": {"prune": true, "allowEmpty": true}}));
        assert!(matches!(decide(&state(&p, &r, &t, None), SelfHeal::default(), 0), Decision::Sync(_)));
    }

    #[test]
    fn spec_retry_replaces_default() {
        let p = policy(json!({"automated": {}, "retry": {"limit": 2, "backoff": {"duration": "1s", "factor": 2}}}));
        let r = [res("a", SyncStatus::OutOfSync, false)];
        let t = target("x");
        let Decision::Sync(op) = decide(&state(&p, &r, &t, None), SelfHeal::default(), 0) else { panic!("sync") };
        assert_eq!(op.retry.limit, 2);
    }

    #[test]
    fn retry_limit_two_gives_three_attempts() {
        let retry: RetryStrategy =
            serde_json::from_value(json!({"limit": 2, "backoff": {"duration": "1s", "factor": 2}})).expect("retry");
        let mut attempts = 1;
        let mut retries_done = 0;
        let mut waits = Vec::new();
        let final_message = loop {
            match after_failure(&retry, Phase::Failed, false, retries_done, "sync failed").expect("valid retry") {
                Retry::Again { retry_count, after, .. } => {
                    waits.push(after.as_secs());
                    retries_done = retry_count;
                    attempts += 1;
                }
                Retry::Done { message } => break message,
            }
        };
        assert_eq!(attempts, 3);
        assert_eq!(waits, [1, 2]);
        assert_eq!(final_message, "sync failed (retried 2 times).");
    }

    #[test]
    fn retry_rules() {
        let none = RetryStrategy::default();
        assert_eq!(
            after_failure(&none, Phase::Failed, false, 0, "x").expect("ok"),
            Retry::Done { message: "x".into() }
        );
        let unlimited = RetryStrategy { limit: -1, refresh: true, backoff: None };
        let Retry::Again { after, refresh_revision, message, retry_count } =
            after_failure(&unlimited, Phase::Error, false, 10, "boom").expect("ok")
        else {
            panic!("unlimited retries");
        };
        assert_eq!(after, Duration::from_secs(180));
        assert!(refresh_revision);
        assert_eq!(retry_count, 11);
        assert_eq!(message, "boom. Retrying attempt #11 in 3m0s.");
        assert!(matches!(after_failure(&unlimited, Phase::Failed, true, 0, "t").expect("ok"), Retry::Done { .. }));
        assert!(matches!(after_failure(&unlimited, Phase::Succeeded, false, 0, "ok").expect("ok"), Retry::Done { .. }));
        let bad = RetryStrategy {
            limit: 1,
            refresh: false,
            backoff: Some(Backoff { duration: Some("five".into()), ..Backoff::default() }),
        };
        let err = after_failure(&bad, Phase::Failed, false, 0, "x").expect_err("bad duration");
        assert!(err.starts_with("retry.backoff.duration: invalid duration \"five\""), "{err}");
    }

    #[test]
    fn default_backoff_is_5s_doubling_capped_at_3m() {
        let r = RetryStrategy { limit: -1, ..RetryStrategy::default() };
        let waits: Vec<u64> = (0..7).map(|n| retry_wait(&r, n).expect("wait").as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 180]);
    }

    #[test]
    fn durations_parse_and_format_like_go() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("-5s").is_err());
        assert!(parse_duration("").is_err());
        assert_eq!(format_duration(Duration::from_secs(80)), "1m20s");
        assert_eq!(format_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
    }
}
