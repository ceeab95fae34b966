//! What the test server remembers: the tenant's records (created by the client or seeded by the
//! test) and the reference data. Every type here is public so tests can inspect it.
//!
//! IDs of different record kinds come from different ranges (customers 10…, locations 20…,
//! jobs 30…, appointments 40…, contacts 50…), so a client that passes a customer ID where a
//! location ID belongs gets "not found" instead of a lucky match.

use chrono::{DateTime, NaiveTime, Utc};
use std::collections::BTreeMap;

/// The user the API application acts as (`createdById`, `assignedById`).
pub const API_USER_ID: i64 = 99_000_001;

#[derive(Clone, Debug, PartialEq)]
pub struct Address {
    pub street: String,
    pub unit: Option<String>,
    pub city: String,
    pub state: String,
    pub zip: String,
    pub country: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

impl Address {
    pub fn new(street: &str, city: &str, state: &str, zip: &str) -> Self {
        Address {
            street: street.into(),
            unit: None,
            city: city.into(),
            state: state.into(),
            zip: zip.into(),
            country: "USA".into(),
            latitude: None,
            longitude: None,
        }
    }
}

/// A customer or location contact (`Crm.V2.Customers.CustomerContact`).
#[derive(Clone, Debug, PartialEq)]
pub struct Contact {
    pub id: i64,
    /// `Phone | Email | Fax | MobilePhone`.
    pub contact_type: String,
    pub value: String,
    pub memo: Option<String>,
    pub created_on: DateTime<Utc>,
    pub modified_on: DateTime<Utc>,
}

/// One `{key, value}` stored under the application GUID that wrote it.
#[derive(Clone, Debug, PartialEq)]
pub struct ExternalDataEntry {
    pub application_guid: String,
    pub key: String,
    pub value: String,
}

/// Filters `entries` to the ones visible to `guid` ("items created with a specific guid can be
/// fetched only when the same application guid is provided").
pub fn external_data_for(
    entries: &[ExternalDataEntry],
    guid: Option<&str>,
) -> Vec<(String, String)> {
    match guid {
        None => Vec::new(),
        Some(g) => entries
            .iter()
            .filter(|e| e.application_guid.eq_ignore_ascii_case(g))
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect(),
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct CustomField {
    pub type_id: i64,
    pub name: String,
    pub value: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Customer {
    pub id: i64,
    pub active: bool,
    pub name: String,
    /// `Residential | Commercial`.
    pub customer_type: String,
    pub address: Address,
    pub contacts: Vec<Contact>,
    pub custom_fields: Vec<CustomField>,
    pub tag_type_ids: Vec<i64>,
    pub do_not_mail: bool,
    pub do_not_service: bool,
    pub balance: f64,
    pub created_on: DateTime<Utc>,
    pub modified_on: DateTime<Utc>,
    pub external_data: Vec<ExternalDataEntry>,
}

#[derive(Clone, Debug)]
pub struct Location {
    pub id: i64,
    pub customer_id: i64,
    pub active: bool,
    pub name: String,
    pub address: Address,
    pub contacts: Vec<Contact>,
    pub custom_fields: Vec<CustomField>,
    pub tag_type_ids: Vec<i64>,
    pub zone_id: Option<i64>,
    pub created_on: DateTime<Utc>,
    pub modified_on: DateTime<Utc>,
    pub external_data: Vec<ExternalDataEntry>,
}

#[derive(Clone, Debug)]
pub struct Cancellation {
    pub reason_id: i64,
    pub memo: String,
    pub canceled_on: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct Job {
    pub id: i64,
    pub job_number: String,
    pub customer_id: i64,
    pub location_id: i64,
    pub project_id: Option<i64>,
    /// `Scheduled | Dispatched | InProgress | Hold | Completed | Canceled`.
    pub job_status: String,
    pub completed_on: Option<DateTime<Utc>>,
    pub business_unit_id: i64,
    pub job_type_id: i64,
    pub priority: String,
    pub campaign_id: i64,
    pub summary: Option<String>,
    pub custom_fields: Vec<CustomField>,
    /// In creation order; the first is `firstAppointmentId`.
    pub appointment_ids: Vec<i64>,
    pub job_generated_lead_source: Option<serde_json::Value>,
    pub no_charge: bool,
    pub created_on: DateTime<Utc>,
    pub modified_on: DateTime<Utc>,
    pub tag_type_ids: Vec<i64>,
    pub booking_id: Option<i64>,
    pub sold_by_id: Option<i64>,
    pub external_data: Vec<ExternalDataEntry>,
    pub customer_po: Option<String>,
    pub invoice_id: i64,
    pub invoice_signature_is_required: Option<bool>,
    pub cancellation: Option<Cancellation>,
}

impl Job {
    /// The value stored under `key` (any application GUID), if this job carries it.
    pub fn external_value(&self, key: &str) -> Option<&str> {
        self.external_data
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.value.as_str())
    }
}

#[derive(Clone, Debug)]
pub struct Appointment {
    pub id: i64,
    pub job_id: i64,
    pub appointment_number: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub arrival_window_start: Option<DateTime<Utc>>,
    pub arrival_window_end: Option<DateTime<Utc>>,
    /// `Scheduled | Dispatched | Working | Hold | Done | Canceled`.
    pub status: String,
    pub special_instructions: Option<String>,
    pub created_on: DateTime<Utc>,
    pub modified_on: DateTime<Utc>,
    pub customer_id: i64,
    pub unused: bool,
    pub is_confirmed: bool,
}

#[derive(Clone, Debug)]
pub struct Note {
    pub job_id: i64,
    pub text: String,
    pub is_pinned: bool,
    pub created_by_id: i64,
    pub created_on: DateTime<Utc>,
    pub modified_on: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct Assignment {
    pub id: i64,
    pub technician_id: i64,
    pub technician_name: String,
    pub assigned_by_id: i64,
    pub assigned_on: DateTime<Utc>,
    pub status: String,
    pub job_id: i64,
    pub appointment_id: i64,
    pub modified_on: DateTime<Utc>,
    pub active: bool,
}

#[derive(Clone, Debug)]
pub struct Lead {
    pub id: i64,
    pub status: String,
    pub customer_id: Option<i64>,
    pub location_id: Option<i64>,
    pub business_unit_id: Option<i64>,
    pub job_type_id: Option<i64>,
    pub priority: String,
    pub campaign_id: i64,
    pub summary: String,
    pub call_reason_id: Option<i64>,
    pub follow_up_date: Option<DateTime<Utc>>,
    pub tag_type_ids: Vec<i64>,
    pub created_on: DateTime<Utc>,
    pub modified_on: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct Booking {
    pub id: i64,
    pub booking_provider_id: i64,
    pub source: String,
    pub name: String,
    pub address: Option<Address>,
    /// `(type, value, memo)`.
    pub contacts: Vec<(String, String, Option<String>)>,
    pub customer_type: Option<String>,
    pub start: Option<DateTime<Utc>>,
    pub summary: String,
    pub campaign_id: Option<i64>,
    pub business_unit_id: Option<i64>,
    pub job_type_id: Option<i64>,
    pub priority: Option<String>,
    pub is_first_time_client: bool,
    pub uploaded_images: Vec<String>,
    pub is_send_confirmation_email: Option<bool>,
    /// `New | Converted | Dismissed | Accepted`.
    pub status: String,
    pub job_id: Option<i64>,
    pub external_id: String,
    pub created_on: DateTime<Utc>,
    pub modified_on: DateTime<Utc>,
}

/// A customer membership (service agreement), `Memberships.V2.CustomerMembershipResponse`.
#[derive(Clone, Debug)]
pub struct Membership {
    pub id: i64,
    pub customer_id: i64,
    pub location_id: Option<i64>,
    pub membership_type_id: i64,
    pub business_unit_id: i64,
    /// `Active | Suspended | Expired | Canceled | Deleted`.
    pub status: String,
    pub active: bool,
    /// `OneTime | Monthly | EveryOtherMonth | Quarterly | BiAnnual | Annual`.
    pub billing_frequency: String,
    pub duration_months: Option<i64>,
    pub from: DateTime<Utc>,
    pub to: Option<DateTime<Utc>>,
    pub created_on: DateTime<Utc>,
    pub modified_on: DateTime<Utc>,
}

// ---------------------------------------------------------------------------------------------
// Reference data (seeded by tests)

#[derive(Clone, Debug)]
pub struct BusinessUnit {
    pub id: i64,
    pub name: String,
    pub official_name: Option<String>,
    pub active: bool,
    pub phone_number: Option<String>,
    pub email: Option<String>,
}

#[derive(Clone, Debug)]
pub struct JobType {
    pub id: i64,
    pub name: String,
    /// When not empty, jobs of this type may only be booked into these business units.
    pub business_unit_ids: Vec<i64>,
    pub skills: Vec<String>,
    pub tag_type_ids: Vec<i64>,
    pub priority: String,
    /// Seconds (the job-type filters `minDuration`/`maxDuration` are documented in seconds).
    pub duration: i64,
    pub class: String,
    pub summary: String,
    pub no_charge: bool,
    pub active: bool,
}

#[derive(Clone, Debug)]
pub struct Campaign {
    pub id: i64,
    pub name: String,
    pub active: bool,
    pub is_default_campaign: bool,
    /// The dialled numbers (DNIS) that map to this campaign, any formatting.
    pub campaign_phone_numbers: Vec<String>,
    pub category: Option<(i64, String)>,
    pub source: Option<String>,
    pub medium: Option<String>,
    pub business_unit_id: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct Technician {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub business_unit_id: Option<i64>,
    pub phone_number: Option<String>,
    pub email: Option<String>,
    /// Not in `TechnicianResponse`; drives `hasRequiredSkills` in capacity answers.
    pub skills: Vec<String>,
    pub team: Option<String>,
    pub active: bool,
}

#[derive(Clone, Debug)]
pub struct TechnicianShift {
    pub id: i64,
    pub technician_id: i64,
    /// `Normal | OnCall | TimeOff`.
    pub shift_type: String,
    pub title: String,
    pub note: Option<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub active: bool,
}

/// An arrival window in tenant-local wall time (`{start: "08:00:00", duration: "04:00:00"}`).
#[derive(Clone, Debug)]
pub struct ArrivalWindow {
    pub id: i64,
    pub start: NaiveTime,
    pub duration_minutes: i64,
    pub business_unit_ids: Vec<i64>,
    pub active: bool,
}

/// `Dispatch.V2.BusinessHourModel`: hour ranges per day kind.
#[derive(Clone, Debug, Default)]
pub struct BusinessHours {
    pub weekdays: Vec<(i32, i32)>,
    pub saturday: Vec<(i32, i32)>,
    pub sunday: Vec<(i32, i32)>,
}

#[derive(Clone, Debug)]
pub struct CallReason {
    pub id: i64,
    pub name: String,
    pub is_lead: bool,
    pub active: bool,
}

#[derive(Clone, Debug)]
pub struct CancelReason {
    pub id: i64,
    pub name: String,
    pub active: bool,
}

/// A customer as a test seeds it: one call makes the customer, its contacts and locations.
#[derive(Clone, Debug)]
pub struct SeedCustomer {
    pub id: i64,
    pub name: String,
    pub customer_type: String,
    pub address: Address,
    /// `(type, value)`, e.g. `("MobilePhone", "(843) 260-9814")`.
    pub contacts: Vec<(String, String)>,
    pub locations: Vec<SeedLocation>,
    pub active: bool,
    /// `(applicationGuid, key, value)`.
    pub external_data: Vec<(String, String, String)>,
}

#[derive(Clone, Debug)]
pub struct SeedLocation {
    pub id: i64,
    pub name: String,
    pub address: Address,
}

/// Reference data and pre-existing records. `StServer::seed` adds them (IDs as given).
#[derive(Clone, Debug, Default)]
pub struct Seed {
    pub business_units: Vec<BusinessUnit>,
    pub job_types: Vec<JobType>,
    pub campaigns: Vec<Campaign>,
    pub technicians: Vec<Technician>,
    pub technician_shifts: Vec<TechnicianShift>,
    pub arrival_windows: Vec<ArrivalWindow>,
    pub business_hours: Option<BusinessHours>,
    pub customers: Vec<SeedCustomer>,
    pub call_reasons: Vec<CallReason>,
    pub cancel_reasons: Vec<CancelReason>,
    /// Booking provider IDs the tenant has set up (Settings → Integrations → Booking Provider Tags).
    pub booking_providers: Vec<i64>,
    pub memberships: Vec<Membership>,
}

/// The tenant's whole state.
#[derive(Debug, Default)]
pub struct Tenant {
    pub customers: BTreeMap<i64, Customer>,
    pub locations: BTreeMap<i64, Location>,
    pub jobs: BTreeMap<i64, Job>,
    pub appointments: BTreeMap<i64, Appointment>,
    pub notes: Vec<Note>,
    pub assignments: BTreeMap<i64, Assignment>,
    pub leads: BTreeMap<i64, Lead>,
    pub bookings: BTreeMap<i64, Booking>,
    pub business_units: BTreeMap<i64, BusinessUnit>,
    pub job_types: BTreeMap<i64, JobType>,
    pub campaigns: BTreeMap<i64, Campaign>,
    pub technicians: BTreeMap<i64, Technician>,
    pub technician_shifts: BTreeMap<i64, TechnicianShift>,
    pub arrival_windows: BTreeMap<i64, ArrivalWindow>,
    pub business_hours: BusinessHours,
    pub call_reasons: BTreeMap<i64, CallReason>,
    pub cancel_reasons: BTreeMap<i64, CancelReason>,
    pub booking_providers: Vec<i64>,
    pub memberships: BTreeMap<i64, Membership>,
    pub ids: IdCounters,
    /// When reference data was seeded (its `createdOn`/`modifiedOn`).
    pub seeded_on: Option<DateTime<Utc>>,
}

#[derive(Debug)]
pub struct IdCounters {
    pub customer: i64,
    pub location: i64,
    pub job: i64,
    pub job_number: i64,
    pub appointment: i64,
    pub contact: i64,
    pub assignment: i64,
    pub lead: i64,
    pub booking: i64,
    pub invoice: i64,
}

impl Default for IdCounters {
    fn default() -> Self {
        IdCounters {
            customer: 10_000_001,
            location: 20_000_001,
            job: 30_000_001,
            job_number: 50_001,
            appointment: 40_000_001,
            contact: 50_000_001,
            assignment: 60_000_001,
            lead: 70_000_001,
            booking: 80_000_001,
            invoice: 90_000_001,
        }
    }
}

/// Hands out `*counter` and advances it.
pub fn next(counter: &mut i64) -> i64 {
    let id = *counter;
    *counter += 1;
    id
}

/// Digits only: how the `phone` filter compares numbers ("(843) 260-9814", "843-260-9814" and
/// "8432609814" all match one stored contact — servicetitan-api.md §2.1, live-checked).
pub fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

impl Tenant {
    pub fn apply_seed(&mut self, seed: Seed, now: DateTime<Utc>) {
        self.seeded_on.get_or_insert(now);
        for bu in seed.business_units {
            self.business_units.insert(bu.id, bu);
        }
        for jt in seed.job_types {
            self.job_types.insert(jt.id, jt);
        }
        for c in seed.campaigns {
            self.campaigns.insert(c.id, c);
        }
        for t in seed.technicians {
            self.technicians.insert(t.id, t);
        }
        for s in seed.technician_shifts {
            self.technician_shifts.insert(s.id, s);
        }
        for w in seed.arrival_windows {
            self.arrival_windows.insert(w.id, w);
        }
        if let Some(h) = seed.business_hours {
            self.business_hours = h;
        }
        for r in seed.call_reasons {
            self.call_reasons.insert(r.id, r);
        }
        for r in seed.cancel_reasons {
            self.cancel_reasons.insert(r.id, r);
        }
        self.booking_providers.extend(seed.booking_providers);
        for m in seed.memberships {
            self.memberships.insert(m.id, m);
        }
        for sc in seed.customers {
            let contacts: Vec<Contact> = sc
                .contacts
                .iter()
                .map(|(t, v)| Contact {
                    id: next(&mut self.ids.contact),
                    contact_type: t.clone(),
                    value: v.clone(),
                    memo: None,
                    created_on: now,
                    modified_on: now,
                })
                .collect();
            for sl in &sc.locations {
                self.locations.insert(
                    sl.id,
                    Location {
                        id: sl.id,
                        customer_id: sc.id,
                        active: sc.active,
                        name: sl.name.clone(),
                        address: sl.address.clone(),
                        contacts: Vec::new(),
                        custom_fields: Vec::new(),
                        tag_type_ids: Vec::new(),
                        zone_id: None,
                        created_on: now,
                        modified_on: now,
                        external_data: Vec::new(),
                    },
                );
                self.ids.location = self.ids.location.max(sl.id + 1);
            }
            self.customers.insert(
                sc.id,
                Customer {
                    id: sc.id,
                    active: sc.active,
                    name: sc.name,
                    customer_type: sc.customer_type,
                    address: sc.address,
                    contacts,
                    custom_fields: Vec::new(),
                    tag_type_ids: Vec::new(),
                    do_not_mail: false,
                    do_not_service: false,
                    balance: 0.0,
                    created_on: now,
                    modified_on: now,
                    external_data: sc
                        .external_data
                        .into_iter()
                        .map(|(g, k, v)| ExternalDataEntry {
                            application_guid: g.to_ascii_lowercase(),
                            key: k,
                            value: v,
                        })
                        .collect(),
                },
            );
            self.ids.customer = self.ids.customer.max(sc.id + 1);
        }
    }
}
