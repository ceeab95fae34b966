//! The ServiceTitan layer's settings: `[servicetitan]`, with their validation.

use serde::{Deserialize, Serialize};

use crate::infra::settings::SettingIssue;
use crate::infra::Secret;

/// What `[servicetitan] environment` names.
pub use super::Environment;

/// ServiceTitan, where queued work goes. Disabled by default: the box then only queues.
///
/// `app_key`, `client_id` and `client_secret` are secrets: they belong in the environment, a
/// file (`client_secret_file`, `CALLBOX_SERVICETITAN_CLIENT_SECRET_FILE`) or a systemd
/// credential (`servicetitan.client_secret`), not in this file; see `config::secrets`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceTitanConfig {
    /// Sync queued work to ServiceTitan. `false`: offline queue only.
    pub enabled: bool,
    /// "production", "integration" (the sandbox) or "custom" (auth_url/api_url).
    pub environment: String,
    /// Token host for "custom" (`https://…`, or `http://` on loopback only).
    pub auth_url: String,
    /// API host for "custom".
    pub api_url: String,
    /// Numeric tenant id.
    pub tenant_id: i64,
    /// The application's key (`ST-App-Key`).
    pub app_key: Secret,
    /// Client credentials of this tenant and environment.
    pub client_id: Secret,
    pub client_secret: Secret,
    /// The app's External Data Application GUID (duplicate-free retries depend on it).
    pub external_data_guid: String,
    pub connect_timeout_secs: u64,
    pub token_timeout_secs: u64,
    pub api_timeout_secs: u64,
    /// Requests in any one-second window; ServiceTitan allows 60.
    pub max_requests_per_second: u32,
    /// Business unit when neither the record nor the job type decides one.
    pub default_business_unit_id: Option<i64>,
    /// Campaign when the dialled number matches none; unset = the tenant's default campaign.
    pub default_campaign_id: Option<i64>,
    /// The dialog's job-type hint (`no_heat`, `no_cooling`, `leak`, …) → ServiceTitan job type id.
    pub job_types: std::collections::BTreeMap<String, i64>,
    /// Hint used when the record's hint is missing or unmapped.
    pub default_job_type_id: Option<i64>,
    /// Put the on-call technician on booked appointments: "never", "when_requested" (the
    /// dialog decides per call), "emergencies", "always".
    pub assign_on_call_technician: String,
    /// When ServiceTitan rejects a job (400): "booking" (a CSR sees it on the Calls screen),
    /// "lead", or "none". The record goes to needs-attention either way.
    pub fallback_on_rejection: String,
    /// Booking provider tag id for bookings (Settings → Integrations → Booking Provider Tags).
    pub booking_provider_id: Option<i64>,
    /// Capacity cache refresh while online, in seconds.
    pub capacity_refresh_secs: u64,
    /// Reference data (job types, business units, campaigns, technicians, shifts) refresh.
    pub reference_refresh_secs: u64,
    /// How often jobs the box booked are checked for dispatcher changes.
    pub poll_changes_secs: u64,
    /// How often a customer's details (locations, membership, upcoming appointments and their
    /// technicians) are fetched again while online, in seconds.
    pub customer_details_refresh_secs: u64,
    /// How many days ahead the appointments behind "when is my technician coming?" are fetched.
    pub customer_details_days_ahead: u32,
    /// Longest `Retry-After` obeyed, in seconds, on every path (API and token endpoint): a
    /// gateway asking for a day is asked again after this long.
    pub retry_after_cap_secs: u64,
}

/// `servicetitan.assign_on_call_technician`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnCallPolicy {
    Never,
    WhenRequested,
    Emergencies,
    Always,
}

/// `servicetitan.fallback_on_rejection`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionFallback {
    Booking,
    Lead,
    None,
}

impl ServiceTitanConfig {
    pub fn on_call_policy(&self) -> Option<OnCallPolicy> {
        Some(match self.assign_on_call_technician.as_str() {
            "never" => OnCallPolicy::Never,
            "when_requested" => OnCallPolicy::WhenRequested,
            "emergencies" => OnCallPolicy::Emergencies,
            "always" => OnCallPolicy::Always,
            _ => return None,
        })
    }

    pub fn rejection_fallback(&self) -> Option<RejectionFallback> {
        Some(match self.fallback_on_rejection.as_str() {
            "booking" => RejectionFallback::Booking,
            "lead" => RejectionFallback::Lead,
            "none" => RejectionFallback::None,
            _ => return None,
        })
    }

    /// The client's environment, or why it is invalid.
    pub fn environment(&self) -> Result<Environment, String> {
        use super::Environment;
        let env = match self.environment.as_str() {
            "production" => Environment::Production,
            "integration" => Environment::Integration,
            "custom" => Environment::Custom {
                auth_url: self.auth_url.clone(),
                api_url: self.api_url.clone(),
            },
            other => {
                return Err(format!(
                    "`{other}` is not one of production, integration, custom"
                ))
            }
        };
        env.urls().map_err(|e| e.to_string())?;
        Ok(env)
    }
}

impl Default for ServiceTitanConfig {
    fn default() -> Self {
        ServiceTitanConfig {
            enabled: false,
            environment: "production".into(),
            auth_url: String::new(),
            api_url: String::new(),
            tenant_id: 0,
            app_key: Secret::default(),
            client_id: Secret::default(),
            client_secret: Secret::default(),
            external_data_guid: String::new(),
            connect_timeout_secs: 5,
            token_timeout_secs: 15,
            api_timeout_secs: 30,
            max_requests_per_second: 50,
            default_business_unit_id: None,
            default_campaign_id: None,
            job_types: std::collections::BTreeMap::new(),
            default_job_type_id: None,
            assign_on_call_technician: "when_requested".into(),
            fallback_on_rejection: "booking".into(),
            booking_provider_id: None,
            capacity_refresh_secs: 60,
            reference_refresh_secs: 3600,
            poll_changes_secs: 300,
            customer_details_refresh_secs: 900,
            customer_details_days_ahead: 7,
            retry_after_cap_secs: 600,
        }
    }
}

impl ServiceTitanConfig {
    /// Checks `[servicetitan]`: shapes always (a typo should not wait until the day sync is
    /// enabled), what the sync needs only when enabled.
    pub fn validate(&self, v: &mut Vec<SettingIssue>) {
        self.validate_shape(v);
        if self.enabled {
            self.validate_enabled(v);
        }
    }

    fn validate_shape(&self, v: &mut Vec<SettingIssue>) {
        let st = self;
        let key = |k: &str| format!("servicetitan.{k}");
        let env = st.environment();
        if let Err(reason) = &env {
            v.push(SettingIssue::error(
                if ["production", "integration", "custom"].contains(&st.environment.as_str()) {
                    key("api_url")
                } else {
                    key("environment")
                },
                reason.clone(),
            ));
        }
        if !(1..=60).contains(&st.max_requests_per_second) {
            v.push(SettingIssue::error(
                key("max_requests_per_second"),
                format!(
                    "must be between 1 and 60, ServiceTitan's limit ({} given)",
                    st.max_requests_per_second
                ),
            ));
        }
        for (k, secs) in [
            ("connect_timeout_secs", st.connect_timeout_secs),
            ("token_timeout_secs", st.token_timeout_secs),
            ("api_timeout_secs", st.api_timeout_secs),
            ("capacity_refresh_secs", st.capacity_refresh_secs),
            ("reference_refresh_secs", st.reference_refresh_secs),
            ("poll_changes_secs", st.poll_changes_secs),
            (
                "customer_details_refresh_secs",
                st.customer_details_refresh_secs,
            ),
        ] {
            if secs == 0 {
                v.push(SettingIssue::error(key(k), "must be greater than 0"));
            }
        }
        if !(1..=86_400).contains(&st.retry_after_cap_secs) {
            v.push(SettingIssue::error(
                key("retry_after_cap_secs"),
                format!(
                    "must be between 1 and 86400 seconds ({} given)",
                    st.retry_after_cap_secs
                ),
            ));
        }
        if !(1..=31).contains(&st.customer_details_days_ahead) {
            v.push(SettingIssue::error(
                key("customer_details_days_ahead"),
                format!(
                    "must be between 1 and 31 days ({} given)",
                    st.customer_details_days_ahead
                ),
            ));
        }
        if st.api_timeout_secs > 100 {
            v.push(SettingIssue::warning(
                key("api_timeout_secs"),
                "ServiceTitan's own timeout is 100 s; waiting longer gains nothing",
            ));
        }
        if st.on_call_policy().is_none() {
            v.push(SettingIssue::error(
                key("assign_on_call_technician"),
                format!(
                    "`{}` is not one of never, when_requested, emergencies, always",
                    st.assign_on_call_technician
                ),
            ));
        }
        if st.rejection_fallback().is_none() {
            v.push(SettingIssue::error(
                key("fallback_on_rejection"),
                format!(
                    "`{}` is not one of booking, lead, none",
                    st.fallback_on_rejection
                ),
            ));
        }
        for (hint, id) in &st.job_types {
            if *id <= 0 {
                v.push(SettingIssue::error(
                    format!("servicetitan.job_types.{hint}"),
                    "must be a ServiceTitan job type id (> 0)",
                ));
            }
        }
        for (k, id) in [
            ("default_business_unit_id", st.default_business_unit_id),
            ("default_campaign_id", st.default_campaign_id),
            ("default_job_type_id", st.default_job_type_id),
            ("booking_provider_id", st.booking_provider_id),
        ] {
            if id.is_some_and(|i| i <= 0) {
                v.push(SettingIssue::error(
                    key(k),
                    "must be a ServiceTitan id (> 0)",
                ));
            }
        }
    }

    /// The tenant, credentials and ids the sync cannot work without.
    fn validate_enabled(&self, v: &mut Vec<SettingIssue>) {
        let st = self;
        let key = |k: &str| format!("servicetitan.{k}");
        if st.tenant_id <= 0 {
            v.push(SettingIssue::error(
                key("tenant_id"),
                "must be set (the numeric tenant id) when servicetitan.enabled",
            ));
        }
        for (k, value) in [
            ("app_key", &st.app_key),
            ("client_id", &st.client_id),
            ("client_secret", &st.client_secret),
        ] {
            if !value.is_set() {
                v.push(SettingIssue::error(
                    key(k),
                    format!(
                        "must be set when servicetitan.enabled (tip: CALLBOX_SERVICETITAN_{}, \
                         {k}_file, or the systemd credential servicetitan.{k})",
                        k.to_uppercase()
                    ),
                ));
            }
        }
        if !looks_like_guid(&st.external_data_guid) {
            v.push(SettingIssue::error(
                key("external_data_guid"),
                "must be the app's External Data Application GUID \
                 (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx); retries rely on it to avoid duplicates",
            ));
        }
        // Issue 16: a job whose hint has no job type is refused by the sync (needs attention;
        // the office gets a booking): say so before the first call, not after.
        let hints = crate::trade::request::JOB_TYPE_HINTS;
        for hint in st.job_types.keys().filter(|h| !hints.contains(&h.as_str())) {
            v.push(SettingIssue::warning(
                format!("servicetitan.job_types.{hint}"),
                format!(
                    "the dialog never gives a job the hint `{hint}` (it gives {}); \
                     unmapped ones take default_job_type_id",
                    hints.join(", ")
                ),
            ));
        }
        let unmapped: Vec<&str> = hints
            .iter()
            .copied()
            .filter(|h| !st.job_types.contains_key(*h))
            .collect();
        if st.default_job_type_id.is_none() {
            let which = if unmapped.is_empty() {
                "problems the dialog cannot classify".to_string()
            } else {
                format!(
                    "{} and problems the dialog cannot classify",
                    unmapped.join(", ")
                )
            };
            v.push(SettingIssue::warning(
                key("default_job_type_id"),
                format!(
                    "unset: jobs for {which} have no job type and go to needs-attention \
                     (the office gets a booking or lead) instead of ServiceTitan's schedule"
                ),
            ));
        }
        if st.rejection_fallback() == Some(RejectionFallback::Booking)
            && st.booking_provider_id.is_none()
        {
            v.push(SettingIssue::error(
                key("booking_provider_id"),
                "must be set when fallback_on_rejection = \"booking\"",
            ));
        }
    }
}

/// 8-4-4-4-12 hex digits.
fn looks_like_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

// ---- [survey] (the post-job survey; its section lives beside its code) ----
pub use super::survey::settings::SurveyConfig;
