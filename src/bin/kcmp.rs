//! `kcmp`: render, serve (CMP sidecar) and the embedded controller.
fn main() -> std::process::ExitCode {
    kcmp::cli::kcmp_main()
}
