//! Alerts to the on-call technician. When a caller reports gas, a CO alarm, smoke, a burning
//! smell or sparking, the dialog reads the safety script and queues an
//! [`OnCallAlert`](crate::queue::OnCallAlert); this module gets it to the technician's phone
//! within seconds instead of with the next ServiceTitan sync.
//!
//! It sits **beside** `servicetitan`, downstream of the queue: it reads the outbox and moves
//! only the record's alert lane ([`AlertDelivery`](crate::queue::AlertDelivery)) — never its
//! sync state — and it imports neither `dialog` nor `servicetitan`. Who is on call comes in
//! through [`OnCallDirectory`], which `crate::app::lookup` serves from the ServiceTitan cache.
//!
//! - [`message`] — what the technician reads: pure, no I/O.
//! - [`dispatch`] — the [`Dispatcher`]: woken by the queue, sends each undelivered alert to
//!   every channel, marks it delivered durably, retries with back-off for as long as it takes.
//!
//! Delivery is at least once. Every request carries `Idempotency-Key: <record id>` (and the
//! JSON body `idempotency_key`): the same value on every retry and after a restart, so a
//! receiver can drop repeats. ntfy does not dedupe; a lost answer there can push twice.

pub mod dispatch;
pub mod ladder;
pub mod message;
pub mod phone;
pub mod settings;
pub mod sms;

pub use dispatch::{send_test, Dispatcher, PageNotes, TestReport};
pub use message::{compose, AlertMessage};
pub use phone::{PageCallOutcome, PageCallRequest, PhonePager};

use chrono::{DateTime, Utc};
use std::time::Duration;

use settings::AlertsConfig;

/// How a channel's requests look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/json`: the whole alert as a document (see [`AlertMessage::json`]).
    Json,
    /// ntfy's publish API: the text as the body, `Title`, `Priority`, `Tags` headers.
    Ntfy,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s.trim() {
            "json" => Some(Format::Json),
            "ntfy" => Some(Format::Ntfy),
            _ => None,
        }
    }
}

/// Why an `alerts.webhook_url` cannot be used; `None` format checks only the URL.
pub fn check_webhook_url(text: &str, format: Option<Format>) -> Result<(), String> {
    let url =
        reqwest::Url::parse(text.trim()).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    // Plain http would put the caller's number and address on the wire in clear text.
    crate::infra::http::check_url(&url, true).map_err(|e| format!("`{text}`: {e}"))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{text}` has no host"));
    }
    if format == Some(Format::Ntfy) && url.path().trim_matches('/').is_empty() {
        return Err(format!(
            "`{text}`: ntfy needs the topic in the URL (https://ntfy.sh/<topic>)"
        ));
    }
    Ok(())
}

/// Whether a number is written in E.164 (the fallback phone's check).
pub use crate::trade::phone::is_e164 as looks_like_e164;

/// The technician to name in an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnCallTech {
    pub name: String,
    pub phone: Option<String>,
    /// Where the name came from: "servicetitan" (the on-call shift) or "fallback" (config).
    pub source: &'static str,
}

/// Who is on call at a time (the ServiceTitan on-call shift cache, in `crate::app::lookup`).
pub trait OnCallDirectory: Send + Sync {
    fn on_call_at(&self, at: DateTime<Utc>) -> Option<OnCallTech>;
}

/// Nobody known: the configured fallback (if any) is named.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoOnCall;

impl OnCallDirectory for NoOnCall {
    fn on_call_at(&self, _: DateTime<Utc>) -> Option<OnCallTech> {
        None
    }
}

/// One place alerts go.
#[derive(Clone)]
pub struct Channel {
    /// Stable name, recorded in the queue once the channel accepted an alert.
    pub name: String,
    pub url: reqwest::Url,
    pub format: Format,
    token: Option<String>,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("name", &self.name)
            .field("host", &self.url.host_str())
            .field("format", &self.format)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// What the dispatcher needs from `[alerts]` and `[shop]`.
#[derive(Debug, Clone)]
pub struct AlertSettings {
    pub channels: Vec<Channel>,
    pub fallback: Option<OnCallTech>,
    pub shop_name: String,
    pub timezone: chrono_tz::Tz,
    pub timeout: Duration,
    pub retry_max: Duration,
    /// The paging ladder's rules and people (used when a [`PhonePager`] is handed to the
    /// dispatcher).
    pub ladder: ladder::LadderPolicy,
    pub paging: ladder::PagingContacts,
    pub insist_policy: settings::InsistPolicy,
}

impl AlertSettings {
    /// From a validated `[alerts]`, for the shop named `shop_name` in the IANA zone
    /// `shop_timezone` (`[shop]`); an invalid `[alerts]` is an error here too (a caller that
    /// skipped validation must not get a channel that silently drops alerts).
    pub fn from_settings(
        a: &AlertsConfig,
        shop_name: &str,
        shop_timezone: &str,
    ) -> Result<AlertSettings, AlertError> {
        let format = Format::parse(&a.format)
            .ok_or_else(|| AlertError::Config(format!("alerts.format `{}`", a.format)))?;
        let mut channels = Vec::new();
        if !a.webhook_url.trim().is_empty() {
            check_webhook_url(&a.webhook_url, Some(format))
                .map_err(|e| AlertError::Config(format!("alerts.webhook_url: {e}")))?;
            let url = reqwest::Url::parse(a.webhook_url.trim())
                .map_err(|e| AlertError::Config(format!("alerts.webhook_url: {e}")))?;
            channels.push(Channel {
                name: "webhook".into(),
                url,
                format,
                token: Some(a.webhook_token.expose().trim().to_string()).filter(|t| !t.is_empty()),
            });
        }
        let fallback =
            (!a.fallback_name.trim().is_empty() || !a.fallback_phone.is_empty()).then(|| {
                OnCallTech {
                    name: a.fallback_name.trim().to_string(),
                    phone: Some(a.fallback_phone.clone()).filter(|p| !p.is_empty()),
                    source: "fallback",
                }
            });
        let contact = |text: &str, role: &str| {
            ladder::parse_contact(text, role)
                .map_err(|e| AlertError::Config(format!("alerts.{role}: {e}")))
        };
        // Empty = the fallback technician, taken from the dispatcher's live fallback when
        // the ladder starts (the settings page may change it while the box runs).
        let list = a
            .contacts
            .iter()
            .map(|c| contact(c, "contact"))
            .collect::<Result<Vec<_>, _>>()?;
        let optional = |text: &str, role: &str| {
            (!text.trim().is_empty())
                .then(|| contact(text, role))
                .transpose()
        };
        let paging = ladder::PagingContacts {
            list,
            backup: optional(&a.backup, "backup")?,
            owner: optional(&a.owner, "owner")?,
        };
        let ladder = ladder::LadderPolicy {
            step_timeout: Duration::from_secs(a.step_timeout_secs.max(1)),
            calls_per_contact: a.calls_per_contact.max(1),
            call_pause: Duration::from_secs(a.call_pause_secs),
            rounds: a.rounds.max(1),
        };
        let insist_policy = settings::InsistPolicy::parse(&a.insist_policy).ok_or_else(|| {
            AlertError::Config(format!("alerts.insist_policy `{}`", a.insist_policy))
        })?;
        Ok(AlertSettings {
            ladder,
            paging,
            insist_policy,
            channels,
            fallback,
            shop_name: shop_name.to_string(),
            timezone: shop_timezone.parse().unwrap_or(chrono_tz::UTC),
            timeout: Duration::from_secs(a.timeout_secs.max(1)),
            retry_max: Duration::from_secs(a.retry_max_secs.max(1)),
        })
    }
}

/// Why an alert could not be sent or the dispatcher not started.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("invalid alert configuration: {0}")]
    Config(String),
    /// Connection refused, DNS, TLS, timeout: the message may or may not have arrived.
    #[error("{channel}: cannot reach {host}: {reason}")]
    Unreachable {
        channel: String,
        host: String,
        reason: String,
    },
    /// The receiver answered, and not with 2xx.
    #[error("{channel}: {host} answered HTTP {status}: {body}")]
    Refused {
        channel: String,
        host: String,
        status: u16,
        body: String,
    },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error(transparent)]
    Queue(#[from] crate::queue::QueueError),
}

/// reqwest is built with `rustls-no-provider`: the process must pick ring once.
pub use crate::infra::http::install_crypto_provider;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_are_checked() {
        assert!(check_webhook_url("https://ntfy.sh/acme-oncall", Some(Format::Ntfy)).is_ok());
        assert!(check_webhook_url("http://127.0.0.1:8080/hook", Some(Format::Json)).is_ok());
        assert!(check_webhook_url("http://localhost/x", None).is_ok());
        for (bad, why) in [
            ("ntfy.sh/topic", "not a URL"),
            ("http://hooks.example.com/x", "plain http"),
            ("ftp://example.com/x", "scheme"),
        ] {
            let err = check_webhook_url(bad, Some(Format::Json)).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
        let err = check_webhook_url("https://ntfy.sh/", Some(Format::Ntfy)).unwrap_err();
        assert!(err.contains("topic"), "{err}");
    }

    #[test]
    fn e164() {
        assert!(looks_like_e164("+13125550100"));
        assert!(!looks_like_e164("3125550100"));
        assert!(!looks_like_e164("+1 312 555 0100"));
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let c = AlertsConfig {
            webhook_url: "https://hooks.example.com/callbox".into(),
            webhook_token: "s3cret-token".into(),
            ..AlertsConfig::default()
        };
        let settings = AlertSettings::from_settings(&c, "Acme", "America/Chicago").unwrap();
        assert_eq!(settings.channels.len(), 1);
        let shown = format!("{settings:?} {c:?}");
        assert!(!shown.contains("s3cret-token"), "{shown}");
    }
}
