//! Executes a parsed template over JSON data with Go's rules: the dot, `$`,
//! variables scoped to their block, truthiness, map keys iterated sorted, and
//! values printed as `fmt.Print` does (`<no value>` for a missing key).
//!
//! A value is `Option<Value>`: `None` is Go's "invalid" value, the result of a
//! missing map key; it prints `<no value>` and is passed to functions as nil.

use super::funcs;
use super::parse::{Arg, Node, Pipe};
use super::{MissingKey, Options};
use serde_json::Value;

type V = Option<Value>;
type R<T> = Result<T, String>;

pub(super) fn execute(nodes: &[Node], data: &Value, options: Options) -> R<String> {
    let mut state = State { options, vars: vec![("$".to_string(), Some(data.clone()))], out: String::new() };
    let dot = Some(data.clone());
    state.walk(nodes, &dot)?;
    Ok(state.out)
}

/// How a block ended: normally, or by `{{break}}` / `{{continue}}`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flow {
    Next,
    Break,
    Continue,
}

struct State {
    options: Options,
    vars: Vec<(String, V)>,
    out: String,
}

impl State {
    fn walk(&mut self, nodes: &[Node], dot: &V) -> R<Flow> {
        for node in nodes {
            let flow = match node {
                Node::Text(t) => {
                    self.out.push_str(t);
                    Flow::Next
                }
                Node::Action(pipe) => {
                    let v = self.pipe(pipe, dot)?;
                    if pipe.vars.is_empty() {
                        self.out.push_str(&print(&v));
                    }
                    Flow::Next
                }
                Node::If(branches, otherwise) => self.branches(branches, otherwise, dot, false)?,
                Node::With(branches, otherwise) => self.branches(branches, otherwise, dot, true)?,
                Node::Range(pipe, body, otherwise) => {
                    self.range(pipe, body, otherwise, dot)?;
                    Flow::Next
                }
                Node::Break => Flow::Break,
                Node::Continue => Flow::Continue,
            };
            if flow != Flow::Next {
                return Ok(flow);
            }
        }
        Ok(Flow::Next)
    }

    /// `if`/`with` chains; `with` rebinds the dot to the tested value.
    fn branches(&mut self, branches: &[(Pipe, Vec<Node>)], otherwise: &[Node], dot: &V, with: bool) -> R<Flow> {
        let mark = self.vars.len();
        let mut flow = None;
        for (cond, body) in branches {
            let v = self.pipe(cond, dot)?;
            if truthy(&v) {
                flow = Some(self.walk(body, if with { &v } else { dot })?);
                break;
            }
        }
        let flow = match flow {
            Some(f) => f,
            None => self.walk(otherwise, dot)?,
        };
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn range(&mut self, pipe: &Pipe, body: &[Node], otherwise: &[Node], dot: &V) -> R<()> {
        let mark = self.vars.len();
        let plain = Pipe { vars: Vec::new(), declare: false, cmds: pipe.cmds.clone() };
        let value = self.pipe(&plain, dot)?;
        let items: Vec<(Value, Value)> = match &value {
            Some(Value::Array(items)) => {
                items.iter().enumerate().map(|(i, v)| (Value::from(i as u64), v.clone())).collect()
            }
            Some(Value::Object(map)) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                keys.into_iter().map(|k| (Value::String(k.clone()), map[k.as_str()].clone())).collect()
            }
            Some(Value::Number(n)) if n.as_u64().is_some() => {
                (0..n.as_u64().unwrap_or(0)).map(|i| (Value::from(i), Value::from(i))).collect()
            }
            None | Some(Value::Null) => Vec::new(),
            Some(other) => return Err(format!("range can't iterate over {}", print(&Some(other.clone())))),
        };
        if items.is_empty() {
            self.walk(otherwise, dot)?;
        }
        for (key, item) in items {
            let inner = self.vars.len();
            match pipe.vars.as_slice() {
                [] => {}
                [elem] => self.vars.push((elem.clone(), Some(item.clone()))),
                [k, elem, ..] => {
                    self.vars.push((k.clone(), Some(key)));
                    self.vars.push((elem.clone(), Some(item.clone())));
                }
            }
            let flow = self.walk(body, &Some(item))?;
            self.vars.truncate(inner);
            if flow == Flow::Break {
                break;
            }
        }
        self.vars.truncate(mark);
        Ok(())
    }

    fn pipe(&mut self, pipe: &Pipe, dot: &V) -> R<V> {
        let mut value: Option<V> = None;
        for cmd in &pipe.cmds {
            value = Some(self.command(cmd, dot, value)?);
        }
        let value = value.unwrap_or(None);
        if let Some(name) = pipe.vars.first() {
            if pipe.declare {
                self.vars.push((name.clone(), value.clone()));
            } else {
                let slot = self.vars.iter_mut().rev().find(|(n, _)| n == name);
                match slot {
                    Some(slot) => slot.1 = value.clone(),
                    None => return Err(format!("undefined variable: {name}")),
                }
            }
        }
        Ok(value)
    }

    fn command(&mut self, args: &[Arg], dot: &V, piped: Option<V>) -> R<V> {
        let Some(first) = args.first() else { return Err("missing value for command".into()) };
        if let Arg::Func(name) = first {
            return self.call(name, args.get(1..).unwrap_or_default(), dot, piped);
        }
        if args.len() > 1 || piped.is_some() {
            return Err("can't give argument to non-function".into());
        }
        self.operand(first, dot)
    }

    fn call(&mut self, name: &str, args: &[Arg], dot: &V, piped: Option<V>) -> R<V> {
        // `and`/`or` short-circuit like Go 1.18+: later operands are not evaluated.
        if name == "and" || name == "or" {
            let mut last: V = None;
            let total = args.len() + usize::from(piped.is_some());
            if total == 0 {
                return Err(format!("wrong number of args for {name}: want at least 1 got 0"));
            }
            for arg in args {
                last = self.operand(arg, dot)?;
                if truthy(&last) == (name == "or") {
                    return Ok(last);
                }
            }
            if let Some(p) = piped {
                last = p;
            }
            return Ok(last);
        }
        let mut values = Vec::with_capacity(args.len() + 1);
        for arg in args {
            values.push(self.operand(arg, dot)?);
        }
        if let Some(p) = piped {
            values.push(p);
        }
        funcs::call(name, values)
    }

    fn operand(&mut self, arg: &Arg, dot: &V) -> R<V> {
        match arg {
            Arg::Dot(chain) => self.fields(dot.clone(), chain),
            Arg::Var(name, chain) => {
                let Some((_, v)) = self.vars.iter().rev().find(|(n, _)| n == name) else {
                    return Err(format!("undefined variable: {name}"));
                };
                let v = v.clone();
                self.fields(v, chain)
            }
            Arg::Func(name) => self.call(name, &[], dot, None),
            Arg::Str(s) => Ok(Some(Value::String(s.clone()))),
            Arg::Int(n) => Ok(Some(Value::from(*n))),
            Arg::Float(f) => Ok(serde_json::Number::from_f64(*f).map(Value::Number)),
            Arg::Bool(b) => Ok(Some(Value::Bool(*b))),
            Arg::Nil => Ok(Some(Value::Null)),
            Arg::Sub(pipe, chain) => {
                let mark = self.vars.len();
                let v = self.pipe(pipe, dot)?;
                self.vars.truncate(mark);
                self.fields(v, chain)
            }
        }
    }

    fn fields(&self, mut value: V, chain: &[String]) -> R<V> {
        for field in chain {
            value = match value {
                Some(Value::Object(map)) => match map.get(field) {
                    Some(v) => Some(v.clone()),
                    None if self.options.missing_key == MissingKey::Error => {
                        return Err(format!("map has no entry for key {field:?}"));
                    }
                    None => None,
                },
                None => {
                    if self.options.missing_key == MissingKey::Error {
                        return Err(format!("map has no entry for key {field:?}"));
                    }
                    None
                }
                // A key that is present with a null value is a nil interface
                // in Go: walking into it fails even without missingkey=error.
                Some(Value::Null) => return Err(format!("nil pointer evaluating interface {{}}.{field}")),
                Some(other) => return Err(format!("can't evaluate field {field} in type {}", type_name(&other))),
            };
        }
        Ok(value)
    }
}

/// Go's truth: false, 0, nil, empty string/list/map and a missing value are false.
pub(super) fn truthy(v: &V) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(m)) => !m.is_empty(),
    }
}

/// Go type names used in error messages.
pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// What an action prints: Go shows both a missing value and a nil one as
/// `<no value>` (nil only prints `<nil>` inside a map or list).
pub(super) fn print(v: &V) -> String {
    match v {
        None | Some(Value::Null) => "<no value>".to_string(),
        Some(v) => format_v(v),
    }
}

/// `fmt.Sprintf("%v", v)` for JSON data: maps as `map[k:v]` with sorted keys,
/// lists as `[a b]`, nil as `<nil>`, floats as Go's shortest `%g`.
pub(crate) fn format_v(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(u)) => u.to_string(),
            _ => go_float(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => s.clone(),
        Value::Array(items) => format!("[{}]", items.iter().map(format_v).collect::<Vec<_>>().join(" ")),
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys.iter().map(|k| format!("{k}:{}", format_v(&map[k.as_str()]))).collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

/// Go's `%v` for float64 (strconv `'g'` with the shortest digits): exponent
/// form when the decimal exponent is below -4 or at least 6, which is why Go
/// templates print a YAML `1000000` as `1e+06`.
pub(crate) fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    // Shortest round-trip digits and decimal exponent from Rust's `{:e}`.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if neg { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let (head, tail) = digits.split_at(1);
        let frac = if tail.is_empty() { String::new() } else { format!(".{tail}") };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{head}{frac}e{esign}{:02}", exp.abs());
    }
    fixed_notation(sign, &digits, exp)
}

/// `digits` (shortest round-trip, no point) with decimal exponent `exp` written
/// without an exponent, as Go's 'f' formatting does: shared by `%v` and `encoding/json`.
pub(super) fn fixed_notation(sign: &str, digits: &str, exp: i32) -> String {
    let point = exp + 1;
    if point <= 0 {
        format!("{sign}0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point as usize >= digits.len() {
        format!("{sign}{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        let (a, b) = digits.split_at(point as usize);
        format!("{sign}{a}.{b}")
    }
}
