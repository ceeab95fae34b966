//! The post-job survey against the ServiceTitan test server: the real sync books a job, the
//! dispatcher completes it in ServiceTitan, the survey worker notices it and places one call
//! the next day inside the calling hours (clock injected; a scripted caller stands in for the
//! outbound call), and the rating lands on the job as a note exactly once. Also: a note whose
//! answer was lost is found on the job and not written again, "press 9" is kept, and a call
//! interrupted by a crash is never placed twice. And the same with the real call: the box's
//! outbound line dials sipp (the customer's phone), which hears the question and presses 4
//! (RFC 4733) — keypad-only, and again with the speech model loaded. And the survey by voice:
//! the customer (the Rust RTP peer speaking espeak-ng Korean) says the rating and a comment,
//! heard by the real Vosk model (see `a_spoken_rating_and_comment_reach_the_job_note` for
//! what is checked at audio level and what on text only).

mod common;
mod support;
mod sync_support;

use callbox::infra::clock::{Clock, ManualClock};
use callbox::queue::Payload;
use callbox::servicetitan::survey::{
    next_call, CallPlan, SurveyCallFuture, SurveyCallOutcome, SurveyCallRequest, SurveyCaller,
    SurveyRules, SurveyState, SurveyStore, SurveyWorker,
};
use callbox::servicetitan::SyncWorker;
use chrono::{DateTime, Duration, Timelike, Utc};
use std::path::Path;
use std::sync::{Arc, Mutex};
use support::st_server::{StServer, StServerConfig};
use sync_support::*;

/// Answers every call with `outcome` and keeps the requests.
struct Scripted {
    outcome: SurveyCallOutcome,
    calls: Mutex<Vec<(DateTime<Utc>, SurveyCallRequest)>>,
    clock: Arc<ManualClock>,
}

impl SurveyCaller for Scripted {
    fn call<'a>(&'a self, request: &'a SurveyCallRequest) -> SurveyCallFuture<'a> {
        self.calls
            .lock()
            .expect("lock")
            .push((self.clock.now_utc(), request.clone()));
        let outcome = self.outcome.clone();
        Box::pin(async move { outcome })
    }
}

fn rules() -> SurveyRules {
    SurveyRules {
        timezone: chrono_tz::America::Chicago,
        ..SurveyRules::default()
    }
}

async fn booked_job(
    server: &StServer,
    dir: &Path,
    clock: &ManualClock,
    n: usize,
) -> (SyncWorker, i64) {
    let c = config(server, dir);
    let worker = callbox::servicetitan::open_worker_with_clock(
        &c.servicetitan,
        callbox::queue::QueueOptions::from_settings(&c.queue),
        &c.storage.data_dir,
        &c.shop.default_country,
        clock.shared(),
    )
    .expect("worker");
    let mut j = job(n);
    j.booked_offline = false;
    worker
        .outbox()
        .enqueue(Payload::Job(j))
        .await
        .expect("enqueue");
    let summary = worker.sync_once().await.expect("sync");
    assert_eq!(summary.synced, 1, "{summary:?}");
    let records = worker.outbox().list(&Default::default()).expect("list");
    let job_id = records[0].progress.job_id.expect("a job");
    (worker, job_id)
}

/// The seeded ServiceTitan test server, a data directory, the clock at [`afternoon`], and job
/// `n` booked into the server by the real sync.
struct Booked {
    server: StServer,
    dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    worker: SyncWorker,
    job_id: i64,
}

async fn booked(n: usize) -> Booked {
    let server = StServer::start_seeded(StServerConfig::default(), {
        let c = StServerConfig::default();
        support::st_server::seed::hvac_shop(&c)
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(afternoon()));
    let (worker, job_id) = booked_job(&server, dir.path(), &clock, n).await;
    Booked {
        server,
        dir,
        clock,
        worker,
        job_id,
    }
}

fn complete(server: &StServer, job_id: i64, at: DateTime<Utc>) {
    server.with_tenant(|t| {
        let job = t.jobs.get_mut(&job_id).expect("the job");
        job.job_status = "Completed".into();
        job.completed_on = Some(at);
    });
}

fn survey(
    worker: &SyncWorker,
    dir: &Path,
    clock: &Arc<ManualClock>,
    outcome: SurveyCallOutcome,
) -> (SurveyWorker, Arc<Scripted>) {
    let caller = Arc::new(Scripted {
        outcome,
        calls: Mutex::default(),
        clock: clock.clone(),
    });
    (survey_worker(worker, dir, clock, caller.clone()), caller)
}

/// The survey worker of the booked job's sync, calling through `caller`, on `clock`.
fn survey_worker(
    worker: &SyncWorker,
    dir: &Path,
    clock: &Arc<ManualClock>,
    caller: Arc<dyn SurveyCaller>,
) -> SurveyWorker {
    let store = Arc::new(SurveyStore::open(&dir.join("survey")).expect("store"));
    SurveyWorker::new(
        worker.client().clone(),
        worker.outbox().clone(),
        store,
        caller,
        rules(),
        "Acme Heating",
    )
    .with_clock(clock.shared())
}

/// A time today at 15:00 UTC (09:00 or 10:00 in Chicago): inside working hours, so the job can
/// be completed "now" without the clock leaving the test server's token lifetime.
fn afternoon() -> DateTime<Utc> {
    Utc::now()
        .with_hour(15)
        .and_then(|t| t.with_minute(0))
        .expect("a time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_job_gets_one_call_the_next_day_and_one_note() {
    let Booked {
        server,
        dir,
        clock,
        worker,
        job_id,
    } = booked(1).await;
    let (surveys, caller) = survey(
        &worker,
        dir.path(),
        &clock,
        SurveyCallOutcome::Rated {
            rating: 4,
            comment: Some("quick and tidy".into()),
        },
    );
    // Not completed yet: nothing noticed.
    assert_eq!(surveys.pass().await.expect("pass").noticed, 0);
    let done_at = clock.now_utc();
    complete(&server, job_id, done_at);
    let report = surveys.pass().await.expect("pass");
    assert_eq!((report.noticed, report.called), (1, 0), "{report:?}");
    // The plan: the next day, inside the hours. Just before it, no call.
    let CallPlan::At(at) = next_call(&rules(), done_at, clock.now_utc(), 0, None) else {
        panic!("a call is planned")
    };
    let local = at.with_timezone(&chrono_tz::America::Chicago);
    assert!(
        local.date_naive()
            > done_at
                .with_timezone(&chrono_tz::America::Chicago)
                .date_naive(),
        "{local}"
    );
    assert!((10..19).contains(&local.hour()), "{local}");
    clock.advance(
        (at - clock.now_utc() - Duration::minutes(1))
            .to_std()
            .expect("later"),
    );
    assert_eq!(surveys.pass().await.expect("pass").called, 0);
    clock.advance(std::time::Duration::from_secs(60));
    let report = surveys.pass().await.expect("pass");
    assert_eq!((report.called, report.notes_written), (1, 1), "{report:?}");
    for _ in 0..2 {
        clock.advance(std::time::Duration::from_secs(4 * 3600));
        assert_eq!(surveys.pass().await.expect("pass").called, 0);
    }
    let calls = caller.calls.lock().expect("lock").clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, at);
    assert_eq!(calls[0].1.to, phone(1));
    let notes: Vec<_> = server
        .notes(job_id)
        .into_iter()
        .filter(|n| n.text.contains("survey"))
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].text.contains("rating 4/5"), "{:?}", notes[0].text);
    assert!(notes[0].text.contains("quick and tidy"));

    // The note's answer was lost (state left in doubt): it is found on the job, not repeated.
    let mut e = surveys.store().entry(job_id).expect("kept");
    e.state = SurveyState::NoteInDoubt {
        rating: 4,
        comment: Some("quick and tidy".into()),
    };
    surveys.store().put(e).expect("put");
    surveys.pass().await.expect("pass");
    assert!(matches!(
        surveys.store().entry(job_id).expect("kept").state,
        SurveyState::Done { .. }
    ));
    let count = server
        .notes(job_id)
        .iter()
        .filter(|n| n.text.contains("survey"))
        .count();
    assert_eq!(count, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn press_9_is_kept_and_an_interrupted_call_is_not_repeated() {
    let Booked {
        server,
        dir,
        clock,
        worker,
        job_id,
    } = booked(2).await;
    let (surveys, caller) = survey(
        &worker,
        dir.path(),
        &clock,
        SurveyCallOutcome::NeverCallAgain,
    );
    let done_at = clock.now_utc();
    complete(&server, job_id, done_at);
    surveys.pass().await.expect("pass");
    let CallPlan::At(at) = next_call(&rules(), done_at, done_at, 0, None) else {
        panic!("a call is planned")
    };
    clock.advance((at - done_at).to_std().expect("later"));
    surveys.pass().await.expect("pass");
    assert_eq!(caller.calls.lock().expect("lock").len(), 1);
    assert_eq!(
        surveys.store().entry(job_id).expect("kept").state,
        SurveyState::DoNotCall
    );
    // Reopened (a restart): the number stays on the list; no note was written.
    let store = SurveyStore::open(&dir.path().join("survey")).expect("reopen");
    assert!(store.is_do_not_call(&phone(2)));
    assert!(server
        .notes(job_id)
        .iter()
        .all(|n| !n.text.contains("survey")));

    // A crash mid-call: the survey found in `calling` is ended at start, never called again.
    let mut e = store.entry(job_id).expect("kept");
    e.state = SurveyState::Calling;
    store.put(e).expect("put");
    drop(store);
    let (surveys, caller) = survey(
        &worker,
        dir.path(),
        &clock,
        SurveyCallOutcome::Rated {
            rating: 5,
            comment: None,
        },
    );
    assert_eq!(surveys.recover().expect("recover"), 1);
    surveys.pass().await.expect("pass");
    assert!(caller.calls.lock().expect("lock").is_empty());
    assert!(matches!(
        surveys.store().entry(job_id).expect("kept").state,
        SurveyState::Ended { .. }
    ));
}

/// Counts the calls the real caller places.
struct Counted {
    inner: callbox::app::survey_call::LineSurveyCaller,
    calls: Mutex<Vec<(DateTime<Utc>, String, SurveyCallOutcome)>>,
    clock: Arc<ManualClock>,
}

impl SurveyCaller for Counted {
    fn call<'a>(&'a self, request: &'a SurveyCallRequest) -> SurveyCallFuture<'a> {
        Box::pin(async move {
            let at = self.clock.now_utc();
            let outcome = self.inner.call(request).await;
            self.calls
                .lock()
                .expect("lock")
                .push((at, request.to.clone(), outcome.clone()));
            outcome
        })
    }
}

/// The box's own outbound line dialling the customer's phone at `phone_port` (sipp), and the
/// real survey caller on it (with `speech`, or keypad-only), counted.
async fn line_caller(
    server: &StServer,
    dir: &Path,
    clock: &Arc<ManualClock>,
    phone_port: u16,
    speech: Option<callbox::app::survey_call::SurveySpeech>,
) -> (callbox::app::pager::OwnLine, Arc<Counted>) {
    use callbox::app::pager::{CallingOut, OwnLine, PagerSettings};
    use callbox::app::survey_call::LineSurveyCaller;

    let mut c = config(server, dir);
    c.sip.listen = format!("127.0.0.1:{}", common::free_udp_port())
        .parse()
        .expect("addr");
    c.sip.outbound_target = format!("127.0.0.1:{phone_port}");
    c.sip.outbound_ring_timeout_secs = 10;
    let rtp_min = common::free_udp_port_range(10);
    c.media.rtp_port_min = rtp_min;
    c.media.rtp_port_max = rtp_min + 9;
    let own = OwnLine::open(&c).await.expect("the box's line");
    let voice = Arc::new(callbox::speech::tts::EspeakVoice::from_config(&c.voice));
    let mut inner = LineSurveyCaller::new(
        CallingOut::new(own.line.clone(), voice, Arc::new(|| false)),
        PagerSettings::default(),
    );
    if let Some(speech) = speech {
        inner = inner.with_speech(speech);
    }
    let caller = Arc::new(Counted {
        inner,
        calls: Mutex::default(),
        clock: clock.clone(),
    });
    (own, caller)
}

/// The customer's phone's ear: counts the RTP packets the box sends.
fn rtp_sink() -> (
    u16,
    Arc<std::sync::atomic::AtomicBool>,
    std::thread::JoinHandle<usize>,
) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let socket = std::net::UdpSocket::bind((common::LOOPBACK, 0)).expect("bind RTP sink");
    socket
        .set_read_timeout(Some(std::time::Duration::from_millis(100)))
        .expect("timeout");
    let port = socket.local_addr().expect("addr").port();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::spawn(move || {
        let (mut packets, mut buf) = (0, [0u8; 2048]);
        while !flag.load(Ordering::Relaxed) {
            if socket.recv_from(&mut buf).is_ok() {
                packets += 1;
            }
        }
        packets
    });
    (port, stop, thread)
}

/// The must-show: a job completed in the ServiceTitan test server gets one real call over the
/// box's outbound line the next day inside the calling hours (clock injected); sipp answers,
/// hears the question and presses 4; the rating is on the job as a note, once. Keypad-only
/// (no speech model).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_job_gets_one_real_call_answered_by_sipp_with_a_rating() {
    sipp_presses_4(3, None).await;
}

/// The same call with the speech model loaded: the key pressed during the question still
/// answers it at once (the turn is a grammar turn listening too), the comment turn hears
/// only silence, and the note has the rating without a comment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keypad_still_answers_with_a_speech_model_loaded() {
    sipp_presses_4(5, Some(korean_speech().await)).await;
}

/// The Korean test model (`CALLBOX_TEST_VOSK_MODEL`) with the inbound calls' default turn
/// settings, rating words in Korean digits (하나…다섯).
async fn korean_speech() -> callbox::app::survey_call::SurveySpeech {
    let model_dir = std::env::var_os("CALLBOX_TEST_VOSK_MODEL")
        .map(std::path::PathBuf::from)
        .expect("CALLBOX_TEST_VOSK_MODEL: a Vosk model directory (the Korean test model)");
    let model = tokio::task::spawn_blocking(move || {
        callbox::speech::asr::SpeechModel::load(&model_dir, Default::default())
    })
    .await
    .expect("load")
    .expect("the Vosk model");
    callbox::app::survey_call::SurveySpeech {
        engine: Arc::new(model),
        turn: Default::default(),
        words: callbox::dialog::survey::RatingWords::new(
            [("하나", 1), ("둘", 2), ("셋", 3), ("넷", 4), ("다섯", 5)],
            [],
        ),
        spoken_calls: callbox::speech::pool::SpokenCalls::unlimited(),
    }
}

async fn sipp_presses_4(n: usize, speech: Option<callbox::app::survey_call::SurveySpeech>) {
    let Booked {
        server,
        dir,
        clock,
        worker,
        job_id,
    } = booked(n).await;

    // The customer's phone: sipp answering on its own port, where the box's line dials.
    let (rtp_port, rtp_stop, rtp_sink) = rtp_sink();
    let sipp = common::Sipp::new(
        "127.0.0.1:9".parse().expect("addr"),
        "uas_survey_rating.xml",
    )
    .args(["-set", "rtp_port", &rtp_port.to_string()])
    .timeout(std::time::Duration::from_secs(90));
    let (own, caller) = line_caller(&server, dir.path(), &clock, sipp.local_port, speech).await;
    let surveys = survey_worker(&worker, dir.path(), &clock, caller.clone());

    let done_at = clock.now_utc();
    complete(&server, job_id, done_at);
    assert_eq!(surveys.pass().await.expect("pass").noticed, 1);
    let CallPlan::At(at) = next_call(&rules(), done_at, done_at, 0, None) else {
        panic!("a call is planned")
    };
    let local = at.with_timezone(&chrono_tz::America::Chicago);
    assert!(
        local.date_naive()
            > done_at
                .with_timezone(&chrono_tz::America::Chicago)
                .date_naive()
    );
    assert!((10..19).contains(&local.hour()), "{local}");
    clock.advance(
        (at - clock.now_utc() - Duration::minutes(1))
            .to_std()
            .expect("later"),
    );
    assert_eq!(surveys.pass().await.expect("pass").called, 0);
    assert!(caller.calls.lock().expect("lock").is_empty());

    let sipp = sipp.spawn();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    clock.advance(std::time::Duration::from_secs(60));
    let report = surveys.pass().await.expect("pass");
    let sipp = tokio::task::spawn_blocking(move || sipp.wait())
        .await
        .expect("sipp");
    rtp_stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let packets = rtp_sink.join().expect("sink");
    let ctx = sipp.report();
    assert_eq!(
        (report.called, report.notes_written),
        (1, 1),
        "{report:?}\n{ctx}"
    );
    assert!(sipp.success(), "{ctx}");
    // 3 s of the question before the key: ~150 packets of 20 ms.
    assert!(
        packets >= 100,
        "{packets} RTP packets reached the phone\n{ctx}"
    );
    for _ in 0..2 {
        clock.advance(std::time::Duration::from_secs(4 * 3600));
        assert_eq!(surveys.pass().await.expect("pass").called, 0);
    }
    let calls = caller.calls.lock().expect("lock").clone();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].0, at);
    assert_eq!(calls[0].1, phone(n));
    assert_eq!(
        calls[0].2,
        SurveyCallOutcome::Rated {
            rating: 4,
            comment: None
        }
    );
    let notes: Vec<_> = server
        .notes(job_id)
        .into_iter()
        .filter(|n| n.text.contains("survey"))
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].text.contains("rating 4/5"), "{:?}", notes[0].text);
    own.close().await;
}

/// The survey by voice, through the real SIP line and the real speech layer (the inbound
/// calls' `Conversation`, the real Vosk library). The only model here is Korean
/// (`CALLBOX_TEST_VOSK_MODEL`), so:
/// - **at audio level** (espeak-ng's Korean voice over RTP from the Rust peer, sipp answering
///   the box's call): the rating turn is a grammar turn over Korean digit words
///   ([`RatingWords`] 하나…다섯, as a shop with a Korean model would set them), and the
///   customer says "넷" → rating 4; then the open comment turn transcribes a spoken Korean
///   sentence, and that transcript (whatever the model made of it: only checked to be Korean
///   words, not word for word) is the comment in the job note, once.
/// - **on text only** (unit tests in `src/dialog/survey.rs`): the English rating words and
///   phrases ("i'd say five", "never call again"), which no model here can hear.
///
/// The keypad path with a model loaded is `Conversation`'s (a digit ends any turn); the
/// keypad-only call is the sipp test above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoken_rating_and_comment_reach_the_job_note() {
    use common::rtp_peer::{CallerStep, RtpPeer};

    let speech = korean_speech().await;
    let Booked {
        server,
        dir,
        clock,
        worker,
        job_id,
    } = booked(4).await;

    // The customer's phone: sipp answers, its SDP points the box's RTP at the peer.
    let peer = RtpPeer::bind();
    let sipp = common::Sipp::new(
        "127.0.0.1:9".parse().expect("addr"),
        "uas_survey_spoken.xml",
    )
    .args(["-set", "rtp_port", &peer.port.to_string()])
    .timeout(std::time::Duration::from_secs(120));
    let (own, caller) =
        line_caller(&server, dir.path(), &clock, sipp.local_port, Some(speech)).await;
    let surveys = survey_worker(&worker, dir.path(), &clock, caller.clone());
    let done_at = clock.now_utc();
    complete(&server, job_id, done_at);
    assert_eq!(surveys.pass().await.expect("pass").noticed, 1);
    let CallPlan::At(at) = next_call(&rules(), done_at, done_at, 0, None) else {
        panic!("a call is planned")
    };
    clock.advance((at - clock.now_utc()).to_std().expect("later"));

    // The customer waits for each question to end, then answers it by voice.
    let steps = vec![
        CallerStep::Speak(common::spoken("ko", "넷")),
        CallerStep::Speak(common::spoken(
            "ko",
            "에어컨이 고장났어요 내일 아침에 와 주세요",
        )),
    ];
    let sipp = sipp.spawn();
    let customer = tokio::task::spawn_blocking(move || {
        peer.run_interactive(
            &steps,
            std::time::Duration::from_millis(1200),
            std::time::Duration::from_secs(30),
            std::time::Duration::from_secs(90),
        )
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let report = surveys.pass().await.expect("pass");
    let exchange = customer.await.expect("the customer");
    let sipp = tokio::task::spawn_blocking(move || sipp.wait())
        .await
        .expect("sipp");
    let ctx = sipp.report();
    let calls = caller.calls.lock().expect("lock").clone();
    assert_eq!(calls.len(), 1, "{calls:?}\n{ctx}");
    eprintln!("outcome: {:?}", calls[0].2);
    assert_eq!(
        exchange.steps_left, 0,
        "the box asked both questions\n{ctx}"
    );
    assert!(sipp.success(), "{ctx}");
    let SurveyCallOutcome::Rated {
        rating,
        comment: Some(comment),
    } = &calls[0].2
    else {
        panic!("a rating with a comment: {:?}\n{ctx}", calls[0].2)
    };
    assert_eq!(*rating, 4, "{ctx}");
    assert!(
        comment
            .chars()
            .any(|ch| ('\u{ac00}'..='\u{d7a3}').contains(&ch)),
        "the comment is the model's Korean transcript: {comment:?}"
    );
    assert_eq!(
        (report.called, report.notes_written),
        (1, 1),
        "{report:?}\n{ctx}"
    );
    let notes: Vec<_> = server
        .notes(job_id)
        .into_iter()
        .filter(|n| n.text.contains("survey"))
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].text.contains("rating 4/5"), "{:?}", notes[0].text);
    assert!(
        notes[0].text.contains(comment.as_str()),
        "{:?} in {:?}",
        comment,
        notes[0].text
    );
    own.close().await;
}
