//! Survey calls over the shop's own line: [`LineSurveyCaller`] implements the survey's
//! [`SurveyCaller`] with telephony's outbound calls, the box's voice and
//! `crate::dialog::survey::SurveyScript`.
//!
//! One survey call: wait while a caller is on the one line (like a page call), dial, run the
//! script on the call's audio port — each line in the box's voice, the rating by keypad
//! (RFC 4733, SIP INFO or in-band digits all arrive as the port's digits; a key pressed while
//! the box speaks counts at once) — then hang up and return what came of it.
//!
//! With a speech model loaded ([`LineSurveyCaller::with_speech`]: the same engine and turn
//! settings as inbound calls) the call runs on `crate::speech::turn::Conversation`, like the
//! dialog: the rating is a grammar turn (the model's [`RatingWords`]; a key still answers at
//! once, and the caller may talk over the question), then the optional comment is an open
//! turn whose transcript becomes the job note's comment. Without one the script is the
//! keypad-only one: no spoken rating, no comment asked for.

use crate::app::pager::{play_one, CallingOut, PagerSettings};
use crate::dialog::engine::Language;
use crate::dialog::survey::{RatingWords, SurveyAction, SurveyInput, SurveyResult, SurveyScript};
use crate::servicetitan::survey::{
    SurveyCallFuture, SurveyCallOutcome, SurveyCallRequest, SurveyCaller,
};
use crate::speech::asr::SpeechEngine;
use crate::speech::pool::SpokenCalls;
use crate::speech::tts::SpeechStream;
use crate::speech::turn::{Conversation, Listen, TurnResult, TurnSettings};
use crate::telephony::audio_port::{AudioFrame, AudioPort, PortEvent};
use crate::telephony::line::DialFailure;
use crate::trade::redact;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tracing::{info, warn};

/// How long the customer has to start a comment once asked.
const COMMENT_START_WAIT: Duration = Duration::from_secs(6);
/// How long the box waits for the port to confirm its hang-up.
const HANG_UP_GRACE: Duration = Duration::from_secs(2);

/// Hearing on a survey call: the loaded speech model and the inbound calls' turn settings,
/// and how the model's language says a rating.
#[derive(Clone)]
pub struct SurveySpeech {
    pub engine: Arc<dyn SpeechEngine>,
    pub turn: TurnSettings,
    pub words: RatingWords,
    /// The inbound calls' count of calls with speech: a survey call over it is keypad-only.
    pub spoken_calls: SpokenCalls,
}

impl std::fmt::Debug for SurveySpeech {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SurveySpeech")
            .field("words", &self.words)
            .finish_non_exhaustive()
    }
}

/// The [`SurveyCaller`] over the shop's line. Paced like the pager (`line_wait`, `line_poll`;
/// the script sets its own listening times).
#[derive(Debug, Clone)]
pub struct LineSurveyCaller {
    out: CallingOut,
    settings: PagerSettings,
    speech: Option<SurveySpeech>,
    /// `[survey] language`: the script's prompts and rating words (the voice in `out` and
    /// the engine in `speech` are the language's own).
    language: Language,
}

impl LineSurveyCaller {
    /// A keypad-only caller (no speech model).
    pub fn new(out: CallingOut, settings: PagerSettings) -> Self {
        LineSurveyCaller {
            out,
            settings,
            speech: None,
            language: Language::English,
        }
    }

    /// Calls in `language` (`CallingOut`'s voice and the speech engine must speak and hear it).
    pub fn with_language(mut self, language: Language) -> Self {
        self.language = language;
        self
    }

    /// Rating by voice or keypad, and a spoken comment, heard by `speech`.
    pub fn with_speech(mut self, speech: SurveySpeech) -> Self {
        self.speech = Some(speech);
        self
    }

    /// One call's script: in the caller's language, by voice with the model's rating words
    /// or keypad-only.
    fn script(&self, shop_name: &str, speech: Option<&SurveySpeech>) -> SurveyScript {
        match speech {
            Some(speech) => SurveyScript::new(shop_name)
                .in_language(self.language)
                .with_words(speech.words.clone()),
            None => SurveyScript::keypad_only(shop_name).in_language(self.language),
        }
    }

    async fn survey_call(&self, request: &SurveyCallRequest) -> SurveyCallOutcome {
        let to = redact::number(Some(&request.to));
        let job = request.job_id;
        if !self
            .out
            .wait_for_line(self.settings.line_wait, self.settings.line_poll)
            .await
        {
            warn!(job, "the line stayed busy; survey call not placed");
            return failed("the line stayed busy".into());
        }
        // Speech if the memory holds one more call with it (held to the end of the call; taken
        // once the line is free, so a survey waiting for it keeps no caller from speech).
        let spoken =
            self.speech
                .as_ref()
                .and_then(|speech| match speech.spoken_calls.try_admit() {
                    Ok(permit) => Some((speech, permit)),
                    Err(refused) => {
                        warn!(
                        job,
                        limit = refused.limit,
                        "memory holds speech for no more calls now: this survey call is keypad-only"
                    );
                        None
                    }
                });
        let speech = spoken.as_ref().map(|(speech, _)| *speech);
        let mut script = self.script(&request.shop_name, speech);
        let mut actions = script.start();
        // The opening is rendered before dialling: the customer must not answer into silence.
        let mut opening = None;
        if let Some(SurveyAction::Say(text)) = actions.first() {
            match self.out.render(text).await {
                Ok(frames) => opening = Some(frames),
                Err(err) => return failed(err.to_string()),
            }
            actions.remove(0);
        }
        info!(job, %to, "survey call: dialling");
        let call = match self.out.line.dial(&request.to).await {
            Ok(call) => call,
            Err(failure) => {
                info!(job, %to, %failure, "survey call not answered");
                return dial_outcome(&failure);
            }
        };
        let mut port = call.port;
        if let Some(speech) = speech {
            self.spoken(port, speech, &mut script, actions, opening, job)
                .await;
            return outcome_of(&script, job, &to);
        }
        // A key pressed (or a hang-up) while the box speaks: the answer to the next listen.
        let mut early = match opening {
            Some(frames) => say(&mut port, &frames).await,
            None => None,
        };
        let mut hung_up = matches!(early, Some(SurveyInput::HungUp));
        while !actions.is_empty() {
            let mut next = Vec::new();
            for action in actions {
                match action {
                    SurveyAction::Say(text) => {
                        if hung_up || early.is_some() {
                            continue;
                        }
                        match self.out.render(&text).await {
                            Ok(frames) => early = say(&mut port, &frames).await,
                            Err(err) => warn!(job, "survey call: {err}"),
                        }
                        hung_up = matches!(early, Some(SurveyInput::HungUp));
                    }
                    SurveyAction::ListenRating { timeout } => {
                        let input = match early.take() {
                            Some(input) => input,
                            None => listen(&mut port, timeout).await,
                        };
                        hung_up = input == SurveyInput::HungUp;
                        next = script.handle(input);
                        break;
                    }
                    // The keypad-only script asks for no comment; nothing would hear one.
                    SurveyAction::ListenComment { .. } => {
                        next = script.handle(early.take().unwrap_or(SurveyInput::NoInput));
                        break;
                    }
                    SurveyAction::Hangup => break,
                }
            }
            actions = next;
        }
        let _ = port.hang_up.send(true);
        outcome_of(&script, job, &to)
    }

    /// The script on the call's audio through the speech layer: each `Say` waits for the
    /// next turn (its prompt, which the customer may cut short by voice or key) or for the
    /// hang-up.
    async fn spoken(
        &self,
        port: AudioPort,
        speech: &SurveySpeech,
        script: &mut SurveyScript,
        mut actions: Vec<SurveyAction>,
        opening: Option<Vec<AudioFrame>>,
        job: i64,
    ) {
        let mut conversation = match Conversation::new(port, speech.engine.clone(), speech.turn) {
            Ok(c) => c,
            Err(err) => {
                // The port is gone with the error: the call ends with no rating.
                warn!(job, "survey call: no turn taking: {err}");
                script.handle(SurveyInput::HungUp);
                return;
            }
        };
        let grammar = Listen::Grammar(script.rating_grammar());
        let mut pending: Vec<SpeechStream> = opening.into_iter().map(stream_of).collect();
        loop {
            let mut next = None;
            for action in actions {
                match action {
                    SurveyAction::Say(text) => match self.out.render(&text).await {
                        Ok(frames) => pending.push(stream_of(frames)),
                        Err(err) => warn!(job, "survey call: {err}"),
                    },
                    SurveyAction::ListenRating { timeout } => {
                        conversation.set_no_speech_timeout(timeout);
                        let outcome = conversation.turn(chained(&mut pending), &grammar).await;
                        next = Some(script.handle(input_of(outcome.result)));
                        break;
                    }
                    SurveyAction::ListenComment { .. } => {
                        // The comment's length is bounded by the endpointer's longest utterance.
                        conversation.set_no_speech_timeout(COMMENT_START_WAIT);
                        let outcome = conversation
                            .turn(chained(&mut pending), &Listen::Open)
                            .await;
                        next = Some(script.handle(input_of(outcome.result)));
                        break;
                    }
                    SurveyAction::Hangup => break,
                }
            }
            match next {
                Some(actions_next) => actions = actions_next,
                None => break,
            }
        }
        if let Some(goodbye) = chained(&mut pending) {
            conversation.say(goodbye, false).await;
        }
        conversation.hang_up(HANG_UP_GRACE).await;
    }
}

fn outcome_of(script: &SurveyScript, job: i64, to: &str) -> SurveyCallOutcome {
    let outcome = match script.result() {
        Some(SurveyResult::Rated { rating, comment }) => SurveyCallOutcome::Rated {
            rating: *rating,
            comment: comment.clone(),
        },
        Some(SurveyResult::NeverCallAgain) => SurveyCallOutcome::NeverCallAgain,
        Some(SurveyResult::NoRating) | None => SurveyCallOutcome::NoRating,
    };
    // The comment is the customer's words: the log says only whether there was one.
    let commented = matches!(
        &outcome,
        SurveyCallOutcome::Rated {
            comment: Some(_),
            ..
        }
    );
    let rating = match &outcome {
        SurveyCallOutcome::Rated { rating, .. } => Some(*rating),
        _ => None,
    };
    info!(job, %to, ?rating, commented, "survey call answered");
    outcome
}

/// Rendered frames as a prompt the conversation can play (and cut short).
fn stream_of(frames: Vec<AudioFrame>) -> SpeechStream {
    SpeechStream::from_samples(frames.iter().flatten().copied().collect())
}

/// The prompts said since the last turn, as one stream; `None` when there are none.
fn chained(pending: &mut Vec<SpeechStream>) -> Option<SpeechStream> {
    (!pending.is_empty()).then(|| SpeechStream::chain(pending.drain(..)))
}

/// How a turn ended, as the script's input: an empty or `[unk]` result is a miss (heard,
/// nothing understood), not silence.
fn input_of(result: TurnResult) -> SurveyInput {
    match result {
        TurnResult::Utterance(u) if u.is_empty_or_unknown() => SurveyInput::Heard(String::new()),
        TurnResult::Utterance(u) => SurveyInput::Heard(u.text),
        TurnResult::Digit(d) => SurveyInput::Digit(d.digit),
        TurnResult::NoSpeech => SurveyInput::NoInput,
        TurnResult::Ended(_) => SurveyInput::HungUp,
    }
}

impl SurveyCaller for LineSurveyCaller {
    fn call<'a>(&'a self, request: &'a SurveyCallRequest) -> SurveyCallFuture<'a> {
        Box::pin(self.survey_call(request))
    }
}

fn failed(reason: String) -> SurveyCallOutcome {
    SurveyCallOutcome::Failed { reason }
}

/// What a survey call that was not answered comes to (a decline is tried again like a
/// missed call, within the survey's attempts).
fn dial_outcome(failure: &DialFailure) -> SurveyCallOutcome {
    match failure {
        DialFailure::Busy(_) => SurveyCallOutcome::Busy,
        DialFailure::Declined(_) | DialFailure::NoAnswer => SurveyCallOutcome::NoAnswer,
        other => failed(other.to_string()),
    }
}

/// Plays `frames` and lets the port's queue play out; a key or the end of the call cuts it
/// short and is returned.
async fn say(port: &mut AudioPort, frames: &[AudioFrame]) -> Option<SurveyInput> {
    let mut next = 0;
    let mut drained: Option<Instant> = None;
    loop {
        if next == frames.len() && drained.is_none() {
            // The port holds up to half a second of audio.
            drained = Some(Instant::now() + Duration::from_millis(500));
        }
        let until = drained.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            played = play_one(&port.playback, frames.get(next).map(|f| Box::new(*f))),
                if next < frames.len() =>
            {
                if !played {
                    return Some(SurveyInput::HungUp);
                }
                next += 1;
            }
            event = port.events.recv() => match heard(event) {
                Some(input) => {
                    port.playback.flush();
                    return Some(input);
                }
                None => continue,
            },
            () = tokio::time::sleep_until(until), if drained.is_some() => return None,
        }
    }
}

/// Waits up to `timeout` for a key; the end of the call is a hang-up.
async fn listen(port: &mut AudioPort, timeout: Duration) -> SurveyInput {
    let until = Instant::now() + timeout;
    loop {
        tokio::select! {
            event = port.events.recv() => {
                if let Some(input) = heard(event) {
                    return input;
                }
            }
            () = tokio::time::sleep_until(until) => return SurveyInput::NoInput,
        }
    }
}

/// What a port event is to the script: a key, the end of the call, or nothing (audio).
fn heard(event: Option<PortEvent>) -> Option<SurveyInput> {
    match event {
        Some(PortEvent::Digit(d)) => Some(SurveyInput::Digit(d.digit)),
        Some(PortEvent::Audio(_)) => None,
        Some(PortEvent::Ended(_)) | None => Some(SurveyInput::HungUp),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telephony::audio_port::{port_pair, DigitEvent, DigitSource, EndReason};

    fn digit(d: char) -> PortEvent {
        PortEvent::Digit(DigitEvent {
            digit: d,
            source: DigitSource::Rfc4733,
            at_ms: 0,
            duration_ms: 100,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_while_the_box_speaks_cuts_it_short() {
        let (mut port, backend) = port_pair();
        backend.events.send(digit('4')).await.expect("digit");
        let frames = vec![[0i16; crate::telephony::audio_port::FRAME_SAMPLES]; 500];
        let started = Instant::now();
        assert_eq!(say(&mut port, &frames).await, Some(SurveyInput::Digit('4')));
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn silence_then_a_hang_up() {
        let (mut port, backend) = port_pair();
        assert_eq!(
            listen(&mut port, Duration::from_secs(8)).await,
            SurveyInput::NoInput
        );
        backend
            .events
            .send(PortEvent::Ended(EndReason::RemoteHangUp))
            .await
            .expect("ended");
        assert_eq!(
            listen(&mut port, Duration::from_secs(8)).await,
            SurveyInput::HungUp
        );
    }

    #[test]
    fn unanswered_calls_are_tried_again_busy_is_busy() {
        assert_eq!(
            dial_outcome(&DialFailure::Busy(486)),
            SurveyCallOutcome::Busy
        );
        assert_eq!(
            dial_outcome(&DialFailure::Declined(603)),
            SurveyCallOutcome::NoAnswer
        );
        assert!(matches!(
            dial_outcome(&DialFailure::Refused(404)),
            SurveyCallOutcome::Failed { .. }
        ));
    }

    /// `[survey] language = "es"` reaches each call's script: Spanish prompts, and the
    /// Spanish rating words as the grammar when a (Spanish) model hears the call.
    #[test]
    fn a_spanish_caller_places_spanish_surveys() {
        use crate::app::pager::OutboundLine;
        use crate::speech::asr::ScriptedEngine;
        use crate::speech::tts::EspeakVoice;

        let out = || {
            CallingOut::new(
                OutboundLine::new(),
                Arc::new(EspeakVoice::new("espeak-ng", "es", 175, 0.0)),
                Arc::new(|| false),
            )
        };
        let spanish = LineSurveyCaller::new(out(), PagerSettings::default())
            .with_language(Language::Spanish)
            .with_speech(SurveySpeech {
                engine: Arc::new(ScriptedEngine::new(Vec::<String>::new())),
                turn: TurnSettings::default(),
                words: RatingWords::of(Language::Spanish),
                spoken_calls: SpokenCalls::unlimited(),
            });
        let mut script = spanish.script("Acme", spanish.speech.as_ref());
        assert_eq!(script.language(), Language::Spanish);
        assert!(script.rating_grammar().contains(&"cinco".to_string()));
        let opening = format!("{:?}", script.start());
        assert!(opening.contains("Oprima o diga un número"), "{opening}");

        let keyed =
            LineSurveyCaller::new(out(), PagerSettings::default()).with_language(Language::Spanish);
        let opening = format!("{:?}", keyed.script("Acme", None).start());
        assert!(opening.contains("Oprima un número"), "{opening}");
        let english = LineSurveyCaller::new(out(), PagerSettings::default());
        let opening = format!("{:?}", english.script("Acme", None).start());
        assert!(opening.contains("Press a number"), "{opening}");
    }

    /// A loud voiced frame (a 200 Hz fundamental with harmonics): speech to the VAD, above
    /// the echo guard while the box talks.
    fn voiced(index: u64) -> Box<AudioFrame> {
        use crate::telephony::audio_port::FRAME_SAMPLES;
        let mut frame = Box::new([0i16; FRAME_SAMPLES]);
        for (i, s) in frame.iter_mut().enumerate() {
            let t = (index as f64 * FRAME_SAMPLES as f64 + i as f64) / 8000.0;
            let w = |f: f64| (2.0 * std::f64::consts::PI * f * t).sin();
            let v = w(200.0) + 0.6 * w(400.0) + 0.4 * w(600.0) + 0.3 * w(1100.0);
            *s = (v / 2.3 * 28_000.0) as i16;
        }
        frame
    }

    /// On text (the recogniser scripted: "four", then the comment), through the real
    /// `Conversation` (VAD, endpointer, barge-in) and the real espeak-ng voice: the customer
    /// talks over the question, the rating is the grammar turn's word, the comment the open
    /// turn's text, the goodbye is said and the box hangs up.
    #[tokio::test]
    async fn an_english_spoken_rating_and_comment_through_the_conversation() {
        use crate::app::pager::OutboundLine;
        use crate::speech::asr::ScriptedEngine;
        use crate::speech::tts::EspeakVoice;
        use crate::telephony::audio_port::FRAME_SAMPLES;

        let (port, mut backend) = port_pair();
        let voice = Arc::new(EspeakVoice::new("espeak-ng", "en-us", 175, 0.0));
        let caller = LineSurveyCaller::new(
            CallingOut::new(OutboundLine::new(), voice, Arc::new(|| false)),
            PagerSettings::default(),
        )
        .with_speech(SurveySpeech {
            engine: Arc::new(ScriptedEngine::new(["four", "the technician was great"])),
            turn: TurnSettings::default(),
            words: RatingWords::english(),
            spoken_calls: SpokenCalls::unlimited(),
        });
        let driver = tokio::spawn(async move {
            let mut prompt_frames = 0u32;
            for tick in 0..4000u64 {
                if *backend.hang_up.borrow() {
                    let _ = backend
                        .events
                        .send(PortEvent::Ended(EndReason::LocalHangUp))
                        .await;
                    return (true, prompt_frames);
                }
                let frame = if (100..130).contains(&tick) || (500..560).contains(&tick) {
                    voiced(tick)
                } else {
                    Box::new([0i16; FRAME_SAMPLES])
                };
                if backend.events.send(PortEvent::Audio(frame)).await.is_err() {
                    break;
                }
                for _ in 0..20 {
                    tokio::task::yield_now().await;
                }
                if let Some(f) = backend.playback.next_frame() {
                    if f.iter().any(|s| s.unsigned_abs() > 1000) {
                        prompt_frames += 1;
                    }
                }
            }
            (false, prompt_frames)
        });
        let speech = caller.speech.clone().expect("speech");
        let mut script = SurveyScript::new("Acme Heating").with_words(speech.words.clone());
        let actions = script.start();
        caller
            .spoken(port, &speech, &mut script, actions, None, 7)
            .await;
        assert_eq!(
            script.result(),
            Some(&SurveyResult::Rated {
                rating: 4,
                comment: Some("the technician was great".into())
            })
        );
        let (hung_up, prompt_frames) = driver.await.expect("driver");
        assert!(hung_up, "the box hung up");
        assert!(
            prompt_frames > 100,
            "{prompt_frames} frames of the box's voice"
        );
    }
}
