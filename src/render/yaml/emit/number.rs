//! JSON numbers as `kubectl kustomize` prints them. Kustomize hands each object
//! to sigs.k8s.io/yaml as JSON text (Go `encoding/json`), which go-yaml v2 reads
//! back: integral text becomes an int (or uint64), anything else a float64 that
//! is printed with Go's `strconv.FormatFloat(f, 'g', -1, 64)`
//! (docs/kustomize-semantics.md §12, "numbers go through JSON").

use serde_json::Number;
use std::fmt::Write;

/// Appends `n` the way the Go JSON -> go-yaml v2 round trip prints it.
pub(super) fn write_number(out: &mut String, n: &Number) {
    if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else if let Some(f) = n.as_f64() {
        write_float(out, f);
    }
}

/// Go's JSON encoder prints integral floats below 1e21 as their shortest digits
/// padded with zeros (`%f`); go-yaml v2 then reads that text as an int when it
/// fits int64 or uint64 and as a float64 otherwise.
fn write_float(out: &mut String, f: f64) {
    if f.fract() == 0.0 && f.abs() < 1e21 {
        if f == 0.0 {
            out.push('0');
            return;
        }
        let (digits, exp) = shortest_digits(f);
        let mut text = digits;
        for _ in text.len()..=(exp as usize) {
            text.push('0');
        }
        let fits = match text.parse::<u128>() {
            Ok(v) if f < 0.0 => v <= 1u128 << 63,
            Ok(v) => v <= u128::from(u64::MAX),
            Err(_) => false,
        };
        if fits {
            if f < 0.0 {
                out.push('-');
            }
            out.push_str(&text);
            return;
        }
    }
    write_go_g(out, f);
}

/// The shortest round-trip decimal digits of `|f|` and its decimal exponent
/// (`d.ddd × 10^exp`), chosen like Go's Ryū: of the shortest digit strings that
/// read back as `f`, the one closest to its exact value, ties to even. Rust's
/// `{:e}` finds the shortest length but may break an exact tie the other way
/// (96261989922895.125 -> Rust `...513`, Go `...512`), so the candidate is
/// re-derived with correctly rounded (half-even) fixed precision.
fn shortest_digits(f: f64) -> (String, i32) {
    let (shortest, exp) = split_sci(&format!("{:e}", f.abs()));
    let precision = shortest.len().saturating_sub(1);
    let rounded = format!("{:.precision$e}", f.abs());
    if rounded.parse::<f64>().ok() == Some(f.abs()) {
        let (mut digits, exp) = split_sci(&rounded);
        while digits.len() > 1 && digits.ends_with('0') {
            digits.pop();
        }
        return (digits, exp);
    }
    (shortest, exp)
}

/// `d.ddde±x` (Rust's `{:e}`) -> (digits, exponent).
fn split_sci(sci: &str) -> (String, i32) {
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    (mantissa.chars().filter(|c| c.is_ascii_digit()).collect(), exp.parse().unwrap_or(0))
}

/// `strconv.FormatFloat(f, 'g', -1, 64)`: the shortest round-trip digits, in
/// `%e` form when the decimal exponent is below -4 or at least 6 (Go uses
/// precision 6 for that decision when formatting shortest), else `%f` form.
fn write_go_g(out: &mut String, f: f64) {
    if !f.is_finite() {
        // serde_json numbers are always finite; go-yaml v2 spells these so.
        out.push_str(if f.is_nan() {
            ".nan"
        } else if f > 0.0 {
            ".inf"
        } else {
            "-.inf"
        });
        return;
    }
    if f == 0.0 {
        out.push('0');
        return;
    }
    let (digits, exp) = shortest_digits(f);
    if f < 0.0 {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        let (first, rest) = (digits.get(..1).unwrap_or("0"), digits.get(1..).unwrap_or(""));
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let _ = write!(out, "{:02}", exp.unsigned_abs());
        return;
    }
    // %f with exactly the shortest digits.
    let dp = exp + 1;
    if dp <= 0 {
        out.push_str("0.");
        for _ in 0..(-dp) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let dp = dp as usize;
        if digits.len() <= dp {
            out.push_str(&digits);
            for _ in digits.len()..dp {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..dp]);
            out.push('.');
            out.push_str(&digits[dp..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(f: f64) -> String {
        let mut s = String::new();
        write_float(&mut s, f);
        s
    }

    #[test]
    fn integral_floats_print_as_go_json_then_yaml_ints() {
        assert_eq!(show(1.0), "1");
        assert_eq!(show(-0.0), "0");
        assert_eq!(show(1e3), "1000");
        assert_eq!(show(12345678901234567890.0), "12345678901234567000");
        assert_eq!(show(-1.2345678901234568e18), "-1234567890123456800");
        assert_eq!(show(1e20), "1e+20");
        assert_eq!(show(1e21), "1e+21");
    }

    #[test]
    fn fractions_use_go_shortest_g_format() {
        assert_eq!(show(1.5), "1.5");
        assert_eq!(show(0.0001), "0.0001");
        assert_eq!(show(0.00001), "1e-05");
        assert_eq!(show(1234567.5), "1.2345675e+06");
        assert_eq!(show(123456.5), "123456.5");
        assert_eq!(show(-2.5e-300), "-2.5e-300");
        assert_eq!(show(0.1), "0.1");
        // An exact tie between two shortest candidates goes to the even digit, as in Go.
        assert_eq!(show(96261989922895.0 + 0.125), "9.626198992289512e+13");
    }
}
