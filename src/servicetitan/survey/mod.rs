//! The post-job survey: jobs the box booked that ServiceTitan marks completed get one call the
//! next day, inside the shop's calling hours, never to a do-not-call number; the customer's
//! 1-5 rating and comment are written to the job as a note exactly once; "press 9" puts the
//! number on the do-not-call list for good.
//!
//! - [`plan`] — when to call (**sans-I/O**, handed the time).
//! - [`SurveyCaller`] — the seam to the call itself (telephony's outbound call, wired in
//!   `crate::app`; a scripted one in tests). Nothing here places calls.
//! - [`SurveyStore`] — `<data_dir>/survey/`: each job's survey state and the do-not-call list,
//!   replaced atomically after every change and before acting on it.
//! - [`SurveyWorker`] — one pass: notice completed jobs, place the calls that are due, write
//!   the notes.
//!
//! Exactly once: a call is marked *calling* durably before it is placed; a survey found in
//! that state (a crash mid-call) is never called again. A note is marked *in doubt* before it
//! is posted; a note in doubt is looked up on the job (by its marker) before it is posted
//! again.
//!
//! `callbox run` starts it (`crate::app::survey`) when `[survey] enabled`; its calls go over
//! the box's outbound line (`crate::app::survey_call`).

pub mod plan;
pub mod settings;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use crate::infra::clock::{SharedClock, SystemClock};
use crate::infra::fs::{create_private_dir_all, write_atomic};
use crate::queue::{ListFilter, Outbox, Payload, RecordKind, StateName};
use crate::trade::phone::masked;

use super::{StClient, StError};
pub use plan::{next_call, CallPlan, CallingHours, SurveyRules};

/// One survey call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurveyCallRequest {
    /// E.164.
    pub to: String,
    pub customer_name: String,
    pub shop_name: String,
    pub job_id: i64,
    pub job_number: String,
}

/// What one survey call came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SurveyCallOutcome {
    /// A rating 1-5 (keypad or voice) and what the customer added, if anything.
    Rated {
        rating: u8,
        comment: Option<String>,
    },
    /// Pressed 9 (or said so): never call this number again.
    NeverCallAgain,
    /// Answered but gave no rating.
    NoRating,
    NoAnswer,
    Busy,
    Failed {
        reason: String,
    },
}

/// A boxed future, `Send`, borrowing the caller and the request.
pub type SurveyCallFuture<'a> = Pin<Box<dyn Future<Output = SurveyCallOutcome> + Send + 'a>>;

/// Places survey calls. `crate::app` implements it over telephony's outbound calls.
pub trait SurveyCaller: Send + Sync {
    fn call<'a>(&'a self, request: &'a SurveyCallRequest) -> SurveyCallFuture<'a>;
}

/// Where one job's survey stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SurveyState {
    /// Completed; waiting for its call time.
    Waiting,
    /// A call was being placed: found so at start, it is never placed again.
    Calling,
    /// Rated; the note is not written yet.
    Rated { rating: u8, comment: Option<String> },
    /// The note was posted and its answer not recorded: looked up before posting again.
    NoteInDoubt { rating: u8, comment: Option<String> },
    /// The note is on the job.
    Done { rating: u8, comment: Option<String> },
    /// The number is on the do-not-call list.
    DoNotCall,
    /// No survey (the reason).
    Ended { reason: String },
}

/// One job's survey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurveyEntry {
    pub job_id: i64,
    pub job_number: String,
    /// E.164.
    pub phone: String,
    pub customer_name: String,
    pub completed_at: DateTime<Utc>,
    pub attempts: u32,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub state: SurveyState,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct SurveyFile {
    version: u32,
    jobs: BTreeMap<i64, SurveyEntry>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct DoNotCallFile {
    version: u32,
    numbers: BTreeMap<String, DateTime<Utc>>,
}

/// Why a survey pass failed.
#[derive(Debug, thiserror::Error)]
pub enum SurveyError {
    #[error("survey store: {0}")]
    Store(String),
    #[error(transparent)]
    Client(#[from] StError),
    #[error(transparent)]
    Queue(#[from] crate::queue::QueueError),
}

/// See the module docs.
#[derive(Debug)]
pub struct SurveyStore {
    dir: PathBuf,
    state: Mutex<(SurveyFile, DoNotCallFile)>,
}

const SURVEYS: &str = "surveys.json";
const DO_NOT_CALL: &str = "do-not-call.json";

impl SurveyStore {
    /// Opens (creating) `dir`. A file that does not parse is an error: no calls rather than a
    /// call to a number that asked never to be called.
    pub fn open(dir: &Path) -> Result<SurveyStore, SurveyError> {
        create_private_dir_all(dir)
            .map_err(|e| SurveyError::Store(format!("{}: {e}", dir.display())))?;
        Ok(SurveyStore {
            dir: dir.to_path_buf(),
            state: Mutex::new((read(&dir.join(SURVEYS))?, read(&dir.join(DO_NOT_CALL))?)),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (SurveyFile, DoNotCallFile)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn entries(&self) -> Vec<SurveyEntry> {
        self.lock().0.jobs.values().cloned().collect()
    }

    pub fn entry(&self, job_id: i64) -> Option<SurveyEntry> {
        self.lock().0.jobs.get(&job_id).cloned()
    }

    pub fn is_do_not_call(&self, number: &str) -> bool {
        self.lock().1.numbers.contains_key(number)
    }

    /// Puts `number` on the do-not-call list for good.
    pub fn add_do_not_call(&self, number: &str, at: DateTime<Utc>) -> Result<(), SurveyError> {
        let mut st = self.lock();
        if st.1.numbers.contains_key(number) {
            return Ok(());
        }
        st.1.version = 1;
        st.1.numbers.insert(number.to_string(), at);
        if let Err(e) = write(&self.dir.join(DO_NOT_CALL), &st.1) {
            st.1.numbers.remove(number);
            return Err(e);
        }
        Ok(())
    }

    /// Stores `entry` (new or changed), durably.
    pub fn put(&self, entry: SurveyEntry) -> Result<(), SurveyError> {
        let mut st = self.lock();
        let old = st.0.jobs.insert(entry.job_id, entry.clone());
        st.0.version = 1;
        if let Err(e) = write(&self.dir.join(SURVEYS), &st.0) {
            match old {
                Some(o) => st.0.jobs.insert(entry.job_id, o),
                None => st.0.jobs.remove(&entry.job_id),
            };
            return Err(e);
        }
        Ok(())
    }
}

fn read<T: Default + for<'de> Deserialize<'de>>(path: &Path) -> Result<T, SurveyError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| SurveyError::Store(format!("{} does not parse: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(SurveyError::Store(format!("{}: {e}", path.display()))),
    }
}

fn write<T: Serialize>(path: &Path, value: &T) -> Result<(), SurveyError> {
    let bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| SurveyError::Store(format!("{}: {e}", path.display())))?;
    write_atomic(path, &bytes).map_err(|e| SurveyError::Store(format!("{}: {e}", path.display())))
}

/// The note's marker: how a note in doubt is found on the job.
pub fn note_marker(job_id: i64) -> String {
    format!("[callbox survey job {job_id}]")
}

/// The note written to the job.
pub fn note_text(job_id: i64, rating: u8, comment: Option<&str>) -> String {
    let mut text = format!("Customer survey (callbox call): rating {rating}/5.");
    match comment.map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => text.push_str(&format!(" Comment: \"{c}\".")),
        None => text.push_str(" No comment."),
    }
    text.push(' ');
    text.push_str(&note_marker(job_id));
    text
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SurveyReport {
    pub noticed: usize,
    pub called: usize,
    pub notes_written: usize,
}

/// See the module docs.
#[derive(Clone)]
pub struct SurveyWorker {
    client: StClient,
    outbox: Outbox,
    store: Arc<SurveyStore>,
    caller: Arc<dyn SurveyCaller>,
    rules: SurveyRules,
    shop_name: String,
    /// The shop's own do-not-call numbers (`survey.do_not_call`), besides the store's.
    do_not_call: Arc<Vec<String>>,
    clock: SharedClock,
}

impl SurveyWorker {
    pub fn new(
        client: StClient,
        outbox: Outbox,
        store: Arc<SurveyStore>,
        caller: Arc<dyn SurveyCaller>,
        rules: SurveyRules,
        shop_name: &str,
    ) -> SurveyWorker {
        SurveyWorker {
            client,
            outbox,
            store,
            caller,
            rules,
            shop_name: shop_name.to_string(),
            do_not_call: Arc::default(),
            clock: SystemClock::shared(),
        }
    }

    /// The shop's own do-not-call numbers (E.164), never called.
    pub fn with_do_not_call(mut self, numbers: Vec<String>) -> Self {
        self.do_not_call = Arc::new(numbers);
        self
    }

    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    pub fn store(&self) -> &Arc<SurveyStore> {
        &self.store
    }

    /// Calls left in *calling* by an earlier process are ended, never placed again. Call once
    /// at start, before the first pass.
    pub fn recover(&self) -> Result<usize, SurveyError> {
        let mut n = 0;
        for mut e in self.store.entries() {
            if e.state == SurveyState::Calling {
                e.state = SurveyState::Ended {
                    reason: "interrupted during the call; not called twice".into(),
                };
                self.store.put(e)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// One pass: notice, call what is due, write the notes.
    pub async fn pass(&self) -> Result<SurveyReport, SurveyError> {
        let mut report = SurveyReport {
            noticed: self.notice_completed().await?,
            ..SurveyReport::default()
        };
        let now = self.clock.now_utc();
        for entry in self.store.entries() {
            match entry.state.clone() {
                SurveyState::Waiting => {
                    if self.store.is_do_not_call(&entry.phone)
                        || self.do_not_call.contains(&entry.phone)
                    {
                        self.store.put(SurveyEntry {
                            state: SurveyState::DoNotCall,
                            ..entry
                        })?;
                        continue;
                    }
                    match next_call(
                        &self.rules,
                        entry.completed_at,
                        now,
                        entry.attempts,
                        entry.last_attempt_at,
                    ) {
                        CallPlan::Never(reason) => self.store.put(SurveyEntry {
                            state: SurveyState::Ended {
                                reason: reason.into(),
                            },
                            ..entry
                        })?,
                        CallPlan::At(at) if at <= now => {
                            report.called += 1;
                            if self.call(entry).await? {
                                report.notes_written += 1;
                            }
                        }
                        CallPlan::At(_) => {}
                    }
                }
                SurveyState::Rated { rating, comment }
                | SurveyState::NoteInDoubt { rating, comment } => {
                    let written = self.write_note(entry, rating, comment).await?;
                    report.notes_written += usize::from(written);
                }
                _ => {}
            }
        }
        Ok(report)
    }

    /// Synced job records the box booked, not yet in the store, that ServiceTitan now has as
    /// completed: stored as waiting. Returns how many.
    async fn notice_completed(&self) -> Result<usize, SurveyError> {
        let records = self.outbox.list(&ListFilter {
            state: Some(StateName::Synced),
            kind: Some(RecordKind::Job),
            limit: None,
        })?;
        let mut candidates = BTreeMap::new();
        for r in &records {
            let (Payload::Job(job), Some(job_id)) = (&r.payload, r.progress.job_id) else {
                continue;
            };
            let Some(phone) = job.caller.best_phone() else {
                continue;
            };
            if self.store.entry(job_id).is_none() {
                candidates.insert(job_id, (phone.to_string(), job.caller.name.clone()));
            }
        }
        if candidates.is_empty() {
            return Ok(0);
        }
        let ids: Vec<i64> = candidates.keys().copied().collect();
        let jobs = self.client.jobs_by_ids(&ids).await?;
        let mut n = 0;
        for job in jobs {
            if job.job_status != "Completed" {
                continue;
            }
            let Some((phone, name)) = candidates.remove(&job.id) else {
                continue;
            };
            let completed_at = job
                .completed_on
                .or(job.modified_on)
                .unwrap_or_else(|| self.clock.now_utc());
            self.store.put(SurveyEntry {
                job_id: job.id,
                job_number: job.job_number.clone(),
                phone,
                customer_name: name,
                completed_at,
                attempts: 0,
                last_attempt_at: None,
                state: SurveyState::Waiting,
            })?;
            tracing::info!(
                job_id = job.id,
                "survey: job completed; a survey call is planned"
            );
            n += 1;
        }
        Ok(n)
    }

    /// Places one call. `Ok(true)` when it ended with the note on the job.
    async fn call(&self, entry: SurveyEntry) -> Result<bool, SurveyError> {
        let now = self.clock.now_utc();
        let calling = SurveyEntry {
            attempts: entry.attempts.saturating_add(1),
            last_attempt_at: Some(now),
            state: SurveyState::Calling,
            ..entry
        };
        self.store.put(calling.clone())?;
        let request = SurveyCallRequest {
            to: calling.phone.clone(),
            customer_name: calling.customer_name.clone(),
            shop_name: self.shop_name.clone(),
            job_id: calling.job_id,
            job_number: calling.job_number.clone(),
        };
        let outcome = self.caller.call(&request).await;
        tracing::info!(job_id = calling.job_id, to = %masked(&calling.phone), ?outcome, "survey: call ended");
        let state = match outcome {
            SurveyCallOutcome::Rated { rating, comment } if (1..=5).contains(&rating) => {
                SurveyState::Rated { rating, comment }
            }
            SurveyCallOutcome::Rated { .. } | SurveyCallOutcome::NoRating => SurveyState::Ended {
                reason: "answered without a rating".into(),
            },
            SurveyCallOutcome::NeverCallAgain => {
                self.store
                    .add_do_not_call(&calling.phone, self.clock.now_utc())?;
                SurveyState::DoNotCall
            }
            SurveyCallOutcome::NoAnswer
            | SurveyCallOutcome::Busy
            | SurveyCallOutcome::Failed { .. } => SurveyState::Waiting,
        };
        let entry = SurveyEntry { state, ..calling };
        self.store.put(entry.clone())?;
        if let SurveyState::Rated { rating, comment } = entry.state.clone() {
            return self.write_note(entry, rating, comment).await;
        }
        Ok(false)
    }

    /// Writes the rating to the job, exactly once. `Ok(true)` once it is there.
    async fn write_note(
        &self,
        entry: SurveyEntry,
        rating: u8,
        comment: Option<String>,
    ) -> Result<bool, SurveyError> {
        let done = SurveyEntry {
            state: SurveyState::Done {
                rating,
                comment: comment.clone(),
            },
            ..entry.clone()
        };
        if matches!(entry.state, SurveyState::NoteInDoubt { .. }) {
            let marker = note_marker(entry.job_id);
            let notes = self.client.list_job_notes(entry.job_id).await?;
            if notes.iter().any(|n| n.text.contains(&marker)) {
                self.store.put(done)?;
                return Ok(true);
            }
        }
        self.store.put(SurveyEntry {
            state: SurveyState::NoteInDoubt {
                rating,
                comment: comment.clone(),
            },
            ..entry.clone()
        })?;
        self.client
            .add_job_note(
                entry.job_id,
                &note_text(entry.job_id, rating, comment.as_deref()),
            )
            .await?;
        self.store.put(done)?;
        tracing::info!(
            job_id = entry.job_id,
            rating,
            "survey: rating written to the job"
        );
        Ok(true)
    }
}
