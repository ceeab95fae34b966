//! The call flow before speech exists: play the greeting, record the caller, log the keys
//! they press, hang up on the hang-up digit, when nobody presses anything for a while, or at
//! the maximum call length. The speech-driven dialog replaces this flow; the audio port it
//! runs on stays the same.

use crate::infra::disk::SpaceReserve;
use crate::telephony::audio_port::{AudioPort, DigitEvent, EndReason, PortEvent, FRAME_SAMPLES};
use crate::telephony::wav::{RecordingStop, WavError, WavRecorder};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tracing::{info, warn};

/// How long to wait for the port to confirm a hang-up before giving up on it.
const HANG_UP_GRACE: Duration = Duration::from_secs(5);

/// What the flow needs for one call.
#[derive(Debug, Clone)]
pub struct AnsweringSettings {
    /// The greeting, 8 kHz mono.
    pub greeting: Arc<[i16]>,
    pub max_call: Duration,
    pub idle_timeout: Duration,
    pub hangup_digit: char,
    /// Where to record the caller; None to not record.
    pub recording_path: Option<PathBuf>,
    /// Free space kept for the queue: the recording stops before it.
    pub recording_reserve: Option<SpaceReserve>,
}

/// Why the box hung up, when it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HangUpCause {
    HangUpDigit,
    IdleTimeout,
    MaxDuration,
}

/// What happened on the call.
#[derive(Debug, Clone)]
pub struct AnsweringOutcome {
    pub digits: Vec<DigitEvent>,
    /// How the port reported the end.
    pub end: EndReason,
    /// Set when the box decided to hang up.
    pub hang_up_cause: Option<HangUpCause>,
    /// True when a recording file was written and finalised.
    pub recorded: bool,
    /// Why the recording stopped (or never started) before the call ended.
    pub recording_stopped: Option<RecordingStop>,
}

impl AnsweringOutcome {
    /// The end reason as written into call records.
    pub fn end_reason(&self) -> &'static str {
        match (self.hang_up_cause, &self.end) {
            (Some(HangUpCause::HangUpDigit), _) => "local_hangup",
            (Some(HangUpCause::IdleTimeout), _) => "idle_timeout",
            (Some(HangUpCause::MaxDuration), _) => "max_duration",
            (None, EndReason::RemoteHangUp) => "remote_hangup",
            (None, EndReason::LocalHangUp) => "local_hangup",
            (None, EndReason::MediaTimeout) => "media_timeout",
            (None, EndReason::MaxDuration) => "max_duration",
            (None, EndReason::TransportFailed(_)) => "transport_failed",
        }
    }
}

/// Runs the flow until the call ends.
pub async fn run(mut port: AudioPort, settings: AnsweringSettings) -> AnsweringOutcome {
    let playback = port.playback.clone();
    let greeting = settings.greeting.clone();
    let player = tokio::spawn(async move {
        for chunk in greeting.chunks(FRAME_SAMPLES) {
            let mut frame = [0i16; FRAME_SAMPLES];
            frame[..chunk.len()].copy_from_slice(chunk);
            if !playback.play(Box::new(frame)).await {
                break;
            }
        }
    });

    let mut recording_stopped = None;
    let mut recorder = settings.recording_path.as_ref().and_then(|path| {
        match WavRecorder::create_within(path, settings.recording_reserve.clone()) {
            Ok(r) => Some(r),
            Err(WavError::DiskReserve) => {
                warn!(path = %path.display(), "not recording this call: the data partition is down to the queue's reserve (storage.queue_reserve_mb)");
                recording_stopped = Some(RecordingStop::DiskReserve);
                None
            }
            Err(err) => {
                warn!(path = %path.display(), error = %err, "cannot record this call");
                None
            }
        }
    });

    let started = Instant::now();
    let hard_stop = started + settings.max_call;
    let mut last_activity = started;
    let mut digits = Vec::new();
    let mut cause = None;
    let mut hang_up_sent_at: Option<Instant> = None;

    let end = loop {
        let deadline = match hang_up_sent_at {
            Some(at) => at + HANG_UP_GRACE,
            None => (last_activity + settings.idle_timeout).min(hard_stop),
        };
        tokio::select! {
            event = port.events.recv() => match event {
                Some(PortEvent::Audio(frame)) => {
                    if let Some(r) = recorder.as_mut() {
                        if let Err(err) = r.append(&frame[..]) {
                            warn!(error = %err, "recording stopped");
                            recorder = None;
                        }
                    }
                }
                Some(PortEvent::Digit(digit)) => {
                    info!(digit = %digit.digit, source = ?digit.source, at_ms = digit.at_ms, "DTMF digit");
                    last_activity = Instant::now();
                    let is_hang_up = digit.digit == settings.hangup_digit;
                    digits.push(digit);
                    if is_hang_up && hang_up_sent_at.is_none() {
                        cause = Some(HangUpCause::HangUpDigit);
                        let _ = port.hang_up.send(true);
                        hang_up_sent_at = Some(Instant::now());
                    }
                }
                Some(PortEvent::Ended(reason)) => break reason,
                None => break EndReason::TransportFailed("audio port closed".into()),
            },
            _ = tokio::time::sleep_until(deadline) => {
                if hang_up_sent_at.is_some() {
                    warn!("the line did not confirm the hang-up; closing the call anyway");
                    break EndReason::LocalHangUp;
                }
                cause = Some(if Instant::now() >= hard_stop {
                    HangUpCause::MaxDuration
                } else {
                    HangUpCause::IdleTimeout
                });
                info!(?cause, "hanging up");
                let _ = port.hang_up.send(true);
                hang_up_sent_at = Some(Instant::now());
            }
        }
    };
    player.abort();
    recording_stopped = recording_stopped.or(recorder.as_ref().and_then(WavRecorder::stopped));
    let recorded = match recorder {
        Some(r) => match r.close() {
            Ok(_) => true,
            Err(err) => {
                warn!(error = %err, "recording could not be finalised");
                false
            }
        },
        None => false,
    };
    AnsweringOutcome {
        digits,
        end,
        hang_up_cause: cause,
        recorded,
        recording_stopped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telephony::audio_port::{port_pair, DigitSource};

    fn digit(d: char) -> PortEvent {
        PortEvent::Digit(DigitEvent {
            digit: d,
            source: DigitSource::Rfc4733,
            at_ms: 0,
            duration_ms: 100,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn hang_up_digit_ends_the_call_and_audio_is_recorded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("call.wav");
        let (port, mut backend) = port_pair();
        let settings = AnsweringSettings {
            greeting: Arc::from(vec![1000i16; 800]),
            max_call: Duration::from_secs(600),
            idle_timeout: Duration::from_secs(60),
            hangup_digit: '#',
            recording_path: Some(path.clone()),
            recording_reserve: None,
        };
        let flow = tokio::spawn(run(port, settings));
        for _ in 0..50 {
            backend
                .events
                .send(PortEvent::Audio(Box::new([300; FRAME_SAMPLES])))
                .await
                .expect("send");
        }
        backend.events.send(digit('4')).await.expect("send");
        backend.events.send(digit('#')).await.expect("send");
        backend.hang_up.changed().await.expect("hang-up requested");
        assert!(*backend.hang_up.borrow());
        // The greeting was queued for playback.
        assert_eq!(backend.playback.next_frame().map(|f| f[0]), Some(1000));
        backend
            .events
            .send(PortEvent::Ended(EndReason::LocalHangUp))
            .await
            .expect("send");
        let outcome = flow.await.expect("flow");
        assert_eq!(outcome.end_reason(), "local_hangup");
        assert_eq!(outcome.digits.len(), 2);
        assert!(outcome.recorded);
        let reader = hound::WavReader::open(&path).expect("wav");
        assert_eq!(reader.spec().sample_rate, 8000);
        assert_eq!(reader.len() as usize, 50 * FRAME_SAMPLES);
    }

    fn silent_settings(idle_timeout: Duration, max_call: Duration) -> AnsweringSettings {
        AnsweringSettings {
            greeting: Arc::from(Vec::new()),
            max_call,
            idle_timeout,
            hangup_digit: '#',
            recording_path: None,
            recording_reserve: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_maximum_call_length_ends_a_busy_call() {
        let (port, mut backend) = port_pair();
        // Digits keep the call from going idle; only the length limit can end it.
        let flow = tokio::spawn(run(
            port,
            silent_settings(Duration::from_secs(20), Duration::from_secs(60)),
        ));
        let events = backend.events.clone();
        let presser = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                if events.send(digit('1')).await.is_err() {
                    break;
                }
            }
        });
        backend.hang_up.changed().await.expect("hang-up requested");
        presser.abort();
        backend
            .events
            .send(PortEvent::Ended(EndReason::LocalHangUp))
            .await
            .expect("send");
        let outcome = flow.await.expect("flow");
        assert_eq!(outcome.hang_up_cause, Some(HangUpCause::MaxDuration));
        assert_eq!(outcome.end_reason(), "max_duration");
        assert!(outcome.digits.len() >= 5, "{:?}", outcome.digits);
    }

    #[tokio::test(start_paused = true)]
    async fn silence_hangs_up_after_the_idle_timeout() {
        let (port, mut backend) = port_pair();
        let settings = silent_settings(Duration::from_secs(20), Duration::from_secs(600));
        let flow = tokio::spawn(run(port, settings));
        backend.hang_up.changed().await.expect("hang-up requested");
        backend
            .events
            .send(PortEvent::Ended(EndReason::LocalHangUp))
            .await
            .expect("send");
        let outcome = flow.await.expect("flow");
        assert_eq!(outcome.hang_up_cause, Some(HangUpCause::IdleTimeout));
        assert_eq!(outcome.end_reason(), "idle_timeout");
        assert!(!outcome.recorded);
    }

    #[tokio::test(start_paused = true)]
    async fn caller_hang_up_is_reported() {
        let (port, backend) = port_pair();
        let settings = silent_settings(Duration::from_secs(20), Duration::from_secs(600));
        let flow = tokio::spawn(run(port, settings));
        backend
            .events
            .send(PortEvent::Ended(EndReason::RemoteHangUp))
            .await
            .expect("send");
        let outcome = flow.await.expect("flow");
        assert_eq!(outcome.end_reason(), "remote_hangup");
        assert_eq!(outcome.hang_up_cause, None);
    }
}
