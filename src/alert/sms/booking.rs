//! The text a caller gets after booking a visit: the arrival window, the technician's name
//! when ServiceTitan has one on the appointment, and the confirmation number they heard.
//!
//! [`plan`] is **sans-I/O** (handed the record, the time and who is assigned); the
//! [`BookingTexter`] service reads the queue's job records, asks `plan`, and sends through the
//! [`SmsSender`] under the key `booking-<record id>`, so a pass repeated after a crash, a
//! retry or a restart never texts a booking twice.
//!
//! When: as soon as the sync has created the job in ServiceTitan (then the technician is known
//! if one was assigned), or `sms.booking_wait_minutes` after the call while ServiceTitan is
//! unreachable (the window and the confirmation number the caller heard). A booking taken from
//! cached capacity while offline waits for the sync: its slot may turn out taken. None for a
//! record that became a booking for the office to confirm, needs a person, or is over.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::sync::Arc;
use std::time::Duration;

use super::{SendOutcome, SmsError, SmsSender, TextState};
use crate::alert::OnCallDirectory;
use crate::infra::backoff::Backoff;
use crate::infra::clock::{SharedClock, SystemClock};
use crate::queue::{JobRequest, ListFilter, Outbox, Payload, Record, RecordKind, RecordState};

/// Records older than this get no text (a box whose texts were just switched on must not
/// text last month's callers).
pub const MAX_AGE: chrono::Duration = chrono::Duration::days(2);

/// Ledger entries are forgotten after this (longer than [`MAX_AGE`] by far).
const LEDGER_KEEP: chrono::Duration = chrono::Duration::days(60);

/// Look at the queue at least this often (the queue's change notifications wake it sooner).
const POLL: Duration = Duration::from_secs(60);

/// What to do about one record now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BookingTextPlan {
    /// Send `text` to `to`.
    Send { to: String, text: String },
    /// Look again at (or after) this time.
    WaitUntil(DateTime<Utc>),
    /// Never (the reason, for the log).
    Skip(&'static str),
}

/// The message key of a booking's text.
pub fn key_for(record: &Record) -> String {
    format!("booking-{}", record.id)
}

/// What to do about `record` at `now`: see the module docs. `technician` is the name of the
/// technician on the appointment when ServiceTitan assigned one.
pub fn plan(
    record: &Record,
    now: DateTime<Utc>,
    wait: Duration,
    shop_name: &str,
    timezone: Tz,
    technician: Option<&str>,
) -> BookingTextPlan {
    let Payload::Job(job) = &record.payload else {
        return BookingTextPlan::Skip("not a booking");
    };
    let Some(to) = job.caller.best_phone() else {
        return BookingTextPlan::Skip("no number to text");
    };
    if now - record.created_at > MAX_AGE {
        return BookingTextPlan::Skip("booked too long ago");
    }
    let end = job
        .appointment
        .arrival_window_end_utc
        .unwrap_or(job.appointment.end_utc);
    if end <= now {
        return BookingTextPlan::Skip("the visit's window is over");
    }
    let send = |technician: Option<&str>| BookingTextPlan::Send {
        to: to.to_string(),
        text: compose(job, shop_name, timezone, technician),
    };
    match &record.state {
        RecordState::Synced => match record.progress.created_as.as_deref() {
            Some("job") | None => send(
                technician
                    .filter(|_| record.progress.technician_assigned)
                    .filter(|n| !n.trim().is_empty()),
            ),
            Some(_) => BookingTextPlan::Skip("became a request for the office to confirm"),
        },
        RecordState::NeedsAttention { .. } => BookingTextPlan::Skip("needs a person at the shop"),
        RecordState::Queued | RecordState::Syncing => {
            if job.booked_offline {
                // The slot came from cached capacity: wait for ServiceTitan to confirm it.
                return BookingTextPlan::WaitUntil(now + chrono::Duration::seconds(60));
            }
            let due = record.created_at
                + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::minutes(30));
            if now >= due {
                send(None)
            } else {
                BookingTextPlan::WaitUntil(due)
            }
        }
    }
}

/// The text: shop, day, arrival window in the shop's time, technician or confirmation number.
pub fn compose(
    job: &JobRequest,
    shop_name: &str,
    timezone: Tz,
    technician: Option<&str>,
) -> String {
    let start = job
        .appointment
        .arrival_window_start_utc
        .unwrap_or(job.appointment.start_utc)
        .with_timezone(&timezone);
    let end = job
        .appointment
        .arrival_window_end_utc
        .unwrap_or(job.appointment.end_utc)
        .with_timezone(&timezone);
    let clock = |t: &chrono::DateTime<Tz>| {
        let s = t.format("%-I:%M %p").to_string();
        s.replace(":00", "")
    };
    let shop = shop_name.trim();
    let mut text = format!(
        "{}: your visit is booked for {}, arrival between {} and {}.",
        if shop.is_empty() {
            "Your HVAC service"
        } else {
            shop
        },
        start.format("%a %b %-d"),
        clock(&start),
        clock(&end),
    );
    if let Some(name) = technician {
        text.push_str(&format!(" Your technician: {}.", name.trim()));
    }
    if !job.confirmation_number.trim().is_empty() {
        text.push_str(&format!(
            " Confirmation {}.",
            job.confirmation_number.trim()
        ));
    }
    text.push_str(" Reply STOP to opt out.");
    text
}

/// Texts callers after their bookings; see the module docs. Cheap to clone.
#[derive(Clone)]
pub struct BookingTexter {
    sender: SmsSender,
    outbox: Outbox,
    on_call: Arc<dyn OnCallDirectory>,
    shop_name: String,
    timezone: Tz,
    wait: Duration,
    clock: SharedClock,
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassReport {
    pub sent: usize,
    /// When a record waits for its time (the earliest).
    pub next_at: Option<DateTime<Utc>>,
    /// The gateway could not be reached or said "later": the pass stopped there.
    pub gateway_trouble: Option<String>,
}

impl BookingTexter {
    pub fn new(
        sender: SmsSender,
        outbox: Outbox,
        on_call: Arc<dyn OnCallDirectory>,
        shop_name: &str,
        timezone: Tz,
        wait: Duration,
    ) -> BookingTexter {
        BookingTexter {
            sender,
            outbox,
            on_call,
            shop_name: shop_name.to_string(),
            timezone,
            wait,
            clock: SystemClock::shared(),
        }
    }

    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.sender = self.sender.with_clock(clock.clone());
        self.clock = clock;
        self
    }

    /// Every job record looked at once; texts what is due.
    pub async fn pass(&self) -> Result<PassReport, SmsError> {
        let now = self.clock.now_utc();
        let records = self
            .outbox
            .list(&ListFilter {
                kind: Some(RecordKind::Job),
                ..ListFilter::default()
            })
            .map_err(|e| SmsError::Store(format!("reading the queue: {e}")))?;
        let mut report = PassReport::default();
        for record in records {
            let key = key_for(&record);
            if let Some(entry) = self.sender.store().entry(&key)? {
                if matches!(
                    entry.state,
                    TextState::Sent { .. } | TextState::GaveUp { .. }
                ) {
                    continue;
                }
            }
            let technician = self.technician_for(&record);
            match plan(
                &record,
                now,
                self.wait,
                &self.shop_name,
                self.timezone,
                technician.as_deref(),
            ) {
                BookingTextPlan::Skip(_) => {}
                BookingTextPlan::WaitUntil(at) => {
                    report.next_at = Some(report.next_at.map_or(at, |n| n.min(at)));
                }
                BookingTextPlan::Send { to, text } => {
                    match self.sender.send(&to, &text, &key).await {
                        Ok(SendOutcome::Sent { .. }) => report.sent += 1,
                        Ok(SendOutcome::AlreadySent | SendOutcome::OptedOut) => {}
                        Err(e) if e.is_transient() => {
                            report.gateway_trouble = Some(e.to_string());
                            return Ok(report);
                        }
                        Err(SmsError::Store(e)) => return Err(SmsError::Store(e)),
                        Err(e) => {
                            // Refused for good (the sender has noted it) or unusable here: noted
                            // so it is not tried, and logged, on every pass.
                            tracing::warn!(id = %record.id, "sms: no booking text for this record: {e}");
                            if !matches!(e, SmsError::GaveUp(_)) {
                                self.sender.store().finish(
                                    &key,
                                    TextState::GaveUp {
                                        reason: e.to_string(),
                                    },
                                    None,
                                    now,
                                )?;
                            }
                        }
                    }
                }
            }
        }
        Ok(report)
    }

    /// The technician on the appointment: ServiceTitan's on-call shift at the window's start,
    /// when the sync assigned the on-call technician.
    fn technician_for(&self, record: &Record) -> Option<String> {
        let Payload::Job(job) = &record.payload else {
            return None;
        };
        if !record.progress.technician_assigned {
            return None;
        }
        self.on_call
            .on_call_at(job.appointment.start_utc)
            .map(|t| t.name)
            .filter(|n| !n.trim().is_empty())
    }

    /// Runs until `shutdown` resolves: a pass on every queue change, at a booking's time, and
    /// at least every minute; with back-off while the gateway is unreachable.
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut changes = self.outbox.subscribe();
        let backoff = Backoff::new(Duration::from_secs(5), Duration::from_secs(600));
        let mut failures = 0u32;
        loop {
            let now = self.clock.now_utc();
            if let Err(e) = self.sender.store().prune(now - LEDGER_KEEP) {
                tracing::warn!("sms: pruning the ledger failed: {e}");
            }
            let wait = match self.pass().await {
                Ok(report) if report.gateway_trouble.is_some() => {
                    failures = failures.saturating_add(1);
                    let wait = backoff.delay_jittered(failures - 1);
                    tracing::warn!(retry_in = ?wait, "sms: booking texts held: {}", report.gateway_trouble.unwrap_or_default());
                    wait
                }
                Ok(report) => {
                    failures = 0;
                    report
                        .next_at
                        .and_then(|t| (t - now).to_std().ok())
                        .unwrap_or(POLL)
                        .min(POLL)
                }
                Err(e) => {
                    tracing::error!("sms: booking texts: {e}");
                    POLL
                }
            };
            tokio::select! {
                _ = &mut shutdown => return,
                _ = changes.changed(), if failures == 0 => {}
                _ = self.clock.sleep(wait) => {}
            }
        }
    }
}
