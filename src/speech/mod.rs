//! Speech: voice activity detection, end-of-turn detection and recognition of the caller's
//! 8 kHz audio, all local.
//!
//! - [`vad`]: a `Send` wrapper over webrtc-vad that cannot panic on a bad frame.
//! - [`endpointer`]: sans-IO turn boundaries (speech start, end, maximum length, no speech).
//! - [`asr`]: Vosk recognition (one shared model, a recogniser per call/turn, grammars).
//! - [`model`]: the model directory: layout, checksum manifest, install, status.

pub mod asr;
pub mod endpointer;
pub mod model;
pub mod vad;
