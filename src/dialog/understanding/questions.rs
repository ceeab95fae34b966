//! Questions callers ask that are not a service request: "are you a robot", "what time do you
//! open", "how much is a tune-up", "do you service chatham", a quote or estimate (a sales
//! callback, not a truck), and "sorry wrong number".

use super::normalize::normalize;

/// What the caller asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerQuestion {
    /// "are you a robot", "is this a real person".
    Robot,
    /// "what time do you open", "what are your hours".
    Hours,
    /// "how much is a tune-up", "what do you charge".
    Price,
    /// "do you service chatham", "what areas do you cover".
    ServiceArea,
    /// "a quote for a new furnace", "an estimate": the sales team calls back.
    Quote,
    /// "sorry wrong number".
    WrongNumber,
}

const ROBOT: &[&str] = &[
    "robot",
    "real person",
    "a machine",
    "a computer",
    "are you human",
    "are you a person",
    "is this a person",
    "am i talking to a",
    "recording",
    "automated",
    "a bot",
];
const HOURS: &[&str] = &[
    "what time do you open",
    "when do you open",
    "what time do you close",
    "when do you close",
    "your hours",
    "business hours",
    "office hours",
    "are you open",
    "what time does the office",
];
const PRICE: &[&str] = &[
    "how much",
    "what do you charge",
    "price",
    "prices",
    "cost",
    "costs",
    "fee",
    "fees",
    "service charge",
    "trip charge",
];
const AREA: &[&str] = &[
    "service area",
    "do you service",
    "do you cover",
    "do you come out to",
    "do you go to",
    "what areas",
    "what area",
];
const QUOTE: &[&str] = &[
    "quote",
    "estimate",
    "bid",
    "new system",
    "replacement",
    "replace my",
];
const WRONG: &[&str] = &[
    "wrong number",
    "misdialed",
    "dialed the wrong",
    "called the wrong",
];

/// The question in `text`, if it is one of these. A quote wins over a price ("how much for a
/// quote on a new furnace" is a sales callback).
pub fn caller_question(text: &str) -> Option<CallerQuestion> {
    let n = normalize(text);
    if n.has_any(WRONG) {
        Some(CallerQuestion::WrongNumber)
    } else if n.has_any(ROBOT) {
        Some(CallerQuestion::Robot)
    } else if n.has_any(QUOTE) {
        Some(CallerQuestion::Quote)
    } else if n.has_any(HOURS) {
        Some(CallerQuestion::Hours)
    } else if n.has_any(AREA) {
        Some(CallerQuestion::ServiceArea)
    } else if n.has_any(PRICE) {
        Some(CallerQuestion::Price)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CallerQuestion::*;

    #[test]
    fn questions() {
        let cases: &[(&str, Option<CallerQuestion>)] = &[
            ("are you a robot", Some(Robot)),
            ("wait is this a real person", Some(Robot)),
            ("what time do you open", Some(Hours)),
            ("uh how much is a tune up", Some(Price)),
            ("call me back about a quote for a new furnace", Some(Quote)),
            ("i'd like an estimate on a new ac", Some(Quote)),
            ("do you service chatham", Some(ServiceArea)),
            ("sorry wrong number", Some(WrongNumber)),
            ("my furnace is making a noise", None),
        ];
        for (text, want) in cases {
            assert_eq!(caller_question(text), *want, "{text}");
        }
    }
}
