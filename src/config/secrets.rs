//! Secrets kept out of the configuration file: for a secret key `X`, `X_file = "/path"` in the
//! TOML or `CALLBOX_<SECTION>_<KEY>_FILE=/path` in the environment name a file holding the
//! value, and systemd credentials (`LoadCredential=`) are read from
//! `$CREDENTIALS_DIRECTORY/<section>.<key>`. A file's trailing newline is trimmed.
//!
//! Precedence, lowest first: the file's value (or its `X_file`), the credentials directory,
//! the environment (`CALLBOX_…` or `CALLBOX_…_FILE`). Errors name the key and the file,
//! never the value.

use std::path::Path;

use super::{ConfigError, ConfigIssue, ENV_PREFIX};

/// Every secret key, as `(section, key)`. SIP account passwords (`password` inside each
/// `[[sip.accounts]]`) are secrets too; their credential is `sip.accounts.<username>.password`.
pub const SECRET_KEYS: &[(&str, &str)] = &[
    ("servicetitan", "app_key"),
    ("servicetitan", "client_id"),
    ("servicetitan", "client_secret"),
    ("alerts", "webhook_token"),
    ("sms", "auth_token"),
    ("sms", "webhook_token"),
    ("sip", "outbound_password"),
];

/// The environment variable naming the systemd credentials directory.
pub const CREDENTIALS_DIRECTORY: &str = "CREDENTIALS_DIRECTORY";

const FILE_SUFFIX: &str = "_file";

pub(super) fn is_secret(section: &str, key: &str) -> bool {
    SECRET_KEYS.contains(&(section, key))
}

/// Reads a secret's file: its text with the trailing newline trimmed. The reason names the
/// file and what went wrong, never what is in it.
pub(super) fn read_secret_file(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let text =
        String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8 text", path.display()))?;
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}

/// Replaces every `X_file = "/path"` of a secret key in `table` with `X = <file content>`.
/// Returns an issue, named by the `_file` key, for each one that cannot be read or that is
/// given together with `X`.
pub(super) fn resolve_file_keys(table: &mut toml::Table) -> Vec<ConfigIssue> {
    let mut issues = Vec::new();
    for (section, key) in SECRET_KEYS {
        if let Some(t) = table.get_mut(*section).and_then(toml::Value::as_table_mut) {
            resolve_one(t, section, key, &mut issues);
        }
    }
    let accounts = table
        .get_mut("sip")
        .and_then(toml::Value::as_table_mut)
        .and_then(|sip| sip.get_mut("accounts"))
        .and_then(toml::Value::as_array_mut);
    for (i, account) in accounts.into_iter().flatten().enumerate() {
        if let Some(t) = account.as_table_mut() {
            resolve_one(t, &format!("sip.accounts[{i}]"), "password", &mut issues);
        }
    }
    issues
}

/// `X_file` → `X` inside one table (`prefix` is its key path, for issues).
fn resolve_one(table: &mut toml::Table, prefix: &str, key: &str, issues: &mut Vec<ConfigIssue>) {
    let file_key = format!("{key}{FILE_SUFFIX}");
    let Some(value) = table.remove(&file_key) else {
        return;
    };
    let path = format!("{prefix}.{file_key}");
    let Some(file) = value.as_str() else {
        issues.push(ConfigIssue::error(path, "must be a file path (a string)"));
        return;
    };
    if table.contains_key(key) {
        issues.push(ConfigIssue::error(
            path,
            format!("set either {prefix}.{key} or {prefix}.{file_key}, not both"),
        ));
        return;
    }
    match read_secret_file(Path::new(file)) {
        Ok(secret) => {
            table.insert(key.to_string(), toml::Value::String(secret));
            if let Some(reason) = loose_mode(Path::new(file)) {
                issues.push(ConfigIssue::warning(path, reason));
            }
        }
        Err(reason) => issues.push(ConfigIssue::error(path, reason)),
    }
}

/// Why a secret's file is too open: other users may read or write it (it should be 0600 or
/// 0400, owned by the service's user).
#[cfg(unix)]
fn loose_mode(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "{} has mode {mode:04o}: other users can read the secret; make it 0600",
            path.display()
        )
    })
}

#[cfg(not(unix))]
fn loose_mode(_path: &Path) -> Option<String> {
    None
}

/// Sets each secret that has a file in the systemd credentials directory `dir`
/// (`<section>.<key>`, `sip.accounts.<username>.password`), over the file's values.
pub(super) fn apply_credentials(table: &mut toml::Table, dir: &Path) -> Result<(), ConfigError> {
    for (section, key) in SECRET_KEYS {
        let name = format!("{section}.{key}");
        let Some(secret) = read_credential(dir, &name)? else {
            continue;
        };
        let entry = table
            .entry(section.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let Some(t) = entry.as_table_mut() {
            t.insert(key.to_string(), toml::Value::String(secret));
        }
    }
    let accounts = table
        .get_mut("sip")
        .and_then(toml::Value::as_table_mut)
        .and_then(|sip| sip.get_mut("accounts"))
        .and_then(toml::Value::as_array_mut);
    for account in accounts.into_iter().flatten() {
        let Some(t) = account.as_table_mut() else {
            continue;
        };
        let Some(user) = t.get("username").and_then(toml::Value::as_str) else {
            continue;
        };
        if user.is_empty() || user.contains(['/', '\0']) {
            continue;
        }
        let name = format!("sip.accounts.{user}.password");
        if let Some(secret) = read_credential(dir, &name)? {
            t.insert("password".into(), toml::Value::String(secret));
        }
    }
    Ok(())
}

/// The credential `name` in `dir`, if there is one.
fn read_credential(dir: &Path, name: &str) -> Result<Option<String>, ConfigError> {
    let path = dir.join(name);
    if !path.exists() {
        return Ok(None);
    }
    read_secret_file(&path)
        .map(Some)
        .map_err(|reason| ConfigError::Secret {
            key: name.to_string(),
            reason: format!("systemd credential: {reason}"),
        })
}

/// Replaces each `CALLBOX_<SECTION>_<KEY>_FILE=/path` of a secret key by
/// `CALLBOX_<SECTION>_<KEY>=<file content>`. Other variables pass through unchanged.
pub(super) fn expand_env_files(
    env: &[(String, String)],
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::with_capacity(env.len());
    for (var, raw) in env {
        let Some(secret_var) = secret_file_var(var) else {
            out.push((var.clone(), raw.clone()));
            continue;
        };
        let key = var[ENV_PREFIX.len()..secret_var.len()]
            .to_lowercase()
            .replacen('_', ".", 1);
        if env.iter().any(|(v, _)| *v == secret_var) {
            return Err(ConfigError::Env {
                var: var.clone(),
                key,
                reason: format!("set either {secret_var} or {var}, not both"),
            });
        }
        let secret =
            read_secret_file(Path::new(raw.trim())).map_err(|reason| ConfigError::Env {
                var: var.clone(),
                key,
                reason,
            })?;
        if let Some(reason) = loose_mode(Path::new(raw.trim())) {
            tracing::warn!(var = %var, "config: {reason}");
        }
        out.push((secret_var, secret));
    }
    Ok(out)
}

/// For `CALLBOX_<SECTION>_<KEY>_FILE` naming a secret key: `CALLBOX_<SECTION>_<KEY>`.
fn secret_file_var(var: &str) -> Option<String> {
    let base = var.strip_suffix("_FILE")?;
    let rest = base.strip_prefix(ENV_PREFIX)?.to_lowercase();
    let (section, key) = rest.split_once('_')?;
    is_secret(section, key).then(|| base.to_string())
}
