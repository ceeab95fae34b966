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
}
