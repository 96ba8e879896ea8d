//! Object selectors (docs/kustomize-semantics.md §4.1, §9): patch targets match
//! group/version/kind/name/namespace as anchored regexes against the original
//! and the current id (Kustomize's `resWrangler.Select`); replacements match
//! them exactly against any id; both understand Kubernetes label-selector
//! syntax for `labelSelector` / `annotationSelector`.

use crate::render::error::{Error, ErrorKind, Result};
use crate::render::kustomize::kustomization::Selector;
use crate::render::resource::{ResId, Resource};
use regex::Regex;
use serde_json::{Map, Value};

/// How name/namespace/GVK fields of a [`Selector`] are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Matching {
    /// Anchored RE2-style regexes (`patches[].target`).
    Regex,
    /// Exact string equality (`replacements`).
    Exact,
}

/// Whether `res` is selected by `sel` (its original or current id for regexes,
/// any id for exact matching), including label and annotation selectors.
pub fn selects(sel: &Selector, res: &Resource, matching: Matching) -> Result<bool> {
    CompiledSelector::new(sel, matching)?.selects(res)
}

/// A selector parsed once (regexes, label selectors) to test many objects.
pub struct CompiledSelector<'a> {
    sel: &'a Selector,
    regexes: Option<RegexSelector>,
    labels: Option<Vec<Requirement>>,
    annotations: Option<Vec<Requirement>>,
}

impl<'a> CompiledSelector<'a> {
    /// Compiles `sel`; a bad regex or selector string is an error here.
    pub fn new(sel: &'a Selector, matching: Matching) -> Result<CompiledSelector<'a>> {
        let parse = |s: &str| if s.is_empty() { Ok(None) } else { parse_label_selector(s).map(Some) };
        Ok(CompiledSelector {
            sel,
            regexes: match matching {
                Matching::Regex => Some(RegexSelector::new(sel)?),
                Matching::Exact => None,
            },
            labels: parse(&sel.label_selector)?,
            annotations: parse(&sel.annotation_selector)?,
        })
    }

    /// Whether `res` is selected.
    pub fn selects(&self, res: &Resource) -> Result<bool> {
        let ids_match = match &self.regexes {
            Some(re) => re.matches(res),
            None => res.all_ids().iter().any(|id| exact_matches(self.sel, id)),
        };
        if !ids_match {
            return Ok(false);
        }
        let meta = res.obj.get("metadata");
        let map = |field: &str| meta.and_then(|m| m.get(field)).and_then(Value::as_object);
        let ok = |reqs: &Option<Vec<Requirement>>, m: Option<&Map<String, Value>>| {
            reqs.as_ref().is_none_or(|r| requirements_match(r, m))
        };
        Ok(ok(&self.labels, map("labels")) && ok(&self.annotations, map("annotations")))
    }
}

/// The compiled regexes of one selector; an empty field matches anything.
struct RegexSelector {
    group: Option<Regex>,
    version: Option<Regex>,
    kind: Option<Regex>,
    name: Option<Regex>,
    namespace: Option<Regex>,
}

impl RegexSelector {
    fn new(sel: &Selector) -> Result<RegexSelector> {
        Ok(RegexSelector {
            group: anchored(&sel.group, "group")?,
            version: anchored(&sel.version, "version")?,
            kind: anchored(&sel.kind, "kind")?,
            name: anchored(&sel.name, "name")?,
            namespace: anchored(&sel.namespace, "namespace")?,
        })
    }

    /// Kustomize checks namespace and name against the original id, then the
    /// current one, and the GVK against the current object only.
    fn matches(&self, res: &Resource) -> bool {
        let cur = res.id();
        let org = res.original_id();
        let hit = |re: &Option<Regex>, a: &str, b: &str| re.as_ref().is_none_or(|r| r.is_match(a) || r.is_match(b));
        hit(&self.namespace, effective_namespace(&org), effective_namespace(&cur))
            && hit(&self.name, &org.name, &cur.name)
            && hit(&self.group, &cur.gvk.group, &cur.gvk.group)
            && hit(&self.version, &cur.gvk.version, &cur.gvk.version)
            && hit(&self.kind, &cur.gvk.kind, &cur.gvk.kind)
    }
}

/// Kustomize's `EffectiveNamespace`: cluster-scoped objects get a value no
/// namespace pattern is meant to match, namespaced ones default to `default`.
fn effective_namespace(id: &ResId) -> &str {
    if id.gvk.is_cluster_scoped() {
        "_non_namespaceable_"
    } else {
        id.effective_namespace()
    }
}

fn anchored(pattern: &str, field: &str) -> Result<Option<Regex>> {
    if pattern.is_empty() {
        return Ok(None);
    }
    Regex::new(&format!("^(?:{pattern})$")).map(Some).map_err(|e| {
        Error::new(ErrorKind::Patch, format!("target {field} '{pattern}' is not a valid regular expression: {e}"))
    })
}

/// Kustomize's `ResId.IsSelectedBy`: every non-empty selector field equals the
/// id's; namespaces compare with `default` standing for unset.
fn exact_matches(sel: &Selector, id: &ResId) -> bool {
    let ns_equal = || {
        let norm = |s: &str| if s.is_empty() { "default".to_string() } else { s.to_string() };
        norm(&sel.namespace) == norm(&id.namespace)
    };
    (sel.group.is_empty() || sel.group == id.gvk.group)
        && (sel.version.is_empty() || sel.version == id.gvk.version)
        && (sel.kind.is_empty() || sel.kind == id.gvk.kind)
        && (sel.name.is_empty() || sel.name == id.name)
        && (sel.namespace.is_empty() || ns_equal())
}

/// Whether `labels` satisfy a Kubernetes label selector string (`a=b,c!=d,x in (y),!k,k`).
pub fn matches_label_selector(selector: &str, labels: Option<&Map<String, Value>>) -> Result<bool> {
    Ok(requirements_match(&parse_label_selector(selector)?, labels))
}

fn requirements_match(requirements: &[Requirement], labels: Option<&Map<String, Value>>) -> bool {
    let value = |key: &str| -> Option<String> {
        labels.and_then(|m| m.get(key)).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    requirements.iter().all(|r| r.matches(value(&r.key).as_deref()))
}

/// One comma-separated term of a label selector.
#[derive(Debug, PartialEq)]
struct Requirement {
    key: String,
    op: Op,
    values: Vec<String>,
}

#[derive(Debug, PartialEq, Clone, Copy)]
enum Op {
    Exists,
    NotExists,
    In,
    NotIn,
    Gt,
    Lt,
}

impl Requirement {
    fn matches(&self, value: Option<&str>) -> bool {
        match (self.op, value) {
            (Op::Exists, v) => v.is_some(),
            (Op::NotExists, v) => v.is_none(),
            (Op::In, Some(v)) => self.values.iter().any(|x| x == v),
            (Op::In, None) => false,
            (Op::NotIn, Some(v)) => !self.values.iter().any(|x| x == v),
            (Op::NotIn, None) => true,
            (Op::Gt | Op::Lt, None) => false,
            (op, Some(v)) => {
                let (Ok(have), Some(Ok(want))) = (v.parse::<i64>(), self.values.first().map(|w| w.parse::<i64>()))
                else {
                    return false;
                };
                if op == Op::Gt {
                    have > want
                } else {
                    have < want
                }
            }
        }
    }
}

#[derive(Debug, PartialEq, Clone)]
enum Token {
    Ident(String),
    Not,
    Eq,
    NotEq,
    Gt,
    Lt,
    Open,
    Close,
    Comma,
}

fn tokenize(selector: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let chars: Vec<char> = selector.chars().collect();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let next = chars.get(i + 1).copied();
        let (tok, len) = match (c, next) {
            (c, _) if c.is_whitespace() => {
                i += 1;
                continue;
            }
            ('!', Some('=')) => (Token::NotEq, 2),
            ('=', Some('=')) => (Token::Eq, 2),
            ('!', _) => (Token::Not, 1),
            ('=', _) => (Token::Eq, 1),
            ('>', _) => (Token::Gt, 1),
            ('<', _) => (Token::Lt, 1),
            ('(', _) => (Token::Open, 1),
            (')', _) => (Token::Close, 1),
            (',', _) => (Token::Comma, 1),
            _ => {
                let start = i;
                while chars.get(i).is_some_and(|c| !c.is_whitespace() && !"!=><(),".contains(*c)) {
                    i += 1;
                }
                out.push(Token::Ident(chars[start..i].iter().collect()));
                continue;
            }
        };
        out.push(tok);
        i += len;
    }
    out
}

fn selector_error(selector: &str, what: &str) -> Error {
    Error::new(ErrorKind::Patch, format!("unable to parse requirement in selector '{selector}': {what}"))
}

/// Parses Kubernetes label-selector syntax (apimachinery `labels.Parse`).
fn parse_label_selector(selector: &str) -> Result<Vec<Requirement>> {
    let tokens = tokenize(selector);
    let mut reqs = Vec::new();
    let mut pos = 0;
    let ident = |pos: usize| match tokens.get(pos) {
        Some(Token::Ident(s)) => Some(s.clone()),
        _ => None,
    };
    while pos < tokens.len() {
        let negated = tokens.get(pos) == Some(&Token::Not);
        if negated {
            pos += 1;
        }
        let key = ident(pos).ok_or_else(|| selector_error(selector, "expected a label key"))?;
        pos += 1;
        let at_end = |p: usize| matches!(tokens.get(p), None | Some(Token::Comma));
        if negated {
            if !at_end(pos) {
                return Err(selector_error(selector, "'!' must be followed by a key only"));
            }
            reqs.push(Requirement { key, op: Op::NotExists, values: Vec::new() });
        } else if at_end(pos) {
            reqs.push(Requirement { key, op: Op::Exists, values: Vec::new() });
        } else {
            let op_tok = tokens.get(pos).cloned();
            pos += 1;
            let op = match (&op_tok, ident(pos - 1).as_deref()) {
                (Some(Token::Eq), _) => Op::In,
                (Some(Token::NotEq), _) => Op::NotIn,
                (Some(Token::Gt), _) => Op::Gt,
                (Some(Token::Lt), _) => Op::Lt,
                (_, Some("in")) => Op::In,
                (_, Some("notin")) => Op::NotIn,
                _ => return Err(selector_error(selector, &format!("unexpected operator after '{key}'"))),
            };
            let is_set = matches!(ident(pos - 1).as_deref(), Some("in" | "notin"));
            let mut values = Vec::new();
            if is_set {
                if tokens.get(pos) != Some(&Token::Open) {
                    return Err(selector_error(selector, "expected '(' after in/notin"));
                }
                pos += 1;
                loop {
                    match tokens.get(pos) {
                        Some(Token::Ident(v)) => {
                            values.push(v.clone());
                            pos += 1;
                        }
                        Some(Token::Comma) | Some(Token::Close) => values.push(String::new()),
                        _ => return Err(selector_error(selector, "expected a value list closed by ')'")),
                    }
                    match tokens.get(pos) {
                        Some(Token::Comma) => pos += 1,
                        Some(Token::Close) => {
                            pos += 1;
                            break;
                        }
                        _ => return Err(selector_error(selector, "expected ',' or ')' in the value list")),
                    }
                }
            } else {
                match tokens.get(pos) {
                    Some(Token::Ident(v)) => {
                        values.push(v.clone());
                        pos += 1;
                    }
                    _ => values.push(String::new()),
                }
            }
            reqs.push(Requirement { key, op, values });
        }
        match tokens.get(pos) {
            None => {}
            Some(Token::Comma) => pos += 1,
            Some(_) => return Err(selector_error(selector, "expected ',' between requirements")),
        }
    }
    Ok(reqs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn res(v: Value) -> Resource {
        match v {
            Value::Object(m) => Resource::new(m),
            _ => panic!("not an object"),
        }
    }

    fn labels(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn label_selector_operators() {
        let l = labels(json!({"app": "web", "tier": "front", "n": "5"}));
        let m = |s: &str| matches_label_selector(s, Some(&l)).expect("parses");
        assert!(m("app=web"));
        assert!(m("app==web,tier"));
        assert!(!m("app!=web"));
        assert!(m("missing!=x"));
        assert!(m("app in (api, web)"));
        assert!(!m("app notin (api,web)"));
        assert!(m("!missing"));
        assert!(!m("!app"));
        assert!(m("n>3,n<6"));
        assert!(m(""));
        assert!(!matches_label_selector("app", None).expect("parses"));
    }

    #[test]
    fn bad_label_selector_is_an_error() {
        let e = matches_label_selector("app in web", None).expect_err("fails");
        assert!(e.to_string().contains("expected '(' after in/notin"), "{e}");
    }

    #[test]
    fn regex_target_is_anchored_and_sees_original_name() {
        let mut r = res(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}));
        r.rename("p-web");
        let sel = |name: &str| Selector { name: name.into(), kind: "Deploy.*".into(), ..Selector::default() };
        assert!(selects(&sel("web"), &r, Matching::Regex).expect("ok"));
        assert!(selects(&sel("p-web"), &r, Matching::Regex).expect("ok"));
        assert!(!selects(&sel("we"), &r, Matching::Regex).expect("ok"));
        assert!(selects(&sel("(a|p)-.*"), &r, Matching::Regex).expect("ok"));
        let ns = Selector { namespace: "default".into(), ..Selector::default() };
        assert!(selects(&ns, &r, Matching::Regex).expect("ok"));
    }

    #[test]
    fn exact_matching_does_not_use_regexes() {
        let r = res(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}}));
        let sel = Selector { name: "c.".into(), ..Selector::default() };
        assert!(!selects(&sel, &r, Matching::Exact).expect("ok"));
        let sel = Selector { name: "cm".into(), kind: "ConfigMap".into(), ..Selector::default() };
        assert!(selects(&sel, &r, Matching::Exact).expect("ok"));
    }
}
