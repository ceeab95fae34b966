//! The paging ladder through the real dispatcher and queue, with a scripted phone pager in
//! place of the outbound SIP call (`crate::app::pager` builds the real one): who is called in
//! which order, the acknowledgement recorded and ending the ladder, the timeouts on the
//! dispatcher's clock, a restart in the middle of a ladder resuming it, an acknowledgement
//! from the web page, and a ladder nobody answers. The caller's own call record (written by
//! the real `callbox::dialog::call_log`, noted by the app's `CallPages`) shows who took the
//! page and when, or that nobody did.

use callbox::alert::phone::{
    LineFreeFuture, PageCallFuture, PageCallOutcome, PageCallRequest, PhonePager,
};
use callbox::alert::settings::AlertsConfig;
use callbox::alert::{AlertSettings, Dispatcher, NoOnCall, OnCallDirectory, OnCallTech};
use callbox::app::call_pages::CallPages;
use callbox::dialog::call_log::{self, CallRecord, CallerRecord, PageRecord, RtpRecord};
use callbox::infra::clock::{Clock, ManualClock};
use callbox::queue::{
    CallerInfo, Hazard, OnCallAlert, Outbox, PageAcknowledgement, Payload, QueueOptions, Record,
    RecordId, VoicemailMessage,
};
use chrono::{DateTime, Utc};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MIKE: &str = "+13125550101";
const BEA: &str = "+13125550102";
const OLGA: &str = "+13125550103";

/// Answers each page call with the next scripted outcome (to the number it expects); past the
/// script the call never ends (a box killed during the call).
#[derive(Default)]
struct ScriptedPager {
    script: Mutex<VecDeque<(&'static str, PageCallOutcome)>>,
    calls: Mutex<Vec<PageCallRequest>>,
    /// When set, the line is busy (a caller on it) until this turns true.
    line: Option<tokio::sync::watch::Receiver<bool>>,
}

impl ScriptedPager {
    fn new(script: &[(&'static str, PageCallOutcome)]) -> Arc<ScriptedPager> {
        Arc::new(ScriptedPager {
            script: Mutex::new(script.iter().cloned().collect()),
            ..ScriptedPager::default()
        })
    }

    fn dialled(&self) -> Vec<String> {
        self.calls
            .lock()
            .expect("lock")
            .iter()
            .map(|c| c.to.clone())
            .collect()
    }

    fn left(&self) -> usize {
        self.script.lock().expect("lock").len()
    }
}

impl PhonePager for ScriptedPager {
    fn page<'a>(&'a self, request: &'a PageCallRequest) -> PageCallFuture<'a> {
        self.calls.lock().expect("lock").push(request.clone());
        let next = self.script.lock().expect("lock").pop_front();
        Box::pin(async move {
            match next {
                Some((to, outcome)) => {
                    assert_eq!(request.to, to, "the ladder called the wrong person");
                    outcome
                }
                None => std::future::pending().await,
            }
        })
    }

    fn line_free(&self) -> LineFreeFuture<'_> {
        let line = self.line.clone();
        Box::pin(async move {
            if let Some(mut line) = line {
                line.wait_for(|free| *free).await.expect("the line's gate");
            }
            true
        })
    }
}

struct Directory(Option<OnCallTech>);

impl OnCallDirectory for Directory {
    fn on_call_at(&self, _: DateTime<Utc>) -> Option<OnCallTech> {
        self.0.clone()
    }
}

const CALL_KEY: &str = "20260115T030000Z-0001";

/// The record the caller's call left (written when they hung up, before the paging).
fn write_call(calls: &Path) {
    let record = CallRecord {
        key: CALL_KEY.into(),
        call_id: "a84b4c76e66710@192.168.1.20".into(),
        caller: CallerRecord {
            number: Some("+13125550142".into()),
            display_name: None,
            presentation: "available".into(),
            raw: "<sip:3125550142@192.168.1.20>".into(),
        },
        dialled: None,
        codec: "PCMU".into(),
        answered_at: t0() - chrono::Duration::minutes(2),
        ended_at: t0(),
        end_reason: "remote_hangup".into(),
        digits: Vec::new(),
        recording: None,
        recording_stopped: None,
        rtp: RtpRecord::default(),
        turns: Vec::new(),
        records: Vec::new(),
        dialog: None,
        page: None,
    };
    call_log::write_record(calls, &record).expect("write the call record");
}

/// What the caller's record says of the page now.
fn call_page(calls: &Path) -> Option<PageRecord> {
    let (records, bad) = call_log::read_records(calls);
    assert!(bad.is_empty(), "{bad:?}");
    records
        .into_iter()
        .find(|r| r.key == CALL_KEY)
        .expect("the call's record")
        .page
}

fn t0() -> DateTime<Utc> {
    "2026-01-15T03:00:00Z".parse().expect("time")
}

fn settings() -> AlertSettings {
    let c = AlertsConfig {
        contacts: vec![format!("Mike Reyes <{MIKE}>")],
        backup: format!("Bea Backup <{BEA}>"),
        owner: format!("Olga Owner <{OLGA}>"),
        step_timeout_secs: 300,
        calls_per_contact: 2,
        call_pause_secs: 60,
        rounds: 2,
        ..AlertsConfig::default()
    };
    let mut issues = Vec::new();
    c.validate(&mut issues);
    assert!(issues.is_empty(), "{issues:?}");
    AlertSettings::from_settings(&c, "Acme Heating", "America/Chicago").expect("settings")
}

fn open(dir: &Path, clock: &ManualClock) -> Outbox {
    Outbox::open_with_clock(dir, QueueOptions::default(), clock.shared())
        .expect("queue")
        .0
}

async fn no_heat_alert(outbox: &Outbox, clock: &ManualClock) -> RecordId {
    outbox
        .enqueue(Payload::OnCallAlert(OnCallAlert {
            call_key: CALL_KEY.into(),
            caller: CallerInfo {
                name: "Jane Doe".into(),
                phone_e164: Some("+13125550142".into()),
                callback_phone_e164: None,
            },
            hazard: Hazard::NoHeat,
            address: None,
            known_customer_id: None,
            caller_said: "the heat is out and it's freezing".into(),
            raised_at_utc: clock.now_utc(),
            job_record_id: None,
        }))
        .await
        .expect("enqueue")
}

fn dispatcher(
    outbox: &Outbox,
    clock: &ManualClock,
    pager: Arc<ScriptedPager>,
    on_call: Option<OnCallTech>,
) -> Dispatcher {
    let directory: Arc<dyn OnCallDirectory> = match on_call {
        Some(t) => Arc::new(Directory(Some(t))),
        None => Arc::new(NoOnCall),
    };
    Dispatcher::new(settings(), outbox.clone(), directory)
        .expect("dispatcher")
        .with_clock(clock.shared())
        .with_pager(pager)
}

/// The dispatcher as the box runs it: noting each ladder's end in the call records in `calls`.
fn noting_dispatcher(
    outbox: &Outbox,
    clock: &ManualClock,
    pager: Arc<ScriptedPager>,
    calls: &Path,
) -> Dispatcher {
    dispatcher(outbox, clock, pager, None)
        .with_page_notes(Arc::new(CallPages::new(calls.to_path_buf())))
}

fn record(outbox: &Outbox, id: &RecordId) -> Record {
    outbox.get(id).expect("read").expect("there")
}

/// Passes until the alert is no longer pending, moving the clock to each wake-up.
async fn run_to_the_end(d: &Dispatcher, outbox: &Outbox, clock: &ManualClock, id: &RecordId) {
    for _ in 0..50 {
        d.deliver_due().await.expect("pass");
        let r = record(outbox, id);
        if !r.alert.pending {
            return;
        }
        let next = r
            .alert
            .next_attempt_at
            .expect("a pending ladder has a wake-up");
        assert!(next > clock.now_utc(), "a due ladder was left waiting");
        clock.advance((next - clock.now_utc()).to_std().expect("later"));
    }
    panic!("the ladder never ended: {:?}", record(outbox, id).alert);
}

#[tokio::test]
async fn offline_the_first_contact_pressing_1_is_recorded_and_ends_the_ladder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(t0());
    let outbox = open(dir.path(), &clock);
    let calls = dir.path().join("calls");
    write_call(&calls);
    let id = no_heat_alert(&outbox, &clock).await;
    let pager = ScriptedPager::new(&[(MIKE, PageCallOutcome::Accepted)]);
    let d = noting_dispatcher(&outbox, &clock, pager.clone(), &calls);
    assert_eq!(call_page(&calls), None, "nobody has it yet");
    // No webhook or ntfy (the internet is down): the phone is the only channel.
    assert!(!d.has_channels());
    d.deliver_due().await.expect("pass");
    assert_eq!(pager.dialled(), [MIKE]);
    let call = pager.calls.lock().expect("lock")[0].clone();
    for want in ["Acme Heating", "no heat", "Jane Doe", "3 1 2"] {
        assert!(
            call.spoken.contains(want),
            "{want:?} not in {:?}",
            call.spoken
        );
    }
    assert_eq!(call.alert_id, id.to_string());
    let r = record(&outbox, &id);
    assert!(!r.alert.pending, "an acknowledged alert is done");
    let page = r.alert.page.expect("the ladder's progress is stored");
    let ack = page.acknowledged.expect("acknowledged");
    assert_eq!(ack.by, "Mike Reyes");
    assert_eq!(ack.channel, "phone");
    assert_eq!(ack.at, Some(t0()));
    assert_eq!(page.ended.as_deref(), Some("acknowledged"));
    assert_eq!(page.attempts.len(), 1);
    assert_eq!(page.attempts[0].outcome, "accepted");
    // The caller's own record says who took it and when.
    assert_eq!(
        call_page(&calls),
        Some(PageRecord {
            alert: id.to_string(),
            outcome: "acknowledged".into(),
            by: Some("Mike Reyes".into()),
            channel: Some("phone".into()),
            at: Some(t0()),
            calls: 1,
        })
    );
    // Nothing more happens later.
    clock.advance(Duration::from_secs(3600));
    assert_eq!(d.deliver_due().await.expect("pass"), 0);
    assert_eq!(pager.dialled().len(), 1);
}

#[tokio::test]
async fn no_answer_and_pressing_2_move_the_ladder_on_within_its_timeouts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(t0());
    let outbox = open(dir.path(), &clock);
    let id = no_heat_alert(&outbox, &clock).await;
    let pager = ScriptedPager::new(&[
        (MIKE, PageCallOutcome::NoAnswer),
        (MIKE, PageCallOutcome::NoResponse),
        (BEA, PageCallOutcome::Passed),
        (OLGA, PageCallOutcome::Accepted),
    ]);
    let d = dispatcher(&outbox, &clock, pager.clone(), None);
    d.deliver_due().await.expect("pass");
    assert_eq!(pager.dialled(), [MIKE]);
    // Mike is called again only after the pause, on the dispatcher's clock.
    let r = record(&outbox, &id);
    assert!(r.alert.pending);
    assert_eq!(
        r.alert.next_attempt_at,
        Some(t0() + chrono::Duration::seconds(60))
    );
    clock.advance(Duration::from_secs(59));
    d.deliver_due().await.expect("pass");
    assert_eq!(pager.dialled().len(), 1, "called again before the pause");
    clock.advance(Duration::from_secs(1));
    d.deliver_due().await.expect("pass");
    // Mike's two calls are used: Bea at once, she presses 2: Olga at once, she takes it.
    assert_eq!(pager.dialled(), [MIKE, MIKE, BEA, OLGA]);
    let page = record(&outbox, &id).alert.page.expect("page");
    assert_eq!(page.acknowledged.expect("ack").by, "Olga Owner");
    let outcomes: Vec<_> = page.attempts.iter().map(|a| a.outcome.as_str()).collect();
    assert_eq!(outcomes, ["no_answer", "no_response", "passed", "accepted"]);
    assert_eq!(pager.left(), 0);
}

#[tokio::test]
async fn servicetitans_on_call_technician_is_paged_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(t0());
    let outbox = open(dir.path(), &clock);
    let id = no_heat_alert(&outbox, &clock).await;
    let shift = OnCallTech {
        name: "Sam Shift".into(),
        phone: Some("+13125550177".into()),
        source: "servicetitan",
    };
    let pager = ScriptedPager::new(&[
        ("+13125550177", PageCallOutcome::Declined),
        (BEA, PageCallOutcome::Accepted),
    ]);
    let d = dispatcher(&outbox, &clock, pager.clone(), Some(shift));
    d.deliver_due().await.expect("pass");
    // The configured list stands in only when the shift is unknown: Mike is not called.
    assert_eq!(pager.dialled(), ["+13125550177", BEA]);
    let page = record(&outbox, &id).alert.page.expect("page");
    assert_eq!(page.contacts[0].role, "on_call");
    assert_eq!(page.acknowledged.expect("ack").by, "Bea Backup");
}

#[tokio::test]
async fn a_restart_in_the_middle_of_a_ladder_resumes_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(t0());
    let id = {
        let outbox = open(dir.path(), &clock);
        let id = no_heat_alert(&outbox, &clock).await;
        // Mike does not answer; Bea's call (past the script) is under way when the box dies.
        let first = ScriptedPager::new(&[
            (MIKE, PageCallOutcome::NoAnswer),
            (MIKE, PageCallOutcome::NoAnswer),
        ]);
        let d = dispatcher(&outbox, &clock, first.clone(), None);
        d.deliver_due().await.expect("pass");
        clock.advance(Duration::from_secs(60));
        let cut = tokio::time::timeout(Duration::from_millis(500), d.deliver_due()).await;
        assert!(
            cut.is_err(),
            "Bea's call never ends: the box is killed during it"
        );
        assert_eq!(first.dialled(), [MIKE, MIKE, BEA]);
        drop(d);
        id
    };
    // A new process: the queue from disk, a new dispatcher.
    clock.advance(Duration::from_secs(30));
    let outbox = open(dir.path(), &clock);
    let stored = record(&outbox, &id);
    let page = stored.alert.page.clone().expect("page");
    assert!(page.calling.is_some(), "the call under way was stored");
    let pager = ScriptedPager::new(&[(BEA, PageCallOutcome::Accepted)]);
    let d = dispatcher(&outbox, &clock, pager.clone(), None);
    run_to_the_end(&d, &outbox, &clock, &id).await;
    // Resumed at Bea (Mike is not paged again), her interrupted call counted.
    assert_eq!(pager.dialled(), [BEA]);
    let page = record(&outbox, &id).alert.page.expect("page");
    let outcomes: Vec<_> = page.attempts.iter().map(|a| a.outcome.as_str()).collect();
    assert_eq!(
        outcomes,
        ["no_answer", "no_answer", "interrupted", "accepted"]
    );
    assert_eq!(page.acknowledged.expect("ack").by, "Bea Backup");
}

#[tokio::test]
async fn an_acknowledgement_on_the_web_page_stops_the_paging() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(t0());
    let outbox = open(dir.path(), &clock);
    let calls = dir.path().join("calls");
    write_call(&calls);
    let id = no_heat_alert(&outbox, &clock).await;
    let pager = ScriptedPager::new(&[(MIKE, PageCallOutcome::NoAnswer)]);
    let d = noting_dispatcher(&outbox, &clock, pager.clone(), &calls);
    d.deliver_due().await.expect("pass");
    assert_eq!(
        call_page(&calls),
        None,
        "a no-answer is no news for the caller's record"
    );
    outbox
        .acknowledge_alert(
            &id,
            PageAcknowledgement {
                by: "office (web page)".into(),
                at: Some(clock.now_utc()),
                channel: "web".into(),
            },
        )
        .await
        .expect("ack");
    clock.advance(Duration::from_secs(60));
    run_to_the_end(&d, &outbox, &clock, &id).await;
    assert_eq!(pager.dialled(), [MIKE], "paged after it was taken");
    let page = record(&outbox, &id).alert.page.expect("page");
    assert_eq!(page.acknowledged.expect("ack").channel, "web");
    assert_eq!(page.ended.as_deref(), Some("acknowledged"));
    let noted = call_page(&calls).expect("noted in the call's record");
    assert_eq!(
        (
            noted.outcome.as_str(),
            noted.by.as_deref(),
            noted.channel.as_deref()
        ),
        ("acknowledged", Some("office (web page)"), Some("web"))
    );
    assert_eq!(noted.at, Some(t0()));
    assert_eq!(noted.calls, 1);
}

#[tokio::test]
async fn nobody_answering_ends_the_ladder_after_its_rounds_and_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(t0());
    let outbox = open(dir.path(), &clock);
    let id = no_heat_alert(&outbox, &clock).await;
    let each = [MIKE, MIKE, BEA, BEA, OLGA, OLGA];
    let script: Vec<_> = each
        .iter()
        .chain(each.iter())
        .map(|to| (*to, PageCallOutcome::NoAnswer))
        .collect();
    let pager = ScriptedPager::new(&script);
    let calls = dir.path().join("calls");
    write_call(&calls);
    let d = noting_dispatcher(&outbox, &clock, pager.clone(), &calls);
    run_to_the_end(&d, &outbox, &clock, &id).await;
    assert_eq!(pager.dialled().len(), 12, "two rounds of two calls each");
    let noted = call_page(&calls).expect("noted in the call's record");
    assert_eq!((noted.outcome.as_str(), noted.by), ("exhausted", None));
    assert_eq!(noted.calls, 12);
    assert_eq!(noted.at, Some(clock.now_utc()));
    let r = record(&outbox, &id);
    let page = r.alert.page.expect("page");
    assert_eq!(page.ended.as_deref(), Some("exhausted"));
    assert!(page.acknowledged.is_none());
    // Two rounds, each person within their 5 minutes: well under an hour on the clock.
    assert!(clock.now_utc() - t0() < chrono::Duration::minutes(30));
}

/// Issue 15: a page call under way (here: waiting for the line while the caller is bridged)
/// is dropped once the alert is taken meanwhile (the bridged technician pressed 1), and the
/// ladder ends acknowledged by the bridge: nobody is called about a call already taken.
// Real time (the queue's disk I/O does not mix with paused time): about 2 s.
#[tokio::test]
async fn a_page_call_under_way_is_dropped_once_a_bridged_technician_took_the_alert() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(t0());
    let outbox = open(dir.path(), &clock);
    let calls = dir.path().join("calls");
    write_call(&calls);
    let id = no_heat_alert(&outbox, &clock).await;
    // No script: the page call never ends on its own.
    let pager = ScriptedPager::new(&[]);
    let d = noting_dispatcher(&outbox, &clock, pager.clone(), &calls);
    let taker = outbox.clone();
    let taken_id = id.clone();
    let at = clock.now_utc();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        taker
            .acknowledge_alert(
                &taken_id,
                PageAcknowledgement {
                    by: "Mike Reyes".into(),
                    at: Some(at),
                    channel: "bridge".into(),
                },
            )
            .await
            .expect("ack");
    });
    let pass = tokio::time::timeout(Duration::from_secs(20), d.deliver_due()).await;
    assert!(pass.is_ok(), "the page call was never dropped");
    run_to_the_end(&d, &outbox, &clock, &id).await;
    assert_eq!(
        pager.dialled(),
        [MIKE],
        "one call, dropped; nobody else paged"
    );
    let page = record(&outbox, &id).alert.page.expect("page");
    assert_eq!(page.ended.as_deref(), Some("acknowledged"));
    let ack = page.acknowledged.expect("ack");
    assert_eq!(
        (ack.by.as_str(), ack.channel.as_str()),
        ("Mike Reyes", "bridge")
    );
    assert_eq!(page.attempts.len(), 1);
    assert_eq!(page.attempts[0].outcome, "failed: taken meanwhile");
    let noted = call_page(&calls).expect("noted in the call's record");
    assert_eq!(noted.channel.as_deref(), Some("bridge"));
}

/// Issue 15: the caller whose bridged call nobody took is still on the line (leaving a
/// voicemail) when the ladder starts: the page call waits for the line, and only then is it
/// decided what it says: "the caller left a voicemail". A page with no voicemail never says so.
#[tokio::test]
async fn a_page_placed_after_the_caller_left_a_voicemail_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(t0());
    let outbox = open(dir.path(), &clock);
    let id = no_heat_alert(&outbox, &clock).await;
    let (free, line) = tokio::sync::watch::channel(false);
    let pager = Arc::new(ScriptedPager {
        script: Mutex::new([(MIKE, PageCallOutcome::Accepted)].into_iter().collect()),
        line: Some(line),
        ..ScriptedPager::default()
    });
    let d = dispatcher(&outbox, &clock, pager.clone(), None);
    let pass = tokio::spawn({
        let d = d.clone();
        async move { d.deliver_due().await.expect("pass") }
    });
    // The ladder is waiting for the line: nothing dialled yet.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        pager.dialled().is_empty(),
        "dialled while the caller held the line"
    );
    outbox
        .enqueue(Payload::Voicemail(VoicemailMessage {
            call_key: CALL_KEY.into(),
            caller: CallerInfo {
                name: "Jane Doe".into(),
                phone_e164: Some("+13125550142".into()),
                callback_phone_e164: None,
            },
            recording_path: Some(format!("recordings/{CALL_KEY}.wav")),
            duration_secs: None,
            transcript: "please call me back".into(),
        }))
        .await
        .expect("voicemail");
    free.send(true).expect("free the line");
    tokio::time::timeout(Duration::from_secs(20), pass)
        .await
        .expect("the pass ended")
        .expect("task");
    let said = pager.calls.lock().expect("lock")[0].spoken.clone();
    assert!(
        said.ends_with(callbox::alert::message::VOICEMAIL_LEFT),
        "{said}"
    );
    assert!(said.contains("no heat"), "{said}");
    let page = record(&outbox, &id).alert.page.expect("page");
    assert!(page.acknowledged.is_some(), "Mike pressed 1");

    // Another caller's alert, no voicemail: not said.
    let other = tempfile::tempdir().expect("tempdir");
    let outbox = open(other.path(), &clock);
    no_heat_alert(&outbox, &clock).await;
    let pager = ScriptedPager::new(&[(MIKE, PageCallOutcome::Accepted)]);
    dispatcher(&outbox, &clock, pager.clone(), None)
        .deliver_due()
        .await
        .expect("pass");
    let said = pager.calls.lock().expect("lock")[0].spoken.clone();
    assert!(!said.contains("voicemail"), "{said}");
}
