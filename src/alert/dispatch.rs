//! The alert dispatcher: sends every undelivered on-call alert in the queue to every channel,
//! and notes each success durably in the queue before moving on, so a crash or restart resumes
//! where it stopped (at least once; the idempotency key lets a receiver drop repeats).

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use std::sync::Arc;
use std::time::Duration;

use super::message::{compose, AlertMessage};
use super::{AlertError, AlertSettings, Channel, Format, OnCallDirectory, OnCallTech};
use crate::infra::backoff::Backoff;
use crate::infra::http::{self, HttpOptions};
use crate::queue::{CallerInfo, Hazard, OnCallAlert, Outbox, Payload, Record};

/// Even with the queue's change notifications, look again this often: a missed wake-up must
/// not hold a gas report.
const POLL: Duration = Duration::from_secs(5);

/// See the module docs. Cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    outbox: Outbox,
    settings: Arc<AlertSettings>,
    on_call: Arc<dyn OnCallDirectory>,
    http: reqwest::Client,
}

/// What `callbox alert test` reports per channel.
#[derive(Debug)]
pub struct TestReport {
    pub channel: String,
    pub result: Result<(), AlertError>,
}

impl Dispatcher {
    pub fn new(
        settings: AlertSettings,
        outbox: Outbox,
        on_call: Arc<dyn OnCallDirectory>,
    ) -> Result<Dispatcher, AlertError> {
        let http = http_client(&settings)?;
        Ok(Dispatcher {
            outbox,
            settings: Arc::new(settings),
            on_call,
            http,
        })
    }

    pub fn has_channels(&self) -> bool {
        !self.settings.channels.is_empty()
    }

    /// Who to name: the ServiceTitan on-call shift now, else the configured fallback.
    fn on_call_now(&self, now: DateTime<Utc>) -> Option<OnCallTech> {
        self.on_call
            .on_call_at(now)
            .or_else(|| self.settings.fallback.clone())
    }

    /// Runs until `shutdown` resolves. Without channels there is nothing to do (the start-up
    /// log says so); alerts then stay pending in the queue and still reach the office.
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) {
        if !self.has_channels() {
            return;
        }
        tokio::pin!(shutdown);
        let mut changes = self.outbox.subscribe();
        loop {
            let round = tokio::select! {
                r = self.deliver_due() => r,
                _ = &mut shutdown => return,
            };
            if let Err(e) = round {
                tracing::error!("alerts: reading the queue failed, trying again: {e}");
            }
            let wake = self
                .outbox
                .next_alert_wakeup()
                .map(|t| (t - Utc::now()).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(POLL)
                .min(POLL);
            tokio::select! {
                _ = &mut shutdown => return,
                _ = changes.changed() => {}
                _ = tokio::time::sleep(wake) => {}
            }
        }
    }

    /// One pass: every alert due now gets one attempt. Returns how many were delivered.
    pub async fn deliver_due(&self) -> Result<usize, AlertError> {
        let mut delivered = 0;
        // Each record is tried at most once per pass: a failure schedules it later, so
        // `next_alert_due` moves on to the next one.
        while let Some(record) = self.outbox.next_alert_due(Utc::now())? {
            if self.deliver(record).await? {
                delivered += 1;
            }
        }
        Ok(delivered)
    }

    /// One attempt at one record. `Ok(true)` when every channel now has it.
    async fn deliver(&self, record: Record) -> Result<bool, AlertError> {
        let id = record.id.clone();
        let Payload::OnCallAlert(alert) = &record.payload else {
            // Only an import of a hand-edited record can get here; sending it would page the
            // technician about something that is not a hazard report.
            tracing::warn!(%id, kind = %record.kind(), "alerts: not an on-call alert; clearing");
            self.outbox.mark_alert_delivered(&id).await?;
            return Ok(false);
        };
        let record = self.outbox.begin_alert(&id).await?;
        let now = Utc::now();
        let message = compose(
            id.as_str(),
            alert,
            self.on_call_now(now).as_ref(),
            &self.settings.shop_name,
            self.settings.timezone,
        );
        let mut failures = Vec::new();
        for channel in &self.settings.channels {
            if record.alert.delivered_to.contains(&channel.name) {
                continue;
            }
            match send(&self.http, channel, &message).await {
                Ok(()) => self.outbox.alert_delivered_to(&id, &channel.name).await?,
                Err(e) => failures.push(e.to_string()),
            }
        }
        if failures.is_empty() {
            self.outbox.mark_alert_delivered(&id).await?;
            let late = (Utc::now() - alert.raised_at_utc).num_seconds();
            tracing::info!(%id, hazard = alert.hazard.label(), attempts = record.alert.attempts, seconds_after_report = late, "alerts: on-call technician alerted");
            return Ok(true);
        }
        let error = failures.join("; ");
        let wait = alert_backoff(self.settings.retry_max)
            .delay_jittered(record.alert.attempts.saturating_sub(1));
        let at = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::seconds(60));
        self.outbox.schedule_alert_retry(&id, at, &error).await?;
        // Loud from the first failure: nobody may be alerted about a gas leak right now.
        tracing::error!(%id, attempts = record.alert.attempts, retry_in = ?wait, "alerts: on-call alert NOT delivered yet: {error}");
        Ok(false)
    }
}

/// `callbox alert test`: a clearly marked test alert to every channel, outside the queue (the
/// running box holds it). One report per channel.
pub async fn send_test(
    settings: &AlertSettings,
    on_call: &dyn OnCallDirectory,
    now: DateTime<Utc>,
) -> Result<Vec<TestReport>, AlertError> {
    let http = http_client(settings)?;
    let alert = OnCallAlert {
        call_key: "test".into(),
        caller: CallerInfo {
            name: "TEST - callbox alert test, no action needed".into(),
            phone_e164: None,
            callback_phone_e164: None,
        },
        hazard: Hazard::Unspecified,
        address: None,
        known_customer_id: None,
        caller_said: String::new(),
        raised_at_utc: now,
    };
    let key = format!("test-{}", now.format("%Y%m%dT%H%M%S%.3fZ"));
    let tech = on_call
        .on_call_at(now)
        .or_else(|| settings.fallback.clone());
    let mut message = compose(
        &key,
        &alert,
        tech.as_ref(),
        &settings.shop_name,
        settings.timezone,
    );
    message.title = format!("TEST: {}", message.title);
    message.text = format!("TEST ALERT - no action needed.\n{}", message.text);
    message.json["test"] = true.into();
    message.json["title"] = message.title.clone().into();
    message.json["text"] = message.text.clone().into();
    let mut out = Vec::new();
    for channel in &settings.channels {
        out.push(TestReport {
            channel: channel.name.clone(),
            result: send(&http, channel, &message).await,
        });
    }
    Ok(out)
}

fn http_client(settings: &AlertSettings) -> Result<reqwest::Client, AlertError> {
    let mut options = HttpOptions::new(
        settings.timeout.min(Duration::from_secs(5)),
        Some(settings.timeout),
    );
    // A webhook that redirects is misconfigured; following it could send the caller's
    // details (and the token) somewhere unexpected.
    options.follow_redirects = false;
    options.https_only = true;
    http::client(&options).map_err(|e| AlertError::Client(e.to_string()))
}

/// One POST. Errors name the channel and host only: the URL's path may be a private ntfy
/// topic, and the token is never part of any message.
async fn send(
    http: &reqwest::Client,
    channel: &Channel,
    message: &AlertMessage,
) -> Result<(), AlertError> {
    let host = channel.url.host_str().unwrap_or("").to_string();
    let mut headers = HeaderMap::new();
    let header = |v: &str| {
        HeaderValue::from_str(v).map_err(|e| AlertError::Config(format!("header value: {e}")))
    };
    headers.insert(
        HeaderName::from_static("idempotency-key"),
        header(&message.idempotency_key)?,
    );
    if let Some(token) = &channel.token {
        let mut value = header(&format!("Bearer {token}"))?;
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
    }
    let body = match channel.format {
        Format::Json => {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            message.json.to_string()
        }
        Format::Ntfy => {
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            headers.insert(HeaderName::from_static("title"), header(&message.title)?);
            // Every hazard here is life-safety: ntfy's top priority overrides Do Not Disturb
            // on the technician's phone.
            headers.insert(
                HeaderName::from_static("priority"),
                HeaderValue::from_static("urgent"),
            );
            headers.insert(
                HeaderName::from_static("tags"),
                header(&message.tags.join(","))?,
            );
            message.text.clone()
        }
    };
    let response = http
        .post(channel.url.clone())
        .headers(headers)
        .body(body)
        .send()
        .await
        .map_err(|e| AlertError::Unreachable {
            channel: channel.name.clone(),
            host: host.clone(),
            reason: e.without_url().to_string(),
        })?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    Err(AlertError::Refused {
        channel: channel.name.clone(),
        host,
        status: status.as_u16(),
        body: body.chars().take(200).collect(),
    })
}

/// 1 s, 2 s, 4 s … up to `cap`, with ±20 % jitter so a fleet of boxes does not retry in step.
fn alert_backoff(cap: Duration) -> Backoff {
    Backoff::new(Duration::from_secs(1), cap).with_spread(0.8, 1.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let cap = Duration::from_secs(60);
        let backoff = |attempts: u32, jitter| alert_backoff(cap).delay(attempts - 1, jitter);
        assert_eq!(backoff(1, 0.5), Duration::from_secs(1));
        assert_eq!(backoff(3, 0.5), Duration::from_secs(4));
        assert_eq!(backoff(30, 1.0), cap);
        assert!(backoff(2, 0.0) >= Duration::from_millis(1600));
    }
}
