//! The call flow: what the box says and does on a call, over the audio port.
//!
//! Until the speech layer exists the flow is [`answering`]: greeting, recording, digits.
//! [`call_log`] keeps the record every call leaves behind. [`understanding`] turns what the
//! recogniser heard into what the caller meant.

pub mod answering;
pub mod call_log;
pub mod engine;
pub mod schedule;
pub mod sources;
pub mod understanding;
