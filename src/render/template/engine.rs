//! The minijinja side of the template stage: one environment per template file
//! (strict undefined, `trim_blocks`/`lstrip_blocks`, trailing newline kept), the
//! placeholder formatter that turns every `{{ … }}` into a slot token
//! ([`super::slots`]), includes read through [`Fs`] and bounded to the app root,
//! and minijinja errors turned into `render::Error`s naming file and line.
//!
//! Includes: minijinja wants a `'static` loader, but files come from a borrowed
//! `&dyn Fs`. So the loader only records which names were asked for; they are
//! read here, added to the environment, and the render is repeated (a template
//! that includes nothing renders once).

use super::filters::{self, Quoted};
use super::slots::{self, Slot};
use super::Context;
use crate::render::error::{Error, ErrorKind, Result};
use crate::render::load::{check_in_root, io_error, is_template, normalize, Fs};
use minijinja::value::{Serde, Value, ValueKind};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// More distinct included templates than this in one file is refused (a guard
/// against includes whose names grow without end).
const MAX_INCLUDES: usize = 256;

/// What kind of file a template produces, which decides what a value may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// YAML (or JSON parsed as YAML): values are scalars; lists and maps are refused.
    Yaml,
    /// JSON text (a generator source): lists and maps become JSON.
    Json,
    /// Line-oriented text (`.env`, `.properties`): a value may not hold a line break.
    Lines,
    /// Any other text.
    Text,
}

/// A rendered template: text with slot tokens, and the slots.
#[derive(Debug)]
pub(crate) struct Rendered {
    /// The template output; every interpolation is a token.
    pub(crate) text: String,
    /// Interpolated values by token number.
    pub(crate) slots: Vec<Slot>,
    /// The template's name in messages (relative to the app root).
    pub(crate) name: String,
}

/// An include as requested: the including template and the name as written.
#[derive(Clone, Debug)]
struct Asked {
    parent: String,
    written: String,
}

/// Where the template and its includes live.
struct Place {
    /// Names are relative to this directory.
    app_root: PathBuf,
    /// Includes must stay in or below this directory: the app root, or the
    /// template's own directory when the template lies outside the app root (a
    /// base reached through `../`).
    bound: PathBuf,
}

impl Place {
    fn name_of(&self, path: &Path) -> String {
        relative(&self.app_root, path)
    }
    fn path_of(&self, name: &str) -> PathBuf {
        normalize(&self.app_root.join(name))
    }
}

/// Renders `source` (the file at `path`) with `ctx`; values become slot tokens.
pub(crate) fn render(
    ctx: &Context,
    fs: &dyn Fs,
    app_root: &Path,
    path: &Path,
    source: &str,
    mode: Mode,
) -> Result<Rendered> {
    let path = normalize(path);
    let app_root = normalize(app_root);
    let bound = if path.starts_with(&app_root) {
        app_root.clone()
    } else {
        path.parent().map(Path::to_path_buf).unwrap_or_else(|| app_root.clone())
    };
    let place = Arc::new(Place { app_root, bound });
    let name = place.name_of(&path);
    refuse_markers(source, &name)?;
    refuse_marked_values(ctx).map_err(|e| e.in_file(&name))?;

    let slot_table: Arc<Mutex<Vec<Slot>>> = Arc::default();
    let requested: Arc<Mutex<BTreeMap<String, Asked>>> = Arc::default();
    let mut env = environment(mode, &slot_table, &requested, &place);
    env.add_template_owned(name.clone(), source.to_string()).map_err(|e| template_error(&e, &name))?;

    let value = context_value(ctx);
    let mut loaded: BTreeSet<String> = BTreeSet::from([name.clone()]);
    loop {
        lock(&slot_table).clear();
        let result = env.get_template(&name).and_then(|t| t.render(&value));
        let wanted: Vec<(String, Asked)> =
            std::mem::take(&mut *lock(&requested)).into_iter().filter(|(n, _)| !loaded.contains(n)).collect();
        let mut added = false;
        for (include, asked) in wanted {
            loaded.insert(include.clone());
            if loaded.len() > MAX_INCLUDES {
                return Err(Error::new(
                    ErrorKind::Template,
                    format!("more than {MAX_INCLUDES} templates included; check the include names"),
                )
                .in_file(&name));
            }
            if let Some(text) = read_include(fs, &place, &include, &asked)? {
                env.add_template_owned(include.clone(), text).map_err(|e| template_error(&e, &include))?;
                added = true;
            }
        }
        match result {
            _ if added => continue,
            Ok(text) => {
                let slots = std::mem::take(&mut *lock(&slot_table));
                tracing::debug!(template = %name, values = slots.len(), includes = loaded.len() - 1, "rendered template");
                return Ok(Rendered { text, slots, name });
            }
            Err(e) => return Err(template_error(&e, &name)),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the table half-written in a way
    // that matters: the render it belonged to has failed anyway.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn refuse_markers(source: &str, name: &str) -> Result<()> {
    match source.lines().position(slots::has_marker) {
        Some(i) => Err(Error::new(
            ErrorKind::Template,
            "the template contains a reserved private-use character (U+E000 or U+E001); remove it",
        )
        .in_file(name)
        .at_line(i + 1)),
        None => Ok(()),
    }
}

/// Values may not hold the token characters either: a value is never expanded
/// or scanned, so one holding a token could otherwise be mistaken for another.
fn refuse_marked_values(ctx: &Context) -> Result<()> {
    fn marked(v: &serde_json::Value) -> bool {
        match v {
            serde_json::Value::String(s) => slots::has_marker(s),
            serde_json::Value::Array(items) => items.iter().any(marked),
            serde_json::Value::Object(m) => m.iter().any(|(k, v)| slots::has_marker(k) || marked(v)),
            _ => false,
        }
    }
    let strings = |group: &str, m: &BTreeMap<String, String>| {
        m.iter().find(|(k, v)| slots::has_marker(k) || slots::has_marker(v)).map(|(k, _)| format!("{group}.{k}"))
    };
    let values = |group: &str, m: &serde_json::Map<String, serde_json::Value>| {
        m.iter().find(|(k, v)| slots::has_marker(k) || marked(v)).map(|(k, _)| format!("{group}.{k}"))
    };
    let found = strings("env", &ctx.env)
        .or_else(|| values("params", &ctx.params))
        .or_else(|| strings("app", &ctx.app))
        .or_else(|| values("kube", &ctx.kube));
    match found {
        Some(name) => Err(Error::new(
            ErrorKind::Template,
            format!("`{name}` holds a reserved private-use character (U+E000 or U+E001); remove it"),
        )),
        None => Ok(()),
    }
}

fn environment(
    mode: Mode,
    slot_table: &Arc<Mutex<Vec<Slot>>>,
    requested: &Arc<Mutex<BTreeMap<String, Asked>>>,
    place: &Arc<Place>,
) -> Environment<'static> {
    let mut env = Environment::new();
    // minijinja keeps the failing expression (`env.X`) only with debug info on, and
    // turns it off in release builds by default: errors must name the variable there too.
    env.set_debug(true);
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
        .expect("the default delimiters are valid");
    env.set_syntax(syntax);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Any non-`None` mode makes captured blocks (macros, `set` blocks, `caller()`)
    // markup-safe, so their text (template text plus tokens) is written as is.
    env.set_auto_escape_callback(|_| AutoEscape::Custom(Cow::Borrowed("kcmp")));
    let table = Arc::clone(slot_table);
    env.set_formatter(move |out, _state, value| {
        if value.is_safe() {
            return out.write_str(value.as_str().unwrap_or_default()).map_err(minijinja::Error::from);
        }
        let mut slots = lock(&table);
        let slot = slot_of(value, mode, &slots)?;
        let n = slots.len();
        slots.push(slot);
        out.write_str(&slots::token(n)).map_err(minijinja::Error::from)
    });
    filters::register(&mut env, slot_table);
    let joins = Arc::clone(requested);
    let at = Arc::clone(place);
    env.set_path_join_callback(move |include, parent| {
        let base = at.path_of(parent);
        let dir = base.parent().unwrap_or(&at.app_root);
        let joined = at.name_of(&normalize(&dir.join(include)));
        lock(&joins)
            .entry(joined.clone())
            .or_insert_with(|| Asked { parent: parent.to_string(), written: include.to_string() });
        Cow::Owned(joined)
    });
    let asked = Arc::clone(requested);
    env.set_loader(move |name| {
        lock(&asked)
            .entry(name.to_string())
            .or_insert_with(|| Asked { parent: String::new(), written: name.to_string() });
        Ok(None::<String>)
    });
    env
}

/// Reads an included template, refusing names outside the bound and non-`.j2`
/// files; `None` when the file does not exist (minijinja then reports it, or
/// skips it for `ignore missing`).
fn read_include(fs: &dyn Fs, place: &Place, name: &str, asked: &Asked) -> Result<Option<String>> {
    let path = place.path_of(name);
    let from = if asked.parent.is_empty() { name } else { asked.parent.as_str() };
    let written = &asked.written;
    if !path.starts_with(&place.bound) {
        return Err(Error::new(
            ErrorKind::Security,
            format!(
                "include '{written}' is outside the app directory; includes must stay in or below '{}'",
                place.bound.display()
            ),
        )
        .in_file(from));
    }
    if !is_template(&path) {
        return Err(Error::new(
            ErrorKind::Template,
            format!("cannot include '{written}': only `.j2` files are templates; rename it to '{written}.j2'"),
        )
        .in_file(from));
    }
    if !fs.is_file(&path) {
        return Ok(None);
    }
    check_in_root(fs, &place.bound, &path).map_err(|e| e.in_file(from))?;
    let bytes = fs.read(&path).map_err(|e| io_error(&path, e).in_file(from))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::new(ErrorKind::Template, "file is not valid UTF-8 text").in_file(name))?;
    refuse_markers(&text, name)?;
    Ok(Some(text))
}

/// The slot for one interpolated value.
fn slot_of(value: &Value, mode: Mode, slots: &[Slot]) -> std::result::Result<Slot, minijinja::Error> {
    if let Some(q) = value.downcast_object_ref::<Quoted>() {
        return line_safe(Slot::Quoted(q.0.clone()), mode);
    }
    let data = |v: &Value| {
        serde_json::to_value(v).map_err(|e| {
            minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, format!("cannot convert the value: {e}"))
        })
    };
    let slot = match value.kind() {
        ValueKind::Undefined | ValueKind::None => Slot::Scalar(serde_json::Value::Null),
        ValueKind::Bool | ValueKind::Number => Slot::Scalar(data(value)?),
        ValueKind::Seq | ValueKind::Map | ValueKind::Iterable if mode == Mode::Yaml => {
            let what = if value.kind() == ValueKind::Map { "a map" } else { "a list" };
            return Err(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("cannot put {what} into a YAML scalar; loop over it with `{{% for %}}`, or make it text with `| join(\",\")`, `| to_json` or `| to_yaml`"),
            ));
        }
        ValueKind::Seq | ValueKind::Map | ValueKind::Iterable => Slot::Structured(data(value)?),
        _ => {
            let text = match value.as_str() {
                Some(s) => s.to_string(),
                None => value.to_string(),
            };
            // Captured template text run through a non-safe filter (`| upper`)
            // still holds tokens: expand them to their values' text.
            let text = if slots::has_marker(&text) {
                slots::expand(&text, slots)
                    .map_err(|m| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, m))?
            } else {
                text
            };
            Slot::Str(text)
        }
    };
    line_safe(slot, mode)
}

fn line_safe(slot: Slot, mode: Mode) -> std::result::Result<Slot, minijinja::Error> {
    if mode == Mode::Lines && slot.text().contains(['\n', '\r']) {
        return Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            "a value with a line break cannot go into a line-oriented file (.env, .properties): it would add entries; remove the line break or use `| quote`",
        ));
    }
    Ok(slot)
}

fn context_value(ctx: &Context) -> Value {
    minijinja::context! {
        env => Value::from(Serde(&ctx.env)),
        params => Value::from(Serde(&ctx.params)),
        app => Value::from(Serde(&ctx.app)),
        kube => Value::from(Serde(&ctx.kube)),
    }
}

/// A minijinja error as a render error: kind, detail, template name and line.
fn template_error(e: &minijinja::Error, fallback: &str) -> Error {
    let detail = e.detail().unwrap_or_default();
    let text = match e.kind() {
        minijinja::ErrorKind::UndefinedError => {
            match detail.strip_prefix('`').and_then(|d| d.split_once("` is undefined")) {
                Some((expr, rest)) => {
                    format!("undefined variable `{expr}`{rest}; set it, or give a fallback with `| default(...)`")
                }
                None if detail.is_empty() => "undefined value".to_string(),
                None => format!("undefined value: {detail}"),
            }
        }
        kind if detail.is_empty() => kind.to_string(),
        kind => format!("{kind}: {detail}"),
    };
    let mut err = Error::new(ErrorKind::Template, text).in_file(e.name().unwrap_or(fallback));
    if let Some(line) = e.line() {
        err = err.at_line(line);
    }
    err
}

/// `path` relative to `root`, with `..` for paths outside it, `/`-separated.
fn relative(root: &Path, path: &Path) -> String {
    let from: Vec<Component<'_>> = root.components().collect();
    let to: Vec<Component<'_>> = path.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = (common..from.len()).map(|_| "..".to_string()).collect();
    parts.extend(to[common..].iter().map(|c| c.as_os_str().to_string_lossy().to_string()));
    parts.join("/")
}
