//! The sync's decisions, sans I/O: what to do next for a job record given its checkpoint and
//! what this attempt has already asked, and what to do after a failure given the error, the
//! counts so far and the time. The async shell in [`super::sync`] does the calls, the
//! checkpoints and the waiting; it is handed the time and the jitter, so every decision here
//! is a plain function, unit-tested without a server or a clock.
//!
//! Every record kind is covered: jobs ([`next_job_step`]), reschedules and cancellations
//! ([`next_reschedule_step`], [`next_cancel_step`]), notes ([`next_note_step`]), and the
//! office's copies, bookings and leads ([`office_stand_in`], [`job_stand_in`],
//! [`next_booking_step`], [`next_lead_step`]). Each says which lookup comes before a create
//! still in doubt, whether the create is needed, and when the record is done; the answers of
//! those lookups are read here too ([`moved_already`], [`canceled_already`],
//! [`open_appointment`]), and what the queue says of a job another record points at
//! ([`queued_job`]).

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use std::collections::BTreeSet;
use std::time::Duration;

use super::error::StError;
use super::settings::RejectionFallback;
use super::types::{Appointment, Job, StId};
use crate::infra::backoff::Backoff;
use crate::queue::{AppointmentWindow, CreateStep, RecordKind, RecordState, SyncProgress};

/// A question the sync asks ServiceTitan before creating something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lookup {
    /// The customer an earlier attempt of this record may have made (externalData).
    CustomerByRecord,
    /// The caller as a customer already: by phone, else by service address.
    CustomerByCaller,
    /// The customer's location at the service address.
    LocationByAddress,
    /// The location an earlier attempt may have made (externalData).
    LocationByRecord,
    /// The job an earlier attempt may have made (externalData).
    JobByRecord,
    /// The note an earlier attempt may have added (the record marker in its text).
    NoteByMarker,
    /// Whether the on-call technician is on the appointment already.
    TechnicianAssigned,
    /// Whether the appointment is at the new time already (a reschedule sent before).
    AppointmentMoved,
    /// Whether the job is canceled already (a cancellation sent before).
    JobCanceled,
    /// The booking an earlier attempt may have made (externalId).
    BookingByRecord,
    /// The lead an earlier attempt may have made (the record marker in its summary).
    LeadByMarker,
}

impl Lookup {
    /// The create this lookup stands before: what it settles when it finds something.
    pub fn before(self) -> CreateStep {
        match self {
            Lookup::CustomerByRecord | Lookup::CustomerByCaller => CreateStep::Customer,
            Lookup::LocationByAddress | Lookup::LocationByRecord => CreateStep::Location,
            Lookup::JobByRecord => CreateStep::Job,
            Lookup::NoteByMarker => CreateStep::Note,
            Lookup::TechnicianAssigned => CreateStep::Technician,
            Lookup::AppointmentMoved => CreateStep::Reschedule,
            Lookup::JobCanceled => CreateStep::Cancel,
            Lookup::BookingByRecord => CreateStep::Booking,
            Lookup::LeadByMarker => CreateStep::Lead,
        }
    }
}

/// What the shell does next for a job record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStep {
    Look(Lookup),
    /// Send this create (noting it in doubt first).
    Create(CreateStep),
    /// Everything the record asks for is in ServiceTitan.
    Done,
}

/// What one attempt has learnt that the checkpoint does not hold: the lookups already made
/// (a lookup that found nothing is not repeated), and whether the technician step is over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attempt {
    looked: BTreeSet<Lookup>,
    technician_settled: bool,
}

impl Attempt {
    pub fn looked(&mut self, lookup: Lookup) {
        self.looked.insert(lookup);
    }

    fn has(&self, lookup: Lookup) -> bool {
        self.looked.contains(&lookup)
    }

    /// The technician step ended without an assignment (refused, or nobody on call): the job
    /// is booked; the dispatcher sorts out the rest.
    pub fn settle_technician(&mut self) {
        self.technician_settled = true;
    }
}

/// Customer → location → job → note → on-call technician. A create still in doubt from an
/// earlier attempt is looked up before it is sent again; `technician` is the on-call
/// technician to assign (`None`: the policy does not want one, or nobody is on call).
pub fn next_job_step(p: &SyncProgress, attempt: &Attempt, technician: Option<i64>) -> JobStep {
    use CreateStep as C;
    use JobStep::{Create, Done, Look};
    use Lookup as L;
    let unasked = |l: Lookup| !attempt.has(l);
    if p.customer_id.is_none() {
        if p.doubts(C::Customer) && unasked(L::CustomerByRecord) {
            return Look(L::CustomerByRecord);
        }
        if unasked(L::CustomerByCaller) {
            return Look(L::CustomerByCaller);
        }
        return Create(C::Customer);
    }
    if p.location_id.is_none() {
        if unasked(L::LocationByAddress) {
            return Look(L::LocationByAddress);
        }
        if p.doubts(C::Location) && unasked(L::LocationByRecord) {
            return Look(L::LocationByRecord);
        }
        return Create(C::Location);
    }
    if p.job_id.is_none() {
        if p.doubts(C::Job) && unasked(L::JobByRecord) {
            return Look(L::JobByRecord);
        }
        return Create(C::Job);
    }
    if !p.note_added {
        if p.doubts(C::Note) && unasked(L::NoteByMarker) {
            return Look(L::NoteByMarker);
        }
        return Create(C::Note);
    }
    let technician_due = technician.is_some()
        && p.appointment_id.is_some()
        && !p.technician_assigned
        && !attempt.technician_settled;
    if technician_due {
        if p.doubts(C::Technician) && unasked(L::TechnicianAssigned) {
            return Look(L::TechnicianAssigned);
        }
        return Create(C::Technician);
    }
    Done
}

/// The next step of one create made at most once (a note, a booking, a lead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Look(Lookup),
    /// Send this create (noting it in doubt first).
    Create(CreateStep),
    /// It is in ServiceTitan (made now, found, or recorded by an earlier checkpoint).
    Done,
}

/// `step` is done when `made`; else, while in doubt, `lookup` comes before the create.
fn once(p: &SyncProgress, attempt: &Attempt, made: bool, step: CreateStep, lookup: Lookup) -> Step {
    if made {
        Step::Done
    } else if p.doubts(step) && !attempt.has(lookup) {
        Step::Look(lookup)
    } else {
        Step::Create(step)
    }
}

/// The record's marked note on its job (note records, reschedules, cancellations).
pub fn next_note_step(p: &SyncProgress, attempt: &Attempt) -> Step {
    once(
        p,
        attempt,
        p.note_added,
        CreateStep::Note,
        Lookup::NoteByMarker,
    )
}

/// The office's booking on the Calls screen.
pub fn next_booking_step(p: &SyncProgress, attempt: &Attempt) -> Step {
    once(
        p,
        attempt,
        p.booking_id.is_some(),
        CreateStep::Booking,
        Lookup::BookingByRecord,
    )
}

/// The office's lead.
pub fn next_lead_step(p: &SyncProgress, attempt: &Attempt) -> Step {
    once(
        p,
        attempt,
        p.lead_id.is_some(),
        CreateStep::Lead,
        Lookup::LeadByMarker,
    )
}

/// What the shell does next for a reschedule or cancellation record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeStep {
    /// Find the job (and, for a reschedule, the appointment) the record names, then
    /// checkpoint it; a record that names nothing ServiceTitan knows goes to the office.
    FindTarget,
    /// The job is known but there is no appointment to move: refused.
    NoAppointment,
    Look(Lookup),
    /// Send this change or note (noting it in doubt first).
    Create(CreateStep),
    /// The change and its note are in ServiceTitan.
    Done,
}

impl From<Step> for ChangeStep {
    fn from(step: Step) -> Self {
        match step {
            Step::Look(l) => ChangeStep::Look(l),
            Step::Create(c) => ChangeStep::Create(c),
            Step::Done => ChangeStep::Done,
        }
    }
}

/// Target → `PATCH appointments/{id}/reschedule` (after a lost answer, the appointment's time
/// is looked at first) → the marked note.
pub fn next_reschedule_step(p: &SyncProgress, attempt: &Attempt) -> ChangeStep {
    if p.job_id.is_none() {
        return ChangeStep::FindTarget;
    }
    if p.appointment_id.is_none() {
        return ChangeStep::NoAppointment;
    }
    let change = once(
        p,
        attempt,
        p.rescheduled,
        CreateStep::Reschedule,
        Lookup::AppointmentMoved,
    );
    change_then_note(p, attempt, change)
}

/// Target → `PUT jobs/{id}/cancel` (after a lost answer, the job's status is looked at
/// first) → the marked note.
pub fn next_cancel_step(p: &SyncProgress, attempt: &Attempt) -> ChangeStep {
    if p.job_id.is_none() {
        return ChangeStep::FindTarget;
    }
    let change = once(
        p,
        attempt,
        p.canceled,
        CreateStep::Cancel,
        Lookup::JobCanceled,
    );
    change_then_note(p, attempt, change)
}

fn change_then_note(p: &SyncProgress, attempt: &Attempt, change: Step) -> ChangeStep {
    match change {
        Step::Done => next_note_step(p, attempt).into(),
        pending => pending.into(),
    }
}

/// The answer to [`Lookup::AppointmentMoved`]: an appointment already at the new time was
/// moved by an earlier attempt.
pub fn moved_already(appointments: &[Appointment], window: &AppointmentWindow) -> bool {
    appointments
        .iter()
        .any(|a| a.start == window.start_utc && a.end == window.end_utc)
}

/// The answer to [`Lookup::JobCanceled`]: a job already canceled was canceled by an earlier
/// attempt.
pub fn canceled_already(jobs: &[Job]) -> bool {
    jobs.iter().any(|j| j.job_status == "Canceled")
}

/// The job's next appointment that can still be moved at `now`: not over, not done or
/// canceled, the earliest first.
pub fn open_appointment(appointments: &[Appointment], now: DateTime<Utc>) -> Option<StId> {
    appointments
        .iter()
        .filter(|a| a.end > now && !matches!(a.status.as_str(), "Done" | "Canceled"))
        .min_by_key(|a| a.start)
        .map(|a| a.id)
}

/// What the queue says of the job record another record points at (`queue_ref`: a note, a
/// reschedule or a cancellation of a booking made on the same call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueuedJob {
    /// Booked in ServiceTitan: this job, and its appointment when known.
    Booked {
        job_id: StId,
        appointment_id: Option<StId>,
    },
    /// Never booked: ServiceTitan refused it (needs attention).
    Refused,
    /// Synced without a job: the office got it as a booking or lead.
    SentToOffice,
    /// Not synced yet: the record that points at it waits.
    Pending,
}

/// Reads [`QueuedJob`] from the job record's checkpoint and state.
pub fn queued_job(progress: &SyncProgress, state: &RecordState) -> QueuedJob {
    match (progress.job_id, state) {
        (Some(job_id), _) => QueuedJob::Booked {
            job_id,
            appointment_id: progress.appointment_id,
        },
        (None, RecordState::NeedsAttention { .. }) => QueuedJob::Refused,
        (None, RecordState::Synced) => QueuedJob::SentToOffice,
        (None, RecordState::Queued | RecordState::Syncing) => QueuedJob::Pending,
    }
}

/// How the office gets a record the box cannot carry out in ServiceTitan itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StandIn {
    /// A booking on the Calls screen, with this booking provider.
    Booking(StId),
    Lead,
}

/// The office's copy of a lead, callback, voicemail, alert, or a reschedule or cancellation
/// it has to carry out: a booking when a provider is configured and the record has a caller
/// (a lead record always stays a lead), else a lead.
pub fn office_stand_in(provider: Option<StId>, has_caller: bool, is_lead: bool) -> StandIn {
    match provider {
        Some(provider) if has_caller && !is_lead => StandIn::Booking(provider),
        _ => StandIn::Lead,
    }
}

/// The stand-in for a job ServiceTitan refused, as the shop wants it (`None`: nothing); a
/// booking without a provider becomes a lead.
pub fn job_stand_in(fallback: RejectionFallback, provider: Option<StId>) -> Option<StandIn> {
    match (fallback, provider) {
        (RejectionFallback::Booking, Some(provider)) => Some(StandIn::Booking(provider)),
        (RejectionFallback::Lead, _) | (RejectionFallback::Booking, None) => Some(StandIn::Lead),
        (RejectionFallback::None, _) => None,
    }
}

/// What follows ServiceTitan refusing a record. The record goes to needs-attention in every
/// case; this says whether the office first gets a stand-in for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterRefusal {
    /// Nothing more to make: flag the record with this reason.
    Flag(String),
    /// A job that could not be booked: the shop's fallback (a booking or a lead) stands in.
    JobStandIn,
    /// A reschedule or cancellation ServiceTitan would not make: the office gets the request
    /// as a booking or lead.
    OfficeStandIn,
}

/// Decides [`AfterRefusal`] from the record's kind and how far it got.
pub fn after_refusal(kind: RecordKind, p: &SyncProgress, reason: &str) -> AfterRefusal {
    match kind {
        RecordKind::Reschedule | RecordKind::Cancellation => {
            if p.rescheduled || p.canceled {
                AfterRefusal::Flag(format!(
                    "{reason} (the change itself is made in ServiceTitan)"
                ))
            } else {
                AfterRefusal::OfficeStandIn
            }
        }
        // A booked job needs no stand-in: a later step (the note) was refused.
        RecordKind::Job => match p.job_id {
            Some(job_id) => AfterRefusal::Flag(format!("{reason} (job {job_id} is booked)")),
            None => AfterRefusal::JobStandIn,
        },
        // The others already went to the office (booking/lead) or have nowhere else to go.
        _ => AfterRefusal::Flag(reason.to_string()),
    }
}

/// How a failed call counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// ServiceTitan is out for everyone (see [`StError::is_outage`]): never the record's fault.
    Outage,
    /// ServiceTitan refused this record: a person must look at it.
    Refused,
    /// The record waits for another one (a note for a job not synced yet): not a failure.
    Waiting,
    /// Something about this record went wrong in a way worth retrying (an unreadable answer,
    /// an ignored filter, a job it waits for): counted toward needs-attention.
    OwnTransient,
}

pub fn classify(err: &StError) -> Failure {
    if err.needs_attention() {
        Failure::Refused
    } else if matches!(err, StError::NotYet { .. }) {
        Failure::Waiting
    } else if err.is_outage() {
        Failure::Outage
    } else {
        Failure::OwnTransient
    }
}

/// What the shell does after a transient failure of an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterFailure {
    /// Wait this long, then try the same record again (in this run).
    RetryIn(Duration),
    /// Leave the record queued until `at` without counting anything against it, and end this
    /// run (`callbox sync --once` during an outage).
    HoldAndStop { at: DateTime<Utc> },
    /// Back to the queue until `at`, counted as one of the record's failures.
    Defer { at: DateTime<Utc> },
    /// Back to the queue until `at`, counting nothing: it waits for another record. The run
    /// goes on with the next one.
    Wait { at: DateTime<Utc> },
}

/// The counts one record's attempt has run up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tries {
    /// Outage waits so far (drives the back-off).
    pub outage_waits: u32,
    /// In-place retries after failures of the record's own.
    pub failures: u32,
}

/// The timing rules of the sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// In-place retries after a failure of the record's own (and outage probes in `--once`).
    pub inline_retries: u32,
    /// Base of the in-place back-off.
    pub retry_base: Duration,
    /// Longest wait between probes during an outage.
    pub outage_backoff_cap: Duration,
    /// Longest `Retry-After` obeyed.
    pub retry_after_cap: Duration,
}

impl RetryPolicy {
    /// How long to wait before asking again during an outage: ServiceTitan's `Retry-After`
    /// (capped), else a capped, jittered back-off. `jitter` is in `[0, 1)`.
    pub fn outage_wait(&self, err: &StError, waits: u32, jitter: f64) -> Duration {
        match err {
            StError::RateLimited { retry_after } => (*retry_after).min(self.retry_after_cap),
            _ => Backoff::new(Duration::from_millis(500), self.outage_backoff_cap)
                .delay(waits, jitter),
        }
    }

    /// Whether `--once` should stop probing an outage now.
    pub fn once_gives_up(&self, err: &StError, waits: u32) -> bool {
        err.is_offline() || waits >= self.inline_retries
    }

    /// After a transient failure (not a refusal) of an attempt: wait and retry, hold, or
    /// defer. `record_failures` is the record's stored count of its own failures.
    pub fn after_failure(
        &self,
        err: &StError,
        tries: &mut Tries,
        record_failures: u32,
        once: bool,
        now: DateTime<Utc>,
        jitter: f64,
    ) -> AfterFailure {
        if classify(err) == Failure::Waiting {
            let wait = Backoff::new(Duration::from_secs(5), self.outage_backoff_cap)
                .delay(tries.failures, jitter);
            tries.failures = tries.failures.saturating_add(1);
            return AfterFailure::Wait {
                at: now + chrono_duration(wait),
            };
        }
        if classify(err) == Failure::Outage {
            let wait = self.outage_wait(err, tries.outage_waits, jitter);
            let give_up = once && self.once_gives_up(err, tries.outage_waits);
            tries.outage_waits = tries.outage_waits.saturating_add(1);
            if give_up {
                return AfterFailure::HoldAndStop {
                    at: now + chrono_duration(wait),
                };
            }
            // The loop holds the head of the queue for as long as the outage lasts.
            return AfterFailure::RetryIn(wait);
        }
        tries.failures = tries.failures.saturating_add(1);
        if tries.failures <= self.inline_retries {
            return AfterFailure::RetryIn(
                Backoff::new(self.retry_base, Duration::from_secs(10))
                    .delay(tries.failures - 1, jitter),
            );
        }
        let delay = Backoff::new(Duration::from_secs(2), Duration::from_secs(15 * 60))
            .delay(record_failures, jitter);
        AfterFailure::Defer {
            at: now + chrono_duration(delay),
        }
    }
}

fn chrono_duration(d: Duration) -> ChronoDuration {
    ChronoDuration::from_std(d).unwrap_or(ChronoDuration::seconds(60))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use CreateStep as C;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            inline_retries: 3,
            retry_base: Duration::from_millis(250),
            outage_backoff_cap: Duration::from_secs(60),
            retry_after_cap: Duration::from_secs(600),
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 15, 3, 0, 0)
            .single()
            .expect("valid")
    }

    fn walk(mut p: SyncProgress, technician: Option<i64>) -> Vec<JobStep> {
        // Answers every lookup with "nothing found" and every create with an id.
        let mut attempt = Attempt::default();
        let mut steps = Vec::new();
        loop {
            let step = next_job_step(&p, &attempt, technician);
            steps.push(step);
            match step {
                JobStep::Look(l) => attempt.looked(l),
                JobStep::Create(C::Customer) => {
                    p.customer_id = Some(1);
                    p.location_id = Some(2);
                }
                JobStep::Create(C::Location) => p.location_id = Some(2),
                JobStep::Create(C::Job) => {
                    p.job_id = Some(3);
                    p.appointment_id = Some(4);
                }
                JobStep::Create(C::Note) => p.note_added = true,
                JobStep::Create(C::Technician) => p.technician_assigned = true,
                JobStep::Create(other) => panic!("a job never creates {other:?}"),
                JobStep::Done => return steps,
            }
            assert!(steps.len() < 20, "no progress: {steps:?}");
        }
    }

    #[test]
    fn a_first_attempt_looks_up_the_caller_only_then_creates_everything() {
        use JobStep::*;
        assert_eq!(
            walk(SyncProgress::default(), Some(9)),
            vec![
                Look(Lookup::CustomerByCaller),
                Create(C::Customer),
                Create(C::Job),
                Create(C::Note),
                Create(C::Technician),
                Done
            ]
        );
        assert_eq!(
            walk(SyncProgress::default(), None).len(),
            5,
            "no technician step"
        );
    }

    #[test]
    fn every_create_in_doubt_is_looked_up_before_it_is_sent_again() {
        use JobStep::*;
        let p = SyncProgress {
            in_doubt: CreateStep::ALL.into_iter().collect(),
            ..SyncProgress::default()
        };
        assert_eq!(
            walk(p, Some(9)),
            vec![
                Look(Lookup::CustomerByRecord),
                Look(Lookup::CustomerByCaller),
                Create(C::Customer),
                Look(Lookup::JobByRecord),
                Create(C::Job),
                Look(Lookup::NoteByMarker),
                Create(C::Note),
                Look(Lookup::TechnicianAssigned),
                Create(C::Technician),
                Done
            ]
        );
    }

    #[test]
    fn a_checkpoint_resumes_at_the_step_not_recorded() {
        let p = SyncProgress {
            customer_id: Some(1),
            location_id: Some(2),
            job_id: Some(3),
            appointment_id: Some(4),
            in_doubt: [C::Note].into_iter().collect(),
            ..SyncProgress::default()
        };
        assert_eq!(
            next_job_step(&p, &Attempt::default(), None),
            JobStep::Look(Lookup::NoteByMarker)
        );
        let mut attempt = Attempt::default();
        attempt.looked(Lookup::NoteByMarker);
        assert_eq!(next_job_step(&p, &attempt, None), JobStep::Create(C::Note));
    }

    #[test]
    fn a_known_customer_without_a_location_looks_at_its_addresses_first() {
        let p = SyncProgress {
            customer_id: Some(1),
            in_doubt: [C::Location].into_iter().collect(),
            ..SyncProgress::default()
        };
        let mut attempt = Attempt::default();
        assert_eq!(
            next_job_step(&p, &attempt, None),
            JobStep::Look(Lookup::LocationByAddress)
        );
        attempt.looked(Lookup::LocationByAddress);
        assert_eq!(
            next_job_step(&p, &attempt, None),
            JobStep::Look(Lookup::LocationByRecord)
        );
        attempt.looked(Lookup::LocationByRecord);
        assert_eq!(
            next_job_step(&p, &attempt, None),
            JobStep::Create(C::Location)
        );
    }

    #[test]
    fn a_refused_technician_ends_the_job_without_one() {
        let p = SyncProgress {
            customer_id: Some(1),
            location_id: Some(2),
            job_id: Some(3),
            appointment_id: Some(4),
            note_added: true,
            ..SyncProgress::default()
        };
        let mut attempt = Attempt::default();
        assert_eq!(
            next_job_step(&p, &attempt, Some(9)),
            JobStep::Create(C::Technician)
        );
        attempt.settle_technician();
        assert_eq!(next_job_step(&p, &attempt, Some(9)), JobStep::Done);
    }

    #[test]
    fn a_refusal_gets_a_stand_in_only_where_nothing_was_made() {
        let nothing = SyncProgress::default();
        assert_eq!(
            after_refusal(RecordKind::Job, &nothing, "no"),
            AfterRefusal::JobStandIn
        );
        let booked = SyncProgress {
            job_id: Some(3),
            ..SyncProgress::default()
        };
        assert_eq!(
            after_refusal(RecordKind::Job, &booked, "note refused"),
            AfterRefusal::Flag("note refused (job 3 is booked)".into())
        );
        assert_eq!(
            after_refusal(RecordKind::Cancellation, &nothing, "completed"),
            AfterRefusal::OfficeStandIn
        );
        let moved = SyncProgress {
            rescheduled: true,
            ..SyncProgress::default()
        };
        assert!(matches!(
            after_refusal(RecordKind::Reschedule, &moved, "note refused"),
            AfterRefusal::Flag(r) if r.contains("change itself is made")
        ));
        assert_eq!(
            after_refusal(RecordKind::Lead, &nothing, "bad campaign"),
            AfterRefusal::Flag("bad campaign".into())
        );
    }

    fn walk_change(
        mut p: SyncProgress,
        next: fn(&SyncProgress, &Attempt) -> ChangeStep,
        found: &[Lookup],
    ) -> Vec<ChangeStep> {
        // Finds what `found` names, nothing else; every create succeeds.
        let mut attempt = Attempt::default();
        let mut steps = Vec::new();
        loop {
            let step = next(&p, &attempt);
            steps.push(step);
            match step {
                ChangeStep::FindTarget => {
                    p.job_id = Some(3);
                    p.appointment_id = Some(4);
                }
                ChangeStep::Look(l) => {
                    if found.contains(&l) {
                        made(&mut p, l.before());
                    }
                    attempt.looked(l);
                }
                ChangeStep::Create(c) => made(&mut p, c),
                ChangeStep::NoAppointment | ChangeStep::Done => return steps,
            }
            assert!(steps.len() < 20, "no progress: {steps:?}");
        }
    }

    fn made(p: &mut SyncProgress, step: CreateStep) {
        match step {
            C::Reschedule => p.rescheduled = true,
            C::Cancel => p.canceled = true,
            C::Note => p.note_added = true,
            C::Booking => p.booking_id = Some(5),
            C::Lead => p.lead_id = Some(6),
            other => panic!("not a change: {other:?}"),
        }
        p.in_doubt.remove(&step);
    }

    fn in_doubt(steps: &[CreateStep]) -> SyncProgress {
        SyncProgress {
            in_doubt: steps.iter().copied().collect(),
            ..SyncProgress::default()
        }
    }

    #[test]
    fn a_first_reschedule_finds_its_target_then_moves_and_notes_without_looking() {
        use ChangeStep::*;
        assert_eq!(
            walk_change(SyncProgress::default(), next_reschedule_step, &[]),
            vec![FindTarget, Create(C::Reschedule), Create(C::Note), Done]
        );
    }

    #[test]
    fn a_reschedule_in_doubt_looks_first_and_creates_only_what_was_not_found() {
        use ChangeStep::*;
        let p = in_doubt(&[C::Reschedule, C::Note]);
        assert_eq!(
            walk_change(p.clone(), next_reschedule_step, &[]),
            vec![
                FindTarget,
                Look(Lookup::AppointmentMoved),
                Create(C::Reschedule),
                Look(Lookup::NoteByMarker),
                Create(C::Note),
                Done
            ]
        );
        assert_eq!(
            walk_change(
                p,
                next_reschedule_step,
                &[Lookup::AppointmentMoved, Lookup::NoteByMarker]
            ),
            vec![
                FindTarget,
                Look(Lookup::AppointmentMoved),
                Look(Lookup::NoteByMarker),
                Done
            ],
            "found: checkpointed without creating"
        );
    }

    #[test]
    fn a_reschedule_without_an_appointment_is_refused_and_a_done_one_is_finished() {
        let no_appointment = SyncProgress {
            job_id: Some(3),
            ..SyncProgress::default()
        };
        assert_eq!(
            next_reschedule_step(&no_appointment, &Attempt::default()),
            ChangeStep::NoAppointment
        );
        let done = SyncProgress {
            job_id: Some(3),
            appointment_id: Some(4),
            rescheduled: true,
            note_added: true,
            in_doubt: [C::Reschedule, C::Note].into_iter().collect(),
            ..SyncProgress::default()
        };
        assert_eq!(
            next_reschedule_step(&done, &Attempt::default()),
            ChangeStep::Done,
            "a recorded step is never looked up again"
        );
    }

    #[test]
    fn a_cancellation_resumes_at_the_step_not_recorded() {
        use ChangeStep::*;
        assert_eq!(
            walk_change(SyncProgress::default(), next_cancel_step, &[]),
            vec![FindTarget, Create(C::Cancel), Create(C::Note), Done]
        );
        let p = SyncProgress {
            job_id: Some(3),
            ..in_doubt(&[C::Cancel])
        };
        assert_eq!(
            walk_change(p.clone(), next_cancel_step, &[Lookup::JobCanceled]),
            vec![Look(Lookup::JobCanceled), Create(C::Note), Done]
        );
        assert_eq!(
            walk_change(p, next_cancel_step, &[]),
            vec![
                Look(Lookup::JobCanceled),
                Create(C::Cancel),
                Create(C::Note),
                Done
            ]
        );
        let canceled = SyncProgress {
            job_id: Some(3),
            canceled: true,
            ..in_doubt(&[C::Note])
        };
        assert_eq!(
            walk_change(canceled, next_cancel_step, &[Lookup::NoteByMarker]),
            vec![Look(Lookup::NoteByMarker), Done]
        );
        let no_job_needed = SyncProgress {
            job_id: Some(3),
            ..SyncProgress::default()
        };
        assert_eq!(
            next_cancel_step(&no_job_needed, &Attempt::default()),
            Create(C::Cancel),
            "a cancellation needs no appointment"
        );
    }

    fn walk_once(
        mut p: SyncProgress,
        next: fn(&SyncProgress, &Attempt) -> Step,
        found: bool,
    ) -> Vec<Step> {
        let mut attempt = Attempt::default();
        let mut steps = Vec::new();
        loop {
            let step = next(&p, &attempt);
            steps.push(step);
            match step {
                Step::Look(l) => {
                    if found {
                        made(&mut p, l.before());
                    }
                    attempt.looked(l);
                }
                Step::Create(c) => made(&mut p, c),
                Step::Done => return steps,
            }
            assert!(steps.len() < 10, "no progress: {steps:?}");
        }
    }

    #[test]
    fn notes_bookings_and_leads_are_looked_up_in_doubt_and_made_at_most_once() {
        use Step::*;
        for (next, step, lookup) in [
            (
                next_note_step as fn(&SyncProgress, &Attempt) -> Step,
                C::Note,
                Lookup::NoteByMarker,
            ),
            (next_booking_step, C::Booking, Lookup::BookingByRecord),
            (next_lead_step, C::Lead, Lookup::LeadByMarker),
        ] {
            assert_eq!(lookup.before(), step);
            let fresh = SyncProgress::default();
            assert_eq!(
                walk_once(fresh.clone(), next, false),
                vec![Create(step), Done]
            );
            let doubted = in_doubt(&[step]);
            assert_eq!(
                walk_once(doubted.clone(), next, false),
                vec![Look(lookup), Create(step), Done],
                "not found: created"
            );
            assert_eq!(
                walk_once(doubted, next, true),
                vec![Look(lookup), Done],
                "found: not created"
            );
            let mut already = in_doubt(&[step]);
            made(&mut already, step);
            already.in_doubt.insert(step);
            assert_eq!(next(&already, &Attempt::default()), Done, "already done");
        }
    }

    #[test]
    fn the_office_gets_a_booking_when_it_can_else_a_lead() {
        assert_eq!(office_stand_in(Some(7), true, false), StandIn::Booking(7));
        assert_eq!(
            office_stand_in(Some(7), true, true),
            StandIn::Lead,
            "a lead stays a lead"
        );
        assert_eq!(
            office_stand_in(Some(7), false, false),
            StandIn::Lead,
            "no caller"
        );
        assert_eq!(office_stand_in(None, true, false), StandIn::Lead);
        use RejectionFallback as F;
        assert_eq!(job_stand_in(F::Booking, Some(7)), Some(StandIn::Booking(7)));
        assert_eq!(job_stand_in(F::Booking, None), Some(StandIn::Lead));
        assert_eq!(job_stand_in(F::Lead, Some(7)), Some(StandIn::Lead));
        assert_eq!(job_stand_in(F::None, Some(7)), None);
    }

    #[test]
    fn a_refused_change_goes_to_the_office_unless_it_is_made() {
        let target_known = SyncProgress {
            job_id: Some(3),
            appointment_id: Some(4),
            ..SyncProgress::default()
        };
        for kind in [RecordKind::Reschedule, RecordKind::Cancellation] {
            assert_eq!(
                after_refusal(kind, &target_known, "job completed"),
                AfterRefusal::OfficeStandIn
            );
        }
        let canceled = SyncProgress {
            canceled: true,
            ..target_known
        };
        assert!(matches!(
            after_refusal(RecordKind::Cancellation, &canceled, "note refused"),
            AfterRefusal::Flag(_)
        ));
    }

    fn appointment(id: StId, start_h: i64, hours: i64, status: &str) -> Appointment {
        let start = now() + ChronoDuration::hours(start_h);
        Appointment {
            id,
            job_id: 3,
            appointment_number: None,
            start,
            end: start + ChronoDuration::hours(hours),
            arrival_window_start: None,
            arrival_window_end: None,
            status: status.into(),
            modified_on: None,
            customer_id: None,
        }
    }

    #[test]
    fn lookup_answers_say_whether_the_change_is_made() {
        let moved = appointment(4, 24, 2, "Scheduled");
        let window = AppointmentWindow {
            start_utc: moved.start,
            end_utc: moved.end,
            arrival_window_start_utc: None,
            arrival_window_end_utc: None,
        };
        assert!(moved_already(std::slice::from_ref(&moved), &window));
        assert!(!moved_already(
            &[appointment(4, 48, 2, "Scheduled")],
            &window
        ));
        assert!(!moved_already(&[], &window));
        let job = |status: &str| -> Job {
            serde_json::from_value(serde_json::json!({
                "id": 3, "customerId": 1, "locationId": 2, "jobStatus": status
            }))
            .expect("a job")
        };
        assert!(canceled_already(&[job("Canceled")]));
        assert!(!canceled_already(&[job("Scheduled")]));
        assert!(!canceled_already(&[]));
    }

    #[test]
    fn the_open_appointment_is_the_earliest_not_over_done_or_canceled() {
        let appointments = [
            appointment(1, -5, 2, "Scheduled"),
            appointment(2, 1, 2, "Canceled"),
            appointment(3, 2, 2, "Done"),
            appointment(4, 30, 2, "Scheduled"),
            appointment(5, -1, 2, "Working"),
        ];
        assert_eq!(open_appointment(&appointments, now()), Some(5));
        assert_eq!(
            open_appointment(&appointments, now() + ChronoDuration::hours(2)),
            Some(4),
            "the time is handed in"
        );
        assert_eq!(open_appointment(&appointments[..3], now()), None);
    }

    #[test]
    fn a_queued_job_is_booked_refused_sent_to_the_office_or_pending() {
        let booked = SyncProgress {
            job_id: Some(3),
            appointment_id: Some(4),
            ..SyncProgress::default()
        };
        for state in [RecordState::Synced, RecordState::Syncing] {
            assert_eq!(
                queued_job(&booked, &state),
                QueuedJob::Booked {
                    job_id: 3,
                    appointment_id: Some(4)
                }
            );
        }
        let none = SyncProgress::default();
        let refused = RecordState::NeedsAttention {
            reason: "no".into(),
        };
        assert_eq!(queued_job(&none, &refused), QueuedJob::Refused);
        assert_eq!(
            queued_job(&none, &RecordState::Synced),
            QueuedJob::SentToOffice
        );
        for state in [RecordState::Queued, RecordState::Syncing] {
            assert_eq!(queued_job(&none, &state), QueuedJob::Pending);
        }
    }

    #[test]
    fn errors_are_outages_refusals_or_the_records_own() {
        assert_eq!(classify(&StError::Server { status: 503 }), Failure::Outage);
        assert_eq!(
            classify(&StError::Forbidden {
                scope_hint: "x".into()
            }),
            Failure::Outage
        );
        assert_eq!(
            classify(&StError::Validation {
                title: "bad".into(),
                errors: Default::default(),
                trace_id: None
            }),
            Failure::Refused
        );
        assert_eq!(
            classify(&StError::Decode {
                message: "x".into()
            }),
            Failure::OwnTransient
        );
    }

    #[test]
    fn the_loop_waits_out_an_outage_of_any_length_without_deferring() {
        let mut tries = Tries::default();
        let err = StError::Server { status: 503 };
        for _ in 0..10_000 {
            match policy().after_failure(&err, &mut tries, 0, false, now(), 0.5) {
                AfterFailure::RetryIn(wait) => assert!(wait <= Duration::from_secs(60)),
                other => panic!("an outage must not end in {other:?}"),
            }
        }
        assert_eq!(tries.failures, 0, "nothing counted against the record");
    }

    #[test]
    fn a_record_waiting_for_another_is_set_aside_without_counting() {
        let err = StError::NotYet {
            reason: "job cb-1 has not synced yet".into(),
        };
        assert_eq!(classify(&err), Failure::Waiting);
        let mut tries = Tries::default();
        for once in [false, true] {
            assert!(matches!(
                policy().after_failure(&err, &mut tries, 19, once, now(), 0.0),
                AfterFailure::Wait { at } if at > now()
            ));
        }
    }

    #[test]
    fn retry_after_is_capped() {
        let err = StError::RateLimited {
            retry_after: Duration::from_secs(86_400),
        };
        let mut tries = Tries::default();
        assert_eq!(
            policy().after_failure(&err, &mut tries, 0, false, now(), 0.0),
            AfterFailure::RetryIn(Duration::from_secs(600))
        );
        let short = StError::RateLimited {
            retry_after: Duration::from_secs(3),
        };
        assert_eq!(policy().outage_wait(&short, 0, 0.0), Duration::from_secs(3));
    }

    #[test]
    fn once_holds_the_record_and_stops_when_offline_or_after_a_few_probes() {
        let offline = StError::Network {
            message: "refused".into(),
        };
        let mut tries = Tries::default();
        assert!(matches!(
            policy().after_failure(&offline, &mut tries, 0, true, now(), 0.0),
            AfterFailure::HoldAndStop { at } if at > now()
        ));
        let busy = StError::Server { status: 502 };
        let mut tries = Tries::default();
        for _ in 0..3 {
            assert!(matches!(
                policy().after_failure(&busy, &mut tries, 0, true, now(), 0.0),
                AfterFailure::RetryIn(_)
            ));
        }
        assert!(matches!(
            policy().after_failure(&busy, &mut tries, 0, true, now(), 0.0),
            AfterFailure::HoldAndStop { .. }
        ));
    }

    #[test]
    fn the_records_own_failures_retry_in_place_then_defer_with_back_off() {
        let err = StError::Decode {
            message: "unreadable".into(),
        };
        let mut tries = Tries::default();
        for _ in 0..3 {
            assert!(matches!(
                policy().after_failure(&err, &mut tries, 0, false, now(), 0.0),
                AfterFailure::RetryIn(_)
            ));
        }
        let AfterFailure::Defer { at } =
            policy().after_failure(&err, &mut tries, 4, false, now(), 0.999)
        else {
            panic!("expected a deferral");
        };
        assert!(at > now() && at <= now() + ChronoDuration::minutes(15));
    }
}
