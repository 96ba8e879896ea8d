//! Path globs for the git generator (docs/controller-appset.md §2.3): Go's
//! `path.Match` for `directories` (`*` stops at `/`), and for `files` either
//! Argo CD's default greedy globbing (`*` also matches `/`) or the strict
//! new-file-globbing mode (`*` stops at `/`, `**` crosses directories).
//! Classes and escapes follow `path.Match`: `[^a-z]`, `\*`; a malformed
//! pattern (unclosed `[`, empty class, dangling `-` or `\`) is an error.

use std::collections::HashSet;

/// How `*` treats `/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `path.Match`: `*` stops at `/`; `**` is just two stars.
    PathMatch,
    /// Every `*` matches `/` too.
    Greedy,
    /// `*` stops at `/`; `**` matches across directories.
    DoubleStar,
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Literal(char),
    AnyChar,
    Star { crosses: bool },
    Class { negate: bool, ranges: Vec<(char, char)> },
}

/// Whether `name` matches `pattern`.
pub fn matches(pattern: &str, name: &str, star: Mode) -> Result<bool, String> {
    let tokens = compile(pattern, star).map_err(|e| format!("bad pattern {pattern:?}: {e}"))?;
    let name: Vec<char> = name.chars().collect();
    let mut failed = HashSet::new();
    Ok(match_at(&tokens, &name, 0, 0, &mut failed))
}

fn compile(pattern: &str, star: Mode) -> Result<Vec<Token>, String> {
    let p: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '*' => {
                let double = p.get(i + 1) == Some(&'*');
                let crosses = match star {
                    Mode::Greedy => true,
                    Mode::DoubleStar => double,
                    Mode::PathMatch => false,
                };
                i += if double && star == Mode::DoubleStar { 2 } else { 1 };
                out.push(Token::Star { crosses });
            }
            '?' => {
                out.push(Token::AnyChar);
                i += 1;
            }
            '\\' => {
                let lit = *p.get(i + 1).ok_or("trailing backslash")?;
                out.push(Token::Literal(lit));
                i += 2;
            }
            '[' => {
                let (token, next) = class(&p, i + 1)?;
                out.push(token);
                i = next;
            }
            c => {
                out.push(Token::Literal(c));
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Parses a class body starting after `[`; returns the token and the index
/// after the closing `]`.
fn class(p: &[char], mut i: usize) -> Result<(Token, usize), String> {
    let negate = p.get(i) == Some(&'^');
    if negate {
        i += 1;
    }
    let mut ranges = Vec::new();
    loop {
        match p.get(i) {
            None => return Err("unclosed [".into()),
            Some(']') if !ranges.is_empty() => return Ok((Token::Class { negate, ranges }, i + 1)),
            _ => {}
        }
        let (lo, next) = class_char(p, i)?;
        i = next;
        let mut hi = lo;
        if p.get(i) == Some(&'-') {
            let (h, next) = class_char(p, i + 1)?;
            hi = h;
            i = next;
        }
        ranges.push((lo, hi));
    }
}

/// One (possibly escaped) class character; a bare `-` or `]` is malformed.
fn class_char(p: &[char], i: usize) -> Result<(char, usize), String> {
    match p.get(i) {
        None => Err("unclosed [".into()),
        Some('-') | Some(']') => Err("malformed character class".into()),
        Some('\\') => p.get(i + 1).map(|c| (*c, i + 2)).ok_or_else(|| "trailing backslash".to_string()),
        Some(c) => Ok((*c, i + 1)),
    }
}

/// Backtracking match; `failed` remembers (token, char) positions known not
/// to match, so patterns with many `*` stay polynomial.
fn match_at(t: &[Token], n: &[char], ti: usize, ni: usize, failed: &mut HashSet<(usize, usize)>) -> bool {
    if failed.contains(&(ti, ni)) {
        return false;
    }
    let here = n.get(ni).copied();
    let hit = match t.get(ti) {
        None => ni == n.len(),
        Some(Token::Star { crosses }) => {
            let mut hit = false;
            for i in ni..=n.len() {
                if match_at(t, n, ti + 1, i, failed) {
                    hit = true;
                    break;
                }
                if i < n.len() && n[i] == '/' && !crosses {
                    break;
                }
            }
            hit
        }
        Some(Token::AnyChar) => here.is_some_and(|c| c != '/') && match_at(t, n, ti + 1, ni + 1, failed),
        Some(Token::Class { negate, ranges }) => {
            here.is_some_and(|c| c != '/' && ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != *negate)
                && match_at(t, n, ti + 1, ni + 1, failed)
        }
        Some(Token::Literal(lit)) => here == Some(*lit) && match_at(t, n, ti + 1, ni + 1, failed),
    };
    if !hit {
        failed.insert((ti, ni));
    }
    hit
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected values recorded from Go's `path.Match` (go1.19); `None` = ErrBadPattern.
    #[test]
    fn path_match_agrees_with_go() {
        let cases: &[(&str, &str, Option<bool>)] = &[
            ("apps/*", "apps/a", Some(true)),
            ("apps/*", "apps/a/b", Some(false)),
            ("apps/*", "apps", Some(false)),
            ("*", "", Some(true)),
            ("a?c", "abc", Some(true)),
            ("a?c", "a/c", Some(false)),
            ("[a-c]x", "bx", Some(true)),
            ("[^a-c]x", "bx", Some(false)),
            ("[!a-c]x", "dx", Some(false)),
            ("a\\*", "a*", Some(true)),
            ("[ab", "a", None),
            ("a/**/c", "a/b/c", Some(true)),
            ("a/**/c", "a/b/d/c", Some(false)),
            ("*/*", "a/b", Some(true)),
            ("[]a]", "]", None),
            ("[a-]", "-", None),
            ("apps/*/", "apps/x/", Some(true)),
            ("a\\", "a", None),
            ("[\\]]", "]", Some(true)),
            ("*a*b", "xaxxb", Some(true)),
            ("ab[", "ab[", None),
            ("", "", Some(true)),
            ("x", "", Some(false)),
        ];
        for (pattern, name, want) in cases {
            assert_eq!(matches(pattern, name, Mode::PathMatch).ok(), *want, "{pattern} vs {name}");
        }
    }

    #[test]
    fn greedy_and_double_star_modes() {
        assert_eq!(matches("apps/*", "apps/a/b", Mode::Greedy), Ok(true));
        assert_eq!(matches("apps/*.json", "apps/a/b.json", Mode::DoubleStar), Ok(false));
        assert_eq!(matches("apps/**/c.json", "apps/a/b/c.json", Mode::DoubleStar), Ok(true));
        assert_eq!(matches("apps/**", "apps/a/b", Mode::DoubleStar), Ok(true));
    }

    #[test]
    fn errors_name_the_pattern_and_many_stars_stay_fast() {
        assert_eq!(matches("[ab", "a", Mode::PathMatch), Err("bad pattern \"[ab\": unclosed [".into()));
        let long = format!("{}b", "a".repeat(60));
        assert_eq!(matches(&"*a".repeat(30), &long, Mode::Greedy), Ok(false));
    }
}
