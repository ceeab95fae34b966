//! A ready-made HVAC shop tenant: business units with job types mapped to them, campaigns with
//! tracking numbers and a default, technicians with day and on-call shifts, arrival windows,
//! business hours, two existing customers, call and cancel reasons, one booking provider.
//!
//! The IDs are public constants so tests can name them.

use super::state::*;
use super::StServerConfig;
use chrono::{Datelike, Duration, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};

pub const BU_HVAC_SERVICE: i64 = 1001;
pub const BU_HVAC_INSTALL: i64 = 1002;
pub const BU_PLUMBING: i64 = 1003;

/// 2 h, HVAC Service only, needs skill "HVAC".
pub const JT_NO_COOL: i64 = 2001;
/// 2 h, HVAC Service only, needs skill "HVAC".
pub const JT_NO_HEAT: i64 = 2002;
/// 1 h, any business unit (empty `businessUnitIds`), no skills.
pub const JT_MAINTENANCE: i64 = 2003;
/// 1.5 h, HVAC Install only.
pub const JT_INSTALL_ESTIMATE: i64 = 2004;
/// 2 h, Plumbing only, needs skill "Plumbing".
pub const JT_LEAK: i64 = 2005;

/// Tracking number (843) 555-0100.
pub const CAMPAIGN_GOOGLE_ADS: i64 = 3001;
pub const CAMPAIGN_GOOGLE_ADS_NUMBER: &str = "(843) 555-0100";
/// Tracking number 843-555-0111.
pub const CAMPAIGN_YARD_SIGNS: i64 = 3002;
pub const CAMPAIGN_YARD_SIGNS_NUMBER: &str = "843-555-0111";
/// `isDefaultCampaign: true`, no number.
pub const CAMPAIGN_DEFAULT: i64 = 3003;
/// Inactive: hidden by default, refused on jobs.
pub const CAMPAIGN_INACTIVE: i64 = 3004;

/// HVAC Service, skill HVAC, day shift every day.
pub const TECH_ALICE: i64 = 4001;
/// HVAC Service, skill HVAC, day shift on weekdays, on call every night 17:00–08:00.
pub const TECH_BOB: i64 = 4002;
/// Plumbing, skill Plumbing, day shift on weekdays.
pub const TECH_CARLOS: i64 = 4003;

/// Residential; mobile "(843) 260-9814"; one location.
pub const CUSTOMER_JANE: i64 = 10_000_001;
pub const CUSTOMER_JANE_PHONE: &str = "(843) 260-9814";
pub const LOCATION_JANE_HOME: i64 = 20_000_001;
/// Commercial; phone "843.555.1234" and an e-mail; two locations.
pub const CUSTOMER_ACME: i64 = 10_000_002;
pub const CUSTOMER_ACME_PHONE: &str = "843.555.1234";
pub const LOCATION_ACME_OFFICE: i64 = 20_000_002;
pub const LOCATION_ACME_WAREHOUSE: i64 = 20_000_003;

pub const CALL_REASON_NEEDS_SERVICE: i64 = 5001;
pub const CALL_REASON_PRICE_SHOPPING: i64 = 5002;
pub const CANCEL_REASON_CUSTOMER_CANCELED: i64 = 6001;
pub const CANCEL_REASON_DUPLICATE: i64 = 6002;
pub const BOOKING_PROVIDER: i64 = 7001;

/// Jane's active maintenance membership.
pub const MEMBERSHIP_JANE: i64 = 11_000_001;
/// Acme's expired one.
pub const MEMBERSHIP_ACME_EXPIRED: i64 = 11_000_002;

fn membership(
    id: i64,
    customer_id: i64,
    status: &str,
    active: bool,
    from: chrono::DateTime<Utc>,
) -> Membership {
    Membership {
        id,
        customer_id,
        location_id: None,
        membership_type_id: 12_000_001,
        business_unit_id: BU_HVAC_SERVICE,
        status: status.into(),
        active,
        billing_frequency: "Annual".into(),
        duration_months: Some(12),
        from,
        to: Some(from + Duration::days(365)),
        created_on: from,
        modified_on: from,
    }
}

/// Books a job with one appointment straight into the tenant (as a dispatcher would), with
/// `technicians` assigned. Returns (job id, appointment id).
pub fn book_directly(
    t: &mut Tenant,
    customer_id: i64,
    location_id: i64,
    start: chrono::DateTime<Utc>,
    end: chrono::DateTime<Utc>,
    summary: &str,
    technicians: &[i64],
) -> (i64, i64) {
    let now = Utc::now();
    let job_id = next(&mut t.ids.job);
    let appointment_id = next(&mut t.ids.appointment);
    let number = next(&mut t.ids.job_number);
    t.appointments.insert(
        appointment_id,
        Appointment {
            id: appointment_id,
            job_id,
            appointment_number: format!("{number}-1"),
            start,
            end,
            arrival_window_start: None,
            arrival_window_end: None,
            status: "Scheduled".into(),
            special_instructions: None,
            created_on: now,
            modified_on: now,
            customer_id,
            unused: false,
            is_confirmed: false,
        },
    );
    t.jobs.insert(
        job_id,
        Job {
            id: job_id,
            job_number: number.to_string(),
            customer_id,
            location_id,
            project_id: None,
            job_status: "Scheduled".into(),
            completed_on: None,
            business_unit_id: BU_HVAC_SERVICE,
            job_type_id: JT_MAINTENANCE,
            priority: "Normal".into(),
            campaign_id: CAMPAIGN_DEFAULT,
            summary: Some(summary.into()),
            custom_fields: Vec::new(),
            appointment_ids: vec![appointment_id],
            job_generated_lead_source: None,
            no_charge: false,
            created_on: now,
            modified_on: now,
            tag_type_ids: Vec::new(),
            booking_id: None,
            sold_by_id: None,
            external_data: Vec::new(),
            customer_po: None,
            invoice_id: next(&mut t.ids.invoice),
            invoice_signature_is_required: None,
            cancellation: None,
        },
    );
    for tech in technicians {
        super::jpm::assign(t, job_id, appointment_id, *tech, now);
    }
    (job_id, appointment_id)
}

/// 08:00–12:00 and 12:00–16:00 tenant-local, every business unit.
pub const ARRIVAL_WINDOW_MORNING: i64 = 8001;
pub const ARRIVAL_WINDOW_AFTERNOON: i64 = 8002;

/// The shop with shifts from yesterday to two weeks ahead (tenant-local days).
pub fn hvac_shop(config: &StServerConfig) -> Seed {
    let offset = FixedOffset::east_opt(config.tenant_utc_offset_minutes * 60).expect("offset");
    let today = Utc::now().with_timezone(&offset).date_naive();
    hvac_shop_on(today, config.tenant_utc_offset_minutes)
}

/// The shop with shifts from `today - 1` to `today + 14` (tenant-local), deterministic.
pub fn hvac_shop_on(today: NaiveDate, utc_offset_minutes: i32) -> Seed {
    let offset = FixedOffset::east_opt(utc_offset_minutes * 60).expect("offset");
    let at = |day: NaiveDate, h: u32| {
        offset
            .from_local_datetime(&day.and_hms_opt(h, 0, 0).expect("hour"))
            .single()
            .expect("fixed offset")
            .with_timezone(&Utc)
    };
    let mut shifts = Vec::new();
    let mut shift_id = 9_000_001;
    let mut push = |tech: i64, kind: &str, title: &str, start, end| {
        shifts.push(TechnicianShift {
            id: shift_id,
            technician_id: tech,
            shift_type: kind.into(),
            title: title.into(),
            note: None,
            start,
            end,
            active: true,
        });
        shift_id += 1;
    };
    for d in -1..=14 {
        let day = today + Duration::days(d);
        let weekday = !matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
        push(TECH_ALICE, "Normal", "Day shift", at(day, 8), at(day, 17));
        if weekday {
            push(TECH_BOB, "Normal", "Day shift", at(day, 8), at(day, 17));
            push(TECH_CARLOS, "Normal", "Day shift", at(day, 8), at(day, 17));
        }
        push(
            TECH_BOB,
            "OnCall",
            "On call",
            at(day, 17),
            at(day + Duration::days(1), 8),
        );
    }

    let unit = |id, name: &str| BusinessUnit {
        id,
        name: name.into(),
        official_name: Some(format!("Callbox Test {name}")),
        active: true,
        phone_number: Some("8435550000".into()),
        email: None,
    };
    let job_type = |id, name: &str, units: Vec<i64>, skills: &[&str], minutes: i64| JobType {
        id,
        name: name.into(),
        business_unit_ids: units,
        skills: skills.iter().map(|s| s.to_string()).collect(),
        tag_type_ids: Vec::new(),
        priority: "Normal".into(),
        duration: minutes * 60,
        class: "Service".into(),
        summary: String::new(),
        no_charge: false,
        active: true,
    };
    let campaign = |id, name: &str, numbers: &[&str], default: bool, active: bool| Campaign {
        id,
        name: name.into(),
        active,
        is_default_campaign: default,
        campaign_phone_numbers: numbers.iter().map(|s| s.to_string()).collect(),
        category: Some((1, "Marketing".into())),
        source: None,
        medium: None,
        business_unit_id: None,
    };
    let tech = |id, name: &str, bu, skill: &str, phone: &str| Technician {
        id,
        user_id: id + 100_000,
        name: name.into(),
        business_unit_id: Some(bu),
        phone_number: Some(phone.into()),
        email: None,
        skills: vec![skill.into()],
        team: Some("Field".into()),
        active: true,
    };
    Seed {
        business_units: vec![
            unit(BU_HVAC_SERVICE, "HVAC Service"),
            unit(BU_HVAC_INSTALL, "HVAC Install"),
            unit(BU_PLUMBING, "Plumbing"),
        ],
        job_types: vec![
            job_type(JT_NO_COOL, "No Cool", vec![BU_HVAC_SERVICE], &["HVAC"], 120),
            job_type(JT_NO_HEAT, "No Heat", vec![BU_HVAC_SERVICE], &["HVAC"], 120),
            job_type(JT_MAINTENANCE, "Maintenance", vec![], &[], 60),
            job_type(
                JT_INSTALL_ESTIMATE,
                "Install Estimate",
                vec![BU_HVAC_INSTALL],
                &[],
                90,
            ),
            job_type(JT_LEAK, "Leak", vec![BU_PLUMBING], &["Plumbing"], 120),
        ],
        campaigns: vec![
            campaign(
                CAMPAIGN_GOOGLE_ADS,
                "Google Ads",
                &[CAMPAIGN_GOOGLE_ADS_NUMBER],
                false,
                true,
            ),
            campaign(
                CAMPAIGN_YARD_SIGNS,
                "Yard Signs",
                &[CAMPAIGN_YARD_SIGNS_NUMBER],
                false,
                true,
            ),
            campaign(CAMPAIGN_DEFAULT, "Default", &[], true, true),
            campaign(
                CAMPAIGN_INACTIVE,
                "Old Radio Ad",
                &["8435550199"],
                false,
                false,
            ),
        ],
        technicians: vec![
            tech(
                TECH_ALICE,
                "Alice Alvarez",
                BU_HVAC_SERVICE,
                "HVAC",
                "8435550201",
            ),
            tech(TECH_BOB, "Bob Baker", BU_HVAC_SERVICE, "HVAC", "8435550202"),
            tech(
                TECH_CARLOS,
                "Carlos Cruz",
                BU_PLUMBING,
                "Plumbing",
                "8435550203",
            ),
        ],
        technician_shifts: shifts,
        arrival_windows: vec![
            ArrivalWindow {
                id: ARRIVAL_WINDOW_MORNING,
                start: NaiveTime::from_hms_opt(8, 0, 0).expect("time"),
                duration_minutes: 240,
                business_unit_ids: Vec::new(),
                active: true,
            },
            ArrivalWindow {
                id: ARRIVAL_WINDOW_AFTERNOON,
                start: NaiveTime::from_hms_opt(12, 0, 0).expect("time"),
                duration_minutes: 240,
                business_unit_ids: Vec::new(),
                active: true,
            },
        ],
        business_hours: Some(BusinessHours {
            weekdays: vec![(8, 17)],
            saturday: vec![(9, 13)],
            sunday: Vec::new(),
        }),
        customers: vec![
            SeedCustomer {
                id: CUSTOMER_JANE,
                name: "Jane Doe".into(),
                customer_type: "Residential".into(),
                address: Address::new("12 Palmetto Ln", "Charleston", "SC", "29401"),
                contacts: vec![("MobilePhone".into(), CUSTOMER_JANE_PHONE.into())],
                locations: vec![SeedLocation {
                    id: LOCATION_JANE_HOME,
                    name: "Jane Doe".into(),
                    address: Address::new("12 Palmetto Ln", "Charleston", "SC", "29401"),
                }],
                active: true,
                external_data: Vec::new(),
            },
            SeedCustomer {
                id: CUSTOMER_ACME,
                name: "Acme Storage LLC".into(),
                customer_type: "Commercial".into(),
                address: Address::new("400 King St", "Charleston", "SC", "29403"),
                contacts: vec![
                    ("Phone".into(), CUSTOMER_ACME_PHONE.into()),
                    ("Email".into(), "office@acme.example".into()),
                ],
                locations: vec![
                    SeedLocation {
                        id: LOCATION_ACME_OFFICE,
                        name: "Acme Office".into(),
                        address: Address::new("400 King St", "Charleston", "SC", "29403"),
                    },
                    SeedLocation {
                        id: LOCATION_ACME_WAREHOUSE,
                        name: "Acme Warehouse".into(),
                        address: Address::new("9 Dock Rd", "North Charleston", "SC", "29405"),
                    },
                ],
                active: true,
                external_data: Vec::new(),
            },
        ],
        call_reasons: vec![
            CallReason {
                id: CALL_REASON_NEEDS_SERVICE,
                name: "Needs service".into(),
                is_lead: true,
                active: true,
            },
            CallReason {
                id: CALL_REASON_PRICE_SHOPPING,
                name: "Price shopping".into(),
                is_lead: false,
                active: true,
            },
        ],
        cancel_reasons: vec![
            CancelReason {
                id: CANCEL_REASON_CUSTOMER_CANCELED,
                name: "Customer canceled".into(),
                active: true,
            },
            CancelReason {
                id: CANCEL_REASON_DUPLICATE,
                name: "Duplicate job".into(),
                active: true,
            },
        ],
        booking_providers: vec![BOOKING_PROVIDER],
        memberships: vec![
            membership(MEMBERSHIP_JANE, CUSTOMER_JANE, "Active", true, at(today, 9)),
            // Acme let its agreement lapse: not a member.
            membership(
                MEMBERSHIP_ACME_EXPIRED,
                CUSTOMER_ACME,
                "Expired",
                false,
                at(today - Duration::days(400), 9),
            ),
        ],
    }
}
