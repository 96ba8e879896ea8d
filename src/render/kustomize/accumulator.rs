//! What a build gathers while it walks a kustomization tree: the resources, the
//! transformer configuration (built-in field specs plus every `configurations:`
//! file met so far) and the legacy vars. Nothing else lives here.

use crate::render::error::{Error, ErrorKind, Result};
use crate::render::kustomize::fieldspec::FieldSpecTables;
use crate::render::kustomize::kustomization::Var;
use crate::render::resource::{ResId, Resource};

/// Resources + config + vars of one (sub)build.
#[derive(Clone, Debug)]
pub struct Accumulator {
    /// Resources in accumulation order.
    pub resources: Vec<Resource>,
    /// Field specs in force (built-ins plus custom configurations).
    pub tables: FieldSpecTables,
    /// Vars declared so far.
    pub vars: Vec<Var>,
}

impl Default for Accumulator {
    fn default() -> Self {
        Accumulator { resources: Vec::new(), tables: FieldSpecTables::builtin(), vars: Vec::new() }
    }
}

/// Kustomize's `ResId.Equals`: same GVK and name, namespaces equal after treating an
/// empty namespace of a namespaced object as `default`.
pub fn same_id(a: &ResId, b: &ResId) -> bool {
    a.gvk == b.gvk && a.name == b.name && a.effective_namespace() == b.effective_namespace()
}

impl Accumulator {
    /// Appends a resource, refusing a second object with the same current id.
    pub fn append(&mut self, res: Resource) -> Result<()> {
        let id = res.id();
        if self.resources.iter().any(|r| same_id(&r.id(), &id)) {
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
