//! The US National Weather Service API (api.weather.gov; no key, a User-Agent required):
//! `GET /points/{lat},{lon}` names the grid's `forecastHourly` URL; that forecast's period
//! covering now has the temperature. The parsing is pure ([`hourly_url`],
//! [`temperature_now`]); [`NwsClient`] does the two requests.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Url;
use serde::Deserialize;

use super::settings::WeatherConfig;
use crate::infra::http;

/// The most an NWS answer may be (an hourly forecast is ~100 KiB).
const BODY_LIMIT: usize = 2 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum WeatherError {
    #[error("weather is not set up: {0}")]
    Settings(String),
    #[error("{url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("the NWS answer from {url} is not what was expected: {reason}")]
    Answer { url: String, reason: String },
}

#[derive(Deserialize)]
struct Points {
    properties: PointsProperties,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PointsProperties {
    forecast_hourly: Option<String>,
}

#[derive(Deserialize)]
struct Forecast {
    properties: ForecastProperties,
}

#[derive(Deserialize)]
struct ForecastProperties {
    periods: Vec<Period>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Period {
    start_time: DateTime<chrono::FixedOffset>,
    end_time: DateTime<chrono::FixedOffset>,
    temperature: Temperature,
    temperature_unit: Option<String>,
}

/// A plain number with `temperatureUnit`, or a QuantitativeValue (`unitCode`, `value`).
#[derive(Deserialize)]
#[serde(untagged)]
enum Temperature {
    Number(f64),
    Quantity {
        #[serde(rename = "unitCode")]
        unit_code: String,
        value: Option<f64>,
    },
}

/// `forecastHourly` from a `/points` answer; it must be on the same origin as `base` (the box
/// follows no link elsewhere).
pub fn hourly_url(body: &[u8], base: &Url) -> Result<Url, String> {
    let points: Points = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let link = points
        .properties
        .forecast_hourly
        .ok_or("no forecastHourly (a point outside the NWS's area?)")?;
    let url = Url::parse(&link).map_err(|e| format!("forecastHourly is not a URL: {e}"))?;
    if url.origin() != base.origin() {
        return Err(format!(
            "forecastHourly points away from {} ({})",
            base.origin().ascii_serialization(),
            url.origin().ascii_serialization()
        ));
    }
    Ok(url)
}

/// The temperature (°F) of the hourly period covering `now`.
pub fn temperature_now(body: &[u8], now: DateTime<Utc>) -> Result<f32, String> {
    let forecast: Forecast = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let period = forecast
        .properties
        .periods
        .iter()
        .find(|p| p.start_time <= now && now < p.end_time)
        .ok_or("no forecast period covers now (an out-of-date forecast)")?;
    let fahrenheit = match &period.temperature {
        Temperature::Number(value) => match period.temperature_unit.as_deref() {
            Some("F") | None => *value,
            Some("C") => value * 9.0 / 5.0 + 32.0,
            Some(other) => return Err(format!("unknown temperatureUnit {other:?}")),
        },
        Temperature::Quantity { unit_code, value } => {
            let value = value.ok_or("the temperature has no value")?;
            match unit_code.as_str() {
                "wmoUnit:degF" => value,
                "wmoUnit:degC" => value * 9.0 / 5.0 + 32.0,
                other => return Err(format!("unknown unitCode {other:?}")),
            }
        }
    };
    if !fahrenheit.is_finite() || !(-80.0..=140.0).contains(&fahrenheit) {
        return Err(format!("an implausible temperature ({fahrenheit} °F)"));
    }
    Ok(fahrenheit as f32)
}

/// The two requests, with the `forecastHourly` URL kept once known (it does not change).
pub struct NwsClient {
    http: reqwest::Client,
    base: Url,
    points: Url,
    user_agent: String,
    hourly: Option<Url>,
}

impl NwsClient {
    pub fn new(settings: &WeatherConfig) -> Result<NwsClient, WeatherError> {
        let (Some(lat), Some(lon)) = (settings.latitude, settings.longitude) else {
            return Err(WeatherError::Settings(
                "weather.latitude and weather.longitude are needed".into(),
            ));
        };
        let mut base = Url::parse(&settings.base_url)
            .map_err(|e| WeatherError::Settings(format!("weather.base_url: {e}")))?;
        // A base with a path (a proxy, a test server) keeps it: `join` replaces the last
        // segment unless the path ends with a slash.
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        http::check_url(&base, true).map_err(|e| WeatherError::Settings(e.to_string()))?;
        // NWS takes at most four decimals, without trailing zeros (anything else is answered
        // with a redirect to that form, which is followed, https only, all the same).
        let points = base
            .join(&format!("points/{},{}", coordinate(lat), coordinate(lon)))
            .map_err(|e| WeatherError::Settings(e.to_string()))?;
        let mut options =
            http::HttpOptions::new(Duration::from_secs(10), Some(Duration::from_secs(30)));
        options.https_only = true;
        let client = http::client(&options).map_err(|e| WeatherError::Settings(e.to_string()))?;
        let contact = settings.contact.trim();
        let user_agent = if contact.is_empty() {
            http::USER_AGENT.to_string()
        } else {
            format!("{} ({contact})", http::USER_AGENT)
        };
        Ok(NwsClient {
            http: client,
            base,
            points,
            user_agent,
            hourly: None,
        })
    }

    /// The temperature now, from the hourly forecast.
    pub async fn current_temp_f(&mut self, now: DateTime<Utc>) -> Result<f32, WeatherError> {
        let hourly = match &self.hourly {
            Some(url) => url.clone(),
            None => {
                let points = self.points.clone();
                let body = self.get(&points).await?;
                let url = hourly_url(&body, &self.base).map_err(|reason| WeatherError::Answer {
                    url: points.to_string(),
                    reason,
                })?;
                self.hourly = Some(url.clone());
                url
            }
        };
        let body = match self.get(&hourly).await {
            Ok(body) => body,
            Err(e) => {
                // The grid may have moved: ask /points again next time.
                self.hourly = None;
                return Err(e);
            }
        };
        temperature_now(&body, now).map_err(|reason| WeatherError::Answer {
            url: hourly.to_string(),
            reason,
        })
    }

    async fn get(&self, url: &Url) -> Result<Vec<u8>, WeatherError> {
        let fetch = |reason: String| WeatherError::Fetch {
            url: url.to_string(),
            reason,
        };
        let mut response = self
            .http
            .get(url.clone())
            .header(reqwest::header::USER_AGENT, &self.user_agent)
            .header(reqwest::header::ACCEPT, "application/geo+json")
            .send()
            .await
            .map_err(|e| fetch(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(fetch(format!("HTTP {}", response.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| fetch(e.without_url().to_string()))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > BODY_LIMIT {
                return Err(fetch(format!("larger than {BODY_LIMIT} bytes")));
            }
        }
        Ok(body)
    }
}

/// A coordinate as NWS writes it: four decimals at most, no trailing zeros.
fn coordinate(degrees: f64) -> String {
    let text = format!("{degrees:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn base() -> Url {
        Url::parse("https://api.weather.gov").unwrap()
    }

    #[test]
    fn coordinates_are_written_as_nws_writes_them() {
        assert_eq!(coordinate(44.977_812_3), "44.9778");
        assert_eq!(coordinate(-93.265_011), "-93.265");
        assert_eq!(coordinate(39.0), "39");
        assert_eq!(coordinate(-0.000_01), "0");
    }

    #[test]
    fn the_hourly_link_is_taken_only_from_the_same_origin() {
        let body = br#"{"properties": {"forecastHourly": "https://api.weather.gov/gridpoints/MPX/107,71/forecast/hourly"}}"#;
        assert_eq!(
            hourly_url(body, &base()).unwrap().path(),
            "/gridpoints/MPX/107,71/forecast/hourly"
        );
        let away = br#"{"properties": {"forecastHourly": "https://evil.example/x"}}"#;
        assert!(hourly_url(away, &base()).unwrap_err().contains("away"));
        assert!(hourly_url(br#"{"properties": {}}"#, &base()).is_err());
        assert!(hourly_url(b"<html>", &base()).is_err());
    }

    #[test]
    fn the_period_covering_now_gives_the_temperature_in_fahrenheit() {
        let body = br#"{"properties": {"periods": [
            {"number": 1, "startTime": "2026-12-04T20:00:00-06:00", "endTime": "2026-12-04T21:00:00-06:00",
             "temperature": 20, "temperatureUnit": "F"},
            {"number": 2, "startTime": "2026-12-04T21:00:00-06:00", "endTime": "2026-12-04T22:00:00-06:00",
             "temperature": 18, "temperatureUnit": "F"},
            {"number": 3, "startTime": "2026-12-04T22:00:00-06:00", "endTime": "2026-12-04T23:00:00-06:00",
             "temperature": {"unitCode": "wmoUnit:degC", "value": -10}, "temperatureUnit": null}
        ]}}"#;
        let at = |h, m| Utc.with_ymd_and_hms(2026, 12, 5, h, m, 0).unwrap();
        assert_eq!(temperature_now(body, at(3, 30)).unwrap(), 18.0);
        assert_eq!(temperature_now(body, at(2, 0)).unwrap(), 20.0);
        assert_eq!(temperature_now(body, at(4, 0)).unwrap(), 14.0);
        assert!(temperature_now(body, at(6, 0))
            .unwrap_err()
            .contains("no forecast period"));
        assert!(temperature_now(b"{}", at(3, 0)).is_err());
    }
}
