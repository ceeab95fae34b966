//! Dispatch (`/dispatch/v2/tenant/{tenant}/...`): capacity, technician shifts, appointment
//! assignments, arrival windows, business hours. Shapes follow `tenant-dispatch-v2.json`.

use super::query::{page_of, Active};
use super::schema::{self, format_stamp, format_utc, FieldErrors, SHIFT_TYPES};
use super::state::*;
use super::{bind, Answer, ApiError, Call, Reply};
use chrono::{DateTime, Duration, FixedOffset, NaiveDateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

const SHIFTS_LIST_PARAMS: &[&str] = &[
    "startsOnOrAfter",
    "endsOnOrBefore",
    "shiftType",
    "technicianId",
    "titleContains",
    "noteContains",
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
const ASSIGNMENTS_LIST_PARAMS: &[&str] = &[
    "ids",
    "appointmentIds",
    "jobId",
    "createdBefore",
    "createdOnOrAfter",
    "modifiedBefore",
    "modifiedOnOrAfter",
    "page",
    "pageSize",
    "includeTotal",
    "sort",
    "active",
];
const ARRIVAL_WINDOWS_PARAMS: &[&str] = &[
    "page",
    "pageSize",
    "includeTotal",
    "createdBefore",
    "createdOnOrAfter",
    "active",
];
const NO_PARAMS: &[&str] = &[];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CapacityIn {
    starts_on_or_after: DateTime<Utc>,
    ends_on_or_before: DateTime<Utc>,
    business_unit_ids: Option<Vec<i64>>,
    job_type_id: Option<i64>,
    skill_based_availability: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssignTechniciansIn {
    job_appointment_id: i64,
    technician_ids: Vec<i64>,
}

fn hours(d: Duration) -> f64 {
    d.num_seconds().max(0) as f64 / 3600.0
}

fn overlap(a0: DateTime<Utc>, a1: DateTime<Utc>, b0: DateTime<Utc>, b1: DateTime<Utc>) -> Duration {
    let start = a0.max(b0);
    let end = a1.min(b1);
    if end > start {
        end - start
    } else {
        Duration::zero()
    }
}

/// Tenant-local wall time without an offset, as capacity's `start`/`end` look next to
/// `startUtc`/`endUtc` (servicetitan-api.md §4.1, §7.5): a client that books with `start`
/// instead of `startUtc` lands hours off.
fn local_wall(t: DateTime<Utc>, offset: FixedOffset) -> String {
    t.with_timezone(&offset)
        .naive_local()
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

/// `POST /capacity` (a POST, scope `tn.dis.capacity:w`).
///
/// Frames come from the active arrival windows (tenant-local, every day in range), or from
/// business hours when no windows are set up. For each frame and the business units asked
/// about: `totalAvailability` = hours of Normal/OnCall shift (minus TimeOff) the units'
/// technicians have inside the frame — only technicians with the job type's skills when
/// `skillBasedAvailability` is true; `openAvailability` = total minus the hours of booked,
/// uncanceled appointments whose arrival window (or start) falls in the frame. Booking a job
/// therefore lowers `openAvailability`; canceling it gives the hours back.
pub async fn capacity(call: Call) -> Reply {
    let v = call.json(&schema::CAPACITY_REQUEST_ARGS)?;
    let body: CapacityIn = bind(&v)?;
    let offset = FixedOffset::east_opt(call.server.config.tenant_utc_offset_minutes * 60)
        .expect("tenant offset within a day");
    let ideal = call.server.config.ideal_booking_percentage;
    let s = call.server.lock();
    let t = &s.tenant;
    let mut errors = FieldErrors::new();
    if body.ends_on_or_before <= body.starts_on_or_after {
        errors
            .entry("EndsOnOrBefore".into())
            .or_default()
            .push("EndsOnOrBefore must be after StartsOnOrAfter.".into());
    }
    if body.ends_on_or_before - body.starts_on_or_after > Duration::days(31) {
        errors
            .entry("EndsOnOrBefore".into())
            .or_default()
            .push("The requested range cannot exceed 31 days.".into());
    }
    for id in body.business_unit_ids.iter().flatten() {
        if !t.business_units.contains_key(id) {
            errors
                .entry("BusinessUnitIds".into())
                .or_default()
                .push(format!("Business unit with ID {id} was not found."));
        }
    }
    let job_type = match body.job_type_id {
        Some(id) => match t.job_types.get(&id) {
            Some(jt) => Some(jt.clone()),
            None => {
                errors
                    .entry("JobTypeId".into())
                    .or_default()
                    .push(format!("Job type with ID {id} was not found."));
                None
            }
        },
        None => None,
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }

    let requested_units: Vec<i64> = body.business_unit_ids.clone().unwrap_or_default();
    let all_units: Vec<i64> = t
        .business_units
        .values()
        .filter(|b| b.active)
        .map(|b| b.id)
        .collect();

    // (startUtc, endUtc, units)
    let mut frames: Vec<(DateTime<Utc>, DateTime<Utc>, Vec<i64>)> = Vec::new();
    let first_day = body.starts_on_or_after.with_timezone(&offset).date_naive() - Duration::days(1);
    let last_day = body.ends_on_or_before.with_timezone(&offset).date_naive();
    let local_to_utc = |n: NaiveDateTime| {
        n.and_local_timezone(offset)
            .single()
            .expect("fixed offsets are unambiguous")
            .with_timezone(&Utc)
    };
    let mut day = first_day;
    while day <= last_day {
        let windows: Vec<&ArrivalWindow> =
            t.arrival_windows.values().filter(|w| w.active).collect();
        if !windows.is_empty() {
            for w in windows {
                let units: Vec<i64> = if !requested_units.is_empty() {
                    if !w.business_unit_ids.is_empty()
                        && !w
                            .business_unit_ids
                            .iter()
                            .any(|b| requested_units.contains(b))
                    {
                        continue;
                    }
                    requested_units.clone()
                } else if !w.business_unit_ids.is_empty() {
                    w.business_unit_ids.clone()
                } else {
                    all_units.clone()
                };
                let start = local_to_utc(day.and_time(w.start));
                frames.push((start, start + Duration::minutes(w.duration_minutes), units));
            }
        } else {
            use chrono::Datelike;
            let ranges = match day.weekday() {
                chrono::Weekday::Sat => &t.business_hours.saturday,
                chrono::Weekday::Sun => &t.business_hours.sunday,
                _ => &t.business_hours.weekdays,
            };
            for (from, to) in ranges {
                let start = local_to_utc(day.and_hms_opt(0, 0, 0).expect("midnight"))
                    + Duration::hours(*from as i64);
                let end = local_to_utc(day.and_hms_opt(0, 0, 0).expect("midnight"))
                    + Duration::hours(*to as i64);
                let units = if requested_units.is_empty() {
                    all_units.clone()
                } else {
                    requested_units.clone()
                };
                frames.push((start, end, units));
            }
        }
        day += Duration::days(1);
    }
    frames.retain(|(s0, s1, _)| *s0 >= body.starts_on_or_after && *s1 <= body.ends_on_or_before);
    frames.sort_by_key(|(s0, s1, _)| (*s0, *s1));

    let required_skills: Vec<String> = job_type
        .as_ref()
        .map(|jt| jt.skills.clone())
        .unwrap_or_default();
    let required_hours = job_type
        .as_ref()
        .map(|jt| jt.duration as f64 / 3600.0)
        .unwrap_or(0.0);
    let availabilities: Vec<Value> = frames
        .into_iter()
        .map(|(f0, f1, units)| {
            let mut total = 0.0;
            let mut technicians = Vec::new();
            for tech in t.technicians.values().filter(|x| x.active) {
                if !tech.business_unit_id.is_some_and(|b| units.contains(&b)) {
                    continue;
                }
                let mut on = Duration::zero();
                let mut off = Duration::zero();
                for sh in t
                    .technician_shifts
                    .values()
                    .filter(|sh| sh.active && sh.technician_id == tech.id)
                {
                    let o = overlap(sh.start, sh.end, f0, f1);
                    if sh.shift_type == "TimeOff" {
                        off += o;
                    } else {
                        on += o;
                    }
                }
                let has_skills = required_skills.iter().all(|sk| tech.skills.contains(sk));
                let counted = if body.skill_based_availability && !has_skills {
                    0.0
                } else {
                    hours(on - off)
                };
                total += counted;
                technicians.push(json!({
                    "id": tech.id,
                    "name": tech.name,
                    "status": if counted > 0.0 { "Available" } else { "Unavailable" },
                    "hasRequiredSkills": job_type.as_ref().map(|_| has_skills),
                }));
            }
            let booked: f64 = t
                .appointments
                .values()
                .filter(|a| a.status != "Canceled")
                .filter(|a| {
                    t.jobs.get(&a.job_id).is_some_and(|j| {
                        j.job_status != "Canceled" && units.contains(&j.business_unit_id)
                    })
                })
                .filter(|a| {
                    let anchor = a.arrival_window_start.unwrap_or(a.start);
                    anchor >= f0 && anchor < f1
                })
                .map(|a| hours(a.end - a.start))
                .sum();
            let open = (total - booked).max(0.0);
            json!({
                "start": local_wall(f0, offset),
                "end": local_wall(f1, offset),
                "startUtc": format_utc(f0),
                "endUtc": format_utc(f1),
                "businessUnitIds": units,
                "totalAvailability": total,
                "openAvailability": open,
                "technicians": technicians,
                "isAvailable": open > 0.0 && open >= required_hours,
                "isExceedingIdealBookingPercentage": total > 0.0 && booked / total > ideal,
            })
        })
        .collect();
    Ok(Answer::json(
        json!({ "timeStamp": format_stamp(call.now), "availabilities": availabilities }),
        v.ignored,
    ))
}

fn shift_json(sh: &TechnicianShift, t: &Tenant) -> Value {
    let stamp = format_stamp(t.seeded_on.unwrap_or_else(Utc::now));
    json!({
        "id": sh.id, "shiftType": sh.shift_type, "title": sh.title, "note": sh.note,
        "active": sh.active, "technicianId": sh.technician_id,
        "start": format_utc(sh.start), "end": format_utc(sh.end), "timesheetCodeId": null,
        "createdOn": stamp, "modifiedOn": stamp,
    })
}

/// `GET /technician-shifts`: `technicianId` (singular) and `endsOnOrBefore` are the real
/// filters; the plural `technicianIds` and `startsBefore` are not declared, so they are
/// silently ignored (servicetitan-api.md §4.3, live-checked) and every shift comes back.
pub async fn technician_shifts_list(call: Call) -> Reply {
    let mut q = call.query(SHIFTS_LIST_PARAMS);
    let paging = q.paging(call.max_page_size());
    let starts_on_or_after = q.datetime("startsOnOrAfter");
    let ends_on_or_before = q.datetime("endsOnOrBefore");
    let shift_type = q.one_of("shiftType", SHIFT_TYPES);
    let technician_id = q.int64("technicianId");
    let title = q.string("titleContains");
    let note = q.string("noteContains");
    let active = q.active(Active::True);
    let _dates = q.date_filters();
    let sort = q.sort(&["Id", "CreatedOn", "ModifiedOn"]);
    let ignored = q.finish()?;
    let s = call.server.lock();
    let t = &s.tenant;
    let items = t
        .technician_shifts
        .values()
        .filter(|sh| active.admits(sh.active))
        .filter(|sh| starts_on_or_after.is_none_or(|x| sh.start >= x))
        .filter(|sh| ends_on_or_before.is_none_or(|x| sh.end <= x))
        .filter(|sh| shift_type.is_none_or(|st| sh.shift_type == st))
        .filter(|sh| technician_id.is_none_or(|id| sh.technician_id == id))
        .filter(|sh| {
            title
                .as_ref()
                .is_none_or(|x| sh.title.to_lowercase().contains(&x.to_lowercase()))
        })
        .filter(|sh| {
            note.as_ref().is_none_or(|x| {
                sh.note
                    .as_deref()
                    .is_some_and(|n| n.to_lowercase().contains(&x.to_lowercase()))
            })
        })
        .map(|sh| shift_json(sh, t))
        .collect();
    Ok(Answer::json(page_of(items, paging, sort), ignored))
}

/// `Dispatch.V2.AppointmentResponse` (a smaller shape than JPM's).
fn dispatch_appointment_json(a: &Appointment) -> Value {
    json!({
        "id": a.id, "jobId": a.job_id, "appointmentNumber": a.appointment_number,
        "start": format_utc(a.start), "end": format_utc(a.end),
        "arrivalWindowStart": a.arrival_window_start.map(format_utc),
        "arrivalWindowEnd": a.arrival_window_end.map(format_utc),
        "status": a.status, "specialInstructions": a.special_instructions,
        "createdOn": format_stamp(a.created_on), "modifiedOn": format_stamp(a.modified_on),
    })
}

/// `POST /appointment-assignments/assign-technicians`; 409 when the appointment or its job
/// is finished or canceled.
pub async fn assign_technicians(call: Call) -> Reply {
    let v = call.json(&schema::ASSIGN_TECHNICIANS_REQUEST)?;
    let body: AssignTechniciansIn = bind(&v)?;
    let now = call.now;
    let mut s = call.server.lock();
    let t = &mut s.tenant;
    let Some(a) = t.appointments.get(&body.job_appointment_id).cloned() else {
        return Err(ApiError::field(
            "JobAppointmentId",
            format!(
                "Appointment with ID {} was not found.",
                body.job_appointment_id
            ),
        ));
    };
    let mut errors = FieldErrors::new();
    if body.technician_ids.is_empty() {
        errors
            .entry("TechnicianIds".into())
            .or_default()
            .push("At least one technician is required.".into());
    }
    for id in &body.technician_ids {
        if !t.technicians.get(id).is_some_and(|x| x.active) {
            errors
                .entry("TechnicianIds".into())
                .or_default()
                .push(format!("Technician with ID {id} was not found."));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let job_status = t
        .jobs
        .get(&a.job_id)
        .map(|j| j.job_status.clone())
        .unwrap_or_default();
    if matches!(job_status.as_str(), "Canceled" | "Completed")
        || matches!(a.status.as_str(), "Done" | "Canceled")
    {
        return Err(ApiError::conflict(&format!(
            "Technicians cannot be assigned to appointment {}: it is {}.",
            a.id, a.status
        )));
    }
    for tech in &body.technician_ids {
        super::jpm::assign(t, a.job_id, a.id, *tech, now);
    }
    Ok(Answer::json(dispatch_appointment_json(&a), v.ignored))
}

pub async fn assignments_list(call: Call) -> Reply {
    let mut q = call.query(ASSIGNMENTS_LIST_PARAMS);
    let paging = q.paging(call.max_page_size());
    let ids = q.ids("ids");
    let appointment_ids = q.ids("appointmentIds");
    let job_id = q.int64("jobId");
    let dates = q.date_filters();
    let sort = q.sort(&["Id", "CreatedOn", "ModifiedOn"]);
    let active = q.active(Active::True);
    let ignored = q.finish()?;
    let s = call.server.lock();
    let items = s
        .tenant
        .assignments
        .values()
        .filter(|a| active.admits(a.active))
        .filter(|a| ids.as_ref().is_none_or(|ids| ids.contains(&a.id)))
        .filter(|a| {
            appointment_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&a.appointment_id))
        })
        .filter(|a| job_id.is_none_or(|j| a.job_id == j))
        .filter(|a| dates.admits(a.assigned_on, a.modified_on))
        .map(|a| {
            json!({
                "id": a.id, "technicianId": a.technician_id, "technicianName": a.technician_name,
                "assignedById": a.assigned_by_id, "assignedOn": format_stamp(a.assigned_on),
                "status": a.status, "isPaused": false, "jobId": a.job_id,
                "appointmentId": a.appointment_id, "modifiedOn": format_stamp(a.modified_on),
                "active": a.active,
            })
        })
        .collect();
    Ok(Answer::json(page_of(items, paging, sort), ignored))
}

/// `{id, start: "08:00:00", duration: "04:00:00", businessUnitIds, active}` (TimeSpan strings).
pub async fn arrival_windows_list(call: Call) -> Reply {
    let mut q = call.query(ARRIVAL_WINDOWS_PARAMS);
    let paging = q.paging(call.max_page_size());
    let _created_before = q.datetime("createdBefore");
    let _created_on_or_after = q.datetime("createdOnOrAfter");
    let active = q.active(Active::True);
    let ignored = q.finish()?;
    let s = call.server.lock();
    let items = s
        .tenant
        .arrival_windows
        .values()
        .filter(|w| active.admits(w.active))
        .map(|w| {
            json!({
                "id": w.id,
                "start": w.start.format("%H:%M:%S").to_string(),
                "duration": format!("{:02}:{:02}:00", w.duration_minutes / 60, w.duration_minutes % 60),
                "businessUnitIds": w.business_unit_ids,
                "active": w.active,
            })
        })
        .collect();
    Ok(Answer::json(page_of(items, paging, None), ignored))
}

/// `Dispatch.V2.BusinessHourModel` (not paged).
pub async fn business_hours(call: Call) -> Reply {
    let ignored = call.query(NO_PARAMS).finish()?;
    let s = call.server.lock();
    let h = &s.tenant.business_hours;
    let ranges = |r: &Vec<(i32, i32)>| -> Value {
        r.iter()
            .map(|(f, t)| json!({ "fromHour": f, "toHour": t }))
            .collect()
    };
    Ok(Answer::json(
        json!({
            "weekdays": ranges(&h.weekdays),
            "saturday": ranges(&h.saturday),
            "sunday": ranges(&h.sunday),
        }),
        ignored,
    ))
}
