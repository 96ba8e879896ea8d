//! RFC 6902 JSON patches (docs/kustomize-semantics.md §4.1) through the
//! `json-patch` crate, with kustomize's (evanphx/json-patch) error texts so a
//! failing op reads the same as under `kubectl kustomize`.

use crate::render::error::{Error, ErrorKind, Result};
use json_patch::{Patch, PatchErrorKind, PatchOperation};
use serde_json::Value;

/// Decodes an op list (already parsed from JSON or YAML).
pub(crate) fn parse(ops: &Value) -> Result<Patch> {
    serde_json::from_value::<Patch>(ops.clone()).map_err(|e| {
        Error::new(
            ErrorKind::Patch,
            format!(
                "invalid JSON patch: {e}; each entry needs 'op' (add, remove, replace, move, copy, test) and 'path'"
            ),
        )
    })
}

/// Applies all ops to `doc`, atomically (on failure `doc` is left unchanged).
pub(crate) fn apply(doc: &mut Value, ops: &Patch) -> Result<()> {
    json_patch::patch(doc, ops).map_err(|e| {
        let op = ops.0.get(e.operation);
        Error::new(ErrorKind::Patch, message(op, &e.path.to_string(), &e.kind))
    })
}

fn message(op: Option<&PatchOperation>, path: &str, kind: &PatchErrorKind) -> String {
    match (op, kind) {
        (Some(PatchOperation::Test(_)), PatchErrorKind::TestFailed) => {
            format!("testing value {path} failed: test failed")
        }
        (Some(PatchOperation::Add(_)), _) => {
            format!("add operation does not apply: doc is missing path: \"{path}\": missing value")
        }
        (Some(PatchOperation::Remove(_)), _) => {
            format!("remove operation does not apply: doc is missing path: \"{path}\": missing value")
        }
        (Some(PatchOperation::Replace(_)), _) => {
            format!("replace operation does not apply: doc is missing path: {path}: missing value")
        }
        (Some(PatchOperation::Move(m)), PatchErrorKind::InvalidFromPointer) => {
            format!("move operation does not apply: doc is missing from path: {}: missing value", m.from)
        }
        (Some(PatchOperation::Copy(c)), PatchErrorKind::InvalidFromPointer) => {
            format!("copy operation does not apply: doc is missing from path: {}: missing value", c.from)
        }
        (Some(PatchOperation::Move(_)), _) => {
            format!("move operation does not apply: doc is missing destination path: {path}")
        }
        (Some(PatchOperation::Copy(_)), _) => {
            format!("copy operation does not apply: doc is missing destination path: {path}")
        }
        (_, kind) => format!("json patch operation on {path} failed: {kind}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(doc: Value, ops: Value) -> Result<Value> {
        let mut doc = doc;
        apply(&mut doc, &parse(&ops)?)?;
        Ok(doc)
    }

    #[test]
    fn ops_apply_in_order_with_escapes_and_append() {
        let doc = json!({"metadata": {"annotations": {"a/b": "1"}}, "list": [1]});
        let out = run(
            doc,
            json!([
                {"op": "replace", "path": "/metadata/annotations/a~1b", "value": "2"},
                {"op": "add", "path": "/list/-", "value": 2},
                {"op": "copy", "from": "/list/0", "path": "/first"},
                {"op": "move", "from": "/first", "path": "/moved"},
                {"op": "test", "path": "/moved", "value": 1},
                {"op": "remove", "path": "/list/0"}
            ]),
        )
        .expect("applies");
        assert_eq!(out, json!({"metadata": {"annotations": {"a/b": "2"}}, "list": [2], "moved": 1}));
    }

    #[test]
    fn failing_ops_use_kustomize_texts() {
        let e = run(json!({"data": {}}), json!([{"op": "replace", "path": "/data/zz", "value": "x"}])).err();
        assert_eq!(
            e.map(|e| e.detail().to_string()).as_deref(),
            Some("replace operation does not apply: doc is missing path: /data/zz: missing value")
        );
        let e = run(json!({}), json!([{"op": "remove", "path": "/x"}])).err();
        assert_eq!(
            e.map(|e| e.detail().to_string()).as_deref(),
            Some("remove operation does not apply: doc is missing path: \"/x\": missing value")
        );
        let e = run(json!({"a": 1}), json!([{"op": "test", "path": "/a", "value": 2}])).err();
        assert_eq!(e.map(|e| e.detail().to_string()).as_deref(), Some("testing value /a failed: test failed"));
    }

    #[test]
    fn unknown_op_is_a_clear_error() {
        let e = parse(&json!([{"op": "frob", "path": "/a"}])).expect_err("fails");
        assert!(e.detail().contains("each entry needs 'op'"), "{}", e.detail());
    }
}
