//! The call flow: what the box says and does on a call, over the audio port.
//!
//! [`engine`] is the call flow (a sans-IO state machine); [`answering`] the pre-speech flow
//! (greeting, recording, digits) and [`echo_turn`] a spoken stand-in.
//! [`call_log`] keeps the record every call leaves behind. [`understanding`] turns what the
//! recogniser heard into what the caller meant.

pub mod answering;
pub mod call_flow;
pub mod call_log;
pub mod echo_turn;
pub mod engine;
pub mod schedule;
pub mod settings;
pub mod sources;
pub mod survey;
pub mod understanding;
