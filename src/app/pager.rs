//! Page calls over the shop's own line: [`LinePager`] implements the alert layer's
//! [`PhonePager`] with telephony's outbound calls and the box's voice.
//!
//! One page call: wait while the line is busy (the ATA has one FXO line: a caller on it means
//! the box dials right after they hang up, within `line_wait`), dial, speak the alert, repeat
//! it, ask "press 1 to accept, 2 to pass" (RFC 4733, SIP INFO or in-band digits all arrive as
//! the port's digits), ask once more if nothing is pressed, and say what came of it. A digit
//! pressed while the alert plays counts at once.
//!
//! [`OutboundLine`] is the queue between pagers and the SIP line: `callbox run` hands its
//! receiving end to the line (`sip_service`), and the paging ladder gets a [`LinePager`] built
//! on it; `callbox alert test --channel phone` runs a line of its own.

use crate::alert::phone::{PageCallFuture, PageCallOutcome, PageCallRequest, PhonePager};
use crate::speech::tts::Voice;
use crate::telephony::audio_port::{AudioFrame, AudioPort, PortEvent};
use crate::telephony::line::{DialFailure, DialRequest, OutboundCall};
use crate::trade::redact;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio::time::Instant;
use tracing::{info, warn};

/// What the callee hears after the alert (twice): the question.
pub const ACCEPT_PROMPT: &str = "Press 1 to accept this call-out, or 2 to pass.";
const ACCEPTED: &str = "Accepted. Thank you.";
const PASSED: &str = "Passed. The next technician will be called.";

/// The queue of calls for the SIP line to place. Cheap to clone.
#[derive(Debug, Clone)]
pub struct OutboundLine {
    requests: mpsc::Sender<DialRequest>,
    receiver: Arc<Mutex<mpsc::Receiver<DialRequest>>>,
}

impl Default for OutboundLine {
    fn default() -> Self {
        Self::new()
    }
}

impl OutboundLine {
    pub fn new() -> Self {
        let (requests, receiver) = mpsc::channel(4);
        OutboundLine {
            requests,
            receiver: Arc::new(Mutex::new(receiver)),
        }
    }

    /// The receiving end, for the line (held across restarts of the SIP service).
    pub fn receiver(&self) -> Arc<Mutex<mpsc::Receiver<DialRequest>>> {
        self.receiver.clone()
    }

    /// Places a call and waits for its answer (or why there is none).
    pub async fn dial(&self, to: &str) -> Result<OutboundCall, DialFailure> {
        let (reply, answer) = oneshot::channel();
        let request = DialRequest {
            to: to.to_string(),
            reply,
        };
        if self.requests.send(request).await.is_err() {
            return Err(DialFailure::NotPlaced("the SIP line is not running".into()));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(DialFailure::NotPlaced("the SIP line stopped".into())))
    }
}

/// How a page call is paced.
#[derive(Debug, Clone)]
pub struct PagerSettings {
    /// Longest wait for the line to come free before giving up on this call.
    pub line_wait: Duration,
    /// How often the line is looked at while busy.
    pub line_poll: Duration,
    /// How long the callee has to press a key after the question (asked twice).
    pub answer_wait: Duration,
}

impl Default for PagerSettings {
    fn default() -> Self {
        PagerSettings {
            line_wait: Duration::from_secs(15 * 60),
            line_poll: Duration::from_secs(2),
            answer_wait: Duration::from_secs(8),
        }
    }
}

/// Calls in progress on the line (an inbound caller holds the one FXO line).
pub type LineBusy = Arc<dyn Fn() -> bool + Send + Sync>;

/// What every call the box places needs: the SIP line's queue, the box's voice, and whether
/// a caller holds the one line. Shared by the pager and the survey caller.
#[derive(Clone)]
pub struct CallingOut {
    pub line: OutboundLine,
    voice: Arc<dyn Voice>,
    busy: LineBusy,
}

impl std::fmt::Debug for CallingOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallingOut").finish_non_exhaustive()
    }
}

impl CallingOut {
    pub fn new(line: OutboundLine, voice: Arc<dyn Voice>, busy: LineBusy) -> Self {
        CallingOut { line, voice, busy }
    }

    /// True once the line is free; false when it stayed busy past `wait` (looked at every
    /// `poll`).
    pub async fn wait_for_line(&self, wait: Duration, poll: Duration) -> bool {
        let until = Instant::now() + wait;
        let mut said = false;
        while (self.busy)() {
            if Instant::now() >= until {
                return false;
            }
            if !said {
                info!("a caller is on the line: the call out waits for them to hang up");
                said = true;
            }
            tokio::time::sleep(poll).await;
        }
        true
    }

    /// `text` in the box's voice, as frames to play.
    pub async fn render(&self, text: &str) -> Result<Vec<AudioFrame>, VoiceFailed> {
        let mut stream = self
            .voice
            .speak(text)
            .map_err(|e| VoiceFailed(e.to_string()))?;
        let mut frames = Vec::new();
        while let Some(frame) = stream.next_frame().await {
            frames.push(*frame.map_err(|e| VoiceFailed(e.to_string()))?);
        }
        Ok(frames)
    }
}

/// The [`PhonePager`] over the shop's line.
pub struct LinePager {
    out: CallingOut,
    settings: PagerSettings,
}

impl std::fmt::Debug for LinePager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinePager")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Speaking failed before the call was placed.
#[derive(Debug, Error)]
#[error("the box's voice could not say it: {0}")]
pub struct VoiceFailed(String);

impl LinePager {
    pub fn new(
        line: OutboundLine,
        voice: Arc<dyn Voice>,
        busy: LineBusy,
        settings: PagerSettings,
    ) -> Self {
        LinePager {
            out: CallingOut::new(line, voice, busy),
            settings,
        }
    }

    async fn page_call(&self, request: &PageCallRequest) -> PageCallOutcome {
        let to = redact::number(Some(&request.to));
        // Rendered before dialling: the technician must not answer into silence.
        let alert = match self.out.render(&alert_script(&request.spoken)).await {
            Ok(frames) => frames,
            Err(err) => return PageCallOutcome::Failed(err.to_string()),
        };
        let question = match self.out.render(ACCEPT_PROMPT).await {
            Ok(frames) => frames,
            Err(err) => return PageCallOutcome::Failed(err.to_string()),
        };
        if !self
            .out
            .wait_for_line(self.settings.line_wait, self.settings.line_poll)
            .await
        {
            warn!(alert = %request.alert_id, "the line stayed busy; page call not placed");
            return PageCallOutcome::Failed("the line stayed busy".into());
        }
        info!(alert = %request.alert_id, %to, "page call: dialling");
        let call = match self.out.line.dial(&request.to).await {
            Ok(call) => call,
            Err(failure) => {
                let outcome = dial_outcome(&failure);
                info!(alert = %request.alert_id, %to, %failure, ?outcome, "page call not answered");
                return outcome;
            }
        };
        let mut port = call.port;
        let outcome = converse(&mut port, &alert, &question, self.settings.answer_wait).await;
        info!(alert = %request.alert_id, %to, ?outcome, "page call answered");
        let closing = match outcome {
            PageCallOutcome::Accepted => Some(ACCEPTED),
            PageCallOutcome::Passed => Some(PASSED),
            _ => None,
        };
        if let Some(text) = closing {
            if let Ok(frames) = self.out.render(text).await {
                play_to_end(&mut port, &frames).await;
            }
        }
        let _ = port.hang_up.send(true);
        outcome
    }
}

impl PhonePager for LinePager {
    fn page<'a>(&'a self, request: &'a PageCallRequest) -> PageCallFuture<'a> {
        Box::pin(self.page_call(request))
    }

    fn line_free(&self) -> crate::alert::phone::LineFreeFuture<'_> {
        Box::pin(
            self.out
                .wait_for_line(self.settings.line_wait, self.settings.line_poll),
        )
    }
}

/// The alert, said twice.
pub fn alert_script(spoken: &str) -> String {
    let spoken = spoken.trim();
    format!("{spoken} … Again: {spoken}")
}

/// What a call that was not answered comes to.
pub fn dial_outcome(failure: &DialFailure) -> PageCallOutcome {
    match failure {
        DialFailure::Busy(_) => PageCallOutcome::Busy,
        DialFailure::Declined(_) => PageCallOutcome::Declined,
        DialFailure::NoAnswer => PageCallOutcome::NoAnswer,
        other => PageCallOutcome::Failed(other.to_string()),
    }
}

/// What a key means: 1 accepts, 2 passes, the rest are ignored.
fn digit_outcome(digit: char) -> Option<PageCallOutcome> {
    match digit {
        '1' => Some(PageCallOutcome::Accepted),
        '2' => Some(PageCallOutcome::Passed),
        _ => None,
    }
}

/// Plays the alert and the question, then waits `answer_wait`; asks once more; a key counts
/// whenever it comes. A hang-up (or the media ending) is no response.
pub async fn converse(
    port: &mut AudioPort,
    alert: &[AudioFrame],
    question: &[AudioFrame],
    answer_wait: Duration,
) -> PageCallOutcome {
    let first: Vec<&AudioFrame> = alert.iter().chain(question).collect();
    let again: Vec<&AudioFrame> = question.iter().collect();
    for frames in [first, again] {
        match play_and_listen(port, &frames, answer_wait).await {
            Some(outcome) => return outcome,
            None => continue,
        }
    }
    PageCallOutcome::NoResponse
}

/// Plays `frames`, then listens `wait` more; Some(outcome) on a key or the end of the call.
async fn play_and_listen(
    port: &mut AudioPort,
    frames: &[&AudioFrame],
    wait: Duration,
) -> Option<PageCallOutcome> {
    let mut next = 0;
    // The port plays 20 ms a frame; the listening time starts once the last frame is queued
    // and has had time to play out of the port's queue.
    let mut deadline: Option<Instant> = None;
    loop {
        if next == frames.len() && deadline.is_none() {
            deadline = Some(Instant::now() + wait + Duration::from_millis(500));
        }
        let until = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        let frame = frames.get(next).map(|f| Box::new(**f));
        tokio::select! {
            played = play_one(&port.playback, frame), if next < frames.len() => {
                if !played {
                    return Some(PageCallOutcome::NoResponse);
                }
                next += 1;
            }
            event = port.events.recv() => match event {
                Some(PortEvent::Digit(d)) => {
                    if let Some(outcome) = digit_outcome(d.digit) {
                        port.playback.flush();
                        return Some(outcome);
                    }
                }
                Some(PortEvent::Audio(_)) => {}
                Some(PortEvent::Ended(reason)) => {
                    info!(?reason, "the technician hung up during the page");
                    return Some(PageCallOutcome::NoResponse);
                }
                None => return Some(PageCallOutcome::NoResponse),
            },
            () = tokio::time::sleep_until(until), if deadline.is_some() => return None,
        }
    }
}

/// Queues one frame (`None`: nothing to play); false once the call's audio is gone.
pub(crate) async fn play_one(
    playback: &crate::telephony::audio_port::Playback,
    frame: Option<Box<AudioFrame>>,
) -> bool {
    match frame {
        Some(frame) => playback.play(frame).await,
        None => false,
    }
}

/// Plays `frames` and waits for them to be heard (or the call to end).
pub async fn play_to_end(port: &mut AudioPort, frames: &[AudioFrame]) {
    for frame in frames {
        if !port.playback.play(Box::new(*frame)).await {
            return;
        }
    }
    // The port's queue (up to half a second) plays out.
    let _ = tokio::time::timeout(Duration::from_millis(600), async {
        while let Some(event) = port.events.recv().await {
            if matches!(event, PortEvent::Ended(_)) {
                return;
            }
        }
    })
    .await;
}

/// The running box's pager: its voice, the SIP line's outbound queue, and the line taken as
/// busy while `busy` says so (`callbox run`: `CallsInProgress::count() > 0`). Err when the
/// box has no voice to speak with.
pub fn box_pager(
    config: &crate::config::Config,
    line: OutboundLine,
    busy: LineBusy,
) -> Result<LinePager, VoiceFailed> {
    if config.voice.engine == crate::config::VoiceEngine::None {
        return Err(VoiceFailed("voice.engine is \"none\"".into()));
    }
    let voice = Arc::new(crate::speech::tts::EspeakVoice::from_config(&config.voice));
    Ok(LinePager::new(line, voice, busy, PagerSettings::default()))
}

/// A SIP line of its own (an ephemeral port on `sip.listen`'s address, beside a running box)
/// that answers only the calls it places: `callbox alert test` and tests. Stops when dropped.
pub struct OwnLine {
    pub line: OutboundLine,
    line_task: tokio::task::JoinHandle<()>,
    endpoint: tokio::task::JoinHandle<()>,
}

impl Drop for OwnLine {
    fn drop(&mut self) {
        self.line_task.abort();
        self.endpoint.abort();
    }
}

impl OwnLine {
    pub async fn open(config: &crate::config::Config) -> Result<OwnLine, String> {
        use crate::telephony::line::{self, LineSettings};
        use crate::telephony::sip::{udp, EndpointConfig};

        let bind = std::net::SocketAddr::new(config.sip.listen.ip(), 0);
        let socket = tokio::net::UdpSocket::bind(bind)
            .await
            .map_err(|err| format!("binding udp://{bind}: {err}"))?;
        let local = socket.local_addr().map_err(|err| err.to_string())?;
        let mut endpoint_config = EndpointConfig::from_config(&config.sip, local);
        // Nobody calls this line: it answers only what it placed.
        endpoint_config.max_concurrent_calls = 1;
        let (sip, events, endpoint) =
            udp::spawn(socket, endpoint_config).map_err(|err| err.to_string())?;
        let outbound = OutboundLine::new();
        let receiver = outbound.receiver();
        let settings = Arc::new(LineSettings {
            sip: config.sip.clone(),
            media: config.media.clone(),
            default_country: config.shop.default_country.clone(),
        });
        // Inbound calls to this line are not taken (nothing receives them).
        let (answered, _refused) = mpsc::channel(1);
        let (_stop, stopping) = tokio::sync::watch::channel(false);
        let line_task = tokio::spawn(async move {
            let _stop = _stop;
            let mut dials = receiver.lock().await;
            line::run(settings, sip, events, answered, stopping, &mut dials).await;
        });
        Ok(OwnLine {
            line: outbound,
            line_task,
            endpoint,
        })
    }

    /// Lets the last BYE (or the ACK of a failure) go out, then stops the line.
    pub async fn close(self) {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// `callbox alert test --channel phone --to …`: one page call on a line of its own
/// ([`OwnLine`]), with the configured voice. The line is busy while the running box's status
/// file (`<data_dir>/run/status.json`, written every few seconds) shows a call in progress;
/// the test waits up to 5 minutes.
pub async fn page_once(config: &crate::config::Config, to: &str, spoken: &str) -> PageCallOutcome {
    use crate::config::VoiceEngine;
    use crate::speech::tts::EspeakVoice;

    if config.voice.engine == VoiceEngine::None {
        return PageCallOutcome::Failed("voice.engine is \"none\": the box cannot speak".into());
    }
    let own = match OwnLine::open(config).await {
        Ok(own) => own,
        Err(err) => return PageCallOutcome::Failed(err),
    };
    let status_file = crate::app::status::status_path(&config.data_paths().root);
    let busy: LineBusy = Arc::new(move || {
        matches!(
            crate::app::status::read_status(&status_file, chrono::Utc::now()),
            Ok(crate::app::status::Reading::Live(report)) if report.calls_in_progress > 0
        )
    });
    let pager = LinePager::new(
        own.line.clone(),
        Arc::new(EspeakVoice::from_config(&config.voice)),
        busy,
        PagerSettings {
            line_wait: Duration::from_secs(5 * 60),
            ..PagerSettings::default()
        },
    );
    let request = PageCallRequest {
        to: to.to_string(),
        spoken: spoken.to_string(),
        alert_id: "test".into(),
    };
    let outcome = pager.page(&request).await;
    own.close().await;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telephony::audio_port::{
        port_pair, DigitEvent, DigitSource, EndReason, PortBackend, FRAME_SAMPLES,
    };

    fn frames(n: usize) -> Vec<AudioFrame> {
        (0..n).map(|_| [100i16; FRAME_SAMPLES]).collect()
    }

    /// Drains playback like the media session (one frame per 20 ms of paused time) and
    /// counts the frames played.
    fn drain(
        mut backend: PortBackend,
    ) -> (mpsc::Sender<PortEvent>, tokio::task::JoinHandle<usize>) {
        let events = backend.events.clone();
        let task = tokio::spawn(async move {
            let mut played = 0;
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            loop {
                tick.tick().await;
                if backend.playback.next_frame().is_some() {
                    played += 1;
                }
                if *backend.hang_up.borrow() {
                    return played;
                }
                if played >= 10_000 {
                    return played;
                }
            }
        });
        (events, task)
    }

    fn digit(d: char) -> PortEvent {
        PortEvent::Digit(DigitEvent {
            digit: d,
            source: DigitSource::Rfc4733,
            at_ms: 0,
            duration_ms: 100,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn digit_one_after_the_question_accepts() {
        let (mut port, backend) = port_pair();
        let (events, _drain) = drain(backend);
        let (alert, question) = (frames(100), frames(50));
        let started = Instant::now();
        let press = tokio::spawn(async move {
            // After the alert and question have played (3 s), within the wait.
            tokio::time::sleep(Duration::from_secs(5)).await;
            let _ = events.send(digit('1')).await;
        });
        let outcome = converse(&mut port, &alert, &question, Duration::from_secs(8)).await;
        assert_eq!(outcome, PageCallOutcome::Accepted);
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(5) && took < Duration::from_secs(6),
            "{took:?}"
        );
        press.await.expect("press");
    }

    #[tokio::test(start_paused = true)]
    async fn digit_two_during_the_alert_passes_at_once() {
        let (mut port, backend) = port_pair();
        let (events, _drain) = drain(backend);
        events.send(digit('5')).await.expect("ignored key");
        events.send(digit('2')).await.expect("pass");
        let started = Instant::now();
        let outcome = converse(&mut port, &frames(500), &frames(50), Duration::from_secs(8)).await;
        assert_eq!(outcome, PageCallOutcome::Passed);
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn silence_asks_twice_then_no_response() {
        let (mut port, backend) = port_pair();
        let (_events, drain) = drain(backend);
        let started = Instant::now();
        let outcome = converse(&mut port, &frames(100), &frames(50), Duration::from_secs(8)).await;
        assert_eq!(outcome, PageCallOutcome::NoResponse);
        // alert+question (3 s) + 8.5 s, question (1 s) + 8.5 s
        let took = started.elapsed().as_secs_f64();
        assert!((19.0..22.0).contains(&took), "{took}");
        let _ = port.hang_up.send(true);
        let played = drain.await.expect("drain");
        assert_eq!(played, 200, "alert once, question twice");
    }

    #[tokio::test(start_paused = true)]
    async fn hang_up_during_the_alert_is_no_response() {
        let (mut port, backend) = port_pair();
        let (events, _drain) = drain(backend);
        events
            .send(PortEvent::Ended(EndReason::RemoteHangUp))
            .await
            .expect("ended");
        let outcome = converse(&mut port, &frames(500), &frames(50), Duration::from_secs(8)).await;
        assert_eq!(outcome, PageCallOutcome::NoResponse);
    }

    #[test]
    fn unanswered_calls_map_to_the_ladders_outcomes() {
        assert_eq!(dial_outcome(&DialFailure::Busy(486)), PageCallOutcome::Busy);
        assert_eq!(dial_outcome(&DialFailure::Busy(600)), PageCallOutcome::Busy);
        assert_eq!(
            dial_outcome(&DialFailure::Declined(603)),
            PageCallOutcome::Declined
        );
        assert_eq!(
            dial_outcome(&DialFailure::NoAnswer),
            PageCallOutcome::NoAnswer
        );
        assert!(matches!(
            dial_outcome(&DialFailure::Refused(404)),
            PageCallOutcome::Failed(_)
        ));
    }

    #[test]
    fn the_alert_is_said_twice() {
        let script = alert_script(" Gas smell at 12 Oak Street. ");
        assert_eq!(script.matches("Gas smell at 12 Oak Street.").count(), 2);
    }
}
