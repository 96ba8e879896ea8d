//! The template context: what `env`, `params`, `app` and `kube` hold, built from
//! the variables Argo CD gives a plugin (docs/cmp-protocol.md §9.3). The sidecar
//! and `render` both call [`Context::from_vars`], so the same variables give the
//! same output.

use super::Context;
use crate::render::error::{Error, ErrorKind, Result};
use serde_json::{Map, Value};

/// `ARGOCD_APP_*` variable -> `app.*` key.
const APP_VARS: [(&str, &str); 9] = [
    ("ARGOCD_APP_NAME", "name"),
    ("ARGOCD_APP_NAMESPACE", "namespace"),
    ("ARGOCD_APP_PROJECT_NAME", "project"),
    ("ARGOCD_APP_REVISION", "revision"),
    ("ARGOCD_APP_REVISION_SHORT", "revision_short"),
    ("ARGOCD_APP_REVISION_SHORT_8", "revision_short_8"),
    ("ARGOCD_APP_SOURCE_REPO_URL", "repo_url"),
    ("ARGOCD_APP_SOURCE_PATH", "path"),
    ("ARGOCD_APP_SOURCE_TARGET_REVISION", "target_revision"),
];

impl Context {
    /// Builds the context from environment-style variables (`ARGOCD_ENV_*`,
    /// `ARGOCD_APP_*`, `ARGOCD_APP_PARAMETERS`, `KUBE_*`); other names are ignored.
    /// Only variables that are set appear, so a template that needs a missing one
    /// fails (strict) unless it gives a `default()`.
    pub fn from_vars<'a>(vars: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Context> {
        let mut ctx = Context::default();
        for (k, v) in vars {
            if let Some(name) = k.strip_prefix("ARGOCD_ENV_") {
                ctx.env.insert(name.to_string(), v.to_string());
            } else if k == "ARGOCD_APP_PARAMETERS" {
                ctx.params = parameters(v)?;
            } else if let Some((_, key)) = APP_VARS.iter().find(|(var, _)| *var == k) {
                ctx.app.insert((*key).to_string(), v.to_string());
            } else if k == "KUBE_VERSION" {
                ctx.kube.insert("version".into(), Value::String(v.to_string()));
            } else if k == "KUBE_API_VERSIONS" {
                let list = v.split(',').filter(|s| !s.is_empty()).map(|s| Value::String(s.to_string())).collect();
                ctx.kube.insert("api_versions".into(), Value::Array(list));
            }
        }
        Ok(ctx)
    }
}

fn bad(detail: String) -> Error {
    Error::new(ErrorKind::Template, format!("ARGOCD_APP_PARAMETERS: {detail}"))
}

/// Argo CD's parameter list (`[{name, string | array | map}]`, or `null`) as a
/// map name -> string, list of strings or map of strings. A later entry with
/// the same name wins; an entry with no value is the empty string; an empty
/// variable means no parameters.
fn parameters(json: &str) -> Result<Map<String, Value>> {
    if json.trim().is_empty() {
        return Ok(Map::new());
    }
    let list: Value =
        serde_json::from_str(json).map_err(|e| bad(format!("expected a JSON list of parameters ({e})")))?;
    let items = match list {
        Value::Null => return Ok(Map::new()),
        Value::Array(items) => items,
        _ => {
            return Err(bad(
                "expected a JSON list of parameters, like [{\"name\": \"replicas\", \"string\": \"3\"}]".into()
            ))
        }
    };
    let mut out = Map::new();
    for (i, item) in items.into_iter().enumerate() {
        let Value::Object(mut fields) = item else {
            return Err(bad(format!("entry {i} is not an object with a name")));
        };
        let name = match fields.remove("name") {
            Some(Value::String(n)) if !n.is_empty() => n,
            _ => return Err(bad(format!("entry {i} has no \"name\" string"))),
        };
        let strings = |v: &Value| match v {
            Value::String(_) => Ok(()),
            _ => Err(bad(format!("parameter {name:?}: array items and map values must be strings"))),
        };
        let value = if let Some(s) = fields.remove("string") {
            match s {
                Value::String(_) => s,
                _ => return Err(bad(format!("parameter {name:?}: \"string\" must be a string"))),
            }
        } else if let Some(a) = fields.remove("array") {
            match &a {
                Value::Array(items) => items.iter().try_for_each(strings)?,
                Value::Null => {}
                _ => return Err(bad(format!("parameter {name:?}: \"array\" must be a list of strings"))),
            }
            if a.is_null() {
                Value::Array(Vec::new())
            } else {
                a
            }
        } else if let Some(m) = fields.remove("map") {
            match &m {
                Value::Object(entries) => entries.values().try_for_each(strings)?,
                Value::Null => {}
                _ => return Err(bad(format!("parameter {name:?}: \"map\" must be a map of strings"))),
            }
            if m.is_null() {
                Value::Object(Map::new())
            } else {
                m
            }
        } else {
            Value::String(String::new())
        };
        out.insert(name, value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn variables_fill_env_params_app_and_kube() {
        let params = r#"[{"name":"replicas","string":"3"},{"array":["a.txt","b.txt"],"name":"files"},{"map":{"team":"web"},"name":"labels"}]"#;
        let ctx = Context::from_vars([
            ("ARGOCD_ENV_CPU_LIMIT", "500m"),
            ("ARGOCD_APP_PARAMETERS", params),
            ("ARGOCD_APP_NAME", "guestbook"),
            ("ARGOCD_APP_REVISION_SHORT", "abc1234"),
            ("ARGOCD_APP_SOURCE_REPO_URL", "https://git.example/repo"),
            ("KUBE_VERSION", "1.32"),
            ("KUBE_API_VERSIONS", "v1,apps/v1"),
            ("HOME", "/root"),
        ])
        .expect("valid");
        assert_eq!(ctx.env.get("CPU_LIMIT").map(String::as_str), Some("500m"));
        assert_eq!(
            Value::Object(ctx.params),
            json!({"replicas": "3", "files": ["a.txt", "b.txt"], "labels": {"team": "web"}})
        );
        assert_eq!(
            serde_json::to_value(&ctx.app).expect("map"),
            json!({"name": "guestbook", "revision_short": "abc1234", "repo_url": "https://git.example/repo"})
        );
        assert_eq!(Value::Object(ctx.kube), json!({"version": "1.32", "api_versions": ["v1", "apps/v1"]}));
    }

    #[test]
    fn null_parameters_are_none_and_bad_ones_are_named() {
        assert!(Context::from_vars([("ARGOCD_APP_PARAMETERS", "null")]).expect("null").params.is_empty());
        let err = Context::from_vars([("ARGOCD_APP_PARAMETERS", "{}")]).expect_err("not a list");
        assert_eq!(
            err.to_string(),
            "template error: ARGOCD_APP_PARAMETERS: expected a JSON list of parameters, like [{\"name\": \"replicas\", \"string\": \"3\"}]"
        );
        let err = Context::from_vars([("ARGOCD_APP_PARAMETERS", r#"[{"name":"a","array":[1]}]"#)]).expect_err("ints");
        assert_eq!(
            err.to_string(),
            "template error: ARGOCD_APP_PARAMETERS: parameter \"a\": array items and map values must be strings"
        );
    }
}
