//! End-of-turn detection on top of the VAD: when the caller starts talking, when they have
//! finished, and when they have said nothing at all.
//!
//! **Sans-IO**: the endpointer reads no clock and owns no audio. It is handed one VAD
//! decision per frame with the frame's start time (milliseconds on any monotonic scale, e.g.
//! since the call was answered) and returns at most one event. Tests drive it with synthetic
//! sequences and no sleeping.
//!
//! Rules, for frames of `frame_ms`:
//! - **Start**: `start_frames` consecutive voiced frames. The start time reported is the start
//!   of the first frame of that run, so a short run of speech before the decision is not lost
//!   (the caller keeps feeding the recogniser from the start of the turn).
//! - **End**: `trailing_silence_ms` of unvoiced frames after the last voiced one, or
//!   `short_trailing_silence_ms` once the layer above has said the closed-set answer is
//!   complete ([`Endpointer::set_answer_complete`]), or `complete_answer_silence_ms` once an
//!   open answer reads complete for its kind ([`Endpointer::set_open_answer_complete`], see
//!   `speech::answer`). The end time reported is the end of the last voiced frame; the event
//!   arrives that silence later. An end on the shorter silence is reported with
//!   [`EndReason::AnswerComplete`], so the layer above knows the caller may still be going.
//! - **Maximum length**: an utterance that reaches `max_utterance_ms` ends there.
//! - **No speech**: no start within `no_speech_timeout_ms` of the turn's start.
//!
//! After `SpeechEnded` or `NoSpeechTimeout` the turn is over: further frames are ignored
//! until [`Endpointer::start_turn`].
//!
//! The VAD's own hangover: libfvad keeps saying "voiced" for a few frames after speech stops
//! (at 20 ms frames: 3–5 frames in modes 2 and 3, 4–7 in modes 0 and 1, longer after loud
//! speech). The end time reported is therefore late by up to that much; [`Self::push`]
//! reports what the VAD saw, and [`EndpointerConfig::vad_hangover_ms`] is subtracted from
//! the reported end (never before the start) to undo the typical part of it.

/// Endpointer settings (from `[speech]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointerConfig {
    /// Length of one frame in milliseconds (20 for the audio port's frames).
    pub frame_ms: u64,
    /// Consecutive voiced frames that start an utterance.
    pub start_frames: u32,
    /// Silence after the last voiced frame that ends an utterance.
    pub trailing_silence_ms: u64,
    /// The same, once the answer is known to be complete (closed-set turns).
    pub short_trailing_silence_ms: u64,
    /// Longest utterance; it ends at this length.
    pub max_utterance_ms: u64,
    /// The same as `short_trailing_silence_ms`, for an open answer that reads complete for
    /// the kind of answer the question expects (a ZIP's five digits, a street with its type).
    pub complete_answer_silence_ms: u64,
    /// A turn with no speech start by this long after its start times out.
    pub no_speech_timeout_ms: u64,
    /// Typical VAD hangover subtracted from reported end times (see the module docs).
    pub vad_hangover_ms: u64,
}

impl Default for EndpointerConfig {
    fn default() -> Self {
        EndpointerConfig {
            frame_ms: 20,
            start_frames: 3,
            trailing_silence_ms: 700,
            short_trailing_silence_ms: 300,
            max_utterance_ms: 15_000,
            complete_answer_silence_ms: 350,
            no_speech_timeout_ms: 6_000,
            vad_hangover_ms: 60,
        }
    }
}

/// Why an utterance ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The caller stopped talking.
    TrailingSilence,
    /// The utterance reached `max_utterance_ms`.
    MaxLength,
    /// The caller stopped talking for the shorter silence of an answer known complete: they
    /// may still be going (a pause inside the answer), see `speech::turn`'s continuation.
    AnswerComplete,
}

/// What the endpointer decided on a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointEvent {
    /// The caller started talking at `at_ms` (start of the first voiced frame of the run).
    /// Use it for barge-in.
    SpeechStarted { at_ms: u64 },
    /// The utterance is over: finalise the recogniser.
    SpeechEnded {
        start_ms: u64,
        end_ms: u64,
        reason: EndReason,
    },
    /// Nothing was said for `no_speech_timeout_ms` after the turn started (`at_ms` is when
    /// the timeout was noticed).
    NoSpeechTimeout { at_ms: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for speech; `run` voiced frames so far, the first starting at `run_start`.
    Waiting { run: u32, run_start: u64 },
    /// In an utterance; `last_voiced_end` is the end of its latest voiced frame.
    Speaking { start: u64, last_voiced_end: u64 },
    /// The turn is over.
    Done,
}

/// The end-of-turn state machine for one call.
#[derive(Debug, Clone)]
pub struct Endpointer {
    config: EndpointerConfig,
    state: State,
    /// Start of the current turn; `None` until the first frame (or `start_turn`).
    turn_start: Option<u64>,
    answer_complete: bool,
    open_answer_complete: bool,
}

impl Endpointer {
    /// An endpointer whose first turn starts at the first frame pushed.
    pub fn new(config: EndpointerConfig) -> Self {
        Endpointer {
            config,
            state: State::Waiting {
                run: 0,
                run_start: 0,
            },
            turn_start: None,
            answer_complete: false,
            open_answer_complete: false,
        }
    }

    pub fn config(&self) -> &EndpointerConfig {
        &self.config
    }

    /// Sets the no-speech timeout of the turns that follow: each question of a dialog has its
    /// own patience (an inter-digit timeout is shorter than a spoken answer's).
    pub fn set_no_speech_timeout(&mut self, ms: u64) {
        self.config.no_speech_timeout_ms = ms;
    }

    /// Starts a new turn at `at_ms` (e.g. when the prompt that asks the question ends, or
    /// when it starts, if barge-in is allowed): forgets everything, re-arms the no-speech
    /// timeout and clears the answer-complete flag.
    pub fn start_turn(&mut self, at_ms: u64) {
        self.state = State::Waiting {
            run: 0,
            run_start: at_ms,
        };
        self.turn_start = Some(at_ms);
        self.answer_complete = false;
        self.open_answer_complete = false;
    }

    /// Tells the endpointer that what was recognised so far already completes the expected
    /// answer (e.g. "yes" on a yes/no turn), so a shorter silence ends the utterance.
    pub fn set_answer_complete(&mut self, complete: bool) {
        self.answer_complete = complete;
    }

    /// Tells the endpointer whether the open answer heard so far reads complete for the kind
    /// the question expects (`speech::answer`): `complete_answer_silence_ms` ends it then,
    /// the full `trailing_silence_ms` otherwise. Cleared by [`Self::start_turn`].
    pub fn set_open_answer_complete(&mut self, complete: bool) {
        self.open_answer_complete = complete;
    }

    /// In an utterance, the silence there will be after the frame starting at `at_ms` if that
    /// frame is unvoiced (0 right after a voiced frame at `at_ms - frame_ms`); `None` outside
    /// one. Lets the layer above check the answer just before a shorter silence would end it.
    pub fn silence_after(&self, at_ms: u64) -> Option<u64> {
        match self.state {
            State::Speaking {
                last_voiced_end, ..
            } => Some(
                at_ms
                    .saturating_add(self.config.frame_ms)
                    .saturating_sub(last_voiced_end),
            ),
            _ => None,
        }
    }

    /// Whether an utterance is under way.
    pub fn in_speech(&self) -> bool {
        matches!(self.state, State::Speaking { .. })
    }

    /// Start of the utterance under way, if any.
    pub fn speech_start(&self) -> Option<u64> {
        match self.state {
            State::Speaking { start, .. } => Some(start),
            _ => None,
        }
    }

    /// Whether the turn is over (an end or a timeout was reported).
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The silence that ends the utterance now, and whether it is a shortened one.
    fn trailing_ms(&self) -> (u64, bool) {
        let long = self.config.trailing_silence_ms;
        let short = match (self.answer_complete, self.open_answer_complete) {
            (true, true) => self
                .config
                .short_trailing_silence_ms
                .min(self.config.complete_answer_silence_ms),
            (true, false) => self.config.short_trailing_silence_ms,
            (false, true) => self.config.complete_answer_silence_ms,
            (false, false) => long,
        };
        (short.min(long), short < long)
    }

    /// Feeds one frame's VAD decision; `at_ms` is the frame's start time. Times must not go
    /// backwards (a frame earlier than the last is treated as arriving now).
    pub fn push(&mut self, voiced: bool, at_ms: u64) -> Option<EndpointEvent> {
        let turn_start = *self.turn_start.get_or_insert(at_ms);
        let frame_end = at_ms.saturating_add(self.config.frame_ms);
        match self.state {
            State::Done => None,
            State::Waiting { run, run_start } => {
                if voiced {
                    let (run, run_start) = if run == 0 {
                        (1, at_ms)
                    } else {
                        (run + 1, run_start)
                    };
                    if run >= self.config.start_frames.max(1) {
                        self.state = State::Speaking {
                            start: run_start,
                            last_voiced_end: frame_end,
                        };
                        return Some(EndpointEvent::SpeechStarted { at_ms: run_start });
                    }
                    self.state = State::Waiting { run, run_start };
                } else {
                    self.state = State::Waiting {
                        run: 0,
                        run_start: at_ms,
                    };
                }
                // A run that has begun may still become speech: do not time out under it.
                let waiting_since = match self.state {
                    State::Waiting { run, run_start } if run > 0 => run_start,
                    _ => frame_end,
                };
                if waiting_since.saturating_sub(turn_start) >= self.config.no_speech_timeout_ms {
                    self.state = State::Done;
                    return Some(EndpointEvent::NoSpeechTimeout { at_ms: frame_end });
                }
                None
            }
            State::Speaking {
                start,
                mut last_voiced_end,
            } => {
                if voiced {
                    last_voiced_end = frame_end.max(last_voiced_end);
                }
                if frame_end.saturating_sub(start) >= self.config.max_utterance_ms {
                    self.state = State::Done;
                    return Some(EndpointEvent::SpeechEnded {
                        start_ms: start,
                        end_ms: frame_end,
                        reason: EndReason::MaxLength,
                    });
                }
                let (trailing_ms, shortened) = self.trailing_ms();
                if !voiced && frame_end.saturating_sub(last_voiced_end) >= trailing_ms {
                    self.state = State::Done;
                    let end_ms = last_voiced_end
                        .saturating_sub(self.config.vad_hangover_ms)
                        .max(start.saturating_add(self.config.frame_ms));
                    return Some(EndpointEvent::SpeechEnded {
                        start_ms: start,
                        end_ms,
                        reason: if shortened {
                            EndReason::AnswerComplete
                        } else {
                            EndReason::TrailingSilence
                        },
                    });
                }
                self.state = State::Speaking {
                    start,
                    last_voiced_end,
                };
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> EndpointerConfig {
        EndpointerConfig {
            frame_ms: 20,
            start_frames: 3,
            trailing_silence_ms: 200,
            short_trailing_silence_ms: 60,
            max_utterance_ms: 1000,
            complete_answer_silence_ms: 100,
            no_speech_timeout_ms: 500,
            vad_hangover_ms: 0,
        }
    }

    /// Feeds a pattern ('#' voiced, '.' unvoiced) from `t0`; returns (frame index, event).
    fn feed(ep: &mut Endpointer, pattern: &str, t0: u64) -> Vec<(usize, EndpointEvent)> {
        pattern
            .chars()
            .enumerate()
            .filter_map(|(i, c)| ep.push(c == '#', t0 + 20 * i as u64).map(|e| (i, e)))
            .collect()
    }

    #[test]
    fn start_after_start_frames_reports_the_run_start() {
        let mut ep = Endpointer::new(config());
        // A 2-frame blip is not speech; the 3-frame run starting at frame 5 is.
        let events = feed(&mut ep, "..##.###", 0);
        assert_eq!(
            events,
            vec![(7, EndpointEvent::SpeechStarted { at_ms: 100 })]
        );
        assert!(ep.in_speech());
    }

    #[test]
    fn end_after_trailing_silence_reports_last_voiced_frame_end() {
        let mut ep = Endpointer::new(config());
        // Voiced frames 0..=9 (end 200 ms), a short gap inside, then silence.
        let events = feed(&mut ep, "#####..###..........", 1000);
        assert_eq!(
            events,
            vec![
                (2, EndpointEvent::SpeechStarted { at_ms: 1000 }),
                (
                    19, // frame 19 ends at 1400 = 1200 + 200 ms of silence
                    EndpointEvent::SpeechEnded {
                        start_ms: 1000,
                        end_ms: 1200,
                        reason: EndReason::TrailingSilence
                    }
                )
            ]
        );
        assert!(ep.is_done());
        assert_eq!(ep.push(true, 2000), None, "turn over until start_turn");
    }

    #[test]
    fn short_trailing_silence_once_the_answer_is_complete() {
        let mut ep = Endpointer::new(config());
        feed(&mut ep, "#####", 0);
        ep.set_answer_complete(true);
        let events = feed(&mut ep, "....", 100);
        assert_eq!(
            events,
            vec![(
                2, // 60 ms of silence after the voiced frames ending at 100
                EndpointEvent::SpeechEnded {
                    start_ms: 0,
                    end_ms: 100,
                    reason: EndReason::AnswerComplete
                }
            )]
        );
        // A new turn forgets the flag.
        ep.start_turn(1000);
        feed(&mut ep, "#####", 1000);
        assert_eq!(feed(&mut ep, "....", 1100), vec![]);
    }

    #[test]
    fn max_length_ends_a_long_utterance() {
        let mut ep = Endpointer::new(config());
        let events = feed(&mut ep, &"#".repeat(60), 0);
        assert_eq!(
            events,
            vec![
                (2, EndpointEvent::SpeechStarted { at_ms: 0 }),
                (
                    49,
                    EndpointEvent::SpeechEnded {
                        start_ms: 0,
                        end_ms: 1000,
                        reason: EndReason::MaxLength
                    }
                )
            ]
        );
    }

    #[test]
    fn no_speech_timeout_from_turn_start() {
        let mut ep = Endpointer::new(config());
        ep.start_turn(10_000);
        let events = feed(&mut ep, &".".repeat(40), 10_000);
        assert_eq!(
            events,
            vec![(24, EndpointEvent::NoSpeechTimeout { at_ms: 10_500 })]
        );
        assert!(ep.is_done());
    }

    #[test]
    fn no_timeout_while_a_run_may_become_speech() {
        let mut ep = Endpointer::new(config());
        // Frames 23, 24 voiced (run from 460 ms), frame 25 makes it speech at 520 ms.
        let pattern = format!("{}###", ".".repeat(23));
        let events = feed(&mut ep, &pattern, 0);
        assert_eq!(
            events,
            vec![(25, EndpointEvent::SpeechStarted { at_ms: 460 })]
        );
    }

    #[test]
    fn blips_do_not_start_speech_and_timeout_still_fires() {
        let mut ep = Endpointer::new(config());
        let events = feed(&mut ep, &"##..".repeat(10), 0);
        assert_eq!(
            events,
            vec![(26, EndpointEvent::NoSpeechTimeout { at_ms: 540 })]
        );
    }

    #[test]
    fn hangover_is_subtracted_but_never_before_the_start() {
        let mut cfg = config();
        cfg.vad_hangover_ms = 60;
        let mut ep = Endpointer::new(cfg);
        let events = feed(&mut ep, "#####..........", 0);
        assert_eq!(
            events[1].1,
            EndpointEvent::SpeechEnded {
                start_ms: 0,
                end_ms: 40,
                reason: EndReason::TrailingSilence
            }
        );
        cfg.vad_hangover_ms = 500;
        let mut ep = Endpointer::new(cfg);
        let events = feed(&mut ep, "###..........", 0);
        assert_eq!(
            events[1].1,
            EndpointEvent::SpeechEnded {
                start_ms: 0,
                end_ms: 20,
                reason: EndReason::TrailingSilence
            }
        );
    }

    #[test]
    fn open_answer_complete_ends_on_its_own_silence_and_says_so() {
        let mut ep = Endpointer::new(config());
        feed(&mut ep, "#####", 0);
        // Incomplete ("one twenty three ..."): a 100 ms pause does not end it.
        assert_eq!(feed(&mut ep, ".....", 100), vec![]);
        // The caller goes on; the answer now reads complete ("... maple street").
        feed(&mut ep, "####", 200);
        ep.set_open_answer_complete(true);
        let events = feed(&mut ep, "......", 280);
        assert_eq!(
            events,
            vec![(
                4, // 100 ms after the last voiced frame ending at 280
                EndpointEvent::SpeechEnded {
                    start_ms: 0,
                    end_ms: 280,
                    reason: EndReason::AnswerComplete
                }
            )]
        );
        // A new turn forgets it: the full 200 ms again, reported as a plain end.
        ep.start_turn(1000);
        feed(&mut ep, "#####", 1000);
        let events = feed(&mut ep, &".".repeat(12), 1100);
        assert_eq!(
            events,
            vec![(
                9,
                EndpointEvent::SpeechEnded {
                    start_ms: 1000,
                    end_ms: 1100,
                    reason: EndReason::TrailingSilence
                }
            )]
        );
    }

    #[test]
    fn the_shorter_silence_never_lengthens_the_long_one() {
        let mut cfg = config();
        cfg.complete_answer_silence_ms = 400; // longer than trailing_silence_ms (200)
        let mut ep = Endpointer::new(cfg);
        feed(&mut ep, "#####", 0);
        ep.set_open_answer_complete(true);
        let events = feed(&mut ep, &".".repeat(12), 100);
        assert_eq!(
            events,
            vec![(
                9,
                EndpointEvent::SpeechEnded {
                    start_ms: 0,
                    end_ms: 100,
                    reason: EndReason::TrailingSilence
                }
            )]
        );
    }

    #[test]
    fn silence_after_counts_from_the_last_voiced_frame() {
        let mut ep = Endpointer::new(config());
        assert_eq!(ep.silence_after(0), None);
        feed(&mut ep, "####", 0);
        // The last voiced frame ends at 80; an unvoiced frame at 80 would end at 100.
        assert_eq!(ep.silence_after(80), Some(20));
        feed(&mut ep, "..", 80);
        assert_eq!(ep.silence_after(120), Some(60));
        feed(&mut ep, "#", 120);
        assert_eq!(ep.silence_after(120), Some(0));
    }
}
