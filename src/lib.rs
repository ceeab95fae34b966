//! callbox: the after-hours call answering appliance.
//!
//! Data flows one way: [`telephony`] (SIP, SDP, RTP, codecs, DTMF) → [`speech`] → [`dialog`]
//! → [`queue`] → [`servicetitan`], with [`alert`] beside `servicetitan` (it reads the queue and
//! pages the on-call technician); [`config`] sits beside them; [`lookup`] adapts the
//! ServiceTitan cache to the dialog's and the alerts' traits; [`app`] wires them together.
//! See ARCHITECTURE.md.

pub mod alert;
pub mod app;
pub mod config;
pub mod dialog;
pub mod infra;
pub mod lookup;
pub mod queue;
pub mod servicetitan;
pub mod simulate;
pub mod speech;
pub mod telephony;
