//! One request from start to reply, as named phases (docs/cmp-protocol.md §8, §11,
//! §12): wait for a slot -> receive -> extract -> (init -> generate | render) ->
//! respond. Each phase is timed; a failure carries the timings so its message says
//! where the time went. The per-request work dir is an `Arc<TempDir>` shared with
//! blocking tasks: it is removed when the last holder is done, also when the
//! request fails or the client goes away (the future is dropped).

use crate::cmp::archive::{self, Received};
use crate::cmp::cache::Cache;
use crate::cmp::command::{self, CommandError};
use crate::cmp::config::{Generate, InProcess, Rule};
use crate::cmp::error::{Code, Failure, Phase};
use crate::cmp::proto::{AppStreamRequest, ParameterAnnouncement};
use crate::cmp::{discovery, manifests, params, Shared};
use crate::render;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tempfile::TempDir;
use tokio::time::Instant;
use tokio_stream::Stream;

/// Phase timings of one request.
struct Clock {
    timings: Vec<(Phase, std::time::Duration)>,
    deadline: Option<Instant>,
    metrics: Arc<crate::cmp::metrics::Metrics>,
}

impl Clock {
    /// Runs one phase under the request deadline and records how long it took.
    async fn phase<T>(&mut self, phase: Phase, work: impl Future<Output = Result<T, Failure>>) -> Result<T, Failure> {
        let started = Instant::now();
        let result = match self.deadline {
            Some(at) => match tokio::time::timeout_at(at, work).await {
                Ok(r) => r,
                Err(_) => Err(Failure::new(
                    phase,
                    format!("deadline exceeded during {phase}: the client's timeout ran out (raise the Argo CD repo-server timeout)"),
                )
                .with_code(Code::DeadlineExceeded)),
            },
            None => work.await,
        };
        let took = started.elapsed();
        self.metrics.phase(phase, took);
        self.timings.push((phase, took));
        result.map_err(|mut f| {
            f.timings = std::mem::take(&mut self.timings);
            f
        })
    }
}

/// The work dir and app dir of a received, extracted request.
struct Unpacked {
    /// Removed when the last clone is dropped.
    work: Arc<TempDir>,
    app: PathBuf,
    env: Vec<(String, String)>,
    mentions_sops: bool,
}

/// Which RPC a work dir is for (Argo CD names it in the creation error).
#[derive(Clone, Copy)]
pub(crate) enum Purpose {
    Generate,
    Match,
    Parameters,
}

/// Creates the request's work dir and receives the verified archive.
async fn receive<S>(
    shared: &Shared,
    clock: &mut Clock,
    stream: S,
    purpose: Purpose,
) -> Result<(Arc<TempDir>, Received), Failure>
where
    S: Stream<Item = Result<AppStreamRequest, tonic::Status>> + Unpin,
{
    let what = match purpose {
        Purpose::Generate => "manifest generation",
        Purpose::Match => "repository matching",
        Purpose::Parameters => "generating parameter announcements",
    };
    let work = tempfile::Builder::new().prefix("req-").tempdir_in(&shared.work_root).map_err(|e| {
        Failure::new(Phase::Receive, format!("error creating workdir for {what}: error creating temp dir: {e}"))
            .with_code(Code::Internal)
    })?;
    let limits = shared.options.limits;
    let received = clock.phase(Phase::Receive, archive::receive(stream, &limits)).await?;
    Ok((Arc::new(work), received))
}

/// Unpacks the archive in a blocking task and resolves the app dir.
async fn extract(
    shared: &Shared,
    clock: &mut Clock,
    work: Arc<TempDir>,
    received: Received,
) -> Result<Unpacked, Failure> {
    let Received { metadata, archive } = received;
    let limits = shared.options.limits;
    let dir = Arc::clone(&work);
    let preserve = shared.config.preserve_file_mode;
    let extracted = clock
        .phase(Phase::Extract, async move {
            let task = tokio::task::spawn_blocking(move || archive::extract(&archive, dir.path(), &limits, preserve));
            task.await.map_err(|e| joined(Phase::Extract, e))?
        })
        .await?;
    let app = app_path(work.path(), &metadata.app_rel_path)
        .ok_or_else(|| Failure::new(Phase::Extract, "illegal appPath: out of workDir bound"))?;
    Ok(Unpacked { work, app, env: params::env_pairs(&metadata.env), mentions_sops: extracted.mentions_sops })
}

async fn receive_and_extract<S>(
    shared: &Shared,
    clock: &mut Clock,
    stream: S,
    purpose: Purpose,
) -> Result<Unpacked, Failure>
where
    S: Stream<Item = Result<AppStreamRequest, tonic::Status>> + Unpin,
{
    let (work, received) = receive(shared, clock, stream, purpose).await?;
    extract(shared, clock, work, received).await
}

/// `clean(join(workDir, appRelPath))`, refused when it leaves the work dir (§6).
fn app_path(work: &Path, rel: &str) -> Option<PathBuf> {
    let rel = Path::new(rel);
    if rel.is_absolute() {
        return None;
    }
    let joined = render::load::normalize(&work.join(rel));
    joined.starts_with(work).then_some(joined)
}

fn joined(phase: Phase, e: tokio::task::JoinError) -> Failure {
    Failure::new(phase, format!("internal error: worker task failed: {e}")).with_code(Code::Internal)
}

fn command_failure(phase: Phase, e: CommandError) -> Failure {
    let code = if matches!(e, CommandError::Timeout { .. }) { Code::DeadlineExceeded } else { Code::Failed };
    Failure::new(phase, e.to_string()).with_code(code)
}

/// The earlier of the client deadline and `now + ARGOCD_EXEC_TIMEOUT`.
fn command_deadline(shared: &Shared, client: Option<Instant>) -> Option<Instant> {
    let exec = shared.options.exec_timeout.map(|t| Instant::now() + t);
    match (client, exec) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Whether a GenerateManifest answer came from the cache (sent as `kcmp-cache`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CacheOutcome {
    /// Served from memory: no extraction, no render.
    Hit,
    /// Rendered and stored.
    Miss,
    /// Not cacheable (compat mode, possible SOPS content, cache disabled).
    Off,
}

impl CacheOutcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CacheOutcome::Hit => "hit",
            CacheOutcome::Miss => "miss",
            CacheOutcome::Off => "off",
        }
    }
}

/// GenerateManifest: the manifest strings of the app.
pub(crate) async fn generate<S>(
    shared: &Shared,
    stream: S,
    deadline: Option<Instant>,
) -> Result<(Arc<Vec<String>>, CacheOutcome), Failure>
where
    S: Stream<Item = Result<AppStreamRequest, tonic::Status>> + Unpin,
{
    let mut clock = Clock { timings: Vec::new(), deadline, metrics: Arc::clone(&shared.metrics) };
    let _permit = clock.phase(Phase::Queue, wait_for_slot(shared)).await?;
    let (work, received) = receive(shared, &mut clock, stream, Purpose::Generate).await?;
    // Only the in-process engine is a pure function of the request; commands are not.
    let key = match &shared.config.generate {
        Generate::InProcess(_) if shared.options.cache_bytes > 0 => {
            Some(Cache::key(&received.metadata, &shared.config_fingerprint))
        }
        _ => None,
    };
    if let Some(hit) = key.as_ref().and_then(|k| shared.cache.get(k)) {
        return Ok((hit, CacheOutcome::Hit));
    }
    let req = extract(shared, &mut clock, work, received).await?;
    let manifests = match &shared.config.generate {
        Generate::InProcess(settings) => {
            let options = render_options(shared, settings, &req.env)?;
            let (work, app) = (Arc::clone(&req.work), req.app.clone());
            clock
                .phase(Phase::Render, async move {
                    let task = tokio::task::spawn_blocking(move || {
                        let _hold = work;
                        render::render(&app, &options)
                            .map(|r| render::emit::to_manifest_json(&r))
                            .map_err(|e| Failure::new(Phase::Render, error_chain(&e)))
                    });
                    task.await.map_err(|e| joined(Phase::Render, e))?
                })
                .await?
        }
        Generate::Command(cmd) => {
            let base = &shared.options.base_env;
            if let Some(init) = &shared.config.init {
                let at = command_deadline(shared, deadline);
                clock
                    .phase(Phase::Init, async {
                        command::run(init, &req.app, base, &req.env, at)
                            .await
                            .map_err(|e| command_failure(Phase::Init, e))
                    })
                    .await?;
            }
            let at = command_deadline(shared, deadline);
            clock
                .phase(Phase::Generate, async {
                    let out = command::run(cmd, &req.app, base, &req.env, at)
                        .await
                        .map_err(|e| command_failure(Phase::Generate, e))?;
                    manifests::split(&out).map_err(|e| Failure::new(Phase::Generate, e))
                })
                .await?
        }
    };
    let limit = shared.options.max_message_bytes;
    clock
        .phase(Phase::Respond, async {
            // Each repeated string costs its bytes plus a tag and a length prefix.
            let size: usize = manifests.iter().map(|m| m.len() + 11).sum();
            if size > limit {
                return Err(Failure::new(
                    Phase::Respond,
                    format!(
                        "{} manifests take {size} bytes, over the gRPC message limit of {limit} bytes; raise ARGOCD_GRPC_MAX_SIZE_MB on the sidecar and the repo-server, or split the application",
                        manifests.len()
                    ),
                )
                .with_code(Code::ResourceExhausted));
            }
            Ok(())
        })
        .await?;
    let manifests = Arc::new(manifests);
    let cacheable = !req.mentions_sops || shared.options.cache_decrypted;
    drop(req);
    match key {
        Some(key) if cacheable => {
            shared.cache.put(key, Arc::clone(&manifests));
            Ok((manifests, CacheOutcome::Miss))
        }
        _ => Ok((manifests, CacheOutcome::Off)),
    }
}

fn render_options(shared: &Shared, settings: &InProcess, env: &[(String, String)]) -> Result<render::Options, Failure> {
    let template = params::template_context(env).map_err(|e| Failure::new(Phase::Render, error_chain(&e)))?;
    let decryption =
        if settings.decrypt { shared.options.decryption.clone() } else { render::sops::Decryption::Disabled };
    let directory = if settings.recurse { render::DirectoryMode::Recurse } else { render::DirectoryMode::TopLevel };
    Ok(render::Options { directory, template, decryption })
}

/// MatchRepository: `(isSupported, isDiscoveryEnabled)`.
pub(crate) async fn match_repository<S>(
    shared: &Shared,
    stream: S,
    deadline: Option<Instant>,
) -> Result<(bool, bool), Failure>
where
    S: Stream<Item = Result<AppStreamRequest, tonic::Status>> + Unpin,
{
    let mut clock = Clock { timings: Vec::new(), deadline, metrics: Arc::clone(&shared.metrics) };
    let _permit = clock.phase(Phase::Queue, wait_for_slot(shared)).await?;
    let req = receive_and_extract(shared, &mut clock, stream, Purpose::Match).await?;
    let Some(rule) = shared.config.discover.rule() else {
        return Ok((false, false));
    };
    let at = command_deadline(shared, deadline);
    let app = req.app.clone();
    let supported = clock
        .phase(Phase::Discover, async move {
            match rule {
                Rule::FileName(p) => {
                    let p = p.to_string();
                    blocking(Phase::Discover, move || discovery::file_name_matches(&app, &p)).await
                }
                Rule::Glob(p) => {
                    let p = p.to_string();
                    blocking(Phase::Discover, move || discovery::glob_matches(&app, &p)).await
                }
                Rule::Command(cmd) => command::run(&cmd, &app, &shared.options.base_env, &req.env, at)
                    .await
                    .map(|out| !out.is_empty())
                    .map_err(|e| Failure::new(Phase::Discover, format!("error running find command: {e}"))),
            }
        })
        .await?;
    Ok((supported, true))
}

async fn blocking(phase: Phase, f: impl FnOnce() -> Result<bool, String> + Send + 'static) -> Result<bool, Failure> {
    tokio::task::spawn_blocking(f).await.map_err(|e| joined(phase, e))?.map_err(|e| Failure::new(phase, e))
}

/// GetParametersAnnouncement: dynamic items, then static ones.
pub(crate) async fn parameters<S>(
    shared: &Shared,
    stream: S,
    deadline: Option<Instant>,
) -> Result<Vec<ParameterAnnouncement>, Failure>
where
    S: Stream<Item = Result<AppStreamRequest, tonic::Status>> + Unpin,
{
    let mut clock = Clock { timings: Vec::new(), deadline, metrics: Arc::clone(&shared.metrics) };
    let _permit = clock.phase(Phase::Queue, wait_for_slot(shared)).await?;
    let req = receive_and_extract(shared, &mut clock, stream, Purpose::Parameters).await?;
    let spec = &shared.config.parameters;
    let at = command_deadline(shared, deadline);
    clock
        .phase(Phase::Parameters, async {
            let dynamic = if spec.dynamic.command.is_empty() {
                None
            } else {
                let out = command::run(&spec.dynamic, &req.app, &shared.options.base_env, &req.env, at).await.map_err(
                    |e| {
                        Failure::new(
                            Phase::Parameters,
                            format!("error executing dynamic parameter output command: {e}"),
                        )
                    },
                )?;
                Some(out)
            };
            params::announcements(&spec.static_, dynamic.as_deref()).map_err(|e| Failure::new(Phase::Parameters, e))
        })
        .await
}

/// Queues for one of `--max-concurrent` slots.
async fn wait_for_slot(shared: &Shared) -> Result<tokio::sync::SemaphorePermit<'_>, Failure> {
    shared
        .slots
        .acquire()
        .await
        .map_err(|_| Failure::new(Phase::Queue, "the server is shutting down").with_code(Code::Internal))
}

/// `Display` of an error and its sources, `: `-joined, for the Argo CD UI.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_path_must_stay_in_the_work_dir() {
        let w = Path::new("/w/req-1");
        assert_eq!(app_path(w, "."), Some(PathBuf::from("/w/req-1")));
        assert_eq!(app_path(w, "apps/x/../y"), Some(PathBuf::from("/w/req-1/apps/y")));
        assert_eq!(app_path(w, "../req-2"), None);
        assert_eq!(app_path(w, "/etc"), None);
    }
}
