//! `images:` (docs/kustomize-semantics.md §8.3): rewrite container image names,
//! tags and digests at the image field specs and in every `containers` /
//! `initContainers` list anywhere (Kustomize's legacy scan).

use crate::render::error::{Error, ErrorKind, Result};
use crate::render::kustomize::fieldspec::{walk, FieldSpec};
use crate::render::kustomize::kustomization::Image;
use crate::render::resource::Resource;
use regex::Regex;
use serde_json::Value;

/// One `images:` entry with the field specs it applies at.
#[derive(Clone, Debug)]
pub struct ImageTransformer {
    image: Image,
    matcher: Regex,
    field_specs: Vec<FieldSpec>,
}

impl ImageTransformer {
    /// Compiles the entry's matcher; `name` is used as a regex prefix, as Kustomize does.
    pub fn new(image: Image, field_specs: Vec<FieldSpec>) -> Result<ImageTransformer> {
        if image.name.is_empty() {
            return Err(Error::new(ErrorKind::Transformer, "images entry has no name"));
        }
        let tail = r"(:[a-zA-Z0-9_.{}-]*)?(@sha256:[a-zA-Z0-9_.{}-]*)?$";
        let matcher = Regex::new(&format!("^{}{tail}", image.name))
            .or_else(|_| Regex::new(&format!("^{}{tail}", regex::escape(&image.name))))
            .map_err(|e| Error::new(ErrorKind::Transformer, format!("images entry {:?}: {e}", image.name)))?;
        Ok(ImageTransformer { image, matcher, field_specs })
    }

    /// Rewrites matching images in every resource except CRDs.
    pub fn apply(&self, resources: &mut [Resource]) -> Result<()> {
        for res in resources.iter_mut() {
            if res.kind() == "CustomResourceDefinition" {
                continue;
            }
            let gvk = res.gvk();
            let mut node = Value::Object(std::mem::take(&mut res.obj));
            for spec in self.field_specs.iter().filter(|s| s.applies_to(&gvk)) {
                walk(&mut node, &spec.segments(), false, &mut |leaf| {
                    self.rewrite(leaf);
                    Ok(())
                })?;
            }
            self.legacy_scan(&mut node);
            if let Value::Object(m) = node {
                res.obj = m;
            }
        }
        Ok(())
    }

    /// Visits `image` in every element of any `containers`/`initContainers` list.
    fn legacy_scan(&self, node: &mut Value) {
        match node {
            Value::Object(m) => {
                for (k, v) in m.iter_mut() {
                    if (k == "containers" || k == "initContainers") && v.is_array() {
                        if let Value::Array(items) = v {
                            for item in items.iter_mut() {
                                if let Some(img) = item.get_mut("image") {
                                    self.rewrite(img);
                                }
                            }
                        }
                    }
                    self.legacy_scan(v);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| self.legacy_scan(i)),
            _ => {}
        }
    }

    fn rewrite(&self, leaf: &mut Value) {
        let Value::String(current) = leaf else { return };
        if !self.matcher.is_match(current) {
            return;
        }
        let (name, tag, digest) = split_image(current);
        let name = self.image.new_name.clone().unwrap_or(name);
        let new_tag = self.image.new_tag.as_deref().filter(|t| !t.is_empty());
        let new_digest = self.image.digest.as_deref().filter(|d| !d.is_empty());
        let mut out = name;
        match (new_tag, new_digest) {
            (Some(t), Some(d)) => out.push_str(&format!(":{t}@{d}")),
            (Some(t), None) => out.push_str(&format!(":{t}")),
            (None, Some(d)) => out.push_str(&format!("@{d}")),
            (None, None) => {
                let mut tag = tag;
                if let Some(sfx) = self.image.tag_suffix.as_deref().filter(|s| !s.is_empty()) {
                    tag = Some(format!("{}{sfx}", tag.unwrap_or_default()));
                }
                if let Some(t) = tag {
                    out.push_str(&format!(":{t}"));
                }
                if let Some(d) = digest {
                    out.push_str(&format!("@{d}"));
                }
            }
        }
        *current = out;
    }
}

/// Splits `name[:tag][@digest]`; a `:` only starts a tag after the last `/`.
pub fn split_image(image: &str) -> (String, Option<String>, Option<String>) {
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d.to_string())),
        None => (image, None),
    };
    let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
    match rest[last_slash..].find(':') {
        Some(i) => {
            let at = last_slash + i;
            (rest[..at].to_string(), Some(rest[at + 1..].to_string()), digest)
        }
        None => (rest.to_string(), None, digest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::kustomize::fieldspec::FieldSpecTables;
    use serde_json::json;

    fn run(image: Image, value: &str) -> String {
        let Value::Object(m) = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
            "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": value}]}}}}}})
        else {
            panic!("object")
        };
        let mut rs = vec![Resource::new(m)];
        ImageTransformer::new(image, FieldSpecTables::builtin().images)
            .expect("compiles")
            .apply(&mut rs)
            .expect("applies");
        rs[0].obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .expect("string")
            .to_string()
    }

    fn img(name: &str, new_name: Option<&str>, tag: Option<&str>, digest: Option<&str>) -> Image {
        Image {
            name: name.into(),
            new_name: new_name.map(Into::into),
            new_tag: tag.map(Into::into),
            digest: digest.map(Into::into),
            tag_suffix: None,
        }
    }

    #[test]
    fn tag_digest_and_name_rules() {
        assert_eq!(run(img("nginx", None, Some("1.25"), None), "nginx:1.0@sha256:abc"), "nginx:1.25");
        assert_eq!(run(img("nginx", None, None, Some("sha256:def")), "nginx:1.0"), "nginx@sha256:def");
        assert_eq!(run(img("nginx", Some("reg/nginx"), None, None), "nginx:1.0"), "reg/nginx:1.0");
        assert_eq!(run(img("nginx", None, Some("t"), Some("sha256:d")), "nginx"), "nginx:t@sha256:d");
        assert_eq!(run(img("host:5000/app", None, Some("2"), None), "host:5000/app:1"), "host:5000/app:2");
        assert_eq!(run(img("nginx", None, Some("2"), None), "nginx-other:1"), "nginx-other:1");
    }
}
