//! Filters for manifests that minijinja does not ship (`default`, `indent`, `join`,
//! `lower`, `replace`, ... come with it): `b64encode`, `b64decode`, `sha256`,
//! `to_yaml`, `to_json` (also under minijinja's name `tojson`, which would otherwise
//! return markup-safe text), and `quote`. Part of the template stage (issue 4).
//!
//! None of them can mark text as safe: their results are values like any other
//! and go through the placeholder formatter.
//!
//! Text filters that read characters (`upper`, `lower`, `capitalize`, `title`,
//! `replace`, `reverse`, `first`, `last`, `length`/`count`) are wrapped: captured
//! template text (`{% set %}` blocks, macro output) holds placeholders, so its
//! placeholders are first expanded to the values' text and the filter works on
//! that; the result is a value, so it lands in one scalar. `indent` and `trim`
//! only touch whitespace around placeholders and keep the captured structure.

use super::slots::{self, Slot};
use base64::Engine as _;
use minijinja::value::{Object, ObjectRepr, Value};
use minijinja::{Error, ErrorKind};
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

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

/// Registers the filters on `env`; `table` holds the render's slots, for the
/// wrapped text filters.
pub(crate) fn register(env: &mut minijinja::Environment<'_>, table: &Arc<Mutex<Vec<Slot>>>) {
    let t = Arc::clone(table);
    env.add_filter("upper", move |v: Value| Ok::<_, Error>(Value::from(expanded(&t, &v)?.to_uppercase())));
    let t = Arc::clone(table);
    env.add_filter("lower", move |v: Value| Ok::<_, Error>(Value::from(expanded(&t, &v)?.to_lowercase())));
    let t = Arc::clone(table);
    env.add_filter("capitalize", move |v: Value| {
        let s = expanded(&t, &v)?;
        let mut chars = s.chars();
        let out: String = match chars.next() {
            Some(c) => c.to_uppercase().chain(chars.flat_map(char::to_lowercase)).collect(),
            None => String::new(),
        };
        Ok::<_, Error>(Value::from(out))
    });
    let t = Arc::clone(table);
    env.add_filter("title", move |v: Value| {
        Ok::<_, Error>(Value::from(minijinja::filters::title(expanded(&t, &v)?.into())))
    });
    let t = Arc::clone(table);
    env.add_filter("replace", move |v: Value, from: Value, to: Value, count: Option<usize>| {
        let (s, from, to) = (expanded(&t, &v)?, expanded(&t, &from)?, expanded(&t, &to)?);
        Ok::<_, Error>(Value::from(match count {
            Some(n) => s.replacen(&from, &to, n),
            None => s.replace(&from, &to),
        }))
    });
    let t = Arc::clone(table);
    env.add_filter("reverse", move |v: Value| minijinja::filters::reverse(&as_text(&t, v)?));
    let t = Arc::clone(table);
    env.add_filter("first", move |v: Value| minijinja::filters::first(&as_text(&t, v)?));
    let t = Arc::clone(table);
    env.add_filter("last", move |v: Value| minijinja::filters::last(as_text(&t, v)?));
    for name in ["length", "count"] {
        let t = Arc::clone(table);
        env.add_filter(name, move |v: Value| minijinja::filters::length(&as_text(&t, v)?));
    }
    env.add_filter("b64encode", b64encode);
    env.add_filter("b64decode", b64decode);
    env.add_filter("sha256", sha256);
    env.add_filter("to_yaml", to_yaml);
    env.add_filter("to_json", to_json);
    env.add_filter("tojson", to_json);
    env.add_filter("quote", quote);
    env.add_filter("safe", safe);
}

/// A string value with its placeholders replaced by the values' text (other
/// values as they display).
fn expanded(table: &Mutex<Vec<Slot>>, value: &Value) -> Result<String, Error> {
    let text = text_of(value);
    if !slots::has_marker(&text) {
        return Ok(text);
    }
    let table = table.lock().unwrap_or_else(PoisonError::into_inner);
    slots::expand(&text, &table).map_err(|m| Error::new(ErrorKind::InvalidOperation, m))
}

/// Strings expanded as by [`expanded`]; lists and maps unchanged.
fn as_text(table: &Mutex<Vec<Slot>>, value: Value) -> Result<Value, Error> {
    match value.as_str() {
        Some(_) => Ok(Value::from(expanded(table, &value)?)),
        None => Ok(value),
    }
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
