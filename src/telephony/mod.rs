//! Telephony: everything between the phone line and 20 ms frames of 8 kHz PCM.
//!
//! The public face other layers use is [`audio_port`] (frames in, frames out, digits, hang-up)
//! and [`sip`]'s call events. Everything else is an implementation detail of the line.

#[cfg(feature = "alsa")]
pub mod alsa;
pub mod audio_port;
pub mod bridge;
pub mod caller_id;
pub mod dtmf;
pub mod g711;
pub mod jitter;
pub mod line;
pub mod media;
pub mod rtp;
pub mod sdp;
pub mod settings;
pub mod sip;
pub mod wav;
