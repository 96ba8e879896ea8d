//! The function table: Go's built-ins (`and`/`or` live in `exec` because they
//! short-circuit), the Sprig functions ApplicationSets commonly use, and Argo
//! CD's own `normalize`, `slugify`, `toYaml`, `fromYaml`, `fromYamlArray`
//! (docs/controller-appset.md §3.2). Sprig's `env`, `expandenv` and
//! `getHostByName` are deliberately absent, as in Argo CD.
//!
//! Deviations: `fromYaml` on bad YAML is an error (Argo CD returns a map with
//! an `Error` key, which would render as a silently wrong Application);
//! string functions stringify non-string arguments and take a
//! missing value as "" (Go refuses both with a type error).

use super::exec::{fixed_notation, format_v, truthy, type_name};
use crate::controller::appset::params::{go_numbers, sanitize_name};
use base64::Engine as _;
use serde_json::{Map, Value};
use sha2::Digest as _;

type V = Option<Value>;
type R<T> = Result<T, String>;

/// Every function name [`call`] knows, so the parser can reject an unknown
/// one even inside a branch that never runs (Go checks at parse time).
pub(super) const NAMES: &[&str] = &[
    "and",
    "or",
    "not",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "len",
    "index",
    "print",
    "println",
    "printf",
    "normalize",
    "slugify",
    "toYaml",
    "fromYaml",
    "fromYamlArray",
    "upper",
    "lower",
    "title",
    "trim",
    "trimAll",
    "trimPrefix",
    "trimSuffix",
    "replace",
    "repeat",
    "substr",
    "trunc",
    "nospace",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "quote",
    "squote",
    "cat",
    "indent",
    "nindent",
    "splitList",
    "split",
    "join",
    "toString",
    "regexMatch",
    "regexFind",
    "regexReplaceAll",
    "default",
    "empty",
    "coalesce",
    "ternary",
    "toJson",
    "toRawJson",
    "toPrettyJson",
    "fromJson",
    "b64enc",
    "b64dec",
    "sha256sum",
    "list",
    "first",
    "last",
    "rest",
    "append",
    "push",
    "has",
    "uniq",
    "sortAlpha",
    "dict",
    "get",
    "dig",
    "pick",
    "omit",
    "compact",
    "hasKey",
    "keys",
    "add",
    "mul",
    "max",
    "min",
    "add1",
    "sub",
    "div",
    "mod",
    "int",
    "int64",
    "atoi",
    "float64",
];

/// Calls `name` with evaluated arguments (the piped value last).
pub(super) fn call(name: &str, args: Vec<V>) -> R<V> {
    let args: Vec<Value> = args.into_iter().map(|a| a.unwrap_or(Value::Null)).collect();
    let out = dispatch(name, &args).map_err(|e| match e {
        Failure::Undefined => format!("function {name:?} not defined"),
        Failure::Arity(want) => format!("wrong number of args for {name}: want {want} got {}", args.len()),
        Failure::Call(msg) => format!("error calling {name}: {msg}"),
    })?;
    Ok(Some(out))
}

enum Failure {
    Undefined,
    Arity(&'static str),
    Call(String),
}

impl From<String> for Failure {
    fn from(s: String) -> Self {
        Failure::Call(s)
    }
}

impl From<&str> for Failure {
    fn from(s: &str) -> Self {
        Failure::Call(s.to_string())
    }
}

fn arity(args: &[Value], n: usize, want: &'static str) -> Result<(), Failure> {
    if args.len() == n {
        Ok(())
    } else {
        Err(Failure::Arity(want))
    }
}

fn s(v: &Value) -> String {
    format_v(v)
}

fn string_value(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        other => format_v(other),
    }
}

fn int(v: &Value) -> Result<i64, String> {
    match v {
        Value::Null => Ok(0),
        Value::Bool(b) => Ok(i64::from(*b)),
        Value::Number(n) => {
            n.as_i64().or_else(|| n.as_f64().map(|f| f.trunc() as i64)).ok_or_else(|| format!("{n} is not an integer"))
        }
        Value::String(t) => t.trim().parse::<i64>().or_else(|_| t.trim().parse::<f64>().map(|f| f as i64)).or(Ok(0)),
        other => Err(format!("cannot convert {} to an integer", type_name(other))),
    }
}

fn float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Null => Ok(0.0),
        Value::Bool(b) => Ok(if *b { 1.0 } else { 0.0 }),
        Value::Number(n) => n.as_f64().ok_or_else(|| format!("{n} is not a number")),
        Value::String(t) => Ok(t.trim().parse::<f64>().unwrap_or(0.0)),
        other => Err(format!("cannot convert {} to a number", type_name(other))),
    }
}

fn list_of(v: &Value) -> Result<Vec<Value>, String> {
    match v {
        Value::Array(items) => Ok(items.clone()),
        Value::Null => Ok(Vec::new()),
        other => Err(format!("cannot use {} as a list", type_name(other))),
    }
}

/// Sprig's notion of empty (also Go template falsiness).
fn empty(v: &Value) -> bool {
    !truthy(&Some(v.clone()))
}

fn float_value(f: f64) -> Value {
    serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)
}

fn dispatch(name: &str, a: &[Value]) -> Result<Value, Failure> {
    let str_arg = |i: usize| a.get(i).map(string_value).unwrap_or_default();
    Ok(match name {
        // Go built-ins
        "not" => {
            arity(a, 1, "1")?;
            Value::Bool(empty(&a[0]))
        }
        "eq" => {
            if a.len() < 2 {
                return Err(Failure::Arity("at least 2"));
            }
            let mut any = false;
            for other in &a[1..] {
                any |= equal(&a[0], other)?;
            }
            Value::Bool(any)
        }
        "ne" => {
            arity(a, 2, "2")?;
            Value::Bool(!equal(&a[0], &a[1])?)
        }
        "lt" | "le" | "gt" | "ge" => {
            arity(a, 2, "2")?;
            let ord = order(&a[0], &a[1])?;
            Value::Bool(match name {
                "lt" => ord.is_lt(),
                "le" => ord.is_le(),
                "gt" => ord.is_gt(),
                _ => ord.is_ge(),
            })
        }
        "len" => {
            arity(a, 1, "1")?;
            Value::from(match &a[0] {
                Value::String(t) => t.len(),
                Value::Array(l) => l.len(),
                Value::Object(m) => m.len(),
                other => return Err(Failure::Call(format!("len of type {}", type_name(other)))),
            })
        }
        "index" => {
            let Some((first, keys)) = a.split_first() else { return Err(Failure::Arity("at least 1")) };
            let mut cur = first.clone();
            for key in keys {
                cur = match (&cur, key) {
                    (Value::Object(m), Value::String(k)) => m.get(k).cloned().unwrap_or(Value::Null),
                    (Value::Array(l), k) => {
                        let i = int(k)?;
                        usize::try_from(i)
                            .ok()
                            .and_then(|i| l.get(i))
                            .cloned()
                            .ok_or_else(|| format!("index out of range: {i}"))?
                    }
                    (Value::Null, _) => return Err(Failure::Call("index of untyped nil".into())),
                    (other, _) => return Err(Failure::Call(format!("can't index item of type {}", type_name(other)))),
                };
            }
            cur
        }
        "print" => Value::String(go_print(a)),
        "println" => Value::String(format!("{}\n", a.iter().map(s).collect::<Vec<_>>().join(" "))),
        "printf" => {
            let Some((fmt, rest)) = a.split_first() else { return Err(Failure::Arity("at least 1")) };
            Value::String(printf(&string_value(fmt), rest))
        }
        // Argo CD
        "normalize" => {
            arity(a, 1, "1")?;
            Value::String(sanitize_name(&str_arg(0)))
        }
        "slugify" => Value::String(slugify(a)?),
        "toYaml" => {
            arity(a, 1, "1")?;
            let text = crate::render::yaml::emit::to_yaml(&canonical(&a[0]));
            Value::String(text.strip_suffix('\n').unwrap_or(&text).to_string())
        }
        "fromYaml" | "fromYamlArray" => {
            arity(a, 1, "1")?;
            let docs =
                crate::render::yaml::parse::parse_stream(&str_arg(0)).map_err(|e| format!("line {}: {e}", e.line))?;
            let value = go_numbers(docs.into_iter().next().map(|d| d.value).unwrap_or(Value::Null));
            match (name, value) {
                ("fromYaml", v @ Value::Object(_)) | ("fromYamlArray", v @ Value::Array(_)) => v,
                ("fromYaml", Value::Null) => Value::Object(Map::new()),
                ("fromYamlArray", Value::Null) => Value::Array(Vec::new()),
                ("fromYaml", other) => {
                    return Err(Failure::Call(format!("expected a YAML map, got {}", type_name(&other))))
                }
                (_, other) => return Err(Failure::Call(format!("expected a YAML list, got {}", type_name(&other)))),
            }
        }
        // Sprig strings
        "upper" => Value::String(str_arg(0).to_uppercase()),
        "lower" => Value::String(str_arg(0).to_lowercase()),
        "title" => Value::String(title(&str_arg(0))),
        "trim" => Value::String(str_arg(0).trim().to_string()),
        "trimAll" => Value::String(str_arg(1).trim_matches(|c| str_arg(0).contains(c)).to_string()),
        "trimPrefix" => Value::String(str_arg(1).strip_prefix(str_arg(0).as_str()).unwrap_or(&str_arg(1)).to_string()),
        "trimSuffix" => Value::String(str_arg(1).strip_suffix(str_arg(0).as_str()).unwrap_or(&str_arg(1)).to_string()),
        "replace" => {
            arity(a, 3, "3")?;
            Value::String(str_arg(2).replace(&str_arg(0), &str_arg(1)))
        }
        "repeat" => {
            arity(a, 2, "2")?;
            Value::String(str_arg(1).repeat(usize::try_from(int(&a[0])?).unwrap_or(0)))
        }
        "substr" => {
            arity(a, 3, "3")?;
            let chars: Vec<char> = str_arg(2).chars().collect();
            let (start, end) = (int(&a[0])?, int(&a[1])?);
            let len = chars.len() as i64;
            let (from, to) = if start < 0 {
                (0, end.clamp(0, len))
            } else if end < 0 || end > len {
                (start.min(len), len)
            } else {
                (start.min(end), end)
            };
            Value::String(chars[from as usize..to as usize].iter().collect())
        }
        "trunc" => {
            arity(a, 2, "2")?;
            let chars: Vec<char> = str_arg(1).chars().collect();
            let n = int(&a[0])?;
            let len = chars.len() as i64;
            Value::String(if n < 0 && -n < len {
                chars[(len + n) as usize..].iter().collect()
            } else if n >= 0 && n < len {
                chars[..n as usize].iter().collect()
            } else {
                chars.iter().collect()
            })
        }
        "nospace" => Value::String(str_arg(0).chars().filter(|c| !c.is_whitespace()).collect()),
        "contains" => Value::Bool(str_arg(1).contains(&str_arg(0))),
        "hasPrefix" => Value::Bool(str_arg(1).starts_with(&str_arg(0))),
        "hasSuffix" => Value::Bool(str_arg(1).ends_with(&str_arg(0))),
        "quote" => {
            Value::String(a.iter().filter(|v| !v.is_null()).map(|v| go_quote(&s(v))).collect::<Vec<_>>().join(" "))
        }
        "squote" => Value::String(
            a.iter().filter(|v| !v.is_null()).map(|v| format!("'{}'", s(v))).collect::<Vec<_>>().join(" "),
        ),
        "cat" => Value::String(a.iter().filter(|v| !v.is_null()).map(s).collect::<Vec<_>>().join(" ")),
        "indent" | "nindent" => {
            arity(a, 2, "2")?;
            let pad = " ".repeat(usize::try_from(int(&a[0])?).unwrap_or(0));
            let body = str_arg(1).split('\n').map(|l| format!("{pad}{l}")).collect::<Vec<_>>().join("\n");
            Value::String(if name == "nindent" { format!("\n{body}") } else { body })
        }
        "splitList" => {
            arity(a, 2, "2")?;
            Value::Array(str_arg(1).split(str_arg(0).as_str()).map(|p| Value::String(p.to_string())).collect())
        }
        "split" => {
            arity(a, 2, "2")?;
            let mut m = Map::new();
            for (i, part) in str_arg(1).split(str_arg(0).as_str()).enumerate() {
                m.insert(format!("_{i}"), Value::String(part.to_string()));
            }
            Value::Object(m)
        }
        "join" => {
            arity(a, 2, "2")?;
            let items = match &a[1] {
                Value::Array(l) => l.iter().filter(|v| !v.is_null()).map(s).collect::<Vec<_>>(),
                other => vec![s(other)],
            };
            Value::String(items.join(&str_arg(0)))
        }
        "toString" => Value::String(str_arg(0)),
        "regexMatch" | "regexFind" | "regexReplaceAll" => {
            let re = regex::Regex::new(&str_arg(0)).map_err(|e| format!("invalid regular expression: {e}"))?;
            match name {
                "regexMatch" => Value::Bool(re.is_match(&str_arg(1))),
                "regexFind" => Value::String(re.find(&str_arg(1)).map(|m| m.as_str().to_string()).unwrap_or_default()),
                _ => {
                    arity(a, 3, "3")?;
                    Value::String(re.replace_all(&str_arg(1), str_arg(2).as_str()).into_owned())
                }
            }
        }
        // Sprig defaults and encodings
        "default" => {
            if a.is_empty() {
                return Err(Failure::Arity("at least 1"));
            }
            match a.get(1) {
                Some(given) if !empty(given) => given.clone(),
                _ => a[0].clone(),
            }
        }
        "empty" => Value::Bool(a.first().is_none_or(empty)),
        "coalesce" => a.iter().find(|v| !empty(v)).cloned().unwrap_or(Value::Null),
        "ternary" => {
            arity(a, 3, "3")?;
            if truthy(&Some(a[2].clone())) {
                a[0].clone()
            } else {
                a[1].clone()
            }
        }
        "toJson" | "toRawJson" | "toPrettyJson" => {
            arity(a, 1, "1")?;
            let mut out = String::new();
            let indent = if name == "toPrettyJson" { Some(0) } else { None };
            go_json(&a[0], indent, name != "toRawJson", &mut out);
            Value::String(out)
        }
        "fromJson" => {
            arity(a, 1, "1")?;
            go_numbers(serde_json::from_str(&str_arg(0)).map_err(|e| format!("invalid JSON: {e}"))?)
        }
        "b64enc" => Value::String(base64::engine::general_purpose::STANDARD.encode(str_arg(0))),
        "b64dec" => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(str_arg(0))
                .map_err(|e| format!("invalid base64: {e}"))?;
            Value::String(String::from_utf8(bytes).map_err(|_| "decoded base64 is not utf-8".to_string())?)
        }
        "sha256sum" => Value::String(format!("{:x}", sha2::Sha256::digest(str_arg(0).as_bytes()))),
        // Sprig lists and dicts
        "list" => Value::Array(a.to_vec()),
        "first" => list_of(a.first().unwrap_or(&Value::Null))?.first().cloned().unwrap_or(Value::Null),
        "last" => list_of(a.first().unwrap_or(&Value::Null))?.last().cloned().unwrap_or(Value::Null),
        "rest" => Value::Array(list_of(a.first().unwrap_or(&Value::Null))?.into_iter().skip(1).collect()),
        "append" | "push" => {
            arity(a, 2, "2")?;
            let mut l = list_of(&a[0])?;
            l.push(a[1].clone());
            Value::Array(l)
        }
        "has" => {
            arity(a, 2, "2")?;
            Value::Bool(list_of(&a[1])?.iter().any(|v| v == &a[0]))
        }
        "uniq" => {
            let mut out: Vec<Value> = Vec::new();
            for v in list_of(a.first().unwrap_or(&Value::Null))? {
                if !out.contains(&v) {
                    out.push(v);
                }
            }
            Value::Array(out)
        }
        "sortAlpha" => {
            let mut l: Vec<String> = list_of(a.first().unwrap_or(&Value::Null))?.iter().map(s).collect();
            l.sort();
            Value::Array(l.into_iter().map(Value::String).collect())
        }
        "dict" => {
            let mut m = Map::new();
            for pair in a.chunks(2) {
                m.insert(string_value(&pair[0]), pair.get(1).cloned().unwrap_or(Value::String(String::new())));
            }
            Value::Object(m)
        }
        "get" => {
            arity(a, 2, "2")?;
            match &a[0] {
                Value::Object(m) => m.get(&str_arg(1)).cloned().unwrap_or(Value::String(String::new())),
                other => return Err(Failure::Call(format!("cannot get a key of {}", type_name(other)))),
            }
        }
        "dig" => {
            // dig "k1" "k2" ... default dict
            if a.len() < 3 {
                return Err(Failure::Arity("at least 3"));
            }
            let (dict, rest) = a.split_last().unwrap_or((&Value::Null, &[]));
            let (default, keys) = rest.split_last().unwrap_or((&Value::Null, &[]));
            let mut cur = dict;
            let mut found = true;
            for k in keys {
                match cur.as_object().and_then(|m| m.get(&string_value(k))) {
                    Some(v) => cur = v,
                    None => {
                        found = false;
                        break;
                    }
                }
            }
            if found {
                cur.clone()
            } else {
                default.clone()
            }
        }
        "pick" | "omit" => {
            let Some((dict, keys)) = a.split_first() else { return Err(Failure::Arity("at least 1")) };
            let keys: Vec<String> = keys.iter().map(string_value).collect();
            let map = dict.as_object().cloned().unwrap_or_default();
            Value::Object(map.into_iter().filter(|(k, _)| keys.contains(k) == (name == "pick")).collect())
        }
        "compact" => {
            Value::Array(list_of(a.first().unwrap_or(&Value::Null))?.into_iter().filter(|v| !empty(v)).collect())
        }
        "hasKey" => {
            arity(a, 2, "2")?;
            Value::Bool(a[0].as_object().is_some_and(|m| m.contains_key(&str_arg(1))))
        }
        "keys" => {
            let mut keys: Vec<String> =
                a.iter().filter_map(Value::as_object).flat_map(|m| m.keys().cloned()).collect::<Vec<_>>();
            keys.sort();
            Value::Array(keys.into_iter().map(Value::String).collect())
        }
        // Sprig math: integer arithmetic like Sprig (arguments converted to int64)
        "add" | "mul" | "max" | "min" => {
            if a.is_empty() {
                return Err(Failure::Arity("at least 1"));
            }
            let mut acc = int(&a[0])?;
            for v in &a[1..] {
                let n = int(v)?;
                acc = match name {
                    "add" => acc.checked_add(n).ok_or("integer overflow")?,
                    "mul" => acc.checked_mul(n).ok_or("integer overflow")?,
                    "max" => acc.max(n),
                    _ => acc.min(n),
                };
            }
            Value::from(acc)
        }
        "add1" => Value::from(int(a.first().unwrap_or(&Value::Null))?.saturating_add(1)),
        "sub" | "div" | "mod" => {
            arity(a, 2, "2")?;
            let (x, y) = (int(&a[0])?, int(&a[1])?);
            Value::from(match name {
                "sub" => x.checked_sub(y).ok_or("integer overflow")?,
                "div" => x.checked_div(y).ok_or("integer divide by zero")?,
                _ => x.checked_rem(y).ok_or("integer divide by zero")?,
            })
        }
        "int" | "int64" | "atoi" => Value::from(int(a.first().unwrap_or(&Value::Null))?),
        "float64" => float_value(float(a.first().unwrap_or(&Value::Null))?),
        _ => return Err(Failure::Undefined),
    })
}

/// Go's basic kinds for comparison: an integer and a float64 are different
/// kinds (all params are float64, as JSON decodes them; literals like `1`
/// and results of `len`/`add` are ints).
fn number_kind(n: &serde_json::Number) -> u8 {
    if n.is_f64() {
        1
    } else {
        0
    }
}

/// Go's template `eq` on basic values: a nil or missing value equals only nil;
/// values of different kinds are an error.
fn equal(x: &Value, y: &Value) -> Result<bool, String> {
    Ok(match (x, y) {
        (Value::Null, b) | (b, Value::Null) => b.is_null(),
        (Value::Number(p), Value::Number(q)) if number_kind(p) == number_kind(q) => p.as_f64() == q.as_f64(),
        (Value::String(p), Value::String(q)) => p == q,
        (Value::Bool(p), Value::Bool(q)) => p == q,
        (Value::Array(_), _) | (Value::Object(_), _) | (_, Value::Array(_)) | (_, Value::Object(_)) => {
            return Err(format!("uncomparable type {}", type_name(if x.is_array() || x.is_object() { x } else { y })));
        }
        _ => return Err("incompatible types for comparison".to_string()),
    })
}

fn order(x: &Value, y: &Value) -> Result<std::cmp::Ordering, String> {
    match (x, y) {
        (Value::Number(p), Value::Number(q)) if number_kind(p) == number_kind(q) => {
            p.as_f64().partial_cmp(&q.as_f64()).ok_or_else(|| "invalid type for comparison".to_string())
        }
        (Value::String(p), Value::String(q)) => Ok(p.cmp(q)),
        (Value::Number(_), Value::Number(_))
        | (Value::Number(_), Value::String(_))
        | (Value::String(_), Value::Number(_)) => Err("incompatible types for comparison".to_string()),
        _ => Err("invalid type for comparison".to_string()),
    }
}

/// `fmt.Sprint`: spaces only between operands when neither is a string.
fn go_print(a: &[Value]) -> String {
    let mut out = String::new();
    for (i, v) in a.iter().enumerate() {
        if i > 0 && !v.is_string() && !a[i - 1].is_string() {
            out.push(' ');
        }
        out.push_str(&s(v));
    }
    out
}

fn go_quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| format!("\"{text}\""))
}

/// `fmt.Sprintf` for the verbs templates use: `%s %v %d %q %t %f %x %%` with
/// the `-` and `0` flags, a width and a precision; mismatches print Go's
/// `%!verb(type=value)` markers.
fn printf(fmt: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut chars = fmt.chars().peekable();
    let mut next = args.iter();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut left, mut zero) = (false, false);
        while let Some(&f) = chars.peek() {
            match f {
                '-' => left = true,
                '0' => zero = true,
                '+' | ' ' | '#' => {}
                _ => break,
            }
            chars.next();
        }
        let mut width = String::new();
        while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
            width.push(d);
            chars.next();
        }
        let mut precision = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                p.push(d);
                chars.next();
            }
            precision = Some(p.parse::<usize>().unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = next.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let bad = |arg: &Value| format!("%!{verb}({}={})", type_name(arg), s(arg));
        let text = match (verb, arg) {
            ('v', _) => s(arg),
            ('s', Value::String(t)) => match precision {
                Some(p) => t.chars().take(p).collect(),
                None => t.clone(),
            },
            ('s', Value::Null) => "%!s(<nil>)".to_string(),
            ('s', Value::Number(_) | Value::Bool(_)) => bad(arg),
            ('s', _) => s(arg),
            ('d', Value::Number(n)) if !n.is_f64() => s(arg),
            ('q', Value::String(t)) => go_quote(t),
            ('t', Value::Bool(b)) => b.to_string(),
            ('x', Value::Number(n)) if !n.is_f64() => format!("{:x}", n.as_i64().unwrap_or(0)),
            ('x', Value::String(t)) => t.bytes().map(|b| format!("{b:02x}")).collect(),
            ('f', Value::Number(n)) if n.is_f64() => {
                format!("{:.*}", precision.unwrap_or(6), n.as_f64().unwrap_or(0.0))
            }
            _ => bad(arg),
        };
        let width = width.parse::<usize>().unwrap_or(0);
        let pad = width.saturating_sub(text.chars().count());
        if pad == 0 {
            out.push_str(&text);
        } else if left {
            out.push_str(&text);
            out.push_str(&" ".repeat(pad));
        } else if zero && arg.is_number() {
            let (sign, digits) = text.strip_prefix('-').map_or(("", text.as_str()), |d| ("-", d));
            out.push_str(&format!("{sign}{}{digits}", "0".repeat(pad)));
        } else {
            out.push_str(&" ".repeat(pad));
            out.push_str(&text);
        }
    }
    let extra: Vec<String> = next.map(|e| format!("{}={}", type_name(e), s(e))).collect();
    if !extra.is_empty() {
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

/// `strings.Title`: upper-cases the first letter after every separator
/// (Go's `isSeparator`: any ASCII character but letters, digits and `_`;
/// beyond ASCII, white space).
fn title(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut prev_separator = true;
    for c in text.chars() {
        if prev_separator {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_separator = if c.is_ascii() { !(c.is_ascii_alphanumeric() || c == '_') } else { c.is_whitespace() };
    }
    out
}

/// Argo CD's `slugify [maxSize=50] [smartTruncate=true] name`: the name is
/// normalised, then gosimple/slug rules apply: characters outside
/// `[a-zA-Z0-9_-]` become `-`, runs of `-` collapse, `-`/`_` trimmed at the
/// ends; a longer slug is cut at the last `-` at or before `maxSize`
/// (smart) or at `maxSize`. Non-ASCII letters are not transliterated.
fn slugify(a: &[Value]) -> Result<String, Failure> {
    let (max, smart, name) = match a {
        [name] => (50, true, name),
        [max, name] => (int(max)?, true, name),
        [max, smart, name] => (int(max)?, truthy(&Some(smart.clone())), name),
        _ => return Err(Failure::Arity("1 to 3")),
    };
    let sanitized = sanitize_name(&string_value(name));
    let mut slug = String::new();
    for c in sanitized.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '-' };
        if !(c == '-' && slug.ends_with('-')) {
            slug.push(c);
        }
    }
    let slug = slug.trim_matches(|c| c == '-' || c == '_').to_string();
    let Ok(max) = usize::try_from(max) else { return Ok(slug) };
    if max == 0 || slug.len() <= max {
        return Ok(slug);
    }
    if smart {
        if let Some(cut) = slug.as_bytes()[..=max].iter().rposition(|b| *b == b'-') {
            return Ok(slug[..cut].to_string());
        }
    }
    Ok(slug[..max].to_string())
}

/// Prepares a value for JSON/YAML output as Go marshals it: map keys sorted,
/// integral floats written without a fraction.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(keys.into_iter().map(|k| (k.clone(), canonical(&m[k.as_str()]))).collect())
        }
        Value::Array(l) => Value::Array(l.iter().map(canonical).collect()),
        Value::Number(n) if n.is_f64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => Value::from(f as i64),
            _ => v.clone(),
        },
        other => other.clone(),
    }
}

/// Go's `encoding/json` output: map keys sorted, floats in `'f'` form
/// between 1e-6 and 1e21 and `'e'` form (`1e+21`, `1e-7`) outside, `<`, `>`,
/// `&` escaped unless `escape_html` is off (`toRawJson`), U+2028 and U+2029 always;
/// `indent` = `json.MarshalIndent(v, "", "  ")` at that depth.
fn go_json(v: &Value, indent: Option<usize>, escape_html: bool, out: &mut String) {
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    };
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => out.push_str(&i.to_string()),
            (None, Some(u)) => out.push_str(&u.to_string()),
            _ => out.push_str(&go_json_float(n.as_f64().unwrap_or(0.0))),
        },
        Value::String(text) => crate::render::gojson::write_string(out, text, escape_html),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if let Some(d) = indent {
                    newline(out, d + 1);
                }
                go_json(item, indent.map(|d| d + 1), escape_html, out);
            }
            if let (Some(d), false) = (indent, items.is_empty()) {
                newline(out, d);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if let Some(d) = indent {
                    newline(out, d + 1);
                }
                go_json(&Value::String((*k).clone()), None, escape_html, out);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                go_json(&map[k.as_str()], indent.map(|d| d + 1), escape_html, out);
            }
            if let (Some(d), false) = (indent, keys.is_empty()) {
                newline(out, d);
            }
            out.push('}');
        }
    }
}

/// A float64 as `encoding/json` writes it.
fn go_json_float(f: f64) -> String {
    if !f.is_finite() {
        return "null".to_string();
    }
    if f == 0.0 {
        return "0".to_string();
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let abs = f.abs();
    if !(1e-6..1e21).contains(&abs) {
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{esign}{:02}", exp.abs()).replacen("e-0", "e-", 1);
    }
    let neg = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if neg { "-" } else { "" };
    fixed_notation(sign, &digits, exp)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected strings recorded from Go's `json.Marshal` (go1.19).
    #[test]
    fn to_json_matches_go_encoding() {
        let v = serde_json::json!({"z": 1.0, "a": "<x>&", "f": 0.1, "big": 1e21, "i": 3.0, "e": 1e-7});
        let mut out = String::new();
        go_json(&v, None, true, &mut out);
        assert_eq!(out, r#"{"a":"\u003cx\u003e\u0026","big":1e+21,"e":1e-7,"f":0.1,"i":3,"z":1}"#);
        let mut pretty = String::new();
        go_json(&serde_json::json!({"b": [1, {}], "a": []}), Some(0), true, &mut pretty);
        assert_eq!(pretty, "{\n  \"a\": [],\n  \"b\": [\n    1,\n    {}\n  ]\n}");
        assert_eq!(go_json_float(1e16), "10000000000000000");
        assert_eq!(go_json_float(-2.5e-9), "-2.5e-9");
        let floats = [1.5e21, 123456789.125, 1e-6, 9.99e-7, 1e20];
        let want = ["1.5e+21", "123456789.125", "0.000001", "9.99e-7", "100000000000000000000"];
        assert_eq!(floats.map(go_json_float), want);
    }

    #[test]
    fn every_listed_name_is_implemented_and_nothing_else_is() {
        for name in NAMES.iter().filter(|n| !matches!(**n, "and" | "or")) {
            assert!(!matches!(dispatch(name, &[]), Err(Failure::Undefined)), "{name} is listed but not implemented");
        }
        for removed in ["env", "expandenv", "getHostByName", "now"] {
            assert!(matches!(dispatch(removed, &[]), Err(Failure::Undefined)), "{removed} must not exist");
            assert!(!NAMES.contains(&removed));
        }
    }
}
