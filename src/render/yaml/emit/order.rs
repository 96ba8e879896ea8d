//! Mapping key order of go-yaml v2 (`sorter.go` `keyList.Less`), which
//! `kubectl kustomize` output follows (docs/kustomize-semantics.md §12): not
//! bytewise but "natural", digit runs compared as numbers and non-letters
//! before letters. Part of the emitter ([`super`]); used once per mapping.

/// Sorts mapping entries with go-yaml v2's key order. A hand-written merge sort:
/// the natural order is not guaranteed to be a total order for every input, and
/// `slice::sort_by` may panic on such comparators.
pub(super) fn sort_keys<K: AsRef<str> + Clone, V: Clone>(entries: &mut [(K, V)]) {
    if entries.len() <= INSERTION_MAX {
        insertion_sort(entries);
        return;
    }
    let mut buf = entries.to_vec();
    merge_sort(entries, &mut buf);
}

/// Below this many entries (most Kubernetes mappings) insertion sort needs no buffer.
const INSERTION_MAX: usize = 8;

fn insertion_sort<K: AsRef<str>, V>(v: &mut [(K, V)]) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && natural_less(v[j].0.as_ref(), v[j - 1].0.as_ref()) {
            v.swap(j, j - 1);
            j -= 1;
        }
    }
}

fn merge_sort<K: AsRef<str> + Clone, V: Clone>(v: &mut [(K, V)], buf: &mut [(K, V)]) {
    let n = v.len();
    if n <= INSERTION_MAX {
        insertion_sort(v);
        return;
    }
    let mid = n / 2;
    {
        let (lo, hi) = v.split_at_mut(mid);
        let (blo, bhi) = buf.split_at_mut(mid);
        merge_sort(lo, blo);
        merge_sort(hi, bhi);
    }
    buf[..n].clone_from_slice(v);
    let (lo, hi) = buf[..n].split_at(mid);
    let (mut i, mut j) = (0, 0);
    for slot in v.iter_mut() {
        let take_hi = j < hi.len() && (i >= lo.len() || natural_less(hi[j].0.as_ref(), lo[i].0.as_ref()));
        if take_hi {
            *slot = hi[j].clone();
            j += 1;
        } else {
            *slot = lo[i].clone();
            i += 1;
        }
    }
}

/// go-yaml v2 `keyList.Less` for two strings: runs of digits compare by value
/// (a run of zeros after a nonzero digit counts as one more), a letter sorts
/// after a non-letter, otherwise characters compare by code point.
fn natural_less(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() && a.as_bytes().iter().zip(b.as_bytes()).all(|(x, y)| x == y) {
        return a.len() < b.len();
    }
    let mut ai = a.chars();
    let mut bi = b.chars();
    // Whether the run of digits just before the current position holds a nonzero digit.
    let mut run_nonzero = false;
    loop {
        let (ra, rb) = (ai.clone(), bi.clone());
        let (Some(ca), Some(cb)) = (ai.next(), bi.next()) else {
            return a.chars().count() < b.chars().count();
        };
        if ca == cb {
            if is_go_digit(ca) {
                run_nonzero |= ca != '0';
            } else {
                run_nonzero = false;
            }
            continue;
        }
        let (al, bl) = (ca.is_alphabetic(), cb.is_alphabetic());
        if al && bl {
            return ca < cb;
        }
        if al || bl {
            return bl;
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if (ca == '0' || cb == '0') && run_nonzero {
            an = 1;
            bn = 1;
        }
        let (an, alen) = digit_run(ra, an);
        let (bn, blen) = digit_run(rb, bn);
        if an != bn {
            return an < bn;
        }
        if alen != blen {
            return alen < blen;
        }
        return ca < cb;
    }
}

/// Go's digit accumulation over a run of `unicode.IsDigit` characters (wrapping like int64).
fn digit_run(chars: std::str::Chars<'_>, mut n: i64) -> (i64, usize) {
    let mut len = 0;
    for c in chars.take_while(|&c| is_go_digit(c)) {
        n = n.wrapping_mul(10).wrapping_add(i64::from(u32::from(c)) - i64::from(b'0'));
        len += 1;
    }
    (n, len)
}

fn is_go_digit(c: char) -> bool {
    c.is_ascii_digit() || (!c.is_ascii() && c.is_numeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn keys_sort_naturally_like_go_yaml_v2() {
        let mut keys = vec!["a10", "a9", "ab", "aB", "a_b", "a-b", "A", "1", "a0", "a00", "a01", "é", "b"];
        let mut entries: Vec<(String, Value)> = keys.iter().map(|k| (k.to_string(), Value::Null)).collect();
        let mut refs: Vec<(&String, &Value)> = entries.iter_mut().map(|(k, v)| (&*k, &*v)).collect();
        sort_keys(&mut refs);
        let got: Vec<&str> = refs.iter().map(|(k, _)| k.as_str()).collect();
        keys = vec!["1", "A", "a-b", "a_b", "a0", "a00", "a01", "a9", "a10", "aB", "ab", "b", "é"];
        assert_eq!(got, keys);
    }
}
