//! Generated Applications vs live Applications -> what to create, update and
//! delete (docs/controller-appset.md §3.4, §4). Pure: the caller lists the
//! live Applications of the ApplicationSet's namespace and the known
//! clusters, and carries the plan out. A failed generation plans nothing,
//! so a transient error can never delete apps (§4 step 2).

use super::clusters::Cluster;
use super::render::owner_reference;
use super::{app_name, ApplicationSet, Error, Policy, RESOURCES_FINALIZER};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Annotations always carried over from the live app (§4 step 5).
const ALWAYS_PRESERVED_ANNOTATIONS: [&str; 3] =
    ["notified.notifications.argoproj.io", "argocd.argoproj.io/refresh", "argocd.argoproj.io/hydrate"];
/// Live finalizer prefixes that survive updates.
const PRESERVED_FINALIZER_PREFIXES: [&str; 2] =
    ["pre-delete-finalizer.argocd.argoproj.io", "post-delete-finalizer.argocd.argoproj.io"];

/// Controller-level settings that shape the plan.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// `--policy`, when the controller sets one.
    pub controller_policy: Option<Policy>,
    /// Whether a per-ApplicationSet `applicationsSync` may override `--policy`.
    pub policy_override: bool,
    /// Global preserved annotation keys.
    pub preserved_annotations: Vec<String>,
    /// Global preserved label keys.
    pub preserved_labels: Vec<String>,
}

/// What the plan needs to know about the world.
pub struct Input<'a> {
    /// The ApplicationSet.
    pub appset: &'a ApplicationSet,
    /// The result of [`super::generate`].
    pub generated: &'a super::Result<Vec<Value>>,
    /// Every Application in the ApplicationSet's namespace.
    pub live: &'a [Value],
    /// Known clusters by name (see [`super::clusters::known_clusters`]).
    pub clusters: &'a BTreeMap<String, Cluster>,
    /// Existing AppProject names; `None` skips the project check.
    pub projects: Option<&'a BTreeSet<String>>,
    /// Controller settings.
    pub settings: &'a Settings,
}

/// An update: a JSON merge patch for the live app and the full desired view.
#[derive(Clone, Debug, PartialEq)]
pub struct Update {
    /// Application name.
    pub name: String,
    /// RFC 7386 merge patch (metadata labels/annotations/finalizers/ownerReferences and spec).
    pub patch: Value,
}

/// A deletion.
#[derive(Clone, Debug, PartialEq)]
pub struct Delete {
    /// Application name.
    pub name: String,
    /// Remove `resources-finalizer` first: the destination cluster is gone, so
    /// a cascading delete would hang forever (§4 step 6).
    pub strip_resources_finalizer: bool,
}

/// A generated app that is skipped, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Invalid {
    /// Application name ("" when the name is empty).
    pub name: String,
    /// What is wrong, worded for the ApplicationSet's status.
    pub message: String,
}

/// The create/update/delete plan, every list sorted by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Generation failed: nothing else is planned (condition ErrorOccurred).
    pub error: Option<Error>,
    /// The effective policy.
    pub policy: Option<Policy>,
    /// Apps to create, as complete objects.
    pub create: Vec<Value>,
    /// Apps to patch.
    pub update: Vec<Update>,
    /// Apps already as generated.
    pub unchanged: Vec<String>,
    /// Apps to delete.
    pub delete: Vec<Delete>,
    /// Generated apps skipped by validation.
    pub invalid: Vec<Invalid>,
}

/// One ApplicationSet status condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    /// `ErrorOccurred`, `ParametersGenerated` or `ResourcesUpToDate`.
    pub kind: &'static str,
    /// `"True"` or `"False"`.
    pub status: &'static str,
    /// Argo CD's reason word.
    pub reason: &'static str,
    /// Human-readable detail.
    pub message: String,
}

impl Condition {
    /// The condition as it is written to `status.conditions[]`.
    pub fn to_value(&self) -> Value {
        serde_json::json!({"type": self.kind, "status": self.status, "reason": self.reason, "message": self.message})
    }
}

impl Plan {
    /// The three status conditions Argo CD keeps for this outcome: a
    /// generation error, invalid apps, or everything generated and valid.
    pub fn conditions(&self) -> Vec<Condition> {
        let c = |kind, truth: bool, reason, message: &str| Condition {
            kind,
            status: if truth { "True" } else { "False" },
            reason,
            message: message.to_string(),
        };
        if let Some(e) = &self.error {
            let msg = e.to_string();
            return vec![
                c("ErrorOccurred", true, "ApplicationGenerationFromParamsError", &msg),
                c("ParametersGenerated", false, "ErrorOccurred", &msg),
                c("ResourcesUpToDate", false, "ErrorOccurred", &msg),
            ];
        }
        let generated = "Successfully generated parameters for all Applications";
        if let Some(first) = self.invalid.first() {
            let msg = if self.invalid.len() > 1 {
                format!("{} (and {} more invalid applications)", first.message, self.invalid.len() - 1)
            } else {
                first.message.clone()
            };
            return vec![
                c("ErrorOccurred", true, "ApplicationValidationError", &msg),
                c("ParametersGenerated", true, "ParametersGenerated", generated),
                c("ResourcesUpToDate", false, "ApplicationValidationError", &msg),
            ];
        }
        vec![
            c("ErrorOccurred", false, "ApplicationSetUpToDate", generated),
            c("ParametersGenerated", true, "ParametersGenerated", generated),
            c("ResourcesUpToDate", true, "ApplicationSetUpToDate", "ApplicationSet up to date"),
        ]
    }
}

/// `--policy` wins unless policy override is enabled and the ApplicationSet
/// sets `applicationsSync`; without `--policy` the ApplicationSet's choice,
/// else `sync` (§4 step 4).
pub fn effective_policy(appset: &ApplicationSet, settings: &Settings) -> Policy {
    let own = appset.spec.sync_policy.as_ref().and_then(|p| p.applications_sync);
    match (settings.controller_policy, own) {
        (Some(_), Some(own)) if settings.policy_override => own,
        (Some(controller), _) => controller,
        (None, own) => own.unwrap_or(Policy::Sync),
    }
}

/// Builds the plan.
pub fn plan(input: &Input) -> Plan {
    let generated = match input.generated {
        Ok(apps) => apps,
        Err(e) => return Plan { error: Some(e.clone()), ..Plan::default() },
    };
    let policy = effective_policy(input.appset, input.settings);
    let mut out = Plan { policy: Some(policy), ..Plan::default() };
    let live: BTreeMap<&str, &Value> = input.live.iter().map(|a| (app_name(a), a)).collect();
    let mut seen = BTreeSet::new();
    for app in generated {
        let name = app_name(app);
        let first = seen.insert(name.to_string());
        if let Err(message) = validate(app, first, input) {
            out.invalid.push(Invalid { name: name.to_string(), message });
            continue;
        }
        match live.get(name) {
            None => out.create.push(app.clone()),
            Some(existing) => {
                if let Some(other) = foreign_controller(existing, input.appset) {
                    out.invalid.push(Invalid {
                        name: name.to_string(),
                        message: format!(
                            "application {name} is already controlled by {other}; rename it or remove that owner"
                        ),
                    });
                    continue;
                }
                if !policy.allows_update() {
                    out.unchanged.push(name.to_string());
                    continue;
                }
                let desired = desired_update(app, existing, input);
                let patch = merge_patch(&managed_view(existing), &managed_view(&desired));
                match patch {
                    Some(patch) => out.update.push(Update { name: name.to_string(), patch }),
                    None => out.unchanged.push(name.to_string()),
                }
            }
        }
    }
    if policy.allows_delete() {
        for app in input.live {
            let name = app_name(app);
            if seen.contains(name) || !owned_by(app, input.appset) {
                continue;
            }
            out.delete.push(Delete {
                name: name.to_string(),
                strip_resources_finalizer: has_resources_finalizer(app) && !destination_exists(app, input.clusters),
            });
        }
    }
    out.create.sort_by(|a, b| app_name(a).cmp(app_name(b)));
    out.update.sort_by(|a, b| a.name.cmp(&b.name));
    out.delete.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// §4 step 1: when an ApplicationSet is being deleted and its effective
/// policy forbids deleting apps, its Applications must first lose their
/// ownerReference to it, or Kubernetes garbage collection would delete them.
/// Returns, per owned app (sorted by name), the ownerReferences list to write.
/// Empty when deletion is allowed (garbage collection then does the work).
pub fn orphan_on_delete(appset: &ApplicationSet, live: &[Value], settings: &Settings) -> Vec<(String, Value)> {
    if effective_policy(appset, settings).allows_delete() {
        return Vec::new();
    }
    let mut out: Vec<(String, Value)> = live
        .iter()
        .filter(|app| owned_by(app, appset))
        .map(|app| {
            let kept: Vec<Value> = app
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .map(|refs| refs.iter().filter(|r| !is_ref_to(r, appset)).cloned().collect())
                .unwrap_or_default();
            (app_name(app).to_string(), Value::Array(kept))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// §3.4 validation of one generated app.
fn validate(app: &Value, first_with_name: bool, input: &Input) -> Result<(), String> {
    let name = app_name(app);
    let set = &input.appset.metadata.name;
    if name.is_empty() {
        return Err(format!(
            "ApplicationSet {set} generated an application with an empty name (generateName is not supported)"
        ));
    }
    if !first_with_name {
        return Err(format!("ApplicationSet {set} contains applications with duplicate name: {name}"));
    }
    let project = app.pointer("/spec/project").and_then(Value::as_str).filter(|p| !p.is_empty()).unwrap_or("default");
    if let Some(projects) = input.projects {
        if !projects.contains(project) {
            return Err(format!("application {name} references project {project} which does not exist"));
        }
    }
    let dest_name = app.pointer("/spec/destination/name").and_then(Value::as_str).unwrap_or_default();
    let dest_server = app.pointer("/spec/destination/server").and_then(Value::as_str).unwrap_or_default();
    match (dest_name.is_empty(), dest_server.is_empty()) {
        (false, false) => Err(format!(
            "application {name}: destination can't have both name and server defined: {dest_name} {dest_server}"
        )),
        (false, true) if !input.clusters.contains_key(dest_name) => {
            Err(format!("application {name} references destination cluster {dest_name} which does not exist"))
        }
        (true, true) => {
            Err(format!("application {name}: destination server missing from app spec (set server or name)"))
        }
        _ => Ok(()),
    }
}

/// The generated app plus what is kept from the live one (§4 step 5).
fn desired_update(generated: &Value, live: &Value, input: &Input) -> Value {
    let mut desired = generated.clone();
    let spec = &input.appset.spec;
    let preserved = spec.preserved_fields.clone().unwrap_or_default();
    let keep_annotations: BTreeSet<&str> = ALWAYS_PRESERVED_ANNOTATIONS
        .iter()
        .copied()
        .chain(preserved.annotations.iter().map(String::as_str))
        .chain(input.settings.preserved_annotations.iter().map(String::as_str))
        .collect();
    let keep_labels: BTreeSet<&str> = preserved
        .labels
        .iter()
        .map(String::as_str)
        .chain(input.settings.preserved_labels.iter().map(String::as_str))
        .collect();
    carry_keys(&mut desired, live, "annotations", &keep_annotations);
    carry_keys(&mut desired, live, "labels", &keep_labels);
    let live_finalizers = string_list(live.pointer("/metadata/finalizers"));
    let mut finalizers = string_list(desired.pointer("/metadata/finalizers"));
    for f in live_finalizers {
        if PRESERVED_FINALIZER_PREFIXES.iter().any(|p| f.starts_with(p)) && !finalizers.contains(&f) {
            finalizers.push(f);
        }
    }
    let mut owners: Vec<Value> = live
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| refs.iter().filter(|r| !is_ref_to(r, input.appset)).cloned().collect())
        .unwrap_or_default();
    owners.push(owner_reference(input.appset));
    if let Some(meta) = desired.get_mut("metadata").and_then(Value::as_object_mut) {
        if finalizers.is_empty() {
            meta.remove("finalizers");
        } else {
            meta.insert("finalizers".into(), Value::Array(finalizers.into_iter().map(Value::String).collect()));
        }
        meta.insert("ownerReferences".into(), Value::Array(owners));
    }
    let name = app_name(generated).to_string();
    for rule in &spec.ignore_application_differences {
        if !rule.name.is_empty() && rule.name != name {
            continue;
        }
        for pointer in &rule.json_pointers {
            match live.pointer(pointer) {
                Some(v) => set_pointer(&mut desired, pointer, v.clone()),
                None => remove_pointer(&mut desired, pointer),
            }
        }
    }
    desired
}

fn carry_keys(desired: &mut Value, live: &Value, field: &str, keys: &BTreeSet<&str>) {
    let Some(live_map) = live.pointer(&format!("/metadata/{field}")).and_then(Value::as_object) else { return };
    let Some(meta) = desired.get_mut("metadata").and_then(Value::as_object_mut) else { return };
    for (k, v) in live_map {
        if keys.contains(k.as_str()) {
            let target = meta.entry(field).or_insert_with(|| Value::Object(Map::new()));
            if let Some(map) = target.as_object_mut() {
                map.insert(k.clone(), v.clone());
            }
        }
    }
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|l| l.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

fn is_ref_to(owner: &Value, appset: &ApplicationSet) -> bool {
    owner.get("kind").and_then(Value::as_str) == Some("ApplicationSet")
        && owner.get("name").and_then(Value::as_str) == Some(appset.metadata.name.as_str())
        && owner.get("apiVersion").and_then(Value::as_str).is_some_and(|v| v.starts_with("argoproj.io/"))
}

fn controller_ref(app: &Value) -> Option<&Value> {
    app.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
}

/// Whether the live app's controller is this ApplicationSet: same namespace
/// (ownerReferences never cross namespaces), same name and, when both are
/// known, same uid.
pub fn owned_by(app: &Value, appset: &ApplicationSet) -> bool {
    let namespace = app.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default();
    if !namespace.is_empty() && !appset.metadata.namespace.is_empty() && namespace != appset.metadata.namespace {
        return false;
    }
    let Some(owner) = controller_ref(app) else { return false };
    let uid = owner.get("uid").and_then(Value::as_str).unwrap_or_default();
    is_ref_to(owner, appset) && (uid.is_empty() || appset.metadata.uid.is_empty() || uid == appset.metadata.uid)
}

fn foreign_controller(app: &Value, appset: &ApplicationSet) -> Option<String> {
    let owner = controller_ref(app)?;
    if owned_by(app, appset) {
        return None;
    }
    let kind = owner.get("kind").and_then(Value::as_str).unwrap_or_default();
    let name = owner.get("name").and_then(Value::as_str).unwrap_or_default();
    Some(format!("{kind} {name}"))
}

fn has_resources_finalizer(app: &Value) -> bool {
    string_list(app.pointer("/metadata/finalizers")).iter().any(|f| f.starts_with(RESOURCES_FINALIZER))
}

fn destination_exists(app: &Value, clusters: &BTreeMap<String, Cluster>) -> bool {
    let name = app.pointer("/spec/destination/name").and_then(Value::as_str).unwrap_or_default();
    let server = app.pointer("/spec/destination/server").and_then(Value::as_str).unwrap_or_default();
    (!name.is_empty() && clusters.contains_key(name))
        || (!server.is_empty() && clusters.values().any(|c| c.server == server))
}

/// The fields an ApplicationSet owns on an app, normalised so that absent,
/// null and empty compare equal and an empty project reads `default`.
fn managed_view(app: &Value) -> Value {
    let mut meta = Map::new();
    for field in ["labels", "annotations", "finalizers", "ownerReferences"] {
        if let Some(v) = app.pointer(&format!("/metadata/{field}")).map(normalize).filter(|v| !is_blank(v)) {
            meta.insert(field.into(), v);
        }
    }
    let mut spec = app.get("spec").map(normalize).unwrap_or(Value::Object(Map::new()));
    if let Some(s) = spec.as_object_mut() {
        if s.get("project").and_then(Value::as_str).is_none_or(str::is_empty) {
            s.insert("project".into(), Value::String("default".into()));
        }
    }
    let mut view = Map::new();
    view.insert("metadata".into(), Value::Object(meta));
    view.insert("spec".into(), spec);
    Value::Object(view)
}

fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            Value::Object(m.iter().filter(|(_, v)| !is_blank(v)).map(|(k, v)| (k.clone(), normalize(v))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

/// RFC 7386 merge patch turning `from` into `to`; `None` when equal. Lists
/// are replaced wholesale.
pub fn merge_patch(from: &Value, to: &Value) -> Option<Value> {
    if from == to {
        return None;
    }
    match (from, to) {
        (Value::Object(f), Value::Object(t)) => {
            let mut patch = Map::new();
            for k in f.keys() {
                if !t.contains_key(k) {
                    patch.insert(k.clone(), Value::Null);
                }
            }
            for (k, tv) in t {
                match f.get(k) {
                    Some(fv) => {
                        if let Some(p) = merge_patch(fv, tv) {
                            patch.insert(k.clone(), p);
                        }
                    }
                    None => {
                        patch.insert(k.clone(), tv.clone());
                    }
                }
            }
            Some(Value::Object(patch))
        }
        _ => Some(to.clone()),
    }
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn set_pointer(target: &mut Value, pointer: &str, value: Value) {
    let tokens: Vec<String> = pointer.split('/').skip(1).map(unescape).collect();
    let Some((last, parents)) = tokens.split_last() else {
        *target = value;
        return;
    };
    let mut cur = target;
    for t in parents {
        if !cur.is_object() && !cur.is_array() {
            *cur = Value::Object(Map::new());
        }
        cur = match cur {
            Value::Object(m) => m.entry(t.clone()).or_insert_with(|| Value::Object(Map::new())),
            Value::Array(a) => match t.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                Some(v) => v,
                None => return,
            },
            _ => return,
        };
    }
    match cur {
        Value::Object(m) => {
            m.insert(last.clone(), value);
        }
        Value::Array(a) => {
            if let Some(slot) = last.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                *slot = value;
            }
        }
        other => {
            let mut m = Map::new();
            m.insert(last.clone(), value);
            *other = Value::Object(m);
        }
    }
}

fn remove_pointer(target: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else { return };
    let last = unescape(last);
    match target.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.remove(&last);
        }
        Some(Value::Array(a)) => {
            if let Some(i) = last.parse::<usize>().ok().filter(|i| *i < a.len()) {
                a.remove(i);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_nulls_removed_keys_and_replaces_lists() {
        let from = json!({"a": 1, "b": {"c": 1, "d": 2}, "l": [1, 2]});
        let to = json!({"b": {"c": 1, "d": 3}, "l": [1], "e": "x"});
        assert_eq!(merge_patch(&from, &to), Some(json!({"a": null, "b": {"d": 3}, "l": [1], "e": "x"})));
        assert_eq!(merge_patch(&from, &from), None);
    }

    #[test]
    fn pointers_set_and_remove() {
        let mut v = json!({"spec": {"a": 1}});
        set_pointer(&mut v, "/spec/syncPolicy/automated", json!({"prune": true}));
        assert_eq!(v, json!({"spec": {"a": 1, "syncPolicy": {"automated": {"prune": true}}}}));
        remove_pointer(&mut v, "/spec/syncPolicy");
        assert_eq!(v, json!({"spec": {"a": 1}}));
        set_pointer(&mut v, "/metadata/annotations/a~1b", json!("x"));
        assert_eq!(v["metadata"]["annotations"]["a/b"], json!("x"));
    }

    #[test]
    fn managed_view_treats_empty_as_absent_and_defaults_project() {
        let a = json!({"metadata": {"labels": {}, "name": "x"}, "spec": {"project": "", "source": {"path": "p", "x": null}}});
        let b = json!({"metadata": {}, "spec": {"project": "default", "source": {"path": "p"}}});
        assert_eq!(managed_view(&a), managed_view(&b));
    }
}
