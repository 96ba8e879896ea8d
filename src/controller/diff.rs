//! Desired vs live (docs/controller-sync.md §4.1 steps 6-8, §6): normalization of
//! both sides, the per-resource verdict and the app's sync status, and the unified
//! diff `kcmp app diff` prints. Pure: the predicted live object (the API server's
//! answer to a server-side apply dry-run of the target, §6.5) is handed in.
//!
//! Normalization removes what is never a difference: `status`, server-owned metadata
//! (managedFields, resourceVersion, uid, generation, creationTimestamp, selfLink), the
//! last-applied annotation, empty label/annotation maps; Secret `stringData` is folded
//! into `data`; then the app's `ignoreDifferences` rules run (JSON pointers, simple jq
//! paths, fields owned by listed managers).

use crate::controller::application::{annotation, IgnoreDifferences};
use crate::controller::tracking::ResourceKey;
use crate::controller::{Error, Result};
use base64::Engine as _;
use serde_json::{Map, Value};
use std::fmt;

/// Sync status of one resource or of an app.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SyncStatus {
    /// Live matches desired.
    Synced,
    /// Live differs, is missing, or needs pruning.
    OutOfSync,
    /// Could not be compared.
    Unknown,
}

impl fmt::Display for SyncStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SyncStatus::Synced => "Synced",
            SyncStatus::OutOfSync => "OutOfSync",
            SyncStatus::Unknown => "Unknown",
        })
    }
}

/// The comparison of one resource.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceDiff {
    /// Which object.
    pub key: ResourceKey,
    /// Its status.
    pub status: SyncStatus,
    /// Whether normalized live and predicted live differ.
    pub modified: bool,
    /// Live after normalization (`Null` when absent).
    pub normalized_live: Value,
    /// What live would become after a sync, normalized (`Null` when it would be pruned).
    pub predicted_live: Value,
    /// The target is gone and the live object is managed: it needs pruning.
    pub requires_pruning: bool,
}

const SERVER_METADATA: &[&str] =
    &["managedFields", "resourceVersion", "uid", "generation", "creationTimestamp", "selfLink"];
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Normalizes one object for comparison (see the module doc). `key` selects the
/// ignore rules; errors name the rule that cannot be applied.
pub fn normalize(obj: &Map<String, Value>, key: &ResourceKey, rules: &[IgnoreDifferences]) -> Result<Value> {
    let mut out = obj.clone();
    out.remove("status");
    if let Some(meta) = out.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in SERVER_METADATA {
            meta.remove(*k);
        }
        if let Some(ann) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            ann.remove(LAST_APPLIED);
        }
        for k in ["annotations", "labels"] {
            if meta.get(k).is_some_and(|v| v.is_null() || v.as_object().is_some_and(Map::is_empty)) {
                meta.remove(k);
            }
        }
    }
    if key.group.is_empty() && key.kind == "Secret" {
        fold_string_data(&mut out);
    }
    let mut value = Value::Object(out);
    for rule in rules.iter().filter(|r| rule_matches(r, key)) {
        for pointer in &rule.json_pointers {
            remove_pointer(&mut value, pointer);
        }
        for expr in &rule.jq_path_expressions {
            let path = parse_jq_path(expr)?;
            remove_jq(&mut value, &path);
        }
        if !rule.managed_fields_managers.is_empty() {
            for fields in owned_fields(obj, &rule.managed_fields_managers) {
                remove_owned(&mut value, fields);
            }
        }
    }
    Ok(value)
}

/// Like [`normalize`], but the managed-fields rules are taken from `owner` (the live
/// object) so both sides lose the same fields.
pub fn normalize_against(
    obj: &Map<String, Value>,
    owner: Option<&Map<String, Value>>,
    key: &ResourceKey,
    rules: &[IgnoreDifferences],
) -> Result<Value> {
    let mut value = normalize(obj, key, rules)?;
    if let Some(owner) = owner {
        for rule in rules.iter().filter(|r| rule_matches(r, key) && !r.managed_fields_managers.is_empty()) {
            for fields in owned_fields(owner, &rule.managed_fields_managers) {
                remove_owned(&mut value, fields);
            }
        }
    }
    Ok(value)
}

fn fold_string_data(obj: &mut Map<String, Value>) {
    let string_data = obj.remove("stringData");
    let data = obj.entry("data").or_insert_with(|| Value::Object(Map::new()));
    if data.is_null() {
        *data = Value::Object(Map::new());
    }
    if let Some(data) = data.as_object_mut() {
        for v in data.values_mut() {
            if v.is_null() {
                *v = Value::String(String::new());
            }
        }
        if let Some(Value::Object(sd)) = string_data {
            for (k, v) in sd {
                let text = match v {
                    Value::String(s) => s,
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                data.insert(k, Value::String(base64::engine::general_purpose::STANDARD.encode(text)));
            }
        }
    }
    if obj.get("data").and_then(Value::as_object).is_some_and(Map::is_empty) {
        obj.remove("data");
    }
}

fn glob_match(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((pre, rest)) => {
            let Some(tail) = text.strip_prefix(pre) else { return false };
            (0..=tail.len()).any(|i| tail.is_char_boundary(i) && glob_match(rest, &tail[i..]))
        }
    }
}

fn rule_matches(rule: &IgnoreDifferences, key: &ResourceKey) -> bool {
    glob_match(&rule.group, &key.group)
        && glob_match(&rule.kind, &key.kind)
        && (rule.name.is_empty() || rule.name == key.name)
        && (rule.namespace.is_empty() || rule.namespace == key.namespace)
}

fn remove_pointer(value: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else { return };
    let last = last.replace("~1", "/").replace("~0", "~");
    match value.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.remove(&last);
        }
        Some(Value::Array(a)) => {
            if let Ok(i) = last.parse::<usize>() {
                if i < a.len() {
                    a.remove(i);
                }
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug, PartialEq)]
enum JqStep {
    Field(String),
    Each,
}

/// The jq subset kcmp understands: `.a.b`, `.["a.b"]`, `.a[]` steps. Argo CD runs
/// full jq; anything richer is refused rather than silently ignored.
fn parse_jq_path(expr: &str) -> Result<Vec<JqStep>> {
    let bad = || {
        Error::Diff {
        message: format!(
            "unsupported jqPathExpression '{expr}': kcmp supports paths of .field, .[\"field\"] and [] steps (e.g. .spec.template.spec.containers[].image)"
        ),
    }
    };
    let mut steps = Vec::new();
    let mut rest = expr.trim();
    if !rest.starts_with('.') {
        return Err(bad());
    }
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("[]") {
            steps.push(JqStep::Each);
            rest = r;
        } else if let Some(r) = rest.strip_prefix(".[\"").or_else(|| rest.strip_prefix("[\"")) {
            let end = r.find("\"]").ok_or_else(bad)?;
            steps.push(JqStep::Field(r[..end].to_string()));
            rest = &r[end + 2..];
        } else if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let name = &r[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                return Err(bad());
            }
            steps.push(JqStep::Field(name.to_string()));
            rest = &r[end..];
        } else {
            return Err(bad());
        }
    }
    if steps.is_empty() {
        return Err(bad());
    }
    Ok(steps)
}

fn remove_jq(value: &mut Value, path: &[JqStep]) {
    match path {
        [] => {}
        [JqStep::Field(f)] => {
            if let Some(m) = value.as_object_mut() {
                m.remove(f);
            }
        }
        [JqStep::Each] => {
            if let Some(a) = value.as_array_mut() {
                a.clear();
            }
        }
        [JqStep::Field(f), rest @ ..] => {
            if let Some(v) = value.get_mut(f.as_str()) {
                remove_jq(v, rest);
            }
        }
        [JqStep::Each, rest @ ..] => {
            if let Some(a) = value.as_array_mut() {
                for v in a {
                    remove_jq(v, rest);
                }
            }
        }
    }
}

/// `fieldsV1` trees of the live object's managedFields entries owned by `managers`.
fn owned_fields<'a>(live: &'a Map<String, Value>, managers: &[String]) -> Vec<&'a Map<String, Value>> {
    live.get("metadata")
        .and_then(|m| m.get("managedFields"))
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .filter(|e| e.get("manager").and_then(Value::as_str).is_some_and(|m| managers.iter().any(|x| x == m)))
                .filter_map(|e| e.get("fieldsV1").and_then(Value::as_object))
                .collect()
        })
        .unwrap_or_default()
}

/// Removes from `value` every leaf named by a `fieldsV1` tree (`f:` fields and `k:`
/// list keys; `v:` set values and `i:` indexes are left alone).
fn remove_owned(value: &mut Value, fields: &Map<String, Value>) {
    for (k, sub) in fields {
        let sub = sub.as_object();
        let leaf = sub.is_none_or(|s| s.is_empty() || (s.len() == 1 && s.contains_key(".")));
        if let Some(name) = k.strip_prefix("f:") {
            let Some(obj) = value.as_object_mut() else { continue };
            if leaf {
                obj.remove(name);
            } else if let (Some(child), Some(sub)) = (obj.get_mut(name), sub) {
                remove_owned(child, sub);
            }
        } else if let Some(selector) = k.strip_prefix("k:") {
            let Ok(Value::Object(sel)) = serde_json::from_str::<Value>(selector) else { continue };
            let Some(items) = value.as_array_mut() else { continue };
            let matches = |item: &Value| sel.iter().all(|(sk, sv)| item.get(sk) == Some(sv));
            if leaf {
                items.retain(|i| !matches(i));
            } else if let Some(sub) = sub {
                for item in items.iter_mut().filter(|i| matches(i)) {
                    remove_owned(item, sub);
                }
            }
        }
    }
}

/// `RespectIgnoreDifferences=true` (docs/controller-sync.md §2): before applying an
/// object that exists live, the live values of its ignored fields (JSON pointers and
/// jq paths without `[]`) replace the target's, so a sync does not revert them.
pub fn respect_ignored(
    target: &mut Map<String, Value>,
    live: &Map<String, Value>,
    key: &ResourceKey,
    rules: &[IgnoreDifferences],
) -> Result<()> {
    let live = Value::Object(live.clone());
    let mut value = Value::Object(std::mem::take(target));
    for rule in rules.iter().filter(|r| rule_matches(r, key)) {
        let mut pointers: Vec<String> = rule.json_pointers.clone();
        for expr in &rule.jq_path_expressions {
            let steps = parse_jq_path(expr)?;
            if steps.iter().all(|s| matches!(s, JqStep::Field(_))) {
                let escaped: Vec<String> = steps
                    .iter()
                    .filter_map(|s| match s {
                        JqStep::Field(f) => Some(f.replace('~', "~0").replace('/', "~1")),
                        JqStep::Each => None,
                    })
                    .collect();
                pointers.push(format!("/{}", escaped.join("/")));
            }
        }
        for pointer in pointers.iter().filter(|p| !p.starts_with("/status")) {
            match live.pointer(pointer) {
                Some(v) => set_pointer(&mut value, pointer, v.clone()),
                None => remove_pointer(&mut value, pointer),
            }
        }
    }
    if let Value::Object(m) = value {
        *target = m;
    }
    Ok(())
}

fn set_pointer(value: &mut Value, pointer: &str, new: Value) {
    let mut cur = value;
    let parts: Vec<String> = pointer.split('/').skip(1).map(|p| p.replace("~1", "/").replace("~0", "~")).collect();
    let Some((last, parents)) = parts.split_last() else { return };
    for p in parents {
        let Some(obj) = cur.as_object_mut() else { return };
        cur = obj.entry(p.clone()).or_insert_with(|| Value::Object(Map::new()));
    }
    if let Some(obj) = cur.as_object_mut() {
        obj.insert(last.clone(), new);
    }
}

/// Compares one pair. `predicted` is the server's dry-run result for the target
/// (when the target and live both exist); without it the target itself is used.
pub fn compare(
    key: &ResourceKey,
    target: Option<&Map<String, Value>>,
    live: Option<&Map<String, Value>>,
    predicted: Option<&Map<String, Value>>,
    rules: &[IgnoreDifferences],
) -> Result<ResourceDiff> {
    let normalized_live = match live {
        Some(l) => normalize_against(l, Some(l), key, rules)?,
        None => Value::Null,
    };
    let (predicted_live, modified, status, requires_pruning) = match (target, live) {
        (None, Some(_)) => (Value::Null, false, SyncStatus::OutOfSync, true),
        (None, None) => (Value::Null, false, SyncStatus::Synced, false),
        (Some(t), None) => (normalize(predicted.unwrap_or(t), key, rules)?, true, SyncStatus::OutOfSync, false),
        (Some(t), Some(l)) => {
            let p = normalize_against(predicted.unwrap_or(t), Some(l), key, rules)?;
            let modified = p != normalized_live;
            (p, modified, if modified { SyncStatus::OutOfSync } else { SyncStatus::Synced }, false)
        }
    };
    Ok(ResourceDiff { key: key.clone(), status, modified, normalized_live, predicted_live, requires_pruning })
}

/// App status (§4.1 step 8): OutOfSync if any resource is, except needs-prune objects
/// annotated `compare-options: IgnoreExtraneous`.
pub fn app_status(diffs: &[(ResourceDiff, Option<&Map<String, Value>>)]) -> SyncStatus {
    let out_of_sync = diffs.iter().any(|(d, live)| {
        d.status == SyncStatus::OutOfSync
            && !(d.requires_pruning
                && live
                    .and_then(|l| annotation(l, "argocd.argoproj.io/compare-options"))
                    .is_some_and(|v| v.split(',').any(|o| o.trim() == "IgnoreExtraneous")))
    });
    if diffs.iter().any(|(d, _)| d.status == SyncStatus::Unknown) {
        SyncStatus::Unknown
    } else if out_of_sync {
        SyncStatus::OutOfSync
    } else {
        SyncStatus::Synced
    }
}

/// Replaces Secret `data` values with `+` runs (longer when the two sides differ),
/// so `kcmp app diff` shows which keys changed without printing secrets.
pub fn mask_secrets(key: &ResourceKey, live: &mut Value, predicted: &mut Value) {
    if !(key.group.is_empty() && key.kind == "Secret") {
        return;
    }
    let live_data = live.get("data").and_then(Value::as_object).cloned().unwrap_or_default();
    let pred_data = predicted.get("data").and_then(Value::as_object).cloned().unwrap_or_default();
    if let Some(d) = live.get_mut("data").and_then(Value::as_object_mut) {
        for v in d.values_mut() {
            *v = Value::String("++++++++".into());
        }
    }
    if let Some(d) = predicted.get_mut("data").and_then(Value::as_object_mut) {
        for (k, v) in d.iter_mut() {
            let same = live_data.get(k) == pred_data.get(k);
            *v = Value::String(if same { "++++++++" } else { "+++++++++" }.into());
        }
    }
}

/// Whether to colour diff output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Color {
    /// ANSI colours.
    Always,
    /// Plain text.
    Never,
}

/// The `kcmp app diff` text of one modified resource: an argocd-style header and a
/// unified diff of normalized live vs predicted live as YAML.
pub fn render_unified(diff: &ResourceDiff, color: Color) -> String {
    let mut live = diff.normalized_live.clone();
    let mut predicted = diff.predicted_live.clone();
    mask_secrets(&diff.key, &mut live, &mut predicted);
    let as_yaml = |v: &Value| if v.is_null() { String::new() } else { crate::render::yaml::emit::to_yaml(v) };
    let (a, b) = (as_yaml(&live), as_yaml(&predicted));
    let k = &diff.key;
    let mut out = format!("===== {}/{} {}/{} ======\n", k.group, k.kind, k.namespace, k.name);
    let text = similar::TextDiff::from_lines(&a, &b);
    let unified = text.unified_diff().context_radius(3).header("live", "desired").to_string();
    for line in unified.lines() {
        let painted = match color {
            Color::Never => line.to_string(),
            Color::Always if line.starts_with("+++") || line.starts_with("---") => format!("\x1b[1m{line}\x1b[0m"),
            Color::Always if line.starts_with('+') => format!("\x1b[32m{line}\x1b[0m"),
            Color::Always if line.starts_with('-') => format!("\x1b[31m{line}\x1b[0m"),
            Color::Always if line.starts_with("@@") => format!("\x1b[36m{line}\x1b[0m"),
            Color::Always => line.to_string(),
        };
        out.push_str(&painted);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn jq_subset_parses_and_refuses_the_rest() {
        assert_eq!(
            parse_jq_path(".spec.containers[].image").expect("ok"),
            vec![
                JqStep::Field("spec".into()),
                JqStep::Field("containers".into()),
                JqStep::Each,
                JqStep::Field("image".into())
            ]
        );
        assert_eq!(parse_jq_path(".metadata.annotations[\"a.b/c\"]").expect("ok").len(), 3);
        let err = parse_jq_path(".spec.containers[] | select(.name == \"x\")").expect_err("pipe");
        assert!(
            err.to_string().starts_with("ignoreDifferences: unsupported jqPathExpression '.spec.containers[] | select"),
            "{err}"
        );
    }

    #[test]
    fn globs_match_groups_and_kinds() {
        assert!(glob_match("*", "apps"));
        assert!(glob_match("*.k8s.io", "networking.k8s.io"));
        assert!(!glob_match("apps", "batch"));
        assert!(glob_match("", ""));
    }

    #[test]
    fn owned_fields_with_list_keys_are_removed() {
        let mut v = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}});
        let fields = json!({"f:spec": {"f:containers": {"k:{\"name\":\"a\"}": {"f:image": {}}}}});
        remove_owned(&mut v, fields.as_object().expect("object"));
        assert_eq!(v, json!({"spec": {"containers": [{"name": "a"}, {"name": "b", "image": "y"}]}}));
    }
}
