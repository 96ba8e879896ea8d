//! The merge generator (docs/controller-appset.md §2.5): the first child is
//! the base; a later child's parameter set with the same merge-key values
//! overrides the base set's fields; sets found only in later children are
//! dropped (left join). Output keeps the base order.

use super::generator::{self, Ctx};
use super::params::{merge_override, Params};
use super::{Error, Result};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// `generators[].merge`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MergeGenerator {
    /// Two or more child generators; the first is the base.
    #[serde(default)]
    pub generators: Vec<Value>,
    /// Param names whose values identify a set.
    #[serde(default)]
    pub merge_keys: Vec<String>,
    /// Generator-level template.
    #[serde(default)]
    pub template: Option<Value>,
}

/// The base sets, each overridden by matching sets of the later children.
pub fn generate(ctx: &Ctx, g: &MergeGenerator, path: &str, depth: usize) -> Result<Vec<Params>> {
    let fail = |message: String| Error::Generator { generator: path.to_string(), message };
    if g.generators.len() < 2 {
        return Err(fail(format!("merge needs at least two child generators, found {}", g.generators.len())));
    }
    if g.merge_keys.is_empty() {
        return Err(fail("mergeKeys is empty; name at least one param".into()));
    }
    let keys: BTreeSet<&str> = g.merge_keys.iter().map(String::as_str).collect();
    let mut children = Vec::with_capacity(g.generators.len());
    for (i, child) in g.generators.iter().enumerate() {
        let sets = generator::run(ctx, child, &format!("{path}.generators[{i}]"), depth + 1, None)?;
        let params: Vec<Params> = sets.into_iter().map(|s| s.params).collect();
        let index = index_by_keys(&params, &keys).map_err(|m| fail(format!("generators[{i}]: {m}")))?;
        children.push((params, index));
    }
    let go = ctx.engine.is_go();
    let (base, base_index) = children.remove(0);
    let mut merged = base;
    for (params, index) in &children {
        for (key, base_pos) in &base_index {
            if let Some(&pos) = index.get(key) {
                let over = &params[pos];
                let target = &mut merged[*base_pos];
                if go {
                    merge_override(target, over);
                } else {
                    for (k, v) in over {
                        target.insert(k.clone(), v.clone());
                    }
                }
            }
        }
    }
    Ok(merged)
}

/// Index of each set by the JSON of its merge-key values; duplicates are errors.
fn index_by_keys(sets: &[Params], keys: &BTreeSet<&str>) -> std::result::Result<BTreeMap<String, usize>, String> {
    let mut index = BTreeMap::new();
    for (i, set) in sets.iter().enumerate() {
        let key: Map<String, Value> =
            keys.iter().map(|k| (k.to_string(), set.get(*k).cloned().unwrap_or(Value::Null))).collect();
        let key = serde_json::to_string(&key).map_err(|e| e.to_string())?;
        if index.insert(key.clone(), i).is_some() {
            return Err(format!(
                "the parameters from a generator were not unique by the given mergeKeys, merge requires all param sets to be unique; duplicate key was {key}"
            ));
        }
    }
    Ok(index)
}
