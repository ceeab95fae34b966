//! callbox: the after-hours call answering appliance.
//!
//! Data flows one way: [`telephony`] (SIP, SDP, RTP, codecs, DTMF) → [`speech`] → [`dialog`]
//! → [`queue`] → [`servicetitan`]; [`config`] sits beside them; [`lookup`] adapts the
//! ServiceTitan cache to the dialog's traits; [`app`] wires them together.
//! See ARCHITECTURE.md.

pub mod app;
pub mod config;
pub mod dialog;
pub mod lookup;
pub mod queue;
pub mod servicetitan;
pub mod simulate;
pub mod speech;
pub mod telephony;
