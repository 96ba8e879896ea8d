//! The tonic service `plugin.ConfigManagementPluginService`: thin handlers that hand
//! the stream to `request.rs`, and the single `Failure -> tonic::Status` mapping with
//! Argo CD's per-RPC prefixes (docs/cmp-protocol.md §10). Read top to bottom:
//! GenerateManifest (§8), CheckPluginConfiguration (§13), MatchRepository (§11),
//! GetParametersAnnouncement (§12).

use crate::cmp::error::{Code, Failure, Phase};
use crate::cmp::proto::config_management_plugin_service_server::ConfigManagementPluginService;
use crate::cmp::proto::{
    AppStreamRequest, CheckPluginConfigurationResponse, ManifestResponse, ParametersAnnouncementResponse,
    RepositoryResponse,
};
use crate::cmp::{request, Shared};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tonic::{Request, Response, Status, Streaming};
use tracing::{info, instrument, warn};

/// The service: shared immutable state only.
#[derive(Clone)]
pub struct CmpService {
    pub(crate) shared: Arc<Shared>,
}

/// The RPC a failure belongs to; it picks the message prefix.
#[derive(Clone, Copy, Debug)]
enum Rpc {
    Generate,
    Match,
    Parameters,
}

#[tonic::async_trait]
impl ConfigManagementPluginService for CmpService {
    #[instrument(skip_all, fields(rpc = "GenerateManifest"))]
    async fn generate_manifest(
        &self,
        request: Request<Streaming<AppStreamRequest>>,
    ) -> Result<Response<ManifestResponse>, Status> {
        let deadline = deadline(&request);
        let timer = self.timer(Rpc::Generate);
        let (manifests, cache) =
            timer.done(request::generate(&self.shared, request.into_inner(), deadline).await, Rpc::Generate)?;
        self.shared.metrics.cache(cache.as_str());
        info!(manifests = manifests.len(), cache = cache.as_str(), "generated");
        let manifests = Arc::try_unwrap(manifests).unwrap_or_else(|shared| shared.as_ref().clone());
        let mut response = Response::new(ManifestResponse { manifests, source_type: String::new() });
        response.metadata_mut().insert("kcmp-cache", tonic::metadata::MetadataValue::from_static(cache.as_str()));
        Ok(response)
    }

    #[instrument(skip_all, fields(rpc = "CheckPluginConfiguration"))]
    async fn check_plugin_configuration(
        &self,
        _request: Request<()>,
    ) -> Result<Response<CheckPluginConfigurationResponse>, Status> {
        let config = &self.shared.config;
        Ok(Response::new(CheckPluginConfigurationResponse {
            is_discovery_configured: config.discover.rule().is_some(),
            provide_git_creds: config.provide_git_creds,
        }))
    }

    #[instrument(skip_all, fields(rpc = "MatchRepository"))]
    async fn match_repository(
        &self,
        request: Request<Streaming<AppStreamRequest>>,
    ) -> Result<Response<RepositoryResponse>, Status> {
        let deadline = deadline(&request);
        let (is_supported, is_discovery_enabled) =
            request::match_repository(&self.shared, request.into_inner(), deadline)
                .await
                .map_err(|f| status(Rpc::Match, f))?;
        info!(is_supported, "matched");
        Ok(Response::new(RepositoryResponse { is_supported, is_discovery_enabled }))
    }

    #[instrument(skip_all, fields(rpc = "GetParametersAnnouncement"))]
    async fn get_parameters_announcement(
        &self,
        request: Request<Streaming<AppStreamRequest>>,
    ) -> Result<Response<ParametersAnnouncementResponse>, Status> {
        let deadline = deadline(&request);
        let timer = self.timer(Rpc::Parameters);
        let parameter_announcements =
            timer.done(request::parameters(&self.shared, request.into_inner(), deadline).await, Rpc::Parameters)?;
        Ok(Response::new(ParametersAnnouncementResponse { parameter_announcements }))
    }
}

impl CmpService {
    fn timer(&self, rpc: Rpc) -> Timer<'_> {
        self.shared.metrics.started(rpc.name());
        Timer { service: self, started: Instant::now() }
    }
}

/// Counts a request in the metrics from start to reply.
struct Timer<'a> {
    service: &'a CmpService,
    started: Instant,
}

impl Timer<'_> {
    /// Records the outcome and maps a failure to its status.
    fn done<T>(self, result: Result<T, Failure>, rpc: Rpc) -> Result<T, Status> {
        let result = result.map_err(|f| status(rpc, f));
        let code = result.as_ref().err().map(Status::code);
        self.service.shared.metrics.finished(rpc.name(), self.started.elapsed(), code);
        result
    }
}

impl Rpc {
    fn name(self) -> &'static str {
        match self {
            Rpc::Generate => "GenerateManifest",
            Rpc::Match => "MatchRepository",
            Rpc::Parameters => "GetParametersAnnouncement",
        }
    }
}

/// The one mapping from a request failure to the status the repo-server shows.
fn status(rpc: Rpc, failure: Failure) -> Status {
    let receiving = matches!(failure.phase, Phase::Queue | Phase::Receive | Phase::Extract);
    let prefix = match (rpc, receiving) {
        (Rpc::Generate, true) => "generate manifest error receiving stream",
        (Rpc::Generate, false) => "error generating manifests",
        (Rpc::Match, true) => "match repository error receiving stream",
        (Rpc::Match, false) => "match repository error",
        (Rpc::Parameters, true) => "parameters announcement error receiving stream",
        (Rpc::Parameters, false) => "get parameters announcement error",
    };
    let code = match failure.code {
        Code::Failed => tonic::Code::Unknown,
        Code::DeadlineExceeded => tonic::Code::DeadlineExceeded,
        Code::Cancelled => tonic::Code::Cancelled,
        Code::ResourceExhausted => tonic::Code::ResourceExhausted,
        Code::Internal => tonic::Code::Internal,
    };
    // The message names files and commands, never env values or parameters.
    warn!(?rpc, phase = %failure.phase, code = ?code, "request failed");
    Status::new(code, format!("{prefix}: {failure}"))
}

/// The client's deadline minus 100 ms, as argocd-cmp-server derives it (§7.4), so
/// our own timeout fires first and names the phase.
fn deadline<T>(request: &Request<T>) -> Option<Instant> {
    let header = request.metadata().get("grpc-timeout")?.to_str().ok()?;
    let timeout = parse_grpc_timeout(header)?;
    Some(Instant::now() + timeout.saturating_sub(Duration::from_millis(100)))
}

/// `grpc-timeout`: up to 8 digits and a unit (H, M, S, m, u, n).
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (at, _) = value.char_indices().last()?;
    let (digits, unit) = value.split_at(at);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_header_units() {
        assert_eq!(parse_grpc_timeout("1500m"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_grpc_timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse_grpc_timeout("x"), None);
        assert_eq!(parse_grpc_timeout(""), None);
        assert_eq!(parse_grpc_timeout("5é"), None);
    }

    #[test]
    fn statuses_carry_argocd_prefixes_per_rpc_and_phase() {
        let s = status(Rpc::Generate, Failure::new(Phase::Generate, "`false` failed exit status 1"));
        assert_eq!(s.code(), tonic::Code::Unknown);
        assert_eq!(s.message(), "error generating manifests: `false` failed exit status 1");
        let s = status(Rpc::Match, Failure::new(Phase::Receive, "x").with_code(Code::ResourceExhausted));
        assert_eq!(s.code(), tonic::Code::ResourceExhausted);
        assert_eq!(s.message(), "match repository error receiving stream: x");
        let s = status(Rpc::Parameters, Failure::new(Phase::Parameters, "y"));
        assert_eq!(s.message(), "get parameters announcement error: y");
    }
}
