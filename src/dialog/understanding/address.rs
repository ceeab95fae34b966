//! Street addresses as callers say them: "one twenty three maple street",
//! "four five six north oak avenue apartment two".

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

/// The street address in an utterance, if it has a house number and a street name.
pub fn street_address(_text: &str) -> Option<StreetAddress> {
    None
}
