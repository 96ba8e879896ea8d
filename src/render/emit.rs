//! Rendered resources out: the YAML stream `kubectl kustomize` prints, or the
//! per-object JSON strings Argo CD's `ManifestResponse.manifests` carries.

use crate::render::resource::Resource;
use crate::render::{Error, ErrorKind, Result};

/// The YAML stream, byte-compatible with `kubectl kustomize` (empty for no objects).
pub fn to_yaml_stream(resources: &[Resource]) -> String {
    let mut out = String::new();
    for (i, r) in resources.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        crate::render::yaml::emit::write_object(&mut out, &r.obj);
    }
    out
}

/// One compact JSON document per object, in output order (CMP protocol §6).
pub fn to_manifest_json(resources: &[Resource]) -> Vec<String> {
    resources
        .iter()
        .map(|r| serde_json::to_string(&r.obj).expect("a JSON map with string keys always serialises"))
        .collect()
}

/// Fails like `kubectl kustomize` does on strings its YAML printer cannot take
/// back (raw control characters, a line break in a key): better one clear error
/// than output kubectl would never have produced (docs/kustomize-semantics.md §12).
pub fn check_printable(resources: &[Resource]) -> Result<()> {
    for r in resources {
        if let Some(bad) = crate::render::yaml::emit::find_unprintable(&r.obj) {
            let mut e = Error::new(ErrorKind::Resource, format!("{}: {}", bad.path, bad.problem)).for_resource(r.id());
            if let Some(origin) = &r.meta.origin {
                e = e.in_file(origin);
            }
            return Err(e);
        }
    }
    Ok(())
}
