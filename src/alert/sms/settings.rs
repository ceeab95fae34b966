//! `[sms]`: the text-message gateway (re-exported from `crate::alert::settings`).

use serde::{Deserialize, Serialize};

use crate::infra::settings::SettingIssue;
use crate::infra::Secret;

/// Texts to callers (booking confirmations) and, for the paging ladder, to technicians. Off
/// unless `gateway` is set. Texts need the internet; nothing the box promises on the phone
/// depends on one arriving.
///
/// The secrets (`auth_token`, `webhook_token`) come from the environment
/// (`CALLBOX_SMS_AUTH_TOKEN`), a file (`auth_token_file`) or the systemd credential
/// `sms.auth_token`, not the file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SmsConfig {
    /// "" (no texts), "twilio" (Twilio's REST API or a compatible one) or "webhook" (a JSON POST
    /// to `webhook_url`, for any other gateway or relay).
    pub gateway: String,
    /// Twilio-compatible API root: `https://api.twilio.com` (plain http only on loopback).
    pub base_url: String,
    /// Twilio Account SID (`AC…`): the user name of the API's basic auth.
    pub account_sid: String,
    /// Twilio auth token: the password of the API's basic auth. Never logged.
    pub auth_token: Secret,
    /// The sending number, E.164 (+13125550100), or a Twilio Messaging Service SID (`MG…`).
    pub from: String,
    /// The generic gateway: `https://…` to POST `{"to","from","text","idempotency_key"}` to.
    pub webhook_url: String,
    /// Sent as `Authorization: Bearer <token>` to `webhook_url` when set. Never logged.
    pub webhook_token: Secret,
    /// Text the caller after a booking (the window, the technician when assigned, the
    /// confirmation number).
    pub booking_texts: bool,
    /// How long a booking text waits for ServiceTitan (the job, an assigned technician) before
    /// it goes with the window and confirmation number the caller heard, in minutes.
    pub booking_wait_minutes: u64,
    /// One request's time limit, in seconds.
    pub timeout_secs: u64,
}

impl Default for SmsConfig {
    fn default() -> Self {
        SmsConfig {
            gateway: String::new(),
            base_url: "https://api.twilio.com".into(),
            account_sid: String::new(),
            auth_token: Secret::default(),
            from: String::new(),
            webhook_url: String::new(),
            webhook_token: Secret::default(),
            booking_texts: true,
            booking_wait_minutes: 30,
            timeout_secs: 10,
        }
    }
}

impl SmsConfig {
    /// Checks `[sms]`.
    pub fn validate(&self, v: &mut Vec<SettingIssue>) {
        let s = self;
        match s.gateway.trim() {
            "" => {
                for (key, secret) in [
                    ("sms.auth_token", &s.auth_token),
                    ("sms.webhook_token", &s.webhook_token),
                ] {
                    if secret.is_set() {
                        v.push(SettingIssue::warning(
                            key,
                            "is set but sms.gateway is empty: no texts are sent",
                        ));
                    }
                }
            }
            "twilio" => {
                if let Err(reason) = super::check_url(&s.base_url) {
                    v.push(SettingIssue::error("sms.base_url", reason));
                }
                if s.account_sid.trim().is_empty() {
                    v.push(SettingIssue::error(
                        "sms.account_sid",
                        "is empty: the Twilio gateway needs the Account SID",
                    ));
                } else if !s
                    .account_sid
                    .trim()
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric())
                {
                    v.push(SettingIssue::error(
                        "sms.account_sid",
                        "must be letters and digits only (AC…)",
                    ));
                }
                if !s.auth_token.is_set() {
                    v.push(SettingIssue::error(
                        "sms.auth_token",
                        "is not set: the Twilio gateway needs the auth token",
                    ));
                }
                if !(crate::trade::phone::is_e164(s.from.trim()) || s.from.trim().starts_with("MG"))
                {
                    v.push(SettingIssue::error(
                        "sms.from",
                        format!(
                            "`{}` is neither an E.164 number (+13125550100) nor a Messaging \
                             Service SID (MG…)",
                            s.from
                        ),
                    ));
                }
            }
            "webhook" => {
                if let Err(reason) = super::check_url(&s.webhook_url) {
                    v.push(SettingIssue::error("sms.webhook_url", reason));
                }
            }
            other => v.push(SettingIssue::error(
                "sms.gateway",
                format!("`{other}` is not one of \"\", twilio, webhook"),
            )),
        }
        for (key, secret) in [
            ("sms.auth_token", &s.auth_token),
            ("sms.webhook_token", &s.webhook_token),
        ] {
            if secret.expose().chars().any(|c| c.is_control() || c == ' ') {
                v.push(SettingIssue::error(
                    key,
                    "contains spaces or control characters (a stray newline from a paste?)",
                ));
            }
        }
        if s.timeout_secs == 0 {
            v.push(SettingIssue::error(
                "sms.timeout_secs",
                "must be greater than 0",
            ));
        }
        if s.booking_wait_minutes > 24 * 60 {
            v.push(SettingIssue::warning(
                "sms.booking_wait_minutes",
                "over a day: the caller may get the text after the visit",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issues(c: &SmsConfig) -> Vec<String> {
        let mut v = Vec::new();
        c.validate(&mut v);
        v.into_iter().map(|i| format!("{i:?}")).collect()
    }

    #[test]
    fn off_by_default_and_valid() {
        assert!(issues(&SmsConfig::default()).is_empty());
    }

    #[test]
    fn twilio_needs_its_account_token_and_sender() {
        let c = SmsConfig {
            gateway: "twilio".into(),
            ..SmsConfig::default()
        };
        let found = issues(&c).join("\n");
        for key in ["sms.account_sid", "sms.auth_token", "sms.from"] {
            assert!(found.contains(key), "{key} not in {found}");
        }
        let good = SmsConfig {
            gateway: "twilio".into(),
            account_sid: "AC0123".into(),
            auth_token: "tok".into(),
            from: "+13125550100".into(),
            ..SmsConfig::default()
        };
        assert!(issues(&good).is_empty(), "{:?}", issues(&good));
    }

    #[test]
    fn webhook_must_be_https_and_gateway_known() {
        let c = SmsConfig {
            gateway: "webhook".into(),
            webhook_url: "http://sms.example.com/send".into(),
            ..SmsConfig::default()
        };
        assert!(issues(&c).join("").contains("sms.webhook_url"));
        let c = SmsConfig {
            gateway: "carrier-pigeon".into(),
            ..SmsConfig::default()
        };
        assert!(issues(&c).join("").contains("sms.gateway"));
    }
}
