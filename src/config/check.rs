//! Checking text: syntax, unknown keys, value types, then every semantic rule.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use std::path::Path;

use super::env::apply_env;
use super::secrets::{apply_credentials, expand_env_files, resolve_file_keys};
use super::{Config, ConfigError, ConfigIssue, SipAccount};

/// Checks a configuration file's text: syntax, unknown keys, value types, then every semantic
/// rule. Returns all issues found (empty = valid).
pub fn check(text: &str) -> Vec<ConfigIssue> {
    check_with(text, &[], None)
}

/// What `callbox config check FILE` runs: [`check_bytes`] with this process's
/// `CALLBOX_<SECTION>_<KEY>` variables and systemd credentials applied, as `callbox run` would
/// load them (so secrets kept out of the file count as set).
pub fn check_in_environment(bytes: &[u8]) -> Vec<ConfigIssue> {
    let env = match super::load::process_env() {
        Ok(env) => env,
        Err(e) => return vec![issue_of(e)],
    };
    let credentials = super::load::credentials_dir();
    match std::str::from_utf8(bytes) {
        Ok(text) => check_with(text, &env, credentials.as_deref()),
        Err(e) => vec![ConfigIssue::error("(file)", not_text_reason(&e))],
    }
}

/// [`check`] with the environment and the credentials directory over the file.
pub(super) fn check_with(
    text: &str,
    env: &[(String, String)],
    credentials: Option<&Path>,
) -> Vec<ConfigIssue> {
    let mut table = match parse_table(text) {
        Ok(t) => t,
        Err(issue) => return vec![issue],
    };
    let mut issues = resolve_file_keys(&mut table);
    issues.extend(check_structure(&mut table));
    if let Some(dir) = credentials {
        if let Err(e) = apply_credentials(&mut table, dir) {
            issues.push(issue_of(e));
        }
    }
    if let Err(e) = expand_env_files(env).and_then(|env| apply_env(&mut table, &env)) {
        issues.push(issue_of(e));
    }
    // Bad keys were removed above, so the rest still deserializes and gets its semantic checks.
    match toml::Value::Table(table).try_into::<Config>() {
        Ok(config) => issues.extend(config.validate()),
        Err(e) => issues.push(ConfigIssue::error("(config)", e.message())),
    }
    issues
}

/// A loading error as an issue of the key it names.
fn issue_of(error: ConfigError) -> ConfigIssue {
    match error {
        ConfigError::Env { var, key, reason } => {
            ConfigIssue::error(key, format!("{var}: {reason}"))
        }
        ConfigError::Secret { key, reason } => ConfigIssue::error(key, reason),
        other => ConfigIssue::error("(environment)", other.to_string()),
    }
}

/// [`check`] on raw bytes, for files that may not be text at all.
pub fn check_bytes(bytes: &[u8]) -> Vec<ConfigIssue> {
    match std::str::from_utf8(bytes) {
        Ok(text) => check(text),
        Err(e) => vec![ConfigIssue::error("(file)", not_text_reason(&e))],
    }
}

pub(super) fn not_text_reason(e: &std::str::Utf8Error) -> String {
    format!(
        "not UTF-8 text (invalid byte at offset {}); is this really a TOML file?",
        e.valid_up_to()
    )
}

/// TOML syntax check. toml reports a byte span; map it to the key being defined there.
pub(super) fn parse_table(text: &str) -> Result<toml::Table, ConfigIssue> {
    text.parse::<toml::Table>().map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start).min(text.len());
        let (line, column) = line_column(text, offset);
        ConfigIssue::error(
            key_at_line(text, line),
            format!("{} (line {line}, column {column})", one_line(e.message())),
        )
    })
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    // The span may fall inside a multi-byte character of a corrupt file; back up to a boundary.
    let mut offset = offset;
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Best-effort key path of line `line` (1-based): the last `[section]` header above it plus the
/// key assigned on that line.
fn key_at_line(text: &str, line: usize) -> String {
    let mut section = String::new();
    let mut key = None;
    for (i, l) in text.lines().enumerate().take(line) {
        let t = l.trim();
        if let Some(h) = t.strip_prefix('[') {
            let h = h.trim_start_matches('[');
            let name = h.split(']').next().unwrap_or("").trim();
            section = name.trim_matches('"').to_string();
            if i + 1 == line {
                key = Some(String::new());
            }
        } else if i + 1 == line {
            key = t
                .split_once('=')
                .map(|(k, _)| k.trim().trim_matches('"').to_string());
        }
    }
    match key {
        Some(k) if !k.is_empty() && !section.is_empty() => format!("{section}.{k}"),
        Some(k) if !k.is_empty() => k,
        Some(_) if !section.is_empty() => section,
        _ => format!("line {line}"),
    }
}

/// Every section and key the configuration accepts, with a value of the right TOML type.
/// Built from the defaults with optional values filled in, so it cannot drift from the structs.
pub(super) fn key_template() -> toml::Table {
    let mut c = Config::default();
    c.sip.public_address = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    c.sip.accounts = vec![SipAccount {
        username: "ata".into(),
        password: "secret".into(),
    }];
    c.call.greeting_wav = Some(PathBuf::from("greeting.wav"));
    c.call.turn_answer = Some(crate::speech::settings::AnswerKind::Zip);
    c.triage.vulnerable_words = vec!["grandmother".into()];
    c.servicetitan.default_business_unit_id = Some(1);
    c.servicetitan.default_campaign_id = Some(1);
    c.servicetitan.default_job_type_id = Some(1);
    c.servicetitan.booking_provider_id = Some(1);
    c.servicetitan.job_types.insert("no_heat".into(), 1);
    c.voice.prompt_cache_dir = Some(PathBuf::from("prompts"));
    c.audio.alsa_device = Some("default".into());
    c.web.cert_file = Some(PathBuf::from("web.pem"));
    c.web.key_file = Some(PathBuf::from("web.key"));
    c.web.redirect_listen = Some(std::net::SocketAddr::from(([0, 0, 0, 0], 80)));
    c.update.ca_file = Some(PathBuf::from("ca.pem"));
    c.weather.latitude = Some(44.98);
    c.weather.longitude = Some(-93.27);
    c.weather.monthly_normal_f = vec![30.0; 12];
    match toml::Value::try_from(&c) {
        Ok(toml::Value::Table(t)) => t,
        // Serializing plain structs of strings and numbers cannot fail.
        _ => toml::Table::new(),
    }
}

/// Unknown sections/keys and values of the wrong type. Offending keys are removed from `table`
/// so the remainder can still be checked.
pub(super) fn check_structure(table: &mut toml::Table) -> Vec<ConfigIssue> {
    let template = key_template();
    let mut issues = Vec::new();
    let sections: Vec<String> = table.keys().cloned().collect();
    for section in sections {
        let Some(template_section) = template.get(&section).and_then(toml::Value::as_table) else {
            issues.push(ConfigIssue::error(
                section.clone(),
                format!(
                    "unknown section `[{section}]`{}",
                    did_you_mean(&section, template.keys())
                ),
            ));
            table.remove(&section);
            continue;
        };
        let Some(user_section) = table.get_mut(&section).and_then(toml::Value::as_table_mut) else {
            issues.push(ConfigIssue::error(
                section.clone(),
                format!("must be a table (`[{section}]`)"),
            ));
            table.remove(&section);
            continue;
        };
        let keys: Vec<String> = user_section.keys().cloned().collect();
        for key in keys {
            let path = format!("{section}.{key}");
            if !template_section.contains_key(&key) {
                let mut hint = did_you_mean(&key, template_section.keys());
                if hint.is_empty() {
                    // Right key, wrong section: common when copying snippets around.
                    if let Some((other, _)) = template
                        .iter()
                        .find(|(_, t)| t.as_table().is_some_and(|t| t.contains_key(&key)))
                    {
                        hint = format!(" (did you mean `{other}.{key}`?)");
                    }
                }
                issues.push(ConfigIssue::error(
                    path.clone(),
                    format!("unknown key `{path}`{hint}"),
                ));
                user_section.remove(&key);
                continue;
            }
            let Some(value) = user_section.get(&key) else {
                continue;
            };
            if let Err(reason) = check_one_key(&section, &key, value.clone()) {
                issues.push(ConfigIssue::error(path, reason));
                user_section.remove(&key);
            }
        }
    }
    issues
}

/// Deserializes a config holding only `section.key = value`: isolates type errors per key.
pub(super) fn check_one_key(section: &str, key: &str, value: toml::Value) -> Result<(), String> {
    let mut inner = toml::Table::new();
    inner.insert(key.to_string(), value);
    let mut outer = toml::Table::new();
    outer.insert(section.to_string(), toml::Value::Table(inner));
    toml::Value::Table(outer)
        .try_into::<Config>()
        .map(|_| ())
        .map_err(|e| one_line(e.message()))
}

/// toml's messages span several lines; an issue is printed on one.
pub(super) fn one_line(message: &str) -> String {
    message.trim_end().replace('\n', "; ")
}

pub(super) fn did_you_mean<'a>(word: &str, candidates: impl Iterator<Item = &'a String>) -> String {
    let best = candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((_, c)) => format!(" (did you mean `{c}`?)"),
        None => String::new(),
    }
}

/// Levenshtein distance, for "did you mean" hints on short key names.
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
