//! `render [DIR]`: the engine on the command line, output like `kubectl kustomize DIR`.

use crate::render::{self, sops, template, DirectoryMode, Options};
use anyhow::{Context as _, Result};
use clap::Parser;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `render` / `kcmp render`.
#[derive(Debug, Parser)]
#[command(name = "render", version, about = "Render a kustomization (or a directory of manifests) to a YAML stream")]
pub struct RenderArgs {
    /// Directory to build.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Write the YAML stream to this file instead of stdout.
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// For a directory without a kustomization: also read subdirectories.
    #[arg(long)]
    pub recurse: bool,
    /// Template variable, same as setting ARGOCD_ENV_NAME (repeatable).
    #[arg(long = "env", value_name = "NAME=VALUE")]
    pub env: Vec<String>,
    /// Plugin parameter as a string (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub param: Vec<String>,
    /// Plugin parameters as Argo CD's JSON list (`[{name, string|array|map}]`).
    #[arg(long = "params-json", value_name = "FILE")]
    pub params_json: Option<PathBuf>,
    /// Refuse to decrypt SOPS files (an encrypted file becomes an error).
    #[arg(long)]
    pub no_decrypt: bool,
}

/// Runs the command; the YAML goes to stdout or `--output`.
pub fn run(args: &RenderArgs) -> Result<ExitCode> {
    let options = options_from(args)?;
    let resources = render::render(&args.dir, &options).map_err(anyhow::Error::new)?;
    let yaml = render::emit::to_yaml_stream(&resources);
    match &args.output {
        Some(path) => std::fs::write(path, yaml).with_context(|| format!("writing {}", path.display()))?,
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(yaml.as_bytes()).context("writing to stdout")?;
            out.flush().context("writing to stdout")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Process environment + flags -> engine options (the same variables the sidecar uses).
pub fn options_from(args: &RenderArgs) -> Result<Options> {
    let mut vars: BTreeMap<String, String> = std::env::vars().collect();
    for kv in &args.env {
        let (k, v) = kv.split_once('=').with_context(|| format!("--env {kv:?}: expected NAME=VALUE"))?;
        vars.insert(format!("ARGOCD_ENV_{k}"), v.to_string());
    }
    let mut params: Vec<serde_json::Value> = match &args.params_json {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{}: expected a JSON list of parameters", path.display()))?
        }
        None => match vars.get("ARGOCD_APP_PARAMETERS") {
            Some(text) if !text.is_empty() && text != "null" => {
                serde_json::from_str(text).context("ARGOCD_APP_PARAMETERS: expected a JSON list of parameters")?
            }
            _ => Vec::new(),
        },
    };
    for kv in &args.param {
        let (k, v) = kv.split_once('=').with_context(|| format!("--param {kv:?}: expected NAME=VALUE"))?;
        params.retain(|p| p.get("name").and_then(|n| n.as_str()) != Some(k));
        params.push(serde_json::json!({"name": k, "string": v}));
    }
    if !params.is_empty() || args.params_json.is_some() {
        vars.insert("ARGOCD_APP_PARAMETERS".into(), serde_json::Value::Array(params).to_string());
    }
    let template =
        template::Context::from_vars(vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))).map_err(anyhow::Error::new)?;
    let decryption = if args.no_decrypt {
        sops::Decryption::Disabled
    } else {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        sops::Decryption::Enabled(sops::Keyring::from_vars(&vars, home.as_deref()).map_err(anyhow::Error::new)?)
    };
    let directory = if args.recurse { DirectoryMode::Recurse } else { DirectoryMode::TopLevel };
    Ok(Options { directory, template, decryption })
}
