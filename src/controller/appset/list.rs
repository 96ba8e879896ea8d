//! The list generator (docs/controller-appset.md §2.1): `elements` plus the
//! YAML list in `elementsYaml`, one parameter set per element.

use super::params::{go_numbers, Params};
use serde::Deserialize;
use serde_json::Value;

/// `generators[].list`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListGenerator {
    /// The elements, each one parameter set.
    #[serde(default)]
    pub elements: Vec<Value>,
    /// More elements as a YAML list (appended after `elements`).
    #[serde(default)]
    pub elements_yaml: Option<String>,
    /// Generator-level template.
    #[serde(default)]
    pub template: Option<Value>,
}

/// One parameter set per element. goTemplate: elements as-is; fasttemplate:
/// every value must be a string, a `values` map is flattened to `values.<k>`.
pub fn generate(g: &ListGenerator, go: bool) -> Result<Vec<Params>, String> {
    let mut elements = g.elements.clone();
    if let Some(text) = g.elements_yaml.as_deref().filter(|t| !t.trim().is_empty()) {
        let docs = crate::render::yaml::parse::parse_stream(text)
            .map_err(|e| format!("elementsYaml is not valid YAML (line {}): {e}", e.line))?;
        match docs.into_iter().next().map(|d| d.value) {
            Some(Value::Array(items)) => elements.extend(items),
            Some(Value::Null) | None => {}
            Some(_) => return Err("elementsYaml must be a YAML list of maps".into()),
        }
    }
    let mut out = Vec::with_capacity(elements.len());
    for (i, element) in elements.into_iter().enumerate() {
        let Value::Object(map) = go_numbers(element) else {
            return Err(format!("element {i} is not a map"));
        };
        if go {
            out.push(map);
            continue;
        }
        let mut params = Params::new();
        for (key, value) in map {
            match (key.as_str(), value) {
                ("values", Value::Object(values)) => {
                    for (k, v) in values {
                        let Value::String(s) = v else {
                            return Err(format!("element {i}: values.{k} must be a string (or set goTemplate: true)"));
                        };
                        params.insert(format!("values.{k}"), Value::String(s));
                    }
                }
                ("values", _) => return Err(format!("element {i}: values must be a map of strings")),
                (_, Value::String(s)) => {
                    params.insert(key, Value::String(s));
                }
                (_, _) => {
                    return Err(format!(
                        "element {i}: {key} must be a string (or set goTemplate: true for nested values)"
                    ))
                }
            }
        }
        out.push(params);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn gen(v: Value) -> ListGenerator {
        serde_json::from_value(v).expect("list generator parses")
    }

    #[test]
    fn fast_mode_flattens_values_and_requires_strings() {
        let g = gen(json!({"elements": [{"cluster": "a", "values": {"x": "1"}}]}));
        assert_eq!(
            generate(&g, false),
            Ok(vec![json!({"cluster": "a", "values.x": "1"}).as_object().cloned().expect("obj")])
        );
        let bad = gen(json!({"elements": [{"cluster": "a", "replicas": 3}]}));
        assert_eq!(
            generate(&bad, false),
            Err("element 0: replicas must be a string (or set goTemplate: true for nested values)".into())
        );
        let bad_values = gen(json!({"elements": [{"values": "x"}]}));
        assert_eq!(generate(&bad_values, false), Err("element 0: values must be a map of strings".into()));
    }

    #[test]
    fn go_mode_keeps_nested_values_and_appends_elements_yaml() {
        let g = gen(json!({"elements": [{"a": {"b": 1}}], "elementsYaml": "- c: d\n- e: [1, 2]\n"}));
        let sets = generate(&g, true).expect("generates");
        assert_eq!(sets.len(), 3);
        assert_eq!(sets[0]["a"]["b"].as_f64(), Some(1.0));
        assert_eq!(sets[1]["c"], json!("d"));
    }

    #[test]
    fn non_map_elements_and_bad_yaml_are_errors() {
        assert_eq!(generate(&gen(json!({"elements": ["x"]})), true), Err("element 0 is not a map".into()));
        assert_eq!(
            generate(&gen(json!({"elementsYaml": "a: b"})), true),
            Err("elementsYaml must be a YAML list of maps".into())
        );
    }
}
