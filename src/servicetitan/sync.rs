//! The sync worker: takes due records from the queue and makes them true in ServiceTitan.
//!
//! For a job: customer (by phone, else address, else created with its location) → location →
//! job (appointment window in UTC, externalData `callboxRecordId` = record id) → note (summary
//! and transcript) → on-call technician (when the shop's policy says so). A durable checkpoint
//! follows every step, so a SIGKILL anywhere resumes at the step that was not recorded.
//!
//! **Exactly once.** A create whose answer was lost (timeout, 5xx, reset, a kill before the
//! checkpoint) may or may not have happened. So before each create the record durably notes it
//! as in doubt (`SyncProgress::in_doubt`), and the checkpoint that records its id clears it; a
//! create still in doubt on a later attempt — after a crash, a lost answer, or `callbox queue
//! retry`, which keeps it — is looked up first: customers, locations and jobs by externalData,
//! bookings by externalId, leads and notes by the record marker in their text, technicians by
//! the appointment's assignments, reschedules by the appointment's time, cancellations by the
//! job's status.
//!
//! **Failures.** ServiceTitan saying no (400) sends the record to needs-attention with its
//! message, after making a Booking or a Lead when the shop wants one. An outage (network,
//! timeouts, 5xx, 429, lost answers, credentials refused even with a fresh token) is nobody's
//! record's fault: the loop keeps the record at the head of the queue (order is kept) and
//! probes with capped, jittered back-off or the capped `Retry-After`, for as long as it lasts.
//! Other transient failures retry a few times in place, then the record gets a queue back-off
//! (counted toward needs-attention) and the worker moves on. Storage errors end a round, never
//! the loop. Every wait and timestamp comes from the worker's [`Clock`](crate::infra::clock).

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::cache::{
    CacheAge, CacheError, CacheName, CachedAppointment, CustomerDetails, JobChange, StCache,
};
use super::client::{StClient, RECORD_ID_KEY};
use super::decide::{
    after_refusal, canceled_already, job_stand_in, moved_already, next_booking_step,
    next_cancel_step, next_job_step, next_lead_step, next_note_step, next_reschedule_step,
    office_stand_in, open_appointment, queued_job, AfterFailure, AfterRefusal, Attempt, ChangeStep,
    JobStep, Lookup, QueuedJob, RetryPolicy, StandIn, Step, Tries,
};
use super::error::StError;
use super::types::{
    Address as StAddress, Appointment, AppointmentInformation, CancelJobRequest, CapacityRequest,
    ContactType, CreateBookingRequest, CreateCustomerRequest, CreateJobRequest, CreateLeadRequest,
    CreateLocationRequest, ExternalDataCreate, NewContact, NewLocation,
    RescheduleAppointmentRequest, StId,
};
use super::verify::{same_address, same_person};
use crate::infra::backoff::Backoff;
use crate::infra::clock::{SharedClock, SystemClock};
use crate::queue::CreateStep::{
    self, Booking as BookingStep, Cancel as CancelStep, Customer as CustomerStep, Lead as LeadStep,
    Location as LocationStep, Note as NoteStep, Reschedule as RescheduleStep,
    Technician as TechnicianStep,
};
use crate::queue::{
    Address, CallerInfo, CancellationRequest, JobRequest, ListFilter, Outbox, Payload, QueueCounts,
    QueueError, Record, RecordId, RecordKind, RecordState, RescheduleRequest, StateName,
    SyncProgress, Urgency,
};
use crate::servicetitan::settings::{OnCallPolicy, RejectionFallback, ServiceTitanConfig};
use crate::trade::phone::DiallingPlan;

/// What the worker needs from `[servicetitan]`, resolved.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    pub job_types: std::collections::BTreeMap<String, i64>,
    pub default_job_type_id: Option<StId>,
    pub default_business_unit_id: Option<StId>,
    pub default_campaign_id: Option<StId>,
    pub on_call: OnCallPolicy,
    pub fallback: RejectionFallback,
    pub booking_provider_id: Option<StId>,
    pub capacity_refresh: Duration,
    pub reference_refresh: Duration,
    pub poll_changes: Duration,
    /// Fetch a customer's details again after this long.
    pub details_refresh: Duration,
    /// Appointments starting within this many days feed the customer details.
    pub details_days_ahead: u32,
    /// Customers whose details one pass fetches at most (≈ 1 + 2 calls each); the rest wait
    /// for the next pass, oldest first.
    pub details_per_pass: usize,
    /// In-place retries of a record after a non-offline transient failure.
    pub inline_retries: u32,
    /// Base of the in-place back-off (doubles per try, jittered).
    pub retry_base: Duration,
    /// Longest wait between tries while offline.
    pub offline_backoff_cap: Duration,
    /// Longest `Retry-After` obeyed (`servicetitan.retry_after_cap_secs`).
    pub retry_after_cap: Duration,
}

impl SyncSettings {
    pub fn from_config(c: &ServiceTitanConfig) -> SyncSettings {
        SyncSettings {
            job_types: c.job_types.clone(),
            default_job_type_id: c.default_job_type_id,
            default_business_unit_id: c.default_business_unit_id,
            default_campaign_id: c.default_campaign_id,
            on_call: c.on_call_policy().unwrap_or(OnCallPolicy::WhenRequested),
            fallback: c.rejection_fallback().unwrap_or(RejectionFallback::None),
            booking_provider_id: c.booking_provider_id,
            capacity_refresh: Duration::from_secs(c.capacity_refresh_secs),
            reference_refresh: Duration::from_secs(c.reference_refresh_secs),
            poll_changes: Duration::from_secs(c.poll_changes_secs),
            details_refresh: Duration::from_secs(c.customer_details_refresh_secs),
            details_days_ahead: c.customer_details_days_ahead,
            details_per_pass: 25,
            inline_retries: 3,
            retry_base: Duration::from_millis(250),
            offline_backoff_cap: Duration::from_secs(60),
            retry_after_cap: Duration::from_secs(c.retry_after_cap_secs),
        }
    }
}

/// Why a sync run stopped (not why a record failed: that goes into the record).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Cache(#[from] CacheError),
}

/// Online/offline and the last outcome, for the status page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncState {
    /// `None` until the first call; then whether the last call reached ServiceTitan.
    pub online: Option<bool>,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub synced_since_start: u64,
}

/// Everything the status page shows about ServiceTitan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusSnapshot {
    pub enabled: bool,
    pub online: Option<bool>,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub queue: QueueCounts,
    pub caches: Vec<CacheAge>,
}

/// What one `sync_once` did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub synced: usize,
    pub needs_attention: usize,
    /// Records put back with a back-off.
    pub deferred: usize,
    /// The run stopped because ServiceTitan could not be reached.
    pub offline: bool,
    pub errors: Vec<String>,
}

impl RunSummary {
    /// `callbox sync --once` exits non-zero unless everything due went through.
    pub fn is_clean(&self) -> bool {
        self.needs_attention == 0 && self.deferred == 0 && !self.offline
    }
}

/// How one record's attempt ended.
enum Outcome {
    Synced(SyncProgress),
    /// ServiceTitan refused it; fallback (if any) done. Goes to needs-attention.
    Rejected(String),
    Transient(StError),
    /// The queue could not record a step: the round ends, the loop backs off and resumes.
    Storage(QueueError),
}

/// A step's failure: a refusal, a transient error, or the box's own storage.
enum StepError {
    Rejected(String),
    Transient(StError),
    Storage(QueueError),
}

impl From<StError> for StepError {
    fn from(e: StError) -> Self {
        if e.needs_attention() {
            StepError::Rejected(e.attention_message())
        } else {
            match e {
                // Credentials or scopes: every record would fail the same way; keep retrying
                // with back-off so the box recovers by itself once the admin fixes the app.
                e @ (StError::Unauthorized { .. } | StError::Forbidden { .. }) => {
                    StepError::Transient(e)
                }
                StError::Config { message } => StepError::Rejected(message),
                e => StepError::Transient(e),
            }
        }
    }
}

impl From<QueueError> for StepError {
    fn from(e: QueueError) -> Self {
        StepError::Storage(e)
    }
}

/// See the module docs.
#[derive(Clone)]
pub struct SyncWorker {
    client: StClient,
    outbox: Outbox,
    cache: Arc<StCache>,
    settings: SyncSettings,
    state: Arc<Mutex<SyncState>>,
    clock: SharedClock,
}

/// Notes that `steps` are about to be sent: from here until [`settle`] a lost answer leaves
/// them in doubt, and the next attempt looks them up first.
fn doubt(p: &mut SyncProgress, steps: &[CreateStep]) -> bool {
    let mut changed = false;
    for step in steps {
        changed |= p.in_doubt.insert(*step);
    }
    changed
}

/// ServiceTitan answered for `steps` (their ids are in the progress): no longer in doubt.
fn settle(p: &mut SyncProgress, steps: &[CreateStep]) {
    for step in steps {
        p.in_doubt.remove(step);
    }
}

/// The marked note is on the job (found or added): no longer in doubt.
fn note_made(p: &mut SyncProgress) {
    p.note_added = true;
    settle(p, &[NoteStep]);
}

fn reschedule_note_text(record: &Record, req: &RescheduleRequest, appointment_id: StId) -> String {
    let w = &req.new_window;
    format!(
        "Rescheduled at the caller's request: {} asked by phone through callbox to move \
         appointment {appointment_id} to {} to {} UTC.{}\n\n[{}]",
        caller_name(&req.caller),
        w.start_utc.format("%Y-%m-%d %H:%M"),
        w.end_utc.format("%H:%M"),
        said(&req.reason),
        marker(record.id.as_str())
    )
}

fn cancel_note_text(record: &Record, req: &CancellationRequest) -> String {
    format!(
        "Canceled at the caller's request: {} asked by phone through callbox to cancel \
         this job.{}\n\n[{}]",
        caller_name(&req.caller),
        said(&req.reason),
        marker(record.id.as_str())
    )
}

/// The job's note: summary and transcript, with the record marker a retry finds it by.
fn job_note_text(record: &Record, req: &JobRequest) -> String {
    format!(
        "Booked by phone (callbox). Confirmation {}.\nCaller: {}{}\nProblem: {}\n\nTranscript:\n{}\n\n[{}]",
        req.confirmation_number,
        caller_name(&req.caller),
        req.caller
            .best_phone()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default(),
        req.problem_summary,
        if req.transcript.trim().is_empty() {
            "(none)"
        } else {
            req.transcript.as_str()
        },
        marker(record.id.as_str())
    )
}

fn marker(record_id: &str) -> String {
    format!("callbox record {record_id}")
}

fn st_address(a: &Address) -> StAddress {
    StAddress {
        street: a.street.clone(),
        unit: a.unit.clone(),
        city: a.city.clone(),
        state: a.state.clone(),
        zip: a.zip.clone(),
        country: a.country.clone(),
    }
}

/// " Caller said: …" when they gave a reason, for notes and memos.
fn said(reason: &str) -> String {
    match reason.trim() {
        "" => String::new(),
        r => format!(" Caller said: \"{r}\"."),
    }
}

/// "job 50012" / "job id 30000001" / "their appointment", for the office's summary.
fn target_words(job_number: Option<&str>, job_id: Option<StId>) -> String {
    match (job_number, job_id) {
        (Some(n), _) => format!("job {n}"),
        (None, Some(id)) => format!("job id {id}"),
        (None, None) => "their appointment".into(),
    }
}

fn caller_name(caller: &CallerInfo) -> String {
    let name = caller.name.trim();
    if !name.is_empty() {
        return name.to_string();
    }
    match caller.best_phone() {
        Some(p) => format!("Caller {p}"),
        None => "Unknown caller".into(),
    }
}

fn phone_contacts(caller: &CallerInfo, plan: &DiallingPlan) -> Vec<NewContact> {
    let mut out = Vec::new();
    for (phone, memo) in [
        (caller.phone_e164.as_deref(), "caller ID"),
        (caller.callback_phone_e164.as_deref(), "callback number"),
    ] {
        if let Some(key) = phone.and_then(|p| plan.servicetitan_key(p)) {
            if !out.iter().any(|c: &NewContact| c.value == key) {
                out.push(NewContact {
                    kind: ContactType::MobilePhone,
                    value: key,
                    memo: Some(memo.into()),
                });
            }
        }
    }
    out
}

impl SyncWorker {
    pub fn new(
        client: StClient,
        outbox: Outbox,
        cache: Arc<StCache>,
        settings: SyncSettings,
    ) -> Self {
        SyncWorker {
            client,
            outbox,
            cache,
            settings,
            state: Arc::new(Mutex::new(SyncState::default())),
            clock: SystemClock::shared(),
        }
    }

    /// Runs the worker's waits and timestamps on `clock` (tests let hours pass in moments).
    /// The client's own waits follow the clock it was built with ([`StClient::with_clock`]).
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    pub fn client(&self) -> &StClient {
        &self.client
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    pub fn cache(&self) -> &StCache {
        &self.cache
    }

    /// The shared cache, for the call flow's lookups (`crate::lookup`).
    pub fn cache_handle(&self) -> Arc<StCache> {
        self.cache.clone()
    }

    /// Adjusts the resolved settings (tests, tools).
    pub fn with_settings(mut self, change: impl FnOnce(&mut SyncSettings)) -> Self {
        change(&mut self.settings);
        self
    }

    fn with_state<R>(&self, f: impl FnOnce(&mut SyncState) -> R) -> R {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn note_ok(&self) {
        self.with_state(|s| s.online = Some(true));
    }

    fn note_error(&self, e: &StError) {
        let now = self.clock.now_utc();
        self.with_state(|s| {
            if e.is_outage() {
                s.online = Some(false);
            } else {
                // ServiceTitan answered, so the box is online even if it said no.
                s.online = Some(true);
            }
            s.last_error = Some(e.to_string());
            s.last_error_at = Some(now);
        });
    }

    /// The status page's view.
    pub fn status(&self) -> StatusSnapshot {
        let st = self.with_state(|s| s.clone());
        StatusSnapshot {
            enabled: true,
            online: st.online,
            last_sync_at: st.last_sync_at,
            last_error: st.last_error,
            queue: self.outbox.counts(),
            caches: self.cache.ages(self.clock.now_utc()),
        }
    }

    // ---- caches -------------------------------------------------------------------------

    /// Refreshes reference data that is missing or older than the policy.
    pub async fn refresh_reference_if_stale(&self) -> Result<(), StError> {
        let now = self.clock.now_utc();
        let max_age = ChronoDuration::from_std(self.settings.reference_refresh)
            .unwrap_or(ChronoDuration::hours(1));
        let c = &self.cache;
        let cache_err = |e: CacheError| StError::Config {
            message: e.to_string(),
        };
        if c.is_stale(CacheName::JobTypes, max_age, now) {
            c.put_job_types(self.client.list_job_types().await?, now)
                .map_err(cache_err)?;
        }
        if c.is_stale(CacheName::BusinessUnits, max_age, now) {
            c.put_business_units(self.client.list_business_units().await?, now)
                .map_err(cache_err)?;
        }
        if c.is_stale(CacheName::Campaigns, max_age, now) {
            c.put_campaigns(self.client.list_campaigns().await?, now)
                .map_err(cache_err)?;
        }
        if c.is_stale(CacheName::Technicians, max_age, now) {
            c.put_technicians(self.client.list_technicians().await?, now)
                .map_err(cache_err)?;
        }
        if c.is_stale(CacheName::OnCallShifts, max_age, now) {
            let shifts = self
                .client
                .on_call_shifts(
                    now - ChronoDuration::days(1),
                    now + ChronoDuration::days(14),
                )
                .await?;
            c.put_on_call_shifts(shifts, now).map_err(cache_err)?;
        }
        c.flush().await.map_err(cache_err)?;
        self.note_ok();
        Ok(())
    }

    /// Refreshes capacity for the next two weeks when older than the policy (~60 s online).
    pub async fn refresh_capacity_if_stale(&self) -> Result<(), StError> {
        let now = self.clock.now_utc();
        let max_age = ChronoDuration::from_std(self.settings.capacity_refresh)
            .unwrap_or(ChronoDuration::seconds(60));
        if !self.cache.is_stale(CacheName::Capacity, max_age, now) {
            return Ok(());
        }
        let capacity = self
            .client
            .capacity(&CapacityRequest {
                starts_on_or_after: now,
                ends_on_or_before: now + ChronoDuration::days(14),
                business_unit_ids: None,
                job_type_id: None,
                skill_based_availability: false,
            })
            .await?;
        self.cache
            .put_capacity(capacity, now)
            .map_err(|e| StError::Config {
                message: e.to_string(),
            })?;
        self.note_ok();
        Ok(())
    }

    /// Checks jobs the box booked for dispatcher changes (rescheduled, cancelled) since the
    /// last poll, and records them for the call flow ("your appointment was moved").
    pub async fn poll_job_changes(&self) -> Result<usize, SyncError> {
        let now = self.clock.now_utc();
        let since = self
            .cache
            .last_change_poll()
            .unwrap_or(now - ChronoDuration::days(30));
        let records = self.outbox.list(&ListFilter {
            state: Some(StateName::Synced),
            kind: Some(RecordKind::Job),
            limit: None,
        })?;
        let booked: Vec<(&Record, StId, Option<StId>)> = records
            .iter()
            .filter_map(|r| Some((r, r.progress.job_id?, r.progress.appointment_id)))
            .collect();
        if booked.is_empty() {
            self.cache.set_last_change_poll(now)?;
            return Ok(0);
        }
        let ids: Vec<StId> = booked.iter().map(|(_, j, _)| *j).collect();
        let jobs = match self.client.jobs_modified_since(&ids, since).await {
            Ok(j) => j,
            Err(e) => {
                self.note_error(&e);
                return Ok(0);
            }
        };
        let appt_ids: Vec<StId> = booked
            .iter()
            .filter(|(_, j, _)| jobs.iter().any(|x| x.id == *j))
            .filter_map(|(_, _, a)| *a)
            .collect();
        let appointments = if appt_ids.is_empty() {
            Vec::new()
        } else {
            match self.client.appointments_by_ids(&appt_ids).await {
                Ok(a) => a,
                Err(e) => {
                    self.note_error(&e);
                    return Ok(0);
                }
            }
        };
        let mut changed = 0;
        for (record, job_id, appt_id) in booked {
            let Some(job) = jobs.iter().find(|j| j.id == job_id) else {
                continue;
            };
            let Payload::Job(req) = &record.payload else {
                continue;
            };
            let appt = appt_id.and_then(|a| appointments.iter().find(|x| x.id == a));
            let change = if job.job_status == "Canceled" {
                Some("cancelled")
            } else if appt.is_some_and(|a| {
                a.start != req.appointment.start_utc || a.end != req.appointment.end_utc
            }) {
                Some("rescheduled")
            } else {
                None
            };
            if let Some(change) = change {
                self.cache.put_job_change(
                    record.id.as_str(),
                    &JobChange {
                        job_id,
                        change: change.into(),
                        job_status: job.job_status.clone(),
                        start: appt.map(|a| a.start),
                        end: appt.map(|a| a.end),
                        seen_at: now,
                    },
                )?;
                changed += 1;
            }
        }
        self.cache.set_last_change_poll(now)?;
        self.cache.flush().await?;
        Ok(changed)
    }

    /// Fills the customer details the call flow answers from (service locations, membership,
    /// upcoming appointments with their technicians) for every customer the box knows by
    /// phone and every customer with an appointment in the coming days, when older than the
    /// policy. At most `details_per_pass` customers per call, never-fetched and oldest first;
    /// the cache is stamped fresh only once a pass leaves no backlog. Returns how many
    /// customers were refreshed.
    pub async fn refresh_customer_details_if_stale(&self) -> Result<usize, StError> {
        let now = self.clock.now_utc();
        let max_age = ChronoDuration::from_std(self.settings.details_refresh)
            .unwrap_or(ChronoDuration::minutes(15));
        if !self
            .cache
            .is_stale(CacheName::CustomerDetails, max_age, now)
        {
            return Ok(0);
        }
        let cache_err = |e: CacheError| StError::Config {
            message: e.to_string(),
        };
        // From half a day back: a visit under way still answers "is he on his way?".
        let window_start = now - ChronoDuration::hours(12);
        let horizon = now + ChronoDuration::days(i64::from(self.settings.details_days_ahead));
        let upcoming = self
            .client
            .appointments_starting(window_start, horizon)
            .await?;
        let cached = self.cache.cached_customer_details();
        let mut wanted: BTreeSet<StId> =
            self.cache.customers_known_by_phone().into_iter().collect();
        wanted.extend(upcoming.iter().filter_map(|a| a.customer_id));
        // Members are greeted as members on their first call (issue 16: a member is never
        // offered a membership), not only once a record of theirs has been synced.
        let members = self.client.all_active_memberships().await?;
        wanted.extend(members.iter().map(|m| m.customer_id));
        // A customer whose cached appointment vanished from the window (canceled, moved out)
        // must be fetched again, or the box would keep promising that visit.
        wanted.extend(
            cached
                .iter()
                .filter(|(_, d)| d.appointments.iter().any(|a| a.end > now))
                .map(|(id, _)| *id),
        );
        let mut due: Vec<(Option<DateTime<Utc>>, StId)> = wanted
            .into_iter()
            .map(|id| (cached.get(&id).and_then(|d| d.refreshed_at), id))
            .filter(|(at, _)| at.is_none_or(|t| now - t >= max_age))
            .collect();
        // `None` sorts first: customers never fetched go before stale ones.
        due.sort_unstable();
        let backlog = due.len() > self.settings.details_per_pass;
        let ids: Vec<StId> = due
            .into_iter()
            .take(self.settings.details_per_pass)
            .map(|(_, id)| id)
            .collect();

        let theirs: Vec<&Appointment> = upcoming
            .iter()
            .filter(|a| a.customer_id.is_some_and(|c| ids.contains(&c)))
            .filter(|a| !matches!(a.status.as_str(), "Canceled" | "Done"))
            .collect();
        let mut job_ids: Vec<StId> = theirs.iter().map(|a| a.job_id).collect();
        job_ids.sort_unstable();
        job_ids.dedup();
        let appointment_ids: Vec<StId> = theirs.iter().map(|a| a.id).collect();
        let jobs = if job_ids.is_empty() {
            Vec::new()
        } else {
            self.client.jobs_by_ids(&job_ids).await?
        };
        let assignments = if appointment_ids.is_empty() {
            Vec::new()
        } else {
            self.client
                .assignments_for_appointments(&appointment_ids)
                .await?
        };
        let memberships: Vec<_> = members
            .into_iter()
            .filter(|m| ids.contains(&m.customer_id))
            .collect();
        for &customer_id in &ids {
            let locations = self.client.list_locations(customer_id).await?;
            let appointments = theirs
                .iter()
                .filter(|a| a.customer_id == Some(customer_id))
                .filter_map(|a| {
                    let job = jobs.iter().find(|j| j.id == a.job_id)?;
                    if matches!(job.job_status.as_str(), "Canceled" | "Completed") {
                        return None;
                    }
                    Some(CachedAppointment {
                        job_id: job.id,
                        job_number: Some(job.job_number.clone()).filter(|n| !n.is_empty()),
                        appointment_id: a.id,
                        start: a.start,
                        end: a.end,
                        status: a.status.clone(),
                        technician_ids: assignments
                            .iter()
                            .filter(|x| x.appointment_id == a.id && x.active)
                            .map(|x| x.technician_id)
                            .collect(),
                        summary: job.summary.clone().unwrap_or_default(),
                    })
                })
                .collect();
            let details = CustomerDetails {
                locations,
                member: memberships
                    .iter()
                    .any(|m| m.customer_id == customer_id && m.active),
                appointments,
                refreshed_at: Some(now),
            };
            self.cache
                .put_customer_details(customer_id, &details)
                .map_err(cache_err)?;
        }
        self.learn_phones(&ids, now).await?;
        if !backlog {
            self.cache.stamp_customer_details(now).map_err(cache_err)?;
        }
        self.cache.flush().await.map_err(cache_err)?;
        self.note_ok();
        Ok(ids.len())
    }

    /// Indexes these customers under each phone number on their contacts, so a customer the
    /// box fetched details for (an upcoming visit, a membership) is recognised by caller ID on
    /// their first call to the box, not only after the sync has looked them up for a record.
    /// A number shared by several customers lists them all; a customer no longer on a number
    /// is kept there until that number's entry is refreshed by a lookup.
    async fn learn_phones(&self, ids: &[StId], now: DateTime<Utc>) -> Result<(), StError> {
        if ids.is_empty() {
            return Ok(());
        }
        let cache_err = |e: CacheError| StError::Config {
            message: e.to_string(),
        };
        let customers = self.client.customers_by_ids(ids).await?;
        let contacts = self.client.customer_contacts(ids).await?;
        let plan = self.cache.phone_plan();
        for contact in &contacts {
            if !matches!(contact.kind, ContactType::Phone | ContactType::MobilePhone) {
                continue;
            }
            let (Some(phone), Some(customer)) = (
                plan.normalise(&contact.value),
                customers.iter().find(|c| Some(c.id) == contact.customer_id),
            ) else {
                continue;
            };
            let mut list = self.cache.customers_for_phone(&phone).unwrap_or_default();
            list.retain(|c| c.id != customer.id);
            list.push(customer.clone());
            self.cache
                .put_customers_for_phone(&phone, list, now)
                .map_err(cache_err)?;
        }
        Ok(())
    }

    // ---- the run ------------------------------------------------------------------------

    /// Syncs every record due now, then returns (`callbox sync --once`). Stops early when
    /// ServiceTitan cannot be reached: the records stay queued, in order.
    pub async fn sync_once(&self) -> Result<RunSummary, SyncError> {
        self.drain(true).await
    }

    /// Runs until `shutdown` resolves: drains, refreshes caches, polls changes, sleeps until
    /// the queue changes or a back-off expires. A storage error (queue or cache) ends only
    /// the round: it is logged and shown in the status, and the loop tries again with
    /// back-off, so a full disk pauses the sync instead of ending it. Returns only at
    /// shutdown.
    pub async fn run(
        &self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), SyncError> {
        tokio::pin!(shutdown);
        let mut changes = self.outbox.subscribe();
        let mut last_poll: Option<std::time::Instant> = None;
        let mut storage_failures = 0u32;
        loop {
            let round = tokio::select! {
                r = self.round(&mut last_poll) => r,
                _ = &mut shutdown => return Ok(()),
            };
            let wait = match round {
                Ok(()) => {
                    storage_failures = 0;
                    self.idle_wait()
                }
                Err(e) => {
                    let wait =
                        Backoff::new(Duration::from_secs(1), self.settings.offline_backoff_cap)
                            .delay(storage_failures, rand::random::<f64>());
                    storage_failures = storage_failures.saturating_add(1);
                    tracing::error!(error = %e, ?wait, "sync: storage error; trying again");
                    self.note_storage_error(&e);
                    wait
                }
            };
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                _ = changes.changed() => {}
                _ = self.clock.sleep(wait) => {}
            }
        }
    }

    /// One pass of the loop: the due records, then (while online) the caches and changes.
    async fn round(&self, last_poll: &mut Option<std::time::Instant>) -> Result<(), SyncError> {
        let summary = self.drain(false).await?;
        if !summary.errors.is_empty() {
            tracing::debug!(?summary, "sync round");
        }
        // Housekeeping only while online; failures just show in status.
        if self.with_state(|s| s.online == Some(false)) {
            return Ok(());
        }
        if let Err(e) = self.refresh_reference_if_stale().await {
            self.note_error(&e);
        }
        if let Err(e) = self.refresh_capacity_if_stale().await {
            self.note_error(&e);
        }
        if let Err(e) = self.refresh_customer_details_if_stale().await {
            self.note_error(&e);
        }
        let now = self.clock.now();
        if last_poll.is_none_or(|t| now.duration_since(t) >= self.settings.poll_changes) {
            self.poll_job_changes().await?;
            *last_poll = Some(now);
        }
        Ok(())
    }

    /// How long the loop may sleep when nothing is due.
    fn idle_wait(&self) -> Duration {
        self.outbox
            .next_wakeup()
            .map(|t| {
                (t - self.clock.now_utc())
                    .to_std()
                    .unwrap_or(Duration::ZERO)
            })
            .unwrap_or(Duration::from_secs(3600))
            .min(self.settings.capacity_refresh)
    }

    fn note_storage_error(&self, e: &SyncError) {
        let now = self.clock.now_utc();
        self.with_state(|s| {
            s.last_error = Some(format!("storage: {e}"));
            s.last_error_at = Some(now);
        });
    }

    async fn drain(&self, once: bool) -> Result<RunSummary, SyncError> {
        let mut summary = RunSummary::default();
        if let Err(e) = self.reference_through_outage(once).await {
            summary.offline = true;
            summary.errors.push(e.to_string());
            return Ok(summary);
        }
        while let Some(record) = self.outbox.next_due(self.clock.now_utc())? {
            let id = record.id.clone();
            let offline = match self.sync_record(record, once, &mut summary).await {
                Ok(offline) => offline,
                Err(e) => {
                    // Nothing durable says where it stopped: the next round resumes it.
                    self.outbox.release(&id);
                    return Err(e);
                }
            };
            if offline {
                summary.offline = true;
                break;
            }
        }
        Ok(summary)
    }

    /// Resolving job types, business units and campaigns needs the reference caches: while
    /// ServiceTitan is out they are not refreshed, and records synced without them would be
    /// refused for want of a campaign. So an outage here is waited out (probing with back-off)
    /// before any record is touched; `--once` gives up after a few tries (`Err`). Other
    /// failures go on with what the cache holds.
    async fn reference_through_outage(&self, once: bool) -> Result<(), StError> {
        let mut waits = 0u32;
        loop {
            let err = match self.refresh_reference_if_stale().await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            self.note_error(&err);
            if !err.is_outage() {
                return Ok(());
            }
            let policy = self.policy();
            if once && policy.once_gives_up(&err, waits) {
                return Err(err);
            }
            let wait = policy.outage_wait(&err, waits, rand::random::<f64>());
            waits = waits.saturating_add(1);
            tracing::info!(
                ?wait,
                "ServiceTitan outage while refreshing reference data: {err}"
            );
            self.clock.sleep(wait).await;
        }
    }

    /// Syncs one record to a final state (or a back-off). Returns true when it stopped because
    /// ServiceTitan is unreachable (only in `once` mode; the loop waits it out instead).
    ///
    /// An outage (network, timeouts, 5xx, 429, lost answers, credentials or scopes refused
    /// after a fresh token) is not the record's failure: the loop holds the record at the head
    /// of the queue and probes with back-off for as long as it lasts; `--once` tries a few
    /// times, then leaves it queued. Only a failure of the record's own counts toward
    /// needs-attention, and only ServiceTitan refusing the record sends it there at once.
    async fn sync_record(
        &self,
        record: Record,
        once: bool,
        summary: &mut RunSummary,
    ) -> Result<bool, SyncError> {
        let mut record = self.outbox.begin_sync(&record.id).await?;
        let mut tries = Tries::default();
        loop {
            let err = match self.attempt(&record).await {
                Outcome::Synced(progress) => {
                    self.outbox.mark_synced(&record.id, progress).await?;
                    let now = self.clock.now_utc();
                    self.with_state(|s| {
                        s.online = Some(true);
                        s.last_sync_at = Some(now);
                        s.synced_since_start += 1;
                    });
                    summary.synced += 1;
                    return Ok(false);
                }
                Outcome::Rejected(reason) => {
                    tracing::warn!(record = %record.id, "needs attention: {reason}");
                    self.outbox
                        .mark_needs_attention(&record.id, &reason)
                        .await?;
                    summary.needs_attention += 1;
                    summary.errors.push(format!("{}: {reason}", record.id));
                    return Ok(false);
                }
                Outcome::Storage(e) => return Err(e.into()),
                Outcome::Transient(err) => err,
            };
            self.note_error(&err);
            // The latest checkpoints are durable; carry them in memory too.
            if let Some(r) = self.outbox.get(&record.id)? {
                record.progress = r.progress;
            }
            let next = self.policy().after_failure(
                &err,
                &mut tries,
                record.failures,
                once,
                self.clock.now_utc(),
                rand::random::<f64>(),
            );
            match next {
                AfterFailure::RetryIn(wait) => {
                    // During an outage this holds the head of the queue: order is kept.
                    tracing::info!(?wait, record = %record.id, "ServiceTitan: {err}; trying again");
                    self.clock.sleep(wait).await;
                }
                AfterFailure::HoldAndStop { at } => {
                    self.outbox
                        .hold_for_outage(&record.id, at, &err.to_string())
                        .await?;
                    summary.errors.push(format!("{}: {err}", record.id));
                    return Ok(true);
                }
                AfterFailure::Wait { at } => {
                    self.outbox
                        .hold_for_outage(&record.id, at, &err.to_string())
                        .await?;
                    summary.deferred += 1;
                    summary.errors.push(format!("{}: {err}", record.id));
                    return Ok(false);
                }
                AfterFailure::Defer { at } => {
                    let state = self
                        .outbox
                        .schedule_retry(&record.id, at, &err.to_string())
                        .await?;
                    if matches!(state, RecordState::NeedsAttention { .. }) {
                        summary.needs_attention += 1;
                    } else {
                        summary.deferred += 1;
                    }
                    summary.errors.push(format!("{}: {err}", record.id));
                    return Ok(false);
                }
            }
        }
    }

    fn policy(&self) -> RetryPolicy {
        RetryPolicy {
            inline_retries: self.settings.inline_retries,
            retry_base: self.settings.retry_base,
            outage_backoff_cap: self.settings.offline_backoff_cap,
            retry_after_cap: self.settings.retry_after_cap,
        }
    }

    async fn attempt(&self, record: &Record) -> Outcome {
        let mut progress = record.progress.clone();
        let result = match &record.payload {
            Payload::Job(req) => self.sync_job(record, req, &mut progress).await,
            Payload::Note(note) => self.sync_note(record, note, &mut progress).await,
            Payload::Reschedule(req) => self.sync_reschedule(record, req, &mut progress).await,
            Payload::Cancellation(req) => self.sync_cancellation(record, req, &mut progress).await,
            // The page for an emergency booked on the same call: the job is the office's copy.
            Payload::OnCallAlert(a) if a.job_record_id.is_some() => Ok(()),
            other => {
                self.sync_for_office(record, other, &mut progress, None)
                    .await
            }
        };
        match result {
            Ok(()) => Outcome::Synced(progress),
            Err(StepError::Transient(e)) => Outcome::Transient(e),
            Err(StepError::Storage(e)) => Outcome::Storage(e),
            Err(StepError::Rejected(reason)) => {
                self.after_refusal(record, &mut progress, reason).await
            }
        }
    }

    /// ServiceTitan refused the record: make the stand-in [`after_refusal`] asks for, and say
    /// what the record is flagged with.
    async fn after_refusal(
        &self,
        record: &Record,
        progress: &mut SyncProgress,
        reason: String,
    ) -> Outcome {
        let made = match after_refusal(record.kind(), progress, &reason) {
            AfterRefusal::Flag(flag) => return Outcome::Rejected(flag),
            // ServiceTitan would not make the change (job completed, unknown appointment,
            // …): the office gets it as before, and the record is flagged with why.
            AfterRefusal::OfficeStandIn => self
                .sync_for_office(record, &record.payload, progress, Some(&reason))
                .await
                .map(|()| {
                    Some(if progress.booking_id.is_some() {
                        "booking"
                    } else {
                        "lead"
                    })
                }),
            AfterRefusal::JobStandIn => self.fallback(record, progress, &reason).await,
        };
        match made {
            Ok(Some(what)) => {
                Outcome::Rejected(format!("{reason} ({what} created for the office)"))
            }
            Ok(None) => Outcome::Rejected(reason),
            Err(StepError::Transient(e)) => Outcome::Transient(e),
            Err(StepError::Storage(e)) => Outcome::Storage(e),
            Err(StepError::Rejected(more)) => {
                Outcome::Rejected(format!("{reason}; the stand-in was refused too: {more}"))
            }
        }
    }

    /// Durably notes `steps` as in doubt before their create is sent (see [`doubt`]).
    async fn doubt(
        &self,
        record: &Record,
        p: &mut SyncProgress,
        steps: &[CreateStep],
    ) -> Result<(), StepError> {
        if doubt(p, steps) {
            self.checkpoint(record, p).await?;
        }
        Ok(())
    }

    async fn checkpoint(&self, record: &Record, progress: &SyncProgress) -> Result<(), StepError> {
        self.outbox
            .checkpoint(&record.id, progress.clone())
            .await
            .map_err(StepError::from)
    }

    fn external_data(&self, record: &Record) -> ExternalDataCreate {
        ExternalDataCreate::single(
            &self.client.config().external_data_guid,
            RECORD_ID_KEY,
            record.id.as_str(),
        )
    }

    // ---- jobs ---------------------------------------------------------------------------

    /// A job record: the steps [`next_job_step`] names, one at a time, each followed by a
    /// checkpoint when it learnt or made something.
    async fn sync_job(
        &self,
        record: &Record,
        req: &JobRequest,
        p: &mut SyncProgress,
    ) -> Result<(), StepError> {
        if p.customer_id.is_none() {
            p.customer_id = req.known_customer_id;
        }
        if p.customer_id.is_some() && p.location_id.is_none() {
            p.location_id = req.known_location_id;
        }
        let technician = self.on_call_technician_for(req);
        let mut attempt = Attempt::default();
        loop {
            let before = p.clone();
            match next_job_step(p, &attempt, technician) {
                JobStep::Done => return Ok(()),
                JobStep::Look(lookup) => {
                    self.job_lookup(record, req, p, lookup).await?;
                    attempt.looked(lookup);
                }
                JobStep::Create(step) => {
                    self.doubt(record, p, &[step]).await?;
                    self.job_create(record, req, p, step, &mut attempt).await?;
                }
            }
            if p.job_id.is_some() {
                p.created_as = Some("job".into());
            }
            if *p != before {
                self.checkpoint(record, p).await?;
            }
        }
    }

    /// The on-call technician the shop wants on this job's appointment, if anyone is on call.
    fn on_call_technician_for(&self, req: &JobRequest) -> Option<StId> {
        let wanted = match self.settings.on_call {
            OnCallPolicy::Never => false,
            OnCallPolicy::Always => true,
            OnCallPolicy::Emergencies => req.urgency == Urgency::Emergency,
            OnCallPolicy::WhenRequested => req.assign_on_call_technician,
        };
        if !wanted {
            return None;
        }
        let tech = self.cache.on_call_technician_at(req.appointment.start_utc);
        if tech.is_none() {
            tracing::info!("no on-call technician found; left unassigned");
        }
        tech
    }

    /// Asks ServiceTitan one question before a create; what it finds goes into `p`.
    async fn job_lookup(
        &self,
        record: &Record,
        req: &JobRequest,
        p: &mut SyncProgress,
        lookup: Lookup,
    ) -> Result<(), StepError> {
        let key = record.id.as_str();
        let address = st_address(&req.service_address);
        match lookup {
            Lookup::CustomerByRecord => {
                let found = self
                    .client
                    .find_customers_by_external_data(RECORD_ID_KEY, key)
                    .await?;
                p.customer_id = found.first().map(|c| c.id);
            }
            Lookup::CustomerByCaller => {
                p.customer_id = self.find_customer(&req.caller, &address).await?;
            }
            Lookup::LocationByAddress => {
                let Some(customer_id) = p.customer_id else {
                    return Ok(());
                };
                let locations = self.client.list_locations(customer_id).await?;
                p.location_id = locations
                    .iter()
                    .filter(|l| l.active || l.address.is_some())
                    .find(|l| {
                        l.address
                            .as_ref()
                            .is_some_and(|a| same_address(a, &address))
                    })
                    .map(|l| l.id);
            }
            Lookup::LocationByRecord => {
                let found = self
                    .client
                    .find_locations_by_external_data(RECORD_ID_KEY, key)
                    .await?;
                p.location_id = found
                    .iter()
                    .find(|l| Some(l.customer_id) == p.customer_id)
                    .map(|l| l.id);
            }
            Lookup::JobByRecord => {
                let found = self
                    .client
                    .find_jobs_by_external_data(RECORD_ID_KEY, key)
                    .await?;
                if let Some(job) = found.first() {
                    p.job_id = Some(job.id);
                    p.job_number = Some(job.job_number.clone());
                    p.appointment_id = job.first_appointment_id;
                }
            }
            Lookup::NoteByMarker => {
                if let Some(job_id) = p.job_id {
                    p.note_added = self.note_exists(record, job_id).await?;
                }
            }
            Lookup::TechnicianAssigned => {
                let (Some(appt_id), Some(tech)) =
                    (p.appointment_id, self.on_call_technician_for(req))
                else {
                    return Ok(());
                };
                p.technician_assigned = self
                    .client
                    .appointment_assignments(appt_id)
                    .await?
                    .iter()
                    .any(|a| a.technician_id == tech);
            }
            other => {
                return Err(StepError::Rejected(format!(
                    "a job record does not look up {other:?}"
                )))
            }
        }
        let found = match lookup {
            Lookup::CustomerByRecord | Lookup::CustomerByCaller => p.customer_id.is_some(),
            Lookup::LocationByAddress | Lookup::LocationByRecord => p.location_id.is_some(),
            Lookup::JobByRecord => p.job_id.is_some(),
            Lookup::NoteByMarker => p.note_added,
            Lookup::TechnicianAssigned => p.technician_assigned,
            _ => false,
        };
        if found {
            settle(p, &[lookup.before()]);
        }
        Ok(())
    }

    /// Sends one create; its id (or flag) goes into `p` and the step is no longer in doubt.
    async fn job_create(
        &self,
        record: &Record,
        req: &JobRequest,
        p: &mut SyncProgress,
        step: CreateStep,
        attempt: &mut Attempt,
    ) -> Result<(), StepError> {
        match step {
            CustomerStep => self.create_customer_for(record, req, p).await?,
            LocationStep => self.create_location_for(record, req, p).await?,
            CreateStep::Job => self.create_job_for(record, req, p).await?,
            NoteStep => {
                let text = job_note_text(record, req);
                let job_id = p
                    .job_id
                    .ok_or_else(|| StepError::Rejected("no job".into()))?;
                self.client.add_job_note(job_id, &text).await?;
                p.note_added = true;
            }
            TechnicianStep => self.assign_on_call(req, p, attempt).await?,
            other => {
                return Err(StepError::Rejected(format!(
                    "a job record does not create {other:?}"
                )))
            }
        }
        settle(p, &[step]);
        Ok(())
    }

    /// A new customer with its first location, in one call.
    async fn create_customer_for(
        &self,
        record: &Record,
        req: &JobRequest,
        p: &mut SyncProgress,
    ) -> Result<(), StepError> {
        let address = st_address(&req.service_address);
        let contacts = phone_contacts(&req.caller, self.client.config().phone_plan);
        // The first location is made in the same call: it is in doubt as long as the customer.
        self.doubt(record, p, &[LocationStep]).await?;
        let created = self
            .client
            .create_customer(&CreateCustomerRequest {
                name: caller_name(&req.caller),
                kind: "Residential".into(),
                address: address.clone(),
                locations: vec![NewLocation {
                    name: caller_name(&req.caller),
                    address,
                    contacts: contacts.clone(),
                    external_data: Some(self.external_data(record)),
                }],
                contacts,
                external_data: Some(self.external_data(record)),
            })
            .await?;
        p.customer_id = Some(created.id);
        p.location_id = created.locations.first().map(|l| l.id);
        if p.location_id.is_some() {
            settle(p, &[LocationStep]);
        }
        if let Some(phone) = req.caller.best_phone() {
            let _ = self
                .cache
                .put_customers_for_phone(phone, Vec::new(), self.clock.now_utc());
        }
        Ok(())
    }

    async fn create_location_for(
        &self,
        record: &Record,
        req: &JobRequest,
        p: &mut SyncProgress,
    ) -> Result<(), StepError> {
        let customer_id = p
            .customer_id
            .ok_or_else(|| StepError::Rejected("no customer".into()))?;
        let created = self
            .client
            .create_location(&CreateLocationRequest {
                customer_id,
                name: caller_name(&req.caller),
                address: st_address(&req.service_address),
                contacts: phone_contacts(&req.caller, self.client.config().phone_plan),
                external_data: Some(self.external_data(record)),
            })
            .await?;
        p.location_id = Some(created.id);
        Ok(())
    }

    async fn create_job_for(
        &self,
        record: &Record,
        req: &JobRequest,
        p: &mut SyncProgress,
    ) -> Result<(), StepError> {
        let (Some(customer_id), Some(location_id)) = (p.customer_id, p.location_id) else {
            return Err(StepError::Rejected("no customer or location".into()));
        };
        let (job_type_id, business_unit_id) = self.resolve_job_type_and_unit(req).await?;
        let campaign_id = self.resolve_campaign(req).await?;
        let appt = &req.appointment;
        let job = self
            .client
            .create_job(&CreateJobRequest {
                customer_id,
                location_id,
                business_unit_id,
                job_type_id,
                priority: match req.urgency {
                    Urgency::Emergency => "Urgent".into(),
                    Urgency::Routine => "Normal".into(),
                },
                campaign_id,
                appointments: vec![AppointmentInformation {
                    start: appt.start_utc,
                    end: appt.end_utc,
                    arrival_window_start: appt.arrival_window_start_utc,
                    arrival_window_end: appt.arrival_window_end_utc,
                    technician_ids: None,
                }],
                summary: Some(format!(
                    "{} (callbox confirmation {})",
                    req.problem_summary, req.confirmation_number
                )),
                external_data: Some(self.external_data(record)),
            })
            .await?;
        p.job_id = Some(job.id);
        p.job_number = Some(job.job_number);
        p.appointment_id = job.first_appointment_id;
        Ok(())
    }

    /// Puts the on-call technician on the appointment. A refusal (409 overlap, 400) is for the
    /// dispatcher to sort out, not a reason to hold a booked job.
    async fn assign_on_call(
        &self,
        req: &JobRequest,
        p: &mut SyncProgress,
        attempt: &mut Attempt,
    ) -> Result<(), StepError> {
        let (Some(appt_id), Some(tech)) = (p.appointment_id, self.on_call_technician_for(req))
        else {
            attempt.settle_technician();
            return Ok(());
        };
        match self.client.assign_technicians(appt_id, &[tech]).await {
            Ok(_) => p.technician_assigned = true,
            Err(e) if e.needs_attention() => {
                tracing::warn!("on-call technician not assigned: {e}");
                attempt.settle_technician();
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    /// Customer by phone (verified), else by service address.
    async fn find_customer(
        &self,
        caller: &CallerInfo,
        address: &StAddress,
    ) -> Result<Option<StId>, StError> {
        for phone in [
            caller.phone_e164.as_deref(),
            caller.callback_phone_e164.as_deref(),
        ]
        .into_iter()
        .flatten()
        {
            let found = self.client.find_customers_by_phone(phone).await?;
            let _ = self
                .cache
                .put_customers_for_phone(phone, found.clone(), self.clock.now_utc());
            // Prefer the customer already at this address when a number is shared; else one
            // the caller's name fits (a stranger giving a customer's number is not them).
            if let Some(c) = found
                .iter()
                .find(|c| c.address.as_ref().is_some_and(|a| same_address(a, address)))
                .or_else(|| found.iter().find(|c| same_person(&caller.name, &c.name)))
            {
                return Ok(Some(c.id));
            }
        }
        if address.street.trim().is_empty() || address.zip.trim().is_empty() {
            return Ok(None);
        }
        // Someone else calling about a customer's address is not that customer.
        let found = self.client.find_customers_by_address(None, address).await?;
        Ok(found
            .iter()
            .find(|c| same_person(&caller.name, &c.name))
            .map(|c| c.id))
    }

    /// Whether the job has a note carrying this record's marker.
    async fn note_exists(&self, record: &Record, job_id: StId) -> Result<bool, StError> {
        let m = marker(record.id.as_str());
        Ok(self
            .client
            .list_job_notes(job_id)
            .await?
            .iter()
            .any(|n| n.text.contains(&m)))
    }

    /// Does the note step [`next_note_step`] named: looks for the note carrying this record's
    /// marker, or adds it with `text`. Sets `note_added` when it is there; the caller
    /// checkpoints.
    async fn note_step(
        &self,
        record: &Record,
        p: &mut SyncProgress,
        job_id: StId,
        step: Step,
        text: impl FnOnce() -> String,
    ) -> Result<(), StepError> {
        match step {
            Step::Look(_) => {
                if self.note_exists(record, job_id).await? {
                    note_made(p);
                }
            }
            Step::Create(_) => {
                self.doubt(record, p, &[NoteStep]).await?;
                self.client.add_job_note(job_id, &text()).await?;
                note_made(p);
            }
            Step::Done => {}
        }
        Ok(())
    }

    async fn resolve_job_type_and_unit(&self, req: &JobRequest) -> Result<(StId, StId), StepError> {
        let hint = req.job_type_hint.as_deref().unwrap_or("");
        let job_type_id = req
            .job_type_id
            .or_else(|| self.settings.job_types.get(hint).copied())
            .or(self.settings.default_job_type_id)
            .or_else(|| {
                // Last resort: a job type whose name matches the hint ("no_heat" ~ "No Heat").
                let wanted = hint.replace('_', " ").to_ascii_lowercase();
                self.cache
                    .job_types()
                    .into_iter()
                    .find(|j| {
                        j.active && !wanted.is_empty() && j.name.to_ascii_lowercase() == wanted
                    })
                    .map(|j| j.id)
            })
            .ok_or_else(|| {
                StepError::Rejected(format!(
                    "no job type for hint `{hint}`: add it to servicetitan.job_types"
                ))
            })?;
        if let Some(bu) = req.business_unit_id {
            return Ok((job_type_id, bu));
        }
        let units = self
            .cache
            .job_type(job_type_id)
            .map(|j| j.business_unit_ids)
            .unwrap_or_default();
        let default = self.settings.default_business_unit_id;
        // The job type's own units win (tenants that map job types to units reject others).
        let bu = match default {
            Some(d) if units.is_empty() || units.contains(&d) => Some(d),
            _ => units.first().copied().or(default),
        };
        bu.map(|bu| (job_type_id, bu)).ok_or_else(|| {
            StepError::Rejected(format!(
                "no business unit for job type {job_type_id}: set servicetitan.default_business_unit_id"
            ))
        })
    }

    async fn resolve_campaign(&self, req: &JobRequest) -> Result<StId, StepError> {
        if let Some(c) = req.campaign_id {
            return Ok(c);
        }
        if let Some(dialled) = req.dialled_number.as_deref() {
            if let Some(c) = self.cache.campaign_for_number(dialled) {
                return Ok(c);
            }
        }
        self.settings
            .default_campaign_id
            .or_else(|| self.cache.default_campaign())
            .ok_or_else(|| {
                StepError::Rejected(
                    "no campaign: the dialled number matches none and there is no default".into(),
                )
            })
    }

    // ---- reschedules and cancellations --------------------------------------------------

    /// The ServiceTitan job (and appointment, when named) a reschedule or cancellation is
    /// about. `None`: the record names nothing ServiceTitan knows, so it goes to the office.
    async fn resolve_target(
        &self,
        job_id: Option<StId>,
        job_number: Option<&str>,
        appointment_id: Option<StId>,
        queue_ref: Option<&RecordId>,
    ) -> Result<Option<(StId, Option<StId>)>, StepError> {
        if let Some(job_id) = job_id {
            return Ok(Some((job_id, appointment_id)));
        }
        if let Some(appointment_id) = appointment_id {
            let found = self.client.appointments_by_ids(&[appointment_id]).await?;
            return match found.first() {
                Some(a) => Ok(Some((a.job_id, Some(a.id)))),
                None => Err(StepError::Rejected(format!(
                    "appointment {appointment_id} is not in ServiceTitan"
                ))),
            };
        }
        if let Some(r) = queue_ref {
            let Some(target) = self.outbox.get(r)? else {
                return Ok(None);
            };
            return match queued_job(&target.progress, &target.state) {
                QueuedJob::Booked {
                    job_id,
                    appointment_id,
                } => Ok(Some((job_id, appointment_id))),
                // Never booked: the office already has the job as a booking or lead.
                QueuedJob::Refused | QueuedJob::SentToOffice => Ok(None),
                QueuedJob::Pending => Err(StepError::Transient(StError::NotYet {
                    reason: format!("job {r} has not synced yet"),
                })),
            };
        }
        if let Some(number) = job_number.map(str::trim).filter(|n| !n.is_empty()) {
            let found = self.client.find_jobs_by_number(number).await?;
            return match found.first() {
                Some(j) => Ok(Some((j.id, None))),
                None => Err(StepError::Rejected(format!(
                    "job number {number} is not in ServiceTitan"
                ))),
            };
        }
        Ok(None)
    }

    /// Moves the caller's appointment, then notes on the job that they asked by phone: the
    /// steps [`next_reschedule_step`] names.
    async fn sync_reschedule(
        &self,
        record: &Record,
        req: &RescheduleRequest,
        p: &mut SyncProgress,
    ) -> Result<(), StepError> {
        let mut attempt = Attempt::default();
        loop {
            let step = next_reschedule_step(p, &attempt);
            let (job_id, appointment_id) = match step {
                ChangeStep::Done => return Ok(()),
                ChangeStep::NoAppointment => {
                    return Err(StepError::Rejected("no appointment to move".into()))
                }
                ChangeStep::FindTarget => {
                    if !self.reschedule_target(record, req, p).await? {
                        return self.sync_for_office(record, &record.payload, p, None).await;
                    }
                    continue;
                }
                ChangeStep::Look(_) | ChangeStep::Create(_) => match (p.job_id, p.appointment_id) {
                    (Some(job), Some(appointment)) => (job, appointment),
                    _ => return Err(StepError::Rejected("no appointment to move".into())),
                },
            };
            match step {
                ChangeStep::Look(Lookup::AppointmentMoved) => {
                    let found = self.client.appointments_by_ids(&[appointment_id]).await?;
                    if moved_already(&found, &req.new_window) {
                        self.change_made(record, p, RescheduleStep).await?;
                    }
                    attempt.looked(Lookup::AppointmentMoved);
                }
                ChangeStep::Create(RescheduleStep) => {
                    self.move_appointment(record, req, p, appointment_id)
                        .await?;
                }
                ChangeStep::Look(lookup) => {
                    self.note_step(record, p, job_id, Step::Look(lookup), String::new)
                        .await?;
                    attempt.looked(lookup);
                }
                _ => {
                    let text = || reschedule_note_text(record, req, appointment_id);
                    self.note_step(record, p, job_id, Step::Create(NoteStep), text)
                        .await?;
                }
            }
        }
    }

    /// Finds and checkpoints the job and appointment a reschedule names. `false`: it names
    /// nothing ServiceTitan knows (the office gets it).
    async fn reschedule_target(
        &self,
        record: &Record,
        req: &RescheduleRequest,
        p: &mut SyncProgress,
    ) -> Result<bool, StepError> {
        let target = self
            .resolve_target(
                req.job_id,
                req.job_number.as_deref(),
                req.appointment_id,
                req.queue_ref.as_ref(),
            )
            .await?;
        let Some((job_id, appointment_id)) = target else {
            return Ok(false);
        };
        p.job_id = Some(job_id);
        p.appointment_id = match appointment_id {
            Some(a) => Some(a),
            None => Some(self.open_appointment_of(job_id).await?),
        };
        self.checkpoint(record, p).await?;
        Ok(true)
    }

    /// Sends the reschedule (noted in doubt first) and checkpoints it.
    async fn move_appointment(
        &self,
        record: &Record,
        req: &RescheduleRequest,
        p: &mut SyncProgress,
        appointment_id: StId,
    ) -> Result<(), StepError> {
        let w = &req.new_window;
        self.doubt(record, p, &[RescheduleStep]).await?;
        self.client
            .reschedule_appointment(
                appointment_id,
                &RescheduleAppointmentRequest {
                    start: w.start_utc,
                    end: w.end_utc,
                    arrival_window_start: w.arrival_window_start_utc,
                    arrival_window_end: w.arrival_window_end_utc,
                },
            )
            .await?;
        self.change_made(record, p, RescheduleStep).await
    }

    /// The reschedule or cancellation is in ServiceTitan (made now, or found made): checkpoint.
    async fn change_made(
        &self,
        record: &Record,
        p: &mut SyncProgress,
        step: CreateStep,
    ) -> Result<(), StepError> {
        if step == CancelStep {
            p.canceled = true;
            p.created_as = Some("cancellation".into());
        } else {
            p.rescheduled = true;
            p.created_as = Some("reschedule".into());
        }
        settle(p, &[step]);
        self.checkpoint(record, p).await
    }

    /// The job's next appointment that can still be moved ([`open_appointment`]).
    async fn open_appointment_of(&self, job_id: StId) -> Result<StId, StepError> {
        let jobs = self.client.jobs_by_ids(&[job_id]).await?;
        let Some(job) = jobs.first() else {
            return Err(StepError::Rejected(format!(
                "job {job_id} is not in ServiceTitan"
            )));
        };
        let candidates: Vec<StId> = [job.last_appointment_id, job.first_appointment_id]
            .into_iter()
            .flatten()
            .collect();
        let now = self.clock.now_utc();
        let appointments = self.client.appointments_by_ids(&candidates).await?;
        open_appointment(&appointments, now).ok_or_else(|| {
            StepError::Rejected(format!("job {job_id} has no open appointment to move"))
        })
    }

    /// Cancels the caller's job with a reason and memo, then notes that they asked by phone:
    /// the steps [`next_cancel_step`] names.
    async fn sync_cancellation(
        &self,
        record: &Record,
        req: &CancellationRequest,
        p: &mut SyncProgress,
    ) -> Result<(), StepError> {
        let mut attempt = Attempt::default();
        loop {
            let step = next_cancel_step(p, &attempt);
            let job_id = match (step, p.job_id) {
                (ChangeStep::Done, _) => return Ok(()),
                (ChangeStep::FindTarget, _) => {
                    if !self.cancel_target(record, req, p).await? {
                        return self.sync_for_office(record, &record.payload, p, None).await;
                    }
                    continue;
                }
                (_, Some(job_id)) => job_id,
                (_, None) => return Err(StepError::Rejected("no job to cancel".into())),
            };
            match step {
                ChangeStep::Look(Lookup::JobCanceled) => {
                    if canceled_already(&self.client.jobs_by_ids(&[job_id]).await?) {
                        self.change_made(record, p, CancelStep).await?;
                    }
                    attempt.looked(Lookup::JobCanceled);
                }
                ChangeStep::Create(CancelStep) => self.cancel_job(record, req, p, job_id).await?,
                ChangeStep::Look(lookup) => {
                    self.note_step(record, p, job_id, Step::Look(lookup), String::new)
                        .await?;
                    attempt.looked(lookup);
                }
                _ => {
                    let text = || cancel_note_text(record, req);
                    self.note_step(record, p, job_id, Step::Create(NoteStep), text)
                        .await?;
                }
            }
        }
    }

    /// Finds and checkpoints the job a cancellation names. `false`: it names nothing
    /// ServiceTitan knows (the office gets it).
    async fn cancel_target(
        &self,
        record: &Record,
        req: &CancellationRequest,
        p: &mut SyncProgress,
    ) -> Result<bool, StepError> {
        let target = self
            .resolve_target(
                req.job_id,
                req.job_number.as_deref(),
                None,
                req.queue_ref.as_ref(),
            )
            .await?;
        let Some((job_id, _)) = target else {
            return Ok(false);
        };
        p.job_id = Some(job_id);
        self.checkpoint(record, p).await?;
        Ok(true)
    }

    /// Sends the cancellation (noted in doubt first) and checkpoints it.
    async fn cancel_job(
        &self,
        record: &Record,
        req: &CancellationRequest,
        p: &mut SyncProgress,
        job_id: StId,
    ) -> Result<(), StepError> {
        let reason_id = match req.cancel_reason_id {
            Some(id) => id,
            None => self.cancel_reason().await?,
        };
        self.doubt(record, p, &[CancelStep]).await?;
        self.client
            .cancel_job(
                job_id,
                &CancelJobRequest {
                    reason_id,
                    memo: format!("Caller asked by phone (callbox).{}", said(&req.reason)),
                },
            )
            .await?;
        self.change_made(record, p, CancelStep).await
    }

    /// The tenant's cancel reason for "the customer called to cancel": an active reason that
    /// names the customer, else the first active one.
    async fn cancel_reason(&self) -> Result<StId, StepError> {
        let reasons = self.client.list_job_cancel_reasons().await?;
        let active = || reasons.iter().filter(|r| r.active);
        active()
            .find(|r| r.name.to_ascii_lowercase().contains("customer"))
            .or_else(|| active().next())
            .map(|r| r.id)
            .ok_or_else(|| StepError::Rejected("the tenant has no active job cancel reason".into()))
    }

    // ---- fallbacks and other kinds ------------------------------------------------------

    /// After a rejection: a Booking (CSR follow-up) or a Lead, as the shop wants.
    async fn fallback(
        &self,
        record: &Record,
        p: &mut SyncProgress,
        reason: &str,
    ) -> Result<Option<&'static str>, StepError> {
        let Payload::Job(req) = &record.payload else {
            return Ok(None);
        };
        let summary = format!(
            "{} — callbox could not book this job: {reason}. Caller wants {} to {} UTC. Confirmation {}. [{}]",
            req.problem_summary,
            req.appointment.start_utc.format("%Y-%m-%d %H:%M"),
            req.appointment.end_utc.format("%H:%M"),
            req.confirmation_number,
            marker(record.id.as_str())
        );
        match job_stand_in(self.settings.fallback, self.settings.booking_provider_id) {
            Some(StandIn::Booking(provider)) => {
                self.make_booking(
                    record,
                    &req.caller,
                    Some(&req.service_address),
                    &summary,
                    p,
                    provider,
                )
                .await?;
                Ok(Some("booking"))
            }
            Some(StandIn::Lead) => {
                self.make_lead(record, &summary, p).await?;
                Ok(Some("lead"))
            }
            None => Ok(None),
        }
    }

    /// The office's booking: the steps [`next_booking_step`] names, then a checkpoint.
    async fn make_booking(
        &self,
        record: &Record,
        caller: &CallerInfo,
        address: Option<&Address>,
        summary: &str,
        p: &mut SyncProgress,
        provider: StId,
    ) -> Result<(), StepError> {
        let mut attempt = Attempt::default();
        loop {
            match next_booking_step(p, &attempt) {
                Step::Done => break,
                Step::Look(lookup) => {
                    let found = self
                        .client
                        .find_bookings_by_external_id(provider, record.id.as_str())
                        .await?;
                    p.booking_id = found.first().map(|b| b.id);
                    attempt.looked(lookup);
                }
                Step::Create(_) => {
                    self.doubt(record, p, &[BookingStep]).await?;
                    let request = self.booking_request(record, caller, address, summary, p);
                    p.booking_id = Some(self.client.create_booking(provider, &request).await?.id);
                }
            }
        }
        settle(p, &[BookingStep]);
        if p.created_as.is_none() || p.job_id.is_none() {
            p.created_as = Some("booking".into());
        }
        self.checkpoint(record, p).await
    }

    fn booking_request(
        &self,
        record: &Record,
        caller: &CallerInfo,
        address: Option<&Address>,
        summary: &str,
        p: &SyncProgress,
    ) -> CreateBookingRequest {
        CreateBookingRequest {
            source: "callbox".into(),
            name: caller_name(caller),
            summary: summary.to_string(),
            is_first_time_client: p.customer_id.is_none(),
            external_id: record.id.as_str().to_string(),
            address: address.map(st_address),
            contacts: phone_contacts(caller, self.client.config().phone_plan)
                .into_iter()
                .map(|c| NewContact {
                    kind: ContactType::Phone,
                    ..c
                })
                .collect(),
            start: None,
            campaign_id: None,
            business_unit_id: None,
            job_type_id: None,
            priority: None,
        }
    }

    /// The office's lead: the steps [`next_lead_step`] names, each made lead checkpointed.
    async fn make_lead(
        &self,
        record: &Record,
        summary: &str,
        p: &mut SyncProgress,
    ) -> Result<(), StepError> {
        let mut attempt = Attempt::default();
        if next_lead_step(p, &attempt) == Step::Done {
            return Ok(());
        }
        let campaign_id = self
            .settings
            .default_campaign_id
            .or_else(|| self.cache.default_campaign())
            .ok_or_else(|| StepError::Rejected("no campaign for the lead".into()))?;
        loop {
            match next_lead_step(p, &attempt) {
                Step::Done => return Ok(()),
                Step::Look(lookup) => {
                    if let Some(lead_id) = self.find_lead(record).await? {
                        self.lead_made(record, p, lead_id).await?;
                    }
                    attempt.looked(lookup);
                }
                Step::Create(_) => {
                    let lead_id = self.create_lead(record, summary, p, campaign_id).await?;
                    self.lead_made(record, p, lead_id).await?;
                }
            }
        }
    }

    /// Leads have no externalData or externalId: after a lost answer the lead is found by the
    /// record's marker in its summary, among the leads made since the record was.
    async fn find_lead(&self, record: &Record) -> Result<Option<StId>, StepError> {
        let since = record.created_at - ChronoDuration::minutes(5);
        let found = self
            .client
            .find_leads_by_marker(since, &marker(record.id.as_str()))
            .await?;
        Ok(found.first().map(|l| l.id))
    }

    /// Sends the lead (noted in doubt first); its summary must carry the record marker.
    async fn create_lead(
        &self,
        record: &Record,
        summary: &str,
        p: &mut SyncProgress,
        campaign_id: StId,
    ) -> Result<StId, StepError> {
        if !summary.contains(&marker(record.id.as_str())) {
            return Err(StepError::Rejected(
                "a lead's summary must carry the record marker".into(),
            ));
        }
        self.doubt(record, p, &[LeadStep]).await?;
        let lead = self
            .client
            .create_lead(&CreateLeadRequest {
                customer_id: p.customer_id,
                location_id: p.location_id,
                campaign_id,
                business_unit_id: None,
                job_type_id: None,
                summary: summary.to_string(),
                priority: None,
                follow_up_date: Some(self.clock.now_utc()),
            })
            .await?;
        Ok(lead.id)
    }

    async fn lead_made(
        &self,
        record: &Record,
        p: &mut SyncProgress,
        lead_id: StId,
    ) -> Result<(), StepError> {
        p.lead_id = Some(lead_id);
        settle(p, &[LeadStep]);
        if p.job_id.is_none() {
            p.created_as = Some("lead".into());
        }
        self.checkpoint(record, p).await
    }

    async fn sync_note(
        &self,
        record: &Record,
        note: &crate::queue::JobNote,
        p: &mut SyncProgress,
    ) -> Result<(), StepError> {
        let job_id = self.note_job(note).await?;
        p.job_id = Some(job_id);
        let mut attempt = Attempt::default();
        loop {
            let step = next_note_step(p, &attempt);
            if step == Step::Done {
                break;
            }
            let text = || format!("{}\n\n[{}]", note.text, marker(record.id.as_str()));
            self.note_step(record, p, job_id, step, text).await?;
            if let Step::Look(lookup) = step {
                attempt.looked(lookup);
            }
        }
        p.created_as = Some("note".into());
        Ok(())
    }

    /// The job a note record belongs to: its own job id, else its queued job's
    /// ([`queued_job`]).
    async fn note_job(&self, note: &crate::queue::JobNote) -> Result<StId, StepError> {
        if let Some(id) = note.job_id {
            return Ok(id);
        }
        let Some(r) = &note.queue_ref else {
            return Err(StepError::Rejected(
                "note has neither a job id nor a queued job".into(),
            ));
        };
        let Some(target) = self.outbox.get(r)? else {
            return Err(StepError::Rejected(format!("no queued job {r}")));
        };
        match queued_job(&target.progress, &target.state) {
            QueuedJob::Booked { job_id, .. } => Ok(job_id),
            QueuedJob::Refused => Err(StepError::Rejected(format!(
                "the job {r} this note belongs to needs attention"
            ))),
            QueuedJob::SentToOffice | QueuedJob::Pending => {
                Err(StepError::Transient(StError::NotYet {
                    reason: format!("job {r} has not synced yet"),
                }))
            }
        }
    }

    /// Leads, callbacks, voicemails, on-call alerts and requests the box cannot carry out
    /// itself go to the office: a Booking on the Calls screen when a provider is configured, else a Lead.
    async fn sync_for_office(
        &self,
        record: &Record,
        payload: &Payload,
        p: &mut SyncProgress,
        refusal: Option<&str>,
    ) -> Result<(), StepError> {
        let wanted = match payload {
            Payload::Reschedule(r) => format!(
                " — wants {} moved to {} to {} UTC",
                target_words(r.job_number.as_deref(), r.job_id),
                r.new_window.start_utc.format("%Y-%m-%d %H:%M"),
                r.new_window.end_utc.format("%H:%M")
            ),
            Payload::Cancellation(c) => format!(
                " — wants {} canceled",
                target_words(c.job_number.as_deref(), c.job_id)
            ),
            _ => String::new(),
        };
        let refused = refusal
            .map(|r| format!("; callbox could not do it in ServiceTitan: {r}"))
            .unwrap_or_default();
        let mut summary = format!(
            "{}{wanted}{refused} [{}]",
            payload.headline(),
            marker(record.id.as_str())
        );
        let address = match payload {
            Payload::Lead(l) => {
                summary = format!(
                    "{} — {} [{}]",
                    l.summary,
                    l.reason,
                    marker(record.id.as_str())
                );
                l.address.as_ref()
            }
            Payload::MembershipInterest(m) => m.address.as_ref(),
            // The headline names the hazard; the technician was paged by the alert dispatcher,
            // this is the office's copy for the morning.
            Payload::OnCallAlert(a) => a.address.as_ref(),
            _ => None,
        };
        let is_lead = matches!(payload, Payload::Lead(_));
        let caller = payload.caller();
        match (
            office_stand_in(self.settings.booking_provider_id, caller.is_some(), is_lead),
            caller,
        ) {
            (StandIn::Booking(provider), Some(caller)) => {
                self.make_booking(record, caller, address, &summary, p, provider)
                    .await
            }
            _ => self.make_lead(record, &summary, p).await,
        }
    }
}
