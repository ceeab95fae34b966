//! Safety hazards a caller reports, and the alert that goes to the on-call technician.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Address, CallerInfo};

/// What the caller reported that made the box read the safety script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hazard {
    Gas,
    CarbonMonoxide,
    Smoke,
    Burning,
    Sparking,
    /// Chosen from the keypad's emergency menu ("press 1 for gas, smoke or a CO alarm"): the
    /// caller did not say which.
    Unspecified,
    /// No heat past the cold rule (weather, a vulnerable occupant, a freezing house).
    NoHeat,
    /// No cooling past the hot rule.
    NoCooling,
    /// Water coming through now.
    WaterLeak,
    /// An emergency the caller named without saying what ("this is an emergency", keypad 0 in
    /// the emergency menu, "I need the on-call tech").
    Emergency,
    /// A routine caller who insisted on a person, paged by the shop's policy.
    PersonRequested,
}

impl Hazard {
    /// As the technician reads it ("gas smell").
    pub fn label(self) -> &'static str {
        match self {
            Hazard::Gas => "gas smell",
            Hazard::CarbonMonoxide => "carbon monoxide alarm",
            Hazard::Smoke => "smoke",
            Hazard::Burning => "burning smell",
            Hazard::Sparking => "sparking",
            Hazard::Unspecified => "gas, smoke or CO (keyed)",
            Hazard::NoHeat => "no heat",
            Hazard::NoCooling => "no cooling",
            Hazard::WaterLeak => "active water leak",
            Hazard::Emergency => "emergency (caller asked for the on-call technician)",
            Hazard::PersonRequested => "caller insists on talking to a person",
        }
    }

    /// A danger to life: the caller heard the safety script (leave, call 911 from outside).
    pub fn is_safety(self) -> bool {
        matches!(
            self,
            Hazard::Gas
                | Hazard::CarbonMonoxide
                | Hazard::Smoke
                | Hazard::Burning
                | Hazard::Sparking
                | Hazard::Unspecified
        )
    }
}

/// A caller reported a safety hazard: the on-call technician must hear of it within a minute
/// (the alert dispatcher sends it; see `crate::alert`), and the office in the morning (the sync
/// carries it to ServiceTitan as a booking or lead).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnCallAlert {
    pub call_key: String,
    pub caller: CallerInfo,
    pub hazard: Hazard,
    /// Where, when the box knew it without asking (a known customer's only or confirmed
    /// location). The safety script sends the caller out of the building, so the box does not
    /// keep them on the line to ask.
    #[serde(default)]
    pub address: Option<Address>,
    /// ServiceTitan customer matched by caller ID.
    #[serde(default)]
    pub known_customer_id: Option<i64>,
    /// The caller's words that triggered the script; empty when keyed.
    #[serde(default)]
    pub caller_said: String,
    /// When the caller reported it (the call's clock).
    pub raised_at_utc: DateTime<Utc>,
    /// The job booked on the same call (its record id), when there is one: the job carries
    /// the emergency to the office, so the sync makes no second office copy of the alert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_record_id: Option<String>,
}

impl OnCallAlert {
    /// "123 Maple St, Apt 2, Springfield IL 62704", or `None`.
    pub fn address_line(&self) -> Option<String> {
        self.address.as_ref().map(Address::one_line)
    }
}
