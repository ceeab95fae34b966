//! Speech: the box's voice ([`tts`]) and turn-taking over an audio port ([`turn`]).

pub mod tts;
