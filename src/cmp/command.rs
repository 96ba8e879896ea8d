//! Running a plugin command the way argocd-cmp-server does (docs/cmp-protocol.md §7):
//! `command ++ args`, cwd = the app dir, env = the sidecar's base env then the
//! request's entries (last wins), empty stdin, a new process group that is killed
//! as a whole when the deadline passes or the request is dropped. Used for compat
//! `init`/`generate`, `discover.find.command` and dynamic parameters.

use crate::cmp::config::Command;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::time::Instant;

/// Why a command failed; the message is Argo CD's wording (§7.3).
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The program could not be started.
    #[error("`{argv}` could not start: {reason}")]
    Start {
        /// The command line as logged.
        argv: String,
        /// The OS error text.
        reason: String,
    },
    /// Non-zero exit or a signal.
    #[error("`{argv}` failed {cause}{stderr}")]
    Failed {
        /// The command line as logged.
        argv: String,
        /// `exit status N` or `signal: N`.
        cause: String,
        /// `: <trimmed stderr>` or empty.
        stderr: String,
    },
    /// The deadline passed: the process group was killed.
    #[error("`{argv}` failed signal: killed (timed out after {after}; process group killed)")]
    Timeout {
        /// The command line as logged.
        argv: String,
        /// How long it ran.
        after: String,
    },
}

/// Runs `cmd` in `cwd` and returns stdout without one trailing newline.
pub async fn run(
    cmd: &Command,
    cwd: &Path,
    base_env: &[(String, String)],
    request_env: &[(String, String)],
    deadline: Option<Instant>,
) -> Result<String, CommandError> {
    let argv = cmd.argv();
    let shown = args_to_log(&argv);
    let Some((program, args)) = argv.split_first() else {
        return Err(CommandError::Start { argv: shown, reason: "Command is empty".into() });
    };
    let mut child = tokio::process::Command::new(program);
    child
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .envs(base_env.iter().map(|(k, v)| (k, v)))
        .envs(request_env.iter().filter(|(k, _)| !k.is_empty()).map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let started = Instant::now();
    let child = child.spawn().map_err(|e| CommandError::Start { argv: shown.clone(), reason: e.to_string() })?;
    let group = GroupGuard { pgid: child.id() };
    let output = match deadline {
        Some(at) => match tokio::time::timeout_at(at, child.wait_with_output()).await {
            Ok(out) => out,
            Err(_) => {
                drop(group);
                return Err(CommandError::Timeout { argv: shown, after: crate::cmp::error::human(started.elapsed()) });
            }
        },
        None => child.wait_with_output().await,
    }
    .map_err(|e| CommandError::Start { argv: shown.clone(), reason: e.to_string() })?;
    // The leader is gone; children it left behind in the group must not outlive the request.
    drop(group);
    if !output.status.success() {
        use std::os::unix::process::ExitStatusExt;
        let cause = match (output.status.code(), output.status.signal()) {
            (Some(code), _) => format!("exit status {code}"),
            (None, Some(libc::SIGKILL)) => "signal: killed".into(),
            (None, Some(libc::SIGTERM)) => "signal: terminated".into(),
            (None, Some(sig)) => format!("signal: {sig}"),
            (None, None) => "with an unknown status".into(),
        };
        let err = String::from_utf8_lossy(&output.stderr);
        let err = err.trim();
        let stderr = if err.is_empty() { String::new() } else { format!(": {err}") };
        return Err(CommandError::Failed { argv: shown, cause, stderr });
    }
    let mut out = String::from_utf8_lossy(&output.stdout).into_owned();
    if out.ends_with('\n') {
        out.pop();
    }
    Ok(out)
}

/// Kills the whole process group when dropped: on timeout, on cancellation (the
/// request future is dropped) and after a normal exit (stray background children).
struct GroupGuard {
    pgid: Option<u32>,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid.and_then(|p| libc::pid_t::try_from(p).ok()) {
            // SAFETY: kill(2) with a negative pid signals the group we created with
            // setpgid; it touches no memory. ESRCH (group already gone) is fine.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
}

/// argv joined by spaces; an empty arg as `""`, an arg with whitespace Go-quoted (§7.3).
pub fn args_to_log(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if a.is_empty() {
                "\"\"".to_string()
            } else if a.chars().any(char::is_whitespace) {
                serde_json::to_string(a).unwrap_or_else(|_| a.clone())
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `ARGOCD_EXEC_TIMEOUT`-style Go durations: `90s`, `2m`, `1h30m`, `500ms`, or plain seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (num, tail) = rest.split_at(num_end);
        let value: f64 = num.parse().ok()?;
        let unit_end = tail.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_end);
        let scale = match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += Duration::from_secs_f64(value * scale);
        rest = next;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        Command { command: vec!["sh".into(), "-c".into()], args: vec![script.into()] }
    }

    fn path_env() -> Vec<(String, String)> {
        vec![("PATH".into(), "/usr/bin:/bin".into())]
    }

    #[tokio::test]
    async fn stdout_loses_one_trailing_newline_and_request_env_wins() {
        let env = vec![("FOO".to_string(), "request".to_string())];
        let base = vec![("PATH".into(), "/usr/bin:/bin".into()), ("FOO".into(), "base".into())];
        let out = run(&sh("echo $FOO; echo"), Path::new("/"), &base, &env, None).await.expect("runs");
        assert_eq!(out, "request\n");
    }

    #[tokio::test]
    async fn failure_reads_like_argocd() {
        let e = run(&sh("echo boom >&2; exit 3"), Path::new("/"), &path_env(), &[], None).await.expect_err("fails");
        assert_eq!(e.to_string(), "`sh -c \"echo boom >&2; exit 3\"` failed exit status 3: boom");
    }

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("45"), Some(Duration::from_secs(45)));
        assert_eq!(parse_duration("soon"), None);
    }

    #[test]
    fn empty_and_spaced_args_are_quoted() {
        assert_eq!(args_to_log(&["a".into(), "".into(), "b c".into()]), "a \"\" \"b c\"");
    }
}
