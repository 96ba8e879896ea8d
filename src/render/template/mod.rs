//! Templates (issue 4): any file whose name ends in `.j2` is rendered with
//! minijinja before it is used, as the file without the suffix; `load` calls this
//! per file, so Kustomize never sees template syntax (docs/style.md "Data flow").
//!
//! Structure safety: a value interpolated with `{{ … }}` can never change the
//! structure of what it lands in. Each interpolation renders as a placeholder
//! token (`slots`); the output is parsed with the tokens in place, and only
//! then are the values put into the scalars (YAML) or escaped into their spot
//! (JSON text). Control flow (`if`, `for`, macros, includes) stays with the
//! template author. Parts: `context` (what templates see), `engine` (minijinja
//! environment, includes, errors), `filters`, `slots` (tokens and substitution).

mod context;
mod engine;
mod filters;
mod slots;

use crate::render::error::{Error, ErrorKind, Result};
use crate::render::load::Fs;
use crate::render::yaml::parse::{parse_stream, parse_stream_with, Document, YamlError};
use engine::Mode;
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

/// Renders a YAML template (`*.yaml.j2`, `*.yml.j2`, `*.json.j2` used as a resource,
/// `kustomization.yaml.j2`) into parsed documents. `app_root` bounds includes.
///
/// ```
/// use kcmp::render::{load::MemFs, template::{render_yaml, Context}};
/// use std::path::Path;
/// let ctx = Context::from_vars([("ARGOCD_ENV_REPLICAS", "3"), ("ARGOCD_ENV_NAME", "web\nkind: Secret")])?;
/// let src = "metadata:\n  name: {{ env.NAME }}\nspec:\n  replicas: {{ env.REPLICAS }}\n";
/// let docs = render_yaml(&ctx, &MemFs::new(), Path::new("/app"), Path::new("/app/d.yaml.j2"), src)?;
/// assert_eq!(docs[0].value, serde_json::json!({"metadata": {"name": "web\nkind: Secret"}, "spec": {"replicas": 3}}));
/// # Ok::<(), kcmp::render::Error>(())
/// ```
pub fn render_yaml(ctx: &Context, fs: &dyn Fs, app_root: &Path, path: &Path, source: &str) -> Result<Vec<Document>> {
    let rendered = engine::render(ctx, fs, app_root, path, source, Mode::Yaml)?;
    place_in_yaml(&rendered)
}

/// Renders a non-YAML template (generator sources such as `app.properties.j2`) to text.
/// Values go in as text; in `.json` files they are JSON-escaped (the result must be
/// valid JSON), in `.env`/`.properties` files they may not hold a line break, and in
/// `.yaml`/`.yml` files they may not change the YAML structure.
pub fn render_text(ctx: &Context, fs: &dyn Fs, app_root: &Path, path: &Path, source: &str) -> Result<String> {
    let logical = path.with_extension("");
    let ext = logical.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    let mode = match ext.as_str() {
        "yaml" | "yml" => Mode::Yaml,
        "json" => Mode::Json,
        "env" | "properties" => Mode::Lines,
        _ => Mode::Text,
    };
    let rendered = engine::render(ctx, fs, app_root, path, source, mode)?;
    let in_file = |detail: String| Error::new(ErrorKind::Template, detail).in_file(&rendered.name);
    match mode {
        Mode::Yaml => {
            let safe = place_in_yaml(&rendered)?;
            let text = slots::substitute_text(&rendered.text, &rendered.slots).map_err(in_file)?;
            let plain: Vec<Value> =
                parse_stream(&text).map(|d| d.into_iter().map(|d| d.value).collect()).unwrap_or_default();
            let safe: Vec<Value> = safe.into_iter().map(|d| d.value).collect();
            if plain != safe {
                return Err(in_file(
                    "an interpolated value changes the YAML structure of this file as text; write the interpolation as a whole value with `| quote` (`key: {{ value | quote }}`)".into(),
                ));
            }
            Ok(text)
        }
        Mode::Json => {
            let text = slots::substitute_json(&rendered.text, &rendered.slots).map_err(in_file)?;
            if let Err(e) = serde_json::from_str::<Value>(&text) {
                return Err(Error::new(ErrorKind::Template, format!("the rendered file is not valid JSON: {e}"))
                    .in_file(&rendered.name)
                    .at_line(e.line()));
            }
            Ok(text)
        }
        Mode::Lines | Mode::Text => slots::substitute_text(&rendered.text, &rendered.slots).map_err(in_file),
    }
}

/// Parses rendered YAML with its tokens in place, then fills the scalars. A parse
/// error quotes the rendered line (values shown as `{{…}}`, so none leaks into
/// messages), since control flow makes its number differ from the template's.
fn place_in_yaml(rendered: &engine::Rendered) -> Result<Vec<Document>> {
    parse_stream_with(&rendered.text, &slots::YamlSlots { slots: &rendered.slots }).map_err(
        |YamlError { message, line }| {
            let shown = rendered.text.lines().nth(line.saturating_sub(1)).map(slots::mask).unwrap_or_default();
            let at = match shown.trim_end() {
                "" => format!("line {line} of the rendered template"),
                text => format!("line {line} of the rendered template: `{text}`"),
            };
            Error::new(ErrorKind::Yaml, format!("{message} ({at})")).in_file(&rendered.name)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::load::MemFs;
    use serde_json::json;

    fn ctx(vars: &[(&str, &str)]) -> Context {
        Context::from_vars(vars.iter().copied()).expect("context")
    }

    fn yaml(vars: &[(&str, &str)], src: &str) -> Result<Vec<Value>> {
        yaml_in(&MemFs::new(), vars, src)
    }

    fn yaml_in(fs: &MemFs, vars: &[(&str, &str)], src: &str) -> Result<Vec<Value>> {
        render_yaml(&ctx(vars), fs, Path::new("/app"), Path::new("/app/t.yaml.j2"), src)
            .map(|docs| docs.into_iter().map(|d| d.value).collect())
    }

    fn one(vars: &[(&str, &str)], src: &str) -> Value {
        yaml(vars, src).expect("renders").remove(0)
    }

    #[test]
    fn if_and_for_render_structure_from_the_template() {
        let params = r#"[{"name":"ports","array":["80","443"]},{"name":"labels","map":{"team":"web","tier":"front"}}]"#;
        let src = "kind: Service\n{% if env.EXPOSE == \"yes\" %}\nspec:\n  ports:\n  {% for p in params.ports %}\n  - port: {{ p }}\n    name: p{{ loop.index }}\n  {% endfor %}\n{% endif %}\nmetadata:\n  labels:\n  {% for k, v in params.labels | items %}\n    {{ k }}: {{ v }}\n  {% endfor %}\n";
        let v = one(&[("ARGOCD_ENV_EXPOSE", "yes"), ("ARGOCD_APP_PARAMETERS", params)], src);
        assert_eq!(
            v,
            json!({"kind": "Service", "spec": {"ports": [{"port": 80, "name": "p1"}, {"port": 443, "name": "p2"}]},
                   "metadata": {"labels": {"team": "web", "tier": "front"}}})
        );
        let v = one(&[("ARGOCD_ENV_EXPOSE", "no"), ("ARGOCD_APP_PARAMETERS", params)], src);
        assert_eq!(v, json!({"kind": "Service", "metadata": {"labels": {"team": "web", "tier": "front"}}}));
    }

    #[test]
    fn a_whole_plain_scalar_is_typed_like_the_value_alone() {
        let vars = [
            ("ARGOCD_ENV_N", "3"),
            ("ARGOCD_ENV_ON", "true"),
            ("ARGOCD_ENV_YES", "yes"),
            ("ARGOCD_ENV_OCT", "0755"),
            ("ARGOCD_ENV_NUL", "~"),
            ("ARGOCD_ENV_EMPTY", ""),
            ("ARGOCD_ENV_TEXT", "a: b"),
        ];
        let src = "n: {{ env.N }}\non: {{ env.ON }}\nyes: {{ env.YES }}\noct: {{ env.OCT }}\nnul: {{ env.NUL }}\nempty: {{ env.EMPTY }}\ntext: {{ env.TEXT }}\nquoted: \"{{ env.N }}\"\nsingle: '{{ env.ON }}'\nmixed: {{ env.N }}{{ env.N }}\nprefixed: v{{ env.N }}\nint: {{ env.N | int + 1 }}\nforced: {{ env.N | quote }}\nliteral: {{ 2.5 }}\nnone: {{ none }}\ntagged: !!str {{ env.N }}\n";
        assert_eq!(
            one(&vars, src),
            json!({"n": 3, "on": true, "yes": "yes", "oct": 493, "nul": null, "empty": "", "text": "a: b",
                   "quoted": "3", "single": "true", "mixed": "33", "prefixed": "v3", "int": 4, "forced": "3",
                   "literal": 2.5, "none": null, "tagged": "3"})
        );
    }

    #[test]
    fn hostile_values_stay_inside_their_scalar() {
        let hostile = [
            "x\nkind: Secret",
            "x\n---\nkind: Secret",
            "a: b",
            "- item",
            "# comment",
            "&anchor",
            "*alias",
            "{{ env.OTHER }}",
            "---",
            "\"",
            "'",
            "!!binary x",
            "{",
            "[a, b]",
            "x\n  nested: true",
            "|\n  block",
        ];
        let src = "plain: {{ env.V }}\ndouble: \"{{ env.V }}\"\nsingle: '{{ env.V }}'\nmixed: pre-{{ env.V }}-post\nlist:\n- {{ env.V }}\nflow: [{{ env.V }}, {a: {{ env.V }}}]\nblock: |\n  {{ env.V }}\n{{ env.V }}: key\nlast: 1\n";
        for v in hostile {
            let docs = yaml(&[("ARGOCD_ENV_V", v), ("ARGOCD_ENV_OTHER", "evaluated")], src).expect("renders");
            assert_eq!(
                docs,
                vec![json!({"plain": v, "double": v, "single": v, "mixed": format!("pre-{v}-post"), "list": [v],
                            "flow": [v, {"a": v}], "block": format!("{v}\n"), v: "key", "last": 1})],
                "value {v:?}"
            );
        }
    }

    #[test]
    fn an_interpolated_merge_key_is_an_ordinary_key() {
        let v = one(&[("ARGOCD_ENV_K", "<<")], "m:\n  {{ env.K }}: {a: 1}\n  b: 2\n");
        assert_eq!(v, json!({"m": {"<<": {"a": 1}, "b": 2}}));
    }

    #[test]
    fn undefined_variables_name_file_line_and_variable() {
        let e = yaml(&[], "a: 1\nb: {{ env.MISSING }}\n").expect_err("undefined");
        assert_eq!(
            e.to_string(),
            "template error: undefined variable `env.MISSING`; set it, or give a fallback with `| default(...)` (in t.yaml.j2:2)"
        );
        assert_eq!(one(&[], "b: {{ env.MISSING | default(\"7\") }}\n"), json!({"b": 7}));
        assert_eq!(one(&[], "b: {{ params.x | default(none) }}\n"), json!({"b": null}));
    }

    #[test]
    fn syntax_errors_name_file_and_line() {
        let e = yaml(&[], "a: 1\nb: 2\n{% for x in %}\n").expect_err("syntax");
        assert_eq!(e.to_string(), "template error: syntax error: unexpected end of block (in t.yaml.j2:3)");
        let e = yaml(&[], "a: {{ 1 | nofilter }}\n").expect_err("filter");
        assert_eq!(e.to_string(), "template error: unknown filter: filter nofilter is unknown (in t.yaml.j2:1)");
    }

    #[test]
    fn rendered_yaml_errors_name_the_rendered_line() {
        let e = yaml(&[], "a: 1\n{% if true %}\nb: [\n{% endif %}\n").expect_err("bad yaml");
        assert_eq!(e.kind(), ErrorKind::Yaml);
        assert_eq!(
            e.to_string(),
            "invalid yaml: while parsing a node, did not find expected node content (line 3 of the rendered template) (in t.yaml.j2)"
        );
        let e = yaml(&[("ARGOCD_ENV_S", "s3cr3t")], "a: {{ env.S }}\n  b: {{ env.S }}\n").expect_err("bad yaml");
        assert_eq!(
            e.to_string(),
            "invalid yaml: mapping values are not allowed in this context (line 2 of the rendered template: `  b: {{…}}`) (in t.yaml.j2)"
        );
    }

    #[test]
    fn lists_and_maps_cannot_be_put_into_a_scalar() {
        let params = r#"[{"name":"files","array":["a","b"]}]"#;
        let e = yaml(&[("ARGOCD_APP_PARAMETERS", params)], "x: 1\nargs: {{ params.files }}\n").expect_err("list");
        assert_eq!(
            e.to_string(),
            "template error: invalid operation: cannot put a list into a YAML scalar; loop over it with `{% for %}`, or make it text with `| join(\",\")`, `| to_json` or `| to_yaml` (in t.yaml.j2:2)"
        );
        assert_eq!(
            one(
                &[("ARGOCD_APP_PARAMETERS", params)],
                "args: {{ params.files | join(\",\") }}\njson: {{ params.files | tojson }}\n"
            ),
            json!({"args": "a,b", "json": "[\"a\",\"b\"]"})
        );
    }

    #[test]
    fn macros_and_set_blocks_keep_their_structure_and_values_stay_scalars() {
        let src = "{% macro labels(app) %}\napp: {{ app }}\nmanaged: kcmp\n{% endmacro %}\nmetadata:\n  labels:\n    {{ labels(env.APP) | indent(4) }}\n{% set who %}{{ env.APP }}{% endset %}\nwho: {{ who }}\nupper: {{ who | upper }}\nrev: {{ who | reverse }}\nlen: {{ who | length }}\nrep: {{ labels(\"a\") | replace(\"kcmp\", \"me\") }}\n";
        let v = one(&[("ARGOCD_ENV_APP", "web\nx: y")], src);
        assert_eq!(
            v,
            json!({"metadata": {"labels": {"app": "web\nx: y", "managed": "kcmp"}}, "who": "web\nx: y", "upper": "WEB\nX: Y",
                   "rev": "y :x\nbew", "len": 8, "rep": "app: a\nmanaged: me\n"})
        );
    }

    #[test]
    fn app_and_kube_are_visible_and_to_yaml_round_trips() {
        let params = r#"[{"name":"labels","map":{"team":"web","n":"1"}}]"#;
        let vars = [
            ("ARGOCD_APP_NAME", "shop"),
            ("ARGOCD_APP_NAMESPACE", "prod"),
            ("KUBE_VERSION", "1.32"),
            ("KUBE_API_VERSIONS", "v1,apps/v1,policy/v1"),
            ("ARGOCD_APP_PARAMETERS", params),
        ];
        let src = "name: {{ app.name }}-{{ app.namespace }}\nkube: {{ kube.version }}\npdb: {{ \"policy/v1\" in kube.api_versions }}\nlabels: {{ params.labels | to_yaml }}\n";
        let v = one(&vars, src);
        assert_eq!(v["name"], json!("shop-prod"));
        assert_eq!(v["kube"], json!(1.32));
        assert_eq!(v["pdb"], json!(true));
        let labels = v["labels"].as_str().expect("to_yaml gives text");
        assert_eq!(
            crate::render::yaml::parse::parse_stream(labels).expect("yaml")[0].value,
            json!({"team": "web", "n": "1"})
        );
    }

    #[test]
    fn safe_is_refused_and_cut_placeholders_are_errors() {
        let e = yaml(&[("ARGOCD_ENV_V", "a: b")], "x: {{ env.V | safe }}\n").expect_err("safe");
        assert!(
            e.to_string().starts_with("template error: invalid operation: the `safe` filter is not available"),
            "{e}"
        );
        let e = yaml(&[("ARGOCD_ENV_V", "v")], "{% set c %}{{ env.V }}{% endset %}\nx: {{ c[1:] }}\n")
            .expect_err("reversed");
        assert!(e.to_string().contains("an interpolation placeholder was cut apart"), "{e}");
        let e = yaml(&[("ARGOCD_ENV_V", "\u{E000}0\u{E001}")], "x: {{ env.V }}\n").expect_err("reserved value");
        assert_eq!(
            e.to_string(),
            "template error: `env.V` holds a reserved private-use character (U+E000 or U+E001); remove it (in t.yaml.j2)"
        );
        let e = yaml(&[], "x: \u{E000}0\u{E001}\n").expect_err("reserved");
        assert_eq!(
            e.to_string(),
            "template error: the template contains a reserved private-use character (U+E000 or U+E001); remove it (in t.yaml.j2:1)"
        );
    }

    #[test]
    fn manifest_filters_work_inside_templates() {
        let src = "b64: {{ env.P | b64encode }}\nback: {{ env.P | b64encode | b64decode }}\nsha: {{ (env.P | sha256)[:12] }}\nq: {{ env.P | quote }}\nin: \"x{{ env.P | quote }}\"\n";
        assert_eq!(
            one(&[("ARGOCD_ENV_P", "s3cr3t")], src),
            json!({"b64": "czNjcjN0", "back": "s3cr3t", "sha": "4e738ca5563c", "q": "s3cr3t", "in": "x\"s3cr3t\""})
        );
    }

    #[test]
    fn includes_resolve_next_to_the_template_and_stay_in_the_app_root() {
        let fs = MemFs::new()
            .with("/app/lib/labels.j2", "app: {{ env.APP }}\n{% include 'more.j2' %}")
            .with("/app/lib/more.j2", "tier: front\n")
            .with("/app/lib/plain.yaml", "x: 1\n")
            .with("/outside.j2", "x: 1\n");
        let v = yaml_in(
            &fs,
            &[("ARGOCD_ENV_APP", "web")],
            "labels:\n{% filter indent(2, true) %}\n{% include 'lib/labels.j2' %}\n{% endfilter %}\n",
        )
        .expect("renders");
        assert_eq!(v, vec![json!({"labels": {"app": "web", "tier": "front"}})]);
        let v = yaml_in(&fs, &[], "a: 1\n{% include 'lib/none.j2' ignore missing %}\n").expect("renders");
        assert_eq!(v, vec![json!({"a": 1})]);
        let e = yaml_in(&fs, &[], "{% include '../outside.j2' %}\n").expect_err("outside");
        assert_eq!(
            e.to_string(),
            "security: include '../outside.j2' is outside the app directory; includes must stay in or below '/app' (in t.yaml.j2)"
        );
        let e = yaml_in(&fs, &[], "{% include 'lib/plain.yaml' %}\n").expect_err("not a template");
        assert_eq!(
            e.to_string(),
            "template error: cannot include 'lib/plain.yaml': only `.j2` files are templates; rename it to 'lib/plain.yaml.j2' (in t.yaml.j2)"
        );
        let e = yaml_in(&fs, &[], "{% include 'lib/gone.j2' %}\n").expect_err("missing");
        assert_eq!(
            e.to_string(),
            "template error: template not found: tried to include non-existing template 'lib/gone.j2' (in t.yaml.j2:1)"
        );
    }

    #[test]
    fn a_template_outside_the_app_root_includes_from_its_own_directory() {
        let fs = MemFs::new()
            .with("/repo/base/lib.j2", "name: {{ env.N }}\n")
            .with("/repo/base/broken.j2", "a: 1\n{% if %}\n")
            .with("/repo/app/x.j2", "x: 1\n");
        let render = |src: &str| {
            render_yaml(
                &ctx(&[("ARGOCD_ENV_N", "n")]),
                &fs,
                Path::new("/repo/app"),
                Path::new("/repo/base/t.yaml.j2"),
                src,
            )
            .map(|d| d.into_iter().map(|d| d.value).collect::<Vec<_>>())
        };
        assert_eq!(render("{% include 'lib.j2' %}").expect("renders"), vec![json!({"name": "n"})]);
        let e = render("{% include '../app/x.j2' %}").expect_err("outside the base");
        assert_eq!(
            e.to_string(),
            "security: include '../app/x.j2' is outside the app directory; includes must stay in or below '/repo/base' (in ../base/t.yaml.j2)"
        );
        let e = render("{% include 'broken.j2' %}").expect_err("syntax");
        assert_eq!(e.to_string(), "template error: syntax error: unexpected end of block (in ../base/broken.j2:2)");
    }

    fn text(name: &str, vars: &[(&str, &str)], src: &str) -> Result<String> {
        render_text(&ctx(vars), &MemFs::new(), Path::new("/app"), &Path::new("/app").join(name), src)
    }

    #[test]
    fn properties_templates_insert_text_but_no_line_breaks() {
        let src = "# settings\nlimit={{ env.CPU }}\n{% if env.DEBUG is defined %}\ndebug=true\n{% endif %}\n";
        assert_eq!(
            text("app.properties.j2", &[("ARGOCD_ENV_CPU", "500m: {x}")], src).expect("ok"),
            "# settings\nlimit=500m: {x}\n"
        );
        let e = text("app.env.j2", &[("ARGOCD_ENV_CPU", "1\nEVIL=1")], src).expect_err("newline");
        assert_eq!(
            e.to_string(),
            "template error: invalid operation: a value with a line break cannot go into a line-oriented file (.env, .properties): it would add entries; remove the line break or use `| quote` (in app.env.j2:2)"
        );
        assert_eq!(text("notes.txt.j2", &[("ARGOCD_ENV_CPU", "a\nb")], "cpu: {{ env.CPU }}").expect("ok"), "cpu: a\nb");
    }

    #[test]
    fn json_templates_escape_into_strings_and_stay_valid() {
        let params = r#"[{"name":"hosts","array":["a","b"]}]"#;
        let src = "{\"name\": \"{{ env.N }}\", \"replicas\": {{ env.R }}, \"raw\": {{ env.N }}, \"hosts\": {{ params.hosts }}}\n";
        let out = text(
            "cfg.json.j2",
            &[
                ("ARGOCD_ENV_N", "a\", \"admin\": true, \"x\": \"\n"),
                ("ARGOCD_ENV_R", "3"),
                ("ARGOCD_APP_PARAMETERS", params),
            ],
            src,
        )
        .expect("ok");
        assert_eq!(
            out,
            "{\"name\": \"a\\\", \\\"admin\\\": true, \\\"x\\\": \\\"\\n\", \"replicas\": 3, \"raw\": \"a\\\", \\\"admin\\\": true, \\\"x\\\": \\\"\\n\", \"hosts\": [\"a\",\"b\"]}\n"
        );
        let e = text("cfg.json.j2", &[], "{\"a\": 1,}").expect_err("invalid json");
        assert!(e.to_string().starts_with("template error: the rendered file is not valid JSON"), "{e}");
    }

    #[test]
    fn yaml_generator_sources_refuse_values_that_change_structure_as_text() {
        assert_eq!(
            text("c.yaml.j2", &[("ARGOCD_ENV_V", "3")], "# keep\nv: {{ env.V }}\n").expect("ok"),
            "# keep\nv: 3\n"
        );
        let e = text("c.yaml.j2", &[("ARGOCD_ENV_V", "x\nadmin: true")], "v: {{ env.V }}\n").expect_err("structure");
        assert!(e.to_string().contains("changes the YAML structure of this file as text"), "{e}");
        assert_eq!(
            text("c.yaml.j2", &[("ARGOCD_ENV_V", "x\nadmin: true")], "v: {{ env.V | quote }}\n").expect("ok"),
            "v: \"x\\nadmin: true\"\n"
        );
    }
}
