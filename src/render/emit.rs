//! Rendered resources out: the YAML stream `kubectl kustomize` prints, or the
//! per-object JSON strings Argo CD's `ManifestResponse.manifests` carries.

use crate::render::resource::Resource;

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
