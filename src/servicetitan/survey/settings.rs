//! `[survey]`: the post-job survey call (re-exported from `crate::servicetitan::settings`).

use chrono::{NaiveTime, Weekday};
use serde::{Deserialize, Serialize};

use super::plan::{CallingHours, SurveyRules};
use crate::infra::settings::SettingIssue;

/// The day after ServiceTitan marks a job the box booked as completed, the box calls the
/// customer for a 1-5 rating and a comment, written to the job as a note. Needs the sync and
/// an outbound line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SurveyConfig {
    pub enabled: bool,
    /// When survey calls may be placed, shop-local, "HH:MM-HH:MM".
    pub calling_hours: String,
    /// The days they may be placed: "mon" … "sun".
    pub days: Vec<String>,
    /// Calls per job at most (an unanswered one is tried again).
    pub max_attempts: u32,
    /// Minutes between two attempts.
    pub retry_gap_minutes: u64,
    /// No call more than this many days after the job was completed.
    pub expire_days: u64,
    /// Numbers never to call (E.164), besides the ones who pressed 9.
    pub do_not_call: Vec<String>,
    /// The survey call's language: "en" (English) or "es" (Spanish: `[voice] spanish_voice`
    /// speaks it, and `[speech] spanish_model` hears spoken ratings when one is loaded).
    pub language: String,
}

impl Default for SurveyConfig {
    fn default() -> Self {
        SurveyConfig {
            enabled: false,
            calling_hours: "10:00-19:00".into(),
            days: ["mon", "tue", "wed", "thu", "fri", "sat"]
                .map(String::from)
                .to_vec(),
            max_attempts: 2,
            retry_gap_minutes: 180,
            expire_days: 4,
            do_not_call: Vec::new(),
            language: "en".into(),
        }
    }
}

fn parse_hours(s: &str) -> Option<(NaiveTime, NaiveTime)> {
    let (a, b) = s.split_once('-')?;
    let start = NaiveTime::parse_from_str(a.trim(), "%H:%M").ok()?;
    let end = NaiveTime::parse_from_str(b.trim(), "%H:%M").ok()?;
    (start < end).then_some((start, end))
}

fn parse_day(s: &str) -> Option<Weekday> {
    s.trim().parse().ok()
}

impl SurveyConfig {
    pub fn validate(&self, v: &mut Vec<SettingIssue>) {
        if parse_hours(&self.calling_hours).is_none() {
            v.push(SettingIssue::error(
                "survey.calling_hours",
                format!(
                    "`{}` is not a range like \"10:00-19:00\" (start before end)",
                    self.calling_hours
                ),
            ));
        }
        for d in &self.days {
            if parse_day(d).is_none() {
                v.push(SettingIssue::error(
                    "survey.days",
                    format!("`{d}` is not a day (mon, tue, wed, thu, fri, sat, sun)"),
                ));
            }
        }
        if self.enabled && self.days.is_empty() {
            v.push(SettingIssue::error(
                "survey.days",
                "is empty: no survey call could ever be placed",
            ));
        }
        if !matches!(self.language.as_str(), "en" | "es") {
            v.push(SettingIssue::error(
                "survey.language",
                format!("`{}` is not \"en\" or \"es\"", self.language),
            ));
        }
        if self.max_attempts == 0 {
            v.push(SettingIssue::error(
                "survey.max_attempts",
                "must be greater than 0",
            ));
        }
        for n in &self.do_not_call {
            if !crate::trade::phone::is_e164(n) {
                v.push(SettingIssue::error(
                    "survey.do_not_call",
                    format!("`{n}` is not an E.164 number (+13125550100)"),
                ));
            }
        }
    }

    /// The plan's rules in the shop's zone `timezone`.
    pub fn rules(&self, timezone: chrono_tz::Tz) -> SurveyRules {
        let defaults = CallingHours::default();
        let (start, end) =
            parse_hours(&self.calling_hours).unwrap_or((defaults.start, defaults.end));
        SurveyRules {
            timezone,
            hours: CallingHours {
                start,
                end,
                days: self.days.iter().filter_map(|d| parse_day(d)).collect(),
            },
            max_attempts: self.max_attempts.max(1),
            retry_gap: chrono::Duration::minutes(
                i64::try_from(self.retry_gap_minutes).unwrap_or(180),
            ),
            expire_after: chrono::Duration::days(i64::try_from(self.expire_days).unwrap_or(4)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_become_the_default_rules() {
        let c = SurveyConfig::default();
        let mut v = Vec::new();
        c.validate(&mut v);
        assert!(v.is_empty(), "{v:?}");
        let r = c.rules(chrono_tz::UTC);
        assert_eq!(r.hours, CallingHours::default());
        assert_eq!(r.max_attempts, 2);
    }

    #[test]
    fn bad_hours_days_and_numbers_are_named() {
        let c = SurveyConfig {
            calling_hours: "19:00-10:00".into(),
            days: vec!["funday".into()],
            do_not_call: vec!["555-0100".into()],
            ..SurveyConfig::default()
        };
        let mut v = Vec::new();
        c.validate(&mut v);
        let keys: Vec<_> = v.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            ["survey.calling_hours", "survey.days", "survey.do_not_call"]
        );
    }
}
