//! What `callbox queue …` prints. Kept here so `main.rs` stays wiring only.

use chrono::{DateTime, Utc};
use std::fmt::Write as _;

use super::{QueueCounts, Record, RecordState};

/// `callbox queue list`: one line per record, oldest first.
pub fn render_table(records: &[Record], now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<29}  {:<15}  {:<19}  {:>6}  {:>3}  DETAILS",
        "ID", "STATE", "KIND", "AGE", "TRY"
    );
    for r in records {
        let details = match &r.state {
            RecordState::NeedsAttention { reason } => {
                format!("{} — {reason}", r.payload.headline())
            }
            RecordState::Synced => match (&r.progress.created_as, &r.progress.job_number) {
                (_, Some(number)) => format!("job #{number} — {}", r.payload.headline()),
                (Some(what), None) => format!("{what} — {}", r.payload.headline()),
                (None, None) => r.payload.headline(),
            },
            RecordState::Queued | RecordState::Syncing => match &r.last_error {
                Some(err) => format!("{} — last error: {err}", r.payload.headline()),
                None => r.payload.headline(),
            },
        };
        let _ = writeln!(
            out,
            "{:<29}  {:<15}  {:<19}  {:>6}  {:>3}  {}",
            r.id,
            r.state.name().label(),
            r.kind().name(),
            age(now, r.created_at),
            r.attempts,
            truncate(&details, 100)
        );
    }
    out
}

/// The one-line summary under the table.
pub fn render_counts(counts: &QueueCounts) -> String {
    let mut line = format!(
        "{} queued, {} syncing, {} synced, {} needs attention",
        counts.queued, counts.syncing, counts.synced, counts.needs_attention
    );
    if counts.quarantined > 0 {
        let _ = write!(
            line,
            ", {} quarantined (damaged on disk; see the log)",
            counts.quarantined
        );
    }
    line
}

/// "42s", "17m", "5h", "3d".
fn age(now: DateTime<Utc>, then: DateTime<Utc>) -> String {
    let secs = (now - then).num_seconds().max(0);
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max_chars - 1).collect();
    t.push('…');
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_naturally() {
        let now = Utc::now();
        assert_eq!(age(now, now - chrono::Duration::seconds(5)), "5s");
        assert_eq!(age(now, now - chrono::Duration::minutes(17)), "17m");
        assert_eq!(age(now, now - chrono::Duration::hours(5)), "5h");
        assert_eq!(age(now, now - chrono::Duration::days(3)), "3d");
        assert_eq!(age(now, now + chrono::Duration::days(3)), "0s");
    }

    #[test]
    fn long_details_are_cut() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }
}
