//! Job Planning & Management (`/jpm/v2/tenant/{tenant}/...`): job types, jobs, notes,
//! cancellation, appointments. Shapes follow `tenant-jpm-v2.json`.

use super::crm::{custom_fields_json, external_match, CustomFieldIn, ExternalDataIn, KeyValueIn};
use super::query::{page_of, Active};
use super::schema::{self, format_stamp, format_utc, FieldErrors, PRIORITIES};
use super::state::*;
use super::{bind, Answer, ApiError, Call, Reply};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

const JOB_TYPES_LIST_PARAMS: &[&str] = &[
    "name",
    "minDuration",
    "maxDuration",
    "priority",
    "ids",
    "page",
    "pageSize",
    "includeTotal",
    "active",
    "orderBy",
    "orderByDirection",
    "createdBefore",
    "createdOnOrAfter",
    "modifiedBefore",
    "modifiedOnOrAfter",
    "externalDataApplicationGuid",
];
const JOBS_LIST_PARAMS: &[&str] = &[
    "page",
    "pageSize",
    "includeTotal",
    "ids",
    "number",
    "projectId",
    "bookingId",
    "jobStatus",
    "appointmentStatus",
    "priority",
    "firstAppointmentStartsOnOrAfter",
    "firstAppointmentStartsBefore",
    "appointmentStartsOnOrAfter",
    "appointmentStartsBefore",
    "technicianId",
    "customerId",
    "locationId",
    "soldById",
    "jobTypeId",
    "campaignId",
    "businessUnitId",
    "invoiceId",
    "createdBefore",
    "createdOnOrAfter",
    "modifiedBefore",
    "modifiedOnOrAfter",
    "completedOnOrAfter",
    "completedBefore",
    "tagTypeIds",
    "sort",
    "externalDataApplicationGuid",
    "externalDataKey",
    "externalDataValues",
    "hasUnusedAppointments",
];
const JOB_GET_PARAMS: &[&str] = &["externalDataApplicationGuid"];
const NOTES_LIST_PARAMS: &[&str] = &["page", "pageSize", "includeTotal"];
const CANCEL_REASONS_PARAMS: &[&str] = &[
    "page",
    "pageSize",
    "includeTotal",
    "active",
    "createdBefore",
    "createdOnOrAfter",
    "modifiedBefore",
    "modifiedOnOrAfter",
    "sort",
];
const APPOINTMENTS_LIST_PARAMS: &[&str] = &[
    "ids",
    "jobId",
    "projectId",
    "number",
    "status",
    "startsOnOrAfter",
    "startsBefore",
    "technicianId",
    "customerId",
    "unused",
    "modifiedBefore",
    "modifiedOnOrAfter",
    "createdOnOrAfter",
    "createdBefore",
    "page",
    "pageSize",
    "includeTotal",
    "sort",
];
const NO_PARAMS: &[&str] = &[];

// ---------------------------------------------------------------------------------------------
// Request DTOs

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AppointmentInformationIn {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    arrival_window_start: Option<DateTime<Utc>>,
    arrival_window_end: Option<DateTime<Utc>>,
    technician_ids: Option<Vec<i64>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobCreateIn {
    customer_id: i64,
    location_id: i64,
    project_id: Option<i64>,
    business_unit_id: i64,
    job_generated_lead_source: Option<Value>,
    job_type_id: i64,
    priority: String,
    campaign_id: i64,
    appointments: Vec<AppointmentInformationIn>,
    summary: Option<String>,
    custom_fields: Option<Vec<CustomFieldIn>>,
    tag_type_ids: Option<Vec<i64>>,
    external_data: Option<ExternalDataIn>,
    invoice_signature_is_required: Option<bool>,
    customer_po: Option<String>,
    sold_by_id: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExternalDataUpdateIn {
    patch_mode: Option<String>,
    application_guid: String,
    external_data: Vec<KeyValueIn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateJobIn {
    customer_id: Option<i64>,
    location_id: Option<i64>,
    business_unit_id: Option<i64>,
    job_generated_lead_source: Option<Value>,
    job_type_id: Option<i64>,
    priority: Option<String>,
    campaign_id: Option<i64>,
    summary: Option<String>,
    should_update_invoice_items: Option<bool>,
    custom_fields: Option<Vec<CustomFieldIn>>,
    tag_type_ids: Option<Vec<i64>>,
    external_data: Option<ExternalDataUpdateIn>,
    customer_po: Option<String>,
    sold_by_id: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NoteCreateIn {
    text: String,
    pin_to_top: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CancelJobIn {
    reason_id: i64,
    memo: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RescheduleIn {
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    arrival_window_start: Option<DateTime<Utc>>,
    arrival_window_end: Option<DateTime<Utc>>,
}

// ---------------------------------------------------------------------------------------------
// Rendering

fn seeded(t: &Tenant) -> String {
    format_stamp(t.seeded_on.unwrap_or_else(Utc::now))
}

/// `Jpm.V2.JobTypeResponse`; `duration` in seconds.
fn job_type_json(jt: &JobType, t: &Tenant) -> Value {
    json!({
        "id": jt.id, "name": jt.name, "businessUnitIds": jt.business_unit_ids,
        "skills": jt.skills, "tagTypeIds": jt.tag_type_ids, "priority": jt.priority,
        "duration": jt.duration, "soldThreshold": null, "class": jt.class,
        "summary": jt.summary, "noCharge": jt.no_charge,
        "enforceRecurringServiceEventSelection": false, "invoiceSignaturesRequired": false,
        "modifiedOn": seeded(t), "createdOn": seeded(t), "externalData": [], "active": jt.active,
    })
}

/// `Jpm.V2.JobResponse`.
pub fn job_json(j: &Job, guid: Option<&str>) -> Value {
    json!({
        "id": j.id,
        "jobNumber": j.job_number,
        "projectId": j.project_id,
        "customerId": j.customer_id,
        "locationId": j.location_id,
        "jobStatus": j.job_status,
        "completedOn": j.completed_on.map(format_stamp),
        "businessUnitId": j.business_unit_id,
        "jobTypeId": j.job_type_id,
        "priority": j.priority,
        "campaignId": j.campaign_id,
        "summary": j.summary,
        "customFields": custom_fields_json(&j.custom_fields),
        "appointmentCount": j.appointment_ids.len(),
        "firstAppointmentId": j.appointment_ids.first(),
        "lastAppointmentId": j.appointment_ids.last(),
        "recallForId": null,
        "warrantyId": null,
        "jobGeneratedLeadSource": j.job_generated_lead_source,
        "noCharge": j.no_charge,
        "notificationsEnabled": true,
        "createdOn": format_stamp(j.created_on),
        "createdById": API_USER_ID,
        "modifiedOn": format_stamp(j.modified_on),
        "tagTypeIds": j.tag_type_ids,
        "leadCallId": null,
        "bookingId": j.booking_id,
        "soldById": j.sold_by_id,
        "externalData": super::crm::external_json(&j.external_data, guid),
        "customerPo": j.customer_po,
        "invoiceId": j.invoice_id,
        "membershipId": null,
        "total": null,
    })
}

/// `Jpm.V2.AppointmentResponse`.
pub fn appointment_json(a: &Appointment) -> Value {
    json!({
        "id": a.id,
        "jobId": a.job_id,
        "appointmentNumber": a.appointment_number,
        "start": format_utc(a.start),
        "end": format_utc(a.end),
        "arrivalWindowStart": a.arrival_window_start.map(format_utc),
        "arrivalWindowEnd": a.arrival_window_end.map(format_utc),
        "status": a.status,
        "specialInstructions": a.special_instructions,
        "createdOn": format_stamp(a.created_on),
        "modifiedOn": format_stamp(a.modified_on),
        "customerId": a.customer_id,
        "unused": a.unused,
        "createdById": API_USER_ID,
        "isConfirmed": a.is_confirmed,
    })
}

fn note_json(n: &Note) -> Value {
    json!({
        "text": n.text, "isPinned": n.is_pinned, "createdById": n.created_by_id,
        "createdOn": format_stamp(n.created_on), "modifiedOn": format_stamp(n.modified_on),
    })
}

fn err(errors: &mut FieldErrors, key: &str, message: String) {
    errors.entry(key.to_string()).or_default().push(message);
}

fn custom_fields(fields: Option<Vec<CustomFieldIn>>) -> Vec<CustomField> {
    fields
        .unwrap_or_default()
        .into_iter()
        .map(|f| CustomField {
            type_id: f.type_id,
            name: format!("Custom field {}", f.type_id),
            value: f.value,
        })
        .collect()
}

/// The canonical spelling of a priority, if it is one of Low|Normal|High|Urgent.
fn priority(p: &str) -> Option<&'static str> {
    PRIORITIES
        .iter()
        .find(|m| m.eq_ignore_ascii_case(p.trim()))
        .copied()
}

/// Reference checks shared by create and update; job types mapped to business units only
/// book into those units (servicetitan-api.md §7.8).
fn check_references(
    t: &Tenant,
    errors: &mut FieldErrors,
    customer_id: i64,
    location_id: i64,
    business_unit_id: i64,
    job_type_id: i64,
    campaign_id: i64,
) {
    if !t.customers.get(&customer_id).is_some_and(|c| c.active) {
        err(
            errors,
            "CustomerId",
            format!("Customer with ID {customer_id} was not found."),
        );
    }
    match t.locations.get(&location_id) {
        None => err(
            errors,
            "LocationId",
            format!("Location with ID {location_id} was not found."),
        ),
        Some(l) if l.customer_id != customer_id => err(
            errors,
            "LocationId",
            format!("Location {location_id} does not belong to customer {customer_id}."),
        ),
        Some(_) => {}
    }
    if !t
        .business_units
        .get(&business_unit_id)
        .is_some_and(|b| b.active)
    {
        err(
            errors,
            "BusinessUnitId",
            format!("Business unit with ID {business_unit_id} was not found."),
        );
    }
    match t.job_types.get(&job_type_id) {
        Some(jt) if jt.active => {
            if !jt.business_unit_ids.is_empty() && !jt.business_unit_ids.contains(&business_unit_id)
            {
                err(
                    errors,
                    "JobTypeId",
                    format!("Job type {job_type_id} is not available for business unit {business_unit_id}."),
                );
            }
        }
        _ => err(
            errors,
            "JobTypeId",
            format!("Job type with ID {job_type_id} was not found."),
        ),
    }
    if !t.campaigns.get(&campaign_id).is_some_and(|c| c.active) {
        err(
            errors,
            "CampaignId",
            format!("Campaign with ID {campaign_id} was not found."),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Job types (`orderBy`/`orderByDirection`, not `sort`)

pub async fn job_types_list(call: Call) -> Reply {
    let mut q = call.query(JOB_TYPES_LIST_PARAMS);
    let paging = q.paging(call.max_page_size());
    let name = q.string("name");
    let min = q.int64("minDuration");
    let max = q.int64("maxDuration");
    let prio = q.string("priority");
    let ids = q.ids("ids");
    let active = q.active(Active::True);
    let order_by = q.one_of("orderBy", &["id", "modifiedOn", "createdOn"]);
    let direction = q.one_of(
        "orderByDirection",
        &["asc", "ascending", "desc", "descending"],
    );
    let _dates = q.date_filters();
    let _guid = q.string("externalDataApplicationGuid");
    let ignored = q.finish()?;
    let s = call.server.lock();
    let t = &s.tenant;
    let items = t
        .job_types
        .values()
        .filter(|jt| active.admits(jt.active))
        .filter(|jt| ids.as_ref().is_none_or(|ids| ids.contains(&jt.id)))
        .filter(|jt| {
            name.as_ref()
                .is_none_or(|n| jt.name.to_lowercase().contains(&n.to_lowercase()))
        })
        .filter(|jt| min.is_none_or(|m| jt.duration >= m))
        .filter(|jt| max.is_none_or(|m| jt.duration <= m))
        .filter(|jt| {
            prio.as_ref()
                .is_none_or(|p| jt.priority.eq_ignore_ascii_case(p))
        })
        .map(|jt| job_type_json(jt, t))
        .collect();
    let sort = order_by.map(|f| {
        let field = if f == "id" { "Id" } else { f };
        (field, direction.is_some_and(|d| d.starts_with("desc")))
    });
    Ok(Answer::json(page_of(items, paging, sort), ignored))
}

pub async fn job_types_get(call: Call) -> Reply {
    let id = call.id("id")?;
    let mut q = call.query(&["externalDataApplicationGuid"]);
    let _ = q.string("externalDataApplicationGuid");
    let ignored = q.finish()?;
    let s = call.server.lock();
    let jt = s
        .tenant
        .job_types
        .get(&id)
        .ok_or_else(|| ApiError::not_found("Job type"))?;
    Ok(Answer::json(job_type_json(jt, &s.tenant), ignored))
}

// ---------------------------------------------------------------------------------------------
// Jobs

/// `POST /jobs` → 200 `JobResponse`. Validates every reference, the job-type/business-unit
/// mapping, the appointments (at least one; end after start), and books the appointments —
/// which uses up capacity.
pub async fn jobs_create(call: Call) -> Reply {
    let v = call.json(&schema::JOB_CREATE_REQUEST)?;
    let body: JobCreateIn = bind(&v)?;
    let now = call.now;
    let mut errors = FieldErrors::new();
    let prio = priority(&body.priority);
    if prio.is_none() {
        err(
            &mut errors,
            "Priority",
            format!(
                "'{}' is not a valid priority (Low, Normal, High, Urgent).",
                body.priority
            ),
        );
    }
    if body.appointments.is_empty() {
        err(
            &mut errors,
            "Appointments",
            "A job must have at least one appointment.".into(),
        );
    }
    let mut s = call.server.lock();
    let t = &mut s.tenant;
    check_references(
        t,
        &mut errors,
        body.customer_id,
        body.location_id,
        body.business_unit_id,
        body.job_type_id,
        body.campaign_id,
    );
    for (i, a) in body.appointments.iter().enumerate() {
        if a.end <= a.start {
            err(
                &mut errors,
                &format!("Appointments[{i}].End"),
                "End must be after start.".into(),
            );
        }
        if let (Some(ws), Some(we)) = (a.arrival_window_start, a.arrival_window_end) {
            if we <= ws {
                err(
                    &mut errors,
                    &format!("Appointments[{i}].ArrivalWindowEnd"),
                    "Arrival window end must be after arrival window start.".into(),
                );
            }
        }
        for tech in a.technician_ids.iter().flatten() {
            if !t.technicians.get(tech).is_some_and(|x| x.active) {
                err(
                    &mut errors,
                    &format!("Appointments[{i}].TechnicianIds"),
                    format!("Technician with ID {tech} was not found."),
                );
            }
        }
    }
    if let Some(e) = &body.external_data {
        for (i, kv) in e.external_data.iter().enumerate() {
            if kv.key.trim().is_empty() {
                err(
                    &mut errors,
                    &format!("ExternalData.ExternalData[{i}].Key"),
                    "The Key field is required.".into(),
                );
            }
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }

    let job_type = t.job_types[&body.job_type_id].clone();
    let job_id = next(&mut t.ids.job);
    let job_number = next(&mut t.ids.job_number).to_string();
    let mut appointment_ids = Vec::new();
    for (n, a) in body.appointments.iter().enumerate() {
        let id = next(&mut t.ids.appointment);
        t.appointments.insert(
            id,
            Appointment {
                id,
                job_id,
                appointment_number: format!("{job_number}-{}", n + 1),
                start: a.start,
                end: a.end,
                arrival_window_start: a.arrival_window_start,
                arrival_window_end: a.arrival_window_end,
                status: "Scheduled".into(),
                special_instructions: None,
                created_on: now,
                modified_on: now,
                customer_id: body.customer_id,
                unused: false,
                is_confirmed: false,
            },
        );
        for tech in a.technician_ids.iter().flatten() {
            assign(t, job_id, id, *tech, now);
        }
        appointment_ids.push(id);
    }
    // "Tags here will automatically be applied to jobs booked" (JobTypeResponse.tagTypeIds).
    let mut tags = body.tag_type_ids.unwrap_or_default();
    for tag in &job_type.tag_type_ids {
        if !tags.contains(tag) {
            tags.push(*tag);
        }
    }
    let guid = body
        .external_data
        .as_ref()
        .map(|e| e.application_guid.clone());
    let invoice_id = next(&mut t.ids.invoice);
    let job = Job {
        id: job_id,
        job_number,
        customer_id: body.customer_id,
        location_id: body.location_id,
        project_id: body.project_id,
        job_status: "Scheduled".into(),
        completed_on: None,
        business_unit_id: body.business_unit_id,
        job_type_id: body.job_type_id,
        priority: prio.unwrap_or("Normal").to_string(),
        campaign_id: body.campaign_id,
        summary: body.summary,
        custom_fields: custom_fields(body.custom_fields),
        appointment_ids,
        job_generated_lead_source: body.job_generated_lead_source,
        no_charge: job_type.no_charge,
        created_on: now,
        modified_on: now,
        tag_type_ids: tags,
        booking_id: None,
        sold_by_id: body.sold_by_id,
        external_data: body.external_data.map(|e| e.entries()).unwrap_or_default(),
        customer_po: body.customer_po,
        invoice_id,
        invoice_signature_is_required: body.invoice_signature_is_required,
        cancellation: None,
    };
    let out = job_json(&job, guid.as_deref());
    t.jobs.insert(job_id, job);
    Ok(Answer::json(out, v.ignored))
}

/// Records an active assignment of `tech` to the appointment (once).
pub fn assign(t: &mut Tenant, job_id: i64, appointment_id: i64, tech: i64, now: DateTime<Utc>) {
    let already = t
        .assignments
        .values()
        .any(|a| a.appointment_id == appointment_id && a.technician_id == tech && a.active);
    if already {
        return;
    }
    let id = next(&mut t.ids.assignment);
    let name = t
        .technicians
        .get(&tech)
        .map(|x| x.name.clone())
        .unwrap_or_default();
    t.assignments.insert(
        id,
        Assignment {
            id,
            technician_id: tech,
            technician_name: name,
            assigned_by_id: API_USER_ID,
            assigned_on: now,
            status: "Scheduled".into(),
            job_id,
            appointment_id,
            modified_on: now,
            active: true,
        },
    );
}

pub async fn jobs_list(call: Call) -> Reply {
    let mut q = call.query(JOBS_LIST_PARAMS);
    let paging = q.paging(call.max_page_size());
    let ids = q.ids("ids");
    let number = q.string("number");
    let booking_id = q.int64("bookingId");
    let job_status = q.one_of("jobStatus", schema::JOB_STATUSES);
    let appointment_status = q.one_of("appointmentStatus", schema::APPOINTMENT_STATUSES);
    let prio = q.one_of("priority", PRIORITIES);
    let first_after = q.datetime("firstAppointmentStartsOnOrAfter");
    let first_before = q.datetime("firstAppointmentStartsBefore");
    let any_after = q.datetime("appointmentStartsOnOrAfter");
    let any_before = q.datetime("appointmentStartsBefore");
    let technician_id = q.int64("technicianId");
    let customer_id = q.int64("customerId");
    let location_id = q.int64("locationId");
    let job_type_id = q.int64("jobTypeId");
    let campaign_id = q.int64("campaignId");
    let business_unit_id = q.int64("businessUnitId");
    let dates = q.date_filters();
    let sort = q.sort(&["Id", "ModifiedOn", "CreatedOn", "Priority"]);
    let ext = q.external_data();
    let ignored = q.finish()?;

    let s = call.server.lock();
    let t = &s.tenant;
    let items = t
        .jobs
        .values()
        .filter(|j| ids.as_ref().is_none_or(|ids| ids.contains(&j.id)))
        .filter(|j| number.as_ref().is_none_or(|n| *n == j.job_number))
        .filter(|j| booking_id.is_none_or(|b| j.booking_id == Some(b)))
        .filter(|j| job_status.is_none_or(|st| j.job_status == st))
        .filter(|j| prio.is_none_or(|p| j.priority == p))
        .filter(|j| customer_id.is_none_or(|c| j.customer_id == c))
        .filter(|j| location_id.is_none_or(|c| j.location_id == c))
        .filter(|j| job_type_id.is_none_or(|c| j.job_type_id == c))
        .filter(|j| campaign_id.is_none_or(|c| j.campaign_id == c))
        .filter(|j| business_unit_id.is_none_or(|c| j.business_unit_id == c))
        .filter(|j| dates.admits(j.created_on, j.modified_on))
        .filter(|j| {
            let first = j
                .appointment_ids
                .first()
                .and_then(|id| t.appointments.get(id));
            first_after.is_none_or(|x| first.is_some_and(|a| a.start >= x))
                && first_before.is_none_or(|x| first.is_some_and(|a| a.start < x))
        })
        .filter(|j| {
            let appts: Vec<&Appointment> = j
                .appointment_ids
                .iter()
                .filter_map(|id| t.appointments.get(id))
                .collect();
            (any_after.is_none() && any_before.is_none()
                || appts.iter().any(|a| {
                    any_after.is_none_or(|x| a.start >= x) && any_before.is_none_or(|x| a.start < x)
                }))
                && appointment_status.is_none_or(|st| appts.iter().any(|a| a.status == st))
        })
        .filter(|j| {
            technician_id.is_none_or(|tech| {
                t.assignments
                    .values()
                    .any(|a| a.job_id == j.id && a.technician_id == tech && a.active)
            })
        })
        .filter(|j| {
            ext.lookup.as_ref().is_none_or(|(k, vs)| {
                external_match(&j.external_data, ext.guid.as_deref().unwrap_or(""), k, vs)
            })
        })
        .map(|j| job_json(j, ext.guid.as_deref()))
        .collect();
    Ok(Answer::json(page_of(items, paging, sort), ignored))
}

pub async fn jobs_get(call: Call) -> Reply {
    let id = call.id("id")?;
    let mut q = call.query(JOB_GET_PARAMS);
    let ext = q.external_data();
    let ignored = q.finish()?;
    let s = call.server.lock();
    let j = s
        .tenant
        .jobs
        .get(&id)
        .ok_or_else(|| ApiError::not_found("Job"))?;
    Ok(Answer::json(job_json(j, ext.guid.as_deref()), ignored))
}

/// `PATCH /jobs/{id}`: every field optional; `customFields` and `tagTypeIds` replace the
/// whole list; `externalData` replaces this GUID's keys unless `patchMode: "Merge"`.
pub async fn jobs_update(call: Call) -> Reply {
    let id = call.id("id")?;
    let v = call.json(&schema::UPDATE_JOB_REQUEST)?;
    let body: UpdateJobIn = bind(&v)?;
    let now = call.now;
    let mut s = call.server.lock();
    let t = &mut s.tenant;
    let job = t
        .jobs
        .get(&id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("Job"))?;
    let mut errors = FieldErrors::new();
    let prio = match &body.priority {
        Some(p) => match priority(p) {
            Some(p) => Some(p),
            None => {
                err(
                    &mut errors,
                    "Priority",
                    format!("'{p}' is not a valid priority (Low, Normal, High, Urgent)."),
                );
                None
            }
        },
        None => None,
    };
    let customer_id = body.customer_id.unwrap_or(job.customer_id);
    let location_id = body.location_id.unwrap_or(job.location_id);
    let business_unit_id = body.business_unit_id.unwrap_or(job.business_unit_id);
    let job_type_id = body.job_type_id.unwrap_or(job.job_type_id);
    let campaign_id = body.campaign_id.unwrap_or(job.campaign_id);
    check_references(
        t,
        &mut errors,
        customer_id,
        location_id,
        business_unit_id,
        job_type_id,
        campaign_id,
    );
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let _ = body.should_update_invoice_items;
    let guid = body
        .external_data
        .as_ref()
        .map(|e| e.application_guid.clone());
    let j = t.jobs.get_mut(&id).expect("job exists");
    j.customer_id = customer_id;
    j.location_id = location_id;
    j.business_unit_id = business_unit_id;
    j.job_type_id = job_type_id;
    j.campaign_id = campaign_id;
    if let Some(p) = prio {
        j.priority = p.to_string();
    }
    if body.summary.is_some() {
        j.summary = body.summary;
    }
    if body.job_generated_lead_source.is_some() {
        j.job_generated_lead_source = body.job_generated_lead_source;
    }
    if let Some(cf) = body.custom_fields {
        j.custom_fields = custom_fields(Some(cf));
    }
    if let Some(tags) = body.tag_type_ids {
        j.tag_type_ids = tags;
    }
    if body.customer_po.is_some() {
        j.customer_po = body.customer_po;
    }
    if body.sold_by_id.is_some() {
        j.sold_by_id = body.sold_by_id;
    }
    if let Some(e) = body.external_data {
        let merge = e.patch_mode.as_deref() == Some("Merge");
        let g = e.application_guid.clone();
        if !merge {
            j.external_data
                .retain(|x| !x.application_guid.eq_ignore_ascii_case(&g));
        }
        for kv in e.external_data {
            j.external_data
                .retain(|x| !(x.application_guid.eq_ignore_ascii_case(&g) && x.key == kv.key));
            if let Some(value) = kv.value {
                j.external_data.push(ExternalDataEntry {
                    application_guid: g.clone(),
                    key: kv.key,
                    value,
                });
            }
        }
    }
    j.modified_on = now;
    Ok(Answer::json(job_json(j, guid.as_deref()), v.ignored))
}

pub async fn notes_create(call: Call) -> Reply {
    let id = call.id("id")?;
    let v = call.json(&schema::JOB_NOTE_CREATE_REQUEST)?;
    let body: NoteCreateIn = bind(&v)?;
    let now = call.now;
    let mut s = call.server.lock();
    let t = &mut s.tenant;
    if !t.jobs.contains_key(&id) {
        return Err(ApiError::not_found("Job"));
    }
    let note = Note {
        job_id: id,
        text: body.text,
        is_pinned: body.pin_to_top.unwrap_or(false),
        created_by_id: API_USER_ID,
        created_on: now,
        modified_on: now,
    };
    let out = note_json(&note);
    t.notes.push(note);
    Ok(Answer::json(out, v.ignored))
}

pub async fn notes_list(call: Call) -> Reply {
    let id = call.id("id")?;
    let mut q = call.query(NOTES_LIST_PARAMS);
    let paging = q.paging(call.max_page_size());
    let ignored = q.finish()?;
    let s = call.server.lock();
    if !s.tenant.jobs.contains_key(&id) {
        return Err(ApiError::not_found("Job"));
    }
    let items = s
        .tenant
        .notes
        .iter()
        .filter(|n| n.job_id == id)
        .map(note_json)
        .collect();
    Ok(Answer::json(page_of(items, paging, None), ignored))
}

/// `PUT /jobs/{id}/cancel` `{reasonId, memo}` → 200, empty body. Jobs cannot be deleted,
/// only canceled; the appointments are canceled with the job and free their capacity.
pub async fn jobs_cancel(call: Call) -> Reply {
    let id = call.id("id")?;
    let v = call.json(&schema::CANCEL_JOB_REQUEST)?;
    let body: CancelJobIn = bind(&v)?;
    let now = call.now;
    let mut s = call.server.lock();
    let t = &mut s.tenant;
    let Some(job) = t.jobs.get(&id) else {
        return Err(ApiError::not_found("Job"));
    };
    if !t
        .cancel_reasons
        .get(&body.reason_id)
        .is_some_and(|r| r.active)
    {
        return Err(ApiError::field(
            "ReasonId",
            format!(
                "Job cancel reason with ID {} was not found.",
                body.reason_id
            ),
        ));
    }
    match job.job_status.as_str() {
        "Canceled" => return Err(ApiError::field("JobId", "The job is already canceled.")),
        "Completed" => {
            return Err(ApiError::field(
                "JobId",
                "A completed job cannot be canceled.",
            ))
        }
        _ => {}
    }
    let appointment_ids = job.appointment_ids.clone();
    let j = t.jobs.get_mut(&id).expect("job exists");
    j.job_status = "Canceled".into();
    j.modified_on = now;
    j.cancellation = Some(Cancellation {
        reason_id: body.reason_id,
        memo: body.memo,
        canceled_on: now,
    });
    for a in appointment_ids {
        if let Some(a) = t.appointments.get_mut(&a) {
            a.status = "Canceled".into();
            a.modified_on = now;
        }
    }
    Ok(Answer::empty(v.ignored))
}

/// Note: this list returns active **and** inactive reasons by default (unlike most lists).
pub async fn cancel_reasons_list(call: Call) -> Reply {
    let mut q = call.query(CANCEL_REASONS_PARAMS);
    let paging = q.paging(call.max_page_size());
    let active = q.active(Active::Any);
    let _dates = q.date_filters();
    let sort = q.sort(&["Id", "ModifiedOn", "CreatedOn"]);
    let ignored = q.finish()?;
    let s = call.server.lock();
    let t = &s.tenant;
    let items = t
        .cancel_reasons
        .values()
        .filter(|r| active.admits(r.active))
        .map(|r| {
            json!({
                "id": r.id, "name": r.name, "active": r.active,
                "createdOn": seeded(t), "modifiedOn": seeded(t),
            })
        })
        .collect();
    Ok(Answer::json(page_of(items, paging, sort), ignored))
}

// ---------------------------------------------------------------------------------------------
// Appointments

pub async fn appointments_list(call: Call) -> Reply {
    let mut q = call.query(APPOINTMENTS_LIST_PARAMS);
    let paging = q.paging(call.max_page_size());
    let ids = q.ids("ids");
    let job_id = q.int64("jobId");
    let number = q.string("number");
    let status = q.one_of("status", schema::APPOINTMENT_STATUSES);
    let starts_on_or_after = q.datetime("startsOnOrAfter");
    let starts_before = q.datetime("startsBefore");
    let technician_id = q.int64("technicianId");
    let customer_id = q.int64("customerId");
    let unused = q.boolean("unused");
    let dates = q.date_filters();
    let sort = q.sort(&["Id", "ModifiedOn", "CreatedOn"]);
    let ignored = q.finish()?;
    let s = call.server.lock();
    let t = &s.tenant;
    let items = t
        .appointments
        .values()
        .filter(|a| ids.as_ref().is_none_or(|ids| ids.contains(&a.id)))
        .filter(|a| job_id.is_none_or(|j| a.job_id == j))
        .filter(|a| number.as_ref().is_none_or(|n| *n == a.appointment_number))
        .filter(|a| status.is_none_or(|st| a.status == st))
        .filter(|a| starts_on_or_after.is_none_or(|x| a.start >= x))
        .filter(|a| starts_before.is_none_or(|x| a.start < x))
        .filter(|a| customer_id.is_none_or(|c| a.customer_id == c))
        .filter(|a| unused.is_none_or(|u| a.unused == u))
        .filter(|a| dates.admits(a.created_on, a.modified_on))
        .filter(|a| {
            technician_id.is_none_or(|tech| {
                t.assignments
                    .values()
                    .any(|x| x.appointment_id == a.id && x.technician_id == tech && x.active)
            })
        })
        .map(appointment_json)
        .collect();
    Ok(Answer::json(page_of(items, paging, sort), ignored))
}

pub async fn appointments_get(call: Call) -> Reply {
    let id = call.id("id")?;
    let ignored = call.query(NO_PARAMS).finish()?;
    let s = call.server.lock();
    let a = s
        .tenant
        .appointments
        .get(&id)
        .ok_or_else(|| ApiError::not_found("Appointment"))?;
    Ok(Answer::json(appointment_json(a), ignored))
}

/// `PATCH /appointments/{id}/reschedule` → `AppointmentResponse`; 404 unknown, 409 when the
/// job is canceled or completed (or the appointment is done or canceled).
pub async fn appointments_reschedule(call: Call) -> Reply {
    let id = call.id("id")?;
    let v = call.json(&schema::APPOINTMENT_RESCHEDULE_REQUEST)?;
    let body: RescheduleIn = bind(&v)?;
    let now = call.now;
    let mut s = call.server.lock();
    let t = &mut s.tenant;
    let Some(a) = t.appointments.get(&id).cloned() else {
        return Err(ApiError::not_found("Appointment"));
    };
    let job_status = t
        .jobs
        .get(&a.job_id)
        .map(|j| j.job_status.clone())
        .unwrap_or_default();
    if matches!(job_status.as_str(), "Canceled" | "Completed")
        || matches!(a.status.as_str(), "Done" | "Canceled")
    {
        return Err(ApiError::conflict(&format!(
            "Appointment {id} cannot be rescheduled: the job is {job_status}."
        )));
    }
    let start = body.start.unwrap_or(a.start);
    let end = body.end.unwrap_or(a.end);
    if end <= start {
        return Err(ApiError::field("End", "End must be after start."));
    }
    let ws = body.arrival_window_start.or(a.arrival_window_start);
    let we = body.arrival_window_end.or(a.arrival_window_end);
    if let (Some(ws), Some(we)) = (ws, we) {
        if we <= ws {
            return Err(ApiError::field(
                "ArrivalWindowEnd",
                "Arrival window end must be after arrival window start.",
            ));
        }
    }
    let a = t.appointments.get_mut(&id).expect("appointment exists");
    a.start = start;
    a.end = end;
    a.arrival_window_start = ws;
    a.arrival_window_end = we;
    a.modified_on = now;
    let out = appointment_json(a);
    if let Some(j) = t.jobs.get_mut(&out["jobId"].as_i64().unwrap_or_default()) {
        j.modified_on = now;
    }
    Ok(Answer::json(out, v.ignored))
}
