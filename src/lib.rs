//! callbox: the after-hours call answering appliance.
//!
//! Data flows one way: [`telephony`] (SIP, SDP, RTP, codecs, DTMF) → [`speech`] → [`dialog`]
//! → [`queue`] → [`servicetitan`], with [`alert`] beside `servicetitan` (it reads the queue and
//! pages the on-call technician); all of them speak [`trade`]'s shared types. [`config`]
//! composes the layers' settings; [`app`] is the composition root: it wires them together,
//! adapts the ServiceTitan cache to the dialog's and the alerts' traits (`app::lookup`),
//! supervises the services and holds the command-line subcommands. [`infra`] is plumbing any
//! of them may use (atomic files, the HTTP client, backoff, settings issues, secrets).
//! See ARCHITECTURE.md.

pub mod alert;
pub mod app;
pub mod config;
pub mod dialog;
pub mod infra;
pub mod queue;
pub mod servicetitan;
pub mod speech;
pub mod telephony;
pub mod trade;
pub mod update;
pub mod weather;
pub mod web;
