//! One parameter set -> one Application (docs/controller-appset.md §3, §3.4):
//! the generator-level template merged over the ApplicationSet template,
//! every string (and map key) templated, `templatePatch` merged on, then the
//! namespace, resources finalizer and controller ownerReference set.

use super::generator::ParamSet;
use super::params::Params;
use super::{fasttemplate, gotemplate, ApplicationSet, Error, Result, API_VERSION, RESOURCES_FINALIZER};
use serde_json::{json, Map, Value};

/// The template engine of one ApplicationSet: fasttemplate or goTemplate
/// with its options.
#[derive(Clone, Debug)]
pub struct Engine {
    go: Option<gotemplate::Options>,
}

impl Engine {
    /// The engine an ApplicationSet asks for; bad `goTemplateOptions` fail here.
    pub fn new(appset: &ApplicationSet) -> Result<Engine> {
        if !appset.spec.go_template {
            return Ok(Engine { go: None });
        }
        let options = gotemplate::Options::from_strings(&appset.spec.go_template_options)
            .map_err(|message| Error::Spec { name: appset.metadata.name.clone(), message })?;
        Ok(Engine { go: Some(options) })
    }

    /// A fasttemplate engine (tests and callers without an ApplicationSet).
    pub fn fast() -> Engine {
        Engine { go: None }
    }

    /// A goTemplate engine with `options`.
    pub fn go(options: gotemplate::Options) -> Engine {
        Engine { go: Some(options) }
    }

    /// Whether this is goTemplate mode (params are nested).
    pub fn is_go(&self) -> bool {
        self.go.is_some()
    }

    /// The same engine with `missingkey=error` forced (matrix interpolation, §2.4).
    pub fn strict(&self) -> Engine {
        match self.go {
            Some(_) => Engine { go: Some(gotemplate::Options { missing_key: gotemplate::MissingKey::Error }) },
            None => Engine { go: None },
        }
    }

    /// Renders one string.
    pub fn render_str(&self, text: &str, params: &Params) -> std::result::Result<String, String> {
        match &self.go {
            None => Ok(fasttemplate::render(text, params)),
            Some(options) => {
                if !text.contains("{{") {
                    return Ok(text.to_string());
                }
                gotemplate::render(text, &Value::Object(params.clone()), *options).map_err(|e| e.to_string())
            }
        }
    }

    /// Renders every string and map key inside `value`; errors name the field.
    pub fn render_value(&self, value: &Value, params: &Params, field: &str) -> Result<Value> {
        let fail = |f: &str, message: String| Error::Template { field: f.to_string(), message };
        Ok(match value {
            Value::String(s) => Value::String(self.render_str(s, params).map_err(|m| fail(field, m))?),
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.push(self.render_value(item, params, &format!("{field}[{i}]"))?);
                }
                Value::Array(out)
            }
            Value::Object(map) => {
                let mut out = Map::new();
                for (k, v) in map {
                    let child = format!("{field}.{k}");
                    let key = self.render_str(k, params).map_err(|m| fail(&child, m))?;
                    out.insert(key, self.render_value(v, params, &child)?);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }
}

/// Fills every unset field of `over` from `base`, recursively (Go `mergo.Merge`
/// without override): the generator-level template wins where it says
/// something, the ApplicationSet template supplies the rest.
pub fn merge_template(over: &Value, base: &Value) -> Value {
    match (over, base) {
        (Value::Object(o), Value::Object(b)) => {
            let mut out = b.clone();
            for (k, v) in o {
                let merged = match b.get(k) {
                    Some(bv) => merge_template(v, bv),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (o, b) if super::params::is_empty(o) => b.clone(),
        (o, _) => o.clone(),
    }
}

/// Renders the Application for one parameter set.
pub fn application(appset: &ApplicationSet, engine: &Engine, set: &ParamSet) -> Result<Value> {
    let template = match &set.template {
        Some(t) => merge_template(t, &appset.spec.template),
        None => appset.spec.template.clone(),
    };
    let rendered = engine.render_value(&template, &set.params, "template")?;
    let mut app = json!({
        "apiVersion": API_VERSION,
        "kind": "Application",
        "metadata": rendered.get("metadata").cloned().unwrap_or_else(|| json!({})),
        "spec": rendered.get("spec").cloned().unwrap_or_else(|| json!({})),
    });
    // Argo CD adds the finalizer while rendering, before the patch, so a
    // patch that adds finalizers keeps the resources finalizer too.
    add_resources_finalizer(&mut app, appset);
    if let Some(patch) = appset.spec.template_patch.as_deref() {
        apply_template_patch(&mut app, patch, engine, &set.params)?;
    }
    set_owner_and_namespace(&mut app, appset);
    Ok(app)
}

/// §3.3: render the patch, parse it as YAML/JSON, merge it onto the app and
/// restore `spec.project`. Argo CD strategic-merge-patches with the
/// Application type: maps merge, `null` deletes, lists are replaced (the spec
/// declares no merge keys) except `metadata.finalizers`, which ObjectMeta
/// marks `patchStrategy: merge` (a union keeping the existing order).
fn apply_template_patch(app: &mut Value, patch: &str, engine: &Engine, params: &Params) -> Result<()> {
    let fail = |message: String| Error::Template { field: "templatePatch".into(), message };
    let text = engine.render_str(patch, params).map_err(fail)?;
    let docs = crate::render::yaml::parse::parse_stream(&text)
        .map_err(|e| fail(format!("rendered patch is not valid YAML (line {}): {e}", e.line)))?;
    let patch = match docs.as_slice() {
        [] => return Ok(()),
        [doc] => doc.value.clone(),
        _ => return Err(fail("rendered patch holds several YAML documents; use one".into())),
    };
    match &patch {
        Value::Null => return Ok(()),
        Value::Object(map) => {
            if let Some(bad) = map.keys().find(|k| !matches!(k.as_str(), "metadata" | "spec" | "apiVersion" | "kind")) {
                return Err(fail(format!(
                    "rendered patch has unknown top-level field {bad:?}; patch metadata or spec"
                )));
            }
            for part in ["metadata", "spec"] {
                if let Some(v) = map.get(part) {
                    if !v.is_object() && !v.is_null() {
                        return Err(fail(format!("rendered patch field {part} must be a map")));
                    }
                }
            }
        }
        _ => return Err(fail("rendered patch must be a YAML map".into())),
    }
    let project = app.pointer("/spec/project").cloned();
    let mut patch = patch;
    if let (Some(existing), Some(added)) = (
        app.pointer("/metadata/finalizers").and_then(Value::as_array).cloned(),
        patch.pointer_mut("/metadata/finalizers").and_then(Value::as_array_mut),
    ) {
        let mut union = existing;
        for f in added.drain(..) {
            if !union.contains(&f) {
                union.push(f);
            }
        }
        *added = union;
    }
    json_patch::merge(app, &patch);
    if let Some(spec) = app.get_mut("spec").and_then(Value::as_object_mut) {
        match project {
            Some(p) => {
                spec.insert("project".into(), p);
            }
            None => {
                spec.remove("project");
            }
        }
    }
    Ok(())
}

/// §3.4: the resources finalizer unless the template sets finalizers or the
/// ApplicationSet preserves resources on deletion.
fn add_resources_finalizer(app: &mut Value, appset: &ApplicationSet) {
    let Some(meta) = app.get_mut("metadata").and_then(Value::as_object_mut) else { return };
    let has_finalizers = meta.get("finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
    if !has_finalizers && !appset.preserve_resources_on_deletion() {
        meta.insert("finalizers".into(), json!([RESOURCES_FINALIZER]));
    }
}

/// §3.4 and §4 step 5: namespace forced to the ApplicationSet's, controller
/// ownerReference to it.
fn set_owner_and_namespace(app: &mut Value, appset: &ApplicationSet) {
    let Some(meta) = app.get_mut("metadata").and_then(Value::as_object_mut) else { return };
    meta.insert("namespace".into(), Value::String(appset.metadata.namespace.clone()));
    meta.insert("ownerReferences".into(), json!([owner_reference(appset)]));
}

/// The controller ownerReference every generated Application carries.
pub fn owner_reference(appset: &ApplicationSet) -> Value {
    json!({
        "apiVersion": API_VERSION,
        "kind": "ApplicationSet",
        "name": appset.metadata.name,
        "uid": appset.metadata.uid,
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(v: Value) -> Params {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn merge_template_generator_fields_win_unset_fall_back() {
        let base = json!({"metadata": {"name": "{{x}}", "labels": {"a": "1"}}, "spec": {"project": "default"}});
        let over = json!({"metadata": {"name": "", "labels": {"b": "2"}}, "spec": {"project": "team"}});
        assert_eq!(
            merge_template(&over, &base),
            json!({"metadata": {"name": "{{x}}", "labels": {"a": "1", "b": "2"}}, "spec": {"project": "team"}})
        );
    }

    #[test]
    fn render_value_templates_keys_and_strings_but_not_other_scalars() {
        let engine = Engine::fast();
        let v = json!({"labels": {"{{k}}": "{{v}}"}, "n": 3, "b": true, "l": ["{{v}}"]});
        let out = engine.render_value(&v, &params(json!({"k": "env", "v": "prod"})), "template").expect("renders");
        assert_eq!(out, json!({"labels": {"env": "prod"}, "n": 3, "b": true, "l": ["prod"]}));
    }

    #[test]
    fn go_template_error_names_the_field() {
        let engine = Engine::go(gotemplate::Options { missing_key: gotemplate::MissingKey::Error });
        let err = engine
            .render_value(&json!({"metadata": {"name": "{{.nope}}"}}), &params(json!({})), "template")
            .expect_err("missing key");
        assert_eq!(
            err.to_string(),
            "rendering template.metadata.name: map has no entry for key \"nope\" (in template \"{{.nope}}\")"
        );
    }
}
