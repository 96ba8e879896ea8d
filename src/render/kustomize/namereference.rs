//! Name-reference fix-up (docs/kustomize-semantics.md §7): after prefixes,
//! suffixes and hashes renamed objects, rewrite every field that refers to an
//! object by its old name. Runs once, at the top level.

use crate::render::error::{Error, ErrorKind, Result};
use crate::render::kustomize::fieldspec::{walk, NameReference};
use crate::render::resource::{Gvk, ResId, Resource};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// What a referrer field can resolve to: the referral's current name and namespace.
#[derive(Clone, Debug, PartialEq)]
struct Target {
    name: String,
    namespace: String,
}

/// Per-object facts the matching needs, computed once.
struct Candidate {
    gvk: Gvk,
    current: ResId,
    previous: Vec<ResId>,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
    cluster_scoped: bool,
}

/// Rewrites references for every rule, in table order.
pub fn fix(resources: &mut [Resource], rules: &[NameReference]) -> Result<()> {
    let candidates: Vec<Candidate> = resources
        .iter()
        .map(|r| {
            let current = r.id();
            Candidate {
                gvk: current.gvk.clone(),
                cluster_scoped: current.gvk.is_cluster_scoped(),
                previous: r.meta.previous_ids.clone(),
                current,
                prefixes: r.meta.prefixes.clone(),
                suffixes: r.meta.suffixes.clone(),
            }
        })
        .collect();
    // Only renamed objects can be referred to by an outdated name.
    if candidates.iter().all(|c| c.previous.is_empty()) {
        return Ok(());
    }
    for rule in rules {
        let referenced = rule.referenced.gvk();
        let pool: Vec<&Candidate> = candidates
            .iter()
            .filter(|c| {
                !c.previous.is_empty() && c.previous.iter().chain([&c.current]).any(|id| referenced.selects(&id.gvk))
            })
            .collect();
        if pool.is_empty() {
            continue;
        }
        let by_name = index_by_previous_name(&pool);
        for (idx, res) in resources.iter_mut().enumerate() {
            let referrer = &candidates[idx];
            let gvk = res.original_id().gvk;
            for spec in rule.referrers.iter().filter(|s| s.applies_to(&gvk) || s.applies_to(&referrer.gvk)) {
                let role_ref_kind = if spec.path == "roleRef/name" {
                    res.obj.get("roleRef").and_then(|r| r.get("kind")).and_then(Value::as_str).map(str::to_string)
                } else {
                    None
                };
                let mut node = Value::Object(std::mem::take(&mut res.obj));
                let outcome = walk(&mut node, &spec.segments(), false, &mut |leaf| {
                    rewrite(leaf, referrer, &pool, &by_name, &candidates, role_ref_kind.as_deref())
                });
                if let Value::Object(m) = node {
                    res.obj = m;
                }
                outcome.map_err(|e| e.for_resource(&referrer.current))?;
            }
        }
    }
    Ok(())
}

fn rewrite(
    leaf: &mut Value,
    referrer: &Candidate,
    pool: &[&Candidate],
    by_name: &ByName<'_>,
    all: &[Candidate],
    role_ref_kind: Option<&str>,
) -> Result<()> {
    match leaf {
        Value::String(name) => {
            if let Some(t) = select(name, None, referrer, by_name, all, role_ref_kind)? {
                *name = t.name;
            }
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                rewrite(item, referrer, pool, by_name, all, role_ref_kind)?;
            }
        }
        Value::Object(map) => rewrite_map(map, referrer, pool, by_name, all)?,
        _ => {}
    }
    Ok(())
}

/// `{name, namespace?}` referrers (RBAC subjects, webhook services): both are updated.
fn rewrite_map(
    map: &mut Map<String, Value>,
    referrer: &Candidate,
    pool: &[&Candidate],
    by_name: &ByName<'_>,
    all: &[Candidate],
) -> Result<()> {
    let Some(name) = map.get("name").and_then(Value::as_str).map(str::to_string) else { return Ok(()) };
    let namespace = map.get("namespace").and_then(Value::as_str).map(str::to_string);
    if let Some(kind) = map.get("kind").and_then(Value::as_str) {
        if !pool.iter().any(|c| c.gvk.kind == kind) {
            return Ok(());
        }
    }
    if let Some(t) = select(&name, namespace.as_deref(), referrer, by_name, all, None)? {
        map.insert("name".into(), Value::String(t.name));
        if !t.namespace.is_empty() {
            map.insert("namespace".into(), Value::String(t.namespace));
        }
    }
    Ok(())
}

/// A rule's pool keyed by every name its candidates had before a rename, each list in pool
/// order: looking a reference up is then proportional to its matches, not to the pool, so
/// the fix-up stays linear in the number of objects.
type ByName<'c> = BTreeMap<&'c str, Vec<&'c Candidate>>;

fn index_by_previous_name<'c>(pool: &[&'c Candidate]) -> ByName<'c> {
    let mut by_name: ByName<'c> = BTreeMap::new();
    for &c in pool {
        for id in &c.previous {
            let entry = by_name.entry(id.name.as_str()).or_default();
            // a candidate renamed twice under one name is still one candidate
            if !entry.last().is_some_and(|last| std::ptr::eq(*last, c)) {
                entry.push(c);
            }
        }
    }
    by_name
}

/// Kustomize's referral selection: previous name matches, namespace rules,
/// then prefix/suffix history to break ties.
fn select(
    old_name: &str,
    old_namespace: Option<&str>,
    referrer: &Candidate,
    by_name: &ByName<'_>,
    all: &[Candidate],
    role_ref_kind: Option<&str>,
) -> Result<Option<Target>> {
    let mut found: Vec<&Candidate> = by_name
        .get(old_name)
        .map(|matches| matches.iter().copied().filter(|c| role_ref_kind.is_none_or(|k| c.gvk.kind == k)).collect())
        .unwrap_or_default();
    if let Some(ns) = old_namespace {
        // Kustomize's `filterMapCandidatesByNamespace`: objects whose *original*
        // namespace is `ns` if the referrer can see any such object, else those
        // whose current namespace is `ns`; intermediate namespaces do not count,
        // and cluster-scoped objects have none.
        let referrer_ns = referrer.current.effective_namespace();
        let visible = |c: &Candidate| {
            referrer.cluster_scoped
                || c.current.effective_namespace() == referrer_ns
                || c.current.effective_namespace() == ns
        };
        let by_original = all.iter().any(|c| !c.cluster_scoped && visible(c) && original_namespace(c) == ns);
        found.retain(|c| {
            !c.cluster_scoped
                && if by_original { original_namespace(c) == ns } else { c.current.effective_namespace() == ns }
        });
    }
    if !referrer.cluster_scoped {
        let ns = referrer.current.effective_namespace().to_string();
        found.retain(|c| c.cluster_scoped || c.gvk.kind == "ServiceAccount" || c.current.effective_namespace() == ns);
    }
    if found.len() > 1 {
        let narrowed: Vec<&Candidate> = found
            .iter()
            .copied()
            .filter(|c| c.prefixes == referrer.prefixes && c.suffixes == referrer.suffixes)
            .collect();
        if !narrowed.is_empty() {
            found = narrowed;
        }
    }
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(target(one))),
        [first, rest @ ..] => {
            if rest.iter().all(|c| c.current.name == first.current.name) {
                Ok(Some(target(first)))
            } else {
                let ids: Vec<String> = found.iter().map(|c| c.current.to_string()).collect();
                Err(Error::new(
                    ErrorKind::Conflict,
                    format!("found multiple possible referrals for name '{old_name}': {}", ids.join(", ")),
                ))
            }
        }
    }
}

/// The effective namespace of the id an object was first read with.
fn original_namespace(c: &Candidate) -> &str {
    c.previous.first().unwrap_or(&c.current).effective_namespace()
}

fn target(c: &Candidate) -> Target {
    Target { name: c.current.name.clone(), namespace: c.current.namespace.clone() }
}
