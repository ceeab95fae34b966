//! Texts through a local fake gateway (axum on 127.0.0.1) that speaks Twilio's Messages API
//! (`POST`/`GET /2010-04-01/Accounts/{sid}/Messages.json`, basic auth, error 21610 for an
//! unsubscribed number) and a generic JSON webhook that drops repeated idempotency keys.
//! The real queue, the real booking texter and the real sender: one text per booking, none
//! twice on a retry, a lost answer or a restart, STOP honoured and kept, secrets never logged.
//! And the booking text's plan (`booking::plan`) over records the queue itself took to each
//! state: when a booking is texted, what it says, and when it never is.

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use callbox::alert::sms::booking::plan;
use callbox::alert::sms::{
    BookingTextPlan, BookingTexter, SendOutcome, SmsConfig, SmsError, SmsSender, SmsSettings,
    SmsStore, TextState,
};
use callbox::alert::NoOnCall;
use callbox::infra::clock::ManualClock;
use callbox::queue::{
    Address, AppointmentWindow, CallerInfo, JobRequest, Outbox, Payload, QueueOptions, Record,
    RecordId, SyncProgress, Urgency,
};
use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const JANE: &str = "+13125550142";
const SID: &str = "AC0123456789";
const TOKEN: &str = "tw-s3cret-token";
/// base64("AC0123456789:tw-s3cret-token")
const BASIC: &str = "Basic QUMwMTIzNDU2Nzg5OnR3LXMzY3JldC10b2tlbg==";
const HOOK_TOKEN: &str = "hook-s3cret-token";

// ---- the fake gateway -----------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Sent {
    to: String,
    body: String,
    key: String,
}

#[derive(Default)]
struct Gw {
    /// Messages the gateway took (and would deliver).
    sent: Vec<Sent>,
    /// POSTs seen, taken or not.
    posts: usize,
    /// Webhook idempotency keys already taken: repeats are answered 200 and not sent again.
    keys: BTreeSet<String>,
    /// Answer 500 to this many POSTs.
    fail: usize,
    /// Take this many messages and then hang past the client's timeout (a lost answer).
    hang: usize,
    /// Numbers that replied STOP at the gateway.
    unsubscribed: BTreeSet<String>,
    /// Requests whose credentials were wrong.
    bad_auth: usize,
}

#[derive(Clone, Default)]
struct Fake(Arc<Mutex<Gw>>);

impl Fake {
    fn gw(&self) -> std::sync::MutexGuard<'_, Gw> {
        self.0.lock().expect("lock")
    }
    fn sent(&self) -> Vec<Sent> {
        self.gw().sent.clone()
    }
}

async fn twilio_post(
    State(fake): State<Fake>,
    UrlPath(sid): UrlPath<String>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<HashMap<String, String>>,
) -> (StatusCode, String) {
    let hang = {
        let mut gw = fake.gw();
        gw.posts += 1;
        if sid != SID || headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(BASIC) {
            gw.bad_auth += 1;
            return (StatusCode::UNAUTHORIZED, r#"{"code":20003}"#.into());
        }
        if gw.fail > 0 {
            gw.fail -= 1;
            return (StatusCode::INTERNAL_SERVER_ERROR, "{}".into());
        }
        let to = form.get("To").cloned().unwrap_or_default();
        if gw.unsubscribed.contains(&to) {
            return (
                StatusCode::BAD_REQUEST,
                r#"{"code":21610,"message":"Attempt to send to unsubscribed recipient","status":400}"#
                    .into(),
            );
        }
        let n = gw.sent.len();
        gw.sent.push(Sent {
            to,
            body: form.get("Body").cloned().unwrap_or_default(),
            key: headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .into(),
        });
        let hang = gw.hang > 0;
        gw.hang = gw.hang.saturating_sub(1);
        (hang, n)
    };
    if hang.0 {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    (
        StatusCode::CREATED,
        format!(r#"{{"sid":"SM{:032}","status":"queued"}}"#, hang.1),
    )
}

async fn twilio_list(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> (StatusCode, String) {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(BASIC) {
        return (StatusCode::UNAUTHORIZED, "{}".into());
    }
    let to = q.get("To").cloned().unwrap_or_default();
    let messages: Vec<_> = fake
        .sent()
        .iter()
        .enumerate()
        .filter(|(_, m)| m.to == to)
        .map(|(n, m)| serde_json::json!({"sid": format!("SM{n:032}"), "to": m.to, "body": m.body}))
        .collect();
    (
        StatusCode::OK,
        serde_json::json!({ "messages": messages }).to_string(),
    )
}

async fn hook(
    State(fake): State<Fake>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<serde_json::Value>,
) -> (StatusCode, String) {
    let mut gw = fake.gw();
    gw.posts += 1;
    let want = format!("Bearer {HOOK_TOKEN}");
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(want.as_str()) {
        gw.bad_auth += 1;
        return (StatusCode::UNAUTHORIZED, "{}".into());
    }
    if gw.fail > 0 {
        gw.fail -= 1;
        return (StatusCode::SERVICE_UNAVAILABLE, "{}".into());
    }
    let to = body["to"].as_str().unwrap_or("").to_string();
    if gw.unsubscribed.contains(&to) {
        return (StatusCode::CONFLICT, r#"{"error":"opted_out"}"#.into());
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert_eq!(body["idempotency_key"].as_str(), Some(key.as_str()));
    if gw.keys.insert(key.clone()) {
        gw.sent.push(Sent {
            to,
            body: body["text"].as_str().unwrap_or("").into(),
            key,
        });
    }
    (StatusCode::OK, r#"{"id":"msg-1"}"#.into())
}

async fn gateway() -> (String, Fake) {
    let fake = Fake::default();
    let app = axum::Router::new()
        .route(
            "/2010-04-01/Accounts/{sid}/Messages.json",
            post(twilio_post).get(twilio_list),
        )
        .route("/hook", post(hook))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), fake)
}

// ---- the box's side -------------------------------------------------------------------------

fn t(s: &str) -> DateTime<Utc> {
    s.parse().expect("time")
}

fn twilio(base: &str) -> SmsSettings {
    callbox::infra::http::install_crypto_provider();
    let c = SmsConfig {
        gateway: "twilio".into(),
        base_url: base.into(),
        account_sid: SID.into(),
        auth_token: TOKEN.into(),
        from: "+13125550100".into(),
        timeout_secs: 1,
        ..SmsConfig::default()
    };
    let mut issues = Vec::new();
    c.validate(&mut issues);
    assert!(issues.is_empty(), "{issues:?}");
    SmsSettings::from_settings(&c).expect("valid").expect("on")
}

fn webhook(base: &str) -> SmsSettings {
    callbox::infra::http::install_crypto_provider();
    let c = SmsConfig {
        gateway: "webhook".into(),
        webhook_url: format!("{base}/hook"),
        webhook_token: HOOK_TOKEN.into(),
        from: "Acme".into(),
        timeout_secs: 1,
        ..SmsConfig::default()
    };
    SmsSettings::from_settings(&c).expect("valid").expect("on")
}

fn sender(settings: &SmsSettings, dir: &Path, clock: &ManualClock) -> SmsSender {
    SmsSender::new(
        settings,
        Arc::new(SmsStore::open(&dir.join("sms")).expect("store")),
    )
    .expect("sender")
    .with_clock(clock.shared())
}

fn job(phone: &str, start: &str) -> JobRequest {
    let start = t(start);
    JobRequest {
        call_key: "20260114T030000Z-0001".into(),
        caller: CallerInfo {
            name: "Jane Doe".into(),
            phone_e164: Some(phone.into()),
            callback_phone_e164: None,
        },
        known_customer_id: None,
        known_location_id: None,
        service_address: Address {
            street: "1 Main St".into(),
            unit: None,
            city: "Springfield".into(),
            state: "IL".into(),
            zip: "62704".into(),
            country: "USA".into(),
        },
        problem_summary: "No heat".into(),
        transcript: String::new(),
        urgency: Urgency::Routine,
        job_type_hint: None,
        business_unit_id: None,
        job_type_id: None,
        campaign_id: None,
        dialled_number: None,
        appointment: AppointmentWindow {
            start_utc: start,
            end_utc: start + chrono::Duration::hours(2),
            arrival_window_start_utc: None,
            arrival_window_end_utc: None,
        },
        assign_on_call_technician: false,
        booked_offline: false,
        confirmation_number: "CB-7K3Q".into(),
    }
}

/// The queue in `dir`, on `clock`.
fn queue(dir: &Path, clock: &ManualClock) -> Outbox {
    Outbox::open_with_clock(&dir.join("queue"), QueueOptions::default(), clock.shared())
        .expect("queue")
        .0
}

/// A queue with one booking the sync has put into ServiceTitan as job 4242.
async fn synced_booking(dir: &Path, clock: &ManualClock, phone: &str) -> (Outbox, RecordId) {
    let outbox = queue(dir, clock);
    let id = outbox
        .enqueue(Payload::Job(job(phone, "2026-01-15T14:00:00Z")))
        .await
        .expect("enqueue");
    outbox.begin_sync(&id).await.expect("begin");
    outbox
        .mark_synced(
            &id,
            SyncProgress {
                job_id: Some(4242),
                created_as: Some("job".into()),
                ..SyncProgress::default()
            },
        )
        .await
        .expect("synced");
    (outbox, id)
}

fn texter(sender: SmsSender, outbox: &Outbox, clock: &ManualClock) -> BookingTexter {
    BookingTexter::new(
        sender,
        outbox.clone(),
        Arc::new(NoOnCall),
        "Acme Heating",
        chrono_tz::America::Chicago,
        Duration::from_secs(1800),
    )
    .with_clock(clock.shared())
}

/// Everything logged while `f` runs, at debug level.
struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() -> (Arc<Mutex<Vec<u8>>>, tracing::subscriber::DefaultGuard) {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || LogCapture(writer.clone()))
        .finish();
    (buf, tracing::subscriber::set_default(subscriber))
}

fn logs(buf: &Arc<Mutex<Vec<u8>>>) -> String {
    String::from_utf8_lossy(&buf.lock().expect("lock")).into_owned()
}

// ---- the tests ------------------------------------------------------------------------------

/// The record the queue keeps for `job`, booked at 03:00 UTC on Jan 14 and taken where
/// `reached` says by the queue's own moves.
enum Reached {
    Queued,
    Synced(SyncProgress),
    NeedsAttention,
}

async fn record_of(job: JobRequest, reached: Reached) -> Record {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(t("2026-01-14T03:00:00Z"));
    let outbox = queue(dir.path(), &clock);
    let id = outbox.enqueue(Payload::Job(job)).await.expect("enqueue");
    match reached {
        Reached::Queued => {}
        Reached::Synced(progress) => {
            outbox.begin_sync(&id).await.expect("begin");
            outbox.mark_synced(&id, progress).await.expect("synced");
        }
        Reached::NeedsAttention => {
            outbox.begin_sync(&id).await.expect("begin");
            outbox
                .mark_needs_attention(&id, "x")
                .await
                .expect("needs attention");
        }
    }
    outbox.get(&id).expect("get").expect("kept")
}

fn synced_as(created_as: &str, technician_assigned: bool) -> Reached {
    Reached::Synced(SyncProgress {
        created_as: Some(created_as.into()),
        technician_assigned,
        ..SyncProgress::default()
    })
}

const WAIT: Duration = Duration::from_secs(1800);

#[tokio::test]
async fn a_synced_job_is_texted_with_its_technician() {
    let tz = chrono_tz::America::Chicago;
    let now = t("2026-01-14T03:01:00Z");
    let r = record_of(job(JANE, "2026-01-15T14:00:00Z"), synced_as("job", true)).await;
    let p = plan(&r, now, WAIT, "Acme Heating", tz, Some("Mike Reyes"));
    let BookingTextPlan::Send { to, text } = p else {
        panic!("{p:?}")
    };
    assert_eq!(to, JANE);
    assert_eq!(
        text,
        "Acme Heating: your visit is booked for Thu Jan 15, arrival between 8 AM and 10 AM. \
         Your technician: Mike Reyes. Confirmation CB-7K3Q. Reply STOP to opt out."
    );
    // Not assigned: no name, even if someone is on call.
    let r = record_of(job(JANE, "2026-01-15T14:00:00Z"), synced_as("job", false)).await;
    let p = plan(&r, now, WAIT, "Acme", tz, Some("Mike Reyes"));
    assert!(
        matches!(p, BookingTextPlan::Send { ref text, .. } if !text.contains("Mike")),
        "{p:?}"
    );
}

#[tokio::test]
async fn an_unsynced_booking_waits_then_goes_with_its_confirmation_number() {
    let tz = chrono_tz::America::Chicago;
    let r = record_of(job(JANE, "2026-01-15T14:00:00Z"), Reached::Queued).await;
    assert_eq!(
        plan(&r, t("2026-01-14T03:10:00Z"), WAIT, "Acme", tz, None),
        BookingTextPlan::WaitUntil(t("2026-01-14T03:30:00Z"))
    );
    let p = plan(&r, t("2026-01-14T03:30:00Z"), WAIT, "Acme", tz, None);
    assert!(
        matches!(p, BookingTextPlan::Send { ref text, .. } if text.contains("CB-7K3Q")),
        "{p:?}"
    );
    // Booked from cached capacity: only once ServiceTitan confirmed it.
    let mut offline = job(JANE, "2026-01-15T14:00:00Z");
    offline.booked_offline = true;
    let r = record_of(offline, Reached::Queued).await;
    assert!(matches!(
        plan(&r, t("2026-01-14T05:00:00Z"), WAIT, "Acme", tz, None),
        BookingTextPlan::WaitUntil(_)
    ));
}

#[tokio::test]
async fn nothing_for_old_over_unconfirmed_or_numberless_bookings() {
    let tz = chrono_tz::UTC;
    let skipped = |p: BookingTextPlan| matches!(p, BookingTextPlan::Skip(_));
    let at_4 = t("2026-01-14T04:00:00Z");
    // Became a booking request for the office to confirm.
    let r = record_of(
        job(JANE, "2026-01-15T14:00:00Z"),
        synced_as("booking", false),
    )
    .await;
    assert!(skipped(plan(&r, at_4, WAIT, "A", tz, None)));
    // The window is over.
    let r = record_of(job(JANE, "2026-01-15T14:00:00Z"), synced_as("job", false)).await;
    assert!(skipped(plan(
        &r,
        t("2026-01-15T17:00:00Z"),
        WAIT,
        "A",
        tz,
        None
    )));
    let r = record_of(job(JANE, "2026-01-15T14:00:00Z"), Reached::NeedsAttention).await;
    assert!(skipped(plan(&r, at_4, WAIT, "A", tz, None)));
    let mut numberless = job(JANE, "2026-01-15T14:00:00Z");
    numberless.caller.phone_e164 = None;
    let r = record_of(numberless, synced_as("job", false)).await;
    assert!(skipped(plan(&r, at_4, WAIT, "A", tz, None)));
}

#[tokio::test]
async fn one_text_per_booking_across_passes_and_a_restart() {
    let (logbuf, _guard) = capture_logs();
    let (base, fake) = gateway().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(t("2026-01-14T03:00:00Z"));
    let (outbox, _id) = synced_booking(dir.path(), &clock, JANE).await;
    let settings = twilio(&base);
    let texts = texter(sender(&settings, dir.path(), &clock), &outbox, &clock);
    assert_eq!(texts.pass().await.expect("pass").sent, 1);
    assert_eq!(texts.pass().await.expect("pass").sent, 0);
    // A restart: a new sender and store from the same directory.
    let texts = texter(sender(&settings, dir.path(), &clock), &outbox, &clock);
    assert_eq!(texts.pass().await.expect("pass").sent, 0);
    let sent = fake.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].to, JANE);
    assert_eq!(
        sent[0].body,
        "Acme Heating: your visit is booked for Thu Jan 15, arrival between 8 AM and 10 AM. \
         Confirmation CB-7K3Q. Reply STOP to opt out."
    );
    assert!(sent[0].key.starts_with("booking-cb-"), "{:?}", sent[0].key);
    assert_eq!(fake.gw().bad_auth, 0);
    let shown = logs(&logbuf);
    assert!(shown.contains("sms: text sent"), "{shown}");
    assert!(!shown.contains(TOKEN) && !shown.contains(JANE), "{shown}");
}

#[tokio::test]
async fn a_refused_attempt_is_retried_and_sent_once() {
    let (base, fake) = gateway().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(t("2026-01-14T03:00:00Z"));
    let (outbox, _) = synced_booking(dir.path(), &clock, JANE).await;
    fake.gw().fail = 2;
    let texts = texter(sender(&twilio(&base), dir.path(), &clock), &outbox, &clock);
    for _ in 0..2 {
        let report = texts.pass().await.expect("pass");
        assert_eq!(report.sent, 0);
        assert!(report.gateway_trouble.is_some(), "{report:?}");
    }
    assert_eq!(texts.pass().await.expect("pass").sent, 1);
    assert_eq!(texts.pass().await.expect("pass").sent, 0);
    assert_eq!(fake.sent().len(), 1);
    assert_eq!(fake.gw().posts, 3);
}

#[tokio::test]
async fn a_lost_answer_is_settled_with_the_gateway_not_sent_again() {
    let (logbuf, _guard) = capture_logs();
    let (base, fake) = gateway().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(t("2026-01-14T03:00:00Z"));
    let settings = twilio(&base);
    fake.gw().hang = 1;
    let s = sender(&settings, dir.path(), &clock);
    let err = s
        .send(JANE, "Your technician is on the way.", "page-1")
        .await
        .expect_err("the answer never came");
    assert!(err.is_transient(), "{err}");
    assert_eq!(
        s.store()
            .entry("page-1")
            .expect("read")
            .expect("noted")
            .state,
        TextState::InDoubt
    );
    // After a restart the key is still in doubt: the gateway is asked, and says it went out.
    let s = sender(&settings, dir.path(), &clock);
    assert_eq!(
        s.send(JANE, "Your technician is on the way.", "page-1")
            .await
            .expect("settled"),
        SendOutcome::AlreadySent
    );
    assert_eq!(fake.sent().len(), 1);
    assert_eq!(fake.gw().posts, 1);
    // A new key to the same number is a new text.
    assert!(matches!(
        s.send(JANE, "Second page.", "page-2").await.expect("sent"),
        SendOutcome::Sent { .. }
    ));
    assert_eq!(fake.sent().len(), 2);
    assert!(!logs(&logbuf).contains(TOKEN));
}

#[tokio::test]
async fn stop_is_honoured_and_kept() {
    let (base, fake) = gateway().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(t("2026-01-14T03:00:00Z"));
    let settings = twilio(&base);
    let s = sender(&settings, dir.path(), &clock);
    assert_eq!(
        s.record_inbound("+1 (312) 555-0142", "Stop")
            .expect("recorded"),
        Some(callbox::alert::sms::Inbound::Stop)
    );
    // The booking text is not sent, now or after a restart.
    let (outbox, _) = synced_booking(dir.path(), &clock, JANE).await;
    let texts = texter(s, &outbox, &clock);
    assert_eq!(texts.pass().await.expect("pass").sent, 0);
    let s = sender(&settings, dir.path(), &clock);
    assert!(s.store().is_opted_out(JANE));
    assert_eq!(
        s.send(JANE, "page", "page-1").await.expect("no error"),
        SendOutcome::OptedOut
    );
    assert_eq!(fake.gw().posts, 0);
    // START lifts it.
    s.record_inbound(JANE, "START").expect("recorded");
    assert!(matches!(
        s.send(JANE, "page", "page-1").await.expect("sent"),
        SendOutcome::Sent { .. }
    ));
    // A number unsubscribed at the gateway (STOP sent to Twilio) is recorded here too.
    let bob = "+13125550177";
    fake.gw().unsubscribed.insert(bob.into());
    assert_eq!(
        s.send(bob, "page", "page-2").await.expect("no error"),
        SendOutcome::OptedOut
    );
    let s = sender(&settings, dir.path(), &clock);
    assert!(s.store().is_opted_out(bob));
    assert_eq!(
        s.send(bob, "page", "page-3").await.expect("no error"),
        SendOutcome::OptedOut
    );
    assert_eq!(fake.gw().posts, 2, "nothing more was tried for {bob}");
}

#[tokio::test]
async fn the_webhook_gets_the_same_key_on_every_retry() {
    let (logbuf, _guard) = capture_logs();
    let (base, fake) = gateway().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(t("2026-01-14T03:00:00Z"));
    let settings = webhook(&base);
    fake.gw().fail = 1;
    let s = sender(&settings, dir.path(), &clock);
    let err = s.send(JANE, "page", "alert-7").await.expect_err("503");
    assert!(matches!(err, SmsError::Later { .. }), "{err}");
    assert!(matches!(
        s.send(JANE, "page", "alert-7").await.expect("sent"),
        SendOutcome::Sent { .. }
    ));
    assert_eq!(
        s.send(JANE, "page", "alert-7").await.expect("once"),
        SendOutcome::AlreadySent
    );
    let sent = fake.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].key, "alert-7");
    assert_eq!(fake.gw().bad_auth, 0);
    let shown = logs(&logbuf);
    assert!(!shown.contains(HOOK_TOKEN), "{shown}");
}

#[tokio::test]
async fn a_booking_waits_for_servicetitan_then_goes_with_its_confirmation_number() {
    let (base, fake) = gateway().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(t("2026-01-14T03:00:00Z"));
    let outbox = queue(dir.path(), &clock);
    outbox
        .enqueue(Payload::Job(job(JANE, "2026-01-15T14:00:00Z")))
        .await
        .expect("enqueue");
    let texts = texter(sender(&twilio(&base), dir.path(), &clock), &outbox, &clock);
    let report = texts.pass().await.expect("pass");
    assert_eq!(report.sent, 0);
    assert_eq!(report.next_at, Some(t("2026-01-14T03:30:00Z")));
    clock.advance(Duration::from_secs(1800));
    assert_eq!(texts.pass().await.expect("pass").sent, 1);
    assert!(fake.sent()[0].body.contains("Confirmation CB-7K3Q"));
}

#[test]
fn the_cli_records_an_opt_out_the_sender_honours() {
    use callbox::app::commands::sms::{sms, SmsAction};
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("callbox.toml");
    std::fs::write(
        &config,
        format!(
            "[shop]\ndefault_country = \"US\"\n[storage]\ndata_dir = \"{}\"\n",
            dir.path().display()
        ),
    )
    .expect("config");
    let run = |action| sms(Some(&config), action).expect("runs");
    assert_eq!(
        run(SmsAction::OptOut {
            number: "(312) 555-0142".into()
        }),
        std::process::ExitCode::SUCCESS
    );
    let store = SmsStore::open(&dir.path().join("sms")).expect("store");
    assert!(store.is_opted_out(JANE));
    run(SmsAction::OptIn {
        number: JANE.into(),
    });
    assert!(!store.is_opted_out(JANE));
    // No gateway configured: the test text says so and fails.
    assert!(sms(Some(&config), SmsAction::Test { to: JANE.into() }).is_err());
}

/// The paging ladder's phone calls, scripted: each call gets the next outcome.
struct ScriptedPager(Mutex<std::collections::VecDeque<callbox::alert::PageCallOutcome>>);

impl callbox::alert::PhonePager for ScriptedPager {
    fn page<'a>(
        &'a self,
        _: &'a callbox::alert::PageCallRequest,
    ) -> callbox::alert::phone::PageCallFuture<'a> {
        let next = self.0.lock().expect("lock").pop_front();
        Box::pin(async move { next.unwrap_or(callbox::alert::PageCallOutcome::NoAnswer) })
    }
}

/// Texts as a paging channel (issue 15): each contact the ladder calls is texted the alert
/// first, once, whatever is retried or restarted; a contact who replied STOP gets no text but
/// is still called.
#[tokio::test]
async fn each_paged_contact_is_texted_once_and_stop_is_honoured() {
    use callbox::alert::settings::AlertsConfig;
    use callbox::alert::{AlertSettings, Dispatcher, PageCallOutcome};
    use callbox::infra::clock::Clock;
    use callbox::queue::{Hazard, OnCallAlert};
    const MIKE: &str = "+13125550101";
    const BEA: &str = "+13125550102";
    const OLGA: &str = "+13125550103";
    let (base, fake) = gateway().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(t("2026-01-15T03:00:00Z"));
    let outbox = queue(dir.path(), &clock);
    let id = outbox
        .enqueue(Payload::OnCallAlert(OnCallAlert {
            call_key: "20260115T030000Z-0001".into(),
            caller: CallerInfo {
                name: "Jane Doe".into(),
                phone_e164: Some(JANE.into()),
                callback_phone_e164: None,
            },
            hazard: Hazard::NoHeat,
            address: None,
            known_customer_id: None,
            caller_said: "the heat is out".into(),
            raised_at_utc: clock.now_utc(),
            job_record_id: None,
        }))
        .await
        .expect("enqueue");
    let alerts = AlertsConfig {
        contacts: vec![format!("Mike Reyes <{MIKE}>")],
        backup: format!("Bea Backup <{BEA}>"),
        owner: format!("Olga Owner <{OLGA}>"),
        calls_per_contact: 1,
        rounds: 1,
        ..AlertsConfig::default()
    };
    let settings = AlertSettings::from_settings(&alerts, "Acme Heating", "America/Chicago")
        .expect("alert settings");
    let sms = twilio(&base);
    let texts = sender(&sms, dir.path(), &clock);
    // Bea replied STOP to an earlier text.
    texts.record_inbound(BEA, "STOP").expect("stop");
    let pager = Arc::new(ScriptedPager(Mutex::new(
        [
            PageCallOutcome::Passed,
            PageCallOutcome::Passed,
            PageCallOutcome::Accepted,
        ]
        .into(),
    )));
    let dispatcher = |pager: Arc<ScriptedPager>| {
        Dispatcher::new(settings.clone(), outbox.clone(), Arc::new(NoOnCall))
            .expect("dispatcher")
            .with_clock(clock.shared())
            .with_pager(pager)
            .with_sms(Arc::new(sender(&sms, dir.path(), &clock)))
    };
    dispatcher(pager.clone()).deliver_due().await.expect("pass");
    let sent = fake.sent();
    let to: Vec<&str> = sent.iter().map(|s| s.to.as_str()).collect();
    assert_eq!(
        to,
        [MIKE, OLGA],
        "Mike and Olga texted, Bea (STOP) not: {sent:?}"
    );
    assert!(sent[0].body.contains("no heat"), "{sent:?}");
    assert!(sent[0].body.contains("press 1"), "{sent:?}");
    let record = outbox.get(&id).expect("read").expect("there");
    let page = record.alert.page.expect("ladder progress");
    assert_eq!(page.attempts.len(), 3, "Bea was still called: {page:?}");
    assert!(page.acknowledged.is_some(), "{page:?}");
    // A later pass and a restarted dispatcher send nothing more.
    dispatcher(pager.clone()).deliver_due().await.expect("pass");
    clock.advance(Duration::from_secs(3600));
    dispatcher(pager).deliver_due().await.expect("pass");
    assert_eq!(fake.sent().len(), 2);
}
