//! Text messages: booking confirmations to callers, and a paging channel for the ladder.
//!
//! [`SmsSender::send`]`(to, text, key)` makes **one attempt** at one message and is safe to
//! call again with the same key, after a failure or a restart:
//!
//! - a number that said STOP (kept in [`SmsStore`], `<data_dir>/sms/opt-out.json`) gets
//!   nothing: [`SendOutcome::OptedOut`];
//! - a key the ledger (`sent.json`) has as sent is not sent again: [`SendOutcome::AlreadySent`];
//! - before the request the key is marked *in doubt*, durably; the answer then marks it sent,
//!   not sent (5xx/429: safe to repeat) or given up (refused for good). A key left in doubt (a
//!   crash or a lost answer) is settled before it is sent again: Twilio is asked whether a
//!   message with that text went to that number since the first attempt; the webhook gets
//!   the same `Idempotency-Key` (header and body) and must drop repeats.
//!
//! A gateway's "unsubscribed" answer (Twilio 21610, the webhook's `{"error":"opted_out"}`)
//! records the opt-out here too. Retrying is the caller's business (the booking texter in
//! [`booking`], the ladder): this type never sleeps.

pub mod booking;
pub mod gateway;
pub mod settings;
pub mod store;

pub use booking::{BookingTextPlan, BookingTexter};
pub use gateway::Gateway;
pub use settings::SmsConfig;
pub use store::{LedgerEntry, OptOut, SmsStore, TextState};

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gateway::PostResult;

use crate::infra::clock::{SharedClock, SystemClock};
use crate::infra::http::{self, HttpOptions};
use crate::trade::phone::masked;

/// Why a text could not be sent (this attempt).
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    #[error("invalid SMS configuration: {0}")]
    Config(String),
    #[error("`{0}` is not a phone number a text can go to (E.164 expected)")]
    InvalidNumber(String),
    #[error("invalid message key `{0}`: 1-100 printable ASCII characters")]
    InvalidKey(String),
    /// No answer or no usable answer: try again later (the message may be in doubt).
    #[error("cannot reach the SMS gateway {host}: {reason}")]
    Unreachable { host: String, reason: String },
    /// The gateway answered "not now" (5xx, 429): try again later.
    #[error("the SMS gateway {host} did not take the text, try later: {reason}")]
    Later { host: String, reason: String },
    /// The gateway refused this message for good (now or on an earlier attempt).
    #[error("the SMS gateway refused the text: {0}")]
    GaveUp(String),
    /// The same key is being sent right now by another task.
    #[error("message {0} is being sent already")]
    Busy(String),
    #[error("SMS store: {0}")]
    Store(String),
}

impl SmsError {
    /// Worth another attempt later (the same key).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SmsError::Unreachable { .. } | SmsError::Later { .. } | SmsError::Busy(_)
        )
    }
}

/// What one call of [`SmsSender::send`] came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// The gateway took it now.
    Sent { gateway_id: Option<String> },
    /// An earlier attempt with this key got through (found in the ledger or at the gateway).
    AlreadySent,
    /// The number opted out: nothing was sent.
    OptedOut,
}

/// What the sender needs from `[sms]`.
#[derive(Debug, Clone)]
pub struct SmsSettings {
    pub gateway: Gateway,
    pub timeout: Duration,
    pub booking_texts: bool,
    pub booking_wait: Duration,
}

impl SmsSettings {
    /// From a validated `[sms]`; `None` when no gateway is configured.
    pub fn from_settings(c: &SmsConfig) -> Result<Option<SmsSettings>, SmsError> {
        let gateway = match c.gateway.trim() {
            "" => return Ok(None),
            "twilio" => {
                check_url(&c.base_url)
                    .map_err(|e| SmsError::Config(format!("sms.base_url: {e}")))?;
                let mut text = c.base_url.trim().to_string();
                if !text.ends_with('/') {
                    text.push('/');
                }
                let base = reqwest::Url::parse(&text)
                    .map_err(|e| SmsError::Config(format!("sms.base_url: {e}")))?;
                if c.account_sid.trim().is_empty() || !c.auth_token.is_set() {
                    return Err(SmsError::Config(
                        "sms.account_sid and sms.auth_token are needed for twilio".into(),
                    ));
                }
                Gateway::Twilio {
                    base,
                    account_sid: c.account_sid.trim().to_string(),
                    auth_token: crate::infra::Secret::new(c.auth_token.expose().trim()),
                    from: c.from.trim().to_string(),
                }
            }
            "webhook" => {
                check_url(&c.webhook_url)
                    .map_err(|e| SmsError::Config(format!("sms.webhook_url: {e}")))?;
                let url = reqwest::Url::parse(c.webhook_url.trim())
                    .map_err(|e| SmsError::Config(format!("sms.webhook_url: {e}")))?;
                Gateway::Webhook {
                    url,
                    token: crate::infra::Secret::new(c.webhook_token.expose().trim()),
                    from: c.from.trim().to_string(),
                }
            }
            other => return Err(SmsError::Config(format!("sms.gateway `{other}`"))),
        };
        Ok(Some(SmsSettings {
            gateway,
            timeout: Duration::from_secs(c.timeout_secs.max(1)),
            booking_texts: c.booking_texts,
            booking_wait: Duration::from_secs(c.booking_wait_minutes.saturating_mul(60)),
        }))
    }
}

/// Why a gateway URL cannot be used: https (plain http only on loopback), with a host.
pub fn check_url(text: &str) -> Result<(), String> {
    let url =
        reqwest::Url::parse(text.trim()).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    http::check_url(&url, true).map_err(|e| format!("`{text}`: {e}"))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{text}` has no host"));
    }
    Ok(())
}

/// What an inbound text asks for (the carrier-standard keywords).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inbound {
    Stop,
    Start,
}

/// STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, OPTOUT, REVOKE → stop; START, UNSTOP, YES →
/// start; anything else is no keyword. Case and surrounding punctuation do not matter; the
/// keyword must be the whole message.
pub fn inbound_keyword(body: &str) -> Option<Inbound> {
    let word = body
        .trim()
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_ascii_uppercase();
    match word.as_str() {
        "STOP" | "STOPALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT" | "OPTOUT" | "REVOKE" => {
            Some(Inbound::Stop)
        }
        "START" | "UNSTOP" | "YES" => Some(Inbound::Start),
        _ => None,
    }
}

/// See the module docs. Cheap to clone.
#[derive(Clone)]
pub struct SmsSender {
    gateway: Gateway,
    store: Arc<SmsStore>,
    http: reqwest::Client,
    clock: SharedClock,
    in_flight: Arc<Mutex<BTreeSet<String>>>,
}

impl std::fmt::Debug for SmsSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsSender")
            .field("gateway", &self.gateway)
            .finish_non_exhaustive()
    }
}

impl SmsSender {
    pub fn new(settings: &SmsSettings, store: Arc<SmsStore>) -> Result<SmsSender, SmsError> {
        let mut options = HttpOptions::new(
            settings.timeout.min(Duration::from_secs(5)),
            Some(settings.timeout),
        );
        // A redirect would carry the basic-auth credentials somewhere unexpected.
        options.follow_redirects = false;
        options.https_only = true;
        let http = http::client(&options).map_err(|e| SmsError::Config(e.to_string()))?;
        Ok(SmsSender {
            gateway: settings.gateway.clone(),
            store,
            http,
            clock: SystemClock::shared(),
            in_flight: Arc::default(),
        })
    }

    /// Opens the store in `<data_dir>/sms` and builds the sender.
    pub fn open(settings: &SmsSettings, sms_dir: &Path) -> Result<SmsSender, SmsError> {
        SmsSender::new(settings, Arc::new(SmsStore::open(sms_dir)?))
    }

    /// The same sender on `clock` (ledger times, opt-out times).
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    pub fn store(&self) -> &Arc<SmsStore> {
        &self.store
    }

    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// One attempt at the message `key` (stable across retries and restarts: the booking's
    /// record id, the page's alert id and step) with `text` to `to` (E.164).
    pub async fn send(&self, to: &str, text: &str, key: &str) -> Result<SendOutcome, SmsError> {
        if key.is_empty() || key.len() > 100 || !key.bytes().all(|b| (b'!'..=b'~').contains(&b)) {
            return Err(SmsError::InvalidKey(key.chars().take(100).collect()));
        }
        let to = crate::trade::phone::normalise(to, None)
            .ok_or_else(|| SmsError::InvalidNumber(masked(to)))?;
        let _guard = InFlight::take(&self.in_flight, key)?;
        if self.store.opted_out(&to)? {
            tracing::info!(key, to = %masked(&to), "sms: not sent, the number opted out");
            return Ok(SendOutcome::OptedOut);
        }
        let host = self.gateway.host();
        if let Some(entry) = self.store.entry(key)? {
            match entry.state {
                TextState::Sent { .. } => return Ok(SendOutcome::AlreadySent),
                TextState::GaveUp { reason } => return Err(SmsError::GaveUp(reason)),
                TextState::NotSent => {}
                TextState::InDoubt => {
                    if let Some(Some(gateway_id)) = self
                        .gateway
                        .already_sent(&self.http, &to, text, entry.first_attempt_at)
                        .await?
                    {
                        self.store.finish(
                            key,
                            TextState::Sent {
                                gateway_id: Some(gateway_id),
                            },
                            None,
                            self.clock.now_utc(),
                        )?;
                        tracing::info!(key, to = %masked(&to), "sms: a text in doubt had gone out; not sent again");
                        return Ok(SendOutcome::AlreadySent);
                    }
                }
            }
        }
        self.store.begin(key, &to, self.clock.now_utc())?;
        let result = self.gateway.post(&self.http, &to, text, key).await?;
        let now = self.clock.now_utc();
        match result {
            PostResult::Accepted(gateway_id) => {
                self.store.finish(
                    key,
                    TextState::Sent {
                        gateway_id: gateway_id.clone(),
                    },
                    None,
                    now,
                )?;
                tracing::info!(key, to = %masked(&to), gateway = self.gateway.name(), "sms: text sent");
                Ok(SendOutcome::Sent { gateway_id })
            }
            PostResult::Unsubscribed => {
                self.store.opt_out(&to, now, "gateway")?;
                self.store.finish(
                    key,
                    TextState::GaveUp {
                        reason: "the number opted out at the gateway".into(),
                    },
                    None,
                    now,
                )?;
                tracing::info!(key, to = %masked(&to), "sms: the gateway says the number opted out; recorded");
                Ok(SendOutcome::OptedOut)
            }
            PostResult::Later(reason) => {
                self.store
                    .finish(key, TextState::NotSent, Some(reason.clone()), now)?;
                Err(SmsError::Later { host, reason })
            }
            PostResult::Refused(reason) => {
                self.store.finish(
                    key,
                    TextState::GaveUp {
                        reason: reason.clone(),
                    },
                    Some(reason.clone()),
                    now,
                )?;
                tracing::warn!(key, to = %masked(&to), "sms: the gateway refused the text: {reason}");
                Err(SmsError::GaveUp(reason))
            }
            PostResult::NoAnswer(reason) => {
                // Stays in doubt: the next attempt settles it first.
                self.store
                    .finish(key, TextState::InDoubt, Some(reason.clone()), now)?;
                Err(SmsError::Unreachable { host, reason })
            }
        }
    }

    /// An inbound text from `from`: STOP records the opt-out, START lifts it. Returns what it
    /// asked for (`None`: not a keyword, nothing changed).
    pub fn record_inbound(&self, from: &str, body: &str) -> Result<Option<Inbound>, SmsError> {
        let number = crate::trade::phone::normalise(from, None)
            .ok_or_else(|| SmsError::InvalidNumber(masked(from)))?;
        let keyword = inbound_keyword(body);
        match keyword {
            Some(Inbound::Stop) => {
                self.store.opt_out(&number, self.clock.now_utc(), "sms")?;
                tracing::info!(from = %masked(&number), "sms: STOP received; no more texts to this number");
            }
            Some(Inbound::Start) => {
                self.store.opt_in(&number)?;
                tracing::info!(from = %masked(&number), "sms: START received; texts allowed again");
            }
            None => {}
        }
        Ok(keyword)
    }
}

/// The key is being sent by this task; released on drop.
struct InFlight {
    set: Arc<Mutex<BTreeSet<String>>>,
    key: String,
}

impl InFlight {
    fn take(set: &Arc<Mutex<BTreeSet<String>>>, key: &str) -> Result<InFlight, SmsError> {
        let mut s = set.lock().unwrap_or_else(|e| e.into_inner());
        if !s.insert(key.to_string()) {
            return Err(SmsError::Busy(key.to_string()));
        }
        Ok(InFlight {
            set: set.clone(),
            key: key.to_string(),
        })
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords() {
        for stop in ["STOP", "stop", " Stop. ", "unsubscribe", "STOPALL", "quit"] {
            assert_eq!(inbound_keyword(stop), Some(Inbound::Stop), "{stop}");
        }
        for start in ["START", "unstop", "Yes!"] {
            assert_eq!(inbound_keyword(start), Some(Inbound::Start), "{start}");
        }
        for other in ["please stop by tomorrow", "", "thanks"] {
            assert_eq!(inbound_keyword(other), None, "{other}");
        }
    }

    #[test]
    fn credentials_never_show_in_debug_output() {
        let c = SmsConfig {
            gateway: "twilio".into(),
            account_sid: "AC123".into(),
            auth_token: "tw-s3cret".into(),
            from: "+13125550100".into(),
            ..SmsConfig::default()
        };
        let s = SmsSettings::from_settings(&c).expect("ok").expect("on");
        let shown = format!("{s:?} {c:?}");
        assert!(!shown.contains("tw-s3cret"), "{shown}");
    }
}
