//! `render::Error`: what failed, on which input. Modelled on minijinja's error:
//! a `Copy` kind with a fixed short description, a detail message, and context
//! (file, line, resource id) added while the error bubbles up. Display reads
//! `kind: detail (in file:line)`; the cause, if any, is only in `source()`.

use std::fmt;

/// The class of a render failure; callers match on this, people read the detail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A file or directory could not be read.
    Io,
    /// A file is not valid YAML/JSON.
    Yaml,
    /// A kustomization file is invalid (unknown field, wrong type, bad value).
    Kustomization,
    /// A resource document is invalid (no kind, no name, not a map).
    Resource,
    /// Two resources share an id, or a transformation makes them collide.
    Conflict,
    /// A directory includes itself.
    Cycle,
    /// A path escapes the kustomization root (load restrictor).
    Security,
    /// A patch cannot be parsed or applied, or finds no target.
    Patch,
    /// A generator entry is invalid.
    Generator,
    /// A transformer is misconfigured or fails.
    Transformer,
    /// A replacement or var cannot be resolved.
    Replacement,
    /// A template fails to render.
    Template,
    /// A SOPS file cannot be decrypted.
    Sops,
    /// A feature kcmp deliberately does not support (remote bases, plugins, helm).
    Unsupported,
}

impl ErrorKind {
    /// A fixed short description, used as the message prefix.
    pub fn description(self) -> &'static str {
        match self {
            ErrorKind::Io => "cannot read",
            ErrorKind::Yaml => "invalid yaml",
            ErrorKind::Kustomization => "invalid kustomization",
            ErrorKind::Resource => "invalid resource",
            ErrorKind::Conflict => "resource id conflict",
            ErrorKind::Cycle => "cycle detected",
            ErrorKind::Security => "security",
            ErrorKind::Patch => "patch failed",
            ErrorKind::Generator => "generator failed",
            ErrorKind::Transformer => "transformer failed",
            ErrorKind::Replacement => "replacement failed",
            ErrorKind::Template => "template error",
            ErrorKind::Sops => "sops decryption failed",
            ErrorKind::Unsupported => "not supported",
        }
    }
}

/// A render failure with the context needed to fix it.
pub struct Error {
    repr: Box<Repr>,
}

struct Repr {
    kind: ErrorKind,
    detail: String,
    file: Option<String>,
    line: Option<usize>,
    resource: Option<String>,
    /// Outer build steps, innermost first: "resources of overlays/prod/kustomization.yaml".
    trail: Vec<String>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A new error of `kind` with a human-readable detail.
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Error {
        Error {
            repr: Box::new(Repr {
                kind,
                detail: detail.into(),
                file: None,
                line: None,
                resource: None,
                trail: Vec::new(),
                source: None,
            }),
        }
    }

    /// Attaches the underlying cause (kept out of the message so it prints once).
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Error {
        self.repr.source = Some(Box::new(source));
        self
    }

    /// Names the file the error is about, unless a more precise one is already set.
    pub fn in_file(mut self, file: impl fmt::Display) -> Error {
        if self.repr.file.is_none() {
            self.repr.file = Some(file.to_string());
        }
        self
    }

    /// Names the line (1-based) inside the file, unless already set.
    pub fn at_line(mut self, line: usize) -> Error {
        if self.repr.line.is_none() {
            self.repr.line = Some(line);
        }
        self
    }

    /// Names the resource the error is about, unless already set.
    pub fn for_resource(mut self, id: impl fmt::Display) -> Error {
        if self.repr.resource.is_none() {
            self.repr.resource = Some(id.to_string());
        }
        self
    }

    /// Adds an outer step ("resources of base/kustomization.yaml") to the trail.
    pub fn via(mut self, step: impl Into<String>) -> Error {
        self.repr.trail.push(step.into());
        self
    }

    /// The error class.
    pub fn kind(&self) -> ErrorKind {
        self.repr.kind
    }
    /// The detail message, without kind prefix or context.
    pub fn detail(&self) -> &str {
        &self.repr.detail
    }
    /// The file the error is about, if known.
    pub fn file(&self) -> Option<&str> {
        self.repr.file.as_deref()
    }
    /// The 1-based line in that file, if known.
    pub fn line(&self) -> Option<usize> {
        self.repr.line
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.repr;
        write!(f, "{}: {}", r.kind.description(), r.detail)?;
        if let Some(res) = &r.resource {
            write!(f, " (resource {res})")?;
        }
        match (&r.file, r.line) {
            (Some(file), Some(line)) => write!(f, " (in {file}:{line})")?,
            (Some(file), None) => write!(f, " (in {file})")?,
            _ => {}
        }
        for step in &r.trail {
            write!(f, "\n  via {step}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.repr.source.as_ref().map(|s| s.as_ref() as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_kind_detail_file_and_line() {
        let e = Error::new(ErrorKind::Kustomization, "unknown field \"xyz\"")
            .in_file("base/kustomization.yaml")
            .at_line(3)
            .via("resources of overlay/kustomization.yaml");
        assert_eq!(
            e.to_string(),
            "invalid kustomization: unknown field \"xyz\" (in base/kustomization.yaml:3)\n  via resources of overlay/kustomization.yaml"
        );
    }

    #[test]
    fn innermost_file_wins() {
        let e = Error::new(ErrorKind::Io, "x").in_file("inner.yaml").in_file("outer.yaml");
        assert_eq!(e.file(), Some("inner.yaml"));
    }
}
