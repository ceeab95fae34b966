//! Configuration: embedded defaults, a TOML file over them, environment variables over single keys.
//!
//! Each layer owns its section types and their validation (`telephony::settings`,
//! `speech::settings`, …); this module composes them into [`Config`], loads the file and the
//! `CALLBOX_<SECTION>_<KEY>` environment (`load`, `env`), and checks text (`check`).
//! Every key is documented in `firmware/etc/callbox/callbox.toml` (the commented example).
//! `callbox config check` validates a file and names the key and the reason for every error.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

mod check;
mod env;
mod load;
pub mod overlay;
#[cfg(test)]
mod overlay_tests;
mod secrets;
#[cfg(test)]
mod tests;

pub use crate::alert::settings::AlertsConfig;
pub use crate::alert::settings::SmsConfig;
pub use crate::dialog::settings::{
    CallConfig, CallMode, DialogConfig, ScheduleConfig, TriageConfig,
};
pub use crate::infra::settings::{SettingIssue as ConfigIssue, Severity};
pub use crate::queue::settings::QueueConfig;
pub use crate::servicetitan::settings::SurveyConfig;
pub use crate::servicetitan::settings::{OnCallPolicy, RejectionFallback, ServiceTitanConfig};
pub use crate::speech::settings::{AudioConfig, SpeechConfig, VoiceConfig, VoiceEngine};
pub use crate::telephony::settings::{Codec, MediaConfig, SipAccount, SipConfig};
pub use crate::update::settings::UpdateConfig;
pub use crate::weather::settings::WeatherConfig;
pub use crate::web::settings::WebConfig;
pub use check::{check, check_bytes, check_in_environment};
pub use env::env_var_name;
pub use secrets::{CREDENTIALS_DIRECTORY, SECRET_KEYS};

/// Where the appliance looks for its configuration when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/callbox/callbox.toml";

/// Prefix of the environment variables that override single keys: `CALLBOX_<SECTION>_<KEY>`.
pub const ENV_PREFIX: &str = "CALLBOX_";

/// The whole configuration. Every section has defaults, so an empty file is valid.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub shop: ShopConfig,
    pub storage: StorageConfig,
    pub sip: SipConfig,
    pub media: MediaConfig,
    pub call: CallConfig,
    pub queue: QueueConfig,
    pub triage: TriageConfig,
    pub speech: SpeechConfig,
    pub voice: VoiceConfig,
    pub audio: AudioConfig,
    pub dialog: DialogConfig,
    pub schedule: ScheduleConfig,
    pub log: LogConfig,
    pub servicetitan: ServiceTitanConfig,
    pub alerts: AlertsConfig,
    pub web: WebConfig,
    pub update: UpdateConfig,
    pub sms: SmsConfig,
    pub survey: SurveyConfig,
    pub weather: WeatherConfig,
}

/// The shop the box answers for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ShopConfig {
    /// Spoken in the greeting.
    pub name: String,
    /// ISO 3166 country whose dialling plan normalises caller ID to E.164 (e.g. "US").
    pub default_country: String,
    /// IANA timezone of the shop.
    pub timezone: String,
}

/// Where the box keeps its state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Data directory: recordings, queue, caches.
    pub data_dir: PathBuf,
    /// Days recordings and call records are kept (housekeeping deletes older ones, except
    /// those of calls whose queue records have not reached ServiceTitan yet).
    pub retention_days: u32,
    /// Most space recordings and call records may take together, in MiB; the oldest go first.
    pub recordings_budget_mb: u64,
    /// Free space on the data partition kept for the job queue, in MiB: below it a call's
    /// recording stops (the call goes on) so that bookings can still be queued.
    pub queue_reserve_mb: u64,
    /// Days a cached customer-by-phone, capacity or past appointment is kept without refresh.
    pub cache_max_age_days: u32,
}

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// tracing filter, e.g. "info" or "callbox=debug".
    pub filter: String,
    /// Log callers' full numbers and names (debugging). Default: masked to the last four
    /// digits (`***0142`) and initials.
    pub full_numbers: bool,
}

impl Default for ShopConfig {
    fn default() -> Self {
        ShopConfig {
            name: "the shop".into(),
            default_country: "US".into(),
            timezone: "America/Chicago".into(),
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from("./callbox-data"),
            retention_days: 90,
            recordings_budget_mb: 2048,
            queue_reserve_mb: 64,
            cache_max_age_days: 30,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            filter: "info".into(),
            full_numbers: false,
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--config` named a file that does not exist.
    #[error("config file {path} does not exist")]
    NotFound { path: PathBuf },
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not text (binary garbage, wrong encoding).
    #[error("config file {path} is not UTF-8 text: {reason}")]
    NotText { path: PathBuf, reason: String },
    /// An environment override did not parse.
    #[error("environment variable {var} (key {key}): {reason}")]
    Env {
        var: String,
        key: String,
        reason: String,
    },
    /// A secret's systemd credential could not be read. Names the key, never the value.
    #[error("secret {key}: {reason}")]
    Secret { key: String, reason: String },
    /// The file (with overrides) parsed but has errors; every error is listed.
    #[error("invalid configuration{}:{}", source_suffix(.path), IssueList(.issues))]
    Invalid {
        path: Option<PathBuf>,
        issues: Vec<ConfigIssue>,
    },
}

fn source_suffix(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => format!(" in {}", p.display()),
        None => String::new(),
    }
}

struct IssueList<'a>(&'a [ConfigIssue]);

impl fmt::Display for IssueList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for issue in self.0 {
            write!(f, "\n  {issue}")?;
        }
        Ok(())
    }
}

/// Directories under `storage.data_dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataPaths {
    pub root: PathBuf,
    /// Caller audio, one WAV per call (`call.record`).
    pub recordings: PathBuf,
    /// One record per call (caller ID, digits, outcome) waiting for the job queue.
    pub calls: PathBuf,
    /// The offline job queue (sled database and its mirror).
    pub queue: PathBuf,
}

impl DataPaths {
    /// Creates every directory (and parents) if missing.
    pub fn create_all(&self) -> std::io::Result<()> {
        for dir in [&self.root, &self.recordings, &self.calls, &self.queue] {
            crate::infra::fs::create_private_dir_all(dir)?;
        }
        Ok(())
    }
}

impl Config {
    /// The directories the box writes under `storage.data_dir`.
    pub fn data_paths(&self) -> DataPaths {
        let root = self.storage.data_dir.clone();
        DataPaths {
            recordings: root.join("recordings"),
            calls: root.join("calls"),
            queue: root.join("queue"),
            root,
        }
    }

    /// The speech model directory: `speech.model_dir`, under `storage.data_dir` when relative.
    pub fn model_dir(&self) -> PathBuf {
        self.storage.data_dir.join(&self.speech.model_dir)
    }

    /// Semantic checks on a parsed configuration. Returns every problem, errors and warnings.
    /// Each section checks itself; the few rules that span sections are passed what they need.
    pub fn validate(&self) -> Vec<ConfigIssue> {
        let mut v = Vec::new();
        self.validate_shop(&mut v);
        self.validate_storage(&mut v);
        self.sip.validate(&mut v);
        self.media.validate(self.sip.max_concurrent_calls, &mut v);
        self.call.validate(&mut v);
        self.servicetitan.validate(&mut v);
        self.queue.validate(&mut v);
        self.triage.validate(&mut v);
        self.speech.validate(&mut v);
        self.voice.validate(&mut v);
        self.audio.validate(&mut v);
        self.dialog.validate(&mut v);
        self.validate_shop_zone(&mut v);
        self.schedule.validate(&mut v);
        self.alerts.validate(&mut v);
        self.sms.validate(&mut v);
        self.survey.validate(&mut v);
        self.weather.validate(&mut v);
        v.extend(
            self.web
                .validate()
                .into_iter()
                .map(|(key, reason)| ConfigIssue::error(key, reason)),
        );
        v.extend(
            self.update
                .validate()
                .into_iter()
                .map(|(key, reason)| ConfigIssue::error(key, reason)),
        );
        self.validate_log(&mut v);
        v
    }

    fn validate_storage(&self, v: &mut Vec<ConfigIssue>) {
        let storage = &self.storage;
        if storage.data_dir.as_os_str().is_empty() {
            v.push(ConfigIssue::error("storage.data_dir", "must not be empty"));
        }
        if storage.retention_days == 0 {
            v.push(ConfigIssue::error(
                "storage.retention_days",
                "must be at least 1 (recordings and call records are kept this many days)",
            ));
        }
        if storage.recordings_budget_mb == 0 {
            v.push(ConfigIssue::error(
                "storage.recordings_budget_mb",
                "must be at least 1 (MiB for recordings and call records)",
            ));
        }
        if storage.cache_max_age_days == 0 {
            v.push(ConfigIssue::error(
                "storage.cache_max_age_days",
                "must be at least 1",
            ));
        }
        if storage.queue_reserve_mb == 0 {
            v.push(ConfigIssue::warning(
                "storage.queue_reserve_mb",
                "is 0: recordings may fill the disk until a booking cannot be queued",
            ));
        }
    }

    fn validate_shop(&self, v: &mut Vec<ConfigIssue>) {
        let shop = &self.shop;
        if shop.name.trim().is_empty() {
            v.push(ConfigIssue::warning(
                "shop.name",
                "is empty; the greeting will not name the shop",
            ));
        }
        if let Err(reason) =
            crate::telephony::settings::check_default_country(&shop.default_country)
        {
            v.push(ConfigIssue::error("shop.default_country", reason));
        }
        if !looks_like_iana_timezone(&shop.timezone) {
            v.push(ConfigIssue::error(
                "shop.timezone",
                format!(
                    "`{}` is not an IANA timezone name (e.g. \"America/Chicago\" or \"UTC\")",
                    shop.timezone
                ),
            ));
        }
    }

    /// A well-formed zone name that the timezone database does not know.
    fn validate_shop_zone(&self, v: &mut Vec<ConfigIssue>) {
        if self.shop.timezone.parse::<chrono_tz::Tz>().is_err()
            && looks_like_iana_timezone(&self.shop.timezone)
        {
            v.push(ConfigIssue::error(
                "shop.timezone",
                format!("`{}` is not in the timezone database", self.shop.timezone),
            ));
        }
    }

    fn validate_log(&self, v: &mut Vec<ConfigIssue>) {
        if self.log.filter.trim().is_empty() {
            v.push(ConfigIssue::error(
                "log.filter",
                "must not be empty (e.g. \"info\")",
            ));
        } else if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&self.log.filter) {
            v.push(ConfigIssue::error(
                "log.filter",
                format!("not a valid tracing filter: {e}"),
            ));
        }
    }
}

/// IANA zone names are `UTC`, or `Area/Location[/Sub]` with a known area. Checking the real
/// zone database would need tzdata on the box; this catches typos like "CST" or "Chicago".
fn looks_like_iana_timezone(tz: &str) -> bool {
    const AREAS: &[&str] = &[
        "Africa",
        "America",
        "Antarctica",
        "Arctic",
        "Asia",
        "Atlantic",
        "Australia",
        "Europe",
        "Indian",
        "Pacific",
        "Etc",
    ];
    if matches!(tz, "UTC" | "Etc/UTC" | "GMT") {
        return true;
    }
    let mut parts = tz.split('/');
    let Some(area) = parts.next() else {
        return false;
    };
    let rest: Vec<&str> = parts.collect();
    AREAS.contains(&area)
        && !rest.is_empty()
        && rest.len() <= 2
        && rest.iter().all(|p| {
            !p.is_empty()
                && p.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
        })
}
