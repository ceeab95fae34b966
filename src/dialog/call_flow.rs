//! The product's call flow (`call.mode = "dialog"`): the sans-IO dialog [`engine`] driven over
//! a real call's [`Conversation`].
//!
//! How the engine's actions become audio and records:
//! - `Say` texts are collected and spoken at the next point where the box waits for the
//!   caller (`Listen`), or before it hangs up. Texts that were rendered at start-up (the
//!   engine's fixed prompts, found by [`fixed_texts`]) play from the prompt cache; the rest
//!   (names, times, confirmation numbers) are synthesised and streamed. A `Say` with
//!   `barge_in: false` (the safety instructions) plays to its end: neither voice nor keys cut
//!   it short.
//! - `Listen` is one [`Conversation::turn`]: a grammar or open speech, or keys only when the
//!   box has no speech model. `Keypad::Digit`: the first key answers. `Keypad::UntilHash`:
//!   further prompt-less turns collect keys (inter-digit timeout) until `#` or `max`.
//! - `Enqueue` goes to the [`BookingSink`] (the queue, on the box) at once, before any pending
//!   speech: the record is durable before the caller hears about it, and a caller who hangs up
//!   meanwhile loses nothing.
//! - The caller hanging up is `Input::Hangup`, and the lead the engine then emits is still
//!   enqueued.
//! - `Bridge` (issue 15, a box that can call out while the caller holds) lends the caller's
//!   port to the [`TechnicianBridge`] until the technician's leg is over, and answers with
//!   `Input::Bridged`; without one the bridge is "not taken" at once.

use std::collections::VecDeque;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::{debug, info, warn};

use crate::dialog::answering::HangUpCause;
use crate::dialog::call_log::TurnRecord;
use crate::dialog::engine::{
    self, Action, BridgeOutcome, BridgeRequest, CallContext, Dialog, Input, Keypad, Language,
    Outcome, Script, Sources,
};
use crate::dialog::schedule::{OfferedSchedule, ScheduleSource};
use crate::dialog::sources::{BookingSink, NoLookups, RecordFailure};
use crate::infra::disk::SpaceReserve;
use crate::speech::asr::{AsrError, RecognizerStream, SpeechEngine, Utterance};
use crate::speech::pool::SpokenCalls;
use crate::speech::tts::{Speaker, SpeechStream};
use crate::speech::turn::{Conversation, Listen, TurnOutcome, TurnResult, TurnSettings};
use crate::telephony::audio_port::{AudioPort, DigitEvent, EndReason};
use crate::telephony::wav::{RecordingStop, WavError};
use crate::trade::{Payload, RecordId, Urgency};

/// How long to wait for the port to confirm a hang-up.
const HANG_UP_GRACE: Duration = Duration::from_secs(5);

/// What the flow needs for every call.
#[derive(Clone)]
pub struct DialogSettings {
    pub speaker: Speaker,
    /// The recogniser; unused when `keypad_only`.
    pub engine: Arc<dyn SpeechEngine>,
    /// The Spanish recogniser (`[speech] spanish_model`), used from the turn after the
    /// caller chose Spanish; `None`: the Spanish branch is keyed.
    pub spanish_engine: Option<Arc<dyn SpeechEngine>>,
    /// No usable speech model: every question is asked and answered by keypad.
    pub keypad_only: bool,
    /// The calls at once that may have speech, against what the memory holds; a call over it
    /// runs keypad-only (`speech::pool::SpokenCalls`).
    pub spoken_calls: SpokenCalls,
    pub turn: TurnSettings,
    pub script: Arc<Script>,
    pub sources: Sources,
    /// Where the call's records go (the queue).
    pub records: Arc<dyn BookingSink>,
    pub max_call: Duration,
    /// Longest wait for the next key of a `#`-terminated entry.
    pub inter_digit_timeout: Duration,
    /// Free space kept for the queue: the recording stops before it.
    pub recording_reserve: Option<SpaceReserve>,
    /// Issue 15: rings the on-call technician while the caller holds (a second line or a
    /// trunk); `None` on a one-line box (the script then never asks for a bridge).
    pub bridge: Option<Arc<dyn TechnicianBridge>>,
}

/// How a bridge went, for the flow.
#[derive(Debug, Clone, PartialEq)]
pub struct BridgeResult {
    pub outcome: BridgeOutcome,
    /// The caller's leg ended during the bridge (they hung up, or the box ended their leg
    /// after the technician hung up).
    pub caller_ended: Option<EndReason>,
    /// When the two legs were relayed: ms into the audio handed to the bridge's recording
    /// tap (from, to). `None` when they never were.
    pub relayed_ms: Option<(u64, u64)>,
}

/// Where a bridge writes the call's audio while it holds the caller's port: the caller's
/// frames while they wait, both legs mixed while they talk (the call's recording).
pub type RecordingTap<'a> = &'a mut (dyn FnMut(&[i16]) + Send);

/// What [`TechnicianBridge::connect`] returns.
pub type BridgeFuture<'a> = Pin<Box<dyn Future<Output = BridgeResult> + Send + 'a>>;

/// Issue 15: rings the on-call technician for the request's alert (already on disk) on a second line
/// while the caller holds on `caller`, whispers the alert to them, and on their 1 relays the
/// two legs until one hangs up (then ends the other). The app's, over the SIP line.
pub trait TechnicianBridge: Send + Sync {
    fn connect<'a>(
        &'a self,
        caller: &'a mut AudioPort,
        request: &'a BridgeRequest,
        record: RecordingTap<'a>,
    ) -> BridgeFuture<'a>;
}

impl std::fmt::Debug for DialogSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DialogSettings")
            .field("keypad_only", &self.keypad_only)
            .field("spoken_calls", &self.spoken_calls.limit())
            .field("spanish_engine", &self.spanish_engine.is_some())
            .field("turn", &self.turn)
            .field("max_call", &self.max_call)
            .finish()
    }
}

/// What happened on the call, for the call record.
#[derive(Debug, Clone)]
pub struct DialogCallOutcome {
    pub outcome: Outcome,
    /// The engine's transcript: every turn, both sides, with wall-clock times.
    pub transcript: Vec<engine::Turn>,
    /// The same conversation on the call's clock (ms after the answer), with barge-ins.
    pub turns: Vec<TurnRecord>,
    pub digits: Vec<DigitEvent>,
    pub end: EndReason,
    pub hang_up_cause: Option<HangUpCause>,
    /// A recording of the caller was written to the path given.
    pub recorded: bool,
    /// Why the recording stopped (or never started) before the call ended.
    pub recording_stopped: Option<RecordingStop>,
    /// Issue 15: where the bridged talk is in the recording.
    pub bridged: Option<crate::dialog::call_log::BridgedSpan>,
}

/// Something the box is about to say.
struct Pending {
    text: String,
    barge_in: bool,
    language: Language,
}

struct Call<'a> {
    settings: &'a DialogSettings,
    conversation: Conversation,
    dialog: Dialog,
    actions: VecDeque<Action>,
    pending: Vec<Pending>,
    turns: Vec<TurnRecord>,
    digits: Vec<DigitEvent>,
    /// The caller left (or the call was ended); only records are still written.
    gone: Option<EndReason>,
    hang_up_cause: Option<HangUpCause>,
    /// What the box speaks now ([`Action::Language`]).
    language: Language,
    /// The recogniser each turn takes, by `language`.
    engines: Arc<CallEngines>,
    /// Issue 15: where the bridged talk is in the recording.
    bridged: Option<crate::dialog::call_log::BridgedSpan>,
}

/// The recogniser for the language the call is in: the box's model, or the Spanish model
/// once the caller chose Spanish. Each turn asks it for a recogniser when the turn starts.
struct CallEngines {
    english: Arc<dyn SpeechEngine>,
    spanish: Option<Arc<dyn SpeechEngine>>,
    in_spanish: AtomicBool,
}

impl CallEngines {
    fn new(settings: &DialogSettings) -> Arc<CallEngines> {
        Arc::new(CallEngines {
            english: settings.engine.clone(),
            spanish: settings.spanish_engine.clone(),
            in_spanish: AtomicBool::new(false),
        })
    }

    /// Turns from now on listen in `language` (English when it has no model of its own).
    fn set(&self, language: Language) {
        self.in_spanish
            .store(language == Language::Spanish, Ordering::Relaxed);
    }

    /// Spanish is heard by a model of its own.
    fn hears_spanish(&self) -> bool {
        self.spanish.is_some()
    }

    fn current(&self) -> &Arc<dyn SpeechEngine> {
        match &self.spanish {
            Some(spanish) if self.in_spanish.load(Ordering::Relaxed) => spanish,
            _ => &self.english,
        }
    }
}

impl SpeechEngine for CallEngines {
    fn open(&self) -> Result<Box<dyn RecognizerStream>, AsrError> {
        self.current().open()
    }

    fn grammar(&self, phrases: &[String]) -> Result<Box<dyn RecognizerStream>, AsrError> {
        self.current().grammar(phrases)
    }
}

/// Runs the dialog on one answered call until it ends.
pub async fn run(
    port: AudioPort,
    settings: &DialogSettings,
    ctx: CallContext,
    recording: Option<PathBuf>,
) -> DialogCallOutcome {
    let mut dialog = Dialog::new(
        ctx,
        settings.script.clone(),
        settings.sources.clone(),
        Utc::now(),
    );
    if settings.keypad_only {
        dialog = dialog.keypad_only();
    }
    let engines = CallEngines::new(settings);
    let engine: Arc<dyn SpeechEngine> = engines.clone();
    let mut conversation = match Conversation::new(port, engine, settings.turn) {
        Ok(c) => c,
        Err(err) => {
            // Without turn taking the call cannot go on, but it still leaves a record: the
            // engine's lead for a caller who "left" at the greeting.
            warn!(error = %err, "turn taking unavailable; ending the call with a lead");
            let end = EndReason::TransportFailed(err.to_string());
            return records_only(dialog, settings, end).await;
        }
    };
    let reserve = settings.recording_reserve.clone();
    let recorded_to = recording.and_then(|path| match conversation.record_to(&path, reserve) {
        Ok(()) => Some(path),
        Err(WavError::DiskReserve) => {
            warn!(path = %path.display(), "not recording this call: the data partition is down to the queue's reserve (storage.queue_reserve_mb)");
            None
        }
        Err(err) => {
            warn!(path = %path.display(), error = %err, "cannot record this call");
            None
        }
    });
    let actions = dialog.start(Utc::now()).into();
    let mut call = Call {
        settings,
        conversation,
        dialog,
        actions,
        pending: Vec::new(),
        turns: Vec::new(),
        digits: Vec::new(),
        gone: None,
        hang_up_cause: None,
        language: Language::English,
        engines,
        bridged: None,
    };
    let end = call.run().await;
    let recorded = recorded_to.is_some() && call.conversation.finish_recording();
    let recording_stopped = call.conversation.recording_stopped();
    DialogCallOutcome {
        outcome: call.dialog.outcome().clone(),
        transcript: call.dialog.transcript().to_vec(),
        turns: call.turns,
        digits: call.digits,
        end,
        hang_up_cause: call.hang_up_cause,
        recorded,
        recording_stopped,
        bridged: call.bridged,
    }
}

/// The call ended before turn taking could start: only the engine's records are written.
async fn records_only(
    mut dialog: Dialog,
    settings: &DialogSettings,
    end: EndReason,
) -> DialogCallOutcome {
    let _ = dialog.start(Utc::now());
    let mut actions: VecDeque<Action> = dialog.handle(Utc::now(), Input::Hangup).into();
    while let Some(action) = actions.pop_front() {
        if let Action::Enqueue(payload) = action {
            let result = enqueue(settings.records.as_ref(), payload).await;
            actions.extend(dialog.handle(Utc::now(), Input::Recorded(result)));
        }
    }
    DialogCallOutcome {
        outcome: dialog.outcome().clone(),
        transcript: dialog.transcript().to_vec(),
        turns: Vec::new(),
        digits: Vec::new(),
        end,
        hang_up_cause: None,
        recorded: false,
        recording_stopped: None,
        bridged: None,
    }
}

async fn enqueue(records: &dyn BookingSink, payload: Payload) -> Result<RecordId, RecordFailure> {
    let kind = payload.kind().name();
    match records.record(payload).await {
        Ok(id) => {
            info!(%id, kind, "record queued");
            Ok(id)
        }
        Err(err) => {
            warn!(error = %err, kind, "record could not be queued");
            Err(err)
        }
    }
}

impl Call<'_> {
    async fn run(&mut self) -> EndReason {
        let max_call_ms = u64::try_from(self.settings.max_call.as_millis()).unwrap_or(u64::MAX);
        while let Some(action) = self.actions.pop_front() {
            match action {
                Action::Say { text, barge_in } => {
                    if self.gone.is_none() {
                        self.pending.push(Pending {
                            text,
                            barge_in,
                            language: self.language,
                        });
                    }
                }
                Action::Language(language) => {
                    self.language = language;
                    self.engines.set(language);
                }
                Action::Bridge(request) => self.bridge(&request).await,
                Action::Enqueue(payload) => {
                    let result = enqueue(self.settings.records.as_ref(), payload).await;
                    self.feed(Input::Recorded(result));
                }
                Action::Listen(listen) => {
                    if self.gone.is_some() {
                        continue;
                    }
                    if self.conversation.now_ms() >= max_call_ms {
                        info!("longest call reached; hanging up");
                        self.hang_up_cause = Some(HangUpCause::MaxDuration);
                        let end = self.conversation.hang_up(HANG_UP_GRACE).await;
                        self.caller_gone(end);
                        continue;
                    }
                    let input = self.listen(&listen).await;
                    self.feed(input);
                }
                Action::Hangup => {
                    self.speak_pending().await;
                    if self.gone.is_none() {
                        let end = self.conversation.hang_up(HANG_UP_GRACE).await;
                        self.gone = Some(end);
                    }
                }
            }
        }
        // Whatever is still unsaid (the engine always ends with Listen or Hangup, so nothing
        // normally), then the end of the call.
        self.speak_pending().await;
        match self.gone.take() {
            Some(end) => end,
            None => self.conversation.hang_up(HANG_UP_GRACE).await,
        }
    }

    /// Says what is pending ("connecting you…"), then lends the caller's port to the bridge.
    async fn bridge(&mut self, request: &BridgeRequest) {
        self.speak_pending().await;
        if self.gone.is_some() {
            return;
        }
        let started_ms = self.conversation.recording_ms();
        let result = match &self.settings.bridge {
            Some(bridge) => {
                let (port, mut tap) = self.conversation.lend_port();
                bridge.connect(port, request, &mut tap).await
            }
            None => BridgeResult {
                outcome: BridgeOutcome::NotTaken,
                caller_ended: None,
                relayed_ms: None,
            },
        };
        if let Some((from, to)) = result.relayed_ms {
            self.bridged = Some(crate::dialog::call_log::BridgedSpan {
                from_ms: started_ms + from,
                to_ms: started_ms + to,
            });
        }
        info!(outcome = ?result.outcome, caller_ended = ?result.caller_ended, "bridge to the on-call technician over");
        match result {
            BridgeResult {
                outcome: BridgeOutcome::Talked,
                caller_ended,
                ..
            } => {
                if let Some(end) = caller_ended {
                    self.conversation.set_ended(end.clone());
                    self.gone = Some(end);
                }
                self.feed(Input::Bridged(BridgeOutcome::Talked));
            }
            BridgeResult {
                outcome: BridgeOutcome::NotTaken,
                caller_ended: Some(end),
                ..
            } => {
                self.conversation.set_ended(end.clone());
                self.caller_gone(end);
            }
            BridgeResult {
                outcome: BridgeOutcome::NotTaken,
                caller_ended: None,
                ..
            } => self.feed(Input::Bridged(BridgeOutcome::NotTaken)),
        }
    }

    fn feed(&mut self, input: Input) {
        let more = self.dialog.handle(Utc::now(), input);
        self.actions.extend(more);
    }

    /// The caller hung up (or the call was ended): the engine hears it once, and what it
    /// still wants recorded is recorded.
    fn caller_gone(&mut self, end: EndReason) {
        if self.gone.is_none() {
            self.gone = Some(end);
            self.pending.clear();
            self.feed(Input::Hangup);
        }
    }

    /// A stream for one text: its rendered prompt when it has one, else live synthesis.
    fn stream(&self, text: &str, language: Language) -> Option<SpeechStream> {
        if let Some(stream) = self.settings.speaker.prompt(text) {
            return Some(stream);
        }
        match self.settings.speaker.say_in(language.tag(), text) {
            Ok(stream) => Some(stream),
            Err(err) => {
                warn!(error = %err, text, "cannot speak this text");
                None
            }
        }
    }

    fn record_box(&mut self, text: String, said: &TurnOutcome) {
        self.turns.push(TurnRecord {
            speaker: "box".into(),
            text,
            start_ms: said.prompt_start_ms,
            end_ms: said.prompt_end_ms,
            barge_in: said.barge_in,
            recognition_ms: None,
        });
    }

    /// Plays pending texts that are not part of a question: each to its end.
    async fn speak_pending(&mut self) {
        for p in std::mem::take(&mut self.pending) {
            if self.gone.is_some() {
                return;
            }
            let Some(stream) = self.stream(&p.text, p.language) else {
                continue;
            };
            let said = self.conversation.say(stream, p.barge_in).await;
            self.record_box(p.text, &said);
            if let TurnResult::Ended(end) = said.result {
                self.caller_gone(end);
            }
        }
    }

    /// Asks the question (the pending texts) and waits for the caller's answer.
    async fn listen(&mut self, listen: &engine::Listen) -> Input {
        self.speak_uninterruptible().await;
        if self.gone.is_some() {
            return Input::Hangup;
        }
        let pending = std::mem::take(&mut self.pending);
        let streams: Vec<SpeechStream> = pending
            .iter()
            .filter_map(|p| self.stream(&p.text, p.language))
            .collect();
        let texts: Vec<String> = pending.into_iter().map(|p| p.text).collect();
        let prompt = (!streams.is_empty()).then(|| SpeechStream::chain(streams));
        let mode = self.listen_mode(listen);
        self.conversation
            .set_no_speech_timeout(listen.no_input_timeout);
        let turn = self.conversation.turn(prompt, &mode).await;
        if !texts.is_empty() {
            self.record_box(texts.join(" "), &turn);
        }
        match &turn.result {
            TurnResult::Utterance(utterance) => self.heard(&turn, utterance),
            TurnResult::Digit(first) => self.keyed(*first, listen.keypad).await,
            TurnResult::NoSpeech => Input::NoInput,
            TurnResult::Ended(end) => {
                self.gone = Some(end.clone());
                self.pending.clear();
                Input::Hangup
            }
        }
    }

    /// Uninterruptible texts, and everything before them, play first on their own.
    async fn speak_uninterruptible(&mut self) {
        if let Some(last_fixed) = self.pending.iter().rposition(|p| !p.barge_in) {
            let rest = self.pending.split_off(last_fixed + 1);
            self.speak_pending().await;
            self.pending = rest;
        }
    }

    /// Keys only without a speech model; else the question's grammar, or open speech.
    fn listen_mode(&self, listen: &engine::Listen) -> Listen {
        // Issue 16: with a Spanish model a Spanish question is heard openly by it (the
        // grammars and answer kinds are English).
        if self.language == Language::Spanish && self.engines.hears_spanish() {
            return Listen::Open;
        }
        if self.settings.keypad_only {
            return Listen::Keys;
        }
        // Without one the recogniser is English: a Spanish menu is answered by key (a message
        // is still heard out by the open recogniser, so it ends when the caller stops).
        if self.language == Language::Spanish && listen.keypad == engine::Keypad::Digit {
            return Listen::Keys;
        }
        match &listen.grammar {
            Some(phrases) if !phrases.is_empty() => Listen::Grammar(phrases.clone()),
            _ => match listen.expect {
                Some(kind) => Listen::Answer(kind),
                None => Listen::Open,
            },
        }
    }

    /// The caller said something: into the call record, and to the engine.
    fn heard(&mut self, turn: &TurnOutcome, utterance: &Utterance) -> Input {
        let start_ms = turn.speech_start_ms.unwrap_or(turn.prompt_end_ms);
        let end_ms = turn.speech_end_ms.unwrap_or(self.conversation.now_ms());
        let said = crate::trade::redact::speech(&utterance.text);
        info!(text = %said, confidence = utterance.confidence, "caller said");
        debug!(text = %utterance.text, "caller said (words)");
        // An empty or [unk] result is something said but not understood: the engine counts
        // it as a miss (not as silence) and re-prompts.
        let text = if utterance.is_empty_or_unknown() {
            String::new()
        } else {
            utterance.text.clone()
        };
        self.turns.push(TurnRecord {
            speaker: "caller".into(),
            text: if text.is_empty() {
                "[not understood]".into()
            } else {
                text.clone()
            },
            start_ms,
            end_ms,
            barge_in: turn.barge_in,
            recognition_ms: turn.recognition_ms,
        });
        let input = heard_input(turn, text, utterance.confidence);
        if let Input::Continued { whole, .. } = &input {
            info!(
                text = %crate::trade::redact::speech(whole),
                "caller went on with the answer cut off"
            );
        }
        input
    }

    /// The caller pressed a key: the answer, or the first of a `#`-terminated entry.
    async fn keyed(&mut self, first: DigitEvent, keypad: Keypad) -> Input {
        self.digits.push(first);
        let keys = match keypad {
            Keypad::Digit => first.digit.to_string(),
            Keypad::UntilHash { max } => self.more_keys(first, max).await,
        };
        info!(keys = %crate::trade::redact::keys(&keys), "caller keyed");
        self.turns.push(TurnRecord {
            speaker: "caller".into(),
            text: format!("[keys {keys}]"),
            start_ms: first.at_ms,
            end_ms: self.conversation.now_ms(),
            barge_in: false,
            recognition_ms: None,
        });
        if self.gone.is_some() {
            return Input::Hangup;
        }
        Input::Digits(keys)
    }

    /// Collects the rest of a `#`-terminated entry after its first key.
    async fn more_keys(&mut self, first: DigitEvent, max: usize) -> String {
        let mut keys = first.digit.to_string();
        self.conversation
            .set_no_speech_timeout(self.settings.inter_digit_timeout);
        while first.digit != '#' && !keys.ends_with('#') && keys.len() < max {
            let turn = self.conversation.turn(None, &Listen::Keys).await;
            match turn.result {
                TurnResult::Digit(d) => {
                    self.digits.push(d);
                    keys.push(d.digit);
                }
                TurnResult::Ended(end) => {
                    self.gone = Some(end);
                    break;
                }
                // The caller stopped keying: the engine judges what there is.
                TurnResult::NoSpeech | TurnResult::Utterance(_) => break,
            }
        }
        keys
    }
}

/// What the engine hears of a turn's words (`text`, already emptied when not understood): a
/// continuation of an answer that was cut off ([`TurnOutcome::continues`]) is handed as
/// [`Input::Continued`] with the whole answer, so the engine hears it again where it was
/// asked; anything else is [`Input::Heard`].
fn heard_input(turn: &TurnOutcome, text: String, confidence: f32) -> Input {
    let whole = turn
        .continues
        .as_ref()
        .and(turn.whole_answer())
        .filter(|_| !text.is_empty());
    match whole {
        Some(whole) => Input::Continued {
            text,
            whole: whole.text,
            confidence: whole.confidence,
        },
        None => Input::Heard { text, confidence },
    }
}

/// A schedule that never has a window (the dry run of [`fixed_texts`] must not reach times).
struct NoWindows;

impl ScheduleSource for NoWindows {
    fn offer(&self, _: Urgency, _: DateTime<Utc>, _: DateTime<Utc>, _: usize) -> OfferedSchedule {
        OfferedSchedule {
            slots: Vec::new(),
            live: false,
        }
    }
}

/// The engine's fixed prompts, for rendering at start-up: every text it says on a dry run of
/// short keypad and silence paths, for a caller nobody knows, at two different times. A text
/// that comes out the same on both runs depends on nothing but the configuration. Found by
/// running the engine rather than listed here, so a reworded prompt can never go stale.
pub fn fixed_texts(script: &Arc<Script>, keypad_only: bool) -> Vec<String> {
    let at = |s: &str| {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|_| Utc::now())
    };
    let first = dry_run(script, keypad_only, at("2026-01-14T03:00:00Z"), "dry-run-a");
    let second = dry_run(script, keypad_only, at("2026-07-02T22:30:00Z"), "dry-run-b");
    let mut texts: Vec<String> = first.intersection(&second).cloned().collect();
    texts.sort();
    texts
}

fn dry_run(
    script: &Arc<Script>,
    keypad_only: bool,
    now: DateTime<Utc>,
    key: &str,
) -> std::collections::BTreeSet<String> {
    const DEPTH: usize = 3;
    let inputs: Vec<Input> = std::iter::once(Input::NoInput)
        .chain(
            ('1'..='8')
                .chain(['#'])
                .map(|k| Input::Digits(k.to_string())),
        )
        .collect();
    let sources = Sources {
        customers: Arc::new(NoLookups),
        appointments: Arc::new(NoLookups),
        schedule: Arc::new(NoWindows),
    };
    let id =
        RecordId::parse("cb-01JZ0000000000000000000000").map_err(|e| RecordFailure(e.to_string()));
    let mut texts = std::collections::BTreeSet::new();
    let mut paths: Vec<Vec<usize>> = vec![Vec::new()];
    while let Some(path) = paths.pop() {
        let ctx = CallContext {
            call_key: key.into(),
            ..CallContext::default()
        };
        let mut dialog = Dialog::new(ctx, script.clone(), sources.clone(), now);
        if keypad_only {
            dialog = dialog.keypad_only();
        }
        let mut actions: VecDeque<Action> = dialog.start(now).into();
        let mut steps = path.iter();
        // Prompts are rendered with the box's voice: texts in another language are not.
        let mut language = Language::English;
        loop {
            while let Some(action) = actions.pop_front() {
                match action {
                    Action::Say { text, .. } if language == Language::English => {
                        texts.insert(text);
                    }
                    Action::Enqueue(_) => {
                        actions.extend(dialog.handle(now, Input::Recorded(id.clone())))
                    }
                    Action::Language(l) => language = l,
                    Action::Say { .. } | Action::Listen(_) | Action::Hangup | Action::Bridge(_) => {
                    }
                }
            }
            match steps.next() {
                Some(&i) if !dialog.is_ended() => {
                    actions.extend(dialog.handle(now, inputs[i].clone()));
                }
                _ => break,
            }
        }
        if path.len() < DEPTH && !dialog.is_ended() {
            for i in 0..inputs.len() {
                let mut next = path.clone();
                next.push(i);
                paths.push(next);
            }
        }
    }
    texts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialog::settings::{DialogConfig, ScheduleConfig, TriageConfig};
    use crate::dialog::sources::RecordFuture;
    use crate::speech::asr::NoSpeechModel;
    use crate::speech::tts::PromptCache;
    use crate::telephony::audio_port::{port_pair, PortBackend, PortEvent, FRAME_SAMPLES};
    use std::sync::Mutex;

    /// Records in memory, with ids in the order they were made; refuses all when `full`.
    #[derive(Default)]
    struct MemorySink {
        records: Mutex<Vec<(RecordId, Payload)>>,
        full: bool,
    }

    impl BookingSink for MemorySink {
        fn record(&self, payload: Payload) -> RecordFuture<'_> {
            Box::pin(async move {
                if self.full {
                    return Err(RecordFailure("disk full".into()));
                }
                let mut records = self
                    .records
                    .lock()
                    .map_err(|e| RecordFailure(e.to_string()))?;
                let id = RecordId::parse(&format!("cb-01JZ{:022}", records.len()))
                    .map_err(|e| RecordFailure(e.to_string()))?;
                records.push((id.clone(), payload));
                Ok(id)
            })
        }
    }

    fn settings(records: Arc<MemorySink>) -> DialogSettings {
        DialogSettings {
            speaker: Speaker::new(None, PromptCache::default()),
            engine: Arc::new(NoSpeechModel),
            spanish_engine: None,
            keypad_only: true,
            spoken_calls: SpokenCalls::unlimited(),
            turn: TurnSettings::default(),
            script: script(),
            sources: Sources {
                customers: Arc::new(NoLookups),
                appointments: Arc::new(NoLookups),
                schedule: Arc::new(crate::dialog::schedule::ConfiguredSchedule::new(
                    &ScheduleConfig::default(),
                    "America/Chicago",
                )),
            },
            records,
            max_call: Duration::from_secs(600),
            inter_digit_timeout: Duration::from_secs(5),
            recording_reserve: None,
            bridge: None,
        }
    }

    /// A caller who sends `frames` of audio and hangs up.
    fn hang_up_after(frames: usize) -> (AudioPort, tokio::task::JoinHandle<PortBackend>) {
        let (port, backend) = port_pair();
        let caller = tokio::spawn(async move {
            for _ in 0..frames {
                let _ = backend
                    .events
                    .send(PortEvent::Audio(Box::new([100i16; FRAME_SAMPLES])))
                    .await;
            }
            let _ = backend
                .events
                .send(PortEvent::Ended(EndReason::RemoteHangUp))
                .await;
            backend
        });
        (port, caller)
    }

    fn script() -> Arc<Script> {
        Arc::new(Script::from_settings(
            "the shop",
            "America/Chicago",
            "US",
            &DialogConfig::default(),
            &TriageConfig::default(),
        ))
    }

    fn utterance(text: &str, confidence: f32) -> Utterance {
        Utterance {
            text: text.into(),
            words: Vec::new(),
            confidence,
        }
    }

    fn heard_turn(now: &str, continues: Option<&str>) -> TurnOutcome {
        TurnOutcome {
            result: TurnResult::Utterance(utterance(now, 0.8)),
            barge_in: true,
            prompt_start_ms: 0,
            prompt_end_ms: 0,
            speech_start_ms: Some(100),
            speech_end_ms: Some(900),
            continues: continues.map(|c| utterance(c, 0.9)),
            ended_early: false,
            recognition_ms: Some(200),
        }
    }

    #[test]
    fn a_continued_answer_reaches_the_engine_whole() {
        let turn = heard_turn("maple street", Some("one twenty three"));
        assert_eq!(
            heard_input(&turn, "maple street".into(), 0.8),
            Input::Continued {
                text: "maple street".into(),
                whole: "one twenty three maple street".into(),
                confidence: 0.8,
            }
        );
        // Not understood: nothing to continue with; the engine counts a miss as before.
        assert_eq!(
            heard_input(&turn, String::new(), 0.8),
            Input::Heard {
                text: String::new(),
                confidence: 0.8
            }
        );
        // A new answer is heard as itself.
        let turn = heard_turn("yes", None);
        assert_eq!(
            heard_input(&turn, "yes".into(), 0.8),
            Input::Heard {
                text: "yes".into(),
                confidence: 0.8
            }
        );
    }

    #[test]
    fn fixed_texts_are_the_static_prompts_only() {
        let texts = fixed_texts(&script(), true);
        assert!(
            texts
                .iter()
                .any(|t| t.starts_with("Please use your keypad.")),
            "{texts:#?}"
        );
        assert!(texts.iter().any(|t| t == "Sorry, I didn't catch that."));
        // Nothing that depends on the call: no confirmation numbers, no windows.
        assert!(!texts.iter().any(|t| t.contains("confirmation number")));
        assert!(!texts.iter().any(|t| t.contains("between")));
    }

    #[tokio::test]
    async fn a_caller_who_hangs_up_at_the_greeting_leaves_a_lead_and_a_recording() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sink = Arc::new(MemorySink::default());
        let settings = settings(sink.clone());
        let (port, caller) = hang_up_after(10);
        let ctx = CallContext {
            call_key: "k1".into(),
            caller_id: Some("+13125550142".into()),
            ..CallContext::default()
        };
        let wav = dir.path().join("k1.wav");
        let outcome = run(port, &settings, ctx, Some(wav.clone())).await;
        let _backend = caller.await.expect("caller");
        assert_eq!(outcome.end, EndReason::RemoteHangUp);
        assert_eq!(outcome.outcome.kind, "lead");
        let records = sink.records.lock().expect("records").clone();
        assert_eq!(records.len(), 1);
        assert_eq!(outcome.outcome.record_ids, vec![records[0].0.clone()]);
        match &records[0].1 {
            Payload::Lead(lead) => {
                assert_eq!(lead.call_key, "k1");
                assert_eq!(lead.caller.phone_e164.as_deref(), Some("+13125550142"));
            }
            other => panic!("{other:?}"),
        }
        assert!(outcome.recorded);
        let samples = crate::telephony::wav::read_wav_8k_mono(&wav).expect("recording");
        assert_eq!(samples.len(), 10 * FRAME_SAMPLES);
    }

    #[tokio::test]
    async fn a_record_that_cannot_be_kept_is_not_in_the_outcome() {
        let sink = Arc::new(MemorySink {
            full: true,
            ..MemorySink::default()
        });
        let settings = settings(sink.clone());
        let (port, caller) = hang_up_after(3);
        let ctx = CallContext {
            call_key: "k2".into(),
            ..CallContext::default()
        };
        let outcome = run(port, &settings, ctx, None).await;
        let _backend = caller.await.expect("caller");
        assert!(outcome.outcome.record_ids.is_empty(), "{outcome:?}");
        assert!(sink.records.lock().expect("records").is_empty());
    }
}
