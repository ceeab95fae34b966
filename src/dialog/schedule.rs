//! Appointment windows: what the dialog may offer, where they come from, and how they are
//! spoken. Windows are stored in UTC and spoken in the shop's IANA timezone; every local →
//! UTC conversion goes through [`to_utc`], which settles the DST gap and overlap.
//!
//! [`ScheduleSource`] is what the engine asks. [`ConfiguredSchedule`] answers from the
//! `[schedule]` section (business hours, arrival window length, on-call evening windows) and is
//! the offline fallback; the cache-backed source lives outside `dialog` (data flows one way).

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone,
    Timelike, Utc, Weekday,
};
use chrono_tz::Tz;

use crate::dialog::settings::ScheduleConfig;
use crate::trade::Urgency;

/// One arrival window, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Slot {
    pub start_utc: DateTime<Utc>,
    pub end_utc: DateTime<Utc>,
}

/// Windows to read to the caller, and whether they are real capacity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OfferedSchedule {
    pub slots: Vec<Slot>,
    /// `true`: from fresh ServiceTitan capacity, so the box may say "booked". `false`: an
    /// estimate from configured hours; the caller hears that the office confirms it.
    pub live: bool,
}

/// Where offered windows come from.
pub trait ScheduleSource: Send + Sync {
    /// Up to `count` windows starting after `after` (the first ask passes `now`; "something
    /// later" passes the end of the last window offered). Emergencies get tonight's on-call
    /// windows, routine work the next business days; never a window already under way.
    fn offer(
        &self,
        urgency: Urgency,
        after: DateTime<Utc>,
        now: DateTime<Utc>,
        count: usize,
    ) -> OfferedSchedule;
}

/// "mon" … "sun" (also full names), case-insensitive.
pub fn parse_weekday(s: &str) -> Option<Weekday> {
    s.trim().parse::<Weekday>().ok()
}

/// "HH:MM" (24-hour).
pub fn parse_clock(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M").ok()
}

/// "HH:MM-HH:MM"; the end may be earlier than the start (the window passes midnight).
pub fn parse_clock_range(s: &str) -> Option<(NaiveTime, NaiveTime)> {
    let (a, b) = s.split_once('-')?;
    let (a, b) = (parse_clock(a)?, parse_clock(b)?);
    (a != b).then_some((a, b))
}

/// The shop's zone; an unknown name (rejected by `config check`) falls back to UTC.
pub fn shop_zone(name: &str) -> Tz {
    name.parse().unwrap_or(Tz::UTC)
}

/// A local wall-clock time in `tz` as UTC. In the autumn overlap the earlier instant is taken
/// (the technician arrives at the first 1:30); a time in the spring gap does not exist and is
/// moved forward by the gap (2:30 → 3:30).
pub fn to_utc(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        LocalResult::None => {
            let later = local + Duration::hours(1);
            tz.from_local_datetime(&later)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                // No zone has a gap longer than an hour; keep a total answer anyway.
                .unwrap_or_else(|| Utc.from_utc_datetime(&local))
        }
    }
}

/// UTC as the shop's wall-clock time.
pub fn to_local(tz: Tz, t: DateTime<Utc>) -> NaiveDateTime {
    t.with_timezone(&tz).naive_local()
}

/// The offline schedule from `[schedule]`.
#[derive(Debug, Clone)]
pub struct ConfiguredSchedule {
    tz: Tz,
    business_days: Vec<Weekday>,
    open: NaiveTime,
    close: NaiveTime,
    window: Duration,
    on_call: Vec<(NaiveTime, NaiveTime)>,
}

impl ConfiguredSchedule {
    /// From a validated configuration; invalid entries are skipped (`config check` reports them).
    pub fn new(config: &ScheduleConfig, timezone: &str) -> ConfiguredSchedule {
        ConfiguredSchedule {
            tz: shop_zone(timezone),
            business_days: config
                .business_days
                .iter()
                .filter_map(|d| parse_weekday(d))
                .collect(),
            open: parse_clock(&config.business_hours_start)
                .unwrap_or(NaiveTime::MIN + Duration::hours(8)),
            close: parse_clock(&config.business_hours_end)
                .unwrap_or(NaiveTime::MIN + Duration::hours(17)),
            window: Duration::hours(i64::from(config.arrival_window_hours.max(1))),
            on_call: config
                .on_call_windows
                .iter()
                .filter_map(|w| parse_clock_range(w))
                .collect(),
        }
    }

    fn slot(&self, date: NaiveDate, from: NaiveTime, to: NaiveTime) -> Slot {
        let end_date = if to <= from {
            date.succ_opt().unwrap_or(date)
        } else {
            date
        };
        Slot {
            start_utc: to_utc(self.tz, date.and_time(from)),
            end_utc: to_utc(self.tz, end_date.and_time(to)),
        }
    }

    fn routine(&self, after: DateTime<Utc>, now: DateTime<Utc>, count: usize) -> Vec<Slot> {
        let today = to_local(self.tz, now).date();
        let mut out = Vec::new();
        // Regular work starts the next business day: the box answers after hours.
        let mut date = today.max(to_local(self.tz, after).date());
        for _ in 0..60 {
            if date > today && self.business_days.contains(&date.weekday()) {
                let mut from = self.open;
                while from + self.window <= self.close && from >= self.open {
                    let slot = self.slot(date, from, from + self.window);
                    if slot.start_utc >= after {
                        out.push(slot);
                        if out.len() == count {
                            return out;
                        }
                    }
                    from += self.window;
                }
            }
            match date.succ_opt() {
                Some(d) => date = d,
                None => break,
            }
        }
        out
    }

    fn emergency(&self, after: DateTime<Utc>, now: DateTime<Utc>, count: usize) -> Vec<Slot> {
        let today = to_local(self.tz, now).date();
        let mut out: Vec<Slot> = Vec::new();
        for date in [today.pred_opt(), Some(today), today.succ_opt()]
            .into_iter()
            .flatten()
        {
            for &(from, to) in &self.on_call {
                let slot = self.slot(date, from, to);
                // Not a window already under way: nobody can promise an arrival inside one
                // (the engine never offers one either).
                if slot.start_utc >= now {
                    out.push(slot);
                }
            }
        }
        // Tonight means the next twelve hours, not tomorrow evening.
        out.retain(|s| s.start_utc < now + Duration::hours(12) && s.end_utc > after);
        out.sort_by_key(|s| s.start_utc);
        out.dedup();
        // In the small hours tonight's windows are over, and in the last one none is left to
        // start: the on-call technician comes next.
        let first_far = out
            .first()
            .is_none_or(|s| s.start_utc > now + Duration::hours(6));
        if first_far && after <= now {
            let start = round_up_to_hour(now);
            // Within the hour: before every window left.
            out.insert(
                0,
                Slot {
                    start_utc: start,
                    end_utc: start + self.window,
                },
            );
        }
        out.truncate(count);
        out
    }
}

fn round_up_to_hour(t: DateTime<Utc>) -> DateTime<Utc> {
    let floor = t
        .with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(t);
    if floor == t {
        t
    } else {
        floor + Duration::hours(1)
    }
}

impl ScheduleSource for ConfiguredSchedule {
    fn offer(
        &self,
        urgency: Urgency,
        after: DateTime<Utc>,
        now: DateTime<Utc>,
        count: usize,
    ) -> OfferedSchedule {
        let slots = match urgency {
            Urgency::Emergency => self.emergency(after, now, count),
            Urgency::Routine => self.routine(after, now, count),
        };
        OfferedSchedule { slots, live: false }
    }
}

/// A clock time as spoken: "8", "8:30", "noon", "midnight" (am/pm is added by the caller).
fn speak_clock(t: NaiveTime) -> String {
    match (t.hour(), t.minute()) {
        (12, 0) => "noon".into(),
        (0, 0) => "midnight".into(),
        (h, m) => {
            let h12 = if h % 12 == 0 { 12 } else { h % 12 };
            if m == 0 {
                h12.to_string()
            } else {
                format!("{h12}:{m:02}")
            }
        }
    }
}

fn half(t: NaiveTime) -> &'static str {
    if t.hour() < 12 {
        "am"
    } else {
        "pm"
    }
}

fn with_half(t: NaiveTime) -> String {
    let s = speak_clock(t);
    if s == "noon" || s == "midnight" {
        s
    } else {
        format!("{s} {}", half(t))
    }
}

/// "between 8 and 10 am", "between 11 am and 1 pm", "between 10 pm and midnight".
fn speak_range(from: NaiveTime, to: NaiveTime) -> String {
    let plain = |t: NaiveTime| speak_clock(t) == "noon" || speak_clock(t) == "midnight";
    if half(from) == half(to) && !plain(from) && !plain(to) {
        format!("between {} and {}", speak_clock(from), with_half(to))
    } else {
        format!("between {} and {}", with_half(from), with_half(to))
    }
}

/// The day of a window relative to now: "today" / "tonight", "tomorrow", "Monday, March 9".
fn speak_day(date: NaiveDate, start: NaiveTime, today: NaiveDate) -> String {
    if date == today {
        if start.hour() >= 17 {
            "tonight".into()
        } else {
            "today".into()
        }
    } else if Some(date) == today.succ_opt() {
        "tomorrow".into()
    } else {
        date.format("%A, %B %-d").to_string()
    }
}

/// A window as the caller hears it, in the shop's time: "tomorrow between 8 and 10 am".
pub fn speak_slot(tz: Tz, slot: &Slot, now: DateTime<Utc>) -> String {
    let start = to_local(tz, slot.start_utc);
    let end = to_local(tz, slot.end_utc);
    let today = to_local(tz, now).date();
    format!(
        "{} {}",
        speak_day(start.date(), start.time(), today),
        speak_range(start.time(), end.time())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().expect("test time")
    }

    fn schedule() -> ConfiguredSchedule {
        ConfiguredSchedule::new(&ScheduleConfig::default(), "America/Chicago")
    }

    #[test]
    fn routine_windows_are_the_next_business_days_in_local_time() {
        // Friday 9 pm in Chicago (CST, UTC-6) = Saturday 03:00 UTC.
        let now = utc("2026-01-17T03:00:00Z");
        let o = schedule().offer(Urgency::Routine, now, now, 3);
        assert!(!o.live);
        assert_eq!(o.slots.len(), 3);
        // Monday 19 January 8-10 am CST = 14:00-16:00 UTC.
        assert_eq!(o.slots[0].start_utc, utc("2026-01-19T14:00:00Z"));
        assert_eq!(o.slots[0].end_utc, utc("2026-01-19T16:00:00Z"));
        assert_eq!(
            speak_slot(shop_zone("America/Chicago"), &o.slots[0], now),
            "Monday, January 19 between 8 and 10 am"
        );
        assert_eq!(
            speak_slot(shop_zone("America/Chicago"), &o.slots[2], now),
            "Monday, January 19 between noon and 2 pm"
        );
    }

    #[test]
    fn dst_spring_forward_day_keeps_wall_clock_windows() {
        // Saturday 7 March 2026, 8 pm CST; Sunday 8 March is the spring-forward day, Monday 9
        // is the first business day on CDT (UTC-5).
        let now = utc("2026-03-08T02:00:00Z");
        let o = schedule().offer(Urgency::Routine, now, now, 1);
        assert_eq!(o.slots[0].start_utc, utc("2026-03-09T13:00:00Z"));
        let tz = shop_zone("America/Chicago");
        // 2:30 am on 8 March does not exist: it moves to 3:30 CDT.
        let gap = NaiveDate::from_ymd_opt(2026, 3, 8)
            .and_then(|d| d.and_hms_opt(2, 30, 0))
            .expect("date");
        assert_eq!(to_utc(tz, gap), utc("2026-03-08T08:30:00Z"));
        // 1:30 am on 1 November happens twice: the first (CDT) is taken.
        let overlap = NaiveDate::from_ymd_opt(2026, 11, 1)
            .and_then(|d| d.and_hms_opt(1, 30, 0))
            .expect("date");
        assert_eq!(to_utc(tz, overlap), utc("2026-11-01T06:30:00Z"));
    }

    #[test]
    fn emergency_windows_are_tonight_or_now() {
        // Tuesday 7 pm CST: the 6-8 window is under way (not offered), 8-10 and 10-12 follow.
        let now = utc("2026-01-14T01:00:00Z");
        let o = schedule().offer(Urgency::Emergency, now, now, 3);
        assert_eq!(o.slots.len(), 2, "{:?}", o.slots);
        assert_eq!(
            speak_slot(shop_zone("America/Chicago"), &o.slots[0], now),
            "tonight between 8 and 10 pm"
        );
        // At 8 pm sharp the 8-10 window has not started: it is offered.
        let eight = utc("2026-01-14T02:00:00Z");
        let o = schedule().offer(Urgency::Emergency, eight, eight, 3);
        assert_eq!(o.slots[0].start_utc, eight);
        // 2 am: tonight's windows are over, the on-call technician comes within the hour.
        let late = utc("2026-01-14T08:10:00Z");
        let o = schedule().offer(Urgency::Emergency, late, late, 3);
        assert_eq!(o.slots[0].start_utc, utc("2026-01-14T09:00:00Z"));
        // 10:05 pm: the last window (10-12) is under way, none is left to start tonight: the
        // technician comes from 11 pm.
        let last = utc("2026-01-14T04:05:00Z");
        let o = schedule().offer(Urgency::Emergency, last, last, 3);
        assert!(
            o.slots
                .iter()
                .any(|s| s.start_utc == utc("2026-01-14T05:00:00Z")),
            "{:?}",
            o.slots
        );
    }

    /// What the engine can offer of a schedule's answer: never a window already under way
    /// (`Dialog::offer_windows` keeps only those starting at or after now; the schedule offers
    /// none either).
    fn offerable(s: &ConfiguredSchedule, urgency: Urgency, now: DateTime<Utc>) -> Vec<Slot> {
        let offered = s.offer(urgency, now, now, 5).slots;
        let mut slots = offered.clone();
        slots.retain(|slot| slot.start_utc >= now);
        assert_eq!(slots, offered, "no window under way at {now}");
        slots
    }

    /// Every 5 minutes of a week, of both DST change days and of New Year's Eve, in two zones
    /// and with three on-call set-ups: an emergency caller is always offered a window starting
    /// within the next 12 hours (the 10 pm bug: none from 10 pm to midnight), and a routine
    /// caller one on a later business day, in business hours.
    #[test]
    fn every_minute_of_the_week_has_a_window_to_offer() {
        let on_calls: [&[&str]; 3] = [
            &["18:00-20:00", "20:00-22:00", "22:00-00:00"],
            &["22:00-06:00"],
            &[],
        ];
        let days = [
            ("2026-01-12T00:00:00Z", 8 * 24),
            ("2026-03-07T12:00:00Z", 48),
            ("2026-10-31T12:00:00Z", 48),
            ("2026-12-31T00:00:00Z", 48),
        ];
        for zone in ["America/Chicago", "America/Los_Angeles"] {
            let tz = shop_zone(zone);
            for on_call in on_calls {
                let config = ScheduleConfig {
                    on_call_windows: on_call.iter().map(|w| w.to_string()).collect(),
                    ..ScheduleConfig::default()
                };
                let s = ConfiguredSchedule::new(&config, zone);
                for (from, hours) in days {
                    let from = utc(from);
                    for step in 0..hours * 12 {
                        let now = from + Duration::minutes(5 * step);
                        let local = to_local(tz, now);
                        let emergency = offerable(&s, Urgency::Emergency, now);
                        let first = emergency.first().map(|slot| slot.start_utc);
                        assert!(
                            first.is_some_and(|t| t < now + Duration::hours(12)),
                            "{zone} {on_call:?} at {local}: emergency offered {emergency:?}"
                        );
                        let routine = offerable(&s, Urgency::Routine, now);
                        let first = routine.first().map(|slot| to_local(tz, slot.start_utc));
                        assert!(
                            first.is_some_and(|t| t.date() > local.date()
                                && t.time() >= s.open
                                && s.business_days.contains(&t.weekday())),
                            "{zone} {on_call:?} at {local}: routine offered {routine:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn parsing() {
        assert_eq!(parse_weekday("Mon"), Some(Weekday::Mon));
        assert_eq!(parse_weekday("funday"), None);
        assert!(parse_clock("25:00").is_none());
        assert!(parse_clock_range("22:00-01:00").is_some());
        assert!(parse_clock_range("22:00").is_none());
    }
}
