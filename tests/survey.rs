//! The post-job survey against the ServiceTitan test server: the real sync books a job, the
//! dispatcher completes it in ServiceTitan, the survey worker notices it and places one call
//! the next day inside the calling hours (clock injected; a scripted caller stands in for the
//! outbound call), and the rating lands on the job as a note exactly once. Also: a note whose
//! answer was lost is found on the job and not written again, "press 9" is kept, and a call
//! interrupted by a crash is never placed twice.

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
    let store = Arc::new(SurveyStore::open(&dir.join("survey")).expect("store"));
    let w = SurveyWorker::new(
        worker.client().clone(),
        worker.outbox().clone(),
        store,
        caller.clone(),
        rules(),
        "Acme Heating",
    )
    .with_clock(clock.shared());
    (w, caller)
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
    let server = StServer::start_seeded(StServerConfig::default(), {
        let c = StServerConfig::default();
        support::st_server::seed::hvac_shop(&c)
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(afternoon()));
    let (worker, job_id) = booked_job(&server, dir.path(), &clock, 1).await;
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
    let server = StServer::start_seeded(StServerConfig::default(), {
        let c = StServerConfig::default();
        support::st_server::seed::hvac_shop(&c)
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(afternoon()));
    let (worker, job_id) = booked_job(&server, dir.path(), &clock, 2).await;
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
