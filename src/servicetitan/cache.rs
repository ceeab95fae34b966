//! ServiceTitan data kept on the box for offline use: job types, business units, campaigns,
//! technicians, on-call shifts, customers by phone, capacity windows, customer details, and
//! dispatcher changes to jobs the box booked.
//!
//! Stored in its own sled database (`<data_dir>/cache`), separate from the queue: a cache can be
//! thrown away and rebuilt, the queue cannot, so they do not share a failure domain. Every cache
//! carries the time it was refreshed, so the status page can show its age and the call flow can
//! judge whether to trust it. Reads are served from memory (loaded at open), writes go to sled.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::sync::RwLock;

use super::types::{
    BusinessUnit, Campaign, CapacityResponse, Customer, JobType, StId, Technician, TechnicianShift,
};
use crate::trade::phone::{default_plan, DiallingPlan};

/// Why the cache failed (disk, corrupt entry).
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache storage: {0}")]
    Storage(String),
    #[error("cache entry {0} is unreadable: {1}")]
    Decode(String, String),
}

impl From<sled::Error> for CacheError {
    fn from(e: sled::Error) -> Self {
        CacheError::Storage(e.to_string())
    }
}

/// The caches, by name (as shown on the status page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheName {
    JobTypes,
    BusinessUnits,
    Campaigns,
    Technicians,
    OnCallShifts,
    CustomersByPhone,
    Capacity,
    /// Locations, membership and upcoming appointments per customer; stamped when a refresh
    /// pass got through every customer it had to do.
    CustomerDetails,
}

impl CacheName {
    pub const ALL: [CacheName; 8] = [
        CacheName::JobTypes,
        CacheName::BusinessUnits,
        CacheName::Campaigns,
        CacheName::Technicians,
        CacheName::OnCallShifts,
        CacheName::CustomersByPhone,
        CacheName::Capacity,
        CacheName::CustomerDetails,
    ];

    pub fn key(self) -> &'static str {
        match self {
            CacheName::JobTypes => "job_types",
            CacheName::BusinessUnits => "business_units",
            CacheName::Campaigns => "campaigns",
            CacheName::Technicians => "technicians",
            CacheName::OnCallShifts => "on_call_shifts",
            CacheName::CustomersByPhone => "customers_by_phone",
            CacheName::Capacity => "capacity",
            CacheName::CustomerDetails => "customer_details",
        }
    }
}

/// One cache's age, for status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheAge {
    pub name: CacheName,
    pub refreshed_at: Option<DateTime<Utc>>,
    pub age_secs: Option<i64>,
    pub entries: usize,
}

/// A dispatcher change to a job the box booked, seen while polling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobChange {
    pub job_id: StId,
    /// "rescheduled" or "cancelled".
    pub change: String,
    pub job_status: String,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub seen_at: DateTime<Utc>,
}

/// What the box keeps about a customer besides the CRM record, for the call flow: service
/// locations, membership, and upcoming appointments with their technicians.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomerDetails {
    #[serde(default)]
    pub locations: Vec<super::types::Location>,
    /// Has an active membership (service agreement).
    #[serde(default)]
    pub member: bool,
    #[serde(default)]
    pub appointments: Vec<CachedAppointment>,
    /// When these details were fetched; `None` for details written before this field existed.
    #[serde(default)]
    pub refreshed_at: Option<DateTime<Utc>>,
}

/// An upcoming appointment of a customer's job, UTC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedAppointment {
    pub job_id: StId,
    #[serde(default)]
    pub job_number: Option<String>,
    pub appointment_id: StId,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// "Scheduled", "Dispatched", "Working", "Canceled", …
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub technician_ids: Vec<StId>,
    #[serde(default)]
    pub summary: String,
}

#[derive(Debug, Default)]
struct Mem {
    job_types: Vec<JobType>,
    business_units: Vec<BusinessUnit>,
    campaigns: Vec<Campaign>,
    technicians: Vec<Technician>,
    shifts: Vec<TechnicianShift>,
    capacity: Option<CapacityResponse>,
    phones: HashMap<String, Vec<Customer>>,
    refreshed: HashMap<CacheName, DateTime<Utc>>,
}

/// See the module docs.
#[derive(Debug)]
pub struct StCache {
    db: sled::Db,
    lists: sled::Tree,
    phones: sled::Tree,
    meta: sled::Tree,
    changes: sled::Tree,
    details: sled::Tree,
    /// When each phone's customers were last looked up (evicted by age).
    phone_times: sled::Tree,
    mem: RwLock<Mem>,
    /// How phone numbers are keyed and compared (`shop.default_country`).
    phone_plan: &'static DiallingPlan,
}

/// What [`StCache::evict_older_than`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvictReport {
    /// Phones whose customers were not looked up again since the cut-off.
    pub customers_by_phone: usize,
    /// Capacity windows not refreshed since the cut-off.
    pub capacity: bool,
    /// Customers whose details were not refreshed since the cut-off.
    pub customer_details: usize,
    /// Appointments that ended before now, taken out of details that stay.
    pub past_appointments: usize,
    /// Dispatcher changes seen before the cut-off.
    pub job_changes: usize,
}

impl EvictReport {
    pub fn is_empty(&self) -> bool {
        *self == EvictReport::default()
    }
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, CacheError> {
    serde_json::from_slice(bytes).map_err(|e| CacheError::Decode(key.to_string(), e.to_string()))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CacheError> {
    serde_json::to_vec(value).map_err(|e| CacheError::Storage(e.to_string()))
}

impl StCache {
    /// Opens (or creates) the cache in `dir`. An unreadable entry is dropped, not fatal: it is
    /// only a cache, and the next refresh rewrites it.
    pub fn open(dir: &Path) -> Result<StCache, CacheError> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(2 * 1024 * 1024)
            .mode(sled::Mode::LowSpace)
            .open()?;
        let cache = StCache {
            lists: db.open_tree("lists")?,
            phones: db.open_tree("customers_by_phone")?,
            meta: db.open_tree("refreshed_at")?,
            changes: db.open_tree("job_changes")?,
            details: db.open_tree("customer_details")?,
            phone_times: db.open_tree("customers_by_phone_refreshed_at")?,
            db,
            mem: RwLock::new(Mem::default()),
            phone_plan: default_plan(),
        };
        cache.load();
        Ok(cache)
    }

    /// Keys and compares phone numbers by the shop's dialling plan instead of the default
    /// country's.
    pub fn with_phone_plan(mut self, plan: &'static DiallingPlan) -> StCache {
        self.phone_plan = plan;
        self
    }

    /// The dialling plan phone numbers are keyed and compared by.
    pub fn phone_plan(&self) -> &'static DiallingPlan {
        self.phone_plan
    }

    fn load(&self) {
        let mut mem = self.mem_write();
        let get = |name: CacheName| self.lists.get(name.key()).ok().flatten();
        macro_rules! load_list {
            ($field:ident, $name:expr) => {
                if let Some(v) = get($name) {
                    match decode(($name).key(), &v) {
                        Ok(items) => mem.$field = items,
                        Err(e) => tracing::warn!("{e}; dropping it"),
                    }
                }
            };
        }
        load_list!(job_types, CacheName::JobTypes);
        load_list!(business_units, CacheName::BusinessUnits);
        load_list!(campaigns, CacheName::Campaigns);
        load_list!(technicians, CacheName::Technicians);
        load_list!(shifts, CacheName::OnCallShifts);
        if let Some(v) = get(CacheName::Capacity) {
            mem.capacity = decode("capacity", &v).ok();
        }
        for (k, v) in self.phones.iter().flatten() {
            if let (Ok(key), Ok(customers)) = (
                String::from_utf8(k.to_vec()),
                decode::<Vec<Customer>>("customers_by_phone", &v),
            ) {
                mem.phones.insert(key, customers);
            }
        }
        for name in CacheName::ALL {
            if let Some(v) = self.meta.get(name.key()).ok().flatten() {
                if let Ok(t) = decode::<DateTime<Utc>>(name.key(), &v) {
                    mem.refreshed.insert(name, t);
                }
            }
        }
    }

    fn mem_read(&self) -> std::sync::RwLockReadGuard<'_, Mem> {
        self.mem.read().unwrap_or_else(|p| p.into_inner())
    }

    fn mem_write(&self) -> std::sync::RwLockWriteGuard<'_, Mem> {
        self.mem.write().unwrap_or_else(|p| p.into_inner())
    }

    fn stamp(&self, name: CacheName, now: DateTime<Utc>) -> Result<(), CacheError> {
        self.meta.insert(name.key(), encode(&now)?)?;
        self.mem_write().refreshed.insert(name, now);
        Ok(())
    }

    fn put_list<T: Serialize>(
        &self,
        name: CacheName,
        items: &T,
        now: DateTime<Utc>,
    ) -> Result<(), CacheError> {
        self.lists.insert(name.key(), encode(items)?)?;
        self.stamp(name, now)
    }

    pub fn put_job_types(&self, v: Vec<JobType>, now: DateTime<Utc>) -> Result<(), CacheError> {
        self.put_list(CacheName::JobTypes, &v, now)?;
        self.mem_write().job_types = v;
        Ok(())
    }

    pub fn put_business_units(
        &self,
        v: Vec<BusinessUnit>,
        now: DateTime<Utc>,
    ) -> Result<(), CacheError> {
        self.put_list(CacheName::BusinessUnits, &v, now)?;
        self.mem_write().business_units = v;
        Ok(())
    }

    pub fn put_campaigns(&self, v: Vec<Campaign>, now: DateTime<Utc>) -> Result<(), CacheError> {
        self.put_list(CacheName::Campaigns, &v, now)?;
        self.mem_write().campaigns = v;
        Ok(())
    }

    pub fn put_technicians(
        &self,
        v: Vec<Technician>,
        now: DateTime<Utc>,
    ) -> Result<(), CacheError> {
        self.put_list(CacheName::Technicians, &v, now)?;
        self.mem_write().technicians = v;
        Ok(())
    }

    pub fn put_on_call_shifts(
        &self,
        v: Vec<TechnicianShift>,
        now: DateTime<Utc>,
    ) -> Result<(), CacheError> {
        self.put_list(CacheName::OnCallShifts, &v, now)?;
        self.mem_write().shifts = v;
        Ok(())
    }

    pub fn put_capacity(&self, v: CapacityResponse, now: DateTime<Utc>) -> Result<(), CacheError> {
        self.put_list(CacheName::Capacity, &v, now)?;
        self.mem_write().capacity = Some(v);
        Ok(())
    }

    /// Remembers who calls from `phone` (verified customers; empty = known new caller).
    pub fn put_customers_for_phone(
        &self,
        phone: &str,
        customers: Vec<Customer>,
        now: DateTime<Utc>,
    ) -> Result<(), CacheError> {
        let Some(key) = self.phone_plan.servicetitan_key(phone) else {
            return Ok(());
        };
        self.phones.insert(key.as_bytes(), encode(&customers)?)?;
        self.phone_times.insert(key.as_bytes(), encode(&now)?)?;
        self.mem_write().phones.insert(key, customers);
        self.stamp(CacheName::CustomersByPhone, now)
    }

    /// Writes the cache to disk (after a refresh round; it is not worth a flush per entry).
    pub async fn flush(&self) -> Result<(), CacheError> {
        self.db.flush_async().await?;
        Ok(())
    }

    pub fn job_types(&self) -> Vec<JobType> {
        self.mem_read().job_types.clone()
    }

    pub fn job_type(&self, id: StId) -> Option<JobType> {
        self.mem_read()
            .job_types
            .iter()
            .find(|j| j.id == id)
            .cloned()
    }

    pub fn business_units(&self) -> Vec<BusinessUnit> {
        self.mem_read().business_units.clone()
    }

    pub fn campaigns(&self) -> Vec<Campaign> {
        self.mem_read().campaigns.clone()
    }

    pub fn technicians(&self) -> Vec<Technician> {
        self.mem_read().technicians.clone()
    }

    pub fn capacity(&self) -> Option<CapacityResponse> {
        self.mem_read().capacity.clone()
    }

    /// Active campaign whose tracking numbers include the dialled number.
    pub fn campaign_for_number(&self, dialled: &str) -> Option<StId> {
        self.mem_read()
            .campaigns
            .iter()
            .filter(|c| c.active)
            .find(|c| {
                c.campaign_phone_numbers
                    .iter()
                    .any(|n| self.phone_plan.same_number(n, dialled))
            })
            .map(|c| c.id)
    }

    /// The tenant's default campaign.
    pub fn default_campaign(&self) -> Option<StId> {
        self.mem_read()
            .campaigns
            .iter()
            .find(|c| c.active && c.is_default_campaign)
            .map(|c| c.id)
    }

    /// The technician on call at `at` (the shift covering it that started last).
    /// The active on-call shifts that have not ended by `at`, earliest first.
    pub fn on_call_shifts_from(&self, at: DateTime<Utc>) -> Vec<TechnicianShift> {
        let mut shifts: Vec<TechnicianShift> = self
            .mem_read()
            .shifts
            .iter()
            .filter(|s| s.active && s.shift_type == "OnCall" && s.end > at)
            .cloned()
            .collect();
        shifts.sort_by_key(|s| s.start);
        shifts
    }

    pub fn on_call_technician_at(&self, at: DateTime<Utc>) -> Option<StId> {
        self.mem_read()
            .shifts
            .iter()
            .filter(|s| s.active && s.shift_type == "OnCall" && s.start <= at && at < s.end)
            .max_by_key(|s| s.start)
            .map(|s| s.technician_id)
    }

    /// Customers last seen calling from `phone`, if looked up before.
    pub fn customers_for_phone(&self, phone: &str) -> Option<Vec<Customer>> {
        let key = self.phone_plan.servicetitan_key(phone)?;
        self.mem_read().phones.get(&key).cloned()
    }

    pub fn refreshed_at(&self, name: CacheName) -> Option<DateTime<Utc>> {
        self.mem_read().refreshed.get(&name).copied()
    }

    /// True when the cache was never filled or is older than `max_age`.
    pub fn is_stale(&self, name: CacheName, max_age: chrono::Duration, now: DateTime<Utc>) -> bool {
        self.refreshed_at(name).is_none_or(|t| now - t >= max_age)
    }

    /// Every cache's age, for the status page.
    pub fn ages(&self, now: DateTime<Utc>) -> Vec<CacheAge> {
        let mem = self.mem_read();
        CacheName::ALL
            .into_iter()
            .map(|name| {
                let refreshed_at = mem.refreshed.get(&name).copied();
                let entries = match name {
                    CacheName::JobTypes => mem.job_types.len(),
                    CacheName::BusinessUnits => mem.business_units.len(),
                    CacheName::Campaigns => mem.campaigns.len(),
                    CacheName::Technicians => mem.technicians.len(),
                    CacheName::OnCallShifts => mem.shifts.len(),
                    CacheName::CustomersByPhone => mem.phones.len(),
                    CacheName::Capacity => {
                        mem.capacity.as_ref().map_or(0, |c| c.availabilities.len())
                    }
                    CacheName::CustomerDetails => self.details.len(),
                };
                CacheAge {
                    name,
                    refreshed_at,
                    age_secs: refreshed_at.map(|t| (now - t).num_seconds().max(0)),
                    entries,
                }
            })
            .collect()
    }

    /// Remembers a customer's locations, membership and upcoming appointments.
    pub fn put_customer_details(
        &self,
        customer_id: StId,
        details: &CustomerDetails,
    ) -> Result<(), CacheError> {
        self.details
            .insert(customer_id.to_be_bytes(), encode(details)?)?;
        Ok(())
    }

    /// A customer's locations, membership and appointments, when cached.
    pub fn customer_details(&self, customer_id: StId) -> Option<CustomerDetails> {
        let v = self.details.get(customer_id.to_be_bytes()).ok().flatten()?;
        decode("customer_details", &v).ok()
    }

    /// Every customer's cached details (a few hundred at most on a shop's box).
    pub fn cached_customer_details(&self) -> HashMap<StId, CustomerDetails> {
        self.details
            .iter()
            .flatten()
            .filter_map(|(k, v)| {
                let id = StId::from_be_bytes(k.as_ref().try_into().ok()?);
                let d: CustomerDetails = decode("customer_details", &v).ok()?;
                Some((id, d))
            })
            .collect()
    }

    /// Every customer the box knows by phone (merged-away ones excluded: they are dead ends).
    pub fn customers_known_by_phone(&self) -> Vec<StId> {
        let mut ids: Vec<StId> = self
            .mem_read()
            .phones
            .values()
            .flatten()
            .filter(|c| c.merged_to_id.is_none())
            .map(|c| c.id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Marks the customer-details cache as refreshed (a pass with no backlog).
    pub fn stamp_customer_details(&self, now: DateTime<Utc>) -> Result<(), CacheError> {
        self.stamp(CacheName::CustomerDetails, now)
    }

    /// Records a dispatcher change to the job booked for `record_id`.
    pub fn put_job_change(&self, record_id: &str, change: &JobChange) -> Result<(), CacheError> {
        self.changes.insert(record_id.as_bytes(), encode(change)?)?;
        Ok(())
    }

    /// The last dispatcher change seen for the job booked for `record_id` ("your appointment
    /// was moved").
    pub fn job_change(&self, record_id: &str) -> Option<JobChange> {
        let v = self.changes.get(record_id.as_bytes()).ok().flatten()?;
        decode("job_changes", &v).ok()
    }

    /// Drops what was not refreshed since `cutoff` (customers by phone, capacity, customer
    /// details, dispatcher changes) and appointments that ended before `now`. Details without
    /// a refresh time are kept (only their past appointments go). A phone cached
    /// before its lookups were timed gets `now` as its time, so it ages from here.
    pub fn evict_older_than(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<EvictReport, CacheError> {
        let report = EvictReport {
            customers_by_phone: self.evict_phones(cutoff, now)?,
            capacity: self.evict_capacity(cutoff)?,
            job_changes: self.evict_job_changes(cutoff)?,
            ..self.evict_details(cutoff, now)?
        };
        if !report.is_empty() {
            self.db.flush()?;
        }
        Ok(report)
    }

    fn evict_phones(&self, cutoff: DateTime<Utc>, now: DateTime<Utc>) -> Result<usize, CacheError> {
        let keys: Vec<String> = self.mem_read().phones.keys().cloned().collect();
        let mut evicted = 0;
        for key in keys {
            let seen = self.phone_times.get(key.as_bytes())?;
            match seen.and_then(|v| decode::<DateTime<Utc>>("phone time", &v).ok()) {
                None => {
                    self.phone_times.insert(key.as_bytes(), encode(&now)?)?;
                }
                Some(t) if t < cutoff => {
                    self.phones.remove(key.as_bytes())?;
                    self.phone_times.remove(key.as_bytes())?;
                    self.mem_write().phones.remove(&key);
                    evicted += 1;
                }
                Some(_) => {}
            }
        }
        Ok(evicted)
    }

    fn evict_capacity(&self, cutoff: DateTime<Utc>) -> Result<bool, CacheError> {
        let name = CacheName::Capacity;
        if self.refreshed_at(name).is_none_or(|t| t >= cutoff) {
            return Ok(false);
        }
        self.lists.remove(name.key())?;
        self.meta.remove(name.key())?;
        let mut mem = self.mem_write();
        mem.capacity = None;
        mem.refreshed.remove(&name);
        Ok(true)
    }

    fn evict_details(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<EvictReport, CacheError> {
        let mut report = EvictReport::default();
        for (id, mut details) in self.cached_customer_details() {
            // Details without a time (seeded, or written before times were kept) are not
            // judged by age: the next refresh times them.
            if details.refreshed_at.is_some_and(|t| t < cutoff) {
                self.details.remove(id.to_be_bytes())?;
                report.customer_details += 1;
                continue;
            }
            let before = details.appointments.len();
            details.appointments.retain(|a| a.end >= now);
            if details.appointments.len() < before {
                report.past_appointments += before - details.appointments.len();
                self.put_customer_details(id, &details)?;
            }
        }
        Ok(report)
    }

    fn evict_job_changes(&self, cutoff: DateTime<Utc>) -> Result<usize, CacheError> {
        let mut evicted = 0;
        for item in self.changes.iter() {
            let (key, value) = item?;
            let old =
                decode::<JobChange>("job_changes", &value).map_or(true, |c| c.seen_at < cutoff);
            if old {
                self.changes.remove(key)?;
                evicted += 1;
            }
        }
        Ok(evicted)
    }

    /// When jobs were last polled for changes.
    pub fn last_change_poll(&self) -> Option<DateTime<Utc>> {
        let v = self.meta.get("last_change_poll").ok().flatten()?;
        decode("last_change_poll", &v).ok()
    }

    pub fn set_last_change_poll(&self, at: DateTime<Utc>) -> Result<(), CacheError> {
        self.meta.insert("last_change_poll", encode(&at)?)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shift(id: StId, tech: StId, kind: &str, from_h: i64, to_h: i64) -> TechnicianShift {
        let t0: DateTime<Utc> = "2026-07-01T00:00:00Z".parse().unwrap();
        TechnicianShift {
            id,
            shift_type: kind.into(),
            title: String::new(),
            active: true,
            technician_id: tech,
            start: t0 + chrono::Duration::hours(from_h),
            end: t0 + chrono::Duration::hours(to_h),
        }
    }

    #[test]
    fn survives_reopen_and_reports_ages() {
        let dir = tempfile::tempdir().unwrap();
        let now: DateTime<Utc> = "2026-07-01T12:00:00Z".parse().unwrap();
        {
            let cache = StCache::open(dir.path()).unwrap();
            cache
                .put_campaigns(
                    vec![
                        Campaign {
                            id: 1,
                            name: "Ads".into(),
                            active: true,
                            is_default_campaign: false,
                            campaign_phone_numbers: vec!["(843) 555-0100".into()],
                        },
                        Campaign {
                            id: 2,
                            name: "Default".into(),
                            active: true,
                            is_default_campaign: true,
                            campaign_phone_numbers: vec![],
                        },
                    ],
                    now,
                )
                .unwrap();
            cache
                .put_on_call_shifts(
                    vec![
                        shift(1, 42, "OnCall", 17, 32),
                        shift(2, 7, "OnCall", 30, 40),
                    ],
                    now,
                )
                .unwrap();
            cache
                .put_customers_for_phone("+18435550142", vec![], now)
                .unwrap();
            futures_lite_block_on(cache.flush()).unwrap();
        }
        let cache = StCache::open(dir.path()).unwrap();
        assert_eq!(cache.campaign_for_number("+18435550100"), Some(1));
        assert_eq!(cache.campaign_for_number("+18435559999"), None);
        assert_eq!(cache.default_campaign(), Some(2));
        let t0: DateTime<Utc> = "2026-07-01T00:00:00Z".parse().unwrap();
        assert_eq!(
            cache.on_call_technician_at(t0 + chrono::Duration::hours(20)),
            Some(42)
        );
        // Overlap: the later-starting shift wins.
        assert_eq!(
            cache.on_call_technician_at(t0 + chrono::Duration::hours(31)),
            Some(7)
        );
        assert_eq!(cache.on_call_technician_at(t0), None);
        assert_eq!(cache.customers_for_phone("843-555-0142"), Some(vec![]));
        let later = now + chrono::Duration::seconds(90);
        let ages = cache.ages(later);
        let campaigns = ages
            .iter()
            .find(|a| a.name == CacheName::Campaigns)
            .unwrap();
        assert_eq!(campaigns.age_secs, Some(90));
        assert_eq!(campaigns.entries, 2);
        let jt = ages.iter().find(|a| a.name == CacheName::JobTypes).unwrap();
        assert_eq!(jt.refreshed_at, None);
        assert!(cache.is_stale(CacheName::JobTypes, chrono::Duration::hours(1), later));
        assert!(!cache.is_stale(CacheName::Campaigns, chrono::Duration::hours(1), later));
        assert!(cache.is_stale(CacheName::Campaigns, chrono::Duration::seconds(60), later));
    }

    #[test]
    fn corrupt_entry_is_dropped_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path()).unwrap();
            db.open_tree("lists")
                .unwrap()
                .insert("job_types", &b"{not json"[..])
                .unwrap();
            db.flush().unwrap();
        }
        let cache = StCache::open(dir.path()).unwrap();
        assert!(cache.job_types().is_empty());
    }

    fn appointment(id: StId, end: DateTime<Utc>) -> CachedAppointment {
        CachedAppointment {
            job_id: id,
            job_number: None,
            appointment_id: id,
            start: end - chrono::Duration::hours(2),
            end,
            status: "Scheduled".into(),
            technician_ids: vec![],
            summary: String::new(),
        }
    }

    #[test]
    fn eviction_drops_what_was_not_refreshed_since_the_cutoff() {
        let dir = tempfile::tempdir().unwrap();
        let now: DateTime<Utc> = "2026-07-31T12:00:00Z".parse().unwrap();
        let old = now - chrono::Duration::days(40);
        let recent = now - chrono::Duration::days(2);
        let cutoff = now - chrono::Duration::days(30);
        let cache = StCache::open(dir.path()).unwrap();
        cache
            .put_customers_for_phone("+18435550142", vec![], old)
            .unwrap();
        cache
            .put_customers_for_phone("+18435550143", vec![], recent)
            .unwrap();
        let capacity = CapacityResponse {
            time_stamp: None,
            availabilities: vec![],
        };
        cache.put_capacity(capacity, old).unwrap();
        let stale = CustomerDetails {
            refreshed_at: Some(old),
            ..Default::default()
        };
        let fresh = CustomerDetails {
            refreshed_at: Some(recent),
            appointments: vec![
                appointment(1, now - chrono::Duration::days(1)),
                appointment(2, now + chrono::Duration::days(1)),
            ],
            ..Default::default()
        };
        cache.put_customer_details(10, &stale).unwrap();
        cache.put_customer_details(11, &fresh).unwrap();
        let untimed = CustomerDetails {
            appointments: vec![appointment(3, now - chrono::Duration::days(1))],
            ..Default::default()
        };
        cache.put_customer_details(12, &untimed).unwrap();
        let change = |seen_at| JobChange {
            job_id: 5,
            change: "cancelled".into(),
            job_status: "Canceled".into(),
            start: None,
            end: None,
            seen_at,
        };
        cache.put_job_change("old", &change(old)).unwrap();
        cache.put_job_change("new", &change(recent)).unwrap();

        let report = cache.evict_older_than(cutoff, now).unwrap();
        assert_eq!(
            report,
            EvictReport {
                customers_by_phone: 1,
                capacity: true,
                customer_details: 1,
                past_appointments: 2,
                job_changes: 1,
            }
        );
        assert_eq!(cache.customers_for_phone("+18435550142"), None);
        assert_eq!(cache.customers_for_phone("+18435550143"), Some(vec![]));
        assert_eq!(cache.capacity(), None);
        assert_eq!(cache.customer_details(10), None);
        let kept = cache.customer_details(11).unwrap();
        assert_eq!(kept.appointments.len(), 1);
        assert_eq!(kept.appointments[0].appointment_id, 2);
        let untimed = cache
            .customer_details(12)
            .expect("untimed details are kept");
        assert!(untimed.appointments.is_empty());
        assert!(cache.job_change("old").is_none());
        assert!(cache.job_change("new").is_some());
        // A second pass finds nothing more, and a reopened cache holds the same.
        assert!(cache.evict_older_than(cutoff, now).unwrap().is_empty());
        drop(cache);
        let cache = StCache::open(dir.path()).unwrap();
        assert_eq!(cache.customers_for_phone("+18435550142"), None);
        assert_eq!(cache.capacity(), None);
    }

    #[test]
    fn phones_cached_before_they_were_timed_age_from_the_first_pass() {
        let dir = tempfile::tempdir().unwrap();
        let now: DateTime<Utc> = "2026-07-31T12:00:00Z".parse().unwrap();
        let cache = StCache::open(dir.path()).unwrap();
        cache
            .put_customers_for_phone("+18435550142", vec![], now)
            .unwrap();
        cache.phone_times.clear().unwrap();
        let cutoff = now + chrono::Duration::days(1);
        assert_eq!(
            cache
                .evict_older_than(cutoff, now)
                .unwrap()
                .customers_by_phone,
            0
        );
        assert_eq!(cache.customers_for_phone("+18435550142"), Some(vec![]));
        let later = cutoff + chrono::Duration::seconds(1);
        let report = cache.evict_older_than(later, later).unwrap();
        assert_eq!(report.customers_by_phone, 1);
    }

    fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }
}
