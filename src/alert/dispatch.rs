//! The alert dispatcher: sends every undelivered on-call alert in the queue to every channel,
//! and notes each success durably in the queue before moving on, so a crash or restart resumes
//! where it stopped (at least once; the idempotency key lets a receiver drop repeats).

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use std::sync::Arc;
use std::time::Duration;

use super::ladder::{self, Ladder, LadderAction};
use super::message::{self, compose, AlertMessage};
use super::phone::{PageCallOutcome, PageCallRequest, PhonePager};
use super::sms::SmsSender;
use super::{AlertError, AlertSettings, Channel, Format, OnCallDirectory, OnCallTech};
use crate::infra::backoff::Backoff;
use crate::infra::clock::{SharedClock, SystemClock};
use crate::infra::http::{self, HttpOptions};
use crate::queue::{CallerInfo, Hazard, OnCallAlert, Outbox, Payload, Record, RecordId};

/// Even with the queue's change notifications, look again this often: a missed wake-up must
/// not hold a gas report.
const POLL: Duration = Duration::from_secs(5);

/// See the module docs. Cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    outbox: Outbox,
    settings: Arc<AlertSettings>,
    on_call: Arc<dyn OnCallDirectory>,
    /// The configured fallback technician, replaceable while running (the settings page).
    fallback: Arc<std::sync::RwLock<Option<OnCallTech>>>,
    http: reqwest::Client,
    /// Where "now" (attempt and retry times) and the waits between passes come from.
    clock: SharedClock,
    /// Page calls over the shop's line; with one, every alert also runs the paging ladder.
    pager: Option<Arc<dyn PhonePager>>,
    /// Texts: each contact the ladder calls is texted the alert first (once per contact).
    sms: Option<Arc<SmsSender>>,
    /// Told how each ladder ended (the caller's call record shows who took it).
    page_notes: Option<Arc<dyn PageNotes>>,
}

/// Told when an alert's paging ladder ends, acknowledged or not, with the alert's call key
/// and the ladder's last progress. May be told more than once for one alert (a restart
/// between the ladder's end and the alert's delivery mark): it must be idempotent.
pub trait PageNotes: Send + Sync {
    fn page_ended(&self, call_key: &str, alert: &RecordId, page: &crate::queue::PageProgress);
}

/// What `callbox alert test` reports per channel.
#[derive(Debug)]
pub struct TestReport {
    pub channel: String,
    pub result: Result<(), AlertError>,
}

/// A page call dropped because the alert was taken meanwhile (its attempt's outcome).
const TAKEN_MEANWHILE: &str = "taken meanwhile";

impl Dispatcher {
    pub fn new(
        settings: AlertSettings,
        outbox: Outbox,
        on_call: Arc<dyn OnCallDirectory>,
    ) -> Result<Dispatcher, AlertError> {
        let http = http_client(&settings)?;
        Ok(Dispatcher {
            outbox,
            fallback: Arc::new(std::sync::RwLock::new(settings.fallback.clone())),
            settings: Arc::new(settings),
            on_call,
            http,
            clock: SystemClock::shared(),
            pager: None,
            sms: None,
            page_notes: None,
        })
    }

    /// The same dispatcher paging by phone through `pager`: every alert then also runs the
    /// paging ladder (`[alerts] contacts`, backup, owner) until someone presses 1.
    pub fn with_pager(mut self, pager: Arc<dyn PhonePager>) -> Self {
        self.pager = Some(pager);
        self
    }

    /// The same dispatcher texting each contact of the ladder the alert before calling them
    /// (a text cannot acknowledge: the call does). Key `page-<alert id>-<contact>`: a retry,
    /// a second round or a restart never texts a contact twice; STOP is honoured by the sender.
    pub fn with_sms(mut self, sms: Arc<SmsSender>) -> Self {
        self.sms = Some(sms);
        self
    }

    /// The same dispatcher telling `notes` how each paging ladder ended.
    pub fn with_page_notes(mut self, notes: Arc<dyn PageNotes>) -> Self {
        self.page_notes = Some(notes);
        self
    }

    pub fn pages_by_phone(&self) -> bool {
        self.pager.is_some()
    }

    /// The same dispatcher on `clock`: it decides what is due, when to retry and how long to
    /// wait by it (tests hand a `ManualClock` and let the back-off pass without sleeping).
    /// The queue stamps deliveries with its own clock (`Outbox::open_with_clock`).
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    pub fn has_channels(&self) -> bool {
        !self.settings.channels.is_empty()
    }

    /// Who to name: the ServiceTitan on-call shift now, else the configured fallback.
    fn on_call_now(&self, now: DateTime<Utc>) -> Option<OnCallTech> {
        self.on_call.on_call_at(now).or_else(|| {
            self.fallback
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
        })
    }

    /// Returns once the alert is acknowledged outside the page call under way (looked at
    /// every second).
    async fn taken_meanwhile(&self, id: &RecordId) {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let taken = self
                .outbox
                .get(id)
                .ok()
                .flatten()
                .and_then(|r| r.alert.page)
                .and_then(|p| p.acknowledged);
            if taken.is_some() {
                return;
            }
        }
    }

    /// Issue 15: whom a bridge rings now: the paging ladder's first contact (ServiceTitan's
    /// on-call technician when the cache has one with a phone, else the configured list or
    /// the fallback technician), picked as [`ladder::contacts`] picks for the ladder.
    pub fn first_contact(&self, now: DateTime<Utc>) -> Option<crate::queue::PageContact> {
        let on_call = self.on_call.on_call_at(now);
        ladder::contacts(on_call.as_ref(), &self.paging_contacts())
            .into_iter()
            .next()
    }

    /// A new fallback technician (`[alerts] fallback_name`/`fallback_phone` changed on the
    /// settings page), named from the next alert on.
    pub fn set_fallback(&self, fallback: Option<OnCallTech>) {
        *self.fallback.write().unwrap_or_else(|e| e.into_inner()) = fallback;
    }

    /// Runs until `shutdown` resolves. Without channels there is nothing to do (the start-up
    /// log says so); alerts then stay pending in the queue and still reach the office.
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) {
        if !self.has_channels() && !self.pages_by_phone() {
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
                .map(|t| {
                    (t - self.clock.now_utc())
                        .to_std()
                        .unwrap_or(Duration::ZERO)
                })
                .unwrap_or(POLL)
                .min(POLL);
            tokio::select! {
                _ = &mut shutdown => return,
                _ = changes.changed() => {}
                _ = self.clock.sleep(wake) => {}
            }
        }
    }

    /// One pass: every alert due now gets one attempt. Returns how many were delivered.
    pub async fn deliver_due(&self) -> Result<usize, AlertError> {
        let mut delivered = 0;
        // Each record is tried at most once per pass: a failure schedules it later, so
        // `next_alert_due` moves on to the next one.
        while let Some(record) = self.outbox.next_alert_due(self.clock.now_utc())? {
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
        let now = self.clock.now_utc();
        let mut message = compose(
            id.as_str(),
            alert,
            self.on_call_now(now).as_ref(),
            &self.settings.shop_name,
            self.settings.timezone,
        );
        if self.voicemail_left(&alert.call_key) {
            message = message::with_voicemail(message);
        }
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
        let mut wake = None;
        if let Some(pager) = &self.pager {
            match self
                .page(pager.as_ref(), &id, alert, &record, &message.text)
                .await?
            {
                Paged::Waiting(at) => wake = Some(at),
                Paged::Acknowledged => {
                    // Someone has it: the other channels no longer matter.
                    self.outbox.mark_alert_delivered(&id).await?;
                    return Ok(true);
                }
                Paged::Exhausted => {}
            }
        }
        if failures.is_empty() && wake.is_some() {
            // Pushed everywhere; the ladder goes on at `wake` (stored with its progress).
            return Ok(false);
        }
        if failures.is_empty() {
            self.outbox.mark_alert_delivered(&id).await?;
            let late = (self.clock.now_utc() - alert.raised_at_utc).num_seconds();
            tracing::info!(%id, hazard = alert.hazard.label(), attempts = record.alert.attempts, seconds_after_report = late, "alerts: on-call technician alerted");
            return Ok(true);
        }
        let error = failures.join("; ");
        let wait = alert_backoff(self.settings.retry_max)
            .delay_jittered(record.alert.attempts.saturating_sub(1));
        let at = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::seconds(60));
        let at = wake.map_or(at, |w| w.min(at));
        self.outbox.schedule_alert_retry(&id, at, &error).await?;
        // Loud from the first failure: nobody may be alerted about a gas leak right now.
        tracing::error!(%id, attempts = record.alert.attempts, retry_in = ?wait, "alerts: on-call alert NOT delivered yet: {error}");
        Ok(false)
    }
}

/// Where the paging ladder got in one pass.
enum Paged {
    /// Someone pressed 1 (or acknowledged on the web page).
    Acknowledged,
    /// Every round passed without an acknowledgement.
    Exhausted,
    /// Nothing more to do before this time.
    Waiting(DateTime<Utc>),
}

impl Dispatcher {
    /// The configured people (the fallback technician if no list), as the settings say now.
    fn paging_contacts(&self) -> ladder::PagingContacts {
        let mut paging = self.settings.paging.clone();
        if self.settings.paging.list.is_empty() {
            let fallback = self.fallback.read().unwrap_or_else(|e| e.into_inner());
            paging.list = fallback
                .iter()
                .filter_map(|f| {
                    f.phone.as_ref().map(|phone| crate::queue::PageContact {
                        name: f.name.clone(),
                        to: phone.clone(),
                        role: "contact".into(),
                    })
                })
                .collect();
        }
        paging
    }

    /// Texts `person` the alert before their page call, when texts are set up and they have a
    /// phone number (not a SIP URI). Best effort: a text that fails is logged and the call
    /// goes ahead; the key makes it once per contact whatever is retried.
    async fn text_contact(
        &self,
        id: &RecordId,
        key_suffix: &str,
        person: &crate::queue::PageContact,
        text: &str,
    ) {
        let Some(sms) = &self.sms else { return };
        if person.to.starts_with("sip:") {
            return;
        }
        let key = format!("page-{id}-{key_suffix}");
        let body = format!("{text}\nThe box is calling you now: press 1 to accept.");
        match sms.send(&person.to, &body, &key).await {
            Ok(outcome) => {
                tracing::info!(%id, contact = %person.name, ?outcome, "alerts: page text")
            }
            Err(err) => {
                tracing::warn!(%id, contact = %person.name, %err, "alerts: page text not sent")
            }
        }
    }

    /// Whether the caller of `call_key` left a voicemail (a queue that cannot be read: no).
    fn voicemail_left(&self, call_key: &str) -> bool {
        self.outbox
            .voicemail_of_call(call_key)
            .ok()
            .flatten()
            .is_some()
    }

    /// One page call, placed once the line is free: only then is it decided what it says
    /// (the caller who held the line may have left a voicemail meanwhile; a contact texted
    /// before that is texted that too).
    async fn page_when_free(
        &self,
        pager: &dyn PhonePager,
        id: &RecordId,
        alert: &OnCallAlert,
        (contact, person): (usize, &crate::queue::PageContact),
        texted_voicemail: bool,
    ) -> PageCallOutcome {
        if !pager.line_free().await {
            tracing::warn!(%id, contact = %person.name, "alerts: the line stayed busy; page call not placed");
            return PageCallOutcome::Failed("the line stayed busy".into());
        }
        let voicemail = self.voicemail_left(&alert.call_key);
        if voicemail && !texted_voicemail {
            // Once per contact, like the first text (its own key).
            let key = format!("{contact}-voicemail");
            self.text_contact(id, &key, person, message::VOICEMAIL_LEFT)
                .await;
        }
        let request = PageCallRequest {
            to: person.to.clone(),
            spoken: message::spoken_with(alert, &self.settings.shop_name, voicemail),
            alert_id: id.to_string(),
        };
        tracing::info!(%id, contact = %person.name, role = %person.role, voicemail, "alerts: paging by phone");
        pager.page(&request).await
    }

    /// Runs the alert's paging ladder as far as it goes now: every call is stored before it
    /// is dialled and after it ends, so a restart resumes the ladder (a call cut short by the
    /// restart counts as interrupted and the contact is called again).
    async fn page(
        &self,
        pager: &dyn PhonePager,
        id: &RecordId,
        alert: &OnCallAlert,
        record: &Record,
        text: &str,
    ) -> Result<Paged, AlertError> {
        let rules = Ladder::new(self.settings.ladder.clone());
        let now = self.clock.now_utc();
        let mut progress = match &record.alert.page {
            Some(p) if p.round > 0 => p.clone(),
            noted => {
                let on_call = self.on_call.on_call_at(now);
                let mut p = rules.start(
                    ladder::contacts(on_call.as_ref(), &self.paging_contacts()),
                    now,
                );
                // Acknowledged on the web page before the ladder began.
                p.acknowledged = noted.as_ref().and_then(|n| n.acknowledged.clone());
                let names: Vec<&str> = p.contacts.iter().map(|c| c.name.as_str()).collect();
                tracing::info!(%id, contacts = ?names, "alerts: paging ladder started");
                p
            }
        };
        loop {
            let now = self.clock.now_utc();
            match rules.next(&mut progress, now) {
                LadderAction::Call { contact } => {
                    rules.call_started(&mut progress, contact, now);
                    let stored = self.outbox.save_page(id, &progress, None).await?;
                    if stored
                        .alert
                        .page
                        .as_ref()
                        .and_then(|p| p.acknowledged.as_ref())
                        .is_some()
                    {
                        // Taken on the web page meanwhile: no call.
                        progress.calling = None;
                        progress.acknowledged = stored.alert.page.and_then(|p| p.acknowledged);
                        continue;
                    }
                    let Some(person) = progress.contacts.get(contact).cloned() else {
                        continue;
                    };
                    // The text goes at once (the caller may still be on the line); it says
                    // "voicemail" if the caller already left one.
                    let texted_voicemail = self.voicemail_left(&alert.call_key);
                    let text = if texted_voicemail {
                        format!("{text}\n{}", message::VOICEMAIL_LEFT)
                    } else {
                        text.to_string()
                    };
                    self.text_contact(id, &format!("{contact}"), &person, &text)
                        .await;
                    // Taken meanwhile (the web page, or a technician bridged to the caller
                    // while this call waited for the line): the call is dropped, not made.
                    let outcome = tokio::select! {
                        outcome = self.page_when_free(pager, id, alert, (contact, &person), texted_voicemail) => outcome,
                        () = self.taken_meanwhile(id) => {
                            tracing::info!(%id, contact = %person.name, "alerts: taken meanwhile; page call dropped");
                            PageCallOutcome::Failed(TAKEN_MEANWHILE.into())
                        }
                    };
                    tracing::info!(%id, contact = %person.name, outcome = %ladder::outcome_name(&outcome), "alerts: page call ended");
                    rules.call_ended(&mut progress, &outcome, self.clock.now_utc());
                    let stored = self.outbox.save_page(id, &progress, None).await?;
                    progress = stored.alert.page.unwrap_or(progress);
                }
                LadderAction::WaitUntil(at) => {
                    self.outbox.save_page(id, &progress, Some(at)).await?;
                    return Ok(Paged::Waiting(at));
                }
                LadderAction::Ended => {
                    let stored = self.outbox.save_page(id, &progress, None).await?;
                    let progress = stored.alert.page.unwrap_or(progress);
                    if let Some(notes) = &self.page_notes {
                        notes.page_ended(&alert.call_key, id, &progress);
                    }
                    return Ok(match &progress.acknowledged {
                        Some(ack) => {
                            tracing::info!(%id, by = %ack.by, channel = %ack.channel, "alerts: acknowledged; paging stopped");
                            Paged::Acknowledged
                        }
                        None => {
                            tracing::error!(%id, calls = progress.attempts.len(), contacts = progress.contacts.len(), "alerts: NOBODY ACKNOWLEDGED the emergency after every round of paging; the office gets it through the sync");
                            Paged::Exhausted
                        }
                    });
                }
            }
        }
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
        job_record_id: None,
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
    use crate::alert::settings::AlertsConfig;
    use crate::alert::NoOnCall;
    use crate::infra::clock::{Clock, ManualClock};
    use crate::queue::{QueueOptions, RecordId};
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    const CAP_SECS: u64 = 8;

    fn start() -> DateTime<Utc> {
        "2026-01-15T03:00:00Z".parse().expect("time")
    }

    /// A webhook on loopback that answers 500 to the first `refuse` requests, then 200.
    /// Returns its URL and how many requests it has had.
    async fn receiver(refuse: usize) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let seen = Arc::new(AtomicUsize::new(0));
        let count = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                read_request(&mut conn).await;
                let status = if count.fetch_add(1, SeqCst) < refuse {
                    "500 Internal Server Error"
                } else {
                    "200 OK"
                };
                let answer =
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = conn.write_all(answer.as_bytes()).await;
            }
        });
        (url, seen)
    }

    /// Reads one request: its head and as much body as its Content-Length says.
    async fn read_request(conn: &mut TcpStream) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while let Ok(n @ 1..) = conn.read(&mut chunk).await {
            buf.extend_from_slice(&chunk[..n]);
            let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let body_len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + body_len {
                return;
            }
        }
    }

    /// A queue holding one gas alert and a dispatcher to `url`, both on `clock`.
    async fn dispatcher_on(
        clock: &ManualClock,
        dir: &std::path::Path,
        url: String,
    ) -> (Dispatcher, Outbox, RecordId) {
        crate::infra::http::install_crypto_provider();
        let (outbox, _) =
            Outbox::open_with_clock(dir, QueueOptions::default(), clock.shared()).expect("queue");
        let alert = OnCallAlert {
            call_key: "20260115T030000Z-0001".into(),
            caller: CallerInfo {
                name: "Jane Doe".into(),
                phone_e164: Some("+13125550142".into()),
                callback_phone_e164: None,
            },
            hazard: Hazard::Gas,
            address: None,
            known_customer_id: None,
            caller_said: "i smell gas".into(),
            raised_at_utc: clock.now_utc(),
            job_record_id: None,
        };
        let id = outbox
            .enqueue(Payload::OnCallAlert(alert))
            .await
            .expect("enqueue");
        let config = AlertsConfig {
            webhook_url: url,
            timeout_secs: 5,
            retry_max_secs: CAP_SECS,
            ..AlertsConfig::default()
        };
        let settings =
            AlertSettings::from_settings(&config, "Acme Heating", "America/Chicago").expect("ok");
        let d = Dispatcher::new(settings, outbox.clone(), Arc::new(NoOnCall))
            .expect("dispatcher")
            .with_clock(clock.shared());
        (d, outbox, id)
    }

    fn alert_of(outbox: &Outbox, id: &RecordId) -> crate::queue::AlertDelivery {
        outbox.get(id).expect("read").expect("there").alert
    }

    fn next_attempt(outbox: &Outbox, id: &RecordId) -> DateTime<Utc> {
        alert_of(outbox, id)
            .next_attempt_at
            .expect("a retry is scheduled")
    }

    #[tokio::test]
    async fn a_refusing_receiver_is_retried_with_doubling_back_off_on_the_clock() {
        const REFUSALS: usize = 6;
        let (url, seen) = receiver(REFUSALS).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = ManualClock::new(start());
        let (d, outbox, id) = dispatcher_on(&clock, dir.path(), url).await;
        let mut waits = Vec::new();
        for _ in 0..REFUSALS {
            assert_eq!(d.deliver_due().await.expect("pass"), 0);
            let next = next_attempt(&outbox, &id);
            let wait = (next - clock.now_utc()).to_std().expect("a later time");
            let tried = seen.load(SeqCst);
            assert_eq!(d.deliver_due().await.expect("pass"), 0);
            assert_eq!(
                seen.load(SeqCst),
                tried,
                "retried before the back-off passed"
            );
            waits.push(wait);
            clock.advance(wait);
        }
        assert_eq!(d.deliver_due().await.expect("pass"), 1);
        assert_eq!(seen.load(SeqCst), REFUSALS + 1);
        let alert = alert_of(&outbox, &id);
        assert!(!alert.pending);
        assert_eq!(alert.attempts as usize, REFUSALS + 1);
        assert_eq!(alert.delivered_at, Some(clock.now_utc()));
        // 1, 2, 4, 8, 8, 8 s: each ±20 %, never past the cap.
        let cap = Duration::from_secs(CAP_SECS);
        for (n, wait) in waits.iter().enumerate() {
            let step = Duration::from_secs(1 << n).min(cap);
            let (low, high) = (step.mul_f64(0.8), step.mul_f64(1.2).min(cap));
            assert!(
                (low..=high).contains(wait),
                "wait {n} was {wait:?}, not {low:?}..={high:?}: {waits:?}"
            );
        }
        let total: Duration = waits.iter().sum();
        assert!(total >= Duration::from_secs(20), "{total:?} on the clock");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_running_dispatcher_waits_on_its_clock() {
        let (url, seen) = receiver(1).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = ManualClock::new(start());
        let (d, outbox, id) = dispatcher_on(&clock, dir.path(), url).await;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let runner = tokio::spawn(async move {
            d.run(async {
                let _ = stopped.await;
            })
            .await
        });
        let within = Duration::from_secs(10);
        let refused = tokio::time::timeout(within, async {
            while alert_of(&outbox, &id).last_error.is_none() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        refused.await.expect("the first attempt was refused");
        // Longer than the real back-off could be (1.2 s): the clock has not moved.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(seen.load(SeqCst), 1, "retried without the clock moving");
        let next = next_attempt(&outbox, &id);
        clock.advance((next - clock.now_utc()).to_std().expect("a later time"));
        let delivered = tokio::time::timeout(within, async {
            while alert_of(&outbox, &id).pending {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        delivered
            .await
            .expect("delivered once the clock passed the back-off");
        assert_eq!(seen.load(SeqCst), 2);
        let _ = stop.send(());
        runner.await.expect("dispatcher stopped");
    }

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
