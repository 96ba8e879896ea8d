//! fasttemplate, the default ApplicationSet template style
//! (docs/controller-appset.md §3.1): `{{ name }}` is replaced by the
//! parameter `name` (whitespace inside the braces trimmed) only when that
//! parameter exists and is a string; any other tag is written back verbatim,
//! and so is an unclosed `{{`, as valyala/fasttemplate and Argo CD's
//! `replaceWithFastTemplate` do.

use super::params::Params;
use serde_json::Value;

/// Replaces the `{{param}}` tags of `text`. Like Argo CD (which first tests
/// the regex `.*{{.*}}.*`, where `.` stops at a newline), a string with no
/// line holding `{{` and a later `}}` is returned untouched.
pub fn render(text: &str, params: &Params) -> String {
    let templated = text.split('\n').any(|line| line.find("{{").is_some_and(|i| line[i + 2..].contains("}}")));
    if !templated {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            out.push_str("{{");
            out.push_str(after);
            return out;
        };
        let tag = &after[..close];
        let key = tag.trim();
        match params.get(key) {
            Some(Value::String(v)) if !key.is_empty() => out.push_str(v),
            _ => {
                out.push_str("{{");
                out.push_str(tag);
                out.push_str("}}");
            }
        }
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: Value) -> Params {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn replaces_string_params_with_trimmed_tags() {
        let p = params(json!({"cluster": "prod", "path.basename": "guestbook"}));
        assert_eq!(render("{{cluster}}-{{ path.basename }}", &p), "prod-guestbook");
        assert_eq!(render("plain", &p), "plain");
    }

    #[test]
    fn unknown_or_non_string_params_stay_verbatim() {
        let p = params(json!({"n": 3, "ok": "x"}));
        assert_eq!(render("{{foo}}/{{ n }}/{{ok}}", &p), "{{foo}}/{{ n }}/x");
        assert_eq!(render("{{}}", &p), "{{}}");
    }

    #[test]
    fn tags_split_across_lines_are_not_templated() {
        let p = params(json!({"a": "x"}));
        assert_eq!(render("{{\na}}", &p), "{{\na}}");
        // once one line holds a tag, every tag is replaced, as fasttemplate does
        assert_eq!(render("{{a}}\n{{\na}}", &p), "x\nx");
    }

    #[test]
    fn unclosed_tag_is_written_back() {
        let p = params(json!({"a": "x"}));
        assert_eq!(render("{{a}} and {{a", &p), "x and {{a");
    }
}
