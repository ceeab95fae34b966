//! The caller's own record learns who took their on-call page, and when (or that nobody did):
//! the paging ladder tells [`CallPages`] when it ends, the web page's "Take it" button notes
//! an office person taking the alert by hand, and a call whose page ended before its record
//! was written (a second line, a quick acknowledgement) gets it from the queue when written.
//!
//! Every write of a call record in this process goes through [`lock`], so the call's own
//! write and a page note never lose each other's change.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use crate::alert::ladder::{ENDED_ACKNOWLEDGED, ENDED_EXHAUSTED};
use crate::alert::PageNotes;
use crate::dialog::call_log::{self, CallRecord, PageRecord};
use crate::queue::{Outbox, PageProgress, Payload, RecordId};
use tracing::{info, warn};

static WRITING: Mutex<()> = Mutex::new(());

/// Held while a call record is read and written back (or first written).
pub(crate) fn lock() -> MutexGuard<'static, ()> {
    WRITING.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a call record says of an alert's page: `None` while it is still going unanswered.
pub fn page_record(alert: &RecordId, page: &PageProgress) -> Option<PageRecord> {
    let calls = page.attempts.len();
    if let Some(ack) = &page.acknowledged {
        return Some(PageRecord {
            alert: alert.to_string(),
            outcome: ENDED_ACKNOWLEDGED.into(),
            by: Some(ack.by.clone()),
            channel: Some(ack.channel.clone()),
            at: ack.at,
            calls,
        });
    }
    (page.ended.as_deref() == Some(ENDED_EXHAUSTED)).then(|| PageRecord {
        alert: alert.to_string(),
        outcome: ENDED_EXHAUSTED.into(),
        by: None,
        channel: None,
        at: page.ended_at,
        calls,
    })
}

/// The page outcome the queue already knows for a call's records (its on-call alert), for
/// the call's record as it is first written.
pub(crate) fn from_queue(queue: &Outbox, records: &[RecordId]) -> Option<PageRecord> {
    records.iter().find_map(|id| {
        let record = queue.get(id).ok().flatten()?;
        if !matches!(record.payload, Payload::OnCallAlert(_)) {
            return None;
        }
        page_record(id, record.alert.page.as_ref()?)
    })
}

/// Notes page outcomes in the call records under one directory.
#[derive(Debug, Clone)]
pub struct CallPages {
    calls_dir: PathBuf,
}

impl CallPages {
    pub fn new(calls_dir: PathBuf) -> CallPages {
        CallPages { calls_dir }
    }

    /// Notes `page` in the record of `call_key`. The changed record when it changed; `None`
    /// when there is no such record yet (its call writes it with the queue's word), or it
    /// already said so, or it could not be written (logged).
    pub fn note(&self, call_key: &str, page: &PageRecord) -> Option<CallRecord> {
        let _writing = lock();
        match call_log::note_page(&self.calls_dir, call_key, page) {
            Ok(Some(record)) => {
                info!(call = %call_key, alert = %page.alert, outcome = %page.outcome, channel = ?page.channel, "alerts: the page's end noted in the call's record");
                Some(record)
            }
            Ok(None) => None,
            Err(err) => {
                warn!(call = %call_key, alert = %page.alert, %err, "alerts: the page's end could not be noted in the call's record");
                None
            }
        }
    }
}

impl PageNotes for CallPages {
    fn page_ended(&self, call_key: &str, alert: &RecordId, page: &PageProgress) {
        if let Some(record) = page_record(alert, page) {
            self.note(call_key, &record);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{PageAcknowledgement, PageAttempt};

    fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
        s.parse().expect("time")
    }

    #[test]
    fn a_page_is_news_for_the_call_once_taken_or_given_up() {
        let id: RecordId = "cb-01JHC2V3W4X5Y6Z7A8B9C0D1E2".parse().expect("id");
        let mut page = PageProgress {
            round: 1,
            attempts: vec![PageAttempt {
                outcome: "no_answer".into(),
                ..PageAttempt::default()
            }],
            ..PageProgress::default()
        };
        assert_eq!(page_record(&id, &page), None, "still paging");
        page.ended = Some(ENDED_EXHAUSTED.into());
        page.ended_at = Some(at("2026-01-15T03:30:00Z"));
        let given_up = page_record(&id, &page).expect("exhausted");
        assert_eq!(
            (given_up.outcome.as_str(), given_up.by, given_up.calls),
            ("exhausted", None, 1)
        );
        assert_eq!(given_up.at, Some(at("2026-01-15T03:30:00Z")));
        page.acknowledged = Some(PageAcknowledgement {
            by: "Dana".into(),
            at: Some(at("2026-01-15T03:40:00Z")),
            channel: "web".into(),
        });
        let taken = page_record(&id, &page).expect("taken");
        assert_eq!(taken.outcome, "acknowledged");
        assert_eq!(taken.by.as_deref(), Some("Dana"));
        assert_eq!(taken.channel.as_deref(), Some("web"));
        assert_eq!(taken.at, Some(at("2026-01-15T03:40:00Z")));
        assert_eq!(taken.alert, id.to_string());
    }
}
