//! Shared set-up for the ServiceTitan sync tests: a config pointing at the in-process test
//! server, job records with known callers and addresses, and exactly-once checks.

#![allow(dead_code)]

use crate::support::st_server::seed::*;
use crate::support::st_server::{StServer, TEST_APP_KEY, TEST_CLIENT_ID, TEST_CLIENT_SECRET};
use callbox::config::Config;
use callbox::queue::{
    Address, AppointmentWindow, CallerInfo, JobRequest, Payload, Record, RecordId, Urgency,
};
use chrono::{DateTime, Duration, Timelike, Utc};
use std::path::Path;

pub const GUID: &str = "6a1d3c2e-8f4b-4e2a-9c1d-0b5e7f9a2c41";
pub const KEY: &str = "callboxRecordId";

/// A config for `server`, storing under `data_dir`.
pub fn config_for(api_url: &str, auth_url: &str, tenant: i64, data_dir: &Path) -> Config {
    let mut c = Config::default();
    c.storage.data_dir = data_dir.to_path_buf();
    let st = &mut c.servicetitan;
    st.enabled = true;
    st.environment = "custom".into();
    st.api_url = api_url.into();
    st.auth_url = auth_url.into();
    st.tenant_id = tenant;
    st.app_key = TEST_APP_KEY.into();
    st.client_id = TEST_CLIENT_ID.into();
    st.client_secret = TEST_CLIENT_SECRET.into();
    st.external_data_guid = GUID.into();
    st.api_timeout_secs = 3;
    st.connect_timeout_secs = 2;
    st.token_timeout_secs = 3;
    st.job_types = [
        ("no_heat", JT_NO_HEAT),
        ("no_cooling", JT_NO_COOL),
        ("maintenance", JT_MAINTENANCE),
        ("leak", JT_LEAK),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    st.default_business_unit_id = Some(BU_HVAC_SERVICE);
    st.booking_provider_id = Some(BOOKING_PROVIDER);
    st.fallback_on_rejection = "booking".into();
    st.assign_on_call_technician = "when_requested".into();
    assert_eq!(
        c.validate()
            .into_iter()
            .filter(|i| i.is_error())
            .collect::<Vec<_>>(),
        vec![]
    );
    c
}

pub fn config(server: &StServer, data_dir: &Path) -> Config {
    config_for(
        &server.base_url(),
        &server.auth_url(),
        server.tenant_id(),
        data_dir,
    )
}

/// New caller number `n` (unique per n): +1 843 7xx xxxx.
pub fn phone(n: usize) -> String {
    format!("+1843{:07}", 7_000_000 + n)
}

pub fn address(n: usize) -> Address {
    Address {
        street: format!("{} Test St", 100 + n),
        unit: None,
        city: "Charleston".into(),
        state: "SC".into(),
        zip: "29401".into(),
        country: "USA".into(),
    }
}

/// A slot `n` two-hour windows from tomorrow 14:00 UTC.
pub fn window(n: usize) -> AppointmentWindow {
    let base = (Utc::now() + Duration::days(1))
        .with_hour(14)
        .and_then(|t| t.with_minute(0))
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .expect("time");
    let start = base + Duration::hours(2 * (n as i64 % 200));
    AppointmentWindow {
        start_utc: start,
        end_utc: start + Duration::hours(2),
        arrival_window_start_utc: None,
        arrival_window_end_utc: None,
    }
}

/// Job record `n`: a new caller with their own phone and address.
pub fn job(n: usize) -> JobRequest {
    JobRequest {
        call_key: format!("call-{n}"),
        caller: CallerInfo {
            name: format!("Caller {n}"),
            phone_e164: Some(phone(n)),
            callback_phone_e164: None,
        },
        known_customer_id: None,
        known_location_id: None,
        service_address: address(n),
        problem_summary: format!("No cooling #{n}"),
        transcript: format!("Caller {n}: my AC stopped blowing cold air."),
        urgency: Urgency::Routine,
        job_type_hint: Some("no_cooling".into()),
        business_unit_id: None,
        job_type_id: None,
        campaign_id: None,
        dialled_number: Some("+18435550100".into()),
        appointment: window(n),
        assign_on_call_technician: false,
        booked_offline: true,
        confirmation_number: format!("CB-{n:04}"),
    }
}

/// Jane Doe (seeded), calling from her known number.
pub fn jane_job(n: usize) -> JobRequest {
    let mut j = job(n);
    j.caller = CallerInfo {
        name: "Jane Doe".into(),
        phone_e164: Some("+18432609814".into()),
        callback_phone_e164: None,
    };
    j.service_address = Address {
        street: "12 Palmetto Ln".into(),
        unit: None,
        city: "Charleston".into(),
        state: "SC".into(),
        zip: "29401".into(),
        country: "USA".into(),
    };
    j
}

/// Checks the server holds exactly one job per record with the right customer, location,
/// window and note, and that each record says synced with those ids. Returns job ids in
/// record order.
pub fn assert_exactly_once(server: &StServer, records: &[Record]) {
    let jobs = server.jobs();
    let appointments = server.appointments();
    let customers = server.customers();
    let locations = server.locations();
    assert_eq!(
        jobs.len(),
        records.len(),
        "one job per record on the server"
    );
    for r in records {
        assert_eq!(
            r.state,
            callbox::queue::RecordState::Synced,
            "{} is {:?} ({:?})",
            r.id,
            r.state,
            r.last_error
        );
        let Payload::Job(req) = &r.payload else {
            panic!("not a job")
        };
        let mine: Vec<_> = jobs
            .iter()
            .filter(|j| j.external_value(KEY) == Some(r.id.as_str()))
            .collect();
        assert_eq!(mine.len(), 1, "record {} has {} jobs", r.id, mine.len());
        let job = mine[0];
        assert_eq!(r.progress.job_id, Some(job.id), "{}", r.id);
        assert_eq!(r.progress.customer_id, Some(job.customer_id));
        assert_eq!(r.progress.location_id, Some(job.location_id));
        assert!(r.progress.note_added);
        // The right customer: the one holding the caller's phone.
        let customer = customers
            .iter()
            .find(|c| c.id == job.customer_id)
            .expect("customer exists");
        let want = callbox::trade::phone::default_plan()
            .servicetitan_key(req.caller.phone_e164.as_deref().unwrap())
            .unwrap();
        assert!(
            customer
                .contacts
                .iter()
                .any(|c| callbox::trade::phone::default_plan()
                    .servicetitan_key(&c.value)
                    .as_deref()
                    == Some(want.as_str())),
            "customer {} of {} lacks {want}",
            customer.id,
            r.id
        );
        // The right location: the customer's, at the service address.
        let location = locations
            .iter()
            .find(|l| l.id == job.location_id)
            .expect("location exists");
        assert_eq!(location.customer_id, job.customer_id);
        assert_eq!(location.address.street, req.service_address.street);
        // The right window.
        let appt = appointments
            .iter()
            .find(|a| a.id == job.appointment_ids[0])
            .expect("appointment");
        assert_eq!(appt.start, req.appointment.start_utc);
        assert_eq!(appt.end, req.appointment.end_utc);
        // One note carrying the summary and transcript.
        let notes: Vec<_> = server
            .notes(job.id)
            .into_iter()
            .filter(|n| n.text.contains(&format!("callbox record {}", r.id)))
            .collect();
        assert_eq!(notes.len(), 1, "record {} has {} notes", r.id, notes.len());
        assert!(notes[0].text.contains(&req.transcript));
        assert!(notes[0].text.contains(&req.problem_summary));
    }
    // No customer was created twice for the same phone.
    let mut phones: Vec<String> = customers
        .iter()
        .flat_map(|c| {
            c.contacts
                .iter()
                .filter_map(|k| callbox::trade::phone::default_plan().servicetitan_key(&k.value))
                .collect::<std::collections::BTreeSet<_>>()
        })
        .collect();
    let total = phones.len();
    phones.sort();
    phones.dedup();
    assert_eq!(
        total,
        phones.len(),
        "a phone number belongs to two customers"
    );
}

pub fn record_ids(records: &[Record]) -> Vec<RecordId> {
    records.iter().map(|r| r.id.clone()).collect()
}

pub fn _unused(_: DateTime<Utc>) {}
