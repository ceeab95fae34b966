//! An audio port on a sound card: a USB line interface, captured and played through ALSA,
//! behind the same frame interface as RTP ([`AudioPort`]).
//!
//! One thread per line does blocking I/O in lock-step, like the RTP session's 20 ms tick:
//! read one 20 ms period of the caller, hand it to the port, write one 20 ms frame of the
//! box's voice (silence when nothing is queued). The capture side is the clock. A device that
//! cannot run at 8 kHz mono S16 (many USB interfaces only do 48 kHz) is resampled with the
//! same [`Resampler`] the prompts use.
//!
//! Out of scope: the line's hook state. An FXO interface signals ringing and loop current
//! on lines the sound card does not carry (GPIO, a serial control port); answering and
//! hanging up the analog line is therefore the job of whatever drives those. Here a "call" is
//! the time between [`open`] and a hang-up from the port (or [`AlsaLine::stop`]).
//!
//! Built only with the `alsa` cargo feature (it needs libasound2-dev to build).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use alsa::pcm::{Access, Format, HwParams, State, PCM};
use alsa::{Direction, ValueOr};
use thiserror::Error;
use tokio::sync::mpsc;

use super::audio_port::{
    port_pair, AudioFrame, AudioPort, EndReason, PortBackend, PortEvent, FRAME_SAMPLES, SAMPLE_RATE,
};
use super::wav::Resampler;

/// Periods in the device buffer: two of latency on playback, room for a late wake-up.
const PERIODS: u32 = 4;
/// Consecutive I/O errors (after recovery attempts) treated as a dead device.
const MAX_ERRORS: u32 = 50;

/// Why a line could not be opened.
#[derive(Debug, Error)]
pub enum AlsaError {
    #[error("ALSA device `{device}` ({direction}): {source}")]
    Open {
        device: String,
        direction: &'static str,
        source: alsa::Error,
    },
    #[error("ALSA device `{device}` ({direction}) cannot do {what}: {source}")]
    Configure {
        device: String,
        direction: &'static str,
        what: &'static str,
        source: alsa::Error,
    },
    #[error("cannot start the ALSA line thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// Counters for the call log.
#[derive(Debug, Default)]
pub struct AlsaStats {
    pub frames_in: AtomicU64,
    pub frames_out: AtomicU64,
    /// Capture or playback over/underruns recovered from.
    pub xruns: AtomicU64,
    /// Caller frames dropped because the port's consumer fell behind.
    pub events_dropped: AtomicU64,
}

/// A running line; dropping it stops the line.
#[derive(Debug)]
pub struct AlsaLine {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// The rate the device actually runs at (8000 unless it had to be resampled).
    pub device_rate: u32,
    pub stats: Arc<AlsaStats>,
}

impl AlsaLine {
    /// Stops the line; the port then reports `Ended(LocalHangUp)`.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for AlsaLine {
    fn drop(&mut self) {
        self.stop();
    }
}

fn configure(pcm: &PCM, device: &str, direction: &'static str) -> Result<(u32, usize), AlsaError> {
    let fail = |what: &'static str| {
        move |source: alsa::Error| AlsaError::Configure {
            device: device.to_string(),
            direction,
            what,
            source,
        }
    };
    let hw = HwParams::any(pcm).map_err(fail("hardware parameters"))?;
    hw.set_channels(1).map_err(fail("mono"))?;
    hw.set_format(Format::s16())
        .map_err(fail("signed 16-bit samples"))?;
    hw.set_access(Access::RWInterleaved)
        .map_err(fail("interleaved read/write"))?;
    let rate = hw
        .set_rate_near(SAMPLE_RATE, ValueOr::Nearest)
        .map_err(fail("a sample rate near 8 kHz"))?;
    // 20 ms periods, so one read is one frame of the port's clock.
    let period = (rate / 50) as alsa::pcm::Frames;
    let period = hw
        .set_period_size_near(period, ValueOr::Nearest)
        .map_err(fail("20 ms periods"))?;
    hw.set_buffer_size_near(period * PERIODS as alsa::pcm::Frames)
        .map_err(fail("a 4-period buffer"))?;
    pcm.hw_params(&hw).map_err(fail("the parameters chosen"))?;
    Ok((rate, (rate / 50) as usize))
}

fn open_pcm(device: &str, direction: Direction) -> Result<PCM, AlsaError> {
    let name = match direction {
        Direction::Capture => "capture",
        Direction::Playback => "playback",
    };
    PCM::new(device, direction, false).map_err(|source| AlsaError::Open {
        device: device.to_string(),
        direction: name,
        source,
    })
}

/// Opens `device` for capture and playback and starts the line: the returned [`AudioPort`]
/// carries the caller's audio and plays the box's voice, exactly like an RTP call's.
pub fn open(device: &str) -> Result<(AlsaLine, AudioPort), AlsaError> {
    let capture = open_pcm(device, Direction::Capture)?;
    let playback = open_pcm(device, Direction::Playback)?;
    let (rate, period) = configure(&capture, device, "capture")?;
    let (play_rate, play_period) = configure(&playback, device, "playback")?;
    let (port, backend) = port_pair();
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(AlsaStats::default());
    let io = LineIo {
        capture,
        playback,
        rate,
        period,
        play_rate,
        play_period,
        backend,
        stop: stop.clone(),
        stats: stats.clone(),
    };
    let thread = std::thread::Builder::new()
        .name(format!("alsa-{device}"))
        .spawn(move || io.run())?;
    tracing::info!(device, rate, play_rate, "ALSA line open");
    Ok((
        AlsaLine {
            stop,
            thread: Some(thread),
            device_rate: rate,
            stats,
        },
        port,
    ))
}

struct LineIo {
    capture: PCM,
    playback: PCM,
    rate: u32,
    period: usize,
    play_rate: u32,
    play_period: usize,
    backend: PortBackend,
    stop: Arc<AtomicBool>,
    stats: Arc<AlsaStats>,
}

impl LineIo {
    fn run(mut self) {
        let reason = self.pump();
        // Frames still queued for playback are the end of a prompt nobody hears: drop them.
        let _ = self.playback.drop();
        let _ = self.capture.drop();
        let _ = self.backend.events.try_send(PortEvent::Ended(reason));
    }

    fn pump(&mut self) -> EndReason {
        let mut down = Resampler::new(self.rate, SAMPLE_RATE);
        let mut up = Resampler::new(SAMPLE_RATE, self.play_rate);
        let mut raw = vec![0i16; self.period];
        let mut caller: Vec<i16> = Vec::with_capacity(FRAME_SAMPLES * 2);
        let mut out: Vec<i16> = Vec::with_capacity(self.play_period * 2);
        let mut errors = 0u32;
        // Two periods of silence first, so playback does not underrun on the first tick.
        let silence = vec![0i16; self.play_period];
        for _ in 0..2 {
            if let Ok(io) = self.playback.io_i16() {
                let _ = io.writei(&silence);
            }
        }
        let started = Instant::now();
        let mut ticks = 0u64;
        loop {
            if self.stop.load(Ordering::Acquire) || *self.backend.hang_up.borrow() {
                return EndReason::LocalHangUp;
            }
            if self.backend.events.is_closed() {
                return EndReason::LocalHangUp;
            }
            // Capture: one period, resampled to 8 kHz, cut into port frames.
            match self.capture.io_i16().and_then(|io| io.readi(&mut raw)) {
                Ok(n) => {
                    errors = 0;
                    down.push(&raw[..n.min(raw.len())], &mut caller);
                }
                Err(err) => {
                    errors += 1;
                    if errors > MAX_ERRORS {
                        return EndReason::TransportFailed(format!("ALSA capture: {err}"));
                    }
                    self.stats.xruns.fetch_add(1, Ordering::Relaxed);
                    let _ = self.capture.recover(err.errno(), true);
                    continue;
                }
            }
            while caller.len() >= FRAME_SAMPLES {
                let mut frame: Box<AudioFrame> = Box::new([0; FRAME_SAMPLES]);
                frame.copy_from_slice(&caller[..FRAME_SAMPLES]);
                caller.drain(..FRAME_SAMPLES);
                self.stats.frames_in.fetch_add(1, Ordering::Relaxed);
                match self.backend.events.try_send(PortEvent::Audio(frame)) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        self.stats.events_dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return EndReason::LocalHangUp,
                }
                // Playback: one frame per captured frame, as the RTP session does per tick.
                let played = self.backend.playback.next_frame();
                let samples: &[i16] = match &played {
                    Some(frame) => &frame[..],
                    None => &[0; FRAME_SAMPLES],
                };
                up.push(samples, &mut out);
                self.stats.frames_out.fetch_add(1, Ordering::Relaxed);
                ticks += 1;
            }
            if out.len() >= self.play_period {
                let take = out.len() / self.play_period * self.play_period;
                if let Err(err) = self.write(&out[..take]) {
                    return err;
                }
                out.drain(..take);
            }
            // Devices with no clock of their own (the `null` plugin) return at once: keep
            // the port at real time anyway.
            let due = started + Duration::from_millis(ticks * 20);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    }

    fn write(&mut self, mut samples: &[i16]) -> Result<(), EndReason> {
        let mut errors = 0u32;
        while !samples.is_empty() {
            if self.playback.state() == State::XRun {
                self.stats.xruns.fetch_add(1, Ordering::Relaxed);
                let _ = self.playback.prepare();
            }
            match self.playback.io_i16().and_then(|io| io.writei(samples)) {
                Ok(n) => {
                    samples = &samples[n.min(samples.len())..];
                }
                Err(err) => {
                    errors += 1;
                    if errors > MAX_ERRORS {
                        return Err(EndReason::TransportFailed(format!("ALSA playback: {err}")));
                    }
                    self.stats.xruns.fetch_add(1, Ordering::Relaxed);
                    let _ = self.playback.recover(err.errno(), true);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ALSA's `null` plugin (always defined by alsa-lib's configuration) accepts any stream:
    /// the line runs its loop, delivers 20 ms frames at real time, drains playback and ends
    /// on hang-up.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn null_device_runs_a_line() {
        let (mut line, mut port) = open("null").expect("ALSA null device");
        assert_eq!(line.device_rate, SAMPLE_RATE);
        for i in 0..10 {
            assert!(port.playback.play(Box::new([i; FRAME_SAMPLES])).await);
        }
        let started = Instant::now();
        let mut frames = 0;
        while frames < 25 {
            match port.events.recv().await {
                Some(PortEvent::Audio(frame)) => {
                    assert_eq!(frame.len(), FRAME_SAMPLES);
                    frames += 1;
                }
                other => panic!("{other:?}"),
            }
        }
        // 25 frames of 20 ms: paced at real time, not delivered as fast as null returns.
        assert!(
            started.elapsed() >= Duration::from_millis(400),
            "{:?}",
            started.elapsed()
        );
        assert!(line.stats.frames_out.load(Ordering::Relaxed) > 0);
        let _ = port.hang_up.send(true);
        let end = loop {
            match port.events.recv().await {
                Some(PortEvent::Ended(reason)) => break reason,
                Some(_) => {}
                None => panic!("port closed without an end"),
            }
        };
        assert_eq!(end, EndReason::LocalHangUp);
        line.stop();
    }

    #[test]
    fn a_missing_device_is_an_error_naming_it() {
        let err = open("hw:CARD=NoSuchCard,DEV=0").expect_err("no such card");
        assert!(err.to_string().contains("NoSuchCard"), "{err}");
    }
}
