//! `.j2` templates end to end (issue 4): a templated kustomization, templated
//! resources and generator sources, `render --env/--param/--params-json`, strict
//! errors, and values that try to change the manifest's structure.

use kcmp::render::load::MemFs;
use kcmp::render::template::Context;
use kcmp::render::yaml::parse::parse_stream;
use kcmp::render::{emit, render_with, Options, Resource};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/examples/templated");

fn values(yaml: &str) -> Vec<Value> {
    parse_stream(yaml).expect("output parses").into_iter().map(|d| d.value).collect()
}

fn objects(resources: &[Resource]) -> Vec<Value> {
    resources.iter().map(|r| Value::Object(r.obj.clone())).collect()
}

/// Runs the `render` binary with only the given variables in its environment.
fn render_bin(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let home = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_render"));
    cmd.env_clear().env("HOME", home.path()).args(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().expect("render runs")
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "render failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).expect("utf-8")
}

fn example_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![EXAMPLE];
    args.extend_from_slice(extra);
    args
}

#[test]
fn the_example_renders_like_kubectl_on_the_hand_substituted_tree() {
    // expected.yaml is `kubectl kustomize` over a copy of the example with the
    // values below written in by hand (a sed-style substitution).
    let params = format!("{EXAMPLE}/params.json");
    let out = render_bin(
        &example_args(&["--params-json", &params, "--env", "IMAGE_TAG=v2", "--env", "CPU_LIMIT=250m"]),
        &[("ARGOCD_ENV_GREETING", "hi: there")],
    );
    let expected = std::fs::read_to_string(format!("{EXAMPLE}/expected.yaml")).expect("expected.yaml");
    assert_eq!(values(&stdout(&out)), values(&expected));
}

#[test]
fn flags_and_argo_variables_give_the_same_output_as_the_library_path() {
    let params = r#"[{"name":"replicas","string":"3"},{"name":"debug","string":"true"},{"name":"labels","map":{"team":"web","tier":"frontend"}}]"#;
    let vars = [
        ("ARGOCD_ENV_IMAGE_TAG", "v2"),
        ("ARGOCD_ENV_CPU_LIMIT", "250m"),
        ("ARGOCD_ENV_GREETING", "hi: there"),
        ("ARGOCD_APP_PARAMETERS", params),
        ("ARGOCD_APP_REVISION_SHORT", "abc1234"),
    ];
    // What the sidecar does: Context::from_vars over the request's variables.
    let mut fs = MemFs::new();
    for name in ["kustomization.yaml.j2", "deployment.yaml.j2", "app.properties.j2"] {
        let bytes = std::fs::read(format!("{EXAMPLE}/{name}")).expect("example file");
        fs.insert(Path::new("/app").join(name), bytes);
    }
    let options = Options { template: Context::from_vars(vars).expect("context"), ..Options::default() };
    let library = emit::to_yaml_stream(&render_with(&fs, Path::new("/app"), &options).expect("renders"));

    let from_env = stdout(&render_bin(&[EXAMPLE], &vars));
    assert_eq!(from_env, library);
    let from_flags = stdout(&render_bin(
        &example_args(&[
            "--env",
            "IMAGE_TAG=v2",
            "--env",
            "CPU_LIMIT=250m",
            "--env",
            "GREETING=hi: there",
            "--param",
            "replicas=3",
            "--param",
            "debug=true",
        ]),
        &[
            (
                "ARGOCD_APP_PARAMETERS",
                r#"[{"name":"replicas","string":"1"},{"name":"labels","map":{"team":"web","tier":"frontend"}}]"#,
            ),
            ("ARGOCD_APP_REVISION_SHORT", "abc1234"),
        ],
    ));
    assert_eq!(from_flags, library);
    assert_eq!(values(&library)[1]["metadata"]["annotations"]["guestbook.example/revision"], json!("abc1234"));
}

#[test]
fn a_hostile_value_stays_in_its_scalar_through_the_binary() {
    let hostile = "x\nkind: Secret\n---\nmetadata: {name: evil}";
    let out = render_bin(&[EXAMPLE, "--env", &format!("CPU_LIMIT={hostile}")], &[]);
    let docs = values(&stdout(&out));
    assert_eq!(docs.len(), 2);
    let deployment = &docs[1];
    assert_eq!(deployment["kind"], json!("Deployment"));
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["resources"],
        json!({"limits": {"cpu": hostile}})
    );
    // In the .properties source a line break would add an entry: refused, no output.
    let out = render_bin(&[EXAMPLE, "--env", &format!("GREETING={hostile}")], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with(
            "error: template error: invalid operation: a value with a line break cannot go into a line-oriented file (.env, .properties): it would add entries; remove the line break or use `| quote` (in app.properties.j2:1)"
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_undefined_variable_fails_naming_file_line_and_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("kustomization.yaml"), "resources:\n- cm.yaml.j2\n").expect("write");
    std::fs::write(
        dir.path().join("cm.yaml.j2"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: \"{{ env.MISSING }}\"\n",
    )
    .expect("write");
    let out = render_bin(&[dir.path().to_str().expect("utf-8 path")], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: template error: undefined variable `env.MISSING`; set it, or give a fallback with `| default(...)` (in cm.yaml.j2:6)"),
        "{stderr}"
    );
    let out = render_bin(&[dir.path().to_str().expect("utf-8 path"), "--env", "MISSING=1"], &[]);
    assert_eq!(values(&stdout(&out))[0]["data"], json!({"a": "1"}));
}

#[test]
fn bad_flags_are_refused_with_the_flag_named() {
    let out = render_bin(&[EXAMPLE, "--env", "NOEQUALS"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "error: --env \"NOEQUALS\": expected NAME=VALUE\n");
    let out = render_bin(&[EXAMPLE], &[("ARGOCD_APP_PARAMETERS", "{")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: ARGOCD_APP_PARAMETERS: expected a JSON list of parameters"), "{stderr}");
}

fn tree(files: &[(&str, &str)]) -> MemFs {
    let mut fs = MemFs::new();
    for (name, text) in files {
        fs.insert(PathBuf::from("/app").join(name), *text);
    }
    fs
}

fn render_tree(fs: &MemFs, vars: &[(&str, &str)]) -> kcmp::render::Result<Vec<Value>> {
    let options = Options { template: Context::from_vars(vars.iter().copied())?, ..Options::default() };
    render_with(fs, Path::new("/app"), &options).map(|r| objects(&r))
}

#[test]
fn a_templated_kustomization_sets_the_image_tag_and_generates_from_templates() {
    let fs = tree(&[
        (
            "kustomization.yaml.j2",
            "resources:\n- pod.yaml\nimages:\n- name: app\n  newTag: {{ env.TAG }}\nconfigMapGenerator:\n- name: settings\n  files:\n  - app.properties.j2\n  envs:\n  - extra.env.j2\n  options:\n    disableNameSuffixHash: true\n",
        ),
        ("pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: app\n    image: app\n"),
        ("app.properties.j2", "tag={{ env.TAG }}\n{% for f in params.features %}\nfeature.{{ f }}=on\n{% endfor %}\n"),
        ("extra.env.j2", "TAG={{ env.TAG }}\nREPLICAS={{ params.replicas | default('1') }}\n"),
    ]);
    let params = r#"[{"name":"features","array":["a","b"]}]"#;
    let out = render_tree(&fs, &[("ARGOCD_ENV_TAG", "1.2.3"), ("ARGOCD_APP_PARAMETERS", params)]).expect("renders");
    assert_eq!(
        out,
        vec![
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
                   "data": {"app.properties": "tag=1.2.3\nfeature.a=on\nfeature.b=on\n", "TAG": "1.2.3", "REPLICAS": "1"}}),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                   "spec": {"containers": [{"name": "app", "image": "app:1.2.3"}]}}),
        ]
    );
    let e =
        render_tree(&fs, &[("ARGOCD_ENV_TAG", "1\nEVIL=1"), ("ARGOCD_APP_PARAMETERS", params)]).expect_err("newline");
    assert!(e.to_string().contains("a value with a line break cannot go into a line-oriented file"), "{e}");
}

#[test]
fn a_tag_value_cannot_add_kustomization_fields() {
    let fs = tree(&[
        ("kustomization.yaml.j2", "resources:\n- pod.yaml\nimages:\n- name: app\n  newTag: {{ env.TAG }}\n"),
        (
            "pod.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: app\n    image: app\n",
        ),
    ]);
    let out = render_tree(&fs, &[("ARGOCD_ENV_TAG", "v1\nnamePrefix: evil-")]).expect("renders");
    assert_eq!(out[0]["metadata"]["name"], json!("p"));
    assert_eq!(out[0]["spec"]["containers"][0]["image"], json!("app:v1\nnamePrefix: evil-"));
}

#[test]
fn a_plain_directory_renders_its_templates_as_the_files_without_suffix() {
    let fs = tree(&[
        ("a.yaml.j2", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ app.name | default('local') }}-cm\ndata:\n  n: \"{{ env.N }}\"\n"),
        ("b.json.j2", "{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"{{ env.SVC }}\"}, \"spec\": {\"ports\": [{\"port\": {{ env.PORT }}}]}}\n"),
        ("notes.txt.j2", "{{ not even parsed"),
    ]);
    let out = render_tree(
        &fs,
        &[
            ("ARGOCD_APP_NAME", "shop"),
            ("ARGOCD_ENV_N", "1"),
            ("ARGOCD_ENV_SVC", "web\", \"x\": \"y"),
            ("ARGOCD_ENV_PORT", "8080"),
        ],
    )
    .expect("renders");
    assert_eq!(
        out,
        vec![
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shop-cm"}, "data": {"n": "1"}}),
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web\", \"x\": \"y"}, "spec": {"ports": [{"port": 8080}]}}),
        ]
    );
}
