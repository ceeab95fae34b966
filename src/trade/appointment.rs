//! How soon the shop has to act, and when the technician arrives.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How soon the shop has to act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    /// No heat in winter, no cooling in a heat wave, gas smell, water on the floor.
    Emergency,
    /// Can wait for a normal appointment.
    Routine,
}

/// The appointment the caller agreed to, in UTC (ServiceTitan takes every time in UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppointmentWindow {
    /// Start of the appointment (the capacity frame's `startUtc`).
    pub start_utc: DateTime<Utc>,
    /// End of the appointment.
    pub end_utc: DateTime<Utc>,
    /// Arrival window promised to the caller, when it differs from start..end.
    #[serde(default)]
    pub arrival_window_start_utc: Option<DateTime<Utc>>,
    #[serde(default)]
    pub arrival_window_end_utc: Option<DateTime<Utc>>,
}
