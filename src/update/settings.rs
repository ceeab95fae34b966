//! `[update]`: where releases come from and how the switch to one is made.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Remote updates (issue 14).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct UpdateConfig {
    /// Base URL of the release server (`<server>/<channel>/<arch>/release.json`). Empty: no
    /// updates. HTTPS; plain HTTP only to this machine (tests).
    pub server: String,
    /// The channel followed, e.g. "stable".
    pub channel: String,
    /// The installation: `releases/`, the `current` and `previous` links, state and trust.
    pub root: PathBuf,
    /// Extra CA certificate (PEM) for a private release server.
    pub ca_file: Option<PathBuf>,
    /// While switching (a few seconds), answer new calls busy instead of waiting for a
    /// moment with no call at all.
    pub busy_during_switch: bool,
    /// Longest wait for the line to be idle before an update gives up until next time (s).
    pub idle_wait_secs: u64,
    /// How long the new release has to report healthy before it is rolled back (s).
    pub health_timeout_secs: u64,
    /// The command that restarts the box (the updater runs it after each switch).
    pub restart_command: Vec<String>,
}

impl Default for UpdateConfig {
    fn default() -> Self {
        Self {
            server: String::new(),
            channel: "stable".into(),
            root: PathBuf::from("/opt/callbox"),
            ca_file: None,
            busy_during_switch: false,
            idle_wait_secs: 3600,
            health_timeout_secs: 90,
            restart_command: vec![
                "systemctl".into(),
                "restart".into(),
                "callbox.service".into(),
            ],
        }
    }
}

impl UpdateConfig {
    /// Every problem as `(dotted key, reason)`.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut issues = Vec::new();
        let mut push = |key: &str, reason: &str| {
            issues.push((format!("update.{key}"), reason.to_string()));
        };
        if !self.server.is_empty() {
            match reqwest::Url::parse(&self.server) {
                Ok(url) if url.scheme() == "https" => {}
                Ok(url) if url.scheme() == "http" && crate::infra::http::is_loopback(&url) => {}
                Ok(_) => push(
                    "server",
                    "must be an https:// URL (plain http only to this machine)",
                ),
                Err(e) => push("server", &format!("is not a URL: {e}")),
            }
        }
        let channel_ok = !self.channel.is_empty()
            && self
                .channel
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !channel_ok {
            push("channel", "must be a plain name such as \"stable\"");
        }
        if !self.root.is_absolute() {
            push("root", "must be an absolute path");
        }
        if self.restart_command.is_empty() {
            push("restart_command", "must name a command");
        }
        if !(10..=3600).contains(&self.health_timeout_secs) {
            push("health_timeout_secs", "must be between 10 and 3600 seconds");
        }
        issues
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_bad_values_are_named() {
        assert!(UpdateConfig::default().validate().is_empty());
        let bad = UpdateConfig {
            server: "http://releases.example.com".into(),
            channel: "../x".into(),
            root: "opt/callbox".into(),
            restart_command: Vec::new(),
            health_timeout_secs: 1,
            ..UpdateConfig::default()
        };
        let keys: Vec<String> = bad.validate().into_iter().map(|(k, _)| k).collect();
        for key in [
            "server",
            "channel",
            "root",
            "restart_command",
            "health_timeout_secs",
        ] {
            assert!(keys.contains(&format!("update.{key}")), "{key} in {keys:?}");
        }
        let loopback = UpdateConfig {
            server: "http://127.0.0.1:8080".into(),
            ..UpdateConfig::default()
        };
        assert!(loopback.validate().is_empty());
    }
}
