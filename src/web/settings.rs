//! `[web]`: the local web page's listener, certificate, sessions and login throttling.
//!
//! The coordinator composes this section into `Config` as `config.web`; until then nothing reads
//! it from the file. `validate` returns `(key, reason)` pairs with dotted keys (`web.listen`).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The local web page (issue 12).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// Serve the page at all.
    pub enabled: bool,
    /// HTTPS address. The embedded default only answers on this machine; a real install listens
    /// on the LAN (`0.0.0.0:8443`).
    pub listen: SocketAddr,
    /// PEM certificate chain to use instead of the self-signed one (needs `key_file`).
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// Optional plain-HTTP address that only redirects to HTTPS (e.g. `0.0.0.0:80`).
    pub redirect_listen: Option<SocketAddr>,
    /// Extra names for the self-signed certificate (e.g. `callbox.local`, `office-box`).
    pub hostnames: Vec<String>,
    /// A session unused this long ends (seconds).
    pub session_idle_secs: u64,
    /// A session ends this long after login however busy it is (seconds).
    pub session_max_secs: u64,
    /// Failed logins (or setup codes) from one source within the window that lock it out.
    pub login_failures_per_source: u32,
    /// Failed logins from all sources together within the window that lock every source out.
    pub login_failures_global: u32,
    /// The window the failures are counted in (seconds).
    pub login_failure_window_secs: u64,
    /// How long a lock-out lasts (seconds).
    pub login_lockout_secs: u64,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            cert_file: None,
            key_file: None,
            redirect_listen: None,
            hostnames: Vec::new(),
            session_idle_secs: 1800,
            session_max_secs: 43_200,
            login_failures_per_source: 10,
            login_failures_global: 100,
            login_failure_window_secs: 900,
            login_lockout_secs: 900,
        }
    }
}

/// A day: no session or lock-out is meant to last longer.
const DAY_SECS: u64 = 86_400;

impl WebConfig {
    /// Every problem as `(dotted key, reason)`; empty when the section is usable.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut issues = Vec::new();
        self.validate_listeners(&mut issues);
        self.validate_certificate(&mut issues);
        self.validate_sessions(&mut issues);
        self.validate_throttle(&mut issues);
        issues
    }

    fn validate_listeners(&self, issues: &mut Vec<(String, String)>) {
        if self.listen.port() == 0 {
            push(
                issues,
                "listen",
                "port must not be 0 (browsers need a fixed port)",
            );
        }
        if let Some(redirect) = self.redirect_listen {
            if redirect.port() == 0 {
                push(issues, "redirect_listen", "port must not be 0");
            }
            if redirect.port() == self.listen.port()
                && (redirect.ip() == self.listen.ip()
                    || redirect.ip().is_unspecified()
                    || self.listen.ip().is_unspecified())
            {
                push(
                    issues,
                    "redirect_listen",
                    "must not use the HTTPS port of web.listen",
                );
            }
        }
    }

    fn validate_certificate(&self, issues: &mut Vec<(String, String)>) {
        match (&self.cert_file, &self.key_file) {
            (Some(_), None) => push(issues, "key_file", "is required when web.cert_file is set"),
            (None, Some(_)) => push(issues, "cert_file", "is required when web.key_file is set"),
            _ => {}
        }
        for (key, path) in [("cert_file", &self.cert_file), ("key_file", &self.key_file)] {
            if path.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                push(
                    issues,
                    key,
                    "is empty; remove the key to use the self-signed certificate",
                );
            }
        }
        for name in &self.hostnames {
            if let Err(reason) = check_hostname(name) {
                push(issues, "hostnames", &format!("{name:?} {reason}"));
            }
        }
    }

    fn validate_sessions(&self, issues: &mut Vec<(String, String)>) {
        if !(60..=DAY_SECS).contains(&self.session_idle_secs) {
            push(
                issues,
                "session_idle_secs",
                "must be between 60 and 86400 seconds",
            );
        }
        if !(60..=7 * DAY_SECS).contains(&self.session_max_secs) {
            push(
                issues,
                "session_max_secs",
                "must be between 60 and 604800 seconds",
            );
        } else if self.session_max_secs < self.session_idle_secs {
            push(
                issues,
                "session_max_secs",
                "must not be shorter than web.session_idle_secs",
            );
        }
    }

    fn validate_throttle(&self, issues: &mut Vec<(String, String)>) {
        if self.login_failures_per_source == 0 {
            push(issues, "login_failures_per_source", "must be at least 1");
        }
        if self.login_failures_global < self.login_failures_per_source {
            push(
                issues,
                "login_failures_global",
                "must not be below web.login_failures_per_source",
            );
        }
        if !(1..=DAY_SECS).contains(&self.login_failure_window_secs) {
            push(
                issues,
                "login_failure_window_secs",
                "must be between 1 and 86400 seconds",
            );
        }
        if !(1..=DAY_SECS).contains(&self.login_lockout_secs) {
            push(
                issues,
                "login_lockout_secs",
                "must be between 1 and 86400 seconds",
            );
        }
    }
}

fn push(issues: &mut Vec<(String, String)>, key: &str, reason: &str) {
    issues.push((format!("web.{key}"), reason.to_string()));
}

/// A DNS name or an IP address the certificate can carry.
fn check_hostname(name: &str) -> Result<(), &'static str> {
    if name.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    if name.is_empty() || name.len() > 253 {
        return Err("must be 1 to 253 characters");
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if name.split('.').all(label_ok) {
        Ok(())
    } else {
        Err("is not a host name (letters, digits, '-' and '.')")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(config: &WebConfig) -> Vec<String> {
        config.validate().into_iter().map(|(key, _)| key).collect()
    }

    #[test]
    fn defaults_are_valid_and_local() {
        let config = WebConfig::default();
        assert!(config.validate().is_empty(), "{:?}", config.validate());
        assert!(config.enabled);
        assert_eq!(config.listen.to_string(), "127.0.0.1:8443");
        assert_eq!(config.session_idle_secs, 1800);
        assert_eq!(config.session_max_secs, 43_200);
    }

    #[test]
    fn unknown_keys_are_refused_and_missing_keys_default() {
        let parsed: WebConfig = toml::from_str("listen = \"0.0.0.0:443\"").unwrap();
        assert_eq!(parsed.listen.port(), 443);
        assert_eq!(parsed.session_idle_secs, 1800);
        assert!(toml::from_str::<WebConfig>("listn = \"0.0.0.0:443\"").is_err());
    }

    #[test]
    fn half_a_certificate_is_an_error() {
        let config = WebConfig {
            cert_file: Some("/etc/callbox/web.pem".into()),
            ..WebConfig::default()
        };
        assert_eq!(keys(&config), ["web.key_file"]);
        let config = WebConfig {
            key_file: Some("/etc/callbox/web.key".into()),
            ..WebConfig::default()
        };
        assert_eq!(keys(&config), ["web.cert_file"]);
    }

    #[test]
    fn bad_values_name_their_key() {
        let config = WebConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            redirect_listen: Some("0.0.0.0:0".parse().unwrap()),
            hostnames: vec!["callbox.local".into(), "bad name".into(), "10.0.0.7".into()],
            session_idle_secs: 10,
            session_max_secs: 30,
            login_failures_per_source: 0,
            login_lockout_secs: 0,
            ..WebConfig::default()
        };
        let keys = keys(&config);
        for key in [
            "web.listen",
            "web.redirect_listen",
            "web.hostnames",
            "web.session_idle_secs",
            "web.session_max_secs",
            "web.login_failures_per_source",
            "web.login_lockout_secs",
        ] {
            assert!(
                keys.contains(&key.to_string()),
                "{key} missing from {keys:?}"
            );
        }
        assert_eq!(keys.iter().filter(|k| *k == "web.hostnames").count(), 1);
    }

    #[test]
    fn the_redirect_listener_needs_its_own_port() {
        let clash = WebConfig {
            listen: "0.0.0.0:8443".parse().unwrap(),
            redirect_listen: Some("127.0.0.1:8443".parse().unwrap()),
            ..WebConfig::default()
        };
        assert_eq!(keys(&clash), ["web.redirect_listen"]);
        let fine = WebConfig {
            redirect_listen: Some("0.0.0.0:80".parse().unwrap()),
            ..clash
        };
        assert!(fine.validate().is_empty());
    }

    #[test]
    fn session_max_shorter_than_idle_is_refused() {
        let config = WebConfig {
            session_idle_secs: 3600,
            session_max_secs: 600,
            ..WebConfig::default()
        };
        assert_eq!(keys(&config), ["web.session_max_secs"]);
    }
}
