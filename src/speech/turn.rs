//! Turn-taking over an audio port: speak a prompt, listen at the same time, stop speaking
//! when the caller talks over the box (barge-in), and come back with what the caller said,
//! the key they pressed, or that they said nothing.
//!
//! Two layers:
//! - [`EchoGuard`] and [`TurnMachine`] are **sans-IO**: they are handed the energy of every
//!   frame the box sent, and the VAD decision and energy of every caller frame, with the
//!   port's 20 ms frame clock as time. Their tests drive them with synthetic frames.
//! - [`Conversation`] runs them on a real [`AudioPort`]: it paces the prompt into playback
//!   from the caller-frame clock, runs the VAD, feeds the recogniser on its own thread, and
//!   flushes playback on barge-in.
//!
//! **Echo guard.** An analog hybrid returns the box's own voice 6-15 dB down, delayed by the
//! playback queue, the network and the jitter buffer. The VAD alone would call that echo
//! speech and the box would interrupt itself. So a caller frame only counts as speech while
//! the box talks if it is louder than the loudest frame the box sent over the possible echo
//! delays, minus `echo_margin_db` (6 dB: the hybrid's worst case). Barge-in then needs
//! `barge_in_frames` such frames in a row. This energy comparison is chosen over an NLMS
//! echo canceller because the echo path here includes G.711 twice, packet loss concealment
//! and a jitter buffer that moves: a canceller would need double-talk detection and
//! re-convergence for every delay change, for a gain (hearing a quiet caller over the box)
//! that a turn-taking box does not need — callers who want to interrupt speak up.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::sync::oneshot;
use tracing::{debug, warn};

use crate::infra::disk::SpaceReserve;
use crate::speech::answer::AnswerKind;
use crate::speech::asr::{AsrError, RecognizerStream, SpeechEngine, Utterance, UNKNOWN_WORD};
use crate::speech::endpointer::{
    EndReason as EndpointReason, EndpointEvent, Endpointer, EndpointerConfig,
};
use crate::speech::tts::SpeechStream;
use crate::speech::vad::VoiceDetector;
use crate::telephony::audio_port::{AudioFrame, AudioPort, DigitEvent, EndReason, PortEvent};
use crate::telephony::jitter::JitterBuffer;
use crate::telephony::wav::{RecordingStop, WavError, WavRecorder};
use std::path::Path;

/// Length of one frame on the port's clock.
const FRAME_MS: u64 = 20;
/// Energy reported for digital silence.
pub const SILENCE_DB: f32 = -100.0;
/// Caller audio kept from before the detected start of speech, fed to the recogniser too
/// (the VAD decides a few frames after the first sound).
const PRE_ROLL_MS: u64 = 120;
/// Frames remembered for the pre-roll.
const RING_FRAMES: usize = 16;
/// How long the recogniser may take to finish an utterance before the turn gives up on it.
const FINISH_TIMEOUT: Duration = Duration::from_secs(10);
/// Partial results are checked every this many frames on grammar turns.
const PARTIAL_EVERY_FRAMES: u32 = 3;
/// How long the media loop waits, at a pause, for the recogniser's verdict on whether an
/// answer is whole: one frame. A recogniser that keeps up answers well within it (it has at
/// most a few frames left to decode); one that is behind answers later, the verdict is taken
/// on the frame it arrives, and until then the answer counts as not complete — the loop that
/// paces the prompt and reads the caller's frames never waits longer than this.
const VERDICT_WAIT: Duration = Duration::from_millis(20);

/// Energy of a frame in dB relative to full scale (a full-scale square wave is 0 dBFS).
pub fn frame_energy_db(frame: &[i16]) -> f32 {
    if frame.is_empty() {
        return SILENCE_DB;
    }
    let sum: f64 = frame.iter().map(|&s| f64::from(s).powi(2)).sum();
    let mean = sum / frame.len() as f64 / (32_768.0 * 32_768.0);
    if mean <= 1e-10 {
        SILENCE_DB
    } else {
        (10.0 * mean.log10()) as f32
    }
}

/// The echo guard: what the box sent recently, and whether a caller frame rises above the
/// echo of it.
#[derive(Debug, Clone)]
pub struct EchoGuard {
    /// Energy of the frames sent on the last `window` ticks, oldest first.
    sent: VecDeque<f32>,
    window: usize,
    margin_db: f32,
}

impl EchoGuard {
    /// `window_frames` must cover the whole echo delay: frames queued ahead of the wire,
    /// the network both ways, and the jitter buffer.
    pub fn new(margin_db: f32, window_frames: usize) -> Self {
        EchoGuard {
            sent: VecDeque::with_capacity(window_frames.max(1)),
            window: window_frames.max(1),
            margin_db,
        }
    }

    /// The box sent a frame of this energy on this tick ([`SILENCE_DB`] when it sent none).
    pub fn on_sent(&mut self, energy_db: f32) {
        if self.sent.len() == self.window {
            self.sent.pop_front();
        }
        self.sent.push_back(energy_db);
    }

    /// The loudest echo the line could be returning now.
    pub fn expected_echo_db(&self) -> f32 {
        let loudest = self.sent.iter().copied().fold(SILENCE_DB, f32::max);
        loudest - self.margin_db
    }

    /// Whether a caller frame of this energy is more than the box's echo.
    pub fn above_echo(&self, caller_db: f32) -> bool {
        caller_db > self.expected_echo_db()
    }

    /// Forget what was sent (a new call).
    pub fn clear(&mut self) {
        self.sent.clear();
    }
}

/// Barge-in and echo-guard settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TurnSettings {
    pub barge_in: bool,
    pub echo_margin_db: f32,
    pub barge_in_frames: u32,
    /// Frames of the prompt kept queued ahead of the wire (60 ms: enough to ride out a late
    /// wake-up, little to flush).
    pub lead_frames: usize,
    /// Frames of echo delay the guard covers (see [`EchoGuard::new`]).
    pub echo_window_frames: usize,
    pub endpointer: EndpointerConfig,
    /// webrtc-vad aggressiveness, 0-3.
    pub vad_aggressiveness: u8,
}

impl TurnSettings {
    /// The echo window for a port whose jitter buffer aims at `jitter_frames`: the playback
    /// lead, the most the jitter buffer can hold (not its target: after the box's media loop
    /// stalls on a loaded machine, the caller's packets that piled up are played out late, and
    /// the echo in them with them), and 60 ms of network and hybrid.
    pub fn echo_window_for(lead_frames: usize, jitter_frames: usize) -> usize {
        lead_frames + JitterBuffer::most_frames(jitter_frames) + 3 + 1
    }
}

impl Default for TurnSettings {
    fn default() -> Self {
        TurnSettings {
            barge_in: true,
            echo_margin_db: 6.0,
            barge_in_frames: 2,
            lead_frames: 3,
            echo_window_frames: Self::echo_window_for(3, 3),
            endpointer: EndpointerConfig::default(),
            vad_aggressiveness: 2,
        }
    }
}

/// What the turn machine decided on a caller frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnEvent {
    /// The caller talks over the prompt: stop playback now. `speech_at_ms` is where their
    /// speech began.
    BargeIn { speech_at_ms: u64 },
    /// The caller started an utterance: feed the recogniser from `at_ms`.
    SpeechStarted { at_ms: u64 },
    /// The utterance is over: finish the recogniser. `early` when it ended on the shorter
    /// silence of an answer known complete (the caller may still be going).
    SpeechEnded {
        start_ms: u64,
        end_ms: u64,
        early: bool,
    },
    /// Nothing said in time.
    NoSpeech { at_ms: u64 },
}

/// The per-turn decision logic: echo guard, barge-in, endpointing. Sans-IO.
#[derive(Debug, Clone)]
pub struct TurnMachine {
    settings: TurnSettings,
    guard: EchoGuard,
    endpointer: Endpointer,
    playing: bool,
    /// Consecutive caller frames above the echo while the prompt plays.
    run: u32,
    run_start_ms: u64,
    barged_in_at: Option<u64>,
}

impl TurnMachine {
    pub fn new(settings: TurnSettings) -> Self {
        TurnMachine {
            guard: EchoGuard::new(settings.echo_margin_db, settings.echo_window_frames),
            endpointer: Endpointer::new(settings.endpointer),
            settings,
            playing: false,
            run: 0,
            run_start_ms: 0,
            barged_in_at: None,
        }
    }

    /// Starts a turn at `at_ms`, with or without a prompt playing. The echo history is kept:
    /// the previous prompt's echo may still be on the line.
    pub fn start_turn(&mut self, at_ms: u64, playing: bool) {
        self.endpointer.start_turn(at_ms);
        self.playing = playing;
        self.run = 0;
        self.barged_in_at = None;
    }

    /// The prompt has been played to its end; the no-speech timeout runs from here.
    pub fn prompt_finished(&mut self) {
        self.playing = false;
    }

    pub fn is_playing(&self) -> bool {
        self.playing
    }

    /// The loudest echo of the box the line could be returning now.
    pub fn expected_echo_db(&self) -> f32 {
        self.guard.expected_echo_db()
    }

    pub fn barged_in_at(&self) -> Option<u64> {
        self.barged_in_at
    }

    /// The no-speech timeout of the turns that follow.
    pub fn set_no_speech_timeout(&mut self, ms: u64) {
        self.endpointer.set_no_speech_timeout(ms);
    }

    /// Whether the caller's voice may cut the prompt short on the turns that follow.
    pub fn set_barge_in(&mut self, barge_in: bool) {
        self.settings.barge_in = barge_in;
    }

    pub fn barge_in_enabled(&self) -> bool {
        self.settings.barge_in
    }

    /// A closed-set answer is complete: a shorter silence ends it.
    pub fn set_answer_complete(&mut self, complete: bool) {
        self.endpointer.set_answer_complete(complete);
    }

    /// An open answer reads complete for its kind: `complete_answer_silence_ms` ends it.
    pub fn set_open_answer_complete(&mut self, complete: bool) {
        self.endpointer.set_open_answer_complete(complete);
    }

    /// See [`Endpointer::silence_after`].
    pub fn silence_after(&self, at_ms: u64) -> Option<u64> {
        self.endpointer.silence_after(at_ms)
    }

    /// The endpointer's settings.
    pub fn endpointer_config(&self) -> &EndpointerConfig {
        self.endpointer.config()
    }

    /// The box sent a frame of this energy on this tick.
    pub fn on_sent(&mut self, energy_db: f32) {
        self.guard.on_sent(energy_db);
    }

    /// One caller frame: the VAD's decision and the frame's energy, at `at_ms`.
    pub fn on_caller_frame(
        &mut self,
        vad_voiced: bool,
        energy_db: f32,
        at_ms: u64,
    ) -> Vec<TurnEvent> {
        let speech = vad_voiced && self.guard.above_echo(energy_db);
        let mut events = Vec::new();
        if self.playing {
            if !self.settings.barge_in {
                // Nobody can interrupt: the turn starts when the prompt ends.
                self.endpointer.start_turn(at_ms + FRAME_MS);
                return events;
            }
            if speech {
                if self.run == 0 {
                    self.run_start_ms = at_ms;
                }
                self.run += 1;
            } else {
                self.run = 0;
            }
            if self.run >= self.settings.barge_in_frames.max(1) {
                self.barge_in(self.run_start_ms, &mut events);
            }
        }
        let event = self.endpointer.push(speech, at_ms);
        match event {
            Some(EndpointEvent::SpeechStarted { at_ms: start }) => {
                if self.playing {
                    self.barge_in(start, &mut events);
                }
                events.push(TurnEvent::SpeechStarted { at_ms: start });
            }
            Some(EndpointEvent::SpeechEnded {
                start_ms,
                end_ms,
                reason,
            }) => events.push(TurnEvent::SpeechEnded {
                start_ms,
                end_ms,
                early: reason == EndpointReason::AnswerComplete,
            }),
            Some(EndpointEvent::NoSpeechTimeout { at_ms }) => {
                events.push(TurnEvent::NoSpeech { at_ms })
            }
            None => {
                if self.playing && !speech && !self.endpointer.in_speech() {
                    // While the box talks the no-speech timeout does not run.
                    self.endpointer.start_turn(at_ms + FRAME_MS);
                }
            }
        }
        events
    }

    fn barge_in(&mut self, speech_at_ms: u64, events: &mut Vec<TurnEvent>) {
        if self.barged_in_at.is_none() {
            self.barged_in_at = Some(speech_at_ms);
            self.playing = false;
            events.push(TurnEvent::BargeIn { speech_at_ms });
        }
    }
}

/// What the caller is expected to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// Anything (open vocabulary); the full trailing silence ends it.
    Open,
    /// Open vocabulary, expecting an answer of this kind: once what was heard reads as a
    /// whole answer of it ([`AnswerKind::is_complete`]), a shorter silence ends the turn.
    Answer(AnswerKind),
    /// One of these phrases (a grammar turn: faster and more accurate).
    Grammar(Vec<String>),
    /// Keys only (no speech model): no recogniser runs, the caller's voice neither ends the
    /// turn nor cuts the prompt short; only a digit or the no-input timeout does.
    Keys,
}

/// How a turn ended.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnResult {
    /// The caller said something (possibly only `[unk]` on a grammar turn).
    Utterance(Utterance),
    /// The caller pressed a key; the turn ended there.
    Digit(DigitEvent),
    /// The caller said nothing in time.
    NoSpeech,
    /// The call ended during the turn.
    Ended(EndReason),
}

/// One turn: the box's prompt and the caller's answer, with times on the port's clock
/// (milliseconds since the conversation started, normally the answer).
#[derive(Debug, Clone, PartialEq)]
pub struct TurnOutcome {
    pub result: TurnResult,
    /// The caller talked over the prompt and it was cut short.
    pub barge_in: bool,
    pub prompt_start_ms: u64,
    /// When the prompt stopped (its end, or the barge-in).
    pub prompt_end_ms: u64,
    /// The caller's utterance, when there was one.
    pub speech_start_ms: Option<u64>,
    pub speech_end_ms: Option<u64>,
    /// The previous turn's answer ended early (on the shorter silence of an answer that read
    /// complete) and the caller went on talking: this turn's words are the rest of it (or a
    /// repair of it). Here is what the previous turn returned; [`Self::whole_answer`] joins
    /// the two.
    pub continues: Option<Utterance>,
    /// This turn's answer ended on the shorter silence of an answer that read complete.
    pub ended_early: bool,
    /// From the end of the caller's speech to the recogniser's result, in ms (wall clock):
    /// the audio it still had to decode plus finalisation. Large when recognition falls
    /// behind real time (issue 18: several calls on a small board).
    pub recognition_ms: Option<u64>,
}

impl TurnOutcome {
    /// The caller's whole answer: the previous turn's words and this turn's, when this turn
    /// continues an answer ended early; else this turn's utterance.
    pub fn whole_answer(&self) -> Option<Utterance> {
        let TurnResult::Utterance(now) = &self.result else {
            return self.continues.clone();
        };
        match &self.continues {
            Some(before) => Some(join_utterances(before, now)),
            None => Some(now.clone()),
        }
    }
}

/// Two pieces of one answer as one utterance (the lower confidence of the two).
fn join_utterances(before: &Utterance, after: &Utterance) -> Utterance {
    let mut joined = after.clone();
    joined.words = before.words.iter().chain(&after.words).cloned().collect();
    let words: Vec<&str> = [before.text.as_str(), after.text.as_str()]
        .into_iter()
        .flat_map(str::split_whitespace)
        .filter(|w| *w != UNKNOWN_WORD)
        .collect();
    joined.text = words.join(" ");
    joined.confidence = match (before.text.is_empty(), after.text.is_empty()) {
        (true, _) => after.confidence,
        (_, true) => before.confidence,
        _ => before.confidence.min(after.confidence),
    };
    joined
}

/// An answer that ended early, kept until the next turn shows whether the caller went on.
#[derive(Debug, Clone)]
struct HeldAnswer {
    /// End of the caller's speech (as reported, the VAD hangover taken off).
    end_ms: u64,
    utterance: Utterance,
}

/// Errors that end a conversation's turn taking (not the call).
#[derive(Debug, Error)]
pub enum TurnError {
    #[error("voice activity detector: {0}")]
    Vad(#[from] crate::speech::vad::VadError),
}

enum AsrCommand {
    Audio(Box<AudioFrame>),
    /// Whether the partial result of everything fed so far reads as a whole answer.
    IsComplete(oneshot::Sender<bool>),
    Finish(oneshot::Sender<Result<Utterance, AsrError>>),
}

/// The recogniser of one turn, on its own thread: Vosk decodes in real time on a Pi only if
/// it never waits behind the async reactor, and must never block it.
struct AsrWorker {
    commands: std::sync::mpsc::Sender<AsrCommand>,
    /// Set by the worker when a grammar turn's partial result is already a whole phrase.
    /// (Answer turns ask instead, at each pause: [`Self::is_complete`].)
    complete: Arc<AtomicBool>,
}

/// What makes a partial result complete on a turn.
enum Completion {
    Phrases(Vec<String>),
    Kind(AnswerKind),
}

impl Completion {
    fn of(listen: &Listen) -> Option<Completion> {
        match listen {
            Listen::Grammar(phrases) => Some(Completion::Phrases(phrases.clone())),
            Listen::Answer(kind) => Some(Completion::Kind(*kind)),
            Listen::Open | Listen::Keys => None,
        }
    }

    fn complete(&self, partial: &str) -> bool {
        match self {
            Completion::Phrases(phrases) => is_whole_phrase(partial, phrases),
            Completion::Kind(kind) => kind.is_complete(partial),
        }
    }
}

impl AsrWorker {
    fn start(engine: Arc<dyn SpeechEngine>, listen: Listen) -> AsrWorker {
        let (tx, rx) = std::sync::mpsc::channel::<AsrCommand>();
        let complete = Arc::new(AtomicBool::new(false));
        let flag = complete.clone();
        std::thread::spawn(move || {
            let made = match &listen {
                Listen::Open | Listen::Keys | Listen::Answer(_) => engine.open(),
                Listen::Grammar(phrases) => engine.grammar(phrases),
            };
            let completion = Completion::of(&listen);
            let mut recognizer: Box<dyn RecognizerStream> = match made {
                Ok(r) => r,
                Err(err) => {
                    warn!(error = %err, "recogniser could not be made; the turn hears nothing");
                    // Answer every Finish with the error.
                    while let Ok(cmd) = rx.recv() {
                        if let AsrCommand::Finish(reply) = cmd {
                            let _ = reply.send(Err(err));
                            return;
                        }
                    }
                    return;
                }
            };
            let mut frames = 0u32;
            while let Ok(cmd) = rx.recv() {
                match cmd {
                    AsrCommand::Audio(frame) => {
                        if let Err(err) = recognizer.accept(&frame[..]) {
                            debug!(error = %err, "recogniser rejected audio");
                        }
                        frames += 1;
                        if let Some(completion @ Completion::Phrases(_)) = &completion {
                            if frames % PARTIAL_EVERY_FRAMES == 0 {
                                let partial = recognizer.partial();
                                flag.store(completion.complete(&partial), Ordering::Release);
                            }
                        }
                    }
                    AsrCommand::IsComplete(reply) => {
                        let complete = completion
                            .as_ref()
                            .is_some_and(|c| c.complete(&recognizer.partial()));
                        let _ = reply.send(complete);
                    }
                    AsrCommand::Finish(reply) => {
                        let _ = reply.send(recognizer.finish());
                        return;
                    }
                }
            }
        });
        AsrWorker {
            commands: tx,
            complete,
        }
    }

    fn feed(&self, frame: Box<AudioFrame>) {
        let _ = self.commands.send(AsrCommand::Audio(frame));
    }

    fn answer_complete(&self) -> bool {
        self.complete.load(Ordering::Acquire)
    }

    /// Asks, after every frame fed so far, whether the answer reads complete for its kind.
    /// The verdict comes on the receiver once the worker has decoded those frames; `None`
    /// when the worker is gone (not complete).
    fn ask_complete(&self) -> Option<oneshot::Receiver<bool>> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(AsrCommand::IsComplete(tx)).ok()?;
        Some(rx)
    }

    async fn finish(self) -> Result<Utterance, AsrError> {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(AsrCommand::Finish(tx)).is_err() {
            return Ok(Utterance::default());
        }
        match tokio::time::timeout(FINISH_TIMEOUT, rx).await {
            Ok(Ok(result)) => result,
            _ => {
                warn!("recogniser did not finish in time");
                Ok(Utterance::default())
            }
        }
    }
}

fn is_whole_phrase(partial: &str, phrases: &[String]) -> bool {
    let partial = partial.trim();
    !partial.is_empty() && partial != UNKNOWN_WORD && phrases.iter().any(|p| p.trim() == partial)
}

/// A call's turn taking: holds the port for the length of the call.
pub struct Conversation {
    port: AudioPort,
    engine: Arc<dyn SpeechEngine>,
    vad: VoiceDetector,
    machine: TurnMachine,
    /// Milliseconds on the port's clock (caller frames received × 20).
    now_ms: u64,
    /// Energies of prompt frames queued but not yet sent, in play order.
    queued: VecDeque<f32>,
    /// Recent caller frames for the pre-roll.
    ring: VecDeque<(u64, Box<AudioFrame>)>,
    /// Frames of prompt audio queued to the port since the conversation began.
    pub frames_played: u64,
    ended: Option<EndReason>,
    /// Keys pressed while nothing was listening (an uninterruptible prompt, a closing
    /// message): the next turn answers with them first, so type-ahead is never lost.
    pending_digits: VecDeque<DigitEvent>,
    /// The caller's side of the call, written as it arrives (every frame, in every turn).
    recorder: Option<WavRecorder>,
    /// Why the recording stopped (or never started) before the call ended.
    recording_stopped: Option<RecordingStop>,
    /// The last turn's answer, when it ended early: the next turn hears whether it goes on.
    held: Option<HeldAnswer>,
    /// Port events taken off the port while the turn waited for the recogniser's result:
    /// the port's queue is short (2 s) and drops caller audio when full, so a recogniser
    /// that is behind must not keep the port unread. Handled first by what comes next.
    backlog: VecDeque<PortEvent>,
}

impl std::fmt::Debug for Conversation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conversation")
            .field("now_ms", &self.now_ms)
            .field("machine", &self.machine)
            .finish()
    }
}

impl Conversation {
    pub fn new(
        port: AudioPort,
        engine: Arc<dyn SpeechEngine>,
        settings: TurnSettings,
    ) -> Result<Self, TurnError> {
        Ok(Conversation {
            port,
            engine,
            vad: VoiceDetector::for_phone(settings.vad_aggressiveness)?,
            machine: TurnMachine::new(settings),
            now_ms: 0,
            queued: VecDeque::new(),
            ring: VecDeque::with_capacity(RING_FRAMES),
            frames_played: 0,
            ended: None,
            pending_digits: VecDeque::new(),
            recorder: None,
            recording_stopped: None,
            held: None,
            backlog: VecDeque::new(),
        })
    }

    /// Records the caller's audio from now on into `path` (8 kHz mono WAV), keeping
    /// `reserve` free on the data partition (refused, or stopped later, when it is reached).
    pub fn record_to(
        &mut self,
        path: &Path,
        reserve: Option<SpaceReserve>,
    ) -> Result<(), WavError> {
        match WavRecorder::create_within(path, reserve) {
            Ok(recorder) => {
                self.recorder = Some(recorder);
                Ok(())
            }
            Err(WavError::DiskReserve) => {
                self.recording_stopped = Some(RecordingStop::DiskReserve);
                Err(WavError::DiskReserve)
            }
            Err(err) => Err(err),
        }
    }

    /// Why the recording stopped (or never started) before the call ended.
    pub fn recording_stopped(&self) -> Option<RecordingStop> {
        self.recording_stopped
            .or(self.recorder.as_ref().and_then(WavRecorder::stopped))
    }

    /// Finalises the recording; `true` when a whole file was written.
    pub fn finish_recording(&mut self) -> bool {
        self.recording_stopped = self.recording_stopped();
        match self.recorder.take() {
            Some(r) => match r.close() {
                Ok(_) => true,
                Err(err) => {
                    warn!(error = %err, "recording could not be finalised");
                    false
                }
            },
            None => false,
        }
    }

    /// The no-speech (or inter-digit) timeout of the turns that follow.
    pub fn set_no_speech_timeout(&mut self, timeout: Duration) {
        self.machine
            .set_no_speech_timeout(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
    }

    fn tap(&mut self, frame: &AudioFrame) {
        if let Some(r) = self.recorder.as_mut() {
            if let Err(err) = r.append(&frame[..]) {
                warn!(error = %err, "recording stopped");
                self.recorder = None;
            }
        }
    }

    /// Milliseconds since the conversation started, on the port's frame clock.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// The call's port, lent (issue 15: a bridge relays the caller to the on-call technician
    /// while the dialog waits). What it reads meanwhile is not heard, recorded or timed here.
    pub fn port_mut(&mut self) -> &mut AudioPort {
        &mut self.port
    }

    /// The call's port, lent with a tap into the call's recording (issue 15: a bridge
    /// records what the caller hears and says meanwhile, both legs mixed). A recording the
    /// tap cannot write stops, as it does in a turn.
    pub fn lend_port(&mut self) -> (&mut AudioPort, impl FnMut(&[i16]) + Send + '_) {
        let recorder = &mut self.recorder;
        let tap = move |samples: &[i16]| {
            if let Some(r) = recorder.as_mut() {
                if let Err(err) = r.append(samples) {
                    warn!(error = %err, "recording stopped");
                    *recorder = None;
                }
            }
        };
        (&mut self.port, tap)
    }

    /// How much the call's recording holds, in ms (0 without one).
    pub fn recording_ms(&self) -> u64 {
        self.recorder.as_ref().map_or(0, WavRecorder::duration_ms)
    }

    /// The call ended while the port was lent ([`Conversation::port_mut`]).
    pub fn set_ended(&mut self, reason: EndReason) {
        self.ended = Some(reason);
    }

    /// Why the call ended, once it has.
    pub fn ended(&self) -> Option<&EndReason> {
        self.ended.as_ref()
    }

    /// Asks the port to hang up and waits (up to `grace`) for it to confirm.
    pub async fn hang_up(&mut self, grace: Duration) -> EndReason {
        if let Some(reason) = &self.ended {
            return reason.clone();
        }
        let _ = self.port.hang_up.send(true);
        let wait = async {
            loop {
                let event = match self.backlog.pop_front() {
                    Some(event) => Some(event),
                    None => self.port.events.recv().await,
                };
                match event {
                    Some(PortEvent::Ended(reason)) => return reason,
                    Some(PortEvent::Audio(frame)) => {
                        if let Some(r) = self.recorder.as_mut() {
                            let _ = r.append(&frame[..]);
                        }
                    }
                    Some(PortEvent::Digit(_)) => {}
                    None => return EndReason::LocalHangUp,
                }
            }
        };
        let reason = tokio::time::timeout(grace, wait)
            .await
            .unwrap_or(EndReason::LocalHangUp);
        self.ended = Some(reason.clone());
        reason
    }

    /// Plays `prompt` (if any) while listening, and returns the caller's answer.
    pub async fn turn(&mut self, prompt: Option<SpeechStream>, listen: &Listen) -> TurnOutcome {
        let prompt_start_ms = self.now_ms;
        let mut outcome = TurnOutcome {
            result: TurnResult::NoSpeech,
            barge_in: false,
            prompt_start_ms,
            prompt_end_ms: prompt_start_ms,
            speech_start_ms: None,
            speech_end_ms: None,
            continues: None,
            ended_early: false,
            recognition_ms: None,
        };
        // Only the turn right after an early end may continue it.
        let held = self.held.take();
        if let Some(reason) = &self.ended {
            outcome.result = TurnResult::Ended(reason.clone());
            return outcome;
        }
        if let Some(digit) = self.pending_digits.pop_front() {
            // Typed ahead: the answer is already there, the question need not be asked.
            outcome.result = TurnResult::Digit(digit);
            return outcome;
        }
        let keys_only = *listen == Listen::Keys;
        let barge_in = self.machine.barge_in_enabled();
        if keys_only {
            self.machine.set_barge_in(false);
        }
        let outcome = self
            .listen_turn(prompt, listen, outcome, keys_only, held)
            .await;
        self.machine.set_barge_in(barge_in);
        if outcome.ended_early {
            if let (TurnResult::Utterance(u), Some(end_ms)) =
                (&outcome.result, outcome.speech_end_ms)
            {
                // Kept whole (joined with what it continued) so that a second early end
                // followed by more words still yields the whole answer.
                let utterance = outcome.whole_answer().unwrap_or_else(|| u.clone());
                self.held = Some(HeldAnswer { end_ms, utterance });
            }
        }
        outcome
    }

    async fn listen_turn(
        &mut self,
        prompt: Option<SpeechStream>,
        listen: &Listen,
        mut outcome: TurnOutcome,
        keys_only: bool,
        held: Option<HeldAnswer>,
    ) -> TurnOutcome {
        let mut prompt = prompt;
        // Speech that starts within the long trailing silence of an early end (measured as
        // the endpointer would have: from the last voiced frame, hangover included) is the
        // caller going on with that answer.
        let resume_until = held.as_ref().map(|h| {
            let ep = self.machine.endpointer_config();
            h.end_ms + ep.trailing_silence_ms + ep.vad_hangover_ms
        });
        self.machine.start_turn(self.now_ms, prompt.is_some());
        // The recogniser is made now, while the prompt plays, not when the caller speaks.
        let mut asr = (!keys_only).then(|| AsrWorker::start(self.engine.clone(), listen.clone()));
        let mut feeding = false;
        // Whether the recogniser was asked about the current pause (answer turns), and its
        // verdict while it has not come.
        let mut asked = false;
        let mut verdict: Option<oneshot::Receiver<bool>> = None;
        let lead = self.machine.settings.lead_frames.max(1);

        loop {
            let want_prompt = prompt.is_some() && self.queued.len() < lead;
            tokio::select! {
                biased;
                event = next_event(&mut self.backlog, &mut self.port.events) => {
                    let event = match event {
                        Some(event) => event,
                        None => PortEvent::Ended(EndReason::TransportFailed("audio port closed".into())),
                    };
                    match event {
                        PortEvent::Audio(frame) => {
                            let at_ms = self.now_ms;
                            self.now_ms += FRAME_MS;
                            let echo_db = self.machine.expected_echo_db();
                            let caller_db = frame_energy_db(&frame[..]);
                            self.tap(&frame);
                            // An answer turn: when this frame, if silent, would reach the
                            // shorter silence, ask the recogniser (after all it has heard)
                            // whether the answer is whole; once per pause.
                            if let (Listen::Answer(_), true, Some(asr)) = (listen, feeding && outcome.continues.is_none(), &asr) {
                                let short = self.machine.endpointer_config().complete_answer_silence_ms;
                                if !asked && self.machine.silence_after(at_ms).is_some_and(|s| s >= short) {
                                    asked = true;
                                    verdict = asr.ask_complete();
                                    if let Some(rx) = verdict.as_mut() {
                                        if let Ok(answer) = tokio::time::timeout(VERDICT_WAIT, rx).await {
                                            self.machine.set_open_answer_complete(answer.unwrap_or(false));
                                            verdict = None;
                                        }
                                    }
                                } else if let Some(rx) = verdict.as_mut() {
                                    match rx.try_recv() {
                                        Ok(complete) => {
                                            self.machine.set_open_answer_complete(complete);
                                            verdict = None;
                                        }
                                        Err(oneshot::error::TryRecvError::Empty) => {}
                                        Err(oneshot::error::TryRecvError::Closed) => verdict = None,
                                    }
                                }
                            }
                            let events = self.on_caller_frame(&frame, at_ms);
                            if self.machine.silence_after(at_ms) == Some(0) {
                                // The caller is still talking: whatever was whole may not be
                                // (and a verdict still on its way is about words before these).
                                asked = false;
                                verdict = None;
                                self.machine.set_open_answer_complete(false);
                            }
                            if feeding {
                                if let Some(asr) = &asr {
                                    asr.feed(frame.clone());
                                    if matches!(listen, Listen::Grammar(_)) && outcome.continues.is_none() {
                                        self.machine.set_answer_complete(asr.answer_complete());
                                    }
                                }
                            }
                            self.remember(at_ms, frame);
                            for event in events {
                                match event {
                                    TurnEvent::BargeIn { speech_at_ms } => {
                                        self.port.playback.flush();
                                        self.queued.clear();
                                        prompt = None;
                                        outcome.barge_in = true;
                                        outcome.prompt_end_ms = self.now_ms;
                                        debug!(
                                            speech_at_ms,
                                            at_ms,
                                            caller_db,
                                            echo_db,
                                            "barge-in: playback flushed"
                                        );
                                    }
                                    TurnEvent::SpeechStarted { at_ms: start } => {
                                        outcome.speech_start_ms = Some(start);
                                        if let (Some(until), Some(h)) = (resume_until, &held) {
                                            if start <= until && !keys_only {
                                                debug!(start, until, "the caller goes on with the answer that ended early");
                                                outcome.continues = Some(h.utterance.clone());
                                                // The rest of an answer is not one of this
                                                // question's phrases: hear it openly, and
                                                // with the full silence.
                                                if !matches!(listen, Listen::Open | Listen::Answer(_)) {
                                                    asr = Some(AsrWorker::start(self.engine.clone(), Listen::Open));
                                                }
                                            }
                                        }
                                        if let Some(asr) = &asr {
                                            for (t, f) in &self.ring {
                                                if *t + PRE_ROLL_MS >= start {
                                                    asr.feed(f.clone());
                                                }
                                            }
                                        }
                                        feeding = true;
                                    }
                                    TurnEvent::SpeechEnded { .. } if keys_only => {
                                        // Nobody hears it: keep waiting for a key, with the
                                        // no-input timeout re-armed (the caller is there).
                                        self.machine.start_turn(self.now_ms, false);
                                    }
                                    TurnEvent::SpeechEnded { start_ms, end_ms, early } => {
                                        outcome.speech_start_ms = Some(start_ms);
                                        outcome.speech_end_ms = Some(end_ms);
                                        outcome.ended_early = early;
                                        let asked_at = std::time::Instant::now();
                                        let utterance = match asr.take() {
                                            Some(asr) => {
                                                let result = self.await_result(asr.finish()).await;
                                                outcome.recognition_ms = u64::try_from(asked_at.elapsed().as_millis()).ok();
                                                result
                                            }
                                            None => Ok(Utterance::default()),
                                        };
                                        outcome.result = TurnResult::Utterance(utterance.unwrap_or_else(|err| {
                                            warn!(error = %err, "recognition failed");
                                            Utterance::default()
                                        }));
                                        return self.close_turn(outcome, prompt.is_some());
                                    }
                                    TurnEvent::NoSpeech { .. } => {
                                        outcome.result = TurnResult::NoSpeech;
                                        return self.close_turn(outcome, prompt.is_some());
                                    }
                                }
                            }
                        }
                        PortEvent::Digit(digit) => {
                            outcome.result = TurnResult::Digit(digit);
                            if prompt.is_some() || !self.queued.is_empty() {
                                self.port.playback.flush();
                                self.queued.clear();
                            }
                            return self.close_turn(outcome, false);
                        }
                        PortEvent::Ended(reason) => {
                            self.ended = Some(reason.clone());
                            outcome.result = TurnResult::Ended(reason);
                            return self.close_turn(outcome, false);
                        }
                    }
                }
                next = next_prompt_frame(&mut prompt), if want_prompt => {
                    match next {
                        Some(Ok(frame)) => {
                            let energy = frame_energy_db(&frame[..]);
                            if self.port.playback.play(frame).await {
                                self.queued.push_back(energy);
                                self.frames_played += 1;
                            }
                        }
                        Some(Err(err)) => {
                            warn!(error = %err, "the prompt could not be spoken");
                            prompt = None;
                        }
                        None => prompt = None,
                    }
                }
            }
            if prompt.is_none() && self.queued.is_empty() && self.machine.is_playing() {
                self.machine.prompt_finished();
                outcome.prompt_end_ms = self.now_ms;
            }
        }
    }

    /// Plays `speech` to its end, or until the caller hangs up or (when `interruptible`)
    /// presses a key; the caller's voice does not cut it short. Keys pressed are kept for the
    /// next [`Self::turn`]. Used for uninterruptible messages (safety instructions) and the
    /// last words before hanging up.
    pub async fn say(&mut self, speech: SpeechStream, interruptible: bool) -> TurnOutcome {
        // A turn whose recogniser is never fed: ends at the prompt's end via NoSpeech timing
        // would take too long, so stop as soon as the prompt is out.
        let mut speech = Some(speech);
        let start = self.now_ms;
        let lead = self.machine.settings.lead_frames.max(1);
        let mut outcome = TurnOutcome {
            result: TurnResult::NoSpeech,
            barge_in: false,
            prompt_start_ms: start,
            prompt_end_ms: start,
            speech_start_ms: None,
            speech_end_ms: None,
            continues: None,
            ended_early: false,
            recognition_ms: None,
        };
        if let Some(reason) = &self.ended {
            outcome.result = TurnResult::Ended(reason.clone());
            return outcome;
        }
        while speech.is_some() || !self.queued.is_empty() {
            let want = speech.is_some() && self.queued.len() < lead;
            tokio::select! {
                biased;
                event = next_event(&mut self.backlog, &mut self.port.events) => match event {
                    Some(PortEvent::Audio(frame)) => {
                        self.now_ms += FRAME_MS;
                        let sent = self.queued.pop_front().unwrap_or(SILENCE_DB);
                        self.machine.on_sent(sent);
                        self.tap(&frame);
                    }
                    Some(PortEvent::Digit(digit)) => {
                        self.pending_digits.push_back(digit);
                        if interruptible {
                            outcome.result = TurnResult::Digit(digit);
                            self.port.playback.flush();
                            self.queued.clear();
                            break;
                        }
                    }
                    Some(PortEvent::Ended(reason)) => {
                        self.ended = Some(reason.clone());
                        outcome.result = TurnResult::Ended(reason);
                        break;
                    }
                    None => {
                        let reason = EndReason::TransportFailed("audio port closed".into());
                        self.ended = Some(reason.clone());
                        outcome.result = TurnResult::Ended(reason);
                        break;
                    }
                },
                next = next_prompt_frame(&mut speech), if want => match next {
                    Some(Ok(frame)) => {
                        let energy = frame_energy_db(&frame[..]);
                        if self.port.playback.play(frame).await {
                            self.queued.push_back(energy);
                            self.frames_played += 1;
                        }
                    }
                    Some(Err(err)) => {
                        warn!(error = %err, "could not speak");
                        speech = None;
                    }
                    None => speech = None,
                },
            }
        }
        outcome.prompt_end_ms = self.now_ms;
        outcome
    }

    fn on_caller_frame(&mut self, frame: &AudioFrame, at_ms: u64) -> Vec<TurnEvent> {
        let voiced = match self.vad.is_voiced(&frame[..]) {
            Ok(v) => v,
            Err(err) => {
                debug!(error = %err, "VAD rejected a frame");
                false
            }
        };
        let events = self
            .machine
            .on_caller_frame(voiced, frame_energy_db(&frame[..]), at_ms);
        // What the port sends on this tick is the oldest queued prompt frame (or silence).
        let sent = self.queued.pop_front().unwrap_or(SILENCE_DB);
        self.machine.on_sent(sent);
        events
    }

    /// Waits for the recogniser's result while keeping the port read: what arrives meanwhile
    /// goes to the backlog, handled in order by the next turn (nothing is dropped, and the
    /// conversation's clock catches up then).
    async fn await_result<T>(&mut self, result: impl std::future::Future<Output = T>) -> T {
        tokio::pin!(result);
        let mut open = true;
        loop {
            tokio::select! {
                biased;
                done = &mut result => return done,
                event = self.port.events.recv(), if open => match event {
                    Some(event) => self.backlog.push_back(event),
                    None => open = false,
                },
            }
        }
    }

    fn remember(&mut self, at_ms: u64, frame: Box<AudioFrame>) {
        if self.ring.len() == RING_FRAMES {
            self.ring.pop_front();
        }
        self.ring.push_back((at_ms, frame));
    }

    fn close_turn(&mut self, mut outcome: TurnOutcome, prompt_still_playing: bool) -> TurnOutcome {
        if prompt_still_playing || self.machine.is_playing() {
            // The caller answered before the prompt ended (only possible without a barge-in
            // event, e.g. a digit): the rest of the prompt is dropped.
            self.port.playback.flush();
            self.queued.clear();
            outcome.prompt_end_ms = self.now_ms;
        }
        self.machine.prompt_finished();
        outcome
    }
}

/// The next port event: the backlog's first.
async fn next_event(
    backlog: &mut VecDeque<PortEvent>,
    events: &mut tokio::sync::mpsc::Receiver<PortEvent>,
) -> Option<PortEvent> {
    match backlog.pop_front() {
        Some(event) => Some(event),
        None => events.recv().await,
    }
}

async fn next_prompt_frame(
    prompt: &mut Option<SpeechStream>,
) -> Option<Result<Box<AudioFrame>, crate::speech::tts::TtsError>> {
    match prompt.as_mut() {
        Some(stream) => stream.next_frame().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::speech::asr::ScriptedEngine;
    use crate::telephony::audio_port::{port_pair, PortBackend, FRAME_SAMPLES};

    fn settings() -> TurnSettings {
        TurnSettings {
            endpointer: EndpointerConfig {
                trailing_silence_ms: 300,
                short_trailing_silence_ms: 200,
                no_speech_timeout_ms: 2000,
                ..EndpointerConfig::default()
            },
            ..TurnSettings::default()
        }
    }

    /// A voiced-sounding frame: a 200 Hz fundamental with harmonics, at `level` (peak).
    fn voice_frame(index: u64, level: f64) -> Box<AudioFrame> {
        let mut frame = Box::new([0i16; FRAME_SAMPLES]);
        for (i, s) in frame.iter_mut().enumerate() {
            let t = (index as f64 * FRAME_SAMPLES as f64 + i as f64) / 8000.0;
            let v = (2.0 * std::f64::consts::PI * 200.0 * t).sin()
                + 0.6 * (2.0 * std::f64::consts::PI * 400.0 * t).sin()
                + 0.4 * (2.0 * std::f64::consts::PI * 600.0 * t).sin()
                + 0.3 * (2.0 * std::f64::consts::PI * 1100.0 * t).sin();
            *s = (v / 2.3 * level) as i16;
        }
        frame
    }

    fn scale(frame: &AudioFrame, db: f64) -> Box<AudioFrame> {
        let g = 10f64.powf(db / 20.0);
        let mut out = Box::new([0i16; FRAME_SAMPLES]);
        for (o, &s) in out.iter_mut().zip(frame.iter()) {
            *o = (f64::from(s) * g) as i16;
        }
        out
    }

    #[test]
    fn energy_of_full_scale_and_silence() {
        assert_eq!(frame_energy_db(&[0; 160]), SILENCE_DB);
        let square: Vec<i16> = (0..160)
            .map(|i| if i % 2 == 0 { 32767 } else { -32767 })
            .collect();
        assert!(frame_energy_db(&square).abs() < 0.01);
        let half: Vec<i16> = square.iter().map(|s| s / 2).collect();
        assert!((frame_energy_db(&half) + 6.02).abs() < 0.05);
    }

    #[test]
    fn echo_guard_ignores_echo_10_db_down_and_passes_louder_speech() {
        let mut guard = EchoGuard::new(6.0, 8);
        for _ in 0..8 {
            guard.on_sent(-20.0);
        }
        assert!(!guard.above_echo(-30.0), "echo 10 dB down");
        assert!(!guard.above_echo(-26.5));
        assert!(guard.above_echo(-24.0), "speech at our level minus 4 dB");
        // Once the box is quiet the window empties of its voice and anything counts.
        for _ in 0..8 {
            guard.on_sent(SILENCE_DB);
        }
        assert!(guard.above_echo(-60.0));
    }

    /// Drives the machine like the port does: each tick, one caller frame, then the frame
    /// the box sends. The box's voice comes back `echo_delay` ticks later at `echo_db`.
    fn run_machine(
        prompt_ticks: u64,
        echo_db: f64,
        echo_delay: u64,
        caller: impl Fn(u64) -> Option<Box<AudioFrame>>,
    ) -> (Vec<(u64, TurnEvent)>, TurnMachine) {
        let mut machine = TurnMachine::new(settings());
        machine.start_turn(0, true);
        let mut vad = VoiceDetector::for_phone(2).expect("vad");
        let mut sent: Vec<Box<AudioFrame>> = Vec::new();
        let mut events = Vec::new();
        for tick in 0..400u64 {
            let mut frame = Box::new([0i16; FRAME_SAMPLES]);
            if tick >= echo_delay {
                if let Some(ours) = sent.get((tick - echo_delay) as usize) {
                    frame = scale(ours, echo_db);
                }
            }
            if let Some(speech) = caller(tick) {
                for (f, s) in frame.iter_mut().zip(speech.iter()) {
                    *f = f.saturating_add(*s);
                }
            }
            let voiced = vad.is_voiced(&frame[..]).expect("frame");
            for e in machine.on_caller_frame(voiced, frame_energy_db(&frame[..]), tick * 20) {
                events.push((tick, e));
            }
            let ours = if machine.is_playing() && tick < prompt_ticks {
                voice_frame(tick, 12_000.0)
            } else {
                Box::new([0i16; FRAME_SAMPLES])
            };
            machine.on_sent(frame_energy_db(&ours[..]));
            sent.push(ours);
            if tick + 1 == prompt_ticks && machine.is_playing() {
                machine.prompt_finished();
            }
        }
        (events, machine)
    }

    #[test]
    fn echo_of_the_prompt_at_minus_10_db_does_not_barge_in() {
        for delay in [1, 2, 4, 6] {
            let (events, _) = run_machine(150, -10.0, delay, |_| None);
            assert!(
                !events.iter().any(|(_, e)| matches!(
                    e,
                    TurnEvent::BargeIn { .. } | TurnEvent::SpeechStarted { .. }
                )),
                "delay {delay}: {events:?}"
            );
        }
    }

    #[test]
    fn caller_speech_over_the_prompt_barges_in_within_100_ms() {
        // The caller starts at tick 50 (1 s in), as loud as the box, over a -10 dB echo.
        let (events, machine) = run_machine(150, -10.0, 3, |t| {
            (50..120).contains(&t).then(|| voice_frame(t * 7, 12_000.0))
        });
        let (tick, _) = events
            .iter()
            .find(|(_, e)| matches!(e, TurnEvent::BargeIn { .. }))
            .unwrap_or_else(|| panic!("no barge-in: {events:?}"));
        // Decided within 5 frames (100 ms) of the caller's first frame.
        assert!(*tick - 50 < 5, "barge-in at tick {tick}");
        assert!(machine.barged_in_at().is_some());
        assert!(events
            .iter()
            .any(|(_, e)| matches!(e, TurnEvent::SpeechEnded { .. })));
    }

    #[test]
    fn without_barge_in_the_prompt_plays_through() {
        let mut s = settings();
        s.barge_in = false;
        let mut machine = TurnMachine::new(s);
        machine.start_turn(0, true);
        for tick in 0..100u64 {
            assert!(machine.on_caller_frame(true, -10.0, tick * 20).is_empty());
            machine.on_sent(-60.0);
        }
        machine.prompt_finished();
        let mut started = false;
        for tick in 100..110u64 {
            started |= machine
                .on_caller_frame(true, -10.0, tick * 20)
                .contains(&TurnEvent::SpeechStarted { at_ms: 2000 });
        }
        assert!(started);
    }

    #[test]
    fn no_speech_timeout_runs_from_the_end_of_the_prompt() {
        let mut machine = TurnMachine::new(settings());
        machine.start_turn(0, true);
        for tick in 0..200u64 {
            assert!(
                machine
                    .on_caller_frame(false, SILENCE_DB, tick * 20)
                    .is_empty(),
                "tick {tick}"
            );
            machine.on_sent(-20.0);
        }
        machine.prompt_finished();
        let mut timeout = None;
        for tick in 200..400u64 {
            for e in machine.on_caller_frame(false, SILENCE_DB, tick * 20) {
                if let TurnEvent::NoSpeech { at_ms } = e {
                    timeout.get_or_insert(at_ms);
                }
            }
        }
        assert_eq!(timeout, Some(4000 + 2000));
    }

    /// Pretends to be the RTP session: every tick hands the conversation one caller frame,
    /// then takes one frame from playback. Returns the frames the "wire" carried.
    async fn drive_port(
        mut backend: PortBackend,
        ticks: u64,
        caller: impl Fn(u64, &[Box<AudioFrame>]) -> Box<AudioFrame>,
    ) -> Vec<Box<AudioFrame>> {
        let mut wire = Vec::new();
        for tick in 0..ticks {
            let frame = caller(tick, &wire);
            if backend.events.send(PortEvent::Audio(frame)).await.is_err() {
                break;
            }
            // Let the conversation react to the frame before the port's send.
            for _ in 0..20 {
                tokio::task::yield_now().await;
            }
            wire.push(
                backend
                    .playback
                    .next_frame()
                    .unwrap_or_else(|| Box::new([0i16; FRAME_SAMPLES])),
            );
        }
        let _ = backend
            .events
            .send(PortEvent::Ended(EndReason::RemoteHangUp))
            .await;
        wire
    }

    /// The task standing in for the RTP session ([`drive_port`]): the frames the wire carried.
    type Driver = tokio::task::JoinHandle<Vec<Box<AudioFrame>>>;

    /// A conversation on a fresh port, its "RTP session" [`drive_port`] for `ticks`.
    fn driven(
        engine: Arc<dyn SpeechEngine>,
        settings: TurnSettings,
        ticks: u64,
        caller: impl Fn(u64, &[Box<AudioFrame>]) -> Box<AudioFrame> + Send + 'static,
    ) -> (Conversation, Driver) {
        let (port, backend) = port_pair();
        let conv = Conversation::new(port, engine, settings).expect("conversation");
        (conv, tokio::spawn(drive_port(backend, ticks, caller)))
    }

    /// Ends the conversation and returns the frames the wire carried.
    async fn hang_up(conv: Conversation, driver: Driver) -> Vec<Box<AudioFrame>> {
        drop(conv);
        driver.await.expect("driver")
    }

    fn long_prompt() -> SpeechStream {
        let samples: Vec<i16> = (0..250u64)
            .flat_map(|i| voice_frame(i, 12_000.0).to_vec())
            .collect();
        SpeechStream::from_samples(Arc::from(samples))
    }

    #[tokio::test]
    async fn conversation_stops_playback_within_5_frames_of_barge_in_and_recognises() {
        let engine = Arc::new(ScriptedEngine::new(["yes"]));
        let (mut conv, driver) = driven(engine, settings(), 300, |tick, wire| {
            // Echo of the box 2 ticks later at -10 dB, plus the caller from tick 50 to 100.
            let mut f = match tick.checked_sub(2).and_then(|t| wire.get(t as usize)) {
                Some(ours) => scale(ours, -10.0),
                None => Box::new([0i16; FRAME_SAMPLES]),
            };
            if (50..100).contains(&tick) {
                for (a, b) in f.iter_mut().zip(voice_frame(tick * 3, 14_000.0).iter()) {
                    *a = a.saturating_add(*b);
                }
            }
            f
        });
        let outcome = conv
            .turn(
                Some(long_prompt()),
                &Listen::Grammar(vec!["yes".into(), "no".into()]),
            )
            .await;
        assert!(outcome.barge_in, "{outcome:?}");
        match &outcome.result {
            TurnResult::Utterance(u) => assert_eq!(u.text, "yes"),
            other => panic!("{other:?}"),
        }
        let wire = hang_up(conv, driver).await;
        // Prompt audio on the wire after the caller's first frame (tick 50): at most 5 frames.
        let loud_after: Vec<usize> = wire
            .iter()
            .enumerate()
            .skip(50)
            .filter(|(_, f)| frame_energy_db(&f[..]) > -40.0)
            .map(|(i, _)| i)
            .collect();
        let last = loud_after.last().copied().unwrap_or(50);
        assert!(
            last < 55,
            "prompt still on the wire at tick {last}: {loud_after:?}"
        );
    }

    #[tokio::test]
    async fn conversation_echo_alone_lets_the_prompt_finish() {
        let engine = Arc::new(ScriptedEngine::new(Vec::<String>::new()));
        let (mut conv, driver) = driven(engine, settings(), 420, |tick, wire| {
            match tick.checked_sub(2).and_then(|t| wire.get(t as usize)) {
                Some(ours) => scale(ours, -10.0),
                None => Box::new([0i16; FRAME_SAMPLES]),
            }
        });
        let outcome = conv.turn(Some(long_prompt()), &Listen::Open).await;
        assert!(!outcome.barge_in, "{outcome:?}");
        assert_eq!(outcome.result, TurnResult::NoSpeech);
        assert_eq!(conv.frames_played, 250);
        let wire = hang_up(conv, driver).await;
        let loud = wire
            .iter()
            .filter(|f| frame_energy_db(&f[..]) > -40.0)
            .count();
        assert_eq!(loud, 250, "the whole prompt went out");
    }

    #[tokio::test]
    async fn a_digit_ends_the_turn_at_once() {
        let (port, mut backend) = port_pair();
        let engine = Arc::new(ScriptedEngine::new(Vec::<String>::new()));
        let mut conv = Conversation::new(port, engine, settings()).expect("conversation");
        let turn = tokio::spawn(async move {
            let outcome = conv.turn(Some(long_prompt()), &Listen::Open).await;
            (outcome, conv)
        });
        for _ in 0..5 {
            backend
                .events
                .send(PortEvent::Audio(Box::new([0i16; FRAME_SAMPLES])))
                .await
                .expect("send");
            tokio::task::yield_now().await;
            let _ = backend.playback.next_frame();
        }
        let digit = DigitEvent {
            digit: '1',
            source: crate::telephony::audio_port::DigitSource::Rfc4733,
            at_ms: 100,
            duration_ms: 100,
        };
        backend
            .events
            .send(PortEvent::Digit(digit))
            .await
            .expect("send");
        let (outcome, _conv) = turn.await.expect("turn");
        assert_eq!(outcome.result, TurnResult::Digit(digit));
        // The rest of the prompt was dropped.
        assert!(backend.playback.next_frame().is_none());
    }

    /// A recogniser whose partial result is a fixed text once it has heard audio, and whose
    /// final result is another: enough to drive the answer rules through the turn loop.
    /// Open and grammar recognisers come from separate queues (they are made on worker
    /// threads, in no fixed order).
    struct PartialEngine {
        open: std::sync::Mutex<VecDeque<(String, String)>>,
        grammar: std::sync::Mutex<VecDeque<(String, String)>>,
        /// How long reading the partial result takes (a recogniser behind real time).
        partial_delay: Duration,
    }

    impl PartialEngine {
        fn new(open: &[(&str, &str)], grammar: &[(&str, &str)]) -> Arc<Self> {
            let q = |v: &[(&str, &str)]| {
                std::sync::Mutex::new(
                    v.iter()
                        .map(|(p, f)| (p.to_string(), f.to_string()))
                        .collect(),
                )
            };
            Arc::new(PartialEngine {
                open: q(open),
                grammar: q(grammar),
                partial_delay: Duration::ZERO,
            })
        }

        /// The same, with a recogniser that takes `delay` to read its partial result.
        fn behind(open: &[(&str, &str)], delay: Duration) -> Arc<Self> {
            let mut engine = Self::new(open, &[]);
            if let Some(e) = Arc::get_mut(&mut engine) {
                e.partial_delay = delay;
            }
            engine
        }

        fn stream(&self, queue: &std::sync::Mutex<VecDeque<(String, String)>>) -> PartialStream {
            let (partial, last) = queue
                .lock()
                .ok()
                .and_then(|mut q| q.pop_front())
                .unwrap_or_default();
            PartialStream {
                partial,
                last,
                heard: false,
                delay: self.partial_delay,
            }
        }
    }

    struct PartialStream {
        partial: String,
        last: String,
        heard: bool,
        delay: Duration,
    }

    impl RecognizerStream for PartialStream {
        fn accept(&mut self, _: &[i16]) -> Result<crate::speech::asr::Progress, AsrError> {
            self.heard = true;
            Ok(crate::speech::asr::Progress::Running)
        }
        fn partial(&mut self) -> String {
            std::thread::sleep(self.delay);
            if self.heard {
                self.partial.clone()
            } else {
                String::new()
            }
        }
        fn finish(&mut self) -> Result<Utterance, AsrError> {
            Ok(Utterance {
                text: self.last.clone(),
                words: Vec::new(),
                confidence: 0.9,
            })
        }
    }

    impl SpeechEngine for PartialEngine {
        fn open(&self) -> Result<Box<dyn RecognizerStream>, AsrError> {
            Ok(Box::new(self.stream(&self.open)))
        }
        fn grammar(&self, _: &[String]) -> Result<Box<dyn RecognizerStream>, AsrError> {
            Ok(Box::new(self.stream(&self.grammar)))
        }
    }

    fn answer_settings() -> TurnSettings {
        TurnSettings {
            endpointer: EndpointerConfig {
                trailing_silence_ms: 300,
                short_trailing_silence_ms: 200,
                complete_answer_silence_ms: 100,
                no_speech_timeout_ms: 2000,
                ..EndpointerConfig::default()
            },
            ..TurnSettings::default()
        }
    }

    /// The caller talks on ticks in `spans` (no echo: the box's prompt is not returned).
    fn caller_in(
        spans: &'static [(u64, u64)],
    ) -> impl Fn(u64, &[Box<AudioFrame>]) -> Box<AudioFrame> {
        move |tick, _| {
            if spans.iter().any(|(a, b)| (*a..*b).contains(&tick)) {
                voice_frame(tick * 3, 14_000.0)
            } else {
                Box::new([0i16; FRAME_SAMPLES])
            }
        }
    }

    #[tokio::test]
    async fn a_complete_answer_ends_on_the_short_silence_an_incomplete_one_waits() {
        // Complete ZIP: the turn ends 100 ms (plus the VAD's hangover) after the speech.
        let engine = PartialEngine::new(&[("six two seven oh four", "six two seven oh four")], &[]);
        let (mut conv, driver) = driven(engine, answer_settings(), 200, caller_in(&[(10, 60)]));
        let outcome = conv.turn(None, &Listen::Answer(AnswerKind::Zip)).await;
        let end = outcome.speech_end_ms.expect("speech end");
        assert!(outcome.ended_early, "{outcome:?}");
        let early_wait = conv.now_ms() - end;
        hang_up(conv, driver).await;

        // Three digits of five: the full 300 ms.
        let engine = PartialEngine::new(&[("six two seven", "six two seven")], &[]);
        let (mut conv, driver) = driven(engine, answer_settings(), 200, caller_in(&[(10, 60)]));
        let outcome = conv.turn(None, &Listen::Answer(AnswerKind::Zip)).await;
        let end = outcome.speech_end_ms.expect("speech end");
        assert!(!outcome.ended_early, "{outcome:?}");
        let full_wait = conv.now_ms() - end;
        hang_up(conv, driver).await;

        // Same audio, same VAD: the difference is the two silences (300 - 100 ms).
        assert_eq!(full_wait - early_wait, 200, "{early_wait} vs {full_wait}");
    }

    #[tokio::test]
    async fn a_recogniser_behind_real_time_never_stalls_the_media_loop() {
        // A whole ZIP, but the recogniser takes 1.5 s to say so (it is decoding a backlog):
        // the loop waits one frame for the verdict, counts the answer not complete, and the
        // turn ends on the full silence, on time on the port's clock. (Before, the loop
        // waited for the verdict — up to 10 s — and no caller frame was read meanwhile.)
        let wait = |engine: Arc<PartialEngine>| async move {
            let (port, backend) = port_pair();
            let mut conv =
                Conversation::new(port, engine, answer_settings()).expect("conversation");
            let driver = tokio::spawn(drive_port(backend, 200, caller_in(&[(10, 60)])));
            let outcome = conv.turn(None, &Listen::Answer(AnswerKind::Zip)).await;
            let end = outcome.speech_end_ms.expect("speech end");
            let waited = conv.now_ms() - end;
            drop(conv);
            driver.await.expect("driver");
            (outcome, waited)
        };
        let (behind, waited) = wait(PartialEngine::behind(
            &[("six two seven oh four", "six two seven oh four")],
            Duration::from_millis(1500),
        ))
        .await;
        assert!(!behind.ended_early, "{behind:?}");
        // The result waited for the recogniser's backlog (its slow partial), and says so.
        assert!(
            behind.recognition_ms.is_some_and(|ms| ms >= 1000),
            "{behind:?}"
        );
        match &behind.result {
            TurnResult::Utterance(u) => assert_eq!(u.text, "six two seven oh four"),
            other => panic!("{other:?}"),
        }
        // The endpointer went on counting the caller's frames: the turn waited exactly the
        // full silence, as for an answer that is not whole (three digits of five).
        let (_, incomplete) = wait(PartialEngine::new(
            &[("six two seven", "six two seven")],
            &[],
        ))
        .await;
        assert_eq!(waited, incomplete);
    }

    #[tokio::test]
    async fn waiting_for_a_recogniser_behind_real_time_drops_no_caller_audio() {
        // The port drops caller frames when its short queue is full, as the media session
        // does (try_send). The recogniser takes a second over its result; meanwhile the
        // caller goes on to the next answer. Every frame is kept, and the next turn hears it.
        let (port, mut backend) = port_pair();
        let engine = PartialEngine::behind(
            &[
                ("six two seven", "six two seven oh four"),
                ("six two seven", "five five"),
            ],
            Duration::from_millis(1000),
        );
        let mut conv = Conversation::new(port, engine, answer_settings()).expect("conversation");
        let caller = caller_in(&[(10, 60), (100, 140)]);
        let driver = tokio::spawn(async move {
            let mut dropped = 0;
            for tick in 0..300 {
                let frame = caller(tick, &[]);
                if let Err(tokio::sync::mpsc::error::TrySendError::Full(_)) =
                    backend.events.try_send(PortEvent::Audio(frame))
                {
                    dropped += 1;
                }
                // Faster than the wire (2 ms a frame) but slower than the conversation
                // handles a frame, as the wire is: only a conversation that stops reading
                // the port fills its queue.
                tokio::time::sleep(Duration::from_millis(2)).await;
                let _ = backend.playback.next_frame();
            }
            let _ = backend
                .events
                .send(PortEvent::Ended(EndReason::RemoteHangUp))
                .await;
            dropped
        });
        let first = conv.turn(None, &Listen::Answer(AnswerKind::Zip)).await;
        match &first.result {
            TurnResult::Utterance(u) => assert_eq!(u.text, "six two seven oh four"),
            other => panic!("{other:?}"),
        }
        assert!(
            first.recognition_ms.is_some_and(|ms| ms >= 900),
            "{first:?}"
        );
        let second = conv.turn(None, &Listen::Answer(AnswerKind::Zip)).await;
        match &second.result {
            TurnResult::Utterance(u) => assert_eq!(u.text, "five five"),
            other => panic!("{other:?}"),
        }
        // On the port's clock, where the caller said it.
        assert!(
            second
                .speech_start_ms
                .is_some_and(|ms| (1900..=2100).contains(&ms)),
            "{second:?}"
        );
        drop(conv);
        assert_eq!(driver.await.expect("driver"), 0, "caller frames dropped");
    }

    #[tokio::test]
    async fn an_incomplete_answer_rides_over_a_pause_inside_it() {
        // "one twenty three … maple street" with a 240 ms pause: the partial before the pause
        // is not a street, so the long silence holds and it is one utterance.
        let engine = PartialEngine::new(
            &[("one twenty three", "one twenty three maple street")],
            &[],
        );
        let (mut conv, driver) = driven(
            engine,
            answer_settings(),
            200,
            caller_in(&[(10, 40), (52, 80)]),
        );
        let outcome = conv
            .turn(None, &Listen::Answer(AnswerKind::StreetAddress))
            .await;
        assert!(!outcome.ended_early);
        assert!(
            outcome.speech_end_ms.expect("end") >= 80 * 20 - 100,
            "{outcome:?}"
        );
        match &outcome.result {
            TurnResult::Utterance(u) => assert_eq!(u.text, "one twenty three maple street"),
            other => panic!("{other:?}"),
        }
        hang_up(conv, driver).await;
    }

    #[tokio::test]
    async fn a_caller_cut_off_who_goes_on_is_heard_as_the_rest_of_the_answer() {
        // "one twenty three maple street" reads complete and ends early; the caller goes on
        // ("apartment four") 240 ms after, over the next question (a yes/no grammar turn).
        let engine = PartialEngine::new(
            &[
                (
                    "one twenty three maple street",
                    "one twenty three maple street",
                ),
                ("apartment four", "apartment four"),
            ],
            // A yes/no grammar hears "apartment four" as nothing it knows.
            &[("", "[unk]")],
        );
        let (mut conv, driver) = driven(
            engine,
            answer_settings(),
            300,
            caller_in(&[(10, 60), (72, 100)]),
        );
        let first = conv
            .turn(None, &Listen::Answer(AnswerKind::StreetAddress))
            .await;
        assert!(first.ended_early, "{first:?}");
        assert!(conv.now_ms() < 72 * 20, "ended before the caller went on");
        let second = conv
            .turn(
                Some(long_prompt()),
                &Listen::Grammar(vec!["yes".into(), "no".into()]),
            )
            .await;
        assert!(second.barge_in, "{second:?}");
        let before = second.continues.as_ref().expect("continues the answer");
        assert_eq!(before.text, "one twenty three maple street");
        match &second.result {
            TurnResult::Utterance(u) => assert_eq!(u.text, "apartment four"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            second.whole_answer().map(|u| u.text),
            Some("one twenty three maple street apartment four".to_string())
        );
        // The rest was heard with the full silence: not ended early again.
        assert!(!second.ended_early);
        hang_up(conv, driver).await;
    }

    #[tokio::test]
    async fn speech_long_after_an_early_end_is_a_new_answer() {
        let engine = PartialEngine::new(
            &[
                (
                    "one twenty three maple street",
                    "one twenty three maple street",
                ),
                ("yes", "yes"),
            ],
            &[],
        );
        // The caller answers the next question 1.2 s after the first answer.
        let (mut conv, driver) = driven(
            engine,
            answer_settings(),
            300,
            caller_in(&[(10, 60), (120, 140)]),
        );
        let first = conv
            .turn(None, &Listen::Answer(AnswerKind::StreetAddress))
            .await;
        assert!(first.ended_early);
        let second = conv.turn(None, &Listen::Answer(AnswerKind::YesNo)).await;
        assert_eq!(second.continues, None, "{second:?}");
        assert_eq!(
            second.whole_answer().map(|u| u.text),
            Some("yes".to_string())
        );
        hang_up(conv, driver).await;
    }
}
