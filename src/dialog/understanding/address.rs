//! Street addresses as callers say them: "one twenty three maple street",
//! "four five six north oak avenue apartment two".

use std::fmt;

use super::names::{spoken_letter, title_case};
use super::normalize::normalize;
use super::numbers::{number_run, ordinal, starts_number};

/// A street address heard on the phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreetAddress {
    /// House number as digits ("123").
    pub number: String,
    /// Direction before the street name ("north oak avenue").
    pub direction: Option<Directional>,
    /// Street name, title-cased ("Maple", "Martin Luther King", "5th").
    pub street_name: String,
    pub suffix: Option<StreetSuffix>,
    /// Apartment, unit or suite ("2", "4B").
    pub unit: Option<String>,
}

/// Street direction prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Directional {
    North,
    South,
    East,
    West,
    Northeast,
    Northwest,
    Southeast,
    Southwest,
}

/// Street suffix (USPS Publication 28 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreetSuffix {
    Street,
    Avenue,
    Drive,
    Road,
    Lane,
    Court,
    Boulevard,
    Way,
    Place,
    Circle,
    Parkway,
    Terrace,
    Trail,
    Highway,
}

impl Directional {
    /// USPS abbreviation: "N", "SW".
    pub fn abbreviation(self) -> &'static str {
        match self {
            Directional::North => "N",
            Directional::South => "S",
            Directional::East => "E",
            Directional::West => "W",
            Directional::Northeast => "NE",
            Directional::Northwest => "NW",
            Directional::Southeast => "SE",
            Directional::Southwest => "SW",
        }
    }
}

impl StreetSuffix {
    /// USPS abbreviation: "St", "Ave", "Blvd".
    pub fn abbreviation(self) -> &'static str {
        match self {
            StreetSuffix::Street => "St",
            StreetSuffix::Avenue => "Ave",
            StreetSuffix::Drive => "Dr",
            StreetSuffix::Road => "Rd",
            StreetSuffix::Lane => "Ln",
            StreetSuffix::Court => "Ct",
            StreetSuffix::Boulevard => "Blvd",
            StreetSuffix::Way => "Way",
            StreetSuffix::Place => "Pl",
            StreetSuffix::Circle => "Cir",
            StreetSuffix::Parkway => "Pkwy",
            StreetSuffix::Terrace => "Ter",
            StreetSuffix::Trail => "Trl",
            StreetSuffix::Highway => "Hwy",
        }
    }

    /// The suffix a spoken or abbreviated word names ("avenue", "ave", "blvd").
    pub fn from_word(word: &str) -> Option<StreetSuffix> {
        use StreetSuffix::*;
        Some(match word {
            "street" | "st" | "streets" => Street,
            "avenue" | "ave" | "av" => Avenue,
            "drive" | "dr" => Drive,
            "road" | "rd" => Road,
            "lane" | "ln" => Lane,
            "court" | "ct" => Court,
            "boulevard" | "blvd" => Boulevard,
            "way" => Way,
            "place" | "pl" => Place,
            "circle" | "cir" => Circle,
            "parkway" | "pkwy" => Parkway,
            "terrace" | "ter" => Terrace,
            "trail" | "trl" => Trail,
            "highway" | "hwy" => Highway,
            _ => return None,
        })
    }
}

impl fmt::Display for StreetAddress {
    /// Postal form: "456 N Oak Ave Apt 2".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.number)?;
        if let Some(d) = self.direction {
            write!(f, " {}", d.abbreviation())?;
        }
        write!(f, " {}", self.street_name)?;
        if let Some(s) = self.suffix {
            write!(f, " {}", s.abbreviation())?;
        }
        if let Some(u) = &self.unit {
            write!(f, " Apt {u}")?;
        }
        Ok(())
    }
}

/// A direction word (or two: "north east") at `i`, and the tokens it spans.
fn directional(tokens: &[String], i: usize) -> Option<(Directional, usize)> {
    use Directional::*;
    let w = |k: usize| tokens.get(k).map_or("", String::as_str);
    let pair = match (w(i), w(i + 1)) {
        ("north", "east") => Some(Northeast),
        ("north", "west") => Some(Northwest),
        ("south", "east") => Some(Southeast),
        ("south", "west") => Some(Southwest),
        _ => None,
    };
    if let Some(d) = pair {
        return Some((d, 2));
    }
    let single = match w(i) {
        "north" | "n" => North,
        "south" | "s" => South,
        "east" | "e" => East,
        "west" | "w" => West,
        "northeast" | "ne" => Northeast,
        "northwest" | "nw" => Northwest,
        "southeast" | "se" => Southeast,
        "southwest" | "sw" => Southwest,
        _ => return None,
    };
    Some((single, 1))
}

/// Words that introduce a unit.
const UNIT_WORDS: &[&str] = &["apartment", "apt", "unit", "suite", "ste", "number", "lot"];
/// Words that end the street name when no suffix was said.
const NAME_ENDS: &[&str] = &[
    "in", "and", "at", "near", "by", "off", "on", "zip", "city", "it's", "that's", "is", "the",
    "my", "please", "thanks", "in", "chicago",
];
/// Longest street name kept: "martin luther king junior".
const MAX_NAME_WORDS: usize = 4;
/// Longest house number accepted: longer runs are a ZIP or phone number, not a house.
const MAX_HOUSE_DIGITS: usize = 6;

/// The street address in an utterance: a house number, then a street name, with an optional
/// direction, suffix and unit. Leading words ("my address is", "i live at") are skipped.
/// `None` without a house number or a street name.
pub fn street_address(text: &str) -> Option<StreetAddress> {
    let n = normalize(text);
    let tokens = n.tokens();
    let start = tokens.iter().position(|t| starts_number(t))?;
    // "twelve hundred twenty third street": the house number stops where an ordinal street
    // name ("twenty third") begins.
    let limit = (start..tokens.len())
        .find(|&k| ordinal(tokens, k).is_some_and(|(_, len)| len == 2))
        .unwrap_or(tokens.len());
    let (number, len) = number_run(&tokens[..limit], start)?;
    if number.len() > MAX_HOUSE_DIGITS {
        return None;
    }
    let mut i = start + len;

    let mut direction = None;
    if let Some((d, len)) = directional(tokens, i) {
        // "north avenue": the direction is the street's name, not a prefix.
        let names_street = tokens.get(i + len).is_none_or(|t| {
            StreetSuffix::from_word(t).is_some() || UNIT_WORDS.contains(&t.as_str())
        });
        if !names_street {
            direction = Some(d);
            i += len;
        }
    }

    let mut name = Vec::new();
    let mut suffix = None;
    while i < tokens.len() && name.len() < MAX_NAME_WORDS {
        let t = tokens[i].as_str();
        if !name.is_empty() {
            if let Some(s) = StreetSuffix::from_word(t) {
                suffix = Some(s);
                i += 1;
                break;
            }
        }
        if UNIT_WORDS.contains(&t) || NAME_ENDS.contains(&t) {
            break;
        }
        if let Some((nth, len)) = ordinal(tokens, i) {
            name.push(ordinal_name(nth));
            i += len;
            continue;
        }
        if starts_number(t) {
            break;
        }
        name.push(title_case(t));
        i += 1;
    }
    if name.is_empty() {
        return None;
    }
    Some(StreetAddress {
        number,
        direction,
        street_name: name.join(" "),
        suffix,
        unit: unit(tokens, i),
    })
}

/// "5th", "21st", "22nd", "13th".
fn ordinal_name(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// The unit after the street: "apartment two" → "2", "unit four b" → "4B", "suite b" → "B".
fn unit(tokens: &[String], from: usize) -> Option<String> {
    let at = (from..tokens.len()).find(|&k| UNIT_WORDS.contains(&tokens[k].as_str()))?;
    let mut i = at + 1;
    if tokens.get(i).is_some_and(|t| t == "number") {
        i += 1;
    }
    let mut unit = String::new();
    if let Some((digits, len)) = number_run(tokens, i) {
        unit.push_str(&digits);
        i += len;
    }
    if let Some(letter) = tokens.get(i).and_then(|t| spoken_letter(t)) {
        unit.push(letter.to_ascii_uppercase());
        i += 1;
        if unit.len() == 1 {
            // "unit b two" → "B2".
            if let Some((digits, _)) = number_run(tokens, i) {
                unit.push_str(&digits);
            }
        }
    }
    (!unit.is_empty()).then_some(unit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Directional::*;
    use StreetSuffix::*;

    fn addr(
        number: &str,
        direction: Option<Directional>,
        name: &str,
        suffix: Option<StreetSuffix>,
        unit: Option<&str>,
    ) -> Option<StreetAddress> {
        Some(StreetAddress {
            number: number.into(),
            direction,
            street_name: name.into(),
            suffix,
            unit: unit.map(Into::into),
        })
    }

    #[test]
    fn spoken_addresses() {
        let cases: Vec<(&str, Option<StreetAddress>)> = vec![
            (
                "one twenty three maple street",
                addr("123", None, "Maple", Some(Street), None),
            ),
            (
                "four five six north oak avenue apartment two",
                addr("456", Some(North), "Oak", Some(Avenue), Some("2")),
            ),
            (
                "my address is twelve hundred west fifth street",
                addr("1200", Some(West), "5th", Some(Street), None),
            ),
            (
                "i live at four oh five elm drive",
                addr("405", None, "Elm", Some(Drive), None),
            ),
            (
                "two thousand and five martin luther king boulevard",
                addr("2005", None, "Martin Luther King", Some(Boulevard), None),
            ),
            (
                "nineteen oh one north avenue",
                addr("1901", None, "North", Some(Avenue), None),
            ),
            (
                "one twenty three maple",
                addr("123", None, "Maple", None, None),
            ),
            (
                "it's seventy seven oak lane unit four b",
                addr("77", None, "Oak", Some(Lane), Some("4B")),
            ),
            (
                "123 main st apt 5",
                addr("123", None, "Main", Some(Street), Some("5")),
            ),
            (
                "one twenty three maple street in springfield",
                addr("123", None, "Maple", Some(Street), None),
            ),
            (
                "um one twenty three uh maple maple street",
                addr("123", None, "Maple", Some(Street), None),
            ),
            (
                "thirty five hundred twenty third street",
                addr("3500", None, "23rd", Some(Street), None),
            ),
            (
                "five five five south west park road suite two hundred",
                addr("555", Some(Southwest), "Park", Some(Road), Some("200")),
            ),
            (
                "twenty one jump street",
                addr("21", None, "Jump", Some(Street), None),
            ),
            (
                "eight eleven oak court apartment b",
                addr("811", None, "Oak", Some(Court), Some("B")),
            ),
            (
                "four hundred five pine way",
                addr("405", None, "Pine", Some(Way), None),
            ),
            (
                "ten downing place",
                addr("10", None, "Downing", Some(Place), None),
            ),
            ("one two three four five", None),
            ("maple street", None),
            ("one twenty three", None),
            ("", None),
            ("six oh six one four one two three four five maple", None),
        ];
        let wrong: Vec<_> = cases
            .iter()
            .map(|(text, want)| (text, street_address(text), want))
            .filter(|(_, got, want)| got != *want)
            .collect();
        assert!(wrong.is_empty(), "(text, got, want): {wrong:#?}");
    }

    #[test]
    fn postal_form() {
        let a = street_address("four five six north oak avenue apartment two");
        assert_eq!(
            a.map(|a| a.to_string()).as_deref(),
            Some("456 N Oak Ave Apt 2")
        );
        assert_eq!(ordinal_name(11), "11th");
        assert_eq!(ordinal_name(101), "101st");
    }
}
