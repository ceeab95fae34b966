//! Customer details, the box's own bookings, and reschedules/cancellations against the
//! ServiceTitan test server: details filled by the sync and served to the dialog's traits, a
//! queued job answering "when is my technician coming?", moves and cancellations carried
//! exactly once through injected faults, and refusals falling back to the office.

mod support;
mod sync_support;

use callbox::app::lookup::CacheLookups;
use callbox::dialog::sources::{Appointments, CustomerDirectory};
use callbox::queue::{
    AppointmentWindow, CallerInfo, CancellationRequest, ListFilter, Payload, Record, RecordState,
    RescheduleRequest,
};
use callbox::servicetitan::SyncWorker;
use chrono::{DateTime, Duration, Utc};
use support::st_server::seed::*;
use support::st_server::{
    DropMode, Fault, FaultPlan, FaultRule, LoggedRequest, StServer, StServerConfig,
};
use sync_support::*;

const JANE_PHONE: &str = "+18432609814";

fn seeded() -> StServer {
    let config = StServerConfig::default();
    let seed = hvac_shop(&config);
    StServer::start_seeded(config, seed)
}

fn lookups(worker: &SyncWorker) -> CacheLookups {
    CacheLookups {
        cache: worker.cache_handle(),
        outbox: Some(worker.outbox().clone()),
    }
}

fn all_records(worker: &SyncWorker) -> Vec<Record> {
    worker.outbox().list(&ListFilter::default()).unwrap()
}

/// Tomorrow at `hour`:00 UTC, whole seconds.
fn tomorrow_at(hour: i64) -> DateTime<Utc> {
    let day = (Utc::now() + Duration::days(1)).date_naive();
    day.and_hms_opt(0, 0, 0).unwrap().and_utc() + Duration::hours(hour)
}

fn jane() -> CallerInfo {
    CallerInfo {
        name: "Jane Doe".into(),
        phone_e164: Some(JANE_PHONE.into()),
        callback_phone_e164: None,
    }
}

/// Requests that reached the operation (answered 200, or committed and then lost).
fn committed(server: &StServer, operation: &str) -> Vec<LoggedRequest> {
    server
        .requests_for(operation)
        .into_iter()
        .filter(|r| r.status == Some(200) || matches!(r.fault, Some(Fault::CommitThenDrop(_))))
        .collect()
}

fn notes_with_marker(server: &StServer, job_id: i64, record: &Record) -> usize {
    server
        .notes(job_id)
        .iter()
        .filter(|n| n.text.contains(&format!("callbox record {}", record.id)))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn details_are_filled_by_the_sync_and_served_to_the_dialog() {
    let server = seeded();
    // What a dispatcher booked: Jane tomorrow with Alice; Acme with nobody yet; a canceled
    // visit and one beyond the window, which the box must not promise.
    let (jane_job, jane_appt) = server.with_tenant(|t| {
        book_directly(
            t,
            CUSTOMER_JANE,
            LOCATION_JANE_HOME,
            tomorrow_at(15),
            tomorrow_at(17),
            "Annual furnace tune-up",
            &[TECH_ALICE],
        )
    });
    server.with_tenant(|t| {
        book_directly(
            t,
            CUSTOMER_ACME,
            LOCATION_ACME_WAREHOUSE,
            tomorrow_at(18),
            tomorrow_at(20),
            "Rooftop unit noisy",
            &[],
        )
    });
    let (_, canceled_appt) = server.with_tenant(|t| {
        book_directly(
            t,
            CUSTOMER_JANE,
            LOCATION_JANE_HOME,
            tomorrow_at(20),
            tomorrow_at(21),
            "Duplicate",
            &[],
        )
    });
    server.with_tenant(|t| {
        if let Some(a) = t.appointments.get_mut(&canceled_appt) {
            a.status = "Canceled".into();
        }
        book_directly(
            t,
            CUSTOMER_JANE,
            LOCATION_JANE_HOME,
            tomorrow_at(24 * 20),
            tomorrow_at(24 * 20 + 2),
            "Far away",
            &[],
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let worker = open_worker(&config(&server, dir.path())).unwrap();
    let lookups = lookups(&worker);
    let now = Utc::now();
    // Before any sync the box knows nothing about Jane.
    assert!(lookups.by_phone(JANE_PHONE).is_empty());

    // Jane calls and books through the box: the sync learns her by phone.
    worker
        .outbox()
        .enqueue(Payload::Job(jane_job_request()))
        .await
        .unwrap();
    let summary = worker.sync_once().await.unwrap();
    assert_eq!(summary.synced, 1, "{summary:?}");
    let booked_job = all_records(&worker)[0].progress.job_id.unwrap();

    let refreshed = worker.refresh_customer_details_if_stale().await.unwrap();
    assert_eq!(refreshed, 2, "Jane (by phone and appointment) and Acme");
    // Fresh now: a second pass does nothing.
    assert_eq!(worker.refresh_customer_details_if_stale().await.unwrap(), 0);

    // The dialog's traits, served from the cache.
    let known = lookups.by_phone(JANE_PHONE);
    assert_eq!(known.len(), 1);
    assert_eq!(known[0].id, CUSTOMER_JANE);
    assert!(known[0].member, "Jane has an active membership");
    assert_eq!(known[0].locations.len(), 1);
    assert_eq!(known[0].locations[0].id, Some(LOCATION_JANE_HOME));
    assert_eq!(known[0].locations[0].address.street, "12 Palmetto Ln");

    let upcoming = lookups.upcoming(Some(CUSTOMER_JANE), Some(JANE_PHONE), now);
    let jobs: Vec<Option<i64>> = upcoming.iter().map(|a| a.job_id).collect();
    assert_eq!(upcoming.len(), 2, "{upcoming:?}");
    assert!(jobs.contains(&Some(jane_job)) && jobs.contains(&Some(booked_job)));
    let tune_up = upcoming
        .iter()
        .find(|a| a.job_id == Some(jane_job))
        .unwrap();
    assert_eq!(tune_up.appointment_id, Some(jane_appt));
    assert_eq!(tune_up.technician.as_deref(), Some("Alice"));
    assert_eq!(tune_up.start_utc, tomorrow_at(15));
    assert!(tune_up.job_number.is_some());
    assert_eq!(tune_up.summary, "Annual furnace tune-up");
    assert!(upcoming
        .iter()
        .all(|a| a.queue_ref.is_none() || a.job_id.is_some()));

    // Acme is cached through its appointment (not known by phone): two sites, not a member.
    let acme = worker.cache().customer_details(CUSTOMER_ACME).unwrap();
    assert_eq!(acme.locations.len(), 2);
    assert!(!acme.member);
    assert_eq!(acme.appointments.len(), 1);
    assert!(acme.appointments[0].technician_ids.is_empty());

    // Every filter the box sent is one the API knows (none silently ignored).
    for r in server.request_log() {
        assert!(r.ignored.is_empty(), "{} ignored {:?}", r.path, r.ignored);
    }
    let polls = server.requests_for("Appointments_GetList");
    assert!(polls.iter().any(|r| r
        .query
        .as_deref()
        .is_some_and(|q| q.contains("startsOnOrAfter") && q.contains("startsBefore"))));
    // Issue 16: one listing of the tenant's active members (members are greeted as members
    // on their first call), not one per batch of customers.
    let members = server.requests_for("CustomerMemberships_GetList");
    assert_eq!(members.len(), 1);
    assert!(members[0]
        .query
        .as_deref()
        .unwrap()
        .contains("status=Active"));
    // Acme, cached through its appointment, is now known by the number on its contacts.
    let acme_by_phone = lookups.by_phone("+18435551234");
    assert_eq!(
        acme_by_phone.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![CUSTOMER_ACME]
    );
    assert!(server.max_requests_in_any_1s_window() <= 60);
}

fn jane_job_request() -> callbox::queue::JobRequest {
    jane_job(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn details_work_is_bounded_per_pass_and_drains_over_passes() {
    let server = seeded();
    for (customer, location) in [
        (CUSTOMER_JANE, LOCATION_JANE_HOME),
        (CUSTOMER_ACME, LOCATION_ACME_OFFICE),
    ] {
        server.with_tenant(|t| {
            book_directly(
                t,
                customer,
                location,
                tomorrow_at(15),
                tomorrow_at(16),
                "Visit",
                &[TECH_BOB],
            )
        });
    }
    let dir = tempfile::tempdir().unwrap();
    let worker = open_worker(&config(&server, dir.path()))
        .unwrap()
        .with_settings(|s| s.details_per_pass = 1);
    assert_eq!(worker.refresh_customer_details_if_stale().await.unwrap(), 1);
    assert_eq!(server.requests_for("Locations_GetList").len(), 1);
    // Backlog left: the cache is not called fresh, so the next pass takes the other one.
    assert_eq!(worker.refresh_customer_details_if_stale().await.unwrap(), 1);
    assert_eq!(worker.refresh_customer_details_if_stale().await.unwrap(), 0);
    for c in [CUSTOMER_JANE, CUSTOMER_ACME] {
        let d = worker.cache().customer_details(c).unwrap();
        assert_eq!(d.appointments.len(), 1);
        assert_eq!(d.appointments[0].technician_ids, vec![TECH_BOB]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_job_answers_when_is_my_technician_coming_and_follows_the_callers_changes() {
    let server = seeded();
    let dir = tempfile::tempdir().unwrap();
    let worker = open_worker(&config(&server, dir.path())).unwrap();
    let lookups = lookups(&worker);
    let now = Utc::now();
    let booked = job(5);
    let caller_phone = booked.caller.phone_e164.clone().unwrap();
    let id = worker
        .outbox()
        .enqueue(Payload::Job(booked.clone()))
        .await
        .unwrap();

    // Not in ServiceTitan yet, not in the cache: the queue answers.
    let upcoming = lookups.upcoming(None, Some(&caller_phone), now);
    assert_eq!(upcoming.len(), 1, "{upcoming:?}");
    assert_eq!(upcoming[0].queue_ref.as_ref(), Some(&id));
    assert_eq!(upcoming[0].start_utc, booked.appointment.start_utc);
    assert_eq!(upcoming[0].job_id, None);
    assert_eq!(upcoming[0].summary, booked.problem_summary);
    // Someone else's phone hears nothing of it.
    assert!(lookups.upcoming(None, Some(&phone(6)), now).is_empty());

    // The caller rings back and moves it: the lookup shows the new time before any sync.
    let new_window = AppointmentWindow {
        start_utc: booked.appointment.start_utc + Duration::days(1),
        end_utc: booked.appointment.end_utc + Duration::days(1),
        arrival_window_start_utc: None,
        arrival_window_end_utc: None,
    };
    worker
        .outbox()
        .enqueue(Payload::Reschedule(RescheduleRequest {
            call_key: "call-move".into(),
            caller: booked.caller.clone(),
            job_id: None,
            job_number: None,
            appointment_id: None,
            queue_ref: Some(id.clone()),
            new_window: new_window.clone(),
            reason: "I'll be at work".into(),
        }))
        .await
        .unwrap();
    let upcoming = lookups.upcoming(None, Some(&caller_phone), now);
    assert_eq!(upcoming.len(), 1);
    assert_eq!(upcoming[0].start_utc, new_window.start_utc);

    // The sync books the job, then moves its appointment in ServiceTitan.
    let summary = worker.sync_once().await.unwrap();
    assert_eq!(summary.synced, 2, "{summary:?}");
    let records = all_records(&worker);
    let job_id = records[0].progress.job_id.unwrap();
    let appt = server
        .appointments()
        .into_iter()
        .find(|a| a.job_id == job_id)
        .unwrap();
    assert_eq!(appt.start, new_window.start_utc);
    assert_eq!(appt.end, new_window.end_utc);
    assert!(records[1].progress.rescheduled);
    assert_eq!(notes_with_marker(&server, job_id, &records[1]), 1);
    // Synced but the cache not yet refreshed: still answered, once, at the new time.
    let upcoming = lookups.upcoming(None, Some(&caller_phone), now);
    assert_eq!(upcoming.len(), 1, "{upcoming:?}");
    assert_eq!(upcoming[0].job_id, Some(job_id));
    assert_eq!(upcoming[0].start_utc, new_window.start_utc);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reschedule_and_cancel_go_through_exactly_once_despite_faults() {
    let server = seeded();
    let (move_job, move_appt) = server.with_tenant(|t| {
        book_directly(
            t,
            CUSTOMER_JANE,
            LOCATION_JANE_HOME,
            tomorrow_at(15),
            tomorrow_at(17),
            "Tune-up",
            &[TECH_ALICE],
        )
    });
    let (cancel_job, _) = server.with_tenant(|t| {
        book_directly(
            t,
            CUSTOMER_JANE,
            LOCATION_JANE_HOME,
            tomorrow_at(24 + 15),
            tomorrow_at(24 + 17),
            "Second opinion",
            &[],
        )
    });
    let cancel_number = server.with_tenant(|t| t.jobs[&cancel_job].job_number.clone());
    server.set_faults(
        FaultPlan::seeded(11)
            // The writes commit, then their answers are lost.
            .with(
                FaultRule::new(Fault::CommitThenDrop(DropMode::Close))
                    .on(&["Appointments_Reschedule", "Jobs_Cancel"])
                    .nth(&[1]),
            )
            .with(
                FaultRule::new(Fault::CommitThenDrop(DropMode::Close))
                    .on(&["Jobs_CreateNote"])
                    .nth(&[1, 2]),
            )
            .with(
                FaultRule::new(Fault::ServerError(503))
                    .on(&["Jobs_GetList", "Appointments_GetList"])
                    .nth(&[1]),
            )
            .with(
                FaultRule::new(Fault::RateLimited {
                    retry_after_secs: 1,
                })
                .probability(0.2),
            )
            .with(FaultRule::new(Fault::RevokeToken).nth(&[4, 9])),
    );
    let dir = tempfile::tempdir().unwrap();
    let worker = open_worker(&config(&server, dir.path())).unwrap();
    let new_start = tomorrow_at(24 * 3 + 14);
    worker
        .outbox()
        .enqueue(Payload::Reschedule(RescheduleRequest {
            call_key: "call-r".into(),
            caller: jane(),
            job_id: Some(move_job),
            job_number: None,
            appointment_id: Some(move_appt),
            queue_ref: None,
            new_window: AppointmentWindow {
                start_utc: new_start,
                end_utc: new_start + Duration::hours(2),
                arrival_window_start_utc: Some(new_start),
                arrival_window_end_utc: Some(new_start + Duration::hours(4)),
            },
            reason: "Working that day".into(),
        }))
        .await
        .unwrap();
    worker
        .outbox()
        .enqueue(Payload::Cancellation(CancellationRequest {
            call_key: "call-c".into(),
            caller: jane(),
            job_id: None,
            job_number: Some(cancel_number),
            queue_ref: None,
            reason: "Fixed it myself".into(),
            cancel_reason_id: None,
        }))
        .await
        .unwrap();
    let mut passes = 0;
    while worker.outbox().counts().synced < 2 && passes < 5 {
        passes += 1;
        let summary = worker.sync_once().await.unwrap();
        if !summary.is_clean() {
            tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        }
    }
    let records = all_records(&worker);
    for r in &records {
        assert_eq!(r.state, RecordState::Synced, "{r:?}");
    }
    assert!(records[0].progress.rescheduled && records[0].progress.note_added);
    assert!(records[1].progress.canceled && records[1].progress.note_added);
    assert_eq!(records[1].progress.job_id, Some(cancel_job));

    // Moved once, to the new window, arrival window included.
    assert_eq!(committed(&server, "Appointments_Reschedule").len(), 1);
    let appt = server
        .appointments()
        .into_iter()
        .find(|a| a.id == move_appt)
        .unwrap();
    assert_eq!(appt.start, new_start);
    assert_eq!(appt.end, new_start + Duration::hours(2));
    assert_eq!(
        appt.arrival_window_end,
        Some(new_start + Duration::hours(4))
    );
    // Canceled once, with the tenant's "customer canceled" reason and a memo.
    let cancels = committed(&server, "Jobs_Cancel");
    assert_eq!(cancels.len(), 1);
    let body = cancels[0].body.as_ref().unwrap();
    assert_eq!(body["reasonId"], CANCEL_REASON_CUSTOMER_CANCELED);
    assert!(body["memo"].as_str().unwrap().contains("Fixed it myself"));
    assert_eq!(
        server.with_tenant(|t| t.jobs[&cancel_job].job_status.clone()),
        "Canceled"
    );
    // One note each, saying the caller asked by phone through callbox.
    assert_eq!(notes_with_marker(&server, move_job, &records[0]), 1);
    assert_eq!(notes_with_marker(&server, cancel_job, &records[1]), 1);
    for (job, r) in [(move_job, &records[0]), (cancel_job, &records[1])] {
        let note = server
            .notes(job)
            .into_iter()
            .find(|n| n.text.contains(&format!("callbox record {}", r.id)))
            .unwrap();
        assert!(
            note.text.contains("by phone through callbox"),
            "{}",
            note.text
        );
    }
    // Nothing went to the office.
    assert!(server.bookings().is_empty() && server.leads().is_empty());
    assert!(server.max_requests_in_any_1s_window() <= 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_cancel_and_reschedule_fall_back_to_the_office() {
    let server = seeded();
    let (done_job, done_appt) = server.with_tenant(|t| {
        let ids = book_directly(
            t,
            CUSTOMER_JANE,
            LOCATION_JANE_HOME,
            tomorrow_at(15),
            tomorrow_at(17),
            "Done already",
            &[],
        );
        // The technician finished it before the caller rang.
        if let Some(j) = t.jobs.get_mut(&ids.0) {
            j.job_status = "Completed".into();
        }
        ids
    });
    let dir = tempfile::tempdir().unwrap();
    let worker = open_worker(&config(&server, dir.path())).unwrap();
    worker
        .outbox()
        .enqueue(Payload::Cancellation(CancellationRequest {
            call_key: "call-c".into(),
            caller: jane(),
            job_id: Some(done_job),
            job_number: None,
            queue_ref: None,
            reason: "Changed my mind".into(),
            cancel_reason_id: None,
        }))
        .await
        .unwrap();
    worker
        .outbox()
        .enqueue(Payload::Reschedule(RescheduleRequest {
            call_key: "call-r".into(),
            caller: jane(),
            job_id: Some(done_job),
            job_number: None,
            appointment_id: Some(done_appt),
            queue_ref: None,
            new_window: window(3),
            reason: String::new(),
        }))
        .await
        .unwrap();
    let summary = worker.sync_once().await.unwrap();
    assert_eq!(summary.needs_attention, 2, "{summary:?}");
    let records = all_records(&worker);
    match &records[0].state {
        RecordState::NeedsAttention { reason } => {
            assert!(
                reason.contains("completed job cannot be canceled"),
                "{reason}"
            );
            assert!(
                reason.contains("booking created for the office"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    match &records[1].state {
        RecordState::NeedsAttention { reason } => {
            assert!(reason.contains("cannot be rescheduled"), "{reason}");
            assert!(
                reason.contains("booking created for the office"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    // One booking per record for a CSR, saying what the caller wanted and why it failed.
    let bookings = server.bookings();
    assert_eq!(bookings.len(), 2);
    for r in &records {
        let b = bookings
            .iter()
            .find(|b| b.external_id == r.id.as_str())
            .unwrap();
        assert_eq!(r.progress.booking_id, Some(b.id));
        assert!(
            b.summary.contains("callbox could not do it"),
            "{}",
            b.summary
        );
    }
    // The job is untouched and carries no "caller asked" note.
    assert_eq!(
        server.with_tenant(|t| t.jobs[&done_job].job_status.clone()),
        "Completed"
    );
    assert!(server.notes(done_job).is_empty());
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
