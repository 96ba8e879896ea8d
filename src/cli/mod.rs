//! Command-line front ends of both binaries. The only layer that reads the process
//! environment, prints, and picks exit codes; errors are `anyhow` here.

pub mod app;
pub mod controller;
pub mod render;
pub mod serve;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// `kcmp`: every command of the project in one binary.
#[derive(Debug, Parser)]
#[command(name = "kcmp", version, about = "Fast, safe Argo CD manifest generation")]
pub struct KcmpCli {
    #[command(subcommand)]
    command: KcmpCommand,
}

#[derive(Debug, Subcommand)]
enum KcmpCommand {
    /// Render a directory like `kubectl kustomize` (same as the `render` binary).
    Render(render::RenderArgs),
    /// Compare, sync and wait for Argo CD Applications (embedded controller).
    App(app::AppArgs),
    /// Run the Argo CD Config Management Plugin sidecar on a unix socket.
    Serve(serve::ServeArgs),
    /// Run the embedded GitOps controller (reconcile loop), or print its CRDs.
    Controller(controller::ControllerArgs),
}

/// Entry point of the `kcmp` binary.
pub fn kcmp_main() -> ExitCode {
    init_tracing();
    let cli = KcmpCli::parse();
    let result = match cli.command {
        KcmpCommand::Render(args) => render::run(&args),
        KcmpCommand::App(args) => Ok(app::run(&args)),
        KcmpCommand::Serve(args) => serve::run(&args),
        KcmpCommand::Controller(args) => controller::run(&args),
    };
    exit_code(result)
}

/// Entry point of the `render` binary.
pub fn render_main() -> ExitCode {
    init_tracing();
    let args = render::RenderArgs::parse();
    exit_code(render::run(&args))
}

/// The one place errors become exit codes: the full chain on stderr, exit 1.
fn exit_code(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr (stdout carries manifests), filtered by `RUST_LOG` (default warn);
/// colours only when stderr is a terminal, so CI logs and Argo CD's captured stderr stay plain;
/// JSON lines when `ARGOCD_CMP_SERVER_LOGFORMAT=json` (the sidecar's log option).
fn init_tracing() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = if std::env::var("ARGOCD_CMP_SERVER_LOGFORMAT").is_ok_and(|f| f == "json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
