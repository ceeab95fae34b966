//! Voice activity detection: webrtc-vad (libfvad) behind a wrapper that is `Send`, never
//! panics on a frame, and keeps its rate and mode across `reset`.
//!
//! webrtc-vad 0.4.0 has three traps this type closes: `Vad` holds a raw pointer and is not
//! `Send` (so it cannot live in a tokio task); an empty slice panics (`buffer[0]`); and
//! `reset()` silently puts the detector back to 8 kHz, mode 0.
//!
//! It also adds a warm-up: libfvad starts from built-in noise statistics and calls the first
//! few frames of an ordinary quiet phone line "speech" until it has adapted (seen here on
//! -55 dBFS line noise: frames 1-4 of the call). The first [`WARMUP_MS`] after creation or
//! [`VoiceDetector::reset`] are therefore still analysed but reported as unvoiced. Keep one
//! detector per call (the greeting covers the warm-up), not one per turn.

use thiserror::Error;
use webrtc_vad::{SampleRate, Vad, VadMode};

/// Why a detector could not be made or a frame could not be classified.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VadError {
    #[error("VAD sample rate {0} Hz is not supported (8000, 16000, 32000, 48000)")]
    UnsupportedRate(u32),
    #[error("VAD aggressiveness {0} is out of range (0-3)")]
    BadAggressiveness(u8),
    #[error("empty audio frame")]
    EmptyFrame,
    #[error("VAD frame of {len} samples at {rate} Hz is not 10, 20 or 30 ms")]
    FrameLength { len: usize, rate: u32 },
    #[error("libfvad rejected the frame")]
    Rejected,
}

/// Audio at the start of a stream reported as unvoiced while libfvad adapts.
pub const WARMUP_MS: u32 = 200;

/// A voice activity detector for one audio stream (one call).
pub struct VoiceDetector {
    vad: Vad,
    rate: u32,
    aggressiveness: u8,
    /// Samples of warm-up still to go.
    warmup_left: usize,
}

// SAFETY: libfvad's state is plain heap memory reached only through this owner, with no
// thread affinity or thread-local state; `Vad` is not `Send` only because it holds a raw
// pointer. Every method takes `&mut self`, so moving the owner between threads is sound.
// Deliberately not `Sync`.
unsafe impl Send for VoiceDetector {}

impl std::fmt::Debug for VoiceDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceDetector")
            .field("rate", &self.rate)
            .field("aggressiveness", &self.aggressiveness)
            .finish()
    }
}

fn sample_rate(rate: u32) -> Result<SampleRate, VadError> {
    match rate {
        8000 => Ok(SampleRate::Rate8kHz),
        16000 => Ok(SampleRate::Rate16kHz),
        32000 => Ok(SampleRate::Rate32kHz),
        48000 => Ok(SampleRate::Rate48kHz),
        _ => Err(VadError::UnsupportedRate(rate)),
    }
}

fn vad_mode(aggressiveness: u8) -> Result<VadMode, VadError> {
    match aggressiveness {
        0 => Ok(VadMode::Quality),
        1 => Ok(VadMode::LowBitrate),
        2 => Ok(VadMode::Aggressive),
        3 => Ok(VadMode::VeryAggressive),
        _ => Err(VadError::BadAggressiveness(aggressiveness)),
    }
}

impl VoiceDetector {
    /// A detector for `rate` Hz audio; `aggressiveness` 0 (most speech kept) to 3 (fewest
    /// false "speech" calls on line noise).
    pub fn new(rate: u32, aggressiveness: u8) -> Result<Self, VadError> {
        // Validate both before libfvad sees them: its setters would assert.
        let rate_enum = sample_rate(rate)?;
        let mode = vad_mode(aggressiveness)?;
        Ok(VoiceDetector {
            vad: Vad::new_with_rate_and_mode(rate_enum, mode),
            rate,
            aggressiveness,
            warmup_left: Self::warmup_samples(rate),
        })
    }

    /// A detector for the telephone audio of an [`crate::telephony::audio_port::AudioPort`].
    pub fn for_phone(aggressiveness: u8) -> Result<Self, VadError> {
        Self::new(crate::telephony::audio_port::SAMPLE_RATE, aggressiveness)
    }

    fn warmup_samples(rate: u32) -> usize {
        (rate as usize) * (WARMUP_MS as usize) / 1000
    }

    pub fn sample_rate(&self) -> u32 {
        self.rate
    }

    pub fn aggressiveness(&self) -> u8 {
        self.aggressiveness
    }

    /// Whether `len` samples make a frame libfvad accepts at this rate (10, 20 or 30 ms).
    pub fn accepts_len(&self, len: usize) -> bool {
        let per_10ms = (self.rate / 100) as usize;
        len == per_10ms || len == 2 * per_10ms || len == 3 * per_10ms
    }

    /// Classifies one 10, 20 or 30 ms frame.
    pub fn is_voiced(&mut self, frame: &[i16]) -> Result<bool, VadError> {
        if frame.is_empty() {
            return Err(VadError::EmptyFrame);
        }
        if !self.accepts_len(frame.len()) {
            return Err(VadError::FrameLength {
                len: frame.len(),
                rate: self.rate,
            });
        }
        let voiced = self
            .vad
            .is_voice_segment(frame)
            .map_err(|()| VadError::Rejected)?;
        if self.warmup_left > 0 {
            self.warmup_left = self.warmup_left.saturating_sub(frame.len());
            return Ok(false);
        }
        Ok(voiced)
    }

    /// Forgets the stream's history (for a new call), keeping this detector's rate and mode.
    pub fn reset(&mut self) {
        self.vad.reset();
        self.warmup_left = Self::warmup_samples(self.rate);
        // fvad_reset restores 8 kHz / mode 0; both values were validated in `new`.
        if let (Ok(rate), Ok(mode)) = (sample_rate(self.rate), vad_mode(self.aggressiveness)) {
            self.vad.set_sample_rate(rate);
            self.vad.set_mode(mode);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>() {}

    /// Deterministic noise (xorshift) at a given peak level.
    fn noise(len: usize, level: f32, seed: &mut u32) -> Vec<i16> {
        (0..len)
            .map(|_| {
                *seed ^= *seed << 13;
                *seed ^= *seed >> 17;
                *seed ^= *seed << 5;
                ((*seed as f32 / u32::MAX as f32 - 0.5) * 2.0 * level) as i16
            })
            .collect()
    }

    /// A voice-like buzz: 150 Hz harmonics with noise, at 8 kHz.
    fn buzz(len: usize, start: usize) -> Vec<i16> {
        let mut seed = 7;
        let n = noise(len, 300.0, &mut seed);
        (0..len)
            .map(|i| {
                let t = (start + i) as f32 / 8000.0;
                let v: f32 = (1..=12)
                    .map(|h| (2.0 * std::f32::consts::PI * 150.0 * h as f32 * t).sin() / h as f32)
                    .sum();
                (v * 4000.0) as i16 + n[i]
            })
            .collect()
    }

    #[test]
    fn is_send() {
        assert_send::<VoiceDetector>();
    }

    #[test]
    fn bad_settings_are_errors() {
        assert_eq!(
            VoiceDetector::new(11025, 2).unwrap_err(),
            VadError::UnsupportedRate(11025)
        );
        assert_eq!(
            VoiceDetector::new(8000, 4).unwrap_err(),
            VadError::BadAggressiveness(4)
        );
    }

    #[test]
    fn empty_and_odd_frames_are_errors_not_panics() {
        let mut vad = VoiceDetector::for_phone(2).unwrap();
        assert_eq!(vad.is_voiced(&[]), Err(VadError::EmptyFrame));
        assert_eq!(
            vad.is_voiced(&[0; 150]),
            Err(VadError::FrameLength {
                len: 150,
                rate: 8000
            })
        );
        for len in [80, 160, 240] {
            assert_eq!(vad.is_voiced(&vec![0; len]), Ok(false), "{len} samples");
        }
    }

    #[test]
    fn buzz_is_voiced_silence_is_not() {
        let mut vad = VoiceDetector::for_phone(2).unwrap();
        let voiced: Vec<bool> = buzz(160 * 20, 0)
            .chunks(160)
            .map(|f| vad.is_voiced(f).unwrap())
            .collect();
        // Warm-up: the first 200 ms are reported unvoiced whatever they hold.
        assert!(voiced[..10].iter().all(|&v| !v), "{voiced:?}");
        assert!(voiced[10..].iter().all(|&v| v), "{voiced:?}");
        assert_eq!(vad.is_voiced(&[0; 160]), Ok(true), "hangover after speech");
        let tail: Vec<bool> = (0..20).map(|_| vad.is_voiced(&[0; 160]).unwrap()).collect();
        assert!(!tail[19], "silence after the hangover");
    }

    #[test]
    fn reset_keeps_rate() {
        let mut vad = VoiceDetector::new(16000, 2).unwrap();
        vad.reset();
        assert_eq!(vad.warmup_left, 3200);
        // 320 samples is 20 ms at 16 kHz but 40 ms at the 8 kHz a bare fvad_reset restores.
        assert_eq!(vad.is_voiced(&[0; 320]), Ok(false));
        let mut raw = Vad::new_with_rate_and_mode(SampleRate::Rate16kHz, VadMode::Aggressive);
        raw.reset();
        assert!(raw.is_voice_segment(&[0; 320]).is_err(), "the trap is real");
    }

    #[test]
    fn reset_keeps_mode() {
        // Low-level noise: mode 0 calls much of it speech, mode 3 hardly any. After reset a
        // mode-3 detector must still decide like a fresh mode-3 detector.
        let mut seed = 1;
        let signal: Vec<i16> = (0..50)
            .flat_map(|i| noise(160, if i % 10 < 5 { 2500.0 } else { 600.0 }, &mut seed))
            .collect();
        let decide = |vad: &mut VoiceDetector| -> Vec<bool> {
            signal
                .chunks(160)
                .map(|f| vad.is_voiced(f).unwrap())
                .collect()
        };
        let q0 = decide(&mut VoiceDetector::for_phone(0).unwrap());
        let q3 = decide(&mut VoiceDetector::for_phone(3).unwrap());
        assert_ne!(q0, q3, "the signal must tell the modes apart");

        let mut vad = VoiceDetector::for_phone(3).unwrap();
        let _ = decide(&mut vad);
        vad.reset();
        assert_eq!(decide(&mut vad), q3);
        assert_eq!(vad.aggressiveness(), 3);
    }
}
