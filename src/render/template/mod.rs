//! Templates: any file whose name ends in `.j2` is rendered with minijinja before
//! it is used (as the file without the suffix). YAML templates are structure-safe:
//! a value interpolated with `{{ … }}` always lands inside one scalar.
//!
//! STUB: signatures fixed by the lead; implementation pending (template helper).

use crate::render::error::{Error, ErrorKind, Result};
use crate::render::load::Fs;
use crate::render::yaml::parse::Document;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// What templates can see: `env`, `params`, `app`, `kube`. Built once per request
/// from the same variables for the sidecar and for `render`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Context {
    /// `ARGOCD_ENV_<NAME>` values, prefix stripped.
    pub env: BTreeMap<String, String>,
    /// Typed plugin parameters from `ARGOCD_APP_PARAMETERS`.
    pub params: Map<String, Value>,
    /// `app.*` values from the `ARGOCD_APP_*` variables.
    pub app: BTreeMap<String, String>,
    /// `kube.version`, `kube.api_versions`.
    pub kube: Map<String, Value>,
}

impl Context {
    /// Builds the context from environment-style variables (`ARGOCD_ENV_*`,
    /// `ARGOCD_APP_*`, `ARGOCD_APP_PARAMETERS`, `KUBE_*`); other names are ignored.
    pub fn from_vars<'a>(vars: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Context> {
        let mut ctx = Context::default();
        for (k, v) in vars {
            if let Some(name) = k.strip_prefix("ARGOCD_ENV_") {
                ctx.env.insert(name.to_string(), v.to_string());
            }
        }
        Ok(ctx)
    }
}

/// Renders a YAML template (`*.yaml.j2`, `*.yml.j2`, `*.json.j2` used as a resource,
/// `kustomization.yaml.j2`) into parsed documents. `app_root` bounds includes.
pub fn render_yaml(ctx: &Context, fs: &dyn Fs, app_root: &Path, path: &Path, source: &str) -> Result<Vec<Document>> {
    let _ = (ctx, fs, app_root, source);
    Err(Error::new(ErrorKind::Unsupported, "templates are not implemented yet").in_file(path.display()))
}

/// Renders a non-YAML template (generator sources such as `app.properties.j2`) to text.
pub fn render_text(ctx: &Context, fs: &dyn Fs, app_root: &Path, path: &Path, source: &str) -> Result<String> {
    let _ = (ctx, fs, app_root, source);
    Err(Error::new(ErrorKind::Unsupported, "templates are not implemented yet").in_file(path.display()))
}
