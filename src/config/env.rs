//! `CALLBOX_<SECTION>_<KEY>` environment overrides.

use super::check::{check_one_key, did_you_mean, key_template, one_line};
use super::{ConfigError, ENV_PREFIX};

/// The environment variable that overrides `section.key`.
pub fn env_var_name(section: &str, key: &str) -> String {
    format!("{ENV_PREFIX}{}_{}", section, key).to_uppercase()
}

/// Best guess at the key a `CALLBOX_…` variable names, for error messages.
pub(super) fn env_key_hint(var: &str) -> String {
    var.strip_prefix(ENV_PREFIX)
        .unwrap_or(var)
        .to_lowercase()
        .replacen('_', ".", 1)
}

/// Applies `CALLBOX_<SECTION>_<KEY>` overrides. The value is converted to the TOML type of the
/// key's default (string, integer, bool; lists are comma-separated; lists of tables are TOML
/// inline arrays) and then type-checked on its own so the error names the variable.
pub(super) fn apply_env(
    table: &mut toml::Table,
    env: &[(String, String)],
) -> Result<(), ConfigError> {
    let template = key_template();
    for (var, raw) in env {
        let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let rest = rest.to_lowercase();
        // Section names contain no `_`, so the first `_` splits section from key.
        let Some((section, key)) = rest.split_once('_') else {
            continue;
        };
        // Other CALLBOX_ variables (e.g. CALLBOX_CONFIG for the CLI) are not ours to judge.
        let Some(template_section) = template.get(section).and_then(toml::Value::as_table) else {
            continue;
        };
        let env_err = |reason: String| ConfigError::Env {
            var: var.clone(),
            key: format!("{section}.{key}"),
            reason,
        };
        let Some(kind) = template_section.get(key) else {
            return Err(env_err(format!(
                "unknown key{}",
                did_you_mean(key, template_section.keys())
            )));
        };
        let value = env_value(kind, raw).map_err(env_err)?;
        check_one_key(section, key, value.clone()).map_err(env_err)?;
        let entry = table
            .entry(section.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let Some(t) = entry.as_table_mut() {
            t.insert(key.to_string(), value);
        }
    }
    Ok(())
}

pub(super) fn env_value(kind: &toml::Value, raw: &str) -> Result<toml::Value, String> {
    let raw_trimmed = raw.trim();
    Ok(match kind {
        toml::Value::String(_) => toml::Value::String(raw.to_string()),
        toml::Value::Integer(_) => toml::Value::Integer(
            raw_trimmed
                .parse()
                .map_err(|_| format!("`{raw}` is not a whole number"))?,
        ),
        toml::Value::Float(_) => toml::Value::Float(
            raw_trimmed
                .parse()
                .map_err(|_| format!("`{raw}` is not a number"))?,
        ),
        toml::Value::Boolean(_) => {
            toml::Value::Boolean(match raw_trimmed.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => true,
                "false" | "0" | "no" | "off" => false,
                _ => return Err(format!("`{raw}` is not true or false")),
            })
        }
        toml::Value::Array(items) if items.iter().any(toml::Value::is_table) => {
            // Lists of tables (sip.accounts) cannot be comma lists; take TOML inline syntax.
            let doc: toml::Table = format!("v = {raw}")
                .parse()
                .map_err(|e: toml::de::Error| {
                    format!(
                        "expected a TOML inline array like [{{username = \"a\", password = \"b\"}}]: {}",
                        one_line(e.message())
                    )
                })?;
            doc.get("v")
                .cloned()
                .unwrap_or(toml::Value::Array(Vec::new()))
        }
        toml::Value::Array(_) => toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_string()))
                .collect(),
        ),
        toml::Value::Datetime(_) | toml::Value::Table(_) => {
            return Err("this key cannot be set from the environment".into())
        }
    })
}
