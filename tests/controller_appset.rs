//! ApplicationSet generation and planning end to end, pure: YAML in,
//! generated Applications and create/update/delete plans out. Cases follow
//! the conformance scenarios of docs/controller-appset.md §7.

use base64::Engine as _;
use kcmp::controller::appset::clusters::known_clusters;
use kcmp::controller::appset::git::{MemoryTree, RepoSet};
use kcmp::controller::appset::plan::{self, Delete, Plan, Settings};
use kcmp::controller::appset::{self, app_name, ApplicationSet, Error, Inputs, Options};
use serde_json::{json, Value};
use std::collections::BTreeSet;

const REPO: &str = "https://git.example.com/org/apps.git";

fn yaml(text: &str) -> Value {
    let docs = kcmp::render::yaml::parse::parse_stream(text).expect("valid YAML");
    docs.into_iter().next().expect("one document").value
}

fn yaml_docs(text: &str) -> Vec<Value> {
    kcmp::render::yaml::parse::parse_stream(text).expect("valid YAML").into_iter().map(|d| d.value).collect()
}

fn appset(text: &str) -> ApplicationSet {
    ApplicationSet::from_value(&yaml(text)).expect("valid ApplicationSet")
}

fn secret(name: &str, server: &str, labels: Value) -> Value {
    let mut all = labels.as_object().cloned().unwrap_or_default();
    all.insert("argocd.argoproj.io/secret-type".into(), json!("cluster"));
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    json!({"apiVersion": "v1", "kind": "Secret",
           "metadata": {"name": format!("cluster-{name}"), "namespace": "argocd", "labels": all},
           "data": {"name": b64(name), "server": b64(server)}})
}

fn generate_with(set: &ApplicationSet, secrets: &[Value], repos: &RepoSet) -> appset::Result<Vec<Value>> {
    appset::generate(set, &Inputs { cluster_secrets: secrets, repos, options: Options::default() })
}

fn generate(set: &ApplicationSet, secrets: &[Value]) -> appset::Result<Vec<Value>> {
    generate_with(set, secrets, &RepoSet::new())
}

fn names(apps: &[Value]) -> Vec<String> {
    apps.iter().map(|a| app_name(a).to_string()).collect()
}

fn plan_for(set: &ApplicationSet, generated: &appset::Result<Vec<Value>>, live: &[Value], secrets: &[Value]) -> Plan {
    let clusters = known_clusters(secrets, Options::default()).expect("secrets parse");
    let settings = Settings::default();
    plan::plan(&plan::Input { appset: set, generated, live, clusters: &clusters, projects: None, settings: &settings })
}

const LIST_SET: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: guestbook, namespace: argocd, uid: u-1}
spec:
  generators:
    - list:
        elements:
          - {cluster: engineering-dev, url: "https://1.2.3.4"}
          - {cluster: engineering-prod, url: "https://2.4.6.8"}
          - {cluster: finance-preprod, url: "https://9.8.7.6"}
  template:
    metadata:
      name: '{{cluster}}-guestbook'
    spec:
      project: default
      source: {repoURL: https://github.com/argoproj/argo-cd.git, targetRevision: HEAD, path: 'applicationset/examples/list-generator/guestbook/{{cluster}}'}
      destination: {server: '{{url}}', namespace: guestbook}
"#;

#[test]
fn list_generator_three_elements_three_apps_with_owner_and_finalizer() {
    let set = appset(LIST_SET);
    let apps = generate(&set, &[]).expect("generates");
    assert_eq!(names(&apps), ["engineering-dev-guestbook", "engineering-prod-guestbook", "finance-preprod-guestbook"]);
    let app = &apps[0];
    assert_eq!(app["apiVersion"], json!("argoproj.io/v1alpha1"));
    assert_eq!(app["kind"], json!("Application"));
    assert_eq!(app["metadata"]["namespace"], json!("argocd"));
    assert_eq!(app["metadata"]["finalizers"], json!(["resources-finalizer.argocd.argoproj.io"]));
    assert_eq!(
        app["metadata"]["ownerReferences"],
        json!([{"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "name": "guestbook", "uid": "u-1",
                "controller": true, "blockOwnerDeletion": true}])
    );
    assert_eq!(app["spec"]["destination"]["server"], json!("https://1.2.3.4"));
    assert_eq!(
        app["spec"]["source"]["path"],
        json!("applicationset/examples/list-generator/guestbook/engineering-dev")
    );
}

#[test]
fn removing_an_element_deletes_under_sync_but_not_create_update() {
    let set = appset(LIST_SET);
    let live = generate(&set, &[]).expect("generates");
    let fewer = appset(&LIST_SET.replace("          - {cluster: finance-preprod, url: \"https://9.8.7.6\"}\n", ""));
    let generated = generate(&fewer, &[]);
    let p = plan_for(&fewer, &generated, &live, &[]);
    assert_eq!(p.delete, [Delete { name: "finance-preprod-guestbook".into(), strip_resources_finalizer: true }]);
    assert!(p.create.is_empty() && p.update.is_empty());
    assert_eq!(p.unchanged, ["engineering-dev-guestbook", "engineering-prod-guestbook"]);

    let create_update = appset(&fewer_policy(
        &LIST_SET.replace("          - {cluster: finance-preprod, url: \"https://9.8.7.6\"}\n", ""),
        "create-update",
    ));
    let generated = generate(&create_update, &[]);
    let p = plan_for(&create_update, &generated, &live, &[]);
    assert!(p.delete.is_empty(), "create-update never deletes: {:?}", p.delete);
}

fn fewer_policy(text: &str, policy: &str) -> String {
    text.replace("spec:\n  generators:", &format!("spec:\n  syncPolicy: {{applicationsSync: {policy}}}\n  generators:"))
}

#[test]
fn create_only_does_not_update_and_new_apps_are_created() {
    let set = appset(&fewer_policy(LIST_SET, "create-only"));
    let mut live = generate(&set, &[]).expect("generates");
    live.pop();
    live[0]["spec"]["project"] = json!("edited");
    let generated = generate(&set, &[]);
    let p = plan_for(&set, &generated, &live, &[]);
    assert_eq!(names(&p.create), ["finance-preprod-guestbook"]);
    assert!(p.update.is_empty());
    assert_eq!(p.policy, Some(appset::Policy::CreateOnly));
}

const CLUSTER_SET: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: guestbook, namespace: argocd}
spec:
  generators:
    - clusters:
        selector:
          matchLabels: {env: prod}
  template:
    metadata: {name: '{{name}}-guestbook'}
    spec:
      project: default
      source: {repoURL: https://github.com/argoproj/argo-cd.git, targetRevision: HEAD, path: guestbook}
      destination: {server: '{{server}}', namespace: guestbook}
"#;

#[test]
fn clusters_selector_gives_one_app_per_prod_cluster_and_no_in_cluster() {
    let secrets = [
        secret("prod-a", "https://a", json!({"env": "prod"})),
        secret("prod-b", "https://b", json!({"env": "prod"})),
        secret("dev", "https://d", json!({"env": "dev"})),
    ];
    let apps = generate(&appset(CLUSTER_SET), &secrets).expect("generates");
    assert_eq!(names(&apps), ["prod-a-guestbook", "prod-b-guestbook"]);
    let no_selector =
        appset(&CLUSTER_SET.replace("        selector:\n          matchLabels: {env: prod}\n", "        {}\n"));
    let apps = generate(&no_selector, &secrets).expect("generates");
    assert_eq!(names(&apps), ["dev-guestbook", "in-cluster-guestbook", "prod-a-guestbook", "prod-b-guestbook"]);
    assert_eq!(apps[1]["spec"]["destination"]["server"], json!("https://kubernetes.default.svc"));
}

#[test]
fn cluster_label_change_deletes_its_app() {
    let set = appset(CLUSTER_SET);
    let before =
        [secret("prod-a", "https://a", json!({"env": "prod"})), secret("prod-b", "https://b", json!({"env": "prod"}))];
    let live = generate(&set, &before).expect("generates");
    let after =
        [secret("prod-a", "https://a", json!({"env": "prod"})), secret("prod-b", "https://b", json!({"env": "dev"}))];
    let generated = generate(&set, &after);
    let p = plan_for(&set, &generated, &live, &after);
    assert_eq!(p.delete, [Delete { name: "prod-b-guestbook".into(), strip_resources_finalizer: false }]);
}

#[test]
fn removed_cluster_gets_its_finalizer_stripped_before_delete() {
    let set = appset(CLUSTER_SET);
    let before =
        [secret("prod-a", "https://a", json!({"env": "prod"})), secret("prod-b", "https://b", json!({"env": "prod"}))];
    let live = generate(&set, &before).expect("generates");
    let after = [secret("prod-a", "https://a", json!({"env": "prod"}))];
    let generated = generate(&set, &after);
    let p = plan_for(&set, &generated, &live, &after);
    assert_eq!(p.delete, [Delete { name: "prod-b-guestbook".into(), strip_resources_finalizer: true }]);
}

fn repos() -> RepoSet {
    let tree = MemoryTree::new([
        ("apps/legacy/kustomization.yaml", "resources: []\n"),
        ("apps/guestbook/kustomization.yaml", "resources: []\n"),
        ("apps/web/kustomization.yaml", "resources: []\n"),
        (
            "envs/dev/config.json",
            r#"[{"cluster": {"name": "dev-a", "address": "https://dev-a"}}, {"cluster": {"name": "dev-b", "address": "https://dev-b"}}]"#,
        ),
        ("envs/prod/config.json", r#"{"cluster": {"name": "prod", "address": "https://prod"}}"#),
    ]);
    let mut set = RepoSet::new();
    set.insert(REPO, None, Box::new(tree));
    set
}

#[test]
fn git_directories_exclude_wins_even_listed_first() {
    let set = appset(&format!(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {{name: dirs, namespace: argocd}}
spec:
  generators:
    - git:
        repoURL: {REPO}
        revision: HEAD
        directories:
          - {{path: apps/legacy, exclude: true}}
          - {{path: 'apps/*'}}
  template:
    metadata: {{name: '{{{{path.basename}}}}'}}
    spec:
      project: default
      source: {{repoURL: {REPO}, targetRevision: HEAD, path: '{{{{path}}}}'}}
      destination: {{server: https://kubernetes.default.svc, namespace: '{{{{path[1]}}}}'}}
"#
    ));
    let apps = generate_with(&set, &[], &repos()).expect("generates");
    assert_eq!(names(&apps), ["guestbook", "web"]);
    assert_eq!(apps[0]["spec"]["source"]["path"], json!("apps/guestbook"));
    assert_eq!(apps[0]["spec"]["destination"]["namespace"], json!("guestbook"));
}

#[test]
fn git_files_list_content_gives_one_app_per_element() {
    let set = appset(&format!(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {{name: files, namespace: argocd}}
spec:
  generators:
    - git:
        repoURL: {REPO}
        files: [{{path: 'envs/*/config.json'}}]
  template:
    metadata: {{name: '{{{{cluster.name}}}}-{{{{path.basename}}}}'}}
    spec:
      project: default
      source: {{repoURL: {REPO}, targetRevision: HEAD, path: 'deploy/{{{{path.basename}}}}'}}
      destination: {{server: '{{{{cluster.address}}}}', namespace: x}}
"#
    ));
    let apps = generate_with(&set, &[], &repos()).expect("generates");
    assert_eq!(names(&apps), ["dev-a-dev", "dev-b-dev", "prod-prod"]);
    assert_eq!(apps[0]["spec"]["destination"]["server"], json!("https://dev-a"));
}

fn matrix_set(go: bool, second_extra: &str) -> String {
    let (tmpl_name, server) = if go {
        ("'{{.path.basename}}-{{.name}}'", "'{{.server}}'")
    } else {
        ("'{{path.basename}}-{{name}}'", "'{{server}}'")
    };
    format!(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {{name: matrix, namespace: argocd}}
spec:
  goTemplate: {go}
  generators:
    - matrix:
        generators:
          - git:
              repoURL: {REPO}
              directories: [{{path: 'apps/*'}}, {{path: apps/legacy, exclude: true}}]
          - clusters:
              selector: {{matchLabels: {{env: prod}}}}
{second_extra}
  template:
    metadata: {{name: {tmpl_name}}}
    spec:
      project: default
      source: {{repoURL: {REPO}, targetRevision: HEAD, path: apps}}
      destination: {{server: {server}, namespace: default}}
"#
    )
}

#[test]
fn matrix_git_dirs_times_clusters_go_template() {
    let secrets = [secret("a", "https://a", json!({"env": "prod"})), secret("b", "https://b", json!({"env": "prod"}))];
    let set = appset(&matrix_set(true, ""));
    let apps = generate_with(&set, &secrets, &repos()).expect("generates");
    assert_eq!(names(&apps), ["guestbook-a", "guestbook-b", "web-a", "web-b"]);
    assert_eq!(apps[0]["spec"]["destination"]["server"], json!("https://a"));
}

#[test]
fn matrix_key_collision_first_wins_in_go_and_errors_in_fast_mode() {
    let secrets = [secret("a", "https://a", json!({"env": "prod"}))];
    let set = |go: bool| {
        let name = if go { "'{{.name}}-{{.server}}'" } else { "'{{name}}'" };
        appset(&format!(
            r#"
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {{name: m, namespace: argocd}}
spec:
  goTemplate: {go}
  generators:
    - matrix:
        generators:
          - list:
              elements: [{{name: from-list}}]
          - clusters:
              selector: {{matchLabels: {{env: prod}}}}
  template:
    metadata: {{name: {name}}}
    spec: {{project: default, destination: {{server: https://kubernetes.default.svc, namespace: d}}}}
"#
        ))
    };
    let apps = generate(&set(true), &secrets).expect("go matrix generates");
    assert_eq!(names(&apps), ["from-list-https://a"]);

    let fast = set(false);
    let generated = generate(&fast, &secrets);
    let err = generated.clone().expect_err("fast-mode collision");
    assert_eq!(
        err,
        Error::Generator {
            generator: "spec.generators[0].matrix".into(),
            message: "found duplicate key name with different value, a: from-list ,b: a".into()
        }
    );
    let live = [json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                       "metadata": {"name": "old", "namespace": "argocd",
                                    "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
                                                         "name": "m", "controller": true}]},
                       "spec": {}})];
    let p = plan_for(&fast, &generated, &live, &secrets);
    assert_eq!(p.error, Some(err));
    assert!(p.delete.is_empty() && p.create.is_empty() && p.update.is_empty(), "an error plans nothing");
}

#[test]
fn matrix_second_child_is_interpolated_with_first_params() {
    let set = appset(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: m, namespace: argocd}
spec:
  goTemplate: true
  generators:
    - matrix:
        generators:
          - list:
              elements: [{env: dev}, {env: prod}]
          - list:
              elements: [{app: 'web-{{.env}}'}]
  template:
    metadata: {name: '{{.app}}'}
    spec: {project: default, destination: {server: https://kubernetes.default.svc, namespace: '{{.env}}'}}
"#,
    );
    let apps = generate(&set, &[]).expect("generates");
    assert_eq!(names(&apps), ["web-dev", "web-prod"]);
    assert_eq!(apps[1]["spec"]["destination"]["namespace"], json!("prod"));
}

#[test]
fn matrix_shape_errors() {
    let base = |gens: &str| {
        format!(
            r#"
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {{name: m, namespace: argocd}}
spec:
  generators:
    - matrix:
        generators: {gens}
  template:
    metadata: {{name: x}}
    spec: {{project: default}}
"#
        )
    };
    let err = generate(&appset(&base("[{list: {elements: [{a: b}]}}]")), &[]).expect_err("one child");
    assert_eq!(err.to_string(), "spec.generators[0].matrix: matrix needs exactly two child generators, found 1");
    let err =
        generate(&appset(&base("[{list: {elements: []}}, {list: {elements: [{a: b}]}}]")), &[]).expect_err("empty");
    assert_eq!(err.to_string(), "spec.generators[0].matrix: child generator 0 generated no parameters");
    let nested = "[{list: {elements: [{a: b}]}}, {matrix: {generators: [{list: {elements: [{c: d}]}}, {matrix: {generators: []}}]}}]";
    let err = generate(&appset(&base(nested)), &[]).expect_err("too deep");
    assert!(err.to_string().contains("nest only one level deep"), "{err}");
    let one_level = "[{list: {elements: [{a: b}]}}, {matrix: {generators: [{list: {elements: [{c: d}]}}, {list: {elements: [{e: f}]}}]}}]";
    let apps = generate(&appset(&base(one_level)), &[]).expect("one nested level is fine");
    assert_eq!(apps.len(), 1);
    let err =
        generate(&appset(&base("[{list: {elements: [{a: b}]}, clusters: {}}, {list: {elements: [{c: d}]}}]")), &[])
            .expect_err("two kinds in one child");
    assert_eq!(
        err.to_string(),
        "spec.generators[0].matrix.generators[0]: a matrix/merge child must hold exactly one generator"
    );
}

#[test]
fn merge_clusters_and_list_overrides_matching_servers_and_drops_list_only() {
    let set = appset(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: merged, namespace: argocd}
spec:
  generators:
    - merge:
        mergeKeys: [server]
        generators:
          - clusters:
              values: {kafka: 'true', redis: 'false'}
          - list:
              elements:
                - {server: 'https://a', values.redis: 'true'}
                - {server: 'https://unknown', values.redis: 'true'}
  template:
    metadata: {name: '{{name}}-{{values.kafka}}-{{values.redis}}'}
    spec: {project: default, destination: {server: '{{server}}', namespace: d}}
"#,
    );
    let secrets = [secret("a", "https://a", json!({})), secret("b", "https://b", json!({}))];
    let apps = generate(&set, &secrets).expect("generates");
    assert_eq!(names(&apps), ["a-true-true", "b-true-false", "in-cluster-true-false"]);
}

#[test]
fn merge_errors_on_duplicate_keys_and_bad_shape() {
    let base = |body: &str| {
        format!(
            r#"
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {{name: m, namespace: argocd}}
spec:
  generators:
    - merge: {body}
  template:
    metadata: {{name: x}}
    spec: {{project: default}}
"#
        )
    };
    let dup = "{mergeKeys: [k], generators: [{list: {elements: [{k: a}, {k: a}]}}, {list: {elements: [{k: a}]}}]}";
    let err = generate(&appset(&base(dup)), &[]).expect_err("duplicate keys");
    assert!(err.to_string().contains("were not unique by the given mergeKeys"), "{err}");
    let no_keys = "{generators: [{list: {elements: [{k: a}]}}, {list: {elements: [{k: a}]}}]}";
    let err = generate(&appset(&base(no_keys)), &[]).expect_err("no merge keys");
    assert_eq!(err.to_string(), "spec.generators[0].merge: mergeKeys is empty; name at least one param");
    let one = "{mergeKeys: [k], generators: [{list: {elements: [{k: a}]}}]}";
    let err = generate(&appset(&base(one)), &[]).expect_err("one child");
    assert_eq!(err.to_string(), "spec.generators[0].merge: merge needs at least two child generators, found 1");
}

#[test]
fn fast_unknown_param_stays_literal_go_missingkey_error_fails() {
    let fast = appset(
        &LIST_SET.replace("path: 'applicationset/examples/list-generator/guestbook/{{cluster}}'", "path: '{{foo}}'"),
    );
    let apps = generate(&fast, &[]).expect("generates");
    assert_eq!(apps[0]["spec"]["source"]["path"], json!("{{foo}}"));

    let go = appset(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: strict, namespace: argocd}
spec:
  goTemplate: true
  goTemplateOptions: [missingkey=error]
  generators:
    - list: {elements: [{cluster: a}]}
  template:
    metadata: {name: '{{.cluster}}-{{.foo}}'}
    spec: {project: default}
"#,
    );
    let generated = generate(&go, &[]);
    let err = generated.clone().expect_err("missing key");
    assert_eq!(
        err.to_string(),
        "rendering template.metadata.name: map has no entry for key \"foo\" (in template \"{{.cluster}}-{{.foo}}\")"
    );
    let p = plan_for(&go, &generated, &[], &[]);
    assert!(p.error.is_some() && p.create.is_empty());
}

#[test]
fn template_patch_adds_automated_and_cannot_change_project() {
    let set = appset(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: patched, namespace: argocd}
spec:
  goTemplate: true
  goTemplateOptions: [missingkey=error]
  generators:
    - list:
        elements:
          - {name: a, autoSync: "true"}
          - {name: b, autoSync: "false"}
  template:
    metadata: {name: '{{.name}}'}
    spec:
      project: team
      source: {repoURL: r, path: p, targetRevision: HEAD}
      destination: {server: https://kubernetes.default.svc, namespace: d}
  templatePatch: |
    spec:
      project: hijacked
    {{- if eq .autoSync "true" }}
      syncPolicy:
        automated:
          prune: true
    {{- end }}
"#,
    );
    let apps = generate(&set, &[]).expect("generates");
    assert_eq!(apps[0]["metadata"]["finalizers"], json!(["resources-finalizer.argocd.argoproj.io"]));
    assert_eq!(apps[0]["spec"]["syncPolicy"], json!({"automated": {"prune": true}}));
    assert!(apps[1]["spec"].get("syncPolicy").is_none());
    assert_eq!(apps[0]["spec"]["project"], json!("team"));
    assert_eq!(apps[1]["spec"]["project"], json!("team"));
}

#[test]
fn template_patch_merges_finalizers_and_replaces_other_lists() {
    let set = appset(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: patched, namespace: argocd}
spec:
  generators: [{list: {elements: [{name: a}]}}]
  template:
    metadata: {name: '{{name}}', finalizers: [first/finalizer]}
    spec: {project: default, syncPolicy: {syncOptions: [A=true, B=true]}}
  templatePatch: |
    metadata:
      finalizers: [second/finalizer, first/finalizer]
    spec:
      syncPolicy:
        syncOptions: [C=true]
"#,
    );
    let apps = generate(&set, &[]).expect("generates");
    assert_eq!(apps[0]["metadata"]["finalizers"], json!(["first/finalizer", "second/finalizer"]));
    assert_eq!(apps[0]["spec"]["syncPolicy"]["syncOptions"], json!(["C=true"]));
}

#[test]
fn template_patch_must_be_a_map_of_metadata_or_spec() {
    let set = appset(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: patched, namespace: argocd}
spec:
  generators: [{list: {elements: [{name: a}]}}]
  template: {metadata: {name: '{{name}}'}, spec: {project: default}}
  templatePatch: "status: {}"
"#,
    );
    let err = generate(&set, &[]).expect_err("bad patch");
    assert_eq!(
        err.to_string(),
        "rendering templatePatch: rendered patch has unknown top-level field \"status\"; patch metadata or spec"
    );
}

#[test]
fn updates_revert_hand_edits_keep_preserved_fields_and_ignored_differences() {
    let text = format!(
        "{}  preservedFields: {{annotations: [team.example/owner]}}\n  ignoreApplicationDifferences:\n    - jsonPointers: [/spec/syncPolicy]\n",
        LIST_SET
    );
    let set = appset(&text);
    let generated = generate(&set, &[]);
    let mut live = generated.clone().expect("generates");
    // hand edits on the first app
    live[0]["spec"]["source"]["path"] = json!("edited");
    live[0]["metadata"]["labels"] = json!({"hand": "added"});
    live[0]["metadata"]["annotations"] =
        json!({"team.example/owner": "me", "argocd.argoproj.io/refresh": "hard", "x": "y"});
    live[0]["spec"]["syncPolicy"] = json!({"automated": {}});
    live[0]["status"] = json!({"sync": {"status": "Synced"}});
    let p = plan_for(&set, &generated, &live, &[]);
    assert_eq!(p.update.len(), 1);
    assert_eq!(p.update[0].name, "engineering-dev-guestbook");
    assert_eq!(
        p.update[0].patch,
        json!({"metadata": {"labels": null, "annotations": {"x": null}},
               "spec": {"source": {"path": "applicationset/examples/list-generator/guestbook/engineering-dev"}}})
    );
    assert_eq!(p.unchanged, ["engineering-prod-guestbook", "finance-preprod-guestbook"]);
}

#[test]
fn preserve_resources_on_deletion_means_no_finalizer() {
    let set = appset(
        &LIST_SET
            .replace("spec:\n  generators:", "spec:\n  syncPolicy: {preserveResourcesOnDeletion: true}\n  generators:"),
    );
    let apps = generate(&set, &[]).expect("generates");
    assert!(apps.iter().all(|a| a["metadata"].get("finalizers").is_none()));
    let own = appset(&LIST_SET.replace(
        "      name: '{{cluster}}-guestbook'",
        "      name: '{{cluster}}-guestbook'\n      finalizers: [custom/finalizer]",
    ));
    let apps = generate(&own, &[]).expect("generates");
    assert_eq!(apps[0]["metadata"]["finalizers"], json!(["custom/finalizer"]));
}

#[test]
fn git_error_deletes_nothing() {
    let set = appset(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: dirs, namespace: argocd}
spec:
  generators:
    - git: {repoURL: https://unreachable.example/repo.git, directories: [{path: '*'}]}
  template:
    metadata: {name: '{{path.basename}}'}
    spec: {project: default, destination: {server: https://kubernetes.default.svc, namespace: d}}
"#,
    );
    let live = [json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                       "metadata": {"name": "existing", "namespace": "argocd",
                                    "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "name": "dirs", "controller": true}]},
                       "spec": {}})];
    let generated = generate(&set, &[]);
    let p = plan_for(&set, &generated, &live, &[]);
    assert_eq!(
        p.error.map(|e| e.to_string()),
        Some("spec.generators[0].git: repository https://unreachable.example/repo.git at revision \"HEAD\" is not checked out".into())
    );
    assert!(p.delete.is_empty());
}

#[test]
fn duplicate_and_invalid_apps_are_reported_others_proceed() {
    let set = appset(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: dup, namespace: argocd}
spec:
  generators:
    - list:
        elements:
          - {name: same, server: https://a}
          - {name: same, server: https://b}
          - {name: ok, server: https://c}
          - {name: "", server: https://d}
          - {name: named-dest, server: ""}
  template:
    metadata: {name: '{{name}}'}
    spec: {project: default, destination: {server: '{{server}}', name: '{{name}}-cluster', namespace: d}}
"#,
    );
    // the template sets both destination fields; keep server, or name when server is empty
    let apps = generate(&set, &[]).expect("generates");
    let clusters = known_clusters(&[], Options::default()).expect("no secrets");
    let mut fixed = apps.clone();
    for app in &mut fixed {
        let dest = app["spec"]["destination"].as_object_mut().expect("destination");
        if dest["server"] == json!("") {
            dest.remove("server");
        } else {
            dest.remove("name");
        }
    }
    let generated = Ok(fixed);
    let projects: BTreeSet<String> = ["default".to_string()].into();
    let settings = Settings::default();
    let live: [Value; 0] = [];
    let p = plan::plan(&plan::Input {
        appset: &set,
        generated: &generated,
        live: &live,
        clusters: &clusters,
        projects: Some(&projects),
        settings: &settings,
    });
    assert_eq!(names(&p.create), ["ok", "same"]);
    assert_eq!(p.create[1]["spec"]["destination"]["server"], json!("https://a"), "the first of a duplicate wins");
    let invalid: Vec<(String, String)> = p.invalid.iter().map(|i| (i.name.clone(), i.message.clone())).collect();
    assert_eq!(
        invalid,
        [
            (
                "".to_string(),
                "ApplicationSet dup generated an application with an empty name (generateName is not supported)"
                    .to_string()
            ),
            (
                "named-dest".to_string(),
                "application named-dest references destination cluster named-dest-cluster which does not exist"
                    .to_string()
            ),
            ("same".to_string(), "ApplicationSet dup contains applications with duplicate name: same".to_string()),
        ]
    );
}

#[test]
fn missing_project_and_foreign_owner_are_invalid() {
    let set = appset(&LIST_SET.replace("project: default", "project: nope"));
    let generated = generate(&set, &[]);
    let clusters = known_clusters(&[], Options::default()).expect("no secrets");
    let projects: BTreeSet<String> = ["default".to_string()].into();
    let settings = Settings::default();
    let mut live = generated.clone().expect("generates");
    live.truncate(1);
    live[0]["metadata"]["ownerReferences"] =
        json!([{"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "name": "other", "controller": true}]);
    let p = plan::plan(&plan::Input {
        appset: &set,
        generated: &generated,
        live: &live,
        clusters: &clusters,
        projects: Some(&projects),
        settings: &settings,
    });
    assert_eq!(p.invalid.len(), 3);
    assert_eq!(
        p.invalid[0].message,
        "application engineering-dev-guestbook references project nope which does not exist"
    );
    let set = appset(LIST_SET);
    let generated = generate(&set, &[]);
    let p = plan::plan(&plan::Input {
        appset: &set,
        generated: &generated,
        live: &live,
        clusters: &clusters,
        projects: Some(&projects),
        settings: &settings,
    });
    assert_eq!(
        p.invalid[0].message,
        "application engineering-dev-guestbook is already controlled by ApplicationSet other; rename it or remove that owner"
    );
    assert!(p.delete.is_empty(), "apps owned by another ApplicationSet are never deleted");
}

#[test]
fn policy_precedence() {
    use appset::Policy;
    let set = appset(&fewer_policy(LIST_SET, "create-only"));
    let mut s = Settings::default();
    assert_eq!(plan::effective_policy(&set, &s), Policy::CreateOnly);
    s.controller_policy = Some(Policy::Sync);
    assert_eq!(plan::effective_policy(&set, &s), Policy::Sync);
    s.policy_override = true;
    assert_eq!(plan::effective_policy(&set, &s), Policy::CreateOnly);
    assert_eq!(plan::effective_policy(&appset(LIST_SET), &Settings::default()), Policy::Sync);
}

#[test]
fn post_selector_filters_param_sets() {
    let set = appset(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: sel, namespace: argocd}
spec:
  goTemplate: true
  generators:
    - list:
        elements:
          - {name: a, env: {tier: prod}}
          - {name: b, env: {tier: dev}}
      selector:
        matchLabels: {env.tier: prod}
  template:
    metadata: {name: '{{.name}}'}
    spec: {project: default}
"#,
    );
    assert_eq!(names(&generate(&set, &[]).expect("generates")), ["a"]);
}

#[test]
fn generator_level_template_overrides_top_level() {
    let set = appset(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: tmpl, namespace: argocd}
spec:
  generators:
    - list:
        elements: [{name: a}]
        template:
          metadata: {}
          spec:
            project: special
  template:
    metadata: {name: '{{name}}-app'}
    spec: {project: default, destination: {server: https://kubernetes.default.svc, namespace: d}}
"#,
    );
    let apps = generate(&set, &[]).expect("generates");
    assert_eq!(names(&apps), ["a-app"]);
    assert_eq!(apps[0]["spec"]["project"], json!("special"));
    assert_eq!(apps[0]["spec"]["destination"]["namespace"], json!("d"));
}

#[test]
fn unsupported_or_malformed_specs_are_refused() {
    let cases = [
        ("kind: Application\nmetadata: {name: x}\nspec: {}", "invalid ApplicationSet \"x\": kind is \"Application\", expected \"ApplicationSet\""),
        ("kind: ApplicationSet\nmetadata: {name: x}\nspec: {generators: []}", "invalid ApplicationSet \"x\": spec.generators is empty; add at least one generator"),
        (
            "kind: ApplicationSet\nmetadata: {name: x}\nspec: {generators: [{list: {}}], strategy: {type: RollingSync}}",
            "invalid ApplicationSet \"x\": spec.strategy.type \"RollingSync\" (progressive sync) is not supported by kcmp; remove it or use AllAtOnce",
        ),
        (
            "kind: ApplicationSet\nmetadata: {name: x}\nspec: {generators: [{list: {}}], goTemplateOptions: [missingkey=error]}",
            "invalid ApplicationSet \"x\": spec.goTemplateOptions is set but spec.goTemplate is false",
        ),
    ];
    for (text, want) in cases {
        let err = ApplicationSet::from_value(&yaml(text)).expect_err(text);
        assert_eq!(err.to_string(), want);
    }
    let scm =
        appset("kind: ApplicationSet\nmetadata: {name: x, namespace: argocd}\nspec: {generators: [{scmProvider: {}}]}");
    assert_eq!(
        generate(&scm, &[]).expect_err("scm").to_string(),
        "spec.generators[0].scmProvider: the scmProvider generator is not supported by kcmp"
    );
    let typo =
        appset("kind: ApplicationSet\nmetadata: {name: x, namespace: argocd}\nspec: {generators: [{lists: {}}]}");
    assert_eq!(
        generate(&typo, &[]).expect_err("typo").to_string(),
        "spec.generators[0]: unknown generator field \"lists\""
    );
    let bad_field = appset(
        "kind: ApplicationSet\nmetadata: {name: x, namespace: argocd}\nspec: {generators: [{list: {element: []}}]}",
    );
    let err = generate(&bad_field, &[]).expect_err("unknown list field").to_string();
    assert!(err.starts_with("spec.generators[0].list: unknown field `element`"), "{err}");
}

#[test]
fn sample_addon_appset_expands_one_app_per_labelled_cluster() {
    let root = env!("CARGO_MANIFEST_DIR");
    let set_text =
        std::fs::read_to_string(format!("{root}/testdata/controller/addons-appset.yaml")).expect("sample appset");
    let secrets_text =
        std::fs::read_to_string(format!("{root}/testdata/controller/cluster-secrets.yaml")).expect("sample secrets");
    let set = ApplicationSet::from_value(&yaml(&set_text)).expect("sample parses");
    let secrets = yaml_docs(&secrets_text);
    assert_eq!(secrets.len(), 3);
    let apps = generate(&set, &secrets).expect("sample generates");
    assert_eq!(names(&apps), ["metrics-server-prod-eu", "metrics-server-staging"]);
    let prod = &apps[0];
    assert_eq!(prod["metadata"]["labels"], json!({"addon": "metrics-server", "env": "prod"}));
    assert_eq!(prod["spec"]["source"]["targetRevision"], json!("stable"));
    assert_eq!(prod["spec"]["source"]["path"], json!("metrics-server/overlays/prod"));
    assert_eq!(prod["spec"]["destination"]["server"], json!("https://prod-eu.k8s.example.com"));
    assert_eq!(prod["spec"]["syncPolicy"]["automated"], json!({"prune": true, "selfHeal": true}));
    assert_eq!(apps[1]["spec"]["source"]["targetRevision"], json!("main"));
    assert_eq!(prod["metadata"]["ownerReferences"][0]["name"], json!("metrics-server"));

    // dropping the addon label from staging deletes its app on the next reconcile
    let mut after = secrets.clone();
    after[1]["metadata"]["labels"].as_object_mut().expect("labels").remove("addons.kcmp.dev/metrics-server");
    let generated = generate(&set, &after);
    let p = plan_for(&set, &generated, &apps, &after);
    assert_eq!(p.delete, [Delete { name: "metrics-server-staging".into(), strip_resources_finalizer: false }]);
    assert_eq!(p.unchanged, ["metrics-server-prod-eu"]);
}

#[test]
fn merge_in_go_mode_deep_merges_nested_values() {
    let set = appset(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: merged, namespace: argocd}
spec:
  goTemplate: true
  goTemplateOptions: [missingkey=error]
  generators:
    - merge:
        mergeKeys: [app]
        generators:
          - list:
              elements:
                - {app: web, helm: {replicas: "1", image: "web:1"}}
                - {app: api, helm: {replicas: "1", image: "api:1"}}
          - list:
              elements:
                - {app: api, helm: {replicas: "3"}}
  template:
    metadata: {name: '{{.app}}-{{.helm.replicas}}-{{.helm.image}}'}
    spec: {project: default}
"#,
    );
    assert_eq!(names(&generate(&set, &[]).expect("generates")), ["api-3-api:1", "web-1-web:1"]);
}

#[test]
fn conditions_report_error_invalid_and_up_to_date() {
    let set = appset(LIST_SET);
    let ok = generate(&set, &[]);
    let conditions = plan_for(&set, &ok, &[], &[]).conditions();
    let summary: Vec<(&str, &str, &str)> = conditions.iter().map(|c| (c.kind, c.status, c.reason)).collect();
    assert_eq!(
        summary,
        [
            ("ErrorOccurred", "False", "ApplicationSetUpToDate"),
            ("ParametersGenerated", "True", "ParametersGenerated"),
            ("ResourcesUpToDate", "True", "ApplicationSetUpToDate"),
        ]
    );
    let failed: appset::Result<Vec<Value>> =
        Err(Error::Generator { generator: "spec.generators[0].git".into(), message: "boom".into() });
    let conditions = plan_for(&set, &failed, &[], &[]).conditions();
    assert_eq!(conditions[0].to_value()["status"], json!("True"));
    assert_eq!(conditions[0].message, "spec.generators[0].git: boom");
    assert_eq!(conditions[2].status, "False");
    let dup = appset(&LIST_SET.replace("name: '{{cluster}}-guestbook'", "name: same"));
    let generated = generate(&dup, &[]);
    let p = plan_for(&dup, &generated, &[], &[]);
    assert_eq!(names(&p.create), ["same"]);
    let conditions = p.conditions();
    assert_eq!(conditions[0].reason, "ApplicationValidationError");
    assert_eq!(
        conditions[0].message,
        "ApplicationSet guestbook contains applications with duplicate name: same (and 1 more invalid applications)"
    );
}

#[test]
fn deleting_an_appset_orphans_apps_only_when_deletion_is_forbidden() {
    let set = appset(LIST_SET);
    let mut live = generate(&set, &[]).expect("generates");
    live[0]["metadata"]["ownerReferences"]
        .as_array_mut()
        .expect("owner refs")
        .push(json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "keep-me", "uid": "c"}));
    assert!(plan::orphan_on_delete(&set, &live, &Settings::default()).is_empty(), "sync policy: GC deletes them");
    let keep = appset(&fewer_policy(LIST_SET, "create-update"));
    let orphaned = plan::orphan_on_delete(&keep, &live, &Settings::default());
    assert_eq!(orphaned.len(), 3);
    assert_eq!(
        orphaned[0],
        (
            "engineering-dev-guestbook".to_string(),
            json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "keep-me", "uid": "c"}])
        )
    );
    assert_eq!(orphaned[1].1, json!([]));
}

#[test]
fn git_files_generator_reads_a_checked_out_directory() {
    use kcmp::controller::appset::git::LocalDir;
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, body) in [
        ("clusters/eu/config.yaml", "name: eu\nserver: https://eu\n"),
        ("clusters/us/config.yaml", "name: us\nserver: https://us\n"),
        (".git/config.yaml", "name: never\n"),
    ] {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, body).expect("write");
    }
    let mut repos = RepoSet::new();
    repos.insert(REPO, Some("main"), Box::new(LocalDir::new(dir.path())));
    let set = appset(&format!(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {{name: disk, namespace: argocd}}
spec:
  goTemplate: true
  goTemplateOptions: [missingkey=error]
  generators:
    - git: {{repoURL: {REPO}, revision: main, files: [{{path: '**/config.yaml'}}]}}
  template:
    metadata: {{name: 'addons-{{{{.name}}}}'}}
    spec:
      project: default
      source: {{repoURL: {REPO}, targetRevision: main, path: '{{{{.path.path}}}}'}}
      destination: {{server: '{{{{.server}}}}', namespace: addons}}
"#
    ));
    let apps = generate_with(&set, &[], &repos).expect("generates from disk");
    assert_eq!(names(&apps), ["addons-eu", "addons-us"]);
    assert_eq!(apps[0]["spec"]["source"]["path"], json!("clusters/eu"));
    let other_revision = appset(&format!(
        "kind: ApplicationSet\nmetadata: {{name: x, namespace: argocd}}\nspec: {{generators: [{{git: {{repoURL: {REPO}, revision: dev, files: [{{path: '*'}}]}}}}]}}"
    ));
    let err = generate_with(&other_revision, &[], &repos).expect_err("revision not checked out");
    assert!(err.to_string().contains("at revision \"dev\" is not checked out"), "{err}");
}

#[test]
fn destinations_need_a_server_or_a_known_name_but_not_both() {
    let base = |dest: &str| {
        appset(&format!(
            "kind: ApplicationSet\nmetadata: {{name: d, namespace: argocd}}\nspec:\n  generators: [{{list: {{elements: [{{n: a}}]}}}}]\n  template: {{metadata: {{name: app}}, spec: {{project: default, destination: {dest}}}}}\n"
        ))
    };
    let secrets = [secret("prod", "https://prod", json!({}))];
    let cases = [
        ("{namespace: x}", Some("application app: destination server missing from app spec (set server or name)")),
        (
            "{name: prod, server: https://prod}",
            Some("application app: destination can't have both name and server defined: prod https://prod"),
        ),
        ("{name: gone}", Some("application app references destination cluster gone which does not exist")),
        ("{name: prod}", None),
        ("{name: in-cluster}", None),
        ("{server: https://anything}", None),
    ];
    for (dest, want) in cases {
        let set = base(dest);
        let generated = generate(&set, &secrets);
        let p = plan_for(&set, &generated, &[], &secrets);
        assert_eq!(p.invalid.first().map(|i| i.message.as_str()), want, "destination {dest}");
        assert_eq!(p.create.len(), usize::from(want.is_none()));
    }
}

#[test]
fn apps_in_other_namespaces_are_never_deleted() {
    let set = appset(LIST_SET);
    let mut live = generate(&set, &[]).expect("generates");
    let mut stray = live[0].clone();
    stray["metadata"]["name"] = json!("elsewhere");
    stray["metadata"]["namespace"] = json!("team-a");
    live.push(stray);
    let generated = generate(&set, &[]);
    let p = plan_for(&set, &generated, &live, &[]);
    assert!(p.delete.is_empty(), "{:?}", p.delete);
}
