//! RFC 6902 JSON patches (docs/kustomize-semantics.md §4.1) through the
//! `json-patch` crate, with kustomize's (evanphx/json-patch) error texts so a
//! failing op reads the same as under `kubectl kustomize`.

use crate::render::error::{Error, ErrorKind, Result};
use json_patch::{AddOperation, Patch, PatchErrorKind, PatchOperation};
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

/// Applies the ops in order. Where evanphx/json-patch (what kustomize runs)
/// departs from RFC 6902 we follow it: `replace` of a missing key in an existing
/// object adds it, `copy` from a missing path copies `null`, and removing a
/// missing key reads "unable to remove nonexistent key".
pub(crate) fn apply(doc: &mut Value, ops: &Patch) -> Result<()> {
    for op in &ops.0 {
        apply_one(doc, op)?;
    }
    Ok(())
}

/// For a path whose parent is an existing object: whether the last key is in it.
fn key_in_parent_object(doc: &Value, path: &json_patch::jsonptr::Pointer) -> Option<(bool, String)> {
    let (parent, last) = path.split_back()?;
    let key = last.decoded().to_string();
    doc.pointer(parent.as_str())?.as_object().map(|m| (m.contains_key(&key), key))
}

/// For a path whose parent is an array and whose last token is an integer
/// (Go's `strconv.Atoi`: sign and leading zeros allowed): the array length,
/// the parent pointer and the index as written.
fn array_index(doc: &Value, path: &json_patch::jsonptr::Pointer) -> Option<(usize, String, i64)> {
    let (parent, last) = path.split_back()?;
    let raw: i64 = last.decoded().parse().ok()?;
    let len = doc.pointer(parent.as_str())?.as_array()?.len();
    Some((len, parent.as_str().to_string(), raw))
}

/// The op with its `path` replaced.
fn with_path(op: &PatchOperation, path: String) -> Result<PatchOperation> {
    let mut v = serde_json::to_value(op).map_err(|e| Error::new(ErrorKind::Patch, e.to_string()))?;
    if let Some(m) = v.as_object_mut() {
        m.insert("path".into(), Value::String(path));
    }
    serde_json::from_value(v).map_err(|e| Error::new(ErrorKind::Patch, e.to_string()))
}

/// evanphx/json-patch array indices: negative ones count from the end, and
/// out-of-range ones fail with its texts.
fn normalize_index(doc: &Value, op: &PatchOperation) -> Result<Option<PatchOperation>> {
    let (path, extra) = match op {
        PatchOperation::Add(a) => (&a.path, 1),
        PatchOperation::Remove(r) => (&r.path, 0),
        PatchOperation::Replace(r) => (&r.path, 0),
        _ => return Ok(None),
    };
    let Some((len, parent, raw)) = array_index(doc, path) else { return Ok(None) };
    let size = i64::try_from(len).unwrap_or(i64::MAX).saturating_add(extra);
    let idx = if raw < 0 { raw + size } else { raw };
    if idx < 0 || idx >= size {
        let msg = match op {
            PatchOperation::Replace(_) => {
                format!("replace operation does not apply: doc is missing key: {path}: missing value")
            }
            PatchOperation::Add(_) => {
                format!(
                    "error in add for path: '{path}': Unable to access invalid index: {raw}: invalid index referenced"
                )
            }
            _ => format!(
                "error in remove for path: '{path}': Unable to access invalid index: {raw}: invalid index referenced"
            ),
        };
        return Err(Error::new(ErrorKind::Patch, msg));
    }
    with_path(op, format!("{parent}/{idx}")).map(Some)
}

fn apply_one(doc: &mut Value, op: &PatchOperation) -> Result<()> {
    let err = |msg: String| Err(Error::new(ErrorKind::Patch, msg));
    let normalized = normalize_index(doc, op)?;
    let op = normalized.as_ref().unwrap_or(op);
    let single = match op {
        PatchOperation::Replace(r) if key_in_parent_object(doc, &r.path).is_some_and(|(found, _)| !found) => {
            PatchOperation::Add(AddOperation { path: r.path.clone(), value: r.value.clone() })
        }
        PatchOperation::Copy(c) if doc.pointer(c.from.as_str()).is_none() => {
            PatchOperation::Add(AddOperation { path: c.path.clone(), value: Value::Null })
        }
        PatchOperation::Remove(r) => match key_in_parent_object(doc, &r.path) {
            Some((false, key)) => {
                return err(format!(
                    "error in remove for path: '{}': Unable to remove nonexistent key: {key}: missing value",
                    r.path
                ))
            }
            _ => op.clone(),
        },
        PatchOperation::Move(m) => match key_in_parent_object(doc, &m.from) {
            Some((false, key)) => {
                return err(format!(
                    "error in move for path: '{key}': Unable to remove nonexistent key: {key}: missing value"
                ))
            }
            _ => op.clone(),
        },
        other => other.clone(),
    };
    json_patch::patch(doc, std::slice::from_ref(&single))
        .map_err(|e| Error::new(ErrorKind::Patch, message(Some(&single), &e.path.to_string(), &e.kind)))
}

fn message(op: Option<&PatchOperation>, path: &str, kind: &PatchErrorKind) -> String {
    match (op, kind) {
        (Some(PatchOperation::Test(_)), _) => {
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
            format!("move operation does not apply: doc is missing destination path: {path}: missing value")
        }
        (Some(PatchOperation::Copy(_)), _) => {
            format!("copy operation does not apply: doc is missing destination path: {path}: missing value")
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
        let e = run(json!({"data": {}}), json!([{"op": "replace", "path": "/data/zz/y", "value": "x"}])).err();
        assert_eq!(
            e.map(|e| e.detail().to_string()).as_deref(),
            Some("replace operation does not apply: doc is missing path: /data/zz/y: missing value")
        );
        let e = run(json!({}), json!([{"op": "remove", "path": "/x/y"}])).err();
        assert_eq!(
            e.map(|e| e.detail().to_string()).as_deref(),
            Some("remove operation does not apply: doc is missing path: \"/x/y\": missing value")
        );
        let e = run(json!({"data": {}}), json!([{"op": "remove", "path": "/data/zz"}])).err();
        assert_eq!(
            e.map(|e| e.detail().to_string()).as_deref(),
            Some("error in remove for path: '/data/zz': Unable to remove nonexistent key: zz: missing value")
        );
        let e = run(json!({"a": 1}), json!([{"op": "test", "path": "/a", "value": 2}])).err();
        assert_eq!(e.map(|e| e.detail().to_string()).as_deref(), Some("testing value /a failed: test failed"));
    }

    #[test]
    fn go_json_patch_quirks_are_kept() {
        let out = run(
            json!({"data": {"a": "b"}}),
            json!([{"op": "replace", "path": "/data/zz", "value": "x"}, {"op": "copy", "from": "/data/q", "path": "/data/n"}]),
        )
        .expect("applies");
        assert_eq!(out, json!({"data": {"a": "b", "zz": "x", "n": null}}));
    }

    #[test]
    fn array_indices_follow_go_json_patch() {
        let out = run(
            json!({"l": [1, 2, 3]}),
            json!([{"op": "add", "path": "/l/-1", "value": 9}, {"op": "add", "path": "/l/01", "value": 8},
                   {"op": "remove", "path": "/l/-2"}]),
        )
        .expect("applies");
        assert_eq!(out, json!({"l": [1, 8, 2, 9]}));
        let e = run(json!({"l": [1]}), json!([{"op": "add", "path": "/l/4", "value": 9}])).err();
        assert_eq!(
            e.map(|e| e.detail().to_string()).as_deref(),
            Some("error in add for path: '/l/4': Unable to access invalid index: 4: invalid index referenced")
        );
        let e = run(json!({"l": [1]}), json!([{"op": "replace", "path": "/l/5", "value": 9}])).err();
        assert_eq!(
            e.map(|e| e.detail().to_string()).as_deref(),
            Some("replace operation does not apply: doc is missing key: /l/5: missing value")
        );
    }

    #[test]
    fn unknown_op_is_a_clear_error() {
        let e = parse(&json!([{"op": "frob", "path": "/a"}])).expect_err("fails");
        assert!(e.detail().contains("each entry needs 'op'"), "{}", e.detail());
    }
}
