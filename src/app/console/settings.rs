//! The settings page: every section and key of the configuration, where each value comes
//! from, what the example config says of it, and saving changes to the page's overlay.

use crate::config::overlay::{self, PAGE_READ_ONLY};
use crate::config::{env_var_name, Config};
use crate::web::backend::{FieldKind, SettingField, SettingsSection};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The commented example config: every key's help text comes from it.
const EXAMPLE: &str = include_str!("../../../firmware/etc/callbox/callbox.toml");

/// Sections whose keys apply from the next call on (the call flow's script and schedule; the
/// on-call fallback technician from the next alert on); every other key needs a restart.
const LIVE_SECTIONS: &[&str] = &["triage", "dialog", "schedule"];
const LIVE_KEYS: &[&str] = &[
    "shop.name",
    "shop.timezone",
    "alerts.fallback_name",
    "alerts.fallback_phone",
];

/// Whether changing `key` (`section.key`) needs a restart.
pub fn needs_restart(key: &str) -> bool {
    let section = key.split_once('.').map_or(key, |(s, _)| s);
    !(LIVE_KEYS.contains(&key) || LIVE_SECTIONS.contains(&section))
}

/// Keys the dialog speaks: the page offers "hear it".
fn is_prompt(section: &str, key: &str, value: &toml::Value) -> bool {
    section == "dialog" && value.is_str() || (section == "shop" && key == "name")
}

/// `section.key` → the comment above it in the example config.
pub fn help_texts() -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut section = String::new();
    let mut comment: Vec<&str> = Vec::new();
    for line in EXAMPLE.lines() {
        let line = line.trim();
        if line.is_empty() {
            comment.clear();
        } else if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim_matches(['[', ']']).to_string();
            comment.clear();
        } else if let Some(key) = key_of(line) {
            if !comment.is_empty() {
                out.entry(format!("{section}.{key}"))
                    .or_insert_with(|| comment.join(" "));
            }
        } else if let Some(text) = line.strip_prefix('#') {
            comment.push(text.trim());
        }
    }
    out
}

/// `key = …` or a commented example `# key = …`.
fn key_of(line: &str) -> Option<&str> {
    let body = line.trim_start_matches('#').trim_start();
    let (key, _) = body.split_once('=')?;
    let key = key.trim();
    (!key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
    .then_some(key)
}

/// Where each value comes from.
pub struct Sources {
    pub file: toml::Table,
    pub overlay: toml::Table,
    pub env: Vec<String>,
}

impl Sources {
    /// The configuration file the box loaded, the page's overlay and this process's
    /// environment overrides.
    pub fn read(data_dir: &Path) -> Sources {
        let file = overlay::loaded_from()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| t.parse::<toml::Table>().ok())
            .unwrap_or_default();
        Sources {
            file,
            overlay: overlay::read_overlay(data_dir).unwrap_or_default(),
            env: std::env::vars_os()
                .filter_map(|(k, _)| k.into_string().ok())
                .filter(|k| k.starts_with(crate::config::ENV_PREFIX))
                .collect(),
        }
    }

    pub fn of(&self, data_dir: &Path, section: &str, key: &str) -> &'static str {
        let var = env_var_name(section, key);
        let has = |t: &toml::Table, k: &str| t.get(section).and_then(|s| s.get(k)).is_some();
        if self
            .env
            .iter()
            .any(|v| *v == var || *v == format!("{var}_FILE"))
        {
            "environment"
        } else if has(&self.overlay, key)
            || (overlay::is_secret_key(section, key)
                && overlay::page_secret_set(data_dir, section, key))
        {
            "page"
        } else if has(&self.file, key) || has(&self.file, &format!("{key}_file")) {
            "file"
        } else {
            "default"
        }
    }
}

fn kind_of(kind: &toml::Value, secret: bool) -> FieldKind {
    match kind {
        _ if secret => FieldKind::Secret,
        toml::Value::Integer(_) | toml::Value::Float(_) => FieldKind::Number,
        toml::Value::Boolean(_) => FieldKind::Bool,
        toml::Value::Array(items) if !items.iter().any(toml::Value::is_table) => FieldKind::List,
        _ => FieldKind::Text,
    }
}

/// A value as the page edits it: plain JSON for scalars and lists of text, TOML inline text
/// for tables and lists of tables.
fn shown(value: Option<&toml::Value>, kind: FieldKind) -> serde_json::Value {
    let Some(value) = value else {
        return serde_json::Value::Null;
    };
    match value {
        toml::Value::Table(_) => serde_json::Value::String(value.to_string()),
        toml::Value::Array(items) if items.iter().any(toml::Value::is_table) => {
            serde_json::Value::String(value.to_string())
        }
        _ if kind == FieldKind::Secret => serde_json::Value::Null,
        other => serde_json::to_value(other).unwrap_or(serde_json::Value::Null),
    }
}

/// Every section and key, with the value in effect (secrets: set or unset only).
pub fn sections(config: &Config, data_dir: &Path) -> Vec<SettingsSection> {
    let kinds = overlay::key_kinds();
    let effective = match toml::Value::try_from(config) {
        Ok(toml::Value::Table(t)) => t,
        _ => toml::Table::new(),
    };
    let help = help_texts();
    let sources = Sources::read(data_dir);
    let issues: BTreeMap<String, String> = config
        .validate()
        .into_iter()
        .map(|i| (i.key.clone(), i.reason.clone()))
        .collect();
    let mut sections = kinds
        .iter()
        .filter_map(|(section, keys)| Some((section, keys.as_table()?)))
        .map(|(section, keys)| SettingsSection {
            name: section.clone(),
            fields: keys
                .iter()
                .map(|(key, kind_value)| {
                    let name = format!("{section}.{key}");
                    let secret = overlay::is_secret_key(section, key);
                    let kind = kind_of(kind_value, secret);
                    let value = effective.get(section).and_then(|s| s.get(key));
                    SettingField {
                        secret_set: secret
                            && overlay::secret_value(config, section, key)
                                .is_some_and(|v| !v.trim().is_empty()),
                        value: shown(value, kind),
                        kind,
                        help: help.get(&name).cloned().unwrap_or_default(),
                        needs_restart: needs_restart(&name),
                        source: if PAGE_READ_ONLY.contains(&name.as_str()) {
                            "file".to_string()
                        } else {
                            sources.of(data_dir, section, key).to_string()
                        },
                        issue: issues.get(&name).cloned(),
                        is_prompt: is_prompt(section, key, kind_value),
                        key: name,
                    }
                })
                .collect(),
        })
        .collect::<Vec<_>>();
    sections.sort_by_key(|section| section_rank(&section.name));
    sections
}

/// The order a shop owner looks for things in: who the shop is and when it is open, who is
/// on call, what counts as an emergency, what the box says, ServiceTitan; the plumbing last.
fn section_rank(name: &str) -> (usize, String) {
    const FIRST: &[&str] = &[
        "shop",
        "schedule",
        "alerts",
        "triage",
        "dialog",
        "voice",
        "servicetitan",
        "sip",
        "call",
    ];
    let rank = FIRST
        .iter()
        .position(|first| *first == name)
        .unwrap_or(FIRST.len());
    (rank, name.to_string())
}

/// What the page asked to change, sorted: plain keys for the overlay, secrets for their files.
#[derive(Debug, Default)]
pub struct Changes {
    pub overlay: toml::Table,
    pub secrets: Vec<(String, String, String)>,
    pub keys: Vec<String>,
}

/// Reads the page's changes against the key list; errors keyed `<section>.<key>`.
pub fn parse_changes(
    changes: &BTreeMap<String, serde_json::Value>,
    data_dir: &Path,
) -> Result<Changes, BTreeMap<String, String>> {
    let kinds = overlay::key_kinds();
    let sources = Sources::read(data_dir);
    let mut out = Changes::default();
    let mut errors = BTreeMap::new();
    for (name, value) in changes {
        let Some((section, key)) = name.split_once('.') else {
            errors.insert(name.clone(), "not a `<section>.<key>` name".to_string());
            continue;
        };
        let Some(kind) = kinds.get(section).and_then(|s| s.get(key)) else {
            errors.insert(name.clone(), format!("unknown key `{name}`"));
            continue;
        };
        if PAGE_READ_ONLY.contains(&name.as_str()) {
            errors.insert(
                name.clone(),
                "is read-only on the page (the page's settings live under it)".into(),
            );
            continue;
        }
        if sources.of(data_dir, section, key) == "environment" {
            errors.insert(
                name.clone(),
                format!(
                    "is set by the environment ({}), which wins over the page",
                    env_var_name(section, key)
                ),
            );
            continue;
        }
        if overlay::is_secret_key(section, key) {
            match value {
                serde_json::Value::String(s) if s.is_empty() => {}
                serde_json::Value::String(s) => {
                    out.secrets
                        .push((section.to_string(), key.to_string(), s.clone()));
                    out.keys.push(name.clone());
                }
                _ => {
                    errors.insert(name.clone(), "a secret is text".into());
                }
            }
            continue;
        }
        match overlay::page_value(kind, value) {
            Ok(v) => {
                let entry = out
                    .overlay
                    .entry(section.to_string())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                if let Some(t) = entry.as_table_mut() {
                    t.insert(key.to_string(), v);
                }
                out.keys.push(name.clone());
            }
            Err(reason) => {
                errors.insert(name.clone(), reason);
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// The configuration with the changes (secrets included) over it, or every error.
pub fn validate(config: &Config, changes: &Changes) -> Result<Config, BTreeMap<String, String>> {
    let mut table = changes.overlay.clone();
    for (section, key, value) in &changes.secrets {
        let entry = table
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let Some(t) = entry.as_table_mut() {
            t.insert(key.clone(), toml::Value::String(value.clone()));
        }
    }
    overlay::with_changes(config, &table)
}

/// Writes the secrets to their files and merges the plain keys into the overlay.
pub fn save(data_dir: &Path, changes: &Changes) -> std::io::Result<()> {
    for (section, key, value) in &changes.secrets {
        overlay::save_page_secret(data_dir, section, key, value)?;
    }
    if changes.overlay.is_empty() {
        return Ok(());
    }
    let mut current = overlay::read_overlay(data_dir).unwrap_or_default();
    for (section, keys) in &changes.overlay {
        let entry = current
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let (Some(t), Some(keys)) = (entry.as_table_mut(), keys.as_table()) {
            for (k, v) in keys {
                t.insert(k.clone(), v.clone());
            }
        }
    }
    overlay::save_overlay(data_dir, &current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_comes_from_the_example_config() {
        let help = help_texts();
        assert!(
            help.get("shop.name")
                .is_some_and(|h| h.contains("spoken in the greeting")),
            "{:?}",
            help.get("shop.name")
        );
        assert!(help
            .get("storage.retention_days")
            .is_some_and(|h| h.contains("Days recordings")));
    }

    #[test]
    fn the_call_flow_keys_apply_live_and_the_rest_need_a_restart() {
        assert!(!needs_restart("shop.name"));
        assert!(!needs_restart("triage.vulnerable_words"));
        assert!(!needs_restart("alerts.fallback_phone"));
        assert!(needs_restart("alerts.webhook_url"));
        assert!(needs_restart("sip.listen"));
        assert!(needs_restart("servicetitan.client_id"));
    }

    #[test]
    fn a_bad_value_is_an_error_of_its_key_and_nothing_is_saved() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config {
            storage: crate::config::StorageConfig {
                data_dir: dir.path().to_path_buf(),
                ..Default::default()
            },
            ..Default::default()
        };
        let mut asked = BTreeMap::new();
        asked.insert(
            "shop.timezone".to_string(),
            serde_json::json!("Mars/Olympus"),
        );
        asked.insert("storage.retention_days".to_string(), serde_json::json!(0));
        asked.insert("shop.name".to_string(), serde_json::json!("Frosty Air"));
        let changes = parse_changes(&asked, dir.path()).expect("types are right");
        let errors = validate(&config, &changes).expect_err("invalid");
        assert!(errors.contains_key("shop.timezone"), "{errors:?}");
        assert!(errors.contains_key("storage.retention_days"), "{errors:?}");
        assert!(!errors.contains_key("shop.name"), "{errors:?}");

        let mut typed = BTreeMap::new();
        typed.insert("media.rtp_port_min".to_string(), serde_json::json!("lots"));
        typed.insert("nosuch.key".to_string(), serde_json::json!(1));
        let errors = parse_changes(&typed, dir.path()).expect_err("bad types");
        assert!(errors.contains_key("media.rtp_port_min"), "{errors:?}");
        assert!(errors.contains_key("nosuch.key"), "{errors:?}");
        assert!(!overlay::overlay_path(dir.path()).exists());
    }
}
