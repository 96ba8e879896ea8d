//! Parameters: the announcement GetParametersAnnouncement returns (static list from
//! plugin.yaml merged with a dynamic command's JSON, docs/cmp-protocol.md §12), and
//! the request env (`ARGOCD_ENV_*`, `ARGOCD_APP_*`, `ARGOCD_APP_PARAMETERS`,
//! `PARAM_*`, `KUBE_*`, §9.3) turned into the engine's template context.

use crate::cmp::config::{fold_keys, Announcement};
use crate::cmp::proto::{EnvEntry, ParameterAnnouncement};
use crate::render::template::Context;
use serde_json::Value;

/// The request's env entries as `(name, value)`, entries with an empty name dropped.
pub fn env_pairs(env: &[EnvEntry]) -> Vec<(String, String)> {
    env.iter().filter(|e| !e.name.is_empty()).map(|e| (e.name.clone(), e.value.clone())).collect()
}

/// The template context for in-process rendering; later duplicates win, as in exec.
pub fn template_context(env: &[(String, String)]) -> crate::render::Result<Context> {
    let mut last: std::collections::BTreeMap<&str, &str> = std::collections::BTreeMap::new();
    for (k, v) in env {
        last.insert(k, v);
    }
    Context::from_vars(last)
}

/// Dynamic items first, then static ones, no de-duplication (§12). `dynamic` is the
/// dynamic command's stdout, if one is configured.
pub fn announcements(statics: &[Announcement], dynamic: Option<&str>) -> Result<Vec<ParameterAnnouncement>, String> {
    let mut out = Vec::new();
    if let Some(text) = dynamic {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            format!("error unmarshaling dynamic parameter output into ParametersAnnouncementResponse: {e}")
        })?;
        let items: Vec<Announcement> = match value {
            Value::Null => Vec::new(),
            Value::Array(_) => serde_json::from_value(fold_keys(value)).map_err(|e| {
                format!("error unmarshaling dynamic parameter output into ParametersAnnouncementResponse: {e}")
            })?,
            _ => {
                return Err("error unmarshaling dynamic parameter output into ParametersAnnouncementResponse: expected a JSON array of parameter announcements".into())
            }
        };
        out.extend(items.iter().map(to_proto));
    }
    out.extend(statics.iter().map(to_proto));
    Ok(out)
}

fn to_proto(a: &Announcement) -> ParameterAnnouncement {
    ParameterAnnouncement {
        name: a.name.clone(),
        title: a.title.clone(),
        tooltip: a.tooltip.clone(),
        required: a.required,
        item_type: a.item_type.clone(),
        collection_type: a.collection_type.clone(),
        string: a.string.clone(),
        array: a.array.clone(),
        map: a.map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_items_come_first_and_keys_match_case_insensitively() {
        let statics = vec![Announcement { name: "s".into(), string: "d".into(), ..Announcement::default() }];
        let out =
            announcements(&statics, Some(r#"[{"NAME":"dyn","collectionType":"map","map":{"K":"v"}}]"#)).expect("ok");
        let names: Vec<&str> = out.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["dyn", "s"]);
        assert_eq!(out[0].map.get("K").map(String::as_str), Some("v"));
        assert_eq!(out[0].collection_type, "map");
    }

    #[test]
    fn empty_dynamic_output_is_an_error_and_null_is_empty() {
        let e = announcements(&[], Some("")).expect_err("empty");
        assert!(
            e.starts_with(
                "error unmarshaling dynamic parameter output into ParametersAnnouncementResponse: EOF while parsing"
            ),
            "{e}"
        );
        assert!(announcements(&[], Some("null")).expect("null").is_empty());
    }
}
