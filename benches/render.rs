//! Criterion benches for the render engine (issue 7; docs/style.md "Benches").
//!
//! End to end, as `render DIR` runs it (disk reads included, output emitted):
//! - `render/guestbook-prod`: the small example app under `testdata/examples/`.
//! - `render/corpus/<case>`: medium cases of the dev corpus, read from
//!   `$CARGO_MANIFEST_DIR/../shared/corpus/dev/<case>` (skipped with a notice when absent).
//! - `render/large/<variant>/<docs>`: the generated large tree (`testdata/large/gen.py`) at two
//!   sizes, so scaling shows in one run; `overlay` is the real target (patches, prefix, labels,
//!   generators), `overlay-nopatch` the same without the patches.
//!
//! Hot leaves:
//! - `emit/yaml-stream/<docs>`: the emitter over the large tree's rendered objects.
//! - `yaml/parse-stream/...`: the YAML reader over the large base and the corpus' largest CRD bundle.
//!
//! Stages before Kustomize:
//! - `template/...`: `.j2` rendering (`testdata/examples/templated`, with the variables the
//!   sidecar would pass): one YAML template alone, and the whole templated app end to end.
//! - `sops/...`: decryption of an age-encrypted Secret (`tests/fixtures/sops-e2e`, public test
//!   keys) alone, and the SOPS overlay end to end (Secret resource + two encrypted generator sources).
//!
//! An input the engine cannot render yet is skipped with its error on stderr, never benched as
//! a failure. Each group is one function listed in `criterion_group!` at the bottom; the CMP
//! sidecar round trip is in `benches/cmp.rs`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kcmp::render::load::DiskFs;
use kcmp::render::sops::{Decryption, Keyring};
use kcmp::render::template::{self, Context};
use kcmp::render::{self, emit, yaml, Options, Resource};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Sizes of the large tree, in rendered documents: two points 4x apart show whether time is linear.
const LARGE_SIZES: [usize; 2] = [1000, 4000];

/// Medium dev-corpus cases (tens of objects, bases + components or patches).
const CORPUS_CASES: [&str; 2] = ["msdemo-with-network-policies", "kb-v4-default"];

/// Largest expected output of the dev corpus: a realistic CRD-heavy YAML parse input.
const PARSE_CASE: &str = "capi-core-crd";

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn corpus_dir() -> PathBuf {
    manifest_dir().join("../shared/corpus/dev")
}

/// Build directory of a corpus case: `in/` plus the case's `root` file.
fn corpus_build_dir(case: &Path) -> PathBuf {
    let root = std::fs::read_to_string(case.join("root")).unwrap_or_default();
    let root = root.trim();
    if root.is_empty() {
        case.join("in")
    } else {
        case.join("in").join(root)
    }
}

/// Renders once outside the timing loop, so an unsupported input is reported, not benched.
fn try_render(label: &str, dir: &Path) -> Option<Vec<Resource>> {
    match render::render(dir, &Options::default()) {
        Ok(resources) => Some(resources),
        Err(e) => {
            eprintln!("bench {label}: skipped, the engine cannot render {}: {e}", dir.display());
            None
        }
    }
}

fn render_and_emit(dir: &Path) -> String {
    render_and_emit_with(dir, &Options::default())
}

fn render_and_emit_with(dir: &Path, options: &Options) -> String {
    let resources = render::render(dir, options).expect("rendered successfully before timing");
    emit::to_yaml_stream(&resources)
}

/// The generated large trees, one temp dir per size; `None` (with a notice) without python3.
struct LargeTrees {
    _tmp: tempfile::TempDir,
    roots: Vec<(usize, PathBuf)>,
}

fn generate_large_trees() -> Option<LargeTrees> {
    let tmp = tempfile::tempdir().expect("a temp dir for the large tree");
    let script = manifest_dir().join("testdata/large/gen.py");
    let mut roots = Vec::new();
    for docs in LARGE_SIZES {
        let out = tmp.path().join(docs.to_string());
        let status =
            Command::new("python3").arg(&script).arg("--docs").arg(docs.to_string()).arg("--out").arg(&out).status();
        match status {
            Ok(s) if s.success() => roots.push((docs, out)),
            Ok(s) => {
                eprintln!("bench render/large: skipped, {} exited with {s}", script.display());
                return None;
            }
            Err(e) => {
                eprintln!("bench render/large: skipped, cannot run python3 for {}: {e}", script.display());
                return None;
            }
        }
    }
    Some(LargeTrees { _tmp: tmp, roots })
}

fn render_small(c: &mut Criterion) {
    let dir = manifest_dir().join("testdata/examples/guestbook/overlays/prod");
    if try_render("render/guestbook-prod", &dir).is_none() {
        return;
    }
    c.bench_function("render/guestbook-prod", |b| b.iter(|| render_and_emit(&dir)));
}

fn render_corpus(c: &mut Criterion) {
    let corpus = corpus_dir();
    if !corpus.is_dir() {
        eprintln!("bench render/corpus: skipped, no dev corpus at {}", corpus.display());
        return;
    }
    let mut group = c.benchmark_group("render/corpus");
    for case in CORPUS_CASES {
        let dir = corpus_build_dir(&corpus.join(case));
        let label = format!("render/corpus/{case}");
        if let Some(resources) = try_render(&label, &dir) {
            group.throughput(Throughput::Elements(resources.len() as u64));
            group.bench_function(case, |b| b.iter(|| render_and_emit(&dir)));
        }
    }
    group.finish();
}

fn render_large(c: &mut Criterion) {
    let Some(trees) = generate_large_trees() else { return };
    let mut group = c.benchmark_group("render/large");
    group.sample_size(10);
    for variant in ["overlay", "overlay-nopatch"] {
        for (docs, root) in &trees.roots {
            let dir = root.join(variant);
            let label = format!("render/large/{variant}/{docs}");
            if try_render(&label, &dir).is_none() {
                continue;
            }
            group.throughput(Throughput::Elements(*docs as u64));
            group.bench_with_input(BenchmarkId::new(variant, docs), &dir, |b, dir| b.iter(|| render_and_emit(dir)));
        }
    }
    group.finish();
}

fn emit_yaml(c: &mut Criterion) {
    let Some(trees) = generate_large_trees() else { return };
    let mut group = c.benchmark_group("emit/yaml-stream");
    for (docs, root) in &trees.roots {
        // The emitter sees the same objects whichever overlay made them; take one that renders.
        let Some(resources) =
            ["overlay", "overlay-nopatch"].iter().find_map(|v| render::render(&root.join(v), &Options::default()).ok())
        else {
            eprintln!("bench emit/yaml-stream/{docs}: skipped, no variant of the large tree renders");
            continue;
        };
        group.throughput(Throughput::Elements(resources.len() as u64));
        group
            .bench_with_input(BenchmarkId::from_parameter(docs), &resources, |b, r| b.iter(|| emit::to_yaml_stream(r)));
    }
    group.finish();
}

fn yaml_parse(c: &mut Criterion) {
    let mut inputs: Vec<(String, String)> = Vec::new();
    if let Some(trees) = generate_large_trees() {
        if let Some((docs, root)) = trees.roots.first() {
            let mut text = String::new();
            let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("base"))
                .expect("the generated base is readable")
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.file_name().is_some_and(|n| n != "kustomization.yaml"))
                .collect();
            files.sort();
            for f in files {
                text.push_str("---\n");
                text.push_str(&std::fs::read_to_string(&f).expect("a generated file is UTF-8"));
            }
            inputs.push((format!("large-base-{docs}"), text));
        }
    }
    let crd = corpus_dir().join(PARSE_CASE).join("expected.yaml");
    match std::fs::read_to_string(&crd) {
        Ok(text) => inputs.push((PARSE_CASE.to_string(), text)),
        Err(e) => eprintln!("bench yaml/parse-stream/{PARSE_CASE}: skipped, cannot read {}: {e}", crd.display()),
    }
    let mut group = c.benchmark_group("yaml/parse-stream");
    for (name, text) in &inputs {
        if let Err(e) = yaml::parse::parse_stream(text) {
            eprintln!("bench yaml/parse-stream/{name}: skipped, parse error: {}", e.message);
            continue;
        }
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), text, |b, t| b.iter(|| yaml::parse::parse_stream(t)));
    }
    group.finish();
}

/// The variables `tests/render_templates.rs` renders the templated example with (env values,
/// typed parameters, app facts), as the sidecar passes them.
fn template_vars(example: &Path) -> Option<Vec<(String, String)>> {
    let params = match std::fs::read_to_string(example.join("params.json")) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("bench template: skipped, cannot read {}: {e}", example.join("params.json").display());
            return None;
        }
    };
    Some(vec![
        ("ARGOCD_ENV_IMAGE_TAG".into(), "v2".into()),
        ("ARGOCD_ENV_CPU_LIMIT".into(), "250m".into()),
        ("ARGOCD_ENV_GREETING".into(), "hi: there".into()),
        ("ARGOCD_APP_PARAMETERS".into(), params),
        ("ARGOCD_APP_REVISION_SHORT".into(), "abc1234".into()),
    ])
}

fn template_render(c: &mut Criterion) {
    let example = manifest_dir().join("testdata/examples/templated");
    let Some(vars) = template_vars(&example) else { return };
    let ctx = match Context::from_vars(vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        Ok(ctx) => ctx,
        Err(e) => {
            eprintln!("bench template: skipped, the template variables are refused: {e}");
            return;
        }
    };
    let file = example.join("deployment.yaml.j2");
    let source = match std::fs::read_to_string(&file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bench template/deployment: skipped, cannot read {}: {e}", file.display());
            return;
        }
    };
    let mut group = c.benchmark_group("template");
    match template::render_yaml(&ctx, &DiskFs, &example, &file, &source) {
        Ok(_) => {
            group.bench_function("deployment-yaml", |b| {
                b.iter(|| template::render_yaml(&ctx, &DiskFs, &example, &file, &source))
            });
        }
        Err(e) => eprintln!("bench template/deployment-yaml: skipped, {e}"),
    }
    let options = Options { template: ctx.clone(), ..Options::default() };
    match render::render(&example, &options) {
        Ok(_) => {
            group.bench_function("render-templated-app", |b| b.iter(|| render_and_emit_with(&example, &options)));
        }
        Err(e) => eprintln!("bench template/render-templated-app: skipped, the engine cannot render it: {e}"),
    }
    group.finish();
}

fn sops_decrypt(c: &mut Criterion) {
    let fixtures = manifest_dir().join("tests/fixtures/sops-e2e");
    // The keyring is built from an explicit map: nothing here reads the process environment.
    let vars =
        BTreeMap::from([("SOPS_AGE_KEY_FILE".to_string(), fixtures.join("keys/age-a.txt").display().to_string())]);
    let decryption = match Keyring::from_vars(&vars, None) {
        Ok(ring) => Decryption::Enabled(ring),
        Err(e) => {
            eprintln!("bench sops: skipped, cannot load the test key: {e}");
            return;
        }
    };
    let secret = fixtures.join("enc/base/secret.enc.yaml");
    let text = match std::fs::read_to_string(&secret) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("bench sops/secret: skipped, cannot read {}: {e}", secret.display());
            return;
        }
    };
    let name = secret.display().to_string();
    let mut group = c.benchmark_group("sops");
    match decryption.documents(&name, &text) {
        Ok(Some(_)) => {
            group.bench_function("decrypt-secret", |b| b.iter(|| decryption.documents(&name, &text)));
        }
        Ok(None) => eprintln!("bench sops/decrypt-secret: skipped, {name} is not SOPS-encrypted"),
        Err(e) => eprintln!("bench sops/decrypt-secret: skipped, {e}"),
    }
    let overlay = fixtures.join("enc/overlay");
    let options = Options { decryption: decryption.clone(), ..Options::default() };
    match render::render(&overlay, &options) {
        Ok(_) => {
            group.bench_function("render-overlay", |b| b.iter(|| render_and_emit_with(&overlay, &options)));
        }
        Err(e) => eprintln!("bench sops/render-overlay: skipped, the engine cannot render it: {e}"),
    }
    group.finish();
}

criterion_group!(
    benches,
    render_small,
    render_corpus,
    render_large,
    emit_yaml,
    yaml_parse,
    template_render,
    sops_decrypt
);
criterion_main!(benches);
