//! **Sans-I/O**: which outdoor temperature a call uses, from the last fetched value, its age
//! and the climate rule. Handed the time and the shop's month; reads no clock.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One value fetched from the forecast.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    pub temp_f: f32,
    pub fetched_at: DateTime<Utc>,
}

/// How old the last value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Freshness {
    /// Within two refresh periods: the forecast as it is now.
    Fresh,
    /// Older, but within `max_age`: still used (the box is offline or NWS is down).
    Aging,
    /// Older than `max_age`, or none: not used.
    Stale,
}

/// Where a call's outdoor temperature came from (kept in the call record). `Caller` is for
/// the record of a temperature the caller said, which triage prefers unless the forecast is
/// fresh (`Nws`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Nws,
    Cached,
    Climate,
    Caller,
}

/// The value a call uses, and why.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Outdoor {
    pub temp_f: f32,
    pub source: Source,
    /// Age of the fetched value (s), when one was used.
    pub age_secs: Option<u64>,
}

/// The rules: how old is fresh, how old is too old, and the climate by month.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub fresh: Duration,
    pub max_age: Duration,
    /// January first.
    pub monthly_normal_f: [f32; 12],
}

impl Policy {
    pub fn freshness(&self, reading: Option<&Reading>, now: DateTime<Utc>) -> Freshness {
        let Some(reading) = reading else {
            return Freshness::Stale;
        };
        // A value from the future (a clock set back) is not trusted to be current.
        let Ok(age) = (now - reading.fetched_at).to_std() else {
            return Freshness::Stale;
        };
        if age <= self.fresh {
            Freshness::Fresh
        } else if age <= self.max_age {
            Freshness::Aging
        } else {
            Freshness::Stale
        }
    }

    /// The outdoor temperature for a call now; `month` is the shop's month, 1–12.
    pub fn outdoor(&self, reading: Option<&Reading>, now: DateTime<Utc>, month: u32) -> Outdoor {
        let age = reading.and_then(|r| (now - r.fetched_at).to_std().ok());
        let fetched = |source| Outdoor {
            temp_f: reading.map_or(f32::NAN, |r| r.temp_f),
            source,
            age_secs: age.map(|a| a.as_secs()),
        };
        match self.freshness(reading, now) {
            Freshness::Fresh => fetched(Source::Nws),
            Freshness::Aging => fetched(Source::Cached),
            Freshness::Stale => Outdoor {
                temp_f: self.climate(month),
                source: Source::Climate,
                age_secs: None,
            },
        }
    }

    /// The climate rule's value for `month` (1–12; anything else is read as December).
    pub fn climate(&self, month: u32) -> f32 {
        let index = month.clamp(1, 12) as usize - 1;
        self.monthly_normal_f[index]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn policy() -> Policy {
        Policy {
            fresh: Duration::from_secs(3600),
            max_age: Duration::from_secs(6 * 3600),
            monthly_normal_f: [
                20.0, 25.0, 35.0, 45.0, 55.0, 65.0, 75.0, 72.0, 60.0, 50.0, 35.0, 22.0,
            ],
        }
    }

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 5, h, m, 0).unwrap()
    }

    #[test]
    fn a_value_is_fresh_then_aging_then_stale_and_then_the_climate_rule_answers() {
        let p = policy();
        let reading = Reading {
            temp_f: 18.0,
            fetched_at: at(3, 0),
        };
        let r = Some(&reading);
        assert_eq!(p.outdoor(r, at(3, 0), 12).source, Source::Nws);
        assert_eq!(p.outdoor(r, at(4, 0), 12).source, Source::Nws);
        let aging = p.outdoor(r, at(4, 1), 12);
        assert_eq!(aging.source, Source::Cached);
        assert_eq!(aging.temp_f, 18.0);
        assert_eq!(aging.age_secs, Some(3660));
        assert_eq!(p.outdoor(r, at(9, 0), 12).source, Source::Cached);
        let stale = p.outdoor(r, at(9, 1), 12);
        assert_eq!(stale.source, Source::Climate);
        assert_eq!(stale.temp_f, 22.0, "December's normal");
        assert_eq!(stale.age_secs, None);
        // Nothing fetched yet: the climate rule, by the shop's month.
        assert_eq!(p.outdoor(None, at(3, 0), 7).temp_f, 75.0);
        assert_eq!(p.outdoor(None, at(3, 0), 1).temp_f, 20.0);
    }

    #[test]
    fn a_value_from_the_future_is_not_current() {
        let p = policy();
        let reading = Reading {
            temp_f: 18.0,
            fetched_at: at(5, 0),
        };
        assert_eq!(p.freshness(Some(&reading), at(4, 0)), Freshness::Stale);
        assert_eq!(
            p.outdoor(Some(&reading), at(4, 0), 12).source,
            Source::Climate
        );
    }
}
