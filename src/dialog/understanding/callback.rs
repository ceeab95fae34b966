//! A callback's details: when the caller would like the call ("after five", "tomorrow
//! morning") and what it is about ("about my bill"), from what the recogniser heard.
//!
//! The time is written the way the office reads it ("after 5 pm", "tomorrow morning",
//! "Monday around 3:30 pm"); an hour without am/pm is a business hour (7–11 am, 12 noon,
//! 1–6 pm). What it is about is the caller's words left over once the time, the request for a
//! call and the lead-ins are taken out.

use super::normalize::normalize;

/// What a caller said about the call they want back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallbackDetails {
    /// "after 5 pm", "tomorrow morning", "any time".
    pub preferred_time: Option<String>,
    /// "my bill", "the estimate you sent".
    pub about: Option<String>,
}

const DAYS: &[(&str, &str)] = &[
    ("today", "today"),
    ("tonight", "tonight"),
    ("tomorrow", "tomorrow"),
    ("monday", "Monday"),
    ("tuesday", "Tuesday"),
    ("wednesday", "Wednesday"),
    ("thursday", "Thursday"),
    ("friday", "Friday"),
    ("saturday", "Saturday"),
    ("sunday", "Sunday"),
];

const PARTS: &[(&str, &str)] = &[
    ("morning", "morning"),
    ("afternoon", "afternoon"),
    ("evening", "evening"),
    ("lunchtime", "around noon"),
    ("lunch", "around noon"),
];

const RELATIONS: &[&str] = &["after", "before", "around", "at", "by", "about"];

const HOURS: &[(&str, u32)] = &[
    ("one", 1),
    ("two", 2),
    ("three", 3),
    ("four", 4),
    ("five", 5),
    ("six", 6),
    ("seven", 7),
    ("eight", 8),
    ("nine", 9),
    ("ten", 10),
    ("eleven", 11),
    ("twelve", 12),
    ("noon", 12),
];

const MINUTES: &[(&str, u32)] = &[("fifteen", 15), ("thirty", 30), ("forty five", 45)];

/// Words of the request itself, and lead-ins: never part of what the call is about.
const REQUEST_WORDS: &[&str] = &[
    "can",
    "could",
    "would",
    "will",
    "you",
    "someone",
    "somebody",
    "have",
    "please",
    "call",
    "me",
    "back",
    "give",
    "a",
    "ring",
    "i",
    "i'd",
    "like",
    "want",
    "need",
    "to",
    "it's",
    "it",
    "is",
    "its",
    "about",
    "regarding",
    "concerning",
    "and",
    "when",
    "good",
    "best",
    "time",
    "the",
    "be",
    "that",
    "is",
    "for",
    "with",
    "just",
    "yeah",
    "yes",
    "sure",
    "okay",
    "call's",
    "calling",
    "office",
    "person",
    "talk",
    "speak",
    "get",
    "in",
    "on",
    "of",
    "there",
    "um",
    "this",
    "any",
    "anytime",
    "whenever",
    "works",
    "fine",
    "great",
    "thanks",
    "thank",
];

/// Words before a subject that belong to it ("my bill").
const DETERMINERS: &[&str] = &["my", "the", "your", "our", "a", "an", "his", "her"];

/// The time and the subject of a callback, from one utterance.
pub fn callback_details(text: &str) -> CallbackDetails {
    let n = normalize(text);
    let t: Vec<&str> = n.tokens().iter().map(String::as_str).collect();
    let mut used = vec![false; t.len()];
    let time = preferred_time(&t, &mut used);
    // From the first word of substance to the last (with the determiner before it), without
    // the time: "a question about my invoice", "my bill".
    let content =
        |i: usize| !used[i] && !REQUEST_WORDS.contains(&t[i]) && !DETERMINERS.contains(&t[i]);
    let first = (0..t.len()).find(|&i| content(i));
    let last = (0..t.len()).rev().find(|&i| content(i));
    let about = first.zip(last).map(|(first, last)| {
        let start = if first > 0 && DETERMINERS.contains(&t[first - 1]) {
            first - 1
        } else {
            first
        };
        (start..=last)
            .filter(|&i| !used[i])
            .map(|i| t[i])
            .collect::<Vec<_>>()
            .join(" ")
    });
    CallbackDetails {
        preferred_time: time,
        about,
    }
}

/// When the caller would like the call, marking the words it used.
fn preferred_time(t: &[&str], used: &mut [bool]) -> Option<String> {
    for (phrase, said) in [
        ("as soon as possible", "as soon as possible"),
        ("asap", "as soon as possible"),
        ("right away", "as soon as possible"),
        ("soon as you can", "as soon as possible"),
        ("any time", "any time"),
        ("anytime", "any time"),
        ("whenever", "any time"),
    ] {
        if let Some(at) = find(t, phrase) {
            mark(used, at, phrase.split(' ').count());
            return Some(said.to_string());
        }
    }
    let mut parts: Vec<String> = Vec::new();
    // The day: "tomorrow", "monday"; "this" before a part of the day is kept with it.
    if let Some((i, (_, day))) = t
        .iter()
        .enumerate()
        .find_map(|(i, w)| DAYS.iter().find(|(d, _)| d == w).map(|d| (i, d)))
    {
        used[i] = true;
        parts.push((*day).to_string());
    }
    // A relation and an hour: "after five", "around three thirty", "before ten am".
    let mut hour_part = None;
    for i in 0..t.len() {
        if !RELATIONS.contains(&t[i]) {
            continue;
        }
        if let Some((text, len)) = hour_at(t, i + 1) {
            let relation = if t[i] == "about" { "around" } else { t[i] };
            mark(used, i, len + 1);
            hour_part = Some(format!("{relation} {text}"));
            break;
        }
    }
    // The part of the day: "morning", "in the afternoon", "this evening".
    let mut day_part = None;
    for (i, w) in t.iter().enumerate() {
        if let Some((_, part)) = PARTS.iter().find(|(p, _)| p == w) {
            used[i] = true;
            for back in 1..=2 {
                if i >= back && ["in", "the", "this"].contains(&t[i - back]) {
                    used[i - back] = true;
                }
            }
            let this = i >= 1 && t[i - 1] == "this" && parts.is_empty();
            day_part = Some(if this {
                format!("this {part}")
            } else {
                (*part).to_string()
            });
            break;
        }
    }
    if let Some(p) = day_part {
        // "before noon" said as a part: keep the hour, drop "around noon".
        if !(hour_part.is_some() && p == "around noon") {
            parts.push(p);
        }
    }
    if let Some(h) = hour_part {
        parts.push(h);
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// An hour at `i`: "five" → "5 pm", "ten thirty am" → "10:30 am", "noon"; with the number of
/// words it took.
fn hour_at(t: &[&str], i: usize) -> Option<(String, usize)> {
    let word = *t.get(i)?;
    let hour = HOURS
        .iter()
        .find(|(w, _)| *w == word)
        .map(|(_, h)| *h)
        .or_else(|| word.parse::<u32>().ok().filter(|h| (1..=12).contains(h)))?;
    if word == "noon" {
        return Some(("noon".into(), 1));
    }
    let mut len = 1;
    let mut minutes = 0;
    for (m, value) in MINUTES {
        let words: Vec<&str> = m.split(' ').collect();
        if t.get(i + 1..i + 1 + words.len()) == Some(&words[..]) {
            minutes = *value;
            len += words.len();
            break;
        }
    }
    if t.get(i + len) == Some(&"o'clock") || t.get(i + len) == Some(&"oclock") {
        len += 1;
    }
    let meridiem = match (t.get(i + len), t.get(i + len + 1)) {
        (Some(&"am"), _) => {
            len += 1;
            Some("am")
        }
        (Some(&"pm"), _) => {
            len += 1;
            Some("pm")
        }
        (Some(&"a"), Some(&"m")) => {
            len += 2;
            Some("am")
        }
        (Some(&"p"), Some(&"m")) => {
            len += 2;
            Some("pm")
        }
        _ => None,
    };
    let meridiem = meridiem.unwrap_or(if (7..=11).contains(&hour) { "am" } else { "pm" });
    let text = match (hour, minutes) {
        (12, 0) if meridiem == "pm" => "noon".to_string(),
        (h, 0) => format!("{h} {meridiem}"),
        (h, m) => format!("{h}:{m:02} {meridiem}"),
    };
    Some((text, len))
}

fn find(t: &[&str], phrase: &str) -> Option<usize> {
    let words: Vec<&str> = phrase.split(' ').collect();
    (0..t.len()).find(|&i| t.get(i..i + words.len()) == Some(&words[..]))
}

fn mark(used: &mut [bool], at: usize, len: usize) {
    for u in used.iter_mut().skip(at).take(len) {
        *u = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(text: &str) -> Option<String> {
        callback_details(text).preferred_time
    }

    fn about(text: &str) -> Option<String> {
        callback_details(text).about
    }

    #[test]
    fn times_as_the_office_reads_them() {
        assert_eq!(time("after five").as_deref(), Some("after 5 pm"));
        assert_eq!(time("um after five o'clock").as_deref(), Some("after 5 pm"));
        assert_eq!(
            time("tomorrow morning").as_deref(),
            Some("tomorrow morning")
        );
        assert_eq!(time("in the afternoon").as_deref(), Some("afternoon"));
        assert_eq!(time("this evening please").as_deref(), Some("this evening"));
        assert_eq!(
            time("monday around three thirty").as_deref(),
            Some("Monday around 3:30 pm")
        );
        assert_eq!(time("before ten a m").as_deref(), Some("before 10 am"));
        assert_eq!(time("before noon").as_deref(), Some("before noon"));
        assert_eq!(time("at lunch").as_deref(), Some("around noon"));
        assert_eq!(
            time("tomorrow after 5").as_deref(),
            Some("tomorrow after 5 pm")
        );
        assert_eq!(time("anytime is fine").as_deref(), Some("any time"));
        assert_eq!(
            time("as soon as possible").as_deref(),
            Some("as soon as possible")
        );
        assert_eq!(time("about eight pm").as_deref(), Some("around 8 pm"));
    }

    #[test]
    fn no_time_is_invented() {
        assert_eq!(time("can someone call me back"), None);
        assert_eq!(time("it's about my bill"), None);
        // A number that is not an hour after a relation.
        assert_eq!(time("about the twenty dollar charge"), None);
        assert_eq!(time(""), None);
    }

    #[test]
    fn what_the_call_is_about() {
        assert_eq!(about("it's about my bill").as_deref(), Some("my bill"));
        assert_eq!(
            about("about the estimate you sent after five").as_deref(),
            Some("the estimate you sent")
        );
        assert_eq!(
            about("can you call me back about my bill tomorrow morning").as_deref(),
            Some("my bill")
        );
        assert_eq!(about("can someone call me back"), None);
        assert_eq!(about("after five"), None);
        assert_eq!(about("anytime is fine"), None);
        assert_eq!(
            about("i have a question about my invoice after five").as_deref(),
            Some("a question about my invoice")
        );
    }
}
