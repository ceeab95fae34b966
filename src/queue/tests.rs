//! Outbox tests: state transitions, integrity check, recovery, export/import, compaction.

use super::*;
use chrono::{TimeZone, Utc};
use std::path::Path;

pub(crate) fn caller() -> CallerInfo {
    CallerInfo {
        name: "Jane Doe".into(),
        phone_e164: Some("+15125550100".into()),
        callback_phone_e164: None,
    }
}

pub(crate) fn job(n: u32) -> Payload {
    let start = Utc.with_ymd_and_hms(2026, 1, 16, 15, 0, 0).unwrap();
    Payload::Job(JobRequest {
        call_key: format!("20260115T030000Z-{n:04}"),
        caller: caller(),
        known_customer_id: None,
        known_location_id: None,
        service_address: Address {
            street: "1 Main St".into(),
            unit: None,
            city: "Austin".into(),
            state: "TX".into(),
            zip: "78701".into(),
            country: "USA".into(),
        },
        problem_summary: "No heat, furnace clicks but won't light".into(),
        transcript: "Caller: my furnace stopped working tonight...".into(),
        urgency: Urgency::Emergency,
        job_type_hint: Some("no_heat".into()),
        business_unit_id: Some(7),
        job_type_id: Some(89),
        campaign_id: Some(1011),
        dialled_number: Some("+15125550199".into()),
        appointment: AppointmentWindow {
            start_utc: start,
            end_utc: start + chrono::Duration::hours(2),
            arrival_window_start_utc: Some(start),
            arrival_window_end_utc: Some(start + chrono::Duration::hours(4)),
        },
        assign_on_call_technician: true,
        booked_offline: false,
        confirmation_number: format!("CB-{n:04}"),
    })
}

pub(crate) fn open(dir: &Path) -> (Outbox, OpenReport) {
    Outbox::open(dir, QueueOptions::default()).unwrap()
}

#[tokio::test]
async fn enqueue_then_get() {
    let dir = tempfile::tempdir().unwrap();
    let (q, report) = open(dir.path());
    assert!(report.is_clean(), "{report:?}");
    let id = q.enqueue(job(1)).await.unwrap();
    let r = q.get(&id).unwrap().unwrap();
    assert_eq!(r.state, RecordState::Queued);
    assert_eq!(r.payload, job(1));
    assert_eq!(q.counts().queued, 1);
}
