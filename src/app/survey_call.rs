//! Survey calls over the shop's own line: [`LineSurveyCaller`] implements the survey's
//! [`SurveyCaller`] with telephony's outbound calls, the box's voice and
//! `crate::dialog::survey::SurveyScript`.
//!
//! One survey call: wait while a caller is on the one line (like a page call), dial, run the
//! script on the call's audio port — each line in the box's voice, the rating by keypad
//! (RFC 4733, SIP INFO or in-band digits all arrive as the port's digits; a key pressed while
//! the box speaks counts at once) — then hang up and return what came of it. The box has no
//! recogniser on an outbound call yet, so the script is the keypad-only one: no spoken rating,
//! no comment asked for.

use crate::app::pager::{play_one, CallingOut, PagerSettings};
use crate::dialog::survey::{SurveyAction, SurveyInput, SurveyResult, SurveyScript};
use crate::servicetitan::survey::{
    SurveyCallFuture, SurveyCallOutcome, SurveyCallRequest, SurveyCaller,
};
use crate::telephony::audio_port::{AudioFrame, AudioPort, PortEvent};
use crate::telephony::line::DialFailure;
use crate::trade::redact;
use std::time::Duration;
use tokio::time::Instant;
use tracing::{info, warn};

/// The [`SurveyCaller`] over the shop's line. Paced like the pager (`line_wait`, `line_poll`;
/// the script sets its own listening times).
#[derive(Debug, Clone)]
pub struct LineSurveyCaller {
    out: CallingOut,
    settings: PagerSettings,
}

impl LineSurveyCaller {
    pub fn new(out: CallingOut, settings: PagerSettings) -> Self {
        LineSurveyCaller { out, settings }
    }

    async fn survey_call(&self, request: &SurveyCallRequest) -> SurveyCallOutcome {
        let to = redact::number(Some(&request.to));
        let job = request.job_id;
        let mut script = SurveyScript::keypad_only(&request.shop_name);
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
        if !self
            .out
            .wait_for_line(self.settings.line_wait, self.settings.line_poll)
            .await
        {
            warn!(job, "the line stayed busy; survey call not placed");
            return failed("the line stayed busy".into());
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
        let outcome = match script.result() {
            Some(SurveyResult::Rated { rating, comment }) => SurveyCallOutcome::Rated {
                rating: *rating,
                comment: comment.clone(),
            },
            Some(SurveyResult::NeverCallAgain) => SurveyCallOutcome::NeverCallAgain,
            Some(SurveyResult::NoRating) | None => SurveyCallOutcome::NoRating,
        };
        info!(job, %to, ?outcome, "survey call answered");
        outcome
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
}
