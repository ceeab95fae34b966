//! A stand-in spoken call flow (`call.mode = "echo_turn"`; the product's flow is
//! [`super::call_flow`]): greet with the voice, listen to the caller, say back what was
//! heard, and listen again, until the caller hangs up, presses the hang-up key, or stays
//! silent twice.
//!
//! It exists to exercise the whole speech path through SIP — TTS into RTP, barge-in, echo
//! guard, recognition, turn latency — and logs every turn in the call record.

use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, info, warn};

use crate::dialog::answering::HangUpCause;
use crate::dialog::call_log::TurnRecord;
use crate::speech::asr::SpeechEngine;
use crate::speech::tts::{PromptText, Speaker, SpeechStream};
use crate::speech::turn::{Conversation, Listen, TurnResult, TurnSettings};
use crate::telephony::audio_port::{AudioPort, DigitEvent, EndReason};

/// How long to wait for the port to confirm a hang-up.
const HANG_UP_GRACE: Duration = Duration::from_secs(5);
/// Silent turns in a row before the box says goodbye.
const MAX_SILENT_TURNS: u32 = 2;

pub const GREETING: &str = "greeting";
const DIDNT_HEAR: &str = "didnt_hear";
const GOODBYE: &str = "goodbye";
const NOT_UNDERSTOOD: &str = "not_understood";

/// The greeting's words; long enough (about 6 s) that a caller can talk over it.
pub fn greeting_text(shop_name: &str) -> String {
    format!(
        "Thank you for calling {shop_name}. You have reached the after hours line. \
         Please tell me briefly how I can help you today."
    )
}

fn reply_id(phrase: &str) -> String {
    format!("heard:{phrase}")
}

fn reply_text(heard: &str) -> String {
    format!("I heard you say: {heard}.")
}

/// The fixed prompts this flow needs rendered at start-up. Grammar answers are a closed set,
/// so their replies are rendered too: a grammar turn's reply starts without waiting for TTS.
pub fn fixed_prompts(shop_name: &str, grammar: &[String]) -> Vec<PromptText> {
    let mut prompts = vec![
        PromptText::new(GREETING, &greeting_text(shop_name)),
        PromptText::new(
            DIDNT_HEAR,
            "Sorry, I did not hear anything. Please say that again.",
        ),
        PromptText::new(NOT_UNDERSTOOD, "Sorry, I did not understand that."),
        PromptText::new(GOODBYE, "Thank you for calling. Goodbye."),
    ];
    prompts.extend(
        grammar
            .iter()
            .map(|phrase| PromptText::new(&reply_id(phrase), &reply_text(phrase))),
    );
    prompts
}

/// What the flow needs for one call.
#[derive(Clone)]
pub struct EchoTurnSettings {
    pub speaker: Speaker,
    pub engine: Arc<dyn SpeechEngine>,
    pub turn: TurnSettings,
    pub listen: Listen,
    pub shop_name: String,
    pub max_call: Duration,
    pub hangup_digit: char,
}

impl std::fmt::Debug for EchoTurnSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EchoTurnSettings")
            .field("turn", &self.turn)
            .field("listen", &self.listen)
            .finish()
    }
}

/// What happened on the call.
#[derive(Debug, Clone)]
pub struct EchoTurnOutcome {
    pub turns: Vec<TurnRecord>,
    pub digits: Vec<DigitEvent>,
    pub end: EndReason,
    pub hang_up_cause: Option<HangUpCause>,
}

/// A prompt to play and the words it says (for the record).
struct Said {
    text: String,
    stream: Option<SpeechStream>,
}

impl Said {
    fn prompt(speaker: &Speaker, id: &str, text: &str) -> Said {
        Said {
            text: text.to_string(),
            stream: speaker.prompt(id),
        }
    }

    /// A cached reply when there is one, else live synthesis, else a cached fallback.
    fn reply(speaker: &Speaker, heard: &str) -> Said {
        if let Some(stream) = speaker.prompt(&reply_id(heard)) {
            return Said {
                text: reply_text(heard),
                stream: Some(stream),
            };
        }
        match speaker.say(&reply_text(heard)) {
            Ok(stream) => Said {
                text: reply_text(heard),
                stream: Some(stream),
            },
            Err(err) => {
                warn!(error = %err, "cannot speak the reply");
                Said::prompt(speaker, NOT_UNDERSTOOD, "Sorry, I did not understand that.")
            }
        }
    }
}

/// Runs the flow until the call ends.
pub async fn run(port: AudioPort, settings: EchoTurnSettings) -> EchoTurnOutcome {
    let mut outcome = EchoTurnOutcome {
        turns: Vec::new(),
        digits: Vec::new(),
        end: EndReason::LocalHangUp,
        hang_up_cause: None,
    };
    let mut conversation = match Conversation::new(port, settings.engine.clone(), settings.turn) {
        Ok(c) => c,
        Err(err) => {
            warn!(error = %err, "turn taking unavailable; ending the call");
            outcome.end = EndReason::TransportFailed(err.to_string());
            return outcome;
        }
    };
    let speaker = &settings.speaker;
    let mut next = Said::prompt(speaker, GREETING, &greeting_text(&settings.shop_name));
    let mut silent_turns = 0u32;
    let max_call_ms = settings.max_call.as_millis() as u64;

    loop {
        let said_text = std::mem::take(&mut next.text);
        let turn = conversation
            .turn(next.stream.take(), &settings.listen)
            .await;
        outcome.turns.push(TurnRecord {
            speaker: "box".into(),
            text: said_text,
            start_ms: turn.prompt_start_ms,
            end_ms: turn.prompt_end_ms,
            barge_in: turn.barge_in,
            recognition_ms: None,
        });
        match turn.result {
            TurnResult::Utterance(utterance) => {
                silent_turns = 0;
                let text = crate::trade::redact::speech(&utterance.text);
                info!(%text, confidence = utterance.confidence, barge_in = turn.barge_in, "caller said");
                debug!(text = %utterance.text, "caller said (words)");
                outcome.turns.push(TurnRecord {
                    speaker: "caller".into(),
                    text: utterance.text.clone(),
                    start_ms: turn.speech_start_ms.unwrap_or(turn.prompt_end_ms),
                    end_ms: turn.speech_end_ms.unwrap_or(conversation.now_ms()),
                    barge_in: turn.barge_in,
                    recognition_ms: turn.recognition_ms,
                });
                next = if utterance.is_empty_or_unknown() {
                    Said::prompt(speaker, NOT_UNDERSTOOD, "Sorry, I did not understand that.")
                } else {
                    Said::reply(speaker, &utterance.text)
                };
            }
            TurnResult::Digit(digit) => {
                info!(digit = %digit.digit, "DTMF digit");
                outcome.digits.push(digit);
                if digit.digit == settings.hangup_digit {
                    outcome.hang_up_cause = Some(HangUpCause::HangUpDigit);
                    outcome.end = conversation.hang_up(HANG_UP_GRACE).await;
                    return outcome;
                }
                next = Said::reply(speaker, &format!("key {}", digit.digit));
            }
            TurnResult::NoSpeech => {
                silent_turns += 1;
                if silent_turns >= MAX_SILENT_TURNS {
                    let goodbye = Said::prompt(speaker, GOODBYE, "Thank you for calling. Goodbye.");
                    if let Some(stream) = goodbye.stream {
                        let said = conversation.say(stream, true).await;
                        outcome.turns.push(TurnRecord {
                            speaker: "box".into(),
                            text: goodbye.text,
                            start_ms: said.prompt_start_ms,
                            end_ms: said.prompt_end_ms,
                            barge_in: false,
                            recognition_ms: None,
                        });
                    }
                    outcome.hang_up_cause = Some(HangUpCause::IdleTimeout);
                    outcome.end = conversation.hang_up(HANG_UP_GRACE).await;
                    return outcome;
                }
                next = Said::prompt(
                    speaker,
                    DIDNT_HEAR,
                    "Sorry, I did not hear anything. Please say that again.",
                );
            }
            TurnResult::Ended(reason) => {
                outcome.end = reason;
                return outcome;
            }
        }
        if conversation.now_ms() >= max_call_ms {
            outcome.hang_up_cause = Some(HangUpCause::MaxDuration);
            outcome.end = conversation.hang_up(HANG_UP_GRACE).await;
            return outcome;
        }
    }
}
