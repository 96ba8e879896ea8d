//! The built-in transformers and THE order Kustomize runs them in
//! (docs/kustomize-semantics.md §2 step 5). Each transformer is plain config plus
//! `apply(&mut resources)`; the kustomization's fields and `transformers:` plugin
//! configs both become values of [`Transformer`].

pub mod images;
pub mod metadata_map;
pub mod name_affix;
pub mod namespace;
pub mod replacements;
pub mod replicas;

use crate::render::error::Result;
use crate::render::kustomize::fieldspec::{FieldSpec, FieldSpecTables};
use crate::render::kustomize::kustomization::{Kustomization, Replacement};
use crate::render::kustomize::patch::{self, PatchInput, Schema};
use crate::render::resource::Resource;
use images::ImageTransformer;
use metadata_map::{stringify_values, MetadataMapTransformer};
use name_affix::{Affix, NameAffixTransformer};
use namespace::NamespaceTransformer;
use replicas::ReplicaTransformer;

/// One configured transformer.
#[derive(Clone, Debug)]
pub enum Transformer {
    /// One `patchesStrategicMerge` entry.
    PatchStrategicMerge(PatchInput),
    /// One `patches` entry.
    Patch(PatchInput),
    /// One `patchesJson6902` entry.
    PatchJson6902(PatchInput),
    /// `namespace`.
    Namespace(NamespaceTransformer),
    /// `namePrefix` / `nameSuffix`.
    NameAffix(NameAffixTransformer),
    /// `labels`, `commonLabels`, `commonAnnotations`.
    MetadataMap(MetadataMapTransformer),
    /// One `replicas` entry.
    Replicas(ReplicaTransformer),
    /// One `images` entry.
    Image(ImageTransformer),
    /// `replacements`.
    Replacements(Vec<Replacement>),
    /// A `ValueAddTransformer` plugin config.
    ValueAdd(crate::render::kustomize::plugins::ValueAdd),
}

impl Transformer {
    /// Runs the transformer over all accumulated resources.
    pub fn apply(&self, resources: &mut Vec<Resource>, schema: &Schema) -> Result<()> {
        match self {
            Transformer::PatchStrategicMerge(p) => patch::apply_strategic_merge(resources, p, schema),
            Transformer::Patch(p) => patch::apply_patch(resources, p, schema),
            Transformer::PatchJson6902(p) => patch::apply_json6902(resources, p),
            Transformer::Namespace(t) => t.apply(resources),
            Transformer::NameAffix(t) => t.apply(resources),
            Transformer::MetadataMap(t) => t.apply(resources),
            Transformer::Replicas(t) => t.apply(resources),
            Transformer::Image(t) => t.apply(resources),
            Transformer::Replacements(r) => replacements::apply(resources, r),
            Transformer::ValueAdd(t) => t.apply(resources),
        }
    }
}

/// Patches and replacements of a kustomization, already read from their files.
#[derive(Clone, Debug, Default)]
pub struct LoadedInputs {
    /// `patchesStrategicMerge` entries.
    pub strategic_merge: Vec<PatchInput>,
    /// `patches` entries.
    pub patches: Vec<PatchInput>,
    /// `patchesJson6902` entries.
    pub json6902: Vec<PatchInput>,
    /// `replacements` (inline and from files), in order.
    pub replacements: Vec<Replacement>,
}

/// The kustomization's built-in transformers in Kustomize's fixed order.
pub fn builtin(k: &Kustomization, tables: &FieldSpecTables, inputs: LoadedInputs) -> Result<Vec<Transformer>> {
    let mut out = Vec::new();
    out.extend(inputs.strategic_merge.into_iter().map(Transformer::PatchStrategicMerge));
    out.extend(inputs.patches.into_iter().map(Transformer::Patch));
    if let Some(ns) = k.namespace.as_ref().filter(|n| !n.is_empty()) {
        out.push(Transformer::Namespace(NamespaceTransformer {
            namespace: ns.clone(),
            field_specs: tables.namespace.clone(),
            unset_only: false,
        }));
    }
    if let Some(p) = k.name_prefix.as_ref().filter(|p| !p.is_empty()) {
        out.push(Transformer::NameAffix(NameAffixTransformer {
            affix: Affix::Prefix,
            text: p.clone(),
            field_specs: tables.name_prefix.clone(),
        }));
    }
    if let Some(s) = k.name_suffix.as_ref().filter(|s| !s.is_empty()) {
        out.push(Transformer::NameAffix(NameAffixTransformer {
            affix: Affix::Suffix,
            text: s.clone(),
            field_specs: tables.name_suffix.clone(),
        }));
    }
    for label in k.labels.iter().flatten() {
        let mut field_specs = if label.include_selectors {
            tables.common_labels.clone()
        } else {
            let mut specs = vec![FieldSpec { path: "metadata/labels".into(), create: true, ..FieldSpec::default() }];
            if label.include_templates {
                specs.extend(tables.template_labels.iter().cloned());
            }
            specs
        };
        field_specs.extend(label.fields.iter().cloned());
        out.push(Transformer::MetadataMap(MetadataMapTransformer {
            pairs: stringify_values(&label.pairs),
            field_specs,
        }));
    }
    if let Some(labels) = &k.common_labels {
        out.push(Transformer::MetadataMap(MetadataMapTransformer {
            pairs: stringify_values(labels),
            field_specs: tables.common_labels.clone(),
        }));
    }
    if let Some(annotations) = &k.common_annotations {
        out.push(Transformer::MetadataMap(MetadataMapTransformer {
            pairs: stringify_values(annotations),
            field_specs: tables.common_annotations.clone(),
        }));
    }
    out.extend(inputs.json6902.into_iter().map(Transformer::PatchJson6902));
    for r in k.replicas.iter().flatten() {
        out.push(Transformer::Replicas(ReplicaTransformer {
            replica: r.clone(),
            field_specs: tables.replicas.clone(),
        }));
    }
    for image in k.images.iter().flatten() {
        out.push(Transformer::Image(ImageTransformer::new(image.clone(), tables.images.clone())?));
    }
    if !inputs.replacements.is_empty() {
        out.push(Transformer::Replacements(inputs.replacements));
    }
    Ok(out)
}
