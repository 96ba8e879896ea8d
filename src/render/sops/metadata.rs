//! The `sops` metadata block (docs/sops-format.md §3): master keys per group,
//! the selection rule, `mac_only_encrypted`, the MAC and `lastmodified`.
//! Read from a JSON view of the block, with the weak typing sops applies to the
//! flattened (dotenv/INI) form, where every value is a string.

use crate::render::sops::error::Error;
use regex::Regex;
use serde_json::{Map, Value};

/// One master key: the recipient that holds a copy (or share) of the data key.
#[derive(Clone, Debug)]
pub(crate) enum MasterKey {
    /// `age: [{recipient, enc}]`.
    Age { recipient: String, enc: String },
    /// `pgp: [{fp, enc}]`.
    Pgp { fp: String, enc: String },
    /// A cloud KMS / Vault key: its metadata field (`kms`...), type name and id, for messages.
    Remote { field: &'static str, kind: &'static str, id: String },
}

impl MasterKey {
    /// The type name `SOPS_DECRYPTION_ORDER` uses.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            MasterKey::Age { .. } => "age",
            MasterKey::Pgp { .. } => "pgp",
            MasterKey::Remote { field, .. } => field,
        }
    }

    /// How the key is named in "recipients tried" lists.
    pub(crate) fn label(&self) -> String {
        match self {
            MasterKey::Age { recipient, .. } => format!("age {recipient}"),
            MasterKey::Pgp { fp, .. } => format!("pgp {fp}"),
            MasterKey::Remote { kind, id, .. } => format!("{kind} {id}"),
        }
    }
}

/// Which leaves are encrypted (exactly one rule; none means `unencrypted_suffix: _unencrypted`).
#[derive(Clone, Debug)]
pub(crate) enum Rule {
    UnencryptedSuffix(String),
    EncryptedSuffix(String),
    UnencryptedRegex(Regex),
    EncryptedRegex(Regex),
    UnencryptedCommentRegex(Regex),
    EncryptedCommentRegex(Regex),
}

/// The parsed `sops` block.
#[derive(Clone, Debug)]
pub(crate) struct Metadata {
    pub(crate) lastmodified: String,
    pub(crate) mac: String,
    pub(crate) groups: Vec<Vec<MasterKey>>,
    pub(crate) threshold: usize,
    pub(crate) rule: Rule,
    pub(crate) mac_only_encrypted: bool,
}

const REMOTE: [(&str, &str, &str); 5] = [
    ("kms", "aws kms", "arn"),
    ("gcp_kms", "gcp kms", "resource_id"),
    ("hckms", "huaweicloud kms", "key_id"),
    ("azure_kv", "azure key vault", "vault_url"),
    ("hc_vault", "hashicorp vault", "vault_address"),
];

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn list<'a>(group: &'a Map<String, Value>, field: &str) -> Result<&'a [Value], Error> {
    match group.get(field) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(Error::Metadata(format!("'{field}' must be a list of keys"))),
    }
}

/// Keys of one group in sops' try order: the decryption order (age, then pgp) first,
/// every other type after, as listed (§9).
fn group_keys(group: &Map<String, Value>) -> Result<Vec<MasterKey>, Error> {
    let mut keys = Vec::new();
    for item in list(group, "age")? {
        let obj = item.as_object().ok_or_else(|| Error::Metadata("an age entry is not a mapping".into()))?;
        let recipient = text(obj.get("recipient")).unwrap_or_default();
        let enc = text(obj.get("enc")).ok_or_else(|| Error::Metadata(format!("age key {recipient} has no enc")))?;
        keys.push(MasterKey::Age { recipient, enc });
    }
    for item in list(group, "pgp")? {
        let obj = item.as_object().ok_or_else(|| Error::Metadata("a pgp entry is not a mapping".into()))?;
        let fp = text(obj.get("fp")).unwrap_or_default();
        let enc = text(obj.get("enc")).ok_or_else(|| Error::Metadata(format!("pgp key {fp} has no enc")))?;
        keys.push(MasterKey::Pgp { fp, enc });
    }
    for (field, kind, id_field) in REMOTE {
        for item in list(group, field)? {
            let id = item.as_object().and_then(|o| text(o.get(id_field))).unwrap_or_default();
            keys.push(MasterKey::Remote { field, kind, id });
        }
    }
    Ok(keys)
}

fn has_keys(group: &Map<String, Value>) -> bool {
    ["age", "pgp", "kms", "gcp_kms", "hckms", "azure_kv", "hc_vault"]
        .iter()
        .any(|f| matches!(group.get(*f), Some(Value::Array(a)) if !a.is_empty()))
}

fn regex(field: &str, pattern: &str) -> Result<Regex, Error> {
    Regex::new(pattern).map_err(|_| Error::Metadata(format!("{field} {pattern:?} is not a valid regular expression")))
}

impl Metadata {
    /// Validates the block (§3): keys present, at most one selection rule.
    pub(crate) fn parse(block: &Value) -> Result<Metadata, Error> {
        let m = block.as_object().ok_or_else(|| Error::Metadata("the sops entry is not a mapping".into()))?;
        let lastmodified =
            text(m.get("lastmodified")).ok_or_else(|| Error::Metadata("sops.lastmodified is missing".into()))?;
        let mac = text(m.get("mac")).unwrap_or_default();
        let groups = if has_keys(m) {
            vec![group_keys(m)?]
        } else {
            match m.get("key_groups") {
                Some(Value::Array(groups)) => groups
                    .iter()
                    .map(|g| {
                        g.as_object()
                            .ok_or_else(|| Error::Metadata("a key group is not a mapping".into()))
                            .and_then(group_keys)
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                _ => Vec::new(),
            }
        };
        if groups.iter().all(Vec::is_empty) {
            return Err(Error::Metadata("no keys found in the file".into()));
        }
        let threshold = match m.get("shamir_threshold") {
            None | Some(Value::Null) => 0,
            Some(v) => text(Some(v))
                .and_then(|t| t.parse::<usize>().ok())
                .ok_or_else(|| Error::Metadata("shamir_threshold is not a number".into()))?,
        };
        // A file without a threshold but several groups was written with threshold = groups.
        let threshold = if groups.len() > 1 && threshold == 0 { groups.len() } else { threshold };
        let mac_only_encrypted = match m.get("mac_only_encrypted") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(v) => match text(Some(v)).as_deref() {
                Some("true" | "True" | "TRUE" | "1" | "t" | "T") => true,
                Some("false" | "False" | "FALSE" | "0" | "f" | "F" | "") => false,
                _ => return Err(Error::Metadata("mac_only_encrypted is not a boolean".into())),
            },
        };
        let mut rules = Vec::new();
        for field in [
            "unencrypted_suffix",
            "encrypted_suffix",
            "unencrypted_regex",
            "encrypted_regex",
            "unencrypted_comment_regex",
            "encrypted_comment_regex",
        ] {
            if let Some(p) = text(m.get(field)).filter(|p| !p.is_empty()) {
                rules.push(match field {
                    "unencrypted_suffix" => Rule::UnencryptedSuffix(p),
                    "encrypted_suffix" => Rule::EncryptedSuffix(p),
                    "unencrypted_regex" => Rule::UnencryptedRegex(regex(field, &p)?),
                    "encrypted_regex" => Rule::EncryptedRegex(regex(field, &p)?),
                    "unencrypted_comment_regex" => Rule::UnencryptedCommentRegex(regex(field, &p)?),
                    _ => Rule::EncryptedCommentRegex(regex(field, &p)?),
                });
            }
        }
        if rules.len() > 1 {
            return Err(Error::Metadata(
                "cannot use more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, or unencrypted_comment_regex in the same file".into(),
            ));
        }
        let rule = rules.pop().unwrap_or_else(|| Rule::UnencryptedSuffix("_unencrypted".into()));
        Ok(Metadata { lastmodified, mac, groups, threshold, rule, mac_only_encrypted })
    }
}

/// Rebuilds the nested block from flattened dotenv/INI keys (§2):
/// `age__list_0__map_enc` -> `age[0].enc`.
pub(crate) fn unflatten(pairs: &[(String, String)]) -> Result<Value, Error> {
    let mut root = Value::Object(Map::new());
    for (key, value) in pairs {
        let mut steps: Vec<Step> = Vec::new();
        let mut rest = key.as_str();
        let first_end = next_marker(rest).unwrap_or(rest.len());
        steps.push(Step::Key(rest[..first_end].to_string()));
        rest = &rest[first_end..];
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix("__list_") {
                let end = next_marker(r).unwrap_or(r.len());
                let idx = r[..end]
                    .parse::<usize>()
                    .map_err(|_| Error::Metadata(format!("flattened key {key:?} has a bad list index")))?;
                steps.push(Step::Index(idx));
                rest = &r[end..];
            } else if let Some(r) = rest.strip_prefix("__map_") {
                let end = next_marker(r).unwrap_or(r.len());
                steps.push(Step::Key(r[..end].to_string()));
                rest = &r[end..];
            } else {
                return Err(Error::Metadata(format!("flattened key {key:?} is malformed")));
            }
        }
        insert(&mut root, &steps, Value::String(value.clone()), key)?;
    }
    Ok(root)
}

enum Step {
    Key(String),
    Index(usize),
}

fn next_marker(s: &str) -> Option<usize> {
    match (s.find("__list_"), s.find("__map_")) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn insert(node: &mut Value, steps: &[Step], value: Value, key: &str) -> Result<(), Error> {
    let Some((step, rest)) = steps.split_first() else {
        *node = value;
        return Ok(());
    };
    let conflict = || Error::Metadata(format!("flattened key {key:?} conflicts with another key"));
    match step {
        Step::Key(k) => {
            if node.is_null() {
                *node = Value::Object(Map::new());
            }
            let obj = node.as_object_mut().ok_or_else(conflict)?;
            let child = obj.entry(k.clone()).or_insert(Value::Null);
            insert(child, rest, value, key)
        }
        Step::Index(i) => {
            if node.is_null() {
                *node = Value::Array(Vec::new());
            }
            let arr = node.as_array_mut().ok_or_else(conflict)?;
            if *i > 10_000 {
                return Err(conflict());
            }
            while arr.len() <= *i {
                arr.push(Value::Null);
            }
            insert(&mut arr[*i], rest, value, key)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unflattens_dotenv_metadata() {
        let pairs = vec![
            ("age__list_0__map_recipient".to_string(), "age1x".to_string()),
            ("age__list_0__map_enc".to_string(), "armor".to_string()),
            ("mac_only_encrypted".to_string(), "true".to_string()),
            ("unencrypted_suffix".to_string(), "_unencrypted".to_string()),
        ];
        let v = unflatten(&pairs).expect("unflatten");
        assert_eq!(v["age"], json!([{"recipient": "age1x", "enc": "armor"}]));
        let mut v = v;
        v["lastmodified"] = json!("2024-01-01T00:00:00Z");
        let m = Metadata::parse(&v).expect("parse");
        assert!(m.mac_only_encrypted);
        assert_eq!(m.groups.len(), 1);
    }

    #[test]
    fn two_selection_rules_are_rejected() {
        let v = json!({"lastmodified": "x", "age": [{"recipient": "a", "enc": "e"}],
            "encrypted_regex": "^data$", "unencrypted_suffix": "_u"});
        let err = Metadata::parse(&v).expect_err("two rules");
        assert!(err.to_string().starts_with("invalid sops metadata: cannot use more than one of"), "{err}");
    }

    #[test]
    fn remote_key_types_are_listed_by_type() {
        let v = json!({"lastmodified": "x", "kms": [{"arn": "arn:aws:kms:1", "enc": "e"}]});
        let m = Metadata::parse(&v).expect("parse");
        assert_eq!(m.groups[0][0].label(), "aws kms arn:aws:kms:1");
    }
}
