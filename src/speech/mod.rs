//! Speech: the box's voice ([`tts`]) and turn-taking over an audio port ([`turn`]).

pub mod asr;
pub mod endpointer;
pub mod model;
pub mod tts;
pub mod turn;
pub mod vad;
