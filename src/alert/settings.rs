//! The alert layer's settings: `[alerts]`, with their validation.

use serde::{Deserialize, Serialize};

use crate::infra::settings::SettingIssue;
use crate::infra::Secret;

/// Alerts to the on-call technician when a caller reports gas, CO, smoke, burning or sparking
/// (see `crate::alert`). With no `webhook_url` nothing is sent: the box says so loudly at
/// start-up, and the office still gets the report through the ServiceTitan sync.
///
/// The token is a secret: set `CALLBOX_ALERTS_WEBHOOK_TOKEN` in the environment, a file
/// (`webhook_token_file`, `CALLBOX_ALERTS_WEBHOOK_TOKEN_FILE`) or the systemd credential
/// `alerts.webhook_token`, not the file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Where alerts are POSTed: `https://…` (plain `http://` only on loopback). Empty = none.
    pub webhook_url: String,
    /// "json" (a JSON document) or "ntfy" (plain text + Title/Priority/Tags headers, for
    /// ntfy.sh or a self-hosted ntfy: `https://ntfy.sh/<topic>`).
    pub format: String,
    /// Sent as `Authorization: Bearer <token>` when set. Never logged.
    pub webhook_token: Secret,
    /// Named in the alert when ServiceTitan's on-call shift is unknown (offline, no shift).
    pub fallback_name: String,
    /// The fallback technician's phone, E.164 (+13125550100).
    pub fallback_phone: String,
    /// One delivery attempt's time limit, in seconds.
    pub timeout_secs: u64,
    /// Longest wait between delivery retries, in seconds (the wait doubles from 1 s up to it).
    pub retry_max_secs: u64,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            webhook_url: String::new(),
            format: "json".into(),
            webhook_token: Secret::default(),
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
            if !a.webhook_token.expose().is_empty() {
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
        if a.webhook_token
            .expose()
            .chars()
            .any(|c| c.is_control() || c == ' ')
        {
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

// ---- [sms] (the text gateway; its section lives beside its code) ----
pub use super::sms::settings::SmsConfig;
