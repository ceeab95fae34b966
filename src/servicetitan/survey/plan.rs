//! When to place a survey call. **Sans-I/O**: handed the job's completion time, "now", the
//! shop's zone and calling hours, and what was tried; no clock, no files.
//!
//! The call goes the day after the job was completed (shop-local), at the first moment inside
//! the shop's calling hours on an allowed weekday; a call that went unanswered is tried again
//! no sooner than `retry_gap` later, still inside the hours; after `max_attempts`, or once the
//! call would fall more than `expire_after` past the completion, there is no call.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

/// When the shop allows survey calls, in its own time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallingHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
    pub days: Vec<Weekday>,
}

impl Default for CallingHours {
    /// 10:00-19:00, Monday to Saturday.
    fn default() -> Self {
        CallingHours {
            start: NaiveTime::from_hms_opt(10, 0, 0).unwrap_or(NaiveTime::MIN),
            end: NaiveTime::from_hms_opt(19, 0, 0).unwrap_or(NaiveTime::MIN),
            days: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
                Weekday::Sat,
            ],
        }
    }
}

/// The rules of [`next_call`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurveyRules {
    pub timezone: Tz,
    pub hours: CallingHours,
    pub max_attempts: u32,
    pub retry_gap: Duration,
    pub expire_after: Duration,
}

impl Default for SurveyRules {
    fn default() -> Self {
        SurveyRules {
            timezone: chrono_tz::UTC,
            hours: CallingHours::default(),
            max_attempts: 2,
            retry_gap: Duration::hours(3),
            expire_after: Duration::days(4),
        }
    }
}

/// What to do about one completed job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallPlan {
    /// Call at this time (due when it is not after "now").
    At(DateTime<Utc>),
    /// No call (the reason, for the log and the survey's record).
    Never(&'static str),
}

/// See the module docs.
pub fn next_call(
    rules: &SurveyRules,
    completed_at: DateTime<Utc>,
    now: DateTime<Utc>,
    attempts: u32,
    last_attempt_at: Option<DateTime<Utc>>,
) -> CallPlan {
    if attempts >= rules.max_attempts {
        return CallPlan::Never("no answer after the allowed attempts");
    }
    let tz = rules.timezone;
    let completed_day = completed_at.with_timezone(&tz).date_naive();
    let Some(next_day) = completed_day.succ_opt() else {
        return CallPlan::Never("date out of range");
    };
    let mut from = local_start_of(tz, next_day).max(now);
    if let Some(last) = last_attempt_at {
        from = from.max(last + rules.retry_gap);
    }
    let deadline = completed_at + rules.expire_after;
    match first_allowed(rules, from) {
        Some(at) if at <= deadline => CallPlan::At(at),
        _ => CallPlan::Never("too long after the job"),
    }
}

/// The first instant at or after `from` inside the calling hours (within two weeks).
fn first_allowed(rules: &SurveyRules, from: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let tz = rules.timezone;
    let h = &rules.hours;
    if h.start >= h.end || h.days.is_empty() {
        return None;
    }
    let mut day = from.with_timezone(&tz).date_naive();
    for _ in 0..15 {
        if h.days.contains(&day.weekday()) {
            let open = local(tz, day, h.start);
            let close = local(tz, day, h.end);
            if let (Some(open), Some(close)) = (open, close) {
                if from < close {
                    return Some(from.max(open));
                }
            }
        }
        day = day.succ_opt()?;
    }
    None
}

fn local(tz: Tz, day: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
    // A time skipped by a DST change does not exist that day; an ambiguous one is its first.
    tz.from_local_datetime(&day.and_time(time))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

fn local_start_of(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    (0..3)
        .find_map(|h| local(tz, day, NaiveTime::from_hms_opt(h, 0, 0)?))
        .unwrap_or_else(|| day.and_time(NaiveTime::MIN).and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    fn rules() -> SurveyRules {
        SurveyRules {
            timezone: chrono_tz::America::Chicago,
            ..SurveyRules::default()
        }
    }

    #[test]
    fn the_next_day_at_opening_time() {
        // Completed Tue 13 Jan 15:00 CST (21:00 UTC): Wed 14 Jan 10:00 CST = 16:00 UTC.
        let done = t("2026-01-13T21:00:00Z");
        assert_eq!(
            next_call(&rules(), done, done, 0, None),
            CallPlan::At(t("2026-01-14T16:00:00Z"))
        );
        // Completed late in the evening local time (after midnight UTC): still the next local day.
        let late = t("2026-01-14T04:30:00Z"); // Tue 13 Jan 22:30 CST
        assert_eq!(
            next_call(&rules(), late, late, 0, None),
            CallPlan::At(t("2026-01-14T16:00:00Z"))
        );
    }

    #[test]
    fn inside_the_hours_now_is_due_and_sunday_is_skipped() {
        let done = t("2026-01-13T21:00:00Z");
        let now = t("2026-01-14T20:00:00Z"); // Wed 14:00 CST
        assert_eq!(next_call(&rules(), done, now, 0, None), CallPlan::At(now));
        // After hours on Wednesday: Thursday morning.
        let evening = t("2026-01-15T02:00:00Z"); // Wed 20:00 CST
        assert_eq!(
            next_call(&rules(), done, evening, 0, None),
            CallPlan::At(t("2026-01-15T16:00:00Z"))
        );
        // Completed Saturday: Sunday is not a calling day, Monday is.
        let sat = t("2026-01-17T18:00:00Z");
        assert_eq!(
            next_call(&rules(), sat, sat, 0, None),
            CallPlan::At(t("2026-01-19T16:00:00Z"))
        );
    }

    #[test]
    fn a_retry_waits_its_gap_and_attempts_and_age_end_it() {
        let done = t("2026-01-13T21:00:00Z");
        let first = t("2026-01-14T16:00:00Z");
        assert_eq!(
            next_call(&rules(), done, first, 1, Some(first)),
            CallPlan::At(t("2026-01-14T19:00:00Z"))
        );
        assert!(matches!(
            next_call(&rules(), done, first, 2, Some(first)),
            CallPlan::Never(_)
        ));
        let week_later = t("2026-01-20T16:00:00Z");
        assert!(matches!(
            next_call(&rules(), done, week_later, 0, None),
            CallPlan::Never(_)
        ));
    }
}
