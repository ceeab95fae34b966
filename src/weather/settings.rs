//! `[weather]`: where the outdoor temperature at the shop comes from.

use serde::{Deserialize, Serialize};

use crate::infra::settings::SettingIssue;

/// The outdoor temperature for triage (issue 15).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WeatherConfig {
    /// Fetch the hourly forecast from the US National Weather Service (needs latitude and
    /// longitude). Off: the climate rule by month alone.
    pub enabled: bool,
    /// The shop's position (decimal degrees, north positive).
    pub latitude: Option<f64>,
    /// The shop's position (decimal degrees, east positive: US longitudes are negative).
    pub longitude: Option<f64>,
    /// The NWS API (tests point it at a local fake). https; plain http only to this machine.
    pub base_url: String,
    /// A contact NWS can reach about the box's requests (an e-mail address or web site), sent
    /// in the User-Agent as NWS asks.
    pub contact: String,
    /// How often the forecast is fetched (s).
    pub refresh_secs: u64,
    /// The last fetched value is used while younger than this (s); then the climate rule.
    pub max_age_secs: u64,
    /// The climate rule's preset: "us_average", "cold_north", "mild_south", "hot_desert".
    pub climate: String,
    /// Twelve typical outdoor temperatures (°F), January first: when given, they are the
    /// climate rule instead of the preset.
    pub monthly_normal_f: Vec<f32>,
}

impl Default for WeatherConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            latitude: None,
            longitude: None,
            base_url: "https://api.weather.gov".into(),
            contact: String::new(),
            refresh_secs: 1800,
            max_age_secs: 6 * 3600,
            climate: "us_average".into(),
            monthly_normal_f: Vec::new(),
        }
    }
}

/// Typical monthly mean temperatures (°F, January first), rounded from NOAA's 1991–2020
/// normals: the contiguous US as a whole, Minneapolis, Atlanta, Phoenix.
pub const CLIMATE_PRESETS: &[(&str, [f32; 12])] = &[
    (
        "us_average",
        [
            31.0, 35.0, 43.0, 52.0, 62.0, 71.0, 76.0, 74.0, 66.0, 54.0, 43.0, 34.0,
        ],
    ),
    (
        "cold_north",
        [
            16.0, 20.0, 33.0, 46.0, 58.0, 68.0, 73.0, 71.0, 62.0, 49.0, 34.0, 21.0,
        ],
    ),
    (
        "mild_south",
        [
            45.0, 49.0, 56.0, 63.0, 71.0, 78.0, 81.0, 80.0, 75.0, 64.0, 54.0, 47.0,
        ],
    ),
    (
        "hot_desert",
        [
            57.0, 60.0, 66.0, 73.0, 82.0, 92.0, 96.0, 94.0, 89.0, 77.0, 64.0, 56.0,
        ],
    ),
];

impl WeatherConfig {
    /// The climate rule: twelve temperatures, January first.
    pub fn monthly_normals(&self) -> [f32; 12] {
        if let Ok(custom) = <[f32; 12]>::try_from(self.monthly_normal_f.as_slice()) {
            return custom;
        }
        CLIMATE_PRESETS
            .iter()
            .find(|(name, _)| *name == self.climate)
            .map_or(CLIMATE_PRESETS[0].1, |(_, normals)| *normals)
    }

    /// Checks `[weather]`.
    pub fn validate(&self, v: &mut Vec<SettingIssue>) {
        if self.enabled {
            match self.latitude {
                Some(lat) if lat.is_finite() && (-90.0..=90.0).contains(&lat) => {}
                Some(lat) => v.push(SettingIssue::error(
                    "weather.latitude",
                    format!("must be between -90 and 90 ({lat} given)"),
                )),
                None => v.push(SettingIssue::error(
                    "weather.latitude",
                    "is needed when weather.enabled is on",
                )),
            }
            match self.longitude {
                Some(lon) if lon.is_finite() && (-180.0..=180.0).contains(&lon) => {}
                Some(lon) => v.push(SettingIssue::error(
                    "weather.longitude",
                    format!("must be between -180 and 180 ({lon} given)"),
                )),
                None => v.push(SettingIssue::error(
                    "weather.longitude",
                    "is needed when weather.enabled is on",
                )),
            }
            if self.contact.trim().is_empty() {
                v.push(SettingIssue::warning(
                    "weather.contact",
                    "is empty; NWS asks for a contact (e-mail or web site) in the User-Agent",
                ));
            }
        }
        match reqwest::Url::parse(&self.base_url) {
            Ok(url) if url.scheme() == "https" => {}
            Ok(url) if url.scheme() == "http" && crate::infra::http::is_loopback(&url) => {}
            Ok(_) => v.push(SettingIssue::error(
                "weather.base_url",
                "must be an https:// URL (plain http only to this machine)",
            )),
            Err(e) => v.push(SettingIssue::error(
                "weather.base_url",
                format!("is not a URL: {e}"),
            )),
        }
        if !(60..=86_400).contains(&self.refresh_secs) {
            v.push(SettingIssue::error(
                "weather.refresh_secs",
                "must be between 60 and 86400 seconds",
            ));
        }
        if self.max_age_secs < self.refresh_secs || self.max_age_secs > 7 * 86_400 {
            v.push(SettingIssue::error(
                "weather.max_age_secs",
                "must be at least weather.refresh_secs and at most a week",
            ));
        }
        if !CLIMATE_PRESETS
            .iter()
            .any(|(name, _)| *name == self.climate)
        {
            let names: Vec<&str> = CLIMATE_PRESETS.iter().map(|(n, _)| *n).collect();
            v.push(SettingIssue::error(
                "weather.climate",
                format!("is not one of {}", names.join(", ")),
            ));
        }
        if !self.monthly_normal_f.is_empty() {
            if self.monthly_normal_f.len() != 12 {
                v.push(SettingIssue::error(
                    "weather.monthly_normal_f",
                    format!(
                        "needs twelve temperatures, January first ({} given)",
                        self.monthly_normal_f.len()
                    ),
                ));
            } else if self
                .monthly_normal_f
                .iter()
                .any(|t| !t.is_finite() || !(-40.0..=130.0).contains(t))
            {
                v.push(SettingIssue::error(
                    "weather.monthly_normal_f",
                    "each must be between -40 and 130 °F",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(config: &WeatherConfig) -> Vec<String> {
        let mut v = Vec::new();
        config.validate(&mut v);
        v.into_iter()
            .filter(|i| i.is_error())
            .map(|i| i.key)
            .collect()
    }

    #[test]
    fn the_defaults_are_valid_and_bad_values_are_named() {
        assert!(keys(&WeatherConfig::default()).is_empty());
        let bad = WeatherConfig {
            enabled: true,
            latitude: Some(123.0),
            longitude: None,
            base_url: "http://api.weather.example".into(),
            refresh_secs: 10,
            max_age_secs: 5,
            climate: "tropical".into(),
            monthly_normal_f: vec![30.0; 11],
            ..WeatherConfig::default()
        };
        let got = keys(&bad);
        for key in [
            "latitude",
            "longitude",
            "base_url",
            "refresh_secs",
            "max_age_secs",
            "climate",
            "monthly_normal_f",
        ] {
            assert!(got.contains(&format!("weather.{key}")), "{key} in {got:?}");
        }
    }

    #[test]
    fn twelve_custom_normals_win_over_the_preset() {
        let mut config = WeatherConfig::default();
        assert_eq!(config.monthly_normals()[0], 31.0);
        config.climate = "hot_desert".into();
        assert_eq!(config.monthly_normals()[6], 96.0);
        config.monthly_normal_f = (0..12).map(|m| m as f32).collect();
        assert_eq!(config.monthly_normals()[6], 6.0);
    }
}
