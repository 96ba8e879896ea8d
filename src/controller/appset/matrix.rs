//! The matrix generator (docs/controller-appset.md §2.4): exactly two
//! children; for every parameter set of the first, the second is
//! interpolated with it, generated, and each result combined with it.

use super::generator::{self, Ctx};
use super::params::{merge_override, Params};
use super::{Error, Result};
use serde::Deserialize;
use serde_json::Value;

/// `generators[].matrix`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MatrixGenerator {
    /// The two child generators (raw, interpolated before parsing).
    #[serde(default)]
    pub generators: Vec<Value>,
    /// Generator-level template.
    #[serde(default)]
    pub template: Option<Value>,
}

/// The cartesian product of the two children.
pub fn generate(ctx: &Ctx, g: &MatrixGenerator, path: &str, depth: usize) -> Result<Vec<Params>> {
    let fail = |message: String| Error::Generator { generator: path.to_string(), message };
    let [first, second] = g.generators.as_slice() else {
        return Err(fail(format!("matrix needs exactly two child generators, found {}", g.generators.len())));
    };
    let first_sets = generator::run(ctx, first, &format!("{path}.generators[0]"), depth + 1, None)?;
    if first_sets.is_empty() {
        return Err(fail("child generator 0 generated no parameters".into()));
    }
    let mut out = Vec::new();
    for a in &first_sets {
        let second_sets = generator::run(ctx, second, &format!("{path}.generators[1]"), depth + 1, Some(&a.params))?;
        if second_sets.is_empty() {
            return Err(fail("child generator 1 generated no parameters".into()));
        }
        for b in second_sets {
            out.push(combine(&a.params, &b.params, ctx.engine.is_go()).map_err(fail)?);
        }
    }
    Ok(out)
}

/// goTemplate: deep merge where the first child wins; fasttemplate: union of
/// flat maps, the same key with two different values is an error.
fn combine(a: &Params, b: &Params, go: bool) -> std::result::Result<Params, String> {
    if go {
        let mut out = Params::new();
        merge_override(&mut out, b);
        merge_override(&mut out, a);
        return Ok(out);
    }
    let mut out = a.clone();
    for (k, v) in b {
        match out.get(k) {
            Some(existing) if existing != v => {
                return Err(format!(
                    "found duplicate key {k} with different value, a: {} ,b: {}",
                    existing.as_str().unwrap_or_default(),
                    v.as_str().unwrap_or_default()
                ));
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(out)
}
