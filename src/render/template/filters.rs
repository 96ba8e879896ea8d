//! Filters for manifests that minijinja does not ship (`default`, `indent`, `join`,
//! `lower`, `replace`, ... come with it): `b64encode`, `b64decode`, `sha256`,
//! `to_yaml`, `to_json` (also under minijinja's name `tojson`, which would otherwise
//! return markup-safe text), and `quote`. Part of the template stage (issue 4).
//!
//! None of them can mark text as safe: their results are values like any other
//! and go through the placeholder formatter.

use base64::Engine as _;
use minijinja::value::{Object, ObjectRepr, Value};
use minijinja::{Error, ErrorKind};
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::Arc;

/// The result of `| quote`: a string that is always a string. As a whole plain
/// YAML scalar it stays a string (never typed); as text it is written quoted.
#[derive(Debug)]
pub(crate) struct Quoted(pub(crate) String);

impl Object for Quoted {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }
    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::render::template::slots::quoted(&self.0))
    }
}

/// Registers the filters on `env`.
pub(crate) fn register(env: &mut minijinja::Environment<'_>) {
    env.add_filter("b64encode", b64encode);
    env.add_filter("b64decode", b64decode);
    env.add_filter("sha256", sha256);
    env.add_filter("to_yaml", to_yaml);
    env.add_filter("to_json", to_json);
    env.add_filter("tojson", to_json);
    env.add_filter("quote", quote);
    env.add_filter("safe", safe);
}

fn text_of(value: &Value) -> String {
    match value.downcast_object_ref::<Quoted>() {
        Some(q) => q.0.clone(),
        None => value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string()),
    }
}

fn b64encode(value: Value) -> String {
    base64::engine::general_purpose::STANDARD.encode(text_of(&value))
}

fn b64decode(value: Value) -> Result<String, Error> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text_of(&value).trim())
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("b64decode: the value is not base64 ({e})")))?;
    String::from_utf8(bytes)
        .map_err(|_| Error::new(ErrorKind::InvalidOperation, "b64decode: the decoded bytes are not UTF-8 text"))
}

fn sha256(value: Value) -> String {
    let digest = Sha256::digest(text_of(&value).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn json_of(value: &Value) -> Result<serde_json::Value, Error> {
    if let Some(q) = value.downcast_object_ref::<Quoted>() {
        return Ok(serde_json::Value::String(q.0.clone()));
    }
    serde_json::to_value(value)
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("cannot convert the value to data: {e}")))
}

fn to_yaml(value: Value) -> Result<String, Error> {
    Ok(crate::render::yaml::emit::to_yaml(&json_of(&value)?))
}

fn to_json(value: Value, indent: Option<usize>) -> Result<String, Error> {
    let data = json_of(&value)?;
    let text = match indent {
        None => serde_json::to_string(&data),
        Some(n) => {
            let pad = " ".repeat(n);
            let mut buf = Vec::new();
            let formatter = serde_json::ser::PrettyFormatter::with_indent(pad.as_bytes());
            let mut ser = serde_json::Serializer::with_formatter(&mut buf, formatter);
            serde::Serialize::serialize(&data, &mut ser)
                .map(|()| String::from_utf8(buf).expect("serde_json writes UTF-8"))
        }
    };
    text.map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("to_json: {e}")))
}

fn quote(value: Value) -> Value {
    Value::from_object(Quoted(text_of(&value)))
}

/// `safe` would let a value's text through unparsed, so kcmp refuses it.
fn safe(_value: Value) -> Result<Value, Error> {
    Err(Error::new(
        ErrorKind::InvalidOperation,
        "the `safe` filter is not available: interpolated values always stay inside one scalar; build structure with `{% if %}`, `{% for %}` or macros",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoders_round_trip_and_hash() {
        assert_eq!(b64encode(Value::from("admin")), "YWRtaW4=");
        assert_eq!(b64decode(Value::from("YWRtaW4=")).expect("decodes"), "admin");
        assert_eq!(sha256(Value::from("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        let err = b64decode(Value::from("%%%")).expect_err("not base64");
        assert!(err.to_string().contains("b64decode: the value is not base64"), "{err}");
    }

    #[test]
    fn to_json_is_compact_or_indented() {
        let v = Value::from(minijinja::value::Serde(serde_json::json!({"b": [1, "x"], "a": true})));
        assert_eq!(to_json(v.clone(), None).expect("json"), r#"{"b":[1,"x"],"a":true}"#);
        assert_eq!(to_json(v, Some(1)).expect("json"), "{\n \"b\": [\n  1,\n  \"x\"\n ],\n \"a\": true\n}");
    }

    #[test]
    fn quote_renders_a_json_string_literal() {
        assert_eq!(quote(Value::from("a\"b")).to_string(), r#""a\"b""#);
    }
}
