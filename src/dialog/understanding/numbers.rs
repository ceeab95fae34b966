//! Numbers as a recogniser writes them ("one twenty three", "four oh five", "twelve hundred")
//! turned into digits, and the digit-string fields built on them: ZIP codes, phone numbers,
//! keypad entries.
//!
//! Callers say house numbers and ZIPs in digit groups ("one twenty three" = 1-23, "nineteen oh
//! one" = 19-0-1) and only sometimes as cardinals ("twelve hundred", "two thousand and five").
//! A run of number words is read as consecutive cardinal groups whose digits are concatenated;
//! a cardinal only continues where English grammar lets it (tens + unit, "hundred",
//! "thousand"), so both readings come out right.

use super::normalize::normalize;
use crate::trade::phone::DiallingPlan;

const ZEROS: &[&str] = &["zero", "oh", "o"];
const UNITS: &[&str] = &[
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];
const TEENS: &[&str] = &[
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: &[&str] = &[
    "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];
/// Words the recogniser writes for a digit it misheard. Only trusted after a real digit:
/// "for" and "to" are everywhere in ordinary speech.
const HOMOPHONES: &[(&str, u64)] = &[
    ("won", 1),
    ("to", 2),
    ("too", 2),
    ("tree", 3),
    ("for", 4),
    ("fore", 4),
    ("ate", 8),
];

const ORDINAL_UNITS: &[&str] = &[
    "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
];
const ORDINAL_TEENS: &[&str] = &[
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
];
const ORDINAL_TENS: &[&str] = &[
    "twentieth",
    "thirtieth",
    "fortieth",
    "fiftieth",
    "sixtieth",
    "seventieth",
    "eightieth",
    "ninetieth",
];

fn position(table: &[&str], word: &str) -> Option<u64> {
    table.iter().position(|w| *w == word).map(|i| i as u64)
}

fn unit(word: &str) -> Option<u64> {
    position(UNITS, word).map(|i| i + 1)
}

fn teen(word: &str) -> Option<u64> {
    position(TEENS, word).map(|i| i + 10)
}

fn tens(word: &str) -> Option<u64> {
    position(TENS, word).map(|i| (i + 2) * 10)
}

fn is_digits(word: &str) -> bool {
    !word.is_empty() && word.chars().all(|c| c.is_ascii_digit())
}

/// Whether `word` is a number word (not a digit string, not a homophone).
pub(crate) fn is_number_word(word: &str) -> bool {
    ZEROS.contains(&word)
        || unit(word).is_some()
        || teen(word).is_some()
        || tens(word).is_some()
        || matches!(word, "hundred" | "thousand")
}

/// Whether a run of digits can start at `word`.
pub(crate) fn starts_number(word: &str) -> bool {
    is_digits(word) || (is_number_word(word) && !matches!(word, "hundred" | "thousand"))
}

fn word(tokens: &[String], i: usize) -> &str {
    tokens.get(i).map_or("", String::as_str)
}

/// 1-99: "twenty three", "fifteen", "seven".
fn below_hundred(tokens: &[String], i: usize) -> Option<(u64, usize)> {
    let w = word(tokens, i);
    if let Some(t) = tens(w) {
        return Some(match unit(word(tokens, i + 1)) {
            Some(u) => (t + u, 2),
            None => (t, 1),
        });
    }
    teen(w).or_else(|| unit(w)).map(|v| (v, 1))
}

/// A part below a thousand: "five", "twelve hundred", "one hundred and twenty three".
fn hundreds(tokens: &[String], i: usize) -> Option<(u64, usize)> {
    let (mut value, mut len) = match below_hundred(tokens, i) {
        Some(found) => found,
        // "a hundred", "a thousand".
        None if word(tokens, i) == "a" && matches!(word(tokens, i + 1), "hundred" | "thousand") => {
            (1, 1)
        }
        None => return None,
    };
    if word(tokens, i + len) == "hundred" {
        value *= 100;
        len += 1;
        let and = usize::from(word(tokens, i + len) == "and");
        if let Some((rest, n)) = below_hundred(tokens, i + len + and) {
            // "eight hundred five five five" is 800-5-5-5 (a toll-free prefix), but "four
            // hundred five" is 405: a lone digit joins the hundred only at the end of the run.
            let lone_digit = rest < 10 && and == 0;
            let more = starts_number(word(tokens, i + len + n));
            if !(lone_digit && more) {
                value += rest;
                len += and + n;
            }
        }
    }
    Some((value, len))
}

/// One cardinal group: "two thousand and five", "twelve hundred", "twenty three".
fn cardinal(tokens: &[String], i: usize) -> Option<(u64, usize)> {
    let (mut value, mut len) = hundreds(tokens, i)?;
    if word(tokens, i + len) == "thousand" && value < 1000 {
        value *= 1000;
        len += 1;
        let and = usize::from(word(tokens, i + len) == "and");
        if let Some((rest, n)) = hundreds(tokens, i + len + and) {
            if rest < 1000 {
                value += rest;
                len += and + n;
            }
        }
    }
    Some((value, len))
}

/// One group of digits at `i`: a digit string, "oh"/"zero", a cardinal, "double five", or (when
/// `homophones`) a misheard digit.
fn digit_group(tokens: &[String], i: usize, homophones: bool) -> Option<(String, usize)> {
    let w = word(tokens, i);
    if is_digits(w) {
        return Some((w.to_string(), 1));
    }
    if ZEROS.contains(&w) {
        return Some(("0".to_string(), 1));
    }
    if let Some(times) = match w {
        "double" => Some(2),
        "triple" => Some(3),
        _ => None,
    } {
        let next = word(tokens, i + 1);
        let digit = if ZEROS.contains(&next) {
            Some(0)
        } else {
            unit(next)
        };
        return digit.map(|d| (d.to_string().repeat(times), 2));
    }
    if let Some((v, n)) = cardinal(tokens, i) {
        return Some((v.to_string(), n));
    }
    if homophones {
        if let Some((_, v)) = HOMOPHONES.iter().find(|(h, _)| *h == w) {
            return Some((v.to_string(), 1));
        }
    }
    None
}

/// The digits of the run of number words starting at `i`, and how many tokens it spans.
/// Misheard digits ("for", "to") count only after a real one.
pub(crate) fn number_run(tokens: &[String], i: usize) -> Option<(String, usize)> {
    let mut digits = String::new();
    let mut j = i;
    // A misheard digit may continue a run, never start one.
    while let Some((d, n)) = digit_group(tokens, j, j > i) {
        digits.push_str(&d);
        j += n;
    }
    (j > i).then_some((digits, j - i))
}

/// An ordinal at `i` ("first", "twenty third", "5th") and how many tokens it spans.
pub(crate) fn ordinal(tokens: &[String], i: usize) -> Option<(u32, usize)> {
    let w = word(tokens, i);
    let table = |t: &[&str], w: &str| t.iter().position(|o| *o == w).map(|p| p as u32);
    if let Some(t) = tens(w) {
        if let Some(u) = table(ORDINAL_UNITS, word(tokens, i + 1)) {
            return Some((t as u32 + u + 1, 2));
        }
    }
    if let Some(u) = table(ORDINAL_UNITS, w) {
        return Some((u + 1, 1));
    }
    if let Some(t) = table(ORDINAL_TEENS, w) {
        return Some((t + 10, 1));
    }
    if let Some(t) = table(ORDINAL_TENS, w) {
        return Some(((t + 2) * 10, 1));
    }
    // "1st", "22nd", "3rd", "4th".
    let suffix = ["st", "nd", "rd", "th"].iter().find(|s| w.ends_with(*s))?;
    let n: u32 = w.strip_suffix(suffix)?.parse().ok()?;
    (n > 0).then_some((n, 1))
}

/// All digits said anywhere in an utterance, in order, skipping other words ("my zip is ...").
pub(crate) fn digits_in(text: &str) -> String {
    let n = normalize(text);
    let tokens = n.tokens();
    let mut digits = String::new();
    let mut i = 0;
    while i < tokens.len() {
        match number_run(tokens, i) {
            Some((d, len)) => {
                digits.push_str(&d);
                i += len;
            }
            None => i += 1,
        }
    }
    digits
}

/// The value of an utterance that is only a number: "one twenty three" → 123, "four oh five"
/// → 405, "twelve hundred" → 1200, "two thousand and five" → 2005, "nineteen oh one" → 1901.
pub fn parse_number_words(text: &str) -> Option<u64> {
    let n = normalize(text);
    let (digits, len) = number_run(n.tokens(), 0)?;
    if len != n.tokens().len() {
        return None;
    }
    digits.parse().ok()
}

/// A five-digit ZIP code from spoken digits ("six oh six one four"), a cardinal reading ("six
/// oh six fourteen") or keypad digits ("60614#"). A ZIP+4 gives its first five digits.
pub fn zip_code(text: &str) -> Option<String> {
    let digits = digits_in(text);
    match digits.len() {
        5 => Some(digits),
        9 => Some(digits[..5].to_string()),
        _ => None,
    }
}

/// A phone number from spoken or keyed digits, in E.164 by the shop's dialling plan ("three
/// one two five five five oh one four two" → "+13125550142" in the US). The plan's rules
/// (in NANP: ten digits, area code and exchange starting with 2-9) catch most misheard or
/// missing digits.
pub fn phone_number(text: &str, plan: &DiallingPlan) -> Option<String> {
    plan.normalise(&digits_in(text))
}

/// The digits of a keypad entry; `*` and `#` (terminators, not data) are dropped.
pub fn dtmf_digits(keys: &str) -> String {
    keys.chars().filter(char::is_ascii_digit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trade::phone::dialling_plan;

    #[test]
    fn number_words() {
        let cases: &[(&str, Option<u64>)] = &[
            ("one twenty three", Some(123)),
            ("four oh five", Some(405)),
            ("twelve hundred", Some(1200)),
            ("two thousand and five", Some(2005)),
            ("nineteen oh one", Some(1901)),
            ("four five six", Some(456)),
            ("one hundred twenty three", Some(123)),
            ("one hundred and one", Some(101)),
            ("thirty five hundred", Some(3500)),
            ("twenty twenty five", Some(2025)),
            ("twenty three", Some(23)),
            ("seven", Some(7)),
            ("zero", Some(0)),
            ("a hundred", Some(100)),
            ("two thousand five hundred", Some(2500)),
            ("one hundred thousand", Some(100_000)),
            ("twelve thirty four", Some(1234)),
            ("double five", Some(55)),
            ("one oh one", Some(101)),
            ("123", Some(123)),
            ("um one twenty three", Some(123)),
            ("five five five five", Some(5555)),
            ("four hundred five", Some(405)),
            ("eight hundred five five five", Some(800_555)),
            ("maple", None),
            ("one twenty three maple", None),
            ("", None),
            ("hundred", None),
            ("for", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_number_words(text), *want, "{text:?}");
        }
    }

    #[test]
    fn zip_codes() {
        let cases: &[(&str, Option<&str>)] = &[
            ("six oh six one four", Some("60614")),
            ("60614", Some("60614")),
            ("six zero six one four", Some("60614")),
            ("six oh six fourteen", Some("60614")),
            ("sixty six fourteen", None),
            ("six oh uh six one four", Some("60614")),
            ("my zip is six oh six one four", Some("60614")),
            ("it's zero two one three nine", Some("02139")),
            ("oh two one three nine", Some("02139")),
            ("six oh six one for", Some("60614")),
            ("606144#", None),
            ("60614#", Some("60614")),
            ("six oh six one four one two three four", Some("60614")),
            ("six oh six", None),
            ("i don't know", None),
        ];
        for (text, want) in cases {
            assert_eq!(zip_code(text).as_deref(), *want, "{text:?}");
        }
    }

    #[test]
    fn phone_numbers_in_the_uk() {
        let gb = dialling_plan("GB").expect("GB plan");
        let cases: &[(&str, Option<&str>)] = &[
            (
                "oh two oh seven nine four six oh nine five eight",
                Some("+442079460958"),
            ),
            ("07700900123#", Some("+447700900123")),
            ("three one two five five five oh one four two", None),
            ("oh two oh seven nine four", None),
            ("call me back", None),
        ];
        for (text, want) in cases {
            assert_eq!(phone_number(text, gb).as_deref(), *want, "{text:?}");
        }
    }

    #[test]
    fn phone_numbers() {
        let us = dialling_plan("US").expect("US plan");
        let cases: &[(&str, Option<&str>)] = &[
            (
                "three one two five five five oh one four two",
                Some("3125550142"),
            ),
            (
                "three twelve five five five oh one forty two",
                Some("3125550142"),
            ),
            (
                "area code three one two five five five zero one four two",
                Some("3125550142"),
            ),
            (
                "one three one two five five five oh one four two",
                Some("3125550142"),
            ),
            (
                "my number is three one two five five five oh one four two",
                Some("3125550142"),
            ),
            (
                "it's three one two um five five five oh one four two",
                Some("3125550142"),
            ),
            ("3125550142#", Some("3125550142")),
            (
                "one eight hundred five five five one two one two",
                Some("8005551212"),
            ),
            ("three one two five five five oh one four", None),
            ("oh one two five five five oh one four two", None),
            ("three one two one five five oh one four two", None),
            (
                "three one two five five five oh one four to",
                Some("3125550142"),
            ),
            ("call me back", None),
        ];
        for (text, want) in cases {
            let e164 = phone_number(text, us);
            let national = e164.as_deref().and_then(|n| us.national(n));
            assert_eq!(national, *want, "{text:?}");
        }
    }

    #[test]
    fn ordinals() {
        let cases: &[(&str, Option<(u32, usize)>)] = &[
            ("first", Some((1, 1))),
            ("second", Some((2, 1))),
            ("ninth", Some((9, 1))),
            ("twelfth", Some((12, 1))),
            ("twentieth", Some((20, 1))),
            ("twenty third", Some((23, 2))),
            ("thirty first", Some((31, 2))),
            ("5th", Some((5, 1))),
            ("22nd", Some((22, 1))),
            ("twenty", None),
            ("street", None),
            ("0th", None),
        ];
        for (text, want) in cases {
            let n = normalize(text);
            assert_eq!(ordinal(n.tokens(), 0), *want, "{text:?}");
        }
    }

    #[test]
    fn keypad_digits() {
        for (keys, want) in [
            ("60614#", "60614"),
            ("*3125550142#", "3125550142"),
            ("", ""),
        ] {
            assert_eq!(dtmf_digits(keys), want);
        }
    }
}
