//! The HTTP side of a text: one POST to a Twilio-compatible REST API or to a generic JSON
//! webhook, and (Twilio) the look-up that settles a message left in doubt. Errors name the
//! host, never the URL's path or a credential.

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderValue, AUTHORIZATION};
use serde::Deserialize;

use super::SmsError;
use crate::infra::Secret;

/// Twilio's error code for "the recipient replied STOP": the number is opted out there.
pub const TWILIO_UNSUBSCRIBED: i64 = 21610;

/// Where texts go.
#[derive(Clone)]
pub enum Gateway {
    /// `POST {base}/2010-04-01/Accounts/{sid}/Messages.json`, form body, basic auth.
    Twilio {
        base: reqwest::Url,
        account_sid: String,
        auth_token: Secret,
        /// E.164 number, or a Messaging Service SID (`MG…`).
        from: String,
    },
    /// `POST url` with `{"type","to","from","text","idempotency_key"}`.
    Webhook {
        url: reqwest::Url,
        token: Secret,
        from: String,
    },
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Gateway::Twilio { base, .. } => f
                .debug_struct("Twilio")
                .field("host", &base.host_str())
                .finish_non_exhaustive(),
            Gateway::Webhook { url, .. } => f
                .debug_struct("Webhook")
                .field("host", &url.host_str())
                .finish_non_exhaustive(),
        }
    }
}

/// What one POST came to.
#[derive(Debug)]
pub(super) enum PostResult {
    /// Taken; the gateway's message id when it gave one.
    Accepted(Option<String>),
    /// Answered and not taken, but worth trying again (5xx, 429).
    Later(String),
    /// Refused for good.
    Refused(String),
    /// The number is unsubscribed at the gateway.
    Unsubscribed,
    /// No answer (connection, timeout): it may or may not have gone out.
    NoAnswer(String),
}

impl Gateway {
    pub fn name(&self) -> &'static str {
        match self {
            Gateway::Twilio { .. } => "twilio",
            Gateway::Webhook { .. } => "webhook",
        }
    }

    pub fn host(&self) -> String {
        match self {
            Gateway::Twilio { base, .. } => base.host_str().unwrap_or("").to_string(),
            Gateway::Webhook { url, .. } => url.host_str().unwrap_or("").to_string(),
        }
    }

    fn messages_url(base: &reqwest::Url, sid: &str) -> Result<reqwest::Url, SmsError> {
        base.join(&format!("2010-04-01/Accounts/{sid}/Messages.json"))
            .map_err(|e| SmsError::Config(format!("sms.base_url: {e}")))
    }

    pub(super) async fn post(
        &self,
        http: &reqwest::Client,
        to: &str,
        text: &str,
        key: &str,
    ) -> Result<PostResult, SmsError> {
        let request = match self {
            Gateway::Twilio {
                base,
                account_sid,
                auth_token,
                from,
            } => {
                let sender = if from.starts_with("MG") {
                    "MessagingServiceSid"
                } else {
                    "From"
                };
                http.post(Self::messages_url(base, account_sid)?)
                    .basic_auth(account_sid, Some(auth_token.expose()))
                    .header("Idempotency-Key", key)
                    .form(&[("To", to), (sender, from.as_str()), ("Body", text)])
            }
            Gateway::Webhook { url, token, from } => {
                let mut r = http.post(url.clone()).header("Idempotency-Key", key).json(
                    &serde_json::json!({
                        "type": "callbox.sms",
                        "to": to,
                        "from": from,
                        "text": text,
                        "idempotency_key": key,
                    }),
                );
                if token.is_set() {
                    let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                        .map_err(|_| {
                            SmsError::Config("sms.webhook_token is not a header value".into())
                        })?;
                    value.set_sensitive(true);
                    r = r.header(AUTHORIZATION, value);
                }
                r
            }
        };
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return Ok(PostResult::NoAnswer(e.without_url().to_string())),
        };
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if status.is_success() {
            return Ok(PostResult::Accepted(message_id(&body)));
        }
        let short: String = body.chars().take(200).collect();
        let reason = format!("HTTP {}: {short}", status.as_u16());
        if unsubscribed(self, &body) {
            return Ok(PostResult::Unsubscribed);
        }
        if status.is_server_error() || status.as_u16() == 429 {
            return Ok(PostResult::Later(reason));
        }
        Ok(PostResult::Refused(reason))
    }

    /// Twilio only: whether a message with exactly `text` went to `to` since `since` (a message
    /// whose answer was lost). `None` for a gateway that cannot say (the webhook dedupes by
    /// the idempotency key instead).
    pub(super) async fn already_sent(
        &self,
        http: &reqwest::Client,
        to: &str,
        text: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<Option<String>>, SmsError> {
        let Gateway::Twilio {
            base,
            account_sid,
            auth_token,
            ..
        } = self
        else {
            return Ok(None);
        };
        let date = since.date_naive().format("%Y-%m-%d").to_string();
        let response = http
            .get(Self::messages_url(base, account_sid)?)
            .basic_auth(account_sid, Some(auth_token.expose()))
            .query(&[("To", to), ("DateSent>", date.as_str()), ("PageSize", "50")])
            .send()
            .await
            .map_err(|e| SmsError::Unreachable {
                host: self.host(),
                reason: e.without_url().to_string(),
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(SmsError::Unreachable {
                host: self.host(),
                reason: format!("looking up a message in doubt: HTTP {}", status.as_u16()),
            });
        }
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            messages: Vec<Listed>,
        }
        #[derive(Deserialize)]
        struct Listed {
            #[serde(default)]
            sid: Option<String>,
            #[serde(default)]
            body: String,
            #[serde(default)]
            to: String,
        }
        let page: Page = response.json().await.map_err(|e| SmsError::Unreachable {
            host: self.host(),
            reason: format!("looking up a message in doubt: {}", e.without_url()),
        })?;
        Ok(Some(
            page.messages
                .into_iter()
                .find(|m| m.body == text && (m.to.is_empty() || m.to == to))
                .map(|m| m.sid.unwrap_or_default()),
        ))
    }
}

fn message_id(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v.get("sid")
        .or_else(|| v.get("id"))
        .and_then(|s| s.as_str())
        .map(str::to_string)
}

fn unsubscribed(gateway: &Gateway, body: &str) -> bool {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        return false;
    };
    match gateway {
        Gateway::Twilio { .. } => {
            v.get("code").and_then(|c| c.as_i64()) == Some(TWILIO_UNSUBSCRIBED)
        }
        Gateway::Webhook { .. } => v.get("error").and_then(|c| c.as_str()) == Some("opted_out"),
    }
}
