//! Go `text/template` source -> a small tree: text, actions, `if`/`range`/`with`
//! blocks with `else`/`else if`, `{{- -}}` trim markers and comments
//! (docs/controller-appset.md §3.2), and `break`/`continue` inside `range`.
//! `define`/`template`/`block` are refused with a clear error: ApplicationSet
//! fields are single strings, so nothing defines or includes named templates.

use super::Error;

/// One node of a parsed template.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node {
    Text(String),
    Action(Pipe),
    /// `if`/`else if` branches and the final `else` body.
    If(Vec<(Pipe, Vec<Node>)>, Vec<Node>),
    /// `range` pipeline, body, `else` body.
    Range(Pipe, Vec<Node>, Vec<Node>),
    /// `with`/`else with` branches and the final `else` body.
    With(Vec<(Pipe, Vec<Node>)>, Vec<Node>),
    /// `{{break}}` inside a range.
    Break,
    /// `{{continue}}` inside a range.
    Continue,
}

/// A pipeline, optionally declaring (`:=`) or assigning (`=`) variables.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Pipe {
    pub vars: Vec<String>,
    pub declare: bool,
    pub cmds: Vec<Vec<Arg>>,
}

/// One operand of a command.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Arg {
    /// `.a.b` (empty chain = `.`).
    Dot(Vec<String>),
    /// `$x.a.b` (`$` is the root).
    Var(String, Vec<String>),
    /// A function name.
    Func(String),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    /// `(pipeline).a.b`
    Sub(Box<Pipe>, Vec<String>),
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Field(String),
    Dot,
    Var(String),
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
}

/// A token and whether whitespace came right before it (Go separates arguments
/// by spaces; `.a.b` without spaces is one field chain).
type Spaced = (Tok, bool);

enum Item {
    Text(String),
    Action(Vec<Spaced>),
}

/// Parses a whole template.
pub(crate) fn parse(src: &str) -> Result<Vec<Node>, Error> {
    let items = split(src)?;
    let mut parser = Parser { items: items.into_iter(), src, vars: vec!["$".to_string()], ranges: 0 };
    let (nodes, end) = parser.block()?;
    match end {
        BlockEnd::Eof => Ok(nodes),
        BlockEnd::End => Err(parser.err("unexpected {{end}}")),
        BlockEnd::Else(_) => Err(parser.err("unexpected {{else}}")),
    }
}

/// Splits the source into text and action token lists, applying trim markers.
fn split(src: &str) -> Result<Vec<Item>, Error> {
    let mut items = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while !rest.is_empty() {
        let Some(open) = rest.find("{{") else {
            push_text(&mut items, rest, trim_next, false);
            break;
        };
        let after = &rest[open + 2..];
        let trim_left = after.starts_with("- ") || after.starts_with("-\t") || after.starts_with("-\n");
        push_text(&mut items, &rest[..open], trim_next, trim_left);
        let body_start = if trim_left { &after[2..] } else { after };
        let (body, close_len, remaining) = find_close(body_start).ok_or_else(|| Error::new(src, "unclosed action"))?;
        let trim_right = close_len == 3;
        trim_next = trim_right;
        rest = remaining;
        let trimmed = body.trim();
        if trimmed.starts_with("/*") {
            if !trimmed.ends_with("*/") {
                return Err(Error::new(src, "unclosed comment"));
            }
            continue;
        }
        items.push(Item::Action(lex(body).map_err(|m| Error::new(src, &m))?));
    }
    Ok(items)
}

fn push_text(items: &mut Vec<Item>, text: &str, trim_start: bool, trim_end: bool) {
    let ws = |c: char| matches!(c, ' ' | '\t' | '\r' | '\n');
    let mut t = text;
    if trim_start {
        t = t.trim_start_matches(ws);
    }
    if trim_end {
        t = t.trim_end_matches(ws);
    }
    if !t.is_empty() {
        items.push(Item::Text(t.to_string()));
    }
}

/// Finds the `}}` (or ` -}}`) closing an action, skipping quoted strings and
/// comments. Returns the body, the length of the close marker and the rest.
fn find_close(s: &str) -> Option<(&str, usize, &str)> {
    let bytes = s.as_bytes();
    let mut i = 0;
    if s.trim_start().starts_with("/*") {
        let end = s.find("*/")?;
        i = end + 2;
    }
    while i < bytes.len() {
        match bytes[i] {
            b'"' | b'\'' => {
                let q = bytes[i];
                i += 1;
                while i < bytes.len() && bytes[i] != q {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'`' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'`' {
                    i += 1;
                }
                i += 1;
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => {
                if i >= 2 && bytes[i - 1] == b'-' && matches!(bytes[i - 2], b' ' | b'\t' | b'\n') {
                    return Some((&s[..i - 1], 3, &s[i + 2..]));
                }
                return Some((&s[..i], 2, &s[i + 2..]));
            }
            _ => i += 1,
        }
    }
    None
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn lex(body: &str) -> Result<Vec<Spaced>, String> {
    let chars: Vec<char> = body.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    let mut spaced = true;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            spaced = true;
            i += 1;
            continue;
        }
        let start = i;
        let tok = match c {
            '|' => {
                i += 1;
                Tok::Pipe
            }
            '(' => {
                i += 1;
                Tok::LParen
            }
            ')' => {
                i += 1;
                Tok::RParen
            }
            ',' => {
                i += 1;
                Tok::Comma
            }
            ':' if chars.get(i + 1) == Some(&'=') => {
                i += 2;
                Tok::Declare
            }
            '=' => {
                i += 1;
                Tok::Assign
            }
            '.' if chars.get(i + 1).is_some_and(|c| is_ident_char(*c) && !c.is_ascii_digit()) => {
                i += 1;
                while i < chars.len() && is_ident_char(chars[i]) {
                    i += 1;
                }
                Tok::Field(chars[start + 1..i].iter().collect())
            }
            '.' if !chars.get(i + 1).is_some_and(|c| c.is_ascii_digit()) => {
                i += 1;
                Tok::Dot
            }
            '$' => {
                i += 1;
                while i < chars.len() && is_ident_char(chars[i]) {
                    i += 1;
                }
                Tok::Var(chars[start..i].iter().collect())
            }
            '"' => {
                i += 1;
                let mut s = String::new();
                loop {
                    let Some(&c) = chars.get(i) else { return Err("unterminated quoted string".into()) };
                    i += 1;
                    match c {
                        '"' => break,
                        '\\' => {
                            let Some(&e) = chars.get(i) else { return Err("unterminated quoted string".into()) };
                            i += 1;
                            s.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                '\\' => '\\',
                                '"' => '"',
                                '\'' => '\'',
                                '0' => '\0',
                                other => return Err(format!("unsupported escape \\{other} in quoted string")),
                            });
                        }
                        c => s.push(c),
                    }
                }
                Tok::Str(s)
            }
            '`' => {
                i += 1;
                let from = i;
                while i < chars.len() && chars[i] != '`' {
                    i += 1;
                }
                if i >= chars.len() {
                    return Err("unterminated raw quoted string".into());
                }
                i += 1;
                Tok::Str(chars[from..i - 1].iter().collect())
            }
            '\'' => {
                let (Some(&ch), Some('\'')) = (chars.get(i + 1), chars.get(i + 2)) else {
                    return Err("unsupported character constant".into());
                };
                i += 3;
                Tok::Int(i64::from(u32::from(ch)))
            }
            c if c.is_ascii_digit() || ((c == '-' || c == '+' || c == '.') && i + 1 < chars.len()) => {
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '.' | '_')) {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                number(&text).ok_or_else(|| format!("bad number syntax: {text:?}"))?
            }
            c if is_ident_char(c) => {
                while i < chars.len() && is_ident_char(chars[i]) {
                    i += 1;
                }
                Tok::Ident(chars[start..i].iter().collect())
            }
            other => return Err(format!("unexpected {other:?} in action")),
        };
        toks.push((tok, spaced));
        spaced = false;
    }
    Ok(toks)
}

fn number(text: &str) -> Option<Tok> {
    let clean = text.replace('_', "");
    let (neg, digits) = match clean.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
    };
    let radix = |p: &str, r: u32| {
        digits.strip_prefix(p).and_then(|d| i64::from_str_radix(d, r).ok()).map(|v| Tok::Int(if neg { -v } else { v }))
    };
    if let Some(t) = radix("0x", 16).or_else(|| radix("0o", 8)).or_else(|| radix("0b", 2)) {
        return Some(t);
    }
    // A leading 0 makes an octal literal in Go (`017` is 15, `08` is invalid).
    if digits.len() > 1 && digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit()) {
        return i64::from_str_radix(&digits[1..], 8).ok().map(|v| Tok::Int(if neg { -v } else { v }));
    }
    if let Ok(v) = clean.parse::<i64>() {
        return Some(Tok::Int(v));
    }
    clean.parse::<f64>().ok().filter(|f| f.is_finite()).map(Tok::Float)
}

enum BlockEnd {
    Eof,
    End,
    /// `{{else}}` (None) or `{{else if ...}}` / `{{else with ...}}` (keyword, pipe).
    Else(Option<(String, Pipe)>),
}

struct Parser<'a> {
    items: std::vec::IntoIter<Item>,
    src: &'a str,
    /// Variables in scope, innermost last (Go resolves them at parse time).
    vars: Vec<String>,
    /// How many `range` blocks enclose the current position.
    ranges: usize,
}

impl Parser<'_> {
    fn err(&self, message: &str) -> Error {
        Error::new(self.src, message)
    }

    fn block(&mut self) -> Result<(Vec<Node>, BlockEnd), Error> {
        let mut nodes = Vec::new();
        while let Some(item) = self.items.next() {
            let toks = match item {
                Item::Text(t) => {
                    nodes.push(Node::Text(t));
                    continue;
                }
                Item::Action(toks) => toks,
            };
            let keyword = match toks.first() {
                Some((Tok::Ident(k), _)) => k.as_str(),
                None => return Err(self.err("missing value for command")),
                _ => "",
            };
            let rest = toks.get(1..).unwrap_or_default();
            match keyword {
                "end" => {
                    if !rest.is_empty() {
                        return Err(self.err("unexpected tokens after end"));
                    }
                    return Ok((nodes, BlockEnd::End));
                }
                "else" => {
                    if rest.is_empty() {
                        return Ok((nodes, BlockEnd::Else(None)));
                    }
                    let kw = match rest.first() {
                        Some((Tok::Ident(k), _)) if k == "if" || k == "with" => k.clone(),
                        _ => return Err(self.err("expected end; found else with extra tokens")),
                    };
                    let pipe = self.pipe(rest.get(1..).unwrap_or_default())?;
                    return Ok((nodes, BlockEnd::Else(Some((kw, pipe)))));
                }
                "if" | "with" => {
                    let mark = self.vars.len();
                    let first = self.pipe(rest)?;
                    nodes.push(self.branches(keyword, first)?);
                    self.vars.truncate(mark);
                }
                "range" => {
                    let mark = self.vars.len();
                    let pipe = self.pipe(rest)?;
                    self.ranges += 1;
                    let (body, end) = self.block()?;
                    self.ranges -= 1;
                    let otherwise = match end {
                        BlockEnd::End => Vec::new(),
                        BlockEnd::Else(None) => self.until_end("range")?,
                        BlockEnd::Else(Some(_)) => return Err(self.err("range cannot have else if/else with")),
                        BlockEnd::Eof => return Err(self.err("unexpected EOF: missing {{end}} for range")),
                    };
                    nodes.push(Node::Range(pipe, body, otherwise));
                    self.vars.truncate(mark);
                }
                "break" | "continue" => {
                    if self.ranges == 0 {
                        return Err(self.err(&format!("{{{{{keyword}}}}} outside {{{{range}}}}")));
                    }
                    if !rest.is_empty() {
                        return Err(self.err(&format!("unexpected tokens after {keyword}")));
                    }
                    nodes.push(if keyword == "break" { Node::Break } else { Node::Continue });
                }
                "define" | "template" | "block" => {
                    return Err(self.err(&format!("{{{{{keyword}}}}} is not supported in ApplicationSet templates")));
                }
                _ => nodes.push(Node::Action(self.pipe(&toks)?)),
            }
        }
        Ok((nodes, BlockEnd::Eof))
    }

    fn check_var(&self, name: &str) -> Result<(), Error> {
        if self.vars.iter().any(|v| v == name) {
            Ok(())
        } else {
            Err(self.err(&format!("undefined variable \"{name}\"")))
        }
    }

    fn branches(&mut self, keyword: &str, first: Pipe) -> Result<Node, Error> {
        let mut branches = Vec::new();
        let mut pipe = first;
        loop {
            let (body, end) = self.block()?;
            branches.push((pipe, body));
            match end {
                BlockEnd::End => break,
                BlockEnd::Else(None) => {
                    let otherwise = self.until_end(keyword)?;
                    return Ok(self.make(keyword, branches, otherwise));
                }
                BlockEnd::Else(Some((kw, next))) => {
                    if kw != keyword {
                        return Err(self.err(&format!("else {kw} inside {keyword} is not supported")));
                    }
                    pipe = next;
                }
                BlockEnd::Eof => return Err(self.err(&format!("unexpected EOF: missing {{{{end}}}} for {keyword}"))),
            }
        }
        Ok(self.make(keyword, branches, Vec::new()))
    }

    fn make(&self, keyword: &str, branches: Vec<(Pipe, Vec<Node>)>, otherwise: Vec<Node>) -> Node {
        if keyword == "if" {
            Node::If(branches, otherwise)
        } else {
            Node::With(branches, otherwise)
        }
    }

    fn until_end(&mut self, keyword: &str) -> Result<Vec<Node>, Error> {
        match self.block()? {
            (nodes, BlockEnd::End) => Ok(nodes),
            (_, BlockEnd::Else(_)) => Err(self.err(&format!("expected end; found else in {keyword}"))),
            (_, BlockEnd::Eof) => Err(self.err(&format!("unexpected EOF: missing {{{{end}}}} for {keyword}"))),
        }
    }

    fn pipe(&mut self, toks: &[Spaced]) -> Result<Pipe, Error> {
        let mut vars = Vec::new();
        let mut declare = false;
        let mut pos = 0;
        // `$a := `, `$a, $b := ` or `$a = `
        let mut probe = 0;
        let mut names = Vec::new();
        while let Some((Tok::Var(v), _)) = toks.get(probe) {
            names.push(v.clone());
            probe += 1;
            match toks.get(probe) {
                Some((Tok::Comma, _)) if names.len() == 1 => probe += 1,
                Some((Tok::Declare, _)) => {
                    declare = true;
                    vars = names;
                    pos = probe + 1;
                    break;
                }
                Some((Tok::Assign, _)) if names.len() == 1 => {
                    vars = names;
                    pos = probe + 1;
                    break;
                }
                _ => break,
            }
        }
        let mut cmds = Vec::new();
        let mut rest = toks.get(pos..).unwrap_or_default();
        loop {
            let (args, used) = self.command(rest)?;
            if args.is_empty() {
                return Err(self.err("missing value for command"));
            }
            cmds.push(args);
            rest = rest.get(used..).unwrap_or_default();
            match rest.first() {
                None => break,
                Some((Tok::Pipe, _)) => rest = rest.get(1..).unwrap_or_default(),
                Some((t, _)) => return Err(self.err(&format!("unexpected {t:?} in pipeline"))),
            }
        }
        if declare {
            self.vars.extend(vars.iter().cloned());
        } else if let Some(v) = vars.first() {
            self.check_var(v)?;
        }
        Ok(Pipe { vars, declare, cmds })
    }

    /// One command: operands up to `|`, `)` or the end. Returns tokens used.
    fn command(&mut self, toks: &[Spaced]) -> Result<(Vec<Arg>, usize), Error> {
        let mut args = Vec::new();
        let mut i = 0;
        while let Some((tok, _)) = toks.get(i) {
            let arg = match tok {
                Tok::Pipe | Tok::RParen => break,
                Tok::Dot => Arg::Dot(Vec::new()),
                Tok::Field(f) => Arg::Dot(vec![f.clone()]),
                Tok::Var(v) => {
                    self.check_var(v)?;
                    Arg::Var(v.clone(), Vec::new())
                }
                Tok::Str(s) => Arg::Str(s.clone()),
                Tok::Int(n) => Arg::Int(*n),
                Tok::Float(f) => Arg::Float(*f),
                Tok::Ident(name) => match name.as_str() {
                    "true" => Arg::Bool(true),
                    "false" => Arg::Bool(false),
                    "nil" => Arg::Nil,
                    _ if super::funcs::NAMES.contains(&name.as_str()) => Arg::Func(name.clone()),
                    _ => return Err(self.err(&format!("function {name:?} not defined"))),
                },
                Tok::LParen => {
                    let close = matching_paren(toks, i).ok_or_else(|| self.err("unclosed left paren"))?;
                    let inner = self.pipe(toks.get(i + 1..close).unwrap_or_default())?;
                    i = close;
                    Arg::Sub(Box::new(inner), Vec::new())
                }
                other => return Err(self.err(&format!("unexpected {other:?} in operand"))),
            };
            i += 1;
            let mut arg = arg;
            while let Some((Tok::Field(f), false)) = toks.get(i) {
                match &mut arg {
                    Arg::Dot(chain) | Arg::Var(_, chain) | Arg::Sub(_, chain) => chain.push(f.clone()),
                    _ => return Err(self.err(&format!("unexpected .{f} after operand"))),
                }
                i += 1;
            }
            args.push(arg);
        }
        Ok((args, i))
    }
}

fn matching_paren(toks: &[Spaced], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, (t, _)) in toks.iter().enumerate().skip(open) {
        match t {
            Tok::LParen => depth += 1,
            Tok::RParen => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}
