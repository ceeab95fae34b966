//! The sync worker against the in-process ServiceTitan test server: the happy path, known
//! callers, token expiry, 429 storms, lost answers after committed writes, rejections with
//! fallbacks, and offline → online.

mod support;
mod sync_support;

use callbox::queue::{ListFilter, Payload, Record, RecordState};
use callbox::servicetitan::SyncWorker;
use support::st_server::seed::*;
use support::st_server::{DropMode, Fault, FaultPlan, FaultRule, StServer, StServerConfig};
use sync_support::*;

fn seeded(config: StServerConfig) -> StServer {
    let seed = hvac_shop(&config);
    StServer::start_seeded(config, seed)
}

async fn enqueue(worker: &SyncWorker, jobs: Vec<callbox::queue::JobRequest>) {
    for j in jobs {
        worker.outbox().enqueue(Payload::Job(j)).await.unwrap();
    }
}

fn all_records(worker: &SyncWorker) -> Vec<Record> {
    worker.outbox().list(&ListFilter::default()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_and_known_callers_become_customers_jobs_and_notes() {
    let server = seeded(StServerConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let worker = open_worker(&config(&server, dir.path())).unwrap();
    let mut jane = jane_job(1);
    jane.assign_on_call_technician = true;
    // Tonight 23:00 tenant-local (UTC-5) = 04:00 UTC tomorrow: Bob is on call.
    let start = (chrono::Utc::now() + chrono::Duration::days(1))
        .date_naive()
        .and_hms_opt(4, 0, 0)
        .unwrap()
        .and_utc();
    jane.appointment.start_utc = start;
    jane.appointment.end_utc = start + chrono::Duration::hours(2);
    let mut again = job(2);
    again.service_address = address(2);
    enqueue(&worker, vec![job(0), jane, job(2), again]).await;

    let summary = worker.sync_once().await.unwrap();
    assert_eq!(summary.synced, 4, "{summary:?}");
    assert!(summary.is_clean());

    let records = all_records(&worker);
    assert_exactly_once(&server, &records);
    // Jane is the seeded customer with her seeded location; nothing new was made for her.
    assert_eq!(records[1].progress.customer_id, Some(CUSTOMER_JANE));
    assert_eq!(records[1].progress.location_id, Some(LOCATION_JANE_HOME));
    assert!(records[1].progress.technician_assigned);
    let assigned = server.assignments();
    assert_eq!(assigned.len(), 1);
    assert_eq!(assigned[0].technician_id, TECH_BOB);
    // The repeat caller (same phone, same address) reused the customer made for the first call.
    assert_eq!(
        records[2].progress.customer_id,
        records[3].progress.customer_id
    );
    assert_eq!(
        records[2].progress.location_id,
        records[3].progress.location_id
    );
    // 2 new customers in all (callers 0 and 2), each with its location.
    assert_eq!(server.customers().len(), 2 + 2);
    // Campaign from the dialled number, business unit from the job type.
    for j in server.jobs() {
        assert_eq!(j.campaign_id, CAMPAIGN_GOOGLE_ADS);
        assert_eq!(j.business_unit_id, BU_HVAC_SERVICE);
        assert_eq!(j.job_type_id, JT_NO_COOL);
    }
    // Every call carried the app key and a bearer token; one token for the whole run.
    assert_eq!(server.tokens_issued(), 1);
    assert!(server.max_requests_in_any_1s_window() <= 60);
    let status = worker.status();
    assert_eq!(status.online, Some(true));
    assert_eq!(status.queue.synced, 4);
    assert!(status.caches.iter().any(|c| c.name
        == callbox::servicetitan::cache::CacheName::JobTypes
        && c.entries == 5
        && c.age_secs.is_some()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_expiry_and_revocation_mid_run_renew_once_and_retry() {
    let server = seeded(StServerConfig::default());
    // Every token dies on the 5th, 15th and 25th API call: each caller sees a 401 once.
    server.set_faults(
        FaultPlan::seeded(1).with(FaultRule::new(Fault::RevokeToken).nth(&[5, 15, 25])),
    );
    let dir = tempfile::tempdir().unwrap();
    let worker = open_worker(&config(&server, dir.path())).unwrap();
    enqueue(&worker, (0..8).map(job).collect()).await;
    let summary = worker.sync_once().await.unwrap();
    assert_eq!(summary.synced, 8, "{summary:?}");
    assert_exactly_once(&server, &all_records(&worker));
    assert_eq!(server.tokens_issued(), 4, "one renewal per revocation");
    assert_eq!(
        worker
            .client()
            .stats()
            .unauthorized
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storm_of_429s_is_waited_out_within_the_rate_limit() {
    let server = seeded(StServerConfig::default());
    server.set_faults(
        FaultPlan::seeded(7).with(
            FaultRule::new(Fault::RateLimited {
                retry_after_secs: 1,
            })
            .probability(0.3),
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let worker = open_worker(&config(&server, dir.path())).unwrap();
    enqueue(&worker, (0..10).map(job).collect()).await;
    let summary = worker.sync_once().await.unwrap();
    assert_eq!(summary.synced, 10, "{summary:?}");
    assert_exactly_once(&server, &all_records(&worker));
    assert!(
        worker
            .client()
            .stats()
            .rate_limited
            .load(std::sync::atomic::Ordering::Relaxed)
            > 5
    );
    assert!(server.max_requests_in_any_1s_window() <= 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_answers_after_committed_creates_never_duplicate() {
    let server = seeded(StServerConfig::default());
    server.set_faults(
        FaultPlan::seeded(3)
            .with(
                FaultRule::new(Fault::CommitThenDrop(DropMode::Close))
                    .on(&["Jobs_Create"])
                    .nth(&[1, 3]),
            )
            .with(
                FaultRule::new(Fault::CommitThenDrop(DropMode::Close))
                    .on(&["Customers_Create"])
                    .nth(&[2]),
            )
            .with(
                FaultRule::new(Fault::CommitThenDrop(DropMode::Close))
                    .on(&["Jobs_CreateNote"])
                    .nth(&[1]),
            )
            .with(
                FaultRule::new(Fault::ServerError(502))
                    .on(&["Jobs_Create"])
                    .nth(&[4]),
            ),
    );
    let dir = tempfile::tempdir().unwrap();
    let worker = open_worker(&config(&server, dir.path())).unwrap();
    enqueue(&worker, (0..5).map(job).collect()).await;
    let summary = worker.sync_once().await.unwrap();
    assert_eq!(summary.synced, 5, "{summary:?}");
    assert_exactly_once(&server, &all_records(&worker));
    // The lookups by externalData happened (that is what prevented the duplicates).
    let lookups = server
        .requests_for("Jobs_GetList")
        .into_iter()
        .filter(|r| {
            r.query
                .as_deref()
                .is_some_and(|q| q.contains("externalDataKey"))
        })
        .count();
    assert!(lookups >= 3, "{lookups}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_job_create_times_out_and_is_found_by_lookup() {
    let cfg = StServerConfig {
        hang_for: std::time::Duration::from_secs(8),
        ..Default::default()
    };
    let server = seeded(cfg);
    server.set_faults(
        FaultPlan::seeded(4).with(
            FaultRule::new(Fault::CommitThenDrop(DropMode::Hang))
                .on(&["Jobs_Create"])
                .nth(&[1]),
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let worker = open_worker(&config(&server, dir.path())).unwrap();
    enqueue(&worker, vec![job(0)]).await;
    let summary = worker.sync_once().await.unwrap();
    assert_eq!(summary.synced, 1, "{summary:?}");
    assert_exactly_once(&server, &all_records(&worker));
    assert!(
        worker
            .client()
            .stats()
            .ambiguous
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_job_goes_to_attention_with_a_booking_for_the_office() {
    let server = seeded(StServerConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let worker = open_worker(&config(&server, dir.path())).unwrap();
    // A leak job in the HVAC unit: the tenant maps Leak to Plumbing only → 400.
    let mut bad = job(0);
    bad.job_type_hint = Some("leak".into());
    bad.business_unit_id = Some(BU_HVAC_SERVICE);
    enqueue(&worker, vec![bad, job(1)]).await;
    let summary = worker.sync_once().await.unwrap();
    assert_eq!(summary.synced, 1, "{summary:?}");
    assert_eq!(summary.needs_attention, 1);
    assert!(!summary.is_clean());
    let records = all_records(&worker);
    match &records[0].state {
        RecordState::NeedsAttention { reason } => {
            assert!(
                reason.contains("not available for business unit"),
                "{reason}"
            );
            assert!(reason.contains("booking created"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let bookings = server.bookings();
    assert_eq!(bookings.len(), 1);
    assert_eq!(bookings[0].external_id, records[0].id.as_str());
    assert_eq!(records[0].progress.booking_id, Some(bookings[0].id));
    assert_eq!(server.jobs().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_job_with_lead_fallback_makes_a_lead() {
    let server = seeded(StServerConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&server, dir.path());
    c.servicetitan.fallback_on_rejection = "lead".into();
    let worker = open_worker(&c).unwrap();
    let mut bad = job(0);
    bad.campaign_id = Some(CAMPAIGN_INACTIVE);
    enqueue(&worker, vec![bad]).await;
    let summary = worker.sync_once().await.unwrap();
    assert_eq!(summary.needs_attention, 1, "{summary:?}");
    let leads = server.leads();
    assert_eq!(leads.len(), 1);
    assert_eq!(leads[0].campaign_id, CAMPAIGN_DEFAULT);
    let records = all_records(&worker);
    assert_eq!(records[0].progress.lead_id, Some(leads[0].id));
    assert!(server.jobs().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_keeps_everything_queued_then_drains_in_order() {
    let server = seeded(StServerConfig::default());
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on: connections are refused.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    {
        let c = config_for(&dead_url, &dead_url, server.tenant_id(), dir.path());
        let worker = open_worker(&c).unwrap();
        enqueue(&worker, (0..12).map(job).collect()).await;
        let summary = worker.sync_once().await.unwrap();
        assert!(summary.offline, "{summary:?}");
        assert_eq!(summary.synced, 0);
        assert!(!summary.is_clean());
        assert_eq!(worker.status().online, Some(false));
        let counts = worker.outbox().counts();
        assert_eq!(counts.queued, 12);
    }
    let worker = open_worker(&config(&server, dir.path())).unwrap();
    let summary = worker.sync_once().await.unwrap();
    assert_eq!(summary.synced, 12, "{summary:?}");
    let records = all_records(&worker);
    assert_exactly_once(&server, &records);
    // Jobs were created in record order.
    let mut jobs = server.jobs();
    jobs.sort_by_key(|j| j.id);
    let order: Vec<_> = jobs
        .iter()
        .map(|j| j.external_value(KEY).unwrap().to_string())
        .collect();
    let want: Vec<_> = records.iter().map(|r| r.id.to_string()).collect();
    assert_eq!(order, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_after_the_job_is_booked_make_no_stand_in() {
    let server = seeded(StServerConfig::default());
    server.set_faults(
        FaultPlan::seeded(9)
            .with(
                FaultRule::new(Fault::Conflict)
                    .on(&["AppointmentAssignments_AssignTechnicians"])
                    .always(),
            )
            .with(
                FaultRule::new(Fault::NotFound)
                    .on(&["Jobs_CreateNote"])
                    .nth(&[2]),
            ),
    );
    let dir = tempfile::tempdir().unwrap();
    let worker = open_worker(&config(&server, dir.path())).unwrap();
    let mut first = job(0);
    first.assign_on_call_technician = true;
    let start = (chrono::Utc::now() + chrono::Duration::days(1))
        .date_naive()
        .and_hms_opt(4, 0, 0)
        .unwrap()
        .and_utc();
    first.appointment.start_utc = start;
    first.appointment.end_utc = start + chrono::Duration::hours(2);
    enqueue(&worker, vec![first, job(1)]).await;
    let summary = worker.sync_once().await.unwrap();
    let records = all_records(&worker);
    // A refused technician assignment does not hold a booked job.
    assert_eq!(records[0].state, RecordState::Synced, "{:?}", records[0]);
    assert!(!records[0].progress.technician_assigned);
    // A refused note goes to needs-attention, but the booked job gets no booking or lead.
    match &records[1].state {
        RecordState::NeedsAttention { reason } => assert!(reason.contains("is booked"), "{reason}"),
        other => panic!("{other:?} {summary:?}"),
    }
    assert_eq!(server.jobs().len(), 2);
    assert!(server.bookings().is_empty());
    assert!(server.leads().is_empty());
}

/// An on-call alert reaches the office too: a booking on the Calls screen naming the hazard,
/// the address and the caller, keyed by the record id like every other office record. Its
/// delivery to the technician is a separate lane the sync leaves alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_call_alert_reaches_the_office_as_a_booking_naming_the_hazard() {
    let server = seeded(StServerConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let worker = open_worker(&config(&server, dir.path())).unwrap();
    let alert = callbox::queue::OnCallAlert {
        call_key: "20260114T030000Z-gas".into(),
        caller: callbox::queue::CallerInfo {
            name: "Jane Doe".into(),
            phone_e164: Some(phone(7)),
            callback_phone_e164: None,
        },
        hazard: callbox::queue::Hazard::Gas,
        address: Some(address(7)),
        known_customer_id: None,
        caller_said: "i smell gas in the basement".into(),
        raised_at_utc: chrono::Utc::now(),
        job_record_id: None,
    };
    let id = worker
        .outbox()
        .enqueue(Payload::OnCallAlert(alert))
        .await
        .unwrap();
    let summary = worker.sync_once().await.unwrap();
    assert_eq!(summary.synced, 1, "{summary:?}");
    let bookings = server.bookings();
    assert_eq!(bookings.len(), 1);
    let b = &bookings[0];
    assert_eq!(b.external_id, id.as_str());
    assert!(
        b.summary.contains("SAFETY ALERT: gas smell"),
        "{}",
        b.summary
    );
    assert!(b.summary.contains(&address(7).street), "{}", b.summary);
    assert!(
        b.summary.contains("i smell gas in the basement"),
        "{}",
        b.summary
    );
    assert!(b.address.is_some());
    assert!(
        b.contacts
            .iter()
            .any(|(_, v, _)| v.contains(&phone(7)[2..])),
        "{:?}",
        b.contacts
    );
    let record = worker.outbox().get(&id).unwrap().unwrap();
    assert_eq!(record.state, RecordState::Synced);
    assert_eq!(record.progress.created_as.as_deref(), Some("booking"));
    // Synced for the office, still owed to the technician: the sync does not touch that lane.
    assert!(record.alert.pending, "{:?}", record.alert);
    assert_eq!(worker.outbox().counts().alerts_undelivered, 1);
}

/// The page for an emergency booked on the same call names the job's record: the job is the
/// office's copy, so the alert syncs without a second booking or lead (its page is still owed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_for_a_booked_emergency_makes_no_second_office_copy() {
    let server = seeded(StServerConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let worker = open_worker(&config(&server, dir.path())).unwrap();
    let alert = callbox::queue::OnCallAlert {
        call_key: "20260114T030000Z-noheat".into(),
        caller: callbox::queue::CallerInfo {
            name: "Jane Doe".into(),
            phone_e164: Some(phone(7)),
            callback_phone_e164: None,
        },
        hazard: callbox::queue::Hazard::NoHeat,
        address: Some(address(7)),
        known_customer_id: None,
        caller_said: "the heat is out".into(),
        raised_at_utc: chrono::Utc::now(),
        job_record_id: Some("cb-job-1".into()),
    };
    let id = worker
        .outbox()
        .enqueue(Payload::OnCallAlert(alert))
        .await
        .unwrap();
    let summary = worker.sync_once().await.unwrap();
    assert_eq!(summary.synced, 1, "{summary:?}");
    assert!(server.bookings().is_empty());
    assert!(server.leads().is_empty());
    let record = worker.outbox().get(&id).unwrap().unwrap();
    assert_eq!(record.state, RecordState::Synced);
    assert!(record.alert.pending, "{:?}", record.alert);
}

/// The sync worker for a whole configuration, as `callbox sync` opens it.
fn open_worker(
    c: &callbox::config::Config,
) -> Result<callbox::servicetitan::SyncWorker, callbox::servicetitan::OpenError> {
    callbox::servicetitan::open_worker(
        &c.servicetitan,
        callbox::queue::QueueOptions::from_settings(&c.queue),
        &c.storage.data_dir,
        &c.shop.default_country,
    )
}
