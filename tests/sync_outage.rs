//! The sync never gives up on its own: long `Retry-After`s are capped, hours of ServiceTitan
//! outage cost no record anything, `queue retry` after a lost answer duplicates nothing, and a
//! full data directory pauses the sync instead of ending it. The worker runs in this process
//! on a [`ManualClock`] that a ticker moves fast, so hours pass in seconds.

mod support;
mod sync_support;
#[path = "common/tmpfs.rs"]
#[allow(dead_code)] // the helpers other tests use
mod tmpfs;
use tmpfs::SmallDisk;

use callbox::infra::clock::ManualClock;
use callbox::queue::{
    CallerInfo, CreateStep, JobNote, LeadRequest, ListFilter, Payload, Record, RecordState,
};
use callbox::servicetitan::SyncWorker;
use std::path::Path;
use std::time::{Duration, Instant};
use support::st_server::seed::*;
use support::st_server::{DropMode, Fault, FaultPlan, FaultRule, StServer, StServerConfig};
use sync_support::*;

fn seeded() -> StServer {
    let config = StServerConfig::default();
    let seed = hvac_shop(&config);
    StServer::start_seeded(config, seed)
}

fn all_records(worker: &SyncWorker) -> Vec<Record> {
    worker.outbox().list(&ListFilter::default()).unwrap()
}

/// The worker's loop in the background until the returned sender is dropped or fires.
fn run_in_background(
    worker: &SyncWorker,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let w = worker.clone();
    let task = tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        w.run(shutdown).await.expect("run returns only at shutdown");
    });
    (stop, task)
}

/// Waits (in real time) until `done` holds for the worker's records, checking `always` on
/// every look. Panics with the records after `limit`.
async fn wait_for(
    worker: &SyncWorker,
    limit: Duration,
    mut always: impl FnMut(&[Record]),
    done: impl Fn(&[Record]) -> bool,
) -> Vec<Record> {
    let started = Instant::now();
    loop {
        let records = all_records(worker);
        always(&records);
        if done(&records) {
            return records;
        }
        assert!(
            started.elapsed() < limit,
            "gave up waiting; records: {:#?}",
            records
                .iter()
                .map(|r| (&r.id, &r.state, &r.last_error))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn all_synced(records: &[Record]) -> bool {
    records.iter().all(|r| r.state == RecordState::Synced)
}

fn none_need_attention(records: &[Record]) {
    for r in records {
        assert!(
            !matches!(r.state, RecordState::NeedsAttention { .. }),
            "{} went to needs-attention: {:?}",
            r.id,
            r.state
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_of_a_day_on_the_token_endpoint_and_the_api_is_capped() {
    let server = seeded();
    server.set_faults(
        FaultPlan::seeded(11)
            .with(
                FaultRule::new(Fault::RateLimited {
                    retry_after_secs: 86_400,
                })
                .on_token()
                .first(1),
            )
            .with(
                FaultRule::new(Fault::RateLimited {
                    retry_after_secs: 86_400,
                })
                .on(&["Jobs_Create"])
                .first(1),
            ),
    );
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&server, dir.path());
    cfg.servicetitan.retry_after_cap_secs = 600;
    let clock = ManualClock::starting_now();
    let worker = worker_on_clock(&cfg, clock.shared()).unwrap();
    for n in 0..3 {
        worker.outbox().enqueue(Payload::Job(job(n))).await.unwrap();
    }
    // One virtual second per real millisecond: 600 s of waiting take under a second.
    let ticker = clock.tick(Duration::from_secs(1), Duration::from_millis(1));
    let (stop, task) = run_in_background(&worker);
    let records = wait_for(
        &worker,
        Duration::from_secs(120),
        none_need_attention,
        all_synced,
    )
    .await;
    let waited = clock.elapsed();
    let _ = stop.send(());
    task.await.unwrap();
    ticker.abort();

    assert_exactly_once(&server, &records);
    let fired: Vec<u32> = server.faults().rules.iter().map(|r| r.fired()).collect();
    assert_eq!(fired, vec![1, 1], "both day-long Retry-Afters were sent");
    // Each was waited out for the cap (600 s), not a day.
    assert!(
        waited >= Duration::from_secs(1200),
        "resumed before the capped wait: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(3 * 3600),
        "waited {waited:?}: Retry-After was not capped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hours_of_503_send_nothing_to_attention_and_all_drain_in_order() {
    let server = seeded();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&server, dir.path());
    // Reference data fetched before the outage stays fresh through it, so the records
    // themselves meet the 503s (a stale cache is waited out before any record is touched).
    cfg.servicetitan.reference_refresh_secs = 86_400;
    let clock = ManualClock::starting_now();
    let worker = worker_on_clock(&cfg, clock.shared()).unwrap();
    worker.refresh_reference_if_stale().await.unwrap();
    let outage = FaultPlan::seeded(5)
        .with(FaultRule::new(Fault::ServerError(503)).always())
        .with(FaultRule::new(Fault::ServerError(503)).on_token().always());
    server.set_faults(outage);
    const JOBS: usize = 6;
    for n in 0..JOBS {
        worker.outbox().enqueue(Payload::Job(job(n))).await.unwrap();
    }
    let ticker = clock.tick(Duration::from_secs(5), Duration::from_millis(1));
    let (stop, task) = run_in_background(&worker);

    // Three hours of 503 on the API and the token endpoint.
    let three_hours = Duration::from_secs(3 * 3600);
    let mut saw_offline = false;
    while clock.elapsed() < three_hours {
        let records = all_records(&worker);
        none_need_attention(&records);
        assert!(
            records.iter().all(|r| r.state != RecordState::Synced),
            "synced during the outage?"
        );
        let status = worker.status();
        if status.online == Some(false) {
            assert!(
                status
                    .last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("503")),
                "offline without the reason: {status:?}"
            );
            saw_offline = true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(saw_offline, "status never said offline");
    let probes = server.api_request_count() + server.token_requests();
    server.set_faults(FaultPlan::none());

    let records = wait_for(
        &worker,
        Duration::from_secs(120),
        none_need_attention,
        all_synced,
    )
    .await;
    let _ = stop.send(());
    task.await.unwrap();
    ticker.abort();

    assert_exactly_once(&server, &records);
    assert!(probes > 20, "the worker kept probing: {probes} requests");
    assert!(
        probes < 3 * 3600,
        "probing with back-off, not in a tight loop: {probes} requests"
    );
    // In order: each record's job was created after the one before it.
    let job_ids: Vec<i64> = records.iter().map(|r| r.progress.job_id.unwrap()).collect();
    let mut sorted = job_ids.clone();
    sorted.sort_unstable();
    assert_eq!(job_ids, sorted, "drained out of order");
    for r in &records {
        assert_eq!(r.failures, 0, "{}: an outage counted as a failure", r.id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_refused_even_with_a_fresh_token_are_an_outage_not_the_records_fault() {
    let server = seeded();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&server, dir.path());
    cfg.servicetitan.reference_refresh_secs = 86_400;
    let clock = ManualClock::starting_now();
    let worker = worker_on_clock(&cfg, clock.shared()).unwrap();
    worker.refresh_reference_if_stale().await.unwrap();
    let tokens_before = server.tokens_issued();
    // The tenant admin has not accepted the app's new scopes yet: every call gets 403.
    server.set_faults(FaultPlan::seeded(6).with(FaultRule::new(Fault::Forbidden).always()));
    for n in 0..3 {
        worker.outbox().enqueue(Payload::Job(job(n))).await.unwrap();
    }
    let ticker = clock.tick(Duration::from_secs(5), Duration::from_millis(1));
    let (stop, task) = run_in_background(&worker);
    let hour = Duration::from_secs(3600);
    while clock.elapsed() < hour {
        none_need_attention(&all_records(&worker));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = worker.status();
    assert_eq!(status.online, Some(false), "{status:?}");
    assert!(
        server.tokens_issued() > tokens_before,
        "a fresh token was tried before calling it an outage"
    );
    server.set_faults(FaultPlan::none());
    let records = wait_for(
        &worker,
        Duration::from_secs(120),
        none_need_attention,
        all_synced,
    )
    .await;
    let _ = stop.send(());
    task.await.unwrap();
    ticker.abort();
    assert_exactly_once(&server, &records);
    for r in &records {
        assert_eq!(r.failures, 0, "{}: refused scopes counted against it", r.id);
    }
}

/// A lost answer on `drop_op`, then a refusal on the next `refuse_op` call sends the record to
/// needs-attention; `callbox queue retry` and a clean sync must find what the lost answer
/// made instead of making it again.
async fn lost_answer_then_queue_retry(
    payload: Payload,
    drop_op: &str,
    refuse_op: &str,
    refuse_nth: u32,
    prepare: impl FnOnce(&mut callbox::config::Config),
) -> (StServer, Record) {
    let server = seeded();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&server, dir.path());
    cfg.servicetitan.fallback_on_rejection = "none".into();
    prepare(&mut cfg);
    let worker = worker_on_clock(&cfg, callbox::infra::clock::SystemClock::shared()).unwrap();
    let id = worker.outbox().enqueue(payload).await.unwrap();

    server.set_faults(
        FaultPlan::seeded(2)
            .with(
                FaultRule::new(Fault::CommitThenDrop(DropMode::Close))
                    .on(&[drop_op])
                    .first(1),
            )
            .with(
                FaultRule::new(Fault::NotFound)
                    .on(&[refuse_op])
                    .nth(&[refuse_nth]),
            ),
    );
    worker.sync_once().await.unwrap();
    let r = worker.outbox().get(&id).unwrap().unwrap();
    assert!(
        matches!(r.state, RecordState::NeedsAttention { .. }),
        "{drop_op}: expected needs-attention, got {:?} ({:?})",
        r.state,
        r.last_error
    );
    assert_eq!(
        server
            .faults()
            .rules
            .iter()
            .map(|r| r.fired())
            .collect::<Vec<_>>(),
        vec![1, 1],
        "{drop_op}: both faults fired"
    );
    assert!(
        !r.progress.in_doubt.is_empty(),
        "{drop_op}: nothing in doubt"
    );

    // The office fixed "the cause" and retries it.
    server.set_faults(FaultPlan::none());
    let retried = worker.outbox().retry(&id).await.unwrap();
    assert_eq!(retried.attempts, 0);
    assert_eq!(
        retried.progress.in_doubt, r.progress.in_doubt,
        "retry keeps the doubt"
    );
    let summary = worker.sync_once().await.unwrap();
    assert_eq!(summary.synced, 1, "{drop_op}: {summary:?}");
    let r = worker.outbox().get(&id).unwrap().unwrap();
    assert_eq!(r.state, RecordState::Synced);
    assert!(r.progress.in_doubt.is_empty(), "{:?}", r.progress.in_doubt);
    (server, r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_retry_after_a_lost_job_create_makes_no_second_job() {
    let (server, r) = lost_answer_then_queue_retry(
        Payload::Job(job(1)),
        "Jobs_Create",
        "Jobs_GetList",
        1,
        |_| {},
    )
    .await;
    assert_exactly_once(&server, &[r]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_retry_after_a_lost_customer_create_makes_no_second_customer() {
    // Customers_GetList: 1 = by phone and 2 = by address before the create, 3 = by
    // externalData after the loss.
    let (server, r) = lost_answer_then_queue_retry(
        Payload::Job(job(2)),
        "Customers_Create",
        "Customers_GetList",
        3,
        |_| {},
    )
    .await;
    assert_exactly_once(&server, &[r]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_retry_after_a_lost_note_makes_no_second_note() {
    let (server, r) = lost_answer_then_queue_retry(
        Payload::Job(job(3)),
        "Jobs_CreateNote",
        "Jobs_GetNotes",
        1,
        |_| {},
    )
    .await;
    assert_exactly_once(&server, &[r]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_retry_after_a_lost_lead_makes_no_second_lead() {
    let lead = LeadRequest {
        call_key: "call-lead".into(),
        caller: CallerInfo {
            name: "Quote Seeker".into(),
            phone_e164: Some(phone(40)),
            callback_phone_e164: None,
        },
        address: Some(address(40)),
        summary: "Wants a quote for a new heat pump".into(),
        reason: "replacement quote".into(),
    };
    let (server, r) = lost_answer_then_queue_retry(
        Payload::Lead(lead),
        "Leads_Create",
        "Leads_GetList",
        1,
        |c| {
            c.servicetitan.booking_provider_id = None;
        },
    )
    .await;
    let marker = format!("callbox record {}", r.id);
    let leads: Vec<_> = server
        .leads()
        .into_iter()
        .filter(|l| l.summary.contains(&marker))
        .collect();
    assert_eq!(leads.len(), 1, "one lead for the record: {leads:?}");
    assert_eq!(r.progress.lead_id, Some(leads[0].id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_note_for_a_known_job_is_not_added_twice_after_queue_retry() {
    // A note record (not a job's own note): the same lost answer and retry.
    let server = seeded();
    let dir = tempfile::tempdir().unwrap();
    let worker = worker_on_clock(
        &config(&server, dir.path()),
        callbox::infra::clock::SystemClock::shared(),
    )
    .unwrap();
    let booked = worker.outbox().enqueue(Payload::Job(job(7))).await.unwrap();
    assert_eq!(worker.sync_once().await.unwrap().synced, 1);
    let job_id = worker
        .outbox()
        .get(&booked)
        .unwrap()
        .unwrap()
        .progress
        .job_id;
    let r = {
        let note = Payload::Note(JobNote {
            call_key: "call-note".into(),
            job_id,
            job_number: None,
            queue_ref: None,
            text: "Caller says the gate code is 4411.".into(),
        });
        let id = worker.outbox().enqueue(note).await.unwrap();
        server.set_faults(
            FaultPlan::seeded(4)
                .with(
                    FaultRule::new(Fault::CommitThenDrop(DropMode::Close))
                        .on(&["Jobs_CreateNote"])
                        .first(1),
                )
                .with(
                    FaultRule::new(Fault::NotFound)
                        .on(&["Jobs_GetNotes"])
                        .first(1),
                ),
        );
        worker.sync_once().await.unwrap();
        let r = worker.outbox().get(&id).unwrap().unwrap();
        assert!(
            matches!(r.state, RecordState::NeedsAttention { .. }),
            "{r:?}"
        );
        assert!(r.progress.doubts(CreateStep::Note));
        server.set_faults(FaultPlan::none());
        worker.outbox().retry(&id).await.unwrap();
        worker.sync_once().await.unwrap();
        worker.outbox().get(&id).unwrap().unwrap()
    };
    assert_eq!(r.state, RecordState::Synced);
    let marker = format!("callbox record {}", r.id);
    let notes = server
        .notes(job_id.unwrap())
        .into_iter()
        .filter(|n| n.text.contains(&marker))
        .count();
    assert_eq!(notes, 1);
}

/// Fills the file system with one file until ENOSPC.
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while f.write_all(&chunk).and_then(|()| f.sync_all()).is_ok() {}
    while f.write_all(&[0]).and_then(|()| f.sync_all()).is_ok() {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_directory_that_fills_mid_sync_pauses_the_sync_and_it_drains_once_space_is_back() {
    let Some(disk) = SmallDisk::mount("24m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
        return;
    };
    let server = seeded();
    // Every job create answers slowly, so the disk fills while records are in flight.
    server.set_faults(
        FaultPlan::seeded(9).with(
            FaultRule::new(Fault::Slow(Duration::from_millis(300)))
                .on(&["Jobs_Create"])
                .always(),
        ),
    );
    let cfg = config(&server, &disk.mount.join("data"));
    let clock = ManualClock::starting_now();
    let worker = worker_on_clock(&cfg, clock.shared()).unwrap();
    const JOBS: usize = 8;
    for n in 0..JOBS {
        worker.outbox().enqueue(Payload::Job(job(n))).await.unwrap();
    }
    let ticker = clock.tick(Duration::from_millis(100), Duration::from_millis(1));
    let (stop, task) = run_in_background(&worker);

    // Fill the disk once the first record is through.
    wait_for(
        &worker,
        Duration::from_secs(60),
        |_| {},
        |rs| rs.iter().any(|r| r.state == RecordState::Synced),
    )
    .await;
    let filler = disk.mount.join("filler");
    fill(&filler);
    // The sync keeps going round, failing to store, and says so; nothing is lost or refused.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = worker.status();
        if status
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("storage"))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no storage error seen: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stuck_at = worker.status().queue.synced;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!task.is_finished(), "the sync loop ended on a full disk");
    assert!(
        stuck_at < JOBS,
        "the disk filled too late to matter ({stuck_at} synced)"
    );

    // Space comes back: everything drains by itself, exactly once.
    std::fs::remove_file(&filler).unwrap();
    let records = wait_for(
        &worker,
        Duration::from_secs(120),
        none_need_attention,
        all_synced,
    )
    .await;
    let _ = stop.send(());
    task.await.unwrap();
    ticker.abort();
    assert_exactly_once(&server, &records);
    drop(worker);
    drop(disk);
}

/// The sync worker of `cfg`, on `clock`.
fn worker_on_clock(
    cfg: &callbox::config::Config,
    clock: callbox::infra::clock::SharedClock,
) -> Result<SyncWorker, callbox::servicetitan::OpenError> {
    callbox::servicetitan::open_worker_with_clock(
        &cfg.servicetitan,
        callbox::queue::QueueOptions::from_settings(&cfg.queue),
        &cfg.storage.data_dir,
        &cfg.shop.default_country,
        clock,
    )
}
