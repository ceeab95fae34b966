//! The settings page's overlay: `<data_dir>/settings.toml`, keys the page changed, loaded after
//! the configuration file and before the systemd credentials and the environment (so a change
//! made on the page survives a restart, and an environment override still wins). Secrets set
//! on the page never go into it: each is a 0600 file `<data_dir>/web/secrets/<section>.<key>`,
//! read like a systemd credential.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::check::{check_structure, key_template, parse_table};
use super::secrets::{is_secret, read_secret_file, SECRET_KEYS};
use super::{Config, ConfigError, ConfigIssue, ENV_PREFIX};

/// The overlay's file name under the data directory.
pub const OVERLAY_FILE: &str = "settings.toml";

/// Keys the page may not change: the data directory holds the overlay itself.
pub const PAGE_READ_ONLY: &[&str] = &["storage.data_dir"];

/// `<data_dir>/settings.toml`.
pub fn overlay_path(data_dir: &Path) -> PathBuf {
    data_dir.join(OVERLAY_FILE)
}

/// `<data_dir>/web/secrets`: one 0600 file per secret set on the page.
pub fn page_secrets_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("web").join("secrets")
}

static LOADED_FROM: Mutex<Option<PathBuf>> = Mutex::new(None);

/// The configuration file the last [`Config::load`] read, when it read one.
pub fn loaded_from() -> Option<PathBuf> {
    LOADED_FROM
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

pub(super) fn set_loaded_from(path: Option<PathBuf>) {
    *LOADED_FROM.lock().unwrap_or_else(|e| e.into_inner()) = path;
}

/// The data directory the configuration will have: the environment's, else the file's, else
/// the default.
fn data_dir_of(table: &toml::Table, env: &[(String, String)]) -> PathBuf {
    let var = format!("{ENV_PREFIX}STORAGE_DATA_DIR");
    if let Some((_, dir)) = env.iter().find(|(name, _)| *name == var) {
        return PathBuf::from(dir.trim());
    }
    table
        .get("storage")
        .and_then(|s| s.get("data_dir"))
        .and_then(toml::Value::as_str)
        .map(PathBuf::from)
        .unwrap_or_else(|| Config::default().storage.data_dir)
}

/// Reads the overlay (empty when there is none). Errors name the file and the key.
pub fn read_overlay(data_dir: &Path) -> Result<toml::Table, ConfigError> {
    let path = overlay_path(data_dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(toml::Table::new()),
        Err(source) => return Err(ConfigError::Read { path, source }),
    };
    let mut table = parse_table(&text).map_err(|issue| ConfigError::Invalid {
        path: Some(path.clone()),
        issues: vec![issue],
    })?;
    let issues = check_structure(&mut table);
    if !issues.is_empty() {
        return Err(ConfigError::Invalid {
            path: Some(path),
            issues,
        });
    }
    Ok(table)
}

/// Puts the overlay's keys and the page's secrets over `table` (the file's).
pub(super) fn apply_overlay(
    table: &mut toml::Table,
    env: &[(String, String)],
) -> Result<(), ConfigError> {
    let data_dir = data_dir_of(table, env);
    let overlay = read_overlay(&data_dir)?;
    for (section, keys) in overlay {
        let Some(keys) = keys.as_table() else {
            continue;
        };
        for (key, value) in keys {
            if PAGE_READ_ONLY.contains(&format!("{section}.{key}").as_str()) {
                continue;
            }
            set_key(table, &section, key, value.clone());
        }
    }
    apply_page_secrets(table, &page_secrets_dir(&data_dir))
}

fn apply_page_secrets(table: &mut toml::Table, dir: &Path) -> Result<(), ConfigError> {
    for (section, key) in SECRET_KEYS {
        let name = format!("{section}.{key}");
        let path = dir.join(&name);
        if !path.exists() {
            continue;
        }
        let secret = read_secret_file(&path).map_err(|reason| ConfigError::Secret {
            key: name.clone(),
            reason: format!("set on the page: {reason}"),
        })?;
        set_key(table, section, key, toml::Value::String(secret));
    }
    Ok(())
}

fn set_key(table: &mut toml::Table, section: &str, key: &str, value: toml::Value) {
    let entry = table
        .entry(section.to_string())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let Some(t) = entry.as_table_mut() {
        t.insert(key.to_string(), value);
    }
}

/// Whether the page has set the secret `section.key`.
pub fn page_secret_set(data_dir: &Path, section: &str, key: &str) -> bool {
    page_secrets_dir(data_dir)
        .join(format!("{section}.{key}"))
        .is_file()
}

/// Every section and key the configuration has, with a value of each key's TOML type.
pub fn key_kinds() -> toml::Table {
    key_template()
}

/// Whether `section.key` is a secret.
pub fn is_secret_key(section: &str, key: &str) -> bool {
    is_secret(section, key)
}

/// A value the page sent, as the TOML type of the key (`kind`: the key's template value).
/// Text for a non-text key is read as the environment would read it; a list may come as a
/// JSON array or as text, one item per line.
pub fn page_value(kind: &toml::Value, value: &serde_json::Value) -> Result<toml::Value, String> {
    match (kind, value) {
        (toml::Value::Array(items), serde_json::Value::Array(list))
            if !items.iter().any(toml::Value::is_table) =>
        {
            list.iter()
                .map(|v| match v {
                    serde_json::Value::String(s) => Ok(toml::Value::String(s.clone())),
                    other => Err(format!("`{other}` is not text")),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(toml::Value::Array)
        }
        (toml::Value::Array(items), serde_json::Value::String(text))
            if !items.iter().any(toml::Value::is_table) =>
        {
            Ok(toml::Value::Array(
                text.lines()
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| toml::Value::String(s.to_string()))
                    .collect(),
            ))
        }
        (toml::Value::Table(_), serde_json::Value::String(text)) => {
            let doc: toml::Table = format!("v = {text}")
                .parse()
                .map_err(|_| "expected a TOML inline table like { name = 1 }".to_string())?;
            Ok(doc
                .get("v")
                .cloned()
                .unwrap_or(toml::Value::Table(toml::Table::new())))
        }
        (_, serde_json::Value::String(text)) => super::env::env_value(kind, text),
        (toml::Value::Boolean(_), serde_json::Value::Bool(b)) => Ok(toml::Value::Boolean(*b)),
        (toml::Value::Integer(_), serde_json::Value::Number(n)) => n
            .as_i64()
            .map(toml::Value::Integer)
            .ok_or_else(|| format!("`{n}` is not a whole number")),
        (toml::Value::Float(_), serde_json::Value::Number(n)) => n
            .as_f64()
            .map(toml::Value::Float)
            .ok_or_else(|| format!("`{n}` is not a number")),
        (_, other) => Err(format!("`{other}` is not a value this key takes")),
    }
}

/// The configuration `config` becomes with `changes` (`section` → `key` → value) over it, or
/// every reason it would not load, keyed `<section>.<key>`. Nothing is written.
pub fn with_changes(
    config: &Config,
    changes: &toml::Table,
) -> Result<Config, BTreeMap<String, String>> {
    let mut errors = BTreeMap::new();
    let mut changes = changes.clone();
    for issue in check_structure(&mut changes) {
        errors.insert(issue.key.clone(), issue.reason.clone());
    }
    let mut table = match toml::Value::try_from(config) {
        Ok(toml::Value::Table(t)) => t,
        _ => {
            errors.insert(
                "(config)".into(),
                "the configuration cannot be shown".into(),
            );
            return Err(errors);
        }
    };
    restore_secrets(config, &mut table);
    for (section, keys) in &changes {
        for (key, value) in keys.as_table().into_iter().flatten() {
            set_key(&mut table, section, key, value.clone());
        }
    }
    let merged: Config = match toml::Value::Table(table).try_into() {
        Ok(c) => c,
        Err(e) => {
            let e: toml::de::Error = e;
            errors.insert("(config)".into(), super::check::one_line(e.message()));
            return Err(errors);
        }
    };
    for issue in merged.validate().into_iter().filter(ConfigIssue::is_error) {
        errors
            .entry(issue.key.clone())
            .or_insert(issue.reason.clone());
    }
    if errors.is_empty() {
        Ok(merged)
    } else {
        Err(errors)
    }
}

/// Writes the overlay atomically (0600), creating the data directory if needed.
pub fn save_overlay(data_dir: &Path, overlay: &toml::Table) -> std::io::Result<()> {
    crate::infra::fs::create_private_dir_all(data_dir)?;
    let text = toml::to_string_pretty(overlay)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    let text = format!(
        "# Settings changed on the callbox web page. Loaded after the configuration file;\n\
         # environment variables still win. Edit on the page, or delete to drop them all.\n{text}"
    );
    crate::infra::fs::write_atomic(&overlay_path(data_dir), text.as_bytes())
}

/// Keeps a secret set on the page: a 0600 file under `<data_dir>/web/secrets`.
pub fn save_page_secret(
    data_dir: &Path,
    section: &str,
    key: &str,
    value: &str,
) -> std::io::Result<()> {
    let dir = page_secrets_dir(data_dir);
    crate::infra::fs::create_private_dir_all(&dir)?;
    crate::infra::fs::write_atomic(&dir.join(format!("{section}.{key}")), value.as_bytes())
}

/// The value of the secret `section.key` in `config` (empty when unset).
pub fn secret_value<'a>(config: &'a Config, section: &str, key: &str) -> Option<&'a str> {
    let secret = match (section, key) {
        ("servicetitan", "app_key") => &config.servicetitan.app_key,
        ("servicetitan", "client_id") => &config.servicetitan.client_id,
        ("servicetitan", "client_secret") => &config.servicetitan.client_secret,
        ("alerts", "webhook_token") => &config.alerts.webhook_token,
        ("sms", "auth_token") => &config.sms.auth_token,
        ("sms", "webhook_token") => &config.sms.webhook_token,
        _ => return None,
    };
    Some(secret.expose())
}

/// A serialized configuration shows secrets as "set"/"unset": puts the values back so the
/// table deserializes to the same configuration.
fn restore_secrets(config: &Config, table: &mut toml::Table) {
    for (section, key) in SECRET_KEYS {
        if let Some(value) = secret_value(config, section, key) {
            set_key(table, section, key, toml::Value::String(value.to_string()));
        }
    }
    let accounts: Vec<toml::Value> = config
        .sip
        .accounts
        .iter()
        .map(|a| {
            let mut t = toml::Table::new();
            t.insert("username".into(), toml::Value::String(a.username.clone()));
            t.insert(
                "password".into(),
                toml::Value::String(a.password.expose().to_string()),
            );
            toml::Value::Table(t)
        })
        .collect();
    set_key(table, "sip", "accounts", toml::Value::Array(accounts));
}
