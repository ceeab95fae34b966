//! The outdoor temperature at the shop, for triage's thresholds (issue 15).
//!
//! Layer rules: `weather` imports `infra` only. `nws` fetches the US National Weather
//! Service's hourly forecast for the shop's latitude and longitude (its parsing is pure);
//! `outdoor` is **sans-I/O**: from the last value, its age and the climate rule by month it
//! picks what a call uses and says where it came from (nws / cached / climate). The app runs
//! the refresh as a supervised service (`src/app/weather.rs`).

pub mod nws;
pub mod outdoor;
pub mod settings;

pub use nws::{NwsClient, WeatherError};
pub use outdoor::{Freshness, Outdoor, Policy, Reading, Source};
pub use settings::WeatherConfig;
