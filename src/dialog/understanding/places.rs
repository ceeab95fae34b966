//! Places in an address: US state names as the recogniser writes them ("illinois", "new
//! york") and their postal codes, so "springfield illinois six two seven oh four" is the city
//! Springfield in IL, not the city "Springfield Illinois".

use super::normalize::normalize;

/// State (and DC) names, lowercase recogniser words, with their USPS codes. Longer names
/// first so "west virginia" wins over "virginia".
const STATES: &[(&str, &str)] = &[
    ("district of columbia", "DC"),
    ("north carolina", "NC"),
    ("south carolina", "SC"),
    ("north dakota", "ND"),
    ("south dakota", "SD"),
    ("new hampshire", "NH"),
    ("new jersey", "NJ"),
    ("new mexico", "NM"),
    ("new york", "NY"),
    ("rhode island", "RI"),
    ("west virginia", "WV"),
    ("alabama", "AL"),
    ("alaska", "AK"),
    ("arizona", "AZ"),
    ("arkansas", "AR"),
    ("california", "CA"),
    ("colorado", "CO"),
    ("connecticut", "CT"),
    ("delaware", "DE"),
    ("florida", "FL"),
    ("georgia", "GA"),
    ("hawaii", "HI"),
    ("idaho", "ID"),
    ("illinois", "IL"),
    ("indiana", "IN"),
    ("iowa", "IA"),
    ("kansas", "KS"),
    ("kentucky", "KY"),
    ("louisiana", "LA"),
    ("maine", "ME"),
    ("maryland", "MD"),
    ("massachusetts", "MA"),
    ("michigan", "MI"),
    ("minnesota", "MN"),
    ("mississippi", "MS"),
    ("missouri", "MO"),
    ("montana", "MT"),
    ("nebraska", "NE"),
    ("nevada", "NV"),
    ("ohio", "OH"),
    ("oklahoma", "OK"),
    ("oregon", "OR"),
    ("pennsylvania", "PA"),
    ("tennessee", "TN"),
    ("texas", "TX"),
    ("utah", "UT"),
    ("vermont", "VT"),
    ("virginia", "VA"),
    ("washington", "WA"),
    ("wisconsin", "WI"),
    ("wyoming", "WY"),
];

/// The state named at the end of a city answer, and the words before it:
/// "springfield illinois" → ("springfield", Some("IL")). A city that is a state's name
/// alone ("washington") stays a city.
pub fn split_state(text: &str) -> (String, Option<&'static str>) {
    let n = normalize(text);
    let words = n.tokens();
    for (name, code) in STATES {
        let len = name.split(' ').count();
        if let Some(at) = n.find(name) {
            if at == 0 {
                continue;
            }
            let mut rest: Vec<&str> = words[..at].iter().map(String::as_str).collect();
            rest.extend(words[at + len..].iter().map(String::as_str));
            return (rest.join(" "), Some(code));
        }
    }
    (n.text(), None)
}

/// Words of a street that do not tell two streets apart.
const STREET_WORDS: &[&str] = &[
    "st",
    "street",
    "ave",
    "avenue",
    "rd",
    "road",
    "dr",
    "drive",
    "ln",
    "lane",
    "ct",
    "court",
    "blvd",
    "boulevard",
    "way",
    "pl",
    "place",
    "cir",
    "circle",
    "ter",
    "terrace",
    "hwy",
    "highway",
    "pkwy",
    "parkway",
    "n",
    "s",
    "e",
    "w",
    "north",
    "south",
    "east",
    "west",
];

/// Words of a description that name nothing ("the one at my").
const PLAIN_WORDS: &[&str] = &[
    "the", "my", "our", "a", "one", "at", "on", "in", "for", "it's", "its", "it", "is", "no",
    "yes", "not", "that", "this", "place", "house", "home's", "over", "to", "of", "please",
];

/// A word as it compares: no apostrophe, no plural or possessive "s" ("mom's" → "mom").
fn word_key(w: &str) -> String {
    let w: String = w.chars().filter(|c| *c != '\'').collect();
    match w.strip_suffix('s') {
        Some(stem) if stem.len() >= 3 => stem.to_string(),
        _ => w,
    }
}

/// Which of a customer's locations the caller named: by the name the office gave it
/// ("Rental", "Mom's Place": every word of substance in what was said), or by its street
/// ("the one on oak street": the street's name words). `places` is (name, street) per
/// location; `None` unless exactly one location matches.
pub fn location_choice(text: &str, places: &[(&str, &str)]) -> Option<usize> {
    let n = normalize(text);
    let said: Vec<String> = n.tokens().iter().map(|w| word_key(w)).collect();
    if said.is_empty() {
        return None;
    }
    let words_of = |s: &str, skip: &[&str]| -> Vec<String> {
        normalize(s)
            .tokens()
            .iter()
            .filter(|w| !skip.contains(&w.as_str()) && !w.chars().all(|c| c.is_ascii_digit()))
            .map(|w| word_key(w))
            .collect()
    };
    let matches: Vec<usize> = places
        .iter()
        .enumerate()
        .filter(|(_, (name, street))| {
            let name = words_of(name, PLAIN_WORDS);
            let street = words_of(street, STREET_WORDS);
            let by_name = !name.is_empty() && name.iter().all(|w| said.contains(w));
            let by_street = !street.is_empty() && street.iter().all(|w| said.contains(w));
            by_name || by_street
        })
        .map(|(i, _)| i)
        .collect();
    match matches.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_after_the_city() {
        assert_eq!(
            split_state("springfield illinois six two seven oh four"),
            ("springfield six two seven oh four".into(), Some("IL"))
        );
        assert_eq!(
            split_state("buffalo new york"),
            ("buffalo".into(), Some("NY"))
        );
        assert_eq!(
            split_state("charleston west virginia"),
            ("charleston".into(), Some("WV"))
        );
        assert_eq!(split_state("washington"), ("washington".into(), None));
        assert_eq!(split_state("chatham"), ("chatham".into(), None));
    }

    #[test]
    fn a_location_named_by_its_name_or_street() {
        let places = [("Home", "9 Elm Ave"), ("Rental", "40 Oak St")];
        assert_eq!(location_choice("no the rental", &places), Some(1));
        assert_eq!(location_choice("it's for the rentals", &places), Some(1));
        assert_eq!(location_choice("the one on oak street", &places), Some(1));
        assert_eq!(location_choice("uh elm avenue", &places), Some(0));
        assert_eq!(location_choice("at home", &places), Some(0));
        assert_eq!(location_choice("yes", &places), None);
        assert_eq!(location_choice("no", &places), None);
        assert_eq!(location_choice("my mom's place", &places), None);
        let places = [("Home", "9 Elm Ave"), ("Mom's Place", "12 Birch Ln")];
        assert_eq!(location_choice("my moms place", &places), Some(1));
        assert_eq!(location_choice("it's at my mom's", &places), Some(1));
        // Both named: no choice made.
        let places = [("Oak House", "9 Elm Ave"), ("Rental", "40 Oak St")];
        assert_eq!(location_choice("oak", &places), None);
        // A location without a name is chosen by its street only.
        let places = [("", "9 Elm Ave"), ("", "40 Oak St")];
        assert_eq!(location_choice("the oak street one", &places), Some(1));
        assert_eq!(location_choice("the rental", &places), None);
    }
}
