//! Phrase lists for the recogniser's closed-set turns (Vosk grammars).
//!
//! A grammar makes a small model far more accurate on a closed set ("yes"/"no", digits), and
//! lets it answer "`[unk]`" instead of forcing noise onto a phrase. Every grammar also carries
//! the meta-commands, so a caller can always ask for a person, a repeat or help.
//!
//! Phrases are plain lowercase words and apostrophes: the vosk crate panics when a result
//! holds a quote or a backslash, and words outside the model's vocabulary are dropped anyway.

use super::repair::meta_phrases;
use super::triage::symptom_words;
use super::yes_no::answer_phrases;

/// Vosk's out-of-grammar token; every grammar includes it so noise is not forced into a phrase.
pub const UNKNOWN: &str = "`[unk]`";

/// The kind of turn a grammar is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrammarKind<'a> {
    /// "is that right?"
    YesNo,
    /// ZIP code, phone number, house number: digits one at a time.
    Digits,
    /// "which of these windows?"
    WindowChoice,
    /// "shall I book it?": yes or no, or another day ("actually can we do thursday
    /// instead"), which changes only the day.
    Confirmation,
    /// "what's going on with your system?" — symptom spotting.
    Triage,
    /// A menu of the given items ("reschedule", "cancel"), plus ordinals to pick by number.
    MenuChoice(&'a [&'a str]),
}

const DIGITS: &[&str] = &[
    "zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "star",
    "pound", "double", "triple",
];
const ORDINALS: &[&str] = &["first", "second", "third", "fourth", "fifth", "last"];
const CHOICE_WORDS: &[&str] = &["the", "one", "number", "option"];
const HOURS: &[&str] = &[
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "noon",
];
const WINDOW_WORDS: &[&str] = &[
    "today",
    "tonight",
    "tomorrow",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "morning",
    "afternoon",
    "evening",
    "o'clock",
    "thirty",
    "a m",
    "p m",
    "to",
    "between",
    "and",
    "at",
    "earliest",
    "as soon as possible",
    "none of those",
    "none of those work",
    "none of them",
    "neither",
    "neither works",
    "another day",
    "a different day",
    "something later",
    "next week",
    "later",
];

/// How a caller asks for another day at the confirmation ("actually can we do thursday
/// instead"); the day names come from [`WINDOW_WORDS`].
const CHANGE_WORDS: &[&str] = &[
    "actually",
    "instead",
    "can we do",
    "how about",
    "what about",
    "make it",
    "another day",
    "a different day",
];

/// The phrases of a grammar: lowercase words and apostrophes only, each once, sorted, with
/// [`UNKNOWN`] last.
pub fn grammar(kind: GrammarKind<'_>) -> Vec<String> {
    let mut phrases: Vec<String> = Vec::new();
    let mut add = |words: &mut dyn Iterator<Item = &str>| {
        phrases.extend(words.filter_map(clean));
    };
    match kind {
        GrammarKind::YesNo => add(&mut answer_phrases()),
        GrammarKind::Digits => add(&mut DIGITS.iter().copied()),
        GrammarKind::WindowChoice => {
            add(&mut ORDINALS.iter().chain(CHOICE_WORDS).chain(HOURS).copied());
            add(&mut WINDOW_WORDS.iter().copied());
            let spoken = ORDINALS.iter().map(|o| format!("the {o} one"));
            let numbered = HOURS[..5].iter().map(|h| format!("number {h}"));
            let spoken: Vec<String> = spoken.chain(numbered).collect();
            add(&mut spoken.iter().map(String::as_str));
        }
        GrammarKind::Confirmation => {
            add(&mut answer_phrases());
            add(&mut WINDOW_WORDS[..13].iter().copied());
            add(&mut CHANGE_WORDS.iter().copied());
        }
        GrammarKind::Triage => add(&mut symptom_words().into_iter()),
        GrammarKind::MenuChoice(items) => {
            add(&mut items.iter().copied());
            add(&mut ORDINALS
                .iter()
                .chain(CHOICE_WORDS)
                .chain(&HOURS[..9])
                .copied());
        }
    }
    add(&mut meta_phrases());
    phrases.sort_unstable();
    phrases.dedup();
    phrases.push(UNKNOWN.to_string());
    phrases
}

/// A phrase as the recogniser needs it: lowercase letters, apostrophes and single spaces.
/// Anything else ("A/C", quotes, digits) becomes a space; an empty result is dropped.
fn clean(phrase: &str) -> Option<String> {
    let lower = phrase.to_lowercase();
    let kept: String = lower
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c == '\'' {
                c
            } else {
                ' '
            }
        })
        .collect();
    let words: Vec<&str> = kept
        .split(' ')
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ^[a-z' ]+$ without leading, trailing or doubled spaces, or exactly "`[unk]`".
    fn valid(phrase: &str) -> bool {
        phrase == UNKNOWN
            || (!phrase.is_empty()
                && phrase
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '\'' || c == ' ')
                && !phrase.starts_with(' ')
                && !phrase.ends_with(' ')
                && !phrase.contains("  "))
    }

    #[test]
    fn every_phrase_is_plain_lowercase_words() {
        let menu = [
            "Reschedule",
            "cancel \"it\"",
            "A/C repair",
            "back\\slash",
            "",
            "42",
        ];
        for kind in [
            GrammarKind::YesNo,
            GrammarKind::Digits,
            GrammarKind::WindowChoice,
            GrammarKind::Confirmation,
            GrammarKind::Triage,
            GrammarKind::MenuChoice(&menu),
            GrammarKind::MenuChoice(&[]),
        ] {
            let phrases = grammar(kind);
            let bad: Vec<&String> = phrases.iter().filter(|p| !valid(p)).collect();
            assert!(bad.is_empty(), "{kind:?}: {bad:?}");
            assert_eq!(
                phrases.last().map(String::as_str),
                Some(UNKNOWN),
                "{kind:?}"
            );
            assert_eq!(phrases.iter().filter(|p| *p == UNKNOWN).count(), 1);
        }
    }

    #[test]
    fn grammars_hold_what_their_turn_needs() {
        let has = |kind: GrammarKind<'_>, phrase: &str| grammar(kind).iter().any(|p| p == phrase);
        let cases: &[(GrammarKind<'_>, &str)] = &[
            (GrammarKind::YesNo, "yes"),
            (GrammarKind::YesNo, "nope"),
            (GrammarKind::YesNo, "that's right"),
            (GrammarKind::YesNo, "representative"),
            (GrammarKind::Digits, "oh"),
            (GrammarKind::Digits, "nine"),
            (GrammarKind::Digits, "star"),
            (GrammarKind::Digits, "pound"),
            (GrammarKind::Digits, "say that again"),
            (GrammarKind::WindowChoice, "the second one"),
            (GrammarKind::WindowChoice, "tomorrow"),
            (GrammarKind::WindowChoice, "thursday"),
            (GrammarKind::WindowChoice, "afternoon"),
            (GrammarKind::WindowChoice, "tonight"),
            (GrammarKind::WindowChoice, "twelve"),
            (GrammarKind::WindowChoice, "none of those"),
            (GrammarKind::WindowChoice, "none of those work"),
            (GrammarKind::Confirmation, "yes"),
            (GrammarKind::Confirmation, "no"),
            (GrammarKind::Confirmation, "thursday"),
            (GrammarKind::Confirmation, "tomorrow"),
            (GrammarKind::Confirmation, "can we do"),
            (GrammarKind::Confirmation, "instead"),
            (GrammarKind::Triage, "gas"),
            (GrammarKind::Triage, "monoxide"),
            (GrammarKind::Triage, "sparking"),
            (GrammarKind::Triage, "leaking"),
            (
                GrammarKind::MenuChoice(&["Reschedule", "A/C repair"]),
                "reschedule",
            ),
            (
                GrammarKind::MenuChoice(&["Reschedule", "A/C repair"]),
                "a c repair",
            ),
            (GrammarKind::MenuChoice(&["Reschedule"]), "second"),
        ];
        for (kind, phrase) in cases {
            assert!(has(*kind, phrase), "{kind:?} lacks {phrase:?}");
        }
    }

    #[test]
    fn cleaning() {
        for (raw, want) in [
            ("A/C", Some("a c")),
            ("  Hello   World ", Some("hello world")),
            ("it's", Some("it's")),
            ("'quoted'", Some("quoted")),
            ("\"\\", None),
            ("123", None),
        ] {
            assert_eq!(clean(raw).as_deref(), want, "{raw:?}");
        }
    }
}
