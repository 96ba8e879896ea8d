//! YAML/JSON text -> ordered JSON documents, resolving plain scalars the way
//! Kustomize 5.5 ends up seeing them (go-yaml v3 resolution, then Go's JSON
//! encoding): `yes`/`on` stay strings, `0755` is octal, `0x10` hex, `1_000` an
//! int, timestamps become RFC 3339 strings. Anchors and aliases are expanded,
//! `<<` merge keys applied, duplicate keys rejected.
//!
//! The scalar step is a hook ([`ScalarHook`]) so the template layer can parse a
//! rendered template whose scalars still hold placeholders and substitute values
//! *after* the structure is fixed (docs: issue "Templates", structure safety).

use saphyr_parser::{Event, Parser, ScalarStyle as SaphyrStyle, Span};
use serde_json::{Map, Number, Value};
use std::collections::HashMap;

/// How a scalar was written; decides whether it is resolved by type or kept a string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalarStyle {
    /// Unquoted.
    Plain,
    /// `'single'`.
    SingleQuoted,
    /// `"double"`.
    DoubleQuoted,
    /// `|` block.
    Literal,
    /// `>` block.
    Folded,
}

/// Where a scalar sits in its document, so a hook can treat keys differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalarRole {
    /// A mapping key.
    Key,
    /// A value (mapping value, sequence item or document root).
    Value,
}

/// A parse failure with its 1-based line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    /// What is wrong.
    pub message: String,
    /// 1-based line of the problem.
    pub line: usize,
}

/// One parsed document and the line it starts on.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// The document's value (`Value::Null` for an empty document).
    pub value: Value,
    /// 1-based line where the document's content starts.
    pub line: usize,
}

/// Turns one scalar's text into a JSON value. The default is [`resolve_scalar`].
pub trait ScalarHook {
    /// `text` is the scalar's content after YAML unescaping; `tag` the explicit tag
    /// (`!!str` written as `tag:yaml.org,2002:str`), if any.
    fn scalar(
        &self,
        text: &str,
        style: ScalarStyle,
        tag: Option<&str>,
        role: ScalarRole,
    ) -> std::result::Result<Value, String>;

    /// Whether a repeated mapping key replaces the earlier value instead of
    /// failing the parse (go-yaml v2's plain `Unmarshal` lets the last one win).
    fn last_key_wins(&self) -> bool {
        false
    }
}

/// The go-yaml rules a text is read with; Kustomize uses both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GoYaml {
    /// go-yaml v3 (the default): resources, kustomizations, strategic-merge patches.
    V3,
    /// go-yaml v2: YAML 1.1 booleans (`yes`, `on`, `y`, `off`, …), timestamps
    /// left as written, repeated keys allowed. Kustomize reads JSON-patch text
    /// this way (sigs.k8s.io/yaml's YAMLToJSON).
    V2,
}

impl ScalarHook for GoYaml {
    fn scalar(
        &self,
        text: &str,
        style: ScalarStyle,
        tag: Option<&str>,
        _role: ScalarRole,
    ) -> std::result::Result<Value, String> {
        match self {
            GoYaml::V3 => resolve_scalar(text, style, tag),
            GoYaml::V2 => resolve_scalar_yaml11(text, style, tag),
        }
    }

    fn last_key_wins(&self) -> bool {
        *self == GoYaml::V2
    }
}

/// go-yaml v2's view of one scalar (see [`GoYaml::V2`]), then Go's JSON view.
pub fn resolve_scalar_yaml11(text: &str, style: ScalarStyle, tag: Option<&str>) -> Result<Value, String> {
    let core = tag.and_then(|t| t.strip_prefix("tag:yaml.org,2002:"));
    let typed =
        (style == ScalarStyle::Plain && tag.is_none()) || matches!(core, Some("bool" | "int" | "float" | "null"));
    if typed {
        if let Some(b) = yaml11_bool(text) {
            return Ok(Value::Bool(b));
        }
        // go-yaml v2 hands an untagged timestamp to an interface{} as its text.
        if tag.is_none() && timestamp(text).is_some() {
            return Ok(Value::String(text.to_string()));
        }
    }
    resolve_scalar(text, style, tag)
}

/// Parses a multi-document YAML (or JSON) stream with go-yaml v3 scalar rules.
pub fn parse_stream(text: &str) -> Result<Vec<Document>, YamlError> {
    parse_stream_with(text, &GoYaml::V3)
}

/// Parses a stream, turning every scalar into a value through `hook`.
pub fn parse_stream_with(text: &str, hook: &dyn ScalarHook) -> Result<Vec<Document>, YamlError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // A block scalar that runs to the end of a file without a final newline has
    // no final line break (YAML 1.2 §8.1.1.2; go-yaml agrees), saphyr adds one.
    let unterminated_end = (!text.is_empty() && !text.ends_with('\n')).then(|| text.chars().count());
    let mut builder = Builder { hook, anchors: HashMap::new(), stack: Vec::new(), docs: Vec::new(), unterminated_end };
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| YamlError { message: e.info().to_string(), line: e.marker().line() })?;
        builder.event(event, span)?;
    }
    Ok(builder.docs)
}

enum Frame {
    Seq { items: Vec<Value>, anchor: usize },
    Map { map: Map<String, Value>, key: Option<Key>, anchor: usize, merges: Vec<Value> },
    Doc { line: usize, value: Option<Value> },
}

/// A pending mapping key: its text and whether it is a plain `<<` (a merge
/// key; a quoted or substituted `"<<"` is an ordinary key, as in go-yaml).
struct Key {
    text: String,
    merge: bool,
}

struct Builder<'h> {
    hook: &'h dyn ScalarHook,
    anchors: HashMap<usize, Value>,
    stack: Vec<Frame>,
    docs: Vec<Document>,
    unterminated_end: Option<usize>,
}

fn line_of(span: &Span) -> usize {
    span.start.line()
}

impl Builder<'_> {
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), YamlError> {
        let line = line_of(&span);
        if matches!(event, Event::Scalar(..) | Event::MappingStart(..) | Event::SequenceStart(..) | Event::Alias(_)) {
            if let Some(Frame::Doc { line: doc_line, value: None }) = self.stack.last_mut() {
                *doc_line = line;
            }
        }
        match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
            Event::DocumentStart(_) => self.stack.push(Frame::Doc { line, value: None }),
            Event::DocumentEnd => {
                if let Some(Frame::Doc { line, value }) = self.stack.pop() {
                    self.docs.push(Document { value: value.unwrap_or(Value::Null), line });
                }
            }
            Event::Alias(id) => {
                let v = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| YamlError { message: "unknown anchor referenced by alias".into(), line })?;
                self.push_value(v, line, true)?;
            }
            Event::Scalar(mut text, style, anchor, tag) => {
                let block = matches!(style, SaphyrStyle::Literal | SaphyrStyle::Folded);
                if block && self.unterminated_end.is_some_and(|end| span.end.index() >= end) && text.ends_with('\n') {
                    text.to_mut().pop();
                }
                let style = match style {
                    SaphyrStyle::Plain => ScalarStyle::Plain,
                    SaphyrStyle::SingleQuoted => ScalarStyle::SingleQuoted,
                    SaphyrStyle::DoubleQuoted => ScalarStyle::DoubleQuoted,
                    SaphyrStyle::Literal => ScalarStyle::Literal,
                    SaphyrStyle::Folded => ScalarStyle::Folded,
                };
                let tag = tag.map(|t| format!("{}{}", t.handle, t.suffix));
                let role = match self.stack.last() {
                    Some(Frame::Map { key: None, .. }) => ScalarRole::Key,
                    _ => ScalarRole::Value,
                };
                let v = self
                    .hook
                    .scalar(&text, style, tag.as_deref(), role)
                    .map_err(|message| YamlError { message, line })?;
                if anchor > 0 {
                    self.anchors.insert(anchor, v.clone());
                }
                let is_merge_key = role == ScalarRole::Key && style == ScalarStyle::Plain && text == "<<";
                self.push_value(v, line, is_merge_key)?;
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq { items: Vec::new(), anchor }),
            Event::SequenceEnd => {
                if let Some(Frame::Seq { items, anchor }) = self.stack.pop() {
                    let v = Value::Array(items);
                    if anchor > 0 {
                        self.anchors.insert(anchor, v.clone());
                    }
                    self.push_value(v, line, false)?;
                }
            }
            Event::MappingStart(anchor, _) => {
                self.stack.push(Frame::Map { map: Map::new(), key: None, anchor, merges: Vec::new() })
            }
            Event::MappingEnd => {
                if let Some(Frame::Map { mut map, anchor, merges, .. }) = self.stack.pop() {
                    apply_merges(&mut map, merges, line)?;
                    let v = Value::Object(map);
                    if anchor > 0 {
                        self.anchors.insert(anchor, v.clone());
                    }
                    self.push_value(v, line, false)?;
                }
            }
        }
        Ok(())
    }

    /// Places a finished value into the enclosing frame. `merge_marker` is true for
    /// a plain `<<` key (and for aliases, which never act as keys here).
    fn push_value(&mut self, v: Value, line: usize, merge_marker: bool) -> Result<(), YamlError> {
        match self.stack.last_mut() {
            Some(Frame::Seq { items, .. }) => items.push(v),
            Some(Frame::Map { map, key, merges, .. }) => match key.take() {
                None => {
                    let merge = merge_marker && v == Value::String("<<".into());
                    let text = key_string(&v);
                    if !merge && !self.hook.last_key_wins() && map.contains_key(&text) {
                        return Err(YamlError { message: format!("mapping key {text:?} already defined"), line });
                    }
                    *key = Some(Key { text, merge });
                }
                Some(Key { text, merge }) => {
                    if merge && merge_marker_allowed(&v) {
                        merges.push(v);
                    } else {
                        map.insert(text, v);
                    }
                }
            },
            Some(Frame::Doc { value, .. }) => *value = Some(v),
            None => {}
        }
        Ok(())
    }
}

fn merge_marker_allowed(v: &Value) -> bool {
    match v {
        Value::Object(_) => true,
        Value::Array(items) => items.iter().all(Value::is_object),
        _ => false,
    }
}

/// `<<: *base` (or a list of them): keys already present win, earlier merges win.
fn apply_merges(map: &mut Map<String, Value>, merges: Vec<Value>, _line: usize) -> Result<(), YamlError> {
    if merges.is_empty() {
        return Ok(());
    }
    let mut sources = Vec::new();
    for m in merges {
        match m {
            Value::Object(o) => sources.push(o),
            Value::Array(items) => sources.extend(items.into_iter().filter_map(|i| match i {
                Value::Object(o) => Some(o),
                _ => None,
            })),
            _ => {}
        }
    }
    let mut merged = Map::new();
    for src in sources {
        for (k, v) in src {
            if !merged.contains_key(&k) {
                merged.insert(k, v);
            }
        }
    }
    for (k, v) in std::mem::take(map) {
        merged.insert(k, v);
    }
    *map = merged;
    Ok(())
}

/// JSON object keys are strings; other scalar keys print as Go would (`1`, `true`).
fn key_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// go-yaml v3 resolution of one scalar, followed by Go's JSON view of the result.
pub fn resolve_scalar(text: &str, style: ScalarStyle, tag: Option<&str>) -> Result<Value, String> {
    const CORE: &str = "tag:yaml.org,2002:";
    let core = tag.and_then(|t| t.strip_prefix(CORE));
    match (core, tag) {
        (Some("str"), _) | (Some("binary"), _) => return Ok(Value::String(text.to_string())),
        (Some("null"), _) => return Ok(Value::Null),
        (Some("bool"), _) | (Some("int"), _) | (Some("float"), _) | (Some("timestamp"), _) => {
            let v = resolve_plain(text);
            return if v.is_string() && core != Some("timestamp") {
                Err(format!("cannot decode {text:?} as !!{}", core.unwrap_or_default()))
            } else {
                Ok(v)
            };
        }
        (_, Some(_)) if style != ScalarStyle::Plain => return Ok(Value::String(text.to_string())),
        _ => {}
    }
    if style != ScalarStyle::Plain {
        return Ok(Value::String(text.to_string()));
    }
    let v = resolve_plain(text);
    if let Value::String(s) = &v {
        if is_inf_or_nan(s) {
            return Err(format!("json: unsupported value: {s} (infinity and NaN cannot be rendered)"));
        }
    }
    Ok(v)
}

/// YAML 1.1's boolean words (go-yaml v2's resolve table) and their values.
/// go-yaml v3 reads only `true`/`false` forms but still quotes all of these.
pub(crate) fn yaml11_bool(s: &str) -> Option<bool> {
    match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => Some(true),
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

/// go-yaml's spellings of infinity and NaN.
pub(crate) fn is_inf_or_nan(s: &str) -> bool {
    matches!(
        s,
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF" | ".nan" | ".NaN" | ".NAN"
    )
}

/// Resolves an untagged plain scalar.
pub fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let first = text.as_bytes()[0];
    if first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.' {
        if first != b'.' {
            if let Some(ts) = timestamp(text) {
                return Value::String(ts);
            }
        }
        let plain: String = text.chars().filter(|&c| c != '_').collect();
        if let Some(n) = go_parse_int(&plain) {
            return Value::Number(n);
        }
        if yaml_style_float(&plain) || first == b'.' {
            if let Ok(f) = plain.parse::<f64>() {
                if let Some(n) = Number::from_f64(f) {
                    return Value::Number(n);
                }
            }
        }
    }
    Value::String(text.to_string())
}

/// Go's `strconv.ParseInt(s, 0, 64)` then `ParseUint`: sign, `0x`/`0o`/`0b`/leading-0 octal.
fn go_parse_int(s: &str) -> Option<Number> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    let (radix, digits) = if let Some(d) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        (16, d)
    } else if let Some(d) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        (8, d)
    } else if let Some(d) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        (2, d)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let mag = u64::from_str_radix(digits, radix).ok()?;
    if neg {
        if mag <= i64::MAX as u64 + 1 {
            return Some(Number::from((mag as i128).wrapping_neg() as i64));
        }
        None
    } else if mag <= i64::MAX as u64 {
        Some(Number::from(mag as i64))
    } else {
        Some(Number::from(mag))
    }
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
pub(crate) fn yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if int_digits == 0 && i == frac_start {
            return false;
        }
    } else if int_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == b.len()
}

/// go-yaml's timestamp forms, re-printed as Go's JSON encoding of `time.Time`
/// (RFC 3339 with trimmed nanoseconds). Returns None when `s` is not one.
fn timestamp(s: &str) -> Option<String> {
    let b = s.as_bytes();
    // Quick reject, as go-yaml does: needs `dddd-`.
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    let (date, rest) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mut parts = date.split('-');
    let year: u32 = num(parts.next()?, 4, 4)?;
    let month: u32 = num(parts.next()?, 1, 2)?;
    let day: u32 = num(parts.next()?, 1, 2)?;
    if parts.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let Some(rest) = rest else {
        return Some(format!("{year:04}-{month:02}-{day:02}T00:00:00Z"));
    };
    let space_form = s.as_bytes()[date.len()] == b' ';
    let rest = rest.trim_start_matches([' ', '\t']);
    // split time and zone
    let zone_at = rest.find(['Z', 'z', '+']).or_else(|| rest.rfind('-'));
    let (time, zone) = match zone_at {
        Some(i) => (rest[..i].trim_end(), &rest[i..]),
        None => (rest, ""),
    };
    if space_form && !zone.is_empty() && zone != "Z" {
        // "2006-1-2 15:4:5.999999999" only; zones need the T form
        return None;
    }
    let (hms, frac) = match time.split_once('.') {
        Some((h, f)) if !f.is_empty() && f.chars().all(|c| c.is_ascii_digit()) => (h, f),
        Some(_) => return None,
        None => (time, ""),
    };
    let mut t = hms.split(':');
    let hour: u32 = num(t.next()?, 1, 2)?;
    let min: u32 = num(t.next()?, 1, 2)?;
    let sec: u32 = num(t.next()?, 1, 2)?;
    if t.next().is_some() || hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    let frac = frac.trim_end_matches('0');
    let frac = if frac.is_empty() { String::new() } else { format!(".{}", &frac[..frac.len().min(9)]) };
    let zone = match zone {
        "" | "Z" | "z" => "Z".to_string(),
        z => {
            let sign = &z[..1];
            let (h, m) = z[1..].split_once(':').unwrap_or((&z[1..], "00"));
            let h: u32 = num(h, 1, 2)?;
            let m: u32 = num(m, 2, 2)?;
            if h == 0 && m == 0 {
                "Z".to_string()
            } else {
                format!("{sign}{h:02}:{m:02}")
            }
        }
    };
    Some(format!("{year:04}-{month:02}-{day:02}T{hour:02}:{min:02}:{sec:02}{frac}{zone}"))
}

fn num(s: &str, min: usize, max: usize) -> Option<u32> {
    if s.len() < min || s.len() > max || !s.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(text: &str) -> Value {
        parse_stream(text).expect("parses").remove(0).value
    }

    #[test]
    fn scalars_resolve_like_kubectl_kustomize() {
        // Each value checked against `kubectl kustomize` (v5.5.0) on this machine.
        let v = one("a: 2001-01-01\nb: yes\nc: 0755\nd: 0x10\ne: 1e3\nf: 1.0\ng: 12345678901234567890\nh: 1_000\ni: 0o17\nj: .5\nk: +3\nl: ~\nm: 2001-12-14 21:59:43.10\nn: 2001-12-14t21:59:43.10-05:00\ns: -0\nt: 0b101\nu: True\n\"on\": off\nz: !!str 12\n");
        assert_eq!(
            v,
            json!({"a": "2001-01-01T00:00:00Z", "b": "yes", "c": 493, "d": 16, "e": 1000.0, "f": 1.0,
                   "g": 12345678901234567890u64, "h": 1000, "i": 15, "j": 0.5, "k": 3, "l": null,
                   "m": "2001-12-14T21:59:43.1Z", "n": "2001-12-14T21:59:43.1-05:00", "s": 0, "t": 5,
                   "u": true, "on": "off", "z": "12"})
        );
    }

    #[test]
    fn anchors_aliases_and_merge_keys_expand() {
        let v = one("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\nlist: [*b]\n");
        assert_eq!(v, json!({"base": {"x": 1, "y": 2}, "other": {"x": 1, "y": 3}, "list": [{"x": 1, "y": 2}]}));
    }

    #[test]
    fn multi_document_streams_keep_empty_documents_as_null() {
        let docs = parse_stream("a: 1\n---\n---\nb: 2\n").expect("parses");
        let values: Vec<_> = docs.iter().map(|d| d.value.clone()).collect();
        assert_eq!(values, vec![json!({"a": 1}), Value::Null, json!({"b": 2})]);
        assert_eq!(docs[2].line, 4);
    }

    #[test]
    fn duplicate_keys_are_errors_with_line() {
        let err = parse_stream("a: 1\nb: 2\na: 3\n").expect_err("duplicate");
        assert_eq!(err.message, "mapping key \"a\" already defined");
        assert_eq!(err.line, 3);
    }

    #[test]
    fn json_patch_text_resolves_yaml_1_1_scalars_like_go_yaml_v2() {
        // Checked against `kubectl kustomize` with a JSON patch carrying these values.
        let docs = parse_stream_with(
            "a: [yes, On, y, N, off, \"yes\", !!str no, !!bool yes]\nb: [2001-12-14, 0o17, 012, 1_000, 1:20]\nyes: 1\non: 2\n",
            &GoYaml::V2,
        )
        .expect("parses");
        assert_eq!(
            docs[0].value,
            json!({"a": [true, true, true, false, false, "yes", "no", true],
                   "b": ["2001-12-14", 15, 10, 1000, "1:20"], "true": 2})
        );
    }

    #[test]
    fn infinity_is_refused_as_go_json_does() {
        let err = parse_stream("a: .inf\n").expect_err("inf");
        assert!(err.message.contains("unsupported value"), "{}", err.message);
    }

    #[test]
    fn syntax_errors_carry_a_line() {
        let err = parse_stream("a: 1\nb: [\n").expect_err("broken");
        assert!(err.line >= 2, "{err:?}");
    }
}
