//! The alert layer's settings: `[alerts]`, with their validation.

use serde::{Deserialize, Serialize};

use crate::infra::settings::SettingIssue;

/// Alerts to the on-call technician when a caller reports gas, CO, smoke, burning or sparking
/// (see `crate::alert`). With no `webhook_url` nothing is sent: the box says so loudly at
/// start-up, and the office still gets the report through the ServiceTitan sync.
///
/// The token is a secret: set `CALLBOX_ALERTS_WEBHOOK_TOKEN` in the environment, not the file.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Where alerts are POSTed: `https://…` (plain `http://` only on loopback). Empty = none.
    pub webhook_url: String,
    /// "json" (a JSON document) or "ntfy" (plain text + Title/Priority/Tags headers, for
    /// ntfy.sh or a self-hosted ntfy: `https://ntfy.sh/<topic>`).
    pub format: String,
    /// Sent as `Authorization: Bearer <token>` when set. Never logged.
    pub webhook_token: String,
    /// Named in the alert when ServiceTitan's on-call shift is unknown (offline, no shift).
    pub fallback_name: String,
    /// The fallback technician's phone, E.164 (+13125550100).
    pub fallback_phone: String,
    /// One delivery attempt's time limit, in seconds.
    pub timeout_secs: u64,
    /// Longest wait between delivery retries, in seconds (the wait doubles from 1 s up to it).
    pub retry_max_secs: u64,
}

impl std::fmt::Debug for AlertsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token must never reach a log line, including a `{:?}` of the whole config.
        f.debug_struct("AlertsConfig")
            .field("webhook_url", &self.webhook_url)
            .field("format", &self.format)
            .field(
                "webhook_token",
                &if self.webhook_token.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .field("fallback_name", &self.fallback_name)
            .field("fallback_phone", &self.fallback_phone)
            .field("timeout_secs", &self.timeout_secs)
            .field("retry_max_secs", &self.retry_max_secs)
            .finish()
    }
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            webhook_url: String::new(),
            format: "json".into(),
            webhook_token: String::new(),
            fallback_name: String::new(),
            fallback_phone: String::new(),
            timeout_secs: 10,
            retry_max_secs: 60,
        }
    }
}

impl AlertsConfig {
    /// Checks `[alerts]`.
    pub fn validate(&self, v: &mut Vec<SettingIssue>) {
        let a = self;
        let format = super::Format::parse(&a.format);
        if format.is_none() {
            v.push(SettingIssue::error(
                "alerts.format",
                format!("`{}` is not one of json, ntfy", a.format),
            ));
        }
        if a.webhook_url.trim().is_empty() {
            if !a.webhook_token.is_empty() {
                v.push(SettingIssue::error(
                    "alerts.webhook_token",
                    "is set but alerts.webhook_url is empty: there is nowhere to send alerts",
                ));
            }
        } else if let Err(reason) = super::check_webhook_url(&a.webhook_url, format) {
            v.push(SettingIssue::error("alerts.webhook_url", reason));
        }
        // A header value cannot hold control characters; a pasted token with a newline would
        // fail every delivery at 2 am instead of here.
        if a.webhook_token.chars().any(|c| c.is_control() || c == ' ') {
            v.push(SettingIssue::error(
                "alerts.webhook_token",
                "contains spaces or control characters (a stray newline from a paste?)",
            ));
        }
        if !a.fallback_phone.is_empty() && !super::looks_like_e164(&a.fallback_phone) {
            v.push(SettingIssue::error(
                "alerts.fallback_phone",
                format!(
                    "`{}` is not an E.164 number (+ and 8-15 digits, e.g. +13125550100)",
                    a.fallback_phone
                ),
            ));
        }
        for (k, secs) in [
            ("timeout_secs", a.timeout_secs),
            ("retry_max_secs", a.retry_max_secs),
        ] {
            if secs == 0 {
                v.push(SettingIssue::error(
                    format!("alerts.{k}"),
                    "must be greater than 0",
                ));
            }
        }
        if a.retry_max_secs > 900 {
            v.push(SettingIssue::warning(
                "alerts.retry_max_secs",
                "over 15 minutes between retries: a gas report could wait that long once the \
                 channel is back",
            ));
        }
    }
}
