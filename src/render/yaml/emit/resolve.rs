//! Would this string, written unquoted, read back as something other than a
//! string? go-yaml v2's resolve table (YAML 1.1 flavoured: `yes`/`on`/`y`
//! booleans, `~` null, `0x`/`0o`/leading-0 ints, `_` separators, timestamps,
//! `<<`) plus its base-60 float check decide whether the emitter must quote a
//! string (docs/kustomize-semantics.md §12). Only the yes/no answer matters here,
//! so values are never built.

// go-yaml v2 and v3 share the float regex; the parser owns the one copy.
use crate::render::yaml::parse::{is_inf_or_nan, yaml11_bool, yaml_style_float};

/// True when go-yaml v2 may write `s` as a plain scalar: it resolves to `!!str`
/// and is not a base-60 float (`1:20`, quoted for old parsers).
pub(super) fn can_use_plain(s: &str) -> bool {
    resolves_to_str(s) && !is_base60_float(s)
}

/// go-yaml v2 `resolve("", s)` returns the `!!str` tag.
fn resolves_to_str(s: &str) -> bool {
    let Some(&first) = s.as_bytes().first() else {
        return false; // "" is null
    };
    // go-yaml only looks a string up when its first byte hints at a non-string
    // (sign, digit, `.`, or a letter of a bool/null word), so `<<` stays a string.
    if matches!(
        first,
        b'+' | b'-' | b'.' | b'0'..=b'9' | b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~'
    ) && is_in_resolve_map(s)
    {
        return false;
    }
    match first {
        b'.' => !go_parse_float(s),
        b'0'..=b'9' | b'+' | b'-' => {
            if is_timestamp(s) {
                return false;
            }
            let plain: String = s.chars().filter(|&c| c != '_').collect();
            if go_parse_int(&plain) {
                return false;
            }
            if yaml_style_float(&plain) && go_parse_float(&plain) {
                return false;
            }
            // go-yaml's own binary fallback hands the rest to ParseInt(_, 2), which
            // takes a sign of its own: `0b-1` and `0b+1` are ints too.
            if let Some(rest) = plain.strip_prefix("0b") {
                return !go_parse_base2(rest, false);
            }
            if let Some(rest) = plain.strip_prefix("-0b") {
                return !go_parse_base2(rest, true);
            }
            true
        }
        _ => true,
    }
}

/// The literal words of go-yaml v2's resolve map (bools, nulls, inf/nan, merge).
fn is_in_resolve_map(s: &str) -> bool {
    yaml11_bool(s).is_some() || is_inf_or_nan(s) || matches!(s, "~" | "null" | "Null" | "NULL" | "<<")
}

/// Go `strconv.ParseInt(s, 0, 64)` or `ParseUint(s, 0, 64)` succeeds (after
/// go-yaml removed every `_`): optional sign, `0x`/`0o`/`0b` prefix or a
/// leading `0` for octal, digits of that base, value within 64 bits.
fn go_parse_int(s: &str) -> bool {
    let (sign, body) = match s.as_bytes().first() {
        Some(&c @ (b'-' | b'+')) => (Some(c), &s[1..]),
        Some(_) => (None, s),
        None => return false,
    };
    let b = body.as_bytes();
    let (radix, digits) = if b.len() >= 3 && b[0] == b'0' && matches!(b[1], b'x' | b'X') {
        (16, &body[2..])
    } else if b.len() >= 3 && b[0] == b'0' && matches!(b[1], b'o' | b'O') {
        (8, &body[2..])
    } else if b.len() >= 3 && b[0] == b'0' && matches!(b[1], b'b' | b'B') {
        (2, &body[2..])
    } else if b.len() > 1 && b[0] == b'0' {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return false;
    }
    match u64::from_str_radix(digits, radix) {
        // Signed text must fit int64 (ParseUint takes no sign at all).
        Ok(v) => match sign {
            Some(b'-') => v <= 1 << 63,
            Some(_) => v < 1 << 63,
            None => true,
        },
        Err(_) => false,
    }
}

/// Go `strconv.ParseInt(s, 2, 64)` (or `ParseUint` when `s` has no sign) succeeds;
/// `negated` is go-yaml's `"-" + rest`, so a second sign fails.
fn go_parse_base2(s: &str, negated: bool) -> bool {
    let (sign, digits) = match s.as_bytes().first() {
        Some(&c @ (b'-' | b'+')) if !negated => (Some(c), &s[1..]),
        Some(b'-' | b'+') => return false,
        Some(_) => (if negated { Some(b'-') } else { None }, s),
        None => return false,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b == b'0' || b == b'1') {
        return false;
    }
    match u64::from_str_radix(digits, 2) {
        Ok(v) => match sign {
            Some(b'-') => v <= 1 << 63,
            Some(_) => v < 1 << 63,
            None => true,
        },
        Err(_) => false,
    }
}

/// Go `strconv.ParseFloat(s, 64)` succeeds, for the inputs go-yaml hands it: a
/// decimal mantissa (digits, one optional `.`, at least one digit), an optional
/// exponent, `_` only between digits, and no overflow to infinity (Go reports
/// that as a range error). Hex floats and `inf`/`nan` words cannot start with
/// `.` or pass [`yaml_style_float`], so they are not needed.
fn go_parse_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'-' | b'+')) {
        i += 1;
    }
    let mut digits = false;
    let mut dot = false;
    while i < b.len() {
        match b[i] {
            b'0'..=b'9' => digits = true,
            b'_' => {}
            b'.' if !dot => dot = true,
            _ => break,
        }
        i += 1;
    }
    if !digits {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if !matches!(b.get(i), Some(b'0'..=b'9')) {
            return false;
        }
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    if i != b.len() || !underscores_ok(s) {
        return false;
    }
    let plain: String = s.chars().filter(|&c| c != '_').collect();
    plain.parse::<f64>().map(f64::is_finite).unwrap_or(false)
}

/// Go's `underscoreOK`: every `_` sits between two digits.
fn underscores_ok(s: &str) -> bool {
    let mut saw = b'^';
    let b = s.as_bytes();
    let start = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    for &c in &b[start..] {
        if c.is_ascii_digit() {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
    }
    saw != b'_'
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`
fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    if !s.contains(':') {
        return false;
    }
    let mut i = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    if !matches!(b.get(i), Some(b'0'..=b'9')) {
        return false;
    }
    i += 1;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while b.get(i) == Some(&b':') {
        i += 1;
        // [0-5]?[0-9]: one digit, or two with the first 0-5.
        match (b.get(i), b.get(i + 1)) {
            (Some(b'0'..=b'5'), Some(b'0'..=b'9')) => i += 2,
            (Some(b'0'..=b'9'), _) => i += 1,
            _ => return false,
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// go-yaml v2 `parseTimestamp`: `YYYY-` then one of Go's layouts
/// `2006-1-2T15:4:5.999999999Z07:00` (also lower-case `t`),
/// `2006-1-2 15:4:5.999999999` or `2006-1-2`, with `time.Parse`'s range checks.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let year: u32 = s[..4].parse().unwrap_or(0);
    let mut i = 5;
    let Some(month) = go_getnum(b, &mut i) else {
        return false;
    };
    if !(1..=12).contains(&month) || b.get(i) != Some(&b'-') {
        return false;
    }
    i += 1;
    let Some(day) = go_getnum(b, &mut i) else {
        return false;
    };
    if day < 1 || day > days_in(month, year) {
        return false;
    }
    match b.get(i) {
        None => true,
        Some(b'T' | b't') => {
            i += 1;
            time_of_day(b, &mut i) && zone(b, &mut i) && i == b.len()
        }
        Some(b' ') => {
            while b.get(i) == Some(&b' ') {
                i += 1;
            }
            time_of_day(b, &mut i) && i == b.len()
        }
        Some(_) => false,
    }
}

/// `15:4:5` with an optional `.`/`,` fraction of any length.
fn time_of_day(b: &[u8], i: &mut usize) -> bool {
    let Some(hour) = go_getnum(b, i) else { return false };
    if hour >= 24 || b.get(*i) != Some(&b':') {
        return false;
    }
    *i += 1;
    let Some(min) = go_getnum(b, i) else { return false };
    if min >= 60 || b.get(*i) != Some(&b':') {
        return false;
    }
    *i += 1;
    let Some(sec) = go_getnum(b, i) else { return false };
    if sec >= 60 {
        return false;
    }
    if matches!(b.get(*i), Some(b'.' | b',')) && matches!(b.get(*i + 1), Some(b'0'..=b'9')) {
        *i += 1;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
    }
    true
}

/// `Z07:00`: `Z`, or `±hh:mm` (Go accepts hours up to 24 and minutes up to 60).
fn zone(b: &[u8], i: &mut usize) -> bool {
    match b.get(*i) {
        Some(b'Z') => {
            *i += 1;
            true
        }
        Some(b'+' | b'-') => {
            let Some(z) = b.get(*i..*i + 6) else { return false };
            if z[3] != b':' || ![z[1], z[2], z[4], z[5]].iter().all(u8::is_ascii_digit) {
                return false;
            }
            let hh = (z[1] - b'0') * 10 + (z[2] - b'0');
            let mm = (z[4] - b'0') * 10 + (z[5] - b'0');
            *i += 6;
            hh <= 24 && mm <= 60
        }
        _ => false,
    }
}

/// Go `time` getnum(s, false): one or two digits.
fn go_getnum(b: &[u8], i: &mut usize) -> Option<u32> {
    let d0 = *b.get(*i).filter(|c| c.is_ascii_digit())?;
    *i += 1;
    match b.get(*i) {
        Some(&d1) if d1.is_ascii_digit() => {
            *i += 1;
            Some(u32::from(d0 - b'0') * 10 + u32::from(d1 - b'0'))
        }
        _ => Some(u32::from(d0 - b'0')),
    }
}

fn days_in(month: u32, year: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[rustfmt::skip]
    fn yaml_11_words_numbers_and_timestamps_need_quotes() {
        for s in [
            "", "y", "NO", "on", "~", "null", ".inf", "-.Inf", "1", "-1", "+1", "0x1F", "0o17", "0755", "1_000", "1_",
            "0b101", "1e3", "1.5", ".5", "-.5", "1.", "08", "1:20", "-1:20:30.5", "99999999999999999999999",
            "2001-01-01", "2001-1-1", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10", "2001-12-14T21:59:43Z",
            "2001-12-14  21:59:43", "2001-12-14T10:00:00,5Z", "2001-12-14T10:00:00+24:00", "0b-1", "0b+1", "0b_1",
        ] {
            assert!(!can_use_plain(s), "{s:?} should be quoted");
        }
    }

    #[test]
    #[rustfmt::skip]
    fn ordinary_strings_stay_plain() {
        for s in [
            "yes please", "Yes!", "yEs", "nil", "NaN", ".Nan", "<<", "0x", "0xZZ", "1e", "1.2.3", "-", "+", "1:60",
            "2001-02-30", "2001-13-01", "2001-01-01T10:00", "20010-01-01", "2001-12-14T10:00:00+25:00", "v1", "._5",
            "0x1p3", "2001-01-01 ", "0xFFFFFFFFFFFFFFFFF", "+0xFFFFFFFFFFFFFFFF", "1e400", "0b-", "0b2", "-0b-1", "-0b+1",
        ] {
            assert!(can_use_plain(s), "{s:?} should be plain");
        }
    }
}
