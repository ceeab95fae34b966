//! Loading: embedded defaults, then the file, then `CALLBOX_<SECTION>_<KEY>` variables.

use std::path::Path;

use super::check::{check_structure, not_text_reason, parse_table};
use super::env::{apply_env, env_key_hint};
use super::secrets::{
    apply_credentials, expand_env_files, resolve_file_keys, CREDENTIALS_DIRECTORY,
};
use super::{Config, ConfigError, ConfigIssue, DEFAULT_CONFIG_PATH, ENV_PREFIX};

impl Config {
    /// Loads the configuration: embedded defaults, then the file, then `CALLBOX_<SECTION>_<KEY>`
    /// environment variables.
    ///
    /// `path` is `--config`: when given it must exist. When `None`, [`DEFAULT_CONFIG_PATH`] is read
    /// if present, else the defaults are used alone. Errors are returned; warnings are left to
    /// [`Config::warnings`], since logging starts after the configuration is loaded.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let env = process_env()?;
        let credentials = credentials_dir();
        let file = path
            .map(Path::to_path_buf)
            .or_else(|| Some(Path::new(DEFAULT_CONFIG_PATH).to_path_buf()).filter(|p| p.exists()));
        super::overlay::set_loaded_from(file);
        Self::load_with(
            path,
            Path::new(DEFAULT_CONFIG_PATH),
            &env,
            credentials.as_deref(),
        )
    }

    /// The warnings of [`Config::validate`]: problems that do not stop the box. The caller logs
    /// them once logging has started (and keeps them for the status).
    pub fn warnings(&self) -> Vec<ConfigIssue> {
        self.validate()
            .into_iter()
            .filter(|issue| !issue.is_error())
            .collect()
    }

    /// [`Config::load`] with the default path, the environment and the systemd credentials
    /// directory passed in, so tests need not touch the process environment or `/etc`.
    pub(super) fn load_with(
        path: Option<&Path>,
        default_path: &Path,
        env: &[(String, String)],
        credentials: Option<&Path>,
    ) -> Result<Config, ConfigError> {
        let (file, mut table) = match path {
            Some(p) => {
                if !p.exists() {
                    return Err(ConfigError::NotFound {
                        path: p.to_path_buf(),
                    });
                }
                (Some(p.to_path_buf()), read_table(p)?)
            }
            None if default_path.exists() => {
                (Some(default_path.to_path_buf()), read_table(default_path)?)
            }
            None => (None, toml::Table::new()),
        };
        let invalid = |issues: Vec<ConfigIssue>| ConfigError::Invalid {
            path: file.clone(),
            issues,
        };

        let (mut structural, warnings): (Vec<_>, Vec<_>) = resolve_file_keys(&mut table)
            .into_iter()
            .partition(ConfigIssue::is_error);
        for issue in warnings {
            tracing::warn!(key = %issue.key, "config: {}", issue.reason);
        }
        structural.extend(check_structure(&mut table));
        if !structural.is_empty() {
            return Err(invalid(structural));
        }
        let env = expand_env_files(env)?;
        super::overlay::apply_overlay(&mut table, &env)?;
        if let Some(dir) = credentials {
            apply_credentials(&mut table, dir)?;
        }
        apply_env(&mut table, &env)?;
        let config: Config =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| {
                    invalid(vec![ConfigIssue::error("(config)", e.message())])
                })?;
        let errors: Vec<ConfigIssue> = config
            .validate()
            .into_iter()
            .filter(ConfigIssue::is_error)
            .collect();
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(invalid(errors))
        }
    }
}

/// This process's `CALLBOX_…` variables.
pub(super) fn process_env() -> Result<Vec<(String, String)>, ConfigError> {
    let mut env = Vec::new();
    for (name, value) in std::env::vars_os() {
        // Only our variables matter; a non-UTF-8 one of ours must not be silently ignored.
        let Ok(name) = name.into_string() else {
            continue;
        };
        if !name.starts_with(ENV_PREFIX) {
            continue;
        }
        match value.into_string() {
            Ok(value) => env.push((name, value)),
            Err(_) => {
                return Err(ConfigError::Env {
                    key: env_key_hint(&name),
                    var: name,
                    reason: "value is not valid UTF-8".into(),
                })
            }
        }
    }
    Ok(env)
}

/// The systemd credentials directory (`$CREDENTIALS_DIRECTORY`), when the service has one.
pub(super) fn credentials_dir() -> Option<std::path::PathBuf> {
    std::env::var_os(CREDENTIALS_DIRECTORY).map(std::path::PathBuf::from)
}

fn read_table(path: &Path) -> Result<toml::Table, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let text = std::str::from_utf8(&bytes).map_err(|e| ConfigError::NotText {
        path: path.to_path_buf(),
        reason: not_text_reason(&e),
    })?;
    parse_table(text).map_err(|issue| ConfigError::Invalid {
        path: Some(path.to_path_buf()),
        issues: vec![issue],
    })
}
