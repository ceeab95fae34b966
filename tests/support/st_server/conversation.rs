//! The conversation table's shop as a ServiceTitan tenant (issue 16): the facts of
//! `tests/conversations/seed.json` (what `callbox simulate --seed` puts straight into the cache)
//! written into the test server, so the box can fill its cache from ServiceTitan the way the
//! product does and the same table runs online against it.
//!
//! - customers with their phone contacts and locations, ids as in the seed (Jane Doe 501 at
//!   123 Maple St; Bob Stone 502 with Home and Rental);
//! - Bob's active membership (the seed's `member: true`);
//! - the seed's appointments as jobs booked by a dispatcher (job 9001, appointment 77, with
//!   their technicians), in the "HVAC Maintenance" business unit;
//! - the seed's technicians (HVAC Service) and on-call shifts;
//! - capacity: one arrival window per distinct local window of the seed's frames, for HVAC
//!   Service, and for each frame the seed marks available a one-hour Normal shift of the first
//!   technician inside it that no other window of that day overlaps, so exactly those frames
//!   come back `isAvailable` (the others have no technician hours);
//! - business units, job types, campaigns, call and cancel reasons and the booking provider of
//!   [`super::seed::hvac_shop_on`] (what the box's `[servicetitan]` mapping names).
//!
//! The tenant's UTC offset must be the shop's on the seed's dates: [`CONVERSATION_UTC_OFFSET_MINUTES`].

use super::seed::*;
use super::state::*;
use chrono::{DateTime, Duration, FixedOffset, NaiveTime, Utc};
use serde_json::Value;

/// Chicago in January (CST): the table's shop time on the seed's dates.
pub const CONVERSATION_UTC_OFFSET_MINUTES: i32 = -6 * 60;
/// Where the seed's appointments are booked: a tune-up is the maintenance department's.
pub const BU_HVAC_MAINTENANCE: i64 = 1004;

/// 1.5 h, HVAC Service: what the shop books a repair the box names no job type for as
/// (noise, thermostat, anything else): `servicetitan.default_job_type_id`.
pub const JT_SERVICE_CALL: i64 = 2006;

/// `tests/conversations/seed.json`.
pub fn conversation_seed_json() -> Value {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conversations/seed.json");
    let text = std::fs::read_to_string(&path).expect("tests/conversations/seed.json");
    serde_json::from_str(&text).expect("seed.json is JSON")
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_default()
}

fn i(v: &Value, key: &str) -> i64 {
    v[key]
        .as_i64()
        .unwrap_or_else(|| panic!("seed.json: {key} in {v}"))
}

fn utc(v: &Value, key: &str) -> DateTime<Utc> {
    s(v, key)
        .parse()
        .unwrap_or_else(|e| panic!("seed.json: {key} in {v}: {e}"))
}

fn address(v: &Value) -> Address {
    Address::new(s(v, "street"), s(v, "city"), s(v, "state"), s(v, "zip"))
}

/// "+13125550142" → "(312) 555-0142", as an office types it into ServiceTitan.
fn national(e164: &str) -> String {
    let d = digits(e164);
    let d = d.strip_prefix('1').unwrap_or(&d);
    format!("({}) {}-{}", &d[..3], &d[3..6], &d[6..])
}

/// The tenant mirroring `seed.json`, with `now` as the records' creation time.
pub fn conversation_tenant(now: DateTime<Utc>) -> (Seed, impl FnOnce(&mut Tenant)) {
    let seed_json = conversation_seed_json();
    let offset = FixedOffset::east_opt(CONVERSATION_UTC_OFFSET_MINUTES * 60).expect("offset");
    let mut seed = hvac_shop_on(now.with_timezone(&offset).date_naive(), 0);
    seed.business_units.push(BusinessUnit {
        id: BU_HVAC_MAINTENANCE,
        name: "HVAC Maintenance".into(),
        official_name: Some("Callbox Test HVAC Maintenance".into()),
        active: true,
        phone_number: None,
        email: None,
    });

    seed.job_types.push(JobType {
        id: JT_SERVICE_CALL,
        name: "Service Call".into(),
        business_unit_ids: vec![BU_HVAC_SERVICE],
        skills: Vec::new(),
        tag_type_ids: Vec::new(),
        priority: "Normal".into(),
        duration: 90 * 60,
        class: "Service".into(),
        summary: String::new(),
        no_charge: false,
        active: true,
    });

    let empty = Vec::new();
    let list = |key: &str| seed_json[key].as_array().unwrap_or(&empty).clone();
    seed.technicians = list("technicians")
        .iter()
        .map(|t| Technician {
            id: i(t, "id"),
            user_id: i(t, "id") + 100_000,
            name: s(t, "name").into(),
            business_unit_id: Some(BU_HVAC_SERVICE),
            phone_number: Some("(312) 555-0131".into()),
            email: None,
            skills: vec!["HVAC".into()],
            team: Some("Field".into()),
            active: t["active"].as_bool().unwrap_or(true),
        })
        .collect();
    let first_tech = seed
        .technicians
        .first()
        .map(|t| t.id)
        .expect("a technician");
    seed.technician_shifts = list("on_call_shifts")
        .iter()
        .map(|sh| TechnicianShift {
            id: i(sh, "id"),
            technician_id: i(sh, "technicianId"),
            shift_type: s(sh, "shiftType").into(),
            title: "On call".into(),
            note: None,
            start: utc(sh, "start"),
            end: utc(sh, "end"),
            active: sh["active"].as_bool().unwrap_or(true),
        })
        .collect();

    // Capacity: the seed's frames as arrival windows (tenant-local), each available frame
    // staffed for one hour nobody else's window touches.
    let frames: Vec<(DateTime<Utc>, DateTime<Utc>, bool)> = seed_json["capacity"]["availabilities"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .map(|f| {
            (
                utc(f, "startUtc"),
                utc(f, "endUtc"),
                f["isAvailable"].as_bool().unwrap_or(false)
                    && f["openAvailability"].as_f64().unwrap_or(0.0) > 0.0,
            )
        })
        .collect();
    let mut windows: Vec<(NaiveTime, i64)> = frames
        .iter()
        .map(|(a, b, _)| (a.with_timezone(&offset).time(), (*b - *a).num_minutes()))
        .collect();
    windows.sort();
    windows.dedup();
    seed.arrival_windows = windows
        .iter()
        .enumerate()
        .map(|(n, (start, minutes))| ArrivalWindow {
            id: 8101 + n as i64,
            start: *start,
            duration_minutes: *minutes,
            business_unit_ids: vec![BU_HVAC_SERVICE],
            active: true,
        })
        .collect();
    let mut shift_id = 9_100_001;
    for (start, end, available) in &frames {
        if !available {
            continue;
        }
        let day = start.with_timezone(&offset).date_naive();
        let (mut from, mut to) = (*start, *end);
        for (w_start, minutes) in &windows {
            let o_start = day
                .and_time(*w_start)
                .and_local_timezone(offset)
                .single()
                .expect("fixed offset")
                .with_timezone(&Utc);
            let o_end = o_start + Duration::minutes(*minutes);
            if (o_start, o_end) == (*start, *end) || o_end <= from || o_start >= to {
                continue;
            }
            if o_start <= from {
                from = from.max(o_end);
            } else {
                to = to.min(o_start);
            }
        }
        assert!(to > from, "seed frame {start}–{end} has no hour of its own");
        seed.technician_shifts.push(TechnicianShift {
            id: shift_id,
            technician_id: first_tech,
            shift_type: "Normal".into(),
            title: "Day shift".into(),
            note: None,
            start: from,
            end: to.min(from + Duration::hours(1)),
            active: true,
        });
        shift_id += 1;
    }

    let mut appointments = Vec::new();
    seed.customers.clear();
    seed.memberships.clear();
    for c in list("customers") {
        let customer = &c["customer"];
        let details = &c["details"];
        let id = i(customer, "id");
        let locations: Vec<SeedLocation> = details["locations"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .map(|l| SeedLocation {
                id: i(l, "id"),
                name: s(l, "name").into(),
                address: address(&l["address"]),
            })
            .collect();
        // A customer's billing address: the seed's, else their first location's.
        let billing = if customer["address"].is_object() {
            address(&customer["address"])
        } else {
            locations.first().expect("a location").address.clone()
        };
        seed.customers.push(SeedCustomer {
            id,
            name: s(customer, "name").into(),
            customer_type: "Residential".into(),
            address: billing,
            contacts: vec![("MobilePhone".into(), national(s(&c, "phone")))],
            locations: locations.clone(),
            active: customer["active"].as_bool().unwrap_or(true),
            external_data: Vec::new(),
        });
        if details["member"].as_bool().unwrap_or(false) {
            let since = now - Duration::days(100);
            seed.memberships.push(Membership {
                id: 11_100_000 + id,
                customer_id: id,
                location_id: None,
                membership_type_id: 12_000_001,
                business_unit_id: BU_HVAC_MAINTENANCE,
                status: "Active".into(),
                active: true,
                billing_frequency: "Annual".into(),
                duration_months: Some(12),
                from: since,
                to: Some(since + Duration::days(365)),
                created_on: since,
                modified_on: since,
            });
        }
        for a in details["appointments"].as_array().unwrap_or(&empty) {
            appointments.push((id, locations.first().map(|l| l.id), a.clone()));
        }
    }

    let book = move |t: &mut Tenant| {
        for (customer_id, location_id, a) in appointments {
            let (job_id, appointment_id) = book_directly(
                t,
                customer_id,
                location_id.expect("a location for the appointment"),
                utc(&a, "start"),
                utc(&a, "end"),
                s(&a, "summary"),
                &[],
            );
            // The seed's ids and number, as the dialog's records name them.
            let (new_job, new_appt) = (i(&a, "job_id"), i(&a, "appointment_id"));
            let mut job = t.jobs.remove(&job_id).expect("job");
            let mut appt = t.appointments.remove(&appointment_id).expect("appointment");
            job.id = new_job;
            job.job_number = s(&a, "job_number").into();
            job.business_unit_id = BU_HVAC_MAINTENANCE;
            job.appointment_ids = vec![new_appt];
            job.created_on = now - Duration::days(7);
            job.modified_on = job.created_on;
            appt.id = new_appt;
            appt.job_id = new_job;
            appt.status = s(&a, "status").into();
            t.jobs.insert(new_job, job);
            t.appointments.insert(new_appt, appt);
            for tech in a["technician_ids"].as_array().unwrap_or(&Vec::new()) {
                super::jpm::assign(t, new_job, new_appt, tech.as_i64().expect("id"), now);
            }
        }
    };
    (seed, book)
}
