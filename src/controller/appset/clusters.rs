//! The clusters generator (docs/controller-appset.md §2.2): one parameter
//! set per Argo CD cluster Secret (label `argocd.argoproj.io/secret-type:
//! cluster`) matching `selector`, plus the synthetic in-cluster entry when
//! the selector is empty and no Secret describes the in-cluster API.
//! Secrets arrive as plain JSON objects, as the API returns them.

use super::params::{sanitize_name, Params};
use super::render::Engine;
use super::selector::LabelSelector;
use super::{Options, CLUSTER_SECRET_LABEL, IN_CLUSTER_SERVER};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// `generators[].clusters`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterGenerator {
    /// Selects cluster Secrets by their labels.
    #[serde(default)]
    pub selector: LabelSelector,
    /// Extra params, each templated against the cluster's params.
    #[serde(default)]
    pub values: BTreeMap<String, String>,
    /// One parameter set `{clusters: [...]}` instead of one per cluster.
    #[serde(default)]
    pub flat_list: bool,
    /// Generator-level template.
    #[serde(default)]
    pub template: Option<Value>,
}

/// A cluster as the generator sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Cluster {
    /// `data.name`.
    pub name: String,
    /// `data.server`.
    pub server: String,
    /// `data.project` or "".
    pub project: String,
    /// Secret labels.
    pub labels: BTreeMap<String, String>,
    /// Secret annotations.
    pub annotations: BTreeMap<String, String>,
}

/// Reads one cluster Secret; `None` when it is not a cluster Secret.
/// Errors name the Secret and the missing or undecodable field.
pub fn parse_secret(secret: &Value) -> Result<Option<Cluster>, String> {
    let meta = secret.get("metadata").cloned().unwrap_or(Value::Null);
    let id = format!(
        "cluster secret {}/{}",
        meta.get("namespace").and_then(Value::as_str).unwrap_or_default(),
        meta.get("name").and_then(Value::as_str).unwrap_or_default()
    );
    let labels = string_map(meta.get("labels"));
    if labels.get(CLUSTER_SECRET_LABEL).map(String::as_str) != Some("cluster") {
        return Ok(None);
    }
    let field = |key: &str| -> Result<Option<String>, String> {
        if let Some(v) = secret.pointer(&format!("/stringData/{key}")).and_then(Value::as_str) {
            return Ok(Some(v.to_string()));
        }
        let Some(encoded) = secret.get("data").and_then(|d| d.get(key)) else { return Ok(None) };
        let encoded = encoded.as_str().ok_or_else(|| format!("{id}: data.{key} is not a string"))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| format!("{id}: data.{key} is not valid base64: {e}"))?;
        String::from_utf8(bytes).map(Some).map_err(|_| format!("{id}: data.{key} is not utf-8"))
    };
    let name = field("name")?.filter(|n| !n.is_empty()).ok_or_else(|| format!("{id}: data.name is missing"))?;
    let server = field("server")?.filter(|s| !s.is_empty()).ok_or_else(|| format!("{id}: data.server is missing"))?;
    Ok(Some(Cluster {
        name,
        server,
        project: field("project")?.unwrap_or_default(),
        labels,
        annotations: string_map(meta.get("annotations")),
    }))
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect())
        .unwrap_or_default()
}

/// All clusters known to Argo CD: cluster Secrets keyed by name (a later
/// Secret with the same name replaces an earlier one) and, unless disabled
/// or described by a Secret, the in-cluster entry. Also used to decide
/// whether a generated app's destination still exists.
pub fn known_clusters(secrets: &[Value], options: Options) -> Result<BTreeMap<String, Cluster>, String> {
    let mut out = BTreeMap::new();
    for secret in secrets {
        if let Some(c) = parse_secret(secret)? {
            out.insert(c.name.clone(), c);
        }
    }
    if options.in_cluster_enabled && !out.values().any(|c| c.server == IN_CLUSTER_SERVER) {
        out.insert("in-cluster".into(), in_cluster());
    }
    Ok(out)
}

fn in_cluster() -> Cluster {
    Cluster {
        name: "in-cluster".into(),
        server: IN_CLUSTER_SERVER.into(),
        project: String::new(),
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
    }
}

/// Parameter sets, in cluster-name order.
pub fn generate(
    g: &ClusterGenerator,
    secrets: &[Value],
    options: Options,
    engine: &Engine,
) -> Result<Vec<Params>, String> {
    let mut selected: BTreeMap<String, Cluster> = BTreeMap::new();
    for secret in secrets {
        let Some(cluster) = parse_secret(secret)? else { continue };
        // Argo CD lists only the matching Secrets, then keys them by cluster
        // name: among matching Secrets of one name the last one wins.
        if g.selector.matches(&cluster.labels).map_err(|e| format!("selector: {e}"))? {
            selected.insert(cluster.name.clone(), cluster);
        }
    }
    let local_described = selected.values().any(|c| c.server == IN_CLUSTER_SERVER);
    if g.selector.is_empty() && options.in_cluster_enabled && !local_described {
        selected.insert("in-cluster".into(), in_cluster());
    }
    let go = engine.is_go();
    let mut out = Vec::new();
    for cluster in selected.into_values() {
        let mut params = cluster_params(&cluster, go);
        add_values(&mut params, &g.values, engine)?;
        out.push(params);
    }
    if g.flat_list {
        let mut flat = Params::new();
        flat.insert("clusters".into(), Value::Array(out.into_iter().map(Value::Object).collect()));
        return Ok(vec![flat]);
    }
    Ok(out)
}

fn cluster_params(c: &Cluster, go: bool) -> Params {
    let mut p = Params::new();
    p.insert("name".into(), Value::String(c.name.clone()));
    p.insert("nameNormalized".into(), Value::String(sanitize_name(&c.name)));
    p.insert("server".into(), Value::String(c.server.clone()));
    p.insert("project".into(), Value::String(c.project.clone()));
    let to_obj = |m: &BTreeMap<String, String>| {
        Value::Object(m.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
    };
    if go {
        let mut meta = Map::new();
        if !c.labels.is_empty() {
            meta.insert("labels".into(), to_obj(&c.labels));
        }
        if !c.annotations.is_empty() {
            meta.insert("annotations".into(), to_obj(&c.annotations));
        }
        if !meta.is_empty() {
            p.insert("metadata".into(), Value::Object(meta));
        }
    } else {
        for (k, v) in &c.labels {
            p.insert(format!("metadata.labels.{k}"), Value::String(v.clone()));
        }
        for (k, v) in &c.annotations {
            p.insert(format!("metadata.annotations.{k}"), Value::String(v.clone()));
        }
    }
    p
}

/// Adds a generator's `values`, each templated against `params`
/// (fasttemplate: `values.<k>` keys; goTemplate: a `values` map). Shared by
/// the clusters and git generators.
pub fn add_values(params: &mut Params, values: &BTreeMap<String, String>, engine: &Engine) -> Result<(), String> {
    if values.is_empty() {
        return Ok(());
    }
    let mut rendered = Map::new();
    for (k, v) in values {
        let out = engine.render_str(v, params).map_err(|e| format!("values.{k}: {e}"))?;
        rendered.insert(k.clone(), Value::String(out));
    }
    if engine.is_go() {
        params.insert("values".into(), Value::Object(rendered));
    } else {
        for (k, v) in rendered {
            params.insert(format!("values.{k}"), v);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::appset::gotemplate;
    use serde_json::json;

    fn secret(name: &str, server: &str, labels: Value) -> Value {
        let mut all = labels.as_object().cloned().unwrap_or_default();
        all.insert(CLUSTER_SECRET_LABEL.into(), json!("cluster"));
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        json!({"metadata": {"name": format!("cluster-{name}"), "namespace": "argocd", "labels": all,
                             "annotations": {"team": "core"}},
               "data": {"name": b64(name), "server": b64(server)}})
    }

    fn gen(v: Value) -> ClusterGenerator {
        serde_json::from_value(v).expect("clusters generator parses")
    }

    fn names(sets: &[Params]) -> Vec<String> {
        sets.iter().map(|p| p["name"].as_str().unwrap_or_default().to_string()).collect()
    }

    #[test]
    fn selector_picks_labelled_clusters_and_excludes_in_cluster() {
        let secrets = [
            secret("prod-eu", "https://eu", json!({"env": "prod"})),
            secret("dev", "https://dev", json!({"env": "dev"})),
            json!({"metadata": {"name": "other", "labels": {"x": "y"}}, "data": {}}),
        ];
        let g = gen(json!({"selector": {"matchLabels": {"env": "prod"}}}));
        let sets = generate(&g, &secrets, Options::default(), &Engine::fast()).expect("generates");
        assert_eq!(names(&sets), ["prod-eu"]);
        assert_eq!(sets[0]["metadata.labels.env"], json!("prod"));
        assert_eq!(sets[0]["metadata.annotations.team"], json!("core"));
        assert_eq!(sets[0]["nameNormalized"], json!("prod-eu"));
        assert_eq!(sets[0]["project"], json!(""));
    }

    #[test]
    fn empty_selector_adds_in_cluster_unless_a_secret_describes_it() {
        let secrets = [secret("dev", "https://dev", json!({}))];
        let sets = generate(&gen(json!({})), &secrets, Options::default(), &Engine::fast()).expect("generates");
        assert_eq!(names(&sets), ["dev", "in-cluster"]);
        assert_eq!(sets[1]["server"], json!(IN_CLUSTER_SERVER));
        let local = [secret("local", IN_CLUSTER_SERVER, json!({}))];
        let sets = generate(&gen(json!({})), &local, Options::default(), &Engine::fast()).expect("generates");
        assert_eq!(names(&sets), ["local"]);
        let off = Options { in_cluster_enabled: false, ..Options::default() };
        assert!(generate(&gen(json!({})), &[], off, &Engine::fast()).expect("generates").is_empty());
    }

    #[test]
    fn go_mode_nests_metadata_and_templates_values() {
        let secrets = [secret("Prod_EU", "https://eu", json!({"env": "prod"}))];
        let g = gen(json!({"selector": {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]},
                           "values": {"revision": "{{.metadata.labels.env}}-branch"}}));
        let engine = Engine::go(gotemplate::Options::default());
        let sets = generate(&g, &secrets, Options::default(), &engine).expect("generates");
        assert_eq!(sets[0]["metadata"]["labels"]["env"], json!("prod"));
        assert_eq!(sets[0]["values"]["revision"], json!("prod-branch"));
        assert_eq!(sets[0]["nameNormalized"], json!("prod-eu"));
    }

    #[test]
    fn fast_values_are_flattened_and_templated() {
        let secrets = [secret("a", "https://a", json!({}))];
        let g = gen(json!({"selector": {"matchLabels": {}}, "values": {"dest": "{{name}}-ns"}}));
        let sets = generate(&g, &secrets, Options::default(), &Engine::fast()).expect("generates");
        assert_eq!(names(&sets), ["a", "in-cluster"]);
        assert_eq!(sets[0]["values.dest"], json!("a-ns"));
    }

    #[test]
    fn same_name_collapses_to_the_last_secret_and_flat_list_wraps() {
        let secrets = [secret("a", "https://old", json!({})), secret("a", "https://new", json!({}))];
        let g = gen(json!({"selector": {"matchLabels": {CLUSTER_SECRET_LABEL: "cluster"}}, "flatList": true}));
        let sets = generate(&g, &secrets, Options::default(), &Engine::fast()).expect("generates");
        assert_eq!(sets.len(), 1);
        let clusters = sets[0]["clusters"].as_array().expect("clusters list");
        assert_eq!(clusters.len(), 1, "the selector is not empty, so no in-cluster entry");
        assert_eq!(clusters[0]["server"], json!("https://new"));
        assert_eq!(clusters[0]["metadata.labels.argocd.argoproj.io/secret-type"], json!("cluster"));
    }

    #[test]
    fn broken_secrets_are_errors_naming_the_secret() {
        let mut s = secret("a", "https://a", json!({}));
        s["data"]["server"] = json!("!!!");
        let err = generate(&gen(json!({})), &[s], Options::default(), &Engine::fast()).expect_err("bad base64");
        assert!(err.starts_with("cluster secret argocd/cluster-a: data.server is not valid base64"), "{err}");
        let mut s = secret("a", "https://a", json!({}));
        s["data"].as_object_mut().expect("data").remove("name");
        let err = generate(&gen(json!({})), &[s], Options::default(), &Engine::fast()).expect_err("no name");
        assert_eq!(err, "cluster secret argocd/cluster-a: data.name is missing");
    }
}
