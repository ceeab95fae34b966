//! The one set of phone-number rules: every number the box reads (caller ID, a number the caller
//! says or keys, a contact or campaign number from ServiceTitan) and every number it writes,
//! compares, logs or speaks goes through here.
//!
//! Numbers are kept in E.164 (`+13125550142`). What a number without `+` means depends on the
//! shop's country (`shop.default_country`), so every function that reads one is handed the
//! shop's [`DiallingPlan`]; nothing else in the crate spells out a country code.

/// The country a box uses when the configuration names none (`shop.default_country`).
pub const DEFAULT_COUNTRY: &str = "US";

/// A country's dialling plan: enough to turn a locally written number into E.164 and back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiallingPlan {
    /// ISO 3166-1 alpha-2 code, as written in `shop.default_country`.
    pub country: &'static str,
    /// ITU country calling code, without `+`.
    pub calling_code: &'static str,
    /// Prefixes dialled before an international number (longest first).
    pub international_prefixes: &'static [&'static str],
    /// Prefix of national numbers written without the country code (e.g. "0" in the UK).
    /// NANP has none in the E.164 sense: its leading "1" is the country code itself.
    pub trunk_prefix: Option<&'static str>,
    /// Shortest and longest national significant number (digits after the country code).
    pub national_lengths: (usize, usize),
    /// North American Numbering Plan: ten digits, area code and exchange never start with 0
    /// or 1, and a leading country code may be written without `+`.
    pub nanp: bool,
    /// How a number of this country is read out, as written locally (trunk prefix included):
    /// digit groups that add up to its length ("312 555 0142", "020 7946 0958"). Numbers of
    /// another length are read digit by digit.
    pub spoken_groups: &'static [&'static [usize]],
}

/// The countries callbox knows the dialling plan of.
pub const DIALLING_PLANS: &[DiallingPlan] = &[
    DiallingPlan {
        country: "US",
        calling_code: "1",
        // "00" is not international dialling in NANP, but carriers and ATAs do present
        // international callers that way; a 10-digit NANP number never starts with 0.
        international_prefixes: &["011", "00"],
        trunk_prefix: None,
        national_lengths: (10, 10),
        nanp: true,
        spoken_groups: &[&[3, 3, 4]],
    },
    DiallingPlan {
        country: "CA",
        calling_code: "1",
        international_prefixes: &["011", "00"],
        trunk_prefix: None,
        national_lengths: (10, 10),
        nanp: true,
        spoken_groups: &[&[3, 3, 4]],
    },
    DiallingPlan {
        country: "GB",
        calling_code: "44",
        international_prefixes: &["00"],
        trunk_prefix: Some("0"),
        national_lengths: (9, 10),
        nanp: false,
        spoken_groups: &[&[3, 4, 4]],
    },
    DiallingPlan {
        country: "AU",
        calling_code: "61",
        international_prefixes: &["0011", "00"],
        trunk_prefix: Some("0"),
        national_lengths: (9, 9),
        nanp: false,
        spoken_groups: &[&[2, 4, 4]],
    },
    DiallingPlan {
        country: "DE",
        calling_code: "49",
        international_prefixes: &["00"],
        trunk_prefix: Some("0"),
        national_lengths: (6, 13),
        nanp: false,
        spoken_groups: &[],
    },
    DiallingPlan {
        country: "FR",
        calling_code: "33",
        international_prefixes: &["00"],
        trunk_prefix: Some("0"),
        national_lengths: (9, 9),
        nanp: false,
        spoken_groups: &[&[2, 2, 2, 2, 2]],
    },
];

/// The dialling plan for an ISO country code (case-insensitive), if callbox knows it.
pub fn dialling_plan(country: &str) -> Option<&'static DiallingPlan> {
    DIALLING_PLANS
        .iter()
        .find(|p| p.country.eq_ignore_ascii_case(country.trim()))
}

/// The plan of [`DEFAULT_COUNTRY`]: for tools and tests that have no configuration.
pub fn default_plan() -> &'static DiallingPlan {
    dialling_plan(DEFAULT_COUNTRY).unwrap_or(&DIALLING_PLANS[0])
}

/// Whether `s` is already E.164: `+`, then 7 to 15 digits, the first not 0, nothing else.
pub fn is_e164(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(plausible_e164_digits)
}

/// E.164 allows at most 15 digits; 7 is the shortest real international number.
fn plausible_e164_digits(d: &str) -> bool {
    (7..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
}

/// Normalises a number to E.164 ("+13125550142"). Visual separators (`-().`, spaces, tabs)
/// are ignored. A number in `+` form needs no plan; one without is read with `plan`. `None`
/// when it is not a phone number, or is too short to place without more context (e.g. a
/// 7-digit local number).
pub fn normalise(raw: &str, plan: Option<&DiallingPlan>) -> Option<String> {
    let s: String = raw
        .chars()
        .filter(|c| !matches!(c, '-' | '(' | ')' | '.' | ' ' | '\t'))
        .collect();
    if let Some(digits) = s.strip_prefix('+') {
        return plausible_e164_digits(digits).then(|| format!("+{digits}"));
    }
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    plan?.normalise_digits(&s)
}

/// The number for a log line at info level: only its last four digits (`***0142`).
pub fn masked(number: &str) -> String {
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    if digits.len() <= 4 {
        return "***".into();
    }
    let last: String = digits[digits.len() - 4..].iter().collect();
    format!("***{last}")
}

impl DiallingPlan {
    /// [`normalise`] with this plan.
    pub fn normalise(&self, raw: &str) -> Option<String> {
        normalise(raw, Some(self))
    }

    /// Digits only, no `+`: international, then this country's national forms.
    fn normalise_digits(&self, s: &str) -> Option<String> {
        for prefix in self.international_prefixes {
            if let Some(rest) = s.strip_prefix(prefix) {
                if plausible_e164_digits(rest) {
                    return Some(format!("+{rest}"));
                }
            }
        }
        if self.nanp {
            return self.nanp_national(s);
        }
        if let Some(national) = self.trunk_prefix.and_then(|t| s.strip_prefix(t)) {
            if self.national_ok(national) {
                return Some(self.international(national));
            }
        }
        // Some trunks present national numbers with the country code but without `+`.
        s.strip_prefix(self.calling_code)
            .filter(|n| self.national_ok(n))
            .map(|n| self.international(n))
    }

    /// NANP: ten digits, or eleven with the country code in front.
    fn nanp_national(&self, s: &str) -> Option<String> {
        let nanp_ok = |n: &str| {
            let b = n.as_bytes();
            b.len() == 10 && matches!(b[0], b'2'..=b'9') && matches!(b[3], b'2'..=b'9')
        };
        let national = s.strip_prefix(self.calling_code).filter(|n| nanp_ok(n));
        let national = national.or(Some(s).filter(|n| nanp_ok(n)))?;
        Some(self.international(national))
    }

    fn national_ok(&self, n: &str) -> bool {
        let (min, max) = self.national_lengths;
        (min..=max).contains(&n.len()) && !n.starts_with('0')
    }

    fn international(&self, national: &str) -> String {
        format!("+{}{national}", self.calling_code)
    }

    /// The national significant number of an E.164 number of this country ("+13125550142" →
    /// "3125550142"); `None` for another country's number.
    pub fn national<'a>(&self, e164: &'a str) -> Option<&'a str> {
        e164.strip_prefix('+')?
            .strip_prefix(self.calling_code)
            .filter(|n| self.national_ok(n))
    }

    /// Whether two numbers, in any formatting, are the same number.
    pub fn same_number(&self, a: &str, b: &str) -> bool {
        match (self.servicetitan_key(a), self.servicetitan_key(b)) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
    }

    /// Digits of a number as ServiceTitan's `phone` filter matches them and as the box writes
    /// contacts: a number of this country as its national significant number
    /// (`+13125550142` → `3125550142`), any other as all its digits. A number that does not
    /// normalise keeps its digits when there are at least seven; `None` when there are fewer.
    pub fn servicetitan_key(&self, number: &str) -> Option<String> {
        if let Some(e164) = self.normalise(number) {
            let key = self.national(&e164).unwrap_or(&e164[1..]);
            return Some(key.to_string());
        }
        let digits: String = number.chars().filter(char::is_ascii_digit).collect();
        (digits.len() >= 7).then_some(digits)
    }

    /// How the box reads a number out: a number of this country as written locally, in its
    /// digit groups ("3 1 2, 5 5 5, 0 1 4 2"; "0 2 0, 7 9 4 6, 0 9 5 8"); any other digit by
    /// digit ("4 4 2 0 …").
    pub fn spoken(&self, number: &str) -> String {
        let spaced = |s: &str| s.chars().map(String::from).collect::<Vec<_>>().join(" ");
        let e164 = self.normalise(number);
        let Some(national) = e164.as_deref().and_then(|n| self.national(n)) else {
            let digits: String = number.chars().filter(char::is_ascii_digit).collect();
            return spaced(&digits);
        };
        let local = format!("{}{national}", self.trunk_prefix.unwrap_or(""));
        let Some(groups) = self
            .spoken_groups
            .iter()
            .find(|g| g.iter().sum::<usize>() == local.len())
        else {
            return spaced(&local);
        };
        let mut parts = Vec::with_capacity(groups.len());
        let mut start = 0;
        for len in groups.iter() {
            parts.push(spaced(&local[start..start + len]));
            start += len;
        }
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(country: &str) -> &'static DiallingPlan {
        dialling_plan(country).expect("known country")
    }

    #[test]
    fn normalise_table() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("+13125550142", "US", Some("+13125550142")),
            ("+1 (312) 555-0142", "US", Some("+13125550142")),
            ("1-312-555-0142", "US", Some("+13125550142")),
            ("312 555 0142", "US", Some("+13125550142")),
            // 011 is international: this is a Dutch number, not Chicago.
            ("0113125550142", "US", Some("+3125550142")),
            ("011442079460018", "US", Some("+442079460018")),
            // NANP exchanges never start with 0 or 1.
            ("312 155 0142", "US", None),
            ("112 555 0142", "US", None),
            ("0207 946 0018", "gb", Some("+442079460018")),
            ("020 7946 0018", "GB", Some("+442079460018")),
            ("07700 900123", "GB", Some("+447700900123")),
            ("442079460018", "GB", Some("+442079460018")),
            ("0044 20 7946 0018", "GB", Some("+442079460018")),
            ("001 312 555 0142", "GB", Some("+13125550142")),
            // A US-looking ten digits means nothing in the UK without a trunk prefix.
            ("3125550142", "GB", None),
            ("02 9876 5432", "AU", Some("+61298765432")),
        ];
        for (raw, country, want) in cases {
            assert_eq!(
                plan(country).normalise(raw).as_deref(),
                *want,
                "{raw} ({country})"
            );
        }
    }

    #[test]
    fn bad_input_is_not_a_number() {
        for raw in [
            "",
            "+",
            "+0123",
            "+1234567890123456",
            "*67",
            "3125550142#",
            "call me",
            "312-555-O142",
            "555 0142",
            "+44 20 7946 0018 ext 2",
            "٣١٢٥٥٥٠١٤٢",
        ] {
            for country in ["US", "GB"] {
                assert_eq!(plan(country).normalise(raw), None, "{raw:?} ({country})");
            }
        }
        // Without a plan only the + form is understood.
        assert_eq!(normalise("3125550142", None), None);
        assert_eq!(
            normalise("+44 20 7946 0018", None).as_deref(),
            Some("+442079460018")
        );
    }

    #[test]
    fn e164_shape() {
        assert!(is_e164("+13125550100"));
        assert!(is_e164("+442079460018"));
        assert!(!is_e164("3125550100"));
        assert!(!is_e164("+1 312 555 0100"));
        assert!(!is_e164("+0123456789"));
        assert!(!is_e164(""));
    }

    #[test]
    fn known_countries() {
        for c in ["US", "CA", "GB", "AU", "DE", "FR", "us", " gb "] {
            assert!(dialling_plan(c).is_some(), "{c}");
        }
        assert!(dialling_plan("XX").is_none());
        assert_eq!(default_plan().country, DEFAULT_COUNTRY);
    }

    #[test]
    fn servicetitan_keys_in_the_us() {
        let us = plan("US");
        let key = |n: &str| us.servicetitan_key(n);
        assert_eq!(key("+13125550142").as_deref(), Some("3125550142"));
        assert_eq!(key("(312) 555-0142").as_deref(), Some("3125550142"));
        assert_eq!(key("1-312-555-0142").as_deref(), Some("3125550142"));
        assert_eq!(key("312.555.0142").as_deref(), Some("3125550142"));
        assert_eq!(key("+442079460958").as_deref(), Some("442079460958"));
        assert_eq!(key("911"), None);
        assert_eq!(key(""), None);
        assert!(us.same_number("+13125550142", "312-555-0142"));
        assert!(!us.same_number("+13125550142", "+13125550143"));
        assert!(!us.same_number("abc", "abc"));
    }

    #[test]
    fn servicetitan_keys_in_the_uk() {
        let gb = plan("GB");
        let key = |n: &str| gb.servicetitan_key(n);
        assert_eq!(key("+442079460958").as_deref(), Some("2079460958"));
        assert_eq!(key("020 7946 0958").as_deref(), Some("2079460958"));
        assert_eq!(key("+13125550142").as_deref(), Some("13125550142"));
        assert!(gb.same_number("+442079460958", "020 7946 0958"));
        assert!(gb.same_number("(020) 7946-0958", "0044 20 7946 0958"));
        assert!(!gb.same_number("+442079460958", "+13125550142"));
        assert!(!gb.same_number("020 7946 0958", "020 7946 0959"));
    }

    #[test]
    fn masked_for_logs() {
        assert_eq!(masked("+13125550142"), "***0142");
        assert_eq!(masked("+44 20 7946 0958"), "***0958");
        assert_eq!(masked("0142"), "***");
        assert_eq!(masked(""), "***");
        assert_eq!(masked("anonymous"), "***");
    }

    #[test]
    fn spoken_in_digit_groups() {
        let us = plan("US");
        assert_eq!(us.spoken("+13125550142"), "3 1 2, 5 5 5, 0 1 4 2");
        assert_eq!(us.spoken("+442079460958"), "4 4 2 0 7 9 4 6 0 9 5 8");
        let gb = plan("GB");
        assert_eq!(gb.spoken("+442079460958"), "0 2 0, 7 9 4 6, 0 9 5 8");
        assert_eq!(gb.spoken("+447700900123"), "0 7 7, 0 0 9 0, 0 1 2 3");
        assert_eq!(gb.spoken("+44 1632 96012"), "0 1 6 3 2 9 6 0 1 2");
        assert_eq!(gb.spoken("+13125550142"), "1 3 1 2 5 5 5 0 1 4 2");
        assert_eq!(us.spoken("not a number"), "");
    }
}
