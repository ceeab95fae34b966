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
    /// The paging ladder's people, paged in order by phone when ServiceTitan's on-call
    /// technician is not known: `"Name <+13125550100>"` or `"Name <sip:201@192.0.2.10>"`.
    /// Empty = `fallback_name`/`fallback_phone`.
    pub contacts: Vec<String>,
    /// Paged after the on-call technician or the list: `"Name <+13125550100>"`. Empty = none.
    pub backup: String,
    /// Paged last: `"Name <+13125550100>"`. Empty = none.
    pub owner: String,
    /// How long one person is paged before the next one is, in seconds.
    pub step_timeout_secs: u64,
    /// Page calls to one person within that time.
    pub calls_per_contact: u32,
    /// Seconds between two page calls to the same person.
    pub call_pause_secs: u64,
    /// Passes over the whole list before the box stops paging (and says so loudly).
    pub rounds: u32,
    /// A routine caller who insists on a person after hours: "callback" (the office calls
    /// back first thing) or "page" (the on-call technician is paged).
    pub insist_policy: String,
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
            contacts: Vec::new(),
            backup: String::new(),
            owner: String::new(),
            step_timeout_secs: 300,
            calls_per_contact: 2,
            call_pause_secs: 60,
            rounds: 2,
            insist_policy: "callback".into(),
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
        for (i, c) in a.contacts.iter().enumerate() {
            if let Err(e) = super::ladder::parse_contact(c, "contact") {
                v.push(SettingIssue::error(format!("alerts.contacts[{i}]"), e));
            }
        }
        for (k, c) in [("backup", &a.backup), ("owner", &a.owner)] {
            if !c.trim().is_empty() {
                if let Err(e) = super::ladder::parse_contact(c, k) {
                    v.push(SettingIssue::error(format!("alerts.{k}"), e));
                }
            }
        }
        for (k, n) in [
            ("step_timeout_secs", a.step_timeout_secs),
            ("calls_per_contact", u64::from(a.calls_per_contact)),
            ("rounds", u64::from(a.rounds)),
        ] {
            if n == 0 {
                v.push(SettingIssue::error(
                    format!("alerts.{k}"),
                    "must be greater than 0",
                ));
            }
        }
        if a.step_timeout_secs > 1800 {
            v.push(SettingIssue::warning(
                "alerts.step_timeout_secs",
                "over 30 minutes per person: an emergency could wait that long for the next one",
            ));
        }
        if InsistPolicy::parse(&a.insist_policy).is_none() {
            v.push(SettingIssue::error(
                "alerts.insist_policy",
                format!("`{}` is not one of callback, page", a.insist_policy),
            ));
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
/// What happens when a routine caller insists on talking to a person after hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsistPolicy {
    /// The office calls back first thing (no page).
    Callback,
    /// The on-call technician is paged like for an emergency.
    Page,
}

impl InsistPolicy {
    pub fn parse(s: &str) -> Option<InsistPolicy> {
        match s.trim() {
            "callback" => Some(InsistPolicy::Callback),
            "page" => Some(InsistPolicy::Page),
            _ => None,
        }
    }
}
