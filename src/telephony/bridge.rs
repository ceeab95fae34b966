//! Issue 15: the relay between a caller and the on-call technician, **sans-IO**: handed each
//! leg's frames, digits and end, and the time (ms on the relay's clock), it says what goes to
//! which leg and when the bridge is over. `app::bridge` runs it between two audio ports.
//!
//! The relay sits above each leg's media session: a leg's RTP is received, jitter-buffered
//! and decoded by its own `media` session (its codec, PCMU or PCMA, as negotiated with that
//! leg), and what is played to a leg is encoded and paced by that leg's session with its own
//! SSRC, sequence numbers and timestamps. So a PCMU caller and a PCMA technician are
//! transcoded through 16-bit PCM, and neither leg ever sees the other's SSRC or numbering (no
//! rewriting is needed: each outgoing stream is the box's own). The cost is each leg's jitter
//! buffer (`media.jitter_buffer_frames`, 60 ms by default) on the way through.
//!
//! Digits: RFC 4733 events (and SIP INFO, and in-band tones the media path recognises) are
//! **dropped**, not passed: a technician's "1" has already been taken by the whisper, and a
//! caller's keys mean nothing to the other phone. Counted, so the call record can say so.
//! In-band tones still reach the other leg as audio (they are part of the frames).
//!
//! Either leg ending ends the bridge: the other leg is to be hung up. Silence from *both*
//! legs' media (no frame at all, not quiet audio) for `inactivity` ends it too: a leg whose
//! RTP stopped without a BYE must not hold the line open.

use crate::telephony::audio_port::{AudioFrame, FRAME_SAMPLES};

/// One side of the bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leg {
    /// The caller's call (the box answered it).
    Caller,
    /// The call the box placed to the on-call technician.
    Technician,
}

impl Leg {
    /// The other side.
    pub fn other(self) -> Leg {
        match self {
            Leg::Caller => Leg::Technician,
            Leg::Technician => Leg::Caller,
        }
    }

    fn index(self) -> usize {
        match self {
            Leg::Caller => 0,
            Leg::Technician => 1,
        }
    }
}

/// Why the bridge is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeEnd {
    /// This leg hung up (or its call failed): the other is to be hung up.
    HungUp(Leg),
    /// No media from either leg for the inactivity timeout: both are to be hung up.
    Inactive,
}

/// What the relay counts, for the log and the call record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayCounts {
    /// Frames relayed from the caller to the technician.
    pub caller_to_technician: u64,
    /// Frames relayed from the technician to the caller.
    pub technician_to_caller: u64,
    /// Digit events dropped (see the module docs).
    pub digits_dropped: u64,
}

/// The relay's state.
#[derive(Debug, Clone)]
pub struct Relay {
    inactivity_ms: u64,
    /// When each leg last sent a frame.
    last_frame_ms: [u64; 2],
    counts: RelayCounts,
    end: Option<BridgeEnd>,
}

impl Relay {
    /// A relay that starts at `now_ms`; both legs count as heard from then.
    pub fn new(now_ms: u64, inactivity_ms: u64) -> Relay {
        Relay {
            inactivity_ms,
            last_frame_ms: [now_ms; 2],
            counts: RelayCounts::default(),
            end: None,
        }
    }

    /// A frame from `from`: where it goes (the other leg), unless the bridge is over.
    pub fn on_frame(&mut self, from: Leg, now_ms: u64) -> Option<Leg> {
        if self.end.is_some() {
            return None;
        }
        self.last_frame_ms[from.index()] = now_ms;
        match from {
            Leg::Caller => self.counts.caller_to_technician += 1,
            Leg::Technician => self.counts.technician_to_caller += 1,
        }
        Some(from.other())
    }

    /// A digit from either leg: dropped (counted).
    pub fn on_digit(&mut self, _from: Leg) {
        self.counts.digits_dropped += 1;
    }

    /// `leg`'s call ended: the bridge is over, and the other leg is to be hung up. The
    /// first end is the one kept.
    pub fn on_ended(&mut self, leg: Leg) -> BridgeEnd {
        *self.end.get_or_insert(BridgeEnd::HungUp(leg))
    }

    /// When [`Relay::on_timeout`] is next due (ms), while the bridge runs.
    pub fn deadline_ms(&self) -> Option<u64> {
        if self.end.is_some() {
            return None;
        }
        let last = self.last_frame_ms[0].max(self.last_frame_ms[1]);
        Some(last.saturating_add(self.inactivity_ms))
    }

    /// The time is `now_ms`: `Some` once neither leg has sent a frame for the inactivity
    /// timeout (or the bridge was already over).
    pub fn on_timeout(&mut self, now_ms: u64) -> Option<BridgeEnd> {
        if let Some(end) = self.end {
            return Some(end);
        }
        match self.deadline_ms() {
            Some(due) if now_ms >= due => {
                self.end = Some(BridgeEnd::Inactive);
                self.end
            }
            _ => None,
        }
    }

    /// How it ended, once it has.
    pub fn end(&self) -> Option<BridgeEnd> {
        self.end
    }

    pub fn counts(&self) -> RelayCounts {
        self.counts
    }
}

/// What the caller hears while the technician's phone rings: the North American ring-back
/// (440 + 480 Hz, 2 s on, 4 s off), so they know the call is going through. Frame `n` of the
/// cadence (20 ms each), from the start.
pub fn ringback_frame(n: u64) -> AudioFrame {
    const ON_FRAMES: u64 = 100;
    const CYCLE_FRAMES: u64 = 300;
    let mut frame = [0i16; FRAME_SAMPLES];
    if n % CYCLE_FRAMES >= ON_FRAMES {
        return frame;
    }
    let first = n * FRAME_SAMPLES as u64;
    for (i, s) in frame.iter_mut().enumerate() {
        // Both tones complete whole cycles every 200 samples (25 ms at 8 kHz: 11 and 12 of
        // them): the phase is taken modulo that, so it stays exact over a long hold.
        let k = ((first + i as u64) % 200) as f32;
        let t = k / 8000.0;
        let v = (2.0 * std::f32::consts::PI * 440.0 * t).sin()
            + (2.0 * std::f32::consts::PI * 480.0 * t).sin();
        // -13 dBm0-ish per tone: well inside G.711's range, never clipping.
        *s = (v * 4000.0) as i16;
    }
    frame
}

/// Frames one leg may run ahead of the other before it is written with silence for the other
/// (a leg whose RTP stopped, or that sends none while quiet): 60 ms.
const MIX_AHEAD_FRAMES: usize = 3;

/// Both legs of a bridge mixed into one stream, for the call's recording (the office hears
/// the caller and the technician as they talked). Frames are paired in arrival order, one
/// from each leg; a leg more than [`MIX_AHEAD_FRAMES`] ahead of a silent other leg is written
/// alone. Samples are added and clipped to 16 bits.
#[derive(Debug, Default)]
pub struct Mixer {
    waiting: [std::collections::VecDeque<AudioFrame>; 2],
    /// Mixed frames handed out.
    frames: u64,
}

impl Mixer {
    pub fn new() -> Mixer {
        Mixer::default()
    }

    /// A frame from `from`; returns the mixed frames now ready (zero, one or two).
    pub fn push(&mut self, from: Leg, frame: &AudioFrame) -> Vec<AudioFrame> {
        self.waiting[from.index()].push_back(*frame);
        let mut out = Vec::new();
        loop {
            let both = self.waiting.iter().all(|w| !w.is_empty());
            let ahead = self.waiting.iter().any(|w| w.len() > MIX_AHEAD_FRAMES);
            if !both && !ahead {
                return out;
            }
            let a = self.waiting[0].pop_front();
            let b = self.waiting[1].pop_front();
            out.push(mix(a.as_ref(), b.as_ref()));
            self.frames += 1;
        }
    }

    /// The frames still waiting, mixed (the bridge is over).
    pub fn finish(&mut self) -> Vec<AudioFrame> {
        let mut out = Vec::new();
        while self.waiting.iter().any(|w| !w.is_empty()) {
            let a = self.waiting[0].pop_front();
            let b = self.waiting[1].pop_front();
            out.push(mix(a.as_ref(), b.as_ref()));
            self.frames += 1;
        }
        out
    }

    /// How much mixed audio was handed out, in ms.
    pub fn mixed_ms(&self) -> u64 {
        self.frames * 20
    }
}

fn mix(a: Option<&AudioFrame>, b: Option<&AudioFrame>) -> AudioFrame {
    let mut out = [0i16; FRAME_SAMPLES];
    for (i, sample) in out.iter_mut().enumerate() {
        let sum = i32::from(a.map_or(0, |f| f[i])) + i32::from(b.map_or(0, |f| f[i]));
        *sample = sum.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The frame's power at `hz` (one DFT bin).
    fn goertzel_power(frame: &[i16], hz: f32) -> f32 {
        let (mut re, mut im) = (0f32, 0f32);
        for (i, &s) in frame.iter().enumerate() {
            let w = 2.0 * std::f32::consts::PI * hz * i as f32 / 8000.0;
            re += f32::from(s) * w.cos();
            im -= f32::from(s) * w.sin();
        }
        re * re + im * im
    }

    #[test]
    fn frames_cross_to_the_other_leg_and_are_counted() {
        let mut r = Relay::new(0, 10_000);
        assert_eq!(r.on_frame(Leg::Caller, 20), Some(Leg::Technician));
        assert_eq!(r.on_frame(Leg::Technician, 20), Some(Leg::Caller));
        assert_eq!(r.on_frame(Leg::Technician, 40), Some(Leg::Caller));
        r.on_digit(Leg::Caller);
        let c = r.counts();
        assert_eq!(
            (
                c.caller_to_technician,
                c.technician_to_caller,
                c.digits_dropped
            ),
            (1, 2, 1)
        );
    }

    #[test]
    fn a_hang_up_ends_the_bridge_and_nothing_crosses_after() {
        let mut r = Relay::new(0, 10_000);
        assert_eq!(
            r.on_ended(Leg::Technician),
            BridgeEnd::HungUp(Leg::Technician)
        );
        // The caller's leg then ends too (the box hung it up): the first end stands.
        assert_eq!(r.on_ended(Leg::Caller), BridgeEnd::HungUp(Leg::Technician));
        assert_eq!(r.on_frame(Leg::Caller, 20), None);
        assert_eq!(r.deadline_ms(), None);
        assert_eq!(r.counts().caller_to_technician, 0);
    }

    #[test]
    fn media_from_either_leg_keeps_it_alive_until_both_stop() {
        let mut r = Relay::new(1_000, 5_000);
        assert_eq!(r.deadline_ms(), Some(6_000));
        assert_eq!(r.on_timeout(5_999), None);
        // Only the technician talks: still alive.
        r.on_frame(Leg::Technician, 5_000);
        assert_eq!(r.on_timeout(6_000), None);
        assert_eq!(r.deadline_ms(), Some(10_000));
        assert_eq!(r.on_timeout(10_000), Some(BridgeEnd::Inactive));
        assert_eq!(r.end(), Some(BridgeEnd::Inactive));
        assert_eq!(r.on_frame(Leg::Caller, 10_020), None);
    }

    #[test]
    fn ringback_is_two_seconds_of_440_and_480_hz_then_four_of_silence() {
        for n in [0u64, 50, 99, 300, 333] {
            let f = ringback_frame(n);
            let p440 = goertzel_power(&f, 440.0);
            let p480 = goertzel_power(&f, 480.0);
            let p1000 = goertzel_power(&f, 1000.0);
            assert!(p440 > 100.0 * p1000 && p480 > 100.0 * p1000, "frame {n}");
        }
        for n in [100u64, 200, 299, 400] {
            assert!(ringback_frame(n).iter().all(|&s| s == 0), "frame {n}");
        }
        // Continuous across frames: no click at the joins of the tone.
        let (a, b) = (ringback_frame(7), ringback_frame(8));
        let jump = (i32::from(b[0]) - i32::from(a[FRAME_SAMPLES - 1])).abs();
        assert!(jump < 2_000, "{jump}");
    }

    #[test]
    fn the_mixer_pairs_the_legs_clips_and_writes_a_silent_leg_alone() {
        let mut m = Mixer::new();
        let f = |v: i16| [v; FRAME_SAMPLES];
        // One leg alone waits for the other.
        assert!(m.push(Leg::Caller, &f(1000)).is_empty());
        let out = m.push(Leg::Technician, &f(-300));
        assert_eq!(out.len(), 1);
        assert!(out[0].iter().all(|&s| s == 700));
        // Clipped, not wrapped.
        m.push(Leg::Caller, &f(30_000));
        let out = m.push(Leg::Technician, &f(30_000));
        assert!(out[0].iter().all(|&s| s == i16::MAX));
        // The technician's RTP stopped: past 60 ms ahead the caller is written alone.
        for _ in 0..3 {
            assert!(m.push(Leg::Caller, &f(5)).is_empty());
        }
        let out = m.push(Leg::Caller, &f(6));
        assert_eq!(out.len(), 1);
        assert!(out[0].iter().all(|&s| s == 5), "oldest first");
        // What waits at the end is written too.
        assert_eq!(m.finish().len(), 3);
        assert_eq!(m.mixed_ms(), 6 * 20);
    }
}
