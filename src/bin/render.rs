//! `render`: the kcmp engine as a `kubectl kustomize` replacement.
fn main() -> std::process::ExitCode {
    kcmp::cli::render_main()
}
