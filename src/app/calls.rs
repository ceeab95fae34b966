//! One answered call: run the call flow on it, then write the record every call leaves.

use crate::app::console::calls::CallIndex;
use crate::app::flow::{recording_reserve, snapshot, Flow, LiveFlow};
use crate::app::status::AppStatus;
use crate::config::{Codec, Config, DataPaths};
use crate::dialog::answering::{self, AnsweringOutcome, AnsweringSettings, HangUpCause};
use crate::dialog::call_flow::{self, DialogSettings};
use crate::dialog::call_log::{
    self, CallRecord, CallerRecord, DialogRecord, DigitRecord, OutdoorRecord, RtpRecord, TurnRecord,
};
use crate::dialog::echo_turn::{self, EchoTurnSettings};
use crate::dialog::engine::CallContext;
use crate::queue::{CallerInfo, Outbox, Payload, RecordId, VoicemailMessage};
use crate::telephony::audio_port::{AudioPort, DigitEvent, DigitSource, EndReason};
use crate::telephony::caller_id::{CallerId, Presentation};
use crate::telephony::line::AnsweredCall;
use crate::telephony::media::{MediaHandle, MediaStats};
use crate::telephony::wav::RecordingStop;
use crate::trade::redact;
use anyhow::Result;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

/// What every call needs from start-up.
pub(crate) struct CallDesk {
    pub config: Arc<Config>,
    pub paths: DataPaths,
    pub greeting: Arc<[i16]>,
    /// Each call takes a snapshot when it is answered; the settings page may swap it.
    pub flow: LiveFlow,
    /// The web page's call list, told of every record written.
    pub index: Arc<CallIndex>,
    /// `None` when the data partition was too full for the queue to open.
    pub queue: Option<Outbox>,
    /// The outdoor temperature each call's triage is given.
    pub weather: crate::app::weather::WeatherHandle,
}

/// The call as the line answered it, without its audio port (which the flow takes).
struct CallFacts {
    call_id: String,
    caller: CallerId,
    dialled: Option<String>,
    codec: Codec,
    media: MediaHandle,
}

/// The call's key and where its recording goes, fixed when it is answered.
struct CallStart {
    key: String,
    answered_at: DateTime<Utc>,
    /// The recording's path under the data directory, as records name it.
    recording_rel: String,
    /// Where the recording is written; `None` when `call.record` is off.
    recording_path: Option<PathBuf>,
}

/// What any call flow reports for the record.
struct FlowResult {
    end_reason: &'static str,
    digits: Vec<DigitEvent>,
    recorded: bool,
    /// Why the recording stopped (or never started) before the call ended.
    recording_stopped: Option<RecordingStop>,
    turns: Vec<TurnRecord>,
    records: Vec<RecordId>,
    dialog: Option<DialogRecord>,
}

/// Runs the call flow on `call` and writes its record, also when the flow fails.
pub(crate) async fn handle_call(call: AnsweredCall, desk: Arc<CallDesk>) -> Result<()> {
    let (port, facts) = split(call);
    let facts = Arc::new(facts);
    let start = Arc::new(CallStart::new(&facts.call_id, &desk.config, &desk.paths));
    let caller = redact::number(facts.caller.number.as_deref());
    info!(key = %start.key, %caller, dialled = ?facts.dialled, "call answered");
    let outcome = run_flow_guarded(port, facts.clone(), start.clone(), desk.clone()).await;
    let mut record = call_record(&facts, &start, outcome);
    {
        // A page that ended before this record was written (a quick acknowledgement) is in
        // the queue; one ending later is noted in the file (`call_pages`).
        let _writing = crate::app::call_pages::lock();
        if let Some(queue) = &desk.queue {
            record.page = crate::app::call_pages::from_queue(queue, &record.records);
        }
        write_record(&desk.paths, &record)?;
    }
    desk.index.insert(&record);
    Ok(())
}

/// Runs the flow on its own task: a panic in it ends the call, not its record.
async fn run_flow_guarded(
    port: AudioPort,
    facts: Arc<CallFacts>,
    start: Arc<CallStart>,
    desk: Arc<CallDesk>,
) -> FlowResult {
    let (f, s) = (facts.clone(), start.clone());
    let flow = tokio::spawn(async move { run_flow(port, &f, &s, &desk).await });
    match flow.await {
        Ok(outcome) => outcome,
        Err(err) => {
            error!(key = %start.key, error = %err, "the call flow failed; writing the call's record anyway");
            facts.media.stop(EndReason::LocalHangUp);
            FlowResult::failed(&start)
        }
    }
}

fn split(call: AnsweredCall) -> (AudioPort, CallFacts) {
    let AnsweredCall {
        port,
        call_id,
        caller,
        dialled,
        codec,
        media,
        key: _,
    } = call;
    let facts = CallFacts {
        call_id,
        caller,
        dialled,
        codec,
        media,
    };
    (port, facts)
}

impl CallStart {
    fn new(call_id: &str, config: &Config, paths: &DataPaths) -> CallStart {
        let answered_at = Utc::now();
        let key = call_log::record_key(answered_at, call_id);
        let recording_name = format!("{key}.wav");
        CallStart {
            recording_rel: format!("recordings/{recording_name}"),
            recording_path: config
                .call
                .record
                .then(|| paths.recordings.join(&recording_name)),
            key,
            answered_at,
        }
    }
}

async fn run_flow(
    port: AudioPort,
    facts: &CallFacts,
    start: &CallStart,
    desk: &CallDesk,
) -> FlowResult {
    match snapshot(&desk.flow) {
        Flow::Dialog(settings) => {
            let outdoor = desk.weather.outdoor(Utc::now());
            let record = crate::app::weather::outdoor_record(
                &outdoor,
                settings.script.cold_threshold_f,
                settings.script.hot_threshold_f,
            );
            run_dialog(port, &settings, facts, start, (outdoor.temp_f, record)).await
        }
        Flow::EchoTurn(speech) => run_echo_turn(port, &speech).await,
        Flow::Answering { voicemail } => run_answering(port, voicemail, facts, start, desk).await,
    }
}

async fn run_dialog(
    port: AudioPort,
    settings: &DialogSettings,
    facts: &CallFacts,
    start: &CallStart,
    (outdoor_temp_f, outdoor): (f32, OutdoorRecord),
) -> FlowResult {
    let ctx = CallContext {
        call_key: start.key.clone(),
        caller_id: facts.caller.number.clone(),
        dialled: facts.dialled.clone(),
        outdoor_temp_f: Some(outdoor_temp_f),
        outdoor_measured: outdoor.source == "nws",
        recording_path: start
            .recording_path
            .as_ref()
            .map(|_| start.recording_rel.clone()),
    };
    // Speech if the memory holds one more call with it; keypad-only otherwise.
    let spoken = (!settings.keypad_only).then(|| settings.spoken_calls.try_admit());
    let (mode, keypad_for_memory) = match &spoken {
        None => ("keypad_only", None),
        Some(Ok(_)) => ("speech", None),
        Some(Err(refused)) => {
            warn!(
                key = %start.key,
                spoken = refused.in_progress,
                limit = refused.limit,
                "memory holds speech for no more calls now: this call is keypad-only"
            );
            let keypad = DialogSettings {
                keypad_only: true,
                ..settings.clone()
            };
            ("keypad_only_memory", Some(keypad))
        }
    };
    let settings = keypad_for_memory.as_ref().unwrap_or(settings);
    let outcome = call_flow::run(port, settings, ctx, start.recording_path.clone()).await;
    drop(spoken);
    info!(key = %start.key, outcome = %outcome.outcome.kind, records = ?outcome.outcome.record_ids, "dialog finished");
    FlowResult {
        end_reason: end_reason_name(outcome.hang_up_cause, &outcome.end),
        digits: outcome.digits,
        recorded: outcome.recorded,
        recording_stopped: outcome.recording_stopped,
        turns: outcome.turns,
        records: outcome.outcome.record_ids.clone(),
        dialog: Some(DialogRecord {
            mode: mode.into(),
            outcome: outcome.outcome.kind.clone(),
            confirmation_number: outcome.outcome.confirmation_number.clone(),
            caller_hung_up: outcome.outcome.caller_hung_up,
            enqueue_failed: outcome.outcome.enqueue_failed,
            caller_temp: call_log::caller_temp(
                &outcome.transcript,
                outdoor.cold_threshold_f,
                outdoor.hot_threshold_f,
                outdoor.source == "nws",
            ),
            transcript: outcome.transcript,
            outdoor: Some(outdoor),
            bridged: outcome.bridged,
        }),
    }
}

async fn run_echo_turn(port: AudioPort, speech: &EchoTurnSettings) -> FlowResult {
    let outcome = echo_turn::run(port, speech.clone()).await;
    FlowResult {
        end_reason: end_reason_name(outcome.hang_up_cause, &outcome.end),
        digits: outcome.digits,
        recorded: false,
        recording_stopped: None,
        turns: outcome.turns,
        records: Vec::new(),
        dialog: None,
    }
}

/// Greeting, recording, digits; with `voicemail` the recording is queued as a voicemail.
async fn run_answering(
    port: AudioPort,
    voicemail: bool,
    facts: &CallFacts,
    start: &CallStart,
    desk: &CallDesk,
) -> FlowResult {
    let config = &desk.config.call;
    let settings = AnsweringSettings {
        greeting: desk.greeting.clone(),
        max_call: Duration::from_secs(config.max_call_secs),
        idle_timeout: Duration::from_secs(config.idle_timeout_secs),
        hangup_digit: config.hangup_digit,
        recording_path: start.recording_path.clone(),
        recording_reserve: Some(recording_reserve(&desk.config, &desk.paths)),
    };
    let outcome = answering::run(port, settings).await;
    let mut records = Vec::new();
    if let Some(queue) = desk.queue.as_ref().filter(|_| voicemail) {
        records.extend(queue_voicemail(queue, facts, start, outcome.recorded).await);
    }
    FlowResult {
        end_reason: outcome.end_reason(),
        digits: outcome.digits,
        recorded: outcome.recorded,
        recording_stopped: outcome.recording_stopped,
        turns: Vec::new(),
        records,
        dialog: None,
    }
}

/// Queues the caller's message as a voicemail record (the dialog's fallback without a voice).
async fn queue_voicemail(
    queue: &Outbox,
    facts: &CallFacts,
    start: &CallStart,
    recorded: bool,
) -> Option<RecordId> {
    let payload = Payload::Voicemail(VoicemailMessage {
        call_key: start.key.clone(),
        caller: CallerInfo {
            name: facts.caller.display_name.clone().unwrap_or_default(),
            phone_e164: facts.caller.number.clone(),
            callback_phone_e164: None,
        },
        recording_path: recorded.then(|| start.recording_rel.clone()),
        duration_secs: None,
        transcript: String::new(),
    });
    match queue.enqueue(payload).await {
        Ok(id) => {
            info!(key = %start.key, %id, "voicemail queued");
            Some(id)
        }
        Err(err) => {
            error!(key = %start.key, error = %err, "voicemail could not be queued");
            None
        }
    }
}

impl FlowResult {
    /// What is known of a call whose flow failed: its recording, if one was started.
    fn failed(start: &CallStart) -> FlowResult {
        FlowResult {
            end_reason: "flow_failed",
            digits: Vec::new(),
            recorded: start.recording_path.as_ref().is_some_and(|p| p.is_file()),
            recording_stopped: None,
            turns: Vec::new(),
            records: Vec::new(),
            dialog: None,
        }
    }
}

fn end_reason_name(cause: Option<HangUpCause>, end: &EndReason) -> &'static str {
    AnsweringOutcome {
        digits: Vec::new(),
        end: end.clone(),
        hang_up_cause: cause,
        recorded: false,
        recording_stopped: None,
    }
    .end_reason()
}

fn call_record(facts: &CallFacts, start: &CallStart, outcome: FlowResult) -> CallRecord {
    CallRecord {
        key: start.key.clone(),
        call_id: facts.call_id.clone(),
        caller: caller_record(&facts.caller),
        dialled: facts.dialled.clone(),
        codec: facts.codec.name().to_string(),
        answered_at: start.answered_at,
        ended_at: Utc::now(),
        end_reason: outcome.end_reason.to_string(),
        digits: outcome.digits.iter().map(digit_record).collect(),
        recording: outcome.recorded.then(|| start.recording_rel.clone()),
        recording_stopped: outcome.recording_stopped.map(|s| s.name().to_string()),
        rtp: rtp_record(facts.media.stats()),
        turns: outcome.turns,
        records: outcome.records,
        dialog: outcome.dialog,
        page: None,
    }
}

fn caller_record(caller: &CallerId) -> CallerRecord {
    CallerRecord {
        number: caller.number.clone(),
        display_name: caller.display_name.clone(),
        presentation: match caller.presentation {
            Presentation::Available => "available",
            Presentation::Anonymous => "anonymous",
            Presentation::Unavailable => "unavailable",
        }
        .to_string(),
        raw: caller.raw.clone(),
    }
}

fn digit_record(d: &DigitEvent) -> DigitRecord {
    DigitRecord {
        digit: d.digit.to_string(),
        source: match d.source {
            DigitSource::Rfc4733 => "rfc4733",
            DigitSource::InBand => "inband",
            DigitSource::SipInfo => "sip_info",
        }
        .to_string(),
        at_ms: d.at_ms,
    }
}

fn rtp_record(stats: MediaStats) -> RtpRecord {
    RtpRecord {
        packets_in: stats.packets_in,
        packets_out: stats.packets_out,
        lost: stats.lost,
        garbage: stats.garbage,
        late_ticks: stats.late_ticks,
        max_tick_lag_ms: stats.max_tick_lag_ms,
        playback_underruns: stats.playback_underruns,
        caller_frames_dropped: stats.events_dropped,
    }
}

fn write_record(paths: &DataPaths, record: &CallRecord) -> Result<()> {
    let path = call_log::write_record(&paths.calls, record)?;
    info!(key = %record.key, end = %record.end_reason, digits = record.digits.len(), record = %path.display(), "call ended");
    if record.end_reason == "transport_failed" {
        warn!(key = %record.key, "call ended by a transport failure");
    }
    Ok(())
}

/// The calls in progress: each runs on its own task, tracked so that shutdown can wait for
/// them (their records are never cut off) and end the ones still going after the grace period.
pub(crate) struct CallsInProgress {
    tasks: TaskTracker,
    media: Mutex<HashMap<u64, MediaHandle>>,
    next_id: AtomicU64,
    status: Arc<AppStatus>,
}

impl CallsInProgress {
    pub fn new(status: Arc<AppStatus>) -> Arc<CallsInProgress> {
        Arc::new(CallsInProgress {
            tasks: TaskTracker::new(),
            media: Mutex::default(),
            next_id: AtomicU64::new(0),
            status,
        })
    }

    fn media(&self) -> MutexGuard<'_, HashMap<u64, MediaHandle>> {
        self.media.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `call` on its own task and writes its record.
    pub fn start(self: &Arc<Self>, call: AnsweredCall, desk: Arc<CallDesk>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.track(id, Some(call.media.clone()));
        let calls = self.clone();
        self.tasks.spawn(async move {
            if let Err(err) = handle_call(call, desk).await {
                error!(error = %err, "call record could not be written");
            }
            calls.track(id, None);
        });
    }

    fn track(&self, id: u64, media: Option<MediaHandle>) {
        let count = {
            let mut calls = self.media();
            match media {
                Some(media) => calls.insert(id, media),
                None => calls.remove(&id),
            };
            calls.len()
        };
        self.status.set_calls_in_progress(count);
    }

    pub fn count(&self) -> usize {
        self.media().len()
    }

    /// Waits up to `bound` for every call to end (and its record to be written); true when
    /// they all did.
    pub async fn wait(&self, bound: Duration) -> bool {
        self.tasks.close();
        let done = tokio::time::timeout(bound, self.tasks.wait()).await.is_ok();
        self.tasks.reopen();
        done
    }

    /// Ends every call still in progress: its flow sees the hang-up and writes the record,
    /// and the line sends the caller a BYE.
    pub fn end_all(&self) {
        for media in self.media().values() {
            media.stop(EndReason::LocalHangUp);
        }
    }
}
