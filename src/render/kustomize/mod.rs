//! Kustomize-compatible build of one directory (docs/kustomize-semantics.md §2).
//! [`build`] runs the per-directory algorithm recursively ([`accumulate`]: steps
//! 1–7), then the top-level-only steps (§2.1: hash suffixes, name references,
//! vars, local-config removal, ordering). Leaves do the work; this file only
//! orders the steps and reads files through the [`Loader`].

pub mod accumulator;
pub mod config;
pub mod fieldspec;
pub mod generators;
pub mod kustomization;
pub mod namereference;
pub mod order;
pub mod output;
pub mod patch;
pub mod plugins;
pub mod resources;
pub mod selector;
pub mod transformers;
pub mod vars;

use crate::render::error::{Error, ErrorKind, Result};
use crate::render::load::{check_in_root, normalize, Fs, Loader};
use crate::render::resource::Resource;
use crate::render::DirectoryMode;
use accumulator::Accumulator;
use kustomization::{KustKind, Kustomization};
use patch::{PatchInput, Schema};
use std::path::{Path, PathBuf};
use transformers::LoadedInputs;

/// The kustomization file of `dir`, if it has one (a `.j2` template counts).
pub fn find_kustomization_file(fs: &dyn Fs, dir: &Path) -> Result<Option<PathBuf>> {
    let mut found = Vec::new();
    for name in kustomization::FILE_NAMES {
        for candidate in [dir.join(name), dir.join(format!("{name}.j2"))] {
            if fs.is_file(&candidate) {
                found.push(candidate);
            }
        }
    }
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(Error::new(
            ErrorKind::Kustomization,
            format!("Found multiple kustomization files under: {}; keep only one", dir.display()),
        )),
    }
}

/// Builds the kustomization in `dir` (the top level): §2 then §2.1.
pub fn build(loader: &Loader<'_>, dir: &Path) -> Result<Vec<Resource>> {
    let mut stack = Vec::new();
    let (kust, mut acc) = build_directory(loader, dir, None, &mut stack)?;
    let tables = acc.tables.clone();
    let vars = std::mem::take(&mut acc.vars);
    let mut resources = acc.into_resources();
    generators::add_hash_suffixes(&mut resources)?;
    namereference::fix(&mut resources, &tables.name_reference)?;
    vars::resolve(&mut resources, &vars, &tables.var_reference)?;
    resources.retain(|r| r.annotation("config.kubernetes.io/local-config") != Some("true"));
    order::sort(&mut resources, kust.sort_options.as_ref())?;
    output::apply_build_metadata(&mut resources, kust.build_metadata.as_deref().unwrap_or_default())?;
    output::stringify_annotations(&mut resources);
    Ok(resources)
}

/// Reads a directory without a kustomization as plain manifests, the way Argo CD's
/// directory source does: `*.yaml`, `*.yml`, `*.json` (and their `.j2` templates)
/// in name order, optionally recursing; no transformation, no reordering.
pub fn plain_directory(loader: &Loader<'_>, dir: &Path, mode: DirectoryMode) -> Result<Vec<Resource>> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let entries = loader.fs.read_dir(&d).map_err(|e| crate::render::load::io_error(&d, e))?;
        let mut subdirs = Vec::new();
        for path in entries {
            let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            if name.starts_with('.') {
                continue;
            }
            if loader.fs.is_dir(&path) {
                if mode == DirectoryMode::Recurse {
                    subdirs.push(path);
                }
                continue;
            }
            let logical = name.strip_suffix(".j2").unwrap_or(&name);
            if !(logical.ends_with(".yaml") || logical.ends_with(".yml") || logical.ends_with(".json")) {
                continue;
            }
            out.extend(resources::read_file(loader, &path)?);
        }
        // Depth-first in name order: push in reverse so the first subdirectory is next.
        dirs.extend(subdirs.into_iter().rev());
    }
    Ok(out)
}

/// Loads and fully accumulates one kustomization directory (a `resources` entry or
/// the top level) into a fresh accumulator. `schema` is the custom `openapi:`
/// schema already in force: kustomize keeps one globally, so a schema set above
/// (or by an earlier sibling) also serves this directory's patches.
fn build_directory(
    loader: &Loader<'_>,
    dir: &Path,
    schema: Option<Schema>,
    stack: &mut Vec<PathBuf>,
) -> Result<(Kustomization, Accumulator)> {
    let (kust, file) = load_kustomization(loader, dir)?;
    if kust.kust_kind() == KustKind::Component {
        return Err(Error::new(
            ErrorKind::Kustomization,
            format!("expected kind != 'Component' for path '{}'; list components under 'components:'", dir.display()),
        )
        .in_file(loader.display(&file)));
    }
    let mut acc = Accumulator::default();
    acc.schema = schema;
    enter(loader, dir, stack)?;
    accumulate(loader, dir, &kust, &file, &mut acc, stack)?;
    stack.pop();
    Ok((kust, acc))
}

/// Pushes `dir` on the visit stack, refusing cycles.
fn enter(loader: &Loader<'_>, dir: &Path, stack: &mut Vec<PathBuf>) -> Result<()> {
    let real = loader.fs.real_path(dir).map_err(|e| crate::render::load::io_error(dir, e))?;
    if stack.contains(&real) {
        return Err(Error::new(
            ErrorKind::Cycle,
            format!("candidate root '{}' contains visited root '{}'", real.display(), real.display()),
        ));
    }
    stack.push(real);
    Ok(())
}

/// Reads and decodes the kustomization file of `dir`.
pub fn load_kustomization(loader: &Loader<'_>, dir: &Path) -> Result<(Kustomization, PathBuf)> {
    let file = find_kustomization_file(loader.fs, dir)?.ok_or_else(|| {
        Error::new(
            ErrorKind::Kustomization,
            format!(
                "unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in directory '{}'",
                dir.display()
            ),
        )
    })?;
    let shown = loader.display(&file);
    let mut docs = loader.read_documents(&file)?;
    docs.retain(|d| !d.value.is_null());
    let doc = match docs.len() {
        0 => serde_json::Value::Null,
        1 => docs.remove(0).value,
        _ => {
            return Err(
                Error::new(ErrorKind::Kustomization, "a kustomization file must hold one YAML document").in_file(shown)
            )
        }
    };
    let kust = Kustomization::from_value(doc, &shown)?;
    for (old, new) in kust.deprecations() {
        tracing::warn!(file = %shown, "'{old}' is deprecated; please use '{new}' instead");
    }
    Ok((kust, file))
}

/// Steps 1–7 of §2 for one kustomization (or component) on `acc`.
fn accumulate(
    loader: &Loader<'_>,
    dir: &Path,
    kust: &Kustomization,
    file: &Path,
    acc: &mut Accumulator,
    stack: &mut Vec<PathBuf>,
) -> Result<()> {
    let shown = loader.display(file);
    // kustomize reads `openapi:` when it loads a kustomization, before its resources.
    if acc.schema.is_none() {
        acc.schema = load_schema(loader, dir, kust)?;
    }
    // 1. resources (bases were appended at load time)
    for entry in kust.resources.iter().flatten() {
        accumulate_resource(loader, dir, entry, acc, stack)
            .map_err(|e| e.via(format!("resources of {shown} (entry '{entry}')")))?;
    }
    // 2. configurations and crds
    for path in kust.configurations.iter().flatten() {
        let tables =
            config::load_configuration(loader, dir, path).map_err(|e| e.via(format!("configurations of {shown}")))?;
        acc.tables.merge(&tables);
    }
    for path in kust.crds.iter().flatten() {
        let tables = config::load_crd(loader, dir, path).map_err(|e| e.via(format!("crds of {shown}")))?;
        acc.tables.merge(&tables);
    }
    // 3. generators
    run_generators(loader, dir, kust, file, acc, stack).map_err(|e| e.via(format!("generators of {shown}")))?;
    // 4. components
    for entry in kust.components.iter().flatten() {
        accumulate_component(loader, dir, entry, acc, stack)
            .map_err(|e| e.via(format!("components of {shown} (entry '{entry}')")))?;
    }
    // 5. transformers, in the fixed order, then plugin configs
    let schema = acc.schema.clone().unwrap_or_default();
    let inputs = load_inputs(loader, dir, kust).map_err(|e| e.via(format!("patches or replacements of {shown}")))?;
    for t in transformers::builtin(kust, &acc.tables, inputs).map_err(|e| e.in_file(&shown))? {
        t.apply(acc.resources_mut(), &schema).map_err(|e| e.via(format!("transformers of {shown}")))?;
    }
    for entry in kust.transformers.iter().flatten() {
        for t in plugins::transformers(loader, dir, entry, &acc.tables, stack)? {
            t.apply(acc.resources_mut(), &schema).map_err(|e| e.via(format!("transformers of {shown}")))?;
        }
    }
    // 6. validators: there are no built-in ones, so any entry is an external plugin.
    for entry in kust.validators.iter().flatten() {
        plugins::refuse_validator(loader, dir, entry, stack).map_err(|e| e.via(format!("validators of {shown}")))?;
    }
    // 7. vars (resolved at the top level)
    for v in kust.vars.iter().flatten() {
        acc.add_var(v.clone()).map_err(|e| e.in_file(&shown))?;
    }
    Ok(())
}

/// Whether a `resources` entry names a remote target (not supported).
fn is_remote(entry: &str) -> bool {
    entry.contains("://")
        || entry.starts_with("github.com/")
        || entry.starts_with("gitlab.com/")
        || entry.starts_with("bitbucket.org/")
        || entry.starts_with("git@")
        || entry.contains("?ref=")
        || entry.contains(".git//")
}

fn accumulate_resource(
    loader: &Loader<'_>,
    dir: &Path,
    entry: &str,
    acc: &mut Accumulator,
    stack: &mut Vec<PathBuf>,
) -> Result<()> {
    if is_remote(entry) {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "remote resource '{entry}': kcmp builds only local files; vendor the remote base into the repository"
            ),
        ));
    }
    let path = normalize(&dir.join(entry));
    if loader.fs.is_file(&path) {
        check_in_root(loader.fs, dir, &path).map_err(|e| e.in_file(loader.display(&path)))?;
        for r in resources::read_file(loader, &path)? {
            acc.append(r).map_err(|e| e.in_file(loader.display(&path)))?;
        }
        return Ok(());
    }
    if loader.fs.is_dir(&path) {
        let (_, sub) = build_directory(loader, &path, acc.schema.clone(), stack)?;
        return acc.absorb(sub);
    }
    Err(Error::new(
        ErrorKind::Io,
        format!("'{entry}' is neither a file nor a directory: {}: no such file or directory", path.display()),
    ))
}

fn accumulate_component(
    loader: &Loader<'_>,
    dir: &Path,
    entry: &str,
    acc: &mut Accumulator,
    stack: &mut Vec<PathBuf>,
) -> Result<()> {
    if is_remote(entry) {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!("remote component '{entry}': kcmp builds only local files"),
        ));
    }
    let path = normalize(&dir.join(entry));
    if !loader.fs.is_dir(&path) {
        return Err(Error::new(
            ErrorKind::Io,
            format!("component '{entry}' is not a directory: {}: no such file or directory", path.display()),
        ));
    }
    let (kust, file) = load_kustomization(loader, &path)?;
    if kust.kust_kind() != KustKind::Component {
        return Err(Error::new(
            ErrorKind::Kustomization,
            format!("expected kind 'Component' for path '{}' but got 'Kustomization'", path.display()),
        )
        .in_file(loader.display(&file)));
    }
    enter(loader, &path, stack)?;
    accumulate(loader, &path, &kust, &file, acc, stack)?;
    stack.pop();
    Ok(())
}

fn run_generators(
    loader: &Loader<'_>,
    dir: &Path,
    kust: &Kustomization,
    file: &Path,
    acc: &mut Accumulator,
    stack: &mut Vec<PathBuf>,
) -> Result<()> {
    use generators::GeneratorKind;
    let global = kust.generator_options.as_ref();
    let entries = kust
        .config_map_generator
        .iter()
        .flatten()
        .map(|g| (GeneratorKind::ConfigMap, g))
        .chain(kust.secret_generator.iter().flatten().map(|g| (GeneratorKind::Secret, g)));
    for (kind, args) in entries {
        let mut generated = generators::generate(kind, args, global, dir, loader)?;
        generated.meta.origin = Some(loader.relative(file));
        generated.meta.generated = true;
        generators::merge_generated(acc.resources_mut(), generated)?;
    }
    if kust.helm_charts.as_ref().is_some_and(|c| !c.is_empty())
        || kust.helm_chart_inflation_generator.as_ref().is_some_and(|c| !c.is_empty())
    {
        return Err(Error::new(
            ErrorKind::Unsupported,
            "helmCharts needs helm, which kcmp does not run; render the chart with `helm template` into the repository, or use Argo CD's helm source",
        ));
    }
    for entry in kust.generators.iter().flatten() {
        for generated in plugins::generators(loader, dir, entry, global, stack)? {
            generators::merge_generated(acc.resources_mut(), generated)?;
        }
    }
    Ok(())
}

fn load_schema(loader: &Loader<'_>, dir: &Path, kust: &Kustomization) -> Result<Option<Schema>> {
    let Some(openapi) = &kust.openapi else { return Ok(None) };
    let Some(path) = openapi.get("path") else { return Ok(None) };
    let file = normalize(&dir.join(path));
    check_in_root(loader.fs, dir, &file)?;
    let mut docs = loader.read_documents(&file)?;
    let custom = if docs.is_empty() { None } else { Some(docs.remove(0).value) };
    Ok(Some(Schema { custom }))
}

/// Reads the patch and replacement files a kustomization names.
fn load_inputs(loader: &Loader<'_>, dir: &Path, kust: &Kustomization) -> Result<LoadedInputs> {
    let mut inputs = LoadedInputs::default();
    for entry in kust.patches_strategic_merge.iter().flatten() {
        inputs.strategic_merge.push(plugins::load_patch_text_or_file(loader, dir, entry)?);
    }
    for p in kust.patches.iter().flatten() {
        let mut input = plugins::load_patch(loader, dir, p.path.as_deref(), p.patch.as_deref())?;
        input.target = p.target.clone();
        input.allow_name_change = p.options.get("allowNameChange").copied().unwrap_or(false);
        input.allow_kind_change = p.options.get("allowKindChange").copied().unwrap_or(false);
        inputs.patches.push(input);
    }
    for p in kust.patches_json6902.iter().flatten() {
        let mut input = plugins::load_patch(loader, dir, p.path.as_deref(), p.patch.as_deref())?;
        input.target = p.target.clone();
        inputs.json6902.push(input);
    }
    for r in kust.replacements.iter().flatten() {
        inputs.replacements.extend(plugins::load_replacement(loader, dir, r)?);
    }
    Ok(inputs)
}

/// Used by plugin configs: a patch given as text.
pub(crate) fn inline_patch(origin: &str, text: &str) -> Result<PatchInput> {
    let docs = crate::render::yaml::parse::parse_stream(text)
        .map(|docs| docs.into_iter().map(|d| d.value).filter(|v| !v.is_null()).collect())
        .map_err(|e| Error::new(ErrorKind::Patch, format!("inline patch is not valid YAML: {}", e.message)));
    patch::patch_input(origin.to_string(), docs, || patch::json_ops_of(text))
}
