//! What a build gathers while it walks a kustomization tree: the resources, the
//! transformer configuration (built-in field specs plus every `configurations:`
//! file met so far, and the first `openapi:` schema met) and the legacy vars.
//! Nothing else lives here.

use crate::render::error::{Error, ErrorKind, Result};
use crate::render::kustomize::fieldspec::FieldSpecTables;
use crate::render::kustomize::kustomization::Var;
use crate::render::kustomize::patch::Schema;
use crate::render::resource::{Gvk, ResId, Resource};
use std::collections::HashSet;

/// Resources + config + vars of one (sub)build.
#[derive(Clone, Debug)]
pub struct Accumulator {
    resources: Vec<Resource>,
    /// Current ids of `resources`, kept while only appends happen so that
    /// accumulating n objects costs O(n), not O(n²). Dropped on mutable access.
    index: Option<HashSet<IdKey>>,
    /// Field specs in force (built-ins plus custom configurations).
    pub tables: FieldSpecTables,
    /// Vars declared so far.
    pub vars: Vec<Var>,
    /// The first custom `openapi:` schema met in the build so far: kustomize sets
    /// it once, globally, so it serves the kustomizations above and below.
    pub schema: Option<Schema>,
}

type IdKey = (Gvk, String, String);

fn key(id: &ResId) -> IdKey {
    (id.gvk.clone(), id.name.clone(), id.effective_namespace().to_string())
}

impl Default for Accumulator {
    fn default() -> Self {
        Accumulator {
            resources: Vec::new(),
            index: None,
            tables: FieldSpecTables::builtin(),
            vars: Vec::new(),
            schema: None,
        }
    }
}

/// Kustomize's `ResId.Equals`: same GVK and name, namespaces equal after treating an
/// empty namespace of a namespaced object as `default`.
pub fn same_id(a: &ResId, b: &ResId) -> bool {
    a.gvk == b.gvk && a.name == b.name && a.effective_namespace() == b.effective_namespace()
}

impl Accumulator {
    /// The resources, in accumulation order.
    pub fn resources(&self) -> &[Resource] {
        &self.resources
    }

    /// Mutable access for transformers and generators (ids may change, so the id index is dropped).
    pub fn resources_mut(&mut self) -> &mut Vec<Resource> {
        self.index = None;
        &mut self.resources
    }

    /// Takes the resources out.
    pub fn into_resources(self) -> Vec<Resource> {
        self.resources
    }

    /// Appends a resource, refusing a second object with the same current id.
    pub fn append(&mut self, res: Resource) -> Result<()> {
        let id = res.id();
        let resources = &self.resources;
        let index = self.index.get_or_insert_with(|| resources.iter().map(|r| key(&r.id())).collect());
        if !index.insert(key(&id)) {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!("may not add resource with an already registered id: {id}"),
            ));
        }
        self.resources.push(res);
        Ok(())
    }

    /// Absorbs a fully built sub-kustomization: its resources, config and vars.
    pub fn absorb(&mut self, sub: Accumulator) -> Result<()> {
        for r in sub.resources {
            self.append(r)?;
        }
        self.tables.merge(&sub.tables);
        for v in sub.vars {
            self.add_var(v)?;
        }
        if self.schema.is_none() {
            self.schema = sub.schema;
        }
        Ok(())
    }

    /// Adds a var; names must be unique across the whole tree.
    pub fn add_var(&mut self, var: Var) -> Result<()> {
        if self.vars.iter().any(|v| v.name == var.name) {
            return Err(Error::new(ErrorKind::Replacement, format!("var '{}' already encountered", var.name)));
        }
        self.vars.push(var);
        Ok(())
    }
}
