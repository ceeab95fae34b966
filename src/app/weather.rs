//! The outdoor temperature for calls: a supervised service refreshes it from the NWS
//! (`crate::weather::nws`) every `weather.refresh_secs`; each call asks [`WeatherHandle`] for
//! the value to use now (`crate::weather::outdoor`: fresh, aging, else the climate rule by the
//! shop's month). The last value is kept in `<data_dir>/weather.json`, so a restart while
//! offline still has it while it is recent.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::anyhow;
use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use tracing::{info, warn};

use crate::app::supervisor::{Service, Supervisor};
use crate::config::{Config, DataPaths};
use crate::dialog::call_log::OutdoorRecord;
use crate::weather::{NwsClient, Outdoor, Policy, Reading, WeatherConfig};

/// Retry after a failed fetch no sooner than this (and no later than the refresh period).
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(300);

/// What calls read and the refresh service writes.
#[derive(Clone)]
pub struct WeatherHandle {
    inner: Arc<Mutex<Option<Reading>>>,
    policy: Policy,
    zone: Tz,
    file: PathBuf,
}

impl WeatherHandle {
    /// The handle, with the last value kept on disk (if any).
    pub fn new(settings: &WeatherConfig, zone: &str, data_dir: &Path) -> WeatherHandle {
        let refresh = Duration::from_secs(settings.refresh_secs);
        let policy = Policy {
            fresh: refresh * 2,
            max_age: Duration::from_secs(settings.max_age_secs),
            monthly_normal_f: settings.monthly_normals(),
        };
        let file = data_dir.join("weather.json");
        let kept = std::fs::read(&file)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Reading>(&bytes).ok());
        WeatherHandle {
            inner: Arc::new(Mutex::new(kept)),
            policy,
            zone: zone.parse().unwrap_or(Tz::UTC),
            file,
        }
    }

    /// The value a call answered at `now` uses.
    pub fn outdoor(&self, now: DateTime<Utc>) -> Outdoor {
        let reading = *self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let month = now.with_timezone(&self.zone).month();
        self.policy.outdoor(reading.as_ref(), now, month)
    }

    /// Keeps a fetched value (in memory, and on disk for the next start).
    pub fn record(&self, reading: Reading) {
        *self.inner.lock().unwrap_or_else(|e| e.into_inner()) = Some(reading);
        match serde_json::to_vec(&reading) {
            Ok(bytes) => {
                if let Err(e) = crate::infra::fs::write_atomic(&self.file, &bytes) {
                    warn!(error = %e, "weather: the last value could not be kept on disk");
                }
            }
            Err(e) => warn!(error = %e, "weather: the last value could not be kept on disk"),
        }
    }
}

/// What the call record keeps: the value, its source and the thresholds it was held against
/// (the call's own: `[triage]` applies from the next call when the page changes it).
pub fn outdoor_record(
    outdoor: &Outdoor,
    cold_threshold_f: f32,
    hot_threshold_f: f32,
) -> OutdoorRecord {
    OutdoorRecord {
        temp_f: outdoor.temp_f,
        source: serde_json::to_value(outdoor.source)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        age_secs: outdoor.age_secs,
        cold_threshold_f,
        hot_threshold_f,
    }
}

/// The weather for `callbox run`: the handle calls read, and (with `[weather] enabled`) the
/// refresh service under the supervisor.
pub(crate) fn start(
    supervisor: &mut Supervisor,
    config: &Config,
    paths: &DataPaths,
) -> WeatherHandle {
    let handle = WeatherHandle::new(&config.weather, &config.shop.timezone, &paths.root);
    let now = handle.outdoor(Utc::now());
    if !config.weather.enabled {
        info!(
            temp_f = now.temp_f,
            climate = %config.weather.climate,
            "weather: NWS forecast off ([weather] enabled = false): triage uses the climate rule by month"
        );
        return handle;
    }
    info!(temp_f = now.temp_f, source = ?now.source, "weather: outdoor temperature at start");
    supervisor.spawn(refresh_service(config.weather.clone(), handle.clone()));
    handle
}

/// Fetches the forecast every `refresh_secs` (sooner again after a failure).
pub fn refresh_service(settings: WeatherConfig, handle: WeatherHandle) -> Service {
    Service::new("weather", move |token| {
        let settings = settings.clone();
        let handle = handle.clone();
        Box::pin(async move {
            let mut client = NwsClient::new(&settings).map_err(|e| anyhow!(e))?;
            let refresh = Duration::from_secs(settings.refresh_secs);
            loop {
                let wait = if refresh_once(&mut client, &handle).await {
                    refresh
                } else {
                    refresh.min(RETRY_AFTER_FAILURE)
                };
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = token.cancelled() => return Ok(()),
                }
            }
        })
    })
}

/// One fetch; whether it brought a value. A failure is logged and leaves the last value to
/// age.
pub async fn refresh_once(client: &mut NwsClient, handle: &WeatherHandle) -> bool {
    let now = Utc::now();
    match client.current_temp_f(now).await {
        Ok(temp_f) => {
            info!(temp_f, "weather: outdoor temperature from the NWS");
            handle.record(Reading {
                temp_f,
                fetched_at: now,
            });
            true
        }
        Err(e) => {
            let using = handle.outdoor(now);
            warn!(error = %e, using_f = using.temp_f, source = ?using.source, "weather: the NWS forecast could not be fetched");
            false
        }
    }
}
