//! Resource identity and ownership: the `(group, kind, namespace, name)` key every
//! controller step pairs objects by, and Argo CD's tracking-id annotation
//! `<app>:<group>/<kind>:<namespace>/<name>` (docs/controller-sync.md §3) that tells
//! which live objects an app owns. Pure.

use serde_json::{Map, Value};
use std::fmt;

/// The annotation carrying the tracking id.
pub const TRACKING_ANNOTATION: &str = "argocd.argoproj.io/tracking-id";

/// Identity of one object for pairing target with live (the API version is not part of it).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceKey {
    /// API group, empty for core kinds.
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace, empty for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ResourceKey {
    /// The key of a raw object (`apiVersion`, `kind`, `metadata.namespace`, `metadata.name`).
    pub fn of(obj: &Map<String, Value>) -> ResourceKey {
        let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
        let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or_default();
        let meta = obj.get("metadata");
        let field = |k: &str| meta.and_then(|m| m.get(k)).and_then(Value::as_str).unwrap_or_default().to_string();
        ResourceKey {
            group: group.to_string(),
            kind: obj.get("kind").and_then(Value::as_str).unwrap_or_default().to_string(),
            namespace: field("namespace"),
            name: field("name"),
        }
    }
}

impl fmt::Display for ResourceKey {
    /// `group/kind:namespace/name`, the form Argo CD uses in messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}:{}/{}", self.group, self.kind, self.namespace, self.name)
    }
}

/// The tracking id kcmp writes on `key` for app instance `app`; cluster-scoped objects
/// carry the destination namespace, as Argo CD writes it.
pub fn tracking_id(app: &str, key: &ResourceKey, destination_namespace: &str) -> String {
    let ns = if key.namespace.is_empty() { destination_namespace } else { &key.namespace };
    format!("{app}:{}/{}:{ns}/{}", key.group, key.kind, key.name)
}

/// A parsed tracking id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackingId {
    /// App instance name.
    pub app: String,
    /// The object it claims to describe (namespace as written).
    pub key: ResourceKey,
}

/// Parses a tracking id: three parts split at the first two `:`, the last two with
/// exactly one `/` each. Anything else is not a tracking id.
pub fn parse(id: &str) -> Option<TrackingId> {
    let mut parts = id.splitn(3, ':');
    let (app, gk, nn) = (parts.next()?, parts.next()?, parts.next()?);
    if gk.matches('/').count() != 1 || nn.matches('/').count() != 1 {
        return None;
    }
    let (group, kind) = gk.split_once('/')?;
    let (namespace, name) = nn.split_once('/')?;
    Some(TrackingId {
        app: app.to_string(),
        key: ResourceKey { group: group.into(), kind: kind.into(), namespace: namespace.into(), name: name.into() },
    })
}

/// Who owns a live object, as far as `app` is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// Tracked by `app`, describes itself, has no ownerReferences: managed (may be pruned).
    Managed,
    /// Tracked by another app: never touched.
    OtherApp(String),
    /// Carries `app`'s id copied from another object: ignored, never pruned.
    CopiedId,
    /// Has ownerReferences (a child such as a ReplicaSet): never managed directly.
    Child,
    /// No tracking id.
    Untracked,
}

/// Classifies a live object for `app` (docs/controller-sync.md §3, "managed set" and
/// "self-reference check"). `cluster_scoped` comes from discovery.
pub fn ownership(app: &str, live: &Map<String, Value>, cluster_scoped: bool) -> Ownership {
    let Some(id) = crate::controller::application::annotation(live, TRACKING_ANNOTATION).and_then(parse) else {
        return Ownership::Untracked;
    };
    if id.app != app {
        return Ownership::OtherApp(id.app);
    }
    let key = ResourceKey::of(live);
    let same = id.key.group == key.group
        && id.key.kind == key.kind
        && id.key.name == key.name
        && (cluster_scoped || id.key.namespace == key.namespace);
    if !same {
        return Ownership::CopiedId;
    }
    let has_owners = live
        .get("metadata")
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_array)
        .is_some_and(|refs| !refs.is_empty());
    if has_owners {
        Ownership::Child
    } else {
        Ownership::Managed
    }
}

/// Stamps `app`'s tracking id on a target object.
pub fn stamp(app: &str, obj: &mut Map<String, Value>, destination_namespace: &str) {
    let id = tracking_id(app, &ResourceKey::of(obj), destination_namespace);
    let meta = obj.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    if let Some(meta) = meta.as_object_mut() {
        let ann = meta.entry("annotations").or_insert_with(|| Value::Object(Map::new()));
        if !ann.is_object() {
            *ann = Value::Object(Map::new());
        }
        if let Some(ann) = ann.as_object_mut() {
            ann.insert(TRACKING_ANNOTATION.into(), Value::String(id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn ids_match_argo_cd_examples() {
        let cm =
            obj(json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ui-config","namespace":"default"}}));
        assert_eq!(tracking_id("guestbook", &ResourceKey::of(&cm), "x"), "guestbook:/ConfigMap:default/ui-config");
        let ns = obj(json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"n"}}));
        assert_eq!(tracking_id("g", &ResourceKey::of(&ns), "dest"), "g:/Namespace:dest/n");
    }

    #[test]
    fn parse_needs_three_parts_with_one_slash_each() {
        let id = parse("guestbook:apps/Deployment:default/ui").expect("valid");
        assert_eq!(id.app, "guestbook");
        assert_eq!(id.key.kind, "Deployment");
        assert!(parse("guestbook:apps/Deployment").is_none());
        assert!(parse("guestbook:a/b/Deployment:default/ui").is_none());
        assert!(parse("plain-label-value").is_none());
    }

    #[test]
    fn ownership_separates_managed_foreign_copied_and_children() {
        let mut cm = obj(json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"n"}}));
        assert_eq!(ownership("app", &cm, false), Ownership::Untracked);
        stamp("app", &mut cm, "n");
        assert_eq!(ownership("app", &cm, false), Ownership::Managed);
        assert_eq!(ownership("other", &cm, false), Ownership::OtherApp("app".into()));
        let mut copied = cm.clone();
        copied["metadata"]["name"] = json!("b");
        assert_eq!(ownership("app", &copied, false), Ownership::CopiedId);
        let mut child = cm.clone();
        child["metadata"]["ownerReferences"] = json!([{"kind": "Deployment", "name": "x"}]);
        assert_eq!(ownership("app", &child, false), Ownership::Child);
    }

    #[test]
    fn cluster_scoped_objects_ignore_the_namespace_part() {
        let mut ns = obj(json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"n"}}));
        stamp("app", &mut ns, "elsewhere");
        assert_eq!(ownership("app", &ns, true), Ownership::Managed);
    }
}
