//! Helpers shared by the queue integration tests.
#![allow(dead_code)]

use callbox::queue::{Address, AppointmentWindow, CallerInfo, JobRequest, Payload, Urgency};
use chrono::{TimeZone, Utc};
use std::path::Path;

/// A job as the dialog would queue it, with a transcript of realistic length.
pub fn job(n: u64) -> Payload {
    let start = Utc.with_ymd_and_hms(2026, 1, 16, 15, 0, 0).unwrap();
    Payload::Job(JobRequest {
        call_key: format!("20260115T030000Z-{n:06}"),
        caller: CallerInfo {
            name: "Jane Doe".into(),
            phone_e164: Some("+15125550100".into()),
            callback_phone_e164: None,
        },
        known_customer_id: None,
        known_location_id: None,
        service_address: Address {
            street: "1 Main St".into(),
            unit: Some("Apt 4".into()),
            city: "Austin".into(),
            state: "TX".into(),
            zip: "78701".into(),
            country: "USA".into(),
        },
        problem_summary: "No cooling, outdoor unit hums".into(),
        transcript: "Caller describes the outdoor unit humming but the fan not spinning. "
            .repeat(12),
        urgency: Urgency::Routine,
        job_type_hint: Some("no_cooling".into()),
        business_unit_id: Some(7),
        job_type_id: Some(89),
        campaign_id: Some(1011),
        dialled_number: Some("+15125550199".into()),
        appointment: AppointmentWindow {
            start_utc: start,
            end_utc: start + chrono::Duration::hours(2),
            arrival_window_start_utc: None,
            arrival_window_end_utc: None,
        },
        assign_on_call_technician: false,
        booked_offline: true,
        confirmation_number: format!("CB-{n:04}"),
    })
}

/// Sum of file lengths under `dir`.
pub fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let m = entry.metadata().unwrap();
            if m.is_dir() {
                stack.push(entry.path());
            } else {
                total += m.len();
            }
        }
    }
    total
}
