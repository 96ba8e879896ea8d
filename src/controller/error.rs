//! `controller::Error`: what failed, on which app, file or object. Messages are
//! lowercase and say what to fix; a cause sits in `#[source]` or in the message,
//! never both.

use std::path::PathBuf;

/// Errors of the embedded controller.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Application manifest cannot be used.
    #[error("{file}: invalid application: {message}")]
    Application {
        /// File (or `namespace/name` when read from the cluster).
        file: String,
        /// What is wrong.
        message: String,
    },
    /// The source cannot be fetched or is not supported.
    #[error("application '{app}': source: {message}")]
    Source {
        /// Application name.
        app: String,
        /// What is wrong.
        message: String,
    },
    /// The engine failed: nothing is applied.
    #[error("application '{app}': rendering {} failed", .path.display())]
    Render {
        /// Application name.
        app: String,
        /// Directory rendered.
        path: PathBuf,
        /// The engine's error.
        #[source]
        source: crate::render::Error,
    },
    /// A call to the API server failed.
    #[error("{what}: {message}")]
    Api {
        /// The call and its object (`apply apps/Deployment:ns/web`).
        what: String,
        /// The server's message.
        message: String,
        /// HTTP status code, 0 when the request never got an answer.
        code: u16,
    },
    /// The API server does not serve a kind the app uses.
    #[error("the server has no resource type for {api_version} {kind}: install its CRD or fix apiVersion/kind")]
    UnknownKind {
        /// apiVersion as written.
        api_version: String,
        /// Kind as written.
        kind: String,
    },
    /// The sync plan was refused.
    #[error("application '{app}': {message}")]
    Plan {
        /// Application name.
        app: String,
        /// Why.
        message: String,
    },
    /// A diff normalization rule cannot be applied.
    #[error("ignoreDifferences: {message}")]
    Diff {
        /// What is wrong with the rule.
        message: String,
    },
    /// Cluster configuration (kubeconfig, in-cluster) is unusable.
    #[error("cluster config: {message}")]
    Config {
        /// What is wrong.
        message: String,
    },
}

impl Error {
    /// Whether the error came from the API server with this HTTP code.
    pub fn is_code(&self, wanted: u16) -> bool {
        matches!(self, Error::Api { code, .. } if *code == wanted)
    }
}

/// Result alias of the controller layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;
