//! The CustomResourceDefinitions `kcmp controller` needs (`kcmp controller crds`):
//! Application and ApplicationSet of `argoproj.io/v1alpha1`, with the names,
//! short names and scope of Argo CD's CRDs but MINIMAL structural schemas: the
//! top level is typed and everything below `spec`, `status` and `operation` is
//! `x-kubernetes-preserve-unknown-fields`, so the resources Argo CD's CLI and
//! ApplicationSets write are accepted unchanged. Like Argo CD's, Application has
//! no status subresource (status and `operation` are written by one patch).
//! Installing Argo CD's own CRDs instead works just as well.

fn crd(kind: &str, plural: &str, short: &[&str], fields: &[&str]) -> String {
    let mut props = String::new();
    for f in fields {
        props.push_str(&format!(
            "            {f}:\n              type: object\n              x-kubernetes-preserve-unknown-fields: true\n"
        ));
    }
    let short = short.join(", ");
    let lower = kind.to_lowercase();
    format!(
        "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {plural}.argoproj.io
  labels:
    app.kubernetes.io/part-of: kcmp
spec:
  group: argoproj.io
  scope: Namespaced
  names:
    kind: {kind}
    listKind: {kind}List
    plural: {plural}
    singular: {lower}
    shortNames: [{short}]
  versions:
    - name: v1alpha1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          required: [metadata, spec]
          properties:
            apiVersion:
              type: string
            kind:
              type: string
            metadata:
              type: object
{props}"
    )
}

/// Both CRDs as one YAML stream, ready for `kubectl apply -f -`.
pub fn yaml() -> String {
    let app = crd("Application", "applications", &["app", "apps"], &["spec", "status", "operation"]);
    let set = crd("ApplicationSet", "applicationsets", &["appset", "appsets"], &["spec", "status"]);
    format!("{app}---\n{set}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_crds_are_valid_yaml_with_preserved_fields() {
        let text = super::yaml();
        let docs: Vec<&str> = text.split("\n---\n").collect();
        assert_eq!(docs.len(), 2);
        assert!(docs[0].contains("name: applications.argoproj.io"));
        assert!(docs[1].contains("kind: ApplicationSet"));
        for d in docs {
            assert!(d.contains("x-kubernetes-preserve-unknown-fields: true"));
            assert!(!d.contains("subresources"), "no status subresource, as Argo CD");
        }
    }

    /// `spec`, `status` and `operation` are top-level properties, siblings of `metadata`
    /// (a real API server rejects them nested under `metadata`).
    #[test]
    fn preserved_fields_are_top_level_properties() {
        let docs = crate::render::yaml::parse::parse_stream(&super::yaml()).expect("crds parse");
        let expected: [&[&str]; 2] = [
            &["apiVersion", "kind", "metadata", "spec", "status", "operation"],
            &["apiVersion", "kind", "metadata", "spec", "status"],
        ];
        assert_eq!(docs.len(), 2);
        for (doc, want) in docs.iter().zip(expected) {
            let schema = &doc.value["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
            let props = schema["properties"].as_object().expect("properties map");
            let keys: Vec<&str> = props.keys().map(String::as_str).collect();
            assert_eq!(keys, want);
            assert_eq!(props["metadata"], serde_json::json!({"type": "object"}));
            assert_eq!(props["spec"]["x-kubernetes-preserve-unknown-fields"], serde_json::json!(true));
        }
    }
}
