//! Which of the offered appointment windows the caller chose: by ordinal ("the second one"),
//! by time ("nine to eleven", "tomorrow morning") or none of them.
//!
//! Windows are in the shop's local wall-clock time (the scheduler converts with the shop's
//! IANA zone, DST included); words like "tomorrow" and "nine" are wall-clock words, so no zone
//! arithmetic is needed here.

use chrono::{Datelike, Days, NaiveDate, NaiveDateTime, Timelike, Weekday};

use super::normalize::{normalize, Normalized};
use super::numbers::ordinal;

/// An appointment window read to the caller, in the shop's local wall-clock time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedWindow {
    pub start_local: NaiveDateTime,
    pub end_local: NaiveDateTime,
    /// What the prompt said ("tomorrow between nine and eleven").
    pub label: String,
}

/// The caller's answer to "which of these windows?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowChoice {
    /// Index into the offered windows.
    Offered(usize),
    /// Several windows fit ("morning" with two mornings offered): ask between these.
    Ambiguous(Vec<usize>),
    /// "none of those", "something else".
    NoneOfThese,
    /// "something later", "next week": none of these, offer later ones.
    Later,
}

/// Part of the day, as callers and dispatchers use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Starts before noon.
    Morning,
    /// Starts noon to 5 pm.
    Afternoon,
    /// Starts 5 pm or later.
    Evening,
    /// Covers noon.
    Noon,
}

impl Part {
    fn fits(self, w: &OfferedWindow) -> bool {
        let h = w.start_local.hour();
        match self {
            Part::Morning => h < 12,
            Part::Afternoon => (12..17).contains(&h),
            Part::Evening => h >= 17,
            Part::Noon => {
                let noon = w.start_local.date().and_hms_opt(12, 0, 0);
                noon.is_some_and(|noon| w.start_local <= noon && noon < w.end_local)
            }
        }
    }
}

/// A clock hour said without am/pm (1-12), or with it (0-23).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Clock {
    hour: u32,
    minute: u32,
    /// Some(true) for pm, Some(false) for am, None when not said.
    pm: Option<bool>,
}

impl Clock {
    fn matches_hour(self, hour: u32) -> bool {
        match self.pm {
            Some(pm) => (self.hour % 12) + if pm { 12 } else { 0 } == hour,
            None => self.hour % 12 == hour % 12,
        }
    }

    fn starts(self, t: NaiveDateTime) -> bool {
        self.matches_hour(t.hour()) && t.minute() == self.minute
    }

    /// Whether the window is under way at this clock time (either half of the day).
    fn within(self, w: &OfferedWindow) -> bool {
        [0, 12].iter().any(|half| {
            let hour = self.hour % 12 + half;
            let fits_pm = self.pm.is_none_or(|pm| pm == (*half == 12));
            let at = w.start_local.date().and_hms_opt(hour, self.minute, 0);
            fits_pm && at.is_some_and(|at| w.start_local <= at && at < w.end_local)
        })
    }
}

/// What the caller's words ask of a window.
#[derive(Debug, Default)]
struct Wanted {
    dates: Option<Vec<NaiveDate>>,
    weekday: Option<Weekday>,
    part: Option<Part>,
    from: Option<Clock>,
    to: Option<Clock>,
    earliest: bool,
    latest: bool,
}

impl Wanted {
    fn is_empty(&self) -> bool {
        self.dates.is_none()
            && self.weekday.is_none()
            && self.part.is_none()
            && self.from.is_none()
            && !self.earliest
            && !self.latest
    }

    fn fits(&self, w: &OfferedWindow) -> bool {
        let date = w.start_local.date();
        self.dates.as_ref().is_none_or(|d| d.contains(&date))
            && self.weekday.is_none_or(|d| date.weekday() == d)
            && self.part.is_none_or(|p| p.fits(w))
            && self.to.is_none_or(|to| to.starts(w.end_local))
    }
}

const EARLIEST: &[&str] = &[
    "earliest",
    "soonest",
    "as soon as possible",
    "asap",
    "a s a p",
    "first available",
    "right away",
    "as early as",
    "earlier one",
    "early one",
];
const LATEST: &[&str] = &[
    "last one",
    "the last",
    "latest",
    "later one",
    "last",
    "late one",
];
const LATER: &[&str] = &[
    "later",
    "next week",
    "another day",
    "different day",
    "after that",
    "other days",
];
const NONE_OF_THESE: &[&str] = &[
    "none",
    "neither",
    "no",
    "nope",
    "something else",
    "different time",
    "another time",
    "other times",
    "doesn't work",
    "don't work",
    "won't work",
    "can't do",
    "can't make",
];
const WEEKDAYS: &[(&str, Weekday)] = &[
    ("monday", Weekday::Mon),
    ("tuesday", Weekday::Tue),
    ("wednesday", Weekday::Wed),
    ("thursday", Weekday::Thu),
    ("friday", Weekday::Fri),
    ("saturday", Weekday::Sat),
    ("sunday", Weekday::Sun),
];
/// Words that may surround a bare choice: "the two", "number two", "option three one".
const CHOICE_FILLER: &[&str] = &[
    "the", "number", "option", "choice", "one", "i'll", "take", "i", "want", "please", "go",
    "with", "let's", "do",
];

/// A clock hour word: "nine", "12", and the digit homophones a bare choice may be heard as.
fn hour_word(t: &str) -> Option<u32> {
    const HOURS: &[&str] = &[
        "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
        "twelve",
    ];
    if let Some(i) = HOURS.iter().position(|h| *h == t) {
        return Some(i as u32 + 1);
    }
    t.parse().ok().filter(|h| (1..=12).contains(h))
}

fn minute_at(tokens: &[String], i: usize) -> Option<(u32, usize)> {
    let w = |k: usize| tokens.get(k).map_or("", String::as_str);
    Some(match (w(i), w(i + 1)) {
        ("fifteen", _) => (15, 1),
        ("thirty", _) => (30, 1),
        ("forty", "five") => (45, 2),
        ("forty", _) => (40, 1),
        ("oh", "five") => (5, 2),
        ("half", _) if w(i - 1) == "and" => (30, 1),
        _ => return None,
    })
}

/// A clock time at `i`: "nine", "nine thirty", "ten o'clock", "two p m". Returns it and the
/// tokens it spans.
fn clock_at(tokens: &[String], i: usize) -> Option<(Clock, usize)> {
    let hour = hour_word(tokens.get(i)?)?;
    let mut len = 1;
    let mut minute = 0;
    if let Some((m, n)) = minute_at(tokens, i + 1) {
        minute = m;
        len += n;
    }
    let w = |k: usize| tokens.get(k).map_or("", String::as_str);
    if w(i + len) == "o'clock" || w(i + len) == "oclock" {
        len += 1;
    }
    let pm = match (w(i + len), w(i + len + 1)) {
        ("am", _) => Some((false, 1)),
        ("pm", _) => Some((true, 1)),
        ("a", "m") => Some((false, 2)),
        ("p", "m") => Some((true, 2)),
        _ => None,
    };
    if let Some((_, n)) = pm {
        len += n;
    }
    Some((
        Clock {
            hour,
            minute,
            pm: pm.map(|(pm, _)| pm),
        },
        len,
    ))
}

/// "the last one", "the morning one": "one" as a pronoun, unless clock words surround it
/// ("at one", "one o'clock", "one to three").
fn pronoun_one(tokens: &[String], i: usize) -> bool {
    let w = |k: usize| tokens.get(k).map_or("", String::as_str);
    let clock_before = i == 0
        || matches!(
            w(i - 1),
            "at" | "from" | "between" | "to" | "and" | "till" | "until" | "about" | "around"
        );
    let clock_after = matches!(
        w(i + 1),
        "o'clock" | "oclock" | "am" | "pm" | "a" | "p" | "to" | "thirty" | "fifteen" | "and"
    );
    w(i) == "one" && !clock_before && !clock_after
}

/// A bare choice by number ("two", "number two", "the second one", "2"), 1-based.
fn ordinal_choice(n: &Normalized) -> Option<usize> {
    let tokens = n.tokens();
    for i in 0..tokens.len() {
        if let Some((nth, _)) = ordinal(tokens, i) {
            return Some(nth as usize);
        }
    }
    // "number two", "option three".
    for (i, t) in tokens.iter().enumerate() {
        if matches!(t.as_str(), "number" | "option" | "choice") {
            if let Some(k) = tokens.get(i + 1).and_then(|t| spoken_choice(t)) {
                return Some(k);
            }
        }
    }
    // A lone number: "two", "the two", "2".
    let rest: Vec<&str> = tokens
        .iter()
        .map(String::as_str)
        .filter(|t| !CHOICE_FILLER.contains(t))
        .collect();
    match rest.as_slice() {
        [only] => spoken_choice(only),
        [] if n.text() == "one" || n.text() == "the one" => Some(1),
        _ => None,
    }
}

/// A choice number said as a digit word, a digit, or a digit homophone ("too", "for").
fn spoken_choice(t: &str) -> Option<usize> {
    let k = match t {
        "won" => 1,
        "to" | "too" => 2,
        "tree" => 3,
        "for" | "fore" => 4,
        _ => hour_word(t)?,
    };
    Some(k as usize)
}

/// What the caller's words ask for, relative to `now`.
fn wanted(n: &Normalized, now: NaiveDateTime) -> Wanted {
    let today = now.date();
    let mut w = Wanted::default();
    let tomorrow = today.checked_add_days(Days::new(1));
    if n.has_phrase("day after tomorrow") {
        w.dates = today.checked_add_days(Days::new(2)).map(|d| vec![d]);
    } else if n.has("tomorrow") || n.has("tomorrow's") {
        w.dates = tomorrow.map(|d| vec![d]);
    } else if n.has("today") || n.has("tonight") || n.has("tonight's") {
        w.dates = Some(vec![today]);
    }
    w.weekday = WEEKDAYS
        .iter()
        .find(|(name, _)| n.has(name))
        .map(|(_, d)| *d);
    w.part = if n.has_any(&["tonight", "tonight's", "evening", "night"]) {
        Some(Part::Evening)
    } else if n.has_any(&["afternoon", "after lunch"]) {
        Some(Part::Afternoon)
    } else if n.has("morning") {
        Some(Part::Morning)
    } else if n.has_any(&["noon", "midday", "lunch", "lunchtime"]) {
        Some(Part::Noon)
    } else {
        None
    };
    w.earliest = n.has_any(EARLIEST);
    w.latest = !w.earliest && n.has_any(LATEST);

    let tokens = n.tokens();
    let mut i = 0;
    while i < tokens.len() {
        // "first", "second": ordinals, not hours.
        if ordinal(tokens, i).is_some() {
            i += 1;
            continue;
        }
        if let Some((clock, len)) = clock_at(tokens, i).filter(|_| !pronoun_one(tokens, i)) {
            let joiner = tokens.get(i + len).map(String::as_str);
            if w.from.is_none() {
                w.from = Some(clock);
            } else if w.to.is_none() {
                w.to = Some(clock);
            }
            i += len;
            if matches!(
                joiner,
                Some("to" | "and" | "till" | "until" | "through" | "too")
            ) {
                i += 1;
            }
            continue;
        }
        i += 1;
    }
    // "in the morning" / "in the afternoon" after a clock settles am/pm.
    if let (Some(part), Some(from)) = (w.part, w.from.as_mut()) {
        if from.pm.is_none() {
            from.pm = match part {
                Part::Morning => Some(false),
                Part::Afternoon | Part::Evening => Some(true),
                Part::Noon => None,
            };
        }
    }
    w
}

/// The window chosen in `text` among `offered`, with `now_local` for "today", "tomorrow".
///
/// - By ordinal: "the first one", "second", "the last one", "number two", "option three", a
///   lone "two" or a keyed "2" (a lone number above the count is a clock hour instead).
/// - By time: "nine to eleven", "the nine o'clock", "morning", "the afternoon one",
///   "tomorrow morning", "thursday", "tonight"; "earliest" / "as soon as possible" take the
///   first fitting window, "latest" the last.
/// - [`WindowChoice::NoneOfThese`] for "none of those", [`WindowChoice::Later`] for
///   "something later"; [`WindowChoice::Ambiguous`] when several windows fit.
///
/// `None` when nothing in `text` picks or refuses a window, or when what was asked for is not
/// among the offered windows: the engine re-reads the choices.
pub fn choose_window(
    text: &str,
    offered: &[OfferedWindow],
    now_local: NaiveDateTime,
) -> Option<WindowChoice> {
    let n = normalize(text);
    if n.is_empty() {
        return None;
    }
    let wanted = wanted(&n, now_local);
    let has_clock_words = n.has_any(&["o'clock", "am", "pm", "a m", "p m", "to", "between", "at"]);
    if let Some(k) = ordinal_choice(&n) {
        let clock_hour = wanted.from.is_some() && (k > offered.len() || has_clock_words);
        if (1..=offered.len()).contains(&k) && !clock_hour {
            return Some(WindowChoice::Offered(k - 1));
        }
    }
    if !wanted.is_empty() {
        if let Some(choice) = by_time(&wanted, offered) {
            return Some(choice);
        }
        if !(wanted.latest && n.has("later")) {
            return None;
        }
    }
    if n.has_any(LATER) {
        Some(WindowChoice::Later)
    } else if n.has_any(NONE_OF_THESE) {
        Some(WindowChoice::NoneOfThese)
    } else {
        None
    }
}

/// The day the caller asks for instead ("actually can we do thursday instead", "tomorrow
/// afternoon"), relative to `now_local`: a weekday is the next one after today. `None` when
/// no day is named.
pub fn requested_day(text: &str, now_local: NaiveDateTime) -> Option<NaiveDate> {
    let n = normalize(text);
    let wanted = wanted(&n, now_local);
    if let Some(d) = wanted.dates.as_ref().and_then(|d| d.first()) {
        return Some(*d);
    }
    let day = wanted.weekday?;
    let today = now_local.date();
    (1..=7)
        .filter_map(|k| today.checked_add_days(Days::new(k)))
        .find(|d| d.weekday() == day)
}

fn by_time(wanted: &Wanted, offered: &[OfferedWindow]) -> Option<WindowChoice> {
    let mut fitting: Vec<usize> = (0..offered.len())
        .filter(|&i| wanted.fits(&offered[i]))
        .collect();
    if let Some(from) = wanted.from {
        let starting: Vec<usize> = fitting
            .iter()
            .copied()
            .filter(|&i| from.starts(offered[i].start_local))
            .collect();
        fitting = if starting.is_empty() {
            fitting
                .into_iter()
                .filter(|&i| from.within(&offered[i]))
                .collect()
        } else {
            starting
        };
    }
    let by_start = |i: &usize| offered[*i].start_local;
    let pick = if wanted.earliest {
        fitting.iter().copied().min_by_key(by_start)
    } else if wanted.latest {
        fitting.iter().copied().max_by_key(by_start)
    } else {
        None
    };
    match (pick, fitting.as_slice()) {
        (Some(i), _) | (None, &[i]) => Some(WindowChoice::Offered(i)),
        (None, []) => None,
        (None, _) => Some(WindowChoice::Ambiguous(fitting)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use WindowChoice::*;

    fn at(day: u32, hour: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 1, day)
            .and_then(|d| d.and_hms_opt(hour, 0, 0))
            .unwrap()
    }

    fn window(day: u32, from: u32, to: u32) -> OfferedWindow {
        OfferedWindow {
            start_local: at(day, from),
            end_local: at(day, to),
            label: format!("january {day} {from} to {to}"),
        }
    }

    /// Now: Tuesday 13 January 2026, 9 pm. Offered: tomorrow (Wednesday 14) 8-10 am and
    /// 1-3 pm, Thursday 15 9-11 am and 5-7 pm.
    fn offered() -> Vec<OfferedWindow> {
        vec![
            window(14, 8, 10),
            window(14, 13, 15),
            window(15, 9, 11),
            window(15, 17, 19),
        ]
    }

    #[test]
    fn choices() {
        let now = at(13, 21);
        let cases: &[(&str, Option<WindowChoice>)] = &[
            ("the first one", Some(Offered(0))),
            ("first", Some(Offered(0))),
            ("the second one", Some(Offered(1))),
            ("um the second one please", Some(Offered(1))),
            ("second", Some(Offered(1))),
            ("the last one", Some(Offered(3))),
            ("number two", Some(Offered(1))),
            ("option three", Some(Offered(2))),
            ("two", Some(Offered(1))),
            ("too", Some(Offered(1))),
            ("the third", Some(Offered(2))),
            ("4", Some(Offered(3))),
            ("nine to eleven", Some(Offered(2))),
            ("between nine and eleven", Some(Offered(2))),
            ("the nine o'clock", Some(Offered(2))),
            ("nine", Some(Offered(2))),
            ("eight", Some(Offered(0))),
            ("one to three", Some(Offered(1))),
            ("the one o'clock", Some(Offered(1))),
            ("five to seven", Some(Offered(3))),
            ("five p m", Some(Offered(3))),
            ("ten", Some(Offered(2))),
            ("morning", Some(Ambiguous(vec![0, 2]))),
            ("the afternoon one", Some(Offered(1))),
            ("tomorrow morning", Some(Offered(0))),
            ("tomorrow afternoon", Some(Offered(1))),
            ("thursday", Some(Ambiguous(vec![2, 3]))),
            ("thursday evening", Some(Offered(3))),
            ("thursday morning at nine", Some(Offered(2))),
            ("earliest", Some(Offered(0))),
            ("as soon as possible", Some(Offered(0))),
            ("the earliest on thursday", Some(Offered(2))),
            ("tomorrow", Some(Ambiguous(vec![0, 1]))),
            ("none of those", Some(NoneOfThese)),
            ("neither", Some(NoneOfThese)),
            ("those don't work for me", Some(NoneOfThese)),
            ("something later", Some(Later)),
            ("do you have anything next week", Some(Later)),
            ("friday", None),
            ("seven in the morning", None),
            ("the furnace", None),
            ("", None),
        ];
        let offered = offered();
        let wrong: Vec<_> = cases
            .iter()
            .map(|(text, want)| (text, choose_window(text, &offered, now), want.clone()))
            .filter(|(_, got, want)| got != want)
            .collect();
        assert!(wrong.is_empty(), "(text, got, want): {wrong:#?}");
    }

    #[test]
    fn a_day_asked_for_instead() {
        let now = at(13, 21); // Tuesday 13 January, 9 pm
        let day = |t: &str| requested_day(t, now).map(|d| d.day());
        assert_eq!(day("actually can we do thursday instead"), Some(15));
        assert_eq!(day("how about tomorrow afternoon"), Some(14));
        assert_eq!(day("tuesday"), Some(20));
        assert_eq!(day("yes please"), None);
    }

    #[test]
    fn tonight_and_today() {
        let now = at(14, 15);
        let offered = vec![window(14, 18, 20), window(15, 8, 10)];
        for (text, want) in [
            ("tonight", Some(Offered(0))),
            ("tonight please", Some(Offered(0))),
            ("today", Some(Offered(0))),
            ("tomorrow", Some(Offered(1))),
            ("tomorrow morning", Some(Offered(1))),
            ("the six o'clock", Some(Offered(0))),
            ("three", None),
            ("wednesday", Some(Offered(0))),
        ] {
            assert_eq!(choose_window(text, &offered, now), want, "{text:?}");
        }
    }
}
