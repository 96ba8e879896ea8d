//! A Go `text/template` evaluator for the subset ApplicationSets use
//! (docs/controller-appset.md §3.2): field chains on nested params
//! (`{{.path.basename}}`), variables, pipelines, `if`/`range`/`with`, trim
//! markers, Go's built-in functions, the common Sprig functions and Argo CD's
//! `normalize`, `slugify`, `toYaml`, `fromYaml`, `fromYamlArray`, with the
//! `missingkey=error` option.
//!
//! Why not minijinja: Jinja has no `.field` on the dot, no Go pipelines with
//! the piped value as *last* argument, and prints missing values differently
//! (`<no value>` in Go); a small evaluator is more faithful than rewriting
//! templates. Place in the pipeline: `appset::render` runs every template
//! string through [`Template::parse`] and [`Template::execute`].

mod exec;
mod funcs;
mod parse;

use serde_json::Value;

/// A template error: the template text and what went wrong, worded after Go's
/// `text/template` messages.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} (in template {template:?})")]
pub struct Error {
    /// The template source (truncated when long).
    pub template: String,
    /// What is wrong.
    pub message: String,
}

impl Error {
    fn new(template: &str, message: &str) -> Self {
        let template = if template.chars().count() > 120 {
            let cut: String = template.chars().take(120).collect();
            format!("{cut}...")
        } else {
            template.to_string()
        };
        Error { template, message: message.to_string() }
    }
}

/// What a lookup of a key that is not in a map does (`goTemplateOptions`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissingKey {
    /// Go's default: prints `<no value>`.
    #[default]
    Default,
    /// `missingkey=error`: the lookup fails.
    Error,
}

/// Execution options parsed from `goTemplateOptions`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Behaviour of missing map keys.
    pub missing_key: MissingKey,
}

impl Options {
    /// Reads Argo CD's `goTemplateOptions` strings (`missingkey=error`,
    /// `missingkey=default|invalid|zero`); anything else is refused so a typo
    /// does not silently fall back to printing `<no value>`.
    pub fn from_strings(options: &[String]) -> Result<Options, String> {
        let mut out = Options::default();
        for option in options {
            match option.as_str() {
                "missingkey=error" => out.missing_key = MissingKey::Error,
                "missingkey=default" | "missingkey=invalid" | "missingkey=zero" => {
                    out.missing_key = MissingKey::Default
                }
                other => {
                    return Err(format!(
                        "unknown goTemplateOptions entry {other:?} (supported: missingkey=error, missingkey=default)"
                    ))
                }
            }
        }
        Ok(out)
    }
}

/// A parsed template.
#[derive(Clone, Debug)]
pub struct Template {
    source: String,
    nodes: Vec<parse::Node>,
}

impl Template {
    /// Parses `source`; syntax errors name the template.
    pub fn parse(source: &str) -> Result<Template, Error> {
        Ok(Template { source: source.to_string(), nodes: parse::parse(source)? })
    }

    /// Executes the template with `data` as the dot.
    pub fn execute(&self, data: &Value, options: Options) -> Result<String, Error> {
        exec::execute(&self.nodes, data, options).map_err(|m| Error::new(&self.source, &m))
    }
}

/// `fmt.Sprintf("%v", v)` for JSON data, as Go prints template values: maps
/// as `map[k:v]` with sorted keys, lists as `[a b]`, nil as `<nil>`.
pub fn format_v(v: &Value) -> String {
    exec::format_v(v)
}

/// Parses and executes in one step.
pub fn render(source: &str, data: &Value, options: Options) -> Result<String, Error> {
    Template::parse(source)?.execute(data, options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(src: &str, data: Value) -> String {
        render(src, &data, Options::default()).expect("template renders")
    }

    fn strict(src: &str, data: Value) -> Result<String, Error> {
        render(src, &data, Options { missing_key: MissingKey::Error })
    }

    #[test]
    fn field_chains_and_plain_text() {
        let data = json!({"path": {"basename": "guestbook", "segments": ["apps", "guestbook"]}, "name": "c1"});
        assert_eq!(run("app-{{.path.basename}}-{{ .name }}", data.clone()), "app-guestbook-c1");
        assert_eq!(run("{{index .path.segments 1}}", data.clone()), "guestbook");
        assert_eq!(run("no actions here", data), "no actions here");
    }

    #[test]
    fn missing_key_prints_no_value_by_default_and_errors_with_missingkey_error() {
        assert_eq!(run("x-{{.foo}}", json!({})), "x-<no value>");
        assert_eq!(run("x-{{.foo.bar}}", json!({})), "x-<no value>");
        let err = strict("x-{{.foo}}", json!({})).expect_err("missing key fails");
        assert_eq!(err.message, "map has no entry for key \"foo\"");
        assert_eq!(err.template, "x-{{.foo}}");
        let err = strict("{{.a.b}}", json!({"a": {}})).expect_err("nested missing key fails");
        assert_eq!(err.message, "map has no entry for key \"b\"");
    }

    #[test]
    fn field_on_a_string_is_an_error() {
        let err = render("{{.name.x}}", &json!({"name": "a"}), Options::default()).expect_err("field of string");
        assert_eq!(err.message, "can't evaluate field x in type string");
    }

    #[test]
    fn pipelines_pass_the_value_as_last_argument() {
        let data = json!({"name": "My Cluster", "empty": ""});
        assert_eq!(run("{{ .name | lower | replace \" \" \"-\" }}", data.clone()), "my-cluster");
        assert_eq!(run("{{ .empty | default \"fallback\" }}", data.clone()), "fallback");
        assert_eq!(run("{{ .missing | default \"fallback\" }}", data.clone()), "fallback");
        assert_eq!(run("{{ printf \"%s-%d\" .name 3 }}", data.clone()), "My Cluster-3");
        assert_eq!(run("{{ .name | upper | quote }}", data), "\"MY CLUSTER\"");
    }

    #[test]
    fn if_else_if_else_and_comparisons() {
        let t = "{{if eq .env \"prod\"}}p{{else if eq .env \"dev\"}}d{{else}}o{{end}}";
        assert_eq!(run(t, json!({"env": "prod"})), "p");
        assert_eq!(run(t, json!({"env": "dev"})), "d");
        assert_eq!(run(t, json!({"env": "qa"})), "o");
        assert_eq!(run("{{if and .a (not .b)}}yes{{end}}", json!({"a": true, "b": false})), "yes");
        assert_eq!(run("{{if or .a .b}}yes{{else}}no{{end}}", json!({"a": "", "b": 0})), "no");
        assert_eq!(run("{{if lt .n 3.5}}small{{end}}", json!({"n": 2.0})), "small");
        // Go refuses to compare an int with a float64 (params are float64)
        let err = render("{{if eq .n 1}}x{{end}}", &json!({"n": 1.0}), Options::default()).expect_err("int vs float");
        assert_eq!(err.message, "error calling eq: incompatible types for comparison");
        assert_eq!(run("{{if eq (len .l) 1}}one{{end}}", json!({"l": [1]})), "one");
    }

    #[test]
    fn range_with_variables_and_trim_markers() {
        let data = json!({"items": ["a", "b"], "m": {"z": 1, "a": 2}});
        assert_eq!(run("{{range $i, $e := .items}}{{$i}}={{$e}};{{end}}", data.clone()), "0=a;1=b;");
        assert_eq!(run("{{range $k, $v := .m}}{{$k}}{{$v}} {{end}}", data.clone()), "a2 z1 ");
        assert_eq!(run("{{range .none}}x{{else}}empty{{end}}", data.clone()), "empty");
        assert_eq!(run("a  {{- \"b\" -}}  c", data.clone()), "abc");
        assert_eq!(run("{{/* comment */}}x{{- /* c */ -}} y", data.clone()), "xy");
        assert_eq!(run("{{$x := .items}}{{len $x}}", data.clone()), "2");
        assert_eq!(run("{{range .items}}{{.}}{{$.m.z}}{{end}}", data), "a1b1");
    }

    #[test]
    fn with_rebinds_dot() {
        let data = json!({"meta": {"labels": {"env": "prod"}}});
        assert_eq!(run("{{with .meta.labels}}{{.env}}{{end}}", data.clone()), "prod");
        assert_eq!(run("{{with .nope}}x{{else}}none{{end}}", data), "none");
    }

    #[test]
    fn printing_follows_go_formatting() {
        let data =
            json!({"f": 1.5, "i": 3, "big": 1000000.0, "b": true, "n": null, "l": ["a", 1], "m": {"b": "x", "a": "y"}});
        assert_eq!(run("{{.f}} {{.i}} {{.big}} {{.b}} {{.n}}", data.clone()), "1.5 3 1e+06 true <no value>");
        assert_eq!(run("{{.l}} {{.m}} {{list nil}}", data.clone()), "[a 1] map[a:y b:x] [<nil>]");
        assert_eq!(run("{{printf \"%d|%d\" .i .f}}", data.clone()), "3|%!d(float64=1.5)");
        let err = render("{{.n.x}}", &data, Options::default()).expect_err("field of nil");
        assert_eq!(err.message, "nil pointer evaluating interface {}.x");
    }

    #[test]
    fn argo_functions() {
        let data = json!({"name": "Prod_Cluster.EU", "labels": {"a": "b"}});
        assert_eq!(run("{{normalize .name}}", data.clone()), "prod-cluster.eu");
        assert_eq!(run("{{slugify .name}}", data.clone()), "prod-cluster-eu");
        assert_eq!(run("{{slugify 8 false \"hello-world-foo\"}}", data.clone()), "hello-wo");
        assert_eq!(run("{{slugify 12 true \"hello-world-foo\"}}", data.clone()), "hello-world");
        assert_eq!(run("{{toJson .labels}}", data.clone()), "{\"a\":\"b\"}");
        let yaml = run("{{toYaml .nested}}", json!({"nested": {"b": [1, "x"], "a": {"c": true}}}));
        assert!(!yaml.ends_with('\n'), "toYaml trims the final newline");
        let back = crate::render::yaml::parse::parse_stream(&yaml).expect("toYaml emits YAML");
        assert_eq!(back[0].value, json!({"a": {"c": true}, "b": [1, "x"]}));
        assert_eq!(run("{{toJson (dict \"z\" 1 \"a\" \"<x>\")}}", data.clone()), "{\"a\":\"\\u003cx\\u003e\",\"z\":1}");
        assert_eq!(run("{{(fromYaml \"a: 1\").a}}", data.clone()), "1");
        assert_eq!(run("{{index (fromYamlArray \"[x, y]\") 1}}", data), "y");
    }

    #[test]
    fn sprig_string_and_math_functions() {
        let data = json!({"s": "  hello world  ", "n": 4});
        assert_eq!(run("{{trim .s}}", data.clone()), "hello world");
        assert_eq!(run("{{.s | trim | title}}", data.clone()), "Hello World");
        assert_eq!(run("{{trunc 5 (trim .s)}}", data.clone()), "hello");
        assert_eq!(run("{{add .n 1}} {{sub .n 1}} {{mul .n 2}} {{div .n 3}}", data.clone()), "5 3 8 1");
        assert_eq!(run("{{join \",\" (list \"a\" \"b\")}}", data.clone()), "a,b");
        assert_eq!(run("{{splitList \"/\" \"a/b/c\" | last}}", data.clone()), "c");
        assert_eq!(run("{{ternary \"y\" \"n\" (hasPrefix \"he\" (trim .s))}}", data.clone()), "y");
        assert_eq!(run("{{(dict \"k\" \"v\").k}} {{hasKey (dict \"k\" 1) \"k\"}}", data.clone()), "v true");
        assert_eq!(run("{{b64enc \"hi\"}} {{b64dec \"aGk=\"}}", data.clone()), "aGk= hi");
        assert_eq!(run("{{regexReplaceAll \"[0-9]+\" \"a12b3\" \"#\"}}", data.clone()), "a#b#");
        assert_eq!(run("{{title \"it's a_b c-d\"}}", data.clone()), "It'S A_b C-D");
        let nested = json!({"m": {"a": {"b": "deep"}, "x": 1.0, "y": ""}});
        assert_eq!(run("{{dig \"a\" \"b\" \"none\" .m}}|{{dig \"a\" \"z\" \"none\" .m}}", nested.clone()), "deep|none");
        assert_eq!(
            run("{{pick .m \"x\" | toJson}} {{omit .m \"a\" \"y\" | toJson}}", nested.clone()),
            "{\"x\":1} {\"x\":1}"
        );
        assert_eq!(run("{{compact (list \"a\" \"\" 0 \"b\") | join \",\"}}", nested), "a,b");
    }

    #[test]
    fn syntax_errors_name_the_problem() {
        let cases = [
            ("{{.a", "unclosed action"),
            ("{{if .a}}x", "unexpected EOF: missing {{end}} for if"),
            ("x{{end}}", "unexpected {{end}}"),
            ("{{template \"x\"}}", "{{template}} is not supported in ApplicationSet templates"),
            ("{{\"abc}}", "unclosed action"),
            ("{{ \"a\\q\" }}", "unsupported escape \\q in quoted string"),
        ];
        for (src, want) in cases {
            let err = Template::parse(src).expect_err(src);
            assert_eq!(err.message, want, "for {src}");
        }
    }

    #[test]
    fn unknown_functions_and_bad_arguments_fail() {
        let err = render("{{nosuch .a}}", &json!({}), Options::default()).expect_err("unknown function");
        assert_eq!(err.message, "function \"nosuch\" not defined");
        let err = render("{{index .l 5}}", &json!({"l": [1]}), Options::default()).expect_err("index out of range");
        assert_eq!(err.message, "error calling index: index out of range: 5");
        let err = render("{{env \"HOME\"}}", &json!({}), Options::default()).expect_err("env is removed");
        assert_eq!(err.message, "function \"env\" not defined");
    }

    /// Expected outputs recorded from Go's text/template (go1.19) on the same
    /// template and JSON data (numbers decoded as float64).
    #[test]
    fn matches_go_text_template() {
        let cases: &[(&str, Value, &str)] = &[
            ("{{.a}}", json!({"a": 1000000.0}), "1e+06"),
            ("{{.a}}", json!({"a": 12345678.9}), "1.23456789e+07"),
            ("{{.a}}", json!({"a": 0.000012}), "1.2e-05"),
            ("{{.a}}", json!({"a": 100000.5}), "100000.5"),
            ("{{.m}}", json!({"m": {"b": 1.0, "a": [1.0, "x", null, true]}}), "map[a:[1 x <nil> true] b:1]"),
            ("{{.n}}|{{index .m \"zz\"}}", json!({"n": null, "m": {}}), "<no value>|<no value>"),
            ("{{range $k, $v := .m}}{{$k}}={{$v}},{{end}}", json!({"m": {"z": 1.0, "a": 2.0}}), "a=2,z=1,"),
            ("{{$v := \"a\"}}{{if true}}{{$v = \"b\"}}{{end}}{{$v}}", json!({}), "b"),
            ("{{printf \"%s-%v-%d\" .s .f .i}}", json!({"s": "x", "f": 2.5, "i": 3.0}), "x-2.5-%!d(float64=3)"),
            ("{{print \"a\" 1 2 \"b\" \"c\"}}", json!({}), "a1 2bc"),
            ("{{len .s}}", json!({"s": "héllo"}), "6"),
            ("{{ 'a' }} {{ 0x1F }} {{ 1e3 }} {{ -2 }} {{ 017 }}", json!({}), "97 31 1000 -2 15"),
            ("{{printf \"%s\" .a .b}}", json!({"a": "x", "b": "y"}), "x%!(EXTRA string=y)"),
            ("{{printf \"%s\" .missing}}", json!({}), "%!s(<nil>)"),
            ("{{ printf \"%5s|%-3s|\" \"a\" \"b\" }}", json!({}), "    a|b  |"),
            ("{{ printf \"%05d|%-4d|%x|%t|%q\" 42 7 255 true \"s\" }}", json!({}), "00042|7   |ff|true|\"s\""),
            ("{{ printf \"%s\" 3 }} {{ printf \"%.3s\" \"abcdef\" }}", json!({}), "%!s(int=3) abc"),
            ("{{ range $i, $e := .l }}{{ if $i }},{{ end }}{{ $e }}{{ end }}", json!({"l": ["a", "b", "c"]}), "a,b,c"),
            ("x {{- 3 -}} y {{-3}}", json!({}), "x3y -3"),
            ("{{ \"}}\" }}{{ `a}}b` }}", json!({}), "}}a}}b"),
            ("{{ and 1 0 2 }} {{ or 0 \"\" }} {{ ne nil nil }}", json!({}), "0  false"),
            (
                "{{range .l}}{{if eq . \"b\"}}{{continue}}{{end}}{{if eq . \"d\"}}{{break}}{{end}}{{.}}{{end}}",
                json!({"l": ["a", "b", "c", "d", "e"]}),
                "ac",
            ),
        ];
        for (src, data, want) in cases {
            assert_eq!(run(src, data.clone()), *want, "template {src}");
        }
        let strict_short_circuit = strict("{{ if and .a .a.b }}y{{ else }}n{{ end }}", json!({"a": false}));
        assert_eq!(strict_short_circuit, Ok("n".to_string()));
        for src in ["{{ nosuchfunc }}", "{{ $undefined }}", "{{ 08 }}", "{{ range .l }}{{ $x := . }}{{ end }}{{ $x }}"]
        {
            assert!(Template::parse(src).is_err(), "{src} must not parse");
        }
        for (src, data) in [
            ("{{ .a 1 }}", json!({"a": "x"})),
            ("{{ len .n }}", json!({"n": 3.0})),
            ("{{ eq .a .b }}", json!({"a": [1], "b": [1]})),
        ] {
            assert!(render(src, &data, Options::default()).is_err(), "{src} must fail");
        }
    }

    #[test]
    fn options_parse_missingkey() {
        let opts = Options::from_strings(&["missingkey=error".to_string()]).expect("valid option");
        assert_eq!(opts.missing_key, MissingKey::Error);
        let err = Options::from_strings(&["missingkey=explode".to_string()]).expect_err("bad option");
        assert!(err.contains("unknown goTemplateOptions entry \"missingkey=explode\""), "{err}");
    }
}
