//! The dialog's lookups served from the box's ServiceTitan cache. Lives outside `dialog` so the
//! dialog never imports `servicetitan` (data flows one way); `app` and `simulate` hand these to
//! the engine as its [`Sources`](crate::dialog::engine::Sources).

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use std::sync::Arc;

use crate::dialog::schedule::{
    to_local, ConfiguredSchedule, OfferedSchedule, ScheduleSource, Slot,
};
use crate::dialog::sources::ServiceLocation;
use crate::dialog::sources::{Appointment, Appointments, CustomerDirectory, KnownCustomer};
use crate::queue::{Address, ListFilter, Outbox, Payload, Record, RecordId, RecordState, Urgency};
use crate::servicetitan::cache::{CacheName, StCache};
use crate::servicetitan::types;

fn address(a: &types::Address) -> Address {
    Address {
        street: a.street.clone(),
        unit: a.unit.clone(),
        city: a.city.clone(),
        state: a.state.clone(),
        zip: a.zip.clone(),
        country: a.country.clone(),
    }
}

/// Who is on call, for the alert dispatcher: the cached ServiceTitan on-call shift and its
/// technician's name and phone.
#[derive(Debug, Clone)]
pub struct CacheOnCall {
    pub cache: Arc<StCache>,
}

impl crate::alert::OnCallDirectory for CacheOnCall {
    fn on_call_at(&self, at: DateTime<Utc>) -> Option<crate::alert::OnCallTech> {
        let id = self.cache.on_call_technician_at(at)?;
        let tech = self.cache.technicians().into_iter().find(|t| t.id == id);
        Some(crate::alert::OnCallTech {
            // A shift whose technician is not cached still says someone is on call.
            name: tech
                .as_ref()
                .map(|t| t.name.clone())
                .unwrap_or_else(|| format!("technician #{id}")),
            phone: tech
                .and_then(|t| t.phone_number)
                .filter(|p| !p.trim().is_empty()),
            source: "servicetitan",
        })
    }
}

/// Customers, locations, memberships and appointments from the cache, plus what the box's
/// own queue knows and ServiceTitan does not yet (bookings, moves and cancellations made on
/// earlier calls that the sync has not carried, or carried after the cache was refreshed).
#[derive(Debug, Clone)]
pub struct CacheLookups {
    pub cache: Arc<StCache>,
    /// `None` when the box has no queue to look at (tests, tools).
    pub outbox: Option<Outbox>,
}

impl CustomerDirectory for CacheLookups {
    fn by_phone(&self, phone_e164: &str) -> Vec<KnownCustomer> {
        self.cache
            .customers_for_phone(phone_e164)
            .unwrap_or_default()
            .into_iter()
            // A merged customer lives on under its new id; the old one is a dead end.
            .filter(|c| c.merged_to_id.is_none())
            .map(|c| {
                let details = self.cache.customer_details(c.id).unwrap_or_default();
                let mut locations: Vec<ServiceLocation> = details
                    .locations
                    .iter()
                    .filter(|l| l.active)
                    .filter_map(|l| {
                        l.address.as_ref().map(|a| ServiceLocation {
                            id: Some(l.id),
                            address: address(a),
                            name: l.name.clone(),
                        })
                    })
                    .collect();
                if locations.is_empty() {
                    if let Some(a) = &c.address {
                        locations.push(ServiceLocation {
                            id: None,
                            address: address(a),
                            name: String::new(),
                        });
                    }
                }
                KnownCustomer {
                    id: c.id,
                    name: c.name,
                    locations,
                    member: details.member,
                }
            })
            .collect()
    }

    fn addresses_in_city(&self, city: &str) -> Vec<Address> {
        self.cached_addresses_in(city)
    }
}

impl CacheLookups {
    /// Active service locations in `city` among the cached customers' details.
    fn cached_addresses_in(&self, city: &str) -> Vec<Address> {
        self.cache
            .cached_customer_details()
            .into_values()
            .flat_map(|d| d.locations)
            .filter(|l| l.active)
            .filter_map(|l| l.address.as_ref().map(address))
            .filter(|a| a.city.trim().eq_ignore_ascii_case(city.trim()))
            .collect()
    }
}

impl Appointments for CacheLookups {
    fn upcoming(
        &self,
        customer_id: Option<i64>,
        phone_e164: Option<&str>,
        now: DateTime<Utc>,
    ) -> Vec<Appointment> {
        let details = customer_id.and_then(|id| self.cache.customer_details(id));
        let technicians = self.cache.technicians();
        let mut out: Vec<Appointment> = details
            .iter()
            .flat_map(|d| d.appointments.iter())
            .filter(|a| !a.status.eq_ignore_ascii_case("canceled"))
            .map(|a| Appointment {
                job_id: Some(a.job_id),
                job_number: a.job_number.clone(),
                appointment_id: Some(a.appointment_id),
                queue_ref: None,
                start_utc: a.start,
                end_utc: a.end,
                technician: a.technician_ids.iter().find_map(|id| {
                    technicians
                        .iter()
                        .find(|t| t.id == *id)
                        .and_then(|t| t.name.split_whitespace().next().map(String::from))
                }),
                summary: a.summary.clone(),
            })
            .collect();
        if let Some(outbox) = &self.outbox {
            let refreshed_at = details.as_ref().and_then(|d| d.refreshed_at);
            match outbox.list(&ListFilter::default()) {
                Ok(records) => {
                    let pending: Vec<&Record> = records
                        .iter()
                        .filter(|r| newer_than_cache(r, refreshed_at))
                        .collect();
                    self.add_queued_jobs(&mut out, &pending, customer_id, phone_e164);
                    apply_queued_changes(&mut out, &pending);
                }
                // The caller still hears what ServiceTitan knows.
                Err(e) => tracing::warn!("queue unreadable for appointment lookup: {e}"),
            }
        }
        out.retain(|a| a.end_utc > now);
        out.sort_by_key(|a| a.start_utc);
        out
    }
}

/// Whether a record says something the cached details may not show yet: not carried to
/// ServiceTitan yet, or carried after the customer's details were last fetched. Refused
/// records (needs-attention) are the office's to settle and promise nothing.
fn newer_than_cache(record: &Record, refreshed_at: Option<DateTime<Utc>>) -> bool {
    match record.state {
        RecordState::Queued | RecordState::Syncing => true,
        RecordState::Synced => match (record.synced_at, refreshed_at) {
            (Some(synced), Some(refreshed)) => synced > refreshed,
            _ => refreshed_at.is_none(),
        },
        RecordState::NeedsAttention { .. } => false,
    }
}

impl CacheLookups {
    /// Jobs this caller booked on earlier calls that the cache does not show yet.
    fn add_queued_jobs(
        &self,
        out: &mut Vec<Appointment>,
        pending: &[&Record],
        customer_id: Option<i64>,
        phone_e164: Option<&str>,
    ) {
        for record in pending {
            let Payload::Job(job) = &record.payload else {
                continue;
            };
            let same_caller = phone_e164.is_some_and(|p| {
                [&job.caller.phone_e164, &job.caller.callback_phone_e164]
                    .into_iter()
                    .flatten()
                    .any(|n| self.cache.phone_plan().same_number(n, p))
            }) || (customer_id.is_some()
                && [job.known_customer_id, record.progress.customer_id].contains(&customer_id));
            let job_id = record.progress.job_id;
            if !same_caller || job_id.is_some_and(|j| out.iter().any(|a| a.job_id == Some(j))) {
                continue;
            }
            let (mut start, mut end) = (job.appointment.start_utc, job.appointment.end_utc);
            // A dispatcher may have moved or canceled it since it was booked.
            if let Some(change) = self.cache.job_change(record.id.as_str()) {
                if change.change == "cancelled" {
                    continue;
                }
                if let (Some(s), Some(e)) = (change.start, change.end) {
                    (start, end) = (s, e);
                }
            }
            out.push(Appointment {
                job_id,
                job_number: record.progress.job_number.clone(),
                appointment_id: record.progress.appointment_id,
                queue_ref: Some(record.id.clone()),
                start_utc: start,
                end_utc: end,
                technician: None,
                summary: job.problem_summary.clone(),
            });
        }
    }
}

/// Moves and cancellations the caller asked for on earlier calls, not yet in the cache.
fn apply_queued_changes(out: &mut Vec<Appointment>, pending: &[&Record]) {
    let names = |a: &Appointment,
                 job_id: Option<i64>,
                 job_number: &Option<String>,
                 appointment_id: Option<i64>,
                 queue_ref: &Option<RecordId>| {
        (job_id.is_some() && a.job_id == job_id)
            || (appointment_id.is_some() && a.appointment_id == appointment_id)
            || (job_number.is_some() && a.job_number == *job_number)
            || (queue_ref.is_some() && a.queue_ref == *queue_ref)
    };
    for record in pending {
        match &record.payload {
            Payload::Cancellation(c) => {
                out.retain(|a| !names(a, c.job_id, &c.job_number, None, &c.queue_ref));
            }
            Payload::Reschedule(r) => {
                for a in out
                    .iter_mut()
                    .filter(|a| names(a, r.job_id, &r.job_number, r.appointment_id, &r.queue_ref))
                {
                    a.start_utc = r.new_window.start_utc;
                    a.end_utc = r.new_window.end_utc;
                }
            }
            _ => {}
        }
    }
}

/// Windows from cached capacity while it is fresh; the configured schedule otherwise.
#[derive(Debug, Clone)]
pub struct CacheSchedule {
    pub cache: Arc<StCache>,
    pub fallback: ConfiguredSchedule,
    pub timezone: Tz,
    pub max_age: Duration,
    /// Treat the cache as unreachable (simulate `--offline`).
    pub offline: bool,
}

impl ScheduleSource for CacheSchedule {
    fn offer(
        &self,
        urgency: Urgency,
        after: DateTime<Utc>,
        now: DateTime<Utc>,
        count: usize,
    ) -> OfferedSchedule {
        let fresh = !self.offline && !self.cache.is_stale(CacheName::Capacity, self.max_age, now);
        match urgency {
            Urgency::Emergency => {
                let mut o = self.fallback.offer(urgency, after, now, count);
                // Tonight's windows are real when an on-call technician is on shift for them.
                o.live = fresh
                    && !o.slots.is_empty()
                    && o.slots
                        .iter()
                        .all(|s| self.cache.on_call_technician_at(s.start_utc).is_some());
                o
            }
            Urgency::Routine => {
                let today = to_local(self.timezone, now).date();
                let frames = if fresh {
                    self.cache
                        .capacity()
                        .map(|c| c.availabilities)
                        .unwrap_or_default()
                } else {
                    Vec::new()
                };
                // Issue 16: what ServiceTitan's capacity covers is the truth up to its last
                // frame: nothing there is never filled with configured windows (they could
                // overlap frames it marks unavailable). Only past that horizon are configured
                // windows offered, and then as unconfirmed (the office confirms).
                let horizon = frames.iter().map(|a| a.end_utc).max();
                let slots: Vec<Slot> = if fresh {
                    frames
                        .into_iter()
                        .filter(|a| a.is_available && a.open_availability > 0.0)
                        .filter(|a| {
                            a.start_utc >= after
                                && to_local(self.timezone, a.start_utc).date() > today
                        })
                        .map(|a| Slot {
                            start_utc: a.start_utc,
                            end_utc: a.end_utc,
                        })
                        .take(count)
                        .collect()
                } else {
                    Vec::new()
                };
                match horizon {
                    _ if !slots.is_empty() => OfferedSchedule { slots, live: true },
                    Some(horizon) => self.fallback.offer(urgency, after.max(horizon), now, count),
                    None => self.fallback.offer(urgency, after, now, count),
                }
            }
        }
    }
}
