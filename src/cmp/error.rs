//! `cmp::Error`: what went wrong in the sidecar, in which phase, after how long.
//! Startup failures (plugin.yaml, socket) and request failures share one type; the
//! single mapping to a gRPC status with Argo CD's per-RPC prefixes lives in
//! `server.rs` (docs/cmp-protocol.md §10).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// A sidecar failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// plugin.yaml is missing, unparsable or invalid (the process exits at startup).
    #[error("invalid plugin configuration file {file}: {detail}")]
    Config {
        /// The plugin.yaml path.
        file: PathBuf,
        /// What to fix.
        detail: String,
    },
    /// A startup step on the local system failed (socket, work root).
    #[error("cannot {what}")]
    Startup {
        /// The step, naming its path.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// One request failed.
    #[error(transparent)]
    Request(#[from] Failure),
}

/// The phases of one request, named in every failure so a message in the Argo CD UI
/// says where the time went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for one of the `--max-concurrent` slots.
    Queue,
    /// Reading metadata and archive chunks, verifying the checksum.
    Receive,
    /// Unpacking the tar.gz into the work dir.
    Extract,
    /// The plugin's `init` command (compat mode).
    Init,
    /// The plugin's `generate` command (compat mode) and the manifest split.
    Generate,
    /// kcmp's in-process engine.
    Render,
    /// A MatchRepository rule.
    Discover,
    /// The dynamic parameters command.
    Parameters,
    /// Building the response.
    Respond,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Queue => "queue",
            Phase::Receive => "receive",
            Phase::Extract => "extract",
            Phase::Init => "init",
            Phase::Generate => "generate",
            Phase::Render => "render",
            Phase::Discover => "discover",
            Phase::Parameters => "parameters",
            Phase::Respond => "respond",
        })
    }
}

/// How a failure maps onto a gRPC code (the prefix depends on the RPC, not on this).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// Bad input or a failing command: `UNKNOWN`, as argocd-cmp-server reports it.
    Failed,
    /// The client's deadline or `ARGOCD_EXEC_TIMEOUT` ran out.
    DeadlineExceeded,
    /// The client went away.
    Cancelled,
    /// An archive or response over a configured limit.
    ResourceExhausted,
    /// The sidecar itself failed (temp dir, join error).
    Internal,
}

/// One failed request: the phase, a message naming the entry or file, and the time
/// spent in each phase up to the failure.
#[derive(Debug)]
pub struct Failure {
    /// Where it failed.
    pub phase: Phase,
    /// The gRPC code class.
    pub code: Code,
    /// Lowercase message in Argo CD's words, naming the entry/file and what to fix.
    pub detail: String,
    /// Phases run so far with their durations, the failing one last.
    pub timings: Vec<(Phase, Duration)>,
}

impl Failure {
    /// A failure in `phase` with the default code ([`Code::Failed`]).
    pub fn new(phase: Phase, detail: impl Into<String>) -> Failure {
        Failure { phase, code: Code::Failed, detail: detail.into(), timings: Vec::new() }
    }

    /// Sets the code class.
    pub fn with_code(mut self, code: Code) -> Failure {
        self.code = code;
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)?;
        if !self.timings.is_empty() {
            f.write_str(" (")?;
            for (i, (phase, took)) in self.timings.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                let failed = if i + 1 == self.timings.len() && *phase == self.phase { " failed after" } else { "" };
                write!(f, "{phase}{failed} {}", human(*took))?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

/// `12ms`, `3.2s`: short enough for the Argo CD UI.
pub(crate) fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_lists_phase_timings_with_the_failing_phase_last() {
        let mut f = Failure::new(Phase::Generate, "`sh -c \"exit 3\"` failed exit status 3");
        f.timings = vec![
            (Phase::Receive, Duration::from_millis(4)),
            (Phase::Extract, Duration::from_millis(2)),
            (Phase::Generate, Duration::from_millis(1500)),
        ];
        assert_eq!(
            f.to_string(),
            "`sh -c \"exit 3\"` failed exit status 3 (receive 4ms, extract 2ms, generate failed after 1.5s)"
        );
    }
}
