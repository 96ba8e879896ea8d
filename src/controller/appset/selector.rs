//! Kubernetes label selectors (`matchLabels` + `matchExpressions`) as the
//! clusters generator (Secret labels) and every generator's post-selector
//! (flattened parameters) use them (docs/controller-appset.md §1, §2.2).

use serde::Deserialize;
use std::collections::BTreeMap;

/// A `metav1.LabelSelector`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    /// Exact label matches, all required.
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements, all required.
    #[serde(default)]
    pub match_expressions: Vec<Requirement>,
}

/// One `matchExpressions` entry.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Requirement {
    /// Label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// Values for `In`/`NotIn`; must be empty for `Exists`/`DoesNotExist`.
    #[serde(default)]
    pub values: Vec<String>,
}

impl LabelSelector {
    /// True when the selector has no requirement at all (it matches everything;
    /// for the clusters generator it also lets the in-cluster entry in).
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    /// Whether `labels` satisfy every requirement. A malformed requirement
    /// (unknown operator, missing or superfluous values) is an error, as
    /// `metav1.LabelSelectorAsSelector` reports it.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> Result<bool, String> {
        let mut ok = self.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v));
        for (i, req) in self.match_expressions.iter().enumerate() {
            let value = labels.get(&req.key);
            let hit = match req.operator.as_str() {
                "In" | "NotIn" => {
                    if req.values.is_empty() {
                        return Err(format!(
                            "matchExpressions[{i}] (key {:?}): operator {} needs at least one value",
                            req.key, req.operator
                        ));
                    }
                    let inside = value.is_some_and(|v| req.values.contains(v));
                    if req.operator == "In" {
                        inside
                    } else {
                        !inside
                    }
                }
                "Exists" | "DoesNotExist" => {
                    if !req.values.is_empty() {
                        return Err(format!(
                            "matchExpressions[{i}] (key {:?}): operator {} takes no values",
                            req.key, req.operator
                        ));
                    }
                    value.is_some() == (req.operator == "Exists")
                }
                other => {
                    return Err(format!(
                        "matchExpressions[{i}] (key {:?}): unknown operator {other:?} (use In, NotIn, Exists or DoesNotExist)",
                        req.key
                    ))
                }
            };
            ok &= hit;
        }
        Ok(ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(v: serde_json::Value) -> LabelSelector {
        serde_json::from_value(v).expect("selector parses")
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn match_labels_and_expressions_all_required() {
        let s = sel(json!({"matchLabels": {"env": "prod"},
                           "matchExpressions": [{"key": "region", "operator": "In", "values": ["eu", "us"]}]}));
        assert_eq!(s.matches(&labels(&[("env", "prod"), ("region", "eu")])), Ok(true));
        assert_eq!(s.matches(&labels(&[("env", "prod"), ("region", "ap")])), Ok(false));
        assert_eq!(s.matches(&labels(&[("env", "dev"), ("region", "eu")])), Ok(false));
    }

    #[test]
    fn notin_exists_doesnotexist() {
        let notin = sel(json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["x"]}]}));
        assert_eq!(notin.matches(&labels(&[])), Ok(true));
        assert_eq!(notin.matches(&labels(&[("tier", "x")])), Ok(false));
        let exists = sel(json!({"matchExpressions": [{"key": "a", "operator": "Exists"}]}));
        assert_eq!(exists.matches(&labels(&[("a", "")])), Ok(true));
        assert_eq!(exists.matches(&labels(&[])), Ok(false));
        let absent = sel(json!({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}));
        assert_eq!(absent.matches(&labels(&[])), Ok(true));
    }

    #[test]
    fn malformed_requirements_are_errors() {
        let s = sel(json!({"matchExpressions": [{"key": "a", "operator": "In"}]}));
        assert_eq!(
            s.matches(&labels(&[])),
            Err("matchExpressions[0] (key \"a\"): operator In needs at least one value".into())
        );
        let s = sel(json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}));
        assert!(s.matches(&labels(&[])).expect_err("bad operator").contains("unknown operator \"Gt\""));
        let s = sel(json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["1"]}]}));
        assert!(s.matches(&labels(&[])).expect_err("values on exists").contains("takes no values"));
    }

    #[test]
    fn empty_selector_matches_everything() {
        assert!(LabelSelector::default().is_empty());
        assert_eq!(LabelSelector::default().matches(&labels(&[("a", "b")])), Ok(true));
    }
}
