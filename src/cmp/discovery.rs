//! MatchRepository rules (docs/cmp-protocol.md §11), evaluated inside the extracted
//! app dir: `discover.fileName` (Go `filepath.Glob`), `discover.find.glob` (zglob:
//! `**`, `{a,b}`; a pattern without `*` or `{` is an existence test whose miss is an
//! error), `discover.find.command` (exit 0 and non-empty stdout). The first
//! configured rule decides; commands are run by the caller.

use globset::{GlobBuilder, GlobMatcher};
use std::path::{Component, Path, PathBuf};

/// `discover.fileName`: any path matching `pattern` below `app`.
pub fn file_name_matches(app: &Path, pattern: &str) -> Result<bool, String> {
    let fail = |why: &str| format!("error finding filename match for pattern {pattern:?}: {why}");
    if !pattern.contains(['*', '?', '[', '\\']) {
        return Ok(app.join(pattern).symlink_metadata().is_ok());
    }
    let mut current: Vec<PathBuf> = vec![app.to_path_buf()];
    for part in Path::new(pattern).components() {
        let seg = match part {
            Component::Normal(s) => s.to_string_lossy().into_owned(),
            Component::ParentDir => {
                current = current.into_iter().map(|p| p.join("..")).collect();
                continue;
            }
            _ => continue,
        };
        if !seg.contains(['*', '?', '[', '\\']) {
            current = current.into_iter().map(|p| p.join(&seg)).filter(|p| p.symlink_metadata().is_ok()).collect();
            continue;
        }
        let matcher = segment_matcher(&seg).map_err(|_| fail("syntax error in pattern"))?;
        let mut next = Vec::new();
        for dir in &current {
            let Ok(entries) = std::fs::read_dir(dir) else { continue };
            let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            names.sort();
            next.extend(names.into_iter().filter(|p| p.file_name().is_some_and(|n| matcher.is_match(n))));
        }
        current = next;
    }
    Ok(!current.is_empty())
}

fn segment_matcher(seg: &str) -> Result<GlobMatcher, globset::Error> {
    // Go's `[^a]` is globset's `[!a]`; `{` has no meaning in Go globs.
    let translated = seg.replace("[^", "[!").replace('{', "\\{").replace('}', "\\}");
    Ok(GlobBuilder::new(&translated).literal_separator(true).backslash_escape(true).build()?.compile_matcher())
}

/// `discover.find.glob`: any file or directory below `app` matching the zglob `pattern`.
pub fn glob_matches(app: &Path, pattern: &str) -> Result<bool, String> {
    let fail = |why: &str| format!("error finding glob match for pattern {pattern:?}: {why}");
    let pattern_rel = pattern.trim_start_matches("./");
    if !pattern_rel.contains(['*', '{']) {
        // zglob treats such a pattern as a plain path: a miss is an error, not `false`.
        return match app.join(pattern_rel).symlink_metadata() {
            Ok(_) => Ok(true),
            Err(_) => Err(fail("file does not exist")),
        };
    }
    // In zglob `?` is an ordinary character.
    let translated = pattern_rel.replace('?', "[?]");
    let matcher = GlobBuilder::new(&translated)
        .literal_separator(true)
        .build()
        .map_err(|e| fail(&e.kind().to_string()))?
        .compile_matcher();
    for entry in walkdir::WalkDir::new(app).follow_links(false).min_depth(1) {
        let Ok(entry) = entry else { continue };
        if let Ok(rel) = entry.path().strip_prefix(app) {
            if matcher.is_match(rel) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(d.path().join("sub/deep")).expect("mkdir");
        std::fs::write(d.path().join("kustomization.yaml"), "").expect("write");
        std::fs::write(d.path().join(".hidden.yaml"), "").expect("write");
        std::fs::write(d.path().join("sub/deep/values.j2"), "").expect("write");
        d
    }

    #[test]
    fn file_name_is_a_per_segment_glob_or_an_existence_test() {
        let d = tree();
        assert!(file_name_matches(d.path(), "kustomization.yaml").expect("ok"));
        assert!(!file_name_matches(d.path(), "Chart.yaml").expect("ok"));
        assert!(file_name_matches(d.path(), ".h*").expect("ok"));
        assert!(file_name_matches(d.path(), "sub/*/values.j2").expect("ok"));
        assert!(!file_name_matches(d.path(), "*.j2").expect("ok"), "`*` does not cross `/`");
        let e = file_name_matches(d.path(), "[a").expect_err("bad");
        assert_eq!(e, "error finding filename match for pattern \"[a\": syntax error in pattern");
    }

    #[test]
    fn find_glob_has_double_star_and_alternation_and_static_misses_are_errors() {
        let d = tree();
        assert!(glob_matches(d.path(), "**/*.j2").expect("ok"));
        assert!(glob_matches(d.path(), "{kustomization.yaml,Kustomization}").expect("ok"));
        assert!(!glob_matches(d.path(), "**/*.cue").expect("ok"));
        let e = glob_matches(d.path(), "Chart.yaml").expect_err("static miss");
        assert_eq!(e, "error finding glob match for pattern \"Chart.yaml\": file does not exist");
    }
}
