//! Speech: voice activity detection, end-of-turn detection and recognition of the caller's
//! 8 kHz audio, the box's own voice, and turn-taking between them, all local.
//!
//! - [`vad`]: a `Send` wrapper over webrtc-vad that cannot panic on a bad frame.
//! - [`endpointer`]: sans-IO turn boundaries (speech start, end, maximum length, no speech).
//! - [`answer`]: what an open turn waits for, and when what was heard is a whole answer.
//! - [`asr`]: Vosk recognition (one shared model, a recogniser per call/turn, grammars).
//! - [`model`]: the model directory: layout, checksum manifest, install, status.
//! - [`pool`]: the warm recogniser pool's size (by setting and by free memory) and recycling.
//! - [`search`]: the recogniser's search width (`speech.max_active`) over the model's own.
//! - [`tts`]: the box's voice (espeak-ng as a separate process, streamed), cached prompts.
//! - [`turn`]: turn-taking over an audio port: prompt, barge-in, echo guard, recognition.

pub mod answer;
pub mod asr;
pub mod endpointer;
pub mod model;
pub mod pool;
pub mod search;
pub mod settings;
pub mod tts;
pub mod turn;
pub mod vad;
