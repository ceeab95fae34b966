//! The audio port: what the speech and dialog layers see of a call, whatever carries it
//! (RTP from the ATA, or an ALSA line interface).
//!
//! A port delivers 20 ms frames of 8 kHz signed 16-bit PCM, DTMF digits, and the end of the
//! call; it accepts frames to play (paced by the port, not by the producer) and a hang-up.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

/// Samples per second of every frame crossing the port.
pub const SAMPLE_RATE: u32 = 8000;
/// Samples in one 20 ms frame.
pub const FRAME_SAMPLES: usize = 160;

/// One 20 ms frame of 8 kHz mono PCM.
pub type AudioFrame = [i16; FRAME_SAMPLES];

/// A DTMF digit as the caller pressed it, however it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigitEvent {
    /// '0'..='9', '*', '#', 'A'..='D'.
    pub digit: char,
    /// How it was detected.
    pub source: DigitSource,
    /// Milliseconds since the call was answered.
    pub at_ms: u64,
    /// How long the key was held, in milliseconds (0 when unknown).
    pub duration_ms: u32,
}

/// How a digit reached the box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigitSource {
    /// RFC 4733 telephone-event packets.
    Rfc4733,
    /// Tones in the audio, found by the Goertzel detector.
    InBand,
    /// SIP INFO (application/dtmf-relay).
    SipInfo,
}

/// Why a call's audio ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// The caller (or the ATA) hung up.
    RemoteHangUp,
    /// The box hung up.
    LocalHangUp,
    /// No RTP arrived for the configured silence timeout.
    MediaTimeout,
    /// The maximum call length was reached.
    MaxDuration,
    /// The transport failed (socket error, device gone).
    TransportFailed(String),
}

/// What a port delivers to the layers above, in arrival order.
#[derive(Debug, Clone, PartialEq)]
pub enum PortEvent {
    /// One frame of the caller's audio (silence where packets were lost).
    Audio(Box<AudioFrame>),
    /// A digit, reported once per key press.
    Digit(DigitEvent),
    /// The call's audio has ended; no event follows.
    Ended(EndReason),
}

/// The sending half of playback: frames queued here are played one every 20 ms.
///
/// `flush` drops everything queued so far, for barge-in: frames sent before the flush that
/// the port has not yet played are discarded.
#[derive(Clone, Debug)]
pub struct Playback {
    frames: mpsc::Sender<(u64, Box<AudioFrame>)>,
    generation: Arc<AtomicU64>,
}

impl Playback {
    /// Queues one frame. Waits while the queue is full (the port drains it in real time).
    /// Returns false once the port has gone away.
    pub async fn play(&self, frame: Box<AudioFrame>) -> bool {
        let generation = self.generation.load(Ordering::Acquire);
        self.frames.send((generation, frame)).await.is_ok()
    }

    /// Queues one frame if there is room now; false when the queue is full or the port has
    /// gone away (a relay drops the frame rather than fall behind: see `telephony::bridge`).
    pub fn try_play(&self, frame: Box<AudioFrame>) -> bool {
        let generation = self.generation.load(Ordering::Acquire);
        self.frames.try_send((generation, frame)).is_ok()
    }

    /// Discards every frame queued so far.
    pub fn flush(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

/// The receiving half of playback, held by the port implementation.
#[derive(Debug)]
pub struct PlaybackSource {
    frames: mpsc::Receiver<(u64, Box<AudioFrame>)>,
    generation: Arc<AtomicU64>,
}

impl PlaybackSource {
    /// The next frame to play now, if one is queued; frames from before a flush are skipped.
    /// Never waits: the port calls it on its own 20 ms clock.
    pub fn next_frame(&mut self) -> Option<Box<AudioFrame>> {
        let current = self.generation.load(Ordering::Acquire);
        while let Ok((generation, frame)) = self.frames.try_recv() {
            if generation == current {
                return Some(frame);
            }
        }
        None
    }
}

/// Creates a linked playback pair; `depth` frames may be queued ahead.
pub fn playback_channel(depth: usize) -> (Playback, PlaybackSource) {
    let (tx, rx) = mpsc::channel(depth.max(1));
    let generation = Arc::new(AtomicU64::new(0));
    (
        Playback {
            frames: tx,
            generation: generation.clone(),
        },
        PlaybackSource {
            frames: rx,
            generation,
        },
    )
}

/// The layers above hold this for the length of a call.
#[derive(Debug)]
pub struct AudioPort {
    /// Caller audio, digits and the end of the call.
    pub events: mpsc::Receiver<PortEvent>,
    /// The box's voice.
    pub playback: Playback,
    /// Set to true to hang up; the port ends the call and then reports `Ended(LocalHangUp)`.
    pub hang_up: watch::Sender<bool>,
}

/// The port implementation's side of an [`AudioPort`].
#[derive(Debug)]
pub struct PortBackend {
    pub events: mpsc::Sender<PortEvent>,
    pub playback: PlaybackSource,
    pub hang_up: watch::Receiver<bool>,
}

/// Creates a connected port: the application half and the backend half.
pub fn port_pair() -> (AudioPort, PortBackend) {
    // 2 s of caller audio may queue if the consumer stalls; beyond that frames are dropped by
    // the backend (try_send) rather than growing memory without bound.
    let (ev_tx, ev_rx) = mpsc::channel(100);
    let (playback, source) = playback_channel(25);
    let (hang_tx, hang_rx) = watch::channel(false);
    (
        AudioPort {
            events: ev_rx,
            playback,
            hang_up: hang_tx,
        },
        PortBackend {
            events: ev_tx,
            playback: source,
            hang_up: hang_rx,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn flush_discards_queued_frames_only() {
        let (playback, mut source) = playback_channel(8);
        assert!(playback.play(Box::new([1; FRAME_SAMPLES])).await);
        assert!(playback.play(Box::new([2; FRAME_SAMPLES])).await);
        playback.flush();
        assert!(playback.play(Box::new([3; FRAME_SAMPLES])).await);
        let frame = source.next_frame().expect("frame queued after flush");
        assert_eq!(frame[0], 3);
        assert!(source.next_frame().is_none());
    }
}
