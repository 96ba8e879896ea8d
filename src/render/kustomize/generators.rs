//! ConfigMap / Secret generators (docs/kustomize-semantics.md §5) and the
//! name-suffix hash (§6).
//!
//! Build step 3 (§2) calls [`generate`] for every `configMapGenerator` entry, then
//! every `secretGenerator` entry, and hands each object to [`merge_generated`],
//! which applies the entry's `behavior` against what the directory accumulated so
//! far. The top level calls [`add_hash_suffixes`] once, after every transformer
//! (§2.1 step 8), so the hash covers the final data.
//!
//! Objects are built exactly as `kubectl kustomize` v5.5.0 builds them; every
//! error text below was checked against kubectl on the same input.

mod hash;

use crate::render::error::{Error, ErrorKind, Result};
use crate::render::kustomize::kustomization::{GeneratorArgs, GeneratorOptions};
use crate::render::load::ReadSource;
use crate::render::resource::{Behavior, Gvk, ResId, Resource};
use base64::Engine;
use indexmap::IndexMap;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// Which generator an entry belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GeneratorKind {
    /// `configMapGenerator`.
    ConfigMap,
    /// `secretGenerator`.
    Secret,
}

impl GeneratorKind {
    fn kind(self) -> &'static str {
        match self {
            GeneratorKind::ConfigMap => "ConfigMap",
            GeneratorKind::Secret => "Secret",
        }
    }
}

/// Builds the object of one generator entry. `global` is the kustomization's
/// `generatorOptions`; `dir` the kustomization directory sources are relative to.
pub fn generate(
    kind: GeneratorKind,
    args: &GeneratorArgs,
    global: Option<&GeneratorOptions>,
    dir: &Path,
    sources: &dyn ReadSource,
) -> Result<Resource> {
    if args.name.is_empty() {
        // Kustomize uses the ConfigMap wording for Secrets too.
        return Err(Error::new(ErrorKind::Generator, "a configmap must have a name"));
    }
    let options = merged_options(args.options.as_ref(), global);
    let pairs = load_pairs(args, dir, sources)?;
    let mut data: BTreeMap<String, Value> = BTreeMap::new();
    let mut binary: BTreeMap<String, Value> = BTreeMap::new();
    let mut seen: BTreeMap<String, ()> = BTreeMap::new();
    for (key, bytes) in pairs {
        if seen.insert(key.clone(), ()).is_some() {
            return Err(Error::new(
                ErrorKind::Generator,
                format!("configmap {} illegally repeats the key `{}`", args.name, key),
            ));
        }
        match kind {
            GeneratorKind::ConfigMap => match String::from_utf8(bytes) {
                Ok(text) => {
                    data.insert(key, Value::String(text));
                }
                Err(e) => {
                    binary.insert(key, Value::String(wrapped_base64(e.as_bytes())));
                }
            },
            GeneratorKind::Secret => {
                data.insert(key, Value::String(wrapped_base64(&bytes)));
            }
        }
    }

    let mut metadata = Map::new();
    metadata.insert("name".into(), Value::String(args.name.clone()));
    if !args.namespace.is_empty() {
        metadata.insert("namespace".into(), Value::String(args.namespace.clone()));
    }
    if !options.labels.is_empty() {
        metadata.insert("labels".into(), sorted_string_map(&options.labels));
    }
    if !options.annotations.is_empty() {
        metadata.insert("annotations".into(), sorted_string_map(&options.annotations));
    }

    let mut obj = Map::new();
    obj.insert("apiVersion".into(), Value::String("v1".into()));
    obj.insert("kind".into(), Value::String(kind.kind().into()));
    obj.insert("metadata".into(), Value::Object(metadata));
    if kind == GeneratorKind::Secret {
        let secret_type = if args.secret_type.is_empty() { "Opaque" } else { args.secret_type.as_str() };
        obj.insert("type".into(), Value::String(secret_type.into()));
    }
    // A Secret always gets a `data` map (possibly empty); a ConfigMap only the
    // maps it has entries for, as kyaml creates them lazily.
    if kind == GeneratorKind::Secret || !data.is_empty() {
        obj.insert("data".into(), Value::Object(data.into_iter().collect()));
    }
    if !binary.is_empty() {
        obj.insert("binaryData".into(), Value::Object(binary.into_iter().collect()));
    }
    if options.immutable {
        obj.insert("immutable".into(), Value::Bool(true));
    }

    let mut res = Resource::new(obj);
    res.meta.needs_hash = !options.disable_name_suffix_hash;
    res.meta.behavior = match args.behavior.as_str() {
        "merge" => Behavior::Merge,
        "replace" => Behavior::Replace,
        // Kustomize treats an unknown behaviour like `create`.
        _ => Behavior::Create,
    };
    Ok(res)
}

/// Adds a generated object to the accumulated ones following its `behavior`
/// (create / merge / replace).
pub fn merge_generated(resources: &mut Vec<Resource>, generated: Resource) -> Result<()> {
    let id = generated.id();
    let matches: Vec<usize> = resources
        .iter()
        .enumerate()
        .filter(|(_, r)| r.all_ids().iter().any(|other| same_id(&id, other)))
        .map(|(i, _)| i)
        .collect();
    match matches.as_slice() {
        [] => match generated.meta.behavior {
            Behavior::Merge | Behavior::Replace => Err(Error::new(
                ErrorKind::Generator,
                format!("id {} does not exist; cannot merge or replace", go_resid(&id)),
            )),
            Behavior::Create => {
                resources.push(generated);
                Ok(())
            }
        },
        [index] => {
            let old = &resources[*index];
            let merged = match generated.meta.behavior {
                Behavior::Create => {
                    return Err(Error::new(
                        ErrorKind::Generator,
                        format!("id {} exists; behavior must be merge or replace", go_resid(&id)),
                    ))
                }
                behavior => merge_into(old, generated, behavior),
            };
            resources[*index] = merged;
            Ok(())
        }
        many => {
            let found: Vec<String> = many.iter().map(|i| resources[*i].id().to_string()).collect();
            Err(Error::new(
                ErrorKind::Generator,
                format!("found multiple objects [{}] that could accept merge of {}", found.join(" "), id),
            ))
        }
    }
}

/// Appends `-<hash>` to every object marked `needs_hash` (top level only, §2.1 step 8).
pub fn add_hash_suffixes(resources: &mut [Resource]) -> Result<()> {
    for res in resources.iter_mut() {
        if !res.meta.needs_hash || res.meta.hashed {
            continue;
        }
        let suffix = hash::name_hash(&res.obj);
        let new_name = format!("{}-{}", res.name(), suffix);
        res.rename(&new_name);
        res.meta.hashed = true;
    }
    Ok(())
}

/// The entry's own options with `generatorOptions` folded in: the entry's
/// label/annotation keys win, booleans are OR-ed (a local `false` cannot undo a
/// global `true`, as in Kustomize's `MergeGlobalOptionsIntoLocal`).
fn merged_options(local: Option<&GeneratorOptions>, global: Option<&GeneratorOptions>) -> GeneratorOptions {
    let mut out = local.cloned().unwrap_or_default();
    if let Some(global) = global {
        for (k, v) in &global.labels {
            out.labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
        for (k, v) in &global.annotations {
            out.annotations.entry(k.clone()).or_insert_with(|| v.clone());
        }
        out.disable_name_suffix_hash |= global.disable_name_suffix_hash;
        out.immutable |= global.immutable;
    }
    out
}

fn sorted_string_map(m: &IndexMap<String, String>) -> Value {
    let sorted: BTreeMap<&String, &String> = m.iter().collect();
    Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
}

/// Key/value pairs in Kustomize's order: env files, then literals, then files.
fn load_pairs(args: &GeneratorArgs, dir: &Path, sources: &dyn ReadSource) -> Result<Vec<(String, Vec<u8>)>> {
    let mut pairs = Vec::new();
    // The legacy singular `env` follows `envs` (kustomization loading already
    // moves it there; plugin-style entries may still carry it).
    let mut envs = args.envs.clone();
    if !args.env.is_empty() {
        envs.push(args.env.clone());
    }
    for rel in &envs {
        let context = || format!("loading KV pairs: env source files: {}", go_list(&envs));
        let (_, bytes) = sources.read_source(dir, rel).map_err(|e| e.via(context()))?;
        let lines = env_file_pairs(&bytes)
            .map_err(|detail| Error::new(ErrorKind::Generator, format!("{}: {rel}: {detail}", context())))?;
        pairs.extend(lines.into_iter().map(|(k, v)| (k, v.into_bytes())));
    }
    for literal in &args.literals {
        let (k, v) = parse_literal(literal).map_err(|detail| {
            Error::new(
                ErrorKind::Generator,
                format!("loading KV pairs: literal sources {}: {detail}", go_list(&args.literals)),
            )
        })?;
        pairs.push((k, v.into_bytes()));
    }
    for source in &args.files {
        let context = || format!("loading KV pairs: file sources: {}", go_list(&args.files));
        let (key, rel) = parse_file_source(source)
            .map_err(|detail| Error::new(ErrorKind::Generator, format!("{}: {detail}", context())))?;
        let (logical, bytes) = sources.read_source(dir, &rel).map_err(|e| e.via(context()))?;
        // A template `x.conf.j2` is used as `x.conf`, so its default key drops `.j2`.
        let key = match (key.strip_suffix(".j2"), logical.file_name().and_then(|n| n.to_str())) {
            (Some(stripped), Some(name)) if name == stripped && !source.contains('=') => stripped.to_string(),
            _ => key,
        };
        pairs.push((key, bytes));
    }
    Ok(pairs)
}

/// `KEY=VALUE` lines of an env file (§5): leading whitespace trimmed, blank lines
/// and `#` comments skipped, a BOM on the first line dropped, a line without `=`
/// giving an empty value, a line with an empty key ignored; values kept verbatim.
fn env_file_pairs(bytes: &[u8]) -> std::result::Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    for (n, raw) in lines.into_iter().enumerate() {
        // Go's line scanner drops one trailing carriage return.
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = std::str::from_utf8(raw).map_err(|_| format!("line {} has invalid utf8 bytes", n + 1))?;
        let line = if n == 0 { line.strip_prefix('\u{feff}').unwrap_or(line) } else { line };
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k, v),
            None => (line, ""),
        };
        if key.is_empty() {
            continue;
        }
        out.push((key.to_string(), value.to_string()));
    }
    Ok(out)
}

/// `KEY=VALUE` with matching surrounding quotes stripped from the value.
fn parse_literal(source: &str) -> std::result::Result<(String, String), String> {
    match source.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), remove_quotes(value).to_string())),
        _ => Err(format!("invalid literal source {source}, expected key=value")),
    }
}

fn remove_quotes(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() >= 2 && b[0] == b[b.len() - 1] && (b[0] == b'"' || b[0] == b'\'') {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

/// `path` (key = base name) or `key=path`.
fn parse_file_source(source: &str) -> std::result::Result<(String, String), String> {
    match source.matches('=').count() {
        0 => Ok((go_path_base(source), source.to_string())),
        1 => {
            let (key, path) = source.split_once('=').expect("one '=' counted");
            if key.is_empty() {
                Err(format!("missing key name for file path {} in source {}", go_quote(path), go_quote(source)))
            } else if path.is_empty() {
                Err(format!("missing file path for key name {} in source {}", go_quote(key), go_quote(source)))
            } else {
                Ok((key.to_string(), path.to_string()))
            }
        }
        _ => Err(format!("source {} key name or file path contains '='", go_quote(source))),
    }
}

/// Go's `path.Base`: last element after trailing slashes are removed.
fn go_path_base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let trimmed = p.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".into();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_string()
}

/// Base64 as Kustomize writes Secret data and binaryData: lines of 70
/// characters, each followed by a newline, once the text is longer than that.
fn wrapped_base64(bytes: &[u8]) -> String {
    const LINE: usize = 70;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    if encoded.len() / LINE == 0 {
        return encoded;
    }
    let mut out = String::with_capacity(encoded.len() + encoded.len() / LINE + 1);
    for chunk in encoded.as_bytes().chunks(LINE) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out
}

/// Kustomize's `ResId.Equals`: same GVK and name, and the same namespace once an
/// empty one is read as `default`.
fn same_id(a: &ResId, b: &ResId) -> bool {
    a.gvk == b.gvk && a.name == b.name && a.effective_namespace() == b.effective_namespace()
}

/// The new object with the old one's name, namespace and history; labels and
/// annotations unioned (new wins); for `merge` also data and binaryData unioned.
fn merge_into(old: &Resource, new: Resource, behavior: Behavior) -> Resource {
    let mut out = new;
    let old_md = old.obj.get("metadata");
    for field in ["labels", "annotations"] {
        let mut merged = string_map(old_md.and_then(|m| m.get(field)));
        merged.extend(string_map(out.obj.get("metadata").and_then(|m| m.get(field))));
        let md = out.metadata_mut();
        if merged.is_empty() {
            md.remove(field);
        } else {
            md.insert(field.into(), to_object(merged));
        }
    }
    let name = old.name().to_string();
    let namespace = old.namespace().to_string();
    let md = out.metadata_mut();
    md.insert("name".into(), Value::String(name));
    if namespace.is_empty() {
        md.remove("namespace");
    } else {
        md.insert("namespace".into(), Value::String(namespace));
    }
    if behavior == Behavior::Merge {
        for field in ["data", "binaryData"] {
            let mut merged = string_map(old.obj.get(field));
            merged.extend(string_map(out.obj.get(field)));
            if merged.is_empty() {
                out.obj.remove(field);
            } else {
                out.obj.insert(field.into(), to_object(merged));
            }
        }
    }
    let needs_hash = old.meta.needs_hash && out.meta.needs_hash;
    let origin = match behavior {
        Behavior::Merge => old.meta.origin.clone().or(out.meta.origin.take()),
        _ => out.meta.origin.take().or_else(|| old.meta.origin.clone()),
    };
    out.meta = old.meta.clone();
    out.meta.needs_hash = needs_hash;
    out.meta.origin = origin;
    out
}

/// A map field read as Kustomize's `map[string]string` (scalars as their text).
fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    let Some(Value::Object(m)) = v else {
        return BTreeMap::new();
    };
    m.iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect()
}

fn to_object(m: BTreeMap<String, String>) -> Value {
    Value::Object(m.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
}

/// A ResId as Go's `%#v` prints it, the way Kustomize's merge errors show it.
fn go_resid(id: &ResId) -> String {
    format!(
        "resid.ResId{{Gvk:{}, Name:{}, Namespace:{}}}",
        go_gvk(&id.gvk),
        go_quote(&id.name),
        go_quote(&id.namespace)
    )
}

fn go_gvk(gvk: &Gvk) -> String {
    format!(
        "resid.Gvk{{Group:{}, Version:{}, Kind:{}, isClusterScoped:{}}}",
        go_quote(&gvk.group),
        go_quote(&gvk.version),
        go_quote(&gvk.kind),
        gvk.is_cluster_scoped()
    )
}

/// Go's `strconv.Quote` for the characters names and paths contain.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A string list as Go's `%v` prints it: `[a b c]`.
fn go_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::error::Result;
    use serde_json::json;
    use std::path::PathBuf;

    /// Sources from a map; paths outside the map fail like a missing file.
    struct Files(Vec<(&'static str, Vec<u8>)>);

    impl ReadSource for Files {
        fn read_source(&self, dir: &Path, rel: &str) -> Result<(PathBuf, Vec<u8>)> {
            let path = dir.join(rel);
            self.0
                .iter()
                .find(|(name, _)| *name == rel)
                .map(|(_, b)| (path.clone(), b.clone()))
                .ok_or_else(|| Error::new(ErrorKind::Io, format!("{}: no such file or directory", path.display())))
        }
    }

    fn args(v: Value) -> GeneratorArgs {
        serde_json::from_value(v).expect("valid generator args")
    }

    fn gen(kind: GeneratorKind, v: Value, files: &Files) -> Result<Resource> {
        generate(kind, &args(v), None, Path::new("/app"), files)
    }

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn literals_unquote_only_matching_quotes() {
        let r = gen(
            GeneratorKind::ConfigMap,
            json!({"name": "cm", "literals": [
                "q1=\"double\"", "q2='single'", "q3=\"mismatch'", "q4= spaced", "q5=a=b", "q6=\"", "q7="
            ]}),
            &Files(vec![]),
        )
        .expect("generates");
        // Expected data checked with kubectl kustomize (v5.5.0).
        assert_eq!(
            Value::Object(r.obj),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {
                "q1": "double", "q2": "single", "q3": "\"mismatch'", "q4": " spaced", "q5": "a=b", "q6": "\"", "q7": ""
            }})
        );
        assert!(r.meta.needs_hash);
        assert_eq!(r.meta.behavior, Behavior::Create);
    }

    #[test]
    fn env_files_trim_left_skip_comments_and_strip_bom() {
        let env = b"\xef\xbb\xbfA=1\n  # comment\n\n  B = two \nC\nD=\"quoted\"\nE=a=b\n#x=y\n=skipped\r\nF=crlf\r\n"
            .to_vec();
        let r =
            gen(GeneratorKind::ConfigMap, json!({"name": "cm", "envs": ["app.env"]}), &Files(vec![("app.env", env)]))
                .expect("generates");
        assert_eq!(
            r.obj["data"],
            json!({"A": "1", "B ": " two ", "C": "", "D": "\"quoted\"", "E": "a=b", "F": "crlf"})
        );
    }

    #[test]
    fn sources_are_ordered_envs_literals_files_and_keys_sorted() {
        let files = Files(vec![
            ("a.env", b"Z=env\n".to_vec()),
            ("dir/f.txt", b"line1\nline2\n".to_vec()),
            ("b.bin", vec![0xff, 0xfe, 0x00, b'b', b'i', b'n']),
        ]);
        let r = gen(
            GeneratorKind::ConfigMap,
            json!({"name": "cm", "namespace": "ns1", "envs": ["a.env"], "literals": ["m=lit"],
                   "files": ["dir/f.txt", "other=dir/f.txt", "b.bin"]}),
            &files,
        )
        .expect("generates");
        assert_eq!(
            Value::Object(r.obj.clone()),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "ns1"},
                   "data": {"Z": "env", "f.txt": "line1\nline2\n", "m": "lit", "other": "line1\nline2\n"},
                   "binaryData": {"b.bin": "//4AYmlu"}})
        );
        let keys: Vec<&String> = r.obj["data"].as_object().expect("map").keys().collect();
        assert_eq!(keys, vec!["Z", "f.txt", "m", "other"]);
    }

    #[test]
    fn secret_values_are_base64_wrapped_after_70_chars() {
        let long = "a".repeat(111);
        let exact = "a".repeat(51);
        let r = gen(
            GeneratorKind::Secret,
            json!({"name": "sec", "literals": [format!("long={long}"), "short=x", format!("exact={exact}")],
                   "files": ["b.bin"]}),
            &Files(vec![("b.bin", vec![0xff, 0xfe, 0x00, b'b', b'i', b'n'])]),
        )
        .expect("generates");
        // From kubectl kustomize: 148 base64 chars become two 70-char lines and a tail.
        assert_eq!(
            Value::Object(r.obj),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sec"}, "type": "Opaque", "data": {
                "b.bin": "//4AYmlu",
                "exact": "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFh",
                "long": "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYW\nFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFh\nYWFhYWFh\n",
                "short": "eA=="
            }})
        );
    }

    #[test]
    fn empty_secret_keeps_an_empty_data_map_and_its_type() {
        let r = gen(GeneratorKind::Secret, json!({"name": "es"}), &Files(vec![])).expect("generates");
        assert_eq!(
            Value::Object(r.obj),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "es"}, "type": "Opaque", "data": {}})
        );
        let r = gen(
            GeneratorKind::Secret,
            json!({"name": "tls", "type": "kubernetes.io/tls", "literals": ["x=y"]}),
            &Files(vec![]),
        )
        .expect("generates");
        assert_eq!(r.obj["type"], json!("kubernetes.io/tls"));
        let r = gen(GeneratorKind::ConfigMap, json!({"name": "empty"}), &Files(vec![])).expect("generates");
        assert_eq!(
            Value::Object(r.obj),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "empty"}})
        );
    }

    #[test]
    fn generator_options_merge_into_entry_options() {
        let global: GeneratorOptions = serde_json::from_value(json!({
            "labels": {"a": "global", "g": "g"}, "annotations": {"ga": "y"}, "disableNameSuffixHash": true
        }))
        .expect("options");
        let a = args(json!({"name": "cm", "literals": ["k=v"], "options": {
            "labels": {"z": "1", "a": "b"}, "annotations": {"note": "x"}, "immutable": true,
            "disableNameSuffixHash": false
        }}));
        let r = generate(GeneratorKind::ConfigMap, &a, Some(&global), Path::new("/app"), &Files(vec![]))
            .expect("generates");
        assert_eq!(
            Value::Object(r.obj.clone()),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "immutable": true, "data": {"k": "v"}, "metadata": {
                "name": "cm", "labels": {"a": "b", "g": "g", "z": "1"}, "annotations": {"ga": "y", "note": "x"}
            }})
        );
        let label_keys: Vec<&String> = r.obj["metadata"]["labels"].as_object().expect("map").keys().collect();
        assert_eq!(label_keys, vec!["a", "g", "z"]);
        assert!(!r.meta.needs_hash, "a global disableNameSuffixHash wins over a local false");
    }

    #[test]
    fn generator_errors_read_like_kustomize() {
        let none = Files(vec![]);
        let err = |kind, v| gen(kind, v, &none).expect_err("fails").detail().to_string();
        assert_eq!(err(GeneratorKind::Secret, json!({"literals": ["a=1"]})), "a configmap must have a name");
        assert_eq!(
            err(GeneratorKind::ConfigMap, json!({"name": "x", "literals": ["a"]})),
            "loading KV pairs: literal sources [a]: invalid literal source a, expected key=value"
        );
        assert_eq!(
            err(GeneratorKind::ConfigMap, json!({"name": "x", "literals": ["=v"]})),
            "loading KV pairs: literal sources [=v]: invalid literal source =v, expected key=value"
        );
        assert_eq!(
            err(GeneratorKind::ConfigMap, json!({"name": "x", "literals": ["a=1", "a=2"]})),
            "configmap x illegally repeats the key `a`"
        );
        assert_eq!(
            err(GeneratorKind::ConfigMap, json!({"name": "x", "files": ["a=b=f.txt"]})),
            "loading KV pairs: file sources: [a=b=f.txt]: source \"a=b=f.txt\" key name or file path contains '='"
        );
        assert_eq!(
            err(GeneratorKind::ConfigMap, json!({"name": "x", "files": ["=f.txt"]})),
            "loading KV pairs: file sources: [=f.txt]: missing key name for file path \"f.txt\" in source \"=f.txt\""
        );
        assert_eq!(
            err(GeneratorKind::ConfigMap, json!({"name": "x", "files": ["a="]})),
            "loading KV pairs: file sources: [a=]: missing file path for key name \"a\" in source \"a=\""
        );
        let e =
            gen(GeneratorKind::ConfigMap, json!({"name": "x", "files": ["nothere.txt"]}), &none).expect_err("fails");
        assert_eq!(
            e.to_string(),
            "cannot read: /app/nothere.txt: no such file or directory\n  via loading KV pairs: file sources: [nothere.txt]"
        );
        // A key repeated across a literal and a file is caught too.
        let f = Files(vec![("f.txt", b"hi\n".to_vec())]);
        let e = gen(GeneratorKind::Secret, json!({"name": "x", "literals": ["a=1"], "files": ["a=f.txt"]}), &f)
            .expect_err("fails");
        assert_eq!(e.detail(), "configmap x illegally repeats the key `a`");
    }

    #[test]
    fn env_file_with_invalid_utf8_names_the_line() {
        // kubectl prints the raw bytes (`line [66 61 255] has invalid utf8 bytes`); we name the line.
        let files = Files(vec![("bad.env", b"A=1\nB=\xff\n".to_vec())]);
        let e = gen(GeneratorKind::ConfigMap, json!({"name": "x", "envs": ["bad.env"]}), &files).expect_err("fails");
        assert_eq!(e.detail(), "loading KV pairs: env source files: [bad.env]: bad.env: line 2 has invalid utf8 bytes");
    }

    #[test]
    fn behavior_is_recorded() {
        let none = Files(vec![]);
        for (b, want) in [("merge", Behavior::Merge), ("replace", Behavior::Replace), ("create", Behavior::Create)] {
            let r = gen(GeneratorKind::ConfigMap, json!({"name": "x", "behavior": b}), &none).expect("generates");
            assert_eq!(r.meta.behavior, want);
        }
    }

    fn base_cm(name: &str, ns: &str, data: Value) -> Resource {
        let mut md = json!({"name": name});
        if !ns.is_empty() {
            md["namespace"] = json!(ns);
        }
        Resource::new(obj(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": md, "data": data})))
    }

    #[test]
    fn merge_unions_data_and_metadata_and_keeps_position_and_history() {
        // Mirrors a kubectl probe: base `namePrefix: p-`, `namespace: foo`, overlay merges `gen`.
        let none = Files(vec![]);
        let mut base = gen(
            GeneratorKind::ConfigMap,
            json!({"name": "gen", "literals": ["a=1", "b=2"], "options": {"labels": {"l1": "base"}, "annotations": {"an": "base"}}}),
            &none,
        )
        .expect("generates");
        base.set_namespace("foo");
        base.rename("p-gen");
        let mut resources = vec![base_cm("first", "", json!({})), base];
        let overlay = gen(
            GeneratorKind::ConfigMap,
            json!({"name": "gen", "behavior": "merge", "literals": ["b=3", "c=4"],
                   "options": {"labels": {"l2": "ov"}, "annotations": {"an": "ov"}}}),
            &none,
        )
        .expect("generates");
        merge_generated(&mut resources, overlay).expect("merges");
        assert_eq!(resources.len(), 2);
        let merged = &resources[1];
        assert_eq!(
            Value::Object(merged.obj.clone()),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1", "b": "3", "c": "4"}, "metadata": {
                "name": "p-gen", "namespace": "foo", "labels": {"l1": "base", "l2": "ov"}, "annotations": {"an": "ov"}
            }})
        );
        assert!(merged.had_name("gen"));
        assert_eq!(merged.original_id().name, "gen");
        assert!(merged.meta.needs_hash);
        add_hash_suffixes(&mut resources).expect("hashes");
        // kubectl: p-gen-fbcmkbc66h
        assert_eq!(resources[1].name(), "p-gen-fbcmkbc66h");
        assert!(resources[1].had_name("p-gen"));
    }

    #[test]
    fn merge_into_a_plain_configmap_takes_the_generator_object_and_no_hash() {
        let none = Files(vec![]);
        let mut plain = Resource::new(obj(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "plain", "labels": {"pl": "x"}}, "data": {"a": 1}, "immutable": false})));
        plain.rename("p-plain");
        let mut resources = vec![plain];
        let overlay =
            gen(GeneratorKind::ConfigMap, json!({"name": "plain", "behavior": "merge", "literals": ["b=2"]}), &none)
                .expect("generates");
        merge_generated(&mut resources, overlay).expect("merges");
        // kubectl drops `immutable: false` (the generator's object wins) and adds no hash.
        assert_eq!(
            Value::Object(resources[0].obj.clone()),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1", "b": "2"},
                   "metadata": {"name": "p-plain", "labels": {"pl": "x"}}})
        );
        assert!(!resources[0].meta.needs_hash);
    }

    #[test]
    fn replace_swaps_data_and_merge_of_secret_takes_new_type() {
        let none = Files(vec![]);
        let base = gen(GeneratorKind::ConfigMap, json!({"name": "gen2", "literals": ["a=1"]}), &none).expect("gen");
        let secret =
            gen(GeneratorKind::Secret, json!({"name": "s", "type": "kubernetes.io/tls", "literals": ["a=1"]}), &none)
                .expect("gen");
        let mut resources = vec![base, secret];
        let replace = gen(
            GeneratorKind::ConfigMap,
            json!({"name": "gen2", "behavior": "replace", "literals": ["z=1"], "options": {"disableNameSuffixHash": true}}),
            &none,
        )
        .expect("gen");
        merge_generated(&mut resources, replace).expect("replaces");
        let merge = gen(GeneratorKind::Secret, json!({"name": "s", "behavior": "merge", "literals": ["b=2"]}), &none)
            .expect("gen");
        merge_generated(&mut resources, merge).expect("merges");
        assert_eq!(
            Value::Object(resources[0].obj.clone()),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"z": "1"}, "metadata": {"name": "gen2"}})
        );
        assert!(!resources[0].meta.needs_hash);
        assert_eq!(
            Value::Object(resources[1].obj.clone()),
            json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "data": {"a": "MQ==", "b": "Mg=="},
                   "metadata": {"name": "s"}})
        );
        add_hash_suffixes(&mut resources).expect("hashes");
        // kubectl: p-s-8fb7cfch84 with the base prefix; the hash ignores the name.
        assert_eq!(resources[1].name(), "s-8fb7cfch84");
        assert_eq!(resources[0].name(), "gen2");
    }

    #[test]
    fn behavior_errors_name_the_id_like_kustomize() {
        let none = Files(vec![]);
        let mut resources = vec![base_cm("p-gen", "foo", json!({}))];
        let e = merge_generated(
            &mut resources,
            gen(GeneratorKind::ConfigMap, json!({"name": "nothere", "behavior": "merge"}), &none).expect("gen"),
        )
        .expect_err("no base");
        assert_eq!(
            e.detail(),
            "id resid.ResId{Gvk:resid.Gvk{Group:\"\", Version:\"v1\", Kind:\"ConfigMap\", isClusterScoped:false}, Name:\"nothere\", Namespace:\"\"} does not exist; cannot merge or replace"
        );
        let e = merge_generated(
            &mut resources,
            gen(GeneratorKind::ConfigMap, json!({"name": "p-gen", "namespace": "foo"}), &none).expect("gen"),
        )
        .expect_err("exists");
        assert_eq!(
            e.detail(),
            "id resid.ResId{Gvk:resid.Gvk{Group:\"\", Version:\"v1\", Kind:\"ConfigMap\", isClusterScoped:false}, Name:\"p-gen\", Namespace:\"foo\"} exists; behavior must be merge or replace"
        );
        // Another namespace is another id.
        let e = merge_generated(
            &mut resources,
            gen(GeneratorKind::ConfigMap, json!({"name": "p-gen", "namespace": "bar", "behavior": "replace"}), &none)
                .expect("gen"),
        )
        .expect_err("other namespace");
        assert!(e.detail().ends_with("does not exist; cannot merge or replace"), "{e}");
    }

    #[test]
    fn default_namespace_matches_an_empty_one() {
        let none = Files(vec![]);
        let mut resources = vec![base_cm("x", "default", json!({"a": "1"}))];
        let g = gen(GeneratorKind::ConfigMap, json!({"name": "x", "behavior": "merge", "literals": ["b=2"]}), &none)
            .expect("gen");
        merge_generated(&mut resources, g).expect("merges");
        assert_eq!(resources[0].obj["data"], json!({"a": "1", "b": "2"}));
        assert_eq!(resources[0].namespace(), "default");
    }

    #[test]
    fn create_appends_at_the_end() {
        let none = Files(vec![]);
        let mut resources = vec![base_cm("a", "", json!({}))];
        merge_generated(&mut resources, gen(GeneratorKind::ConfigMap, json!({"name": "b"}), &none).expect("gen"))
            .expect("creates");
        assert_eq!(resources.iter().map(|r| r.name()).collect::<Vec<_>>(), vec!["a", "b"]);
    }

    #[test]
    fn hash_suffix_is_added_once_and_only_when_asked() {
        let none = Files(vec![]);
        let mut resources = vec![
            gen(GeneratorKind::ConfigMap, json!({"name": "kv", "literals": ["k=v"]}), &none).expect("gen"),
            gen(
                GeneratorKind::ConfigMap,
                json!({"name": "off", "literals": ["k=v"], "options": {"disableNameSuffixHash": true}}),
                &none,
            )
            .expect("gen"),
            base_cm("plain", "", json!({"k": "v"})),
        ];
        add_hash_suffixes(&mut resources).expect("hashes");
        add_hash_suffixes(&mut resources).expect("hashes again");
        let names: Vec<&str> = resources.iter().map(|r| r.name()).collect();
        assert_eq!(names, vec!["kv-bdg947hgcc", "off", "plain"]);
        assert!(resources[0].had_name("kv"));
        assert!(resources[0].meta.hashed);
    }

    #[test]
    fn file_source_key_defaults_to_base_name() {
        assert_eq!(parse_file_source("dir/sub/f.txt"), Ok(("f.txt".into(), "dir/sub/f.txt".into())));
        assert_eq!(parse_file_source("k=dir/f.txt"), Ok(("k".into(), "dir/f.txt".into())));
        assert_eq!(go_path_base("a/b/"), "b");
    }
}
