//! A small jitter buffer: RTP packets in, one 20 ms frame out per tick of the caller's clock.
//!
//! Sans-IO: [`JitterBuffer::push`] is handed each packet's sequence number, timestamp, SSRC and
//! decoded samples; [`JitterBuffer::pop`] is called every 20 ms by the playout clock.
//!
//! How it places audio:
//! - The sequence number decides newer/older, duplicates (a 64-packet window) and restarts
//!   (a jump beyond RFC 3550's MAX_DROPOUT/MAX_MISORDER, confirmed by a second packet).
//! - The RTP timestamp places the samples on a timeline, so packets of any length (10, 20 or
//!   30 ms ptime) are re-framed into 160-sample frames, and telephone-event packets sharing the
//!   sequence space leave no false holes.
//! - A timestamp that jumps further ahead than the buffer can hold, or backwards (hold and
//!   resume, an ATA restart keeping its SSRC), re-anchors the timeline right after the audio
//!   already buffered: no flood of silence, no lost audio. A new SSRC resets everything.
//!
//! Playout starts once `depth` frames are buffered (or `depth` ticks have passed with something
//! buffered), so packets may arrive up to `depth` frames out of order. When the buffer runs dry
//! `pop` returns `None` and the buffer primes again.
//!
//! Concealment: a frame whose packet is missing while later audio is buffered comes out as
//! [`Playout::Lost`] holding the last good frame at half amplitude for the first lost frame
//! (bridges a single loss without a click, and keeps a DTMF tone continuous), then silence.

use super::audio_port::{AudioFrame, FRAME_SAMPLES};
use super::rtp::seq_delta;

const FRAME: i64 = FRAME_SAMPLES as i64;
/// RFC 3550 A.1: forward jumps up to this are the same run of packets.
const MAX_DROPOUT: i16 = 3000;
/// RFC 3550 A.1: backward jumps up to this are reordering, not a restart.
const MAX_MISORDER: i16 = 100;
/// Sequence numbers remembered for duplicate detection.
const SEEN_WINDOW: i16 = 64;

/// One frame for the playout clock.
#[derive(Debug, Clone, PartialEq)]
pub enum Playout {
    /// Received audio (a partly received frame has zeros where samples were missing).
    Frame(Box<AudioFrame>),
    /// Nothing arrived for this frame but later audio did: concealment audio.
    Lost(Box<AudioFrame>),
}

impl Playout {
    pub fn samples(&self) -> &AudioFrame {
        match self {
            Playout::Frame(f) | Playout::Lost(f) => f,
        }
    }

    pub fn into_frame(self) -> Box<AudioFrame> {
        match self {
            Playout::Frame(f) | Playout::Lost(f) => f,
        }
    }
}

/// What became of a pushed packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Buffered for playout.
    Accepted,
    /// Buffered, after re-anchoring the timeline (timestamp or sequence jump).
    Resynced,
    /// Buffered, after discarding everything from a previous SSRC.
    Reset,
    /// Same sequence number as a packet already received.
    Duplicate,
    /// Arrived after its audio was due.
    Late,
    /// A sequence number far from the stream's; kept only as a candidate restart.
    Stray,
    /// No samples.
    Empty,
}

/// Counters for the call log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    pub accepted: u64,
    pub duplicates: u64,
    pub late: u64,
    pub strays: u64,
    pub resyncs: u64,
    pub resets: u64,
    pub frames_played: u64,
    pub frames_concealed: u64,
    /// Samples discarded because more arrived than the buffer holds (bursts, clock drift).
    pub samples_overflowed: u64,
    pub underruns: u64,
}

/// Jitter buffer for one call's incoming audio.
#[derive(Debug, Clone)]
pub struct JitterBuffer {
    depth: usize,
    /// Capacity in samples; the ring below is indexed by timeline position modulo this.
    capacity: i64,
    ring: Vec<i16>,
    filled: Vec<bool>,
    ssrc: Option<u32>,
    highest_seq: u16,
    /// Bit n set: `highest_seq - n` has been received.
    seen: u64,
    /// Expected next sequence number of a candidate restart (RFC 3550 `bad_seq`).
    bad_seq: Option<u16>,
    /// Timestamp and timeline position of the highest-sequence packet.
    ref_ts: u32,
    ref_pos: i64,
    /// Timeline position of the next frame out.
    play_pos: i64,
    /// One past the last buffered sample.
    buffered_end: i64,
    playing: bool,
    prime_ticks: usize,
    last_good: Box<AudioFrame>,
    lost_run: u32,
    stats: JitterStats,
}

impl JitterBuffer {
    /// The most audio, in 20 ms frames, a buffer of target `depth_frames` holds: room for the
    /// target depth twice over plus a burst; beyond it the oldest audio goes. After the
    /// playout clock stalls (a loaded machine) the packets that piled up meanwhile are kept up
    /// to this, so the caller's audio can come out this late until the next pause.
    pub fn most_frames(depth_frames: usize) -> usize {
        2 * depth_frames.clamp(1, 50) + 2
    }

    /// `depth_frames`: target buffering in 20 ms frames (config `jitter_buffer_frames`).
    pub fn new(depth_frames: usize) -> Self {
        let depth = depth_frames.clamp(1, 50);
        let capacity = Self::most_frames(depth) as i64 * FRAME;
        let len = capacity as usize;
        JitterBuffer {
            depth,
            capacity,
            ring: vec![0; len],
            filled: vec![false; len],
            ssrc: None,
            highest_seq: 0,
            seen: 0,
            bad_seq: None,
            ref_ts: 0,
            ref_pos: 0,
            play_pos: 0,
            buffered_end: 0,
            playing: false,
            prime_ticks: 0,
            last_good: Box::new([0; FRAME_SAMPLES]),
            lost_run: 0,
            stats: JitterStats::default(),
        }
    }

    pub fn depth(&self) -> usize {
        self.depth
    }

    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Samples buffered ahead of the playout point.
    pub fn buffered_samples(&self) -> usize {
        (self.buffered_end - self.play_pos).max(0) as usize
    }

    /// Forgets the stream (e.g. after a re-INVITE changed the codec); counters are kept.
    pub fn reset(&mut self) {
        self.filled.iter_mut().for_each(|f| *f = false);
        self.ssrc = None;
        self.bad_seq = None;
        self.play_pos = 0;
        self.buffered_end = 0;
        self.playing = false;
        self.prime_ticks = 0;
        self.lost_run = 0;
    }

    /// Hands the buffer one packet's decoded samples.
    pub fn push(&mut self, seq: u16, timestamp: u32, ssrc: u32, samples: &[i16]) -> PushOutcome {
        if samples.is_empty() {
            return PushOutcome::Empty;
        }
        let outcome = match self.ssrc {
            None => {
                self.anchor(seq, timestamp, ssrc);
                PushOutcome::Accepted
            }
            Some(current) if current != ssrc => {
                self.reset();
                self.stats.resets += 1;
                self.anchor(seq, timestamp, ssrc);
                PushOutcome::Reset
            }
            Some(_) => match self.place(seq, timestamp, samples.len()) {
                Ok(outcome) => outcome,
                Err(rejected) => {
                    match rejected {
                        PushOutcome::Duplicate => self.stats.duplicates += 1,
                        PushOutcome::Late => self.stats.late += 1,
                        PushOutcome::Stray => self.stats.strays += 1,
                        _ => {}
                    }
                    return rejected;
                }
            },
        };
        let pos = self.ref_pos_for(timestamp);
        if !self.write(pos, samples) {
            self.stats.late += 1;
            return PushOutcome::Late;
        }
        self.stats.accepted += 1;
        outcome
    }

    /// Starts a stream: this packet plays right after whatever is buffered.
    fn anchor(&mut self, seq: u16, timestamp: u32, ssrc: u32) {
        self.ssrc = Some(ssrc);
        self.highest_seq = seq;
        self.seen = 1;
        self.bad_seq = None;
        self.ref_ts = timestamp;
        self.ref_pos = self.buffered_end.max(self.play_pos);
    }

    /// Timeline position of a timestamp, relative to the highest-sequence packet.
    fn ref_pos_for(&self, timestamp: u32) -> i64 {
        self.ref_pos + i64::from(timestamp.wrapping_sub(self.ref_ts) as i32)
    }

    /// Sequence bookkeeping; decides whether and where the packet goes.
    fn place(&mut self, seq: u16, timestamp: u32, len: usize) -> Result<PushOutcome, PushOutcome> {
        let delta = seq_delta(self.highest_seq, seq);
        if delta > 0 && delta < MAX_DROPOUT {
            self.seen = if delta >= SEEN_WINDOW {
                1
            } else {
                (self.seen << delta) | 1
            };
            self.highest_seq = seq;
            let pos = self.ref_pos_for(timestamp);
            let limit = self.buffered_end.max(self.play_pos);
            // Newer packet but its timestamp went back past the playout point, or leapt beyond
            // anything the buffer could hold: the sender's clock jumped. Re-anchor, don't wait.
            let jumped = pos < self.play_pos - FRAME || pos - limit > self.capacity;
            self.ref_ts = timestamp;
            if jumped {
                self.ref_pos = limit;
                self.stats.resyncs += 1;
                return Ok(PushOutcome::Resynced);
            }
            self.ref_pos = pos;
            Ok(PushOutcome::Accepted)
        } else if delta <= 0 && delta > -SEEN_WINDOW {
            let bit = 1u64 << (-delta);
            if self.seen & bit != 0 {
                return Err(PushOutcome::Duplicate);
            }
            self.seen |= bit;
            let pos = self.ref_pos_for(timestamp);
            if pos + len as i64 <= self.play_pos {
                return Err(PushOutcome::Late);
            }
            if pos - self.buffered_end.max(self.play_pos) > self.capacity {
                // An older packet claiming a time far in the future: nonsense, don't let it
                // push the playout point.
                return Err(PushOutcome::Stray);
            }
            Ok(PushOutcome::Accepted)
        } else if (-MAX_MISORDER..0).contains(&delta) {
            Err(PushOutcome::Late)
        } else if self.bad_seq == Some(seq) {
            // Second packet in sequence after a big jump: the sender restarted its numbering.
            self.highest_seq = seq;
            self.seen = 1;
            self.bad_seq = None;
            self.ref_ts = timestamp;
            self.ref_pos = self.buffered_end.max(self.play_pos);
            self.stats.resyncs += 1;
            Ok(PushOutcome::Resynced)
        } else {
            self.bad_seq = Some(seq.wrapping_add(1));
            Err(PushOutcome::Stray)
        }
    }

    fn slot(&self, pos: i64) -> usize {
        pos.rem_euclid(self.capacity) as usize
    }

    /// Copies samples onto the timeline; false when all of them are already due.
    fn write(&mut self, pos: i64, samples: &[i16]) -> bool {
        let mut start = pos;
        let mut data = samples;
        if start < self.play_pos {
            let skip = (self.play_pos - start) as usize;
            if skip >= data.len() {
                return false;
            }
            data = &data[skip..];
            start = self.play_pos;
        }
        let end = start + data.len() as i64;
        if data.len() as i64 > self.capacity {
            let drop = data.len() - self.capacity as usize;
            data = &data[drop..];
            start += drop as i64;
        }
        if end - self.play_pos > self.capacity {
            // More than the buffer holds: drop the oldest audio to bound the delay.
            let new_play = end - self.capacity;
            let stale_end = new_play
                .min(self.buffered_end)
                .min(self.play_pos + self.capacity);
            for p in self.play_pos..stale_end {
                let i = self.slot(p);
                self.filled[i] = false;
            }
            self.stats.samples_overflowed += (new_play - self.play_pos) as u64;
            self.play_pos = new_play;
        }
        for (offset, &sample) in data.iter().enumerate() {
            let i = self.slot(start + offset as i64);
            if !self.filled[i] {
                self.ring[i] = sample;
                self.filled[i] = true;
            }
        }
        self.buffered_end = self.buffered_end.max(end);
        true
    }

    /// The next 20 ms frame, called once per tick of the playout clock. `None`: nothing to
    /// play yet (priming, or the sender went quiet).
    pub fn pop(&mut self) -> Option<Playout> {
        self.ssrc?;
        if !self.playing {
            if self.buffered_end <= self.play_pos {
                return None;
            }
            self.prime_ticks += 1;
            let earliest =
                (self.play_pos..self.buffered_end).find(|&p| self.filled[self.slot(p)])?;
            let buffered = self.buffered_end - earliest;
            if buffered < self.depth as i64 * FRAME && self.prime_ticks < self.depth {
                return None;
            }
            self.playing = true;
            self.play_pos = earliest;
        }
        if self.buffered_end <= self.play_pos {
            self.playing = false;
            self.prime_ticks = 0;
            self.stats.underruns += 1;
            return None;
        }
        let mut frame = Box::new([0i16; FRAME_SAMPLES]);
        let mut received = 0;
        for (offset, out) in frame.iter_mut().enumerate() {
            let i = self.slot(self.play_pos + offset as i64);
            if self.filled[i] {
                *out = self.ring[i];
                self.filled[i] = false;
                received += 1;
            }
        }
        self.play_pos += FRAME;
        if received > 0 {
            self.last_good.copy_from_slice(&frame[..]);
            self.lost_run = 0;
            self.stats.frames_played += 1;
            return Some(Playout::Frame(frame));
        }
        self.lost_run += 1;
        self.stats.frames_concealed += 1;
        if self.lost_run == 1 {
            for (out, &good) in frame.iter_mut().zip(self.last_good.iter()) {
                *out = good / 2;
            }
        }
        Some(Playout::Lost(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSRC: u32 = 0x1234;

    /// A packet of `len` samples whose values encode their timeline position (ts - base).
    fn ramp(ts: u32, base: u32, len: usize) -> Vec<i16> {
        (0..len)
            .map(|i| (ts.wrapping_sub(base) as usize + i) as i16)
            .collect()
    }

    fn frame_for(index: u32, base: u32) -> Vec<i16> {
        ramp(base.wrapping_add(index * 160), base, 160)
    }

    /// Pushes frames `indices` (20 ms each) of a stream starting at seq0/ts0.
    fn push_frames(
        jb: &mut JitterBuffer,
        seq0: u16,
        ts0: u32,
        indices: &[u32],
    ) -> Vec<PushOutcome> {
        indices
            .iter()
            .map(|&i| {
                let ts = ts0.wrapping_add(i * 160);
                jb.push(seq0.wrapping_add(i as u16), ts, SSRC, &ramp(ts, ts0, 160))
            })
            .collect()
    }

    /// Pops until `None`, returning (lost?, first sample) per frame.
    fn drain(jb: &mut JitterBuffer) -> Vec<(bool, i16)> {
        let mut out = Vec::new();
        while let Some(p) = jb.pop() {
            out.push((matches!(p, Playout::Lost(_)), p.samples()[0]));
            assert!(out.len() < 1000, "runaway playout");
        }
        out
    }

    fn starts(frames: &[u32]) -> Vec<(bool, i16)> {
        frames.iter().map(|&i| (false, (i * 160) as i16)).collect()
    }

    #[test]
    fn waits_for_depth_then_plays_in_order() {
        let mut jb = JitterBuffer::new(3);
        assert!(jb.pop().is_none(), "nothing before the first packet");
        push_frames(&mut jb, 100, 5000, &[0]);
        assert!(jb.pop().is_none(), "priming");
        push_frames(&mut jb, 100, 5000, &[1, 2]);
        let first = jb.pop().expect("primed");
        assert_eq!(
            first,
            Playout::Frame(Box::new(frame_for(0, 5000).try_into().unwrap()))
        );
        assert_eq!(drain(&mut jb), starts(&[1, 2]));
        assert_eq!(jb.stats().underruns, 1);
    }

    #[test]
    fn starts_after_depth_ticks_even_with_less_buffered() {
        let mut jb = JitterBuffer::new(3);
        push_frames(&mut jb, 1, 0, &[0]);
        assert!(jb.pop().is_none());
        assert!(jb.pop().is_none());
        assert!(matches!(jb.pop(), Some(Playout::Frame(_))));
    }

    #[test]
    fn reorders_within_depth() {
        let mut jb = JitterBuffer::new(3);
        let outcomes = push_frames(&mut jb, 10, 0, &[0, 2, 1, 4, 3]);
        assert!(outcomes.iter().all(|o| *o == PushOutcome::Accepted));
        assert_eq!(drain(&mut jb), starts(&[0, 1, 2, 3, 4]));
    }

    #[test]
    fn drops_duplicates() {
        let mut jb = JitterBuffer::new(3);
        push_frames(&mut jb, 10, 0, &[0, 1, 2]);
        assert_eq!(
            push_frames(&mut jb, 10, 0, &[1]),
            vec![PushOutcome::Duplicate]
        );
        assert_eq!(drain(&mut jb), starts(&[0, 1, 2]));
        assert_eq!(jb.stats().duplicates, 1);
    }

    #[test]
    fn conceals_loss_with_faded_repeat_then_silence() {
        let mut jb = JitterBuffer::new(3);
        push_frames(&mut jb, 10, 0, &[0, 1, 4, 5]);
        let frames: Vec<Playout> = std::iter::from_fn(|| jb.pop()).take(10).collect();
        assert_eq!(frames.len(), 6);
        assert!(matches!(frames[1], Playout::Frame(_)));
        let Playout::Lost(first_lost) = &frames[2] else {
            panic!("frame 2 should be concealed");
        };
        for (i, s) in first_lost.iter().enumerate() {
            assert_eq!(*s, (160 + i as i16) / 2, "half-amplitude repeat of frame 1");
        }
        assert_eq!(frames[3], Playout::Lost(Box::new([0; FRAME_SAMPLES])));
        assert_eq!(frames[4].samples()[0], 4 * 160);
        assert_eq!(jb.stats().frames_concealed, 2);
    }

    #[test]
    fn late_packet_after_its_frame_played_is_dropped() {
        let mut jb = JitterBuffer::new(2);
        push_frames(&mut jb, 10, 0, &[0, 2, 3]);
        assert_eq!(jb.pop().map(|p| p.samples()[0]), Some(0));
        assert!(matches!(jb.pop(), Some(Playout::Lost(_))));
        assert_eq!(push_frames(&mut jb, 10, 0, &[1]), vec![PushOutcome::Late]);
        assert_eq!(jb.stats().late, 1);
        assert_eq!(drain(&mut jb), starts(&[2, 3]));
    }

    #[test]
    fn handles_sequence_and_timestamp_wraparound() {
        let mut jb = JitterBuffer::new(3);
        let ts0 = u32::MAX - 300;
        let outcomes = push_frames(&mut jb, 65534, ts0, &[0, 1, 3, 2, 4]);
        assert!(
            outcomes.iter().all(|o| *o == PushOutcome::Accepted),
            "{outcomes:?}"
        );
        assert_eq!(drain(&mut jb), starts(&[0, 1, 2, 3, 4]));
    }

    #[test]
    fn new_ssrc_resets_the_stream() {
        let mut jb = JitterBuffer::new(1);
        push_frames(&mut jb, 10, 0, &[0, 1]);
        assert_eq!(jb.pop().map(|p| p.samples()[0]), Some(0));
        let outcome = jb.push(9000, 777_777, SSRC + 1, &[42; 160]);
        assert_eq!(outcome, PushOutcome::Reset);
        assert_eq!(jb.pop().map(|p| p.samples()[0]), Some(42));
        assert!(jb.pop().is_none(), "old stream's audio was discarded");
        assert_eq!(jb.stats().resets, 1);
    }

    #[test]
    fn timestamp_jump_forward_resyncs_without_a_flood_of_silence() {
        let mut jb = JitterBuffer::new(3);
        push_frames(&mut jb, 10, 0, &[0, 1, 2]);
        // Same sequence run, but the timestamp leaps 10 s (hold/resume, VAD).
        let far = 80_000u32;
        assert_eq!(jb.push(13, far, SSRC, &[7; 160]), PushOutcome::Resynced);
        assert_eq!(
            jb.push(14, far + 160, SSRC, &[8; 160]),
            PushOutcome::Accepted
        );
        let out = drain(&mut jb);
        assert_eq!(
            out,
            vec![
                (false, 0),
                (false, 160),
                (false, 320),
                (false, 7),
                (false, 8)
            ]
        );
    }

    #[test]
    fn timestamp_jump_backward_resyncs() {
        let mut jb = JitterBuffer::new(3);
        push_frames(&mut jb, 10, 1_000_000, &[0, 1, 2]);
        assert_eq!(jb.pop().map(|p| p.samples()[0]), Some(0));
        assert_eq!(jb.push(13, 5, SSRC, &[9; 160]), PushOutcome::Resynced);
        assert_eq!(jb.push(14, 165, SSRC, &[10; 160]), PushOutcome::Accepted);
        assert_eq!(
            drain(&mut jb),
            vec![(false, 160), (false, 320), (false, 9), (false, 10)]
        );
    }

    #[test]
    fn sequence_jump_far_ahead_resyncs_after_confirmation() {
        let mut jb = JitterBuffer::new(3);
        push_frames(&mut jb, 10, 0, &[0, 1, 2]);
        // 20 000 packets later (400 s), timestamps consistent with the gap.
        let ts = 20_003 * 160;
        assert_eq!(jb.push(20_013, ts, SSRC, &[5; 160]), PushOutcome::Stray);
        assert_eq!(
            jb.push(20_014, ts + 160, SSRC, &[6; 160]),
            PushOutcome::Resynced
        );
        assert_eq!(
            jb.push(20_015, ts + 320, SSRC, &[7; 160]),
            PushOutcome::Accepted
        );
        let out = drain(&mut jb);
        assert_eq!(
            out,
            vec![
                (false, 0),
                (false, 160),
                (false, 320),
                (false, 6),
                (false, 7)
            ]
        );
        assert_eq!(jb.stats().strays, 1);
    }

    #[test]
    fn a_lone_stray_does_not_derail_the_stream() {
        let mut jb = JitterBuffer::new(3);
        push_frames(&mut jb, 10, 0, &[0, 1]);
        assert_eq!(jb.push(40_000, 9, SSRC, &[1; 160]), PushOutcome::Stray);
        push_frames(&mut jb, 10, 0, &[2, 3]);
        assert_eq!(drain(&mut jb), starts(&[0, 1, 2, 3]));
    }

    #[test]
    fn reframes_10ms_packets() {
        let mut jb = JitterBuffer::new(2);
        for i in 0..8u16 {
            let ts = u32::from(i) * 80;
            assert_eq!(
                jb.push(i, ts, SSRC, &ramp(ts, 0, 80)),
                PushOutcome::Accepted
            );
        }
        let mut next = 0i16;
        let mut frames = 0;
        while let Some(Playout::Frame(f)) = jb.pop() {
            for s in f.iter() {
                assert_eq!(*s, next);
                next += 1;
            }
            frames += 1;
        }
        assert_eq!(frames, 4);
    }

    #[test]
    fn reframes_30ms_packets_including_a_partial_last_frame() {
        let mut jb = JitterBuffer::new(3);
        for i in 0..3u16 {
            let ts = 1000 + u32::from(i) * 240;
            jb.push(i, ts, SSRC, &ramp(ts, 1000, 240));
        }
        let frames: Vec<Playout> = std::iter::from_fn(|| jb.pop()).collect();
        assert_eq!(frames.len(), 5, "720 samples = 4.5 frames");
        let all: Vec<i16> = frames.iter().flat_map(|f| f.samples().to_vec()).collect();
        assert_eq!(&all[..720], &ramp(0, 0, 720)[..]);
        assert!(
            all[720..].iter().all(|&s| s == 0),
            "tail of the half frame is zero"
        );
    }

    #[test]
    fn a_burst_beyond_capacity_drops_the_oldest_audio() {
        let mut jb = JitterBuffer::new(3);
        let indices: Vec<u32> = (0..40).collect();
        push_frames(&mut jb, 0, 0, &indices);
        let out = drain(&mut jb);
        assert_eq!(out.len(), 8, "capacity is 2 x depth + 2 frames");
        assert_eq!(out.last(), Some(&(false, (39 * 160) as i16)));
        assert_eq!(jb.stats().samples_overflowed, 32 * 160);
    }

    #[test]
    fn rebuffers_after_an_underrun_and_skips_the_gap() {
        let mut jb = JitterBuffer::new(2);
        push_frames(&mut jb, 0, 0, &[0, 1]);
        assert_eq!(drain(&mut jb).len(), 2);
        // The sender paused 3 frames (silence suppression) then resumed.
        push_frames(&mut jb, 2, 320, &[3]);
        assert!(jb.pop().is_none(), "priming again");
        push_frames(&mut jb, 2, 320, &[4]);
        assert_eq!(drain(&mut jb), vec![(false, 480), (false, 640)]);
    }

    #[test]
    fn ignores_empty_packets() {
        let mut jb = JitterBuffer::new(3);
        assert_eq!(jb.push(1, 1, SSRC, &[]), PushOutcome::Empty);
        assert!(jb.pop().is_none());
    }

    #[test]
    fn survives_random_input_without_panicking() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut jb = JitterBuffer::new(3);
        let mut played = 0;
        for _ in 0..20_000 {
            let r = next();
            let len = (r % 400) as usize;
            let ssrc = if r % 97 == 0 { 2 } else { 1 };
            jb.push(
                (r >> 16) as u16 % 50,
                (r >> 32) as u32 % 4000,
                ssrc,
                &vec![1; len],
            );
            if r % 3 == 0 {
                played += usize::from(jb.pop().is_some());
            }
            assert!(jb.buffered_samples() <= 8 * 160);
        }
        assert!(played > 0);
    }
}
