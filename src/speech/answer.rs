//! What the caller is expected to say on an open turn, and whether what the recogniser has
//! heard so far already reads as a whole answer of that kind.
//!
//! The dialog sets an [`AnswerKind`] per question (`speech::turn::Listen::Answer`); the turn
//! loop checks the recogniser's partial result against it ([`is_complete`]) and tells the
//! endpointer, which then ends the turn after `speech.complete_answer_silence_ms` instead of
//! the full `speech.trailing_silence_ms`. An answer that does not read complete ("one twenty
//! three …", "my furnace is um …") keeps the long silence, so a caller pausing inside an
//! answer is not cut off.
//!
//! The rules are pure functions of the partial text (lower-case words as the recogniser
//! writes them). They are deliberately conservative: a false "incomplete" costs the caller
//! 350 ms, a false "complete" cuts them off (the turn loop then hears the rest as a
//! continuation, see `speech::turn`).
//!
//! Digits are read from digit words ("six two seven oh four", "double five", "twenty three")
//! and from numerals. The Sino-Korean digit words (공/영 0, 일 1, 이 2, 삼 3, 사 4, 오 5,
//! 육 6, 칠 7, 팔 8, 구 9) are read too: the only real model the tests and benches have is
//! the Korean test model, and this is what lets them drive the ZIP and phone rules with
//! real recognition (`benches/turn_latency.rs`).

use serde::{Deserialize, Serialize};

/// The kind of answer a question expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerKind {
    /// A person's name ("john smith").
    Name,
    /// A house number and a street ("one twenty three maple street").
    StreetAddress,
    /// A five-digit ZIP code (or ZIP+4).
    Zip,
    /// A ten-digit US phone number (eleven with a leading 1).
    Phone,
    /// A day, maybe with a part of it ("tomorrow morning", "december fifth").
    Date,
    /// Yes or no.
    YesNo,
    /// A free description (the problem, a note for the technician).
    Description,
    /// A number of exactly this many digits (an invoice, a code).
    Digits(u8),
}

impl AnswerKind {
    /// Whether `partial` (the recogniser's text so far) reads as a whole answer.
    pub fn is_complete(self, partial: &str) -> bool {
        is_complete(self, partial)
    }
}

/// Whether `partial` reads as a whole answer of `kind` (see the module docs).
pub fn is_complete(kind: AnswerKind, partial: &str) -> bool {
    let words = words(partial);
    if words.is_empty() {
        return false;
    }
    // Whatever the kind, an answer that stops on a hesitation or a joining word goes on.
    if words.last().is_some_and(|w| is_dangling(w)) {
        return false;
    }
    match kind {
        AnswerKind::Name => name_complete(&words),
        AnswerKind::StreetAddress => street_complete(&words),
        AnswerKind::Zip => matches!(digit_count(&words), Some(5) | Some(9)),
        AnswerKind::Phone => match digits(&words) {
            Some(d) => d.len() == 10 || (d.len() == 11 && d.starts_with('1')),
            None => false,
        },
        AnswerKind::Date => date_complete(&words),
        AnswerKind::YesNo => yes_no_complete(&words),
        AnswerKind::Description => description_complete(&words),
        AnswerKind::Digits(n) => digit_count(&words) == Some(usize::from(n)),
    }
}

/// The recogniser's words, lower case, without `[unk]` and punctuation.
fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'')
                .to_lowercase()
        })
        .filter(|w| !w.is_empty() && w != "unk")
        .collect()
}

/// Hesitations and words an answer cannot end on.
const DANGLING: &[&str] = &[
    "um",
    "uh",
    "er",
    "erm",
    "hmm",
    "mm",
    "ah",
    "like",
    "and",
    "or",
    "but",
    "so",
    "the",
    "a",
    "an",
    "of",
    "on",
    "in",
    "at",
    "to",
    "for",
    "with",
    "my",
    "our",
    "is",
    "it's",
    "its",
    "was",
    "it",
    "that",
    "then",
    "because",
    "than",
    "from",
    "by",
    "i",
    "i'm",
    "we",
    "we're",
    "name's",
    "called",
    "about",
    "around",
    "maybe",
    "just",
    "well",
    "before",
    "after",
    "next",
    "this",
    "are",
    "be",
    "been",
    "has",
    "have",
    "had",
    "not",
    "isn't",
    "doesn't",
    "won't",
    "very",
    "really",
    "kind",
    "sort",
    "some",
    "any",
    "number",
    "apartment",
    "apt",
    "unit",
    "suite",
    "lot",
    "space",
];

fn is_dangling(word: &str) -> bool {
    DANGLING.contains(&word)
}

/// Words that introduce an answer and are not part of it.
const LEAD_INS: &[&str] = &[
    "my", "name", "name's", "is", "it's", "this", "i'm", "im", "i", "am", "it", "the", "yeah",
    "yes", "sure", "okay", "ok", "so", "well", "um", "uh", "address", "at", "live", "we're", "on",
    "zip", "code", "phone", "number", "call", "me", "back",
];

fn strip_lead_ins(words: &[String]) -> &[String] {
    let start = words
        .iter()
        .position(|w| !LEAD_INS.contains(&w.as_str()))
        .unwrap_or(words.len());
    &words[start..]
}

fn name_complete(words: &[String]) -> bool {
    // A first and a last name: two words once "my name is" is gone. A lone word may be a
    // first name with the surname still coming.
    strip_lead_ins(words).len() >= 2
}

/// Street types as callers say them (and as the recogniser may abbreviate them).
const STREET_TYPES: &[&str] = &[
    "street",
    "st",
    "avenue",
    "ave",
    "road",
    "rd",
    "drive",
    "dr",
    "lane",
    "ln",
    "court",
    "ct",
    "way",
    "boulevard",
    "blvd",
    "place",
    "pl",
    "circle",
    "cir",
    "trail",
    "parkway",
    "pkwy",
    "terrace",
    "highway",
    "hwy",
    "loop",
    "square",
    "alley",
    "row",
    "pike",
    "path",
    "crescent",
    "run",
    "point",
    "ridge",
    "cove",
    "plaza",
];

fn street_complete(words: &[String]) -> bool {
    let words = strip_lead_ins(words);
    // The house number comes first: digits or number words, then at least a street name and
    // its type ("maple street"), or a numbered unit after it ("maple street apartment four").
    let number_len = words
        .iter()
        .take_while(|w| digit_value(w).is_some())
        .count();
    if number_len == 0 {
        return false;
    }
    let rest = &words[number_len..];
    let Some(type_at) = rest
        .iter()
        .rposition(|w| STREET_TYPES.contains(&w.as_str()))
    else {
        return false;
    };
    if type_at == 0 {
        // "one twenty three street": no name yet.
        return false;
    }
    let after = &rest[type_at + 1..];
    // Nothing after the type, a direction ("north"), or a unit with its number.
    match after {
        [] => true,
        [d] => [
            "north",
            "south",
            "east",
            "west",
            "northeast",
            "northwest",
            "southeast",
            "southwest",
        ]
        .contains(&d.as_str()),
        [unit, n @ ..] => {
            ["apartment", "apt", "unit", "suite", "number", "lot"].contains(&unit.as_str())
                && !n.is_empty()
                && n.iter().all(|w| digit_value(w).is_some() || w.len() == 1)
        }
    }
}

const DAYS: &[&str] = &[
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
    "weekend",
    "asap",
    "anytime",
];
const MONTHS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const ORDINALS: &[&str] = &[
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
    "twentieth",
    "thirtieth",
];

fn date_complete(words: &[String]) -> bool {
    let has_day = words.iter().any(|w| DAYS.contains(&w.as_str()));
    // A month needs its day after it ("december fifth", "december 5").
    let month_day = words.windows(2).any(|p| {
        MONTHS.contains(&p[0].as_str())
            && (ORDINALS.contains(&p[1].as_str())
                || p[1]
                    .trim_end_matches(|c: char| c.is_alphabetic())
                    .parse::<u8>()
                    .is_ok()
                || digit_value(&p[1]).is_some())
    }) || words.last().is_some_and(|w| {
        // "the twenty fifth", "the 5th"
        ORDINALS.contains(&w.as_str())
            || (w.ends_with("th") && w[..w.len() - 2].parse::<u8>().is_ok())
    });
    has_day || month_day
}

const YES_NO: &[&str] = &[
    "yes",
    "yeah",
    "yep",
    "yup",
    "no",
    "nope",
    "nah",
    "sure",
    "correct",
    "right",
    "okay",
    "ok",
    "absolutely",
    "definitely",
    "negative",
];
const POLITE: &[&str] = &[
    "please", "thanks", "thank", "you", "sir", "ma'am", "it", "is", "that's", "thats", "that",
    "right", "correct", "of", "course", "sure", "yes", "no", "not", "really", "way",
];

fn yes_no_complete(words: &[String]) -> bool {
    let Some(at) = words.iter().position(|w| YES_NO.contains(&w.as_str())) else {
        return false;
    };
    // "yes", "yes please", "that's right", "no thank you"; not "yes but the …".
    words[at..].len() <= 4
        && words[at + 1..]
            .iter()
            .all(|w| POLITE.contains(&w.as_str()) || YES_NO.contains(&w.as_str()))
}

fn description_complete(words: &[String]) -> bool {
    // A subject and something said of it: at least four words ending on a content word
    // ("my furnace stopped working", "no heat upstairs at all"). Short fragments wait.
    words.len() >= 4
}

/// The digit string spoken in `words`, when every word is a digit word or numeral (lead-ins
/// such as "my zip is" aside); `None` when something else is said.
fn digits(words: &[String]) -> Option<String> {
    let words = strip_lead_ins(words);
    if words.is_empty() {
        return None;
    }
    let mut out = String::new();
    let mut repeat = 1usize;
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_str();
        match w {
            "double" => repeat = 2,
            "triple" => repeat = 3,
            _ => {
                // A tens word followed by a unit word: "twenty three" → 23.
                if let Some(tens) = tens_value(w) {
                    let unit = words
                        .get(i + 1)
                        .and_then(|n| unit_value(n))
                        .filter(|u| *u > 0);
                    let s = match unit {
                        Some(u) => {
                            i += 1;
                            format!("{}", tens + u)
                        }
                        None => format!("{tens}"),
                    };
                    out.push_str(&s.repeat(repeat));
                } else if let Some(d) = digit_value(w) {
                    out.push_str(&d.repeat(repeat));
                } else {
                    return None;
                }
                repeat = 1;
            }
        }
        i += 1;
    }
    (!out.is_empty()).then_some(out)
}

fn digit_count(words: &[String]) -> Option<usize> {
    digits(words).map(|d| d.len())
}

fn unit_value(w: &str) -> Option<u32> {
    Some(match w {
        "zero" | "oh" | "o" | "공" | "영" => 0,
        "one" | "일" => 1,
        "two" | "이" => 2,
        "three" | "삼" => 3,
        "four" | "사" => 4,
        "five" | "오" => 5,
        "six" | "육" | "륙" => 6,
        "seven" | "칠" => 7,
        "eight" | "팔" => 8,
        "nine" | "구" => 9,
        _ => return None,
    })
}

fn tens_value(w: &str) -> Option<u32> {
    Some(match w {
        "ten" => 10,
        "eleven" => 11,
        "twelve" => 12,
        "thirteen" => 13,
        "fourteen" => 14,
        "fifteen" => 15,
        "sixteen" => 16,
        "seventeen" => 17,
        "eighteen" => 18,
        "nineteen" => 19,
        "twenty" => 20,
        "thirty" => 30,
        "forty" => 40,
        "fifty" => 50,
        "sixty" => 60,
        "seventy" => 70,
        "eighty" => 80,
        "ninety" => 90,
        _ => return None,
    })
}

/// The digits one word stands for: a numeral ("123"), a digit word, a tens word, "hundred"
/// as in "one hundred" (written "00"), or a run of Korean digit syllables ("이삼").
fn digit_value(w: &str) -> Option<String> {
    if !w.is_empty() && w.chars().all(|c| c.is_ascii_digit()) {
        return Some(w.to_string());
    }
    if let Some(u) = unit_value(w) {
        return Some(u.to_string());
    }
    if let Some(t) = tens_value(w) {
        return Some(t.to_string());
    }
    if w == "hundred" {
        return Some("00".into());
    }
    // The Korean model may write several digit syllables as one word.
    if w.chars().count() > 1 && !w.is_ascii() {
        let mut s = String::new();
        for c in w.chars() {
            s.push_str(&unit_value(c.encode_utf8(&mut [0; 4]))?.to_string());
        }
        return Some(s);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use AnswerKind::*;

    #[test]
    fn street_address_needs_a_number_a_name_and_a_type() {
        assert!(is_complete(StreetAddress, "one twenty three maple street"));
        assert!(is_complete(StreetAddress, "123 maple st"));
        assert!(is_complete(
            StreetAddress,
            "it's forty five oak ridge drive"
        ));
        assert!(is_complete(StreetAddress, "12 elm street apartment four"));
        assert!(is_complete(StreetAddress, "900 main street north"));
        assert!(!is_complete(StreetAddress, "one twenty three"));
        assert!(!is_complete(StreetAddress, "one twenty three maple"));
        assert!(!is_complete(StreetAddress, "maple street"));
        assert!(!is_complete(StreetAddress, "123 street"));
        assert!(!is_complete(StreetAddress, "12 elm street apartment"));
        assert!(!is_complete(StreetAddress, "12 elm street and"));
        assert!(!is_complete(StreetAddress, ""));
    }

    #[test]
    fn zip_is_five_digits_or_zip_plus_four() {
        assert!(is_complete(Zip, "six two seven oh four"));
        assert!(is_complete(Zip, "62704"));
        assert!(is_complete(Zip, "my zip is six two seven zero four"));
        assert!(is_complete(Zip, "sixty two seven oh four"));
        assert!(is_complete(Zip, "nine oh two one oh one two three four"));
        assert!(!is_complete(Zip, "six two seven"));
        assert!(!is_complete(Zip, "six two seven oh four five"));
        assert!(!is_complete(Zip, "six two seven um"));
        assert!(!is_complete(Zip, "springfield"));
    }

    #[test]
    fn phone_is_ten_digits_or_eleven_with_a_one() {
        assert!(is_complete(
            Phone,
            "two one seven five five five oh one nine nine"
        ));
        assert!(is_complete(
            Phone,
            "one two one seven five five five oh one nine nine"
        ));
        assert!(is_complete(
            Phone,
            "two one seven double five five oh one nine nine"
        ));
        assert!(is_complete(Phone, "217 555 0199"));
        assert!(!is_complete(Phone, "two one seven five five five"));
        assert!(!is_complete(Phone, "555 0199"));
        assert!(!is_complete(
            Phone,
            "three two one seven five five five oh one nine nine"
        ));
    }

    #[test]
    fn korean_digit_words_count_as_digits() {
        assert!(is_complete(Zip, "육 이 칠 공 사"));
        assert!(is_complete(Zip, "육이칠 공사"));
        assert!(!is_complete(Zip, "육 이 칠"));
        assert!(is_complete(Phone, "공 일 공 일 이 삼 사 오 육 칠"));
        assert!(!is_complete(Phone, "공 일 공 일 이 삼"));
        assert!(!is_complete(Zip, "안녕하세요"));
    }

    #[test]
    fn name_is_two_words_after_the_lead_in() {
        assert!(is_complete(Name, "john smith"));
        assert!(is_complete(Name, "my name is maria garcia"));
        assert!(!is_complete(Name, "my name is"));
        assert!(!is_complete(Name, "my name is maria"));
        assert!(!is_complete(Name, "john um"));
    }

    #[test]
    fn date_needs_a_day_or_a_month_with_its_day() {
        assert!(is_complete(Date, "tomorrow morning"));
        assert!(is_complete(Date, "friday"));
        assert!(is_complete(Date, "december fifth"));
        assert!(is_complete(Date, "december 5"));
        assert!(is_complete(Date, "on the twenty fifth"));
        assert!(!is_complete(Date, "december"));
        assert!(!is_complete(Date, "tomorrow after"));
        assert!(!is_complete(Date, "sometime"));
    }

    #[test]
    fn yes_no_is_the_word_and_politeness_only() {
        assert!(is_complete(YesNo, "yes"));
        assert!(is_complete(YesNo, "yeah that's right"));
        assert!(is_complete(YesNo, "no thank you"));
        assert!(!is_complete(YesNo, "yes but"));
        assert!(!is_complete(YesNo, "no the address is"));
        assert!(!is_complete(YesNo, "maybe"));
    }

    #[test]
    fn description_waits_on_fragments_and_hesitations() {
        assert!(is_complete(Description, "my furnace stopped working"));
        assert!(is_complete(
            Description,
            "no heat upstairs at all since last night"
        ));
        assert!(!is_complete(Description, "my furnace is um"));
        assert!(!is_complete(Description, "my furnace is"));
        assert!(!is_complete(Description, "no heat"));
        assert!(!is_complete(Description, "the ac is leaking and"));
    }

    #[test]
    fn digits_of_a_given_length() {
        assert!(is_complete(Digits(4), "one two three four"));
        assert!(is_complete(Digits(4), "1234"));
        assert!(!is_complete(Digits(4), "one two three"));
        assert!(!is_complete(Digits(4), "one two three four five"));
    }

    #[test]
    fn unknown_words_and_punctuation_are_ignored() {
        assert!(is_complete(Zip, "[unk] six two seven oh four."));
        assert!(!is_complete(Name, "[unk] [unk]"));
    }
}
