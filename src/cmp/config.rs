//! plugin.yaml: the `ConfigManagementPlugin` model as Argo CD reads it
//! (docs/cmp-protocol.md §14), parsed and validated once at startup.
//!
//! Keys match case-insensitively and unknown keys are ignored, as Go's
//! `encoding/json` does; type mismatches are errors naming the field. kcmp adds one
//! setting, `spec.generate.engine: kcmp`, which selects the in-process engine
//! (templates + Kustomize-compatible build + SOPS) instead of running commands.

use crate::cmp::error::{Error, Result};
use crate::render::yaml::parse::parse_stream;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// A validated plugin configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct PluginConfig {
    /// `metadata.name`.
    pub name: String,
    /// `spec.version` (empty = none).
    pub version: String,
    /// `spec.init`, `None` when its command is empty.
    pub init: Option<Command>,
    /// How manifests are produced.
    pub generate: Generate,
    /// `spec.discover`.
    pub discover: Discover,
    /// `spec.parameters`.
    pub parameters: Parameters,
    /// `spec.preserveFileMode`: apply the archive's file modes.
    pub preserve_file_mode: bool,
    /// `spec.provideGitCreds`.
    pub provide_git_creds: bool,
}

/// `spec.generate`.
#[derive(Clone, Debug, PartialEq)]
pub enum Generate {
    /// `engine: kcmp`: render in-process, no process is forked.
    InProcess(InProcess),
    /// Run a command like argocd-cmp-server (compat mode).
    Command(Command),
}

/// Settings of the in-process engine (`spec.generate.kcmp`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct InProcess {
    /// A directory without a kustomization: also read subdirectories.
    pub recurse: bool,
    /// Refuse SOPS files (`decrypt: false`); default: decrypt with the sidecar's keys.
    pub decrypt: bool,
}

impl Default for InProcess {
    fn default() -> InProcess {
        InProcess { recurse: false, decrypt: true }
    }
}

/// A command line: `command` then `args` (§7.1).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Command {
    /// Program and leading arguments.
    pub command: Vec<String>,
    /// Further arguments.
    pub args: Vec<String>,
}

impl Command {
    /// `command ++ args`.
    pub fn argv(&self) -> Vec<String> {
        self.command.iter().chain(&self.args).cloned().collect()
    }
}

/// `spec.discover`; the first non-empty rule decides (§11).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Discover {
    /// Rule 1: a Go `filepath.Glob` pattern relative to the app dir.
    #[serde(rename = "filename")]
    pub file_name: String,
    /// Rules 2 and 3.
    pub find: Find,
}

/// `spec.discover.find`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Find {
    /// Rule 2: a zglob pattern (`**`, `{a,b}`).
    pub glob: String,
    /// Rule 3: a command whose non-empty stdout means "supported".
    pub command: Vec<String>,
    /// Arguments of rule 3.
    pub args: Vec<String>,
}

/// The rule MatchRepository applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule<'a> {
    /// `discover.fileName`.
    FileName(&'a str),
    /// `discover.find.glob`.
    Glob(&'a str),
    /// `discover.find.command`.
    Command(Command),
}

impl Discover {
    /// The deciding rule, or `None` when discovery is not configured (§13).
    pub fn rule(&self) -> Option<Rule<'_>> {
        if !self.file_name.is_empty() {
            Some(Rule::FileName(&self.file_name))
        } else if !self.find.glob.is_empty() {
            Some(Rule::Glob(&self.find.glob))
        } else if !self.find.command.is_empty() {
            Some(Rule::Command(Command { command: self.find.command.clone(), args: self.find.args.clone() }))
        } else {
            None
        }
    }
}

/// `spec.parameters`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Parameters {
    /// Announced as they are.
    #[serde(rename = "static")]
    pub static_: Vec<Announcement>,
    /// A command printing a JSON list of announcements.
    pub dynamic: Command,
}

/// A parameter announcement (`repository.ParameterAnnouncement`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Announcement {
    /// Parameter name.
    pub name: String,
    /// UI title.
    pub title: String,
    /// UI tooltip.
    pub tooltip: String,
    /// Whether the UI requires a value.
    pub required: bool,
    /// Item type, free text (e.g. `string`).
    #[serde(rename = "itemtype")]
    pub item_type: String,
    /// `string`, `array` or `map`, free text.
    #[serde(rename = "collectiontype")]
    pub collection_type: String,
    /// Default for a string parameter.
    pub string: String,
    /// Default for an array parameter.
    pub array: Vec<String>,
    /// Default for a map parameter (keys kept as written).
    pub map: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawFile {
    kind: String,
    metadata: RawMetadata,
    spec: RawSpec,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawMetadata {
    name: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawSpec {
    version: String,
    init: Command,
    generate: RawGenerate,
    discover: Discover,
    parameters: Parameters,
    #[serde(rename = "preservefilemode")]
    preserve_file_mode: bool,
    #[serde(rename = "providegitcreds")]
    provide_git_creds: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawGenerate {
    command: Vec<String>,
    args: Vec<String>,
    engine: String,
    kcmp: InProcess,
}

impl PluginConfig {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<PluginConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            file: path.to_path_buf(),
            detail: format!("cannot read it: {e}; set --config to the plugin.yaml path"),
        })?;
        PluginConfig::parse(path, &text)
    }

    /// Parses and validates plugin.yaml text; `path` is for messages only.
    pub fn parse(path: &Path, text: &str) -> Result<PluginConfig> {
        let bad = |detail: String| Error::Config { file: path.to_path_buf(), detail };
        let docs = parse_stream(text).map_err(|e| bad(format!("line {}: {}", e.line, e.message)))?;
        // Argo CD reads the first document only.
        let first = docs.into_iter().next().map(|d| d.value).unwrap_or(Value::Null);
        if !first.is_object() {
            return Err(bad("expected a ConfigManagementPlugin object".into()));
        }
        let raw: RawFile = serde_json::from_value(fold_keys(first)).map_err(|e| bad(e.to_string()))?;
        // Validation order and wording as argocd-cmp-server (§14).
        if raw.metadata.name.is_empty() {
            return Err(bad("metadata.name should be non-empty".into()));
        }
        if raw.kind != "ConfigManagementPlugin" {
            return Err(bad(format!("kind should be ConfigManagementPlugin, found {}", raw.kind)));
        }
        let generate = match raw.spec.generate.engine.as_str() {
            "kcmp" => Generate::InProcess(raw.spec.generate.kcmp),
            "" | "command" => {
                if raw.spec.generate.command.is_empty() {
                    return Err(bad(
                        "spec.generate command should be non-empty (or set spec.generate.engine: kcmp)".into()
                    ));
                }
                Generate::Command(Command { command: raw.spec.generate.command, args: raw.spec.generate.args })
            }
            other => {
                return Err(bad(format!("spec.generate.engine should be kcmp or command, found {other}")));
            }
        };
        let init = (!raw.spec.init.command.is_empty()).then_some(raw.spec.init);
        Ok(PluginConfig {
            name: raw.metadata.name,
            version: raw.spec.version,
            init,
            generate,
            discover: raw.spec.discover,
            parameters: raw.spec.parameters,
            preserve_file_mode: raw.spec.preserve_file_mode,
            provide_git_creds: raw.spec.provide_git_creds,
        })
    }

    /// `<name>-<version>.sock`, or `<name>.sock` without a version (§1).
    pub fn socket_file_name(&self) -> String {
        if self.version.is_empty() {
            format!("{}.sock", self.name)
        } else {
            format!("{}-{}.sock", self.name, self.version)
        }
    }
}

/// Lower-cases object keys so serde matches them the way Go's `encoding/json` does
/// (case-insensitively). The values of a `map` key are user data and keep their keys.
pub(crate) fn fold_keys(value: Value) -> Value {
    match value {
        Value::Object(obj) => {
            let mut out = Map::new();
            for (k, v) in obj {
                let key = k.to_lowercase();
                let v = if key == "map" { v } else { fold_keys(v) };
                // Go's decoder assigns every matching key in order: the last spelling wins.
                out.insert(key, v);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(fold_keys).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PluginConfig> {
        PluginConfig::parse(Path::new("plugin.yaml"), text)
    }

    #[test]
    fn keys_match_case_insensitively_and_unknown_keys_are_ignored() {
        let c = parse(
            "apiVersion: argoproj.io/v1alpha1\nkind: ConfigManagementPlugin\nmetadata: {name: p}\nspec:\n  Version: v1\n  GENERATE: {command: [sh, -c], args: [cat x.yaml]}\n  discover: {FileName: '*.yaml'}\n  lockRepo: true\n  parameters:\n    static: [{name: a, collectionType: map, map: {MixedKey: v}}]\n",
        )
        .expect("valid");
        assert_eq!(c.version, "v1");
        assert_eq!(c.socket_file_name(), "p-v1.sock");
        assert_eq!(
            c.generate,
            Generate::Command(Command { command: vec!["sh".into(), "-c".into()], args: vec!["cat x.yaml".into()] })
        );
        assert_eq!(c.discover.rule(), Some(Rule::FileName("*.yaml")));
        assert_eq!(c.parameters.static_[0].collection_type, "map");
        assert_eq!(c.parameters.static_[0].map.get("MixedKey").map(String::as_str), Some("v"));
    }

    #[test]
    fn engine_kcmp_needs_no_command() {
        let c = parse("kind: ConfigManagementPlugin\nmetadata: {name: kcmp}\nspec:\n  generate:\n    engine: kcmp\n")
            .expect("valid");
        assert_eq!(c.generate, Generate::InProcess(InProcess { recurse: false, decrypt: true }));
        assert_eq!(c.socket_file_name(), "kcmp.sock");
        assert_eq!(c.discover.rule(), None);
    }

    #[test]
    fn validation_messages_follow_argocd_order_and_wording() {
        let e = parse("kind: Other\nspec: {generate: {command: [x]}}\n").expect_err("no name");
        assert_eq!(e.to_string(), "invalid plugin configuration file plugin.yaml: metadata.name should be non-empty");
        let e = parse("kind: Other\nmetadata: {name: p}\n").expect_err("bad kind");
        assert!(e.to_string().ends_with("kind should be ConfigManagementPlugin, found Other"), "{e}");
        let e = parse("kind: ConfigManagementPlugin\nmetadata: {name: p}\n").expect_err("no generate");
        assert!(e.to_string().contains("spec.generate command should be non-empty"), "{e}");
        let e = parse("kind: ConfigManagementPlugin\nmetadata: {name: p}\nspec: {generate: {engine: helm}}\n")
            .expect_err("bad engine");
        assert!(e.to_string().contains("spec.generate.engine should be kcmp or command, found helm"), "{e}");
    }

    #[test]
    fn of_two_spellings_of_a_key_the_last_wins_like_go() {
        let c = parse("kind: ConfigManagementPlugin\nmetadata: {name: p}\nspec:\n  generate: {command: [a]}\n  Generate: {command: [b]}\n")
            .expect("valid");
        assert_eq!(c.generate, Generate::Command(Command { command: vec!["b".into()], args: vec![] }));
    }

    #[test]
    fn a_number_where_a_string_is_expected_is_a_type_error() {
        let e = parse(
            "kind: ConfigManagementPlugin\nmetadata: {name: p}\nspec:\n  generate: {command: [x]}\n  parameters: {static: [{name: a, string: 1}]}\n",
        )
        .expect_err("type error");
        assert!(e.to_string().contains("invalid type: integer `1`, expected a string"), "{e}");
    }
}
