//! Request and response bodies of the ServiceTitan v2 API, as far as the box uses them.
//!
//! Field names and shapes follow ServiceTitan's OpenAPI documents (CRM, JPM, Dispatch, Settings;
//! Marketing from the 2026 reference). Responses are read leniently: fields the box does not need
//! may be absent, and unknown fields are ignored, so a tenant on a newer API version still decodes.
//! All date-times are UTC (RFC 3339).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// ServiceTitan's ids are int64.
pub type StId = i64;

/// The paging envelope every list endpoint returns.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    #[serde(default)]
    pub page: i32,
    #[serde(default)]
    pub page_size: i32,
    #[serde(default)]
    pub has_more: bool,
    /// Filled only when the request sent `includeTotal=true`.
    #[serde(default)]
    pub total_count: Option<i64>,
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
}

/// RFC 7807-style error body (`ApiErrorResponse`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApiErrorResponse {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub status: Option<i32>,
    #[serde(default)]
    pub trace_id: Option<String>,
    /// Field name → messages. Some gateways send a bare string per field; both are accepted.
    #[serde(default, deserialize_with = "de_errors")]
    pub errors: BTreeMap<String, Vec<String>>,
}

fn de_errors<'de, D>(d: D) -> Result<BTreeMap<String, Vec<String>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let raw: Option<BTreeMap<String, OneOrMany>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                OneOrMany::One(s) => vec![s],
                OneOrMany::Many(v) => v,
            };
            (k, v)
        })
        .collect())
}

/// The token endpoint's answer (client-credentials grant).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct TokenResponse {
    pub access_token: String,
    /// Seconds; 900 in the docs. Trust what is sent.
    #[serde(default = "default_expires_in")]
    pub expires_in: u64,
    #[serde(default)]
    pub token_type: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
}

fn default_expires_in() -> u64 {
    900
}

/// `{key, value}` pair stamped on records this app creates.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExternalDataItem {
    pub key: String,
    pub value: String,
}

/// `ExternalDataCreateRequest`: external data is only visible to the same application GUID.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalDataCreate {
    pub application_guid: String,
    pub external_data: Vec<ExternalDataItem>,
}

impl ExternalDataCreate {
    pub fn single(guid: &str, key: &str, value: &str) -> Self {
        ExternalDataCreate {
            application_guid: guid.to_string(),
            external_data: vec![ExternalDataItem {
                key: key.to_string(),
                value: value.to_string(),
            }],
        }
    }
}

/// True when `items` holds `key = value`.
pub fn has_external_data(items: &[ExternalDataItem], key: &str, value: &str) -> bool {
    items.iter().any(|i| i.key == key && i.value == value)
}

/// `Crm.V2.Customers.CustomerAddress`; street/city/state/zip/country are required on create.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    #[serde(default)]
    pub street: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(default)]
    pub city: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub zip: String,
    #[serde(default)]
    pub country: String,
}

/// `Crm.V2.ContactType`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum ContactType {
    Phone,
    Email,
    Fax,
    MobilePhone,
    /// Types added after the 2025 spec; kept so a new value does not fail decoding.
    #[serde(other)]
    Other,
}

/// `NewCustomerContact` / `BookingContactModel` on create.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NewContact {
    #[serde(rename = "type")]
    pub kind: ContactType,
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
}

/// A customer's contact method as returned by `/customers/contacts` or on create.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CustomerContact {
    #[serde(default)]
    pub id: StId,
    /// Present on the batch `/customers/contacts` listing.
    #[serde(default)]
    pub customer_id: Option<StId>,
    #[serde(rename = "type")]
    pub kind: ContactType,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub memo: Option<String>,
    #[serde(default)]
    pub phone_settings: Option<PhoneSettings>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PhoneSettings {
    #[serde(default)]
    pub phone_number: Option<String>,
    #[serde(default)]
    pub do_not_text: bool,
}

/// `Crm.V2.Customers.CustomerResponse`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    pub id: StId,
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub name: String,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub address: Option<Address>,
    #[serde(default)]
    pub merged_to_id: Option<StId>,
    #[serde(default)]
    pub external_data: Option<Vec<ExternalDataItem>>,
    #[serde(default)]
    pub modified_on: Option<DateTime<Utc>>,
}

/// `CreateCustomerRequest`: a customer and its first location in one call.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CreateCustomerRequest {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub address: Address,
    pub locations: Vec<NewLocation>,
    pub contacts: Vec<NewContact>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_data: Option<ExternalDataCreate>,
}

/// `NewLocation` inside a create-customer request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NewLocation {
    pub name: String,
    pub address: Address,
    pub contacts: Vec<NewContact>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_data: Option<ExternalDataCreate>,
}

/// `CreatedCustomerResponse`: the customer plus its locations, so one call yields both ids.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CreatedCustomer {
    pub id: StId,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub locations: Vec<Location>,
    #[serde(default)]
    pub contacts: Vec<CustomerContact>,
    #[serde(default)]
    pub external_data: Option<Vec<ExternalDataItem>>,
}

/// `Crm.V2.Locations.LocationResponse` (and `CreateLocationResponse`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    pub id: StId,
    pub customer_id: StId,
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub address: Option<Address>,
    #[serde(default)]
    pub zone_id: Option<StId>,
    #[serde(default)]
    pub external_data: Option<Vec<ExternalDataItem>>,
}

/// `CreateLocationRequest`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CreateLocationRequest {
    pub customer_id: StId,
    pub name: String,
    pub address: Address,
    pub contacts: Vec<NewContact>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_data: Option<ExternalDataCreate>,
}

/// One appointment of a job being created (`AppointmentInformation`), UTC.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AppointmentInformation {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arrival_window_start: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arrival_window_end: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub technician_ids: Option<Vec<StId>>,
}

/// `Jpm.V2.JobCreateRequest`; every field the spec marks required is non-optional here.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CreateJobRequest {
    pub customer_id: StId,
    pub location_id: StId,
    pub business_unit_id: StId,
    pub job_type_id: StId,
    /// `Low | Normal | High | Urgent`.
    pub priority: String,
    pub campaign_id: StId,
    pub appointments: Vec<AppointmentInformation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_data: Option<ExternalDataCreate>,
}

/// `Jpm.V2.JobResponse`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub id: StId,
    #[serde(default)]
    pub job_number: String,
    pub customer_id: StId,
    pub location_id: StId,
    /// `Scheduled | Dispatched | InProgress | Hold | Completed | Canceled`.
    #[serde(default)]
    pub job_status: String,
    #[serde(default)]
    pub business_unit_id: StId,
    #[serde(default)]
    pub job_type_id: StId,
    #[serde(default)]
    pub priority: String,
    #[serde(default)]
    pub campaign_id: StId,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub appointment_count: i64,
    #[serde(default)]
    pub first_appointment_id: Option<StId>,
    #[serde(default)]
    pub last_appointment_id: Option<StId>,
    #[serde(default)]
    pub booking_id: Option<StId>,
    #[serde(default)]
    pub created_on: Option<DateTime<Utc>>,
    #[serde(default)]
    pub modified_on: Option<DateTime<Utc>>,
    #[serde(default)]
    pub external_data: Option<Vec<ExternalDataItem>>,
    /// When the job was completed (the post-job survey's clock).
    #[serde(default)]
    pub completed_on: Option<DateTime<Utc>>,
}

/// `JobNoteCreateRequest`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CreateNoteRequest {
    pub text: String,
    pub pin_to_top: bool,
}

/// `Jpm.V2.NoteResponse` (notes have no id in the v2 API).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Note {
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub is_pinned: bool,
    #[serde(default)]
    pub created_on: Option<DateTime<Utc>>,
}

/// `Jpm.V2.AppointmentResponse`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Appointment {
    pub id: StId,
    pub job_id: StId,
    #[serde(default)]
    pub appointment_number: Option<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    #[serde(default)]
    pub arrival_window_start: Option<DateTime<Utc>>,
    #[serde(default)]
    pub arrival_window_end: Option<DateTime<Utc>>,
    /// `Scheduled | Dispatched | Working | Hold | Done | Canceled`.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub modified_on: Option<DateTime<Utc>>,
    #[serde(default)]
    pub customer_id: Option<StId>,
}

/// `Jpm.V2.AppointmentRescheduleRequest`: the new times, UTC.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RescheduleAppointmentRequest {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arrival_window_start: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arrival_window_end: Option<DateTime<Utc>>,
}

/// `Jpm.V2.CancelJobRequest` (both fields required).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CancelJobRequest {
    pub reason_id: StId,
    pub memo: String,
}

/// `Jpm.V2.JobCancelReasonResponse`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JobCancelReason {
    pub id: StId,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub active: bool,
}

/// `Memberships.V2.CustomerMembershipResponse`, the fields the box reads.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Membership {
    pub id: StId,
    pub customer_id: StId,
    #[serde(default)]
    pub location_id: Option<StId>,
    /// `Active | Suspended | Expired | Canceled | Deleted`.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub to: Option<DateTime<Utc>>,
}

/// `Jpm.V2.JobTypeResponse`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JobType {
    pub id: StId,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub business_unit_ids: Vec<StId>,
    #[serde(default)]
    pub skills: Vec<String>,
    #[serde(default)]
    pub priority: Option<String>,
    /// Seconds.
    #[serde(default)]
    pub duration: Option<i64>,
    #[serde(default)]
    pub active: bool,
}

/// `TenantSettings.V2.BusinessUnitResponse`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BusinessUnit {
    pub id: StId,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub active: bool,
}

/// Marketing campaign (2026 reference: `campaignPhoneNumbers`, `isDefaultCampaign`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Campaign {
    pub id: StId,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub is_default_campaign: bool,
    #[serde(default)]
    pub campaign_phone_numbers: Vec<String>,
}

/// `TenantSettings.V2.TechnicianResponse`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Technician {
    pub id: StId,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub business_unit_id: Option<StId>,
    #[serde(default)]
    pub phone_number: Option<String>,
    #[serde(default)]
    pub active: bool,
}

/// `Dispatch.V2.TechnicianShiftResponse`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TechnicianShift {
    pub id: StId,
    /// `Normal | OnCall | TimeOff`.
    pub shift_type: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub active: bool,
    pub technician_id: StId,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// `Dispatch.V2.AssignTechniciansRequest`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AssignTechniciansRequest {
    pub job_appointment_id: StId,
    pub technician_ids: Vec<StId>,
}

/// `Dispatch.V2.AppointmentAssignmentResponse`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AppointmentAssignment {
    #[serde(default)]
    pub id: StId,
    pub technician_id: StId,
    #[serde(default)]
    pub job_id: Option<StId>,
    pub appointment_id: StId,
    #[serde(default)]
    pub active: bool,
}

/// `Dispatch.V2.CapacityRequestArgs`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CapacityRequest {
    pub starts_on_or_after: DateTime<Utc>,
    pub ends_on_or_before: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business_unit_ids: Option<Vec<StId>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_type_id: Option<StId>,
    pub skill_based_availability: bool,
}

/// `Dispatch.V2.CapacityResponse`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CapacityResponse {
    #[serde(default)]
    pub time_stamp: Option<DateTime<Utc>>,
    #[serde(default)]
    pub availabilities: Vec<CapacityAvailability>,
}

/// One capacity frame; `start`/`end` look tenant-local, so the box books with `*_utc`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CapacityAvailability {
    pub start_utc: DateTime<Utc>,
    pub end_utc: DateTime<Utc>,
    #[serde(default)]
    pub business_unit_ids: Vec<StId>,
    /// Hours.
    #[serde(default)]
    pub total_availability: f64,
    /// Hours still bookable.
    #[serde(default)]
    pub open_availability: f64,
    #[serde(default)]
    pub is_available: bool,
}

/// `Crm.V2.CreateBookingRequest` (a call handed to a CSR instead of a booked job).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CreateBookingRequest {
    pub source: String,
    pub name: String,
    pub summary: String,
    pub is_first_time_client: bool,
    /// The box's record id: the lookup key for duplicate-free retries.
    pub external_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    pub contacts: Vec<NewContact>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<StId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business_unit_id: Option<StId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_type_id: Option<StId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
}

/// `Crm.V2.BookingResponse`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Booking {
    pub id: StId,
    #[serde(default)]
    pub external_id: String,
    /// `New | Converted | Dismissed | Accepted`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub job_id: Option<StId>,
}

/// `Crm.V2.LeadCreateRequest`: needs `callReasonId` or `followUpDate`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CreateLeadRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<StId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location_id: Option<StId>,
    pub campaign_id: StId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business_unit_id: Option<StId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_type_id: Option<StId>,
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follow_up_date: Option<DateTime<Utc>>,
}

/// `Crm.V2.LeadResponse`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Lead {
    pub id: StId,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub customer_id: Option<StId>,
    #[serde(default)]
    pub created_on: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_accepts_lists_and_strings() {
        let e: ApiErrorResponse = serde_json::from_str(
            r#"{"type":"x","title":"One or more validation errors occurred.","status":400,
               "traceId":"t1","errors":{"Ids":["too many"],"Name":"required"},"data":{}}"#,
        )
        .unwrap();
        assert_eq!(e.errors["Ids"], vec!["too many"]);
        assert_eq!(e.errors["Name"], vec!["required"]);
        assert_eq!(e.trace_id.as_deref(), Some("t1"));
        let empty: ApiErrorResponse = serde_json::from_str(r#"{"errors":null}"#).unwrap();
        assert!(empty.errors.is_empty());
    }

    #[test]
    fn job_request_uses_camel_case_and_utc() {
        let start: DateTime<Utc> = "2026-07-01T15:00:00Z".parse().unwrap();
        let req = CreateJobRequest {
            customer_id: 1,
            location_id: 2,
            business_unit_id: 3,
            job_type_id: 4,
            priority: "Normal".into(),
            campaign_id: 5,
            appointments: vec![AppointmentInformation {
                start,
                end: start + chrono::Duration::hours(2),
                arrival_window_start: None,
                arrival_window_end: None,
                technician_ids: None,
            }],
            summary: None,
            external_data: Some(ExternalDataCreate::single("g", "k", "v")),
        };
        let v = serde_json::to_value(&req).unwrap();
        assert_eq!(v["customerId"], 1);
        assert_eq!(v["appointments"][0]["start"], "2026-07-01T15:00:00Z");
        assert_eq!(v["appointments"][0]["end"], "2026-07-01T17:00:00Z");
        assert_eq!(v["externalData"]["applicationGuid"], "g");
        assert_eq!(v["externalData"]["externalData"][0]["key"], "k");
        assert!(v.get("summary").is_none());
    }

    #[test]
    fn unknown_contact_type_decodes() {
        let c: CustomerContact =
            serde_json::from_str(r#"{"id":1,"type":"Pager","value":"x"}"#).unwrap();
        assert_eq!(c.kind, ContactType::Other);
    }

    #[test]
    fn page_defaults() {
        let p: Page<BusinessUnit> =
            serde_json::from_str(r#"{"page":1,"pageSize":50,"hasMore":false,"data":[{"id":7}]}"#)
                .unwrap();
        assert_eq!(p.data[0].id, 7);
        assert_eq!(p.total_count, None);
    }
}
