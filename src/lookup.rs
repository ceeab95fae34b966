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
use crate::queue::{Address, Urgency};
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

/// Customers, locations, memberships and appointments from the cache.
#[derive(Debug, Clone)]
pub struct CacheLookups {
    pub cache: Arc<StCache>,
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
                        })
                    })
                    .collect();
                if locations.is_empty() {
                    if let Some(a) = &c.address {
                        locations.push(ServiceLocation {
                            id: None,
                            address: address(a),
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
}

impl Appointments for CacheLookups {
    fn upcoming(
        &self,
        customer_id: Option<i64>,
        _phone_e164: Option<&str>,
        now: DateTime<Utc>,
    ) -> Vec<Appointment> {
        let Some(details) = customer_id.and_then(|id| self.cache.customer_details(id)) else {
            return Vec::new();
        };
        let technicians = self.cache.technicians();
        let mut out: Vec<Appointment> = details
            .appointments
            .iter()
            .filter(|a| a.end > now && !a.status.eq_ignore_ascii_case("canceled"))
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
        out.sort_by_key(|a| a.start_utc);
        out
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
                let slots: Vec<Slot> = if fresh {
                    self.cache
                        .capacity()
                        .map(|c| c.availabilities)
                        .unwrap_or_default()
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
                if slots.is_empty() {
                    self.fallback.offer(urgency, after, now, count)
                } else {
                    OfferedSchedule { slots, live: true }
                }
            }
        }
    }
}
