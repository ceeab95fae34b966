//! The web page's backend: what the page shows and changes, from the status handle, the call
//! index, the queue, the ServiceTitan cache and sync, and the configuration.
//!
//! - `calls` — the in-memory call index (list, chart, detail, recording).
//! - `settings` — every key with its source and help; saving to the page's overlay.
//! - `views` — dashboard, queue rows, on-call.
//! - `bundle` — the support bundle (no secret values).

pub mod bundle;
pub mod calls;
pub mod settings;
mod views;

use crate::app::flow::{self, LiveFlow};
use crate::app::logging::log_tail;
use crate::app::status::AppStatus;
use crate::config::{Config, DataPaths};
use crate::queue::{Outbox, RecordId};
use crate::servicetitan::cache::StCache;
use crate::servicetitan::SyncWorker;
use crate::web::backend::{
    AlertRow, Applied, BackendError, BoxFuture, CallDetail, CallPage, CallQuery, ConnectionReport,
    ConnectionStep, DashboardView, DayCalls, LogLine, OnCallView, QueueQuery, QueueRow,
    RestartPlan, SettingsView, UpdatesView,
};
use crate::web::{SettingsErrors, WebBackend};
use calls::CallIndex;
use chrono_tz::Tz;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::sync::Notify;
use tracing::{error, info, warn};

/// How long a change waits for the queue.
const WAIT_BOUND: Duration = Duration::from_secs(10);

/// Longest a voice preview may be.
const HEAR_MAX_CHARS: usize = 500;

/// What the Updates page shows: the update settings and the updater's recorded state.
fn updates_view(settings: &crate::update::settings::UpdateConfig) -> UpdatesView {
    let install = crate::update::install::Installation::new(&settings.root);
    let state = install.load_state();
    let (last_check, last_result) = match &state {
        Ok(state) => (state.last_check.clone(), state.last_result.clone()),
        Err(e) => (None, Some(e.to_string())),
    };
    let available = !settings.server.is_empty();
    UpdatesView {
        version: env!("CARGO_PKG_VERSION").to_string(),
        channel: Some(settings.channel.clone()),
        last_check,
        last_result,
        available,
        missing: (!available).then(|| {
            "no update server is configured: set [update] server (callbox-update.timer then \
             checks nightly)"
                .to_string()
        }),
    }
}

/// Everything the page's backend reads, handed over by `callbox run`.
pub(crate) struct ConsoleParts {
    pub config: Arc<Config>,
    pub paths: DataPaths,
    pub status: Arc<AppStatus>,
    pub queue: Option<Outbox>,
    pub cache: Option<Arc<StCache>>,
    pub sync: Option<Arc<SyncWorker>>,
    /// The on-call alert dispatcher, when a channel is configured.
    pub alerts: Option<Arc<crate::alert::Dispatcher>>,
    pub flow: LiveFlow,
    pub index: Arc<CallIndex>,
    /// Notified when the page asks for a restart and the line is idle.
    pub restart: Arc<Notify>,
}

/// The page's backend.
pub(crate) struct Console {
    parts: ConsoleParts,
    /// The configuration in effect, with the page's saved changes.
    config: RwLock<Arc<Config>>,
    /// Saved keys that take effect after a restart.
    restart_pending: Mutex<Vec<String>>,
    runtime: Handle,
}

impl Console {
    pub fn new(parts: ConsoleParts, runtime: Handle) -> Console {
        Console {
            config: RwLock::new(parts.config.clone()),
            parts,
            restart_pending: Mutex::default(),
            runtime,
        }
    }

    fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn zone(&self) -> Tz {
        crate::dialog::schedule::shop_zone(&self.config().shop.timezone)
    }

    fn queue(&self) -> Result<&Outbox, BackendError> {
        self.parts.queue.as_ref().ok_or_else(|| {
            BackendError::Unavailable(
                "the job queue did not open (data partition full): free space and restart".into(),
            )
        })
    }

    fn row(&self, record: &crate::queue::Record) -> QueueRow {
        views::queue_row(record, self.zone())
    }

    /// Runs `work` on the runtime and waits for it (handlers call the backend on the
    /// blocking pool).
    fn wait_for<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = T> + Send + 'static,
    ) -> Result<T, BackendError> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.runtime.spawn(async move {
            let _ = tx.send(work.await);
        });
        rx.recv_timeout(WAIT_BOUND)
            .map_err(|_| BackendError::Unavailable("the queue did not answer in time".into()))
    }

    fn pending(&self) -> Vec<String> {
        self.restart_pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Keys that apply from the next call on: the call flow gets a new script and schedule;
    /// calls in progress keep the one they started with.
    fn apply_live(&self, config: &Config) {
        if let Some(alerts) = self.parts.alerts.as_ref() {
            match crate::alert::AlertSettings::from_settings(
                &config.alerts,
                &config.shop.name,
                &config.shop.timezone,
            ) {
                Ok(settings) => alerts.set_fallback(settings.fallback),
                Err(err) => {
                    warn!(error = %err, "alerts: the new fallback technician was not applied")
                }
            }
        }
        let Some(queue) = self.parts.queue.as_ref() else {
            return;
        };
        let mut current = self.parts.flow.write().unwrap_or_else(|e| e.into_inner());
        if let Some(next) = flow::with_settings(&current, config, self.parts.cache.clone(), queue) {
            *current = next;
        }
    }
}

impl WebBackend for Console {
    fn status(&self) -> serde_json::Value {
        serde_json::to_value(self.parts.status.report(self.parts.queue.as_ref()))
            .unwrap_or_else(|err| serde_json::json!({ "error": err.to_string() }))
    }

    fn dashboard(&self) -> DashboardView {
        views::dashboard(self)
    }

    fn calls_per_day(&self, days: u32) -> Vec<DayCalls> {
        let zone = self.zone();
        let today = chrono::Utc::now().with_timezone(&zone).date_naive();
        self.parts.index.per_day(days, today, zone)
    }

    fn calls(&self, query: &CallQuery) -> CallPage {
        self.parts.index.query(query, self.zone())
    }

    fn call(&self, key: &str) -> Result<CallDetail, BackendError> {
        let record = self
            .parts
            .index
            .record(key)
            .ok_or_else(|| BackendError::NotFound(format!("no call {key}")))?;
        let zone = self.zone();
        let summary = calls::CallEntry::from_record(&record).summary(zone);
        let records = match self.parts.queue.as_ref() {
            Some(queue) => record
                .records
                .iter()
                .filter_map(|id| queue.get(id).ok().flatten())
                .map(|r| self.row(&r))
                .collect(),
            None => Vec::new(),
        };
        Ok(CallDetail {
            summary,
            end_reason: record.end_reason.clone(),
            transcript: calls::transcript(&record),
            digits: calls::digits(&record),
            records,
            recording_note: record.recording_stopped.clone().or_else(|| {
                record
                    .recording
                    .is_none()
                    .then(|| "no recording (call.record is off, or it never started)".into())
            }),
            paged: record
                .page
                .as_ref()
                .map(|p| crate::web::backend::PagedView {
                    outcome: p.outcome.clone(),
                    by: p.by.clone(),
                    channel: p.channel.clone(),
                    at_local: p.at.map(|t| views::local(t, zone)),
                    calls: p.calls,
                    alert: p.alert.clone(),
                }),
            mode: record.dialog.as_ref().map(|d| d.mode.clone()),
        })
    }

    fn recording(&self, key: &str) -> Result<PathBuf, BackendError> {
        let record = self
            .parts
            .index
            .record(key)
            .ok_or_else(|| BackendError::NotFound(format!("no call {key}")))?;
        let rel = record
            .recording
            .ok_or_else(|| BackendError::NotFound(format!("call {key} has no recording")))?;
        views::inside_data_dir(&self.parts.paths.root, &rel)
            .ok_or_else(|| BackendError::NotFound(format!("the recording of {key} is gone")))
    }

    fn queue(&self, query: &QueueQuery) -> Result<Vec<QueueRow>, BackendError> {
        let queue = self.queue()?;
        let state = match query.state.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => Some(s.parse().map_err(BackendError::Refused)?),
            None => None,
        };
        let filter = crate::queue::ListFilter {
            state,
            kind: None,
            limit: None,
        };
        let mut records = queue
            .list(&filter)
            .map_err(|e| BackendError::Internal(e.to_string()))?;
        records.reverse();
        records.truncate(query.limit.clamp(1, 1000));
        Ok(records.iter().map(|r| self.row(r)).collect())
    }

    fn retry(&self, id: &str) -> Result<QueueRow, BackendError> {
        let queue = self.queue()?.clone();
        let id: RecordId = id
            .parse()
            .map_err(|_| BackendError::NotFound(format!("no record {id}")))?;
        let record = self
            .wait_for(queue_retry(queue, id.clone()))?
            .map_err(|e| match e {
                crate::queue::QueueError::NotFound(_) => {
                    BackendError::NotFound(format!("no record {id}"))
                }
                other => BackendError::Refused(other.to_string()),
            })?;
        info!(%id, state = %record.state, "queue: retried from the web page");
        Ok(self.row(&record))
    }

    fn export_queue(&self) -> Result<Vec<u8>, BackendError> {
        let mut out = Vec::new();
        self.queue()?
            .export_jsonl(&mut out)
            .map_err(|e| BackendError::Internal(e.to_string()))?;
        Ok(out)
    }

    fn on_call(&self) -> OnCallView {
        views::on_call(self)
    }

    fn acknowledge_alert(&self, id: &str, by: &str) -> Result<AlertRow, BackendError> {
        let queue = self.queue()?.clone();
        let not_found = || BackendError::NotFound(format!("no alert {id}"));
        let id: RecordId = id.parse().map_err(|_| not_found())?;
        let ack = crate::queue::PageAcknowledgement {
            by: by.to_string(),
            at: Some(chrono::Utc::now()),
            channel: "web".into(),
        };
        let record = self
            .wait_for(queue_acknowledge(queue.clone(), id.clone(), ack))?
            .map_err(|e| match e {
                crate::queue::QueueError::NotFound(_) => not_found(),
                crate::queue::QueueError::InvalidTransition { .. } => {
                    let taken = queue
                        .get(&id)
                        .ok()
                        .flatten()
                        .and_then(|r| r.alert.page)
                        .and_then(|p| p.acknowledged);
                    BackendError::Refused(match taken {
                        Some(a) => format!("already taken by {} ({})", a.by, a.channel),
                        None => format!("{id} is not an on-call alert"),
                    })
                }
                other => BackendError::Refused(other.to_string()),
            })?;
        info!(%id, "alerts: taken by hand on the web page; paging stops");
        if let (crate::queue::Payload::OnCallAlert(alert), Some(page)) =
            (&record.payload, record.alert.page.as_ref())
        {
            let pages = crate::app::call_pages::CallPages::new(self.parts.paths.calls.clone());
            if let Some(note) = crate::app::call_pages::page_record(&id, page) {
                if let Some(call) = pages.note(&alert.call_key, &note) {
                    self.parts.index.insert(&call);
                }
            }
        }
        Ok(views::alert_row(&record, self.zone(), &queue))
    }

    fn settings(&self) -> SettingsView {
        SettingsView {
            sections: settings::sections(&self.config(), &self.parts.paths.root),
            restart_pending: self.pending(),
        }
    }

    fn apply_settings(
        &self,
        changes: &BTreeMap<String, serde_json::Value>,
    ) -> Result<Applied, SettingsErrors> {
        let data_dir = &self.parts.paths.root;
        let parsed = settings::parse_changes(changes, data_dir).map_err(errors_of)?;
        let merged = settings::validate(&self.config(), &parsed).map_err(errors_of)?;
        if let Err(err) = settings::save(data_dir, &parsed) {
            error!(error = %err, "settings: the page's changes could not be saved");
            return Err(SettingsErrors::one(
                "settings",
                format!("could not be saved: {err}"),
            ));
        }
        let (restart, live): (Vec<String>, Vec<String>) = parsed
            .keys
            .iter()
            .cloned()
            .partition(|k| settings::needs_restart(k));
        info!(applied = ?live, restart_needed = ?restart, "settings saved from the web page");
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(merged.clone());
        if !live.is_empty() {
            self.apply_live(&merged);
        }
        let mut pending = self
            .restart_pending
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for key in &restart {
            if !pending.contains(key) {
                pending.push(key.clone());
            }
        }
        Ok(Applied {
            applied: live,
            restart_needed: restart,
        })
    }

    fn test_connection(&self) -> BoxFuture<'_, ConnectionReport> {
        let config = self.config();
        Box::pin(async move { views::test_connection(&config).await })
    }

    fn hear(&self, text: String) -> BoxFuture<'_, Result<Vec<u8>, BackendError>> {
        let voice = self.config().voice.clone();
        Box::pin(async move { hear(&voice, &text).await })
    }

    fn restart(&self) -> Result<RestartPlan, BackendError> {
        let calls = self.parts.status.calls_in_progress();
        let status = self.parts.status.clone();
        let restart = self.parts.restart.clone();
        info!(
            calls_in_progress = calls,
            "restart asked for from the web page: waiting for the line to be idle"
        );
        self.runtime.spawn(async move {
            while status.calls_in_progress() > 0 {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            info!("restarting for the web page: the line is idle; systemd starts callbox again");
            restart.notify_one();
        });
        Ok(RestartPlan {
            calls_in_progress: u32::try_from(calls).unwrap_or(u32::MAX),
            message: if calls == 0 {
                "restarting now".into()
            } else {
                format!("restarting once the {calls} call(s) in progress end")
            },
        })
    }

    fn updates(&self) -> UpdatesView {
        updates_view(&self.config().update)
    }

    fn check_updates(&self) -> BoxFuture<'_, UpdatesView> {
        let settings = self.config().update.clone();
        Box::pin(async move {
            let checked = settings.clone();
            let ran = tokio::task::spawn_blocking(move || {
                crate::app::update::anchor()
                    .map_err(crate::update::updater::UpdateError::from)
                    .and_then(|anchor| {
                        crate::update::updater::Updater::new(
                            &checked,
                            std::env::consts::ARCH,
                            anchor,
                        )
                    })
                    .and_then(|mut updater| updater.check(chrono::Utc::now()))
            })
            .await;
            let mut view = updates_view(&settings);
            // Also a failure before the state could be written (no server, no root).
            if let Ok(Err(e)) = ran {
                view.last_result = Some(e.to_string());
            }
            view
        })
    }

    fn log_tail(&self, after: u64, limit: usize) -> Vec<LogLine> {
        log_tail()
            .after(after, limit.clamp(1, crate::app::logging::TAIL_LINES))
            .into_iter()
            .map(|(seq, text)| LogLine { seq, text })
            .collect()
    }

    fn support_bundle(&self) -> Result<Vec<u8>, BackendError> {
        let config = self.config();
        let facts = bundle::Facts {
            status: self.status(),
            config: &config,
            data_dir: &self.parts.paths.root,
            queue: self.parts.queue.as_ref().map(Outbox::counts),
            log: log_tail().after(0, crate::app::logging::TAIL_LINES),
        };
        bundle::build(&facts).map_err(|e| {
            error!(error = %e, "the support bundle could not be made");
            BackendError::Internal(format!("the support bundle could not be made: {e}"))
        })
    }
}

async fn queue_acknowledge(
    queue: Outbox,
    id: RecordId,
    ack: crate::queue::PageAcknowledgement,
) -> Result<crate::queue::Record, crate::queue::QueueError> {
    queue.acknowledge_alert(&id, ack).await
}

async fn queue_retry(
    queue: Outbox,
    id: RecordId,
) -> Result<crate::queue::Record, crate::queue::QueueError> {
    queue.retry(&id).await
}

fn errors_of(map: BTreeMap<String, String>) -> SettingsErrors {
    SettingsErrors(map)
}

/// `text` in the box's voice, 8 kHz mono WAV, as a caller hears it.
async fn hear(voice: &crate::config::VoiceConfig, text: &str) -> Result<Vec<u8>, BackendError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > HEAR_MAX_CHARS {
        return Err(BackendError::Refused(format!(
            "the text must be 1 to {HEAR_MAX_CHARS} characters"
        )));
    }
    if voice.engine == crate::config::VoiceEngine::None {
        return Err(BackendError::Unavailable(
            "voice.engine is \"none\": the box has no voice".into(),
        ));
    }
    use crate::speech::tts::Voice;
    let engine = crate::speech::tts::EspeakVoice::from_config(voice);
    let stream = engine
        .speak(text)
        .map_err(|e| BackendError::Unavailable(format!("the voice cannot start: {e}")))?;
    let samples = stream
        .collect()
        .await
        .map_err(|e| BackendError::Unavailable(format!("the voice failed: {e}")))?;
    crate::telephony::wav::wav_8k_bytes(&samples)
        .map_err(|e| BackendError::Internal(format!("the preview could not be written: {e}")))
}

/// ServiceTitan "test connection" with the credentials in `config`: token, a customer lookup
/// by phone, capacity; each step passes or fails with the reason (never a secret).
pub async fn test_connection(config: &Config) -> ConnectionReport {
    views::test_connection(config).await
}

/// One step of "test connection".
fn step(name: &str, result: Result<String, String>) -> ConnectionStep {
    let (ok, detail) = match result {
        Ok(d) => (true, d),
        Err(d) => (false, d),
    };
    if !ok {
        warn!(step = name, %detail, "ServiceTitan test connection step failed");
    }
    ConnectionStep {
        name: name.to_string(),
        ok,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// A small runtime for the console's async parts (hear, test connection).
    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime")
    }

    const SECRETS: &[&str] = &[
        "ak-9f3e1c77-secret-app-key",
        "cid-5d0a4b21-secret-client-id",
        "cs-2b8c6e90-secret-client-secret",
        "tok-7a1f0d3e-secret-webhook-token",
        "pw-4c9e2a18-secret-sip-password",
    ];
    const PAGE_SECRET: &str = "cs-page-31d7-secret-from-the-page";

    fn console(dir: &std::path::Path, rt: &tokio::runtime::Runtime) -> Console {
        console_with_queue(dir, rt, None)
    }

    fn console_with_queue(
        dir: &std::path::Path,
        rt: &tokio::runtime::Runtime,
        queue: Option<Outbox>,
    ) -> Console {
        let mut config = Config::default();
        config.storage.data_dir = dir.to_path_buf();
        config.servicetitan.app_key = crate::infra::Secret::new(SECRETS[0]);
        config.servicetitan.client_id = crate::infra::Secret::new(SECRETS[1]);
        config.servicetitan.client_secret = crate::infra::Secret::new(SECRETS[2]);
        config.alerts.webhook_url = "https://alerts.example.com/hook".into();
        config.alerts.webhook_token = crate::infra::Secret::new(SECRETS[3]);
        config.sip.accounts = vec![crate::config::SipAccount {
            username: "ata".into(),
            password: crate::infra::Secret::new(SECRETS[4]),
        }];
        let paths = config.data_paths();
        paths.create_all().expect("data dir");
        Console::new(
            ConsoleParts {
                config: Arc::new(config),
                index: Arc::new(CallIndex::build(&paths.calls)),
                paths,
                status: AppStatus::new(vec!["a warning".into()]),
                queue,
                cache: None,
                sync: None,
                alerts: None,
                flow: Arc::new(RwLock::new(crate::app::flow::Flow::Answering {
                    voicemail: false,
                })),
                restart: Arc::new(Notify::new()),
            },
            rt.handle().clone(),
        )
    }

    fn assert_no_secret(what: &str, text: &str) {
        for secret in SECRETS.iter().chain([&PAGE_SECRET]) {
            assert!(!text.contains(secret), "{what} shows a secret value");
        }
    }

    fn unpack(bundle: &[u8]) -> Vec<(String, String)> {
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bundle));
        let mut files = Vec::new();
        for entry in archive.entries().expect("tar entries") {
            let mut entry = entry.expect("entry");
            let name = entry.path().expect("path").display().to_string();
            let mut text = String::new();
            entry.read_to_string(&mut text).expect("text");
            files.push((name, text));
        }
        files
    }

    #[test]
    fn no_secret_value_in_any_answer_the_overlay_or_the_bundle() {
        let rt = runtime();
        let dir = tempfile::tempdir().expect("tempdir");
        let console = console(dir.path(), &rt);
        let mut changes = BTreeMap::new();
        changes.insert(
            "servicetitan.client_secret".to_string(),
            serde_json::json!(PAGE_SECRET),
        );
        changes.insert("shop.name".to_string(), serde_json::json!("Frosty Air"));
        let applied = rt
            .block_on(async { tokio::task::block_in_place(|| console.apply_settings(&changes)) })
            .expect("valid");
        assert_eq!(applied.applied, vec!["shop.name".to_string()]);
        assert_eq!(
            applied.restart_needed,
            vec!["servicetitan.client_secret".to_string()]
        );
        assert_no_secret("the apply answer", &format!("{applied:?}"));

        let settings = console.settings();
        let json = serde_json::to_string(&settings).expect("json");
        assert_no_secret("the settings view", &json);
        let secret_field = settings
            .sections
            .iter()
            .flat_map(|s| &s.fields)
            .find(|f| f.key == "servicetitan.client_secret")
            .expect("the secret is listed");
        assert!(secret_field.secret_set && secret_field.value.is_null());
        assert_eq!(secret_field.kind, crate::web::backend::FieldKind::Secret);
        assert_eq!(secret_field.source, "page");
        assert_eq!(settings.restart_pending, vec!["servicetitan.client_secret"]);

        let overlay = std::fs::read_to_string(crate::config::overlay::overlay_path(dir.path()))
            .expect("overlay");
        assert!(overlay.contains("Frosty Air"));
        assert_no_secret("settings.toml", &overlay);

        let answers = [
            serde_json::to_string(&console.status()).expect("json"),
            serde_json::to_string(
                &rt.block_on(async { tokio::task::block_in_place(|| console.dashboard()) }),
            )
            .expect("json"),
            serde_json::to_string(&console.on_call()).expect("json"),
            serde_json::to_string(&console.updates()).expect("json"),
            serde_json::to_string(&console.log_tail(0, 2000)).expect("json"),
        ];
        for answer in &answers {
            assert_no_secret("an API answer", answer);
        }

        let bundle = console.support_bundle().expect("bundle");
        let files = unpack(&bundle);
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        for wanted in [
            "status.json",
            "config-show.toml",
            "settings-overlay.toml",
            "log-tail.txt",
            "versions.txt",
            "queue-counts.json",
        ] {
            assert!(
                names.contains(&format!("callbox-support/{wanted}").as_str()),
                "{names:?}"
            );
        }
        for (name, text) in &files {
            assert_no_secret(name, text);
        }
        let shown = &files
            .iter()
            .find(|(n, _)| n.ends_with("config-show.toml"))
            .expect("config")
            .1;
        assert!(shown.contains("client_secret = \"set\"") && shown.contains("Frosty Air"));
    }

    #[test]
    fn a_bad_value_is_refused_per_field_and_nothing_is_saved() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        let console = console(dir.path(), &rt);
        let mut changes = BTreeMap::new();
        changes.insert("shop.timezone".to_string(), serde_json::json!("Chicago"));
        changes.insert("shop.name".to_string(), serde_json::json!("Frosty Air"));
        changes.insert("storage.data_dir".to_string(), serde_json::json!("/tmp/x"));
        let errors = console.apply_settings(&changes).expect_err("invalid");
        assert!(errors.0.contains_key("storage.data_dir"), "{errors:?}");
        let mut changes = BTreeMap::new();
        changes.insert("shop.timezone".to_string(), serde_json::json!("Chicago"));
        changes.insert("shop.name".to_string(), serde_json::json!("Frosty Air"));
        let errors = console.apply_settings(&changes).expect_err("invalid");
        assert!(errors.0.contains_key("shop.timezone"), "{errors:?}");
        assert!(!crate::config::overlay::overlay_path(dir.path()).exists());
        assert_eq!(console.config().shop.name, "the shop");
    }

    fn callback(i: u32) -> crate::queue::Payload {
        crate::queue::Payload::Callback(crate::queue::CallbackRequest {
            call_key: format!("call-{i}"),
            caller: crate::queue::CallerInfo {
                name: format!("Caller {i}"),
                phone_e164: Some(format!("+1312555010{i}")),
                callback_phone_e164: None,
            },
            reason: "call me back".into(),
            preferred_time: None,
        })
    }

    #[test]
    fn the_queue_page_counts_lists_retries_and_exports() {
        let rt = runtime();
        let dir = tempfile::tempdir().expect("tempdir");
        let (outbox, _) =
            Outbox::open(&dir.path().join("queue"), Default::default()).expect("queue");
        let ids: Vec<RecordId> = (0..3)
            .map(|i| rt.block_on(outbox.enqueue(callback(i))).expect("enqueue"))
            .collect();
        rt.block_on(outbox.mark_needs_attention(&ids[2], "rejected phone"))
            .expect("attention");
        let console = console_with_queue(dir.path(), &rt, Some(outbox));

        let dashboard = console.dashboard();
        assert_eq!(dashboard.queue.get("queued"), Some(&2));
        assert_eq!(dashboard.queue.get("needs_attention"), Some(&1));
        assert_eq!(dashboard.warnings, vec!["a warning".to_string()]);

        let query = QueueQuery {
            state: Some("needs_attention".into()),
            limit: 50,
        };
        let rows = WebBackend::queue(&console, &query).expect("rows");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].id, ids[2].to_string());
        assert_eq!(rows[0].attention.as_deref(), Some("rejected phone"));
        assert!(rows[0].retryable);
        assert_eq!(rows[0].about, "Caller 2 (***0102)");

        let retried = console.retry(&ids[2].to_string()).expect("retry");
        assert_eq!(retried.state, "queued");
        assert!(WebBackend::queue(&console, &query)
            .expect("rows")
            .is_empty());
        assert!(matches!(
            console.retry("not-an-id"),
            Err(BackendError::NotFound(_))
        ));

        let export = console.export_queue().expect("export");
        let lines: Vec<serde_json::Value> = String::from_utf8(export)
            .expect("text")
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect();
        assert_eq!(lines.len(), 3);
    }

    #[test]
    fn a_restart_waits_for_the_calls_in_progress() {
        let rt = runtime();
        let dir = tempfile::tempdir().expect("tempdir");
        let console = console(dir.path(), &rt);
        console.parts.status.set_calls_in_progress(2);
        let plan = console.restart().expect("plan");
        assert_eq!(plan.calls_in_progress, 2);
        let restart = console.parts.restart.clone();
        let early = rt.block_on(async {
            tokio::time::timeout(Duration::from_millis(600), restart.notified())
                .await
                .is_ok()
        });
        assert!(!early, "restarted with calls in progress");
        console.parts.status.set_calls_in_progress(0);
        let later = rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), restart.notified())
                .await
                .is_ok()
        });
        assert!(later, "no restart once the line was idle");
    }

    #[test]
    fn updates_say_what_is_missing() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        let view = console(dir.path(), &rt).updates();
        assert!(!view.available);
        assert_eq!(view.channel.as_deref(), Some("stable"));
        assert!(view
            .missing
            .as_deref()
            .unwrap_or("")
            .contains("[update] server"));
    }
}
