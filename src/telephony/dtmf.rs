//! DTMF: RFC 4733 telephone-event packets, and tones found in the audio itself.
//!
//! Both halves are sans-IO. [`EventDeduper`] turns the stream of telephone-event packets (a
//! start, updates every 50 ms or so, and usually three copies of the end) into one report per
//! key press. [`ToneDetector`] runs Goertzel filters over 8 kHz audio for ATAs that send digits
//! in-band; the media session suppresses it while RFC 4733 events are arriving so a press is
//! never reported twice.

use thiserror::Error;

use super::audio_port::SAMPLE_RATE;

/// Bytes in one RFC 4733 event block.
pub const EVENT_LEN: usize = 4;

/// Why a telephone-event payload could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DtmfError {
    #[error("telephone-event payload of {0} bytes, need 4")]
    TooShort(usize),
}

/// The DTMF keys in RFC 4733 event-code order (events 0–15).
const EVENT_DIGITS: [char; 16] = [
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D',
];

/// The key for an RFC 4733 event code, if it is a DTMF key (codes 16+ are fax tones etc.).
pub fn event_digit(event: u8) -> Option<char> {
    EVENT_DIGITS.get(usize::from(event)).copied()
}

/// The RFC 4733 event code for a key.
pub fn digit_event(digit: char) -> Option<u8> {
    let upper = digit.to_ascii_uppercase();
    EVENT_DIGITS
        .iter()
        .position(|&d| d == upper)
        .map(|i| i as u8)
}

/// One RFC 4733 event block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    pub event: u8,
    /// The E bit: this packet reports the end of the event.
    pub end: bool,
    /// Power level as -dBm0 (0–63).
    pub volume: u8,
    /// Duration so far, in timestamp units (samples at 8 kHz).
    pub duration: u16,
}

impl TelephoneEvent {
    /// Reads the first event block of a payload; extra bytes (redundant blocks) are ignored.
    /// Never panics.
    pub fn parse(payload: &[u8]) -> Result<TelephoneEvent, DtmfError> {
        match payload {
            [event, flags, d0, d1, ..] => Ok(TelephoneEvent {
                event: *event,
                end: flags & 0x80 != 0,
                volume: flags & 0x3F,
                duration: u16::from_be_bytes([*d0, *d1]),
            }),
            _ => Err(DtmfError::TooShort(payload.len())),
        }
    }

    /// Appends the 4-byte block to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(self.event);
        out.push((u8::from(self.end) << 7) | (self.volume & 0x3F));
        out.extend_from_slice(&self.duration.to_be_bytes());
    }

    pub fn digit(&self) -> Option<char> {
        event_digit(self.event)
    }
}

/// A key press reported by [`EventDeduper`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventDigit {
    pub digit: char,
    /// RTP timestamp of the event's start.
    pub timestamp: u32,
    /// Duration known when reported, in samples (0 if reported from the start packet).
    pub duration: u16,
}

impl EventDigit {
    pub fn duration_ms(&self) -> u32 {
        u32::from(self.duration) * 1000 / SAMPLE_RATE
    }
}

#[derive(Debug, Clone, Copy)]
struct ActiveEvent {
    timestamp: u32,
    event: u8,
    ended: bool,
    duration: u16,
}

/// Timestamps of finished events remembered, to ignore their late retransmissions.
const RECENT_EVENTS: usize = 4;

/// Turns telephone-event packets into one report per key press.
///
/// A press is reported on the first packet seen for it, whichever that is (start, update or
/// end), so a press whose start packet was lost is still reported, and reported as early as
/// possible. Each event is identified by its RTP timestamp (RFC 4733 §2.5.1.1: all packets of
/// one event carry its start time), so retransmitted ends count once.
#[derive(Debug, Clone, Default)]
pub struct EventDeduper {
    active: Option<ActiveEvent>,
    recent: [Option<u32>; RECENT_EVENTS],
    next_recent: usize,
}

impl EventDeduper {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one packet (its RTP timestamp and marker bit); returns a digit for a new press.
    pub fn on_packet(
        &mut self,
        timestamp: u32,
        marker: bool,
        event: &TelephoneEvent,
    ) -> Option<EventDigit> {
        let digit = event.digit()?;
        if let Some(active) = self.active.as_mut() {
            if active.timestamp == timestamp {
                if active.event == event.event {
                    active.ended |= event.end;
                    active.duration = active.duration.max(event.duration);
                }
                return None;
            }
            // RFC 4733 §2.5.1.3: an event longer than the 16-bit duration continues as a new
            // segment with a new timestamp, same event, no marker.
            let since = timestamp.wrapping_sub(active.timestamp);
            if active.event == event.event
                && !active.ended
                && !marker
                && active.duration >= 0xFF00
                && since > 0
                && since <= 0x1_0000 + SAMPLE_RATE / 5
            {
                let previous = active.timestamp;
                active.timestamp = timestamp;
                active.duration = event.duration;
                active.ended = event.end;
                self.remember(previous);
                return None;
            }
        }
        if self.recent.contains(&Some(timestamp)) {
            return None;
        }
        if let Some(previous) = self.active {
            self.remember(previous.timestamp);
        }
        self.active = Some(ActiveEvent {
            timestamp,
            event: event.event,
            ended: event.end,
            duration: event.duration,
        });
        Some(EventDigit {
            digit,
            timestamp,
            duration: event.duration,
        })
    }

    fn remember(&mut self, timestamp: u32) {
        self.recent[self.next_recent] = Some(timestamp);
        self.next_recent = (self.next_recent + 1) % RECENT_EVENTS;
    }
}

/// Low (row) group, Hz.
const ROW_HZ: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// High (column) group, Hz.
const COL_HZ: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYPAD: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// Analysis window: one 20 ms frame (50 Hz bins; adjacent rows are 73+ Hz apart).
pub const WINDOW: usize = 160;
/// Windows overlap by half, giving 10 ms time resolution for onsets and gaps.
const HOP: usize = WINDOW / 2;
/// Peak amplitude of a 0 dBm0 sine in 16-bit linear PCM (G.711 digital milliwatt).
const DBM0_PEAK: f32 = 22_700.0;
/// Quietest tone accepted, per frequency.
const MIN_LEVEL_DBM0: f32 = -32.0;
/// High group may be this much weaker than the low group (line loss at high frequencies)...
const MAX_HIGH_BELOW_LOW_DB: f32 = 8.0;
/// ...or this much stronger (keypads pre-emphasise the high group).
const MAX_HIGH_ABOVE_LOW_DB: f32 = 4.0;
/// The strongest row (column) must beat every other row (column) by this much.
const RELATIVE_PEAK_DB: f32 = 6.0;
/// Share of the window's energy the two tones must carry; rejects speech, music, chords.
const MIN_TONE_ENERGY_SHARE: f32 = 0.75;
/// Consecutive windows with the same key before it counts (3 hops ≈ 40 ms of tone).
const ONSET_WINDOWS: u32 = 3;
/// Consecutive windows without it before the key counts as released (≈ 30–40 ms gap).
const RELEASE_WINDOWS: u32 = 4;

fn db_to_amplitude(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}

/// Goertzel power of `block` at the frequency whose coefficient is `2 cos(2πf/fs)`.
#[inline]
fn goertzel_power(block: &[i16], coeff: f32) -> f32 {
    let (mut s1, mut s2) = (0f32, 0f32);
    for &x in block {
        let s0 = f32::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

/// In-band DTMF detector over 8 kHz audio.
#[derive(Debug, Clone)]
pub struct ToneDetector {
    row_coeffs: [f32; 4],
    col_coeffs: [f32; 4],
    min_amplitude: f32,
    pending: Vec<i16>,
    candidate: Option<char>,
    candidate_windows: u32,
    held: Option<char>,
    missing_windows: u32,
}

impl Default for ToneDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl ToneDetector {
    pub fn new() -> Self {
        let coeff = |f: f32| 2.0 * (2.0 * std::f32::consts::PI * f / SAMPLE_RATE as f32).cos();
        ToneDetector {
            row_coeffs: ROW_HZ.map(coeff),
            col_coeffs: COL_HZ.map(coeff),
            min_amplitude: DBM0_PEAK * db_to_amplitude(MIN_LEVEL_DBM0),
            pending: Vec::with_capacity(2 * WINDOW),
            candidate: None,
            candidate_windows: 0,
            held: None,
            missing_windows: 0,
        }
    }

    /// Feeds audio (normally one 20 ms frame; any length works). Returns a key at the moment
    /// its press is confirmed; a held key is reported once.
    pub fn process(&mut self, samples: &[i16]) -> Option<char> {
        let mut reported = None;
        self.pending.extend_from_slice(samples);
        let mut start = 0;
        while self.pending.len() - start >= WINDOW {
            let key = self.classify(&self.pending[start..start + WINDOW]);
            if let Some(digit) = self.advance(key) {
                reported.get_or_insert(digit);
            }
            start += HOP;
        }
        self.pending.drain(..start);
        reported
    }

    /// Forgets any tone in progress (e.g. the stream was reset).
    pub fn reset(&mut self) {
        self.pending.clear();
        self.candidate = None;
        self.candidate_windows = 0;
        self.held = None;
        self.missing_windows = 0;
    }

    /// The debouncing state machine, one step per analysis window.
    fn advance(&mut self, key: Option<char>) -> Option<char> {
        if key.is_some() && key == self.held {
            self.missing_windows = 0;
            return None;
        }
        if self.held.is_some() {
            self.missing_windows += 1;
            if self.missing_windows >= RELEASE_WINDOWS {
                self.held = None;
            }
        }
        match key {
            Some(k) if self.candidate == Some(k) => self.candidate_windows += 1,
            Some(k) => {
                self.candidate = Some(k);
                self.candidate_windows = 1;
            }
            None => {
                self.candidate = None;
                self.candidate_windows = 0;
            }
        }
        if self.held.is_none() && self.candidate_windows >= ONSET_WINDOWS {
            self.held = self.candidate;
            self.missing_windows = 0;
            return self.held;
        }
        None
    }

    /// Which key, if any, one window holds: a row and a column tone, loud enough, balanced,
    /// each well above its neighbours, and together carrying nearly all the energy.
    pub fn classify(&self, block: &[i16]) -> Option<char> {
        let n = block.len() as f32;
        let energy: f32 = block.iter().map(|&x| f32::from(x) * f32::from(x)).sum();
        // Two tones at the minimum level carry at least this energy; skip quiet windows fast.
        if energy < self.min_amplitude * self.min_amplitude * n {
            return None;
        }
        let rows = self.row_coeffs.map(|c| goertzel_power(block, c));
        let cols = self.col_coeffs.map(|c| goertzel_power(block, c));
        let (row, row_power) = strongest(&rows);
        let (col, col_power) = strongest(&cols);
        // Amplitude of a sine from its Goertzel power: A = 2·sqrt(P)/N.
        let row_amp = 2.0 * row_power.sqrt() / n;
        let col_amp = 2.0 * col_power.sqrt() / n;
        if row_amp < self.min_amplitude || col_amp < self.min_amplitude {
            return None;
        }
        let twist_db = 20.0 * (col_amp / row_amp).log10();
        if !(-MAX_HIGH_BELOW_LOW_DB..=MAX_HIGH_ABOVE_LOW_DB).contains(&twist_db) {
            return None;
        }
        let peak_ratio = db_to_amplitude(2.0 * RELATIVE_PEAK_DB); // power ratio
        let dominates = |powers: &[f32; 4], best: usize| {
            powers
                .iter()
                .enumerate()
                .all(|(i, &p)| i == best || p * peak_ratio <= powers[best])
        };
        if !dominates(&rows, row) || !dominates(&cols, col) {
            return None;
        }
        // A sine of Goertzel power P carries 2P/N of the window's energy.
        let tone_share = 2.0 * (row_power + col_power) / (n * energy);
        if tone_share < MIN_TONE_ENERGY_SHARE {
            return None;
        }
        Some(KEYPAD[row][col])
    }
}

fn strongest(powers: &[f32; 4]) -> (usize, f32) {
    let mut best = (0, powers[0]);
    for (i, &p) in powers.iter().enumerate().skip(1) {
        if p > best.1 {
            best = (i, p);
        }
    }
    best
}

/// The row and column frequencies of a key, for generating tones (tests, prompts).
pub fn key_frequencies(digit: char) -> Option<(f32, f32)> {
    let upper = digit.to_ascii_uppercase();
    KEYPAD.iter().enumerate().find_map(|(r, row)| {
        row.iter()
            .position(|&d| d == upper)
            .map(|c| (ROW_HZ[r], COL_HZ[c]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telephony::g711::{ulaw_decode, ulaw_encode};

    const ALL_KEYS: [char; 16] = [
        '1', '2', '3', 'A', '4', '5', '6', 'B', '7', '8', '9', 'C', '*', '0', '#', 'D',
    ];

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        /// Uniform in [-1, 1).
        fn unit(&mut self) -> f32 {
            (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        }
    }

    /// Builds a test signal: segments of (tone frequencies with dBm0 levels, milliseconds),
    /// plus white noise at `noise_dbm0`, passed through µ-law like the ATA would.
    struct Signal {
        samples: Vec<f32>,
        rng: Rng,
    }

    impl Signal {
        fn new() -> Self {
            Signal {
                samples: Vec::new(),
                rng: Rng(0x1234_5678_9ABC_DEF1),
            }
        }

        fn tones(mut self, tones: &[(f32, f32)], ms: usize) -> Self {
            let n = ms * 8;
            let start = self.samples.len();
            let phase = self.rng.unit() * 3.0;
            for i in 0..n {
                let t = (start + i) as f32 / 8000.0;
                let v: f32 = tones
                    .iter()
                    .map(|&(f, dbm0)| {
                        DBM0_PEAK
                            * db_to_amplitude(dbm0)
                            * (2.0 * std::f32::consts::PI * f * t + phase).sin()
                    })
                    .sum();
                self.samples.push(v);
            }
            self
        }

        fn key(self, digit: char, ms: usize) -> Self {
            let (low, high) = key_frequencies(digit).expect("key");
            self.tones(&[(low, -10.0), (high, -8.0)], ms)
        }

        fn silence(self, ms: usize) -> Self {
            self.tones(&[], ms)
        }

        fn through_ulaw(mut self, noise_dbm0: f32) -> Vec<i16> {
            let noise = DBM0_PEAK * db_to_amplitude(noise_dbm0) * 1.7; // uniform: peak ≈ 1.7 rms
            let samples = std::mem::take(&mut self.samples);
            samples
                .into_iter()
                .map(|v| {
                    let x = (v + noise * self.rng.unit()).clamp(-32768.0, 32767.0) as i16;
                    ulaw_decode(ulaw_encode(x))
                })
                .collect()
        }
    }

    /// Runs audio through a detector in 20 ms frames, returning the keys reported.
    fn detect(samples: &[i16]) -> String {
        let mut detector = ToneDetector::new();
        samples
            .chunks(160)
            .filter_map(|frame| detector.process(frame))
            .collect()
    }

    #[test]
    fn parses_telephone_event_blocks() {
        let ev = TelephoneEvent::parse(&[0x05, 0x8A, 0x03, 0x20]).expect("4 bytes");
        assert_eq!(
            ev,
            TelephoneEvent {
                event: 5,
                end: true,
                volume: 10,
                duration: 800
            }
        );
        assert_eq!(ev.digit(), Some('5'));
        let mut out = Vec::new();
        ev.write(&mut out);
        assert_eq!(out, [0x05, 0x8A, 0x03, 0x20]);
        // The reserved bit is ignored, extra blocks are tolerated.
        let ev = TelephoneEvent::parse(&[11, 0x40 | 7, 0, 0, 9, 9, 9, 9]).expect("8 bytes");
        assert!(!ev.end);
        assert_eq!(ev.volume, 7);
        assert_eq!(ev.digit(), Some('#'));
        assert_eq!(
            TelephoneEvent::parse(&[1, 2, 3]),
            Err(DtmfError::TooShort(3))
        );
    }

    #[test]
    fn maps_all_sixteen_events() {
        let keys: String = (0..16).filter_map(event_digit).collect();
        assert_eq!(keys, "0123456789*#ABCD");
        assert_eq!(event_digit(16), None);
        assert_eq!(digit_event('d'), Some(15));
        assert_eq!(digit_event('x'), None);
    }

    fn ev(event: u8, end: bool, duration: u16) -> TelephoneEvent {
        TelephoneEvent {
            event,
            end,
            volume: 10,
            duration,
        }
    }

    #[test]
    fn one_press_with_triple_end_is_reported_once() {
        let mut d = EventDeduper::new();
        let ts = 48_000;
        let mut reports = Vec::new();
        reports.extend(d.on_packet(ts, true, &ev(5, false, 0)));
        for dur in [400, 800, 1200] {
            reports.extend(d.on_packet(ts, false, &ev(5, false, dur)));
        }
        for _ in 0..3 {
            reports.extend(d.on_packet(ts, false, &ev(5, true, 1440)));
        }
        assert_eq!(
            reports,
            vec![EventDigit {
                digit: '5',
                timestamp: ts,
                duration: 0
            }]
        );
    }

    #[test]
    fn a_press_whose_start_was_lost_is_reported_from_its_end() {
        let mut d = EventDeduper::new();
        let first = d.on_packet(1000, false, &ev(9, true, 960));
        assert_eq!(first.map(|e| (e.digit, e.duration_ms())), Some(('9', 120)));
        assert_eq!(d.on_packet(1000, false, &ev(9, true, 960)), None);
    }

    #[test]
    fn two_presses_of_the_same_key_are_two_digits() {
        let mut d = EventDeduper::new();
        let mut keys = String::new();
        for ts in [1000u32, 3000] {
            keys.extend(d.on_packet(ts, true, &ev(1, false, 0)).map(|e| e.digit));
            for _ in 0..3 {
                keys.extend(d.on_packet(ts, false, &ev(1, true, 800)).map(|e| e.digit));
            }
        }
        assert_eq!(keys, "11");
    }

    #[test]
    fn late_retransmission_of_an_earlier_end_is_ignored() {
        let mut d = EventDeduper::new();
        assert!(d.on_packet(1000, true, &ev(2, true, 800)).is_some());
        assert!(d.on_packet(3000, true, &ev(3, false, 0)).is_some());
        assert_eq!(d.on_packet(1000, false, &ev(2, true, 800)), None);
        assert_eq!(d.on_packet(3000, false, &ev(3, true, 800)), None);
    }

    #[test]
    fn long_event_segments_are_one_press() {
        let mut d = EventDeduper::new();
        assert!(d.on_packet(0, true, &ev(0, false, 0)).is_some());
        assert_eq!(d.on_packet(0, false, &ev(0, false, 0xFFFF)), None);
        // Second segment: new timestamp, no marker.
        assert_eq!(d.on_packet(0xFFFF, false, &ev(0, false, 400)), None);
        assert_eq!(d.on_packet(0xFFFF, false, &ev(0, true, 800)), None);
        // A fresh press afterwards still counts.
        assert!(d.on_packet(0x2_0000, true, &ev(0, false, 0)).is_some());
    }

    #[test]
    fn non_dtmf_events_are_ignored() {
        let mut d = EventDeduper::new();
        assert_eq!(d.on_packet(100, true, &ev(32, false, 0)), None); // ANS tone
        assert!(d.on_packet(100, true, &ev(4, false, 0)).is_some());
    }

    #[test]
    fn telephone_event_parse_never_panics() {
        let mut rng = Rng(77);
        let mut buf = Vec::new();
        let mut ok = 0;
        for _ in 0..200_000 {
            buf.clear();
            let len = (rng.next() % 12) as usize;
            buf.extend((0..len).map(|_| rng.next() as u8));
            if let Ok(e) = TelephoneEvent::parse(&buf) {
                assert!(e.volume < 64);
                ok += 1;
            }
        }
        assert!(ok > 0);
    }

    #[test]
    fn detects_every_key_through_ulaw_with_noise() {
        let mut signal = Signal::new().silence(37);
        for key in ALL_KEYS {
            signal = signal.key(key, 70).silence(60);
        }
        let found = detect(&signal.through_ulaw(-45.0));
        assert_eq!(found, ALL_KEYS.iter().collect::<String>());
    }

    #[test]
    fn detects_keys_at_low_level_and_with_twist() {
        let (low, high) = key_frequencies('8').expect("key");
        let samples = Signal::new()
            .tones(&[(low, -24.0), (high, -27.0)], 80)
            .silence(60)
            .tones(&[(low, -15.0), (high, -12.0)], 80)
            .silence(40)
            .through_ulaw(-50.0);
        assert_eq!(detect(&samples), "88");
    }

    #[test]
    fn a_long_press_is_one_digit() {
        let samples = Signal::new()
            .silence(10)
            .key('#', 1500)
            .silence(100)
            .through_ulaw(-45.0);
        assert_eq!(detect(&samples), "#");
    }

    #[test]
    fn two_presses_with_a_50ms_gap_are_two_digits() {
        let samples = Signal::new()
            .key('7', 80)
            .silence(50)
            .key('7', 80)
            .silence(50)
            .through_ulaw(-45.0);
        assert_eq!(detect(&samples), "77");
    }

    #[test]
    fn a_45ms_press_is_detected_at_any_alignment() {
        for offset_ms in 0..20 {
            let samples = Signal::new()
                .silence(offset_ms)
                .key('2', 45)
                .silence(60)
                .through_ulaw(-45.0);
            assert_eq!(detect(&samples), "2", "offset {offset_ms} ms");
        }
    }

    #[test]
    fn a_short_blip_is_not_a_digit() {
        let samples = Signal::new()
            .silence(25)
            .key('3', 20)
            .silence(100)
            .through_ulaw(-45.0);
        assert_eq!(detect(&samples), "");
    }

    #[test]
    fn silence_and_noise_give_no_digits() {
        assert_eq!(detect(&[0; 8000]), "");
        assert_eq!(detect(&Signal::new().silence(1000).through_ulaw(-20.0)), "");
    }

    #[test]
    fn a_single_tone_gives_no_digits() {
        let samples = Signal::new()
            .tones(&[(440.0, -5.0)], 1000)
            .through_ulaw(-45.0);
        assert_eq!(detect(&samples), "");
        // A lone DTMF row frequency is not a key either.
        let samples = Signal::new()
            .tones(&[(852.0, -5.0)], 1000)
            .through_ulaw(-45.0);
        assert_eq!(detect(&samples), "");
    }

    #[test]
    fn chords_and_speech_like_sounds_give_no_digits() {
        // A row + column pair plus a third tone as loud: the pair carries only 2/3 of the energy.
        let samples = Signal::new()
            .tones(&[(697.0, -12.0), (1209.0, -12.0), (1000.0, -12.0)], 1000)
            .through_ulaw(-45.0);
        assert_eq!(detect(&samples), "");
        // Two rows and a column: no single strongest row.
        let samples = Signal::new()
            .tones(&[(770.0, -10.0), (852.0, -10.0), (1336.0, -10.0)], 1000)
            .through_ulaw(-45.0);
        assert_eq!(detect(&samples), "");
        // A vowel-like harmonic series on a 140 Hz voice.
        let harmonics: Vec<(f32, f32)> = (1..25)
            .map(|h| (140.0 * h as f32, -12.0 - h as f32))
            .collect();
        let samples = Signal::new().tones(&harmonics, 1000).through_ulaw(-45.0);
        assert_eq!(detect(&samples), "");
    }

    #[test]
    fn too_much_twist_or_too_quiet_is_rejected() {
        let (low, high) = key_frequencies('5').expect("key");
        let samples = Signal::new()
            .tones(&[(low, -6.0), (high, -18.0)], 200)
            .silence(60)
            .tones(&[(low, -42.0), (high, -42.0)], 200)
            .through_ulaw(-70.0);
        assert_eq!(detect(&samples), "");
    }

    #[test]
    fn key_frequencies_round_trip_through_classify() {
        let detector = ToneDetector::new();
        for key in ALL_KEYS {
            let block: Vec<i16> = Signal::new().key(key, 20).through_ulaw(-60.0);
            assert_eq!(detector.classify(&block), Some(key));
        }
        assert_eq!(key_frequencies('x'), None);
    }
}
